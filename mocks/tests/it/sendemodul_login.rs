//! Login: the four values, one generic refusal for every wrong combination, the lockout
//! (per kommunenummer and per client address) on the injected clock, and 1000 wrong PINs.

use crate::sendemodul_support;
use std::collections::HashMap;

use chrono::Duration;
use iplos_mocks::intake::Channel;
use iplos_mocks::sendemodul::{LoginOutcome, Pins, SendemodulConfig};
use reqwest::StatusCode;
use sendemodul_support::*;

/// The refusal page without anything that varies.
fn refusal_text(body: &str) -> String {
    by_id(body, "feil").unwrap_or_default()
}

#[tokio::test]
async fn every_wrong_field_gets_the_same_answer_and_the_right_four_log_in() {
    let env = start_at(config(), friday()).await;
    let org = orgnr(HAMAR);
    let pin = env.sm.pin(HAMAR);
    assert_eq!(pin, Pins::derive(0, HAMAR));
    assert_eq!(pin.len(), 6);
    let cases = [
        ("9999", "00", org.as_str(), pin.as_str(), "kommunenr"),
        (HAMAR, "01", org.as_str(), pin.as_str(), "bydel"),
        (HAMAR, "00", "974724960", pin.as_str(), "orgnr"),
        (HAMAR, "00", org.as_str(), "000000", "pin"),
    ];
    let mut answers = Vec::new();
    for (knr, bydel, o, p, _) in cases {
        let (status, cookie, body) = env.login_raw(Channel::Ordinary, knr, bydel, o, p).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(cookie.is_none());
        assert!(body.contains("ikke gjenkjent"), "{body}");
        answers.push(body);
    }
    // Byte-identical pages: nothing tells which field was wrong.
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert!(
        !refusal_text(&answers[0])
            .to_lowercase()
            .contains("pin-koden er feil")
    );
    // The log says which one.
    let attempts = env.sm.login_attempts();
    let wrong: Vec<_> = attempts.iter().map(|a| a.outcome.clone()).collect();
    for (i, (_, _, _, _, field)) in cases.iter().enumerate() {
        assert_eq!(wrong[i], LoginOutcome::Refused(vec![field]));
    }
    // The right four (4 failures so far: no lockout yet).
    let (status, cookie, _) = env
        .login_raw(Channel::Ordinary, HAMAR, "00", &org, &pin)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.unwrap();
    let (status, page) = env.get(Channel::Ordinary, "upload", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("0403 Hamar"), "{page}");
    // The cookie is scoped to its portal and HttpOnly.
    let r = env
        .http
        .post(env.url(Channel::Ordinary, "login"))
        .form(&[
            ("kommunenr", HAMAR),
            ("bydel", "00"),
            ("orgnr", &org),
            ("pin", &pin),
        ])
        .send()
        .await
        .unwrap();
    let set = r.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("Path=/Sendemodul/"),
        "{set}"
    );
    // The ordinary session does not open the test portal.
    let (status, _) = env.get(Channel::Test, "upload", &cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn configured_bydeler_and_pins() {
    let mut bydeler = HashMap::new();
    bydeler.insert("0301".to_string(), vec!["01".to_string(), "02".to_string()]);
    let cfg = SendemodulConfig {
        bydeler,
        pins: Pins::seeded(7).with("0301", "123987"),
        ..config()
    };
    let env = start_at(cfg, friday()).await;
    let org = orgnr("0301");
    let (s, _, _) = env
        .login_raw(Channel::Test, "0301", "00", &org, "123987")
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "00 is not one of Oslo's configured bydeler"
    );
    let (s, c, _) = env
        .login_raw(Channel::Test, "0301", "02", &org, "123987")
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(c.unwrap().starts_with("SendemodulSession="));
    assert_eq!(env.sm.pin(HAMAR), Pins::derive(7, HAMAR));
    assert_ne!(Pins::derive(7, HAMAR), Pins::derive(8, HAMAR));
}

