//! A restart on the same state directory keeps users, passwords, files (bytes and ids),
//! tokens and pending links.

use crate::filsluse_support;
use std::sync::Arc;

use filsluse_support::*;
use iplos_mocks::filsluse::{FilsluseConfig, RecordingNotifier, STORE_FILE, UserSpec};
use iplos_model::calendar::VirtualClock;
use reqwest::StatusCode;

#[tokio::test]
async fn restart_keeps_users_and_files() {
    let (_guard, dir) = state_dir();
    let cfg = FilsluseConfig {
        state_dir: Some(dir.clone()),
        ..config()
    };
    let clock = VirtualClock::new(t0());
    let zip = stored_zip("feilliste.txt", b"restart");

    let env = start_with(
        cfg.clone(),
        clock.clone(),
        Arc::new(RecordingNotifier::new()),
    )
    .await;
    env.user_with_password(HAMAR, GOOD).await;
    env.fs.create_user(&UserSpec::new(ELVERUM)).unwrap();
    env.fs.send_password_link(ELVERUM).unwrap();
    let link = env.mails.last_password_link(ELVERUM).unwrap().link;
    let before = env.fs.upload(HAMAR, "040300_iplos.zip", &zip).unwrap();
    let token = env.access_token(HAMAR, GOOD).await;
    let user_before = env.fs.user(HAMAR).unwrap().unwrap();
    env.fs.shutdown().await;
    assert!(dir.join(STORE_FILE).is_file());

    let env = start_with(cfg, clock, Arc::new(RecordingNotifier::new())).await;
    let user_after = env.fs.user(HAMAR).unwrap().unwrap();
    assert_eq!(user_after.home_folder, user_before.home_folder);
    assert_eq!(user_after.upload_folder, user_before.upload_folder);
    assert_eq!(env.fs.users().unwrap().len(), 2);

    // The old token and the password still work; the file is there, same id, same bytes.
    let me = env.api_get(&token, "/api/v1/users/self").await;
    assert_eq!(me.status, StatusCode::OK);
    let token = env.access_token(HAMAR, GOOD).await;
    let dl = env
        .api_get(&token, &format!("/api/v1/files/{}/download", before.id))
        .await;
    assert_eq!(dl.status, StatusCode::OK);
    assert_eq!(dl.body, zip);
    let files = env.fs.files(HAMAR).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].sha256, before.sha256);

    // New ids do not reuse old ones.
    let next = env.fs.upload(HAMAR, "second.zip", b"2").unwrap();
    assert!(next.id > before.id);

    // A link sent before the restart still works once (the port changed: without a
    // configured public_base_url the links name the old one).
    let mut b = env.browser();
    let r = b.get(&link[link.find("/human.aspx").unwrap()..]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/password/change");

    // Creating an existing user is an error; provisioning is idempotent.
    assert!(env.fs.create_user(&UserSpec::new(HAMAR)).is_err());
    let again = env.fs.provision_user(&UserSpec::new(HAMAR)).unwrap();
    assert_eq!(again.home_folder, user_before.home_folder);
}

#[tokio::test]
async fn configured_users_are_provisioned_without_mail() {
    let users = UserSpec::all_for_year(2024).unwrap();
    assert_eq!(users.len(), 357);
    let hamar = users
        .iter()
        .find(|u| u.kommunenr.as_deref() == Some("3403"))
        .expect("Hamar in 2024")
        .clone();
    assert!(hamar.username.starts_with("postmottak@"));
    assert!(hamar.full_name.starts_with("IPLOS-Tilbakemelding "));
    let alt = hamar
        .clone()
        .with_username("meldingsansvarlig@hamar.kommune.test");
    let cfg = FilsluseConfig {
        users: vec![hamar.clone(), alt],
        ..config()
    };
    let env = start_at(cfg, t0()).await;
    assert_eq!(env.fs.users().unwrap().len(), 2);
    assert!(env.mails.mails().is_empty());
    let u = env
        .fs
        .user("meldingsansvarlig@hamar.kommune.test")
        .unwrap()
        .unwrap();
    assert_eq!(u.email, "meldingsansvarlig@hamar.kommune.test");
    assert_eq!(
        u.upload_folder.path,
        "/Home/Ekstern/iplos/meldingsansvarlig@hamar.kommune.test/frassb"
    );
}
