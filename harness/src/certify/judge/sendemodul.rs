//! Sendemodul (the older annual formats): the login with the four values and the upload
//! (`sendemodul_login`), the rejected login (`sendemodul_login` with `login_rejected`) and
//! the split upload (`sendemodul_split`).

use chrono::{DateTime, Utc};
use iplos_mocks::sendemodul::{LoginAttempt, LoginOutcome};
use iplos_model::compare::{CompareOptions, compare};
use iplos_reports::certification::Evidence;

use super::common::{Ctx, Judged, fail, pass};
use super::completeness::comparison_evidence;
use crate::certify::phases::PhaseKind;
use crate::certify::plan::Test;
use crate::certify::record::{Recording, SmSubmission};

/// SM-01 or SM-02, by the phase that decides the test.
pub fn login(ctx: &Ctx<'_>, t: &Test) -> Judged {
    if PhaseKind::for_test(t) == Some(PhaseKind::SendemodulRefused) {
        sm_refused(ctx.rec)
    } else {
        sm_login(ctx.rec)
    }
}

fn in_window(rec: &Recording, kind: PhaseKind, at: DateTime<Utc>) -> bool {
    rec.phase(kind)
        .is_some_and(|p| at >= p.started && at < p.ended)
}

fn attempt_ev(a: &LoginAttempt, portal: &str) -> Evidence {
    Evidence::Message {
        message_id: format!("{portal} login"),
        note: format!(
            "{} at {}: {:?}",
            a.kommunenr,
            a.at.format("%H:%M:%S%.3f"),
            a.outcome
        ),
    }
}

fn sm_upload_of(rec: &Recording) -> Vec<&SmSubmission> {
    rec.sendemodul
        .iter()
        .flat_map(|s| &s.submissions)
        .filter(|x| {
            x.info.kommunenr == rec.kommune
                && in_window(rec, PhaseKind::SendemodulUpload, x.info.arrived)
        })
        .collect()
}

fn submission_ev(x: &SmSubmission) -> Evidence {
    Evidence::Message {
        message_id: format!("submission {}", x.info.id.0),
        note: format!(
            "{} ({} bytes, sha256 {}), bydel {}, taken in {}",
            x.info.file_name,
            x.info.size,
            x.info.sha256,
            x.info.bydel,
            x.info.arrived.format("%H:%M:%S%.3f")
        ),
    }
}

/// SM-01: logged in with the four values and the upload was taken in.
fn sm_login(rec: &Recording) -> Judged {
    let Some(sm) = &rec.sendemodul else {
        return fail("Sendemodul was not started", Vec::new());
    };
    let attempts: Vec<_> = sm
        .attempts
        .iter()
        .filter(|a| in_window(rec, PhaseKind::SendemodulUpload, a.at))
        .collect();
    let mut ev: Vec<Evidence> = attempts
        .iter()
        .take(5)
        .map(|a| attempt_ev(a, "Sendemodul"))
        .collect();
    let ok = attempts
        .iter()
        .any(|a| a.kommunenr == rec.kommune && a.outcome == LoginOutcome::Success);
    if !ok {
        return fail("no successful login with the kommune's four values", ev);
    }
    let ups = sm_upload_of(rec);
    ev.extend(ups.iter().map(|x| submission_ev(x)));
    if ups.is_empty() {
        return fail("logged in, but no upload was taken in", ev);
    }
    pass(
        format!(
            "logged in with the four values; {} file(s) taken in",
            ups.len()
        ),
        ev,
    )
}

/// SM-02: the rejected login was shown, not retried blindly.
fn sm_refused(rec: &Recording) -> Judged {
    let Some(sm) = &rec.sendemodul else {
        return fail("Sendemodul was not started", Vec::new());
    };
    let attempts: Vec<_> = sm
        .refusing_attempts
        .iter()
        .filter(|a| in_window(rec, PhaseKind::SendemodulRefused, a.at))
        .collect();
    let ev: Vec<Evidence> = attempts
        .iter()
        .take(10)
        .map(|a| attempt_ev(a, "refusing Sendemodul"))
        .collect();
    match attempts.len() {
        0 => fail(
            "no login attempt on the portal that rejects the PIN: the error handling could not be seen",
            ev,
        ),
        1 | 2 => pass(
            format!(
                "{} refused login attempt(s); the client stopped",
                attempts.len()
            ),
            ev,
        ),
        n => fail(
            format!("the refused login was tried {n} times (the same values more than twice)"),
            ev,
        ),
    }
}

