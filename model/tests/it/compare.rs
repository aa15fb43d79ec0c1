//! Comparing a vendor's export with the expected events, on real generated kommuner: a
//! perfect export (even with every vendor id renumbered and the notifications reordered)
//! compares clean; every single mutation gives exactly one discrepancy of the right kind,
//! naming the event and the field.

use std::collections::HashMap;
use std::time::Instant;

use iplos_generators::{GenConfig, KommuneData, generate_kommune};
use iplos_model::compare::{
    CompareError, CompareOptions, Comparison, RefProblemKind, ServiceIds, compare,
    compare_corrections, compare_with_lines, read_received,
};
use iplos_model::message::{EMPTY_GUID, Melding, OutputEncoding, Status, write_message};
use iplos_model::municipality::lookup;
use iplos_model::rules::CheckOptions;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn kommune(year: u16, nr: &str, scale: f64, seed: u64) -> KommuneData {
    let m = lookup(year, nr).expect("kommune");
    generate_kommune(year, m, &GenConfig::with_scale(scale), seed).expect("generate")
}

/// A handful of small kommuner and years.
fn samples() -> Vec<KommuneData> {
    vec![
        kommune(2017, "1151", 1.0, 1),
        kommune(2024, "1151", 1.0, 2),
        kommune(2017, "0301", 0.01, 3),
        kommune(2024, "4601", 0.02, 4),
        kommune(2020, "5001", 0.02, 5),
    ]
}

fn opts() -> CompareOptions {
    CompareOptions::default()
}

/// What a vendor's own export of the same content looks like: new notification and event
/// GUIDs, new pasientGUID/brukerNr, new stop ids, new registration times, notifications
/// shuffled, chain and sequence numbers rebuilt, references mapped. The same maps are used
/// for both messages so corrections refer to the right originals.
struct Vendor {
    rng: ChaCha8Rng,
    guids: HashMap<String, String>,
    persons: HashMap<String, (String, String)>,
    stops: HashMap<String, String>,
    services: HashMap<String, String>,
    renumber_services: bool,
    lopenr: u64,
    prev: String,
}

impl Vendor {
    fn new(seed: u64) -> Vendor {
        Vendor {
            rng: ChaCha8Rng::seed_from_u64(seed),
            guids: HashMap::new(),
            persons: HashMap::new(),
            stops: HashMap::new(),
            services: HashMap::new(),
            renumber_services: false,
            lopenr: 1000,
            prev: EMPTY_GUID.to_string(),
        }
    }

