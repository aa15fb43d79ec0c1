//! Transport and message properties, certificates, CMS and the MsgHead: the register's
//! pipeline checks (`certificate`, `properties`, `cms`, `msghead`) and where the kommune's
//! messages went (`addressing`).

use iplos_reports::certification::{Evidence, TestVerdict};

use super::common::{Judged, fail, msg_ev, not_observed, pass};
use super::stage::{Gate, failed, got_past};
use crate::certify::record::{Msg, Recording};

/// A pipeline check: no message of the kommune failed `gate`, and at least one got past it.
pub fn stage_test(rec: &Recording, what: &str, gate: Gate) -> Judged {
    let bad: Vec<&Msg> = rec.messages.iter().filter(|m| failed(m, gate)).collect();
    let ok = rec.messages.iter().filter(|m| got_past(m, gate)).count();
    let ev: Vec<Evidence> = bad
        .iter()
        .map(|m| msg_ev(m, format!("answered {}", m.answer_words())))
        .collect();
    if !bad.is_empty() {
        return fail(format!("{} message(s) failed {what}", bad.len()), ev);
    }
    if ok == 0 {
        return not_observed(format!("no message of the kommune got past {what}"), ev);
    }
    pass(format!("{ok} message(s) passed {what}, none failed it"), ev)
}

/// CERT: the signing and encryption certificates were accepted.
pub fn certificate(rec: &Recording) -> Judged {
    stage_test(rec, "the certificate check", Gate::Certificate)
}

/// PROP: the AMQP header and application properties were accepted.
pub fn properties(rec: &Recording) -> Judged {
    stage_test(rec, "the header check", Gate::Properties)
}

/// MSGHEAD: the MsgHead was accepted, and its MsgId is unique per message: no message
/// carries the MsgId of an earlier one unless it is a resend of it (the same
/// notifications, in the same phase). The register answers a message with a known MsgId
/// with the earlier one's AppRec and does not read it: a new message under an old MsgId is
/// lost while the EPJ believes it delivered.
pub fn msghead(rec: &Recording) -> Judged {
    let j = stage_test(rec, "the MsgHead", Gate::Msghead);
    if j.verdict == TestVerdict::Fail {
        return j;
    }
    let reused = msg_id_reused(rec);
    if reused.is_empty() {
        return j;
    }
    let ev = reused
        .iter()
        .map(|(m, o)| {
            msg_ev(
                m,
                format!(
                    "MsgId {} is the MsgId of {} ({} phase), a different message; the register answered {}",
                    m.msg_id.as_deref().unwrap_or("?"),
                    o.name(),
                    o.phase.map_or("?", |p| p.as_str()),
                    m.answer_words()
                ),
            )
        })
        .collect();
    fail(
        format!(
            "{} message(s) reuse the MsgHead MsgId of an earlier, different message (MsgId must be unique per message: the register takes them for resends and does not read them)",
            reused.len()
        ),
        ev,
    )
}

/// Messages whose MsgId an earlier, different message had (another phase, or other
/// notifications), each with the earlier one.
fn msg_id_reused(rec: &Recording) -> Vec<(&Msg, &Msg)> {
    let mut out = Vec::new();
    for (i, m) in rec.messages.iter().enumerate() {
        let Some(id) = m.msg_id.as_deref() else {
            continue;
        };
        let earlier = rec.messages[..i].iter().find(|o| {
            o.msg_id.as_deref() == Some(id)
                && o.message_id != m.message_id
                && (o.phase != m.phase
                    || (o.melding.is_some() && m.melding.is_some() && o.guids() != m.guids()))
        });
        if let Some(o) = earlier {
            out.push((m, o));
        }
    }
    out
}

/// CMS-01: no message failed decryption or the signature, and every payload's content
/// encryption is AES-256-CBC.
pub fn cms(rec: &Recording) -> Judged {
    let j = stage_test(rec, "decryption and the signature", Gate::Cms);
    if j.verdict != TestVerdict::Pass {
        return j;
    }
    let other: Vec<&Msg> = rec
        .messages
        .iter()
        .filter(|m| {
            m.content_encryption
                .as_deref()
                .is_some_and(|a| a != iplos_mocks::cms::OID_AES256_CBC)
        })
        .collect();
    if other.is_empty() {
        return Judged {
            reason: format!("{}; content encrypted with AES-256-CBC", j.reason),
            ..j
        };
    }
    let ev = other
        .iter()
        .map(|m| Evidence::ExpectedReceived {
            subject: m.name(),
            field: Some("contentEncryptionAlgorithm".into()),
            expected: Some(format!(
                "AES-256-CBC ({})",
                iplos_mocks::cms::OID_AES256_CBC
            )),
            received: m.content_encryption.clone(),
        })
        .collect();
    fail(
        format!(
            "{} message(s) encrypted with another algorithm than AES-256-CBC",
            other.len()
        ),
        ev,
    )
}

