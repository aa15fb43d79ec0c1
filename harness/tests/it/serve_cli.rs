//! The `pki` and `serve` commands as a user runs them: files, exit codes, credentials kept
//! or derived from a seed, certificates issued while the server runs.

use crate::serve_support;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use iplos_mocks::pki::{Pki, Variant};
use iplos_mocks::sender::{
    Counterpart, ReferenceSender, SenderConfig, SenderIdentity, sample_iplos,
};
use iplos_model::ids::HerId;
use iplos_model::message::AppRecStatus;
use serve_support::*;

fn harness(args: &[&str]) -> std::process::Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn pki_init_and_issue() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let p = pki.to_str().unwrap();
    let o = harness(&["pki", "init", p]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("134197"), "{}", text(&o));
    for f in [
        "index.json",
        "ca/ca.pem",
        "ca/crl.pem",
        "134197/signing.pem",
        "134197/encryption.key.pem",
    ] {
        assert!(pki.join(f).exists(), "{f}");
    }
    // Not twice.
    let o = harness(&["pki", "init", p]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("already holds a PKI"), "{}", text(&o));

    let o = harness(&[
        "pki",
        "issue",
        "--dir",
        p,
        "--her-id",
        "9000301",
        "--org",
        "958935420",
        "--name",
        "Oslo kommune",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["her_id"], 9_000_301);
    assert_eq!(j["variant"], "valid");
    for k in [
        "signing_cert",
        "signing_key",
        "signing_p12",
        "encryption_cert",
        "encryption_key",
    ] {
        assert!(std::path::Path::new(j[k].as_str().unwrap()).exists(), "{k}");
    }
    let o = harness(&[
        "pki",
        "issue",
        "--dir",
        p,
        "--her-id",
        "9000301",
        "--org",
        "958935420",
        "--variant",
        "revoked",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(pki.join("9000301/revoked/signing.pem").exists());
    let loaded = Pki::load(&pki).unwrap();
    assert_eq!(loaded.index().revoked.len(), 2);

    // Bad input: exit 2 with a message.
    for (args, needle) in [
        (vec!["--her-id", "abc", "--org", "958935420"], "HER-id"),
        (
            vec!["--her-id", "9000301", "--org", "123456789"],
            "organisation number",
        ),
    ] {
        let mut a = vec!["pki", "issue", "--dir", p];
        a.extend(args);
        let o = harness(&a);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(needle), "{}", text(&o));
    }
    let o = harness(&[
        "pki",
        "issue",
        "--dir",
        dir.path().join("none").to_str().unwrap(),
        "--her-id",
        "1",
        "--org",
        "958935420",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("pki init"), "{}", text(&o));
}

fn passwords(state: &std::path::Path) -> Vec<(String, String)> {
    let ep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("endpoints.json")).unwrap()).unwrap();
    ep["kommuner"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["username"].as_str().unwrap().to_string(),
                k["password"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn credentials_come_from_the_seed_or_are_kept() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    Server::start(a.path(), &["--seed", "42"], &[]).stop();
    Server::start(b.path(), &["--seed", "42"], &[]).stop();
    Server::start(c.path(), &[], &[]).stop();
    let pa = passwords(a.path());
    assert_eq!(pa.len(), 357);
    assert_eq!(pa, passwords(b.path()), "same seed, same passwords");
    assert_ne!(pa, passwords(c.path()));
    assert!(
        pa.iter()
            .all(|(_, p)| p.len() == 24 && p.chars().all(|c| c.is_ascii_alphanumeric()))
    );
    let distinct: std::collections::HashSet<_> = pa.iter().map(|(_, p)| p).collect();
    assert_eq!(distinct.len(), 357);
    // A restart without a seed keeps the random ones.
    let pc = passwords(c.path());
    Server::start(c.path(), &[], &[]).stop();
    assert_eq!(pc, passwords(c.path()));
    // Another seed or year on the same state directory is refused.
    let o = harness(&[
        "serve",
        "--state",
        a.path().to_str().unwrap(),
        "--seed",
        "43",
        "--year",
        "2024",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = harness(&[
        "serve",
        "--state",
        a.path().to_str().unwrap(),
        "--year",
        "2020",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("2024"), "{}", text(&o));
}

#[test]
fn sigint_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[], &[]);
    server.signal("INT");
    let status = server.wait(Duration::from_secs(30));
    assert!(status.success(), "{status}: {:?}", server.lines);
    assert!(
        server.lines.iter().any(|l| l == "stopped"),
        "{:?}",
        server.lines
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_issued_while_serving_are_used_at_the_next_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = tokio::task::block_in_place(|| Server::start(dir.path(), &[], &[]));
    let ep = server.endpoints();
    let bergen = kommune(&ep, "4601");
    assert_eq!(bergen["certificates"]["issued"], false);
    // The command endpoints.json gives, run as printed (minus the program name).
    let cmd = bergen["certificates"]["issue_command"].as_str().unwrap();
    let o = Command::new("sh")
        .arg("-c")
        .arg(cmd.replacen("iplos-harness", bin(), 1))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        std::path::Path::new(bergen["certificates"]["signing_cert"].as_str().unwrap()).exists()
    );

    let pki = Pki::load(dir.path().join("pki")).unwrap();
    let identity = SenderIdentity {
        party: pki
            .party(HerId::new(9_004_601).unwrap(), Variant::Valid)
            .unwrap(),
        register: Counterpart::from_party(&pki.register().unwrap(), HerId::new(134_197).unwrap()),
        trust: Arc::new(pki.trust_store().unwrap()),
    };
    let cfg = SenderConfig::new(bergen["connection_string"].as_str().unwrap(), identity);
    let mut s = ReferenceSender::connect(cfg).await.unwrap();
    let a = s.submit(&sample_iplos("4601", 2024, 1), &[]).await.unwrap();
    let a = a.apprec().expect("an AppRec");
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{:?}", a.apprec.errors);
    assert_eq!(a.apprec.sender.her_id.as_deref(), Some("134197"));
    s.close().await;
    tokio::task::block_in_place(|| server.stop());
}
