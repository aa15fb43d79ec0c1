//! Content-level defects (IPL rules): mutations of the message model. Each changes one
//! unclaimed notification, or appends what it needs at the end of the chain, and keeps
//! everything else valid.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate};
use iplos_model::ids::{PersonId, PersonIdKind, Sex};
use iplos_model::message::{
    EventKind, Kontaktperson, OrgNrDuty, Status, orgnr_duty, parse_plain_date,
};
use iplos_model::municipality;
use rand::Rng;

use super::DefectError;
use super::session::{Hit, Session, single};

type R = Result<Hit, DefectError>;

fn na(defect: &'static str, reason: impl Into<String>) -> DefectError {
    DefectError::NotApplicable {
        defect,
        reason: reason.into(),
    }
}

fn element(s: &Session<'_>, i: usize) -> &'static str {
    s.m.notifikasjoner[i]
        .events
        .first()
        .map_or("Notifikasjon", |e| e.kind.element())
}

/// IPL01: a notification without an event.
pub(crate) fn no_event(s: &mut Session<'_>) -> R {
    let i = s.append(Status::N, None, Vec::new());
    Ok(Hit::at(i, "appended a Notifikasjon with no event"))
}

/// IPL01: a notification with two events (TjenesteStart and TjenesteSlutt of one service).
pub(crate) fn two_events(s: &mut Session<'_>) -> R {
    let d = s.date();
    let start = s.fresh_start("15", d);
    let end = d + Duration::days(s.rng.gen_range(0..30));
    let slutt = s.follow_up(&start, EventKind::TjenesteSlutt, end);
    let id = start.tjeneste_id.clone();
    let i = s.append(Status::N, None, vec![start, slutt]);
    Ok(Hit::at(
        i,
        format!("appended a Notifikasjon holding both TjenesteStart and TjenesteSlutt of {id}"),
    ))
}

fn numeric(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// IPL02: a notifikasjonLopeNr equal to the previous one.
pub(crate) fn lopenr_not_increasing(s: &mut Session<'_>) -> R {
    let ns = s.m.notifikasjoner.clone();
    let i = match s.pick(|i, n, _| i > 0 && numeric(&n.lopenr) && numeric(&ns[i - 1].lopenr)) {
        Some(i) => i,
        None => {
            if s.m.notifikasjoner.is_empty() {
                s.append_fresh_start();
            }
            s.append_fresh_start()
        }
    };
    let prev = s.m.notifikasjoner[i - 1].lopenr.clone();
    let old = std::mem::replace(&mut s.m.notifikasjoner[i].lopenr, prev.clone());
    Ok(Hit::at(
        i,
        format!("notifikasjonLopeNr {old} -> {prev}, the same as the notification before"),
    ))
}

/// IPL02: a notifikasjonLopeNr written as a decimal number.
pub(crate) fn lopenr_not_a_number(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, n, _| numeric(&n.lopenr));
    let n = &mut s.m.notifikasjoner[i];
    let new = format!("{}.0", n.lopenr);
    let old = std::mem::replace(&mut n.lopenr, new.clone());
    Ok(Hit::at(i, format!("notifikasjonLopeNr {old} -> \"{new}\"")))
}

/// IPL03: the chain broken in the middle.
pub(crate) fn broken_chain(s: &mut Session<'_>) -> R {
    let i = match s.pick(|i, _, _| i > 0) {
        Some(i) => i,
        None => {
            if s.m.notifikasjoner.is_empty() {
                s.append_fresh_start();
            }
            s.append_fresh_start()
        }
    };
    let g = s.guid();
    let old = std::mem::replace(&mut s.m.notifikasjoner[i].forrige_guid, g.clone());
    Ok(Hit::at(
        i,
        format!("notifikasjonForrigeGUID {old} -> {g}, which is no notification"),
    ))
}

fn is_correction(st: &Status) -> bool {
    matches!(st, Status::M | Status::C)
}

/// IPL04: a correction without notifikasjonRef.
pub(crate) fn missing_ref(s: &mut Session<'_>) -> R {
    if let Some(i) = s.pick(|_, n, _| is_correction(&n.status) && n.referanse.is_some()) {
        let n = &mut s.m.notifikasjoner[i];
        let old = n.referanse.take().unwrap_or_default();
        return Ok(Hit::at(
            i,
            format!(
                "removed notifikasjonRef {old} from a {} notification",
                n.status.code()
            ),
        ));
    }
    let d = s.date();
    let e = s.fresh_start("15", d);
    let i = s.append(Status::M, None, vec![e]);
    Ok(Hit::at(
        i,
        "appended an M (KorrigerErstatt) without notifikasjonRef",
    ))
}

/// IPL05: a correction referring to a correction.
pub(crate) fn ref_not_original(s: &mut Session<'_>) -> R {
    let targets: Vec<usize> =
        s.m.notifikasjoner
            .iter()
            .enumerate()
            .filter(|(_, n)| is_correction(&n.status) && !n.guid.is_empty())
            .map(|(i, _)| i)
            .collect();
    let t = match s.choose(&targets) {
        Some(t) => t,
        None => s.append_corrected(Status::M).1,
    };
    s.claim(t);
    let base = s.m.notifikasjoner[t].events.first().cloned();
    let d = s.date();
    let e = match base {
        Some(b) => {
            let d = parse_plain_date(&b.hendelse_dato).unwrap_or(d);
            s.follow_up(&b, b.kind, d)
        }
        None => s.fresh_start("15", d),
    };
    let g = s.m.notifikasjoner[t].guid.clone();
    let st = s.m.notifikasjoner[t].status.code().to_string();
    let i = s.append(Status::C, Some(g.clone()), vec![e]);
    Ok(Hit::at(
        i,
        format!("appended a C whose notifikasjonRef {g} is the {st} notification [{t}]"),
    ))
}

/// IPL06: a correction referring to a notification that is not there.
pub(crate) fn ref_unknown(s: &mut Session<'_>) -> R {
    let g = s.guid();
    if let Some(i) = s.pick(|_, n, _| is_correction(&n.status) && n.referanse.is_some()) {
        let old = s.m.notifikasjoner[i].referanse.replace(g.clone());
        return Ok(Hit::at(
            i,
            format!(
                "notifikasjonRef {} -> {g}, which is no notification",
                old.unwrap_or_default()
            ),
        ));
    }
    let d = s.date();
    let e = s.fresh_start("15", d);
    let i = s.append(Status::M, Some(g.clone()), vec![e]);
    Ok(Hit::at(
        i,
        format!("appended an M whose notifikasjonRef {g} is no notification"),
    ))
}

/// IPL07: an original (N) with notifikasjonRef.
pub(crate) fn ref_on_original(s: &mut Session<'_>) -> R {
    let i = match s.pick(|i, n, _| i > 0 && n.status == Status::N && n.referanse.is_none()) {
        Some(i) => i,
        None => {
            if s.m.notifikasjoner.is_empty() {
                s.append_fresh_start();
            }
            s.append_fresh_start()
        }
    };
    let g = s.m.notifikasjoner[i - 1].guid.clone();
    s.m.notifikasjoner[i].referanse = Some(g.clone());
    Ok(Hit::at(
        i,
        format!("status N notification given notifikasjonRef {g}"),
    ))
}

/// IPL08: status T.
pub(crate) fn status_t(s: &mut Session<'_>) -> R {
    if let Some(i) = s.pick(|_, n, _| n.status == Status::M && n.referanse.is_some()) {
        s.m.notifikasjoner[i].status = Status::T;
        return Ok(Hit::at(i, "statusNotifikasjon M -> T"));
    }
    let (o, c) = s.append_corrected(Status::T);
    Ok(Hit::at(
        c,
        format!("appended a T (KorrigerSuppler) correcting notification [{o}]"),
    ))
}

/// IPL09: a status code outside kodeverk 7316.
pub(crate) fn unknown_status(s: &mut Session<'_>) -> R {
    let refs: BTreeSet<String> =
        s.m.notifikasjoner
            .iter()
            .filter_map(|n| n.referanse.as_deref().map(norm))
            .collect();
    let i = s.pick_or_fresh(|_, n, _| {
        n.status == Status::N && n.referanse.is_none() && !refs.contains(&norm(&n.guid))
    });
    let code = ["O", "n", "E"][s.rng.gen_range(0..3)];
    s.m.notifikasjoner[i].status = Status::Other(code.into());
    Ok(Hit::at(i, format!("statusNotifikasjon N -> \"{code}\"")))
}

fn norm(g: &str) -> String {
    g.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

/// IPL10: two events with the same hendelseGUID.
pub(crate) fn duplicate_hendelse_guid(s: &mut Session<'_>) -> R {
    let j = s.pick_or_fresh(|_, _, _| true);
    let sources: Vec<usize> = (0..s.m.notifikasjoner.len())
        .filter(|&i| i != j && single(&s.m.notifikasjoner[i]).is_some())
        .collect();
    let src = match s.choose(&sources) {
        Some(i) => i,
        None => s.append_fresh_start(),
    };
    let g = s.m.notifikasjoner[src].events[0].hendelse_guid.clone();
    s.event(j).hendelse_guid = g.clone();
    Ok(Hit::at(
        j,
        format!(
            "{} given hendelseGUID {g} of notification [{src}]",
            element(s, j)
        ),
    ))
}

/// IPL11: a MidlertidigStoppTil without its MidlertidigStoppFra.
pub(crate) fn unmatched_stop(s: &mut Session<'_>) -> R {
    let stopp = format!("STOPP-{:06}", s.rng.gen_range(0..1_000_000));
    if let Some(i) =
        s.pick(|_, n, e| e.kind == EventKind::MidlertidigStoppTil && n.status != Status::C)
    {
        let old = s.event(i).midlertidig_stopp_id.replace(stopp.clone());
        return Ok(Hit::at(
            i,
            format!(
                "MidlertidigStoppTil midlertidigStoppID {} -> {stopp}, which no MidlertidigStoppFra has",
                old.unwrap_or_default()
            ),
        ));
    }
    let o = s.append_fresh_start();
    let base = s.m.notifikasjoner[o].events[0].clone();
    let d = parse_plain_date(&base.hendelse_dato).unwrap_or_else(|| s.date())
        + Duration::days(s.rng.gen_range(1..20));
    let mut e = s.follow_up(&base, EventKind::MidlertidigStoppTil, d);
    e.midlertidig_stopp_id = Some(stopp.clone());
    let i = s.append(Status::N, None, vec![e]);
    Ok(Hit::at(
        i,
        format!(
            "appended a MidlertidigStoppTil {stopp} of {} with no MidlertidigStoppFra",
            base.tjeneste_id
        ),
    ))
}

/// The highest year of the message's event dates, leaving out notification `skip`.
fn max_year_without(s: &Session<'_>, skip: usize) -> Option<i32> {
    s.m.notifikasjoner
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != skip)
        .flat_map(|(_, n)| &n.events)
        .filter_map(|e| parse_plain_date(&e.hendelse_dato))
        .map(|d| d.year())
        .max()
}

/// IPL12: a TjenesteSlutt dated before its TjenesteStart.
pub(crate) fn end_before_start(s: &mut Session<'_>) -> R {
    // Each candidate TjenesteSlutt with the TjenesteStart it is checked against.
    let ns = &s.m.notifikasjoner;
    let mut pairs: Vec<(usize, usize, NaiveDate)> = Vec::new();
    for (j, n) in ns.iter().enumerate() {
        let Some(e) = single(n) else { continue };
        if e.kind != EventKind::TjenesteSlutt
            || n.status == Status::C
            || parse_plain_date(&e.hendelse_dato).is_none()
        {
            continue;
        }
        let start = ns[..j].iter().enumerate().rev().find_map(|(k, m)| {
            let se = single(m)?;
            (m.status != Status::C
                && se.kind == EventKind::TjenesteStart
                && se.tjeneste_id == e.tjeneste_id)
                .then_some((k, parse_plain_date(&se.hendelse_dato)))
        });
        if let Some((k, Some(sd))) = start {
            pairs.push((j, k, sd));
        }
    }
    let usable: Vec<usize> = s.candidates(|j, _, _| pairs.iter().any(|p| p.0 == j));
    let mut chosen = None;
    if let Some(j) = s.choose(&usable)
        && let Some(&(_, k, sd)) = pairs.iter().find(|p| p.0 == j)
    {
        let new = sd - Duration::days(s.rng.gen_range(1..8));
        // Keep the data year the checker derives from the latest date.
        let rest = max_year_without(s, j);
        let old_year = s.m.notifikasjoner[j].events[0].date().map(|d| d.year());
        if rest.max(old_year) == rest.max(Some(new.year())) {
            chosen = Some((j, k, sd, new));
        }
    }
    let (j, k, sd, new) = match chosen {
        Some(c) => c,
        None => {
            let k = s.append_fresh_start();
            let base = s.m.notifikasjoner[k].events[0].clone();
            let sd = parse_plain_date(&base.hendelse_dato).unwrap_or_else(|| s.date());
            let new = sd - Duration::days(s.rng.gen_range(1..20));
            let e = s.follow_up(&base, EventKind::TjenesteSlutt, new);
            let j = s.append(Status::N, None, vec![e]);
            (j, k, sd, new)
        }
    };
    s.claim(j);
    s.claim(k);
    let id = s.event(j).tjeneste_id.clone();
    let old = std::mem::replace(&mut s.event(j).hendelse_dato, new.to_string());
    let reg = s.reg_tid(new);
    s.event(j).hendelse_reg_tid = reg;
    Ok(Hit::at(
        j,
        format!(
            "TjenesteSlutt of {id} dated {new} (was {old}), before its TjenesteStart {sd} in notification [{k}]"
        ),
    ))
}

/// IPL13: a tjenesteType outside kodeverk 9151.
pub(crate) fn unknown_service_type(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    let code = ["10", "12", "13", "16", "30", "99"][s.rng.gen_range(0..6)];
    let old = std::mem::replace(&mut s.event(i).tjeneste_type, code.into());
    Ok(Hit::at(
        i,
        format!("{} tjenesteType {old} -> {code}", element(s, i)),
    ))
}

/// IPL14: a retired tjenesteType.
pub(crate) fn retired_service_type(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    // 26 (GPS) is retired too, but forbids tjenesteOrgNr: left out so only IPL14 fires.
    let code = ["6", "14", "23", "24", "27", "28"][s.rng.gen_range(0..6)];
    let old = std::mem::replace(&mut s.event(i).tjeneste_type, code.into());
    Ok(Hit::at(
        i,
        format!("{} tjenesteType {old} -> {code} (retired)", element(s, i)),
    ))
}

/// IPL15: tjenesteOrgNr left out where the service type requires it.
pub(crate) fn missing_orgnr(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, e| {
        e.kind != EventKind::TjenesteutforerEndret
            && orgnr_duty(&e.tjeneste_type) == OrgNrDuty::Required
            && e.tjeneste_org_nr.is_some()
    });
    let e = s.event(i);
    let old = e.tjeneste_org_nr.take().unwrap_or_default();
    let tt = e.tjeneste_type.clone();
    Ok(Hit::at(
        i,
        format!(
            "removed tjenesteOrgNr {old} from {} of tjenesteType {tt}",
            element(s, i)
        ),
    ))
}

