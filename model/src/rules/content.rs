//! Content rules: what the XSD cannot say. The state carries over from one message of a
//! kommune to the next (the notification chain, sequence numbers, originals that
//! corrections refer to, open temporary stops), so a corrections message can be checked
//! with the ordinary submission before it.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};

use super::catalogue as r;
use super::{CheckOptions, EventLines, Findings, Item, Source};
use crate::ids::{PersonId, PersonIdKind};
use crate::message::{
    EMPTY_GUID, Event, EventKind, Notifikasjon, OrgNrDuty, PERSON_ID_TYPES, SERVICE_TYPES, Status,
    is_contact_type, orgnr_duty, parse_plain_date,
};

/// Longest string the spec accepts for the free-text attributes ("Streng max 100 tegn").
const MAX_STRING: usize = 100;

/// State of the content rules for one kommune's sequence of messages.
///
/// A message can be checked tentatively: [`ContentState::begin`] starts an undo journal of
/// what the following checks change, [`ContentState::commit`] keeps the changes and
/// [`ContentState::rollback`] undoes them. Both cost as much as the message changed, not as
/// much as the state holds (a register that keeps a kommune's history of 20 000 messages
/// undoes a rejected one without copying the other 19 999).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ContentState {
    // carried from message to message
    prev_guid: Option<String>,
    last_lopenr: Option<String>,
    /// notifikasjonGUID (normalised) -> (is an original N, message number, GUID as written)
    originals: HashMap<GuidKey, (bool, u32, String)>,
    message_no: u32,
    event_guids: HashSet<GuidKey>,
    stops: HashMap<(String, String), Option<NaiveDate>>,
    starts: HashMap<String, NaiveDate>,
    // per message
    message: MessageState,
    /// While a tentative check runs: how to undo it.
    journal: Option<Journal>,
}

/// What a tentative check changed, as it was before: the scalars at
/// [`ContentState::begin`], and each map entry the check inserted or replaced, in order.
#[derive(Debug, Clone, PartialEq)]
struct Journal {
    prev_guid: Option<String>,
    last_lopenr: Option<String>,
    message_no: u32,
    undo: Vec<Undo>,
}

/// One map entry as it was before the check changed it (`None`: it was absent).
#[derive(Debug, Clone, PartialEq)]
enum Undo {
    Original(GuidKey, Option<(bool, u32, String)>),
    /// The GUID was inserted (a set insert never replaces).
    EventGuid(GuidKey),
    Stop((String, String), Option<Option<NaiveDate>>),
    Start(String, Option<NaiveDate>),
}

#[derive(Debug, Default, Clone, PartialEq)]
struct MessageState {
    header_line: Option<(u64, String)>,
    contact_types: HashSet<String>,
    kommuner: Vec<(String, u64, String)>,
    latest_date: Option<NaiveDate>,
}

/// A GUID as a comparison key: its 128 bits when it is one (so case and braces do not
/// matter), else the trimmed text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GuidKey {
    Bits(u128),
    Text(String),
}

fn norm_guid(g: &str) -> GuidKey {
    let t = g.trim().trim_start_matches('{').trim_end_matches('}');
    if t.len() == 36 {
        let mut bits: u128 = 0;
        let mut digits = 0;
        for (i, c) in t.bytes().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    break;
                }
                continue;
            }
            match (c as char).to_digit(16) {
                Some(d) => {
                    bits = (bits << 4) | u128::from(d);
                    digits += 1;
                }
                None => break,
            }
        }
        if digits == 32 {
            return GuidKey::Bits(bits);
        }
    }
    GuidKey::Text(t.to_ascii_lowercase())
}

/// Compares two strings of decimal digits as numbers.
fn digits_greater(a: &str, b: &str) -> bool {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    (a.len(), a) > (b.len(), b)
}

impl ContentState {
    /// A fresh state: the next notification starts the chain.
    pub fn new() -> ContentState {
        ContentState::default()
    }

