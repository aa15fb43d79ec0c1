//! Persons and their service histories: what a vendor loads into its EPJ. One [`Person`] is
//! one line of `population.jsonl`.
//!
//! Every person receives at least one service (or a safety alarm) during the data year. A
//! service is active at some time between 1 January and 31 December: many started before the
//! year (they are in the initial load at the cut-off, 1 January), some end within it, some
//! pause (temporary stops, some still open at the end of the year), some change provider,
//! and a death ends every service on the death date. See [`crate::services`] for the
//! parameters and DOMAIN §7 for the figures.

use chrono::{Datelike, Duration, NaiveDate};
use iplos_model::ids::{PersonId, PersonIdKind, Sex};
use iplos_model::message::EventKind;
use iplos_model::municipality::{MAX_AGE, Municipality};
use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::GenError;
use crate::calibration::{AGE_BANDS, ServiceProbabilities, long_term_ongoing_share};
use crate::profile::Provider;
use crate::seed::GenRng;
use crate::services::{
    LONG_TERM_STAY, ProviderKind, SAFETY_ALARM, SERVICES, ServiceCode, ServiceName, ServiceSpec,
    Shape,
};
use crate::time::{OsloTime, guid};

/// One recipient: identity, the services of the data year with their histories, and the
/// registration mistakes the EPJ made and corrected (the corrections message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Person {
    /// The kommunenummer valid in the data year.
    pub kommune: String,
    /// `brukerNr`: `<kommunenr>-<6 digits>`, stable within the kommune.
    pub bruker_nr: String,
    /// `pasientGUID`.
    pub pasient_guid: String,
    /// `fid`: a synthetic (Test-Norge, month + 80) fødselsnummer or D-nummer, or (only when
    /// configured) an H-nummer or FH-nummer.
    pub fid: String,
    /// `typeID` (kodeverk 9032): 1 fødselsnummer, 2 D-nummer, 9 Annet (the birth date
    /// `ddmmyy`, as the spec prescribes for persons without a valid fødselsnummer).
    pub type_id: u8,
    /// The kind of `fid` (`None` for typeID 9, a birth date).
    pub id_kind: Option<PersonIdKind>,
    /// Date of birth (consistent with `fid` for fødselsnummer and D-nummer).
    pub birth_date: NaiveDate,
    /// Sex (consistent with `fid`).
    pub sex: Sex,
    /// Age on 1 January of the data year.
    pub age: u8,
    /// `bydel` (Oslo, Bergen, Trondheim and Stavanger only; \[model\] uniform over the bydeler).
    pub bydel: Option<String>,
    /// Date of death within the data year, if the person died.
    pub death_date: Option<NaiveDate>,
    /// Services (kodeverk 9151) active at some time in the data year, by start date.
    pub services: Vec<Service>,
    /// Welfare technology (kodeverk 9346): the safety alarm, retired as a service code in
    /// 56.0.0 and therefore never in a message.
    pub welfare_technology: Vec<WelfareTechnology>,
    /// Registrations the EPJ first got wrong and the kommune corrected before the deadline
    /// (they are why the ordinary message differs from this history, and what the
    /// corrections message repairs).
    pub registration_errors: Vec<RegistrationError>,
}

/// One service of a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Service {
    /// `tjenesteID`: unique within the kommune, numbered in order of start date.
    pub tjeneste_id: String,
    /// `tjenesteType` (kodeverk 9151).
    pub tjeneste_type: ServiceCode,
    /// The kodeverk-9151 name, for readers of population.jsonl.
    #[serde(default)]
    pub tjeneste_navn: ServiceName,
    /// Whether events of this service type are in the messages (by default 18, 19, 20, 21
    /// and 29, as 56.0.0 requires).
    pub reported: bool,
    /// Start date (before 1 January for services in the initial load).
    pub start: NaiveDate,
    /// When the start was registered in the EPJ (`hendelseRegTid` of `TjenesteStart`).
    pub start_registered: OsloTime,
    /// Whether the service was active at the cut-off (1 January): it is then in the
    /// initial load.
    pub active_at_cutoff: bool,
    /// The provider's organisation number at the start (at the cut-off for services in the
    /// initial load); `None` for services without `tjenesteOrgNr` (29 housing).
    pub provider: Option<String>,
    /// Provider changes within the data year (`TjenesteutforerEndret`).
    pub provider_changes: Vec<ProviderChange>,
    /// Temporary stops active at the cut-off or starting within the data year.
    pub stops: Vec<Stop>,
    /// End date within the data year; `None` if the service continues after it.
    pub end: Option<NaiveDate>,
    /// When the end was registered.
    pub end_registered: Option<OsloTime>,
    /// Why the service ended.
    pub end_reason: Option<EndReason>,
}

