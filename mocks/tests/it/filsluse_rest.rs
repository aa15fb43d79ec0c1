//! The MOVEit REST subset: token, users/self, folders, files, file details, download of an
//! uploaded zip (bytes and hash), refresh, expiry on the injected clock, error shapes, and
//! the "1 New File Available" mail of an upload.

use crate::filsluse_support;
use chrono::{Duration, TimeZone, Utc};
use filsluse_support::*;
use reqwest::StatusCode;

#[tokio::test]
async fn token_self_folders_files_details_and_download_of_an_uploaded_zip() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let zip = stored_zip("feilliste.txt", b"IPLOS feilliste 0403\n");
    let info = env.fs.upload(HAMAR, "040300_iplos.zip", &zip).unwrap();
    assert_eq!(info.uploaded_by, "frassb");
    assert!(info.integrity_verified);
    assert_eq!(info.sha1, sha1_hex(&zip));

    // Token.
    let (status, tok) = env
        .token_form(&[
            ("grant_type", "password"),
            ("username", HAMAR),
            ("password", GOOD),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tok["token_type"], "bearer", "MOVEit's spelling");
    assert_eq!(tok["expires_in"], 1200);
    assert!(tok["refresh_token"].as_str().unwrap().len() >= 32);
    let token = tok["access_token"].as_str().unwrap();

    // users/self.
    let me = env.api_get(token, "/api/v1/users/self").await;
    assert_eq!(me.status, StatusCode::OK);
    let me = me.json();
    let user = env.fs.user(HAMAR).unwrap().unwrap();
    assert_eq!(me["username"], HAMAR);
    assert_eq!(me["homeFolderID"], user.home_folder.id);
    assert_eq!(me["defaultFolderID"], user.upload_folder.id);
    assert_eq!(me["orgID"], 5281);
    assert_eq!(me["permission"], "User");
    assert_eq!(me["status"], "Active");
    assert_eq!(me["email"], HAMAR);
    assert_eq!(me["totalFileSize"], zip.len());
    assert!(me["id"].is_string());
    assert_eq!(me["lastLoginStamp"], "2017-02-07T08:00:00+01:00");

    // Folders.
    let folders = env.api_get(token, "/api/v1/folders").await.json();
    assert_eq!(folders["paging"]["totalItems"], 2);
    assert_eq!(folders["paging"]["page"], 1);
    assert_eq!(folders["paging"]["perPage"], 25);
    assert_eq!(folders["paging"]["totalPages"], 1);
    let items = folders["items"].as_array().unwrap();
    assert_eq!(items[0]["path"], format!("/Home/Ekstern/iplos/{HAMAR}"));
    assert_eq!(items[0]["id"], user.home_folder.id);
    assert_eq!(
        items[1]["path"],
        format!("/Home/Ekstern/iplos/{HAMAR}/frassb")
    );
    assert_eq!(items[1]["name"], "frassb");
    assert_eq!(items[1]["parentId"], user.home_folder.id);
    assert_eq!(items[1]["totalFileCount"], 1);
    assert_eq!(items[1]["permission"]["canReadFiles"], true);
    let frassb = items[1]["id"].as_u64().unwrap();

    let sub = env
        .api_get(
            token,
            &format!("/api/v1/folders/{}/subfolders", user.home_folder.id),
        )
        .await
        .json();
    assert_eq!(sub["items"][0]["id"], frassb);
    let details = env
        .api_get(token, &format!("/api/v1/folders/{frassb}"))
        .await
        .json();
    assert_eq!(details["owner"], HAMAR);
    assert_eq!(details["folderType"], "Normal");

    // Files in the folder.
    let files = env
        .api_get(token, &format!("/api/v1/folders/{frassb}/files"))
        .await;
    assert_eq!(files.status, StatusCode::OK);
    let files = files.json();
    assert_eq!(files["paging"]["totalItems"], 1);
    let f = &files["items"][0];
    assert_eq!(f["id"], info.id.to_string());
    assert_eq!(f["name"], "040300_iplos.zip");
    assert_eq!(
        f["path"],
        format!("/Home/Ekstern/iplos/{HAMAR}/frassb/040300_iplos.zip")
    );
    assert_eq!(f["size"], zip.len());
    assert_eq!(f["uploadStamp"], "2017-02-07T08:00:00+01:00");
    assert_eq!(f["uploadUsername"], "frassb");
    assert_eq!(f["isNew"], true);
    assert_eq!(f["folderID"], frassb);
    assert!(f.get("hash").is_none(), "the list carries no hash");

    // File details: SHA-1 hash.
    let id = f["id"].as_str().unwrap();
    let d = env
        .api_get(token, &format!("/api/v1/files/{id}"))
        .await
        .json();
    assert_eq!(d["hash"], sha1_hex(&zip));
    assert_eq!(d["originalFilename"], "040300_iplos.zip");
    assert_eq!(d["downloadCount"], 0);
    assert_eq!(d["uploadIntegrity"], 1);
    assert_eq!(d["orgID"], "5281");

    // Download: the same bytes, the same hash.
    let dl = env
        .api_get(token, &format!("/api/v1/files/{id}/download"))
        .await;
    assert_eq!(dl.status, StatusCode::OK);
    assert_eq!(dl.body, zip);
    assert_eq!(sha1_hex(&dl.body), d["hash"].as_str().unwrap());
    assert_eq!(dl.header("content-type"), "application/octet-stream");
    assert_eq!(
        dl.header("content-disposition"),
        "attachment; filename=\"040300_iplos.zip\""
    );
    assert_eq!(
        dl.header("digest"),
        format!(
            "sha={}",
            openssl::base64::encode_block(&openssl::sha::sha1(&zip))
        )
    );
    assert!(dl.body.starts_with(b"PK\x03\x04"));

    // Downloaded: no longer new.
    let d = env
        .api_get(token, &format!("/api/v1/files/{id}"))
        .await
        .json();
    assert_eq!(d["isNew"], false);
    assert_eq!(d["downloadCount"], 1);
    let all = env.api_get(token, "/api/v1/files").await.json();
    assert_eq!(all["items"][0]["id"], id);
}

