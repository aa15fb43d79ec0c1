//! A certification session directory, as `certify init` makes it and `certify check`,
//! `certify run`, `certify vendor` and `certify verify` read it. Two folders: what the
//! vendor gets, and what the harness keeps.
//!
//! ```text
//! DIR/vendor/                  what the operator hands over, exactly this folder
//!   session.json               vendor, kommune, year, seed, scale, HER-id, counts (Session)
//!   README.md                  the tester's instructions
//!   population.jsonl           the synthetic population to load into the EPJ
//!   credentials.json           the kommune's service bus username and password (mode 0600)
//!   pki/                       the kommune's share of the test PKI (mocks::pki::PartyExport):
//!                              pki/<her>/ its own pairs (the only private keys in the folder),
//!                              pki/register/<her>/ the register's certificates (134197,
//!                              131725), pki/ca.pem and crl.pem, pki/index.json
//!   tls/ca.pem                 the session's TLS CA certificate (for the EPJ's trust store)
//! DIR/harness/                 what the harness keeps (mode 0700), never for the vendor
//!   pki/                       the whole test PKI (CA and register keys; mocks::pki layout)
//!   tls/                       the TLS CA's key, the broker's certificate for
//!                              localhost/127.0.0.1 and one for another host name (CONN-03)
//!   expected/                  the answer key: what a perfect export would be
//!   signing/                   the harness's report-signing key and self-signed certificate
//! DIR/check/                   `certify check`'s results
//! DIR/run/                     `certify run`'s endpoints, live state, evidence and report
//! ```
//!
//! **\[model\]** The TLS material is the session's own small CA (EC P-256, valid for the
//! session's 30 days), not the virksomhetssertifikat PKI: on NHN's service bus the broker's
//! certificate is a public web certificate, unrelated to the message-level certificates.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::certify::facts::{
    ExpectedChanges, MessageFunction, RegisterEntry, TestSubmission, WrongPassword,
};
use crate::files::write_atomic;
use iplos_model::message::Kontaktperson;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};
use serde::{Deserialize, Serialize};

/// `session.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Session {
    pub vendor: String,
    pub kommune: String,
    pub kommune_name: String,
    pub year: u16,
    pub seed: u64,
    pub scale: f64,
    pub her_id: u32,
    pub tool: String,
    pub persons: usize,
    pub expected_notifications: usize,
    pub expected_corrections: usize,
    /// How many of the ordinary message's notifications are the initial load (they come
    /// first); the rest are the year's events.
    #[serde(default)]
    pub initial_load: usize,
    // What a vendor must not have to guess (issue #13; see `certify::guide`). Paths are
    // relative to the vendor folder (`DIR/vendor/`).
    /// The message function: AMQP `subject` and MsgHead `MsgInfo/Type`.
    #[serde(default)]
    pub message_function: MessageFunction,
    /// The registers: KPR Validering 131725 (test submission) and KPR 134197 (ordinary),
    /// each with its own certificates and address-register entry.
    #[serde(default)]
    pub registers: Vec<RegisterEntry>,
    /// The `reply-to` of every message: the kommune's own `<her-id>_async` queue.
    #[serde(default)]
    pub reply_to: String,
    /// `population.jsonl`'s JSON Schema (draft 2020-12).
    #[serde(default)]
    pub population_schema: String,
    /// The kommune's contact persons (`Kontaktperson`, the same as in the answer key).
    #[serde(default)]
    pub contact_persons: Vec<Kontaktperson>,
    /// The `typeKontaktperson` codes every message needs (rule IPL23): 16 and 17.
    #[serde(default)]
    pub required_contact_types: Vec<String>,
    /// The cut-off date of the initial load (`yyyy-mm-dd`): the services and stops active
    /// then are the initial load.
    #[serde(default)]
    pub cutoff: String,
    /// The corrections and annulments expected.
    #[serde(default)]
    pub expected_changes: ExpectedChanges,
    /// What the test submission holds.
    #[serde(default)]
    pub test_submission: TestSubmission,
    /// The wrong-password phase.
    #[serde(default)]
    pub wrong_password: WrongPassword,
}

impl Session {
    /// Reads `DIR/vendor/session.json`.
    pub fn load(dir: &Path) -> Result<Session> {
        let path = vendor_dir(dir).join("session.json");
        let bytes = fs::read(&path).with_context(|| {
            format!(
                "{} is not a certification session (no vendor/session.json; make one with `certify init`)",
                dir.display()
            )
        })?;
        serde_json::from_slice(&bytes).with_context(|| format!("{}", path.display()))
    }