#[tokio::test]
async fn lockout_after_five_failures_survives_1000_wrong_pins_and_ends_on_the_clock() {
    let env = start_at(config(), friday()).await;
    let org = orgnr(HAMAR);
    let pin = env.sm.pin(HAMAR);
    for i in 0..5 {
        let (s, _, _) = env
            .login_raw(Channel::Ordinary, HAMAR, "00", &org, "111111")
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // Locked: the right PIN too.
    let (s, c, body) = env
        .login_raw(Channel::Ordinary, HAMAR, "00", &org, &pin)
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(c.is_none());
    assert!(
        body.contains("sperret til 12.01.2018 kl. 14:15:00"),
        "{body}"
    );
    // 1000 more wrong PINs (different ones).
    for i in 0..1000u32 {
        let wrong = format!("{:06}", (i * 7919) % 1_000_000);
        if wrong == pin {
            continue;
        }
        let (s, _, _) = env
            .login_raw(Channel::Ordinary, HAMAR, "00", &org, &wrong)
            .await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "attempt {i}");
    }
    // The server still answers, and the lockout holds.
    let (s, page) = env.get(Channel::Ordinary, "", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Kommunenummer"));
    let (s, _, _) = env
        .login_raw(Channel::Ordinary, HAMAR, "00", &org, &pin)
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(env.sm.login_attempts().len() >= 1006);
    // 15 minutes later on the injected clock.
    env.clock.advance(Duration::minutes(14)).unwrap();
    let (s, _, _) = env
        .login_raw(Channel::Ordinary, HAMAR, "00", &org, &pin)
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    env.clock.advance(Duration::minutes(1)).unwrap();
    let (s, c, _) = env
        .login_raw(Channel::Ordinary, HAMAR, "00", &org, &pin)
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(c.is_some());
}

#[tokio::test]
async fn one_kommunes_typos_do_not_lock_out_another_on_the_same_address() {
    let env = start_at(config(), friday()).await;
    // Five wrong PINs for Hamar from 127.0.0.1: Hamar is locked ...
    for _ in 0..5 {
        let (s, _, _) = env
            .login_raw(Channel::Ordinary, HAMAR, "00", &orgnr(HAMAR), "999999")
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _, _) = env
        .login_raw(
            Channel::Ordinary,
            HAMAR,
            "00",
            &orgnr(HAMAR),
            &env.sm.pin(HAMAR),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "the account is locked");
    // ... and Elverum, from the same address, logs in.
    let (s, c, _) = env
        .login_raw(
            Channel::Ordinary,
            ELVERUM,
            "00",
            &orgnr(ELVERUM),
            &env.sm.pin(ELVERUM),
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(c.is_some());
}

#[tokio::test]
async fn one_address_trying_many_kommuner_is_locked_far_later() {
    let cfg = SendemodulConfig {
        max_failures_per_address: 12,
        ..config()
    };
    let env = start_at(cfg, friday()).await;
    // Two wrong PINs each for six kommuner: none is locked, the address is after 12.
    for knr in ["0402", "0412", "0415", "0417", "0418", "0419"] {
        for _ in 0..2 {
            let (s, _, _) = env
                .login_raw(Channel::Ordinary, knr, "00", &orgnr(knr), "999999")
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{knr}");
        }
    }
    // Elverum has no failures, but the address has twelve.
    let (s, _, _) = env
        .login_raw(
            Channel::Ordinary,
            ELVERUM,
            "00",
            &orgnr(ELVERUM),
            &env.sm.pin(ELVERUM),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        env.sm.login_attempts().last().unwrap().outcome,
        LoginOutcome::Locked
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let env = start_at(config(), friday()).await;
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    let (_, page) = env.get(Channel::Ordinary, "upload", &cookie).await;
    let csrf = field_value(&page, "csrf").unwrap();
    let r = env
        .http
        .post(env.url(Channel::Ordinary, "logout"))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (s, _) = env.get(Channel::Ordinary, "upload", &cookie).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "the session is gone");
    // Sessions expire on the clock too.
    let cookie = env.login(Channel::Ordinary, HAMAR).await;
    env.clock.advance(Duration::minutes(31)).unwrap();
    let (s, _) = env.get(Channel::Ordinary, "upload", &cookie).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
}
