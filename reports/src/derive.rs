//! The derived sections of a report: [`coordinate`] fills the coordination section (see
//! [`crate::coordination`]) and the real-season figures; [`compare`] builds the comparison
//! with an earlier run.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};

use crate::coordination::{
    AtRisk, Baseline, Comparison, Contacts, DeadlineRisk, PhaseChange, RealFigure, RuleChange,
    lead_days, reason_for,
};
use crate::rehearsal::{Channel, KommuneResult, PhaseStatus, RehearsalReport};

/// A deadline: id, the reasons that threaten it, the fallback reason.
struct Rule {
    id: &'static str,
    reasons: &'static [&'static str],
    fallback: &'static str,
}

const DEADLINES: &[Rule] = &[
    Rule {
        id: "ordinary",
        reasons: &[
            "not_tested",
            "epj_not_upgraded",
            "bus_not_activated",
            "network",
            "login",
            "renumbered",
            "export",
            "no_receipt",
        ],
        fallback: "not_submitted",
    },
    Rule {
        id: "extension",
        reasons: &[
            "epj_not_upgraded",
            "bus_not_activated",
            "network",
            "export",
            "renumbered",
        ],
        fallback: "not_submitted",
    },
    Rule {
        id: "feedback",
        reasons: &["postmottak", "unzip"],
        fallback: "feedback_unread",
    },
    Rule {
        id: "corrections",
        reasons: &["late_correction", "export", "renumbered", "postmottak"],
        fallback: "late_correction",
    },
    Rule {
        id: "publication",
        reasons: &["export", "renumbered", "late_correction", "not_submitted"],
        fallback: "not_submitted",
    },
];

fn phase_status(k: &KommuneResult, ids: &[&str]) -> Option<PhaseStatus> {
    ids.iter().find_map(|id| k.phase(id)).map(|p| p.status)
}

/// Fills what is missing of the coordination section, recomputes `at_risk` and the
/// real-season figures. Call on a normalised report (the writers do).
pub fn coordinate(r: &mut RehearsalReport) {
    let season = iplos_model::calendar::Season::for_data_year(r.run.season).ok();
    let phase_day = |kind: iplos_model::calendar::PhaseKind| {
        season.as_ref().and_then(|s| {
            s.phases()
                .iter()
                .find(|p| p.kind() == kind)
                .map(|p| p.last_day())
        })
    };
    let has_extension = r.run.channel != Channel::Sendemodul
        && phase_day(iplos_model::calendar::PhaseKind::Extension).is_some();
    let prev: BTreeSet<&str> = u16::try_from(r.run.season - 1)
        .ok()
        .and_then(|y| iplos_model::municipality::municipalities(y).ok())
        .map(|l| l.iter().map(|m| m.number()).collect())
        .unwrap_or_default();
    let c = &mut r.coordination;
    let mut ext: BTreeSet<String> = c.extensions.iter().cloned().collect();
    let mut renum: BTreeSet<String> = c.renumbered.iter().cloned().collect();
    for k in &r.kommuner {
        c.contacts
            .entry(k.kommunenr.clone())
            .or_insert_with(|| Contacts::synthetic(&k.kommunenr, &k.name));
        let faults = |id: &str| k.faults.iter().any(|f| f.replace('-', "_") == id);
        if let Some(p) = k.phase("ordinary_submission")
            && p.status == PhaseStatus::Late
        {
            let said = p.reason.as_deref().unwrap_or("").to_lowercase();
            if said.contains("extension")
                || said.contains("utsettelse")
                || (has_extension && faults("epj_not_upgraded"))
            {
                ext.insert(k.kommunenr.clone());
            }
        }
        if (!prev.is_empty() && !prev.contains(k.kommunenr.as_str())) || faults("old_kommunenummer")
        {
            renum.insert(k.kommunenr.clone());
        }
    }
    c.contacts
        .retain(|nr, _| r.kommuner.iter().any(|k| &k.kommunenr == nr));
    c.extensions = ext.into_iter().collect();
    c.renumbered = renum.into_iter().collect();

    let day = |p: &str| r.phases.iter().find(|x| x.id == p).map(|x| x.last_day);
    let y = r.run.season + 1;
    let ymd = |m, d| NaiveDate::from_ymd_opt(y, m, d);
    let dates: BTreeMap<&str, Option<NaiveDate>> = [
        ("ordinary", day("ordinary_submission").or(ymd(1, 15))),
        (
            "extension",
            if has_extension {
                phase_day(iplos_model::calendar::PhaseKind::Extension)
            } else {
                None
            },
        ),
        ("feedback", day("feedback")),
        (
            "corrections",
            day("corrections").or(day("corrections_deadline")),
        ),
        ("publication", ymd(6, 15)),
    ]
    .into_iter()
    .collect();
    let mut at_risk = Vec::new();
    for rule in DEADLINES {
        let Some(Some(date)) = dates.get(rule.id).copied() else {
            continue;
        };
        let mut list = Vec::new();
        for k in &r.kommuner {
            let ord = phase_status(k, &["ordinary_submission"]);
            let extended = r.coordination.extensions.contains(&k.kommunenr);
            let problem = |s: Option<PhaseStatus>| s.is_some_and(PhaseStatus::is_problem);
            let corr = phase_status(k, &["corrections", "corrections_deadline"]);
            let never = matches!(ord, Some(PhaseStatus::Failed | PhaseStatus::NotAttempted));
            let untested = matches!(
                phase_status(k, &["test_submission"]),
                Some(PhaseStatus::NotAttempted | PhaseStatus::Failed)
            );
            let hit = match rule.id {
                "ordinary" => problem(ord) || untested,
                "extension" => never || (ord == Some(PhaseStatus::Late) && !extended),
                "feedback" => problem(phase_status(k, &["feedback"])),
                "corrections" => problem(corr),
                _ => never || problem(corr),
            };
            if !hit {
                continue;
            }
            let mut reasons: BTreeSet<&str> = k
                .faults
                .iter()
                .map(String::as_str)
                .chain(
                    k.phases
                        .iter()
                        .filter_map(|p| p.cause.as_deref())
                        .flat_map(|c| c.split(',')),
                )
                .filter_map(reason_for)
                .filter(|x| rule.reasons.contains(x))
                .collect();
            if untested && rule.id == "ordinary" {
                reasons.insert("not_tested");
            }
            if r.coordination.renumbered.contains(&k.kommunenr)
                && rule.reasons.contains(&"renumbered")
            {
                reasons.insert("renumbered");
            }
            if never && rule.reasons.contains(&"not_submitted") {
                reasons.insert("not_submitted");
            }
            if reasons.is_empty() {
                reasons.insert(rule.fallback);
            }
            let lead = reasons.iter().map(|x| lead_days(x)).max().unwrap_or(0);
            list.push(AtRisk {
                kommunenr: k.kommunenr.clone(),
                reasons: reasons.into_iter().map(str::to_string).collect(),
                act_by: date - Duration::days(lead),
            });
        }
        list.sort_by(|a, b| a.act_by.cmp(&b.act_by).then(a.kommunenr.cmp(&b.kommunenr)));
        at_risk.push(DeadlineRisk {
            id: rule.id.into(),
            date,
            kommuner: list,
        });
    }
    at_risk.sort_by_key(|d| d.date);
    r.coordination.at_risk = at_risk;
    let real = real_figures(r);
    match &mut r.comparison {
        Some(c) => c.real = real,
        None if !real.is_empty() => {
            r.comparison = Some(Comparison {
                real,
                ..Comparison::default()
            })
        }
        None => {}
    }
}

