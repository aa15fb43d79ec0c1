//! The whole check (reader, well-formedness, XSD, content rules) on arbitrary bytes: it
//! must never panic, and a report must be consistent with its findings.
#![no_main]

use iplos_model::rules::{CheckOptions, Limits, Severity, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = CheckOptions {
        limits: Limits {
            max_token: 64 * 1024,
            ..Limits::default()
        },
        ..CheckOptions::default()
    };
    let report = check(data, &options);
    let errors = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error);
    assert!(
        !(report.conformant && errors),
        "conformant with an error finding"
    );
});
