//! population.jsonl: one person per line, reading back to the same persons; identities are
//! synthetic and consistent with birth date and sex; ids are unique within the kommune.

use std::collections::HashSet;
use std::io::BufRead;

use iplos_generators::{GenConfig, Person, generate_kommune};
use iplos_model::ids::{OrgNr, PersonId, PersonIdKind};
use iplos_model::municipality::lookup;

#[test]
fn jsonl_round_trip() {
    let m = lookup(2024, "1103").unwrap();
    let d = generate_kommune(2024, m, &GenConfig::with_scale(0.1), 3).unwrap();
    let bytes = d.write_population_jsonl(Vec::new()).unwrap();
    let lines: Vec<String> = bytes.lines().map(|l| l.unwrap()).collect();
    assert_eq!(lines.len(), d.persons.len());
    for (line, p) in lines.iter().zip(&d.persons) {
        let back: Person = serde_json::from_str(line).unwrap();
        assert_eq!(&back, p);
        assert_eq!(line.contains("\"tjeneste_navn\""), !p.services.is_empty());
    }
    assert!(d.persons.iter().any(|p| !p.registration_errors.is_empty()));
}

#[test]
fn identities_are_synthetic_consistent_and_unique() {
    for (year, nr, scale) in [
        (2024u16, "0301", 0.05),
        (2017, "1151", 1.0),
        (2017, "1201", 0.05),
    ] {
        let m = lookup(year, nr).unwrap();
        let d = generate_kommune(year, m, &GenConfig::with_scale(scale), 9).unwrap();
        let cutoff = chrono::NaiveDate::from_ymd_opt(i32::from(year), 1, 1).unwrap();
        let mut bruker = HashSet::new();
        let mut tjeneste = HashSet::new();
        let mut guids = HashSet::new();
        for p in &d.persons {
            let id = PersonId::parse(&p.fid).unwrap();
            assert!(id.is_synthetic());
            assert_eq!(Some(id.kind()), p.id_kind);
            assert!(matches!(
                p.id_kind,
                Some(PersonIdKind::Fodselsnummer | PersonIdKind::DNummer)
            ));
            assert_eq!(id.birth_date(), Some(p.birth_date));
            assert_eq!(id.sex(), Some(p.sex));
            assert_eq!(
                iplos_generators::population::age_at(p.birth_date, cutoff),
                i32::from(p.age)
            );
            assert!(p.bruker_nr.starts_with(&format!("{nr}-")) && p.bruker_nr.len() == 11);
            assert!(bruker.insert(p.bruker_nr.clone()));
            assert!(guids.insert(p.pasient_guid.clone()));
            assert_eq!(p.bydel.is_some(), matches!(nr, "0301" | "1201"));
            if let Some(b) = &p.bydel {
                assert!(b.starts_with(nr) && b.len() == 6);
            }
            assert!(!p.services.is_empty() || !p.welfare_technology.is_empty());
            for s in &p.services {
                assert!(tjeneste.insert(s.tjeneste_id.clone()));
                assert!(!s.tjeneste_type.is_retired());
                assert_eq!(s.tjeneste_navn.0, s.tjeneste_type.name());
                assert!(s.start >= p.birth_date);
                if let Some(o) = &s.provider {
                    OrgNr::parse(o).unwrap();
                }
                let needs = matches!(
                    s.tjeneste_type.0,
                    1 | 2 | 3 | 4 | 8 | 15 | 17 | 18 | 19 | 20 | 21 | 22 | 25
                );
                if needs {
                    assert!(s.provider.is_some(), "{}", s.tjeneste_type);
                }
                if s.tjeneste_type.0 == 29 {
                    assert!(s.provider.is_none());
                }
                assert!(s.start_registered.date() >= s.start);
            }
        }
        let d_share = d.stats.d_numbers as f64 / d.persons.len() as f64;
        assert!(d_share < 0.1, "{d_share}");
    }
}
