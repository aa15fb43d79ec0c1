//! A register HER-id with a certificate pair of its own (KPR Validering 131725 in a
//! certification session, as in NHN's address register): the national side started from
//! the PKI directory decrypts a message to it with its own key and signs the AppRec with its
//! own key; a message to it encrypted for KPR 134197's certificate is not accepted.

use std::time::Duration;

use iplos_mocks::national::{National, RegisterOptions, ServicebusOptions};
use iplos_mocks::pki::Pki;
use iplos_mocks::sender::{Answer, Counterpart, ReferenceSender, SenderConfig, SenderIdentity};
use iplos_mocks::servicebus::Participant;
use iplos_model::ids::{HerId, OrgNr};
use iplos_model::message::AppRecStatus;

const KOMMUNE: u32 = 9_000_301;
const VALIDATION: u32 = 131_725;
const PRODUCTION: u32 = 134_197;

fn her(n: u32) -> HerId {
    HerId::new(n).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpr_validering_decrypts_and_signs_with_its_own_pair() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    let mut pki = Pki::init(&pki_dir).unwrap();
    let kommune = pki
        .issue(
            her(KOMMUNE),
            &OrgNr::parse("974778874").unwrap(),
            "Oslo kommune",
        )
        .unwrap();
    let orgnr = OrgNr::parse(&pki.config().register_orgnr).unwrap();
    let validation = pki
        .issue(her(VALIDATION), &orgnr, "Helsedirektoratet KPR Validering")
        .unwrap();
    let production = pki.register().unwrap();
    assert_ne!(
        validation.encryption.cert.to_der().unwrap(),
        production.encryption.cert.to_der().unwrap()
    );

    let register =
        RegisterOptions::from_pki_dir(&pki_dir, vec![her(PRODUCTION), her(VALIDATION)]).unwrap();
    assert_eq!(
        register
            .own_identities
            .iter()
            .map(|p| p.her_id.get())
            .collect::<Vec<_>>(),
        [VALIDATION],
        "131725 answers with its own pair; 134197 with the register's"
    );
    let mut bus = ServicebusOptions::new(
        vec![Participant::new(her(KOMMUNE), "kommune", "secret")],
        register,
    );
    bus.namespace = "NS".into();
    let national = National::builder()
        .data_year(2024)
        .servicebus(bus)
        .start()
        .await
        .unwrap();
    let url = format!("amqp://kommune:secret@{}/NS", national.amqp_addr().unwrap());
    let trust = std::sync::Arc::new(pki.trust_store().unwrap());
    let iplos = iplos_mocks::sender::sample_iplos("0301", 2024, 1);
    let submit =
        |to: u32, encrypt_for: &iplos_mocks::pki::Party, signed_by: &iplos_mocks::pki::Party| {
            let mut cfg = SenderConfig::new(
                url.clone(),
                SenderIdentity {
                    party: kommune.clone(),
                    register: Counterpart {
                        her_id: her(to),
                        name: "KPR".into(),
                        // AppRecs must be signed with this certificate (pinned).
                        signing_cert: signed_by.signing.cert.clone(),
                        encryption_cert: encrypt_for.encryption.cert.clone(),
                    },
                    trust: trust.clone(),
                },
            );
            cfg.timeout = Duration::from_secs(30);
            let iplos = iplos.clone();
            async move {
                let mut s = ReferenceSender::connect(cfg).await.unwrap();
                let a = s.submit(&iplos, &[]).await;
                s.close().await;
                a
            }
        };

    // To 131725, encrypted for its own certificate: accepted, the AppRec signed with its key.
    let a = submit(VALIDATION, &validation, &validation).await.unwrap();
    let a = a.apprec().expect("an AppRec").clone();
    assert_eq!(a.apprec.status, AppRecStatus::Ok, "{:?}", a.apprec.errors);

    // To 131725, encrypted for KPR's certificate: KPR Validering cannot read it.
    match submit(VALIDATION, &production, &validation).await.unwrap() {
        Answer::Error(e) => assert!(
            e.condition_text.starts_with("transport:"),
            "a transport error: {e:?}"
        ),
        Answer::AppRec(a) => assert_eq!(
            a.apprec.status,
            AppRecStatus::Rejected,
            "not accepted: {:?}",
            a.apprec.errors
        ),
    }

    // KPR 134197 still answers with the register's pair.
    let a = submit(PRODUCTION, &production, &production).await.unwrap();
    assert_eq!(
        a.apprec().expect("an AppRec").apprec.status,
        AppRecStatus::Ok
    );
    national.shutdown().await;
}
