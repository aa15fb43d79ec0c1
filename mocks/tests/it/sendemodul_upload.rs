//! Uploads: a whole generated IPLOS file is stored and checked; a split upload in three
//! parts sent out of order is reassembled byte-identical; a missing part leaves nothing
//! submitted and is named; a repeated part is refused; one kommune never sees another's
//! uploads.

use crate::sendemodul_support;
use iplos_mocks::intake::Channel;
use reqwest::StatusCode;
use sendemodul_support::*;

#[tokio::test]
async fn a_generated_file_is_stored_checked_and_receipted_on_the_page() {
    let env = start_at(config(), friday()).await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let file = iplos_file(2017, HAMAR, 11);
    let (status, page) = env
        .upload_file(Channel::Ordinary, &cookie, "040300_2017.xml", &file)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let subs = env.intake.submissions_of(HAMAR, Channel::Ordinary).unwrap();
    assert_eq!(subs.len(), 1);
    let s = &subs[0];
    assert_eq!(s.size, file.len() as u64);
    assert_eq!(s.data_year, 2017);
    assert_eq!(s.checked_year, 2017);
    assert_eq!(s.contact_email, "iplos@hamar.kommune.test");
    assert_eq!(s.contact_phone.as_deref(), Some("+47 912 34 567"));
    assert_eq!(s.feedback_key, "Hemmelig42");
    let sum = s.summary.unwrap();
    assert!(sum.notifications > 0 && sum.persons > 0, "{sum:?}");
    assert_eq!(sum.errors, 0, "{}", s.report_json.as_deref().unwrap_or(""));
    assert_eq!(env.intake.raw_bytes(s.id).unwrap().unwrap(), file);
    // The page.
    assert_eq!(by_id(&page, "kommune").unwrap(), "0403 Hamar");
    assert_eq!(by_id(&page, "filnavn").unwrap(), "040300_2017.xml");
    assert_eq!(
        by_id(&page, "storrelse").unwrap(),
        format!("{} byte", file.len())
    );
    assert_eq!(by_id(&page, "sha256").unwrap(), s.sha256);
    assert_eq!(
        by_id(&page, "ankommet").unwrap(),
        "12.01.2018 kl. 14:00:00 (Europe/Oslo)"
    );
    assert!(
        by_id(&page, "kvittering")
            .unwrap()
            .contains("08:00 første virkedag etter ankomst: 15.01.2018 kl. 08:00:00")
    );
    assert_eq!(by_id(&page, "feil-antall").unwrap(), "0");

    // The test portal checks last year's data: a 2016 file on /SendemodulTEST/.
    let cookie = env.login(Channel::Test, HAMAR).await;
    let file = iplos_file(2016, HAMAR, 12);
    let (status, page) = env
        .upload_file(Channel::Test, &cookie, "040300_test.xml", &file)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let t = &env.intake.submissions_of(HAMAR, Channel::Test).unwrap()[0];
    assert_eq!(t.checked_year, 2016);
    assert_eq!(
        t.summary.unwrap().errors,
        0,
        "{}",
        t.report_json.as_deref().unwrap()
    );
}

fn split_fields<'a>(csrf: &'a str, no: &'a str, group: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("epost", "iplos@hamar.kommune.test"),
        ("tilbakemeldingspassord", "Hemmelig42"),
        ("del", no),
        ("antall_deler", "3"),
        ("gruppe", group),
    ]
}

