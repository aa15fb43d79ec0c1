//! Behaviour of `iplos_model::ids`: person ids, organisasjonsnummer and HER-ids.
//!
//! The known-valid examples below were computed by hand (the arithmetic is in the
//! comments) and cross-checked with an independent script; they are not produced by the
//! code under test.

use chrono::NaiveDate;
use iplos_model::ids::{HerId, IdClass, IdError, OrgNr, PersonId, PersonIdKind, Sex, classify};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date exists")
}

fn person(s: &str) -> PersonId {
    match PersonId::parse(s) {
        Ok(id) => id,
        Err(e) => panic!("{s} should be valid: {e}"),
    }
}

/// (id, kind, synthetic, birth date, sex).
type Example = (
    &'static str,
    PersonIdKind,
    bool,
    Option<NaiveDate>,
    Option<Sex>,
);

/// Valid person ids, each computed by hand.
fn hand_computed() -> Vec<Example> {
    use PersonIdKind::*;
    vec![
        // 15.05.85, individnummer 123 (000-499 → 1900s; 3 odd → male).
        // k1 = 3·1+7·5+6·0+1·5+8·8+9·5+4·1+5·2+2·3 = 172; 172 mod 11 = 7; 11-7 = 4.
        // k2 = 5·1+4·5+3·0+2·5+7·8+6·5+5·1+4·2+3·3+2·4 = 151; 151 mod 11 = 8; 11-8 = 3.
        (
            "15058512343",
            Fodselsnummer,
            false,
            Some(date(1985, 5, 15)),
            Some(Sex::Male),
        ),
        // The same person, synthetic: month 05 + 80 = 85.
        // k1 = 3+35+48+5+64+45+4+10+6 = 220; 220 mod 11 = 0; 11 → 0.
        // k2 = 5+20+24+10+56+30+5+8+9+2·0 = 167; 167 mod 11 = 2; 11-2 = 9.
        (
            "15858512309",
            Fodselsnummer,
            true,
            Some(date(1985, 5, 15)),
            Some(Sex::Male),
        ),
        // D-nummer: day 15 + 40 = 55.
        // k1 = 15+35+0+5+64+45+4+10+6 = 184; 184 mod 11 = 8; 11-8 = 3.
        // k2 = 25+20+0+10+56+30+5+8+9+6 = 169; 169 mod 11 = 4; 11-4 = 7.
        (
            "55058512337",
            DNummer,
            false,
            Some(date(1985, 5, 15)),
            Some(Sex::Male),
        ),
        // Synthetic D-nummer: day + 40, month + 80, individnummer 124 (even → female).
        // (With 123, k1 = 232 mod 11 = 1 → 10: impossible; see the error test below.)
        // k1 = 15+35+48+5+64+45+4+10+8 = 234; 234 mod 11 = 3; 11-3 = 8.
        // k2 = 25+20+24+10+56+30+5+8+12+16 = 206; 206 mod 11 = 8; 11-8 = 3.
        (
            "55858512483",
            DNummer,
            true,
            Some(date(1985, 5, 15)),
            Some(Sex::Female),
        ),
        // H-nummer: month 05 + 40 = 45.
        // k1 = 3+35+24+5+64+45+4+10+6 = 196; 196 mod 11 = 9; 11-9 = 2.
        // k2 = 5+20+12+10+56+30+5+8+9+4 = 159; 159 mod 11 = 5; 11-5 = 6.
        (
            "15458512326",
            HNummer,
            false,
            Some(date(1985, 5, 15)),
            Some(Sex::Male),
        ),
        // 29.02.04 (leap day), individnummer 512 (500-999 with YY ≤ 39 → 2004; female).
        // k1 = 6+63+0+2+0+36+20+5+4 = 136; 136 mod 11 = 4; 11-4 = 7.
        // k2 = 10+36+0+4+0+24+25+4+6+14 = 123; 123 mod 11 = 2; 11-2 = 9.
        (
            "29020451279",
            Fodselsnummer,
            false,
            Some(date(2004, 2, 29)),
            Some(Sex::Female),
        ),
        // 01.01.80, individnummer 600 (500-749 with YY ≥ 54 → 1880; female).
        // k1 = 0+7+0+1+64+0+24+0+0 = 96; 96 mod 11 = 8; 11-8 = 3.
        // k2 = 0+4+0+2+56+0+30+0+0+6 = 98; 98 mod 11 = 10; 11-10 = 1.
        (
            "01018060031",
            Fodselsnummer,
            false,
            Some(date(1880, 1, 1)),
            Some(Sex::Female),
        ),
        // 31.12.45, individnummer 951 (900-999 with YY ≥ 40 → 1945; male).
        // k1 = 9+7+6+2+32+45+36+25+2 = 164; 164 mod 11 = 10; 11-10 = 1.
        // k2 = 15+4+3+4+28+30+45+20+3+2 = 154; 154 mod 11 = 0; 11 → 0.
        (
            "31124595110",
            Fodselsnummer,
            false,
            Some(date(1945, 12, 31)),
            Some(Sex::Male),
        ),
        // FH-nummer 912345678..: k1 = 27+7+12+3+32+45+24+35+16 = 201; mod 11 = 3; → 8.
        // k2 = 45+4+6+6+28+30+30+28+24+16 = 217; 217 mod 11 = 8; 11-8 = 3.
        ("91234567883", FhNummer, false, None, None),
        // FH-nummer 800000000..: k1 = 24; 24 mod 11 = 2; → 9. k2 = 40+18 = 58; mod 11 = 3; → 8.
        ("80000000098", FhNummer, false, None, None),
    ]
}

