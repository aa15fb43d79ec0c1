//! The national receiver alone (criterion): one kommune's signed and encrypted IPLOS
//! messages, each continuing the kommune's notification chain, put straight into the
//! register's queue of an in-process broker (no AMQP connection), and the AppRecs taken
//! from the kommune's queue. What is measured is the receiver's whole path per message:
//! run store bookkeeping, decrypt and verify, MsgHead, the IPLOS check against the
//! kommune's content state, AppRec signed and encrypted, settle and publish.
//!
//! First the history: `IPLOS_BENCH_HISTORY` messages (20 000 by default) through a fresh
//! receiver, fed in batches (built before they are timed), with the throughput printed over
//! the first 200, the first 2 000 and all of them, and over the last batch before each of
//! those points (the cost of a message must not grow with the kommune's history). Then
//! criterion measures batches of 50 messages after that history:
//! `receiver/after_<history>`.
//!
//! `cargo bench -p iplos-mocks --bench receiver`
//! (`IPLOS_BENCH_HISTORY=2000 cargo bench -p iplos-mocks --bench receiver` for a quick run)

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iplos_mocks::pki::Pki;
use iplos_mocks::receiver::{Receiver, ReceiverConfig, ReceiverHandle, RunStore, StaticDirectory};
use iplos_mocks::sender::{
    Counterpart, SenderIdentity, build_message, melding_xml, sample_melding,
};
use iplos_mocks::servicebus::{AmqpMessage, BrokerConfig, BrokerHandle, Bus, Consumer};
use iplos_model::calendar::SystemClock;
use iplos_model::ids::{HerId, OrgNr};
use tokio::runtime::Runtime;

const NS: &str = "NHNTESTServiceBus";
const KPR: u32 = 131_725;
const KOMMUNE: u32 = 9_000_301;
const KNR: &str = "0301";
const YEAR: i32 = 2024;
const BATCH: usize = 50;

fn her(n: u32) -> HerId {
    HerId::new(n).expect("a HER-id")
}

/// The kommune's message number `i` (0-based): a sample message (two notifications)
/// whose first notification continues from message `i - 1`'s last, numbered on.
fn document(i: usize) -> Vec<u8> {
    let mut m = sample_melding(KNR, YEAR, i as u64);
    let previous = (i > 0).then(|| {
        sample_melding(KNR, YEAR, i as u64 - 1)
            .notifikasjoner
            .last()
            .map(|n| n.guid.clone())
            .unwrap_or_default()
    });
    for (k, n) in m.notifikasjoner.iter_mut().enumerate() {
        n.lopenr = (1 + 2 * i + k).to_string();
        if k == 0
            && let Some(p) = &previous
        {
            n.forrige_guid = p.clone();
        }
    }
    melding_xml(&m)
}

struct Bench {
    _dir: tempfile::TempDir,
    _broker: BrokerHandle,
    _receiver: ReceiverHandle,
    bus: Bus,
    identity: SenderIdentity,
    replies: Consumer,
    /// Messages sent so far (the next document's number).
    sent: usize,
}

