//! A test PKI for the service bus: a test CA with its CRL, the register's enterprise
//! certificates ("virksomhetssertifikat") and certificate pairs for kommuner and vendors,
//! all kept in one directory so that a vendor's client can be configured with the files.
//!
//! Every party gets a **signing** certificate (keyUsage nonRepudiation + digitalSignature)
//! and an **encryption** certificate (keyUsage keyEncipherment + dataEncipherment), as the
//! Norwegian enterprise certificates come in pairs (DOMAIN §4). Subjects look like
//! `CN=<name> - signering, O=<name>, serialNumber=<orgnr>, organizationIdentifier=NTRNO-<orgnr>, C=NO`:
//! `serialNumber` is where SEID 1 certificates carry the organisation number and
//! `organizationIdentifier` (`NTRNO-` + orgnr) is the SEID 2 form; both are written so that
//! clients looking for either find it.
//!
//! # Layout of the directory
//!
//! ```text
//! index.json                       what was issued (see [`Index`])
//! ca/ca.pem, ca/ca.key.pem         the trusted test CA
//! ca/crl.pem                       its current CRL (reissued on every revocation)
//! untrusted-ca/ca.pem, ca.key.pem  a second CA nobody trusts ("wrong CA" certificates)
//! <herid>/signing.pem              a party's signing certificate (PEM)
//! <herid>/signing.key.pem          its private key (PKCS#8 PEM, unencrypted, mode 0600)
//! <herid>/signing.p12              certificate + key + CA as PKCS#12 (see below)
//! <herid>/encryption.pem, encryption.key.pem, encryption.p12
//! <herid>/<variant>/...            negative-test pairs: expired, not-yet-valid, revoked,
//!                                  wrong-ca, wrong-key-usage (same file names)
//! ```
//!
//! One party's share — its own pair with the keys, its counterparts' certificates without
//! theirs, the CA's certificate and CRL — is written to a folder of its own by
//! [`Pki::export_party`] and read back by [`PartyExport`] (what a vendor is handed).
//!
//! PKCS#12 files use the modern OpenSSL 3 algorithms (PBES2 with AES-256-CBC for key and
//! certificates, HMAC-SHA-256 MAC) and the password in [`PkiConfig::p12_password`]. Older
//! Windows tooling writes the legacy RC2-40/3DES form; reading such files with OpenSSL 3
//! needs the legacy provider (`openssl::provider::Provider::try_load(None, "legacy", true)`,
//! or `-legacy` on the command line). This PKI never writes the legacy form.
//!
//! # Validity
//!
//! The CA, the CRL and all normal certificates are valid over one window
//! ([`PkiConfig::valid_from`] .. [`PkiConfig::valid_until`], by default 2015-01-01 to
//! 2035-01-01), so that a season on a virtual clock (2016–2024) and tests on the system clock
//! see the same verdicts. Expired certificates end one day before the window starts; not yet
//! valid ones start one day after it ends; [`IssueOptions::validity`] sets any other window
//! (for a certificate that expires in the middle of a season).
//!
//! Serial numbers are consecutive integers from 1 (the trusted CA is 1, the untrusted CA 2),
//! so a test can predict them. Keys come from OpenSSL's random generator.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use iplos_model::ids::{HerId, OrgNr};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{
    CrlNumber, X509, X509Builder, X509Crl, X509CrlBuilder, X509Name, X509NameBuilder, X509NameRef,
    X509RevokedBuilder,
};
use serde::{Deserialize, Serialize};

use crate::cms::TrustStore;
pub use crate::cms::name_to_string;

mod export;
use crate::text_enum::text_enum;
pub use export::{COUNTERPART_DIR, CounterpartRecord, ExportIndex, PartyExport, PublicParty};

