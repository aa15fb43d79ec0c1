//! Protective limits: a link flood is refused link by link while other clients go on; the
//! connection limit; the message size limit.

use crate::common;
use std::time::Duration;

use common::*;
use fe2o3_amqp::connection::Error as ConnectionError;
use fe2o3_amqp::link::{DetachError, SendError};
use fe2o3_amqp::{Receiver, Sender};
use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;
use iplos_mocks::servicebus::Limits;

#[tokio::test]
async fn a_link_flood_gets_refusals_and_other_clients_are_unaffected() {
    let broker = start().await;
    let max_links = Limits::default().max_links_per_connection;
    let queue = format!("{KPR_HER}_async");

    let mut conn = connect_nodelay(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let mut session = fe2o3_amqp::Session::begin(&mut conn).await.unwrap();
    let mut accepted = Vec::new();
    let mut refused = 0usize;
    let mut checked = 0usize;
    for i in 0..10_000usize {
        let mut sender = tokio::time::timeout(
            Duration::from_secs(10),
            Sender::attach(
                &mut session,
                format!("flood-{i}"),
                format!("/exchange/{NS}/{queue}"),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("attach {i} answered"))
        .expect("attach works");
        if i < max_links {
            accepted.push(sender);
            continue;
        }
        refused += 1;
        // Every refusal is a detach with the error (the client reads it, as a real one does,
        // which also frees the link's handle).
        match tokio::time::timeout(Duration::from_secs(10), sender.on_detach())
            .await
            .unwrap()
        {
            DetachError::RemoteClosedWithError(e) => {
                assert_eq!(condition(&e), "amqp:resource-limit-exceeded");
                checked += 1;
            }
            other => panic!("expected resource-limit-exceeded, got {other:?}"),
        }
        drop(sender);

        if i == 5_000 {
            // Meanwhile another client sends and receives as usual.
            let (mut c2, mut s2) = connect_session(&broker, KPR_USER, KPR_PASS).await;
            let mut tx = Sender::attach(
                &mut s2,
                "other",
                format!("/exchange/{NS}/{KOMMUNE_HER}_async"),
            )
            .await
            .unwrap();
            tx.send(nhn_message("unaffected", b"u"))
                .await
                .unwrap()
                .accepted_or("no")
                .unwrap();
            tx.close().await.unwrap();
            s2.end().await.unwrap();
            c2.close().await.unwrap();
            let (mut c3, mut s3) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
            let mut rx =
                Receiver::attach(&mut s3, "own", format!("/amq/queue/{KOMMUNE_HER}_async"))
                    .await
                    .unwrap();
            let d = rx.recv::<Body<Value>>().await.unwrap();
            rx.accept(&d).await.unwrap();
            assert_eq!(message_id_of(d.message()), "unaffected");
            rx.close().await.unwrap();
            s3.end().await.unwrap();
            c3.close().await.unwrap();
        }
    }
    assert_eq!(refused, 10_000 - max_links);
    assert_eq!(checked, refused);
    // The accepted links of the flooding client still work.
    accepted[0]
        .send(nhn_message("still-works", b"w"))
        .await
        .unwrap()
        .accepted_or("no")
        .unwrap();
    for s in accepted {
        s.close().await.unwrap();
    }
    session.end().await.unwrap();
    conn.close().await.unwrap();
    assert_eq!(broker.bus().len(&queue).unwrap(), 1);
    broker.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_with_resource_limit_exceeded() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let broker = config().with_limits(limits).start().await.unwrap();
    let mut a = connect(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let mut b = connect(&broker, KPR_USER, KPR_PASS).await;
    let third =
        fe2o3_amqp::Connection::open("third", url(&broker, KPR_USER, KPR_PASS).as_str()).await;
    match third {
        Ok(mut c) => match tokio::time::timeout(Duration::from_secs(10), c.on_close())
            .await
            .unwrap()
        {
            Err(ConnectionError::RemoteClosedWithError(e)) => {
                assert_eq!(condition(&e), "amqp:resource-limit-exceeded")
            }
            other => panic!("expected resource-limit-exceeded, got {other:?}"),
        },
        Err(e) => assert!(format!("{e:?}").contains("ResourceLimitExceeded"), "{e:?}"),
    }
    // Closing one makes room again.
    a.close().await.unwrap();
    eventually_async_connect(&broker).await;
    b.close().await.unwrap();
    broker.shutdown().await;
}

async fn eventually_async_connect(broker: &iplos_mocks::servicebus::BrokerHandle) {
    for _ in 0..100 {
        if let Ok(mut c) =
            fe2o3_amqp::Connection::open("again", url(broker, KPR_USER, KPR_PASS).as_str()).await
        {
            let mut s = fe2o3_amqp::Session::begin(&mut c).await.unwrap();
            s.end().await.unwrap();
            c.close().await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no room after closing a connection");
}

#[tokio::test]
async fn the_message_size_limit_is_advertised_and_enforced_by_a_well_behaved_client() {
    let limits = Limits {
        max_message_size: 1024 * 1024,
        ..Limits::default()
    };
    let broker = config().with_limits(limits).start().await.unwrap();
    let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let mut sender = Sender::attach(
        &mut session,
        "big",
        format!("/exchange/{NS}/{KPR_HER}_async"),
    )
    .await
    .unwrap();
    assert_eq!(sender.max_message_size(), Some(1024 * 1024));
    let big = vec![7u8; 2 * 1024 * 1024];
    match sender.send(nhn_message("too-big", &big)).await {
        Err(SendError::MessageSizeExceeded(e)) => assert_eq!(e.max_size, 1024 * 1024),
        other => panic!("expected message-size-exceeded, got {other:?}"),
    }
    // Just under the limit is fine.
    let fits = vec![7u8; 1024 * 1024 - 1024];
    sender
        .send(nhn_message("fits", &fits))
        .await
        .unwrap()
        .accepted_or("no")
        .unwrap();
    sender.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
    assert_eq!(broker.bus().len(&format!("{KPR_HER}_async")).unwrap(), 1);
    broker.shutdown().await;
}
