//! The walk of the phases ([`crate::certify::phases`]): each with its instruction on the
//! console and the live page, its fault armed, waiting until what it waits for has happened
//! or its timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use iplos_mocks::intake::Intake;
use iplos_mocks::receiver::{
    DeliveryRecord, Injection, KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID, MessageRecord,
    Outcome, RunStore,
};
use iplos_mocks::sendemodul::Sendemodul;
use iplos_mocks::servicebus::{BrokerFaults, ConnEventKind};
use iplos_model::compare::{CompareOptions, compare};
use iplos_model::ids::HerId;

use super::content::ContentCache;
use super::injector::SessionInjector;
use super::live::{Live, set_done, set_phase};
use super::servers::Servers;
use crate::certify::judge::{Expected, STATUS3_NAMED};
use crate::certify::phases::{Phase, PhaseKind, Timing};
use crate::certify::plan::FaultKind;
use crate::certify::record::{PhaseRecord, WrongHostAttempt};

/// How the note of a phase that ran its time without seeing what it watches for begins
/// (the console and the page then show ○, not ✓).
pub const NOT_OBSERVED: &str = "not observed";

/// What the walk needs: the servers to arm and watch, the answer key, the live page.
pub struct Walk<'a> {
    pub intake: &'a Intake,
    /// The portal that rejects the kommune's PIN.
    pub refusing: &'a Sendemodul,
    pub kommune_nr: &'a str,
    pub expected: &'a Expected,
    pub store: &'a Arc<RunStore>,
    pub faults: &'a BrokerFaults,
    pub injector: &'a SessionInjector,
    /// The national side: the kommune's `_error` queue and the register's content state.
    pub servers: &'a Servers,
    pub kommune: HerId,
    pub username: &'a str,
    pub timing: &'a Timing,
    pub wrong_host: &'a Arc<Mutex<Vec<WrongHostAttempt>>>,
    pub live: &'a Live,
    /// Decides which coming phases are blocked whole (those are skipped).
    pub blocked: Option<&'a dyn Blocked>,
}

/// Between phases, for the coming ones: the failed tests that block every test a phase
/// decides (`None`: a test of it could still be decided), from what was walked so far.
pub trait Blocked {
    fn blocked(
        &self,
        walked: Walked,
        coming: &[PhaseKind],
        cache: &ContentCache,
    ) -> Result<Vec<Option<Vec<String>>>>;
}

/// The phases as they ran.
pub struct Walked {
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub phases: Vec<PhaseRecord>,
    /// Messages left unread on the kommune's `_error` queue after the error-queue phase.
    pub error_queue_left: Option<Result<usize, String>>,
}

/// When a phase started, and when its outage ends.
#[derive(Clone, Copy)]
struct PhaseTimes {
    started: DateTime<Utc>,
    t0: Instant,
    outage: Option<Instant>,
}

/// A content phase's expected events and the accepted messages last compared with them.
#[derive(Default)]
struct Coverage {
    want: Option<iplos_model::message::Melding>,
    compared: Vec<i64>,
}

/// What the loop looks at: the kommune's messages since the phase started, with their first
/// delivery's reply time.
struct Seen {
    msgs: Vec<(MessageRecord, Option<DateTime<Utc>>)>,
}

impl Seen {
    fn answered(&self, after_row: i64) -> bool {
        self.msgs.iter().any(|(m, replied)| {
            m.id > after_row
                && replied.is_some()
                && m.outcome == Some(Outcome::AppRec)
                && matches!(m.status.as_deref(), Some("1" | "3"))
        })
    }

    fn injected(&self, name: &str) -> Option<&MessageRecord> {
        self.msgs
            .iter()
            .map(|(m, _)| m)
            .find(|m| m.injected.as_deref() == Some(name))
    }
}

