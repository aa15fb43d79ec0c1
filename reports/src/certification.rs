//! The certification report: the result of running a certification test plan
//! (`scenarios/certification/*.toml`) against one vendor's system, as the same three files as
//! a rehearsal ([`write_certification`]):
//!
//! - **`report.json`** — the whole [`CertificationReport`]; its JSON Schema (draft 2020-12,
//!   [`certification_schema_json`]) is committed as
//!   `reports/schema/certification-report.schema.json` and a test fails when the two differ.
//! - **`junit.xml`** — one `<testsuite>` per plan suite, one `<testcase classname="<suite>.<group>"
//!   name="<id> <title>">` per test; fail is `<failure message="<reason>" type="<kind>">` with the
//!   evidence as text, error is `<error>`, skip is `<skipped/>` (the generic [`crate::junit`]).
//! - **`index.html`** — one self-contained page ([`crate::html`]) that reads in this order: the
//!   verdict in big letters with the counts (`#verdict`; the verdict is also the page's first
//!   heading), the failed required tests with their evidence (`#required-failures`: XML
//!   excerpts in `<pre>`, expected and received side by side), the required tests that did not
//!   run (`#not-run`), the failed optional tests (`#optional-failures`), every test
//!   (`#all-tests`), the timings a vendor cares about (`#timings`) and the evidence bundle with
//!   its hash (`#bundle`).
//!
//! # Verdicts
//!
//! Per test: pass, fail, skip, error (the harness or environment could not run it; not a
//! judgement of the vendor). Overall ([`overall_verdict`]): **fail** when a required test
//! failed; else **incomplete** when a required test was skipped or errored (or there are no
//! tests); else **pass**. Optional tests are reported and counted but never decide it.
//! [`CertificationReport::normalise`] (applied by every writer) recomputes the summary and
//! the verdict from the tests, so the three files cannot disagree with the tests they list.
//!
//! Evidence ([`Evidence`]) is a message id, a rule finding, an XML excerpt (cut to
//! [`MAX_EXCERPT_CHARS`] by [`Evidence::excerpt`]), expected vs received (per event or field:
//! a missing item has no `received`, an extra one no `expected`) or a file of the bundle.
//!
//! # The evidence bundle
//!
//! The evidence (received messages, AppRecs, logs) lies in files in a directory, the bundle.
//! [`bundle_from_dir`] lists every regular file under it with its sha256 and size, sorted by
//! path (`/`-separated, relative); the bundle's sha256 is the sha256 of its *manifest*
//! ([`EvidenceBundle::manifest`]): one line `<sha256>  <path>\n` per file in that order —
//! exactly what `sha256sum` prints, so a certifier can check the files with `sha256sum -c` and
//! the bundle with `sha256sum` over the manifest. [`verify_bundle`] redoes all of that and
//! lists every file missing, changed or added, and a bundle hash that does not match its
//! files. Files are hashed in 64 KiB chunks (bounded memory); symbolic links and paths that
//! are not UTF-8 or hold a newline are refused (they could not be listed unambiguously).
//!
//! # Determinism and the timings section
//!
//! **\[model\]** A certification runs against a real system on the wall clock, so everything
//! measured — start and end of the session, wall seconds, time to first AppRec, notifications
//! per second, p50/p99 latency — is in one section, `timings` ([`Timings`]); everything else is
//! a function of the plan and what was received. [`CertificationReport::without_timings`]
//! clears it for comparisons. Floats are rounded to two decimals.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::html::{esc, page, section, table};
use crate::junit::{Case, Outcome, Suite, Suites};
use crate::output::{HTML_FILE, JSON_FILE, JUNIT_FILE, ReportError, Written, write_atomic};
use crate::rehearsal::{Tool, round2};

/// The version of the certification report format.
pub const CERTIFICATION_SCHEMA_VERSION: u32 = 1;

/// One certification: a plan run against one vendor's system for one kommune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificationReport {
    /// The report format version ([`CERTIFICATION_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The program that ran the plan.
    pub tool: Tool,
    /// The plan run.
    pub plan: PlanInfo,
    /// Whose system was certified.
    pub vendor: VendorInfo,
    /// The session: the kommune and the endpoint the vendor sent to.
    pub session: Session,
    /// The overall verdict (see the module docs).
    pub verdict: Verdict,
    /// Counts over the tests.
    pub summary: Summary,
    /// Every test of the plan, in plan order.
    pub tests: Vec<TestResult>,
    /// The evidence files and their hash.
    pub evidence_bundle: EvidenceBundle,
    /// THE wall-clock section: the only values measured on the wall clock.
    pub timings: Timings,
}

/// The plan a certification ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInfo {
    /// The plan's name.
    pub name: String,
    /// The plan's version.
    pub version: String,
    /// The message format certified, e.g. `iplos-56.0.0`.
    pub format: String,
    /// sha256 (lower-case hex) of the plan's text.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// The vendor and the product certified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VendorInfo {
    /// The vendor (company).
    pub name: String,
    /// The product (`navnEPJ`).
    pub product: String,
    /// The product's version (`versjonEPJ`).
    pub version: String,
}

/// The session's setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The kommunenummer the vendor sent for.
    pub kommune: String,
    /// The kommune's name.
    pub kommune_name: String,
    /// The kommune's (sender's) HER-id, on the service bus.
    pub her_id: Option<u32>,
    /// The channel: `servicebus` or `sendemodul`.
    pub channel: String,
    /// What a reader of the result must know about how the session was run (e.g. a time
    /// scale that shortened timeouts and fault durations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every required test passed.
    Pass,
    /// A required test failed.
    Fail,
    /// No required test failed, but one was skipped or could not run.
    Incomplete,
}

