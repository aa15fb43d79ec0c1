//! TLS as a client of a broker (`amqps`): the reference sender, the register's client
//! receiver on RabbitMQ and the kommune agents verify the broker's certificate against a
//! CA file (PEM) and the host name they connected to.
//!
//! There are no system roots here (no webpki-roots / native certificates in the build):
//! `amqps` always needs the CA file.

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A TLS client verifying against the CA certificates in the PEM file `ca`. Errors name
/// the file and what is wrong with it.
pub fn connector(ca: &Path) -> Result<TlsConnector, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls;
    let bad = |why: String| format!("TLS CA file {}: {why}", ca.display());
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca).map_err(|e| bad(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The TLS handshake on `tcp` with `host` as the server name (brackets of an IPv6
/// address removed). A certificate that does not verify fails with
/// `TLS: HOST:PORT: <why>`.
pub async fn handshake(
    connector: &TlsConnector,
    host: &str,
    port: u16,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("host '{host}' is not a TLS server name: {e}"))?;
    connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {host}:{port}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = connector(&missing).err().expect("a missing file fails");
        assert!(e.contains("nope.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = connector(&empty)
            .err()
            .expect("a file without a certificate fails");
        assert!(
            e.contains("empty.pem") && e.contains("no certificate"),
            "{e}"
        );
    }
}
