//! Generated messages validate against the official XSD with xmllint (libxml2).
//! CI installs libxml2-utils; without xmllint this test fails with a clear message.

use crate::common;
use std::path::PathBuf;
use std::process::Command;

use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::municipality::lookup;

fn xsd() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/spec/iplos-56.0.0/XPR(ipl).xsd");
    assert!(
        p.exists(),
        "the official XSD is missing at {} (the tests need ../shared beside the checkout)",
        p.display()
    );
    p
}

#[test]
fn messages_validate_with_xmllint() {
    let xsd = xsd();
    match Command::new("xmllint").arg("--version").output() {
        Ok(_) => {}
        Err(e) => panic!(
            "xmllint is not installed ({e}); install libxml2-utils (.ci/run does) to run this test"
        ),
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (year, nr, scale) in [
        (2024u16, "0301", 0.02),
        (2017, "1151", 1.0),
        (2024, "4601", 0.05),
    ] {
        let m = lookup(year, nr).expect("kommune");
        let d = generate_kommune(year, m, &GenConfig::with_scale(scale), 17).expect("generate");
        for (name, msg) in [("melding", &d.melding), ("korreksjoner", &d.korreksjoner)] {
            let path = dir.path().join(format!("{year}-{nr}-{name}.xml"));
            std::fs::write(&path, common::xml(msg)).expect("write");
            files.push(path);
        }
    }
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .args(&files)
        .output()
        .expect("run xmllint");
    assert!(
        out.status.success(),
        "xmllint rejected a generated message:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
