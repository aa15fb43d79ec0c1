//! NHN's service bus as an AMQP 1.0 broker that a vendor's unmodified client can talk to.
//!
//! NHN runs RabbitMQ with its AMQP 1.0 plugin. This broker answers the way it does for what
//! an IPLOS sender uses (DOMAIN.md §4):
//!
//! - **Queues per HER-id**, made from the configured [`Participant`]s: `<herid>_async`,
//!   `<herid>_sync`, `<herid>_error`, `<herid>_dl` (dead letter) and `<herid>_syncreply`.
//! - **Addresses** (RabbitMQ's v1 forms): a sending link's target
//!   `/exchange/<namespace>/<queue>` (also `/amq/queue/<queue>`, `/queue/<queue>` and a bare
//!   queue name); a receiving link's source `/amq/queue/<queue>` (also `/queue/<queue>` and a
//!   bare name). An unknown queue or exchange: the attach is refused with `amqp:not-found`
//!   and a description naming it; a transaction coordinator, dynamic or anonymous terminus
//!   with `amqp:not-implemented`.
//! - **SASL PLAIN** against the participants' user table; a wrong password, an unknown user,
//!   ANONYMOUS or any other mechanism fails SASL with code `auth` (clients report
//!   `amqp:unauthorized-access`).
//! - **Authorization** (a modelling choice, marked \[model\] in DOMAIN.md): a participant may send to any queue, but receive only from
//!   the queues of its own HER-id; any other source is refused with
//!   `amqp:unauthorized-access`.
//! - **Durability**: a producer's delivery is settled (Accepted) only after the message is
//!   in the store ([`SqliteStore`] in the state directory; in memory without one). Pre-settled
//!   sends are stored too. Everything except in-memory leases survives a restart. Writes are
//!   **group commits** \[model\]: one writer task commits everything that arrived while
//!   the previous commit ran in one transaction (see [`MessageStore::commit_batch`]); the
//!   transfers of one producer link are handed to it in the link's order, so a queue keeps
//!   each link's order, and several transfers of a link are stored at once (up to 64).
//! - **Consumers, at least once**: a message is deleted when a consumer accepts it, in the
//!   writer's next group commit (typically within a millisecond). The broker guarantees
//!   \[model\]: an accept whose delete was committed never brings the message back; an
//!   accept that reached the broker but whose delete was not committed when the broker
//!   process died is lost with it, and the message is delivered again after the restart
//!   (with the delivery count it had: the loss is not the consumer's failure). This is
//!   at least once, as AMQP's settled-at-the-receiver accept and RabbitMQ (which also
//!   applies acks asynchronously) give; the in-process [`Delivery::accept`] returns only
//!   after the commit, and the national receiver records its settlement in that same
//!   transaction (see `receiver`). Released,
//!   modified, or lost with the consumer's link or connection: back to the head of the queue
//!   with its delivery count (the header's `delivery-count`) one higher. At
//!   [`BrokerConfig::max_deliveries`] (10) failed deliveries it goes to `<herid>_dl`.
//!   Rejected: to `<herid>_dl` at once ([`RejectPolicy::DeadLetter`], what RabbitMQ does with
//!   a dead-letter exchange) or counted as a failed delivery ([`RejectPolicy::Retry`]).
//!   A dead letter carries message annotations [`ANNOTATION_DEAD_LETTER_REASON`]
//!   (`rejected`, `delivery-limit`, `expired`), [`ANNOTATION_DEAD_LETTER_DESCRIPTION`],
//!   [`ANNOTATION_DEAD_LETTER_QUEUE`] and [`ANNOTATION_DEAD_LETTER_TIME`]. A message rejected
//!   from a `_dl` queue is dropped; the delivery limit does not apply there.
//! - **TTL**: the header's `ttl`, or [`BrokerConfig::default_ttl`]. An expired message goes to
//!   `<herid>_dl` with reason `expired` (RabbitMQ drops it unless a dead-letter exchange is
//!   configured; we keep it visible). Expiry is checked when a message reaches the head of
//!   its queue and by a periodic sweep on the configured [`Clock`].
//! - **Limits** ([`Limits`]): connections (the extra one is opened and closed at once with
//!   `amqp:resource-limit-exceeded`), sessions per connection (channel-max), links per
//!   connection (the extra attach is refused with `amqp:resource-limit-exceeded`), message
//!   size (advertised as the link's max-message-size; a bigger delivery detaches the link with
//!   `amqp:link:message-size-exceeded` as soon as the frames received pass the limit),
//!   idle timeout, and a handshake timeout for a client that never says anything.
//! - **TLS** (optional, rustls): TLS straight away on connect (`amqps://`, what Proton and
//!   .NET clients do) or after the AMQP TLS protocol header.
//! - **Fault injection** (optional, [`BrokerConfig::with_faults`]): unavailability, refused
//!   logins, a connection cut after a message was stored and before its disposition,
//!   delayed dispositions, and a log of what each connection did ([`BrokerFaults`],
//!   [`ConnEvent`]). Without it nothing is recorded and nothing is wrapped.
//!
//! - **Bad input**: garbage instead of a protocol header gets the header the broker wants
//!   and a close of the socket; a client silent through TLS, SASL and open is dropped after
//!   [`Limits::handshake_timeout`], one silent after open after [`Limits::idle_timeout`]. A
//!   frame that cannot be decoded after open ends the connection; fe2o3-amqp's connection
//!   engine drops the socket then without sending a close frame (a known difference from
//!   RabbitMQ, which sends `amqp:decode-error`/`amqp:framing-error`).
//! - **Restart**: a message leased to a consumer when the broker stopped is redelivered with
//!   the delivery count it had (a lease lost with the broker is not counted as a failure).
//!
//! The receiver (the national side) uses the same queues in-process through [`Bus`].
//!
//! **Consumer links** \[model\]: a link keeps up to 64 deliveries unsettled at once (within
//! the client's credit: each transfer waits for credit) and acts on each outcome as it
//! arrives, as RabbitMQ does with a prefetch. It takes up to 16 waiting messages off the
//! queue at a time, loaded together (from the body cache of recently stored messages, else
//! in one read of the store). A consequence, the same as with RabbitMQ's prefetch: a
//! released message goes back to the head of the queue, but messages already sent to the
//! consumer come before it.
//!
//! Limits of this implementation: the server side of fe2o3-amqp does not expose a link's
//! credit, so a link takes messages off the queue before it knows the client has credit
//! for them: a link that never grants credit holds up to 16 messages until it detaches
//! (they go back to the queue, uncounted), and several consumers of one queue may get
//! uneven shares.
//!
//! Notes for clients written against it: the broker turns Nagle's algorithm off on its
//! sockets; a client that does not (fe2o3-amqp's `Connection::open` does not) pays a
//! delayed-ACK wait on many small exchanges, e.g. ~40 ms per refused link in a flood.

