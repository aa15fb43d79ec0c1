//! The filsluse as an attacker meets it: a flood of password-change requests for one
//! user mails at most five links an hour; a hostile `?path=` mask is answered at once.

use crate::filsluse_support;

use chrono::Duration;
use iplos_mocks::filsluse::FilsluseMail;
use reqwest::StatusCode;

use filsluse_support::*;

fn links_to(env: &Env, to: &str) -> usize {
    env.mails
        .mails()
        .iter()
        .filter(|m| matches!(m, FilsluseMail::PasswordLink(l) if l.to == to))
        .count()
}

#[tokio::test]
async fn twenty_five_password_requests_for_one_user_mail_at_most_five_links() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    env.user_with_password(ELVERUM, GOOD).await;
    let mut b = env.browser();
    for _ in 0..25 {
        b.get("/password/request").await;
        let r = b.post("/password/request", &[("username", HAMAR)]).await;
        // The answer never tells.
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text().contains("Your request has been received"));
    }
    assert_eq!(links_to(&env, HAMAR), 5);
    // Another user is not affected by Hamar's flood.
    b.get("/password/request").await;
    b.post("/password/request", &[("username", ELVERUM)]).await;
    assert_eq!(links_to(&env, ELVERUM), 1);
    // An hour later Hamar can ask again.
    env.clock.advance(Duration::minutes(61)).unwrap();
    b.get("/password/request").await;
    b.post("/password/request", &[("username", HAMAR)]).await;
    assert_eq!(links_to(&env, HAMAR), 6);
}

#[tokio::test]
async fn a_hostile_mask_is_answered_at_once() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    env.fs
        .upload(HAMAR, &format!("{}.zip", "a".repeat(200)), b"PK")
        .unwrap();
    let token = env.access_token(HAMAR, GOOD).await;
    // `*?` fifty times, then a character no name has: the backtracking matcher of old took
    // hours on this; the request's deadline here is generous, the matcher is linear by
    // construction (filsluse/glob.rs).
    let mask = format!("{}x", "*?".repeat(50));
    for route in [
        "/api/v1/folders?path=",
        "/api/v1/folders?name=",
        "/api/v1/files?name=",
    ] {
        let r = env
            .http
            .get(env.url(&format!("{route}{}", mask.replace('?', "%3F"))))
            .bearer_auth(&token)
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        assert_eq!(r.status(), StatusCode::OK, "{route}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["paging"]["totalItems"], 0, "{route}: {v}");
    }
    // The same masks still find what they should.
    let r = env
        .api_get(&token, &format!("/api/v1/files?name={}", "*%3F".repeat(50)))
        .await;
    assert_eq!(r.json()["paging"]["totalItems"], 1);
}
