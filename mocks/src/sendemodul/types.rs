//! Sendemodul's configuration, errors, login records and portal names (a leaf: the
//! server's modules use these, and [`super`] re-exports them).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::intake::Channel;

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