    /// The session's data, generated again from its year, kommune, scale and seed exactly as
    /// `certify init` made it (the population, the expected messages).
    pub fn generate(&self) -> Result<iplos_generators::KommuneData> {
        let m = iplos_model::municipality::lookup(self.year, &self.kommune)
            .with_context(|| format!("kommune {}", self.kommune))?;
        iplos_generators::generate_kommune(
            self.year,
            m,
            &iplos_generators::GenConfig::with_scale(self.scale),
            self.seed,
        )
        .with_context(|| format!("generating {}", self.kommune))
    }

    /// The expected ordinary message (the answer key).
    pub fn expected_ordinary(dir: &Path) -> PathBuf {
        harness_dir(dir).join("expected").join("melding.xml")
    }

    /// The expected corrections message (the answer key).
    pub fn expected_corrections(dir: &Path) -> PathBuf {
        harness_dir(dir).join("expected").join("korreksjoner.xml")
    }
}

/// `credentials.json`: the kommune's service bus login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    /// Reads `DIR/vendor/credentials.json`, making it (a random password) when missing.
    pub fn load_or_create(dir: &Path, kommune: &str) -> Result<Credentials> {
        let path = vendor_dir(dir).join("credentials.json");
        if path.exists() {
            return serde_json::from_slice(&fs::read(&path)?)
                .with_context(|| format!("{}", path.display()));
        }
        let c = Credentials {
            username: format!("kommune{kommune}"),
            password: crate::identity::password(None, kommune)?,
        };
        write_atomic(&path, &serde_json::to_vec_pretty(&c)?, true)?;
        Ok(c)
    }
}

/// The session's TLS files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA the EPJ must trust: the copy in the vendor's folder (`vendor/tls/ca.pem`).
    pub ca: PathBuf,
    /// The CA's key (`harness/tls/ca.key.pem`).
    pub ca_key: PathBuf,
    /// The broker's certificate (localhost, 127.0.0.1) and key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A certificate from the same CA for another host name, and its key (CONN-03).
    pub wrong_host_cert: PathBuf,
    pub wrong_host_key: PathBuf,
}

/// The host name in the wrong-host certificate.
pub const WRONG_HOST: &str = "wrong-host.invalid";

