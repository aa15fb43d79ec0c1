//! Load driver for the service bus: messages per second and latency of 10 kB IPLOS-shaped
//! messages through an AMQP 1.0 broker, measured with one client (fe2o3-amqp) so that our
//! broker and RabbitMQ are compared like for like.
//!
//! ```text
//! sb_load serve [--port P] [--state-dir DIR] [--pki DIR]
//!     Our broker (mocks::servicebus) on 127.0.0.1:P with a SQLite store in DIR (a temp dir
//!     by default), participants 123 (kommune0301) and 131725 (kpr). Prints
//!     `listening 127.0.0.1:P pid N` and serves until its standard input closes. With
//!     --pki (a test PKI made by `run`): the broker's store is the receiver's run store and
//!     the national receiver (mocks::receiver) consumes 131725_async in-process.
//!       --store stock           the broker's SqliteStore (the only store; the group-commit
//!                               experiments that were measured here became the broker's
//!                               writer)
//!       --runtime multi|current tokio's multi-thread runtime (default, one worker per core)
//!                               or a current-thread runtime for the broker
//!
//! sb_load run --label NAME (--spawn-ours | --url amqp://USER:PASS@HOST:PORT) [options]
//!     One measured round (after a warm-up) against a broker; prints a summary and, with
//!     --json FILE, appends one JSON line to FILE.
//!       --spawn-ours            start `sb_load serve` as a child process (a broker in its own
//!                               process, as RabbitMQ is) and measure it
//!       --store KIND, --runtime KIND
//!                               with --spawn-ours: passed to `serve`
//!       --url URL               the producers' connection (default user kommune0301)
//!       --consumer-url URL      the consumers' connection (default: URL with user kpr)
//!       --target ADDR           default /exchange/NHNTESTServiceBus/131725_async
//!       --source ADDR           default /amq/queue/131725_async
//!       --hostname H            the open frame's hostname (RabbitMQ: vhost:<vhost>)
//!       --broker-pid PID        a process whose CPU time is reported (RabbitMQ's beam.smp)
//!       --messages N (20000)  --warmup N (2000)  --size BYTES (10240)
//!       --producers N (4)  --consumers M (2)  --window W (16: unsettled sends per producer)
//!       --credit C (200: consumer link credit)  --timeout SECS (600: for warm-up + round)
//!       --produce-only          send, do not consume (the messages stay in the queue)
//!       --phase concurrent|split  (concurrent: consumers drain while producers send;
//!                               split: send everything, then consume everything)
//!       --pipeline broker|broker+receiver
//!                               broker: the broker alone. broker+receiver: real IPLOS
//!                               messages (MsgHead, signed, encrypted; built before the
//!                               round), answered with signed and encrypted AppRecs to
//!                               123_async, counted when the AppRec arrives (see
//!                               `Pipeline::BrokerAndReceiver`); defaults --messages 2000
//!                               --warmup 200; the consumers log in as the kommune and
//!                               --consumer-url is the receiver role's connection (KPR)
//!       --receiver national|client  broker+receiver: national = mocks::receiver::Receiver
//!                               in-process in our broker (default with --spawn-ours;
//!                               `serve --pki DIR`); client = this driver's receiver role,
//!                               an AMQP client of the broker (the same code for both
//!                               brokers; default with --url)
//!       --receivers N (1)       receiver roles (client), each one message at a time
//!
//! sb_load report FILE
//!     The JSON lines of FILE as a table.
//! ```
//!
//! What a message is: a message-id (GUID form), to, reply-to, subject `IPLOS`, correlation-id,
//! content-type `application/pkcs7-mime; smime-type=signed-and-enveloped-data`, application
//! properties fromHerId, toHerId, applicationTimeStamp and cpaId (DOMAIN.md §4), the header's
//! `durable` set (RabbitMQ stores it as a persistent message; our broker stores every
//! message), and one data section of `--size` pseudo-random bytes (an encrypted CMS payload
//! looks random to a broker). Sends are unsettled (at least once): a send counts when the
//! broker's Accepted outcome arrives. Consumers accept every message.
//!
//! Not run in CI: see `scripts/servicebus-bench.sh`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::Outcome;
use fe2o3_amqp::{Receiver, Sender, Session};
use fe2o3_amqp_types::messaging::{
    ApplicationProperties, Body, Data, Header, Message, MessageId, Properties,
};
use fe2o3_amqp_types::primitives::{Binary, Value};
use iplos_mocks::receiver::{RUN_STORE_FILE, RunStore};
use iplos_mocks::servicebus::{AmqpMessage, BrokerConfig};
use iplos_model::calendar::SystemClock;
use iplos_model::ids::HerId;
use tokio::sync::{Semaphore, watch};

const NAMESPACE: &str = "NHNTESTServiceBus";
const KOMMUNE_HER: u32 = 123;
const KOMMUNE_USER: &str = "kommune0301";
const KOMMUNE_PASS: &str = "load-kommune";
const KPR_HER: u32 = 131725;
const KPR_USER: &str = "kpr";
const KPR_PASS: &str = "load-kpr";
const CONTENT_TYPE: &str = "application/pkcs7-mime; smime-type=signed-and-enveloped-data";

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("report") => report(&args[1..]),
        _ => Err("usage: sb_load serve|run|report ... (see the file's documentation)".into()),
    };
    if let Err(e) = result {
        eprintln!("sb_load: {e}");
        std::process::exit(1);
    }
}

/// `--key value` options; flags without a value are stored as "true".
struct Opts(BTreeMap<String, String>);

impl Opts {
    fn parse(args: &[String], flags: &[&str]) -> Res<Opts> {
        let mut map = BTreeMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let key = a
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument '{a}'"))?;
            if flags.contains(&key) {
                map.insert(key.to_string(), "true".to_string());
            } else {
                let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
                map.insert(key.to_string(), v.clone());
            }
        }
        Ok(Opts(map))
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Res<T> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{key}: bad number '{v}'").into()),
        }
    }

    fn flag(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

fn her(n: u32) -> HerId {
    HerId::new(n).expect("valid HER-id")
}

// ---------------------------------------------------------------------------------------
// serve: our broker in its own process
// ---------------------------------------------------------------------------------------

fn serve(args: &[String]) -> Res<()> {
    let opts = Opts::parse(args, &[])?;
    let port: u16 = opts.num("port", 0)?;
    let temp;
    let state_dir = match opts.str("state-dir") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let store_kind = opts.str("store").unwrap_or("stock").to_string();
    let rt = match opts.str("runtime").unwrap_or("multi") {
        "multi" => tokio::runtime::Runtime::new()?,
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        other => return Err(format!("--runtime: '{other}' (multi | current)").into()),
    };
    rt.block_on(async move {
        let mut config = BrokerConfig::new()
            .with_namespace(NAMESPACE)
            .with_bind(([127, 0, 0, 1], port).into())
            .with_state_dir(&state_dir)
            .with_participant(her(KOMMUNE_HER), KOMMUNE_USER, KOMMUNE_PASS)
            .with_participant(her(KPR_HER), KPR_USER, KPR_PASS);
        if store_kind != "stock" {
            return Err(format!("--store: '{store_kind}' (stock is the only store)").into());
        }
        // With --pki: the national receiver in-process, on the broker's run store.
        let national = match opts.str("pki") {
            Some(dir) => {
                let certs = pipe::load(std::path::Path::new(dir))?;
                let store = Arc::new(RunStore::open(
                    &state_dir.join(RUN_STORE_FILE),
                    Arc::new(SystemClock),
                )?);
                config = config.with_store(store.clone());
                Some((certs, store))
            }
            None => None,
        };
        let broker = config.start().await?;
        let _receiver = match national {
            Some((certs, store)) => {
                let dir = opts
                    .str("pki")
                    .map(std::path::PathBuf::from)
                    .unwrap_or_default();
                Some(pipe::start_national(broker.bus(), store, &certs, &dir).await?)
            }
            None => None,
        };
        println!(
            "listening {} pid {}",
            broker.local_addr(),
            std::process::id()
        );
        std::io::stdout().flush()?;
        // Serve until standard input closes (the parent drops its end, or EOF in a shell).
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        })
        .await?;
        broker.shutdown().await;
        Ok::<_, Error>(())
    })
}

