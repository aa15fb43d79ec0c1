//! Lockout of repeated failed sign-ons: 5 failures lock the username for 15 minutes on the
//! injected clock, in the browser and over REST, for known and unknown usernames alike.

use crate::filsluse_support;
use std::sync::Arc;

use chrono::Duration;
use filsluse_support::*;
use reqwest::StatusCode;

async fn password_grant(env: &Env, username: &str, pw: &str) -> (StatusCode, serde_json::Value) {
    env.token_form(&[
        ("grant_type", "password"),
        ("username", username),
        ("password", pw),
    ])
    .await
}

#[tokio::test]
async fn five_failures_lock_for_fifteen_minutes_rest() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    for i in 0..5 {
        let (status, body) = password_grant(&env, HAMAR, "Wrong2024").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error_description"], "Invalid username or password.",
            "attempt {i}"
        );
    }
    // Locked: even the right password is refused.
    let (status, body) = password_grant(&env, HAMAR, GOOD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains("locked"), "{d}");
    assert!(d.contains("2017-02-07T08:15:00+01:00"), "{d}");
    env.clock.advance(Duration::minutes(14)).unwrap();
    let (status, _) = password_grant(&env, HAMAR, GOOD).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "still locked at 14 minutes"
    );
    env.clock.advance(Duration::minutes(1)).unwrap();
    let (status, _) = password_grant(&env, HAMAR, GOOD).await;
    assert_eq!(status, StatusCode::OK, "free again after 15 minutes");
}

#[tokio::test]
async fn a_success_resets_the_count() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    for _ in 0..4 {
        password_grant(&env, HAMAR, "Wrong2024").await;
    }
    assert_eq!(password_grant(&env, HAMAR, GOOD).await.0, StatusCode::OK);
    for _ in 0..4 {
        password_grant(&env, HAMAR, "Wrong2024").await;
    }
    assert_eq!(password_grant(&env, HAMAR, GOOD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn unknown_usernames_lock_the_same_way() {
    let env = start().await;
    let ghost = "postmottak@nowhere.kommune.test";
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(password_grant(&env, ghost, "Wrong2024").await.1["error_description"].clone());
    }
    assert!(
        answers[..5]
            .iter()
            .all(|a| a == "Invalid username or password.")
    );
    assert!(answers[5].as_str().unwrap().contains("locked"));
}

#[tokio::test]
async fn browser_failures_count_and_lock_too() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let mut b = env.browser();
    // Mixed channels: 3 in the browser, 2 over REST.
    for _ in 0..3 {
        let r = b.sign_on(HAMAR, "Wrong2024").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text().contains("Invalid username or password."));
    }
    for _ in 0..2 {
        password_grant(&env, "POSTMOTTAK@hamar.kommune.test", "Wrong2024").await;
    }
    let r = b.sign_on(HAMAR, GOOD).await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.text();
    assert!(
        html.contains("This account is locked because of too many failed sign-on attempts."),
        "{html}"
    );
    assert!(html.contains("Try again after 07.02.2017 08:15:00."));
    // The administrator lifts it.
    env.fs.unlock(HAMAR).unwrap();
    let r = b.sign_on(HAMAR, GOOD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn lockout_policy_is_configurable() {
    let mut cfg = config();
    cfg.lockout.max_failures = 2;
    cfg.lockout.duration = Duration::minutes(1);
    let env = start_at(cfg, t0()).await;
    env.user_with_password(HAMAR, GOOD).await;
    password_grant(&env, HAMAR, "x").await;
    password_grant(&env, HAMAR, "x").await;
    assert_eq!(
        password_grant(&env, HAMAR, GOOD).await.0,
        StatusCode::BAD_REQUEST
    );
    env.clock.advance(Duration::minutes(1)).unwrap();
    assert_eq!(password_grant(&env, HAMAR, GOOD).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_attempts_cannot_get_past_the_limit() {
    let mut cfg = config();
    cfg.kdf_iterations = 20_000; // slow enough for attempts to overlap
    let env = Arc::new(start_at(cfg, t0()).await);
    env.user_with_password(HAMAR, GOOD).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            password_grant(&env, HAMAR, "Wrong2024").await.1["error_description"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    let mut checked = 0;
    for t in tasks {
        if t.await.unwrap() == "Invalid username or password." {
            checked += 1;
        }
    }
    assert_eq!(checked, 5, "only 5 attempts reach the password check");
    assert_eq!(
        password_grant(&env, HAMAR, GOOD).await.0,
        StatusCode::BAD_REQUEST
    );
}