/// Why a service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// An ordinary end (the stay is over, the need has gone).
    Ended,
    /// The person died.
    Death,
    /// The person moved into a long-term stay (21), which replaces services at home.
    MovedToLongTermStay,
}

/// A temporary stop (`MidlertidigStoppFra` / `MidlertidigStoppTil`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Stop {
    /// `midlertidigStoppID`: `<tjenesteID>-S<n>`.
    pub id: String,
    /// First day of the stop.
    pub from: NaiveDate,
    /// When the stop was registered.
    pub from_registered: OsloTime,
    /// The day the service resumed; `None` while the stop is open at the end of the year
    /// or when the service ended during the stop.
    pub to: Option<NaiveDate>,
    /// When the resumption was registered.
    pub to_registered: Option<OsloTime>,
}

/// A change of provider (`TjenesteutforerEndret`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderChange {
    /// The date the new provider took over.
    pub date: NaiveDate,
    /// When the change was registered.
    pub registered: OsloTime,
    /// The new provider's organisation number.
    pub orgnr: String,
}

/// Welfare technology of a person (kodeverk 9346).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WelfareTechnology {
    /// What it is, e.g. `"trygghetsalarm"`.
    pub kind: String,
    /// The kodeverk it belongs to (`"9346"`).
    pub kodeverk: String,
    /// Start date.
    pub start: NaiveDate,
    /// End date within the data year, if it ended.
    pub end: Option<NaiveDate>,
}

/// A registration the EPJ first sent wrong and the kommune corrected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegistrationError {
    /// The service concerned.
    pub tjeneste_id: String,
    /// The event as first sent.
    pub event: EventKind,
    /// What was wrong.
    pub error: ErrorKind,
    /// When the wrong registration was made (its `hendelseRegTid` in the ordinary message).
    pub registered: OsloTime,
    /// The correction: `"M"` (KorrigerErstatt) or `"C"` (KorrigerAnnuller).
    pub correction: String,
    /// When the correction was registered (its `hendelseRegTid` in the corrections message).
    pub corrected: OsloTime,
}

/// What a corrected registration got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorKind {
    /// The date was mistyped; replaced (M) by the event with the right date.
    WrongDate {
        /// The date first sent.
        sent: NaiveDate,
        /// The right date (the one in the history).
        correct: NaiveDate,
    },
    /// The start was registered on the wrong provider; replaced (M).
    WrongProvider {
        /// The orgnr first sent.
        sent: String,
        /// The right orgnr.
        correct: String,
    },
    /// A provider change was registered on the wrong service; annulled (C).
    SpuriousProviderChange {
        /// Its date.
        date: NaiveDate,
        /// The orgnr it named.
        orgnr: String,
    },
    /// A temporary stop was registered on the wrong service; both events annulled (C).
    SpuriousStop {
        /// Its `midlertidigStoppID`.
        stop_id: String,
        /// Its first day.
        from: NaiveDate,
        /// Its last day.
        to: NaiveDate,
    },
}

impl Person {
    /// The age band index (0–5) of [`AGE_BANDS`].
    pub fn age_band(&self) -> usize {
        band_of(self.age)
    }

    /// The `Bruker` element of this person's events.
    pub fn bruker(&self) -> iplos_model::message::Bruker {
        iplos_model::message::Bruker {
            pasient_guid: self.pasient_guid.clone(),
            bruker_nr: self.bruker_nr.clone(),
            fid: self.fid.clone(),
            type_id: self.type_id.to_string(),
            bydel: self.bydel.clone(),
        }
    }
}

impl Service {
    /// The provider's orgnr on `date` (after the changes dated on or before it).
    pub fn provider_on(&self, date: NaiveDate) -> Option<&str> {
        let mut current = self.provider.as_deref();
        for c in &self.provider_changes {
            if c.date <= date {
                current = Some(&c.orgnr);
            }
        }
        current
    }

