//! The result of one dress rehearsal (one season): the model behind `report.json`,
//! `junit.xml` and `index.html`.
//!
//! # Determinism
//!
//! Everything in a [`RehearsalReport`] **except the [`RehearsalReport::timing`] section**
//! is a function of the scenario and the seed: the same seed gives byte-identical JSON.
//! To keep it so, the model uses only ordered collections (`Vec` in a documented order,
//! `BTreeMap`), instants on the *virtual* clock, integer counts and minutes, and the few
//! derived floats are rounded with [`round2`] (two decimals). Whatever is measured on the
//! wall clock — when the run started and finished, how long it took, memory, endpoint
//! throughput and latency — lives in [`WallClock`] and nowhere else.
//! [`RehearsalReport::without_timing`] gives the deterministic part alone, for comparing
//! two runs.
//!
//! # Orders
//!
//! [`RehearsalReport::normalise`] puts every list in its canonical order (kommuner by
//! number, phases in season order as given by `phases`, failure groups by number of
//! kommuner affected then cause id, rules by occurrences then id, vendors by name, days by
//! date, receipt delays by kommune then arrival) and recomputes the derived parts (phase
//! tallies, receipt-delay summary). The writers call it on a copy, so a caller may fill the
//! lists in any order.
//!
//! **\[model\]** Phase ids are the snake_case names of `iplos_model::calendar::PhaseKind`
//! plus any extra ids a scenario defines (e.g. `receipt`): the report does not fix the
//! list, so certification or later profiles can add phases without a schema change.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::coordination::{Comparison, Coordination};
use crate::i18n::Lang;

/// The version of the report format. Bumped when a field changes meaning or is removed;
/// additions keep the version.
pub const SCHEMA_VERSION: u32 = 1;

/// One dress rehearsal's results. See the module docs for the determinism rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RehearsalReport {
    /// The report format version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The program that wrote the report.
    pub tool: Tool,
    /// What was run: season, scenario, seed, scale.
    pub run: RunInfo,
    /// The season's phases in season order, each with its tally over all kommuner.
    pub phases: Vec<PhaseSummary>,
    /// Every kommune of the run, by kommunenummer.
    pub kommuner: Vec<KommuneResult>,
    /// Per virtual day (Europe/Oslo date): what happened, by date.
    pub daily: Vec<DailyCounts>,
    /// How long the national side took from arrival to receipt.
    pub receipt_delays: ReceiptDelays,
    /// Failures grouped by cause (the fault catalogue, DOMAIN.md §8).
    pub failures: Vec<FailureGroup>,
    /// Conformance findings on the received messages.
    pub findings: Findings,
    /// What a coordinator acts on: contacts, approved extensions, renumbered kommuner,
    /// the kommuner at risk per deadline (the writers derive what the engine does not
    /// give: [`crate::derive::coordinate`]).
    #[serde(default)]
    pub coordination: Coordination,
    /// This run against an earlier one (`--baseline`) and against the real season's
    /// figures where the seeds give them.
    #[serde(default)]
    pub comparison: Option<Comparison>,
    /// THE wall-clock section: the only part of the report that differs between two runs
    /// with the same seed.
    pub timing: WallClock,
}

/// The program that wrote a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Program name, e.g. `iplos-harness`.
    pub name: String,
    /// Program version, e.g. `0.1.0`.
    pub version: String,
}

impl Tool {
    /// This crate's name and version (the harness normally passes its own).
    pub fn this_crate() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// How a kommune's submissions travel.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// IPIS Sendemodul web upload (data years ≤ 2017).
    Sendemodul,
    /// NHN's AMQP 1.0 service bus (data years ≥ 2018).
    Amqp,
    /// Helsedirektoratet's HTTP API (`POST /message/process`, 2021 onward).
    HttpApi,
}

impl Channel {
    /// The lower-case name used in the JSON (`sendemodul`, `amqp`, `http_api`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sendemodul => "sendemodul",
            Channel::Amqp => "amqp",
            Channel::HttpApi => "http_api",
        }
    }
}