impl Verdict {
    /// The snake_case id.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Incomplete => "incomplete",
        }
    }
}

/// The verdict of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestVerdict {
    /// The vendor's system did what the test checks.
    Pass,
    /// It did not.
    Fail,
    /// The test was not run (not applicable, or left out on purpose).
    Skip,
    /// The harness or the environment could not run the test.
    Error,
}

impl TestVerdict {
    /// The snake_case id.
    pub fn as_str(self) -> &'static str {
        match self {
            TestVerdict::Pass => "pass",
            TestVerdict::Fail => "fail",
            TestVerdict::Skip => "skip",
            TestVerdict::Error => "error",
        }
    }
}

/// Counts over the tests ([`CertificationReport::normalise`] computes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Tests in the report.
    pub tests: u32,
    /// Passed.
    pub passed: u32,
    /// Failed.
    pub failed: u32,
    /// Skipped.
    pub skipped: u32,
    /// Errored.
    pub errors: u32,
    /// Required tests.
    pub required: u32,
    /// Required tests that passed.
    pub required_passed: u32,
    /// Required tests that failed.
    pub required_failed: u32,
    /// Required tests skipped or errored.
    pub required_not_run: u32,
}

/// The result of one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestResult {
    /// The plan's test id, e.g. `TRANSPORT-01`.
    pub id: String,
    /// The plan suite's id.
    pub suite: String,
    /// The plan group's id.
    pub group: String,
    /// The test's title.
    pub title: String,
    /// The requirement it verifies.
    pub requirement: String,
    /// The check performed (the plan's `kind`).
    pub kind: String,
    /// Whether the certification needs it to pass.
    pub required: bool,
    /// The verdict.
    pub verdict: TestVerdict,
    /// Why (for anything but a pass; may be given for a pass).
    pub reason: Option<String>,
    /// What supports the verdict.
    pub evidence: Vec<Evidence>,
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Evidence {
    /// A message sent or received.
    Message {
        /// Its message-id (AMQP) or MsgId.
        message_id: String,
        /// What about it.
        note: String,
    },
    /// A finding of a catalogue rule.
    Rule {
        /// The rule id, e.g. `IPL03`.
        rule: String,
        /// The rule's title.
        title: String,
        /// The message it was found in.
        message_id: Option<String>,
        /// Where in the message (element path or notifikasjonGUID).
        location: Option<String>,
    },
    /// An excerpt of the offending XML.
    Excerpt {
        /// The message it is from.
        message_id: Option<String>,
        /// The first line of the excerpt in the message.
        line: Option<u32>,
        /// The XML text.
        xml: String,
    },
    /// What the harness expected and what it received (a missing item has no `received`,
    /// an extra one no `expected`).
    ExpectedReceived {
        /// What is compared: an event (tjenesteID, type, date) or a property.
        subject: String,
        /// The field that differs, when one field.
        field: Option<String>,
        /// The expected value.
        expected: Option<String>,
        /// The received value.
        received: Option<String>,
    },
    /// A file of the evidence bundle.
    File {
        /// Its path in the bundle.
        path: String,
        /// What it shows.
        note: String,
    },
}

/// The longest XML excerpt [`Evidence::excerpt`] keeps, in characters.
pub const MAX_EXCERPT_CHARS: usize = 4000;

impl Evidence {
    /// An excerpt of the offending XML, cut to [`MAX_EXCERPT_CHARS`] characters (with a
    /// marker saying how much was cut) so a hostile message cannot blow up the report.
    pub fn excerpt(message_id: Option<String>, line: Option<u32>, xml: &str) -> Evidence {
        let total = xml.chars().count();
        let xml = if total > MAX_EXCERPT_CHARS {
            let kept: String = xml.chars().take(MAX_EXCERPT_CHARS).collect();
            format!(
                "{kept}\n… ({} more characters cut)",
                total - MAX_EXCERPT_CHARS
            )
        } else {
            xml.to_string()
        };
        Evidence::Excerpt {
            message_id,
            line,
            xml,
        }
    }

    /// One line of text (JUnit detail, console).
    pub fn to_text(&self) -> String {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "—".into());
        match self {
            Evidence::Message { message_id, note } => format!("message {message_id}: {note}"),
            Evidence::Rule {
                rule,
                title,
                message_id,
                location,
            } => {
                let mut s = format!("rule {rule}: {title}");
                if let Some(m) = message_id {
                    let _ = write!(s, " (message {m}");
                    if let Some(l) = location {
                        let _ = write!(s, ", at {l}");
                    }
                    s.push(')');
                }
                s
            }
            Evidence::Excerpt {
                message_id,
                line,
                xml,
            } => {
                let mut s = String::from("excerpt");
                if let Some(m) = message_id {
                    let _ = write!(s, " of message {m}");
                }
                if let Some(l) = line {
                    let _ = write!(s, " from line {l}");
                }
                let _ = write!(s, ":\n{xml}");
                s
            }
            Evidence::ExpectedReceived {
                subject,
                field,
                expected,
                received,
            } => {
                let what = match field {
                    Some(f) => format!("{subject}, {f}"),
                    None => subject.clone(),
                };
                format!(
                    "{what}: expected {}, received {}",
                    opt(expected),
                    opt(received)
                )
            }
            Evidence::File { path, note } => format!("file {path}: {note}"),
        }
    }
}

