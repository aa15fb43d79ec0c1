//! Generates every kommune of a data year and prints the totals next to the official
//! figure, the service mix next to its targets, and the speed.
//!
//! `cargo run --release -p iplos-generators --example nation -- [YEAR] [SCALE] [SEED] [THREADS]`
//!
//! With THREADS > 1 the kommuner are shared among scoped threads (a kommune's output does
//! not depend on the thread, so the totals are the same).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use iplos_generators::services::SERVICES;
use iplos_generators::{GenConfig, Stats, generate_kommune, official_recipients};
use iplos_model::municipality::municipalities;

#[derive(Default)]
struct Totals {
    persons: usize,
    notifications: usize,
    corrections: usize,
    deaths: u64,
    alarms: u64,
    by_type: BTreeMap<String, u64>,
}

impl Totals {
    fn add(&mut self, s: &Stats, corrections: usize) {
        self.persons += s.persons as usize;
        self.notifications += s.notifications as usize;
        self.corrections += corrections;
        self.deaths += u64::from(s.deaths);
        self.alarms += u64::from(s.safety_alarms);
        for (t, n) in &s.recipients_by_type {
            *self.by_type.entry(t.clone()).or_default() += u64::from(*n);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let year: u16 = args.first().map_or(Ok(2024), |s| s.parse())?;
    let scale: f64 = args.get(1).map_or(Ok(1.0), |s| s.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let threads: usize = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let cfg = GenConfig::with_scale(scale);
    let all = municipalities(year)?;
    let start = Instant::now();
    let totals = Mutex::new(Totals::default());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(m) = all.get(i) else { break };
                    let d = generate_kommune(year, m, &cfg, seed).expect("generate");
                    let c = d.korreksjoner.notifikasjoner.len();
                    totals.lock().expect("lock").add(&d.stats, c);
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let t = totals.into_inner()?;
    let (official, source) = official_recipients(year)?;
    println!(
        "{year}: {} persons (official {official:.0}, {source:?}; {:+.2} %), \
         {} notifications, {} corrections",
        t.persons,
        (t.persons as f64 / (official * scale) - 1.0) * 100.0,
        t.notifications,
        t.corrections
    );
    println!(
        "{secs:.2} s on {threads} thread(s): {:.0} persons/s",
        t.persons as f64 / secs
    );
    println!("deaths {}, safety alarms {}", t.deaths, t.alarms);
    let level = official / 390_369.0 * scale;
    println!("recipients by service type (target = 2022 figure scaled to the year):");
    for spec in SERVICES {
        let got = if spec.code.0 == 6 {
            t.alarms
        } else {
            t.by_type.get(spec.code.as_str()).copied().unwrap_or(0)
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
