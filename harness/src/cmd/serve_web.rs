//! The Sendemodul-era endpoints of `serve`: Sendemodul and SSB's intake, the 08:00 receipts,
//! filsluse with its mails, the mail capture, and a small operator API that publishes
//! feedback (in a real season SSB does that in week 6; a vendor testing wants it now).
//!
//! Operator API:
//!
//! | request | what |
//! |---|---|
//! | `POST /feedback/{kommunenummer}?kind=test\|ordinary` | builds the kommune's feedback zip from every file it sent on that channel and puts it in its filsluse folder (which mails "1 New File Available" to postmottak); answers JSON with the file name, size, sha256 and the findings per rule; 404 when it sent nothing |
//! | `POST /receipts` | sends the receipts owed now (the ticker does it every few seconds) |

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use iplos_mocks::filsluse::{Filsluse, FilsluseConfig, MailNotifier, UserSpec};
use iplos_mocks::intake::{Channel, Intake};
use iplos_mocks::mail::{MailConfig, MailHandle, MailServer, Outbox, OutboxConfig};
use iplos_mocks::sendemodul::{Pins, Sendemodul, SendemodulConfig};
use iplos_model::calendar::Clock;
use iplos_model::municipality::Municipality;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The ports and options.
pub struct WebArgs {
    pub bind: IpAddr,
    pub sendemodul_port: u16,
    pub filsluse_port: u16,
    pub smtp_port: u16,
    pub mail_http_port: u16,
    pub admin_port: u16,
    pub smtp_relay: Option<String>,
    pub seed: Option<u64>,
}

/// The running endpoints.
pub struct Web {
    pub sendemodul: Sendemodul,
    pub filsluse: Arc<Filsluse>,
    pub mail: MailHandle,
    pub admin_url: String,
    ticker: tokio::task::JoinHandle<()>,
    admin: tokio::task::JoinHandle<()>,
    notifier: Arc<MailNotifier>,
}

impl Web {
    /// Stops everything, letting queued mail go out first.
    pub async fn shutdown(self) {
        self.ticker.abort();
        self.admin.abort();
        let _ = self.notifier.flush(std::time::Duration::from_secs(5)).await;
        self.sendemodul.shutdown().await;
        // The operator API's task held a clone; once it is gone the portal stops cleanly
        // (otherwise dropping the last handle stops it).
        tokio::task::yield_now().await;
        if let Ok(f) = Arc::try_unwrap(self.filsluse) {
            f.shutdown().await;
        }
        let _ = self.mail.shutdown().await;
    }
}

/// `sendemodul-pins.json`: the seed of the kommuner's PINs, kept so a restart keeps them.
#[derive(Serialize, Deserialize)]
struct PinSeed {
    seed: u64,
}

fn pin_seed(state: &Path, seed: Option<u64>) -> Result<u64> {
    let path = state.join("sendemodul-pins.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let kept: PinSeed = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a PIN seed file", path.display()))?;
        if seed.is_none_or(|s| s == kept.seed) {
            return Ok(kept.seed);
        }
    }
    let s = seed.unwrap_or_else(rand::random);
    std::fs::write(&path, serde_json::to_vec(&PinSeed { seed: s })?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(s)
}

#[derive(Clone)]
struct Operator {
    intake: Intake,
    filsluse: Arc<Filsluse>,
    year: i32,
    kommuner: Arc<HashMap<String, (String, String)>>,
    outbox: Arc<Outbox>,
    clock: Arc<dyn Clock>,
}