    fn guid(&mut self) -> String {
        let a: u128 = self.rng.r#gen();
        let h = format!("{a:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    fn export(&mut self, m: &Melding) -> Melding {
        let mut out = m.clone();
        // GUIDs first (references may point forward within the message).
        for n in &out.notifikasjoner {
            let g = self.guid();
            self.guids.insert(n.guid.clone(), g);
        }
        out.notifikasjoner.shuffle(&mut self.rng);
        for n in &mut out.notifikasjoner {
            n.guid = self.guids[&n.guid].clone();
            n.forrige_guid = std::mem::replace(&mut self.prev, n.guid.clone());
            self.lopenr += 1;
            n.lopenr = self.lopenr.to_string();
            n.tid = "2030-01-01T12:00:00".into();
            if let Some(r) = &mut n.referanse {
                *r = self
                    .guids
                    .get(r.as_str())
                    .cloned()
                    .unwrap_or_else(|| r.clone());
            }
            for e in &mut n.events {
                e.hendelse_guid = self.guid();
                e.hendelse_reg_tid = "2030-01-01T12:00:00".into();
                let next = self.persons.len();
                let (pg, bnr) = self
                    .persons
                    .entry(e.bruker.fid.clone())
                    .or_insert_with(|| {
                        (
                            format!("{:08x}-0000-4000-8000-000000000000", next),
                            format!("V{next}"),
                        )
                    })
                    .clone();
                e.bruker.pasient_guid = pg;
                e.bruker.bruker_nr = bnr;
                if let Some(s) = &mut e.midlertidig_stopp_id {
                    let next = self.stops.len();
                    *s = self
                        .stops
                        .entry(s.clone())
                        .or_insert_with(|| format!("STOPP-{next}"))
                        .clone();
                }
                if self.renumber_services {
                    let next = self.services.len();
                    e.tjeneste_id = self
                        .services
                        .entry(e.tjeneste_id.clone())
                        .or_insert_with(|| format!("EPJ-{next}"))
                        .clone();
                }
            }
        }
        out
    }
}

fn assert_clean(c: &Comparison, what: &str) {
    assert!(c.is_clean(), "{what}: {:#?}", summary(c));
    assert_eq!(c.matched, c.expected_events, "{what}");
    assert_eq!(c.matched, c.received_events, "{what}");
}

fn summary(c: &Comparison) -> String {
    format!(
        "matched {} missing {:?}\nextra {:?}\nwrong {:?}\nreferences {:?}",
        c.matched,
        c.missing.iter().take(3).collect::<Vec<_>>(),
        c.extra.iter().take(3).collect::<Vec<_>>(),
        c.wrong.iter().take(3).collect::<Vec<_>>(),
        c.references.iter().take(3).collect::<Vec<_>>()
    )
}

#[test]
fn identical_and_vendor_renumbered_exports_compare_clean() {
    for (k, d) in samples().iter().enumerate() {
        assert!(!d.melding.notifikasjoner.is_empty());
        let c = compare(&d.melding, &d.melding, &opts());
        assert_clean(&c, "identical ordinary");
        let c = compare_corrections(
            &d.melding,
            &d.korreksjoner,
            (&d.melding, None),
            (&d.korreksjoner, None),
            &opts(),
        );
        assert_clean(&c, "identical corrections");

        let mut v = Vendor::new(k as u64);
        let ord = v.export(&d.melding);
        let cor = v.export(&d.korreksjoner);
        assert_ne!(ord.notifikasjoner[0].guid, d.melding.notifikasjoner[0].guid);
        assert_clean(&compare(&d.melding, &ord, &opts()), "vendor ordinary");
        let c = compare_corrections(
            &d.melding,
            &d.korreksjoner,
            (&ord, None),
            (&cor, None),
            &opts(),
        );
        assert_clean(&c, "vendor corrections");
        assert_eq!(
            c.expected_events as u32,
            d.stats.corrections_m + d.stats.corrections_c
        );
    }
}

#[test]
fn vendor_own_service_ids_compare_clean_and_inconsistency_is_found() {
    let d = kommune(2024, "4601", 0.02, 7);
    let mut v = Vendor::new(7);
    v.renumber_services = true;
    let ord = v.export(&d.melding);
    let cor = v.export(&d.korreksjoner);
    let o = CompareOptions {
        service_ids: ServiceIds::VendorOwn,
        ..CompareOptions::default()
    };
    assert_clean(&compare(&d.melding, &ord, &o), "vendor ids ordinary");
    assert_clean(
        &compare_corrections(&d.melding, &d.korreksjoner, (&ord, None), (&cor, None), &o),
        "vendor ids corrections",
    );
    // With the default (same ids) every event is "wrong" in tjenesteID, never missing.
    let strict = compare(&d.melding, &ord, &opts());
    assert!(strict.missing.is_empty() && strict.extra.is_empty());
    assert!(strict.wrong.iter().all(|w| w.field == "tjenesteID"));

    // One event of a service with several events gets another id.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for n in &ord.notifikasjoner {
        *counts.entry(&n.events[0].tjeneste_id).or_default() += 1;
    }
    let idx = ord
        .notifikasjoner
        .iter()
        .position(|n| counts[n.events[0].tjeneste_id.as_str()] >= 2)
        .expect("a service with two events");
    let mut bad = ord.clone();
    bad.notifikasjoner[idx].events[0].tjeneste_id = "EPJ-other".into();
    let c = compare(&d.melding, &bad, &o);
    assert_eq!(c.discrepancies(), 1, "{}", summary(&c));
    assert_eq!(c.references[0].kind, RefProblemKind::ServiceIdInconsistent);
}

