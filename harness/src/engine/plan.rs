//! What each kommune will do in a season, drawn once from the seed: its vendor, whether it
//! tests, on which days it submits, which faults strike it, its contacts and its keys.
//! Everything here is a pure function of (scenario, seed, kommune): the same seed gives
//! the same plan whatever else runs.

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};
use iplos_generators::seed::stream_rng;
use iplos_model::calendar::is_working_day;
use iplos_model::municipality::Municipality;
use rand::Rng;

use crate::scenario::{ChannelSpec, Fault, PhaseId, Scenario};

/// One kommune's plan.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// Kommunenummer.
    pub knr: String,
    /// Name.
    pub name: String,
    /// Organisasjonsnummer.
    pub orgnr: String,
    /// Bydel (`00`).
    pub bydel: String,
    /// The filsluse username: the postmottak address.
    pub postmottak: String,
    /// The IPLOS contact's e-mail (receipts, forwarded mail).
    pub contact: String,
    /// The IPLOS contact's mobile.
    pub phone: String,
    /// The feedback key the kommune chose at encryption time.
    pub feedback_key: String,
    /// The filsluse password the contact will set.
    pub filsluse_password: String,
    /// The EPJ product (`navnEPJ`), `None`: the generator's draw.
    pub vendor: Option<String>,
    /// Takes part in the test submission.
    pub tests: bool,
    /// Day of the test submission.
    pub test_day: NaiveDate,
    /// Day of the ordinary submission.
    pub ordinary_day: NaiveDate,
    /// Minutes after 08:00 the kommune acts on a day.
    pub minute: u32,
    /// The faults that strike it.
    pub faults: BTreeSet<Fault>,
    /// It knows of registration mistakes of its own to correct after the feedback
    /// (besides what the feilliste lists).
    #[serde(default)]
    pub registration_mistakes: bool,
    /// Working days after reading the feedback before its corrections go (people fit the
    /// work in between other tasks).
    #[serde(default)]
    pub correction_days: u32,
}

impl Plan {
    /// Whether `f` strikes this kommune.
    pub fn has(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }
}

/// Draws the plan of kommune `m` in `scenario` with `seed`.
pub fn plan(scenario: &Scenario, m: &Municipality, seed: u64) -> Plan {
    let year = scenario.season.data_year as u16;
    let knr = m.number().to_string();
    let mut rng = stream_rng(seed, year, &knr, "rehearsal");
    let mut faults = BTreeSet::new();
    for f in Fault::ALL {
        let rate = scenario.rate(f);
        // Draw for every fault even at rate 0 so that one rate does not shift the others.
        let x: f64 = rng.r#gen();
        if x < rate {
            faults.insert(f);
        }
    }
    // The kommunenummer trap strikes only a kommune that has one: renumbered next year
    // (Trøndelag 2018: 2017 data reported on the new 50xx number) or new this year (its old
    // number from before the merger).
    if faults.contains(&Fault::OldKommunenummer) && trap_number(year, &knr).is_none() {
        faults.remove(&Fault::OldKommunenummer);
    }
    // Test participation is one draw against one share (seed 001: 288 of 427 tested):
    // `test_share`, or 1 - `never_tested` when that rate is given and lower. Every
    // non-tester is never_tested, so each one shows its cause.
    let tests_draw: f64 = rng.r#gen();
    faults.remove(&Fault::NeverTested);
    let has_test = scenario.phase(PhaseId::TestSubmission).is_some();
    let tests = has_test && tests_draw < test_participation(scenario);
    if has_test && !tests {
        faults.insert(Fault::NeverTested);
    }
    let vendor = if scenario.rehearsal.vendor_shares.is_empty() {
        let _: f64 = rng.r#gen();
        None
    } else {
        let total: f64 = scenario.rehearsal.vendor_shares.values().sum();
        let mut x = rng.r#gen::<f64>() * total;
        let mut pick = None;
        for (name, share) in &scenario.rehearsal.vendor_shares {
            if x < *share {
                pick = Some(name.clone());
                break;
            }
            x -= share;
        }
        pick.or_else(|| scenario.rehearsal.vendor_shares.keys().last().cloned())
    };
    let test_day = scenario
        .phase(PhaseId::TestSubmission)
        .map(|p| {
            pick_working_day(
                &mut rng,
                p.first_day,
                p.last_day.min(p.first_day + Duration::days(13)),
                0.0,
            )
        })
        .unwrap_or_default();
    let ordinary_day = scenario
        .phase(PhaseId::OrdinarySubmission)
        .map(|p| {
            pick_working_day(
                &mut rng,
                p.first_day,
                p.last_day,
                scenario.rehearsal.submission_rush,
            )
        })
        .unwrap_or_default();
    let minute = rng.gen_range(60..420);
    let domain = m
        .postmottak()
        .split_once('@')
        .map_or("kommune.test", |(_, d)| d)
        .to_string();
    let contact = format!("iplos.kontakt{}@{domain}", rng.gen_range(1..10));
    let phone = format!("4{:07}", rng.gen_range(0..10_000_000));
    let feedback_key = format!("Tb{:06}k", rng.gen_range(0..1_000_000));
    let filsluse_password = format!("Fs{:06}x", rng.gen_range(0..1_000_000));
    // Drawn last so that the draws above keep their values.
    let registration_mistakes = rng.r#gen::<f64>() < scenario.rehearsal.registration_mistakes;
    let correction_days = rng.gen_range(1..=scenario.rehearsal.correction_spread_days.max(1));
    Plan {
        knr,
        name: m.name().to_string(),
        orgnr: m.orgnr().to_string(),
        bydel: "00".into(),
        postmottak: m.postmottak().to_lowercase(),
        contact,
        phone,
        feedback_key,
        filsluse_password,
        vendor,
        tests,
        test_day,
        ordinary_day,
        minute,
        faults,
        registration_mistakes,
        correction_days,
    }
}

