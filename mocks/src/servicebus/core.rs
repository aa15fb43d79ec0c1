//! The queues: an in-memory index over the durable [`MessageStore`], with at-least-once
//! leasing, redelivery at the head, dead-lettering and expiry. Both the AMQP links and the
//! in-process [`Bus`](super::Bus) go through this.
//!
//! **The writer** (one task per broker): stores and accept-deletes are sent to it; it
//! takes everything waiting (up to [`MAX_BATCH`] writes), commits it with
//! [`MessageStore::commit_batch`] in one transaction on a blocking thread, and only then
//! updates the index (a stored message becomes visible to consumers, an accepted one leaves
//! the leased set) and answers each writer. While one commit runs the next batch collects,
//! so the commit rate adapts to the load (group commit). The index is changed only by the
//! writer after the commit, so a caller that is cancelled can not leave the index and the
//! store disagreeing.
//!
//! **The body cache** \[model\]: the encoded bodies of messages just stored are kept in
//! memory (at most [`BODY_CACHE_BYTES`], bodies up to [`BODY_CACHE_MAX_BODY`], oldest
//! dropped first) so that a consumer keeping up with the producers is served without
//! reading the store. A cached body is exactly the stored one; it is dropped when its
//! message is deleted or moved.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fe2o3_amqp_types::messaging::message::DecodeIntoMessage;
use fe2o3_amqp_types::messaging::{
    Body, Header, Message, MessageAnnotations, message::__private::Serializable,
};
use fe2o3_amqp_types::primitives::{OrderedMap, Symbol, Timestamp, Value};
use iplos_model::calendar::Clock;
use tokio::sync::{Notify, mpsc, oneshot};

use super::address::{QueueKind, parse_queue_name};
use super::store::{MessageStore, NewMessage, StoreError};
use super::types::{BusError, RejectPolicy};

/// An AMQP 1.0 message as the broker stores and delivers it: every section kept.
pub type AmqpMessage = Message<Body<Value>>;

/// Message annotation naming why a message was dead-lettered: `rejected`,
/// `delivery-limit` or `expired`.
pub const ANNOTATION_DEAD_LETTER_REASON: &str = "x-opt-dead-letter-reason";
/// Message annotation with the description the consumer gave when it rejected the message.
pub const ANNOTATION_DEAD_LETTER_DESCRIPTION: &str = "x-opt-dead-letter-description";
/// Message annotation naming the queue a dead letter came from.
pub const ANNOTATION_DEAD_LETTER_QUEUE: &str = "x-opt-dead-letter-queue";
/// Message annotation with the time (ms since the epoch) a message was dead-lettered.
pub const ANNOTATION_DEAD_LETTER_TIME: &str = "x-opt-dead-letter-time";

/// Encodes a message as the bytes of an AMQP transfer payload.
pub fn encode_message(message: &AmqpMessage) -> Result<Vec<u8>, BusError> {
    serde_amqp::to_vec(&Serializable(message)).map_err(|e| BusError::Encoding(e.to_string()))
}

/// Decodes the bytes of an AMQP transfer payload.
pub fn decode_message(bytes: &[u8]) -> Result<AmqpMessage, BusError> {
    Body::<Value>::decode_message_from_reader(serde_amqp::read::SliceReader::new(bytes))
        .map_err(|e| BusError::Encoding(e.to_string()))
}

/// Most writes the writer commits in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// Bytes of encoded bodies the body cache keeps at most.
pub(crate) const BODY_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Bodies larger than this are not cached.
pub(crate) const BODY_CACHE_MAX_BODY: usize = 1024 * 1024;

/// Recently stored bodies, oldest dropped first.
#[derive(Debug, Default)]
struct BodyCache {
    bodies: HashMap<u64, Arc<[u8]>>,
    order: VecDeque<u64>,
    bytes: usize,
}

impl BodyCache {
    fn put(&mut self, id: u64, body: Vec<u8>) {
        if body.len() > BODY_CACHE_MAX_BODY {
            return;
        }
        self.bytes += body.len();
        self.bodies.insert(id, Arc::from(body));
        self.order.push_back(id);
        while self.bytes > BODY_CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.bodies.remove(&old) {
                self.bytes -= b.len();
            }
        }
        // Ids of removed bodies stay in `order` until they reach the front; keep that
        // bounded too.
        if self.order.len() > 4 * self.bodies.len() + 1024 {
            let bodies = &self.bodies;
            self.order.retain(|id| bodies.contains_key(id));
        }
    }

    fn get(&self, id: u64) -> Option<Arc<[u8]>> {
        self.bodies.get(&id).cloned()
    }

    fn remove(&mut self, id: u64) {
        if let Some(b) = self.bodies.remove(&id) {
            self.bytes -= b.len();
        }
    }
}

