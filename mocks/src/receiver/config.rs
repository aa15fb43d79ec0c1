//! The receiver's configuration: the register's HER-ids and names, limits, the failpoints
//! of the restart tests and the injected answers of certification sessions.

use std::sync::Arc;

use iplos_model::calendar::{Clock, SystemClock};
use iplos_model::ids::HerId;
use serde::{Deserialize, Serialize};

use crate::nhn;
use crate::pki::Party;

/// KPR's HER-id in production (2019–2021, DOMAIN §4).
pub const KPR_PRODUCTION_HER_ID: u32 = 134_197;
/// "KPR Validering", the test receiver of the 2018 trial submissions (DOMAIN §4).
pub const KPR_VALIDATION_HER_ID: u32 = 131_725;

/// Where a failpoint stops the receiver (restart tests); written `after-store`,
/// `after-check`, `after-accept`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::Display,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Failpoint {
    /// After the message is stored as received, before judging.
    AfterStore,
    /// After the verdict is stored, before the delivery is settled.
    AfterCheck,
    /// After the delivery is settled, before the reply is published.
    AfterAccept,
}

impl Failpoint {
    /// Parses `after-store`, `after-check`, `after-accept`.
    pub fn parse(s: &str) -> Option<Failpoint> {
        s.parse().ok()
    }
}

/// What a failpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailpointAction {
    /// The consumer stops where it is, leaving the delivery unsettled in the broker's memory
    /// (drop the broker and start both again on the same store, as after a crash).
    Stop,
    /// `std::process::abort()`: the process dies at once (the `serve` command's tests).
    Abort,
}

/// What the register does with one message instead of its normal answer (certification
/// sessions; see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Injection {
    /// Judge normally (all stages, so the verdict and report are recorded), but answer
    /// AppRec status 2 (Avvist) with one extra `Error` (code X99, text = `reason`) first;
    /// the kommune's content state is left as it was (as for any status 2).
    Rejected {
        /// The X99 text.
        reason: String,
    },
    /// Judge normally, then answer AppRec status 3 naming the last `count` notifications
    /// of the IPLOS message as rejected: one X99 each, whose text contains the
    /// notification's `notifikasjonGUID` and `reason`. The content state becomes what it
    /// would be had those notifications not been in the message. A message rejected on
    /// its own (status 2) keeps its normal answer, as does `count` 0; one with at most
    /// `count` notifications has all of them named (and nothing of it counts).
    PartlyRejected {
        /// How many notifications, counted from the end.
        count: usize,
        /// Part of each X99 text.
        reason: String,
    },
    /// Do not judge: answer an error message on the sender's `_error` queue with
    /// `transport:internal-error` and this description (content state unchanged, verdict
    /// stage `internal`).
    TransportError {
        /// The errorDescription.
        description: String,
    },
    /// Judge and record normally, but never publish the reply for this delivery (marked
    /// withheld, not owed). A later duplicate delivery of the same message-id gets the
    /// stored reply as usual.
    WithholdReply,
    /// Publish the reply only after this delay (everything else normal).
    DelayReply(std::time::Duration),
}

impl Injection {
    /// The short name stored with the message (`rejected`, `partly-rejected`,
    /// `transport-error`, `withhold-reply`, `delay-reply`).
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// Decides injected answers (see [`Injection`]).
pub trait Injector: Send + Sync + 'static {
    /// Called once for each new message (first delivery of a message-id on a queue; not
    /// for duplicates or redeliveries), before it is judged. `own`: the register HER-id
    /// (queue owner); `from`: the `fromHerId` if it parses. Called on a blocking thread
    /// with the message's store transaction about to be written: keep it quick.
    fn inject(
        &self,
        own: HerId,
        from: Option<HerId>,
        message_id: Option<&str>,
    ) -> Option<Injection>;
}

/// How the receiver behaves.
#[derive(Clone)]
pub struct ReceiverConfig {
    /// The register's HER-ids whose `_async` queues are consumed.
    pub her_ids: Vec<HerId>,
    /// The register's name in AppRecs.
    pub name: String,
    /// The message function accepted in `subject`.
    pub subject: String,
    /// The `MsgInfo/Type` accepted in the MsgHead.
    pub msg_type: String,
    /// The data year of the IPLOS check; `None`: each message's own.
    pub data_year: Option<i32>,
    /// Test mode of the IPLOS check (real-looking person ids are errors).
    pub test_mode: bool,
    /// Largest CMS payload judged, in bytes.
    pub max_message_bytes: usize,
    /// Most `Error` elements in one AppRec.
    pub max_apprec_errors: usize,
    /// Judging attempts before a message gets `transport:internal-error`.
    pub max_attempts: u32,
    /// The clock (timestamps, certificate validity).
    pub clock: Arc<dyn Clock>,
    /// A failpoint for the restart tests.
    pub failpoint: Option<(Failpoint, FailpointAction)>,
    /// Injected answers for particular messages (certification sessions).
    pub injector: Option<Arc<dyn Injector>>,
    /// Register HER-ids with a certificate pair of their own (KPR Validering 131725 in a
    /// certification session, as in NHN's address register): a message to one of them is
    /// decrypted with its encryption key and answered with an AppRec signed with its signing
    /// key. The other HER-ids use the register's identity given to the receiver's `start`.
    pub own_identities: Vec<Party>,
}

impl ReceiverConfig {
    /// The certificate pair of register HER-id `own`: its own, else `register`'s.
    pub fn identity_for<'a>(&'a self, register: &'a Party, own: HerId) -> &'a Party {
        self.own_identities
            .iter()
            .find(|p| p.her_id == own)
            .unwrap_or(register)
    }
}

impl std::fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("her_ids", &self.her_ids)
            .field("name", &self.name)
            .field("data_year", &self.data_year)
            .field("failpoint", &self.failpoint)
            .field("injector", &self.injector.is_some())
            .field(
                "own_identities",
                &self
                    .own_identities
                    .iter()
                    .map(|p| p.her_id)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            her_ids: vec![
                HerId::new(KPR_PRODUCTION_HER_ID).expect("valid HER-id"),
                HerId::new(KPR_VALIDATION_HER_ID).expect("valid HER-id"),
            ],
            name: crate::pki::DEFAULT_REGISTER_NAME.into(),
            subject: nhn::SUBJECT_IPLOS.into(),
            msg_type: iplos_model::message::DEFAULT_MSG_TYPE.into(),
            data_year: None,
            test_mode: true,
            max_message_bytes: crate::cms::DEFAULT_MAX_MESSAGE_BYTES,
            max_apprec_errors: 100,
            max_attempts: 3,
            clock: Arc::new(SystemClock),
            failpoint: None,
            injector: None,
            own_identities: Vec::new(),
        }
    }
}