#[test]
fn hand_computed_examples_parse_with_their_properties() {
    for (s, kind, synthetic, birth, sex) in hand_computed() {
        let id = person(s);
        assert_eq!(id.kind(), kind, "{s}");
        assert_eq!(id.is_synthetic(), synthetic, "{s}");
        assert_eq!(id.birth_date(), birth, "{s}");
        assert_eq!(id.sex(), sex, "{s}");
        assert_eq!(id.to_string(), s);
        assert_eq!(s.parse::<PersonId>(), Ok(id));
    }
}

#[test]
fn individnummer_is_reported() {
    assert_eq!(person("15058512343").individnummer(), Some(123));
    assert_eq!(person("01018060031").individnummer(), Some(600));
    assert_eq!(person("91234567883").individnummer(), None);
}

#[test]
fn kodeverk_9032_codes() {
    assert_eq!(PersonIdKind::Fodselsnummer.type_id(), 1);
    assert_eq!(PersonIdKind::DNummer.type_id(), 2);
    assert_eq!(PersonIdKind::HNummer.type_id(), 3);
    assert_eq!(PersonIdKind::FhNummer.type_id(), 12);
}

#[test]
fn wrong_check_digits_are_named() {
    // 15058512343 with k1 changed from 4 to 5.
    let e = PersonId::parse("15058512353").expect_err("k1 wrong");
    assert_eq!(
        e,
        IdError::CheckDigit {
            what: "person id",
            which: 1,
            position: 10,
            found: 5,
            expected: 4
        }
    );
    assert_eq!(
        e.to_string(),
        "person id: check digit 1 (character 10) is 5, expected 4"
    );
    // k2 changed from 3 to 0.
    assert_eq!(
        PersonId::parse("15058512340"),
        Err(IdError::CheckDigit {
            what: "person id",
            which: 2,
            position: 11,
            found: 0,
            expected: 3
        })
    );
    // 558585123: k1 sum 232, 232 mod 11 = 1 → k1 would be 10.
    for tail in ["00", "37", "99"] {
        let s = format!("558585123{tail}");
        assert_eq!(
            PersonId::parse(&s),
            Err(IdError::CheckDigitImpossible {
                what: "person id",
                which: 1,
                position: 10
            }),
            "{s}"
        );
    }
    // 311245950: k1 = 3 (sum 162), then k2 sum = 155, 155 mod 11 = 1 → k2 would be 10.
    assert_eq!(
        PersonId::parse("31124595030"),
        Err(IdError::CheckDigitImpossible {
            what: "person id",
            which: 2,
            position: 11
        })
    );
}

#[test]
fn structural_errors_are_named() {
    // 29.02.2003 does not exist. k1 = 127 mod 11 = 6 → 5; k2 = 113 mod 11 = 3 → 8.
    let e = PersonId::parse("29020351258").expect_err("no 29 Feb 2003");
    assert_eq!(
        e,
        IdError::InvalidDate {
            year: 2003,
            month: 2,
            day: 29
        }
    );
    assert_eq!(
        e.to_string(),
        "person id: birth date 29.02.2003 (digits 1-6) does not exist"
    );
    // Individnummer 800 with YY 45: 750-899 is only used with YY ≤ 39.
    // k1 = 117 mod 11 = 7 → 4; k2 = 112 mod 11 = 2 → 9.
    assert_eq!(
        PersonId::parse("01014580049"),
        Err(IdError::IndividnummerOutOfRange {
            individnummer: 800,
            year_digits: 45
        })
    );
}