/// Default HER-id of the register: KPR in production 2019–2021 (DOMAIN §4).
pub const DEFAULT_REGISTER_HER_ID: u32 = 134_197;
/// Default organisation number of the register: Helsedirektoratet (983 544 622).
pub const DEFAULT_REGISTER_ORGNR: &str = "983544622";
/// Default name of the register.
pub const DEFAULT_REGISTER_NAME: &str = "Helsedirektoratet KPR";
/// Subject of the trusted test CA.
pub const CA_SUBJECT: &str = "CN=iplos-harness Test CA, O=iplos-harness, C=NO";
/// Subject of the untrusted CA that issues "wrong CA" certificates.
pub const UNTRUSTED_CA_SUBJECT: &str = "CN=iplos-harness Untrusted CA, O=iplos-harness, C=NO";

const INDEX_FILE: &str = "index.json";
const DAY: i64 = 86_400;

/// Errors of the test PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// OpenSSL refused an operation.
    #[error("openssl: {0}")]
    OpenSsl(#[from] ErrorStack),
    /// `index.json` is not what this module writes.
    #[error("{path}: not a PKI index: {source}")]
    Index {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// [`Pki::init`] on a directory that already holds a PKI.
    #[error("{0} already holds a PKI (index.json exists); use Pki::load")]
    AlreadyExists(PathBuf),
    /// A value in the configuration is unusable.
    #[error("invalid PKI configuration: {0}")]
    Config(String),
    /// No certificate with that serial number was issued.
    #[error("no certificate with serial {0} was issued by the trusted CA")]
    UnknownSerial(u64),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How a PKI is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkiConfig {
    /// The register's HER-id (the party whose certificates [`Pki::register`] returns).
    pub register_her_id: u32,
    /// The register's organisation number.
    pub register_orgnr: String,
    /// The register's name (CN and O of its certificates).
    pub register_name: String,
    /// RSA key size: 2048 or 3072.
    pub key_bits: u32,
    /// Start of the validity window of the CA and the normal certificates.
    pub valid_from: DateTime<Utc>,
    /// End of the validity window.
    pub valid_until: DateTime<Utc>,
    /// Password of every `.p12` file (a test PKI: the password is not a secret).
    pub p12_password: String,
}

impl Default for PkiConfig {
    fn default() -> Self {
        PkiConfig {
            register_her_id: DEFAULT_REGISTER_HER_ID,
            register_orgnr: DEFAULT_REGISTER_ORGNR.into(),
            register_name: DEFAULT_REGISTER_NAME.into(),
            key_bits: 2048,
            valid_from: Utc.with_ymd_and_hms(2015, 1, 1, 0, 0, 0).unwrap(),
            valid_until: Utc.with_ymd_and_hms(2035, 1, 1, 0, 0, 0).unwrap(),
            p12_password: "iplos-harness".into(),
        }
    }
}

/// What kind of certificate pair to issue: normal, or one of the negative-test kinds
/// (`valid`, `expired`, `not-yet-valid`, `revoked`, `wrong-ca`, `wrong-key-usage`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Variant {
    /// Valid, issued by the trusted CA.
    Valid,
    /// Validity ended before the PKI's window.
    Expired,
    /// Validity starts after the PKI's window.
    NotYetValid,
    /// Valid, but on the CRL (the CRL is reissued).
    Revoked,
    /// Valid, but issued by the untrusted CA.
    WrongCa,
    /// Key usages swapped: the signing certificate has only keyEncipherment +
    /// dataEncipherment, the encryption certificate only digitalSignature.
    WrongKeyUsage,
}

impl Variant {
    /// All variants.
    pub const ALL: [Variant; 6] = [
        Variant::Valid,
        Variant::Expired,
        Variant::NotYetValid,
        Variant::Revoked,
        Variant::WrongCa,
        Variant::WrongKeyUsage,
    ];

    /// The name used for the sub-directory (`None` for [`Variant::Valid`]).
    pub fn dir_name(self) -> Option<&'static str> {
        match self {
            Variant::Valid => None,
            v => Some(v.into()),
        }
    }
}

text_enum!(Variant, Role);

/// Which certificate of a pair (`signing`, `encryption`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Role {
    /// Signing certificate (nonRepudiation).
    Signing,
    /// Encryption certificate (keyEncipherment).
    Encryption,
}

impl Role {
    /// The file stem: `signing` or `encryption`.
    pub fn file_stem(self) -> &'static str {
        self.into()
    }
}

