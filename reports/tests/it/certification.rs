//! The certification report's files: the committed JSON Schema matches the types and a real
//! validator (python3-jsonschema, draft 2020-12) accepts the sample and rejects broken
//! reports; junit.xml parses with xmllint and has a suite per plan suite and a case per test;
//! index.html puts the verdict first, then the failed required tests with their evidence;
//! the evidence bundle's hash is what `sha256sum` computes over its manifest, `sha256sum -c`
//! accepts the manifest, and the verifier finds every edit.

use std::path::{Path, PathBuf};
use std::process::Command;

use iplos_reports::certification::{
    BundleProblem, CertificationReport, Verdict, bundle_from_dir, certification_schema_json,
    certification_to_html, certification_to_json, certification_to_junit, sample, sha256_hex,
    verify_bundle, write_certification,
};

const REGENERATE: &str = "UPDATE_SCHEMA=1 cargo test -p iplos-reports --test certification";

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/certification-report.schema.json")
}

#[test]
fn committed_schema_is_current() {
    let generated = certification_schema_json();
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

fn validate(json: &str) -> Result<(), String> {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import jsonschema"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "/usr/bin/python3 with jsonschema is needed: apt-get install python3-jsonschema"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = dir.path().join("report.json");
    std::fs::write(&inst, json).expect("write");
    let out = Command::new("/usr/bin/python3")
        .args(["-c", VALIDATE])
        .arg(schema_path())
        .arg(&inst)
        .output()
        .expect("run python3");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn sample_validates_round_trips_and_broken_reports_are_rejected() {
    let json = certification_to_json(&sample()).expect("json");
    if let Err(e) = validate(&json) {
        panic!("the sample does not validate against the committed schema:\n{e}");
    }
    let back: CertificationReport = serde_json::from_str(&json).expect("parse back");
    assert_eq!(certification_to_json(&back).expect("json"), json);

    let v: serde_json::Value = serde_json::from_str(&json).expect("parse");
    let mut bad = v.clone();
    bad["tests"][2]["verdict"] = "maybe".into();
    let e = validate(&bad.to_string()).expect_err("unknown verdict accepted");
    assert!(e.contains("tests/2/verdict"), "{e}");
    let mut bad = v.clone();
    bad["tests"][2]["evidence"][0]["kind"] = "rumour".into();
    assert!(
        validate(&bad.to_string()).is_err(),
        "unknown evidence kind accepted"
    );
    let mut bad = v.clone();
    bad["evidence_bundle"]["sha256"] = "not-a-hash".into();
    let e = validate(&bad.to_string()).expect_err("bad hash accepted");
    assert!(e.contains("evidence_bundle/sha256"), "{e}");
    let mut bad = v;
    bad.as_object_mut().expect("object").remove("verdict");
    assert!(
        validate(&bad.to_string()).is_err(),
        "missing verdict accepted"
    );
}

fn xmllint_ok(path: &Path) {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg(path)
        .output()
        .expect("xmllint is needed: apt-get install libxml2-utils");
    assert!(
        out.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn junit_has_a_suite_per_plan_suite_and_parses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write_certification(&sample(), dir.path()).expect("write");
    xmllint_ok(&w.junit);
    let x = std::fs::read_to_string(&w.junit).expect("read");
    assert_eq!(x, certification_to_junit(&sample()));
    assert!(
        x.contains("tests=\"13\" failures=\"4\" errors=\"1\" skipped=\"2\""),
        "{x}"
    );
    assert!(
        x.contains("<property name=\"time_scale\" value=\"1\"/>"),
        "{x}"
    );
    assert!(x.contains("<property name=\"plan_sha256\""), "{x}");
    let suites: Vec<&str> = x
        .match_indices("<testsuite id=\"")
        .map(|(i, _)| {
            let rest = &x[i..];
            let rest = &rest[rest.find(" name=\"").map_or(0, |j| j + 7)..];
            &rest[..rest.find('"').unwrap_or(0)]
        })
        .collect();
    assert_eq!(
        suites,
        [
            "root-causes",
            "transport",
            "content",
            "data",
            "receipts",
            "resilience",
            "performance",
            "sendemodul"
        ]
    );
    assert!(x.contains(
        "<testcase classname=\"data.completeness\" name=\"DATA-01 Every expected event is sent, none extra, every field right\""
    ));
    assert!(x.contains("<failure message=\"1 missing, 1 extra, 1 wrong field of 1 214 expected events\" type=\"completeness\">"));
    // the evidence is in the failure text, escaped
    assert!(x.contains("tjenesteOrgNr: expected 974760673, received &lt;script&gt;"));
    assert!(x.contains("<error message=\"the harness could not bind port 5671"));
    assert!(x.contains("<skipped message=\"the vendor delivers IPLOS 56.0.0 only\""));
    // a blocked test is not a failure of its own: it names its root cause
    assert!(
        x.contains("<skipped message=\"blocked by TRANSPORT-01\""),
        "{x}"
    );
    let root = x.find("name=\"root-causes\"").expect("root-causes suite");
    assert!(root < x.find("name=\"transport\"").expect("transport suite"));
}

#[test]
fn html_reads_verdict_first_then_failures_with_evidence() {
    let html = certification_to_html(&sample());
    // The head names what the certificate rests on: plan hash, harness version, time scale.
    let r = sample();
    assert!(
        html.contains(&format!("id=\"plan-sha256\">{}<", r.plan.sha256)),
        "plan sha256"
    );
    assert!(html.contains(&format!("{} {}", r.tool.name, r.tool.version)));
    assert!(html.contains("<span id=\"time-scale\">time scale 1</span>"));
    let mut scaled = sample();
    scaled.session.time_scale = Some(0.01);
    assert!(certification_to_html(&scaled).contains("<b>time scale 0.01</b>"));
    let h1 = html.find("<h1>").expect("h1");
    assert!(
        html[h1..].starts_with("<h1>FAIL — OmsorgJournal 12.4"),
        "{}",
        &html[h1..h1 + 80]
    );
    let pos = |id: &str| {
        html.find(&format!("<section id=\"{id}\""))
            .unwrap_or_else(|| panic!("#{id} missing"))
    };
    let order = [
        "verdict",
        "required-failures",
        "not-run",
        "optional-failures",
        "all-tests",
        "timings",
        "bundle",
    ];
    for w in order.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "#{} before #{}", w[0], w[1]);
    }
    assert!(
        !html[..pos("verdict")].contains("<section"),
        "the verdict is the first section"
    );
    let req = &html[pos("required-failures")..pos("not-run")];
    for id in ["t-TRANSPORT-01", "t-RULE-IPL03", "t-DATA-01"] {
        assert!(req.contains(id), "{id} not among the failed required tests");
    }
    assert!(
        !req.contains("t-RULE-IPL20"),
        "an optional failure among the required"
    );
    assert!(req.contains("<pre class=\"xml\">&lt;Notifikasjon statusNotifikasjon=&quot;N&quot;"));
    assert!(
        req.contains("<div class=\"er\"><div class=\"exp\"><h4>expected</h4><pre>974760673</pre>")
    );
    assert!(req.contains("<h4>received</h4><pre>&lt;script&gt;alert(1)&lt;/script&gt;</pre>"));
    assert!(!html.contains("<script>alert(1)"));
    let opt = &html[pos("optional-failures")..pos("all-tests")];
    assert!(opt.contains("t-RULE-IPL20"));
    let t = &html[pos("timings")..pos("bundle")];
    for m in [
        "time to first AppRec",
        "1840 ms",
        "43.35 /s",
        "750.00 ms",
        "1485.00 ms",
    ] {
        assert!(t.contains(m), "{m} missing from the timings");
    }
    assert!(html.contains(&format!(
        "id=\"bundle-sha256\">{}<",
        sample().evidence_bundle.sha256
    )));
}

#[test]
fn files_are_deterministic_except_the_timings() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let wa = write_certification(&sample(), a.path()).expect("write");
    let mut other = sample();
    other.timings.p99_ms = Some(1.0);
    let wb = write_certification(&other, b.path()).expect("write");
    let read = |p: &Path| std::fs::read_to_string(p).expect("read");
    assert_eq!(read(&wa.junit), read(&wb.junit));
    assert_ne!(read(&wa.json), read(&wb.json));
    let ra: CertificationReport = serde_json::from_str(&read(&wa.json)).expect("json");
    let rb: CertificationReport = serde_json::from_str(&read(&wb.json)).expect("json");
    assert_eq!(ra.without_timings(), rb.without_timings());
    // a stale summary or verdict in the model is recomputed by the writers
    let mut stale = sample();
    stale.verdict = Verdict::Pass;
    stale.summary.failed = 0;
    assert_eq!(
        certification_to_json(&stale).expect("json"),
        certification_to_json(&sample()).expect("json")
    );
}

