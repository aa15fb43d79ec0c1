//! The reference sender: what a correct EPJ does to submit an IPLOS message over NHN's
//! service bus, as a library the season engine and the certification sessions reuse, with
//! [`Fault`]s for negative tests.
//!
//! # What it sends (DOMAIN §4)
//!
//! - the IPLOS document inside a MsgHead (sender: the kommune's name, HER-id and orgnr;
//!   receiver: the register's name and HER-id; `MsgInfo/Type` `IPLOS`; a fresh GUID as
//!   `MsgId`), signed with the kommune's signing certificate and then encrypted for the
//!   register's encryption certificate ([`crate::cms::sign_then_encrypt`]);
//! - as one data section of an AMQP message to `/exchange/<namespace>/<register>_async`
//!   with `message-id` a fresh GUID, `to` `<register>_async`, `reply-to`
//!   `<own HER-id>_async`, `subject` `IPLOS` (the message function, **\[model\]**: see
//!   [`SUBJECT_IPLOS`](crate::nhn::SUBJECT_IPLOS)), `correlation-id` = the
//!   message-id (a new conversation, as Helsenorge.Messaging does), `content-type`
//!   `application/pkcs7-mime; smime-type=signed-and-enveloped-data`, and the application
//!   properties `fromHerId`, `toHerId` (strings), `applicationTimeStamp`
//!   (`yyyy-MM-ddTHH:mm:ssK`, Norwegian time).
//!
//! # How it connects
//!
//! `amqp://user:password@host:port[/namespace]`, or `amqps://…` with TLS straight away
//! (rustls), the broker's certificate verified against the CA file in
//! [`SenderConfig::tls_ca`] (required for `amqps`; the system's roots are not used
//! \[model\]: the harness runs offline with its own CA) for the URL's host. A certificate
//! that does not verify fails the connect with `SendError::Amqp("TLS: …")`.
//!
//! # What it waits for
//!
//! It listens on its own `<her>_async` and `<her>_error` queues. An AppRec is matched by
//! its `correlation-id`, an error message by `originalMessageId` (or `correlation-id`).
//! The AppRec is decrypted with the kommune's encryption key and verified against the
//! register's signing certificate (pinned) and the trusted CA, then read. Answers to other
//! messages that arrive meanwhile are kept for a later [`ReferenceSender::wait_answer`].

mod faults;
mod sample;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::Outcome;
use fe2o3_amqp::{Receiver, Sender, Session};
use fe2o3_amqp_types::messaging::{
    ApplicationProperties, Body, Data, Message, MessageId, Properties,
};
use fe2o3_amqp_types::primitives::{Binary, Value};
use iplos_model::calendar::{Clock, SystemClock};
use iplos_model::ids::HerId;
use iplos_model::message::{AppRec, MsgHead, Organisation, read_apprec, write_msghead};
use openssl::x509::X509;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use self::faults::{Fault, Property, SignWith};
pub use self::sample::{melding_xml, sample_iplos, sample_melding};
use crate::cms::{self, CmsError, TrustStore};
use crate::nhn::{self, ErrorCondition};
use crate::pki::Party;
use crate::servicebus::{AmqpMessage, QueueKind};