impl From<iplos_model::calendar::Channel> for Channel {
    fn from(c: iplos_model::calendar::Channel) -> Self {
        match c {
            iplos_model::calendar::Channel::Sendemodul => Channel::Sendemodul,
            iplos_model::calendar::Channel::ServiceBus => Channel::Amqp,
        }
    }
}

/// What was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// The data year of the season (registrations 1 January – 31 December of this year).
    pub season: i32,
    /// The scenario's name (e.g. `season-2017`).
    pub scenario: String,
    /// The seed every random choice derives from.
    pub seed: u64,
    /// The population scale (1.0 = full national volume).
    pub scale: f64,
    /// The season's channel.
    pub channel: Channel,
    /// How many kommuner took part.
    pub kommuner: u32,
    /// Virtual start of the season (Europe/Oslo offset).
    pub virtual_start: DateTime<FixedOffset>,
    /// Virtual end of the season (Europe/Oslo offset).
    pub virtual_end: DateTime<FixedOffset>,
}

/// One phase of the season with its tally over all kommuner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseSummary {
    /// Stable id, e.g. `test_submission`, `ordinary_submission`, `receipt`, `feedback`,
    /// `corrections_deadline`.
    pub id: String,
    /// Human-readable name, e.g. "ordinary submission (2–15 January)".
    pub name: String,
    /// First day (Oslo date).
    pub first_day: NaiveDate,
    /// Last day (Oslo date), inclusive.
    pub last_day: NaiveDate,
    /// The instant after which an action in this phase is late, where the phase has one.
    pub deadline: Option<DateTime<FixedOffset>>,
    /// Kommuner the phase applies to (all minus `not_applicable`).
    pub total: u32,
    /// Completed on time.
    pub on_time: u32,
    /// Completed after the deadline.
    pub late: u32,
    /// Attempted and failed.
    pub failed: u32,
    /// Never attempted.
    pub not_attempted: u32,
    /// The phase did not apply to the kommune (e.g. the extension for a kommune that
    /// submitted on time).
    pub not_applicable: u32,
}

impl PhaseSummary {
    /// A phase with all counts zero; [`RehearsalReport::normalise`] fills them in.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        first_day: NaiveDate,
        last_day: NaiveDate,
        deadline: Option<DateTime<FixedOffset>>,
    ) -> Self {
        PhaseSummary {
            id: id.into(),
            name: name.into(),
            first_day,
            last_day,
            deadline,
            total: 0,
            on_time: 0,
            late: 0,
            failed: 0,
            not_attempted: 0,
            not_applicable: 0,
        }
    }
}

/// The outcome of one phase for one kommune.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    /// Completed before the deadline.
    OnTime,
    /// Completed, but after the deadline.
    Late,
    /// Attempted and failed (rejected, could not log in, could not open, ...).
    Failed,
    /// Never attempted.
    NotAttempted,
    /// The phase does not apply to this kommune.
    NotApplicable,
}

impl PhaseStatus {
    /// The snake_case name used in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::OnTime => "on_time",
            PhaseStatus::Late => "late",
            PhaseStatus::Failed => "failed",
            PhaseStatus::NotAttempted => "not_attempted",
            PhaseStatus::NotApplicable => "not_applicable",
        }
    }

    /// A short label for people ("i tide", "for sent", ...), from the catalogue.
    pub fn label(self, lang: Lang) -> &'static str {
        lang.t(&format!("status.{}", self.as_str()))
    }

    /// Whether this status counts as a problem (late, failed, not attempted).
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            PhaseStatus::Late | PhaseStatus::Failed | PhaseStatus::NotAttempted
        )
    }
}

/// One kommune's run through the season.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KommuneResult {
    /// Four-digit kommunenummer valid in the data year, e.g. `0301`.
    pub kommunenr: String,
    /// Name, e.g. `Oslo`.
    pub name: String,
    /// The EPJ vendor the scenario assigned (e.g. `Gerica`).
    pub vendor: String,
    /// How this kommune submits.
    pub channel: Channel,
    /// One entry per season phase (same ids as [`RehearsalReport::phases`]).
    pub phases: Vec<KommunePhase>,
    /// The faults the scenario injected for this kommune (fault catalogue ids), sorted.
    pub faults: Vec<String>,
    /// What happened to this kommune, by virtual time.
    pub timeline: Vec<TimelineEvent>,
    /// Conformance findings on this kommune's messages: rule id → occurrences.
    pub findings: BTreeMap<String, u64>,
    /// The messages this kommune sent over the service bus for which it read two or more
    /// AppRecs with different Ids (a register that answers a redelivered message anew).
    /// Left out when there are none, as with a correct register on any broker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicting_apprecs: Vec<ConflictingAppRecs>,
}

