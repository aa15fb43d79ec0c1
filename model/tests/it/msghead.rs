//! MsgHead around the schema corpus: wrapping an IPLOS document and reading it back gives
//! the IPLOS checker the same message (same verdict, same rule ids and paths).

use std::path::Path;

use iplos_model::message::{MsgHead, Organisation, read_msghead, write_msghead};
use iplos_model::rules::{CheckOptions, check};

fn head() -> MsgHead {
    MsgHead::iplos(
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "2019-01-03T10:15:00+01:00",
        Organisation::new("Oslo kommune", "12345"),
        Organisation::new("KPR", "134197"),
    )
}

#[test]
fn corpus_round_trips_through_msghead() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents/schema");
    let mut wrapped = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    entries.sort();
    for path in entries {
        let original = std::fs::read(&path).unwrap();
        // Documents that cannot be embedded (DOCTYPE, not XML, not well-formed) are
        // refused by the writer or the reader; that is checked elsewhere.
        let Ok(xml) = write_msghead(&head(), &original) else {
            continue;
        };
        let Ok(info) = read_msghead(&xml) else {
            continue;
        };
        wrapped += 1;
        let opts = CheckOptions::default();
        let before = check(&original[..], &opts);
        let after = check(&info.content_document()[..], &opts);
        let key = |r: &iplos_model::rules::CheckReport| {
            r.findings
                .iter()
                .map(|f| (f.rule, f.location.path.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            before.conformant,
            after.conformant,
            "{}: verdict changed",
            path.display()
        );
        assert_eq!(key(&before), key(&after), "{}", path.display());
    }
    assert!(wrapped > 80, "only {wrapped} documents were wrapped");
}