/// Builds a valid id from nine body digits (check digits added here, in the test, by the
/// textbook rule) so structural errors can be reached.
fn with_checks(body: &str) -> Option<String> {
    fn k(digits: &[u32], weights: &[u32]) -> Option<u32> {
        let s: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        match 11 - s % 11 {
            11 => Some(0),
            10 => None,
            k => Some(k),
        }
    }
    let mut d: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
    let k1 = k(&d, &[3, 7, 6, 1, 8, 9, 4, 5, 2])?;
    d.push(k1);
    let k2 = k(&d, &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2])?;
    Some(format!("{body}{k1}{k2}"))
}

#[test]
fn day_and_month_fields_are_checked() {
    // Find, for each bad field, an individnummer giving valid check digits.
    let reach = |prefix: &str| -> String {
        (0..500)
            .find_map(|i| with_checks(&format!("{prefix}{i:03}")))
            .expect("some individnummer has valid check digits")
    };
    for (prefix, expected) in [
        ("000185", IdError::DayOutOfRange { value: 0 }),
        ("320185", IdError::DayOutOfRange { value: 32 }),
        ("400185", IdError::DayOutOfRange { value: 40 }),
        ("720185", IdError::DayOutOfRange { value: 72 }),
        ("790185", IdError::DayOutOfRange { value: 79 }),
        ("010085", IdError::MonthOutOfRange { value: 0 }),
        ("011385", IdError::MonthOutOfRange { value: 13 }),
        ("014085", IdError::MonthOutOfRange { value: 40 }),
        ("015385", IdError::MonthOutOfRange { value: 53 }),
        ("018085", IdError::MonthOutOfRange { value: 80 }),
        ("019385", IdError::MonthOutOfRange { value: 93 }),
        (
            "414185",
            IdError::DAndHCombined {
                day_field: 41,
                month_field: 41,
            },
        ),
    ] {
        let s = reach(prefix);
        assert_eq!(PersonId::parse(&s), Err(expected), "{s}");
    }
    // Day field 71 (31 + 40) in March is a valid D-nummer ...
    let s = reach("710385");
    assert_eq!(
        PersonId::parse(&s).map(|p| p.kind()),
        Ok(PersonIdKind::DNummer),
        "{s}"
    );
    // 31 April (D-nummer 71, month 04) does not exist.
    let s = reach("710485");
    assert_eq!(
        PersonId::parse(&s),
        Err(IdError::InvalidDate {
            year: 1985,
            month: 4,
            day: 31
        })
    );
}

#[test]
fn century_rules() {
    // (month and year digits, individnummer, expected birth year or None); the day is
    // chosen so that the check digits come out valid.
    let cases: [(&str, u16, Option<i32>); 14] = [
        ("0154", 500, Some(1854)),
        ("0199", 749, Some(1899)),
        ("0153", 500, None), // 500-749 need YY ≥ 54 (1800s) or YY ≤ 39 (2000s)
        ("0100", 0, Some(1900)),
        ("0199", 499, Some(1999)),
        ("0140", 900, Some(1940)),
        ("0199", 999, Some(1999)),
        ("0139", 900, Some(2039)),
        ("0100", 500, Some(2000)),
        ("0139", 999, Some(2039)),
        ("0130", 750, Some(2030)),
        ("0140", 750, None), // 750-899 only for 2000-2039
        ("0145", 899, None),
        ("0199", 800, None),
    ];
    for (month_year, ind, year) in cases {
        let s = (1..=28)
            .find_map(|day| with_checks(&format!("{day:02}{month_year}{ind:03}")))
            .expect("some day gives valid check digits");
        let parsed = PersonId::parse(&s);
        match year {
            Some(y) => {
                let id = parsed.unwrap_or_else(|e| panic!("{s}: {e}"));
                assert_eq!(
                    id.birth_date().map(|d| chrono::Datelike::year(&d)),
                    Some(y),
                    "{s}"
                );
            }
            None => assert!(
                matches!(
                    parsed,
                    Err(IdError::IndividnummerOutOfRange { individnummer, .. }) if individnummer == ind
                ),
                "{s}: {parsed:?}"
            ),
        }
    }
}

