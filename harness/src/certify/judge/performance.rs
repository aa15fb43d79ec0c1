//! Performance: the largest kommune's initial load within the test's time (`throughput`,
//! on the load [`crate::certify::perf`] generates, whatever kommune the session is for),
//! and the vendor's timings for the report.

use std::time::Duration;

use iplos_model::compare::{CompareOptions, compare};
use iplos_reports::certification::{Evidence, Timings};

use super::common::{Ctx, Judged, fail, merged, msg_ev, pass, secs, since};
use crate::certify::perf::PERF_KOMMUNE;
use crate::certify::phases::PhaseKind;
use crate::certify::plan::Test;
use crate::certify::record::Msg;

/// PERF-01: the throughput load (the largest kommune's initial load) received and accepted
/// within the test's timeout; the verdict carries the notifications per second measured
/// (for the report's timings) and states the load's size.
pub fn throughput(ctx: &Ctx<'_>, t: &Test) -> Judged {
    let rec = ctx.rec;
    let Some(want) = ctx.expected.perf.clone() else {
        return fail(
            "the session has no throughput load (made before PERF-01 used the largest kommune's load: run certify init again)",
            Vec::new(),
        );
    };
    let msgs = rec.in_phase(PhaseKind::PerfLoad);
    let Some(first) = msgs.first() else {
        return fail(
            format!(
                "no message of the throughput load ({} notifications of kommune {}'s initial load) arrived",
                want.notifikasjoner.len(),
                PERF_KOMMUNE
            ),
            Vec::new(),
        );
    };
    let limit = rec.timing.scaled(Duration::from_secs(t.timeout_seconds));
    let mut taken: Vec<&Msg> = Vec::new();
    let mut done: Option<&Msg> = None;
    for m in msgs.iter().filter(|m| m.accepted()) {
        taken.push(m);
        let Some(got) = merged(taken.iter().copied()) else {
            continue;
        };
        if compare(&want, &got, &CompareOptions::default())
            .missing
            .is_empty()
        {
            done = Some(m);
            break;
        }
    }
    let Some(last) = done else {
        return fail(
            format!(
                "the throughput load ({} notifications) was never complete",
                want.notifikasjoner.len()
            ),
            Vec::new(),
        );
    };
    let end = last.replied.unwrap_or(last.received);
    let took = since(first.received, end);
    let n = want.notifikasjoner.len();
    let persons = recipients(&want);
    let rate = n as f64 / took.as_secs_f64().max(0.001);
    let ev = vec![
        msg_ev(first, "first message of the throughput load"),
        msg_ev(last, "the message completing it"),
        Evidence::ExpectedReceived {
            subject: format!(
                "{n} notifications: the initial load of kommune {PERF_KOMMUNE} (the largest), {persons} recipients"
            ),
            field: Some("time from the first message's arrival to the last AppRec".into()),
            expected: Some(format!("at most {}", secs(limit))),
            received: Some(format!("{} ({rate:.0} notifications/s)", secs(took))),
        },
    ];
    let j = if took <= limit {
        pass(
            format!(
                "the throughput load (kommune {PERF_KOMMUNE}'s initial load: {n} notifications, {persons} recipients) was received and accepted in {}",
                secs(took)
            ),
            ev,
        )
    } else {
        fail(
            format!(
                "the throughput load (kommune {PERF_KOMMUNE}'s initial load: {n} notifications, {persons} recipients) took {}, more than the {} allowed",
                secs(took),
                secs(limit)
            ),
            ev,
        )
    };
    Judged {
        rate: Some(rate),
        ..j
    }
}

