//! The broker's TLS certificate and the rustls acceptor made from it.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::types::BusError;

/// Server certificate and key for TLS, PEM-encoded.
#[derive(Clone)]
pub struct TlsConfig {
    /// The certificate chain, leaf first (PEM).
    pub cert_chain_pem: Vec<u8>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub private_key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads the PEM files.
    pub fn from_files(cert_chain: &Path, private_key: &Path) -> Result<TlsConfig, BusError> {
        Ok(TlsConfig {
            cert_chain_pem: std::fs::read(cert_chain)?,
            private_key_pem: std::fs::read(private_key)?,
        })
    }

    /// A TLS acceptor with this certificate (for a listener of one's own, e.g. a
    /// certification session's wrong-host port).
    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, BusError> {
        let certs = CertificateDer::pem_slice_iter(&self.cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BusError::Tls(format!("certificate PEM: {e}")))?;
        if certs.is_empty() {
            return Err(BusError::Tls("no certificate in the PEM".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.private_key_pem)
            .map_err(|e| BusError::Tls(format!("private key PEM: {e}")))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BusError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| BusError::Tls(e.to_string()))?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}
