//! Corrections a kommune sends before the deadline: some registrations were first made
//! wrong, went out in the ordinary message as they were, and are repaired afterwards.
//!
//! * **M (KorrigerErstatt)**: a mistyped date (a start, end or stop registered a few days
//!   too early), or a start registered on the wrong provider. The ordinary message carries
//!   the wrong version; the M carries the event as it is in the history, with a new
//!   `hendelseGUID`, the time of the correction as `hendelseRegTid`, and `notifikasjonRef`
//!   pointing to the original.
//! * **C (KorrigerAnnuller)**: a provider change or a temporary stop registered on the wrong
//!   service. The ordinary message carries it; the C repeats it (new `hendelseGUID`,
//!   correction time) and refers to the original, which is then void. A stop is annulled as
//!   a pair: first its `MidlertidigStoppTil`, then its `MidlertidigStoppFra`.
//!
//! Every mistake is chosen so that both versions are consistent with the rest of the
//! service's events (dates stay after what comes before, nothing else of the service
//! depends on the wrong value), so both messages pass every content rule. At most one
//! mistake per service.
//!
//! **\[model\]** Only registrations of the data year are corrected (not those of the
//! initial load, made years before), so every correction is dated within the data year
//! — which also lets a checker that infers the data year from the latest `hendelseDato`
//! infer the right one.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{Duration, NaiveDate};
use iplos_model::message::{EventKind, OrgNrDuty, Status, orgnr_duty};
use rand::Rng;

use crate::events::MsgEvent;
use crate::population::{ErrorKind, Person, RegistrationError, registration_time};
use crate::profile::Provider;
use crate::seed::GenRng;
use crate::services::{SERVICES, spec_index};
use crate::time::OsloTime;

/// One correction notification to send.
#[derive(Debug, Clone)]
pub(crate) struct Planned<'p> {
    /// The id of the original (N) event it refers to.
    pub target: u32,
    /// M or C.
    pub status: Status,
    /// The event it carries.
    pub event: MsgEvent<'p>,
    /// The mistake to record on the person (once per mistake).
    pub error: Option<(u32, RegistrationError)>,
}

/// Dates and limits the planner needs.
pub(crate) struct Window {
    pub cutoff: NaiveDate,
    pub year_end: NaiveDate,
    /// First and last day on which corrections are registered.
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// **\[model\]** Kinds of correction and their weights: wrong date (M), wrong provider
/// (M), spurious provider change (C), spurious stop (C).
const WEIGHTS: [f64; 4] = [0.45, 0.2, 0.15, 0.2];

fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// Plans about `rate` × the number of notifications corrections (at least one when there
/// is anything to correct), changing the ordinary events in place to their wrong versions
/// and appending spurious ones to `in_year`.
pub(crate) fn plan<'p>(
    persons: &'p [Person],
    providers: &'p [Provider],
    initial: &[MsgEvent<'p>],
    in_year: &mut Vec<MsgEvent<'p>>,
    rate: f64,
    rng: &mut GenRng,
    w: &Window,
) -> Vec<Planned<'p>> {
    let total = initial.len() + in_year.len();
    if total == 0 || rate <= 0.0 || w.first > w.last {
        return Vec::new();
    }
    let wanted = ((rate * total as f64).round() as usize).max(1);
    let mut next_id = initial
        .iter()
        .chain(in_year.iter())
        .map(|e| e.id)
        .max()
        .map_or(0, |m| m + 1);
    let services: Vec<(u32, u16)> = persons
        .iter()
        .enumerate()
        .flat_map(|(pi, p)| {
            p.services
                .iter()
                .enumerate()
                .filter(|(_, s)| s.reported)
                .map(move |(si, _)| (pi as u32, si as u16))
        })
        .collect();
    let mut used: HashSet<(u32, u16)> = HashSet::new();
    let mut out: Vec<Planned<'p>> = Vec::new();
    let mut made = 0;
    let mut attempts = 0;
    while made < wanted && attempts < wanted * 30 + 50 {
        attempts += 1;
        let mut x = rng.r#gen::<f64>();
        let mut kind = 0;
        for (i, wt) in WEIGHTS.iter().enumerate() {
            if x < *wt {
                kind = i;
                break;
            }
            x -= wt;
        }
        let corrected_at = correction_time(rng, w);
        let ok = match kind {
            0 => wrong_date(persons, in_year, rng, w, &mut used, corrected_at, &mut out),
            1 => wrong_provider(
                persons,
                providers,
                in_year,
                rng,
                &mut used,
                corrected_at,
                &mut out,
            ),
            _ => {
                if services.is_empty() {
                    false
                } else {
                    let (pi, si) = services[rng.gen_range(0..services.len())];
                    if used.contains(&(pi, si)) {
                        false
                    } else {
                        let r = if kind == 2 {
                            spurious_change(
                                persons,
                                providers,
                                pi,
                                si,
                                in_year,
                                &mut next_id,
                                rng,
                                w,
                                corrected_at,
                                &mut out,
                            )
                        } else {
                            spurious_stop(
                                persons,
                                pi,
                                si,
                                in_year,
                                &mut next_id,
                                rng,
                                w,
                                corrected_at,
                                &mut out,
                            )
                        };
                        if r {
                            used.insert((pi, si));
                        }
                        r
                    }
                }
            }
        };
        if ok {
            made += 1;
        }
    }
    out
}

