//! The reference sender over `amqps://`: TLS straight away, the broker's certificate
//! verified against the configured CA and the URL's host. Certificates are made here with
//! the `openssl` command-line tool; the broker is the mock service bus with TLS.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use iplos_mocks::pki::Pki;
use iplos_mocks::sender::{
    Counterpart, ReferenceSender, SendError, SenderConfig, SenderIdentity, sample_iplos,
};
use iplos_mocks::servicebus::{BrokerConfig, BrokerFaults, BrokerHandle, ConnEventKind, TlsConfig};
use iplos_model::ids::{HerId, OrgNr};

use crate::openssl_ca::{make_ca, make_server};

const KOMMUNE: u32 = 9_000_301;
const KPR: u32 = 131_725;
const USER: &str = "oslo";
const PASS: &str = "pass-oslo";

fn her(n: u32) -> HerId {
    HerId::new(n).unwrap()
}

async fn tls_broker(cert: &Path, key: &Path) -> BrokerHandle {
    tls_broker_with(cert, key, BrokerFaults::new()).await
}

async fn tls_broker_with(cert: &Path, key: &Path, faults: BrokerFaults) -> BrokerHandle {
    BrokerConfig::new()
        .with_faults(faults)
        .with_participant(her(KOMMUNE), USER, PASS)
        .with_participant(her(KPR), "kpr", "pass-kpr")
        .with_tls(TlsConfig::from_files(cert, key).unwrap())
        .start()
        .await
        .expect("broker starts")
}

fn identity(dir: &Path) -> SenderIdentity {
    let mut pki = Pki::init(dir).unwrap();
    let party = pki
        .issue(
            her(KOMMUNE),
            &OrgNr::parse("974778874").unwrap(),
            "Oslo kommune",
        )
        .unwrap();
    let register = pki.register().unwrap();
    SenderIdentity {
        party,
        register: Counterpart::from_party(&register, her(KPR)),
        trust: Arc::new(pki.trust_store().unwrap()),
    }
}

fn config(url: String, ca: Option<PathBuf>, identity: SenderIdentity) -> SenderConfig {
    let mut c = SenderConfig::new(url, identity);
    c.tls_ca = ca;
    c.listen = false;
    c.timeout = Duration::from_secs(10);
    c
}

fn amqps(host: &str, broker: &BrokerHandle) -> String {
    format!("amqps://{USER}:{PASS}@{host}:{}", broker.port())
}

#[tokio::test]
async fn amqps_with_the_right_ca_sends_into_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    make_ca(dir.path(), "ca");
    let (cert, key) = make_server(dir.path(), "ca", "bus", "DNS:localhost,IP:127.0.0.1");
    let faults = BrokerFaults::new();
    let broker = tls_broker_with(&cert, &key, faults.clone()).await;
    let pki_dir = dir.path().join("pki");
    let id = identity(&pki_dir);

    for host in ["localhost", "127.0.0.1"] {
        let mut sender = ReferenceSender::connect(config(
            amqps(host, &broker),
            Some(dir.path().join("ca.pem")),
            id.clone(),
        ))
        .await
        .unwrap_or_else(|e| panic!("connects over TLS to {host}: {e}"));
        let out = sender
            .build(&sample_iplos("0301", 2024, 1), &[])
            .expect("builds");
        sender.send(&out).await.expect("the broker accepts it");
    }
    let queue = format!("{KPR}_async");
    let bus = broker.bus();
    assert_eq!(
        bus.len(&queue).unwrap(),
        2,
        "both messages are in the queue"
    );
    let mut consumer = bus.consumer(&queue).unwrap();
    let first = consumer.next().await.unwrap();
    assert_eq!(
        first
            .message()
            .properties
            .as_ref()
            .and_then(|p| p.subject.as_deref()),
        Some("IPLOS")
    );
    first.accept().await.unwrap();
    // The broker saw two TLS connections of the reference sender.
    let opened: Vec<(bool, String)> = faults
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            ConnEventKind::Opened {
                tls,
                container_id,
                username,
            } if username == USER => Some((tls, container_id)),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 2, "{opened:?}");
    // Plain AMQP to the TLS listener is refused and logged as a TLS failure.
    let plain = format!("amqp://{USER}:{PASS}@127.0.0.1:{}", broker.port());
    let err = ReferenceSender::connect(config(plain, None, id.clone()))
        .await
        .expect_err("plain AMQP to a TLS listener");
    assert!(matches!(err, SendError::Amqp(_)), "{err}");
    let mut seen = false;
    for _ in 0..100 {
        seen = faults.events().iter().any(|e| {
            matches!(&e.kind, ConnEventKind::TlsFailed { error } if error.contains("TLS listener"))
        });
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "TlsFailed logged: {:?}", faults.events());
    assert!(
        opened
            .iter()
            .all(|(tls, id)| *tls && id.starts_with("iplos-reference-sender-")),
        "{opened:?}"
    );
}

