//! `iplos-harness rules`: the rule catalogue.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Result;
use iplos_model::rules::catalogue;

use super::Format;

/// List every rule the checker applies.
#[derive(clap::Args)]
pub struct Args {
    /// Output format (json: one array of rule objects).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, catalogue::ALL)?;
            writeln!(out)?;
        }
        Format::Text => {
            writeln!(
                out,
                "{:<6} {:<10} {:<8} {:<15} TITLE (SOURCE)",
                "RULE", "CATEGORY", "SEVERITY", "CONSEQUENCE"
            )?;
            for r in catalogue::ALL {
                let v = serde_json::to_value(r)?;
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                writeln!(
                    out,
                    "{:<6} {:<10} {:<8} {:<15} {} ({})",
                    r.id,
                    s("category"),
                    s("severity"),
                    s("consequence"),
                    r.title,
                    r.source
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
