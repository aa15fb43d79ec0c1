//! A message sent to `/exchange/<ns>/<queue>` comes out of `/amq/queue/<queue>` with every
//! field intact; the in-process bus sees the same queues.

use crate::common;
use common::*;
use fe2o3_amqp::types::messaging::Outcome;
use fe2o3_amqp::{Receiver, Sender};
use fe2o3_amqp_types::messaging::{Body, MessageId};
use fe2o3_amqp_types::primitives::Value;

#[tokio::test]
async fn properties_and_body_survive_the_trip() {
    let broker = start().await;
    let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let mut sender = Sender::attach(
        &mut session,
        "epj-sender",
        format!("/exchange/{NS}/{KPR_HER}_async"),
    )
    .await
    .unwrap();
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let outcome = sender
        .send(nhn_message("6f1a3c1e-0000-4000-8000-000000000001", &body))
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Accepted(_)), "{outcome:?}");
    // Settled only after it is stored: the queue holds it now.
    assert_eq!(broker.bus().len(&format!("{KPR_HER}_async")).unwrap(), 1);
    sender.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();

    let (mut conn, mut session) = connect_session(&broker, KPR_USER, KPR_PASS).await;
    let mut receiver = Receiver::attach(
        &mut session,
        "kpr-receiver",
        format!("/amq/queue/{KPR_HER}_async"),
    )
    .await
    .unwrap();
    let delivery = receiver.recv::<Body<Value>>().await.unwrap();
    receiver.accept(&delivery).await.unwrap();
    let m = delivery.message();
    let p = m.properties.as_ref().unwrap();
    assert_eq!(message_id_of(m), "6f1a3c1e-0000-4000-8000-000000000001");
    assert_eq!(
        p.correlation_id,
        Some(MessageId::String(
            "corr-6f1a3c1e-0000-4000-8000-000000000001".into()
        ))
    );
    assert_eq!(p.to.as_deref(), Some("131725_async"));
    assert_eq!(p.reply_to.as_deref(), Some("123_async"));
    assert_eq!(p.subject.as_deref(), Some("IPLOS"));
    assert_eq!(
        p.content_type.as_ref().map(|s| s.as_str()),
        Some("application/pkcs7-mime; smime-type=signed-and-enveloped-data")
    );
    assert_eq!(app_prop(m, "fromHerId").as_deref(), Some("123"));
    assert_eq!(app_prop(m, "toHerId").as_deref(), Some("131725"));
    assert_eq!(
        app_prop(m, "applicationTimeStamp").as_deref(),
        Some("2019-01-03T08:15:00+01:00")
    );
    assert_eq!(app_prop(m, "cpaId").as_deref(), Some("cpa-42"));
    assert_eq!(data_of(m), body);
    receiver.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();

    common::eventually("the accepted message is deleted", || {
        broker.bus().len(&format!("{KPR_HER}_async")).unwrap() == 0
    })
    .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn other_target_forms_and_presettled_sends() {
    let broker = start().await;
    let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    for (i, address) in [
        format!("/amq/queue/{KPR_HER}_async"),
        format!("{KPR_HER}_async"),
        format!("/exchange/{NS}/{KPR_HER}_async"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut sender = Sender::builder()
            .name(format!("s{i}"))
            .target(address)
            .sender_settle_mode(fe2o3_amqp_types::definitions::SenderSettleMode::Settled)
            .attach(&mut session)
            .await
            .unwrap();
        sender
            .send(nhn_message(&format!("m{i}"), b"x"))
            .await
            .unwrap();
        sender.close().await.unwrap();
    }
    let queue = format!("{KPR_HER}_async");
    common::eventually("three pre-settled messages stored", || {
        broker.bus().len(&queue).unwrap() == 3
    })
    .await;
    session.end().await.unwrap();
    conn.close().await.unwrap();

    // In order, through the in-process consumer.
    let mut consumer = broker.bus().consumer(&queue).unwrap();
    for i in 0..3 {
        let d = consumer.next().await.unwrap();
        assert_eq!(message_id_of(d.message()), format!("m{i}"));
        d.accept().await.unwrap();
    }
    assert!(consumer.try_next().await.unwrap().is_none());
    broker.shutdown().await;
}

#[tokio::test]
async fn in_process_publish_reaches_an_amqp_consumer() {
    let broker = start().await;
    let queue = format!("{KOMMUNE_HER}_async");
    let mut apprec = nhn_message("apprec-1", b"<AppRec/>");
    apprec.properties.as_mut().unwrap().subject = Some("APPREC".into());
    broker.bus().publish(&queue, &apprec).await.unwrap();

    let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let mut receiver = Receiver::attach(&mut session, "r", format!("/amq/queue/{queue}"))
        .await
        .unwrap();
    let delivery = receiver.recv::<Body<Value>>().await.unwrap();
    receiver.accept(&delivery).await.unwrap();
    assert_eq!(message_id_of(delivery.message()), "apprec-1");
    assert_eq!(
        delivery
            .message()
            .properties
            .as_ref()
            .unwrap()
            .subject
            .as_deref(),
        Some("APPREC")
    );
    assert_eq!(data_of(delivery.message()), b"<AppRec/>");
    receiver.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
    broker.shutdown().await;
}
