//! Generating one kommune: its persons with their histories, the ordinary submission
//! (`melding.xml`: initial load + the year's events), the corrections message
//! (`korreksjoner.xml`) and statistics.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use chrono::{Duration, NaiveDate};
use iplos_model::calendar::{PhaseKind, Season};
use iplos_model::message::{EMPTY_GUID, Melding, Status};
use iplos_model::municipality::Municipality;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::GenError;
use crate::calibration::{AGE_BAND_LABELS, recipient_counts};
use crate::corrections::{self, Planned, Window};
use crate::events::{Meta, MsgEvent, derive_events, notification};
use crate::population::{Context, Person, generate_person, name_stops};
use crate::profile::{Profile, profile, providers};
use crate::seed::{child_seed, rng_from, stream_rng, sub_seed};
use crate::services::{DEFAULT_REPORTED_TYPES, ServiceCode};
use crate::time::{OsloTime, guid};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenConfig {
    /// Multiplies the number of recipients (1.0 = calibrated to the official figures).
    pub scale: f64,
    /// **\[model\]** Share of persons identified by a synthetic D-nummer (typeID 2).
    pub d_number_share: f64,
    /// Share of persons identified by their birth date (typeID 9, Annet). These give no
    /// KPR-ID and draw warning IPL20 from the checker, so the default is 0.
    pub other_id_share: f64,
    /// Service types whose events are in the messages (56.0.0: 18, 19, 20, 21, 29). Retired
    /// codes are refused.
    pub reported_types: Vec<u8>,
    /// **\[model\]** Corrections sent, as a share of the ordinary message's notifications
    /// (at least one when there is anything to correct; 0 for none).
    pub correction_rate: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            scale: 1.0,
            d_number_share: 0.02,
            other_id_share: 0.0,
            reported_types: DEFAULT_REPORTED_TYPES.to_vec(),
            correction_rate: 0.01,
        }
    }
}

impl GenConfig {
    /// The default configuration at another scale.
    pub fn with_scale(scale: f64) -> GenConfig {
        GenConfig {
            scale,
            ..GenConfig::default()
        }
    }

    fn validate(&self) -> Result<[bool; 32], GenError> {
        let share_ok = |x: f64| (0.0..=1.0).contains(&x);
        if !(self.scale.is_finite() && self.scale >= 0.0) {
            return Err(GenError::Config(format!(
                "scale must be a finite number ≥ 0, not {}",
                self.scale
            )));
        }
        if !share_ok(self.d_number_share)
            || !share_ok(self.other_id_share)
            || self.d_number_share + self.other_id_share > 1.0
        {
            return Err(GenError::Config(
                "d_number_share and other_id_share must be shares (0-1) summing to at most 1"
                    .into(),
            ));
        }
        if !(self.correction_rate.is_finite() && (0.0..=1.0).contains(&self.correction_rate)) {
            return Err(GenError::Config(
                "correction_rate must be between 0 and 1".into(),
            ));
        }
        let mut reported = [false; 32];
        for &t in &self.reported_types {
            let code = ServiceCode(t);
            if !code.is_known() {
                return Err(GenError::Config(format!(
                    "reported type {t} is not a code of kodeverk 9151"
                )));
            }
            if code.is_retired() {
                return Err(GenError::Config(format!(
                    "reported type {t} ({}) is retired in 56.0.0",
                    code.name()
                )));
            }
            reported[usize::from(t)] = true;
        }
        Ok(reported)
    }
}

/// Counts of what was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Persons (recipients).
    pub persons: u32,
    /// Persons by age band ("0-17", …, "90+").
    pub persons_by_age_band: BTreeMap<String, u32>,
    /// Persons who died in the year.
    pub deaths: u32,
    /// Persons identified by a D-nummer.
    pub d_numbers: u32,
    /// Persons identified by an H-nummer or FH-nummer.
    pub other_ids: u32,
    /// Persons with a safety alarm (welfare technology).
    pub safety_alarms: u32,
    /// Service instances by type code.
    pub services_by_type: BTreeMap<String, u32>,
    /// Persons with at least one service of the type.
    pub recipients_by_type: BTreeMap<String, u32>,
    /// Notifications of the ordinary message.
    pub notifications: u32,
    /// Of which in the initial load.
    pub initial_load: u32,
    /// Notifications of the ordinary message by event kind.
    pub notifications_by_kind: BTreeMap<String, u32>,
    /// Notifications of the ordinary message by service type.
    pub notifications_by_service_type: BTreeMap<String, u32>,
    /// Corrections: M (KorrigerErstatt) notifications.
    pub corrections_m: u32,
    /// Corrections: C (KorrigerAnnuller) notifications.
    pub corrections_c: u32,
}

