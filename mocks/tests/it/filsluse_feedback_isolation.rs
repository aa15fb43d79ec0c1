//! Two kommuner with real feedback zips on the filsluse: Hamar's user reaches none of
//! Elverum's files or folders by any id or path, REST or HTML, including ids of files
//! that were deleted and traversal forms; each such answer is MOVEit-style (404 with an
//! error body, or 400 for traversal) and never names Elverum's file.

use crate::feedback_support;
use crate::filsluse_support;
use feedback_support::{generated, test_input};
use filsluse_support::*;
use iplos_mocks::feedback;
use reqwest::StatusCode;

const NOWHERE: u64 = 999_999_998;
const B_NAME: &str = "042700_iplos_test.zip";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_of_one_kommune_is_unreachable_for_another() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    env.user_with_password(ELVERUM, GOOD).await;
    let (ma, a_bytes) = generated("0403", "status-t", 31);
    let (mb, b_bytes) = generated("0427", "status-t", 32);
    // The users of this support module carry no kommunenr: publish checks only the user.
    let a = feedback::publish(&env.fs, HAMAR, &test_input(ma, a_bytes)).unwrap();
    let b = feedback::publish(&env.fs, ELVERUM, &test_input(mb, b_bytes.clone())).unwrap();
    assert_eq!(b.name, B_NAME);
    // Elverum publishes a second zip and deletes it: its id must be dead for everyone.
    let b2 = feedback::publish(&env.fs, ELVERUM, &test_input(mb, b_bytes)).unwrap();
    let b_tok = env.access_token(ELVERUM, GOOD).await;
    let r = env
        .http
        .delete(env.url(&format!("/api/v1/files/{}", b2.file_id)))
        .bearer_auth(&b_tok)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    let tok = env.access_token(HAMAR, GOOD).await;
    let (bf, bfolder) = (b.file_id, b.file.folder.id);
    let bhome = env.fs.user(ELVERUM).unwrap().unwrap().home_folder.id;
    let (af, afolder) = (a.file_id, a.file.folder.id);
    let dead = b2.file_id;

    let nowhere_file = env.api_get(&tok, &format!("/api/v1/files/{NOWHERE}")).await;
    assert_eq!(nowhere_file.status, StatusCode::NOT_FOUND);
    assert_eq!(nowhere_file.json()["errorCode"], 404);
    assert!(nowhere_file.json()["detail"].is_string());
    for route in [
        format!("/api/v1/files/{bf}"),
        format!("/api/v1/files/{bf}/download"),
        format!("/api/v1/files/{dead}"),
        format!("/api/v1/files/{dead}/download"),
        format!("/api/v1/folders/{bfolder}"),
        format!("/api/v1/folders/{bhome}"),
        format!("/api/v1/folders/{bfolder}/files"),
        format!("/api/v1/folders/{bhome}/subfolders"),
        format!("/api/v1/folders/{bfolder}/files/{bf}"),
        format!("/api/v1/folders/{bfolder}/files/{bf}/download"),
        format!("/api/v1/folders/{afolder}/files/{bf}"),
        format!("/api/v1/folders/{afolder}/files/{bf}/download"),
        format!("/api/v1/folders/{afolder}/files/{dead}/download"),
    ] {
        let r = env.api_get(&tok, &route).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{route}: {}", r.text());
        assert_eq!(r.json()["errorCode"], 404, "{route}");
        assert!(!r.text().contains(B_NAME), "{route} leaks the name");
        assert!(!r.text().contains("elverum"), "{route} leaks the user");
    }
    for id in [bf, dead] {
        let r = env
            .http
            .delete(env.url(&format!("/api/v1/files/{id}")))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "DELETE {id}");
        let body = r.text().await.unwrap();
        assert!(!body.contains(B_NAME));
    }
    assert_eq!(env.fs.files(ELVERUM).unwrap().len(), 1, "B's zip survives");

    // Listings and path filters show Hamar's only.
    let all = env.api_get(&tok, "/api/v1/files").await;
    assert!(all.text().contains("040300_iplos_test.zip"));
    assert!(!all.text().contains(B_NAME));
    for path in [
        format!("/Home/Ekstern/iplos/{ELVERUM}/frassb"),
        format!("/Home/Ekstern/iplos/{HAMAR}/..%2F{ELVERUM}%2Ffrassb"),
    ] {
        let r = env
            .api_get(&tok, &format!("/api/v1/folders?path={path}"))
            .await;
        assert!(!r.text().contains("elverum"), "{path}: {}", r.text());
    }

    // HTML: folder view, file view, download, delete, Go To Folder, the mail's link.
    let mut br = env.browser();
    let r = br.sign_on(HAMAR, GOOD).await;
    br.follow(&r).await;
    for path in [
        format!("/folder/{bfolder}"),
        format!("/folder/{bhome}"),
        format!("/file/{bf}"),
        format!("/file/{bf}/download"),
        format!("/file/{dead}/download"),
        format!("/folder?path=/Home/Ekstern/iplos/{ELVERUM}/frassb"),
        format!(
            "/human.aspx?OrgID=5281&Arg12=fileview&Arg06={bfolder}&Arg07={bf}&username={ELVERUM}"
        ),
    ] {
        let r = br.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!r.text().contains(B_NAME), "{path} leaks the name");
    }
    let page = br.get(&format!("/folder/{afolder}")).await;
    assert!(page.text().contains("040300_iplos_test.zip"));
    assert!(!page.text().contains(B_NAME));
    for id in [bf, dead] {
        let r = br.post(&format!("/file/{id}/delete"), &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "HTML delete {id}");
    }
    assert_eq!(env.fs.files(ELVERUM).unwrap().len(), 1);

    // Traversal forms in the request path: refused before routing.
    let auth = format!("Bearer {tok}");
    for path in [
        format!("/api/v1/files/{af}/..%2F{bf}/download"),
        format!("/api/v1/files/..%2F{bf}"),
        format!("/api/v1/folders/{afolder}/..%2F{bfolder}/files"),
        format!("/api/v1/folders/{afolder}/files/%2e%2e%2f{bf}"),
        format!("/file/..%2F{bf}/download"),
        format!("/folder/{afolder}/../{bfolder}"),
    ] {
        let (status, body) = raw_get(env.addr, &path, &[("Authorization", auth.as_str())]).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(!body.contains(B_NAME), "{path}");
    }

    // Hamar's own zip still downloads, byte for byte.
    let own = env
        .api_get(&tok, &format!("/api/v1/files/{af}/download"))
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(
        sha2::Digest::finalize(sha2::Digest::chain_update(
            sha2::Sha256::default(),
            &own.body
        ))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>(),
        a.sha256
    );
}
