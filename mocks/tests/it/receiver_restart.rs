//! Crash safety: the receiver stops at each failpoint (as if the process died), broker and
//! receiver start again on the same state directory, and the sender gets its AppRec exactly
//! once (counted on the sender's queue).

use crate::receiver_support;
use std::time::Duration;

use iplos_mocks::receiver::{Failpoint, MessageState};
use iplos_mocks::sender::{Outgoing, build_message, melding_xml, read_apprec_message};
use iplos_model::message::{AppRecStatus, Status};
use receiver_support::*;

fn message() -> Outgoing {
    build_message(
        &fixture().identity(OSLO, KPR),
        &sample("0301"),
        &[],
        chrono::Utc::now(),
    )
    .unwrap()
}

async fn settle_down() {
    // Long enough for a wrongly repeated reply to show up.
    tokio::time::sleep(Duration::from_millis(700)).await;
}

async fn crash_at(fp: Failpoint) {
    let mut env = Env::start_with(Options {
        failpoint: Some(fp),
        ..Options::default()
    })
    .await;
    let out = message();
    env.broker
        .bus()
        .publish("131725_async", &out.message)
        .await
        .unwrap();
    let hit = tokio::time::timeout(Duration::from_secs(30), env.receiver.crashed())
        .await
        .unwrap();
    assert_eq!(hit, fp);
    assert!(
        env.waiting("9000301_async").await.is_empty(),
        "{fp:?}: no AppRec before the crash"
    );
    let rec = env.store.message_by_id(&out.message_id).unwrap().unwrap();
    match fp {
        Failpoint::AfterStore => assert_eq!(rec.state, MessageState::Received),
        Failpoint::AfterCheck | Failpoint::AfterAccept => {
            assert_eq!(rec.state, MessageState::Checked)
        }
    }

    let env = env.restart(Options::default()).await;
    let replies = env.wait_for("9000301_async", 1).await;
    settle_down().await;
    let replies_after = env.waiting("9000301_async").await;
    assert_eq!(replies_after.len(), 1, "{fp:?}: exactly one AppRec");
    assert!(env.waiting("131725_async").await.is_empty(), "{fp:?}");
    let a = read_apprec_message(
        &fixture().identity(OSLO, KPR),
        &replies[0],
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(a.apprec.status, AppRecStatus::Ok);
    assert_eq!(a.correlation_id.as_deref(), Some(out.message_id.as_str()));
    let rec = env.store.message_by_id(&out.message_id).unwrap().unwrap();
    assert_eq!(
        rec.deliveries, 1,
        "{fp:?}: the redelivery is the same delivery"
    );
    assert_eq!(rec.replies_sent, 1, "{fp:?}");
    assert_eq!(
        rec.attempts,
        if fp == Failpoint::AfterStore { 2 } else { 1 },
        "{fp:?}"
    );

    // A second restart owes nothing.
    let env = env.restart(Options::default()).await;
    assert_eq!(env.receiver.recovered(), 0);
    settle_down().await;
    assert_eq!(env.waiting("9000301_async").await.len(), 1, "{fp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_store_then_restart_answers_once() {
    crash_at(Failpoint::AfterStore).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_check_then_restart_answers_once() {
    crash_at(Failpoint::AfterCheck).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_accept_then_restart_answers_once() {
    crash_at(Failpoint::AfterAccept).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kommunes_chain_survives_a_restart() {
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let first = iplos_mocks::sender::sample_melding("0301", YEAR, 1);
    let a = s.submit(&melding_xml(&first), &[]).await.unwrap();
    assert_eq!(a.apprec().unwrap().apprec.status, AppRecStatus::Ok);
    s.close().await;

    let env = env.restart(Options::default()).await;
    // A correction that only makes sense after the first message.
    let mut corr = first.clone();
    let mut n = first.notifikasjoner[0].clone();
    n.status = Status::M;
    n.referanse = Some(first.notifikasjoner[0].guid.clone());
    n.guid = "0c0c0c0c-0000-4000-8000-000000000001".into();
    n.forrige_guid = first.notifikasjoner[1].guid.clone();
    n.lopenr = (first.notifikasjoner[1].lopenr.parse::<u32>().unwrap() + 1).to_string();
    n.events[0].hendelse_guid = "0c0c0c0c-0000-4000-8000-000000000002".into();
    corr.notifikasjoner = vec![n];
    let mut s = env.sender(OSLO).await;
    let a = s.submit(&melding_xml(&corr), &[]).await.unwrap();
    let a = a.apprec().unwrap();
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{:?}", a.apprec.errors);
    // Sending the first message again (a new message-id) now breaks the chain rules.
    let a = s.submit(&melding_xml(&first), &[]).await.unwrap();
    let a = a.apprec().unwrap();
    assert_eq!(a.apprec.status, AppRecStatus::OkWithErrors);
    assert!(
        a.apprec
            .errors
            .iter()
            .any(|e| e.details.as_deref().unwrap_or("").starts_with("IPL29")),
        "{:?}",
        a.apprec.errors
    );
    s.close().await;
}
