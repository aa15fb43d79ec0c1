//! What a coordinator acts on: the kommuner's contacts, approved extensions, renumbered
//! kommuner, and per deadline the kommuner at risk with their reasons and the day one must
//! act by: the [`Coordination`] section of `report.json`; and the [`Comparison`] section
//! (this run against an earlier one and against the real season).
//!
//! # What the engine fills in, and what is derived
//!
//! The writers (through [`crate::derive::coordinate`]) fill in only what is missing:
//!
//! - `contacts`: per kommune; when the engine gives none, **synthetic** addresses on the
//!   reserved `.test` domain (`postmottak@<slug>.kommune.test`, `iplos@…`, `kostra@…`) and
//!   a phone number starting `+47 0`, which no Norwegian number does. Never a real address.
//! - `extensions`: kommuner whose ordinary submission was late but sent within an
//!   approved extension. Derived from the status reason ("extension"/"utsettelse") or the
//!   fault `epj_not_upgraded` when the season has an extension.
//! - `renumbered`: kommuner whose number is not in the previous year's registry (merged
//!   or renumbered this year), plus those with the fault `old_kommunenummer`.
//! - `at_risk`: always recomputed from the phases, faults and the lists above.
//!
//! **\[model\]** Lead times (how many days before a deadline one must act on a reason) are
//! our own choice: [`lead_days`].

use std::collections::BTreeMap;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The coordination section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Coordination {
    /// Kommunenummer → who to write to. Synthetic (`.test`) unless the engine gives them.
    #[serde(default)]
    pub contacts: BTreeMap<String, Contacts>,
    /// Kommuner that sent within an approved extension (kommunenummer, sorted): shown
    /// apart from "late".
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Kommuner whose kommunenummer changed this data year (sorted).
    #[serde(default)]
    pub renumbered: Vec<String>,
    /// Per deadline, in date order: the kommuner that will miss it.
    #[serde(default)]
    pub at_risk: Vec<DeadlineRisk>,
}

/// The comparison section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// The earlier run, when one was given.
    #[serde(default)]
    pub baseline: Option<Baseline>,
    /// Per phase (this run's order): kommuner that did better or worse than in the
    /// baseline. Empty without a baseline.
    #[serde(default)]
    pub phases: Vec<PhaseChange>,
    /// Fault causes present now and not in the baseline, sorted.
    #[serde(default)]
    pub new_causes: Vec<String>,
    /// Fault causes in the baseline and gone now, sorted.
    #[serde(default)]
    pub gone_causes: Vec<String>,
    /// Rules whose occurrences changed, by rule id.
    #[serde(default)]
    pub rules: Vec<RuleChange>,
    /// This rehearsal against the real season, where the seeds give figures.
    #[serde(default)]
    pub real: Vec<RealFigure>,
}

/// What the earlier run was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Its data year.
    pub season: i32,
    /// Its scenario.
    pub scenario: String,
    /// Its seed.
    pub seed: u64,
    /// The tool version that wrote it.
    pub tool_version: String,
}

/// Kommuner better or worse in one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseChange {
    /// The phase id.
    pub phase: String,
    /// Kommuner whose status improved (e.g. failed → on time), sorted.
    pub better: Vec<String>,
    /// Kommuner whose status got worse, sorted.
    pub worse: Vec<String>,
}

/// A rule's occurrences then and now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleChange {
    /// The rule id.
    pub rule: String,
    /// Occurrences in the baseline.
    pub before: u64,
    /// Occurrences now.
    pub after: u64,
}

/// One figure of the real season next to the rehearsal's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RealFigure {
    /// `tested_by`, `not_tested_by`, `test_week`.
    pub id: String,
    /// The day the figure refers to.
    pub date: NaiveDate,
    /// The real number.
    pub real: u32,
    /// The rehearsal's number.
    pub rehearsal: u32,
    /// Where the real number comes from (seed file).
    pub source: String,
}

/// Who to write to in a kommune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contacts {
    /// The kommune's postmottak (official mailbox).
    pub postmottak: String,
    /// The IPLOS contact's e-mail.
    pub iplos: String,
    /// The KOSTRA contact's e-mail.
    pub kostra: String,
    /// The IPLOS contact's phone.
    pub phone: String,
}

/// One deadline and the kommuner at risk of missing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRisk {
    /// `ordinary` (15 January), `extension` (15 February, service-bus years), `feedback`
    /// (week 6), `corrections` (21 March / 31 March), `publication` (mid-June).
    pub id: String,
    /// The last day (Oslo date).
    pub date: NaiveDate,
    /// The kommuner at risk, those who must act earliest first (then by number).
    pub kommuner: Vec<AtRisk>,
}