/// Options for [`Pki::issue_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueOptions {
    /// Which kind of pair.
    pub variant: Variant,
    /// Explicit validity window (overrides the one the variant implies).
    pub validity: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Sub-directory under `<herid>/` (default: the variant's name; none for valid pairs).
    pub subdir: Option<String>,
}

impl IssueOptions {
    /// Options for a variant with its default validity and directory.
    pub fn variant(variant: Variant) -> Self {
        IssueOptions {
            variant,
            validity: None,
            subdir: None,
        }
    }
}

/// A certificate with its private key and where the files are.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The certificate.
    pub cert: X509,
    /// Its private key.
    pub key: PKey<Private>,
    /// The PEM certificate file.
    pub cert_path: PathBuf,
    /// The PEM private key file.
    pub key_path: PathBuf,
    /// The PKCS#12 file.
    pub p12_path: PathBuf,
}

/// A party's certificate pair.
#[derive(Debug, Clone)]
pub struct Party {
    /// HER-id.
    pub her_id: HerId,
    /// Organisation number.
    pub orgnr: String,
    /// Name.
    pub name: String,
    /// The kind of pair.
    pub variant: Variant,
    /// The signing certificate and key.
    pub signing: Credential,
    /// The encryption certificate and key.
    pub encryption: Credential,
}

/// A certificate in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRecord {
    /// Serial number.
    pub serial: u64,
    /// Subject, one line.
    pub subject: String,
    /// Issuer, one line.
    pub issuer: String,
    /// notBefore (RFC 3339).
    pub not_before: DateTime<Utc>,
    /// notAfter (RFC 3339).
    pub not_after: DateTime<Utc>,
    /// SHA-256 fingerprint of the DER certificate, upper-case hex with colons.
    pub sha256: String,
    /// SHA-1 fingerprint ("thumbprint", as Windows shows it), upper-case hex.
    pub sha1: String,
    /// Certificate file, relative to the PKI directory.
    pub cert: String,
}

/// One issued end-entity certificate in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedRecord {
    /// HER-id of the party.
    pub her_id: u32,
    /// Organisation number.
    pub orgnr: String,
    /// Name.
    pub name: String,
    /// Kind of pair.
    pub variant: Variant,
    /// Signing or encryption.
    pub role: Role,
    /// Certificate details.
    #[serde(flatten)]
    pub cert: CertRecord,
    /// Private key file, relative.
    pub key: String,
    /// PKCS#12 file, relative.
    pub p12: String,
}

/// A revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedRecord {
    /// Serial number.
    pub serial: u64,
    /// Revocation date.
    pub date: DateTime<Utc>,
}

/// `index.json`: the configuration and everything issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// How the PKI was made.
    pub config: PkiConfig,
    /// The next serial number.
    pub next_serial: u64,
    /// The number of the current CRL.
    pub crl_number: u64,
    /// The trusted CA.
    pub ca: CertRecord,
    /// The untrusted CA.
    pub untrusted_ca: CertRecord,
    /// Revoked serials (all issued by the trusted CA).
    pub revoked: Vec<RevokedRecord>,
    /// Every end-entity certificate, in the order issued (a reissued pair adds records;
    /// the files hold the latest).
    pub issued: Vec<IssuedRecord>,
}

/// An open test PKI.
pub struct Pki {
    dir: PathBuf,
    index: Index,
    ca_cert: X509,
    ca_key: PKey<Private>,
    untrusted_cert: X509,
    untrusted_key: PKey<Private>,
    crl: X509Crl,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .field("issued", &self.index.issued.len())
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// Creates a PKI with the default configuration in `dir` (created if missing): both
    /// CAs, an empty CRL and the register's certificate pair.
    pub fn init(dir: impl AsRef<Path>) -> Result<Pki, PkiError> {
        Pki::init_with(dir, PkiConfig::default())
    }