/// Everything generated for one kommune in one data year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KommuneData {
    /// The data year.
    pub year: u16,
    /// The kommunenummer valid in the data year.
    pub kommune: String,
    /// The kommune's name.
    pub kommune_name: String,
    /// The seed it was generated from.
    pub seed: u64,
    /// Vendor, contacts, providers, submission days.
    pub profile: Profile,
    /// The recipients with their histories (population.jsonl).
    pub persons: Vec<Person>,
    /// The ordinary submission (`melding.xml`).
    pub melding: Melding,
    /// The corrections message (`korreksjoner.xml`), continuing the ordinary message's
    /// chain and sequence numbers.
    pub korreksjoner: Melding,
    /// Counts.
    pub stats: Stats,
}

impl KommuneData {
    /// Writes population.jsonl: one JSON object per person and line.
    pub fn write_population_jsonl<W: Write>(&self, out: W) -> io::Result<W> {
        write_population_jsonl(&self.persons, out)
    }
}

/// Writes persons as JSON lines.
pub fn write_population_jsonl<W: Write>(persons: &[Person], mut out: W) -> io::Result<W> {
    let mut buf = Vec::with_capacity(1024);
    for p in persons {
        buf.clear();
        serde_json::to_writer(&mut buf, p).map_err(io::Error::other)?;
        buf.push(b'\n');
        out.write_all(&buf)?;
    }
    out.flush()?;
    Ok(out)
}

/// The JSON Schema (draft 2020-12) of one line of population.jsonl: a [`Person`], made from
/// the types themselves (their doc comments are the descriptions), so it cannot fall out
/// of step with what [`write_population_jsonl`] writes.
pub fn population_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Person);
    schema.insert(
        "title".into(),
        "population.jsonl: one synthetic person per line".into(),
    );
    schema.insert(
        "description".into(),
        "One recipient of the kommune's services in the data year: identity, the services \
         with their histories (start, temporary stops, provider changes, end), and the \
         registrations the EPJ first got wrong and the kommune corrected (what the \
         corrections message repairs). Every person id is synthetic (Test-Norge: month + 80)."
            .into(),
    );
    schema.to_value()
}

/// Generates the persons of a kommune (with ids), without messages. The number of persons
/// is exactly [`recipient_counts`] summed.
pub fn generate_persons(
    year: u16,
    kommune: &Municipality,
    cfg: &GenConfig,
    seed: u64,
) -> Result<(Vec<Person>, Vec<crate::Provider>), GenError> {
    let reported = cfg.validate()?;
    let knr = kommune.number();
    let providers = providers(year, kommune, seed);
    let counts = recipient_counts(year, kommune, cfg.scale, seed)?;
    let ctx = Context::new(
        year,
        kommune,
        &providers,
        reported,
        cfg.d_number_share,
        cfg.other_id_share,
    )?;
    let persons_seed = sub_seed(seed, year, knr, "persons");
    let n: u32 = counts.iter().sum();
    let mut persons = Vec::with_capacity(n as usize);
    let mut index = 0u64;
    for (band, &c) in counts.iter().enumerate() {
        for _ in 0..c {
            let mut rng = rng_from(child_seed(persons_seed, index));
            persons.push(generate_person(&ctx, &mut rng, band)?);
            index += 1;
        }
    }
    assign_ids(year, knr, seed, &mut persons);
    Ok((persons, providers))
}

