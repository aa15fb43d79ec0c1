//! Scenarios: what a rehearsal replays — a season (data year, channel, phases, HER-ids),
//! the knobs of a dress rehearsal (who tests, vendors, when kommuner submit) and the rate
//! of every fault of DOMAIN §8. TOML files in `scenarios/`, documented field by field in
//! `scenarios/README.md`; the season files are embedded in the binary so that
//! `rehearse --season Y` works without the repository.
//!
//! Loading validates everything: unknown fields, wrong types, rates outside 0–1, dates
//! outside the season, a phase missing — each error names the field and the line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use chrono::NaiveDate;
use iplos_model::calendar::{PhaseKind, Season};
use serde::{Deserialize, Serialize};

/// The scenario files shipped with the tool: (file name, text).
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "season-2016.toml",
        include_str!("../../scenarios/season-2016.toml"),
    ),
    (
        "season-2017.toml",
        include_str!("../../scenarios/season-2017.toml"),
    ),
    (
        "season-2018.toml",
        include_str!("../../scenarios/season-2018.toml"),
    ),
    (
        "season-2026.toml",
        include_str!("../../scenarios/season-2026.toml"),
    ),
    (
        "dress-rehearsal.toml",
        include_str!("../../scenarios/dress-rehearsal.toml"),
    ),
    (
        "fault-free.toml",
        include_str!("../../scenarios/fault-free.toml"),
    ),
];

/// The latest season shipped (the default of `rehearse`).
pub const LATEST_SEASON: i32 = 2026;

/// A scenario (or another TOML file of the harness: the certification plan) could not be
/// used: the file, the line and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file (or embedded name).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field, as a dotted path, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// How a scenario's submissions travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelSpec {
    /// Sendemodul upload, e-mail receipts, filsluse feedback (data years ≤ 2017).
    Sendemodul,
    /// NHN's AMQP service bus with AppRec receipts (data years ≥ 2018).
    Servicebus,
}

impl ChannelSpec {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelSpec::Sendemodul => "sendemodul",
            ChannelSpec::Servicebus => "servicebus",
        }
    }
}

/// The phases a scenario can name (the calendar's phase kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseId {
    /// Test submission (week 42, or KPR prøveinnsending).
    TestSubmission,
    /// Test feedback on filsluse (week 43; Sendemodul years).
    TestFeedback,
    /// Ordinary submission, 2–15 January.
    OrdinarySubmission,
    /// The extension to 15 February (service bus years).
    Extension,
    /// Feedback in week 6.
    Feedback,
    /// Publication, 15 March.
    Publication,
    /// Corrections window up to the deadline.
    Corrections,
}

impl PhaseId {
    /// From the calendar's kind.
    pub fn from_kind(k: PhaseKind) -> PhaseId {
        match k {
            PhaseKind::TestSubmission => PhaseId::TestSubmission,
            PhaseKind::TestFeedback => PhaseId::TestFeedback,
            PhaseKind::OrdinarySubmission => PhaseId::OrdinarySubmission,
            PhaseKind::Extension => PhaseId::Extension,
            PhaseKind::Feedback => PhaseId::Feedback,
            PhaseKind::Publication => PhaseId::Publication,
            PhaseKind::CorrectionsDeadline => PhaseId::Corrections,
        }
    }

    /// The snake_case id.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseId::TestSubmission => "test_submission",
            PhaseId::TestFeedback => "test_feedback",
            PhaseId::OrdinarySubmission => "ordinary_submission",
            PhaseId::Extension => "extension",
            PhaseId::Feedback => "feedback",
            PhaseId::Publication => "publication",
            PhaseId::Corrections => "corrections",
        }
    }
}

/// One phase of the season.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Which phase.
    pub id: PhaseId,
    /// Its name in reports.
    pub name: String,
    /// First day (Europe/Oslo), inclusive.
    #[serde(deserialize_with = "toml_date")]
    pub first_day: NaiveDate,
    /// Last day, inclusive.
    #[serde(deserialize_with = "toml_date")]
    pub last_day: NaiveDate,
    /// Where the dates come from (seed, DOMAIN section, or "\[model\]").
    pub source: String,
}

