//! The certification test plan: what an EPJ vendor's system must pass to be certified for
//! IPLOS 56.0.0 (issue #7). A TOML file (`scenarios/certification/iplos-56.toml`, documented
//! field by field in `scenarios/certification/README.md`) of suites → groups → tests; each
//! test names the requirement it verifies, what the vendor must do, what the harness checks,
//! its timeout, whether it is required, the machine check the runner performs ([`CheckKind`])
//! and optionally a fault the harness injects ([`FaultSpec`]). The shipped plan is embedded
//! ([`Plan::embedded`]).
//!
//! Loading validates everything and an error names the file, the line and the field (as
//! [`crate::scenario`] does):
//!
//! - TOML syntax, unknown fields, wrong types, unknown `kind` or fault: the parser's message
//!   at the parser's line;
//! - `version` is `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`; the plan has at least one suite, each
//!   suite a group, each group a test;
//! - ids: suite and group ids are lower-case words (`a-z0-9_`), unique (groups within their
//!   suite); test ids are upper-case words joined by `-` ending in digits (`TRANSPORT-03`,
//!   `RULE-IPL01`), unique across the whole plan;
//! - texts (`title`, `requirement`, `vendor_action`, `checks`) are not blank;
//! - `timeout_seconds` is 1..=86 400;
//! - `rules` name rules of the catalogue (`iplos_model::rules::catalogue`), each once;
//! - a fault fits its test's kind ([`CheckKind::faults`]): the kinds that exercise a fault
//!   need one, the others take none; its parameters are the ones that fault needs, and the
//!   time it takes fits within the test's timeout.
//!
//! Lines: every suite, group and test table is read with the span of its header
//! (`toml::Spanned`); the line of a field is the line of its `key =` between that header and
//! the next, else the header's line.
//!
//! **\[model\]** The kinds, the faults and their parameters are this harness's vocabulary: the
//! sources describe what a sender must do (DOMAIN §3–§6), not how a certification is run.
//! **\[model\]** A test's `required` decides the overall verdict: a certification passes when
//! every required test passes; optional tests (Sendemodul for vendors of the older formats,
//! warnings of the rule catalogue) are reported but do not decide it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use iplos_reports::certification::sha256_hex;
use iplos_reports::certification::{PlanInfo, TestResult, TestVerdict};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The file name of the shipped plan.
pub const EMBEDDED_NAME: &str = "iplos-56.toml";
/// The text of the shipped plan.
pub const EMBEDDED: &str = include_str!("../../../scenarios/certification/iplos-56.toml");

/// The longest timeout a test may have (a day).
pub const MAX_TIMEOUT_SECONDS: u64 = 86_400;

/// A plan could not be used: the file, the line and the field, as for scenarios.
pub type PlanError = crate::scenario::ScenarioError;

/// The check the runner performs for a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// An AMQP 1.0 connection and a sending link are opened.
    Connect,
    /// SASL PLAIN with the issued credentials; a wrong password is refused and reported.
    Sasl,
    /// TLS on 5671 with the broker's certificate verified.
    Tls,
    /// The signing/encryption certificates and their key usages.
    Certificate,
    /// The AMQP and application properties of every message.
    Properties,
    /// Target queue, toHerId, reply-to, fromHerId.
    Addressing,
    /// Sign first, then encrypt (CMS).
    Cms,
    /// The MsgHead around the IPLOS document.
    Msghead,
    /// Well-formedness and XSD validity (the test's `rules`).
    Schema,
    /// No finding of the test's content `rules`.
    ContentRules,
    /// Expected events vs received: missing, extra, wrong field, per event.
    Completeness,
    /// The initial load at the cut-off date.
    InitialLoad,
    /// The year's events after the initial load.
    YearEvents,
    /// M notifications referring to the right originals.
    Corrections,
    /// C notifications referring to the right originals.
    Annulments,
    /// notifikasjonForrigeGUID and notifikasjonLopeNr across several messages.
    Chain,
    /// After AppRec status 2 the sender fixes and resends.
    ApprecStatus2Resend,
    /// After AppRec status 3 the rejected notifications are corrected.
    ApprecStatus3,
    /// Transport errors on the sender's error queue are read and acted on.
    ErrorQueue,
    /// A message whose receipt is lost is not duplicated.
    Duplicate,
    /// The broker drops the connection mid-send.
    ResilienceDrop,
    /// The broker is unavailable for a while.
    ResilienceUnavailable,
    /// The broker answers slowly.
    ResilienceSlow,
    /// The largest kommune's initial load within the timeout.
    Throughput,
    /// Sendemodul login with the four values.
    SendemodulLogin,
    /// Sendemodul split upload.
    SendemodulSplit,
}

