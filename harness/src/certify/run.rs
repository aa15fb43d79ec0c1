//! `certify run DIR`: the transport session. Starts the service bus (TLS only, the kommune
//! and the register as participants) and the register (KPR 134197 and KPR Validering
//! 131725) for the session's kommune, a second TLS port whose certificate is for another
//! host name, and a small live web page; then walks the phases ([`super::phases`]), each
//! with its instruction on the console and the page, its fault armed, waiting until what it
//! waits for has happened or its timeout; then decides every test of the plan
//! ([`super::judge`]) and writes the report and the evidence bundle.
//!
//! ```text
//! DIR/run/endpoints.json   where to connect, credentials, the CA, the live page (for the EPJ)
//! DIR/run/run.sqlite       the broker's queues and the register's record of every message
//! DIR/run/evidence/        phases.json, messages.json, connections.json, wrong-host.json,
//!                          messages/NNN-<phase>.msghead.xml (decrypted with the register's key)
//!                          and NNN-<phase>.iplos.xml (the IPLOS document the findings' lines
//!                          refer to)
//! DIR/run/report.json, junit.xml, index.html   the certification report
//! ```
//!
//! The live page (`GET /`) refreshes itself every two seconds; `GET /status.json` is the
//! same state for machines (a scripted EPJ follows the phases through it).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use chrono::{DateTime, Utc};
use iplos_mocks::pki::Pki;
use iplos_mocks::receiver::{
    DeliveryRecord, Injection, Injector, KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID,
    MessageRecord, Outcome, PkiDirectory, Receiver, ReceiverConfig, ReceiverHandle, RunStore,
};
use iplos_mocks::servicebus::{
    BrokerConfig, BrokerFaults, ConnEventKind, QueueKind, TlsConfig, decode_message,
};
use iplos_model::calendar::{Clock, SystemClock};
use iplos_model::compare::{CompareOptions, compare, read_received};
use iplos_model::ids::HerId;
use iplos_model::message::read_msghead;
use iplos_model::rules::{CheckOptions, CheckReport};
use iplos_reports::certification::{
    CertificationReport, Session as CertSession, TestVerdict, VendorInfo,
};
use serde::Serialize;

use super::judge::{self, Ctx, Expected, STATUS3_NAMED};
use super::phases::{Phase, PhaseKind, Timing, phases};
use super::plan::{FaultKind, Plan};
use super::record::{Msg, PhaseRecord, Recording, SmRecord, SmSubmission, WrongHostAttempt};
use super::session::{Credentials, Session, TlsFiles};
use crate::files::write_atomic;
use crate::identity::password;
use iplos_mocks::intake::Intake;
use iplos_mocks::sendemodul::{Pins, Sendemodul, SendemodulConfig};

/// How `certify run` is asked to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub dir: PathBuf,
    pub plan: Option<PathBuf>,
    pub time_scale: f64,
    pub bind: IpAddr,
    pub amqp_port: u16,
    pub wrong_host_port: u16,
    pub web_port: u16,
    /// Walk only these phases (empty: all).
    pub only: Vec<PhaseKind>,
    /// Replace an earlier run's results.
    pub force: bool,
}

/// `run/endpoints.json`: what the EPJ needs to connect.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Endpoints {
    pub kommune: String,
    /// The Sendemodul portals (the older annual formats).
    pub sendemodul: SendemodulEndpoints,
    pub her_id: u32,
    pub amqps: Amqps,
    pub wrong_host: HostPort,
    pub register_validation_her_id: u32,
    pub register_production_her_id: u32,
    pub web: String,
    pub status: String,
    pub time_scale: f64,
    pub pki: PathBuf,
}

/// The broker's address and login.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Amqps {
    pub host: String,
    pub port: u16,
    pub namespace: String,
    pub username: String,
    pub password: String,
    /// The CA to trust (PEM).
    pub ca: PathBuf,
    /// `amqps://user:password@host:port/namespace`.
    pub url: String,
}

/// The Sendemodul portals and the kommune's four login values.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SendemodulEndpoints {
    /// The session's portal (`…/Sendemodul/`).
    pub url: String,
    /// A second portal that rejects the kommune's PIN (phase `sendemodul-refused`).
    pub refusing_url: String,
    pub kommunenr: String,
    pub bydel: String,
    pub orgnr: String,
    pub pin: String,
    /// The largest part the portals take, in bytes.
    pub part_limit_bytes: u64,
}

/// The Sendemodul part limit of a session: small, so that an annual file must be split.
pub const SENDEMODUL_PART_LIMIT: u64 = 16 * 1024;

/// A host and port.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// One phase on the live page and in `status.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PhaseStatus {
    pub id: String,
    /// `pending`, `running`, `completed`, `timed-out`, `skipped`.
    pub state: String,
    pub instruction: String,
    pub to_her_id: Option<u32>,
    pub timeout_seconds: f64,
    pub note: String,
}

/// `GET /status.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Status {
    pub vendor: String,
    pub kommune: String,
    pub time_scale: f64,
    /// The running phase's id.
    pub phase: Option<String>,
    /// Its 1-based position.
    pub seq: usize,
    pub of: usize,
    pub phases: Vec<PhaseStatus>,
    pub messages: usize,
    /// Every phase has run; the report is being (or has been) written.
    pub done: bool,
    /// The report's verdict, once written.
    pub verdict: Option<String>,
}

type Live = Arc<Mutex<Status>>;

/// The register's answers for a phase, armed by the session.
#[derive(Default)]
struct SessionInjector {
    armed: Mutex<Armed>,
}

#[derive(Default)]
struct Armed {
    kommune: Option<HerId>,
    own: Option<HerId>,
    once: Option<Injection>,
    /// `once` is for the `at`-th new message (1-based); `seen` counts them.
    at: u32,
    seen: u32,
    each: Option<Injection>,
}

