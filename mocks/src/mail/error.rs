//! The mail module's errors.

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
    /// No message matched within the time allowed ([`MailHandle::wait_for`](super::MailHandle::wait_for)).
    #[error("no matching mail within {0:?}")]
    Timeout(std::time::Duration),
    /// A time could not be computed (outside chrono's range).
    #[error("time out of range: {0}")]
    Time(String),
    /// A background task failed (panicked or was cancelled).
    #[error("mail task failed: {0}")]
    Task(String),
}
