//! The certification report's types: the report, its tests and their evidence, the
//! wall-clock timings, and the rules that derive the summary and the verdict from the tests.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bundle::EvidenceBundle;
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// The factor every timeout and fault duration of the session was multiplied by (1: the
    /// plan's own times, what a certificate needs); none for the offline check, which has
    /// no timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_scale: Option<f64>,
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
    /// A test it depends on failed (its `blocked_by`): what it checks could not be
    /// observed. Counts against a certification like a failure, but is not a root cause.
    Blocked,
}

impl TestVerdict {
    /// The snake_case id.
    pub fn as_str(self) -> &'static str {
        match self {
            TestVerdict::Pass => "pass",
            TestVerdict::Fail => "fail",
            TestVerdict::Skip => "skip",
            TestVerdict::Error => "error",
            TestVerdict::Blocked => "blocked",
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
    /// Blocked by a failed test they depend on.
    #[serde(default)]
    pub blocked: u32,
    /// Required tests.
    pub required: u32,
    /// Required tests that passed.
    pub required_passed: u32,
    /// Required tests that failed.
    pub required_failed: u32,
    /// Required tests skipped or errored.
    pub required_not_run: u32,
    /// Required tests blocked by a failed test.
    #[serde(default)]
    pub required_blocked: u32,
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
    /// For a blocked test: the failed tests at the root of it (their ids), in plan order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<String>,
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
            TestVerdict::Fail | TestVerdict::Blocked => return Verdict::Fail,
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
            TestVerdict::Blocked => s.blocked += 1,
        }
        if t.required {
            s.required += 1;
            match t.verdict {
                TestVerdict::Pass => s.required_passed += 1,
                TestVerdict::Fail => s.required_failed += 1,
                TestVerdict::Skip | TestVerdict::Error => s.required_not_run += 1,
                TestVerdict::Blocked => s.required_blocked += 1,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certification::sample;

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
        assert_eq!(v(&[(true, Pass), (true, Blocked)]), Verdict::Fail);
        assert_eq!(v(&[(false, Blocked), (true, Pass)]), Verdict::Pass);
    }

    #[test]
    fn the_summary_is_recomputed() {
        let mut r = sample();
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(
            (r.summary.tests, r.summary.passed, r.summary.failed),
            (13, 6, 4)
        );
        assert_eq!(
            (r.summary.skipped, r.summary.errors, r.summary.blocked),
            (1, 1, 1)
        );
        assert_eq!(r.summary.required_blocked, 1);
        assert_eq!(
            (
                r.summary.required,
                r.summary.required_failed,
                r.summary.required_not_run
            ),
            (11, 3, 1)
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
}
