//! The mail store: every captured message in SQLite (one file `mail.sqlite` in the state
//! directory, WAL journal, `synchronous=FULL`), or in memory for tests.
//!
//! A message is kept once, with its exact bytes as received (after dot-unstuffing), its
//! envelope, the HELO name, the AUTH user and the peer; a second table files it under the
//! [`mailbox_key`] of each envelope recipient. Subject, From and Date are parsed once at
//! insert for the listings; the full headers and the text body are parsed on reading.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tokio::sync::watch;

use super::address::mailbox_key;
use super::error::MailError;

/// The id of a captured message: 1, 2, 3, ... in the order messages were stored, never
/// reused, kept across restarts on the same state directory.
pub type MessageId = u64;

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// How many messages one scan of [`MailStore::wait_for`] reads at a time.
const SCAN_BATCH: usize = 64;

/// Where the captured mail lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Storage {
    /// Nothing on disk; gone with the server (tests).
    #[default]
    Memory,
    /// A state directory (created if missing) holding `mail.sqlite`; a new server on the
    /// same directory finds everything captured before.
    Dir(PathBuf),
}

/// The SMTP envelope of a message: what the client said in `MAIL FROM` and `RCPT TO`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// The reverse path; empty for the null sender `<>`.
    pub from: String,
    /// The forward paths, in the order given (duplicates removed by mailbox).
    pub to: Vec<String>,
}

/// One header field, unfolded, with RFC 2047 encoded words decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// The field name as written.
    pub name: String,
    /// The decoded value.
    pub value: String,
}

/// A captured message with its envelope, parsed headers and text body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapturedMessage {
    /// The message's id in the store.
    pub id: MessageId,
    /// When the server received it (end of `DATA`), from the server's clock.
    pub received: DateTime<Utc>,
    /// The SMTP envelope.
    pub envelope: Envelope,
    /// The name the client gave in `HELO`/`EHLO`.
    pub helo: String,
    /// The user name the client authenticated as, if it used `AUTH`.
    pub auth_user: Option<String>,
    /// The client's socket address.
    pub peer: String,
    /// The size of the raw message in bytes.
    pub size: u64,
    /// All header fields in order.
    pub headers: Vec<Header>,
    /// The decoded `Subject`, if any.
    pub subject: Option<String>,
    /// The decoded `From`, if any.
    pub from: Option<String>,
    /// The `Date` header as written, if any.
    pub date: Option<String>,
    /// The `Message-ID` header, if any.
    pub message_id: Option<String>,
    /// The body as text: the message itself when it is `text/*`, else its first
    /// `text/plain` part (then the first `text/*` part); transfer encoding and charset
    /// undone. `None` for a message without text.
    pub text: Option<String>,
    /// The raw RFC 5322 bytes as received.
    #[serde(skip)]
    pub raw: Vec<u8>,
}

impl CapturedMessage {
    /// The decoded value of the first header field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Whether `address` is one of the envelope recipients (compared by
    /// [`mailbox_key`]).
    pub fn is_for(&self, address: &str) -> bool {
        let key = mailbox_key(address);
        self.envelope.to.iter().any(|t| mailbox_key(t) == key)
    }
}

/// One mailbox and how many messages it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxSummary {
    /// The mailbox key ([`mailbox_key`]).
    pub address: String,
    /// The number of messages.
    pub count: u64,
}

/// A line of a mailbox listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageSummary {
    /// The message id.
    pub id: MessageId,
    /// The decoded `From` header, or the envelope sender when there is none.
    pub from: String,
    /// The decoded `Subject`, empty when there is none.
    pub subject: String,
    /// The `Date` header as written, empty when there is none.
    pub date: String,
    /// When the server received it.
    pub received: DateTime<Utc>,
    /// Size in bytes.
    pub size: u64,
}

/// What the SMTP session hands to the store.
#[derive(Debug, Clone)]
pub(crate) struct NewMessage {
    pub received: DateTime<Utc>,
    pub mail_from: String,
    pub recipients: Vec<String>,
    pub helo: String,
    pub auth_user: Option<String>,
    pub peer: String,
    pub raw: Vec<u8>,
}

/// The store of captured mail. Clones share one database.
#[derive(Clone)]
pub struct MailStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    /// The id of the newest message, for [`MailStore::wait_for`].
    latest: watch::Sender<MessageId>,
}

impl std::fmt::Debug for MailStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailStore")
            .field("latest", &*self.inner.latest.borrow())
            .finish_non_exhaustive()
    }
}

