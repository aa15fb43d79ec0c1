//! Between phases: which coming phases need not be walked because every test they decide
//! is already blocked by a root cause (a vendor whose payload is never signed cannot show
//! anything in the receipt, resilience or content phases: each of their tests would be
//! reported "blocked by CMS-01" whatever happened). The walk skips them and says so; a
//! broken vendor's session is short.
//!
//! The check judges what has been observed so far, as the end of the session will
//! ([`crate::certify::judge::blocked_phases`]), writing the messages' content to the
//! evidence directory under the names the final collection gives them.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use iplos_mocks::receiver::RunStore;
use iplos_mocks::servicebus::BrokerFaults;

use super::collect::{self, Observed};
use super::content::ContentCache;
use super::walk::{Blocked, Walked};
use crate::certify::judge::{self, Ctx, Expected};
use crate::certify::phases::{PhaseKind, Timing};
use crate::certify::plan::Plan;
use crate::certify::record::{SmRecord, WrongHostAttempt};
use crate::certify::session::Session;

/// What the check reads: the register's store, the broker's log, the answer key, the plan.
pub struct Skipper<'a> {
    pub store: &'a RunStore,
    pub session: &'a Session,
    pub username: &'a str,
    pub timing: Timing,
    pub plan: &'a Plan,
    pub expected: &'a Expected,
    pub faults: &'a BrokerFaults,
    pub wrong_host: &'a Arc<Mutex<Vec<WrongHostAttempt>>>,
    pub evidence: &'a Path,
}

impl Blocked for Skipper<'_> {
    fn blocked(
        &self,
        walked: Walked,
        coming: &[PhaseKind],
        cache: &ContentCache,
    ) -> Result<Vec<Option<Vec<String>>>> {
        let selected: Vec<PhaseKind> = walked.phases.iter().map(|p| p.kind).collect();
        // The Sendemodul phases come last: nothing of them has been observed yet.
        let sendemodul = SmRecord {
            part_limit: 0,
            attempts: Vec::new(),
            refusing_attempts: Vec::new(),
            submissions: Vec::new(),
        };
        let observed = Observed {
            walked,
            connections: self.faults.events(),
            wrong_host: self
                .wrong_host
                .lock()
                .map(|l| l.clone())
                .unwrap_or_default(),
            sendemodul,
        };
        // The final collection takes the parsed content out of the cache: judge a copy.
        let mut cache = cache.clone();
        let rec = collect::recording(
            self.store,
            self.session,
            self.username,
            self.timing,
            observed,
            self.evidence,
            &mut cache,
        )?;
        let ctx = Ctx {
            rec: &rec,
            expected: self.expected,
            plan: self.plan,
            selected: &selected,
        };
        Ok(judge::blocked_phases(&ctx, coming))
    }
}
