//! The HTTP reading API of the capture server (axum):
//!
//! | request | answer |
//! |---|---|
//! | `GET /mailboxes` | `[{"address", "count"}]` |
//! | `GET /mailboxes/{address}/messages` | `[{"id", "from", "subject", "date", "received", "size"}]` (`[]` for a mailbox without mail) |
//! | `GET /messages/{id}` | the message as JSON: envelope, headers, subject, from, date, text, ... |
//! | `GET /messages/{id}.eml` | the raw RFC 5322 bytes, `message/rfc822` |
//!
//! Every request needs `Authorization: Bearer <token>` ([`crate::http_auth`]; 401
//! without). A mailbox must be an e-mail address (`local@domain`, letters, digits and
//! `.!#$%&'*+/=?^_`{|}~-` in the local part, a DNS name as the domain, at most 254
//! characters; no `/`, `\\`, `..` or control characters): anything else is 400.
//!
//! Errors are JSON `{"error": "..."}` with 400 (bad id or mailbox), 401 (no token), 404
//! (no such message) or 500.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::error::MailError;
use super::store::{MailStore, MessageId};
use crate::http_auth::BearerToken;

/// The API's routes over `store`, for requests carrying `token`.
pub(crate) fn router(store: MailStore, token: &str) -> Router {
    Router::new()
        .route("/mailboxes", get(mailboxes))
        .route("/mailboxes/{address}/messages", get(mailbox_messages))
        .route("/messages/{id}", get(message))
        .with_state(store)
        .layer(axum::middleware::from_fn_with_state(
            BearerToken::new("mail", token),
            crate::http_auth::require,
        ))
}

/// Whether `address` can name a mailbox (see the module docs).
fn valid_mailbox(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+=?^_`{|}~.-".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    address.len() <= 254 && local_ok && domain_ok
}

/// An error answer.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<MailError> for ApiError {
    fn from(e: MailError) -> Self {
        tracing::error!(error = %e, "mail http: store failed");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    store: MailStore,
    f: impl FnOnce(&MailStore) -> Result<T, MailError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

async fn mailboxes(State(store): State<MailStore>) -> Result<Response, ApiError> {
    let boxes = blocking(store, MailStore::mailboxes).await?;
    Ok(Json(boxes).into_response())
}

async fn mailbox_messages(
    State(store): State<MailStore>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    if !valid_mailbox(&address) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("{address:?} is not a mailbox address"),
        ));
    }
    let list = blocking(store, move |s| s.messages(&address)).await?;
    Ok(Json(list).into_response())
}

async fn message(
    State(store): State<MailStore>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (id_text, eml) = match id.strip_suffix(".eml") {
        Some(stem) => (stem, true),
        None => (id.as_str(), false),
    };
    let id: MessageId = id_text.parse().map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("bad message id {id_text:?}"),
        )
    })?;
    let not_found = || ApiError(StatusCode::NOT_FOUND, format!("no message {id}"));
    if eml {
        let raw = blocking(store, move |s| s.raw(id))
            .await?
            .ok_or_else(not_found)?;
        Ok((
            [
                (header::CONTENT_TYPE, "message/rfc822".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{id}.eml\""),
                ),
            ],
            raw,
        )
            .into_response())
    } else {
        let m = blocking(store, move |s| s.message(id))
            .await?
            .ok_or_else(not_found)?;
        Ok(Json(m).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::valid_mailbox;

    #[test]
    fn mailbox_names() {
        assert!(valid_mailbox("postmottak@hamar.kommune.test"));
        assert!(valid_mailbox("Post.Mottak+x@Hamar.Kommune.test"));
        for bad in [
            "../../etc/passwd",
            "..%2f..%2fetc%2fpasswd",
            "a/b@x.test",
            "a\\b@x.test",
            "a..b@x.test",
            "a@x..test",
            "a@x/y",
            "@x.test",
            "a@",
            "a b@x.test",
            "a\n@x.test",
        ] {
            assert!(!valid_mailbox(bad), "{bad:?}");
        }
    }
}