#[test]
fn whitespace_and_non_ascii_are_rejected() {
    let cases = [
        (
            " 15858512309",
            IdError::Length {
                what: "person id",
                expected: 11,
                found: 12,
            },
        ),
        (
            "15858512309\n",
            IdError::Length {
                what: "person id",
                expected: 11,
                found: 12,
            },
        ),
        (
            "158585 2309",
            IdError::NotDigit {
                what: "person id",
                position: 7,
                found: ' ',
            },
        ),
        (
            // Arabic-Indic digit nine: a Unicode digit, not an ASCII one.
            "1585851230\u{669}",
            IdError::NotDigit {
                what: "person id",
                position: 11,
                found: '\u{669}',
            },
        ),
        (
            // Fullwidth digit one.
            "\u{ff11}5858512309",
            IdError::NotDigit {
                what: "person id",
                position: 1,
                found: '\u{ff11}',
            },
        ),
        (
            "",
            IdError::Length {
                what: "person id",
                expected: 11,
                found: 0,
            },
        ),
        (
            // 11 characters but 22 bytes: lengths count characters.
            "ææææææææææø",
            IdError::NotDigit {
                what: "person id",
                position: 1,
                found: 'æ',
            },
        ),
        (
            // 6 characters, 12 bytes.
            "ææøøåå",
            IdError::Length {
                what: "person id",
                expected: 11,
                found: 6,
            },
        ),
        (
            "1585851230ø",
            IdError::NotDigit {
                what: "person id",
                position: 11,
                found: 'ø',
            },
        ),
    ];
    for (s, expected) in cases {
        assert_eq!(PersonId::parse(s), Err(expected), "{s:?}");
    }
    assert_eq!(
        PersonId::parse("158585 2309").map_err(|e| e.to_string()),
        Err("person id: character 7 is ' ', expected a digit 0-9".to_string())
    );
}

#[test]
fn error_messages_do_not_repeat_the_input() {
    for s in ["15058512353", "29020351258", "01014580049", "15058512340"] {
        let msg = PersonId::parse(s).expect_err("invalid").to_string();
        assert!(!msg.contains(s), "{msg}");
        assert!(!msg.contains(&s[..6]), "{msg}");
    }
}

#[test]
fn generators_reject_what_they_cannot_make() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let d = date(1985, 5, 15);
    assert!(matches!(
        PersonId::generate_synthetic(&mut rng, d, Sex::Male, PersonIdKind::HNummer),
        Err(IdError::UnsupportedKind { .. })
    ));
    assert!(matches!(
        PersonId::generate_synthetic(&mut rng, d, Sex::Male, PersonIdKind::FhNummer),
        Err(IdError::UnsupportedKind { .. })
    ));
    assert!(matches!(
        PersonId::generate_real_looking(&mut rng, d, Sex::Male, PersonIdKind::FhNummer),
        Err(IdError::UnsupportedKind { .. })
    ));
    for year in [1853, 2040, -5, 9999] {
        assert_eq!(
            PersonId::generate_synthetic(
                &mut rng,
                date(year, 1, 1),
                Sex::Female,
                PersonIdKind::Fodselsnummer
            ),
            Err(IdError::BirthYearOutOfRange { year })
        );
    }
}

