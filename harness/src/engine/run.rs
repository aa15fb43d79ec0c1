//! The event loop, the world of mocks, and the agents' steps.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, Utc};
use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::calendar::{
    Clock, VirtualClock, is_working_day, next_working_day_after, oslo_instant,
};
use iplos_model::message::{Melding, OutputEncoding, write_message};
use iplos_model::municipality::{self, Municipality};
use iplos_reports::{
    KommunePhase, KommuneResult, PhaseStatus, PhaseSummary, RehearsalReport, TimelineEvent,
};
use serde::{Deserialize, Serialize};

use super::plan::{Plan, faults_for, plan};
use crate::client::{self, FilsluseClient, LinkOutcome, Mailbox};
use crate::scenario::{ChannelSpec, Fault, PhaseId, Scenario};

/// What to rehearse.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The scenario.
    pub scenario: Scenario,
    /// Only these kommuner (`None`: all of the data year).
    pub kommuner: Option<Vec<String>>,
    /// Population scale (1.0 = the real sizes).
    pub scale: f64,
    /// The seed.
    pub seed: u64,
    /// Where the state of the mocks goes (created).
    pub state_dir: PathBuf,
    /// Print progress.
    pub progress: bool,
    /// Continue the run in `state_dir` from its run store instead of starting one.
    pub resume: bool,
}

/// The environment variable that aborts the process after the effects of the event with
/// this label and occurrence (`LABEL#N`, e.g. `kommune: ordinary submission#5`) and before
/// its commit: the `--resume` tests.
pub const ABORT_ENV: &str = "IPLOS_REHEARSE_ABORT";

/// The phases a kommune is judged on, in order, with their report ids.
const RECEIPT: &str = "receipt";

/// What kind of file a submission carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Kind {
    Test,
    Ordinary,
    Correction,
}

impl Kind {
    /// The report phase a submission of this kind belongs to.
    fn phase(self) -> &'static str {
        match self {
            Kind::Test => "test_submission",
            Kind::Ordinary => "ordinary_submission",
            Kind::Correction => "corrections",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Test => "test",
            Kind::Ordinary => "ordinary",
            Kind::Correction => "correction",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Ev {
    /// SSB sends the receipts owed (08:00 every working day).
    SendReceipts,
    /// SSB publishes feedback zips (`true`: test feedback).
    PublishFeedback(bool),
    /// A kommune submits.
    Submit(usize, Kind),
    /// The IPLOS contact looks for the receipt of its latest ordinary arrival.
    CheckReceipt(usize),
    /// Postmottak goes through its inbox (`true`: the contact phoned, forward at once).
    Postmottak(usize, bool),
    /// The IPLOS contact reads its mail.
    ContactMail(usize),
    /// The IPLOS contact asks SSB for the feedback it has not got.
    ContactSsb(usize),
    /// The IPLOS contact retries opening the feedback zip with 7-Zip.
    RetryOpen(usize),
}

/// A submission as the kommune saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sent {
    kind: Kind,
    arrived: DateTime<Utc>,
    rejected: bool,
    /// When its AppRec came (service bus; Sendemodul's receipts are the intake's).
    #[serde(default)]
    receipted: Option<DateTime<Utc>>,
}

/// A kommune during the run.
/// A file sent over the service bus, as the national side keeps it for the feedback (the
/// content is generated again from the seed when needed).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SentFile {
    name: String,
    arrived: DateTime<Utc>,
    kind: Kind,
    resend: bool,
    fixed: bool,
    report: Option<String>,
}

/// A kommune during the run; persisted after every event it takes part in (see `store`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Agent {
    plan: Plan,
    vendor: String,
    timeline: Vec<(DateTime<Utc>, String, String)>,
    /// When each feedback (`true`: test) was opened.
    feedback_at: BTreeMap<bool, DateTime<Utc>>,
    /// The receipt: seen (with its due time) or not.
    receipt: Option<Option<DateTime<Utc>>>,
    /// The faults that took effect, by report phase id.
    causes: BTreeMap<String, BTreeSet<Fault>>,
    sent: Vec<Sent>,
    login_fixed: bool,
    it_fixed: bool,
    password_set: bool,
    forwarded: BTreeSet<u64>,
    read: BTreeSet<u64>,
    waiting_feedback: Option<bool>,
    feedback_done: BTreeSet<bool>,
    feedback_zip: Option<(bool, Vec<u8>)>,
    needs_resend: bool,
    has_corrections: bool,
    corrections_scheduled: bool,
    /// What it sent over the service bus (the national side builds feedback from it).
    sent_files: Vec<SentFile>,
    /// The vendor has fixed the export (after a rejection).
    export_fixed: bool,
    temp_password: Option<String>,
    findings: BTreeMap<String, u64>,
}

impl Agent {
    fn cause(&mut self, phase: &'static str, f: Fault) {
        self.causes.entry(phase.to_string()).or_default().insert(f);
    }

    fn note(&mut self, at: DateTime<Utc>, kind: &str, detail: impl Into<String>) {
        // Steps taken at the same virtual instant keep their order (a second apart).
        let at = match self.timeline.last() {
            Some((last, _, _)) if *last >= at => *last + Duration::seconds(1),
            _ => at,
        };
        self.timeline.push((at, kind.to_string(), detail.into()));
    }
}

/// The mocks of one run.
struct World {
    clock: Arc<VirtualClock>,
    mail: iplos_mocks::mail::MailHandle,
    outbox: iplos_mocks::mail::Outbox,
    mailbox: Mailbox,
    filsluse: iplos_mocks::filsluse::Filsluse,
    notifier: Arc<iplos_mocks::filsluse::MailNotifier>,
    fs_client: FilsluseClient,
    /// The event in hand was under way when the run was killed (`--resume`): look at the
    /// endpoints before acting, so nothing is done twice.
    recovering: std::sync::atomic::AtomicBool,
    http: reqwest::Client,
    channel: Channel,
}