/// One message answered with different AppRecs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConflictingAppRecs {
    /// The message's AMQP message-id.
    pub message_id: String,
    /// The `Id`s of the AppRecs read for it, sorted.
    pub apprec_ids: Vec<String>,
}

impl KommuneResult {
    /// This kommune's entry for phase `id`.
    pub fn phase(&self, id: &str) -> Option<&KommunePhase> {
        self.phases.iter().find(|p| p.phase == id)
    }
}

/// One phase's outcome for one kommune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KommunePhase {
    /// The phase id (see [`PhaseSummary::id`]).
    pub phase: String,
    /// The outcome.
    pub status: PhaseStatus,
    /// When the phase was completed (or failed), virtual time.
    pub at: Option<DateTime<FixedOffset>>,
    /// Why it was late or failed, in words (e.g. "login refused: wrong PIN").
    pub reason: Option<String>,
    /// The fault catalogue id of the cause (e.g. `wrong-pin`), matching a
    /// [`FailureGroup::cause`].
    pub cause: Option<String>,
}

/// One event in a kommune's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineEvent {
    /// Virtual time of the event.
    pub at: DateTime<FixedOffset>,
    /// What kind of event: e.g. `submission`, `receipt`, `rejection`, `feedback`,
    /// `correction`, `mail`, `login`, `fault`, `contact`.
    pub kind: String,
    /// Details in words.
    pub detail: String,
}

/// What happened on one virtual day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DailyCounts {
    /// The Oslo date.
    pub date: NaiveDate,
    /// Submissions that arrived (test and ordinary).
    pub submissions: u32,
    /// Receipts sent.
    pub receipts: u32,
    /// Submissions rejected.
    #[serde(default)]
    pub rejections: u32,
    /// Feedback files published.
    pub feedback: u32,
    /// Corrections that arrived.
    pub corrections: u32,
}

/// Receipt delays: each receipt, and the distribution the page draws.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptDelays {
    /// Every receipt, by kommune then arrival.
    pub delays: Vec<ReceiptDelay>,
    /// The distribution in hour buckets (derived from `delays` by
    /// [`RehearsalReport::normalise`]).
    pub histogram: Vec<DelayBucket>,
    /// Median delay in hours (nearest-rank), two decimals.
    pub p50_hours: Option<f64>,
    /// 90th percentile in hours (nearest-rank), two decimals.
    pub p90_hours: Option<f64>,
    /// Longest delay in hours, two decimals.
    pub max_hours: Option<f64>,
}

/// One receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptDelay {
    /// The kommune.
    pub kommunenr: String,
    /// When the submission arrived (virtual time).
    pub arrived: DateTime<FixedOffset>,
    /// When the receipt went out (virtual time).
    pub receipted: DateTime<FixedOffset>,
    /// `receipted - arrived` in whole minutes.
    pub minutes: i64,
}

impl ReceiptDelay {
    /// A receipt; `minutes` is computed.
    pub fn new(
        kommunenr: impl Into<String>,
        arrived: DateTime<FixedOffset>,
        receipted: DateTime<FixedOffset>,
    ) -> Self {
        ReceiptDelay {
            kommunenr: kommunenr.into(),
            arrived,
            receipted,
            minutes: (receipted - arrived).num_minutes(),
        }
    }
}

/// One bucket of the receipt-delay histogram: `from_hours <= delay < to_hours`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelayBucket {
    /// Lower bound in hours (inclusive).
    pub from_hours: u32,
    /// Upper bound in hours (exclusive); `None` for the open last bucket.
    pub to_hours: Option<u32>,
    /// Receipts in the bucket.
    pub count: u32,
}