/// Our broker started as a child process (`sb_load serve`); stopped when dropped.
struct OurBroker {
    child: Child,
    addr: String,
    // Kept open: the broker's standard output must not turn into a broken pipe.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl OurBroker {
    fn spawn(store: &str, runtime: &str, pki: Option<&std::path::Path>) -> Res<OurBroker> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command.args(["serve", "--store", store, "--runtime", runtime]);
        if let Some(dir) = pki {
            command.arg("--pki").arg(dir);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout of the broker")?;
        let mut stdout = std::io::BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line
            .strip_prefix("listening ")
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or_else(|| format!("unexpected first line from the broker: {line:?}"))?
            .to_string();
        Ok(OurBroker {
            child,
            addr,
            _stdout: stdout,
        })
    }
}

impl Drop for OurBroker {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// run: one measured round
// ---------------------------------------------------------------------------------------

/// What the messages go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pipeline {
    /// The broker alone: producers → queue 131725_async → consumers (as KPR).
    Broker,
    /// Broker + receiver, CMS included: the producers (the kommune 123) send real IPLOS
    /// messages (MsgHead, signed by the kommune, encrypted for the register, built by the
    /// reference sender's `build_message` before the round); the receiver consumes
    /// 131725_async, decrypts, verifies, checks and answers with a signed and encrypted
    /// AppRec to 123_async; the consumers (as the kommune) count a message as through
    /// when its AppRec arrives (matched by correlation-id). The receiver is
    /// [`ReceiverKind::National`] or [`ReceiverKind::Client`].
    BrokerAndReceiver,
}

/// Which receiver answers in `--pipeline broker+receiver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReceiverKind {
    /// `mocks::receiver::Receiver` in-process on our broker (`serve --pki`), on the
    /// broker's run store, with its exactly-once bookkeeping. Ours only.
    National,
    /// The receiver role of this driver (`pipe::client_role`), an AMQP client of the broker
    /// under test: the same checks with the same functions, one message at a time, the
    /// same code for both brokers.
    Client,
}

