//! Resilience and reconnect: the submission completes once, with no notification sent
//! twice, after the broker dropped the connection (`resilience_drop`), refused connections
//! for a while (`resilience_unavailable`) or answered slowly (`resilience_slow`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use iplos_mocks::servicebus::ConnEventKind;
use iplos_reports::certification::Evidence;

use super::common::{Judged, fail, msg_ev, pass, regenerated, secs, too_fast};
use crate::certify::phases::PhaseKind;
use crate::certify::plan::Test;
use crate::certify::record::{Msg, Recording};

/// The phase's first message, and the evidence, when no notification was sent twice and the
/// submission was completed.
fn no_duplicates(rec: &Recording, phase: PhaseKind) -> Result<(&Msg, Vec<Evidence>), Judged> {
    let msgs = rec.in_phase(phase);
    let Some(m0) = msgs.first().copied() else {
        return Err(fail("no message arrived", Vec::new()));
    };
    let after: Vec<&Msg> = msgs.iter().skip(1).copied().collect();
    let mut ev = vec![msg_ev(m0, format!("first message: {}", m0.answer_words()))];
    let again = regenerated(m0, &after);
    for (m, same, new) in &again {
        ev.push(msg_ev(
            m,
            format!("the same events again under a new message-id: {same} with the same GUID, {new} with a new GUID"),
        ));
    }
    if !again.is_empty() {
        return Err(fail(
            "notifications were sent twice (again under a new message-id): unsettled messages must be resent with the same message-id",
            ev,
        ));
    }
    if !msgs.iter().any(|m| m.accepted()) {
        return Err(fail(
            "the submission was not completed (no AppRec status 1 or 3)",
            ev,
        ));
    }
    Ok((m0, ev))
}

/// RES-drop: reconnected after the dropped connection and completed once.
pub fn drop_connection(rec: &Recording) -> Judged {
    let events = rec.events_in(PhaseKind::ConnectionDrop);
    let Some(dropped) = events
        .iter()
        .find(|e| matches!(e.kind, ConnEventKind::Dropped { .. }))
        .map(|e| e.at)
    else {
        return fail(
            "the connection was never dropped: no message was sent in the phase",
            Vec::new(),
        );
    };
    let back = events
        .iter()
        .any(|e| e.at > dropped && matches!(e.kind, ConnEventKind::Opened { .. }));
    if !back {
        return fail(
            "the EPJ did not reconnect after the broker dropped the connection",
            rec.in_phase(PhaseKind::ConnectionDrop)
                .into_iter()
                .map(|m| {
                    msg_ev(
                        m,
                        "stored before the drop; its disposition never reached the EPJ",
                    )
                })
                .collect(),
        );
    }
    // The message the broker stored just before it dropped the connection (its
    // disposition never reached the EPJ), by the broker's log: the register may read it
    // after the drop.
    let stored: Option<&str> = events
        .iter()
        .filter(|e| e.at <= dropped)
        .filter_map(|e| match &e.kind {
            ConnEventKind::Stored { message_id, .. } => message_id.as_deref(),
            _ => None,
        })
        .next_back();
    let unsettled = rec
        .in_phase(PhaseKind::ConnectionDrop)
        .into_iter()
        .find(|m| stored.is_some() && m.message_id.as_deref() == stored);
    match no_duplicates(rec, PhaseKind::ConnectionDrop) {
        Err(j) => j,
        // The register has the stored message (and answered it), but the EPJ never learnt
        // that from the broker: an EPJ that does not send it again loses every message
        // the broker stores without telling it.
        Ok((_, ev)) if unsettled.is_some_and(|m| m.duplicates == 0) => fail(
            "the message stored just before the broker dropped the connection was never sent again: an unsettled message must be resent with the same message-id (the register recognises it)",
            ev,
        ),
        Ok((m0, ev)) => pass(
            format!(
                "after the dropped connection the submission completed with every notification once{}",
                if m0.duplicates > 0 {
                    format!(
                        " (the unsettled message was resent {} time(s) with the same message-id)",
                        m0.duplicates
                    )
                } else {
                    String::new()
                }
            ),
            ev,
        ),
    }
}

/// RES-unavailable: retried with back-off while refused, then completed once.
pub fn unavailable(rec: &Recording, t: &Test) -> Judged {
    let refused: Vec<DateTime<Utc>> = rec
        .events_in(PhaseKind::BrokerUnavailable)
        .into_iter()
        .filter(|e| matches!(e.kind, ConnEventKind::RefusedUnavailable))
        .map(|e| e.at)
        .collect();
    let outage = t
        .fault
        .as_ref()
        .and_then(|f| f.duration_seconds)
        .map(|s| rec.timing.scaled(Duration::from_secs(u64::from(s))))
        .unwrap_or_default();
    // The port is closed during the outage: the operating system refuses the attempts and
    // the broker sees only those that slipped in as it closed. What counts is that the EPJ
    // came back on its own and completed the submission once (the back-off itself is
    // judged in the auth-refused phase, CONN-02).
    let mut ev = vec![Evidence::Message {
        message_id: "broker".into(),
        note: format!(
            "the port was closed for {} (connections refused by the operating system); {} attempt(s) seen by the broker",
            secs(outage),
            refused.len()
        ),
    }];
    if let Some(fast) = too_fast(rec, &refused, &mut ev) {
        return fail(
            format!("{fast} attempt(s) without back-off during the outage"),
            ev,
        );
    }
    match no_duplicates(rec, PhaseKind::BrokerUnavailable) {
        Err(mut j) => {
            ev.append(&mut j.evidence);
            Judged { evidence: ev, ..j }
        }
        Ok((_, mut e)) => {
            ev.append(&mut e);
            pass(
                "the EPJ came back after the outage and the submission completed once",
                ev,
            )
        }
    }
}

