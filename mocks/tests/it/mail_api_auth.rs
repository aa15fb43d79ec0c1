//! The mail capture's reading API holds every password link the national side sends: it
//! answers only with its bearer token, also on loopback, and refuses mailbox names that
//! are not addresses.

use crate::mail_support;

use iplos_mocks::mail::MailConfig;
use reqwest::StatusCode;

use mail_support::{TOKEN, start};

#[tokio::test]
async fn the_api_wants_its_token_and_an_address() {
    let handle = start(MailConfig::default()).await;
    let base = handle.http_url().unwrap();
    assert_eq!(handle.http_token(), TOKEN);
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    for path in ["/mailboxes", "/mailboxes/a@b.test/messages", "/messages/1"] {
        let r = get(path, None).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        let r = get(path, Some("not-the-token")).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = get("/mailboxes", Some(TOKEN)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get("/mailboxes/a@b.test/messages", Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for bad in [
        "/mailboxes/..%2f..%2fetc%2fpasswd/messages",
        "/mailboxes/..%5c..%5cwin.ini/messages",
        "/mailboxes/a%2fb@c.test/messages",
        "/mailboxes/nobody/messages",
    ] {
        let r = get(bad, Some(TOKEN)).await.unwrap();
        assert!(
            r.status() == StatusCode::BAD_REQUEST || r.status() == StatusCode::NOT_FOUND,
            "{bad}: {}",
            r.status()
        );
    }
}