#[tokio::test]
async fn a_certificate_for_another_host_or_from_another_ca_fails_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    make_ca(dir.path(), "ca");
    make_ca(dir.path(), "other-ca");
    let (cert, key) = make_server(dir.path(), "ca", "elsewhere", "DNS:bus.example.org");
    let faults = BrokerFaults::new();
    let broker = tls_broker_with(&cert, &key, faults.clone()).await;
    let id = identity(&dir.path().join("pki"));

    let err = ReferenceSender::connect(config(
        amqps("localhost", &broker),
        Some(dir.path().join("ca.pem")),
        id.clone(),
    ))
    .await
    .expect_err("a certificate for another host name is refused");
    assert!(
        matches!(&err, SendError::Amqp(m) if m.starts_with("TLS")),
        "{err}"
    );

    // The broker sees the client give up in the handshake.
    let mut tls_failed = None;
    for _ in 0..100 {
        tls_failed = faults.events().into_iter().find_map(|e| match e.kind {
            ConnEventKind::TlsFailed { error } => Some(error),
            _ => None,
        });
        if tls_failed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tls_failed = tls_failed.expect("TlsFailed logged");
    assert!(tls_failed.contains("TLS"), "{tls_failed}");

    // The right host name, the wrong CA.
    let (cert, key) = make_server(dir.path(), "ca", "bus", "DNS:localhost,IP:127.0.0.1");
    let broker2 = tls_broker(&cert, &key).await;
    let err = ReferenceSender::connect(config(
        amqps("localhost", &broker2),
        Some(dir.path().join("other-ca.pem")),
        id.clone(),
    ))
    .await
    .expect_err("a certificate from another CA is refused");
    assert!(
        matches!(&err, SendError::Amqp(m) if m.starts_with("TLS")),
        "{err}"
    );
    assert_eq!(broker.bus().len(&format!("{KPR}_async")).unwrap(), 0);
    assert_eq!(broker2.bus().len(&format!("{KPR}_async")).unwrap(), 0);
}

#[tokio::test]
async fn amqps_without_a_ca_or_with_a_bad_one_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let id = identity(&dir.path().join("pki"));
    // No broker needed: refused before connecting.
    let url = format!("amqps://{USER}:{PASS}@localhost:1");
    let err = ReferenceSender::connect(config(url.clone(), None, id.clone()))
        .await
        .expect_err("no CA");
    assert!(
        matches!(&err, SendError::Url(m) if m.contains("tls_ca")),
        "{err}"
    );
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let err = ReferenceSender::connect(config(url.clone(), Some(not_pem), id.clone()))
        .await
        .expect_err("no certificate in the CA file");
    assert!(
        matches!(&err, SendError::Url(m) if m.contains("not.pem")),
        "{err}"
    );
    let err = ReferenceSender::connect(config(
        format!("http://{USER}:{PASS}@localhost:1"),
        None,
        id,
    ))
    .await
    .expect_err("scheme");
    assert!(
        matches!(&err, SendError::Url(m) if m.contains("amqps://")),
        "{err}"
    );
}