/// The kinds of single mutation, with the discrepancy each must give.
#[derive(Debug, Clone, Copy)]
enum Mutation {
    Remove,
    Duplicate,
    Date,
    ServiceType,
    OrgNr,
    Fid,
    StopId,
}

/// Applies `m` to notification `i` of a vendor export; `None` when it does not apply.
fn mutate(msg: &mut Melding, i: usize, m: Mutation, rng: &mut ChaCha8Rng) -> Option<String> {
    match m {
        Mutation::Remove => {
            msg.notifikasjoner.remove(i);
            None
        }
        Mutation::Duplicate => {
            let mut n = msg.notifikasjoner[i].clone();
            n.guid = format!("{:08x}-1111-4111-8111-111111111111", rng.r#gen::<u32>());
            n.events[0].hendelse_guid = n.guid.replace("1111", "2222");
            let at = rng.gen_range(0..=msg.notifikasjoner.len());
            msg.notifikasjoner.insert(at, n);
            None
        }
        Mutation::Date => {
            let e = &mut msg.notifikasjoner[i].events[0];
            let d = e.date()? - chrono::Duration::days(rng.gen_range(1..3000));
            e.hendelse_dato = d.format("%Y-%m-%d").to_string();
            Some("hendelseDato".into())
        }
        Mutation::ServiceType => {
            let e = &mut msg.notifikasjoner[i].events[0];
            e.tjeneste_type = if e.tjeneste_type == "21" { "18" } else { "21" }.into();
            Some("tjenesteType".into())
        }
        Mutation::OrgNr => {
            let e = &mut msg.notifikasjoner[i].events[0];
            e.tjeneste_org_nr = match &e.tjeneste_org_nr {
                Some(o) if o != "999999999" => Some("999999999".into()),
                _ => Some("974760673".into()),
            };
            Some("tjenesteOrgNr".into())
        }
        Mutation::Fid => {
            let e = &mut msg.notifikasjoner[i].events[0];
            e.bruker.fid = format!("{}0", &e.bruker.fid[..e.bruker.fid.len() - 1]);
            if e.bruker.fid.ends_with("00") {
                e.bruker.fid = format!("{}1", &e.bruker.fid[..e.bruker.fid.len() - 1]);
            }
            Some("Bruker/@fid".into())
        }
        Mutation::StopId => {
            let e = &mut msg.notifikasjoner[i].events[0];
            e.midlertidig_stopp_id.as_ref()?;
            e.midlertidig_stopp_id = Some("STOPP-mutated".into());
            Some("midlertidigStoppID".into())
        }
    }
}

#[test]
fn each_single_mutation_gives_exactly_one_discrepancy_of_its_kind() {
    let data = samples();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let kinds = [
        Mutation::Remove,
        Mutation::Duplicate,
        Mutation::Date,
        Mutation::ServiceType,
        Mutation::OrgNr,
        Mutation::Fid,
        Mutation::StopId,
    ];
    let mut done: HashMap<String, usize> = HashMap::new();
    for (k, d) in data.iter().enumerate() {
        let mut v = Vendor::new(100 + k as u64);
        let ord = v.export(&d.melding);
        for round in 0..60 {
            let kind = kinds[round % kinds.len()];
            let mut msg = ord.clone();
            let i = rng.gen_range(0..msg.notifikasjoner.len());
            let original = msg.notifikasjoner[i].clone();
            let field = mutate(&mut msg, i, kind, &mut rng);
            if msg == ord {
                continue;
            }
            if matches!(kind, Mutation::StopId) && field.is_none() {
                continue;
            }
            let c = compare(&d.melding, &msg, &opts());
            let what = format!("{} {} {kind:?} at {i}", d.year, d.kommune);
            match kind {
                Mutation::StopId => {
                    // The pair's partner may be absent (a stop still open, its Fra only).
                    assert!(c.discrepancies() <= 1, "{what}: {}", summary(&c));
                    if c.discrepancies() == 0 {
                        continue;
                    }
                    assert_eq!(c.references.len(), 1, "{what}: {}", summary(&c));
                    assert_eq!(c.references[0].kind, RefProblemKind::StopPairSplit);
                    // Either event of the pair may be the one out of step: the problem
                    // names both received ids.
                    assert!(
                        c.references[0].received.contains("STOPP-mutated"),
                        "{what}: {:?}",
                        c.references[0]
                    );
                }
                _ => assert_eq!(c.discrepancies(), 1, "{what}: {}", summary(&c)),
            }
            let ev = &original.events[0];
            match kind {
                Mutation::Remove => {
                    let m = &c.missing[0];
                    assert_eq!(m.rule, "CMP01");
                    assert!(m.key.contains(ev.kind.element()), "{what}: {}", m.key);
                    assert!(m.key.contains(&ev.bruker.fid), "{what}: {}", m.key);
                    assert_eq!(
                        m.expected.as_ref().map(|e| &e.hendelse_dato),
                        Some(&ev.hendelse_dato)
                    );
                }
                Mutation::Duplicate => {
                    let x = &c.extra[0];
                    assert_eq!(x.rule, "CMP02");
                    assert!(x.key.contains(&ev.tjeneste_id), "{what}: {}", x.key);
                }
                Mutation::StopId => {}
                _ => {
                    let w = &c.wrong[0];
                    let field = field.expect("a field");
                    assert_eq!(w.field, field, "{what}");
                    let new = &msg.notifikasjoner[i].events[0];
                    let (exp_v, rec_v) = match field.as_str() {
                        "hendelseDato" => (
                            Some(ev.hendelse_dato.clone()),
                            Some(new.hendelse_dato.clone()),
                        ),
                        "tjenesteType" => (
                            Some(ev.tjeneste_type.clone()),
                            Some(new.tjeneste_type.clone()),
                        ),
                        "tjenesteOrgNr" => {
                            (ev.tjeneste_org_nr.clone(), new.tjeneste_org_nr.clone())
                        }
                        "Bruker/@fid" => {
                            (Some(ev.bruker.fid.clone()), Some(new.bruker.fid.clone()))
                        }
                        _ => unreachable!(),
                    };
                    assert_eq!((&w.expected, &w.received), (&exp_v, &rec_v), "{what}");
                    assert_eq!(w.location.notification, i + 1, "{what}");
                    // e.g. /Melding/Notifikasjon[12]/TjenesteSlutt/Bruker/@fid
                    let attr = if field.starts_with("Bruker/") {
                        format!("/{field}")
                    } else {
                        format!("/@{field}")
                    };
                    assert!(
                        w.location.path.ends_with(&attr),
                        "{what}: {}",
                        w.location.path
                    );
                }
            }
            *done.entry(format!("{kind:?}")).or_default() += 1;
        }
    }
    for kind in kinds {
        assert!(
            done.get(&format!("{kind:?}")).copied().unwrap_or(0) >= 5,
            "{kind:?} tried too rarely: {done:?}"
        );
    }
}

#[test]
fn a_persons_id_changed_everywhere_gives_one_wrong_fid_per_event() {
    let d = kommune(2017, "1151", 1.0, 1);
    let mut v = Vendor::new(1);
    let mut ord = v.export(&d.melding);
    let fid = ord.notifikasjoner[0].events[0].bruker.fid.clone();
    let mut n = 0;
    for notif in &mut ord.notifikasjoner {
        for e in &mut notif.events {
            if e.bruker.fid == fid {
                e.bruker.fid = "01818012345".into();
                n += 1;
            }
        }
    }
    let c = compare(&d.melding, &ord, &opts());
    assert_eq!(c.discrepancies(), n, "{}", summary(&c));
    assert_eq!(c.wrong.len(), n);
    assert!(c.wrong.iter().all(|w| w.field == "Bruker/@fid"
        && w.expected.as_deref() == Some(fid.as_str())
        && w.received.as_deref() == Some("01818012345")));
}

#[test]
fn a_correction_pointing_to_the_wrong_original_is_one_reference_problem() {
    let mut tested = 0;
    for (k, d) in samples().iter().enumerate() {
        if d.korreksjoner.notifikasjoner.is_empty() {
            continue;
        }
        let mut v = Vendor::new(k as u64);
        let ord = v.export(&d.melding);
        let mut cor = v.export(&d.korreksjoner);
        let target = cor.notifikasjoner[0]
            .referanse
            .clone()
            .expect("a reference");
        let other = ord
            .notifikasjoner
            .iter()
            .find(|n| n.guid != target && n.status == Status::N)
            .expect("another original")
            .guid
            .clone();
        cor.notifikasjoner[0].referanse = Some(other);
        let c = compare_corrections(
            &d.melding,
            &d.korreksjoner,
            (&ord, None),
            (&cor, None),
            &opts(),
        );
        assert_eq!(c.discrepancies(), 1, "{}", summary(&c));
        let r = &c.references[0];
        assert_eq!(r.kind, RefProblemKind::WrongOriginal);
        assert_eq!(r.rule, "CMP04");
        assert_eq!(r.location.notification, 1);
        assert!(r.location.path.ends_with("@notifikasjonRef"));
        assert_ne!(r.expected, r.received);

        // A reference to nothing at all, and no reference.
        cor.notifikasjoner[0].referanse = Some("12345678-1234-4234-8234-123456789012".into());
        let c = compare_corrections(
            &d.melding,
            &d.korreksjoner,
            (&ord, None),
            (&cor, None),
            &opts(),
        );
        assert_eq!(c.discrepancies(), 1, "{}", summary(&c));
        assert_eq!(c.references[0].kind, RefProblemKind::Dangling);
        cor.notifikasjoner[0].referanse = None;
        let c = compare_corrections(
            &d.melding,
            &d.korreksjoner,
            (&ord, None),
            (&cor, None),
            &opts(),
        );
        assert_eq!(c.references[0].kind, RefProblemKind::MissingRef);
        tested += 1;
    }
    assert!(tested >= 3);
}

#[test]
fn received_bytes_are_read_with_lines_and_non_iplos_is_refused() {
    let d = kommune(2024, "1151", 1.0, 2);
    let mut v = Vendor::new(9);
    let mut ord = v.export(&d.melding);
    let extra = ord.notifikasjoner[3].clone();
    ord.notifikasjoner.push(extra);
    for enc in [OutputEncoding::Utf8, OutputEncoding::Latin1] {
        let bytes = write_message(&ord, Vec::new(), enc).expect("write");
        let r = read_received(&bytes, &CheckOptions::default()).expect("an IPLOS file");
        let lines = r.lines.as_deref().expect("lines");
        let c = compare_with_lines(&d.melding, &r.melding, Some(lines), &opts());
        assert_eq!(c.discrepancies(), 1, "{}", summary(&c));
        let x = &c.extra[0];
        let line = x.location.line.expect("a line") as usize;
        let text = String::from_utf8_lossy(&bytes);
        let at = text.lines().nth(line - 1).expect("line exists");
        assert!(at.trim_start().starts_with("<Notifikasjon"), "{at}");
        assert!(
            at.contains(&ord.notifikasjoner.last().expect("last").guid),
            "{at}"
        );
        assert_eq!(x.location.notification, ord.notifikasjoner.len());
    }
    for bad in [
        &b"<html><body>not iplos</body></html>"[..],
        b"",
        b"PK\x03\x04 a zip",
        b"<Melding xmlns=\"http://example.com/other\"/>",
    ] {
        match read_received(bad, &CheckOptions::default()) {
            Err(CompareError::NotIplos { rule, .. }) => {
                assert!(rule.starts_with("WF") || rule == "XSD01", "{rule}")
            }
            Ok(_) => panic!("{:?} accepted", String::from_utf8_lossy(bad)),
        }
    }
}

#[test]
fn sixty_thousand_notifications_compare_in_linear_time() {
    // Replicate a real kommune's notifications with distinct persons and services until
    // there are 60 000.
    let d = kommune(2024, "4601", 0.05, 11);
    let base = &d.melding.notifikasjoner;
    let mut big = d.melding.clone();
    big.notifikasjoner.clear();
    let mut copy = 0;
    while big.notifikasjoner.len() < 60_000 {
        for n in base {
            let mut n = n.clone();
            n.guid = format!("{copy:08x}{}", &n.guid[8..]);
            if let Some(r) = &mut n.referanse {
                *r = format!("{copy:08x}{}", &r[8..]);
            }
            for e in &mut n.events {
                e.tjeneste_id = format!("{}-{copy}", e.tjeneste_id);
                e.bruker.fid = format!("{}{copy}", e.bruker.fid);
            }
            big.notifikasjoner.push(n);
        }
        copy += 1;
    }
    big.notifikasjoner.truncate(60_000);
    let mut v = Vendor::new(5);
    let ord = v.export(&big);
    let t = Instant::now();
    let c = compare(&big, &ord, &opts());
    let took = t.elapsed();
    assert_clean(&c, "60 000");
    eprintln!("60 000 notifications compared in {took:?}");
    assert!(took.as_secs() < 20, "{took:?}");
    let json = serde_json::to_string(&c).expect("serialize");
    assert!(json.contains("\"matched\":60000"));
}

#[test]
fn single_mutations_of_the_corrections_message_are_found_across_messages() {
    let mut tried = 0;
    for (k, d) in samples().iter().enumerate() {
        let mut v = Vendor::new(200 + k as u64);
        let ord = v.export(&d.melding);
        let cor = v.export(&d.korreksjoner);
        for i in 0..cor.notifikasjoner.len().min(5) {
            let run = |c: &Melding| {
                compare_corrections(
                    &d.melding,
                    &d.korreksjoner,
                    (&ord, None),
                    (c, None),
                    &opts(),
                )
            };
            // Removed: one missing correction, named with its status.
            let mut m = cor.clone();
            let gone = m.notifikasjoner.remove(i);
            let c = run(&m);
            assert_eq!(c.discrepancies(), 1, "{}", summary(&c));
            let word = if gone.status == Status::M {
                "correction (M)"
            } else {
                "annulment (C)"
            };
            assert!(c.missing[0].key.starts_with(word), "{}", c.missing[0].key);
            // An orgnr changed on the correction: one wrong field, located in the
            // received corrections message.
            let mut m = cor.clone();
            let before = m.notifikasjoner[i].events[0].tjeneste_org_nr.clone();
            if before.as_deref() != Some("974760673") {
                m.notifikasjoner[i].events[0].tjeneste_org_nr = Some("974760673".into());
                let c = run(&m);
                assert_eq!(c.discrepancies(), 1, "{}", summary(&c));
                assert_eq!(c.wrong[0].field, "tjenesteOrgNr");
                assert_eq!(c.wrong[0].expected, before);
                assert_eq!(c.wrong[0].location.file, "received corrections");
                assert_eq!(c.wrong[0].location.notification, i + 1);
            }
            // Status N instead of C/M: the event is no longer the correction.
            let mut m = cor.clone();
            m.notifikasjoner[i].status = Status::N;
            m.notifikasjoner[i].referanse = None;
            let c = run(&m);
            assert_eq!(c.matched + c.missing.len(), c.expected_events);
            assert!(!c.is_clean());
            tried += 1;
        }
        // The ordinary events matched for the references are not reported again.
        let c = compare_corrections(
            &d.melding,
            &d.korreksjoner,
            (&ord, None),
            (&cor, None),
            &opts(),
        );
        assert_eq!(c.received_events, cor.notifikasjoner.len());
    }
    assert!(tried >= 5, "{tried}");
}

#[test]
fn hostile_received_content_gives_discrepancies_not_panics() {
    let d = kommune(2017, "1151", 1.0, 1);
    let mut m = d.melding.clone();
    m.notifikasjoner[0].events.clear();
    m.notifikasjoner[1].events[0].hendelse_dato = "2017-0é-01\u{0}".into();
    m.notifikasjoner[2].referanse = Some(String::new());
    m.notifikasjoner[3].status = Status::Other("Å".into());
    let dup = m.notifikasjoner[4].clone();
    for _ in 0..5000 {
        m.notifikasjoner.push(dup.clone());
    }
    let c = compare(&d.melding, &m, &opts());
    assert!(c.extra.len() >= 5000, "{}", summary(&c));
    assert!(!c.missing.is_empty());
    serde_json::to_string(&c).expect("serialize");
}