mod address;
mod core;
mod faults;
mod sasl;
mod server;
pub mod store;
mod tls;
mod types;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iplos_model::calendar::{Clock, SystemClock};
use iplos_model::ids::HerId;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::address::{AddressError, QueueKind, parse_queue_name, source_queue, target_queue};
pub use self::core::{
    ANNOTATION_DEAD_LETTER_DESCRIPTION, ANNOTATION_DEAD_LETTER_QUEUE,
    ANNOTATION_DEAD_LETTER_REASON, ANNOTATION_DEAD_LETTER_TIME, AmqpMessage, decode_message,
    encode_message,
};
pub(crate) use self::faults::ConnTrack;
pub use self::faults::{BrokerFaults, ConnEvent, ConnEventKind, MAX_EVENTS};
pub(crate) use self::server::{closed_while_unavailable, shutdown_requested, tls_handshake};
pub use self::store::{MessageStore, NoHook, SqliteStore, StoreError, StoreHook};
pub use self::tls::TlsConfig;
pub use self::types::{BusError, Limits, Participant, RejectPolicy};
/// The AMQP 1.0 types (messages, sections, values) the in-process API speaks.
pub use fe2o3_amqp_types as amqp_types;

use self::core::{Core, CoreSettings, Failure, Lease, Settlement};

/// The namespace (RabbitMQ exchange) of NHN's test service bus.
pub const DEFAULT_NAMESPACE: &str = "NHNTESTServiceBus";
/// The file the broker keeps its store in, inside [`BrokerConfig::state_dir`].
pub const STORE_FILE: &str = "servicebus.sqlite";

