//! From histories to the events a correct EPJ emits under 56.0.0 (kravspesifikasjon
//! chapters 2 and 7), and from events to notifications.
//!
//! * The **initial load** at the cut-off (1 January of the data year): a `TjenesteStart` for
//!   every reported service active then, with its original date and registration time, and
//!   a `MidlertidigStoppFra` for every stop active then. They follow one another person by
//!   person, each start before its stop, all with the cut-off as `notifikasjonTid`.
//! * **The events of the data year**: `TjenesteStart`, `MidlertidigStoppFra`/`Til`,
//!   `TjenesteutforerEndret` and `TjenesteSlutt`, ordered by registration time (the order in
//!   which the EPJ stores them, which `notifikasjonLopeNr` follows); a notification arises a
//!   few seconds after its registration.

use std::borrow::Cow;

use chrono::NaiveDate;
use iplos_model::message::{Event, EventKind, Notifikasjon, OrgNrDuty, Status, orgnr_duty};

use crate::population::Person;
use crate::time::{OsloTime, date_string};

/// One event to be sent, before it gets its GUIDs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MsgEvent<'p> {
    /// A stable id (its position when derived; spurious events come after).
    pub id: u32,
    /// Index of the person.
    pub person: u32,
    /// Index of the service within the person.
    pub service: u16,
    pub kind: EventKind,
    pub date: NaiveDate,
    pub reg: OsloTime,
    pub orgnr: Option<&'p str>,
    pub stop_id: Option<Cow<'p, str>>,
    /// Part of the initial load.
    pub initial: bool,
}

/// The events of the reported services: the initial load and the events of the year (not
/// yet in time order).
pub(crate) fn derive_events(
    persons: &[Person],
    cutoff: NaiveDate,
) -> (Vec<MsgEvent<'_>>, Vec<MsgEvent<'_>>) {
    let mut initial = Vec::new();
    let mut in_year = Vec::new();
    let mut id = 0u32;
    let mut next_id = || {
        id += 1;
        id - 1
    };
    for (pi, p) in persons.iter().enumerate() {
        for (si, s) in p.services.iter().enumerate() {
            if !s.reported {
                continue;
            }
            let duty = orgnr_duty(s.tjeneste_type.as_str());
            let org = |d: NaiveDate| -> Option<&str> {
                if duty == OrgNrDuty::Forbidden {
                    None
                } else {
                    s.provider_on(d)
                }
            };
            let ev = |id: u32, kind, date, reg, orgnr, stop_id, initial| MsgEvent {
                id,
                person: pi as u32,
                service: si as u16,
                kind,
                date,
                reg,
                orgnr,
                stop_id,
                initial,
            };
            if s.start < cutoff {
                initial.push(ev(
                    next_id(),
                    EventKind::TjenesteStart,
                    s.start,
                    s.start_registered,
                    org(cutoff),
                    None,
                    true,
                ));
            } else {
                in_year.push(ev(
                    next_id(),
                    EventKind::TjenesteStart,
                    s.start,
                    s.start_registered,
                    org(s.start),
                    None,
                    false,
                ));
            }
            for st in &s.stops {
                let stop_id = Some(Cow::Borrowed(st.id.as_str()));
                let e = ev(
                    next_id(),
                    EventKind::MidlertidigStoppFra,
                    st.from,
                    st.from_registered,
                    org(st.from.max(cutoff)),
                    stop_id.clone(),
                    st.from < cutoff,
                );
                if e.initial {
                    initial.push(e);
                } else {
                    in_year.push(e);
                }
                if let (Some(to), Some(reg)) = (st.to, st.to_registered) {
                    in_year.push(ev(
                        next_id(),
                        EventKind::MidlertidigStoppTil,
                        to,
                        reg,
                        org(to),
                        stop_id,
                        false,
                    ));
                }
            }
            for c in &s.provider_changes {
                in_year.push(ev(
                    next_id(),
                    EventKind::TjenesteutforerEndret,
                    c.date,
                    c.registered,
                    Some(c.orgnr.as_str()),
                    None,
                    false,
                ));
            }
            if let (Some(end), Some(reg)) = (s.end, s.end_registered) {
                in_year.push(ev(
                    next_id(),
                    EventKind::TjenesteSlutt,
                    end,
                    reg,
                    org(end),
                    None,
                    false,
                ));
            }
        }
    }
    (initial, in_year)
}

/// Builds a notification from an event.
pub(crate) fn notification(
    persons: &[Person],
    e: &MsgEvent<'_>,
    status: Status,
    tid: OsloTime,
    guid: String,
    forrige: String,
    lopenr: u64,
    referanse: Option<String>,
    hendelse_guid: String,
) -> Notifikasjon {
    let p = &persons[e.person as usize];
    let s = &p.services[usize::from(e.service)];
    Notifikasjon {
        status,
        tid: tid.to_xml(),
        guid,
        forrige_guid: forrige,
        lopenr: lopenr.to_string(),
        referanse,
        events: vec![Event {
            kind: e.kind,
            tjeneste_type: s.tjeneste_type.as_str().to_string(),
            tjeneste_id: s.tjeneste_id.clone(),
            hendelse_guid,
            hendelse_dato: date_string(e.date),
            hendelse_reg_tid: e.reg.to_xml(),
            tjeneste_org_nr: e.orgnr.map(str::to_string),
            midlertidig_stopp_id: e.stop_id.as_deref().map(str::to_string),
            bruker: p.bruker(),
        }],
    }
}
