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

/// The notification attributes around an event.
pub(crate) struct Meta {
    pub status: Status,
    pub tid: OsloTime,
    pub guid: String,
    pub forrige: String,
    pub lopenr: u64,
    pub referanse: Option<String>,
    pub hendelse_guid: String,
}

/// Builds a notification from an event.
pub(crate) fn notification(persons: &[Person], e: &MsgEvent<'_>, m: Meta) -> Notifikasjon {
    let p = &persons[e.person as usize];
    let s = &p.services[usize::from(e.service)];
    let hendelse_guid = m.hendelse_guid;
    Notifikasjon {
        status: m.status,
        tid: m.tid.to_xml(),
        guid: m.guid,
        forrige_guid: m.forrige,
        lopenr: m.lopenr.to_string(),
        referanse: m.referanse,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::{EndReason, ProviderChange, Service, Stop};
    use crate::services::{ServiceCode, ServiceName};
    use iplos_model::ids::{PersonIdKind, Sex};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn at(date: NaiveDate) -> OsloTime {
        OsloTime::at(date, 10, 0, 0)
    }

    fn service(code: u8, start: NaiveDate, end: Option<NaiveDate>) -> Service {
        Service {
            tjeneste_id: format!("T{code}"),
            tjeneste_type: ServiceCode(code),
            tjeneste_navn: ServiceName(ServiceCode(code).name()),
            reported: [18, 19, 20, 21, 29].contains(&code),
            start,
            start_registered: at(start),
            active_at_cutoff: start < CUTOFF,
            provider: (code != 29).then(|| "974760673".to_string()),
            provider_changes: vec![],
            stops: vec![],
            end,
            end_registered: end.map(at),
            end_reason: end.map(|_| EndReason::Ended),
        }
    }

    fn stop(id: &str, from: NaiveDate, to: Option<NaiveDate>) -> Stop {
        Stop {
            id: id.into(),
            from,
            from_registered: at(from),
            to,
            to_registered: to.map(at),
        }
    }

    fn person(services: Vec<Service>) -> Person {
        Person {
            kommune: "1151".into(),
            bruker_nr: "1151-100001".into(),
            pasient_guid: "a893953a-7426-49ae-9e2b-da2322edd471".into(),
            fid: "02913324571".into(),
            type_id: 1,
            id_kind: Some(PersonIdKind::Fodselsnummer),
            birth_date: d(1933, 11, 2),
            sex: Sex::Male,
            age: 90,
            bydel: None,
            death_date: None,
            services,
            welfare_technology: vec![],
            registration_errors: vec![],
        }
    }

    const CUTOFF: NaiveDate = match NaiveDate::from_ymd_opt(2024, 1, 1) {
        Some(x) => x,
        None => NaiveDate::MIN,
    };

    fn kinds(evs: &[MsgEvent<'_>]) -> Vec<(EventKind, NaiveDate)> {
        evs.iter().map(|e| (e.kind, e.date)).collect()
    }

    #[test]
    fn active_service_with_open_stop_is_start_and_stop_in_the_initial_load() {
        let mut s = service(21, d(2022, 3, 1), None);
        s.stops.push(stop("T21-S1", d(2023, 12, 20), None));
        let persons = vec![person(vec![s])];
        let (initial, in_year) = derive_events(&persons, CUTOFF);
        assert_eq!(
            kinds(&initial),
            vec![
                (EventKind::TjenesteStart, d(2022, 3, 1)),
                (EventKind::MidlertidigStoppFra, d(2023, 12, 20)),
            ]
        );
        assert!(initial.iter().all(|e| e.initial));
        assert_eq!(initial[1].stop_id.as_deref(), Some("T21-S1"));
        assert!(in_year.is_empty());
        // The original registration times travel with them.
        assert_eq!(initial[0].reg, at(d(2022, 3, 1)));
    }

    #[test]
    fn stop_over_new_year_ends_within_the_year() {
        let mut s = service(21, d(2020, 5, 5), None);
        s.stops
            .push(stop("T21-S1", d(2023, 12, 28), Some(d(2024, 1, 9))));
        s.stops
            .push(stop("T21-S2", d(2024, 3, 1), Some(d(2024, 3, 5))));
        let persons = vec![person(vec![s])];
        let (initial, in_year) = derive_events(&persons, CUTOFF);
        assert_eq!(initial.len(), 2);
        assert_eq!(
            kinds(&in_year),
            vec![
                (EventKind::MidlertidigStoppTil, d(2024, 1, 9)),
                (EventKind::MidlertidigStoppFra, d(2024, 3, 1)),
                (EventKind::MidlertidigStoppTil, d(2024, 3, 5)),
            ]
        );
    }

    #[test]
    fn service_of_the_year_provider_change_and_end() {
        let mut s = service(18, d(2024, 2, 1), Some(d(2024, 2, 20)));
        s.provider_changes.push(ProviderChange {
            date: d(2024, 2, 10),
            registered: at(d(2024, 2, 10)),
            orgnr: "958935420".into(),
        });
        let persons = vec![person(vec![s])];
        let (initial, in_year) = derive_events(&persons, CUTOFF);
        assert!(initial.is_empty());
        assert_eq!(
            kinds(&in_year),
            vec![
                (EventKind::TjenesteStart, d(2024, 2, 1)),
                (EventKind::TjenesteutforerEndret, d(2024, 2, 10)),
                (EventKind::TjenesteSlutt, d(2024, 2, 20)),
            ]
        );
        assert_eq!(in_year[0].orgnr, Some("974760673"));
        assert_eq!(in_year[1].orgnr, Some("958935420"));
        // The end carries the provider in charge at the end.
        assert_eq!(in_year[2].orgnr, Some("958935420"));
    }

    #[test]
    fn unreported_services_give_no_events_and_housing_no_orgnr() {
        let persons = vec![person(vec![
            service(15, d(2021, 1, 1), None),
            service(29, d(2019, 8, 1), Some(d(2024, 6, 1))),
        ])];
        let (initial, in_year) = derive_events(&persons, CUTOFF);
        assert_eq!(
            kinds(&initial),
            vec![(EventKind::TjenesteStart, d(2019, 8, 1))]
        );
        assert_eq!(
            kinds(&in_year),
            vec![(EventKind::TjenesteSlutt, d(2024, 6, 1))]
        );
        assert!(initial[0].orgnr.is_none() && in_year[0].orgnr.is_none());
    }

    #[test]
    fn notification_carries_the_person_and_the_service() {
        let persons = vec![person(vec![service(21, d(2024, 4, 2), None)])];
        let (_, in_year) = derive_events(&persons, CUTOFF);
        let meta = Meta {
            status: Status::N,
            tid: at(d(2024, 4, 2)),
            guid: "g".into(),
            forrige: "f".into(),
            lopenr: 7,
            referanse: None,
            hendelse_guid: "h".into(),
        };
        let n = notification(&persons, &in_year[0], meta);
        assert_eq!(n.lopenr, "7");
        let e = &n.events[0];
        assert_eq!(e.tjeneste_type, "21");
        assert_eq!(e.hendelse_dato, "2024-04-02");
        assert_eq!(e.hendelse_reg_tid, "2024-04-02T10:00:00+02:00");
        assert_eq!(e.bruker.fid, "02913324571");
        assert_eq!(e.bruker.type_id, "1");
    }
}
