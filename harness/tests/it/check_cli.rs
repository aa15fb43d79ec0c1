//! The `check` and `rules` commands as a vendor or a CI pipeline uses them: exit codes,
//! the compiler-style text format, JSON per file, --year, --previous.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iplos-harness"))
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/documents/schema")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run iplos-harness")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

#[test]
fn a_conforming_message_exits_0_and_prints_nothing() {
    let f = corpus("valid-typical.xml");
    let o = run(&["check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o), "");
}

#[test]
fn text_findings_look_like_compiler_errors_and_exit_1() {
    let f = corpus("invalid-missing-kommune-nr.xml");
    let o = run(&["check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let line = out.lines().next().expect("a finding");
    let prefix = format!("{}:43: XSD05 error: ", f.display());
    assert!(line.starts_with(&prefix), "{line}");
    assert!(line.contains("kommuneNr"), "{line}");
}

#[test]
fn json_has_one_object_per_file_with_the_documented_fields() {
    let good = corpus("valid-minimal.xml");
    let bad = corpus("invalid-fixed-versjon.xml");
    let o = run(&[
        "check",
        "--format",
        "json",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "one file has an error");
    let objs = json_lines(&o);
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0]["file"], good.display().to_string());
    assert_eq!(objs[0]["conformant"], true);
    assert_eq!(objs[0]["findings"].as_array().unwrap().len(), 0);
    assert_eq!(objs[1]["conformant"], false);
    let f = &objs[1]["findings"][0];
    assert_eq!(f["rule"], "XSD07");
    assert_eq!(f["category"], "schema");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["consequence"], "reject-message");
    assert_eq!(f["location"]["line"], 2);
    assert_eq!(f["location"]["path"], "/Melding/@versjon");
    assert!(f["message"].as_str().unwrap().contains("56.0.1"));
}

#[test]
fn warnings_alone_keep_exit_0() {
    // H-nummer (typeID 3): a deficiency warning; in test mode also IPL24, since an H-nummer
    // has no synthetic form and may be a real person's.
    let f = corpus("schemaok-typeid-3.xml");
    let o = run(&["check", "--format", "json", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("IPL24"));
    let o = run(&[
        "check",
        "--production",
        "--format",
        "json",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let objs = json_lines(&o);
    assert_eq!(objs[0]["conformant"], true);
    assert!(
        objs[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] == "warning" && f["rule"] == "IPL20")
    );
}

#[test]
fn unreadable_files_and_usage_errors_exit_2() {
    let o = run(&["check", "/nonexistent/melding.xml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/melding.xml"));
    let dir = env!("CARGO_MANIFEST_DIR");
    let o = run(&["check", dir]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a directory"));
    assert_eq!(run(&["check"]).status.code(), Some(2), "no FILE");
    assert_eq!(
        run(&["check", "--format", "yaml", "x.xml"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    // A missing file among good ones still reports the good ones, and exits 2.
    let good = corpus("valid-minimal.xml");
    let o = run(&[
        "check",
        "--format",
        "json",
        good.to_str().unwrap(),
        "/nonexistent.xml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(json_lines(&o).len(), 1);
}

#[test]
fn year_decides_which_kommunenummer_are_valid() {
    // valid-typical.xml reports for Oslo, 0301, valid in every year.
    let f = corpus("valid-typical.xml");
    assert_eq!(
        run(&["check", "--year", "2017", f.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    // Bergen has been 4601 since 2020; in 2019 it was 1201.
    let f = corpus("valid-mutation-base.xml");
    let o = run(&["check", "--year", "2019", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("IPL22"), "{out}");
    assert!(out.contains("4601"), "{out}");
}

#[test]
fn previous_continues_the_chain_of_an_earlier_message() {
    let dir = tempfile::tempdir().unwrap();
    let first = corpus("valid-mutation-base.xml");
    let text = std::fs::read_to_string(&first).unwrap();
    // The corrections message: the last notification of the first message, annulled.
    let last_guid = text
        .match_indices("notifikasjonGUID=\"")
        .last()
        .map(|(i, m)| text[i + m.len()..i + m.len() + 36].to_string())
        .unwrap();
    let lopenr: u32 = text.matches("notifikasjonLopeNr=\"").count() as u32;
    let start = text.find("<Notifikasjon").unwrap();
    let end = text.rfind("</Notifikasjon>").unwrap() + "</Notifikasjon>".len();
    let last_start = text[..end].rfind("<Notifikasjon").unwrap();
    let last = &text[last_start..end];
    let old_attrs = &last[..last.find('>').unwrap()];
    let new_attrs = format!(
        "<Notifikasjon statusNotifikasjon=\"C\" notifikasjonTid=\"2025-03-01T10:00:00+01:00\" notifikasjonGUID=\"aaaaaaaa-0000-4000-8000-000000000001\" notifikasjonForrigeGUID=\"{last_guid}\" notifikasjonLopeNr=\"{}\" notifikasjonRef=\"{last_guid}\"",
        lopenr + 1
    );
    let mut corr = last.replacen(old_attrs, &new_attrs, 1);
    // the annulment repeats the event under a new hendelseGUID
    let hg = corr.find("hendelseGUID=\"").unwrap() + "hendelseGUID=\"".len();
    corr.replace_range(hg..hg + 36, "bbbbbbbb-0000-4000-8000-000000000002");
    let second_text = format!("{}{}{}", &text[..start], corr, &text[end..]);
    let second = dir.path().join("korreksjoner.xml");
    std::fs::write(&second, second_text).unwrap();

    let o = run(&[
        "check",
        "--previous",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o), "");
    // Alone, the chain and the reference cannot be verified.
    let o = run(&["check", second.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("IPL03") && out.contains("--previous"), "{out}");
    assert!(out.contains("IPL06 warning"), "{out}");
}

#[test]
fn rules_lists_the_whole_catalogue() {
    let o = run(&["rules", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules = v.as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for id in ["WF01", "WF05", "XSD01", "XSD09", "IPL01", "IPL24", "IPL29"] {
        assert!(ids.contains(&id), "{id} missing");
    }
    let mut dedup = ids.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), ids.len(), "rule ids are unique");
    for r in rules {
        for k in ["title", "category", "severity", "consequence", "source"] {
            assert!(
                r[k].as_str().is_some_and(|s| !s.is_empty()),
                "{} lacks {k}",
                r["id"]
            );
        }
    }
    let text = stdout(&run(&["rules"]));
    assert!(
        text.lines().count() > ids.len(),
        "one line per rule plus a header"
    );
}

#[test]
fn rust_log_debug_logs_each_file_to_stderr_and_leaves_stdout_alone() {
    let f = corpus("valid-typical.xml");
    let plain = run(&["check", f.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&plain.stderr),
        "",
        "no logs by default"
    );
    let o = bin()
        .env("RUST_LOG", "debug")
        .args(["check", f.to_str().unwrap()])
        .output()
        .expect("run iplos-harness");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "", "logs go to stderr only");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("DEBUG"), "{err}");
    assert!(
        err.contains("check: done") && err.contains("valid-typical.xml"),
        "{err}"
    );
    // Oslo time, with its offset (+01:00 in winter, +02:00 in summer).
    assert!(err.contains("+01:00") || err.contains("+02:00"), "{err}");
}

#[test]
fn log_format_json_gives_one_object_per_event_and_a_bad_level_is_a_usage_error() {
    let f = corpus("valid-typical.xml");
    let o = run(&[
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "check",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each log line is JSON"))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["message"] == "check: done"
                && e["fields"]["conformant"] == true
                && e["level"] == "DEBUG")
    );
    let bad = run(&["--log-level", "loud=[", "check", f.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--log-level"));
}