    /// Creates a PKI with the given configuration.
    pub fn init_with(dir: impl AsRef<Path>, config: PkiConfig) -> Result<Pki, PkiError> {
        let dir = dir.as_ref().to_path_buf();
        if dir.join(INDEX_FILE).exists() {
            return Err(PkiError::AlreadyExists(dir));
        }
        if config.key_bits != 2048 && config.key_bits != 3072 {
            return Err(PkiError::Config(format!(
                "key_bits must be 2048 or 3072, not {}",
                config.key_bits
            )));
        }
        if config.valid_until <= config.valid_from {
            return Err(PkiError::Config(
                "valid_until must be after valid_from".into(),
            ));
        }
        let register_her = HerId::new(config.register_her_id)
            .map_err(|e| PkiError::Config(format!("register_her_id: {e}")))?;
        let register_orgnr = OrgNr::parse(&config.register_orgnr)
            .map_err(|e| PkiError::Config(format!("register_orgnr: {e}")))?;
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;

        let from = config.valid_from.timestamp();
        let until = config.valid_until.timestamp();
        let ca_key = new_key(config.key_bits)?;
        let ca_cert = make_ca(CA_SUBJECT, &ca_key, 1, from, until)?;
        let untrusted_key = new_key(config.key_bits)?;
        let untrusted_cert = make_ca(UNTRUSTED_CA_SUBJECT, &untrusted_key, 2, from, until)?;

        write_pem_pair(&dir, "ca/ca", &ca_cert, &ca_key)?;
        write_pem_pair(&dir, "untrusted-ca/ca", &untrusted_cert, &untrusted_key)?;
        let crl = make_crl(&ca_cert, &ca_key, 1, &[], from, until)?;
        write_file(&dir.join("ca/crl.pem"), &crl.to_pem()?, false)?;

        let index = Index {
            ca: cert_record(&ca_cert, 1, "ca/ca.pem")?,
            untrusted_ca: cert_record(&untrusted_cert, 2, "untrusted-ca/ca.pem")?,
            config,
            next_serial: 3,
            crl_number: 1,
            revoked: Vec::new(),
            issued: Vec::new(),
        };
        let mut pki = Pki {
            dir,
            index,
            ca_cert,
            ca_key,
            untrusted_cert,
            untrusted_key,
            crl,
        };
        let name = pki.index.config.register_name.clone();
        pki.issue(register_her, &register_orgnr, &name)?;
        Ok(pki)
    }

    /// Opens an existing PKI.
    pub fn load(dir: impl AsRef<Path>) -> Result<Pki, PkiError> {
        let dir = dir.as_ref().to_path_buf();
        let index_path = dir.join(INDEX_FILE);
        let text = fs::read(&index_path).map_err(io_err(&index_path))?;
        let index: Index = serde_json::from_slice(&text).map_err(|source| PkiError::Index {
            path: index_path.clone(),
            source,
        })?;
        let (ca_cert, ca_key) = read_pem_pair(&dir, "ca/ca")?;
        let (untrusted_cert, untrusted_key) = read_pem_pair(&dir, "untrusted-ca/ca")?;
        let crl_path = dir.join("ca/crl.pem");
        let crl = X509Crl::from_pem(&fs::read(&crl_path).map_err(io_err(&crl_path))?)?;
        Ok(Pki {
            dir,
            index,
            ca_cert,
            ca_key,
            untrusted_cert,
            untrusted_key,
            crl,
        })
    }

    /// The PKI directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index (configuration and everything issued).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The configuration.
    pub fn config(&self) -> &PkiConfig {
        &self.index.config
    }

    /// The trusted test CA certificate.
    pub fn ca_cert(&self) -> &X509 {
        &self.ca_cert
    }

    /// The untrusted CA certificate.
    pub fn untrusted_ca_cert(&self) -> &X509 {
        &self.untrusted_cert
    }

    /// The current CRL of the trusted CA.
    pub fn crl(&self) -> &X509Crl {
        &self.crl
    }

