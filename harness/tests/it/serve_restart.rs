//! `iplos-harness serve` dies (abort at a failpoint, or SIGKILL) between accepting a
//! message and sending its AppRec; after a restart on the same state directory the AppRec
//! is sent exactly once.

use crate::serve_support;
use std::sync::Arc;
use std::time::Duration;

use iplos_mocks::pki::{Pki, Variant};
use iplos_mocks::sender::{
    Counterpart, ReferenceSender, SendError, SenderConfig, SenderIdentity, sample_iplos,
};
use iplos_model::ids::HerId;
use iplos_model::message::AppRecStatus;
use serve_support::*;

fn sender_config(state: &std::path::Path) -> SenderConfig {
    let text = std::fs::read(state.join("endpoints.json")).unwrap();
    let ep: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let oslo = kommune(&ep, "0301");
    let pki = Pki::load(state.join("pki")).unwrap();
    let identity = SenderIdentity {
        party: pki
            .party(HerId::new(9_000_301).unwrap(), Variant::Valid)
            .unwrap(),
        register: Counterpart::from_party(&pki.register().unwrap(), HerId::new(131_725).unwrap()),
        trust: Arc::new(pki.trust_store().unwrap()),
    };
    SenderConfig::new(oslo["connection_string"].as_str().unwrap(), identity)
}

/// Sends one correct message; `die` makes the server die; restarts; checks one AppRec.
async fn dies_then_answers_once(env: &[(&str, &str)], die: impl FnOnce(&mut Server)) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--certs", "0301"], env);
    // Only sends: an answer that comes before the death stays in the queue.
    let mut cfg = sender_config(dir.path());
    cfg.listen = false;
    let mut s = ReferenceSender::connect(cfg).await.unwrap();
    let out = s.build(&sample_iplos("0301", 2024, 1), &[]).unwrap();
    s.send(&out).await.unwrap();
    die(&mut server);
    let status = tokio::task::block_in_place(|| server.wait(Duration::from_secs(60)));
    assert!(!status.success(), "the server died: {status}");
    drop(s);

    let mut server = Server::start(dir.path(), &["--certs", "0301"], &[]);
    let mut s = ReferenceSender::connect(sender_config(dir.path()))
        .await
        .unwrap();
    let a = s
        .wait_answer(&out.message_id, Duration::from_secs(60))
        .await
        .unwrap();
    let a = a.apprec().expect("an AppRec");
    assert_eq!(a.apprec.status, AppRecStatus::Ok);
    match s.wait_answer(&out.message_id, Duration::from_secs(3)).await {
        Err(SendError::Timeout(..)) => {}
        other => panic!("a second answer: {other:?}"),
    }
    s.close().await;
    let lines = tokio::task::block_in_place(|| {
        server.signal("TERM");
        server.wait(Duration::from_secs(30));
        std::mem::take(&mut server.lines)
    });
    assert!(lines.iter().any(|l| l == "stopped"), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_accept_then_restart_sends_the_apprec_once() {
    dies_then_answers_once(&[("IPLOS_HARNESS_FAILPOINT", "after-accept")], |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_check_then_restart_sends_the_apprec_once() {
    dies_then_answers_once(&[("IPLOS_HARNESS_FAILPOINT", "after-check")], |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_the_send_then_restart_sends_the_apprec_once() {
    dies_then_answers_once(&[], |server| server.signal("KILL")).await;
}
