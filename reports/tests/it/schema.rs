//! The committed JSON Schema matches the types, and a real validator (Debian's
//! python3-jsonschema, draft 2020-12) accepts a realistic report and rejects broken ones.

use std::path::PathBuf;
use std::process::Command;

use iplos_reports::{RehearsalReport, sample::sample, schema_json, to_json};

const REGENERATE: &str = "UPDATE_SCHEMA=1 cargo test -p iplos-reports --test schema";

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/rehearsal-report.schema.json")
}

#[test]
fn committed_schema_is_current() {
    let generated = schema_json();
    let path = schema_path();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); regenerate it with: {REGENERATE}",
            path.display()
        )
    });
    assert!(
        committed == generated,
        "{} differs from the schema generated from the types; regenerate it with: {REGENERATE}",
        path.display()
    );
}

const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator, FormatChecker
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
inst = json.load(open(sys.argv[2]))
errs = sorted(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(inst), key=lambda e: list(e.absolute_path))
for e in errs[:10]:
    print("/".join(str(p) for p in e.absolute_path), ":", e.message)
sys.exit(1 if errs else 0)
"#;

fn python() -> &'static str {
    let py = "/usr/bin/python3";
    let ok = Command::new(py)
        .args(["-c", "import jsonschema"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{py} with the jsonschema module is needed: apt-get install python3-jsonschema (as .ci/run does)"
    );
    py
}

/// Runs the validator on `json`; Ok(()) when valid, Err(messages) otherwise.
fn validate(json: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = dir.path().join("report.json");
    std::fs::write(&inst, json).expect("write");
    let out = Command::new(python())
        .args(["-c", VALIDATE])
        .arg(schema_path())
        .arg(&inst)
        .output()
        .expect("run python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

#[test]
fn sample_report_validates_and_round_trips() {
    let r = sample(430, 42);
    let json = to_json(&r).expect("json");
    if let Err(e) = validate(&json) {
        panic!("a realistic report does not validate against the committed schema:\n{e}");
    }
    let back: RehearsalReport = serde_json::from_str(&json).expect("parse back");
    assert_eq!(
        to_json(&back).expect("json"),
        json,
        "JSON → model → JSON is lossless"
    );
}

#[test]
fn validator_rejects_broken_reports() {
    let json = to_json(&sample(20, 1)).expect("json");
    let mut v: serde_json::Value = serde_json::from_str(&json).expect("parse");
    // an unknown status
    let mut bad = v.clone();
    bad["kommuner"][0]["phases"][0]["status"] = "maybe".into();
    let e = validate(&bad.to_string()).expect_err("unknown status accepted");
    assert!(e.contains("kommuner/0/phases/0/status"), "{e}");
    // a negative count
    let mut bad = v.clone();
    bad["phases"][0]["on_time"] = (-1).into();
    assert!(validate(&bad.to_string()).is_err());
    // a missing required section
    v.as_object_mut().expect("object").remove("timing");
    let e = validate(&v.to_string()).expect_err("missing timing accepted");
    assert!(e.contains("timing"), "{e}");
}