impl CheckKind {
    /// Every kind, in plan order.
    #[cfg(test)]
    pub const ALL: [CheckKind; 26] = [
        CheckKind::Connect,
        CheckKind::Sasl,
        CheckKind::Tls,
        CheckKind::Certificate,
        CheckKind::Properties,
        CheckKind::Addressing,
        CheckKind::Cms,
        CheckKind::Msghead,
        CheckKind::Schema,
        CheckKind::ContentRules,
        CheckKind::Completeness,
        CheckKind::InitialLoad,
        CheckKind::YearEvents,
        CheckKind::Corrections,
        CheckKind::Annulments,
        CheckKind::Chain,
        CheckKind::ApprecStatus2Resend,
        CheckKind::ApprecStatus3,
        CheckKind::ErrorQueue,
        CheckKind::Duplicate,
        CheckKind::ResilienceDrop,
        CheckKind::ResilienceUnavailable,
        CheckKind::ResilienceSlow,
        CheckKind::Throughput,
        CheckKind::SendemodulLogin,
        CheckKind::SendemodulSplit,
    ];

    /// The snake_case id used in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Connect => "connect",
            CheckKind::Sasl => "sasl",
            CheckKind::Tls => "tls",
            CheckKind::Certificate => "certificate",
            CheckKind::Properties => "properties",
            CheckKind::Addressing => "addressing",
            CheckKind::Cms => "cms",
            CheckKind::Msghead => "msghead",
            CheckKind::Schema => "schema",
            CheckKind::ContentRules => "content_rules",
            CheckKind::Completeness => "completeness",
            CheckKind::InitialLoad => "initial_load",
            CheckKind::YearEvents => "year_events",
            CheckKind::Corrections => "corrections",
            CheckKind::Annulments => "annulments",
            CheckKind::Chain => "chain",
            CheckKind::ApprecStatus2Resend => "apprec_status2_resend",
            CheckKind::ApprecStatus3 => "apprec_status3",
            CheckKind::ErrorQueue => "error_queue",
            CheckKind::Duplicate => "duplicate",
            CheckKind::ResilienceDrop => "resilience_drop",
            CheckKind::ResilienceUnavailable => "resilience_unavailable",
            CheckKind::ResilienceSlow => "resilience_slow",
            CheckKind::Throughput => "throughput",
            CheckKind::SendemodulLogin => "sendemodul_login",
            CheckKind::SendemodulSplit => "sendemodul_split",
        }
    }

    /// The faults a test of this kind may inject, and whether it must inject one.
    pub fn faults(self) -> (&'static [FaultKind], bool) {
        use FaultKind as F;
        match self {
            CheckKind::ApprecStatus2Resend => (&[F::ApprecStatus2], true),
            CheckKind::ApprecStatus3 => (&[F::ApprecStatus3], true),
            CheckKind::ErrorQueue => (&[F::TransportError], true),
            CheckKind::Duplicate => (&[F::LostApprec], false),
            CheckKind::ResilienceDrop => (&[F::DropConnection], true),
            CheckKind::ResilienceUnavailable => (&[F::BrokerUnavailable], true),
            CheckKind::ResilienceSlow => (&[F::SlowBroker], true),
            CheckKind::SendemodulLogin => (&[F::LoginRejected], false),
            _ => (&[], false),
        }
    }

    /// Whether a test of this kind must list the catalogue rules it checks.
    pub fn needs_rules(self) -> bool {
        matches!(self, CheckKind::Schema | CheckKind::ContentRules)
    }
}

/// A fault the harness injects during a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The broker closes the TCP connection during a transfer (`after_messages`).
    DropConnection,
    /// The broker refuses connections for `duration_seconds`.
    BrokerUnavailable,
    /// The broker delays every disposition by `delay_ms`.
    SlowBroker,
    /// The register answers AppRec status 2 (Avvist) to message number `after_messages`.
    ApprecStatus2,
    /// The register answers AppRec status 3 (OK with errors in part).
    ApprecStatus3,
    /// A transport error goes to the sender's `_error` queue instead of an AppRec.
    TransportError,
    /// The message is accepted but its AppRec is withheld.
    LostApprec,
    /// Sendemodul rejects the login.
    LoginRejected,
}

