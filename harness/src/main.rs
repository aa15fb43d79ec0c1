//! `iplos-harness`: the dress rehearsal for Norway's yearly IPLOS reporting. The command
//! line only: everything it does is in the library (`iplos_harness::cmd`).
// The doc comments of the CLI are its --help texts: `<herid>` there is text, not HTML.
#![allow(rustdoc::invalid_html_tags)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use iplos_harness::cmd;
use iplos_harness::logging::{self, LogFormat};

/// The dress rehearsal for Norway's yearly IPLOS reporting: synthetic populations, mock
/// national endpoints, conformance checks for EPJ vendors.
///
/// Exit codes: 0 success (every file conforms), 1 a check found errors, 2 the command could
/// not run (usage error, unreadable file).
#[derive(Parser)]
#[command(name = "iplos-harness", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log level or filter for the logs on standard error (error, warn, info, debug, trace,
    /// or directives such as `iplos_mocks::intake=debug`); default: `RUST_LOG`, else error.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log line format: text for people, json (one object per line) for CI.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Check IPLOS 56.0.0 messages: well-formedness, the official XSD, and content rules.
    Check(cmd::check::Args),
    /// List the rule catalogue: id, category, severity, consequence, source.
    Rules(cmd::rules::Args),
    /// Generate synthetic populations and their messages for every kommune of a data year.
    Generate(cmd::generate::Args),
    /// Run the national side of the service bus (AMQP broker + KPR receiver) for vendors.
    Serve(cmd::serve::Args),
    /// Manage the test PKI (CA, register and kommune certificates).
    Pki(cmd::pki::Args),
    /// The dress rehearsal: replay a season for every kommune against the mocks.
    Rehearse(cmd::rehearse::Args),
    /// A vendor's certification session: prepare it, run it over AMQP, check files offline.
    Certify(cmd::certify::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Err(e) = logging::init(cli.log_level.as_deref(), cli.log_format) {
        eprintln!("iplos-harness: error: {e:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Check(a) => cmd::check::run(a),
        Command::Rules(a) => cmd::rules::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Pki(a) => cmd::pki::run(a),
        Command::Rehearse(a) => cmd::rehearse::run_cmd(a),
        Command::Certify(a) => cmd::certify::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("iplos-harness: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
