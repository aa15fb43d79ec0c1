//! A submission over the service bus: one AMQP message to the register (or KPR
//! Validering for the test) and its AppRec.

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use iplos_model::calendar::Clock;

use super::corrections::{after_sent, retry_after_fix};
use super::export::file_for;
use crate::engine::days::next_working;
use crate::engine::queue::{Ev, Kind, Queue};
use crate::engine::world::{Agent, EngineConfig, Sent, SentFile, ServicebusSide, World};
use crate::scenario::Fault;

/// A submission over the service bus: connect with the kommune's credentials, send, wait
/// for the AppRec.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn submit(
    cfg: &EngineConfig,
    w: &World,
    b: &ServicebusSide,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
) -> Result<()> {
    use iplos_mocks::sender::{Answer, Counterpart, ReferenceSender, SenderConfig, SenderIdentity};
    let (party, user, password) = b
        .kommuner
        .get(&a.plan.knr)
        .ok_or_else(|| anyhow!("{} has no service bus identity", a.plan.knr))?
        .clone();
    // Access not activated: the broker refuses the kommune's credentials (a real SASL
    // refusal: the broker does not know this password).
    let not_active = a.plan.has(Fault::ServicebusNotActivated) && !a.login_fixed;
    let pass = if not_active {
        format!("{password}-inactive")
    } else {
        password
    };
    let target = if kind == Kind::Test {
        b.validation_her
    } else {
        b.register_her
    };
    let identity = SenderIdentity {
        party,
        register: Counterpart::from_party(&b.register, target),
        trust: b.trust.clone(),
    };
    let mut scfg = SenderConfig::new(w.servicebus_connection_string(&user, &pass)?, identity);
    scfg.clock = w.clock.clone();
    scfg.tls_ca = w.servicebus_tls_ca();
    scfg.timeout = std::time::Duration::from_secs(120);
    let sender = match ReferenceSender::connect(scfg.clone()).await {
        Ok(s) => Some(s),
        Err(e) if not_active => {
            a.note(
                t,
                "connect-refused",
                format!("the service bus refused the connection: {e}"),
            );
            a.cause(kind.phase(), Fault::ServicebusNotActivated);
            a.login_fixed = true;
            return retry_after_fix(cfg, a, i, q, t, kind);
        }
        // A node that died under the connect (a cluster): the send below connects again.
        Err(e) => {
            a.note(t, "connect-failed", format!("connecting failed: {e}"));
            None
        }
    };
    a.login_fixed = true;
    let (resend, fixed) = (a.needs_resend, a.export_fixed);
    let bytes = file_for(cfg, a, kind)?;
    let size = bytes.len();
    let me = crate::identity::kommune_her_id(&a.plan.knr)?.to_string();
    let queue = format!("{target}_");
    let sent_before = if w.recovering() {
        w.run_store()?.messages()?.into_iter().find(|m| {
            m.from_her.as_deref() == Some(me.as_str())
                && m.queue.starts_with(&queue)
                && m.received == t
        })
    } else {
        None
    };
    let arrived = w.clock.now();
    let (status, rejected, detail) = match sent_before {
        // The message was sent and answered before the run was killed (the AppRec was
        // read then): the answer is the register's, as its run store keeps it.
        Some(m) => {
            if let Some(s) = sender {
                s.close().await;
            }
            answer_on_record(&m)?
        }
        None => {
            let answer = send_until_answered(a, sender, &scfg, &bytes, t).await?;
            match &answer {
                Answer::AppRec(r) => {
                    let code = r.apprec.status.code().to_string();
                    let n = r.apprec.errors.len();
                    (
                        Some(code.clone()),
                        code == "2",
                        format!("AppRec status {code}, {n} errors"),
                    )
                }
                Answer::Error(e) => (
                    None,
                    true,
                    format!("error message {}: {}", e.condition_text, e.description),
                ),
            }
        }
    };
    a.note(
        t,
        &format!("{}-submitted", kind.as_str()),
        format!("{size} bytes to HER-id {target} over AMQP; {detail}"),
    );
    if kind != Kind::Test {
        // The register's verdict (findings by rule), from the run store.
        let verdict = w
            .run_store()?
            .messages()?
            .into_iter()
            .filter(|m| m.from_her.as_deref() == Some(me.as_str()) && m.queue.starts_with(&queue))
            .filter_map(|m| m.verdict)
            .next_back();
        // The verdict's check report, read once: counted here, kept for the feedback.
        let report = verdict
            .and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
            .and_then(|mut v| v.get_mut("report").map(serde_json::Value::take))
            .filter(|r| !r.is_null());
        let checked = report.as_ref().and_then(|r| {
            serde_json::from_value::<iplos_model::rules::CheckReport>(r.clone()).ok()
        });
        a.count_findings(checked.as_ref());
        let report = report.map(|r| r.to_string());
        let name = format!("{}_{}_{}.xml", a.plan.knr, kind.as_str(), a.sent.len() + 1);
        a.sent_files.push(SentFile {
            name,
            arrived,
            kind,
            resend,
            fixed,
            report,
        });
        if status.is_some() && a.receipt.is_none() {
            a.receipt = Some(Some(arrived));
        }
    }
    a.sent.push(Sent {
        kind,
        arrived,
        rejected,
        receipted: (kind != Kind::Test && status.is_some()).then_some(arrived),
    });
    if kind == Kind::Ordinary && rejected {
        // The AppRec says rejected (status 2): the vendor fixes the export and the kommune
        // sends again, as the spec expects of a sender.
        for f in [Fault::DefectiveExport, Fault::OldKommunenummer] {
            if a.plan.has(f) {
                a.cause(kind.phase(), f);
            }
        }
        a.export_fixed = true;
        a.note(
            t,
            "resend-planned",
            "status 2: the export is fixed and sent again in 3 working days",
        );
        q.push(
            next_working(t, 3, 8, a.plan.minute)?,
            Ev::Submit(i, Kind::Ordinary),
        );
        return Ok(());
    }
    after_sent(cfg, a, i, q, t, kind, rejected)
}

