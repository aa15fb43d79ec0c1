//! The test PKI: files, index, serials, key usages, negative-test certificates, CRL.

use chrono::{TimeZone, Utc};
use iplos_mocks::cms::{CmsError, key_usage};
use iplos_mocks::pki::{
    CA_SUBJECT, DEFAULT_REGISTER_HER_ID, IssueOptions, PartyExport, Pki, PkiConfig, PkiError, Role,
    Variant, name_to_string,
};
use iplos_model::ids::{HerId, OrgNr};
use openssl::pkcs12::Pkcs12;
use openssl::x509::{CrlStatus, X509PurposeId};

fn her(n: u32) -> HerId {
    HerId::new(n).unwrap()
}

fn orgnr() -> OrgNr {
    // Oslo kommune's organisation number.
    OrgNr::parse("974778874").unwrap()
}

#[test]
fn init_writes_ca_crl_register_pair_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::init(dir.path()).unwrap();
    for f in [
        "index.json",
        "ca/ca.pem",
        "ca/ca.key.pem",
        "ca/crl.pem",
        "untrusted-ca/ca.pem",
        "134197/signing.pem",
        "134197/signing.key.pem",
        "134197/signing.p12",
        "134197/encryption.pem",
        "134197/encryption.key.pem",
        "134197/encryption.p12",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        name_to_string(pki.ca_cert().subject_name()),
        "C=NO, O=iplos-harness, CN=iplos-harness Test CA"
    );
    assert_eq!(
        CA_SUBJECT,
        "CN=iplos-harness Test CA, O=iplos-harness, C=NO"
    );
    let idx = pki.index();
    assert_eq!(idx.ca.serial, 1);
    assert_eq!(idx.untrusted_ca.serial, 2);
    assert_eq!(idx.issued.len(), 2);
    assert_eq!(idx.issued[0].serial_pair(), (3, Role::Signing));
    assert_eq!(idx.issued[1].serial_pair(), (4, Role::Encryption));
    assert_eq!(idx.issued[0].her_id, DEFAULT_REGISTER_HER_ID);
    assert_eq!(idx.issued[0].cert.sha256.len(), 32 * 3 - 1);
    assert_eq!(idx.next_serial, 5);

    let reg = pki.register().unwrap();
    let subject = name_to_string(reg.signing.cert.subject_name());
    assert!(subject.contains("serialNumber=983544622"), "{subject}");
    assert!(
        subject.contains("organizationIdentifier=NTRNO-983544622"),
        "{subject}"
    );
    assert!(subject.contains("CN=Helsedirektoratet KPR - signering"));
    let sku = key_usage(&reg.signing.cert).unwrap().unwrap();
    assert!(sku.non_repudiation && sku.digital_signature && !sku.key_encipherment);
    let eku = key_usage(&reg.encryption.cert).unwrap().unwrap();
    assert!(eku.key_encipherment && eku.data_encipherment && !eku.non_repudiation);
    assert_eq!(reg.signing.cert.public_key().unwrap().bits(), 2048);

    // Both verify against the trust store for their purposes.
    let trust = pki.trust_store().unwrap();
    let at = Utc.with_ymd_and_hms(2019, 1, 3, 12, 0, 0).unwrap();
    trust
        .verify_cert(&reg.signing.cert, &[], at, X509PurposeId::SMIME_SIGN)
        .unwrap();
    trust
        .verify_cert(&reg.encryption.cert, &[], at, X509PurposeId::SMIME_ENCRYPT)
        .unwrap();
}

trait SerialPair {
    fn serial_pair(&self) -> (u64, Role);
}

impl SerialPair for iplos_mocks::pki::IssuedRecord {
    fn serial_pair(&self) -> (u64, Role) {
        (self.cert.serial, self.role)
    }
}

#[test]
fn init_twice_is_refused_and_load_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::init(dir.path()).unwrap();
    assert!(matches!(
        Pki::init(dir.path()),
        Err(PkiError::AlreadyExists(_))
    ));
    let again = Pki::load(dir.path()).unwrap();
    assert_eq!(again.index(), pki.index());
    assert_eq!(
        again.ca_cert().to_der().unwrap(),
        pki.ca_cert().to_der().unwrap()
    );
    let reg = again.register().unwrap();
    assert_eq!(
        reg.encryption.cert.to_der().unwrap(),
        pki.register().unwrap().encryption.cert.to_der().unwrap()
    );
    assert!(matches!(
        Pki::load(dir.path().join("nowhere")),
        Err(PkiError::Io { .. })
    ));
}

