//! `rehearse --broker amqps://… --broker-management https://… --broker-ca FILE`: the 2026
//! season on a private RabbitMQ node that speaks AMQP only over TLS (no plain listener) and
//! serves its management API over https too, its certificate from a test CA made with the
//! `openssl` command. Every kommune gets its AppRec over TLS; a CA that did not sign the
//! broker's certificate, or no CA at all, fails at once with an error naming the broker or
//! the flag, not a hang. `certify run` with the same flags: the session's AMQP front
//! reaches the node over TLS, and the reference EPJ's test submission passes.
//!
//! The node is started here (not by `rabbitmq_support`, whose nodes are plain): the same
//! private set-up (node name, ports, data, HOME and epmd under a temp dir, 127.0.0.1 only,
//! a watchdog killing it when the test process is gone). Without RabbitMQ the test says
//! "skipped" (and fails when `CI` is set).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::certify_rabbitmq::{connections, run_with};
use crate::certify_support::{explain, with};
use crate::rabbitmq_support::{ADMIN, ADMIN_PASS, available};
use crate::rehearse_rabbitmq::{answered, rehearse};

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A self-signed CA `NAME.pem` / `NAME.key` in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=iplos test {name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// `server.pem` / `server.key` for 127.0.0.1 and localhost, signed by `ca`.
fn make_server_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

/// One private RabbitMQ node with a TLS listener only.
struct TlsNode {
    dir: tempfile::TempDir,
    tls_port: u16,
    mgmt_port: u16,
    mgmt_tls_port: u16,
    child: Child,
    epmd: Child,
}

impl Drop for TlsNode {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.path().join("rabbit.pid")).unwrap_or_default();
        if !pid.trim().is_empty() {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
    }
}

impl TlsNode {
    fn start() -> TlsNode {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_ca(d, "ca");
        make_ca(d, "wrong-ca");
        make_server_cert(d, "ca");
        let home = d.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let cookie = home.join(".erlang.cookie");
        std::fs::write(&cookie, format!("IPLOSTLS{}", std::process::id())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cookie, std::fs::Permissions::from_mode(0o400)).unwrap();
        let epmd_port = free_port();
        let epmd = Command::new("epmd")
            .args(["-port", &epmd_port.to_string()])
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tls_port, mgmt_port, dist_port) = (free_port(), free_port(), free_port());
        let mgmt_tls_port = free_port();
        let name = format!("iplostls{}x{tls_port}@localhost", std::process::id());
        for sub in ["mnesia", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(
            d.join("enabled_plugins"),
            "[rabbitmq_amqp1_0,rabbitmq_management].",
        )
        .unwrap();
        let conf = format!(
            "listeners.tcp = none\n\
             listeners.ssl.1 = 127.0.0.1:{tls_port}\n\
             ssl_options.cacertfile = {ca}\n\
             ssl_options.certfile = {cert}\n\
             ssl_options.keyfile = {key}\n\
             ssl_options.verify = verify_none\n\
             ssl_options.fail_if_no_peer_cert = false\n\
             management.tcp.port = {mgmt_port}\n\
             management.tcp.ip = 127.0.0.1\n\
             management.ssl.port = {mgmt_tls_port}\n\
             management.ssl.ip = 127.0.0.1\n\
             management.ssl.cacertfile = {ca}\n\
             management.ssl.certfile = {cert}\n\
             management.ssl.keyfile = {key}\n\
             default_user = {ADMIN}\n\
             default_pass = {ADMIN_PASS}\n\
             default_user_tags.administrator = true\n\
             loopback_users = none\n\
             amqp1_0.default_user = none\n\
             disk_free_limit.absolute = 50MB\n\
             collect_statistics_interval = 500\n\
             log.console = false\n\
             log.file.level = warning\n",
            ca = d.join("ca.pem").display(),
            cert = d.join("server.pem").display(),
            key = d.join("server.key").display(),
        );
        std::fs::write(d.join("rabbitmq.conf"), conf).unwrap();
        std::fs::write(d.join("rabbitmq-env.conf"), "").unwrap();
        std::fs::write(d.join("advanced.config"), "[].").unwrap();
        let script = format!(
            "{SERVER} >'{log}' 2>&1 & rpid=$!; \
             while kill -0 {me} 2>/dev/null && kill -0 $rpid 2>/dev/null; do sleep 1; done; \
             p=$(cat '{pidf}' 2>/dev/null); [ -n \"$p\" ] && kill -9 $p 2>/dev/null; \
             kill -9 $rpid 2>/dev/null; kill {epmd_pid} 2>/dev/null; exit 0",
            log = d.join("stdout.log").display(),
            me = std::process::id(),
            pidf = d.join("rabbit.pid").display(),
            epmd_pid = epmd.id(),
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .env("HOME", &home)
            .env("RABBITMQ_NODENAME", &name)
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", d.join("rabbit.pid"))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = TlsNode {
            dir,
            tls_port,
            mgmt_port,
            mgmt_tls_port,
            child,
            epmd,
        };
        node.wait_running(Duration::from_secs(240));
        node
    }

    /// Until the management API answers and the TLS listener takes connections.
    fn wait_running(&self, within: Duration) {
        let start = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        loop {
            let up = rt.block_on(async {
                reqwest::Client::new()
                    .get(format!("http://127.0.0.1:{}/api/overview", self.mgmt_port))
                    .basic_auth(ADMIN, Some(ADMIN_PASS))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }) && std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", self.mgmt_tls_port)).is_ok();
            if up {
                return;
            }
            if start.elapsed() > within {
                let log =
                    std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default();
                panic!("RabbitMQ with TLS did not start within {within:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
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

    // `certify run` on the same node: the session's front reaches RabbitMQ over TLS only
    // (the node has no plain listener), and the reference EPJ's test submission passes.
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
    let (report, console) = run_with(&args, None, Some("test-submission"), &tmp);
    assert!(
        with(&report, "fail").is_empty() && !with(&report, "pass").is_empty(),
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
