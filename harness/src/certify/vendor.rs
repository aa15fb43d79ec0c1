//! `certify vendor DIR [--broken KIND]`: the harness's own reference EPJ, playing a vendor
//! in a `certify run` session. It reads the session's `run/endpoints.json`, follows the
//! phases through the live page's `status.json` as a tester follows the page, and does what
//! each phase asks with [`ReferenceSender`](iplos_mocks::sender::ReferenceSender) over amqps:
//! send, read AppRecs and the error queue, fix and resend after status 2, resend the named
//! notifications after status 3, resend after a transport error, resend an unconfirmed
//! message with the *same* message-id, reconnect after a dropped connection with back-off.
//!
//! It reads only what a vendor gets — `DIR/vendor/` (the session, the kommune's keys and the
//! register's certificates) — and `DIR/run/endpoints.json`. Its export is the session's data
//! generated again from `session.json`'s year, kommune, scale and seed, as `certify init`
//! made it, and the throughput load's initial load for the `perf-load` phase likewise: it
//! plays an EPJ whose export is perfect, so a session against it shows what a conforming
//! vendor's report looks like — every required test passes.
//!
//! `--broken KIND` makes it misbehave in exactly one way, to show that the session catches
//! it (each fails its tests and no others):
//!
//! | kind | misbehaviour | fails |
//! |---|---|---|
//! | `wrong-property` | the first message's `applicationTimeStamp` is not `yyyy-MM-ddTHH:mm:ssK` (fixed after the error) | TRANSPORT-01 |
//! | `bad-signature` | the first message's signature does not verify (fixed after the error) | CMS-01 |
//! | `missing-events` | the export leaves out some of the year's TjenesteSlutt events (chain and numbering kept consistent) | DATA-01, DATA-03, SM-03 (the same export through Sendemodul) |
//! | `wrong-references` | the corrections (M) refer to the wrong originals | CORR-01 |
//! | `no-resend` | after AppRec status 2 it gives up | RECEIPT-01 |
//! | `duplicates-after-drop` | after a dropped connection it exports again: new message-id, new notifikasjonGUIDs | RES-01 |
//! | `too-slow` | sends the throughput load in four parts with long pauses | PERF-01 |
//!
//! and five that break something every later test stands on, to show that the report
//! names the root cause first and reports what it blocks as blocked (the integration tests
//! assert the failed, the blocked and RECEIPT-01/02/04 not passed):
//!
//! | kind | misbehaviour | root cause |
//! |---|---|---|
//! | `unsigned` | every payload is encrypted but not signed | CMS-01 |
//! | `missing-to-her-id` | no message carries the application property `toHerId` | TRANSPORT-01 |
//! | `msg-id-reuse` | every message after the first carries the MsgHead MsgId of the first (a new, different message under an old MsgId) | MSGHEAD-01 |
//! | `no-resend-after-drop` | a message it got no answer for is never sent again: not after the connection dropped before the disposition, nor after a lost AppRec | RES-01 (and RECEIPT-04) |
//! | `apprec-ignored` | never reads its AppRec or error queue: sends and moves on | RECEIPT-01 (and RECEIPT-02/03/04) |

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use iplos_mocks::nhn::new_guid;
use iplos_mocks::pki::PartyExport;
use iplos_mocks::sender::{
    Answer, Counterpart, Fault, Outgoing, Property, ReferenceSender, SendError, SenderConfig,
    SenderIdentity,
};
use iplos_model::ids::HerId;
use iplos_model::message::{EventKind, Melding, OutputEncoding, Status, write_message};

use super::phases::PhaseKind;
use super::run::{Endpoints, Status as LiveStatus};
use super::session::Session;

/// The ways the reference EPJ can be told to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Broken {
    WrongProperty,
    BadSignature,
    MissingEvents,
    WrongReferences,
    NoResend,
    DuplicatesAfterDrop,
    TooSlow,
    Unsigned,
    MissingToHerId,
    MsgIdReuse,
    NoResendAfterDrop,
    ApprecIgnored,
}

