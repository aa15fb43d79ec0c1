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
//! | [`NationalBuilder::filsluse`] | the filsluse (MOVEit) portal, its mails queued through a [`MailNotifier`](crate::filsluse::MailNotifier) | `filsluse/` |
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
//! #     register: iplos_mocks::pki::Party, directory: std::sync::Arc<iplos_mocks::receiver::StaticDirectory>,
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
//! #     injector: std::sync::Arc<dyn iplos_mocks::receiver::Injector>, seed: u64, knr: String,
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
mod error;
mod external;
mod feedback;
mod handle;
pub mod operator;
mod options;

pub use self::builder::{INTAKE_FILE, NationalBuilder, PIN_SEED_FILE};
pub use self::error::{BoxError, NationalError};
pub use self::external::ExternalRun;
pub use self::feedback::feedback_from_intake;
pub use self::handle::National;
pub use self::options::{
    FilsluseOptions, MailOptions, OperatorOptions, RegisterOptions, SendemodulOptions,
    SendemodulPins, ServicebusOptions,
};
