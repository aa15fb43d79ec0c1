//! The front's frame tap: the byte streams of one connection cut into protocol headers and
//! frames, the few performatives that matter read, and what the front does with each
//! frame decided (pure: no I/O, table-tested).
//!
//! A frame is forwarded as it came, except
//!
//! - the client's SASL PLAIN init, when a user prefix is configured (the authcid gets it),
//!   and the client's open, when a vhost is configured (hostname `vhost:<vhost>`), which
//!   are encoded again;
//! - a SASL init of a user whose logins are refused ([`BrokerFaults::set_refuse_auth`]):
//!   answered by the front with a SASL outcome `auth`, nothing forwarded;
//! - RabbitMQ's disposition that accepts a transfer marked by
//!   [`BrokerFaults::drop_after_store`]: recorded as stored, not forwarded, the connection
//!   is cut;
//! - RabbitMQ's dispositions of a client's transfers while a disposition delay is set: held
//!   until the transfer's arrival plus the delay.

use std::collections::HashMap;
use std::time::Instant;

use fe2o3_amqp_types::definitions::Role;
use fe2o3_amqp_types::messaging::{DeliveryState, Properties, TargetArchetype};
use fe2o3_amqp_types::performatives::{Attach, Disposition, Open, Performative, Transfer};
use fe2o3_amqp_types::sasl::{SaslCode, SaslInit, SaslOutcome};
use serde_amqp::primitives::Binary;

use crate::servicebus::{BrokerFaults, ConnEventKind, target_queue};

/// Bytes of a transfer's payload kept to read its message-id (the properties section
/// comes before the body).
const PREFIX_LIMIT: usize = 64 * 1024;

/// Unsettled transfers followed per connection; beyond, new ones are not followed (no
/// Stored event for them, no delay).
const UNSETTLED_LIMIT: usize = 65_536;

/// Largest frame before the connection is open (headers, SASL, open).
const HANDSHAKE_FRAME_LIMIT: usize = 64 * 1024;

/// Largest frame from the broker (it sends frames as large as the client allows).
const DOWN_FRAME_LIMIT: usize = 16 * 1024 * 1024;

/// One unit of a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unit {
    /// An 8-byte protocol header (`AMQP` + protocol id + version).
    Header([u8; 8]),
    /// A whole frame, header included.
    Frame(Vec<u8>),
}

/// Cuts one direction's bytes into [`Unit`]s, holding at most one frame.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    /// Adds bytes read.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole unit, `Ok(None)` if more bytes are needed, or an error for a frame
    /// whose size is impossible or above `limit`.
    pub(crate) fn next(&mut self, limit: usize) -> Result<Option<Unit>, String> {
        if self.buf.len() >= 4 && self.buf.starts_with(b"AMQP") {
            if self.buf.len() < 8 {
                return Ok(None);
            }
            let mut h = [0u8; 8];
            h.copy_from_slice(&self.buf[..8]);
            self.buf.drain(..8);
            return Ok(Some(Unit::Header(h)));
        }
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let size =
            u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        let doff = self.buf[4] as usize * 4;
        if size < 8 || doff < 8 || doff > size {
            return Err(format!(
                "malformed frame header (size {size}, data offset {doff})"
            ));
        }
        if size > limit {
            return Err(format!("frame of {size} bytes, above the limit of {limit}"));
        }
        if self.buf.len() < size {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..size).collect();
        Ok(Some(Unit::Frame(frame)))
    }
}

/// Which way a unit travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// From the client to RabbitMQ.
    Up,
    /// From RabbitMQ to the client.
    Down,
}

/// What to do.
#[derive(Debug, Clone)]
pub(crate) enum Act {
    /// Forward these bytes the way the unit was going.
    Forward(Vec<u8>),
    /// Forward these bytes (to the client) no earlier than then.
    ForwardAt(Vec<u8>, Instant),
    /// Send these bytes back to the client (the front answers itself), then end.
    AnswerAndEnd(Vec<u8>),
    /// Record this.
    Event(ConnEventKind),
    /// Cut the connection now, for this reason.
    Cut(String),
}

