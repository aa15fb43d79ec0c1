//! `iplos-harness serve`: the national side of the service bus on loopback — the AMQP
//! broker with a queue set per kommune, and the register's receiver (KPR) answering with
//! AppRecs — for a vendor's unmodified EPJ to talk to — and the Sendemodul era's endpoints
//! (Sendemodul and SSB's intake, the 08:00 receipts, filsluse, the mail capture and SSB's
//! operator API, see [`iplos_mocks::national::operator`]). The endpoints are assembled and
//! stopped by [`iplos_mocks::national::National`]; this command adds the PKI, the
//! participants, `endpoints.json` and the signals.
//!
//! # The state directory
//!
//! ```text
//! DIR/pki/                 the test PKI (`pki init` when missing); kommune pairs in DIR/pki/<herid>/
//! DIR/run.sqlite           the run store: the broker's queues (sb_*) and the receiver's
//!                          messages, verdicts and receipts (rcv_*), one SQLite file
//! DIR/participants.json    the AMQP users (mode 0600), kept across runs
//! DIR/endpoints.json       what a vendor needs (written at every start)
//! DIR/intake.sqlite        Sendemodul's intake: every file, its check report, receipts
//! DIR/sendemodul/          split uploads in progress
//! DIR/filsluse/            the portal's users, files, tokens
//! DIR/mail/                every mail captured (and .eml files)
//! DIR/sendemodul-pins.json the PIN seed (kept across runs)
//! ```
//!
//! # Participants
//!
//! Every kommune of the data year is a participant with its own HER-id and AMQP user.
//! **\[model\]** Kommuner have no public HER-ids for this purpose, so each gets
//! `9 000 000 + kommunenummer` (0301 Oslo → 9000301, 5001 Trondheim → 9005001): stable,
//! readable, and far from the register's six-digit HER-ids (a clash with a configured
//! register HER-id stops the command). The user name is `kommune<kommunenummer>`; the
//! password is 24 letters and digits, derived from `--seed` when given (the same seed gives
//! the same passwords) or random, and kept in `participants.json` so that a restart keeps
//! them.
//!
//! # Certificates: lazily, by choice
//!
//! Issuing a pair costs two RSA-2048 key generations. Measured on a 2-core test machine:
//! 2 kommuner in 0.4 s, all 357 kommuner of 2024 in 188 s (~0.5 s each; OpenSSL does the
//! work, so a release build is hardly faster), 31 MB resident. The default is therefore
//! `--certs none`: endpoints.json lists where each kommune's files
//! will be and the command that issues them (`iplos-harness pki issue --dir DIR/pki
//! --her-id H --org ORGNR --name N`); the running receiver picks new certificates up at the
//! next message. `--certs KNR,KNR` issues for some kommuner at start, `--certs all` for all
//! (once: pairs already issued are kept).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::Datelike;
use iplos_mocks::filsluse::{Filsluse, UserSpec};
use iplos_mocks::mail::MailHandle;
use iplos_mocks::national::{
    FilsluseOptions, MailOptions, National, OperatorOptions, RegisterOptions, SendemodulOptions,
    SendemodulPins, ServicebusOptions,
};
use iplos_mocks::pki::{Pki, PkiConfig, Variant};
use iplos_mocks::receiver::{
    Failpoint, FailpointAction, KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID, PkiDirectory,
    RUN_STORE_FILE,
};
use iplos_mocks::sendemodul::Sendemodul;
use iplos_mocks::servicebus::{BrokerHandle, DEFAULT_NAMESPACE, Limits, Participant, QueueKind};
use iplos_model::calendar::{Clock, SystemClock};
use iplos_model::ids::{HerId, OrgNr};
use iplos_model::municipality;
use serde::{Deserialize, Serialize};

use self::endpoints::{
    AdminEndpoint, Amqp, Certificates, Endpoints, FilsluseEndpoint, KommuneEndpoint, MailEndpoint,
    PkiFiles, RegisterEndpoint, SendemodulEndpoint, StateFiles, cert_paths,
};
use super::pki::PartyFiles;
use crate::files::write_atomic;
use crate::identity::{KOMMUNE_HER_BASE, kommune_her_id, password};

mod contacts;
mod endpoints;

