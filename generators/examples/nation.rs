//! Generates every kommune of a data year one after the other (single-threaded) and prints
//! the totals next to the official figure, and the speed.
//!
//! `cargo run --release -p iplos-generators --example nation -- [YEAR] [SCALE] [SEED]`

use std::time::Instant;

use std::collections::BTreeMap;

use iplos_generators::services::SERVICES;
use iplos_generators::{GenConfig, generate_kommune, official_recipients};
use iplos_model::municipality::municipalities;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let year: u16 = args.first().map_or(Ok(2024), |s| s.parse())?;
    let scale: f64 = args.get(1).map_or(Ok(1.0), |s| s.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let cfg = GenConfig::with_scale(scale);
    let start = Instant::now();
    let (mut persons, mut notifications, mut corrections) = (0usize, 0usize, 0usize);
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let (mut deaths, mut alarms) = (0u64, 0u64);
    for m in municipalities(year)? {
        let d = generate_kommune(year, m, &cfg, seed)?;
        persons += d.persons.len();
        notifications += d.melding.notifikasjoner.len();
        corrections += d.korreksjoner.notifikasjoner.len();
        for (t, n) in &d.stats.recipients_by_type {
            *by_type.entry(t.clone()).or_default() += u64::from(*n);
        }
        deaths += u64::from(d.stats.deaths);
        alarms += u64::from(d.stats.safety_alarms);
    }
    let secs = start.elapsed().as_secs_f64();
    let (official, source) = official_recipients(year)?;
    println!(
        "{year}: {persons} persons (official {official:.0}, {source:?}; {:+.2} %), \
         {notifications} notifications, {corrections} corrections",
        (persons as f64 / (official * scale) - 1.0) * 100.0
    );
    println!(
        "{secs:.2} s single-threaded: {:.0} persons/s",
        persons as f64 / secs
    );
    println!("deaths {deaths}, safety alarms {alarms}");
    let level = official / 390_369.0 * scale;
    println!("recipients by service type (target = 2022 figure scaled to the year):");
    for spec in SERVICES {
        let got = if spec.code.0 == 6 {
            alarms
        } else {
            by_type.get(spec.code.as_str()).copied().unwrap_or(0)
        };
        let target = spec.recipients_2022 * level;
        println!(
            "  {:>2} {:<55} {got:>7}  target {target:>8.0}  {:+.1} %",
            spec.code.as_str(),
            spec.code.name(),
            (got as f64 / target - 1.0) * 100.0
        );
    }
    Ok(())
}
