//! Feedback zips built from real generated content (with an injected defect) and published
//! on the filsluse open with 7-Zip and the right key only, and say what `publish` reported:
//! one feilliste row per finding, kontrolltabeller equal to counts made another way, and
//! no numbers in the test variant.

use crate::feedback_support;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use feedback_support::*;
use iplos_mocks::feedback::{self, ENTRIES, FeedbackError, FeedbackInput, TEST_KEY};
use iplos_mocks::filsluse::{Filsluse, FilsluseConfig, RecordingNotifier, UserSpec};
use iplos_model::calendar::VirtualClock;

async fn portal() -> (Filsluse, Arc<RecordingNotifier>) {
    let mails = Arc::new(RecordingNotifier::new());
    // Week 43 2016: test feedback.
    let clock = VirtualClock::new(Utc.with_ymd_and_hms(2016, 10, 26, 14, 0, 0).unwrap());
    let fs = Filsluse::start(
        FilsluseConfig {
            kdf_iterations: 1_000,
            ..FilsluseConfig::default()
        },
        Arc::new(clock),
        mails.clone(),
    )
    .await
    .unwrap();
    (fs, mails)
}

fn write_zip(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_feedback_opens_with_123456_and_has_every_finding_and_no_numbers() {
    let (fs, mails) = portal().await;
    let (m, bytes) = generated("0403", "status-t", 11);
    let user = fs.provision_user(&UserSpec::for_municipality(m)).unwrap();
    let input = test_input(m, bytes.clone());
    let findings = input.files[0].report.findings.len();
    assert!(findings > 0, "the defect gives findings");

    let published = feedback::publish(&fs, &user.username, &input).unwrap();
    assert_eq!(published.name, "040300_iplos_test.zip");
    assert_eq!(published.summary.findings, findings as u64);
    assert_eq!(
        published.summary.by_rule["IPL08"],
        published.summary.findings
    );
    assert_eq!(published.summary.by_severity["error"], findings as u64);
    // The file in the portal is the zip, and the mail came after it was stored.
    let stored = fs.files(&user.username).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].sha256, published.sha256);
    let mail = &mails.new_files(&user.username)[0];
    assert_eq!(mail.file_name, "040300_iplos_test.zip");
    assert_eq!(mail.size, published.size);
    assert!(mail.integrity_verified);

    let dir = tempfile::tempdir().unwrap();
    let zip_bytes = fs_bytes(&fs, &user.username);
    let zip = write_zip(dir.path(), &published.name, &zip_bytes);
    let (ok, out) = sevenzip_test(&zip, TEST_KEY);
    assert!(ok, "7z t -p123456: {out}");
    assert!(out.contains("Everything is Ok"), "{out}");
    let (ok, out) = sevenzip_test(&zip, "654321");
    assert!(!ok, "a wrong key must fail: {out}");

    let x = dir.path().join("x");
    let entries = sevenzip_extract(&zip, TEST_KEY, &x);
    assert_eq!(entries.keys().cloned().collect::<Vec<_>>(), {
        let mut e: Vec<String> = ENTRIES.iter().map(|s| s.to_string()).collect();
        e.sort();
        e
    });
    // feilliste.csv: header + one row per finding, each naming the file and the rule.
    let rows = parse_csv(&entries["feilliste.csv"]);
    assert_eq!(rows.len() - 1, findings);
    for (row, f) in rows[1..].iter().zip(&input.files[0].report.findings) {
        assert_eq!(row[0], input.files[0].name);
        assert_eq!(row[1], f.rule);
        assert_eq!(row[2], "Feil");
        assert_eq!(row[4], f.location.line.to_string());
        assert_eq!(row[6], f.message);
        assert_eq!(row[7], "Status T (KorrigerSuppler) skal ikke brukes ennå");
    }
    let html = &entries["feilliste.html"];
    assert!(html.contains("<h2 id=\"IPL08\">IPL08"));
    assert!(!html.contains("<script"));
    // kontrolltabeller: structure stays, every number is gone.
    let cells = kontroll_cells(&entries["kontrolltabeller.csv"]);
    let expected = expected_counts(&bytes);
    for key in expected.keys() {
        assert!(cells.contains_key(key), "missing row {key}");
    }
    assert!(
        cells.values().all(String::is_empty),
        "test feedback has no numbers: {cells:?}"
    );
    let kh = &entries["kontrolltabeller.html"];
    assert!(kh.contains("alle tall er fjernet"));
    for cell in kh.split("<td class=\"n\">").skip(1) {
        assert!(
            cell.starts_with("–</td>"),
            "a number in the test tables: {cell:.40}"
        );
    }
    // The summary keeps the real numbers for the caller.
    assert_eq!(
        published.summary.counts.notifications,
        expected["Totalt|Notifikasjoner"]
    );
    assert!(entries["LESMEG.txt"].contains("123456"));
    assert!(entries["LESMEG.txt"].contains("7-Zip"));
}