/// A TOML local date (`2018-01-02`) as a chrono date.
fn toml_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    use serde::de::Error;
    let v = toml::value::Datetime::deserialize(d)?;
    match (v.date, v.time, v.offset) {
        (Some(date), None, None) => NaiveDate::from_ymd_opt(
            i32::from(date.year),
            u32::from(date.month),
            u32::from(date.day),
        )
        .ok_or_else(|| D::Error::custom(format!("{v} is not a date"))),
        _ => Err(D::Error::custom(format!(
            "{v}: expected a date without time, like 2018-01-02"
        ))),
    }
}

/// `[season]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonSpec {
    /// The data year.
    pub data_year: i32,
    /// How submissions travel.
    pub channel: ChannelSpec,
    /// The data year of the test submission (the previous year for Sendemodul years).
    #[serde(default)]
    pub test_data_year: Option<i32>,
    /// KPR's production HER-id (service bus years).
    #[serde(default)]
    pub register_her_id: Option<u32>,
    /// "KPR Validering", the test submission's HER-id (service bus years).
    #[serde(default)]
    pub validation_her_id: Option<u32>,
    /// The key of every test feedback zip (seeds: `123456`).
    #[serde(default = "default_test_key")]
    pub test_feedback_key: String,
    /// The phases; empty: the calendar's phases of the data year.
    #[serde(default, rename = "phase")]
    pub phases: Vec<PhaseSpec>,
}

fn default_test_key() -> String {
    "123456".into()
}

/// `[rehearsal]`: the dress rehearsal's knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knobs {
    /// Share of kommuner that take part in the test submission (2016: ~270 of 428 in the
    /// test week, seed 001).
    #[serde(default = "default_test_share")]
    pub test_share: f64,
    /// EPJ vendor market shares by product name (`navnEPJ`); empty: the generators' own.
    #[serde(default)]
    pub vendor_shares: BTreeMap<String, f64>,
    /// How strongly submissions crowd the last days of the ordinary window: 0 spreads
    /// them evenly over its working days, 1 puts most on the last three.
    #[serde(default = "default_rush")]
    pub submission_rush: f64,
    /// Minutes postmottak normally takes to forward SSB's mail to the IPLOS contact.
    #[serde(default = "default_forward_minutes")]
    pub forward_minutes: u32,
    /// Working days IT needs to open a closed firewall or fix DNS.
    #[serde(default = "default_it_days")]
    pub it_fix_working_days: u32,
    /// Share of kommuner that know of registration mistakes of their own to correct after
    /// the feedback, besides what the feilliste lists (\[model\], scenarios/README.md).
    #[serde(default = "default_registration_mistakes")]
    pub registration_mistakes: f64,
    /// Corrections go 1 to this many working days after the feedback was read (drawn
    /// evenly per kommune; \[model\]).
    #[serde(default = "default_correction_spread")]
    pub correction_spread_days: u32,
}

fn default_test_share() -> f64 {
    0.65
}
fn default_rush() -> f64 {
    0.5
}
fn default_forward_minutes() -> u32 {
    20
}
fn default_it_days() -> u32 {
    3
}
fn default_registration_mistakes() -> f64 {
    0.4
}
fn default_correction_spread() -> u32 {
    15
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            test_share: default_test_share(),
            vendor_shares: BTreeMap::new(),
            submission_rush: default_rush(),
            forward_minutes: default_forward_minutes(),
            it_fix_working_days: default_it_days(),
            registration_mistakes: default_registration_mistakes(),
            correction_spread_days: default_correction_spread(),
        }
    }
}

/// The faults of DOMAIN §8 a kommune can suffer, each drawn per kommune with its rate.
/// The consequence each one has in a rehearsal is documented in `scenarios/README.md`
/// and asserted by the engine's tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The kommune does not take part in the test submission.
    NeverTested,
    /// Postmottak forwards SSB's mail the next working day (password links expire).
    PostmottakLate,
    /// Postmottak never forwards SSB's mail.
    PostmottakNever,
    /// SSB's mail to postmottak is caught by a spam filter.
    SpamFilter,
    /// The IPLOS contact uses the password link after it expired.
    LinkExpired,
    /// Wrong PIN at the Sendemodul login.
    WrongPin,
    /// Wrong organisasjonsnummer at the Sendemodul login.
    WrongOrgnr,
    /// Missing/wrong bydel at the Sendemodul login.
    WrongBydel,
    /// The 08:00 receipt does not reach the IPLOS contact.
    NoReceipt,
    /// The firewall toward the national endpoint is not opened.
    FirewallClosed,
    /// The endpoint's name does not resolve.
    DnsNotResolving,
    /// The kommune's service bus access is not activated.
    ServicebusNotActivated,
    /// The EPJ is not upgraded to send over the service bus (→ extension).
    EpjNotUpgraded,
    /// The vendor's export is defective (content the register rejects).
    DefectiveExport,
    /// The feedback zip is opened with a tool that does not know AES-256.
    WrongUnzipTool,
    /// Data reported on a kommunenummer not valid for the data year.
    OldKommunenummer,
    /// The corrections are sent after the deadline.
    LateCorrection,
}

