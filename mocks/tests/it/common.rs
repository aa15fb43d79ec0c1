//! Helpers shared by the service bus tests: a broker with two participants, an fe2o3-amqp
//! client and NHN-shaped messages.
#![allow(dead_code)]

use std::time::Duration;

use fe2o3_amqp::Session;
use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp_types::messaging::{
    ApplicationProperties, Body, Data, Message, MessageId, Properties,
};
use fe2o3_amqp_types::primitives::{Binary, Value};
use iplos_mocks::servicebus::{AmqpMessage, BrokerConfig, BrokerHandle};
use iplos_model::ids::HerId;

/// The municipality's EPJ (sender).
pub const KOMMUNE_HER: u32 = 123;
pub const KOMMUNE_USER: &str = "kommune0301";
pub const KOMMUNE_PASS: &str = "s3cret-kommune";
/// The national receiver (KPR Validering).
pub const KPR_HER: u32 = 131725;
pub const KPR_USER: &str = "kpr";
pub const KPR_PASS: &str = "s3cret-kpr";
pub const NS: &str = "NHNTESTServiceBus";

pub fn her(n: u32) -> HerId {
    HerId::new(n).unwrap()
}

/// Loopback, port 0, the two participants, in-memory store.
pub fn config() -> BrokerConfig {
    BrokerConfig::new()
        .with_namespace(NS)
        .with_participant(her(KOMMUNE_HER), KOMMUNE_USER, KOMMUNE_PASS)
        .with_participant(her(KPR_HER), KPR_USER, KPR_PASS)
}

pub async fn start() -> BrokerHandle {
    config().start().await.expect("broker starts")
}

pub fn url(broker: &BrokerHandle, user: &str, pass: &str) -> String {
    format!("amqp://{user}:{pass}@{}", broker.local_addr())
}

pub async fn connect(broker: &BrokerHandle, user: &str, pass: &str) -> ConnectionHandle<()> {
    fe2o3_amqp::Connection::open("test-client", url(broker, user, pass).as_str())
        .await
        .expect("connection opens")
}

/// Like [`connect`], over a socket with Nagle's algorithm off (for tests that make many
/// small exchanges: with it on, each one waits for a delayed ACK).
pub async fn connect_nodelay(
    broker: &BrokerHandle,
    user: &str,
    pass: &str,
) -> ConnectionHandle<()> {
    let tcp = tokio::net::TcpStream::connect(broker.local_addr())
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    fe2o3_amqp::Connection::builder()
        .container_id("test-client-nodelay")
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: user.to_string(),
            password: pass.to_string(),
        })
        .open_with_stream(tcp)
        .await
        .expect("connection opens")
}

pub async fn connect_session(
    broker: &BrokerHandle,
    user: &str,
    pass: &str,
) -> (ConnectionHandle<()>, SessionHandle<()>) {
    let mut connection = connect(broker, user, pass).await;
    let session = Session::begin(&mut connection)
        .await
        .expect("session begins");
    (connection, session)
}

/// A message shaped as NHN's: message-id, to, reply-to, subject, correlation-id,
/// content-type, application properties and one data section.
pub fn nhn_message(message_id: &str, body: &[u8]) -> AmqpMessage {
    let properties = Properties::builder()
        .message_id(MessageId::String(message_id.to_string()))
        .to(format!("{KPR_HER}_async"))
        .reply_to(format!("{KOMMUNE_HER}_async"))
        .subject("IPLOS")
        .correlation_id(MessageId::String(format!("corr-{message_id}")))
        .content_type("application/pkcs7-mime; smime-type=signed-and-enveloped-data")
        .build();
    let app = ApplicationProperties::builder()
        .insert("fromHerId", KOMMUNE_HER.to_string())
        .insert("toHerId", KPR_HER.to_string())
        .insert("applicationTimeStamp", "2019-01-03T08:15:00+01:00")
        .insert("cpaId", "cpa-42")
        .build();
    Message::builder()
        .properties(properties)
        .application_properties(app)
        .body(Body::Data(vec![Data(Binary::from(body.to_vec()))].into()))
        .build()
}

