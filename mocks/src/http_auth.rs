//! Bearer tokens of the harness's own APIs — the mail capture's reading API and SSB's
//! operator API — which are not part of any real endpoint and would otherwise let anyone on
//! the network read every password link and publish files.
//!
//! Each API gets a random token at start ([`random_token`], 256 bits from the OS), which
//! `serve` writes to `endpoints.json` (`mail.token`, `admin.token`). Every request must carry
//! `Authorization: Bearer <token>`, also on loopback; without it, or with another token, the
//! answer is **401** with `WWW-Authenticate: Bearer realm="…"` and a JSON `{"error": …}`. The
//! comparison takes the same time whatever the token.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A fresh token: 32 random bytes as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a protected API requires: its realm (named in the challenge) and its token.
#[derive(Clone)]
pub struct BearerToken {
    realm: &'static str,
    token: String,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl BearerToken {
    /// Requests to `realm` must carry `token`.
    pub fn new(realm: &'static str, token: impl Into<String>) -> BearerToken {
        BearerToken {
            realm,
            token: token.into(),
        }
    }

    /// Whether the request's `Authorization` header carries this token.
    pub fn admits(&self, headers: &axum::http::HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
        else {
            return false;
        };
        !self.token.is_empty() && constant_time_eq(given.as_bytes(), self.token.as_bytes())
    }

    fn refusal(&self) -> Response {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "error": "a bearer token is required (endpoints.json lists it)"
            })),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer realm=\"{}\"", self.realm)) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`): 401 unless the request carries the
/// token.
pub async fn require(State(auth): State<BearerToken>, req: Request, next: Next) -> Response {
    if auth.admits(req.headers()) {
        next.run(req).await
    } else {
        auth.refusal()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_only_its_own_token() {
        let auth = BearerToken::new("mail", "abc123");
        let mut h = axum::http::HeaderMap::new();
        assert!(!auth.admits(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc124"),
        );
        assert!(!auth.admits(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic abc123"),
        );
        assert!(!auth.admits(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc123"),
        );
        assert!(auth.admits(&h));
        assert_eq!(random_token().len(), 64);
        assert_ne!(random_token(), random_token());
    }
}
