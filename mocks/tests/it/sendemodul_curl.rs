//! Sendemodul with `curl` (the real binary, not our client): the login page has the four
//! labelled inputs; a form post logs in with a cookie jar; `-F` uploads a generated IPLOS
//! file; the receipt page has what a person needs.

use crate::sendemodul_support;
use iplos_mocks::intake::Channel;
use sendemodul_support::*;

fn s(v: &str) -> String {
    v.to_string()
}

#[tokio::test]
async fn curl_logs_in_uploads_and_gets_a_receipt_page() {
    let env = start_at(config(), friday()).await;
    let tmp = tempfile::tempdir().unwrap();
    let jar = tmp.path().join("jar.txt").display().to_string();
    let file = iplos_file(2017, HAMAR, 77);
    let path = tmp.path().join("040300_2017.xml");
    std::fs::write(&path, &file).unwrap();

    // The login page: four inputs, each with its label.
    let login = curl(vec![s("-s"), env.sm.portal_url(Channel::Ordinary)]).await;
    assert!(login.contains("<meta charset=\"utf-8\">"));
    for (id, label) in [
        ("kommunenr", "Kommunenummer"),
        ("bydel", "Bydel"),
        ("orgnr", "Organisasjonsnummer"),
        ("pin", "PIN-kode"),
    ] {
        assert!(
            login.contains(&format!("<label for=\"{id}\">{label}")),
            "label for {id}: {login}"
        );
        assert!(
            login.contains(&format!("id=\"{id}\" name=\"{id}\"")),
            "input {id}: {login}"
        );
    }
    assert!(!login.contains("<script"));

    // Log in with a form post; follow the redirect to the upload page.
    let upload_page = curl(vec![
        s("-s"),
        s("-L"),
        s("-c"),
        jar.clone(),
        s("-b"),
        jar.clone(),
        s("--data-urlencode"),
        format!("kommunenr={HAMAR}"),
        s("--data-urlencode"),
        s("bydel=00"),
        s("--data-urlencode"),
        format!("orgnr={}", orgnr(HAMAR)),
        s("--data-urlencode"),
        format!("pin={}", env.sm.pin(HAMAR)),
        env.url(Channel::Ordinary, "login"),
    ])
    .await;
    assert!(
        upload_page.contains("enctype=\"multipart/form-data\""),
        "{upload_page}"
    );
    for id in [
        "epost",
        "telefon",
        "tilbakemeldingspassord",
        "fil",
        "del",
        "antall_deler",
        "gruppe",
    ] {
        assert!(
            upload_page.contains(&format!("<label for=\"{id}\">")),
            "label {id}"
        );
    }
    let csrf = field_value(&upload_page, "csrf").unwrap();

    // Upload with -F.
    let receipt = curl(vec![
        s("-s"),
        s("-b"),
        jar.clone(),
        s("-F"),
        format!("csrf={csrf}"),
        s("-F"),
        s("epost=iplos@hamar.kommune.test"),
        s("-F"),
        s("telefon=91234567"),
        s("-F"),
        s("tilbakemeldingspassord=Hemmelig42"),
        s("-F"),
        format!("fil=@{}", path.display()),
        env.url(Channel::Ordinary, "upload"),
    ])
    .await;
    let sub = &env.intake.all_submissions().unwrap()[0];
    assert_eq!(
        by_id(&receipt, "kommune").unwrap(),
        "0403 Hamar",
        "{receipt}"
    );
    assert_eq!(by_id(&receipt, "bydel").unwrap(), "00");
    assert_eq!(by_id(&receipt, "filnavn").unwrap(), "040300_2017.xml");
    assert_eq!(
        by_id(&receipt, "storrelse").unwrap(),
        format!("{} byte", file.len())
    );
    assert_eq!(by_id(&receipt, "sha256").unwrap(), sub.sha256);
    assert_eq!(
        by_id(&receipt, "ankommet").unwrap(),
        "12.01.2018 kl. 14:00:00 (Europe/Oslo)"
    );
    let due = by_id(&receipt, "kvittering").unwrap();
    assert!(
        due.contains("Kvittering sendes på e-post ca. kl. 08:00 første virkedag etter")
            && due.contains("15.01.2018 kl. 08:00:00"),
        "{due}"
    );
    assert_eq!(by_id(&receipt, "feil-antall").unwrap(), "0");
    assert_eq!(env.intake.raw_bytes(sub.id).unwrap().unwrap(), file);

    // The history page lists it; the cookie jar's cookie is path-scoped and HttpOnly.
    let hist = curl(vec![
        s("-s"),
        s("-b"),
        jar.clone(),
        env.url(Channel::Ordinary, "history"),
    ])
    .await;
    assert!(hist.contains("040300_2017.xml"));
    let jar_text = std::fs::read_to_string(&jar).unwrap();
    assert!(jar_text.contains("#HttpOnly_127.0.0.1"), "{jar_text}");
    assert!(jar_text.contains("/Sendemodul/"), "{jar_text}");
}
