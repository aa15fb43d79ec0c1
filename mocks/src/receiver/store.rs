//! The run store of the receiver: every received message, its verdict and every receipt,
//! in one SQLite file that is also the service bus's [`MessageStore`].
//!
//! # Why one file and one connection
//!
//! The receiver must not lose or duplicate a receipt when the process dies between two
//! steps. Two of its steps change the broker's queues: *settling* the delivery (accept
//! deletes the message from the register's queue, reject moves it to `_dl`) and *publishing*
//! the reply (an insert into the sender's queue). [`RunStore`] is the service bus's
//! [`SqliteStore`] with a [`StoreHook`] of the receiver's, so that each of these broker
//! operations and the receiver's record of it are one SQLite transaction:
//!
//! - before settling, the receiver *arms* the queue ([`RunStore::arm_settle`]); the broker's
//!   `delete`/`replace` of that message then also stamps the delivery as settled;
//! - before publishing, it arms the reply's queue with the reply's message-id
//!   ([`RunStore::arm_reply`]); the broker's `insert` of a message carrying that id then
//!   also stamps the delivery as replied.
//!
//! The broker writes in group commits ([`MessageStore::commit_batch`]: other messages'
//! stores and deletes share the transaction); the hook sees each write of the group and
//! its stamps commit or roll back with it. An arm is removed once its stamp committed.
//!
//! A crash can therefore only leave a delivery *before* or *after* each step, never in
//! between, and the receiver's recovery finishes exactly what is missing.
//!
//! The service bus tables (`sb_queue`, `sb_message`) are the [`SqliteStore`]'s own; the
//! receiver's tables are prefixed `rcv_`. A run store's file can be opened by a plain
//! [`SqliteStore`] and the other way round.
//!
//! With a broker on another store the receiver still works: it records each step right
//! after the broker returns (a crash in that instant can then repeat a receipt).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeZone, Utc};
use iplos_model::calendar::Clock;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::config::{Injection, Injector};
use super::verdict::{Outcome, Stage};
use crate::nhn::ErrorCondition;
use crate::servicebus::store::{
    MessageStore, NewMessage, SqliteStore, StoreError, StoreHook, StoredMessage,
};
use crate::text_enum::text_enum;

/// The file the run store lives in, inside the state directory.
pub const RUN_STORE_FILE: &str = "run.sqlite";

/// The receiver's tables (the `sb_` ones are the [`SqliteStore`]'s).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rcv_message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_key TEXT NOT NULL,
    message_id TEXT,
    from_her TEXT,
    to_her TEXT,
    received_ms INTEGER NOT NULL,
    raw BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    checked_ms INTEGER,
    outcome TEXT,
    status TEXT,
    error_condition TEXT,
    stage TEXT,
    verdict TEXT,
    content BLOB,
    replay INTEGER NOT NULL DEFAULT 0,
    dead_reason TEXT,
    reply_queue TEXT,
    reply_message_id TEXT,
    reply BLOB,
    injected TEXT,
    injection TEXT,
    replay_document BLOB,
    UNIQUE (queue, message_key)
);
CREATE INDEX IF NOT EXISTS rcv_message_by_parties ON rcv_message (to_her, from_her, id);
-- The earlier message with a MsgId (`original_apprec`): without it every message scanned
-- the kommune's whole history.
CREATE INDEX IF NOT EXISTS rcv_message_by_msg_id
    ON rcv_message (to_her, from_her, json_extract(verdict, '$.msg_id'), id);
CREATE TABLE IF NOT EXISTS rcv_delivery (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message INTEGER NOT NULL REFERENCES rcv_message (id),
    duplicate INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    settled_ms INTEGER,
    replied_ms INTEGER,
    reply_sb_id INTEGER,
    withheld INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rcv_delivery_by_message ON rcv_delivery (message, id);
";

/// The state of a received message (`received`, `checked`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::EnumIter,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum MessageState {
    /// Stored as received; not judged yet (or judging was interrupted).
    Received,
    /// Judged: verdict and reply are stored.
    Checked,
}

text_enum!(MessageState);