/// IPL16: tjenesteOrgNr on housing (type 29): a housing event given one, or else another
/// event made housing while keeping its orgnr.
pub(crate) fn orgnr_on_housing(s: &mut Session<'_>) -> R {
    let org = s.orgnr();
    if let Some(i) = s.pick(|_, _, e| {
        e.kind != EventKind::TjenesteutforerEndret
            && orgnr_duty(&e.tjeneste_type) == OrgNrDuty::Forbidden
            && e.tjeneste_org_nr.is_none()
    }) {
        let e = s.event(i);
        e.tjeneste_org_nr = Some(org.clone());
        let tt = e.tjeneste_type.clone();
        return Ok(Hit::at(
            i,
            format!(
                "{} of tjenesteType {tt} given tjenesteOrgNr {org}",
                element(s, i)
            ),
        ));
    }
    let i = s.pick_or_fresh(|_, _, e| e.kind != EventKind::TjenesteutforerEndret);
    let e = s.event(i);
    let old = std::mem::replace(&mut e.tjeneste_type, "29".into());
    let org = e.tjeneste_org_nr.get_or_insert(org).clone();
    Ok(Hit::at(
        i,
        format!(
            "{} tjenesteType {old} -> 29 (housing), keeping tjenesteOrgNr {org}",
            element(s, i)
        ),
    ))
}