impl Fault {
    /// Every fault, in catalogue order.
    pub const ALL: [Fault; 17] = [
        Fault::NeverTested,
        Fault::PostmottakLate,
        Fault::PostmottakNever,
        Fault::SpamFilter,
        Fault::LinkExpired,
        Fault::WrongPin,
        Fault::WrongOrgnr,
        Fault::WrongBydel,
        Fault::NoReceipt,
        Fault::FirewallClosed,
        Fault::DnsNotResolving,
        Fault::ServicebusNotActivated,
        Fault::EpjNotUpgraded,
        Fault::DefectiveExport,
        Fault::WrongUnzipTool,
        Fault::OldKommunenummer,
        Fault::LateCorrection,
    ];

    /// The snake_case id used in scenarios and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::NeverTested => "never_tested",
            Fault::PostmottakLate => "postmottak_late",
            Fault::PostmottakNever => "postmottak_never",
            Fault::SpamFilter => "spam_filter",
            Fault::LinkExpired => "link_expired",
            Fault::WrongPin => "wrong_pin",
            Fault::WrongOrgnr => "wrong_orgnr",
            Fault::WrongBydel => "wrong_bydel",
            Fault::NoReceipt => "no_receipt",
            Fault::FirewallClosed => "firewall_closed",
            Fault::DnsNotResolving => "dns_not_resolving",
            Fault::ServicebusNotActivated => "servicebus_not_activated",
            Fault::EpjNotUpgraded => "epj_not_upgraded",
            Fault::DefectiveExport => "defective_export",
            Fault::WrongUnzipTool => "wrong_unzip_tool",
            Fault::OldKommunenummer => "old_kommunenummer",
            Fault::LateCorrection => "late_correction",
        }
    }

    /// A one-line title for reports.
    pub fn title(self) -> &'static str {
        match self {
            Fault::NeverTested => "kommune did not take part in the test submission",
            Fault::PostmottakLate => "postmottak forwarded SSB's mail late",
            Fault::PostmottakNever => "postmottak never forwarded SSB's mail",
            Fault::SpamFilter => "SSB's mail caught by a spam filter",
            Fault::LinkExpired => "filsluse password link used after it expired",
            Fault::WrongPin => "wrong PIN at the Sendemodul login",
            Fault::WrongOrgnr => "wrong organisasjonsnummer at the Sendemodul login",
            Fault::WrongBydel => "wrong bydel at the Sendemodul login",
            Fault::NoReceipt => "no receipt by 08:00 the next working day",
            Fault::FirewallClosed => "firewall toward the national endpoint not opened",
            Fault::DnsNotResolving => "the national endpoint's name does not resolve",
            Fault::ServicebusNotActivated => "service bus access not activated",
            Fault::EpjNotUpgraded => "EPJ not upgraded for the service bus",
            Fault::DefectiveExport => "defective export from the EPJ vendor",
            Fault::WrongUnzipTool => "feedback zip opened with a tool without AES-256",
            Fault::OldKommunenummer => "data reported on a kommunenummer not valid for the year",
            Fault::LateCorrection => "corrections sent after the deadline",
        }
    }

    /// Whether the fault can strike a kommune on this channel.
    pub fn applies_to(self, channel: ChannelSpec) -> bool {
        match self {
            Fault::WrongPin | Fault::WrongOrgnr | Fault::WrongBydel | Fault::NoReceipt => {
                channel == ChannelSpec::Sendemodul
            }
            Fault::ServicebusNotActivated | Fault::EpjNotUpgraded => {
                channel == ChannelSpec::Servicebus
            }
            _ => true,
        }
    }
}

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name in reports.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The season.
    pub season: SeasonSpec,
    /// The knobs.
    #[serde(default)]
    pub rehearsal: Knobs,
    /// Fault rates (0–1) by fault id; missing faults have rate 0.
    #[serde(default)]
    pub faults: BTreeMap<Fault, f64>,
}