/// RES-slow: waited for the slow broker (few connections) and completed once.
pub fn slow(rec: &Recording) -> Judged {
    let opened = rec
        .events_in(PhaseKind::SlowBroker)
        .into_iter()
        .filter(|e| matches!(e.kind, ConnEventKind::Opened { .. }))
        .count();
    match no_duplicates(rec, PhaseKind::SlowBroker) {
        Err(j) => j,
        Ok((_, mut ev)) => {
            ev.push(Evidence::Message {
                message_id: "broker".into(),
                note: format!("{opened} connection(s) opened during the phase"),
            });
            if opened > 3 {
                return fail(
                    format!("{opened} connections were opened while the broker was slow"),
                    ev,
                );
            }
            pass(
                "the EPJ waited for the slow broker and completed the submission once",
                ev,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::judge::fixture::{Case, event, melding, opened, push, run_cases, test};
    use crate::certify::plan::CheckKind;
    use iplos_reports::certification::TestVerdict::{Fail, Pass};

    const DROP: PhaseKind = PhaseKind::ConnectionDrop;
    const DOWN: PhaseKind = PhaseKind::BrokerUnavailable;
    const SLOW: PhaseKind = PhaseKind::SlowBroker;

    fn dropped(r: &mut Recording, reconnect: bool) {
        event(r, DROP, 1.0, 1, opened());
        let stored = ConnEventKind::Stored {
            username: crate::certify::judge::fixture::USER.into(),
            queue: "131725_async".into(),
            message_id: Some("m1".into()),
        };
        event(r, DROP, 1.5, 1, stored);
        // The register reads it after the drop.
        push(r, DROP, 4.0, |m| m.melding = Some(melding(&[1, 2], "")));
        let kind = ConnEventKind::Dropped {
            reason: "drop after store".into(),
        };
        event(r, DROP, 3.0, 1, kind);
        if reconnect {
            event(r, DROP, 5.0, 2, opened());
            r.messages[0].duplicates = 1;
        }
    }

    #[test]
    fn connection_drop() {
        run_cases(
            &[
                Case {
                    name: "reconnected and resent with the same message-id",
                    setup: |r| dropped(r, true),
                    verdict: Pass,
                    reason: "resent 1 time(s) with the same message-id",
                    names: "m1",
                },
                Case {
                    name: "sent again under a new message-id",
                    setup: |r| {
                        dropped(r, true);
                        push(r, DROP, 6.0, |m| m.melding = Some(melding(&[1, 2], "-b")));
                    },
                    verdict: Fail,
                    reason: "notifications were sent twice",
                    names: "m2",
                },
                Case {
                    name: "reconnected but never sent the unsettled message again",
                    setup: |r| {
                        dropped(r, true);
                        r.messages[0].duplicates = 0;
                    },
                    verdict: Fail,
                    reason: "was never sent again: an unsettled message must be resent",
                    names: "m1",
                },
                Case {
                    name: "never back",
                    setup: |r| dropped(r, false),
                    verdict: Fail,
                    reason: "did not reconnect",
                    names: "its disposition never reached the EPJ",
                },
                Case {
                    name: "never dropped",
                    setup: |_| {},
                    verdict: Fail,
                    reason: "the connection was never dropped",
                    names: "",
                },
            ],
            |c| super::drop_connection(c.rec),
        );
    }

    fn refused(r: &mut Recording, secs: &[f64]) {
        for s in secs {
            event(r, DOWN, *s, 1, ConnEventKind::RefusedUnavailable);
        }
        push(r, DOWN, 40.0, |m| m.melding = Some(melding(&[1], "")));
    }

    #[test]
    fn broker_unavailable() {
        let t = test(CheckKind::ResilienceUnavailable);
        run_cases(
            &[
                Case {
                    name: "backed off",
                    setup: |r| refused(r, &[1.0, 12.0, 24.0]),
                    verdict: Pass,
                    reason: "came back after the outage",
                    names: "3 attempt(s) seen by the broker",
                },
                Case {
                    name: "a tight loop",
                    setup: |r| refused(r, &[1.0, 1.5, 2.0]),
                    verdict: Fail,
                    reason: "2 attempt(s) without back-off",
                    names: "time since the previous attempt",
                },
                Case {
                    name: "attempts refused by the operating system only",
                    setup: |r| refused(r, &[]),
                    verdict: Pass,
                    reason: "the submission completed once",
                    names: "connections refused by the operating system",
                },
                Case {
                    name: "never completed",
                    setup: |r| {
                        refused(r, &[1.0, 12.0]);
                        r.messages[0].status = Some("2".into());
                    },
                    verdict: Fail,
                    reason: "the submission was not completed",
                    names: "m1",
                },
            ],
            |c| super::unavailable(c.rec, &t),
        );
    }

    #[test]
    fn slow_broker() {
        run_cases(
            &[
                Case {
                    name: "waited",
                    setup: |r| {
                        event(r, SLOW, 1.0, 1, opened());
                        push(r, SLOW, 2.0, |_| {});
                    },
                    verdict: Pass,
                    reason: "waited for the slow broker",
                    names: "1 connection(s) opened",
                },
                Case {
                    name: "connections without bound",
                    setup: |r| {
                        for i in 0u32..4 {
                            event(r, SLOW, 1.0 + f64::from(i), u64::from(i), opened());
                        }
                        push(r, SLOW, 2.0, |_| {});
                    },
                    verdict: Fail,
                    reason: "4 connections were opened",
                    names: "4 connection(s) opened",
                },
            ],
            |c| super::slow(c.rec),
        );
    }
}