/// IPL17: a tjenesteOrgNr with a wrong check digit.
pub(crate) fn invalid_orgnr(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, e| {
        orgnr_duty(&e.tjeneste_type) != OrgNrDuty::Forbidden
            && e.tjeneste_org_nr
                .as_deref()
                .is_some_and(|o| o.len() == 9 && numeric(o))
    });
    let e = s.event(i);
    let old = e.tjeneste_org_nr.clone().unwrap_or_default();
    let new = bump_last_digit(&old);
    e.tjeneste_org_nr = Some(new.clone());
    Ok(Hit::at(
        i,
        format!("tjenesteOrgNr {old} -> {new} (wrong check digit)"),
    ))
}

/// The string with its last digit increased by one (mod 10): a check digit made wrong.
fn bump_last_digit(v: &str) -> String {
    let mut b = v.as_bytes().to_vec();
    if let Some(last) = b.last_mut() {
        *last = b'0' + (*last - b'0' + 1) % 10;
    }
    String::from_utf8(b).unwrap_or_default()
}

/// A parsed, synthetic fødselsnummer or D-nummer whose kind matches typeID 1 or 2.
fn synthetic_id(type_id: &str, fid: &str) -> Option<PersonId> {
    let p = PersonId::parse(fid).ok()?;
    let ok = matches!(
        (type_id, p.kind()),
        ("1", PersonIdKind::Fodselsnummer) | ("2", PersonIdKind::DNummer)
    );
    (ok && p.is_synthetic()).then_some(p)
}

