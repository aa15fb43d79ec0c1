//! Durable storage of the broker's queues and messages.
//!
//! The broker keeps an in-memory index of what is waiting in each queue; the messages
//! themselves (the encoded AMQP message, exactly as it will be sent to a consumer) live in a
//! [`MessageStore`]. [`SqliteStore`] is the real one: a SQLite file in WAL mode with
//! `synchronous=NORMAL`, its tables prefixed `sb_` so that another component (the run store
//! of the season engine) can share the same file.
//!
//! **Group commit.** The broker does not commit each stored or accepted message on its
//! own: its writer collects what arrives while the previous commit runs and hands it to
//! [`MessageStore::commit_batch`], one transaction for all of it. A producer's message is
//! still settled only after the transaction holding it is committed, and an in-process
//! [`Delivery::accept`](super::Delivery::accept) still returns only after its delete is.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

/// What the store could not do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("service bus store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store's lock was poisoned by a panic in another thread.
    #[error("service bus store: lock poisoned")]
    Poisoned,
    /// A message that should exist does not.
    #[error("service bus store: no message with id {0}")]
    NoSuchMessage(u64),
    /// The group commit a write was part of failed (the message is not stored, or the
    /// delete did not happen); the text is the store's error.
    #[error("service bus store: group commit failed: {0}")]
    Batch(String),
}

/// One stored message, without its body: what the broker needs to rebuild its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Store-wide id; within a queue, a smaller id is nearer the head.
    pub id: u64,
    /// The queue the message waits in.
    pub queue: String,
    /// When the message was stored, in milliseconds since the Unix epoch.
    pub enqueued_ms: i64,
    /// When the message expires (milliseconds since the Unix epoch), if it has a TTL.
    pub expires_ms: Option<i64>,
    /// How many deliveries of the message failed so far (released, modified, lost).
    pub delivery_count: u32,
}

/// A message to store.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// The queue it goes to.
    pub queue: &'a str,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub enqueued_ms: i64,
    /// When it expires, if it has a TTL.
    pub expires_ms: Option<i64>,
    /// Failed deliveries so far.
    pub delivery_count: u32,
    /// Why it was dead-lettered, for a message in a `_dl` queue.
    pub dead_reason: Option<&'a str>,
    /// The encoded AMQP message.
    pub body: &'a [u8],
}