impl Injector for SessionInjector {
    fn inject(
        &self,
        own: HerId,
        from: Option<HerId>,
        _message_id: Option<&str>,
    ) -> Option<Injection> {
        let mut a = self.armed.lock().ok()?;
        if a.own != Some(own) || from.is_none() || a.kommune != from {
            return None;
        }
        if a.once.is_some() {
            // The fault strikes the plan's `after_messages`-th message of the phase.
            a.seen += 1;
            if a.seen >= a.at {
                return a.once.take();
            }
            return a.each.clone();
        }
        a.each.clone()
    }
}

impl SessionInjector {
    fn arm(
        &self,
        kommune: HerId,
        own: HerId,
        (once, at): (Option<Injection>, u32),
        each: Option<Injection>,
    ) {
        if let Ok(mut a) = self.armed.lock() {
            *a = Armed {
                kommune: Some(kommune),
                own: Some(own),
                once,
                at: at.max(1),
                seen: 0,
                each,
            };
        }
    }

    fn disarm(&self) {
        if let Ok(mut a) = self.armed.lock() {
            *a = Armed::default();
        }
    }
}

/// Runs a session; returns the report's verdict.
pub async fn run(opts: RunOptions) -> Result<CertificationReport> {
    if !(opts.time_scale > 0.0 && opts.time_scale <= 10.0) {
        bail!("--time-scale {}: must be within (0, 10]", opts.time_scale);
    }
    let dir = std::fs::canonicalize(&opts.dir)
        .with_context(|| format!("{} does not exist", opts.dir.display()))?;
    let session = Session::load(&dir)?;
    let plan = match &opts.plan {
        Some(p) => Plan::load(p)?,
        None => Plan::embedded()?,
    };
    let timing = Timing::new(opts.time_scale);
    let all_phases = phases(&plan, &timing);
    let selected: Vec<PhaseKind> = all_phases
        .iter()
        .map(|p| p.kind)
        .filter(|k| opts.only.is_empty() || opts.only.contains(k))
        .collect();
    let run_dir = dir.join("run");
    if run_dir.exists() {
        if !opts.force {
            bail!(
                "{} holds an earlier run: keep it elsewhere, or pass --force to replace it",
                run_dir.display()
            );
        }
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot remove {}", run_dir.display()))?;
    }
    let evidence = run_dir.join("evidence");
    std::fs::create_dir_all(evidence.join("messages"))?;
    let expected = Expected::load(&dir, &session)?;
    let creds = Credentials::load_or_create(&dir, &session.kommune)?;
    let tls = TlsFiles::load_or_create(&dir)?;
    let kommune = HerId::new(session.her_id)?;
    let validation = HerId::new(KPR_VALIDATION_HER_ID)?;
    let production = HerId::new(KPR_PRODUCTION_HER_ID)?;

    // The register, the broker, the receiver.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let pki_dir = dir.join("pki");
    let pki = Pki::load(&pki_dir)
        .with_context(|| format!("cannot read the session's PKI in {}", pki_dir.display()))?;
    let register_party = pki.register()?;
    let store = Arc::new(RunStore::open(&run_dir.join("run.sqlite"), clock.clone())?);
    let faults = BrokerFaults::new();
    let mut cfg = BrokerConfig::new()
        .with_bind(SocketAddr::new(opts.bind, opts.amqp_port))
        .with_store(store.clone())
        .with_clock(clock.clone())
        .with_tls(
            TlsConfig::from_files(&tls.server_cert, &tls.server_key)
                .context("the broker's TLS certificate")?,
        )
        .with_faults(faults.clone())
        .with_participant(kommune, &creds.username, &creds.password);
    for h in [production, validation] {
        // Never handed out.
        cfg = cfg.with_participant(h, &format!("register{h}"), &password(None, "register")?);
    }
    let broker = cfg.start().await.context("cannot start the broker")?;
    let injector = Arc::new(SessionInjector::default());
    let receiver = Receiver::start(
        broker.bus(),
        store.clone(),
        register_party.clone(),
        Arc::new(PkiDirectory::new(&pki_dir)),
        ReceiverConfig {
            her_ids: vec![production, validation],
            name: register_party.name.clone(),
            data_year: Some(i32::from(session.year)),
            clock: clock.clone(),
            injector: Some(injector.clone() as Arc<dyn Injector>),
            ..ReceiverConfig::default()
        },
    )
    .await
    .context("cannot start the register")?;

    // Sendemodul: the session's portal and one that rejects the kommune's PIN, in front of
    // SSB's file intake.
    let intake = Intake::open(run_dir.join("intake.sqlite"), clock.clone())
        .context("cannot open the Sendemodul intake")?;
    let pin = Pins::derive(session.seed, &session.kommune);
    let wrong_pin = format!("{:06}", (pin.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
    let sm_config = |pin: &str| SendemodulConfig {
        bind: SocketAddr::new(opts.bind, 0),
        data_year: i32::from(session.year),
        pins: Pins::seeded(session.seed).with(session.kommune.clone(), pin),
        max_part_bytes: SENDEMODUL_PART_LIMIT,
        ..SendemodulConfig::default()
    };
    let sendemodul = Sendemodul::start(sm_config(&pin), intake.clone(), clock.clone())
        .await
        .context("cannot start Sendemodul")?;
    let refusing = Sendemodul::start(
        sm_config(&wrong_pin),
        Intake::in_memory(clock.clone())?,
        clock.clone(),
    )
    .await
    .context("cannot start the refusing Sendemodul")?;
    let orgnr = iplos_model::municipality::lookup(session.year, &session.kommune)
        .map(|m| m.orgnr().to_string())
        .unwrap_or_default();

    // The wrong-host listener and the live page.
    let wrong_host_log: Arc<Mutex<Vec<WrongHostAttempt>>> = Arc::default();
    let wrong_listener = tokio::net::TcpListener::bind((opts.bind, opts.wrong_host_port))
        .await
        .context("cannot open the wrong-host port")?;
    let wrong_port = wrong_listener.local_addr()?.port();
    let wrong_task = tokio::spawn(wrong_host(
        wrong_listener,
        tls.wrong_host_cert.clone(),
        tls.wrong_host_key.clone(),
        wrong_host_log.clone(),
    ));
    let live: Live = Arc::new(Mutex::new(Status {
        vendor: session.vendor.clone(),
        kommune: format!("{} {}", session.kommune, session.kommune_name),
        time_scale: opts.time_scale,
        phase: None,
        seq: 0,
        of: all_phases.len(),
        phases: all_phases
            .iter()
            .map(|p| PhaseStatus {
                id: p.kind.as_str().into(),
                state: if selected.contains(&p.kind) {
                    "pending".into()
                } else {
                    "skipped".into()
                },
                instruction: p.kind.instruction().into(),
                to_her_id: to_her(p.kind),
                timeout_seconds: p.timeout.as_secs_f64(),
                note: String::new(),
            })
            .collect(),
        messages: 0,
        done: false,
        verdict: None,
    }));
    let web_listener = tokio::net::TcpListener::bind((opts.bind, opts.web_port))
        .await
        .context("cannot open the live page's port")?;
    let web_addr = web_listener.local_addr()?;
    let app = axum::Router::new()
        .route("/", get(page))
        .route("/status.json", get(status_json))
        .with_state(live.clone());
    let web_task = tokio::spawn(async move {
        let _ = axum::serve(web_listener, app).await;
    });

    let host = opts.bind.to_string();
    let namespace = broker.bus().namespace().to_string();
    let endpoints = Endpoints {
        kommune: session.kommune.clone(),
        sendemodul: SendemodulEndpoints {
            url: sendemodul.portal_url(iplos_mocks::intake::Channel::Ordinary),
            refusing_url: refusing.portal_url(iplos_mocks::intake::Channel::Ordinary),
            kommunenr: session.kommune.clone(),
            bydel: "00".into(),
            orgnr,
            pin: pin.clone(),
            part_limit_bytes: SENDEMODUL_PART_LIMIT,
        },
        her_id: session.her_id,
        amqps: Amqps {
            host: host.clone(),
            port: broker.port(),
            namespace: namespace.clone(),
            username: creds.username.clone(),
            password: creds.password.clone(),
            ca: tls.ca.clone(),
            url: format!(
                "amqps://{}:{}@{host}:{}/{namespace}",
                creds.username,
                creds.password,
                broker.port()
            ),
        },
        wrong_host: HostPort {
            host: host.clone(),
            port: wrong_port,
        },
        register_validation_her_id: KPR_VALIDATION_HER_ID,
        register_production_her_id: KPR_PRODUCTION_HER_ID,
        web: format!("http://{web_addr}/"),
        status: format!("http://{web_addr}/status.json"),
        time_scale: opts.time_scale,
        pki: pki_dir.clone(),
    };
    write_atomic(
        &run_dir.join("endpoints.json"),
        &serde_json::to_vec_pretty(&endpoints)?,
        false,
    )?;
    println!(
        "certify run: {} — kommune {} {} (HER-id {}), plan {} {}{}",
        session.vendor,
        session.kommune,
        session.kommune_name,
        session.her_id,
        plan.name,
        plan.version,
        if opts.time_scale == 1.0 {
            String::new()
        } else {
            format!(", time scale {}", opts.time_scale)
        }
    );
    println!("  broker     {}", endpoints.amqps.url);
    println!("  trust      {}", tls.ca.display());
    println!("  wrong host {host}:{wrong_port}");
    println!(
        "  Sendemodul {} (PIN {pin}, parts of at most {} bytes)",
        endpoints.sendemodul.url, SENDEMODUL_PART_LIMIT
    );
    println!("  live page  {}", endpoints.web);
    println!("  endpoints  {}", run_dir.join("endpoints.json").display());

    // The phases.
    let started = Utc::now();
    let mut records: Vec<PhaseRecord> = Vec::new();
    let mut error_queue_left = None;
    let mut cache = ContentCache::default();
    let walk = Walk {
        expected: &expected,
        store: &store,
        faults: &faults,
        injector: &injector,
        receiver: &receiver,
        kommune,
        username: &creds.username,
        timing: &timing,
        wrong_host: &wrong_host_log,
        live: &live,
        intake: &intake,
        kommune_nr: &session.kommune,
    };
    let selected_phases: Vec<&Phase> = all_phases
        .iter()
        .filter(|p| selected.contains(&p.kind))
        .collect();
    for (i, phase) in all_phases.iter().enumerate() {
        if !selected.contains(&phase.kind) {
            continue;
        }
        let pos = selected_phases
            .iter()
            .position(|p| p.kind == phase.kind)
            .unwrap_or(0);
        let rec = walk
            .phase(phase, i + 1, pos + 1, selected_phases.len(), &mut cache)
            .await?;
        if phase.kind == PhaseKind::ErrorQueue {
            error_queue_left = broker.bus().len(&QueueKind::Error.queue_name(kommune)).ok();
        }
        if let Some(prev) = records.last_mut() {
            prev.ended = rec.started;
        }
        records.push(rec);
    }
    let ended = Utc::now();
    if let Some(prev) = records.last_mut() {
        prev.ended = ended;
    }
    if let Ok(mut s) = live.lock() {
        s.phase = None;
        s.done = true;
    }

    // What was observed, the verdicts, the report.
    let sm = SmRecord {
        part_limit: SENDEMODUL_PART_LIMIT,
        attempts: sendemodul.login_attempts(),
        refusing_attempts: refusing.login_attempts(),
        submissions: intake
            .all_submissions()?
            .into_iter()
            .map(|info| {
                let melding = intake
                    .raw_bytes(info.id)
                    .ok()
                    .flatten()
                    .and_then(|b| read_received(&b, &CheckOptions::default()).ok())
                    .map(|r| r.melding);
                SmSubmission { info, melding }
            })
            .collect(),
    };
    let mut recording = collect(
        &store,
        &session,
        &creds,
        timing,
        started,
        ended,
        records,
        faults.events(),
        wrong_host_log.lock().map(|l| l.clone()).unwrap_or_default(),
        error_queue_left,
        &evidence,
        &mut cache,
    )?;
    recording.sendemodul = Some(sm);
    let ctx = Ctx {
        rec: &recording,
        expected: &expected,
        plan: &plan,
        selected: &selected,
    };
    let (tests, timings) = judge::judge_all(&ctx);
    write_evidence(&recording, &evidence)?;
    let product = recording
        .messages
        .iter()
        .find_map(|m| m.melding.as_ref())
        .map(|m| (m.header.navn_epj.clone(), m.header.versjon_epj.clone()))
        .unwrap_or_default();
    let mut notes = Vec::new();
    if opts.time_scale != 1.0 {
        notes.push(format!(
            "Run with time scale {}: every timeout and fault duration was multiplied by it. A certificate needs a session at scale 1.",
            opts.time_scale
        ));
    }
    if selected.len() < all_phases.len() {
        notes.push(format!(
            "Only these phases were walked (--only): {}.",
            selected
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut report = CertificationReport {
        schema_version: iplos_reports::certification::CERTIFICATION_SCHEMA_VERSION,
        tool: iplos_reports::Tool {
            name: "iplos-harness".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        plan: plan.report_info(),
        vendor: VendorInfo {
            name: session.vendor.clone(),
            product: product.0,
            version: product.1,
        },
        session: CertSession {
            kommune: session.kommune.clone(),
            kommune_name: session.kommune_name.clone(),
            her_id: Some(session.her_id),
            channel: "servicebus".into(),
            notes,
        },
        verdict: iplos_reports::certification::Verdict::Incomplete,
        summary: Default::default(),
        tests,
        evidence_bundle: iplos_reports::certification::bundle_from_dir(&evidence)
            .map_err(|e| anyhow::anyhow!("the evidence bundle: {e}"))?,
        timings,
    };
    report.normalise();
    let written = iplos_reports::certification::write_certification(&report, &run_dir)
        .context("writing the certification report")?;
    if let Ok(mut s) = live.lock() {
        s.verdict = Some(report.verdict.as_str().to_string());
    }
    print_summary(&report, &written);
    // The page says "done" a moment longer, for an EPJ polling it.
    tokio::time::sleep(Duration::from_secs(1)).await;

    injector.disarm();
    sendemodul.shutdown().await;
    refusing.shutdown().await;
    receiver.shutdown().await;
    broker.shutdown().await;
    wrong_task.abort();
    web_task.abort();
    Ok(report)
}

fn to_her(kind: PhaseKind) -> Option<u32> {
    match kind {
        PhaseKind::TlsWrongHost | PhaseKind::SendemodulUpload | PhaseKind::SendemodulRefused => {
            None
        }
        k if k.production() => Some(KPR_PRODUCTION_HER_ID),
        _ => Some(KPR_VALIDATION_HER_ID),
    }
}

/// Parsed content of the register's messages, by row.
#[derive(Default)]
struct ContentCache {
    parsed: HashMap<i64, Parsed>,
}

#[derive(Clone, Default)]
struct Parsed {
    msghead: Option<Vec<u8>>,
    iplos: Option<Vec<u8>>,
    melding: Option<iplos_model::message::Melding>,
    lines: Option<Vec<u64>>,
}

impl ContentCache {
    fn get(&mut self, store: &RunStore, row: i64) -> &Parsed {
        self.parsed.entry(row).or_insert_with(|| {
            let Ok(Some(msghead)) = store.content(row) else {
                return Parsed::default();
            };
            let iplos = read_msghead(&msghead)
                .ok()
                .map(|info| info.content_document().into_owned());
            let received = iplos
                .as_deref()
                .and_then(|b| read_received(b, &CheckOptions::default()).ok());
            Parsed {
                msghead: Some(msghead),
                melding: received.as_ref().map(|r| r.melding.clone()),
                lines: received.and_then(|r| r.lines),
                iplos,
            }
        })
    }
}

struct Walk<'a> {
    intake: &'a Intake,
    kommune_nr: &'a str,
    expected: &'a Expected,
    store: &'a Arc<RunStore>,
    faults: &'a BrokerFaults,
    injector: &'a SessionInjector,
    receiver: &'a ReceiverHandle,
    kommune: HerId,
    username: &'a str,
    timing: &'a Timing,
    wrong_host: &'a Arc<Mutex<Vec<WrongHostAttempt>>>,
    live: &'a Live,
}

/// When a phase started, and when its outage ends.
#[derive(Clone, Copy)]
struct PhaseTimes {
    started: DateTime<Utc>,
    t0: Instant,
    outage: Option<Instant>,
}

/// A content phase's expected events and the accepted messages last compared with them.
#[derive(Default)]
struct Coverage {
    want: Option<iplos_model::message::Melding>,
    compared: Vec<i64>,
}

/// What the loop looks at: the kommune's messages since the phase started, with their first
/// delivery's reply time.
struct Seen {
    msgs: Vec<(MessageRecord, Option<DateTime<Utc>>)>,
}

impl Seen {
    fn answered(&self, after_row: i64) -> bool {
        self.msgs.iter().any(|(m, replied)| {
            m.id > after_row
                && replied.is_some()
                && m.outcome == Some(Outcome::AppRec)
                && matches!(m.status.as_deref(), Some("1" | "3"))
        })
    }

    fn injected(&self, name: &str) -> Option<&MessageRecord> {
        self.msgs
            .iter()
            .map(|(m, _)| m)
            .find(|m| m.injected.as_deref() == Some(name))
    }
}

impl Walk<'_> {
    fn seen(&self, since: DateTime<Utc>) -> Result<Seen> {
        let deliveries: Vec<DeliveryRecord> = self.store.deliveries()?;
        let mut first_reply: HashMap<i64, Option<DateTime<Utc>>> = HashMap::new();
        for d in &deliveries {
            first_reply.entry(d.message).or_insert(d.replied);
        }
        let her = self.kommune.to_string();
        let msgs = self
            .store
            .messages()?
            .into_iter()
            .filter(|m| {
                m.received >= since && m.from_her.as_deref().map(str::trim) == Some(her.as_str())
            })
            .map(|m| {
                let r = first_reply.get(&m.id).copied().flatten();
                (m, r)
            })
            .collect();
        Ok(Seen { msgs })
    }

    fn live_phase(&self, id: &str, state: &str, note: &str, seq: usize, messages: Option<usize>) {
        if let Ok(mut s) = self.live.lock() {
            if state == "running" {
                s.phase = Some(id.to_string());
                s.seq = seq;
            }
            if let Some(n) = messages {
                s.messages = n;
            }
            if let Some(p) = s.phases.iter_mut().find(|p| p.id == id) {
                p.state = state.to_string();
                p.note = note.to_string();
            }
        }
    }

    async fn phase(
        &self,
        phase: &Phase,
        seq: usize,
        pos: usize,
        of: usize,
        cache: &mut ContentCache,
    ) -> Result<PhaseRecord> {
        let kind = phase.kind;
        let started = Utc::now();
        let t0 = Instant::now();
        println!(
            "\n[{pos}/{of}] {} (tests {}) — waiting up to {:.0} s",
            kind.as_str(),
            match phase.tests.len() {
                0 => "of the content phases".to_string(),
                n if n > 8 => format!("{} and {} more", phase.tests[..4].join(", "), n - 4),
                _ => phase.tests.join(", "),
            },
            phase.timeout.as_secs_f64()
        );
        println!("  {}", kind.instruction());
        self.live_phase(kind.as_str(), "running", "", seq, None);
        let outage = self.arm(phase);
        let deadline = t0 + phase.timeout;
        let times = PhaseTimes {
            started,
            t0,
            outage,
        };
        let mut coverage = Coverage::default();
        let mut printed = 0usize;
        let (completed, note) = loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let seen = self.seen(started)?;
            for (m, _) in seen.msgs.iter().skip(printed) {
                if m.state == iplos_mocks::receiver::MessageState::Checked {
                    println!(
                        "  ← {} on {}: {}{}",
                        m.message_id.as_deref().unwrap_or("(no message-id)"),
                        m.queue,
                        match m.outcome {
                            Some(Outcome::AppRec) =>
                                format!("AppRec status {}", m.status.as_deref().unwrap_or("?")),
                            Some(Outcome::Error) =>
                                format!("error {}", m.error_condition.map_or("?", |c| c.as_str())),
                            o => o.map_or("?", Outcome::as_str).to_string(),
                        },
                        m.injected
                            .as_deref()
                            .map(|i| format!(" (injected: {i})"))
                            .unwrap_or_default()
                    );
                    printed += 1;
                } else {
                    break;
                }
            }
            self.live_phase(
                kind.as_str(),
                "running",
                &format!("{} message(s) so far", seen.msgs.len()),
                seq,
                Some(seen.msgs.len()),
            );
            if let Some(done) = self.done(phase, &seen, &times, cache, &mut coverage)? {
                break (true, done);
            }
            if Instant::now() >= deadline {
                break (false, self.waiting_for(kind, &seen));
            }
        };
        self.disarm(kind);
        if completed {
            // Resends and duplicates that follow completion still belong to the phase.
            tokio::time::sleep(self.timing.quiet).await;
            println!("  ✓ {note} ({:.1} s)", t0.elapsed().as_secs_f64());
        } else {
            println!(
                "  ✗ timed out after {:.1} s: {note}",
                t0.elapsed().as_secs_f64()
            );
        }
        self.live_phase(
            kind.as_str(),
            if completed { "completed" } else { "timed-out" },
            &note,
            seq,
            None,
        );
        Ok(PhaseRecord {
            kind,
            started,
            ended: Utc::now(),
            completed,
            timeout_seconds: phase.timeout.as_secs_f64(),
            note,
        })
    }

    /// Arms the phase's fault; returns when an outage ends.
    fn arm(&self, phase: &Phase) -> Option<Instant> {
        let kind = phase.kind;
        let register = if kind.production() {
            HerId::new(KPR_PRODUCTION_HER_ID).ok()
        } else {
            HerId::new(KPR_VALIDATION_HER_ID).ok()
        };
        let register = register?;
        if !kind.production() && !kind.sendemodul() {
            // Each test submission to KPR Validering starts a fresh register.
            self.receiver.reset_content(register, self.kommune);
        }
        let fault = phase.fault.as_ref();
        let why = |test: &str, what: &str| format!("the certification session ({test}) {what}");
        let (once, each) = match kind {
            PhaseKind::ApprecStatus2 => (
                Some(Injection::Rejected {
                    reason: why(
                        "RECEIPT-01",
                        "rejects this message: fix and send the same notifications again in a new message",
                    ),
                }),
                None,
            ),
            PhaseKind::ApprecStatus3 => (
                Some(Injection::PartlyRejected {
                    count: STATUS3_NAMED,
                    reason: why(
                        "RECEIPT-02",
                        "rejects this notification: send it again, corrected, as a new notification",
                    ),
                }),
                None,
            ),
            PhaseKind::ErrorQueue => (
                Some(Injection::TransportError {
                    description: why(
                        "RECEIPT-03",
                        "injected this transport error: send the message again",
                    ),
                }),
                None,
            ),
            PhaseKind::LostApprec => (Some(Injection::WithholdReply), None),
            PhaseKind::SlowBroker => (
                None,
                Some(Injection::DelayReply(self.timing.slow_apprec_delay)),
            ),
            _ => (None, None),
        };
        let at = fault.and_then(|f| f.after_messages).unwrap_or(1);
        self.injector.arm(self.kommune, register, (once, at), each);
        let mut outage = None;
        match (kind, fault.map(|f| f.kind)) {
            (PhaseKind::AuthRefused, _) => {
                self.faults.set_refuse_auth(Some(self.username.to_string()))
            }
            (PhaseKind::ConnectionDrop, Some(FaultKind::DropConnection)) => {
                self.faults.drop_after_store(
                    self.username,
                    fault.and_then(|f| f.after_messages).unwrap_or(1),
                )
            }
            (PhaseKind::BrokerUnavailable, Some(FaultKind::BrokerUnavailable)) => {
                let d = self.timing.scaled(Duration::from_secs(u64::from(
                    fault.and_then(|f| f.duration_seconds).unwrap_or(600),
                )));
                let until = Instant::now() + d;
                self.faults.set_unavailable_until(Some(until));
                outage = Some(until);
            }
            (PhaseKind::SlowBroker, Some(FaultKind::SlowBroker)) => self
                .faults
                .set_disposition_delay(self.timing.scaled(Duration::from_millis(u64::from(
                    fault.and_then(|f| f.delay_ms).unwrap_or(5000),
                )))),
            _ => {}
        }
        outage
    }

    fn disarm(&self, kind: PhaseKind) {
        self.injector.disarm();
        match kind {
            PhaseKind::AuthRefused => self.faults.set_refuse_auth(None),
            PhaseKind::BrokerUnavailable => self.faults.set_unavailable_until(None),
            PhaseKind::SlowBroker => self.faults.set_disposition_delay(Duration::ZERO),
            _ => {}
        }
    }

    /// `Some(what happened)` once the phase is complete.
    fn done(
        &self,
        phase: &Phase,
        seen: &Seen,
        times: &PhaseTimes,
        cache: &mut ContentCache,
        coverage: &mut Coverage,
    ) -> Result<Option<String>> {
        let PhaseTimes {
            started,
            t0,
            outage,
        } = *times;
        let events_since = |f: &dyn Fn(&ConnEventKind) -> bool| {
            self.faults
                .events()
                .into_iter()
                .filter(|e| e.at >= started && f(&e.kind))
                .count()
        };
        Ok(match phase.kind {
            PhaseKind::TestSubmission | PhaseKind::SlowBroker => seen
                .answered(0)
                .then(|| "the test submission was answered with an AppRec".to_string()),
            PhaseKind::AuthRefused => (t0.elapsed() >= self.timing.auth_refused).then(|| {
                format!(
                    "{} refused login attempt(s) seen",
                    events_since(&|k| matches!(k, ConnEventKind::AuthFailed { .. }))
                )
            }),
            PhaseKind::TlsWrongHost => {
                let first = self
                    .wrong_host
                    .lock()
                    .ok()
                    .and_then(|l| l.iter().find(|a| a.at >= started).map(|a| a.at));
                let waited_after =
                    first.is_some_and(|f| Utc::now() - f > chrono::Duration::seconds(1));
                (waited_after || t0.elapsed() >= self.timing.tls_wrong_host).then(|| {
                    if first.is_some() {
                        "an attempt on the wrong-host port was seen".to_string()
                    } else {
                        "no attempt on the wrong-host port".to_string()
                    }
                })
            }
            PhaseKind::ApprecStatus2 => self.after_injected(seen, "rejected"),
            PhaseKind::ApprecStatus3 => self.after_injected(seen, "partly-rejected"),
            PhaseKind::ErrorQueue => self.after_injected(seen, "transport-error"),
            PhaseKind::LostApprec => seen.injected("withhold-reply").and_then(|m0| {
                (Utc::now() - m0.received
                    >= chrono::Duration::from_std(self.timing.lost_apprec_window)
                        .unwrap_or_default())
                .then(|| "watched for resends of the unconfirmed message".to_string())
            }),
            PhaseKind::ConnectionDrop => {
                // Complete once the EPJ is back after the drop and has either sent again or
                // had the time to (it may also find the AppRec of the stored message and
                // send nothing).
                let events: Vec<_> = self
                    .faults
                    .events()
                    .into_iter()
                    .filter(|e| e.at >= started)
                    .collect();
                let dropped = events
                    .iter()
                    .find(|e| matches!(e.kind, ConnEventKind::Dropped { .. }))
                    .map(|e| e.at);
                let back = dropped.and_then(|d| {
                    events
                        .iter()
                        .find(|e| e.at > d && matches!(e.kind, ConnEventKind::Opened { .. }))
                        .map(|e| e.at)
                });
                let sent_again = dropped.is_some_and(|d| {
                    events
                        .iter()
                        .any(|e| e.at > d && matches!(e.kind, ConnEventKind::Stored { .. }))
                });
                let waited = back.is_some_and(|b| {
                    Utc::now() - b
                        >= chrono::Duration::from_std(self.timing.resend_window).unwrap_or_default()
                });
                (back.is_some() && seen.answered(0) && (sent_again || waited)).then(|| {
                    format!(
                        "the connection was dropped, the EPJ reconnected{} and the message was answered",
                        if sent_again { " and sent again" } else { "" }
                    )
                })
            }
            PhaseKind::BrokerUnavailable => {
                let over = outage.is_none_or(|u| Instant::now() >= u);
                (over && seen.answered(0))
                    .then(|| "the outage is over and the submission was answered".to_string())
            }
            PhaseKind::SendemodulUpload => self
                .intake
                .submissions_of(self.kommune_nr, iplos_mocks::intake::Channel::Ordinary)
                .map_err(|e| anyhow::anyhow!("the intake: {e}"))?
                .iter()
                .any(|x| x.arrived >= started)
                .then(|| "a file was taken in through Sendemodul".to_string()),
            PhaseKind::SendemodulRefused => (t0.elapsed() >= self.timing.sendemodul_refused)
                .then(|| "watched the refused logins".to_string()),
            PhaseKind::InitialLoad | PhaseKind::YearEvents | PhaseKind::Corrections => {
                // Compared again only when another message has been accepted (a large
                // kommune's load is tens of thousands of events; the loop polls 10 times a
                // second).
                let accepted: Vec<i64> = seen
                    .msgs
                    .iter()
                    .filter(|(m, replied)| {
                        replied.is_some()
                            && m.outcome == Some(Outcome::AppRec)
                            && matches!(m.status.as_deref(), Some("1" | "3"))
                    })
                    .map(|(m, _)| m.id)
                    .collect();
                if accepted.is_empty() || accepted == coverage.compared {
                    return Ok(None);
                }
                coverage.compared = accepted.clone();
                let want = coverage.want.get_or_insert_with(|| match phase.kind {
                    PhaseKind::InitialLoad => self.expected.initial(),
                    PhaseKind::YearEvents => self.expected.year(),
                    _ => self.expected.corrections.clone(),
                });
                let mut got: Option<iplos_model::message::Melding> = None;
                for row in accepted {
                    if let Some(mel) = &cache.get(self.store, row).melding {
                        match &mut got {
                            None => got = Some(mel.clone()),
                            Some(g) => g.notifikasjoner.extend(mel.notifikasjoner.iter().cloned()),
                        }
                    }
                }
                got.and_then(|g| {
                    let c = compare(want, &g, &CompareOptions::default());
                    c.missing.is_empty().then(|| {
                        format!(
                            "all {} expected events arrived in accepted messages",
                            c.expected_events
                        )
                    })
                })
            }
        })
    }

    fn after_injected(&self, seen: &Seen, name: &str) -> Option<String> {
        let m0 = seen.injected(name)?;
        seen.answered(m0.id)
            .then(|| format!("a message after the injected one ({name}) was accepted"))
    }

    fn waiting_for(&self, kind: PhaseKind, seen: &Seen) -> String {
        let n = seen.msgs.len();
        match kind {
            PhaseKind::InitialLoad | PhaseKind::YearEvents | PhaseKind::Corrections => format!(
                "{n} message(s) arrived; the expected events of the phase were not all received in accepted messages"
            ),
            PhaseKind::ApprecStatus2 | PhaseKind::ApprecStatus3 | PhaseKind::ErrorQueue => {
                format!("{n} message(s) arrived; no accepted message followed the injected answer")
            }
            _ if n == 0 => "no message arrived".into(),
            _ => format!("{n} message(s) arrived; none was answered with an AppRec 1 or 3"),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn collect(
    store: &RunStore,
    session: &Session,
    creds: &Credentials,
    timing: Timing,
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    phases: Vec<PhaseRecord>,
    connections: Vec<iplos_mocks::servicebus::ConnEvent>,
    wrong_host: Vec<WrongHostAttempt>,
    error_queue_left: Option<usize>,
    evidence: &Path,
    cache: &mut ContentCache,
) -> Result<Recording> {
    let mut rec = Recording {
        kommune: session.kommune.clone(),
        kommune_her: session.her_id,
        username: creds.username.clone(),
        timing,
        started,
        ended,
        phases,
        messages: Vec::new(),
        connections,
        wrong_host,
        error_queue_left,
        sendemodul: None,
    };
    let deliveries = store.deliveries()?;
    let her = session.her_id.to_string();
    for (i, m) in store
        .messages()?
        .into_iter()
        .filter(|m| m.from_her.as_deref().map(str::trim) == Some(her.as_str()))
        .enumerate()
    {
        let mine: Vec<&DeliveryRecord> = deliveries.iter().filter(|d| d.message == m.id).collect();
        let replied = mine.first().and_then(|d| d.replied);
        let duplicates = mine.iter().filter(|d| d.duplicate).count() as u32;
        let amqp = store.raw(m.id)?.and_then(|raw| decode_message(&raw).ok());
        let content_encryption = amqp.as_ref().and_then(|a| {
            iplos_mocks::nhn::single_data(a)
                .ok()
                .and_then(iplos_mocks::cms::content_encryption_algorithm)
        });
        let reply_to = amqp.and_then(|a| a.properties.and_then(|p| p.reply_to));
        let verdict: Option<serde_json::Value> = m
            .verdict
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok());
        let answer = verdict.as_ref().and_then(|v| v.get("answer"));
        let text = |k: &str| {
            answer
                .and_then(|a| a.get(k))
                .and_then(|x| x.as_str())
                .map(str::to_string)
        };
        let report: Option<CheckReport> = verdict
            .as_ref()
            .and_then(|v| v.get("report"))
            .filter(|r| !r.is_null())
            .and_then(|r| serde_json::from_value(r.clone()).ok());
        let phase = rec.phase_at(m.received);
        cache.get(store, m.id);
        let parsed = cache.parsed.remove(&m.id).unwrap_or_default();
        let stem = format!("{:03}-{}", i + 1, phase.map_or("before", PhaseKind::as_str));
        let mut evidence_file = None;
        if let Some(x) = &parsed.msghead {
            let name = format!("messages/{stem}.msghead.xml");
            std::fs::write(evidence.join(&name), x)?;
            evidence_file = Some(name);
        }
        if let Some(x) = &parsed.iplos {
            let name = format!("messages/{stem}.iplos.xml");
            std::fs::write(evidence.join(&name), x)?;
            evidence_file = Some(name);
        }
        rec.messages.push(Msg {
            row: m.id,
            phase,
            queue: m.queue.clone(),
            message_id: m.message_id.clone(),
            to_her: m.to_her.clone(),
            reply_to,
            received: m.received,
            replied,
            duplicates,
            outcome: m.outcome,
            status: m.status.clone(),
            error_condition: m.error_condition,
            error_data: text("data"),
            error_description: text("description"),
            stage: m.stage,
            msg_id: verdict
                .as_ref()
                .and_then(|v| v.get("msg_id"))
                .and_then(|x| x.as_str())
                .map(str::to_string),
            injected: m.injected.clone(),
            content_encryption,
            report,
            melding: parsed.melding,
            lines: parsed.lines,
            iplos: parsed.iplos,
            evidence_file,
        });
    }
    Ok(rec)
}

fn write_evidence(rec: &Recording, evidence: &Path) -> Result<()> {
    fn write<T: Serialize>(dir: &Path, name: &str, v: &T) -> Result<()> {
        std::fs::write(dir.join(name), serde_json::to_vec_pretty(v)?)?;
        Ok(())
    }
    write(evidence, "phases.json", &rec.phases)?;
    write(evidence, "messages.json", &rec.messages)?;
    write(evidence, "connections.json", &rec.connections)?;
    write(evidence, "wrong-host.json", &rec.wrong_host)?;
    Ok(())
}

fn print_summary(r: &CertificationReport, written: &iplos_reports::Written) {
    println!(
        "\ncertify run: {} — {} (required: {} passed, {} failed, {} not run; {} tests in all)",
        r.vendor.name,
        r.verdict.as_str().to_uppercase(),
        r.summary.required_passed,
        r.summary.required_failed,
        r.summary.required_not_run,
        r.summary.tests
    );
    for t in r.tests.iter().filter(|t| t.verdict == TestVerdict::Fail) {
        println!(
            "  FAIL {} {}: {}",
            t.id,
            t.title,
            t.reason.as_deref().unwrap_or("")
        );
    }
    if let Some(ms) = r.timings.time_to_first_apprec_ms {
        println!("  time to first AppRec {ms} ms");
    }
    if let Some(n) = r.timings.notifications_per_second {
        println!("  initial load {n:.0} notifications/s");
    }
    if let (Some(p50), Some(p99)) = (r.timings.p50_ms, r.timings.p99_ms) {
        println!(
            "  arrival → AppRec p50 {p50:.0} ms, p99 {p99:.0} ms over {} messages",
            r.timings.latency_samples
        );
    }
    println!(
        "  report: {}\n          {}\n          {}",
        written.html.display(),
        written.json.display(),
        written.junit.display()
    );
}

/// The wrong-host port: TLS with a certificate for another host name. A client that
/// completes the handshake accepted it (and one that then sends an AMQP header would have
/// logged in); one that aborts refused it.
async fn wrong_host(
    listener: tokio::net::TcpListener,
    cert: PathBuf,
    key: PathBuf,
    log: Arc<Mutex<Vec<WrongHostAttempt>>>,
) {
    use tokio::io::AsyncReadExt;
    let Ok(Ok(acceptor)) = TlsConfig::from_files(&cert, &key).map(|t| t.acceptor()) else {
        tracing::error!("the wrong-host certificate cannot be loaded");
        return;
    };
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let at = Utc::now();
            let attempt = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                .await
            {
                Ok(Ok(mut stream)) => {
                    let mut header = [0u8; 8];
                    let sent = matches!(
                        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut header)).await,
                        Ok(Ok(_)) if header.starts_with(b"AMQP")
                    );
                    WrongHostAttempt {
                        at,
                        accepted_certificate: true,
                        sent_amqp: sent,
                        error: None,
                    }
                }
                Ok(Err(e)) => WrongHostAttempt {
                    at,
                    accepted_certificate: false,
                    sent_amqp: false,
                    error: Some(e.to_string()),
                },
                Err(_) => WrongHostAttempt {
                    at,
                    accepted_certificate: false,
                    sent_amqp: false,
                    error: Some("no TLS handshake within 10 s".into()),
                },
            };
            if let Ok(mut l) = log.lock()
                && l.len() < 10_000
            {
                l.push(attempt);
            }
        });
    }
}