impl Pipeline {
    fn parse(s: &str) -> Res<Pipeline> {
        match s {
            "broker" => Ok(Pipeline::Broker),
            "broker+receiver" => Ok(Pipeline::BrokerAndReceiver),
            other => Err(format!("--pipeline: '{other}' (broker | broker+receiver)").into()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Pipeline::Broker => "broker",
            Pipeline::BrokerAndReceiver => "broker+receiver",
        }
    }
}

#[derive(Debug, Clone)]
struct Endpoint {
    addr: String,
    user: String,
    pass: String,
}

/// `amqp://user:pass@host:port[/anything]`.
fn parse_url(url: &str) -> Res<Endpoint> {
    let rest = url
        .strip_prefix("amqp://")
        .ok_or("only amqp:// URLs (plain, loopback) are supported")?;
    let (cred, hostpath) = rest.rsplit_once('@').ok_or("the URL needs user:pass@")?;
    let (user, pass) = cred.split_once(':').ok_or("the URL needs user:pass@")?;
    let addr = hostpath.split('/').next().unwrap_or(hostpath).to_string();
    Ok(Endpoint {
        addr,
        user: user.to_string(),
        pass: pass.to_string(),
    })
}

#[derive(Debug, Clone)]
struct Settings {
    label: String,
    pipeline: Pipeline,
    producer: Endpoint,
    consumer: Endpoint,
    hostname: Option<String>,
    target: String,
    source: String,
    messages: usize,
    warmup: usize,
    size: usize,
    producers: usize,
    consumers: usize,
    window: usize,
    credit: u32,
    split: bool,
    /// Send only and leave the messages in the queue (for checks, and a backlog).
    produce_only: bool,
    /// broker+receiver: the certificates, and the receiver role's connection (as KPR) and
    /// how many of it run, when the receiver is [`ReceiverKind::Client`].
    certs: Option<Arc<pipe::Certs>>,
    receiver: Option<(Endpoint, usize)>,
    /// The receiver role's content state of the kommune, kept across the rounds of a run
    /// (as the national receiver keeps it).
    chain: Arc<std::sync::Mutex<iplos_model::rules::ContentState>>,
}

fn run(args: &[String]) -> Res<()> {
    let opts = Opts::parse(args, &["spawn-ours", "produce-only"])?;
    let pipeline = Pipeline::parse(opts.str("pipeline").unwrap_or("broker"))?;
    let receiver_kind = match (opts.str("receiver"), opts.flag("spawn-ours")) {
        (Some("national"), true) | (None, true) => ReceiverKind::National,
        (Some("national"), false) => {
            return Err("--receiver national runs inside our broker: use --spawn-ours".into());
        }
        (Some("client"), _) | (None, false) => ReceiverKind::Client,
        (Some(other), _) => return Err(format!("--receiver: '{other}' (national | client)").into()),
    };
    // The PKI of a broker+receiver run (kept until the end of the run).
    let pki_dir = tempfile::tempdir()?;
    let certs = if pipeline == Pipeline::BrokerAndReceiver {
        pipe::create_pki(pki_dir.path())?;
        Some(pipe::load(pki_dir.path())?)
    } else {
        None
    };
    let national =
        pipeline == Pipeline::BrokerAndReceiver && receiver_kind == ReceiverKind::National;
    let ours = if opts.flag("spawn-ours") {
        Some(OurBroker::spawn(
            opts.str("store").unwrap_or("stock"),
            opts.str("runtime").unwrap_or("multi"),
            national.then(|| pki_dir.path()),
        )?)
    } else {
        None
    };
    let producer = match (&ours, opts.str("url")) {
        (Some(b), _) => Endpoint {
            addr: b.addr.clone(),
            user: KOMMUNE_USER.into(),
            pass: KOMMUNE_PASS.into(),
        },
        (None, Some(url)) => parse_url(url)?,
        (None, None) => return Err("give --spawn-ours or --url".into()),
    };
    let consumer = match opts.str("consumer-url") {
        Some(url) => parse_url(url)?,
        None => Endpoint {
            addr: producer.addr.clone(),
            user: KPR_USER.into(),
            pass: KPR_PASS.into(),
        },
    };
    let broker_pid: Option<u32> = match (&ours, opts.str("broker-pid")) {
        (Some(b), _) => Some(b.child.id()),
        (None, Some(p)) => Some(p.parse().map_err(|_| "--broker-pid: not a pid")?),
        (None, None) => None,
    };
    let both = pipeline == Pipeline::BrokerAndReceiver;
    // broker+receiver: the consumers are the kommune (they receive the AppRecs); the
    // consumer connection given (KPR) is the receiver role's.
    let (consumer, receiver) = if both {
        let receivers = opts.num::<usize>("receivers", 1)?.max(1);
        (
            producer.clone(),
            (receiver_kind == ReceiverKind::Client).then_some((consumer, receivers)),
        )
    } else {
        (consumer, None)
    };
    let settings = Settings {
        label: opts.str("label").unwrap_or("broker").to_string(),
        pipeline,
        producer,
        consumer,
        certs: certs.map(Arc::new),
        receiver,
        chain: Default::default(),
        hostname: opts.str("hostname").map(str::to_string),
        target: opts
            .str("target")
            .map(str::to_string)
            .unwrap_or(format!("/exchange/{NAMESPACE}/{KPR_HER}_async")),
        source: opts.str("source").map(str::to_string).unwrap_or(if both {
            format!("/amq/queue/{KOMMUNE_HER}_async")
        } else {
            format!("/amq/queue/{KPR_HER}_async")
        }),
        messages: opts.num("messages", if both { 2_000 } else { 20_000 })?,
        warmup: opts.num("warmup", if both { 200 } else { 2_000 })?,
        size: opts.num("size", 10 * 1024)?,
        producers: opts.num::<usize>("producers", 4)?.max(1),
        consumers: opts.num::<usize>("consumers", 2)?.max(1),
        window: opts.num::<usize>("window", 16)?.max(1),
        credit: opts.num::<u32>("credit", 200)?.max(1),
        produce_only: opts.flag("produce-only"),
        split: match opts.str("phase").unwrap_or("concurrent") {
            "concurrent" => false,
            "split" => true,
            other => return Err(format!("--phase: '{other}' (concurrent | split)").into()),
        },
    };
    let limit = Duration::from_secs(opts.num("timeout", 600)?);
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async {
        tokio::time::timeout(limit, async {
        if settings.warmup > 0 && !settings.produce_only {
            eprintln!("[{}] warm-up: {} messages", settings.label, settings.warmup);
            round(&settings, settings.warmup, 0, "warmup", None).await?;
        }
        eprintln!(
            "[{}] measuring: {} messages of {} bytes, {} producers (window {}), {} consumers (credit {}), {}",
            settings.label,
            settings.messages,
            settings.size,
            settings.producers,
            settings.window,
            settings.consumers,
            settings.credit,
            if settings.split { "split" } else { "concurrent" },
        );
        round(&settings, settings.messages, settings.warmup, "run", broker_pid).await
        })
        .await
        .unwrap_or_else(|_| Err(format!("no result within --timeout {}s", limit.as_secs()).into()))
    });
    // Tasks left behind by a timeout are dropped with the runtime.
    rt.shutdown_timeout(Duration::from_secs(5));
    drop(ours);
    let result = result?;
    let line = result.to_json(&settings);
    println!("{}", summary_line(&line));
    if let Some(path) = opts.str("json") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{line}")?;
    }
    Ok(())
}