/// Where the broker keeps queues and messages. Every method is a short, synchronous,
/// durable operation (the broker calls them from a blocking thread).
pub trait MessageStore: Send + Sync + 'static {
    /// Records that a queue exists (idempotent).
    fn ensure_queue(&self, name: &str, now_ms: i64) -> Result<(), StoreError>;
    /// All queues recorded so far.
    fn queues(&self) -> Result<Vec<String>, StoreError>;
    /// Stores a message; returns its id, greater than every id given before.
    fn insert(&self, message: &NewMessage<'_>) -> Result<u64, StoreError>;
    /// Every stored message without its body, in id order.
    fn index(&self) -> Result<Vec<StoredMessage>, StoreError>;
    /// The encoded message with this id, if it is stored.
    fn body(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// The dead-letter reason recorded for this message, if any.
    fn dead_reason(&self, id: u64) -> Result<Option<String>, StoreError>;
    /// Deletes a message (a consumer accepted it). Returns whether it was there.
    fn delete(&self, id: u64) -> Result<bool, StoreError>;
    /// Records a new failed-delivery count for a message.
    fn set_delivery_count(&self, id: u64, count: u32) -> Result<(), StoreError>;
    /// Atomically deletes message `old_id` and stores `replacement` (used to move a message
    /// to a dead-letter queue). Returns the new id.
    fn replace(&self, old_id: u64, replacement: &NewMessage<'_>) -> Result<u64, StoreError>;

    /// Group commit: stores `inserts` (in order) and deletes `deletes`, durably, and returns
    /// the new ids in the order of `inserts`. The stores of this crate do it in one
    /// transaction (all or nothing); this default does each write on its own.
    fn commit_batch(
        &self,
        inserts: &[NewMessage<'_>],
        deletes: &[u64],
    ) -> Result<Vec<u64>, StoreError> {
        let mut ids = Vec::with_capacity(inserts.len());
        for m in inserts {
            ids.push(self.insert(m)?);
        }
        for id in deletes {
            self.delete(*id)?;
        }
        Ok(ids)
    }

    /// The encoded messages with these ids (`None` for one not stored), in the order asked.
    fn bodies(&self, ids: &[u64]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        ids.iter().map(|id| self.body(*id)).collect()
    }
}

/// [`MessageStore`] in SQLite.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sb_queue (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sb_message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    dead_reason TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sb_message_by_queue ON sb_message (queue, id);
";

impl SqliteStore {
    /// Opens (or creates) the store in the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // WAL: a commit is an append to the log; NORMAL: no fsync per commit, the log is
        // synced at checkpoints. A crash of the process loses nothing; a power cut may lose
        // the last commits, which is the trade RabbitMQ makes too.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::with_connection(conn)
    }

    /// A store that lives in memory only (for unit tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

/// Every stored message's index entry, in id order (shared by stores that keep the
/// broker's `sb_message` table, such as the receiver's run store).
pub(crate) fn index_with(conn: &Connection) -> Result<Vec<StoredMessage>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, queue, enqueued_ms, expires_ms, delivery_count FROM sb_message ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |row| {
            Ok(StoredMessage {
                id: row.get::<_, i64>(0)? as u64,
                queue: row.get(1)?,
                enqueued_ms: row.get(2)?,
                expires_ms: row.get(3)?,
                delivery_count: row.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The encoded body of message `id`.
pub(crate) fn body_with(conn: &Connection, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
    let body = conn
        .prepare_cached("SELECT body FROM sb_message WHERE id = ?1")?
        .query_row([id as i64], |row| row.get(0))
        .optional()?;
    Ok(body)
}

/// Why message `id` was dead-lettered, if it was.
pub(crate) fn dead_reason_with(conn: &Connection, id: u64) -> Result<Option<String>, StoreError> {
    let reason = conn
        .prepare_cached("SELECT dead_reason FROM sb_message WHERE id = ?1")?
        .query_row([id as i64], |row| row.get::<_, Option<String>>(0))
        .optional()?;
    Ok(reason.flatten())
}

/// The encoded bodies of several messages, in the order asked.
pub(crate) fn bodies_with(
    conn: &Connection,
    ids: &[u64],
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    ids.iter().map(|id| body_with(conn, *id)).collect()
}

/// Deletes message `id`; whether it was there.
pub(crate) fn delete_with(conn: &Connection, id: u64) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM sb_message WHERE id = ?1")?
        .execute([id as i64])?;
    Ok(n > 0)
}

pub(crate) fn insert_with(conn: &Connection, m: &NewMessage<'_>) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO sb_message (queue, enqueued_ms, expires_ms, delivery_count, dead_reason, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        m.queue,
        m.enqueued_ms,
        m.expires_ms,
        m.delivery_count,
        m.dead_reason,
        m.body
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

impl MessageStore for SqliteStore {
    fn ensure_queue(&self, name: &str, now_ms: i64) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT OR IGNORE INTO sb_queue (name, created_ms) VALUES (?1, ?2)",
            params![name, now_ms],
        )?;
        Ok(())
    }

    fn queues(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare("SELECT name FROM sb_queue ORDER BY name")?;
        let names = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    fn insert(&self, message: &NewMessage<'_>) -> Result<u64, StoreError> {
        let conn = self.lock()?;
        insert_with(&conn, message)
    }

    fn index(&self) -> Result<Vec<StoredMessage>, StoreError> {
        let conn = self.lock()?;
        index_with(&conn)
    }

    fn body(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.lock()?;
        body_with(&conn, id)
    }

    fn dead_reason(&self, id: u64) -> Result<Option<String>, StoreError> {
        let conn = self.lock()?;
        dead_reason_with(&conn, id)
    }

    fn delete(&self, id: u64) -> Result<bool, StoreError> {
        let conn = self.lock()?;
        delete_with(&conn, id)
    }

    fn commit_batch(
        &self,
        inserts: &[NewMessage<'_>],
        deletes: &[u64],
    ) -> Result<Vec<u64>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let mut ids = Vec::with_capacity(inserts.len());
        for m in inserts {
            ids.push(insert_with(&tx, m)?);
        }
        for id in deletes {
            delete_with(&tx, *id)?;
        }
        tx.commit()?;
        Ok(ids)
    }

    fn bodies(&self, ids: &[u64]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let conn = self.lock()?;
        bodies_with(&conn, ids)
    }

    fn set_delivery_count(&self, id: u64, count: u32) -> Result<(), StoreError> {
        let conn = self.lock()?;
        conn.prepare_cached("UPDATE sb_message SET delivery_count = ?2 WHERE id = ?1")?
            .execute(params![id as i64, count])?;
        Ok(())
    }

    fn replace(&self, old_id: u64, replacement: &NewMessage<'_>) -> Result<u64, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM sb_message WHERE id = ?1", [old_id as i64])?;
        if n == 0 {
            return Err(StoreError::NoSuchMessage(old_id));
        }
        let id = insert_with(&tx, replacement)?;
        tx.commit()?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(queue: &'a str, body: &'a [u8]) -> NewMessage<'a> {
        NewMessage {
            queue,
            enqueued_ms: 1,
            expires_ms: None,
            delivery_count: 0,
            dead_reason: None,
            body,
        }
    }

    #[test]
    fn insert_index_delete_replace() {
        let store = SqliteStore::in_memory().unwrap();
        store.ensure_queue("1_async", 0).unwrap();
        store.ensure_queue("1_async", 0).unwrap();
        assert_eq!(store.queues().unwrap(), vec!["1_async".to_string()]);
        let a = store.insert(&msg("1_async", b"a")).unwrap();
        let b = store.insert(&msg("1_async", b"b")).unwrap();
        assert!(b > a);
        store.set_delivery_count(a, 3).unwrap();
        let index = store.index().unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index[0].delivery_count, 3);
        assert_eq!(store.body(b).unwrap().as_deref(), Some(&b"b"[..]));
        let mut dl = msg("1_dl", b"a2");
        dl.dead_reason = Some("rejected");
        let c = store.replace(a, &dl).unwrap();
        assert!(c > b);
        assert_eq!(store.body(a).unwrap(), None);
        assert_eq!(store.dead_reason(c).unwrap().as_deref(), Some("rejected"));
        assert!(store.replace(a, &dl).is_err());
        assert!(store.delete(b).unwrap());
        assert!(!store.delete(b).unwrap());
        assert_eq!(store.index().unwrap().len(), 1);
    }

    #[test]
    fn commit_batch_is_all_or_nothing_and_keeps_order() {
        let store = SqliteStore::in_memory().unwrap();
        store.ensure_queue("1_async", 0).unwrap();
        let a = store.insert(&msg("1_async", b"a")).unwrap();
        let ids = store
            .commit_batch(&[msg("1_async", b"b"), msg("1_async", b"c")], &[a])
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert!(a < ids[0] && ids[0] < ids[1]);
        assert_eq!(
            store.bodies(&[a, ids[0], ids[1]]).unwrap(),
            vec![None, Some(b"b".to_vec()), Some(b"c".to_vec())]
        );
        // A failing write (a trigger refuses the body "x") rolls the whole batch back.
        store
            .lock()
            .unwrap()
            .execute_batch("CREATE TRIGGER no_x BEFORE INSERT ON sb_message WHEN NEW.body = x'78' BEGIN SELECT RAISE(ABORT, 'no x'); END;")
            .unwrap();
        assert!(
            store
                .commit_batch(&[msg("1_async", b"d"), msg("1_async", b"x")], &[ids[0]])
                .is_err()
        );
        let index = store.index().unwrap();
        assert_eq!(
            index.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![ids[0], ids[1]]
        );
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus.sqlite");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.ensure_queue("2_async", 0).unwrap();
            store.insert(&msg("2_async", b"kept")).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let index = store.index().unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(store.body(index[0].id).unwrap().unwrap(), b"kept");
    }
}
