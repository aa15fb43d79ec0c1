//! `endpoints.json`: what a vendor needs to talk to `serve`'s endpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// `endpoints.json`.
#[derive(Debug, Serialize)]
pub(super) struct Endpoints {
    pub(super) generated_by: String,
    pub(super) data_year: u16,
    pub(super) amqp: Amqp,
    pub(super) sendemodul: SendemodulEndpoint,
    pub(super) filsluse: FilsluseEndpoint,
    pub(super) mail: MailEndpoint,
    pub(super) admin: AdminEndpoint,
    pub(super) register: Vec<RegisterEndpoint>,
    pub(super) pki: PkiFiles,
    pub(super) state: StateFiles,
    pub(super) kommuner: Vec<KommuneEndpoint>,
}

#[derive(Debug, Serialize)]
pub(super) struct Amqp {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: bool,
    /// The CA file to verify the broker's TLS certificate against (`amqps` to RabbitMQ,
    /// `--broker-ca`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ca: Option<std::path::PathBuf>,
    pub(super) url: String,
    pub(super) namespace: String,
    pub(super) send_address: String,
    pub(super) receive_address: String,
    pub(super) sasl: &'static str,
    pub(super) max_message_bytes: u64,
}

#[derive(Debug, Serialize)]
pub(super) struct SendemodulEndpoint {
    pub(super) ordinary_url: String,
    pub(super) test_url: String,
    pub(super) login_fields: [&'static str; 4],
    pub(super) upload_fields: [&'static str; 7],
}

#[derive(Debug, Serialize)]
pub(super) struct FilsluseEndpoint {
    pub(super) url: String,
    pub(super) api: String,
    pub(super) home_root: &'static str,
    pub(super) new_user_request: String,
}

#[derive(Debug, Serialize)]
pub(super) struct MailEndpoint {
    pub(super) smtp: String,
    pub(super) http_api: String,
    /// `Authorization: Bearer <token>` for the reading API.
    pub(super) token: String,
    pub(super) relay: Option<String>,
    /// The `--contacts` file, if any.
    pub(super) contacts: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub(super) struct AdminEndpoint {
    pub(super) url: String,
    /// `Authorization: Bearer <token>` for the operator API.
    pub(super) token: String,
    pub(super) publish_feedback: String,
}

#[derive(Debug, Serialize)]
pub(super) struct RegisterEndpoint {
    pub(super) her_id: u32,
    pub(super) name: String,
    pub(super) role: &'static str,
    pub(super) queue: String,
    pub(super) send_address: String,
}

#[derive(Debug, Serialize)]
pub(super) struct PkiFiles {
    pub(super) dir: PathBuf,
    pub(super) ca: PathBuf,
    pub(super) crl: PathBuf,
    pub(super) p12_password: String,
    pub(super) register_signing_cert: PathBuf,
    pub(super) register_encryption_cert: PathBuf,
}

#[derive(Debug, Serialize)]
pub(super) struct StateFiles {
    pub(super) dir: PathBuf,
    pub(super) run_store: PathBuf,
}

#[derive(Debug, Serialize)]
pub(super) struct KommuneEndpoint {
    pub(super) kommunenummer: String,
    pub(super) name: String,
    pub(super) orgnr: String,
    pub(super) bydel: &'static str,
    pub(super) sendemodul_pin: String,
    pub(super) filsluse_username: String,
    /// Where the kommune's filsluse mail goes: its `.test` postmottak, or its `--contacts`
    /// mailbox.
    pub(super) mail_to: String,
    pub(super) her_id: u32,
    pub(super) username: String,
    pub(super) password: String,
    pub(super) connection_string: String,
    pub(super) queues: BTreeMap<&'static str, String>,
    pub(super) certificates: Certificates,
}

#[derive(Debug, Serialize)]
pub(super) struct Certificates {
    pub(super) issued: bool,
    #[serde(flatten)]
    pub(super) files: CertPaths,
    pub(super) issue_command: String,
}

#[derive(Debug, Serialize)]
pub(super) struct CertPaths {
    pub(super) signing_cert: PathBuf,
    pub(super) signing_key: PathBuf,
    pub(super) signing_p12: PathBuf,
    pub(super) encryption_cert: PathBuf,
    pub(super) encryption_key: PathBuf,
    pub(super) encryption_p12: PathBuf,
}

/// A kommune's certificate files in the PKI directory.
pub(super) fn cert_paths(pki_dir: &Path, her: u32) -> CertPaths {
    let d = pki_dir.join(her.to_string());
    CertPaths {
        signing_cert: d.join("signing.pem"),
        signing_key: d.join("signing.key.pem"),
        signing_p12: d.join("signing.p12"),
        encryption_cert: d.join("encryption.pem"),
        encryption_key: d.join("encryption.key.pem"),
        encryption_p12: d.join("encryption.p12"),
    }
}
