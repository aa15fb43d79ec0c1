//! The run store's own tests: its file shared with the service bus store, the armed
//! stamps, and verdicts stored in a batch.

use super::*;
use crate::servicebus::SqliteStore;
use iplos_model::calendar::SystemClock;

fn msg<'a>(queue: &'a str, body: &'a [u8]) -> NewMessage<'a> {
    NewMessage {
        queue,
        enqueued_ms: 1,
        expires_ms: None,
        delivery_count: 0,
        dead_reason: None,
        body,
    }
}

#[test]
fn file_compatible_with_the_service_bus_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.sqlite");
    {
        let s = RunStore::open(&path, Arc::new(SystemClock)).unwrap();
        s.ensure_queue("1_async", 0).unwrap();
        s.insert(&msg("1_async", b"from-run-store")).unwrap();
    }
    {
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.queues().unwrap(), vec!["1_async".to_string()]);
        let index = s.index().unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(s.body(index[0].id).unwrap().unwrap(), b"from-run-store");
        s.insert(&msg("1_async", b"from-sqlite-store")).unwrap();
    }
    let s = RunStore::open(&path, Arc::new(SystemClock)).unwrap();
    let index = s.index().unwrap();
    assert_eq!(index.len(), 2);
    assert_eq!(s.body(index[1].id).unwrap().unwrap(), b"from-sqlite-store");
}

#[test]
fn armed_settle_and_reply_are_recorded_with_the_broker_operation() {
    let s = RunStore::in_memory(Arc::new(SystemClock)).unwrap();
    s.ensure_queue("9_async", 0).unwrap();
    let sb = s.insert(&msg("9_async", b"..msg-1..")).unwrap();
    let (m, d) = s
        .insert_received("9_async", "msg-1", Some("msg-1"), None, None, b"raw")
        .unwrap();
    // An arm for another message-id does not fire.
    s.arm_settle("9_async", d, Some("msg-2"));
    assert!(s.delete(sb).unwrap());
    assert!(
        s.find("9_async", "msg-1")
            .unwrap()
            .unwrap()
            .unsettled_delivery
            == Some(d)
    );
    let sb = s.insert(&msg("9_async", b"..msg-1..")).unwrap();
    s.arm_settle("9_async", d, Some("msg-1"));
    assert!(s.delete(sb).unwrap());
    assert_eq!(
        s.find("9_async", "msg-1")
            .unwrap()
            .unwrap()
            .unsettled_delivery,
        None
    );

    s.record_checked(
        m,
        &CheckedRecord {
            outcome: Outcome::AppRec,
            status: Some("1".into()),
            error_condition: None,
            stage: Stage::Iplos,
            verdict: "{}".into(),
            content: None,
            replay: false,
            replay_document: None,
            dead_reason: None,
            reply: Some(StoredReply {
                queue: "7_async".into(),
                message_id: "reply-1".into(),
                message: b"..reply-1..".to_vec(),
            }),
        },
    )
    .unwrap();
    assert_eq!(s.pending_replies(&["9_async".into()]).unwrap().len(), 1);
    s.arm_reply("7_async", d, "reply-1");
    s.insert(&msg("7_async", b"something else")).unwrap();
    assert!(!s.is_replied(d).unwrap());
    s.insert(&msg("7_async", b"..reply-1..")).unwrap();
    assert!(s.is_replied(d).unwrap());
    assert!(s.pending_replies(&["9_async".into()]).unwrap().is_empty());
    let all = s.messages().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].replies_sent, 1);
    assert_eq!(all[0].deliveries, 1);
    assert_eq!(all[0].state, MessageState::Checked);
    assert_eq!(all[0].outcome, Some(Outcome::AppRec));
    assert_eq!(all[0].stage, Some(Stage::Iplos));
}

#[test]
fn a_batch_stores_every_verdict_and_reads_each_decision_in_order() {
    let s = RunStore::in_memory(Arc::new(SystemClock)).unwrap();
    let rec = |reply: Option<&str>| CheckedRecord {
        outcome: Outcome::AppRec,
        status: Some("1".into()),
        error_condition: None,
        stage: Stage::Iplos,
        verdict: "{}".into(),
        content: None,
        replay: false,
        replay_document: None,
        dead_reason: reply.is_none().then(|| "unaddressed".into()),
        reply: reply.map(|id| StoredReply {
            queue: "7_async".into(),
            message_id: id.into(),
            message: id.as_bytes().to_vec(),
        }),
    };
    let received = |key: &str, injection| {
        (s.insert_received_injected("9_async", key, Some(key), None, None, b"raw", injection))
            .unwrap()
    };
    let (m1, d1) = received("a", None);
    let (m2, d2) = received("b", Some(&Injection::WithholdReply));
    let (m3, d3) = received("c", None);
    s.record_checked(m3, &rec(Some("r3"))).unwrap();
    let batch = [
        (m1, d1, Some(rec(Some("r1")))),
        (m2, d2, Some(rec(None))),
        (m3, d3, None),
    ];
    let out = s.record_checked_batch(&batch).unwrap().into_iter();
    let got: Vec<_> = out.map(|(d, w)| format!("{d:?} {w}")).collect();
    assert!(got[0].contains("Reply {") && got[0].contains("\"r1\"") && got[0].ends_with(" false"));
    assert_eq!(got[1], "Some(DeadLetter(\"unaddressed\")) true");
    assert!(got[2].contains("Reply {") && got[2].contains("\"r3\"") && got[2].ends_with(" false"));
    assert!((s.messages().unwrap().iter()).all(|m| m.state == MessageState::Checked));
    // Killed right after the batch (nothing settled, nothing published): the start's
    // recovery owes the reply of every verdict of the batch that has one, in order, and
    // none of the withheld one; once a reply is stamped it is owed no more.
    let owed = |s: &RunStore| {
        let p = s.pending_replies(&["9_async".into()]).unwrap();
        p.iter()
            .map(|p| (p.delivery, p.reply_message_id.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(owed(&s), [(d1, "r1".into()), (d3, "r3".into())]);
    s.ensure_queue("7_async", 0).unwrap();
    s.arm_reply("7_async", d1, "r1");
    s.insert(&msg("7_async", b"..r1..")).unwrap();
    assert_eq!(owed(&s), [(d3, "r3".into())]);
}