    /// Path of the trusted CA certificate (PEM).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca/ca.pem")
    }

    /// Path of the current CRL (PEM).
    pub fn crl_path(&self) -> PathBuf {
        self.dir.join("ca/crl.pem")
    }

    /// A trust store with the trusted CA and its current CRL (revocation is checked).
    pub fn trust_store(&self) -> Result<TrustStore, crate::cms::CmsError> {
        TrustStore::new(vec![self.ca_cert.clone()])
            .with_crls(vec![X509Crl::from_der(&self.crl.to_der()?)?])
    }

    /// The register's certificate pair.
    pub fn register(&self) -> Result<Party, PkiError> {
        let her = HerId::new(self.index.config.register_her_id)
            .map_err(|e| PkiError::Config(e.to_string()))?;
        self.party(her, Variant::Valid)
    }

    /// Issues a valid certificate pair for a kommune or vendor (replacing the files of an
    /// earlier pair with the same HER-id).
    pub fn issue(&mut self, her_id: HerId, orgnr: &OrgNr, name: &str) -> Result<Party, PkiError> {
        self.issue_with(her_id, orgnr, name, &IssueOptions::variant(Variant::Valid))
    }

    /// Issues a pair of the given kind (see [`Variant`]) into `<herid>/<variant>/`.
    pub fn issue_variant(
        &mut self,
        her_id: HerId,
        orgnr: &OrgNr,
        name: &str,
        variant: Variant,
    ) -> Result<Party, PkiError> {
        self.issue_with(her_id, orgnr, name, &IssueOptions::variant(variant))
    }

    /// Issues a pair with full control over kind, validity and directory.
    pub fn issue_with(
        &mut self,
        her_id: HerId,
        orgnr: &OrgNr,
        name: &str,
        options: &IssueOptions,
    ) -> Result<Party, PkiError> {
        self.issue_with_keys(her_id, orgnr, name, options, None)
    }

    /// As [`issue_with`](Self::issue_with), with the (signing, encryption) key pairs given
    /// instead of generated: RSA key generation is most of the cost of a pair (about 0.5 s),
    /// so a rehearsal of hundreds of kommuner certifies one vendor-held key pair per
    /// kommune certificate. Each certificate is still the kommune's own (subject, serial).
    pub fn issue_with_keys(
        &mut self,
        her_id: HerId,
        orgnr: &OrgNr,
        name: &str,
        options: &IssueOptions,
        keys: Option<(&PKey<Private>, &PKey<Private>)>,
    ) -> Result<Party, PkiError> {
        let cfg = &self.index.config;
        let (from, until) = match (options.validity, options.variant) {
            (Some((a, b)), _) => (a.timestamp(), b.timestamp()),
            (None, Variant::Expired) => (
                cfg.valid_from.timestamp() - 2 * 365 * DAY,
                cfg.valid_from.timestamp() - DAY,
            ),
            (None, Variant::NotYetValid) => (
                cfg.valid_until.timestamp() + DAY,
                cfg.valid_until.timestamp() + 2 * 365 * DAY,
            ),
            (None, _) => (cfg.valid_from.timestamp(), cfg.valid_until.timestamp()),
        };
        if until <= from {
            return Err(PkiError::Config("validity ends before it starts".into()));
        }
        let rel_dir = party_dir(her_id, options.variant, options.subdir.as_deref());
        let orgnr_s = orgnr.to_string();
        let mut records = Vec::new();
        for role in [Role::Signing, Role::Encryption] {
            let serial = self.index.next_serial;
            self.index.next_serial += 1;
            let key = match (keys, role) {
                (Some((k, _)), Role::Signing) | (Some((_, k)), Role::Encryption) => k.clone(),
                (None, _) => new_key(self.index.config.key_bits)?,
            };
            let usage = match (role, options.variant) {
                (Role::Signing, Variant::WrongKeyUsage) => Usage::Encryption,
                (Role::Encryption, Variant::WrongKeyUsage) => Usage::DigitalSignatureOnly,
                (Role::Signing, _) => Usage::Signing,
                (Role::Encryption, _) => Usage::Encryption,
            };
            let (issuer_cert, issuer_key) = if options.variant == Variant::WrongCa {
                (&self.untrusted_cert, &self.untrusted_key)
            } else {
                (&self.ca_cert, &self.ca_key)
            };
            let subject = party_subject(name, &orgnr_s, role)?;
            let cert = make_leaf(
                &subject,
                &key,
                issuer_cert,
                issuer_key,
                serial,
                from,
                until,
                usage,
            )?;
            let stem = format!("{rel_dir}/{}", role.file_stem());
            write_pem_pair(&self.dir, &stem, &cert, &key)?;
            let p12 = make_p12(
                &format!("{name} {}", role.file_stem()),
                &cert,
                &key,
                issuer_cert,
                &self.index.config.p12_password,
            )?;
            write_file(&self.dir.join(format!("{stem}.p12")), &p12, true)?;
            records.push(IssuedRecord {
                her_id: her_id.get(),
                orgnr: orgnr_s.clone(),
                name: name.to_string(),
                variant: options.variant,
                role,
                cert: cert_record(&cert, serial, &format!("{stem}.pem"))?,
                key: format!("{stem}.key.pem"),
                p12: format!("{stem}.p12"),
            });
        }
        let serials: Vec<u64> = records.iter().map(|r| r.cert.serial).collect();
        self.index.issued.extend(records);
        if options.variant == Variant::Revoked {
            for s in serials {
                self.revoke_serial(s, Utc.timestamp_opt(from, 0).single().unwrap_or_default())?;
            }
        }
        self.save_index()?;
        let dir = self.dir.join(&rel_dir);
        let mut party = load_party(&dir, her_id, options.variant)?;
        party.orgnr = orgnr_s;
        party.name = name.to_string();
        Ok(party)
    }

    /// Loads a party's pair from the files (`<herid>/` or `<herid>/<variant>/`).
    pub fn party(&self, her_id: HerId, variant: Variant) -> Result<Party, PkiError> {
        let dir = self.dir.join(party_dir(her_id, variant, None));
        let mut party = load_party(&dir, her_id, variant)?;
        if let Some(r) = self
            .index
            .issued
            .iter()
            .rev()
            .find(|r| r.her_id == her_id.get() && r.variant == variant)
        {
            party.orgnr = r.orgnr.clone();
            party.name = r.name.clone();
        }
        Ok(party)
    }

    /// Revokes a certificate issued by the trusted CA (revocation date: the start of its
    /// validity, so it counts as revoked at any time) and reissues the CRL.
    pub fn revoke(&mut self, serial: u64) -> Result<(), PkiError> {
        let rec = self
            .index
            .issued
            .iter()
            .find(|r| r.cert.serial == serial && r.variant != Variant::WrongCa)
            .ok_or(PkiError::UnknownSerial(serial))?;
        let date = rec.cert.not_before;
        self.revoke_serial(serial, date)?;
        self.save_index()
    }

    fn revoke_serial(&mut self, serial: u64, date: DateTime<Utc>) -> Result<(), PkiError> {
        if !self.index.revoked.iter().any(|r| r.serial == serial) {
            self.index.revoked.push(RevokedRecord { serial, date });
        }
        self.index.crl_number += 1;
        let cfg = &self.index.config;
        self.crl = make_crl(
            &self.ca_cert,
            &self.ca_key,
            self.index.crl_number,
            &self.index.revoked,
            cfg.valid_from.timestamp(),
            cfg.valid_until.timestamp(),
        )?;
        write_file(&self.dir.join("ca/crl.pem"), &self.crl.to_pem()?, false)
    }

    fn save_index(&self) -> Result<(), PkiError> {
        let path = self.dir.join(INDEX_FILE);
        let mut text =
            serde_json::to_vec_pretty(&self.index).map_err(|source| PkiError::Index {
                path: path.clone(),
                source,
            })?;
        text.push(b'\n');
        write_file(&path, &text, false)
    }
}