/// The single data section of a message.
pub fn data_of(message: &Message<Body<Value>>) -> Vec<u8> {
    match &message.body {
        Body::Data(batch) => {
            let sections: Vec<&Data> = batch.iter().collect();
            assert_eq!(sections.len(), 1, "one data section");
            sections[0].0.to_vec()
        }
        other => panic!("expected a data body, got {other:?}"),
    }
}

pub fn message_id_of(message: &Message<Body<Value>>) -> String {
    match message
        .properties
        .as_ref()
        .and_then(|p| p.message_id.as_ref())
    {
        Some(MessageId::String(s)) => s.clone(),
        other => panic!("unexpected message-id {other:?}"),
    }
}

pub fn app_prop(message: &Message<Body<Value>>, key: &str) -> Option<String> {
    let app = message.application_properties.as_ref()?;
    match app.0.get(key)? {
        fe2o3_amqp_types::primitives::SimpleValue::String(s) => Some(s.clone()),
        other => panic!("application property {key} is {other:?}"),
    }
}

pub fn annotation(message: &Message<Body<Value>>, key: &str) -> Option<Value> {
    let ann = message.message_annotations.as_ref()?;
    ann.0
        .iter()
        .find(|(k, _)| format!("{k:?}").contains(key))
        .map(|(_, v)| v.clone())
}

/// Waits (bounded) until `f` holds.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Attaches a sender that the broker should refuse; returns the error it was refused with.
pub async fn refused_sender(
    session: &mut SessionHandle<()>,
    name: &str,
    address: &str,
) -> fe2o3_amqp_types::definitions::Error {
    use fe2o3_amqp::link::DetachError;
    let attached = tokio::time::timeout(
        Duration::from_secs(10),
        fe2o3_amqp::Sender::attach(session, name, address),
    )
    .await
    .expect("attach answered");
    match attached {
        Ok(mut sender) => {
            match tokio::time::timeout(Duration::from_secs(10), sender.on_detach())
                .await
                .expect("detach arrives")
            {
                DetachError::RemoteClosedWithError(e) | DetachError::RemoteDetachedWithError(e) => {
                    e
                }
                other => panic!("expected a detach with an error, got {other:?}"),
            }
        }
        Err(e) => panic!("attach failed without a remote error: {e:?}"),
    }
}

/// Attaches a receiver that the broker should refuse; returns the error it was refused with.
pub async fn refused_receiver(
    session: &mut SessionHandle<()>,
    name: &str,
    address: &str,
) -> fe2o3_amqp_types::definitions::Error {
    use fe2o3_amqp::link::{LinkStateError, RecvError};
    let attached = tokio::time::timeout(
        Duration::from_secs(10),
        fe2o3_amqp::Receiver::attach(session, name, address),
    )
    .await
    .expect("attach answered");
    match attached {
        Ok(mut receiver) => {
            match tokio::time::timeout(Duration::from_secs(10), receiver.recv::<Body<Value>>())
                .await
                .expect("detach arrives")
            {
                Err(RecvError::LinkStateError(
                    LinkStateError::RemoteClosedWithError(e)
                    | LinkStateError::RemoteDetachedWithError(e),
                )) => e,
                other => panic!("expected a detach with an error, got {other:?}"),
            }
        }
        Err(e) => panic!("attach failed without a remote error: {e:?}"),
    }
}

/// The condition of an AMQP error as its symbol, e.g. `amqp:not-found`.
pub fn condition(e: &fe2o3_amqp_types::definitions::Error) -> String {
    use fe2o3_amqp_types::definitions::ErrorCondition as C;
    use fe2o3_amqp_types::primitives::Symbol;
    let symbol = match &e.condition {
        C::AmqpError(c) => Symbol::from(c),
        C::ConnectionError(c) => Symbol::from(c),
        C::SessionError(c) => Symbol::from(c),
        C::LinkError(c) => Symbol::from(c),
        C::Custom(c) => c.clone(),
    };
    symbol.as_str().to_string()
}
