//! Fault injection in the broker, as a certification session uses it: unavailability,
//! refused logins, a connection cut after a message was stored but before its disposition,
//! delayed dispositions, and the connection events the broker records. Real fe2o3-amqp
//! clients over 127.0.0.1.

use crate::common;
use std::time::{Duration, Instant};

use common::*;
use fe2o3_amqp::{Sender, Session};
use fe2o3_amqp_types::messaging::Outcome;
use iplos_mocks::servicebus::{BrokerFaults, BrokerHandle, ConnEvent, ConnEventKind};

const QUEUE: &str = "131725_async";

async fn broker(faults: &BrokerFaults) -> BrokerHandle {
    config()
        .with_faults(faults.clone())
        .start()
        .await
        .expect("broker starts")
}

async fn try_connect(
    broker: &BrokerHandle,
    user: &str,
    pass: &str,
) -> Result<fe2o3_amqp::connection::ConnectionHandle<()>, String> {
    tokio::time::timeout(
        Duration::from_secs(10),
        fe2o3_amqp::Connection::open("faults-client", url(broker, user, pass).as_str()),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| format!("{e:?}"))
}

async fn producer(
    broker: &BrokerHandle,
) -> (
    fe2o3_amqp::connection::ConnectionHandle<()>,
    fe2o3_amqp::session::SessionHandle<()>,
    Sender,
) {
    let mut conn = try_connect(broker, KOMMUNE_USER, KOMMUNE_PASS)
        .await
        .expect("connects");
    let mut session = Session::begin(&mut conn).await.expect("session");
    let sender = Sender::attach(&mut session, "submit", format!("/exchange/{NS}/{QUEUE}"))
        .await
        .expect("attach");
    (conn, session, sender)
}

fn kinds_of(events: &[ConnEvent], connection: u64) -> Vec<ConnEventKind> {
    events
        .iter()
        .filter(|e| e.connection == connection)
        .map(|e| e.kind.clone())
        .collect()
}

fn connection_where(events: &[ConnEvent], f: impl Fn(&ConnEventKind) -> bool) -> Option<u64> {
    events.iter().find(|e| f(&e.kind)).map(|e| e.connection)
}

#[tokio::test]
async fn unavailable_refuses_and_cuts_then_recovers() {
    let faults = BrokerFaults::new();
    let broker = broker(&faults).await;
    let (_conn, _session, mut sender) = producer(&broker).await;
    sender
        .send(nhn_message("before", b"x"))
        .await
        .expect("sent before")
        .accepted_or("not accepted")
        .expect("accepted");

    let until = Instant::now() + Duration::from_millis(1500);
    faults.set_unavailable_until(Some(until));

    // The open connection is cut...
    eventually("the open connection is dropped", || {
        faults.events().iter().any(
            |e| matches!(&e.kind, ConnEventKind::Dropped { reason } if reason == "unavailable"),
        )
    })
    .await;
    eventually("the cut connection is closed", || {
        kinds_of(&faults.events(), 1)
            .iter()
            .any(|k| matches!(k, ConnEventKind::Closed))
    })
    .await;
    let sent = tokio::time::timeout(
        Duration::from_secs(10),
        sender.send(nhn_message("cut", b"x")),
    )
    .await
    .expect("the send on a cut connection ends");
    assert!(
        sent.is_err(),
        "a send on the cut connection fails: {sent:?}"
    );

    // ...a new one is refused by the operating system (the port is closed: ECONNREFUSED,
    // not a connection accepted and closed during TLS)...
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = try_connect(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let Err(err) = refused else {
        panic!("connect while unavailable succeeded");
    };
    assert!(
        err.contains("ConnectionRefused") || err.contains("refused"),
        "the TCP connection is refused: {err}"
    );
    let raw = std::net::TcpStream::connect(broker.local_addr());
    assert_eq!(
        raw.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused),
        "a plain TCP connect is refused"
    );

    // ...and after `until` it works again.
    tokio::time::sleep_until((until + Duration::from_millis(50)).into()).await;
    let (_conn2, _s2, mut sender2) = producer(&broker).await;
    sender2
        .send(nhn_message("after", b"x"))
        .await
        .expect("sent after")
        .accepted_or("not accepted")
        .expect("accepted after the outage");
    let ids: Vec<String> = broker
        .bus()
        .browse(QUEUE)
        .await
        .unwrap()
        .iter()
        .map(message_id_of)
        .collect();
    assert_eq!(ids, ["before", "after"]);

    // The first connection's story: opened, attached, stored, dropped, closed.
    eventually("the cut connection is closed", || {
        let events = faults.events();
        kinds_of(&events, 1)
            .iter()
            .any(|k| matches!(k, ConnEventKind::Closed))
    })
    .await;
    let first = kinds_of(&faults.events(), 1);
    assert!(
        matches!(&first[0], ConnEventKind::Opened { username, tls: false, .. } if username == KOMMUNE_USER),
        "{first:?}"
    );
    assert!(
        matches!(&first[1], ConnEventKind::SenderAttached { target, queue, .. } if *target == format!("/exchange/{NS}/{QUEUE}") && queue == QUEUE),
        "{first:?}"
    );
    assert!(
        matches!(&first[2], ConnEventKind::Stored { message_id: Some(m), .. } if m == "before"),
        "{first:?}"
    );
    assert!(
        matches!(&first[3], ConnEventKind::Dropped { .. }),
        "{first:?}"
    );
    assert!(
        matches!(first.last(), Some(ConnEventKind::Closed)),
        "{first:?}"
    );
}