fn party_dir(her_id: HerId, variant: Variant, subdir: Option<&str>) -> String {
    match subdir.or(variant.dir_name()) {
        Some(sub) => format!("{her_id}/{sub}"),
        None => her_id.to_string(),
    }
}

fn load_party(dir: &Path, her_id: HerId, variant: Variant) -> Result<Party, PkiError> {
    let cred = |role: Role| -> Result<Credential, PkiError> {
        let stem = role.file_stem();
        let cert_path = dir.join(format!("{stem}.pem"));
        let key_path = dir.join(format!("{stem}.key.pem"));
        let cert = X509::from_pem(&fs::read(&cert_path).map_err(io_err(&cert_path))?)?;
        let key = PKey::private_key_from_pem(&fs::read(&key_path).map_err(io_err(&key_path))?)?;
        Ok(Credential {
            cert,
            key,
            cert_path,
            key_path,
            p12_path: dir.join(format!("{stem}.p12")),
        })
    };
    Ok(Party {
        her_id,
        orgnr: String::new(),
        name: String::new(),
        variant,
        signing: cred(Role::Signing)?,
        encryption: cred(Role::Encryption)?,
    })
}

#[derive(Clone, Copy)]
enum Usage {
    Signing,
    Encryption,
    DigitalSignatureOnly,
}

