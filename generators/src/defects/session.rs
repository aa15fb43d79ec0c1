//! The state shared by the defects applied to one message: the message being changed, the
//! random source, the context, which notifications defects have already claimed, and the
//! edits queued for the serialized bytes. Also the helpers that add fresh, valid
//! notifications at the end of the chain when a message has nothing suitable to mutate.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use iplos_model::ids::{OrgNr, PersonId, PersonIdKind, Sex};
use iplos_model::message::{
    Bruker, EMPTY_GUID, Event, EventKind, Melding, Notifikasjon, Status, parse_plain_date,
};
use rand::{Rng, RngCore};

use super::DefectContext;
use super::doc::Edit;

/// What one defect did, before the catalogue entry is attached.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) notification: Option<usize>,
    pub(crate) detail: String,
}

impl Hit {
    pub(crate) fn at(i: usize, detail: impl Into<String>) -> Hit {
        Hit {
            notification: Some(i),
            detail: detail.into(),
        }
    }

    pub(crate) fn message(detail: impl Into<String>) -> Hit {
        Hit {
            notification: None,
            detail: detail.into(),
        }
    }
}

pub(crate) struct Session<'a> {
    pub(crate) m: Melding,
    pub(crate) rng: &'a mut dyn RngCore,
    pub(crate) ctx: &'a DefectContext,
    /// Notifications a defect has changed, added or relies on: no other defect touches them.
    used: BTreeSet<usize>,
    pub(crate) edits: Vec<Edit>,
}

/// The single event of a notification, if it has exactly one.
pub(crate) fn single(n: &Notifikasjon) -> Option<&Event> {
    match n.events.as_slice() {
        [e] => Some(e),
        _ => None,
    }
}

/// Europe/Oslo's UTC offset on a date (summer time from the last Sunday of March to the
/// last Sunday of October).
pub(crate) fn oslo_offset(d: NaiveDate) -> &'static str {
    let last_sunday = |month: u32| {
        let mut day = NaiveDate::from_ymd_opt(d.year(), month, 31).unwrap_or(d);
        while day.weekday() != Weekday::Sun {
            day -= Duration::days(1);
        }
        day
    };
    if d >= last_sunday(3) && d < last_sunday(10) {
        "+02:00"
    } else {
        "+01:00"
    }
}

impl<'a> Session<'a> {
    pub(crate) fn new(m: Melding, rng: &'a mut dyn RngCore, ctx: &'a DefectContext) -> Self {
        Session {
            m,
            rng,
            ctx,
            used: BTreeSet::new(),
            edits: Vec::new(),
        }
    }

    /// Claims a notification.
    pub(crate) fn claim(&mut self, i: usize) {
        self.used.insert(i);
    }

