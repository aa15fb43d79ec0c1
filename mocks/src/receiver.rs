//! The national receiver (KPR): what the register does with a message that arrives on its
//! service bus queue — check the envelope, decrypt and verify, read the MsgHead, check the
//! IPLOS content, and answer with an AppRec or an error message. Every message, verdict and
//! receipt is kept in the [`RunStore`] before the broker delivery is settled.
//!
//! The register's HER-ids are configuration ([`ReceiverConfig::her_ids`]; KPR production
//! 134197 and "KPR Validering" 131725 by default, DOMAIN §4). One consumer per HER-id reads
//! its `<herid>_async` queue, one message at a time.
//!
//! # What is checked, in order, and what it answers
//!
//! | stage | check | answer |
//! |---|---|---|
//! | header | `message-id`, `toHerId` (a HER-id, and the owner of this queue), `fromHerId`, `subject`, `applicationTimeStamp` (`yyyy-MM-ddTHH:mm:ssK`), `content-type` (`application/pkcs7-mime; smime-type=signed-and-enveloped-data`): missing, empty or invalid | error `transport:invalid-field-value`; `errorDescription` names every bad property, `errorConditionData` lists them (comma-separated) |
//! | header | `subject` is not the configured message function (`IPLOS`) | error `transport:unsupported-message` |
//! | body | not exactly one data section | error `transport:unsupported-message` |
//! | CMS | larger than [`ReceiverConfig::max_message_bytes`], not CMS, not EnvelopedData (e.g. only signed) | error `transport:unsupported-message` |
//! | CMS | not encrypted for the register's certificate, does not decrypt, not signed inside, bad signature, signer certificate with the wrong key usage | error `transport:invalid-certificate` |
//! | CMS | no signing certificate registered for `fromHerId` | error `transport:missing-certificate` |
//! | CMS | signed by another certificate than the one registered for `fromHerId` | error `abuse:spoofing-attack` |
//! | CMS | signer's chain does not reach the test CA | error `transport:unverified-certificate` |
//! | CMS | signer expired or not yet valid | error `transport:expired-certificate` |
//! | CMS | signer on the CRL | error `transport:revoked-certificate` |
//! | MsgHead | the signed content is not well-formed XML (a DOCTYPE, i.e. any entity trick, counts) | error `transport:not-well-formed-xml` |
//! | MsgHead | well-formed, but the root is not a MsgHead | error `transport:unsupported-message` |
//! | MsgHead | sender HER-id ≠ `fromHerId` | error `abuse:spoofing-attack` |
//! | MsgHead | `MsgInfo/MsgId` missing, or not a GUID | AppRec 2, **E10** |
//! | MsgHead | another required part missing | AppRec 2, **T02** |
//! | MsgHead | the document is a `FileReference`, or `MsgInfo/Type` is not `IPLOS` | AppRec 2, **T10** |
//! | MsgHead | receiver HER-id is not this queue's owner | AppRec 2, **E21** |
//! | IPLOS | [`check_stream`](iplos_model::rules::check_stream) findings | AppRec 1, 2 or 3, see below |
//! | any | the receiver failed on the message [`ReceiverConfig::max_attempts`] times (a crash or a store failure each time) | error `transport:internal-error` |
//!
//! An error message goes to the sender's `<fromHerId>_error` queue; when `fromHerId` is
//! missing, unparseable or has no queue, to the error queue of the HER-id named by
//! `reply-to`; when neither gives one, the message is dead-lettered (rejected into the
//! register's `_dl` queue with the reason). It has an empty body (fe2o3-amqp writes "no
//! body" as an amqp-value null section; clients read it as no body) and the application
//! properties `originalMessageId`, `receiverTimeStamp`, `errorCondition`,
//! `errorDescription`, `errorConditionData` (plus `fromHerId` = the register, `toHerId` =
//! the sender when known), `correlation-id` = the original message-id.
//!
//! An AppRec v1.1 is signed with the register's signing certificate and encrypted for the
//! encryption certificate registered for the sender (as a real receiver does), and sent to
//! the `reply-to` queue (when it is a known queue) or `<fromHerId>_async`, with
//! `subject` `APPREC`, `correlation-id` = the original message-id, the content type above,
//! `fromHerId`/`toHerId`/`applicationTimeStamp`. Its `OriginalMsgId` is the MsgHead's
//! `MsgId`, `Type` and `GenDate` (the AMQP message-id and `applicationTimeStamp` when no
//! MsgHead could be read). If no encryption certificate is registered for the sender (or it
//! cannot be used) the answer is an error message (`transport:missing-certificate` /
//! the certificate's condition) instead.
//!
//! # From findings to the AppRec (kodeverk 8258 status, 8221 codes)
//!
//! | findings of the IPLOS check | status |
//! |---|---|
//! | any error-severity finding whose consequence is *reject message* (`WF*`, `XSD*`, IPL22, IPL24, IPL26, IPL28) | **2 Avvist** |
//! | otherwise any error-severity finding (consequence reject row, set NULL, unknown code, deficiency), kept or omitted by the checker's cap | **3 OK, feil i delmelding** |
//! | only warnings, or nothing | **1 OK** (warnings stay in the run store's verdict, not in the AppRec) |
//!
//! Each error-severity finding becomes one `Error` (reject-message findings first, then in
//! document order, at most [`ReceiverConfig::max_apprec_errors`]; the rest are counted in a
//! final X99). Its `OT` text is `<rule id> <path> (line N): <message>`, e.g.
//! `IPL18 /Melding/Notifikasjon[1]/TjenesteStart/Bruker/@fid (line 12): fid "…" is not …`.
//!
//! | finding | code |
//! |---|---|
//! | WF01–WF05 (well-formedness, encoding, parser limits) | T01 |
//! | XSD01–XSD09 (schema) | T02 |
//! | IPL28 (the root is another document than `Melding`) | T10 |
//! | IPL18 with an empty `fid` | E30 |
//! | IPL18, IPL19, IPL21 (person id invalid, of another kind, unknown id type) | E31 |
//! | every other content rule | X99 |
//!
//! Not well-formed IPLOS content is normally caught one step earlier, because the MsgHead
//! reader checks the embedded document's well-formedness: it gets
//! `transport:not-well-formed-xml`. T01 is what the IPLOS check finds beyond that: its
//! parser limits (a name longer than 1000 bytes, a token over 16 MiB) and undeclared entity
//! references (WF04), which the envelope reader lets through.
//!
//! The signature and certificate codes of kodeverk 8221 (S01, S02, S03, S99) and T99 do
//! not appear in this receiver's AppRecs: problems found before the MsgHead is read are
//! answered with an error message, as DOMAIN §4 describes
//! ([`CmsError::apprec_error`](crate::cms::CmsError::apprec_error) gives the code a receiver
//! answering with an AppRec would use).
//!
//! # Content state
//!
//! Each (register HER-id, sender HER-id) pair has a
//! [`ContentState`](iplos_model::rules::ContentState): a kommune's corrections are checked
//! as continuations of its earlier messages. A rejected (status 2) message leaves the state
//! as it was. The states live in memory; after a restart a kommune's state is rebuilt by
//! re-checking its stored, not rejected messages in order. The data year is
//! [`ReceiverConfig::data_year`], or the message's own (the year of its latest event).
//!
//! # State machine and crash safety
//!
//! ```text
//! message  (rcv_message)   received ──judge──▶ checked            (verdict + reply stored)
//! delivery (rcv_delivery)  open ──accept/reject──▶ settled ──publish──▶ replied
//! ```
//!
//! For each broker delivery:
//!
//! 1. **received** — the raw message and a delivery row are stored (one transaction). A
//!    message-id already stored with a delivery that was never settled is that delivery
//!    coming back after a crash; one whose deliveries are all settled is a **duplicate**:
//!    it gets a new delivery row and, below, the *same* stored reply again (same AppRec,
//!    same AMQP message-id) — no second verdict.
//! 2. **checked** — the message is judged (unless it already was) and the verdict and the
//!    encoded reply are stored. Judging again after a crash counts an attempt.
//! 3. **settled** — the delivery is accepted (or rejected into `_dl` when no reply can be
//!    addressed). Because [`RunStore`] is also the broker's store, the broker's delete and
//!    the delivery's `settled` stamp are one SQLite transaction.
//! 4. **replied** — the reply is published; the broker's insert into the sender's queue and
//!    the `replied` stamp are one transaction.
//!
//! At start, [`Receiver::start`] publishes every reply that is owed (checked, not replied),
//! before consuming. So a crash at any point leaves either an unsettled message in the
//! queue (redelivered and recognised in step 1) or an owed reply (sent at start), and
//! never a reply both sent and owed: each reply is sent exactly once per delivery.
//!
//! With a broker on another [`MessageStore`](crate::servicebus::MessageStore) the receiver
//! records steps 3 and 4 right after the broker returns; a crash in that instant can then
//! repeat a reply.
//!
//! [`ReceiverConfig::failpoint`] stops (or aborts the process) after steps 1, 2 or 3, for
//! the restart tests.
//!
//! # Injected answers (certification sessions)
//!
//! A certification session makes the register answer particular messages in planned ways
//! ([`ReceiverConfig::injector`]). The [`Injector`] is asked once per *new* message (the
//! first delivery of a message-id on a register queue; never for duplicates or
//! redeliveries), before judging; the [`Injection`] it returns replaces the normal answer
//! as each variant documents. The decision is stored with the message (its kebab name in
//! [`MessageRecord::injected`], the whole injection as JSON) in the same transaction as
//! the message itself, so a judging interrupted by a crash applies it after the restart;
//! a withheld reply is stamped on the delivery ([`DeliveryRecord::withheld`]) in that
//! transaction too, so a restart never sends it as owed.
//!
//! **\[model\]** choices and limits:
//! - [`Injection::Rejected`] turns any AppRec answer (MsgHead or IPLOS stage) into status
//!   2 with the extra X99 first; a message answered with an error message (header, CMS)
//!   keeps that answer, because there is no AppRec to reject with.
//! - [`Injection::PartlyRejected`] keeps the normal findings' `Error`s after the X99 that
//!   name the rejected notifications. The content state is the one of a copy of the
//!   document without those notifications (read with the model's reader, written with its
//!   writer, checked from the state before); that copy is stored with the message and is
//!   what a restart's replay checks for it. When every notification is named, nothing of
//!   the message counts (as for a status 2).
//! - [`Injection::DelayReply`] publishes from a separate task, so the register's queue is
//!   not held up by the delay. If the receiver stops during the delay the reply stays owed
//!   and is sent (without delay) at the next start. A duplicate of the message-id that
//!   arrives during the delay is answered at once (its own delivery, the same reply); the
//!   two deliveries' `replied` stamps may then be swapped (both replies carry one AMQP
//!   message-id).
//! - [`ReceiverHandle::reset_content`] is not known to a restart's replay (which rebuilds
//!   the chain from every stored message).