impl Bench {
    async fn start() -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut pki = Pki::init(dir.path().join("pki")).expect("pki");
        let kommune = pki
            .issue(
                her(KOMMUNE),
                &OrgNr::parse("974778874").expect("orgnr"),
                "Oslo kommune",
            )
            .expect("kommune pair");
        let register = pki.register().expect("register pair");
        let trust = pki.trust_store().expect("trust store");
        let directory = StaticDirectory::new(pki.trust_store().expect("trust store"));
        directory.register_party(&kommune);
        let store = Arc::new(
            RunStore::open(&dir.path().join("run.sqlite"), Arc::new(SystemClock)).expect("store"),
        );
        let broker = BrokerConfig::new()
            .with_namespace(NS)
            .with_store(store.clone())
            .with_participant(her(KPR), "kpr", "kpr-pass")
            .with_participant(her(KOMMUNE), "oslo", "oslo-pass")
            .start()
            .await
            .expect("broker");
        let receiver = Receiver::start(
            broker.bus(),
            store,
            register.clone(),
            Arc::new(directory),
            ReceiverConfig {
                her_ids: vec![her(KPR)],
                name: "KPR".into(),
                data_year: Some(YEAR),
                ..ReceiverConfig::default()
            },
        )
        .await
        .expect("receiver");
        let bus = broker.bus();
        let replies = bus.consumer(&format!("{KOMMUNE}_async")).expect("consumer");
        Bench {
            identity: SenderIdentity {
                party: kommune,
                register: Counterpart::from_party(&register, her(KPR)),
                trust: Arc::new(trust),
            },
            bus,
            replies,
            sent: 0,
            _receiver: receiver,
            _broker: broker,
            _dir: dir,
        }
    }

    /// The next `n` messages, built on every core (not measured).
    fn build(&self, n: usize) -> Vec<AmqpMessage> {
        let first = self.sent;
        let threads = std::thread::available_parallelism().map_or(2, |t| t.get());
        let chunk = n.div_ceil(threads).max(1);
        let now = chrono::Utc::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = (first..first + n)
                .step_by(chunk)
                .map(|from| {
                    let identity = &self.identity;
                    s.spawn(move || {
                        (from..(from + chunk).min(first + n))
                            .map(|i| {
                                build_message(identity, &document(i), &[], now)
                                    .expect("message built")
                                    .message
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("builder thread"))
                .collect()
        })
    }

    /// Puts the messages into the register's queue and waits for every AppRec; returns the
    /// time from the first put to the last AppRec.
    async fn run(&mut self, messages: Vec<AmqpMessage>) -> Duration {
        let n = messages.len();
        let queue = format!("{KPR}_async");
        let start = Instant::now();
        let bus = self.bus.clone();
        let producer = tokio::spawn(async move {
            for m in &messages {
                bus.publish(&queue, m).await.expect("publish");
            }
        });
        for _ in 0..n {
            let d = self.replies.next().await.expect("an AppRec");
            d.accept().await.expect("accept");
        }
        let elapsed = start.elapsed();
        producer.await.expect("producer");
        self.sent += n;
        elapsed
    }
}

fn history() -> usize {
    std::env::var("IPLOS_BENCH_HISTORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let mut b = rt.block_on(Bench::start());
    let history = history().max(2_000);

    // The history from the kommune's first message, timed by hand: the first batch is the
    // first 200 messages, then batches of 1 000 (the last one shorter if need be).
    let mut elapsed = Duration::ZERO;
    for target in [200, 2_000, history] {
        if b.sent >= target {
            continue;
        }
        let (mut window, mut window_start) = (Duration::ZERO, b.sent);
        while b.sent < target {
            let n = if b.sent < 200 {
                200 - b.sent
            } else {
                (target - b.sent).min(1_000)
            };
            let messages = b.build(n);
            let (start, took) = (b.sent, rt.block_on(b.run(messages)));
            elapsed += took;
            (window, window_start) = (took, start);
        }
        eprintln!(
            "receiver history: messages 0..{}: {:.0} msg/s (the last batch, {}..{}: {:.0} msg/s)",
            b.sent,
            b.sent as f64 / elapsed.as_secs_f64(),
            window_start,
            b.sent,
            (b.sent - window_start) as f64 / window.as_secs_f64(),
        );
    }

    let mut group = c.benchmark_group("receiver");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(1));
    let at = b.sent;
    group.bench_function(format!("after_{at}"), |bencher| {
        bencher.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters.div_ceil(BATCH as u64) {
                let messages = b.build(BATCH);
                total += rt.block_on(b.run(messages));
            }
            // Per message: criterion divides by `iters`.
            total.mul_f64(iters as f64 / (iters.div_ceil(BATCH as u64) * BATCH as u64) as f64)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
