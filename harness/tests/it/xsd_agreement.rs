//! Schema agreement: `iplos-harness check` must give the same schema verdict as
//! `xmllint --noout --schema XPR(ipl).xsd FILE` on every file of the corpus in
//! `model/tests/documents/schema/`, and must not call content errors schema errors.
//!
//! File names carry the expected outcome:
//! - `valid-`     schema-valid and content-correct: conformant, exit 0, no findings;
//! - `schemaok-`  schema-valid but content-wrong: no wellformed/schema finding, some content finding;
//! - `invalid-`   well-formed but schema-invalid;
//! - `malformed-` not (namespace-)well-formed.
//!
//! xmllint is the reference. It comes from Debian's `libxml2-utils`, which `.ci/run` installs;
//! without it (or without the shared spec checkout) these tests fail, they never skip.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const MIN_FILES: usize = 40;
const MIN_VALID: usize = 8;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    manifest_dir().join("../model/tests/documents/schema")
}

fn xsd_path() -> PathBuf {
    let path = manifest_dir().join("../../shared/spec/iplos-56.0.0/XPR(ipl).xsd");
    assert!(
        path.is_file(),
        "the IPLOS 56.0.0 schema is missing at {}: the agreement tests need the shared spec \
         checkout next to the workspace (../shared), and xmllint from Debian libxml2-utils \
         (.ci/run installs libxml2-utils)",
        path.display()
    );
    path
}

/// What a file's name promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Valid,
    SchemaOk,
    Invalid,
    Malformed,
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        [
            ("valid-", Kind::Valid),
            ("schemaok-", Kind::SchemaOk),
            ("invalid-", Kind::Invalid),
            ("malformed-", Kind::Malformed),
        ]
        .into_iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, kind)| kind)
    }

    fn schema_valid(self) -> bool {
        matches!(self, Kind::Valid | Kind::SchemaOk)
    }
}

/// Every fixture of the corpus: all files except dotfiles, README.md and helper scripts.
fn fixtures() -> Vec<String> {
    let dir = corpus_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus directory {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .map(|entry| {
            let entry = entry.expect("corpus directory entry");
            entry.file_name().to_string_lossy().into_owned()
        })
        .filter(|name| !name.starts_with('.') && name != "README.md" && !name.ends_with(".py"))
        .collect();
    names.sort();
    names
}

/// README lines of the form "- `file.xml` — **verdict** ...": (file, verdict word).
fn readme_entries() -> Vec<(String, String)> {
    let path = corpus_dir().join("README.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("- `")?;
            let (name, rest) = rest.split_once('`')?;
            let verdict = rest
                .split_once("**")
                .and_then(|(_, after)| after.split_once("**"))
                .map(|(word, _)| word.to_string())
                .unwrap_or_default();
            Some((name.to_string(), verdict))
        })
        .collect()
}

struct XmllintVerdict {
    valid: bool,
    exit: i32,
    first_error: String,
}

impl XmllintVerdict {
    fn describe(&self) -> String {
        if self.valid {
            "valid".to_string()
        } else {
            format!("invalid (exit {}): {}", self.exit, self.first_error)
        }
    }
}

fn xmllint(xsd: &Path, name: &str) -> XmllintVerdict {
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .arg(name)
        .current_dir(corpus_dir())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "xmllint is not installed: it is the reference these tests compare against. \
             Install Debian's libxml2-utils (.ci/run installs libxml2-utils)."
        ),
        Err(e) => panic!("cannot run xmllint: {e}"),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim_end)
        .filter(|l| {
            !l.is_empty() && !l.ends_with(" validates") && !l.ends_with(" fails to validate")
        })
        .collect();
    let first_error = lines
        .iter()
        .find(|l| l.contains(" error : "))
        .or(lines.first())
        .map(
            |l| match l.strip_prefix(name).and_then(|l| l.strip_prefix(':')) {
                // "file.xml:12: element X: Schemas validity error : ..." -> "line 12: element X: ..."
                Some(rest) => format!("line {rest}"),
                None => l.to_string(),
            },
        )
        .map(|l| {
            l.replace("Schemas validity error : ", "")
                .replace("{http://www.npr.no/xmlstds/56_0_0_ipl}", "{ipl}")
        })
        .unwrap_or_default();
    let exit = output.status.code().unwrap_or(-1);
    match exit {
        0 | 1 | 3 => XmllintVerdict {
            valid: exit == 0,
            exit,
            first_error,
        },
        // 4: file unreadable, 5: schema did not compile, others: internal trouble.
        _ => panic!("xmllint could not judge {name} (exit {exit}): {stderr}"),
    }
}

struct Finding {
    rule: String,
    category: String,
    severity: String,
    message: String,
}

impl Finding {
    fn is_schema_level(&self) -> bool {
        self.category == "wellformed" || self.category == "schema"
    }

    fn describe(&self) -> String {
        format!(
            "[{}/{}] {}: {}",
            self.category, self.severity, self.rule, self.message
        )
    }
}

struct CheckerReport {
    exit: i32,
    conformant: bool,
    findings: Vec<Finding>,
}