pub mod client;
mod config;
mod directory;
mod error;
mod judge;
mod mapping;
mod run;
pub mod store;
mod verdict;

use std::sync::{Arc, Mutex};

use iplos_model::ids::HerId;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::config::{
    Failpoint, FailpointAction, Injection, Injector, KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID,
    ReceiverConfig,
};
pub use self::directory::{CertificateDirectory, PkiDirectory, StaticDirectory};
pub use self::error::ReceiverError;
pub use self::mapping::{error_code, error_text, errors as apprec_errors, status as apprec_status};
pub use self::store::{DeliveryRecord, MessageRecord, MessageState, RUN_STORE_FILE, RunStore};
pub use self::verdict::{Answer, Outcome, Stage, Verdict};
use crate::pki::Party;
use crate::servicebus::{Bus, QueueKind};

/// The receiver.
#[derive(Debug)]
pub struct Receiver;

impl Receiver {
    /// Sends the replies owed from before a restart, then starts consuming the register's
    /// queues on the current tokio runtime. `store` must be the broker's store for the
    /// exactly-once guarantee (see the module docs); `identity` is the register's
    /// certificate pair.
    pub async fn start(
        bus: Bus,
        store: Arc<RunStore>,
        identity: Party,
        directory: Arc<dyn CertificateDirectory>,
        config: ReceiverConfig,
    ) -> Result<ReceiverHandle, ReceiverError> {
        if config.her_ids.is_empty() {
            return Err(ReceiverError::Config("no register HER-id".into()));
        }
        let queues = bus.queues();
        for h in &config.her_ids {
            let q = QueueKind::Async.queue_name(*h);
            if !queues.contains(&q) {
                return Err(ReceiverError::Config(format!(
                    "the broker has no queue {q}: add the register's HER-id {h} as a participant"
                )));
            }
        }
        let (crashed_tx, crashed_rx) = watch::channel(None);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let chains: run::ChainMap = Arc::new(Mutex::new(Default::default()));
        let shared = Arc::new(run::Shared {
            bus,
            store: store.clone(),
            identity,
            directory,
            config,
            chains: chains.clone(),
            crashed: crashed_tx,
            shutdown: shutdown_rx.clone(),
        });
        let recovered = run::recover(&shared).await?;
        let tasks = run::spawn(shared.clone(), shutdown_rx);
        tracing::info!(
            her_ids = ?shared.config.her_ids, recovered, "receiver started"
        );
        Ok(ReceiverHandle {
            store,
            tasks,
            shutdown: shutdown_tx,
            crashed: crashed_rx,
            recovered,
            chains,
        })
    }
}

