//! Group commit: stores and accept-deletes share transactions, and what the broker
//! guarantees around them. A producer's message is settled only once its transaction is
//! committed; an accept that reached the broker but whose delete was not committed when the
//! broker died is redelivered after the restart (at least once); an accept whose delete was
//! committed never comes back.

use crate::common;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::*;
use fe2o3_amqp::{Receiver, Sender};
use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;
use iplos_mocks::servicebus::store::{MessageStore, NewMessage, StoreError, StoredMessage};
use iplos_mocks::servicebus::{SqliteStore, StoreError as BusStoreError};

/// A store that counts group commits and can hold back those that delete, as if the
/// process died before the commit: a held commit fails without writing once released.
struct GatedStore {
    inner: SqliteStore,
    batches: AtomicUsize,
    largest: AtomicUsize,
    hold_deletes: AtomicBool,
    held: AtomicBool,
    released: (Mutex<bool>, Condvar),
}

impl GatedStore {
    fn new(inner: SqliteStore) -> Arc<GatedStore> {
        Arc::new(GatedStore {
            inner,
            batches: AtomicUsize::new(0),
            largest: AtomicUsize::new(0),
            hold_deletes: AtomicBool::new(false),
            held: AtomicBool::new(false),
            released: (Mutex::new(false), Condvar::new()),
        })
    }

    fn release(&self) {
        *self.released.0.lock().unwrap() = true;
        self.released.1.notify_all();
    }
}