/// IPL18: a fid with a wrong check digit.
pub(crate) fn invalid_fid(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, e| synthetic_id(&e.bruker.type_id, &e.bruker.fid).is_some());
    let b = &mut s.event(i).bruker;
    let old = b.fid.clone();
    b.fid = bump_last_digit(&old);
    let new = b.fid.clone();
    Ok(Hit::at(
        i,
        format!("fid {old} -> {new} (wrong check digit)"),
    ))
}

/// IPL19: a valid fødselsnummer declared as a D-nummer (or the reverse).
pub(crate) fn fid_kind_mismatch(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, e| synthetic_id(&e.bruker.type_id, &e.bruker.fid).is_some());
    let b = &mut s.event(i).bruker;
    let new = if b.type_id == "1" { "2" } else { "1" };
    let old = std::mem::replace(&mut b.type_id, new.into());
    Ok(Hit::at(
        i,
        format!("typeID {old} -> {new}; fid stays a valid id of the other kind"),
    ))
}

fn birth_and_sex(fid: &str) -> Option<(NaiveDate, Sex)> {
    let p = PersonId::parse(fid).ok()?;
    Some((p.birth_date()?, p.sex()?))
}

/// IPL20: a person identified by an H-nummer or FH-nummer (no KPR-ID).
pub(crate) fn typeid_without_kprid(s: &mut Session<'_>) -> R {
    // typeID 9 (Annet) with the birth date, as the spec prescribes for a person without a
    // valid fødselsnummer. (An H- or FH-nummer would also be IPL24: they have no synthetic
    // form, so a test harness must take them as possibly real.)
    let i = s.pick_or_fresh(|_, _, _| true);
    let fid = s.event(i).bruker.fid.clone();
    let born = birth_and_sex(&fid)
        .map(|(d, _)| d)
        .unwrap_or(NaiveDate::from_ymd_opt(1940, 5, 17).unwrap_or_default());
    let id = born.format("%d%m%y").to_string();
    let b = &mut s.event(i).bruker;
    b.type_id = "9".into();
    b.fid = id.clone();
    Ok(Hit::at(
        i,
        format!("fid {fid} -> {id} (birth date), typeID 9"),
    ))
}

