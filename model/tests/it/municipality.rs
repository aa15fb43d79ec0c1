//! The municipality registry: counts, identifiers, addresses, population and the changes of
//! kommunenummer between data years.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

use iplos_model::municipality::{
    self, Municipality, RegistryError, Sex, lookup, municipalities, predecessors, successors,
};
use proptest::prelude::*;

const NATIONAL_2023: u64 = 5_488_984;

fn expected_count(year: u16) -> usize {
    match year {
        2016 => 428,
        2017 => 426,
        2018 | 2019 => 422,
        2020..=2023 => 356,
        _ => 357,
    }
}

fn get(year: u16, number: &str) -> &'static Municipality {
    match lookup(year, number) {
        Ok(m) => m,
        Err(e) => panic!("{number} in {year}: {e}"),
    }
}

fn list(year: u16) -> &'static [Municipality] {
    match municipalities(year) {
        Ok(l) => l,
        Err(e) => panic!("{year}: {e}"),
    }
}

fn orgnr_valid(s: &str) -> bool {
    let d: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if s.len() != 9 || d.len() != 9 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .zip([3, 2, 7, 6, 5, 4, 3, 2])
        .map(|(a, b)| a * b)
        .sum();
    let k = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        k => k,
    };
    d[8] == k
}

fn numbers(v: &[(String, f64)]) -> Vec<&str> {
    v.iter().map(|(n, _)| n.as_str()).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn counts_per_year() {
    assert_eq!(municipality::years(), 2016..=2026);
    for year in municipality::years() {
        assert_eq!(list(year).len(), expected_count(year), "year {year}");
    }
    for year in 2027..=2030 {
        assert_eq!(list(year).len(), 357, "year {year} (assumed unchanged)");
    }
}

#[test]
fn years_outside_are_rejected() {
    for year in [0, 2013, 2015, 2031, u16::MAX] {
        assert_eq!(
            municipalities(year).err(),
            Some(RegistryError::UnsupportedYear { year })
        );
        assert!(matches!(
            lookup(year, "0301"),
            Err(RegistryError::UnsupportedYear { .. })
        ));
    }
    let msg = municipalities(2015)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("2015") && msg.contains("2016") && msg.contains("2030"),
        "{msg}"
    );
}

#[test]
fn lists_are_sorted_unique_and_four_digits() {
    for year in municipality::supported_years() {
        let l = list(year);
        assert!(
            l.windows(2).all(|w| w[0].number() < w[1].number()),
            "{year}"
        );
        for m in l {
            assert!(m.number().len() == 4 && m.number().bytes().all(|b| b.is_ascii_digit()));
            assert_ne!(m.number(), "9999", "the pseudo-code must not be a kommune");
            assert!(!m.name().is_empty());
            assert!(m.valid_from() <= year);
            assert!(m.valid_to().is_none_or(|to| to >= year));
        }
    }
}

#[test]
fn oslo_and_utsira_every_year() {
    for year in municipality::supported_years() {
        let oslo = get(year, "0301");
        assert_eq!(oslo.name(), "Oslo");
        let p = oslo.population().total();
        assert!((700_000..=720_000).contains(&p), "Oslo {year}: {p}");
        let utsira = get(year, "1151");
        let p = utsira.population().total();
        assert!((200..=216).contains(&p), "Utsira {year}: {p}");
    }
    assert_eq!(get(2023, "0301").population().total(), 709_037);
    assert_eq!(get(2023, "1151").population().total(), 208);
}

#[test]
fn national_population_is_kept_every_year() {
    for year in municipality::supported_years() {
        let total: u64 = list(year).iter().map(|m| m.population().total()).sum();
        assert!(
            total.abs_diff(NATIONAL_2023) <= 5,
            "{year}: {total} vs {NATIONAL_2023}"
        );
        let old: u64 = list(year)
            .iter()
            .map(|m| m.population().in_band(80, 105))
            .sum();
        assert!(old.abs_diff(246_360) <= 5, "{year}: 80+ {old}");
    }
}

#[test]
fn population_accessors() {
    let p = get(2023, "0301").population();
    assert_eq!(p.in_band(0, 105), p.total());
    assert_eq!(p.in_band(0, 255), p.total());
    assert_eq!(p.in_band(10, 5), 0);
    assert_eq!(p.total_of(Sex::Male) + p.total_of(Sex::Female), p.total());
    assert_eq!(
        p.in_band_of(Sex::Female, 67, 79) + p.in_band_of(Sex::Male, 67, 79),
        p.in_band(67, 79)
    );
    assert_eq!(p.by_sex(Sex::Male).len(), 106);
    assert_eq!(p.count(Sex::Male, 0), 4203);
    assert_eq!(p.count(Sex::Female, 200), p.count(Sex::Female, 105));
    assert!(p.count(Sex::Female, 90) > p.count(Sex::Male, 90));
}

