//! `certify run`, the transport session, as processes on 127.0.0.1: the harness's reference
//! EPJ (`certify vendor`) passes every required test; each deliberately broken variant fails
//! exactly the tests its misbehaviour breaks and no others; the report renders in headless
//! Chromium with the verdict first. (The independent Python vendor: `certify_python`.)
//!
//! Sessions run with `--time-scale 0.01` (a ten-minute outage lasts six seconds; phases wait
//! at least ten): the report says so in its notes.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::certify_support::{bin, explain, init, session, spawn, wait, with};

fn reference(session: &Path, broken: Option<&str>) -> Command {
    let mut c = Command::new(bin());
    c.args(["certify", "vendor"]).arg(session);
    if let Some(b) = broken {
        c.args(["--broken", b]);
    }
    c
}

#[test]
fn the_reference_vendor_passes_every_required_test_with_timings_and_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let s = init(dir.path(), "Reference EPJ");
    let (report, console) = session(&s, None, reference(&s, None));
    assert_eq!(report["verdict"], "pass", "{}\n{console}", explain(&report));
    let failed = with(&report, "fail");
    assert!(failed.is_empty(), "{failed:?}");
    let skipped = with(&report, "skip");
    assert!(skipped.is_empty(), "every test ran: {skipped:?}");
    assert_eq!(
        with(&report, "pass").len(),
        report["tests"].as_array().unwrap().len(),
        "the optional Sendemodul tests pass too"
    );
    // The fault tests say what the EPJ did, with the messages as evidence.
    for id in [
        "RECEIPT-01",
        "RECEIPT-02",
        "RECEIPT-03",
        "RECEIPT-04",
        "RES-01",
        "RES-03",
    ] {
        let t = report["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap();
        assert!(
            t["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "message"),
            "{id} shows the messages it judged: {t}"
        );
    }
    let t = &report["timings"];
    assert!(t["time_to_first_apprec_ms"].as_u64().is_some(), "{t}");
    assert!(
        t["notifications_per_second"]
            .as_f64()
            .is_some_and(|n| n > 0.0),
        "{t}"
    );
    assert!(
        t["p50_ms"].as_f64().is_some() && t["p99_ms"].as_f64().is_some(),
        "{t}"
    );
    assert!(t["latency_samples"].as_u64().unwrap() >= 8, "{t}");
    assert!(
        report["session"]["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("time scale 0.01")),
        "the report says the session was scaled"
    );
    // The console told the tester what to do and what came in.
    assert!(console.contains("[1/15] test-submission"), "{console}");
    assert!(
        console.contains("AppRec status 2 (injected: rejected)"),
        "{console}"
    );
    // The evidence: decrypted messages, and a manifest sha256sum accepts.
    let evidence = s.join("run/evidence");
    let decrypted = std::fs::read_dir(evidence.join("messages"))
        .unwrap()
        .count();
    assert!(decrypted >= 20, "{decrypted} evidence files");
    let manifest: String = report["evidence_bundle"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}  {}\n",
                f["sha256"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    let mut c = Command::new("sha256sum")
        .args(["--check", "--strict", "-"])
        .current_dir(&evidence)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    assert!(c.wait().unwrap().success(), "sha256sum accepts the bundle");

    // The HTML report in headless Chromium: verdict first, then the tests.
    let html = s.join("run/index.html");
    let png = dir.path().join("report.png");
    let out = chromium(
        &dir.path().join("profile"),
        &[
            "--window-size=1280,1600",
            &format!("--screenshot={}", png.display()),
        ],
        &html,
    );
    let bytes = std::fs::read(&png)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 20_000);
    let dom = chromium(&dir.path().join("profile2"), &["--dump-dom"], &html);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let h1 = dom.find("<h1").expect("a heading");
    assert!(dom[h1..].starts_with("<h1>PASS"), "{}", &dom[h1..h1 + 80]);
    for id in ["CONN-03", "RECEIPT-04", "RES-01", "PERF-01", "DATA-01"] {
        assert!(dom.contains(id), "{id} on the page");
    }
}

fn chromium(profile: &Path, args: &[&str], html: &Path) -> std::process::Output {
    let chromium = "/usr/bin/chromium";
    assert!(
        Path::new(chromium).is_file(),
        "{chromium} is missing: apt-get install chromium"
    );
    let log = profile.with_extension("log");
    let mut child = spawn(
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(format!("file://{}", html.display())),
        &log,
    );
    let status = wait(&mut child, Duration::from_secs(120), "chromium", &log);
    std::process::Output {
        status,
        stdout: std::fs::read(&log).unwrap_or_default(),
        stderr: std::fs::read(log.with_extension("err")).unwrap_or_default(),
    }
}

/// A broken reference EPJ fails exactly `expected`, and nothing else.
fn broken(kind: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let s = init(dir.path(), &format!("Broken EPJ ({kind})"));
    let (report, console) = session(&s, None, reference(&s, Some(kind)));
    let failed = with(&report, "fail");
    let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(failed, want, "{}\n{console}", explain(&report));
    assert_eq!(report["verdict"], "fail");
    for t in report["tests"].as_array().unwrap() {
        if t["verdict"] == "fail" {
            assert!(
                !t["evidence"].as_array().unwrap().is_empty(),
                "a failure has evidence: {t}"
            );
        }
    }
}

#[test]
fn a_wrong_property_fails_transport_01_only() {
    broken("wrong-property", &["TRANSPORT-01"]);
}

#[test]
fn a_bad_signature_fails_cms_01_only() {
    broken("bad-signature", &["CMS-01"]);
}

#[test]
fn missing_events_fail_the_completeness_tests_only() {
    // The Sendemodul upload is the same export: its reassembled file is incomplete too.
    broken("missing-events", &["DATA-01", "DATA-03", "SM-03"]);
}

#[test]
fn wrong_references_fail_corr_01_only() {
    broken("wrong-references", &["CORR-01"]);
}

#[test]
fn no_resend_after_status_2_fails_receipt_01_only() {
    broken("no-resend", &["RECEIPT-01"]);
}

#[test]
fn duplicates_after_a_dropped_connection_fail_res_01_only() {
    broken("duplicates-after-drop", &["RES-01"]);
}

#[test]
fn a_slow_sender_fails_perf_01_only() {
    broken("too-slow", &["PERF-01"]);
}