#[tokio::test]
async fn refused_auth_is_a_sasl_failure_with_the_user_name() {
    let faults = BrokerFaults::new();
    let broker = broker(&faults).await;
    faults.set_refuse_auth(Some(KOMMUNE_USER.to_string()));

    let e = try_connect(&broker, KOMMUNE_USER, KOMMUNE_PASS)
        .await
        .expect_err("the right password is refused while set");
    assert!(
        e.contains("Sasl") || e.contains("Auth"),
        "SASL failure: {e}"
    );
    // Another user is not affected; a wrong password is logged the same way.
    try_connect(&broker, KPR_USER, KPR_PASS)
        .await
        .expect("kpr connects");
    try_connect(&broker, KPR_USER, "wrong")
        .await
        .expect_err("wrong password");

    let events = faults.events();
    let failed: Vec<Option<String>> = events
        .iter()
        .filter_map(|e| match &e.kind {
            ConnEventKind::AuthFailed { username } => Some(username.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        [Some(KOMMUNE_USER.to_string()), Some(KPR_USER.to_string())]
    );

    faults.set_refuse_auth(None);
    try_connect(&broker, KOMMUNE_USER, KOMMUNE_PASS)
        .await
        .expect("lifted");
}

#[tokio::test]
async fn drop_after_store_keeps_the_message_and_withholds_the_disposition() {
    let faults = BrokerFaults::new();
    let broker = broker(&faults).await;
    let (mut conn, _session, mut sender) = producer(&broker).await;
    faults.drop_after_store(KOMMUNE_USER, 2);

    sender
        .send(nhn_message("m1", b"one"))
        .await
        .expect("first sent")
        .accepted_or("not accepted")
        .expect("first accepted");
    // fe2o3-amqp's sender waits for the outcome of an unsettled transfer even when the
    // connection is gone, so the send is bounded here; either way it is never accepted.
    let second = tokio::time::timeout(
        Duration::from_secs(3),
        sender.send(nhn_message("m2", b"two")),
    )
    .await;
    assert!(
        !matches!(second, Ok(Ok(Outcome::Accepted(_)))),
        "the client never learns the second was stored: {second:?}"
    );
    // The connection is gone: closing it ends at once, with an error (a live connection
    // would send a close frame and wait for the broker's).
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.close())
        .await
        .expect("close of a cut connection returns at once");
    assert!(closed.is_err(), "the connection was cut: {closed:?}");

    // Stored all the same.
    let bus = broker.bus();
    assert_eq!(bus.len(QUEUE).unwrap(), 2);
    let events = faults.events();
    let stored: Vec<Option<String>> = events
        .iter()
        .filter_map(|e| match &e.kind {
            ConnEventKind::Stored { message_id, .. } => Some(message_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(stored, [Some("m1".into()), Some("m2".into())]);
    let dropped = connection_where(&events, |k| matches!(k, ConnEventKind::Dropped { .. }))
        .expect("Dropped logged");
    assert_eq!(dropped, 1);

    // The client reconnects and resends the same message: stored again (the broker does not
    // deduplicate; that is the receiver's job), and this time it is settled.
    let (_conn2, _s2, mut sender2) = producer(&broker).await;
    sender2
        .send(nhn_message("m2", b"two"))
        .await
        .expect("resent")
        .accepted_or("not accepted")
        .expect("resend accepted");
    // One-shot: a further transfer is normal.
    sender2
        .send(nhn_message("m3", b"three"))
        .await
        .expect("sent")
        .accepted_or("not accepted")
        .expect("m3 accepted");
    let ids: Vec<String> = bus
        .browse(QUEUE)
        .await
        .unwrap()
        .iter()
        .map(message_id_of)
        .collect();
    assert_eq!(ids, ["m1", "m2", "m2", "m3"]);
    let events = faults.events();
    let opened: Vec<(u64, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            ConnEventKind::Opened {
                container_id,
                tls: false,
                username,
            } if username == KOMMUNE_USER => Some((e.connection, container_id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [
            (1, "faults-client".to_string()),
            (2, "faults-client".to_string())
        ],
        "each connection opened once, with the client's container-id"
    );
}

#[tokio::test]
async fn disposition_delay_slows_each_send() {
    let faults = BrokerFaults::new();
    let broker = broker(&faults).await;
    let (_conn, _session, mut sender) = producer(&broker).await;
    let delay = Duration::from_millis(400);
    faults.set_disposition_delay(delay);
    let started = Instant::now();
    sender
        .send(nhn_message("slow", b"x"))
        .await
        .expect("sent")
        .accepted_or("not accepted")
        .expect("accepted");
    let took = started.elapsed();
    assert!(took >= delay, "a send takes at least the delay: {took:?}");

    faults.set_disposition_delay(Duration::ZERO);
    let started = Instant::now();
    sender
        .send(nhn_message("fast", b"x"))
        .await
        .expect("sent")
        .accepted_or("not accepted")
        .expect("accepted");
    assert!(
        started.elapsed() < delay,
        "off again: {:?}",
        started.elapsed()
    );
    assert_eq!(broker.bus().len(QUEUE).unwrap(), 2);
}

#[tokio::test]
async fn events_serialize_as_tagged_json() {
    let faults = BrokerFaults::new();
    let broker = broker(&faults).await;
    let conn = try_connect(&broker, KOMMUNE_USER, KOMMUNE_PASS)
        .await
        .unwrap();
    drop(conn);
    eventually("opened", || !faults.events().is_empty()).await;
    let json = serde_json::to_value(faults.events()).unwrap();
    assert_eq!(json[0]["kind"]["event"], "opened");
    assert_eq!(json[0]["kind"]["username"], KOMMUNE_USER);
    assert_eq!(json[0]["connection"], 1);
    assert!(json[0]["at"].as_str().unwrap().ends_with('Z'));
}
