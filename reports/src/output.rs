//! The writers: `report.json`, its JSON Schema, `junit.xml`, `index.html`, the console
//! summary, and [`write_report`] which writes all three files atomically.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::i18n::Lang;
use crate::junit::{Case, Outcome, Suite, Suites};
use crate::rehearsal::{PhaseStatus, RehearsalReport};
use crate::when;

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
    /// The action lists (`actions/*.csv`, `actions/*.txt`) and vendor pages
    /// (`vendors/*.html`), sorted.
    pub extra: Vec<PathBuf>,
}

/// A copy in canonical order with the derived sections filled in
/// ([`RehearsalReport::normalise`], then [`crate::derive::coordinate`]): what every writer
/// writes.
pub fn normalised(r: &RehearsalReport) -> RehearsalReport {
    let mut r = r.clone();
    r.normalise();
    crate::derive::coordinate(&mut r);
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
    junit_suites_in(r, Lang::Nb)
}

/// [`junit_suites`] with messages in `lang`: the message is the status and the causes'
/// titles from the catalogue.
pub fn junit_suites_in(r: &RehearsalReport, lang: Lang) -> Suites {
    let r = normalised(r);
    let mut suites = Vec::with_capacity(r.phases.len());
    for p in &r.phases {
        let mut cases = Vec::with_capacity(r.kommuner.len());
        for k in &r.kommuner {
            let name = format!("{} {}", k.kommunenr, k.name);
            let case = Case::passed(p.id.clone(), name.clone());
            let outcome = match k.phase(&p.id) {
                None => Outcome::Skipped(Some(lang.t("junit.na").into())),
                Some(kp) => match kp.status {
                    PhaseStatus::OnTime => Outcome::Passed,
                    PhaseStatus::NotApplicable => Outcome::Skipped(Some(lang.t("junit.na").into())),
                    s => {
                        let causes: Vec<String> = kp
                            .cause
                            .iter()
                            .flat_map(|c| c.split(','))
                            .map(|c| lang.or("cause", c, c).into_owned())
                            .collect();
                        let message = if causes.is_empty() {
                            s.label(lang).to_string()
                        } else {
                            format!("{}: {}", s.label(lang), causes.join("; "))
                        };
                        let phase = lang.phase(&p.id, &p.name);
                        let mut detail = lang.fill(
                            "junit.detail",
                            &[
                                ("kommune", &name),
                                ("status", &s.label(lang)),
                                ("phase", &phase),
                            ],
                        );
                        if let Some(at) = kp.at {
                            detail
                                .push_str(&lang.fill("junit.at", &[("at", &when::at(&at, lang))]));
                        }
                        if let Some(d) = p.deadline {
                            detail.push_str(
                                &lang.fill("junit.deadline", &[("at", &when::at(&d, lang))]),
                            );
                        }
                        detail.push('\n');
                        detail.push_str(&lang.fill(
                            "junit.vendor",
                            &[
                                ("vendor", &k.vendor),
                                (
                                    "channel",
                                    &lang.t(&format!("channel.{}", k.channel.as_str())),
                                ),
                            ],
                        ));
                        if !k.faults.is_empty() {
                            detail.push('\n');
                            detail.push_str(
                                &lang.fill("junit.faults", &[("list", &k.faults.join(", "))]),
                            );
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
                ("phase".into(), lang.phase(&p.id, &p.name)),
                ("first_day".into(), p.first_day.to_string()),
                ("last_day".into(), p.last_day.to_string()),
            ],
            cases,
        });
    }
    Suites {
        name: lang.fill(
            "junit.suites",
            &[("year", &r.run.season), ("scenario", &r.run.scenario)],
        ),
        suites,
    }
}

/// `junit.xml` (bokmål messages).
pub fn to_junit(r: &RehearsalReport) -> String {
    junit_suites(r).to_xml()
}

/// `junit.xml` in `lang`.
pub fn to_junit_in(r: &RehearsalReport, lang: Lang) -> String {
    junit_suites_in(r, lang).to_xml()
}

/// `index.html` (bokmål).
pub fn to_html(r: &RehearsalReport) -> String {
    to_html_in(r, Lang::Nb)
}

/// `index.html` in `lang`.
pub fn to_html_in(r: &RehearsalReport, lang: Lang) -> String {
    crate::page::render_in(&normalised(r), lang)
}

/// The plain-text summary printed at the end of a run (bokmål).
pub fn console_summary(r: &RehearsalReport, written: Option<&Written>) -> String {
    console_summary_in(r, written, Lang::Nb)
}

/// The plain-text summary in `lang`: phases × on time / late / failed / not attempted,
/// the top failure causes and rules, the receipts, the kommuner at risk per deadline, and
/// where the files are (`written`, when given).
pub fn console_summary_in(r: &RehearsalReport, written: Option<&Written>, lang: Lang) -> String {
    let r = normalised(r);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}",
        lang.fill(
            "console.head",
            &[
                ("year", &r.run.season),
                ("scenario", &r.run.scenario),
                ("seed", &r.run.seed),
                ("n", &r.run.kommuner),
                (
                    "channel",
                    &lang.t(&format!("channel.{}", r.run.channel.as_str()))
                ),
            ]
        )
    );
    let names: Vec<String> = r
        .phases
        .iter()
        .map(|p| lang.phase(&p.id, &p.name))
        .collect();
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let st = |s: PhaseStatus| s.label(lang);
    let _ = writeln!(
        o,
        "  {:<w$}  {:>9} {:>9} {:>9} {:>13} {:>13}",
        lang.t("console.col.phase"),
        st(PhaseStatus::OnTime),
        st(PhaseStatus::Late),
        st(PhaseStatus::Failed),
        st(PhaseStatus::NotAttempted),
        st(PhaseStatus::NotApplicable)
    );
    for (p, name) in r.phases.iter().zip(&names) {
        let _ = writeln!(
            o,
            "  {:<w$}  {:>9} {:>9} {:>9} {:>13} {:>13}",
            name, p.on_time, p.late, p.failed, p.not_attempted, p.not_applicable
        );
    }
    if !r.failures.is_empty() {
        let _ = writeln!(o, "{}", lang.t("console.causes"));
        for f in r.failures.iter().take(5) {
            let _ = writeln!(
                o,
                "  {:>4}  {} ({})",
                f.kommuner.len(),
                lang.or("cause", &f.cause, &f.title),
                f.cause
            );
        }
    }
    if !r.findings.by_rule.is_empty() {
        let _ = writeln!(o, "{}", lang.t("console.rules"));
        for x in r.findings.by_rule.iter().take(5) {
            let _ = writeln!(
                o,
                "  {:>6}  {} {} ({})",
                x.occurrences,
                x.rule,
                x.title,
                lang.fill("console.rule_line", &[("n", &x.kommuner.len())])
            );
        }
    }
    if let Some(p) = r.receipt_delays.p50_hours {
        let h = |v: f64| lang.fill("receipts.hours", &[("n", &v)]);
        let _ = writeln!(
            o,
            "{}",
            lang.fill(
                "console.receipts",
                &[
                    ("n", &r.receipt_delays.delays.len()),
                    ("p50", &h(p)),
                    ("p90", &h(r.receipt_delays.p90_hours.unwrap_or(0.0))),
                    ("max", &h(r.receipt_delays.max_hours.unwrap_or(0.0))),
                ]
            )
        );
    }
    let risk: Vec<String> = r
        .coordination
        .at_risk
        .iter()
        .map(|d| {
            format!(
                "{} {} {}",
                lang.t(&format!("deadline.{}", d.id)),
                when::day_short(d.date, lang),
                d.kommuner.len()
            )
        })
        .collect();
    if !risk.is_empty() {
        let _ = writeln!(
            o,
            "{}",
            lang.fill("console.at_risk", &[("list", &risk.join(" · "))])
        );
    }
    if let Some(w) = written {
        let _ = writeln!(o, "{} {}", lang.t("console.report"), w.html.display());
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

/// Writes `report.json`, `junit.xml`, `index.html`, the action lists and the vendor
/// pages into `dir` (in bokmål); see [`write_report_in`].
pub fn write_report(r: &RehearsalReport, dir: &Path) -> Result<Written, ReportError> {
    write_report_in(r, dir, Lang::Nb)
}

/// Writes `report.json`, `junit.xml` and `index.html` into `dir` (created if missing),
/// each atomically, with the texts in `lang`; and the action lists (`actions/`) and vendor
/// pages (`vendors/`, see [`crate::actions`]). Everything is rendered before the first
/// file is written, so an error in rendering leaves the directory untouched.
/// `report.json` is written last: its presence means the set is complete.
pub fn write_report_in(
    r: &RehearsalReport,
    dir: &Path,
    lang: Lang,
) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let n = normalised(r);
    let json = to_json(&n)?;
    let junit = to_junit_in(&n, lang);
    let html = crate::page::render_in(&n, lang);
    let files = crate::actions::files(&n, lang);
    let mut extra = Vec::with_capacity(files.len());
    for (rel, bytes) in &files {
        let path = dir.join(rel);
        let parent = path.parent().unwrap_or(dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|source| ReportError::CreateDir {
            path: parent.clone(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        extra.push(write_atomic(&parent, &name, bytes)?);
    }
    extra.sort();
    let junit = write_atomic(dir, JUNIT_FILE, junit.as_bytes())?;
    let html = write_atomic(dir, HTML_FILE, html.as_bytes())?;
    let json = write_atomic(dir, JSON_FILE, json.as_bytes())?;
    tracing::info!(dir = %dir.display(), "report written");
    Ok(Written {
        json,
        junit,
        html,
        extra,
    })
}
