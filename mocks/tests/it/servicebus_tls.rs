//! TLS: straight away on connect (amqps://, as Proton and .NET clients do) and after the
//! AMQP TLS protocol header; plain AMQP to a TLS listener is refused. The certificate is
//! made here with the `openssl` command-line tool.

use crate::common;
use crate::openssl_ca::{make_ca, make_server};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use fe2o3_amqp::{Receiver, Sender, Session};
use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;
use iplos_mocks::servicebus::{BrokerHandle, TlsConfig};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A test CA and a server certificate for localhost / 127.0.0.1: (CA, certificate, key).
fn make_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca = make_ca(dir, "ca");
    let (cert, key) = make_server(dir, "ca", "server", "DNS:localhost,IP:127.0.0.1");
    (ca, cert, key)
}

fn connector(ca: &Path) -> tokio_rustls::TlsConnector {
    iplos_mocks::tls_client::connector(ca).unwrap()
}

async fn echo_over<S>(stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + std::fmt::Debug + Send + Unpin + 'static,
{
    let mut conn = fe2o3_amqp::Connection::builder()
        .container_id("tls-client")
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: KOMMUNE_USER.into(),
            password: KOMMUNE_PASS.into(),
        })
        .open_with_stream(stream)
        .await
        .unwrap();
    let mut session = Session::begin(&mut conn).await.unwrap();
    let mut sender = Sender::attach(
        &mut session,
        "s",
        format!("/exchange/{NS}/{KOMMUNE_HER}_async"),
    )
    .await
    .unwrap();
    sender
        .send(nhn_message("tls", b"secret"))
        .await
        .unwrap()
        .accepted_or("no")
        .unwrap();
    let mut receiver =
        Receiver::attach(&mut session, "r", format!("/amq/queue/{KOMMUNE_HER}_async"))
            .await
            .unwrap();
    let d = receiver.recv::<Body<Value>>().await.unwrap();
    receiver.accept(&d).await.unwrap();
    assert_eq!(data_of(d.message()), b"secret");
    sender.close().await.unwrap();
    receiver.close().await.unwrap();
    session.end().await.unwrap();
    conn.close().await.unwrap();
}

async fn tls_broker(dir: &Path) -> (BrokerHandle, PathBuf) {
    let (ca, cert, key) = make_pki(dir);
    let broker = config()
        .with_tls(TlsConfig::from_files(&cert, &key).unwrap())
        .start()
        .await
        .unwrap();
    (broker, ca)
}

#[tokio::test]
async fn tls_straight_away_and_after_the_amqp_tls_header() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ca) = tls_broker(dir.path()).await;
    assert!(broker.connection_string("u", "p").starts_with("amqps://"));
    let tls = connector(&ca);

    // amqps: TLS first.
    let tcp = TcpStream::connect(broker.local_addr()).await.unwrap();
    let stream = tls
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    echo_over(stream).await;

    // AMQP's own way: the TLS protocol header, echoed, then TLS.
    let mut tcp = TcpStream::connect(broker.local_addr()).await.unwrap();
    tcp.write_all(b"AMQP\x02\x01\x00\x00").await.unwrap();
    let mut header = [0u8; 8];
    tcp.read_exact(&mut header).await.unwrap();
    assert_eq!(&header, b"AMQP\x02\x01\x00\x00");
    let stream = tls
        .connect(
            ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
            tcp,
        )
        .await
        .unwrap();
    echo_over(stream).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn plain_amqp_to_a_tls_listener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _ca) = tls_broker(dir.path()).await;
    let plain =
        fe2o3_amqp::Connection::open("plain", url(&broker, KOMMUNE_USER, KOMMUNE_PASS).as_str())
            .await;
    assert!(plain.is_err());
    broker.shutdown().await;
}

#[tokio::test]
async fn proton_over_amqps() {
    let python = "/usr/bin/python3";
    let has_proton = Command::new(python)
        .args(["-c", "import proton"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        has_proton,
        "{python} cannot import proton: .ci/run installs python3-qpid-proton"
    );
    let dir = tempfile::tempdir().unwrap();
    let (broker, ca) = tls_broker(dir.path()).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/proton_peer.py");
    let url = format!(
        "amqps://{KOMMUNE_USER}:{KOMMUNE_PASS}@localhost:{}",
        broker.port()
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([
                "tlsecho",
                &url,
                NS,
                &KOMMUNE_HER.to_string(),
                ca.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["state"], "ACCEPTED");
    assert_eq!(lines[1]["received"]["id"], "proton-tls");
    assert_eq!(lines[1]["received"]["body_hex"], "6f76657220746c73");
    broker.shutdown().await;
}
