//! Shared setup of the receiver tests: one test PKI per test binary (kommuner with valid
//! pairs and one HER-id per bad-certificate variant), a broker on a [`RunStore`] in a
//! temporary state directory, the receiver, and reference senders.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use iplos_mocks::cms::TrustStore;
use iplos_mocks::pki::{Party, Pki, Variant};
use iplos_mocks::receiver::{
    Failpoint, FailpointAction, Receiver, ReceiverConfig, ReceiverHandle, RunStore, StaticDirectory,
};
use iplos_mocks::sender::{Counterpart, ReferenceSender, SenderConfig, SenderIdentity};
use iplos_mocks::servicebus::{AmqpMessage, BrokerConfig, BrokerHandle, Limits};
use iplos_model::calendar::SystemClock;
use iplos_model::ids::{HerId, OrgNr};

/// KPR Validering.
pub const KPR: u32 = 131_725;
/// KPR production.
pub const KPR_PROD: u32 = 134_197;
/// Oslo (0301) and Bergen (4601): valid pairs.
pub const OSLO: u32 = 9_000_301;
pub const BERGEN: u32 = 9_004_601;
/// HER-ids whose registered certificate is a bad variant (issued for Trondheim's orgnr).
pub const EXPIRED: u32 = 9_100_001;
pub const REVOKED: u32 = 9_100_002;
pub const WRONG_CA: u32 = 9_100_003;
pub const WRONG_USAGE: u32 = 9_100_004;
/// A participant with no certificate registered.
pub const NO_CERT: u32 = 9_100_005;
/// A participant with only a signing certificate registered (no encryption certificate).
pub const NO_ENCRYPTION: u32 = 9_100_006;
pub const NS: &str = "NHNTESTServiceBus";
pub const YEAR: i32 = 2024;

pub fn her(n: u32) -> HerId {
    HerId::new(n).unwrap()
}

pub fn user(n: u32) -> String {
    format!("user{n}")
}

pub fn pass(n: u32) -> String {
    format!("pass-{n}")
}

/// The PKI of the test binary.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub dir: PathBuf,
    pub register: Party,
    pub oslo: Party,
    pub bergen: Party,
    pub expired: Party,
    pub revoked: Party,
    pub wrong_ca: Party,
    pub wrong_usage: Party,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut pki = Pki::init(dir.path()).unwrap();
        let org = |s: &str| OrgNr::parse(s).unwrap();
        let oslo = pki
            .issue(her(OSLO), &org("974778874"), "Oslo kommune")
            .unwrap();
        let bergen = pki
            .issue(her(BERGEN), &org("964338531"), "Bergen kommune")
            .unwrap();
        let trondheim = org("942110464");
        let variant = |pki: &mut Pki, h: u32, v: Variant| {
            let mut p = pki
                .issue_variant(her(h), &trondheim, "Trondheim kommune", v)
                .unwrap();
            p.her_id = her(h);
            p
        };
        let expired = variant(&mut pki, EXPIRED, Variant::Expired);
        let revoked = variant(&mut pki, REVOKED, Variant::Revoked);
        let wrong_ca = variant(&mut pki, WRONG_CA, Variant::WrongCa);
        let wrong_usage = variant(&mut pki, WRONG_USAGE, Variant::WrongKeyUsage);
        Fixture {
            dir: dir.path().to_path_buf(),
            register: pki.register().unwrap(),
            oslo,
            bergen,
            expired,
            revoked,
            wrong_ca,
            wrong_usage,
            _dir: dir,
        }
    })
}

impl Fixture {
    pub fn pki(&self) -> Pki {
        Pki::load(&self.dir).unwrap()
    }

    pub fn trust(&self) -> TrustStore {
        self.pki().trust_store().unwrap()
    }

    /// The register's directory: who has which certificate.
    pub fn directory(&self) -> StaticDirectory {
        let d = StaticDirectory::new(self.trust());
        for p in [
            &self.oslo,
            &self.bergen,
            &self.expired,
            &self.revoked,
            &self.wrong_ca,
            &self.wrong_usage,
        ] {
            d.register_party(p);
        }
        // A pair registered only for signing.
        d.register(
            her(NO_ENCRYPTION),
            Some(self.bergen.signing.cert.clone()),
            None,
        );
        d
    }

    /// The party that sends as `h` (its certificates are the ones registered for `h`,
    /// except for NO_CERT and NO_ENCRYPTION which use Bergen's keys).
    pub fn party(&self, h: u32) -> Party {
        let mut p = match h {
            OSLO => self.oslo.clone(),
            BERGEN | NO_CERT | NO_ENCRYPTION => self.bergen.clone(),
            EXPIRED => self.expired.clone(),
            REVOKED => self.revoked.clone(),
            WRONG_CA => self.wrong_ca.clone(),
            WRONG_USAGE => self.wrong_usage.clone(),
            other => panic!("no party for {other}"),
        };
        p.her_id = her(h);
        p
    }

