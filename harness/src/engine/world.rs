//! The world of one run: what to rehearse, the mocks the agents act against, and each
//! kommune's state (persisted after every event it takes part in, see `store`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Duration, Utc};
use iplos_mocks::national::National;
use iplos_model::calendar::VirtualClock;
use serde::{Deserialize, Serialize};

use super::plan::Plan;
use super::queue::Kind;
use crate::client::{FilsluseClient, Mailbox};
use crate::scenario::{Fault, Scenario};

/// What to rehearse.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The scenario.
    pub scenario: Scenario,
    /// Only these kommuner (`None`: all of the data year).
    pub kommuner: Option<Vec<String>>,
    /// Population scale (1.0 = the real sizes).
    pub scale: f64,
    /// The seed.
    pub seed: u64,
    /// Where the state of the mocks goes (created).
    pub state_dir: PathBuf,
    /// Print progress.
    pub progress: bool,
    /// Continue the run in `state_dir` from its run store instead of starting one.
    pub resume: bool,
    /// Service bus years on an existing RabbitMQ (`--broker`, `--broker-management`)
    /// instead of our broker: the run is provisioned there and removed at the end.
    pub external: Option<iplos_mocks::rabbitmq::ExternalBroker>,
}

/// The report id of the receipt phase (the other phases' ids are the scenario's).
pub(crate) const RECEIPT: &str = "receipt";

/// A submission as the kommune saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Sent {
    pub(crate) kind: Kind,
    /// When the national side took it in.
    pub(crate) arrived: DateTime<Utc>,
    /// Rejected (Sendemodul: the intake's check; service bus: AppRec status 2 or an error
    /// message).
    pub(crate) rejected: bool,
    /// When its AppRec came (service bus; Sendemodul's receipts are the intake's).
    #[serde(default)]
    pub(crate) receipted: Option<DateTime<Utc>>,
}

/// A file sent over the service bus, as the national side keeps it for the feedback (the
/// content is generated again from the seed when needed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SentFile {
    /// Its name in the feedback.
    pub(crate) name: String,
    pub(crate) arrived: DateTime<Utc>,
    pub(crate) kind: Kind,
    /// The fixed file after a rejection (see `export::make_file`).
    pub(crate) resend: bool,
    /// The vendor had fixed the export.
    pub(crate) fixed: bool,
    /// The register's check report (JSON).
    pub(crate) report: Option<String>,
}

/// A kommune during the run; persisted after every event it takes part in (see `store`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Agent {
    pub(crate) plan: Plan,
    pub(crate) vendor: String,
    pub(crate) timeline: Vec<(DateTime<Utc>, String, String)>,
    /// When each feedback (`true`: test) was opened.
    pub(crate) feedback_at: BTreeMap<bool, DateTime<Utc>>,
    /// The receipt: seen (with its due time) or not.
    pub(crate) receipt: Option<Option<DateTime<Utc>>>,
    /// The faults that took effect, by report phase id.
    pub(crate) causes: BTreeMap<String, BTreeSet<Fault>>,
    pub(crate) sent: Vec<Sent>,
    pub(crate) login_fixed: bool,
    pub(crate) it_fixed: bool,
    pub(crate) password_set: bool,
    pub(crate) forwarded: BTreeSet<u64>,
    pub(crate) read: BTreeSet<u64>,
    pub(crate) waiting_feedback: Option<bool>,
    pub(crate) feedback_done: BTreeSet<bool>,
    pub(crate) feedback_zip: Option<(bool, Vec<u8>)>,
    pub(crate) needs_resend: bool,
    pub(crate) has_corrections: bool,
    pub(crate) corrections_scheduled: bool,
    /// What it sent over the service bus (the national side builds feedback from it).
    pub(crate) sent_files: Vec<SentFile>,
    /// The vendor has fixed the export (after a rejection).
    pub(crate) export_fixed: bool,
    pub(crate) temp_password: Option<String>,
    pub(crate) findings: BTreeMap<String, u64>,
    /// Error rows in the feilliste of the latest ordinary feedback opened.
    #[serde(default)]
    pub(crate) feilliste_errors: usize,
    /// Password links requested on filsluse this season.
    #[serde(default)]
    pub(crate) links_requested: u32,
    /// Every message sent over the service bus (AMQP message-id) with the Ids of the
    /// AppRecs read for it, repeats kept: one Id per message when all is well; none when
    /// no answer came; two or more when the national side answered one message with
    /// different AppRecs (what an at-least-once broker must never cause).
    #[serde(default)]
    pub(crate) apprecs: BTreeMap<String, BTreeSet<String>>,
}