    /// Starts a tentative check: what the following messages change is journaled until
    /// [`ContentState::commit`] or [`ContentState::rollback`]. Calling it while a journal is
    /// open keeps the changes so far (as a commit would) and starts a new journal.
    pub fn begin(&mut self) {
        self.journal = Some(Journal {
            prev_guid: self.prev_guid.clone(),
            last_lopenr: self.last_lopenr.clone(),
            message_no: self.message_no,
            undo: Vec::new(),
        });
    }

    /// Keeps what was checked since [`ContentState::begin`] and closes the journal (no-op
    /// without one).
    pub fn commit(&mut self) {
        self.journal = None;
    }

    /// Undoes what was checked since [`ContentState::begin`], newest change first, and
    /// closes the journal: the state is again what it was at `begin` (no-op without one).
    pub fn rollback(&mut self) {
        let Some(j) = self.journal.take() else {
            return;
        };
        self.prev_guid = j.prev_guid;
        self.last_lopenr = j.last_lopenr;
        self.message_no = j.message_no;
        self.message = MessageState::default();
        for u in j.undo.into_iter().rev() {
            match u {
                Undo::Original(k, Some(v)) => {
                    self.originals.insert(k, v);
                }
                Undo::Original(k, None) => {
                    self.originals.remove(&k);
                }
                Undo::EventGuid(k) => {
                    self.event_guids.remove(&k);
                }
                Undo::Stop(k, Some(v)) => {
                    self.stops.insert(k, v);
                }
                Undo::Stop(k, None) => {
                    self.stops.remove(&k);
                }
                Undo::Start(k, Some(v)) => {
                    self.starts.insert(k, v);
                }
                Undo::Start(k, None) => {
                    self.starts.remove(&k);
                }
            }
        }
    }

    /// Whether a journal is open (between [`ContentState::begin`] and commit or rollback).
    pub fn is_tentative(&self) -> bool {
        self.journal.is_some()
    }

    fn journal(&mut self, undo: impl FnOnce() -> Undo) {
        if let Some(j) = &mut self.journal {
            j.undo.push(undo());
        }
    }

    /// Handles one item read from the message.
    pub(crate) fn item(
        &mut self,
        item: &Item,
        source: &Source<'_>,
        options: &CheckOptions,
        f: &mut Findings,
    ) {
        let (line, path) = (source.line, source.path);
        match item {
            Item::Header(h) => {
                self.message_no += 1;
                self.message = MessageState {
                    header_line: Some((line, path.to_string())),
                    ..MessageState::default()
                };
                for (name, v) in [
                    ("leverandor", &h.leverandor),
                    ("navnEPJ", &h.navn_epj),
                    ("versjonEPJ", &h.versjon_epj),
                    ("versjonUt", &h.versjon_ut),
                ] {
                    too_long(f, line, path, name, v);
                }
            }
            Item::Notifikasjon(n) => self.notifikasjon(n, source, options, f),
            Item::Kontaktperson(k) => {
                too_long(f, line, path, "kontPerson", &k.navn);
                if is_contact_type(&k.type_kontaktperson) {
                    self.message
                        .contact_types
                        .insert(k.type_kontaktperson.clone());
                } else if !source.is_missing(|| format!("{path}/@typeKontaktperson")) {
                    f.push(
                        &r::CONTACT_TYPE_UNKNOWN,
                        line,
                        format!("{path}/@typeKontaktperson"),
                        format!(
                            "typeKontaktperson \"{}\" is not a code of kodeverk 8471 (1-19)",
                            k.type_kontaktperson
                        ),
                    );
                }
            }
            Item::Kommune(k) => self
                .message
                .kommuner
                .push((k.clone(), line, path.to_string())),
        }
    }

