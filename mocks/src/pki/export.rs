//! One party's share of a test PKI, for handing over: its own certificate pair *with* the
//! keys, its counterparts' certificates *without* theirs, and the trusted CA's certificate
//! and CRL — no other private key. [`Pki::export_party`] writes it; [`PartyExport`] reads it
//! back (a client configured from the folder alone).
//!
//! ```text
//! index.json                         what is where ([`ExportIndex`]), the .p12 password
//! ca.pem, crl.pem                    the trusted test CA's certificate and current CRL
//! <herid>/signing.pem, .key.pem, .p12, encryption.pem, .key.pem, .p12   the party's own pair
//! register/<herid>/signing.pem, encryption.pem   each counterpart's certificates
//! ```
//!
//! A counterpart HER-id without a pair of its own in the PKI gets the register's pair (the
//! register answers on all its HER-ids with the same certificates unless one has its own).

use std::fs;
use std::path::{Path, PathBuf};

use iplos_model::ids::HerId;
use openssl::x509::{X509, X509Crl};
use serde::{Deserialize, Serialize};

use super::{
    CertRecord, Credential, IssuedRecord, Party, Pki, PkiError, Role, Variant, cert_record, io_err,
    load_party, write_file,
};
use crate::cms::TrustStore;

const EXPORT_INDEX: &str = "index.json";
/// The sub-directory of the counterparts' certificates.
pub const COUNTERPART_DIR: &str = "register";

/// `index.json` of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportIndex {
    /// The password of the party's `.p12` files.
    pub p12_password: String,
    /// The trusted CA's certificate (relative path).
    pub ca: CertRecord,
    /// Its current CRL (relative path).
    pub crl: String,
    /// The party's own pair: certificates, keys and PKCS#12 files (relative paths).
    pub own: Vec<IssuedRecord>,
    /// The counterparts' certificates, no keys.
    pub counterparts: Vec<CounterpartRecord>,
}

/// One counterpart in [`ExportIndex`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterpartRecord {
    /// The HER-id it is addressed at.
    pub her_id: u32,
    /// Its name (as in its certificates).
    pub name: String,
    /// Its organisation number.
    pub orgnr: String,
    /// Its signing certificate (verifies what it signs).
    pub signing: CertRecord,
    /// Its encryption certificate (what is sent to it is encrypted for it).
    pub encryption: CertRecord,
}

/// A counterpart's public half: HER-id, name and certificates.
#[derive(Debug, Clone)]
pub struct PublicParty {
    /// The HER-id.
    pub her_id: HerId,
    /// The name.
    pub name: String,
    /// The organisation number.
    pub orgnr: String,
    /// The signing certificate.
    pub signing: X509,
    /// The encryption certificate.
    pub encryption: X509,
}

impl Pki {
    /// Writes `own`'s share of the PKI to `out` (see the module docs): its valid pair with
    /// the keys, the certificates of `counterparts` (HER-ids; without a pair of their own,
    /// the register's), the trusted CA's certificate and CRL. No other key is written.
    pub fn export_party(
        &self,
        out: &Path,
        own: HerId,
        counterparts: &[HerId],
    ) -> Result<ExportIndex, PkiError> {
        let party = self.party(own, Variant::Valid)?;
        let mut own_records = Vec::new();
        for (role, c) in [
            (Role::Signing, &party.signing),
            (Role::Encryption, &party.encryption),
        ] {
            let stem = format!("{own}/{}", role.file_stem());
            copy(&c.cert_path, &out.join(format!("{stem}.pem")), false)?;
            copy(&c.key_path, &out.join(format!("{stem}.key.pem")), true)?;
            copy(&c.p12_path, &out.join(format!("{stem}.p12")), true)?;
            let serial = self.serial_of(&c.cert)?;
            own_records.push(IssuedRecord {
                her_id: own.get(),
                orgnr: party.orgnr.clone(),
                name: party.name.clone(),
                variant: Variant::Valid,
                role,
                cert: cert_record(&c.cert, serial, &format!("{stem}.pem"))?,
                key: format!("{stem}.key.pem"),
                p12: format!("{stem}.p12"),
            });
        }
        let mut records = Vec::new();
        for her in counterparts {
            let has_own = self
                .index
                .issued
                .iter()
                .any(|r| r.her_id == her.get() && r.variant == Variant::Valid);
            let p = if has_own {
                self.party(*her, Variant::Valid)?
            } else {
                self.register()?
            };
            let dir = format!("{COUNTERPART_DIR}/{her}");
            let cert = |c: &Credential, role: Role| -> Result<CertRecord, PkiError> {
                let rel = format!("{dir}/{}.pem", role.file_stem());
                write_file(&out.join(&rel), &c.cert.to_pem()?, false)?;
                Ok(cert_record(&c.cert, self.serial_of(&c.cert)?, &rel)?)
            };
            records.push(CounterpartRecord {
                her_id: her.get(),
                name: p.name.clone(),
                orgnr: p.orgnr.clone(),
                signing: cert(&p.signing, Role::Signing)?,
                encryption: cert(&p.encryption, Role::Encryption)?,
            });
        }
        write_file(&out.join("ca.pem"), &self.ca_cert.to_pem()?, false)?;
        write_file(&out.join("crl.pem"), &self.crl.to_pem()?, false)?;
        let index = ExportIndex {
            p12_password: self.index.config.p12_password.clone(),
            ca: CertRecord {
                cert: "ca.pem".into(),
                ..self.index.ca.clone()
            },
            crl: "crl.pem".into(),
            own: own_records,
            counterparts: records,
        };
        let path = out.join(EXPORT_INDEX);
        let mut text = serde_json::to_vec_pretty(&index).map_err(|source| PkiError::Index {
            path: path.clone(),
            source,
        })?;
        text.push(b'\n');
        write_file(&path, &text, false)?;
        Ok(index)
    }