#[derive(Debug, Default)]
struct Link {
    /// The target address as the client wrote it, and the queue it names.
    target: String,
    queue: String,
    /// The delivery being transferred (multi-frame), if any.
    current: Option<Incoming>,
}

#[derive(Debug)]
struct Incoming {
    id: Option<u32>,
    settled: bool,
    prefix: Vec<u8>,
    arrived: Instant,
    drop: bool,
}

#[derive(Debug)]
struct Unsettled {
    queue: String,
    message_id: Option<String>,
    arrived: Instant,
    drop: bool,
}

#[derive(Debug, Default)]
struct Session {
    /// The client's sending links, by the client's handle.
    links: HashMap<u32, Link>,
    /// Transfers awaiting RabbitMQ's disposition, by delivery-id.
    unsettled: HashMap<u32, Unsettled>,
}

/// One connection's tap.
pub(crate) struct Tap {
    faults: BrokerFaults,
    tls: bool,
    vhost: Option<String>,
    user_prefix: Option<String>,
    namespace: String,
    up: Framer,
    down: Framer,
    up_sasl: bool,
    down_sasl: bool,
    /// The PLAIN authcid the client sent (without the prefix).
    user: Option<String>,
    container_id: String,
    open: bool,
    /// Largest frame once open (RabbitMQ's max-frame-size, at most `frame_limit`).
    frame_limit: usize,
    negotiated: usize,
    /// The client's max-frame-size (at most [`DOWN_FRAME_LIMIT`]).
    client_max: usize,
    /// By the client's channel.
    sessions: HashMap<u16, Session>,
    /// RabbitMQ's channel → the client's.
    channels: HashMap<u16, u16>,
    /// The client's sending links by (client channel, link name) → handle.
    names: HashMap<(u16, String), u32>,
    followed: usize,
    /// Dispositions held: when the last one is due.
    last_due: Option<Instant>,
}

/// How the tap is set up.
#[derive(Debug, Clone)]
pub(crate) struct TapConfig {
    pub faults: BrokerFaults,
    pub tls: bool,
    pub vhost: Option<String>,
    pub user_prefix: Option<String>,
    pub namespace: String,
    pub frame_limit: usize,
}

impl Tap {
    pub(crate) fn new(c: TapConfig) -> Tap {
        Tap {
            faults: c.faults,
            tls: c.tls,
            vhost: c.vhost,
            user_prefix: c.user_prefix,
            namespace: c.namespace,
            up: Framer::default(),
            down: Framer::default(),
            up_sasl: false,
            down_sasl: false,
            user: None,
            container_id: String::new(),
            open: false,
            frame_limit: c.frame_limit,
            negotiated: c.frame_limit,
            client_max: c.frame_limit,
            sessions: HashMap::new(),
            channels: HashMap::new(),
            names: HashMap::new(),
            followed: 0,
            last_due: None,
        }
    }

    /// Takes bytes read in direction `dir`; returns what to do, in order. An `Err` ends
    /// the connection (bad framing).
    pub(crate) fn feed(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        now: Instant,
    ) -> Result<Vec<Act>, String> {
        let mut acts = Vec::new();
        match dir {
            Dir::Up => self.up.push(bytes),
            Dir::Down => self.down.push(bytes),
        }
        loop {
            let limit = if self.open {
                self.negotiated
            } else {
                HANDSHAKE_FRAME_LIMIT.max(512)
            };
            let unit = match dir {
                Dir::Up => self.up.next(limit)?,
                // RabbitMQ's frames are as large as the client allowed (bounded).
                Dir::Down => self.down.next(self.client_max.max(HANDSHAKE_FRAME_LIMIT))?,
            };
            let Some(unit) = unit else { break };
            let before = acts.len();
            match unit {
                Unit::Header(h) => {
                    let sasl = h[4] == 3;
                    match dir {
                        Dir::Up => self.up_sasl = sasl,
                        Dir::Down => self.down_sasl = sasl,
                    }
                    acts.push(Act::Forward(h.to_vec()));
                }
                Unit::Frame(f) => match dir {
                    Dir::Up => self.up_frame(f, now, &mut acts),
                    Dir::Down => self.down_frame(f, now, &mut acts),
                },
            }
            if acts[before..]
                .iter()
                .any(|a| matches!(a, Act::Cut(_) | Act::AnswerAndEnd(_)))
            {
                break;
            }
        }
        Ok(acts)
    }