/// What a round measured.
#[derive(Debug)]
struct RoundResult {
    sent: usize,
    consumed: usize,
    duplicates: usize,
    not_accepted: usize,
    send_secs: f64,
    consume_secs: f64,
    total_secs: f64,
    settle_us: Vec<u64>,
    e2e_us: Vec<u64>,
    broker_cpu_secs: Option<f64>,
    driver_cpu_secs: Option<f64>,
    load_before: String,
    /// Bytes of one encoded message as sent.
    size_sent: usize,
    /// broker+receiver, receiver role: AppRecs sent per status.
    statuses: BTreeMap<String, usize>,
    /// broker+receiver: the check of the first AppRec.
    apprec_check: Option<String>,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

impl RoundResult {
    fn to_json(&self, s: &Settings) -> serde_json::Value {
        let mut settle = self.settle_us.clone();
        settle.sort_unstable();
        let mut e2e = self.e2e_us.clone();
        e2e.sort_unstable();
        serde_json::json!({
            "label": s.label,
            "pipeline": s.pipeline.name(),
            "phase": if s.split { "split" } else { "concurrent" },
            "messages": s.messages,
            "size": s.size,
            "producers": s.producers,
            "consumers": s.consumers,
            "window": s.window,
            "credit": s.credit,
            "sent": self.sent,
            "consumed": self.consumed,
            "duplicates": self.duplicates,
            "not_accepted": self.not_accepted,
            "send_rate": self.sent as f64 / self.send_secs,
            "consume_rate": self.consumed as f64 / self.consume_secs,
            "end_to_end_rate": self.consumed as f64 / self.total_secs,
            "total_secs": self.total_secs,
            "settle_p50_ms": percentile(&settle, 50.0),
            "settle_p99_ms": percentile(&settle, 99.0),
            "e2e_p50_ms": percentile(&e2e, 50.0),
            "e2e_p99_ms": percentile(&e2e, 99.0),
            "broker_cpu_secs": self.broker_cpu_secs,
            "broker_cpu_us_per_msg": self.broker_cpu_secs.map(|c| c * 1e6 / self.consumed.max(1) as f64),
            "driver_cpu_secs": self.driver_cpu_secs,
            "loadavg_before": self.load_before,
            "size_sent": self.size_sent,
            "receiver": match (s.pipeline, &s.receiver) {
                (Pipeline::Broker, _) => "none",
                (_, Some(_)) => "client",
                (_, None) => "national",
            },
            "apprec_statuses": self.statuses,
            "apprec_check": self.apprec_check,
            "machine_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        })
    }
}

fn summary_line(v: &serde_json::Value) -> String {
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    format!(
        "[{}] {} msgs: send {:.0}/s (settle p50 {:.2} ms, p99 {:.2} ms), consume {:.0}/s, \
         end to end {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), broker CPU {:.0} µs/msg, dups {}",
        v["label"].as_str().unwrap_or("?"),
        v["consumed"],
        f("send_rate"),
        f("settle_p50_ms"),
        f("settle_p99_ms"),
        f("consume_rate"),
        f("end_to_end_rate"),
        f("e2e_p50_ms"),
        f("e2e_p99_ms"),
        f("broker_cpu_us_per_msg"),
        v["duplicates"],
    )
}

/// utime + stime of a process, in seconds (Linux /proc).
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat are utime and stime; `rest` starts at field 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((utime + stime) / 100.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Shared state of one round.
struct Shared {
    start: Instant,
    /// Send time of message i, in ns after `start` (0: not sent yet).
    sent_at: Vec<AtomicU64>,
    /// How often message i was received.
    seen: Vec<AtomicU8>,
    distinct: AtomicUsize,
    duplicates: AtomicUsize,
    not_accepted: AtomicUsize,
    last_send_done_ns: AtomicU64,
    last_consume_ns: AtomicU64,
    done: watch::Sender<bool>,
    failed: AtomicBool,
    /// broker+receiver: the first AppRec received (read after the round).
    apprec_sample: std::sync::Mutex<Option<AmqpMessage>>,
}

fn elapsed_ns(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64
}

/// The message-id: GUID-shaped, the round's tag and the message's index in the last group.
fn message_id(tag: u32, index: usize) -> String {
    format!("{tag:08x}-0000-4000-8000-{index:012}")
}

/// The index of a message of this round, from its message-id.
fn index_of(message: &AmqpMessage, tag: u32) -> Option<usize> {
    let id = match message.properties.as_ref()?.message_id.as_ref()? {
        MessageId::String(s) => s,
        _ => return None,
    };
    let (head, index) = id.rsplit_once('-')?;
    if !head.starts_with(&format!("{tag:08x}-")) {
        return None;
    }
    index.parse().ok()
}

/// The index of the message an AppRec answers, from its correlation-id.
fn index_of_correlation(message: &AmqpMessage, tag: u32) -> Option<usize> {
    let id = match message.properties.as_ref()?.correlation_id.as_ref()? {
        MessageId::String(s) => s,
        _ => return None,
    };
    let (head, index) = id.rsplit_once('-')?;
    if !head.starts_with(&format!("{tag:08x}-")) {
        return None;
    }
    index.parse().ok()
}

fn payload(size: usize, seed: u64) -> Vec<u8> {
    // xorshift: random-looking bytes, as an encrypted CMS payload is.
    let mut x = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An NHN-shaped message (DOMAIN.md §4). HOOK(receiver): for broker+receiver this is a
/// signed-and-enveloped IPLOS message from the reference sender instead of random bytes.
fn make_message(tag: u32, index: usize, body: &Binary) -> AmqpMessage {
    let id = message_id(tag, index);
    let properties = Properties::builder()
        .message_id(MessageId::String(id.clone()))
        .to(format!("{KPR_HER}_async"))
        .reply_to(format!("{KOMMUNE_HER}_async"))
        .subject("IPLOS")
        .correlation_id(MessageId::String(id))
        .content_type(CONTENT_TYPE)
        .build();
    let app = ApplicationProperties::builder()
        .insert("fromHerId", KOMMUNE_HER.to_string())
        .insert("toHerId", KPR_HER.to_string())
        .insert("applicationTimeStamp", "2019-01-03T08:15:00+01:00")
        .insert("cpaId", "cpa-load")
        .build();
    Message::builder()
        .header(Header {
            durable: true,
            ..Default::default()
        })
        .properties(properties)
        .application_properties(app)
        .body(Body::Data(vec![Data(body.clone())].into()))
        .build()
}

async fn connect(
    endpoint: &Endpoint,
    container_id: &str,
    hostname: Option<&str>,
) -> Res<(ConnectionHandle<()>, SessionHandle<()>)> {
    let tcp = tokio::net::TcpStream::connect(&endpoint.addr).await?;
    // fe2o3-amqp's Connection::open leaves Nagle on; both brokers turn it off on their side.
    tcp.set_nodelay(true)?;
    let mut connection = fe2o3_amqp::Connection::builder()
        .container_id(container_id)
        .hostname(hostname)
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: endpoint.user.clone(),
            password: endpoint.pass.clone(),
        })
        .open_with_stream(tcp)
        .await?;
    let session = Session::begin(&mut connection).await?;
    Ok((connection, session))
}

/// One round of `count` messages. broker+receiver: its IPLOS documents are numbered from
/// `first_document` on (the kommune's chain goes on from the previous round's).
async fn round(
    s: &Settings,
    count: usize,
    first_document: usize,
    what: &str,
    broker_pid: Option<u32>,
) -> Res<RoundResult> {
    let tag: u32 = rand_tag();
    let (done_tx, done_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        start: Instant::now(),
        sent_at: (0..count).map(|_| AtomicU64::new(0)).collect(),
        seen: (0..count).map(|_| AtomicU8::new(0)).collect(),
        distinct: AtomicUsize::new(0),
        duplicates: AtomicUsize::new(0),
        not_accepted: AtomicUsize::new(0),
        last_send_done_ns: AtomicU64::new(0),
        last_consume_ns: AtomicU64::new(0),
        done: done_tx,
        failed: AtomicBool::new(false),
        apprec_sample: std::sync::Mutex::new(None),
    });
    // broker+receiver: the real messages, built (signed, encrypted) before the round.
    let prebuilt: Option<Arc<Vec<AmqpMessage>>> = match &s.certs {
        Some(certs) => {
            let (certs, size) = (certs.clone(), s.size);
            let built = tokio::task::spawn_blocking(move || -> Result<_, String> {
                pipe::build(&certs, size, first_document, count, &|i| message_id(tag, i))
                    .map_err(|e| e.to_string())
            })
            .await??;
            Some(Arc::new(built))
        }
        None => None,
    };
    let size_sent = match &prebuilt {
        Some(m) => m
            .first()
            .map(|m| iplos_mocks::servicebus::encode_message(m).map_or(0, |b| b.len()))
            .unwrap_or(0),
        None => iplos_mocks::servicebus::encode_message(&make_message(
            tag,
            0,
            &Binary::from(payload(s.size, 1)),
        ))
        .map_or(0, |b| b.len()),
    };
    // broker+receiver with the receiver role: it runs beside the round.
    let mut roles = Vec::new();
    if let (Some((endpoint, n)), Some(certs)) = (&s.receiver, &s.certs) {
        for _ in 0..*n {
            roles.push(tokio::spawn(pipe::client_role(
                endpoint.clone(),
                s.hostname.clone(),
                (**certs).clone(),
                s.credit,
                s.chain.clone(),
                done_rx.clone(),
            )));
        }
    }

    // Connect everything first, so that connection set-up is not measured.
    let mut producer_links = Vec::new();
    for i in 0..s.producers {
        let (conn, mut session) = connect(
            &s.producer,
            &format!("sb-load-{what}-p{i}"),
            s.hostname.as_deref(),
        )
        .await?;
        let sender = Sender::attach(&mut session, format!("load-{what}-p{i}"), s.target.as_str())
            .await
            .map_err(|e| format!("attach sender to {}: {e}", s.target))?;
        producer_links.push((conn, session, sender));
    }
    // In split mode the receivers attach when consuming starts: a receiver with credit that
    // nobody reads from makes fe2o3-amqp's session engine spin while the broker pushes.
    let mut consumer_links = Vec::new();
    for i in 0..if s.produce_only { 0 } else { s.consumers } {
        let (conn, mut session) = connect(
            &s.consumer,
            &format!("sb-load-{what}-c{i}"),
            s.hostname.as_deref(),
        )
        .await?;
        let receiver = if s.split {
            None
        } else {
            Some(attach_receiver(&mut session, s, &format!("load-{what}-c{i}")).await?)
        };
        consumer_links.push((conn, session, receiver, format!("load-{what}-c{i}")));
    }

    let load_before = loadavg();
    let broker_cpu0 = broker_pid.and_then(cpu_secs);
    let driver_cpu0 = cpu_secs(std::process::id());
    let t0 = Instant::now();
    let t0_ns = t0.duration_since(shared.start).as_nanos() as u64;

    // Producers: message i goes to producer i % N.
    let mut producer_tasks = Vec::new();
    for (p, (conn, session, sender)) in producer_links.into_iter().enumerate() {
        let shared = shared.clone();
        let (n, window, size) = (s.producers, s.window, s.size);
        let prebuilt = prebuilt.clone();
        producer_tasks.push(tokio::spawn(async move {
            let body = Binary::from(payload(size, 0x9e37_79b9_7f4a_7c15 ^ p as u64));
            produce(
                conn,
                session,
                sender,
                (p..count).step_by(n),
                window,
                Messages { body, prebuilt },
                tag,
                shared,
            )
            .await
        }));
    }
    type ConsumerLink = (
        ConnectionHandle<()>,
        SessionHandle<()>,
        Option<Receiver>,
        String,
    );
    let start_consumers = |links: Vec<ConsumerLink>| {
        links
            .into_iter()
            .map(|(conn, mut session, receiver, name)| {
                let shared = shared.clone();
                let done = done_rx.clone();
                let settings = s.clone();
                let by_correlation = s.pipeline == Pipeline::BrokerAndReceiver;
                tokio::spawn(async move {
                    let receiver = match receiver {
                        Some(r) => r,
                        None => attach_receiver(&mut session, &settings, &name).await?,
                    };
                    consume(
                        conn,
                        session,
                        receiver,
                        tag,
                        count,
                        by_correlation,
                        shared,
                        done,
                    )
                    .await
                })
            })
            .collect::<Vec<_>>()
    };
    let mut settle_us = Vec::with_capacity(count);
    let consumer_tasks;
    if s.split {
        for t in producer_tasks {
            settle_us.extend(t.await??);
        }
        consumer_tasks = start_consumers(consumer_links);
    } else {
        consumer_tasks = start_consumers(consumer_links);
        for t in producer_tasks {
            settle_us.extend(t.await??);
        }
    }
    let mut e2e_us = Vec::with_capacity(count);
    for t in consumer_tasks {
        e2e_us.extend(t.await??);
    }
    let total = t0.elapsed();
    let _ = shared.done.send(true);
    let mut statuses = BTreeMap::new();
    for r in roles {
        for (k, v) in r.await?? {
            *statuses.entry(k).or_insert(0) += v;
        }
    }
    let sample = shared
        .apprec_sample
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let apprec_check = match (&s.certs, sample) {
        (Some(certs), Some(m)) => Some(match pipe::read_apprec_status(certs, &m) {
            Ok(status) => {
                format!("first AppRec decrypted and verified by the kommune: status {status}")
            }
            Err(e) => format!("first AppRec NOT valid: {e}"),
        }),
        _ => None,
    };
    let broker_cpu = match (broker_cpu0, broker_pid.and_then(cpu_secs)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let driver_cpu = match (driver_cpu0, cpu_secs(std::process::id())) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    if shared.failed.load(Ordering::SeqCst) {
        return Err("a producer or consumer failed (see above)".into());
    }
    let ns = |a: u64| a.saturating_sub(t0_ns) as f64 / 1e9;
    let send_secs = ns(shared.last_send_done_ns.load(Ordering::SeqCst));
    let last_consume = shared.last_consume_ns.load(Ordering::SeqCst);
    // In split mode consuming starts when sending is over; in concurrent mode at t0.
    let consume_secs = if s.split {
        (last_consume.saturating_sub(shared.last_send_done_ns.load(Ordering::SeqCst))) as f64 / 1e9
    } else {
        ns(last_consume)
    };
    Ok(RoundResult {
        sent: settle_us.len(),
        consumed: shared.distinct.load(Ordering::SeqCst),
        duplicates: shared.duplicates.load(Ordering::SeqCst),
        not_accepted: shared.not_accepted.load(Ordering::SeqCst),
        send_secs,
        consume_secs,
        total_secs: total.as_secs_f64(),
        settle_us,
        e2e_us: if s.split { Vec::new() } else { e2e_us },
        broker_cpu_secs: broker_cpu,
        driver_cpu_secs: driver_cpu,
        load_before,
        size_sent,
        statuses,
        apprec_check,
    })
}

async fn attach_receiver(
    session: &mut SessionHandle<()>,
    s: &Settings,
    name: &str,
) -> Res<Receiver> {
    Ok(Receiver::builder()
        .name(name)
        .source(s.source.as_str())
        .credit_mode(CreditMode::Auto(s.credit))
        .attach(session)
        .await
        .map_err(|e| format!("attach receiver to {}: {e}", s.source))?)
}

fn rand_tag() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(1);
    nanos ^ std::process::id().rotate_left(16)
}

/// What a producer sends: NHN-shaped messages around `body`, or the prebuilt ones.
struct Messages {
    body: Binary,
    prebuilt: Option<Arc<Vec<AmqpMessage>>>,
}

/// Sends its messages with up to `window` unsettled at once; returns the settle latencies
/// (send start → Accepted), in µs.
#[allow(clippy::too_many_arguments)]
async fn produce(
    mut conn: ConnectionHandle<()>,
    mut session: SessionHandle<()>,
    mut sender: Sender,
    indices: impl Iterator<Item = usize>,
    window: usize,
    messages: Messages,
    tag: u32,
    shared: Arc<Shared>,
) -> Res<Vec<u64>> {
    let permits = Arc::new(Semaphore::new(window));
    let mut waits = Vec::new();
    for i in indices {
        let permit = permits.clone().acquire_owned().await?;
        let message = match &messages.prebuilt {
            Some(m) => m[i].clone(),
            None => make_message(tag, i, &messages.body),
        };
        let t = elapsed_ns(shared.start);
        shared.sent_at[i].store(t.max(1), Ordering::SeqCst);
        let fut = match sender.send_batchable(message).await {
            Ok(fut) => fut,
            Err(e) => {
                shared.failed.store(true, Ordering::SeqCst);
                return Err(format!("send: {e}").into());
            }
        };
        let shared = shared.clone();
        waits.push(tokio::spawn(async move {
            let outcome = fut.await;
            let now = elapsed_ns(shared.start);
            shared.last_send_done_ns.fetch_max(now, Ordering::SeqCst);
            drop(permit);
            match outcome {
                Ok(Outcome::Accepted(_)) => Ok((now - t) / 1000),
                Ok(other) => {
                    shared.failed.store(true, Ordering::SeqCst);
                    Err(format!("message {i} not accepted: {other:?}"))
                }
                Err(e) => {
                    shared.failed.store(true, Ordering::SeqCst);
                    Err(format!("message {i}: {e}"))
                }
            }
        }));
    }
    let mut latencies = Vec::with_capacity(waits.len());
    for w in waits {
        latencies.push(w.await??);
    }
    let _ = sender.close().await;
    let _ = session.end().await;
    let _ = conn.close().await;
    Ok(latencies)
}

/// Receives and accepts until every message of the round has been seen (by any consumer);
/// returns the end-to-end latencies (send start → received), in µs.
#[allow(clippy::too_many_arguments)]
async fn consume(
    mut conn: ConnectionHandle<()>,
    mut session: SessionHandle<()>,
    mut receiver: Receiver,
    tag: u32,
    count: usize,
    by_correlation: bool,
    shared: Arc<Shared>,
    mut done: watch::Receiver<bool>,
) -> Res<Vec<u64>> {
    let mut latencies = Vec::new();
    loop {
        let delivery = tokio::select! {
            biased;
            _ = done.wait_for(|d| *d) => break,
            d = receiver.recv::<Body<Value>>() => d,
        };
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                shared.failed.store(true, Ordering::SeqCst);
                let _ = shared.done.send(true);
                return Err(format!("recv: {e}").into());
            }
        };
        let now = elapsed_ns(shared.start);
        let index = if by_correlation {
            index_of_correlation(delivery.message(), tag)
        } else {
            index_of(delivery.message(), tag)
        }
        .filter(|&i| i < count);
        if by_correlation && index.is_some() {
            let mut sample = shared
                .apprec_sample
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if sample.is_none() {
                *sample = Some(delivery.message().clone());
            }
        }
        if let Err(e) = receiver.accept(&delivery).await {
            shared.not_accepted.fetch_add(1, Ordering::SeqCst);
            shared.failed.store(true, Ordering::SeqCst);
            let _ = shared.done.send(true);
            return Err(format!("accept: {e}").into());
        }
        let Some(i) = index else {
            // Left over from an earlier round or run: accepted, not counted.
            continue;
        };
        if shared.seen[i].fetch_add(1, Ordering::SeqCst) > 0 {
            shared.duplicates.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let sent = shared.sent_at[i].load(Ordering::SeqCst);
        latencies.push(now.saturating_sub(sent) / 1000);
        let done_now = elapsed_ns(shared.start);
        shared.last_consume_ns.fetch_max(done_now, Ordering::SeqCst);
        if shared.distinct.fetch_add(1, Ordering::SeqCst) + 1 == count {
            let _ = shared.done.send(true);
        }
    }
    let _ = receiver.close().await;
    let _ = session.end().await;
    let _ = conn.close().await;
    Ok(latencies)
}

// ---------------------------------------------------------------------------------------
// broker+receiver: real IPLOS messages, CMS, the national receiver
// ---------------------------------------------------------------------------------------

/// The pieces of `--pipeline broker+receiver`: a test PKI (the register and the kommune
/// 123), IPLOS messages signed and encrypted by the reference sender's message builder,
/// and the receiver role that runs as an AMQP client of either broker.
mod pipe {
    use std::path::Path;
    use std::sync::Arc;

