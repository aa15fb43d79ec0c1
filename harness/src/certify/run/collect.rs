//! What a session observed, gathered into a [`Recording`] for the judges, and the evidence
//! bundle written from it (`run/evidence/`: the decrypted content of every message,
//! phases.json, messages.json, connections.json, wrong-host.json).

use std::path::Path;

use anyhow::Result;
use iplos_mocks::receiver::{DeliveryRecord, RunStore};
use iplos_mocks::servicebus::{ConnEvent, decode_message};
use iplos_model::rules::CheckReport;
use serde::Serialize;

use super::content::ContentCache;
use super::walk::Walked;
use crate::certify::phases::{PhaseKind, Timing};
use crate::certify::record::{Msg, Recording, SmRecord, WrongHostAttempt};
use crate::certify::session::Session;

/// What the servers observed besides the register's store.
pub struct Observed {
    pub walked: Walked,
    /// The broker's connection log.
    pub connections: Vec<ConnEvent>,
    pub wrong_host: Vec<WrongHostAttempt>,
    pub sendemodul: SmRecord,
}

/// The recording of a session: the kommune's messages from the register's store (with
/// their content written to `evidence/messages/`) and what else was observed.
pub fn recording(
    store: &RunStore,
    session: &Session,
    username: &str,
    timing: Timing,
    observed: Observed,
    evidence: &Path,
    cache: &mut ContentCache,
) -> Result<Recording> {
    let Observed {
        walked,
        connections,
        wrong_host,
        sendemodul,
    } = observed;
    let mut rec = Recording {
        kommune: session.kommune.clone(),
        kommune_her: session.her_id,
        username: username.to_string(),
        timing,
        started: walked.started,
        ended: walked.ended,
        phases: walked.phases,
        messages: Vec::new(),
        connections,
        wrong_host,
        error_queue_left: walked.error_queue_left,
        sendemodul: Some(sendemodul),
    };
    let deliveries = store.deliveries()?;
    let her = session.her_id.to_string();
    for (i, m) in store
        .messages()?
        .into_iter()
        .filter(|m| m.from_her.as_deref().map(str::trim) == Some(her.as_str()))
        .enumerate()
    {
        let mine: Vec<&DeliveryRecord> = deliveries.iter().filter(|d| d.message == m.id).collect();
        let replied = mine.first().and_then(|d| d.replied);
        let duplicates = mine.iter().filter(|d| d.duplicate).count() as u32;
        let amqp = store.raw(m.id)?.and_then(|raw| decode_message(&raw).ok());
        let content_encryption = amqp.as_ref().and_then(|a| {
            iplos_mocks::nhn::single_data(a)
                .ok()
                .and_then(iplos_mocks::cms::content_encryption_algorithm)
        });
        let reply_to = amqp.and_then(|a| a.properties.and_then(|p| p.reply_to));
        let verdict: Option<serde_json::Value> = m
            .verdict
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok());
        let answer = verdict.as_ref().and_then(|v| v.get("answer"));
        let text = |k: &str| {
            answer
                .and_then(|a| a.get(k))
                .and_then(|x| x.as_str())
                .map(str::to_string)
        };
        let report: Option<CheckReport> = verdict
            .as_ref()
            .and_then(|v| v.get("report"))
            .filter(|r| !r.is_null())
            .and_then(|r| serde_json::from_value(r.clone()).ok());
        let phase = rec.phase_at(m.received);
        let parsed = cache.take(store, m.id);
        let stem = format!("{:03}-{}", i + 1, phase.map_or("before", PhaseKind::as_str));
        let mut evidence_file = None;
        if let Some(x) = &parsed.msghead {
            let name = format!("messages/{stem}.msghead.xml");
            std::fs::write(evidence.join(&name), x)?;
            evidence_file = Some(name);
        }
        if let Some(x) = &parsed.iplos {
            let name = format!("messages/{stem}.iplos.xml");
            std::fs::write(evidence.join(&name), x)?;
            evidence_file = Some(name);
        }
        let msg_id: Option<String> = verdict
            .as_ref()
            .and_then(|v| v.get("msg_id"))
            .and_then(|x| x.as_str())
            .map(str::to_string);
        // A resend with a MsgId the register already had got the original's AppRec.
        let resend_of = msg_id.as_ref().and_then(|id| {
            rec.messages
                .iter()
                .find(|o| o.queue == m.queue && o.msg_id.as_ref() == Some(id))
                .map(Msg::name)
        });
        rec.messages.push(Msg {
            row: m.id,
            resend_of,
            phase,
            queue: m.queue.clone(),
            message_id: m.message_id.clone(),
            to_her: m.to_her.clone(),
            reply_to,
            received: m.received,
            replied,
            duplicates,
            outcome: m.outcome,
            status: m.status.clone(),
            error_condition: m.error_condition,
            error_data: text("data"),
            error_description: text("description"),
            stage: m.stage,
            msg_id,
            injected: m.injected.clone(),
            content_encryption,
            report,
            melding: parsed.melding,
            lines: parsed.lines,
            iplos: parsed.iplos,
            evidence_file,
        });
    }
    Ok(rec)
}

/// Writes the recording's JSON files to the evidence directory.
pub fn write_evidence(rec: &Recording, evidence: &Path) -> Result<()> {
    fn write<T: Serialize>(dir: &Path, name: &str, v: &T) -> Result<()> {
        std::fs::write(dir.join(name), serde_json::to_vec_pretty(v)?)?;
        Ok(())
    }
    write(evidence, "phases.json", &rec.phases)?;
    write(evidence, "messages.json", &rec.messages)?;
    write(evidence, "connections.json", &rec.connections)?;
    write(evidence, "wrong-host.json", &rec.wrong_host)?;
    Ok(())
}
