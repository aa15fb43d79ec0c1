//! Running a `certify run` session as processes on 127.0.0.1 for the tests, with any EPJ as
//! the vendor: `init` a session, run it with a vendor process, read the report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const SCALE: &str = "0.01";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_iplos-harness")
}

pub fn init(dir: &Path, vendor: &str) -> PathBuf {
    let session = dir.join("session");
    let o = Command::new(bin())
        .args([
            "certify",
            "init",
            "--vendor",
            vendor,
            "--kommune",
            "4601",
            "--year",
            "2024",
            "--scale",
            "0.005",
            "--seed",
            "7",
            "--out",
        ])
        .arg(&session)
        .output()
        .expect("iplos-harness runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    session
}

pub fn spawn(cmd: &mut Command, log: &Path) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(log).expect("log file"))
        .stderr(std::fs::File::create(log.with_extension("err")).expect("log file"))
        .spawn()
        .expect("spawn")
}

pub fn wait(
    child: &mut Child,
    within: Duration,
    what: &str,
    log: &Path,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {within:?}; its output:\n{}\n{}",
                std::fs::read_to_string(log).unwrap_or_default(),
                std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The session's address register (listed in endpoints.json), read with curl: KPR
/// Validering's entry holds the certificate of the vendor folder; an unknown HER-id is 404.
fn address_register(session: &Path, ep: &Value) {
    let base = ep["address_register"]
        .as_str()
        .expect("endpoints.json lists the address register");
    let get = |her: &str| {
        let o = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
            .arg(format!("{base}{her}"))
            .output()
            .expect("curl runs");
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let (body, code) = out.rsplit_once('\n').expect("a status code");
        (
            code.to_string(),
            serde_json::from_str::<Value>(body).expect("JSON"),
        )
    };
    let (code, entry) = get("131725");
    assert_eq!(code, "200", "{entry}");
    assert_eq!(entry["her_id"], 131725);
    assert_eq!(entry["queue"], "131725_async");
    let folder = std::fs::read_to_string(session.join("vendor/pki/register/131725/encryption.pem"))
        .expect("the vendor folder holds 131725's encryption certificate");
    assert_eq!(
        entry["encryption_certificate"].as_str(),
        Some(folder.as_str())
    );
    let (code, err) = get("123");
    assert_eq!(code, "404", "{err}");
    assert!(
        err["error"].as_str().unwrap_or("").contains("123"),
        "the error names the HER-id: {err}"
    );
}

/// Runs a session with `vendor` as the EPJ; returns the report and the run's console.
pub fn session(session: &Path, only: Option<&str>, vendor: Command) -> (Value, String) {
    let run_log = session.with_file_name("run.log");
    let mut run = Command::new(bin());
    run.args(["certify", "run"])
        .arg(session)
        .args(["--time-scale", SCALE]);
    if let Some(o) = only {
        run.args(["--only", o]);
    }
    let mut run = spawn(&mut run, &run_log);
    // The live page, read with curl while the session waits for the vendor.
    let endpoints = session.join("run/endpoints.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !endpoints.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ep: Value = serde_json::from_slice(&std::fs::read(&endpoints).expect("endpoints.json"))
        .expect("endpoints.json is JSON");
    let page = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            ep["web"].as_str().expect("web URL"),
        ])
        .output()
        .expect("curl runs");
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(
        page.contains("Certification session") && page.contains("test-submission"),
        "the live page lists the phases: {page}"
    );
    assert!(ep["amqps"]["url"].as_str().unwrap().starts_with("amqps://"));
    address_register(session, &ep);
    let vendor_log = session.with_file_name("vendor.log");
    let mut vendor = vendor;
    let mut v = spawn(&mut vendor, &vendor_log);
    let status = wait(&mut run, Duration::from_secs(600), "certify run", &run_log);
    let _ = wait(&mut v, Duration::from_secs(60), "the vendor", &vendor_log);
    let console = std::fs::read_to_string(&run_log).unwrap_or_default();
    let report: Value = serde_json::from_slice(
        &std::fs::read(session.join("run/report.json")).unwrap_or_else(|e| {
            panic!(
                "no report ({e}); exit {status:?}; console:\n{console}\n{}\nvendor:\n{}",
                std::fs::read_to_string(run_log.with_extension("err")).unwrap_or_default(),
                std::fs::read_to_string(&vendor_log).unwrap_or_default()
            )
        }),
    )
    .expect("report.json is JSON");
    let verdict = report["verdict"].as_str().unwrap_or("").to_string();
    assert_eq!(
        status.code(),
        Some(if verdict == "pass" { 0 } else { 1 }),
        "exit code follows the verdict ({verdict})"
    );
    (report, console)
}

pub fn with(report: &Value, verdict: &str) -> BTreeSet<String> {
    report["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .filter(|t| t["verdict"] == verdict)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn explain(report: &Value) -> String {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["verdict"] != "pass")
        .map(|t| format!("{} {}: {}", t["id"], t["verdict"], t["reason"]))
        .collect::<Vec<_>>()
        .join("\n")
}
