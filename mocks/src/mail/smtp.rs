//! The SMTP side of the capture server (RFC 5321 subset): greeting, EHLO/HELO, AUTH
//! PLAIN/LOGIN (any credentials), MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET,
//! NOOP, HELP, QUIT; VRFY/EXPN refused, STARTTLS and BDAT not offered.
//!
//! Every read has a limit (line length, message size) and a timeout; protocol errors get
//! their reply code, are logged (tracing and the handle's event log) and never stop the
//! server. A session with too many errors is closed with `421`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use iplos_model::calendar::Clock;
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::address::{PathError, mailbox_key, parse_path};
use super::store::{MailStore, NewMessage};

/// Limits of the SMTP server. Each one, when hit, gets its reply code and the server
/// keeps serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpLimits {
    /// Largest message accepted (bytes, after dot-unstuffing, CRLF line ends). Announced
    /// in `EHLO` as `SIZE`; `MAIL FROM ... SIZE=n` above it gets `552` at once, a larger
    /// `DATA` is read to its end without being kept and then gets `552`. Default 25 MiB.
    pub max_message_size: usize,
    /// Most recipients of one message; the next `RCPT TO` gets `452`. Default 100.
    pub max_recipients: usize,
    /// Longest command line (RFC 5321: 512; lenient), else `500`. Default 4096.
    pub max_command_line: usize,
    /// Longest line of message text (RFC 5321: 1000; lenient), else the message gets
    /// `554` at the end of `DATA`. Default 65 536.
    pub max_text_line: usize,
    /// How long the server waits for the client's next line (command or text), else
    /// `421` and close. Default 5 minutes (RFC 5321 §4.5.3.2.7).
    pub idle_timeout: Duration,
    /// How long one `DATA` may take in all, else `421` and close. Default 10 minutes.
    pub data_timeout: Duration,
    /// Most simultaneous sessions; another connection gets `421` and is closed.
    /// Default 64.
    pub max_connections: usize,
    /// Protocol errors (5xx to commands) before the session is closed with `421`.
    /// Default 10.
    pub max_errors: usize,
}

impl Default for SmtpLimits {
    fn default() -> Self {
        SmtpLimits {
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_command_line: 4096,
            max_text_line: 65_536,
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            max_connections: 64,
            max_errors: 10,
        }
    }
}

/// A refused command or a closed session, as logged by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionEvent {
    /// When (server clock).
    pub at: DateTime<Utc>,
    /// The client's address.
    pub peer: String,
    /// The client's input, escaped and cut to 80 characters (AUTH without its
    /// credentials), or a marker such as `(idle)`, `(DATA)`, `(connect)`.
    pub input: String,
    /// The reply code sent (0 when the client went away and nothing was sent).
    pub code: u16,
    /// The reply text sent.
    pub reply: String,
}

/// How long shutdown waits for open sessions before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How many session events the server keeps (oldest dropped first).
const MAX_EVENTS: usize = 1000;

/// What all sessions share.
pub(crate) struct Shared {
    pub store: MailStore,
    pub clock: Arc<dyn Clock>,
    pub limits: SmtpLimits,
    pub hostname: String,
    pub events: Mutex<VecDeque<SessionEvent>>,
}

impl Shared {
    /// Records a refused command or a closed session.
    fn event(&self, peer: SocketAddr, input: &str, code: u16, reply: &str) {
        tracing::warn!(%peer, input, code, reply, "smtp: refused");
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if events.len() >= MAX_EVENTS {
            events.pop_front();
        }
        events.push_back(SessionEvent {
            at: self.clock.now(),
            peer: peer.to_string(),
            input: input.to_string(),
            code,
            reply: reply.to_string(),
        });
    }
}

