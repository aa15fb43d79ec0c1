//! Rejected and repeatedly failed messages end in `<herid>_dl`, with the reason.

use crate::common;
use common::*;
use fe2o3_amqp::Receiver;
use fe2o3_amqp_types::definitions::{self, AmqpError};
use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;
use iplos_mocks::servicebus::{
    ANNOTATION_DEAD_LETTER_DESCRIPTION, ANNOTATION_DEAD_LETTER_QUEUE,
    ANNOTATION_DEAD_LETTER_REASON, BrokerHandle, RejectPolicy,
};

fn string_annotation(m: &iplos_mocks::servicebus::AmqpMessage, key: &str) -> String {
    match annotation(m, key) {
        Some(Value::String(s)) => s,
        other => panic!("annotation {key}: {other:?}"),
    }
}

/// Receives from the HER-id's async queue `times` times, settling each delivery with `how`.
async fn fail_deliveries(broker: &BrokerHandle, times: u32, reject: bool) {
    let (mut conn, mut session) = connect_session(broker, KPR_USER, KPR_PASS).await;
    let mut receiver = Receiver::attach(&mut session, "r", format!("/amq/queue/{KPR_HER}_async"))
        .await
        .unwrap();
    for n in 0..times {
        let d = receiver.recv::<Body<Value>>().await.unwrap();
        assert_eq!(message_id_of(d.message()), "poison");
        assert_eq!(
            d.message().header.as_ref().map_or(0, |h| h.delivery_count),
            n
        );
        if n + 1 < times {
            // Not dead yet.
            assert_eq!(broker.bus().len(&format!("{KPR_HER}_dl")).unwrap(), 0);
        }
        if reject {
            let error = definitions::Error::new(
                AmqpError::NotAllowed,
                "transport:invalid-field-value".to_string(),
                None,
            );
            receiver.reject(&d, error).await.unwrap();
        } else {
            receiver.release(&d).await.unwrap();
        }
    }
    receiver.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
}

async fn dead_letter_of(broker: &BrokerHandle) -> iplos_mocks::servicebus::AmqpMessage {
    let dl = format!("{KPR_HER}_dl");
    eventually("message in _dl", || broker.bus().len(&dl).unwrap() == 1).await;
    assert_eq!(broker.bus().len(&format!("{KPR_HER}_async")).unwrap(), 0);
    // Read it over AMQP, as the participant would.
    let (mut conn, mut session) = connect_session(broker, KPR_USER, KPR_PASS).await;
    let mut receiver = Receiver::attach(&mut session, "dl", format!("/amq/queue/{dl}"))
        .await
        .unwrap();
    let d = receiver.recv::<Body<Value>>().await.unwrap();
    receiver.accept(&d).await.unwrap();
    receiver.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
    d.into_message()
}

#[tokio::test]
async fn rejected_goes_to_dead_letter_at_once_by_default() {
    let broker = start().await;
    broker
        .bus()
        .publish(&format!("{KPR_HER}_async"), &nhn_message("poison", b"p"))
        .await
        .unwrap();
    fail_deliveries(&broker, 1, true).await;
    let m = dead_letter_of(&broker).await;
    assert_eq!(message_id_of(&m), "poison");
    assert_eq!(data_of(&m), b"p");
    assert_eq!(app_prop(&m, "fromHerId").as_deref(), Some("123"));
    assert_eq!(
        string_annotation(&m, ANNOTATION_DEAD_LETTER_REASON),
        "rejected"
    );
    assert_eq!(
        string_annotation(&m, ANNOTATION_DEAD_LETTER_DESCRIPTION),
        "amqp:not-allowed: transport:invalid-field-value"
    );
    assert_eq!(
        string_annotation(&m, ANNOTATION_DEAD_LETTER_QUEUE),
        format!("{KPR_HER}_async")
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn rejected_ten_times_goes_to_dead_letter_with_the_retry_policy() {
    let broker = config()
        .with_reject_policy(RejectPolicy::Retry)
        .start()
        .await
        .unwrap();
    broker
        .bus()
        .publish(&format!("{KPR_HER}_async"), &nhn_message("poison", b"p"))
        .await
        .unwrap();
    fail_deliveries(&broker, 10, true).await;
    let m = dead_letter_of(&broker).await;
    assert_eq!(
        string_annotation(&m, ANNOTATION_DEAD_LETTER_REASON),
        "delivery-limit"
    );
    assert_eq!(m.header.as_ref().unwrap().delivery_count, 10);
    broker.shutdown().await;
}

#[tokio::test]
async fn released_ten_times_goes_to_dead_letter() {
    let broker = start().await;
    broker
        .bus()
        .publish(&format!("{KPR_HER}_async"), &nhn_message("poison", b"p"))
        .await
        .unwrap();
    fail_deliveries(&broker, 10, false).await;
    let m = dead_letter_of(&broker).await;
    assert_eq!(message_id_of(&m), "poison");
    assert_eq!(
        string_annotation(&m, ANNOTATION_DEAD_LETTER_REASON),
        "delivery-limit"
    );
    broker.shutdown().await;
}