/// IPL21: a typeID outside kodeverk 9032.
pub(crate) fn unknown_typeid(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    let code = ["0", "11", "13", "F"][s.rng.gen_range(0..4)];
    let old = std::mem::replace(&mut s.event(i).bruker.type_id, code.into());
    Ok(Hit::at(i, format!("typeID {old} -> \"{code}\"")))
}

/// IPL22: the kommune reported on a number not valid in the data year — preferably its
/// own number from before a merger.
pub(crate) fn old_kommunenummer(s: &mut Session<'_>) -> R {
    let year = u16::try_from(s.year())
        .ok()
        .filter(|y| municipality::supported_years().contains(y))
        .ok_or_else(|| {
            na(
                "old-kommunenummer",
                format!(
                    "data year {} is outside the municipality registry",
                    s.year()
                ),
            )
        })?;
    let own =
        s.m.kommuner
            .first()
            .cloned()
            .unwrap_or_else(|| s.ctx.kommune_nr.clone());
    let invalid = |n: &str| municipality::lookup(year, n).is_err();
    let mut own_old: BTreeSet<String> = BTreeSet::new();
    for earlier in municipality::FIRST_YEAR..year {
        for (p, _) in municipality::predecessors(&own, year, earlier) {
            if invalid(&p) {
                own_old.insert(p);
            }
        }
    }
    let (pool, how): (Vec<String>, &str) = if own_old.is_empty() {
        // No merger behind this kommune: any number valid in another year but not this one.
        let mut other: BTreeSet<String> = BTreeSet::new();
        for y in municipality::supported_years().filter(|&y| y != year) {
            if let Ok(list) = municipality::municipalities(y) {
                other.extend(
                    list.iter()
                        .map(|k| k.number().to_string())
                        .filter(|n| invalid(n)),
                );
            }
        }
        (
            other.into_iter().collect(),
            "a number of another kommune not valid in the data year",
        )
    } else {
        (
            own_old.into_iter().collect(),
            "its number from before a merger",
        )
    };
    if pool.is_empty() {
        return Err(na(
            "old-kommunenummer",
            "no kommunenummer is invalid in the data year",
        ));
    }
    let old = pool[s.rng.gen_range(0..pool.len())].clone();
    if s.m.kommuner.is_empty() {
        s.m.kommuner.push(old.clone());
    } else {
        for k in s.m.kommuner.iter_mut().filter(|k| **k == own) {
            *k = old.clone();
        }
    }
    Ok(Hit::message(format!(
        "kommuneNr {own} -> {old} ({how}; not valid in {year})"
    )))
}