impl Agent {
    /// A kommune at the start of the season, with its plan.
    pub(crate) fn new(plan: Plan) -> Agent {
        Agent {
            vendor: plan.vendor.clone().unwrap_or_default(),
            plan,
            timeline: Vec::new(),
            feedback_at: BTreeMap::new(),
            receipt: None,
            causes: BTreeMap::new(),
            sent: Vec::new(),
            login_fixed: false,
            it_fixed: false,
            password_set: false,
            forwarded: BTreeSet::new(),
            read: BTreeSet::new(),
            waiting_feedback: None,
            feedback_done: BTreeSet::new(),
            feedback_zip: None,
            needs_resend: false,
            has_corrections: false,
            corrections_scheduled: false,
            sent_files: Vec::new(),
            export_fixed: false,
            temp_password: None,
            findings: BTreeMap::new(),
            feilliste_errors: 0,
            links_requested: 0,
            apprecs: BTreeMap::new(),
        }
    }

    /// Fault `f` took effect in report phase `phase`.
    pub(crate) fn cause(&mut self, phase: &'static str, f: Fault) {
        self.causes.entry(phase.to_string()).or_default().insert(f);
    }

    /// A step in the kommune's timeline.
    pub(crate) fn note(&mut self, at: DateTime<Utc>, kind: &str, detail: impl Into<String>) {
        // Steps taken at the same virtual instant keep their order (a second apart).
        let at = match self.timeline.last() {
            Some((last, _, _)) if *last >= at => *last + Duration::seconds(1),
            _ => at,
        };
        self.timeline.push((at, kind.to_string(), detail.into()));
    }

    /// Adds a check report's findings to the kommune's count by rule.
    pub(crate) fn count_findings(&mut self, report: Option<&iplos_model::rules::CheckReport>) {
        for f in report.map(|r| r.findings.as_slice()).unwrap_or_default() {
            *self.findings.entry(f.rule.to_string()).or_insert(0) += 1;
        }
    }
}

/// The mocks of one run.
pub(crate) struct World {
    pub(crate) clock: Arc<VirtualClock>,
    /// The national side: mail capture, filsluse, and Sendemodul or the service bus.
    pub(crate) national: National,
    pub(crate) mailbox: Mailbox,
    pub(crate) fs_client: FilsluseClient,
    /// The event in hand was under way when the run was killed (`--resume`): look at the
    /// endpoints before acting, so nothing is done twice.
    pub(crate) recovering: std::sync::atomic::AtomicBool,
    pub(crate) http: reqwest::Client,
    pub(crate) channel: Channel,
}