/// The recipients of a message (distinct persons).
fn recipients(m: &iplos_model::message::Melding) -> usize {
    m.notifikasjoner
        .iter()
        .flat_map(|n| &n.events)
        .map(|e| e.bruker.bruker_nr.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// The vendor's timings: time to the first AppRec, notifications per second over the
/// initial load, p50/p99 of arrival → AppRec over every message answered normally.
pub fn timings(ctx: &Ctx<'_>, notifications_per_second: Option<f64>) -> Timings {
    let rec = ctx.rec;
    let mut t = Timings {
        started: Some(rec.started),
        ended: Some(rec.ended),
        wall_seconds: Some(since(rec.started, rec.ended).as_secs_f64()),
        ..Timings::default()
    };
    t.time_to_first_apprec_ms = rec
        .messages
        .iter()
        .find(|m| m.answered_with_apprec() && m.replied.is_some())
        .and_then(|m| m.replied.map(|r| since(m.received, r).as_millis() as u64));
    t.notifications_per_second = notifications_per_second;
    let lat: Vec<f64> = rec
        .messages
        .iter()
        .filter(|m| m.injected.is_none() && m.phase != Some(PhaseKind::SlowBroker))
        .filter_map(|m| {
            m.replied
                .map(|r| since(m.received, r).as_secs_f64() * 1000.0)
        })
        .collect();
    t.set_latencies(&lat);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::judge::fixture::{Case, melding, push, recording, run_cases, test};
    use crate::certify::plan::CheckKind;
    use crate::certify::record::Recording;
    use iplos_reports::certification::TestVerdict::{Fail, Pass};

    const IL: PhaseKind = PhaseKind::PerfLoad;

    /// The throughput load in two messages, the second answered `last_reply` seconds in.
    fn load(r: &mut Recording, last_reply: f64) {
        push(r, IL, 1.0, |m| m.melding = Some(melding(&[1], "")));
        push(r, IL, 2.0, |m| {
            m.melding = Some(melding(&[2], ""));
            m.replied = Some(crate::certify::judge::fixture::at(IL, last_reply));
        });
    }

    #[test]
    fn throughput() {
        let t = test(CheckKind::Throughput);
        // The fixture's phases are 100 s; the plan's timeout is longer.
        assert!(t.timeout_seconds > 90, "{}", t.timeout_seconds);
        let j = {
            let mut r = recording();
            load(&mut r, 3.0);
            let (plan, expected) = (
                crate::certify::plan::Plan::embedded().unwrap(),
                crate::certify::judge::fixture::expected(),
            );
            super::throughput(
                &Ctx {
                    rec: &r,
                    expected: &expected,
                    plan: &plan,
                    selected: &PhaseKind::ALL,
                },
                &t,
            )
        };
        assert_eq!(j.rate, Some(1.0), "2 notifications in 2 s");
        run_cases(
            &[
                Case {
                    name: "in time",
                    setup: |r| load(r, 3.0),
                    verdict: Pass,
                    reason: "(kommune 0301's initial load: 2 notifications, 2 recipients) was received and accepted in 2.0 s",
                    names: "2 notifications: the initial load of kommune 0301 (the largest), 2 recipients",
                },
                Case {
                    name: "half of it",
                    setup: |r| push(r, IL, 1.0, |m| m.melding = Some(melding(&[1], ""))),
                    verdict: Fail,
                    reason: "never complete",
                    names: "",
                },
            ],
            |c| super::throughput(c, &t),
        );
        let mut slow = t.clone();
        slow.timeout_seconds = 1;
        run_cases(
            &[Case {
                name: "too slow",
                setup: |r| load(r, 3.0),
                verdict: Fail,
                reason: "2 recipients) took 2.0 s, more than the 1.0 s allowed",
                names: "at most 1.0 s",
            }],
            |c| super::throughput(c, &slow),
        );
    }

    #[test]
    fn timings_leave_out_injected_and_slow_answers() {
        let mut r = recording();
        load(&mut r, 3.0);
        push(&mut r, PhaseKind::LostApprec, 1.0, |m| {
            m.injected = Some("withhold-reply".into());
            m.replied = Some(crate::certify::judge::fixture::at(
                PhaseKind::LostApprec,
                90.0,
            ));
        });
        let (plan, expected) = (
            crate::certify::plan::Plan::embedded().unwrap(),
            crate::certify::judge::fixture::expected(),
        );
        let ctx = Ctx {
            rec: &r,
            expected: &expected,
            plan: &plan,
            selected: &PhaseKind::ALL,
        };
        let t = timings(&ctx, Some(5.0));
        assert_eq!(t.time_to_first_apprec_ms, Some(1000));
        assert_eq!(t.notifications_per_second, Some(5.0));
        assert_eq!(t.latency_samples, 2, "the injected message is left out");
    }
}
