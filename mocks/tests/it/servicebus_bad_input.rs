//! Garbage, silence and abrupt disconnects: the connection goes, the broker stays, and
//! nothing accepted is lost.

use crate::common;
use std::time::Duration;

use common::*;
use fe2o3_amqp::Sender;
use iplos_mocks::servicebus::{BrokerHandle, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the broker closes the socket; returns what it sent.
async fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut out)).await;
    match read {
        Ok(Ok(_)) => {}
        // A reset is a close too.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("read failed: {e}"),
        Err(_) => panic!("the broker did not close the connection"),
    }
    out
}

/// A message stored before the abuse is still there, and a proper client still works.
async fn assert_alive_and_intact(broker: &BrokerHandle) {
    let (mut conn, mut session) = connect_session(broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let mut sender = Sender::attach(
        &mut session,
        "after",
        format!("/exchange/{NS}/{KPR_HER}_async"),
    )
    .await
    .unwrap();
    sender
        .send(nhn_message("after", b"a"))
        .await
        .unwrap()
        .accepted_or("no")
        .unwrap();
    sender.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
    let mut ids = Vec::new();
    for m in broker
        .bus()
        .browse(&format!("{KPR_HER}_async"))
        .await
        .unwrap()
    {
        let id = message_id_of(&m);
        if id == "half-sent" {
            // Stored only if it arrived whole (then the sender saw it accepted).
            assert_eq!(data_of(&m).len(), 4 * 1024 * 1024);
            continue;
        }
        ids.push(id);
    }
    assert_eq!(ids, vec!["before".to_string(), "after".to_string()]);
}

async fn broker_with_one_message(limits: Limits) -> BrokerHandle {
    let broker = config().with_limits(limits).start().await.unwrap();
    broker
        .bus()
        .publish(&format!("{KPR_HER}_async"), &nhn_message("before", b"b"))
        .await
        .unwrap();
    broker
}

/// SASL by hand up to the AMQP header (and the open exchange if `open`), so that garbage
/// reaches the frame parser.
async fn authenticated_socket(broker: &BrokerHandle, open: bool) -> TcpStream {
    use fe2o3_amqp_types::primitives::{Binary, Symbol};
    use fe2o3_amqp_types::sasl::{SaslCode, SaslInit, SaslOutcome};

    async fn read_frame(tcp: &mut TcpStream) -> Vec<u8> {
        let mut size = [0u8; 4];
        tcp.read_exact(&mut size).await.unwrap();
        let mut rest = vec![0u8; u32::from_be_bytes(size) as usize - 4];
        tcp.read_exact(&mut rest).await.unwrap();
        rest[rest[0] as usize * 4 - 4..].to_vec()
    }
    let mut tcp = TcpStream::connect(broker.local_addr()).await.unwrap();
    tcp.write_all(b"AMQP\x03\x01\x00\x00").await.unwrap();
    let mut header = [0u8; 8];
    tcp.read_exact(&mut header).await.unwrap();
    read_frame(&mut tcp).await;
    let init = SaslInit {
        mechanism: Symbol::from("PLAIN"),
        initial_response: Some(Binary::from(
            format!("\0{KOMMUNE_USER}\0{KOMMUNE_PASS}").into_bytes(),
        )),
        hostname: None,
    };
    let body = serde_amqp::to_vec(&init).unwrap();
    let mut frame = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&[2, 1, 0, 0]);
    frame.extend_from_slice(&body);
    tcp.write_all(&frame).await.unwrap();
    let outcome: SaslOutcome = serde_amqp::from_slice(&read_frame(&mut tcp).await).unwrap();
    assert_eq!(outcome.code, SaslCode::Ok);
    tcp.write_all(b"AMQP\x00\x01\x00\x00").await.unwrap();
    let mut header = [0u8; 8];
    tcp.read_exact(&mut header).await.unwrap();
    assert_eq!(&header, b"AMQP\x00\x01\x00\x00");
    if open {
        use fe2o3_amqp_types::performatives::{ChannelMax, MaxFrameSize, Open};
        let open = Open {
            container_id: "raw".into(),
            hostname: None,
            max_frame_size: MaxFrameSize::default(),
            channel_max: ChannelMax::default(),
            idle_time_out: None,
            outgoing_locales: None,
            incoming_locales: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        let body = serde_amqp::to_vec(&open).unwrap();
        let mut frame = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&[2, 0, 0, 0]);
        frame.extend_from_slice(&body);
        tcp.write_all(&frame).await.unwrap();
        // The broker's open.
        let mut size = [0u8; 4];
        tcp.read_exact(&mut size).await.unwrap();
        let mut rest = vec![0u8; u32::from_be_bytes(size) as usize - 4];
        tcp.read_exact(&mut rest).await.unwrap();
    }
    tcp
}

