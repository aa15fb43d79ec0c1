//! SSB's operator API: publishes feedback now (in a real season SSB does that in week 6;
//! a vendor testing wants it now) and sends the receipts owed.
//!
//! | request | what |
//! |---|---|
//! | `POST /feedback/{kommunenummer}?kind=test\|ordinary` | builds the kommune's feedback zip from every file it sent on that channel and puts it in its filsluse folder (which mails "1 New File Available" to postmottak); answers JSON with the file name, size, sha256 and the findings per rule; 404 when it sent nothing |
//! | `POST /receipts` | sends the receipts owed now (the receipt ticker does it every few seconds) |
//!
//! Every request needs `Authorization: Bearer <token>` ([`crate::http_auth`]; the token is
//! [`super::National::operator_token`], in `endpoints.json` as `admin.token`): 401 without.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use iplos_model::calendar::Clock;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::NationalError;
use super::feedback::feedback_from_intake;
use crate::filsluse::Filsluse;
use crate::http_auth::BearerToken;
use crate::http_limits::HttpLimits;
use crate::intake::{Channel, Intake};
use crate::mail::Outbox;

/// What the API works on.
#[derive(Clone)]
pub(super) struct Operator {
    pub intake: Intake,
    pub filsluse: Arc<Filsluse>,
    /// The season's data year.
    pub year: i32,
    /// Kommunenummer → (name, filsluse username).
    pub kommuner: Arc<BTreeMap<String, (String, String)>>,
    pub outbox: Arc<Outbox>,
    pub clock: Arc<dyn Clock>,
}

/// The running API.
pub(super) struct OperatorServer {
    pub url: String,
    pub token: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl OperatorServer {
    /// Binds `addr` and serves.
    pub async fn start(
        addr: SocketAddr,
        op: Operator,
        token: String,
        limits: HttpLimits,
    ) -> Result<OperatorServer, NationalError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| NationalError::start(format!("bind the operator API on {addr}"), e))?;
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .map_err(|e| NationalError::start("bind the operator API", e))?
        );
        let app = axum::Router::new()
            .route("/feedback/{knr}", axum::routing::post(publish))
            .route("/receipts", axum::routing::post(receipts))
            .with_state(op)
            .layer(axum::middleware::from_fn_with_state(
                BearerToken::new("operator", token.clone()),
                crate::http_auth::require,
            ));
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            crate::http_limits::serve(listener, app, limits, shutdown).await;
        });
        Ok(OperatorServer {
            url,
            token,
            stop,
            task,
        })
    }

    /// Stops serving; waits for the requests in hand.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[derive(Deserialize)]
struct Kind {
    kind: Option<String>,
}

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

async fn publish(
    State(op): State<Operator>,
    UrlPath(knr): UrlPath<String>,
    Query(kind): Query<Kind>,
) -> Response {
    let channel = match kind.kind.as_deref().unwrap_or("ordinary") {
        "test" => Channel::Test,
        "ordinary" => Channel::Ordinary,
        other => {
            return err(
                StatusCode::BAD_REQUEST,
                format!("kind={other}: test or ordinary"),
            );
        }
    };
    let Some((name, username)) = op.kommuner.get(&knr).cloned() else {
        return err(
            StatusCode::NOT_FOUND,
            format!("{knr} is not a kommune of {}", op.year),
        );
    };
    let intake = op.intake.clone();
    let fs = op.filsluse.clone();
    let year = op.year;
    let result = tokio::task::spawn_blocking(
        move || -> Result<Option<serde_json::Value>, NationalError> {
            let Some(input) = feedback_from_intake(
                &intake,
                &knr,
                &name,
                year,
                channel,
                crate::feedback::TEST_KEY,
            )?
            else {
                return Ok(None);
            };
            let p = crate::feedback::publish(&fs, &username, &input)?;
            Ok(Some(json!({
                "file_id": p.file_id,
                "name": p.name,
                "size": p.size,
                "sha256": p.sha256,
                "findings_by_rule": p.summary.by_rule,
                "findings_by_severity": p.summary.by_severity,
            })))
        },
    )
    .await;
    match result {
        Ok(Ok(Some(v))) => (StatusCode::OK, Json(v)).into_response(),
        Ok(Ok(None)) => err(
            StatusCode::NOT_FOUND,
            "the kommune sent nothing on that channel",
        ),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, error_chain(&e)),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `e` and its causes, `: `-separated (what anyhow's `{:#}` gave).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

async fn receipts(State(op): State<Operator>) -> Response {
    match op
        .intake
        .send_due_receipts(&op.outbox, op.clock.now())
        .await
    {
        Ok(run) => Json(json!({
            "sent": run.sent.len(),
            "failed": run.failed.len(),
        }))
        .into_response(),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
