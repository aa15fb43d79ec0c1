//! The new-user flow of the seeds: "Ny bruker" mail → "New User Password Request" → mail
//! with a single-use link that expires after 60 minutes on the injected clock → "You are
//! required to change your password now." → sign on. And the forgotten-password flow.

use crate::filsluse_support;
use chrono::Duration;
use filsluse_support::*;
use iplos_mocks::filsluse::{FROM, LinkReason, UserSpec};
use reqwest::StatusCode;

#[tokio::test]
async fn new_user_link_used_after_61_minutes_is_refused_then_a_fresh_request_works() {
    let env = start().await;
    let info = env
        .fs
        .create_user(&UserSpec::new(HAMAR).with_full_name("IPLOS-Tilbakemelding Hamar kommune"))
        .unwrap();
    assert!(!info.has_password);

    // The "Ny bruker" mail (seed 001, figure 4-2).
    let welcome = env.mails.last_new_user(HAMAR).expect("new-user mail");
    assert_eq!(welcome.link, env.fs.new_user_link());
    assert!(
        welcome
            .link
            .contains("arg12=passchangerequest&arg11=newuser")
    );
    assert_eq!(
        welcome.subject(),
        "Ny bruker for IPLOS tilbakemelding fra Statistisk sentralbyrå"
    );
    let text = welcome.text();
    assert!(text.starts_with("Velkommen til Statistisk sentralbyrå!"));
    assert!(text.contains("Brukernavnet til kontoen er: postmottak@hamar.kommune.test"));
    assert!(text.contains("IPLOS-Tilbakemelding Hamar kommune"));
    assert!(text.contains(&welcome.link));
    assert_eq!(FROM, "Statistisk sentralbyrå <MoveITFilsluse@ssb.test>");

    // "New User Password Request".
    let mut b = env.browser();
    let page = b.get(&path_of(&welcome.link, &env.base)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("New User Password Request"));
    assert!(html.contains("You will have 60 minutes to use the link before it expires."));
    assert!(html.contains("you will need to contact your administrator to set your password"));
    let sent = b.post("/password/newuser", &[("username", HAMAR)]).await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.text().contains("Your request has been received"));

    // The link mail (seeds: "Nytt passord - NB! Utløper på tid").
    let first = env.mails.last_password_link(HAMAR).expect("link mail");
    assert_eq!(first.reason, LinkReason::NewUser);
    assert_eq!(first.valid_minutes, 60);
    assert_eq!(first.expires_at, t0() + Duration::minutes(60));
    assert_eq!(
        first.subject(),
        "IPLOS-tilbakemelding: Nytt passord - NB! Utløper på tid"
    );
    assert!(
        first
            .text()
            .contains("Passord må settes innen 60 minutter!")
    );
    assert!(first.text().contains(&first.link));
    assert!(first.link.contains("transaction=signon&pxc="));

    // Postmottak forwards it too late: 61 minutes.
    env.clock.advance(Duration::minutes(61)).unwrap();
    let late = env.browser().get(&path_of(&first.link, &env.base)).await;
    assert_eq!(late.status, StatusCode::GONE);
    assert!(late.text().contains("This link has expired."));
    assert!(late.text().contains("Request a password change"));

    // A fresh request works.
    let mut b = env.browser();
    b.get("/password/newuser").await;
    b.post("/password/newuser", &[("username", HAMAR)]).await;
    let second = env.mails.last_password_link(HAMAR).unwrap();
    assert_ne!(second.link, first.link);
    assert_eq!(second.expires_at, env.now() + Duration::minutes(60));
    let signed = b.get(&path_of(&second.link, &env.base)).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location(), "/password/change");
    let change = b.follow(&signed).await;
    let html = change.text();
    assert!(html.contains("You are required to change your password now."));
    assert!(html.contains("My Account (IPLOS-Tilbakemelding Hamar kommune)"));
    for rule in [
        "Must be at least 6 characters.",
        "Must not contain or resemble Username.",
        "Must contain at least one letter and one number.",
    ] {
        assert!(html.contains(rule), "{rule}");
    }
    assert!(html.contains("Enter your <b>New Password</b>:"));
    assert!(html.contains("Enter your <b>New Password Again</b>:"));
    assert!(html.contains("Now press the \"Change Password\" button:"));
    let done = b
        .post(
            "/password/change",
            &[("new_password", GOOD), ("new_password2", GOOD)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.text().contains("Your password has been changed."));

    // The same link again: refused (single use).
    let again = env.browser().get(&path_of(&second.link, &env.base)).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.text().contains("already been used"));

    // Sign on with the new password, in the browser and over REST.
    let user = env.fs.user(HAMAR).unwrap().unwrap();
    assert!(user.has_password && !user.must_change_password);
    let mut b = env.browser();
    let r = b.sign_on(HAMAR, GOOD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("/folder/{}", user.upload_folder.id));
    env.access_token(HAMAR, GOOD).await;
}

