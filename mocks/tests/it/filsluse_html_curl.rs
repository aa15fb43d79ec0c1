//! The HTML portal with `curl` (not our client): sign-on with a cookie jar, the folder
//! listing with the seeds' columns and Oslo times, download, CSRF-protected delete, sign
//! out; and the REST download with curl.

use crate::filsluse_support;
use chrono::{TimeZone, Utc};
use filsluse_support::*;
use iplos_mocks::filsluse::UserSpec;

fn s(v: &str) -> String {
    v.to_string()
}

#[tokio::test]
async fn curl_signs_on_lists_downloads_and_deletes() {
    // The seed's example: 20.10.2016 18:31:29 Oslo, summer time.
    let at = Utc.with_ymd_and_hms(2016, 10, 20, 16, 31, 29).unwrap();
    let env = start_at(config(), at).await;
    env.fs
        .create_user(
            &UserSpec::new(HAMAR)
                .with_full_name("IPLOS-Tilbakemelding Hamar kommune")
                .with_temporary_password("Temp0rary9"),
        )
        .unwrap();
    let (status, _) = env
        .token_form(&[
            ("grant_type", "password"),
            ("username", HAMAR),
            ("password", "Temp0rary9"),
            ("new_password", GOOD),
        ])
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let entry = "feilliste.txt";
    let content = vec![b'x'; 24_544 - (98 + 2 * entry.len())];
    let zip = stored_zip(entry, &content);
    assert_eq!(zip.len(), 24_544);
    let file = env.fs.upload(HAMAR, "040300_iplos_test.zip", &zip).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let jar = tmp.path().join("jar.txt").display().to_string();
    let headers = tmp.path().join("headers.txt").display().to_string();
    let out = tmp.path().join("download.zip").display().to_string();

    // Sign-on page: a session cookie and a CSRF token.
    let page = curl(vec![
        s("-s"),
        s("-c"),
        jar.clone(),
        s("-b"),
        jar.clone(),
        env.url("/signon"),
    ])
    .await;
    assert!(page.contains("Sign On"));
    assert!(page.contains("Request a password change"));
    let csrf = csrf_of(&page);

    // Sign on.
    let answer = curl(vec![
        s("-s"),
        s("-c"),
        jar.clone(),
        s("-b"),
        jar.clone(),
        s("-D"),
        headers.clone(),
        s("-o"),
        s("/dev/null"),
        s("-w"),
        s("%{http_code} %{redirect_url}"),
        s("--data-urlencode"),
        format!("username={HAMAR}"),
        s("--data-urlencode"),
        format!("password={GOOD}"),
        s("--data-urlencode"),
        format!("csrftoken={csrf}"),
        env.url("/signon"),
    ])
    .await;
    let folder_url = env.url(&format!("/folder/{}", file.folder.id));
    assert_eq!(answer, format!("303 {folder_url}"));
    let hdrs = std::fs::read_to_string(&headers).unwrap();
    let cookie_line = hdrs
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: filsluse_session=")
        })
        .expect("a new session cookie at sign-on");
    assert!(
        cookie_line.contains("; Path=/; HttpOnly; SameSite=Lax"),
        "{cookie_line}"
    );
    assert!(!cookie_line.contains("Secure"), "plain http");
    let jar_text = std::fs::read_to_string(&jar).unwrap();
    assert!(jar_text.contains("#HttpOnly_127.0.0.1"), "{jar_text}");

    // The listing, as in the seed's figure 4-11.
    let listing = curl(vec![s("-s"), s("-b"), jar.clone(), folder_url.clone()]).await;
    for needle in [
        "Signed onto Statistisk sentralbyrå as IPLOS-Tilbakemelding Hamar kommune (postmottak@hamar.kommune.test)",
        "Individbasert Pleie og omsorgsstatistikk",
        "Nedlasting av kryptert feilliste og kontrolltabeller",
        "Velkommen til Statistisk sentralbyrå! Vennligst se dette området for viktige meldinger.",
        "/ Home/ Ekstern/ iplos/ postmottak@hamar.kommune.test/ frassb/",
        "Go To Folder...",
        "<th>Name</th><th>Created</th><th>Size/Contents</th><th>Creator</th><th>Download</th>",
        "Parent Folder",
        "040300_iplos_test.zip",
        "<td>20.10.2016 18:31:29</td><td>24 KB</td><td>frassb</td>",
        "All time and date stamps displayed on this site are GMT +2, except time and date stamps recorded during standard time (GMT +1).",
    ] {
        assert!(listing.contains(needle), "missing {needle:?} in\n{listing}");
    }
    let download_href = format!("/file/{}/download", file.id);
    assert!(listing.contains(&format!("href=\"{download_href}\"")));

    // Download: the same bytes.
    let code = curl(vec![
        s("-s"),
        s("-b"),
        jar.clone(),
        s("-o"),
        out.clone(),
        s("-w"),
        s("%{http_code}"),
        env.url(&download_href),
    ])
    .await;
    assert_eq!(code, "200");
    assert_eq!(std::fs::read(&out).unwrap(), zip);

    // Delete without the form token: refused; with it: gone.
    let delete_url = env.url(&format!("/file/{}/delete", file.id));
    let code = curl(vec![
        s("-s"),
        s("-b"),
        jar.clone(),
        s("-o"),
        s("/dev/null"),
        s("-w"),
        s("%{http_code}"),
        s("-X"),
        s("POST"),
        delete_url.clone(),
    ])
    .await;
    assert_eq!(code, "403");
    assert_eq!(env.fs.files(HAMAR).unwrap().len(), 1);
    let csrf = csrf_of(&listing);
    let answer = curl(vec![
        s("-s"),
        s("-b"),
        jar.clone(),
        s("-o"),
        s("/dev/null"),
        s("-w"),
        s("%{http_code} %{redirect_url}"),
        s("--data-urlencode"),
        format!("csrftoken={csrf}"),
        delete_url,
    ])
    .await;
    assert_eq!(answer, format!("303 {folder_url}"));
    assert!(env.fs.files(HAMAR).unwrap().is_empty());

    // Sign out; the listing sends back to sign-on.
    curl(vec![
        s("-s"),
        s("-b"),
        jar.clone(),
        s("-o"),
        s("/dev/null"),
        s("--data-urlencode"),
        format!("csrftoken={csrf}"),
        env.url("/signout"),
    ])
    .await;
    let answer = curl(vec![
        s("-s"),
        s("-b"),
        jar.clone(),
        s("-o"),
        s("/dev/null"),
        s("-w"),
        s("%{http_code} %{redirect_url}"),
        folder_url,
    ])
    .await;
    assert_eq!(answer, format!("303 {}", env.url("/signon")));
}