#[test]
fn merged_and_split_populations_add_up() {
    let sum = |year: u16, ns: &[&str]| -> u64 {
        ns.iter().map(|n| get(year, n).population().total()).sum()
    };
    // 2017 merger, backwards: the predecessors share the new kommune.
    assert_eq!(sum(2016, &["0706", "0719", "0720"]), sum(2017, &["0710"]));
    // 2018: Indre Fosen from Rissa and Leksvik, split evenly.
    let rissa = get(2017, "1624").population().total();
    let leksvik = get(2017, "1718").population().total();
    assert_eq!(rissa + leksvik, get(2018, "5054").population().total());
    assert!(rissa.abs_diff(leksvik) <= 212, "{rissa} vs {leksvik}");
    // 2024: Ålesund split into Ålesund and Haram by FHI's weighting (0.5).
    let alesund = get(2023, "1507").population();
    let (a, h) = (
        get(2024, "1508").population(),
        get(2024, "1580").population(),
    );
    for sex in [Sex::Male, Sex::Female] {
        for age in 0..=105 {
            assert_eq!(
                a.count(sex, age) + h.count(sex, age),
                alesund.count(sex, age)
            );
        }
    }
    assert!(a.total().abs_diff(h.total()) <= 212);
    // Tysfjord 2019 was split between Narvik and Hamarøy: it gets a share of both.
    let tysfjord = get(2019, "1850").population().total() as f64;
    let expect = get(2020, "1806").population().total() as f64 * 0.5 / 2.5
        + get(2020, "1875").population().total() as f64 * 0.5 / 1.5;
    assert!((tysfjord - expect).abs() <= 212.0, "{tysfjord} vs {expect}");
}

#[test]
fn orgnr_valid_and_unique() {
    let mut official = HashSet::new();
    let mut generated = HashSet::new();
    for year in municipality::supported_years() {
        let mut seen = HashSet::new();
        for m in list(year) {
            assert!(
                orgnr_valid(m.orgnr()),
                "{year} {} {}",
                m.number(),
                m.orgnr()
            );
            assert!(seen.insert(m.orgnr()), "{year}: {} twice", m.orgnr());
            if m.orgnr_official() {
                official.insert(m.orgnr());
            } else {
                assert!(m.orgnr().starts_with('8') || m.orgnr().starts_with('9'));
                generated.insert(m.orgnr());
            }
        }
    }
    assert!(official.is_disjoint(&generated));
    assert_eq!(
        official.len(),
        356,
        "all of SSB's 356, none lost, no others"
    );
}

#[test]
fn official_orgnr_and_carry_over() {
    let faerder = get(2020, "3811");
    assert_eq!(faerder.orgnr(), "817263992");
    assert!(faerder.orgnr_official());
    // the same entity before and after renumbering
    assert_eq!(get(2018, "0729").orgnr(), "817263992");
    assert_eq!(get(2024, "3911").orgnr(), "817263992");
    let halden = get(2020, "3001").orgnr();
    for (year, n) in [
        (2016, "0101"),
        (2019, "0101"),
        (2023, "3001"),
        (2024, "3101"),
    ] {
        assert_eq!(get(year, n).orgnr(), halden, "{n} {year}");
        assert!(get(year, n).orgnr_official());
    }
    // Trondheim keeps number and name while absorbing Klæbu in 2020
    assert_eq!(get(2016, "1601").orgnr(), get(2020, "5001").orgnr());
    assert!(get(2016, "1601").orgnr_official());
    // Ålesund continues as 1508 when Haram leaves; Haram gets a generated number
    assert_eq!(get(2024, "1508").orgnr(), get(2023, "1507").orgnr());
    assert!(!get(2024, "1580").orgnr_official());
    // merged pre-2020 kommuner have generated numbers, stable across their years
    let moss = get(2016, "0104");
    assert!(!moss.orgnr_official());
    assert_eq!(moss.orgnr(), get(2019, "0104").orgnr());
    assert_ne!(moss.orgnr(), get(2020, "3002").orgnr());
    // one entity through renumbering 2018: 1613 Snillfjord -> 5012 (split 2020)
    assert_eq!(get(2017, "1613").orgnr(), get(2018, "5012").orgnr());
}

