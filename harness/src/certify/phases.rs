//! The phases of a transport session (`certify run`): what the vendor's tester is asked to
//! do, in which order, and which of the plan's tests each phase decides.
//!
//! A plan's tests say *what* is checked; a session needs an order of vendor actions in which
//! the faults can be injected one at a time. Each phase is one such action; the phases that
//! exist are the ones the plan's tests need (a plan without a `tls` test has no wrong-host
//! phase), always in this order:
//!
//! | phase | the vendor | the harness | decides |
//! |---|---|---|---|
//! | `test-submission` | sends the test submission (the whole export) to KPR Validering 131725 | answers normally | connect, sasl (logs in), certificate, properties, addressing, cms, msghead |
//! | `auth-refused` | sends again with the issued password (the tester enters no wrong password) | refuses the kommune's right password (SASL) for a while | sasl (reports the error, no tight loop) |
//! | `tls-wrong-host` | points the EPJ at the second port, whose certificate is for another host name | listens with that certificate | tls |
//! | `apprec-status-2` | sends the test submission | answers the first message AppRec 2 | apprec_status2_resend |
//! | `apprec-status-3` | sends the test submission | answers the first message AppRec 3 naming its last notifications | apprec_status3 |
//! | `error-queue` | sends the test submission | puts a transport error on the kommune's `_error` queue instead | error_queue |
//! | `lost-apprec` | sends the test submission | withholds the AppRec | duplicate |
//! | `connection-drop` | sends the test submission | stores the message, then drops the connection before the disposition | resilience_drop |
//! | `broker-unavailable` | sends the test submission | refuses TCP connections (port closed) for the fault's duration | resilience_unavailable |
//! | `slow-broker` | sends the test submission | delays every disposition and every AppRec | resilience_slow |
//! | `initial-load` | sends the initial load to KPR 134197 | answers normally | initial_load |
//! | `year-events` | sends the year's events to 134197 | answers normally | year_events |
//! | `corrections` | sends the corrections to 134197 | answers normally | corrections, annulments, chain, completeness |
//! | `perf-load` | sends the initial load of the throughput population (the largest kommune, Oslo, generated for the session: `perf/population.jsonl`) to KPR Validering 131725 | answers normally | throughput |
//! | `sendemodul-upload` | logs in to Sendemodul with the four values and uploads the annual file, split | a part limit smaller than the file | sendemodul_login, sendemodul_split |
//! | `sendemodul-refused` | logs in to a second portal that rejects the PIN | watches the attempts | sendemodul_login with `login_rejected` |
//!
//! `schema` and `content_rules` tests are decided over the messages of the content phases
//! (test submission, initial load, year's events, corrections): they judge the vendor's
//! export. The fault phases judge transport behaviour; what the register found in a resend
//! there (a duplicate GUID, say) is evidence for the fault's test, not a content finding.
//! The Sendemodul tests (optional, for vendors of the older formats) close the session.
//!
//! **\[model\]** Each phase to KPR Validering starts a fresh validation register (the chain
//! of the kommune's messages to 131725 is reset), so the same test submission can be sent in
//! every phase; the messages to KPR 134197 form one chain across the three content phases.
//!
//! # Time
//!
//! Every duration is the plan's (or this table's) multiplied by the session's time scale
//! (`certify run --time-scale`, 1 by default; a shorter scale is for rehearsing the harness
//! itself, and the report says so) — except the rules about the EPJ's own behaviour, which
//! are never scaled: the anti-hammering gap between two connection attempts is
//! [`ANTI_HAMMERING_GAP`] (10 s) at every scale, and the phases that watch an EPJ retry
//! (`auth-refused`, `connection-drop`, `broker-unavailable`, and `tls-wrong-host` after
//! `auth-refused`) wait at least
//! [`RETRY_PHASE_TIMEOUT`] so that a compliant EPJ backing off 10–15 s gets its turns. A
//! phase waits at most its longest test timeout (at least [`MIN_PHASE_TIMEOUT`] after
//! scaling, so a scaled session stays usable). Other durations:
//!
//! | what | unscaled |
//! |---|---|
//! | `auth-refused` lasts | 60 s (at least 30 s: three back-off gaps) |
//! | `tls-wrong-host` lasts at most | 60 s (at least 30 s: the EPJ may still be backing off; ends 1 s after an attempt was seen) |
//! | the shortest gap between two connection attempts (back-off) | 10 s, never scaled |
//! | after a phase is complete, the harness still watches for duplicates | 30 s (at least 0.5 s) |
//! | `lost-apprec` watches for resends after the first message | 300 s (at least 10 s) |
//! | `slow-broker`'s AppRec delay | 120 s |
//! | `sendemodul-refused` lasts | 60 s (at least 3 s) |
//! | after reconnecting from a dropped connection, the EPJ has to send again | 60 s (at least 15 s) |