/// Errors of the reference sender.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The connection string is not usable.
    #[error("connection string: {0}")]
    Url(String),
    /// Connecting, opening the session or attaching a link failed.
    #[error("AMQP: {0}")]
    Amqp(String),
    /// The broker did not accept the message (or the link refused it, e.g. too large).
    #[error("the broker did not accept the message: {0}")]
    NotAccepted(String),
    /// Building the payload failed.
    #[error("payload: {0}")]
    Payload(String),
    /// Signing or encrypting failed.
    #[error(transparent)]
    Cms(#[from] CmsError),
    /// No answer within the time.
    #[error("no answer to message {0} within {1:?}")]
    Timeout(String, Duration),
    /// The receipt could not be decrypted, verified or read.
    #[error("the AppRec to {message_id} is not valid: {reason}")]
    BadReceipt {
        /// The message it answers.
        message_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The answer links are gone.
    #[error("the answer links were closed")]
    Closed,
}

/// The register as the sender knows it: HER-id, name and public certificates.
#[derive(Clone)]
pub struct Counterpart {
    /// The register's HER-id (where the message goes).
    pub her_id: HerId,
    /// Its name (MsgHead receiver).
    pub name: String,
    /// Its signing certificate (AppRecs must be signed with it).
    pub signing_cert: X509,
    /// Its encryption certificate (messages are encrypted for it).
    pub encryption_cert: X509,
}

impl std::fmt::Debug for Counterpart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counterpart")
            .field("her_id", &self.her_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Counterpart {
    /// The register party's public half, addressed at `her_id` (give the party of that
    /// HER-id when it has a pair of its own, as KPR Validering has in a certification
    /// session).
    pub fn from_party(party: &Party, her_id: HerId) -> Counterpart {
        Counterpart {
            her_id,
            name: party.name.clone(),
            signing_cert: party.signing.cert.clone(),
            encryption_cert: party.encryption.cert.clone(),
        }
    }
}

/// Who sends, to whom, with which certificates.
#[derive(Clone)]
pub struct SenderIdentity {
    /// The kommune (or vendor) with its certificate pair and keys.
    pub party: Party,
    /// The register.
    pub register: Counterpart,
    /// The trusted CAs (to verify AppRecs).
    pub trust: Arc<TrustStore>,
}

impl std::fmt::Debug for SenderIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderIdentity")
            .field("her_id", &self.party.her_id)
            .field("register", &self.register)
            .finish_non_exhaustive()
    }
}

/// A message ready to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The AMQP message-id (empty when the fault left it out).
    pub message_id: String,
    /// The MsgHead's `MsgId`.
    pub msg_id: String,
    /// The AMQP message.
    pub message: AmqpMessage,
    /// How many times to send it (2 with [`Fault::Duplicate`]).
    pub copies: usize,
}

fn set_prop(m: &mut AmqpMessage, p: Property, value: Option<String>) {
    let props = m.properties.get_or_insert_with(Properties::default);
    match p {
        Property::MessageId => props.message_id = value.map(MessageId::String),
        Property::To => props.to = value,
        Property::ReplyTo => props.reply_to = value,
        Property::Subject => props.subject = value,
        Property::CorrelationId => props.correlation_id = value.map(MessageId::String),
        Property::ContentType => props.content_type = value.map(Into::into),
        Property::FromHerId
        | Property::ToHerId
        | Property::ApplicationTimeStamp
        | Property::CpaId => {
            let app = m
                .application_properties
                .get_or_insert_with(|| ApplicationProperties::builder().build());
            match value {
                Some(v) => {
                    app.0.insert(p.name().to_string(), v.into());
                }
                None => {
                    app.0.shift_remove(p.name());
                }
            }
        }
    }
}