    use chrono::Utc;
    use fe2o3_amqp::link::receiver::CreditMode;
    use fe2o3_amqp::types::messaging::Outcome;
    use fe2o3_amqp::{Receiver, Sender};
    use fe2o3_amqp_types::messaging::{
        ApplicationProperties, Body, Data, Message, MessageId, Properties,
    };
    use fe2o3_amqp_types::primitives::{Binary, Value};
    use iplos_mocks::cms::{self, TrustStore};
    use iplos_mocks::nhn;
    use iplos_mocks::pki::{Party, Pki, Variant};
    use iplos_mocks::receiver::{
        Receiver as NationalReceiver, ReceiverConfig, ReceiverHandle, RunStore, StaticDirectory,
        apprec_errors, apprec_status,
    };
    use iplos_mocks::sender::{
        Counterpart, SenderIdentity, build_message, melding_xml, sample_melding,
    };
    use iplos_mocks::servicebus::{AmqpMessage, Bus};
    use iplos_model::ids::OrgNr;
    use iplos_model::message::{
        AppRec, AppRecParty, Coded, Melding, OriginalMsgId, read_msghead, write_apprec,
    };
    use iplos_model::rules::{CheckOptions, ContentState, check_stream};
    use tokio::sync::watch;

    use super::{Endpoint, KOMMUNE_HER, KPR_HER, NAMESPACE, Res, connect, her};