/// Everything the broker is started from. [`BrokerConfig::new`] gives loopback, port 0,
/// namespace [`DEFAULT_NAMESPACE`], an in-memory store and default [`Limits`]; the `with_`
/// methods change one thing each.
#[derive(Clone)]
pub struct BrokerConfig {
    /// Where to listen. Default `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// The namespace: the exchange in `/exchange/<namespace>/<queue>`.
    pub namespace: String,
    /// HER-ids and their credentials.
    pub participants: Vec<Participant>,
    /// Directory of the store file [`STORE_FILE`]; `None`: in memory (lost on drop).
    pub state_dir: Option<PathBuf>,
    /// A store to use instead of the one in `state_dir` (e.g. the receiver's run store: a
    /// [`SqliteStore`] with the receiver's [`StoreHook`]).
    pub store: Option<Arc<dyn MessageStore>>,
    /// TLS; `None`: plain AMQP.
    pub tls: Option<TlsConfig>,
    /// Protective limits.
    pub limits: Limits,
    /// Failed deliveries after which a message is dead-lettered. Default 10.
    pub max_deliveries: u32,
    /// What Rejected does.
    pub reject_policy: RejectPolicy,
    /// TTL of messages whose header has none; `None`: they never expire.
    pub default_ttl: Option<Duration>,
    /// How often expired messages are swept to `_dl`; `None`: only when they reach the head.
    pub expiry_sweep_interval: Option<Duration>,
    /// The clock for TTLs and timestamps.
    pub clock: Arc<dyn Clock>,
    /// The container-id the broker gives in its open frame.
    pub container_id: String,
    /// Fault injection and connection events (certification sessions); `None`: none, and
    /// nothing is recorded.
    pub faults: Option<BrokerFaults>,
}

impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("bind", &self.bind)
            .field("namespace", &self.namespace)
            .field("participants", &self.participants.len())
            .field("state_dir", &self.state_dir)
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .field("max_deliveries", &self.max_deliveries)
            .field("reject_policy", &self.reject_policy)
            .field("default_ttl", &self.default_ttl)
            .finish_non_exhaustive()
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl BrokerConfig {
    /// Loopback, port 0, [`DEFAULT_NAMESPACE`], in-memory store, no participants yet.
    pub fn new() -> Self {
        BrokerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            namespace: DEFAULT_NAMESPACE.to_string(),
            participants: Vec::new(),
            state_dir: None,
            store: None,
            tls: None,
            limits: Limits::default(),
            max_deliveries: 10,
            reject_policy: RejectPolicy::default(),
            default_ttl: None,
            expiry_sweep_interval: Some(Duration::from_secs(1)),
            clock: Arc::new(SystemClock),
            container_id: "iplos-harness-servicebus".to_string(),
            faults: None,
        }
    }

    /// Adds a participant.
    pub fn with_participant(mut self, her_id: HerId, username: &str, password: &str) -> Self {
        self.participants
            .push(Participant::new(her_id, username, password));
        self
    }

    /// Sets the namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Keeps the store in `dir` (created if missing).
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Uses this store (overrides the state directory).
    pub fn with_store(mut self, store: Arc<dyn MessageStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Listens on `addr` instead of `127.0.0.1:0`.
    pub fn with_bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Requires TLS.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets what Rejected does.
    pub fn with_reject_policy(mut self, policy: RejectPolicy) -> Self {
        self.reject_policy = policy;
        self
    }

    /// Sets the delivery limit.
    pub fn with_max_deliveries(mut self, n: u32) -> Self {
        self.max_deliveries = n;
        self
    }

    /// Sets the default TTL.
    pub fn with_default_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Injects these faults and records connection events in them (see [`BrokerFaults`]).
    pub fn with_faults(mut self, faults: BrokerFaults) -> Self {
        self.faults = Some(faults);
        self
    }

    /// Starts the broker (see [`Broker::start`]).
    pub async fn start(self) -> Result<BrokerHandle, BusError> {
        Broker::start(self).await
    }
}

/// The broker.
#[derive(Debug)]
pub struct Broker;