/// IPL23: no contact of type 16 (or of type 17).
pub(crate) fn missing_contact_type(s: &mut Session<'_>) -> R {
    let has = |t: &str| {
        s.m.kontaktpersoner
            .iter()
            .any(|k| k.type_kontaktperson == t)
    };
    if !has("16") || !has("17") {
        return Err(na(
            "missing-contact-type",
            "the message needs contacts of both type 16 and 17",
        ));
    }
    let (gone, other) = if s.rng.gen_bool(0.5) {
        ("16", "17")
    } else {
        ("17", "16")
    };
    for k in
        s.m.kontaktpersoner
            .iter_mut()
            .filter(|k| k.type_kontaktperson == gone)
    {
        k.type_kontaktperson = other.into();
    }
    Ok(Hit::message(format!(
        "every Kontaktperson of type {gone} made type {other}: no {gone} left"
    )))
}

/// IPL24: a real-looking person id in test data.
pub(crate) fn real_person_id(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, e| synthetic_id(&e.bruker.type_id, &e.bruker.fid).is_some());
    let old = s.event(i).bruker.fid.clone();
    let p = PersonId::parse(&old).map_err(|e| na("real-person-id", e.to_string()))?;
    let (born, sex) =
        birth_and_sex(&old).ok_or_else(|| na("real-person-id", "fid has no birth date"))?;
    let real = PersonId::generate_real_looking(&mut *s.rng, born, sex, p.kind())
        .map_err(|e| na("real-person-id", e.to_string()))?;
    s.event(i).bruker.fid = real.to_string();
    Ok(Hit::at(
        i,
        format!(
            "fid {old} -> {real} (real-looking {} of the same birth date and sex)",
            p.kind()
        ),
    ))
}

/// IPL25: a contact with a type outside kodeverk 8471.
pub(crate) fn unknown_contact_type(s: &mut Session<'_>) -> R {
    let code = ["0", "20", "99", "KP"][s.rng.gen_range(0..4)];
    let kommune = s.ctx.kommune_nr.clone();
    s.m.kontaktpersoner.push(Kontaktperson {
        navn: "EPJ-drift".into(),
        telefon: None,
        epost1: format!("epj-drift.{kommune}@kommune.example"),
        epost2: None,
        type_kontaktperson: code.into(),
    });
    Ok(Hit::message(format!(
        "added a Kontaktperson of typeKontaktperson \"{code}\""
    )))
}

