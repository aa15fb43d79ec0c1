//! Deciding the plan's tests from what a transport session observed ([`Recording`]).
//!
//! Every verdict comes with its evidence: the messages (by message-id), the register's
//! answers, rule findings with their location and an excerpt of the offending XML, expected
//! vs received events, connection attempts with their times. The judges are grouped by
//! family, one file each; [`JUDGES`] names the judge of every kind of test and what each
//! requires; the phases are in [`super::phases`].
//!
//! [`Recording`]: super::record::Recording

mod blocking;
mod common;
mod completeness;
mod connection;
mod content;
mod expected;
#[cfg(test)]
mod fixture;
mod performance;
mod receipts;
mod resilience;
mod sendemodul;
mod stage;
mod transport;

pub use common::{Ctx, Judged};
pub use completeness::{comparison_evidence, reference_evidence};
pub use expected::Expected;
pub use receipts::STATUS3_NAMED;

use iplos_model::message::Status;
use iplos_reports::certification::{TestResult, TestVerdict, Timings};

use super::phases::PhaseKind;
use super::plan::{CheckKind, Test};
use common::{MAX_EVIDENCE, not_observed, skip};

/// Which phases must have been walked for a test to be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// The phase that decides it ([`PhaseKind::for_test`]).
    Own,
    /// Every content phase: the test judges the vendor's export wherever it was sent.
    Content,
    /// The three phases to KPR (initial load, year's events, corrections).
    Production,
}

