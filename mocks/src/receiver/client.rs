//! The register's receiver as an AMQP 1.0 client of an external broker (RabbitMQ, one
//! node or a cluster): the same checks and answers as the in-process receiver, on the
//! same [`RunStore`] records, over the wire.
//!
//! One task per register HER-id logs in with that HER-id's participant login, consumes
//! `/amq/queue/<her>_async` one message at a time and publishes each reply to
//! `/exchange/<namespace>/<queue>`. The state machine is the in-process receiver's
//! (received → checked → settled → replied, see [`super`]), with one difference: the
//! broker's store is not the run store, so settling and publishing are recorded right
//! after the broker confirmed them.
//!
//! **Exactly-once on an at-least-once broker.** The run store decides by message-id: a
//! message-id already stored is never judged again. A redelivery (the connection or the
//! node died before the broker saw the accept) finds its message and is answered with the
//! *stored* reply: the same AppRec, byte for byte, with the same AMQP message-id. A
//! kommune may so see one AppRec twice, never two different AppRecs for one message.
//! Replies owed (checked, not replied: the connection died between the accept and the
//! publish) are published when the consumer has connected again, before it consumes.
//!
//! **Failover.** Given several nodes, a consumer whose connection dies connects to the next
//! node (round robin, 200 ms → 5 s back-off) and goes on; quorum queues keep the messages.
//!
//! **TLS.** With [`ClientReceiverConfig::tls`] every node is reached over TLS (`amqps`),
//! the broker's certificate verified against the CA and the node's host name.
//!
//! Limits \[model\]: no failpoints; an injected delay holds up the register's queue while
//! it lasts.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::Outcome;
use fe2o3_amqp::{Receiver as AmqpReceiver, Sender as AmqpSender, Session};
use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;
use iplos_model::ids::HerId;
use iplos_model::rules::CheckOptions;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::judge::{self, Ctx};
use super::run::{
    ChainMap, StoreChains, blocking, checked_record, log_verdict, message_key, normalised_her,
};
use super::store::{Decision, MessageState, RunStore};
use super::{CertificateDirectory, Injection, ReceiverConfig, ReceiverError};
use crate::nhn;
use crate::pki::Party;
use crate::servicebus::{AmqpMessage, QueueKind, decode_message, encode_message};

/// Where the client receiver connects and as whom.
#[derive(Clone)]
pub struct ClientReceiverConfig {
    /// The broker's nodes (host, port), tried in turn.
    pub nodes: Vec<(String, u16)>,
    /// RabbitMQ's vhost (sent as the open's hostname `vhost:<name>`), if any.
    pub vhost: Option<String>,
    /// The namespace exchange replies are published to.
    pub namespace: String,
    /// Each register HER-id's login (user, password).
    pub logins: HashMap<HerId, (String, String)>,
    /// Every queue of the run (replies go only to known queues).
    pub queues: HashSet<String>,
    /// TLS to every node (`amqps`), verifying the broker's certificate; `None`: plain TCP.
    pub tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for ClientReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientReceiverConfig")
            .field("nodes", &self.nodes)
            .field("vhost", &self.vhost)
            .field("namespace", &self.namespace)
            .field("logins", &self.logins.keys().collect::<Vec<_>>())
            .field("queues", &self.queues.len())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

struct Shared {
    client: ClientReceiverConfig,
    store: Arc<RunStore>,
    identity: Party,
    directory: Arc<dyn CertificateDirectory>,
    config: ReceiverConfig,
    chains: ChainMap,
}

/// The register's receiver as a client of an external broker.
#[derive(Debug)]
pub struct ClientReceiver;

/// A running client receiver.
#[derive(Debug)]
pub struct ClientReceiverHandle {
    store: Arc<RunStore>,
    chains: ChainMap,
    tasks: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
    reconnects: watch::Receiver<u64>,
}

impl ClientReceiver {
    /// Starts one consumer per register HER-id of `config` (each needs a login in
    /// `client.logins`) on the current tokio runtime.
    pub fn start(
        client: ClientReceiverConfig,
        store: Arc<RunStore>,
        identity: Party,
        directory: Arc<dyn CertificateDirectory>,
        config: ReceiverConfig,
    ) -> Result<ClientReceiverHandle, ReceiverError> {
        if config.her_ids.is_empty() {
            return Err(ReceiverError::Config("no register HER-id".into()));
        }
        if client.nodes.is_empty() {
            return Err(ReceiverError::Config("no broker node".into()));
        }
        for h in &config.her_ids {
            if !client.logins.contains_key(h) {
                return Err(ReceiverError::Config(format!(
                    "no broker login for the register's HER-id {h}"
                )));
            }
        }
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (reconnect_tx, reconnect_rx) = watch::channel(0u64);
        let reconnect_tx = Arc::new(reconnect_tx);
        let chains: ChainMap = Arc::new(Mutex::new(Default::default()));
        let shared = Arc::new(Shared {
            client,
            store: store.clone(),
            identity,
            directory,
            config,
            chains: chains.clone(),
        });
        let tasks = shared
            .config
            .her_ids
            .iter()
            .enumerate()
            .map(|(i, h)| {
                tokio::spawn(consume(
                    shared.clone(),
                    *h,
                    i,
                    shutdown_rx.clone(),
                    reconnect_tx.clone(),
                ))
            })
            .collect();
        Ok(ClientReceiverHandle {
            store,
            chains,
            tasks,
            shutdown: shutdown_tx,
            reconnects: reconnect_rx,
        })
    }
}

impl ClientReceiverHandle {
    /// The run store.
    pub fn store(&self) -> &Arc<RunStore> {
        &self.store
    }

