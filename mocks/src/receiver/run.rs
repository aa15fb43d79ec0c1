//! The receiver's tasks: one consumer per register queue, the state machine of each
//! delivery, and the recovery of owed replies at start.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use iplos_model::ids::HerId;
use iplos_model::message::read_msghead;
use iplos_model::rules::{CheckOptions, ContentState, check_stream};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use super::config::{Failpoint, FailpointAction, Injection, ReceiverConfig};
use super::directory::CertificateDirectory;
use super::error::ReceiverError;
use super::judge::{self, Chains, Ctx, Judged, Reply};
use super::store::MessageState;
use super::store::{CheckedRecord, Decision, Replay, RunStore, StoredReply};
use super::verdict::Answer;
use crate::nhn;
use crate::pki::Party;
use crate::servicebus::{
    AmqpMessage, Bus, Consumer, Delivery, QueueKind, decode_message, encode_message,
};

pub(crate) type ChainMap = Arc<Mutex<HashMap<(u32, u32), ContentState>>>;

/// A fresh content state in memory for (register `own`, sender `from`), not an absent
/// one: an absent state is rebuilt from the store (the restart path).
pub(crate) fn reset_chain(chains: &ChainMap, own: HerId, from: HerId) {
    chains
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((own.get(), from.get()), ContentState::new());
}

pub(crate) struct Shared {
    pub(crate) bus: Bus,
    pub(crate) store: Arc<RunStore>,
    pub(crate) identity: Party,
    pub(crate) directory: Arc<dyn CertificateDirectory>,
    pub(crate) config: ReceiverConfig,
    pub(crate) chains: ChainMap,
    pub(crate) crashed: watch::Sender<Option<Failpoint>>,
    /// The receiver's shutdown signal (delayed replies stop waiting on it).
    pub(crate) shutdown: watch::Receiver<bool>,
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReceiverError> + Send + 'static,
) -> Result<T, ReceiverError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ReceiverError::Internal(format!("blocking task failed: {e}")))?
}

/// The chains of one register HER-id, rebuilt from the store after a restart.
pub(crate) struct StoreChains {
    pub(crate) map: ChainMap,
    pub(crate) store: Arc<RunStore>,
    pub(crate) own: HerId,
    /// The message being judged (replay takes only the ones before it).
    pub(crate) before: i64,
    pub(crate) options: CheckOptions,
}

impl Chains for StoreChains {
    fn original_apprec(&mut self, from: HerId, msg_id: &str) -> Option<(String, Vec<u8>)> {
        self.store
            .original_apprec(
                &self.own.to_string(),
                &from.to_string(),
                msg_id,
                self.before,
            )
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "looking up an earlier message with the same MsgId");
                None
            })
    }

    fn take(&mut self, from: HerId) -> ContentState {
        let key = (self.own.get(), from.get());
        if let Some(s) = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
        {
            return s;
        }
        // Not in memory: a restart. Replay the kommune's earlier messages in order.
        let mut state = ContentState::new();
        match self
            .store
            .replay_contents(&self.own.to_string(), &from.to_string(), self.before)
        {
            Ok(contents) => {
                let n = contents.len();
                for c in contents {
                    match c {
                        Replay::MsgHead(c) => {
                            if let Ok(info) = read_msghead(&c) {
                                let doc = info.content_document();
                                check_stream(&doc[..], &self.options, &mut state, &mut |_| {});
                            }
                        }
                        Replay::Iplos(doc) => {
                            check_stream(&doc[..], &self.options, &mut state, &mut |_| {});
                        }
                    }
                }
                if n > 0 {
                    tracing::info!(own = %self.own, %from, messages = n, "kommune chain rebuilt from the run store");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "could not replay the kommune's earlier messages")
            }
        }
        state
    }

    fn put(&mut self, from: HerId, state: ContentState) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((self.own.get(), from.get()), state);
    }
}

impl Shared {
    fn options(&self) -> CheckOptions {
        CheckOptions {
            data_year: self.config.data_year,
            test_mode: self.config.test_mode,
            ..CheckOptions::default()
        }
    }