    fn up_frame(&mut self, f: Vec<u8>, now: Instant, acts: &mut Vec<Act>) {
        let doff = f[4] as usize * 4;
        if self.up_sasl {
            if let Some(init) = sasl_init(&f[doff..]) {
                self.sasl_init(init, f, acts);
            } else {
                acts.push(Act::Forward(f));
            }
            return;
        }
        let channel = u16::from_be_bytes([f[6], f[7]]);
        let Some((perf, payload_at)) = performative(&f[doff..]) else {
            acts.push(Act::Forward(f));
            return;
        };
        let payload_at = doff + payload_at;
        match perf {
            Performative::Open(mut open) => {
                self.container_id = open.container_id.clone();
                self.client_max = (open.max_frame_size.0 as usize).clamp(512, DOWN_FRAME_LIMIT);
                match &self.vhost {
                    Some(v) => {
                        open.hostname = Some(format!("vhost:{v}"));
                        acts.push(Act::Forward(encode_frame(0, channel, &open)));
                    }
                    None => acts.push(Act::Forward(f)),
                }
            }
            Performative::Begin(_) => {
                self.sessions.insert(channel, Session::default());
                acts.push(Act::Forward(f));
            }
            Performative::Attach(a) => {
                self.client_attach(channel, &a);
                acts.push(Act::Forward(f));
            }
            Performative::Transfer(t) => {
                let payload = &f[payload_at..];
                let (fire_cut, event) = self.client_transfer(channel, &t, payload, now);
                acts.push(Act::Forward(f));
                if let Some(e) = event {
                    acts.push(Act::Event(e));
                }
                if let Some(reason) = fire_cut {
                    acts.push(Act::Cut(reason));
                }
            }
            Performative::Detach(d) => {
                if d.closed
                    && let Some(s) = self.sessions.get_mut(&channel)
                {
                    s.links.remove(&d.handle.0);
                }
                acts.push(Act::Forward(f));
            }
            Performative::End(_) => {
                if let Some(s) = self.sessions.remove(&channel) {
                    self.followed = self.followed.saturating_sub(s.unsettled.len());
                }
                acts.push(Act::Forward(f));
            }
            _ => acts.push(Act::Forward(f)),
        }
    }

    fn sasl_init(&mut self, init: SaslInit, f: Vec<u8>, acts: &mut Vec<Act>) {
        let plain = init.mechanism.as_str() == "PLAIN";
        let parts = init
            .initial_response
            .as_ref()
            .filter(|_| plain)
            .and_then(|r| plain_parts(r));
        let Some((authzid, authcid, password)) = parts else {
            acts.push(Act::Forward(f));
            return;
        };
        self.user = Some(authcid.clone());
        if self.faults.auth_refused(&authcid) {
            acts.push(Act::Event(ConnEventKind::AuthFailed {
                username: Some(authcid),
            }));
            let outcome = SaslOutcome {
                code: SaslCode::Auth,
                additional_data: None,
            };
            acts.push(Act::AnswerAndEnd(encode_frame(1, 0, &outcome)));
            return;
        }
        match &self.user_prefix {
            Some(prefix) => {
                let mut response = authzid;
                response.push(0);
                response.extend_from_slice(format!("{prefix}{authcid}").as_bytes());
                response.push(0);
                response.extend_from_slice(&password);
                let init = SaslInit {
                    mechanism: init.mechanism,
                    initial_response: Some(Binary::from(response)),
                    hostname: init.hostname,
                };
                acts.push(Act::Forward(encode_frame(1, 0, &init)));
            }
            None => acts.push(Act::Forward(f)),
        }
    }