use std::time::Duration;

use super::plan::{CheckKind, FaultKind, FaultSpec, Plan, Test};

/// The shortest a phase's timeout gets by scaling.
pub const MIN_PHASE_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest gap between two connection attempts an EPJ must keep (anti-hammering):
/// a rule about the EPJ's behaviour, not scaled by `--time-scale`.
pub const ANTI_HAMMERING_GAP: Duration = Duration::from_secs(10);

/// The shortest timeout of a phase that watches the EPJ retry: time for a few back-offs.
pub const RETRY_PHASE_TIMEOUT: Duration = Duration::from_secs(60);

/// A phase of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseKind {
    TestSubmission,
    AuthRefused,
    TlsWrongHost,
    ApprecStatus2,
    ApprecStatus3,
    ErrorQueue,
    LostApprec,
    ConnectionDrop,
    BrokerUnavailable,
    SlowBroker,
    InitialLoad,
    YearEvents,
    Corrections,
    PerfLoad,
    SendemodulUpload,
    SendemodulRefused,
}

impl PhaseKind {
    /// Every phase, in session order.
    pub const ALL: [PhaseKind; 16] = [
        PhaseKind::TestSubmission,
        PhaseKind::AuthRefused,
        PhaseKind::TlsWrongHost,
        PhaseKind::ApprecStatus2,
        PhaseKind::ApprecStatus3,
        PhaseKind::ErrorQueue,
        PhaseKind::LostApprec,
        PhaseKind::ConnectionDrop,
        PhaseKind::BrokerUnavailable,
        PhaseKind::SlowBroker,
        PhaseKind::InitialLoad,
        PhaseKind::YearEvents,
        PhaseKind::Corrections,
        PhaseKind::PerfLoad,
        PhaseKind::SendemodulUpload,
        PhaseKind::SendemodulRefused,
    ];

