//! Content and schema: the catalogue rules' findings in the vendor's export (`schema`,
//! `content_rules`) and the chain across the messages to KPR (`chain`).

use iplos_reports::certification::Evidence;

use super::common::{Judged, MAX_EVIDENCE, accepted_in, fail, pass};
use crate::certify::phases::PhaseKind;
use crate::certify::plan::Test;
use crate::certify::record::{Msg, Recording};

fn excerpt(m: &Msg, line: u64) -> Option<Evidence> {
    let text = String::from_utf8_lossy(m.iplos.as_ref()?);
    let first = line.saturating_sub(2).max(1);
    let xml: Vec<&str> = text.lines().skip(first as usize - 1).take(6).collect();
    if xml.is_empty() {
        return None;
    }
    Some(Evidence::excerpt(
        Some(m.name()),
        u32::try_from(first).ok(),
        &xml.join("\n"),
    ))
}

/// SCHEMA, RULE-*: no finding of the test's rules in the content phases' messages.
pub fn rules(rec: &Recording, t: &Test) -> Judged {
    let content: Vec<&Msg> = rec
        .messages
        .iter()
        .filter(|m| m.phase.is_some_and(PhaseKind::content) && m.report.is_some())
        .collect();
    let mut ev = Vec::new();
    let mut n = 0usize;
    let mut excerpted = false;
    for m in &content {
        for f in m.report.iter().flat_map(|r| &r.findings) {
            if !t.rules.iter().any(|r| r == f.rule) {
                continue;
            }
            n += 1;
            if ev.len() < MAX_EVIDENCE - 1 {
                ev.push(Evidence::Rule {
                    rule: f.rule.to_string(),
                    title: f.message.clone(),
                    message_id: Some(m.name()),
                    location: Some(format!("{} (line {})", f.location.path, f.location.line)),
                });
            }
            if !excerpted && let Some(x) = excerpt(m, f.location.line) {
                ev.push(x);
                excerpted = true;
            }
        }
    }
    if content.is_empty() {
        return fail("no message of the content phases was checked", ev);
    }
    if n > 0 {
        return fail(
            format!(
                "{n} finding(s) of {} in the vendor's export",
                t.rules.join(", ")
            ),
            ev,
        );
    }
    pass(
        format!(
            "no finding of {} in {} message(s)",
            t.rules.join(", "),
            content.len()
        ),
        ev,
    )
}

/// CHAIN: at least three accepted messages to KPR, no chain, numbering or GUID finding.
pub fn chain(rec: &Recording, t: &Test) -> Judged {
    let prod = accepted_in(
        rec,
        &[
            PhaseKind::InitialLoad,
            PhaseKind::YearEvents,
            PhaseKind::Corrections,
        ],
    );
    let mut ev = Vec::new();
    let mut n = 0;
    for m in rec
        .messages
        .iter()
        .filter(|m| m.phase.is_some_and(PhaseKind::production))
    {
        for f in m.report.iter().flat_map(|r| &r.findings) {
            if t.rules.iter().any(|r| r == f.rule) {
                n += 1;
                ev.push(Evidence::Rule {
                    rule: f.rule.to_string(),
                    title: f.message.clone(),
                    message_id: Some(m.name()),
                    location: Some(format!("{} (line {})", f.location.path, f.location.line)),
                });
            }
        }
    }
    if n > 0 {
        return fail(
            format!("{n} chain or numbering finding(s) across the messages to KPR"),
            ev,
        );
    }
    if prod.len() < 3 {
        return fail(
            format!(
                "only {} accepted message(s) to KPR: the chain across at least three could not be seen",
                prod.len()
            ),
            ev,
        );
    }
    pass(
        format!(
            "{} accepted messages to KPR with one unbroken chain, strictly increasing løpenr and unique GUIDs",
            prod.len()
        ),
        ev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::judge::fixture::{Case, push, report, run_cases, test};
    use crate::certify::plan::CheckKind;
    use iplos_reports::certification::TestVerdict::{Fail, Pass};

    /// A finding of the first rule of the shipped plan's first test of `kind`.
    fn finding_of(kind: CheckKind, m: &mut Msg) {
        let t = test(kind);
        m.report = Some(report(&[t.rules[0].as_str()]));
        m.iplos = Some(b"<a>\n<b>\n<c>\n<d>\n<e>\n<f>\n<Notifikasjon>\n<h>\n".to_vec());
    }

    #[test]
    fn rules() {
        let t = test(CheckKind::ContentRules);
        run_cases(
            &[
                Case {
                    name: "no finding",
                    setup: |r| push(r, PhaseKind::TestSubmission, 1.0, |_| {}),
                    verdict: Pass,
                    reason: "no finding of",
                    names: "",
                },
                Case {
                    name: "a finding, with an excerpt",
                    setup: |r| {
                        push(r, PhaseKind::InitialLoad, 1.0, |m| {
                            finding_of(CheckKind::ContentRules, m)
                        })
                    },
                    verdict: Fail,
                    reason: "1 finding(s) of",
                    names: "<Notifikasjon>",
                },
                Case {
                    name: "a finding in a fault phase is not the export's",
                    setup: |r| {
                        push(r, PhaseKind::TestSubmission, 1.0, |_| {});
                        push(r, PhaseKind::LostApprec, 1.0, |m| {
                            finding_of(CheckKind::ContentRules, m)
                        });
                    },
                    verdict: Pass,
                    reason: "in 1 message(s)",
                    names: "",
                },
                Case {
                    name: "nothing checked",
                    setup: |_| {},
                    verdict: Fail,
                    reason: "no message of the content phases was checked",
                    names: "",
                },
            ],
            |c| super::rules(c.rec, &t),
        );
    }

    #[test]
    fn chain() {
        let t = test(CheckKind::Chain);
        run_cases(
            &[
                Case {
                    name: "three accepted messages",
                    setup: |r| {
                        push(r, PhaseKind::InitialLoad, 1.0, |_| {});
                        push(r, PhaseKind::YearEvents, 1.0, |_| {});
                        push(r, PhaseKind::Corrections, 1.0, |_| {});
                    },
                    verdict: Pass,
                    reason: "3 accepted messages to KPR",
                    names: "",
                },
                Case {
                    name: "a chain finding",
                    setup: |r| {
                        push(r, PhaseKind::InitialLoad, 1.0, |_| {});
                        push(r, PhaseKind::YearEvents, 1.0, |m| {
                            finding_of(CheckKind::Chain, m)
                        });
                        push(r, PhaseKind::Corrections, 1.0, |_| {});
                    },
                    verdict: Fail,
                    reason: "1 chain or numbering finding(s)",
                    names: "m2",
                },
                Case {
                    name: "too few messages",
                    setup: |r| push(r, PhaseKind::InitialLoad, 1.0, |_| {}),
                    verdict: Fail,
                    reason: "only 1 accepted message(s)",
                    names: "",
                },
            ],
            |c| super::chain(c.rec, &t),
        );
    }
}
