//! What every judge shares: the verdict type, the session's context, evidence helpers and
//! the selections of messages several families judge.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use iplos_model::message::{Melding, Notifikasjon};
use iplos_reports::certification::{Evidence, TestVerdict};

use super::expected::Expected;
use crate::certify::phases::PhaseKind;
use crate::certify::plan::Plan;
use crate::certify::record::{Msg, Recording, norm_guid};

/// At most this many evidence items per test (the bundle has the rest).
pub const MAX_EVIDENCE: usize = 40;

/// A judge's decision on one test.
#[derive(Debug, Clone)]
pub struct Judged {
    pub verdict: TestVerdict,
    /// Why, in words.
    pub reason: String,
    /// What it judged.
    pub evidence: Vec<Evidence>,
    /// Notifications per second the throughput test measured (for the report's timings).
    pub rate: Option<f64>,
    /// False for a failure because what the test checks never happened (nothing to judge):
    /// such a failure is never a root cause when a test it depends on failed outright.
    pub observed: bool,
}

/// A passed test.
pub fn pass(reason: impl Into<String>, evidence: Vec<Evidence>) -> Judged {
    Judged {
        verdict: TestVerdict::Pass,
        reason: reason.into(),
        evidence,
        rate: None,
        observed: true,
    }
}

/// A failed test.
pub fn fail(reason: impl Into<String>, evidence: Vec<Evidence>) -> Judged {
    Judged {
        verdict: TestVerdict::Fail,
        reason: reason.into(),
        evidence,
        rate: None,
        observed: true,
    }
}

/// A failed test that had nothing to judge: its reason starts "not observed: ".
pub fn not_observed(reason: impl AsRef<str>, evidence: Vec<Evidence>) -> Judged {
    Judged {
        observed: false,
        ..fail(format!("not observed: {}", reason.as_ref()), evidence)
    }
}

/// A skipped test.
pub fn skip(reason: impl Into<String>) -> Judged {
    Judged {
        verdict: TestVerdict::Skip,
        reason: reason.into(),
        evidence: Vec::new(),
        rate: None,
        observed: false,
    }
}

/// The session's context for judging.
pub struct Ctx<'a> {
    pub rec: &'a Recording,
    pub expected: &'a Expected,
    pub plan: &'a Plan,
    /// Phases the session was asked to walk (`--only`); the others' tests are skipped.
    pub selected: &'a [PhaseKind],
}

/// A message as evidence, with its queue, arrival, evidence file and injection.
pub fn msg_ev(m: &Msg, note: impl Into<String>) -> Evidence {
    Evidence::Message {
        message_id: m.name(),
        note: format!(
            "{} [{}; arrived {}{}{}]",
            note.into(),
            m.queue,
            m.received.format("%H:%M:%S%.3f"),
            m.evidence_file
                .as_deref()
                .map(|f| format!("; content in {f}"))
                .unwrap_or_default(),
            m.injected
                .as_deref()
                .map(|i| format!("; injected: {i}"))
                .unwrap_or_default(),
        ),
    }
}

/// A duration in seconds, for people.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The time from `a` to `b` (zero when `b` is earlier).
pub fn since(a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
    (b - a).to_std().unwrap_or_default()
}

/// The accepted messages of these phases, in arrival order.
pub fn accepted_in<'a>(rec: &'a Recording, phases: &[PhaseKind]) -> Vec<&'a Msg> {
    rec.messages
        .iter()
        .filter(|m| {
            m.phase.is_some_and(|p| phases.contains(&p)) && m.accepted() && m.resend_of.is_none()
        })
        .collect()
}

/// Messages merged into one (notifications in arrival order; the first one's header).
pub fn merged<'a>(msgs: impl IntoIterator<Item = &'a Msg>) -> Option<Melding> {
    let mut out: Option<Melding> = None;
    for m in msgs {
        let Some(mel) = &m.melding else { continue };
        match &mut out {
            None => out = Some(mel.clone()),
            Some(o) => o.notifikasjoner.extend(mel.notifikasjoner.iter().cloned()),
        }
    }
    out
}

/// A notification's content as compared for "the same event sent again": its events
/// (kind, service, person, date, codes), without the GUIDs, numbering and registration
/// time an EPJ may make anew when it exports again.
pub fn content_key(n: &Notifikasjon) -> String {
    let mut k = format!("{:?}", n.status);
    for e in &n.events {
        let _ = write!(
            k,
            "|{:?} {} {} {} {:?} {:?} {:?}",
            e.kind,
            e.tjeneste_type,
            e.tjeneste_id,
            e.hendelse_dato,
            e.tjeneste_org_nr,
            e.midlertidig_stopp_id,
            e.bruker
        );
    }
    k
}

/// Later messages (new message-ids) that carry an event of `m0` again: each with how many
/// of its notifications kept their GUID and how many got a new one.
pub fn regenerated<'a>(m0: &Msg, later: &[&'a Msg]) -> Vec<(&'a Msg, usize, usize)> {
    let Some(mel0) = &m0.melding else {
        return Vec::new();
    };
    let keys: HashMap<String, String> = mel0
        .notifikasjoner
        .iter()
        .map(|n| (content_key(n), norm_guid(&n.guid)))
        .collect();
    let mut out = Vec::new();
    for m in later {
        if m.message_id == m0.message_id {
            continue;
        }
        let Some(mel) = &m.melding else { continue };
        let (mut same_guid, mut new_guid) = (0, 0);
        for n in &mel.notifikasjoner {
            match keys.get(&content_key(n)) {
                Some(g) if *g == norm_guid(&n.guid) => same_guid += 1,
                Some(_) => new_guid += 1,
                None => {}
            }
        }
        if same_guid + new_guid > 0 {
            out.push((*m, same_guid, new_guid));
        }
    }
    out
}

/// Attempts closer than the back-off gap: their number, with the first as evidence.
pub fn too_fast(
    rec: &Recording,
    attempts: &[DateTime<Utc>],
    ev: &mut Vec<Evidence>,
) -> Option<usize> {
    let fast = attempt_gaps(attempts, rec.timing.min_attempt_gap);
    let (at, gap) = fast.first()?;
    ev.push(Evidence::ExpectedReceived {
        subject: format!("attempt at {}", at.format("%H:%M:%S%.3f")),
        field: Some("time since the previous attempt".into()),
        expected: Some(format!("at least {}", secs(rec.timing.min_attempt_gap))),
        received: Some(secs(*gap)),
    });
    Some(fast.len())
}

fn attempt_gaps(times: &[DateTime<Utc>], min: Duration) -> Vec<(DateTime<Utc>, Duration)> {
    times
        .windows(2)
        .map(|w| (w[1], since(w[0], w[1])))
        .filter(|(_, d)| *d < min)
        .collect()
}

/// The first message of a phase that got the injection, and the ones after it.
pub fn injected_and_after<'a>(
    rec: &'a Recording,
    phase: PhaseKind,
    name: &str,
) -> Option<(&'a Msg, Vec<&'a Msg>)> {
    let msgs = rec.in_phase(phase);
    let first = *msgs.iter().find(|m| m.injected.as_deref() == Some(name))?;
    let after = msgs.into_iter().filter(|m| m.row > first.row).collect();
    Some((first, after))
}
