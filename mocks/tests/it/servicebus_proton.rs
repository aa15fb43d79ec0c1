//! Interop with an independent AMQP 1.0 client: Qpid Proton (Debian's python3-qpid-proton)
//! through `tests/peers/proton_peer.py`, run with Debian's `/usr/bin/python3`.

use crate::common;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use iplos_mocks::servicebus::{BrokerHandle, Limits};
use serde_json::Value as Json;

const PYTHON: &str = "/usr/bin/python3";

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/proton_peer.py")
}

/// Fails (never skips) when Proton is missing: CI must have it.
fn require_proton() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import proton, proton.utils"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{PYTHON} cannot import proton: install Debian's python3-qpid-proton \
         (.ci/run installs python3-qpid-proton; by hand: apt-get install -y python3-qpid-proton)"
    );
}

/// Runs the peer with the arguments; returns its JSON lines.
async fn run_peer(args: Vec<String>) -> Vec<Json> {
    require_proton();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(PYTHON)
            .arg(peer_script())
            .args(&args)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "peer failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn peer_url(broker: &BrokerHandle, user: &str, pass: &str) -> String {
    format!("amqp://{user}:{pass}@127.0.0.1:{}", broker.port())
}

#[tokio::test]
async fn proton_sends_and_receives_with_everything_intact() {
    require_proton();
    let broker = start().await;
    // The national side has an answer waiting for the municipality.
    let mut apprec = nhn_message("apprec-for-proton", b"<AppRec/>");
    {
        let p = apprec.properties.as_mut().unwrap();
        p.subject = Some("APPREC".into());
        p.to = Some(format!("{KOMMUNE_HER}_async"));
        p.reply_to = Some(format!("{KPR_HER}_async"));
    }
    broker
        .bus()
        .publish(&format!("{KOMMUNE_HER}_async"), &apprec)
        .await
        .unwrap();

    let lines = run_peer(vec![
        "roundtrip".into(),
        peer_url(&broker, KOMMUNE_USER, KOMMUNE_PASS),
        NS.into(),
        KOMMUNE_HER.to_string(),
        KPR_HER.to_string(),
    ])
    .await;
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["state"], "ACCEPTED", "{lines:?}");
    assert_eq!(lines[1]["state"], "ACCEPTED", "{lines:?}");

    // What Proton received: the broker's message first, then its own echo.
    let got = &lines[2]["received"];
    assert_eq!(got["id"], "apprec-for-proton");
    assert_eq!(got["correlation_id"], "corr-apprec-for-proton");
    assert_eq!(got["subject"], "APPREC");
    assert_eq!(got["to"], "123_async");
    assert_eq!(got["reply_to"], "131725_async");
    assert_eq!(
        got["content_type"],
        "application/pkcs7-mime; smime-type=signed-and-enveloped-data"
    );
    assert_eq!(got["properties"]["fromHerId"], "123");
    assert_eq!(got["properties"]["toHerId"], "131725");
    assert_eq!(
        got["properties"]["applicationTimeStamp"],
        "2019-01-03T08:15:00+01:00"
    );
    assert_eq!(got["properties"]["cpaId"], "cpa-42");
    assert_eq!(got["body_hex"], hex(b"<AppRec/>"));
    assert_eq!(got["delivery_count"], 0);
    let echo = &lines[3]["received"];
    assert_eq!(echo["id"], "proton-echo");
    assert_eq!(echo["body_hex"], hex(b"echo"));
    assert_eq!(echo["properties"]["toHerId"], "123");

    // What the broker stored from Proton, as the receiver sees it.
    let stored = broker
        .bus()
        .browse(&format!("{KPR_HER}_async"))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let m = &stored[0];
    let p = m.properties.as_ref().unwrap();
    assert_eq!(message_id_of(m), "proton-1");
    assert_eq!(
        p.correlation_id,
        Some(fe2o3_amqp_types::messaging::MessageId::String(
            "corr-proton-1".into()
        ))
    );
    assert_eq!(p.to.as_deref(), Some("131725_async"));
    assert_eq!(p.reply_to.as_deref(), Some("123_async"));
    assert_eq!(p.subject.as_deref(), Some("IPLOS"));
    assert_eq!(
        p.content_type.as_ref().map(|s| s.as_str()),
        Some("application/pkcs7-mime; smime-type=signed-and-enveloped-data")
    );
    assert_eq!(app_prop(m, "fromHerId").as_deref(), Some("123"));
    assert_eq!(app_prop(m, "toHerId").as_deref(), Some("131725"));
    assert_eq!(
        app_prop(m, "applicationTimeStamp").as_deref(),
        Some("2019-01-03T08:15:00+01:00")
    );
    assert_eq!(app_prop(m, "cpaId").as_deref(), Some("cpa-proton"));
    let expected: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
    assert_eq!(data_of(m), expected);
    // Proton accepted both it received.
    eventually("proton's accepts recorded", || {
        broker.bus().len(&format!("{KOMMUNE_HER}_async")).unwrap() == 0
    })
    .await;
    broker.shutdown().await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn proton_with_a_wrong_password_is_refused() {
    require_proton();
    let broker = start().await;
    let lines = run_peer(vec![
        "badauth".into(),
        peer_url(&broker, KOMMUNE_USER, "wrong"),
    ])
    .await;
    let refused = lines[0]["refused"]
        .as_str()
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(refused.contains("amqp:unauthorized-access"), "{refused}");
    broker.shutdown().await;
}

#[tokio::test]
async fn proton_may_not_consume_another_her_ids_queue() {
    require_proton();
    let broker = start().await;
    let lines = run_peer(vec![
        "forbidden".into(),
        peer_url(&broker, KOMMUNE_USER, KOMMUNE_PASS),
        format!("/amq/queue/{KPR_HER}_async"),
    ])
    .await;
    assert_eq!(
        lines[0]["condition"]["name"], "amqp:unauthorized-access",
        "{lines:?}"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn proton_sending_past_the_size_limit_gets_message_size_exceeded() {
    require_proton();
    let limits = Limits {
        max_message_size: 1024 * 1024,
        ..Limits::default()
    };
    let broker = config().with_limits(limits).start().await.unwrap();
    let lines = run_peer(vec![
        "oversize".into(),
        peer_url(&broker, KOMMUNE_USER, KOMMUNE_PASS),
        NS.into(),
        KPR_HER.to_string(),
        (3 * 1024 * 1024).to_string(),
    ])
    .await;
    assert_eq!(
        lines[0]["condition"]["name"], "amqp:link:message-size-exceeded",
        "{lines:?}"
    );
    assert_eq!(broker.bus().len(&format!("{KPR_HER}_async")).unwrap(), 0);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_200_mb_message_is_refused_at_the_default_limit() {
    require_proton();
    let broker = start().await;
    assert_eq!(Limits::default().max_message_size, 100 * 1024 * 1024);
    let lines = run_peer(vec![
        "oversize".into(),
        peer_url(&broker, KOMMUNE_USER, KOMMUNE_PASS),
        NS.into(),
        KPR_HER.to_string(),
        (200 * 1024 * 1024).to_string(),
    ])
    .await;
    assert_eq!(
        lines[0]["condition"]["name"], "amqp:link:message-size-exceeded",
        "{lines:?}"
    );
    assert_eq!(broker.bus().len(&format!("{KPR_HER}_async")).unwrap(), 0);
    broker.shutdown().await;
}