    fn client_attach(&mut self, channel: u16, a: &Attach) {
        if a.role != Role::Sender {
            return;
        }
        let target = match a.target.as_deref() {
            Some(TargetArchetype::Target(t)) => t.address.clone().unwrap_or_default(),
            #[allow(unreachable_patterns)]
            _ => String::new(),
        };
        let queue = target_queue(&target, &self.namespace).unwrap_or_else(|_| target.clone());
        if let Some(s) = self.sessions.get_mut(&channel) {
            s.links.insert(
                a.handle.0,
                Link {
                    target,
                    queue,
                    current: None,
                },
            );
            if self.names.len() < UNSETTLED_LIMIT {
                self.names.insert((channel, a.name.clone()), a.handle.0);
            }
        }
    }

    /// A transfer frame from the client: the delivery followed; returns a cut (drop after
    /// store of a pre-settled transfer) and an event (a pre-settled transfer complete).
    fn client_transfer(
        &mut self,
        channel: u16,
        t: &Transfer,
        payload: &[u8],
        now: Instant,
    ) -> (Option<String>, Option<ConnEventKind>) {
        let Some(s) = self.sessions.get_mut(&channel) else {
            return (None, None);
        };
        let Some(link) = s.links.get_mut(&t.handle.0) else {
            return (None, None);
        };
        let cur = link.current.get_or_insert_with(|| Incoming {
            id: t.delivery_id,
            settled: false,
            prefix: Vec::new(),
            arrived: now,
            drop: self
                .user
                .as_deref()
                .is_some_and(|u| self.faults.on_transfer(u)),
        });
        if cur.id.is_none() {
            cur.id = t.delivery_id;
        }
        if t.settled == Some(true) {
            cur.settled = true;
        }
        let room = PREFIX_LIMIT.saturating_sub(cur.prefix.len());
        cur.prefix
            .extend_from_slice(&payload[..room.min(payload.len())]);
        if t.aborted {
            link.current = None;
            return (None, None);
        }
        if t.more {
            return (None, None);
        }
        let Some(done) = link.current.take() else {
            return (None, None);
        };
        let message_id = message_id_of(&done.prefix);
        if done.settled {
            let cut = done
                .drop
                .then(|| drop_reason(message_id.as_deref(), &link.queue, true));
            let event = ConnEventKind::Stored {
                username: self.user.clone().unwrap_or_default(),
                queue: link.queue.clone(),
                message_id,
            };
            return (cut, Some(event));
        }
        if let Some(id) = done.id
            && self.followed < UNSETTLED_LIMIT
        {
            let old = s.unsettled.insert(
                id,
                Unsettled {
                    queue: link.queue.clone(),
                    message_id,
                    arrived: done.arrived,
                    drop: done.drop,
                },
            );
            if old.is_none() {
                self.followed += 1;
            }
        }
        (None, None)
    }

    fn down_frame(&mut self, f: Vec<u8>, now: Instant, acts: &mut Vec<Act>) {
        let doff = f[4] as usize * 4;
        if self.down_sasl {
            if let Some(outcome) = sasl_outcome(&f[doff..])
                && outcome.code != SaslCode::Ok
            {
                acts.push(Act::Event(ConnEventKind::AuthFailed {
                    username: self.user.clone(),
                }));
            }
            acts.push(Act::Forward(f));
            return;
        }
        let channel = u16::from_be_bytes([f[6], f[7]]);
        let Some((perf, _)) = performative(&f[doff..]) else {
            acts.push(Act::Forward(f));
            return;
        };
        match perf {
            Performative::Open(open) => self.server_open(&open, f, acts),
            Performative::Begin(b) => {
                if let Some(c) = b.remote_channel {
                    self.channels.insert(channel, c);
                }
                acts.push(Act::Forward(f));
            }
            Performative::Attach(a) => {
                if a.role == Role::Receiver
                    && a.target.is_some()
                    && let Some(link) = self.link_by_name(channel, &a.name)
                {
                    let event = ConnEventKind::SenderAttached {
                        username: self.user.clone().unwrap_or_default(),
                        target: link.target.clone(),
                        queue: link.queue.clone(),
                    };
                    acts.push(Act::Event(event));
                }
                acts.push(Act::Forward(f));
            }
            Performative::Disposition(d) if d.role == Role::Receiver => {
                self.server_disposition(channel, &d, f, now, acts)
            }
            Performative::Detach(_) | Performative::End(_) | Performative::Close(_) => {
                // Kept behind the dispositions held, so that the client sees them first.
                match self.last_due.filter(|due| *due > now) {
                    Some(due) => acts.push(Act::ForwardAt(f, due)),
                    None => acts.push(Act::Forward(f)),
                }
            }
            _ => acts.push(Act::Forward(f)),
        }
    }

