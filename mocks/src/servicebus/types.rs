//! The service bus's errors and the plain parts of its configuration (a leaf: the broker's
//! modules use these, and [`super`] re-exports them).

use std::time::Duration;

use iplos_model::ids::HerId;

use super::store::StoreError;

/// Errors of the service bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such queue.
    #[error("no queue '{0}'")]
    NoSuchQueue(String),
    /// A message could not be encoded or decoded.
    #[error("AMQP encoding: {0}")]
    Encoding(String),
    /// Binding the listener or another I/O step failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The configuration is inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// Something that should not happen.
    #[error("internal: {0}")]
    Internal(String),
}

/// A HER-id with its service bus credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The participant's HER-id; its five queues are created.
    pub her_id: HerId,
    /// SASL PLAIN user name.
    pub username: String,
    /// SASL PLAIN password.
    pub password: String,
}

impl Participant {
    /// A participant.
    pub fn new(her_id: HerId, username: impl Into<String>, password: impl Into<String>) -> Self {
        Participant {
            her_id,
            username: username.into(),
            password: password.into(),
        }
    }
}

/// What a consumer's Rejected outcome does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RejectPolicy {
    /// Straight to the HER-id's `_dl` queue with the consumer's error as the reason.
    #[default]
    DeadLetter,
    /// Counted as a failed delivery: back to the head of the queue until the delivery limit.
    Retry,
}

/// Protective limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at once; one more is closed with `amqp:resource-limit-exceeded`.
    pub max_connections: usize,
    /// Sessions per connection (the connection's channel-max + 1).
    pub max_sessions_per_connection: u16,
    /// Links per connection, over all its sessions; one more is refused with
    /// `amqp:resource-limit-exceeded`.
    pub max_links_per_connection: usize,
    /// Largest message accepted, in bytes (the encoded message).
    pub max_message_size: u64,
    /// Largest frame, in bytes.
    pub max_frame_size: u32,
    /// The broker's idle timeout (advertised in open; a peer silent for this long is
    /// dropped). `None`: none.
    pub idle_timeout: Option<Duration>,
    /// Time a new connection has to finish TLS, SASL and open.
    pub handshake_timeout: Duration,
    /// On shutdown, how long in-flight deliveries have to be settled before links close.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_sessions_per_connection: 64,
            max_links_per_connection: 256,
            max_message_size: 100 * 1024 * 1024,
            max_frame_size: 128 * 1024,
            idle_timeout: Some(Duration::from_secs(60)),
            handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}