    fn failpoint(&self, at: Failpoint) -> bool {
        let Some((fp, action)) = self.config.failpoint else {
            return false;
        };
        if fp != at {
            return false;
        }
        match action {
            FailpointAction::Abort => {
                eprintln!("iplos-harness receiver: failpoint {at:?}: aborting the process");
                std::process::abort();
            }
            FailpointAction::Stop => {
                tracing::warn!(?at, "failpoint: the receiver stops as if the process died");
                let _ = self.crashed.send(Some(at));
                true
            }
        }
    }
}

/// Publishes owed replies (at start): exactly once each, thanks to the armed insert.
pub(crate) async fn recover(shared: &Arc<Shared>) -> Result<usize, ReceiverError> {
    let queues: Vec<String> = shared
        .config
        .her_ids
        .iter()
        .map(|h| QueueKind::Async.queue_name(*h))
        .collect();
    let store = shared.store.clone();
    let pending = blocking(move || Ok(store.pending_replies(&queues)?)).await?;
    let n = pending.len();
    for p in pending {
        publish_reply(
            shared,
            p.delivery,
            &p.queue,
            &p.reply_message_id,
            &p.reply,
            false,
        )
        .await?;
    }
    if n > 0 {
        tracing::info!(replies = n, "receiver recovery: owed replies sent");
    }
    Ok(n)
}

/// `mark_settled`: the delivery's settlement is recorded first (in the same trip to the
/// store), unless the broker's store did already.
async fn publish_reply(
    shared: &Arc<Shared>,
    delivery: i64,
    queue: &str,
    reply_id: &str,
    bytes: &[u8],
    mark_settled: bool,
) -> Result<(), ReceiverError> {
    let message = decode_message(bytes)?;
    let store = shared.store.clone();
    {
        let store = store.clone();
        let replied = blocking(move || {
            Ok(if mark_settled {
                store.mark_settled_is_replied(delivery)?
            } else {
                store.is_replied(delivery)?
            })
        })
        .await?;
        if replied {
            return Ok(());
        }
    }
    store.arm_reply(queue, delivery, reply_id);
    let result = shared.bus.publish(queue, &message).await;
    store.disarm_reply(queue, delivery);
    result?;
    blocking(move || Ok(store.mark_replied(delivery)?)).await?;
    Ok(())
}

/// Messages of one register queue between two steps of its pipeline (see [`consume`]).
const STEP_QUEUE: usize = 4;

/// The most verdicts the settle step stores in one transaction.
const SETTLE_BATCH: usize = 16;

/// The consumer of one register queue: a pipeline of four steps, each taking the
/// deliveries in arrival order, so that the kommuner's chains see their messages in order
/// while the CMS work runs on every core:
///
/// 1. **intake** takes a delivery, stores it (*received*) and starts its CMS decryption,
///    signature check and MsgHead reading on a blocking thread ([`judge::prepare_attempt`]);
/// 2. **chain** takes the prepared messages in arrival order, checks each against its
///    kommune's chain ([`judge::check`], one after the other) and starts the AppRec's
///    signing and encryption on a blocking thread ([`judge::finish`]);
/// 3. **settle** takes the judged messages in arrival order, stores the verdicts
///    (*checked*) of those that are ready in one transaction, then settles their
///    deliveries one after the other (a verdict is durable before its delivery is settled);
/// 4. **reply** publishes the settled messages' replies in arrival order, while the settle
///    step goes on with the next ones.
///
/// Up to about `4 × STEP_QUEUE` deliveries are in hand at once. The run store's
/// bookkeeping is unchanged: a message is *checked* only after every earlier message of the
/// queue is, so a crash leaves the checked messages a prefix of the queue's arrival order
/// and the chains rebuilt from the store are the ones the next message was judged against.
/// If storing a verdict fails (the chains in memory are then ahead of the store), the
/// pipeline stops, every delivery in hand goes back to the queue, the register's chains are
/// rebuilt from the store and the pipeline starts again.
pub(crate) async fn consume(shared: Arc<Shared>, own: HerId, shutdown: watch::Receiver<bool>) {
    let queue = QueueKind::Async.queue_name(own);
    let mut consumer = match shared.bus.consumer(&queue) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%queue, error = %e, "receiver cannot consume");
            return;
        }
    };
    loop {
        let pipe = Arc::new(Pipe {
            shared: shared.clone(),
            own,
            queue: queue.clone(),
            crashed: AtomicBool::new(false),
            rows: Mutex::new(HashSet::new()),
            unrecorded: Mutex::new(HashMap::new()),
            done: Notify::new(),
        });
        match pipe.run(&mut consumer, shutdown.clone()).await {
            End::Shutdown => break,
            End::Crashed => return,
            End::Failed => {
                // The chains in memory may be ahead of the store: rebuilt from it.
                shared
                    .chains
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|(o, _), _| *o != own.get());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    tracing::debug!(%queue, "receiver consumer stopped");
}

/// How a pipeline (or one of its steps) ended; the worst of the steps' ends is the
/// pipeline's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// Shut down (or the next step is gone).
    Shutdown,
    /// A step failed in a way that leaves the chains in memory ahead of the store.
    Failed,
    /// A failpoint stopped the receiver as if the process died.
    Crashed,
}