impl TlsFiles {
    fn at(dir: &Path) -> TlsFiles {
        let d = harness_dir(dir).join("tls");
        TlsFiles {
            ca: vendor_dir(dir).join("tls").join("ca.pem"),
            ca_key: d.join("ca.key.pem"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key.pem"),
            wrong_host_cert: d.join("wrong-host.pem"),
            wrong_host_key: d.join("wrong-host.key.pem"),
        }
    }

    /// The session's TLS files, made when missing: the keys and the servers' certificates
    /// under `harness/tls/`, the CA's certificate there and in `vendor/tls/`.
    pub fn load_or_create(dir: &Path) -> Result<TlsFiles> {
        let t = TlsFiles::at(dir);
        if t.ca.exists() && t.server_cert.exists() && t.wrong_host_cert.exists() {
            return Ok(t);
        }
        let harness_tls = harness_dir(dir).join("tls");
        fs::create_dir_all(&harness_tls)?;
        fs::create_dir_all(vendor_dir(dir).join("tls"))?;
        let ca_key = ec_key()?;
        let ca = build_cert("IPLOS harness session TLS CA", &ca_key, None, &[], true)?;
        fs::write(harness_tls.join("ca.pem"), ca.to_pem()?)?;
        fs::write(&t.ca, ca.to_pem()?)?;
        write_atomic(&t.ca_key, &ca_key.private_key_to_pem_pkcs8()?, true)?;
        for (cert, key, names) in [
            (
                &t.server_cert,
                &t.server_key,
                &["DNS:localhost", "IP:127.0.0.1"][..],
            ),
            (
                &t.wrong_host_cert,
                &t.wrong_host_key,
                &["DNS:wrong-host.invalid"][..],
            ),
        ] {
            let k = ec_key()?;
            let c = build_cert(
                names[0].trim_start_matches("DNS:"),
                &k,
                Some((&ca, &ca_key)),
                names,
                false,
            )?;
            fs::write(cert, c.to_pem()?)?;
            write_atomic(key, &k.private_key_to_pem_pkcs8()?, true)?;
        }
        Ok(t)
    }
}

/// The vendor's folder of a session (`DIR/vendor`): what the operator hands over.
pub fn vendor_dir(dir: &Path) -> PathBuf {
    dir.join("vendor")
}

/// The harness's folder of a session (`DIR/harness`, mode 0700): never for the vendor.
pub fn harness_dir(dir: &Path) -> PathBuf {
    dir.join("harness")
}

/// The whole test PKI (`DIR/harness/pki`).
pub fn harness_pki_dir(dir: &Path) -> PathBuf {
    harness_dir(dir).join("pki")
}

/// The kommune's share of the PKI (`DIR/vendor/pki`).
pub fn vendor_pki_dir(dir: &Path) -> PathBuf {
    vendor_dir(dir).join("pki")
}

/// Makes `DIR/harness` readable by its owner only (0700).
pub fn make_harness_dir(dir: &Path) -> Result<PathBuf> {
    let h = harness_dir(dir);
    fs::create_dir_all(&h).with_context(|| format!("cannot make {}", h.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&h, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", h.display()))?;
    }
    Ok(h)
}

/// The harness's report-signing key and self-signed certificate
/// (`DIR/harness/signing/harness.key.pem`, `harness.pem`).
#[derive(Debug, Clone)]
pub struct SigningFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The subject's common name of the harness's report-signing certificate.
pub const SIGNING_CN: &str = "iplos-harness certification report signing";

impl SigningFiles {
    /// The session's signing files (they may not exist).
    pub fn at(dir: &Path) -> SigningFiles {
        let d = harness_dir(dir).join("signing");
        SigningFiles {
            cert: d.join("harness.pem"),
            key: d.join("harness.key.pem"),
        }
    }

    /// The signing files, made when missing: an EC P-256 key and a self-signed certificate
    /// naming the harness and the session (`CN=iplos-harness certification report signing,
    /// O=iplos-harness, OU=<vendor> <kommune>`), valid ten years (reports outlive sessions),
    /// for S/MIME signing (digitalSignature, nonRepudiation, emailProtection) — so that
    /// `openssl cms -verify -CAfile harness.pem` accepts what it signs.
    pub fn load_or_create(dir: &Path, session: &Session) -> Result<SigningFiles> {
        let s = SigningFiles::at(dir);
        if s.cert.exists() && s.key.exists() {
            return Ok(s);
        }
        if let Some(parent) = s.cert.parent() {
            fs::create_dir_all(parent)?;
        }
        let key = ec_key()?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::COUNTRYNAME, "NO")?;
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "iplos-harness")?;
        name.append_entry_by_nid(
            Nid::ORGANIZATIONALUNITNAME,
            &truncate(&format!("{} {}", session.vendor, session.kommune), 64),
        )?;
        name.append_entry_by_nid(Nid::COMMONNAME, SIGNING_CN)?;
        let name = name.build();
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let mut serial = BigNum::new()?;
        serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
        let serial = serial.to_asn1_integer()?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(3653)?);
        b.set_not_before(&from)?;
        b.set_not_after(&until)?;
        b.append_extension(BasicConstraints::new().critical().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .non_repudiation()
                .build()?,
        )?;
        b.append_extension(ExtendedKeyUsage::new().email_protection().build()?)?;
        b.sign(&key, MessageDigest::sha256())?;
        let cert = b.build();
        write_atomic(&s.key, &key.private_key_to_pem_pkcs8()?, true)?;
        write_atomic(&s.cert, &cert.to_pem()?, false)?;
        Ok(s)
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn ec_key() -> Result<PKey<Private>> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
}

fn build_cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    alt_names: &[&str],
    is_ca: bool,
) -> Result<X509> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))?;
    b.set_pubkey(key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(30)?);
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    if is_ca {
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
    } else {
        b.append_extension(BasicConstraints::new().critical().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_agreement()
                .build()?,
        )?;
        b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        let mut san = SubjectAlternativeName::new();
        for n in alt_names {
            match n.split_once(':') {
                Some(("DNS", d)) => {
                    san.dns(d);
                }
                Some(("IP", ip)) => {
                    san.ip(ip);
                }
                _ => {}
            }
        }
        let ctx = b.x509v3_context(issuer.map(|(c, _)| c.as_ref()), None);
        let ext = san.build(&ctx)?;
        b.append_extension(ext)?;
    }
    let signer = issuer.map_or(key, |(_, k)| k);
    b.sign(signer, MessageDigest::sha256())?;
    Ok(b.build())
}
