//! What a transport session observed: the phases as they ran, every message the kommune sent
//! (with the register's verdict, the decrypted content and the times of arrival and
//! AppRec), the broker's connection log and the wrong-host listener's. The judge
//! ([`super::judge`]) decides the plan's tests from this alone; the evidence bundle is
//! written from it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use iplos_mocks::nhn::ErrorCondition;
use iplos_mocks::receiver::{Outcome, Stage};
use iplos_mocks::servicebus::{ConnEvent, ConnEventKind};
use iplos_model::message::Melding;
use iplos_model::rules::CheckReport;
use serde::Serialize;

use super::phases::{PhaseKind, Timing};

/// One phase as it ran.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRecord {
    pub kind: PhaseKind,
    pub started: DateTime<Utc>,
    /// When the next phase started (or the session ended).
    pub ended: DateTime<Utc>,
    /// Whether its completion condition held before its timeout.
    pub completed: bool,
    /// The timeout it had, in seconds (scaled).
    pub timeout_seconds: f64,
    /// What the harness saw, in words (shown on the console and in the evidence).
    pub note: String,
}

/// A message the kommune sent, as the register received and judged it.
#[derive(Debug, Clone, Serialize)]
pub struct Msg {
    /// The run store's row.
    pub row: i64,
    /// The earlier message (its name) with the same MsgHead MsgId: this one is a resend
    /// the register recognised and answered with the original's AppRec; its content is not
    /// counted again.
    pub resend_of: Option<String>,
    /// The phase it arrived in.
    pub phase: Option<PhaseKind>,
    /// The register queue (`131725_async`, `134197_async`).
    pub queue: String,
    pub message_id: Option<String>,
    pub to_her: Option<String>,
    pub reply_to: Option<String>,
    pub received: DateTime<Utc>,
    /// When the (first) reply was published.
    pub replied: Option<DateTime<Utc>>,
    /// Deliveries of the same message-id after the first (resends with the same id).
    pub duplicates: u32,
    /// How the register answered (`apprec`, `error`, `dead-letter`).
    pub outcome: Option<Outcome>,
    /// AppRec status code.
    pub status: Option<String>,
    /// errorCondition of an error answer.
    pub error_condition: Option<ErrorCondition>,
    /// errorConditionData / errorDescription of an error answer.
    pub error_data: Option<String>,
    pub error_description: Option<String>,
    /// The stage that decided.
    pub stage: Option<Stage>,
    /// The MsgHead's MsgId.
    pub msg_id: Option<String>,
    /// The payload's content-encryption algorithm (dotted OID), when it is an EnvelopedData.
    pub content_encryption: Option<String>,
    /// What the session injected for it.
    pub injected: Option<String>,
    /// The register's IPLOS check (with the kommune's chain), when it got that far.
    #[serde(skip)]
    pub report: Option<CheckReport>,
    /// The IPLOS message read from the decrypted content.
    #[serde(skip)]
    pub melding: Option<Melding>,
    /// Line of each notification's start tag in `iplos`.
    #[serde(skip)]
    pub lines: Option<Vec<u64>>,
    /// The IPLOS document (for excerpts).
    #[serde(skip)]
    pub iplos: Option<Vec<u8>>,
    /// The evidence file holding the decrypted content, relative to the bundle.
    pub evidence_file: Option<String>,
}

impl Msg {
    /// Answered with an AppRec status 1 or 3 (the register took it).
    pub fn accepted(&self) -> bool {
        self.answered_with_apprec() && matches!(self.status.as_deref(), Some("1") | Some("3"))
    }

    /// Answered with an AppRec (of any status), not an error or the dead-letter queue.
    pub fn answered_with_apprec(&self) -> bool {
        self.outcome == Some(Outcome::AppRec)
    }

    /// Answered with an AppRec of this status code.
    pub fn answered_with_status(&self, code: &str) -> bool {
        self.answered_with_apprec() && self.status.as_deref() == Some(code)
    }

    /// A short name for evidence: the message-id, or the row.
    pub fn name(&self) -> String {
        self.message_id
            .clone()
            .unwrap_or_else(|| format!("message #{}", self.row))
    }

    /// Its notifikasjonGUIDs (normalised to lower case without braces).
    pub fn guids(&self) -> BTreeSet<String> {
        self.melding
            .iter()
            .flat_map(|m| m.notifikasjoner.iter().map(|n| norm_guid(&n.guid)))
            .collect()
    }