/// The kommuner that failed (or were late) for one cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureGroup {
    /// The fault catalogue id, e.g. `postmottak-not-forwarding`, `wrong-pin`.
    pub cause: String,
    /// A short title, e.g. "Postmottak did not forward the filsluse mail".
    pub title: String,
    /// What it costs the kommune, e.g. "feedback not downloaded before week 7".
    pub consequence: String,
    /// The phases where this cause showed, sorted.
    #[serde(default)]
    pub phases: Vec<String>,
    /// The kommuner affected (kommunenummer), sorted.
    pub kommuner: Vec<String>,
}

/// Conformance findings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Findings {
    /// Per rule.
    pub by_rule: Vec<RuleCount>,
    /// Per EPJ vendor.
    pub by_vendor: Vec<VendorFindings>,
}

/// Severity of a rule (as in the rule catalogue).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Reported, but the message still conforms.
    Warning,
    /// The message does not conform.
    Error,
}

impl From<iplos_model::rules::Severity> for Severity {
    fn from(s: iplos_model::rules::Severity) -> Self {
        match s {
            iplos_model::rules::Severity::Warning => Severity::Warning,
            iplos_model::rules::Severity::Error => Severity::Error,
        }
    }
}

/// How often one rule fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCount {
    /// Rule id from the catalogue.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// Its title.
    pub title: String,
    /// Total occurrences.
    pub occurrences: u64,
    /// Kommuner with at least one occurrence (kommunenummer), sorted.
    pub kommuner: Vec<String>,
}

/// Findings for one EPJ vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VendorFindings {
    /// The vendor.
    pub vendor: String,
    /// Kommuner using this vendor.
    pub kommuner: u32,
    /// Messages received from them.
    pub messages: u64,
    /// Error findings.
    pub errors: u64,
    /// Warning findings.
    pub warnings: u64,
    /// Rule id → occurrences.
    pub by_rule: BTreeMap<String, u64>,
    /// Rule id → an XML excerpt of one message breaking it (the engine should record the
    /// element the rule points at; empty until it does).
    #[serde(default)]
    pub excerpts: BTreeMap<String, String>,
}

/// THE wall-clock section. Nothing here is deterministic; nothing outside it depends on
/// the wall clock.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WallClock {
    /// When the run started (system clock, UTC).
    pub started: Option<DateTime<Utc>>,
    /// When the run finished (system clock, UTC).
    pub finished: Option<DateTime<Utc>>,
    /// Wall-clock duration in seconds, two decimals.
    pub wall_seconds: Option<f64>,
    /// Peak resident memory in bytes, where measured.
    pub peak_rss_bytes: Option<u64>,
    /// Per endpoint: throughput and latency (wall-clock measurements).
    pub endpoints: Vec<EndpointStats>,
}

/// Throughput and latency of one national-side endpoint, measured on the wall clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointStats {
    /// Endpoint name, e.g. `sendemodul`, `servicebus`, `filsluse`, `smtp`.
    pub endpoint: String,
    /// Requests served.
    pub requests: u64,
    /// Requests that ended in an error.
    pub errors: u64,
    /// Requests per wall-clock second, two decimals.
    pub per_second: f64,
    /// Median latency in milliseconds, two decimals.
    pub p50_ms: f64,
    /// 90th percentile latency in milliseconds.
    pub p90_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Longest latency in milliseconds.
    pub max_ms: f64,
}

