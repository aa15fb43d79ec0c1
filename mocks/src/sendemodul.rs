//! Sendemodul — the web upload of the IPLOS file for data years ≤ 2017 (DOMAIN.md §3,
//! seeds 000–003), as an HTTP server in front of the national [`Intake`].
//!
//! # Pages
//!
//! Two portals with the same pages: `/Sendemodul/` (ordinary submission and corrections,
//! [`Channel::Ordinary`]) and `/SendemodulTEST/` (the test week, [`Channel::Test`]). Plain
//! HTML forms, UTF-8, no JavaScript (Internet Explorer 11 was the preferred browser), every
//! input with a `<label for>`; Norwegian text with English in parentheses.
//!
//! | page | method and path | fields |
//! |---|---|---|
//! | login | `GET /{portal}/`, `POST /{portal}/login` | `kommunenr`, `bydel`, `orgnr`, `pin` |
//! | upload | `GET /{portal}/upload`, `POST /{portal}/upload` (multipart) | `fil` (the file), `epost` (contact e-mail, required), `telefon` (optional), `tilbakemeldingspassord` (feedback key, ≥ 6 characters), `del` and `antall_deler` (part n of m, default 1 of 1), `gruppe` (upload group id; the page issues one as a hidden field), `csrf` |
//! | receipt | answer of a complete upload; `GET /{portal}/receipt/{id}` | kommune, bydel, file name, size, SHA-256, arrival (Europe/Oslo), when the e-mail receipt is due, the check's error and warning counts |
//! | history | `GET /{portal}/history` | the logged-in kommune's own uploads and its pending split uploads |
//! | logout | `POST /{portal}/logout` | `csrf` |
//!
//! # Login
//!
//! All four values must match: the kommunenummer is a kommune of the configured data year's
//! registry ([`iplos_model::municipality`]); the bydel is `00`, unless the kommune is
//! configured with other bydeler ([`SendemodulConfig::bydeler`]); the organisasjonsnummer is
//! the kommune's; the PIN is the kommune's KOSTRA PIN ([`Pins`]: configured, or
//! [`Pins::derive`]d from a seed). Every wrong combination gets the **same** answer — 401 and a
//! page saying the combination is not recognised; which field was wrong goes only to the log
//! (`tracing`, target `iplos_mocks::sendemodul`) and to [`Sendemodul::login_attempts`].
//! A successful login sets the cookie `SendemodulSession` (random 256-bit token, `HttpOnly`,
//! `SameSite=Lax`, `Path=/{portal}/`, `Max-Age` = [`SendemodulConfig::session_lifetime`]);
//! the session ends after that long without a request on the injected clock, at logout, or
//! when the server stops. A session belongs to one portal and one kommune: it sees only that
//! kommune's uploads on that portal (any other receipt id answers 404).
//!
//! # Rate limit
//!
//! **\[model\]** After [`SendemodulConfig::max_failures`] (5) failed logins for one
//! kommunenummer (as typed, known or not) further attempts for it are refused with **429**
//! and a page saying when to try again, for [`SendemodulConfig::lockout`] (15 minutes) on the
//! injected clock — the correct PIN included. The lock is the account's: other kommuner
//! logging in from the same address (one NAT, one host) are not affected. One client address
//! is locked the same way only after [`SendemodulConfig::max_failures_per_address`] (100)
//! failures, whatever the kommunenummer (someone trying many kommuner). A successful login
//! clears the counts of its kommunenummer and address.
//!
//! # Split uploads
//!
//! A file may be "evt. splittet" (DOMAIN.md §3): each part is one upload with `del` = n,
//! `antall_deler` = m and the same `gruppe` id (letters, digits, `-`, `_`; up to 64). Parts
//! are kept (as files under the state directory) until all m have arrived, then reassembled
//! in order and only the complete file goes to [`Intake::submit`]. Checks: every part once
//! (a repeated part number is refused with 409), the same m for every part of a group, no
//! empty part, and every part but the last the same size with the last no larger
//! (**\[model\]** as 7-Zip's split volumes are; a group failing that is discarded with 422).
//! While parts are missing the answer is 202 and a page naming the missing parts; nothing
//! partial is ever submitted. **\[model\]** The group's file name is part 1's with a split
//! suffix `.001`… removed. Pending groups live in memory: a restart drops them (the kommune
//! uploads again), as do more than [`MAX_PENDING_GROUPS`] per kommune.
//!
//! # Limits
//!
//! - [`SendemodulConfig::max_part_bytes`] (512 MiB) per upload: a `Content-Length` above it
//!   (plus [`FORM_OVERHEAD`] for the other fields) is refused with 413 before the body is
//!   read; a body without length is counted while it streams to a temporary file and refused
//!   with 413 the moment it passes the limit. An upload is never held in memory whole.
//! - A body that stalls for [`SendemodulConfig::read_timeout`], or a multipart body that ends
//!   without its closing boundary, is refused with 400.
//! - File names are reduced to their last path component (Internet Explorer sends
//!   `C:\…\fil.xml`; `../../x` becomes `x`); a name with NUL or control characters, or
//!   nothing left (`..`, empty), is refused with 400. The name is only ever data, never a path.
//! - Text fields: at most 4 KiB each, at most 32 fields.
//!
//! **\[model\]** The uploaded file is the IPLOS XML itself: the encryption of IPIS
//! krypteringsmodul v1.4 is not public, so the intake checks the content as uploaded.

