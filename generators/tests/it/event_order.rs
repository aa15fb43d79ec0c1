//! The ordinary message tells each service's story in order: the initial load first (only
//! services and stops active on 1 January, with their original dates), then the year's
//! events in registration order; per tjenesteID a start, then stops that open and close,
//! provider changes while it runs, and at most one end, never anything after it.

use std::collections::HashMap;

use chrono::NaiveDate;
use iplos_generators::{GenConfig, KommuneData, generate_kommune};
use iplos_model::message::{EventKind, Status, parse_plain_date};
use iplos_model::municipality::lookup;

fn generate(year: u16, nr: &str, scale: f64, seed: u64) -> KommuneData {
    let m = lookup(year, nr).unwrap();
    generate_kommune(year, m, &GenConfig::with_scale(scale), seed).unwrap()
}

#[derive(Default)]
struct Track {
    started: bool,
    ended: bool,
    open_stop: Option<String>,
    last_date: Option<NaiveDate>,
}

fn check_story(d: &KommuneData) {
    let cutoff = NaiveDate::from_ymd_opt(i32::from(d.year), 1, 1).unwrap();
    let year_end = NaiveDate::from_ymd_opt(i32::from(d.year), 12, 31).unwrap();
    let cut_tid = format!("{}-01-01T00:00:00+01:00", d.year);
    let mut tracks: HashMap<&str, Track> = HashMap::new();
    let mut in_initial = true;
    let mut last_tid = String::new();
    for (i, n) in d.melding.notifikasjoner.iter().enumerate() {
        assert_eq!(n.status, Status::N);
        assert_eq!(n.lopenr, (i + 1).to_string());
        let e = &n.events[0];
        let date = parse_plain_date(&e.hendelse_dato).unwrap();
        let initial = n.tid == cut_tid;
        if initial {
            assert!(
                in_initial,
                "initial-load notification after the year's events: {n:?}"
            );
            assert!(date < cutoff, "initial load dated {date}");
            assert!(matches!(
                e.kind,
                EventKind::TjenesteStart | EventKind::MidlertidigStoppFra
            ));
        } else {
            in_initial = false;
            assert!(
                (cutoff..=year_end).contains(&date),
                "event of the year dated {date}"
            );
            // Registration order: notification times never go back.
            assert!(n.tid >= last_tid, "{} after {last_tid}", n.tid);
            last_tid = n.tid.clone();
            assert!(e.hendelse_reg_tid <= n.tid, "registered after notification");
            assert!(
                e.hendelse_reg_tid[..10] >= e.hendelse_dato[..],
                "registered before it happened"
            );
        }
        let t = tracks.entry(e.tjeneste_id.as_str()).or_default();
        assert!(!t.ended, "event after TjenesteSlutt for {}", e.tjeneste_id);
        if let Some(last) = t.last_date {
            assert!(
                date >= last,
                "{} goes back in time: {date} < {last}",
                e.tjeneste_id
            );
        }
        t.last_date = Some(date);
        match e.kind {
            EventKind::TjenesteStart => {
                assert!(!t.started, "second start of {}", e.tjeneste_id);
                t.started = true;
            }
            EventKind::MidlertidigStoppFra => {
                assert!(t.started && t.open_stop.is_none(), "{}", e.tjeneste_id);
                t.open_stop = e.midlertidig_stopp_id.clone();
            }
            EventKind::MidlertidigStoppTil => {
                assert!(t.started, "{}", e.tjeneste_id);
                assert_eq!(
                    t.open_stop.take(),
                    e.midlertidig_stopp_id,
                    "{}",
                    e.tjeneste_id
                );
            }
            EventKind::TjenesteutforerEndret => {
                assert!(
                    t.started && e.tjeneste_org_nr.is_some(),
                    "{}",
                    e.tjeneste_id
                );
            }
            EventKind::TjenesteSlutt => {
                assert!(t.started, "{}", e.tjeneste_id);
                t.ended = true;
            }
        }
    }
}