    /// The data year of the messages and of the receiver's check.
    pub const YEAR: i32 = 2024;
    const KOMMUNE_NR: &str = "0301";
    const KOMMUNE_NAME: &str = "Oslo kommune";
    const REGISTER_NAME: &str = "KPR";

    /// The certificates of a run.
    #[derive(Clone)]
    pub struct Certs {
        pub register: Party,
        pub kommune: Party,
        pub trust: Arc<TrustStore>,
    }

    impl std::fmt::Debug for Certs {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Certs").finish_non_exhaustive()
        }
    }

    /// Creates the test PKI in `dir`: the register's pair and one for the kommune 123.
    pub fn create_pki(dir: &Path) -> Res<()> {
        let mut pki = Pki::init(dir)?;
        let orgnr = OrgNr::parse("974778874").map_err(|e| e.to_string())?;
        pki.issue(her(KOMMUNE_HER), &orgnr, KOMMUNE_NAME)?;
        Ok(())
    }

    /// Loads the PKI of `dir`.
    pub fn load(dir: &Path) -> Res<Certs> {
        let pki = Pki::load(dir)?;
        Ok(Certs {
            register: pki.register()?,
            kommune: pki.party(her(KOMMUNE_HER), Variant::Valid)?,
            trust: Arc::new(pki.trust_store()?),
        })
    }

    /// IPLOS document `index` of about `size` bytes once in a MsgHead, signed and
    /// encrypted: sample messages of the kommune (one person's long-term stay each, new
    /// persons for each document) merged until it is big enough, the notifications
    /// numbered on from the previous document's (the check wants them increasing per
    /// kommune; the receiver sees them in that order unless producers overtake each other).
    pub fn iplos(size: usize, index: usize) -> Vec<u8> {
        let mut m = melding(size, index);
        // The chain goes on from the previous document's last notification.
        let previous = match index {
            0 => None,
            i => melding(size, i - 1)
                .notifikasjoner
                .last()
                .map(|n| n.guid.clone()),
        };
        if let (Some(first), Some(prev)) = (m.notifikasjoner.first_mut(), previous) {
            first.forrige_guid = prev;
        }
        melding_xml(&m)
    }