impl CheckerReport {
    fn schema_findings(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.is_schema_level())
            .collect()
    }

    fn describe(&self, only_schema_level: bool) -> String {
        let shown: Vec<String> = self
            .findings
            .iter()
            .filter(|f| !only_schema_level || f.is_schema_level())
            .map(Finding::describe)
            .collect();
        let shown = if shown.is_empty() {
            "no such findings".to_string()
        } else {
            shown.join("; ")
        };
        format!(
            "exit {}, conformant {}: {shown}",
            self.exit, self.conformant
        )
    }
}

/// Runs `iplos-harness check --format json FILE`; Err describes a checker that could not
/// answer in the agreed form.
fn run_checker(name: &str) -> Result<CheckerReport, String> {
    let path = corpus_dir().join(name);
    let output = Command::new(env!("CARGO_BIN_EXE_iplos-harness"))
        .args(["check", "--format", "json"])
        .arg(&path)
        .output()
        .map_err(|e| format!("cannot start iplos-harness: {e}"))?;
    let exit = output.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr_line = stderr.lines().next().unwrap_or("").trim();
    if exit != 0 && exit != 1 {
        return Err(format!("could not run (exit {exit}): {stderr_line}"));
    }
    let mut values = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let report = match (values.next(), values.next()) {
        (Some(Ok(value)), None) => value,
        (None, _) => {
            return Err(format!(
                "exit {exit} but no JSON object on stdout (stderr: {stderr_line:?})"
            ));
        }
        (Some(Err(e)), _) => return Err(format!("stdout is not JSON: {e}")),
        (Some(Ok(_)), Some(_)) => return Err("stdout holds more than one JSON value".into()),
    };
    if !report.get("file").is_some_and(Value::is_string) {
        return Err("report has no string \"file\"".into());
    }
    let conformant = report
        .get("conformant")
        .and_then(Value::as_bool)
        .ok_or("report has no boolean \"conformant\"")?;
    let raw_findings = report
        .get("findings")
        .and_then(Value::as_array)
        .ok_or("report has no array \"findings\"")?;
    let mut findings = Vec::new();
    for raw in raw_findings {
        let field = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_string);
        let category =
            field("category").ok_or_else(|| format!("finding without category: {raw}"))?;
        if !["wellformed", "schema", "content"].contains(&category.as_str()) {
            return Err(format!("finding with unknown category {category:?}"));
        }
        let severity =
            field("severity").ok_or_else(|| format!("finding without severity: {raw}"))?;
        if !["error", "warning"].contains(&severity.as_str()) {
            return Err(format!("finding with unknown severity {severity:?}"));
        }
        findings.push(Finding {
            rule: field("rule").unwrap_or_default(),
            category,
            severity,
            message: field("message").unwrap_or_default(),
        });
    }
    let has_error = findings.iter().any(|f| f.severity == "error");
    if conformant != (exit == 0) {
        return Err(format!(
            "exit {exit} does not match \"conformant\": {conformant}"
        ));
    }
    if has_error && exit != 1 {
        return Err(format!("error findings but exit {exit}"));
    }
    Ok(CheckerReport {
        exit,
        conformant,
        findings,
    })
}