/// The evidence files and the bundle's hash.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBundle {
    /// Every file, sorted by path.
    pub files: Vec<BundleFile>,
    /// sha256 of the manifest (see the module docs).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// One file of the evidence bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleFile {
    /// Relative path, `/`-separated.
    pub path: String,
    /// sha256 of its bytes (lower-case hex).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

impl EvidenceBundle {
    /// A bundle of `files` (sorted here), with its hash.
    pub fn new(mut files: Vec<BundleFile>) -> EvidenceBundle {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut b = EvidenceBundle {
            files,
            sha256: String::new(),
        };
        b.sha256 = sha256_hex(b.manifest().as_bytes());
        b
    }

    /// The manifest: `<sha256>  <path>\n` per file, in path order (`sha256sum`'s format).
    pub fn manifest(&self) -> String {
        let mut s = String::with_capacity(self.files.len() * 100);
        for f in &self.files {
            let _ = writeln!(s, "{}  {}", f.sha256, f.path);
        }
        s
    }
}

/// The wall-clock section: every value measured on the wall clock.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// When the session started (UTC).
    pub started: Option<DateTime<Utc>>,
    /// When it ended (UTC).
    pub ended: Option<DateTime<Utc>>,
    /// Its length in seconds.
    pub wall_seconds: Option<f64>,
    /// From the first message received to the first AppRec sent back, milliseconds.
    pub time_to_first_apprec_ms: Option<u64>,
    /// Notifications received per second over the throughput test.
    pub notifications_per_second: Option<f64>,
    /// Median latency from a message's arrival to its AppRec, milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile of the same, milliseconds.
    pub p99_ms: Option<f64>,
    /// How many latencies the percentiles are over.
    pub latency_samples: u64,
}

impl Timings {
    /// Sets `p50_ms`, `p99_ms` and `latency_samples` from latencies in milliseconds
    /// (nearest-rank percentiles; NaN and negative values are ignored).
    pub fn set_latencies(&mut self, latencies_ms: &[f64]) {
        let mut v: Vec<f64> = latencies_ms
            .iter()
            .copied()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .collect();
        v.sort_by(f64::total_cmp);
        self.latency_samples = v.len() as u64;
        self.p50_ms = percentile(&v, 50.0);
        self.p99_ms = percentile(&v, 99.0);
    }
}

/// The nearest-rank percentile `p` (0–100] of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The overall verdict of a set of results (see the module docs).
pub fn overall_verdict(tests: &[TestResult]) -> Verdict {
    let required = tests.iter().filter(|t| t.required);
    let mut verdict = if tests.is_empty() {
        Verdict::Incomplete
    } else {
        Verdict::Pass
    };
    for t in required {
        match t.verdict {
            TestVerdict::Fail => return Verdict::Fail,
            TestVerdict::Skip | TestVerdict::Error => verdict = Verdict::Incomplete,
            TestVerdict::Pass => {}
        }
    }
    verdict
}

fn summarise(tests: &[TestResult]) -> Summary {
    let mut s = Summary::default();
    for t in tests {
        s.tests += 1;
        match t.verdict {
            TestVerdict::Pass => s.passed += 1,
            TestVerdict::Fail => s.failed += 1,
            TestVerdict::Skip => s.skipped += 1,
            TestVerdict::Error => s.errors += 1,
        }
        if t.required {
            s.required += 1;
            match t.verdict {
                TestVerdict::Pass => s.required_passed += 1,
                TestVerdict::Fail => s.required_failed += 1,
                TestVerdict::Skip | TestVerdict::Error => s.required_not_run += 1,
            }
        }
    }
    s
}

impl CertificationReport {
    /// Recomputes the summary and the verdict from the tests, sorts the bundle's files and
    /// rounds the floats. Tests keep their (plan) order.
    pub fn normalise(&mut self) {
        self.summary = summarise(&self.tests);
        self.verdict = overall_verdict(&self.tests);
        self.evidence_bundle
            .files
            .sort_by(|a, b| a.path.cmp(&b.path));
        let t = &mut self.timings;
        t.wall_seconds = t.wall_seconds.map(round2);
        t.notifications_per_second = t.notifications_per_second.map(round2);
        t.p50_ms = t.p50_ms.map(round2);
        t.p99_ms = t.p99_ms.map(round2);
    }

    /// The same report with the wall-clock section cleared.
    pub fn without_timings(&self) -> CertificationReport {
        let mut r = self.clone();
        r.timings = Timings::default();
        r
    }
}

fn normalised(r: &CertificationReport) -> CertificationReport {
    let mut r = r.clone();
    r.normalise();
    r
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(d: &[u8]) -> String {
    let mut s = String::with_capacity(d.len() * 2);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Errors of the bundle functions.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A path cannot be listed in the manifest.
    #[error("{path}: {reason}")]
    BadPath {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
}

fn hash_file(path: &Path) -> Result<(String, u64), BundleError> {
    let err = |source| BundleError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(err)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

/// Lists the regular files under `dir` (recursively) as a bundle. Symbolic links, paths that
/// are not UTF-8 and paths holding a newline or a backslash are refused.
pub fn bundle_from_dir(dir: &Path) -> Result<EvidenceBundle, BundleError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| BundleError::Read {
            path: d.clone(),
            source,
        })?;
        for entry in rd {
            let entry = entry.map_err(|source| BundleError::Read {
                path: d.clone(),
                source,
            })?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|source| BundleError::Read {
                path: path.clone(),
                source,
            })?;
            if ft.is_symlink() {
                return Err(BundleError::BadPath {
                    path,
                    reason: "a symbolic link in the evidence bundle",
                });
            }
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            if !ft.is_file() {
                return Err(BundleError::BadPath {
                    path,
                    reason: "not a regular file",
                });
            }
            let rel = relative_name(dir, &path)?;
            let (sha256, bytes) = hash_file(&path)?;
            files.push(BundleFile {
                path: rel,
                sha256,
                bytes,
            });
        }
    }
    Ok(EvidenceBundle::new(files))
}