    /// The latest registration time of the service's events (what comes after it must be
    /// registered later).
    pub fn last_registered(&self) -> OsloTime {
        let mut t = self.start_registered;
        for s in &self.stops {
            t = t.max(s.from_registered);
            if let Some(r) = s.to_registered {
                t = t.max(r);
            }
        }
        for c in &self.provider_changes {
            t = t.max(c.registered);
        }
        if let Some(r) = self.end_registered {
            t = t.max(r);
        }
        t
    }

    /// The latest event date of the service.
    pub fn last_event_date(&self) -> NaiveDate {
        let mut d = self.start;
        for s in &self.stops {
            d = d.max(s.from);
            if let Some(t) = s.to {
                d = d.max(t);
            }
        }
        for c in &self.provider_changes {
            d = d.max(c.date);
        }
        if let Some(e) = self.end {
            d = d.max(e);
        }
        d
    }
}

/// The age band of an age.
pub fn band_of(age: u8) -> usize {
    AGE_BANDS
        .iter()
        .position(|&(lo, hi)| (lo..=hi).contains(&age))
        .unwrap_or(AGE_BANDS.len() - 1)
}

/// **\[model\]** Probability of dying within the data year for a recipient, by age band;
/// doubled (at most 0.7) for residents in a long-term stay.
pub const DEATH_RATE: [f64; 6] = [0.001, 0.003, 0.015, 0.05, 0.13, 0.30];

/// **\[model\]** Number of bydeler of the four kommuner that report bydel; codes are the
/// kommunenummer followed by 01, 02, ….
pub const BYDELER: [(&str, u8); 6] = [
    ("0301", 15), // Oslo
    ("1201", 8),  // Bergen (until 2019)
    ("4601", 8),  // Bergen (from 2020)
    ("1601", 4),  // Trondheim (until 2017)
    ("5001", 4),  // Trondheim (from 2018)
    ("1103", 9),  // Stavanger
];

/// Everything person generation needs about the kommune and the configuration.
pub(crate) struct Context<'a> {
    pub year: i32,
    pub cutoff: NaiveDate,
    pub year_end: NaiveDate,
    pub kommune: &'a Municipality,
    pub providers: &'a [Provider],
    pub probs: &'static ServiceProbabilities,
    pub reported: [bool; 32],
    pub d_number_share: f64,
    pub other_id_share: f64,
    /// Cumulative (count, age, sex) cells per band.
    pub age_tables: Vec<Vec<(u64, u8, Sex)>>,
    pub bydeler: u8,
}

impl<'a> Context<'a> {
    pub fn new(
        year: u16,
        kommune: &'a Municipality,
        providers: &'a [Provider],
        reported: [bool; 32],
        d_number_share: f64,
        other_id_share: f64,
    ) -> Result<Context<'a>, GenError> {
        let y = i32::from(year);
        let date =
            |m, d| NaiveDate::from_ymd_opt(y, m, d).ok_or(GenError::UnsupportedYear { year });
        let pop = kommune.population();
        let mut age_tables = Vec::with_capacity(AGE_BANDS.len());
        for &(lo, hi) in AGE_BANDS.iter().chain(std::iter::once(&(0, MAX_AGE))) {
            let mut cells = Vec::new();
            let mut acc = 0u64;
            for age in lo..=hi.min(MAX_AGE) {
                for sex in [Sex::Female, Sex::Male] {
                    let n = u64::from(pop.count(sex, age));
                    if n > 0 {
                        acc += n;
                        cells.push((acc, age, sex));
                    }
                }
            }
            age_tables.push(cells);
        }
        let bydeler = BYDELER
            .iter()
            .find(|(k, _)| *k == kommune.number())
            .map_or(0, |(_, n)| *n);
        Ok(Context {
            year: y,
            cutoff: date(1, 1)?,
            year_end: date(12, 31)?,
            kommune,
            providers,
            probs: crate::calibration::service_probabilities(),
            reported,
            d_number_share,
            other_id_share,
            age_tables,
            bydeler,
        })
    }

    fn providers_of(&self, kind: ProviderKind) -> impl Iterator<Item = &'a Provider> + 'a {
        self.providers.iter().filter(move |p| p.kind == kind)
    }
}

