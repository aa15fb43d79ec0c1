//! The national side of a session, started by [`National::builder`]: the service bus (TLS
//! only, the kommune and the register as participants), the register (KPR 134197 and KPR
//! Validering 131725) answering through the session's injector, and Sendemodul — the
//! session's portal and one that rejects the kommune's PIN — in front of SSB's file intake.
//!
//! With `--broker` the service bus is RabbitMQ: the session gets a vhost of its own
//! (provisioned by the national side, the register a client of it), and the session's
//! amqps port is an [`AmqpFront`] in front of RabbitMQ with the session's certificate,
//! which keeps the same connection log and honours the same faults as our broker.
//!
//! This file is the one place that starts and stops these servers.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use iplos_mocks::front::{AmqpFront, FrontConfig};
use iplos_mocks::intake::Intake;
use iplos_mocks::national::{
    National, RegisterOptions, SendemodulOptions, SendemodulPins, ServicebusOptions,
};
use iplos_mocks::rabbitmq::ExternalBroker;
use iplos_mocks::receiver::{Injector, KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID, RunStore};
use iplos_mocks::sendemodul::{Pins, Sendemodul};
use iplos_mocks::servicebus::{BrokerFaults, Participant, QueueKind, TlsConfig};
use iplos_model::calendar::Clock;
use iplos_model::compare::read_received;
use iplos_model::ids::HerId;
use iplos_model::rules::CheckOptions;

use super::endpoints::SENDEMODUL_PART_LIMIT;
use super::injector::SessionInjector;
use crate::certify::record::{SmRecord, SmSubmission};
use crate::certify::session::{Credentials, Session, TlsFiles};

/// The running national side.
pub struct Servers {
    national: National,
    /// In front of RabbitMQ (`--broker`).
    front: Option<AmqpFront>,
    /// The kommune's login (for counting its `_error` queue on RabbitMQ).
    kommune_login: (String, String),
    /// The broker's faults, armed by the phases, and its connection log.
    pub faults: BrokerFaults,
    /// The register's answers for the running phase.
    pub injector: Arc<SessionInjector>,
    /// The kommune's Sendemodul PIN.
    pub pin: String,
}