/// A new RSA key of `bits` bits.
pub fn new_key(bits: u32) -> Result<PKey<Private>, ErrorStack> {
    PKey::from_rsa(Rsa::generate(bits)?)
}

fn parse_dn(dn: &str) -> Result<X509Name, ErrorStack> {
    let mut b = X509NameBuilder::new()?;
    // Certificate subjects are written most significant first (C, O, CN).
    let parts: Vec<(&str, &str)> = dn.split(", ").filter_map(|p| p.split_once('=')).collect();
    for (k, v) in parts.iter().rev() {
        b.append_entry_by_text(k, v)?;
    }
    Ok(b.build())
}

fn party_subject(name: &str, orgnr: &str, role: Role) -> Result<X509Name, ErrorStack> {
    let suffix = match role {
        Role::Signing => "signering",
        Role::Encryption => "kryptering",
    };
    let mut b = X509NameBuilder::new()?;
    b.append_entry_by_nid(Nid::COUNTRYNAME, "NO")?;
    b.append_entry_by_text("organizationIdentifier", &format!("NTRNO-{orgnr}"))?;
    b.append_entry_by_nid(Nid::SERIALNUMBER, orgnr)?;
    b.append_entry_by_nid(Nid::ORGANIZATIONNAME, name)?;
    b.append_entry_by_nid(Nid::COMMONNAME, &format!("{name} - {suffix}"))?;
    Ok(b.build())
}

fn serial_int(serial: u64) -> Result<Asn1Integer, ErrorStack> {
    BigNum::from_dec_str(&serial.to_string())?.to_asn1_integer()
}

fn base_builder(
    subject: &X509Name,
    key: &PKey<Private>,
    issuer: &X509NameRef,
    serial: u64,
    from: i64,
    until: i64,
) -> Result<X509Builder, ErrorStack> {
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = serial_int(serial)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(subject)?;
    b.set_issuer_name(issuer)?;
    b.set_pubkey(key)?;
    let (nb, na) = (Asn1Time::from_unix(from)?, Asn1Time::from_unix(until)?);
    b.set_not_before(&nb)?;
    b.set_not_after(&na)?;
    Ok(b)
}

fn make_ca(
    subject: &str,
    key: &PKey<Private>,
    serial: u64,
    from: i64,
    until: i64,
) -> Result<X509, ErrorStack> {
    let name = parse_dn(subject)?;
    let mut b = base_builder(&name, key, &name, serial, from, until)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    b.sign(key, MessageDigest::sha256())?;
    Ok(b.build())
}

#[allow(clippy::too_many_arguments)]
fn make_leaf(
    subject: &X509Name,
    key: &PKey<Private>,
    issuer: &X509,
    issuer_key: &PKey<Private>,
    serial: u64,
    from: i64,
    until: i64,
    usage: Usage,
) -> Result<X509, ErrorStack> {
    let mut b = base_builder(subject, key, issuer.subject_name(), serial, from, until)?;
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    let mut ku = KeyUsage::new();
    ku.critical();
    match usage {
        Usage::Signing => ku.non_repudiation().digital_signature(),
        Usage::Encryption => ku.key_encipherment().data_encipherment(),
        Usage::DigitalSignatureOnly => ku.digital_signature(),
    };
    b.append_extension(ku.build()?)?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(issuer), None))?;
    b.append_extension(ski)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(issuer), None))?;
    b.append_extension(aki)?;
    b.sign(issuer_key, MessageDigest::sha256())?;
    Ok(b.build())
}

