//! Receipts and AppRec handling: what the EPJ did after the harness answered AppRec status 2
//! (`apprec_status2_resend`) or 3 (`apprec_status3`), put a transport error on its `_error`
//! queue (`error_queue`) or withheld the AppRec (`duplicate`).

use std::collections::BTreeSet;

use iplos_model::compare::{CompareOptions, compare};
use iplos_model::message::Notifikasjon;
use iplos_reports::certification::Evidence;

use super::common::{
    Judged, fail, injected_and_after, merged, msg_ev, not_observed, pass, regenerated,
};
use super::completeness::comparison_evidence;
use crate::certify::phases::PhaseKind;
use crate::certify::record::{Msg, Recording, norm_guid};

/// How many notifications an injected AppRec status 3 names (the last ones of the message).
pub const STATUS3_NAMED: usize = 2;

/// RECEIPT-01: after AppRec status 2, a new message with the same notifications, accepted.
pub fn status2(rec: &Recording) -> Judged {
    let Some((m0, after)) = injected_and_after(rec, PhaseKind::ApprecStatus2, "rejected") else {
        return not_observed(
            "no message arrived to reject with AppRec status 2",
            Vec::new(),
        );
    };
    let mut ev = vec![msg_ev(
        m0,
        format!(
            "the harness injected a rejection; the EPJ got {}",
            m0.answer_words()
        ),
    )];
    for m in &after {
        ev.push(msg_ev(m, format!("then: {}", m.answer_words())));
    }
    if !m0.answered_with_status("2") {
        return not_observed(
            format!(
                "the message the harness rejected was answered with {} before the rejection could apply, so the EPJ never received an AppRec status 2",
                m0.answer_words()
            ),
            ev,
        );
    }
    if m0.guids().is_empty() {
        return not_observed("the rejected message's notifications could not be read", ev);
    }
    // Only what the EPJ sent after it had the AppRec is its reaction to it.
    let after: Vec<&Msg> = after
        .into_iter()
        .filter(|m| m0.replied.is_none_or(|r| m.received >= r))
        .collect();
    if m0.duplicates > 0 {
        return fail(
            format!(
                "the rejected message was sent again unchanged (same message-id, {} time(s))",
                m0.duplicates
            ),
            ev,
        );
    }
    let Some(m1) = after.iter().find(|m| m.accepted()) else {
        return fail(
            "no corrected message was accepted after the AppRec status 2",
            ev,
        );
    };
    if m1.msg_id.is_some() && m1.msg_id == m0.msg_id {
        return fail("the new message reuses the rejected message's MsgId", ev);
    }
    let (g0, g1) = (m0.guids(), m1.guids());
    if g0 != g1 {
        ev.push(Evidence::ExpectedReceived {
            subject: format!("{} → {}", m0.name(), m1.name()),
            field: Some("notifikasjonGUIDs".into()),
            expected: Some(format!("the same {} GUIDs", g0.len())),
            received: Some(format!(
                "{} of them, {} others",
                g0.intersection(&g1).count(),
                g1.difference(&g0).count()
            )),
        });
        return fail(
            "the resend does not carry the same notifications (the rejected message was never received: its GUIDs must be sent again)",
            ev,
        );
    }
    pass(
        "after AppRec status 2 a new message with the same notifications was sent and accepted",
        ev,
    )
}

