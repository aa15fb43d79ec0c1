//! Fault injection and connection observation for certification sessions.
//!
//! A [`BrokerFaults`] handle is given to the broker with
//! [`BrokerConfig::with_faults`](super::BrokerConfig::with_faults) and kept by the session
//! that drives it. While the broker runs, the session can
//!
//! - make the broker **unavailable** until an instant: its port is closed, so a new TCP
//!   connection is refused by the operating system (`ECONNREFUSED`, as a service bus that is
//!   down or a firewall that rejects; the broker cannot see those attempts), a connection
//!   accepted in the instant before the port closed is closed before TLS or SASL (event
//!   [`ConnEventKind::RefusedUnavailable`]), and the connections open when it is set are cut
//!   ([`ConnEventKind::Dropped`] with reason `unavailable`);
//! - **refuse SASL** for one user name (SASL outcome `auth`, as for a wrong password);
//! - **drop after store**: the `nth` transfer (counted from the call) on a producer link of
//!   a user is stored durably as usual, then the TCP connection is cut without sending its
//!   disposition, so the client does not know it was stored (one-shot);
//! - **delay dispositions**: the outcome of every transfer from a client is sent no earlier
//!   than this long after the transfer arrived (measured per transfer, not added up over a
//!   pipeline of transfers) \[model\].
//!
//! and read what the broker observed ([`BrokerFaults::events`]): one connection number per
//! TCP connection, TLS and SASL failures, opens with the client's container-id, producer
//! attaches, stored transfers, drops and closes.
//!
//! Cutting a connection "abruptly" \[model\]: the connection's byte stream is wrapped (only
//! when faults are configured); cutting it makes the wrapper fail every read and write, so
//! the AMQP engine stops and drops the socket, which closes the TCP connection without a
//! close frame (and, over TLS, without a close_notify). The client sees the connection end.
//!
//! The container-id of an [`ConnEventKind::Opened`] event is read from the client's open
//! frame as it passes through that wrapper (fe2o3-amqp's listener does not expose the
//! remote open); "" when it could not be read.
//!
//! Bounded: at most [`MAX_EVENTS`] events are kept; older ones are dropped and counted
//! ([`BrokerFaults::dropped_events`]). Every connection's events end with
//! [`ConnEventKind::Closed`], except a connection refused while unavailable, whose only
//! event is [`ConnEventKind::RefusedUnavailable`].

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Events kept at most; beyond, the oldest are dropped (and counted).
pub const MAX_EVENTS: usize = 100_000;

/// Faults the broker injects and what it observed; a cloneable handle shared with the
/// session (see the module docs).
#[derive(Clone, Default)]
pub struct BrokerFaults {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    unavailable_until: Mutex<Option<Instant>>,
    refuse_auth: Mutex<Option<String>>,
    drop_rules: Mutex<Vec<DropRule>>,
    disposition_delay_nanos: AtomicU64,
    next_connection: AtomicU64,
    live: Mutex<HashMap<u64, (SocketAddr, Arc<KillSwitch>)>>,
    events: Mutex<EventLog>,
}

#[derive(Default)]
struct EventLog {
    events: VecDeque<ConnEvent>,
    dropped: u64,
}

struct DropRule {
    username: String,
    nth: u32,
    seen: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for BrokerFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerFaults")
            .field("unavailable_until", &*lock(&self.inner.unavailable_until))
            .field("refuse_auth", &*lock(&self.inner.refuse_auth))
            .field("disposition_delay", &self.disposition_delay())
            .field("events", &lock(&self.inner.events).events.len())
            .finish_non_exhaustive()
    }
}

/// One observation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnEvent {
    /// When (RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// A number per TCP connection (1, 2, …), the same for all events of one connection.
    pub connection: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// What happened.
    pub kind: ConnEventKind,
}

fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// What was observed.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ConnEventKind {
    /// Refused while unavailable (closed before any handshake).
    RefusedUnavailable,
    /// TLS handshake failed (with the error text), or plain AMQP sent to a TLS listener.
    TlsFailed {
        /// The error.
        error: String,
    },
    /// SASL failed for this user name (wrong password, unknown user, or refused by
    /// [`BrokerFaults::set_refuse_auth`]); `None` when no PLAIN user name could be read.
    AuthFailed {
        /// The PLAIN authcid sent.
        username: Option<String>,
    },
    /// The connection is open and authenticated.
    Opened {
        /// The user.
        username: String,
        /// Whether it runs over TLS.
        tls: bool,
        /// The client's container-id ("" when not read).
        container_id: String,
    },
    /// A producer link attached.
    SenderAttached {
        /// The user.
        username: String,
        /// The target address as the client wrote it.
        target: String,
        /// The queue it resolved to.
        queue: String,
    },
    /// A transfer from the client was stored.
    Stored {
        /// The user.
        username: String,
        /// The queue.
        queue: String,
        /// The message-id as text, if any.
        message_id: Option<String>,
    },
    /// The broker dropped the connection (drop after store, or unavailable).
    Dropped {
        /// Why.
        reason: String,
    },
    /// The connection ended (by the client or the broker).
    Closed,
}

impl BrokerFaults {
    /// No faults, no events yet.
    pub fn new() -> BrokerFaults {
        BrokerFaults::default()
    }

    /// Refuses every new connection until `until` (the port is closed; within
    /// 50 ms of the call at the latest); the connections open
    /// now are cut too. `None` lifts it.
    pub fn set_unavailable_until(&self, until: Option<Instant>) {
        *lock(&self.inner.unavailable_until) = until;
        if until.is_some_and(|u| u > Instant::now()) {
            let live: Vec<(u64, SocketAddr, Arc<KillSwitch>)> = lock(&self.inner.live)
                .iter()
                .map(|(id, (peer, kill))| (*id, *peer, kill.clone()))
                .collect();
            for (id, peer, kill) in live {
                if !kill.is_killed() {
                    self.record(
                        id,
                        peer,
                        ConnEventKind::Dropped {
                            reason: "unavailable".into(),
                        },
                    );
                    kill.kill();
                }
            }
        }
    }

    /// Refuses SASL for this user name while set (`None` lifts it).
    pub fn set_refuse_auth(&self, username: Option<String>) {
        *lock(&self.inner.refuse_auth) = username;
    }

    /// One-shot: the `nth` (1-based, counted from this call) transfer on a producer link of
    /// a connection authenticated as `username` is stored, then the connection is cut
    /// without its disposition. `nth` 0 is taken as 1.
    pub fn drop_after_store(&self, username: &str, nth: u32) {
        lock(&self.inner.drop_rules).push(DropRule {
            username: username.to_string(),
            nth: nth.max(1),
            seen: 0,
        });
    }

    /// Delays every disposition of a client's transfer by this long (from the transfer's
    /// arrival). `Duration::ZERO`: off.
    pub fn set_disposition_delay(&self, d: Duration) {
        let nanos = d.as_nanos().min(u64::MAX as u128) as u64;
        self.inner
            .disposition_delay_nanos
            .store(nanos, Ordering::Relaxed);
    }

    /// Everything observed so far (the last [`MAX_EVENTS`]), in order.
    pub fn events(&self) -> Vec<ConnEvent> {
        lock(&self.inner.events).events.iter().cloned().collect()
    }

    /// Events dropped because more than [`MAX_EVENTS`] were observed.
    pub fn dropped_events(&self) -> u64 {
        lock(&self.inner.events).dropped
    }

    pub(crate) fn disposition_delay(&self) -> Duration {
        Duration::from_nanos(self.inner.disposition_delay_nanos.load(Ordering::Relaxed))
    }

    pub(crate) fn is_unavailable(&self) -> bool {
        lock(&self.inner.unavailable_until).is_some_and(|u| Instant::now() < u)
    }

    pub(crate) fn auth_refused(&self, username: &str) -> bool {
        lock(&self.inner.refuse_auth).as_deref() == Some(username)
    }