#[test]
fn bad_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PkiConfig {
        key_bits: 1024,
        ..PkiConfig::default()
    };
    assert!(matches!(
        Pki::init_with(dir.path(), cfg),
        Err(PkiError::Config(_))
    ));
    let cfg = PkiConfig {
        register_orgnr: "123456789".into(),
        ..PkiConfig::default()
    };
    assert!(matches!(
        Pki::init_with(dir.path(), cfg),
        Err(PkiError::Config(_))
    ));
}

#[test]
fn issue_lays_out_files_and_p12_opens_with_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = Pki::init(dir.path()).unwrap();
    let party = pki.issue(her(12345), &orgnr(), "Oslo kommune").unwrap();
    assert_eq!(
        party.signing.cert_path,
        dir.path().join("12345/signing.pem")
    );
    assert_eq!(
        party.encryption.key_path,
        dir.path().join("12345/encryption.key.pem")
    );
    let serials: Vec<u64> = pki.index().issued.iter().map(|r| r.cert.serial).collect();
    assert_eq!(serials, vec![3, 4, 5, 6]);

    let p12 = Pkcs12::from_der(&std::fs::read(&party.signing.p12_path).unwrap()).unwrap();
    let parsed = p12.parse2("iplos-harness").unwrap();
    assert_eq!(
        parsed.cert.unwrap().to_der().unwrap(),
        party.signing.cert.to_der().unwrap()
    );
    assert!(
        parsed
            .pkey
            .unwrap()
            .public_eq(&party.signing.cert.public_key().unwrap())
    );
    assert_eq!(parsed.ca.unwrap().len(), 1);
    assert!(p12.parse2("wrong").is_err());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&party.signing.key_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Reloaded by HER-id.
    let same = pki.party(her(12345), Variant::Valid).unwrap();
    assert_eq!(same.name, "Oslo kommune");
    assert_eq!(same.orgnr, "974778874");

    // Its share, for handing over: its own pair with the keys, the register's certificates
    // (at a HER-id without a pair of its own too), the CA — and no other key.
    let out = dir.path().join("export");
    let validation = her(131_725);
    pki.export_party(
        &out,
        her(12345),
        &[her(DEFAULT_REGISTER_HER_ID), validation],
    )
    .unwrap();
    let mut keyed = Vec::new();
    for entry in walk(&out) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).to_string();
        if text.contains("PRIVATE KEY") || entry.extension().is_some_and(|e| e == "p12") {
            keyed.push(entry.strip_prefix(&out).unwrap().display().to_string());
        }
    }
    keyed.sort();
    assert_eq!(
        keyed,
        [
            "12345/encryption.key.pem",
            "12345/encryption.p12",
            "12345/signing.key.pem",
            "12345/signing.p12"
        ]
    );
    let export = PartyExport::load(&out).unwrap();
    let own = export.party().unwrap();
    assert_eq!(
        (own.her_id, own.name.as_str()),
        (her(12345), "Oslo kommune")
    );
    assert!(
        own.signing
            .key
            .public_eq(&party.signing.cert.public_key().unwrap())
    );
    let register = pki.register().unwrap();
    for at in [her(DEFAULT_REGISTER_HER_ID), validation] {
        let c = export.counterpart(at).unwrap();
        assert_eq!(c.name, register.name);
        assert_eq!(
            c.encryption.to_der().unwrap(),
            register.encryption.cert.to_der().unwrap()
        );
        assert_eq!(
            c.signing.to_der().unwrap(),
            register.signing.cert.to_der().unwrap()
        );
    }
    assert!(export.counterpart(her(999)).is_err());
    assert_eq!(export.index().p12_password, "iplos-harness");
    export
        .trust_store()
        .unwrap()
        .verify_cert(
            &own.signing.cert,
            &[],
            Utc::now(),
            X509PurposeId::SMIME_SIGN,
        )
        .unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[test]
