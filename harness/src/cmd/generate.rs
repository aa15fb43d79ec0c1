//! `iplos-harness generate`: synthetic populations and their messages for every kommune.

use std::fs::{self, File};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use iplos_generators::defects::{self, Applied, Defect, DefectContext};
use iplos_generators::{GenConfig, KommuneData, generate_kommune, seed};
use iplos_model::message::{OutputEncoding, write_message};
use iplos_model::municipality::{self, Municipality};
use rayon::prelude::*;
use serde::Serialize;

use crate::output::{HashingWriter, StagedDir};

/// Generate synthetic IPLOS populations and the messages a correct EPJ export of them
/// produces: per kommune `population.jsonl` (what a vendor loads), `melding.xml` (the
/// ordinary submission: initial load plus the year's events) and `korreksjoner.xml`
/// (M and C corrections), and `manifest.json` for the whole run.
///
/// Exit 0 on success, 2 on a usage error (unknown kommune, year, defect; bad scale; an
/// existing non-empty output directory without --force).
#[derive(clap::Args)]
pub struct Args {
    /// Data year (2016-2030).
    #[arg(long, value_name = "Y")]
    year: u16,
    /// `all`, or kommunenummer valid in the year, comma-separated.
    #[arg(long, value_name = "all|KNR,...", default_value = "all")]
    municipality: String,
    /// Seed of everything generated.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Multiplies population sizes (1.0 = the year's official number of recipients).
    #[arg(
        long,
        value_name = "F",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    scale: f64,
    /// Named defects to inject into every ordinary submission (see the defect catalogue:
    /// `--defect list`).
    #[arg(long, value_name = "NAME[,NAME...]", conflicts_with = "defect_rate")]
    defect: Option<String>,
    /// Inject defects at random: each kommune's ordinary submission gets each compatible
    /// defect of the catalogue with probability P.
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    defect_rate: Option<f64>,
    /// Worker threads (default: all cores). Output does not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Replace an existing non-empty output directory.
    #[arg(long)]
    force: bool,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// How defects are chosen.
#[derive(Debug, Clone)]
enum DefectPlan {
    None,
    Named(Vec<&'static Defect>),
    Rate(f64),
}

#[derive(Serialize)]
struct Manifest<'a> {
    tool: &'static str,
    version: &'static str,
    year: u16,
    seed: u64,
    scale: f64,
    defects: serde_json::Value,
    totals: Totals,
    kommuner: &'a [KommuneEntry],
}

#[derive(Serialize, Default)]
struct Totals {
    kommuner: usize,
    persons: u64,
    notifications: u64,
    corrections: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct FileEntry {
    name: String,
    bytes: u64,
    sha256: String,
}

#[derive(Serialize)]
struct KommuneEntry {
    number: String,
    name: String,
    seed: u64,
    vendor: String,
    persons: u32,
    notifications: u32,
    corrections: u32,
    notifications_by_event_type: std::collections::BTreeMap<String, u32>,
    notifications_by_service_type: std::collections::BTreeMap<String, u32>,
    defects: Vec<Applied>,
    files: Vec<FileEntry>,
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let plan = match (&args.defect, args.defect_rate) {
        (Some(names), _) if names == "list" => {
            let mut out = std::io::stdout().lock();
            for d in defects::catalogue() {
                writeln!(
                    out,
                    "{:<32} {:<8} {:<22} {}",
                    d.name,
                    format!("{:?}", d.level).to_lowercase(),
                    d.rules.join(","),
                    d.description
                )?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        (Some(names), _) => {
            let list: Vec<&'static Defect> = names
                .split(',')
                .map(|n| defects::find(n.trim()))
                .collect::<Result<_, _>>()
                .map_err(usage)?;
            defects::check_compatible(&list).map_err(usage)?;
            DefectPlan::Named(list)
        }
        (None, Some(p)) if (0.0..=1.0).contains(&p) => DefectPlan::Rate(p),
        (None, Some(p)) => {
            return usage_exit(format!("--defect-rate must be between 0 and 1, not {p}"));
        }
        (None, None) => DefectPlan::None,
    };
    let Some(out_dir) = args.out.clone() else {
        return usage_exit("--out DIR is required".into());
    };
    if !(args.scale.is_finite() && args.scale > 0.0) {
        return usage_exit(format!(
            "--scale must be a number greater than 0, not {}",
            args.scale
        ));
    }
    if !municipality::supported_years().contains(&args.year) {
        let r = municipality::supported_years();
        return usage_exit(format!(
            "data year {} is outside the registry ({}-{})",
            args.year,
            r.start(),
            r.end()
        ));
    }
    let kommuner = match select(args.year, &args.municipality) {
        Ok(k) => k,
        Err(e) => return usage_exit(e),
    };
    let staged = match StagedDir::new(&out_dir, args.force) {
        Ok(s) => s,
        Err(e) => return usage_exit(format!("{e:#}")),
    };
    let cfg = GenConfig::with_scale(args.scale);

    let progress = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(kommuner.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} kommuner {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start worker threads")?;
    let root = staged.path().to_path_buf();
    let entries: Vec<KommuneEntry> = pool.install(|| {
        kommuner
            .par_iter()
            .map(|k| {
                let e = write_kommune(&root, args.year, k, &cfg, args.seed, &plan);
                progress.inc(1);
                e
            })
            .collect::<Result<Vec<_>>>()
    })?;
    progress.finish_and_clear();

    let mut totals = Totals {
        kommuner: entries.len(),
        ..Totals::default()
    };
    for e in &entries {
        totals.persons += u64::from(e.persons);
        totals.notifications += u64::from(e.notifications);
        totals.corrections += u64::from(e.corrections);
        totals.bytes += e.files.iter().map(|f| f.bytes).sum::<u64>();
    }
    let defects_json = match &plan {
        DefectPlan::None => serde_json::Value::Null,
        DefectPlan::Named(list) => {
            serde_json::json!({ "named": list.iter().map(|d| d.name).collect::<Vec<_>>() })
        }
        DefectPlan::Rate(p) => serde_json::json!({ "rate": p }),
    };
    let manifest = Manifest {
        tool: "iplos-harness",
        version: env!("CARGO_PKG_VERSION"),
        year: args.year,
        seed: args.seed,
        scale: args.scale,
        defects: defects_json,
        totals,
        kommuner: &entries,
    };
    let mut f = BufWriter::new(
        File::create(root.join("manifest.json")).context("cannot write manifest.json")?,
    );
    serde_json::to_writer_pretty(&mut f, &manifest)?;
    writeln!(f)?;
    f.flush()?;
    drop(f);
    let target = staged.commit()?;
    let t = &manifest.totals;
    eprintln!(
        "generated {} kommuner, {} persons, {} notifications (+{} corrections), {:.1} MB in {:.1} s -> {}",
        t.kommuner,
        t.persons,
        t.notifications,
        t.corrections,
        t.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        target.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn usage<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!(UsageError(e.to_string()))
}

/// A usage error: main maps it to exit code 2 (like every error), named for clarity.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage_exit(msg: String) -> Result<ExitCode> {
    Err(usage(msg))
}

/// The kommuner asked for, valid in `year`.
fn select(year: u16, spec: &str) -> std::result::Result<Vec<&'static Municipality>, String> {
    let all = municipality::municipalities(year).map_err(|e| e.to_string())?;
    if spec.trim() == "all" {
        return Ok(all.iter().collect());
    }
    let mut out = Vec::new();
    for nr in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let m = municipality::lookup(year, nr)
            .map_err(|e| format!("unknown kommunenummer {nr} for {year}: {e}"))?;
        if !out.iter().any(|o: &&Municipality| o.number() == m.number()) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err("--municipality names no kommune".into());
    }
    Ok(out)
}

fn write_kommune(
    root: &Path,
    year: u16,
    k: &Municipality,
    cfg: &GenConfig,
    run_seed: u64,
    plan: &DefectPlan,
) -> Result<KommuneEntry> {
    let data: KommuneData = generate_kommune(year, k, cfg, run_seed)
        .with_context(|| format!("generating kommune {} {}", k.number(), k.name()))?;
    let dir = root.join(k.number());
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();

    let write_file = |name: &str,
                      f: &dyn Fn(&mut HashingWriter<BufWriter<File>>) -> std::io::Result<()>|
     -> Result<FileEntry> {
        let path = dir.join(name);
        let mut w = HashingWriter::new(BufWriter::with_capacity(
            256 * 1024,
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?,
        ));
        f(&mut w).with_context(|| format!("cannot write {}", path.display()))?;
        let (_, sha256, bytes) = w.finish()?;
        Ok(FileEntry {
            name: format!("{}/{name}", k.number()),
            bytes,
            sha256,
        })
    };

    files.push(write_file("population.jsonl", &|w| {
        data.write_population_jsonl(w).map(|_| ())
    })?);

    let chosen: Vec<&'static Defect> = match plan {
        DefectPlan::None => Vec::new(),
        DefectPlan::Named(list) => list.clone(),
        DefectPlan::Rate(p) => defects::choose(
            &mut seed::stream_rng(run_seed, year, k.number(), "defect-choice"),
            *p,
        ),
    };
    let mut applied = Vec::new();
    if chosen.is_empty() {
        files.push(write_file("melding.xml", &|w| {
            write_message(&data.melding, w, OutputEncoding::Utf8).map(|_| ())
        })?);
    } else {
        let ctx = DefectContext::new(i32::from(year), k.number());
        let mut rng = seed::stream_rng(run_seed, year, k.number(), "defects");
        let (bytes, a) = defects::render(&data.melding, &chosen, &mut rng, &ctx)
            .with_context(|| format!("injecting defects into {}", k.number()))?;
        applied = a;
        files.push(write_file("melding.xml", &|w| w.write_all(&bytes))?);
    }
    files.push(write_file("korreksjoner.xml", &|w| {
        write_message(&data.korreksjoner, w, OutputEncoding::Utf8).map(|_| ())
    })?);

    let s = &data.stats;
    Ok(KommuneEntry {
        number: k.number().to_string(),
        name: k.name().to_string(),
        seed: data.seed,
        vendor: data.profile.leverandor.clone(),
        persons: s.persons,
        notifications: s.notifications,
        corrections: s.corrections_m + s.corrections_c,
        notifications_by_event_type: s.notifications_by_kind.clone(),
        notifications_by_service_type: s.notifications_by_service_type.clone(),
        defects: applied,
        files,
    })
}
