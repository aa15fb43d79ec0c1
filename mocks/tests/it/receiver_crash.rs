//! The receiver killed mid-batch: four kommuner send their chains at once, the runtime of
//! broker and receiver is shut down abruptly while messages of several kommuner are in the
//! receiver's pipeline, both start again on the same state directory, and every message is
//! answered exactly once with an AppRec of status 1, each kommune's AppRecs in the order of
//! its messages (a message judged out of its kommune's order would break the chain:
//! status 2 or 3).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iplos_mocks::pki::{Party, Pki};
use iplos_mocks::receiver::{
    MessageState, Receiver, ReceiverConfig, ReceiverHandle, RunStore, StaticDirectory,
};
use iplos_mocks::sender::{
    Counterpart, Outgoing, SenderIdentity, build_message, melding_xml, read_apprec_message,
    sample_melding,
};
use iplos_mocks::servicebus::{AmqpMessage, BrokerConfig, BrokerHandle};
use iplos_model::calendar::SystemClock;
use iplos_model::ids::{HerId, OrgNr};
use iplos_model::message::AppRecStatus;
use tokio::runtime::Runtime;

const NS: &str = "NHNTESTServiceBus";
const KPR: u32 = 131_725;
const YEAR: i32 = 2024;
/// Messages per kommune.
const N: usize = 8;
/// (HER-id, kommunenummer, orgnr, name).
const KOMMUNER: [(u32, &str, &str, &str); 4] = [
    (9_000_301, "0301", "974778874", "Oslo kommune"),
    (9_004_601, "4601", "964338531", "Bergen kommune"),
    (9_005_001, "5001", "942110464", "Trondheim kommune"),
    (9_001_103, "1103", "964965226", "Stavanger kommune"),
];

fn her(n: u32) -> HerId {
    HerId::new(n).unwrap()
}

/// Kommune `knr`'s chain of `n` messages: each message's first notification continues
/// from the previous message's last, numbered on (as the receiver bench's history).
fn chain(knr: &str, n: usize) -> Vec<Vec<u8>> {
    let mut previous: Option<String> = None;
    (0..n)
        .map(|i| {
            let mut m = sample_melding(knr, YEAR, i as u64);
            for (k, note) in m.notifikasjoner.iter_mut().enumerate() {
                note.lopenr = (1 + 2 * i + k).to_string();
                if k == 0
                    && let Some(p) = &previous
                {
                    note.forrige_guid = p.clone();
                }
            }
            previous = m.notifikasjoner.last().map(|n| n.guid.clone());
            melding_xml(&m)
        })
        .collect()
}

struct Node {
    _broker: BrokerHandle,
    _receiver: ReceiverHandle,
    bus: iplos_mocks::servicebus::Bus,
    store: Arc<RunStore>,
}