#[tokio::test]
async fn three_parts_out_of_order_are_reassembled_byte_identical() {
    let env = start_at(config(), friday()).await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let csrf = env.csrf(Channel::Ordinary, &cookie).await;
    let file = iplos_file(2017, HAMAR, 21);
    let n = file.len().div_ceil(3);
    let parts: Vec<&[u8]> = file.chunks(n).collect();
    assert_eq!(parts.len(), 3);
    let group = "g-hamar-2017";
    for (i, no) in [(2usize, "3"), (0, "1")] {
        let (status, page) = env
            .upload(
                Channel::Ordinary,
                &cookie,
                &split_fields(&csrf, no, group),
                Some((&format!("iplos.xml.00{no}"), parts[i])),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{page}");
        assert_eq!(
            by_id(&page, "mangler").unwrap(),
            if no == "3" { "1, 2" } else { "2" }
        );
        assert!(env.intake.all_submissions().unwrap().is_empty());
    }
    // The same part again is refused, and the group stays pending.
    let (status, page) = env
        .upload(
            Channel::Ordinary,
            &cookie,
            &split_fields(&csrf, "1", group),
            Some(("iplos.xml.001", parts[0])),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("allerede mottatt"));
    // History names the missing part.
    let (_, hist) = env.get(Channel::Ordinary, "history", &cookie).await;
    assert!(hist.contains("mangler del 2"), "{hist}");
    // The last part completes the group.
    let (status, page) = env
        .upload(
            Channel::Ordinary,
            &cookie,
            &split_fields(&csrf, "2", group),
            Some(("iplos.xml.002", parts[1])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(by_id(&page, "filnavn").unwrap(), "iplos.xml");
    let subs = env.intake.all_submissions().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(env.intake.raw_bytes(subs[0].id).unwrap().unwrap(), file);
    let sum = subs[0].summary.unwrap();
    assert!(sum.notifications > 0);
    assert_eq!(sum.errors, 0);
    assert!(env.sm.pending_groups().is_empty());
}

#[tokio::test]
async fn a_missing_part_submits_nothing_and_inconsistent_parts_are_refused() {
    let env = start_at(config(), friday()).await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let csrf = env.csrf(Channel::Ordinary, &cookie).await;
    let (status, page) = env
        .upload(
            Channel::Ordinary,
            &cookie,
            &split_fields(&csrf, "1", "g1"),
            Some(("a.xml.001", &[b'a'; 1000])),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(by_id(&page, "mangler").unwrap(), "2, 3");
    let (status, _) = env
        .upload(
            Channel::Ordinary,
            &cookie,
            &split_fields(&csrf, "3", "g1"),
            Some(("a.xml.003", &[b'c'; 10])),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(env.intake.all_submissions().unwrap().is_empty());
    let pending = env.sm.pending_groups();
    assert_eq!(
        pending,
        vec![(HAMAR.to_string(), "g1".to_string(), vec![1, 3], 3)]
    );
    // A part count that changes within a group.
    let mut f = split_fields(&csrf, "2", "g1");
    f[4] = ("antall_deler", "4");
    let (status, page) = env
        .upload(
            Channel::Ordinary,
            &cookie,
            &f,
            Some(("a.xml.002", &[b'b'; 1000])),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    // Part 2 larger than part 1 (as `split -n` cuts, the real upload accepts any sizes):
    // the parts are joined and the file is named after the file, not its first part.
    let (status, page) = env
        .upload(
            Channel::Ordinary,
            &cookie,
            &split_fields(&csrf, "2", "g1"),
            Some(("a.xml.002", &[b'b'; 1001])),
        )
        .await;
    assert!(status.is_success(), "{status}: {page}");
    let subs = env.intake.all_submissions().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].file_name, "a.xml");
    assert_eq!(subs[0].size, 1000 + 1001 + 10);
    assert!(env.sm.pending_groups().is_empty());
}

#[tokio::test]
async fn field_errors_are_named() {
    let env = start_at(config(), friday()).await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let csrf = env.csrf(Channel::Ordinary, &cookie).await;
    let (status, page) = env
        .upload(
            Channel::Ordinary,
            &cookie,
            &[
                ("csrf", &csrf),
                ("epost", "ikke-en-adresse"),
                ("tilbakemeldingspassord", "12345"),
            ],
            Some(("x.xml", b"<x/>")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("E-post (contact e-mail)"), "{page}");
    assert!(page.contains("minst 6 tegn"), "{page}");
    // Wrong CSRF token.
    let (status, _) = env
        .upload(
            Channel::Ordinary,
            &cookie,
            &[
                ("csrf", "nope"),
                ("epost", "a@b.no"),
                ("tilbakemeldingspassord", "123456"),
            ],
            Some(("x.xml", b"<x/>")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Not logged in.
    let (status, _) = env
        .upload(
            Channel::Ordinary,
            "SendemodulSession=feil",
            &[],
            Some(("x.xml", b"<x/>")),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(env.intake.all_submissions().unwrap().is_empty());
}

#[tokio::test]
async fn one_kommune_never_sees_another_kommunes_uploads() {
    let env = start_at(config(), friday()).await;
    let hamar = env.login(Channel::Ordinary, HAMAR).await;
    let elverum = env.login(Channel::Ordinary, ELVERUM).await;
    let (s, _) = env
        .upload_file(
            Channel::Ordinary,
            &hamar,
            "hamar-hemmelig.xml",
            b"<Melding/>",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let id = env.intake.all_submissions().unwrap()[0].id;
    // Hamar sees it.
    let (s, page) = env
        .get(Channel::Ordinary, &format!("receipt/{id}"), &hamar)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("hamar-hemmelig.xml"));
    let (_, hist) = env.get(Channel::Ordinary, "history", &hamar).await;
    assert!(hist.contains("hamar-hemmelig.xml"));
    // Elverum does not: not by id, not in its history.
    let (s, page) = env
        .get(Channel::Ordinary, &format!("receipt/{id}"), &elverum)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!page.contains("hamar-hemmelig"));
    let (_, hist) = env.get(Channel::Ordinary, "history", &elverum).await;
    assert!(!hist.contains("hamar-hemmelig"), "{hist}");
    // Nor through the test portal with Hamar's ordinary cookie.
    let (s, _) = env
        .get(Channel::Test, &format!("receipt/{id}"), &hamar)
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // Ids that are not numbers.
    let (s, _) = env
        .get(Channel::Ordinary, "receipt/..%2F..%2Fetc", &hamar)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
