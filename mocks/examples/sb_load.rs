//! Load driver for the service bus: messages per second and latency of 10 kB IPLOS-shaped
//! messages through an AMQP 1.0 broker, measured with one client (fe2o3-amqp) so that our
//! broker and RabbitMQ are compared like for like.
//!
//! ```text
//! sb_load serve [--port P] [--state-dir DIR]
//!     Our broker (mocks::servicebus) on 127.0.0.1:P with a SQLite store in DIR (a temp dir
//!     by default), participants 123 (kommune0301) and 131725 (kpr). Prints
//!     `listening 127.0.0.1:P pid N` and serves until its standard input closes.
//!
//! sb_load run --label NAME (--spawn-ours | --url amqp://USER:PASS@HOST:PORT) [options]
//!     One measured round (after a warm-up) against a broker; prints a summary and, with
//!     --json FILE, appends one JSON line to FILE.
//!       --spawn-ours            start `sb_load serve` as a child process (a broker in its own
//!                               process, as RabbitMQ is) and measure it
//!       --url URL               the producers' connection (default user kommune0301)
//!       --consumer-url URL      the consumers' connection (default: URL with user kpr)
//!       --target ADDR           default /exchange/NHNTESTServiceBus/131725_async
//!       --source ADDR           default /amq/queue/131725_async
//!       --hostname H            the open frame's hostname (RabbitMQ: vhost:<vhost>)
//!       --broker-pid PID        a process whose CPU time is reported (RabbitMQ's beam.smp)
//!       --messages N (20000)  --warmup N (2000)  --size BYTES (10240)
//!       --producers N (4)  --consumers M (2)  --window W (16: unsettled sends per producer)
//!       --credit C (200: consumer link credit)
//!       --phase concurrent|split  (concurrent: consumers drain while producers send;
//!                               split: send everything, then consume everything)
//!       --pipeline broker|broker+receiver
//!                               broker: the broker alone. broker+receiver: HOOK, see
//!                               `Pipeline::BrokerAndReceiver` (not wired yet)
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
use iplos_mocks::servicebus::{AmqpMessage, BrokerConfig};
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
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let broker = BrokerConfig::new()
            .with_namespace(NAMESPACE)
            .with_bind(([127, 0, 0, 1], port).into())
            .with_state_dir(&state_dir)
            .with_participant(her(KOMMUNE_HER), KOMMUNE_USER, KOMMUNE_PASS)
            .with_participant(her(KPR_HER), KPR_USER, KPR_PASS)
            .start()
            .await?;
        // HOOK(receiver): for `--pipeline broker+receiver` the national receiver
        // (mocks::receiver, being written) is started here on `broker.bus()`, consuming
        // 131725_async in-process and answering with AppRecs to the sender's 123_async.
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
    fn spawn() -> Res<OurBroker> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("serve")
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
    /// HOOK(receiver): broker + national receiver, CMS included. Not wired yet: the receiver
    /// (`mocks/src/receiver.rs`) and the reference sender (`mocks/src/sender.rs`) are being
    /// written. When they exist:
    /// 1. the payload is a real signed-and-enveloped IPLOS message of about `--size` bytes
    ///    made once per producer by the reference sender (`make_message`);
    /// 2. `sb_load serve` starts the receiver on `broker.bus()` (see HOOK in `serve`); for
    ///    RabbitMQ the receiver runs as an AMQP client of it (same queues);
    /// 3. the consumers log in as the kommune (123) and consume the AppRecs from
    ///    `/amq/queue/123_async`; a message counts as through when its AppRec arrives, matched
    ///    by the AppRec's correlation to the original message-id (`index_of`).
    BrokerAndReceiver,
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
}

fn run(args: &[String]) -> Res<()> {
    let opts = Opts::parse(args, &["spawn-ours"])?;
    let pipeline = Pipeline::parse(opts.str("pipeline").unwrap_or("broker"))?;
    if pipeline == Pipeline::BrokerAndReceiver {
        return Err(
            "--pipeline broker+receiver is a hook for the receiver (mocks::receiver), \
                    which is not written yet; see Pipeline::BrokerAndReceiver"
                .into(),
        );
    }
    let ours = if opts.flag("spawn-ours") {
        Some(OurBroker::spawn()?)
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
    let settings = Settings {
        label: opts.str("label").unwrap_or("broker").to_string(),
        pipeline,
        producer,
        consumer,
        hostname: opts.str("hostname").map(str::to_string),
        target: opts
            .str("target")
            .map(str::to_string)
            .unwrap_or(format!("/exchange/{NAMESPACE}/{KPR_HER}_async")),
        source: opts
            .str("source")
            .map(str::to_string)
            .unwrap_or(format!("/amq/queue/{KPR_HER}_async")),
        messages: opts.num("messages", 20_000)?,
        warmup: opts.num("warmup", 2_000)?,
        size: opts.num("size", 10 * 1024)?,
        producers: opts.num::<usize>("producers", 4)?.max(1),
        consumers: opts.num::<usize>("consumers", 2)?.max(1),
        window: opts.num::<usize>("window", 16)?.max(1),
        credit: opts.num::<u32>("credit", 200)?.max(1),
        split: match opts.str("phase").unwrap_or("concurrent") {
            "concurrent" => false,
            "split" => true,
            other => return Err(format!("--phase: '{other}' (concurrent | split)").into()),
        },
    };
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async {
        if settings.warmup > 0 {
            eprintln!("[{}] warm-up: {} messages", settings.label, settings.warmup);
            round(&settings, settings.warmup, "warmup", None).await?;
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
        round(&settings, settings.messages, "run", broker_pid).await
    });
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

async fn round(
    s: &Settings,
    count: usize,
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
    });

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
    let mut consumer_links = Vec::new();
    for i in 0..s.consumers {
        let (conn, mut session) = connect(
            &s.consumer,
            &format!("sb-load-{what}-c{i}"),
            s.hostname.as_deref(),
        )
        .await?;
        let receiver = Receiver::builder()
            .name(format!("load-{what}-c{i}"))
            .source(s.source.as_str())
            .credit_mode(CreditMode::Auto(s.credit))
            .attach(&mut session)
            .await
            .map_err(|e| format!("attach receiver to {}: {e}", s.source))?;
        consumer_links.push((conn, session, receiver));
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
        producer_tasks.push(tokio::spawn(async move {
            let body = Binary::from(payload(size, 0x9e37_79b9_7f4a_7c15 ^ p as u64));
            produce(
                conn,
                session,
                sender,
                (p..count).step_by(n),
                window,
                body,
                tag,
                shared,
            )
            .await
        }));
    }
    let start_consumers = |links: Vec<(ConnectionHandle<()>, SessionHandle<()>, Receiver)>| {
        links
            .into_iter()
            .map(|(conn, session, receiver)| {
                let shared = shared.clone();
                let done = done_rx.clone();
                tokio::spawn(consume(conn, session, receiver, tag, count, shared, done))
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
    })
}

fn rand_tag() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(1);
    nanos ^ std::process::id().rotate_left(16)
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
    body: Binary,
    tag: u32,
    shared: Arc<Shared>,
) -> Res<Vec<u64>> {
    let permits = Arc::new(Semaphore::new(window));
    let mut waits = Vec::new();
    for i in indices {
        let permit = permits.clone().acquire_owned().await?;
        let message = make_message(tag, i, &body);
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
async fn consume(
    mut conn: ConnectionHandle<()>,
    mut session: SessionHandle<()>,
    mut receiver: Receiver,
    tag: u32,
    count: usize,
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
        let index = index_of(delivery.message(), tag).filter(|&i| i < count);
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
    Ok(())
}
