//! The facts of a session a vendor must not have to guess (issue #13), as `session.json`
//! holds them: the fields [`Session`](crate::certify::session::Session) gains. Filled by
//! [`crate::certify::guide::fill`]; the session README states the same for people. Paths
//! are relative to the vendor folder (`DIR/vendor/`).

use serde::{Deserialize, Serialize};

/// The message function of the IPLOS messages: what the register expects in the AMQP
/// `subject` and the MsgHead (the same for both registers; each register's entry repeats
/// it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFunction {
    /// AMQP `subject` of every IPLOS message.
    pub subject: String,
    /// MsgHead `MsgInfo/Type/@V`.
    pub msghead_type: String,
    /// MsgHead `MsgInfo/Type/@DN`.
    pub msghead_type_dn: String,
    /// AMQP `content-type` of every message.
    pub content_type: String,
    /// The `subject` of the register's answers (AppRec).
    pub apprec_subject: String,
}

/// A register the EPJ sends to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterEntry {
    /// HER-id (`toHerId`, MsgHead `Receiver`).
    pub her_id: u32,
    /// Name.
    pub name: String,
    /// Organisation number (Helsedirektoratet).
    pub orgnr: String,
    /// `test-submission` (KPR Validering) or `ordinary` (KPR).
    pub role: String,
    /// The session's phases that send to it.
    pub phases: Vec<String>,
    /// Its queue: the sending link's target is `/exchange/<namespace>/<queue>`.
    pub queue: String,
    /// AMQP `subject` it expects.
    pub subject: String,
    /// MsgHead `MsgInfo/Type/@V` it expects.
    pub msghead_type: String,
    /// Its signing certificate (PEM), relative to the vendor folder: verify its AppRecs.
    pub signing_certificate: String,
    /// Its encryption certificate (PEM), relative to the vendor folder: encrypt to it.
    pub encryption_certificate: String,
    /// Its entry in the session's address register: this path on the live page
    /// (`run/endpoints.json` `web`), while `certify run` runs.
    pub address_register: String,
}

/// The corrections and annulments the session expects (the `corrections` phase).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedChanges {
    /// Notifications of the corrections message in all.
    pub notifications: usize,
    /// Of which corrections (`KorrigerErstatt`, status M).
    pub corrections: usize,
    /// Of which annulments (`KorrigerAnnuller`, status C).
    pub annulments: usize,
    /// The register they go to (KPR, 134197), in the `corrections` phase.
    pub to_her_id: u32,
    /// Whether they belong in the test submission (they do not).
    pub in_test_submission: bool,
    /// The registrations to correct or annul: one per `registration_errors` entry of
    /// `population.jsonl`.
    pub items: Vec<ExpectedChange>,
}

/// One registration to correct or annul.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedChange {
    /// The person's `brukerNr`.
    pub bruker_nr: String,
    /// The service's `tjenesteID`.
    pub tjeneste_id: String,
    /// The event as first sent (its element name, e.g. `TjenesteStart`).
    pub event: String,
    /// `M` (KorrigerErstatt: send the event again, right) or `C` (KorrigerAnnuller: annul
    /// it).
    pub correction: String,
    /// What was wrong: `wrong_date`, `wrong_provider`, `spurious_provider_change`,
    /// `spurious_stop` (the `registration_errors[].error.kind` of `population.jsonl`).
    pub error: String,
    /// How many notifications it takes (a spurious stop annuls both its events: 2).
    pub notifications: usize,
}

/// What the test submission (to KPR Validering) holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSubmission {
    /// KPR Validering.
    pub to_her_id: u32,
    /// `ordinary-export`: the EPJ's whole ordinary export of the loaded population (the
    /// initial load followed by the year's events), as one message.
    pub content: String,
    /// Its notifications.
    pub notifications: usize,
    /// Whether the corrections belong in it (they do not: they go to KPR in the
    /// `corrections` phase).
    pub includes_corrections: bool,
    /// The phases that send it (every phase to KPR Validering).
    pub phases: Vec<String>,
}

/// The wrong-password phase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrongPassword {
    /// The phase's id (`auth-refused`).
    pub phase: String,
    /// Whether the tester enters a wrong password (no: the harness refuses the right one).
    pub tester_enters_wrong_password: bool,
    /// What happens and what the EPJ must do.
    pub description: String,
    /// The shortest gap, in seconds, between two connection attempts (never scaled).
    pub min_attempt_gap_seconds: u64,
}