/// Builds the AMQP message for an IPLOS document (UTF-8 or ISO-8859-1 XML), with faults.
pub fn build_message(
    id: &SenderIdentity,
    iplos: &[u8],
    faults: &[Fault],
    now: DateTime<Utc>,
) -> Result<Outgoing, SendError> {
    let own = id.party.her_id;
    let reg = &id.register;
    let mut msg_id = nhn::new_guid();
    let mut head_sender = own;
    let mut head_receiver = reg.her_id;
    let mut msg_type = None;
    for f in faults {
        match f {
            Fault::MsgHeadSender(h) => head_sender = *h,
            Fault::WrongReceiver(h) => head_receiver = *h,
            Fault::MsgId(s) => msg_id = s.clone(),
            Fault::MsgType(t) => msg_type = Some(t.clone()),
            _ => {}
        }
    }
    let mut sender_org = Organisation::new(&id.party.name, &head_sender.to_string());
    if !id.party.orgnr.is_empty() {
        sender_org.orgnr = Some(id.party.orgnr.clone());
    }
    let mut head = MsgHead::iplos(
        &msg_id,
        &nhn::format_timestamp(now),
        sender_org,
        Organisation::new(&reg.name, &head_receiver.to_string()),
    );
    if let Some(t) = msg_type {
        head.msg_type.v = t;
    }
    let mut content = write_msghead(&head, iplos).map_err(|e| SendError::Payload(e.to_string()))?;
    for f in faults {
        if let Fault::Content(c) = f {
            content = c.clone();
        }
    }

    let (mut sign_cert, mut sign_key) = (&id.party.signing.cert, &id.party.signing.key);
    let mut recipient = &reg.encryption_cert;
    for f in faults {
        match f {
            Fault::SignWith(s) => (sign_cert, sign_key) = (&s.cert, &s.key),
            Fault::EncryptFor(c) => recipient = c,
            _ => {}
        }
    }
    let has = |pred: fn(&Fault) -> bool| faults.iter().any(pred);
    let mut signed = if has(|f| matches!(f, Fault::NotSigned)) {
        content.clone()
    } else {
        cms::sign(&content, sign_cert, sign_key)?
    };
    if has(|f| matches!(f, Fault::BadSignature)) {
        // Change a byte of the content inside the SignedData: the last '>' of the MsgHead.
        // Found inside the embedded content itself: a '>' elsewhere (in the embedded
        // certificate, which the receiver does not use) would leave the signature valid.
        let at = signed
            .windows(content.len().max(1))
            .position(|w| w == &content[..])
            .and_then(|start| content.iter().rposition(|b| *b == b'>').map(|i| start + i));
        match at {
            Some(pos) => signed[pos] = b']',
            None => {
                // The content is not contiguous in the DER: break the signature's last byte.
                if let Some(last) = signed.last_mut() {
                    *last ^= 0xff;
                }
            }
        }
    }
    let mut payload = if has(|f| matches!(f, Fault::NotEncrypted)) {
        signed
    } else {
        cms::encrypt(&signed, recipient)?
    };
    for f in faults {
        match f {
            Fault::Payload(p) => payload = p.clone(),
            Fault::Oversized(n) if payload.len() < *n => payload.resize(*n, 0),
            _ => {}
        }
    }

    let message_id = nhn::new_guid();
    let properties = Properties::builder()
        .message_id(MessageId::String(message_id.clone()))
        .to(QueueKind::Async.queue_name(reg.her_id))
        .reply_to(QueueKind::Async.queue_name(own))
        .subject(nhn::SUBJECT_IPLOS)
        .correlation_id(MessageId::String(message_id.clone()))
        .content_type(nhn::CONTENT_TYPE_SIGNED_ENVELOPED)
        .build();
    let app = ApplicationProperties::builder()
        .insert(nhn::FROM_HER_ID, own.to_string())
        .insert(nhn::TO_HER_ID, reg.her_id.to_string())
        .insert(nhn::APPLICATION_TIMESTAMP, nhn::format_timestamp(now))
        .build();
    let mut message = Message::builder()
        .properties(properties)
        .application_properties(app)
        .body(Body::Data(vec![Data(Binary::from(payload))].into()))
        .build();
    for f in faults {
        match f {
            Fault::Omit(p) => set_prop(&mut message, *p, None),
            Fault::Set(p, v) => set_prop(&mut message, *p, Some(v.clone())),
            Fault::FromHerId(h) => set_prop(&mut message, Property::FromHerId, Some(h.to_string())),
            _ => {}
        }
    }
    let message_id = nhn::message_id(&message).unwrap_or_default();
    Ok(Outgoing {
        message_id,
        msg_id,
        message,
        copies: if has(|f| matches!(f, Fault::Duplicate)) {
            2
        } else {
            1
        },
    })
}