/// RECEIPT-02: after AppRec status 3, the rejected notifications again as new ones, and
/// nothing else.
pub fn status3(rec: &Recording) -> Judged {
    let Some((m0, after)) = injected_and_after(rec, PhaseKind::ApprecStatus3, "partly-rejected")
    else {
        return not_observed("no message arrived to answer with status 3", Vec::new());
    };
    if !m0.answered_with_status("3") {
        return not_observed(
            format!(
                "the message meant for a partial rejection was answered with {}, so the EPJ never received an AppRec status 3",
                m0.answer_words()
            ),
            vec![msg_ev(m0, format!("the EPJ got {}", m0.answer_words()))],
        );
    }
    let Some(mel0) = &m0.melding else {
        return fail(
            "the message answered with status 3 could not be read",
            vec![msg_ev(m0, "unreadable")],
        );
    };
    let n = mel0.notifikasjoner.len();
    let named: Vec<&Notifikasjon> = mel0.notifikasjoner[n.saturating_sub(STATUS3_NAMED)..]
        .iter()
        .collect();
    let mut ev = vec![msg_ev(
        m0,
        format!(
            "answered AppRec status 3 naming {}",
            named
                .iter()
                .map(|x| x.guid.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )];
    let accepted: Vec<&Msg> = after.iter().copied().filter(|m| m.accepted()).collect();
    for m in &after {
        ev.push(msg_ev(m, format!("then: {}", m.answer_words())));
    }
    let Some(resent) = merged(accepted.iter().copied()) else {
        return fail("the rejected notifications were not sent again", ev);
    };
    // Every message after the partial rejection must be taken whole: a resend that is
    // itself rejected in part (e.g. IPL03, its chain pointing at a notification the register
    // never accepted) has not corrected anything.
    if let Some(bad) = after.iter().find(|m| !m.answered_with_status("1")) {
        return fail(
            format!(
                "a message sent after the AppRec status 3 ({}) was answered with {}: the correction was not accepted whole",
                bad.name(),
                bad.answer_words()
            ),
            ev,
        );
    }
    let mut want = mel0.clone();
    want.notifikasjoner = named.iter().map(|x| (*x).clone()).collect();
    let c = compare(&want, &resent, &CompareOptions::default());
    ev.extend(comparison_evidence(&c, "the resend", |_| true));
    let old: BTreeSet<String> = mel0
        .notifikasjoner
        .iter()
        .map(|x| norm_guid(&x.guid))
        .collect();
    let reused: Vec<&Notifikasjon> = resent
        .notifikasjoner
        .iter()
        .filter(|x| old.contains(&norm_guid(&x.guid)))
        .collect();
    if !c.extra.is_empty() {
        return fail(
            format!(
                "{} event(s) that were accepted were sent again",
                c.extra.len()
            ),
            ev,
        );
    }
    if !c.missing.is_empty() || !c.wrong.is_empty() {
        return fail(
            "not every rejected notification was sent again as it should be",
            ev,
        );
    }
    if !reused.is_empty() {
        return fail(
            format!(
                "{} resent notification(s) reuse a GUID of the first message instead of being new notifications",
                reused.len()
            ),
            ev,
        );
    }
    pass(
        format!(
            "the {} rejected notifications were sent again as new notifications and accepted; nothing else was resent",
            named.len()
        ),
        ev,
    )
}

/// RECEIPT-03: the transport error read from the `_error` queue and the message sent again.
pub fn error_queue(rec: &Recording) -> Judged {
    let Some((m0, after)) = injected_and_after(rec, PhaseKind::ErrorQueue, "transport-error")
    else {
        return fail(
            "no message arrived to answer with a transport error",
            Vec::new(),
        );
    };
    let mut ev = vec![msg_ev(
        m0,
        "answered with a transport error on the _error queue",
    )];
    for m in &after {
        ev.push(msg_ev(m, format!("then: {}", m.answer_words())));
    }
    match &rec.error_queue_left {
        Some(Ok(left)) if *left > 0 => {
            return fail(
                format!("{left} message(s) left unread on the kommune's _error queue"),
                ev,
            );
        }
        // Not knowing whether the EPJ read its _error queue is no pass.
        Some(Err(e)) => {
            return fail(
                format!("the harness could not count the kommune's _error queue ({e})"),
                ev,
            );
        }
        _ => {}
    }
    let Some(m1) = after.iter().find(|m| m.accepted()) else {
        return fail(
            if m0.duplicates > 0 {
                "the message was only sent again with the same message-id (the register answers a message-id once: it got the same error)".to_string()
            } else {
                "no message was sent again after the transport error".to_string()
            },
            ev,
        );
    };
    // The register did not open the errored message (a transport error comes before the
    // content); when its content is known, the resend must carry the same notifications.
    if m0.melding.is_some() && m0.guids() != m1.guids() {
        return fail(
            "the message sent again does not carry the same notifications",
            ev,
        );
    }
    pass(
        "the error was read from the _error queue and the message sent again and accepted",
        ev,
    )
}

/// DUP: the message whose AppRec was withheld was not sent again under new GUIDs.
pub fn lost_apprec(rec: &Recording) -> Judged {
    let Some((m0, after)) = injected_and_after(rec, PhaseKind::LostApprec, "withhold-reply") else {
        return not_observed(
            "no message arrived whose AppRec could be withheld",
            Vec::new(),
        );
    };
    if let Some(first) = &m0.resend_of {
        return not_observed(
            format!(
                "the register took the message whose AppRec was to be withheld for a resend of {first} (the same MsgId) and did not read it, so no accepted message could be duplicated"
            ),
            vec![msg_ev(m0, format!("answered {}", m0.answer_words()))],
        );
    }
    if !m0.accepted() {
        return not_observed(
            format!(
                "the message whose AppRec was to be withheld was refused ({}), so no accepted message could be duplicated",
                m0.answer_words()
            ),
            vec![msg_ev(
                m0,
                format!("the register's verdict: {}", m0.answer_words()),
            )],
        );
    }
    let mut ev = vec![msg_ev(m0, "accepted; its AppRec withheld by the harness")];
    let again = regenerated(m0, &after);
    for (m, same, new) in &again {
        ev.push(msg_ev(
            m,
            format!("sent again with a new message-id: {same} notification(s) with the same GUID, {new} with a new GUID"),
        ));
    }
    if again.iter().any(|(_, _, new)| *new > 0) {
        return fail(
            "events of the unconfirmed message were sent again under new notifikasjonGUIDs: the register counts them twice",
            ev,
        );
    }
    let how = if m0.duplicates > 0 {
        format!(
            "sent again with the same message-id ({} time(s)), which the register recognises",
            m0.duplicates
        )
    } else if !again.is_empty() {
        "sent again with the same notifikasjonGUIDs, which the register recognises".into()
    } else {
        return fail(
            "the unconfirmed message was never sent again: without its AppRec the EPJ cannot know the register has it (send it again with the same MsgId; the register answers with the original AppRec)",
            ev,
        );
    };
    pass(
        format!("the unconfirmed message was {how}; no notification got a new GUID"),
        ev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::judge::fixture::{Case, melding, push, run_cases};
    use iplos_reports::certification::TestVerdict::{Fail, Pass};

    /// The injected message (services 1–3), answered as `injected` says.
    fn first(r: &mut Recording, phase: PhaseKind, injected: &str, status: Option<&str>) {
        push(r, phase, 1.0, |m| {
            m.injected = Some(injected.into());
            m.status = status.map(Into::into);
            if status.is_none() {
                m.outcome = Some("error".parse().expect("a known name"));
            }
            m.melding = Some(melding(&[1, 2, 3], ""));
        });
    }

    fn then(r: &mut Recording, phase: PhaseKind, services: &'static [u32], suffix: &'static str) {
        push(r, phase, 20.0, |m| {
            m.melding = Some(melding(services, suffix))
        });
    }

    const S2: PhaseKind = PhaseKind::ApprecStatus2;
    const S3: PhaseKind = PhaseKind::ApprecStatus3;
    const EQ: PhaseKind = PhaseKind::ErrorQueue;
    const LOST: PhaseKind = PhaseKind::LostApprec;

    #[test]
    fn apprec_status_2() {
        run_cases(
            &[
                Case {
                    name: "the same notifications in a new message",
                    setup: |r| {
                        first(r, S2, "rejected", Some("2"));
                        then(r, S2, &[1, 2, 3], "");
                    },
                    verdict: Pass,
                    reason: "the same notifications was sent and accepted",
                    names: "m2",
                },
                Case {
                    name: "sent again unchanged",
                    setup: |r| {
                        first(r, S2, "rejected", Some("2"));
                        r.messages[0].duplicates = 2;
                    },
                    verdict: Fail,
                    reason: "sent again unchanged (same message-id, 2 time(s))",
                    names: "m1",
                },
                Case {
                    name: "other notifications",
                    setup: |r| {
                        first(r, S2, "rejected", Some("2"));
                        then(r, S2, &[1, 2, 3], "-new");
                    },
                    verdict: Fail,
                    reason: "does not carry the same notifications",
                    names: "notifikasjonGUIDs",
                },
                Case {
                    name: "the injection met a late message that got a transport error",
                    setup: |r| {
                        first(r, S2, "rejected", None);
                        r.messages[0].error_condition =
                            Some(iplos_mocks::nhn::ErrorCondition::InternalError);
                        then(r, S2, &[1, 2, 3], "");
                    },
                    verdict: Fail,
                    reason: "never received an AppRec status 2",
                    names: "the EPJ got error transport:internal-error",
                },
                Case {
                    name: "an independent send before the AppRec arrived",
                    setup: |r| {
                        first(r, S2, "rejected", Some("2"));
                        r.messages[0].replied = Some(crate::certify::judge::fixture::at(S2, 30.0));
                        then(r, S2, &[1, 2, 3], "");
                    },
                    verdict: Fail,
                    reason: "no corrected message was accepted",
                    names: "m2",
                },
                Case {
                    name: "nothing after",
                    setup: |r| first(r, S2, "rejected", Some("2")),
                    verdict: Fail,
                    reason: "no corrected message was accepted",
                    names: "m1",
                },
            ],
            |c| super::status2(c.rec),
        );
    }

    #[test]
    fn apprec_status_3() {
        run_cases(
            &[
                Case {
                    name: "the named ones again, as new notifications",
                    setup: |r| {
                        first(r, S3, "partly-rejected", Some("3"));
                        then(r, S3, &[2, 3], "-new");
                    },
                    verdict: Pass,
                    reason: "the 2 rejected notifications were sent again",
                    names: "naming g2, g3",
                },
                Case {
                    name: "with their old GUIDs",
                    setup: |r| {
                        first(r, S3, "partly-rejected", Some("3"));
                        then(r, S3, &[2, 3], "");
                    },
                    verdict: Fail,
                    reason: "2 resent notification(s) reuse a GUID",
                    names: "m2",
                },
                Case {
                    name: "the accepted one too",
                    setup: |r| {
                        first(r, S3, "partly-rejected", Some("3"));
                        then(r, S3, &[1, 2, 3], "-new");
                    },
                    verdict: Fail,
                    reason: "1 event(s) that were accepted were sent again",
                    names: "svc-1",
                },
                Case {
                    name: "a second resend chained to the last sent, not the last accepted: IPL03",
                    setup: |r| {
                        first(r, S3, "partly-rejected", Some("3"));
                        then(r, S3, &[2, 3], "-new");
                        then(r, S3, &[4], "-more");
                        r.messages[2].status = Some("3".into());
                        r.messages[2].report =
                            Some(crate::certify::judge::fixture::report(&["IPL03"]));
                    },
                    verdict: Fail,
                    reason: "(m3) was answered with AppRec status 3",
                    names: "m3",
                },
                Case {
                    name: "the partial rejection met a refused message",
                    setup: |r| {
                        first(r, S3, "partly-rejected", Some("2"));
                        then(r, S3, &[2, 3], "-new");
                    },
                    verdict: Fail,
                    reason: "never received an AppRec status 3",
                    names: "m1",
                },
                Case {
                    name: "one of them missing",
                    setup: |r| {
                        first(r, S3, "partly-rejected", Some("3"));
                        then(r, S3, &[3], "-new");
                    },
                    verdict: Fail,
                    reason: "not every rejected notification was sent again",
                    names: "svc-2",
                },
            ],
            |c| super::status3(c.rec),
        );
    }

    #[test]
    fn error_queue() {
        run_cases(
            &[
                Case {
                    name: "read and sent again",
                    setup: |r| {
                        first(r, EQ, "transport-error", None);
                        then(r, EQ, &[1, 2, 3], "");
                        r.error_queue_left = Some(Ok(0));
                    },
                    verdict: Pass,
                    reason: "read from the _error queue",
                    names: "m2",
                },
                Case {
                    name: "left unread",
                    setup: |r| {
                        first(r, EQ, "transport-error", None);
                        then(r, EQ, &[1, 2, 3], "");
                        r.error_queue_left = Some(Ok(1));
                    },
                    verdict: Fail,
                    reason: "1 message(s) left unread",
                    names: "m1",
                },
                Case {
                    name: "not counted",
                    setup: |r| {
                        first(r, EQ, "transport-error", None);
                        then(r, EQ, &[1, 2, 3], "");
                        r.error_queue_left = Some(Err("connect: refused".into()));
                    },
                    verdict: Fail,
                    reason: "could not count the kommune's _error queue (connect: refused)",
                    names: "m1",
                },
                Case {
                    name: "only the same message-id again",
                    setup: |r| {
                        first(r, EQ, "transport-error", None);
                        r.messages[0].duplicates = 1;
                    },
                    verdict: Fail,
                    reason: "only sent again with the same message-id",
                    names: "m1",
                },
                Case {
                    name: "other notifications",
                    setup: |r| {
                        first(r, EQ, "transport-error", None);
                        then(r, EQ, &[1, 2], "");
                    },
                    verdict: Fail,
                    reason: "does not carry the same notifications",
                    names: "m2",
                },
            ],
            |c| super::error_queue(c.rec),
        );
    }

    #[test]
    fn lost_apprec() {
        run_cases(
            &[
                Case {
                    name: "not sent again",
                    setup: |r| first(r, LOST, "withhold-reply", Some("1")),
                    verdict: Fail,
                    reason: "never sent again",
                    names: "m1",
                },
                Case {
                    name: "sent again with the same message-id",
                    setup: |r| {
                        first(r, LOST, "withhold-reply", Some("1"));
                        r.messages[0].duplicates = 1;
                    },
                    verdict: Pass,
                    reason: "same message-id (1 time(s))",
                    names: "m1",
                },
                Case {
                    name: "every message refused: nothing to duplicate",
                    setup: |r| {
                        first(r, LOST, "withhold-reply", None);
                        r.messages[0].stage = Some("msghead".parse().expect("a known name"));
                        then(r, LOST, &[1, 2, 3], "");
                        r.messages[1].status = Some("2".into());
                    },
                    verdict: Fail,
                    reason: "not observed: the message whose AppRec was to be withheld was refused",
                    names: "m1",
                },
                Case {
                    name: "same GUIDs in a new message",
                    setup: |r| {
                        first(r, LOST, "withhold-reply", Some("1"));
                        then(r, LOST, &[1, 2, 3], "");
                    },
                    verdict: Pass,
                    reason: "sent again with the same notifikasjonGUIDs",
                    names: "3 notification(s) with the same GUID, 0 with a new GUID",
                },
                Case {
                    name: "new GUIDs",
                    setup: |r| {
                        first(r, LOST, "withhold-reply", Some("1"));
                        then(r, LOST, &[1, 2, 3], "-again");
                    },
                    verdict: Fail,
                    reason: "sent again under new notifikasjonGUIDs",
                    names: "0 notification(s) with the same GUID, 3 with a new GUID",
                },
                Case {
                    name: "nothing",
                    setup: |_| {},
                    verdict: Fail,
                    reason: "not observed: no message arrived",
                    names: "",
                },
            ],
            |c| super::lost_apprec(c.rec),
        );
    }
}