    /// The id shown to the tester and in `status.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::TestSubmission => "test-submission",
            PhaseKind::AuthRefused => "auth-refused",
            PhaseKind::TlsWrongHost => "tls-wrong-host",
            PhaseKind::ApprecStatus2 => "apprec-status-2",
            PhaseKind::ApprecStatus3 => "apprec-status-3",
            PhaseKind::ErrorQueue => "error-queue",
            PhaseKind::LostApprec => "lost-apprec",
            PhaseKind::ConnectionDrop => "connection-drop",
            PhaseKind::BrokerUnavailable => "broker-unavailable",
            PhaseKind::SlowBroker => "slow-broker",
            PhaseKind::InitialLoad => "initial-load",
            PhaseKind::YearEvents => "year-events",
            PhaseKind::Corrections => "corrections",
            PhaseKind::PerfLoad => "perf-load",
            PhaseKind::SendemodulUpload => "sendemodul-upload",
            PhaseKind::SendemodulRefused => "sendemodul-refused",
        }
    }

    /// Whether the vendor sends to KPR production (134197) in this phase (else KPR
    /// Validering 131725, or nothing).
    pub fn production(self) -> bool {
        matches!(
            self,
            PhaseKind::InitialLoad | PhaseKind::YearEvents | PhaseKind::Corrections
        )
    }

    /// Whether the phase is on Sendemodul (not the service bus).
    pub fn sendemodul(self) -> bool {
        matches!(
            self,
            PhaseKind::SendemodulUpload | PhaseKind::SendemodulRefused
        )
    }

    /// Whether the phase watches the EPJ retry a connection, or follows one that did (the
    /// EPJ may still be backing off): its timeout is at least [`RETRY_PHASE_TIMEOUT`] at
    /// every time scale.
    pub fn watches_retries(self) -> bool {
        matches!(
            self,
            PhaseKind::AuthRefused
                | PhaseKind::TlsWrongHost
                | PhaseKind::ConnectionDrop
                | PhaseKind::BrokerUnavailable
        )
    }

    /// Whether the vendor's messages in this phase are its export as it is (the content
    /// tests judge them).
    pub fn content(self) -> bool {
        self.production() || self == PhaseKind::TestSubmission
    }

    /// What the tester does, in words.
    pub fn instruction(self) -> &'static str {
        match self {
            PhaseKind::TestSubmission => {
                "Send the test submission — the EPJ's whole IPLOS export of the loaded population — to KPR Validering (HER-id 131725) over amqps with the issued credentials and certificates. Wait for the AppRec."
            }
            PhaseKind::AuthRefused => {
                "The harness now refuses the kommune's issued (right) password for a while, as if it had been changed; do not enter a wrong password. Send the test submission again as usual: the EPJ must show the authentication error and must not retry more than once per 10 seconds. When the phase ends, the password works again."
            }
            PhaseKind::TlsWrongHost => {
                "Point the EPJ at the wrong-host port (its certificate is for another host name) and try to send: the EPJ must refuse the certificate before logging in. Then point it back."
            }
            PhaseKind::ApprecStatus2 => {
                "Send the test submission. The harness answers it with AppRec status 2 (Avvist): show the error, fix, and send the same notifications again in a new message."
            }
            PhaseKind::ApprecStatus3 => {
                "Send the test submission. The harness answers AppRec status 3 naming rejected notifications: send those events again, corrected, as new notifications continuing the chain; do not resend the accepted ones."
            }
            PhaseKind::ErrorQueue => {
                "Send the test submission. The harness answers with a transport error on the kommune's _error queue instead of an AppRec: read it, relate it to the message, and send the message again."
            }
            PhaseKind::LostApprec => {
                "Send the test submission. The harness accepts it but withholds the AppRec: follow the EPJ's routine for a missing receipt (a resend must carry the same notifications and GUIDs)."
            }
            PhaseKind::ConnectionDrop => {
                "Send the test submission. The harness drops the connection in the middle of the transfer: the EPJ must reconnect and complete the submission, resending an unsettled message with the same message-id."
            }
            PhaseKind::BrokerUnavailable => {
                "Send the test submission now. The broker refuses connections for a while: the EPJ must retry with back-off (at most once per 10 seconds) and send once it is back."
            }
            PhaseKind::SlowBroker => {
                "Send the test submission. The broker delays every disposition and the AppRec comes late: the EPJ must wait, not resend or open connections without bound."
            }
            PhaseKind::InitialLoad => {
                "Send the initial load (every service and stop active at 1 January of the data year) to KPR (HER-id 134197)."
            }
            PhaseKind::YearEvents => {
                "Send the year's events (after the initial load, continuing its chain) to KPR (HER-id 134197)."
            }
            PhaseKind::Corrections => {
                "Make the corrections and annulments the session names in the EPJ and send them to KPR (HER-id 134197)."
            }
            PhaseKind::PerfLoad => {
                "Load the throughput population (perf/population.jsonl: the largest kommune, Oslo 0301, at the session's scale) into the EPJ and send its initial load (every service and stop active at 1 January of the data year) to KPR Validering (HER-id 131725). The time from its first message to the AppRec completing it is measured."
            }
            PhaseKind::SendemodulUpload => {
                "Log in to the harness's Sendemodul with the kommune's four values (kommunenummer, bydel 00, organisasjonsnummer, PIN) and upload the annual file; it is larger than the part limit, so split it and upload the parts."
            }
            PhaseKind::SendemodulRefused => {
                "Log in to the second Sendemodul portal (it rejects the kommune's PIN) with the same four values: the client must show the error and stop, not upload without a session or try the same values again and again."
            }
        }
    }

    /// The phase that decides a test (`None`: not part of a session).
    pub fn for_test(t: &Test) -> Option<PhaseKind> {
        match (t.kind, t.fault.as_ref().map(|f| f.kind)) {
            (CheckKind::SendemodulLogin, Some(FaultKind::LoginRejected)) => {
                Some(PhaseKind::SendemodulRefused)
            }
            (kind, _) => PhaseKind::of(kind),
        }
    }

    /// The phase that decides a test of this kind (a Sendemodul login test with the
    /// `login_rejected` fault: [`PhaseKind::for_test`]).
    fn of(kind: CheckKind) -> Option<PhaseKind> {
        Some(match kind {
            CheckKind::Connect
            | CheckKind::Certificate
            | CheckKind::Properties
            | CheckKind::Addressing
            | CheckKind::Cms
            | CheckKind::Msghead => PhaseKind::TestSubmission,
            CheckKind::Sasl => PhaseKind::AuthRefused,
            CheckKind::Tls => PhaseKind::TlsWrongHost,
            CheckKind::ApprecStatus2Resend => PhaseKind::ApprecStatus2,
            CheckKind::ApprecStatus3 => PhaseKind::ApprecStatus3,
            CheckKind::ErrorQueue => PhaseKind::ErrorQueue,
            CheckKind::Duplicate => PhaseKind::LostApprec,
            CheckKind::ResilienceDrop => PhaseKind::ConnectionDrop,
            CheckKind::ResilienceUnavailable => PhaseKind::BrokerUnavailable,
            CheckKind::ResilienceSlow => PhaseKind::SlowBroker,
            CheckKind::InitialLoad => PhaseKind::InitialLoad,
            CheckKind::Throughput => PhaseKind::PerfLoad,
            CheckKind::YearEvents => PhaseKind::YearEvents,
            CheckKind::Corrections
            | CheckKind::Annulments
            | CheckKind::Chain
            | CheckKind::Completeness => PhaseKind::Corrections,
            CheckKind::Schema | CheckKind::ContentRules => PhaseKind::Corrections,
            CheckKind::SendemodulLogin | CheckKind::SendemodulSplit => PhaseKind::SendemodulUpload,
        })
    }
}

