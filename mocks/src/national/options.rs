//! What the builder can be asked to start, one options struct per endpoint.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use iplos_model::ids::HerId;
use iplos_model::municipality::Municipality;

use super::error::NationalError;
use crate::filsluse::UserSpec;
use crate::mail::OutboxConfig;
use crate::pki::{Party, Pki, Variant};
use crate::rabbitmq::ExternalBroker;
use crate::receiver::{CertificateDirectory, Failpoint, FailpointAction, Injector, PkiDirectory};
use crate::sendemodul::Pins;
use crate::servicebus::{BrokerFaults, DEFAULT_NAMESPACE, Limits, Participant, TlsConfig};

/// The service bus: NHN's AMQP broker and the register's receiver (KPR) behind it.
#[derive(Clone)]
pub struct ServicebusOptions {
    /// The broker's port; 0 picks a free one.
    pub port: u16,
    /// The namespace (exchange) in `/exchange/<namespace>/<queue>`.
    pub namespace: String,
    /// The AMQP users, each with its HER-id's queues. A register HER-id of
    /// [`RegisterOptions::her_ids`] without one here gets `register<herid>` with a random
    /// password (never handed out: the receiver works in-process).
    pub participants: Vec<Participant>,
    /// The broker's limits.
    pub limits: Limits,
    /// TLS (`amqps://`); `None`: plain AMQP.
    pub tls: Option<TlsConfig>,
    /// Fault injection (certification sessions); keep a clone to arm it.
    pub faults: Option<BrokerFaults>,
    /// The register.
    pub register: RegisterOptions,
    /// An existing RabbitMQ instead of our broker (`--broker`, `--broker-management`):
    /// `port`, `limits`, `tls` and `faults` are then not used (faults go through a
    /// [`crate::faultproxy`] or a [`crate::front`] in front of RabbitMQ, started by the
    /// caller).
    pub external: Option<ExternalBroker>,
}

impl std::fmt::Debug for ServicebusOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicebusOptions")
            .field("port", &self.port)
            .field("namespace", &self.namespace)
            .field("participants", &self.participants.len())
            .field("tls", &self.tls.is_some())
            .field("faults", &self.faults.is_some())
            .field("register", &self.register)
            .field("external", &self.external)
            .finish_non_exhaustive()
    }
}

impl ServicebusOptions {
    /// Port 0, the default namespace, default limits, no TLS, no faults.
    pub fn new(participants: Vec<Participant>, register: RegisterOptions) -> ServicebusOptions {
        ServicebusOptions {
            port: 0,
            namespace: DEFAULT_NAMESPACE.to_string(),
            participants,
            limits: Limits::default(),
            tls: None,
            faults: None,
            register,
            external: None,
        }
    }
}

/// The register's receiver (KPR): its identity, where it finds senders' certificates,
/// which HER-ids it answers for, and the test hooks.
#[derive(Clone)]
pub struct RegisterOptions {
    /// The register's certificate pair; its name is the name in AppRecs.
    pub identity: Party,
    /// Where senders' certificates are found.
    pub directory: Arc<dyn CertificateDirectory>,
    /// The register's HER-ids whose `_async` queues are consumed (production first).
    pub her_ids: Vec<HerId>,
    /// A failpoint (restart tests).
    pub failpoint: Option<(Failpoint, FailpointAction)>,
    /// Injected answers (certification sessions).
    pub injector: Option<Arc<dyn Injector>>,
    /// Register HER-ids with a certificate pair of their own (see
    /// [`ReceiverConfig::own_identities`](crate::receiver::ReceiverConfig)).
    pub own_identities: Vec<Party>,
}

impl std::fmt::Debug for RegisterOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterOptions")
            .field("name", &self.identity.name)
            .field("her_ids", &self.her_ids)
            .field("failpoint", &self.failpoint)
            .field("injector", &self.injector.is_some())
            .finish_non_exhaustive()
    }
}

impl RegisterOptions {
    /// The register with `identity`, finding certificates in `directory`, answering for
    /// `her_ids`; no failpoint, no injector.
    pub fn new(
        identity: Party,
        directory: Arc<dyn CertificateDirectory>,
        her_ids: Vec<HerId>,
    ) -> RegisterOptions {
        RegisterOptions {
            identity,
            directory,
            her_ids,
            failpoint: None,
            injector: None,
            own_identities: Vec::new(),
        }
    }

    /// The register of the test PKI in `pki_dir` (made by `Pki::init_with`), reading
    /// senders' certificates from that directory as they are issued ([`PkiDirectory`]).
    /// A register HER-id other than the PKI's register that has a valid pair of its own in
    /// the PKI (KPR Validering in a certification session) answers with that pair.
    pub fn from_pki_dir(
        pki_dir: &Path,
        her_ids: Vec<HerId>,
    ) -> Result<RegisterOptions, NationalError> {
        let pki = Pki::load(pki_dir).map_err(|e| {
            NationalError::start(format!("read the PKI in {}", pki_dir.display()), e)
        })?;
        let identity = pki
            .register()
            .map_err(|e| NationalError::start("read the register's certificates", e))?;
        // A register HER-id with a valid pair of its own in the PKI answers with it.
        let mut own_identities = Vec::new();
        for h in &her_ids {
            let has_own = *h != identity.her_id
                && pki
                    .index()
                    .issued
                    .iter()
                    .any(|r| r.her_id == h.get() && r.variant == Variant::Valid);
            if has_own {
                own_identities.push(pki.party(*h, Variant::Valid).map_err(|e| {
                    NationalError::start(format!("read register {h}'s certificates"), e)
                })?);
            }
        }
        let mut options =
            RegisterOptions::new(identity, Arc::new(PkiDirectory::new(pki_dir)), her_ids);
        options.own_identities = own_identities;
        Ok(options)
    }

