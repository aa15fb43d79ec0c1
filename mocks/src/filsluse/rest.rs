//! The MOVEit Transfer REST subset.
//!
//! # Field names: confirmed and chosen
//!
//! Confirmed against MOVEit Transfer's published OpenAPI document (release 2025.1, the
//! `TokenAcquiredModel`, `RequestTokenError`, `RequestTokenPasswordChangeRequiredError`,
//! `PasswordRequirementsHeaderDto`, `ErrorModel`, `UserDetailsModel`, `SimpleFolderModel`,
//! `SimpleFileResourceModel`, `FileDetailsModel` and `PagingInfoModel` schemas):
//!
//! - token: form fields `grant_type` (`password`, `refresh_token`), `username`, `password`,
//!   `refresh_token`, `new_password` ("New password to apply to account when required to
//!   change password"); answer `access_token`, `token_type`, `expires_in`, `refresh_token`;
//!   a failed request is **400** with `{error, error_code, error_description}`; a change due
//!   is 400 `{error: "password_change_required", error_code: 3988, error_description,
//!   password_requirements: {minimum_length, username_match_requirement, require_letters_numbers,
//!   no_dictionary_words, require_mixed_case, require_non_alphanumeric}, user: {org_id}}`;
//!   revoke answers `{message}`.
//! - other errors: `{detail, errorCode, title}`.
//! - users/self: `id`, `orgID`, `username`, `fullName`, `permission`, `email`, `status`,
//!   `lastLoginStamp`, `homeFolderID`, `defaultFolderID`, `forceChangePassword`,
//!   `passwordChangeStamp`, `receivesNotification`, `emailFormat`, `authMethod`, `language`,
//!   `folderQuota`, `totalFileSize`, `expirationPolicyID`, `notes`, `statusNote`,
//!   `displaySettings`.
//! - collections: `{items, paging: {page, perPage, totalItems, totalPages}, sorting:
//!   [{sortField, sortDirection}]}`; query `page`, `perPage` (default 25), `sortField`,
//!   `sortDirection`, `name`, `path`, `newOnly`.
//! - folders: `id`, `parentId`, `name`, `lastContentChangeTime`, `folderType`, `path`,
//!   `isShared`, `permission`, `subfolderCount`, `totalFileCount`, `sharedWithUsersCount`,
//!   `sharedWithGroupsCount` (details add `orgId`, `owner`, `description`).
//! - files: `id` (a string, "also known as the tracking number"), `name`, `path`, `size`,
//!   `uploadStamp`, `uploadUsername`, `isNew`, `folderID`; details add `hash` — documented
//!   as **"SHA-1 hash of the file"**, no hash-type field — `originalFilename`,
//!   `uploadUserFullName`, `downloadCount`, `uploadIntegrity`, `orgID` and the rest.
//! - `GET /api/v1/folders/{folderId}/files/{fileId}[/download]` answer 302 to the file
//!   routes; `token_type` is `bearer`, as MOVEit sends it.
//! - `GET /api/v1/info` (`PublicOrgModel`, `rest_info.rs`) and
//!   `GET /api/v1/folders/{id}/content` (`PagedModelOfFolderContentItemModel`,
//!   `rest_content.rs`).
//!
//! Chosen here (not published, or not confirmable):
//!
//! - `hash` is lower-case hex; the download carries `Digest: sha=<base64 SHA-1>` (RFC 3230;
//!   MOVEit documents "a base64-encoded SHA1 digest" header without naming it).
//! - `error` strings other than `password_change_required`: `invalid_request`,
//!   `invalid_grant` (wrong username or password, locked, bad refresh token),
//!   `unsupported_grant_type` (OAuth 2.0's names), their `error_code` the HTTP status;
//!   `errorCode` of `ErrorModel` is the HTTP status too.
//! - 401 (with `WWW-Authenticate: Bearer`) for a missing, unknown or expired access token;
//!   404 for everything not the caller's (see the module docs).
//! - timestamps are Europe/Oslo with offset, e.g. `2016-10-20T18:31:29+02:00`.
//! - `defaultFolderID` is the `frassb` folder, `homeFolderID` the home folder above it.