fn make_crl(
    ca: &X509,
    ca_key: &PKey<Private>,
    number: u64,
    revoked: &[RevokedRecord],
    from: i64,
    until: i64,
) -> Result<X509Crl, ErrorStack> {
    let mut b = X509CrlBuilder::new()?;
    b.set_issuer_name(ca.subject_name())?;
    let (last, next) = (Asn1Time::from_unix(from)?, Asn1Time::from_unix(until)?);
    b.set_last_update(&last)?;
    b.set_next_update(&next)?;
    // The AKI of the CRL is derived from the CA certificate through an X509v3 context,
    // which only a certificate builder provides.
    let ctx_builder = X509Builder::new()?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&ctx_builder.x509v3_context(Some(ca), None))?;
    b.append_extension(aki)?;
    b.append_extension(CrlNumber::new(BigNum::from_dec_str(&number.to_string())?)?.build()?)?;
    for r in revoked {
        let mut rb = X509RevokedBuilder::new()?;
        let (serial, date) = (
            serial_int(r.serial)?,
            Asn1Time::from_unix(r.date.timestamp())?,
        );
        rb.set_serial_number(&serial)?;
        rb.set_revocation_date(&date)?;
        b.add_revoked(rb.build())?;
    }
    b.sort()?;
    b.sign(ca_key, MessageDigest::sha256())?;
    b.build()
}

fn make_p12(
    friendly: &str,
    cert: &X509,
    key: &PKey<Private>,
    ca: &X509,
    password: &str,
) -> Result<Vec<u8>, ErrorStack> {
    let mut chain = Stack::new()?;
    chain.push(ca.clone())?;
    let p12 = Pkcs12::builder()
        .name(friendly)
        .pkey(key)
        .cert(cert)
        .ca(chain)
        .key_algorithm(Nid::AES_256_CBC)
        .cert_algorithm(Nid::AES_256_CBC)
        .mac_md(MessageDigest::sha256())
        .build2(password)?;
    p12.to_der()
}

/// Hex with colons, upper case.
fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Converts an ASN.1 time to a UTC instant.
pub fn asn1_to_utc(t: &openssl::asn1::Asn1TimeRef) -> Result<DateTime<Utc>, ErrorStack> {
    let epoch = Asn1Time::from_unix(0)?;
    let d = epoch.diff(t)?;
    Ok(Utc
        .timestamp_opt(i64::from(d.days) * DAY + i64::from(d.secs), 0)
        .single()
        .unwrap_or_default())
}

fn cert_record(cert: &X509, serial: u64, rel_path: &str) -> Result<CertRecord, ErrorStack> {
    Ok(CertRecord {
        serial,
        subject: name_to_string(cert.subject_name()),
        issuer: name_to_string(cert.issuer_name()),
        not_before: asn1_to_utc(cert.not_before())?,
        not_after: asn1_to_utc(cert.not_after())?,
        sha256: hex_colon(&cert.digest(MessageDigest::sha256())?),
        sha1: hex_colon(&cert.digest(MessageDigest::sha1())?).replace(':', ""),
        cert: rel_path.to_string(),
    })
}

fn write_pem_pair(
    dir: &Path,
    stem: &str,
    cert: &X509,
    key: &PKey<Private>,
) -> Result<(), PkiError> {
    write_file(&dir.join(format!("{stem}.pem")), &cert.to_pem()?, false)?;
    write_file(
        &dir.join(format!("{stem}.key.pem")),
        &key.private_key_to_pem_pkcs8()?,
        true,
    )
}

fn read_pem_pair(dir: &Path, stem: &str) -> Result<(X509, PKey<Private>), PkiError> {
    let cp = dir.join(format!("{stem}.pem"));
    let kp = dir.join(format!("{stem}.key.pem"));
    let cert = X509::from_pem(&fs::read(&cp).map_err(io_err(&cp))?)?;
    let key = PKey::private_key_from_pem(&fs::read(&kp).map_err(io_err(&kp))?)?;
    Ok((cert, key))
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), PkiError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    // Write to a temporary name and rename, so a reader never sees half a file.
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(io_err(&tmp))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    fs::rename(&tmp, path).map_err(io_err(path))
}
