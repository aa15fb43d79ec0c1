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
//! - [`national`] builds SSB's 08:00 receipt (the filsluse's mails are built by
//!   [`crate::filsluse::mails`]).
//!
//! Addresses are compared case-insensitively in the domain part only
//! ([`mailbox_key`]): `Postmottak@Hamar.Kommune.test` and `Postmottak@hamar.kommune.test` are
//! one mailbox, `postmottak@hamar.kommune.test` is another.
//!
//! [`Clock`]: iplos_model::calendar::Clock

mod address;
mod error;
mod http;
pub mod national;
mod outbox;
mod server;
mod smtp;
mod store;

pub use self::address::mailbox_key;
pub use self::error::MailError;
pub use self::outbox::{MailAddress, Outbox, OutboxConfig, OutgoingMail, SentMail};
pub use self::server::{MailConfig, MailHandle, MailServer};
pub use self::smtp::{SessionEvent, SmtpLimits};
pub use self::store::{
    CapturedMessage, Envelope, MailStore, MailboxSummary, MessageId, MessageSummary, Storage,
};