#[test]
fn generation_is_deterministic_per_seed() {
    let make = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..20)
            .map(|_| {
                PersonId::generate_synthetic(
                    &mut rng,
                    date(1930, 6, 30),
                    Sex::Female,
                    PersonIdKind::Fodselsnummer,
                )
                .expect("valid request")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(make(7), make(7));
    assert_ne!(make(7), make(8));
}

#[test]
fn orgnr_examples() {
    // 97476067: 9·3+7·2+4·7+7·6+6·5+0·4+6·3+7·2 = 173; 173 mod 11 = 8; 11-8 = 3.
    let o = OrgNr::parse("974760673").expect("valid");
    assert_eq!(o.to_string(), "974760673");
    // 81234567: 24+2+14+18+20+20+18+14 = 130; 130 mod 11 = 9; 11-9 = 2.
    assert!(OrgNr::parse("812345672").is_ok());
    // 90000003: 27+6 = 33; 33 mod 11 = 0; 11 → 0.
    assert!(OrgNr::parse("900000030").is_ok());
    // 91234567: 27+2+14+18+20+20+18+14 = 133; 133 mod 11 = 1 → 10: no valid check digit.
    assert_eq!(
        OrgNr::parse("912345670"),
        Err(IdError::CheckDigitImpossible {
            what: "organisasjonsnummer",
            which: 1,
            position: 9
        })
    );
    assert_eq!(
        OrgNr::parse("974760674").map_err(|e| e.to_string()),
        Err("organisasjonsnummer: check digit 1 (character 9) is 4, expected 3".to_string())
    );
    assert_eq!(
        OrgNr::parse("974 760 673"),
        Err(IdError::Length {
            what: "organisasjonsnummer",
            expected: 9,
            found: 11
        })
    );
}

#[test]
fn her_id_examples() {
    for (s, v) in [("131725", 131725), ("134197", 134197), ("1", 1)] {
        let h = HerId::parse(s).expect("valid");
        assert_eq!(h.get(), v);
        assert_eq!(h.to_string(), s);
        assert_eq!(HerId::new(v), Ok(h));
    }
    assert_eq!(HerId::parse("0"), Err(IdError::Zero { what: "HER-id" }));
    assert_eq!(
        HerId::parse("0131725"),
        Err(IdError::LeadingZero { what: "HER-id" })
    );
    assert_eq!(
        HerId::parse(""),
        Err(IdError::LengthRange {
            what: "HER-id",
            min: 1,
            max: 9,
            found: 0
        })
    );
    assert_eq!(
        HerId::parse("1234567890"),
        Err(IdError::LengthRange {
            what: "HER-id",
            min: 1,
            max: 9,
            found: 10
        })
    );
    assert_eq!(
        HerId::parse("12a"),
        Err(IdError::NotDigit {
            what: "HER-id",
            position: 3,
            found: 'a'
        })
    );
    assert_eq!(
        HerId::parse("-5").map_err(|e| e.to_string()),
        Err("HER-id: character 1 is '-', expected a digit 0-9".to_string())
    );
    assert_eq!(HerId::new(0), Err(IdError::Zero { what: "HER-id" }));
    assert_eq!(
        HerId::new(1_000_000_000),
        Err(IdError::HerIdTooLarge {
            value: 1_000_000_000
        })
    );
    assert_eq!(HerId::new(999_999_999).map(u32::from), Ok(999_999_999));
}

#[test]
fn serde_as_strings() {
    let id = person("15858512309");
    assert_eq!(serde_json::to_string(&id).expect("ser"), "\"15858512309\"");
    assert_eq!(
        serde_json::from_str::<PersonId>("\"15858512309\"").expect("de"),
        id
    );
    let err = serde_json::from_str::<PersonId>("\"15858512300\"").expect_err("bad k2");
    assert!(err.to_string().contains("check digit 2"), "{err}");
    assert!(serde_json::from_str::<PersonId>("15858512309").is_err());

    let o = OrgNr::parse("974760673").expect("valid");
    assert_eq!(serde_json::to_string(&o).expect("ser"), "\"974760673\"");
    assert_eq!(
        serde_json::from_str::<OrgNr>("\"974760673\"").expect("de"),
        o
    );

    let h = HerId::parse("131725").expect("valid");
    assert_eq!(serde_json::to_string(&h).expect("ser"), "\"131725\"");
    assert_eq!(serde_json::from_str::<HerId>("\"131725\"").expect("de"), h);
    assert!(serde_json::from_str::<HerId>("131725").is_err());
}

#[test]
fn classify_says_what_a_string_looks_like() {
    let cases = [
        ("15858512309", "valid synthetic fødselsnummer"),
        ("15058512343", "valid real-looking fødselsnummer"),
        ("55858512483", "valid synthetic D-nummer"),
        ("55058512337", "valid real-looking D-nummer"),
        ("15458512326", "valid real-looking H-nummer"),
        ("91234567883", "valid real-looking FH-nummer"),
        ("974760673", "valid organisasjonsnummer"),
        (
            "15058512353",
            "invalid: person id: check digit 1 (character 10) is 5, expected 4",
        ),
        (
            "974760674",
            "invalid: organisasjonsnummer: check digit 1 (character 9) is 4, expected 3",
        ),
        ("abc", "invalid: person id has 3 characters, expected 11"),
    ];
    for (s, text) in cases {
        assert_eq!(classify(s).to_string(), text, "{s}");
    }
    assert!(classify("15058512343").is_possibly_real_person());
    assert!(!classify("15858512309").is_possibly_real_person());
    assert!(!classify("974760673").is_possibly_real_person());
    assert_eq!(classify("974760673"), IdClass::OrgNr);
}

#[test]
fn every_single_digit_change_of_hand_examples_is_rejected() {
    let mut ids: Vec<&str> = hand_computed().iter().map(|c| c.0).collect();
    ids.push("80000000098");
    for s in ids {
        for (pos, new) in all_substitutions(s) {
            let changed = substitute(s, pos, new);
            assert!(
                PersonId::parse(&changed).is_err(),
                "{s} → {changed} (position {}) still valid",
                pos + 1
            );
        }
    }
}

fn all_substitutions(s: &str) -> Vec<(usize, char)> {
    let mut out = Vec::new();
    for (pos, c) in s.chars().enumerate() {
        for new in '0'..='9' {
            if new != c {
                out.push((pos, new));
            }
        }
    }
    out
}

fn substitute(s: &str, pos: usize, new: char) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| if i == pos { new } else { c })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

