//! Who holds which certificate: the receiver's stand-in for NHN's address register
//! (Adresseregisteret), where each HER-id's enterprise certificates are published.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use iplos_model::ids::HerId;
use openssl::x509::{X509, X509Crl};

use crate::cms::{CmsError, TrustStore};
use crate::pki::{Index, Party, Role};

/// The certificates registered for HER-ids, and the trust anchors.
pub trait CertificateDirectory: Send + Sync {
    /// The signing certificate registered for a HER-id: the only one its messages may be
    /// signed with.
    fn signing_cert(&self, her_id: HerId) -> Option<X509>;
    /// The encryption certificate registered for a HER-id: what its receipts are
    /// encrypted for.
    fn encryption_cert(&self, her_id: HerId) -> Option<X509>;
    /// The trusted CAs with their current CRLs.
    fn trust_store(&self) -> Result<Arc<TrustStore>, CmsError>;
}

/// A HER-id's registered signing and encryption certificates.
type Pair = (Option<X509>, Option<X509>);

/// A directory held in memory (tests, and callers that register parties themselves).
pub struct StaticDirectory {
    certs: RwLock<HashMap<HerId, Pair>>,
    trust: Arc<TrustStore>,
}

impl std::fmt::Debug for StaticDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticDirectory").finish_non_exhaustive()
    }
}

impl StaticDirectory {
    /// An empty directory trusting `trust`.
    pub fn new(trust: TrustStore) -> StaticDirectory {
        StaticDirectory {
            certs: RwLock::new(HashMap::new()),
            trust: Arc::new(trust),
        }
    }

    /// Registers (or replaces) the certificates of a HER-id; `None` leaves one out.
    pub fn register(&self, her_id: HerId, signing: Option<X509>, encryption: Option<X509>) {
        self.certs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(her_id, (signing, encryption));
    }

    /// Registers a party's pair under its HER-id.
    pub fn register_party(&self, party: &Party) {
        self.register(
            party.her_id,
            Some(party.signing.cert.clone()),
            Some(party.encryption.cert.clone()),
        );
    }

    /// Registers a party's pair under another HER-id.
    pub fn register_party_as(&self, her_id: HerId, party: &Party) {
        self.register(
            her_id,
            Some(party.signing.cert.clone()),
            Some(party.encryption.cert.clone()),
        );
    }

    /// Removes a HER-id.
    pub fn unregister(&self, her_id: HerId) {
        self.certs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&her_id);
    }

    fn get(&self, her_id: HerId) -> Option<Pair> {
        self.certs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&her_id)
            .cloned()
    }
}

impl CertificateDirectory for StaticDirectory {
    fn signing_cert(&self, her_id: HerId) -> Option<X509> {
        self.get(her_id).and_then(|(s, _)| s)
    }

    fn encryption_cert(&self, her_id: HerId) -> Option<X509> {
        self.get(her_id).and_then(|(_, e)| e)
    }

    fn trust_store(&self) -> Result<Arc<TrustStore>, CmsError> {
        Ok(self.trust.clone())
    }
}

/// A directory read from a [`Pki`](crate::pki::Pki) directory and re-read whenever its
/// `index.json` or CRL changes (so `iplos-harness pki issue` while a server runs takes
/// effect at the next message).
///
/// **\[model\]** The registered pair of a HER-id is the one issued **last** for it, whatever
/// its variant: issuing an expired, revoked, wrong-CA or wrong-key-usage pair for a HER-id
/// puts it in the register, as when a kommune's certificate expires or is replaced; a
/// message signed with any other certificate is then a spoofing attempt.
pub struct PkiDirectory {
    dir: PathBuf,
    cache: Mutex<Option<Loaded>>,
}

impl std::fmt::Debug for PkiDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PkiDirectory")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

struct Loaded {
    stamp: (Option<SystemTime>, Option<SystemTime>),
    trust: Arc<TrustStore>,
    certs: HashMap<u32, Pair>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl PkiDirectory {
    /// A directory over the PKI in `dir` (read at first use).
    pub fn new(dir: impl Into<PathBuf>) -> PkiDirectory {
        PkiDirectory {
            dir: dir.into(),
            cache: Mutex::new(None),
        }
    }

    fn stamp(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        (
            mtime(&self.dir.join("index.json")),
            mtime(&self.dir.join("ca/crl.pem")),
        )
    }

    fn load(&self) -> Result<Loaded, CmsError> {
        let stamp = self.stamp();
        let bad = |what: String| CmsError::Io(std::io::Error::other(what));
        let index_path = self.dir.join("index.json");
        let text = std::fs::read(&index_path)?;
        let index: Index = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("{}: {e}", index_path.display())))?;
        let ca = X509::from_pem(&std::fs::read(self.dir.join(&index.ca.cert))?)?;
        let crl = X509Crl::from_pem(&std::fs::read(self.dir.join("ca/crl.pem"))?)?;
        let trust = TrustStore::new(vec![ca]).with_crls(vec![crl])?;
        let mut latest: HashMap<(u32, Role), &str> = HashMap::new();
        for r in &index.issued {
            latest.insert((r.her_id, r.role), r.cert.cert.as_str());
        }
        let mut certs: HashMap<u32, Pair> = HashMap::new();
        for ((her, role), rel) in latest {
            let cert = std::fs::read(self.dir.join(rel))
                .ok()
                .and_then(|pem| X509::from_pem(&pem).ok());
            let entry = certs.entry(her).or_default();
            match role {
                Role::Signing => entry.0 = cert,
                Role::Encryption => entry.1 = cert,
            }
        }
        Ok(Loaded {
            stamp,
            trust: Arc::new(trust),
            certs,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Loaded) -> T) -> Result<T, CmsError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let stale = match cache.as_ref() {
            Some(l) => l.stamp != self.stamp(),
            None => true,
        };
        if stale {
            *cache = Some(self.load()?);
        }
        Ok(f(cache.as_ref().expect("loaded above")))
    }
}

impl CertificateDirectory for PkiDirectory {
    fn signing_cert(&self, her_id: HerId) -> Option<X509> {
        self.with(|l| l.certs.get(&her_id.get()).and_then(|(s, _)| s.clone()))
            .ok()
            .flatten()
    }

    fn encryption_cert(&self, her_id: HerId) -> Option<X509> {
        self.with(|l| l.certs.get(&her_id.get()).and_then(|(_, e)| e.clone()))
            .ok()
            .flatten()
    }

    fn trust_store(&self) -> Result<Arc<TrustStore>, CmsError> {
        self.with(|l| l.trust.clone())
    }
}
