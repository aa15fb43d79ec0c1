//! The throughput test's load (PERF-01): the initial load of the largest kommune, Oslo
//! (0301: about 45 000 recipients at scale 1.0), whatever kommune the session is for.
//!
//! `certify init` generates Oslo's population at the session's `--scale` and seed as a
//! second population for the vendor (`perf/population.jsonl`: the EPJ loads it and exports
//! its initial load in the `perf-load` phase, to KPR Validering), and keeps its expected
//! initial load with the answer key (`harness/expected/perf-initial.xml`). PERF-01 is
//! decided on that load: the report states its size.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::message::{OutputEncoding, write_message};
use iplos_model::municipality;

/// The largest kommune, whose initial load the throughput test sends.
pub const PERF_KOMMUNE: &str = "0301";

/// The throughput load's population, for the vendor.
pub fn population(dir: &Path) -> PathBuf {
    dir.join("perf").join("population.jsonl")
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

/// Generates Oslo's population at `scale` and writes it and its expected initial load.
pub fn write(dir: &Path, year: u16, scale: f64, seed: u64) -> Result<PerfLoad> {
    let m = municipality::lookup(year, PERF_KOMMUNE)
        .with_context(|| format!("the throughput load's kommune {PERF_KOMMUNE} in {year}"))?;
    let mut data = generate_kommune(year, m, &GenConfig::with_scale(scale), seed)
        .with_context(|| format!("generating the throughput load ({PERF_KOMMUNE})"))?;
    let pop = population(dir);
    fs::create_dir_all(pop.parent().unwrap_or(dir))?;
    data.write_population_jsonl(BufWriter::new(fs::File::create(&pop)?))?;
    let initial = (data.stats.initial_load as usize).min(data.melding.notifikasjoner.len());
    data.melding.notifikasjoner.truncate(initial);
    let exp = expected(dir);
    fs::create_dir_all(exp.parent().unwrap_or(dir))?;
    write_message(
        &data.melding,
        BufWriter::new(fs::File::create(&exp)?),
        OutputEncoding::Utf8,
    )?;
    Ok(PerfLoad {
        persons: data.persons.len(),
        notifications: initial,
    })
}
