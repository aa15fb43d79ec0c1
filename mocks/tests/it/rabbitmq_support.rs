//! Private RabbitMQ nodes for the tests, from Debian's `rabbitmq-server` package: own node
//! names, ports, data and log directories, config, enabled plugins (AMQP 1.0 and
//! management), Erlang cookie (HOME) and epmd, all under a temporary directory; listening
//! on 127.0.0.1 only. Nothing under /etc/rabbitmq or /var/lib/rabbitmq is used.
//!
//! A cluster's nodes find each other through classic config peer discovery, so the three
//! start at once. Every node is watched by a shell loop that kills it (and the private
//! epmd) when the test process is gone, so a panicking test leaves nothing behind.
//!
//! Without the package the tests are skipped, or fail with `CI` set.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use iplos_mocks::rabbitmq::{BrokerUrl, Management, ManagementUrl};

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
pub const ADMIN: &str = "iplos-admin";
pub const ADMIN_PASS: &str = "iplos-admin-pass";

/// Whether RabbitMQ can be started; panics under CI when it cannot.
pub fn available() -> bool {
    let ok = Path::new(SERVER).exists() && which("epmd");
    if !ok && std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but RabbitMQ is not installed (apt-get install -y rabbitmq-server; .ci/run does)"
        );
    }
    if !ok {
        eprintln!("skipped: rabbitmq-server is not installed");
    }
    ok
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
        .unwrap_or(false)
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One node of a private RabbitMQ.
pub struct Node {
    pub name: String,
    pub amqp_port: u16,
    pub mgmt_port: u16,
    dir: PathBuf,
    child: Child,
}

impl Node {
    /// The beam process's pid (from the pid file).
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("rabbit.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Kills the node at once (`kill -9` of the Erlang VM).
    pub fn kill9(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a node gets besides the defaults (a plain AMQP listener, management on http).
#[derive(Debug, Clone, Default)]
pub struct NodeConfig {
    /// No plain AMQP listener (`listeners.tcp = none`): AMQP only on what `extra` opens.
    pub no_plain_listener: bool,
    /// Lines added to every node's `rabbitmq.conf` (TLS listeners and certificates, …).
    pub extra: String,
}

/// A private RabbitMQ of one or more clustered nodes.
pub struct Rabbit {
    _dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    epmd: Child,
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill9();
        }
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
    }
}

impl Rabbit {
    /// Starts `count` nodes (clustered when more than one) and waits until the management
    /// API of the first sees all of them running.
    pub fn start(count: usize) -> Rabbit {
        Rabbit::start_with(count, &NodeConfig::default())
    }

    /// [`Rabbit::start`] with `config` for every node.
    pub fn start_with(count: usize, config: &NodeConfig) -> Rabbit {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let cookie = home.join(".erlang.cookie");
        std::fs::write(&cookie, format!("IPLOSTEST{}", std::process::id())).unwrap();
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
        let tag = format!("{}x{}", std::process::id(), free_port());
        let names: Vec<String> = (0..count)
            .map(|i| format!("iplos{tag}n{i}@localhost"))
            .collect();
        let mut commands = Vec::new();
        for name in &names {
            let ndir = dir.path().join(name.split('@').next().unwrap());
            std::fs::create_dir_all(ndir.join("mnesia")).unwrap();
            std::fs::create_dir_all(ndir.join("log")).unwrap();
            let (amqp_port, mgmt_port, dist_port) = (free_port(), free_port(), free_port());
            std::fs::write(
                ndir.join("enabled_plugins"),
                "[rabbitmq_amqp1_0,rabbitmq_management].",
            )
            .unwrap();
            let plain = if config.no_plain_listener {
                "listeners.tcp = none".to_string()
            } else {
                format!("listeners.tcp.1 = 127.0.0.1:{amqp_port}")
            };
            let mut conf = format!(
                "{plain}\n\
                 management.tcp.port = {mgmt_port}\n\
                 management.tcp.ip = 127.0.0.1\n\
                 default_user = {ADMIN}\n\
                 default_pass = {ADMIN_PASS}\n\
                 default_user_tags.administrator = true\n\
                 loopback_users = none\n\
                 amqp1_0.default_user = none\n\
                 disk_free_limit.absolute = 50MB\n\
                 collect_statistics_interval = 500\n\
                 log.console = false\n\
                 log.file.level = warning\n{}",
                config.extra
            );
            if count > 1 {
                conf.push_str("cluster_formation.peer_discovery_backend = classic_config\n");
                conf.push_str("cluster_formation.randomized_startup_delay_range.min = 0\n");
                conf.push_str("cluster_formation.randomized_startup_delay_range.max = 1\n");
                for (i, n) in names.iter().enumerate() {
                    conf.push_str(&format!(
                        "cluster_formation.classic_config.nodes.{} = {n}\n",
                        i + 1
                    ));
                }
            }
            std::fs::write(ndir.join("rabbitmq.conf"), conf).unwrap();
            std::fs::write(ndir.join("rabbitmq-env.conf"), "").unwrap();
            std::fs::write(ndir.join("advanced.config"), "[].").unwrap();
            // The node, and a watchdog that kills it when this test process is gone.
            let script = format!(
                "{SERVER} >'{log}' 2>&1 & rpid=$!; \
                 while kill -0 {me} 2>/dev/null && kill -0 $rpid 2>/dev/null; do sleep 1; done; \
                 p=$(cat '{pidf}' 2>/dev/null); [ -n \"$p\" ] && kill -9 $p 2>/dev/null; \
                 kill -9 $rpid 2>/dev/null; kill {epmd_pid} 2>/dev/null; exit 0",
                log = ndir.join("stdout.log").display(),
                me = std::process::id(),
                pidf = ndir.join("rabbit.pid").display(),
                epmd_pid = epmd.id(),
            );
            let mut cmd = Command::new("sh");
            cmd.args(["-c", &script])
                .env("HOME", &home)
                .env("RABBITMQ_NODENAME", name)
                .env("RABBITMQ_CONF_ENV_FILE", ndir.join("rabbitmq-env.conf"))
                .env("RABBITMQ_CONFIG_FILE", ndir.join("rabbitmq.conf"))
                .env(
                    "RABBITMQ_ADVANCED_CONFIG_FILE",
                    ndir.join("advanced.config"),
                )
                .env("RABBITMQ_MNESIA_BASE", ndir.join("mnesia"))
                .env("RABBITMQ_LOG_BASE", ndir.join("log"))
                .env(
                    "RABBITMQ_ENABLED_PLUGINS_FILE",
                    ndir.join("enabled_plugins"),
                )
                .env("RABBITMQ_PID_FILE", ndir.join("rabbit.pid"))
                .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
                .env("RABBITMQ_DIST_PORT", dist_port.to_string())
                .env("ERL_EPMD_PORT", epmd_port.to_string())
                .env("ERL_EPMD_ADDRESS", "127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if !config.no_plain_listener {
                cmd.env("RABBITMQ_NODE_PORT", amqp_port.to_string());
            }
            commands.push((cmd, name.clone(), amqp_port, mgmt_port, ndir));
        }
        let mut rabbit = Rabbit {
            _dir: dir,
            nodes: Vec::new(),
            epmd,
        };
        // The first node alone, then the others, which join it (all at once could each
        // form a cluster of its own).
        for (i, (mut cmd, name, amqp_port, mgmt_port, dir)) in commands.into_iter().enumerate() {
            rabbit.nodes.push(Node {
                name,
                amqp_port,
                mgmt_port,
                dir,
                child: cmd.spawn().unwrap(),
            });
            if i == 0 {
                rabbit.wait_running(1, Duration::from_secs(240));
            }
        }
        rabbit.wait_running(count, Duration::from_secs(240));
        rabbit
    }