/// The environment variable naming a failpoint of the receiver (`after-store`,
/// `after-check`, `after-accept`): the process aborts there (restart tests).
pub const FAILPOINT_ENV: &str = "IPLOS_HARNESS_FAILPOINT";

/// Start the national side of the service bus: the AMQP broker (NHN) and the register's
/// receiver (KPR), on 127.0.0.1, for every kommune of the data year.
///
/// Writes DIR/endpoints.json (AMQP address, namespace, queues, per kommune the HER-id, user,
/// password and certificate files) and runs until Ctrl-C or SIGTERM, then stops cleanly.
/// Everything received, every verdict and receipt is kept in DIR/run.sqlite; a restart on
/// the same DIR continues where it stopped.
///
/// Exit 0 after a clean stop, 2 when it could not start (unusable state directory, port
/// in use, unknown year).
#[derive(clap::Args)]
pub struct Args {
    /// The state directory (created if missing).
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// Data year: its kommuner are the participants, and the IPLOS check uses it
    /// (default: the current year).
    #[arg(long, value_name = "Y")]
    year: Option<u16>,
    /// AMQP port (plain AMQP, NHN's 5672); 0 picks a free one.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    amqp_port: u16,
    /// The address to listen on. Anything but loopback exposes the test bus.
    #[arg(long, value_name = "IP", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// The namespace (exchange) in `/exchange/<namespace>/<queue>`.
    #[arg(long, value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    /// The register's HER-ids (default 134197 KPR and 131725 KPR Validering). Repeat.
    #[arg(long = "register-her-id", value_name = "H")]
    register_her_ids: Vec<u32>,
    /// Derive the AMQP passwords from this seed (default: random, kept in the state dir).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Issue certificate pairs at start: `none`, `all`, or kommunenummer, comma-separated.
    #[arg(long, value_name = "none|all|KNR,...", default_value = "none")]
    certs: String,
    /// Largest AMQP message the broker takes, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 100)]
    max_message_mib: u64,
    /// Sendemodul's HTTP port (`/Sendemodul/`, `/SendemodulTEST/`); 0 picks a free one.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    sendemodul_port: u16,
    /// Filsluse's HTTP port (HTML and the MOVEit REST API); 0 picks a free one.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    filsluse_port: u16,
    /// The mail capture's SMTP port; 0 picks a free one.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    smtp_port: u16,
    /// The mail capture's HTTP reading API port; 0 picks a free one.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    mail_http_port: u16,
    /// SSB's operator API (publish feedback); 0 picks a free one.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    admin_port: u16,
    /// Send the national side's mail (receipts, filsluse) to this SMTP server instead of
    /// the capture, e.g. `smtp.example.org:25`. Needs `--contacts`.
    #[arg(long, value_name = "HOST:PORT")]
    smtp_relay: Option<String>,
    /// Use this RabbitMQ (one node or a cluster's nodes) instead of starting our broker:
    /// `amqp[s]://USER:PASS@HOST:PORT[,amqp[s]://HOST2:PORT2...]`. The run gets a vhost of
    /// its own (`iplos-serve-<state dir name>-<hash>`, kept across restarts); the register's
    /// receiver is an AMQP client of it. Needs --broker-management; `amqps` needs
    /// --broker-ca.
    #[arg(long, value_name = "URL", requires = "broker_management")]
    broker: Option<String>,
    /// The CA certificate(s) (PEM) that RabbitMQ's TLS certificates are verified against,
    /// for `--broker amqps://…` and `--broker-management https://…` (the register's receiver
    /// and, in endpoints.json, the kommuner's clients).
    #[arg(long, value_name = "FILE", requires = "broker")]
    broker_ca: Option<PathBuf>,
    /// RabbitMQ's management API, `http[s]://USER:PASS@HOST:PORT` (a user with the
    /// administrator tag: it creates the run's vhost, users and queues); https is verified
    /// against --broker-ca.
    #[arg(long, value_name = "URL", requires = "broker")]
    broker_management: Option<String>,
    /// Real test mailboxes for some kommuner (`KOMMUNENUMMER ADDRESS` per line, `#`
    /// comments): their filsluse mail goes there. Without it every address is synthetic, on
    /// the reserved `.test` domain.
    #[arg(long, value_name = "FILE")]
    contacts: Option<PathBuf>,
}