impl Walk<'_> {
    /// Walks the `selected` ones of `all` phases, in order.
    pub async fn walk(
        &self,
        all: &[Phase],
        selected: &[PhaseKind],
        cache: &mut ContentCache,
    ) -> Result<Walked> {
        let started = Utc::now();
        let mut records: Vec<PhaseRecord> = Vec::new();
        let mut error_queue_left = None;
        let selected_phases: Vec<&Phase> =
            all.iter().filter(|p| selected.contains(&p.kind)).collect();
        let mut skip: Vec<(PhaseKind, Vec<String>)> = Vec::new();
        for (i, phase) in all.iter().enumerate() {
            if !selected.contains(&phase.kind) {
                continue;
            }
            let pos = selected_phases
                .iter()
                .position(|p| p.kind == phase.kind)
                .unwrap_or(0);
            if let Some((_, by)) = skip.iter().find(|(k, _)| *k == phase.kind) {
                let note = format!("skipped: every test blocked by {}", by.join(", "));
                println!(
                    "\n[{}/{}] {} — {note}",
                    pos + 1,
                    selected_phases.len(),
                    phase.kind.as_str()
                );
                self.live_phase(phase.kind.as_str(), "skipped", &note, i + 1, None);
                continue;
            }
            let rec = self
                .phase(phase, i + 1, pos + 1, selected_phases.len(), cache)
                .await?;
            if phase.kind == PhaseKind::ErrorQueue {
                error_queue_left = Some(self.servers.error_queue_left(self.kommune).await);
            }
            if let Some(prev) = records.last_mut() {
                prev.ended = rec.started;
            }
            records.push(rec);
            skip = self.blocked_coming(
                started,
                &records,
                error_queue_left.clone(),
                &selected_phases[pos + 1..],
                cache,
            );
        }
        let ended = Utc::now();
        if let Some(prev) = records.last_mut() {
            prev.ended = ended;
        }
        set_done(self.live);
        Ok(Walked {
            started,
            ended,
            phases: records,
            error_queue_left,
        })
    }

    /// The coming phases blocked whole, with what blocks them (none when the check fails:
    /// then every phase is walked).
    fn blocked_coming(
        &self,
        started: DateTime<Utc>,
        records: &[PhaseRecord],
        error_queue_left: Option<Result<usize, String>>,
        coming: &[&Phase],
        cache: &ContentCache,
    ) -> Vec<(PhaseKind, Vec<String>)> {
        let Some(b) = self.blocked else {
            return Vec::new();
        };
        // Nothing can block while every phase completed and every message the harness did
        // not answer on purpose was accepted (the check reads every message so far).
        let clean = records.iter().all(|r| r.completed)
            && self.seen(started).is_ok_and(|seen| {
                !seen.msgs.is_empty()
                    && seen.msgs.iter().all(|(m, _)| {
                        m.injected.is_some()
                            || (m.outcome == Some(Outcome::AppRec)
                                && matches!(m.status.as_deref(), Some("1" | "3")))
                    })
            });
        if clean {
            return Vec::new();
        }
        let kinds: Vec<PhaseKind> = coming.iter().map(|p| p.kind).collect();
        let mut so_far = records.to_vec();
        if let Some(last) = so_far.last_mut() {
            last.ended = Utc::now();
        }
        let walked = Walked {
            started,
            ended: Utc::now(),
            phases: so_far,
            error_queue_left,
        };
        match b.blocked(walked, &kinds, cache) {
            Ok(v) => kinds
                .into_iter()
                .zip(v)
                .filter_map(|(k, by)| by.map(|by| (k, by)))
                .collect(),
            Err(e) => {
                println!("  (could not check which phases are blocked: {e:#})");
                Vec::new()
            }
        }
    }

    fn seen(&self, since: DateTime<Utc>) -> Result<Seen> {
        let deliveries: Vec<DeliveryRecord> = self.store.deliveries()?;
        let mut first_reply: HashMap<i64, Option<DateTime<Utc>>> = HashMap::new();
        for d in &deliveries {
            first_reply.entry(d.message).or_insert(d.replied);
        }
        let her = self.kommune.to_string();
        let msgs = self
            .store
            .messages()?
            .into_iter()
            .filter(|m| {
                m.received >= since && m.from_her.as_deref().map(str::trim) == Some(her.as_str())
            })
            .map(|m| {
                let r = first_reply.get(&m.id).copied().flatten();
                (m, r)
            })
            .collect();
        Ok(Seen { msgs })
    }

    fn live_phase(&self, id: &str, state: &str, note: &str, seq: usize, messages: Option<usize>) {
        set_phase(self.live, id, state, note, seq, messages);
    }

    async fn phase(
        &self,
        phase: &Phase,
        seq: usize,
        pos: usize,
        of: usize,
        cache: &mut ContentCache,
    ) -> Result<PhaseRecord> {
        let kind = phase.kind;
        let started = Utc::now();
        let t0 = Instant::now();
        println!(
            "\n[{pos}/{of}] {} (tests {}) — waiting up to {:.0} s",
            kind.as_str(),
            match phase.tests.len() {
                0 => "of the content phases".to_string(),
                n if n > 8 => format!("{} and {} more", phase.tests[..4].join(", "), n - 4),
                _ => phase.tests.join(", "),
            },
            phase.timeout.as_secs_f64()
        );
        println!("  {}", kind.instruction());
        self.live_phase(kind.as_str(), "running", "", seq, None);
        let outage = self.arm(phase);
        let deadline = t0 + phase.timeout;
        let times = PhaseTimes {
            started,
            t0,
            outage,
        };
        let mut coverage = Coverage::default();
        let mut printed = 0usize;
        let (completed, note) = loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let seen = self.seen(started)?;
            for (m, _) in seen.msgs.iter().skip(printed) {
                if m.state == iplos_mocks::receiver::MessageState::Checked {
                    println!(
                        "  ← {} on {}: {}{}",
                        m.message_id.as_deref().unwrap_or("(no message-id)"),
                        m.queue,
                        match m.outcome {
                            Some(Outcome::AppRec) =>
                                format!("AppRec status {}", m.status.as_deref().unwrap_or("?")),
                            Some(Outcome::Error) =>
                                format!("error {}", m.error_condition.map_or("?", |c| c.as_str())),
                            o => o.map_or("?", Outcome::as_str).to_string(),
                        },
                        m.injected
                            .as_deref()
                            .map(|i| format!(" (injected: {i})"))
                            .unwrap_or_default()
                    );
                    printed += 1;
                } else {
                    break;
                }
            }
            self.live_phase(
                kind.as_str(),
                "running",
                &format!("{} message(s) so far", seen.msgs.len()),
                seq,
                Some(seen.msgs.len()),
            );
            if let Some(done) = self.done(phase, &seen, &times, cache, &mut coverage)? {
                break (true, done);
            }
            if Instant::now() >= deadline {
                break (false, self.waiting_for(kind, &seen));
            }
        };
        self.disarm(kind);
        let observed = !note.starts_with(NOT_OBSERVED);
        if completed {
            // Resends and duplicates that follow completion still belong to the phase.
            tokio::time::sleep(self.timing.quiet).await;
            // ✓ only when something happened: a phase that ran its time and saw nothing
            // tested nothing.
            let mark = if observed { "✓" } else { "○" };
            println!("  {mark} {note} ({:.1} s)", t0.elapsed().as_secs_f64());
        } else {
            println!(
                "  ✗ timed out after {:.1} s: {note}",
                t0.elapsed().as_secs_f64()
            );
        }
        self.live_phase(
            kind.as_str(),
            match (completed, observed) {
                (true, true) => "completed",
                (true, false) => "not-observed",
                (false, _) => "timed-out",
            },
            &note,
            seq,
            None,
        );
        Ok(PhaseRecord {
            kind,
            started,
            ended: Utc::now(),
            completed,
            timeout_seconds: phase.timeout.as_secs_f64(),
            note,
        })
    }

    /// Arms the phase's fault; returns when an outage ends.
    fn arm(&self, phase: &Phase) -> Option<Instant> {
        let kind = phase.kind;
        let register = if kind.production() {
            HerId::new(KPR_PRODUCTION_HER_ID).ok()
        } else {
            HerId::new(KPR_VALIDATION_HER_ID).ok()
        };
        let register = register?;
        if !kind.production() && !kind.sendemodul() {
            // Each test submission to KPR Validering starts a fresh register.
            self.servers.reset_content(register, self.kommune);
        }
        let fault = phase.fault.as_ref();
        let why = |test: &str, what: &str| format!("the certification session ({test}) {what}");
        let (once, each) = match kind {
            PhaseKind::ApprecStatus2 => (
                Some(Injection::Rejected {
                    reason: why(
                        "RECEIPT-01",
                        "rejects this message: fix and send the same notifications again in a new message",
                    ),
                }),
                None,
            ),
            PhaseKind::ApprecStatus3 => (
                Some(Injection::PartlyRejected {
                    count: STATUS3_NAMED,
                    reason: why(
                        "RECEIPT-02",
                        "rejects this notification: send it again, corrected, as a new notification",
                    ),
                }),
                None,
            ),
            PhaseKind::ErrorQueue => (
                Some(Injection::TransportError {
                    description: why(
                        "RECEIPT-03",
                        "injected this transport error: send the message again",
                    ),
                }),
                None,
            ),
            PhaseKind::LostApprec => (Some(Injection::WithholdReply), None),
            PhaseKind::SlowBroker => (
                None,
                Some(Injection::DelayReply(self.timing.slow_apprec_delay)),
            ),
            _ => (None, None),
        };
        let at = fault.and_then(|f| f.after_messages).unwrap_or(1);
        self.injector.arm(self.kommune, register, (once, at), each);
        let mut outage = None;
        match (kind, fault.map(|f| f.kind)) {
            (PhaseKind::AuthRefused, _) => {
                self.faults.set_refuse_auth(Some(self.username.to_string()))
            }
            (PhaseKind::ConnectionDrop, Some(FaultKind::DropConnection)) => {
                self.faults.drop_after_store(
                    self.username,
                    fault.and_then(|f| f.after_messages).unwrap_or(1),
                )
            }
            (PhaseKind::BrokerUnavailable, Some(FaultKind::BrokerUnavailable)) => {
                let d = self.timing.scaled(Duration::from_secs(u64::from(
                    fault.and_then(|f| f.duration_seconds).unwrap_or(600),
                )));
                let until = Instant::now() + d;
                self.faults.set_unavailable_until(Some(until));
                outage = Some(until);
            }
            (PhaseKind::SlowBroker, Some(FaultKind::SlowBroker)) => self
                .faults
                .set_disposition_delay(self.timing.scaled(Duration::from_millis(u64::from(
                    fault.and_then(|f| f.delay_ms).unwrap_or(5000),
                )))),
            _ => {}
        }
        outage
    }

    fn disarm(&self, kind: PhaseKind) {
        self.injector.disarm();
        match kind {
            PhaseKind::AuthRefused => self.faults.set_refuse_auth(None),
            PhaseKind::BrokerUnavailable => self.faults.set_unavailable_until(None),
            PhaseKind::SlowBroker => self.faults.set_disposition_delay(Duration::ZERO),
            _ => {}
        }
    }

    /// `Some(what happened)` once the phase is complete.
    fn done(
        &self,
        phase: &Phase,
        seen: &Seen,
        times: &PhaseTimes,
        cache: &mut ContentCache,
        coverage: &mut Coverage,
    ) -> Result<Option<String>> {
        let PhaseTimes {
            started,
            t0,
            outage,
        } = *times;
        let events_since = |f: &dyn Fn(&ConnEventKind) -> bool| {
            self.faults
                .events()
                .into_iter()
                .filter(|e| e.at >= started && f(&e.kind))
                .count()
        };
        Ok(match phase.kind {
            PhaseKind::TestSubmission | PhaseKind::SlowBroker => seen
                .answered(0)
                .then(|| "the test submission was answered with an AppRec".to_string()),
            PhaseKind::AuthRefused => (t0.elapsed() >= self.timing.auth_refused).then(|| {
                match events_since(&|k| matches!(k, ConnEventKind::AuthFailed { .. })) {
                    0 => format!("{NOT_OBSERVED}: no login attempt while the password was refused"),
                    n => format!("{n} refused login attempt(s) seen"),
                }
            }),
            PhaseKind::TlsWrongHost => {
                let first = self
                    .wrong_host
                    .lock()
                    .ok()
                    .and_then(|l| l.iter().find(|a| a.at >= started).map(|a| a.at));
                let waited_after =
                    first.is_some_and(|f| Utc::now() - f > chrono::Duration::seconds(1));
                (waited_after || t0.elapsed() >= self.timing.tls_wrong_host).then(|| {
                    if first.is_some() {
                        "an attempt on the wrong-host port was seen".to_string()
                    } else {
                        format!("{NOT_OBSERVED}: no attempt on the wrong-host port")
                    }
                })
            }
            PhaseKind::ApprecStatus2 => self.after_injected(seen, "rejected"),
            PhaseKind::ApprecStatus3 => self.after_injected(seen, "partly-rejected"),
            PhaseKind::ErrorQueue => self.after_injected(seen, "transport-error"),
            PhaseKind::LostApprec => seen.injected("withhold-reply").and_then(|m0| {
                (Utc::now() - m0.received
                    >= chrono::Duration::from_std(self.timing.lost_apprec_window)
                        .unwrap_or_default())
                .then(|| "watched for resends of the unconfirmed message".to_string())
            }),
            PhaseKind::ConnectionDrop => {
                // Complete once the EPJ is back after the drop and has either sent again or
                // had the time to (it may also find the AppRec of the stored message and
                // send nothing).
                let events: Vec<_> = self
                    .faults
                    .events()
                    .into_iter()
                    .filter(|e| e.at >= started)
                    .collect();
                let dropped = events
                    .iter()
                    .find(|e| matches!(e.kind, ConnEventKind::Dropped { .. }))
                    .map(|e| e.at);
                let back = dropped.and_then(|d| {
                    events
                        .iter()
                        .find(|e| e.at > d && matches!(e.kind, ConnEventKind::Opened { .. }))
                        .map(|e| e.at)
                });
                let sent_again = dropped.is_some_and(|d| {
                    events
                        .iter()
                        .any(|e| e.at > d && matches!(e.kind, ConnEventKind::Stored { .. }))
                });
                let waited = back.is_some_and(|b| {
                    Utc::now() - b
                        >= chrono::Duration::from_std(self.timing.resend_window).unwrap_or_default()
                });
                (back.is_some() && seen.answered(0) && (sent_again || waited)).then(|| {
                    format!(
                        "the connection was dropped, the EPJ reconnected{} and the message was answered",
                        if sent_again { " and sent again" } else { "" }
                    )
                })
            }
            PhaseKind::BrokerUnavailable => {
                let over = outage.is_none_or(|u| Instant::now() >= u);
                (over && seen.answered(0))
                    .then(|| "the outage is over and the submission was answered".to_string())
            }
            PhaseKind::SendemodulUpload => self
                .intake
                .submissions_of(self.kommune_nr, iplos_mocks::intake::Channel::Ordinary)
                .map_err(|e| anyhow::anyhow!("the intake: {e}"))?
                .iter()
                .any(|x| x.arrived >= started)
                .then(|| "a file was taken in through Sendemodul".to_string()),
            PhaseKind::SendemodulRefused => {
                (t0.elapsed() >= self.timing.sendemodul_refused).then(|| {
                    match self
                        .refusing
                        .login_attempts()
                        .iter()
                        .filter(|a| a.at >= started)
                        .count()
                    {
                        0 => format!("{NOT_OBSERVED}: no login on the refusing portal"),
                        n => format!("{n} refused login(s) on the refusing portal seen"),
                    }
                })
            }
            PhaseKind::InitialLoad
            | PhaseKind::YearEvents
            | PhaseKind::Corrections
            | PhaseKind::PerfLoad => {
                // Compared again only when another message has been accepted (a large
                // kommune's load is tens of thousands of events; the loop polls 10 times a
                // second).
                let accepted: Vec<i64> = seen
                    .msgs
                    .iter()
                    .filter(|(m, replied)| {
                        replied.is_some()
                            && m.outcome == Some(Outcome::AppRec)
                            && matches!(m.status.as_deref(), Some("1" | "3"))
                    })
                    .map(|(m, _)| m.id)
                    .collect();
                if accepted.is_empty() || accepted == coverage.compared {
                    return Ok(None);
                }
                coverage.compared = accepted.clone();
                let want = coverage.want.get_or_insert_with(|| match phase.kind {
                    PhaseKind::InitialLoad => self.expected.initial(),
                    PhaseKind::YearEvents => self.expected.year(),
                    PhaseKind::PerfLoad => self.expected.perf.clone().unwrap_or_default(),
                    _ => self.expected.corrections.clone(),
                });
                let mut got: Option<iplos_model::message::Melding> = None;
                for row in accepted {
                    if let Some(mel) = &cache.get(self.store, row).melding {
                        match &mut got {
                            None => got = Some(mel.clone()),
                            Some(g) => g.notifikasjoner.extend(mel.notifikasjoner.iter().cloned()),
                        }
                    }
                }
                got.and_then(|g| {
                    let c = compare(want, &g, &CompareOptions::default());
                    c.missing.is_empty().then(|| {
                        format!(
                            "all {} expected events arrived in accepted messages",
                            c.expected_events
                        )
                    })
                })
            }
        })
    }

    fn after_injected(&self, seen: &Seen, name: &str) -> Option<String> {
        let m0 = seen.injected(name)?;
        seen.answered(m0.id)
            .then(|| format!("a message after the injected one ({name}) was accepted"))
    }

    fn waiting_for(&self, kind: PhaseKind, seen: &Seen) -> String {
        let n = seen.msgs.len();
        match kind {
            PhaseKind::InitialLoad
            | PhaseKind::YearEvents
            | PhaseKind::Corrections
            | PhaseKind::PerfLoad => format!(
                "{n} message(s) arrived; the expected events of the phase were not all received in accepted messages"
            ),
            PhaseKind::ApprecStatus2 | PhaseKind::ApprecStatus3 | PhaseKind::ErrorQueue => {
                format!("{n} message(s) arrived; no accepted message followed the injected answer")
            }
            _ if n == 0 => "no message arrived".into(),
            _ => format!("{n} message(s) arrived; none was answered with an AppRec 1 or 3"),
        }
    }
}