/// Broker and receiver on the run store in `state`; `backlog` is published to the
/// register's queue before the receiver starts.
async fn start(
    state: &Path,
    register: &Party,
    directory: StaticDirectory,
    backlog: &[AmqpMessage],
) -> Node {
    let store = Arc::new(RunStore::open(&state.join("run.sqlite"), Arc::new(SystemClock)).unwrap());
    let mut cfg = BrokerConfig::new()
        .with_namespace(NS)
        .with_store(store.clone())
        .with_participant(her(KPR), "kpr", "kpr-pass");
    for (h, ..) in KOMMUNER {
        cfg = cfg.with_participant(her(h), &format!("u{h}"), "pass");
    }
    let broker = cfg.start().await.unwrap();
    for m in backlog {
        broker
            .bus()
            .publish(&format!("{KPR}_async"), m)
            .await
            .unwrap();
    }
    let receiver = Receiver::start(
        broker.bus(),
        store.clone(),
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
    .unwrap();
    Node {
        bus: broker.bus(),
        _broker: broker,
        _receiver: receiver,
        store,
    }
}

/// Waits (up to a minute) until `pending` returns `None`; until then it says what is still
/// missing (told when the wait times out).
async fn wait_until(what: &str, mut pending: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(missing) = pending() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {missing}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn checked(store: &RunStore) -> usize {
    store
        .messages()
        .unwrap()
        .iter()
        .filter(|m| m.state == MessageState::Checked)
        .count()
}

#[test]
fn killed_mid_batch_with_four_kommuner_in_flight_every_message_is_answered_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mut pki = Pki::init(dir.path().join("pki")).unwrap();
    let register = pki.register().unwrap();
    let parties: Vec<Party> = KOMMUNER
        .iter()
        .map(|(h, _, org, name)| {
            pki.issue(her(*h), &OrgNr::parse(org).unwrap(), name)
                .unwrap()
        })
        .collect();
    let trust = Arc::new(pki.trust_store().unwrap());
    let identities: Vec<SenderIdentity> = parties
        .iter()
        .map(|p| SenderIdentity {
            party: p.clone(),
            register: Counterpart::from_party(&register, her(KPR)),
            trust: trust.clone(),
        })
        .collect();
    let registered = || {
        let d = StaticDirectory::new(pki.trust_store().unwrap());
        for p in &parties {
            d.register_party(p);
        }
        d
    };
    // Each kommune's chain built on a thread of its own, then sent interleaved: message i of
    // every kommune, then message i + 1.
    let now = chrono::Utc::now();
    let built: Vec<Vec<Outgoing>> = std::thread::scope(|s| {
        let threads: Vec<_> = KOMMUNER
            .iter()
            .zip(&identities)
            .map(|((_, knr, ..), id)| {
                s.spawn(move || {
                    chain(knr, N)
                        .iter()
                        .map(|doc| build_message(id, doc, &[], now).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let sent: HashMap<u32, Vec<String>> = KOMMUNER
        .iter()
        .zip(&built)
        .map(|((h, ..), outs)| (*h, outs.iter().map(|o| o.message_id.clone()).collect()))
        .collect();
    let messages: Vec<_> = (0..N)
        .flat_map(|i| built.iter().map(move |outs| outs[i].message.clone()))
        .collect();
    let total = messages.len();

    // Run 1: every message is in the register's queue (durably: each publish returns once
    // it is committed) before the receiver starts, and the receiver is killed once a
    // quarter of them is checked. (A sender still publishing at the kill would lose the
    // message it was sending and never send the rest: nothing would answer those.)
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let node = start(&state, &register, registered(), &messages).await;
        let store = node.store.clone();
        wait_until("a quarter is checked", || {
            let n = checked(&store);
            (n < total / 4).then(|| format!("{n} checked"))
        })
        .await;
        // Nothing of it is shut down in order.
        std::mem::forget(node);
    });
    // Abruptly: the tasks are dropped at their next await (a blocking step in progress ends
    // first, as if the process died just after it).
    rt.shutdown_timeout(Duration::from_secs(30));

    // What the crash left: messages taken but not judged, of several kommuner.
    let store = RunStore::open(&state.join("run.sqlite"), Arc::new(SystemClock)).unwrap();
    let records = store.messages().unwrap();
    let unjudged: BTreeSet<String> = records
        .iter()
        .filter(|m| m.state == MessageState::Received)
        .filter_map(|m| m.from_her.clone())
        .collect();
    let before = records
        .iter()
        .filter(|m| m.state == MessageState::Checked)
        .count();
    assert!(before < total, "the receiver was killed before the end");
    assert!(
        unjudged.len() >= 2,
        "messages of several kommuner were in hand at the kill: {unjudged:?}"
    );
    drop(store);

    // Run 2: on the same state directory, until the register's queue is empty and every
    // delivery is settled and answered (nothing more can be sent after that).
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let node = start(&state, &register, registered(), &[]).await;
        let (bus, store) = (node.bus.clone(), node.store.clone());
        wait_until("every message is answered", || {
            let queued = bus.len(&format!("{KPR}_async")).unwrap();
            let received = store.messages().unwrap().len();
            let deliveries = store.deliveries().unwrap();
            let unsettled = deliveries.iter().filter(|d| d.settled.is_none()).count();
            let unanswered = deliveries.iter().filter(|d| d.replied.is_none()).count();
            (queued > 0 || received < total || unsettled > 0 || unanswered > 0).then(|| {
                format!(
                    "{queued} in the register's queue, {received} of {total} received, \
                     {unsettled} deliveries unsettled, {unanswered} unanswered"
                )
            })
        })
        .await;
        for m in store.messages().unwrap() {
            assert_eq!(m.state, MessageState::Checked, "{m:?}");
            assert_eq!(m.deliveries, 1, "one delivery per message: {m:?}");
            assert_eq!(m.replies_sent, 1, "one reply per message: {m:?}");
        }
        for (k, (h, ..)) in KOMMUNER.iter().enumerate() {
            let replies = node.bus.browse(&format!("{h}_async")).await.unwrap();
            let mut answered = Vec::new();
            for r in &replies {
                let a = read_apprec_message(&identities[k], r, chrono::Utc::now()).unwrap();
                assert_eq!(
                    a.apprec.status,
                    AppRecStatus::Ok,
                    "kommune {h}: {:?}",
                    a.apprec.errors
                );
                answered.push(a.correlation_id.unwrap_or_default());
            }
            assert_eq!(
                answered, sent[h],
                "kommune {h}: one AppRec per message, in the order of its messages"
            );
        }
        std::mem::forget(node);
    });
    rt.shutdown_timeout(Duration::from_secs(30));
}