/// Where the servers listen and keep their state.
pub struct ServerPlaces<'a> {
    pub bind: IpAddr,
    pub amqp_port: u16,
    /// The session's whole PKI (`DIR/harness/pki`).
    pub pki_dir: &'a Path,
    /// `DIR/run`.
    pub run_dir: &'a Path,
    /// RabbitMQ instead of our broker (`--broker`).
    pub external: Option<ExternalBroker>,
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
        let injector = Arc::new(SessionInjector::default());
        let faults = BrokerFaults::new();
        let mut bus = ServicebusOptions::new(
            // The register's users get random passwords, never handed out.
            vec![Participant::new(kommune, &creds.username, &creds.password)],
            RegisterOptions::from_pki_dir(at.pki_dir, vec![production, validation])
                .with_context(|| {
                    format!("cannot read the session's PKI in {}", at.pki_dir.display())
                })?
                .with_injector(injector.clone() as Arc<dyn Injector>),
        );
        let tls_config = TlsConfig::from_files(&tls.server_cert, &tls.server_key)
            .context("the broker's TLS certificate")?;
        bus.port = at.amqp_port;
        bus.tls = Some(tls_config.clone());
        bus.faults = Some(faults.clone());
        bus.external = at.external.clone();
        let namespace = bus.namespace.clone();
        let pin = Pins::derive(session.seed, &session.kommune);
        let wrong_pin = format!("{:06}", (pin.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
        let national = National::builder()
            .state_dir(at.run_dir)
            .bind(at.bind)
            .clock(clock)
            .data_year(i32::from(session.year))
            .servicebus(bus)
            .sendemodul(SendemodulOptions {
                pins: SendemodulPins::Given(
                    Pins::seeded(session.seed).with(session.kommune.clone(), &pin),
                ),
                max_part_bytes: Some(SENDEMODUL_PART_LIMIT),
                keep_uploads: false,
                refusing: Some(
                    Pins::seeded(session.seed).with(session.kommune.clone(), &wrong_pin),
                ),
                ..Default::default()
            })
            .start()
            .await
            .context("cannot start the national side")?;
        let front = match &at.external {
            Some(ext) => {
                let mut config = FrontConfig::new(
                    std::net::SocketAddr::new(at.bind, at.amqp_port),
                    ext.broker
                        .nodes
                        .iter()
                        .map(|n| (n.host.clone(), n.port))
                        .collect(),
                    faults.clone(),
                    &namespace,
                );
                config.tls = Some(tls_config);
                config.upstream_tls = match ext.tls_connector() {
                    Ok(c) => c,
                    Err(e) => {
                        national.shutdown().await;
                        return Err(anyhow!("--broker-ca: {e}"));
                    }
                };
                config.vhost = Some(ext.vhost.clone());
                config.user_prefix = Some(format!("{}.", ext.vhost));
                match AmqpFront::start(config).await {
                    Ok(f) => Some(f),
                    Err(e) => {
                        national.shutdown().await;
                        return Err(anyhow!("cannot open the session's amqps port: {e}"));
                    }
                }
            }
            None => None,
        };
        let servers = Servers {
            national,
            front,
            kommune_login: (creds.username.clone(), creds.password.clone()),
            faults,
            injector,
            pin,
        };
        // Every endpoint asked for is there.
        servers.store()?;
        if servers.front.is_none() {
            servers.national.broker().ok_or_else(|| missing("broker"))?;
            servers
                .national
                .receiver()
                .ok_or_else(|| missing("register"))?;
        }
        servers.intake()?;
        servers.sendemodul()?;
        servers.refusing()?;
        Ok(servers)
    }

    /// The broker's queues and the register's record of every message (`run/run.sqlite`).
    pub fn store(&self) -> Result<&Arc<RunStore>> {
        self.national
            .run_store()
            .ok_or_else(|| missing("run store"))
    }

    /// The port the kommune's EPJ connects to (our broker's, or the front's).
    pub fn amqp_port(&self) -> Result<u16> {
        match &self.front {
            Some(f) => Ok(f.addr().port()),
            None => Ok(self
                .national
                .broker()
                .ok_or_else(|| missing("broker"))?
                .port()),
        }
    }

    /// The namespace of `/exchange/<namespace>/<queue>`.
    pub fn namespace(&self) -> Result<String> {
        match self.national.external() {
            Some(x) => Ok(x.plan().namespace.clone()),
            None => Ok(self
                .national
                .broker()
                .ok_or_else(|| missing("broker"))?
                .bus()
                .namespace()
                .to_string()),
        }
    }

    /// Messages left on the kommune's `_error` queue: our broker's queue length, or on
    /// RabbitMQ counted as an AMQP client with the kommune's login (received and released).
    /// An error says why they could not be counted.
    pub async fn error_queue_left(&self, kommune: HerId) -> Result<usize, String> {
        let queue = QueueKind::Error.queue_name(kommune);
        match self.national.external() {
            Some(x) => {
                let nodes: Vec<(String, u16)> = x
                    .broker()
                    .broker
                    .nodes
                    .iter()
                    .map(|n| (n.host.clone(), n.port))
                    .collect();
                let (user, password) = &self.kommune_login;
                let tls = x.broker().tls_connector()?;
                iplos_mocks::rabbitmq::count_messages(
                    &nodes,
                    &x.broker().vhost,
                    (&x.rabbit_user(user), password),
                    tls.as_ref(),
                    &queue,
                    std::time::Duration::from_millis(500),
                )
                .await
                .map_err(|e| format!("{queue} on RabbitMQ: {e}"))
            }
            None => self
                .national
                .bus()
                .ok_or("the national side has no broker")?
                .len(&queue)
                .map_err(|e| format!("{queue}: {e}")),
        }
    }

    /// Forgets the register's content state of (`own`, `from`).
    pub fn reset_content(&self, own: HerId, from: HerId) {
        if let Some(r) = self.national.receiver() {
            r.reset_content(own, from);
        }
        if let Some(r) = self.national.external().and_then(|x| x.receiver()) {
            r.reset_content(own, from);
        }
    }

    /// SSB's file intake behind the session's Sendemodul portal.
    pub fn intake(&self) -> Result<&Intake> {
        self.national.intake().ok_or_else(|| missing("intake"))
    }

    /// The session's Sendemodul portal.
    pub fn sendemodul(&self) -> Result<&Sendemodul> {
        self.national
            .sendemodul()
            .ok_or_else(|| missing("Sendemodul"))
    }

    /// The portal that rejects the kommune's PIN.
    pub fn refusing(&self) -> Result<&Sendemodul> {
        self.national
            .refusing_sendemodul()
            .ok_or_else(|| missing("refusing Sendemodul"))
    }

    /// Stops every server.
    pub async fn shutdown(self) {
        self.injector.disarm();
        if let Some(f) = self.front {
            f.shutdown().await;
        }
        self.national.shutdown().await;
    }

    /// What the Sendemodul portals and the intake saw: login attempts and the files taken
    /// in (read).
    pub fn sendemodul_record(&self) -> Result<SmRecord> {
        let intake = self.intake()?;
        Ok(SmRecord {
            part_limit: SENDEMODUL_PART_LIMIT,
            attempts: self.sendemodul()?.login_attempts(),
            refusing_attempts: self.refusing()?.login_attempts(),
            submissions: intake
                .all_submissions()?
                .into_iter()
                .map(|info| {
                    let melding = intake
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

fn missing(what: &str) -> anyhow::Error {
    anyhow!("the national side started without its {what}")
}
