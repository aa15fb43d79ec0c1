//! `certify init` and `certify check` (the offline mode) as a vendor's tester runs them: a
//! perfect export passes; an export missing an event, with a wrong field, or not IPLOS at all
//! fails, naming the event, the field, the rule and the line.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_iplos-harness")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("iplos-harness runs")
}

fn init(dir: &Path) -> std::path::PathBuf {
    let session = dir.join("session");
    let o = run(&[
        "certify",
        "init",
        "--vendor",
        "Test EPJ",
        "--kommune",
        "4601",
        "--year",
        "2024",
        "--scale",
        "0.01",
        "--seed",
        "3",
        "--out",
        session.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    session
}

/// `certify check` on the expected messages themselves: a perfect vendor.
fn check_the_answer_key(session: &Path) -> Output {
    let expected = session.join("harness/expected");
    run(&[
        "certify",
        "check",
        session.to_str().unwrap(),
        "--files",
        expected.join("melding.xml").to_str().unwrap(),
        "--corrections",
        expected.join("korreksjoner.xml").to_str().unwrap(),
    ])
}

/// Every private key in `DIR/vendor`, found by parsing every file (PEM blocks anywhere in
/// it, also JSON-escaped; PKCS#12; DER), not by its name: (file, public key DER).
fn private_keys_in(dir: &Path, p12_password: &str) -> Vec<(String, Vec<u8>)> {
    use openssl::pkcs12::Pkcs12;
    use openssl::pkey::PKey;
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes).replace("\\n", "\n");
            let mut rest = text.as_str();
            while let Some(at) = rest.find("-----BEGIN ") {
                let block = &rest[at..];
                let end = block.find("-----END ").expect("a PEM block ends");
                let end = end + block[end + 5..].find("-----").unwrap() + 10;
                let pem = &block[..end];
                if pem.contains("PRIVATE KEY-----") {
                    let key = PKey::private_key_from_pem(pem.as_bytes())
                        .or_else(|_| {
                            PKey::private_key_from_pem_passphrase(
                                pem.as_bytes(),
                                p12_password.as_bytes(),
                            )
                        })
                        .unwrap_or_else(|e| panic!("{name}: a private key we cannot read: {e}"));
                    found.push((name.clone(), key.public_key_to_der().unwrap()));
                }
                rest = &block[end..];
            }
            if let Ok(p12) = Pkcs12::from_der(&bytes) {
                let parsed = p12
                    .parse2(p12_password)
                    .unwrap_or_else(|e| panic!("{name}: PKCS#12 we cannot open: {e}"));
                if let Some(k) = parsed.pkey {
                    found.push((name.clone(), k.public_key_to_der().unwrap()));
                }
            }
            if let Ok(k) = PKey::private_key_from_der(&bytes) {
                found.push((name.clone(), k.public_key_to_der().unwrap()));
            }
        }
    }
    found
}

