//! The writers: `report.json`, its JSON Schema, `junit.xml`, `index.html`, the console
//! summary, and [`write_report`] which writes all three files atomically.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::junit::{Case, Outcome, Suite, Suites};
use crate::rehearsal::{PhaseStatus, RehearsalReport};

/// File names inside the output directory.
pub const JSON_FILE: &str = "report.json";
/// JUnit file name.
pub const JUNIT_FILE: &str = "junit.xml";
/// HTML file name.
pub const HTML_FILE: &str = "index.html";

/// Errors of the writers.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The output directory could not be created.
    #[error("cannot create report directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be written or moved into place.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The report could not be serialised.
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
}

/// Where [`write_report`] put the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `report.json`.
    pub json: PathBuf,
    /// `junit.xml`.
    pub junit: PathBuf,
    /// `index.html`.
    pub html: PathBuf,
}

fn normalised(r: &RehearsalReport) -> RehearsalReport {
    let mut r = r.clone();
    r.normalise();
    r
}

/// `report.json`: pretty-printed, fields in declaration order, lists in canonical order,
/// a trailing newline.
pub fn to_json(r: &RehearsalReport) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(&normalised(r))?;
    s.push('\n');
    Ok(s)
}

/// The JSON Schema (draft 2020-12) of `report.json`, as committed in
/// `reports/schema/rehearsal-report.schema.json`.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(RehearsalReport);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The rehearsal as JUnit suites: one suite per phase, one case per kommune × phase
/// (`classname` = phase id, `name` = "`<kommunenr> <name>`"). Late, failed and not attempted
/// are failures (`message` = reason, `type` = cause or status); not applicable is skipped.
pub fn junit_suites(r: &RehearsalReport) -> Suites {
    let r = normalised(r);
    let mut suites = Vec::with_capacity(r.phases.len());
    for p in &r.phases {
        let mut cases = Vec::with_capacity(r.kommuner.len());
        for k in &r.kommuner {
            let name = format!("{} {}", k.kommunenr, k.name);
            let case = Case::passed(p.id.clone(), name);
            let outcome = match k.phase(&p.id) {
                None => Outcome::Skipped(Some("phase does not apply".into())),
                Some(kp) => match kp.status {
                    PhaseStatus::OnTime => Outcome::Passed,
                    PhaseStatus::NotApplicable => Outcome::Skipped(kp.reason.clone()),
                    s => {
                        let message = kp.reason.clone().unwrap_or_else(|| s.label().to_string());
                        let mut detail = format!(
                            "{} {}: {} in phase {}",
                            k.kommunenr,
                            k.name,
                            s.label(),
                            p.name
                        );
                        if let Some(at) = kp.at {
                            let _ = write!(detail, " at {}", at.to_rfc3339());
                        }
                        if let Some(d) = p.deadline {
                            let _ = write!(detail, " (deadline {})", d.to_rfc3339());
                        }
                        let _ = write!(
                            detail,
                            "\nvendor {}, channel {}",
                            k.vendor,
                            k.channel.as_str()
                        );
                        if !k.faults.is_empty() {
                            let _ = write!(detail, "\ninjected faults: {}", k.faults.join(", "));
                        }
                        Outcome::Failed {
                            message,
                            kind: kp.cause.clone().unwrap_or_else(|| s.as_str().to_string()),
                            detail,
                        }
                    }
                },
            };
            cases.push(case.with_outcome(outcome));
        }
        suites.push(Suite {
            name: p.id.clone(),
            timestamp: None,
            properties: vec![
                ("phase".into(), p.name.clone()),
                ("first_day".into(), p.first_day.to_string()),
                ("last_day".into(), p.last_day.to_string()),
            ],
            cases,
        });
    }
    Suites {
        name: format!("iplos rehearsal {} {}", r.run.season, r.run.scenario),
        suites,
    }
}

/// `junit.xml`.
pub fn to_junit(r: &RehearsalReport) -> String {
    junit_suites(r).to_xml()
}

/// `index.html`.
pub fn to_html(r: &RehearsalReport) -> String {
    crate::page::render(&normalised(r))
}

/// The plain-text summary printed at the end of a run: phases × on time / late / failed /
/// not attempted, the top failure causes and rules, and where the files are (`written`,
/// when given).
pub fn console_summary(r: &RehearsalReport, written: Option<&Written>) -> String {
    let r = normalised(r);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Dress rehearsal, data year {} — scenario {} — seed {} — {} kommuner ({})",
        r.run.season,
        r.run.scenario,
        r.run.seed,
        r.run.kommuner,
        r.run.channel.as_str()
    );
    let w = r
        .phases
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        o,
        "  {:<w$}  {:>7} {:>5} {:>6} {:>13} {:>5}",
        "phase", "on time", "late", "failed", "not attempted", "n/a"
    );
    for p in &r.phases {
        let _ = writeln!(
            o,
            "  {:<w$}  {:>7} {:>5} {:>6} {:>13} {:>5}",
            p.name, p.on_time, p.late, p.failed, p.not_attempted, p.not_applicable
        );
    }
    if !r.failures.is_empty() {
        let _ = writeln!(o, "Top failure causes:");
        for f in r.failures.iter().take(5) {
            let _ = writeln!(o, "  {:>4}  {} ({})", f.kommuner.len(), f.title, f.cause);
        }
    }
    if !r.findings.by_rule.is_empty() {
        let _ = writeln!(o, "Top rules:");
        for x in r.findings.by_rule.iter().take(5) {
            let _ = writeln!(
                o,
                "  {:>6}  {} {} ({} kommuner)",
                x.occurrences,
                x.rule,
                x.title,
                x.kommuner.len()
            );
        }
    }
    if let Some(p) = r.receipt_delays.p50_hours {
        let _ = writeln!(
            o,
            "Receipts: {} — median {p} h, p90 {} h, longest {} h",
            r.receipt_delays.delays.len(),
            r.receipt_delays.p90_hours.unwrap_or(0.0),
            r.receipt_delays.max_hours.unwrap_or(0.0)
        );
    }
    if let Some(w) = written {
        let _ = writeln!(o, "Report: {}", w.html.display());
        let _ = writeln!(o, "        {}", w.json.display());
        let _ = writeln!(o, "        {}", w.junit.display());
    }
    o
}

/// Writes `contents` to `dir/name` atomically: a temporary file in the same directory,
/// flushed and synced, then renamed over the target. A reader never sees a partial file.
pub fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf, ReportError> {
    let path = dir.join(name);
    let err = |source| ReportError::Write {
        path: path.clone(),
        source,
    };
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // Reports are for reading: rw-r--r-- (less the umask), not the temp file's rw-------.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(err)?;
    tmp.write_all(contents).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(&path).map_err(|e| err(e.error))?;
    Ok(path)
}

/// Writes `report.json`, `junit.xml` and `index.html` into `dir` (created if missing),
/// each atomically. All three are rendered before the first is written, so an error in
/// rendering leaves the directory untouched. `report.json` is written last: its presence
/// means the set is complete.
pub fn write_report(r: &RehearsalReport, dir: &Path) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = to_json(r)?;
    let junit = to_junit(r);
    let html = to_html(r);
    let junit = write_atomic(dir, JUNIT_FILE, junit.as_bytes())?;
    let html = write_atomic(dir, HTML_FILE, html.as_bytes())?;
    let json = write_atomic(dir, JSON_FILE, json.as_bytes())?;
    tracing::info!(dir = %dir.display(), "report written");
    Ok(Written { json, junit, html })
}
