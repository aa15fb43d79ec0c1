//! The national side's mocks of one run, started: the mail capture, filsluse, and the
//! season's channel — Sendemodul with SSB's intake, or the AMQP broker with the register's
//! receiver and a test PKI.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use iplos_model::calendar::{Clock, VirtualClock};
use iplos_model::municipality::Municipality;

use super::world::{Channel, EngineConfig, SendemodulSide, ServicebusSide, World};
use crate::client::{self, FilsluseClient, Mailbox};
use crate::scenario::ChannelSpec;

pub(crate) async fn start_world(
    cfg: &EngineConfig,
    clock: Arc<VirtualClock>,
    chosen: &[&'static Municipality],
) -> Result<World> {
    use iplos_mocks::mail::{MailConfig, MailServer, Outbox};
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let mail = MailServer::start(
        MailConfig::in_dir(cfg.state_dir.join("mail")),
        dyn_clock.clone(),
    )
    .await
    .context("starting the mail capture")?;
    let outbox = Outbox::to_capture(&mail, dyn_clock.clone());
    let notifier_outbox = Arc::new(Outbox::to_capture(&mail, dyn_clock.clone()));
    let http = client::http()?;
    let mailbox = Mailbox::new(
        http.clone(),
        mail.http_url()
            .ok_or_else(|| anyhow!("the mail capture has no HTTP API"))?,
        mail.http_token().to_string(),
    );
    let notifier = Arc::new(iplos_mocks::filsluse::MailNotifier::start(notifier_outbox));
    let fs_config = iplos_mocks::filsluse::FilsluseConfig {
        state_dir: Some(cfg.state_dir.join("filsluse")),
        // [model] a rehearsal sets hundreds of passwords: a cheaper KDF keeps it fast.
        kdf_iterations: 1_000,
        ..Default::default()
    };
    let filsluse =
        iplos_mocks::filsluse::Filsluse::start(fs_config, dyn_clock.clone(), notifier.clone())
            .await
            .context("starting filsluse")?;
    let fs_client = FilsluseClient::new(http.clone(), format!("http://{}", filsluse.addr()));
    let channel = match cfg.scenario.season.channel {
        ChannelSpec::Sendemodul => {
            let intake = iplos_mocks::intake::Intake::open(
                cfg.state_dir.join("intake.sqlite"),
                dyn_clock.clone(),
            )
            .context("opening the intake")?;
            let server = iplos_mocks::sendemodul::Sendemodul::start(
                iplos_mocks::sendemodul::SendemodulConfig {
                    data_year: cfg.scenario.season.data_year,
                    pins: iplos_mocks::sendemodul::Pins::seeded(cfg.seed),
                    state_dir: Some(cfg.state_dir.join("sendemodul")),
                    ..Default::default()
                },
                intake.clone(),
                dyn_clock.clone(),
            )
            .await
            .context("starting Sendemodul")?;
            Channel::Sendemodul(SendemodulSide { intake, server })
        }
        ChannelSpec::Servicebus => Channel::Servicebus(Box::new(
            start_servicebus(cfg, dyn_clock.clone(), chosen).await?,
        )),
    };
    Ok(World {
        clock,
        mail,
        outbox,
        mailbox,
        filsluse,
        notifier,
        fs_client,
        recovering: Default::default(),
        http,
        channel,
    })
}

pub(crate) async fn start_servicebus(
    cfg: &EngineConfig,
    clock: Arc<dyn Clock>,
    kommuner: &[&'static Municipality],
) -> Result<ServicebusSide> {
    use iplos_mocks::pki::{IssueOptions, Pki, PkiConfig, Variant};
    use iplos_mocks::receiver::{Receiver, ReceiverConfig, RunStore, StaticDirectory};
    use iplos_mocks::servicebus::BrokerConfig;
    let sc = &cfg.scenario;
    let register_her = iplos_model::ids::HerId::new(
        sc.season
            .register_her_id
            .ok_or_else(|| anyhow!("no register HER-id"))?,
    )?;
    let validation_her = iplos_model::ids::HerId::new(
        sc.season
            .validation_her_id
            .ok_or_else(|| anyhow!("no validation HER-id"))?,
    )?;
    let pki_dir = cfg.state_dir.join("pki");
    let mut pki = if cfg.resume && pki_dir.join("index.json").exists() {
        Pki::load(&pki_dir).context("reading the test PKI")?
    } else {
        Pki::init_with(
            &pki_dir,
            PkiConfig {
                register_her_id: register_her.get(),
                ..PkiConfig::default()
            },
        )
        .context("creating the test PKI")?
    };
    let register = pki.register()?;
    let trust = Arc::new(pki.trust_store()?);
    let directory = Arc::new(StaticDirectory::new(pki.trust_store()?));
    // [model] One key pair (signing, encryption) certified for every kommune: RSA key
    // generation would otherwise dominate the rehearsal. Each certificate is the kommune's.
    let sign_key = iplos_mocks::pki::new_key(2048)?;
    let enc_key = iplos_mocks::pki::new_key(2048)?;
    let store = Arc::new(RunStore::open(
        &cfg.state_dir.join("run.sqlite"),
        clock.clone(),
    )?);
    let mut broker = BrokerConfig::new()
        .with_store(store.clone())
        .with_clock(clock.clone());
    let mut parties = BTreeMap::new();
    for m in kommuner {
        let her = crate::identity::kommune_her_id(m.number())?;
        let org = iplos_model::ids::OrgNr::parse(m.orgnr())
            .with_context(|| format!("orgnr of {}", m.number()))?;
        let party = pki.issue_with_keys(
            her,
            &org,
            &format!("{} kommune", m.name()),
            &IssueOptions::variant(Variant::Valid),
            Some((&sign_key, &enc_key)),
        )?;
        directory.register_party(&party);
        let user = format!("kommune{}", m.number());
        let password = format!(
            "pw{:016x}",
            iplos_generators::seed::sub_seed(cfg.seed, 0, m.number(), "amqp")
        );
        broker = broker.with_participant(her, &user, &password);
        parties.insert(m.number().to_string(), (party, user, password));
    }
    for h in [register_her, validation_her] {
        broker = broker.with_participant(
            h,
            &format!("kpr{}", h.get()),
            &format!("kpr-{:x}", cfg.seed),
        );
    }
    let broker = broker.start().await.context("starting the AMQP broker")?;
    let receiver = Receiver::start(
        broker.bus(),
        store.clone(),
        register.clone(),
        directory,
        ReceiverConfig {
            her_ids: vec![register_her, validation_her],
            name: register.name.clone(),
            data_year: Some(sc.season.data_year),
            clock,
            ..ReceiverConfig::default()
        },
    )
    .await
    .context("starting the receiver")?;
    Ok(ServicebusSide {
        broker,
        receiver,
        store,
        register,
        trust,
        kommuner: parties,
        register_her,
        validation_her,
    })
}