impl World {
    /// Whether the event in hand was under way when the run was killed.
    pub(crate) fn recovering(&self) -> bool {
        self.recovering.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The filsluse portal.
    pub(crate) fn filsluse(&self) -> Result<&iplos_mocks::filsluse::Filsluse> {
        self.national
            .filsluse()
            .ok_or_else(|| anyhow!("the national side has no filsluse"))
    }

    /// The national side's outbox (receipts).
    pub(crate) fn outbox(&self) -> Result<&iplos_mocks::mail::Outbox> {
        self.national
            .outbox()
            .map(|o| o.as_ref())
            .ok_or_else(|| anyhow!("the national side has no mail"))
    }

    /// SSB's intake (Sendemodul years).
    pub(crate) fn intake(&self) -> Result<&iplos_mocks::intake::Intake> {
        self.national
            .intake()
            .ok_or_else(|| anyhow!("the national side has no intake"))
    }

    /// Sendemodul (Sendemodul years).
    pub(crate) fn sendemodul(&self) -> Result<&iplos_mocks::sendemodul::Sendemodul> {
        self.national
            .sendemodul()
            .ok_or_else(|| anyhow!("the national side has no Sendemodul"))
    }

    /// The run store the broker and the receiver share (service bus years).
    pub(crate) fn run_store(&self) -> Result<&iplos_mocks::receiver::RunStore> {
        self.national
            .run_store()
            .map(|s| s.as_ref())
            .ok_or_else(|| anyhow!("the national side has no run store"))
    }

    /// The connection string of a service bus participant (service bus years), on our
    /// broker or on the external RabbitMQ: the kommune agents know only this.
    pub(crate) fn servicebus_connection_string(
        &self,
        user: &str,
        password: &str,
    ) -> Result<String> {
        self.national
            .servicebus_connection_string(user, password)
            .ok_or_else(|| anyhow!("the national side has no service bus"))
    }

    /// The CA file the kommune agents verify the service bus against (`amqps` to an
    /// external RabbitMQ, `--broker-ca`), if any.
    pub(crate) fn servicebus_tls_ca(&self) -> Option<std::path::PathBuf> {
        self.national.servicebus_tls_ca().map(|p| p.to_path_buf())
    }

    /// Waits until the filsluse mails queued so far are in the capture (deterministic
    /// order).
    pub(crate) async fn flush(&self) -> Result<()> {
        self.national
            .notifier()
            .ok_or_else(|| anyhow!("the national side has no filsluse mail"))?
            .flush(std::time::Duration::from_secs(60))
            .await
            .map_err(|e| anyhow!("filsluse mail: {e}"))
    }

    /// Whether the feedback zip `name` is already in `username`'s folder (after a kill).
    pub(crate) fn already_published(&self, username: &str, name: &str) -> Result<bool> {
        Ok(self.recovering()
            && self
                .filsluse()?
                .files(username)
                .context("listing filsluse files")?
                .iter()
                .any(|f| f.name == name))
    }
}

/// The submission channel.
pub(crate) enum Channel {
    /// Sendemodul years (Sendemodul and SSB's intake are the national side's).
    Sendemodul,
    /// Service bus years.
    Servicebus(Box<ServicebusSide>),
}

/// The kommune side of the service bus: the register's identity and the test PKI.
pub(crate) struct ServicebusSide {
    pub(crate) register: iplos_mocks::pki::Party,
    pub(crate) trust: Arc<iplos_mocks::cms::TrustStore>,
    /// Kommunenummer → (its certificate pair, AMQP user, password).
    pub(crate) kommuner: BTreeMap<String, (iplos_mocks::pki::Party, String, String)>,
    pub(crate) register_her: iplos_model::ids::HerId,
    pub(crate) validation_her: iplos_model::ids::HerId,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn agent() -> Agent {
        let sc = Scenario::for_season(2017).unwrap();
        let oslo = iplos_model::municipality::lookup(2017, "0301").unwrap();
        Agent::new(super::super::plan::plan(&sc, oslo, 1))
    }

    #[test]
    fn steps_at_one_instant_keep_their_order_a_second_apart() {
        let mut a = agent();
        let t = Utc.with_ymd_and_hms(2018, 1, 2, 7, 0, 0).unwrap();
        a.note(t, "login-refused", "");
        a.note(t, "fault", "");
        // A step stamped before the last one still comes after it.
        a.note(t - Duration::minutes(5), "resend-planned", "");
        a.note(t + Duration::hours(1), "receipt-read", "");
        let at: Vec<_> = a
            .timeline
            .iter()
            .map(|(at, k, _)| (*at, k.as_str()))
            .collect();
        assert_eq!(
            at,
            vec![
                (t, "login-refused"),
                (t + Duration::seconds(1), "fault"),
                (t + Duration::seconds(2), "resend-planned"),
                (t + Duration::hours(1), "receipt-read"),
            ]
        );
    }
}
