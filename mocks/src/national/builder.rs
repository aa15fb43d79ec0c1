//! [`NationalBuilder`]: the options, and the start in order.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iplos_model::calendar::{Clock, SystemClock};
use serde::{Deserialize, Serialize};

use super::error::NationalError;
use super::handle::National;
use super::operator::{Operator, OperatorServer};
use super::options::{
    FilsluseOptions, MailOptions, OperatorOptions, SendemodulOptions, SendemodulPins,
    ServicebusOptions,
};
use crate::filsluse::{Filsluse, FilsluseConfig, MailNotifier};
use crate::http_limits::HttpLimits;
use crate::intake::Intake;
use crate::mail::{MailConfig, MailServer, Outbox, OutboxConfig, Storage};
use crate::receiver::{RUN_STORE_FILE, Receiver, ReceiverConfig, RunStore};
use crate::sendemodul::{Pins, Sendemodul, SendemodulConfig};
use crate::servicebus::{BrokerConfig, Participant};

/// The PIN seed file of [`SendemodulPins::Kept`], in the state directory.
pub const PIN_SEED_FILE: &str = "sendemodul-pins.json";
/// The intake's file in the state directory.
pub const INTAKE_FILE: &str = "intake.sqlite";

/// Builds a [`National`]; see the module docs of [`super`].
#[derive(Clone)]
pub struct NationalBuilder {
    bind: IpAddr,
    state_dir: Option<PathBuf>,
    clock: Option<Arc<dyn Clock>>,
    data_year: Option<i32>,
    servicebus: Option<ServicebusOptions>,
    sendemodul: Option<SendemodulOptions>,
    filsluse: Option<FilsluseOptions>,
    mail: Option<MailOptions>,
    ticker: bool,
    operator: Option<OperatorOptions>,
    http: HttpLimits,
}

impl std::fmt::Debug for NationalBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NationalBuilder")
            .field("bind", &self.bind)
            .field("state_dir", &self.state_dir)
            .field("data_year", &self.data_year)
            .field("servicebus", &self.servicebus)
            .field("sendemodul", &self.sendemodul)
            .field("filsluse", &self.filsluse)
            .field("mail", &self.mail)
            .field("ticker", &self.ticker)
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl Default for NationalBuilder {
    fn default() -> Self {
        NationalBuilder {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            state_dir: None,
            clock: None,
            data_year: None,
            servicebus: None,
            sendemodul: None,
            filsluse: None,
            mail: None,
            ticker: false,
            operator: None,
            http: HttpLimits::default(),
        }
    }
}

impl National {
    /// A builder with nothing to start, 127.0.0.1, the system clock, no state directory.
    pub fn builder() -> NationalBuilder {
        NationalBuilder::default()
    }
}

impl NationalBuilder {
    /// The address every endpoint listens on (default 127.0.0.1; anything else exposes
    /// the test endpoints).
    pub fn bind(mut self, ip: IpAddr) -> Self {
        self.bind = ip;
        self
    }