/// A write for the writer task.
enum WriteOp {
    Insert {
        queue: Arc<Queue>,
        enqueued_ms: i64,
        expires_ms: Option<i64>,
        body: Vec<u8>,
        done: oneshot::Sender<Result<u64, BusError>>,
    },
    Delete {
        queue: Arc<Queue>,
        id: u64,
        done: oneshot::Sender<Result<(), BusError>>,
    },
}

/// The writer: group commits of what [`Core`] sends it, then the index updates.
async fn run_writer(
    store: Arc<dyn MessageStore>,
    cache: Arc<Mutex<BodyCache>>,
    mut rx: mpsc::UnboundedReceiver<WriteOp>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        let store = store.clone();
        let committed = tokio::task::spawn_blocking(move || {
            let mut inserts = Vec::new();
            let mut deletes = Vec::new();
            for op in &ops {
                match op {
                    WriteOp::Insert {
                        queue,
                        enqueued_ms,
                        expires_ms,
                        body,
                        ..
                    } => inserts.push(NewMessage {
                        queue: &queue.name,
                        enqueued_ms: *enqueued_ms,
                        expires_ms: *expires_ms,
                        delivery_count: 0,
                        dead_reason: None,
                        body,
                    }),
                    WriteOp::Delete { id, .. } => deletes.push(*id),
                }
            }
            let result = store.commit_batch(&inserts, &deletes);
            drop(inserts);
            (ops, result)
        })
        .await;
        let (ops, result) = match committed {
            Ok(r) => r,
            Err(e) => {
                // The blocking task panicked: its writers see their channel closed.
                tracing::error!(error = %e, "service bus writer: commit task failed");
                continue;
            }
        };
        match result {
            Ok(ids) => {
                let mut ids = ids.into_iter();
                let mut cache = lock(&cache);
                for op in ops {
                    match op {
                        WriteOp::Insert {
                            queue,
                            expires_ms,
                            body,
                            done,
                            ..
                        } => {
                            let Some(id) = ids.next() else {
                                let _ = done.send(Err(BusError::Internal(
                                    "the store returned fewer ids than messages".into(),
                                )));
                                continue;
                            };
                            cache.put(id, body);
                            queue.lock().ready.insert(
                                id,
                                Entry {
                                    id,
                                    expires_ms,
                                    delivery_count: 0,
                                },
                            );
                            queue.notify.notify_waiters();
                            let _ = done.send(Ok(id));
                        }
                        WriteOp::Delete { queue, id, done } => {
                            cache.remove(id);
                            queue.lock().leased.remove(&id);
                            let _ = done.send(Ok(()));
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = ops.len(), "service bus group commit failed");
                let text = e.to_string();
                for op in ops {
                    let err = BusError::Store(StoreError::Batch(text.clone()));
                    match op {
                        WriteOp::Insert { done, .. } => {
                            let _ = done.send(Err(err));
                        }
                        WriteOp::Delete { done, .. } => {
                            let _ = done.send(Err(err));
                        }
                    }
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every change under these locks is a single insert/remove: a poisoned lock is still
    // consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u64,
    expires_ms: Option<i64>,
    delivery_count: u32,
}

#[derive(Debug, Default)]
struct QueueState {
    ready: BTreeMap<u64, Entry>,
    leased: HashMap<u64, Entry>,
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) name: String,
    /// The dead-letter queue of the same HER-id (`None` for a `_dl` queue itself).
    dead_letter: Option<String>,
    state: Mutex<QueueState>,
    notify: Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A panic while holding the lock leaves the maps consistent (every mutation is a
        // single insert/remove), so a poisoned lock is safe to keep using.
        lock(&self.state)
    }
}

/// A message taken from a queue and not settled yet.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) queue: Arc<Queue>,
    pub(crate) id: u64,
    pub(crate) delivery_count: u32,
}

/// The outcome of a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settlement {
    /// Accepted: delete.
    Accept,
    /// Back to the head of the queue.
    Release(Failure),
    /// Rejected, with the consumer's description.
    Reject(Option<String>),
}

/// What happened to a delivery that was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Released or modified by the consumer, or lost with its link or connection.
    Failed,
    /// Handed back without a delivery attempt (e.g. the broker shut down before sending).
    NotDelivered,
}

pub(crate) struct Core {
    pub(crate) namespace: String,
    store: Arc<dyn MessageStore>,
    writer: mpsc::UnboundedSender<WriteOp>,
    cache: Arc<Mutex<BodyCache>>,
    queues: HashMap<String, Arc<Queue>>,
    clock: Arc<dyn Clock>,
    max_deliveries: u32,
    reject_policy: RejectPolicy,
    default_ttl: Option<Duration>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("namespace", &self.namespace)
            .field("queues", &self.queues.len())
            .finish()
    }
}

