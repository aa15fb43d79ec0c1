//! iplos-reports: a dress rehearsal's results as `report.json` (with a JSON Schema),
//! `junit.xml` and a self-contained `index.html` with SVG charts.
//!
//! The model is [`rehearsal::RehearsalReport`]. Everything in it except the `timing`
//! section ([`rehearsal::WallClock`]) is deterministic for a seed.

pub mod rehearsal;

pub use rehearsal::{
    Channel, DailyCounts, DelayBucket, EndpointStats, FailureGroup, Findings, KommunePhase,
    KommuneResult, PhaseStatus, PhaseSummary, ReceiptDelay, ReceiptDelays, RehearsalReport,
    RuleCount, RunInfo, SCHEMA_VERSION, Severity, TimelineEvent, Tool, VendorFindings, WallClock,
};
