//! Generates one kommune and writes melding.xml, korreksjoner.xml, population.jsonl and
//! stats.json into a directory.
//!
//! `cargo run --release -p iplos-generators --example generate_one -- YEAR KOMMUNENR SCALE SEED OUTDIR`

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::message::{OutputEncoding, write_message};
use iplos_model::municipality::lookup;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [year, nr, scale, seed, dir] = &args[..] else {
        return Err("usage: generate_one YEAR KOMMUNENR SCALE SEED OUTDIR".into());
    };
    let year: u16 = year.parse()?;
    let m = lookup(year, nr)?;
    let d = generate_kommune(
        year,
        m,
        &GenConfig::with_scale(scale.parse()?),
        seed.parse()?,
    )?;
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    write_message(
        &d.melding,
        BufWriter::new(File::create(dir.join("melding.xml"))?),
        OutputEncoding::Utf8,
    )?;
    write_message(
        &d.korreksjoner,
        BufWriter::new(File::create(dir.join("korreksjoner.xml"))?),
        OutputEncoding::Utf8,
    )?;
    d.write_population_jsonl(BufWriter::new(File::create(dir.join("population.jsonl"))?))?;
    serde_json::to_writer_pretty(File::create(dir.join("stats.json"))?, &d.stats)?;
    serde_json::to_writer_pretty(File::create(dir.join("profile.json"))?, &d.profile)?;
    println!("{}", serde_json::to_string_pretty(&d.stats)?);
    Ok(())
}
