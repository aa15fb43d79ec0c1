//! Strict isolation: user A cannot reach user B's files or folders through any route that
//! takes an id or a path — REST file ids, folder ids, HTML download/delete/view links, the
//! mail's file-view link, "Go To Folder" paths — and path traversal is refused. Another
//! user's resource answers exactly like one that does not exist (404).

use crate::filsluse_support;
use filsluse_support::*;
use iplos_mocks::filsluse::FileInfo;
use reqwest::StatusCode;

struct Two {
    env: Env,
    a_token: String,
    a_file: FileInfo,
    b_file: FileInfo,
    a_home: u64,
    b_home: u64,
}

async fn two_users() -> Two {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    env.user_with_password(ELVERUM, GOOD).await;
    let a_file = env
        .fs
        .upload(HAMAR, "040300_iplos.zip", &stored_zip("a.txt", b"Hamar"))
        .unwrap();
    let b_file = env
        .fs
        .upload(
            ELVERUM,
            "042700_iplos.zip",
            &stored_zip("b.txt", b"Elverum"),
        )
        .unwrap();
    let a_token = env.access_token(HAMAR, GOOD).await;
    let a_home = env.fs.user(HAMAR).unwrap().unwrap().home_folder.id;
    let b_home = env.fs.user(ELVERUM).unwrap().unwrap().home_folder.id;
    Two {
        env,
        a_token,
        a_file,
        b_file,
        a_home,
        b_home,
    }
}

/// An id no resource has.
const NOWHERE: u64 = 999_999_999;

