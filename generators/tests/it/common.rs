//! Helpers shared by the integration tests.
#![allow(dead_code)]

use iplos_generators::KommuneData;
use iplos_model::message::{Melding, OutputEncoding, write_message};
use iplos_model::rules::{CheckOptions, CheckReport, ContentState, check_stream};

/// The message as bytes (UTF-8).
pub fn xml(m: &Melding) -> Vec<u8> {
    write_message(m, Vec::new(), OutputEncoding::Utf8).expect("write to a Vec")
}

/// Checks the ordinary message and then the corrections message as its continuation.
pub fn check_both(d: &KommuneData) -> (CheckReport, CheckReport) {
    let opts = CheckOptions {
        data_year: Some(i32::from(d.year)),
        ..CheckOptions::default()
    };
    let mut state = ContentState::new();
    let a = check_stream(&xml(&d.melding)[..], &opts, &mut state, &mut |_| {});
    let b = check_stream(&xml(&d.korreksjoner)[..], &opts, &mut state, &mut |_| {});
    (a, b)
}

/// Panics with the first findings if either message has any.
pub fn assert_clean(d: &KommuneData) {
    let (a, b) = check_both(d);
    for (what, r) in [("melding.xml", &a), ("korreksjoner.xml", &b)] {
        assert!(
            r.findings.is_empty() && r.findings_omitted == 0,
            "{} {} seed {}: {what} has {} findings, first: {:#?}",
            d.year,
            d.kommune,
            d.seed,
            r.findings.len(),
            &r.findings[..r.findings.len().min(5)]
        );
    }
    assert_eq!(a.notifications as usize, d.melding.notifikasjoner.len());
    assert_eq!(
        b.notifications as usize,
        d.korreksjoner.notifikasjoner.len()
    );
}