impl Broker {
    /// Opens the store, creates the queues, binds the listener and starts serving on the
    /// current tokio runtime.
    pub async fn start(config: BrokerConfig) -> Result<BrokerHandle, BusError> {
        let mut users = HashMap::new();
        let mut queue_names = Vec::new();
        for p in &config.participants {
            if users
                .insert(p.username.clone(), (p.password.clone(), p.her_id))
                .is_some()
            {
                return Err(BusError::Config(format!(
                    "user name '{}' given twice",
                    p.username
                )));
            }
            for kind in QueueKind::ALL {
                let name = kind.queue_name(p.her_id);
                if !queue_names.contains(&name) {
                    queue_names.push(name);
                }
            }
        }
        let store: Arc<dyn MessageStore> = match (&config.store, &config.state_dir) {
            (Some(store), _) => store.clone(),
            (None, Some(dir)) => {
                std::fs::create_dir_all(dir)?;
                let path = dir.join(STORE_FILE);
                Arc::new(
                    tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                        .await
                        .map_err(|e| BusError::Internal(e.to_string()))??,
                )
            }
            (None, None) => Arc::new(SqliteStore::in_memory()?),
        };
        let settings = CoreSettings {
            namespace: config.namespace.clone(),
            queue_names,
            clock: config.clock.clone(),
            max_deliveries: config.max_deliveries,
            reject_policy: config.reject_policy,
            default_ttl: config.default_ttl,
        };
        let (core, writer) = tokio::task::spawn_blocking(move || Core::open(store, settings))
            .await
            .map_err(|e| BusError::Internal(e.to_string()))??;
        // The writer lives as long as the core (the Bus handles outlive the broker handle).
        tokio::spawn(writer);
        let core = Arc::new(core);
        let tls = match &config.tls {
            Some(tls) => Some(tls.acceptor()?),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let local_addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let ctx = Arc::new(server::ServerCtx {
            core: core.clone(),
            users: Arc::new(users),
            limits: config.limits.clone(),
            tls,
            container_id: config.container_id.clone(),
            connections: Default::default(),
            shutdown: shutdown_rx.clone(),
            faults: config.faults.clone(),
        });
        let server = tokio::spawn(server::accept_loop(listener, ctx));
        let sweeper = config.expiry_sweep_interval.map(|every| {
            let core = core.clone();
            let mut shutdown = shutdown_rx;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = server::shutdown_requested(&mut shutdown) => break,
                        _ = tick.tick() => { core.sweep_expired().await; }
                    }
                }
            })
        });
        tracing::info!(%local_addr, namespace = %config.namespace, tls = config.tls.is_some(), "service bus listening");
        Ok(BrokerHandle {
            local_addr,
            tls: config.tls.is_some(),
            bus: Bus { core },
            shutdown: shutdown_tx,
            server: Some(server),
            sweeper,
        })
    }
}

/// A running broker. Dropping it stops the broker at once (connections are cut, nothing
/// accepted is lost); [`BrokerHandle::shutdown`] stops it gracefully.
#[derive(Debug)]
pub struct BrokerHandle {
    local_addr: SocketAddr,
    tls: bool,
    bus: Bus,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    sweeper: Option<JoinHandle<()>>,
}

impl BrokerHandle {
    /// The address the broker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The port the broker listens on.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// A connection string in NHN's form, `amqp[s]://user:pass@host:port/<namespace>`
    /// (user and password are put in as given: percent-encode them first if needed).
    pub fn connection_string(&self, username: &str, password: &str) -> String {
        format!(
            "{}://{username}:{password}@{}/{}",
            if self.tls { "amqps" } else { "amqp" },
            self.local_addr,
            self.bus.core.namespace
        )
    }

    /// The in-process access to the queues (for the receiver and for tests).
    pub fn bus(&self) -> Bus {
        self.bus.clone()
    }

    /// Stops gracefully: stops accepting connections, lets in-flight deliveries settle
    /// (up to [`Limits::shutdown_grace`]), detaches links, ends sessions and closes every
    /// connection with a close frame, then waits for all of it.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(sweeper) = self.sweeper.take() {
            let _ = sweeper.await;
        }
        tracing::info!(addr = %self.local_addr, "service bus stopped");
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(sweeper) = self.sweeper.take() {
            sweeper.abort();
        }
    }
}

/// In-process access to the broker's queues: what the receiver (the national side) uses to
/// consume and publish without a socket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Bus {
    core: Arc<Core>,
}