/// Accepts connections until `shutdown` turns true, then waits for the sessions (which
/// see the same signal) to end.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(shared.limits.max_connections));
    let mut sessions = JoinSet::new();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match Arc::clone(&permits).try_acquire_owned() {
                    Ok(permit) => {
                        let shared = Arc::clone(&shared);
                        let shutdown = shutdown.clone();
                        sessions.spawn(async move {
                            Session::new(stream, peer, shared, shutdown).run().await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        let shared = Arc::clone(&shared);
                        sessions.spawn(refuse_busy(stream, peer, shared));
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %e, "smtp: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    // Sessions answer the signal with 421 at once; one stuck writing to a client that
    // does not read is aborted after a grace period.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(left = sessions.len(), "smtp: aborting sessions at shutdown");
        sessions.shutdown().await;
    }
}

/// Answers a connection over the limit with 421 and closes it.
async fn refuse_busy(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let text = format!(
        "4.3.2 {} Too many connections, try again later",
        shared.hostname
    );
    shared.event(peer, "(connect)", 421, &text);
    let line = format!("421 {text}\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = stream.write_all(line.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// The result of reading one line.
enum Next {
    /// A line (without its CRLF/LF) is in the session buffer.
    Line,
    /// The line was longer than allowed; it has been skipped up to its end.
    TooLong,
    /// The client closed the connection (or the read failed).
    Closed,
    /// Nothing arrived in time.
    Timeout,
    /// The server is shutting down.
    Shutdown,
}

/// Whether a session goes on after a command.
enum Flow {
    Continue,
    Close,
}

/// The mail transaction under way (after MAIL FROM).
struct Transaction {
    from: String,
    to: Vec<String>,
    keys: Vec<String>,
}

struct Session {
    /// The same socket, for TCP_QUICKACK.
    ack: Option<socket2::Socket>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    shutdown: watch::Receiver<bool>,
    buf: Vec<u8>,
    helo: Option<String>,
    auth_user: Option<String>,
    tx: Option<Transaction>,
    errors: usize,
}

/// Reads one line of at most `max` bytes (CR included) into `buf`, without the line end;
/// an overlong line is consumed up to its end and reported as `TooLong` without keeping
/// more than `max` bytes.
async fn read_line_limited<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Next> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Next::Closed);
        }
        let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            break;
        }
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(if too_long { Next::TooLong } else { Next::Line })
}

/// A printable, bounded rendering of client input for logs.
fn shown(input: &[u8]) -> String {
    let cut = &input[..input.len().min(80)];
    let mut s: String = String::from_utf8_lossy(cut).escape_debug().collect();
    if input.len() > 80 {
        s.push('…');
    }
    s
}

