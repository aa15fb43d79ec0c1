//! Mail: the SMTP capture server, its reading API, the outbox, and the national side's
//! mails (DOMAIN.md §2, §5, §8).
//!
//! - [`MailServer::start`] binds an SMTP server (and, unless switched off, a small HTTP
//!   API) on 127.0.0.1, port 0 by default. Everything sent to any address is captured:
//!   one mailbox per envelope recipient, each message kept with its envelope, headers,
//!   body and the time it was received (from the injected [`Clock`]). A message is
//!   stored durably ([`MailStore`], SQLite) **before** the `250` reply to `DATA`.
//! - [`MailHandle`] reads the mailboxes in-process ([`MailHandle::mailboxes`],
//!   [`MailHandle::messages`], [`MailHandle::message`], [`MailHandle::wait_for`]) and
//!   shuts the servers down ([`MailHandle::shutdown`]). The same reading over HTTP:
//!   `GET /mailboxes`, `GET /mailboxes/{address}/messages`, `GET /messages/{id}`,
//!   `GET /messages/{id}.eml`.
//! - [`Outbox`] sends real SMTP (lettre) to the capture server or any host:port.
//! - [`national`] builds the mails SSB and its filsluse send: the 08:00 receipt, the
//!   filsluse new-user and password mails and the "1 New File Available" notification.
//!
//! Addresses are compared case-insensitively in the domain part only
//! ([`mailbox_key`]): `Postmottak@Hamar.Kommune.test` and `Postmottak@hamar.kommune.test` are
//! one mailbox, `postmottak@hamar.kommune.test` is another.
//!
//! [`Clock`]: iplos_model::calendar::Clock

mod address;
mod http;
pub mod national;
mod outbox;
mod server;
mod smtp;
mod store;

pub use address::mailbox_key;
pub use outbox::{MailAddress, Outbox, OutboxConfig, OutgoingMail, SentMail};
pub use server::{MailConfig, MailHandle, MailServer, SessionEvent, SmtpLimits};
pub use store::{
    CapturedMessage, Envelope, MailStore, MailboxSummary, MessageId, MessageSummary, Storage,
};

/// Errors of the mail module.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Binding or serving a socket failed.
    #[error("mail server I/O error ({what}): {source}")]
    Io {
        /// What was being done, e.g. "binding the SMTP listener".
        what: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The store (SQLite) failed.
    #[error("mail store error ({what}): {source}")]
    Store {
        /// What was being done, e.g. "inserting a message".
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The store's data is not what this version writes (a corrupt or foreign database).
    #[error("mail store holds unreadable data: {0}")]
    Corrupt(String),
    /// A mail address could not be parsed.
    #[error("invalid mail address {address:?}: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// Why it was refused.
        reason: String,
    },
    /// A message could not be built (lettre's builder refused it).
    #[error("cannot build mail: {0}")]
    Build(String),
    /// Sending over SMTP failed (connection, refusal by the server, timeout).
    #[error("SMTP send to {server} failed: {reason}")]
    Send {
        /// host:port of the SMTP server.
        server: String,
        /// lettre's description, with the server's reply where there was one.
        reason: String,
    },
    /// No message matched within the time allowed ([`MailHandle::wait_for`]).
    #[error("no matching mail within {0:?}")]
    Timeout(std::time::Duration),
    /// A time could not be computed (outside chrono's range).
    #[error("time out of range: {0}")]
    Time(String),
    /// A background task failed (panicked or was cancelled).
    #[error("mail task failed: {0}")]
    Task(String),
}