/// IPL26: a second, valid kommune in the message.
pub(crate) fn two_kommuner(s: &mut Session<'_>) -> R {
    let year = u16::try_from(s.year()).unwrap_or(0);
    let list = municipality::municipalities(year).map_err(|e| na("two-kommuner", e.to_string()))?;
    let others: Vec<&str> = list
        .iter()
        .map(|k| k.number())
        .filter(|n| !s.m.kommuner.iter().any(|k| k == n))
        .collect();
    if others.is_empty() {
        return Err(na("two-kommuner", "no other kommune in the data year"));
    }
    let k = others[s.rng.gen_range(0..others.len())].to_string();
    s.m.kommuner.push(k.clone());
    Ok(Hit::message(format!("added Kommune {k}")))
}

fn pad_to(v: &str, filler: &str, min: usize) -> String {
    let mut out = v.to_string();
    while out.chars().count() <= min {
        out.push_str(filler);
    }
    out
}

/// IPL27: a brukerNr longer than 100 characters.
pub(crate) fn long_bruker_nr(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    let b = &mut s.event(i).bruker;
    let filler = format!("/{}", b.pasient_guid);
    let new = pad_to(&b.bruker_nr, &filler, 100);
    let n = new.chars().count();
    b.bruker_nr = new;
    Ok(Hit::at(i, format!("brukerNr made {n} characters long")))
}

/// IPL27: a leverandor longer than 100 characters.
pub(crate) fn long_leverandor(s: &mut Session<'_>) -> R {
    let h = &mut s.m.header;
    let new = pad_to(
        &format!(
            "{} (avdeling for kommunale helse- og omsorgstjenester",
            h.leverandor
        ),
        ", region Nord",
        100,
    ) + ")";
    let n = new.chars().count();
    h.leverandor = new;
    Ok(Hit::message(format!("leverandor made {n} characters long")))
}

/// A notification with status N and a GUID, to copy the GUID of.
fn original_source(s: &mut Session<'_>) -> usize {
    let c: Vec<usize> = (0..s.m.notifikasjoner.len())
        .filter(|&i| {
            let n = &s.m.notifikasjoner[i];
            n.status == Status::N && iplos_model::schema::is_guid(&n.guid)
        })
        .collect();
    let i = match s.choose(&c) {
        Some(i) => i,
        None => s.append_fresh_start(),
    };
    s.claim(i);
    i
}

/// IPL29: a notifikasjonGUID repeated in another case and in braces.
pub(crate) fn notifikasjon_guid_case_duplicate(s: &mut Session<'_>) -> R {
    let src = original_source(s);
    let g = s.m.notifikasjoner[src].guid.clone();
    let variant = format!("{{{}}}", norm(&g).to_ascii_uppercase());
    let i = s.append_fresh_start();
    s.m.notifikasjoner[i].guid = variant.clone();
    Ok(Hit::at(
        i,
        format!("appended a notification with notifikasjonGUID {variant}, the GUID of [{src}]"),
    ))
}

/// XSD09 (by model): a notifikasjonGUID repeated exactly.
pub(crate) fn duplicate_notifikasjon_guid(s: &mut Session<'_>) -> R {
    let src = original_source(s);
    let g = s.m.notifikasjoner[src].guid.clone();
    let i = s.append_fresh_start();
    s.m.notifikasjoner[i].guid = g.clone();
    Ok(Hit::at(
        i,
        format!("appended a notification with notifikasjonGUID {g}, the GUID of [{src}]"),
    ))
}

/// XSD09 (by model): the kommune listed twice.
pub(crate) fn duplicate_kommune_nr(s: &mut Session<'_>) -> R {
    let k =
        s.m.kommuner
            .first()
            .cloned()
            .unwrap_or_else(|| s.ctx.kommune_nr.clone());
    if s.m.kommuner.is_empty() {
        s.m.kommuner.push(k.clone());
    }
    s.m.kommuner.push(k.clone());
    Ok(Hit::message(format!("Kommune {k} listed twice")))
}