fn unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.r#gen()
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// A uniform date in `lo..=hi` (`lo` when the range is empty).
fn uniform_date<R: Rng + ?Sized>(rng: &mut R, lo: NaiveDate, hi: NaiveDate) -> NaiveDate {
    let span = (hi - lo).num_days();
    if span <= 0 {
        lo
    } else {
        lo + days(rng.gen_range(0..=span))
    }
}

/// Exponential with the given mean.
fn exponential<R: Rng + ?Sized>(rng: &mut R, mean: f64) -> f64 {
    -(1.0 - unit(rng)).ln() * mean
}

/// **\[model\]** Length of a temporary stop in days: 2 + exponential (mean 6), at most 60.
fn stop_length<R: Rng + ?Sized>(rng: &mut R) -> i64 {
    2 + (exponential(rng, 6.0) as i64).min(58)
}

/// **\[model\]** When an event of `date` is registered: the same day (55 %), the next day
/// (20 %), 2–3 days later (15 %) or 4–14 days later (10 %), during the working day
/// (07:30–15:30, 80 %) or the evening (15:30–22:30); never later than `latest` (a date).
pub(crate) fn registration_time<R: Rng + ?Sized>(
    rng: &mut R,
    date: NaiveDate,
    latest: NaiveDate,
) -> OsloTime {
    let u = unit(rng);
    let delay = if u < 0.55 {
        0
    } else if u < 0.75 {
        1
    } else if u < 0.9 {
        rng.gen_range(2..=3)
    } else {
        rng.gen_range(4..=14)
    };
    let day = (date + days(delay)).min(latest.max(date));
    let minute_of_day = if unit(rng) < 0.8 {
        rng.gen_range(450..930)
    } else {
        rng.gen_range(930..1350)
    };
    OsloTime::at(
        day,
        minute_of_day / 60,
        minute_of_day % 60,
        rng.gen_range(0..60),
    )
}

/// The window a service may occupy: up to `date`, where it is ended for `reason` (death,
/// a move to a long-term stay) or, with no reason, simply the end of the year.
#[derive(Clone, Copy)]
struct Limit {
    date: NaiveDate,
    reason: Option<EndReason>,
}

/// Draws which services a recipient of band `band` gets (indices into [`SERVICES`]) and
/// whether a long-term stay began before the year. The same rules as the calibration in
/// [`crate::calibration::service_probabilities`].
pub(crate) fn choose_services<R: Rng + ?Sized>(
    rng: &mut R,
    probs: &ServiceProbabilities,
    band: usize,
) -> (u32, bool) {
    let mut chosen = 0u32;
    for (s, p) in probs.p.iter().enumerate() {
        if unit(rng) < p[band] {
            chosen |= 1 << s;
        }
    }
    let mut ongoing_21 = false;
    if chosen & 1 != 0 {
        ongoing_21 = unit(rng) < long_term_ongoing_share();
        if ongoing_21 {
            for (s, spec) in SERVICES.iter().enumerate() {
                if spec.replaced_by_long_term_stay {
                    chosen &= !(1 << s);
                }
            }
        }
    }
    if chosen == 0 {
        let total: f64 = probs.p.iter().map(|p| p[band]).sum();
        let mut x = unit(rng) * total;
        let mut pick = 1; // home health care if all else fails
        for (s, p) in probs.p.iter().enumerate() {
            if x < p[band] {
                pick = s;
                break;
            }
            x -= p[band];
        }
        chosen = 1 << pick;
        if pick == 0 {
            ongoing_21 = unit(rng) < long_term_ongoing_share();
        }
    }
    (chosen, ongoing_21)
}