    fn notifikasjon(
        &mut self,
        n: &Notifikasjon,
        source: &Source<'_>,
        options: &CheckOptions,
        f: &mut Findings,
    ) {
        let (line, path) = (source.line, source.path);
        // Exactly one event.
        if n.events.len() != 1 {
            let kinds: Vec<&str> = n.events.iter().map(|e| e.kind.element()).collect();
            let msg = if kinds.is_empty() {
                "the notification has no event; it must have exactly one of TjenesteStart, MidlertidigStoppTil, MidlertidigStoppFra, TjenesteutforerEndret, TjenesteSlutt".to_string()
            } else {
                format!(
                    "the notification has {} events ({}); it must have exactly one",
                    kinds.len(),
                    kinds.join(", ")
                )
            };
            f.push(&r::ONE_EVENT, line, path, msg);
        }

        // Status and reference.
        let status_path = || format!("{path}/@statusNotifikasjon");
        match &n.status {
            Status::T => f.push(&r::STATUS_T, line, status_path(), "status T (KorrigerSuppler) is not to be used yet; send M (KorrigerErstatt) instead"),
            Status::Other(s) if !source.is_missing(status_path) => f.push(&r::STATUS_UNKNOWN, line, status_path(), format!("statusNotifikasjon \"{s}\" is not a code of kodeverk 7316 (N, M, T, C)")),
            _ => {}
        }
        let ref_path = || format!("{path}/@notifikasjonRef");
        match (&n.status, &n.referanse) {
            (Status::N, Some(r)) => f.push(&r::REF_ON_ORIGINAL, line, ref_path(), format!("a notification with status N (Original) refers to {r}; an original never replaces or corrects another")),
            (Status::N, None) | (Status::Other(_), None) => {}
            (s, None) => f.push(&r::REF_MISSING, line, ref_path(), format!("status {} needs notifikasjonRef pointing to the original (N) notification it corrects", s.code())),
            (s, Some(r)) => match self.originals.get(&norm_guid(r)).map(|o| o.0) {
                Some(true) => {}
                Some(false) => f.push(&r::REF_NOT_ORIGINAL, line, ref_path(), format!("status {} refers to {r}, which is not an original (N); a reference must always point to an N", s.code())),
                None => f.push(&r::REF_UNKNOWN, line, ref_path(), format!("notifikasjonRef {r} is not a notification of this message or of the earlier messages given (check with --previous)")),
            },
        }

        // Chain.
        if !n.forrige_guid.is_empty() {
            let expected = self
                .prev_guid
                .clone()
                .unwrap_or_else(|| EMPTY_GUID.to_string());
            if norm_guid(&n.forrige_guid) != norm_guid(&expected) {
                let msg = if self.prev_guid.is_none() {
                    format!(
                        "notifikasjonForrigeGUID is {} but this is the first notification of the chain, which must be {EMPTY_GUID} (if the chain continues from an earlier message, give it with --previous)",
                        n.forrige_guid
                    )
                } else {
                    format!(
                        "notifikasjonForrigeGUID is {} but the previous notification is {expected}: the chain is broken",
                        n.forrige_guid
                    )
                };
                f.push(
                    &r::CHAIN,
                    line,
                    format!("{path}/@notifikasjonForrigeGUID"),
                    msg,
                );
            }
        }
        if !n.guid.is_empty() {
            self.prev_guid = Some(n.guid.clone());
            // An unknown or missing status is reported on its own (IPL09, XSD05); it does
            // not also make every correction referring to this notification IPL05.
            let original = !matches!(n.status, Status::M | Status::T | Status::C);
            let entry = (original, self.message_no, n.guid.clone());
            let key = norm_guid(&n.guid);
            let old = self.originals.insert(key.clone(), entry);
            self.journal(|| Undo::Original(key, old.clone()));
            if let Some((_, no, exact)) = old {
                // An exact repeat within one message is the schema's XSD09.
                if no != self.message_no || exact != n.guid {
                    let when = if no == self.message_no {
                        "in this message"
                    } else {
                        "in an earlier message"
                    };
                    f.push(&r::NOTIF_GUID_UNIQUE, line, format!("{path}/@notifikasjonGUID"), format!("notifikasjonGUID {} was already used {when} (as {exact}); GUIDs are compared without regard to case or braces", n.guid));
                }
            }
        }

        // Sequence number.
        let lp = || format!("{path}/@notifikasjonLopeNr");
        if !source.is_missing(lp) {
            if n.lopenr.is_empty() || !n.lopenr.bytes().all(|b| b.is_ascii_digit()) {
                f.push(
                    &r::LOPENR_INCREASING,
                    line,
                    lp(),
                    format!("notifikasjonLopeNr \"{}\" is not a whole number", n.lopenr),
                );
            } else {
                if let Some(last) = &self.last_lopenr
                    && !digits_greater(&n.lopenr, last)
                {
                    f.push(&r::LOPENR_INCREASING, line, lp(), format!("notifikasjonLopeNr {} is not greater than the previous {last}; it must be strictly increasing per kommune", n.lopenr));
                }
                if self
                    .last_lopenr
                    .as_ref()
                    .is_none_or(|last| digits_greater(&n.lopenr, last))
                {
                    self.last_lopenr = Some(n.lopenr.clone());
                }
            }
        }

        for (i, e) in n.events.iter().enumerate() {
            let lines = source.events.get(i).copied().unwrap_or(EventLines {
                event: line,
                bruker: line,
            });
            self.event(e, &n.status, lines, source, options, f);
        }
    }