/// brukerNr: `<kommunenr>-<6 digits>`, increasing with random gaps, shuffled over the
/// persons; tjenesteID: `<kommunenr>-<7 digits>` numbered in order of start date.
fn assign_ids(year: u16, knr: &str, seed: u64, persons: &mut [Person]) {
    let mut rng = stream_rng(seed, year, knr, "ids");
    let mut numbers: Vec<u32> = Vec::with_capacity(persons.len());
    let mut x: u32 = rng.gen_range(100_000..200_000);
    for _ in 0..persons.len() {
        x += rng.gen_range(1..=9);
        numbers.push(x);
    }
    for i in (1..numbers.len()).rev() {
        let j = rng.gen_range(0..=i);
        numbers.swap(i, j);
    }
    for (p, n) in persons.iter_mut().zip(numbers) {
        p.bruker_nr = format!("{knr}-{n:06}");
    }
    // Rank the services by start date through a flat index, then write the ids in person
    // order (writing them in rank order jumps around memory).
    let mut order: Vec<(NaiveDate, u32)> = persons
        .iter()
        .flat_map(|p| p.services.iter().map(|s| s.start))
        .enumerate()
        .map(|(flat, start)| (start, flat as u32))
        .collect();
    order.sort_unstable();
    let mut rank = vec![0u32; order.len()];
    for (r, &(_, flat)) in order.iter().enumerate() {
        rank[flat as usize] = r as u32;
    }
    let base: u32 = rng.gen_range(1_000_000..2_000_000);
    let mut ranks = rank.into_iter();
    for s in persons.iter_mut().flat_map(|p| p.services.iter_mut()) {
        let r = ranks.next().unwrap_or(0);
        s.tjeneste_id = format!("{knr}-{:07}", base + r);
    }
    for p in persons.iter_mut() {
        name_stops(p);
    }
}

/// Generates everything for one kommune valid in data `year`.
///
/// The same (year, kommune, cfg, seed) always gives the same result, whatever else is
/// generated and in what order or on how many threads.
pub fn generate_kommune(
    year: u16,
    kommune: &Municipality,
    cfg: &GenConfig,
    seed: u64,
) -> Result<KommuneData, GenError> {
    let knr = kommune.number();
    let (mut persons, providers) = generate_persons(year, kommune, cfg, seed)?;
    let profile = profile(year, kommune, seed, providers)?;
    let season =
        Season::for_data_year(i32::from(year)).map_err(|_| GenError::UnsupportedYear { year })?;
    let (cutoff, year_end) = season
        .data_period()
        .ok_or(GenError::UnsupportedYear { year })?;
    let feedback = season
        .phase(PhaseKind::Feedback)
        .map_or(profile.ordinary_submission, |p| p.first_day());
    let window = Window {
        cutoff,
        year_end,
        first: feedback.min(profile.corrections_submission - Duration::days(1)),
        last: profile.corrections_submission - Duration::days(1),
    };

    let (melding, korreksjoner, errors, stats_msg) = {
        let (initial, mut in_year) = derive_events(&persons, cutoff);
        let mut crng = stream_rng(seed, year, knr, "corrections");
        let planned = corrections::plan(
            &persons,
            &profile.providers,
            &initial,
            &mut in_year,
            cfg.correction_rate,
            &mut crng,
            &window,
        );
        in_year.sort_by_key(|e| (e.reg, e.id));
        let mut grng = stream_rng(seed, year, knr, "guids");
        build_messages(
            year, knr, &profile, &persons, &initial, &in_year, planned, cutoff, &mut grng,
        )
    };
    for (pi, err) in errors {
        persons[pi as usize].registration_errors.push(err);
    }
    let stats = stats(&persons, stats_msg);
    Ok(KommuneData {
        year,
        kommune: knr.to_string(),
        kommune_name: kommune.name().to_string(),
        seed,
        profile,
        persons,
        melding,
        korreksjoner,
        stats,
    })
}

type Built = (
    Melding,
    Melding,
    Vec<(u32, crate::RegistrationError)>,
    Stats,
);