impl Session {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        shared: Arc<Shared>,
        shutdown: watch::Receiver<bool>,
    ) -> Session {
        let _ = stream.set_nodelay(true);
        // A handle on the same socket for TCP_QUICKACK (see `next_line`).
        let ack = std::os::fd::AsFd::as_fd(&stream)
            .try_clone_to_owned()
            .ok()
            .map(socket2::Socket::from);
        let (read, write) = stream.into_split();
        Session {
            ack,
            shared,
            peer,
            reader: BufReader::with_capacity(16 * 1024, read),
            writer: write,
            shutdown,
            buf: Vec::new(),
            helo: None,
            auth_user: None,
            tx: None,
            errors: 0,
        }
    }

    async fn run(mut self) {
        tracing::debug!(peer = %self.peer, "smtp: connected");
        let greeting = format!("{} ESMTP iplos-harness mail capture", self.shared.hostname);
        if self.send(220, &greeting).await.is_err() {
            return;
        }
        loop {
            let deadline = Instant::now() + self.shared.limits.idle_timeout;
            let max = self.shared.limits.max_command_line;
            match self.next_line(max, deadline).await {
                Next::Line => {}
                Next::TooLong => {
                    if let Flow::Close = self
                        .refuse(500, "5.5.2 Line too long", "(overlong command line)")
                        .await
                    {
                        return;
                    }
                    continue;
                }
                Next::Closed => {
                    tracing::debug!(peer = %self.peer, "smtp: client closed the connection");
                    return;
                }
                Next::Timeout => {
                    self.close_timeout("(idle)").await;
                    return;
                }
                Next::Shutdown => {
                    self.close_shutdown().await;
                    return;
                }
            }
            let line = std::mem::take(&mut self.buf);
            let flow = self.command(&line).await;
            self.buf = line;
            if let Flow::Close = flow {
                return;
            }
        }
    }

    /// Reads a line with the shutdown signal and `deadline` in view.
    async fn next_line(&mut self, max: usize, deadline: Instant) -> Next {
        if *self.shutdown.borrow() {
            return Next::Shutdown;
        }
        // Acknowledge at once what arrives: a client that writes the message and its
        // terminating "." in two writes (lettre does) would otherwise wait for the delayed
        // ACK (40 ms on Linux) before sending the terminator — Nagle against delayed ACK.
        #[cfg(target_os = "linux")]
        if let Some(s) = &self.ack {
            let _ = s.set_tcp_quickack(true);
        }
        let read = read_line_limited(&mut self.reader, &mut self.buf, max);
        tokio::select! {
            r = tokio::time::timeout_at(deadline, read) => match r {
                Ok(Ok(next)) => next,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "smtp: read failed");
                    Next::Closed
                }
                Err(_) => Next::Timeout,
            },
            _ = self.shutdown.changed() => Next::Shutdown,
        }
    }

    /// Writes a one-line reply.
    async fn send(&mut self, code: u16, text: &str) -> std::io::Result<()> {
        let line = format!("{code} {text}\r\n");
        self.write(line.as_bytes()).await
    }

    /// Writes a multi-line reply.
    async fn send_lines(&mut self, code: u16, lines: &[String]) -> std::io::Result<()> {
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            out.push_str(&format!("{code}{sep}{l}\r\n"));
        }
        self.write(out.as_bytes()).await
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let timeout = self.shared.limits.idle_timeout;
        match tokio::time::timeout(timeout, self.writer.write_all(bytes)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "client does not read",
            )),
        }
    }

    /// Replies with an error, logs it, counts it; closes with 421 after too many.
    async fn refuse(&mut self, code: u16, text: &str, input: &str) -> Flow {
        self.shared.event(self.peer, input, code, text);
        if self.send(code, text).await.is_err() {
            return Flow::Close;
        }
        if (500..=504).contains(&code) || code == 555 {
            self.errors += 1;
            if self.errors >= self.shared.limits.max_errors {
                let text = "4.7.0 Too many errors, closing connection";
                self.shared.event(self.peer, "(errors)", 421, text);
                let _ = self.send(421, text).await;
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    async fn close_timeout(&mut self, what: &str) {
        let text = format!("4.4.2 {} Error: timeout exceeded", self.shared.hostname);
        self.shared.event(self.peer, what, 421, &text);
        let _ = self.send(421, &text).await;
    }

    async fn close_shutdown(&mut self) {
        let text = format!("4.3.0 {} Service shutting down", self.shared.hostname);
        self.shared.event(self.peer, "(shutdown)", 421, &text);
        let _ = self.send(421, &text).await;
    }

    async fn ok(&mut self, code: u16, text: &str) -> Flow {
        match self.send(code, text).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    async fn command(&mut self, line: &[u8]) -> Flow {
        let shown_line = shown(line);
        let Ok(text) = std::str::from_utf8(line) else {
            return self
                .refuse(500, "5.5.2 Syntax error, command is not text", &shown_line)
                .await;
        };
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return self
                .refuse(500, "5.5.2 Syntax error, control characters", &shown_line)
                .await;
        }
        let (verb, arg) = match text.find(' ') {
            Some(sp) => (&text[..sp], text[sp + 1..].trim()),
            None => (text, ""),
        };
        let verb = verb.to_ascii_uppercase();
        let logged = if verb == "AUTH" {
            format!("AUTH {}", arg.split(' ').next().unwrap_or(""))
        } else {
            shown_line
        };
        tracing::debug!(peer = %self.peer, command = %logged, "smtp: command");
        match verb.as_str() {
            "HELO" | "EHLO" => self.hello(&verb, arg, &logged).await,
            "MAIL" => self.mail(arg, &logged).await,
            "RCPT" => self.rcpt(arg, &logged).await,
            "DATA" => self.data(arg, &logged).await,
            "RSET" => {
                self.tx = None;
                self.ok(250, "2.0.0 Ok").await
            }
            "NOOP" => self.ok(250, "2.0.0 Ok").await,
            "QUIT" => {
                let text = format!("2.0.0 {} closing connection", self.shared.hostname);
                let _ = self.send(221, &text).await;
                let _ = self.writer.shutdown().await;
                Flow::Close
            }
            "HELP" => {
                self.ok(
                    214,
                    "2.0.0 Commands: HELO EHLO AUTH MAIL RCPT DATA RSET NOOP HELP QUIT",
                )
                .await
            }
            "AUTH" => self.auth(arg, &logged).await,
            "VRFY" | "EXPN" => {
                let text = format!("5.5.1 {verb} command is disabled");
                self.refuse(502, &text, &logged).await
            }
            "STARTTLS" => {
                self.refuse(502, "5.5.1 STARTTLS not supported", &logged)
                    .await
            }
            "BDAT" => {
                self.refuse(502, "5.5.1 BDAT (CHUNKING) not supported", &logged)
                    .await
            }
            "" => self.refuse(500, "5.5.2 Empty command", &logged).await,
            _ => {
                self.refuse(500, "5.5.2 Syntax error, command unrecognized", &logged)
                    .await
            }
        }
    }

    async fn hello(&mut self, verb: &str, arg: &str, logged: &str) -> Flow {
        let name = arg.split_whitespace().next().unwrap_or("");
        if name.is_empty() {
            let text = format!("5.5.4 Syntax: {verb} hostname");
            return self.refuse(501, &text, logged).await;
        }
        self.helo = Some(name.to_string());
        self.tx = None;
        let host = self.shared.hostname.clone();
        if verb == "HELO" {
            return self.ok(250, &host).await;
        }
        let lines = vec![
            format!("{host} Hello {name}"),
            format!("SIZE {}", self.shared.limits.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "PIPELINING".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "AUTH PLAIN LOGIN".to_string(),
            "HELP".to_string(),
        ];
        match self.send_lines(250, &lines).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    async fn mail(&mut self, arg: &str, logged: &str) -> Flow {
        if self.helo.is_none() {
            return self
                .refuse(503, "5.5.1 Error: send HELO/EHLO first", logged)
                .await;
        }
        if self.tx.is_some() {
            return self
                .refuse(503, "5.5.1 Error: nested MAIL command", logged)
                .await;
        }
        let Some(rest) = strip_keyword(arg, "FROM:") else {
            return self
                .refuse(501, "5.5.4 Syntax: MAIL FROM:<address>", logged)
                .await;
        };
        let (from, params) = match parse_path(rest, true) {
            Ok(p) => p,
            Err(e) => return self.refuse_path(e, "5.1.7", logged).await,
        };
        for p in &params {
            let (key, value) = p.split_once('=').unwrap_or((p.as_str(), ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(n) if n > self.shared.limits.max_message_size as u64 => {
                        return self
                            .refuse(
                                552,
                                "5.3.4 Message size exceeds fixed maximum message size",
                                logged,
                            )
                            .await;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return self.refuse(501, "5.5.4 Bad SIZE parameter", logged).await;
                    }
                },
                "BODY" if ["7BIT", "8BITMIME"].contains(&value.to_ascii_uppercase().as_str()) => {}
                "SMTPUTF8" | "AUTH" => {}
                _ => {
                    let text = format!("5.5.4 Unsupported parameter {key}");
                    return self.refuse(555, &text, logged).await;
                }
            }
        }
        self.tx = Some(Transaction {
            from,
            to: Vec::new(),
            keys: Vec::new(),
        });
        self.ok(250, "2.1.0 Ok").await
    }

    async fn refuse_path(&mut self, e: PathError, status: &str, logged: &str) -> Flow {
        let text = match e {
            PathError::Syntax => format!("{status} Syntax error in address"),
            PathError::TooLong => format!("{status} Address too long"),
            PathError::BadAddress => format!("{status} Bad address syntax"),
            PathError::NullNotAllowed => format!("{status} Null address not allowed here"),
        };
        self.refuse(501, &text, logged).await
    }

    async fn rcpt(&mut self, arg: &str, logged: &str) -> Flow {
        let max = self.shared.limits.max_recipients;
        let Some(count) = self.tx.as_ref().map(|t| t.to.len()) else {
            return self
                .refuse(503, "5.5.1 Error: need MAIL command", logged)
                .await;
        };
        let Some(rest) = strip_keyword(arg, "TO:") else {
            return self
                .refuse(501, "5.5.4 Syntax: RCPT TO:<address>", logged)
                .await;
        };
        let (to, params) = match parse_path(rest, false) {
            Ok(p) => p,
            Err(e) => return self.refuse_path(e, "5.1.3", logged).await,
        };
        if let Some(p) = params.first() {
            let text = format!("5.5.4 Unsupported parameter {p}");
            return self.refuse(555, &text, logged).await;
        }
        if count >= max {
            return self
                .refuse(452, "4.5.3 Error: too many recipients", logged)
                .await;
        }
        if let Some(tx) = self.tx.as_mut() {
            let key = mailbox_key(&to);
            if !tx.keys.contains(&key) {
                tx.keys.push(key);
                tx.to.push(to);
            }
        }
        self.ok(250, "2.1.5 Ok").await
    }

    async fn data(&mut self, arg: &str, logged: &str) -> Flow {
        if !arg.is_empty() {
            return self.refuse(501, "5.5.4 Syntax: DATA", logged).await;
        }
        let Some(tx) = self.tx.as_ref() else {
            return self
                .refuse(503, "5.5.1 Error: need MAIL command", logged)
                .await;
        };
        if tx.to.is_empty() {
            return self
                .refuse(503, "5.5.1 Error: need RCPT command", logged)
                .await;
        }
        if let Flow::Close = self.ok(354, "End data with <CR><LF>.<CR><LF>").await {
            return Flow::Close;
        }
        let limits = self.shared.limits.clone();
        let data_deadline = Instant::now() + limits.data_timeout;
        let mut data: Vec<u8> = Vec::new();
        let mut over_size = false;
        let mut long_line = false;
        loop {
            let deadline = data_deadline.min(Instant::now() + limits.idle_timeout);
            match self.next_line(limits.max_text_line, deadline).await {
                Next::Line => {
                    if self.buf == b"." {
                        break;
                    }
                    let line = self.buf.strip_prefix(b".").unwrap_or(&self.buf);
                    if !over_size && !long_line {
                        if data.len() + line.len() + 2 > limits.max_message_size {
                            over_size = true;
                            data = Vec::new();
                        } else {
                            data.extend_from_slice(line);
                            data.extend_from_slice(b"\r\n");
                        }
                    }
                }
                Next::TooLong => {
                    long_line = true;
                    data = Vec::new();
                }
                Next::Closed => {
                    self.shared.event(
                        self.peer,
                        "(DATA)",
                        0,
                        "client closed the connection in DATA",
                    );
                    return Flow::Close;
                }
                Next::Timeout => {
                    self.close_timeout("(DATA)").await;
                    return Flow::Close;
                }
                Next::Shutdown => {
                    self.close_shutdown().await;
                    return Flow::Close;
                }
            }
        }
        let Some(tx) = self.tx.take() else {
            return Flow::Close;
        };
        if over_size {
            return self
                .refuse(
                    552,
                    "5.3.4 Message size exceeds fixed maximum message size",
                    "(DATA)",
                )
                .await;
        }
        if long_line {
            let text = format!(
                "5.6.0 Message has a line longer than {} bytes",
                limits.max_text_line
            );
            return self.refuse(554, &text, "(DATA)").await;
        }
        let message = NewMessage {
            received: self.shared.clock.now(),
            mail_from: tx.from,
            recipients: tx.to,
            helo: self.helo.clone().unwrap_or_default(),
            auth_user: self.auth_user.clone(),
            peer: self.peer.to_string(),
            raw: data,
        };
        let store = self.shared.store.clone();
        let stored = tokio::task::spawn_blocking(move || store.insert(&message)).await;
        match stored {
            Ok(Ok(id)) => {
                tracing::info!(peer = %self.peer, id, "smtp: message stored");
                let text = format!("2.0.0 Ok: queued as {id}");
                self.ok(250, &text).await
            }
            Ok(Err(e)) => {
                tracing::error!(peer = %self.peer, error = %e, "smtp: storing failed");
                self.refuse(451, "4.3.0 Local error in processing", "(DATA)")
                    .await
            }
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "smtp: store task failed");
                self.refuse(451, "4.3.0 Local error in processing", "(DATA)")
                    .await
            }
        }
    }

    async fn auth(&mut self, arg: &str, logged: &str) -> Flow {
        if self.helo.is_none() {
            return self
                .refuse(503, "5.5.1 Error: send EHLO first", logged)
                .await;
        }
        if self.auth_user.is_some() {
            return self
                .refuse(503, "5.5.1 Error: already authenticated", logged)
                .await;
        }
        if self.tx.is_some() {
            return self
                .refuse(
                    503,
                    "5.5.1 Error: AUTH not allowed during a transaction",
                    logged,
                )
                .await;
        }
        let mut words = arg.split_whitespace();
        let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
        let initial = words.next().map(str::to_string);
        let user = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(r) => r,
                    None => match self.auth_response("").await {
                        Ok(r) => r,
                        Err(flow) => return flow,
                    },
                };
                if response == "*" {
                    return self
                        .refuse(501, "5.0.0 Authentication cancelled", logged)
                        .await;
                }
                let decoded = if response == "=" {
                    Some(Vec::new())
                } else {
                    B64.decode(response.as_bytes()).ok()
                };
                let Some(decoded) = decoded else {
                    return self
                        .refuse(501, "5.5.2 Cannot decode response", logged)
                        .await;
                };
                // authzid NUL authcid NUL password
                let fields: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
                if fields.len() != 3 {
                    return self
                        .refuse(501, "5.5.2 Malformed PLAIN response", logged)
                        .await;
                }
                String::from_utf8_lossy(fields[1]).into_owned()
            }
            "LOGIN" => {
                let user_b64 = match initial {
                    Some(r) => r,
                    None => match self.auth_response("VXNlcm5hbWU6").await {
                        Ok(r) => r,
                        Err(flow) => return flow,
                    },
                };
                if user_b64 == "*" {
                    return self
                        .refuse(501, "5.0.0 Authentication cancelled", logged)
                        .await;
                }
                let Ok(user) = B64.decode(user_b64.as_bytes()) else {
                    return self
                        .refuse(501, "5.5.2 Cannot decode response", logged)
                        .await;
                };
                let password = match self.auth_response("UGFzc3dvcmQ6").await {
                    Ok(r) => r,
                    Err(flow) => return flow,
                };
                if password == "*" {
                    return self
                        .refuse(501, "5.0.0 Authentication cancelled", logged)
                        .await;
                }
                if B64.decode(password.as_bytes()).is_err() {
                    return self
                        .refuse(501, "5.5.2 Cannot decode response", logged)
                        .await;
                }
                String::from_utf8_lossy(&user).into_owned()
            }
            "" => {
                return self
                    .refuse(501, "5.5.4 Syntax: AUTH mechanism", logged)
                    .await;
            }
            _ => {
                return self
                    .refuse(504, "5.5.4 Unrecognized authentication type", logged)
                    .await;
            }
        };
        tracing::debug!(peer = %self.peer, user, "smtp: authenticated (any credentials)");
        self.auth_user = Some(user);
        self.ok(235, "2.7.0 Authentication successful").await
    }

    /// Sends a 334 challenge and reads the client's answer line.
    async fn auth_response(&mut self, challenge: &str) -> Result<String, Flow> {
        let line = if challenge.is_empty() {
            "334 \r\n".to_string()
        } else {
            format!("334 {challenge}\r\n")
        };
        if self.write(line.as_bytes()).await.is_err() {
            return Err(Flow::Close);
        }
        let deadline = Instant::now() + self.shared.limits.idle_timeout;
        match self
            .next_line(self.shared.limits.max_command_line, deadline)
            .await
        {
            Next::Line => Ok(String::from_utf8_lossy(&self.buf).trim().to_string()),
            Next::TooLong => Err(self
                .refuse(500, "5.5.2 Line too long", "(AUTH response)")
                .await),
            Next::Closed => Err(Flow::Close),
            Next::Timeout => {
                self.close_timeout("(AUTH)").await;
                Err(Flow::Close)
            }
            Next::Shutdown => {
                self.close_shutdown().await;
                Err(Flow::Close)
            }
        }
    }
}

