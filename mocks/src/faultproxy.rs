//! A TCP fault proxy in front of a broker (Toxiproxy's model), so that the faults our
//! broker injects itself (a dropped connection, unavailable, slow) can be injected in
//! front of RabbitMQ too.
//!
//! Clients connect to [`FaultProxy::addr`]; each connection is forwarded to the first
//! upstream that accepts it. The faults, each changeable at any time:
//!
//! | fault | what clients see |
//! |---|---|
//! | [`FaultProxy::set_latency`] | every chunk, either way, is held this long before it is forwarded |
//! | [`FaultProxy::set_bandwidth`] | at most this many bytes per second per direction and connection |
//! | [`FaultProxy::set_down`] | the port refuses connections (the listener is closed) and open connections are reset; up again: it listens on the same port |
//! | [`FaultProxy::reset_all`] | every open connection is reset (TCP RST) — a dropped connection |
//!
//! A refused login is not a proxy fault: on RabbitMQ it is a user whose password is not
//! the one the client has (the harness's "service bus not activated"), the same refusal
//! as SASL gives on our broker.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The faults in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Toxics {
    /// Delay per forwarded chunk.
    pub latency: Duration,
    /// Bytes per second per direction; `None`: unlimited.
    pub bandwidth: Option<u64>,
    /// Refusing connections.
    pub down: bool,
}

struct Inner {
    toxics: Mutex<Toxics>,
    /// Bumped to reset every open connection.
    resets: watch::Sender<u64>,
    upstreams: Vec<SocketAddr>,
    addr: SocketAddr,
    listener: Mutex<Option<JoinHandle<()>>>,
}

/// A running fault proxy; dropping it stops listening and resets its connections.
pub struct FaultProxy {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.inner.addr)
            .field("upstreams", &self.inner.upstreams)
            .field("toxics", &self.toxics())
            .finish()
    }
}

impl FaultProxy {
    /// Listens on `bind` (port 0: a free one), forwarding to the first of `upstreams` that
    /// accepts.
    pub async fn start(
        bind: SocketAddr,
        upstreams: Vec<SocketAddr>,
    ) -> std::io::Result<FaultProxy> {
        if upstreams.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no upstream",
            ));
        }
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let (resets, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            toxics: Mutex::new(Toxics::default()),
            resets,
            upstreams,
            addr,
            listener: Mutex::new(None),
        });
        let task = tokio::spawn(accept(inner.clone(), listener));
        *lock(&inner.listener) = Some(task);
        Ok(FaultProxy { inner })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The faults in force.
    pub fn toxics(&self) -> Toxics {
        *lock(&self.inner.toxics)
    }

    /// Holds every chunk this long (0: none).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.inner.toxics).latency = latency;
    }

    /// Limits each direction of each connection to `bytes_per_second` (`None`: no limit).
    pub fn set_bandwidth(&self, bytes_per_second: Option<u64>) {
        lock(&self.inner.toxics).bandwidth = bytes_per_second.filter(|b| *b > 0);
    }

    /// Down: refuse connections and reset the open ones. Up: listen again on the same port.
    pub async fn set_down(&self, down: bool) -> std::io::Result<()> {
        let was = {
            let mut t = lock(&self.inner.toxics);
            std::mem::replace(&mut t.down, down)
        };
        if down && !was {
            let task = lock(&self.inner.listener).take();
            if let Some(task) = task {
                task.abort();
                let _ = task.await;
            }
            self.reset_all();
        } else if !down && was {
            let listener = TcpListener::bind(self.inner.addr).await?;
            let task = tokio::spawn(accept(self.inner.clone(), listener));
            *lock(&self.inner.listener) = Some(task);
        }
        Ok(())
    }

    /// Resets every open connection (TCP RST).
    pub fn reset_all(&self) {
        self.inner.resets.send_modify(|n| *n += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.inner.listener).take() {
            task.abort();
        }
        self.reset_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn accept(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let mut upstream = None;
            for u in &inner.upstreams {
                if let Ok(s) = TcpStream::connect(u).await {
                    upstream = Some(s);
                    break;
                }
            }
            match upstream {
                Some(up) => forward(inner, client, up).await,
                None => reset(&client),
            }
        });
    }
}

fn reset(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

/// Waits what the toxics ask for a chunk of `n` bytes.
async fn toll(inner: &Inner, n: usize) {
    let t = *lock(&inner.toxics);
    let mut wait = t.latency;
    if let Some(bps) = t.bandwidth {
        wait += Duration::from_secs_f64(n as f64 / bps as f64);
    }
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

async fn forward(inner: Arc<Inner>, client: TcpStream, upstream: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let mut resets = inner.resets.subscribe();
    resets.borrow_and_update();
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let mut a = vec![0u8; 16 * 1024];
    let mut b = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            _ = resets.changed() => break,
            r = cr.read(&mut a) => match r {
                Ok(0) | Err(_) => { let _ = uw.shutdown().await; break; }
                Ok(n) => {
                    toll(&inner, n).await;
                    if uw.write_all(&a[..n]).await.is_err() { break; }
                }
            },
            r = ur.read(&mut b) => match r {
                Ok(0) | Err(_) => { let _ = cw.shutdown().await; break; }
                Ok(n) => {
                    toll(&inner, n).await;
                    if cw.write_all(&b[..n]).await.is_err() { break; }
                }
            },
        }
    }
    // Whatever ended it, the client sees a reset, as when a broker's connection dies.
    if let (Ok(c), Ok(u)) = (cr.reunite(cw), ur.reunite(uw)) {
        reset(&c);
        reset(&u);
    }
}