impl FaultKind {
    /// The snake_case id used in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::DropConnection => "drop_connection",
            FaultKind::BrokerUnavailable => "broker_unavailable",
            FaultKind::SlowBroker => "slow_broker",
            FaultKind::ApprecStatus2 => "apprec_status_2",
            FaultKind::ApprecStatus3 => "apprec_status_3",
            FaultKind::TransportError => "transport_error",
            FaultKind::LostApprec => "lost_apprec",
            FaultKind::LoginRejected => "login_rejected",
        }
    }

    /// The parameters this fault needs (the others must not be given).
    fn needs(self) -> (bool, bool, bool) {
        // (after_messages, duration_seconds, delay_ms)
        match self {
            FaultKind::DropConnection
            | FaultKind::ApprecStatus2
            | FaultKind::ApprecStatus3
            | FaultKind::TransportError
            | FaultKind::LostApprec => (true, false, false),
            FaultKind::BrokerUnavailable => (false, true, false),
            FaultKind::SlowBroker => (false, false, true),
            FaultKind::LoginRejected => (false, false, false),
        }
    }
}

// serde's names for the variants with digits: keep them as documented.
impl FaultKind {
    fn parse_name(s: &str) -> Option<FaultKind> {
        [
            FaultKind::DropConnection,
            FaultKind::BrokerUnavailable,
            FaultKind::SlowBroker,
            FaultKind::ApprecStatus2,
            FaultKind::ApprecStatus3,
            FaultKind::TransportError,
            FaultKind::LostApprec,
            FaultKind::LoginRejected,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// `fault = { kind = "...", ... }` of a test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Which fault.
    #[serde(with = "fault_kind_name")]
    pub kind: FaultKind,
    /// Inject at the n-th message of the test (1-based).
    #[serde(default)]
    pub after_messages: Option<u32>,
    /// How long the fault lasts, seconds.
    #[serde(default)]
    pub duration_seconds: Option<u32>,
    /// How long each answer is delayed, milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u32>,
}

mod fault_kind_name {
    use super::FaultKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(k: &FaultKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FaultKind, D::Error> {
        let s = String::deserialize(d)?;
        FaultKind::parse_name(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown fault `{s}`, expected one of `drop_connection`, `broker_unavailable`, \
                 `slow_broker`, `apprec_status_2`, `apprec_status_3`, `transport_error`, \
                 `lost_apprec`, `login_rejected`"
            ))
        })
    }
}

/// One test of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Test {
    /// Stable id, e.g. `TRANSPORT-01`.
    pub id: String,
    /// One line for reports.
    pub title: String,
    /// The requirement it verifies: spec section, seed or DOMAIN section.
    pub requirement: String,
    /// What the vendor must do.
    pub vendor_action: String,
    /// What the harness checks.
    pub checks: String,
    /// The check the runner performs.
    pub kind: CheckKind,
    /// How long the test may take, seconds.
    pub timeout_seconds: u64,
    /// Whether the certification needs this test to pass.
    pub required: bool,
    /// The catalogue rules the test checks (schema and content tests).
    #[serde(default)]
    pub rules: Vec<String>,
    /// A fault the harness injects.
    #[serde(default)]
    pub fault: Option<FaultSpec>,
    /// The line of the test's table in the plan (set by the loader).
    #[serde(skip)]
    pub line: usize,
}

/// A group of tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Id, unique within its suite.
    pub id: String,
    /// Title.
    pub title: String,
    /// The tests, in plan order.
    pub tests: Vec<Test>,
}

/// A suite of groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suite {
    /// Id, unique in the plan.
    pub id: String,
    /// Title.
    pub title: String,
    /// The groups, in plan order.
    pub groups: Vec<Group>,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Name in reports.
    pub name: String,
    /// The plan's version (`MAJOR.MINOR[.PATCH]`).
    pub version: String,
    /// The message format it certifies, e.g. `iplos-56.0.0`.
    pub format: String,
    /// What it is for.
    pub description: String,
    /// The suites, in plan order.
    pub suites: Vec<Suite>,
    /// sha256 (lower-case hex) of the plan's text, as read.
    pub sha256: String,
}

/// A test with the suite and group it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct TestRef<'a> {
    /// The suite.
    pub suite: &'a Suite,
    /// The group.
    pub group: &'a Group,
    /// The test.
    pub test: &'a Test,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    name: String,
    version: String,
    format: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    suite: Vec<Spanned<RawSuite>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    id: String,
    title: String,
    #[serde(default)]
    group: Vec<Spanned<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    id: String,
    title: String,
    #[serde(default)]
    test: Vec<Spanned<Test>>,
}

