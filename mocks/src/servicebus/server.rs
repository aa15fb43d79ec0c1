//! The network side: listener, TLS, SASL, and one task per connection, session and link.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerConnectionHandle,
    ListenerSessionHandle, SessionAcceptor,
};
use fe2o3_amqp::link::delivery::DeliveryInfo;
use fe2o3_amqp::link::{LinkStateError, RecvError};
use fe2o3_amqp::{Receiver, Sender};
use fe2o3_amqp_types::definitions::{self, AmqpError, Role};
use fe2o3_amqp_types::messaging::{Body, Outcome, TargetArchetype};
use fe2o3_amqp_types::performatives::Attach;
use fe2o3_amqp_types::primitives::{Symbol, Value};
use iplos_model::ids::HerId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::address::{parse_queue_name, source_queue, target_queue};
use super::core::{Core, Failure, Lease, Queue, Settlement};
use super::faults::{BrokerFaults, ConnEventKind, ConnTrack};
use super::sasl::{PlainUserTable, UserTable};
use super::types::{BusError, Limits};

pub(crate) struct ServerCtx {
    pub(crate) core: Arc<Core>,
    pub(crate) users: Arc<UserTable>,
    pub(crate) limits: Limits,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) container_id: String,
    pub(crate) connections: AtomicUsize,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) faults: Option<BrokerFaults>,
}

/// The authenticated user of a connection.
#[derive(Debug, Clone)]
struct Principal {
    username: String,
    her_id: HerId,
    /// The connection's observation, when faults are configured.
    track: Option<Arc<ConnTrack>>,
}

pub(crate) async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    // A dropped sender counts as a shutdown too.
    let _ = rx.wait_for(|v| *v).await;
}

async fn drain<T: 'static>(set: &mut JoinSet<T>, within: Duration) {
    let _ = timeout(within, async { while set.join_next().await.is_some() {} }).await;
    set.abort_all();
}

/// How often the accept loop looks whether the broker was made unavailable.
const UNAVAILABLE_POLL: Duration = Duration::from_millis(50);

