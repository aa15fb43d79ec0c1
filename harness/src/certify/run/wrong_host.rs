//! The wrong-host port: TLS with a certificate for another host name (phase
//! `tls-wrong-host`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use iplos_mocks::servicebus::TlsConfig;

use crate::certify::record::WrongHostAttempt;

/// The wrong-host port: TLS with a certificate for another host name. A client that
/// completes the handshake accepted it (and one that then sends an AMQP header would have
/// logged in); one that aborts refused it.
pub async fn listen(
    listener: tokio::net::TcpListener,
    cert: PathBuf,
    key: PathBuf,
    log: Arc<Mutex<Vec<WrongHostAttempt>>>,
) {
    use tokio::io::AsyncReadExt;
    let Ok(Ok(acceptor)) = TlsConfig::from_files(&cert, &key).map(|t| t.acceptor()) else {
        tracing::error!("the wrong-host certificate cannot be loaded");
        return;
    };
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let at = Utc::now();
            let attempt = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                .await
            {
                Ok(Ok(mut stream)) => {
                    let mut header = [0u8; 8];
                    let sent = matches!(
                        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut header)).await,
                        Ok(Ok(_)) if header.starts_with(b"AMQP")
                    );
                    WrongHostAttempt {
                        at,
                        accepted_certificate: true,
                        sent_amqp: sent,
                        error: None,
                    }
                }
                Ok(Err(e)) => WrongHostAttempt {
                    at,
                    accepted_certificate: false,
                    sent_amqp: false,
                    error: Some(e.to_string()),
                },
                Err(_) => WrongHostAttempt {
                    at,
                    accepted_certificate: false,
                    sent_amqp: false,
                    error: Some("no TLS handshake within 10 s".into()),
                },
            };
            if let Ok(mut l) = log.lock()
                && l.len() < 10_000
            {
                l.push(attempt);
            }
        });
    }
}
