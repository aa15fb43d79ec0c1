//! The path a kommune takes, over real sockets: SSB publishes the feedback on the
//! filsluse → the portal's mails go through `MailNotifier` and the outbox (SMTP) into the
//! capture server's mailbox for the postmottak address → the kommune signs on with the
//! REST API, finds the zip, downloads exactly the stored bytes, and 7-Zip opens them with
//! the key.

use crate::feedback_support;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use feedback_support::*;
use iplos_mocks::feedback::{self, FeedbackInput};
use iplos_mocks::filsluse::notify::thousands;
use iplos_mocks::filsluse::{Filsluse, FilsluseConfig, MailNotifier, MailerConfig, UserSpec};
use iplos_mocks::mail::{MailConfig, MailServer, Outbox, OutboxConfig};
use iplos_model::calendar::{Clock, VirtualClock};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

const PATIENCE: Duration = Duration::from_secs(10);
const PASSWORD: &str = "Tilbake2017";

async fn json(r: reqwest::Response) -> (StatusCode, Value) {
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_feedback_from_publish_to_a_7z_opened_download() {
    // Week 6 2017: ordinary feedback on data year 2016.
    let clock = VirtualClock::new(Utc.with_ymd_and_hms(2017, 2, 8, 13, 15, 0).unwrap());
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let mail = MailServer::start(MailConfig::default(), shared.clone())
        .await
        .unwrap();
    let notifier = Arc::new(MailNotifier::start(Arc::new(Outbox::to_capture(
        &mail,
        shared.clone(),
    ))));
    let fs = Filsluse::start(
        FilsluseConfig {
            kdf_iterations: 1_000,
            ..FilsluseConfig::default()
        },
        shared.clone(),
        notifier.clone(),
    )
    .await
    .unwrap();

    let (m, bytes) = generated("0403", "status-t", 21);
    let postmottak = m.postmottak().to_string();
    fs.create_user(&UserSpec::for_municipality(m).with_temporary_password("Midlertidig1"))
        .unwrap();
    let key = "Kommunens-eget-passord-1";
    let input = FeedbackInput::ordinary(m.number(), m.name(), i32::from(YEAR), key)
        .with_file(file("040300_2016.xml", bytes));
    let published = feedback::publish(&fs, &postmottak, &input).unwrap();

    // Both mails (new user, new file) reach the postmottak mailbox over SMTP.
    notifier.flush(PATIENCE).await.unwrap();
    assert_eq!(notifier.sent_count(), 2);
    assert_eq!(notifier.failed_count(), 0);
    let msgs = mail.messages(&postmottak).unwrap();
    assert_eq!(msgs.len(), 2);
    let m2 = mail
        .wait_for(
            |c| {
                c.is_for(&postmottak)
                    && c.text
                        .as_deref()
                        .is_some_and(|t| t.contains("1 New File Available"))
            },
            PATIENCE,
        )
        .await
        .unwrap();
    assert_eq!(
        m2.from.as_deref(),
        Some("Statistisk sentralbyrå <MoveITFilsluse@ssb.test>")
    );
    assert_eq!(m2.subject.as_deref(), Some("New File Notification"));
    assert_eq!(m2.date.as_deref(), Some("Wed, 8 Feb 2017 14:15:00 +0100"));
    let text = m2.text.unwrap().replace("\r\n", "\n");
    for line in [
        format!("\n/Home/Ekstern/iplos/{postmottak}/frassb\n"),
        "\nFile Name: 040300_iplos.zip\n".to_string(),
        "\nDate and Time: 08.02.2017 14:15:00\n".to_string(),
        format!("\nSize: {}\n", thousands(published.size)),
        "\nUploaded By: frassb\n".to_string(),
        format!("\nTracking ID: {}\n", published.file_id),
        format!(
            "\nLink: {}/human.aspx?OrgID=5281&Arg12=fileview&",
            fs.base_url()
        ),
        "\nIntegrity Verified: YES\n".to_string(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in\n{text}");
    }
    let welcome = mail
        .wait_for(
            |c| {
                c.subject.as_deref()
                    == Some("Ny bruker for IPLOS tilbakemelding fra Statistisk sentralbyrå")
            },
            PATIENCE,
        )
        .await
        .unwrap();
    assert!(welcome.is_for(&postmottak));

    // REST: token (the temporary password must be changed first), self, folders, files.
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", fs.base_url());
    let (s, body) = json(
        http.post(url("/api/v1/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", &postmottak),
                ("password", "Midlertidig1"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "password_change_required", "{body}");
    let (s, body) = json(
        http.post(url("/api/v1/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", postmottak.as_str()),
                ("password", "Midlertidig1"),
                ("new_password", PASSWORD),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let get = |p: String| {
        let (http, token) = (http.clone(), token.clone());
        let u = url(&p);
        async move { http.get(u).bearer_auth(token).send().await.unwrap() }
    };
    let (s, me) = json(get("/api/v1/users/self".into()).await).await;
    assert_eq!(s, StatusCode::OK);
    let home = me["homeFolderID"].as_u64().unwrap();
    let (_, subs) = json(get(format!("/api/v1/folders/{home}/subfolders")).await).await;
    let frassb = subs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "frassb")
        .expect("frassb folder")["id"]
        .as_u64()
        .unwrap();
    assert_eq!(me["defaultFolderID"].as_u64(), Some(frassb));
    let (s, files) = json(get(format!("/api/v1/folders/{frassb}/files")).await).await;
    assert_eq!(s, StatusCode::OK);
    let items = files["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{files}");
    assert_eq!(items[0]["name"], "040300_iplos.zip");
    assert_eq!(items[0]["uploadUsername"], "frassb");
    assert_eq!(items[0]["size"].as_u64(), Some(published.size));
    let id = items[0]["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| items[0]["id"].to_string());
    assert_eq!(id, published.file_id.to_string());
    let (_, meta) = json(get(format!("/api/v1/files/{id}")).await).await;
    let r = get(format!("/api/v1/files/{id}/download")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let downloaded = r.bytes().await.unwrap().to_vec();
    let sha256: String = Sha256::digest(&downloaded)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sha256, published.sha256);
    // MOVEit's `hash` (SHA-1 here) matches the bytes too.
    let sha1 = meta["hash"].as_str().unwrap().to_string();
    assert_eq!(sha1, published.file.sha1);

    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("040300_iplos.zip");
    std::fs::write(&zip, &downloaded).unwrap();
    let (ok, out) = sevenzip_test(&zip, key);
    assert!(ok, "{out}");
    let (ok, _) = sevenzip_test(&zip, "123456");
    assert!(!ok);
    let entries = sevenzip_extract(&zip, key, &dir.path().join("x"));
    assert_eq!(
        (parse_csv(&entries["feilliste.csv"]).len() - 1) as u64,
        published.summary.findings
    );
    fs.shutdown().await;
    mail.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mails_that_cannot_be_sent_are_counted_and_kept() {
    let clock = VirtualClock::new(Utc.with_ymd_and_hms(2016, 10, 26, 14, 0, 0).unwrap());
    let shared: Arc<dyn Clock> = Arc::new(clock);
    // An SMTP port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let notifier = Arc::new(MailNotifier::with_config(
        Arc::new(Outbox::new(
            OutboxConfig::new("127.0.0.1", port),
            shared.clone(),
        )),
        MailerConfig {
            attempts: 2,
            retry_delay: Duration::from_millis(10),
        },
    ));
    let fs = Filsluse::start(
        FilsluseConfig {
            kdf_iterations: 1_000,
            ..FilsluseConfig::default()
        },
        shared.clone(),
        notifier.clone(),
    )
    .await
    .unwrap();
    let (m, bytes) = generated("0403", "status-t", 22);
    let user = fs.create_user(&UserSpec::for_municipality(m)).unwrap();
    feedback::publish(&fs, &user.username, &test_input(m, bytes)).unwrap();
    notifier.flush(PATIENCE).await.unwrap();
    assert_eq!(notifier.sent_count(), 0);
    assert_eq!(notifier.failed_count(), 2);
    let failures = notifier.failures();
    assert_eq!(failures[1].mail.subject(), "New File Notification");
    assert!(failures[1].error.contains("SMTP"), "{}", failures[1].error);
    assert_eq!(failures[1].attempts, 2);
    // The zip is in the portal all the same.
    assert_eq!(fs.files(&user.username).unwrap().len(), 1);
    fs.shutdown().await;
}