impl World {
    fn recovering(&self) -> bool {
        self.recovering.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The submission channel's mocks.
enum Channel {
    Sendemodul(SendemodulSide),
    Servicebus(Box<ServicebusSide>),
}

/// Sendemodul and SSB's intake.
struct SendemodulSide {
    intake: iplos_mocks::intake::Intake,
    server: iplos_mocks::sendemodul::Sendemodul,
}

/// The broker, the receiver and the PKI.
struct ServicebusSide {
    broker: iplos_mocks::servicebus::BrokerHandle,
    receiver: iplos_mocks::receiver::ReceiverHandle,
    store: Arc<iplos_mocks::receiver::RunStore>,
    register: iplos_mocks::pki::Party,
    trust: Arc<iplos_mocks::cms::TrustStore>,
    /// Kommunenummer → (its certificate pair, AMQP user, password).
    kommuner: BTreeMap<String, (iplos_mocks::pki::Party, String, String)>,
    register_her: iplos_model::ids::HerId,
    validation_her: iplos_model::ids::HerId,
}

async fn start_servicebus(
    cfg: &EngineConfig,
    clock: Arc<dyn Clock>,
    kommuner: &[&'static Municipality],
) -> Result<ServicebusSide> {
    use iplos_mocks::pki::{IssueOptions, Pki, PkiConfig, Variant};
    use iplos_mocks::receiver::{Receiver, ReceiverConfig, RunStore, StaticDirectory};
    use iplos_mocks::servicebus::BrokerConfig;
    let sc = &cfg.scenario;
    let register_her = iplos_model::ids::HerId::new(
        sc.season
            .register_her_id
            .ok_or_else(|| anyhow!("no register HER-id"))?,
    )?;
    let validation_her = iplos_model::ids::HerId::new(
        sc.season
            .validation_her_id
            .ok_or_else(|| anyhow!("no validation HER-id"))?,
    )?;
    let pki_dir = cfg.state_dir.join("pki");
    let mut pki = if cfg.resume && pki_dir.join("index.json").exists() {
        Pki::load(&pki_dir).context("reading the test PKI")?
    } else {
        Pki::init_with(
            &pki_dir,
            PkiConfig {
                register_her_id: register_her.get(),
                ..PkiConfig::default()
            },
        )
        .context("creating the test PKI")?
    };
    let register = pki.register()?;
    let trust = Arc::new(pki.trust_store()?);
    let directory = Arc::new(StaticDirectory::new(pki.trust_store()?));
    // [model] One key pair (signing, encryption) certified for every kommune: RSA key
    // generation would otherwise dominate the rehearsal. Each certificate is the kommune's.
    let sign_key = iplos_mocks::pki::new_key(2048)?;
    let enc_key = iplos_mocks::pki::new_key(2048)?;
    let store = Arc::new(RunStore::open(
        &cfg.state_dir.join("run.sqlite"),
        clock.clone(),
    )?);
    let mut broker = BrokerConfig::new()
        .with_store(store.clone())
        .with_clock(clock.clone());
    let mut parties = BTreeMap::new();
    for m in kommuner {
        let her = crate::identity::kommune_her_id(m.number())?;
        let org = iplos_model::ids::OrgNr::parse(m.orgnr())
            .with_context(|| format!("orgnr of {}", m.number()))?;
        let party = pki.issue_with_keys(
            her,
            &org,
            &format!("{} kommune", m.name()),
            &IssueOptions::variant(Variant::Valid),
            Some((&sign_key, &enc_key)),
        )?;
        directory.register_party(&party);
        let user = format!("kommune{}", m.number());
        let password = format!(
            "pw{:016x}",
            iplos_generators::seed::sub_seed(cfg.seed, 0, m.number(), "amqp")
        );
        broker = broker.with_participant(her, &user, &password);
        parties.insert(m.number().to_string(), (party, user, password));
    }
    for h in [register_her, validation_her] {
        broker = broker.with_participant(
            h,
            &format!("kpr{}", h.get()),
            &format!("kpr-{:x}", cfg.seed),
        );
    }
    let broker = broker.start().await.context("starting the AMQP broker")?;
    let receiver = Receiver::start(
        broker.bus(),
        store.clone(),
        register.clone(),
        directory,
        ReceiverConfig {
            her_ids: vec![register_her, validation_her],
            name: register.name.clone(),
            data_year: Some(sc.season.data_year),
            clock,
            ..ReceiverConfig::default()
        },
    )
    .await
    .context("starting the receiver")?;
    Ok(ServicebusSide {
        broker,
        receiver,
        store,
        register,
        trust,
        kommuner: parties,
        register_her,
        validation_her,
    })
}

/// Runs the season; returns the report (the caller writes it).
pub async fn run(cfg: EngineConfig) -> Result<RehearsalReport> {
    let sc = &cfg.scenario;
    let year = u16::try_from(sc.season.data_year).context("data year")?;
    let all = municipality::municipalities(year)?;
    let chosen: Vec<&'static Municipality> = match &cfg.kommuner {
        None => all.iter().collect(),
        Some(list) => {
            let mut v = Vec::new();
            for k in list {
                v.push(
                    municipality::lookup(year, k).with_context(|| format!("--municipality {k}"))?,
                );
            }
            v
        }
    };
    let first_day = sc
        .season
        .phases
        .iter()
        .map(|p| p.first_day)
        .min()
        .ok_or_else(|| anyhow!("the scenario has no phases"))?;
    let last_day = sc
        .season
        .phases
        .iter()
        .map(|p| p.last_day)
        .max()
        .unwrap_or(first_day);
    let start = at_oslo(first_day - Duration::days(7), 0, 0)?;
    let end = at_oslo(last_day + Duration::days(14), 0, 0)?;
    let clock = Arc::new(VirtualClock::new(start));
    std::fs::create_dir_all(&cfg.state_dir)?;
    let world = start_world(&cfg, clock.clone(), &chosen).await?;
    let fingerprint = format!(
        "{} ({}) seed {} scale {} kommuner {}",
        sc.name,
        sc.season.data_year,
        cfg.seed,
        cfg.scale,
        chosen
            .iter()
            .map(|m| m.number())
            .collect::<Vec<_>>()
            .join(",")
    );
    if cfg.resume {
        let mut store = super::store::EngineStore::open(&cfg.state_dir, &fingerprint)?;
        let saved = store.load::<Agent, Ev>()?;
        if saved.agents.len() != chosen.len() {
            return Err(anyhow!(
                "the run store has {} kommuner, the run {}",
                saved.agents.len(),
                chosen.len()
            ));
        }
        let mut agents = saved.agents;
        let mut q = Queue {
            seq: saved.seq,
            ..Queue::default()
        };
        for (t, seq, ev) in saved.queue {
            q.heap.push(Reverse((t, seq, ev)));
        }
        if cfg.progress {
            eprintln!(
                "rehearse: resuming after {} events ({} waiting)",
                saved.done,
                q.len()
            );
        }
        let stats = drain_loop(
            &cfg,
            &world,
            &mut agents,
            &mut q,
            &mut store,
            saved.done,
            true,
            end,
            &clock,
        )
        .await?;
        return finish(&cfg, world, agents, start, end, clock, stats).await;
    }
    let mut store = super::store::EngineStore::create(&cfg.state_dir, &fingerprint)?;

    let mut agents: Vec<Agent> = chosen
        .iter()
        .map(|m| {
            let p = plan(sc, m, cfg.seed);
            Agent {
                vendor: p.vendor.clone().unwrap_or_default(),
                plan: p,
                timeline: Vec::new(),
                feedback_at: BTreeMap::new(),
                receipt: None,
                causes: BTreeMap::new(),
                sent: Vec::new(),
                login_fixed: false,
                it_fixed: false,
                password_set: false,
                forwarded: BTreeSet::new(),
                read: BTreeSet::new(),
                waiting_feedback: None,
                feedback_done: BTreeSet::new(),
                feedback_zip: None,
                needs_resend: false,
                has_corrections: false,
                corrections_scheduled: false,
                sent_files: Vec::new(),
                export_fixed: false,
                temp_password: None,
                findings: BTreeMap::new(),
            }
        })
        .collect();

    // Filsluse users: one per kommune (its postmottak), created at the start of the season
    // with the "Ny bruker" mail.
    for (a, m) in agents.iter().zip(&chosen) {
        let spec = iplos_mocks::filsluse::UserSpec::for_municipality(m)
            .with_username(a.plan.postmottak.clone());
        world
            .filsluse
            .create_user(&spec)
            .with_context(|| format!("creating the filsluse user of {}", a.plan.knr))?;
    }

    let mut q = Queue::default();
    for (i, a) in agents.iter_mut().enumerate() {
        if a.plan.tests && a.plan.has(Fault::EpjNotUpgraded) {
            // An EPJ that cannot send over the service bus cannot take part in the test.
            a.plan.tests = false;
            a.cause("test_submission", Fault::EpjNotUpgraded);
        }
        if a.plan.tests {
            q.push(
                at_oslo(a.plan.test_day, 8, a.plan.minute)?,
                Ev::Submit(i, Kind::Test),
            );
        }
        let ordinary_day = if a.plan.has(Fault::EpjNotUpgraded) {
            // The EPJ is upgraded during the extension.
            sc.phase(PhaseId::Extension)
                .map(|p| working_day_on_or_after(p.first_day + Duration::days(7)))
                .unwrap_or(a.plan.ordinary_day)
        } else {
            a.plan.ordinary_day
        };
        q.push(
            at_oslo(ordinary_day, 8, a.plan.minute)?,
            Ev::Submit(i, Kind::Ordinary),
        );
        if !a.plan.tests && a.plan.has(Fault::NeverTested) {
            a.cause("test_submission", Fault::NeverTested);
        }
        if ordinary_day != a.plan.ordinary_day {
            a.cause("ordinary_submission", Fault::EpjNotUpgraded);
        }
    }
    if matches!(world.channel, Channel::Sendemodul(_)) {
        let mut d = first_day;
        while d <= last_day + Duration::days(14) {
            if is_working_day(d) {
                q.push(at_oslo(d, 8, 0)?, Ev::SendReceipts);
            }
            d += Duration::days(1);
        }
    }
    if let Some(p) = sc.phase(PhaseId::TestFeedback) {
        q.push(
            at_oslo(working_day_on_or_after(p.first_day), 9, 0)?,
            Ev::PublishFeedback(true),
        );
    }
    if let Some(p) = sc.phase(PhaseId::Feedback) {
        q.push(
            at_oslo(working_day_on_or_after(p.first_day), 9, 0)?,
            Ev::PublishFeedback(false),
        );
    }

    // The "Ny bruker" mails are out before the run's first commit.
    flush(&world).await?;
    let everyone: Vec<(usize, &Agent)> = agents.iter().enumerate().collect();
    let pushed = std::mem::take(&mut q.pushed);
    store.commit(0, q.seq, None, &pushed, &everyone)?;
    let stats = drain_loop(
        &cfg,
        &world,
        &mut agents,
        &mut q,
        &mut store,
        0,
        false,
        end,
        &clock,
    )
    .await?;
    finish(&cfg, world, agents, start, end, clock, stats).await
}

/// The event loop: take, do, commit — until the queue is empty or past `end`.
#[allow(clippy::too_many_arguments)]
async fn drain_loop(
    cfg: &EngineConfig,
    world: &World,
    agents: &mut [Agent],
    q: &mut Queue,
    store: &mut super::store::EngineStore,
    mut done: u64,
    mut recovering: bool,
    end: DateTime<Utc>,
    clock: &VirtualClock,
) -> Result<Stats> {
    let total_events = q.len();
    let abort_at = std::env::var(ABORT_ENV).ok();
    let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut stats = Stats::new();
    while let Some((t, seq, ev)) = q.pop() {
        if t > end {
            break;
        }
        clock.set(t).map_err(|e| anyhow!("virtual clock: {e}"))?;
        let label = ev.label();
        let touched: Vec<usize> = match &ev {
            Ev::SendReceipts => Vec::new(),
            Ev::PublishFeedback(_) => (0..agents.len()).collect(),
            Ev::Submit(i, _)
            | Ev::CheckReceipt(i)
            | Ev::Postmottak(i, _)
            | Ev::ContactMail(i)
            | Ev::ContactSsb(i)
            | Ev::RetryOpen(i) => vec![*i],
        };
        let t0 = std::time::Instant::now();
        world
            .recovering
            .store(recovering, std::sync::atomic::Ordering::SeqCst);
        handle(cfg, world, agents, q, t, ev).await?;
        recovering = false;
        stats.entry(label).or_default().push(t0.elapsed());
        done += 1;
        let n = seen.entry(label).or_insert(0);
        *n += 1;
        if abort_at.as_deref() == Some(format!("{label}#{n}").as_str()) {
            eprintln!("rehearse: {ABORT_ENV}: aborting after {label}#{n}, before its commit");
            std::process::abort();
        }
        let changed: Vec<(usize, &Agent)> = touched.iter().map(|i| (*i, &agents[*i])).collect();
        let pushed = std::mem::take(&mut q.pushed);
        store.commit(done, q.seq, Some((seq, t, label)), &pushed, &changed)?;
        if cfg.progress && done.is_multiple_of(500) {
            eprintln!("rehearse: {done} events (of at least {total_events}), virtual time {t}");
        }
    }
    Ok(stats)
}

/// The report, and the mocks stopped.
async fn finish(
    cfg: &EngineConfig,
    world: World,
    agents: Vec<Agent>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    clock: Arc<VirtualClock>,
    stats: Stats,
) -> Result<RehearsalReport> {
    clock
        .set(end.max(clock.now()))
        .map_err(|e| anyhow!("virtual clock: {e}"))?;
    let mut report = build_report(cfg, &world, &agents, start, end)?;
    report.timing.endpoints = step_stats(&stats);
    let World {
        filsluse,
        channel,
        mail,
        ..
    } = world;
    filsluse.shutdown().await;
    let _ = mail.shutdown().await;
    if let Channel::Servicebus(b) = channel {
        b.receiver.shutdown().await;
        b.broker.shutdown().await;
    }
    Ok(report)
}

async fn start_world(
    cfg: &EngineConfig,
    clock: Arc<VirtualClock>,
    chosen: &[&'static Municipality],
) -> Result<World> {
    use iplos_mocks::mail::{MailConfig, MailServer, Outbox};
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let mail = MailServer::start(
        MailConfig::in_dir(cfg.state_dir.join("mail")),
        dyn_clock.clone(),
    )
    .await
    .context("starting the mail capture")?;
    let outbox = Outbox::to_capture(&mail, dyn_clock.clone());
    let notifier_outbox = Arc::new(Outbox::to_capture(&mail, dyn_clock.clone()));
    let http = client::http()?;
    let mailbox = Mailbox::new(
        http.clone(),
        mail.http_url()
            .ok_or_else(|| anyhow!("the mail capture has no HTTP API"))?,
    );
    let notifier = Arc::new(iplos_mocks::filsluse::MailNotifier::start(notifier_outbox));
    let fs_config = iplos_mocks::filsluse::FilsluseConfig {
        state_dir: Some(cfg.state_dir.join("filsluse")),
        // [model] a rehearsal sets hundreds of passwords: a cheaper KDF keeps it fast.
        kdf_iterations: 1_000,
        ..Default::default()
    };
    let filsluse =
        iplos_mocks::filsluse::Filsluse::start(fs_config, dyn_clock.clone(), notifier.clone())
            .await
            .context("starting filsluse")?;
    let fs_client = FilsluseClient::new(http.clone(), format!("http://{}", filsluse.addr()));
    let channel = match cfg.scenario.season.channel {
        ChannelSpec::Sendemodul => {
            let intake = iplos_mocks::intake::Intake::open(
                cfg.state_dir.join("intake.sqlite"),
                dyn_clock.clone(),
            )
            .context("opening the intake")?;
            let server = iplos_mocks::sendemodul::Sendemodul::start(
                iplos_mocks::sendemodul::SendemodulConfig {
                    data_year: cfg.scenario.season.data_year,
                    pins: iplos_mocks::sendemodul::Pins::seeded(cfg.seed),
                    state_dir: Some(cfg.state_dir.join("sendemodul")),
                    ..Default::default()
                },
                intake.clone(),
                dyn_clock.clone(),
            )
            .await
            .context("starting Sendemodul")?;
            Channel::Sendemodul(SendemodulSide { intake, server })
        }
        ChannelSpec::Servicebus => Channel::Servicebus(Box::new(
            start_servicebus(cfg, dyn_clock.clone(), chosen).await?,
        )),
    };
    Ok(World {
        clock,
        mail,
        outbox,
        mailbox,
        filsluse,
        notifier,
        fs_client,
        recovering: Default::default(),
        http,
        channel,
    })
}

impl Ev {
    /// The step's name in the timing section.
    fn label(&self) -> &'static str {
        match self {
            Ev::SendReceipts => "national: 08:00 receipts",
            Ev::PublishFeedback(_) => "national: publish feedback",
            Ev::Submit(_, Kind::Test) => "kommune: test submission",
            Ev::Submit(_, Kind::Ordinary) => "kommune: ordinary submission",
            Ev::Submit(_, Kind::Correction) => "kommune: corrections",
            Ev::CheckReceipt(_) => "kommune: look for the receipt",
            Ev::Postmottak(..) => "kommune: postmottak forwards",
            Ev::ContactMail(_) => "kommune: contact reads mail",
            Ev::ContactSsb(_) => "kommune: contact asks SSB",
            Ev::RetryOpen(_) => "kommune: open the zip again",
        }
    }
}

/// Wall-clock latency of each kind of step (each step is one or more requests to the
/// endpoints, done one at a time).
/// Wall-clock time of each kind of step (the report's timing section; a resumed run times
/// the steps it took itself).
type Stats = BTreeMap<&'static str, Vec<std::time::Duration>>;

fn step_stats(stats: &Stats) -> Vec<iplos_reports::EndpointStats> {
    stats
        .iter()
        .map(|(name, v)| {
            let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
            ms.sort_by(f64::total_cmp);
            let total: f64 = ms.iter().sum();
            let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
            iplos_reports::EndpointStats {
                endpoint: (*name).to_string(),
                requests: ms.len() as u64,
                errors: 0,
                per_second: if total > 0.0 {
                    ms.len() as f64 / (total / 1000.0)
                } else {
                    0.0
                },
                p50_ms: pct(0.5),
                p90_ms: pct(0.9),
                p99_ms: pct(0.99),
                max_ms: *ms.last().unwrap_or(&0.0),
            }
        })
        .collect()
}

/// The event queue; what was pushed since the last commit is kept for the run store.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(DateTime<Utc>, u64, Ev)>>,
    seq: u64,
    pushed: Vec<(DateTime<Utc>, u64, Ev)>,
}

impl Queue {
    fn push(&mut self, t: DateTime<Utc>, ev: Ev) {
        self.seq += 1;
        self.pushed.push((t, self.seq, ev.clone()));
        self.heap.push(Reverse((t, self.seq, ev)));
    }
    fn pop(&mut self) -> Option<(DateTime<Utc>, u64, Ev)> {
        self.heap.pop().map(|Reverse(x)| x)
    }
    fn len(&self) -> usize {
        self.heap.len()
    }
}

/// 08:00 + minutes on an Oslo date, as UTC.
fn at_oslo(d: NaiveDate, hour: u32, minute: u32) -> Result<DateTime<Utc>> {
    let base = NaiveTime::from_hms_opt(hour, 0, 0).ok_or_else(|| anyhow!("bad hour"))?;
    let t = oslo_instant(d, base).ok_or_else(|| anyhow!("no Oslo instant for {d}"))?;
    Ok(t + Duration::minutes(i64::from(minute)))
}

fn working_day_on_or_after(d: NaiveDate) -> NaiveDate {
    if is_working_day(d) {
        d
    } else {
        next_working_day_after(d).unwrap_or(d)
    }
}

/// The next working day at `hour`:`minute` after instant `t`'s Oslo date.
fn next_working(t: DateTime<Utc>, days: u32, hour: u32, minute: u32) -> Result<DateTime<Utc>> {
    let mut d = iplos_model::calendar::oslo_date(t).ok_or_else(|| anyhow!("date of {t}"))?;
    for _ in 0..days.max(1) {
        d = next_working_day_after(d).ok_or_else(|| anyhow!("no working day after {d}"))?;
    }
    at_oslo(d, hour, minute)
}

/// Does one event. When `World::recovering` is set the event was under way when the run
/// was killed, so its effects on the endpoints may be partly there; the steps that write to
/// an endpoint then look before they act.
async fn handle(
    cfg: &EngineConfig,
    w: &World,
    agents: &mut [Agent],
    q: &mut Queue,
    t: DateTime<Utc>,
    ev: Ev,
) -> Result<()> {
    match ev {
        Ev::SendReceipts => {
            if let Channel::Sendemodul(s) = &w.channel {
                let run = s.intake.send_due_receipts(&w.outbox, t).await?;
                for (ids, why) in &run.failed {
                    tracing::warn!(?ids, why, "receipt not sent");
                }
            }
        }
        Ev::PublishFeedback(test) => publish_feedback(cfg, w, agents, q, t, test).await?,
        Ev::Submit(i, kind) => submit(cfg, w, &mut agents[i], i, q, t, kind).await?,
        Ev::CheckReceipt(i) => check_receipt(w, &mut agents[i], i, q, t).await?,
        Ev::Postmottak(i, urgent) => postmottak(cfg, w, &mut agents[i], i, q, t, urgent).await?,
        Ev::ContactMail(i) => contact_mail(cfg, w, &mut agents[i], i, q, t).await?,
        Ev::ContactSsb(i) => contact_ssb(w, &mut agents[i], i, q, t).await?,
        Ev::RetryOpen(i) => {
            let a = &mut agents[i];
            if let Some((test, zip)) = a.feedback_zip.take() {
                open_feedback(cfg, a, t, test, &zip, true)?;
                after_feedback(cfg, a, i, q, t, test)?;
            }
        }
    }
    Ok(())
}

/// The file a kommune sends now (and the EPJ product that wrote it).
fn file_for(cfg: &EngineConfig, a: &mut Agent, kind: Kind) -> Result<Vec<u8>> {
    let (bytes, vendor) = make_file(cfg, &a.plan, kind, a.needs_resend, a.export_fixed)?;
    a.vendor = vendor;
    Ok(bytes)
}

/// The file of `kind` a kommune with `plan` sends: `resend` — the fixed file after a
/// rejection (Sendemodul), `fixed` — the vendor has fixed the export. A function of its
/// arguments and the seed.
fn make_file(
    cfg: &EngineConfig,
    plan: &Plan,
    kind: Kind,
    resend: bool,
    fixed: bool,
) -> Result<(Vec<u8>, String)> {
    let sc = &cfg.scenario;
    let kommune = municipality::lookup(u16::try_from(sc.season.data_year)?, &plan.knr)?;
    let year = match kind {
        Kind::Test => sc.season.test_data_year.unwrap_or(sc.season.data_year),
        _ => sc.season.data_year,
    };
    // [model] The generators start at data year 2016: the 2016 season's test (2015 data in
    // reality) sends generated 2016 data.
    let y = u16::try_from(year)?.max(*iplos_model::municipality::supported_years().start());
    // The test uses the previous year's data; a kommune new this year reports its test
    // data under its current number ([model]).
    let gen_cfg = GenConfig::with_scale(cfg.scale);
    let data = generate_kommune(y, kommune, &gen_cfg, cfg.seed)
        .with_context(|| format!("generating {} for {year}", plan.knr))?;
    let mut m: Melding = match kind {
        Kind::Correction if !resend => data.korreksjoner,
        _ => data.melding,
    };
    if let Some(v) = &plan.vendor
        && let Some(vendor) = iplos_generators::profile::VENDORS
            .iter()
            .find(|x| x.navn_epj == v)
    {
        m.header.leverandor = vendor.leverandor.to_string();
        m.header.navn_epj = vendor.navn_epj.to_string();
    }
    let vendor = m.header.navn_epj.clone();
    // The export faults are the generators' named defects (the same the `generate
    // --defect` option injects): `unknown-element` (XSD02) and `old-kommunenummer` (IPL22).
    let mut defects = Vec::new();
    if kind == Kind::Ordinary && !fixed {
        for (fault, name) in [
            (Fault::DefectiveExport, "unknown-element"),
            (Fault::OldKommunenummer, "old-kommunenummer"),
        ] {
            if plan.has(fault) {
                defects.push(iplos_generators::defects::find(name)?);
            }
        }
    }
    if defects.is_empty() {
        let mut out = Vec::new();
        write_message(&m, &mut out, OutputEncoding::Utf8)?;
        return Ok((out, vendor));
    }
    let mut rng = iplos_generators::seed::stream_rng(cfg.seed, y, &plan.knr, "export-defects");
    let ctx = iplos_generators::defects::DefectContext::new(sc.season.data_year, &plan.knr);
    let (out, _) = iplos_generators::defects::render(&m, &defects, &mut rng, &ctx)
        .with_context(|| format!("the defective export of {}", plan.knr))?;
    Ok((out, vendor))
}

async fn submit(
    cfg: &EngineConfig,
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
) -> Result<()> {
    // IT faults: nothing reaches the endpoint until IT has fixed it.
    for f in [Fault::FirewallClosed, Fault::DnsNotResolving] {
        if a.plan.has(f) && !a.it_fixed {
            let what = if f == Fault::FirewallClosed {
                probe_closed_port().await
            } else {
                "iplos.nhn.no did not resolve (simulated; no lookup is made)".to_string()
            };
            a.note(t, "unreachable", format!("{}: {what}", f.title()));
            a.cause(kind.phase(), f);
            a.it_fixed = true;
            return retry_after_fix(cfg, a, i, q, t, kind);
        }
    }
    match &w.channel {
        Channel::Sendemodul(s) => submit_sendemodul(cfg, w, s, a, i, q, t, kind).await,
        Channel::Servicebus(b) => submit_servicebus(cfg, w, b, a, i, q, t, kind).await,
    }
}

#[allow(clippy::too_many_arguments)]
async fn submit_servicebus(
    cfg: &EngineConfig,
    w: &World,
    b: &ServicebusSide,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
) -> Result<()> {
    use iplos_mocks::sender::{Answer, Counterpart, ReferenceSender, SenderConfig, SenderIdentity};
    let (party, user, password) = b
        .kommuner
        .get(&a.plan.knr)
        .ok_or_else(|| anyhow!("{} has no service bus identity", a.plan.knr))?
        .clone();
    // Access not activated: the broker refuses the kommune's credentials (a real SASL
    // refusal: the broker does not know this password).
    let not_active = a.plan.has(Fault::ServicebusNotActivated) && !a.login_fixed;
    let pass = if not_active {
        format!("{password}-inactive")
    } else {
        password
    };
    let target = if kind == Kind::Test {
        b.validation_her
    } else {
        b.register_her
    };
    let identity = SenderIdentity {
        party,
        register: Counterpart::from_party(&b.register, target),
        trust: b.trust.clone(),
    };
    let mut scfg = SenderConfig::new(b.broker.connection_string(&user, &pass), identity);
    scfg.clock = w.clock.clone();
    scfg.timeout = std::time::Duration::from_secs(120);
    let mut sender = match ReferenceSender::connect(scfg).await {
        Ok(s) => s,
        Err(e) if not_active => {
            a.note(
                t,
                "connect-refused",
                format!("the service bus refused the connection: {e}"),
            );
            a.cause(kind.phase(), Fault::ServicebusNotActivated);
            a.login_fixed = true;
            return retry_after_fix(cfg, a, i, q, t, kind);
        }
        Err(e) => {
            return Err(anyhow!(
                "{}: connecting to the service bus: {e}",
                a.plan.knr
            ));
        }
    };
    a.login_fixed = true;
    let (resend, fixed) = (a.needs_resend, a.export_fixed);
    let bytes = file_for(cfg, a, kind)?;
    let size = bytes.len();
    let me = crate::identity::kommune_her_id(&a.plan.knr)?.to_string();
    let queue = format!("{target}_");
    let sent_before = if w.recovering() {
        b.store.messages()?.into_iter().find(|m| {
            m.from_her.as_deref() == Some(me.as_str())
                && m.queue.starts_with(&queue)
                && m.received == t
        })
    } else {
        None
    };
    let arrived = w.clock.now();
    let (status, rejected, detail) = match sent_before {
        // The message was sent and answered before the run was killed (the AppRec was
        // read then): the answer is the register's, as its run store keeps it.
        Some(m) => {
            sender.close().await;
            answer_on_record(&m)?
        }
        None => {
            let answer = sender.submit(&bytes, &[]).await;
            sender.close().await;
            let answer =
                answer.map_err(|e| anyhow!("{}: sending over the service bus: {e}", a.plan.knr))?;
            match &answer {
                Answer::AppRec(r) => {
                    let code = r.apprec.status.code().to_string();
                    let n = r.apprec.errors.len();
                    (
                        Some(code.clone()),
                        code == "2",
                        format!("AppRec status {code}, {n} errors"),
                    )
                }
                Answer::Error(e) => (
                    None,
                    true,
                    format!("error message {}: {}", e.condition_text, e.description),
                ),
            }
        }
    };
    a.note(
        t,
        &format!("{}-submitted", kind.as_str()),
        format!("{size} bytes to HER-id {target} over AMQP; {detail}"),
    );
    if kind != Kind::Test {
        // The register's verdict (findings by rule), from the run store.
        let verdict = b
            .store
            .messages()?
            .into_iter()
            .filter(|m| m.from_her.as_deref() == Some(me.as_str()) && m.queue.starts_with(&queue))
            .filter_map(|m| m.verdict)
            .next_back();
        // The verdict's check report, read once: counted here, kept for the feedback.
        let report = verdict
            .and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
            .and_then(|mut v| v.get_mut("report").map(serde_json::Value::take))
            .filter(|r| !r.is_null());
        let checked = report.as_ref().and_then(|r| {
            serde_json::from_value::<iplos_model::rules::CheckReport>(r.clone()).ok()
        });
        count_findings(a, checked.as_ref());
        let report = report.map(|r| r.to_string());
        let name = format!("{}_{}_{}.xml", a.plan.knr, kind.as_str(), a.sent.len() + 1);
        a.sent_files.push(SentFile {
            name,
            arrived,
            kind,
            resend,
            fixed,
            report,
        });
        if status.is_some() && a.receipt.is_none() {
            a.receipt = Some(Some(arrived));
        }
    }
    a.sent.push(Sent {
        kind,
        arrived,
        rejected,
        receipted: (kind != Kind::Test && status.is_some()).then_some(arrived),
    });
    if kind == Kind::Ordinary && rejected {
        // The AppRec says rejected (status 2): the vendor fixes the export and the kommune
        // sends again, as the spec expects of a sender.
        for f in [Fault::DefectiveExport, Fault::OldKommunenummer] {
            if a.plan.has(f) {
                a.cause(kind.phase(), f);
            }
        }
        a.export_fixed = true;
        a.note(
            t,
            "resend-planned",
            "status 2: the export is fixed and sent again in 3 working days",
        );
        q.push(
            next_working(t, 3, 8, a.plan.minute)?,
            Ev::Submit(i, Kind::Ordinary),
        );
        return Ok(());
    }
    after_sent(cfg, a, i, q, t, kind, rejected)
}

/// A real connection attempt to a port where nothing listens: what a closed firewall
/// looks like from the kommune.
async fn probe_closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0");
    let port = l
        .as_ref()
        .ok()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port());
    drop(l);
    match port {
        Some(p) => match tokio::net::TcpStream::connect(("127.0.0.1", p)).await {
            Err(e) => format!("connection failed: {e}"),
            Ok(_) => "connected (unexpectedly)".into(),
        },
        None => "no port".into(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn submit_sendemodul(
    cfg: &EngineConfig,
    w: &World,
    s: &SendemodulSide,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
) -> Result<()> {
    let path = if kind == Kind::Test {
        "/SendemodulTEST"
    } else {
        "/Sendemodul"
    };
    let channel = if kind == Kind::Test {
        iplos_mocks::intake::Channel::Test
    } else {
        iplos_mocks::intake::Channel::Ordinary
    };
    if w.recovering()
        && let Some(done) = s
            .intake
            .submissions_of(&a.plan.knr, channel)?
            .into_iter()
            .find(|x| x.arrived == t)
    {
        // The upload got through before the run was killed.
        a.login_fixed = true;
        let bytes_len = done.size as usize;
        let name = done.file_name.clone();
        let _ = file_for(cfg, a, kind)?;
        return record_upload(cfg, a, i, q, t, kind, path, &name, bytes_len, done);
    }
    let pin = s.server.pin(&a.plan.knr);
    let (mut knr, mut bydel, mut orgnr, mut pin_used) = (
        a.plan.knr.clone(),
        a.plan.bydel.clone(),
        a.plan.orgnr.clone(),
        pin.clone(),
    );
    let mut wrong = None;
    if !a.login_fixed {
        if a.plan.has(Fault::WrongPin) {
            pin_used = format!("{:06}", (pin.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
            wrong = Some(Fault::WrongPin);
        } else if a.plan.has(Fault::WrongOrgnr) {
            orgnr = "974760673".into();
            wrong = Some(Fault::WrongOrgnr);
        } else if a.plan.has(Fault::WrongBydel) {
            bydel = String::new();
            wrong = Some(Fault::WrongBydel);
        }
    }
    let _ = &mut knr;
    let base = s.server.base_url().to_string();
    let login = w
        .http
        .post(format!("{base}{path}/login"))
        .form(&[
            ("kommunenr", knr.as_str()),
            ("bydel", bydel.as_str()),
            ("orgnr", orgnr.as_str()),
            ("pin", pin_used.as_str()),
        ])
        .send()
        .await
        .context("Sendemodul login")?;
    let status = login.status();
    let mut jar = client::cookies(&login);
    if !(status.is_success() || status.is_redirection()) || jar.is_empty() {
        a.note(
            t,
            "login-refused",
            format!(
                "Sendemodul{} answered {status}",
                if kind == Kind::Test { "TEST" } else { "" }
            ),
        );
        if let Some(f) = wrong {
            a.login_fixed = true;
            a.note(t, "fault", f.title());
            a.cause(kind.phase(), f);
            q.push(next_working(t, 1, 8, a.plan.minute)?, Ev::Submit(i, kind));
        } else {
            return Err(anyhow!(
                "{}: Sendemodul refused the right credentials ({status})",
                a.plan.knr
            ));
        }
        return Ok(());
    }
    a.login_fixed = true;
    let bytes = file_for(cfg, a, kind)?;
    let name = match kind {
        Kind::Test => format!("{}{}_iplos_test.xml", a.plan.knr, a.plan.bydel),
        Kind::Ordinary => format!("{}{}_iplos.xml", a.plan.knr, a.plan.bydel),
        Kind::Correction => format!("{}{}_iplos_rettet.xml", a.plan.knr, a.plan.bydel),
    };
    let size = bytes.len();
    let page = w
        .http
        .get(format!("{base}{path}/upload"))
        .header(reqwest::header::COOKIE, client::cookie_header(&jar))
        .send()
        .await
        .context("Sendemodul upload page")?;
    client::merge_cookies(&mut jar, client::cookies(&page));
    let html = page.text().await?;
    let csrf = client::input_value(&html, "csrf").unwrap_or_default();
    let group = client::input_value(&html, "gruppe").unwrap_or_else(|| format!("g{}", a.plan.knr));
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("gruppe", group)
        .text("del", "1")
        .text("antall_deler", "1")
        .text("epost", a.plan.contact.clone())
        .text("telefon", a.plan.phone.clone())
        .text("tilbakemeldingspassord", a.plan.feedback_key.clone())
        .part(
            "fil",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.clone())
                .mime_str("application/xml")?,
        );
    let resp = w
        .http
        .post(format!("{base}{path}/upload"))
        .header(reqwest::header::COOKIE, client::cookie_header(&jar))
        .multipart(form)
        .send()
        .await
        .context("Sendemodul upload")?;
    let st = resp.status();
    let _ = resp.text().await;
    if !st.is_success() {
        return Err(anyhow!("{}: Sendemodul upload answered {st}", a.plan.knr));
    }
    // What SSB stored (the kommune sees it on the receipt page).
    let latest = s
        .intake
        .submissions_of(&a.plan.knr, channel)?
        .into_iter()
        .max_by_key(|x| x.id.0)
        .ok_or_else(|| anyhow!("{}: the upload is not in the intake", a.plan.knr))?;
    record_upload(cfg, a, i, q, t, kind, path, &name, size, latest)
}

/// The kommune's side of a file SSB took in: the receipt page read, the receipt to look for.
#[allow(clippy::too_many_arguments)]
fn record_upload(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
    path: &str,
    name: &str,
    size: usize,
    latest: iplos_mocks::intake::SubmissionInfo,
) -> Result<()> {
    let summary = latest.summary;
    let rejected = summary.as_ref().is_some_and(|s| s.rejected);
    a.note(
        t,
        &format!("{}-submitted", kind.as_str()),
        format!(
            "{name} ({size} bytes) via {path}; {} errors, {} warnings{}",
            summary.as_ref().map_or(0, |s| s.errors),
            summary.as_ref().map_or(0, |s| s.warnings),
            if rejected { "; rejected" } else { "" }
        ),
    );
    if kind != Kind::Test {
        let checked = latest
            .report_json
            .as_deref()
            .and_then(|r| serde_json::from_str::<iplos_model::rules::CheckReport>(r).ok());
        count_findings(a, checked.as_ref());
    }
    a.sent.push(Sent {
        kind,
        arrived: latest.arrived,
        rejected,
        receipted: None,
    });
    if kind != Kind::Test {
        // The contact looks for the receipt at 08:30 on the day it is due.
        q.push(
            latest.receipt_due + Duration::minutes(30),
            Ev::CheckReceipt(i),
        );
    }
    after_sent(cfg, a, i, q, t, kind, rejected)
}

/// The answer the register gave to a stored message, as the run store keeps it: (AppRec
/// status, rejected, the words of the timeline).
fn answer_on_record(
    m: &iplos_mocks::receiver::MessageRecord,
) -> Result<(Option<String>, bool, String)> {
    let verdict: serde_json::Value = serde_json::from_str(
        m.verdict
            .as_deref()
            .ok_or_else(|| anyhow!("message {:?} has no verdict yet", m.message_id))?,
    )?;
    let answer = &verdict["answer"];
    match answer["kind"].as_str() {
        Some("app-rec") => {
            let code = answer["status"].as_str().unwrap_or("").to_string();
            let n = answer["errors"].as_array().map_or(0, Vec::len);
            Ok((
                Some(code.clone()),
                code == "2",
                format!("AppRec status {code}, {n} errors"),
            ))
        }
        _ => Ok((
            None,
            true,
            format!(
                "error message {}: {}",
                answer["condition"].as_str().unwrap_or(""),
                answer["description"].as_str().unwrap_or("")
            ),
        )),
    }
}

/// What a kommune does after a file was taken in (or rejected).
fn after_sent(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
    rejected: bool,
) -> Result<()> {
    match kind {
        Kind::Ordinary => {
            a.has_corrections = cfg.scale > 0.0 && !rejected;
            if rejected {
                a.needs_resend = true;
                for f in [Fault::DefectiveExport, Fault::OldKommunenummer] {
                    if a.plan.has(f) {
                        a.cause(kind.phase(), f);
                        a.cause("corrections", f);
                    }
                }
            }
        }
        Kind::Correction => {
            if a.needs_resend && !rejected {
                a.needs_resend = false;
                a.has_corrections = cfg.scale > 0.0;
                // The kommune's own corrections follow a few days later.
                if a.has_corrections {
                    schedule_corrections(cfg, a, i, q, t)?;
                }
            }
        }
        Kind::Test => {}
    }
    Ok(())
}

/// Adds a check report's findings to the kommune's count by rule.
fn count_findings(a: &mut Agent, report: Option<&iplos_model::rules::CheckReport>) {
    for f in report.map(|r| r.findings.as_slice()).unwrap_or_default() {
        *a.findings.entry(f.rule.to_string()).or_insert(0) += 1;
    }
}

fn schedule_corrections(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    let Some(p) = cfg.scenario.phase(PhaseId::Corrections) else {
        return Ok(());
    };
    let late = a.plan.has(Fault::LateCorrection);
    let day = if late {
        next_working_day_after(p.last_day).unwrap_or(p.last_day)
    } else {
        // A few working days after the feedback was read, within the window.
        let mut d = iplos_model::calendar::oslo_date(t).unwrap_or(p.first_day);
        for _ in 0..3 {
            d = next_working_day_after(d).unwrap_or(d);
        }
        d.min(p.last_day).max(p.first_day)
    };
    let at = at_oslo(working_day_on_or_after(day), 8, a.plan.minute)?.max(t + Duration::minutes(1));
    if late {
        a.cause("corrections", Fault::LateCorrection);
    }
    q.push(at, Ev::Submit(i, Kind::Correction));
    Ok(())
}

async fn check_receipt(
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    if a.receipt.is_some() {
        return Ok(());
    }
    let Some(last) = a.sent.iter().rfind(|s| s.kind != Kind::Test).cloned() else {
        return Ok(());
    };
    let due =
        iplos_model::calendar::receipt_time(last.arrived).ok_or_else(|| anyhow!("receipt time"))?;
    let mails = w.mailbox.list(&a.plan.contact).await?;
    let mut found = None;
    for m in &mails {
        if m.subject.contains("Kvittering") {
            found = Some(m.id);
        }
    }
    if a.plan.has(Fault::NoReceipt) {
        // The receipt is in the mailbox's spam folder: the contact does not see it.
        found = None;
    }
    let _ = q;
    let _ = i;
    match found {
        Some(id) => {
            a.read.insert(id);
            a.note(
                t,
                "receipt-read",
                format!("SSB's receipt (due {})", oslo(due)),
            );
            a.receipt = Some(Some(due));
        }
        None => {
            a.note(
                t,
                "no-receipt",
                "no receipt by 08:00 the working day after: the contact asks SSB",
            );
            a.receipt = Some(None);
            if a.plan.has(Fault::NoReceipt) {
                a.cause(RECEIPT, Fault::NoReceipt);
            }
        }
    }
    Ok(())
}

async fn publish_feedback(
    cfg: &EngineConfig,
    w: &World,
    agents: &mut [Agent],
    q: &mut Queue,
    t: DateTime<Utc>,
    test: bool,
) -> Result<()> {
    let Channel::Sendemodul(s) = &w.channel else {
        return publish_servicebus_feedback(cfg, w, agents, q, t).await;
    };
    let channel = if test {
        iplos_mocks::intake::Channel::Test
    } else {
        iplos_mocks::intake::Channel::Ordinary
    };
    for (i, a) in agents.iter_mut().enumerate() {
        let Some(input) = crate::national::feedback_from_intake(
            &s.intake,
            &a.plan.knr,
            &a.plan.name,
            cfg.scenario.season.data_year,
            channel,
            &cfg.scenario.season.test_feedback_key,
        )?
        else {
            continue;
        };
        if !already_published(w, &a.plan.postmottak, &input.file_name())? {
            iplos_mocks::feedback::publish(&w.filsluse, &a.plan.postmottak, &input)
                .with_context(|| format!("publishing the feedback of {}", a.plan.knr))?;
            flush(w).await?;
        }
        published(cfg, a, i, q, t, test)?;
    }
    Ok(())
}

/// The feedback is on filsluse and its mail in postmottak: postmottak will forward it, and
/// without feedback by Friday of the feedback week the contact asks SSB.
fn published(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    test: bool,
) -> Result<()> {
    a.note(
        t,
        "feedback-published",
        if test {
            "test feedback on filsluse"
        } else {
            "feedback on filsluse"
        },
    );
    a.waiting_feedback = Some(test);
    q.push(forward_time(cfg, a, t)?, Ev::Postmottak(i, false));
    q.push(friday_of(t)?, Ev::ContactSsb(i));
    Ok(())
}

/// When postmottak forwards a mail that arrived at `t`.
fn forward_time(cfg: &EngineConfig, a: &Agent, t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if a.plan.has(Fault::PostmottakLate) {
        next_working(t, 1, 9, 0)
    } else {
        Ok(t + Duration::minutes(i64::from(cfg.scenario.rehearsal.forward_minutes)))
    }
}

/// IT (or NHN) fixes what kept the kommune from the endpoint; it tries again then.
fn retry_after_fix(
    cfg: &EngineConfig,
    a: &Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
) -> Result<()> {
    q.push(
        next_working(
            t,
            cfg.scenario.rehearsal.it_fix_working_days,
            8,
            a.plan.minute,
        )?,
        Ev::Submit(i, kind),
    );
    Ok(())
}

/// \[model\] Service bus seasons: the register's feedback goes to filsluse as in the SSB
/// years, built from the verdicts in the run store and the content the kommune sent (the
/// receiver keeps no decrypted copy), with the kommune's own key.
async fn publish_servicebus_feedback(
    cfg: &EngineConfig,
    w: &World,
    agents: &mut [Agent],
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    use iplos_mocks::feedback::{Content, FeedbackFile, FeedbackInput};
    for (i, a) in agents.iter_mut().enumerate() {
        if a.sent_files.is_empty() {
            continue;
        }
        let mut input = FeedbackInput::ordinary(
            &a.plan.knr,
            &a.plan.name,
            cfg.scenario.season.data_year,
            &a.plan.feedback_key,
        );
        for f in &a.sent_files {
            let report: iplos_model::rules::CheckReport = match &f.report {
                Some(r) => serde_json::from_str(r).context("a verdict's check report")?,
                None => Default::default(),
            };
            let (bytes, _) = make_file(cfg, &a.plan, f.kind, f.resend, f.fixed)?;
            input = input.with_file(FeedbackFile::new(
                f.name.clone(),
                f.arrived,
                report,
                Content::Bytes(bytes),
            ));
        }
        if !already_published(w, &a.plan.postmottak, &input.file_name())? {
            iplos_mocks::feedback::publish(&w.filsluse, &a.plan.postmottak, &input)
                .with_context(|| format!("publishing the feedback of {}", a.plan.knr))?;
            flush(w).await?;
        }
        published(cfg, a, i, q, t, false)?;
    }
    Ok(())
}

/// "New User Password Request" for the kommune's user — unless, after a kill, the link
/// mail it asked for is already waiting in postmottak.
async fn request_link(w: &World, a: &Agent) -> Result<()> {
    if w.recovering() {
        for m in w.mailbox.list(&a.plan.postmottak).await? {
            if !a.forwarded.contains(&m.id) && m.subject.contains("passord") {
                return Ok(());
            }
        }
    }
    w.fs_client.request_link(&a.plan.postmottak).await?;
    flush(w).await
}

/// Whether the feedback zip `name` is already in `username`'s folder (after a kill).
fn already_published(w: &World, username: &str, name: &str) -> Result<bool> {
    Ok(w.recovering()
        && w.filsluse
            .files(username)
            .context("listing filsluse files")?
            .iter()
            .any(|f| f.name == name))
}

/// Waits until the filsluse mails queued so far are in the capture (deterministic order).
async fn flush(w: &World) -> Result<()> {
    w.notifier
        .flush(std::time::Duration::from_secs(60))
        .await
        .map_err(|e| anyhow!("filsluse mail: {e}"))
}

/// The report phase of a feedback.
fn feedback_phase(test: bool) -> &'static str {
    if test { "test_feedback" } else { "feedback" }
}

fn friday_of(t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    use chrono::Datelike;
    let d = iplos_model::calendar::oslo_date(t).ok_or_else(|| anyhow!("date"))?;
    let offset = 4 - i64::from(d.weekday().num_days_from_monday());
    at_oslo(d + Duration::days(offset.max(0)), 14, 0)
}

/// Postmottak forwards the mail from SSB it has not forwarded yet to the IPLOS contact.
async fn postmottak(
    cfg: &EngineConfig,
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    urgent: bool,
) -> Result<()> {
    let phase = feedback_phase(a.waiting_feedback.unwrap_or(false));
    if !urgent {
        for f in [Fault::SpamFilter, Fault::PostmottakNever] {
            if a.plan.has(f) {
                a.cause(phase, f);
                return Ok(());
            }
        }
        if a.plan.has(Fault::PostmottakLate) {
            a.cause(phase, Fault::PostmottakLate);
        }
    }
    let mails = w.mailbox.list(&a.plan.postmottak).await?;
    // After a kill: what already reached the contact (each forward names its original).
    let mut already = String::new();
    if w.recovering() {
        for m in w.mailbox.list(&a.plan.contact).await? {
            already.push_str(&w.mailbox.text(m.id).await?.1);
        }
    }
    let mut any = false;
    for m in mails {
        if a.forwarded.contains(&m.id) {
            continue;
        }
        a.forwarded.insert(m.id);
        any = true;
        let marker = format!("Videresendt fra postmottak (melding {}).", m.id);
        if already.contains(&marker) {
            continue;
        }
        let (subject, text) = w.mailbox.text(m.id).await?;
        let fwd = iplos_mocks::mail::OutgoingMail {
            from: iplos_mocks::mail::MailAddress::new(a.plan.postmottak.clone()),
            to: vec![iplos_mocks::mail::MailAddress::new(a.plan.contact.clone())],
            subject: format!("VS: {subject}"),
            body: format!(
                "{marker}\n\n-------- Opprinnelig melding --------\nEmne: {subject}\n\n{text}"
            ),
            date: None,
            message_id: None,
        };
        w.outbox
            .send(&fwd)
            .await
            .context("forwarding from postmottak")?;
    }
    if any {
        a.note(
            t,
            "forwarded",
            "postmottak forwarded SSB's mail to the IPLOS contact",
        );
        let delay = if a.plan.has(Fault::LinkExpired) && !a.password_set {
            61
        } else {
            10
        };
        q.push(t + Duration::minutes(delay), Ev::ContactMail(i));
    }
    let _ = cfg;
    Ok(())
}

/// The IPLOS contact reads new mail and acts on it.
async fn contact_mail(
    cfg: &EngineConfig,
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    if let Some(temp) = a.temp_password.take() {
        w.fs_client
            .token_changing(&a.plan.postmottak, &temp, &a.plan.filsluse_password)
            .await
            .context("signing on with SSB's temporary password")?;
        a.password_set = true;
        a.note(
            t,
            "password-set",
            "signed on with SSB's temporary password and changed it",
        );
        return download_feedback(cfg, w, a, i, q, t).await;
    }
    let mails = w.mailbox.list(&a.plan.contact).await?;
    let mut new_file = false;
    let mut link = None;
    for m in mails {
        if a.read.contains(&m.id) {
            continue;
        }
        a.read.insert(m.id);
        let (subject, text) = w.mailbox.text(m.id).await?;
        if subject.contains("New File") || text.contains("New File Available") {
            new_file = true;
        }
        if (subject.contains("Nytt passord") || subject.contains("passord"))
            && let Some(l) = client::link_containing(&text, "pxc=")
                .or_else(|| client::link_containing(&text, "token="))
        {
            link = Some(l);
        }
    }
    if let Some(l) = link {
        let outcome = if w.recovering()
            && w.fs_client
                .token(&a.plan.postmottak, &a.plan.filsluse_password)
                .await
                .is_ok()
        {
            // The link was used before the run was killed.
            LinkOutcome::PasswordSet
        } else {
            w.fs_client.use_link(&l, &a.plan.filsluse_password).await?
        };
        match outcome {
            LinkOutcome::PasswordSet => {
                a.password_set = true;
                a.note(t, "password-set", "filsluse password set through the link");
            }
            LinkOutcome::Refused(why) => {
                a.note(
                    t,
                    "link-refused",
                    format!("the password link was refused: {why}"),
                );
                let phase = feedback_phase(a.waiting_feedback.unwrap_or(false));
                if a.plan.has(Fault::LinkExpired) {
                    a.cause(phase, Fault::LinkExpired);
                }
                // Ask for a new link and phone postmottak to forward it at once.
                request_link(w, a).await?;
                a.note(
                    t,
                    "link-requested",
                    "new password link requested; postmottak asked to forward it at once",
                );
                q.push(t + Duration::minutes(5), Ev::Postmottak(i, true));
                return Ok(());
            }
        }
    }
    if (new_file || a.password_set) && a.waiting_feedback.is_some() {
        if !a.password_set {
            request_link(w, a).await?;
            a.note(t, "link-requested", "New User Password Request on filsluse");
            q.push(forward_time(cfg, a, t)?, Ev::Postmottak(i, false));
            return Ok(());
        }
        download_feedback(cfg, w, a, i, q, t).await?;
    }
    Ok(())
}

async fn download_feedback(
    cfg: &EngineConfig,
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    let Some(test) = a.waiting_feedback else {
        return Ok(());
    };
    let token = w
        .fs_client
        .token(&a.plan.postmottak, &a.plan.filsluse_password)
        .await?;
    let want = if test {
        "_iplos_test.zip"
    } else {
        "_iplos.zip"
    };
    let files = w.fs_client.files(&token).await?;
    let Some(f) = files.iter().rev().find(|f| f.name.ends_with(want)) else {
        a.note(t, "no-file", format!("no {want} in the folder"));
        return Ok(());
    };
    let zip = w.fs_client.download(&token, &f.id).await?;
    if zip.len() as u64 != f.size {
        return Err(anyhow!(
            "{}: filsluse listed {} as {} bytes, the download has {}",
            a.plan.knr,
            f.name,
            f.size,
            zip.len()
        ));
    }
    a.note(t, "downloaded", format!("{} ({} bytes)", f.name, zip.len()));
    a.waiting_feedback = None;
    if a.plan.has(Fault::WrongUnzipTool) && !a.feedback_done.contains(&test) {
        // The built-in unzipper does not know AES-256.
        let err = open_without_aes(&zip);
        a.note(
            t,
            "zip-not-opened",
            format!("the zip could not be opened without AES-256 support: {err}"),
        );
        a.cause(feedback_phase(test), Fault::WrongUnzipTool);
        a.feedback_zip = Some((test, zip));
        q.push(next_working(t, 1, 9, 0)?, Ev::RetryOpen(i));
        return Ok(());
    }
    open_feedback(cfg, a, t, test, &zip, false)?;
    after_feedback(cfg, a, i, q, t, test)
}

/// After reading the ordinary feedback the kommune sends what it must correct.
fn after_feedback(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    test: bool,
) -> Result<()> {
    if !test && (a.needs_resend || a.has_corrections) && !a.corrections_scheduled {
        a.corrections_scheduled = true;
        schedule_corrections(cfg, a, i, q, t)?;
    }
    Ok(())
}

/// What an unzipper without AES support says (a real attempt with the zip crate).
fn open_without_aes(zip: &[u8]) -> String {
    match zip::ZipArchive::new(std::io::Cursor::new(zip)) {
        Ok(mut z) => match z.by_index(0) {
            Ok(mut e) => {
                let mut sink = Vec::new();
                match std::io::Read::read_to_end(&mut e, &mut sink) {
                    Ok(_) => "opened (unexpectedly)".into(),
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    }
}

fn open_feedback(
    cfg: &EngineConfig,
    a: &mut Agent,
    t: DateTime<Utc>,
    test: bool,
    zip: &[u8],
    retried: bool,
) -> Result<()> {
    let key = if test {
        cfg.scenario.season.test_feedback_key.clone()
    } else {
        a.plan.feedback_key.clone()
    };
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).context("feedback zip")?;
    let mut errors = 0usize;
    {
        let mut e = z
            .by_name_decrypt("feilliste.csv", key.as_bytes())
            .context("feilliste.csv in the feedback zip")?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut e, &mut text).context("reading feilliste.csv")?;
        errors += text
            .lines()
            .skip(1)
            .filter(|l| l.contains("error") || l.contains("feil"))
            .count();
    }
    a.note(
        t,
        "feedback-opened",
        format!(
            "{} opened{}; feilliste: {errors} error rows",
            if test { "test feedback" } else { "feedback" },
            if retried { " with 7-Zip" } else { "" }
        ),
    );
    a.feedback_done.insert(test);
    a.feedback_at.entry(test).or_insert(t);
    if !test {
        a.feedback_zip = None;
    }
    Ok(())
}

/// No feedback by Friday: the contact asks SSB, which sets a temporary password and tells
/// the contact by phone; the contact signs on the next working day.
async fn contact_ssb(
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    let Some(_) = a.waiting_feedback else {
        return Ok(());
    };
    a.note(
        t,
        "contacted-ssb",
        "no feedback mail by Friday of the feedback week: the contact asks SSB",
    );
    let temp = format!("Tmp{}x9", &a.plan.filsluse_password[2..]);
    w.filsluse
        .set_temporary_password(&a.plan.postmottak, &temp)
        .context("SSB sets a temporary password")?;
    a.temp_password = Some(temp);
    let phase = feedback_phase(a.waiting_feedback.unwrap_or(false));
    for f in [Fault::PostmottakNever, Fault::SpamFilter] {
        if a.plan.has(f) {
            a.cause(phase, f);
        }
    }
    q.push(next_working(t, 1, 9, 0)?, Ev::ContactMail(i));
    Ok(())
}

fn oslo(t: DateTime<Utc>) -> String {
    iplos_model::calendar::oslo_local(t)
        .map(|l| l.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| t.to_rfc3339())
}

fn fixed(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&FixedOffset::east_opt(0).expect("UTC offset"))
}

/// A phase the kommuner are judged on: (id, name, first day, last day, deadline).
type Judged = (
    &'static str,
    String,
    NaiveDate,
    NaiveDate,
    Option<DateTime<Utc>>,
);

fn build_report(
    cfg: &EngineConfig,
    w: &World,
    agents: &[Agent],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<RehearsalReport> {
    use iplos_reports::{DailyCounts, FailureGroup, ReceiptDelay, RunInfo, Tool};
    let sc = &cfg.scenario;
    let channel = sc.season.channel;
    let mut report = RehearsalReport::new(
        Tool {
            name: "iplos-harness".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        RunInfo {
            season: sc.season.data_year,
            scenario: sc.name.clone(),
            seed: cfg.seed,
            scale: cfg.scale,
            channel: match channel {
                ChannelSpec::Sendemodul => iplos_reports::Channel::Sendemodul,
                ChannelSpec::Servicebus => iplos_reports::Channel::Amqp,
            },
            kommuner: 0,
            virtual_start: fixed(start),
            virtual_end: fixed(end),
        },
    );
    // The phases judged, in season order, with their deadlines.
    let deadline_of = |id: PhaseId| -> Option<DateTime<Utc>> {
        sc.phase(id)
            .and_then(|p| at_oslo(p.last_day + Duration::days(1), 0, 0).ok())
    };
    let mut judged: Vec<Judged> = Vec::new();
    for p in &sc.season.phases {
        match p.id {
            PhaseId::Publication | PhaseId::Extension => continue,
            _ => {}
        }
        let id: &'static str = match p.id {
            PhaseId::TestSubmission => "test_submission",
            PhaseId::TestFeedback => "test_feedback",
            PhaseId::OrdinarySubmission => "ordinary_submission",
            PhaseId::Feedback => "feedback",
            PhaseId::Corrections => "corrections",
            _ => continue,
        };
        let deadline = deadline_of(p.id);
        judged.push((id, p.name.clone(), p.first_day, p.last_day, deadline));
        if p.id == PhaseId::OrdinarySubmission {
            judged.push((
                RECEIPT,
                if channel == ChannelSpec::Sendemodul {
                    "receipt by e-mail at 08:00 the first working day after arrival".into()
                } else {
                    "AppRec receipt over the service bus".into()
                },
                p.first_day,
                p.last_day,
                None,
            ));
        }
    }
    judged.sort_by_key(|(id, _, first, _, _)| (*first, *id == RECEIPT));
    for (id, name, first, last, deadline) in &judged {
        report.phases.push(PhaseSummary::new(
            *id,
            name.clone(),
            *first,
            *last,
            deadline.map(fixed),
        ));
    }

    let mut daily: BTreeMap<NaiveDate, DailyCounts> = BTreeMap::new();
    let day =
        |t: DateTime<Utc>| -> NaiveDate { iplos_model::calendar::oslo_date(t).unwrap_or_default() };
    let bump = |daily: &mut BTreeMap<NaiveDate, DailyCounts>,
                d: NaiveDate,
                f: &dyn Fn(&mut DailyCounts)| {
        let e = daily.entry(d).or_insert(DailyCounts {
            date: d,
            submissions: 0,
            receipts: 0,
            rejections: 0,
            feedback: 0,
            corrections: 0,
        });
        f(e);
    };
    let mut failures: BTreeMap<String, FailureGroup> = BTreeMap::new();
    for a in agents {
        let mut phases = Vec::new();
        for (id, _, _, _, deadline) in &judged {
            let (status, at, reason) = judge(a, id, *deadline, sc);
            let causes: Vec<&Fault> = a
                .causes
                .get(*id)
                .map(|c| c.iter().collect())
                .unwrap_or_default();
            let cause = (!causes.is_empty()).then(|| {
                causes
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            for f in &causes {
                let g = failures
                    .entry(f.as_str().to_string())
                    .or_insert_with(|| FailureGroup {
                        cause: f.as_str().into(),
                        title: f.title().into(),
                        consequence: consequence(**f).into(),
                        phases: Vec::new(),
                        kommuner: Vec::new(),
                    });
                g.kommuner.push(a.plan.knr.clone());
                if !g.phases.iter().any(|p| p == id) {
                    g.phases.push(id.to_string());
                }
            }
            phases.push(KommunePhase {
                phase: id.to_string(),
                status,
                at: at.map(fixed),
                reason,
                cause,
            });
        }
        for s in &a.sent {
            let d = day(s.arrived);
            match s.kind {
                Kind::Correction => bump(&mut daily, d, &|e| e.corrections += 1),
                _ => bump(&mut daily, d, &|e| e.submissions += 1),
            }
            if s.rejected {
                bump(&mut daily, d, &|e| e.rejections += 1);
            }
        }
        for t in a.feedback_at.values() {
            bump(&mut daily, day(*t), &|e| e.feedback += 1);
        }
        report.kommuner.push(KommuneResult {
            kommunenr: a.plan.knr.clone(),
            name: a.plan.name.clone(),
            vendor: a.vendor.clone(),
            channel: report.run.channel,
            phases,
            faults: faults_for(&a.plan, channel),
            timeline: a
                .timeline
                .iter()
                .map(|(t, k, d)| TimelineEvent {
                    at: fixed(*t),
                    kind: k.clone(),
                    detail: d.clone(),
                })
                .collect(),
            findings: a.findings.clone(),
        });
    }
    // Service bus: the AppRec is the receipt.
    for a in agents {
        for sent in &a.sent {
            if let Some(r) = sent.receipted {
                bump(&mut daily, day(r), &|e| e.receipts += 1);
                report.receipt_delays.delays.push(ReceiptDelay::new(
                    a.plan.knr.clone(),
                    fixed(sent.arrived),
                    fixed(r),
                ));
            }
        }
    }
    if let Channel::Sendemodul(s) = &w.channel {
        for sub in s.intake.all_submissions()? {
            if sub.channel == iplos_mocks::intake::Channel::Test {
                continue;
            }
            if let Some(sent) = sub.receipt_sent {
                bump(&mut daily, day(sent), &|e| e.receipts += 1);
                report.receipt_delays.delays.push(ReceiptDelay::new(
                    sub.kommunenr.clone(),
                    fixed(sub.arrived),
                    fixed(sent),
                ));
            }
        }
    }
    report.daily = daily.into_values().collect();
    report.failures = failures.into_values().collect();
    let messages: BTreeMap<String, u64> = agents
        .iter()
        .map(|a| {
            (
                a.plan.knr.clone(),
                a.sent.iter().filter(|s| s.kind != Kind::Test).count() as u64,
            )
        })
        .collect();
    report.derive_findings(iplos_reports::rehearsal::catalogue_rule_info, &messages);
    report.normalise();
    Ok(report)
}

/// A kommune's status in one phase.
fn judge(
    a: &Agent,
    id: &str,
    deadline: Option<DateTime<Utc>>,
    sc: &Scenario,
) -> (PhaseStatus, Option<DateTime<Utc>>, Option<String>) {
    let on_time = |t: DateTime<Utc>| deadline.is_none_or(|d| t < d);
    match id {
        "test_submission" => {
            if !a.plan.tests {
                return (PhaseStatus::NotAttempted, None, Some("did not take part in the test".into()));
            }
            match a.sent.iter().find(|s| s.kind == Kind::Test) {
                Some(s) if on_time(s.arrived) => (PhaseStatus::OnTime, Some(s.arrived), None),
                Some(s) => (PhaseStatus::Late, Some(s.arrived), Some("test file after the test week".into())),
                None => (PhaseStatus::Failed, None, Some("no test file arrived".into())),
            }
        }
        "test_feedback" | "feedback" => {
            let test = id == "test_feedback";
            let sent_any = a.sent.iter().any(|s| (s.kind == Kind::Test) == test);
            if !sent_any {
                return (PhaseStatus::NotApplicable, None, Some("nothing submitted".into()));
            }
            match a.feedback_at.get(&test) {
                Some(t) if on_time(*t) => (PhaseStatus::OnTime, Some(*t), None),
                Some(t) => (PhaseStatus::Late, Some(*t), Some("feedback opened after the feedback week".into())),
                None => (PhaseStatus::Failed, None, Some("the feedback zip was never opened".into())),
            }
        }
        "ordinary_submission" => {
            let ok = a
                .sent
                .iter()
                .filter(|s| s.kind != Kind::Test && !s.rejected)
                .map(|s| s.arrived)
                .min();
            let rejected = a.sent.iter().any(|s| s.kind == Kind::Ordinary && s.rejected);
            match ok {
                Some(t) if on_time(t) => (PhaseStatus::OnTime, Some(t), None),
                Some(t) if rejected && a.export_fixed => (PhaseStatus::Late, Some(t), Some("the first file was rejected; the fixed file came after the deadline".into())),
                Some(t) if rejected => (PhaseStatus::Failed, Some(t), Some("the file sent in the window was rejected; an accepted file came only with the corrections".into())),
                Some(t) => {
                    let ext = sc
                        .phase(PhaseId::Extension)
                        .and_then(|p| at_oslo(p.last_day + Duration::days(1), 0, 0).ok())
                        .is_some_and(|e| t < e);
                    (PhaseStatus::Late, Some(t), Some(if ext { "sent in the extension".into() } else { "sent after the deadline".into() }))
                }
                None if rejected => (PhaseStatus::Failed, None, Some("every file sent was rejected".into())),
                None => (PhaseStatus::Failed, None, Some("no file arrived".into())),
            }
        }
        "receipt" => match a.receipt {
            Some(Some(due)) => (PhaseStatus::OnTime, Some(due), None),
            Some(None) => (PhaseStatus::Failed, None, Some("no receipt seen by 08:00 the first working day after arrival; the kommune contacted SSB".into())),
            None if a.sent.iter().any(|s| s.kind != Kind::Test) => (PhaseStatus::Failed, None, Some("the receipt was never checked".into())),
            None => (PhaseStatus::NotApplicable, None, None),
        },
        "corrections" => {
            let corr: Vec<&Sent> = a.sent.iter().filter(|s| s.kind == Kind::Correction).collect();
            if corr.is_empty() {
                if a.needs_resend || a.has_corrections {
                    return (PhaseStatus::Failed, None, Some("corrections were due but none arrived".into()));
                }
                return (PhaseStatus::NotApplicable, None, Some("nothing to correct".into()));
            }
            let last = corr.iter().map(|s| s.arrived).max().unwrap_or_default();
            if on_time(last) {
                (PhaseStatus::OnTime, Some(last), None)
            } else {
                (PhaseStatus::Late, Some(last), Some("corrections after the deadline miss the publication".into()))
            }
        }
        _ => (PhaseStatus::NotApplicable, None, None),
    }
}

/// The documented consequence of a fault (scenarios/README.md).
pub fn consequence(f: Fault) -> &'static str {
    match f {
        Fault::NeverTested => "test submission not attempted; no test feedback",
        Fault::PostmottakLate => {
            "SSB's mails reach the contact a working day late; the password link expires and a new one is requested"
        }
        Fault::PostmottakNever => {
            "no feedback mail reaches the contact; on Friday of the feedback week the contact asks SSB, gets a temporary password and opens the feedback the next working day (late)"
        }
        Fault::SpamFilter => {
            "as postmottak_never: the mail sits in a spam folder; feedback late after contacting SSB"
        }
        Fault::LinkExpired => {
            "the password link is refused after 60 minutes; a new link is requested and used at once"
        }
        Fault::WrongPin | Fault::WrongOrgnr | Fault::WrongBydel => {
            "the first Sendemodul login is refused with the generic answer; the kommune submits one working day later"
        }
        Fault::NoReceipt => {
            "the receipt phase fails: no receipt seen by 08:00, the kommune contacts SSB"
        }
        Fault::FirewallClosed | Fault::DnsNotResolving => {
            "the first submission cannot reach the endpoint; IT fixes it and the kommune submits some working days later"
        }
        Fault::ServicebusNotActivated => {
            "the first AMQP connection is refused; access is activated and the kommune sends some working days later"
        }
        Fault::EpjNotUpgraded => "the ordinary submission is sent in the extension (late)",
        Fault::DefectiveExport => {
            "the ordinary file is rejected (Sendemodul: the fixed file comes with the corrections; service bus: AppRec status 2, the fixed file is sent 3 working days later)"
        }
        Fault::WrongUnzipTool => {
            "the feedback zip cannot be opened; the contact installs 7-Zip and opens it the next working day"
        }
        Fault::OldKommunenummer => {
            "the ordinary file is rejected (IPL22; Sendemodul: the right file comes with the corrections; service bus: AppRec status 2, sent again 3 working days later)"
        }
        Fault::LateCorrection => {
            "the corrections arrive after the deadline (late) and miss the publication"
        }
    }
}