    /// What the register answered, in words.
    pub fn answer_words(&self) -> String {
        match self.outcome {
            Some(Outcome::AppRec) => {
                format!("AppRec status {}", self.status.as_deref().unwrap_or("?"))
            }
            Some(Outcome::Error) => format!(
                "error {}{}",
                self.error_condition.map_or("?", ErrorCondition::as_str),
                self.error_description
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            Some(Outcome::DeadLetter) => "dead-lettered".into(),
            None => "not judged".into(),
        }
    }
}

/// A GUID as compared: lower case, without braces.
pub fn norm_guid(g: &str) -> String {
    g.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

/// A connection to the wrong-host listener.
#[derive(Debug, Clone, Serialize)]
pub struct WrongHostAttempt {
    pub at: DateTime<Utc>,
    /// The client completed the TLS handshake with the wrong-host certificate.
    pub accepted_certificate: bool,
    /// It then sent AMQP bytes (a protocol header: it would have logged in).
    pub sent_amqp: bool,
    /// The handshake error, when refused.
    pub error: Option<String>,
}

/// What the Sendemodul phases saw.
#[derive(Debug, Clone, Serialize)]
pub struct SmRecord {
    /// The portal's part limit (bytes).
    pub part_limit: u64,
    /// Login attempts on the session's portal.
    pub attempts: Vec<iplos_mocks::sendemodul::LoginAttempt>,
    /// Login attempts on the portal that rejects the kommune's PIN.
    pub refusing_attempts: Vec<iplos_mocks::sendemodul::LoginAttempt>,
    /// Files SSB's intake took in (after reassembling the parts).
    pub submissions: Vec<SmSubmission>,
}

/// A file taken in through Sendemodul.
#[derive(Debug, Clone, Serialize)]
pub struct SmSubmission {
    pub info: iplos_mocks::intake::SubmissionInfo,
    /// Its content, read.
    #[serde(skip)]
    pub melding: Option<Melding>,
}

/// Everything a session observed.
#[derive(Debug, Clone, Serialize)]
pub struct Recording {
    pub kommune: String,
    pub kommune_her: u32,
    pub username: String,
    pub timing: Timing,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub phases: Vec<PhaseRecord>,
    pub messages: Vec<Msg>,
    pub connections: Vec<ConnEvent>,
    pub wrong_host: Vec<WrongHostAttempt>,
    /// Messages left unread on the kommune's `_error` queue at the end of the error-queue
    /// phase (`None`: the phase did not run; `Some(Err)`: the harness could not count them).
    pub error_queue_left: Option<Result<usize, String>>,
    /// The Sendemodul phases.
    pub sendemodul: Option<SmRecord>,
}

impl Recording {
    /// The phase a moment belongs to.
    pub fn phase_at(&self, at: DateTime<Utc>) -> Option<PhaseKind> {
        self.phases
            .iter()
            .rev()
            .find(|p| p.started <= at)
            .map(|p| p.kind)
    }

    /// The record of a phase, if it ran.
    pub fn phase(&self, kind: PhaseKind) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.kind == kind)
    }

    /// The kommune's messages of a phase, in arrival order.
    pub fn in_phase(&self, kind: PhaseKind) -> Vec<&Msg> {
        self.messages
            .iter()
            .filter(|m| m.phase == Some(kind))
            .collect()
    }

    /// The broker's events of a phase concerning the kommune (or unauthenticated ones).
    pub fn events_in(&self, kind: PhaseKind) -> Vec<&ConnEvent> {
        let Some(p) = self.phase(kind) else {
            return Vec::new();
        };
        self.connections
            .iter()
            .filter(|e| e.at >= p.started && e.at < p.ended)
            .filter(|e| self.concerns_kommune(e))
            .collect()
    }

    fn concerns_kommune(&self, e: &ConnEvent) -> bool {
        match &e.kind {
            ConnEventKind::Opened { username, .. }
            | ConnEventKind::SenderAttached { username, .. }
            | ConnEventKind::Stored { username, .. } => *username == self.username,
            ConnEventKind::AuthFailed { username } => {
                username.as_deref().is_none_or(|u| u == self.username)
            }
            // Refused before anyone logged in, TLS failures, drops and closes: anyone's
            // (the session has one vendor).
            _ => true,
        }
    }
}
