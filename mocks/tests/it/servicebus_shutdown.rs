//! Graceful shutdown: in-flight settlements finish, links and connections are closed with
//! proper frames, and the store keeps what was not acknowledged.

use crate::common;
use std::time::Duration;

use common::*;
use fe2o3_amqp::link::{LinkStateError, RecvError};
use fe2o3_amqp::{Receiver, Sender};
use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;
use iplos_mocks::servicebus::Limits;

#[tokio::test]
async fn shutdown_lets_in_flight_deliveries_settle_then_closes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("{KPR_HER}_async");
    let limits = Limits {
        shutdown_grace: Duration::from_secs(3),
        ..Limits::default()
    };
    let broker = config()
        .with_state_dir(dir.path())
        .with_limits(limits.clone())
        .start()
        .await
        .unwrap();
    for id in ["in-flight", "waiting"] {
        broker
            .bus()
            .publish(&queue, &nhn_message(id, b"x"))
            .await
            .unwrap();
    }
    let (mut conn, mut session) = connect_session(&broker, KPR_USER, KPR_PASS).await;
    let mut receiver = Receiver::builder()
        .name("r")
        .source(format!("/amq/queue/{queue}"))
        .credit_mode(fe2o3_amqp::link::receiver::CreditMode::Manual)
        .attach(&mut session)
        .await
        .unwrap();
    receiver.set_credit(1).await.unwrap();
    let d = receiver.recv::<Body<Value>>().await.unwrap();
    assert_eq!(message_id_of(d.message()), "in-flight");

    // Shut down while the delivery is unsettled; settle it during the grace period.
    let stopping = tokio::spawn(broker.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    receiver.accept(&d).await.unwrap();

    // Then the broker closes the link (a detach) and the connection (a close frame).
    match tokio::time::timeout(Duration::from_secs(10), receiver.recv::<Body<Value>>())
        .await
        .expect("the link is closed by the broker")
    {
        Err(RecvError::LinkStateError(
            LinkStateError::RemoteClosed
            | LinkStateError::RemoteDetached
            | LinkStateError::SessionStopped(_),
        )) => {}
        other => panic!("expected the broker to close the link, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(15), stopping)
        .await
        .expect("shutdown finishes")
        .unwrap();
    // The connection was closed by a close frame, not cut.
    match tokio::time::timeout(Duration::from_secs(5), conn.on_close())
        .await
        .unwrap()
    {
        Ok(()) => {}
        Err(fe2o3_amqp::connection::Error::RemoteClosed) => {}
        other => panic!("expected a clean close from the broker, got {other:?}"),
    }
    drop(session);

    // The accept during the grace period counted; the waiting message is still there.
    let broker = config().with_state_dir(dir.path()).start().await.unwrap();
    let left: Vec<String> = broker
        .bus()
        .browse(&queue)
        .await
        .unwrap()
        .iter()
        .map(message_id_of)
        .collect();
    assert_eq!(left, vec!["waiting".to_string()]);
    broker.shutdown().await;
}

#[tokio::test]
async fn new_connections_are_not_accepted_after_shutdown() {
    // On a port below the kernel's ephemeral range: no other test's listener on port 0 can
    // take it between the shutdown and the connect below (that made this test flaky).
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    let first = low.saturating_sub(10_000) + (std::process::id() % 4_000) as u16;
    let mut broker = None;
    for port in first..first + 4_000 {
        let at = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if let Ok(b) = config().with_bind(at).start().await {
            broker = Some(b);
            break;
        }
    }
    let broker = broker.expect("a free port below the ephemeral range");
    let addr = broker.local_addr();
    let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let mut sender = Sender::attach(&mut session, "s", format!("/exchange/{NS}/{KPR_HER}_async"))
        .await
        .unwrap();
    sender
        .send(nhn_message("before", b"b"))
        .await
        .unwrap()
        .accepted_or("no")
        .unwrap();
    broker.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let _ = conn.close().await;
}