    fn server_open(&mut self, open: &Open, f: Vec<u8>, acts: &mut Vec<Act>) {
        self.open = true;
        self.negotiated = (open.max_frame_size.0 as usize).clamp(512, self.frame_limit.max(512));
        // A broker that allows larger frames than the front: the client is told the front's.
        let f = if (open.max_frame_size.0 as usize) > self.negotiated {
            let mut smaller = open.clone();
            smaller.max_frame_size.0 = self.negotiated as u32;
            let channel = u16::from_be_bytes([f[6], f[7]]);
            encode_frame(0, channel, &smaller)
        } else {
            f
        };
        acts.push(Act::Event(ConnEventKind::Opened {
            username: self.user.clone().unwrap_or_default(),
            tls: self.tls,
            container_id: self.container_id.clone(),
        }));
        acts.push(Act::Forward(f));
        // Made unavailable while this one was opening.
        if self.faults.is_unavailable() {
            acts.push(Act::Cut("unavailable".into()));
        }
    }

    fn link_by_name(&self, server_channel: u16, name: &str) -> Option<&Link> {
        let c = *self.channels.get(&server_channel)?;
        let handle = self.names.get(&(c, name.to_string()))?;
        self.sessions.get(&c)?.links.get(handle)
    }

    fn server_disposition(
        &mut self,
        channel: u16,
        d: &Disposition,
        f: Vec<u8>,
        now: Instant,
        acts: &mut Vec<Act>,
    ) {
        let session = self
            .channels
            .get(&channel)
            .copied()
            .and_then(|c| self.sessions.get_mut(&c));
        let Some(session) = session else {
            acts.push(Act::Forward(f));
            return;
        };
        let last = d.last.unwrap_or(d.first).max(d.first);
        let ids: Vec<u32> = if last - d.first <= 4096 {
            (d.first..=last)
                .filter(|id| session.unsettled.contains_key(id))
                .collect()
        } else {
            let mut v: Vec<u32> = session
                .unsettled
                .keys()
                .copied()
                .filter(|id| (d.first..=last).contains(id))
                .collect();
            v.sort_unstable();
            v
        };
        let accepted = matches!(d.state, Some(DeliveryState::Accepted(_)));
        let mut latest: Option<Instant> = None;
        let mut cut = None;
        for id in ids {
            let Some(u) = session.unsettled.get(&id) else {
                continue;
            };
            latest = Some(latest.map_or(u.arrived, |l| l.max(u.arrived)));
            if accepted {
                acts.push(Act::Event(ConnEventKind::Stored {
                    username: self.user.clone().unwrap_or_default(),
                    queue: u.queue.clone(),
                    message_id: u.message_id.clone(),
                }));
            }
            if u.drop && cut.is_none() {
                cut = Some(drop_reason(u.message_id.as_deref(), &u.queue, accepted));
            }
            if accepted || d.settled {
                session.unsettled.remove(&id);
                self.followed = self.followed.saturating_sub(1);
            }
        }
        if let Some(reason) = cut {
            acts.push(Act::Cut(reason));
            return;
        }
        let delay = self.faults.disposition_delay();
        if let Some(arrived) = latest
            && !delay.is_zero()
        {
            let due = (arrived + delay).max(self.last_due.unwrap_or(arrived));
            if due > now {
                self.last_due = Some(due);
                acts.push(Act::ForwardAt(f, due));
                return;
            }
        }
        match self.last_due.filter(|due| *due > now) {
            // An earlier disposition is held: keep the order.
            Some(due) => acts.push(Act::ForwardAt(f, due)),
            None => acts.push(Act::Forward(f)),
        }
    }
}

