//! `iplos-harness rehearse`: the dress rehearsal — replay a whole season for every kommune
//! against the mocks on loopback, on a virtual clock, and write the report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::engine::{EngineConfig, run};
use crate::scenario::{ChannelSpec, LATEST_SEASON, Scenario};

/// Replay a season (test week to corrections deadline) for every kommune through the real
/// endpoints on loopback, and write report.json, junit.xml and index.html.
///
/// Exit 0 when the rehearsal ran (whatever the simulated kommuner did), 1 when the harness
/// itself failed or a `--fail-on` gate tripped, 2 for usage errors.
#[derive(clap::Args)]
pub struct Args {
    /// The data year whose season to replay (default: the latest shipped season).
    #[arg(long, value_name = "YEAR", conflicts_with = "scenario")]
    season: Option<i32>,
    /// A scenario file (TOML, see scenarios/README.md).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// `all`, or kommunenummer, comma-separated.
    #[arg(long, value_name = "all|KNR,...", default_value = "all")]
    municipality: String,
    /// Population scale (1.0: the real sizes).
    #[arg(long, value_name = "F", default_value_t = 0.05)]
    scale: f64,
    /// The seed: the same seed gives the same report.json (outside its timing section).
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Where the report and the mocks' state go (default: out/rehearsal-<year>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue a run that was killed, from its run store in DIR/state (same arguments).
    #[arg(long)]
    resume: bool,
    /// Exit 1 when a kommune is late or failed in a phase (`late`), or when a rule was
    /// found (a rule id). Repeat.
    #[arg(long = "fail-on", value_name = "late|RULE")]
    fail_on: Vec<String>,
    /// The language of index.html, junit.xml, the action lists and the summary: nb
    /// (bokmål, the default) or en.
    #[arg(long, value_name = "nb|en", default_value = "nb")]
    lang: iplos_reports::Lang,
    /// An earlier run's report.json: adds a comparison (kommuner better or worse per
    /// phase, new fault causes, findings per rule) to report.json and the page.
    #[arg(long, value_name = "REPORT.json")]
    baseline: Option<PathBuf>,
    /// Run the service bus on this RabbitMQ (one node or a cluster's nodes) instead of our
    /// broker: `amqp[s]://USER:PASS@HOST:PORT[,amqp[s]://HOST2:PORT2...]`. The run gets a
    /// vhost of its own (`iplos-rehearse-<out dir>-<hash>`), removed at the end; the
    /// register's receiver and the kommuner are AMQP clients of it. Service bus seasons
    /// (2018 on) only. Needs --broker-management; `amqps` needs --broker-ca.
    #[arg(long, value_name = "URL", requires = "broker_management")]
    broker: Option<String>,
    /// The CA certificate(s) (PEM) that RabbitMQ's TLS certificates are verified against,
    /// for `--broker amqps://…` and `--broker-management https://…` (the register's receiver
    /// and every kommune's client).
    #[arg(long, value_name = "FILE", requires = "broker")]
    broker_ca: Option<PathBuf>,
    /// RabbitMQ's management API, `http[s]://USER:PASS@HOST:PORT` (a user with the
    /// administrator tag: it creates the run's vhost, users and queues); https is verified
    /// against --broker-ca.
    #[arg(long, value_name = "URL", requires = "broker")]
    broker_management: Option<String>,
    /// Keep the run's vhost, queues and users on RabbitMQ at the end (to look at its
    /// counters); the next run with the same --out removes them first.
    #[arg(long, requires = "broker")]
    broker_keep: bool,
}

/// Runs the command.
pub fn run_cmd(args: Args) -> Result<ExitCode> {
    let scenario = match (&args.scenario, args.season) {
        (Some(path), _) => Scenario::load(path)?,
        (None, Some(y)) => Scenario::for_season(y)?,
        (None, None) => Scenario::for_season(LATEST_SEASON)?,
    };
    if !(args.scale > 0.0 && args.scale <= 2.0) {
        anyhow::bail!("--scale {}: must be within (0, 2]", args.scale);
    }
    let kommuner = if args.municipality == "all" {
        None
    } else {
        Some(
            args.municipality
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    };
    // Unknown kommuner are a usage error (exit 2), found before anything starts.
    if let Some(list) = &kommuner as &Option<Vec<String>> {
        let year = u16::try_from(scenario.season.data_year)?;
        for k in list {
            iplos_model::municipality::lookup(year, k)
                .with_context(|| format!("--municipality {k}"))?;
        }
    }
    let baseline: Option<iplos_reports::RehearsalReport> = match &args.baseline {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("--baseline {}", p.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("--baseline {}: not a report.json", p.display()))?,
            )
        }
        None => None,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("out/rehearsal-{}", scenario.season.data_year)));
    let external = match (&args.broker, &args.broker_management) {
        (Some(b), Some(m)) => {
            if scenario.season.channel != ChannelSpec::Servicebus {
                anyhow::bail!(
                    "--broker: the {} season sends through Sendemodul, not the service bus",
                    scenario.season.data_year
                );
            }
            let mut ext =
                super::broker::external("rehearse", &out, b, m, args.broker_ca.as_deref())?;
            // A new run starts from empty queues; --resume continues the killed one's.
            ext.fresh = !args.resume;
            ext.teardown = !args.broker_keep;
            Some(ext)
        }
        _ => None,
    };
    let state = out.join("state");
    if args.resume {
        if !state.is_dir() {
            anyhow::bail!("--resume: {} holds no run", state.display());
        }
    } else if state.exists() {
        std::fs::remove_dir_all(&state)
            .with_context(|| format!("clearing the previous run's state in {}", state.display()))?;
    }
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let cfg = EngineConfig {
        scenario,
        kommuner,
        scale: args.scale,
        seed: args.seed,
        state_dir: state,
        progress: true,
        resume: args.resume,
        external,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut report = match rt.block_on(run(cfg)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("iplos-harness: rehearse failed: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    report.timing.started = Some(started);
    report.timing.finished = Some(chrono::Utc::now());
    report.timing.wall_seconds = Some(t0.elapsed().as_secs_f64());
    report.timing.peak_rss_bytes = peak_rss();
    if let Some(b) = &baseline {
        report.comparison = Some(iplos_reports::derive::compare(&report, b));
    }
    let written = iplos_reports::write_report_in(&report, &out, args.lang)
        .with_context(|| format!("writing the report to {}", out.display()))?;
    print!(
        "{}",
        iplos_reports::console_summary_in(&report, Some(&written), args.lang)
    );
    let mut tripped = Vec::new();
    for gate in &args.fail_on {
        if gate == "late" {
            let n = report
                .kommuner
                .iter()
                .filter(|k| {
                    k.phases.iter().any(|p| {
                        matches!(
                            p.status,
                            iplos_reports::PhaseStatus::Late | iplos_reports::PhaseStatus::Failed
                        )
                    })
                })
                .count();
            if n > 0 {
                tripped.push(format!("late: {n} kommuner late or failed in a phase"));
            }
        } else if let Some(r) = report.findings.by_rule.iter().find(|r| &r.rule == gate) {
            tripped.push(format!("{gate}: {} occurrences", r.occurrences));
        }
    }
    if !tripped.is_empty() {
        eprintln!("--fail-on: {}", tripped.join("; "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