/// An AppRec received, decrypted and verified.
#[derive(Debug, Clone)]
pub struct ReceivedAppRec {
    /// The receipt.
    pub apprec: AppRec,
    /// Its XML as received (after decryption).
    pub xml: Vec<u8>,
    /// The AMQP message-id of the receipt.
    pub message_id: Option<String>,
    /// Its `correlation-id` (the message it answers).
    pub correlation_id: Option<String>,
    /// Its `subject`.
    pub subject: Option<String>,
}

/// An error message received from the `_error` queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    /// `originalMessageId`.
    pub original_message_id: Option<String>,
    /// `errorCondition` as sent.
    pub condition_text: String,
    /// `errorCondition`, when it is one of the known ones.
    pub condition: Option<ErrorCondition>,
    /// `errorDescription`.
    pub description: String,
    /// `errorConditionData`.
    pub data: String,
    /// `receiverTimeStamp`.
    pub receiver_timestamp: Option<String>,
    /// The AMQP message-id of the error message.
    pub message_id: Option<String>,
}

/// The answer to a message.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An AppRec.
    AppRec(Box<ReceivedAppRec>),
    /// An error message.
    Error(ErrorReport),
}

impl Answer {
    /// The AppRec, if the answer is one.
    pub fn apprec(&self) -> Option<&ReceivedAppRec> {
        match self {
            Answer::AppRec(a) => Some(a),
            Answer::Error(_) => None,
        }
    }

    /// The error report, if the answer is one.
    pub fn error(&self) -> Option<&ErrorReport> {
        match self {
            Answer::Error(e) => Some(e),
            Answer::AppRec(_) => None,
        }
    }
}

/// Reads an error message.
pub fn read_error_message(m: &AmqpMessage) -> ErrorReport {
    let text = |k: &str| nhn::app_prop_text(m, k);
    let condition_text = text(nhn::ERROR_CONDITION).unwrap_or_default();
    ErrorReport {
        original_message_id: text(nhn::ORIGINAL_MESSAGE_ID).or_else(|| nhn::correlation_id(m)),
        condition: condition_text.parse().ok(),
        condition_text,
        description: text(nhn::ERROR_DESCRIPTION).unwrap_or_default(),
        data: text(nhn::ERROR_CONDITION_DATA).unwrap_or_default(),
        receiver_timestamp: text(nhn::RECEIVER_TIMESTAMP),
        message_id: nhn::message_id(m),
    }
}

/// Decrypts, verifies and reads an AppRec message for `id`'s party at `at`.
pub fn read_apprec_message(
    id: &SenderIdentity,
    m: &AmqpMessage,
    at: DateTime<Utc>,
) -> Result<ReceivedAppRec, String> {
    let data = nhn::single_data(m).map_err(|s| format!("the receipt has {s}"))?;
    let verified = cms::decrypt_then_verify(
        data,
        &id.party.encryption.cert,
        &id.party.encryption.key,
        &id.trust,
        Some(&id.register.signing_cert),
        at,
    )
    .map_err(|e| e.to_string())?;
    let apprec = read_apprec(&verified.content).map_err(|e| e.to_string())?;
    Ok(ReceivedAppRec {
        apprec,
        xml: verified.content,
        message_id: nhn::message_id(m),
        correlation_id: nhn::correlation_id(m),
        subject: m.properties.as_ref().and_then(|p| p.subject.clone()),
    })
}

/// Where the sender connects.
#[derive(Clone)]
pub struct SenderConfig {
    /// `amqp://user:password@host:port[/namespace]` (NHN's connection string form; the
    /// path, when given, is the namespace), or `amqps://…` for TLS straight away (default
    /// port 5671), which needs [`SenderConfig::tls_ca`].
    pub connection_string: String,
    /// The CA certificate(s) (PEM file) the broker's certificate must chain to, for
    /// `amqps://`. The server name checked is the URL's host. There is no default: the
    /// system's trust roots are not used (the harness runs offline with its own CA).
    pub tls_ca: Option<PathBuf>,
    /// The namespace (exchange), when the connection string has none.
    pub namespace: String,
    /// Certificates and HER-ids.
    pub identity: SenderIdentity,
    /// The clock (timestamps, AppRec verification).
    pub clock: Arc<dyn Clock>,
    /// Default wait for an answer.
    pub timeout: Duration,
    /// Attach the receiving links to the own `_async` and `_error` queues (default). A
    /// sender without them only sends; answers stay in the queues.
    pub listen: bool,
}