fn queue_her(queue: &str) -> Option<&str> {
    queue.rsplit('/').next()?.strip_suffix("_async")
}

/// ADDR: test submissions to KPR Validering, content to KPR, reply-to the kommune's own
/// `_async` queue, toHerId the queue's owner.
pub fn addressing(rec: &Recording) -> Judged {
    let mut ev = Vec::new();
    let own = format!("{}_async", rec.kommune_her);
    for m in rec.messages.iter() {
        let Some(phase) = m.phase else { continue };
        let want = if phase.production() {
            "134197"
        } else {
            "131725"
        };
        let got = queue_her(&m.queue).unwrap_or("?");
        if got != want {
            ev.push(Evidence::ExpectedReceived {
                subject: format!("{} ({} phase)", m.name(), phase.as_str()),
                field: Some("target queue".into()),
                expected: Some(format!("{want}_async")),
                received: Some(m.queue.clone()),
            });
        }
        let reply_ok = m
            .reply_to
            .as_deref()
            .and_then(|r| r.rsplit('/').next())
            .is_some_and(|q| q == own);
        if !reply_ok {
            ev.push(Evidence::ExpectedReceived {
                subject: m.name(),
                field: Some("reply-to".into()),
                expected: Some(own.clone()),
                received: m.reply_to.clone(),
            });
        }
        if m.to_her.as_deref().map(str::trim) != Some(got) {
            ev.push(Evidence::ExpectedReceived {
                subject: m.name(),
                field: Some("toHerId".into()),
                expected: Some(got.to_string()),
                received: m.to_her.clone(),
            });
        }
    }
    let leaked = ev.iter().any(|e| {
        matches!(e, Evidence::ExpectedReceived { expected: Some(x), .. } if x == "131725_async")
    });
    if rec.messages.is_empty() {
        return fail("no message arrived", ev);
    }
    if !ev.is_empty() {
        return fail(
            if leaked {
                "test data reached KPR production, or messages were misaddressed".to_string()
            } else {
                format!("{} addressing problem(s)", ev.len())
            },
            ev,
        );
    }
    pass(
        format!(
            "{} message(s): test submissions to 131725, content to 134197, reply-to {own}, toHerId the queue's owner",
            rec.messages.len()
        ),
        ev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::judge::fixture::{Case, melding, push, run_cases};
    use crate::certify::phases::PhaseKind;
    use iplos_reports::certification::TestVerdict::{Fail, Pass};

    const TS: PhaseKind = PhaseKind::TestSubmission;

    fn error(m: &mut Msg, stage: &str) {
        m.outcome = Some("error".parse().expect("a known name"));
        m.status = None;
        m.stage = Some(stage.parse().expect("a known name"));
    }

    #[test]
    fn certificate() {
        run_cases(
            &[
                Case {
                    name: "accepted",
                    setup: |r| push(r, TS, 1.0, |_| {}),
                    verdict: Pass,
                    reason: "1 message(s) passed the certificate check",
                    names: "",
                },
                Case {
                    name: "expired",
                    setup: |r| {
                        push(r, TS, 1.0, |m| {
                            error(m, "cms");
                            m.error_condition = Some(
                                "transport:expired-certificate"
                                    .parse()
                                    .expect("a known name"),
                            );
                        })
                    },
                    verdict: Fail,
                    reason: "1 message(s) failed the certificate check",
                    names: "m1",
                },
                Case {
                    name: "wrong key usage",
                    setup: |r| {
                        push(r, TS, 1.0, |m| {
                            error(m, "cms");
                            m.error_data = Some("WrongKeyUsage".into());
                        })
                    },
                    verdict: Fail,
                    reason: "failed the certificate check",
                    names: "m1",
                },
                Case {
                    name: "none got that far",
                    setup: |r| push(r, TS, 1.0, |m| error(m, "header")),
                    verdict: Fail,
                    reason: "no message of the kommune got past the certificate check",
                    names: "",
                },
            ],
            |c| super::certificate(c.rec),
        );
    }

    #[test]
    fn properties_and_msghead() {
        run_cases(
            &[
                Case {
                    name: "header refused",
                    setup: |r| {
                        push(r, TS, 1.0, |_| {});
                        push(r, TS, 2.0, |m| error(m, "header"));
                    },
                    verdict: Fail,
                    reason: "1 message(s) failed the header check",
                    names: "m2",
                },
                Case {
                    name: "accepted",
                    setup: |r| push(r, TS, 1.0, |_| {}),
                    verdict: Pass,
                    reason: "passed the header check",
                    names: "",
                },
            ],
            |c| super::properties(c.rec),
        );
        run_cases(
            &[
                Case {
                    name: "MsgHead refused",
                    setup: |r| push(r, TS, 1.0, |m| error(m, "msghead")),
                    verdict: Fail,
                    reason: "1 message(s) failed the MsgHead",
                    names: "m1",
                },
                Case {
                    name: "accepted",
                    setup: |r| push(r, TS, 1.0, |_| {}),
                    verdict: Pass,
                    reason: "passed the MsgHead",
                    names: "",
                },
                Case {
                    name: "a new message in a later phase under the first one's MsgId",
                    setup: |r| {
                        push(r, TS, 1.0, |m| m.msg_id = Some("x".into()));
                        push(r, PhaseKind::ApprecStatus2, 1.0, |m| {
                            m.msg_id = Some("x".into())
                        });
                    },
                    verdict: Fail,
                    reason: "1 message(s) reuse the MsgHead MsgId of an earlier, different message",
                    names: "is the MsgId of m1 (test-submission phase)",
                },
                Case {
                    name: "other notifications under the same MsgId",
                    setup: |r| {
                        push(r, PhaseKind::InitialLoad, 1.0, |m| {
                            m.msg_id = Some("x".into());
                            m.melding = Some(melding(&[1], ""));
                        });
                        push(r, PhaseKind::InitialLoad, 2.0, |m| {
                            m.msg_id = Some("x".into());
                            m.melding = Some(melding(&[2], ""));
                        });
                    },
                    verdict: Fail,
                    reason: "reuse the MsgHead MsgId",
                    names: "m2",
                },
                Case {
                    name: "a resend of the same notifications under a new message-id",
                    setup: |r| {
                        for at in [1.0, 2.0] {
                            push(r, PhaseKind::LostApprec, at, |m| {
                                m.msg_id = Some("x".into());
                                m.melding = Some(melding(&[1, 2], ""));
                            });
                        }
                    },
                    verdict: Pass,
                    reason: "2 message(s) passed the MsgHead",
                    names: "",
                },
            ],
            |c| super::msghead(c.rec),
        );
    }

    #[test]
    fn cms() {
        run_cases(
            &[
                Case {
                    name: "AES-256-CBC",
                    setup: |r| push(r, TS, 1.0, |_| {}),
                    verdict: Pass,
                    reason: "content encrypted with AES-256-CBC",
                    names: "",
                },
                Case {
                    name: "bad signature",
                    setup: |r| {
                        push(r, TS, 1.0, |_| {});
                        push(r, TS, 2.0, |m| {
                            error(m, "cms");
                            m.error_data = Some("BadSignature".into());
                        });
                    },
                    verdict: Fail,
                    reason: "failed decryption and the signature",
                    names: "m2",
                },
                Case {
                    name: "another algorithm",
                    setup: |r| {
                        push(r, TS, 1.0, |m| {
                            m.content_encryption = Some("1.2.840.113549.3.7".into())
                        })
                    },
                    verdict: Fail,
                    reason: "another algorithm than AES-256-CBC",
                    names: "contentEncryptionAlgorithm",
                },
            ],
            |c| super::cms(c.rec),
        );
    }

    #[test]
    fn addressing() {
        run_cases(
            &[
                Case {
                    name: "right queues",
                    setup: |r| {
                        push(r, TS, 1.0, |_| {});
                        push(r, PhaseKind::InitialLoad, 1.0, |_| {});
                    },
                    verdict: Pass,
                    reason: "2 message(s): test submissions to 131725",
                    names: "",
                },
                Case {
                    name: "test data to production",
                    setup: |r| {
                        push(r, TS, 1.0, |m| {
                            m.queue = "nhn/134197_async".into();
                            m.to_her = Some("134197".into());
                        })
                    },
                    verdict: Fail,
                    reason: "test data reached KPR production",
                    names: "target queue",
                },
                Case {
                    name: "reply-to another queue",
                    setup: |r| push(r, TS, 1.0, |m| m.reply_to = Some("nhn/1_async".into())),
                    verdict: Fail,
                    reason: "1 addressing problem(s)",
                    names: "reply-to",
                },
                Case {
                    name: "nothing",
                    setup: |_| {},
                    verdict: Fail,
                    reason: "no message arrived",
                    names: "",
                },
            ],
            |c| super::addressing(c.rec),
        );
    }
}