/// A running receiver. Dropping it stops the consumers at once; [`ReceiverHandle::shutdown`]
/// lets each finish the message it is handling.
#[derive(Debug)]
pub struct ReceiverHandle {
    store: Arc<RunStore>,
    tasks: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
    crashed: watch::Receiver<Option<Failpoint>>,
    recovered: usize,
    chains: run::ChainMap,
}

impl ReceiverHandle {
    /// The run store.
    pub fn store(&self) -> &Arc<RunStore> {
        &self.store
    }

    /// Forgets the content state of (register `own`, sender `from`): the next message from
    /// `from` to `own` is checked as the first of a fresh register (a certification session
    /// starts each test submission to KPR Validering afresh). Limit: a restart's replay
    /// does not know about the reset (certification sessions do not restart).
    pub fn reset_content(&self, own: HerId, from: HerId) {
        run::reset_chain(&self.chains, own, from);
        tracing::info!(%own, %from, "kommune content state reset");
    }

    /// How many owed replies were sent at start.
    pub fn recovered(&self) -> usize {
        self.recovered
    }

    /// Waits until a [`FailpointAction::Stop`] failpoint fired; returns which.
    pub async fn crashed(&mut self) -> Failpoint {
        loop {
            if let Some(f) = *self.crashed.borrow_and_update() {
                return f;
            }
            if self.crashed.changed().await.is_err() {
                // The receiver is gone without a failpoint: wait forever, as documented.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops consuming after the message in hand; waits for the consumers.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        tracing::info!("receiver stopped");
    }
}

impl Drop for ReceiverHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