/// How the reference EPJ runs.
#[derive(Debug, Clone)]
pub struct VendorOptions {
    pub dir: PathBuf,
    pub broken: Option<Broken>,
    /// How long to wait for the session's endpoints to appear.
    pub wait: Duration,
}

struct Epj {
    endpoints: Endpoints,
    party: iplos_mocks::pki::Party,
    /// The kommune's share of the PKI: the register's certificates.
    pki: PartyExport,
    trust: Arc<iplos_mocks::cms::TrustStore>,
    broken: Option<Broken>,
    http: reqwest::Client,
    ordinary: Melding,
    corrections: Melding,
    initial_load: usize,
    /// The throughput load's initial load (the largest kommune's).
    perf: Option<Melding>,
    /// The first message of the session has not been sent yet.
    first: bool,
    /// The MsgHead MsgId of the first message sent (`msg-id-reuse` sends every later one
    /// with it).
    first_msg_id: Option<String>,
}

/// Runs the reference EPJ until the session is done.
pub async fn run(opts: VendorOptions) -> Result<()> {
    let session = Session::load(&opts.dir)?;
    let ep_path = opts.dir.join("run").join("endpoints.json");
    let t0 = Instant::now();
    let endpoints: Endpoints = loop {
        if let Ok(b) = std::fs::read(&ep_path)
            && let Ok(e) = serde_json::from_slice(&b)
        {
            break e;
        }
        if t0.elapsed() > opts.wait {
            bail!(
                "{} did not appear within {} s: is `certify run` running?",
                ep_path.display(),
                opts.wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pki = PartyExport::load(&endpoints.pki)
        .with_context(|| format!("the kommune's certificates in {}", endpoints.pki.display()))?;
    let party = pki.party()?;
    if party.her_id.get() != session.her_id {
        bail!(
            "{}: the certificates are for HER-id {}, the session's kommune is {}",
            endpoints.pki.display(),
            party.her_id,
            session.her_id
        );
    }
    // Its export: the session's data, generated again (a perfect EPJ's export), and the
    // throughput load's initial load.
    let data = session.generate()?;
    let (mut ordinary, mut corrections, initial_load) = (
        data.melding,
        data.korreksjoner,
        data.stats.initial_load as usize,
    );
    let perf = Some(crate::certify::perf::generate(session.year, session.scale, session.seed)?.1);
    match opts.broken {
        Some(Broken::MissingEvents) => {
            leave_out_events(&mut ordinary, &mut corrections, initial_load)
        }
        Some(Broken::WrongReferences) => misdirect_references(&ordinary, &mut corrections),
        _ => {}
    }
    let mut epj = Epj {
        endpoints,
        party,
        trust: Arc::new(pki.trust_store()?),
        pki,
        broken: opts.broken,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        ordinary,
        corrections,
        initial_load,
        perf,
        first: true,
        first_msg_id: None,
    };
    let mut handled: HashSet<String> = HashSet::new();
    let mut gone_since: Option<Instant> = None;
    loop {
        let Some(status) = epj.status().await else {
            // The session's page is gone: after a few seconds, the session is over.
            let since = *gone_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(3) {
                println!("certify vendor: the session's page is gone; stopping");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        gone_since = None;
        if status.done {
            println!("certify vendor: the session is done");
            return Ok(());
        }
        if let Some(phase) = status.phase.clone()
            && handled.insert(phase.clone())
        {
            let kind = PhaseKind::ALL.into_iter().find(|k| k.as_str() == phase);
            if let Some(kind) = kind {
                println!("certify vendor: phase {phase}");
                if let Err(e) = epj.act(kind).await {
                    println!("certify vendor: {phase}: {e:#}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn xml(m: &Melding) -> Result<Vec<u8>> {
    Ok(write_message(m, Vec::new(), OutputEncoding::Utf8)?)
}

/// Links each notification to the one before it (the first keeps its predecessor).
fn relink(m: &mut Melding) {
    for i in 1..m.notifikasjoner.len() {
        let prev = m.notifikasjoner[i - 1].guid.clone();
        m.notifikasjoner[i].forrige_guid = prev;
    }
}

/// `missing-events`: leaves out up to three of the year's TjenesteSlutt notifications that
/// nothing refers to afterwards, keeping the chain consistent.
fn leave_out_events(ordinary: &mut Melding, corrections: &mut Melding, initial: usize) {
    let n = ordinary.notifikasjoner.len();
    let referenced: HashSet<String> = corrections
        .notifikasjoner
        .iter()
        .filter_map(|c| c.referanse.clone())
        .collect();
    let mut drop: Vec<usize> = Vec::new();
    for i in (initial..n.saturating_sub(1)).rev() {
        let x = &ordinary.notifikasjoner[i];
        let slutt = x.events.iter().all(|e| e.kind == EventKind::TjenesteSlutt);
        let later_same_service = ordinary.notifikasjoner[i + 1..].iter().any(|y| {
            y.events
                .iter()
                .any(|e| x.events.iter().any(|f| f.tjeneste_id == e.tjeneste_id))
        });
        if slutt && !referenced.contains(&x.guid) && !later_same_service {
            drop.push(i);
            if drop.len() == 3 {
                break;
            }
        }
    }
    for i in drop {
        ordinary.notifikasjoner.remove(i);
    }
    relink(ordinary);
}

/// `wrong-references`: the M notifications refer to each other's originals (or to the first
/// notification of the export when there is one M).
fn misdirect_references(ordinary: &Melding, corrections: &mut Melding) {
    let ms: Vec<usize> = corrections
        .notifikasjoner
        .iter()
        .enumerate()
        .filter(|(_, n)| n.status == Status::M)
        .map(|(i, _)| i)
        .collect();
    if ms.len() >= 2 {
        let first = corrections.notifikasjoner[ms[0]].referanse.clone();
        for w in 0..ms.len() - 1 {
            let next = corrections.notifikasjoner[ms[w + 1]].referanse.clone();
            corrections.notifikasjoner[ms[w]].referanse = next;
        }
        let last = ms[ms.len() - 1];
        corrections.notifikasjoner[last].referanse = first;
    } else if let (Some(&i), Some(other)) = (ms.first(), ordinary.notifikasjoner.first()) {
        corrections.notifikasjoner[i].referanse = Some(other.guid.clone());
    }
}

/// A fresh export of the same events: new notifikasjonGUIDs, the chain relinked.
fn new_guids(m: &Melding) -> Melding {
    let mut out = m.clone();
    for n in &mut out.notifikasjoner {
        n.guid = new_guid();
    }
    relink(&mut out);
    out
}

impl Epj {
    async fn status(&self) -> Option<LiveStatus> {
        let r = self.http.get(&self.endpoints.status).send().await.ok()?;
        r.json::<Option<LiveStatus>>().await.ok().flatten()
    }

    async fn still_in(&self, kind: PhaseKind) -> bool {
        self.status()
            .await
            .is_some_and(|s| s.phase.as_deref() == Some(kind.as_str()))
    }

    fn scaled(&self, secs: f64) -> Duration {
        Duration::from_secs_f64(secs * self.endpoints.time_scale)
    }

    /// Waits this long before another connection attempt: 1.5 × the plan's 10 s, at every
    /// time scale (the anti-hammering rule is not scaled).
    fn backoff(&self) -> Duration {
        Duration::from_secs(15)
    }

    /// How long to wait for an AppRec before treating it as lost (3 minutes).
    fn apprec_wait(&self) -> Duration {
        self.scaled(180.0).max(Duration::from_secs(5))
    }

    fn config(&self, url: &str, register: u32) -> Result<SenderConfig> {
        let identity = SenderIdentity {
            party: self.party.clone(),
            register: {
                let r = self.pki.counterpart(HerId::new(register)?)?;
                Counterpart {
                    her_id: r.her_id,
                    name: r.name,
                    signing_cert: r.signing,
                    encryption_cert: r.encryption,
                }
            },
            trust: self.trust.clone(),
        };
        let mut cfg = SenderConfig::new(url, identity);
        cfg.tls_ca = Some(self.endpoints.amqps.ca.clone());
        cfg.namespace = self.endpoints.amqps.namespace.clone();
        cfg.timeout = self.apprec_wait();
        // `apprec-ignored` never attaches to its AppRec and error queues.
        cfg.listen = self.broken != Some(Broken::ApprecIgnored);
        Ok(cfg)
    }

    /// Connects, retrying with back-off while the phase lasts.
    async fn connect(&self, kind: PhaseKind, register: u32) -> Result<ReferenceSender> {
        loop {
            match ReferenceSender::connect(self.config(&self.endpoints.amqps.url, register)?).await
            {
                Ok(s) => return Ok(s),
                Err(e) => {
                    println!(
                        "  connect: {e} — retrying in {:.1} s",
                        self.backoff().as_secs_f64()
                    );
                    tokio::time::sleep(self.backoff()).await;
                    if !self.still_in(kind).await {
                        bail!("the phase ended before the broker could be reached");
                    }
                }
            }
        }
    }

    async fn act(&mut self, kind: PhaseKind) -> Result<()> {
        let validation = self.endpoints.register_validation_her_id;
        let production = self.endpoints.register_production_her_id;
        match kind {
            PhaseKind::AuthRefused => {
                // The EPJ keeps trying with back-off, reporting each refusal, until told
                // the password works again (the phase ends).
                while self.still_in(kind).await {
                    match ReferenceSender::connect(
                        self.config(&self.endpoints.amqps.url, validation)?,
                    )
                    .await
                    {
                        Ok(s) => {
                            s.close().await;
                            return Ok(());
                        }
                        Err(e) => println!("  login refused: {e}"),
                    }
                    tokio::time::sleep(self.backoff()).await;
                }
                Ok(())
            }
            PhaseKind::TlsWrongHost => {
                let a = &self.endpoints.amqps;
                let url = format!(
                    "amqps://{}:{}@{}:{}/{}",
                    a.username,
                    a.password,
                    self.endpoints.wrong_host.host,
                    self.endpoints.wrong_host.port,
                    a.namespace
                );
                match ReferenceSender::connect(self.config(&url, validation)?).await {
                    Ok(s) => {
                        s.close().await;
                        println!("  the wrong-host port was accepted (should not be)");
                    }
                    Err(e) => println!("  the wrong-host port was refused: {e}"),
                }
                Ok(())
            }
            PhaseKind::SendemodulUpload => {
                let file = xml(&self.ordinary)?;
                let sm = self.endpoints.sendemodul.clone();
                self.sendemodul_upload(&sm.url, &file).await
            }
            PhaseKind::SendemodulRefused => {
                // One attempt: the portal's refusal is shown to the user, who stops.
                let sm = self.endpoints.sendemodul.clone();
                match self.sendemodul_login(&sm.refusing_url).await {
                    Ok(_) => println!("  the refusing portal let us in (should not)"),
                    Err(e) => println!("  login refused: {e:#}"),
                }
                Ok(())
            }
            PhaseKind::InitialLoad => {
                let mut part = self.ordinary.clone();
                part.notifikasjoner.truncate(self.initial_load);
                self.submit(kind, production, part).await
            }
            PhaseKind::PerfLoad => {
                let Some(part) = self.perf.clone() else {
                    bail!("the session has no throughput load (perf/population.jsonl)");
                };
                if self.broken == Some(Broken::TooSlow) {
                    let n = part.notifikasjoner.len();
                    let chunk = n.div_ceil(4).max(1);
                    for (i, c) in part.notifikasjoner.chunks(chunk).enumerate() {
                        if i > 0 {
                            tokio::time::sleep(self.scaled(300.0)).await;
                        }
                        let mut m = part.clone();
                        m.notifikasjoner = c.to_vec();
                        self.submit(kind, validation, m).await?;
                    }
                    return Ok(());
                }
                self.submit(kind, validation, part).await
            }
            PhaseKind::YearEvents => {
                let mut part = self.ordinary.clone();
                part.notifikasjoner
                    .drain(..self.initial_load.min(part.notifikasjoner.len()));
                self.submit(kind, production, part).await
            }
            PhaseKind::Corrections => {
                let c = self.corrections.clone();
                self.submit(kind, production, c).await
            }
            _ => {
                let m = self.ordinary.clone();
                self.submit(kind, validation, m).await
            }
        }
    }

    /// Logs in to a Sendemodul portal with the four values; returns the session cookies.
    async fn sendemodul_login(&self, portal: &str) -> Result<Vec<String>> {
        let sm = &self.endpoints.sendemodul;
        let http = crate::client::http()?;
        let base = portal.trim_end_matches('/');
        let login = http
            .post(format!("{base}/login"))
            .form(&[
                ("kommunenr", sm.kommunenr.as_str()),
                ("bydel", sm.bydel.as_str()),
                ("orgnr", sm.orgnr.as_str()),
                ("pin", sm.pin.as_str()),
            ])
            .send()
            .await
            .context("Sendemodul login")?;
        let status = login.status();
        let jar = crate::client::cookies(&login);
        if !(status.is_success() || status.is_redirection()) || jar.is_empty() {
            bail!("Sendemodul answered {status}");
        }
        Ok(jar)
    }

    /// Logs in and uploads `file`, in parts of at most the portal's part limit.
    async fn sendemodul_upload(&self, portal: &str, file: &[u8]) -> Result<()> {
        use crate::client::{cookie_header, cookies, input_value, merge_cookies};
        let mut jar = self.sendemodul_login(portal).await?;
        let http = crate::client::http()?;
        let base = portal.trim_end_matches('/');
        let sm = &self.endpoints.sendemodul;
        let limit = usize::try_from(sm.part_limit_bytes)
            .unwrap_or(usize::MAX)
            .max(1);
        let parts: Vec<&[u8]> = file.chunks(limit).collect();
        let name = format!("{}{}_iplos.xml", sm.kommunenr, sm.bydel);
        for (i, part) in parts.iter().enumerate() {
            let page = http
                .get(format!("{base}/upload"))
                .header(reqwest::header::COOKIE, cookie_header(&jar))
                .send()
                .await
                .context("Sendemodul upload page")?;
            merge_cookies(&mut jar, cookies(&page));
            let html = page.text().await?;
            let csrf = input_value(&html, "csrf").unwrap_or_default();
            let group = format!("g{}", sm.kommunenr);
            let form = reqwest::multipart::Form::new()
                .text("csrf", csrf)
                .text("gruppe", group)
                .text("del", (i + 1).to_string())
                .text("antall_deler", parts.len().to_string())
                .text("epost", "iplos@kommune.example")
                .text("telefon", "12345678")
                .text("tilbakemeldingspassord", "sertifisering-1")
                .part(
                    "fil",
                    reqwest::multipart::Part::bytes(part.to_vec())
                        .file_name(name.clone())
                        .mime_str("application/xml")?,
                );
            let resp = http
                .post(format!("{base}/upload"))
                .header(reqwest::header::COOKIE, cookie_header(&jar))
                .multipart(form)
                .send()
                .await
                .context("Sendemodul upload")?;
            let st = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if !st.is_success() {
                bail!(
                    "part {} of {}: Sendemodul answered {st}: {}",
                    i + 1,
                    parts.len(),
                    text.chars().take(300).collect::<String>()
                );
            }
        }
        println!("  uploaded {} bytes in {} part(s)", file.len(), parts.len());
        Ok(())
    }

    fn build(&mut self, sender: &ReferenceSender, m: &Melding) -> Result<Outgoing> {
        let mut faults = Vec::new();
        if self.first {
            self.first = false;
            match self.broken {
                Some(Broken::WrongProperty) => faults.push(Fault::Set(
                    Property::ApplicationTimeStamp,
                    "22.11.2026 08.00".into(),
                )),
                Some(Broken::BadSignature) => faults.push(Fault::BadSignature),
                _ => {}
            }
        }
        match self.broken {
            Some(Broken::Unsigned) => faults.push(Fault::NotSigned),
            Some(Broken::MissingToHerId) => faults.push(Fault::Omit(Property::ToHerId)),
            Some(Broken::MsgIdReuse) => {
                if let Some(id) = &self.first_msg_id {
                    faults.push(Fault::MsgId(id.clone()));
                }
            }
            _ => {}
        }
        let out = sender.build(&xml(m)?, &faults)?;
        self.first_msg_id.get_or_insert_with(|| out.msg_id.clone());
        Ok(out)
    }

    /// Sends one message and acts on the answer as a conforming EPJ does (or as broken).
    async fn submit(&mut self, kind: PhaseKind, register: u32, mut m: Melding) -> Result<()> {
        let mut sender = self.connect(kind, register).await?;
        let mut out = self.build(&sender, &m)?;
        let mut resent_same = false;
        for _ in 0..8 {
            // A send whose disposition never comes fails after the sender's timeout (the
            // AppRec wait), like one that fails at once.
            if let Err(e) = sender.send(&out).await {
                if self.broken == Some(Broken::NoResendAfterDrop) {
                    // Back on the bus for what comes next, but the message is forgotten.
                    println!("  send failed: {e} — reconnecting (broken: not sending it again)");
                    tokio::time::sleep(self.backoff()).await;
                    sender = self.connect(kind, register).await?;
                    break;
                }
                println!("  send failed: {e} — reconnecting");
                tokio::time::sleep(self.backoff()).await;
                sender = self.connect(kind, register).await?;
                if self.broken == Some(Broken::DuplicatesAfterDrop) {
                    m = new_guids(&m);
                    out = self.build(&sender, &m)?;
                }
                continue;
            }
            if self.broken == Some(Broken::ApprecIgnored) {
                println!("  sent {} (broken: not reading the answer)", out.message_id);
                break;
            }
            let wait = self.apprec_wait();
            match sender.wait_answer(&out.message_id, wait).await {
                Ok(Answer::AppRec(a)) => {
                    let status = a.apprec.status.code().to_string();
                    println!("  AppRec status {status} for {}", out.message_id);
                    match status.as_str() {
                        "2" => {
                            if self.broken == Some(Broken::NoResend) {
                                println!("  (broken: giving up after status 2)");
                                break;
                            }
                            out = self.build(&sender, &m)?;
                        }
                        "3" => {
                            let named: Vec<String> = a
                                .apprec
                                .errors
                                .iter()
                                .filter_map(|e| e.details.clone())
                                .collect();
                            let Some(again) = resend_named(&m, &named) else {
                                break;
                            };
                            m = again;
                            out = self.build(&sender, &m)?;
                        }
                        _ => break,
                    }
                }
                Ok(Answer::Error(e)) => {
                    println!("  error {}: {}", e.condition_text, e.description);
                    out = self.build(&sender, &m)?;
                }
                Err(SendError::Timeout(..)) if self.broken == Some(Broken::NoResendAfterDrop) => {
                    println!("  no AppRec (broken: not sending it again)");
                    break;
                }
                Err(SendError::Timeout(..)) if !resent_same => {
                    // No receipt: send the same message again (same message-id) once.
                    println!(
                        "  no AppRec within {:.1} s — resending {}",
                        wait.as_secs_f64(),
                        out.message_id
                    );
                    resent_same = true;
                }
                Err(SendError::Timeout(..)) => break,
                Err(e) => {
                    println!("  {e} — reconnecting");
                    tokio::time::sleep(self.backoff()).await;
                    sender = self.connect(kind, register).await?;
                }
            }
        }
        sender.close().await;
        Ok(())
    }
}

/// After AppRec status 3: the notifications the AppRec names, as new notifications
/// continuing the chain from the last accepted one (their løpenr kept).
fn resend_named(sent: &Melding, error_texts: &[String]) -> Option<Melding> {
    let named: Vec<usize> = sent
        .notifikasjoner
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            let g = n.guid.to_ascii_lowercase();
            error_texts
                .iter()
                .any(|t| t.to_ascii_lowercase().contains(&g))
        })
        .map(|(i, _)| i)
        .collect();
    let first = *named.first()?;
    let mut out = sent.clone();
    out.notifikasjoner = named
        .iter()
        .map(|i| sent.notifikasjoner[*i].clone())
        .collect();
    for n in &mut out.notifikasjoner {
        n.guid = new_guid();
    }
    out.notifikasjoner[0].forrige_guid = sent.notifikasjoner[first].forrige_guid.clone();
    relink(&mut out);
    Some(out)
}