/// How often a kommune sends one message before it gives up: the first time and again after
/// each connection that broke under the send or the wait.
const ATTEMPTS: u32 = 5;

/// Sends `bytes` as one message and waits for its answer. When the connection breaks under
/// the send or the wait (its node of a cluster killed), the kommune connects again — the
/// connection string lists every node; a dead one is skipped — and sends the same message
/// (same message-id) again, as an EPJ does. Every answer read on the way, repeats and
/// answers to earlier messages included, goes into `a.apprecs`.
async fn send_until_answered(
    a: &mut Agent,
    mut sender: Option<iplos_mocks::sender::ReferenceSender>,
    scfg: &iplos_mocks::sender::SenderConfig,
    bytes: &[u8],
    t: DateTime<Utc>,
) -> Result<iplos_mocks::sender::Answer> {
    use iplos_mocks::sender::{ReferenceSender, SendError, build_message};
    let knr = a.plan.knr.clone();
    let out = build_message(&scfg.identity, bytes, &[], scfg.clock.now())
        .map_err(|e| anyhow!("{knr}: building the message: {e}"))?;
    a.apprecs.entry(out.message_id.clone()).or_default();
    let mut attempt = if sender.is_some() { 1 } else { 2 };
    loop {
        let s = match &mut sender {
            Some(s) => s,
            None => match ReferenceSender::connect(scfg.clone()).await {
                Ok(s) => sender.insert(s),
                Err(e) if attempt < ATTEMPTS => {
                    attempt += 1;
                    a.note(t, "connect-failed", format!("connecting again failed: {e}"));
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => return Err(anyhow!("{knr}: connecting to the service bus: {e}")),
            },
        };
        let result = match s.send(&out).await {
            Ok(()) => s.wait_answer(&out.message_id, scfg.timeout).await,
            Err(e) => Err(e),
        };
        s.read_arrived();
        record_apprecs(a, s.answers_read());
        let s = sender.take().expect("connected");
        // A broken connection closes at once; a live one is closed in order.
        let closing = tokio::time::timeout(std::time::Duration::from_secs(3), s.close());
        match result {
            Ok(answer) => {
                closing.await.ok();
                return Ok(answer);
            }
            Err(e @ SendError::BadReceipt { .. }) => {
                closing.await.ok();
                return Err(anyhow!("{knr}: sending over the service bus: {e}"));
            }
            Err(e) if attempt < ATTEMPTS => {
                closing.await.ok();
                attempt += 1;
                a.note(
                    t,
                    "resend",
                    format!(
                        "the service bus connection broke ({e}); the same message {} is sent \
                         again (attempt {attempt})",
                        out.message_id
                    ),
                );
            }
            Err(e) => {
                closing.await.ok();
                return Err(anyhow!(
                    "{knr}: sending over the service bus ({ATTEMPTS} attempts): {e}"
                ));
            }
        }
    }
}

/// Notes the AppRecs read: per message answered, the AppRec's Id.
fn record_apprecs(a: &mut Agent, read: &[(String, iplos_mocks::sender::Answer)]) {
    for (to, answer) in read {
        if let Some(r) = answer.apprec() {
            a.apprecs
                .entry(to.clone())
                .or_default()
                .insert(r.apprec.id.clone());
        }
    }
}

/// The answer the register gave to a stored message, as the run store keeps it: (AppRec
/// status, rejected, the words of the timeline).
fn answer_on_record(
    m: &iplos_mocks::receiver::MessageRecord,
) -> Result<(Option<String>, bool, String)> {
    let verdict: serde_json::Value = serde_json::from_str(
        m.verdict
            .as_deref()
            .ok_or_else(|| anyhow!("message {:?} has no verdict yet", m.message_id))?,
    )?;
    let answer = &verdict["answer"];
    match answer["kind"].as_str() {
        Some("app-rec") => {
            let code = answer["status"].as_str().unwrap_or("").to_string();
            let n = answer["errors"].as_array().map_or(0, Vec::len);
            Ok((
                Some(code.clone()),
                code == "2",
                format!("AppRec status {code}, {n} errors"),
            ))
        }
        _ => Ok((
            None,
            true,
            format!(
                "error message {}: {}",
                answer["condition"].as_str().unwrap_or(""),
                answer["description"].as_str().unwrap_or("")
            ),
        )),
    }
}
