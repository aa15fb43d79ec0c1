//! Completeness and corrections: the accepted messages compared with the answer key
//! (`completeness`, `initial_load`, `year_events`, `corrections`, `annulments`), and the
//! comparison's evidence (also for `certify check` and the Sendemodul split).

use iplos_model::compare::{CompareOptions, Comparison, compare, compare_corrections};
use iplos_model::message::{Melding, Status};
use iplos_reports::certification::Evidence;

use super::common::{Ctx, Judged, accepted_in, fail, merged, pass};
use crate::certify::phases::PhaseKind;
use crate::certify::record::Msg;

/// An event in words, as the reports show it.
pub fn event_words(e: &iplos_model::compare::EventValue) -> String {
    format!(
        "{} status {} — tjenesteType {}, tjenesteID {}, hendelseDato {}, person typeID {} fid {}{}{}",
        e.kind,
        e.status,
        e.tjeneste_type,
        e.tjeneste_id,
        e.hendelse_dato,
        e.type_id,
        e.fid,
        e.tjeneste_org_nr
            .as_ref()
            .map(|o| format!(", tjenesteOrgNr {o}"))
            .unwrap_or_default(),
        e.bydel
            .as_ref()
            .map(|b| format!(", bydel {b}"))
            .unwrap_or_default(),
    )
}

/// Evidence for a comparison's references that point to the wrong original (those `keep`
/// accepts).
pub fn reference_evidence(
    c: &Comparison,
    file: &str,
    keep: impl Fn(&iplos_model::compare::RefProblem) -> bool,
) -> Vec<Evidence> {
    c.references
        .iter()
        .filter(|r| keep(r))
        .map(|r| Evidence::ExpectedReceived {
            subject: format!("{file}: {} {} ({:?})", r.rule, r.key, r.kind),
            field: Some("notifikasjonRef".into()),
            expected: Some(r.expected.clone()),
            received: Some(r.received.clone()),
        })
        .collect()
}

/// Evidence for a comparison's missing, extra and wrong events.
pub fn comparison_evidence(
    c: &Comparison,
    file: &str,
    keep: impl Fn(&str) -> bool,
) -> Vec<Evidence> {
    let mut ev = Vec::new();
    for d in c.missing.iter().chain(&c.extra) {
        let status = d
            .expected
            .as_ref()
            .or(d.received.as_ref())
            .map(|e| e.status.as_str())
            .unwrap_or("");
        if !keep(status) {
            continue;
        }
        ev.push(Evidence::ExpectedReceived {
            subject: format!("{file}: {} {}", d.rule, d.key),
            field: None,
            expected: d.expected.as_ref().map(event_words),
            received: d.received.as_ref().map(event_words),
        });
    }
    for d in &c.wrong {
        ev.push(Evidence::ExpectedReceived {
            subject: format!(
                "{file}: {} {} at {}{}",
                d.rule,
                d.key,
                d.location.path,
                d.location
                    .line
                    .map(|l| format!(" (line {l})"))
                    .unwrap_or_default()
            ),
            field: Some(d.field.clone()),
            expected: d.expected.clone(),
            received: d.received.clone(),
        });
    }
    ev
}

/// COMPLETE: the ordinary submission (initial load and year's events) as expected.
pub fn ordinary(ctx: &Ctx<'_>) -> Judged {
    completeness(
        &ctx.expected.ordinary,
        &accepted_in(ctx.rec, &[PhaseKind::InitialLoad, PhaseKind::YearEvents]),
        "the ordinary submission",
    )
}

/// The initial load as expected.
pub fn initial_load(ctx: &Ctx<'_>) -> Judged {
    completeness(
        &ctx.expected.initial(),
        &accepted_in(ctx.rec, &[PhaseKind::InitialLoad]),
        "the initial load",
    )
}

/// The year's events as expected.
pub fn year_events(ctx: &Ctx<'_>) -> Judged {
    completeness(
        &ctx.expected.year(),
        &accepted_in(ctx.rec, &[PhaseKind::YearEvents]),
        "the year's events",
    )
}

/// The accepted messages `got` compared with `expected`: missing, extra, wrong field.
fn completeness(expected: &Melding, got: &[&Msg], what: &str) -> Judged {
    let Some(received) = merged(got.iter().copied()) else {
        return fail(format!("no accepted message carried {what}"), Vec::new());
    };
    let c = compare(expected, &received, &CompareOptions::default());
    let names: Vec<String> = got.iter().map(|m| m.name()).collect();
    let ev = comparison_evidence(&c, &names.join(" + "), |_| true);
    let n = c.missing.len() + c.extra.len() + c.wrong.len();
    if n > 0 {
        return fail(
            format!(
                "{what}: {} of {} expected events matched; {} missing, {} extra, {} wrong field(s)",
                c.matched,
                c.expected_events,
                c.missing.len(),
                c.extra.len(),
                c.wrong.len()
            ),
            ev,
        );
    }
    pass(
        format!(
            "{what}: all {} expected events received once, every field as expected ({} message(s))",
            c.expected_events,
            got.len()
        ),
        ev,
    )
}