/// One run of the pipeline of a register queue.
struct Pipe {
    shared: Arc<Shared>,
    own: HerId,
    queue: String,
    /// A failpoint fired: deliveries in hand are forgotten, not released (as in a crash).
    crashed: AtomicBool,
    /// The message rows in hand (a second delivery of one waits until the first is done).
    rows: Mutex<HashSet<i64>>,
    /// (sender, MsgHead MsgId) of messages past the chain step whose verdict is not stored
    /// yet: a resend of one of them waits for it (it is answered with its AppRec).
    unrecorded: Mutex<HashMap<(u32, String), usize>>,
    /// A delivery left the pipeline, or a verdict was stored.
    done: Notify,
}

/// A delivery in the pipeline. Dropped before it is settled, it goes back to the queue (or
/// is forgotten after a crash failpoint).
struct InFlight {
    pipe: Arc<Pipe>,
    delivery: Option<Delivery>,
    message: Arc<AmqpMessage>,
    message_id: Option<String>,
    message_row: i64,
    delivery_row: i64,
    /// An injected delay of the reply.
    delay: Option<Duration>,
    /// Its entry in [`Pipe::unrecorded`].
    msg_key: Option<(u32, String)>,
}

impl InFlight {
    /// The verdict is stored: a resend of its MsgId finds it now.
    fn recorded(&mut self) {
        if let Some(key) = self.msg_key.take() {
            self.pipe.forget_unrecorded(&key);
        }
        self.pipe.done.notify_waiters();
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(key) = self.msg_key.take() {
            self.pipe.forget_unrecorded(&key);
        }
        lock(&self.pipe.rows).remove(&self.message_row);
        if let Some(d) = self.delivery.take()
            && self.pipe.crashed.load(Ordering::SeqCst)
        {
            std::mem::forget(d);
        }
        self.pipe.done.notify_waiters();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the chain step does with a delivery: judge it (the prepare step running), or
/// nothing (known and checked already: a duplicate or a redelivery).
struct Work {
    prepared: JoinHandle<judge::Prepared>,
    injection: Option<Injection>,
    now: DateTime<Utc>,
    /// The broker's queues when the message was taken (where replies may go).
    queues: Arc<HashSet<String>>,
}

struct Step1 {
    item: InFlight,
    work: Option<Work>,
}

struct Step2 {
    item: InFlight,
    judged: Option<JoinHandle<Judged>>,
}

/// A settled delivery whose reply is to be published.
struct Step3 {
    item: InFlight,
    decision: Decision,
    withheld: bool,
}

/// What the intake found in the store for a delivery.
enum Intake {
    /// Another delivery of the same message is in hand: wait for it.
    Busy(i64),
    Stored {
        message_row: i64,
        delivery_row: i64,
        /// Judging attempts (with this one), when it is to be judged.
        judge_now: Option<u32>,
        injection: Option<Injection>,
        new: bool,
    },
}

impl Pipe {
    async fn run(
        self: &Arc<Self>,
        consumer: &mut Consumer,
        shutdown: watch::Receiver<bool>,
    ) -> End {
        let (tx1, rx1) = mpsc::channel(STEP_QUEUE);
        let (tx2, rx2) = mpsc::channel(STEP_QUEUE);
        let (tx3, rx3) = mpsc::channel(STEP_QUEUE);
        let (a, b, c, d) = tokio::join!(
            self.intake_step(consumer, shutdown, tx1),
            self.chain_step(rx1, tx2),
            self.settle_step(rx2, tx3),
            self.reply_step(rx3),
        );
        a.max(b).max(c).max(d)
    }

    fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// A failpoint at `at`: true when the receiver stops here as if the process died.
    fn crash_at(&self, at: Failpoint) -> bool {
        if self.shared.failpoint(at) {
            self.crashed.store(true, Ordering::SeqCst);
            true
        } else {
            false
        }
    }

    fn forget_unrecorded(&self, key: &(u32, String)) {
        let mut u = lock(&self.unrecorded);
        if let Some(n) = u.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                u.remove(key);
            }
        }
    }

