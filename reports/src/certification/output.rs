//! The three files of a certification: `report.json`, `junit.xml` and `index.html`.

use std::fmt::Write as _;
use std::path::Path;

use super::page::render;
use super::types::{CertificationReport, TestVerdict};
use crate::junit::{Case, Outcome, Suite, Suites};
use crate::output::{HTML_FILE, JSON_FILE, JUNIT_FILE, ReportError, Written, write_atomic};

fn normalised(r: &CertificationReport) -> CertificationReport {
    let mut r = r.clone();
    r.normalise();
    r
}

/// `report.json`: pretty-printed, normalised, a trailing newline.
pub fn certification_to_json(r: &CertificationReport) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(&normalised(r))?;
    s.push('\n');
    Ok(s)
}

/// The JSON Schema (draft 2020-12) of a certification `report.json`, as committed in
/// `reports/schema/certification-report.schema.json`.
pub fn certification_schema_json() -> String {
    let schema = schemars::schema_for!(CertificationReport);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The name of the first JUnit suite: the failed required tests (the root causes).
pub const ROOT_CAUSES_SUITE: &str = "root-causes";

/// The report as JUnit suites: first [`ROOT_CAUSES_SUITE`] with the failed required tests,
/// then one per plan suite (in order of first appearance) with the others; one case per
/// test. A blocked test is a skipped case naming its root causes.
pub fn certification_junit_suites(r: &CertificationReport) -> Suites {
    let r = normalised(r);
    let mut suites: Vec<Suite> = Vec::new();
    let root = |t: &super::types::TestResult| t.required && t.verdict == TestVerdict::Fail;
    if r.tests.iter().any(root) {
        suites.push(Suite {
            name: ROOT_CAUSES_SUITE.into(),
            ..Suite::default()
        });
    }
    for t in &r.tests {
        let name = if root(t) {
            ROOT_CAUSES_SUITE
        } else {
            t.suite.as_str()
        };
        let idx = match suites.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                suites.push(Suite {
                    name: name.to_string(),
                    ..Suite::default()
                });
                suites.len() - 1
            }
        };
        let mut detail = format!(
            "{} {} ({})\nrequirement: {}\n",
            t.id,
            t.title,
            if t.required { "required" } else { "optional" },
            t.requirement
        );
        for e in &t.evidence {
            let _ = writeln!(detail, "- {}", e.to_text());
        }
        let message = t
            .reason
            .clone()
            .unwrap_or_else(|| t.verdict.as_str().to_string());
        let outcome = match t.verdict {
            TestVerdict::Pass => Outcome::Passed,
            TestVerdict::Fail => Outcome::Failed {
                message,
                kind: t.kind.clone(),
                detail,
            },
            TestVerdict::Error => Outcome::Error {
                message,
                kind: t.kind.clone(),
                detail,
            },
            TestVerdict::Skip => Outcome::Skipped(t.reason.clone()),
            // Not a failure of its own: its root cause is failed in its own case.
            TestVerdict::Blocked => {
                Outcome::Skipped(Some(format!("blocked by {}", t.blocked_by.join(", "))))
            }
        };
        suites[idx].cases.push(
            Case::passed(
                format!("{}.{}", t.suite, t.group),
                format!("{} {}", t.id, t.title),
            )
            .with_outcome(outcome),
        );
    }
    for s in &mut suites {
        s.properties = vec![
            ("plan".into(), r.plan.name.clone()),
            ("plan_version".into(), r.plan.version.clone()),
            ("plan_sha256".into(), r.plan.sha256.clone()),
            (
                "harness".into(),
                format!("{} {}", r.tool.name, r.tool.version),
            ),
            ("verdict".into(), r.verdict.as_str().into()),
        ];
        if let Some(f) = r.session.time_scale {
            s.properties.push(("time_scale".into(), f.to_string()));
        }
    }
    Suites {
        name: format!(
            "iplos certification {} {} — {} {} {}",
            r.plan.name, r.plan.version, r.vendor.name, r.vendor.product, r.vendor.version
        ),
        suites,
    }
}

/// `junit.xml`.
pub fn certification_to_junit(r: &CertificationReport) -> String {
    certification_junit_suites(r).to_xml()
}

/// `index.html`.
pub fn certification_to_html(r: &CertificationReport) -> String {
    render(&normalised(r))
}

/// Writes `report.json`, `junit.xml` and `index.html` into `dir` (created if missing), each
/// atomically; all three are rendered first, and `report.json` is written last.
pub fn write_certification(r: &CertificationReport, dir: &Path) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = certification_to_json(r)?;
    let junit = certification_to_junit(r);
    let html = certification_to_html(r);
    let junit = write_atomic(dir, JUNIT_FILE, junit.as_bytes())?;
    let html = write_atomic(dir, HTML_FILE, html.as_bytes())?;
    let json = write_atomic(dir, JSON_FILE, json.as_bytes())?;
    tracing::info!(dir = %dir.display(), "certification report written");
    Ok(Written {
        json,
        junit,
        html,
        extra: Vec::new(),
    })
}