mod pages;
mod upload;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};
use iplos_model::calendar::Clock;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::intake::Channel;
use crate::intake::Intake;

/// Allowance for the non-file fields of an upload form on top of the part limit.
pub const FORM_OVERHEAD: u64 = 1024 * 1024;
/// Most pending (incomplete) split uploads per kommune and portal.
pub const MAX_PENDING_GROUPS: usize = 20;
/// The session cookie's name.
pub const COOKIE: &str = "SendemodulSession";

/// Errors of the Sendemodul server.
#[derive(Debug, thiserror::Error)]
pub enum SendemodulError {
    /// Binding or the state directory failed.
    #[error("sendemodul I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration is not usable.
    #[error("sendemodul configuration: {0}")]
    Config(String),
}

/// The kommuner's PINs (the KOSTRA PIN, DOMAIN.md §3).
#[derive(Debug, Clone, Default)]
pub struct Pins {
    seed: u64,
    overrides: HashMap<String, String>,
}

impl Pins {
    /// A stable 6-digit PIN for kommune `knr` under `seed`.
    pub fn derive(seed: u64, knr: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"iplos-harness sendemodul pin\0");
        h.update(seed.to_be_bytes());
        h.update(knr.as_bytes());
        let d = h.finalize();
        let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000;
        format!("{n:06}")
    }

    /// Every kommune's PIN derived from `seed`.
    pub fn seeded(seed: u64) -> Pins {
        Pins {
            seed,
            overrides: HashMap::new(),
        }
    }

    /// Sets one kommune's PIN.
    pub fn with(mut self, knr: impl Into<String>, pin: impl Into<String>) -> Pins {
        self.overrides.insert(knr.into(), pin.into());
        self
    }

    /// The PIN of kommune `knr`.
    pub fn pin(&self, knr: &str) -> String {
        self.overrides
            .get(knr)
            .cloned()
            .unwrap_or_else(|| Pins::derive(self.seed, knr))
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct SendemodulConfig {
    /// Where to listen; 127.0.0.1:0 by default.
    pub bind: SocketAddr,
    /// Where split parts and uploads in progress are kept; `None`: a temporary directory
    /// removed at shutdown.
    pub state_dir: Option<PathBuf>,
    /// The season's data year: the login registry's year and the data year of submissions
    /// (the test portal's files are checked against the year before).
    pub data_year: i32,
    /// The PINs.
    pub pins: Pins,
    /// Kommuner with bydeler other than `00`: knr → allowed bydeler.
    pub bydeler: HashMap<String, Vec<String>>,
    /// Largest upload (one part), bytes. 512 MiB.
    pub max_part_bytes: u64,
    /// Most parts of a split upload.
    pub max_parts: u32,
    /// Failed logins for one kommunenummer before it is locked out (5).
    pub max_failures: u32,
    /// Failed logins from one client address before it is locked out (100): far looser
    /// than per kommune, since many kommuner may share an address (NAT, one host).
    pub max_failures_per_address: u32,
    /// The HTTP server's limits (header timeout and size, connections).
    pub http: crate::http_limits::HttpLimits,
    /// How long a lockout lasts (injected clock).
    pub lockout: Duration,
    /// A session ends after this long without a request (injected clock). **\[model\]** 30 min.
    pub session_lifetime: Duration,
    /// An upload body that sends nothing for this long is refused (wall time).
    pub read_timeout: std::time::Duration,
}

impl Default for SendemodulConfig {
    fn default() -> Self {
        SendemodulConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir: None,
            data_year: 2017,
            pins: Pins::seeded(0),
            bydeler: HashMap::new(),
            max_part_bytes: 512 * 1024 * 1024,
            max_parts: 100,
            max_failures: 5,
            max_failures_per_address: 100,
            http: crate::http_limits::HttpLimits::default(),
            lockout: Duration::minutes(15),
            session_lifetime: Duration::minutes(30),
            read_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// How a login attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginOutcome {
    /// Logged in.
    Success,
    /// Refused; the fields that were wrong (`kommunenr`, `bydel`, `orgnr`, `pin`).
    Refused(Vec<&'static str>),
    /// Refused because the kommunenummer or the address is locked out.
    Locked,
}

/// A login attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginAttempt {
    /// When (injected clock).
    pub at: DateTime<Utc>,
    /// Test or ordinary portal.
    pub channel: Channel,
    /// The kommunenummer as typed (escaped, at most 16 characters).
    pub kommunenr: String,
    /// The client's address.
    pub client: IpAddr,
    /// The outcome.
    pub outcome: LoginOutcome,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) channel: Channel,
    pub(crate) kommunenr: String,
    pub(crate) kommune_name: String,
    pub(crate) bydel: String,
    pub(crate) csrf: String,
    pub(crate) expires: DateTime<Utc>,
}

/// A refused login: the outcome and, when locked, until when.
pub(crate) type Refused = (LoginOutcome, Option<DateTime<Utc>>);

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    locked_until: Option<DateTime<Utc>>,
}