/// Notifications arise before the kommune sends them: the ordinary ones before its
/// ordinary submission day, the corrections after it and before the corrections day.
fn check_times(d: &KommuneData) {
    let ordinary = d.profile.ordinary_submission.to_string();
    let corrections = d.profile.corrections_submission.to_string();
    for n in &d.melding.notifikasjoner {
        assert!(n.tid[..10] < *ordinary, "{} not before {ordinary}", n.tid);
    }
    for n in &d.korreksjoner.notifikasjoner {
        assert!(
            n.tid[..10] > *ordinary && n.tid[..10] <= *corrections,
            "{}",
            n.tid
        );
        assert!(n.events[0].hendelse_reg_tid <= n.tid);
        assert!(n.referanse.is_some());
    }
}

#[test]
fn every_service_tells_a_consistent_story() {
    for (year, nr, scale, seed) in [
        (2024u16, "0301", 0.05, 1),
        (2017, "1201", 0.1, 2),
        (2024, "1151", 1.0, 3),
        (2020, "5001", 0.1, 4),
    ] {
        let d = generate(year, nr, scale, seed);
        check_story(&d);
        check_times(&d);
    }
}

#[test]
fn initial_load_is_exactly_the_active_services_and_stops_at_the_cutoff() {
    let d = generate(2024, "4601", 0.1, 21);
    let cutoff = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let cut_tid = "2024-01-01T00:00:00+01:00";
    let mut starts = 0;
    let mut stops = 0;
    for p in &d.persons {
        for s in p.services.iter().filter(|s| s.reported) {
            assert_eq!(s.active_at_cutoff, s.start < cutoff);
            if s.active_at_cutoff {
                assert!(s.end.is_none_or(|e| e >= cutoff));
                starts += 1;
                stops += s.stops.iter().filter(|st| st.from < cutoff).count();
            }
        }
    }
    let initial: Vec<_> = d
        .melding
        .notifikasjoner
        .iter()
        .filter(|n| n.tid == cut_tid)
        .collect();
    let n_starts = initial
        .iter()
        .filter(|n| n.events[0].kind == EventKind::TjenesteStart)
        .count();
    let n_stops = initial
        .iter()
        .filter(|n| n.events[0].kind == EventKind::MidlertidigStoppFra)
        .count();
    assert!(starts > 100);
    // A wrong-provider correction may change an initial start's orgnr, never its presence.
    assert_eq!((n_starts, n_stops), (starts, stops));
    assert_eq!(d.stats.initial_load as usize, initial.len());
}

#[test]
fn a_death_ends_every_service_on_the_death_date() {
    let d = generate(2024, "0301", 0.1, 5);
    let mut dead = 0;
    let mut slutt_on_death = 0;
    for p in &d.persons {
        let Some(death) = p.death_date else { continue };
        dead += 1;
        for s in &p.services {
            let end = s.end.expect("a dead person's service has ended");
            assert!(
                end <= death,
                "{} ends {end} after death {death}",
                s.tjeneste_id
            );
            assert!(s.start <= death);
            assert!(s.provider_changes.iter().all(|c| c.date < death));
            assert!(
                s.stops
                    .iter()
                    .all(|st| st.from < death && st.to.is_none_or(|t| t < death))
            );
            if s.end_reason == Some(iplos_generators::EndReason::Death) {
                assert_eq!(end, death);
            }
            if end == death && s.reported {
                let found = d.melding.notifikasjoner.iter().any(|n| {
                    let e = &n.events[0];
                    e.kind == EventKind::TjenesteSlutt
                        && e.tjeneste_id == s.tjeneste_id
                        && e.hendelse_dato == death.to_string()
                });
                let corrected = p
                    .registration_errors
                    .iter()
                    .any(|r| r.tjeneste_id == s.tjeneste_id);
                assert!(
                    found || corrected,
                    "no TjenesteSlutt on {death} for {}",
                    s.tjeneste_id
                );
                slutt_on_death += 1;
            }
        }
        for w in &p.welfare_technology {
            assert!(w.end.is_some_and(|e| e <= death));
        }
    }
    assert!(
        dead > 50 && slutt_on_death > 10,
        "{dead} deaths, {slutt_on_death} ends"
    );
}