    /// Forgets the content state of (register `own`, sender `from`), as
    /// [`super::ReceiverHandle::reset_content`] does.
    pub fn reset_content(&self, own: HerId, from: HerId) {
        super::run::reset_chain(&self.chains, own, from);
    }

    /// How many times a consumer connected again after losing its connection.
    pub fn reconnects(&self) -> u64 {
        *self.reconnects.borrow()
    }

    /// Stops after the message in hand; waits for the consumers.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        tracing::info!("client receiver stopped");
    }
}

impl Drop for ClientReceiverHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One live connection of a consumer, with its reply links.
struct Link {
    connection: ConnectionHandle<()>,
    session: SessionHandle<()>,
    receiver: AmqpReceiver,
    senders: HashMap<String, AmqpSender>,
}

impl Link {
    async fn open(shared: &Shared, own: HerId, node: &(String, u16)) -> Result<Link, String> {
        let (host, port) = (node.0.as_str(), node.1);
        let node = format!("{host}:{port}");
        let (user, pass) = shared.client.logins.get(&own).cloned().ok_or("no login")?;
        let mut connection = crate::rabbitmq::open_client(
            host,
            port,
            crate::rabbitmq::ClientLogin {
                container_id: format!("iplos-register-{own}"),
                vhost: shared.client.vhost.as_deref(),
                user,
                password: pass,
                tls: shared.client.tls.as_ref(),
            },
        )
        .await?;
        let mut session = Session::begin(&mut connection)
            .await
            .map_err(|e| format!("session {node}: {e:?}"))?;
        let queue = QueueKind::Async.queue_name(own);
        let receiver = AmqpReceiver::builder()
            .name(format!("iplos-register-{own}-in"))
            .source(format!("/amq/queue/{queue}"))
            .credit_mode(CreditMode::Auto(1))
            .attach(&mut session)
            .await
            .map_err(|e| format!("attach to {queue} on {node}: {e:?}"))?;
        Ok(Link {
            connection,
            session,
            receiver,
            senders: HashMap::new(),
        })
    }

    async fn publish(
        &mut self,
        namespace: &str,
        queue: &str,
        m: AmqpMessage,
    ) -> Result<(), String> {
        if !self.senders.contains_key(queue) {
            let s = AmqpSender::attach(
                &mut self.session,
                format!("iplos-register-reply-{queue}"),
                format!("/exchange/{namespace}/{queue}"),
            )
            .await
            .map_err(|e| format!("attach to {queue}: {e:?}"))?;
            self.senders.insert(queue.to_string(), s);
        }
        let sender = self.senders.get_mut(queue).ok_or("no sender")?;
        match tokio::time::timeout(Duration::from_secs(30), sender.send(m)).await {
            Ok(Ok(Outcome::Accepted(_))) => Ok(()),
            Ok(Ok(other)) => Err(format!("reply to {queue} not accepted: {other:?}")),
            Ok(Err(e)) => Err(format!("reply to {queue}: {e:?}")),
            Err(_) => Err(format!("reply to {queue}: no disposition within 30 s")),
        }
    }