impl Scenario {
    /// Parses and validates `text` (named `file` in errors).
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|sp| line_of(text, sp.start));
            ScenarioError {
                file: file.into(),
                line,
                field: None,
                message: e.message().trim().to_string(),
            }
        })?;
        s.validate(file, text)?;
        if s.season.phases.is_empty() {
            s.season.phases = calendar_phases(s.season.data_year)
                .map_err(|m| err(file, text, "season.data_year", m))?;
        }
        Ok(s)
    }

    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        // A shipped scenario by its name (`fault-free`, `dress-rehearsal.toml`) when no
        // such file is here.
        if !path.exists() && path.parent().is_none_or(|p| p.as_os_str().is_empty()) {
            let name = path.to_string_lossy();
            if let Some((n, text)) = EMBEDDED
                .iter()
                .find(|(n, _)| *n == name || n.strip_suffix(".toml") == Some(&*name))
            {
                return Scenario::parse(n, text);
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.display().to_string(),
            line: None,
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        Scenario::parse(&path.display().to_string(), &text)
    }

    /// The embedded season scenario of a data year (`season-Y.toml`), or one made from the
    /// calendar when none is shipped for that year.
    pub fn for_season(year: i32) -> Result<Scenario, ScenarioError> {
        let name = format!("season-{year}.toml");
        if let Some((_, text)) = EMBEDDED.iter().find(|(n, _)| *n == name) {
            return Scenario::parse(&name, text);
        }
        let channel = if year <= 2017 {
            "sendemodul"
        } else {
            "servicebus"
        };
        let text = format!(
            "name = \"IPLOS data year {year}\"\n[season]\ndata_year = {year}\nchannel = \"{channel}\"\n{}",
            if year <= 2017 {
                format!("test_data_year = {}\n", year - 1)
            } else {
                "register_her_id = 134197\nvalidation_her_id = 131725\n".to_string()
            }
        );
        Scenario::parse(&format!("season {year} (from the calendar)"), &text)
    }

    /// The rate of a fault (0 when not given or not applicable to the channel).
    pub fn rate(&self, f: Fault) -> f64 {
        if !f.applies_to(self.season.channel) {
            return 0.0;
        }
        self.faults.get(&f).copied().unwrap_or(0.0)
    }

    /// A phase, when the season has it.
    pub fn phase(&self, id: PhaseId) -> Option<&PhaseSpec> {
        self.season.phases.iter().find(|p| p.id == id)
    }

    fn validate(&self, file: &str, text: &str) -> Result<(), ScenarioError> {
        let s = &self.season;
        if !(Season::FIRST_DATA_YEAR..=Season::LAST_DATA_YEAR).contains(&s.data_year) {
            return Err(err(
                file,
                text,
                "season.data_year",
                format!(
                    "{} is outside {}..={}",
                    s.data_year,
                    Season::FIRST_DATA_YEAR,
                    Season::LAST_DATA_YEAR
                ),
            ));
        }
        let expected = if s.data_year <= 2017 {
            ChannelSpec::Sendemodul
        } else {
            ChannelSpec::Servicebus
        };
        if s.channel != expected {
            return Err(err(
                file,
                text,
                "season.channel",
                format!(
                    "data year {} went over {} (DOMAIN §3/§4), not {}",
                    s.data_year,
                    expected.as_str(),
                    s.channel.as_str()
                ),
            ));
        }
        if s.channel == ChannelSpec::Servicebus {
            for (field, v) in [
                ("season.register_her_id", s.register_her_id),
                ("season.validation_her_id", s.validation_her_id),
            ] {
                match v {
                    None => {
                        return Err(err(
                            file,
                            text,
                            field,
                            "required for the service bus".into(),
                        ));
                    }
                    Some(h) if iplos_model::ids::HerId::new(h).is_err() => {
                        return Err(err(file, text, field, format!("{h} is not a HER-id")));
                    }
                    _ => {}
                }
            }
        }
        if let Some(t) = s.test_data_year
            && t != s.data_year - 1
            && t != s.data_year
        {
            return Err(err(
                file,
                text,
                "season.test_data_year",
                format!("{t}: the test uses the data year or the one before"),
            ));
        }
        if s.test_feedback_key.len() < 6 {
            return Err(err(
                file,
                text,
                "season.test_feedback_key",
                "at least 6 characters".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in s.phases.iter().enumerate() {
            let field = format!("season.phase[{i}]");
            if !seen.insert(p.id) {
                return Err(err(
                    file,
                    text,
                    &field,
                    format!("phase {} given twice", p.id.as_str()),
                ));
            }
            if p.last_day < p.first_day {
                return Err(err(
                    file,
                    text,
                    &format!("{field}.last_day"),
                    format!("{} is before first_day {}", p.last_day, p.first_day),
                ));
            }
            let lo = NaiveDate::from_ymd_opt(s.data_year, 1, 1);
            let hi = NaiveDate::from_ymd_opt(s.data_year + 1, 12, 31);
            if lo.is_some_and(|lo| p.first_day < lo) || hi.is_some_and(|hi| p.last_day > hi) {
                return Err(err(
                    file,
                    text,
                    &format!("{field}.first_day"),
                    format!(
                        "{}..{} is outside the season of data year {}",
                        p.first_day, p.last_day, s.data_year
                    ),
                ));
            }
        }
        if !s.phases.is_empty() {
            for need in [
                PhaseId::OrdinarySubmission,
                PhaseId::Feedback,
                PhaseId::Corrections,
            ] {
                if !seen.contains(&need) {
                    return Err(err(
                        file,
                        text,
                        "season.phase",
                        format!("phase {} is missing", need.as_str()),
                    ));
                }
            }
        }
        let k = &self.rehearsal;
        for (field, v) in [
            ("rehearsal.test_share", k.test_share),
            ("rehearsal.registration_mistakes", k.registration_mistakes),
            ("rehearsal.submission_rush", k.submission_rush),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(err(file, text, field, format!("{v} is not within 0..=1")));
            }
        }
        for (name, v) in &k.vendor_shares {
            if !(v.is_finite() && *v >= 0.0) {
                return Err(err(
                    file,
                    text,
                    &format!("rehearsal.vendor_shares.{name}"),
                    format!("{v} is not a share"),
                ));
            }
            if !generators_vendor_names().contains(&name.as_str()) {
                return Err(err(
                    file,
                    text,
                    &format!("rehearsal.vendor_shares.{name}"),
                    format!(
                        "unknown EPJ product (known: {})",
                        generators_vendor_names().join(", ")
                    ),
                ));
            }
        }
        if !k.vendor_shares.is_empty() && k.vendor_shares.values().sum::<f64>() <= 0.0 {
            return Err(err(
                file,
                text,
                "rehearsal.vendor_shares",
                "the shares sum to 0".into(),
            ));
        }
        for (f, v) in &self.faults {
            if !(0.0..=1.0).contains(v) {
                return Err(err(
                    file,
                    text,
                    &format!("faults.{}", f.as_str()),
                    format!("{v} is not within 0..=1"),
                ));
            }
        }
        Ok(())
    }
}

fn generators_vendor_names() -> Vec<&'static str> {
    iplos_generators::profile::VENDORS
        .iter()
        .map(|v| v.navn_epj)
        .collect()
}

/// The calendar's phases of a data year as specs.
pub fn calendar_phases(year: i32) -> Result<Vec<PhaseSpec>, String> {
    let season = Season::for_data_year(year).map_err(|e| e.to_string())?;
    Ok(season
        .phases()
        .iter()
        .map(|p| PhaseSpec {
            id: PhaseId::from_kind(p.kind()),
            name: p.name().to_string(),
            first_day: p.first_day(),
            last_day: p.last_day(),
            source: p.source().to_string(),
        })
        .collect())
}

/// An error for `field`, with the line of the field's last key in the text when found.
fn err(file: &str, text: &str, field: &str, message: String) -> ScenarioError {
    ScenarioError {
        file: file.into(),
        line: find_field_line(text, field),
        field: Some(field.into()),
        message,
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `field` (a dotted path; `[i]` picks the i-th array-of-tables entry) is
/// set. A small scan of the TOML source: tables `[a]`/`[[a.b]]` and `key =` lines.
fn find_field_line(text: &str, field: &str) -> Option<usize> {
    // Split "season.phase[2].last_day" into parts with optional index.
    let parts: Vec<(&str, Option<usize>)> = field
        .split('.')
        .map(|p| match p.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse().ok()),
            None => (p, None),
        })
        .collect();
    let (last, _) = *parts.last()?;
    let table_parts: Vec<(&str, Option<usize>)> = parts[..parts.len() - 1].to_vec();
    let mut table: Vec<String> = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut current_index: Option<usize> = None;
    let mut table_line = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            table = inner
                .trim()
                .split('.')
                .map(|s| s.trim().to_string())
                .collect();
            let key = table.join(".");
            let c = counts.entry(key).or_insert(0);
            current_index = Some(*c);
            *c += 1;
        } else if let Some(inner) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            table = inner
                .trim()
                .split('.')
                .map(|s| s.trim().to_string())
                .collect();
            current_index = None;
        } else {
            let key = line
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            if line.contains('=')
                && key == last
                && table_matches(&table, current_index, &table_parts)
            {
                return Some(i + 1);
            }
            continue;
        }
        // A table header: remember it when it is the field itself (e.g. "season.phase").
        if table_matches(&table, current_index, &parts) {
            table_line.get_or_insert(i + 1);
        }
    }
    table_line.or_else(|| {
        // The table that should hold the field.
        if table_parts.is_empty() {
            return None;
        }
        find_field_line(
            text,
            &table_parts
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join("."),
        )
    })
}

