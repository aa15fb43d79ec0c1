//! The national side of one run, started with [`National::builder`]: the mail capture,
//! filsluse, and the season's channel — Sendemodul with SSB's intake, or the AMQP broker
//! with the register's receiver and a test PKI (issued here: the PKI belongs to the caller).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use iplos_mocks::national::{
    FilsluseOptions, National, RegisterOptions, SendemodulOptions, SendemodulPins,
    ServicebusOptions,
};
use iplos_mocks::pki::{IssueOptions, Pki, PkiConfig, Variant};
use iplos_mocks::receiver::StaticDirectory;
use iplos_mocks::sendemodul::Pins;
use iplos_mocks::servicebus::Participant;
use iplos_model::calendar::{Clock, VirtualClock};
use iplos_model::ids::HerId;
use iplos_model::municipality::Municipality;

use super::world::{Channel, EngineConfig, ServicebusSide, World};
use crate::client::{self, FilsluseClient, Mailbox};
use crate::scenario::ChannelSpec;

/// Starts the national side of the season on `clock` and the world around it.
pub(crate) async fn start_world(
    cfg: &EngineConfig,
    clock: Arc<VirtualClock>,
    chosen: &[&'static Municipality],
) -> Result<World> {
    let builder = National::builder()
        .state_dir(&cfg.state_dir)
        .clock(clock.clone() as Arc<dyn Clock>)
        .data_year(cfg.scenario.season.data_year)
        // [model] a rehearsal sets hundreds of passwords: a cheaper KDF keeps it fast.
        .filsluse(FilsluseOptions {
            kdf_iterations: Some(1_000),
            ..Default::default()
        });
    let (builder, channel) = match cfg.scenario.season.channel {
        ChannelSpec::Sendemodul => (
            builder.sendemodul(SendemodulOptions {
                pins: SendemodulPins::Given(Pins::seeded(cfg.seed)),
                ..Default::default()
            }),
            None,
        ),
        ChannelSpec::Servicebus => {
            let (options, side) = servicebus(cfg, chosen)?;
            (builder.servicebus(options), Some(side))
        }
    };
    let national = builder
        .start()
        .await
        .context("starting the national side")?;
    let channel = match channel {
        None => Channel::Sendemodul,
        Some(side) => Channel::Servicebus(Box::new(side)),
    };
    let http = client::http()?;
    let mail = national
        .mail()
        .ok_or_else(|| anyhow!("the mail capture did not start"))?;
    let mailbox = Mailbox::new(
        http.clone(),
        mail.http_url()
            .ok_or_else(|| anyhow!("the mail capture has no HTTP API"))?,
        mail.http_token().to_string(),
    );
    let filsluse = national
        .filsluse()
        .ok_or_else(|| anyhow!("filsluse did not start"))?;
    let fs_client = FilsluseClient::new(http.clone(), format!("http://{}", filsluse.addr()));
    Ok(World {
        clock,
        national,
        mailbox,
        fs_client,
        recovering: Default::default(),
        http,
        channel,
    })
}

/// The service bus's options and the kommune side of it: the test PKI (kept in
/// `<state>/pki` across `--resume`), one certificate pair per kommune, the AMQP
/// participants with their seeded passwords.
fn servicebus(
    cfg: &EngineConfig,
    kommuner: &[&'static Municipality],
) -> Result<(ServicebusOptions, ServicebusSide)> {
    let sc = &cfg.scenario;
    let register_her = HerId::new(
        sc.season
            .register_her_id
            .ok_or_else(|| anyhow!("no register HER-id"))?,
    )?;
    let validation_her = HerId::new(
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
    let mut participants = Vec::new();
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
        participants.push(Participant::new(her, &user, &password));
        parties.insert(m.number().to_string(), (party, user, password));
    }
    for h in [register_her, validation_her] {
        participants.push(Participant::new(
            h,
            format!("kpr{}", h.get()),
            format!("kpr-{:x}", cfg.seed),
        ));
    }
    let mut options = ServicebusOptions::new(
        participants,
        RegisterOptions::new(
            register.clone(),
            directory,
            vec![register_her, validation_her],
        ),
    );
    options.external = cfg.external.clone();
    Ok((
        options,
        ServicebusSide {
            register,
            trust,
            kommuner: parties,
            register_her,
            validation_her,
        },
    ))
}