/// The stored bytes of the user's only file.
fn fs_bytes(fs: &Filsluse, username: &str) -> Vec<u8> {
    let f = &fs.files(username).unwrap()[0];
    // The path test (feedback_mail_path) downloads them over HTTP instead.
    fs.file_bytes(username, f.id).unwrap().expect("stored")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_feedback_opens_with_the_kommunes_key_and_counts_match() {
    let (fs, _mails) = portal().await;
    let (m, bytes) = generated("0403", "duplicate-hendelse-guid", 12);
    let user = fs.provision_user(&UserSpec::for_municipality(m)).unwrap();
    let key = "Hamar;Nøkkel 2017\"";
    let input = FeedbackInput::ordinary(m.number(), m.name(), i32::from(YEAR), key)
        .with_file(file("040300_2016_del1.xml", bytes.clone()));
    let published = feedback::publish(&fs, &user.username, &input).unwrap();
    assert_eq!(published.name, "040300_iplos.zip");

    let dir = tempfile::tempdir().unwrap();
    let zip = write_zip(dir.path(), &published.name, &fs_bytes(&fs, &user.username));
    let (ok, out) = sevenzip_test(&zip, key);
    assert!(ok, "7z t with the kommune's key: {out}");
    for wrong in [TEST_KEY, "hamar;nøkkel 2017\"", ""] {
        let (ok, out) = sevenzip_test(&zip, wrong);
        assert!(!ok, "key {wrong:?} must fail: {out}");
    }
    let entries = sevenzip_extract(&zip, key, &dir.path().join("x"));
    let rows = parse_csv(&entries["feilliste.csv"]);
    assert_eq!((rows.len() - 1) as u64, published.summary.findings);
    assert!(published.summary.by_rule.contains_key("IPL10"));

    let cells = kontroll_cells(&entries["kontrolltabeller.csv"]);
    let expected = expected_counts(&bytes);
    // Real content: persons in the old age bands, known birth dates, several services.
    assert!(expected["Totalt|Personer"] > 10, "{expected:?}");
    assert!(
        expected
            .get("Personer etter aldersgruppe|80-89")
            .is_some_and(|n| *n > 0)
    );
    assert!(!expected.contains_key("Personer etter aldersgruppe|ukjent"));
    assert!(
        expected
            .keys()
            .filter(|k| k.starts_with("Hendelser etter tjenestetype|"))
            .count()
            >= 3
    );
    for (k, v) in &expected {
        assert_eq!(cells.get(k), Some(&v.to_string()), "{k}");
    }
    // Rows the content has none of say 0 (every age band and event kind is listed).
    for (k, v) in &cells {
        if !expected.contains_key(k) {
            assert_eq!(v, "0", "{k}");
        }
    }
    // Independently again: the raw count of <Notifikasjon elements.
    let raw = String::from_utf8_lossy(&bytes)
        .matches("<Notifikasjon ")
        .count();
    assert_eq!(cells["Totalt|Notifikasjoner"], raw.to_string());
    assert_eq!(published.summary.counts.notifications as usize, raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_refuses_a_missing_user_a_wrong_kommune_and_an_empty_key() {
    let (fs, mails) = portal().await;
    let (m, bytes) = generated("0403", "status-t", 13);
    let input = test_input(m, bytes.clone());
    let e = feedback::publish(&fs, "postmottak@hamar.kommune.test", &input).unwrap_err();
    assert!(matches!(e, FeedbackError::NoSuchUser(_)), "{e}");
    assert!(e.to_string().contains("create it first"), "{e}");

    let elverum = iplos_model::municipality::lookup(YEAR, "0427").unwrap();
    let other = fs
        .provision_user(&UserSpec::for_municipality(elverum))
        .unwrap();
    let e = feedback::publish(&fs, &other.username, &input).unwrap_err();
    assert!(matches!(e, FeedbackError::WrongKommune { .. }), "{e}");

    let user = fs.provision_user(&UserSpec::for_municipality(m)).unwrap();
    let mut ordinary = FeedbackInput::ordinary(m.number(), m.name(), i32::from(YEAR), "");
    ordinary.files = input.files.clone();
    let e = feedback::publish(&fs, &user.username, &ordinary).unwrap_err();
    assert!(matches!(e, FeedbackError::Key(_)), "{e}");
    // Nothing stored, nothing mailed.
    assert!(fs.files(&user.username).unwrap().is_empty());
    assert!(fs.files(&other.username).unwrap().is_empty());
    assert!(mails.new_files(&user.username).is_empty());
}