#[allow(clippy::too_many_arguments)]
fn build_messages(
    year: u16,
    knr: &str,
    profile: &Profile,
    persons: &[Person],
    initial: &[MsgEvent<'_>],
    in_year: &[MsgEvent<'_>],
    mut planned: Vec<Planned<'_>>,
    cutoff: NaiveDate,
    rng: &mut crate::seed::GenRng,
) -> Built {
    let targets: std::collections::HashSet<u32> = planned.iter().map(|p| p.target).collect();
    let mut target_guids: HashMap<u32, String> = HashMap::with_capacity(targets.len());
    let mut stats = Stats::default();
    let mut melding = Melding {
        header: profile.header(Some(format!("{knr}-{year}-ordinaer"))),
        notifikasjoner: Vec::with_capacity(initial.len() + in_year.len()),
        kontaktpersoner: profile.contacts.clone(),
        kommuner: vec![knr.to_string()],
    };
    let mut prev = EMPTY_GUID.to_string();
    let mut lopenr = 0u64;
    let cut = OsloTime::midnight(cutoff);
    let mut last_tid = cut;
    for e in initial.iter().chain(in_year.iter()) {
        lopenr += 1;
        let tid = if e.initial {
            cut
        } else {
            let t = e.reg.plus_seconds(rng.gen_range(2..=90)).max(last_tid);
            last_tid = t;
            t
        };
        let g = guid(rng);
        if targets.contains(&e.id) {
            target_guids.insert(e.id, g.clone());
        }
        let forrige = std::mem::replace(&mut prev, g.clone());
        let meta = Meta {
            status: Status::N,
            tid,
            guid: g,
            forrige,
            lopenr,
            referanse: None,
            hendelse_guid: guid(rng),
        };
        let n = notification(persons, e, meta);
        if e.initial {
            stats.initial_load += 1;
        }
        *stats
            .notifications_by_kind
            .entry(e.kind.element().to_string())
            .or_default() += 1;
        *stats
            .notifications_by_service_type
            .entry(n.events[0].tjeneste_type.clone())
            .or_default() += 1;
        melding.notifikasjoner.push(n);
    }
    stats.notifications = melding.notifikasjoner.len() as u32;

    planned.sort_by_key(|p| (p.event.reg, p.target));
    let mut korreksjoner = Melding {
        header: profile.header(Some(format!("{knr}-{year}-korreksjoner"))),
        notifikasjoner: Vec::with_capacity(planned.len()),
        kontaktpersoner: profile.contacts.clone(),
        kommuner: vec![knr.to_string()],
    };
    let mut errors = Vec::new();
    let mut last_tid = cut;
    for p in planned {
        lopenr += 1;
        let tid = p
            .event
            .reg
            .plus_seconds(rng.gen_range(5..=90))
            .max(last_tid);
        last_tid = tid;
        let g = guid(rng);
        let forrige = std::mem::replace(&mut prev, g.clone());
        let referanse = target_guids.get(&p.target).cloned();
        match p.status {
            Status::M => stats.corrections_m += 1,
            _ => stats.corrections_c += 1,
        }
        let meta = Meta {
            status: p.status,
            tid,
            guid: g,
            forrige,
            lopenr,
            referanse,
            hendelse_guid: guid(rng),
        };
        korreksjoner
            .notifikasjoner
            .push(notification(persons, &p.event, meta));
        if let Some(err) = p.error {
            errors.push(err);
        }
    }
    (melding, korreksjoner, errors, stats)
}

fn stats(persons: &[Person], mut s: Stats) -> Stats {
    s.persons = persons.len() as u32;
    for label in AGE_BAND_LABELS {
        s.persons_by_age_band.insert(label.to_string(), 0);
    }
    let mut seen: Vec<ServiceCode> = Vec::new();
    for p in persons {
        *s.persons_by_age_band
            .entry(AGE_BAND_LABELS[p.age_band()].to_string())
            .or_default() += 1;
        if p.death_date.is_some() {
            s.deaths += 1;
        }
        match p.type_id {
            1 => {}
            2 => s.d_numbers += 1,
            _ => s.other_ids += 1,
        }
        if !p.welfare_technology.is_empty() {
            s.safety_alarms += 1;
        }
        seen.clear();
        for svc in &p.services {
            let code = svc.tjeneste_type.as_str().to_string();
            *s.services_by_type.entry(code.clone()).or_default() += 1;
            if !seen.contains(&svc.tjeneste_type) {
                seen.push(svc.tjeneste_type);
                *s.recipients_by_type.entry(code).or_default() += 1;
            }
        }
    }
    s
}
