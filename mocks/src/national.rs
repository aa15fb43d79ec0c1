//! The whole national side, assembled: one builder, one handle, one shutdown.
//!
//! [`National::builder`] starts the endpoints asked for, sharing one clock, one bind
//! address and one state directory, and returns a [`National`] with an accessor for each
//! running endpoint and one [`National::shutdown`] that stops them in order:
//!
//! | option | starts | kept in the state directory |
//! |---|---|---|
//! | [`NationalBuilder::servicebus`] | the AMQP broker (NHN) and the register's receiver (KPR), sharing one run store | `run.sqlite` |
//! | [`NationalBuilder::sendemodul`] | Sendemodul in front of SSB's intake (and optionally a second, refusing portal) | `intake.sqlite`, `sendemodul/`, `sendemodul-pins.json` |
//! | [`NationalBuilder::filsluse`] | the filsluse (MOVEit) portal, its mails queued through a [`MailNotifier`] | `filsluse/` |
//! | [`NationalBuilder::mail`] | the mail capture (SMTP + HTTP) and the national outbox; implied by filsluse, receipts and the operator API | `mail/` |
//! | [`NationalBuilder::receipt_ticker`] | the 08:00 receipts sent every [`crate::intake::TICK`] on the clock (a real-time server; a virtual-time season sends them itself through [`National::outbox`]) | |
//! | [`NationalBuilder::operator`] | SSB's operator API ([`operator`]) | |
//!
//! Without a state directory everything is kept in memory. What a vendor is told
//! (`endpoints.json`), PKI issuance and participants' passwords belong to the caller.
//!
//! Shutdown order: the operator API and the receipt ticker, the Sendemodul portals, the
//! receiver (each consumer finishes its message), the broker, then the queued filsluse
//! mail is flushed (at most 5 s), the filsluse and last the mail capture (which the others
//! send to). A failed start stops what had started.
//!
//! # `serve`: everything, on fixed or free ports, in real time
//!
//! ```no_run
//! # async fn f(
//! #     state: std::path::PathBuf, kommuner: Vec<&'static iplos_model::municipality::Municipality>,
//! #     participants: Vec<iplos_mocks::servicebus::Participant>,
//! #     register_party: iplos_mocks::pki::Party, register: Vec<iplos_model::ids::HerId>,
//! #     failpoint: Option<(iplos_mocks::receiver::Failpoint, iplos_mocks::receiver::FailpointAction)>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use iplos_mocks::filsluse::UserSpec;
//! use iplos_mocks::national::*;
//! use iplos_mocks::receiver::PkiDirectory;
//!
//! let mut bus = ServicebusOptions::new(
//!     participants,
//!     RegisterOptions::new(register_party, Arc::new(PkiDirectory::new(state.join("pki"))), register)
//!         .with_failpoint(failpoint),
//! );
//! bus.port = 5672;
//! bus.limits.max_message_size = 100 * 1024 * 1024;
//! let national = National::builder()
//!     .state_dir(&state)
//!     .bind("127.0.0.1".parse()?)
//!     .data_year(2024)
//!     .servicebus(bus)
//!     .sendemodul(SendemodulOptions { pins: SendemodulPins::Kept(None), ..Default::default() })
//!     .filsluse(FilsluseOptions {
//!         users: kommuner.iter().map(|m| UserSpec::for_municipality(m)).collect(),
//!         ..Default::default()
//!     })
//!     .mail(MailOptions { relay: None, ..Default::default() })
//!     .receipt_ticker()
//!     .operator(OperatorOptions::for_municipalities(0, &kommuner))
//!     .start()
//!     .await?;
//! println!("AMQP on {:?}, operator {:?}", national.amqp_addr(), national.operator_url());
//! national.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # The season engine: virtual time, Sendemodul era or service bus era
//!
//! ```no_run
//! # async fn f(
//! #     state: std::path::PathBuf, seed: u64, servicebus: bool,
//! #     participants: Vec<iplos_mocks::servicebus::Participant>,
//! #     register: iplos_mocks::pki::Party, directory: Arc<iplos_mocks::receiver::StaticDirectory>,
//! #     register_her: iplos_model::ids::HerId, validation_her: iplos_model::ids::HerId,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use iplos_mocks::national::*;
//! use iplos_mocks::sendemodul::Pins;
//! use iplos_model::calendar::{Clock, VirtualClock};
//!
//! let clock = Arc::new(VirtualClock::new("2025-01-06T07:00:00Z".parse()?));
//! let mut builder = National::builder()
//!     .state_dir(&state)
//!     .clock(clock.clone() as Arc<dyn Clock>)
//!     .data_year(2024)
//!     // [model] a rehearsal sets hundreds of passwords: a cheaper KDF keeps it fast.
//!     .filsluse(FilsluseOptions { kdf_iterations: Some(1_000), ..Default::default() });
//! builder = if servicebus {
//!     builder.servicebus(ServicebusOptions::new(
//!         participants, // kommune<knr> and kpr<her> with the engine's passwords
//!         RegisterOptions::new(register, directory, vec![register_her, validation_her]),
//!     ))
//! } else {
//!     builder.sendemodul(SendemodulOptions {
//!         pins: SendemodulPins::Given(Pins::seeded(seed)),
//!         ..Default::default()
//!     })
//! };
//! let national = builder.start().await?;
//! // Receipts at 08:00 virtual time:
//! let intake = national.intake().ok_or("no intake")?;
//! intake.send_due_receipts(national.outbox().ok_or("no mail")?, clock.now()).await?;
//! national.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # A certification session: the bus over TLS with faults, the register, two portals
//!
//! ```no_run
//! # async fn f(
//! #     run_dir: std::path::PathBuf, pki_dir: std::path::PathBuf, bind: std::net::IpAddr,
//! #     tls: iplos_mocks::servicebus::TlsConfig, kommune: iplos_mocks::servicebus::Participant,
//! #     injector: Arc<dyn iplos_mocks::receiver::Injector>, seed: u64, knr: String,
//! #     pin: String, wrong_pin: String, production: iplos_model::ids::HerId,
//! #     validation: iplos_model::ids::HerId,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use iplos_mocks::national::*;
//! use iplos_mocks::sendemodul::Pins;
//! use iplos_mocks::servicebus::BrokerFaults;
//!
//! let faults = BrokerFaults::new();
//! let mut bus = ServicebusOptions::new(
//!     vec![kommune], // the register's users are added, with random passwords
//!     RegisterOptions::from_pki_dir(&pki_dir, vec![production, validation])?
//!         .with_injector(injector),
//! );
//! bus.port = 0;
//! bus.tls = Some(tls);
//! bus.faults = Some(faults.clone());
//! let national = National::builder()
//!     .state_dir(&run_dir)
//!     .bind(bind)
//!     .data_year(2024)
//!     .servicebus(bus)
//!     .sendemodul(SendemodulOptions {
//!         pins: SendemodulPins::Given(Pins::seeded(seed).with(knr.clone(), pin)),
//!         max_part_bytes: Some(16 * 1024),
//!         keep_uploads: false,
//!         refusing: Some(Pins::seeded(seed).with(knr, wrong_pin)),
//!         ..Default::default()
//!     })
//!     .start()
//!     .await?;
//! let portal = national.sendemodul().ok_or("no Sendemodul")?;
//! let refusing = national.refusing_sendemodul().ok_or("no refusing portal")?;
//! # let _ = (portal, refusing);
//! national.shutdown().await;
//! # Ok(()) }
//! ```

