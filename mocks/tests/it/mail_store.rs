//! Captured mail is durable (stored before the 250, kept across a restart on the same
//! state directory), stamped by the injected clock, and can be waited for in-process.

use crate::mail_support;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use iplos_mocks::mail::{MailConfig, MailError, MailStore, Storage};
use iplos_model::calendar::VirtualClock;
use mail_support::{http_get, http_json, py_send, simple_message, start, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_state_dir_keeps_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("mail-state");
    let first = start(MailConfig::in_dir(&state)).await;
    let m1 = simple_message(
        "iplos@ssb.test",
        "postmottak@hamar.kommune.test",
        "one",
        "første",
    );
    let m2 = simple_message(
        "iplos@ssb.test",
        "postmottak@hamar.kommune.test",
        "two",
        "andre",
    );
    for m in [&m1, &m2] {
        let v = py_send(
            first.smtp_addr(),
            "iplos@ssb.test",
            &["postmottak@hamar.kommune.test"],
            m,
            &[],
        )
        .await;
        assert_eq!(v["ok"], true, "{v}");
    }
    // The 250 came after the commit: another connection to the database sees both now.
    let other = MailStore::open(&Storage::Dir(state.clone())).unwrap();
    assert_eq!(other.count().unwrap(), 2);
    drop(other);
    let before = first.messages("postmottak@hamar.kommune.test").unwrap();
    first.shutdown().await.unwrap();

    let second = start(MailConfig::in_dir(&state)).await;
    let base = second.http_url().unwrap();
    let (code, boxes) = http_json(&format!("{base}/mailboxes")).await;
    assert_eq!(code, 200);
    assert_eq!(
        boxes,
        serde_json::json!([{"address": "postmottak@hamar.kommune.test", "count": 2}])
    );
    let after = second.messages("postmottak@hamar.kommune.test").unwrap();
    assert_eq!(after, before, "same ids, subjects, dates, received times");
    let (_, eml) = http_get(&format!("{base}/messages/{}.eml", after[0].id)).await;
    assert_eq!(eml, m1);
    let (_, eml) = http_get(&format!("{base}/messages/{}.eml", after[1].id)).await;
    assert_eq!(eml, m2);
    // Ids go on from where they were.
    let v = py_send(
        second.smtp_addr(),
        "iplos@ssb.test",
        &["postmottak@hamar.kommune.test"],
        &m1,
        &[],
    )
    .await;
    assert_eq!(v["ok"], true);
    let ids: Vec<u64> = second
        .messages("postmottak@hamar.kommune.test")
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    second.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_time_comes_from_the_injected_clock() {
    let t0 = Utc.with_ymd_and_hms(2018, 1, 15, 7, 0, 0).unwrap();
    let clock = VirtualClock::new(t0);
    let handle = start_with(MailConfig::default(), Arc::new(clock.clone())).await;
    let msg = simple_message("a@b.no", "c@d.no", "clock", "x");
    py_send(handle.smtp_addr(), "a@b.no", &["c@d.no"], &msg, &[]).await;
    clock.advance(chrono::Duration::days(30)).unwrap();
    py_send(handle.smtp_addr(), "a@b.no", &["c@d.no"], &msg, &[]).await;
    let list = handle.messages("c@d.no").unwrap();
    assert_eq!(list[0].received, t0);
    assert_eq!(list[1].received, t0 + chrono::Duration::days(30));
    let (_, m) = http_json(&format!(
        "{}/messages/{}",
        handle.http_url().unwrap(),
        list[1].id
    ))
    .await;
    assert_eq!(m["received"], "2018-02-14T07:00:00Z");
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_a_matching_message() {
    let handle = start(MailConfig::default()).await;
    let addr = handle.smtp_addr();
    let old = simple_message("a@b.no", "x@y.no", "old", "x");
    py_send(addr, "a@b.no", &["x@y.no"], &old, &[]).await;

    // Already there.
    let m = handle
        .wait_for(
            |m| m.subject.as_deref() == Some("old"),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(m.is_for("x@Y.NO"));

    // Arriving later; only messages after the mark count.
    let mark = handle.store().latest_id();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let new = simple_message("a@b.no", "x@y.no", "new", "x");
        py_send(addr, "a@b.no", &["x@y.no"], &new, &[]).await
    });
    let m = handle
        .wait_for_after(mark, |m| m.is_for("x@y.no"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(m.subject.as_deref(), Some("new"));
    assert_eq!(sender.await.unwrap()["ok"], true);

    // Never.
    let err = handle
        .wait_for(|m| m.is_for("nobody@y.no"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Timeout(_)), "{err}");
    handle.shutdown().await.unwrap();
}
