//! The throughput test's load (PERF-01): the initial load of the largest kommune, Oslo
//! (0301: about 45 000 recipients at scale 1.0), whatever kommune the session is for.
//!
//! `certify init` generates Oslo's population at the session's `--scale` and seed as a
//! second population for the vendor (`vendor/perf/population.jsonl`: the EPJ loads it and exports
//! its initial load in the `perf-load` phase, to KPR Validering), and keeps its expected
//! initial load with the answer key (`harness/expected/perf-initial.xml`). PERF-01 is
//! decided on that load: the report states its size.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use iplos_generators::{GenConfig, KommuneData, generate_kommune};
use iplos_model::message::{Melding, OutputEncoding, write_message};
use iplos_model::municipality;

/// The largest kommune, whose initial load the throughput test sends.
pub const PERF_KOMMUNE: &str = "0301";

/// The throughput load's population, for the vendor.
pub fn population(dir: &Path) -> PathBuf {
    crate::certify::session::vendor_dir(dir)
        .join("perf")
        .join("population.jsonl")
}

/// Its expected initial load, kept by the harness.
pub fn expected(dir: &Path) -> PathBuf {
    dir.join("harness")
        .join("expected")
        .join("perf-initial.xml")
}

/// What was generated.
pub struct PerfLoad {
    pub persons: usize,
    pub notifications: usize,
}

/// Generates Oslo's population at `scale` and `seed`, and its initial load (the message
/// PERF-01 is decided on).
pub fn generate(year: u16, scale: f64, seed: u64) -> Result<(KommuneData, Melding)> {
    let m = municipality::lookup(year, PERF_KOMMUNE)
        .with_context(|| format!("the throughput load's kommune {PERF_KOMMUNE} in {year}"))?;
    let data = generate_kommune(year, m, &GenConfig::with_scale(scale), seed)
        .with_context(|| format!("generating the throughput load ({PERF_KOMMUNE})"))?;
    let mut initial = data.melding.clone();
    let n = (data.stats.initial_load as usize).min(initial.notifikasjoner.len());
    initial.notifikasjoner.truncate(n);
    Ok((data, initial))
}

/// Generates Oslo's population at `scale` and writes it (for the vendor) and its expected
/// initial load (for the harness).
pub fn write(dir: &Path, year: u16, scale: f64, seed: u64) -> Result<PerfLoad> {
    let (data, initial) = generate(year, scale, seed)?;
    let pop = population(dir);
    fs::create_dir_all(pop.parent().unwrap_or(dir))?;
    data.write_population_jsonl(BufWriter::new(fs::File::create(&pop)?))?;
    let exp = expected(dir);
    fs::create_dir_all(exp.parent().unwrap_or(dir))?;
    write_message(
        &initial,
        BufWriter::new(fs::File::create(&exp)?),
        OutputEncoding::Utf8,
    )?;
    Ok(PerfLoad {
        persons: data.persons.len(),
        notifications: initial.notifikasjoner.len(),
    })
}