/// One AMQP user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Credential {
    her_id: u32,
    username: String,
    password: String,
}

/// `participants.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Participants {
    year: u16,
    seed: Option<u64>,
    /// Kommunenummer → credential.
    kommuner: BTreeMap<String, Credential>,
    /// The register's users (not handed out: the receiver works in-process).
    register: Vec<Credential>,
}

/// The running endpoints that endpoints.json and the summary describe (serve starts all).
struct Web<'a> {
    broker: Option<&'a BrokerHandle>,
    sendemodul: &'a Sendemodul,
    filsluse: &'a Filsluse,
    mail: &'a MailHandle,
    admin_url: String,
    admin_token: String,
    /// Owed replies sent at start.
    recovered: usize,
}

impl<'a> Web<'a> {
    fn of(n: &'a National) -> Result<Web<'a>> {
        let missing = |what: &str| anyhow::anyhow!("the national side started without {what}");
        Ok(Web {
            broker: n.broker(),
            sendemodul: n.sendemodul().ok_or_else(|| missing("Sendemodul"))?,
            filsluse: n.filsluse().ok_or_else(|| missing("filsluse"))?,
            mail: n.mail().ok_or_else(|| missing("the mail capture"))?,
            admin_url: n
                .operator_url()
                .ok_or_else(|| missing("the operator API"))?
                .to_string(),
            admin_token: n
                .operator_token()
                .ok_or_else(|| missing("the operator API"))?
                .to_string(),
            recovered: n.receiver().map_or(0, |r| r.recovered()),
        })
    }
}

fn participants(
    state: &Path,
    year: u16,
    seed: Option<u64>,
    kommuner: &[&municipality::Municipality],
    register: &[HerId],
) -> Result<Participants> {
    let path = state.join("participants.json");
    if path.exists() {
        let p: Participants = serde_json::from_slice(&fs::read(&path)?)
            .with_context(|| format!("{} is not readable", path.display()))?;
        if p.year != year {
            bail!(
                "{} holds the participants of data year {}, not {year}: use another --state",
                state.display(),
                p.year
            );
        }
        if seed.is_some() && p.seed != seed {
            bail!(
                "{} was made with seed {:?}; start without --seed or with the same seed",
                state.display(),
                p.seed
            );
        }
        return Ok(p);
    }
    let mut out = Participants {
        year,
        seed,
        kommuner: BTreeMap::new(),
        register: Vec::new(),
    };
    for k in kommuner {
        let her = kommune_her_id(k.number())?;
        out.kommuner.insert(
            k.number().to_string(),
            Credential {
                her_id: her.get(),
                username: format!("kommune{}", k.number()),
                password: password(seed, k.number())?,
            },
        );
    }
    for h in register {
        out.register.push(Credential {
            her_id: h.get(),
            username: format!("register{h}"),
            // Never handed out: random even with a seed.
            password: password(None, "register")?,
        });
    }
    write_atomic(&path, &serde_json::to_vec_pretty(&out)?, true)?;
    Ok(out)
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<ExitCode> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let year = match args.year {
        Some(y) => y,
        None => u16::try_from(clock.now().year()).context("current year")?,
    };
    let kommuner: Vec<&municipality::Municipality> = municipality::municipalities(year)
        .with_context(|| format!("no kommuner for data year {year}"))?
        .iter()
        .collect();
    let register: Vec<HerId> = if args.register_her_ids.is_empty() {
        vec![
            HerId::new(KPR_PRODUCTION_HER_ID)?,
            HerId::new(KPR_VALIDATION_HER_ID)?,
        ]
    } else {
        args.register_her_ids
            .iter()
            .map(|h| HerId::new(*h).with_context(|| format!("--register-her-id {h}")))
            .collect::<Result<_>>()?
    };
    for k in &kommuner {
        let h = kommune_her_id(k.number())?;
        if register.contains(&h) {
            bail!("kommune {} would get the register's HER-id {h}", k.number());
        }
    }
    if args.smtp_relay.is_some() && args.contacts.is_none() {
        bail!(
            "--smtp-relay needs --contacts FILE: every kommune's address is synthetic \
             (postmottak@<kommune>.kommune.test), and the harness never mails real people \
             unless told which test mailboxes to use. List them in a file, one \
             `KOMMUNENUMMER ADDRESS` per line, and pass it with --contacts."
        );
    }
    let contacts = match &args.contacts {
        Some(path) => {
            let known: Vec<&str> = kommuner.iter().map(|k| k.number()).collect();
            contacts::read(path, &known)?
        }
        None => contacts::Contacts::new(),
    };
    fs::create_dir_all(&args.state)
        .with_context(|| format!("cannot create {}", args.state.display()))?;
    let state = fs::canonicalize(&args.state)?;

    // PKI.
    let pki_dir = state.join("pki");
    let mut pki = if pki_dir.join("index.json").exists() {
        Pki::load(&pki_dir)
            .with_context(|| format!("cannot read the PKI in {}", pki_dir.display()))?
    } else {
        Pki::init_with(
            &pki_dir,
            PkiConfig {
                register_her_id: register[0].get(),
                ..PkiConfig::default()
            },
        )
        .with_context(|| format!("cannot create a PKI in {}", pki_dir.display()))?
    };
    let wanted: Vec<&municipality::Municipality> = match args.certs.trim() {
        "none" | "" => Vec::new(),
        "all" => kommuner.clone(),
        list => {
            let mut v = Vec::new();
            for knr in list.split(',').map(str::trim) {
                match kommuner.iter().find(|k| k.number() == knr) {
                    Some(k) => v.push(*k),
                    None => bail!("--certs: {knr} is not a kommune of {year}"),
                }
            }
            v
        }
    };
    let started = Instant::now();
    let mut issued_now = 0;
    for k in &wanted {
        let her = kommune_her_id(k.number())?;
        let has = pki
            .index()
            .issued
            .iter()
            .any(|r| r.her_id == her.get() && r.variant == Variant::Valid);
        if !has {
            let org =
                OrgNr::parse(k.orgnr()).with_context(|| format!("orgnr of {}", k.number()))?;
            pki.issue(her, &org, &format!("{} kommune", k.name()))?;
            issued_now += 1;
        }
    }
    let issue_time = started.elapsed();
    let register_party = pki.register()?;
    let issued_hers: std::collections::HashSet<u32> = pki
        .index()
        .issued
        .iter()
        .filter(|r| r.variant == Variant::Valid)
        .map(|r| r.her_id)
        .collect();

    // Participants; the broker, the receiver, Sendemodul, filsluse, mail, the receipt
    // ticker and the operator API.
    let parts = participants(&state, year, args.seed, &kommuner, &register)?;
    let store_path = state.join(RUN_STORE_FILE);
    let failpoint = match std::env::var(FAILPOINT_ENV) {
        Ok(v) if !v.is_empty() => Some((
            Failpoint::parse(&v)
                .with_context(|| format!("{FAILPOINT_ENV}={v}: unknown failpoint"))?,
            FailpointAction::Abort,
        )),
        _ => None,
    };
    let mut bus = ServicebusOptions::new(
        parts
            .kommuner
            .values()
            .chain(parts.register.iter())
            .map(|c| {
                Ok(Participant::new(
                    HerId::new(c.her_id)?,
                    &c.username,
                    &c.password,
                ))
            })
            .collect::<Result<_>>()?,
        RegisterOptions::new(
            register_party.clone(),
            Arc::new(PkiDirectory::new(&pki_dir)),
            register.clone(),
        )
        .with_failpoint(failpoint),
    );
    bus.port = args.amqp_port;
    bus.namespace = args.namespace.clone();
    bus.limits = Limits {
        max_message_size: args.max_message_mib * 1024 * 1024,
        ..Limits::default()
    };
    if let (Some(b), Some(m)) = (&args.broker, &args.broker_management) {
        let mut external =
            super::broker::external("serve", &state, b, m, args.broker_ca.as_deref())?;
        // The run continues when serve starts again on the same DIR.
        external.teardown = false;
        bus.external = Some(external);
    }
    let relay = match &args.smtp_relay {
        Some(r) => Some(MailOptions::parse_relay(r).context("--smtp-relay")?),
        None => None,
    };
    let national = National::builder()
        .state_dir(&state)
        .bind(args.bind)
        .clock(clock.clone())
        .data_year(i32::from(year))
        .servicebus(bus)
        .sendemodul(SendemodulOptions {
            port: args.sendemodul_port,
            pins: SendemodulPins::Kept(args.seed),
            ..SendemodulOptions::default()
        })
        .filsluse(FilsluseOptions {
            port: args.filsluse_port,
            // One user per kommune; a new one gets the "Ny bruker" mail.
            users: kommuner
                .iter()
                .map(|m| UserSpec {
                    email: contacts.get(m.number()).cloned(),
                    ..UserSpec::for_municipality(m)
                })
                .collect(),
            ..FilsluseOptions::default()
        })
        .mail(MailOptions {
            smtp_port: args.smtp_port,
            http_port: args.mail_http_port,
            relay,
        })
        .receipt_ticker()
        .operator(OperatorOptions::for_municipalities(
            args.admin_port,
            &kommuner,
        ))
        .start()
        .await?;
    let web = Web::of(&national)?;
    // endpoints.json (on RabbitMQ: its first node).
    let (host, port) = match (web.broker, national.external()) {
        (Some(b), _) => (b.local_addr().ip().to_string(), b.port()),
        (None, Some(x)) => {
            let node = &x.broker().broker.nodes[0];
            (node.host.clone(), node.port)
        }
        (None, None) => anyhow::bail!("the national side started without a service bus"),
    };
    let ca = national.servicebus_tls_ca().map(|p| p.to_path_buf());
    let scheme = if ca.is_some() { "amqps" } else { "amqp" };
    let url = format!("{scheme}://{host}:{port}");
    let mut kommune_eps = Vec::new();
    for k in &kommuner {
        let c = &parts.kommuner[k.number()];
        let name = format!("{} kommune", k.name());
        kommune_eps.push(KommuneEndpoint {
            kommunenummer: k.number().to_string(),
            name: name.clone(),
            orgnr: k.orgnr().to_string(),
            bydel: "00",
            sendemodul_pin: web.sendemodul.pin(k.number()),
            filsluse_username: k.postmottak().to_lowercase(),
            mail_to: contacts
                .get(k.number())
                .cloned()
                .unwrap_or_else(|| k.postmottak().to_lowercase()),
            her_id: c.her_id,
            username: c.username.clone(),
            password: c.password.clone(),
            connection_string: national
                .servicebus_connection_string(&c.username, &c.password)
                .unwrap_or_default(),
            queues: QueueKind::ALL
                .iter()
                .map(|q| {
                    (
                        q.suffix(),
                        q.queue_name(HerId::new(c.her_id).expect("valid")),
                    )
                })
                .collect(),
            certificates: Certificates {
                issued: issued_hers.contains(&c.her_id),
                files: cert_paths(&pki_dir, c.her_id),
                issue_command: format!(
                    "iplos-harness pki issue --dir {} --her-id {} --org {} --name {:?}",
                    pki_dir.display(),
                    c.her_id,
                    k.orgnr(),
                    name
                ),
            },
        });
    }
    let reg_files = PartyFiles::of(&register_party);
    let endpoints = Endpoints {
        generated_by: format!("iplos-harness {}", env!("CARGO_PKG_VERSION")),
        data_year: year,
        amqp: Amqp {
            host: host.clone(),
            port,
            tls: ca.is_some(),
            ca,
            url: url.clone(),
            namespace: args.namespace.clone(),
            send_address: format!("/exchange/{}/{{queue}}", args.namespace),
            receive_address: "/amq/queue/{queue}".into(),
            sasl: "PLAIN",
            max_message_bytes: args.max_message_mib * 1024 * 1024,
        },
        sendemodul: SendemodulEndpoint {
            ordinary_url: format!("{}/Sendemodul/", web.sendemodul.base_url()),
            test_url: format!("{}/SendemodulTEST/", web.sendemodul.base_url()),
            login_fields: ["kommunenr", "bydel", "orgnr", "pin"],
            upload_fields: [
                "fil",
                "epost",
                "telefon",
                "tilbakemeldingspassord",
                "del",
                "antall_deler",
                "gruppe",
            ],
        },
        filsluse: FilsluseEndpoint {
            url: web.filsluse.base_url().to_string(),
            api: format!("{}/api/v1", web.filsluse.base_url()),
            home_root: iplos_mocks::filsluse::HOME_ROOT,
            new_user_request: web.filsluse.new_user_link(),
        },
        mail: MailEndpoint {
            smtp: web.mail.smtp_addr().to_string(),
            http_api: web.mail.http_url().unwrap_or_default(),
            token: web.mail.http_token().to_string(),
            relay: args.smtp_relay.clone(),
            contacts: args.contacts.clone(),
        },
        admin: AdminEndpoint {
            url: web.admin_url.clone(),
            token: web.admin_token.clone(),
            publish_feedback: format!(
                "POST {}/feedback/{{kommunenummer}}?kind=test|ordinary",
                web.admin_url
            ),
        },
        register: register
            .iter()
            .map(|h| RegisterEndpoint {
                her_id: h.get(),
                name: register_party.name.clone(),
                role: match h.get() {
                    KPR_VALIDATION_HER_ID => "validation",
                    KPR_PRODUCTION_HER_ID => "production",
                    _ => "register",
                },
                queue: QueueKind::Async.queue_name(*h),
                send_address: format!(
                    "/exchange/{}/{}",
                    args.namespace,
                    QueueKind::Async.queue_name(*h)
                ),
            })
            .collect(),
        pki: PkiFiles {
            dir: pki_dir.clone(),
            ca: pki.ca_path(),
            crl: pki.crl_path(),
            p12_password: pki.config().p12_password.clone(),
            register_signing_cert: reg_files.signing_cert.clone(),
            register_encryption_cert: reg_files.encryption_cert.clone(),
        },
        state: StateFiles {
            dir: state.clone(),
            run_store: store_path.clone(),
        },
        kommuner: kommune_eps,
    };
    let endpoints_path = state.join("endpoints.json");
    write_atomic(
        &endpoints_path,
        &serde_json::to_vec_pretty(&endpoints)?,
        true,
    )?;

    // Summary.
    println!(
        "iplos-harness serve: data year {year}, {} kommuner",
        kommuner.len()
    );
    println!(
        "  AMQP        {url}  namespace {}  (SASL PLAIN, no TLS)",
        args.namespace
    );
    for r in &endpoints.register {
        println!(
            "  register    HER-id {} ({}): send to {}",
            r.her_id, r.role, r.send_address
        );
    }
    println!(
        "  kommuner    HER-id 9000000 + kommunenummer; user kommune<knr>; receive from /amq/queue/<herid>_async and _error"
    );
    println!(
        "  certificates {} kommuner issued ({} now, {:.1} s); others: see issue_command in endpoints.json",
        issued_hers
            .iter()
            .filter(|h| **h >= KOMMUNE_HER_BASE)
            .count(),
        issued_now,
        issue_time.as_secs_f64()
    );
    println!(
        "  PKI         {} (CA {})",
        pki_dir.display(),
        pki.ca_path().display()
    );
    println!(
        "  Sendemodul  {}/Sendemodul/ and /SendemodulTEST/ (kommunenr, bydel 00, orgnr, PIN from endpoints.json)",
        web.sendemodul.base_url()
    );
    println!(
        "  filsluse    {} (REST {}/api/v1); users: each kommune's postmottak address",
        web.filsluse.base_url(),
        web.filsluse.base_url()
    );
    println!(
        "  mail        SMTP {}  read: {}{}",
        web.mail.smtp_addr(),
        web.mail.http_url().unwrap_or_default(),
        args.smtp_relay
            .as_ref()
            .map(|r| format!("  (national mail relayed to {r})"))
            .unwrap_or_default()
    );
    println!(
        "  operator    POST {}/feedback/<kommunenummer>?kind=test|ordinary publishes feedback",
        web.admin_url
    );
    println!("  run store   {}", store_path.display());
    println!("  endpoints   {}", endpoints_path.display());
    if web.recovered > 0 {
        println!("  recovered   {} owed receipt(s) sent", web.recovered);
    }
    let signals = StopSignals::install()?;
    println!("ready; Ctrl-C stops");
    let _ = std::io::stdout().flush();

    signals.wait().await?;
    println!("stopping");
    national.shutdown().await;
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM and SIGINT, installed before "ready" is printed (a signal right after it must
/// stop the server cleanly, not kill it).
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    async fn wait(mut self) -> Result<()> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.context("Ctrl-C handler")?;
            Ok(())
        }
    }
}
