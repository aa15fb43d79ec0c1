//! Times the generation of one kommune (persons only, and everything), single-threaded.
//!
//! `cargo run --release -p iplos-generators --example time_kommune -- YEAR KOMMUNENR SCALE [RUNS]`

use std::time::Instant;

use iplos_generators::{GenConfig, generate_kommune, generate_persons};
use iplos_model::municipality::lookup;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [year, nr, scale, rest @ ..] = &args[..] else {
        return Err("usage: time_kommune YEAR KOMMUNENR SCALE [RUNS]".into());
    };
    let runs: u32 = rest.first().map_or(Ok(5), |s| s.parse())?;
    let year: u16 = year.parse()?;
    let m = lookup(year, nr)?;
    let cfg = GenConfig::with_scale(scale.parse()?);
    for _ in 0..runs {
        let t = Instant::now();
        let (persons, _) = generate_persons(year, m, &cfg, 1)?;
        let tp = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let d = generate_kommune(year, m, &cfg, 1)?;
        let ta = t.elapsed().as_secs_f64();
        println!(
            "{} persons: persons {:.1} ms ({:.0}/s), everything {:.1} ms ({:.0}/s), {} notifications",
            persons.len(),
            tp * 1e3,
            persons.len() as f64 / tp,
            ta * 1e3,
            d.persons.len() as f64 / ta,
            d.melding.notifikasjoner.len()
        );
    }
    Ok(())
}
