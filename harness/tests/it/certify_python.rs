//! An independent vendor through a whole `certify run`: an EPJ written in Python with Debian's
//! Qpid Proton, the openssl command line and ElementTree (`tests/peers/certify_vendor.py`),
//! which makes its IPLOS export itself from `population.jsonl` and reads only what a vendor
//! gets (its folder, `run/endpoints.json`, the live `status.json`). It passes every required
//! test: the export offline (`certify check --files`) and every phase of the session, the
//! faults included (and the optional Sendemodul upload, which is cheap and saves the phases'
//! waits).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::certify_support::{bin, explain, init, session, with};

const PYTHON: &str = "/usr/bin/python3";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/certify_vendor.py")
}

/// Fails (never skips) when Proton is missing: CI must have it.
fn require_proton() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import proton, proton.utils"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "python3-qpid-proton is missing: apt-get install python3-qpid-proton"
    );
}

fn required(report: &serde_json::Value) -> Vec<(String, String)> {
    report["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .filter(|t| t["required"] == true)
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_string(),
                t["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_python_proton_vendor_passes_every_required_test_from_its_own_export() {
    require_proton();
    let dir = tempfile::tempdir().unwrap();
    let s = init(dir.path(), "Python EPJ");

    // Offline first, as a vendor does: its own export against the files check. The export is
    // made from a copy of session.json and population.jsonl alone (nothing else of DIR).
    let own = dir.path().join("epj");
    std::fs::create_dir_all(&own).unwrap();
    let handed = if s.join("vendor").is_dir() {
        s.join("vendor")
    } else {
        s.clone()
    };
    for f in ["session.json", "population.jsonl"] {
        std::fs::copy(handed.join(f), own.join(f)).expect(f);
    }
    let export = dir.path().join("export");
    let o = Command::new(PYTHON)
        .arg(script())
        .arg(&own)
        .arg("--export")
        .arg(&export)
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(bin())
        .args(["certify", "check"])
        .arg(&s)
        .arg("--files")
        .arg(export.join("melding.xml"))
        .arg("--corrections")
        .arg(export.join("korreksjoner.xml"))
        .output()
        .expect("iplos-harness runs");
    let check: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.join("check/report.json")).expect("report"))
            .expect("report.json is JSON");
    let failed = with(&check, "fail");
    assert!(
        o.status.success() && failed.is_empty(),
        "the Python EPJ's own export passes the files check: {}\n{}",
        explain(&check),
        String::from_utf8_lossy(&o.stdout)
    );

    // Then the whole transport session.
    let mut vendor = Command::new(PYTHON);
    vendor.arg(script()).arg(&s);
    let (report, console) = session(&s, None, vendor);
    let vendor_log = std::fs::read_to_string(s.with_file_name("vendor.log")).unwrap_or_default();
    assert_eq!(
        report["verdict"],
        "pass",
        "{}\n{console}\nvendor:\n{vendor_log}",
        explain(&report)
    );
    let required = required(&report);
    assert!(required.len() >= 40, "{required:?}");
    for (id, verdict) in &required {
        assert_eq!(verdict, "pass", "{id}: {}", explain(&report));
    }
    assert_eq!(
        with(&report, "pass").len(),
        report["tests"].as_array().unwrap().len(),
        "the optional Sendemodul tests pass too: {}",
        explain(&report)
    );
    // Every fault was acted on (not merely survived): the vendor's log shows the reactions.
    for reaction in [
        "\"login\": \"refused\"",
        "\"wrong_host\": \"refused\"",
        "\"apprec\": \"2\"",
        "\"resending\":",
        "\"transport_error\":",
        "resending the same message",
        "\"send\": \"failed\"",
        "\"connect\": \"failed\"",
        "\"sendemodul\": \"login refused\"",
    ] {
        assert!(
            vendor_log.contains(reaction),
            "{reaction} in:\n{vendor_log}"
        );
    }
    let product = report["vendor"]["product"].as_str().unwrap_or("");
    assert!(
        product.contains("PyEPJ"),
        "the EPJ's name is read from its messages: {product}"
    );
}