/// While the broker is unavailable its port is closed: a client's connection is refused by
/// the operating system (a TCP reset to its SYN, `ECONNREFUSED`), as when NHN's service bus
/// is down or a firewall rejects — not accepted and then closed during TLS, which a client
/// would take for a certificate problem. Returns the listener bound again on the same
/// address when the outage is over, or `None` at shutdown.
pub(crate) async fn closed_while_unavailable(
    listener: TcpListener,
    faults: &super::BrokerFaults,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<TcpListener> {
    let addr = listener.local_addr().ok()?;
    drop(listener);
    tracing::info!(%addr, "unavailable (fault injection): the port refuses connections");
    loop {
        tokio::select! {
            biased;
            _ = shutdown_requested(shutdown) => return None,
            _ = tokio::time::sleep(UNAVAILABLE_POLL) => {}
        }
        if faults.is_unavailable() {
            continue;
        }
        match TcpListener::bind(addr).await {
            Ok(l) => {
                tracing::info!(%addr, "available again");
                return Some(l);
            }
            Err(e) => tracing::warn!(%addr, error = %e, "binding again after the outage"),
        }
    }
}

pub(crate) async fn accept_loop(mut listener: TcpListener, ctx: Arc<ServerCtx>) {
    let mut shutdown = ctx.shutdown.clone();
    let mut connections = JoinSet::new();
    loop {
        if let Some(faults) = &ctx.faults
            && faults.is_unavailable()
        {
            match closed_while_unavailable(listener, faults, &mut shutdown).await {
                Some(l) => listener = l,
                None => {
                    drain(
                        &mut connections,
                        ctx.limits.shutdown_grace + Duration::from_secs(2),
                    )
                    .await;
                    return;
                }
            }
        }
        tokio::select! {
            biased;
            _ = shutdown_requested(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = tokio::time::sleep(UNAVAILABLE_POLL), if ctx.faults.is_some() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    connections.spawn(handle_connection(tcp, peer, ctx.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    drain(
        &mut connections,
        ctx.limits.shutdown_grace + Duration::from_secs(2),
    )
    .await;
}

struct CountGuard(Arc<ServerCtx>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

const TLS_HEADER: [u8; 8] = *b"AMQP\x02\x01\x00\x00";

/// TLS straight away, or after the AMQP TLS protocol header (which is echoed).
pub(crate) async fn tls_handshake(
    mut tcp: TcpStream,
    tls: &tokio_rustls::TlsAcceptor,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
    let mut first = [0u8; 1];
    let n = tcp.peek(&mut first).await.map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("closed before TLS".into());
    }
    if first[0] == b'A' {
        let mut header = [0u8; 8];
        tcp.read_exact(&mut header)
            .await
            .map_err(|e| e.to_string())?;
        // Whatever was asked for, this listener speaks TLS: answer with the TLS header.
        tcp.write_all(&TLS_HEADER)
            .await
            .map_err(|e| e.to_string())?;
        if header != TLS_HEADER {
            return Err(format!("protocol header {header:?} on a TLS listener"));
        }
    }
    tls.accept(tcp).await.map_err(|e| format!("TLS: {e}"))
}

async fn open_amqp<Io>(
    io: Io,
    acceptor: &ConnectionAcceptor<(), PlainUserTable>,
) -> Result<ListenerConnectionHandle, String>
where
    Io: AsyncRead + AsyncWrite + std::fmt::Debug + Send + Unpin + 'static,
{
    acceptor.accept(io).await.map_err(|e| e.to_string())
}

/// Why a connection did not get to open.
enum Refused {
    Tls(String),
    Amqp(String),
}

async fn handle_connection(tcp: TcpStream, peer: SocketAddr, ctx: Arc<ServerCtx>) {
    let track = match &ctx.faults {
        Some(faults) if faults.is_unavailable() => {
            let id = faults.next_connection();
            faults.record(id, peer, ConnEventKind::RefusedUnavailable);
            tracing::info!(%peer, "connection refused: unavailable (fault injection)");
            drop(tcp);
            return;
        }
        Some(faults) => Some(faults.track(peer)),
        None => None,
    };
    let _ = tcp.set_nodelay(true);
    let open_before = ctx.connections.fetch_add(1, Ordering::SeqCst);
    let _count = CountGuard(ctx.clone());
    let over_limit = open_before >= ctx.limits.max_connections;

    let sasl = PlainUserTable::new(ctx.users.clone(), ctx.faults.clone());
    let mut builder = ConnectionAcceptor::builder()
        .container_id(ctx.container_id.clone())
        .max_frame_size(ctx.limits.max_frame_size)
        .channel_max(ctx.limits.max_sessions_per_connection.saturating_sub(1));
    if let Some(idle) = ctx.limits.idle_timeout {
        builder = builder.idle_time_out(idle.as_millis().min(u32::MAX as u128) as u32);
    }
    let acceptor = builder.sasl_acceptor(sasl.clone()).build();

    let opening = async {
        let amqp = Refused::Amqp;
        match (&ctx.tls, &track) {
            (Some(tls), None) => {
                let stream = tls_handshake(tcp, tls).await.map_err(Refused::Tls)?;
                open_amqp(stream, &acceptor).await.map_err(amqp)
            }
            (Some(tls), Some(track)) => {
                let stream = tls_handshake(tcp, tls).await.map_err(Refused::Tls)?;
                open_amqp(track.wrap(stream), &acceptor).await.map_err(amqp)
            }
            (None, None) => open_amqp(tcp, &acceptor).await.map_err(amqp),
            (None, Some(track)) => open_amqp(track.wrap(tcp), &acceptor).await.map_err(amqp),
        }
    };
    let cut = async {
        match &track {
            Some(track) => track.kill.wait().await,
            None => std::future::pending().await,
        }
    };
    let opened = tokio::select! {
        r = timeout(ctx.limits.handshake_timeout, opening) => r,
        _ = cut => return,
    };
    let mut conn = match opened {
        Ok(Ok(conn)) => conn,
        Ok(Err(refused)) => {
            let e = match refused {
                Refused::Tls(e) => {
                    if let Some(track) = &track {
                        track.record(ConnEventKind::TlsFailed { error: e.clone() });
                    }
                    e
                }
                Refused::Amqp(e) => {
                    if let Some(track) = &track {
                        let failed = sasl.refused.lock().ok().and_then(|g| g.clone());
                        if let Some(username) = failed {
                            track.record(ConnEventKind::AuthFailed { username });
                        }
                    }
                    e
                }
            };
            tracing::info!(%peer, error = %e, "connection refused during handshake");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "handshake timed out");
            return;
        }
    };
    let principal = match sasl.authenticated.lock().ok().and_then(|g| g.clone()) {
        Some((username, her_id)) => Principal {
            username,
            her_id,
            track: track.clone(),
        },
        None => {
            // Not reachable with a SASL acceptor; refuse rather than serve anonymously.
            let _ = conn
                .close_with_error(definitions::Error::new(
                    AmqpError::UnauthorizedAccess,
                    "not authenticated".to_string(),
                    None,
                ))
                .await;
            return;
        }
    };
    if over_limit {
        tracing::info!(%peer, "connection limit reached");
        let _ = timeout(
            Duration::from_secs(5),
            conn.close_with_error(definitions::Error::new(
                AmqpError::ResourceLimitExceeded,
                format!("connection limit of {} reached", ctx.limits.max_connections),
                None,
            )),
        )
        .await;
        return;
    }
    if let Some(track) = &track {
        track.record(ConnEventKind::Opened {
            username: principal.username.clone(),
            tls: ctx.tls.is_some(),
            container_id: track.container_id(),
        });
        // Made unavailable while this one was opening.
        if track.faults.is_unavailable() {
            track.cut("unavailable".into());
        }
    }
    tracing::debug!(%peer, user = %principal.username, "connection open");
    serve_connection(conn, principal, ctx).await;
    if let Some(track) = &track {
        track.closed();
    }
}

async fn serve_connection(
    mut conn: ListenerConnectionHandle,
    principal: Principal,
    ctx: Arc<ServerCtx>,
) {
    let session_acceptor = SessionAcceptor::new();
    let links = Arc::new(AtomicUsize::new(0));
    let mut sessions = JoinSet::new();
    let mut shutdown = ctx.shutdown.clone();
    let mut graceful = false;
    loop {
        tokio::select! {
            biased;
            _ = shutdown_requested(&mut shutdown) => { graceful = true; break }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            incoming = conn.next_incoming_session() => match incoming {
                Some(incoming) => {
                    match session_acceptor.accept_incoming_session(incoming, &mut conn).await {
                        Ok(session) => {
                            sessions.spawn(serve_session(
                                session,
                                principal.clone(),
                                links.clone(),
                                ctx.clone(),
                            ));
                        }
                        Err(e) => tracing::info!(error = %e, "session refused"),
                    }
                }
                None => break,
            },
        }
    }
    if graceful {
        drain(
            &mut sessions,
            ctx.limits.shutdown_grace + Duration::from_secs(1),
        )
        .await;
    } else {
        // The peer is gone: let the sessions hand their leases back, briefly.
        drain(&mut sessions, Duration::from_secs(3)).await;
    }
    let _ = timeout(Duration::from_secs(2), conn.close()).await;
}

async fn serve_session(
    mut session: ListenerSessionHandle,
    principal: Principal,
    links: Arc<AtomicUsize>,
    ctx: Arc<ServerCtx>,
) {
    let mut link_tasks = JoinSet::new();
    let mut shutdown = ctx.shutdown.clone();
    // Told to the links when the session is gone (ended by the peer, or its connection
    // dropped), so that nothing waits for a peer that is not there any more.
    let (gone_tx, gone) = watch::channel(false);
    let mut graceful = false;
    loop {
        tokio::select! {
            biased;
            _ = shutdown_requested(&mut shutdown) => { graceful = true; break }
            Some(_) = link_tasks.join_next(), if !link_tasks.is_empty() => {}
            attach = session.next_incoming_attach() => match attach {
                Some(attach) => {
                    on_attach(attach, &mut session, &principal, &links, &ctx, &gone, &mut link_tasks).await;
                }
                None => break,
            },
        }
    }
    if graceful {
        drain(
            &mut link_tasks,
            ctx.limits.shutdown_grace + Duration::from_millis(500),
        )
        .await;
        let _ = timeout(Duration::from_secs(1), session.end()).await;
    } else {
        let _ = gone_tx.send(true);
        // Leases still held are released by their guards if a task has to be aborted.
        drain(&mut link_tasks, Duration::from_secs(2)).await;
    }
}

fn amqp_error(condition: AmqpError, description: String) -> definitions::Error {
    definitions::Error::new(condition, description, None)
}

/// Decides what an attach may do: the queue it uses, or the error it is refused with.
fn authorize(
    attach: &Attach,
    principal: &Principal,
    ctx: &ServerCtx,
) -> Result<Arc<Queue>, definitions::Error> {
    let core = &ctx.core;
    let queue_name = match attach.role {
        // The peer sends: we receive into the target's queue.
        Role::Sender => {
            let target = match attach.target.as_deref() {
                Some(TargetArchetype::Target(t)) => t,
                None => {
                    return Err(amqp_error(
                        AmqpError::NotImplemented,
                        "a sending link needs a target".into(),
                    ));
                }
            };
            if target.dynamic {
                return Err(amqp_error(
                    AmqpError::NotImplemented,
                    "dynamic targets are not supported".into(),
                ));
            }
            let Some(address) = target.address.as_deref() else {
                return Err(amqp_error(
                    AmqpError::NotImplemented,
                    "the anonymous terminus (null target address) is not supported; use /exchange/<namespace>/<queue>".into(),
                ));
            };
            target_queue(address, &core.namespace)
                .map_err(|e| amqp_error(AmqpError::NotFound, e.to_string()))?
        }
        // The peer receives: we send from the source's queue.
        Role::Receiver => {
            let Some(source) = attach.source.as_deref() else {
                return Err(amqp_error(
                    AmqpError::NotImplemented,
                    "a receiving link needs a source".into(),
                ));
            };
            if source.dynamic {
                return Err(amqp_error(
                    AmqpError::NotImplemented,
                    "dynamic sources are not supported".into(),
                ));
            }
            let Some(address) = source.address.as_deref() else {
                return Err(amqp_error(
                    AmqpError::NotFound,
                    "a receiving link needs a source address /amq/queue/<queue>".into(),
                ));
            };
            source_queue(address).map_err(|e| amqp_error(AmqpError::NotFound, e.to_string()))?
        }
    };
    let Some(queue) = core.queue(&queue_name) else {
        return Err(amqp_error(
            AmqpError::NotFound,
            format!("no queue '{queue_name}' in vhost '/'"),
        ));
    };
    if attach.role == Role::Receiver {
        let own = parse_queue_name(&queue_name).is_some_and(|(her, _)| her == principal.her_id);
        if !own {
            return Err(amqp_error(
                AmqpError::UnauthorizedAccess,
                format!(
                    "user '{}' (HER-id {}) may not consume from queue '{queue_name}'",
                    principal.username, principal.her_id
                ),
            ));
        }
    }
    Ok(queue.clone())
}

struct LinkGuard(Arc<AtomicUsize>);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn on_attach(
    attach: Attach,
    session: &mut ListenerSessionHandle,
    principal: &Principal,
    links: &Arc<AtomicUsize>,
    ctx: &Arc<ServerCtx>,
    gone: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) {
    let before = links.fetch_add(1, Ordering::SeqCst);
    let guard = LinkGuard(links.clone());
    let decision = if before >= ctx.limits.max_links_per_connection {
        Err(amqp_error(
            AmqpError::ResourceLimitExceeded,
            format!(
                "link limit of {} per connection reached",
                ctx.limits.max_links_per_connection
            ),
        ))
    } else {
        authorize(&attach, principal, ctx)
    };
    let name = attach.name.clone();
    // The target as the client wrote it (only looked at when observing).
    let target = match (&principal.track, attach.target.as_deref()) {
        (Some(_), Some(TargetArchetype::Target(t))) => t.address.as_deref().map(str::to_string),
        _ => None,
    };
    let acceptor = LinkAcceptor::builder()
        .max_message_size(ctx.limits.max_message_size)
        .build();
    let endpoint = match acceptor.accept_incoming_attach(attach, session).await {
        Ok(endpoint) => endpoint,
        Err(e) => {
            tracing::info!(link = %name, error = %e, "attach could not be completed");
            return;
        }
    };
    match decision {
        Err(error) => {
            tracing::info!(link = %name, user = %principal.username, condition = ?error.condition, description = ?error.description, "attach refused");
            // The attach is answered, then the link is closed at once with the error (what
            // RabbitMQ does too); the count is held until the peer has answered.
            tasks.spawn(async move {
                let _guard = guard;
                let closing = async {
                    match endpoint {
                        LinkEndpoint::Sender(s) => s.close_with_error(error).await.map(|_| ()),
                        LinkEndpoint::Receiver(r) => r.close_with_error(error).await.map(|_| ()),
                    }
                };
                let _ = timeout(Duration::from_secs(5), closing).await;
            });
        }
        Ok(queue) => match endpoint {
            LinkEndpoint::Receiver(receiver) => {
                if let Some(track) = &principal.track {
                    track.record(ConnEventKind::SenderAttached {
                        username: principal.username.clone(),
                        target: target.unwrap_or_default(),
                        queue: queue.name.clone(),
                    });
                }
                tasks.spawn(producer_link(
                    receiver,
                    queue,
                    guard,
                    ctx.clone(),
                    principal.clone(),
                ));
            }
            LinkEndpoint::Sender(sender) => {
                tasks.spawn(consumer_link(
                    sender,
                    queue,
                    guard,
                    ctx.clone(),
                    gone.clone(),
                ));
            }
        },
    }
}

/// Transfers of one producer link being stored at once (their Accepted outcomes go out as
/// their commits finish; a new transfer is read only while fewer are pending).
const PRODUCER_PIPELINE: usize = 64;

/// A transfer handed to the writer: its delivery and the answer to come.
struct Storing {
    info: DeliveryInfo,
    answer: Result<oneshot::Receiver<Result<u64, BusError>>, BusError>,
    /// Observed connections only: the message-id (for the Stored event) and the earliest
    /// time its disposition may go out (disposition delay).
    observed: Option<Observed>,
}

struct Observed {
    message_id: Option<String>,
    not_before: Option<tokio::time::Instant>,
}

/// The answer of the oldest transfer being stored. The writer commits in the order it was
/// given the messages, so the oldest is always the next to finish.
async fn oldest_stored(pending: &mut VecDeque<Storing>) -> Result<u64, BusError> {
    match pending.front_mut() {
        Some(storing) => stored(storing).await,
        None => std::future::pending().await,
    }
}

async fn stored(storing: &mut Storing) -> Result<u64, BusError> {
    match &mut storing.answer {
        Ok(answer) => answer
            .await
            .unwrap_or_else(|_| Err(BusError::Internal("the service bus writer failed".into()))),
        Err(e) => Err(BusError::Internal(e.to_string())),
    }
}

/// Records a stored transfer (observed connections); returns the earliest time for its
/// disposition.
fn observe_stored(
    principal: &Principal,
    observed: Option<Observed>,
    result: &Result<u64, BusError>,
    queue: &str,
) -> Option<tokio::time::Instant> {
    let (Some(track), Some(observed)) = (&principal.track, observed) else {
        return None;
    };
    if result.is_ok() {
        track.record(ConnEventKind::Stored {
            username: principal.username.clone(),
            queue: queue.to_string(),
            message_id: observed.message_id,
        });
    }
    observed.not_before
}

/// Sends a stored transfer's outcome: Accepted, or Rejected with the store's error.
async fn answer_stored(
    receiver: &mut Receiver,
    storing: Storing,
    result: Result<u64, BusError>,
    queue: &str,
    principal: &Principal,
) -> bool {
    let info = storing.info;
    if let Some(when) = observe_stored(principal, storing.observed, &result, queue) {
        tokio::time::sleep_until(when).await;
    }
    let sent = match result {
        Ok(_) => receiver.accept(info).await.map(|_| ()),
        Err(e) => {
            tracing::error!(error = %e, %queue, "could not store a message");
            receiver
                .reject(
                    info,
                    amqp_error(
                        AmqpError::InternalError,
                        format!("could not store the message: {e}"),
                    ),
                )
                .await
                .map(|_| ())
        }
    };
    sent.is_ok()
}

/// A client's sending link: store each message, then settle it (Accepted once it is
/// durable). Transfers are handed to the writer in the link's order, and up to
/// [`PRODUCER_PIPELINE`] are stored at once, so that they share group commits.
async fn producer_link(
    mut receiver: Receiver,
    queue: Arc<Queue>,
    _guard: LinkGuard,
    ctx: Arc<ServerCtx>,
    principal: Principal,
) {
    let mut shutdown = ctx.shutdown.clone();
    let mut pending: VecDeque<Storing> = VecDeque::new();
    let closing = loop {
        let received = tokio::select! {
            biased;
            result = oldest_stored(&mut pending) => {
                let Some(storing) = pending.pop_front() else { continue };
                if !answer_stored(&mut receiver, storing, result, &queue.name, &principal).await {
                    // The link is gone; what was stored stays stored, and the unsettled
                    // sender will resend it (at least once).
                    break false;
                }
                continue;
            }
            _ = shutdown_requested(&mut shutdown) => break true,
            r = receiver.recv::<Body<Value>>(), if pending.len() < PRODUCER_PIPELINE => r,
        };
        match received {
            Ok(delivery) => {
                let (info, message) = delivery.into_parts();
                // Handed to the writer here, in the link's order (the queue keeps it);
                // only the wait for the commit runs beside the next transfers.
                let answer = ctx.core.enqueue(&queue.name, &message);
                let Some(track) = &principal.track else {
                    pending.push_back(Storing {
                        info,
                        answer,
                        observed: None,
                    });
                    continue;
                };
                let delay = track.faults.disposition_delay();
                let observed = Observed {
                    message_id: crate::nhn::message_id(&message),
                    not_before: (!delay.is_zero()).then(|| tokio::time::Instant::now() + delay),
                };
                let mut storing = Storing {
                    info,
                    answer,
                    observed: Some(observed),
                };
                if track.faults.on_transfer(&principal.username) {
                    // Drop after store: what came before is answered as usual, this one is
                    // stored, then the connection is cut without its disposition.
                    settle_stored(&mut receiver, &mut pending, &queue.name, &principal).await;
                    let result = stored(&mut storing).await;
                    let stored_ok = result.is_ok();
                    observe_stored(&principal, storing.observed.take(), &result, &queue.name);
                    let message_id = crate::nhn::message_id(&message);
                    tracing::info!(user = %principal.username, queue = %queue.name, stored = stored_ok, "connection cut after store (fault injection)");
                    track.cut(format!(
                        "drop_after_store: transfer {} to '{}' stored ({}), disposition not sent",
                        message_id.as_deref().unwrap_or("(no message-id)"),
                        queue.name,
                        if stored_ok { "ok" } else { "failed" },
                    ));
                    return;
                }
                pending.push_back(storing);
            }
            // Detached already by the link itself.
            Err(RecvError::MessageSizeExceeded(e)) => {
                tracing::info!(queue = %queue.name, max = e.max_size, "message too large, link detached");
                break false;
            }
            Err(RecvError::LinkStateError(
                LinkStateError::RemoteClosed
                | LinkStateError::RemoteDetached
                | LinkStateError::RemoteClosedWithError(_)
                | LinkStateError::RemoteDetachedWithError(_),
            )) => {
                // Answer what is being stored before closing our end (the outcomes may
                // still reach a peer that only detached).
                settle_stored(&mut receiver, &mut pending, &queue.name, &principal).await;
                let _ = timeout(Duration::from_secs(1), receiver.close()).await;
                return;
            }
            Err(RecvError::LinkStateError(_)) => break false,
            Err(e) => {
                tracing::info!(queue = %queue.name, error = %e, "bad transfer, closing the link");
                settle_stored(&mut receiver, &mut pending, &queue.name, &principal).await;
                let condition = match e {
                    RecvError::MessageDecode(_) => AmqpError::DecodeError,
                    _ => AmqpError::NotAllowed,
                };
                let _ = timeout(
                    Duration::from_secs(2),
                    receiver.close_with_error(amqp_error(condition, e.to_string())),
                )
                .await;
                return;
            }
        }
    };
    // Whatever ends the link, the stores under way finish (they are in the writer's hands);
    // their outcomes are sent if the link can still carry them.
    settle_stored(&mut receiver, &mut pending, &queue.name, &principal).await;
    if closing {
        let _ = timeout(Duration::from_secs(1), receiver.close()).await;
    }
}

/// Waits for the stores under way and sends their outcomes (ignoring a link that is gone).
async fn settle_stored(
    receiver: &mut Receiver,
    pending: &mut VecDeque<Storing>,
    queue: &str,
    principal: &Principal,
) {
    let finish = async {
        while !pending.is_empty() {
            let result = oldest_stored(pending).await;
            if let Some(storing) = pending.pop_front() {
                answer_stored(receiver, storing, result, queue, principal).await;
            }
        }
    };
    // A stuck writer: stop waiting (the stores still finish in the background).
    let _ = timeout(Duration::from_secs(5), finish).await;
}

/// A message leased to a remote consumer. Dropped without being settled (the task was
/// aborted), it goes back to the queue as a failed delivery.
struct HeldLease {
    core: Arc<Core>,
    lease: Option<Lease>,
}

impl HeldLease {
    async fn settle(mut self, outcome: Settle) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let how = match outcome {
            Settle::Accepted => Settlement::Accept,
            Settle::Rejected(description) => Settlement::Reject(description),
            Settle::Failed => Settlement::Release(Failure::Failed),
            Settle::NotDelivered => Settlement::Release(Failure::NotDelivered),
        };
        let queue = lease.queue.name.clone();
        let result = self.core.settle(lease, how).await;
        if let Err(e) = result {
            tracing::error!(error = %e, %queue, "could not record an outcome");
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            let core = self.core.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = core
                        .settle(lease, Settlement::Release(Failure::Failed))
                        .await;
                });
            }
        }
    }
}

enum Settle {
    Accepted,
    Rejected(Option<String>),
    Failed,
    NotDelivered,
}

fn settle_of(outcome: Outcome) -> Settle {
    match outcome {
        Outcome::Accepted(_) => Settle::Accepted,
        Outcome::Rejected(rejected) => Settle::Rejected(rejected.error.as_ref().map(|e| {
            let condition = condition_name(&e.condition);
            match &e.description {
                Some(d) => format!("{condition}: {d}"),
                None => condition,
            }
        })),
        _ => Settle::Failed,
    }
}

/// Deliveries of one consumer link whose outcome is awaited at once (within the client's
/// credit: a transfer waits for credit before it is sent).
pub(crate) const CONSUMER_WINDOW: usize = 64;
/// Messages a consumer link takes off its queue at a time (loaded with one read of the store
/// when they are not in the body cache).
pub(crate) const CONSUMER_TAKE: usize = 16;

/// A client's receiving link: hand out messages, up to [`CONSUMER_WINDOW`] unsettled, and
/// act on each outcome as it arrives. Whatever happens to the consumer (detach, session or
/// connection gone, broker shutdown), a message it has not accepted goes back to the queue:
/// one sent and not settled as a failed delivery, one taken and not sent yet without
/// counting.
async fn consumer_link(
    mut sender: Sender,
    queue: Arc<Queue>,
    _guard: LinkGuard,
    ctx: Arc<ServerCtx>,
    mut gone: watch::Receiver<bool>,
) {
    let core = &ctx.core;
    let mut shutdown = ctx.shutdown.clone();
    let grace = ctx.limits.shutdown_grace;
    let shutdown_then_grace = |mut rx: watch::Receiver<bool>| async move {
        shutdown_requested(&mut rx).await;
        tokio::time::sleep(grace).await;
    };
    // Told to the deliveries in flight when the link ends: they count as failed.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut in_flight: JoinSet<()> = JoinSet::new();
    // Ended how: the link is to be closed by us (true) or is gone already (false).
    let close = 'link: loop {
        let first = tokio::select! {
            biased;
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
            _ = shutdown_requested(&mut shutdown) => break true,
            _ = shutdown_requested(&mut gone) => break false,
            _ = sender.on_detach() => break false,
            lease = core.take(&queue), if in_flight.len() < CONSUMER_WINDOW => lease,
        };
        // More of what is waiting, up to the window; all loaded at once.
        let room = CONSUMER_WINDOW
            .saturating_sub(in_flight.len())
            .min(CONSUMER_TAKE);
        let mut leases = vec![first];
        while leases.len() < room {
            match core.try_take(&queue) {
                Some(l) => leases.push(l),
                None => break,
            }
        }
        let mut held: std::collections::VecDeque<HeldLease> = leases
            .iter()
            .cloned()
            .map(|lease| HeldLease {
                core: core.clone(),
                lease: Some(lease),
            })
            .collect();
        let messages = match core.load_many(&leases).await {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, queue = %queue.name, "could not load messages");
                for h in held {
                    h.settle(Settle::NotDelivered).await;
                }
                break true;
            }
        };
        for message in messages {
            let Some(h) = held.pop_front() else { break };
            let Some(message) = message else {
                // Gone from the store meanwhile (accepted through another lease).
                h.settle(Settle::Accepted).await;
                continue;
            };
            // Wait for credit and send the transfer... (until the transfer is out,
            // nothing was delivered: no failed attempt is counted)
            let sent = tokio::select! {
                r = sender.send_batchable(message) => r.map_err(SendGone::from),
                _ = shutdown_requested(&mut gone) => Err(SendGone::Gone),
                _ = shutdown_then_grace(shutdown.clone()) => Err(SendGone::Shutdown),
            };
            let delivery = match sent {
                Ok(delivery) => delivery,
                Err(why) => {
                    if let SendGone::Link(e) = &why {
                        tracing::debug!(error = %e, queue = %queue.name, "link gone before the transfer");
                    }
                    h.settle(Settle::NotDelivered).await;
                    for h in held {
                        h.settle(Settle::NotDelivered).await;
                    }
                    break 'link matches!(why, SendGone::Shutdown);
                }
            };
            // ...then its outcome arrives on its own, while more are sent.
            let mut stop = stop_rx.clone();
            in_flight.spawn(async move {
                let outcome = tokio::select! {
                    biased;
                    outcome = delivery => match outcome {
                        Ok(outcome) => settle_of(outcome),
                        Err(e) => {
                            tracing::debug!(error = %e, "delivery lost with the link");
                            Settle::Failed
                        }
                    },
                    _ = stop.wait_for(|v| *v) => Settle::Failed,
                };
                h.settle(outcome).await;
            });
        }
    };
    // Shutdown: the deliveries in flight have the grace period to be settled by the peer.
    if close && !in_flight.is_empty() {
        let mut gone2 = gone.clone();
        let _ = timeout(grace, async {
            tokio::select! {
                _ = async { while in_flight.join_next().await.is_some() {} } => {}
                _ = sender.on_detach() => {}
                _ = shutdown_requested(&mut gone2) => {}
            }
        })
        .await;
    }
    // What is still unsettled counts as a failed delivery; wait until that is recorded.
    let _ = stop_tx.send(true);
    while in_flight.join_next().await.is_some() {}
    if close {
        let _ = timeout(Duration::from_secs(1), sender.close()).await;
    }
}

/// Why a transfer was not sent.
enum SendGone {
    Link(fe2o3_amqp::link::SendError),
    Gone,
    Shutdown,
}

impl From<fe2o3_amqp::link::SendError> for SendGone {
    fn from(e: fe2o3_amqp::link::SendError) -> Self {
        SendGone::Link(e)
    }
}

/// The symbolic name of an error condition, e.g. `amqp:not-found`.
fn condition_name(condition: &definitions::ErrorCondition) -> String {
    use definitions::ErrorCondition as C;
    let symbol = match condition {
        C::AmqpError(c) => Symbol::from(c),
        C::ConnectionError(c) => Symbol::from(c),
        C::SessionError(c) => Symbol::from(c),
        C::LinkError(c) => Symbol::from(c),
        C::Custom(c) => c.clone(),
    };
    symbol.as_str().to_string()
}