    async fn close(mut self) {
        for (_, s) in self.senders.drain() {
            let _ = s.close().await;
        }
        let _ = self.receiver.close().await;
        let _ = self.session.end().await;
        let _ = self.connection.close().await;
    }
}

async fn consume(
    shared: Arc<Shared>,
    own: HerId,
    first: usize,
    mut shutdown: watch::Receiver<bool>,
    reconnects: Arc<watch::Sender<u64>>,
) {
    let nodes = shared.client.nodes.clone();
    let queue = QueueKind::Async.queue_name(own);
    let mut next = first % nodes.len();
    let mut backoff = Duration::from_millis(200);
    let mut connected_before = false;
    'outer: loop {
        if *shutdown.borrow() {
            break;
        }
        let node = &nodes[next];
        next = (next + 1) % nodes.len();
        let mut link = match Link::open(&shared, own, node).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(%queue, error = %e, "register consumer: node unavailable");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        if connected_before {
            reconnects.send_modify(|n| *n += 1);
        }
        connected_before = true;
        tracing::info!(%queue, node = %node.0, "register consumer connected");
        if let Err(e) = recover(&shared, &queue, &mut link).await {
            tracing::warn!(%queue, error = %e, "owed replies not sent yet; reconnecting");
            link.close().await;
            continue;
        }
        loop {
            let delivery = tokio::select! {
                biased;
                _ = shutdown.changed() => { link.close().await; break 'outer; }
                d = link.receiver.recv::<Body<Value>>() => d,
            };
            let delivery = match delivery {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(%queue, node = %node.0, error = ?e, "register consumer lost its link; reconnecting");
                    break;
                }
            };
            if let Err(e) = handle(&shared, own, &queue, &mut link, delivery).await {
                tracing::warn!(%queue, node = %node.0, error = %e, "handling a message failed; reconnecting (it comes back)");
                break;
            }
        }
        // The connection is gone or broken: drop it (unsettled deliveries come back).
        drop(link);
    }
}

/// Publishes every reply owed on this register queue.
async fn recover(shared: &Arc<Shared>, queue: &str, link: &mut Link) -> Result<(), String> {
    let store = shared.store.clone();
    let queues = vec![queue.to_string()];
    let pending = blocking(move || Ok(store.pending_replies(&queues)?))
        .await
        .map_err(|e| e.to_string())?;
    let n = pending.len();
    for p in pending {
        let store = shared.store.clone();
        if blocking(move || Ok(store.is_withheld(p.delivery)?))
            .await
            .map_err(|e| e.to_string())?
        {
            continue;
        }
        publish(shared, link, p.delivery, &p.queue, &p.reply).await?;
    }
    if n > 0 {
        tracing::info!(%queue, replies = n, "owed replies sent after (re)connecting");
    }
    Ok(())
}

async fn publish(
    shared: &Arc<Shared>,
    link: &mut Link,
    delivery: i64,
    queue: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let message = decode_message(bytes).map_err(|e| e.to_string())?;
    link.publish(&shared.client.namespace, queue, message)
        .await?;
    let store = shared.store.clone();
    blocking(move || Ok(store.mark_replied(delivery)?))
        .await
        .map_err(|e| e.to_string())
}

