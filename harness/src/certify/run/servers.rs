//! The national side of a session, wired by hand: the service bus (TLS only, the kommune
//! and the register as participants), the register (KPR 134197 and KPR Validering 131725)
//! answering through the session's injector, and Sendemodul — the session's portal and one
//! that rejects the kommune's PIN — in front of SSB's file intake.
//!
//! This file is the one place that starts and stops these servers (a national-side builder
//! can replace it).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use iplos_mocks::intake::Intake;
use iplos_mocks::pki::Pki;
use iplos_mocks::receiver::{
    Injector, KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID, PkiDirectory, Receiver, ReceiverConfig,
    ReceiverHandle, RunStore,
};
use iplos_mocks::sendemodul::{Pins, Sendemodul, SendemodulConfig};
use iplos_mocks::servicebus::{BrokerConfig, BrokerFaults, BrokerHandle, TlsConfig};
use iplos_model::calendar::Clock;
use iplos_model::compare::read_received;
use iplos_model::ids::HerId;
use iplos_model::rules::CheckOptions;

use super::endpoints::SENDEMODUL_PART_LIMIT;
use super::injector::SessionInjector;
use crate::certify::record::{SmRecord, SmSubmission};
use crate::certify::session::{Credentials, Session, TlsFiles};
use crate::identity::password;

/// The running national side.
pub struct Servers {
    /// The broker's queues and the register's record of every message (`run/run.sqlite`).
    pub store: Arc<RunStore>,
    /// The broker's faults, armed by the phases, and its connection log.
    pub faults: BrokerFaults,
    pub broker: BrokerHandle,
    pub receiver: ReceiverHandle,
    /// The register's answers for the running phase.
    pub injector: Arc<SessionInjector>,
    /// SSB's file intake behind the session's Sendemodul portal.
    pub intake: Intake,
    pub sendemodul: Sendemodul,
    /// The portal that rejects the kommune's PIN.
    pub refusing: Sendemodul,
    /// The kommune's Sendemodul PIN.
    pub pin: String,
}

/// Where the servers listen and keep their state.
pub struct ServerPlaces<'a> {
    pub bind: IpAddr,
    pub amqp_port: u16,
    /// The session's PKI (`DIR/pki`).
    pub pki_dir: &'a Path,
    /// `DIR/run`.
    pub run_dir: &'a Path,
}

impl Servers {
    /// Starts the broker, the register and the two Sendemodul portals for the session's
    /// kommune.
    pub async fn start(
        at: &ServerPlaces<'_>,
        session: &Session,
        creds: &Credentials,
        tls: &TlsFiles,
        clock: Arc<dyn Clock>,
    ) -> Result<Servers> {
        let kommune = HerId::new(session.her_id)?;
        let validation = HerId::new(KPR_VALIDATION_HER_ID)?;
        let production = HerId::new(KPR_PRODUCTION_HER_ID)?;

        // The register, the broker, the receiver.
        let pki = Pki::load(at.pki_dir).with_context(|| {
            format!("cannot read the session's PKI in {}", at.pki_dir.display())
        })?;
        let register_party = pki.register()?;
        let store = Arc::new(RunStore::open(
            &at.run_dir.join("run.sqlite"),
            clock.clone(),
        )?);
        let faults = BrokerFaults::new();
        let mut cfg = BrokerConfig::new()
            .with_bind(SocketAddr::new(at.bind, at.amqp_port))
            .with_store(store.clone())
            .with_clock(clock.clone())
            .with_tls(
                TlsConfig::from_files(&tls.server_cert, &tls.server_key)
                    .context("the broker's TLS certificate")?,
            )
            .with_faults(faults.clone())
            .with_participant(kommune, &creds.username, &creds.password);
        for h in [production, validation] {
            // Never handed out.
            cfg = cfg.with_participant(h, &format!("register{h}"), &password(None, "register")?);
        }
        let broker = cfg.start().await.context("cannot start the broker")?;
        let injector = Arc::new(SessionInjector::default());
        let receiver = Receiver::start(
            broker.bus(),
            store.clone(),
            register_party.clone(),
            Arc::new(PkiDirectory::new(at.pki_dir)),
            ReceiverConfig {
                her_ids: vec![production, validation],
                name: register_party.name.clone(),
                data_year: Some(i32::from(session.year)),
                clock: clock.clone(),
                injector: Some(injector.clone() as Arc<dyn Injector>),
                ..ReceiverConfig::default()
            },
        )
        .await
        .context("cannot start the register")?;

        // Sendemodul: the session's portal and one that rejects the kommune's PIN, in front
        // of SSB's file intake.
        let intake = Intake::open(at.run_dir.join("intake.sqlite"), clock.clone())
            .context("cannot open the Sendemodul intake")?;
        let pin = Pins::derive(session.seed, &session.kommune);
        let wrong_pin = format!("{:06}", (pin.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
        let sm_config = |pin: &str| SendemodulConfig {
            bind: SocketAddr::new(at.bind, 0),
            data_year: i32::from(session.year),
            pins: Pins::seeded(session.seed).with(session.kommune.clone(), pin),
            max_part_bytes: SENDEMODUL_PART_LIMIT,
            ..SendemodulConfig::default()
        };
        let sendemodul = Sendemodul::start(sm_config(&pin), intake.clone(), clock.clone())
            .await
            .context("cannot start Sendemodul")?;
        let refusing = Sendemodul::start(
            sm_config(&wrong_pin),
            Intake::in_memory(clock.clone())?,
            clock.clone(),
        )
        .await
        .context("cannot start the refusing Sendemodul")?;
        Ok(Servers {
            store,
            faults,
            broker,
            receiver,
            injector,
            intake,
            sendemodul,
            refusing,
            pin,
        })
    }

    /// Stops every server.
    pub async fn shutdown(self) {
        self.injector.disarm();
        self.sendemodul.shutdown().await;
        self.refusing.shutdown().await;
        self.receiver.shutdown().await;
        self.broker.shutdown().await;
    }
}

impl Servers {
    /// What the Sendemodul portals and the intake saw: login attempts and the files taken
    /// in (read).
    pub fn sendemodul_record(&self) -> Result<SmRecord> {
        Ok(SmRecord {
            part_limit: SENDEMODUL_PART_LIMIT,
            attempts: self.sendemodul.login_attempts(),
            refusing_attempts: self.refusing.login_attempts(),
            submissions: self
                .intake
                .all_submissions()?
                .into_iter()
                .map(|info| {
                    let melding = self
                        .intake
                        .raw_bytes(info.id)
                        .ok()
                        .flatten()
                        .and_then(|b| read_received(&b, &CheckOptions::default()).ok())
                        .map(|r| r.melding);
                    SmSubmission { info, melding }
                })
                .collect(),
        })
    }
}
