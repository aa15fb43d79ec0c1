//! `certify init` and `certify check` (the offline mode) as a vendor's tester runs them: a
//! perfect export passes; an export missing an event, with a wrong field, or not IPLOS at all
//! fails, naming the event, the field, the rule and the line.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_iplos-harness")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("iplos-harness runs")
}

fn init(dir: &Path) -> std::path::PathBuf {
    let session = dir.join("session");
    let o = run(&[
        "certify",
        "init",
        "--vendor",
        "Test EPJ",
        "--kommune",
        "4601",
        "--year",
        "2024",
        "--scale",
        "0.01",
        "--seed",
        "3",
        "--out",
        session.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    session
}

/// `certify check` on the expected messages themselves: a perfect vendor.
fn check_the_answer_key(session: &Path) -> Output {
    let expected = session.join("harness/expected");
    run(&[
        "certify",
        "check",
        session.to_str().unwrap(),
        "--files",
        expected.join("melding.xml").to_str().unwrap(),
        "--corrections",
        expected.join("korreksjoner.xml").to_str().unwrap(),
    ])
}

fn result(session: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(session.join("check").join("evidence").join("result.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_session_is_prepared_and_a_perfect_export_passes() {
    let dir = tempfile::tempdir().unwrap();
    let session = init(dir.path());
    for f in [
        "population.jsonl",
        "vendor/README.md",
        "vendor/session.json",
        "session.json",
        "pki/index.json",
    ] {
        assert!(session.join(f).is_file(), "{f} missing");
    }
    let readme = std::fs::read_to_string(session.join("vendor/README.md")).unwrap();
    assert!(
        readme.contains("certify check"),
        "the README tells the tester what to run"
    );
    let o = check_the_answer_key(&session);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let r = result(&session);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["files"].as_array().unwrap().len(), 2);
    for f in r["files"].as_array().unwrap() {
        assert_eq!(f["comparison"]["missing"].as_array().unwrap().len(), 0);
        assert_eq!(f["findings"].as_array().unwrap().len(), 0, "{f}");
    }
}

#[test]
fn missing_and_wrong_events_are_named_with_rule_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let session = init(dir.path());
    let xml = std::fs::read_to_string(session.join("harness/expected/melding.xml")).unwrap();
    // Drop the third notification; change a date in the fifth.
    let starts: Vec<usize> = xml
        .match_indices("<Notifikasjon ")
        .map(|(i, _)| i)
        .collect();
    assert!(starts.len() > 6);
    let fifth = &xml[starts[4]..starts[5]];
    let date_at = fifth.find("hendelseDato=\"").expect("a dated event") + "hendelseDato=\"".len();
    let old = &fifth[date_at..date_at + 10];
    let new_date = if old.ends_with("-01") {
        old.replacen("-01", "-02", 1)
    } else {
        format!("{}-01", &old[..7])
    };
    let fifth_new = format!(
        "{}{}{}",
        &fifth[..date_at],
        new_date,
        &fifth[date_at + 10..]
    );
    let broken = format!(
        "{}{}{}{}",
        &xml[..starts[2]],
        &xml[starts[3]..starts[4]],
        fifth_new,
        &xml[starts[5]..]
    );
    let export = dir.path().join("export.xml");
    std::fs::write(&export, broken).unwrap();
    let o = run(&[
        "certify",
        "check",
        session.to_str().unwrap(),
        "--files",
        export.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let r = result(&session);
    assert_eq!(r["verdict"], "fail");
    let c = &r["files"][0]["comparison"];
    assert_eq!(c["missing"].as_array().unwrap().len(), 1, "{c}");
    let wrong = c["wrong"].as_array().unwrap();
    assert_eq!(wrong.len(), 1, "{c}");
    assert_eq!(wrong[0]["rule"], "CMP03");
    assert!(
        wrong[0]["field"].as_str().unwrap().contains("hendelseDato"),
        "{}",
        wrong[0]
    );
    assert_eq!(wrong[0]["received"], new_date.as_str());
    assert!(
        wrong[0]["location"]["line"].as_u64().is_some(),
        "the line is given"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("CMP01 missing"), "{stdout}");
}

#[test]
fn not_iplos_is_refused_and_a_missing_session_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let session = init(dir.path());
    let export = dir.path().join("export.xml");
    std::fs::write(&export, "<html><body>not an export</body></html>").unwrap();
    let o = run(&[
        "certify",
        "check",
        session.to_str().unwrap(),
        "--files",
        export.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let r = result(&session);
    assert!(r["files"][0]["refused"].as_str().is_some(), "{r}");
    let o = run(&[
        "certify",
        "check",
        dir.path().join("nothing").to_str().unwrap(),
        "--files",
        export.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a certification session"));
}

/// The offline check writes the certification report (JSON, JUnit, HTML): the tests files
/// can decide are judged, the transport tests are skipped with the reason, and the verdict
/// follows the required tests.
#[test]
fn the_offline_check_writes_a_certification_report() {
    let dir = tempfile::tempdir().unwrap();
    let session = init(dir.path());
    let o = check_the_answer_key(&session);
    assert!(o.status.success());
    let check = session.join("check");
    for f in ["report.json", "junit.xml", "index.html"] {
        assert!(check.join(f).is_file(), "{f} missing");
    }
    let r: Value =
        serde_json::from_slice(&std::fs::read(check.join("report.json")).unwrap()).unwrap();
    let verdict = |id: &str| {
        r["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("no test {id}"))["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(verdict("DATA-01"), "pass");
    assert_eq!(verdict("SCHEMA-01"), "pass");
    assert_eq!(
        verdict("CONN-01"),
        "skip",
        "transport tests need the session runner"
    );
    // Files alone cannot pass the required transport tests: the verdict is incomplete,
    // and the console says the same as report.json.
    assert_eq!(r["verdict"], "incomplete");
    let out = String::from_utf8_lossy(&o.stdout);
    let headline = out
        .lines()
        .find(|l| l.starts_with("certify check:"))
        .unwrap_or_default();
    assert!(headline.contains(": INCOMPLETE (the files: pass"), "{out}");
    assert!(!headline.contains("PASS"), "{headline}");
    assert!(r["evidence_bundle"]["sha256"].as_str().unwrap().len() == 64);
    assert!(
        r["vendor"]["product"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
}
