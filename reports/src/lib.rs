//! iplos-reports: a dress rehearsal's results as three files.
//!
//! - **`report.json`** — the whole [`RehearsalReport`], machine-readable. Its JSON Schema
//!   (draft 2020-12) is generated from the types ([`schema_json`]) and committed as
//!   `reports/schema/rehearsal-report.schema.json`; a test fails when the two differ.
//! - **`junit.xml`** — one `<testsuite>` per phase, one `<testcase classname="<phase>"
//!   name="<kommunenr> <name>">` per kommune × phase; late, failed and not attempted are
//!   `<failure message="<reason>" type="<cause>">`, not applicable is `<skipped/>`. The
//!   writer itself is generic ([`junit`]) for certification reports.
//! - **`index.html`** — one self-contained page (inline CSS, SVG and a small script; no
//!   external fetch): the verdict per phase, a timeline chart, the receipt delay
//!   distribution, failures by cause, findings by rule and by vendor, endpoint
//!   throughput and latency, and a searchable per-kommune table with each kommune's own
//!   timeline. The page builders are reusable ([`html`], [`svg`]).
//!
//! The texts are in bokmål by default or English ([`Lang`], one catalogue each in
//! [`i18n`]); beside the three files go the action lists and vendor pages ([`actions`]).
//!
//! [`write_report`] writes all three into a directory, each atomically (temporary file,
//! then rename); [`console_summary`] is the short text printed at the end of a run.
//!
//! # Determinism and the timing section
//!
//! Same seed → same `report.json`, byte for byte, **except the `timing` object**
//! ([`WallClock`]): the one marked section of wall-clock values (start and end of the run,
//! wall seconds, peak memory, endpoint throughput and latency). Everything else is
//! computed from virtual time and the seed, kept in canonical order
//! ([`RehearsalReport::normalise`], applied by every writer), with floats rounded to two
//! decimals. [`RehearsalReport::without_timing`] strips the section for comparisons.

pub mod actions;
pub mod certification;
pub mod coordination;
pub mod derive;
mod escape;
pub mod html;
pub mod i18n;
pub mod junit;
mod output;
pub mod page;
pub mod page_sections;
pub mod rehearsal;
pub mod sample;
pub mod svg;
pub mod when;

pub use i18n::Lang;
pub use output::{
    HTML_FILE, JSON_FILE, JUNIT_FILE, ReportError, Written, console_summary, console_summary_in,
    junit_suites, junit_suites_in, normalised, schema_json, to_html, to_html_in, to_json, to_junit,
    to_junit_in, write_atomic, write_report, write_report_in,
};
pub use rehearsal::{
    Channel, ConflictingAppRecs, DailyCounts, DelayBucket, EndpointStats, FailureGroup, Findings,
    KommunePhase, KommuneResult, PhaseStatus, PhaseSummary, ReceiptDelay, ReceiptDelays,
    RehearsalReport, RuleCount, RunInfo, SCHEMA_VERSION, Severity, TimelineEvent, Tool,
    VendorFindings, WallClock,
};
