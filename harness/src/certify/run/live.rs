//! The live page of a session: `GET /` (refreshes itself every two seconds) and
//! `GET /status.json` (the same state for machines: a scripted EPJ follows the phases
//! through it).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use iplos_mocks::receiver::{KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID};
use serde::Serialize;

use crate::certify::phases::{Phase, PhaseKind};

/// One phase on the live page and in `status.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PhaseStatus {
    pub id: String,
    /// `pending`, `running`, `completed`, `not-observed` (ran its time, saw nothing),
    /// `timed-out`, `skipped`.
    pub state: String,
    pub instruction: String,
    pub to_her_id: Option<u32>,
    pub timeout_seconds: f64,
    pub note: String,
}

/// `GET /status.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Status {
    pub vendor: String,
    pub kommune: String,
    pub time_scale: f64,
    /// The running phase's id.
    pub phase: Option<String>,
    /// Its 1-based position.
    pub seq: usize,
    pub of: usize,
    pub phases: Vec<PhaseStatus>,
    pub messages: usize,
    /// Every phase has run; the report is being (or has been) written.
    pub done: bool,
    /// The report's verdict, once written.
    pub verdict: Option<String>,
}

/// The state shown, shared with the page's server.
pub type Live = Arc<Mutex<Status>>;

/// The state before the first phase: every phase pending (or skipped when not `selected`).
pub fn new_status(
    vendor: &str,
    kommune: String,
    time_scale: f64,
    phases: &[Phase],
    selected: &[PhaseKind],
) -> Live {
    Arc::new(Mutex::new(Status {
        vendor: vendor.to_string(),
        kommune,
        time_scale,
        phase: None,
        seq: 0,
        of: phases.len(),
        phases: phases
            .iter()
            .map(|p| PhaseStatus {
                id: p.kind.as_str().into(),
                state: if selected.contains(&p.kind) {
                    "pending".into()
                } else {
                    "skipped".into()
                },
                instruction: p.kind.instruction().into(),
                to_her_id: to_her(p.kind),
                timeout_seconds: p.timeout.as_secs_f64(),
                note: String::new(),
            })
            .collect(),
        messages: 0,
        done: false,
        verdict: None,
    }))
}

/// The register the vendor sends to in a phase (none on the wrong-host port or Sendemodul).
fn to_her(kind: PhaseKind) -> Option<u32> {
    match kind {
        PhaseKind::TlsWrongHost | PhaseKind::SendemodulUpload | PhaseKind::SendemodulRefused => {
            None
        }
        k if k.production() => Some(KPR_PRODUCTION_HER_ID),
        _ => Some(KPR_VALIDATION_HER_ID),
    }
}

/// A phase's state (`running` also makes it the current one, at position `seq`), its note
/// and the number of messages so far.
pub fn set_phase(
    live: &Live,
    id: &str,
    state: &str,
    note: &str,
    seq: usize,
    messages: Option<usize>,
) {
    if let Ok(mut s) = live.lock() {
        if state == "running" {
            s.phase = Some(id.to_string());
            s.seq = seq;
        }
        if let Some(n) = messages {
            s.messages = n;
        }
        if let Some(p) = s.phases.iter_mut().find(|p| p.id == id) {
            p.state = state.to_string();
            p.note = note.to_string();
        }
    }
}

/// Every phase has run.
pub fn set_done(live: &Live) {
    if let Ok(mut s) = live.lock() {
        s.phase = None;
        s.done = true;
    }
}

/// The report's verdict is written.
pub fn set_verdict(live: &Live, verdict: &str) {
    if let Ok(mut s) = live.lock() {
        s.verdict = Some(verdict.to_string());
    }
}

/// Serves the page on `bind:port`; returns its address and the server's task.
pub async fn serve(
    live: &Live,
    bind: IpAddr,
    port: u16,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind((bind, port))
        .await
        .context("cannot open the live page's port")?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/", get(page))
        .route("/status.json", get(status_json))
        .with_state(live.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

async fn status_json(State(live): State<Live>) -> impl IntoResponse {
    let s = live.lock().map(|s| s.clone()).ok();
    axum::Json(s)
}

async fn page(State(live): State<Live>) -> Html<String> {
    let Some(s) = live.lock().map(|s| s.clone()).ok() else {
        return Html("unavailable".into());
    };
    let esc = iplos_reports::html::esc;
    let mut rows = String::new();
    for p in &s.phases {
        let mark = match p.state.as_str() {
            "completed" => "✓",
            "not-observed" => "○",
            "timed-out" => "✗",
            "running" => "▶",
            "skipped" => "–",
            _ => "·",
        };
        let _ = write!(
            rows,
            "<tr class=\"{}\"><td>{mark}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.state),
            esc(&p.id),
            esc(&p.state),
            p.to_her_id.map(|h| h.to_string()).unwrap_or_default(),
            esc(&p.note)
        );
    }
    let current = s
        .phase
        .as_ref()
        .and_then(|id| s.phases.iter().find(|p| &p.id == id))
        .map(|p| {
            format!(
                "<h2>Now: {}</h2><p class=\"do\">{}</p><p>Waiting up to {:.0} s.</p>",
                esc(&p.id),
                esc(&p.instruction),
                p.timeout_seconds
            )
        })
        .unwrap_or_else(|| match &s.verdict {
            Some(v) => format!(
                "<h2>Done: {}</h2><p>The report is in the session's run/ directory.</p>",
                esc(v)
            ),
            None if s.done => "<h2>Done</h2><p>Writing the report…</p>".into(),
            None => "<h2>Starting…</h2>".into(),
        });
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
         <title>Certification session — {vendor}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
         td,th{{padding:.2rem .6rem;text-align:left}}tr.running{{background:#fff3c4}}tr.timed-out{{color:#a00}}\
         tr.completed{{color:#060}}p.do{{font-size:1.2rem}}</style></head><body>\
         <h1>Certification session — {vendor}</h1><p>Kommune {kommune} · {messages} message(s) received{scale}</p>\
         {current}<table><tr><th></th><th>phase</th><th>state</th><th>to HER-id</th><th>note</th></tr>{rows}</table>\
         </body></html>",
        vendor = esc(&s.vendor),
        kommune = esc(&s.kommune),
        messages = s.messages,
        scale = if s.time_scale == 1.0 {
            String::new()
        } else {
            format!(" · time scale {}", s.time_scale)
        },
    ))
}