fn db(what: &'static str) -> impl FnOnce(rusqlite::Error) -> MailError {
    move |source| MailError::Store { what, source }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, MailError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| MailError::Corrupt(format!("received time {s:?}: {e}")))
}

fn id_of(raw: i64) -> Result<MessageId, MailError> {
    MessageId::try_from(raw).map_err(|_| MailError::Corrupt(format!("message id {raw}")))
}

fn sql_id(id: MessageId) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl MailStore {
    /// Opens (creating if needed) the store at `storage`.
    pub fn open(storage: &Storage) -> Result<MailStore, MailError> {
        let conn = match storage {
            Storage::Memory => Connection::open_in_memory().map_err(db("opening in memory"))?,
            Storage::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| MailError::Io {
                    what: "creating the state directory",
                    source,
                })?;
                let conn =
                    Connection::open(dir.join("mail.sqlite")).map_err(db("opening mail.sqlite"))?;
                conn.pragma_update(None, "journal_mode", "WAL")
                    .map_err(db("setting WAL"))?;
                conn.pragma_update(None, "synchronous", "FULL")
                    .map_err(db("setting synchronous"))?;
                conn.busy_timeout(Duration::from_secs(5))
                    .map_err(db("setting busy timeout"))?;
                conn
            }
        };
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db("reading the schema version"))?;
        if version != 0 && version != SCHEMA_VERSION {
            return Err(MailError::Corrupt(format!(
                "schema version {version}, expected {SCHEMA_VERSION}"
            )));
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS messages (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 received TEXT NOT NULL,
                 mail_from TEXT NOT NULL,
                 rcpt_to TEXT NOT NULL,
                 helo TEXT NOT NULL,
                 auth_user TEXT,
                 peer TEXT NOT NULL,
                 size INTEGER NOT NULL,
                 subject TEXT,
                 header_from TEXT,
                 header_date TEXT,
                 raw BLOB NOT NULL
             );
             CREATE TABLE IF NOT EXISTS recipients (
                 message_id INTEGER NOT NULL REFERENCES messages(id),
                 mailbox TEXT NOT NULL,
                 PRIMARY KEY (mailbox, message_id)
             ) WITHOUT ROWID;",
        )
        .map_err(db("creating the schema"))?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db("writing the schema version"))?;
        let latest: i64 = conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
                r.get(0)
            })
            .map_err(db("reading the newest id"))?;
        let (latest, _) = watch::channel(id_of(latest)?);
        Ok(MailStore {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                latest,
            }),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a message durably (one transaction, committed before this returns) and
    /// returns its id.
    pub(crate) fn insert(&self, m: &NewMessage) -> Result<MessageId, MailError> {
        let parsed = parse(&m.raw);
        let rcpt_to = serde_json::to_string(&m.recipients)
            .map_err(|e| MailError::Corrupt(format!("recipients: {e}")))?;
        let id = {
            let mut conn = self.conn();
            let tx = conn.transaction().map_err(db("starting a transaction"))?;
            tx.execute(
                "INSERT INTO messages (received, mail_from, rcpt_to, helo, auth_user, peer, size,
                     subject, header_from, header_date, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    ts(m.received),
                    m.mail_from,
                    rcpt_to,
                    m.helo,
                    m.auth_user,
                    m.peer,
                    i64::try_from(m.raw.len()).unwrap_or(i64::MAX),
                    parsed.subject,
                    parsed.from,
                    parsed.date,
                    m.raw,
                ],
            )
            .map_err(db("inserting a message"))?;
            let id = tx.last_insert_rowid();
            for r in &m.recipients {
                tx.execute(
                    "INSERT OR IGNORE INTO recipients (message_id, mailbox) VALUES (?1, ?2)",
                    params![id, mailbox_key(r)],
                )
                .map_err(db("filing a recipient"))?;
            }
            tx.commit().map_err(db("committing a message"))?;
            id_of(id)?
        };
        self.inner.latest.send_replace(id);
        Ok(id)
    }

    /// Every mailbox with its message count, sorted by address.
    pub fn mailboxes(&self) -> Result<Vec<MailboxSummary>, MailError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT mailbox, COUNT(*) FROM recipients GROUP BY mailbox ORDER BY mailbox")
            .map_err(db("listing mailboxes"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(db("listing mailboxes"))?;
        let mut out = Vec::new();
        for row in rows {
            let (address, count) = row.map_err(db("listing mailboxes"))?;
            out.push(MailboxSummary {
                address,
                count: u64::try_from(count).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// The messages of the mailbox of `address` (any spelling of its domain), oldest
    /// first. Empty for an unknown mailbox.
    pub fn messages(&self, address: &str) -> Result<Vec<MessageSummary>, MailError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT m.id, COALESCE(m.header_from, m.mail_from), COALESCE(m.subject, ''),
                        COALESCE(m.header_date, ''), m.received, m.size
                 FROM recipients r JOIN messages m ON m.id = r.message_id
                 WHERE r.mailbox = ?1 ORDER BY m.id",
            )
            .map_err(db("listing messages"))?;
        let rows = stmt
            .query_map([mailbox_key(address)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(db("listing messages"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, from, subject, date, received, size) = row.map_err(db("listing messages"))?;
            out.push(MessageSummary {
                id: id_of(id)?,
                from,
                subject,
                date,
                received: parse_ts(&received)?,
                size: u64::try_from(size).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// The number of messages stored.
    pub fn count(&self) -> Result<u64, MailError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
            .map_err(db("counting messages"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The message `id` with its parsed headers and text, or `None`.
    pub fn message(&self, id: MessageId) -> Result<Option<CapturedMessage>, MailError> {
        Ok(self
            .since(id.saturating_sub(1), 1)?
            .into_iter()
            .find(|m| m.id == id))
    }

    /// The raw bytes of message `id`, or `None`.
    pub fn raw(&self, id: MessageId) -> Result<Option<Vec<u8>>, MailError> {
        self.conn()
            .query_row(
                "SELECT raw FROM messages WHERE id = ?1",
                [sql_id(id)],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("reading a message"))
    }

    /// Up to `limit` messages with ids greater than `after`, oldest first.
    pub fn since(&self, after: MessageId, limit: usize) -> Result<Vec<CapturedMessage>, MailError> {
        let rows = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare(
                    "SELECT id, received, mail_from, rcpt_to, helo, auth_user, peer, raw
                     FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(db("reading messages"))?;
            let rows = stmt
                .query_map(
                    params![sql_id(after), i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, Option<String>>(5)?,
                            r.get::<_, String>(6)?,
                            r.get::<_, Vec<u8>>(7)?,
                        ))
                    },
                )
                .map_err(db("reading messages"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(db("reading messages"))?
        };
        rows.into_iter()
            .map(
                |(id, received, mail_from, rcpt_to, helo, auth_user, peer, raw)| {
                    let to: Vec<String> = serde_json::from_str(&rcpt_to)
                        .map_err(|e| MailError::Corrupt(format!("recipients of {id}: {e}")))?;
                    let parsed = parse(&raw);
                    Ok(CapturedMessage {
                        id: id_of(id)?,
                        received: parse_ts(&received)?,
                        envelope: Envelope {
                            from: mail_from,
                            to,
                        },
                        helo,
                        auth_user,
                        peer,
                        size: u64::try_from(raw.len()).unwrap_or(u64::MAX),
                        headers: parsed.headers,
                        subject: parsed.subject,
                        from: parsed.from,
                        date: parsed.date,
                        message_id: parsed.message_id,
                        text: parsed.text,
                        raw,
                    })
                },
            )
            .collect()
    }

    /// The id of the newest message (0 when empty).
    pub fn latest_id(&self) -> MessageId {
        *self.inner.latest.borrow()
    }

    /// Waits until a stored message (already there or arriving later) satisfies
    /// `matches`, and returns the first such message by id; [`MailError::Timeout`] after
    /// `timeout` (tokio time, so `tokio::time::pause` applies).
    pub async fn wait_for<F>(
        &self,
        matches: F,
        timeout: Duration,
    ) -> Result<CapturedMessage, MailError>
    where
        F: Fn(&CapturedMessage) -> bool,
    {
        self.wait_for_after(0, matches, timeout).await
    }

    /// As [`MailStore::wait_for`], looking only at messages with ids greater than
    /// `after` (e.g. [`MailStore::latest_id`] taken before an action, to wait for mail
    /// that action causes).
    pub async fn wait_for_after<F>(
        &self,
        after: MessageId,
        matches: F,
        timeout: Duration,
    ) -> Result<CapturedMessage, MailError>
    where
        F: Fn(&CapturedMessage) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.inner.latest.subscribe();
        let mut cursor = after;
        loop {
            let newest = *rx.borrow_and_update();
            while cursor < newest {
                let store = self.clone();
                let batch = tokio::task::spawn_blocking(move || store.since(cursor, SCAN_BATCH))
                    .await
                    .map_err(|e| MailError::Task(e.to_string()))??;
                let Some(last) = batch.last() else { break };
                cursor = last.id;
                if let Some(found) = batch.into_iter().find(|m| matches(m)) {
                    return Ok(found);
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives as long as the store: cannot happen while we hold it.
                Ok(Err(_)) | Err(_) => return Err(MailError::Timeout(timeout)),
            }
        }
    }
}

/// What the store reads out of a message's bytes.
#[derive(Debug, Default)]
struct Parsed {
    headers: Vec<Header>,
    subject: Option<String>,
    from: Option<String>,
    date: Option<String>,
    message_id: Option<String>,
    text: Option<String>,
}

/// Parses headers and the text body; never fails (garbage gives what could be read).
fn parse(raw: &[u8]) -> Parsed {
    let Ok(mail) = mailparse::parse_mail(raw) else {
        // Headers alone (mailparse refuses e.g. multiparts nested deeper than 100).
        return match mailparse::parse_headers(raw) {
            Ok((headers, _)) => from_headers(&headers, None),
            Err(_) => Parsed::default(),
        };
    };
    let text = body_text(&mail);
    from_headers(&mail.headers, text)
}

fn from_headers(headers: &[mailparse::MailHeader<'_>], text: Option<String>) -> Parsed {
    let headers: Vec<Header> = headers
        .iter()
        .map(|h| Header {
            name: h.get_key(),
            value: h.get_value(),
        })
        .collect();
    let first = |name: &str| {
        headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.clone())
    };
    Parsed {
        subject: first("Subject"),
        from: first("From"),
        date: first("Date"),
        message_id: first("Message-ID"),
        text,
        headers,
    }
}

fn body_text(mail: &mailparse::ParsedMail<'_>) -> Option<String> {
    let is_text = |p: &&mailparse::ParsedMail<'_>| {
        p.ctype.mimetype.starts_with("text/")
            && !p
                .get_content_disposition()
                .disposition
                .eq(&mailparse::DispositionType::Attachment)
    };
    let part = mail
        .parts()
        .filter(is_text)
        .find(|p| p.ctype.mimetype == "text/plain")
        .or_else(|| mail.parts().find(is_text))?;
    part.get_body().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn msg(to: &[&str], raw: &str) -> NewMessage {
        NewMessage {
            received: Utc.with_ymd_and_hms(2018, 1, 15, 7, 0, 0).unwrap(),
            mail_from: "iplos@ssb.test".into(),
            recipients: to.iter().map(|s| s.to_string()).collect(),
            helo: "client".into(),
            auth_user: None,
            peer: "127.0.0.1:1".into(),
            raw: raw.as_bytes().to_vec(),
        }
    }

    #[test]
    fn files_by_mailbox_key_and_parses() {
        let s = MailStore::open(&Storage::Memory).unwrap();
        let raw = "Subject: =?utf-8?q?Utl=C3=B8per_p=C3=A5_tid?=\r\nFrom: a@b\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\nbl=C3=A5\r\n";
        let id = s
            .insert(&msg(&["X@Hamar.no", "X@hamar.NO", "y@z"], raw))
            .unwrap();
        assert_eq!(id, 1);
        let boxes = s.mailboxes().unwrap();
        assert_eq!(boxes.len(), 2);
        assert_eq!(boxes[0].address, "X@hamar.no");
        assert_eq!(boxes[0].count, 1);
        let list = s.messages("X@HAMAR.no").unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].subject, "Utløper på tid");
        assert!(s.messages("x@hamar.no").unwrap().is_empty());
        let m = s.message(1).unwrap().unwrap();
        assert_eq!(m.text.as_deref(), Some("blå\r\n"));
        assert_eq!(m.envelope.to.len(), 3);
        assert!(m.is_for("X@HAMAR.NO"));
        assert_eq!(m.raw, raw.as_bytes());
        assert!(s.message(2).unwrap().is_none());
    }

    #[test]
    fn garbage_is_stored_as_is() {
        let s = MailStore::open(&Storage::Memory).unwrap();
        let raw = "\u{1}\u{2}no headers at all";
        let id = s.insert(&msg(&["a@b"], raw)).unwrap();
        let m = s.message(id).unwrap().unwrap();
        assert_eq!(m.raw, raw.as_bytes());
    }
}
