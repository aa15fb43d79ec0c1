//! The live page of a session: `GET /` (refreshes itself every two seconds),
//! `GET /status.json` (the same state for machines: a scripted EPJ follows the phases
//! through it), and the session's address register: `GET /adresseregister/<her-id>`.
//!
//! **\[model\]** The address register stands in for NHN's Adresseregister, where a
//! communication party (a HER-id) is looked up with its organisation, its certificates
//! (signing and encryption, one pair per HER-id) and where it takes messages. It knows the
//! session's parties: KPR Validering 131725, KPR 134197 and the kommune; an unknown HER-id
//! gets 404 with a JSON `error`. `GET /adresseregister` lists them all.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use iplos_mocks::pki::{Pki, Variant};
use iplos_model::ids::HerId;
use serde::Serialize;

use crate::certify::guide::phase_register;
use crate::certify::phases::{Phase, PhaseKind};
use crate::certify::session::Session;

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
                to_her_id: phase_register(p.kind),
                timeout_seconds: p.timeout.as_secs_f64(),
                note: String::new(),
            })
            .collect(),
        messages: 0,
        done: false,
        verdict: None,
    }))
}

/// One party of the session's address register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AddressEntry {
    pub her_id: u32,
    pub name: String,
    pub orgnr: String,
    /// `test-submission` (KPR Validering), `ordinary` (KPR) or `kommune`.
    pub role: String,
    /// The queue it takes messages on (`<her-id>_async`).
    pub queue: String,
    /// The sending link's target for it: `/exchange/<namespace>/<queue>`.
    pub address: String,
    /// Its signing certificate (PEM): verify what it signs.
    pub signing_certificate: String,
    /// Its encryption certificate (PEM): encrypt what is sent to it.
    pub encryption_certificate: String,
}

/// The session's address register.
#[derive(Debug, Clone, Default)]
pub struct AddressRegister {
    pub entries: Vec<AddressEntry>,
}

impl AddressRegister {
    /// The session's registers (from `session.json`) and the kommune, with their
    /// certificates from the session's PKI.
    pub fn from_pki(pki_dir: &std::path::Path, session: &Session, namespace: &str) -> Result<Self> {
        let pki = Pki::load(pki_dir)
            .with_context(|| format!("the session's PKI in {}", pki_dir.display()))?;
        let orgnr = iplos_model::municipality::lookup(session.year, &session.kommune)
            .map(|m| m.orgnr().to_string())
            .unwrap_or_default();
        let mut parties: Vec<(u32, String, String, String)> = session
            .registers
            .iter()
            .map(|r| (r.her_id, r.name.clone(), r.orgnr.clone(), r.role.clone()))
            .collect();
        parties.push((
            session.her_id,
            format!("{} kommune", session.kommune_name),
            orgnr,
            "kommune".into(),
        ));
        let mut entries = Vec::new();
        for (her_id, name, orgnr, role) in parties {
            let party = pki
                .party(HerId::new(her_id)?, Variant::Valid)
                .with_context(|| format!("the certificates of HER-id {her_id}"))?;
            let pem =
                |c: &openssl::x509::X509| -> Result<String> { Ok(String::from_utf8(c.to_pem()?)?) };
            let queue = format!("{her_id}_async");
            entries.push(AddressEntry {
                her_id,
                name,
                orgnr,
                role,
                address: format!("/exchange/{namespace}/{queue}"),
                queue,
                signing_certificate: pem(&party.signing.cert)?,
                encryption_certificate: pem(&party.encryption.cert)?,
            });
        }
        Ok(AddressRegister { entries })
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
    register: AddressRegister,
    bind: IpAddr,
    port: u16,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind((bind, port))
        .await
        .context("cannot open the live page's port")?;
    let addr = listener.local_addr()?;
    let register = Arc::new(register);
    let app = axum::Router::new()
        .route("/", get(page))
        .route("/status.json", get(status_json))
        .route(
            "/adresseregister",
            get(address_list).with_state(register.clone()),
        )
        .route(
            "/adresseregister/{her_id}",
            get(address_lookup).with_state(register),
        )
        .with_state(live.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

async fn address_list(State(register): State<Arc<AddressRegister>>) -> impl IntoResponse {
    axum::Json(register.entries.clone())
}

async fn address_lookup(
    State(register): State<Arc<AddressRegister>>,
    Path(her_id): Path<String>,
) -> axum::response::Response {
    let known = || {
        register
            .entries
            .iter()
            .map(|e| e.her_id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match her_id.trim().parse::<u32>() {
        Ok(h) => match register.entries.iter().find(|e| e.her_id == h) {
            Some(e) => axum::Json(e.clone()).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({
                    "error": format!("HER-id {h} is not in this session's address register (it knows {})", known()),
                    "her_id": h,
                })),
            )
                .into_response(),
        },
        Err(_) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "error": format!("'{her_id}' is not a HER-id (a positive integer); this session's address register knows {}", known()),
            })),
        )
            .into_response(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_address_register_answers_known_unknown_and_malformed_her_ids() {
        let entry = AddressEntry {
            her_id: 131_725,
            name: "Helsedirektoratet KPR Validering".into(),
            orgnr: "983544622".into(),
            role: "test-submission".into(),
            queue: "131725_async".into(),
            address: "/exchange/NS/131725_async".into(),
            signing_certificate: "S".into(),
            encryption_certificate: "E".into(),
        };
        let live = new_status("v", "k".into(), 1.0, &[], &[]);
        let register = AddressRegister {
            entries: vec![entry.clone()],
        };
        let (addr, task) = serve(&live, register, "127.0.0.1".parse().unwrap(), 0)
            .await
            .unwrap();
        let get = |path: &str| {
            let url = format!("http://{addr}{path}");
            async move {
                let r = reqwest::get(url).await.unwrap();
                let code = r.status().as_u16();
                (code, r.json::<serde_json::Value>().await.unwrap())
            }
        };
        let (code, body) = get("/adresseregister/131725").await;
        assert_eq!(code, 200);
        assert_eq!(serde_json::from_value::<AddressEntry>(body).unwrap(), entry);
        let (code, body) = get("/adresseregister/134198").await;
        assert_eq!(code, 404);
        let err = body["error"].as_str().unwrap();
        assert!(err.contains("134198") && err.contains("131725"), "{err}");
        let (code, body) = get("/adresseregister/kpr").await;
        assert_eq!(code, 400);
        assert!(body["error"].as_str().unwrap().contains("'kpr'"));
        let (code, body) = get("/adresseregister").await;
        assert_eq!((code, body.as_array().map(Vec::len)), (200, Some(1)));
        task.abort();
    }
}