// Early answers (redirects, errors) are axum `Response`s carried in `Err`.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use serde_json::{Value, json};

use super::core::{AuthOutcome, FolderKind, Portal, TokenPair, from_ms, oslo_iso, parse_id};
use super::glob::mask_matches;
use super::password::PasswordRule;
use super::rest_common::{ApiUser, Q, change_required, internal, not_found, paged, token_error};
use super::store::{FileRow, UserRow};
use super::types::{FilsluseError, UPLOAD_FOLDER};

type App = Arc<Portal>;

/// The routes under `/api/v1`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/token", post(token))
        .route("/api/v1/token/revoke", post(revoke))
        .route("/api/v1/users/self", get(users_self))
        .route("/api/v1/folders", get(folders))
        .route("/api/v1/folders/{id}", get(folder))
        .route("/api/v1/folders/{id}/subfolders", get(subfolders))
        .route("/api/v1/folders/{id}/files", get(folder_files))
        .route(
            "/api/v1/folders/{id}/content",
            get(super::rest_content::folder_content),
        )
        .route("/api/v1/info", get(super::rest_info::info))
        .route("/api/v1/folders/{folder}/files/{file}", get(folder_file))
        .route(
            "/api/v1/folders/{folder}/files/{file}/download",
            get(folder_file_download),
        )
        .route("/api/v1/files", get(all_files))
        .route("/api/v1/files/{id}", get(file).delete(delete_file))
        .route("/api/v1/files/{id}/download", get(download))
        .route("/api/v1/{*rest}", axum::routing::any(api_not_found))
}

fn tokens_json(t: &TokenPair) -> Response {
    let mut r = Json(json!({
        "access_token": t.access,
        "token_type": "bearer",
        "expires_in": t.expires_in,
        "refresh_token": t.refresh,
    }))
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn rules_text(rules: &[PasswordRule]) -> String {
    let msgs: Vec<&str> = rules.iter().map(|r| r.message()).collect();
    format!("The new password was refused: {}", msgs.join(" "))
}

async fn token(
    State(portal): State<App>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return token_error(
            "invalid_request",
            "The request must be an application/x-www-form-urlencoded form.",
        );
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match field("grant_type").as_deref() {
        Some("password") => {
            let (Some(username), Some(pw)) = (field("username"), field("password")) else {
                return token_error("invalid_request", "username and password are required.");
            };
            let new_password = field("new_password").filter(|p| !p.is_empty());
            password_grant(portal, username, pw, new_password).await
        }
        Some("refresh_token") => {
            let Some(refresh) = field("refresh_token") else {
                return token_error("invalid_request", "refresh_token is required.");
            };
            match portal.refresh(&refresh) {
                Ok(Some(t)) => tokens_json(&t),
                Ok(None) => token_error(
                    "invalid_grant",
                    "The refresh token is invalid, used or expired.",
                ),
                Err(e) => internal(&e),
            }
        }
        Some(other) => token_error(
            "unsupported_grant_type",
            &format!("grant_type '{other}' is not supported here."),
        ),
        None => token_error("invalid_request", "grant_type is required."),
    }
}

async fn password_grant(
    portal: App,
    username: String,
    pw: String,
    new_password: Option<String>,
) -> Response {
    let p = portal.clone();
    let outcome = tokio::task::spawn_blocking(move || p.authenticate(&username, &pw)).await;
    let user = match outcome {
        Ok(Ok(AuthOutcome::Ok(user))) => user,
        Ok(Ok(AuthOutcome::BadCredentials)) => {
            return token_error("invalid_grant", "Invalid username or password.");
        }
        Ok(Ok(AuthOutcome::Locked(until))) => {
            return token_error(
                "invalid_grant",
                &format!(
                    "The account is locked because of too many failed sign-on attempts. \
                     Try again after {}.",
                    oslo_iso(until)
                ),
            );
        }
        Ok(Err(e)) => return internal(&e),
        Err(e) => return internal(&FilsluseError::Config(format!("task: {e}"))),
    };
    if user.must_change {
        let Some(new_password) = new_password else {
            return change_required(&portal, "You are required to change your password now.");
        };
        let p = portal.clone();
        let name = user.username.clone();
        let changed = tokio::task::spawn_blocking(move || {
            p.change_password(&name, &new_password, None, None)
        })
        .await;
        match changed {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(rules))) => return change_required(&portal, &rules_text(&rules)),
            Ok(Err(e)) => return internal(&e),
            Err(e) => return internal(&FilsluseError::Config(format!("task: {e}"))),
        }
    }
    match portal.issue_tokens(&user.username) {
        Ok(t) => tokens_json(&t),
        Err(e) => internal(&e),
    }
}

