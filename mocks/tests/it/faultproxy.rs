//! The TCP fault proxy on loopback: passes bytes through, delays them, refuses
//! connections while down and listens again when up, resets open connections.

use std::time::{Duration, Instant};

use iplos_mocks::faultproxy::FaultProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server.
async fn echo() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(msg).await?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).await?;
    Ok(got)
}

#[tokio::test]
async fn passes_delays_refuses_and_resets() {
    let upstream = echo().await;
    // A dead first upstream is skipped (a cluster node that is gone).
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), vec![dead, upstream])
        .await
        .unwrap();

    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(roundtrip(&mut c, b"hello").await.unwrap(), b"hello");

    // Latency: each way is held.
    proxy.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(roundtrip(&mut c, b"slow").await.unwrap(), b"slow");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    proxy.set_latency(Duration::ZERO);

    // Bandwidth: 20 kB at 40 kB/s takes at least half a second each way.
    proxy.set_bandwidth(Some(40_000));
    let t = Instant::now();
    let big = vec![7u8; 20_000];
    assert_eq!(roundtrip(&mut c, &big).await.unwrap(), big);
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    proxy.set_bandwidth(None);

    // Reset: the open connection is cut.
    proxy.reset_all();
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");

    // Down: refused; up: the same port works again.
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    proxy.set_down(true).await.unwrap();
    assert!(
        TcpStream::connect(proxy.addr()).await.is_err(),
        "connections refused while down"
    );
    let r = tokio::time::timeout(Duration::from_secs(5), open.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(r, Ok(0) | Err(_)),
        "open connections are cut when down: {r:?}"
    );
    proxy.set_down(false).await.unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(roundtrip(&mut c, b"back").await.unwrap(), b"back");
}