/// `arg` without a leading keyword such as `FROM:` (case-insensitive), or `None`.
fn strip_keyword<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| &arg[keyword.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_bounded() {
        let input: &[u8] = b"short\r\nxxxxxxxxxxxxxxxxxxxx\r\nlast\nend";
        let mut r = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        assert!(matches!(
            read_line_limited(&mut r, &mut buf, 10).await.unwrap(),
            Next::Line
        ));
        assert_eq!(buf, b"short");
        assert!(matches!(
            read_line_limited(&mut r, &mut buf, 10).await.unwrap(),
            Next::TooLong
        ));
        assert!(buf.len() <= 10);
        assert!(matches!(
            read_line_limited(&mut r, &mut buf, 10).await.unwrap(),
            Next::Line
        ));
        assert_eq!(buf, b"last");
        assert!(matches!(
            read_line_limited(&mut r, &mut buf, 10).await.unwrap(),
            Next::Closed
        ));
    }

    #[test]
    fn keywords() {
        assert_eq!(strip_keyword("from:<a@b>", "FROM:"), Some("<a@b>"));
        assert_eq!(strip_keyword("TO: <a@b>", "TO:"), Some(" <a@b>"));
        assert_eq!(strip_keyword("TO", "TO:"), None);
        assert_eq!(strip_keyword("æøå", "FROM:"), None);
    }

    #[test]
    fn shown_is_bounded_and_printable() {
        assert_eq!(shown(b"A\x00\xff"), "A\\0\u{fffd}");
        assert!(shown(&[b'x'; 200]).chars().count() <= 81);
    }
}