/// Rounds to two decimals (the one float precision of the report).
pub fn round2(x: f64) -> f64 {
    if x.is_finite() {
        (x * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// The bucket bounds (hours) of the receipt-delay histogram; the last bucket is open.
/// **\[model\]** Receipts go out 08:00 the first working day after arrival, so delays run
/// from a few hours to about four days over Easter or Christmas: finer buckets for the
/// first day, then whole days.
pub const DELAY_BUCKETS_HOURS: &[u32] = &[0, 6, 12, 18, 24, 36, 48, 72, 96, 120];

impl ReceiptDelays {
    /// Sorts the delays and recomputes histogram and percentiles from them.
    pub fn recompute(&mut self) {
        self.delays.sort_by(|a, b| {
            (a.kommunenr.as_str(), a.arrived, a.receipted).cmp(&(
                b.kommunenr.as_str(),
                b.arrived,
                b.receipted,
            ))
        });
        let mut buckets: Vec<DelayBucket> = DELAY_BUCKETS_HOURS
            .iter()
            .enumerate()
            .map(|(i, &from)| DelayBucket {
                from_hours: from,
                to_hours: DELAY_BUCKETS_HOURS.get(i + 1).copied(),
                count: 0,
            })
            .collect();
        let mut minutes: Vec<i64> = self.delays.iter().map(|d| d.minutes).collect();
        minutes.sort_unstable();
        for &m in &minutes {
            let m = m.max(0);
            let i = buckets
                .iter()
                .rposition(|b| i64::from(b.from_hours) * 60 <= m)
                .unwrap_or(0);
            buckets[i].count += 1;
        }
        self.histogram = buckets;
        let hours = |m: i64| round2(m as f64 / 60.0);
        self.p50_hours = percentile(&minutes, 50).map(hours);
        self.p90_hours = percentile(&minutes, 90).map(hours);
        self.max_hours = minutes.last().copied().map(hours);
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile<T: Copy>(sorted: &[T], pct: u32) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (pct as usize * n).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

impl RehearsalReport {
    /// An empty report for a run; fill the lists, then write it.
    pub fn new(tool: Tool, run: RunInfo) -> Self {
        RehearsalReport {
            schema_version: SCHEMA_VERSION,
            tool,
            run,
            phases: Vec::new(),
            kommuner: Vec::new(),
            daily: Vec::new(),
            receipt_delays: ReceiptDelays::default(),
            failures: Vec::new(),
            findings: Findings::default(),
            coordination: Coordination::default(),
            comparison: None,
            timing: WallClock::default(),
        }
    }

    /// Puts every list in canonical order and recomputes the derived parts: phase tallies
    /// from the kommuner, the receipt-delay summary, `run.kommuner`, and the kommune lists of
    /// failure groups and rules (sorted, deduplicated). Idempotent.
    pub fn normalise(&mut self) {
        self.kommuner.sort_by(|a, b| a.kommunenr.cmp(&b.kommunenr));
        let order: BTreeMap<String, usize> = self
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        for k in &mut self.kommuner {
            k.phases
                .sort_by_key(|p| order.get(p.phase.as_str()).copied().unwrap_or(usize::MAX));
            k.faults.sort();
            k.faults.dedup();
            k.timeline
                .sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.kind.cmp(&b.kind)));
        }
        self.run.kommuner = u32::try_from(self.kommuner.len()).unwrap_or(u32::MAX);
        let n = self.run.kommuner;
        for p in &mut self.phases {
            let (mut on_time, mut late, mut failed, mut not_attempted) = (0, 0, 0, 0);
            for k in &self.kommuner {
                if let Some(kp) = k.phase(&p.id) {
                    match kp.status {
                        PhaseStatus::OnTime => on_time += 1,
                        PhaseStatus::Late => late += 1,
                        PhaseStatus::Failed => failed += 1,
                        PhaseStatus::NotAttempted => not_attempted += 1,
                        PhaseStatus::NotApplicable => {}
                    }
                }
            }
            // A kommune without an entry for the phase counts as not applicable.
            p.on_time = on_time;
            p.late = late;
            p.failed = failed;
            p.not_attempted = not_attempted;
            p.total = on_time + late + failed + not_attempted;
            p.not_applicable = n - p.total.min(n);
        }
        self.daily.sort_by_key(|d| d.date);
        self.receipt_delays.recompute();
        for f in &mut self.failures {
            f.kommuner.sort();
            f.kommuner.dedup();
            f.phases
                .sort_by_key(|p| order.get(p.as_str()).copied().unwrap_or(usize::MAX));
            f.phases.dedup();
        }
        self.failures.sort_by(|a, b| {
            b.kommuner
                .len()
                .cmp(&a.kommuner.len())
                .then_with(|| a.cause.cmp(&b.cause))
        });
        for r in &mut self.findings.by_rule {
            r.kommuner.sort();
            r.kommuner.dedup();
        }
        self.findings.by_rule.sort_by(|a, b| {
            b.occurrences
                .cmp(&a.occurrences)
                .then_with(|| a.rule.cmp(&b.rule))
        });
        self.findings
            .by_vendor
            .sort_by(|a, b| a.vendor.cmp(&b.vendor));
        self.run.scale = round2(self.run.scale);
        self.timing.wall_seconds = self.timing.wall_seconds.map(round2);
        for e in &mut self.timing.endpoints {
            e.per_second = round2(e.per_second);
            e.p50_ms = round2(e.p50_ms);
            e.p90_ms = round2(e.p90_ms);
            e.p99_ms = round2(e.p99_ms);
            e.max_ms = round2(e.max_ms);
        }
        self.timing
            .endpoints
            .sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        let c = &mut self.coordination;
        c.extensions.sort();
        c.extensions.dedup();
        c.renumbered.sort();
        c.renumbered.dedup();
    }

    /// Consistency problems a writer would otherwise pass on silently, one line each:
    /// duplicate kommunenummer or phase ids, a kommune without an entry for a phase (or
    /// with an entry for an unknown phase), a failure group or phase cause naming a kommune
    /// or cause that is not there. Empty when the report is complete; `report.json` of a
    /// finished run should satisfy it (every kommune, every phase).
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut ids = BTreeSet::new();
        for p in &self.phases {
            if !ids.insert(p.id.as_str()) {
                problems.push(format!("phase id {} appears twice", p.id));
            }
        }
        let mut nrs = BTreeSet::new();
        for k in &self.kommuner {
            if !nrs.insert(k.kommunenr.as_str()) {
                problems.push(format!("kommune {} appears twice", k.kommunenr));
            }
            for id in &ids {
                match k.phases.iter().filter(|p| p.phase == *id).count() {
                    0 => problems.push(format!(
                        "kommune {} has no entry for phase {id}",
                        k.kommunenr
                    )),
                    1 => {}
                    n => problems.push(format!(
                        "kommune {} has {n} entries for phase {id}",
                        k.kommunenr
                    )),
                }
            }
            for p in &k.phases {
                if !ids.contains(p.phase.as_str()) {
                    problems.push(format!(
                        "kommune {} has an entry for unknown phase {}",
                        k.kommunenr, p.phase
                    ));
                }
            }
        }
        let causes: BTreeSet<&str> = self.failures.iter().map(|f| f.cause.as_str()).collect();
        for f in &self.failures {
            for k in &f.kommuner {
                if !nrs.contains(k.as_str()) {
                    problems.push(format!(
                        "failure group {} names unknown kommune {k}",
                        f.cause
                    ));
                }
            }
        }
        for k in &self.kommuner {
            for p in &k.phases {
                if let Some(c) = &p.cause
                    && !causes.contains(c.as_str())
                {
                    problems.push(format!(
                        "kommune {} phase {} has cause {c}, which no failure group lists",
                        k.kommunenr, p.phase
                    ));
                }
            }
        }
        problems
    }

    /// A copy with the wall-clock section emptied: two runs with the same seed give equal
    /// values (and equal JSON) here.
    pub fn without_timing(&self) -> RehearsalReport {
        RehearsalReport {
            timing: WallClock::default(),
            ..self.clone()
        }
    }

    /// Derives [`Findings::by_rule`] and [`Findings::by_vendor`] from the kommuner's own
    /// finding maps. `rule_info` gives a rule's severity and title (unknown rules become
    /// errors titled with their id); `messages` gives the number of messages received per
    /// kommune (missing → 0).
    pub fn derive_findings(
        &mut self,
        rule_info: impl Fn(&str) -> Option<(Severity, String)>,
        messages: &BTreeMap<String, u64>,
    ) {
        let mut by_rule: BTreeMap<&str, (u64, BTreeSet<&str>)> = BTreeMap::new();
        let mut by_vendor: BTreeMap<&str, VendorFindings> = BTreeMap::new();
        for k in &self.kommuner {
            let v = by_vendor
                .entry(&k.vendor)
                .or_insert_with(|| VendorFindings {
                    vendor: k.vendor.clone(),
                    kommuner: 0,
                    messages: 0,
                    errors: 0,
                    warnings: 0,
                    by_rule: BTreeMap::new(),
                    excerpts: BTreeMap::new(),
                });
            v.kommuner += 1;
            v.messages += messages.get(&k.kommunenr).copied().unwrap_or(0);
            for (rule, &n) in &k.findings {
                let e = by_rule.entry(rule).or_default();
                e.0 += n;
                e.1.insert(&k.kommunenr);
                *v.by_rule.entry(rule.clone()).or_default() += n;
                match rule_info(rule).map(|i| i.0).unwrap_or(Severity::Error) {
                    Severity::Error => v.errors += n,
                    Severity::Warning => v.warnings += n,
                }
            }
        }
        self.findings.by_rule = by_rule
            .into_iter()
            .map(|(rule, (occurrences, ks))| {
                let (severity, title) =
                    rule_info(rule).unwrap_or((Severity::Error, rule.to_string()));
                RuleCount {
                    rule: rule.to_string(),
                    severity,
                    title,
                    occurrences,
                    kommuner: ks.into_iter().map(str::to_string).collect(),
                }
            })
            .collect();
        self.findings.by_vendor = by_vendor.into_values().collect();
        self.normalise();
    }
}

/// Severity and title of a rule from the model's catalogue, for
/// [`RehearsalReport::derive_findings`].
pub fn catalogue_rule_info(id: &str) -> Option<(Severity, String)> {
    iplos_model::rules::catalogue::by_id(id).map(|r| (r.severity.into(), r.title.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&v, 100), Some(10));
        assert_eq!(percentile(&v, 0), Some(1));
        assert_eq!(percentile::<u8>(&[], 50), None);
    }

    #[test]
    fn sample_is_consistent_and_check_finds_gaps() {
        let mut r = crate::sample::sample(40, 1);
        assert_eq!(r.check(), Vec::<String>::new());
        r.kommuner[3].phases.remove(0);
        let dup = r.kommuner[0].clone();
        r.kommuner.push(dup);
        let p = r.check();
        assert!(
            p.iter()
                .any(|l| l.contains("has no entry for phase test_submission")),
            "{p:?}"
        );
        assert!(p.iter().any(|l| l.contains("appears twice")), "{p:?}");
    }

    #[test]
    fn delays_histogram_and_summary() {
        let t = |h: i64| {
            DateTime::parse_from_rfc3339("2017-01-02T08:00:00+01:00").unwrap()
                + chrono::Duration::hours(h)
        };
        let mut d = ReceiptDelays {
            delays: vec![
                ReceiptDelay::new("0301", t(0), t(5)),
                ReceiptDelay::new("0101", t(0), t(20)),
                ReceiptDelay::new("0102", t(0), t(130)),
            ],
            ..ReceiptDelays::default()
        };
        d.recompute();
        assert_eq!(d.delays[0].kommunenr, "0101");
        assert_eq!(d.histogram[0].count, 1);
        assert_eq!(d.histogram[3].count, 1);
        assert_eq!(d.histogram.last().unwrap().count, 1);
        assert_eq!(d.histogram.last().unwrap().to_hours, None);
        assert_eq!(
            (d.p50_hours, d.p90_hours, d.max_hours),
            (Some(20.0), Some(130.0), Some(130.0))
        );
    }

    #[test]
    fn empty_report_renders() {
        let r = RehearsalReport::new(
            Tool::this_crate(),
            RunInfo {
                season: 2018,
                scenario: "empty".into(),
                seed: 0,
                scale: 1.0,
                channel: Channel::Amqp,
                kommuner: 0,
                virtual_start: DateTime::parse_from_rfc3339("2018-11-01T00:00:00+01:00").unwrap(),
                virtual_end: DateTime::parse_from_rfc3339("2019-04-01T00:00:00+02:00").unwrap(),
            },
        );
        assert!(crate::to_html(&r).contains("Ingen dager registrert"));
        assert!(crate::to_html_in(&r, Lang::En).contains("No days recorded"));
        assert!(crate::to_junit(&r).contains("tests=\"0\""));
        assert!(crate::to_json(&r).unwrap().contains("\"kommuner\": []"));
        assert!(crate::console_summary(&r, None).contains("0 kommuner"));
    }
}