    fn wait_running(&self, count: usize, within: Duration) {
        // On a thread of its own: callers may be inside a tokio runtime.
        std::thread::scope(|s| {
            s.spawn(|| self.wait_running_here(count, within))
                .join()
                .unwrap()
        })
    }

    fn wait_running_here(&self, count: usize, within: Duration) {
        let start = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        loop {
            // Every node's management API answers, and sees `count` nodes running.
            let running = (0..self.nodes.len())
                .map(|i| self.running_seen_by(&rt, i))
                .min()
                .flatten();
            if running.unwrap_or(0) >= count {
                return;
            }
            if start.elapsed() > within {
                for n in &self.nodes {
                    let log = std::fs::read_to_string(n.dir.join("stdout.log")).unwrap_or_default();
                    eprintln!("--- {} stdout:\n{log}", n.name);
                }
                panic!("RabbitMQ ({count} nodes) did not start within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn running_seen_by(&self, rt: &tokio::runtime::Runtime, i: usize) -> Option<usize> {
        {
            rt.block_on(async {
                let api = self.management_of(i);
                let v: Option<serde_json::Value> = reqwest::Client::new()
                    .get(format!("{}/api/nodes", api.base))
                    .basic_auth(ADMIN, Some(ADMIN_PASS))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                Some(
                    v?.as_array()?
                        .iter()
                        .filter(|n| n.get("running") == Some(&serde_json::Value::Bool(true)))
                        .count(),
                )
            })
        }
    }

    /// The management API of node `i`.
    pub fn management_of(&self, i: usize) -> ManagementUrl {
        ManagementUrl::parse(&format!(
            "http://{ADMIN}:{ADMIN_PASS}@127.0.0.1:{}",
            self.nodes[i].mgmt_port
        ))
        .unwrap()
    }

    /// A management client of node `i`.
    pub fn api(&self, i: usize) -> Management {
        Management::new(self.management_of(i)).unwrap()
    }

    /// Every node's AMQP address, admin login.
    pub fn broker_url(&self) -> BrokerUrl {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.amqp_port))
            .collect();
        BrokerUrl::parse(&format!("amqp://{ADMIN}:{ADMIN_PASS}@{}", nodes.join(","))).unwrap()
    }
}

/// GET `/api/<path>` on the management API at `port` (admin login), as JSON; panics on
/// an error status.
pub fn management_get(port: u16, path: &str) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/api/{path}"))
            .basic_auth(ADMIN, Some(ADMIN_PASS))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// The one node the single-node tests share (started once per test binary), or `None`
/// when RabbitMQ is not installed (and `CI` is not set).
pub fn shared_node() -> Option<&'static Rabbit> {
    static NODE: OnceLock<Option<Rabbit>> = OnceLock::new();
    NODE.get_or_init(|| available().then(|| Rabbit::start(1)))
        .as_ref()
}