/// The accepted corrections (`which`: M or C) compared with the expected ones, references
/// resolved against the received ordinary messages.
pub fn corrections(ctx: &Ctx<'_>, which: Status) -> Judged {
    let rec = ctx.rec;
    let ordinary = accepted_in(rec, &[PhaseKind::InitialLoad, PhaseKind::YearEvents]);
    let corr = accepted_in(rec, &[PhaseKind::Corrections]);
    let (Some(ord), Some(cor)) = (
        merged(ordinary.iter().copied()),
        merged(corr.iter().copied()),
    ) else {
        return fail(
            "no accepted ordinary and corrections messages to compare",
            Vec::new(),
        );
    };
    let lines = (corr.len() == 1).then(|| corr[0].lines.clone()).flatten();
    let c = compare_corrections(
        &ctx.expected.ordinary,
        &ctx.expected.corrections,
        (&ord, None),
        (&cor, lines.as_deref()),
        &CompareOptions::default(),
    );
    let code = match which {
        Status::M => "M",
        _ => "C",
    };
    let is_which = |s: &str| s == code;
    let file = corr
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(" + ");
    let mut ev = comparison_evidence(&c, &file, is_which);
    let status_of = |i: usize| cor.notifikasjoner.get(i.wrapping_sub(1)).map(|n| &n.status);
    ev.extend(reference_evidence(&c, &file, |r| {
        status_of(r.location.notification) == Some(&which)
    }));
    let expected_n = ctx
        .expected
        .corrections
        .notifikasjoner
        .iter()
        .filter(|n| n.status == which)
        .count();
    let what = if which == Status::M {
        "corrections (M)"
    } else {
        "annulments (C)"
    };
    if !ev.is_empty() {
        return fail(format!("{} problem(s) with the {what}", ev.len()), ev);
    }
    pass(
        format!("all {expected_n} expected {what} received, each referring to the right original"),
        ev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::judge::fixture::{Case, expected, melding, push, run_cases};
    use iplos_reports::certification::TestVerdict::{Fail, Pass};

    fn ordinary(r: &mut crate::certify::record::Recording, year: &'static [u32]) {
        push(r, PhaseKind::InitialLoad, 1.0, |m| {
            m.melding = Some(melding(&[1, 2], ""))
        });
        push(r, PhaseKind::YearEvents, 1.0, |m| {
            m.melding = Some(melding(year, ""))
        });
    }

    #[test]
    fn the_ordinary_submission() {
        run_cases(
            &[
                Case {
                    name: "complete",
                    setup: |r| ordinary(r, &[3, 4]),
                    verdict: Pass,
                    reason: "all 4 expected events received once",
                    names: "",
                },
                Case {
                    name: "one missing",
                    setup: |r| ordinary(r, &[3]),
                    verdict: Fail,
                    reason: "1 missing, 0 extra",
                    names: "svc-4",
                },
                Case {
                    name: "one extra",
                    setup: |r| ordinary(r, &[3, 4, 5]),
                    verdict: Fail,
                    reason: "0 missing, 1 extra",
                    names: "m1 + m2",
                },
                Case {
                    name: "nothing accepted",
                    setup: |r| {
                        push(r, PhaseKind::InitialLoad, 1.0, |m| {
                            m.status = Some("2".into());
                            m.melding = Some(melding(&[1, 2], ""));
                        })
                    },
                    verdict: Fail,
                    reason: "no accepted message carried the ordinary submission",
                    names: "",
                },
            ],
            super::ordinary,
        );
        run_cases(
            &[
                Case {
                    name: "the initial load alone",
                    setup: |r| ordinary(r, &[]),
                    verdict: Pass,
                    reason: "the initial load: all 2 expected events",
                    names: "",
                },
                Case {
                    name: "the year's events in the initial load",
                    setup: |r| {
                        push(r, PhaseKind::InitialLoad, 1.0, |m| {
                            m.melding = Some(melding(&[1, 2, 3], ""))
                        })
                    },
                    verdict: Fail,
                    reason: "1 extra",
                    names: "svc-3",
                },
            ],
            super::initial_load,
        );
        run_cases(
            &[Case {
                name: "the year's events",
                setup: |r| ordinary(r, &[3, 4]),
                verdict: Pass,
                reason: "the year's events: all 2",
                names: "",
            }],
            super::year_events,
        );
    }

    fn corrections(r: &mut crate::certify::record::Recording, drop_annulment: bool) {
        ordinary(r, &[3, 4]);
        let mut c = expected().corrections;
        if drop_annulment {
            c.notifikasjoner.pop();
        }
        push(r, PhaseKind::Corrections, 1.0, |m| m.melding = Some(c));
    }

    #[test]
    fn corrections_and_annulments() {
        run_cases(
            &[
                Case {
                    name: "both",
                    setup: |r| corrections(r, false),
                    verdict: Pass,
                    reason: "all 1 expected corrections (M) received",
                    names: "",
                },
                Case {
                    name: "the annulment missing is not the corrections' problem",
                    setup: |r| corrections(r, true),
                    verdict: Pass,
                    reason: "corrections (M)",
                    names: "",
                },
            ],
            |c| super::corrections(c, Status::M),
        );
        run_cases(
            &[
                Case {
                    name: "both",
                    setup: |r| corrections(r, false),
                    verdict: Pass,
                    reason: "all 1 expected annulments (C) received",
                    names: "",
                },
                Case {
                    name: "the annulment missing",
                    setup: |r| corrections(r, true),
                    verdict: Fail,
                    reason: "1 problem(s) with the annulments (C)",
                    names: "m3",
                },
                Case {
                    name: "no corrections",
                    setup: |r| ordinary(r, &[3, 4]),
                    verdict: Fail,
                    reason: "no accepted ordinary and corrections messages",
                    names: "",
                },
            ],
            |c| super::corrections(c, Status::C),
        );
    }
}
