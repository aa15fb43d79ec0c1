//! The limits every HTTP server of the national side keeps, as real servers do, and the
//! accept loop that enforces them.
//!
//! Sendemodul, the filsluse, the mail capture's reading API and SSB's operator API are
//! served by [`serve`] rather than by `axum::serve`, whose HTTP/1 connections have no header
//! read timeout and accept headers of hundreds of KiB. Per connection, hyper's HTTP/1 server
//! is configured with:
//!
//! - [`HttpLimits::header_read_timeout`] (30 s, as hyper's own default and Apache's
//!   `RequestReadTimeout header=20-40`): a request whose head has not arrived whole by then
//!   is closed, so half-sent requests do not hold sockets;
//! - [`HttpLimits::max_header_bytes`] (32 KiB, nginx's `large_client_header_buffers 4 8k`):
//!   a larger head is answered **431 Request Header Fields Too Large** and the connection
//!   closed; at most [`HttpLimits::max_headers`] (100) header fields;
//! - [`HttpLimits::max_connections`] (1 024) open connections per server: past that the
//!   server stops accepting until one closes (new clients wait in the listen backlog).
//!
//! Every request carries `axum::extract::ConnectInfo<SocketAddr>` with the client's address.
//! A graceful shutdown stops accepting, lets requests in hand finish and closes idle
//! connections.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The smallest head buffer hyper accepts.
const MIN_HEADER_BYTES: usize = 8 * 1024;

/// The limits of one HTTP server (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request head must arrive whole within this time, else the connection is closed.
    pub header_read_timeout: Duration,
    /// The largest request head (request line and header fields), in bytes; at least 8 KiB
    /// (a smaller value is raised to that).
    pub max_header_bytes: usize,
    /// The most header fields in one request.
    pub max_headers: usize,
    /// The most open connections.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_connections: 1024,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting and waits for the connections in hand to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES))
        .max_headers(limits.max_headers.max(1));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a
                    // moment rather than spin.
                    tracing::warn!(target: "iplos_mocks::http", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(target: "iplos_mocks::http", %peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