    fn event(
        &mut self,
        e: &Event,
        status: &Status,
        lines: EventLines,
        source: &Source<'_>,
        options: &CheckOptions,
        f: &mut Findings,
    ) {
        let path = &format!("{}/{}", source.path, e.kind.element());
        let line = lines.event;
        if !e.hendelse_guid.is_empty() {
            let key = norm_guid(&e.hendelse_guid);
            if self.event_guids.insert(key.clone()) {
                self.journal(|| Undo::EventGuid(key));
            } else {
                f.push(&r::EVENT_GUID_UNIQUE, line, format!("{path}/@hendelseGUID"), format!("hendelseGUID {} is used by an earlier event; every version of an event needs its own GUID", e.hendelse_guid));
            }
        }

        // Service type.
        let tt = e.tjeneste_type.as_str();
        let tpath = || format!("{path}/@tjenesteType");
        match SERVICE_TYPES.iter().find(|(c, _, _)| *c == tt) {
            None if !source.is_missing(tpath) => f.push(
                &r::SERVICE_UNKNOWN,
                line,
                tpath(),
                format!("tjenesteType \"{tt}\" is not a code of kodeverk 9151"),
            ),
            Some((c, name, true)) => f.push(
                &r::SERVICE_RETIRED,
                line,
                tpath(),
                format!("tjenesteType {c} ({name}) is retired (\"Utgått\") in kodeverk 9151"),
            ),
            _ => {}
        }

        // Organisation number.
        let opath = || format!("{path}/@tjenesteOrgNr");
        match (orgnr_duty(tt), &e.tjeneste_org_nr) {
            (OrgNrDuty::Required, None) if e.kind != EventKind::TjenesteutforerEndret => f.push(&r::ORGNR_REQUIRED, line, opath(), format!("tjenesteType {tt} must have tjenesteOrgNr (the organisation that provides the service)")),
            (OrgNrDuty::Forbidden, Some(o)) => f.push(&r::ORGNR_FORBIDDEN, line, opath(), format!("tjenesteType {tt} must not have tjenesteOrgNr (found {o})")),
            (_, Some(o)) => {
                if let Err(err) = crate::ids::OrgNr::parse(o) {
                    f.push(&r::ORGNR_INVALID, line, opath(), format!("tjenesteOrgNr \"{o}\" is not a valid organisasjonsnummer: {err}"));
                }
            }
            _ => {}
        }

        self.person(
            e,
            lines.bruker,
            &format!("{path}/Bruker"),
            source,
            options,
            f,
        );
        if e.bruker.bruker_nr.chars().count() > MAX_STRING {
            f.push(
                &r::TOO_LONG,
                lines.bruker,
                format!("{path}/Bruker/@brukerNr"),
                format!(
                    "brukerNr is {} characters long; at most {MAX_STRING} are allowed",
                    e.bruker.bruker_nr.chars().count()
                ),
            );
        }

        // Dates and the pairing of starts/ends and stops.
        let date = parse_plain_date(&e.hendelse_dato);
        if let Some(d) = date {
            self.message.latest_date = Some(self.message.latest_date.map_or(d, |l| l.max(d)));
        }
        if *status == Status::C {
            return;
        }
        match e.kind {
            EventKind::TjenesteStart => {
                if let Some(d) = date {
                    let old = self.starts.insert(e.tjeneste_id.clone(), d);
                    self.journal(|| Undo::Start(e.tjeneste_id.clone(), old));
                }
            }
            EventKind::TjenesteSlutt => {
                if let (Some(d), Some(s)) = (date, self.starts.get(&e.tjeneste_id))
                    && d < *s
                {
                    f.push(
                        &r::END_BEFORE_START,
                        line,
                        format!("{path}/@hendelseDato"),
                        format!(
                            "TjenesteSlutt {d} of tjenesteID {} is before its TjenesteStart {s}",
                            e.tjeneste_id
                        ),
                    );
                }
            }
            EventKind::MidlertidigStoppFra => {
                let key = (
                    e.tjeneste_id.clone(),
                    e.midlertidig_stopp_id.clone().unwrap_or_default(),
                );
                let old = self.stops.insert(key.clone(), date);
                self.journal(|| Undo::Stop(key, old));
            }
            EventKind::MidlertidigStoppTil => {
                let sid = e.midlertidig_stopp_id.clone().unwrap_or_default();
                match self.stops.get(&(e.tjeneste_id.clone(), sid.clone())) {
                    None => f.push(&r::STOP_UNMATCHED, line, format!("{path}/@midlertidigStoppID"), format!("MidlertidigStoppTil with midlertidigStoppID \"{sid}\" of tjenesteID {} has no MidlertidigStoppFra (in this message or the earlier ones given)", e.tjeneste_id)),
                    Some(Some(from)) if date.is_some_and(|d| d < *from) => f.push(&r::STOP_UNMATCHED, line, format!("{path}/@hendelseDato"), format!("MidlertidigStoppTil {} is before its MidlertidigStoppFra {from}", e.hendelse_dato)),
                    _ => {}
                }
            }
            EventKind::TjenesteutforerEndret => {}
        }
    }