fn relative_name(dir: &Path, path: &Path) -> Result<String, BundleError> {
    let bad = |reason| BundleError::BadPath {
        path: path.to_path_buf(),
        reason,
    };
    let rel = path
        .strip_prefix(dir)
        .map_err(|_| bad("outside the bundle"))?;
    let mut parts = Vec::new();
    for c in rel.components() {
        let s = c
            .as_os_str()
            .to_str()
            .ok_or_else(|| bad("a path that is not UTF-8"))?;
        if s.contains(['\n', '\r', '\\']) {
            return Err(bad("a path holding a newline or a backslash"));
        }
        parts.push(s);
    }
    Ok(parts.join("/"))
}

/// A way the files on disk differ from a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleProblem {
    /// A listed file is not there.
    Missing(String),
    /// A listed file's bytes differ.
    Changed {
        /// The path.
        path: String,
        /// The sha256 listed.
        listed: String,
        /// The sha256 found.
        found: String,
    },
    /// A file is there that the bundle does not list.
    Extra(String),
    /// The bundle's hash is not the hash of its manifest (the report was edited).
    BundleHash {
        /// The hash in the report.
        listed: String,
        /// The hash of the listed files' manifest.
        computed: String,
    },
}

impl std::fmt::Display for BundleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleProblem::Missing(p) => write!(f, "{p}: missing"),
            BundleProblem::Changed {
                path,
                listed,
                found,
            } => write!(f, "{path}: changed (listed sha256 {listed}, found {found})"),
            BundleProblem::Extra(p) => write!(f, "{p}: not in the bundle"),
            BundleProblem::BundleHash { listed, computed } => write!(
                f,
                "bundle sha256 {listed} is not the hash of its files' manifest ({computed})"
            ),
        }
    }
}

/// Checks the files under `dir` against `bundle`: every problem, or an empty list when the
/// files and the hash are exactly as listed.
pub fn verify_bundle(
    dir: &Path,
    bundle: &EvidenceBundle,
) -> Result<Vec<BundleProblem>, BundleError> {
    let mut problems = Vec::new();
    let mut listed = bundle.clone();
    listed.files.sort_by(|a, b| a.path.cmp(&b.path));
    let computed = sha256_hex(listed.manifest().as_bytes());
    if computed != bundle.sha256 {
        problems.push(BundleProblem::BundleHash {
            listed: bundle.sha256.clone(),
            computed,
        });
    }
    let on_disk = bundle_from_dir(dir)?;
    let disk: std::collections::BTreeMap<&str, &BundleFile> =
        on_disk.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut seen = std::collections::BTreeSet::new();
    for f in &listed.files {
        seen.insert(f.path.as_str());
        match disk.get(f.path.as_str()) {
            None => problems.push(BundleProblem::Missing(f.path.clone())),
            Some(d) if d.sha256 != f.sha256 || d.bytes != f.bytes => {
                problems.push(BundleProblem::Changed {
                    path: f.path.clone(),
                    listed: f.sha256.clone(),
                    found: d.sha256.clone(),
                })
            }
            Some(_) => {}
        }
    }
    for f in &on_disk.files {
        if !seen.contains(f.path.as_str()) {
            problems.push(BundleProblem::Extra(f.path.clone()));
        }
    }
    Ok(problems)
}

// ---------------------------------------------------------------------------------------
// Writers

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