/// Generates one person of age band `band` with `rng` (the person's own stream). IDs
/// (`brukerNr`, `tjenesteID`, stop ids) are filled in afterwards by the kommune.
pub(crate) fn generate_person(
    ctx: &Context<'_>,
    rng: &mut GenRng,
    band: usize,
) -> Result<Person, GenError> {
    // Age and sex from the kommune's 1-year distribution within the band.
    let table = if ctx.age_tables[band].is_empty() {
        &ctx.age_tables[AGE_BANDS.len()]
    } else {
        &ctx.age_tables[band]
    };
    let (mut age, sex) = match table.last() {
        Some(&(total, _, _)) => {
            let x = rng.gen_range(0..total);
            let i = table.partition_point(|&(acc, _, _)| acc <= x);
            let (_, a, s) = table[i.min(table.len() - 1)];
            (a, s)
        }
        None => (80, Sex::Female),
    };
    if age >= MAX_AGE {
        age = MAX_AGE + rng.gen_range(0..=2);
    }
    let birth_year_start = NaiveDate::from_ymd_opt(ctx.year - i32::from(age), 1, 1).ok_or(
        GenError::UnsupportedYear {
            year: ctx.year as u16,
        },
    )?;
    let birth_date = birth_year_start - days(rng.gen_range(1..=364));

    // Identity.
    let u = unit(rng);
    // Other ids: the birth date with typeID 9 (Annet), as the spec prescribes for persons
    // without a valid fødselsnummer. (H- and FH-nummer have no synthetic form, and a
    // real-looking one is itself an error in test mode, IPL24.)
    let (id_kind, type_id, id) = if u < ctx.d_number_share {
        let k = PersonIdKind::DNummer;
        (
            Some(k),
            k.type_id(),
            PersonId::generate_synthetic(rng, birth_date, sex, k)?.to_string(),
        )
    } else if u < ctx.d_number_share + ctx.other_id_share {
        (None, 9, birth_date.format("%d%m%y").to_string())
    } else {
        let k = PersonIdKind::Fodselsnummer;
        (
            Some(k),
            k.type_id(),
            PersonId::generate_synthetic(rng, birth_date, sex, k)?.to_string(),
        )
    };
    let pasient_guid = guid(rng);
    let bydel = (ctx.bydeler > 0).then(|| {
        let n = rng.gen_range(1..=ctx.bydeler);
        format!("{}{n:02}", ctx.kommune.number())
    });

    // Services, death.
    let (chosen, ongoing_21) = choose_services(rng, ctx.probs, band);
    let has_21 = chosen & 1 != 0;
    let mut p_death = DEATH_RATE[band.min(5)];
    if has_21 {
        p_death = (p_death * 2.0).min(0.7);
    }
    let death_date = (unit(rng) < p_death).then(|| uniform_date(rng, ctx.cutoff, ctx.year_end));
    let base_limit = Limit {
        date: death_date.unwrap_or(ctx.year_end),
        reason: death_date.map(|_| EndReason::Death),
    };

    let mut services = Vec::new();
    let mut welfare_technology = Vec::new();
    let mut long_term_start = None;
    for (s, spec) in SERVICES.iter().enumerate() {
        if chosen & (1 << s) == 0 {
            continue;
        }
        let mut limit = base_limit;
        if spec.replaced_by_long_term_stay
            && let Some(d) = long_term_start
            && d < limit.date
        {
            limit = Limit {
                date: d,
                reason: Some(EndReason::MovedToLongTermStay),
            };
        }
        let forced = (spec.code == LONG_TERM_STAY).then_some(ongoing_21);
        let before = services.len();
        gen_service(ctx, rng, spec, birth_date, limit, forced, &mut services);
        if spec.code == LONG_TERM_STAY
            && let Some(svc) = services.get(before)
            && svc.start >= ctx.cutoff
        {
            long_term_start = Some(svc.start);
        }
        if spec.code == SAFETY_ALARM {
            for svc in services.drain(before..) {
                welfare_technology.push(WelfareTechnology {
                    kind: "trygghetsalarm".into(),
                    kodeverk: "9346".into(),
                    start: svc.start,
                    end: svc.end,
                });
            }
        }
    }
    services.sort_by_key(|s| (s.start, s.tjeneste_type));

    Ok(Person {
        kommune: ctx.kommune.number().to_string(),
        bruker_nr: String::new(),
        pasient_guid,
        fid: id,
        type_id,
        id_kind,
        birth_date,
        sex,
        age,
        bydel,
        death_date,
        services,
        welfare_technology,
        registration_errors: Vec::new(),
    })
}