    /// Counts a transfer of `username`; true when a drop-after-store rule fires (it is
    /// removed then).
    pub(crate) fn on_transfer(&self, username: &str) -> bool {
        let mut rules = lock(&self.inner.drop_rules);
        if rules.is_empty() {
            return false;
        }
        let mut fired = None;
        for (i, rule) in rules.iter_mut().enumerate() {
            if rule.username == username {
                rule.seen = rule.seen.saturating_add(1);
                if rule.seen == rule.nth && fired.is_none() {
                    fired = Some(i);
                }
            }
        }
        if let Some(i) = fired {
            rules.remove(i);
            true
        } else {
            false
        }
    }

    pub(crate) fn next_connection(&self) -> u64 {
        self.inner.next_connection.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn record(&self, connection: u64, peer: SocketAddr, kind: ConnEventKind) {
        let event = ConnEvent {
            at: Utc::now(),
            connection,
            peer,
            kind,
        };
        let mut log = lock(&self.inner.events);
        if log.events.len() >= MAX_EVENTS {
            log.events.pop_front();
            log.dropped += 1;
        }
        log.events.push_back(event);
    }

    /// Starts observing a new connection (registered so that it can be cut).
    pub(crate) fn track(&self, peer: SocketAddr) -> Arc<ConnTrack> {
        let id = self.next_connection();
        let kill = Arc::new(KillSwitch::default());
        lock(&self.inner.live).insert(id, (peer, kill.clone()));
        Arc::new(ConnTrack {
            faults: self.clone(),
            id,
            peer,
            kill,
            container_id: Arc::new(Mutex::new(None)),
            closed: AtomicBool::new(false),
        })
    }
}

/// One observed connection.
pub(crate) struct ConnTrack {
    pub(crate) faults: BrokerFaults,
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) kill: Arc<KillSwitch>,
    container_id: Arc<Mutex<Option<String>>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for ConnTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnTrack")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl ConnTrack {
    pub(crate) fn record(&self, kind: ConnEventKind) {
        self.faults.record(self.id, self.peer, kind);
    }

    /// Wraps the connection's byte stream (cut by [`ConnTrack::cut`], container-id read).
    pub(crate) fn wrap<Io>(&self, io: Io) -> FaultIo<Io> {
        FaultIo {
            io,
            kill: self.kill.clone(),
            sniffer: Some(OpenSniffer::default()),
            container_id: self.container_id.clone(),
        }
    }

    /// The client's container-id, "" if it was not read.
    pub(crate) fn container_id(&self) -> String {
        lock(&self.container_id).clone().unwrap_or_default()
    }

    /// Cuts the connection abruptly, recording why.
    pub(crate) fn cut(&self, reason: String) {
        if !self.kill.is_killed() {
            self.record(ConnEventKind::Dropped { reason });
            self.kill.kill();
        }
    }

    /// Records the end of the connection (once) and forgets it.
    pub(crate) fn closed(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            lock(&self.faults.inner.live).remove(&self.id);
            self.record(ConnEventKind::Closed);
        }
    }
}

impl Drop for ConnTrack {
    fn drop(&mut self) {
        self.closed();
    }
}

/// Cuts a connection: its wrapped stream fails from then on.
#[derive(Default)]
pub(crate) struct KillSwitch {
    killed: AtomicBool,
    notify: Notify,
    wakers: Mutex<[Option<Waker>; 2]>,
}

impl KillSwitch {
    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
        let wakers = std::mem::take(&mut *lock(&self.wakers));
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }

    /// Resolves once the switch is thrown.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_killed() {
                return;
            }
            notified.await;
        }
    }

    fn register(&self, slot: usize, waker: &Waker) {
        let mut wakers = lock(&self.wakers);
        match &mut wakers[slot] {
            Some(w) if w.will_wake(waker) => {}
            other => *other = Some(waker.clone()),
        }
    }
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by fault injection",
    )
}

/// A connection's byte stream that can be cut, and that reads the client's container-id
/// from its open frame on the way.
pub(crate) struct FaultIo<Io> {
    io: Io,
    kill: Arc<KillSwitch>,
    sniffer: Option<OpenSniffer>,
    container_id: Arc<Mutex<Option<String>>>,
}

