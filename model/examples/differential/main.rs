//! Differential run of `check` against libxml2 (`xmllint --noout --schema`).
//!
//! ```sh
//! cargo run -p iplos-model --example differential -- --inputs 100000 --seed 1 --out target/differential
//! ```
//!
//! Every disagreement is written to `--out` as `dNNNNN.xml` with `dNNNNN.txt` (both
//! verdicts, the mutations, xmllint's lines and our findings). Exit code 1 when there was
//! a disagreement.

mod engine;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut cfg = engine::Config {
        inputs: 10_000,
        seed: 1,
        out: None,
        batch: 500,
        xsd: engine::default_xsd(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "--inputs" => cfg.inputs = value().parse().unwrap_or(cfg.inputs),
            "--seed" => cfg.seed = value().parse().unwrap_or(cfg.seed),
            "--out" => cfg.out = Some(PathBuf::from(value())),
            "--batch" => cfg.batch = value().parse().unwrap_or(cfg.batch).max(1),
            "--xsd" => cfg.xsd = PathBuf::from(value()),
            _ => {
                eprintln!(
                    "usage: differential [--inputs N] [--seed S] [--out DIR] [--batch N] [--xsd FILE]"
                );
                return ExitCode::from(2);
            }
        }
    }
    if !engine::have_xmllint() {
        eprintln!("xmllint is not installed (Debian: libxml2-utils)");
        return ExitCode::from(2);
    }
    match engine::run(&cfg) {
        Ok(summary) => {
            println!("{}", summary.line());
            if summary.disagreements.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("differential: {e}");
            ExitCode::from(2)
        }
    }
}