/// Generates the service(s) of one spec within `limit` (one for lasting services, one or
/// more stays) and appends them to `out`.
fn gen_service(
    ctx: &Context<'_>,
    rng: &mut GenRng,
    spec: &ServiceSpec,
    birth: NaiveDate,
    limit: Limit,
    forced_ongoing: Option<bool>,
    out: &mut Vec<Service>,
) {
    let before_cutoff = ctx.cutoff - days(1);
    let provider = spec.provider.and_then(|kind| {
        let n = ctx.providers_of(kind).count();
        (n > 0)
            .then(|| rng.gen_range(0..n))
            .and_then(|i| ctx.providers_of(kind).nth(i))
    });
    match spec.shape {
        Shape::Lasting {
            ongoing,
            mean_years_before,
            end_rate,
        } => {
            let is_ongoing = forced_ongoing.unwrap_or_else(|| unit(rng) < ongoing);
            let start = if is_ongoing {
                let back = 1 + exponential(rng, mean_years_before * 365.0) as i64;
                (ctx.cutoff - days(back.min(80 * 365)))
                    .max(birth)
                    .min(before_cutoff)
            } else {
                uniform_date(rng, ctx.cutoff, limit.date)
            };
            let window_start = start.max(ctx.cutoff);
            let span = (limit.date - window_start).num_days() as f64 + 1.0;
            let (end, reason) = if unit(rng) < end_rate * span / 365.0 {
                (
                    Some(uniform_date(rng, window_start, limit.date)),
                    Some(EndReason::Ended),
                )
            } else if limit.reason.is_some() {
                (Some(limit.date), limit.reason)
            } else {
                (None, None)
            };
            out.push(build_service(ctx, rng, spec, provider, start, end, reason));
        }
        Shape::Stays {
            ongoing,
            min_days,
            max_days,
            repeat,
        } => {
            let mut dur = i64::from(rng.gen_range(min_days..=max_days));
            let mut start = if unit(rng) < ongoing {
                let back = rng.gen_range(1..=(dur - 1).max(1));
                (ctx.cutoff - days(back)).max(birth).min(before_cutoff)
            } else {
                uniform_date(rng, ctx.cutoff, limit.date)
            };
            loop {
                let natural = start + days(dur);
                let (end, reason) = if natural <= limit.date {
                    (Some(natural), Some(EndReason::Ended))
                } else if limit.reason.is_some() {
                    (Some(limit.date), limit.reason)
                } else {
                    (None, None)
                };
                out.push(build_service(ctx, rng, spec, provider, start, end, reason));
                let Some(e) = end else { break };
                if reason != Some(EndReason::Ended) || unit(rng) >= repeat {
                    break;
                }
                start = e + days(rng.gen_range(14..=120));
                if start > limit.date {
                    break;
                }
                dur = i64::from(rng.gen_range(min_days..=max_days));
            }
        }
    }
}

/// Fills in stops, provider changes and registration times of a service with the given
/// start and end.
fn build_service(
    ctx: &Context<'_>,
    rng: &mut GenRng,
    spec: &ServiceSpec,
    provider: Option<&Provider>,
    start: NaiveDate,
    end: Option<NaiveDate>,
    end_reason: Option<EndReason>,
) -> Service {
    let cutoff = ctx.cutoff;
    let active_at_cutoff = start < cutoff;
    // The days on which something can happen to the running service.
    let first = if active_at_cutoff {
        cutoff
    } else {
        start + days(1)
    };
    let last = match end {
        Some(e) => e - days(1),
        None => ctx.year_end,
    };
    let mut stops: Vec<Stop> = Vec::new();
    let rate = spec.stops_per_year;
    let close = |til: NaiveDate| -> Option<NaiveDate> {
        match end {
            Some(e) if til >= e => None,
            None if til > ctx.year_end => None,
            _ => Some(til),
        }
    };
    let placeholder = OsloTime::midnight(start);
    if rate > 0.0 {
        let mut next_from = first;
        // A stop running over the cut-off (about rate × 10 days / 365 of the services).
        if active_at_cutoff && unit(rng) < rate * 10.0 / 365.0 {
            let from = cutoff - days(rng.gen_range(1..=14));
            if from > start {
                let til = (from + days(stop_length(rng))).max(cutoff);
                let to = close(til);
                stops.push(Stop {
                    id: String::new(),
                    from,
                    from_registered: placeholder,
                    to,
                    to_registered: None,
                });
                next_from = to.map_or(ctx.year_end + days(1), |t| t + days(1));
            }
        }
        loop {
            let gap = 1 + exponential(rng, 365.0 / rate) as i64;
            let from = next_from + days(gap.min(400));
            if from > last || stops.last().is_some_and(|s| s.to.is_none()) {
                break;
            }
            let to = close(from + days(stop_length(rng)));
            stops.push(Stop {
                id: String::new(),
                from,
                from_registered: placeholder,
                to,
                to_registered: None,
            });
            match to {
                Some(t) => next_from = t + days(1),
                None => break,
            }
        }
    }

    let mut provider_changes = Vec::new();
    if let (Some(p), true) = (provider, spec.changes_per_year > 0.0 && first <= last) {
        let span = (last - first).num_days() as f64 + 1.0;
        if unit(rng) < spec.changes_per_year * span / 365.0 {
            let others: Vec<&Provider> = ctx
                .providers_of(p.kind)
                .filter(|o| o.orgnr != p.orgnr)
                .collect();
            if !others.is_empty() {
                let new = others[rng.gen_range(0..others.len())];
                provider_changes.push(ProviderChange {
                    date: uniform_date(rng, first, last),
                    registered: placeholder,
                    orgnr: new.orgnr.clone(),
                });
            }
        }
    }

    let mut svc = Service {
        tjeneste_id: String::new(),
        tjeneste_type: spec.code,
        tjeneste_navn: ServiceName(spec.code.name()),
        reported: ctx.reported[usize::from(spec.code.0).min(31)],
        start,
        start_registered: placeholder,
        active_at_cutoff,
        provider: provider.map(|p| p.orgnr.clone()),
        provider_changes,
        stops,
        end,
        end_registered: None,
        end_reason: end.and(end_reason),
    };
    register(ctx, rng, &mut svc);
    svc
}

