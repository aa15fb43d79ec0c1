//! The service model: which services (kodeverk 9151) a recipient gets, how their histories
//! look, and the national figures they are calibrated to.
//!
//! National recipients by service in 2022 come from Helsedirektoratet (DOMAIN §7): home
//! health care (15) 269 518, safety alarm 116 346, practical help (1) 100 177,
//! støttekontakt (9) 37 419, meals (5) 35 000, day activity (4) 34 185, short-term stay for
//! assessment/treatment (18) 33 641, long-term stay (21) ≈ 31 400 (a stock on 31 December,
//! used here as the count over the year). Every other figure, the age profiles and all the
//! history parameters are **\[model\]** choices, marked in [`SERVICES`].
//!
//! The safety alarm (code 6) is retired in 56.0.0: it is never a [`Service`](crate::Service)
//! and never appears in a message; it is kept as welfare technology (kodeverk 9346) on the
//! person, because it still counts towards the recipients.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use iplos_model::message::SERVICE_TYPES;

/// A service code of kodeverk 9151, serialised as the string that stands in the message
/// (`"21"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceCode(pub u8);

impl ServiceCode {
    /// The code as it stands in the message.
    pub fn as_str(self) -> &'static str {
        const CODES: [&str; 30] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29",
        ];
        CODES.get(usize::from(self.0)).copied().unwrap_or("")
    }

    /// The Norwegian name from kodeverk 9151 (empty for a code not in it).
    pub fn name(self) -> &'static str {
        let code = self.as_str();
        SERVICE_TYPES
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or("", |(_, n, _)| n)
    }

    /// Whether kodeverk 9151 marks the code retired ("Utgått").
    pub fn is_retired(self) -> bool {
        let code = self.as_str();
        SERVICE_TYPES
            .iter()
            .find(|(c, _, _)| *c == code)
            .is_some_and(|(_, _, retired)| *retired)
    }

    /// Whether the code is in kodeverk 9151 at all.
    pub fn is_known(self) -> bool {
        let code = self.as_str();
        SERVICE_TYPES.iter().any(|(c, _, _)| *c == code)
    }
}

impl fmt::Display for ServiceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ServiceCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ServiceCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<u8>()
            .ok()
            .filter(|&n| n < 30)
            .map(ServiceCode)
            .ok_or_else(|| serde::de::Error::custom(format!("not a service code: {s}")))
    }
}

impl schemars::JsonSchema for ServiceCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ServiceCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = SERVICE_TYPES.iter().map(|(c, _, _)| *c).collect();
        schemars::json_schema!({
            "description": "A code of kodeverk 9151 (IPLOS tjenestetype), as it stands in the message (`tjenesteType`).",
            "type": "string",
            "enum": codes,
        })
    }
}

impl schemars::JsonSchema for ServiceName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ServiceName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = SERVICE_TYPES.iter().map(|(_, n, _)| *n).collect();
        schemars::json_schema!({
            "description": "The kodeverk-9151 name of the service type (for readers; not in the message).",
            "type": "string",
            "enum": names,
        })
    }
}

/// The kodeverk-9151 name of a service, written into population.jsonl for readers (read
/// back as the matching name of kodeverk 9151, or empty for any other text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceName(pub &'static str);

impl Serialize for ServiceName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for ServiceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ServiceName(
            SERVICE_TYPES
                .iter()
                .find(|(_, n, _)| *n == s)
                .map_or("", |(_, n, _)| n),
        ))
    }
}

/// Which kind of provider organisation delivers a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Nursing homes, health houses, short-stay and rehabilitation wards.
    Institution,
    /// Home-care districts (hjemmetjenesten), which also deliver practical help and meals.
    HomeCare,
    /// Day centres (dagsenter).
    DayCentre,
}

/// How a service runs over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// A lasting service (home care, long-term stay, housing): started before the data
    /// year with probability `ongoing`, that many years before on average (exponential);
    /// ends within the year with probability `end_rate` (death and moves come on top).
    Lasting {
        /// Share of recipients whose service started before the data year.
        ongoing: f64,
        /// Mean years between the start and 1 January, for those.
        mean_years_before: f64,
        /// Probability of an ordinary end within the year.
        end_rate: f64,
    },
    /// Stays of `min_days..=max_days` (uniform); after each, another stay follows with
    /// probability `repeat` after a gap of 14–120 days; the first stay spans New Year with
    /// probability `ongoing`.
    Stays {
        /// Share of recipients whose first stay began before 1 January.
        ongoing: f64,
        /// Shortest stay.
        min_days: u16,
        /// Longest stay.
        max_days: u16,
        /// Probability of one more stay after each.
        repeat: f64,
    },
}

