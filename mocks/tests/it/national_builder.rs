//! `iplos_mocks::national`: the whole national side from one builder, on free ports with a
//! temporary state directory — every endpoint answers, one shutdown stops them all and
//! frees their ports; a start that fails half-way stops what had started.

use std::net::SocketAddr;
use std::sync::Arc;

use iplos_mocks::filsluse::UserSpec;
use iplos_mocks::national::{
    FilsluseOptions, MailOptions, National, NationalError, OperatorOptions, RegisterOptions,
    SendemodulOptions, SendemodulPins, ServicebusOptions,
};
use iplos_mocks::pki::{Pki, PkiConfig};
use iplos_mocks::sendemodul::Pins;
use iplos_mocks::servicebus::Participant;
use iplos_model::calendar::{Clock, SystemClock};
use iplos_model::ids::HerId;
use iplos_model::municipality;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const YEAR: u16 = 2024;

fn her(n: u32) -> HerId {
    HerId::new(n).unwrap()
}

/// The register's options over a fresh test PKI in `dir/pki`.
fn register(dir: &std::path::Path) -> RegisterOptions {
    let pki_dir = dir.join("pki");
    Pki::init_with(&pki_dir, PkiConfig::default()).unwrap();
    RegisterOptions::from_pki_dir(&pki_dir, vec![her(134_197), her(131_725)]).unwrap()
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Nothing listens on `addr` any more: it can be bound again.
async fn assert_free(addr: SocketAddr, what: &str) {
    if let Err(e) = tokio::net::TcpListener::bind(addr).await {
        panic!("{what} still holds {addr}: {e}");
    }
}

#[tokio::test]
async fn everything_answers_and_one_shutdown_frees_every_port() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let oslo = municipality::lookup(YEAR, "0301").unwrap();
    let mut bus = ServicebusOptions::new(
        vec![Participant::new(her(9_000_301), "kommune0301", "pw0301")],
        register(dir.path()),
    );
    bus.namespace = "NS".into();
    let national = National::builder()
        .state_dir(&state)
        .clock(Arc::new(SystemClock) as Arc<dyn Clock>)
        .data_year(i32::from(YEAR))
        .servicebus(bus)
        .sendemodul(SendemodulOptions {
            pins: SendemodulPins::Kept(Some(7)),
            refusing: Some(Pins::seeded(7).with("0301", "000000")),
            ..SendemodulOptions::default()
        })
        .filsluse(FilsluseOptions {
            kdf_iterations: Some(1_000),
            users: vec![UserSpec::for_municipality(oslo)],
            ..FilsluseOptions::default()
        })
        .mail(MailOptions::default())
        .receipt_ticker()
        .operator(OperatorOptions::for_municipalities(0, &[oslo]))
        .start()
        .await
        .unwrap();

    // The state directory holds what the endpoints keep.
    for f in [
        "run.sqlite",
        "intake.sqlite",
        "sendemodul-pins.json",
        "filsluse",
        "mail",
    ] {
        assert!(state.join(f).exists(), "{f} missing");
    }
    assert_eq!(national.data_year(), Some(i32::from(YEAR)));

    // AMQP: the broker answers a protocol header with one of its own; the register's
    // queues exist though no register user was given.
    let amqp = national.amqp_addr().unwrap();
    let mut s = tokio::net::TcpStream::connect(amqp).await.unwrap();
    s.write_all(b"AMQP\x03\x01\x00\x00").await.unwrap();
    let mut header = [0u8; 8];
    s.read_exact(&mut header).await.unwrap();
    assert_eq!(&header[..4], b"AMQP");
    drop(s);
    let queues = national.bus().unwrap().queues();
    for q in ["9000301_async", "134197_async", "131725_async"] {
        assert!(queues.iter().any(|x| x == q), "{q} not in {queues:?}");
    }
    assert_eq!(national.bus().unwrap().namespace(), "NS");
    assert_eq!(national.receiver().unwrap().recovered(), 0);
    assert!(national.run_store().is_some());

    // Sendemodul, the refusing portal, filsluse, the mail API answer HTTP.
    let http = reqwest::Client::new();
    let sm = national.sendemodul().unwrap();
    let refusing = national.refusing_sendemodul().unwrap();
    assert_ne!(sm.addr(), refusing.addr());
    assert_ne!(sm.pin("0301"), refusing.pin("0301"));
    assert_eq!(refusing.pin("0301"), "000000");
    let mail = national.mail().unwrap();
    for url in [
        format!("{}/Sendemodul/", sm.base_url()),
        format!("{}/Sendemodul/", refusing.base_url()),
        national.filsluse().unwrap().base_url().to_string(),
    ] {
        let r = http.get(&url).send().await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
    }
    // The mail API only with its token.
    let boxes = format!("{}/mailboxes", mail.http_url().unwrap());
    let r = http.get(&boxes).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(&boxes)
        .bearer_auth(mail.http_token())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{boxes}: {}", r.status());
    // The filsluse user was made, with its "Ny bruker" mail.
    assert!(
        national
            .filsluse()
            .unwrap()
            .user(oslo.postmottak())
            .unwrap()
            .is_some()
    );
    national
        .notifier()
        .unwrap()
        .flush(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(national.notifier().unwrap().sent_count(), 1);

    // SMTP greets.
    let smtp = national.mail().unwrap().smtp_addr();
    let mut s = tokio::net::TcpStream::connect(smtp).await.unwrap();
    let mut greeting = [0u8; 3];
    s.read_exact(&mut greeting).await.unwrap();
    assert_eq!(&greeting, b"220");
    drop(s);

    // The operator API: nothing owed, nothing sent.
    let op = national.operator_url().unwrap().to_string();
    let token = national.operator_token().unwrap().to_string();
    let r = http.post(format!("{op}/receipts")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the operator API needs its token");
    let r = http
        .post(format!("{op}/receipts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["sent"], 0);
    let r = http
        .post(format!("{op}/feedback/0301?kind=test"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .post(format!("{op}/feedback/9999?kind=test"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    drop(http);

    let addrs = [
        (amqp, "the broker"),
        (sm.addr(), "Sendemodul"),
        (refusing.addr(), "the refusing Sendemodul"),
        (national.filsluse().unwrap().addr(), "filsluse"),
        (smtp, "SMTP"),
        (
            national.mail().unwrap().http_addr().unwrap(),
            "the mail API",
        ),
        (
            op.trim_start_matches("http://").parse().unwrap(),
            "the operator API",
        ),
    ];
    tokio::time::timeout(std::time::Duration::from_secs(30), national.shutdown())
        .await
        .expect("shutdown returns");
    for (addr, what) in addrs {
        assert_free(addr, what).await;
    }
}

#[tokio::test]
async fn a_restart_keeps_the_pins() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        National::builder()
            .state_dir(dir.path())
            .data_year(i32::from(YEAR))
            .sendemodul(SendemodulOptions::default())
            .start()
    };
    let first = start().await.unwrap();
    let pin = first.sendemodul().unwrap().pin("0301");
    first.shutdown().await;
    let second = start().await.unwrap();
    assert_eq!(second.sendemodul().unwrap().pin("0301"), pin);
    // Only what was asked for runs.
    assert!(second.broker().is_none() && second.mail().is_none());
    assert!(second.filsluse().is_none() && second.operator_url().is_none());
    second.shutdown().await;
}

#[tokio::test]
async fn a_failed_start_stops_what_had_started() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp_port = free_port();
    let err = National::builder()
        .data_year(i32::from(YEAR))
        .mail(MailOptions {
            smtp_port,
            ..MailOptions::default()
        })
        .sendemodul(SendemodulOptions {
            port: taken.local_addr().unwrap().port(),
            ..SendemodulOptions::default()
        })
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, NationalError::Start { .. }), "{err:?}");
    assert!(err.to_string().contains("Sendemodul"), "{err}");
    assert_free(SocketAddr::from(([127, 0, 0, 1], smtp_port)), "SMTP").await;
}

#[tokio::test]
async fn options_that_do_not_fit_are_refused() {
    let err = National::builder()
        .data_year(i32::from(YEAR))
        .receipt_ticker()
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, NationalError::Config(_)), "{err:?}");
    let err = National::builder()
        .sendemodul(SendemodulOptions::default())
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("data year"), "{err}");
    assert!(MailOptions::parse_relay("smtp.example.org:25").is_ok());
    assert!(MailOptions::parse_relay("smtp.example.org").is_err());
}