impl SenderConfig {
    /// A configuration with the system clock, the default namespace and a 30 s wait.
    pub fn new(connection_string: impl Into<String>, identity: SenderIdentity) -> SenderConfig {
        SenderConfig {
            connection_string: connection_string.into(),
            tls_ca: None,
            namespace: crate::servicebus::DEFAULT_NAMESPACE.into(),
            identity,
            clock: Arc::new(SystemClock),
            timeout: Duration::from_secs(30),
            listen: true,
        }
    }
}

impl std::fmt::Debug for SenderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderConfig")
            .field("namespace", &self.namespace)
            .field("tls_ca", &self.tls_ca)
            .field("identity", &self.identity)
            .field("timeout", &self.timeout)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

struct ParsedUrl {
    tls: bool,
    host: String,
    port: u16,
    username: String,
    password: String,
    namespace: Option<String>,
    /// Further nodes of a cluster (`amqp://u:p@h1:p1,h2:p2`), tried in order when the
    /// first is unreachable.
    more_nodes: Vec<(String, u16)>,
    /// RabbitMQ's vhost (`?vhost=`).
    vhost: Option<String>,
}

fn parse_url(s: &str) -> Result<ParsedUrl, SendError> {
    if s.contains(',') || s.contains('?') {
        // Several nodes, or a vhost: the external broker's form.
        let u = crate::rabbitmq::BrokerUrl::parse(s).map_err(SendError::Url)?;
        let mut nodes = u.nodes.into_iter().map(|n| (n.host, n.port));
        let (host, port) = nodes
            .next()
            .ok_or_else(|| SendError::Url(format!("no host: {s}")))?;
        return Ok(ParsedUrl {
            tls: u.tls,
            host,
            port,
            username: u.username,
            password: u.password,
            namespace: u.namespace,
            more_nodes: nodes.collect(),
            vhost: u.vhost,
        });
    }
    let bad = |why: &str| SendError::Url(format!("{why}: {s}"));
    let (tls, rest) = if let Some(rest) = s.strip_prefix("amqp://") {
        (false, rest)
    } else if let Some(rest) = s.strip_prefix("amqps://") {
        (true, rest)
    } else {
        return Err(bad(
            "only amqp:// and amqps:// are supported by the reference sender",
        ));
    };
    let (auth, rest) = rest
        .rsplit_once('@')
        .ok_or_else(|| bad("no user:password@"))?;
    let (username, password) = auth.split_once(':').ok_or_else(|| bad("no password"))?;
    let (hostport, path) = match rest.split_once('/') {
        Some((h, p)) => (
            h,
            Some(p.trim_matches('/').to_string()).filter(|p| !p.is_empty()),
        ),
        None => (rest, None),
    };
    let (host, port) = hostport
        .rsplit_once(':')
        .map(|(h, p)| (h, p.parse::<u16>()))
        .map(|(h, p)| p.map(|p| (h.to_string(), p)))
        .unwrap_or(Ok((hostport.to_string(), if tls { 5671 } else { 5672 })))
        .map_err(|_| bad("bad port"))?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(ParsedUrl {
        tls,
        host,
        port,
        username: username.to_string(),
        password: password.to_string(),
        namespace: path,
        more_nodes: Vec::new(),
        vhost: None,
    })
}

/// A TLS client verifying against the CA certificates in a PEM file.
fn tls_connector(ca: &Path) -> Result<tokio_rustls::TlsConnector, SendError> {
    crate::tls_client::connector(ca).map_err(SendError::Url)
}

enum Incoming {
    Async(Box<AmqpMessage>),
    Error(Box<AmqpMessage>),
}