    /// With a failpoint.
    pub fn with_failpoint(mut self, failpoint: Option<(Failpoint, FailpointAction)>) -> Self {
        self.failpoint = failpoint;
        self
    }

    /// With an injector.
    pub fn with_injector(mut self, injector: Arc<dyn Injector>) -> Self {
        self.injector = Some(injector);
        self
    }
}

/// Where Sendemodul's PINs come from.
#[derive(Debug, Clone)]
pub enum SendemodulPins {
    /// These PINs.
    Given(Pins),
    /// Derived from a seed kept in `<state>/sendemodul-pins.json` so a restart keeps them:
    /// the given seed (which replaces a different kept one), else the kept one, else a
    /// random one. Without a state directory: the given seed or a random one.
    Kept(Option<u64>),
}

/// Sendemodul (`/Sendemodul/`, `/SendemodulTEST/`) in front of SSB's intake
/// (`<state>/intake.sqlite`; in memory without a state directory).
#[derive(Debug, Clone)]
pub struct SendemodulOptions {
    /// The port; 0 picks a free one.
    pub port: u16,
    /// The PINs.
    pub pins: SendemodulPins,
    /// The largest part, in bytes; `None`: Sendemodul's default (512 MiB).
    pub max_part_bytes: Option<u64>,
    /// Keep split uploads in progress in `<state>/sendemodul/` (else a temporary
    /// directory removed at shutdown). Default true.
    pub keep_uploads: bool,
    /// A second portal with these PINs (and an intake of its own, in memory): one that
    /// refuses the kommune's right PIN (a certification session's `sendemodul-refused`).
    pub refusing: Option<Pins>,
}

impl Default for SendemodulOptions {
    fn default() -> Self {
        SendemodulOptions {
            port: 0,
            pins: SendemodulPins::Kept(None),
            max_part_bytes: None,
            keep_uploads: true,
            refusing: None,
        }
    }
}

/// The filsluse (MOVEit) portal, in `<state>/filsluse/` (in memory without a state
/// directory), mailing through the national outbox.
#[derive(Debug, Clone, Default)]
pub struct FilsluseOptions {
    /// The port; 0 picks a free one.
    pub port: u16,
    /// PBKDF2 iterations of new passwords; `None`: the portal's default (600 000).
    pub kdf_iterations: Option<u32>,
    /// Users created at start when missing, each with the "Ny bruker" mail.
    pub users: Vec<UserSpec>,
}

/// The mail capture (SMTP and an HTTP reading API, in `<state>/mail/`; in memory
/// without a state directory) and the national side's outbox.
#[derive(Debug, Clone, Default)]
pub struct MailOptions {
    /// The SMTP port; 0 picks a free one.
    pub smtp_port: u16,
    /// The HTTP reading API's port; 0 picks a free one.
    pub http_port: u16,
    /// Send the national side's mail (receipts, filsluse) here instead of the capture.
    pub relay: Option<OutboxConfig>,
}

impl MailOptions {
    /// Parses `HOST:PORT` as a relay.
    pub fn parse_relay(relay: &str) -> Result<OutboxConfig, NationalError> {
        let (host, port) = relay
            .rsplit_once(':')
            .ok_or_else(|| NationalError::Config(format!("{relay}: expected HOST:PORT")))?;
        let port = port
            .parse()
            .map_err(|_| NationalError::Config(format!("{relay}: bad port")))?;
        Ok(OutboxConfig::new(host, port))
    }
}

/// SSB's operator API (see [`super::operator`]).
#[derive(Debug, Clone, Default)]
pub struct OperatorOptions {
    /// The port; 0 picks a free one.
    pub port: u16,
    /// Kommunenummer → (kommune name, filsluse username).
    pub kommuner: BTreeMap<String, (String, String)>,
    /// The bearer token the API requires; `None`: a random one
    /// ([`super::National::operator_token`]).
    pub token: Option<String>,
}

impl OperatorOptions {
    /// Every kommune of `kommuner` with its own filsluse user
    /// ([`UserSpec::for_municipality`]).
    pub fn for_municipalities(port: u16, kommuner: &[&Municipality]) -> OperatorOptions {
        OperatorOptions {
            port,
            kommuner: kommuner
                .iter()
                .map(|m| {
                    (
                        m.number().to_string(),
                        (m.name().to_string(), UserSpec::for_municipality(m).username),
                    )
                })
                .collect(),
            token: None,
        }
    }
}