/// Errors of one file: knows the text to find lines.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    /// An error for `field` of the table at `span` (whole file when `None`): the line of
    /// `key =` inside the span, else the table's first line.
    fn err(&self, span: Option<Range<usize>>, field: String, message: String) -> PlanError {
        let key = field.rsplit('.').next().unwrap_or(&field).to_string();
        let key = key.split('[').next().unwrap_or(&key).to_string();
        // A table's span is its header: its keys run to the next header.
        let span = span.map_or(0, |s| s.start)..self.text.len();
        let line = self.key_line(span.clone(), &key).or_else(|| {
            // A table's span starts at its header, or (for some parsers) at its first key.
            Some(header_line(self.text, span.start))
        });
        PlanError {
            file: self.file.into(),
            line,
            field: Some(field),
            message,
        }
    }

    fn key_line(&self, span: Range<usize>, key: &str) -> Option<usize> {
        let start = span.start.min(self.text.len());
        let end = span.end.clamp(start, self.text.len());
        let body = self.text.get(start..end)?;
        let mut offset = start;
        let mut seen = false;
        for raw in body.split_inclusive('\n') {
            let line = raw.trim();
            let here = offset;
            offset += raw.len();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                if seen {
                    // A nested table ([[suite.group]] inside a suite's span): its keys
                    // are not ours, and a table has no keys after its sub-tables.
                    break;
                }
                seen = true;
                continue;
            }
            seen = true;
            let k = line
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            if line.contains('=') && k == key {
                return Some(line_of(self.text, here));
            }
        }
        None
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// The line of the `[[...]]` header a table's span belongs to: the span's own line when it
/// is a header, else the nearest header above.
fn header_line(text: &str, offset: usize) -> usize {
    let line = line_of(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    (1..=line.min(lines.len()))
        .rev()
        .find(|&l| lines[l - 1].trim_start().starts_with('['))
        .unwrap_or(line)
}

fn is_test_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    s.len() <= 32
        && parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        && parts[0].starts_with(|c: char| c.is_ascii_uppercase())
        && s.ends_with(|c: char| c.is_ascii_digit())
}

fn is_word_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 6 && p.chars().all(|c| c.is_ascii_digit()))
}

impl Plan {
    /// The shipped plan.
    pub fn embedded() -> Result<Plan, PlanError> {
        Plan::parse(EMBEDDED_NAME, EMBEDDED)
    }

    /// Reads a plan file.
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|e| PlanError {
            file: path.display().to_string(),
            line: None,
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        Plan::parse(&path.display().to_string(), &text)
    }

    /// Parses and validates `text` (named `file` in errors).
    pub fn parse(file: &str, text: &str) -> Result<Plan, PlanError> {
        let raw: RawPlan = toml::from_str(text).map_err(|e| PlanError {
            file: file.into(),
            line: e.span().map(|sp| line_of(text, sp.start)),
            field: None,
            message: e.message().trim().to_string(),
        })?;
        let cx = Ctx { file, text };
        if raw.name.trim().is_empty() {
            return Err(cx.err(None, "name".into(), "must not be blank".into()));
        }
        if !is_version(&raw.version) {
            return Err(cx.err(
                None,
                "version".into(),
                format!(
                    "`{}` is not a version like 1.0 or 1.0.2",
                    raw.version.escape_debug()
                ),
            ));
        }
        if raw.format.trim().is_empty() {
            return Err(cx.err(None, "format".into(), "must not be blank".into()));
        }
        if raw.suite.is_empty() {
            return Err(cx.err(
                None,
                "suite".into(),
                "the plan has no suites ([[suite]])".into(),
            ));
        }
        let mut suite_ids = BTreeSet::new();
        let mut test_ids: BTreeMap<String, String> = BTreeMap::new();
        let mut suites = Vec::with_capacity(raw.suite.len());
        for (si, s) in raw.suite.into_iter().enumerate() {
            let sspan = s.span();
            let s = s.into_inner();
            let sf = format!("suite[{si}]");
            check_word(&cx, &sspan, &sf, "id", &s.id)?;
            check_text(&cx, &sspan, &sf, "title", &s.title)?;
            if !suite_ids.insert(s.id.clone()) {
                return Err(cx.err(
                    Some(sspan),
                    format!("{sf}.id"),
                    format!("suite id `{}` is used twice", s.id),
                ));
            }
            if s.group.is_empty() {
                return Err(cx.err(
                    Some(sspan),
                    format!("{sf}.group"),
                    format!("suite `{}` has no groups ([[suite.group]])", s.id),
                ));
            }
            let mut group_ids = BTreeSet::new();
            let mut groups = Vec::with_capacity(s.group.len());
            for (gi, g) in s.group.into_iter().enumerate() {
                let gspan = g.span();
                let g = g.into_inner();
                let gf = format!("{sf}.group[{gi}]");
                check_word(&cx, &gspan, &gf, "id", &g.id)?;
                check_text(&cx, &gspan, &gf, "title", &g.title)?;
                if !group_ids.insert(g.id.clone()) {
                    return Err(cx.err(
                        Some(gspan),
                        format!("{gf}.id"),
                        format!("group id `{}` is used twice in suite `{}`", g.id, s.id),
                    ));
                }
                if g.test.is_empty() {
                    return Err(cx.err(
                        Some(gspan),
                        format!("{gf}.test"),
                        format!("group `{}` has no tests ([[suite.group.test]])", g.id),
                    ));
                }
                let mut tests = Vec::with_capacity(g.test.len());
                for (ti, t) in g.test.into_iter().enumerate() {
                    let tspan = t.span();
                    let mut t = t.into_inner();
                    let tf = format!("{gf}.test[{ti}]");
                    validate_test(&cx, &tspan, &tf, &t)?;
                    if let Some(first) = test_ids.insert(t.id.clone(), tf.clone()) {
                        return Err(cx.err(
                            Some(tspan),
                            format!("{tf}.id"),
                            format!("test id `{}` is already used by {first}", t.id),
                        ));
                    }
                    t.line = header_line(text, tspan.start);
                    tests.push(t);
                }
                groups.push(Group {
                    id: g.id,
                    title: g.title,
                    tests,
                });
            }
            suites.push(Suite {
                id: s.id,
                title: s.title,
                groups,
            });
        }
        Ok(Plan {
            name: raw.name,
            version: raw.version,
            format: raw.format,
            description: raw.description,
            suites,
            sha256: sha256_hex(text.as_bytes()),
        })
    }

