//! Malformed and unusual SMTP sessions: each gets its reply code, is logged, and the
//! server stays up (a good client, Python's smtplib, still gets its mail through).

use crate::mail_support;
use std::time::Duration;

use iplos_mocks::mail::{MailConfig, SmtpLimits};
use mail_support::{Raw, assert_good_client_works, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_out_of_order_get_503() {
    let handle = start(MailConfig::default()).await;
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 503, "MAIL before EHLO");
    assert_eq!(
        s.cmd("AUTH PLAIN AGEAYg==").await.0,
        503,
        "AUTH before EHLO"
    );
    assert_eq!(s.cmd("EHLO client.invalid").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<c@d.no>").await.0, 503, "RCPT before MAIL");
    assert_eq!(s.cmd("DATA").await.0, 503, "DATA before MAIL");
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 250);
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 503, "nested MAIL");
    assert_eq!(s.cmd("DATA").await.0, 503, "DATA before RCPT");
    assert_eq!(
        s.cmd("AUTH PLAIN AGEAYg==").await.0,
        503,
        "AUTH in a transaction"
    );
    assert_eq!(s.cmd("RSET").await.0, 250);
    assert_eq!(
        s.cmd("RCPT TO:<c@d.no>").await.0,
        503,
        "RSET ended the transaction"
    );
    assert_eq!(s.cmd("NOOP").await.0, 250);
    let (code, text) = s.cmd("QUIT").await;
    assert_eq!(code, 221, "{text}");
    assert!(s.is_closed().await);
    let codes: Vec<u16> = handle.events().iter().map(|e| e.code).collect();
    assert_eq!(codes, vec![503; 8]);
    assert!(handle.events()[0].input.starts_with("MAIL FROM"));
    assert_eq!(
        handle.events()[1].input,
        "AUTH PLAIN",
        "credentials are not logged"
    );
    assert_eq!(handle.store().count().unwrap(), 0);
    assert_good_client_works(&handle, "after@order.no").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_refused_and_bad_syntax() {
    let handle = start(MailConfig::default()).await;
    // Two sessions, each under the limit of 10 errors per session.
    let sessions: &[&[(&str, u16)]] = &[
        &[
            ("EHLO", 501),
            ("HELO", 501),
            ("EHLO client.invalid", 250),
            ("FROB nicate", 500),
            ("VRFY postmottak", 502),
            ("EXPN iplos", 502),
            ("STARTTLS", 502),
            ("BDAT 10 LAST", 502),
            ("AUTH CRAM-MD5", 504),
            ("HELP", 214),
        ],
        &[
            ("EHLO client.invalid", 250),
            ("MAIL TO:<a@b.no>", 501),
            ("MAIL FROM:<a@b.no", 501),
            ("MAIL FROM:<a@b.no> SIZE=abc", 501),
            ("MAIL FROM:<a@b.no> RET=HDRS", 555),
            ("MAIL FROM:<>", 250),
            ("RCPT TO:<>", 501),
            ("RCPT TO:<nobody>", 501),
            ("RCPT TO:<c@d.no> NOTIFY=NEVER", 555),
            ("RCPT TO:<Postmaster>", 250),
            ("RSET", 250),
        ],
    ];
    for cases in sessions {
        let mut s = Raw::greeted(handle.smtp_addr()).await;
        for (line, code) in *cases {
            let (got, text) = s.cmd(line).await;
            assert_eq!(got, *code, "{line:?} -> {got} {text}");
        }
        assert_eq!(s.cmd("QUIT").await.0, 221);
    }
    // Each refusal was logged with its code.
    let logged: Vec<(String, u16)> = handle
        .events()
        .into_iter()
        .map(|e| (e.input, e.code))
        .collect();
    assert!(logged.contains(&("VRFY postmottak".to_string(), 502)));
    assert!(logged.contains(&("FROB nicate".to_string(), 500)));
    assert!(logged.contains(&("RCPT TO:<c@d.no> NOTIFY=NEVER".to_string(), 555)));
    assert_good_client_works(&handle, "after@syntax.no").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_any_credentials_but_well_formed() {
    let handle = start(MailConfig::default()).await;
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    assert_eq!(s.cmd("EHLO client.invalid").await.0, 250);
    assert_eq!(s.cmd("AUTH PLAIN !!!notbase64").await.0, 501);
    assert_eq!(s.cmd("AUTH PLAIN AGE=").await.0, 501, "only one NUL");
    // PLAIN without initial response: 334, then a cancel.
    assert_eq!(s.cmd("AUTH PLAIN").await.0, 334);
    assert_eq!(s.cmd("*").await.0, 501);
    // LOGIN with a bad user line.
    assert_eq!(s.cmd("AUTH LOGIN").await, (334, "VXNlcm5hbWU6".to_string()));
    assert_eq!(s.cmd("%%%").await.0, 501);
    // "\0kommune\0pass" -> any credentials are accepted.
    assert_eq!(s.cmd("AUTH PLAIN AGtvbW11bmUAcGFzcw==").await.0, 235);
    assert_eq!(
        s.cmd("AUTH PLAIN AGtvbW11bmUAcGFzcw==").await.0,
        503,
        "twice"
    );
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<c@d.no>").await.0, 250);
    assert_eq!(s.cmd("DATA").await.0, 354);
    s.send(b"Subject: auth\r\n\r\nbody\r\n.\r\n").await;
    let (code, text) = s.reply().await;
    assert_eq!(code, 250, "{text}");
    let m = handle
        .wait_for(|m| m.is_for("c@d.no"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(m.auth_user.as_deref(), Some("kommune"));
    assert_good_client_works(&handle, "after@auth.no").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_garbage_and_too_many_errors_close_with_421() {
    let handle = start(MailConfig::default()).await;
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    s.send(b"\x00\xff\xfe\x01\x02garbage\r\n").await;
    assert_eq!(s.reply().await.0, 500, "not text");
    s.send(b"EHLO \x07bell\r\n").await;
    assert_eq!(s.reply().await.0, 500, "control characters");
    assert_eq!(s.cmd("").await.0, 500, "empty line");
    // An HTTP client on the SMTP port.
    assert_eq!(s.cmd("GET / HTTP/1.1").await.0, 500);
    // Up to the limit (10 errors) the session lives; the 10th closes it.
    for _ in 0..5 {
        assert_eq!(s.cmd("FROB").await.0, 500);
    }
    let (code, text) = s.cmd("FROB").await;
    assert_eq!(code, 500, "{text}");
    let (code, text) = s.reply().await;
    assert_eq!(code, 421, "{text}");
    assert!(s.is_closed().await);
    assert!(
        handle
            .events()
            .iter()
            .any(|e| e.code == 421 && e.input == "(errors)")
    );
    assert_good_client_works(&handle, "after@garbage.no").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_command_line_gets_500_and_the_session_goes_on() {
    let handle = start(MailConfig::default()).await;
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    let long = format!("EHLO {}", "x".repeat(100_000));
    assert_eq!(s.cmd(&long).await.0, 500);
    assert_eq!(s.cmd("EHLO client.invalid").await.0, 250);
    assert_eq!(s.cmd("QUIT").await.0, 221);
    assert_good_client_works(&handle, "after@long.no").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_are_answered_in_order() {
    let handle = start(MailConfig::default()).await;
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    assert_eq!(s.cmd("EHLO client.invalid").await.0, 250);
    s.send(
        b"MAIL FROM:<a@b.no>\r\nRCPT TO:<x@y.no>\r\nRCPT TO:<bad>\r\nRCPT TO:<z@y.no>\r\nDATA\r\n",
    )
    .await;
    let codes = [
        s.reply().await.0,
        s.reply().await.0,
        s.reply().await.0,
        s.reply().await.0,
        s.reply().await.0,
    ];
    assert_eq!(codes, [250, 250, 501, 250, 354]);
    s.send(b"Subject: pipelined\r\n\r\n.\r\n").await;
    assert_eq!(s.reply().await.0, 250);
    let m = handle
        .wait_for(|m| m.is_for("z@y.no"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(m.envelope.to, vec!["x@y.no", "z@y.no"]);
    assert_eq!(m.raw, b"Subject: pipelined\r\n\r\n");
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gone_in_data_stores_nothing() {
    let handle = start(MailConfig::default()).await;
    {
        let mut s = Raw::greeted(handle.smtp_addr()).await;
        assert_eq!(s.cmd("HELO client.invalid").await.0, 250);
        assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 250);
        assert_eq!(s.cmd("RCPT TO:<gone@y.no>").await.0, 250);
        assert_eq!(s.cmd("DATA").await.0, 354);
        s.send(b"Subject: half\r\n\r\nthe client dies here").await;
    }
    assert_good_client_works(&handle, "after@gone.no").await;
    assert!(handle.messages("gone@y.no").unwrap().is_empty());
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_client_and_endless_data_time_out_with_421() {
    let config = MailConfig {
        limits: SmtpLimits {
            idle_timeout: Duration::from_millis(1000),
            data_timeout: Duration::from_millis(3000),
            ..SmtpLimits::default()
        },
        ..MailConfig::default()
    };
    let handle = start(config).await;

    // Silent after the greeting.
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    let (code, text) = s.reply().await;
    assert_eq!(code, 421, "{text}");
    assert!(text.contains("timeout"), "{text}");
    assert!(s.is_closed().await);

    // A DATA that stops without its final dot.
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    assert_eq!(s.cmd("EHLO client.invalid").await.0, 250);
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<never@y.no>").await.0, 250);
    assert_eq!(s.cmd("DATA").await.0, 354);
    s.send(b"Subject: never ends\r\n\r\nline\r\n").await;
    assert_eq!(s.reply().await.0, 421);
    assert!(s.is_closed().await);

    // A DATA that trickles a line at a time, each within the idle time, past the
    // DATA time limit.
    let mut s = Raw::greeted(handle.smtp_addr()).await;
    assert_eq!(s.cmd("EHLO client.invalid").await.0, 250);
    assert_eq!(s.cmd("MAIL FROM:<a@b.no>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<trickle@y.no>").await.0, 250);
    assert_eq!(s.cmd("DATA").await.0, 354);
    let (code, text) = s
        .trickle_until_reply(b"more\r\n", Duration::from_millis(200))
        .await;
    assert_eq!(code, 421, "{text}");

    assert!(handle.messages("never@y.no").unwrap().is_empty());
    assert!(handle.messages("trickle@y.no").unwrap().is_empty());
    let inputs: Vec<String> = handle.events().into_iter().map(|e| e.input).collect();
    assert!(inputs.contains(&"(idle)".to_string()));
    assert!(inputs.contains(&"(DATA)".to_string()));
    assert_good_client_works(&handle, "after@timeout.no").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_open_sessions_421() {
    let handle = start(MailConfig::default()).await;
    let mut idle = Raw::greeted(handle.smtp_addr()).await;
    assert_eq!(idle.cmd("EHLO client.invalid").await.0, 250);
    let mut in_data = Raw::greeted(handle.smtp_addr()).await;
    assert_eq!(in_data.cmd("EHLO client.invalid").await.0, 250);
    assert_eq!(in_data.cmd("MAIL FROM:<a@b.no>").await.0, 250);
    assert_eq!(in_data.cmd("RCPT TO:<cut@y.no>").await.0, 250);
    assert_eq!(in_data.cmd("DATA").await.0, 354);
    in_data.send(b"Subject: cut\r\n\r\n").await;
    let store = handle.store().clone();
    let addr = handle.smtp_addr();
    handle.shutdown().await.unwrap();
    assert_eq!(idle.reply().await.0, 421);
    assert_eq!(in_data.reply().await.0, 421);
    assert_eq!(store.count().unwrap(), 0, "an unfinished DATA is not kept");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}