fn negative_variants_fail_as_intended() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = Pki::init(dir.path()).unwrap();
    let at = Utc.with_ymd_and_hms(2019, 1, 3, 12, 0, 0).unwrap();
    let cfg = pki.config().clone();
    let mut parties = Vec::new();
    for v in Variant::ALL {
        parties.push(
            pki.issue_variant(her(4711), &orgnr(), "Testkommune", v)
                .unwrap(),
        );
    }
    for p in &parties {
        if let Some(d) = p.variant.dir_name() {
            assert_eq!(
                p.signing.cert_path,
                dir.path().join(format!("4711/{d}/signing.pem"))
            );
        }
    }
    let trust = pki.trust_store().unwrap();
    let verdict = |p: &iplos_mocks::pki::Party| {
        trust.verify_cert(&p.signing.cert, &[], at, X509PurposeId::SMIME_SIGN)
    };
    assert!(verdict(&parties[0]).is_ok());
    assert!(matches!(
        verdict(&parties[1]),
        Err(CmsError::Expired { .. })
    ));
    assert!(
        parties[1].signing.cert.not_after()
            < &*openssl::asn1::Asn1Time::from_unix(cfg.valid_from.timestamp()).unwrap()
    );
    assert!(matches!(
        verdict(&parties[2]),
        Err(CmsError::NotYetValid { .. })
    ));
    assert!(matches!(
        verdict(&parties[3]),
        Err(CmsError::Revoked { .. })
    ));
    assert!(matches!(
        verdict(&parties[4]),
        Err(CmsError::UnknownIssuer { code: 20, .. })
    ));
    assert!(matches!(
        verdict(&parties[5]),
        Err(CmsError::WrongKeyUsage { .. })
    ));
    // The wrong-usage encryption certificate has no keyEncipherment.
    let ku = key_usage(&parties[5].encryption.cert).unwrap().unwrap();
    assert!(ku.digital_signature && !ku.key_encipherment);

    // Both certificates of the revoked pair are on the CRL, the valid ones are not.
    let crl = pki.crl();
    assert!(matches!(
        crl.get_by_cert(&parties[3].signing.cert),
        CrlStatus::Revoked(_)
    ));
    assert!(matches!(
        crl.get_by_cert(&parties[3].encryption.cert),
        CrlStatus::Revoked(_)
    ));
    assert!(matches!(
        crl.get_by_cert(&parties[0].signing.cert),
        CrlStatus::NotRevoked
    ));
    assert_eq!(pki.index().crl_number, 3);
    let wrong_ca_issuer = name_to_string(parties[4].signing.cert.issuer_name());
    assert!(wrong_ca_issuer.contains("Untrusted CA"));
}

#[test]
fn revoke_by_serial_and_custom_validity() {
    let dir = tempfile::tempdir().unwrap();
    let mut pki = Pki::init(dir.path()).unwrap();
    let party = pki.issue(her(555), &orgnr(), "Kommune").unwrap();
    let at = Utc.with_ymd_and_hms(2019, 1, 10, 0, 0, 0).unwrap();
    let serial = pki
        .index()
        .issued
        .iter()
        .find(|r| r.her_id == 555 && r.role == Role::Signing)
        .unwrap()
        .cert
        .serial;
    pki.revoke(serial).unwrap();
    assert!(matches!(pki.revoke(999), Err(PkiError::UnknownSerial(999))));
    let reloaded = Pki::load(dir.path()).unwrap();
    assert_eq!(reloaded.index().revoked.len(), 1);
    let trust = reloaded.trust_store().unwrap();
    assert!(matches!(
        trust.verify_cert(&party.signing.cert, &[], at, X509PurposeId::SMIME_SIGN),
        Err(CmsError::Revoked { .. })
    ));

    // A certificate that expires in the middle of a season.
    let opts = IssueOptions {
        variant: Variant::Valid,
        validity: Some((
            Utc.with_ymd_and_hms(2018, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2019, 1, 8, 0, 0, 0).unwrap(),
        )),
        subdir: Some("expires-2019-01-08".into()),
    };
    let p = pki
        .issue_with(her(556), &orgnr(), "Kommune 2", &opts)
        .unwrap();
    assert_eq!(
        p.signing.cert_path,
        dir.path().join("556/expires-2019-01-08/signing.pem")
    );
    let trust = pki.trust_store().unwrap();
    let before = Utc.with_ymd_and_hms(2019, 1, 7, 0, 0, 0).unwrap();
    trust
        .verify_cert(&p.signing.cert, &[], before, X509PurposeId::SMIME_SIGN)
        .unwrap();
    assert!(matches!(
        trust.verify_cert(&p.signing.cert, &[], at, X509PurposeId::SMIME_SIGN),
        Err(CmsError::Expired { .. })
    ));
}