#[tokio::test]
async fn upload_mails_1_new_file_available_as_in_the_seed() {
    // 20.10.2016 18:31:29 Oslo (summer time), the seed's example.
    let at = Utc.with_ymd_and_hms(2016, 10, 20, 16, 31, 29).unwrap();
    let env = start_at(config(), at).await;
    env.user_with_password(HAMAR, GOOD).await;
    let bytes = vec![7u8; 24_544];
    let info = env
        .fs
        .upload(HAMAR, "040300_iplos_test.zip", &bytes)
        .unwrap();
    let mails = env.mails.new_files(HAMAR);
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.subject(), "New File Notification");
    assert_eq!(m.folder_path, format!("/Home/Ekstern/iplos/{HAMAR}/frassb"));
    assert_eq!(m.tracking_id, info.id.to_string());
    assert!(m.integrity_verified);
    let text = m.text();
    for line in [
        "1 New File Available",
        "/Home/Ekstern/iplos/postmottak@hamar.kommune.test/frassb",
        "File Name: 040300_iplos_test.zip",
        "Date and Time: 20.10.2016 18:31:29",
        "Size: 24,544",
        "Uploaded By: frassb",
        &format!("Tracking ID: {}", info.id),
        "Integrity Verified: YES",
        "Regards,\nStatistisk sentralbyrå",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert_eq!(
        m.link,
        format!(
            "{}/human.aspx?OrgID=5281&Arg12=fileview&Arg06={}&Arg07={}&username=postmottak%40hamar.kommune.test",
            env.base, info.folder.id, info.id
        )
    );
    assert!(text.contains(&format!("Link: {}", m.link)));

    // The mail's link leads to the file after sign-on.
    let mut b = env.browser();
    let r = b.get(&path_of(&m.link, &env.base)).await;
    assert_eq!(r.location(), "/signon");
    let r = b.sign_on(HAMAR, GOOD).await;
    assert_eq!(r.location(), format!("/file/{}", info.id));
    let page = b.follow(&r).await;
    assert!(page.text().contains("040300_iplos_test.zip"));
    assert!(page.text().contains("24 KB"));
    // Signed on, the link goes straight there.
    let r = b.get(&path_of(&m.link, &env.base)).await;
    assert_eq!(r.location(), format!("/file/{}", info.id));
}