/// The report as JUnit suites: one per plan suite (in order of first appearance), one case
/// per test.
pub fn certification_junit_suites(r: &CertificationReport) -> Suites {
    let r = normalised(r);
    let mut suites: Vec<Suite> = Vec::new();
    for t in &r.tests {
        let idx = match suites.iter().position(|s| s.name == t.suite) {
            Some(i) => i,
            None => {
                suites.push(Suite {
                    name: t.suite.clone(),
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
            ("verdict".into(), r.verdict.as_str().into()),
        ];
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
    Ok(Written { json, junit, html })
}

// ---------------------------------------------------------------------------------------
// The page

const CERT_CSS: &str = r#"
.big-verdict{display:flex;align-items:center;gap:28px;flex-wrap:wrap}
.big-verdict .word{font-size:56px;font-weight:800;letter-spacing:2px;padding:6px 26px;border-radius:8px;color:#fff}
.v-pass{background:var(--ok)}.v-fail{background:var(--fail)}.v-incomplete{background:var(--late)}
.tv-pass{background:var(--ok)}.tv-fail{background:var(--fail)}.tv-skip{background:var(--na);color:#333}.tv-error{background:var(--none)}
.test{border-top:1px solid var(--line);padding:10px 0}
.test h3{margin:0 0 4px;font-size:15px}
.test .req{color:var(--muted);font-size:12.5px}
.test .reason{margin:6px 0;font-weight:600}
.test ul.evidence{margin:6px 0;padding-left:18px}
pre.xml{background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:8px;overflow:auto;font-size:12px;max-height:320px}
.er{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin:4px 0}
.er pre{margin:0;background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:6px;white-space:pre-wrap;font-size:12px}
.er .exp pre{border-left:4px solid var(--ok)}.er .rec pre{border-left:4px solid var(--fail)}
.er h4{margin:0 0 2px;font-size:12px;color:var(--muted)}
code.hash{font-size:12px;word-break:break-all}
"#;

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Incomplete => "INCOMPLETE",
    }
}

fn render(r: &CertificationReport) -> String {
    let title = format!(
        "{} — {} {} — {}",
        verdict_word(r.verdict),
        r.vendor.product,
        r.vendor.version,
        r.plan.name
    );
    let meta = format!(
        "vendor <b>{}</b> · product {} {} · plan {} version {} · kommune {} {}{} · channel {}",
        esc(&r.vendor.name),
        esc(&r.vendor.product),
        esc(&r.vendor.version),
        esc(&r.plan.name),
        esc(&r.plan.version),
        esc(&r.session.kommune),
        esc(&r.session.kommune_name),
        r.session
            .her_id
            .map(|h| format!(" (HER-id {h})"))
            .unwrap_or_default(),
        esc(&r.session.channel),
    );
    let mut body = String::with_capacity(64 * 1024);
    let _ = writeln!(body, "<style>{CERT_CSS}</style>");
    body.push_str(&verdict_section(r));
    for note in &r.session.notes {
        let _ = writeln!(body, "<p class=\"note\"><b>Note:</b> {}</p>", esc(note));
    }
    let required_failed: Vec<&TestResult> = r
        .tests
        .iter()
        .filter(|t| t.required && t.verdict == TestVerdict::Fail)
        .collect();
    body.push_str(&section(
        "required-failures",
        &format!("Failed required tests ({})", required_failed.len()),
        &tests_block(&required_failed, "No required test failed."),
    ));
    let not_run: Vec<&TestResult> = r
        .tests
        .iter()
        .filter(|t| t.required && matches!(t.verdict, TestVerdict::Skip | TestVerdict::Error))
        .collect();
    body.push_str(&section(
        "not-run",
        &format!("Required tests that did not run ({})", not_run.len()),
        &tests_block(&not_run, "Every required test ran."),
    ));
    let optional_failed: Vec<&TestResult> = r
        .tests
        .iter()
        .filter(|t| !t.required && matches!(t.verdict, TestVerdict::Fail | TestVerdict::Error))
        .collect();
    body.push_str(&section(
        "optional-failures",
        &format!("Failed optional tests ({})", optional_failed.len()),
        &tests_block(&optional_failed, "No optional test failed."),
    ));
    body.push_str(&all_tests(r));
    body.push_str(&timings_section(r));
    body.push_str(&bundle_section(r));
    let mut footer = format!(
        "Written by {} {} · certification report format {} · plan sha256 <code class=\"hash\">{}</code>",
        esc(&r.tool.name),
        esc(&r.tool.version),
        r.schema_version,
        esc(&r.plan.sha256)
    );
    if let Some(s) = r.timings.started {
        let _ = write!(footer, " · session started {}", esc(&s.to_rfc3339()));
    }
    page(&title, &meta, &body, &footer)
}

fn verdict_section(r: &CertificationReport) -> String {
    let s = &r.summary;
    let why = match r.verdict {
        Verdict::Pass => "Every required test passed.".to_string(),
        Verdict::Fail => format!(
            "{} of {} required tests failed.",
            s.required_failed, s.required
        ),
        Verdict::Incomplete => format!(
            "No required test failed, but {} of {} required tests did not run.",
            s.required_not_run, s.required
        ),
    };
    let content = format!(
        "<div class=\"big-verdict\"><div id=\"verdict-word\" class=\"word v-{}\">{}</div>\
<div><p id=\"verdict-why\"><b>{}</b></p>\
<div class=\"stats\" id=\"verdict-counts\"><div><b>{}</b>tests</div><div><b>{}</b>passed</div>\
<div><b>{}</b>failed</div><div><b>{}</b>skipped</div><div><b>{}</b>errors</div>\
<div><b>{}/{}</b>required passed</div></div></div></div>",
        r.verdict.as_str(),
        verdict_word(r.verdict),
        esc(&why),
        s.tests,
        s.passed,
        s.failed,
        s.skipped,
        s.errors,
        s.required_passed,
        s.required
    );
    section("verdict", "Verdict", &content)
}

fn tv_badge(v: TestVerdict) -> String {
    format!(
        "<span class=\"badge tv-{}\">{}</span>",
        v.as_str(),
        v.as_str()
    )
}

fn tests_block(tests: &[&TestResult], none: &str) -> String {
    if tests.is_empty() {
        return format!("<p class=\"note\">{}</p>", esc(none));
    }
    let mut o = String::new();
    for t in tests {
        let _ = write!(
            o,
            "<div class=\"test\" id=\"t-{id}\"><h3>{badge} {id} {title}</h3>\
<div class=\"req\">{req} · check <code>{kind}</code> · {reqd} · suite {suite} / {group}</div>",
            id = esc(&t.id),
            badge = tv_badge(t.verdict),
            title = esc(&t.title),
            req = esc(&t.requirement),
            kind = esc(&t.kind),
            reqd = if t.required { "required" } else { "optional" },
            suite = esc(&t.suite),
            group = esc(&t.group),
        );
        if let Some(reason) = &t.reason {
            let _ = write!(o, "<p class=\"reason\">{}</p>", esc(reason));
        }
        if !t.evidence.is_empty() {
            o.push_str("<ul class=\"evidence\">");
            for e in &t.evidence {
                o.push_str("<li>");
                o.push_str(&evidence_html(e));
                o.push_str("</li>");
            }
            o.push_str("</ul>");
        }
        o.push_str("</div>\n");
    }
    o
}

fn evidence_html(e: &Evidence) -> String {
    let opt = |o: &Option<String>| match o {
        Some(s) => esc(s),
        None => "<i>(none)</i>".into(),
    };
    match e {
        Evidence::Message { message_id, note } => {
            format!("message <code>{}</code>: {}", esc(message_id), esc(note))
        }
        Evidence::Rule {
            rule,
            title,
            message_id,
            location,
        } => {
            let mut s = format!("rule <b>{}</b> {}", esc(rule), esc(title));
            if let Some(m) = message_id {
                let _ = write!(s, " — message <code>{}</code>", esc(m));
            }
            if let Some(l) = location {
                let _ = write!(s, " at <code>{}</code>", esc(l));
            }
            s
        }
        Evidence::Excerpt {
            message_id,
            line,
            xml,
        } => {
            let mut s = String::from("XML excerpt");
            if let Some(m) = message_id {
                let _ = write!(s, " of message <code>{}</code>", esc(m));
            }
            if let Some(l) = line {
                let _ = write!(s, " from line {l}");
            }
            let _ = write!(s, "<pre class=\"xml\">{}</pre>", esc(xml));
            s
        }
        Evidence::ExpectedReceived {
            subject,
            field,
            expected,
            received,
        } => {
            let what = match field {
                Some(f) => format!("{} — <b>{}</b>", esc(subject), esc(f)),
                None => esc(subject),
            };
            format!(
                "{what}<div class=\"er\"><div class=\"exp\"><h4>expected</h4><pre>{}</pre></div>\
<div class=\"rec\"><h4>received</h4><pre>{}</pre></div></div>",
                opt(expected),
                opt(received)
            )
        }
        Evidence::File { path, note } => {
            format!("file <code>{}</code>: {}", esc(path), esc(note))
        }
    }
}

fn all_tests(r: &CertificationReport) -> String {
    let rows: Vec<Vec<String>> = r
        .tests
        .iter()
        .map(|t| {
            vec![
                esc(&t.id),
                tv_badge(t.verdict),
                esc(&t.title),
                if t.required { "required" } else { "optional" }.into(),
                format!("{} / {}", esc(&t.suite), esc(&t.group)),
                esc(t.reason.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    section(
        "all-tests",
        &format!("All tests ({})", r.tests.len()),
        &table(
            "tests-table",
            &["id", "verdict", "title", "", "suite / group", "reason"],
            &rows,
        ),
    )
}

fn timings_section(r: &CertificationReport) -> String {
    let t = &r.timings;
    let f = |v: Option<f64>, unit: &str| match v {
        Some(x) => format!("{x:.2} {unit}"),
        None => "—".into(),
    };
    let rows = vec![
        vec![
            "time to first AppRec".into(),
            t.time_to_first_apprec_ms
                .map(|x| format!("{x} ms"))
                .unwrap_or_else(|| "—".into()),
        ],
        vec![
            "notifications per second".into(),
            f(t.notifications_per_second, "/s"),
        ],
        vec!["latency p50 (arrival → AppRec)".into(), f(t.p50_ms, "ms")],
        vec!["latency p99 (arrival → AppRec)".into(), f(t.p99_ms, "ms")],
        vec!["latency samples".into(), t.latency_samples.to_string()],
        vec!["session length".into(), f(t.wall_seconds, "s")],
    ];
    section(
        "timings",
        "Timings",
        &format!(
            "<p class=\"note\">Measured on the wall clock during the session.</p>{}",
            table("timings-table", &["measure", "#value"], &rows)
        ),
    )
}

fn bundle_section(r: &CertificationReport) -> String {
    let b = &r.evidence_bundle;
    let rows: Vec<Vec<String>> = b
        .files
        .iter()
        .map(|f| {
            vec![
                format!("<code>{}</code>", esc(&f.path)),
                f.bytes.to_string(),
                format!("<code class=\"hash\">{}</code>", esc(&f.sha256)),
            ]
        })
        .collect();
    section(
        "bundle",
        "Evidence bundle",
        &format!(
            "<p>Bundle sha256: <code class=\"hash\" id=\"bundle-sha256\">{}</code></p>\
<p class=\"note\">The sha256 of the manifest: one line <code>&lt;sha256&gt;  &lt;path&gt;</code> per file, \
sorted by path, as <code>sha256sum</code> prints it. Check the files with <code>sha256sum -c</code>.</p>{}",
            esc(&b.sha256),
            table("bundle-table", &["path", "#bytes", "sha256"], &rows)
        ),
    )
}

// ---------------------------------------------------------------------------------------
// A sample

/// A deterministic, made-up certification report for tests and for looking at the page:
/// a failing certification with every kind of evidence and every test verdict, one text full
/// of markup (to test escaping), and a bundle of three made-up files. Not the output of a run.
pub fn sample() -> CertificationReport {
    #[allow(clippy::too_many_arguments)]
    fn t(
        id: &str,
        suite: &str,
        group: &str,
        title: &str,
        kind: &str,
        required: bool,
        verdict: TestVerdict,
        reason: Option<&str>,
        evidence: Vec<Evidence>,
    ) -> TestResult {
        TestResult {
            id: id.into(),
            suite: suite.into(),
            group: group.into(),
            title: title.into(),
            requirement: match id {
                "RULE-IPL03" => "kravspesifikasjon §9.2.1 notifikasjonForrigeGUID",
                "RULE-IPL20" => "kravspesifikasjon §9.2.1 typeID; DOMAIN §6",
                "DATA-01" => "DOMAIN §6; kravspesifikasjon §9.2",
                "CHAIN-01" => "kravspesifikasjon §9.2.1; DOMAIN §6",
                "PERF-01" => "DOMAIN §7; [model] the stated time",
                "SM-03" => "DOMAIN §3",
                _ => "DOMAIN §4; seed 004",
            }
            .into(),
            kind: kind.into(),
            required,
            verdict,
            reason: reason.map(str::to_string),
            evidence,
        }
    }
    use TestVerdict::{Error, Fail, Pass, Skip};
    let mid = "7d1c8a52-3f0e-4b4e-9a51-0c8e2f6d1a01";
    let tests = vec![
        t("CONN-01", "transport", "connectivity", "Connects to the broker on the AMQP port", "connect", true, Pass, None, vec![]),
        t("CONN-02", "transport", "connectivity", "Authenticates with SASL PLAIN", "sasl", true, Pass, None, vec![]),
        t("TRANSPORT-01", "transport", "addressing", "Every message carries the required properties", "properties", true, Fail,
            Some("applicationTimeStamp is missing on 1 of 4 messages"),
            vec![
                Evidence::Message { message_id: mid.into(), note: "sent without applicationTimeStamp; rejected with transport:invalid-field-value".into() },
                Evidence::ExpectedReceived { subject: "application properties".into(), field: Some("applicationTimeStamp".into()), expected: Some("2026-11-02T10:15:00+01:00".into()), received: None },
            ]),
        t("CMS-01", "transport", "payload", "The payload is signed, then encrypted", "cms", true, Pass, None, vec![]),
        t("RULE-IPL03", "content", "rules", "notifikasjonForrigeGUID must point to the previous notification", "content_rules", true, Fail,
            Some("2 notifications break the chain"),
            vec![
                Evidence::Rule { rule: "IPL03".into(), title: "notifikasjonForrigeGUID must point to the previous notification; the first is the empty GUID".into(), message_id: Some(mid.into()), location: Some("Notifikasjon[17]".into()) },
                Evidence::Excerpt { message_id: Some(mid.into()), line: Some(212), xml: "<Notifikasjon statusNotifikasjon=\"N\" notifikasjonLopeNr=\"17\"\n    notifikasjonGUID=\"3b1f…\" notifikasjonForrigeGUID=\"00000000-0000-0000-0000-000000000000\">\n  <TjenesteStart tjenesteType=\"18\" …/>\n</Notifikasjon>".into() },
            ]),
        t("RULE-IPL20", "content", "rules", "typeID other than 1, 2 or 10 gives no KPR-ID", "content_rules", false, Fail,
            Some("3 notifications with typeID 3 (H-nummer)"),
            vec![Evidence::Rule { rule: "IPL20".into(), title: "typeID other than 1, 2 or 10 gives no KPR-ID and is reported back as a deficiency".into(), message_id: Some(mid.into()), location: None }]),
        t("DATA-01", "data", "completeness", "Every expected event is sent, none extra, every field right", "completeness", true, Fail,
            Some("1 missing, 1 extra, 1 wrong field of 1 214 expected events"),
            vec![
                Evidence::ExpectedReceived { subject: "TjenesteStart tjenesteID 4711, 2026-03-01".into(), field: None, expected: Some("TjenesteStart tjenesteType 18, hendelseDato 2026-03-01".into()), received: None },
                Evidence::ExpectedReceived { subject: "TjenesteSlutt tjenesteID 815, 2026-05-12".into(), field: None, expected: None, received: Some("TjenesteSlutt tjenesteType 21, hendelseDato 2026-05-12".into()) },
                Evidence::ExpectedReceived { subject: "TjenesteStart tjenesteID 99, 2026-01-10".into(), field: Some("tjenesteOrgNr".into()), expected: Some("974760673".into()), received: Some("<script>alert(1)</script>".into()) },
                Evidence::File { path: "messages/7d1c8a52.xml".into(), note: "the decrypted message".into() },
            ]),
        t("CHAIN-01", "data", "chain", "The chain and the numbering continue across several messages", "chain", true, Pass, None, vec![]),
        t("RECEIPT-01", "receipts", "apprec", "After AppRec status 2 the sender fixes and resends", "apprec_status2_resend", true, Pass, None,
            vec![Evidence::Message { message_id: "0f4e6c1a-2b7d-4c55-8e0a-9d3b1c2e4f50".into(), note: "the resend, accepted with AppRec status 1".into() }]),
        t("RES-02", "resilience", "broker", "Waits out a broker that is unavailable for a while", "resilience_unavailable", true, Error,
            Some("the harness could not bind port 5671 for the outage window"), vec![]),
        t("PERF-01", "performance", "throughput", "The largest kommune's initial load within the stated time", "throughput", true, Pass, Some("61 214 notifications in 1 412 s"), vec![]),
        t("SM-03", "sendemodul", "upload", "A large file is split and uploaded in parts", "sendemodul_split", false, Skip, Some("the vendor delivers IPLOS 56.0.0 only"), vec![]),
    ];
    let bundle = EvidenceBundle::new(vec![
        BundleFile {
            path: "messages/7d1c8a52.xml".into(),
            sha256: sha256_hex(b"message"),
            bytes: 7,
        },
        BundleFile {
            path: "apprec/0f4e6c1a.xml".into(),
            sha256: sha256_hex(b"apprec"),
            bytes: 6,
        },
        BundleFile {
            path: "log/session.jsonl".into(),
            sha256: sha256_hex(b"log"),
            bytes: 3,
        },
    ]);
    let started = DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .ok();
    let ended = DateTime::parse_from_rfc3339("2026-11-02T11:30:00Z")
        .map(|d| d.with_timezone(&Utc))
        .ok();
    let mut timings = Timings {
        started,
        ended,
        wall_seconds: Some(9000.0),
        time_to_first_apprec_ms: Some(1840),
        notifications_per_second: Some(43.35),
        ..Timings::default()
    };
    let lat: Vec<f64> = (1..=200).map(|i| f64::from(i) * 7.5).collect();
    timings.set_latencies(&lat);
    let mut r = CertificationReport {
        schema_version: CERTIFICATION_SCHEMA_VERSION,
        tool: Tool {
            name: "iplos-harness".into(),
            version: "0.1.0".into(),
        },
        plan: PlanInfo {
            name: "IPLOS 56.0.0 vendor certification".into(),
            version: "1.0.0".into(),
            format: "iplos-56.0.0".into(),
            sha256: sha256_hex(b"plan"),
        },
        vendor: VendorInfo {
            name: "Eksempel Omsorg AS <b>".into(),
            product: "OmsorgJournal".into(),
            version: "12.4".into(),
        },
        session: Session {
            kommune: "0301".into(),
            kommune_name: "Oslo".into(),
            her_id: Some(8_123_456),
            channel: "servicebus".into(),
            notes: Vec::new(),
        },
        verdict: Verdict::Incomplete,
        summary: Summary::default(),
        tests,
        evidence_bundle: bundle,
        timings,
    };
    r.normalise();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(required: bool, verdict: TestVerdict) -> TestResult {
        let mut r = sample().tests[0].clone();
        r.required = required;
        r.verdict = verdict;
        r
    }

    #[test]
    fn the_verdict_follows_the_required_tests() {
        use TestVerdict::*;
        let v = |ts: &[(bool, TestVerdict)]| {
            overall_verdict(&ts.iter().map(|(r, v)| result(*r, *v)).collect::<Vec<_>>())
        };
        assert_eq!(v(&[]), Verdict::Incomplete);
        assert_eq!(v(&[(true, Pass), (false, Fail)]), Verdict::Pass);
        assert_eq!(v(&[(true, Pass), (true, Skip)]), Verdict::Incomplete);
        assert_eq!(v(&[(true, Error), (true, Pass)]), Verdict::Incomplete);
        assert_eq!(v(&[(true, Error), (true, Fail)]), Verdict::Fail);
        assert_eq!(v(&[(false, Error), (false, Skip)]), Verdict::Pass);
    }

    #[test]
    fn the_summary_is_recomputed() {
        let mut r = sample();
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(
            (r.summary.tests, r.summary.passed, r.summary.failed),
            (12, 6, 4)
        );
        assert_eq!((r.summary.skipped, r.summary.errors), (1, 1));
        assert_eq!(
            (
                r.summary.required,
                r.summary.required_failed,
                r.summary.required_not_run
            ),
            (10, 3, 1)
        );
        r.summary.failed = 99;
        r.verdict = Verdict::Pass;
        r.normalise();
        assert_eq!((r.summary.failed, r.verdict), (4, Verdict::Fail));
    }

    #[test]
    fn excerpts_are_bounded() {
        let long = "ø".repeat(MAX_EXCERPT_CHARS + 10);
        match Evidence::excerpt(None, Some(3), &long) {
            Evidence::Excerpt { xml, line, .. } => {
                assert_eq!(line, Some(3));
                assert!(xml.ends_with("… (10 more characters cut)"), "{xml}");
                assert!(xml.chars().count() < MAX_EXCERPT_CHARS + 40);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(
            Evidence::excerpt(None, None, "<a/>"),
            Evidence::Excerpt {
                message_id: None,
                line: None,
                xml: "<a/>".into()
            }
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[5.0], 99.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
        let mut t = Timings::default();
        t.set_latencies(&[f64::NAN, -1.0, 3.0, 1.0, 2.0]);
        assert_eq!(
            (t.p50_ms, t.p99_ms, t.latency_samples),
            (Some(2.0), Some(3.0), 3)
        );
    }

    #[test]
    fn the_manifest_is_sha256sums_format() {
        let b = EvidenceBundle::new(vec![
            BundleFile {
                path: "b".into(),
                sha256: "2".repeat(64),
                bytes: 1,
            },
            BundleFile {
                path: "a/x".into(),
                sha256: "1".repeat(64),
                bytes: 1,
            },
        ]);
        assert_eq!(
            b.manifest(),
            format!("{}  a/x\n{}  b\n", "1".repeat(64), "2".repeat(64))
        );
        assert_eq!(b.sha256, sha256_hex(b.manifest().as_bytes()));
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
