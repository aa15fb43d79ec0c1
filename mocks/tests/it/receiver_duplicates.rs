//! Duplicate message-ids are answered idempotently: the same reply again (same AppRec, same
//! AMQP message-id), never a second verdict; a resend with a new message-id but the same
//! MsgHead MsgId gets the original AppRec again.

use crate::receiver_support;
use std::time::Duration;

use iplos_mocks::nhn;
use iplos_mocks::sender::{Fault, Property, build_message, read_apprec_message};
use iplos_model::message::AppRecStatus;
use receiver_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_gets_the_same_apprec_again() {
    let env = Env::start().await;
    let f = fixture();
    let out = build_message(
        &f.identity(OSLO, KPR),
        &sample("0301"),
        &[Fault::Duplicate],
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(out.copies, 2);
    for _ in 0..out.copies {
        env.broker
            .bus()
            .publish("131725_async", &out.message)
            .await
            .unwrap();
    }
    let replies = env.wait_for("9000301_async", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.waiting("9000301_async").await.len(), 2);
    let a: Vec<_> = replies
        .iter()
        .map(|m| read_apprec_message(&f.identity(OSLO, KPR), m, chrono::Utc::now()).unwrap())
        .collect();
    assert_eq!(a[0].apprec.status, AppRecStatus::Ok);
    assert_eq!(a[0].apprec, a[1].apprec, "the same AppRec");
    assert_eq!(a[0].message_id, a[1].message_id, "the same AMQP message");
    assert_eq!(
        a[1].correlation_id.as_deref(),
        Some(out.message_id.as_str())
    );
    let recs = env.store.messages().unwrap();
    assert_eq!(recs.len(), 1, "one message, one verdict");
    assert_eq!(recs[0].deliveries, 2);
    assert_eq!(recs[0].replies_sent, 2);
    assert_eq!(recs[0].attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_over_amqp_and_after_a_restart() {
    let env = Env::start().await;
    let mut s = env.sender(OSLO).await;
    let out = s.build(&sample("0301"), &[Fault::Duplicate]).unwrap();
    s.send(&out).await.unwrap();
    let first = s
        .wait_answer(&out.message_id, Duration::from_secs(30))
        .await
        .unwrap();
    let second = s
        .wait_answer(&out.message_id, Duration::from_secs(30))
        .await
        .unwrap();
    let (a, b) = (first.apprec().unwrap(), second.apprec().unwrap());
    assert_eq!(a.apprec, b.apprec);
    s.close().await;

    // After a restart the vendor sends it once more: still the same receipt.
    let env = env.restart(Options::default()).await;
    let mut s = env.sender(OSLO).await;
    let mut again = out.clone();
    again.copies = 1;
    s.send(&again).await.unwrap();
    let third = s
        .wait_answer(&out.message_id, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(third.apprec().unwrap().apprec, a.apprec);
    s.close().await;
    let rec = env.store.message_by_id(&out.message_id).unwrap().unwrap();
    assert_eq!(rec.deliveries, 3);
    assert_eq!(rec.replies_sent, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_errors_and_dead_letters_are_repeated_too() {
    let env = Env::start().await;
    let f = fixture();
    let bus = env.broker.bus();
    let bad = build_message(
        &f.identity(OSLO, KPR),
        &sample("0301"),
        &[Fault::Omit(Property::ToHerId)],
        chrono::Utc::now(),
    )
    .unwrap();
    bus.publish("131725_async", &bad.message).await.unwrap();
    bus.publish("131725_async", &bad.message).await.unwrap();
    let errs = env.wait_for("9000301_error", 2).await;
    assert_eq!(nhn::message_id(&errs[0]), nhn::message_id(&errs[1]));
    assert_eq!(
        nhn::app_prop_text(&errs[1], nhn::ERROR_CONDITION).as_deref(),
        Some("transport:invalid-field-value")
    );

    let lost = build_message(
        &f.identity(OSLO, KPR),
        &sample("0301"),
        &[
            Fault::Omit(Property::FromHerId),
            Fault::Omit(Property::ReplyTo),
        ],
        chrono::Utc::now(),
    )
    .unwrap();
    bus.publish("131725_async", &lost.message).await.unwrap();
    bus.publish("131725_async", &lost.message).await.unwrap();
    env.wait_for("131725_dl", 2).await;
    assert_eq!(env.store.messages().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_with_the_same_msg_id_gets_the_original_apprec() {
    let env = Env::start().await;
    let f = fixture();
    let msg_id = "5d0c2f4e-8a3b-4c1d-9e2f-1a2b3c4d5e6f".to_string();
    // The original: accepted. The resend: a new AMQP message-id, the same MsgId. The
    // original AppRec (its id and time included) comes back, not a second verdict.
    let first = build_message(
        &f.identity(OSLO, KPR),
        &sample("0301"),
        &[Fault::MsgId(msg_id.clone())],
        chrono::Utc::now(),
    )
    .unwrap();
    env.broker
        .bus()
        .publish("131725_async", &first.message)
        .await
        .unwrap();
    env.wait_for("9000301_async", 1).await;
    let again = build_message(
        &f.identity(OSLO, KPR),
        &sample("0301"),
        &[Fault::MsgId(msg_id.clone())],
        chrono::Utc::now(),
    )
    .unwrap();
    assert_ne!(again.message_id, first.message_id);
    env.broker
        .bus()
        .publish("131725_async", &again.message)
        .await
        .unwrap();
    let replies = env.wait_for("9000301_async", 2).await;
    let a: Vec<_> = replies
        .iter()
        .map(|m| read_apprec_message(&f.identity(OSLO, KPR), m, chrono::Utc::now()).unwrap())
        .collect();
    assert_eq!(a[0].apprec.status, AppRecStatus::Ok);
    assert_eq!(a[0].apprec, a[1].apprec, "the original AppRec again");
    assert_ne!(a[0].message_id, a[1].message_id, "a new AMQP message");
    assert_eq!(
        a[1].correlation_id.as_deref(),
        Some(again.message_id.as_str()),
        "correlated with the resend"
    );
}