/// A judge: the verdict on one test of the plan from the session's context.
type JudgeFn = fn(&Ctx<'_>, &Test) -> Judged;

/// The judge of every kind of test, and the phases it needs.
///
/// - `connect`: the kommune opened an authenticated AMQP connection in the test submission.
/// - `sasl`: it logged in with the issued credentials; while its password was refused it
///   tried at least once and never twice within the back-off gap.
/// - `tls`: every connection of the kommune was TLS; the wrong-host listener saw an attempt
///   and no client completed the handshake with its certificate.
/// - `certificate`, `properties`, `cms`, `msghead`: no message of the kommune was answered
///   with an error of that stage (certificate conditions; header/body; signature and
///   encryption; MsgHead), and at least one got past the stage.
/// - `addressing`: the test submissions went to KPR Validering, the content to KPR, nothing
///   of the fault phases reached production, reply-to is the kommune's own `_async` queue.
/// - `schema`, `content_rules`: no finding of the test's rules in the content phases'
///   messages.
/// - `completeness`, `initial_load`, `year_events`: the accepted messages of the phases
///   compared with the expected events (missing, extra, wrong field).
/// - `corrections`, `annulments`: the accepted corrections compared with the expected
///   ones, references resolved against the received ordinary messages (M and C apart).
/// - `chain`: at least three accepted messages to KPR, no chain, numbering or GUID finding.
/// - the fault kinds: see the phase table in [`super::phases`] and the plan's `checks`.
///
/// The throughput test also gives the notifications per second it measured.
const JUDGES: [(CheckKind, Needs, JudgeFn); 26] = [
    (CheckKind::Connect, Needs::Own, |c, _| {
        connection::connect(c.rec)
    }),
    (CheckKind::Sasl, Needs::Own, |c, _| connection::sasl(c.rec)),
    (CheckKind::Tls, Needs::Own, |c, _| connection::tls(c.rec)),
    (CheckKind::Certificate, Needs::Own, |c, _| {
        transport::certificate(c.rec)
    }),
    (CheckKind::Properties, Needs::Own, |c, _| {
        transport::properties(c.rec)
    }),
    (CheckKind::Cms, Needs::Own, |c, _| transport::cms(c.rec)),
    (CheckKind::Msghead, Needs::Own, |c, _| {
        transport::msghead(c.rec)
    }),
    (CheckKind::Addressing, Needs::Own, |c, _| {
        transport::addressing(c.rec)
    }),
    (CheckKind::Schema, Needs::Content, |c, t| {
        content::rules(c.rec, t)
    }),
    (CheckKind::ContentRules, Needs::Content, |c, t| {
        content::rules(c.rec, t)
    }),
    (CheckKind::Completeness, Needs::Production, |c, _| {
        completeness::ordinary(c)
    }),
    (CheckKind::InitialLoad, Needs::Own, |c, _| {
        completeness::initial_load(c)
    }),
    (CheckKind::YearEvents, Needs::Own, |c, _| {
        completeness::year_events(c)
    }),
    (CheckKind::Corrections, Needs::Production, |c, _| {
        completeness::corrections(c, Status::M)
    }),
    (CheckKind::Annulments, Needs::Production, |c, _| {
        completeness::corrections(c, Status::C)
    }),
    (CheckKind::Chain, Needs::Production, |c, t| {
        content::chain(c.rec, t)
    }),
    (CheckKind::ApprecStatus2Resend, Needs::Own, |c, _| {
        receipts::status2(c.rec)
    }),
    (CheckKind::ApprecStatus3, Needs::Own, |c, _| {
        receipts::status3(c.rec)
    }),
    (CheckKind::ErrorQueue, Needs::Own, |c, _| {
        receipts::error_queue(c.rec)
    }),
    (CheckKind::Duplicate, Needs::Own, |c, _| {
        receipts::lost_apprec(c.rec)
    }),
    (CheckKind::ResilienceDrop, Needs::Own, |c, _| {
        resilience::drop_connection(c.rec)
    }),
    (CheckKind::ResilienceUnavailable, Needs::Own, |c, t| {
        resilience::unavailable(c.rec, t)
    }),
    (CheckKind::ResilienceSlow, Needs::Own, |c, _| {
        resilience::slow(c.rec)
    }),
    (CheckKind::Throughput, Needs::Own, performance::throughput),
    (CheckKind::SendemodulLogin, Needs::Own, sendemodul::login),
    (CheckKind::SendemodulSplit, Needs::Own, |c, _| {
        sendemodul::sm_split(c)
    }),
];

/// Decides every test of the plan, and measures the vendor's timings. A failed test whose
/// prerequisite failed is reported as blocked by it ([`blocking`]).
pub fn judge_all(ctx: &Ctx<'_>) -> (Vec<TestResult>, Timings) {
    let mut results = ctx.plan.skeleton_results();
    let mut rate = None;
    let mut judged: Vec<Option<(CheckKind, Judged)>> = Vec::with_capacity(results.len());
    for r in &results {
        let j = ctx.plan.test(&r.id).map(|t| {
            let j = judge_test(ctx, t.test);
            rate = rate.or(j.rate);
            (t.test.kind, j)
        });
        judged.push(j);
    }
    let own: Vec<blocking::Own<'_>> = results
        .iter()
        .zip(&judged)
        .filter_map(|(r, j)| {
            j.as_ref().map(|(kind, judged)| blocking::Own {
                id: &r.id,
                kind: *kind,
                judged,
            })
        })
        .collect();
    let mut blocked = blocking::resolve(&own).into_iter();
    let blocked: Vec<Vec<String>> = judged
        .iter()
        .map(|j| match j {
            Some(_) => blocked.next().unwrap_or_default(),
            None => Vec::new(),
        })
        .collect();
    for ((r, j), by) in results.iter_mut().zip(judged).zip(blocked) {
        let Some((_, mut j)) = j else { continue };
        j.evidence.truncate(MAX_EVIDENCE);
        if by.is_empty() {
            r.verdict = j.verdict;
            r.reason = Some(j.reason);
        } else {
            r.verdict = TestVerdict::Blocked;
            r.reason = Some(format!("blocked by {}: {}", by.join(", "), j.reason));
            r.blocked_by = by;
        }
        r.evidence = j.evidence;
    }
    (results, performance::timings(ctx, rate))
}

/// For each of `coming` (phases not walked yet), the failed tests that would block every
/// test it decides if it were walked and saw nothing; `None` when one of its tests could
/// still be decided on its own. `ctx.selected` is what has been walked so far.
///
/// The walk skips such a phase: whatever the EPJ did in it, its tests would be reported
/// blocked by these root causes (a pipeline failure is final — no later message un-fails
/// it — and the tests between it and the phase's tests have not passed).
pub fn blocked_phases(ctx: &Ctx<'_>, coming: &[PhaseKind]) -> Vec<Option<Vec<String>>> {
    let tests: Vec<&Test> = ctx.plan.tests().map(|t| t.test).collect();
    let now: Vec<Judged> = tests.iter().map(|t| judge_test(ctx, t)).collect();
    coming
        .iter()
        .map(|&phase| {
            let mine = |t: &Test| PhaseKind::for_test(t) == Some(phase);
            if !tests.iter().any(|t| mine(t)) {
                return None;
            }
            let unseen = not_observed("the phase was not walked", Vec::new());
            let own: Vec<blocking::Own<'_>> = tests
                .iter()
                .zip(&now)
                .map(|(t, j)| blocking::Own {
                    id: &t.id,
                    kind: t.kind,
                    judged: if mine(t) { &unseen } else { j },
                })
                .collect();
            let by = blocking::resolve(&own);
            let mut roots: Vec<String> = Vec::new();
            for (t, b) in tests.iter().zip(&by) {
                if !mine(t) {
                    continue;
                }
                if b.is_empty() {
                    return None;
                }
                for r in b {
                    if !roots.contains(r) {
                        roots.push(r.clone());
                    }
                }
            }
            Some(roots)
        })
        .collect()
}

/// Decides one test: skipped when a phase it needs was not walked, else its judge's
/// verdict (a failure says when the deciding phase timed out).
fn judge_test(ctx: &Ctx<'_>, t: &Test) -> Judged {
    let Some(phase) = PhaseKind::for_test(t) else {
        return skip("no phase of the session decides this test");
    };
    let Some((_, needs, judge)) = JUDGES.iter().find(|(k, _, _)| *k == t.kind) else {
        return skip("no judge decides this kind of test");
    };
    let needs: Vec<PhaseKind> = match needs {
        Needs::Own => vec![phase],
        Needs::Content => PhaseKind::ALL.into_iter().filter(|p| p.content()).collect(),
        Needs::Production => vec![
            PhaseKind::InitialLoad,
            PhaseKind::YearEvents,
            PhaseKind::Corrections,
        ],
    };
    let missing: Vec<&str> = needs
        .iter()
        .filter(|p| !ctx.selected.contains(p))
        .map(|p| p.as_str())
        .collect();
    if !missing.is_empty() {
        return skip(format!(
            "not run: the session did not walk the phase(s) {} (--only)",
            missing.join(", ")
        ));
    }
    let mut j = judge(ctx, t);
    if j.verdict == TestVerdict::Fail {
        match ctx.rec.phase(phase) {
            Some(r) if !r.completed => j.reason.push_str(&format!(
                " (the {} phase timed out after {:.1} s: {})",
                phase.as_str(),
                r.timeout_seconds,
                r.note
            )),
            Some(_) => {}
            // Selected but not walked: the walk skipped it (every test of it was blocked).
            None => j.reason.push_str(&format!(
                " (the {} phase was skipped: every test of it was blocked)",
                phase.as_str()
            )),
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::plan::Plan;
    use crate::certify::record::Recording;

    #[test]
    fn every_kind_of_test_has_one_judge() {
        for k in CheckKind::ALL {
            let n = JUDGES.iter().filter(|(kind, _, _)| *kind == k).count();
            assert_eq!(n, 1, "{k:?} has {n} judges");
        }
    }

    #[test]
    fn a_test_whose_phase_was_not_walked_is_skipped_and_a_timed_out_phase_is_named() {
        let plan = Plan::embedded().unwrap();
        let expected = fixture::expected();
        let mut rec = fixture::recording();
        let connect = fixture::test(CheckKind::Connect);
        let chain = fixture::test(CheckKind::Chain);
        let only: Vec<PhaseKind> = vec![PhaseKind::TestSubmission, PhaseKind::InitialLoad];
        let ctx = Ctx {
            rec: &rec,
            expected: &expected,
            plan: &plan,
            selected: &only,
        };
        let j = judge_test(&ctx, &chain);
        assert_eq!(j.verdict, TestVerdict::Skip);
        assert!(
            j.reason.contains("year-events, corrections (--only)"),
            "{}",
            j.reason
        );
        let j = judge_test(&ctx, &connect);
        assert_eq!(j.verdict, TestVerdict::Fail);
        assert!(!j.reason.contains("timed out"), "{}", j.reason);

        rec.phases[0].completed = false;
        rec.phases[0].note = "no message arrived".into();
        let ctx = Ctx {
            rec: &rec,
            expected: &expected,
            plan: &plan,
            selected: &only,
        };
        let j = judge_test(&ctx, &connect);
        assert!(
            j.reason.ends_with(
                "(the test-submission phase timed out after 100.0 s: no message arrived)"
            ),
            "{}",
            j.reason
        );
    }

    #[test]
    fn a_phase_is_blocked_whole_only_when_every_test_of_it_is_blocked() {
        let plan = Plan::embedded().unwrap();
        let expected = fixture::expected();
        let mut rec = fixture::recording();
        rec.phases.truncate(1);
        fixture::event(
            &mut rec,
            PhaseKind::TestSubmission,
            0.5,
            1,
            fixture::opened(),
        );
        let attached = iplos_mocks::servicebus::ConnEventKind::SenderAttached {
            username: fixture::USER.into(),
            target: "131725_async".into(),
            queue: "131725_async".into(),
        };
        fixture::event(&mut rec, PhaseKind::TestSubmission, 0.6, 1, attached);
        // The test submission, unsigned, twice.
        for at in [1.0, 5.0] {
            fixture::push(&mut rec, PhaseKind::TestSubmission, at, |m| {
                m.outcome = Some("error".parse().expect("a known name"));
                m.status = None;
                m.stage = Some("cms".parse().expect("a known name"));
                m.error_data = Some("NotSigned".into());
            });
        }
        let walked = [PhaseKind::TestSubmission];
        let coming: Vec<PhaseKind> = PhaseKind::ALL[1..].to_vec();
        let blocked = |rec: &Recording| {
            let ctx = Ctx {
                rec,
                expected: &expected,
                plan: &plan,
                selected: &walked,
            };
            blocked_phases(&ctx, &coming)
        };
        let b = blocked(&rec);
        for (k, by) in coming.iter().zip(&b) {
            match k {
                // Their tests stand on the connection alone, or on nothing of the bus.
                PhaseKind::AuthRefused
                | PhaseKind::TlsWrongHost
                | PhaseKind::SendemodulUpload
                | PhaseKind::SendemodulRefused => assert_eq!(by, &None, "{k:?}"),
                _ => assert_eq!(by.as_deref(), Some(&["CMS-01".to_string()][..]), "{k:?}"),
            }
        }
        // Fixed and sent again in the same phase: the MsgHead passes, nothing is blocked.
        fixture::push(&mut rec, PhaseKind::TestSubmission, 9.0, |_| {});
        assert!(blocked(&rec).iter().all(Option::is_none));
    }

    #[test]
    fn judge_all_decides_every_test_of_the_plan_and_bounds_the_evidence() {
        let plan = Plan::embedded().unwrap();
        let expected = fixture::expected();
        let mut rec = fixture::recording();
        for i in 0..(MAX_EVIDENCE + 5) {
            fixture::push(&mut rec, PhaseKind::TestSubmission, i as f64, |m| {
                m.outcome = Some("error".parse().expect("a known name"));
                m.stage = Some("msghead".parse().expect("a known name"));
            });
        }
        let ctx = Ctx {
            rec: &rec,
            expected: &expected,
            plan: &plan,
            selected: &PhaseKind::ALL,
        };
        let (results, timings) = judge_all(&ctx);
        assert_eq!(results.len(), plan.tests().count());
        assert!(results.iter().all(|r| r.verdict != TestVerdict::Skip));
        let msghead = results
            .iter()
            .find(|r| r.kind == CheckKind::Msghead.as_str())
            .unwrap();
        assert_eq!(msghead.verdict, TestVerdict::Fail);
        assert_eq!(msghead.evidence.len(), MAX_EVIDENCE);
        assert_eq!(timings.notifications_per_second, None);
    }
}