/// When a correction is registered: a working-day time on a day of the window.
fn correction_time(rng: &mut GenRng, w: &Window) -> OsloTime {
    let span = (w.last - w.first).num_days().max(0);
    let d = w.first + days(rng.gen_range(0..=span));
    let minute = rng.gen_range(480..930);
    OsloTime::at(d, minute / 60, minute % 60, rng.gen_range(0..60))
}

fn record(
    person: u32,
    tjeneste_id: &str,
    event: EventKind,
    error: ErrorKind,
    registered: OsloTime,
    status: &Status,
    corrected: OsloTime,
) -> Option<(u32, RegistrationError)> {
    Some((
        person,
        RegistrationError {
            tjeneste_id: tjeneste_id.to_string(),
            event,
            error,
            registered,
            correction: status.code().to_string(),
            corrected,
        },
    ))
}

/// M: an event of the year was registered a few days too early.
fn wrong_date<'p>(
    persons: &'p [Person],
    in_year: &mut [MsgEvent<'p>],
    rng: &mut GenRng,
    w: &Window,
    used: &mut HashSet<(u32, u16)>,
    corrected_at: OsloTime,
    out: &mut Vec<Planned<'p>>,
) -> bool {
    if in_year.is_empty() {
        return false;
    }
    let i = rng.gen_range(0..in_year.len());
    let e = &in_year[i];
    if used.contains(&(e.person, e.service)) || e.kind == EventKind::TjenesteutforerEndret {
        return false;
    }
    let p = &persons[e.person as usize];
    let s = &p.services[usize::from(e.service)];
    let changes_before = |d: NaiveDate| {
        s.provider_changes
            .iter()
            .map(|c| c.date)
            .filter(|&c| c <= d)
            .max()
    };
    let stop = e
        .stop_id
        .as_deref()
        .and_then(|id| s.stops.iter().position(|st| st.id == id));
    let lower = match e.kind {
        EventKind::TjenesteStart => {
            let mut lb = w.cutoff.max(p.birth_date);
            for (j, o) in p.services.iter().enumerate() {
                if j != usize::from(e.service)
                    && o.tjeneste_type == s.tjeneste_type
                    && let Some(end) = o.end
                    && end <= s.start
                {
                    lb = lb.max(end);
                }
            }
            lb
        }
        EventKind::TjenesteSlutt => {
            let mut lb = s.start.max(w.cutoff);
            for st in &s.stops {
                lb = lb.max(st.from);
                if let Some(t) = st.to {
                    lb = lb.max(t);
                }
            }
            if let Some(c) = changes_before(e.date) {
                lb = lb.max(c);
            }
            lb
        }
        EventKind::MidlertidigStoppFra => {
            let Some(k) = stop else { return false };
            let mut lb = (s.start + days(1)).max(w.cutoff);
            if k > 0
                && let Some(t) = s.stops[k - 1].to
            {
                lb = lb.max(t);
            }
            if let Some(c) = changes_before(e.date) {
                lb = lb.max(c);
            }
            lb
        }
        EventKind::MidlertidigStoppTil => {
            let Some(k) = stop else { return false };
            let mut lb = s.stops[k].from.max(w.cutoff);
            if let Some(c) = changes_before(e.date) {
                lb = lb.max(c);
            }
            lb
        }
        EventKind::TjenesteutforerEndret => return false,
    };
    let room = (e.date - lower).num_days();
    if room < 1 {
        return false;
    }
    let k = rng.gen_range(1..=room.min(5));
    let correct = e.date;
    let sent = correct - days(k);
    let mut corrected = e.clone();
    corrected.reg = corrected_at;
    let status = Status::M;
    let error = record(
        e.person,
        &s.tjeneste_id,
        e.kind,
        ErrorKind::WrongDate { sent, correct },
        e.reg,
        &status,
        corrected_at,
    );
    used.insert((e.person, e.service));
    in_year[i].date = sent;
    out.push(Planned {
        target: corrected.id,
        status,
        event: corrected,
        error,
    });
    true
}