/// Starts the endpoints.
pub async fn start(
    args: &WebArgs,
    state: &Path,
    year: u16,
    kommuner: &[&'static Municipality],
    clock: Arc<dyn Clock>,
) -> Result<Web> {
    let at = |port| SocketAddr::new(args.bind, port);
    let mail = MailServer::start(
        MailConfig {
            smtp_bind: at(args.smtp_port),
            http_bind: Some(at(args.mail_http_port)),
            ..MailConfig::in_dir(state.join("mail"))
        },
        clock.clone(),
    )
    .await
    .context("cannot start the mail capture")?;
    let outbox_config = match &args.smtp_relay {
        Some(relay) => {
            let (host, port) = relay
                .rsplit_once(':')
                .ok_or_else(|| anyhow!("--smtp-relay {relay}: expected HOST:PORT"))?;
            OutboxConfig::new(
                host,
                port.parse()
                    .with_context(|| format!("--smtp-relay {relay}: bad port"))?,
            )
        }
        None => OutboxConfig::for_capture(&mail),
    };
    let outbox = Arc::new(Outbox::new(outbox_config.clone(), clock.clone()));
    let notifier = Arc::new(MailNotifier::start(Arc::new(Outbox::new(
        outbox_config,
        clock.clone(),
    ))));
    let filsluse = Arc::new(
        Filsluse::start(
            FilsluseConfig {
                bind: at(args.filsluse_port),
                state_dir: Some(state.join("filsluse")),
                ..FilsluseConfig::default()
            },
            clock.clone(),
            notifier.clone(),
        )
        .await
        .context("cannot start filsluse")?,
    );
    // One user per kommune; a new one gets the "Ny bruker" mail.
    for m in kommuner {
        let spec = UserSpec::for_municipality(m);
        if filsluse.user(&spec.username)?.is_none() {
            filsluse
                .create_user(&spec)
                .with_context(|| format!("creating the filsluse user of {}", m.number()))?;
        }
    }
    let intake = Intake::open(state.join("intake.sqlite"), clock.clone())
        .context("cannot open the intake")?;
    let sendemodul = Sendemodul::start(
        SendemodulConfig {
            bind: at(args.sendemodul_port),
            state_dir: Some(state.join("sendemodul")),
            data_year: i32::from(year),
            pins: Pins::seeded(pin_seed(state, args.seed)?),
            ..SendemodulConfig::default()
        },
        intake.clone(),
        clock.clone(),
    )
    .await
    .context("cannot start Sendemodul")?;
    let ticker =
        iplos_mocks::intake::spawn_receipt_ticker(intake.clone(), outbox.clone(), clock.clone());

    let op = Operator {
        intake,
        filsluse: filsluse.clone(),
        year: i32::from(year),
        kommuner: Arc::new(
            kommuner
                .iter()
                .map(|m| {
                    (
                        m.number().to_string(),
                        (m.name().to_string(), UserSpec::for_municipality(m).username),
                    )
                })
                .collect(),
        ),
        outbox,
        clock,
    };
    let listener = tokio::net::TcpListener::bind(at(args.admin_port))
        .await
        .context("cannot bind the operator API")?;
    let admin_url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/feedback/{knr}", axum::routing::post(publish))
        .route("/receipts", axum::routing::post(receipts))
        .with_state(op);
    let admin = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("operator API stopped: {e}");
        }
    });
    Ok(Web {
        sendemodul,
        filsluse,
        mail,
        admin_url,
        ticker,
        admin,
        notifier,
    })
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
    let result = tokio::task::spawn_blocking(move || -> Result<Option<serde_json::Value>> {
        let Some(input) = crate::national::feedback_from_intake(
            &intake,
            &knr,
            &name,
            year,
            channel,
            iplos_mocks::feedback::TEST_KEY,
        )?
        else {
            return Ok(None);
        };
        let p = iplos_mocks::feedback::publish(&fs, &username, &input)?;
        Ok(Some(json!({
            "file_id": p.file_id,
            "name": p.name,
            "size": p.size,
            "sha256": p.sha256,
            "findings_by_rule": p.summary.by_rule,
            "findings_by_severity": p.summary.by_severity,
        })))
    })
    .await;
    match result {
        Ok(Ok(Some(v))) => (StatusCode::OK, Json(v)).into_response(),
        Ok(Ok(None)) => err(
            StatusCode::NOT_FOUND,
            "the kommune sent nothing on that channel",
        ),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
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