impl MessageStore for GatedStore {
    fn ensure_queue(&self, name: &str, now_ms: i64) -> Result<(), StoreError> {
        self.inner.ensure_queue(name, now_ms)
    }
    fn queues(&self) -> Result<Vec<String>, StoreError> {
        self.inner.queues()
    }
    fn insert(&self, message: &NewMessage<'_>) -> Result<u64, StoreError> {
        self.inner.insert(message)
    }
    fn index(&self) -> Result<Vec<StoredMessage>, StoreError> {
        self.inner.index()
    }
    fn body(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.body(id)
    }
    fn dead_reason(&self, id: u64) -> Result<Option<String>, StoreError> {
        self.inner.dead_reason(id)
    }
    fn delete(&self, id: u64) -> Result<bool, StoreError> {
        self.inner.delete(id)
    }
    fn set_delivery_count(&self, id: u64, count: u32) -> Result<(), StoreError> {
        self.inner.set_delivery_count(id, count)
    }
    fn replace(&self, old_id: u64, replacement: &NewMessage<'_>) -> Result<u64, StoreError> {
        self.inner.replace(old_id, replacement)
    }
    fn commit_batch(
        &self,
        inserts: &[NewMessage<'_>],
        deletes: &[u64],
    ) -> Result<Vec<u64>, StoreError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.largest
            .fetch_max(inserts.len() + deletes.len(), Ordering::SeqCst);
        if !deletes.is_empty() && self.hold_deletes.load(Ordering::SeqCst) {
            self.held.store(true, Ordering::SeqCst);
            let (lock, cv) = &self.released;
            let mut released = lock.lock().unwrap();
            while !*released {
                released = cv.wait(released).unwrap();
            }
            return Err(StoreError::Batch(
                "the process died before the commit".into(),
            ));
        }
        self.inner.commit_batch(inserts, deletes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stores_share_commits_and_keep_their_order() {
    let store = GatedStore::new(SqliteStore::in_memory().unwrap());
    let broker = config().with_store(store.clone()).start().await.unwrap();
    let queue = format!("{KPR_HER}_async");
    let bus = broker.bus();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (bus, queue) = (bus.clone(), queue.clone());
            tokio::spawn(async move {
                bus.publish(&queue, &nhn_message(&format!("m{i}"), b"x"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(bus.len(&queue).unwrap(), 200);
    let batches = store.batches.load(Ordering::SeqCst);
    assert!(
        batches < 200 && store.largest.load(Ordering::SeqCst) > 1,
        "200 concurrent stores took {batches} commits"
    );
    // The queue's order is the store's (commit) order, and every message is there once.
    let ids: Vec<String> = bus
        .browse(&queue)
        .await
        .unwrap()
        .iter()
        .map(message_id_of)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 200);
    let stored: Vec<u64> = store.index().unwrap().iter().map(|m| m.id).collect();
    assert!(stored.windows(2).all(|w| w[0] < w[1]));
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_not_committed_when_the_broker_dies_is_redelivered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sqlite");
    let queue = format!("{KPR_HER}_async");
    let gated = GatedStore::new(SqliteStore::open(&path).unwrap());
    let broker = config().with_store(gated.clone()).start().await.unwrap();
    {
        let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
        let mut sender = Sender::attach(&mut session, "s", format!("/exchange/{NS}/{queue}"))
            .await
            .unwrap();
        sender
            .send(nhn_message("accepted-late", b"payload"))
            .await
            .unwrap()
            .accepted_or("not accepted")
            .unwrap();
        sender.close().await.unwrap();
        session.end().await.unwrap();
        conn.close().await.unwrap();
    }
    gated.hold_deletes.store(true, Ordering::SeqCst);
    let (conn, mut session) = connect_session(&broker, KPR_USER, KPR_PASS).await;
    let mut receiver = Receiver::attach(&mut session, "r", format!("/amq/queue/{queue}"))
        .await
        .unwrap();
    let d = receiver.recv::<Body<Value>>().await.unwrap();
    assert_eq!(message_id_of(d.message()), "accepted-late");
    receiver.accept(&d).await.unwrap();
    // The accept reached the broker and its delete waits for the commit: the broker dies.
    eventually("delete pending", || gated.held.load(Ordering::SeqCst)).await;
    drop(broker);
    std::mem::forget(receiver);
    std::mem::forget(session);
    std::mem::forget(conn);

    let broker = config()
        .with_store(Arc::new(SqliteStore::open(&path).unwrap()))
        .start()
        .await
        .unwrap();
    // Let the old commit end now (failing: nothing it would have written is written).
    gated.release();
    assert_eq!(broker.bus().len(&queue).unwrap(), 1);
    let (_conn2, mut session) = connect_session(&broker, KPR_USER, KPR_PASS).await;
    let mut receiver = Receiver::attach(&mut session, "r2", format!("/amq/queue/{queue}"))
        .await
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(10), receiver.recv::<Body<Value>>())
        .await
        .expect("redelivered")
        .unwrap();
    assert_eq!(message_id_of(d.message()), "accepted-late");
    assert_eq!(data_of(d.message()), b"payload");
    // The lost lease was not the consumer's failure: not counted.
    assert_eq!(
        d.message().header.as_ref().map_or(0, |h| h.delivery_count),
        0
    );
    receiver.accept(&d).await.unwrap();
    eventually("deleted", || broker.bus().len(&queue).unwrap() == 0).await;
    drop(broker);

    // Accepted and committed: it does not come back.
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.index().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_accept_returns_after_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("{KPR_HER}_async");
    {
        let broker = config().with_state_dir(dir.path()).start().await.unwrap();
        for id in ["a", "b"] {
            broker
                .bus()
                .publish(&queue, &nhn_message(id, b"x"))
                .await
                .unwrap();
        }
        let mut consumer = broker.bus().consumer(&queue).unwrap();
        let d = consumer.next().await.unwrap();
        assert_eq!(message_id_of(d.message()), "a");
        d.accept().await.unwrap();
        // Dropped at once after the accept returned, as in a crash.
        drop(consumer);
        drop(broker);
    }
    let broker = config().with_state_dir(dir.path()).start().await.unwrap();
    let ids: Vec<String> = broker
        .bus()
        .browse(&queue)
        .await
        .unwrap()
        .iter()
        .map(message_id_of)
        .collect();
    assert_eq!(ids, vec!["b".to_string()]);
    broker.shutdown().await;
}

#[test]
fn a_failed_group_commit_names_the_store_error() {
    let e = BusStoreError::Batch("disk I/O error".into());
    assert_eq!(
        e.to_string(),
        "service bus store: group commit failed: disk I/O error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_link_keeps_its_order_while_its_transfers_are_stored_together() {
    let broker = start().await;
    let queue = format!("{KPR_HER}_async");
    let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let mut sender = Sender::attach(&mut session, "s", format!("/exchange/{NS}/{queue}"))
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    for i in 0..300 {
        let fut = sender
            .send_batchable(nhn_message(&format!("m{i:03}"), b"x"))
            .await
            .unwrap();
        outcomes.push(fut);
    }
    for o in outcomes {
        o.await.unwrap().accepted_or("not accepted").unwrap();
    }
    let ids: Vec<String> = broker
        .bus()
        .browse(&queue)
        .await
        .unwrap()
        .iter()
        .map(message_id_of)
        .collect();
    let expected: Vec<String> = (0..300).map(|i| format!("m{i:03}")).collect();
    assert_eq!(ids, expected);
    sender.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
    broker.shutdown().await;
}