/// After `certify init`, `DIR/vendor` holds no private key but the kommune's own (its
/// signing and encryption keys, as PEM and PKCS#12), and `DIR/harness` is the owner's only.
fn the_vendor_gets_no_private_key_but_the_kommunes_own(session: &Path) {
    use openssl::x509::X509;
    let s: Value =
        serde_json::from_slice(&std::fs::read(session.join("vendor/session.json")).unwrap())
            .unwrap();
    let her = s["her_id"].as_u64().unwrap();
    let index: Value =
        serde_json::from_slice(&std::fs::read(session.join("vendor/pki/index.json")).unwrap())
            .unwrap();
    // The kommune's own public keys, from the harness's record of what it issued.
    let own: Vec<Vec<u8>> = ["signing", "encryption"]
        .iter()
        .map(|r| {
            let pem = std::fs::read(session.join(format!("harness/pki/{her}/{r}.pem"))).unwrap();
            X509::from_pem(&pem)
                .unwrap()
                .public_key()
                .unwrap()
                .public_key_to_der()
                .unwrap()
        })
        .collect();
    let found = private_keys_in(
        &session.join("vendor"),
        index["p12_password"].as_str().unwrap(),
    );
    for (file, public) in &found {
        assert!(
            own.contains(public),
            "vendor/{file} holds a private key that is not the kommune's own"
        );
    }
    // The walk does find keys: both of the kommune's, each as PEM and PKCS#12.
    for k in &own {
        assert_eq!(found.iter().filter(|(_, p)| p == k).count(), 2, "{found:?}");
    }
    // The register's certificates are there (the ones whose keys the harness keeps).
    for register in ["134197", "131725"] {
        for r in ["signing", "encryption"] {
            let pem =
                std::fs::read(session.join(format!("vendor/pki/register/{register}/{r}.pem")))
                    .unwrap_or_else(|e| panic!("register {register} {r} certificate: {e}"));
            X509::from_pem(&pem).unwrap();
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(session.join("harness"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "DIR/harness is {:o}", mode & 0o777);
    }
}

fn result(session: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(session.join("check").join("evidence").join("result.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_session_is_prepared_and_a_perfect_export_passes() {
    let dir = tempfile::tempdir().unwrap();
    let session = init(dir.path());
    for f in [
        "vendor/population.jsonl",
        "vendor/README.md",
        "vendor/session.json",
        "vendor/pki/index.json",
        "vendor/tls/ca.pem",
        "harness/pki/index.json",
        "harness/expected/melding.xml",
        "harness/signing/harness.pem",
    ] {
        assert!(session.join(f).is_file(), "{f} missing");
    }
    the_vendor_gets_no_private_key_but_the_kommunes_own(&session);
    let readme = std::fs::read_to_string(session.join("vendor/README.md")).unwrap();
    assert!(
        readme.contains("certify check"),
        "the README tells the tester what to run"
    );
    let o = check_the_answer_key(&session);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let r = result(&session);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["files"].as_array().unwrap().len(), 2);
    for f in r["files"].as_array().unwrap() {
        assert_eq!(f["comparison"]["missing"].as_array().unwrap().len(), 0);
        assert_eq!(f["findings"].as_array().unwrap().len(), 0, "{f}");
    }
}

#[test]
fn missing_and_wrong_events_are_named_with_rule_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let session = init(dir.path());
    let xml = std::fs::read_to_string(session.join("harness/expected/melding.xml")).unwrap();
    // Drop the third notification; change a date in the fifth.
    let starts: Vec<usize> = xml
        .match_indices("<Notifikasjon ")
        .map(|(i, _)| i)
        .collect();
    assert!(starts.len() > 6);
    let fifth = &xml[starts[4]..starts[5]];
    let date_at = fifth.find("hendelseDato=\"").expect("a dated event") + "hendelseDato=\"".len();
    let old = &fifth[date_at..date_at + 10];
    let new_date = if old.ends_with("-01") {
        old.replacen("-01", "-02", 1)
    } else {
        format!("{}-01", &old[..7])
    };
    let fifth_new = format!(
        "{}{}{}",
        &fifth[..date_at],
        new_date,
        &fifth[date_at + 10..]
    );
    let broken = format!(
        "{}{}{}{}",
        &xml[..starts[2]],
        &xml[starts[3]..starts[4]],
        fifth_new,
        &xml[starts[5]..]
    );
    let export = dir.path().join("export.xml");
    std::fs::write(&export, broken).unwrap();
    let o = run(&[
        "certify",
        "check",
        session.to_str().unwrap(),
        "--files",
        export.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let r = result(&session);
    assert_eq!(r["verdict"], "fail");
    let c = &r["files"][0]["comparison"];
    assert_eq!(c["missing"].as_array().unwrap().len(), 1, "{c}");
    let wrong = c["wrong"].as_array().unwrap();
    assert_eq!(wrong.len(), 1, "{c}");
    assert_eq!(wrong[0]["rule"], "CMP03");
    assert!(
        wrong[0]["field"].as_str().unwrap().contains("hendelseDato"),
        "{}",
        wrong[0]
    );
    assert_eq!(wrong[0]["received"], new_date.as_str());
    assert!(
        wrong[0]["location"]["line"].as_u64().is_some(),
        "the line is given"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("CMP01 missing"), "{stdout}");
}

#[test]
fn not_iplos_is_refused_and_a_missing_session_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let session = init(dir.path());
    let export = dir.path().join("export.xml");
    std::fs::write(&export, "<html><body>not an export</body></html>").unwrap();
    let o = run(&[
        "certify",
        "check",
        session.to_str().unwrap(),
        "--files",
        export.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let r = result(&session);
    assert!(r["files"][0]["refused"].as_str().is_some(), "{r}");
    let o = run(&[
        "certify",
        "check",
        dir.path().join("nothing").to_str().unwrap(),
        "--files",
        export.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a certification session"));
}

/// The offline check writes the certification report (JSON, JUnit, HTML): the tests files
/// can decide are judged, the transport tests are skipped with the reason, and the verdict
/// follows the required tests.
#[test]
fn the_offline_check_writes_a_certification_report() {
    let dir = tempfile::tempdir().unwrap();
    let session = init(dir.path());
    let o = check_the_answer_key(&session);
    assert!(o.status.success());
    let check = session.join("check");
    for f in ["report.json", "junit.xml", "index.html"] {
        assert!(check.join(f).is_file(), "{f} missing");
    }
    let r: Value =
        serde_json::from_slice(&std::fs::read(check.join("report.json")).unwrap()).unwrap();
    let verdict = |id: &str| {
        r["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("no test {id}"))["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(verdict("DATA-01"), "pass");
    assert_eq!(verdict("SCHEMA-01"), "pass");
    assert_eq!(
        verdict("CONN-01"),
        "skip",
        "transport tests need the session runner"
    );
    // Files alone cannot pass the required transport tests: the verdict is incomplete,
    // and the console says the same as report.json.
    assert_eq!(r["verdict"], "incomplete");
    let out = String::from_utf8_lossy(&o.stdout);
    let headline = out
        .lines()
        .find(|l| l.starts_with("certify check:"))
        .unwrap_or_default();
    assert!(headline.contains(": INCOMPLETE (the files: pass"), "{out}");
    assert!(!headline.contains("PASS"), "{headline}");
    assert!(r["evidence_bundle"]["sha256"].as_str().unwrap().len() == 64);
    assert!(
        r["session"].get("time_scale").is_none(),
        "no time scale offline"
    );
    // The report is signed: `certify verify` accepts it; a changed result is named.
    let o = run(&["certify", "verify", session.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains(": OK"), "{out}");
    let result_json = check.join("evidence/result.json");
    let mut bytes = std::fs::read(&result_json).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&result_json, bytes).unwrap();
    let o = run(&["certify", "verify", check.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("evidence/result.json: changed"), "{out}");
    assert!(
        r["vendor"]["product"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
}