/// One service (or the safety alarm) of the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceSpec {
    /// Kodeverk 9151 code (6 = safety alarm, kept as welfare technology).
    pub code: ServiceCode,
    /// National recipients in 2022; scaled to each data year with the national total.
    pub recipients_2022: f64,
    /// Where the figure comes from.
    pub source: &'static str,
    /// Relative chance of the service by age band (0–17, 18–49, 50–66, 67–79, 80–89, 90+);
    /// the level is calibrated so the national count meets `recipients_2022`.
    pub age_profile: [f64; 6],
    /// The provider, `None` for services without `tjenesteOrgNr` (29 housing must not have
    /// one; for 9 støttekontakt and 11 omsorgsstønad it is optional and left out).
    pub provider: Option<ProviderKind>,
    /// The time shape.
    pub shape: Shape,
    /// Temporary stops per year of activity (Poisson), each 2–60 days (mean ≈ 8).
    pub stops_per_year: f64,
    /// Provider changes per year of activity (at most one per year).
    pub changes_per_year: f64,
    /// Whether the service ends (or never starts) when a long-term stay (21) begins:
    /// everything delivered at home, and the short stays.
    pub replaced_by_long_term_stay: bool,
}

/// The safety alarm's code (retired in kodeverk 9151; kept as welfare technology).
pub const SAFETY_ALARM: ServiceCode = ServiceCode(6);
/// Long-term stay in an institution.
pub const LONG_TERM_STAY: ServiceCode = ServiceCode(21);

/// The service types that 56.0.0 requires events for (kravspesifikasjon chapter 2).
pub const DEFAULT_REPORTED_TYPES: [u8; 5] = [18, 19, 20, 21, 29];

const DOMAIN: &str = "Helsedirektoratet via DOMAIN §7 (2022)";
const MODEL: &str = "[model]";

const fn lasting(ongoing: f64, mean_years_before: f64, end_rate: f64) -> Shape {
    Shape::Lasting {
        ongoing,
        mean_years_before,
        end_rate,
    }
}

const fn stays(ongoing: f64, min_days: u16, max_days: u16, repeat: f64) -> Shape {
    Shape::Stays {
        ongoing,
        min_days,
        max_days,
        repeat,
    }
}

#[allow(clippy::too_many_arguments)]
const fn spec(
    code: u8,
    recipients_2022: f64,
    source: &'static str,
    age_profile: [f64; 6],
    provider: Option<ProviderKind>,
    shape: Shape,
    stops_per_year: f64,
    changes_per_year: f64,
    replaced_by_long_term_stay: bool,
) -> ServiceSpec {
    ServiceSpec {
        code: ServiceCode(code),
        recipients_2022,
        source,
        age_profile,
        provider,
        shape,
        stops_per_year,
        changes_per_year,
        replaced_by_long_term_stay,
    }
}

use ProviderKind::{DayCentre, HomeCare, Institution};

