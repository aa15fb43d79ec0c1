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
//!
//! **Hooks.** A [`StoreHook`] sees each write of a [`SqliteStore`] inside the transaction
//! that makes it durable, on the same connection, so that another component's records of
//! that write commit (or roll back) with it. The receiver's run store
//! ([`RunStore`](crate::receiver::RunStore)) is a `SqliteStore` with a hook that stamps a
//! delivery settled in the transaction that deletes the message, and replied in the one
//! that stores the reply; it keeps its own tables (`rcv_`) in the same file. [`NoHook`] is
//! the broker's store alone.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

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

/// Another component's bookkeeping inside a [`SqliteStore`]'s write transactions (see the
/// module documentation). Each method runs on the store's connection, inside the
/// transaction of the write, with the store's lock held: keep it short.
pub trait StoreHook: Send + Sync + 'static {
    /// What the hook did in a transaction, handed to [`StoreHook::committed`] once the
    /// transaction committed (dropped if it rolled back).
    type Fired: Send;

    /// Tables of the hook's own (`CREATE TABLE IF NOT EXISTS ...`), created after the
    /// store's `sb_` tables when the store is opened.
    fn schema(&self) -> &'static str {
        ""
    }

    /// Message `id` was just stored (a new message, or the replacement of
    /// [`MessageStore::replace`]).
    fn inserted(
        &self,
        conn: &Connection,
        id: u64,
        message: &NewMessage<'_>,
    ) -> Result<Option<Self::Fired>, StoreError>;

    /// Message `id` is about to be removed (deleted after an accept, or replaced); its row
    /// is still there.
    fn removing(&self, conn: &Connection, id: u64) -> Result<Option<Self::Fired>, StoreError>;

    /// The transaction in which these fired committed.
    fn committed(&self, fired: Vec<Self::Fired>);
}

/// No hook: the broker's store alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl StoreHook for NoHook {
    type Fired = std::convert::Infallible;

    fn inserted(
        &self,
        _conn: &Connection,
        _id: u64,
        _message: &NewMessage<'_>,
    ) -> Result<Option<Self::Fired>, StoreError> {
        Ok(None)
    }

    fn removing(&self, _conn: &Connection, _id: u64) -> Result<Option<Self::Fired>, StoreError> {
        Ok(None)
    }

    fn committed(&self, _fired: Vec<Self::Fired>) {}
}

/// [`MessageStore`] in SQLite, with a [`StoreHook`] ([`NoHook`]: none).
pub struct SqliteStore<H: StoreHook = NoHook> {
    conn: Mutex<Connection>,
    hook: H,
}

impl<H: StoreHook> std::fmt::Debug for SqliteStore<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
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
        Self::open_with(path, NoHook)
    }

    /// A store that lives in memory only (for unit tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::in_memory_with(NoHook)
    }
}

impl<H: StoreHook> SqliteStore<H> {
    /// Opens (or creates) the store in the SQLite file at `path`, with `hook` (its tables
    /// are created too).
    pub fn open_with(path: &Path, hook: H) -> Result<SqliteStore<H>, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // WAL: a commit is an append to the log; NORMAL: no fsync per commit, the log is
        // synced at checkpoints. A crash of the process loses nothing; a power cut may lose
        // the last commits, which is the trade RabbitMQ makes too.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::with_connection(conn, hook)
    }

    /// A store in memory with `hook` (tests).
    pub fn in_memory_with(hook: H) -> Result<SqliteStore<H>, StoreError> {
        Self::with_connection(Connection::open_in_memory()?, hook)
    }

    fn with_connection(conn: Connection, hook: H) -> Result<SqliteStore<H>, StoreError> {
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(hook.schema())?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            hook,
        })
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }

    /// The store's connection, locked: for the hook's owner to read and write its own
    /// tables (not the `sb_` ones).
    pub fn connection(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Runs `f` in one transaction and hands what the hook did to it once committed.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection, &mut Vec<H::Fired>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut fired = Vec::new();
        let result = {
            let mut conn = self.connection()?;
            let tx = conn.transaction()?;
            let result = f(&tx, &mut fired)?;
            tx.commit()?;
            result
        };
        if !fired.is_empty() {
            self.hook.committed(fired);
        }
        Ok(result)
    }

    fn insert_hooked(
        &self,
        conn: &Connection,
        m: &NewMessage<'_>,
        fired: &mut Vec<H::Fired>,
    ) -> Result<u64, StoreError> {
        let id = insert_with(conn, m)?;
        fired.extend(self.hook.inserted(conn, id, m)?);
        Ok(id)
    }

    fn delete_hooked(
        &self,
        conn: &Connection,
        id: u64,
        fired: &mut Vec<H::Fired>,
    ) -> Result<bool, StoreError> {
        fired.extend(self.hook.removing(conn, id)?);
        let n = conn
            .prepare_cached("DELETE FROM sb_message WHERE id = ?1")?
            .execute([id as i64])?;
        Ok(n > 0)
    }
}

