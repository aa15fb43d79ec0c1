//! Every HTTP server of the national side (Sendemodul, filsluse, the mail API, the operator
//! API) keeps real servers' limits: a request whose head never finishes is closed after
//! the header read timeout, an oversized head is answered 431, and past the connection
//! cap new clients wait instead of piling up.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use iplos_mocks::http_limits::HttpLimits;
use iplos_mocks::national::{FilsluseOptions, National, OperatorOptions, SendemodulOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The test's header read timeout (the default is 30 s).
const HEADER_TIMEOUT: Duration = Duration::from_millis(800);

async fn national(limits: HttpLimits) -> National {
    National::builder()
        .data_year(2017)
        .sendemodul(SendemodulOptions::default())
        .filsluse(FilsluseOptions {
            kdf_iterations: Some(1_000),
            ..FilsluseOptions::default()
        })
        .operator(OperatorOptions::default())
        .http_limits(limits)
        .start()
        .await
        .expect("the national side starts")
}

fn servers(n: &National) -> Vec<(&'static str, SocketAddr)> {
    let op: SocketAddr = n
        .operator_url()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    vec![
        ("Sendemodul", n.sendemodul().unwrap().addr()),
        ("filsluse", n.filsluse().unwrap().addr()),
        ("the mail API", n.mail().unwrap().http_addr().unwrap()),
        ("the operator API", op),
    ]
}

/// Reads until the server closes; what it sent.
async fn read_to_close(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let n = national(HttpLimits {
        header_read_timeout: HEADER_TIMEOUT,
        ..HttpLimits::default()
    })
    .await;
    for (name, addr) in servers(&n) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        let started = Instant::now();
        let answer = read_to_close(&mut s, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{name} kept a half-sent request open for 10 s"));
        assert!(
            started.elapsed() >= HEADER_TIMEOUT / 2,
            "{name} closed before the timeout"
        );
        // Closed without an answer, or with 408: never a response to a request it never got.
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{name}: {answer:?}"
        );
    }
    n.shutdown().await;
}

#[tokio::test]
async fn an_oversized_head_is_answered_431() {
    let n = national(HttpLimits::default()).await;
    for (name, addr) in servers(&n) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let big = "a".repeat(64 * 1024);
        let req = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
        // The server may stop reading once it has refused: ignore a reset while writing.
        let _ = s.write_all(req.as_bytes()).await;
        let answer = read_to_close(&mut s, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{name} did not answer"));
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "{name}: {:?}",
            answer.lines().next()
        );
        // A head within the limit is served.
        let mut s = TcpStream::connect(addr).await.unwrap();
        let ok = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Fine: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(8 * 1024)
        );
        s.write_all(ok.as_bytes()).await.unwrap();
        let answer = read_to_close(&mut s, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            !answer.starts_with("HTTP/1.1 431") && answer.starts_with("HTTP/1.1 "),
            "{name}: {:?}",
            answer.lines().next()
        );
    }
    n.shutdown().await;
}

#[tokio::test]
async fn past_the_connection_cap_clients_wait_and_are_served_later() {
    let n = national(HttpLimits {
        header_read_timeout: HEADER_TIMEOUT,
        max_connections: 2,
        ..HttpLimits::default()
    })
    .await;
    let addr = n.filsluse().unwrap().addr();
    // Two idle connections fill the cap.
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        idle.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A third client waits (nothing read from it yet) ...
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /signon HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(HEADER_TIMEOUT / 4, third.read(&mut first)).await;
    assert!(early.is_err(), "served past the cap");
    // ... and is served once the idle ones have timed out.
    let answer = read_to_close(&mut third, Duration::from_secs(10))
        .await
        .expect("served after the idle connections closed");
    assert!(
        answer.starts_with("HTTP/1.1 "),
        "{:?}",
        answer.lines().next()
    );
    for mut s in idle {
        assert!(
            read_to_close(&mut s, Duration::from_secs(5))
                .await
                .is_some()
        );
    }
    n.shutdown().await;
}