mod builder;
mod feedback;
pub mod operator;
mod options;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iplos_model::calendar::Clock;
use tokio::task::JoinHandle;

pub use self::builder::NationalBuilder;
pub use self::feedback::feedback_from_intake;
pub use self::options::{
    FilsluseOptions, MailOptions, OperatorOptions, RegisterOptions, SendemodulOptions,
    SendemodulPins, ServicebusOptions,
};
use crate::filsluse::{Filsluse, MailNotifier};
use crate::intake::Intake;
use crate::mail::{MailHandle, Outbox};
use crate::receiver::{ReceiverHandle, RunStore};
use crate::sendemodul::Sendemodul;
use crate::servicebus::{BrokerHandle, Bus};

/// The PIN seed file of [`SendemodulPins::Kept`], in the state directory.
pub const PIN_SEED_FILE: &str = "sendemodul-pins.json";
/// The intake's file in the state directory.
pub const INTAKE_FILE: &str = "intake.sqlite";

/// A boxed error of one of the endpoints.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of assembling the national side.
#[derive(Debug, thiserror::Error)]
pub enum NationalError {
    /// The options do not fit together, or one is malformed.
    #[error("{0}")]
    Config(String),
    /// An endpoint could not start.
    #[error("cannot {what}")]
    Start {
        /// What could not be done, e.g. "start the AMQP broker on 127.0.0.1:5672".
        what: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The intake failed.
    #[error(transparent)]
    Intake(#[from] crate::intake::IntakeError),
    /// Feedback could not be built or published.
    #[error(transparent)]
    Feedback(#[from] crate::feedback::FeedbackError),
    /// Stored data is inconsistent.
    #[error("{0}")]
    Data(String),
}

impl NationalError {
    /// A [`NationalError::Start`].
    pub fn start(what: impl Into<String>, source: impl Into<BoxError>) -> NationalError {
        NationalError::Start {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// The running national side (see the module docs). Dropping it stops every endpoint
/// without waiting; [`National::shutdown`] stops them in order and waits.
pub struct National {
    clock: Arc<dyn Clock>,
    state_dir: Option<PathBuf>,
    data_year: Option<i32>,
    mail: Option<MailHandle>,
    outbox: Option<Arc<Outbox>>,
    notifier: Option<Arc<MailNotifier>>,
    filsluse: Option<Arc<Filsluse>>,
    broker: Option<BrokerHandle>,
    receiver: Option<ReceiverHandle>,
    run_store: Option<Arc<RunStore>>,
    intake: Option<Intake>,
    sendemodul: Option<Sendemodul>,
    refusing: Option<Sendemodul>,
    ticker: Option<JoinHandle<()>>,
    operator: Option<operator::OperatorServer>,
}

impl std::fmt::Debug for National {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("National")
            .field("state_dir", &self.state_dir)
            .field("amqp", &self.amqp_addr())
            .field("sendemodul", &self.sendemodul.as_ref().map(|s| s.addr()))
            .field("filsluse", &self.filsluse.as_ref().map(|s| s.addr()))
            .field("smtp", &self.mail.as_ref().map(|m| m.smtp_addr()))
            .field("operator", &self.operator_url())
            .finish_non_exhaustive()
    }
}

impl National {
    /// A builder with nothing to start, 127.0.0.1, the system clock, no state directory.
    pub fn builder() -> NationalBuilder {
        NationalBuilder::default()
    }

    /// The clock every endpoint runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The state directory, if any.
    pub fn state_dir(&self) -> Option<&Path> {
        self.state_dir.as_deref()
    }

    /// The season's data year, if given.
    pub fn data_year(&self) -> Option<i32> {
        self.data_year
    }

    /// The AMQP broker.
    pub fn broker(&self) -> Option<&BrokerHandle> {
        self.broker.as_ref()
    }

    /// The broker's in-process bus.
    pub fn bus(&self) -> Option<Bus> {
        self.broker.as_ref().map(BrokerHandle::bus)
    }

    /// Where the broker listens.
    pub fn amqp_addr(&self) -> Option<SocketAddr> {
        self.broker.as_ref().map(BrokerHandle::local_addr)
    }

    /// The register's receiver.
    pub fn receiver(&self) -> Option<&ReceiverHandle> {
        self.receiver.as_ref()
    }

    /// The register's receiver, mutably (to wait for a failpoint).
    pub fn receiver_mut(&mut self) -> Option<&mut ReceiverHandle> {
        self.receiver.as_mut()
    }

    /// The run store the broker and the receiver share.
    pub fn run_store(&self) -> Option<&Arc<RunStore>> {
        self.run_store.as_ref()
    }

    /// SSB's intake behind Sendemodul.
    pub fn intake(&self) -> Option<&Intake> {
        self.intake.as_ref()
    }

    /// Sendemodul.
    pub fn sendemodul(&self) -> Option<&Sendemodul> {
        self.sendemodul.as_ref()
    }

    /// The second portal of [`SendemodulOptions::refusing`].
    pub fn refusing_sendemodul(&self) -> Option<&Sendemodul> {
        self.refusing.as_ref()
    }

    /// The filsluse portal.
    pub fn filsluse(&self) -> Option<&Filsluse> {
        self.filsluse.as_deref()
    }

    /// The filsluse's mail queue.
    pub fn notifier(&self) -> Option<&Arc<MailNotifier>> {
        self.notifier.as_ref()
    }

    /// The mail capture.
    pub fn mail(&self) -> Option<&MailHandle> {
        self.mail.as_ref()
    }

    /// The national side's outbox (to the capture, or the relay): receipts.
    pub fn outbox(&self) -> Option<&Arc<Outbox>> {
        self.outbox.as_ref()
    }

    /// The operator API's base URL (`http://ip:port`).
    pub fn operator_url(&self) -> Option<&str> {
        self.operator.as_ref().map(|o| o.url.as_str())
    }

    /// Stops everything in order (see the module docs) and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(op) = self.operator.take() {
            op.shutdown().await;
        }
        if let Some(t) = self.ticker.take() {
            t.abort();
            let _ = t.await;
        }
        for s in [self.sendemodul.take(), self.refusing.take()]
            .into_iter()
            .flatten()
        {
            s.shutdown().await;
        }
        if let Some(r) = self.receiver.take() {
            r.shutdown().await;
        }
        if let Some(b) = self.broker.take() {
            b.shutdown().await;
        }
        if let Some(n) = &self.notifier {
            let _ = n.flush(std::time::Duration::from_secs(5)).await;
        }
        if let Some(f) = self.filsluse.take() {
            // The operator API held a clone; it is gone now.
            match Arc::try_unwrap(f) {
                Ok(f) => f.shutdown().await,
                Err(f) => drop(f),
            }
        }
        if let Some(m) = self.mail.take()
            && let Err(e) = m.shutdown().await
        {
            tracing::warn!(target: "iplos_mocks::national", "mail capture: {e}");
        }
    }
}

impl Drop for National {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}
