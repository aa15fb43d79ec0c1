//! Running `iplos-harness serve` as a process for the tests: start, wait until ready, read
//! endpoints.json, stop with a signal.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value as Json;

pub const PYTHON: &str = "/usr/bin/python3";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_iplos-harness")
}

pub fn vendor_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/vendor.py")
}

/// Fails (never skips) when Proton is missing: CI must have it.
pub fn require_proton() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import proton, proton.utils"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{PYTHON} cannot import proton: install Debian's python3-qpid-proton \
         (.ci/run installs it; by hand: apt-get install -y python3-qpid-proton)"
    );
}

/// A running `serve`.
pub struct Server {
    pub child: Child,
    pub state: PathBuf,
    pub output: mpsc::Receiver<String>,
    pub lines: Vec<String>,
}

impl Server {
    /// Starts `serve --state DIR --year 2024` with extra arguments and environment, and
    /// waits for "ready".
    pub fn start(state: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--state"])
            .arg(state)
            .args(["--year", "2024"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("iplos-harness serve starts");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        let mut server = Server {
            child,
            state: state.to_path_buf(),
            output: rx,
            lines: Vec::new(),
        };
        server.wait_line("ready", Duration::from_secs(120));
        server
    }

    /// Waits for an output line containing `needle`.
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.output.recv_timeout(left) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} from serve; output so far:\n{}",
                    self.lines.join("\n")
                ),
            }
        }
    }

    pub fn endpoints(&self) -> Json {
        let text = std::fs::read(self.state.join("endpoints.json")).unwrap();
        serde_json::from_slice(&text).unwrap()
    }

    /// Sends a signal by name (TERM, INT, KILL).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to end.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.output.recv_timeout(Duration::from_millis(200)) {
                    self.lines.push(line);
                }
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not stop; output:\n{}",
                self.lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM and a clean exit.
    pub fn stop(mut self) -> Vec<String> {
        self.signal("TERM");
        let status = self.wait(Duration::from_secs(30));
        assert!(
            status.success(),
            "serve exited with {status}: {}",
            self.lines.join("\n")
        );
        std::mem::take(&mut self.lines)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The entry of a kommune in endpoints.json.
pub fn kommune<'a>(endpoints: &'a Json, knr: &str) -> &'a Json {
    endpoints["kommuner"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kommunenummer"] == knr)
        .unwrap_or_else(|| panic!("no kommune {knr} in endpoints.json"))
}

/// Runs the vendor peer; returns its JSON lines.
pub fn run_vendor(args: &[&str]) -> Vec<Json> {
    require_proton();
    let output = Command::new(PYTHON)
        .arg(vendor_script())
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "vendor peer failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}