/// The session's durations, scaled.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Timing {
    pub scale: f64,
    pub auth_refused: Duration,
    pub tls_wrong_host: Duration,
    pub min_attempt_gap: Duration,
    pub quiet: Duration,
    pub lost_apprec_window: Duration,
    /// After reconnecting from a dropped connection, how long the EPJ has to send again.
    pub resend_window: Duration,
    pub slow_apprec_delay: Duration,
    /// How long the refusing Sendemodul portal is watched.
    pub sendemodul_refused: Duration,
}

impl Timing {
    /// The durations for a time scale (1.0: as documented).
    pub fn new(scale: f64) -> Timing {
        let s = |secs: f64| Duration::from_secs_f64(secs * scale);
        Timing {
            scale,
            auth_refused: s(60.0).max(3 * ANTI_HAMMERING_GAP),
            // The EPJ may still be in a back-off from the phase before.
            tls_wrong_host: s(60.0).max(3 * ANTI_HAMMERING_GAP),
            min_attempt_gap: ANTI_HAMMERING_GAP,
            quiet: s(30.0).max(Duration::from_millis(500)),
            lost_apprec_window: s(300.0).max(Duration::from_secs(10)),
            resend_window: s(60.0).max(ANTI_HAMMERING_GAP + Duration::from_secs(5)),
            slow_apprec_delay: s(120.0),
            sendemodul_refused: s(60.0).max(Duration::from_secs(3)),
        }
    }

