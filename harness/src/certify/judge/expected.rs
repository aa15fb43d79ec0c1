//! The answer key of a session: the expected ordinary submission and corrections.

use iplos_model::message::Melding;

use crate::certify::session::Session;

/// The answer key.
pub struct Expected {
    pub ordinary: Melding,
    pub corrections: Melding,
    /// The first `initial_load` notifications of `ordinary` are the initial load.
    pub initial_load: usize,
    /// The throughput test's load: the largest kommune's initial load
    /// ([`crate::certify::perf`]); `None` for sessions made before it existed.
    pub perf: Option<Melding>,
}

impl Expected {
    /// The session's answer key (`harness/expected/`), read once for everyone who needs it
    /// (`certify run`, `certify check`, the reference EPJ).
    pub fn load(dir: &std::path::Path, session: &Session) -> anyhow::Result<Expected> {
        use anyhow::Context as _;
        let read = |p: std::path::PathBuf| -> anyhow::Result<Melding> {
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            Ok(iplos_model::compare::read_received(
                &bytes,
                &iplos_model::rules::CheckOptions::default(),
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
            .melding)
        };
        let ordinary = read(Session::expected_ordinary(dir))?;
        let initial_load = if session.initial_load > 0 {
            session.initial_load
        } else {
            // Sessions made before the count was kept: the initial load is dated at the
            // cut-off and comes first.
            let cutoff = format!("{}-01-01", session.year);
            ordinary
                .notifikasjoner
                .iter()
                .take_while(|n| n.tid.starts_with(&cutoff))
                .count()
        };
        let perf = crate::certify::perf::expected(dir);
        Ok(Expected {
            ordinary,
            corrections: read(Session::expected_corrections(dir))?,
            initial_load,
            perf: if perf.exists() {
                Some(read(perf)?)
            } else {
                None
            },
        })
    }

    fn part(&self, range: std::ops::Range<usize>) -> Melding {
        let mut m = self.ordinary.clone();
        m.notifikasjoner = self.ordinary.notifikasjoner[range].to_vec();
        m
    }

    /// The expected initial load.
    pub fn initial(&self) -> Melding {
        self.part(0..self.initial_load.min(self.ordinary.notifikasjoner.len()))
    }

    /// The expected year's events.
    pub fn year(&self) -> Melding {
        let n = self.ordinary.notifikasjoner.len();
        self.part(self.initial_load.min(n)..n)
    }
}