    /// Every test with its suite and group, in plan order.
    pub fn tests(&self) -> impl Iterator<Item = TestRef<'_>> {
        self.suites.iter().flat_map(|suite| {
            suite.groups.iter().flat_map(move |group| {
                group
                    .tests
                    .iter()
                    .map(move |test| TestRef { suite, group, test })
            })
        })
    }

    /// A test by id.
    pub fn test(&self, id: &str) -> Option<TestRef<'_>> {
        self.tests().find(|t| t.test.id == id)
    }

    /// The plan as the certification report names it.
    pub fn report_info(&self) -> PlanInfo {
        PlanInfo {
            name: self.name.clone(),
            version: self.version.clone(),
            format: self.format.clone(),
            sha256: self.sha256.clone(),
        }
    }

    /// One result per test, in plan order, each `skip` with the reason "not run": the
    /// runner fills in the verdicts and evidence of the tests it runs.
    pub fn skeleton_results(&self) -> Vec<TestResult> {
        self.tests()
            .map(|t| TestResult {
                id: t.test.id.clone(),
                suite: t.suite.id.clone(),
                group: t.group.id.clone(),
                title: t.test.title.clone(),
                requirement: t.test.requirement.clone(),
                kind: t.test.kind.as_str().to_string(),
                required: t.test.required,
                verdict: TestVerdict::Skip,
                reason: Some("not run".into()),
                blocked_by: Vec::new(),
                evidence: Vec::new(),
            })
            .collect()
    }
}

fn check_word(
    cx: &Ctx<'_>,
    span: &Range<usize>,
    prefix: &str,
    key: &str,
    v: &str,
) -> Result<(), PlanError> {
    if is_word_id(v) {
        Ok(())
    } else {
        Err(cx.err(
            Some(span.clone()),
            format!("{prefix}.{key}"),
            format!(
                "`{}` is not an id of lower-case letters, digits and _ (at most 32)",
                v.escape_debug()
            ),
        ))
    }
}

fn check_text(
    cx: &Ctx<'_>,
    span: &Range<usize>,
    prefix: &str,
    key: &str,
    v: &str,
) -> Result<(), PlanError> {
    if v.trim().is_empty() {
        Err(cx.err(
            Some(span.clone()),
            format!("{prefix}.{key}"),
            "must not be blank".into(),
        ))
    } else {
        Ok(())
    }
}