    /// Keep state in `dir` (created if missing); without one everything is in memory.
    pub fn state_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.state_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The clock of every endpoint (default the system clock; a season passes its
    /// virtual clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The season's data year: the receiver's IPLOS check (else each message's own),
    /// Sendemodul's login registry and submissions (required with Sendemodul), the
    /// operator API's feedback.
    pub fn data_year(mut self, year: i32) -> Self {
        self.data_year = Some(year);
        self
    }

    /// Start the broker and the register's receiver.
    pub fn servicebus(mut self, options: ServicebusOptions) -> Self {
        self.servicebus = Some(options);
        self
    }

    /// Start Sendemodul and SSB's intake.
    pub fn sendemodul(mut self, options: SendemodulOptions) -> Self {
        self.sendemodul = Some(options);
        self
    }

    /// Start the filsluse (and the mail capture).
    pub fn filsluse(mut self, options: FilsluseOptions) -> Self {
        self.filsluse = Some(options);
        self
    }

    /// Start the mail capture with these options (it starts with defaults when filsluse,
    /// the receipt ticker or the operator API need it).
    pub fn mail(mut self, options: MailOptions) -> Self {
        self.mail = Some(options);
        self
    }

    /// Send owed receipts every few seconds (needs Sendemodul; starts the mail capture).
    pub fn receipt_ticker(mut self) -> Self {
        self.ticker = true;
        self
    }

    /// Start SSB's operator API (needs Sendemodul and filsluse).
    pub fn operator(mut self, options: OperatorOptions) -> Self {
        self.operator = Some(options);
        self
    }

    /// The limits of every HTTP server (Sendemodul, filsluse, the mail API, the operator
    /// API); default [`HttpLimits::default`] (30 s header timeout, 32 KiB heads, 1 024
    /// connections each).
    pub fn http_limits(mut self, limits: HttpLimits) -> Self {
        self.http = limits;
        self
    }

    /// Starts what was asked for; on failure stops what had started.
    pub async fn start(self) -> Result<National, NationalError> {
        if (self.ticker || self.operator.is_some()) && self.sendemodul.is_none() {
            return Err(NationalError::Config(
                "the receipt ticker and the operator API need Sendemodul's intake".into(),
            ));
        }
        if self.operator.is_some() && self.filsluse.is_none() {
            return Err(NationalError::Config(
                "the operator API publishes to the filsluse: start it too".into(),
            ));
        }
        if (self.sendemodul.is_some() || self.operator.is_some()) && self.data_year.is_none() {
            return Err(NationalError::Config(
                "Sendemodul and the operator API need the data year".into(),
            ));
        }
        if let Some(dir) = &self.state_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| NationalError::start(format!("create {}", dir.display()), e))?;
        }
        let mut national = National {
            clock: self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock)),
            state_dir: self.state_dir.clone(),
            data_year: self.data_year,
            mail: None,
            outbox: None,
            notifier: None,
            filsluse: None,
            broker: None,
            receiver: None,
            external: None,
            run_store: None,
            intake: None,
            sendemodul: None,
            refusing: None,
            ticker: None,
            operator: None,
        };
        match self.start_into(&mut national).await {
            Ok(()) => Ok(national),
            Err(e) => {
                national.shutdown().await;
                Err(e)
            }
        }
    }

    fn at(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.bind, port)
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.state_dir.as_ref().map(|d| d.join(name))
    }

    async fn start_into(&self, n: &mut National) -> Result<(), NationalError> {
        let clock = n.clock.clone();
        let wants_mail = self.mail.is_some()
            || self.filsluse.is_some()
            || self.ticker
            || self.operator.is_some();
        if wants_mail {
            self.start_mail(n).await?;
        }
        if let Some(fs) = &self.filsluse {
            self.start_filsluse(n, fs).await?;
        }
        if let Some(sb) = &self.servicebus {
            self.start_servicebus(n, sb).await?;
        }
        if let Some(sm) = &self.sendemodul {
            self.start_sendemodul(n, sm).await?;
        }
        if self.ticker
            && let (Some(intake), Some(outbox)) = (&n.intake, &n.outbox)
        {
            n.ticker = Some(crate::intake::spawn_receipt_ticker(
                intake.clone(),
                outbox.clone(),
                clock.clone(),
            ));
        }
        if let Some(op) = &self.operator
            && let (Some(intake), Some(filsluse), Some(outbox), Some(year)) =
                (&n.intake, &n.filsluse, &n.outbox, self.data_year)
        {
            let operator = Operator {
                intake: intake.clone(),
                filsluse: filsluse.clone(),
                year,
                kommuner: Arc::new(op.kommuner.clone()),
                outbox: outbox.clone(),
                clock,
            };
            let token = op
                .token
                .clone()
                .unwrap_or_else(crate::http_auth::random_token);
            n.operator =
                Some(OperatorServer::start(self.at(op.port), operator, token, self.http).await?);
        }
        Ok(())
    }

    async fn start_mail(&self, n: &mut National) -> Result<(), NationalError> {
        let options = self.mail.clone().unwrap_or_default();
        let config = MailConfig {
            smtp_bind: self.at(options.smtp_port),
            http_bind: Some(self.at(options.http_port)),
            storage: match self.path("mail") {
                Some(dir) => Storage::Dir(dir),
                None => Storage::Memory,
            },
            http_limits: self.http,
            ..MailConfig::default()
        };
        let mail = MailServer::start(config, n.clock.clone())
            .await
            .map_err(|e| NationalError::start("start the mail capture", e))?;
        let outbox_config = options
            .relay
            .clone()
            .unwrap_or_else(|| OutboxConfig::for_capture(&mail));
        n.outbox = Some(Arc::new(Outbox::new(outbox_config, n.clock.clone())));
        n.mail = Some(mail);
        Ok(())
    }

    async fn start_filsluse(
        &self,
        n: &mut National,
        options: &FilsluseOptions,
    ) -> Result<(), NationalError> {
        let outbox_config = match &n.outbox {
            Some(o) => o.config().clone(),
            None => return Err(NationalError::Config("filsluse without mail".into())),
        };
        // Its own outbox: the portal's mails are numbered apart from the receipts.
        let notifier = Arc::new(MailNotifier::start(Arc::new(Outbox::new(
            outbox_config,
            n.clock.clone(),
        ))));
        n.notifier = Some(notifier.clone());
        let defaults = FilsluseConfig::default();
        let config = FilsluseConfig {
            bind: self.at(options.port),
            state_dir: self.path("filsluse"),
            kdf_iterations: options.kdf_iterations.unwrap_or(defaults.kdf_iterations),
            http: self.http,
            ..defaults
        };
        let filsluse = Filsluse::start(config, n.clock.clone(), notifier)
            .await
            .map_err(|e| NationalError::start("start filsluse", e))?;
        // A new user gets the "Ny bruker" mail.
        let filsluse = Arc::new(filsluse);
        n.filsluse = Some(filsluse.clone());
        for spec in &options.users {
            let known = filsluse
                .user(&spec.username)
                .map_err(|e| NationalError::start("read the filsluse users", e))?;
            if known.is_none() {
                filsluse.create_user(spec).map_err(|e| {
                    NationalError::start(format!("create the filsluse user {}", spec.username), e)
                })?;
            }
        }
        Ok(())
    }

    async fn start_servicebus(
        &self,
        n: &mut National,
        options: &ServicebusOptions,
    ) -> Result<(), NationalError> {
        let clock = n.clock.clone();
        let store = Arc::new(
            match self.path(RUN_STORE_FILE) {
                Some(path) => RunStore::open(&path, clock.clone()),
                None => RunStore::in_memory(clock.clone()),
            }
            .map_err(|e| NationalError::start("open the run store", e))?,
        );
        n.run_store = Some(store.clone());
        let addr = self.at(options.port);
        let mut cfg = BrokerConfig::new()
            .with_bind(addr)
            .with_namespace(options.namespace.clone())
            .with_store(store.clone())
            .with_clock(clock.clone())
            .with_limits(options.limits.clone());
        if let Some(tls) = &options.tls {
            cfg = cfg.with_tls(tls.clone());
        }
        if let Some(faults) = &options.faults {
            cfg = cfg.with_faults(faults.clone());
        }
        let register = &options.register;
        let mut participants = options.participants.clone();
        for h in &register.her_ids {
            if !participants.iter().any(|p| p.her_id == *h) {
                participants.push(Participant::new(
                    *h,
                    format!("register{h}"),
                    random_password(),
                ));
            }
        }
        let receiver_config = ReceiverConfig {
            her_ids: register.her_ids.clone(),
            name: register.identity.name.clone(),
            data_year: self.data_year,
            clock: clock.clone(),
            failpoint: register.failpoint,
            injector: register.injector.clone(),
            own_identities: register.own_identities.clone(),
            ..ReceiverConfig::default()
        };
        if let Some(external) = &options.external {
            let run =
                super::external::start(options, external, &participants, store, receiver_config)
                    .await?;
            n.external = Some(run);
            return Ok(());
        }
        for p in &participants {
            cfg = cfg.with_participant(p.her_id, &p.username, &p.password);
        }
        let broker = cfg
            .start()
            .await
            .map_err(|e| NationalError::start(format!("start the AMQP broker on {addr}"), e))?;
        let bus = broker.bus();
        n.broker = Some(broker);
        let receiver = Receiver::start(
            bus,
            store,
            register.identity.clone(),
            register.directory.clone(),
            receiver_config,
        )
        .await
        .map_err(|e| NationalError::start("start the receiver", e))?;
        n.receiver = Some(receiver);
        Ok(())
    }

    async fn start_sendemodul(
        &self,
        n: &mut National,
        options: &SendemodulOptions,
    ) -> Result<(), NationalError> {
        let clock = n.clock.clone();
        let intake = match self.path(INTAKE_FILE) {
            Some(path) => Intake::open(path, clock.clone()),
            None => Intake::in_memory(clock.clone()),
        }
        .map_err(|e| NationalError::start("open the intake", e))?;
        n.intake = Some(intake.clone());
        let pins = match &options.pins {
            SendemodulPins::Given(p) => p.clone(),
            SendemodulPins::Kept(seed) => Pins::seeded(match &self.state_dir {
                Some(dir) => kept_pin_seed(dir, *seed)?,
                None => seed.unwrap_or_else(rand::random),
            }),
        };
        let defaults = SendemodulConfig::default();
        let config = |pins: Pins, state_dir: Option<PathBuf>| SendemodulConfig {
            bind: self.at(options.port),
            state_dir,
            data_year: self.data_year.unwrap_or(defaults.data_year),
            pins,
            max_part_bytes: options.max_part_bytes.unwrap_or(defaults.max_part_bytes),
            http: self.http,
            ..defaults.clone()
        };
        let state_dir = if options.keep_uploads {
            self.path("sendemodul")
        } else {
            None
        };
        let sendemodul = Sendemodul::start(config(pins, state_dir), intake, clock.clone())
            .await
            .map_err(|e| {
                NationalError::start(format!("start Sendemodul on {}", self.at(options.port)), e)
            })?;
        n.sendemodul = Some(sendemodul);
        if let Some(pins) = &options.refusing {
            let mut cfg = config(pins.clone(), None);
            cfg.bind = self.at(0);
            let own = Intake::in_memory(clock.clone())
                .map_err(|e| NationalError::start("open the refusing portal's intake", e))?;
            let refusing = Sendemodul::start(cfg, own, clock)
                .await
                .map_err(|e| NationalError::start("start the refusing Sendemodul", e))?;
            n.refusing = Some(refusing);
        }
        Ok(())
    }
}

/// 24 letters and digits (no look-alikes), from the OS's randomness.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// `sendemodul-pins.json`: the seed of the kommuner's PINs.
#[derive(Serialize, Deserialize)]
struct PinSeed {
    seed: u64,
}

/// The kept PIN seed of [`SendemodulPins::Kept`].
fn kept_pin_seed(state: &Path, seed: Option<u64>) -> Result<u64, NationalError> {
    let path = state.join(PIN_SEED_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let kept: PinSeed = serde_json::from_str(&text).map_err(|e| {
            NationalError::Data(format!("{} is not a PIN seed file: {e}", path.display()))
        })?;
        if seed.is_none_or(|s| s == kept.seed) {
            return Ok(kept.seed);
        }
    }
    let s = seed.unwrap_or_else(rand::random);
    let bytes = serde_json::to_vec(&PinSeed { seed: s })
        .map_err(|e| NationalError::Data(format!("PIN seed: {e}")))?;
    std::fs::write(&path, bytes)
        .map_err(|e| NationalError::start(format!("write {}", path.display()), e))?;
    Ok(s)
}