impl<Io: std::fmt::Debug> std::fmt::Debug for FaultIo<Io> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultIo").field("io", &self.io).finish()
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for FaultIo<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.is_killed() {
            return Poll::Ready(Err(cut_error()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => {
                this.kill.register(0, cx.waker());
                if this.kill.is_killed() {
                    return Poll::Ready(Err(cut_error()));
                }
                Poll::Pending
            }
            Poll::Ready(Ok(())) => {
                if let Some(sniffer) = &mut this.sniffer {
                    match sniffer.feed(&buf.filled()[before..]) {
                        Sniffed::More => {}
                        Sniffed::GaveUp => this.sniffer = None,
                        Sniffed::ContainerId(id) => {
                            *lock(&this.container_id) = Some(id);
                            this.sniffer = None;
                        }
                    }
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for FaultIo<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.kill.is_killed() {
            return Poll::Ready(Err(cut_error()));
        }
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Pending => {
                this.kill.register(1, cx.waker());
                if this.kill.is_killed() {
                    return Poll::Ready(Err(cut_error()));
                }
                Poll::Pending
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.is_killed() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.is_killed() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Bytes the sniffer keeps at most before giving up.
const SNIFF_LIMIT: usize = 64 * 1024;

/// Follows what the client sends up to its open frame: protocol headers, SASL frames,
/// then the first AMQP frame, whose open performative carries the container-id.
#[derive(Default)]
struct OpenSniffer {
    buf: Vec<u8>,
    amqp: bool,
}

enum Sniffed {
    More,
    GaveUp,
    ContainerId(String),
}

impl OpenSniffer {
    fn feed(&mut self, bytes: &[u8]) -> Sniffed {
        if self.buf.len() + bytes.len() > SNIFF_LIMIT {
            return Sniffed::GaveUp;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            if self.buf.len() < 8 {
                return Sniffed::More;
            }
            if self.buf.starts_with(b"AMQP") {
                self.amqp = self.buf[4] == 0;
                self.buf.drain(..8);
                continue;
            }
            let size =
                u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            let doff = self.buf[4] as usize * 4;
            if size < 8 || doff < 8 || doff > size || size > SNIFF_LIMIT {
                return Sniffed::GaveUp;
            }
            if self.buf.len() < size {
                return Sniffed::More;
            }
            if !self.amqp {
                // A SASL frame.
                self.buf.drain(..size);
                continue;
            }
            if size == doff {
                // An empty (heartbeat) frame before the open.
                self.buf.drain(..size);
                continue;
            }
            let body = &self.buf[doff..size];
            return match serde_amqp::from_slice::<fe2o3_amqp_types::performatives::Open>(body) {
                Ok(open) => Sniffed::ContainerId(open.container_id),
                Err(_) => Sniffed::GaveUp,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_bounded() {
        let f = BrokerFaults::new();
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        for _ in 0..MAX_EVENTS + 5 {
            f.record(1, peer, ConnEventKind::Closed);
        }
        assert_eq!(f.events().len(), MAX_EVENTS);
        assert_eq!(f.dropped_events(), 5);
    }

    #[test]
    fn drop_rule_fires_once_at_nth() {
        let f = BrokerFaults::new();
        f.drop_after_store("u", 2);
        assert!(!f.on_transfer("other"));
        assert!(!f.on_transfer("u"));
        assert!(f.on_transfer("u"));
        assert!(!f.on_transfer("u"));
    }

    #[test]
    fn sniffer_gives_up_on_garbage() {
        let mut s = OpenSniffer::default();
        assert!(matches!(s.feed(&[0xff; 16]), Sniffed::GaveUp));
    }

    #[test]
    fn event_json_is_tagged() {
        let e = ConnEvent {
            at: Utc::now(),
            connection: 3,
            peer: "127.0.0.1:9".parse().unwrap(),
            kind: ConnEventKind::AuthFailed {
                username: Some("x".into()),
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"]["event"], "auth_failed");
        assert_eq!(v["kind"]["username"], "x");
        assert_eq!(v["connection"], 3);
    }
}