fn sha256sum(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("sha256sum")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("sha256sum (coreutils)")
}

#[test]
fn the_bundle_hash_is_sha256sum_of_the_manifest_and_edits_are_found() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ev = tmp.path().join("evidence");
    std::fs::create_dir_all(ev.join("messages/in")).expect("mkdir");
    std::fs::create_dir_all(ev.join("apprec")).expect("mkdir");
    std::fs::write(ev.join("messages/in/b.xml"), "<Melding/>\n").expect("write");
    std::fs::write(ev.join("messages/a.xml"), vec![0xffu8; 200_000]).expect("write");
    std::fs::write(ev.join("apprec/ø é.xml"), "<AppRec/>").expect("write");
    std::fs::write(ev.join("empty"), "").expect("write");
    let b = bundle_from_dir(&ev).expect("bundle");
    let paths: Vec<&str> = b.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "apprec/ø é.xml",
            "empty",
            "messages/a.xml",
            "messages/in/b.xml"
        ]
    );
    assert_eq!(b.files[2].bytes, 200_000);

    // the manifest is what sha256sum prints, and its hash is the bundle's
    let args: Vec<&str> = paths.clone();
    let out = sha256sum(&ev, &args);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), b.manifest());
    let manifest = tmp.path().join("manifest.sha256");
    std::fs::write(&manifest, b.manifest()).expect("write");
    let out = sha256sum(tmp.path(), &["manifest.sha256"]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(&printed[..64], b.sha256);
    assert_eq!(b.sha256, sha256_hex(b.manifest().as_bytes()));
    let out = sha256sum(&ev, &["-c", manifest.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "sha256sum -c: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // unchanged: no problems; the same bundle again
    assert_eq!(verify_bundle(&ev, &b).expect("verify"), vec![]);
    assert_eq!(bundle_from_dir(&ev).expect("bundle"), b);

    // an edited report
    let mut edited = b.clone();
    edited.files[1].sha256 = sha256_hex(b"x");
    let p = verify_bundle(&ev, &edited).expect("verify");
    assert!(matches!(p[0], BundleProblem::BundleHash { .. }), "{p:?}");
    assert!(
        p.iter()
            .any(|x| matches!(x, BundleProblem::Changed { path, .. } if path == "empty"))
    );

    // edited, removed and added files
    std::fs::write(ev.join("messages/in/b.xml"), "<Melding>edited</Melding>\n").expect("write");
    std::fs::remove_file(ev.join("empty")).expect("rm");
    std::fs::write(ev.join("added.txt"), "new").expect("write");
    let p = verify_bundle(&ev, &b).expect("verify");
    let text: Vec<String> = p.iter().map(ToString::to_string).collect();
    assert_eq!(p.len(), 3, "{text:?}");
    assert!(
        p.contains(&BundleProblem::Missing("empty".into())),
        "{text:?}"
    );
    assert!(
        p.contains(&BundleProblem::Extra("added.txt".into())),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("messages/in/b.xml: changed")),
        "{text:?}"
    );

    // a symbolic link is refused
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/hostname", ev.join("link")).expect("symlink");
        let e = bundle_from_dir(&ev).expect_err("symlink accepted");
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }
    assert!(bundle_from_dir(&tmp.path().join("nope")).is_err());
}
