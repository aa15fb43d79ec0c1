//! `GET /api/v1/info`: the organisation's public information, as MOVEit's `PublicOrgModel`
//! (what a client shows before sign-on; MOVEit client modules call it to check the server).
//! No token needed. `?orgId=` other than the portal's (or `-1`, the default) answers 404.
//! The contact fields name SSB's IPLOS group on the reserved `.test` domain: the harness
//! never points a person at a real mailbox.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::core::Portal;
use super::rest_common::not_found;

/// The support address shown (reserved domain, RFC 6761).
pub const TECH_EMAIL: &str = "iplos@ssb.test";

pub(super) async fn info(
    State(portal): State<Arc<Portal>>,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let org = raw
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("orgid"))
        .map(|(_, v)| v.trim().to_string());
    if let Some(o) = org.filter(|o| !o.is_empty() && o != "-1")
        && o != portal.settings.org_id.to_string()
    {
        return not_found();
    }
    Json(json!({
        "id": portal.settings.org_id.to_string(),
        "name": "Statistisk sentralbyrå",
        "shortName": "SSB",
        "language": "en",
        "formattingLocale": "nb-NO",
        "securityBanner": "",
        "securityNotice": "",
        "securityNoticeRequired": "NotRequired",
        "techInfo": "IPLOS-gruppa, Statistisk sentralbyrå",
        "techName": "IPLOS-gruppa",
        "techPhone": "",
        "techEmail": TECH_EMAIL,
        "allowPassChangeRequests": true,
        "baseURL": portal.base_url,
        "mfaTrustDeviceEnabled": false,
    }))
    .into_response()
}