fn drop_reason(message_id: Option<&str>, queue: &str, stored: bool) -> String {
    format!(
        "drop_after_store: transfer {} to '{}' stored ({}), disposition not sent",
        message_id.unwrap_or("(no message-id)"),
        queue,
        if stored { "ok" } else { "failed" },
    )
}

/// A frame: 8-byte header (data offset 2) and `value` encoded.
pub(crate) fn encode_frame<T: serde::Serialize>(ftype: u8, channel: u16, value: &T) -> Vec<u8> {
    let body = serde_amqp::to_vec(value).unwrap_or_default();
    let size = (8 + body.len()) as u32;
    let mut f = Vec::with_capacity(size as usize);
    f.extend_from_slice(&size.to_be_bytes());
    f.push(2);
    f.push(ftype);
    f.extend_from_slice(&channel.to_be_bytes());
    f.extend_from_slice(&body);
    f
}

/// The length of an encoded compound, null or boolean value at the start of `b`.
fn value_len(b: &[u8]) -> Option<usize> {
    let n = match *b.first()? {
        0x40..=0x45 => 1,
        0xa0 | 0xa1 | 0xa3 | 0xc0 | 0xc1 | 0xe0 => 2 + *b.get(1)? as usize,
        0xb0 | 0xb1 | 0xb3 | 0xd0 | 0xd1 | 0xf0 => {
            5 + u32::from_be_bytes(b.get(1..5)?.try_into().ok()?) as usize
        }
        _ => return None,
    };
    (n <= b.len()).then_some(n)
}

/// The descriptor code and length of a described value at the start of `b`.
fn described(b: &[u8]) -> Option<(u64, usize)> {
    if *b.first()? != 0x00 {
        return None;
    }
    let (code, at) = match *b.get(1)? {
        0x53 => (*b.get(2)? as u64, 3),
        0x80 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
        0x44 => (0, 2),
        _ => return None,
    };
    let len = value_len(b.get(at..)?)?;
    Some((code, at + len))
}

/// The performative at the start of a frame body, and where the payload starts.
fn performative(body: &[u8]) -> Option<(Performative, usize)> {
    let (_, len) = described(body)?;
    let p = serde_amqp::from_slice::<Performative>(&body[..len]).ok()?;
    Some((p, len))
}

fn sasl_init(body: &[u8]) -> Option<SaslInit> {
    match described(body)? {
        (0x41, len) => serde_amqp::from_slice(&body[..len]).ok(),
        _ => None,
    }
}

fn sasl_outcome(body: &[u8]) -> Option<SaslOutcome> {
    match described(body)? {
        (0x44, len) => serde_amqp::from_slice(&body[..len]).ok(),
        _ => None,
    }
}

/// PLAIN's `authzid \0 authcid \0 password`.
fn plain_parts(r: &[u8]) -> Option<(Vec<u8>, String, Vec<u8>)> {
    let mut parts = r.splitn(3, |b| *b == 0);
    let authzid = parts.next()?.to_vec();
    let authcid = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let password = parts.next()?.to_vec();
    Some((authzid, authcid, password))
}

/// The message-id of a message from the start of its encoding (the sections before the
/// properties are skipped; `None` when there is none or it lies beyond what is given).
pub(crate) fn message_id_of(prefix: &[u8]) -> Option<String> {
    let mut i = 0;
    while i < prefix.len() {
        let (code, len) = described(&prefix[i..])?;
        match code {
            0x70..=0x72 => i += len,
            0x73 => {
                let p: Properties = serde_amqp::from_slice(&prefix[i..i + len]).ok()?;
                return p.message_id.as_ref().map(crate::nhn::id_text);
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
#[path = "tap_tests.rs"]
mod tests;
