//! Nothing a vendor has to guess (issue #13): after `certify init`, the answers to every
//! question a vendor had to guess are found in `DIR/vendor/README.md` and
//! `DIR/vendor/session.json` alone — and they are true: the register expects that message
//! function, the certificates named are that register's, the schema validates the
//! population (Python's jsonschema), the contact persons and counts are the answer key's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use iplos_harness::certify::plan::Plan;
use iplos_mocks::pki::Pki;
use iplos_mocks::receiver::ReceiverConfig;
use iplos_model::compare::read_received;
use iplos_model::message::{Melding, Status};
use iplos_model::rules::CheckOptions;
use openssl::x509::X509;
use serde_json::Value;

/// One session for every test of this module (init is the slow part).
struct Made {
    _dir: tempfile::TempDir,
    session: PathBuf,
}

fn made() -> &'static Made {
    static M: OnceLock<Made> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("session");
        let o = Command::new(env!("CARGO_BIN_EXE_iplos-harness"))
            .args([
                "certify",
                "init",
                "--vendor",
                "Guide EPJ",
                "--kommune",
                "4601",
                "--year",
                "2024",
                "--scale",
                "0.02",
                "--seed",
                "5",
                "--out",
            ])
            .arg(&session)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Made { _dir: dir, session }
    })
}

fn vendor() -> PathBuf {
    made().session.join("vendor")
}

/// The two documents a vendor reads.
fn readme() -> String {
    std::fs::read_to_string(vendor().join("README.md")).expect("vendor/README.md")
}

fn session_json() -> Value {
    serde_json::from_slice(&std::fs::read(vendor().join("session.json")).expect("session.json"))
        .expect("session.json is JSON")
}

