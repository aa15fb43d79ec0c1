//! The store survives the broker: what was not acknowledged is there after a restart,
//! exactly once; what was acknowledged is not.

use crate::common;
use std::time::Duration;

use common::*;
use fe2o3_amqp::{Receiver, Sender};
use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;

#[tokio::test]
async fn unacknowledged_message_is_there_after_a_restart_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("{KPR_HER}_async");
    {
        let broker = config().with_state_dir(dir.path()).start().await.unwrap();
        let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
        let mut sender = Sender::attach(&mut session, "s", format!("/exchange/{NS}/{queue}"))
            .await
            .unwrap();
        for id in ["acked", "kept", "never-delivered"] {
            sender
                .send(nhn_message(id, id.as_bytes()))
                .await
                .unwrap()
                .accepted_or("not accepted")
                .unwrap();
        }
        sender.close().await.unwrap();
        session.end().await.unwrap();
        conn.close().await.unwrap();

        let (_conn, mut session) = connect_session(&broker, KPR_USER, KPR_PASS).await;
        let mut receiver = Receiver::attach(&mut session, "r", format!("/amq/queue/{queue}"))
            .await
            .unwrap();
        let d = receiver.recv::<Body<Value>>().await.unwrap();
        assert_eq!(message_id_of(d.message()), "acked");
        receiver.accept(&d).await.unwrap();
        let d = receiver.recv::<Body<Value>>().await.unwrap();
        assert_eq!(message_id_of(d.message()), "kept");
        // Not settled; the broker goes away (dropped: no graceful shutdown).
        eventually("accept recorded", || broker.bus().len(&queue).unwrap() == 2).await;
        drop(broker);
        std::mem::forget(receiver);
        std::mem::forget(session);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let broker = config().with_state_dir(dir.path()).start().await.unwrap();
    assert_eq!(broker.bus().len(&queue).unwrap(), 2);
    let mut consumer = broker.bus().consumer(&queue).unwrap();
    let mut seen = Vec::new();
    while let Some(d) = consumer.try_next().await.unwrap() {
        seen.push(message_id_of(d.message()));
        assert_eq!(data_of(d.message()), message_id_of(d.message()).as_bytes());
        d.accept().await.unwrap();
    }
    assert_eq!(
        seen,
        vec!["kept".to_string(), "never-delivered".to_string()]
    );
    broker.shutdown().await;

    // And acknowledged means gone for good.
    let broker = config().with_state_dir(dir.path()).start().await.unwrap();
    assert_eq!(broker.bus().len(&queue).unwrap(), 0);
    broker.shutdown().await;
}

#[tokio::test]
async fn delivery_counts_and_dead_letters_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("{KPR_HER}_async");
    {
        let broker = config().with_state_dir(dir.path()).start().await.unwrap();
        let bus = broker.bus();
        bus.publish(&queue, &nhn_message("twice", b"x"))
            .await
            .unwrap();
        bus.publish(&queue, &nhn_message("bad", b"y"))
            .await
            .unwrap();
        let mut consumer = bus.consumer(&queue).unwrap();
        consumer.next().await.unwrap().release().await.unwrap();
        // "bad" is now at the head behind the released "twice"... take both:
        let first = consumer.next().await.unwrap();
        assert_eq!(message_id_of(first.message()), "twice");
        let second = consumer.next().await.unwrap();
        second.reject("no").await.unwrap();
        first.release().await.unwrap();
        broker.shutdown().await;
    }
    let broker = config().with_state_dir(dir.path()).start().await.unwrap();
    let mut consumer = broker.bus().consumer(&queue).unwrap();
    let d = consumer.next().await.unwrap();
    assert_eq!(message_id_of(d.message()), "twice");
    assert_eq!(d.delivery_count(), 2);
    d.accept().await.unwrap();
    assert_eq!(broker.bus().len(&format!("{KPR_HER}_dl")).unwrap(), 1);
    broker.shutdown().await;
}

#[tokio::test]
async fn the_store_file_can_be_shared_with_another_component() {
    use iplos_mocks::servicebus::{MessageStore, SqliteStore};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.sqlite");
    // Another component (the run store) has its own tables in the same file.
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE run_event (id INTEGER PRIMARY KEY, what TEXT);",
        )
        .unwrap();
    let store: Arc<dyn MessageStore> = Arc::new(SqliteStore::open(&path).unwrap());
    let broker = config().with_store(store).start().await.unwrap();
    broker
        .bus()
        .publish(&format!("{KPR_HER}_async"), &nhn_message("shared", b"s"))
        .await
        .unwrap();
    other
        .execute("INSERT INTO run_event (what) VALUES ('submitted')", [])
        .unwrap();
    broker.shutdown().await;
    let n: i64 = other
        .query_row("SELECT count(*) FROM sb_message", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    let n: i64 = other
        .query_row("SELECT count(*) FROM run_event", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}