/// A connected sender.
pub struct ReferenceSender {
    config: SenderConfig,
    namespace: String,
    connection: ConnectionHandle<()>,
    session: SessionHandle<()>,
    sender: Sender,
    incoming: mpsc::Receiver<Incoming>,
    listeners: Vec<JoinHandle<()>>,
    backlog: HashMap<String, Answer>,
    unmatched: Vec<AmqpMessage>,
    /// Every answer read on this connection, in order: (the message it answers, answer).
    read: Vec<(String, Answer)>,
}

impl std::fmt::Debug for ReferenceSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceSender")
            .field("her_id", &self.config.identity.party.her_id)
            .finish_non_exhaustive()
    }
}

async fn listen(mut receiver: Receiver, tx: mpsc::Sender<Incoming>, error_queue: bool) {
    loop {
        let delivery = match receiver.recv::<Body<Value>>().await {
            Ok(d) => d,
            Err(_) => break,
        };
        if receiver.accept(&delivery).await.is_err() {
            break;
        }
        let m = Box::new(delivery.into_message());
        let item = if error_queue {
            Incoming::Error(m)
        } else {
            Incoming::Async(m)
        };
        if tx.send(item).await.is_err() {
            break;
        }
    }
    let _ = receiver.close().await;
}

/// Opens an AMQP connection to one node (TCP, TLS when asked, SASL PLAIN).
async fn open_node(
    config: &SenderConfig,
    url: &ParsedUrl,
    host: &str,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
) -> Result<ConnectionHandle<()>, SendError> {
    let amqp = |e: &dyn std::fmt::Debug| SendError::Amqp(format!("{e:?}"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| SendError::Amqp(format!("connect {host}:{port}: timed out")))?
    .map_err(|e| SendError::Amqp(format!("connect {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let own = config.identity.party.her_id;
    // RabbitMQ's AMQP 1.0 plugin takes the vhost from the open's hostname.
    let open_host = match &url.vhost {
        Some(v) => format!("vhost:{v}"),
        None => host.to_string(),
    };
    let builder = fe2o3_amqp::Connection::builder()
        // One container id per sender identity, the same across reconnects (a broker and
        // its operators recognise the client after a drop).
        .container_id(format!("iplos-reference-sender-{own}"))
        .hostname(open_host.as_str())
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: url.username.clone(),
            password: url.password.clone(),
        });
    // The AMQP handshake gets the same bound as the TCP connect: a broker that takes the
    // connection and never answers the open must not hold the sender forever.
    let open = async {
        match tls {
            Some(connector) => {
                let stream = crate::tls_client::handshake(&connector, host, port, tcp)
                    .await
                    .map_err(SendError::Amqp)?;
                builder.open_with_stream(stream).await.map_err(|e| amqp(&e))
            }
            None => builder.open_with_stream(tcp).await.map_err(|e| amqp(&e)),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), open)
        .await
        .map_err(|_| SendError::Amqp(format!("open {host}:{port}: no answer within 10 s")))?
}

impl ReferenceSender {
    /// Connects (`amqp://`, or `amqps://` with TLS straight away verified against
    /// [`SenderConfig::tls_ca`]; a certificate that does not verify fails with
    /// `SendError::Amqp("TLS: …")`), logs in (SASL PLAIN), attaches the sending link to the register's queue and the
    /// receiving links to the own `_async` and `_error` queues.
    pub async fn connect(config: SenderConfig) -> Result<ReferenceSender, SendError> {
        let url = parse_url(&config.connection_string)?;
        let namespace = url.namespace.clone().unwrap_or(config.namespace.clone());
        let amqp = |e: &dyn std::fmt::Debug| SendError::Amqp(format!("{e:?}"));
        // Checked before connecting: a missing or bad CA is a configuration error.
        let tls = if url.tls {
            let ca = config.tls_ca.as_deref().ok_or_else(|| {
                SendError::Url(format!(
                    "amqps:// needs a CA certificate to verify the broker (SenderConfig::tls_ca): {}",
                    config.connection_string
                ))
            })?;
            Some(tls_connector(ca)?)
        } else {
            None
        };
        // Several nodes (a cluster): the first that lets us in; a dead node is skipped.
        let mut nodes = vec![(url.host.clone(), url.port)];
        nodes.extend(url.more_nodes.iter().cloned());
        let mut last = None;
        let mut opened = None;
        for (host, port) in &nodes {
            match open_node(&config, &url, host, *port, tls.clone()).await {
                Ok(c) => {
                    opened = Some(c);
                    break;
                }
                Err(e) => {
                    if nodes.len() > 1 {
                        tracing::warn!(node = %format!("{host}:{port}"), error = %e, "service bus node unreachable; trying the next");
                    }
                    last = Some(e);
                }
            }
        }
        let mut connection = match opened {
            Some(c) => c,
            None => return Err(last.unwrap_or_else(|| SendError::Url("no node".into()))),
        };
        let own = config.identity.party.her_id;
        let mut session = Session::begin(&mut connection)
            .await
            .map_err(|e| amqp(&e))?;
        let target = format!(
            "/exchange/{namespace}/{}",
            QueueKind::Async.queue_name(config.identity.register.her_id)
        );
        let sender = Sender::attach(&mut session, "iplos-submit", target)
            .await
            .map_err(|e| amqp(&e))?;
        let (tx, rx) = mpsc::channel(64);
        let mut listeners = Vec::new();
        let links: &[(&str, QueueKind, bool)] = if config.listen {
            &[
                ("iplos-answers", QueueKind::Async, false),
                ("iplos-errors", QueueKind::Error, true),
            ]
        } else {
            &[]
        };
        for &(name, kind, is_error) in links {
            let receiver = Receiver::attach(
                &mut session,
                name,
                format!("/amq/queue/{}", kind.queue_name(own)),
            )
            .await
            .map_err(|e| amqp(&e))?;
            listeners.push(tokio::spawn(listen(receiver, tx.clone(), is_error)));
        }
        Ok(ReferenceSender {
            config,
            namespace,
            connection,
            session,
            sender,
            incoming: rx,
            listeners,
            backlog: HashMap::new(),
            unmatched: Vec::new(),
            read: Vec::new(),
        })
    }

    /// The namespace in use.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The identity.
    pub fn identity(&self) -> &SenderIdentity {
        &self.config.identity
    }

    /// Builds a message for an IPLOS document (see [`build_message`]).
    pub fn build(&self, iplos: &[u8], faults: &[Fault]) -> Result<Outgoing, SendError> {
        build_message(
            &self.config.identity,
            iplos,
            faults,
            self.config.clock.now(),
        )
    }

    /// Sends a built message (twice with [`Fault::Duplicate`]); returns once the broker has
    /// accepted it (stored it), or an error when no disposition came within
    /// [`SenderConfig::timeout`].
    pub async fn send(&mut self, out: &Outgoing) -> Result<(), SendError> {
        // fe2o3's send never returns when the connection dies under an unsettled transfer
        // (the broker cut it before the disposition): wait at most the configured timeout.
        let wait = self.config.timeout;
        for _ in 0..out.copies {
            match tokio::time::timeout(wait, self.sender.send(out.message.clone())).await {
                Ok(Ok(Outcome::Accepted(_))) => {}
                Ok(Ok(other)) => return Err(SendError::NotAccepted(format!("{other:?}"))),
                Ok(Err(e)) => return Err(SendError::NotAccepted(format!("{e:?}"))),
                Err(_) => {
                    return Err(SendError::NotAccepted(format!(
                        "no disposition for {} within {wait:?} (the connection may be gone)",
                        out.message_id
                    )));
                }
            }
        }
        Ok(())
    }

    /// Waits for the answer to `message_id` (an AppRec or an error message).
    pub async fn wait_answer(
        &mut self,
        message_id: &str,
        timeout: Duration,
    ) -> Result<Answer, SendError> {
        if let Some(a) = self.backlog.remove(message_id) {
            return Ok(a);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let item = tokio::time::timeout_at(deadline, self.incoming.recv())
                .await
                .map_err(|_| SendError::Timeout(message_id.to_string(), timeout))?
                .ok_or(SendError::Closed)?;
            match self.take_in(item) {
                Some((to, Ok(a))) if to == message_id => return Ok(a),
                Some((to, Err(reason))) if to == message_id => {
                    return Err(SendError::BadReceipt {
                        message_id: to,
                        reason,
                    });
                }
                Some((to, Ok(a))) => {
                    // A second answer to the same message stays in `read` (see
                    // `answers_read`); the backlog keeps the first.
                    self.backlog.entry(to).or_insert(a);
                }
                _ => {}
            }
        }
    }

    /// Reads one incoming message: (the message it answers, the answer), noted in
    /// [`ReferenceSender::answers_read`].
    fn take_in(&mut self, item: Incoming) -> Option<(String, Result<Answer, String>)> {
        let (answer_to, answer) = match item {
            Incoming::Error(m) => {
                let r = read_error_message(&m);
                (r.original_message_id.clone(), Ok(Answer::Error(r)))
            }
            Incoming::Async(m) => {
                let to = nhn::correlation_id(&m);
                let is_apprec = m
                    .properties
                    .as_ref()
                    .and_then(|p| p.subject.as_deref())
                    .is_none_or(|s| s == nhn::SUBJECT_APPREC);
                if !is_apprec {
                    self.unmatched.push(*m);
                    return None;
                }
                let r = read_apprec_message(&self.config.identity, &m, self.config.clock.now());
                (to, r.map(|a| Answer::AppRec(Box::new(a))))
            }
        };
        let to = answer_to?;
        if let Ok(a) = &answer {
            self.read.push((to.clone(), a.clone()));
        }
        Some((to, answer))
    }

    /// Reads the answers that have arrived and not been read yet, without waiting (before
    /// [`ReferenceSender::close`], so that a late or repeated answer is not dropped unseen).
    pub fn read_arrived(&mut self) {
        while let Ok(item) = self.incoming.try_recv() {
            if let Some((to, Ok(a))) = self.take_in(item) {
                self.backlog.entry(to).or_insert(a);
            }
        }
    }

    /// Every answer read on this connection so far, in the order read, repeats included:
    /// (the message-id it answers, the answer). A receiver that answers one message twice
    /// with different AppRecs shows here.
    pub fn answers_read(&self) -> &[(String, Answer)] {
        &self.read
    }

    /// Builds, sends and waits for the answer with the configured timeout.
    pub async fn submit(&mut self, iplos: &[u8], faults: &[Fault]) -> Result<Answer, SendError> {
        let out = self.build(iplos, faults)?;
        self.send(&out).await?;
        let timeout = self.config.timeout;
        self.wait_answer(&out.message_id, timeout).await
    }

    /// Messages on the own `_async` queue that were not AppRecs.
    pub fn unmatched(&self) -> &[AmqpMessage] {
        &self.unmatched
    }

    /// Detaches the sending link and closes the connection (which ends the session).
    ///
    /// No separate `end` of the session: RabbitMQ 3.10's AMQP 1.0 plugin often does not
    /// answer it while the receiving links are attached, and fe2o3 then waits for ever
    /// (spinning); a close ends every session of the connection. Each step waits at most
    /// 5 s; the connection is dropped then.
    pub async fn close(mut self) {
        let step = Duration::from_secs(5);
        let her = self.config.identity.party.her_id;
        if tokio::time::timeout(step, self.sender.close())
            .await
            .is_err()
        {
            tracing::warn!(%her, "service bus: the sending link was not detached within 5 s");
        }
        for l in self.listeners.drain(..) {
            l.abort();
        }
        if tokio::time::timeout(step, self.connection.close())
            .await
            .is_err()
        {
            tracing::warn!(%her, "service bus: the connection did not close within 5 s");
        }
        drop(self.session);
    }
}