/// Which event of a service a registration time belongs to.
#[derive(Clone, Copy)]
enum Slot {
    Start,
    StopTo(usize),
    Change(usize),
    StopFrom(usize),
    End,
}

/// Draws registration times for every event of `svc`, in the order of the events (by date;
/// on one date: start, resumption, provider change, stop, end), each strictly after the one
/// before. Events before the cut-off are registered before it; events of the year by
/// 1 January of the next year at the latest.
fn register(ctx: &Context<'_>, rng: &mut GenRng, svc: &mut Service) {
    let mut slots: Vec<(NaiveDate, u8, Slot)> =
        Vec::with_capacity(2 + 2 * svc.stops.len() + svc.provider_changes.len());
    slots.push((svc.start, 0, Slot::Start));
    for (i, s) in svc.stops.iter().enumerate() {
        slots.push((s.from, 3, Slot::StopFrom(i)));
        if let Some(t) = s.to {
            slots.push((t, 1, Slot::StopTo(i)));
        }
    }
    for (i, c) in svc.provider_changes.iter().enumerate() {
        slots.push((c.date, 2, Slot::Change(i)));
    }
    if let Some(e) = svc.end {
        slots.push((e, 4, Slot::End));
    }
    slots.sort_by_key(|&(d, o, _)| (d, o));
    let last_before = ctx.cutoff - days(1);
    let last_in_year = ctx.year_end + days(1);
    let mut prev: Option<OsloTime> = None;
    for (date, _, slot) in slots {
        let latest = if date < ctx.cutoff {
            last_before
        } else {
            last_in_year
        };
        let mut t = registration_time(rng, date, latest);
        if let Some(p) = prev
            && t <= p
        {
            t = p.plus_seconds(rng.gen_range(60..=1800));
        }
        prev = Some(t);
        match slot {
            Slot::Start => svc.start_registered = t,
            Slot::StopFrom(i) => svc.stops[i].from_registered = t,
            Slot::StopTo(i) => svc.stops[i].to_registered = Some(t),
            Slot::Change(i) => svc.provider_changes[i].registered = t,
            Slot::End => svc.end_registered = Some(t),
        }
    }
}

/// Gives the person's services their stop ids (`<tjenesteID>-S<n>`), once the tjenesteIDs
/// are set.
pub(crate) fn name_stops(p: &mut Person) {
    for svc in &mut p.services {
        for (i, stop) in svc.stops.iter_mut().enumerate() {
            stop.id = format!("{}-S{}", svc.tjeneste_id, i + 1);
        }
    }
}

/// Years of age on 1 January of the data year for a birth date (used by tests).
pub fn age_at(birth: NaiveDate, cutoff: NaiveDate) -> i32 {
    let mut a = cutoff.year() - birth.year();
    if (cutoff.month(), cutoff.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a
}