#[tokio::test]
async fn curl_uses_the_rest_api() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let zip = stored_zip("kontrolltabeller.txt", b"tabell 1\n");
    let file = env.fs.upload(HAMAR, "040300_iplos.zip", &zip).unwrap();
    let tok = curl(vec![
        s("-s"),
        s("-d"),
        s("grant_type=password"),
        s("--data-urlencode"),
        format!("username={HAMAR}"),
        s("--data-urlencode"),
        format!("password={GOOD}"),
        env.url("/api/v1/token"),
    ])
    .await;
    let tok: serde_json::Value = serde_json::from_str(&tok).unwrap();
    let bearer = format!(
        "Authorization: Bearer {}",
        tok["access_token"].as_str().unwrap()
    );
    let details = curl(vec![
        s("-s"),
        s("-H"),
        bearer.clone(),
        env.url(&format!("/api/v1/files/{}", file.id)),
    ])
    .await;
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("f.zip").display().to_string();
    curl(vec![
        s("-s"),
        s("-H"),
        bearer,
        s("-o"),
        out.clone(),
        env.url(&format!("/api/v1/files/{}/download", file.id)),
    ])
    .await;
    let got = std::fs::read(&out).unwrap();
    assert_eq!(got, zip);
    assert_eq!(details["hash"], sha1_hex(&got));
}

#[tokio::test]
async fn winter_pages_say_gmt_plus_1() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    env.fs.upload(HAMAR, "a.zip", b"PK").unwrap();
    let mut b = env.browser();
    let r = b.sign_on(HAMAR, GOOD).await;
    let page = b.follow(&r).await;
    let html = page.text();
    assert!(html.contains(
        "All time and date stamps displayed on this site are GMT +1, except time and date \
         stamps recorded during daylight saving time (GMT +2)."
    ));
    assert!(html.contains("07.02.2017 08:00:00"));
    for h in [
        "cache-control",
        "x-frame-options",
        "referrer-policy",
        "x-content-type-options",
    ] {
        assert!(!page.header(h).is_empty(), "{h}");
    }
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert!(page.header("content-type").starts_with("text/html"));
}