/// A received message as the store knows it (without the raw bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRecord {
    /// Row id.
    pub id: i64,
    /// The register queue it came from.
    pub queue: String,
    /// The AMQP message-id, if it had one.
    pub message_id: Option<String>,
    /// `fromHerId` as sent.
    pub from_her: Option<String>,
    /// `toHerId` as sent.
    pub to_her: Option<String>,
    /// When it was first received.
    pub received: DateTime<Utc>,
    /// Where it is in the state machine.
    pub state: MessageState,
    /// How many times judging it was started.
    pub attempts: u32,
    /// How it was answered, once checked.
    pub outcome: Option<Outcome>,
    /// The AppRec status code (1, 2, 3), for an AppRec.
    pub status: Option<String>,
    /// The errorCondition, for an error message.
    pub error_condition: Option<ErrorCondition>,
    /// The stage that decided, once checked.
    pub stage: Option<Stage>,
    /// The verdict as JSON (see [`super::Verdict`]).
    pub verdict: Option<String>,
    /// The queue the reply goes to.
    pub reply_queue: Option<String>,
    /// The AMQP message-id of the reply.
    pub reply_message_id: Option<String>,
    /// Broker deliveries of this message-id handled (the first plus duplicates and
    /// redeliveries that were not settled before).
    pub deliveries: u32,
    /// Replies enqueued for it.
    pub replies_sent: u32,
    /// The injected answer decided for it ([`super::Injection::name`]), if any.
    pub injected: Option<String>,
}

/// One broker delivery handled by the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    /// Row id.
    pub id: i64,
    /// The message row ([`MessageRecord::id`]).
    pub message: i64,
    /// A duplicate: the sender sent the message-id again after an earlier delivery was
    /// settled.
    pub duplicate: bool,
    /// When the delivery was received.
    pub received: DateTime<Utc>,
    /// When it was settled (accepted or dead-lettered).
    pub settled: Option<DateTime<Utc>>,
    /// When its reply was published (for a delayed reply: when it actually was).
    pub replied: Option<DateTime<Utc>>,
    /// Its reply is withheld on purpose ([`super::Injection::WithholdReply`]): never sent.
    pub withheld: bool,
}

/// One message's part of a kommune's chain, for the replay after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The stored content (MsgHead XML): its IPLOS document counts.
    MsgHead(Vec<u8>),
    /// Only this IPLOS document counts (the part not rejected by an injection).
    Iplos(Vec<u8>),
}

/// A delivery whose reply is owed.
#[derive(Debug, Clone)]
pub struct PendingReply {
    /// The delivery row.
    pub delivery: i64,
    /// The message row.
    pub message: i64,
    /// The queue.
    pub queue: String,
    /// The reply's AMQP message-id.
    pub reply_message_id: String,
    /// The encoded AMQP reply.
    pub reply: Vec<u8>,
}

/// What was decided for a message.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Send this reply.
    Reply {
        /// The queue.
        queue: String,
        /// The reply's AMQP message-id.
        reply_message_id: String,
        /// The encoded AMQP reply.
        reply: Vec<u8>,
    },
    /// No reply can be addressed: dead-letter the message with this reason.
    DeadLetter(String),
}

/// What is known about a message-id already received on a queue.
#[derive(Debug, Clone)]
pub struct Known {
    /// The message row.
    pub message: i64,
    /// Its state.
    pub state: MessageState,
    /// Judging attempts so far.
    pub attempts: u32,
    /// A delivery of it that was never settled (the broker will redeliver it after a
    /// crash): the delivery being handled now is that one.
    pub unsettled_delivery: Option<i64>,
}

/// What the receiver records when it has judged a message.
#[derive(Debug, Clone)]
pub struct CheckedRecord {
    /// How it is answered.
    pub outcome: Outcome,
    /// AppRec status code.
    pub status: Option<String>,
    /// errorCondition.
    pub error_condition: Option<ErrorCondition>,
    /// Which stage decided.
    pub stage: Stage,
    /// The verdict as JSON.
    pub verdict: String,
    /// The decrypted, verified content (the MsgHead XML), when decryption got that far.
    pub content: Option<Vec<u8>>,
    /// Whether the IPLOS content counts for the kommune's chain (replayed after a restart).
    pub replay: bool,
    /// The IPLOS document to replay instead of the content's, when only part of it counts
    /// (an injected partial rejection).
    pub replay_document: Option<Vec<u8>>,
    /// Why the message is dead-lettered (no reply), for outcome `dead-letter`.
    pub dead_reason: Option<String>,
    /// The reply, unless the message is dead-lettered.
    pub reply: Option<StoredReply>,
}

