//! Logs: the `tracing` events of every crate, to standard error, filtered by `--log-level`
//! or `RUST_LOG`, as text for people or JSON lines for CI; timestamps in Europe/Oslo.
//!
//! Precedence: `--log-level` when given, else `RUST_LOG`, else `error` (so that a failure
//! inside a server — a checker that panicked, a store that could not commit — is always
//! seen, while the refusals a rehearsal provokes on purpose are not printed).

use anyhow::{Context, Result};
use chrono_tz::Europe::Oslo;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// Timestamps in Europe/Oslo with their offset (`2026-12-07T16:11:55.353+01:00`).
struct OsloTime;

impl FormatTime for OsloTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = chrono::Utc::now().with_timezone(&Oslo);
        write!(w, "{}", now.format("%Y-%m-%dT%H:%M:%S%.3f%:z"))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event, for people.
    #[default]
    Text,
    /// One JSON object per event (timestamp, level, target, fields), for CI and log tools.
    Json,
}

/// The filter used when neither `--log-level` nor `RUST_LOG` says anything.
pub const DEFAULT_FILTER: &str = "error";

/// Installs the global subscriber. `level` is a level (`error`, `warn`, `info`, `debug`,
/// `trace`) or any `RUST_LOG` directive list (`iplos_mocks::intake=debug,warn`).
pub fn init(level: Option<&str>, format: LogFormat) -> Result<()> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).with_context(|| format!("--log-level {l:?}"))?,
        None => match std::env::var("RUST_LOG") {
            Ok(v) if !v.trim().is_empty() => {
                EnvFilter::try_new(&v).with_context(|| format!("RUST_LOG={v:?}"))?
            }
            _ => EnvFilter::new(DEFAULT_FILTER),
        },
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(OsloTime)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}