async fn status_json(State(live): State<Live>) -> impl IntoResponse {
    let s = live.lock().map(|s| s.clone()).ok();
    axum::Json(s)
}

async fn page(State(live): State<Live>) -> Html<String> {
    let Some(s) = live.lock().map(|s| s.clone()).ok() else {
        return Html("unavailable".into());
    };
    let esc = iplos_reports::html::esc;
    let mut rows = String::new();
    for p in &s.phases {
        let mark = match p.state.as_str() {
            "completed" => "✓",
            "timed-out" => "✗",
            "running" => "▶",
            "skipped" => "–",
            _ => "·",
        };
        let _ = write!(
            rows,
            "<tr class=\"{}\"><td>{mark}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.state),
            esc(&p.id),
            esc(&p.state),
            p.to_her_id.map(|h| h.to_string()).unwrap_or_default(),
            esc(&p.note)
        );
    }
    let current = s
        .phase
        .as_ref()
        .and_then(|id| s.phases.iter().find(|p| &p.id == id))
        .map(|p| {
            format!(
                "<h2>Now: {}</h2><p class=\"do\">{}</p><p>Waiting up to {:.0} s.</p>",
                esc(&p.id),
                esc(&p.instruction),
                p.timeout_seconds
            )
        })
        .unwrap_or_else(|| match &s.verdict {
            Some(v) => format!(
                "<h2>Done: {}</h2><p>The report is in the session's run/ directory.</p>",
                esc(v)
            ),
            None if s.done => "<h2>Done</h2><p>Writing the report…</p>".into(),
            None => "<h2>Starting…</h2>".into(),
        });
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
         <title>Certification session — {vendor}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
         td,th{{padding:.2rem .6rem;text-align:left}}tr.running{{background:#fff3c4}}tr.timed-out{{color:#a00}}\
         tr.completed{{color:#060}}p.do{{font-size:1.2rem}}</style></head><body>\
         <h1>Certification session — {vendor}</h1><p>Kommune {kommune} · {messages} message(s) received{scale}</p>\
         {current}<table><tr><th></th><th>phase</th><th>state</th><th>to HER-id</th><th>note</th></tr>{rows}</table>\
         </body></html>",
        vendor = esc(&s.vendor),
        kommune = esc(&s.kommune),
        messages = s.messages,
        scale = if s.time_scale == 1.0 {
            String::new()
        } else {
            format!(" · time scale {}", s.time_scale)
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_injection_strikes_the_planned_message_of_the_kommune_to_the_armed_register_only() {
        let kommune = HerId::new(9_004_601).unwrap();
        let other = HerId::new(9_000_301).unwrap();
        let (validation, production) = (
            HerId::new(KPR_VALIDATION_HER_ID).unwrap(),
            HerId::new(KPR_PRODUCTION_HER_ID).unwrap(),
        );
        let inj = SessionInjector::default();
        let reject = Injection::Rejected { reason: "r".into() };
        inj.arm(kommune, validation, (Some(reject.clone()), 2), None);
        assert_eq!(
            inj.inject(validation, Some(other), None),
            None,
            "another sender"
        );
        assert_eq!(
            inj.inject(production, Some(kommune), None),
            None,
            "another register"
        );
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            None,
            "the 1st message"
        );
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            Some(reject),
            "the 2nd"
        );
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            None,
            "once only"
        );
        let delay = Injection::DelayReply(Duration::from_millis(5));
        inj.arm(kommune, validation, (None, 1), Some(delay.clone()));
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            Some(delay.clone())
        );
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            Some(delay),
            "every message"
        );
        inj.disarm();
        assert_eq!(inj.inject(validation, Some(kommune), None), None);
    }
}
