//! The receiver's tasks: one consumer per register queue, the state machine of each
//! delivery, and the recovery of owed replies at start.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iplos_model::ids::HerId;
use iplos_model::message::read_msghead;
use iplos_model::rules::{CheckOptions, ContentState, check_stream};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
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
use crate::servicebus::{AmqpMessage, Bus, Delivery, QueueKind, decode_message, encode_message};

pub(crate) type ChainMap = Arc<Mutex<HashMap<(u32, u32), ContentState>>>;

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
        publish_reply(shared, p.delivery, &p.queue, &p.reply_message_id, &p.reply).await?;
    }
    if n > 0 {
        tracing::info!(replies = n, "receiver recovery: owed replies sent");
    }
    Ok(n)
}

async fn publish_reply(
    shared: &Arc<Shared>,
    delivery: i64,
    queue: &str,
    reply_id: &str,
    bytes: &[u8],
) -> Result<(), ReceiverError> {
    let message = decode_message(bytes)?;
    let store = shared.store.clone();
    {
        let store = store.clone();
        if blocking(move || Ok(store.is_replied(delivery)?)).await? {
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

/// The consumer of one register queue.
pub(crate) async fn consume(shared: Arc<Shared>, own: HerId, mut shutdown: watch::Receiver<bool>) {
    let queue = QueueKind::Async.queue_name(own);
    let mut consumer = match shared.bus.consumer(&queue) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%queue, error = %e, "receiver cannot consume");
            return;
        }
    };
    loop {
        if *shutdown.borrow() {
            break;
        }
        let delivery = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            d = consumer.next() => d,
        };
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(%queue, error = %e, "receiver: could not take a message");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        match handle(&shared, own, &queue, delivery).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Crashed) => return,
            Err(e) => {
                // The delivery was dropped unsettled (released): it comes back, and the
                // store knows how far it got.
                tracing::error!(%queue, error = %e, "receiver: handling a message failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    tracing::debug!(%queue, "receiver consumer stopped");
}

enum Flow {
    Continue,
    Crashed,
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

async fn handle(
    shared: &Arc<Shared>,
    own: HerId,
    queue: &str,
    delivery: Delivery,
) -> Result<Flow, ReceiverError> {
    // One copy of the message, shared by the blocking steps (a message may be 100 MB).
    let message: Arc<AmqpMessage> = Arc::new(delivery.message().clone());
    let message_id = nhn::message_id(&message);
    let from = normalised_her(nhn::app_prop_text(&message, nhn::FROM_HER_ID));
    let to = normalised_her(nhn::app_prop_text(&message, nhn::TO_HER_ID));
    let store = shared.store.clone();
    let injector = shared.config.injector.clone();

    // received: the message and this delivery are in the store.
    let (message_row, delivery_row, judge_now, injection) = {
        let (queue, message_id, message) =
            (queue.to_string(), message_id.clone(), Arc::clone(&message));
        blocking(move || {
            let encoded = encode_message(&message)?;
            let key = message_key(message_id.as_deref(), &encoded);
            Ok(match store.find(&queue, &key)? {
                None => {
                    let injection = injector.and_then(|i| {
                        let from = from.as_deref().and_then(|f| HerId::parse(f).ok());
                        i.inject(own, from, message_id.as_deref())
                    });
                    let (m, d) = store.insert_received_injected(
                        &queue,
                        &key,
                        message_id.as_deref(),
                        from.as_deref(),
                        to.as_deref(),
                        &encoded,
                        injection.as_ref(),
                    )?;
                    (m, d, Some(1), injection)
                }
                Some(k) => {
                    // A delivery never settled: the broker redelivers it after a crash.
                    // Otherwise the sender sent the message-id again: a duplicate.
                    let d = match k.unsettled_delivery {
                        Some(d) => d,
                        None => store.insert_duplicate(k.message)?,
                    };
                    let attempts = match k.state {
                        MessageState::Checked => None,
                        MessageState::Received => Some(store.bump_attempts(k.message)?),
                    };
                    (k.message, d, attempts, None)
                }
            })
        })
        .await?
    };
    if let Some(i) = &injection {
        tracing::info!(%queue, message_id = ?message_id, injection = ?i, "injected answer");
    }
    if shared.failpoint(Failpoint::AfterStore) {
        std::mem::forget(delivery);
        return Ok(Flow::Crashed);
    }

    // checked: verdict and reply are in the store.
    let mut delay = None;
    if let Some(attempts) = judge_now {
        // The injection decided at the first delivery (stored with the message: also for a
        // redelivery after an interrupted judging).
        let injection = match injection {
            Some(i) => Some(i),
            None => {
                let store = shared.store.clone();
                blocking(move || Ok(store.injection(message_row)?)).await?
            }
        };
        if let Some(Injection::DelayReply(d)) = &injection {
            delay = Some(*d);
        }
        let judged = {
            let shared2 = shared.clone();
            let message = Arc::clone(&message);
            blocking(move || {
                let queues: HashSet<String> = shared2.bus.queues().into_iter().collect();
                let ctx = Ctx {
                    config: &shared2.config,
                    identity: shared2.config.identity_for(&shared2.identity, own),
                    directory: shared2.directory.as_ref(),
                    queues: &queues,
                    namespace: shared2.bus.namespace(),
                    own_her: own,
                    now: shared2.config.clock.now(),
                };
                let mut chains = StoreChains {
                    map: shared2.chains.clone(),
                    store: shared2.store.clone(),
                    own,
                    before: message_row,
                    options: shared2.options(),
                };
                Ok(judge::judge_attempt(
                    &message,
                    &ctx,
                    &mut chains,
                    injection.as_ref(),
                    attempts,
                ))
            })
            .await?
        };
        log_verdict(&judged, queue);
        let record = checked_record(judged)?;
        let store = shared.store.clone();
        blocking(move || Ok(store.record_checked(message_row, &record)?)).await?;
    }
    if shared.failpoint(Failpoint::AfterCheck) {
        std::mem::forget(delivery);
        return Ok(Flow::Crashed);
    }

    // settled: the broker delivery is accepted (or dead-lettered), with the record of it.
    let store = shared.store.clone();
    let decision = blocking(move || Ok(store.decision(message_row)?))
        .await?
        .ok_or_else(|| ReceiverError::Internal("a judged message has no decision".into()))?;
    shared
        .store
        .arm_settle(queue, delivery_row, message_id.as_deref());
    let settled = match &decision {
        Decision::DeadLetter(reason) => delivery.reject(reason).await,
        Decision::Reply { .. } => delivery.accept().await,
    };
    shared.store.disarm_settle(queue);
    settled?;
    let store = shared.store.clone();
    let dead = matches!(decision, Decision::DeadLetter(_));
    blocking(move || {
        store.mark_settled(delivery_row)?;
        if dead {
            store.mark_replied(delivery_row)?;
        }
        Ok(())
    })
    .await?;
    if shared.failpoint(Failpoint::AfterAccept) {
        return Ok(Flow::Crashed);
    }

    // replied: the reply is in the sender's queue, with the record of it.
    if let Decision::Reply {
        queue: reply_queue,
        reply_message_id,
        reply,
    } = decision
    {
        let store = shared.store.clone();
        if blocking(move || Ok(store.is_withheld(delivery_row)?)).await? {
            tracing::info!(%queue, message_id = ?message_id, "reply withheld (injected)");
            return Ok(Flow::Continue);
        }
        if let Some(delay) = delay {
            // A separate task, so that the register's queue is not held up. If the receiver
            // stops first, the reply stays owed and is sent at the next start.
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
                )
                .await
                {
                    tracing::error!(error = %e, "publishing a delayed reply failed; it stays owed");
                }
            });
            return Ok(Flow::Continue);
        }
        publish_with_retries(
            shared,
            delivery_row,
            &reply_queue,
            &reply_message_id,
            &reply,
        )
        .await?;
    }
    Ok(Flow::Continue)
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
) -> Result<(), ReceiverError> {
    let mut wait = Duration::from_millis(100);
    for attempt in 1.. {
        match publish_reply(shared, delivery, queue, reply_id, bytes).await {
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