/// A plain-text table; long cells are cut so that each row stays on one line.
fn table(headers: [&str; 3], rows: &[[String; 3]]) -> String {
    const MAX: usize = 180;
    let cut = |s: &str| -> String {
        let one_line = s.replace('\n', " ");
        if one_line.chars().count() > MAX {
            let mut short: String = one_line.chars().take(MAX - 1).collect();
            short.push('…');
            short
        } else {
            one_line
        }
    };
    let rows: Vec<[String; 3]> = rows
        .iter()
        .map(|r| [cut(&r[0]), cut(&r[1]), cut(&r[2])])
        .collect();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([headers[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:w0$} | {:w1$} | {}",
        headers[0], headers[1], headers[2]
    );
    let _ = writeln!(
        out,
        "{}-+-{}-+-{}",
        "-".repeat(w0),
        "-".repeat(w1),
        "-".repeat(width(2))
    );
    for r in &rows {
        let _ = writeln!(out, "{:w0$} | {:w1$} | {}", r[0], r[1], r[2]);
    }
    out
}

#[test]
fn corpus_is_large_enough_and_documented() {
    let files = fixtures();
    let mut problems = Vec::new();
    for name in &files {
        if Kind::of(name).is_none() {
            problems.push(format!(
                "{name}: name must start with valid-, schemaok-, invalid- or malformed-"
            ));
        }
        if !name.ends_with(".xml") {
            problems.push(format!("{name}: fixtures are .xml files"));
        }
    }
    let valid = files.iter().filter(|n| n.starts_with("valid-")).count();
    if files.len() < MIN_FILES {
        problems.push(format!(
            "only {} fixtures, want at least {MIN_FILES}",
            files.len()
        ));
    }
    if valid < MIN_VALID {
        problems.push(format!(
            "only {valid} valid- fixtures, want at least {MIN_VALID}"
        ));
    }

    let entries = readme_entries();
    let listed: BTreeSet<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    if listed.len() != entries.len() {
        problems.push("README.md lists a file more than once".into());
    }
    for name in &files {
        if !listed.contains(name.as_str()) {
            problems.push(format!(
                "{name}: undocumented fixture (not listed in README.md)"
            ));
        }
    }
    for name in &listed {
        if !files.iter().any(|f| f == name) {
            problems.push(format!("{name}: listed in README.md but no such file"));
        }
    }
    assert!(
        problems.is_empty(),
        "corpus problems in {}:\n  {}",
        corpus_dir().display(),
        problems.join("\n  ")
    );
}

/// Needs only xmllint: the corpus says what xmllint says.
#[test]
fn xmllint_verdicts_match_names_and_readme() {
    let xsd = xsd_path();
    let readme: std::collections::BTreeMap<String, String> = readme_entries().into_iter().collect();
    let mut rows = Vec::new();
    for name in fixtures() {
        let Some(kind) = Kind::of(&name) else {
            continue; // reported by corpus_is_large_enough_and_documented
        };
        let verdict = xmllint(&xsd, &name);
        let observed = if verdict.valid { "valid" } else { "invalid" };
        let mut wrong = Vec::new();
        if verdict.valid != kind.schema_valid() {
            wrong.push(format!(
                "name promises {}",
                if kind.schema_valid() {
                    "valid"
                } else {
                    "invalid"
                }
            ));
        }
        match readme.get(&name) {
            Some(stated) if stated == observed => {}
            Some(stated) => wrong.push(format!("README.md says {stated:?}")),
            None => wrong.push("not in README.md".into()),
        }
        if !wrong.is_empty() {
            rows.push([name, verdict.describe(), wrong.join("; ")]);
        }
    }
    assert!(
        rows.is_empty(),
        "{} fixture(s) where xmllint disagrees with the file name or README.md \
         (rerun make_mutations.py after changing a fixture):\n\n{}",
        rows.len(),
        table(["FILE", "XMLLINT", "EXPECTED"], &rows)
    );
}

/// The checker's wellformed/schema findings must give xmllint's verdict, file by file.
#[test]
fn checker_schema_verdict_agrees_with_xmllint() {
    let xsd = xsd_path();
    let files = fixtures();
    let mut rows = Vec::new();
    for name in &files {
        let verdict = xmllint(&xsd, name);
        let disagreement = match run_checker(name) {
            Err(problem) => Some(problem),
            Ok(report) => {
                let schema_findings = report.schema_findings();
                if verdict.valid && !schema_findings.is_empty() {
                    Some(report.describe(true))
                } else if !verdict.valid && schema_findings.is_empty() {
                    Some(format!(
                        "no wellformed/schema finding ({})",
                        report.describe(false)
                    ))
                } else {
                    None
                }
            }
        };
        if let Some(checker) = disagreement {
            rows.push([name.clone(), verdict.describe(), checker]);
        }
    }
    assert!(
        rows.is_empty(),
        "{} of {} corpus files: the checker's schema verdict disagrees with xmllint \
         (xmllint is the reference):\n\n{}",
        rows.len(),
        files.len(),
        table(
            ["FILE", "XMLLINT", "CHECKER (wellformed/schema findings)"],
            &rows
        )
    );
}

/// `valid-` files are content-correct too: nothing to report, exit 0.
#[test]
fn checker_finds_nothing_in_valid_messages() {
    let mut rows = Vec::new();
    for name in fixtures()
        .into_iter()
        .filter(|n| Kind::of(n) == Some(Kind::Valid))
    {
        match run_checker(&name) {
            Err(problem) => rows.push([name, "conformant, no findings".into(), problem]),
            Ok(report) if report.exit != 0 || !report.conformant || !report.findings.is_empty() => {
                rows.push([
                    name,
                    "conformant, no findings".into(),
                    report.describe(false),
                ])
            }
            Ok(_) => {}
        }
    }
    assert!(
        rows.is_empty(),
        "{} valid- message(s) not accepted cleanly:\n\n{}",
        rows.len(),
        table(["FILE", "EXPECTED", "CHECKER"], &rows)
    );
}

/// `schemaok-` files pass the schema but break a content rule: the checker must say so, as
/// content (the agreement test already forbids schema findings on them).
#[test]
fn checker_reports_content_findings_in_schemaok_messages() {
    let mut rows = Vec::new();
    for name in fixtures()
        .into_iter()
        .filter(|n| Kind::of(n) == Some(Kind::SchemaOk))
    {
        match run_checker(&name) {
            Err(problem) => rows.push([name, "a content finding".into(), problem]),
            Ok(report) if !report.findings.iter().any(|f| f.category == "content") => {
                rows.push([name, "a content finding".into(), report.describe(false)])
            }
            Ok(_) => {}
        }
    }
    assert!(
        rows.is_empty(),
        "{} schemaok- message(s) without a content finding:\n\n{}",
        rows.len(),
        table(["FILE", "EXPECTED", "CHECKER"], &rows)
    );
}
