//! Connection and TLS: the kommune connects and attaches a sending link (`connect`), logs
//! in with the issued credentials and backs off while refused (`sasl`), and uses TLS with
//! the broker's host name verified (`tls`).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use iplos_mocks::servicebus::ConnEventKind;
use iplos_reports::certification::Evidence;

use super::common::{Judged, fail, pass, secs, too_fast};
use crate::certify::phases::PhaseKind;
use crate::certify::record::Recording;
use crate::certify::session::WRONG_HOST;

/// CONN: an authenticated connection and a sending link in the test submission.
pub fn connect(rec: &Recording) -> Judged {
    let opened: Vec<_> = rec
        .events_in(PhaseKind::TestSubmission)
        .into_iter()
        .filter(|e| matches!(e.kind, ConnEventKind::Opened { .. }))
        .collect();
    let attached = rec
        .events_in(PhaseKind::TestSubmission)
        .into_iter()
        .find(|e| matches!(e.kind, ConnEventKind::SenderAttached { .. }));
    let mut ev: Vec<Evidence> = opened
        .iter()
        .take(3)
        .map(|e| Evidence::Message {
            message_id: format!("connection {}", e.connection),
            note: format!("opened {} from {}", e.at.format("%H:%M:%S%.3f"), e.peer),
        })
        .collect();
    // The container ids the EPJ used (evidence; NHN does not require one to be kept).
    let ids: BTreeSet<&str> = rec
        .connections
        .iter()
        .filter_map(|e| match &e.kind {
            ConnEventKind::Opened {
                username,
                container_id,
                ..
            } if *username == rec.username && !container_id.is_empty() => {
                Some(container_id.as_str())
            }
            _ => None,
        })
        .collect();
    if !ids.is_empty() {
        ev.push(Evidence::Message {
            message_id: "container-id".into(),
            note: format!(
                "{} container id(s) over the session: {}",
                ids.len(),
                ids.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    match (opened.first(), attached) {
        (Some(_), Some(a)) => {
            if let ConnEventKind::SenderAttached { target, queue, .. } = &a.kind {
                ev.push(Evidence::Message {
                    message_id: format!("connection {}", a.connection),
                    note: format!("sending link attached to {target} (queue {queue})"),
                });
            }
            pass(
                "the EPJ connected, logged in and attached a sending link",
                ev,
            )
        }
        (Some(_), None) => fail("the EPJ connected but attached no sending link", ev),
        (None, _) => fail(
            "no authenticated AMQP connection from the kommune during the test submission",
            ev,
        ),
    }
}

/// SASL: logged in with the issued credentials; while refused, tried and backed off.
pub fn sasl(rec: &Recording) -> Judged {
    let logged_in = rec.connections.iter().any(
        |e| matches!(&e.kind, ConnEventKind::Opened { username, .. } if *username == rec.username),
    );
    let failed: Vec<DateTime<Utc>> = rec
        .events_in(PhaseKind::AuthRefused)
        .into_iter()
        .filter(|e| matches!(e.kind, ConnEventKind::AuthFailed { .. }))
        .map(|e| e.at)
        .collect();
    let mut ev: Vec<Evidence> = failed
        .iter()
        .take(10)
        .map(|t| Evidence::Message {
            message_id: "SASL PLAIN".into(),
            note: format!(
                "refused at {} (password refused by the harness)",
                t.format("%H:%M:%S%.3f")
            ),
        })
        .collect();
    if !logged_in {
        return fail(
            "the kommune never logged in with the issued credentials",
            ev,
        );
    }
    if failed.is_empty() {
        return fail(
            "the EPJ made no attempt while its password was refused: the error handling could not be seen",
            ev,
        );
    }
    if let Some(fast) = too_fast(rec, &failed, &mut ev) {
        return fail(
            format!(
                "{fast} of {} refused attempts came sooner than {} after the previous one (a tight loop)",
                failed.len(),
                secs(rec.timing.min_attempt_gap)
            ),
            ev,
        );
    }
    pass(
        format!(
            "logged in with the issued credentials; {} refused attempt(s), none sooner than {} after another",
            failed.len(),
            secs(rec.timing.min_attempt_gap)
        ),
        ev,
    )
}

/// TLS: every login over TLS; the certificate for another host name refused.
pub fn tls(rec: &Recording) -> Judged {
    let plain: Vec<_> = rec
        .connections
        .iter()
        .filter(|e| matches!(&e.kind, ConnEventKind::Opened { tls: false, username, .. } if *username == rec.username))
        .collect();
    let mut ev = Vec::new();
    for e in plain.iter().take(3) {
        ev.push(Evidence::Message {
            message_id: format!("connection {}", e.connection),
            note: "logged in without TLS".into(),
        });
    }
    for a in rec.wrong_host.iter().take(5) {
        ev.push(Evidence::Message {
            message_id: "wrong-host listener".into(),
            note: format!(
                "attempt at {}: {}",
                a.at.format("%H:%M:%S%.3f"),
                if a.accepted_certificate {
                    format!(
                        "the client ACCEPTED the certificate for {}{}",
                        WRONG_HOST,
                        if a.sent_amqp {
                            " and went on to AMQP"
                        } else {
                            ""
                        }
                    )
                } else {
                    format!(
                        "refused: {}",
                        a.error.as_deref().unwrap_or("handshake not completed")
                    )
                }
            ),
        });
    }
    if !plain.is_empty() {
        return fail("credentials were sent on a connection without TLS", ev);
    }
    if rec.wrong_host.is_empty() {
        return fail(
            "no attempt reached the wrong-host port: the certificate check could not be seen",
            ev,
        );
    }
    if rec.wrong_host.iter().any(|a| a.accepted_certificate) {
        return fail(
            format!(
                "the EPJ accepted a certificate for {} (it does not verify the broker's host name)",
                WRONG_HOST
            ),
            ev,
        );
    }
    pass(
        "every login was over TLS, and the certificate for another host name was refused before SASL",
        ev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::judge::fixture::{Case, USER, event, opened, run_cases};
    use crate::certify::record::WrongHostAttempt;
    use iplos_reports::certification::TestVerdict::{Fail, Pass};

    const TS: PhaseKind = PhaseKind::TestSubmission;

    fn attached() -> ConnEventKind {
        ConnEventKind::SenderAttached {
            username: USER.into(),
            target: "131725_async".into(),
            queue: "nhn/131725_async".into(),
        }
    }

    fn refused_at(rec: &mut Recording, secs: &[f64]) {
        event(rec, TS, 1.0, 1, opened());
        for s in secs {
            let kind = ConnEventKind::AuthFailed {
                username: Some(USER.into()),
            };
            event(rec, PhaseKind::AuthRefused, *s, 2, kind);
        }
    }

    fn wrong_host(rec: &mut Recording, accepted: bool) {
        rec.wrong_host.push(WrongHostAttempt {
            at: super::super::fixture::at(PhaseKind::TlsWrongHost, 5.0),
            accepted_certificate: accepted,
            sent_amqp: accepted,
            error: (!accepted).then(|| "unknown ca".into()),
        });
    }

    #[test]
    fn connect() {
        run_cases(
            &[
                Case {
                    name: "connected and attached",
                    setup: |r| {
                        event(r, TS, 1.0, 7, opened());
                        event(r, TS, 2.0, 7, attached());
                    },
                    verdict: Pass,
                    reason: "attached a sending link",
                    names: "sending link attached to 131725_async",
                },
                Case {
                    name: "no link",
                    setup: |r| event(r, TS, 1.0, 7, opened()),
                    verdict: Fail,
                    reason: "attached no sending link",
                    names: "connection 7",
                },
                Case {
                    name: "nothing",
                    setup: |_| {},
                    verdict: Fail,
                    reason: "no authenticated AMQP connection",
                    names: "",
                },
            ],
            |c| super::connect(c.rec),
        );
    }

    #[test]
    fn sasl() {
        run_cases(
            &[
                Case {
                    name: "backed off",
                    setup: |r| refused_at(r, &[1.0, 15.0, 30.0]),
                    verdict: Pass,
                    reason: "3 refused attempt(s)",
                    names: "SASL PLAIN",
                },
                Case {
                    name: "tight loop",
                    setup: |r| refused_at(r, &[1.0, 2.0, 3.0]),
                    verdict: Fail,
                    reason: "2 of 3 refused attempts came sooner",
                    names: "time since the previous attempt",
                },
                Case {
                    name: "never refused",
                    setup: |r| refused_at(r, &[]),
                    verdict: Fail,
                    reason: "no attempt while its password was refused",
                    names: "",
                },
                Case {
                    name: "never logged in",
                    setup: |r| {
                        let kind = ConnEventKind::AuthFailed { username: None };
                        event(r, PhaseKind::AuthRefused, 1.0, 2, kind);
                    },
                    verdict: Fail,
                    reason: "never logged in",
                    names: "SASL PLAIN",
                },
            ],
            |c| super::sasl(c.rec),
        );
    }

    #[test]
    fn tls() {
        run_cases(
            &[
                Case {
                    name: "wrong host refused",
                    setup: |r| {
                        event(r, TS, 1.0, 1, opened());
                        wrong_host(r, false);
                    },
                    verdict: Pass,
                    reason: "certificate for another host name was refused",
                    names: "refused: unknown ca",
                },
                Case {
                    name: "wrong host accepted",
                    setup: |r| wrong_host(r, true),
                    verdict: Fail,
                    reason: "accepted a certificate",
                    names: "the client ACCEPTED the certificate",
                },
                Case {
                    name: "plain AMQP",
                    setup: |r| {
                        let kind = ConnEventKind::Opened {
                            username: USER.into(),
                            tls: false,
                            container_id: String::new(),
                        };
                        event(r, TS, 1.0, 3, kind);
                        wrong_host(r, false);
                    },
                    verdict: Fail,
                    reason: "without TLS",
                    names: "connection 3",
                },
                Case {
                    name: "no attempt on the wrong host",
                    setup: |_| {},
                    verdict: Fail,
                    reason: "no attempt reached the wrong-host port",
                    names: "",
                },
            ],
            |c| super::tls(c.rec),
        );
    }
}
