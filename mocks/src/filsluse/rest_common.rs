//! What the REST handlers of [`super::rest`], [`super::rest_content`] and
//! [`super::rest_info`] share: MOVEit's error answers, the bearer-token user, query
//! parameters and paging (a leaf: it uses none of the handlers).

// Handlers answer with a ready Response on error, as in rest.rs.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::core::{LOG, Portal, api_error as error};
use super::password;
use super::store::UserRow;
use super::types::FilsluseError;

type App = Arc<Portal>;

pub(super) fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Resource Not Found",
        "The requested resource was not found.",
    )
}

pub(super) fn internal(e: &FilsluseError) -> Response {
    tracing::error!(target: LOG, "REST: {e}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Server Error",
        "An internal error occurred.",
    )
}

pub(super) fn unauthorized(detail: &str, invalid_token: bool) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "Unauthorized", detail);
    let challenge = if invalid_token {
        "Bearer error=\"invalid_token\""
    } else {
        "Bearer"
    };
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    r
}

/// A token-endpoint error (`RequestTokenError`).
pub(super) fn token_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": error,
            "error_code": 400,
            "error_description": description,
        })),
    )
        .into_response()
}

pub(super) fn password_requirements() -> Value {
    json!({
        "minimum_length": password::MIN_LENGTH,
        "username_match_requirement": "MustNotResemble",
        "require_letters_numbers": true,
        "no_dictionary_words": false,
        "require_mixed_case": false,
        "require_non_alphanumeric": false,
    })
}

pub(super) fn change_required(portal: &Portal, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": "password_change_required",
            "error_code": 3988,
            "error_description": description,
            "password_requirements": password_requirements(),
            "user": { "org_id": portal.settings.org_id },
        })),
    )
        .into_response()
}

/// The signed-on user of a request with a valid `Authorization: Bearer` token.
pub(crate) struct ApiUser(pub(super) UserRow);

impl FromRequestParts<App> for ApiUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &App) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "Authorization has been denied for this request.",
                false,
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty() && t.len() <= 256);
        let Some(token) = token else {
            return Err(unauthorized(
                "Authorization has been denied for this request.",
                false,
            ));
        };
        match portal.bearer_user(token) {
            Ok(Some(user)) => Ok(ApiUser(user)),
            Ok(None) => Err(unauthorized(
                "The access token is invalid or has expired.",
                true,
            )),
            Err(e) => Err(internal(&e)),
        }
    }
}

/// Query parameters, keys compared case-insensitively.
pub(super) struct Q(HashMap<String, String>);

impl Q {
    pub(super) fn new(raw: HashMap<String, String>) -> Q {
        Q(raw
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect())
    }

    pub(super) fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// `(page, perPage)`, or an error answer.
    pub(super) fn paging(&self) -> Result<(usize, usize), Response> {
        let parse = |k: &str, default: usize| -> Result<usize, Response> {
            match self.get(k) {
                None | Some("") => Ok(default),
                Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "Bad Request",
                        &format!("'{k}' must be a whole number of at least 1."),
                    )
                }),
            }
        };
        Ok((parse("page", 1)?, parse("perpage", 25)?.min(1000)))
    }

    pub(super) fn descending(&self) -> bool {
        self.get("sortdirection")
            .is_some_and(|d| d.eq_ignore_ascii_case("desc"))
    }
}

pub(super) fn paged(
    items: Vec<Value>,
    page: usize,
    per_page: usize,
    sort_field: &str,
    desc: bool,
) -> Response {
    let total = items.len();
    let pages = total.div_ceil(per_page);
    let items: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    Json(json!({
        "items": items,
        "paging": {
            "page": page,
            "perPage": per_page,
            "totalItems": total,
            "totalPages": pages,
        },
        "sorting": [{
            "sortField": sort_field,
            "sortDirection": if desc { "desc" } else { "asc" },
        }],
    }))
    .into_response()
}
