//! Generates and checks every kommune of a data year (single-threaded), without telling the
//! checker the year (it infers it from the latest hendelseDato), and prints every finding.
//!
//! `cargo run --release -p iplos-generators --example check_nation -- [YEAR] [SCALE] [SEED]`

use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::message::{OutputEncoding, write_message};
use iplos_model::municipality::municipalities;
use iplos_model::rules::{CheckOptions, ContentState, check_stream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let year: u16 = args.first().map_or(Ok(2024), |s| s.parse())?;
    let scale: f64 = args.get(1).map_or(Ok(1.0), |s| s.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let opts = CheckOptions::default();
    let (mut files, mut findings) = (0, 0);
    for m in municipalities(year)? {
        let d = generate_kommune(year, m, &GenConfig::with_scale(scale), seed)?;
        let mut state = ContentState::new();
        for (name, msg) in [("melding", &d.melding), ("korreksjoner", &d.korreksjoner)] {
            let xml = write_message(msg, Vec::new(), OutputEncoding::Utf8)?;
            let r = check_stream(&xml[..], &opts, &mut state, &mut |_| {});
            files += 1;
            for f in &r.findings {
                findings += 1;
                println!(
                    "{year} {} {name} (inferred year {:?}): {} {}",
                    m.number(),
                    r.data_year,
                    f.rule,
                    f.message
                );
            }
        }
    }
    println!("{files} messages checked, {findings} findings");
    Ok(())
}