/// How bad a status is (lower is better); not applicable counts as on time.
fn rank(s: PhaseStatus) -> u8 {
    match s {
        PhaseStatus::OnTime | PhaseStatus::NotApplicable => 0,
        PhaseStatus::Late => 1,
        PhaseStatus::Failed | PhaseStatus::NotAttempted => 2,
    }
}

/// The real season's figures (seed 001: "Pr. 15.11 var det 288 kommuner som hadde testet
/// ... 139 kommuner ikke har testet"; "Ca. 270 kommuner har rapportert i testperioden").
/// (season, figure id, (year, month, day), real number).
type Real = (i32, &'static str, (i32, u32, u32), u32);

const REAL: &[Real] = &[
    (2016, "tested_by", (2016, 11, 15), 288),
    (2016, "not_tested_by", (2016, 11, 15), 139),
    (2016, "test_week", (2016, 10, 23), 270),
];

/// The rehearsal against the real figures for its season (empty when none are known).
pub fn real_figures(r: &RehearsalReport) -> Vec<RealFigure> {
    let mut out = Vec::new();
    for &(season, id, (y, m, d), real) in REAL {
        if season != r.run.season {
            continue;
        }
        let Some(date) = NaiveDate::from_ymd_opt(y, m, d) else {
            continue;
        };
        let tested_by = |k: &crate::rehearsal::KommuneResult| {
            k.phase("test_submission").is_some_and(|p| {
                matches!(p.status, PhaseStatus::OnTime | PhaseStatus::Late)
                    && p.at.is_some_and(|t| crate::when::oslo(&t).0 <= date)
            })
        };
        let n = |f: &dyn Fn(&crate::rehearsal::KommuneResult) -> bool| {
            u32::try_from(r.kommuner.iter().filter(|k| f(k)).count()).unwrap_or(u32::MAX)
        };
        let rehearsal = match id {
            "tested_by" | "test_week" => n(&tested_by),
            _ => n(&|k| !tested_by(k)),
        };
        out.push(RealFigure {
            id: id.into(),
            date,
            real,
            rehearsal,
            source: "shared/seeds/001 (IPLOS-nytt, november 2016)".into(),
        });
    }
    out
}

/// Compares `now` with `baseline` (statuses and causes are read as they are).
pub fn compare(now: &RehearsalReport, baseline: &RehearsalReport) -> Comparison {
    let before: BTreeMap<&str, &crate::rehearsal::KommuneResult> = baseline
        .kommuner
        .iter()
        .map(|k| (k.kommunenr.as_str(), k))
        .collect();
    let mut phases = Vec::new();
    for p in &now.phases {
        let (mut better, mut worse) = (Vec::new(), Vec::new());
        for k in &now.kommuner {
            let (Some(a), Some(b)) = (
                k.phase(&p.id),
                before
                    .get(k.kommunenr.as_str())
                    .and_then(|b| b.phase(&p.id)),
            ) else {
                continue;
            };
            match rank(a.status).cmp(&rank(b.status)) {
                std::cmp::Ordering::Less => better.push(k.kommunenr.clone()),
                std::cmp::Ordering::Greater => worse.push(k.kommunenr.clone()),
                std::cmp::Ordering::Equal => {}
            }
        }
        better.sort();
        worse.sort();
        phases.push(PhaseChange {
            phase: p.id.clone(),
            better,
            worse,
        });
    }
    let causes = |r: &RehearsalReport| -> BTreeSet<String> {
        r.failures
            .iter()
            .filter(|f| !f.kommuner.is_empty())
            .map(|f| f.cause.clone())
            .collect()
    };
    let (c_now, c_then) = (causes(now), causes(baseline));
    let rules = |r: &RehearsalReport| -> BTreeMap<String, u64> {
        r.findings
            .by_rule
            .iter()
            .map(|x| (x.rule.clone(), x.occurrences))
            .collect()
    };
    let (r_now, r_then) = (rules(now), rules(baseline));
    let ids: BTreeSet<&String> = r_now.keys().chain(r_then.keys()).collect();
    Comparison {
        baseline: Some(Baseline {
            season: baseline.run.season,
            scenario: baseline.run.scenario.clone(),
            seed: baseline.run.seed,
            tool_version: baseline.tool.version.clone(),
        }),
        phases,
        new_causes: c_now.difference(&c_then).cloned().collect(),
        gone_causes: c_then.difference(&c_now).cloned().collect(),
        rules: ids
            .into_iter()
            .filter_map(|id| {
                let (a, b) = (
                    r_then.get(id).copied().unwrap_or(0),
                    r_now.get(id).copied().unwrap_or(0),
                );
                (a != b).then(|| RuleChange {
                    rule: id.clone(),
                    before: a,
                    after: b,
                })
            })
            .collect(),
        real: real_figures(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_risk_is_sorted_by_act_by_and_every_kommune_has_contacts() {
        let r = crate::sample::sample(120, 3);
        let mut r = r.clone();
        r.normalise();
        coordinate(&mut r);
        assert_eq!(r.coordination.contacts.len(), 120);
        assert!(
            r.coordination
                .contacts
                .values()
                .all(|c| c.iplos.ends_with(".test"))
        );
        let ord = r
            .coordination
            .at_risk
            .iter()
            .find(|d| d.id == "ordinary")
            .unwrap();
        assert!(!ord.kommuner.is_empty());
        assert!(ord.kommuner.windows(2).all(|w| w[0].act_by <= w[1].act_by));
        assert!(
            ord.kommuner
                .iter()
                .any(|k| k.reasons.iter().any(|x| x == "not_tested"))
        );
        assert!(
            r.coordination
                .at_risk
                .windows(2)
                .all(|w| w[0].date <= w[1].date)
        );
    }

    #[test]
    fn a_run_against_another_seed_shows_changes_and_real_figures() {
        let a = crate::sample::sample(200, 1);
        let b = crate::sample::sample(200, 2);
        let c = compare(&a, &b);
        assert_eq!(c.phases.len(), a.phases.len());
        assert!(c.phases.iter().any(|p| !p.better.is_empty()));
        assert!(c.phases.iter().any(|p| !p.worse.is_empty()));
        assert!(!c.rules.is_empty());
        let same = compare(&a, &a);
        assert!(
            same.phases
                .iter()
                .all(|p| p.better.is_empty() && p.worse.is_empty())
        );
        assert!(same.new_causes.is_empty() && same.rules.is_empty());
        assert_eq!(c.real.len(), 3, "the 2016 sample has the seed's figures");
        assert_eq!(c.real[0].real, 288);
    }
}
