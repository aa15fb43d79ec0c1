//! The certification report of a session: built from the verdicts, written as
//! report.json, junit.xml and index.html, and summed up on the console.

use std::path::Path;

use anyhow::{Context, Result};
use iplos_reports::certification::{
    CertificationReport, Session as CertSession, TestResult, TestVerdict, Timings, VendorInfo,
};

use crate::certify::phases::PhaseKind;
use crate::certify::plan::Plan;
use crate::certify::record::Recording;
use crate::certify::session::{Session, SigningFiles};

/// What the report is made of.
pub struct ReportParts<'a> {
    pub plan: &'a Plan,
    pub session: &'a Session,
    pub recording: &'a Recording,
    pub tests: Vec<TestResult>,
    pub timings: Timings,
    pub time_scale: f64,
    /// The phases walked, and how many the plan has.
    pub selected: &'a [PhaseKind],
    pub phases: usize,
}

/// Builds the report (its evidence bundle from `evidence`), writes it to `run_dir`, signs
/// it and the evidence manifest with the harness's key, and prints its summary.
pub fn write(
    parts: ReportParts<'_>,
    evidence: &Path,
    run_dir: &Path,
    signing: &SigningFiles,
) -> Result<CertificationReport> {
    let ReportParts {
        plan,
        session,
        recording,
        tests,
        timings,
        time_scale,
        selected,
        phases,
    } = parts;
    let product = recording
        .messages
        .iter()
        .find_map(|m| m.melding.as_ref())
        .map(|m| (m.header.navn_epj.clone(), m.header.versjon_epj.clone()))
        .unwrap_or_default();
    let mut notes = Vec::new();
    if time_scale != 1.0 {
        notes.push(format!(
            "Run with time scale {}: every timeout and fault duration was multiplied by it. A certificate needs a session at scale 1.",
            time_scale
        ));
    }
    if selected.len() < phases {
        notes.push(format!(
            "Only these phases were walked (--only): {}.",
            selected
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut report = CertificationReport {
        schema_version: iplos_reports::certification::CERTIFICATION_SCHEMA_VERSION,
        tool: iplos_reports::Tool {
            name: "iplos-harness".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        plan: plan.report_info(),
        vendor: VendorInfo {
            name: session.vendor.clone(),
            product: product.0,
            version: product.1,
        },
        session: CertSession {
            kommune: session.kommune.clone(),
            kommune_name: session.kommune_name.clone(),
            her_id: Some(session.her_id),
            channel: "servicebus".into(),
            notes,
            time_scale: Some(time_scale),
        },
        verdict: iplos_reports::certification::Verdict::Incomplete,
        summary: Default::default(),
        tests,
        evidence_bundle: iplos_reports::certification::bundle_from_dir(evidence)
            .map_err(|e| anyhow::anyhow!("the evidence bundle: {e}"))?,
        timings,
    };
    report.normalise();
    let written = iplos_reports::certification::write_certification(&report, run_dir)
        .context("writing the certification report")?;
    crate::certify::verify::sign_report(run_dir, &report.evidence_bundle, signing)
        .context("signing the report")?;
    print_summary(&report, &written);
    Ok(report)
}

fn print_summary(r: &CertificationReport, written: &iplos_reports::Written) {
    println!(
        "\ncertify run: {} — {} (required: {} passed, {} failed, {} blocked, {} not run; {} tests in all)",
        r.vendor.name,
        r.verdict.as_str().to_uppercase(),
        r.summary.required_passed,
        r.summary.required_failed,
        r.summary.required_blocked,
        r.summary.required_not_run,
        r.summary.tests
    );
    // Root causes first, then what they blocked.
    for t in r.tests.iter().filter(|t| t.verdict == TestVerdict::Fail) {
        println!(
            "  FAIL {} {}: {}",
            t.id,
            t.title,
            t.reason.as_deref().unwrap_or("")
        );
    }
    for t in r.tests.iter().filter(|t| t.verdict == TestVerdict::Blocked) {
        println!(
            "  BLOCKED {} {} (by {})",
            t.id,
            t.title,
            t.blocked_by.join(", ")
        );
    }
    if let Some(ms) = r.timings.time_to_first_apprec_ms {
        println!("  time to first AppRec {ms} ms");
    }
    if let Some(n) = r.timings.notifications_per_second {
        println!("  initial load {n:.0} notifications/s");
    }
    if let (Some(p50), Some(p99)) = (r.timings.p50_ms, r.timings.p99_ms) {
        println!(
            "  arrival → AppRec p50 {p50:.0} ms, p99 {p99:.0} ms over {} messages",
            r.timings.latency_samples
        );
    }
    println!(
        "  report: {}\n          {}\n          {}",
        written.html.display(),
        written.json.display(),
        written.junit.display()
    );
    if let Some(dir) = written.json.parent() {
        println!(
            "  signed: report.json.p7s, SHA256SUMS.p7s (check with `iplos-harness certify verify {}`)",
            dir.display()
        );
    }
}