#[test]
fn successor_examples() {
    assert_eq!(
        successors("1601", 2017, 2018),
        vec![("5001".to_string(), 1.0)]
    );
    assert_eq!(
        successors("1567", 2018, 2019),
        vec![("5061".to_string(), 1.0)]
    );
    assert_eq!(
        successors("0101", 2019, 2020),
        vec![("3001".to_string(), 1.0)]
    );
    assert_eq!(
        successors("3001", 2020, 2024),
        vec![("3101".to_string(), 1.0)]
    );
    assert_eq!(
        successors("0101", 2016, 2026),
        vec![("3101".to_string(), 1.0)]
    );
    assert_eq!(
        successors("0706", 2016, 2017),
        vec![("0710".to_string(), 1.0)]
    );
    assert_eq!(
        successors("0301", 2016, 2030),
        vec![("0301".to_string(), 1.0)]
    );
    assert_eq!(
        successors("0301", 2020, 2020),
        vec![("0301".to_string(), 1.0)]
    );
    let alesund = successors("1507", 2023, 2024);
    assert_eq!(numbers(&alesund), ["1508", "1580"]);
    assert!(alesund.iter().all(|(_, w)| close(*w, 0.5)));
    let snillfjord = successors("1613", 2016, 2020);
    assert_eq!(numbers(&snillfjord), ["5055", "5056", "5059"]);
    let w: Vec<f64> = snillfjord.iter().map(|s| s.1).collect();
    assert!(
        close(w[0], 0.35) && close(w[1], 0.35) && close(w[2], 0.3),
        "{w:?}"
    );
    assert_eq!(numbers(&successors("1850", 2019, 2020)), ["1806", "1875"]);
    // invalid input gives nothing
    assert!(successors("1601", 2018, 2019).is_empty());
    assert!(successors("0301", 2020, 2019).is_empty());
    assert!(successors("0301", 2015, 2016).is_empty());
    assert!(successors("abcd", 2016, 2017).is_empty());
}

#[test]
fn predecessor_examples() {
    assert_eq!(
        numbers(&predecessors("0710", 2017, 2016)),
        ["0706", "0719", "0720"]
    );
    assert_eq!(numbers(&predecessors("5054", 2018, 2017)), ["1624", "1718"]);
    assert_eq!(numbers(&predecessors("5001", 2020, 2019)), ["5001", "5030"]);
    assert_eq!(numbers(&predecessors("5001", 2020, 2016)), ["1601", "1662"]);
    assert_eq!(
        predecessors("3101", 2024, 2016),
        vec![("0101".to_string(), 1.0)]
    );
    let narvik = predecessors("1806", 2020, 2019);
    assert_eq!(numbers(&narvik), ["1805", "1850", "1854"]);
    assert!(close(narvik[1].1, 0.5));
    assert_eq!(
        predecessors("1580", 2024, 2023),
        vec![("1507".to_string(), 0.5)]
    );
    assert!(predecessors("1580", 2023, 2023).is_empty());
    assert!(predecessors("0301", 2016, 2017).is_empty());
}

#[test]
fn changes_are_complete_every_year() {
    for year in 2016..2030 {
        let next: HashSet<&str> = list(year + 1).iter().map(|m| m.number()).collect();
        for m in list(year) {
            let s = successors(m.number(), year, year + 1);
            let total: f64 = s.iter().map(|x| x.1).sum();
            assert!(close(total, 1.0), "{} {year}: {s:?}", m.number());
            assert!(s.iter().all(|(n, _)| next.contains(n.as_str())));
        }
        for m in list(year + 1) {
            assert!(
                !predecessors(m.number(), year + 1, year).is_empty(),
                "{} {}",
                m.number(),
                year + 1
            );
        }
    }
}

#[test]
fn lookup_of_an_old_number_names_the_successor() {
    let e = lookup(2018, "1601").err().map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("kommunenummer 1601 is not valid in 2018; it became 5001 Trondheim on 1 January 2018")
    );
    match lookup(2019, "1601") {
        Err(RegistryError::Replaced { successors, .. }) => {
            assert_eq!(successors, vec![("5001".into(), "Trondheim".into())]);
        }
        other => panic!("{other:?}"),
    }
    let e = lookup(2024, "0101")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("became 3001 Halden on 1 January 2020")
            && e.contains("in 2024 that is 3101 Halden"),
        "{e}"
    );
    let e = lookup(2018, "1624")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("merged into 5054 Indre Fosen on 1 January 2018"),
        "{e}"
    );
    let e = lookup(2024, "1507")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("split between 1508 Ålesund and 1580 Haram on 1 January 2024"),
        "{e}"
    );
    let e = lookup(2016, "5001")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("1 January 2018") && e.contains("1601 Trondheim"),
        "{e}"
    );
    assert!(matches!(
        lookup(2016, "5001"),
        Err(RegistryError::NotYetValid { .. })
    ));
}