/// A reply as the run store keeps it until it is sent.
#[derive(Debug, Clone)]
pub struct StoredReply {
    /// The queue the reply goes to.
    pub queue: String,
    /// The reply's AMQP message-id.
    pub message_id: String,
    /// The encoded AMQP reply.
    pub message: Vec<u8>,
}

#[derive(Debug, Clone)]
struct SettleArm {
    delivery: i64,
    /// The message-id the settled broker message must carry (checked in SQL with `instr`).
    message_id: Option<String>,
}

#[derive(Debug, Clone)]
struct ReplyArm {
    delivery: i64,
    reply_message_id: String,
}

#[derive(Debug, Default)]
struct Arms {
    settle: HashMap<String, SettleArm>,
    replies: HashMap<String, Vec<ReplyArm>>,
}

/// The receiver's [`StoreHook`]: the armed stamps (see the module documentation).
struct RunHook {
    arms: Mutex<Arms>,
    clock: Arc<dyn Clock>,
}

/// A stamp the hook wrote in a transaction; once committed its arm is removed.
enum Stamped {
    /// A delivery from this queue was stamped settled.
    Settled(String),
    /// A delivery was stamped replied by an insert into this queue.
    Replied { queue: String, delivery: i64 },
}

/// The run store: the service bus's queues and the receiver's records in one SQLite file
/// (see the module documentation).
pub struct RunStore {
    sb: SqliteStore<RunHook>,
}

impl std::fmt::Debug for RunStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunStore").finish_non_exhaustive()
    }
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Replies are small (an AppRec is a few kB); a body larger than this is never a reply.
const MAX_REPLY_SCAN: usize = 4 * 1024 * 1024;

impl RunStore {
    /// Opens (or creates) the run store in the SQLite file at `path` (the service bus
    /// store's file settings: WAL journal, `synchronous=NORMAL`).
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<RunStore, StoreError> {
        Ok(RunStore {
            sb: SqliteStore::open_with(path, RunHook::new(clock))?,
        })
    }

    /// A run store in memory (tests).
    pub fn in_memory(clock: Arc<dyn Clock>) -> Result<RunStore, StoreError> {
        Ok(RunStore {
            sb: SqliteStore::in_memory_with(RunHook::new(clock))?,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.sb.connection()
    }

    fn now_ms(&self) -> i64 {
        self.sb.hook().now_ms()
    }

    // ---- the receiver's side -------------------------------------------------------------

    /// What is known about `message_key` on `queue`.
    pub fn find(&self, queue: &str, message_key: &str) -> Result<Option<Known>, StoreError> {
        let conn = self.lock()?;
        let row = conn
            .prepare_cached(
                "SELECT id, state, attempts FROM rcv_message WHERE queue = ?1 AND message_key = ?2",
            )?
            .query_row(params![queue, message_key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, MessageState>(1)?,
                    r.get::<_, u32>(2)?,
                ))
            })
            .optional()?;
        let Some((message, state, attempts)) = row else {
            return Ok(None);
        };
        let unsettled_delivery = conn
            .prepare_cached(
                "SELECT id FROM rcv_delivery WHERE message = ?1 AND settled_ms IS NULL ORDER BY id LIMIT 1",
            )?
            .query_row([message], |r| r.get::<_, i64>(0))
            .optional()?;
        Ok(Some(Known {
            message,
            state,
            attempts,
            unsettled_delivery,
        }))
    }

    /// Records a new message as received with its first delivery; returns the message
    /// and delivery rows.
    pub fn insert_received(
        &self,
        queue: &str,
        message_key: &str,
        message_id: Option<&str>,
        from_her: Option<&str>,
        to_her: Option<&str>,
        raw: &[u8],
    ) -> Result<(i64, i64), StoreError> {
        self.insert_received_injected(queue, message_key, message_id, from_her, to_her, raw, None)
    }