fn birth_dates() -> impl Strategy<Value = NaiveDate> {
    let first = date(1854, 1, 1);
    let days = date(2039, 12, 31).signed_duration_since(first).num_days();
    (0..=days).prop_map(move |n| first + chrono::Duration::days(n))
}

fn sexes() -> impl Strategy<Value = Sex> {
    prop_oneof![Just(Sex::Male), Just(Sex::Female)]
}

/// Any valid person id the generators can make, with what was asked for.
fn any_valid_person_id() -> impl Strategy<Value = PersonId> {
    (any::<u64>(), birth_dates(), sexes(), 0..6u8).prop_map(|(seed, d, sex, which)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let r = match which {
            0 => PersonId::generate_synthetic(&mut rng, d, sex, PersonIdKind::Fodselsnummer),
            1 => PersonId::generate_synthetic(&mut rng, d, sex, PersonIdKind::DNummer),
            2 => PersonId::generate_real_looking(&mut rng, d, sex, PersonIdKind::Fodselsnummer),
            3 => PersonId::generate_real_looking(&mut rng, d, sex, PersonIdKind::DNummer),
            4 => PersonId::generate_real_looking(&mut rng, d, sex, PersonIdKind::HNummer),
            _ => Ok(PersonId::generate_fh(&mut rng)),
        };
        r.expect("dates 1854-2039 are supported")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_synthetic_ids_validate(
        seed in any::<u64>(),
        d in birth_dates(),
        sex in sexes(),
        d_nummer in any::<bool>(),
    ) {
        let kind = if d_nummer { PersonIdKind::DNummer } else { PersonIdKind::Fodselsnummer };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let id = PersonId::generate_synthetic(&mut rng, d, sex, kind).expect("supported");
        let parsed = PersonId::parse(&id.to_string());
        prop_assert_eq!(parsed, Ok(id));
        prop_assert!(id.is_synthetic());
        prop_assert_eq!(id.kind(), kind);
        prop_assert_eq!(id.birth_date(), Some(d));
        prop_assert_eq!(id.sex(), Some(sex));
        prop_assert!(classify(&id.to_string()).to_string().starts_with("valid synthetic"));
    }

    #[test]
    fn generated_real_looking_ids_validate(
        seed in any::<u64>(),
        d in birth_dates(),
        sex in sexes(),
        which in 0..3u8,
    ) {
        let kind = [PersonIdKind::Fodselsnummer, PersonIdKind::DNummer, PersonIdKind::HNummer]
            [usize::from(which)];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let id = PersonId::generate_real_looking(&mut rng, d, sex, kind).expect("supported");
        prop_assert_eq!(PersonId::parse(&id.to_string()), Ok(id));
        prop_assert!(!id.is_synthetic());
        prop_assert_eq!(id.kind(), kind);
        prop_assert_eq!(id.birth_date(), Some(d));
        prop_assert_eq!(id.sex(), Some(sex));
    }

    #[test]
    fn generated_fh_numbers_validate(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let id = PersonId::generate_fh(&mut rng);
        let s = id.to_string();
        prop_assert_eq!(PersonId::parse(&s), Ok(id));
        prop_assert_eq!(id.kind(), PersonIdKind::FhNummer);
        prop_assert!(!id.is_synthetic());
        prop_assert_eq!(id.birth_date(), None);
        prop_assert_eq!(id.sex(), None);
        prop_assert!(s.starts_with('8') || s.starts_with('9'));
    }

    #[test]
    fn generated_orgnr_validate(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let o = OrgNr::generate(&mut rng);
        let s = o.to_string();
        prop_assert_eq!(OrgNr::parse(&s), Ok(o));
        prop_assert!(s.starts_with('8') || s.starts_with('9'));
    }

    /// The required property: a single-digit change is rejected or changes the kind or the
    /// synthetic flag. (The stronger fact checked next: it is always rejected.)
    #[test]
    fn single_digit_change_is_rejected_or_changes_kind(
        id in any_valid_person_id(),
        pos in 0..11usize,
        delta in 1..10u32,
    ) {
        let s = id.to_string();
        let old = s.chars().nth(pos).and_then(|c| c.to_digit(10)).expect("digit");
        let new = char::from_digit((old + delta) % 10, 10).expect("digit");
        let changed = substitute(&s, pos, new);
        match PersonId::parse(&changed) {
            Err(_) => {}
            Ok(other) => prop_assert!(
                other.kind() != id.kind() || other.is_synthetic() != id.is_synthetic(),
                "{} → {} is still a valid {}", s, changed, id.kind()
            ),
        }
    }

    /// With weights that are all non-zero mod 11, every single-digit substitution changes
    /// a check digit: no single-digit change of a valid id is valid.
    #[test]
    fn single_digit_change_is_always_rejected(
        id in any_valid_person_id(),
        pos in 0..11usize,
        delta in 1..10u32,
    ) {
        let s = id.to_string();
        let old = s.chars().nth(pos).and_then(|c| c.to_digit(10)).expect("digit");
        let new = char::from_digit((old + delta) % 10, 10).expect("digit");
        let changed = substitute(&s, pos, new);
        prop_assert!(PersonId::parse(&changed).is_err(), "{} → {}", s, changed);
    }

    #[test]
    fn single_digit_change_of_orgnr_is_rejected(
        seed in any::<u64>(),
        pos in 0..9usize,
        delta in 1..10u32,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let s = OrgNr::generate(&mut rng).to_string();
        let old = s.chars().nth(pos).and_then(|c| c.to_digit(10)).expect("digit");
        let new = char::from_digit((old + delta) % 10, 10).expect("digit");
        let changed = substitute(&s, pos, new);
        prop_assert!(OrgNr::parse(&changed).is_err(), "{} → {}", s, changed);
    }

    #[test]
    fn parsers_never_panic_on_any_string(s in any::<String>()) {
        let _ = PersonId::parse(&s);
        let _ = OrgNr::parse(&s);
        let _ = HerId::parse(&s);
        let _ = classify(&s).to_string();
    }

    #[test]
    fn parsers_never_panic_on_digit_like_strings(s in "[0-9\u{660}-\u{669}\u{ff10}-\u{ff19} æ-]{0,13}") {
        let _ = PersonId::parse(&s);
        let _ = OrgNr::parse(&s);
        let _ = HerId::parse(&s);
        let _ = classify(&s).to_string();
    }

    /// Random 11-digit strings: whatever parses round-trips and is self-consistent.
    #[test]
    fn random_digit_strings_parse_consistently(s in "[0-9]{11}") {
        if let Ok(id) = PersonId::parse(&s) {
            prop_assert_eq!(id.to_string(), s.clone());
            let fh = s.starts_with('8') || s.starts_with('9');
            prop_assert_eq!(id.kind() == PersonIdKind::FhNummer, fh);
            prop_assert_eq!(id.birth_date().is_none(), fh);
            prop_assert_eq!(id.sex().is_none(), fh);
            prop_assert_eq!(id.is_synthetic(), !fh && matches!(&s[2..3], "8" | "9"));
        }
    }

    #[test]
    fn her_ids_round_trip(v in 1..=999_999_999u32) {
        let h = HerId::new(v).expect("in range");
        prop_assert_eq!(HerId::parse(&h.to_string()), Ok(h));
        prop_assert_eq!(h.get(), v);
    }
}
