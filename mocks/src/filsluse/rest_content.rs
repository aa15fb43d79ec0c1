//! `GET /api/v1/folders/{id}/content`: a folder's subfolders and files in one listing, as
//! MOVEit's `PagedModelOfFolderContentItemModel` — items `{id, parentId, type ("Folder" or
//! "File"), name, lastUpdateTime, path, size, folderType, isShared}`, `paging`, `sorting`.
//! Query `page`, `perPage` (25), `sortField` (`type`, `time`, `size` or `name`; the order
//! is always folders before files and ends with the name, as documented), `sortDirection`,
//! `name` (a mask, see [`super::glob`]). Another user's folder, or an id that is not one,
//! answers 404 like every other route.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::core::{FolderKind, Portal, from_ms, oslo_iso};
use super::glob::mask_matches;
use super::rest_common::{ApiUser, Q, internal, not_found, paged};

/// One listing entry and the keys it sorts by.
struct Item {
    is_file: bool,
    time: i64,
    size: i64,
    name: String,
    json: Value,
}

pub(super) async fn folder_content(
    State(portal): State<std::sync::Arc<Portal>>,
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
        let files = match portal.files_in(&user, FolderKind::Upload) {
            Ok(f) => f,
            Err(e) => return internal(&e),
        };
        let changed = files
            .iter()
            .map(|f| f.uploaded_at)
            .max()
            .unwrap_or(user.created_at);
        items.push(Item {
            is_file: false,
            time: changed,
            size: 0,
            name: super::UPLOAD_FOLDER.to_string(),
            json: json!({
                "id": user.frassb_folder_id,
                "parentId": user.home_folder_id,
                "type": "Folder",
                "name": super::UPLOAD_FOLDER,
                "lastUpdateTime": oslo_iso(from_ms(changed)),
                "path": Portal::folder_path(&user, FolderKind::Upload),
                "size": 0,
                "folderType": "Normal",
                "isShared": false,
            }),
        });
    }
    let files = match portal.files_in(&user, kind) {
        Ok(f) => f,
        Err(e) => return internal(&e),
    };
    let parent = match kind {
        FolderKind::Home => user.home_folder_id,
        FolderKind::Upload => user.frassb_folder_id,
    };
    for f in files {
        let path = portal.file_info(&f, true).path;
        items.push(Item {
            is_file: true,
            time: f.uploaded_at,
            size: f.size,
            name: f.name.clone(),
            json: json!({
                "id": f.id,
                "parentId": parent,
                "type": "File",
                "name": f.name,
                "lastUpdateTime": oslo_iso(from_ms(f.uploaded_at)),
                "path": path,
                "size": f.size,
                "isShared": false,
            }),
        });
    }
    items.retain(|i| q.get("name").is_none_or(|m| mask_matches(m, &i.name)));
    let field = q.get("sortfield").unwrap_or("name").to_ascii_lowercase();
    let desc = q.descending();
    items.sort_by(|a, b| {
        let by_field = match field.as_str() {
            "time" => a.time.cmp(&b.time),
            "size" => a.size.cmp(&b.size),
            _ => std::cmp::Ordering::Equal,
        };
        let by_field = if desc { by_field.reverse() } else { by_field };
        let by_name = a.name.to_lowercase().cmp(&b.name.to_lowercase());
        let by_name = if desc { by_name.reverse() } else { by_name };
        a.is_file.cmp(&b.is_file).then(by_field).then(by_name)
    });
    paged(
        items.into_iter().map(|i| i.json).collect(),
        page,
        per_page,
        &field,
        desc,
    )
}