/// The README section under a heading that starts with `title`.
fn section(readme: &str, title: &str) -> String {
    let start = readme
        .find(&format!("## {title}"))
        .unwrap_or_else(|| panic!("the README has no section '{title}':\n{readme}"));
    let rest = &readme[start + 3..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

/// A file of the session the harness keeps (wherever the layout puts it).
fn harness_file(rel: &str) -> PathBuf {
    let s = &made().session;
    [s.join("harness").join(rel), s.join(rel)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{rel} not found in the session"))
}

fn answer_key(name: &str) -> Melding {
    let bytes = std::fs::read(harness_file(&format!("expected/{name}"))).unwrap();
    read_received(&bytes, &CheckOptions::default())
        .unwrap()
        .melding
}

fn population() -> PathBuf {
    let s = &made().session;
    [
        vendor().join("population.jsonl"),
        s.join("population.jsonl"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("population.jsonl")
}

fn cert(path: &Path) -> X509 {
    X509::from_pem(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{} is not a PEM certificate: {e}", path.display()))
}

#[test]
fn the_message_function_is_the_one_the_register_expects() {
    let s = session_json();
    let expected = ReceiverConfig::default();
    let mf = &s["message_function"];
    assert_eq!(mf["subject"], expected.subject.as_str());
    assert_eq!(mf["msghead_type"], expected.msg_type.as_str());
    for r in s["registers"].as_array().unwrap() {
        assert_eq!(r["subject"], expected.subject.as_str(), "{r}");
        assert_eq!(r["msghead_type"], expected.msg_type.as_str(), "{r}");
    }
    let text = section(&readme(), "The message function");
    assert!(
        text.contains(&format!("`subject` **`{}`**", expected.subject))
            && text.contains(&format!("V=\"{}\"", expected.msg_type)),
        "{text}"
    );
}

#[test]
fn each_register_has_its_own_certificates_in_the_vendor_folder() {
    let s = session_json();
    let readme = readme();
    let text = section(&readme, "The registers and their certificates");
    let pki = Pki::load(harness_file("pki")).unwrap();
    let mut seen = Vec::new();
    for her in [131_725u32, 134_197] {
        let r = s["registers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["her_id"] == her)
            .unwrap_or_else(|| panic!("session.json names no register {her}"));
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| {her} |")))
            .unwrap_or_else(|| panic!("the README has no row for {her}:\n{text}"));
        // What the register really uses for that HER-id.
        let party = pki
            .party(
                iplos_model::ids::HerId::new(her).unwrap(),
                iplos_mocks::pki::Variant::Valid,
            )
            .unwrap();
        for (field, real) in [
            ("signing_certificate", &party.signing.cert),
            ("encryption_certificate", &party.encryption.cert),
        ] {
            let rel = r[field].as_str().unwrap();
            assert!(row.contains(rel), "the README row names {rel}: {row}");
            let c = cert(&vendor().join(rel));
            assert_eq!(
                c.to_der().unwrap(),
                real.to_der().unwrap(),
                "{rel} is register {her}'s {field}"
            );
            seen.push(c.to_der().unwrap());
        }
        assert!(
            r["address_register"]
                .as_str()
                .unwrap()
                .ends_with(&her.to_string())
        );
    }
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        4,
        "four distinct certificates: 131725 has its own pair"
    );
    let cn = |rel: &str| {
        let c = cert(&vendor().join(rel));
        c.subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .unwrap()
            .data()
            .to_string()
            .unwrap()
    };
    assert!(cn("pki/register/131725/encryption.pem").contains("Validering"));
    assert!(!cn("pki/register/134197/encryption.pem").contains("Validering"));
    assert!(text.contains("adresseregister/<her-id>"), "{text}");
}

#[test]
fn the_address_register_answers_what_the_folder_holds() {
    let s: iplos_harness::certify::session::Session =
        serde_json::from_value(session_json()).unwrap();
    let reg = iplos_harness::certify::run::live::AddressRegister::from_pki(
        &harness_file("pki"),
        &s,
        "NS",
    )
    .unwrap();
    let her: Vec<u32> = reg.entries.iter().map(|e| e.her_id).collect();
    assert_eq!(her, [131_725, 134_197, s.her_id]);
    for e in &reg.entries[..2] {
        let folder = std::fs::read_to_string(
            vendor().join(format!("pki/register/{}/encryption.pem", e.her_id)),
        )
        .unwrap();
        assert_eq!(e.encryption_certificate, folder);
        assert_eq!(e.address, format!("/exchange/NS/{}_async", e.her_id));
    }
}

#[test]
fn the_population_validates_against_its_schema() {
    let s = session_json();
    let rel = s["population_schema"].as_str().unwrap();
    assert_eq!(rel, "population.schema.json");
    let schema = vendor().join(rel);
    let schema_json: Value = serde_json::from_slice(&std::fs::read(&schema).unwrap()).unwrap();
    assert_eq!(
        schema_json["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let text = section(&readme(), "`population.jsonl` and its schema");
    for name in [
        "reported",
        "active_at_cutoff",
        "provider_changes",
        "registration_errors",
    ] {
        assert!(text.contains(name), "the README explains {name}");
        assert!(
            schema_json.to_string().contains(&format!("\"{name}\"")),
            "the schema has {name}"
        );
    }
    // Every line of the population validates (Python's jsonschema, draft 2020-12), and a
    // line with a field of the wrong type does not.
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
n = 0
for line in open(sys.argv[2]):
    v.validate(json.loads(line)); n += 1
bad = json.loads(open(sys.argv[2]).readline())
bad["services"][0]["active_at_cutoff"] = "yes"
assert not v.is_valid(bad), "a wrong type is caught"
print(n)
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&schema)
        .arg(population())
        .output()
        .expect("python3 runs");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let n: usize = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert_eq!(n as u64, s["persons"].as_u64().unwrap());
}

#[test]
fn the_contact_persons_are_the_answer_keys_with_types_16_and_17() {
    let s = session_json();
    assert_eq!(s["required_contact_types"], serde_json::json!(["16", "17"]));
    let contacts: Vec<iplos_model::message::Kontaktperson> =
        serde_json::from_value(s["contact_persons"].clone()).unwrap();
    for t in ["16", "17"] {
        assert!(
            contacts.iter().any(|c| c.type_kontaktperson == t),
            "type {t}"
        );
    }
    for c in &contacts {
        for e in std::iter::once(&c.epost1).chain(c.epost2.iter()) {
            assert!(e.ends_with(".test"), "{e}");
        }
    }
    assert_eq!(contacts, answer_key("melding.xml").kontaktpersoner);
    assert_eq!(contacts, answer_key("korreksjoner.xml").kontaktpersoner);
    let text = section(&readme(), "Contact persons");
    assert!(text.contains("**type 16**") && text.contains("**type 17**"));
    for c in &contacts {
        assert!(text.contains(&c.epost1), "{text}");
    }
}

#[test]
fn the_cutoff_and_the_expected_corrections_are_the_answer_keys() {
    let s = session_json();
    assert_eq!(s["cutoff"], "2024-01-01");
    let readme = readme();
    assert!(
        section(&readme, "The initial load").contains("**cut-off date is 2024-01-01**"),
        "{readme}"
    );
    let key = answer_key("korreksjoner.xml");
    let count = |st: Status| key.notifikasjoner.iter().filter(|n| n.status == st).count();
    let ch = &s["expected_changes"];
    assert_eq!(ch["notifications"], key.notifikasjoner.len());
    assert_eq!(ch["corrections"], count(Status::M));
    assert_eq!(ch["annulments"], count(Status::C));
    assert_eq!(ch["to_her_id"], 134_197);
    assert_eq!(ch["in_test_submission"], false);
    let items = ch["items"].as_array().unwrap();
    let sum: u64 = items
        .iter()
        .map(|i| i["notifications"].as_u64().unwrap())
        .sum();
    assert_eq!(sum as usize, key.notifikasjoner.len());
    let text = section(&readme, "Corrections and annulments");
    assert!(
        text.contains(&format!(
            "**{} correction notifications: {} corrections",
            key.notifikasjoner.len(),
            count(Status::M)
        )),
        "{text}"
    );
    for i in items {
        assert!(text.contains(i["tjeneste_id"].as_str().unwrap()));
    }
    assert!(text.contains("do not belong in the test submission"));
}

#[test]
fn reply_to_test_submission_and_the_wrong_password_phase_are_stated() {
    let s = session_json();
    let her = s["her_id"].as_u64().unwrap();
    assert_eq!(s["reply_to"], format!("{her}_async"));
    let readme = readme();
    assert!(
        section(&readme, "Addressing and `reply-to`")
            .contains(&format!("**`reply-to` is `{her}_async`**")),
        "{readme}"
    );
    let ts = &s["test_submission"];
    assert_eq!(ts["to_her_id"], 131_725);
    assert_eq!(ts["content"], "ordinary-export");
    assert_eq!(ts["includes_corrections"], false);
    assert_eq!(
        ts["notifications"],
        answer_key("melding.xml").notifikasjoner.len()
    );
    let text = section(&readme, "The test submission");
    assert!(text.contains("**without the corrections**"), "{text}");
    let wp = &s["wrong_password"];
    assert_eq!(wp["phase"], "auth-refused");
    assert_eq!(wp["tester_enters_wrong_password"], false);
    let text = section(&readme, "The wrong-password phase");
    assert!(
        text.contains("**the tester does not enter a wrong password**"),
        "{text}"
    );
    // The plan says the same thing.
    let plan = Plan::embedded().unwrap();
    let sasl = plan.tests().find(|t| t.test.id == "CONN-02").unwrap().test;
    assert!(
        !sasl.vendor_action.contains("enter a wrong password once")
            && sasl
                .vendor_action
                .contains("does not enter a wrong password"),
        "{}",
        sasl.vendor_action
    );
    assert!(
        sasl.vendor_action.contains("refuses"),
        "{}",
        sasl.vendor_action
    );
}

#[test]
fn receipts_errors_resends_and_the_throughput_load_are_stated() {
    let readme = readme();
    let text = section(&readme, "Receipts, transport errors and resends");
    // The `_error` queue's properties, as the register writes them.
    for p in [
        iplos_mocks::nhn::ORIGINAL_MESSAGE_ID,
        iplos_mocks::nhn::ERROR_CONDITION,
        iplos_mocks::nhn::ERROR_DESCRIPTION,
        iplos_mocks::nhn::ERROR_CONDITION_DATA,
    ] {
        assert!(text.contains(&format!("`{p}`")), "{p}: {text}");
    }
    assert!(text.contains(&format!("`{}`", iplos_mocks::nhn::SUBJECT_APPREC)));
    // How a status 3 names a rejected notification, and what a missing AppRec asks for.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("notification notifikasjonGUID <guid> rejected: <reason>"));
    assert!(
        flat.contains("the same message-id, MsgId and notifications"),
        "{text}"
    );
    // The throughput population is named, and is there.
    let files = section(&readme, "Files");
    assert!(files.contains("`perf/population.jsonl`"), "{files}");
    let perf = vendor().join("perf/population.jsonl");
    let first = std::fs::read_to_string(&perf).unwrap();
    let first: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(first["kommune"], "0301", "the largest kommune's population");
}