#[tokio::test]
async fn rest_every_id_route_answers_404_for_another_users_resources() {
    let t = two_users().await;
    let (env, tok) = (&t.env, t.a_token.as_str());
    let (bf, bfolder, bhome) = (t.b_file.id, t.b_file.folder.id, t.b_home);
    let (af, afolder) = (t.a_file.id, t.a_file.folder.id);

    // Each B route paired with the same route on an id that does not exist: same answer.
    let routes = [
        (
            format!("/api/v1/files/{bf}"),
            format!("/api/v1/files/{NOWHERE}"),
        ),
        (
            format!("/api/v1/files/{bf}/download"),
            format!("/api/v1/files/{NOWHERE}/download"),
        ),
        (
            format!("/api/v1/folders/{bfolder}"),
            format!("/api/v1/folders/{NOWHERE}"),
        ),
        (
            format!("/api/v1/folders/{bhome}"),
            format!("/api/v1/folders/{NOWHERE}"),
        ),
        (
            format!("/api/v1/folders/{bfolder}/files"),
            format!("/api/v1/folders/{NOWHERE}/files"),
        ),
        (
            format!("/api/v1/folders/{bhome}/subfolders"),
            format!("/api/v1/folders/{NOWHERE}/subfolders"),
        ),
        (
            format!("/api/v1/folders/{bfolder}/files/{bf}"),
            format!("/api/v1/folders/{NOWHERE}/files/{NOWHERE}"),
        ),
        (
            format!("/api/v1/folders/{bfolder}/files/{bf}/download"),
            format!("/api/v1/folders/{NOWHERE}/files/{NOWHERE}/download"),
        ),
        // A's own folder with B's file, B's folder with A's file.
        (
            format!("/api/v1/folders/{afolder}/files/{bf}"),
            format!("/api/v1/folders/{afolder}/files/{NOWHERE}"),
        ),
        (
            format!("/api/v1/folders/{bfolder}/files/{af}"),
            format!("/api/v1/folders/{NOWHERE}/files/{af}"),
        ),
        (
            format!("/api/v1/folders/{afolder}/files/{bf}/download"),
            format!("/api/v1/folders/{afolder}/files/{NOWHERE}/download"),
        ),
    ];
    for (b_route, nowhere) in &routes {
        let r = env.api_get(tok, b_route).await;
        let n = env.api_get(tok, nowhere).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b_route}: {}", r.text());
        assert_eq!(r.body, n.body, "{b_route} must answer like {nowhere}");
        assert_eq!(r.json()["errorCode"], 404);
    }
    // Malformed ids answer the same way.
    for route in [
        "/api/v1/files/abc",
        "/api/v1/files/-1",
        "/api/v1/files/1e9",
        "/api/v1/files/%20330435303",
        "/api/v1/folders/abc/files",
        "/api/v1/files/99999999999999999999999",
    ] {
        let r = env.api_get(tok, route).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{route}");
    }
    // DELETE of B's file: 404, and the file is still there.
    let r = env
        .http
        .delete(env.url(&format!("/api/v1/files/{bf}")))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(env.fs.files(ELVERUM).unwrap().len(), 1);

    // Lists show only A's.
    let all = env.api_get(tok, "/api/v1/files").await.json();
    assert_eq!(all["paging"]["totalItems"], 1);
    assert_eq!(all["items"][0]["id"], af.to_string());
    let folders = env.api_get(tok, "/api/v1/folders").await.json();
    assert_eq!(folders["paging"]["totalItems"], 2);
    for f in folders["items"].as_array().unwrap() {
        assert!(f["path"].as_str().unwrap().contains(HAMAR));
    }
    // A path filter naming B's folder (or climbing to it) finds nothing.
    for path in [
        format!("/Home/Ekstern/iplos/{ELVERUM}/frassb"),
        format!("/Home/Ekstern/iplos/{HAMAR}/../{ELVERUM}/frassb"),
        "/Home/Ekstern/iplos/*".to_string(),
    ] {
        let r = env
            .api_get(tok, &format!("/api/v1/folders?path={path}"))
            .await
            .json();
        for f in r["items"].as_array().unwrap() {
            assert!(f["path"].as_str().unwrap().contains(HAMAR), "{path}");
        }
    }
    // A's own resources still work.
    assert_eq!(
        env.api_get(tok, &format!("/api/v1/files/{af}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_ne!(t.a_home, bhome);
}

#[tokio::test]
async fn html_every_id_route_answers_404_for_another_users_resources() {
    let t = two_users().await;
    let env = &t.env;
    let (bf, bfolder) = (t.b_file.id, t.b_file.folder.id);
    let mut a = env.browser();
    let r = a.sign_on(HAMAR, GOOD).await;
    a.follow(&r).await;

    for (b_path, nowhere) in [
        (format!("/folder/{bfolder}"), format!("/folder/{NOWHERE}")),
        (
            format!("/folder/{}", t.b_home),
            format!("/folder/{NOWHERE}"),
        ),
        (format!("/file/{bf}"), format!("/file/{NOWHERE}")),
        (
            format!("/file/{bf}/download"),
            format!("/file/{NOWHERE}/download"),
        ),
        (
            format!("/human.aspx?OrgID=5281&Arg12=fileview&Arg06={bfolder}&Arg07={bf}&username=x"),
            format!(
                "/human.aspx?OrgID=5281&Arg12=fileview&Arg06={NOWHERE}&Arg07={NOWHERE}&username=x"
            ),
        ),
        (
            format!("/folder?path=/Home/Ekstern/iplos/{ELVERUM}/frassb"),
            "/folder?path=/Home/Ekstern/iplos/nobody@nowhere.no/frassb".to_string(),
        ),
    ] {
        let r = a.get(&b_path).await;
        let n = a.get(&nowhere).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b_path}");
        assert_eq!(r.text(), n.text(), "{b_path} must answer like {nowhere}");
        assert!(!r.text().contains("042700_iplos.zip"));
    }
    // Delete with a valid CSRF token: 404 and B's file stays.
    let page = a.get(&format!("/folder/{}", t.a_file.folder.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    let r = a.post(&format!("/file/{bf}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(env.fs.files(ELVERUM).unwrap().len(), 1);
    // A's listing does not show B's file; A's own download works.
    let page = a.get(&format!("/folder/{}", t.a_file.folder.id)).await;
    assert!(page.text().contains("040300_iplos.zip"));
    assert!(!page.text().contains("042700_iplos.zip"));
    let own = a.get(&format!("/file/{}/download", t.a_file.id)).await;
    assert_eq!(own.status, StatusCode::OK);
}

#[tokio::test]
async fn go_to_folder_paths_must_be_ones_own_exactly() {
    let t = two_users().await;
    let env = &t.env;
    let mut a = env.browser();
    let r = a.sign_on(HAMAR, GOOD).await;
    a.follow(&r).await;
    let ok = a
        .get(&format!("/folder?path=/Home/Ekstern/iplos/{HAMAR}/frassb"))
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), format!("/folder/{}", t.a_file.folder.id));
    let ok = a
        .get(&format!(
            "/folder?path=/home/ekstern/iplos/{}/",
            HAMAR.to_uppercase()
        ))
        .await;
    assert_eq!(ok.location(), format!("/folder/{}", t.a_home));
    for path in [
        format!("/Home/Ekstern/iplos/{HAMAR}/../{ELVERUM}/frassb"),
        format!("/Home/Ekstern/iplos/{HAMAR}/./frassb"),
        format!("/Home/Ekstern/iplos/{HAMAR}//frassb"),
        format!("Home/Ekstern/iplos/{HAMAR}/frassb"),
        format!("\\Home\\Ekstern\\iplos\\{HAMAR}\\frassb"),
        format!("/Home/Ekstern/iplos/{HAMAR}/frassb/.."),
        "/etc/passwd".to_string(),
        "/".to_string(),
        "/Home/Ekstern/iplos".to_string(),
        format!("C:\\Home\\Ekstern\\iplos\\{HAMAR}"),
    ] {
        let r = a
            .get(&format!(
                "/folder?path={}",
                path.replace('%', "%25")
                    .replace('\\', "%5C")
                    .replace('#', "%23")
            ))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn traversal_in_the_request_path_is_refused_before_routing() {
    let t = two_users().await;
    let env = &t.env;
    let auth = format!("Bearer {}", t.a_token);
    let headers = [("Authorization", auth.as_str())];
    let bf = t.b_file.id;
    for path in [
        format!("/api/v1/files/{}/../{bf}", t.a_file.id),
        format!("/api/v1/files/%2e%2e/{bf}"),
        format!("/api/v1/files/%2E%2E%2F{bf}"),
        "/api/v1/files/..%2f..%2fetc%2fpasswd/download".to_string(),
        format!("/api/v1/folders/{}/files/..\\{bf}", t.a_file.folder.id),
        format!("/api/v1/folders/{}/files/%5c..%5c{bf}", t.a_file.folder.id),
        format!("//api/v1/files/{bf}"),
        "/api/v1/files/./1".to_string(),
        format!("/api/v1/files/{bf}%00"),
        format!("/file/..%2F{bf}/download"),
        format!("/folder/{}/../{}", t.a_file.folder.id, t.b_file.folder.id),
        "/../../etc/passwd".to_string(),
        "/file/%2e%2e/%2e%2e/etc/passwd".to_string(),
    ] {
        let (status, body) = raw_get(env.addr, &path, &headers).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(!body.contains("Elverum"), "{path}");
    }
    // curl with --path-as-is too (not our client).
    let code = curl(vec![
        "-s".into(),
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code}".into(),
        "--path-as-is".into(),
        "-H".into(),
        auth.clone(),
        env.url(&format!("/api/v1/files/{}/../{bf}/download", t.a_file.id)),
    ])
    .await;
    assert_eq!(code, "400");
}

#[tokio::test]
async fn without_a_session_or_token_nothing_is_served() {
    let t = two_users().await;
    let env = &t.env;
    let af = t.a_file.id;
    for path in [
        format!("/api/v1/files/{af}"),
        format!("/api/v1/files/{af}/download"),
        format!("/api/v1/folders/{}/files", t.a_file.folder.id),
        "/api/v1/folders".to_string(),
    ] {
        let (status, body) = raw_get(env.addr, &path, &[]).await;
        assert_eq!(status, 401, "{path}");
        assert!(!body.contains("PK"), "{path}");
    }
    let mut anon = env.browser();
    for path in [
        format!("/file/{af}/download"),
        format!("/file/{af}"),
        format!("/folder/{}", t.a_file.folder.id),
    ] {
        let r = anon.get(&path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/signon");
    }
    // A forged or expired cookie is no session.
    let (status, _) = raw_get(
        env.addr,
        &format!("/file/{af}/download"),
        &[("Cookie", &format!("filsluse_session={}", "a".repeat(64)))],
    )
    .await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn a_session_expires_after_20_idle_minutes() {
    let t = two_users().await;
    let env = &t.env;
    let mut a = env.browser();
    let r = a.sign_on(HAMAR, GOOD).await;
    let folder = r.location();
    env.clock.advance(chrono::Duration::minutes(19)).unwrap();
    assert_eq!(a.get(&folder).await.status, StatusCode::OK);
    env.clock.advance(chrono::Duration::minutes(19)).unwrap();
    assert_eq!(
        a.get(&folder).await.status,
        StatusCode::OK,
        "idle timer restarted"
    );
    env.clock.advance(chrono::Duration::minutes(21)).unwrap();
    let r = a.get(&folder).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/signon");
}
