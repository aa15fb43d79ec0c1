//! One module per subcommand.

pub mod broker;
pub mod certify;
pub mod check;
pub mod generate;
pub mod pki;
pub mod rehearse;
pub mod rules;
pub mod serve;

/// Output format of the reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: one line per finding, like a compiler.
    Text,
    /// For machines: one JSON object per file (JSON Lines).
    Json,
}
