//! `run/endpoints.json`: where the EPJ connects, and the Sendemodul portals (read by the
//! reference EPJ and by scripted EPJs). It names only what the vendor has anyway: no secret
//! of the harness and no path into `DIR/harness`.

use std::path::PathBuf;

use serde::Serialize;

/// `run/endpoints.json`: what the EPJ needs to connect.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Endpoints {
    pub kommune: String,
    /// The Sendemodul portals (the older annual formats).
    pub sendemodul: SendemodulEndpoints,
    pub her_id: u32,
    pub amqps: Amqps,
    pub wrong_host: HostPort,
    pub register_validation_her_id: u32,
    pub register_production_her_id: u32,
    pub web: String,
    pub status: String,
    pub time_scale: f64,
    /// The kommune's share of the test PKI (`DIR/vendor/pki`, see
    /// `iplos_mocks::pki::PartyExport`).
    pub pki: PathBuf,
    /// The session's address register on the live page: append a HER-id
    /// (`GET <address_register><her-id>`).
    #[serde(default)]
    pub address_register: String,
}

/// The broker's address and login.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Amqps {
    pub host: String,
    pub port: u16,
    pub namespace: String,
    pub username: String,
    pub password: String,
    /// The CA to trust (PEM, `DIR/vendor/tls/ca.pem`).
    pub ca: PathBuf,
    /// `amqps://user:password@host:port/namespace`.
    pub url: String,
}

/// The Sendemodul portals and the kommune's four login values.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SendemodulEndpoints {
    /// The session's portal (`…/Sendemodul/`).
    pub url: String,
    /// A second portal that rejects the kommune's PIN (phase `sendemodul-refused`).
    pub refusing_url: String,
    pub kommunenr: String,
    pub bydel: String,
    pub orgnr: String,
    pub pin: String,
    /// The largest part the portals take, in bytes.
    pub part_limit_bytes: u64,
}

/// The Sendemodul part limit of a session: small, so that an annual file must be split.
pub const SENDEMODUL_PART_LIMIT: u64 = 16 * 1024;

/// A host and port.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}