fn validate_test(cx: &Ctx<'_>, span: &Range<usize>, tf: &str, t: &Test) -> Result<(), PlanError> {
    let e = |key: &str, message: String| cx.err(Some(span.clone()), format!("{tf}.{key}"), message);
    if !is_test_id(&t.id) {
        return Err(e(
            "id",
            format!(
                "`{}` is not a test id like TRANSPORT-03 (upper-case words joined by -, ending in digits)",
                t.id.escape_debug()
            ),
        ));
    }
    for (key, v) in [
        ("title", &t.title),
        ("requirement", &t.requirement),
        ("vendor_action", &t.vendor_action),
        ("checks", &t.checks),
    ] {
        check_text(cx, span, tf, key, v)?;
    }
    if t.timeout_seconds == 0 || t.timeout_seconds > MAX_TIMEOUT_SECONDS {
        return Err(e(
            "timeout_seconds",
            format!(
                "{} is not within 1..={MAX_TIMEOUT_SECONDS}",
                t.timeout_seconds
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for r in &t.rules {
        if iplos_model::rules::catalogue::by_id(r).is_none() {
            return Err(e(
                "rules",
                format!("`{}` is not a rule of the catalogue", r.escape_debug()),
            ));
        }
        if !seen.insert(r) {
            return Err(e("rules", format!("rule {r} is listed twice")));
        }
    }
    if t.kind.needs_rules() && t.rules.is_empty() {
        return Err(e(
            "rules",
            format!("a `{}` test must list the rules it checks", t.kind.as_str()),
        ));
    }
    let (allowed, needed) = t.kind.faults();
    match &t.fault {
        None if needed => {
            let names: Vec<&str> = allowed.iter().map(|f| f.as_str()).collect();
            return Err(e(
                "fault",
                format!(
                    "a `{}` test needs a fault to inject ({})",
                    t.kind.as_str(),
                    names.join(", ")
                ),
            ));
        }
        None => {}
        Some(f) => {
            if !allowed.contains(&f.kind) {
                return Err(e(
                    "fault",
                    format!(
                        "fault `{}` does not fit a `{}` test{}",
                        f.kind.as_str(),
                        t.kind.as_str(),
                        if allowed.is_empty() {
                            " (it takes no fault)".to_string()
                        } else {
                            format!(
                                " (it takes {})",
                                allowed
                                    .iter()
                                    .map(|f| f.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ),
                ));
            }
            let (after, dur, delay) = f.kind.needs();
            for (name, needed, v) in [
                ("after_messages", after, f.after_messages),
                ("duration_seconds", dur, f.duration_seconds),
                ("delay_ms", delay, f.delay_ms),
            ] {
                match (needed, v) {
                    (true, None) => {
                        return Err(e(
                            "fault",
                            format!("fault `{}` needs {name}", f.kind.as_str()),
                        ));
                    }
                    (true, Some(0)) => {
                        return Err(e("fault", format!("{name} must be at least 1")));
                    }
                    (false, Some(_)) => {
                        return Err(e(
                            "fault",
                            format!("fault `{}` takes no {name}", f.kind.as_str()),
                        ));
                    }
                    _ => {}
                }
            }
            let lasts = u64::from(f.duration_seconds.unwrap_or(0))
                + u64::from(f.delay_ms.unwrap_or(0)) / 1000;
            if lasts >= t.timeout_seconds {
                return Err(e(
                    "timeout_seconds",
                    format!(
                        "{} s leaves no time after the fault, which lasts {lasts} s",
                        t.timeout_seconds
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"name = "p"
version = "1.0"
format = "iplos-56.0.0"

[[suite]]
id = "transport"
title = "Transport"

[[suite.group]]
id = "conn"
title = "Connectivity"

[[suite.group.test]]
id = "CONN-01"
title = "connects"
requirement = "DOMAIN §4"
vendor_action = "send"
checks = "a connection"
kind = "connect"
timeout_seconds = 60
required = true

[[suite.group.test]]
id = "RES-01"
title = "drop"
requirement = "DOMAIN §4"
vendor_action = "send"
checks = "recovers"
kind = "resilience_drop"
timeout_seconds = 600
required = true
fault = { kind = "drop_connection", after_messages = 2 }
"#;

    fn bad(from: &str, to: &str) -> PlanError {
        let text = GOOD.replacen(from, to, 1);
        assert_ne!(text, GOOD, "{from} not in the plan");
        Plan::parse("p.toml", &text).expect_err("accepted a bad plan")
    }

    #[test]
    fn the_shipped_plan_loads_and_covers_every_kind_and_content_rule() {
        let p = Plan::embedded().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.version, "1.1.0");
        assert_eq!(p.sha256, sha256_hex(EMBEDDED.as_bytes()));
        let kinds: BTreeSet<CheckKind> = p.tests().map(|t| t.test.kind).collect();
        for k in CheckKind::ALL {
            assert!(kinds.contains(&k), "no test of kind {}", k.as_str());
        }
        let rules: BTreeSet<&str> = p
            .tests()
            .flat_map(|t| t.test.rules.iter().map(String::as_str))
            .collect();
        for r in iplos_model::rules::catalogue::ALL {
            assert!(
                rules.contains(r.id),
                "rule {} is not checked by any test",
                r.id
            );
        }
        // every content rule has a test of its own
        for r in iplos_model::rules::catalogue::ALL
            .iter()
            .filter(|r| r.category == iplos_model::rules::Category::Content)
        {
            let t = p
                .test(&format!("RULE-{}", r.id))
                .unwrap_or_else(|| panic!("no RULE-{}", r.id));
            assert_eq!(t.test.rules, vec![r.id.to_string()]);
        }
        // the line of a test is its [[suite.group.test]] header
        let t = p.test("TRANSPORT-01").expect("TRANSPORT-01").test;
        let lines: Vec<&str> = EMBEDDED.lines().collect();
        assert_eq!(lines[t.line - 1].trim(), "[[suite.group.test]]");
        assert_eq!(lines[t.line].trim(), "id = \"TRANSPORT-01\"");
        // suites of the issue
        let suites: Vec<&str> = p.suites.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            suites,
            [
                "transport",
                "content",
                "data",
                "receipts",
                "resilience",
                "performance",
                "sendemodul"
            ]
        );
    }

    #[test]
    fn the_shipped_plan_makes_a_report_skeleton() {
        use iplos_reports::certification::{Verdict, certification_to_json, overall_verdict};
        let p = Plan::embedded().unwrap_or_else(|e| panic!("{e}"));
        let info = p.report_info();
        assert_eq!((info.version.as_str(), info.sha256.len()), ("1.1.0", 64));
        let mut results = p.skeleton_results();
        assert_eq!(results.len(), p.tests().count());
        assert_eq!(overall_verdict(&results), Verdict::Incomplete);
        let optional: Vec<&str> = results
            .iter()
            .filter(|r| !r.required)
            .map(|r| r.id.as_str())
            .collect();
        assert!(
            optional.contains(&"SM-01") && optional.contains(&"RULE-IPL06"),
            "{optional:?}"
        );
        for r in results.iter_mut().filter(|r| r.required) {
            r.verdict = TestVerdict::Pass;
            r.reason = None;
        }
        assert_eq!(overall_verdict(&results), Verdict::Pass);
        // a report made from the plan serialises with the plan's ids in plan order
        let mut report = iplos_reports::certification::sample();
        report.plan = info;
        report.tests = results;
        let json = certification_to_json(&report).expect("json");
        let first = json.find("\"CONN-01\"").expect("CONN-01");
        let last = json.find("\"SM-03\"").expect("SM-03");
        assert!(first < last);
        assert!(
            json.contains("\"verdict\": \"pass\",\n  \"summary\""),
            "overall pass"
        );
    }

    #[test]
    fn a_good_plan_parses() {
        let p = Plan::parse("p.toml", GOOD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.tests().count(), 2);
        let t = p.test("RES-01").expect("RES-01");
        assert_eq!(
            (t.suite.id.as_str(), t.group.id.as_str()),
            ("transport", "conn")
        );
        assert_eq!(t.test.line, 23);
        assert_eq!(
            t.test.fault.as_ref().map(|f| (f.kind, f.after_messages)),
            Some((FaultKind::DropConnection, Some(2)))
        );
    }

    #[test]
    fn errors_name_the_field_and_the_line() {
        let e = bad("timeout_seconds = 600", "timeout_seconds = 0");
        assert_eq!(
            e.field.as_deref(),
            Some("suite[0].group[0].test[1].timeout_seconds")
        );
        assert_eq!(e.line, Some(30), "{e}");
        assert!(
            e.to_string().starts_with(
                "p.toml:30: suite[0].group[0].test[1].timeout_seconds: 0 is not within"
            ),
            "{e}"
        );

        let e = bad("id = \"RES-01\"", "id = \"CONN-01\"");
        assert_eq!(e.field.as_deref(), Some("suite[0].group[0].test[1].id"));
        assert_eq!(e.line, Some(24), "{e}");
        assert!(
            e.message
                .contains("already used by suite[0].group[0].test[0]"),
            "{e}"
        );

        let e = bad("kind = \"connect\"", "kind = \"conect\"");
        assert_eq!(e.line, Some(19), "{e}");
        assert!(e.message.contains("conect"), "{e}");

        let e = bad("required = true\n", "required = true\ncolour = 1\n");
        assert_eq!(e.line, Some(22), "{e}");
        assert!(e.message.contains("colour"), "{e}");

        let e = bad("timeout_seconds = 60", "timeout_seconds = -5");
        assert_eq!(e.line, Some(20), "{e}");
    }

    #[test]
    fn structure_is_validated() {
        let e = Plan::parse(
            "p.toml",
            "name = \"p\"\nversion = \"1.0\"\nformat = \"f\"\n",
        )
        .expect_err("empty plan");
        assert_eq!(e.field.as_deref(), Some("suite"));
        assert!(e.message.contains("no suites"), "{e}");

        let e = Plan::parse(
            "p.toml",
            "name = \"p\"\nversion = \"1.0\"\nformat = \"f\"\n[[suite]]\nid = \"a\"\ntitle = \"A\"\n",
        )
        .expect_err("suite without groups");
        assert_eq!(e.field.as_deref(), Some("suite[0].group"));
        assert_eq!(e.line, Some(4), "{e}");

        let e = bad("version = \"1.0\"", "version = \"one\"");
        assert_eq!((e.field.as_deref(), e.line), (Some("version"), Some(2)));

        let e = bad("id = \"conn\"", "id = \"Conn\"");
        assert_eq!(e.field.as_deref(), Some("suite[0].group[0].id"));
        assert_eq!(e.line, Some(10), "{e}");

        let e = bad("id = \"CONN-01\"", "id = \"conn-1\"");
        assert!(e.message.contains("not a test id"), "{e}");

        let e = bad("checks = \"a connection\"", "checks = \"  \"");
        assert_eq!(e.field.as_deref(), Some("suite[0].group[0].test[0].checks"));
        assert_eq!(e.line, Some(18), "{e}");
    }

    #[test]
    fn faults_fit_their_kind() {
        let e = bad(
            "fault = { kind = \"drop_connection\", after_messages = 2 }\n",
            "",
        );
        assert_eq!(e.field.as_deref(), Some("suite[0].group[0].test[1].fault"));
        assert!(e.message.contains("needs a fault"), "{e}");
        assert_eq!(e.line, Some(23), "{e}");

        let e = bad("after_messages = 2", "after_messages = 0");
        assert!(e.message.contains("at least 1"), "{e}");
        assert_eq!(e.line, Some(32), "{e}");

        let e = bad("after_messages = 2", "delay_ms = 5");
        assert!(e.message.contains("needs after_messages"), "{e}");

        let e = bad("\"drop_connection\"", "\"slow_broker\"");
        assert!(e.message.contains("does not fit"), "{e}");

        let e = bad("\"drop_connection\"", "\"earthquake\"");
        assert!(e.message.contains("unknown fault `earthquake`"), "{e}");
        assert_eq!(e.line, Some(32), "{e}");

        let e = bad(
            "required = true\n",
            "required = true\nfault = { kind = \"lost_apprec\", after_messages = 1 }\n",
        );
        assert!(e.message.contains("takes no fault"), "{e}");

        let e = bad("kind = \"connect\"", "kind = \"content_rules\"");
        assert!(e.message.contains("must list the rules"), "{e}");
        let e = bad(
            "kind = \"connect\"",
            "kind = \"content_rules\"\nrules = [\"IPL99\"]",
        );
        assert!(e.message.contains("IPL99"), "{e}");
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.toml");
        std::fs::write(&path, GOOD).expect("write");
        assert_eq!(
            Plan::load(&path).expect("load"),
            Plan::parse("p.toml", GOOD).expect("parse")
        );
        std::fs::write(
            &path,
            GOOD.replace("timeout_seconds = 60", "timeout_seconds = 999999"),
        )
        .expect("write");
        let e = Plan::load(&path).expect_err("bad timeout");
        assert!(
            e.to_string()
                .starts_with(&format!("{}:20: ", path.display())),
            "{e}"
        );
        let e = Plan::load(&dir.path().join("missing.toml")).expect_err("missing file");
        assert!(e.message.starts_with("cannot read"), "{e}");
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        for text in [
            "",
            "\u{0}",
            "[[suite]]\n[[suite.group]]\n[[suite.group.test]]\n",
            "name = \"p\"\nversion = \"1.0\"\nformat = \"f\"\nsuite = 3\n",
            "name = \"p\"\nversion = \"99999999.0\"\nformat = \"f\"\n",
        ] {
            assert!(Plan::parse("x.toml", text).is_err(), "{text:?}");
        }
        let long = format!("{}\n", "[".repeat(10_000));
        assert!(Plan::parse("x.toml", &long).is_err());
    }
}
