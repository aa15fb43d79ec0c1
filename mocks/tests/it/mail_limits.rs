//! The SMTP limits: message size (552), recipients (452), text line length (554),
//! connections (421). The server keeps serving after each.

use crate::mail_support;
use std::time::Duration;

use iplos_mocks::mail::{MailConfig, SmtpLimits};
use mail_support::{Raw, assert_good_client_works, py_send, start};

const MAX: usize = 64 * 1024;

fn config() -> MailConfig {
    MailConfig {
        limits: SmtpLimits {
            max_message_size: MAX,
            max_text_line: 1000,
            max_connections: 2,
            ..SmtpLimits::default()
        },
        ..MailConfig::default()
    }
}

/// A message of exactly `size` bytes (CRLF line ends, lines of 78 characters).
fn message_of(size: usize) -> Vec<u8> {
    let mut m = b"Subject: size\r\n\r\n".to_vec();
    while m.len() < size {
        let room = size - m.len();
        if room >= 80 {
            m.extend_from_slice(&[b'x'; 78]);
            m.extend_from_slice(b"\r\n");
        } else if room >= 2 {
            m.extend(std::iter::repeat_n(b'y', room - 2));
            m.extend_from_slice(b"\r\n");
        } else {
            // Not reachable for the sizes used here.
            m.push(b'z');
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_limit() {
    let handle = start(config()).await;
    let addr = handle.smtp_addr();

    // smtplib announces SIZE in MAIL FROM: refused at once.
    let big = message_of(MAX + 1);
    let v = py_send(addr, "a@b.no", &["big@y.no"], &big, &[]).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["error"]["type"], "SMTPSenderRefused", "{v}");
    assert_eq!(v["error"]["code"], 552, "{v}");

    // Exactly the limit passes.
    let exact = message_of(MAX);
    assert_eq!(exact.len(), MAX);
    let v = py_send(addr, "a@b.no", &["exact@y.no"], &exact, &[]).await;
    assert_eq!(v["ok"], true, "{v}");
    let list = handle.messages("exact@y.no").unwrap();
    assert_eq!(list[0].size, MAX as u64);

    // Without SIZE: the whole DATA is read, not kept, and refused at its end; the session
    // goes on.
    let mut s = Raw::greeted(addr).await;
    assert_eq!(s.cmd("EHLO client.invalid").await.0, 250);
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<big@y.no>").await.0, 250);
    assert_eq!(s.cmd("DATA").await.0, 354);
    let huge = message_of(MAX * 16);
    s.send(&huge).await;
    s.send(b".\r\n").await;
    let (code, text) = s.reply().await;
    assert_eq!(code, 552, "{text}");
    assert_eq!(s.cmd("MAIL FROM:<a@b.no> SIZE=100").await.0, 250);
    assert_eq!(
        s.cmd(&format!("MAIL FROM:<a@b.no> SIZE={}", MAX + 1))
            .await
            .0,
        503
    );
    assert_eq!(s.cmd("RSET").await.0, 250);
    assert_eq!(
        s.cmd(&format!("MAIL FROM:<a@b.no> SIZE={}", MAX + 1))
            .await
            .0,
        552
    );
    assert_eq!(s.cmd("QUIT").await.0, 221);
    assert!(handle.messages("big@y.no").unwrap().is_empty());
    assert_good_client_works(&handle, "after@size.no").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_limit() {
    let handle = start(MailConfig::default()).await;
    let to: Vec<String> = (0..101)
        .map(|i| format!("r{i}@hamar.kommune.test"))
        .collect();
    let to_refs: Vec<&str> = to.iter().map(String::as_str).collect();
    let msg = mail_support::simple_message("a@b.no", "many@x.no", "many", "x");
    let v = py_send(handle.smtp_addr(), "a@b.no", &to_refs, &msg, &[]).await;
    assert_eq!(v["ok"], true, "{v}");
    let refused = v["refused"].as_object().unwrap();
    assert_eq!(refused.len(), 1, "{v}");
    assert_eq!(refused["r100@hamar.kommune.test"][0], 452);
    let boxes = handle.mailboxes().unwrap();
    assert_eq!(boxes.len(), 100);
    assert!(boxes.iter().all(|b| b.count == 1));
    assert!(
        handle
            .messages("r100@hamar.kommune.test")
            .unwrap()
            .is_empty()
    );

    // Repeating a recipient (any spelling of its domain) does not count twice.
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    assert_eq!(s.cmd("EHLO client.invalid").await.0, 250);
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 250);
    for _ in 0..150 {
        assert_eq!(s.cmd("RCPT TO:<same@HAMAR.kommune.test>").await.0, 250);
    }
    assert_eq!(s.cmd("DATA").await.0, 354);
    s.send(b"Subject: once\r\n\r\n.\r\n").await;
    assert_eq!(s.reply().await.0, 250);
    let m = handle
        .wait_for(
            |m| m.is_for("same@hamar.kommune.test"),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(m.envelope.to, vec!["same@HAMAR.kommune.test"]);
    assert_good_client_works(&handle, "after@rcpt.no").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_line_limit() {
    let handle = start(config()).await;
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    assert_eq!(s.cmd("EHLO client.invalid").await.0, 250);
    // A line just under the limit passes.
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<lines@y.no>").await.0, 250);
    assert_eq!(s.cmd("DATA").await.0, 354);
    s.send(format!("Subject: ok\r\n\r\n{}\r\n.\r\n", "a".repeat(998)).as_bytes())
        .await;
    assert_eq!(s.reply().await.0, 250);
    // A line of 5000 bytes does not.
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<lines@y.no>").await.0, 250);
    assert_eq!(s.cmd("DATA").await.0, 354);
    s.send(
        format!(
            "Subject: long\r\n\r\n{}\r\nafter\r\n.\r\n",
            "b".repeat(5000)
        )
        .as_bytes(),
    )
    .await;
    let (code, text) = s.reply().await;
    assert_eq!(code, 554, "{text}");
    assert_eq!(s.cmd("NOOP").await.0, 250);
    assert_eq!(s.cmd("QUIT").await.0, 221);
    let list = handle.messages("lines@y.no").unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].subject, "ok");
    assert_good_client_works(&handle, "after@lines.no").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit() {
    let handle = start(config()).await;
    let addr = handle.smtp_addr();
    let mut first = Raw::greeted(addr).await;
    let _second = Raw::greeted(addr).await;
    let mut third = Raw::connect(addr).await;
    let (code, text) = third.reply().await;
    assert_eq!(code, 421, "{text}");
    assert!(third.is_closed().await);
    assert!(
        handle
            .events()
            .iter()
            .any(|e| e.code == 421 && e.input == "(connect)")
    );
    // A slot frees when a session ends.
    assert_eq!(first.cmd("QUIT").await.0, 221);
    assert!(first.is_closed().await);
    let mut greeted = false;
    for _ in 0..100 {
        let mut again = Raw::connect(addr).await;
        if again.reply().await.0 == 220 {
            greeted = true;
            assert_eq!(again.cmd("QUIT").await.0, 221);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(greeted, "no slot after a session ended");
    drop(_second);
    handle.shutdown().await.unwrap();
}