/// The model. Long-term stay (21) comes first: it is generated before the others because
/// its start ends what it replaces. Columns: code, national recipients 2022, source, age
/// profile (0–17, 18–49, 50–66, 67–79, 80–89, 90+), provider, time shape (lasting: share
/// started before the year, mean years before, end rate; stays: share spanning New Year,
/// min and max days, repeat probability), stops per year, provider changes per year,
/// replaced by a long-term stay.
#[rustfmt::skip]
pub const SERVICES: &[ServiceSpec] = &[
    spec(21, 31_400.0,  DOMAIN, [0.0,  0.02, 0.08, 0.3,  1.0,  1.8], Some(Institution), lasting(0.75, 2.0, 0.05), 0.4, 0.06, false),
    spec(15, 269_518.0, DOMAIN, [0.15, 0.6,  0.8,  1.0,  1.0,  0.9], Some(HomeCare),    lasting(0.6,  2.5, 0.25), 0.5, 0.05, true),
    spec(6,  116_346.0, DOMAIN, [0.0,  0.02, 0.1,  0.5,  1.0,  1.1], None,              lasting(0.75, 3.0, 0.08), 0.0, 0.0,  true),
    spec(1,  100_177.0, DOMAIN, [0.02, 0.3,  0.5,  0.8,  1.0,  1.0], Some(HomeCare),    lasting(0.7,  3.0, 0.2),  0.3, 0.05, true),
    spec(9,  37_419.0,  DOMAIN, [1.0,  1.0,  0.4,  0.05, 0.01, 0.0], None,              lasting(0.7,  3.0, 0.25), 0.1, 0.0,  true),
    spec(5,  35_000.0,  DOMAIN, [0.0,  0.05, 0.2,  0.6,  1.0,  1.2], Some(HomeCare),    lasting(0.6,  1.5, 0.25), 0.3, 0.0,  true),
    spec(4,  34_185.0,  DOMAIN, [0.1,  0.6,  0.6,  0.8,  1.0,  0.6], Some(DayCentre),   lasting(0.7,  2.0, 0.2),  0.2, 0.05, true),
    spec(18, 33_641.0,  DOMAIN, [0.0,  0.1,  0.3,  0.8,  1.0,  1.0], Some(Institution), stays(0.03, 5, 28, 0.3),  0.0, 0.03, true),
    spec(19, 9_000.0,   MODEL,  [0.0,  0.2,  0.5,  1.0,  1.0,  0.6], Some(Institution), stays(0.04, 10, 42, 0.1), 0.0, 0.03, true),
    spec(20, 12_000.0,  MODEL,  [0.3,  0.1,  0.2,  0.6,  1.0,  1.0], Some(Institution), stays(0.04, 3, 30, 0.25), 0.0, 0.03, true),
    spec(29, 42_000.0,  MODEL,  [0.05, 1.0,  0.8,  0.5,  0.5,  0.4], None,              lasting(0.85, 6.0, 0.08), 0.1, 0.0,  true),
    spec(2,  14_000.0,  MODEL,  [0.5,  1.0,  0.4,  0.1,  0.05, 0.02], Some(HomeCare),   lasting(0.7,  3.0, 0.2),  0.1, 0.03, true),
    spec(3,  3_800.0,   MODEL,  [0.6,  1.0,  0.6,  0.2,  0.05, 0.02], Some(HomeCare),   lasting(0.85, 5.0, 0.08), 0.1, 0.05, true),
    spec(7,  8_000.0,   MODEL,  [1.0,  0.2,  0.05, 0.02, 0.02, 0.0], Some(HomeCare),    lasting(0.75, 3.0, 0.15), 0.1, 0.0,  true),
    spec(8,  6_000.0,   MODEL,  [1.0,  0.1,  0.1,  0.2,  0.3,  0.2], Some(Institution), stays(0.1, 2, 14, 0.5),   0.0, 0.0,  true),
    spec(11, 9_000.0,   MODEL,  [1.0,  0.4,  0.3,  0.2,  0.2,  0.1], None,              lasting(0.8,  4.0, 0.15), 0.0, 0.0,  true),
    spec(17, 3_000.0,   MODEL,  [0.0,  0.2,  0.3,  0.8,  1.0,  0.8], Some(Institution), lasting(0.6,  1.5, 0.25), 0.2, 0.03, true),
    spec(22, 500.0,     MODEL,  [0.0,  0.2,  0.3,  0.8,  1.0,  0.8], Some(Institution), stays(0.05, 7, 60, 0.1),  0.0, 0.0,  true),
    spec(25, 12_000.0,  MODEL,  [0.0,  0.3,  0.5,  1.0,  1.0,  0.9], Some(Institution), stays(0.01, 1, 5, 0.15),  0.0, 0.0,  true),
];

/// The index of a code in [`SERVICES`].
pub fn spec_index(code: ServiceCode) -> Option<usize> {
    SERVICES.iter().position(|s| s.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent_with_kodeverk_and_orgnr_duty() {
        use iplos_model::message::{OrgNrDuty, orgnr_duty};
        assert_eq!(SERVICES[0].code, LONG_TERM_STAY);
        for s in SERVICES {
            assert!(s.code.is_known(), "{}", s.code);
            if s.code == SAFETY_ALARM {
                assert!(s.code.is_retired());
                continue;
            }
            assert!(!s.code.is_retired(), "{} is retired", s.code);
            match orgnr_duty(s.code.as_str()) {
                OrgNrDuty::Required => assert!(s.provider.is_some(), "{}", s.code),
                OrgNrDuty::Forbidden => assert!(s.provider.is_none(), "{}", s.code),
                OrgNrDuty::Optional => {}
            }
        }
        assert_eq!(ServiceCode(21).name(), "Langtidsopphold i institusjon");
        let json = serde_json::to_string(&ServiceCode(29)).unwrap();
        assert_eq!(json, "\"29\"");
        assert_eq!(
            serde_json::from_str::<ServiceCode>(&json).unwrap(),
            ServiceCode(29)
        );
    }
}
