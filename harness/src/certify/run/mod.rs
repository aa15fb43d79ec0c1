//! `certify run DIR`: the transport session. Starts the service bus (TLS only, the kommune
//! and the register as participants) and the register (KPR 134197 and KPR Validering
//! 131725) for the session's kommune, a second TLS port whose certificate is for another
//! host name, and a small live web page; then walks the phases ([`super::phases`]), each
//! with its instruction on the console and the page, its fault armed, waiting until what it
//! waits for has happened or its timeout; then decides every test of the plan
//! ([`super::judge`]) and writes the report and the evidence bundle.
//!
//! ```text
//! DIR/run/endpoints.json   where to connect, the login, the CA, the live page (for the EPJ;
//!                          nothing of DIR/harness)
//! DIR/run/run.sqlite       the broker's queues and the register's record of every message
//! DIR/run/evidence/        phases.json, messages.json, connections.json, wrong-host.json,
//!                          messages/NNN-<phase>.msghead.xml (decrypted with the register's key)
//!                          and NNN-<phase>.iplos.xml (the IPLOS document the findings' lines
//!                          refer to)
//! DIR/run/report.json, junit.xml, index.html   the certification report
//! DIR/run/SHA256SUMS, report.json.p7s, SHA256SUMS.p7s, harness-certificate.pem
//!                          the evidence manifest and the harness's signatures
//!                          ([`crate::certify::verify`])
//! ```
//!
//! The live page (`GET /`) refreshes itself every two seconds; `GET /status.json` is the
//! same state for machines (a scripted EPJ follows the phases through it).
//!
//! One file per part: [`start`] (the session directory, endpoints.json), [`servers`] (the
//! national side), [`wrong_host`], [`live`] (the page), [`walk`] (the phases, with
//! [`injector`] arming the register's answers), [`collect`] (the recording and the evidence)
//! and [`report`].

mod collect;
mod content;
mod endpoints;
mod injector;
pub mod live;
mod options;
mod report;
mod servers;
mod skip;
mod start;
mod walk;
mod wrong_host;

pub use endpoints::Endpoints;
pub use live::Status;
pub use options::RunOptions;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use iplos_model::calendar::{Clock, SystemClock};
use iplos_model::ids::HerId;
use iplos_reports::certification::CertificationReport;

use super::judge::{self, Ctx};
use super::record::WrongHostAttempt;
use collect::Observed;
use content::ContentCache;
use report::ReportParts;
use servers::{ServerPlaces, Servers};
use walk::Walk;

/// Runs a session; returns the report.
pub async fn run(opts: RunOptions) -> Result<CertificationReport> {
    let p = start::prepare(&opts)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let pki_dir = crate::certify::session::harness_pki_dir(&p.dir);
    let places = ServerPlaces {
        bind: opts.bind,
        amqp_port: opts.amqp_port,
        pki_dir: &pki_dir,
        run_dir: &p.run_dir,
        external: opts.broker.clone(),
    };
    let servers = Servers::start(&places, &p.session, &p.creds, &p.tls, clock).await?;

    // The wrong-host listener and the live page.
    let wrong_host_log: Arc<Mutex<Vec<WrongHostAttempt>>> = Arc::default();
    let wrong_listener = tokio::net::TcpListener::bind((opts.bind, opts.wrong_host_port))
        .await
        .context("cannot open the wrong-host port")?;
    let wrong_port = wrong_listener.local_addr()?.port();
    let wrong_task = tokio::spawn(wrong_host::listen(
        wrong_listener,
        p.tls.wrong_host_cert.clone(),
        p.tls.wrong_host_key.clone(),
        wrong_host_log.clone(),
    ));
    let live = live::new_status(
        &p.session.vendor,
        format!("{} {}", p.session.kommune, p.session.kommune_name),
        opts.time_scale,
        &p.phases,
        &p.selected,
    );
    let address_register =
        live::AddressRegister::from_pki(&pki_dir, &p.session, &servers.namespace()?)?;
    let (web_addr, web_task) =
        live::serve(&live, address_register, opts.bind, opts.web_port).await?;
    p.announce(&opts, &servers, wrong_port, web_addr)?;

    // The phases; a phase whose every test is already blocked is skipped.
    let mut cache = ContentCache::default();
    let skipper = skip::Skipper {
        store: servers.store()?,
        session: &p.session,
        username: &p.creds.username,
        timing: p.timing,
        plan: &p.plan,
        expected: &p.expected,
        faults: &servers.faults,
        wrong_host: &wrong_host_log,
        evidence: &p.evidence,
    };
    let walked = Walk {
        expected: &p.expected,
        store: servers.store()?,
        faults: &servers.faults,
        injector: &servers.injector,
        servers: &servers,
        kommune: HerId::new(p.session.her_id)?,
        username: &p.creds.username,
        timing: &p.timing,
        wrong_host: &wrong_host_log,
        live: &live,
        intake: servers.intake()?,
        refusing: servers.refusing()?,
        kommune_nr: &p.session.kommune,
        blocked: Some(&skipper),
    }
    .walk(&p.phases, &p.selected, &mut cache)
    .await?;

    // What was observed, the verdicts, the report.
    let observed = Observed {
        walked,
        connections: servers.faults.events(),
        wrong_host: wrong_host_log.lock().map(|l| l.clone()).unwrap_or_default(),
        sendemodul: servers.sendemodul_record()?,
    };
    let recording = collect::recording(
        servers.store()?,
        &p.session,
        &p.creds.username,
        p.timing,
        observed,
        &p.evidence,
        &mut cache,
    )?;
    let ctx = Ctx {
        rec: &recording,
        expected: &p.expected,
        plan: &p.plan,
        selected: &p.selected,
    };
    let (tests, timings) = judge::judge_all(&ctx);
    collect::write_evidence(&recording, &p.evidence)?;
    let parts = ReportParts {
        plan: &p.plan,
        session: &p.session,
        recording: &recording,
        tests,
        timings,
        time_scale: opts.time_scale,
        selected: &p.selected,
        phases: p.phases.len(),
    };
    let report = report::write(parts, &p.evidence, &p.run_dir, &p.signing)?;
    live::set_verdict(&live, report.verdict.as_str());
    // The page says "done" a moment longer, for an EPJ polling it.
    tokio::time::sleep(Duration::from_secs(1)).await;

    servers.shutdown().await;
    wrong_task.abort();
    web_task.abort();
    Ok(report)
}