pub(crate) struct CoreSettings {
    pub(crate) namespace: String,
    pub(crate) queue_names: Vec<String>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) max_deliveries: u32,
    pub(crate) reject_policy: RejectPolicy,
    pub(crate) default_ttl: Option<Duration>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, BusError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BusError::Internal(format!("store task failed: {e}")))?
        .map_err(BusError::Store)
}

/// What [`Core::open`] returns besides the core: the writer task to spawn.
pub(crate) type WriterTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Core {
    /// Creates the configured queues in the store and loads what is already stored.
    /// The returned writer task must be spawned on the runtime for writes to happen; it
    /// ends when the core is dropped.
    pub(crate) fn open(
        store: Arc<dyn MessageStore>,
        settings: CoreSettings,
    ) -> Result<(Core, WriterTask), BusError> {
        let now = settings.clock.now().timestamp_millis();
        let mut names = settings.queue_names;
        for name in store.queues()? {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut queues = HashMap::new();
        for name in names {
            store.ensure_queue(&name, now)?;
            let dead_letter = match parse_queue_name(&name) {
                Some((_, QueueKind::DeadLetter)) => None,
                Some((her, _)) => Some(QueueKind::DeadLetter.queue_name(her)),
                None => None,
            };
            queues.insert(
                name.clone(),
                Arc::new(Queue {
                    name,
                    dead_letter,
                    state: Mutex::new(QueueState::default()),
                    notify: Notify::new(),
                }),
            );
        }
        // Make sure every dead-letter queue named exists.
        let missing: Vec<String> = queues
            .values()
            .filter_map(|q| q.dead_letter.clone())
            .filter(|dl| !queues.contains_key(dl))
            .collect();
        for name in missing {
            store.ensure_queue(&name, now)?;
            queues.insert(
                name.clone(),
                Arc::new(Queue {
                    name,
                    dead_letter: None,
                    state: Mutex::new(QueueState::default()),
                    notify: Notify::new(),
                }),
            );
        }
        for m in store.index()? {
            let Some(queue) = queues.get(&m.queue) else {
                tracing::warn!(queue = %m.queue, id = m.id, "stored message for an unknown queue");
                continue;
            };
            queue.lock().ready.insert(
                m.id,
                Entry {
                    id: m.id,
                    expires_ms: m.expires_ms,
                    delivery_count: m.delivery_count,
                },
            );
        }
        let (writer, rx) = mpsc::unbounded_channel();
        let cache = Arc::new(Mutex::new(BodyCache::default()));
        let task: WriterTask = Box::pin(run_writer(store.clone(), cache.clone(), rx));
        let core = Core {
            namespace: settings.namespace,
            store,
            writer,
            cache,
            queues,
            clock: settings.clock,
            max_deliveries: settings.max_deliveries.max(1),
            reject_policy: settings.reject_policy,
            default_ttl: settings.default_ttl,
        };
        Ok((core, task))
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    pub(crate) fn queue(&self, name: &str) -> Option<&Arc<Queue>> {
        self.queues.get(name)
    }

    pub(crate) fn queue_or_err(&self, name: &str) -> Result<&Arc<Queue>, BusError> {
        self.queue(name)
            .ok_or_else(|| BusError::NoSuchQueue(name.to_string()))
    }

    pub(crate) fn queue_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.queues.keys().cloned().collect();
        names.sort();
        names
    }

    /// Messages in a queue: (waiting, leased to a consumer).
    pub(crate) fn depth(&self, name: &str) -> Result<(usize, usize), BusError> {
        let q = self.queue_or_err(name)?;
        let s = q.lock();
        Ok((s.ready.len(), s.leased.len()))
    }

    /// Stores a message in a queue; returns once it is durable. The index is updated by
    /// the writer after the commit, so a caller cancelled half-way can not leave the index
    /// and the store disagreeing.
    pub(crate) async fn publish(&self, queue: &str, message: AmqpMessage) -> Result<u64, BusError> {
        self.publish_inner(queue, &message).await
    }

    /// Records the outcome of a lease. An accept goes to the writer (whose work does not
    /// depend on the caller); the other outcomes run in their own task, so a caller that
    /// is cancelled half-way can not leave the index and the store disagreeing.
    pub(crate) async fn settle(
        self: &Arc<Self>,
        lease: Lease,
        how: Settlement,
    ) -> Result<(), BusError> {
        if how == Settlement::Accept {
            return self.ack_inner(&lease).await;
        }
        let core = self.clone();
        tokio::spawn(async move {
            match how {
                Settlement::Accept => core.ack_inner(&lease).await,
                Settlement::Release(failure) => core.release_inner(&lease, failure).await,
                Settlement::Reject(description) => {
                    core.reject_inner(&lease, description.as_deref()).await
                }
            }
        })
        .await
        .map_err(|e| BusError::Internal(format!("settle task failed: {e}")))?
    }

    /// Stores a message in a queue; returns once it is durable.
    async fn publish_inner(&self, queue: &str, message: &AmqpMessage) -> Result<u64, BusError> {
        let answer = self.enqueue(queue, message)?;
        answer
            .await
            .map_err(|_| BusError::Internal("the service bus writer failed".into()))?
    }

    /// Hands a message to the writer at once (messages enqueued one after the other get
    /// increasing ids: a link's order is kept); the answer comes when it is durable.
    pub(crate) fn enqueue(
        &self,
        queue: &str,
        message: &AmqpMessage,
    ) -> Result<oneshot::Receiver<Result<u64, BusError>>, BusError> {
        let q = self.queue_or_err(queue)?.clone();
        let now = self.now_ms();
        let ttl = message
            .header
            .as_ref()
            .and_then(|h| h.ttl)
            .map(|ms| ms as i64)
            .or_else(|| self.default_ttl.map(|d| d.as_millis() as i64));
        let expires_ms = ttl.map(|t| now.saturating_add(t));
        let body = encode_message(message)?;
        let (done, answer) = oneshot::channel();
        self.writer
            .send(WriteOp::Insert {
                queue: q,
                enqueued_ms: now,
                expires_ms,
                body,
                done,
            })
            .map_err(|_| BusError::Internal("the service bus writer is gone".into()))?;
        Ok(answer)
    }

    /// Takes the message at the head of the queue, if one is waiting. Expired messages met on
    /// the way are dead-lettered (in the background, so that this never awaits: a caller
    /// that is cancelled can not leave a message stranded).
    pub(crate) fn try_take(self: &Arc<Self>, q: &Arc<Queue>) -> Option<Lease> {
        let now = self.now_ms();
        let mut s = q.lock();
        let mut lease = None;
        while let Some((_, entry)) = s.ready.pop_first() {
            s.leased.insert(entry.id, entry);
            if entry.expires_ms.is_some_and(|e| e <= now) {
                let (core, q) = (self.clone(), q.clone());
                tokio::spawn(async move { core.expire(&q, entry).await });
                continue;
            }
            lease = Some(Lease {
                queue: q.clone(),
                id: entry.id,
                delivery_count: entry.delivery_count,
            });
            break;
        }
        lease
    }

    /// Waits for a message in the queue and takes it. Cancel-safe.
    pub(crate) async fn take(self: &Arc<Self>, q: &Arc<Queue>) -> Lease {
        loop {
            let notified = q.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(lease) = self.try_take(q) {
                return lease;
            }
            notified.await;
        }
    }

    /// The stored message of a lease, with the header's delivery-count set to the number of
    /// failed deliveries so far. `None` if the message is gone from the store.
    pub(crate) async fn load(&self, lease: &Lease) -> Result<Option<AmqpMessage>, BusError> {
        let mut loaded = self.load_many(std::slice::from_ref(lease)).await?;
        Ok(loaded.pop().flatten())
    }

    /// The stored messages of several leases (see [`Core::load`]), in order: from the body
    /// cache, and what is not there in one read of the store.
    pub(crate) async fn load_many(
        &self,
        leases: &[Lease],
    ) -> Result<Vec<Option<AmqpMessage>>, BusError> {
        let mut bodies: Vec<Option<Arc<[u8]>>> = {
            let cache = lock(&self.cache);
            leases.iter().map(|l| cache.get(l.id)).collect()
        };
        let missing: Vec<u64> = leases
            .iter()
            .zip(&bodies)
            .filter(|(_, b)| b.is_none())
            .map(|(l, _)| l.id)
            .collect();
        if !missing.is_empty() {
            let store = self.store.clone();
            let mut read = blocking(move || store.bodies(&missing)).await?.into_iter();
            for b in bodies.iter_mut().filter(|b| b.is_none()) {
                *b = read.next().flatten().map(Arc::from);
            }
        }
        let mut out = Vec::with_capacity(leases.len());
        for (lease, bytes) in leases.iter().zip(bodies) {
            let Some(bytes) = bytes else {
                out.push(None);
                continue;
            };
            let mut message = decode_message(&bytes)?;
            if lease.delivery_count > 0 || message.header.is_some() {
                let header = message.header.get_or_insert_with(Header::default);
                header.delivery_count = lease.delivery_count;
                header.first_acquirer = lease.delivery_count == 0;
            }
            out.push(Some(message));
        }
        Ok(out)
    }

    /// The consumer accepted the message: delete it durably (in the writer's next group
    /// commit); returns once the delete is committed.
    async fn ack_inner(&self, lease: &Lease) -> Result<(), BusError> {
        let (done, answer) = oneshot::channel();
        self.writer
            .send(WriteOp::Delete {
                queue: lease.queue.clone(),
                id: lease.id,
                done,
            })
            .map_err(|_| BusError::Internal("the service bus writer is gone".into()))?;
        answer
            .await
            .map_err(|_| BusError::Internal("the service bus writer failed".into()))?
    }

    /// Puts a message back at the head of its queue. A failed delivery counts toward the
    /// delivery limit; at the limit the message is dead-lettered instead.
    async fn release_inner(&self, lease: &Lease, failure: Failure) -> Result<(), BusError> {
        let q = &lease.queue;
        let Some(mut entry) = q.lock().leased.get(&lease.id).copied() else {
            return Ok(());
        };
        if failure == Failure::Failed {
            entry.delivery_count = entry.delivery_count.saturating_add(1);
            if entry.delivery_count >= self.max_deliveries && q.dead_letter.is_some() {
                let description = format!(
                    "delivery failed {} times (limit {})",
                    entry.delivery_count, self.max_deliveries
                );
                return self
                    .dead_letter(q, entry, "delivery-limit", Some(&description))
                    .await;
            }
            let store = self.store.clone();
            let (id, count) = (entry.id, entry.delivery_count);
            if let Err(e) = blocking(move || store.set_delivery_count(id, count)).await {
                tracing::warn!(error = %e, "could not record the delivery count");
            }
        }
        {
            let mut s = q.lock();
            s.leased.remove(&entry.id);
            s.ready.insert(entry.id, entry);
        }
        q.notify.notify_waiters();
        Ok(())
    }

    /// The consumer rejected the message.
    async fn reject_inner(&self, lease: &Lease, description: Option<&str>) -> Result<(), BusError> {
        let q = &lease.queue;
        let Some(entry) = q.lock().leased.get(&lease.id).copied() else {
            return Ok(());
        };
        match (self.reject_policy, q.dead_letter.is_some()) {
            (RejectPolicy::DeadLetter, true) => {
                self.dead_letter(q, entry, "rejected", description).await
            }
            (RejectPolicy::Retry, true) => self.release_inner(lease, Failure::Failed).await,
            (_, false) => {
                // Rejected from a dead-letter queue: there is nowhere further to go.
                tracing::info!(queue = %q.name, id = entry.id, "rejected dead letter dropped");
                self.ack_inner(lease).await
            }
        }
    }

    async fn expire(&self, q: &Arc<Queue>, entry: Entry) {
        let result = if q.dead_letter.is_some() {
            self.dead_letter(q, entry, "expired", Some("message TTL expired"))
                .await
        } else {
            // Dead letters carry no TTL; an expiry here can only come from an old store.
            let lease = Lease {
                queue: q.clone(),
                id: entry.id,
                delivery_count: entry.delivery_count,
            };
            self.ack_inner(&lease).await
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, queue = %q.name, "could not expire a message");
            let mut s = q.lock();
            if let Some(entry) = s.leased.remove(&entry.id) {
                s.ready.insert(entry.id, entry);
            }
        }
    }

    /// Moves a leased message to the dead-letter queue of its HER-id, with annotations saying
    /// why.
    async fn dead_letter(
        &self,
        q: &Arc<Queue>,
        entry: Entry,
        reason: &str,
        description: Option<&str>,
    ) -> Result<(), BusError> {
        let Some(dl) = q
            .dead_letter
            .as_ref()
            .and_then(|n| self.queues.get(n))
            .cloned()
        else {
            return Err(BusError::NoSuchQueue(format!(
                "dead-letter queue of {}",
                q.name
            )));
        };
        let now = self.now_ms();
        let store = self.store.clone();
        let id = entry.id;
        let Some(bytes) = blocking(move || store.body(id)).await? else {
            q.lock().leased.remove(&entry.id);
            return Ok(());
        };
        let mut message = decode_message(&bytes)?;
        let header = message.header.get_or_insert_with(Header::default);
        header.delivery_count = entry.delivery_count;
        header.ttl = None;
        let annotations = message
            .message_annotations
            .get_or_insert_with(|| MessageAnnotations(OrderedMap::new()));
        let mut put = |key: &str, value: Value| {
            annotations.0.insert(Symbol::from(key).into(), value);
        };
        put(ANNOTATION_DEAD_LETTER_REASON, Value::String(reason.into()));
        if let Some(d) = description {
            put(ANNOTATION_DEAD_LETTER_DESCRIPTION, Value::String(d.into()));
        }
        put(ANNOTATION_DEAD_LETTER_QUEUE, Value::String(q.name.clone()));
        put(
            ANNOTATION_DEAD_LETTER_TIME,
            Value::Timestamp(Timestamp::from_milliseconds(now)),
        );
        let body = encode_message(&message)?;
        let store = self.store.clone();
        let dl_name = dl.name.clone();
        let why = match description {
            Some(d) => format!("{reason}: {d}"),
            None => reason.to_string(),
        };
        let count = entry.delivery_count;
        let new_id = blocking(move || {
            store.replace(
                id,
                &NewMessage {
                    queue: &dl_name,
                    enqueued_ms: now,
                    expires_ms: None,
                    delivery_count: count,
                    dead_reason: Some(&why),
                    body: &body,
                },
            )
        })
        .await?;
        lock(&self.cache).remove(entry.id);
        q.lock().leased.remove(&entry.id);
        dl.lock().ready.insert(
            new_id,
            Entry {
                id: new_id,
                expires_ms: None,
                delivery_count: count,
            },
        );
        dl.notify.notify_waiters();
        tracing::info!(from = %q.name, to = %dl.name, reason, "message dead-lettered");
        Ok(())
    }

    /// Dead-letters every waiting message whose TTL has passed; returns how many.
    pub(crate) async fn sweep_expired(&self) -> usize {
        let now = self.now_ms();
        let mut n = 0;
        for q in self.queues.values() {
            let expired: Vec<Entry> = {
                let mut s = q.lock();
                let ids: Vec<u64> = s
                    .ready
                    .values()
                    .filter(|e| e.expires_ms.is_some_and(|x| x <= now))
                    .map(|e| e.id)
                    .collect();
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(e) = s.ready.remove(&id) {
                        s.leased.insert(id, e);
                        out.push(e);
                    }
                }
                out
            };
            for entry in expired {
                self.expire(q, entry).await;
                n += 1;
            }
        }
        n
    }

    /// The waiting messages of a queue, head first, without taking them.
    pub(crate) async fn browse(&self, queue: &str) -> Result<Vec<AmqpMessage>, BusError> {
        let q = self.queue_or_err(queue)?;
        let entries: Vec<Entry> = q.lock().ready.values().copied().collect();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let lease = Lease {
                queue: q.clone(),
                id: entry.id,
                delivery_count: entry.delivery_count,
            };
            if let Some(m) = self.load(&lease).await? {
                out.push(m);
            }
        }
        Ok(out)
    }
}