    pub fn identity(&self, h: u32, to: u32) -> SenderIdentity {
        SenderIdentity {
            party: self.party(h),
            register: Counterpart::from_party(&self.register, her(to)),
            trust: Arc::new(self.trust()),
        }
    }
}

/// Every participant of the test broker.
pub const PARTICIPANTS: [u32; 10] = [
    KPR,
    KPR_PROD,
    OSLO,
    BERGEN,
    EXPIRED,
    REVOKED,
    WRONG_CA,
    WRONG_USAGE,
    NO_CERT,
    NO_ENCRYPTION,
];

/// Options of an environment.
#[derive(Clone)]
pub struct Options {
    pub failpoint: Option<Failpoint>,
    pub max_attempts: u32,
    pub max_message_bytes: usize,
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            failpoint: None,
            max_attempts: 3,
            max_message_bytes: iplos_mocks::cms::DEFAULT_MAX_MESSAGE_BYTES,
            limits: Limits::default(),
        }
    }
}

/// A broker and a receiver on a state directory.
pub struct Env {
    pub state: tempfile::TempDir,
    pub broker: BrokerHandle,
    pub receiver: ReceiverHandle,
    pub store: Arc<RunStore>,
}

pub fn receiver_config(opts: &Options) -> ReceiverConfig {
    ReceiverConfig {
        her_ids: vec![her(KPR), her(KPR_PROD)],
        name: "KPR".into(),
        data_year: Some(YEAR),
        max_attempts: opts.max_attempts,
        max_message_bytes: opts.max_message_bytes,
        failpoint: opts.failpoint.map(|f| (f, FailpointAction::Stop)),
        ..ReceiverConfig::default()
    }
}

async fn start_on(state: tempfile::TempDir, opts: Options) -> Env {
    let path = state.path().join("run.sqlite");
    let store = Arc::new(RunStore::open(&path, Arc::new(SystemClock)).unwrap());
    let mut cfg = BrokerConfig::new()
        .with_namespace(NS)
        .with_store(store.clone())
        .with_limits(opts.limits.clone());
    for p in PARTICIPANTS {
        cfg = cfg.with_participant(her(p), &user(p), &pass(p));
    }
    let broker = cfg.start().await.unwrap();
    let f = fixture();
    let receiver = Receiver::start(
        broker.bus(),
        store.clone(),
        f.register.clone(),
        Arc::new(f.directory()),
        receiver_config(&opts),
    )
    .await
    .unwrap();
    Env {
        state,
        broker,
        receiver,
        store,
    }
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Env {
        start_on(tempfile::tempdir().unwrap(), opts).await
    }

    /// Drops broker and receiver at once (as a crash would) and starts both again on the
    /// same state directory.
    pub async fn restart(self, opts: Options) -> Env {
        let Env {
            state,
            broker,
            receiver,
            store,
        } = self;
        drop(receiver);
        drop(broker);
        drop(store);
        // Let aborted tasks release their handles on the store.
        tokio::time::sleep(Duration::from_millis(100)).await;
        start_on(state, opts).await
    }

    pub fn url(&self, h: u32) -> String {
        format!(
            "amqp://{}:{}@{}/{NS}",
            user(h),
            pass(h),
            self.broker.local_addr()
        )
    }

    /// A connected reference sender for `h`, to KPR Validering.
    pub async fn sender(&self, h: u32) -> ReferenceSender {
        self.sender_to(h, KPR).await
    }

    pub async fn sender_to(&self, h: u32, to: u32) -> ReferenceSender {
        let mut cfg = SenderConfig::new(self.url(h), fixture().identity(h, to));
        cfg.timeout = Duration::from_secs(30);
        ReferenceSender::connect(cfg).await.unwrap()
    }

    /// The messages waiting in a queue.
    pub async fn waiting(&self, queue: &str) -> Vec<AmqpMessage> {
        self.broker.bus().browse(queue).await.unwrap()
    }

    /// Waits until a queue holds `n` messages; returns them.
    pub async fn wait_for(&self, queue: &str, n: usize) -> Vec<AmqpMessage> {
        for _ in 0..600 {
            let m = self.waiting(queue).await;
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {n} message(s) in {queue}; have {}",
            self.waiting(queue).await.len()
        );
    }
}

/// The sample message for a kommune in the test year.
pub fn sample(knr: &str) -> Vec<u8> {
    iplos_mocks::sender::sample_iplos(knr, YEAR, 1)
}