#[test]
fn lookup_rejects_garbage_and_unknown_numbers() {
    for bad in [
        "",
        "301",
        "03010",
        "03O1",
        " 301",
        "０３０１",
        "-301",
        "03\u{0}1",
    ] {
        assert!(
            matches!(lookup(2020, bad), Err(RegistryError::Malformed { .. })),
            "{bad:?}"
        );
    }
    let e = lookup(2020, "9999")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("Uoppgitt"), "{e}");
    assert!(matches!(
        lookup(2020, "0000"),
        Err(RegistryError::Unknown { .. })
    ));
}

#[test]
fn postmottak_unique_and_well_formed() {
    for year in municipality::supported_years() {
        let mut seen = HashSet::new();
        for m in list(year) {
            let a = m.postmottak();
            let domain = a
                .strip_prefix("postmottak@")
                .and_then(|r| r.strip_suffix(".kommune.test"))
                .unwrap_or_else(|| panic!("{a}"));
            assert!(!domain.is_empty() && !domain.starts_with('-') && !domain.ends_with('-'));
            assert!(!domain.contains("--"), "{a}");
            assert!(
                domain
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{a}"
            );
            assert!(seen.insert(a), "{year}: {a} twice");
        }
    }
}

#[test]
fn postmottak_examples() {
    let cases = [
        (2020, "0301", "oslo"),
        (2020, "3030", "lillestrom"),
        (2020, "3020", "nordre-follo"),
        (2016, "0221", "aurskog-holand"),
        (2019, "1942", "nordreisa"),
        (2020, "5430", "kautokeino"),
        (2020, "5041", "snasa"),
        (2020, "5437", "karasjok"),
        (2016, "1818", "heroy-nordland"),
        (2016, "1515", "heroy-more-og-romsdal"),
        (2020, "1818", "heroy-nordland"),
        (2016, "0426", "valer-hedmark"),
        (2024, "3114", "valer-ostfold"),
        (2016, "0821", "bo-telemark"),
        (2020, "1867", "bo"),
        (2024, "4621", "voss"),
    ];
    for (year, n, domain) in cases {
        assert_eq!(
            get(year, n).postmottak(),
            format!("postmottak@{domain}.kommune.test"),
            "{n} {year}"
        );
    }
}

#[test]
fn counties() {
    assert_eq!(get(2020, "0301").county().number(), "03");
    assert_eq!(get(2020, "0301").county().name(), "Oslo");
    assert_eq!(get(2016, "1601").county().name(), "Sør-Trøndelag");
    assert_eq!(get(2020, "3001").county().name(), "Viken");
    assert_eq!(get(2024, "3101").county().name(), "Østfold");
    assert_eq!(get(2024, "1580").county().name(), "Møre og Romsdal");
}

#[test]
fn names_repaired_and_kept() {
    assert_eq!(get(2020, "5437").name(), "Kárášjohka - Karasjok");
    assert_eq!(get(2020, "5436").name(), "Porsanger - Porsáŋgu - Porsanki");
    assert_eq!(get(2020, "1818").name(), "Herøy (Nordland)");
    assert_eq!(get(2024, "1818").name(), "Herøy");
    assert_eq!(get(2024, "1580").name(), "Haram");
    assert!(list(2020).iter().all(|m| !m.name().contains('?')));
}

#[test]
fn serializes_to_json() {
    let json = serde_json::to_value(get(2020, "3811")).unwrap_or_default();
    assert_eq!(json["number"], "3811");
    assert_eq!(json["orgnr"], "817263992");
    assert_eq!(json["postmottak"], "postmottak@faerder.kommune.test");
    assert_eq!(json["county"]["number"], "38");
    assert_eq!(
        json["population"]["males"].as_array().map(Vec::len),
        Some(106)
    );
}

#[test]
fn tables_match_the_derivation_script() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = manifest.join("..");
    let shared = manifest.join("../../shared/data");
    assert!(
        shared.join("SOURCES.md").is_file(),
        "the shared data folder is missing at {} (CI keeps ../shared beside the repo); \
         this test checks model/data/ against it",
        shared.display()
    );
    let out = Command::new("python3")
        .arg(repo.join("data/derive_tables.py"))
        .arg("--check")
        .arg("--source")
        .arg(&shared)
        .current_dir(&repo)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 (needed by this test): {e}"));
    assert!(
        out.status.success(),
        "model/data/ differs from what data/derive_tables.py derives:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

proptest! {
    #[test]
    fn no_panic_on_any_input(number in "\\PC{0,6}", year in any::<u16>(), other in any::<u16>()) {
        let _ = lookup(year, &number);
        let _ = successors(&number, year, other);
        let _ = predecessors(&number, year, other);
        let _ = municipalities(year);
    }

    #[test]
    fn digits_never_panic(number in "[0-9]{4}", year in 2010u16..2035) {
        match lookup(year, &number) {
            Ok(m) => prop_assert_eq!(m.number(), number.as_str()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