impl Bus {
    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.core.namespace
    }

    /// Every queue, sorted.
    pub fn queues(&self) -> Vec<String> {
        self.core.queue_names()
    }

    /// Stores a message in a queue; returns once it is durable.
    pub async fn publish(&self, queue: &str, message: &AmqpMessage) -> Result<(), BusError> {
        self.core.publish(queue, message.clone()).await.map(|_| ())
    }

    /// Messages in a queue, waiting plus handed to a consumer and not settled yet.
    pub fn len(&self, queue: &str) -> Result<usize, BusError> {
        self.core.depth(queue).map(|(r, l)| r + l)
    }

    /// Messages waiting in a queue (not handed to a consumer).
    pub fn waiting(&self, queue: &str) -> Result<usize, BusError> {
        self.core.depth(queue).map(|(r, _)| r)
    }

    /// The waiting messages of a queue, head first, without consuming them.
    pub async fn browse(&self, queue: &str) -> Result<Vec<AmqpMessage>, BusError> {
        self.core.browse(queue).await
    }

    /// Moves expired messages to their `_dl` queues now; returns how many.
    pub async fn sweep_expired(&self) -> usize {
        self.core.sweep_expired().await
    }

    /// A consumer of a queue.
    pub fn consumer(&self, queue: &str) -> Result<Consumer, BusError> {
        let queue = self.core.queue_or_err(queue)?.clone();
        Ok(Consumer {
            core: self.core.clone(),
            queue,
        })
    }
}

/// An in-process consumer of one queue.
#[derive(Debug)]
pub struct Consumer {
    core: Arc<Core>,
    queue: Arc<core::Queue>,
}

impl Consumer {
    /// Waits for the next message.
    pub async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            let lease = self.core.take(&self.queue).await;
            if let Some(d) = self.deliver(lease).await? {
                return Ok(d);
            }
        }
    }

    /// The next message if one is waiting now.
    pub async fn try_next(&mut self) -> Result<Option<Delivery>, BusError> {
        while let Some(lease) = self.core.try_take(&self.queue) {
            if let Some(d) = self.deliver(lease).await? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    async fn deliver(&self, lease: Lease) -> Result<Option<Delivery>, BusError> {
        match self.core.load(&lease).await {
            Ok(Some(message)) => Ok(Some(Delivery {
                core: self.core.clone(),
                lease: Some(lease),
                message,
            })),
            Ok(None) => {
                self.core.settle(lease, Settlement::Accept).await?;
                Ok(None)
            }
            Err(e) => {
                self.core
                    .settle(lease, Settlement::Release(Failure::NotDelivered))
                    .await?;
                Err(e)
            }
        }
    }
}

/// A message handed to an in-process consumer. Settle it with [`Delivery::accept`],
/// [`Delivery::release`] or [`Delivery::reject`]; dropped unsettled, it is released (a failed
/// delivery).
#[derive(Debug)]
pub struct Delivery {
    core: Arc<Core>,
    lease: Option<Lease>,
    message: AmqpMessage,
}

impl Delivery {
    /// The message (its header's delivery-count is the number of failed deliveries before).
    pub fn message(&self) -> &AmqpMessage {
        &self.message
    }

    /// Failed deliveries of this message before this one.
    pub fn delivery_count(&self) -> u32 {
        self.lease.as_ref().map_or(0, |l| l.delivery_count)
    }

    /// The queue it came from.
    pub fn queue(&self) -> &str {
        self.lease.as_ref().map_or("", |l| l.queue.name.as_str())
    }

    /// Accepted: the message is deleted durably.
    pub async fn accept(mut self) -> Result<(), BusError> {
        match self.lease.take() {
            Some(lease) => self.core.settle(lease, Settlement::Accept).await,
            None => Ok(()),
        }
    }

    /// Released: back to the head of the queue as a failed delivery.
    pub async fn release(mut self) -> Result<(), BusError> {
        match self.lease.take() {
            Some(lease) => {
                self.core
                    .settle(lease, Settlement::Release(Failure::Failed))
                    .await
            }
            None => Ok(()),
        }
    }

    /// Rejected, with a description: handled by the [`RejectPolicy`].
    pub async fn reject(mut self, description: &str) -> Result<(), BusError> {
        match self.lease.take() {
            Some(lease) => {
                self.core
                    .settle(lease, Settlement::Reject(Some(description.to_string())))
                    .await
            }
            None => Ok(()),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            let core = self.core.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = core
                        .settle(lease, Settlement::Release(Failure::Failed))
                        .await
                    {
                        tracing::warn!(error = %e, "could not release a dropped delivery");
                    }
                });
            }
        }
    }
}