    /// A plan duration scaled.
    pub fn scaled(&self, d: Duration) -> Duration {
        Duration::from_secs_f64(d.as_secs_f64() * self.scale)
    }
}

/// One phase of a session.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Phase {
    pub kind: PhaseKind,
    /// The plan's tests this phase decides.
    pub tests: Vec<String>,
    /// The fault injected (from the first of its tests that has one).
    pub fault: Option<FaultSpec>,
    /// How long the harness waits for the phase to complete (scaled).
    pub timeout: Duration,
}

/// The phases a plan needs, in session order.
pub fn phases(plan: &Plan, timing: &Timing) -> Vec<Phase> {
    let mut out: Vec<Phase> = Vec::new();
    for kind in PhaseKind::ALL {
        let tests: Vec<_> = plan
            .tests()
            .filter(|t| PhaseKind::for_test(t.test) == Some(kind))
            .collect();
        // The content phases are always walked: the content tests judge their messages.
        if tests.is_empty() && !kind.content() {
            continue;
        }
        let longest = tests
            .iter()
            .map(|t| t.test.timeout_seconds)
            .max()
            .unwrap_or(600);
        out.push(Phase {
            kind,
            tests: tests.iter().map(|t| t.test.id.clone()).collect(),
            fault: tests.iter().find_map(|t| t.test.fault.clone()),
            timeout: timing
                .scaled(Duration::from_secs(longest))
                .max(if kind.watches_retries() {
                    RETRY_PHASE_TIMEOUT
                } else {
                    MIN_PHASE_TIMEOUT
                }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_scale_does_not_shorten_the_rules_about_the_epjs_behaviour() {
        let plan = Plan::embedded().unwrap();
        let t = Timing::new(0.01);
        assert_eq!(t.min_attempt_gap, Duration::from_secs(10));
        assert!(t.auth_refused >= 3 * t.min_attempt_gap);
        assert!(t.resend_window > t.min_attempt_gap);
        for p in phases(&plan, &t) {
            if p.kind.watches_retries() {
                assert!(p.timeout >= RETRY_PHASE_TIMEOUT, "{:?}", p.kind);
            }
        }
    }

    #[test]
    fn the_shipped_plan_needs_every_phase_in_order_and_every_amqp_test_has_one() {
        let plan = Plan::embedded().unwrap();
        let p = phases(&plan, &Timing::new(1.0));
        let kinds: Vec<PhaseKind> = p.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, PhaseKind::ALL.to_vec());
        let decided: Vec<&String> = p.iter().flat_map(|p| &p.tests).collect();
        for t in plan.tests() {
            assert!(
                decided.contains(&&t.test.id),
                "{} is decided by a phase",
                t.test.id
            );
        }
        let refused = p
            .iter()
            .find(|p| p.kind == PhaseKind::SendemodulRefused)
            .unwrap();
        assert_eq!(
            refused.tests,
            ["SM-02"],
            "the rejected login has its own phase"
        );
        let drop = p
            .iter()
            .find(|p| p.kind == PhaseKind::ConnectionDrop)
            .unwrap();
        assert!(drop.fault.is_some(), "the drop phase carries its fault");
    }

    #[test]
    fn scaling_shortens_durations_but_not_below_the_floors() {
        let t = Timing::new(0.001);
        assert_eq!(t.quiet, Duration::from_millis(500));
        assert_eq!(t.lost_apprec_window, Duration::from_secs(10));
        let plan = Plan::embedded().unwrap();
        assert!(
            phases(&plan, &t)
                .iter()
                .all(|p| p.timeout >= MIN_PHASE_TIMEOUT)
        );
    }
}
