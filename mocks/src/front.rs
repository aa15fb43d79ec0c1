//! An AMQP 1.0 front in front of an external broker (RabbitMQ): Toxiproxy's model, but
//! AMQP-aware, so that the connection log and the faults of our broker
//! ([`BrokerFaults`], [`ConnEvent`](crate::servicebus::ConnEvent)) work on RabbitMQ too.
//!
//! Clients connect to [`AmqpFront::addr`]. The front terminates TLS with its own
//! certificate (when given; `amqps://` straight away or after the AMQP TLS header, as our
//! broker), connects to the broker's nodes in order (the next when one does not accept),
//! and passes the bytes through both ways. On the way it cuts them into frames and reads
//! the performatives that matter ([`tap`]): what it observes goes to the [`BrokerFaults`]'s
//! log with the meaning our broker gives each event, and the faults armed on it are
//! honoured:
//!
//! | | the front |
//! |---|---|
//! | unavailable | its port is closed (refused by the OS), a connection accepted just before is closed before TLS (`refused_unavailable`), open ones are cut (`dropped`, `unavailable`) |
//! | refuse auth (user) | the client's SASL PLAIN init with that authcid is answered by the front with outcome `auth` (`auth_failed`), the connection closed; RabbitMQ never sees it |
//! | wrong password | refused by RabbitMQ; its SASL outcome is seen (`auth_failed`) |
//! | drop after store (user, nth) | the nth transfer of the user is forwarded; RabbitMQ's disposition accepting it is recorded (`stored`) and not forwarded; the connection is cut (`dropped`) |
//! | disposition delay | RabbitMQ's dispositions of the client's transfers are held until the transfer's arrival plus the delay (later frames of the link's end wait behind them) |
//!
//! `opened` is logged when RabbitMQ's open arrives (after SASL), `sender_attached` when
//! RabbitMQ answers a client's sending link with a target, `stored` when RabbitMQ accepts
//! a client's transfer (a pre-settled one: when all its frames were forwarded), `closed`
//! when the connection ends.
//!
//! Two rewrites make a broker that keeps each run in a vhost of its own transparent to the
//! client ([`FrontConfig::vhost`], [`FrontConfig::user_prefix`]): the open's hostname
//! becomes `vhost:<vhost>` (how RabbitMQ's AMQP 1.0 plugin selects a vhost), and the
//! PLAIN authcid gets the prefix (RabbitMQ's users are global). The events name the user as
//! the client sent it.
//!
//! Bounded: a frame above the limit (before open 64 KiB, then RabbitMQ's max-frame-size,
//! at most [`FrontConfig::max_frame_size`]) ends the connection; of a transfer only its
//! first 64 KiB are kept (for the message-id); at most 65 536 unsettled transfers per
//! connection are followed. To `amqps://` nodes it connects with TLS ([`FrontConfig::upstream_tls`]).

pub(crate) mod tap;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::servicebus::{
    BrokerFaults, BusError, ConnEventKind, ConnTrack, Limits, TlsConfig, closed_while_unavailable,
    shutdown_requested, tls_handshake,
};
use tap::{Act, Dir, Tap, TapConfig};

/// How a front is set up.
#[derive(Clone)]
pub struct FrontConfig {
    /// Where it listens (port 0: a free one).
    pub bind: SocketAddr,
    /// The broker's nodes (host, port), tried in this order for every connection.
    pub upstreams: Vec<(String, u16)>,
    /// TLS towards the clients; `None`: plain AMQP.
    pub tls: Option<TlsConfig>,
    /// TLS towards the broker's nodes (`amqps://` nodes; the server name checked is the
    /// node's host); `None`: plain AMQP.
    pub upstream_tls: Option<tokio_rustls::TlsConnector>,
    /// The faults to honour and the log to write.
    pub faults: BrokerFaults,
    /// Rewrite the client's open hostname to `vhost:<vhost>`.
    pub vhost: Option<String>,
    /// Prefix the client's SASL PLAIN authcid with this.
    pub user_prefix: Option<String>,
    /// The namespace of `/exchange/<namespace>/<queue>` targets (for the queue in events).
    pub namespace: String,
    /// Largest frame from a client after open.
    pub max_frame_size: u32,
    /// Time a client has for TLS.
    pub handshake_timeout: Duration,
}

