//! The SMTP reader of the mail mock (`mocks/src/mail/smtp.rs`) through its public
//! server: each input is one session on 127.0.0.1 (the bytes are sent, the write side is
//! closed, replies are read until the server closes or 2 s pass). The server must
//! survive every session: the next one must still get a greeting.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use iplos_mocks::mail::{MailConfig, MailServer, SmtpLimits};
use iplos_model::calendar::SystemClock;
use libfuzzer_sys::fuzz_target;

/// The server, started once per process on its own runtime.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async move {
                let config = MailConfig {
                    smtp_bind: "127.0.0.1:0".parse().expect("addr"),
                    http_bind: None,
                    limits: SmtpLimits {
                        idle_timeout: Duration::from_millis(500),
                        data_timeout: Duration::from_millis(500),
                        ..SmtpLimits::default()
                    },
                    ..MailConfig::default()
                };
                let handle = MailServer::start(config, Arc::new(SystemClock))
                    .await
                    .expect("mail server");
                tx.send(handle.smtp_addr()).expect("send addr");
                std::future::pending::<()>().await;
                drop(handle);
            });
        });
        rx.recv().expect("server address")
    })
}

fuzz_target!(|data: &[u8]| {
    let addr = server();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let _ = s.write_all(data);
    let _ = s.shutdown(Shutdown::Write);
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    // The server must still answer.
    let mut probe = TcpStream::connect(addr).expect("server gone");
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut greeting = [0u8; 3];
    probe.read_exact(&mut greeting).expect("no greeting");
    assert!(
        &greeting == b"220" || &greeting == b"421",
        "greeting {greeting:?}"
    );
});