/// The number kommune `knr` may wrongly report data year `year` on: its single successor's
/// number in `year + 1` when that differs (renumbered next year), else its single
/// predecessor's number in `year - 1` when that differs (new this year). `None` when it has
/// no such trap.
pub fn trap_number(year: u16, knr: &str) -> Option<String> {
    use iplos_model::municipality::{predecessors, successors};
    let single = |v: Vec<(String, f64)>| match v.as_slice() {
        [(n, _)] if n != knr => Some(n.clone()),
        _ => None,
    };
    single(successors(knr, year, year + 1)).or_else(|| {
        let before = predecessors(knr, year, year.saturating_sub(1));
        match before.as_slice() {
            [(n, _)] if n != knr => Some(n.clone()),
            // A merger: the first of its old numbers.
            [(n, _), _, ..] => Some(n.clone()),
            _ => None,
        }
    })
}

/// The share of kommuner that take part in the test submission.
pub fn test_participation(scenario: &Scenario) -> f64 {
    let share = scenario.rehearsal.test_share;
    if scenario.faults.contains_key(&Fault::NeverTested) {
        share.min(1.0 - scenario.rate(Fault::NeverTested))
    } else {
        share
    }
}

/// A working day in `first..=last`; `rush` 0 draws evenly, 1 crowds the last three.
fn pick_working_day<R: Rng>(
    rng: &mut R,
    first: NaiveDate,
    last: NaiveDate,
    rush: f64,
) -> NaiveDate {
    let days: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .filter(|d| is_working_day(*d))
        .collect();
    if days.is_empty() {
        return first;
    }
    let n = days.len();
    // Weight of day i: 1 + rush * 8 for the last three working days.
    let weights: Vec<f64> = (0..n)
        .map(|i| if i + 3 >= n { 1.0 + rush * 8.0 } else { 1.0 })
        .collect();
    let total: f64 = weights.iter().sum();
    let mut x = rng.r#gen::<f64>() * total;
    for (d, w) in days.iter().zip(&weights) {
        if x < *w {
            return *d;
        }
        x -= w;
    }
    days[n - 1]
}

/// Whether the plan's channel can have the fault (for the report's fault list).
pub fn faults_for(plan: &Plan, channel: ChannelSpec) -> Vec<String> {
    plan.faults
        .iter()
        .filter(|f| f.applies_to(channel))
        .map(|f| f.as_str().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plans of every kommune of `year` in `scenario`.
    fn plans(scenario: &Scenario, year: u16) -> Vec<Plan> {
        iplos_model::municipality::municipalities(year)
            .unwrap()
            .iter()
            .map(|m| plan(scenario, m, 1))
            .collect()
    }

    #[test]
    fn the_kommunenummer_trap_is_the_kommune_s_own() {
        // Trondheim reported 2017 data; from 2018 it is 5001.
        assert_eq!(trap_number(2017, "1601").as_deref(), Some("5001"));
        // Sandefjord (new in 2017) may report on a number from before the merger.
        let old = trap_number(2017, "0710").unwrap();
        assert!(["0706", "0719", "0720"].contains(&old.as_str()), "{old}");
        // Kåfjord has no trap in 2017 (the defect injected Lindesnes' 4205).
        assert_eq!(trap_number(2017, "1940"), None);
        let mut sc = Scenario::for_season(2017).unwrap();
        sc.faults.insert(Fault::OldKommunenummer, 1.0);
        for p in plans(&sc, 2017) {
            assert_eq!(
                p.has(Fault::OldKommunenummer),
                trap_number(2017, &p.knr).is_some(),
                "{}",
                p.knr
            );
        }
    }

    #[test]
    fn test_participation_is_drawn_once_and_every_non_tester_has_its_cause() {
        // The dress rehearsal's knobs: test_share 0.67 and never_tested 0.33 say the same
        // thing once (seed 001: 288 of 427 tested).
        let mut sc = Scenario::for_season(2016).unwrap();
        sc.rehearsal.test_share = 0.67;
        sc.faults.insert(Fault::NeverTested, 0.33);
        let all = plans(&sc, 2016);
        let tested = all.iter().filter(|p| p.tests).count();
        let share = tested as f64 / all.len() as f64;
        assert!(
            (0.60..=0.74).contains(&share),
            "{tested} of {} tested",
            all.len()
        );
        for p in &all {
            assert_eq!(!p.tests, p.has(Fault::NeverTested), "{}", p.knr);
        }
        // test_share alone: the non-testers still carry the cause.
        sc.faults.clear();
        for p in plans(&sc, 2016) {
            assert_eq!(!p.tests, p.has(Fault::NeverTested), "{}", p.knr);
        }
    }
}