    fn melding(size: usize, index: usize) -> Melding {
        let seed0 = index as u64 * 1000;
        let mut merged: Melding = sample_melding(KOMMUNE_NR, YEAR, seed0);
        let mut seed = 1;
        // Signed-and-enveloped CMS adds about 3 kB (certificate, signature, headers).
        while melding_xml(&merged).len() + 3000 < size && seed < 500 {
            let more = sample_melding(KOMMUNE_NR, YEAR, seed0 + seed);
            merged.notifikasjoner.extend(more.notifikasjoner);
            seed += 1;
        }
        let first = 1 + index * 1000;
        let mut previous: Option<String> = None;
        for (k, n) in merged.notifikasjoner.iter_mut().enumerate() {
            n.lopenr = (first + k).to_string();
            n.tid = format!(
                "{YEAR}-12-02T{:02}:{:02}:{:02}",
                8 + k / 3600,
                (k / 60) % 60,
                k % 60
            );
            if let Some(p) = previous.take() {
                n.forrige_guid = p;
            }
            previous = Some(n.guid.clone());
        }
        merged
    }

    /// `count` messages built by the reference sender's builder (MsgHead, signed by the
    /// kommune, encrypted for the register), message-id `id_of(i)`; built on all cores.
    pub fn build(
        certs: &Certs,
        size: usize,
        first: usize,
        count: usize,
        id_of: &(dyn Fn(usize) -> String + Sync),
    ) -> Res<Vec<AmqpMessage>> {
        let identity = SenderIdentity {
            party: certs.kommune.clone(),
            register: Counterpart::from_party(&certs.register, her(KPR_HER)),
            trust: certs.trust.clone(),
        };
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = count.div_ceil(threads).max(1);
        let parts: Vec<Res<Vec<AmqpMessage>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..count)
                .step_by(chunk)
                .map(|from| {
                    let identity = &identity;
                    s.spawn(move || {
                        (from..(from + chunk).min(count))
                            .map(|i| {
                                let mut out = build_message(
                                    identity,
                                    &iplos(size, first + i),
                                    &[],
                                    Utc::now(),
                                )
                                .map_err(|e| e.to_string())?;
                                let id = id_of(i);
                                let props = out
                                    .message
                                    .properties
                                    .get_or_insert_with(Properties::default);
                                props.message_id = Some(MessageId::String(id.clone()));
                                props.correlation_id = Some(MessageId::String(id));
                                Ok(out.message)
                            })
                            .collect::<Res<Vec<_>>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("builder thread panicked".into()))
                })
                .collect()
        });
        let mut all = Vec::with_capacity(count);
        for p in parts {
            all.extend(p?);
        }
        Ok(all)
    }

    /// The national receiver (`mocks::receiver`) in-process on our broker, on the broker's
    /// run store, for the register HER-id 131725.
    pub async fn start_national(
        bus: Bus,
        store: Arc<RunStore>,
        certs: &Certs,
        pki_dir: &Path,
    ) -> Res<ReceiverHandle> {
        let pki = Pki::load(pki_dir)?;
        let directory = StaticDirectory::new(pki.trust_store()?);
        directory.register_party(&certs.kommune);
        let config = ReceiverConfig {
            her_ids: vec![her(KPR_HER)],
            name: REGISTER_NAME.into(),
            data_year: Some(YEAR),
            ..ReceiverConfig::default()
        };
        Ok(NationalReceiver::start(
            bus,
            store,
            certs.register.clone(),
            Arc::new(directory),
            config,
        )
        .await?)
    }

    /// What the receiver role does with one message, with the functions the national
    /// receiver uses: decrypt and verify (`mocks::cms`, signer pinned to the kommune's
    /// certificate), read the MsgHead, check the IPLOS content (`check_stream`, the
    /// kommune's chain kept across messages), map the findings to an AppRec
    /// (`mocks::receiver::apprec_status`/`apprec_errors`), sign it with the register's key
    /// and encrypt it for the kommune. Returns the AppRec message and its status code.
    pub fn judge(
        certs: &Certs,
        m: &AmqpMessage,
        state: &mut ContentState,
    ) -> Result<(AmqpMessage, String), String> {
        let now = Utc::now();
        let data = nhn::single_data(m).map_err(|s| format!("the message has {s}"))?;
        let verified = cms::decrypt_then_verify(
            data,
            &certs.register.encryption.cert,
            &certs.register.encryption.key,
            &certs.trust,
            Some(&certs.kommune.signing.cert),
            now,
        )
        .map_err(|e| e.to_string())?;
        let info = read_msghead(&verified.content).map_err(|e| e.to_string())?;
        let options = CheckOptions {
            data_year: Some(YEAR),
            test_mode: true,
            ..CheckOptions::default()
        };
        let report = {
            let doc = info.content_document();
            check_stream(&doc[..], &options, state, &mut |_| {})
        };
        let status = apprec_status(&report);
        let status_code = status.code().to_string();
        if std::env::var_os("SB_LOAD_FINDINGS").is_some() {
            for f in &report.findings {
                eprintln!("finding {} {:?}: {}", f.rule, f.severity, f.message);
            }
        }
        let mut apprec = AppRec::new(
            &nhn::new_guid(),
            &nhn::format_timestamp(now),
            AppRecParty::new(REGISTER_NAME, &KPR_HER.to_string()),
            AppRecParty::new(KOMMUNE_NAME, &KOMMUNE_HER.to_string()),
            status,
            OriginalMsgId {
                msg_type: Coded::cs(&info.msg_type.v, "IPLOS-melding til KPR"),
                issue_date: info.gen_date.clone(),
                id: info.msg_id.clone(),
            },
        );
        apprec.errors = apprec_errors(&report, 100);
        let xml = write_apprec(&apprec);
        let payload = cms::sign_then_encrypt(
            &xml,
            &certs.register.signing.cert,
            &certs.register.signing.key,
            &certs.kommune.encryption.cert,
            now,
        )
        .map_err(|e| e.to_string())?;
        let props = Properties::builder()
            .message_id(MessageId::String(nhn::new_guid()))
            .to(format!("{KOMMUNE_HER}_async"))
            .reply_to(format!("{KPR_HER}_async"))
            .subject(nhn::SUBJECT_APPREC)
            .content_type(nhn::CONTENT_TYPE_SIGNED_ENVELOPED);
        let props = match nhn::message_id(m) {
            Some(id) => props.correlation_id(MessageId::String(id)),
            None => props,
        };
        let app = ApplicationProperties::builder()
            .insert(nhn::FROM_HER_ID, KPR_HER.to_string())
            .insert(nhn::TO_HER_ID, KOMMUNE_HER.to_string())
            .insert(nhn::APPLICATION_TIMESTAMP, nhn::format_timestamp(now))
            .build();
        let message = Message::builder()
            .properties(props.build())
            .application_properties(app)
            .body(Body::Data(vec![Data(Binary::from(payload))].into()))
            .build();
        Ok((message, status_code))
    }

    /// Reads an AppRec as the kommune would (decrypt, verify against the register's
    /// certificate, parse); its status code.
    pub fn read_apprec_status(certs: &Certs, m: &AmqpMessage) -> Result<String, String> {
        let identity = SenderIdentity {
            party: certs.kommune.clone(),
            register: Counterpart::from_party(&certs.register, her(KPR_HER)),
            trust: certs.trust.clone(),
        };
        iplos_mocks::sender::read_apprec_message(&identity, m, Utc::now())
            .map(|r| r.apprec.status.code().to_string())
    }

    /// The receiver role as an AMQP client (the same code for both brokers): consumes the
    /// register's queue as KPR, one message at a time (as the national receiver does),
    /// judges it on a blocking thread, sends the AppRec to the kommune's queue and waits
    /// for the broker's Accepted, then accepts the message. Returns the AppRecs sent per
    /// status code.
    pub async fn client_role(
        endpoint: Endpoint,
        hostname: Option<String>,
        certs: Certs,
        credit: u32,
        chain: Arc<std::sync::Mutex<ContentState>>,
        mut done: watch::Receiver<bool>,
    ) -> Res<std::collections::BTreeMap<String, usize>> {
        let (mut conn, mut session) =
            connect(&endpoint, "sb-load-receiver", hostname.as_deref()).await?;
        let mut rx = Receiver::builder()
            .name("kpr-receiver")
            .source(format!("/amq/queue/{KPR_HER}_async"))
            .credit_mode(CreditMode::Auto(credit))
            .attach(&mut session)
            .await
            .map_err(|e| format!("receiver role: attach to {KPR_HER}_async: {e}"))?;
        let mut tx = Sender::attach(
            &mut session,
            "kpr-apprec",
            format!("/exchange/{NAMESPACE}/{KOMMUNE_HER}_async"),
        )
        .await
        .map_err(|e| format!("receiver role: attach to {KOMMUNE_HER}_async: {e}"))?;
        let certs = Arc::new(certs);
        let mut statuses = std::collections::BTreeMap::new();
        loop {
            let delivery = tokio::select! {
                biased;
                _ = done.wait_for(|d| *d) => break,
                d = rx.recv::<Body<Value>>() => d.map_err(|e| format!("receiver role: recv: {e}"))?,
            };
            let message = delivery.message().clone();
            let (certs2, chain) = (certs.clone(), chain.clone());
            let judged = tokio::task::spawn_blocking(move || {
                let mut state = chain.lock().unwrap_or_else(|p| p.into_inner());
                judge(&certs2, &message, &mut state)
            })
            .await?;
            match judged {
                Ok((reply, status)) => {
                    match tx.send(reply).await {
                        Ok(Outcome::Accepted(_)) => {}
                        other => {
                            return Err(
                                format!("receiver role: AppRec not accepted: {other:?}").into()
                            );
                        }
                    }
                    rx.accept(&delivery).await?;
                    *statuses.entry(status).or_insert(0) += 1;
                }
                Err(e) => {
                    eprintln!("receiver role: message not judged: {e}");
                    rx.reject(&delivery, None).await?;
                    *statuses.entry("not judged".to_string()).or_insert(0) += 1;
                }
            }
        }
        let _ = rx.close().await;
        let _ = tx.close().await;
        let _ = session.end().await;
        let _ = conn.close().await;
        Ok(statuses)
    }
}