    fn person(
        &mut self,
        e: &Event,
        line: u64,
        path: &str,
        source: &Source<'_>,
        options: &CheckOptions,
        f: &mut Findings,
    ) {
        let b = &e.bruker;
        let type_id = b.type_id.as_str();
        let fid_path = || format!("{path}/@fid");
        if source.is_missing(|| path.to_string())
            || source.is_missing(|| format!("{path}/@typeID"))
            || source.is_missing(fid_path)
        {
            return; // a missing element or attribute is the schema's finding
        }
        let Some((_, type_name)) = PERSON_ID_TYPES.iter().find(|(c, _)| *c == type_id) else {
            f.push(
                &r::TYPEID_UNKNOWN,
                line,
                format!("{path}/@typeID"),
                format!("typeID \"{type_id}\" is not a code of kodeverk 9032"),
            );
            return;
        };
        if !matches!(type_id, "1" | "2" | "10") {
            f.push(&r::TYPEID_NO_KPRID, line, format!("{path}/@typeID"), format!("typeID {type_id} ({type_name}) gives the person no KPR-ID; it is reported back as a deficiency (use 1 fødselsnummer, 2 D-nummer or 10 DUF-nummer)"));
        }
        let parsed = PersonId::parse(&b.fid);
        let expected_kind = match type_id {
            "1" => Some(PersonIdKind::Fodselsnummer),
            "2" => Some(PersonIdKind::DNummer),
            "3" => Some(PersonIdKind::HNummer),
            "12" => Some(PersonIdKind::FhNummer),
            _ => None,
        };
        if let Some(kind) = expected_kind {
            match &parsed {
                Err(err) => f.push(
                    &r::FID_INVALID,
                    line,
                    fid_path(),
                    format!(
                        "fid \"{}\" is not a valid {kind} (typeID {type_id}): {err}",
                        b.fid
                    ),
                ),
                Ok(id) if id.kind() != kind => f.push(
                    &r::FID_KIND_MISMATCH,
                    line,
                    fid_path(),
                    format!(
                        "fid is a valid {} but typeID {type_id} says {kind}",
                        id.kind()
                    ),
                ),
                Ok(_) => {}
            }
        } else if type_id == "10" {
            if !(b.fid.len() == 12 && b.fid.bytes().all(|c| c.is_ascii_digit())) {
                f.push(
                    &r::FID_INVALID,
                    line,
                    fid_path(),
                    format!("fid \"{}\" is not a DUF-nummer (12 digits)", b.fid),
                );
            }
        } else if type_id == "9" && NaiveDate::parse_from_str(&b.fid, "%d%m%y").is_err() {
            f.push(
                &r::FID_INVALID,
                line,
                fid_path(),
                format!(
                    "fid \"{}\" is not a birth date ddmmyy, as typeID 9 (Annet) requires",
                    b.fid
                ),
            );
        }
        // Any valid id of the fødselsnummer family that is not synthetic may be a real
        // person's: H- and FH-nummer have no synthetic form at all (DOMAIN §7).
        if options.test_mode
            && let Ok(id) = parsed
            && !id.is_synthetic()
        {
            f.push(&r::REAL_PERSON_ID, line, fid_path(), format!("fid is a valid, real-looking {} (not a synthetic Test-Norge id with month + 80): never send real patient data to a test harness", id.kind()));
        }
    }