    /// A new message (first delivery of its key on `queue`) stored as received, with what
    /// `injector` arms for it (`own`: the register HER-id; `from_her`: the `fromHerId`).
    /// Both receivers (on our broker and on RabbitMQ) store a new message this way.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_new_received(
        &self,
        queue: &str,
        message_key: &str,
        message_id: Option<&str>,
        from_her: Option<&str>,
        to_her: Option<&str>,
        raw: &[u8],
        injector: Option<&dyn Injector>,
        own: iplos_model::ids::HerId,
    ) -> Result<(i64, i64, Option<Injection>), StoreError> {
        let injection = injector.and_then(|i| {
            let from = from_her.and_then(|f| iplos_model::ids::HerId::parse(f).ok());
            i.inject(own, from, message_id)
        });
        let (m, d) = self.insert_received_injected(
            queue,
            message_key,
            message_id,
            from_her,
            to_her,
            raw,
            injection.as_ref(),
        )?;
        Ok((m, d, injection))
    }

    /// [`RunStore::insert_received`] with the injected answer decided for the message (its
    /// name, and the whole injection as JSON for a judging interrupted by a crash), in the
    /// same transaction; [`Injection::WithholdReply`] also marks the first delivery
    /// withheld.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_received_injected(
        &self,
        queue: &str,
        message_key: &str,
        message_id: Option<&str>,
        from_her: Option<&str>,
        to_her: Option<&str>,
        raw: &[u8],
        injection: Option<&Injection>,
    ) -> Result<(i64, i64), StoreError> {
        let withheld = injection == Some(&Injection::WithholdReply);
        let injected = injection.map(Injection::name);
        let injection_json = injection.and_then(|i| serde_json::to_string(i).ok());
        let now = self.now_ms();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO rcv_message (queue, message_key, message_id, from_her, to_her, received_ms, raw, state, injected, injection)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            queue,
            message_key,
            message_id,
            from_her,
            to_her,
            now,
            raw,
            MessageState::Received,
            injected,
            injection_json,
        ])?;
        let message = tx.last_insert_rowid();
        tx.prepare_cached(
            "INSERT INTO rcv_delivery (message, duplicate, received_ms, withheld) VALUES (?1, 0, ?2, ?3)",
        )?
        .execute(params![message, now, withheld])?;
        let delivery = tx.last_insert_rowid();
        tx.commit()?;
        Ok((message, delivery))
    }

    /// Records another delivery of a known message-id (a duplicate sent by the vendor).
    pub fn insert_duplicate(&self, message: i64) -> Result<i64, StoreError> {
        let now = self.now_ms();
        let conn = self.lock()?;
        conn.prepare_cached(
            "INSERT INTO rcv_delivery (message, duplicate, received_ms) VALUES (?1, 1, ?2)",
        )?
        .execute(params![message, now])?;
        Ok(conn.last_insert_rowid())
    }

    /// Counts one more judging attempt of a message still in state received; returns the
    /// new count.
    pub fn bump_attempts(&self, message: i64) -> Result<u32, StoreError> {
        let conn = self.lock()?;
        conn.prepare_cached("UPDATE rcv_message SET attempts = attempts + 1 WHERE id = ?1")?
            .execute([message])?;
        let n = conn
            .prepare_cached("SELECT attempts FROM rcv_message WHERE id = ?1")?
            .query_row([message], |r| r.get(0))?;
        Ok(n)
    }

    /// Stores the verdict and the reply: received → checked.
    pub fn record_checked(&self, message: i64, rec: &CheckedRecord) -> Result<(), StoreError> {
        let now = self.now_ms();
        let conn = self.lock()?;
        record_checked_in(&conn, now, message, rec)
    }

    /// Stores the verdicts of several messages in one transaction (all or none), in the
    /// order given, and returns for each its [`Decision`] and whether the reply of
    /// `delivery` is withheld: `(message, delivery, record)` → `(decision, withheld)`; a
    /// message without a record (checked before) is only read.
    pub fn record_checked_batch(
        &self,
        batch: &[(i64, i64, Option<CheckedRecord>)],
    ) -> Result<Vec<(Option<Decision>, bool)>, StoreError> {
        let now = self.now_ms();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        for (message, delivery, rec) in batch {
            if let Some(rec) = rec {
                record_checked_in(&tx, now, *message, rec)?;
            }
            out.push((decision_in(&tx, *message)?, withheld_in(&tx, *delivery)?));
        }
        tx.commit()?;
        Ok(out)
    }

    /// What was decided for a checked message: the reply to send, or the dead-letter
    /// reason. `None` while the message is not checked.
    pub fn decision(&self, message: i64) -> Result<Option<Decision>, StoreError> {
        decision_in(&*self.lock()?, message)
    }

    /// Marks a delivery settled unless the broker's store already did (see the module docs).
    pub fn mark_settled(&self, delivery: i64) -> Result<(), StoreError> {
        let now = self.now_ms();
        mark_settled_in(&*self.lock()?, now, delivery)
    }

    /// A delivery settled after its decision, in one trip: a dead-lettered one gets no
    /// reply, so it is recorded as answered too (a restart owes it nothing).
    pub fn mark_settled_decided(&self, delivery: i64, dead_letter: bool) -> Result<(), StoreError> {
        let now = self.now_ms();
        let conn = self.lock()?;
        mark_settled_in(&conn, now, delivery)?;
        if dead_letter {
            mark_replied_in(&conn, now, delivery)?;
        }
        Ok(())
    }

    /// [`RunStore::mark_settled`] and [`RunStore::is_replied`] in one trip.
    pub fn mark_settled_is_replied(&self, delivery: i64) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let conn = self.lock()?;
        mark_settled_in(&conn, now, delivery)?;
        is_replied_in(&conn, delivery)
    }
}

