//! Unit tests of the intake: storing, checking per channel, receipts, replacement.

use super::*;
use iplos_model::calendar::VirtualClock;

fn sub(bytes: &[u8]) -> Submission {
    Submission {
        channel: Channel::Ordinary,
        kommunenr: "0403".into(),
        bydel: "00".into(),
        data_year: 2017,
        file_name: "iplos.xml".into(),
        file: SubmissionFile::Bytes(bytes.to_vec()),
        contact_email: "iplos@hamar.kommune.test".into(),
        contact_phone: None,
        feedback_key: "hemmelig1".into(),
        arrived: None,
    }
}

#[test]
fn garbage_is_stored_and_reported() {
    let t = Utc.with_ymd_and_hms(2018, 1, 5, 12, 0, 0).unwrap();
    let intake = Intake::in_memory(Arc::new(VirtualClock::new(t))).unwrap();
    let big: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
    let a = intake.submit(sub(&big)).unwrap();
    assert_eq!(a.size, big.len() as u64);
    assert!(a.summary.errors >= 1);
    assert!(!a.summary.schema_valid);
    assert_eq!(intake.raw_bytes(a.id).unwrap().unwrap(), big);
    let info = intake.submission(a.id).unwrap().unwrap();
    assert!(info.report_json.unwrap().contains("findings"));
    // Friday 5 Jan 2018 -> Monday 8 Jan 08:00 Oslo = 07:00 UTC.
    assert_eq!(
        a.receipt_due,
        Utc.with_ymd_and_hms(2018, 1, 8, 7, 0, 0).unwrap()
    );
}

#[test]
fn the_receipt_counts_persons_as_the_kontrolltabeller_do() {
    let t = Utc.with_ymd_and_hms(2018, 1, 5, 12, 0, 0).unwrap();
    let intake = Intake::in_memory(Arc::new(VirtualClock::new(t))).unwrap();
    let m = iplos_model::municipality::lookup(2017, "0403").unwrap();
    let data = iplos_generators::generate_kommune(
        2017,
        m,
        &iplos_generators::GenConfig::with_scale(0.01),
        7,
    )
    .unwrap();
    let mut bytes = Vec::new();
    iplos_model::message::write_message(
        &data.melding,
        &mut bytes,
        iplos_model::message::OutputEncoding::Utf8,
    )
    .unwrap();
    // Every event re-keyed with a pasientGUID of its own (as an EPJ that keys rows, not
    // persons): the persons are still the distinct fids.
    let text = String::from_utf8(bytes).unwrap();
    let parts: Vec<&str> = text.split("pasientGUID=\"").collect();
    assert!(parts.len() > 2);
    let mut changed = parts[0].to_string();
    for (i, p) in parts[1..].iter().enumerate() {
        changed.push_str(&format!("pasientGUID=\"{i}-{p}"));
    }
    let a = intake.submit(sub(changed.as_bytes())).unwrap();
    let mut counter = crate::feedback::kontroll::Counter::new(2017);
    counter.add_file("iplos.xml", changed.as_bytes());
    assert_eq!(a.summary.persons, counter.finish().persons);
    assert!(a.summary.persons > 0);
}

/// The 2017 files of Hamar (0403): the complete extract and its corrections.
fn hamar_2017() -> (Vec<u8>, Vec<u8>) {
    let m = iplos_model::municipality::lookup(2017, "0403").unwrap();
    let data = iplos_generators::generate_kommune(
        2017,
        m,
        &iplos_generators::GenConfig::with_scale(0.01),
        7,
    )
    .unwrap();
    let write = |m: &iplos_model::message::Melding| {
        let mut out = Vec::new();
        iplos_model::message::write_message(
            m,
            &mut out,
            iplos_model::message::OutputEncoding::Utf8,
        )
        .unwrap();
        out
    };
    (write(&data.melding), write(&data.korreksjoner))
}

#[test]
fn a_complete_extract_sent_again_replaces_the_first_and_corrections_continue_it() {
    let t = Utc.with_ymd_and_hms(2018, 1, 5, 12, 0, 0).unwrap();
    let intake = Intake::in_memory(Arc::new(VirtualClock::new(t))).unwrap();
    let (complete, corrections) = hamar_2017();
    let first = intake.submit(sub(&complete)).unwrap();
    // The kommune, unsure the file arrived, sends the same extract again.
    let again = intake.submit(sub(&complete)).unwrap();
    assert_eq!(again.summary.errors, first.summary.errors);
    let report = intake
        .submission(again.id)
        .unwrap()
        .unwrap()
        .report_json
        .unwrap();
    for rule in ["IPL02", "IPL10", "IPL29"] {
        assert!(!report.contains(rule), "{rule} in {report}");
    }
    let ids = |v: Vec<SubmissionInfo>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(intake
            .current_submissions_of("0403", Channel::Ordinary)
            .unwrap()),
        vec![again.id]
    );
    // Corrections continue the extract in force.
    let corr = intake.submit(sub(&corrections)).unwrap();
    let report = intake
        .submission(corr.id)
        .unwrap()
        .unwrap()
        .report_json
        .unwrap();
    for rule in ["IPL02", "IPL03", "IPL10", "IPL29"] {
        assert!(!report.contains(rule), "{rule} in {report}");
    }
    assert_eq!(
        ids(intake
            .current_submissions_of("0403", Channel::Ordinary)
            .unwrap()),
        vec![again.id, corr.id]
    );
}

#[test]
fn invalid_metadata_is_refused() {
    let t = Utc.with_ymd_and_hms(2018, 1, 5, 12, 0, 0).unwrap();
    let intake = Intake::in_memory(Arc::new(VirtualClock::new(t))).unwrap();
    let mut s = sub(b"x");
    s.file_name = "../x".into();
    assert!(matches!(
        intake.submit(s),
        Err(IntakeError::Invalid {
            field: "file_name",
            ..
        })
    ));
    let mut s = sub(b"x");
    s.kommunenr = "4".into();
    assert!(intake.submit(s).is_err());
    assert!(intake.all_submissions().unwrap().is_empty());
}