async fn revoke(
    State(portal): State<App>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let token = form
        .ok()
        .and_then(|Form(f)| f.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v));
    let Some(token) = token else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "token is required."})),
        )
            .into_response();
    };
    match portal.revoke(&token) {
        Ok(true) => Json(json!({"message": "Token revoked."})).into_response(),
        Ok(false) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Unknown token."})),
        )
            .into_response(),
        Err(e) => internal(&e),
    }
}

async fn users_self(State(portal): State<App>, ApiUser(user): ApiUser) -> Response {
    let total: i64 = match portal.files_of(&user) {
        Ok(files) => files.iter().map(|f| f.size).sum(),
        Err(e) => return internal(&e),
    };
    Json(json!({
        "id": user_id(&user.username),
        "orgID": portal.settings.org_id,
        "username": user.username,
        "fullName": user.full_name,
        "permission": "User",
        "email": user.email,
        "status": "Active",
        "lastLoginStamp": user.last_login.map(|t| oslo_iso(from_ms(t))),
        "homeFolderID": user.home_folder_id,
        "defaultFolderID": user.frassb_folder_id,
        "forceChangePassword": user.must_change,
        "passwordChangeStamp": user.password_changed_at.map(|t| oslo_iso(from_ms(t))),
        "receivesNotification": "ReceivesNotifications",
        "emailFormat": "Text",
        "authMethod": "MOVEitOnly",
        "language": "en",
        "folderQuota": 0,
        "totalFileSize": total,
        "expirationPolicyID": 0,
        "notes": "",
        "statusNote": "",
        "displaySettings": {
            "userListPageSize": 25,
            "fileListPageSize": 25,
            "liveViewPageSize": 25,
        },
    }))
    .into_response()
}

/// A stable, opaque user id: the first 20 hex digits of SHA-256 of the username.
fn user_id(username: &str) -> String {
    super::core::sha256_hex(username.as_bytes())[..20].to_string()
}

fn folder_json(
    portal: &Portal,
    user: &UserRow,
    kind: FolderKind,
    details: bool,
) -> Result<Value, FilsluseError> {
    let files = portal.files_in(user, kind)?;
    let (id, parent, name, subfolders) = match kind {
        FolderKind::Home => (user.home_folder_id, 0, user.username.as_str(), 1),
        FolderKind::Upload => (user.frassb_folder_id, user.home_folder_id, UPLOAD_FOLDER, 0),
    };
    let changed = files
        .iter()
        .map(|f| f.uploaded_at)
        .max()
        .unwrap_or(user.created_at);
    let mut v = json!({
        "id": id,
        "parentId": parent,
        "name": name,
        "lastContentChangeTime": oslo_iso(from_ms(changed)),
        "folderType": "Normal",
        "path": Portal::folder_path(user, kind),
        "isShared": false,
        "permission": {
            "canListSubfolders": true,
            "canAddSubfolders": false,
            "canChangeSettings": false,
            "canDelete": false,
            "canListFiles": true,
            "canReadFiles": true,
            "canWriteFiles": false,
            "canDeleteFiles": true,
            "canShare": false,
        },
        "subfolderCount": subfolders,
        "totalFileCount": files.len(),
        "sharedWithUsersCount": 0,
        "sharedWithGroupsCount": 0,
    });
    if let (true, Some(obj)) = (details, v.as_object_mut()) {
        obj.insert("orgId".into(), json!(portal.settings.org_id));
        obj.insert("owner".into(), json!(user.username));
        obj.insert(
            "description".into(),
            json!(match kind {
                FolderKind::Home => "Home folder",
                FolderKind::Upload => "Files from SSB",
            }),
        );
        obj.insert(
            "totalFilesSize".into(),
            json!(files.iter().map(|f| f.size).sum::<i64>()),
        );
    }
    Ok(v)
}

