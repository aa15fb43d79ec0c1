//! Configuration: other id types give only the IPL20 warning, more reported service types
//! extend the messages, and invalid settings are refused.

use crate::common;
use iplos_generators::{GenConfig, GenError, generate_kommune};
use iplos_model::municipality::lookup;

#[test]
fn other_id_types_draw_only_the_no_kpr_id_warning() {
    let m = lookup(2024, "1103").unwrap();
    let cfg = GenConfig {
        other_id_share: 0.3,
        scale: 0.05,
        ..GenConfig::default()
    };
    let d = generate_kommune(2024, m, &cfg, 4).unwrap();
    assert!(d.stats.other_ids > 0);
    assert!(
        d.persons
            .iter()
            .any(|p| p.type_id == 9 && p.id_kind.is_none() && p.fid.len() == 6)
    );
    let (a, b) = common::check_both(&d);
    assert!(a.conformant && b.conformant);
    let rules: std::collections::HashSet<&str> = a
        .findings
        .iter()
        .chain(&b.findings)
        .map(|f| f.rule)
        .collect();
    assert_eq!(rules.into_iter().collect::<Vec<_>>(), vec!["IPL20"]);
}

#[test]
fn more_reported_types_extend_the_message() {
    let m = lookup(2024, "1151").unwrap();
    let cfg = GenConfig {
        reported_types: vec![
            1, 2, 3, 4, 5, 7, 8, 9, 11, 15, 17, 18, 19, 20, 21, 22, 25, 29,
        ],
        ..GenConfig::default()
    };
    let d = generate_kommune(2024, m, &cfg, 4).unwrap();
    common::assert_clean(&d);
    let base = generate_kommune(2024, m, &GenConfig::default(), 4).unwrap();
    assert!(d.stats.notifications > base.stats.notifications);
    assert_eq!(d.persons.len(), base.persons.len());
    assert!(
        d.melding
            .notifikasjoner
            .iter()
            .all(|n| n.events[0].tjeneste_type != "6")
    );
}

#[test]
fn invalid_settings_are_refused() {
    let m = lookup(2024, "1151").unwrap();
    for cfg in [
        GenConfig {
            reported_types: vec![6],
            ..GenConfig::default()
        },
        GenConfig {
            reported_types: vec![13],
            ..GenConfig::default()
        },
        GenConfig {
            scale: -1.0,
            ..GenConfig::default()
        },
        GenConfig {
            scale: f64::NAN,
            ..GenConfig::default()
        },
        GenConfig {
            d_number_share: 0.7,
            other_id_share: 0.7,
            ..GenConfig::default()
        },
    ] {
        assert!(
            matches!(generate_kommune(2024, m, &cfg, 1), Err(GenError::Config(_))),
            "{cfg:?}"
        );
    }
    let m2017 = lookup(2017, "1151").unwrap();
    assert!(matches!(
        generate_kommune(2031, m2017, &GenConfig::default(), 1),
        Err(GenError::UnsupportedYear { .. } | GenError::Registry(_))
    ));
}

#[test]
fn no_corrections_when_the_rate_is_zero() {
    let m = lookup(2024, "1103").unwrap();
    let cfg = GenConfig {
        correction_rate: 0.0,
        scale: 0.05,
        ..GenConfig::default()
    };
    let d = generate_kommune(2024, m, &cfg, 4).unwrap();
    assert!(d.korreksjoner.notifikasjoner.is_empty());
    assert!(d.persons.iter().all(|p| p.registration_errors.is_empty()));
    common::assert_clean(&d);
}