fn table_matches(table: &[String], index: Option<usize>, want: &[(&str, Option<usize>)]) -> bool {
    if table.len() != want.len() {
        return false;
    }
    for (j, (name, idx)) in want.iter().enumerate() {
        if table[j] != *name {
            return false;
        }
        if j + 1 == want.len()
            && let Some(w) = idx
            && index != Some(*w)
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_scenario_loads() {
        for (name, text) in EMBEDDED {
            let s = Scenario::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.season.phases.is_empty(), "{name}");
        }
    }

    #[test]
    fn season_files_agree_with_the_calendar() {
        for year in [2016, 2017, 2018, 2026] {
            let s = Scenario::for_season(year).unwrap();
            let cal = calendar_phases(year).unwrap();
            let mut got: Vec<_> = s
                .season
                .phases
                .iter()
                .map(|p| (p.id, p.first_day, p.last_day))
                .collect();
            let mut want: Vec<_> = cal
                .iter()
                .map(|p| (p.id, p.first_day, p.last_day))
                .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "season-{year}.toml differs from model::calendar");
        }
    }

    #[test]
    fn errors_name_the_field_and_the_line() {
        let text = "name = \"x\"\n[season]\ndata_year = 2017\nchannel = \"sendemodul\"\n\n[rehearsal]\ntest_share = 1.5\n";
        let e = Scenario::parse("x.toml", text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("rehearsal.test_share"));
        assert_eq!(e.line, Some(7));
        assert!(
            e.to_string().starts_with("x.toml:7: rehearsal.test_share:"),
            "{e}"
        );

        let text = "name = \"x\"\n[season]\ndata_year = 2017\nchannel = \"sendemodul\"\n[faults]\nspam_filtre = 0.1\n";
        let e = Scenario::parse("x.toml", text).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("spam_filtre"), "{e}");

        let text = "name = \"x\"\n[season]\ndata_year = 2018\nchannel = \"sendemodul\"\n";
        let e = Scenario::parse("x.toml", text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("season.channel"));
        assert_eq!(e.line, Some(4));

        let text = "name = \"x\"\n[season]\ndata_year = 2017\nchannel = \"sendemodul\"\n\
                    [[season.phase]]\nid = \"ordinary_submission\"\nname = \"o\"\nfirst_day = 2018-01-02\nlast_day = 2018-01-15\nsource = \"s\"\n\
                    [[season.phase]]\nid = \"feedback\"\nname = \"f\"\nfirst_day = 2018-02-09\nlast_day = 2018-02-05\nsource = \"s\"\n";
        let e = Scenario::parse("x.toml", text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("season.phase[1].last_day"));
        assert_eq!(e.line, Some(15), "{e}");
    }

    #[test]
    fn faults_outside_their_channel_have_no_rate() {
        let text = "name = \"x\"\n[season]\ndata_year = 2018\nchannel = \"servicebus\"\nregister_her_id = 134197\nvalidation_her_id = 131725\n[faults]\nwrong_pin = 1.0\nepj_not_upgraded = 0.5\n";
        let s = Scenario::parse("x.toml", text).unwrap();
        assert_eq!(s.rate(Fault::WrongPin), 0.0);
        assert_eq!(s.rate(Fault::EpjNotUpgraded), 0.5);
    }
}