// ---------------------------------------------------------------------------------------
// report: the table
// ---------------------------------------------------------------------------------------

fn report(args: &[String]) -> Res<()> {
    let path = args.first().ok_or("usage: sb_load report FILE")?;
    let text = std::fs::read_to_string(path)?;
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let header = [
        "broker",
        "pipeline",
        "phase",
        "msgs",
        "send/s",
        "settle p50/p99 ms",
        "consume/s",
        "e2e/s",
        "e2e p50/p99 ms",
        "broker CPU µs/msg",
    ];
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in &rows {
        table.push(vec![
            r["label"].as_str().unwrap_or("?").to_string(),
            r["pipeline"].as_str().unwrap_or("?").to_string(),
            r["phase"].as_str().unwrap_or("?").to_string(),
            r["consumed"].to_string(),
            format!("{:.0}", f(r, "send_rate")),
            format!(
                "{:.2} / {:.2}",
                f(r, "settle_p50_ms"),
                f(r, "settle_p99_ms")
            ),
            format!("{:.0}", f(r, "consume_rate")),
            format!("{:.0}", f(r, "end_to_end_rate")),
            if r["phase"] == "split" {
                "-".to_string()
            } else {
                format!("{:.1} / {:.1}", f(r, "e2e_p50_ms"), f(r, "e2e_p99_ms"))
            },
            format!("{:.0}", f(r, "broker_cpu_us_per_msg")),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            table
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (n, row) in table.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                let pad = w - cell.chars().count();
                if c < 3 {
                    format!("{cell}{}", " ".repeat(pad))
                } else {
                    format!("{}{cell}", " ".repeat(pad))
                }
            })
            .collect();
        println!("| {} |", cells.join(" | "));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("|-{}-|", rule.join("-|-"));
        }
    }
    // Medians over the rounds of each broker, pipeline and phase.
    let mut groups: BTreeMap<(String, String, String), Vec<&serde_json::Value>> = BTreeMap::new();
    for r in &rows {
        let key = |k: &str| r[k].as_str().unwrap_or("?").to_string();
        groups
            .entry((key("pipeline"), key("phase"), key("label")))
            .or_default()
            .push(r);
    }
    let median = |rs: &[&serde_json::Value], k: &str| {
        let mut v: Vec<f64> = rs
            .iter()
            .map(|r| f(r, k))
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    };
    println!();
    println!("medians (msg/s):");
    println!("| pipeline | phase | broker | rounds | send | consume | end to end | size sent |");
    println!("|---|---|---|---|---|---|---|---|");
    for ((pipeline, phase, label), rs) in &groups {
        println!(
            "| {pipeline} | {phase} | {label} | {} | {:.0} | {:.0} | {:.0} | {} |",
            rs.len(),
            median(rs, "send_rate"),
            median(rs, "consume_rate"),
            median(rs, "end_to_end_rate"),
            rs[0]["size_sent"],
        );
    }
    for r in &rows {
        if let Some(check) = r["apprec_check"].as_str() {
            println!(
                "{} {}: {check}; AppRecs by status: {}",
                r["label"].as_str().unwrap_or("?"),
                r["receiver"].as_str().unwrap_or("?"),
                r["apprec_statuses"]
            );
        }
    }
    Ok(())
}