const MAX_ATTEMPTS_KEPT: usize = 10_000;

pub(crate) struct App {
    pub(crate) config: SendemodulConfig,
    pub(crate) intake: Intake,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) parts_dir: PathBuf,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Failures>>,
    attempts: Mutex<VecDeque<LoginAttempt>>,
    pub(crate) groups: Mutex<HashMap<upload::GroupKey, upload::Group>>,
    _tmp: Option<tempfile::TempDir>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl App {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn registry_year(&self) -> u16 {
        u16::try_from(self.config.data_year).unwrap_or(0)
    }

    /// The session of a cookie value on `channel`, extended on use.
    pub(crate) fn session(&self, token: &str, channel: Channel) -> Option<Session> {
        let now = self.now();
        let mut sessions = lock(&self.sessions);
        let s = sessions.get_mut(token)?;
        if s.expires <= now {
            sessions.remove(token);
            return None;
        }
        if s.channel != channel {
            return None;
        }
        s.expires = now + self.config.session_lifetime;
        Some(s.clone())
    }

    pub(crate) fn end_session(&self, token: &str) {
        lock(&self.sessions).remove(token);
    }

    fn record(&self, a: LoginAttempt) {
        let mut l = lock(&self.attempts);
        if l.len() >= MAX_ATTEMPTS_KEPT {
            l.pop_front();
        }
        l.push_back(a);
    }

    /// The lockout end for this kommunenummer or address, if locked now.
    pub(crate) fn locked_until(&self, knr: &str, ip: IpAddr) -> Option<DateTime<Utc>> {
        let now = self.now();
        let f = lock(&self.failures);
        [format!("knr:{knr}"), format!("ip:{ip}")]
            .iter()
            .filter_map(|k| f.get(k).and_then(|x| x.locked_until))
            .filter(|u| *u > now)
            .max()
    }

    /// Checks a login; `Ok(token)` or the outcome of a refusal.
    pub(crate) fn login(
        &self,
        channel: Channel,
        form: &pages::LoginForm,
        ip: IpAddr,
    ) -> Result<(String, Session), Refused> {
        let now = self.now();
        let knr: String = form.kommunenr.trim().chars().take(16).collect();
        let knr_logged: String = knr.escape_debug().collect();
        if let Some(until) = self.locked_until(&knr, ip) {
            tracing::warn!(target: "iplos_mocks::sendemodul", kommunenr = %knr_logged, client = %ip, %until, "login refused: locked out");
            self.record(LoginAttempt {
                at: now,
                channel,
                kommunenr: knr_logged,
                client: ip,
                outcome: LoginOutcome::Locked,
            });
            return Err((LoginOutcome::Locked, Some(until)));
        }
        let bydel = form.bydel.trim();
        let mut wrong: Vec<&'static str> = Vec::new();
        let kommune = iplos_model::municipality::lookup(self.registry_year(), &knr).ok();
        match kommune {
            None => wrong.push("kommunenr"),
            Some(m) => {
                let allowed = self.config.bydeler.get(m.number());
                let ok = match allowed {
                    Some(list) => list.iter().any(|b| b == bydel),
                    None => bydel == "00",
                };
                if !ok {
                    wrong.push("bydel");
                }
                if form.orgnr.trim().replace(' ', "") != m.orgnr() {
                    wrong.push("orgnr");
                }
                let pin = self.config.pins.pin(m.number());
                if !constant_time_eq(form.pin.trim().as_bytes(), pin.as_bytes()) {
                    wrong.push("pin");
                }
            }
        }
        let keys = [format!("knr:{knr}"), format!("ip:{ip}")];
        if let (true, Some(m)) = (wrong.is_empty(), kommune) {
            {
                let mut f = lock(&self.failures);
                for k in &keys {
                    f.remove(k);
                }
            }
            let token = random_hex(32);
            let session = Session {
                channel,
                kommunenr: m.number().to_string(),
                kommune_name: m.name().to_string(),
                bydel: bydel.to_string(),
                csrf: random_hex(16),
                expires: now + self.config.session_lifetime,
            };
            {
                let mut s = lock(&self.sessions);
                s.retain(|_, v| v.expires > now);
                s.insert(token.clone(), session.clone());
            }
            tracing::info!(target: "iplos_mocks::sendemodul", kommunenr = %knr, %bydel, %channel, client = %ip, "login");
            self.record(LoginAttempt {
                at: now,
                channel,
                kommunenr: knr_logged,
                client: ip,
                outcome: LoginOutcome::Success,
            });
            return Ok((token, session));
        }
        let mut until = None;
        {
            let mut f = lock(&self.failures);
            if f.len() > 100_000 {
                f.retain(|_, v| v.locked_until.is_some_and(|u| u > now));
            }
            let limits = [
                self.config.max_failures,
                self.config.max_failures_per_address,
            ];
            for (k, limit) in keys.iter().zip(limits) {
                let e = f.entry(k.clone()).or_default();
                if e.locked_until.is_some_and(|u| u <= now) {
                    e.locked_until = None;
                }
                e.count += 1;
                if e.count >= limit {
                    e.count = 0;
                    let u = now + self.config.lockout;
                    e.locked_until = Some(u);
                    until = Some(u);
                    tracing::warn!(target: "iplos_mocks::sendemodul", key = %k.escape_debug(), %u, "locked out after repeated failed logins");
                }
            }
        }
        tracing::warn!(target: "iplos_mocks::sendemodul", kommunenr = %knr_logged, wrong = ?wrong, client = %ip, %channel, "login refused");
        self.record(LoginAttempt {
            at: now,
            channel,
            kommunenr: knr_logged,
            client: ip,
            outcome: LoginOutcome::Refused(wrong.clone()),
        });
        Err((LoginOutcome::Refused(wrong), until))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A running Sendemodul. Dropping it stops the server (without waiting).
pub struct Sendemodul {
    app: Arc<App>,
    addr: SocketAddr,
    base_url: String,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sendemodul {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sendemodul")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Sendemodul {
    /// Binds and serves both portals in front of `intake`. Must be called within a tokio
    /// runtime.
    pub async fn start(
        config: SendemodulConfig,
        intake: Intake,
        clock: Arc<dyn Clock>,
    ) -> Result<Sendemodul, SendemodulError> {
        if config.max_part_bytes == 0
            || config.max_parts == 0
            || config.max_failures == 0
            || config.max_failures_per_address == 0
        {
            return Err(SendemodulError::Config(
                "max_part_bytes, max_parts and max_failures must be positive".into(),
            ));
        }
        if config.lockout <= Duration::zero() || config.session_lifetime <= Duration::zero() {
            return Err(SendemodulError::Config(
                "lockout and session_lifetime must be positive".into(),
            ));
        }
        if u16::try_from(config.data_year)
            .ok()
            .and_then(|y| iplos_model::municipality::municipalities(y).ok())
            .is_none()
        {
            return Err(SendemodulError::Config(format!(
                "no kommune registry for data year {}",
                config.data_year
            )));
        }
        let (parts_dir, tmp) = match &config.state_dir {
            Some(d) => {
                let p = d.join("sendemodul-parts");
                std::fs::create_dir_all(&p)?;
                (p, None)
            }
            None => {
                let t = tempfile::Builder::new().prefix("sendemodul-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App {
            config,
            intake,
            clock,
            parts_dir,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            attempts: Mutex::new(VecDeque::new()),
            groups: Mutex::new(HashMap::new()),
            _tmp: tmp,
        });
        let router = pages::routes(&app).with_state(app.clone());
        let http = app.config.http;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                while !*stopped.borrow_and_update() {
                    if stopped.changed().await.is_err() {
                        break;
                    }
                }
            };
            crate::http_limits::serve(listener, router, http, shutdown).await;
        });
        tracing::info!(target: "iplos_mocks::sendemodul", %addr, "sendemodul listening");
        Ok(Sendemodul {
            app,
            addr,
            base_url: format!("http://{addr}"),
            stop,
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The start page of a portal: `<base>/Sendemodul/` or `<base>/SendemodulTEST/`.
    pub fn portal_url(&self, channel: Channel) -> String {
        format!("{}/{}/", self.base_url, portal_name(channel))
    }

    /// The PIN kommune `knr` logs in with.
    pub fn pin(&self, knr: &str) -> String {
        self.app.config.pins.pin(knr)
    }

    /// The intake behind the server.
    pub fn intake(&self) -> &Intake {
        &self.app.intake
    }

    /// The login attempts recorded (the latest 10 000).
    pub fn login_attempts(&self) -> Vec<LoginAttempt> {
        lock(&self.app.attempts).iter().cloned().collect()
    }

    /// Pending split uploads: (kommunenr, group id, parts received, part count).
    pub fn pending_groups(&self) -> Vec<(String, String, Vec<u32>, u32)> {
        lock(&self.app.groups)
            .iter()
            .map(|(k, g)| {
                (
                    k.kommunenr.clone(),
                    k.group.clone(),
                    g.parts.keys().copied().collect(),
                    g.count,
                )
            })
            .collect()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sendemodul {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The path segment of a portal.
pub fn portal_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Ordinary => "Sendemodul",
        Channel::Test => "SendemodulTEST",
    }
}

pub(crate) fn parse_portal(s: &str) -> Option<Channel> {
    match s {
        "Sendemodul" => Some(Channel::Ordinary),
        "SendemodulTEST" => Some(Channel::Test),
        _ => None,
    }
}