fn mark_replied_in(conn: &Connection, now: i64, delivery: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE rcv_delivery SET replied_ms = ?2 WHERE id = ?1 AND replied_ms IS NULL",
    )?
    .execute(params![delivery, now])?;
    Ok(())
}

fn record_checked_in(
    conn: &Connection,
    now: i64,
    message: i64,
    rec: &CheckedRecord,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE rcv_message SET state = ?15, checked_ms = ?2, outcome = ?3, status = ?4,
                 error_condition = ?5, stage = ?6, verdict = ?7, content = ?8, replay = ?9,
                 reply_queue = ?10, reply_message_id = ?11, reply = ?12, dead_reason = ?13,
                 replay_document = ?14
             WHERE id = ?1 AND state = ?16",
    )?
    .execute(params![
        message,
        now,
        rec.outcome,
        rec.status,
        rec.error_condition,
        rec.stage,
        rec.verdict,
        rec.content,
        rec.replay,
        rec.reply.as_ref().map(|r| &r.queue),
        rec.reply.as_ref().map(|r| &r.message_id),
        rec.reply.as_ref().map(|r| &r.message),
        rec.dead_reason,
        rec.replay_document,
        MessageState::Checked,
        MessageState::Received,
    ])?;
    Ok(())
}

fn decision_in(conn: &Connection, message: i64) -> Result<Option<Decision>, StoreError> {
    let row = conn
            .prepare_cached(
                "SELECT state, reply_queue, reply_message_id, reply, dead_reason FROM rcv_message WHERE id = ?1",
            )?
            .query_row([message], |r| {
                Ok((
                    r.get::<_, MessageState>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .optional()?;
    Ok(match row {
        Some((state, _, _, _, _)) if state != MessageState::Checked => None,
        Some((_, Some(queue), Some(reply_message_id), Some(reply), _)) => Some(Decision::Reply {
            queue,
            reply_message_id,
            reply,
        }),
        Some((_, _, _, _, reason)) => Some(Decision::DeadLetter(
            reason.unwrap_or_else(|| "no reply could be addressed".into()),
        )),
        None => None,
    })
}

fn mark_settled_in(conn: &Connection, now: i64, delivery: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE rcv_delivery SET settled_ms = ?2 WHERE id = ?1 AND settled_ms IS NULL",
    )?
    .execute(params![delivery, now])?;
    Ok(())
}

fn is_replied_in(conn: &Connection, delivery: i64) -> Result<bool, StoreError> {
    let r = conn
        .prepare_cached("SELECT replied_ms IS NOT NULL FROM rcv_delivery WHERE id = ?1")?
        .query_row([delivery], |r| r.get::<_, bool>(0))
        .optional()?;
    Ok(r.unwrap_or(false))
}

fn withheld_in(conn: &Connection, delivery: i64) -> Result<bool, StoreError> {
    let r = conn
        .prepare_cached("SELECT withheld FROM rcv_delivery WHERE id = ?1")?
        .query_row([delivery], |r| r.get::<_, bool>(0))
        .optional()?;
    Ok(r.unwrap_or(false))
}

impl RunStore {
    /// Marks a delivery's reply as sent (or as not needed) unless the broker's store
    /// already did.
    pub fn mark_replied(&self, delivery: i64) -> Result<(), StoreError> {
        let now = self.now_ms();
        mark_replied_in(&*self.lock()?, now, delivery)
    }

    /// Whether a delivery's reply is recorded as sent.
    pub fn is_replied(&self, delivery: i64) -> Result<bool, StoreError> {
        is_replied_in(&*self.lock()?, delivery)
    }

    /// The injection decided for a message when it was received, if any.
    pub fn injection(&self, message: i64) -> Result<Option<Injection>, StoreError> {
        let conn = self.lock()?;
        let json: Option<String> = conn
            .prepare_cached("SELECT injection FROM rcv_message WHERE id = ?1")?
            .query_row([message], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(json.and_then(|j| match serde_json::from_str(&j) {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::warn!(message, error = %e, "a stored injection cannot be read; judging normally");
                None
            }
        }))
    }

    /// Whether a delivery's reply is withheld on purpose (never to be sent).
    pub fn is_withheld(&self, delivery: i64) -> Result<bool, StoreError> {
        withheld_in(&*self.lock()?, delivery)
    }

    /// Deliveries of checked messages on the given register queues whose reply is owed
    /// (withheld replies are not owed).
    pub fn pending_replies(&self, queues: &[String]) -> Result<Vec<PendingReply>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT d.id, m.id, m.queue, m.reply_queue, m.reply_message_id, m.reply
             FROM rcv_delivery d JOIN rcv_message m ON m.id = d.message
             WHERE d.replied_ms IS NULL AND d.withheld = 0 AND m.state = ?1 ORDER BY d.id",
        )?;
        let rows = stmt
            .query_map([MessageState::Checked], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<Vec<u8>>>(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        let mut out = Vec::new();
        for (delivery, message, queue, rq, rid, reply) in rows {
            if !queues.contains(&queue) {
                continue;
            }
            match (rq, rid, reply) {
                (Some(queue), Some(reply_message_id), Some(reply)) => out.push(PendingReply {
                    delivery,
                    message,
                    queue,
                    reply_message_id,
                    reply,
                }),
                // Nothing to send (dead-lettered): nothing owed.
                _ => {
                    conn.prepare_cached(
                        "UPDATE rcv_delivery SET replied_ms = ?2 WHERE id = ?1 AND replied_ms IS NULL",
                    )?
                    .execute(params![delivery, self.now_ms()])?;
                }
            }
        }
        Ok(out)
    }

    /// What counts for the kommune's chain from the messages of one sender to one register
    /// HER-id, oldest first, before message row `before` (exclusive).
    pub fn replay_contents(
        &self,
        to_her: &str,
        from_her: &str,
        before: i64,
    ) -> Result<Vec<Replay>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT content, replay_document FROM rcv_message
             WHERE to_her = ?1 AND from_her = ?2 AND replay = 1 AND state = ?4 AND id < ?3
             ORDER BY id",
        )?;
        let rows = stmt
            .query_map(
                params![to_her, from_her, before, MessageState::Checked],
                |r| {
                    Ok(match r.get::<_, Option<Vec<u8>>>(1)? {
                        Some(doc) => Replay::Iplos(doc),
                        None => Replay::MsgHead(r.get::<_, Vec<u8>>(0)?),
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The AppRec the register sent for the earliest message from `from_her` to `to_her`
    /// (before row `before`) whose MsgHead MsgId is `msg_id`: its status code and the
    /// encoded AMQP reply. A resend of a message the register already has is answered with
    /// it.
    pub fn original_apprec(
        &self,
        to_her: &str,
        from_her: &str,
        msg_id: &str,
        before: i64,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let conn = self.lock()?;
        let row = conn
            .prepare_cached(
                "SELECT status, reply FROM rcv_message
                 WHERE to_her = ?1 AND from_her = ?2 AND id < ?3 AND state = 'checked'
                   AND outcome = 'apprec' AND reply IS NOT NULL AND status IS NOT NULL
                   AND json_extract(verdict, '$.msg_id') = ?4
                 ORDER BY id LIMIT 1",
            )?
            .query_row(params![to_her, from_her, before, msg_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()?;
        Ok(row)
    }

    /// Every received message, oldest first.
    pub fn messages(&self) -> Result<Vec<MessageRecord>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT m.id, m.queue, m.message_id, m.from_her, m.to_her, m.received_ms, m.state,
                    m.attempts, m.outcome, m.status, m.error_condition, m.stage, m.verdict,
                    m.reply_queue, m.reply_message_id, m.injected,
                    (SELECT COUNT(*) FROM rcv_delivery d WHERE d.message = m.id),
                    (SELECT COUNT(*) FROM rcv_delivery d
                        WHERE d.message = m.id AND d.replied_ms IS NOT NULL AND m.reply IS NOT NULL)
             FROM rcv_message m ORDER BY m.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(MessageRecord {
                    id: r.get(0)?,
                    queue: r.get(1)?,
                    message_id: r.get(2)?,
                    from_her: r.get(3)?,
                    to_her: r.get(4)?,
                    received: ms_to_time(r.get(5)?),
                    state: r.get(6)?,
                    attempts: r.get(7)?,
                    outcome: r.get(8)?,
                    status: r.get(9)?,
                    error_condition: r.get(10)?,
                    stage: r.get(11)?,
                    verdict: r.get(12)?,
                    reply_queue: r.get(13)?,
                    reply_message_id: r.get(14)?,
                    injected: r.get(15)?,
                    deliveries: r.get(16)?,
                    replies_sent: r.get(17)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The message with this AMQP message-id, if one was received.
    pub fn message_by_id(&self, message_id: &str) -> Result<Option<MessageRecord>, StoreError> {
        Ok(self
            .messages()?
            .into_iter()
            .find(|m| m.message_id.as_deref() == Some(message_id)))
    }

    /// The decrypted, verified content (MsgHead XML) stored for a message row, if
    /// decryption got that far (`None` also for an unknown row).
    pub fn content(&self, message: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.lock()?;
        Ok(conn
            .prepare_cached("SELECT content FROM rcv_message WHERE id = ?1")?
            .query_row([message], |r| r.get::<_, Option<Vec<u8>>>(0))
            .optional()?
            .flatten())
    }

    /// Every delivery, in order.
    pub fn deliveries(&self) -> Result<Vec<DeliveryRecord>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT id, message, duplicate, received_ms, settled_ms, replied_ms, withheld
             FROM rcv_delivery ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DeliveryRecord {
                    id: r.get(0)?,
                    message: r.get(1)?,
                    duplicate: r.get(2)?,
                    received: ms_to_time(r.get(3)?),
                    settled: r.get::<_, Option<i64>>(4)?.map(ms_to_time),
                    replied: r.get::<_, Option<i64>>(5)?.map(ms_to_time),
                    withheld: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The raw AMQP message (encoded) as received first.
    pub fn raw(&self, message: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.lock()?;
        Ok(conn
            .prepare_cached("SELECT raw FROM rcv_message WHERE id = ?1")?
            .query_row([message], |r| r.get(0))
            .optional()?)
    }

    // ---- arming (see the module docs) ------------------------------------------------------

    /// The next `delete` or `replace` of a message in `queue` (carrying `message_id`, when
    /// given) also marks `delivery` settled, in the same transaction.
    pub fn arm_settle(&self, queue: &str, delivery: i64, message_id: Option<&str>) {
        self.sb.hook().arms().settle.insert(
            queue.to_string(),
            SettleArm {
                delivery,
                message_id: message_id.map(str::to_string),
            },
        );
    }

    /// Removes the settle arm of a queue.
    pub fn disarm_settle(&self, queue: &str) {
        self.sb.hook().disarm_settle(queue);
    }

    /// The next `insert` into `queue` of a message containing `reply_message_id` also marks
    /// `delivery` replied, in the same transaction.
    pub fn arm_reply(&self, queue: &str, delivery: i64, reply_message_id: &str) {
        self.sb
            .hook()
            .arms()
            .replies
            .entry(queue.to_string())
            .or_default()
            .push(ReplyArm {
                delivery,
                reply_message_id: reply_message_id.to_string(),
            });
    }

    /// Removes a reply arm.
    pub fn disarm_reply(&self, queue: &str, delivery: i64) {
        self.sb.hook().disarm_reply(queue, delivery);
    }
}

impl RunHook {
    fn new(clock: Arc<dyn Clock>) -> RunHook {
        RunHook {
            arms: Mutex::new(Arms::default()),
            clock,
        }
    }

    fn arms(&self) -> MutexGuard<'_, Arms> {
        // Every change to the arms is a single insert or remove: a poisoned lock is
        // still consistent.
        self.arms.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    fn disarm_settle(&self, queue: &str) {
        self.arms().settle.remove(queue);
    }

    fn disarm_reply(&self, queue: &str, delivery: i64) {
        let mut arms = self.arms();
        if let Some(list) = arms.replies.get_mut(queue) {
            list.retain(|a| a.delivery != delivery);
            if list.is_empty() {
                arms.replies.remove(queue);
            }
        }
    }

    fn reply_arm_for(&self, m: &NewMessage<'_>) -> Option<ReplyArm> {
        if m.body.len() > MAX_REPLY_SCAN {
            return None;
        }
        let arms = self.arms();
        arms.replies.get(m.queue).and_then(|list| {
            list.iter()
                .find(|a| contains(m.body, a.reply_message_id.as_bytes()))
                .cloned()
        })
    }
}

impl StoreHook for RunHook {
    type Fired = Stamped;

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    /// An armed reply stored: its delivery is stamped replied.
    fn inserted(
        &self,
        conn: &Connection,
        id: u64,
        message: &NewMessage<'_>,
    ) -> Result<Option<Stamped>, StoreError> {
        let Some(arm) = self.reply_arm_for(message) else {
            return Ok(None);
        };
        conn.prepare_cached(
            "UPDATE rcv_delivery SET replied_ms = ?2, reply_sb_id = ?3 WHERE id = ?1 AND replied_ms IS NULL",
        )?
        .execute(params![arm.delivery, self.now_ms(), id as i64])?;
        Ok(Some(Stamped::Replied {
            queue: message.queue.to_string(),
            delivery: arm.delivery,
        }))
    }

    /// An armed queue's message (with the armed message-id) accepted or dead-lettered: its
    /// delivery is stamped settled.
    fn removing(&self, conn: &Connection, id: u64) -> Result<Option<Stamped>, StoreError> {
        let (queue, arm) = {
            let arms = self.arms();
            if arms.settle.is_empty() {
                return Ok(None);
            }
            let queue: Option<String> = conn
                .prepare_cached("SELECT queue FROM sb_message WHERE id = ?1")?
                .query_row([id as i64], |r| r.get(0))
                .optional()?;
            let Some(queue) = queue else {
                return Ok(None);
            };
            match arms.settle.get(&queue) {
                Some(a) => (queue, a.clone()),
                None => return Ok(None),
            }
        };
        if let Some(mid) = &arm.message_id {
            let found: i64 = conn
                .prepare_cached("SELECT instr(body, ?2) FROM sb_message WHERE id = ?1")?
                .query_row(params![id as i64, mid.as_bytes()], |r| r.get(0))?;
            if found == 0 {
                return Ok(None);
            }
        }
        conn.prepare_cached(
            "UPDATE rcv_delivery SET settled_ms = ?2 WHERE id = ?1 AND settled_ms IS NULL",
        )?
        .execute(params![arm.delivery, self.now_ms()])?;
        Ok(Some(Stamped::Settled(queue)))
    }

    fn committed(&self, fired: Vec<Stamped>) {
        for f in fired {
            match f {
                Stamped::Settled(queue) => self.disarm_settle(&queue),
                Stamped::Replied { queue, delivery } => self.disarm_reply(&queue, delivery),
            }
        }
    }
}

/// The service bus side: the [`SqliteStore`]'s, with the receiver's hook.
impl MessageStore for RunStore {
    fn ensure_queue(&self, name: &str, now_ms: i64) -> Result<(), StoreError> {
        self.sb.ensure_queue(name, now_ms)
    }

    fn queues(&self) -> Result<Vec<String>, StoreError> {
        self.sb.queues()
    }

    fn insert(&self, message: &NewMessage<'_>) -> Result<u64, StoreError> {
        self.sb.insert(message)
    }

    fn index(&self) -> Result<Vec<StoredMessage>, StoreError> {
        self.sb.index()
    }

    fn body(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.sb.body(id)
    }

    fn dead_reason(&self, id: u64) -> Result<Option<String>, StoreError> {
        self.sb.dead_reason(id)
    }

    fn delete(&self, id: u64) -> Result<bool, StoreError> {
        self.sb.delete(id)
    }

    fn set_delivery_count(&self, id: u64, count: u32) -> Result<(), StoreError> {
        self.sb.set_delivery_count(id, count)
    }

    fn replace(&self, old_id: u64, replacement: &NewMessage<'_>) -> Result<u64, StoreError> {
        self.sb.replace(old_id, replacement)
    }

    fn commit_batch(
        &self,
        inserts: &[NewMessage<'_>],
        deletes: &[u64],
    ) -> Result<Vec<u64>, StoreError> {
        self.sb.commit_batch(inserts, deletes)
    }

    fn bodies(&self, ids: &[u64]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.sb.bodies(ids)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
