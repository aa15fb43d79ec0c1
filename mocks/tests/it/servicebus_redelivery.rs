//! At least once: a consumer that goes away without settling does not swallow the message.

use crate::common;
use std::time::Duration;

use common::*;
use fe2o3_amqp::Receiver;
use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;

async fn receive_and_accept(broker: &iplos_mocks::servicebus::BrokerHandle) -> (String, u32) {
    let (mut conn, mut session) = connect_session(broker, KPR_USER, KPR_PASS).await;
    let mut receiver = Receiver::attach(
        &mut session,
        "second",
        format!("/amq/queue/{KPR_HER}_async"),
    )
    .await
    .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(10), receiver.recv::<Body<Value>>())
        .await
        .expect("redelivered")
        .unwrap();
    receiver.accept(&d).await.unwrap();
    let count = d.message().header.as_ref().map_or(0, |h| h.delivery_count);
    receiver.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
    (message_id_of(d.message()), count)
}

#[tokio::test]
async fn unsettled_message_goes_to_the_next_consumer_after_a_clean_close() {
    let broker = start().await;
    let queue = format!("{KPR_HER}_async");
    broker
        .bus()
        .publish(&queue, &nhn_message("m1", b"x"))
        .await
        .unwrap();

    let (mut conn, mut session) = connect_session(&broker, KPR_USER, KPR_PASS).await;
    let mut receiver = Receiver::attach(&mut session, "first", format!("/amq/queue/{queue}"))
        .await
        .unwrap();
    let d = receiver.recv::<Body<Value>>().await.unwrap();
    assert_eq!(message_id_of(d.message()), "m1");
    assert_eq!(
        d.message().header.as_ref().map_or(0, |h| h.delivery_count),
        0
    );
    // Gone without settling.
    drop(receiver);
    drop(session);
    // (the client library may complain about closing with a session it never ended)
    let _ = conn.close().await;

    assert_eq!(receive_and_accept(&broker).await, ("m1".to_string(), 1));
    eventually("queue empty", || broker.bus().len(&queue).unwrap() == 0).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn unsettled_message_survives_a_consumer_whose_connection_just_dies() {
    let broker = start().await;
    let queue = format!("{KPR_HER}_async");
    broker
        .bus()
        .publish(&queue, &nhn_message("m2", b"y"))
        .await
        .unwrap();

    // The first consumer runs on its own runtime, which is then dropped: its socket closes
    // without any close frame, detach or disposition.
    let addr = url(&broker, KPR_USER, KPR_PASS);
    let q = queue.clone();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut conn = fe2o3_amqp::Connection::open("doomed", addr.as_str())
                .await
                .unwrap();
            let mut session = fe2o3_amqp::Session::begin(&mut conn).await.unwrap();
            let mut receiver = Receiver::attach(&mut session, "doomed", format!("/amq/queue/{q}"))
                .await
                .unwrap();
            let d = receiver.recv::<Body<Value>>().await.unwrap();
            assert_eq!(message_id_of(d.message()), "m2");
            std::mem::forget(receiver);
            std::mem::forget(session);
            std::mem::forget(conn);
        });
        drop(rt);
    })
    .await
    .unwrap();

    assert_eq!(receive_and_accept(&broker).await, ("m2".to_string(), 1));
    eventually("queue empty", || broker.bus().len(&queue).unwrap() == 0).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn released_message_comes_back_first() {
    let broker = start().await;
    let queue = format!("{KPR_HER}_async");
    for id in ["a", "b"] {
        broker
            .bus()
            .publish(&queue, &nhn_message(id, b"x"))
            .await
            .unwrap();
    }
    // In process, one message at a time: the released message is the next one out.
    let mut consumer = broker.bus().consumer(&queue).unwrap();
    let d = consumer.next().await.unwrap();
    assert_eq!(message_id_of(d.message()), "a");
    d.release().await.unwrap();
    let d = consumer.next().await.unwrap();
    assert_eq!(message_id_of(d.message()), "a");
    assert_eq!(d.delivery_count(), 1);
    d.release().await.unwrap();
    drop(consumer);

    // Over AMQP with credit (fe2o3's default 200) the link has handed out "b" too before
    // "a" is released, as RabbitMQ does with a prefetch: "a" is back at the head of the
    // queue and comes next, after what was already sent.
    let (mut conn, mut session) = connect_session(&broker, KPR_USER, KPR_PASS).await;
    let mut receiver = Receiver::attach(&mut session, "r", format!("/amq/queue/{queue}"))
        .await
        .unwrap();
    let d = receiver.recv::<Body<Value>>().await.unwrap();
    assert_eq!(message_id_of(d.message()), "a");
    assert_eq!(d.message().header.as_ref().unwrap().delivery_count, 2);
    receiver.release(&d).await.unwrap();
    let d = receiver.recv::<Body<Value>>().await.unwrap();
    assert_eq!(message_id_of(d.message()), "b");
    receiver.accept(&d).await.unwrap();
    let d = receiver.recv::<Body<Value>>().await.unwrap();
    assert_eq!(message_id_of(d.message()), "a");
    assert_eq!(d.message().header.as_ref().unwrap().delivery_count, 3);
    receiver.accept(&d).await.unwrap();
    receiver.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
    eventually("queue empty", || broker.bus().len(&queue).unwrap() == 0).await;
    broker.shutdown().await;
}