/// One kommune at risk of missing a deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AtRisk {
    /// The kommune.
    pub kommunenr: String,
    /// Why, as reason ids (`not_tested`, `epj_not_upgraded`, `bus_not_activated`,
    /// `network`, `login`, `renumbered`, `export`, `no_receipt`, `postmottak`, `unzip`,
    /// `late_correction`, `not_submitted`, `feedback_unread`), sorted.
    pub reasons: Vec<String>,
    /// The last day to act (the deadline less the longest lead time of the reasons).
    pub act_by: NaiveDate,
}

/// The reason id for a fault or cause id (`never_tested` → `not_tested`, ...).
pub fn reason_for(fault: &str) -> Option<&'static str> {
    Some(match fault.replace('-', "_").as_str() {
        "never_tested" => "not_tested",
        "epj_not_upgraded" => "epj_not_upgraded",
        "servicebus_not_activated" => "bus_not_activated",
        "firewall_closed" | "dns_not_resolving" => "network",
        "wrong_pin" | "wrong_orgnr" | "wrong_bydel" => "login",
        "old_kommunenummer" => "renumbered",
        "defective_export" => "export",
        "no_receipt" | "no_receipt_by_0800" => "no_receipt",
        "postmottak_late"
        | "postmottak_never"
        | "postmottak_not_forwarding"
        | "spam_filter"
        | "link_expired" => "postmottak",
        "wrong_unzip_tool" | "zip_cannot_open" => "unzip",
        "late_correction" | "correction_after_deadline" => "late_correction",
        _ => return None,
    })
}

/// **\[model\]** How many days before a deadline one must act on a reason.
pub fn lead_days(reason: &str) -> i64 {
    match reason {
        "epj_not_upgraded" => 45,
        "not_tested" | "renumbered" => 30,
        "bus_not_activated" | "export" => 21,
        "network" | "postmottak" => 14,
        "login" | "unzip" | "late_correction" | "not_submitted" => 7,
        "feedback_unread" => 3,
        _ => 2,
    }
}

/// Every reason id, in the order action lists are shown.
pub const REASONS: &[&str] = &[
    "not_tested",
    "epj_not_upgraded",
    "bus_not_activated",
    "renumbered",
    "export",
    "network",
    "login",
    "no_receipt",
    "not_submitted",
    "postmottak",
    "unzip",
    "feedback_unread",
    "late_correction",
];

/// A `.test` mail domain label for a kommune name: lower case ASCII, æøå spelt out.
pub fn slug(name: &str) -> String {
    let mut o = String::new();
    for c in name.to_lowercase().chars() {
        match c {
            'a'..='z' | '0'..='9' => o.push(c),
            'æ' => o.push_str("ae"),
            'ø' | 'ö' => o.push('o'),
            'å' | 'á' | 'à' | 'ä' => o.push('a'),
            'é' | 'è' => o.push('e'),
            _ => {
                if !o.is_empty() && !o.ends_with('-') {
                    o.push('-');
                }
            }
        }
    }
    let o = o.trim_end_matches('-').to_string();
    if o.is_empty() { "kommune".into() } else { o }
}

impl Contacts {
    /// Synthetic contacts on the reserved `.test` domain; the phone number starts `+47 0`,
    /// which no real Norwegian number does.
    pub fn synthetic(kommunenr: &str, name: &str) -> Self {
        let domain = format!("{}-{}.kommune.test", slug(name), kommunenr);
        let digits: String = kommunenr.chars().filter(char::is_ascii_digit).collect();
        Contacts {
            postmottak: format!("postmottak@{domain}"),
            iplos: format!("iplos@{domain}"),
            kostra: format!("kostra@{domain}"),
            phone: format!("+47 00 00 {digits:0>4}"),
        }
    }
}

impl Coordination {
    /// The action groups: per reason id (in [`REASONS`] order) the kommuner with it and
    /// each one's earliest act-by day.
    pub fn groups(&self) -> Vec<(&'static str, Vec<(String, NaiveDate)>)> {
        let mut by: BTreeMap<&str, BTreeMap<String, NaiveDate>> = BTreeMap::new();
        for d in &self.at_risk {
            for k in &d.kommuner {
                for reason in &k.reasons {
                    let e = by
                        .entry(reason.as_str())
                        .or_default()
                        .entry(k.kommunenr.clone())
                        .or_insert(k.act_by);
                    *e = (*e).min(k.act_by);
                }
            }
        }
        REASONS
            .iter()
            .filter_map(|r| {
                let ks = by.remove(r)?;
                let mut v: Vec<(String, NaiveDate)> = ks.into_iter().collect();
                v.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
                Some((*r, v))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_contacts_are_on_test_domains() {
        let c = Contacts::synthetic("0301", "Oslo");
        assert_eq!(c.postmottak, "postmottak@oslo-0301.kommune.test");
        assert!(c.phone.starts_with("+47 0"));
        assert_eq!(slug("Nord-Odal"), "nord-odal");
        assert_eq!(slug("Bø i Telemark"), "bo-i-telemark");
        assert_eq!(slug("Prøve & <b>Test</b>"), "prove-b-test-b");
    }
}