async fn handle(
    shared: &Arc<Shared>,
    own: HerId,
    queue: &str,
    link: &mut Link,
    delivery: fe2o3_amqp::link::delivery::Delivery<Body<Value>>,
) -> Result<(), String> {
    let err = |e: ReceiverError| e.to_string();
    let message: Arc<AmqpMessage> = Arc::new(delivery.message().clone());
    let message_id = nhn::message_id(&message);
    let from = normalised_her(nhn::app_prop_text(&message, nhn::FROM_HER_ID));
    let to = normalised_her(nhn::app_prop_text(&message, nhn::TO_HER_ID));

    // received
    let (message_row, delivery_row, judge_now) = {
        let store = shared.store.clone();
        let injector = shared.config.injector.clone();
        let (queue, message_id, message) =
            (queue.to_string(), message_id.clone(), Arc::clone(&message));
        blocking(move || {
            let encoded = encode_message(&message)?;
            let key = message_key(message_id.as_deref(), &encoded);
            Ok(match store.find(&queue, &key)? {
                None => {
                    let (m, d, _) = store.insert_new_received(
                        &queue,
                        &key,
                        message_id.as_deref(),
                        from.as_deref(),
                        to.as_deref(),
                        &encoded,
                        injector.as_deref(),
                        own,
                    )?;
                    (m, d, Some(1))
                }
                Some(k) => {
                    let d = match k.unsettled_delivery {
                        Some(d) => d,
                        None => store.insert_duplicate(k.message)?,
                    };
                    let attempts = match k.state {
                        MessageState::Checked => None,
                        MessageState::Received => Some(store.bump_attempts(k.message)?),
                    };
                    (k.message, d, attempts)
                }
            })
        })
        .await
        .map_err(err)?
    };

    // checked
    let mut delay = None;
    if let Some(attempts) = judge_now {
        let store = shared.store.clone();
        let injection = blocking(move || Ok(store.injection(message_row)?))
            .await
            .map_err(err)?;
        if let Some(Injection::DelayReply(d)) = &injection {
            delay = Some(*d);
        }
        let shared2 = shared.clone();
        let m = Arc::clone(&message);
        let judged = blocking(move || {
            let ctx = Ctx {
                config: &shared2.config,
                identity: shared2.config.identity_for(&shared2.identity, own),
                directory: shared2.directory.as_ref(),
                queues: &shared2.client.queues,
                namespace: &shared2.client.namespace,
                own_her: own,
                now: shared2.config.clock.now(),
            };
            let mut chains = StoreChains {
                map: shared2.chains.clone(),
                store: shared2.store.clone(),
                own,
                before: message_row,
                options: CheckOptions {
                    data_year: shared2.config.data_year,
                    test_mode: shared2.config.test_mode,
                    ..CheckOptions::default()
                },
            };
            Ok(judge::judge_attempt(
                &m,
                &ctx,
                &mut chains,
                injection.as_ref(),
                attempts,
            ))
        })
        .await
        .map_err(err)?;
        log_verdict(&judged, queue);
        let record = checked_record(judged).map_err(err)?;
        let store = shared.store.clone();
        blocking(move || Ok(store.record_checked(message_row, &record)?))
            .await
            .map_err(err)?;
    }

    // settled
    let store = shared.store.clone();
    let decision = blocking(move || Ok(store.decision(message_row)?))
        .await
        .map_err(err)?
        .ok_or("a judged message has no decision")?;
    let settled = match &decision {
        Decision::DeadLetter(reason) => {
            link.receiver
                .reject(
                    &delivery,
                    fe2o3_amqp_types::definitions::Error::new(
                        fe2o3_amqp_types::definitions::AmqpError::NotAllowed,
                        Some(reason.clone()),
                        None,
                    ),
                )
                .await
        }
        Decision::Reply { .. } => link.receiver.accept(&delivery).await,
    };
    settled.map_err(|e| format!("settling: {e:?}"))?;
    let store = shared.store.clone();
    let dead = matches!(decision, Decision::DeadLetter(_));
    blocking(move || Ok(store.mark_settled_decided(delivery_row, dead)?))
        .await
        .map_err(err)?;

    // replied
    if let Decision::Reply {
        queue: reply_queue,
        reply,
        ..
    } = decision
    {
        let store = shared.store.clone();
        if blocking(move || Ok(store.is_withheld(delivery_row)?))
            .await
            .map_err(err)?
        {
            tracing::info!(%queue, message_id = ?message_id, "reply withheld (injected)");
            return Ok(());
        }
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        publish(shared, link, delivery_row, &reply_queue, &reply).await?;
    }
    Ok(())
}
