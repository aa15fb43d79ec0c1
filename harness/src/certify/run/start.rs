//! The start of a session: the session directory read and checked, the run directory made
//! afresh, and — once the servers run — `run/endpoints.json` written and the endpoints
//! shown on the console.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use iplos_mocks::receiver::{KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID};

use super::endpoints::{Amqps, Endpoints, HostPort, SENDEMODUL_PART_LIMIT, SendemodulEndpoints};
use super::options::RunOptions;
use super::servers::Servers;
use crate::certify::judge::Expected;
use crate::certify::phases::{Phase, PhaseKind, Timing, phases};
use crate::certify::plan::Plan;
use crate::certify::session::{self, Credentials, Session, SigningFiles, TlsFiles};
use crate::files::write_atomic;

/// A session ready to start.
pub struct Prepared {
    /// The session directory (canonical).
    pub dir: PathBuf,
    pub session: Session,
    pub plan: Plan,
    pub timing: Timing,
    /// The phases the plan needs, and the ones to walk (`--only`).
    pub phases: Vec<Phase>,
    pub selected: Vec<PhaseKind>,
    /// `DIR/run` and `DIR/run/evidence` (made empty).
    pub run_dir: PathBuf,
    pub evidence: PathBuf,
    pub expected: Expected,
    pub creds: Credentials,
    pub tls: TlsFiles,
    /// The harness's report-signing key.
    pub signing: SigningFiles,
}

/// Reads the session and the plan, checks the options, and makes the run directory (an
/// earlier run's is replaced only with `--force`).
pub fn prepare(opts: &RunOptions) -> Result<Prepared> {
    if !(opts.time_scale > 0.0 && opts.time_scale <= 10.0) {
        bail!("--time-scale {}: must be within (0, 10]", opts.time_scale);
    }
    let dir = std::fs::canonicalize(&opts.dir)
        .with_context(|| format!("{} does not exist", opts.dir.display()))?;
    let session = Session::load(&dir)?;
    let plan = match &opts.plan {
        Some(p) => Plan::load(p)?,
        None => Plan::embedded()?,
    };
    let timing = Timing::new(opts.time_scale);
    let all_phases = phases(&plan, &timing);
    let selected: Vec<PhaseKind> = all_phases
        .iter()
        .map(|p| p.kind)
        .filter(|k| opts.only.is_empty() || opts.only.contains(k))
        .collect();
    let run_dir = dir.join("run");
    if run_dir.exists() {
        if !opts.force {
            bail!(
                "{} holds an earlier run: keep it elsewhere, or pass --force to replace it",
                run_dir.display()
            );
        }
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot remove {}", run_dir.display()))?;
    }
    let evidence = run_dir.join("evidence");
    std::fs::create_dir_all(evidence.join("messages"))?;
    let expected = Expected::load(&dir, &session)?;
    let creds = Credentials::load_or_create(&dir, &session.kommune)?;
    let tls = TlsFiles::load_or_create(&dir)?;
    let signing =
        SigningFiles::load_or_create(&dir, &session).context("the harness's report-signing key")?;
    Ok(Prepared {
        dir,
        session,
        plan,
        timing,
        phases: all_phases,
        selected,
        run_dir,
        evidence,
        expected,
        creds,
        tls,
        signing,
    })
}

impl Prepared {
    /// Writes `run/endpoints.json` for the running servers and shows the endpoints.
    pub fn announce(
        &self,
        opts: &RunOptions,
        servers: &Servers,
        wrong_port: u16,
        web: SocketAddr,
    ) -> Result<Endpoints> {
        let Prepared {
            session,
            creds,
            tls,
            ..
        } = self;
        let host = opts.bind.to_string();
        let namespace = servers.namespace()?;
        let port = servers.amqp_port()?;
        let orgnr = iplos_model::municipality::lookup(session.year, &session.kommune)
            .map(|m| m.orgnr().to_string())
            .unwrap_or_default();
        let ordinary = iplos_mocks::intake::Channel::Ordinary;
        let endpoints = Endpoints {
            kommune: session.kommune.clone(),
            sendemodul: SendemodulEndpoints {
                url: servers.sendemodul()?.portal_url(ordinary),
                refusing_url: servers.refusing()?.portal_url(ordinary),
                kommunenr: session.kommune.clone(),
                bydel: "00".into(),
                orgnr,
                pin: servers.pin.clone(),
                part_limit_bytes: SENDEMODUL_PART_LIMIT,
            },
            her_id: session.her_id,
            amqps: Amqps {
                host: host.clone(),
                port,
                namespace: namespace.clone(),
                username: creds.username.clone(),
                password: creds.password.clone(),
                ca: tls.ca.clone(),
                url: format!(
                    "amqps://{}:{}@{host}:{port}/{namespace}",
                    creds.username, creds.password
                ),
            },
            wrong_host: HostPort {
                host: host.clone(),
                port: wrong_port,
            },
            register_validation_her_id: KPR_VALIDATION_HER_ID,
            register_production_her_id: KPR_PRODUCTION_HER_ID,
            web: format!("http://{web}/"),
            status: format!("http://{web}/status.json"),
            time_scale: opts.time_scale,
            pki: session::vendor_pki_dir(&self.dir),
            address_register: format!("http://{web}/adresseregister/"),
        };
        write_atomic(
            &self.run_dir.join("endpoints.json"),
            &serde_json::to_vec_pretty(&endpoints)?,
            false,
        )?;
        println!(
            "certify run: {} — kommune {} {} (HER-id {}), plan {} {}{}",
            session.vendor,
            session.kommune,
            session.kommune_name,
            session.her_id,
            self.plan.name,
            self.plan.version,
            if opts.time_scale == 1.0 {
                String::new()
            } else {
                format!(", time scale {}", opts.time_scale)
            }
        );
        println!("  broker     {}", endpoints.amqps.url);
        println!("  trust      {}", tls.ca.display());
        println!("  wrong host {host}:{wrong_port}");
        println!(
            "  Sendemodul {} (PIN {}, parts of at most {} bytes)",
            endpoints.sendemodul.url, servers.pin, SENDEMODUL_PART_LIMIT
        );
        println!("  live page  {}", endpoints.web);
        println!("  addresses  {}<her-id>", endpoints.address_register);
        println!(
            "  endpoints  {}",
            self.run_dir.join("endpoints.json").display()
        );
        Ok(endpoints)
    }
}