/// The orgnr of another provider of the kind that delivers `service_type`.
fn other_provider<'p>(
    providers: &'p [Provider],
    service_type: crate::ServiceCode,
    not: &str,
    rng: &mut GenRng,
) -> Option<&'p str> {
    let kind = SERVICES[spec_index(service_type)?].provider?;
    let others: Vec<&'p Provider> = providers
        .iter()
        .filter(|p| p.kind == kind && p.orgnr != not)
        .collect();
    (!others.is_empty()).then(|| others[rng.gen_range(0..others.len())].orgnr.as_str())
}

/// M: a start of the data year was registered on the wrong provider (only services whose
/// start is their only event in the message, so nothing else carried the wrong provider).
fn wrong_provider<'p>(
    persons: &'p [Person],
    providers: &'p [Provider],
    list: &mut [MsgEvent<'p>],
    rng: &mut GenRng,
    used: &mut HashSet<(u32, u16)>,
    corrected_at: OsloTime,
    out: &mut Vec<Planned<'p>>,
) -> bool {
    if list.is_empty() {
        return false;
    }
    let i = rng.gen_range(0..list.len());
    let e = &list[i];
    if e.kind != EventKind::TjenesteStart || used.contains(&(e.person, e.service)) {
        return false;
    }
    let Some(correct) = e.orgnr else { return false };
    let s = &persons[e.person as usize].services[usize::from(e.service)];
    if !s.stops.is_empty() || !s.provider_changes.is_empty() || s.end.is_some() {
        return false;
    }
    let Some(sent) = other_provider(providers, s.tjeneste_type, correct, rng) else {
        return false;
    };
    let mut corrected = e.clone();
    corrected.reg = corrected_at;
    let status = Status::M;
    let error = record(
        e.person,
        &s.tjeneste_id,
        e.kind,
        ErrorKind::WrongProvider {
            sent: sent.to_string(),
            correct: correct.to_string(),
        },
        e.reg,
        &status,
        corrected_at,
    );
    used.insert((e.person, e.service));
    list[i].orgnr = Some(sent);
    out.push(Planned {
        target: corrected.id,
        status,
        event: corrected,
        error,
    });
    true
}

/// A date after every event of the service and a registration time after all of its
/// registrations, for a service still running at the end of the year.
fn free_tail(persons: &[Person], pi: u32, si: u16, w: &Window) -> Option<(NaiveDate, OsloTime)> {
    let s = &persons[pi as usize].services[usize::from(si)];
    if s.end.is_some() {
        return None;
    }
    let first = (s.last_event_date() + days(1)).max(w.cutoff);
    (first <= w.year_end).then(|| (first, s.last_registered()))
}

fn later_than(rng: &mut GenRng, t: OsloTime, candidate: OsloTime) -> OsloTime {
    if candidate > t {
        candidate
    } else {
        t.plus_seconds(rng.gen_range(60..=3600))
    }
}