#[tokio::test]
async fn garbage_instead_of_a_protocol_header() {
    let broker = broker_with_one_message(Limits::default()).await;
    let mut tcp = TcpStream::connect(broker.local_addr()).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut tcp).await;
    // The broker answers with the header it wants (AMQP's way of saying "not this"), then
    // closes.
    assert!(answer.starts_with(b"AMQP"), "{answer:?}");
    assert_alive_and_intact(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn garbage_after_the_sasl_header() {
    let broker = broker_with_one_message(Limits::default()).await;
    let mut tcp = TcpStream::connect(broker.local_addr()).await.unwrap();
    tcp.write_all(b"AMQP\x03\x01\x00\x00").await.unwrap();
    tcp.write_all(&[0xff; 64]).await.unwrap();
    read_to_close(&mut tcp).await;
    assert_alive_and_intact(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn malformed_frames_after_login() {
    let limits = Limits {
        handshake_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let broker = broker_with_one_message(limits).await;
    for open in [false, true] {
        // A frame that claims 4 GiB.
        let mut tcp = authenticated_socket(&broker, open).await;
        tcp.write_all(&[0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0])
            .await
            .unwrap();
        read_to_close(&mut tcp).await;
        // A frame of the right size full of nonsense.
        let mut tcp = authenticated_socket(&broker, open).await;
        let mut frame = 64u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&[2, 0, 0, 0]);
        frame.extend_from_slice(&[0x42; 56]);
        tcp.write_all(&frame).await.unwrap();
        // (fe2o3-amqp's connection engine drops the socket on a frame it cannot decode,
        // without a close frame.)
        read_to_close(&mut tcp).await;
        // A data offset pointing before the header.
        let mut tcp = authenticated_socket(&broker, open).await;
        tcp.write_all(&[0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
            .await
            .unwrap();
        read_to_close(&mut tcp).await;
    }
    assert_alive_and_intact(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_says_anything_is_dropped() {
    let limits = Limits {
        handshake_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let broker = broker_with_one_message(limits).await;
    let mut silent = TcpStream::connect(broker.local_addr()).await.unwrap();
    let mut half = TcpStream::connect(broker.local_addr()).await.unwrap();
    half.write_all(b"AMQP\x03\x01").await.unwrap();
    read_to_close(&mut silent).await;
    read_to_close(&mut half).await;
    assert_alive_and_intact(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn abrupt_disconnects_mid_transfer_lose_nothing_accepted() {
    let limits = Limits {
        max_frame_size: 4096,
        ..Limits::default()
    };
    let broker = broker_with_one_message(limits).await;
    // A client on its own runtime starts a large multi-frame send and dies half-way.
    let url = url(&broker, KOMMUNE_USER, KOMMUNE_PASS);
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut conn = fe2o3_amqp::Connection::open("dying", url.as_str())
                .await
                .unwrap();
            let mut session = fe2o3_amqp::Session::begin(&mut conn).await.unwrap();
            let mut sender = Sender::attach(
                &mut session,
                "big",
                format!("/exchange/{NS}/{KPR_HER}_async"),
            )
            .await
            .unwrap();
            let big = vec![1u8; 4 * 1024 * 1024];
            // Cut off after the first frames are out (the rest may or may not follow).
            let _ = tokio::time::timeout(
                Duration::from_millis(5),
                sender.send(nhn_message("half-sent", &big)),
            )
            .await;
            std::mem::forget(sender);
            std::mem::forget(session);
            std::mem::forget(conn);
        });
        drop(rt);
    })
    .await
    .unwrap();
    // Sockets that just vanish at every stage.
    for cut in [4usize, 8, 20] {
        let mut tcp = TcpStream::connect(broker.local_addr()).await.unwrap();
        tcp.write_all(&b"AMQP\x03\x01\x00\x00\x00\x00\x00\x20\x02\x01\x00\x00"[..cut.min(16)])
            .await
            .unwrap();
        drop(tcp);
    }
    assert_alive_and_intact(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn an_idle_connection_is_dropped_after_the_idle_timeout() {
    let limits = Limits {
        idle_timeout: Some(Duration::from_millis(500)),
        ..Limits::default()
    };
    let broker = broker_with_one_message(limits).await;
    // Opened, then silent: no frames, not even empty ones.
    let mut tcp = authenticated_socket(&broker, true).await;
    let started = std::time::Instant::now();
    read_to_close(&mut tcp).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_alive_and_intact(&broker).await;
    broker.shutdown().await;
}
