//! Password rules with the seeds' wording, in the browser and over REST, and the first
//! sign-on with a temporary password ("You are required to change your password now").

use crate::filsluse_support;
use filsluse_support::*;
use iplos_mocks::filsluse::UserSpec;
use reqwest::StatusCode;

const SHORT: &str = "Must be at least 6 characters.";
const NAME: &str = "Must not contain or resemble Username.";
const MIX: &str = "Must contain at least one letter and one number.";

/// A browser signed on through a password link, on the change-password page.
async fn on_change_page(env: &Env) -> Browser {
    env.fs.create_user(&UserSpec::new(HAMAR)).unwrap();
    env.fs.send_password_link(HAMAR).unwrap();
    let link = env.mails.last_password_link(HAMAR).unwrap().link;
    let mut b = env.browser();
    let r = b.get(&path_of(&link, &env.base)).await;
    b.follow(&r).await;
    b
}

/// The rule messages listed under "Your new password was not accepted".
fn refusals(html: &str) -> Vec<String> {
    let Some(i) = html.find("Your new password was not accepted:") else {
        return Vec::new();
    };
    let part = &html[i..];
    let end = part.find("</ul>").unwrap();
    part[..end]
        .split("<li>")
        .skip(1)
        .map(|s| s.trim_end_matches("</li>").to_string())
        .collect()
}

#[tokio::test]
async fn each_rule_is_refused_in_the_browser_with_the_seeds_wording() {
    let env = start().await;
    let mut b = on_change_page(&env).await;
    for (pw, expected) in [
        ("ab1", vec![SHORT]),
        ("abcdefgh", vec![MIX]),
        ("12345678", vec![MIX]),
        ("postmottak1", vec![NAME]),
        ("P0stmottak9", vec![NAME]),
        ("Hamar2024", vec![NAME]),
        ("pos", vec![SHORT, MIX]),
    ] {
        let r = b
            .post(
                "/password/change",
                &[("new_password", pw), ("new_password2", pw)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let html = r.text();
        assert_eq!(refusals(&html), expected, "{pw}");
        // Still a forced change: the banner stays and nothing else opens.
        assert!(html.contains("You are required to change your password now."));
    }
    let r = b
        .post(
            "/password/change",
            &[("new_password", GOOD), ("new_password2", "Sommer2025")],
        )
        .await;
    assert_eq!(
        refusals(&r.text()),
        vec!["The two passwords you entered do not match."]
    );
    let user = env.fs.user(HAMAR).unwrap().unwrap();
    assert!(!user.has_password, "nothing was set by refused attempts");
    let folder = b.get(&format!("/folder/{}", user.upload_folder.id)).await;
    assert_eq!(folder.status, StatusCode::SEE_OTHER);
    assert_eq!(folder.location(), "/password/change");

    let ok = b
        .post(
            "/password/change",
            &[("new_password", GOOD), ("new_password2", GOOD)],
        )
        .await;
    assert!(ok.text().contains("Your password has been changed."));
    let folder = b.get(&format!("/folder/{}", user.upload_folder.id)).await;
    assert_eq!(folder.status, StatusCode::OK);
}

#[tokio::test]
async fn first_sign_on_with_a_temporary_password_requires_a_change() {
    let env = start().await;
    env.fs
        .create_user(
            &UserSpec::new(HAMAR)
                .with_full_name("SSB Iplos TEST")
                .with_temporary_password("Start1234"),
        )
        .unwrap();
    let user = env.fs.user(HAMAR).unwrap().unwrap();
    assert!(user.must_change_password);

    let mut b = env.browser();
    let r = b.sign_on(HAMAR, "Start1234").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/password/change");
    let page = b.follow(&r).await;
    let html = page.text();
    assert!(html.contains("You are required to change your password now."));
    assert!(html.contains("My Account (SSB Iplos TEST)"));
    assert!(
        !html.contains("Current Password"),
        "a forced change does not ask for the current password"
    );
    // Files wait until the password is changed.
    for path in [
        format!("/folder/{}", user.upload_folder.id),
        "/".to_string(),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/password/change");
    }
    b.get("/password/change").await;
    let r = b
        .post(
            "/password/change",
            &[
                ("new_password", "Start1234x"),
                ("new_password2", "Start1234x"),
            ],
        )
        .await;
    assert!(r.text().contains("Your password has been changed."));
    let r = b.get("/").await;
    assert_eq!(r.location(), format!("/folder/{}", user.upload_folder.id));
    // The temporary password is gone.
    let (status, _) = env
        .token_form(&[
            ("grant_type", "password"),
            ("username", HAMAR),
            ("password", "Start1234"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rest_password_change_required_then_new_password() {
    let env = start().await;
    env.fs
        .create_user(&UserSpec::new(HAMAR).with_temporary_password("Start1234"))
        .unwrap();
    let form = [
        ("grant_type", "password"),
        ("username", HAMAR),
        ("password", "Start1234"),
    ];
    let (status, body) = env.token_form(&form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "password_change_required");
    assert_eq!(body["error_code"], 3988);
    assert_eq!(
        body["error_description"],
        "You are required to change your password now."
    );
    let req = &body["password_requirements"];
    assert_eq!(req["minimum_length"], 6);
    assert_eq!(req["username_match_requirement"], "MustNotResemble");
    assert_eq!(req["require_letters_numbers"], true);
    assert_eq!(req["require_mixed_case"], false);
    assert_eq!(req["require_non_alphanumeric"], false);
    assert_eq!(req["no_dictionary_words"], false);
    assert_eq!(body["user"]["org_id"], 5281);
    assert!(body.get("access_token").is_none());

    for (pw, rule) in [("ab1", SHORT), ("abcdefgh", MIX), ("postmottak1", NAME)] {
        let mut f = form.to_vec();
        f.push(("new_password", pw));
        let (status, body) = env.token_form(&f).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pw}");
        assert_eq!(body["error"], "password_change_required");
        let d = body["error_description"].as_str().unwrap();
        assert!(d.contains(rule), "{pw}: {d}");
    }
    let mut f = form.to_vec();
    f.push(("new_password", GOOD));
    let (status, body) = env.token_form(&f).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer");
    let me = env
        .api_get(body["access_token"].as_str().unwrap(), "/api/v1/users/self")
        .await
        .json();
    assert_eq!(me["forceChangePassword"], false);
    env.access_token(HAMAR, GOOD).await;
}

#[tokio::test]
async fn voluntary_change_asks_for_the_current_password() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let mut b = env.browser();
    let r = b.sign_on(HAMAR, GOOD).await;
    b.follow(&r).await;
    let page = b.get("/password/change").await;
    let html = page.text();
    assert!(html.contains("Current Password"));
    assert!(!html.contains("You are required to change your password now."));
    let r = b
        .post(
            "/password/change",
            &[
                ("current_password", "wrong1"),
                ("new_password", "Vinter2025"),
                ("new_password2", "Vinter2025"),
            ],
        )
        .await;
    assert!(r.text().contains("The current password is not correct."));
    let r = b
        .post(
            "/password/change",
            &[
                ("current_password", GOOD),
                ("new_password", "postmottak2025"),
                ("new_password2", "postmottak2025"),
            ],
        )
        .await;
    assert_eq!(refusals(&r.text()), vec![NAME]);
    let r = b
        .post(
            "/password/change",
            &[
                ("current_password", GOOD),
                ("new_password", "Vinter2025"),
                ("new_password2", "Vinter2025"),
            ],
        )
        .await;
    assert!(r.text().contains("Your password has been changed."));
    env.access_token(HAMAR, "Vinter2025").await;
}