/// C: a provider change registered on the wrong service.
#[allow(clippy::too_many_arguments)]
fn spurious_change<'p>(
    persons: &'p [Person],
    providers: &'p [Provider],
    pi: u32,
    si: u16,
    in_year: &mut Vec<MsgEvent<'p>>,
    next_id: &mut u32,
    rng: &mut GenRng,
    w: &Window,
    corrected_at: OsloTime,
    out: &mut Vec<Planned<'p>>,
) -> bool {
    let s = &persons[pi as usize].services[usize::from(si)];
    if orgnr_duty(s.tjeneste_type.as_str()) == OrgNrDuty::Forbidden {
        return false;
    }
    let Some((first, last_reg)) = free_tail(persons, pi, si, w) else {
        return false;
    };
    let date = first + days(rng.gen_range(0..=(w.year_end - first).num_days()));
    let Some(current) = s.provider_on(date) else {
        return false;
    };
    let Some(orgnr) = other_provider(providers, s.tjeneste_type, current, rng) else {
        return false;
    };
    let candidate = registration_time(rng, date, w.year_end + days(1));
    let reg = later_than(rng, last_reg, candidate);
    let e = MsgEvent {
        id: *next_id,
        person: pi,
        service: si,
        kind: EventKind::TjenesteutforerEndret,
        date,
        reg,
        orgnr: Some(orgnr),
        stop_id: None,
        initial: false,
    };
    *next_id += 1;
    let mut annul = e.clone();
    annul.reg = corrected_at;
    let status = Status::C;
    let error = record(
        pi,
        &s.tjeneste_id,
        e.kind,
        ErrorKind::SpuriousProviderChange {
            date,
            orgnr: orgnr.to_string(),
        },
        reg,
        &status,
        corrected_at,
    );
    out.push(Planned {
        target: e.id,
        status,
        event: annul,
        error,
    });
    in_year.push(e);
    true
}

/// C: a temporary stop (both its events) registered on the wrong service.
#[allow(clippy::too_many_arguments)]
fn spurious_stop<'p>(
    persons: &'p [Person],
    pi: u32,
    si: u16,
    in_year: &mut Vec<MsgEvent<'p>>,
    next_id: &mut u32,
    rng: &mut GenRng,
    w: &Window,
    corrected_at: OsloTime,
    out: &mut Vec<Planned<'p>>,
) -> bool {
    let s = &persons[pi as usize].services[usize::from(si)];
    if s.stops.iter().any(|st| st.to.is_none()) {
        return false;
    }
    let Some((first, last_reg)) = free_tail(persons, pi, si, w) else {
        return false;
    };
    let room = (w.year_end - first).num_days();
    if room < 1 {
        return false;
    }
    let from = first + days(rng.gen_range(0..room));
    let to = (from + days(rng.gen_range(1..=10))).min(w.year_end);
    let orgnr = if orgnr_duty(s.tjeneste_type.as_str()) == OrgNrDuty::Forbidden {
        None
    } else {
        s.provider_on(from)
    };
    let stop_id: Cow<'p, str> = Cow::Owned(format!("{}-S{}", s.tjeneste_id, s.stops.len() + 1));
    let latest = w.year_end + days(1);
    let candidate = registration_time(rng, from, latest);
    let from_reg = later_than(rng, last_reg, candidate);
    let candidate = registration_time(rng, to, latest);
    let to_reg = later_than(rng, from_reg, candidate);
    let fra = MsgEvent {
        id: *next_id,
        person: pi,
        service: si,
        kind: EventKind::MidlertidigStoppFra,
        date: from,
        reg: from_reg,
        orgnr,
        stop_id: Some(stop_id.clone()),
        initial: false,
    };
    let til = MsgEvent {
        id: *next_id + 1,
        kind: EventKind::MidlertidigStoppTil,
        date: to,
        reg: to_reg,
        ..fra.clone()
    };
    *next_id += 2;
    let status = Status::C;
    let error = record(
        pi,
        &s.tjeneste_id,
        EventKind::MidlertidigStoppFra,
        ErrorKind::SpuriousStop {
            stop_id: stop_id.into_owned(),
            from,
            to,
        },
        from_reg,
        &status,
        corrected_at,
    );
    let mut annul_til = til.clone();
    annul_til.reg = corrected_at;
    let mut annul_fra = fra.clone();
    annul_fra.reg = corrected_at.plus_seconds(rng.gen_range(20..=300));
    out.push(Planned {
        target: til.id,
        status: Status::C,
        event: annul_til,
        error,
    });
    out.push(Planned {
        target: fra.id,
        status: Status::C,
        event: annul_fra,
        error: None,
    });
    in_year.push(fra);
    in_year.push(til);
    true
}
