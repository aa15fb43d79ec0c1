//! Hostile and broken uploads: path traversal in file names, a declared 2 GB body, a 2 GB
//! streamed body (refused once it passes the limit, long before its end), an unterminated
//! multipart body, a stalled body, and a file that is not XML (stored and reported).

use crate::sendemodul_support;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iplos_mocks::intake::Channel;
use iplos_mocks::sendemodul::SendemodulConfig;
use reqwest::StatusCode;
use sendemodul_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TWO_GB: u64 = 2 * 1024 * 1024 * 1024;

#[tokio::test]
async fn path_traversal_names_are_reduced_or_refused_and_never_used_as_paths() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let env = start_at(
        SendemodulConfig {
            state_dir: Some(state.clone()),
            ..config()
        },
        friday(),
    )
    .await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    for (given, stored) in [
        ("../../x", "x"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\..\\Windows\\win.ini", "win.ini"),
        ("C:\\Users\\iplos\\Desktop\\040300.xml", "040300.xml"),
        ("....//....//y", "y"),
    ] {
        let (s, page) = env
            .upload_file(Channel::Ordinary, &cookie, given, b"<Melding/>")
            .await;
        assert_eq!(s, StatusCode::OK, "{given}: {page}");
        assert_eq!(by_id(&page, "filnavn").unwrap(), stored, "{given}");
    }
    for given in ["..", "../", "a\u{1}b", "dir/"] {
        let (s, page) = env
            .upload_file(Channel::Ordinary, &cookie, given, b"<Melding/>")
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{given:?}: {page}");
    }
    let names: Vec<String> = env
        .intake
        .all_submissions()
        .unwrap()
        .into_iter()
        .map(|s| s.file_name)
        .collect();
    assert_eq!(names, ["x", "passwd", "win.ini", "040300.xml", "y"]);
    // Nothing was written outside the state directory, nothing left inside it.
    assert!(!dir.path().join("x").exists());
    assert!(!state.join("x").exists());
    let left: Vec<_> = std::fs::read_dir(state.join("sendemodul-parts"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn upload_head(env: &Env, cookie: &str, extra: &str) -> String {
    format!(
        "POST /Sendemodul/upload HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{extra}\r\n",
        env.sm.addr()
    )
}

fn file_preamble(csrf: &str) -> String {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"fil\"; filename=\"stor.xml\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
}

#[tokio::test]
async fn a_declared_2gb_body_is_refused_before_it_is_sent() {
    let env = start_at(config(), friday()).await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    // Headers only: the server answers without waiting for the body.
    let head = upload_head(&env, &cookie, &format!("Content-Length: {TWO_GB}\r\n"));
    let answer = raw_http(env.sm.addr(), head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("for stor"), "{answer}");
    // The server is still up and nothing was stored.
    let (s, _) = env.get(Channel::Ordinary, "", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(env.intake.all_submissions().unwrap().is_empty());
}

#[tokio::test]
async fn a_streamed_2gb_body_is_refused_once_it_passes_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 8 * 1024 * 1024u64;
    let env = start_at(
        SendemodulConfig {
            max_part_bytes: limit,
            state_dir: Some(dir.path().to_path_buf()),
            ..config()
        },
        friday(),
    )
    .await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let csrf = env.csrf(Channel::Ordinary, &cookie).await;
    let stream = tokio::net::TcpStream::connect(env.sm.addr()).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (sent2, stop2) = (sent.clone(), stop.clone());
    let head = upload_head(&env, &cookie, "Transfer-Encoding: chunked\r\n");
    let preamble = file_preamble(&csrf);
    // The body is generated as it is sent: 64 KiB chunks of a pattern, up to 2 GB.
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let first = format!("{:x}\r\n{preamble}\r\n", preamble.len());
        wr.write_all(first.as_bytes()).await?;
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| b"<Melding>"[i % 9]).collect();
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        while sent2.load(Ordering::Relaxed) < TWO_GB && !stop2.load(Ordering::Relaxed) {
            wr.write_all(&framed).await?;
            sent2.fetch_add(64 * 1024, Ordering::Relaxed);
        }
        Ok::<_, std::io::Error>(())
    });
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut answer)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = writer.await;
    let answer = String::from_utf8_lossy(&answer);
    let sent = sent.load(Ordering::Relaxed);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    eprintln!("streamed upload: {sent} bytes sent before the 413 (limit {limit})");
    // Refused after the limit, long before 2 GB (socket buffers allow some slack).
    assert!(sent >= limit, "sent {sent}");
    assert!(
        sent < 64 * 1024 * 1024,
        "sent {sent} bytes before the refusal"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(env.intake.all_submissions().unwrap().is_empty());
    // The partial upload's temporary file is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("sendemodul-parts"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let (s, _) = env.get(Channel::Ordinary, "", "").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn unterminated_and_stalled_multipart_bodies_are_refused_with_400() {
    let env = start_at(
        SendemodulConfig {
            read_timeout: Duration::from_secs(1),
            ..config()
        },
        friday(),
    )
    .await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let csrf = env.csrf(Channel::Ordinary, &cookie).await;
    // The body ends without the closing boundary.
    let body = format!("{}<Melding>no end", file_preamble(&csrf));
    let req = format!(
        "{}{body}",
        upload_head(
            &env,
            &cookie,
            &format!("Content-Length: {}\r\nConnection: close\r\n", body.len())
        )
    );
    let answer = raw_http(env.sm.addr(), req.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("ufullstendig"), "{answer}");
    // The body promises more than it sends and stalls: refused after the read timeout.
    let body = format!("{}<Melding>", file_preamble(&csrf));
    let req = format!(
        "{}{body}",
        upload_head(
            &env,
            &cookie,
            &format!("Content-Length: {}\r\n", body.len() + 1000)
        )
    );
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(env.sm.addr()).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
        .await
        .expect("an answer, not a hang")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("stoppet"), "{answer}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(env.intake.all_submissions().unwrap().is_empty());
}

#[tokio::test]
async fn a_file_that_is_not_xml_is_stored_and_reported() {
    let env = start_at(config(), friday()).await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let junk: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (s, page) = env
        .upload_file(Channel::Ordinary, &cookie, "040300.7z", &junk)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let sub = &env.intake.all_submissions().unwrap()[0];
    assert_eq!(env.intake.raw_bytes(sub.id).unwrap().unwrap(), junk);
    let sum = sub.summary.unwrap();
    assert!(
        sum.errors >= 1 && !sum.schema_valid && sum.notifications == 0,
        "{sum:?}"
    );
    let report: serde_json::Value =
        serde_json::from_str(sub.report_json.as_ref().unwrap()).unwrap();
    assert_eq!(report["findings"][0]["category"], "wellformed", "{report}");
    assert_ne!(by_id(&page, "feil-antall").unwrap(), "0");
    // An IPLOS-shaped file of another kind: XML, but not a Melding.
    let (s, _) = env
        .upload_file(
            Channel::Ordinary,
            &cookie,
            "feil.xml",
            b"<?xml version=\"1.0\"?><html><body/></html>",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let sub = &env.intake.all_submissions().unwrap()[1];
    assert!(sub.summary.unwrap().errors >= 1);
    // An empty file is refused.
    let (s, _) = env
        .upload_file(Channel::Ordinary, &cookie, "tom.xml", b"")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(env.intake.all_submissions().unwrap().len(), 2);
}