#[tokio::test]
async fn link_at_59_minutes_still_works() {
    let env = start().await;
    env.fs.create_user(&UserSpec::new(HAMAR)).unwrap();
    env.fs.send_password_link(HAMAR).unwrap();
    let mail = env.mails.last_password_link(HAMAR).unwrap();
    assert_eq!(mail.reason, LinkReason::Admin);
    env.clock.advance(Duration::minutes(59)).unwrap();
    let r = env.browser().get(&path_of(&mail.link, &env.base)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/password/change");
}

#[tokio::test]
async fn link_exactly_at_expiry_is_refused() {
    let env = start().await;
    env.fs.create_user(&UserSpec::new(HAMAR)).unwrap();
    env.fs.send_password_link(HAMAR).unwrap();
    let mail = env.mails.last_password_link(HAMAR).unwrap();
    env.clock.set(mail.expires_at).unwrap();
    let r = env.browser().get(&path_of(&mail.link, &env.base)).await;
    assert_eq!(r.status, StatusCode::GONE);
}

#[tokio::test]
async fn unknown_and_garbled_links_are_refused() {
    let env = start().await;
    let mut b = env.browser();
    let r = b
        .get(&format!(
            "/human.aspx?orgid=5281&transaction=signon&pxc={}",
            "0".repeat(64)
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("This link is not valid."));
    let r = b
        .get("/human.aspx?orgid=5281&transaction=signon&pxc=13253129385627901837664078221044")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_request_for_an_unknown_username_answers_the_same_and_sends_nothing() {
    let env = start().await;
    env.fs.create_user(&UserSpec::new(HAMAR)).unwrap();
    let mut b = env.browser();
    b.get("/password/newuser").await;
    let unknown = b
        .post(
            "/password/newuser",
            &[("username", "postmottak@nowhere.kommune.test")],
        )
        .await;
    b.get("/password/newuser").await;
    let known = b.post("/password/newuser", &[("username", HAMAR)]).await;
    assert_eq!(unknown.status, known.status);
    assert_eq!(unknown.text(), known.text());
    let links: Vec<_> = env
        .mails
        .mails()
        .into_iter()
        .filter(|m| matches!(m, iplos_mocks::filsluse::FilsluseMail::PasswordLink(_)))
        .collect();
    assert_eq!(links.len(), 1, "only the known user got a link");
}

#[tokio::test]
async fn forgotten_password_request_a_password_change() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let mut b = env.browser();
    let signon = b.get("/signon").await;
    assert!(signon.text().contains("Request a password change"));
    let page = b.get("/password/request").await;
    assert!(page.text().contains("Password Change Request"));
    let r = b
        .post(
            "/password/request",
            &[("username", "Postmottak@Hamar.kommune.test")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let mail = env.mails.last_password_link(HAMAR).unwrap();
    assert_eq!(mail.reason, LinkReason::PasswordChange);
    assert!(mail.text().contains("Du har bedt om nytt passord"));

    // Too late: refused; a new request and a prompt click work.
    env.clock.advance(Duration::minutes(61)).unwrap();
    let late = env.browser().get(&path_of(&mail.link, &env.base)).await;
    assert_eq!(late.status, StatusCode::GONE);
    b.get("/password/request").await;
    b.post("/password/request", &[("username", HAMAR)]).await;
    let mail = env.mails.last_password_link(HAMAR).unwrap();
    let mut b = env.browser();
    let r = b.get(&path_of(&mail.link, &env.base)).await;
    let page = b.follow(&r).await;
    assert!(
        page.text()
            .contains("You are required to change your password now.")
    );
    let r = b
        .post(
            "/password/change",
            &[
                ("new_password", "Vinter2025"),
                ("new_password2", "Vinter2025"),
            ],
        )
        .await;
    assert!(r.text().contains("Your password has been changed."));

    // The old password no longer works, the new one does.
    let (status, body) = env
        .token_form(&[
            ("grant_type", "password"),
            ("username", HAMAR),
            ("password", GOOD),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    env.access_token(HAMAR, "Vinter2025").await;
}

#[tokio::test]
async fn post_without_the_csrf_token_is_refused() {
    let env = start().await;
    env.fs.create_user(&UserSpec::new(HAMAR)).unwrap();
    let mut b = env.browser();
    b.get("/password/newuser").await;
    let r = b
        .post(
            "/password/newuser",
            &[("username", HAMAR), ("csrftoken", "forged")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // No session at all: refused too.
    let r = env
        .http
        .post(env.url("/password/newuser"))
        .form(&[("username", HAMAR)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(env.mails.last_password_link(HAMAR).is_none());
}
