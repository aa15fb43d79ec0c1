//! SASL PLAIN against the participants' table, and who may consume what.

use crate::common;
use common::*;
use fe2o3_amqp::Connection;
use fe2o3_amqp::connection::OpenError;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::{Receiver, Sender};
use fe2o3_amqp_types::sasl::SaslCode;

fn assert_auth_refused(result: Result<fe2o3_amqp::connection::ConnectionHandle<()>, OpenError>) {
    match result {
        Err(OpenError::SaslError { code, .. }) => assert_eq!(code, SaslCode::Auth),
        Err(other) => panic!("expected a SASL auth failure, got {other:?}"),
        Ok(_) => panic!("connection should have been refused"),
    }
}

#[tokio::test]
async fn wrong_password_unknown_user_and_anonymous_are_refused() {
    let broker = start().await;
    assert_auth_refused(Connection::open("c", url(&broker, KOMMUNE_USER, "wrong").as_str()).await);
    assert_auth_refused(Connection::open("c", url(&broker, "nobody", KOMMUNE_PASS).as_str()).await);
    // Another participant's password does not work either.
    assert_auth_refused(Connection::open("c", url(&broker, KOMMUNE_USER, KPR_PASS).as_str()).await);
    // ANONYMOUS is not offered, so a polite client gives up by itself...
    assert!(
        Connection::builder()
            .container_id("anon")
            .sasl_profile(SaslProfile::Anonymous)
            .open(format!("amqp://{}", broker.local_addr()).as_str())
            .await
            .is_err()
    );
    // ...and one that insists gets the `auth` outcome.
    assert_eq!(
        raw_sasl_init(&broker, "ANONYMOUS", None).await,
        SaslCode::Auth
    );
    assert_eq!(
        raw_sasl_init(
            &broker,
            "PLAIN",
            Some(format!("\0{KOMMUNE_USER}\0wrong").as_bytes())
        )
        .await,
        SaslCode::Auth
    );
    assert_eq!(
        raw_sasl_init(
            &broker,
            "PLAIN",
            Some(format!("\0{KOMMUNE_USER}\0{KOMMUNE_PASS}").as_bytes())
        )
        .await,
        SaslCode::Ok
    );
    // A client that skips SASL altogether is not served either.
    assert!(
        Connection::open("nosasl", format!("amqp://{}", broker.local_addr()).as_str())
            .await
            .is_err()
    );
    // The right password still works.
    let mut ok = connect(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    ok.close().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test]
async fn a_participant_receives_only_from_its_own_queues_but_sends_anywhere() {
    let broker = start().await;
    let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    for suffix in ["async", "sync", "error", "dl", "syncreply"] {
        let e = refused_receiver(
            &mut session,
            &format!("steal-{suffix}"),
            &format!("/amq/queue/{KPR_HER}_{suffix}"),
        )
        .await;
        assert_eq!(condition(&e), "amqp:unauthorized-access");
        assert!(
            e.description
                .as_deref()
                .unwrap()
                .contains(&format!("{KPR_HER}_{suffix}"))
        );
    }
    // Own queues are fine.
    let own = Receiver::attach(
        &mut session,
        "own",
        format!("/amq/queue/{KOMMUNE_HER}_error"),
    )
    .await
    .unwrap();
    // Sending to another HER-id's queue is what the bus is for.
    let mut sender = Sender::attach(
        &mut session,
        "send",
        format!("/exchange/{NS}/{KPR_HER}_async"),
    )
    .await
    .unwrap();
    sender
        .send(nhn_message("m", b"x"))
        .await
        .unwrap()
        .accepted_or("not accepted")
        .unwrap();
    sender.close().await.unwrap();
    own.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test]
async fn unknown_queues_and_exchanges_are_not_found() {
    let broker = start().await;
    let (mut conn, mut session) = connect_session(&broker, KOMMUNE_USER, KOMMUNE_PASS).await;
    let e = refused_sender(&mut session, "s1", &format!("/exchange/{NS}/999_async")).await;
    assert_eq!(condition(&e), "amqp:not-found");
    assert!(
        e.description.as_deref().unwrap().contains("999_async"),
        "{e:?}"
    );

    let e = refused_sender(&mut session, "s2", "/exchange/WrongNamespace/131725_async").await;
    assert_eq!(condition(&e), "amqp:not-found");
    assert!(
        e.description.as_deref().unwrap().contains("WrongNamespace"),
        "{e:?}"
    );

    let e = refused_receiver(&mut session, "r1", "/amq/queue/123_nosuch").await;
    assert_eq!(condition(&e), "amqp:not-found");
    assert!(
        e.description.as_deref().unwrap().contains("123_nosuch"),
        "{e:?}"
    );

    // The session goes on after the refusals.
    let mut sender = Sender::attach(
        &mut session,
        "s3",
        format!("/exchange/{NS}/{KPR_HER}_async"),
    )
    .await
    .unwrap();
    sender
        .send(nhn_message("after", b"x"))
        .await
        .unwrap()
        .accepted_or("not accepted")
        .unwrap();
    sender.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
    broker.shutdown().await;
}

/// Speaks SASL by hand: header, then an init with the given mechanism; returns the outcome.
async fn raw_sasl_init(
    broker: &iplos_mocks::servicebus::BrokerHandle,
    mechanism: &str,
    response: Option<&[u8]>,
) -> SaslCode {
    use fe2o3_amqp_types::primitives::{Binary, Symbol};
    use fe2o3_amqp_types::sasl::{SaslInit, SaslOutcome};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn read_frame(tcp: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut size = [0u8; 4];
        tcp.read_exact(&mut size).await.unwrap();
        let size = u32::from_be_bytes(size) as usize;
        let mut rest = vec![0u8; size - 4];
        tcp.read_exact(&mut rest).await.unwrap();
        let doff = rest[0] as usize * 4;
        assert_eq!(rest[1], 1, "SASL frame type");
        rest[doff - 4..].to_vec()
    }

    let mut tcp = tokio::net::TcpStream::connect(broker.local_addr())
        .await
        .unwrap();
    tcp.write_all(b"AMQP\x03\x01\x00\x00").await.unwrap();
    let mut header = [0u8; 8];
    tcp.read_exact(&mut header).await.unwrap();
    assert_eq!(&header, b"AMQP\x03\x01\x00\x00");
    let _mechanisms = read_frame(&mut tcp).await;
    let init = SaslInit {
        mechanism: Symbol::from(mechanism),
        initial_response: response.map(|r| Binary::from(r.to_vec())),
        hostname: None,
    };
    let body = serde_amqp::to_vec(&init).unwrap();
    let mut frame = Vec::new();
    frame.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    frame.extend_from_slice(&[2, 1, 0, 0]);
    frame.extend_from_slice(&body);
    tcp.write_all(&frame).await.unwrap();
    let outcome: SaslOutcome = serde_amqp::from_slice(&read_frame(&mut tcp).await).unwrap();
    outcome.code
}