impl std::fmt::Debug for FrontConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontConfig")
            .field("bind", &self.bind)
            .field("upstreams", &self.upstreams)
            .field("tls", &self.tls.is_some())
            .field("upstream_tls", &self.upstream_tls.is_some())
            .field("vhost", &self.vhost)
            .field("user_prefix", &self.user_prefix)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl FrontConfig {
    /// A plain front on `bind` for these nodes, with our broker's frame and handshake
    /// limits, no rewrites.
    pub fn new(
        bind: SocketAddr,
        upstreams: Vec<(String, u16)>,
        faults: BrokerFaults,
        namespace: &str,
    ) -> FrontConfig {
        let limits = Limits::default();
        FrontConfig {
            bind,
            upstreams,
            tls: None,
            upstream_tls: None,
            faults,
            vhost: None,
            user_prefix: None,
            namespace: namespace.to_string(),
            max_frame_size: limits.max_frame_size,
            handshake_timeout: limits.handshake_timeout,
        }
    }
}

struct Ctx {
    config: FrontConfig,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
}

/// A running front; [`AmqpFront::shutdown`] (or dropping it) stops it and its connections.
pub struct AmqpFront {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AmqpFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpFront")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl AmqpFront {
    /// Listens and serves on the current tokio runtime.
    pub async fn start(config: FrontConfig) -> Result<AmqpFront, BusError> {
        if config.upstreams.is_empty() {
            return Err(BusError::Config("the front has no broker node".into()));
        }
        let acceptor = match &config.tls {
            Some(tls) => Some(tls.acceptor()?),
            None => None,
        };
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(false);
        let ctx = Arc::new(Ctx {
            config,
            acceptor,
            shutdown: rx,
        });
        let task = tokio::spawn(accept_loop(listener, ctx));
        tracing::info!(%addr, "AMQP front listening");
        Ok(AmqpFront {
            addr,
            shutdown: tx,
            task: Some(task),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and ends every connection.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for AmqpFront {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

const POLL: Duration = Duration::from_millis(50);

async fn accept_loop(mut listener: TcpListener, ctx: Arc<Ctx>) {
    let mut shutdown = ctx.shutdown.clone();
    let mut connections = JoinSet::new();
    loop {
        if ctx.config.faults.is_unavailable() {
            match closed_while_unavailable(listener, &ctx.config.faults, &mut shutdown).await {
                Some(l) => listener = l,
                None => break,
            }
        }
        tokio::select! {
            biased;
            _ = shutdown_requested(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = tokio::time::sleep(POLL) => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    connections.spawn(handle(tcp, peer, ctx.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "front: accept failed");
                    tokio::time::sleep(POLL).await;
                }
            },
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

async fn handle(tcp: TcpStream, peer: SocketAddr, ctx: Arc<Ctx>) {
    let faults = &ctx.config.faults;
    if faults.is_unavailable() {
        let id = faults.next_connection();
        faults.record(id, peer, ConnEventKind::RefusedUnavailable);
        return;
    }
    let track = faults.track(peer);
    let _ = tcp.set_nodelay(true);
    let cut = track.kill.clone();
    let work = async {
        match &ctx.acceptor {
            Some(acceptor) => {
                let tls = tokio::time::timeout(
                    ctx.config.handshake_timeout,
                    tls_handshake(tcp, acceptor),
                )
                .await
                .unwrap_or_else(|_| Err("TLS handshake timed out".into()));
                match tls {
                    Ok(stream) => relay(stream, &ctx, &track).await,
                    Err(error) => {
                        tracing::info!(%peer, %error, "front: TLS failed");
                        track.record(ConnEventKind::TlsFailed { error });
                    }
                }
            }
            None => relay(tcp, &ctx, &track).await,
        }
    };
    tokio::select! {
        _ = work => {}
        _ = cut.wait() => {}
    }
    track.closed();
}

/// A connection to a broker node: plain TCP or TLS over it.
trait Upstream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Upstream for T {}

/// The first node that accepts (and, for `amqps://` nodes, completes the TLS handshake
/// with a certificate the CA verifies).
async fn connect_upstream(
    nodes: &[(String, u16)],
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Option<Box<dyn Upstream>> {
    for (host, port) in nodes {
        let node = format!("{host}:{port}");
        let attempt = tokio::time::timeout(Duration::from_secs(3), async {
            let tcp = TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(|e| e.to_string())?;
            let _ = tcp.set_nodelay(true);
            match tls {
                Some(c) => crate::tls_client::handshake(c, host, *port, tcp)
                    .await
                    .map(|s| Box::new(s) as Box<dyn Upstream>),
                None => Ok(Box::new(tcp) as Box<dyn Upstream>),
            }
        })
        .await;
        match attempt {
            Ok(Ok(s)) => return Some(s),
            Ok(Err(e)) => tracing::info!(%node, error = %e, "front: node refused"),
            Err(_) => tracing::info!(%node, "front: node timed out"),
        }
    }
    None
}

/// What the writer towards the client gets.
enum Down {
    Now(Vec<u8>),
    At(Vec<u8>, Instant),
    End,
}

async fn relay<Io>(client: Io, ctx: &Ctx, track: &Arc<ConnTrack>)
where
    Io: AsyncRead + AsyncWrite + Send + Unpin,
{
    let Some(upstream) =
        connect_upstream(&ctx.config.upstreams, ctx.config.upstream_tls.as_ref()).await
    else {
        tracing::warn!("front: no broker node accepts a connection");
        return;
    };
    let tap = Mutex::new(Tap::new(TapConfig {
        faults: ctx.config.faults.clone(),
        tls: ctx.acceptor.is_some(),
        vhost: ctx.config.vhost.clone(),
        user_prefix: ctx.config.user_prefix.clone(),
        namespace: ctx.config.namespace.clone(),
        frame_limit: ctx.config.max_frame_size as usize,
    }));
    let (cr, cw) = tokio::io::split(client);
    let (ur, uw) = tokio::io::split(upstream);
    let (tx, rx) = mpsc::channel::<Down>(64);
    let up = up_pump(cr, uw, &tap, track, tx.clone());
    let down = down_pump(ur, &tap, track, tx);
    let writer = client_writer(cw, rx);
    tokio::pin!(up, down, writer);
    let mut down_done = false;
    loop {
        tokio::select! {
            _ = &mut up => break,
            _ = &mut down, if !down_done => down_done = true,
            _ = &mut writer => break,
        }
    }
}

fn feed(tap: &Mutex<Tap>, dir: Dir, bytes: &[u8]) -> Result<Vec<Act>, String> {
    tap.lock()
        .unwrap_or_else(|p| p.into_inner())
        .feed(dir, bytes, Instant::now())
}

/// Client → broker. Returns when the client's side ends or the connection is to end.
async fn up_pump<R, W>(
    mut cr: R,
    mut uw: W,
    tap: &Mutex<Tap>,
    track: &ConnTrack,
    tx: mpsc::Sender<Down>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match cr.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = uw.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        let acts = match feed(tap, Dir::Up, &buf[..n]) {
            Ok(a) => a,
            Err(e) => {
                tracing::info!(peer = %track.peer, error = %e, "front: bad input from the client");
                return;
            }
        };
        for act in acts {
            match act {
                Act::Forward(bytes) | Act::ForwardAt(bytes, _) => {
                    if uw.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Act::Event(e) => track.record(e),
                Act::Cut(reason) => {
                    let _ = uw.flush().await;
                    tracing::info!(peer = %track.peer, %reason, "front: connection cut (fault injection)");
                    track.cut(reason);
                    return std::future::pending().await;
                }
                Act::AnswerAndEnd(bytes) => {
                    let _ = tx.send(Down::Now(bytes)).await;
                    let _ = tx.send(Down::End).await;
                    // The writer ends the connection once the answer is out.
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// Broker → client (through the writer).
async fn down_pump<R>(mut ur: R, tap: &Mutex<Tap>, track: &ConnTrack, tx: mpsc::Sender<Down>)
where
    R: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match ur.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let acts = match feed(tap, Dir::Down, &buf[..n]) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "front: bad input from the broker");
                break;
            }
        };
        for act in acts {
            let sent = match act {
                Act::Forward(bytes) | Act::AnswerAndEnd(bytes) => tx.send(Down::Now(bytes)).await,
                Act::ForwardAt(bytes, at) => tx.send(Down::At(bytes, at)).await,
                Act::Event(e) => {
                    track.record(e);
                    Ok(())
                }
                Act::Cut(reason) => {
                    tracing::info!(peer = %track.peer, %reason, "front: connection cut (fault injection)");
                    track.cut(reason);
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        }
    }
    let _ = tx.send(Down::End).await;
}

/// Writes to the client: at once, or held until due (in order); ends after `End` with
/// everything held written.
async fn client_writer<W: AsyncWrite + Unpin>(mut cw: W, mut rx: mpsc::Receiver<Down>) {
    let mut held: std::collections::VecDeque<(Instant, Vec<u8>)> = Default::default();
    let mut ending = false;
    loop {
        let next_due = held.front().map(|(at, _)| *at);
        if ending && next_due.is_none() {
            let _ = cw.flush().await;
            let _ = cw.shutdown().await;
            return;
        }
        tokio::select! {
            item = rx.recv(), if !ending => match item {
                Some(Down::Now(bytes)) => {
                    if cw.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Some(Down::At(bytes, at)) => held.push_back((at, bytes)),
                Some(Down::End) | None => ending = true,
            },
            _ = sleep_until(next_due), if next_due.is_some() => {
                if let Some((_, bytes)) = held.pop_front()
                    && cw.write_all(&bytes).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