/// SM-03: the file larger than the part limit was split, and the reassembled file is the
/// complete export.
pub fn sm_split(ctx: &Ctx<'_>) -> Judged {
    let rec = ctx.rec;
    let Some(sm) = &rec.sendemodul else {
        return fail("Sendemodul was not started", Vec::new());
    };
    let ups = sm_upload_of(rec);
    let Some(last) = ups.last() else {
        return fail("no file was taken in", Vec::new());
    };
    let mut ev = vec![submission_ev(last)];
    if last.info.size <= sm.part_limit {
        return fail(
            format!(
                "the file ({} bytes) is not larger than the part limit ({} bytes): the split could not be seen",
                last.info.size, sm.part_limit
            ),
            ev,
        );
    }
    let Some(m) = &last.melding else {
        return fail(
            "the reassembled file could not be read as an IPLOS message",
            ev,
        );
    };
    let c = compare(&ctx.expected.ordinary, m, &CompareOptions::default());
    ev.extend(comparison_evidence(&c, &last.info.file_name, |_| true));
    if !c.missing.is_empty() || !c.extra.is_empty() || !c.wrong.is_empty() {
        return fail(
            format!(
                "the reassembled file is not the complete export: {} events missing, {} extra, {} wrong field(s) (a part lost, doubled or out of order — or the export itself incomplete, see the completeness tests)",
                c.missing.len(),
                c.extra.len(),
                c.wrong.len()
            ),
            ev,
        );
    }
    pass(
        format!(
            "{} bytes uploaded in parts of at most {} bytes, reassembled to the complete export ({} events)",
            last.info.size, sm.part_limit, c.expected_events
        ),
        ev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::judge::fixture::{Case, at, melding, run_cases, test};
    use crate::certify::plan::CheckKind;
    use crate::certify::plan::Plan;
    use crate::certify::record::SmRecord;
    use iplos_mocks::intake::{Channel, SubmissionId, SubmissionInfo};
    use iplos_reports::certification::TestVerdict::{Fail, Pass};

    const UP: PhaseKind = PhaseKind::SendemodulUpload;
    const REFUSED: PhaseKind = PhaseKind::SendemodulRefused;
    const LIMIT: u64 = 16 * 1024;

    fn attempt(phase: PhaseKind, secs: f64, outcome: LoginOutcome) -> LoginAttempt {
        LoginAttempt {
            at: at(phase, secs),
            channel: Channel::Ordinary,
            kommunenr: "4601".into(),
            client: [127, 0, 0, 1].into(),
            outcome,
        }
    }

    fn upload(size: u64, complete: bool) -> SmSubmission {
        let services: &[u32] = if complete { &[1, 2, 3, 4] } else { &[1, 2, 3] };
        SmSubmission {
            info: SubmissionInfo {
                id: SubmissionId(7),
                channel: Channel::Ordinary,
                kommunenr: "4601".into(),
                bydel: "00".into(),
                data_year: 2024,
                checked_year: 2024,
                file_name: "iplos4601.xml".into(),
                size,
                sha256: "00".into(),
                contact_email: "epj@example.invalid".into(),
                contact_phone: None,
                feedback_key: "k".into(),
                arrived: at(UP, 10.0),
                receipt_due: at(UP, 10.0),
                receipt_sent: None,
                receipt_message_id: None,
                summary: None,
                report_json: None,
            },
            melding: Some(melding(services, "")),
        }
    }

    fn session(r: &mut Recording, logged_in: bool, upload: Option<SmSubmission>, refused: usize) {
        let outcome = if logged_in {
            LoginOutcome::Success
        } else {
            LoginOutcome::Refused(vec!["pin"])
        };
        r.sendemodul = Some(SmRecord {
            part_limit: LIMIT,
            attempts: vec![attempt(UP, 5.0, outcome)],
            refusing_attempts: (0..refused)
                .map(|i| attempt(REFUSED, 5.0 + i as f64, LoginOutcome::Refused(vec!["pin"])))
                .collect(),
            submissions: upload.into_iter().collect(),
        });
    }

    #[test]
    fn login() {
        let t = test(CheckKind::SendemodulLogin);
        assert_eq!(PhaseKind::for_test(&t), Some(UP), "SM-01 first");
        run_cases(
            &[
                Case {
                    name: "logged in and uploaded",
                    setup: |r| session(r, true, Some(upload(LIMIT * 3, true)), 0),
                    verdict: Pass,
                    reason: "1 file(s) taken in",
                    names: "submission 7",
                },
                Case {
                    name: "logged in, nothing uploaded",
                    setup: |r| session(r, true, None, 0),
                    verdict: Fail,
                    reason: "no upload was taken in",
                    names: "Sendemodul login",
                },
                Case {
                    name: "refused",
                    setup: |r| session(r, false, None, 0),
                    verdict: Fail,
                    reason: "no successful login",
                    names: "Refused",
                },
                Case {
                    name: "not started",
                    setup: |_| {},
                    verdict: Fail,
                    reason: "Sendemodul was not started",
                    names: "",
                },
            ],
            |c| super::login(c, &t),
        );
    }

    #[test]
    fn refused_login() {
        let t = test(CheckKind::SendemodulLogin);
        let refused = Plan::embedded()
            .unwrap()
            .tests()
            .find(|x| PhaseKind::for_test(x.test) == Some(REFUSED))
            .map(|x| x.test.clone())
            .unwrap();
        assert_eq!(refused.kind, t.kind);
        run_cases(
            &[
                Case {
                    name: "stopped after one",
                    setup: |r| session(r, true, None, 1),
                    verdict: Pass,
                    reason: "1 refused login attempt(s); the client stopped",
                    names: "refusing Sendemodul login",
                },
                Case {
                    name: "tried again and again",
                    setup: |r| session(r, true, None, 5),
                    verdict: Fail,
                    reason: "tried 5 times",
                    names: "refusing Sendemodul login",
                },
                Case {
                    name: "never tried",
                    setup: |r| session(r, true, None, 0),
                    verdict: Fail,
                    reason: "no login attempt on the portal that rejects the PIN",
                    names: "",
                },
            ],
            |c| super::login(c, &refused),
        );
    }

    #[test]
    fn split() {
        run_cases(
            &[
                Case {
                    name: "split and complete",
                    setup: |r| session(r, true, Some(upload(LIMIT * 3, true)), 0),
                    verdict: Pass,
                    reason: "reassembled to the complete export (4 events)",
                    names: "iplos4601.xml",
                },
                Case {
                    name: "a part lost",
                    setup: |r| session(r, true, Some(upload(LIMIT * 3, false)), 0),
                    verdict: Fail,
                    reason: "1 events missing",
                    names: "svc-4",
                },
                Case {
                    name: "not larger than a part",
                    setup: |r| session(r, true, Some(upload(LIMIT, true)), 0),
                    verdict: Fail,
                    reason: "the split could not be seen",
                    names: "submission 7",
                },
            ],
            super::sm_split,
        );
    }
}