    /// Step 1: take deliveries, store them, start their preparation.
    async fn intake_step(
        self: &Arc<Self>,
        consumer: &mut Consumer,
        mut shutdown: watch::Receiver<bool>,
        tx: mpsc::Sender<Step1>,
    ) -> End {
        loop {
            if *shutdown.borrow() || self.crashed() {
                return End::Shutdown;
            }
            let delivery = tokio::select! {
                biased;
                _ = shutdown.changed() => return End::Shutdown,
                _ = tx.closed() => return End::Shutdown,
                d = consumer.next() => d,
            };
            let delivery = match delivery {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(queue = %self.queue, error = %e, "receiver: could not take a message");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            match self.intake(delivery, &tx).await {
                Ok(Some(step)) => {
                    if tx.send(step).await.is_err() {
                        return End::Shutdown;
                    }
                }
                Ok(None) => return End::Shutdown,
                Err(IntakeError::Crashed) => return End::Crashed,
                Err(IntakeError::Failed(e)) => {
                    // The delivery went back to the queue (its head: it comes next), and the
                    // store knows how far it got.
                    tracing::error!(queue = %self.queue, error = %e, "receiver: storing a message failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Stores one delivery (*received*) and starts its preparation; `None` when the
    /// pipeline stops meanwhile.
    async fn intake(
        self: &Arc<Self>,
        delivery: Delivery,
        tx: &mpsc::Sender<Step1>,
    ) -> Result<Option<Step1>, IntakeError> {
        let shared = &self.shared;
        let own = self.own;
        // One copy of the message, shared by the blocking steps (a message may be 100 MB).
        let message: Arc<AmqpMessage> = Arc::new(delivery.message().clone());
        let message_id = nhn::message_id(&message);
        let from = normalised_her(nhn::app_prop_text(&message, nhn::FROM_HER_ID));
        let to = normalised_her(nhn::app_prop_text(&message, nhn::TO_HER_ID));
        let encoded = {
            let message = Arc::clone(&message);
            match blocking(move || Ok(Arc::new(encode_message(&message)?))).await {
                Ok(e) => e,
                Err(e) => {
                    let _ = delivery.release().await;
                    return Err(IntakeError::Failed(e));
                }
            }
        };
        let intake = loop {
            let store = shared.store.clone();
            let injector = shared.config.injector.clone();
            let pipe = self.clone();
            let (queue, message_id, from, to, encoded) = (
                self.queue.clone(),
                message_id.clone(),
                from.clone(),
                to.clone(),
                encoded.clone(),
            );
            let found = blocking(move || {
                let key = message_key(message_id.as_deref(), &encoded);
                Ok(match store.find(&queue, &key)? {
                    None => {
                        let (m, d, injection) = store.insert_new_received(
                            &queue,
                            &key,
                            message_id.as_deref(),
                            from.as_deref(),
                            to.as_deref(),
                            &encoded,
                            injector.as_deref(),
                            own,
                        )?;
                        Intake::Stored {
                            message_row: m,
                            delivery_row: d,
                            judge_now: Some(1),
                            injection,
                            new: true,
                        }
                    }
                    Some(k) if lock(&pipe.rows).contains(&k.message) => Intake::Busy(k.message),
                    Some(k) => {
                        // A delivery never settled: the broker redelivers it after a crash.
                        // Otherwise the sender sent the message-id again: a duplicate.
                        let d = match k.unsettled_delivery {
                            Some(d) => d,
                            None => store.insert_duplicate(k.message)?,
                        };
                        let (attempts, injection) = match k.state {
                            MessageState::Checked => (None, None),
                            MessageState::Received => (
                                Some(store.bump_attempts(k.message)?),
                                // Decided at the first delivery, stored with the message.
                                store.injection(k.message)?,
                            ),
                        };
                        Intake::Stored {
                            message_row: k.message,
                            delivery_row: d,
                            judge_now: attempts,
                            injection,
                            new: false,
                        }
                    }
                })
            })
            .await;
            match found {
                Err(e) => {
                    let _ = delivery.release().await;
                    return Err(IntakeError::Failed(e));
                }
                Ok(Intake::Busy(row)) => {
                    // The same message is in hand (sent twice in a row): after it.
                    loop {
                        let notified = self.done.notified();
                        tokio::pin!(notified);
                        notified.as_mut().enable();
                        if !lock(&self.rows).contains(&row) {
                            break;
                        }
                        tokio::select! {
                            _ = notified => {}
                            _ = tx.closed() => return Ok(None),
                        }
                    }
                }
                Ok(stored) => break stored,
            }
        };
        let Intake::Stored {
            message_row,
            delivery_row,
            judge_now,
            injection,
            new,
        } = intake
        else {
            unreachable!("the loop ends with a stored delivery");
        };
        if new && let Some(i) = &injection {
            tracing::info!(queue = %self.queue, message_id = ?message_id, injection = ?i, "injected answer");
        }
        lock(&self.rows).insert(message_row);
        let delay = match &injection {
            Some(Injection::DelayReply(d)) => Some(*d),
            _ => None,
        };
        let item = InFlight {
            pipe: self.clone(),
            delivery: Some(delivery),
            message: message.clone(),
            message_id,
            message_row,
            delivery_row,
            delay,
            msg_key: None,
        };
        if self.crash_at(Failpoint::AfterStore) {
            drop(item);
            return Err(IntakeError::Crashed);
        }
        let work = judge_now.map(|attempts| {
            let now = shared.config.clock.now();
            let queues: Arc<HashSet<String>> = Arc::new(shared.bus.queues().into_iter().collect());
            let prepared = {
                let shared = shared.clone();
                let injection = injection.clone();
                let queues = queues.clone();
                tokio::task::spawn_blocking(move || {
                    with_ctx(&shared, own, now, &queues, |ctx| {
                        judge::prepare_attempt(&message, ctx, injection.as_ref(), attempts)
                    })
                })
            };
            Work {
                prepared,
                injection,
                now,
                queues,
            }
        });
        Ok(Some(Step1 { item, work }))
    }

    /// Step 2: each prepared message against its kommune's chain, in arrival order; the
    /// AppRec's signing and encryption started.
    async fn chain_step(
        self: &Arc<Self>,
        mut rx: mpsc::Receiver<Step1>,
        tx: mpsc::Sender<Step2>,
    ) -> End {
        while let Some(Step1 { mut item, work }) = rx.recv().await {
            if self.crashed() {
                return End::Crashed;
            }
            let judged = match work {
                None => None,
                Some(Work {
                    prepared,
                    injection,
                    now,
                    queues,
                }) => {
                    let prepared = match prepared.await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(queue = %self.queue, error = %e, "receiver: preparing a message failed");
                            return End::Failed;
                        }
                    };
                    let key = prepared
                        .msg_key()
                        .map(|(from, id)| (from.get(), id.to_string()));
                    if prepared.is_ready()
                        && let Some(key) = &key
                    {
                        // A resend of a message whose verdict is on its way to the store.
                        loop {
                            let notified = self.done.notified();
                            tokio::pin!(notified);
                            notified.as_mut().enable();
                            if !lock(&self.unrecorded).contains_key(key) {
                                break;
                            }
                            tokio::select! {
                                _ = notified => {}
                                _ = tx.closed() => return End::Shutdown,
                            }
                        }
                    }
                    let checked = {
                        let shared = self.shared.clone();
                        let (own, before) = (self.own, item.message_row);
                        let message = item.message.clone();
                        let injection = injection.clone();
                        let queues = queues.clone();
                        tokio::task::spawn_blocking(move || {
                            let mut chains = StoreChains {
                                map: shared.chains.clone(),
                                store: shared.store.clone(),
                                own,
                                before,
                                options: shared.options(),
                            };
                            with_ctx(&shared, own, now, &queues, |ctx| {
                                judge::check(
                                    &message,
                                    ctx,
                                    &mut chains,
                                    injection.as_ref(),
                                    prepared,
                                )
                            })
                        })
                        .await
                    };
                    let checked = match checked {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::error!(queue = %self.queue, error = %e, "receiver: checking a message failed");
                            return End::Failed;
                        }
                    };
                    if let Some(key) = key {
                        *lock(&self.unrecorded).entry(key.clone()).or_default() += 1;
                        item.msg_key = Some(key);
                    }
                    let shared = self.shared.clone();
                    let own = self.own;
                    let message = item.message.clone();
                    Some(tokio::task::spawn_blocking(move || {
                        with_ctx(&shared, own, now, &queues, |ctx| {
                            judge::finish(&message, ctx, injection.as_ref(), checked)
                        })
                    }))
                }
            };
            if tx.send(Step2 { item, judged }).await.is_err() {
                return End::Shutdown;
            }
        }
        End::Shutdown
    }

    /// Step 3: the judged messages' verdicts stored, in arrival order, several in one
    /// transaction (the messages whose answer is ready when the first is); then each
    /// delivery settled and handed to the reply step.
    async fn settle_step(
        self: &Arc<Self>,
        mut rx: mpsc::Receiver<Step2>,
        tx: mpsc::Sender<Step3>,
    ) -> End {
        let mut next: Option<Step2> = None;
        loop {
            let first = match next.take() {
                Some(s) => s,
                None => match rx.recv().await {
                    Some(s) => s,
                    None => return End::Shutdown,
                },
            };
            let mut batch = vec![first];
            while batch.len() < SETTLE_BATCH {
                match rx.try_recv() {
                    Ok(s) if s.judged.as_ref().is_none_or(|j| j.is_finished()) => batch.push(s),
                    Ok(s) => {
                        next = Some(s);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if self.crashed() {
                return End::Crashed;
            }
            let mut items = Vec::with_capacity(batch.len());
            let mut records = Vec::with_capacity(batch.len());
            for Step2 { item, judged } in batch {
                let record = match judged {
                    None => None,
                    Some(judged) => {
                        let judged = match judged.await {
                            Ok(j) => j,
                            Err(e) => {
                                tracing::error!(queue = %self.queue, error = %e, "receiver: answering a message failed");
                                return End::Failed;
                            }
                        };
                        log_verdict(&judged, &self.queue);
                        match checked_record(judged) {
                            Ok(r) => Some(r),
                            Err(e) => {
                                tracing::error!(queue = %self.queue, error = %e, "receiver: storing a verdict failed");
                                return End::Failed;
                            }
                        }
                    }
                };
                records.push((item.message_row, item.delivery_row, record));
                items.push(item);
            }
            // One trip to the store: the verdicts stored (one transaction) and the
            // decisions read.
            let store = self.shared.store.clone();
            let stored = blocking(move || Ok(store.record_checked_batch(&records)?)).await;
            let decided = match stored {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(queue = %self.queue, error = %e, "receiver: storing a verdict failed");
                    return End::Failed;
                }
            };
            for item in &mut items {
                item.recorded();
            }
            if self.crash_at(Failpoint::AfterCheck) {
                return End::Crashed;
            }
            for (mut item, (decision, withheld)) in items.into_iter().zip(decided) {
                match self.settle(&mut item, decision).await {
                    Ok(decision) => {
                        if self.crash_at(Failpoint::AfterAccept) {
                            return End::Crashed;
                        }
                        let step = Step3 {
                            item,
                            decision,
                            withheld,
                        };
                        if tx.send(step).await.is_err() {
                            return End::Shutdown;
                        }
                    }
                    Err(e) => {
                        // The delivery goes back to the queue unsettled, and the store knows
                        // how far it got (checked: it is not judged again).
                        tracing::error!(queue = %self.queue, error = %e, "receiver: handling a message failed");
                        drop(item);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }

    /// The delivery of a checked message settled (accepted, or dead-lettered).
    async fn settle(
        &self,
        item: &mut InFlight,
        decision: Option<Decision>,
    ) -> Result<Decision, ReceiverError> {
        let shared = &self.shared;
        let queue = self.queue.as_str();
        let decision = decision
            .ok_or_else(|| ReceiverError::Internal("a judged message has no decision".into()))?;
        let Some(delivery) = item.delivery.take() else {
            return Err(ReceiverError::Internal("a delivery settled twice".into()));
        };
        // settled: the broker delivery is accepted (or dead-lettered), with the record of it.
        shared
            .store
            .arm_settle(queue, item.delivery_row, item.message_id.as_deref());
        let settled = match &decision {
            Decision::DeadLetter(reason) => delivery.reject(reason).await,
            Decision::Reply { .. } => delivery.accept().await,
        };
        shared.store.disarm_settle(queue);
        settled?;
        Ok(decision)
    }

    /// Step 4: the replies of the settled messages published, in arrival order (while the
    /// settle step settles the next ones).
    async fn reply_step(self: &Arc<Self>, mut rx: mpsc::Receiver<Step3>) -> End {
        while let Some(step) = rx.recv().await {
            if self.crashed() {
                return End::Crashed;
            }
            if let Err(e) = self.reply(step).await {
                // The reply stays owed (sent at the next start).
                tracing::error!(queue = %self.queue, error = %e, "receiver: handling a message failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        End::Shutdown
    }

    /// The settlement recorded (when the broker's store did not) and the reply published.
    async fn reply(&self, step: Step3) -> Result<(), ReceiverError> {
        let Step3 {
            item,
            decision,
            withheld,
        } = step;
        let shared = &self.shared;
        let queue = self.queue.as_str();
        let delivery_row = item.delivery_row;
        // replied: the reply is in the sender's queue, with the record of it.
        let (reply_queue, reply_message_id, reply) = match decision {
            Decision::Reply {
                queue,
                reply_message_id,
                reply,
            } if !withheld && item.delay.is_none() => (queue, reply_message_id, reply),
            decision => {
                let store = shared.store.clone();
                let dead = matches!(decision, Decision::DeadLetter(_));
                blocking(move || Ok(store.mark_settled_decided(delivery_row, dead)?)).await?;
                let Decision::Reply {
                    queue: reply_queue,
                    reply_message_id,
                    reply,
                } = decision
                else {
                    return Ok(());
                };
                if withheld {
                    tracing::info!(%queue, message_id = ?item.message_id, "reply withheld (injected)");
                    return Ok(());
                }
                let delay = item.delay.unwrap_or_default();
                // A separate task, so that the register's queue is not held up. If the
                // receiver stops first, the reply stays owed and is sent at the next start.
                let shared = shared.clone();
                let mut shutdown = shared.shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                    if let Err(e) = publish_with_retries(
                        &shared,
                        delivery_row,
                        &reply_queue,
                        &reply_message_id,
                        &reply,
                        false,
                    )
                    .await
                    {
                        tracing::error!(error = %e, "publishing a delayed reply failed; it stays owed");
                    }
                });
                return Ok(());
            }
        };
        publish_with_retries(
            shared,
            delivery_row,
            &reply_queue,
            &reply_message_id,
            &reply,
            true,
        )
        .await
    }
}

enum IntakeError {
    /// A failpoint stopped the receiver.
    Crashed,
    /// Storing failed; the delivery went back to the queue.
    Failed(ReceiverError),
}

/// Runs `f` with the judge's context for register `own` at time `now`.
fn with_ctx<T>(
    shared: &Shared,
    own: HerId,
    now: DateTime<Utc>,
    queues: &HashSet<String>,
    f: impl FnOnce(&Ctx<'_>) -> T,
) -> T {
    let ctx = Ctx {
        config: &shared.config,
        identity: shared.config.identity_for(&shared.identity, own),
        directory: shared.directory.as_ref(),
        queues,
        namespace: shared.bus.namespace(),
        own_her: own,
        now,
    };
    f(&ctx)
}

pub(crate) fn message_key(message_id: Option<&str>, encoded: &[u8]) -> String {
    match message_id {
        Some(id) => format!("id:{id}"),
        None => {
            let h = Sha256::digest(encoded);
            format!(
                "sha256:{}",
                h.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )
        }
    }
}

pub(crate) fn normalised_her(text: Option<String>) -> Option<String> {
    text.map(|t| match HerId::parse(t.trim()) {
        Ok(h) => h.to_string(),
        Err(_) => t,
    })
}

/// A failed publish is retried a few times; after that the reply stays owed and is sent at
/// the next start (recovery runs before the consumers, never beside them: two publishers of
/// one reply could both send it).
async fn publish_with_retries(
    shared: &Arc<Shared>,
    delivery: i64,
    queue: &str,
    reply_id: &str,
    bytes: &[u8],
    mark_settled: bool,
) -> Result<(), ReceiverError> {
    let mut wait = Duration::from_millis(100);
    for attempt in 1.. {
        match publish_reply(shared, delivery, queue, reply_id, bytes, mark_settled).await {
            Ok(()) => break,
            Err(e) if attempt < 4 => {
                tracing::warn!(error = %e, attempt, "publishing a reply failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 4;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(crate) fn log_verdict(j: &Judged, queue: &str) {
    let v = &j.verdict;
    match &v.answer {
        Answer::AppRec { status, errors } => tracing::info!(
            %queue, message_id = ?v.message_id, from = ?v.from_her, status = %status,
            errors = errors.len(), "AppRec"
        ),
        Answer::Error {
            condition,
            description,
            ..
        } => tracing::info!(
            %queue, message_id = ?v.message_id, from = ?v.from_her, %condition, %description,
            "error message"
        ),
        Answer::DeadLetter { reason } => tracing::info!(
            %queue, message_id = ?v.message_id, %reason, "dead letter"
        ),
    }
}

pub(crate) fn checked_record(j: Judged) -> Result<CheckedRecord, ReceiverError> {
    let verdict = serde_json::to_string(&j.verdict)
        .map_err(|e| ReceiverError::Internal(format!("verdict to JSON: {e}")))?;
    let (status, error_condition) = match &j.verdict.answer {
        Answer::AppRec { status, .. } => (Some(status.clone()), None),
        Answer::Error { condition, .. } => (None, Some(*condition)),
        Answer::DeadLetter { .. } => (None, None),
    };
    let (reply, dead_reason) = match j.reply {
        Reply::Send {
            queue,
            message_id,
            message,
        } => (
            Some(StoredReply {
                queue,
                message_id,
                message: encode_message(&message)?,
            }),
            None,
        ),
        Reply::DeadLetter(reason) => (None, Some(reason)),
    };
    Ok(CheckedRecord {
        outcome: j.verdict.answer.outcome(),
        status,
        error_condition,
        stage: j.verdict.stage,
        verdict,
        content: j.content,
        replay: j.replay,
        replay_document: j.replay_document,
        dead_reason,
        reply,
    })
}

/// Starts the tasks.
pub(crate) fn spawn(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    shared
        .config
        .her_ids
        .iter()
        .map(|h| tokio::spawn(consume(shared.clone(), *h, shutdown.clone())))
        .collect()
}