fn insert_with(conn: &Connection, m: &NewMessage<'_>) -> Result<u64, StoreError> {
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

fn body_with(conn: &Connection, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
    let body = conn
        .prepare_cached("SELECT body FROM sb_message WHERE id = ?1")?
        .query_row([id as i64], |row| row.get(0))
        .optional()?;
    Ok(body)
}

impl<H: StoreHook> MessageStore for SqliteStore<H> {
    fn ensure_queue(&self, name: &str, now_ms: i64) -> Result<(), StoreError> {
        self.connection()?.execute(
            "INSERT OR IGNORE INTO sb_queue (name, created_ms) VALUES (?1, ?2)",
            params![name, now_ms],
        )?;
        Ok(())
    }

    fn queues(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare("SELECT name FROM sb_queue ORDER BY name")?;
        let names = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    fn insert(&self, message: &NewMessage<'_>) -> Result<u64, StoreError> {
        self.write(|tx, fired| self.insert_hooked(tx, message, fired))
    }

    fn index(&self) -> Result<Vec<StoredMessage>, StoreError> {
        let conn = self.connection()?;
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

    fn body(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        body_with(&*self.connection()?, id)
    }

    fn dead_reason(&self, id: u64) -> Result<Option<String>, StoreError> {
        let reason = self
            .connection()?
            .prepare_cached("SELECT dead_reason FROM sb_message WHERE id = ?1")?
            .query_row([id as i64], |row| row.get::<_, Option<String>>(0))
            .optional()?;
        Ok(reason.flatten())
    }

    fn delete(&self, id: u64) -> Result<bool, StoreError> {
        self.write(|tx, fired| self.delete_hooked(tx, id, fired))
    }

    /// One transaction for the whole batch; the hook sees each write in it.
    fn commit_batch(
        &self,
        inserts: &[NewMessage<'_>],
        deletes: &[u64],
    ) -> Result<Vec<u64>, StoreError> {
        self.write(|tx, fired| {
            let mut ids = Vec::with_capacity(inserts.len());
            for m in inserts {
                ids.push(self.insert_hooked(tx, m, fired)?);
            }
            for id in deletes {
                self.delete_hooked(tx, *id, fired)?;
            }
            Ok(ids)
        })
    }

    fn bodies(&self, ids: &[u64]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let conn = self.connection()?;
        ids.iter().map(|id| body_with(&conn, *id)).collect()
    }

    fn set_delivery_count(&self, id: u64, count: u32) -> Result<(), StoreError> {
        self.connection()?
            .prepare_cached("UPDATE sb_message SET delivery_count = ?2 WHERE id = ?1")?
            .execute(params![id as i64, count])?;
        Ok(())
    }

    fn replace(&self, old_id: u64, replacement: &NewMessage<'_>) -> Result<u64, StoreError> {
        self.write(|tx, fired| {
            if !self.delete_hooked(tx, old_id, fired)? {
                return Err(StoreError::NoSuchMessage(old_id));
            }
            self.insert_hooked(tx, replacement, fired)
        })
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
            .connection()
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

    /// A hook that records every write it sees, in its own table, and what committed.
    #[derive(Default)]
    struct Recorder {
        committed: Mutex<Vec<String>>,
    }

    impl StoreHook for Recorder {
        type Fired = String;

        fn schema(&self) -> &'static str {
            "CREATE TABLE IF NOT EXISTS seen (what TEXT NOT NULL);"
        }

        fn inserted(
            &self,
            conn: &Connection,
            id: u64,
            message: &NewMessage<'_>,
        ) -> Result<Option<String>, StoreError> {
            let what = format!("insert {id} {}", message.queue);
            conn.execute("INSERT INTO seen (what) VALUES (?1)", [&what])?;
            Ok(Some(what))
        }

        fn removing(&self, conn: &Connection, id: u64) -> Result<Option<String>, StoreError> {
            // The row is still there.
            let queue: String = conn.query_row(
                "SELECT queue FROM sb_message WHERE id = ?1",
                [id as i64],
                |r| r.get(0),
            )?;
            let what = format!("remove {id} {queue}");
            conn.execute("INSERT INTO seen (what) VALUES (?1)", [&what])?;
            Ok(Some(what))
        }

        fn committed(&self, fired: Vec<String>) {
            self.committed.lock().unwrap().extend(fired);
        }
    }

    #[test]
    fn the_hook_writes_in_the_stores_transactions() {
        let store = SqliteStore::in_memory_with(Recorder::default()).unwrap();
        let seen = |store: &SqliteStore<Recorder>| -> Vec<String> {
            let conn = store.connection().unwrap();
            let mut stmt = conn
                .prepare("SELECT what FROM seen ORDER BY rowid")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let a = store.insert(&msg("1_async", b"a")).unwrap();
        let mut dl = msg("1_dl", b"a");
        dl.dead_reason = Some("rejected");
        let b = store.replace(a, &dl).unwrap();
        let ids = store.commit_batch(&[msg("1_async", b"c")], &[b]).unwrap();
        let expected = vec![
            format!("insert {a} 1_async"),
            format!("remove {a} 1_async"),
            format!("insert {b} 1_dl"),
            format!("insert {} 1_async", ids[0]),
            format!("remove {b} 1_dl"),
        ];
        assert_eq!(seen(&store), expected);
        assert_eq!(*store.hook().committed.lock().unwrap(), expected);
        // A failed write rolls the hook's rows back and hands nothing to `committed`.
        assert!(store.replace(b, &dl).is_err());
        store
            .connection()
            .unwrap()
            .execute_batch("CREATE TRIGGER no_x BEFORE INSERT ON sb_message WHEN NEW.body = x'78' BEGIN SELECT RAISE(ABORT, 'no x'); END;")
            .unwrap();
        assert!(
            store
                .commit_batch(&[msg("1_async", b"d"), msg("1_async", b"x")], &[ids[0]])
                .is_err()
        );
        assert_eq!(seen(&store), expected);
        assert_eq!(*store.hook().committed.lock().unwrap(), expected);
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
