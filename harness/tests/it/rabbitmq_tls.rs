//! `rehearse --broker amqps://… --broker-management https://… --broker-ca FILE`: the 2026
//! season on a private RabbitMQ node that speaks AMQP only over TLS (no plain listener) and
//! serves its management API over https too, its certificate from a test CA made with the
//! `openssl` command. Every kommune gets its AppRec over TLS; a CA that did not sign the
//! broker's certificate, or no CA at all, fails at once with an error naming the broker or
//! the flag, not a hang. `certify run` with the same flags: the session's AMQP front
//! reaches the node over TLS, and the reference EPJ's test submission and error-queue
//! phase pass.
//!
//! The node is `rabbitmq_support`'s private node, its plain listener replaced by the TLS
//! one. Without RabbitMQ the test says
//! "skipped" (and fails when `CI` is set).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::certify_rabbitmq::{connections, run_with};
use crate::certify_support::{explain, with};
use crate::openssl_ca::{make_ca, make_server};
use crate::rabbitmq_support::{ADMIN, ADMIN_PASS, NodeConfig, Rabbit, available, free_port};
use crate::rehearse_rabbitmq::{answered, rehearse};

/// One private RabbitMQ node (`rabbitmq_support`) with a TLS listener only and its
/// management API on http and https, its certificate from the test CA `ca.pem`; a second
/// CA, `wrong-ca.pem`, signed nothing of it.
struct TlsNode {
    certs: tempfile::TempDir,
    /// The node (stopped when dropped).
    _rabbit: Rabbit,
    tls_port: u16,
    mgmt_port: u16,
    mgmt_tls_port: u16,
}

impl TlsNode {
    fn start() -> TlsNode {
        let certs = tempfile::tempdir().unwrap();
        let d = certs.path();
        make_ca(d, "ca");
        make_ca(d, "wrong-ca");
        make_server(d, "ca", "server", "DNS:localhost,IP:127.0.0.1");
        let (tls_port, mgmt_tls_port) = (free_port(), free_port());
        let extra = format!(
            "listeners.ssl.1 = 127.0.0.1:{tls_port}\n\
             ssl_options.cacertfile = {ca}\n\
             ssl_options.certfile = {cert}\n\
             ssl_options.keyfile = {key}\n\
             ssl_options.verify = verify_none\n\
             ssl_options.fail_if_no_peer_cert = false\n\
             management.ssl.port = {mgmt_tls_port}\n\
             management.ssl.ip = 127.0.0.1\n\
             management.ssl.cacertfile = {ca}\n\
             management.ssl.certfile = {cert}\n\
             management.ssl.keyfile = {key}\n",
            ca = d.join("ca.pem").display(),
            cert = d.join("server.pem").display(),
            key = d.join("server.key").display(),
        );
        let rabbit = Rabbit::start_with(
            1,
            &NodeConfig {
                no_plain_listener: true,
                extra,
            },
        );
        let mgmt_port = rabbit.nodes[0].mgmt_port;
        // Running, as its management API says; the TLS listeners take connections too.
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", mgmt_tls_port)).is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the node runs but its TLS listeners do not take connections"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        TlsNode {
            certs,
            _rabbit: rabbit,
            tls_port,
            mgmt_port,
            mgmt_tls_port,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.certs.path().join(name)
    }
}

/// Runs `rehearse` expecting it to fail within `within`; its stderr.
fn rehearse_fails(out: &Path, extra: &[&str], within: Duration) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iplos-harness"))
        .args(["rehearse", "--season", "2026", "--scale", "0.01"])
        .args(["--municipality", "0301,4601", "--out"])
        .arg(out)
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(!status.success(), "rehearse succeeded: {err}");
            return err;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rehearse {extra:?} still running after {within:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn season_over_amqps_with_the_brokers_ca() {
    if !available() {
        return;
    }
    let node = TlsNode::start();
    let broker = format!("amqps://{ADMIN}:{ADMIN_PASS}@127.0.0.1:{}", node.tls_port);
    let management = format!("http://{ADMIN}:{ADMIN_PASS}@127.0.0.1:{}", node.mgmt_port);
    let ca = node.file("ca.pem");
    let wrong = node.file("wrong-ca.pem");
    let dir = tempfile::tempdir().unwrap();

    // No CA: refused before anything connects, naming the flag.
    let err = rehearse_fails(
        &dir.path().join("no-ca"),
        &["--broker", &broker, "--broker-management", &management],
        Duration::from_secs(20),
    );
    eprintln!("without --broker-ca: {err}");
    assert!(err.contains("--broker-ca"), "{err}");

    // A CA that did not sign the broker's certificate: a clear error naming the broker.
    let err = rehearse_fails(
        &dir.path().join("wrong-ca"),
        &[
            "--broker",
            &broker,
            "--broker-management",
            &management,
            "--broker-ca",
            wrong.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    eprintln!("with the wrong CA: {err}");
    assert!(
        err.contains(&format!("amqps://127.0.0.1:{}", node.tls_port)) && err.contains("TLS"),
        "{err}"
    );

    // The right CA: every kommune gets its AppRec, over TLS (the node has no plain AMQP
    // listener), provisioned through the management API over https.
    let management = format!(
        "https://{ADMIN}:{ADMIN_PASS}@127.0.0.1:{}",
        node.mgmt_tls_port
    );
    let out = dir.path().join("ok");
    let kommuner = "0301,4601";
    rehearse(
        &out,
        kommuner,
        &[
            "--broker",
            &broker,
            "--broker-management",
            &management,
            "--broker-ca",
            ca.to_str().unwrap(),
        ],
    );
    let expected: std::collections::BTreeSet<String> =
        kommuner.split(',').map(|k| format!("9{k:0>6}")).collect();
    assert_eq!(answered(&out.join("state")), expected);

    // `certify run` on the same node: the session's front and its count of the _error
    // queue reach RabbitMQ over TLS only (the node has no plain listener), and the
    // reference EPJ's test submission and error-queue phase pass.
    let tmp = dir.path().join("certify");
    std::fs::create_dir_all(&tmp).unwrap();
    let args: Vec<String> = [
        "--broker",
        &broker,
        "--broker-management",
        &management,
        "--broker-ca",
        ca.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (report, console) = run_with(&args, None, Some("test-submission,error-queue"), &tmp);
    // RECEIPT-03 passes only when the _error queue was counted (over TLS, as a client).
    assert!(
        with(&report, "fail").is_empty() && with(&report, "pass").contains("RECEIPT-03"),
        "{}\n{console}",
        explain(&report)
    );
    assert!(
        connections(&tmp)
            .iter()
            .any(|e| e["kind"]["event"] == "stored"),
        "the front logged the EPJ's messages stored on RabbitMQ"
    );
}