    /// Message-level rules, run at the end of a message. Returns the data year used.
    /// `complete` is false when the document could not be read to its end: the
    /// message-level rules are then skipped (they would only repeat the real problem).
    pub(crate) fn finish(
        &mut self,
        options: &CheckOptions,
        f: &mut Findings,
        complete: bool,
    ) -> Option<i32> {
        let m = std::mem::take(&mut self.message);
        let year = options.data_year.or(m.latest_date.map(|d| d.year()));
        let Some((line, path)) = m.header_line else {
            return year;
        };
        if !complete {
            return year;
        }
        // Distinct numbers: the same kommuneNr twice is one unit listed twice (XSD09).
        let mut seen = HashSet::new();
        let mut list: Vec<&str> = Vec::new();
        let mut second = None;
        for (k, l, p) in &m.kommuner {
            if seen.insert(k.as_str()) {
                list.push(k);
                if list.len() == 2 {
                    second = Some((*l, p.clone()));
                }
            }
        }
        if let Some((l, p)) = second {
            let shown = if list.len() > 10 {
                format!("{}, ...", list[..10].join(", "))
            } else {
                list.join(", ")
            };
            f.push(&r::ONE_UNIT, l, p, format!("the message holds {} kommuner ({shown}); a message must hold data from exactly one reporting unit", list.len()));
        }
        if let Some(y) = year {
            for (k, l, p) in &m.kommuner {
                if let Err(err) = u16::try_from(y)
                    .map_err(|_| format!("year {y} is out of range"))
                    .and_then(|y| {
                        crate::municipality::lookup(y, k)
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    })
                {
                    f.push(
                        &r::KOMMUNE_INVALID,
                        *l,
                        format!("{p}/@kommuneNr"),
                        format!("kommuneNr \"{k}\" for data year {y}: {err}"),
                    );
                }
            }
        }
        for t in ["16", "17"] {
            if !m.contact_types.contains(t) {
                let what = if t == "16" {
                    "16 (IPLOS kontaktperson)"
                } else {
                    "17 (IPLOS innsendingsansvarlig)"
                };
                f.push(&r::CONTACT_TYPES, line, path.clone(), format!("no Kontaktperson of type {what}; each kommune needs at least one 16 and one 17 (the same person may have both)"));
            }
        }
        year
    }
}

fn too_long(f: &mut Findings, line: u64, path: &str, name: &str, value: &str) {
    let n = value.chars().count();
    if n > MAX_STRING {
        f.push(
            &r::TOO_LONG,
            line,
            format!("{path}/@{name}"),
            format!("{name} is {n} characters long; at most {MAX_STRING} are allowed"),
        );
    }
}

#[cfg(test)]
#[path = "content_journal_tests.rs"]
mod journal_tests;
