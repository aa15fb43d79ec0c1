//! `iplos-harness check`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use iplos_model::rules::{self, CheckOptions, CheckReport, ContentState, Severity};
use serde::Serialize;

use super::Format;

/// Check IPLOS 56.0.0 messages.
///
/// Text output has one line per finding: `FILE:LINE: RULE severity: message`.
/// JSON output has one object per file: {"file", "conformant", "findings": [{"rule",
/// "category", "severity", "consequence", "location", "message"}], ...}.
/// Exit 0 when every file conforms, 1 when any has an error finding, 2 when the check could
/// not run (usage, unreadable file).
#[derive(clap::Args)]
pub struct Args {
    /// Data year (default: the year of the message's latest hendelseDato).
    #[arg(long, value_name = "Y")]
    year: Option<i32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Earlier messages of the same kommune, in the order they were sent: the notification
    /// chain, sequence numbers and references continue from them (their own findings are
    /// not reported). Repeat for several.
    #[arg(long, value_name = "FILE")]
    previous: Vec<PathBuf>,
    /// Production mode: real-looking person ids are not an error (default: test mode,
    /// where only synthetic Test-Norge ids are accepted).
    #[arg(long)]
    production: bool,
    /// The messages to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Serialize)]
struct FileReport<'a> {
    file: String,
    #[serde(flatten)]
    report: &'a CheckReport,
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    let options = CheckOptions {
        data_year: args.year,
        test_mode: !args.production,
        ..CheckOptions::default()
    };
    tracing::debug!(
        data_year = ?options.data_year,
        test_mode = options.test_mode,
        files = args.files.len(),
        previous = args.previous.len(),
        "check: starting"
    );
    let mut base = ContentState::new();
    for p in &args.previous {
        let f = File::open(p)
            .with_context(|| format!("cannot open earlier message {}", p.display()))?;
        let started = Instant::now();
        let report = rules::check_stream(f, &options, &mut base, &mut |_| {});
        tracing::debug!(
            file = %p.display(),
            notifications = report.notifications,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "check: earlier message read for the chain"
        );
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut any_error = false;
    let mut unreadable = false;
    for path in &args.files {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("iplos-harness: error: cannot open {}: {e}", path.display());
                unreadable = true;
                continue;
            }
        };
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            eprintln!(
                "iplos-harness: error: {} is a directory, not a message",
                path.display()
            );
            unreadable = true;
            continue;
        }
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        tracing::debug!(file = %path.display(), bytes, "check: reading");
        let started = Instant::now();
        let mut state = base.clone();
        let report = rules::check_stream(file, &options, &mut state, &mut |_| {});
        tracing::debug!(
            file = %path.display(),
            conformant = report.conformant,
            data_year = ?report.data_year,
            notifications = report.notifications,
            findings = report.findings.len() as u64 + report.findings_omitted,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "check: done"
        );
        any_error |= !report.conformant;
        let name = path.display().to_string();
        match args.format {
            Format::Json => {
                serde_json::to_writer(
                    &mut out,
                    &FileReport {
                        file: name,
                        report: &report,
                    },
                )?;
                writeln!(out)?;
            }
            Format::Text => {
                for f in &report.findings {
                    let sev = match f.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    };
                    writeln!(
                        out,
                        "{name}:{}: {} {sev}: {} [{}]",
                        f.location.line, f.rule, f.message, f.location.path
                    )?;
                }
                if report.findings_omitted > 0 {
                    writeln!(
                        out,
                        "{name}: {} more findings not shown",
                        report.findings_omitted
                    )?;
                }
            }
        }
    }
    out.flush()?;
    Ok(if unreadable {
        ExitCode::from(2)
    } else if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