    fn serial_of(&self, cert: &X509) -> Result<u64, PkiError> {
        let serial = cert.serial_number().to_bn()?.to_dec_str()?.to_string();
        serial
            .parse()
            .map_err(|_| PkiError::Config(format!("serial {serial} is not a number")))
    }
}

/// A party's share of a PKI, read from the folder [`Pki::export_party`] wrote.
#[derive(Debug, Clone)]
pub struct PartyExport {
    dir: PathBuf,
    index: ExportIndex,
}

impl PartyExport {
    /// Reads `dir/index.json`.
    pub fn load(dir: impl AsRef<Path>) -> Result<PartyExport, PkiError> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(EXPORT_INDEX);
        let text = fs::read(&path).map_err(io_err(&path))?;
        let index = serde_json::from_slice(&text).map_err(|source| PkiError::Index {
            path: path.clone(),
            source,
        })?;
        Ok(PartyExport { dir, index })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its index.
    pub fn index(&self) -> &ExportIndex {
        &self.index
    }

    /// The party's own pair, with its keys.
    pub fn party(&self) -> Result<Party, PkiError> {
        let first = self
            .index
            .own
            .first()
            .ok_or_else(|| PkiError::Config("the export holds no own pair".into()))?;
        let her = HerId::new(first.her_id).map_err(|e| PkiError::Config(e.to_string()))?;
        let mut party = load_party(&self.dir.join(her.to_string()), her, Variant::Valid)?;
        party.orgnr = first.orgnr.clone();
        party.name = first.name.clone();
        Ok(party)
    }

    /// A counterpart's certificates, by the HER-id it is addressed at.
    pub fn counterpart(&self, her_id: HerId) -> Result<PublicParty, PkiError> {
        let r = self
            .index
            .counterparts
            .iter()
            .find(|c| c.her_id == her_id.get())
            .ok_or_else(|| {
                PkiError::Config(format!("the export has no certificates for {her_id}"))
            })?;
        Ok(PublicParty {
            her_id,
            name: r.name.clone(),
            orgnr: r.orgnr.clone(),
            signing: self.read_cert(&r.signing.cert)?,
            encryption: self.read_cert(&r.encryption.cert)?,
        })
    }

    /// A trust store with the CA and its CRL (revocation is checked).
    pub fn trust_store(&self) -> Result<TrustStore, PkiError> {
        let ca = self.read_cert(&self.index.ca.cert)?;
        let crl_path = self.dir.join(&self.index.crl);
        let crl = X509Crl::from_pem(&fs::read(&crl_path).map_err(io_err(&crl_path))?)?;
        TrustStore::new(vec![ca])
            .with_crls(vec![crl])
            .map_err(|e| PkiError::Config(format!("the export's trust store: {e}")))
    }

    fn read_cert(&self, rel: &str) -> Result<X509, PkiError> {
        let p = self.dir.join(rel);
        Ok(X509::from_pem(&fs::read(&p).map_err(io_err(&p))?)?)
    }
}

fn copy(from: &Path, to: &Path, private: bool) -> Result<(), PkiError> {
    let bytes = fs::read(from).map_err(io_err(from))?;
    write_file(to, &bytes, private)
}