    /// Unclaimed notifications with exactly one event that satisfy `pred`.
    pub(crate) fn candidates(
        &self,
        pred: impl Fn(usize, &Notifikasjon, &Event) -> bool,
    ) -> Vec<usize> {
        self.m
            .notifikasjoner
            .iter()
            .enumerate()
            .filter(|(i, n)| !self.used.contains(i) && single(n).is_some_and(|e| pred(*i, n, e)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Picks one of `cands` at random.
    pub(crate) fn choose(&mut self, cands: &[usize]) -> Option<usize> {
        if cands.is_empty() {
            None
        } else {
            Some(cands[self.rng.gen_range(0..cands.len())])
        }
    }

    /// Picks and claims an unclaimed single-event notification satisfying `pred`.
    pub(crate) fn pick(
        &mut self,
        pred: impl Fn(usize, &Notifikasjon, &Event) -> bool,
    ) -> Option<usize> {
        let c = self.candidates(pred);
        let i = self.choose(&c)?;
        self.claim(i);
        Some(i)
    }

    /// Picks a notification as [`Session::pick`] does, or appends a fresh, valid one (an
    /// original TjenesteStart of home nursing) when none qualifies.
    pub(crate) fn pick_or_fresh(
        &mut self,
        pred: impl Fn(usize, &Notifikasjon, &Event) -> bool,
    ) -> usize {
        match self.pick(pred) {
            Some(i) => i,
            None => self.append_fresh_start(),
        }
    }

    /// The single event of notification `i` (callers only pass single-event notifications).
    pub(crate) fn event(&mut self, i: usize) -> &mut Event {
        &mut self.m.notifikasjoner[i].events[0]
    }

    pub(crate) fn year(&self) -> i32 {
        self.ctx.data_year
    }

    /// A random GUID (version 4 layout), lower case.
    pub(crate) fn guid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.rng.fill_bytes(&mut b);
        b[6] = (b[6] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// A random date in the data year, far enough from its ends that a few weeks either
    /// way stay in the same year.
    pub(crate) fn date(&mut self) -> NaiveDate {
        let y = self.year();
        let from = NaiveDate::from_ymd_opt(y, 2, 1).unwrap_or_default();
        from + Duration::days(self.rng.gen_range(0..290))
    }

    /// `hendelseRegTid` for an event on `d`: during the working day, Oslo time.
    pub(crate) fn reg_tid(&mut self, d: NaiveDate) -> String {
        let h = self.rng.gen_range(8..16);
        let m = self.rng.gen_range(0..60);
        let s = self.rng.gen_range(0..60);
        format!("{d}T{h:02}:{m:02}:{s:02}{}", oslo_offset(d))
    }

    /// A synthetic (Test-Norge) person born 1925–1964.
    pub(crate) fn person(&mut self) -> Bruker {
        let born = NaiveDate::from_ymd_opt(1925, 1, 1).unwrap_or_default()
            + Duration::days(self.rng.gen_range(0..40 * 365));
        let sex = if self.rng.gen_bool(0.5) {
            Sex::Female
        } else {
            Sex::Male
        };
        let fid =
            PersonId::generate_synthetic(&mut *self.rng, born, sex, PersonIdKind::Fodselsnummer)
                .map(|p| p.to_string())
                .unwrap_or_default();
        let nr = self.rng.gen_range(0..100_000);
        Bruker {
            pasient_guid: self.guid(),
            bruker_nr: format!("{}-D{nr:05}", self.ctx.kommune_nr),
            fid,
            type_id: "1".into(),
            bydel: None,
        }
    }

    /// A `tjenesteID` not used in the message.
    pub(crate) fn service_id(&mut self) -> String {
        loop {
            let id = format!("DEF-{}-{:05}", self.year(), self.rng.gen_range(0..100_000));
            if !self
                .m
                .notifikasjoner
                .iter()
                .flat_map(|n| &n.events)
                .any(|e| e.tjeneste_id == id)
            {
                return id;
            }
        }
    }

    /// A valid organisasjonsnummer.
    pub(crate) fn orgnr(&mut self) -> String {
        OrgNr::generate(&mut *self.rng).to_string()
    }

    /// A fresh TjenesteStart of a new service of `tjeneste_type` for a new person on `d`,
    /// with an organisation number unless the type forbids one.
    pub(crate) fn fresh_start(&mut self, tjeneste_type: &str, d: NaiveDate) -> Event {
        let org = match iplos_model::message::orgnr_duty(tjeneste_type) {
            iplos_model::message::OrgNrDuty::Forbidden => None,
            _ => Some(self.orgnr()),
        };
        Event {
            kind: EventKind::TjenesteStart,
            tjeneste_type: tjeneste_type.into(),
            tjeneste_id: self.service_id(),
            hendelse_guid: self.guid(),
            hendelse_dato: d.to_string(),
            hendelse_reg_tid: self.reg_tid(d),
            tjeneste_org_nr: org,
            midlertidig_stopp_id: None,
            bruker: self.person(),
        }
    }

    /// Another event of the same service and person: `kind` on `d`, with its own GUID.
    pub(crate) fn follow_up(&mut self, base: &Event, kind: EventKind, d: NaiveDate) -> Event {
        Event {
            kind,
            hendelse_guid: self.guid(),
            hendelse_dato: d.to_string(),
            hendelse_reg_tid: self.reg_tid(d),
            midlertidig_stopp_id: None,
            ..base.clone()
        }
    }

    /// Appends a notification at the end of the chain (next `notifikasjonLopeNr`, previous
    /// GUID) and claims it. `notifikasjonTid` is 06:00 the day after its latest event, or
    /// the day of the last notification's if that is later.
    pub(crate) fn append(
        &mut self,
        status: Status,
        referanse: Option<String>,
        events: Vec<Event>,
    ) -> usize {
        let after_events = events
            .iter()
            .filter_map(|e| parse_plain_date(&e.hendelse_dato))
            .max()
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(self.year(), 6, 1).unwrap_or_default())
            + Duration::days(1);
        let last = self
            .m
            .notifikasjoner
            .iter()
            .filter_map(|n| parse_plain_date(&n.tid))
            .max();
        let day = last.map_or(after_events, |l| l.max(after_events));
        let forrige = self
            .m
            .notifikasjoner
            .last()
            .map_or_else(|| EMPTY_GUID.to_string(), |n| n.guid.clone());
        let lopenr = self
            .m
            .notifikasjoner
            .iter()
            .filter_map(|n| n.lopenr.parse::<u64>().ok())
            .max()
            .map_or(1, |x| x + 1);
        let n = Notifikasjon {
            status,
            tid: format!("{day}T06:00:00{}", oslo_offset(day)),
            guid: self.guid(),
            forrige_guid: forrige,
            lopenr: lopenr.to_string(),
            referanse,
            events,
        };
        self.m.notifikasjoner.push(n);
        let i = self.m.notifikasjoner.len() - 1;
        self.claim(i);
        i
    }

    /// Appends an original TjenesteStart of home nursing (type 15) for a new person.
    pub(crate) fn append_fresh_start(&mut self) -> usize {
        let d = self.date();
        let e = self.fresh_start("15", d);
        self.append(Status::N, None, vec![e])
    }

    /// Appends a fresh original and a correction (`status`) of it restating its event;
    /// returns (original, correction).
    pub(crate) fn append_corrected(&mut self, status: Status) -> (usize, usize) {
        let o = self.append_fresh_start();
        let base = self.m.notifikasjoner[o].events[0].clone();
        let d = parse_plain_date(&base.hendelse_dato).unwrap_or_else(|| self.date());
        let e = self.follow_up(&base, EventKind::TjenesteStart, d);
        let r = Some(self.m.notifikasjoner[o].guid.clone());
        let c = self.append(status, r, vec![e]);
        (o, c)
    }
}