#[tokio::test]
async fn refresh_token_gives_a_new_pair_once() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let (_, tok) = env
        .token_form(&[
            ("grant_type", "password"),
            ("username", HAMAR),
            ("password", GOOD),
        ])
        .await;
    let refresh = tok["refresh_token"].as_str().unwrap();
    let (status, fresh) = env
        .token_form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(fresh["access_token"], tok["access_token"]);
    assert_ne!(fresh["refresh_token"], tok["refresh_token"]);
    let me = env
        .api_get(
            fresh["access_token"].as_str().unwrap(),
            "/api/v1/users/self",
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);
    // A refresh token works once.
    let (status, body) = env
        .token_form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn tokens_expire_on_the_injected_clock() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let (_, tok) = env
        .token_form(&[
            ("grant_type", "password"),
            ("username", HAMAR),
            ("password", GOOD),
        ])
        .await;
    let access = tok["access_token"].as_str().unwrap();
    env.clock.advance(Duration::minutes(19)).unwrap();
    assert_eq!(
        env.api_get(access, "/api/v1/users/self").await.status,
        StatusCode::OK
    );
    env.clock.advance(Duration::minutes(2)).unwrap();
    let r = env.api_get(access, "/api/v1/users/self").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("www-authenticate"),
        "Bearer error=\"invalid_token\""
    );
    let e = r.json();
    assert_eq!(e["title"], "Unauthorized");
    assert_eq!(e["errorCode"], 401);
    assert!(e["detail"].as_str().unwrap().contains("expired"));
    // The refresh token (8 hours) still works, then it too expires.
    let (status, fresh) = env
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tok["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    env.clock.advance(Duration::hours(9)).unwrap();
    let (status, _) = env
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", fresh["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn errors_have_moveit_shapes() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    for (form, error) in [
        (
            vec![
                ("grant_type", "password"),
                ("username", HAMAR),
                ("password", "Wrong2024"),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "postmottak@nowhere.kommune.test"),
                ("password", GOOD),
            ],
            "invalid_grant",
        ),
        (
            vec![("username", HAMAR), ("password", GOOD)],
            "invalid_request",
        ),
        (
            vec![("grant_type", "password"), ("username", HAMAR)],
            "invalid_request",
        ),
        (
            vec![("grant_type", "client_credentials")],
            "unsupported_grant_type",
        ),
    ] {
        let (status, body) = env.token_form(&form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(body["error"], error, "{form:?}");
        assert!(body["error_code"].is_number());
        assert!(body["error_description"].is_string());
        assert!(body.get("access_token").is_none());
    }
    // Not a form at all.
    let r = env
        .http
        .post(env.url("/api/v1/token"))
        .header("content-type", "application/json")
        .body("{\"grant_type\":\"password\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // No token, a bad token, a bad scheme.
    for auth in [None, Some("Bearer nonsense"), Some("Basic eDp5")] {
        let mut rb = env.http.get(env.url("/api/v1/users/self"));
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let r = Reply::from(rb.send().await.unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        let e = r.json();
        assert!(e["detail"].is_string() && e["title"].is_string() && e["errorCode"].is_number());
        assert!(r.header("www-authenticate").starts_with("Bearer"));
    }
    // Unknown API route: 404 with or without a token (routing comes first).
    let r = env
        .http
        .get(env.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let token = env.access_token(HAMAR, GOOD).await;
    let r = env.api_get(&token, "/api/v1/nothing/here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["title"], "Resource Not Found");
}

#[tokio::test]
async fn revoke_ends_a_token() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let token = env.access_token(HAMAR, GOOD).await;
    let r = env
        .http
        .post(env.url("/api/v1/token/revoke"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        env.api_get(&token, "/api/v1/users/self").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = env
        .http
        .post(env.url("/api/v1/token/revoke"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn paging_sorting_filters_redirects_and_delete() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let a = env.fs.upload(HAMAR, "a_small.zip", &[1; 10]).unwrap();
    env.clock.advance(Duration::minutes(1)).unwrap();
    let b = env.fs.upload(HAMAR, "b_large.zip", &[2; 3000]).unwrap();
    env.clock.advance(Duration::minutes(1)).unwrap();
    let c = env.fs.upload(HAMAR, "c_mid.txt", &[3; 200]).unwrap();
    let token = env.access_token(HAMAR, GOOD).await;
    let folder = a.folder.id;
    let list = |q: &str| format!("/api/v1/folders/{folder}/files{q}");

    let p1 = env.api_get(&token, &list("?perPage=2")).await.json();
    assert_eq!(p1["paging"]["totalItems"], 3);
    assert_eq!(p1["paging"]["totalPages"], 2);
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    assert_eq!(p1["items"][0]["name"], "a_small.zip");
    let p2 = env.api_get(&token, &list("?perPage=2&page=2")).await.json();
    assert_eq!(p2["items"][0]["name"], "c_mid.txt");
    let by_size = env
        .api_get(&token, &list("?sortField=size&sortDirection=desc"))
        .await
        .json();
    assert_eq!(by_size["items"][0]["id"], b.id.to_string());
    assert_eq!(by_size["sorting"][0]["sortDirection"], "desc");
    let zips = env.api_get(&token, &list("?name=*.zip")).await.json();
    assert_eq!(zips["paging"]["totalItems"], 2);
    for bad in ["?page=0", "?perPage=x", "?page=-1"] {
        let r = env.api_get(&token, &list(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.json()["errorCode"], 400);
    }

    // newOnly after a download.
    env.api_get(&token, &format!("/api/v1/files/{}/download", c.id))
        .await;
    let fresh = env.api_get(&token, &list("?newOnly=true")).await.json();
    assert_eq!(fresh["paging"]["totalItems"], 2);

    // /folders/{folder}/files/{file}[/download] redirect to the file routes.
    let r = env
        .api_get(&token, &format!("/api/v1/folders/{folder}/files/{}", a.id))
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "302, as MOVEit answers");
    assert_eq!(r.location(), format!("/api/v1/files/{}", a.id));
    let r = env
        .api_get(
            &token,
            &format!("/api/v1/folders/{folder}/files/{}/download", a.id),
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location(), format!("/api/v1/files/{}/download", a.id));

    // Delete.
    let r = env
        .http
        .delete(env.url(&format!("/api/v1/files/{}", a.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = env
        .api_get(&token, &format!("/api/v1/files/{}", a.id))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(env.fs.files(HAMAR).unwrap().len(), 2);
}

#[tokio::test]
async fn upload_refuses_bad_names_unknown_users_and_oversize() {
    let mut cfg = config();
    cfg.max_file_bytes = 100;
    let env = start_at(cfg, t0()).await;
    env.user_with_password(HAMAR, GOOD).await;
    for bad in ["../x.zip", "a/b.zip", "a\\b.zip", "", "x\u{7}.zip"] {
        assert!(env.fs.upload(HAMAR, bad, b"x").is_err(), "{bad:?}");
    }
    assert!(
        env.fs
            .upload("postmottak@nowhere.kommune.test", "a.zip", b"x")
            .is_err()
    );
    assert!(env.fs.upload(HAMAR, "big.zip", &[0; 101]).is_err());
    assert!(env.mails.new_files(HAMAR).is_empty());
}