async fn folders(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let q = Q::new(raw);
    let (page, per_page) = match q.paging() {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut items = Vec::new();
    for kind in [FolderKind::Home, FolderKind::Upload] {
        let path = Portal::folder_path(&user, kind);
        let name = match kind {
            FolderKind::Home => user.username.clone(),
            FolderKind::Upload => UPLOAD_FOLDER.to_string(),
        };
        if q.get("name").is_some_and(|m| !mask_matches(m, &name))
            || q.get("path").is_some_and(|m| !mask_matches(m, &path))
        {
            continue;
        }
        match folder_json(&portal, &user, kind, false) {
            Ok(v) => items.push(v),
            Err(e) => return internal(&e),
        }
    }
    let field = q.get("sortfield").unwrap_or("path").to_ascii_lowercase();
    let key = |v: &Value| -> String {
        let k = if field == "name" { "name" } else { "path" };
        v[k].as_str().unwrap_or_default().to_lowercase()
    };
    items.sort_by_key(|a| key(a));
    if q.descending() {
        items.reverse();
    }
    paged(items, page, per_page, &field, q.descending())
}

async fn folder(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Response {
    let Some(kind) = Portal::own_folder(&user, &id) else {
        return not_found();
    };
    match folder_json(&portal, &user, kind, true) {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(&e),
    }
}

async fn subfolders(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let Some(kind) = Portal::own_folder(&user, &id) else {
        return not_found();
    };
    let q = Q::new(raw);
    let (page, per_page) = match q.paging() {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut items = Vec::new();
    if kind == FolderKind::Home {
        match folder_json(&portal, &user, FolderKind::Upload, false) {
            Ok(v) => items.push(v),
            Err(e) => return internal(&e),
        }
    }
    paged(items, page, per_page, "name", false)
}

fn file_json(portal: &Portal, user: &UserRow, f: &FileRow, details: bool) -> Value {
    let info = portal.file_info(f, true);
    let mut v = json!({
        "id": f.id.to_string(),
        "name": f.name,
        "path": info.path,
        "size": f.size,
        "uploadStamp": oslo_iso(from_ms(f.uploaded_at)),
        "uploadUsername": f.uploaded_by,
        "isNew": f.is_new,
        "folderID": f.folder_id,
    });
    if let (true, Some(obj)) = (details, v.as_object_mut()) {
        for (k, val) in [
            ("hash", json!(f.sha1)),
            ("originalFilename", json!(f.name)),
            ("uploadUserFullName", json!(f.uploaded_by)),
            ("downloadCount", json!(f.download_count)),
            ("uploadIntegrity", json!(1)),
            ("orgID", json!(portal.settings.org_id.to_string())),
            ("originalFileType", json!("Any")),
            ("currentFileType", json!("Any")),
            ("uploadComment", json!("")),
            ("uploadIP", json!("")),
            ("uploadAgentBrand", json!("")),
            ("uploadAgentVersion", json!("")),
            ("dlpChecked", json!(false)),
            ("dlpMetaData", json!(0)),
            ("dlpViolation", json!("")),
            ("dlpBlocked", json!(false)),
        ] {
            obj.insert(k.into(), val);
        }
    }
    let _ = user;
    v
}

fn file_list(portal: &Portal, user: &UserRow, files: Vec<FileRow>, q: &Q) -> Response {
    let (page, per_page) = match q.paging() {
        Ok(p) => p,
        Err(r) => return r,
    };
    let new_only = q
        .get("newonly")
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let mut files: Vec<FileRow> = files
        .into_iter()
        .filter(|f| !new_only || f.is_new)
        .filter(|f| q.get("name").is_none_or(|m| mask_matches(m, &f.name)))
        .collect();
    let field = q.get("sortfield").unwrap_or("name").to_ascii_lowercase();
    match field.as_str() {
        "size" => files.sort_by_key(|f| (f.size, f.id)),
        "uploadstamp" | "datetime" => files.sort_by_key(|f| (f.uploaded_at, f.id)),
        _ => files.sort_by_key(|f| (f.name.to_lowercase(), f.id)),
    }
    if q.descending() {
        files.reverse();
    }
    let items = files
        .iter()
        .map(|f| file_json(portal, user, f, false))
        .collect();
    paged(items, page, per_page, &field, q.descending())
}

async fn folder_files(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let Some(kind) = Portal::own_folder(&user, &id) else {
        return not_found();
    };
    match portal.files_in(&user, kind) {
        Ok(files) => file_list(&portal, &user, files, &Q::new(raw)),
        Err(e) => internal(&e),
    }
}

async fn all_files(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    match portal.files_of(&user) {
        Ok(files) => file_list(&portal, &user, files, &Q::new(raw)),
        Err(e) => internal(&e),
    }
}

/// The caller's file `file` if it is in the caller's folder `folder`.
fn file_in_folder(
    portal: &Portal,
    user: &UserRow,
    folder: &str,
    file: &str,
) -> Result<Option<FileRow>, FilsluseError> {
    if Portal::own_folder(user, folder).is_none() {
        return Ok(None);
    }
    let folder_id = parse_id(folder);
    Ok(portal
        .own_file(user, file)?
        .filter(|f| Some(f.folder_id) == folder_id))
}

async fn folder_file(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Path((folder, file)): Path<(String, String)>,
) -> Response {
    match file_in_folder(&portal, &user, &folder, &file) {
        Ok(Some(f)) => found(&format!("/api/v1/files/{}", f.id)),
        Ok(None) => not_found(),
        Err(e) => internal(&e),
    }
}

async fn folder_file_download(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Path((folder, file)): Path<(String, String)>,
) -> Response {
    match file_in_folder(&portal, &user, &folder, &file) {
        Ok(Some(f)) => found(&format!("/api/v1/files/{}/download", f.id)),
        Ok(None) => not_found(),
        Err(e) => internal(&e),
    }
}

async fn file(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Response {
    match portal.own_file(&user, &id) {
        Ok(Some(f)) => Json(file_json(&portal, &user, &f, true)).into_response(),
        Ok(None) => not_found(),
        Err(e) => internal(&e),
    }
}

async fn delete_file(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Response {
    match portal.delete(&user, &id) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found(),
        Err(e) => internal(&e),
    }
}

/// A file download answer (shared with the HTML side).
pub(crate) fn file_response(f: &FileRow, bytes: Vec<u8>) -> Response {
    let sha1_b64 = openssl::base64::encode_block(&openssl::sha::sha1(&bytes));
    let disposition = format!(
        "attachment; filename=\"{}\"",
        f.name.replace(['"', '\\'], "_")
    );
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("sha={sha1_b64}")) {
        h.insert("digest", v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn download(
    State(portal): State<App>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Response {
    match portal.download(&user, &id) {
        Ok(Some((f, bytes))) => file_response(&f, bytes),
        Ok(None) => not_found(),
        Err(e) => internal(&e),
    }
}

/// An unknown route: 404 whether or not the request is signed on (MOVEit routes first).
async fn api_not_found() -> Response {
    not_found()
}

/// 302 Found to `location`, as MOVEit's folder-scoped file routes answer.
fn found(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}
