//! `iplos-harness certify`: a vendor's certification session.
//!
//! - `certify init --vendor NAME [--kommune KNR] [--year Y] [--seed S] [--scale F] --out DIR`
//!   prepares the session ([`crate::certify::session`]): `DIR/vendor/` is what the vendor
//!   gets — the population the vendor loads into its EPJ, the kommune's own test
//!   certificates and keys, the register's and the CAs' certificates, the login, a README
//!   for the vendor's tester — and `DIR/harness/` (0700) what the harness keeps: the whole
//!   test PKI, the TLS keys, the expected messages (the answer key) and its report-signing
//!   key.
//! - `certify check DIR --files EXPORT.xml [--corrections FILE]` is the offline mode: the
//!   vendor's exported files are checked (well-formedness, the official XSD, every content
//!   rule) and compared with the expected events — missing, extra and wrong events, and
//!   corrections that reference the wrong originals — with the message, the field, the rule
//!   and the line of each problem. Results go to `DIR/check/result.json` and the console.
//!   Exit 0 when every file conforms and is complete and correct, 1 when not, 2 when the
//!   check could not run.
//!
//! - `certify run DIR [--time-scale F] [--only PHASES]` is the transport session
//!   ([`crate::certify::run`]): the vendor's EPJ sends over amqps while the harness walks the
//!   plan's phases, injects the faults and writes the certification report to `DIR/run/`.
//! - `certify vendor DIR [--broken KIND]` is the harness's reference EPJ
//!   ([`crate::certify::vendor`]) playing the vendor in a running session.
//! - `certify verify DIR [--cert FILE]` checks a signed report ([`crate::certify::verify`]):
//!   exit 0 when the report, the manifest and every evidence file are as signed, 1 naming
//!   what changed, 2 when it cannot check.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::compare::{
    CompareOptions, Comparison, ServiceIds, compare_corrections, compare_with_lines,
    read_received_with,
};
use iplos_model::message::{Melding, OutputEncoding, write_message};
use iplos_model::municipality;
use iplos_model::rules::{CheckOptions, ContentState, Severity};
use iplos_reports::certification::{
    CertificationReport, Evidence, Session as CertSession, TestVerdict, VendorInfo,
};
use serde::Serialize;

/// Prepare or check a vendor's certification session.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Prepare a session directory for a vendor.
    Init(InitArgs),
    /// Offline mode: check exported files against the session's expected events.
    Check(CheckArgs),
    /// The transport session: start the endpoints, walk the plan with the vendor's EPJ,
    /// inject the faults, write the certification report.
    Run(RunArgs),
    /// The harness's reference EPJ, playing the vendor in a running session (for trying the
    /// harness, and with --broken to see the session catch a misbehaving sender).
    Vendor(VendorArgs),
    /// Check a signed report: its signatures, its manifest and every evidence file.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// A report directory (DIR/run, DIR/check, or a copy of one), or the session directory
    /// (then its run/ and check/ reports).
    dir: PathBuf,
    /// The harness certificate to expect (PEM); without it, the one next to the report.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The session directory made by `certify init`.
    dir: PathBuf,
    /// Another test plan (default: the shipped iplos-56.toml).
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Multiply every timeout and fault duration by F (below 1 to rehearse the session
    /// itself; the report says so, and a certificate needs 1).
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    time_scale: f64,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// The broker's port (amqps; 0: any free port).
    #[arg(long, default_value_t = 0)]
    amqp_port: u16,
    /// The port whose certificate is for another host name (0: any free port).
    #[arg(long, default_value_t = 0)]
    wrong_host_port: u16,
    /// The live page's port (0: any free port).
    #[arg(long, default_value_t = 0)]
    web_port: u16,
    /// Walk only these phases (comma-separated ids, e.g. test-submission,initial-load).
    #[arg(long, value_delimiter = ',', value_name = "PHASES")]
    only: Vec<String>,
    /// Replace an earlier run's results in DIR/run.
    #[arg(long)]
    force: bool,
    /// Run the service bus on this RabbitMQ (one node or a cluster's nodes) instead of our
    /// broker: `amqp[s]://USER:PASS@HOST:PORT[,amqp[s]://HOST2:PORT2...]`. The session gets a
    /// vhost of its own (`iplos-certify-<dir>-<hash>`, made afresh, removed at the end);
    /// the EPJ still connects to the session's amqps port, an AMQP front of ours in front
    /// of RabbitMQ that keeps the connection log and injects the faults. Needs
    /// --broker-management.
    #[arg(long, value_name = "URL", requires = "broker_management")]
    broker: Option<String>,
    /// RabbitMQ's management API, `http[s]://USER:PASS@HOST:PORT` (a user with the
    /// administrator tag: it creates the session's vhost, users and queues); https is
    /// verified against --broker-ca.
    #[arg(long, value_name = "URL", requires = "broker")]
    broker_management: Option<String>,
    /// The CA (PEM) that signed RabbitMQ's TLS certificate, for `--broker amqps://…` and
    /// `--broker-management https://…` (the front's and the register's connections).
    #[arg(long, value_name = "FILE", requires = "broker")]
    broker_ca: Option<PathBuf>,
    /// Keep the session's vhost, queues and users on RabbitMQ at the end.
    #[arg(long, requires = "broker")]
    broker_keep: bool,
}

#[derive(clap::Args)]
struct VendorArgs {
    /// The session directory of a running `certify run`.
    dir: PathBuf,
    /// Misbehave in one way.
    #[arg(long, value_enum)]
    broken: Option<crate::certify::vendor::Broken>,
    /// Seconds to wait for the session's endpoints.
    #[arg(long, default_value_t = 60)]
    wait: u64,
}

#[derive(clap::Args)]
struct InitArgs {
    /// The vendor (and product), e.g. "Visma Tieto Gerica".
    #[arg(long)]
    vendor: String,
    /// The kommune whose population the vendor loads.
    #[arg(long, value_name = "KNR", default_value = "4601")]
    kommune: String,
    /// The data year.
    #[arg(long, value_name = "Y", default_value_t = 2024)]
    year: u16,
    /// The seed of the population.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Population scale (1.0: the kommune's real size).
    #[arg(long, value_name = "F", default_value_t = 0.1)]
    scale: f64,
    /// The session directory (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The session directory made by `certify init`.
    dir: PathBuf,
    /// The vendor's export of the session's population (the ordinary message).
    #[arg(long, value_name = "EXPORT.xml", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// The vendor's corrections message (M/C), checked as a continuation of the export.
    #[arg(long, value_name = "FILE")]
    corrections: Option<PathBuf>,
    /// The vendor numbers tjenesteID itself (then only a consistent one-to-one mapping is
    /// required).
    #[arg(long)]
    vendor_service_ids: bool,
}

use crate::certify::session::{self, Credentials, Session, SigningFiles, TlsFiles};

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Sub::Init(a) => init(a),
        Sub::Check(a) => check(a),
        Sub::Run(a) => run_session(a),
        Sub::Vendor(a) => vendor(a),
        Sub::Verify(a) => verify(a),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run_session(a: RunArgs) -> Result<ExitCode> {
    use crate::certify::phases::PhaseKind;
    let mut only = Vec::new();
    for id in &a.only {
        match PhaseKind::ALL.into_iter().find(|k| k.as_str() == id.trim()) {
            Some(k) => only.push(k),
            None => bail!(
                "--only {id}: not a phase; the phases are {}",
                PhaseKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    let broker = match (&a.broker, &a.broker_management) {
        (Some(b), Some(m)) => {
            let mut ext = super::broker::external("certify", &a.dir, b, m, a.broker_ca.as_deref())?;
            ext.fresh = true;
            ext.teardown = !a.broker_keep;
            Some(ext)
        }
        _ => None,
    };
    let report =
        runtime()?.block_on(crate::certify::run::run(crate::certify::run::RunOptions {
            dir: a.dir,
            plan: a.plan,
            time_scale: a.time_scale,
            bind: a.bind,
            amqp_port: a.amqp_port,
            wrong_host_port: a.wrong_host_port,
            web_port: a.web_port,
            only,
            force: a.force,
            broker,
        }))?;
    Ok(
        if report.verdict == iplos_reports::certification::Verdict::Pass {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

fn vendor(a: VendorArgs) -> Result<ExitCode> {
    runtime()?.block_on(crate::certify::vendor::run(
        crate::certify::vendor::VendorOptions {
            dir: a.dir,
            broken: a.broken,
            wait: std::time::Duration::from_secs(a.wait),
        },
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn verify(a: VerifyArgs) -> Result<ExitCode> {
    use crate::certify::verify::{report_dirs, verify_report};
    let pinned = match &a.cert {
        Some(p) => Some(
            openssl::x509::X509::from_pem(
                &fs::read(p).with_context(|| format!("--cert {}", p.display()))?,
            )
            .with_context(|| format!("--cert {}: not a PEM certificate", p.display()))?,
        ),
        None => None,
    };
    let mut ok = true;
    for dir in report_dirs(&a.dir)? {
        let v = verify_report(&dir, pinned.as_ref())?;
        if v.problems.is_empty() {
            println!(
                "certify verify: {}: OK — report.json and the manifest signed by {} (sha256 fingerprint {}), {} evidence files as listed",
                dir.display(),
                v.signer,
                v.fingerprint,
                v.files
            );
        } else {
            ok = false;
            println!(
                "certify verify: {}: CHANGED — {} problem(s):",
                dir.display(),
                v.problems.len()
            );
            for p in &v.problems {
                println!("  {p}");
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn init(a: InitArgs) -> Result<ExitCode> {
    if !(a.scale > 0.0 && a.scale <= 2.0) {
        bail!("--scale {}: must be within (0, 2]", a.scale);
    }
    let m = municipality::lookup(a.year, &a.kommune)
        .with_context(|| format!("--kommune {}", a.kommune))?;
    if a.out.exists() && fs::read_dir(&a.out)?.next().is_some() {
        bail!("{} exists and is not empty", a.out.display());
    }
    let data = generate_kommune(a.year, m, &GenConfig::with_scale(a.scale), a.seed)
        .with_context(|| format!("generating {}", a.kommune))?;
    let vendor_dir = session::vendor_dir(&a.out);
    fs::create_dir_all(&vendor_dir)
        .with_context(|| format!("cannot make {}", vendor_dir.display()))?;
    let expected = session::make_harness_dir(&a.out)?.join("expected");
    fs::create_dir_all(&expected)?;
    data.write_population_jsonl(BufWriter::new(fs::File::create(
        vendor_dir.join("population.jsonl"),
    )?))?;
    write_message(
        &data.melding,
        BufWriter::new(fs::File::create(expected.join("melding.xml"))?),
        OutputEncoding::Utf8,
    )?;
    write_message(
        &data.korreksjoner,
        BufWriter::new(fs::File::create(expected.join("korreksjoner.xml"))?),
        OutputEncoding::Utf8,
    )?;
    // The throughput test's load: the largest kommune's population (PERF-01).
    crate::certify::perf::write(&a.out, a.year, a.scale, a.seed)?;
    // The kommune's certificates for the transport part: the whole PKI stays with the
    // harness; the vendor gets the kommune's own pairs and the others' certificates.
    let her = crate::identity::kommune_her_id(m.number())?;
    let mut pki = iplos_mocks::pki::Pki::init(session::harness_pki_dir(&a.out))
        .context("creating the test PKI")?;
    let org = iplos_model::ids::OrgNr::parse(m.orgnr())?;
    pki.issue(her, &org, &format!("{} kommune", m.name()))?;
    // KPR Validering 131725 has its own certificate pair, as in NHN's address register.
    crate::certify::guide::issue_validation_register(&mut pki)?;
    let registers = [
        iplos_model::ids::HerId::new(iplos_mocks::receiver::KPR_PRODUCTION_HER_ID)?,
        iplos_model::ids::HerId::new(iplos_mocks::receiver::KPR_VALIDATION_HER_ID)?,
    ];
    pki.export_party(&session::vendor_pki_dir(&a.out), her, &registers)
        .context("writing the kommune's certificates")?;
    let mut session = Session {
        vendor: a.vendor.clone(),
        kommune: m.number().to_string(),
        kommune_name: m.name().to_string(),
        year: a.year,
        seed: a.seed,
        scale: a.scale,
        her_id: her.get(),
        tool: format!("iplos-harness {}", env!("CARGO_PKG_VERSION")),
        persons: data.persons.len(),
        expected_notifications: data.melding.notifikasjoner.len(),
        expected_corrections: data.korreksjoner.notifikasjoner.len(),
        initial_load: data.stats.initial_load as usize,
        ..Default::default()
    };
    crate::certify::guide::fill(&mut session, &data, &pki.config().register_orgnr)?;
    Credentials::load_or_create(&a.out, m.number())?;
    TlsFiles::load_or_create(&a.out).context("making the session's TLS certificates")?;
    SigningFiles::load_or_create(&a.out, &session)
        .context("making the harness's report-signing key")?;
    // The vendor's folder: the README, session.json and the population's schema.
    crate::certify::guide::write_vendor_files(&vendor_dir, &session)?;
    println!(
        "certify init: session for {} in {} — kommune {} {} ({} persons), data year {}",
        session.vendor,
        a.out.display(),
        session.kommune,
        session.kommune_name,
        session.persons,
        session.year
    );
    println!(
        "  give the vendor {} (and nothing else): load population.jsonl into the EPJ, then see README.md",
        vendor_dir.display()
    );
    println!(
        "  the harness keeps {} (keys and the answer key, not for the vendor)",
        session::harness_dir(&a.out).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One file's result.
#[derive(Debug, Serialize)]
struct FileResult {
    file: String,
    role: &'static str,
    conformant: bool,
    errors: usize,
    warnings: usize,
    findings: Vec<iplos_model::rules::Finding>,
    comparison: Option<Comparison>,
    refused: Option<String>,
}

/// `check/result.json`.
#[derive(Debug, Serialize)]
struct CheckResult {
    tool: String,
    vendor: String,
    kommune: String,
    year: u16,
    verdict: &'static str,
    files: Vec<FileResult>,
}

fn check(a: CheckArgs) -> Result<ExitCode> {
    let session = Session::load(&a.dir)?;
    let crate::certify::judge::Expected {
        ordinary: exp_ordinary,
        corrections: exp_corrections,
        ..
    } = crate::certify::judge::Expected::load(&a.dir, &session)?;
    let opts = CompareOptions {
        service_ids: if a.vendor_service_ids {
            ServiceIds::VendorOwn
        } else {
            ServiceIds::Same
        },
        ..CompareOptions::default()
    };
    let check_opts = CheckOptions {
        data_year: Some(i32::from(session.year)),
        ..CheckOptions::default()
    };
    let mut results = Vec::new();
    // One content state over the files in order: the corrections continue the export's chain.
    let mut state = ContentState::new();
    let mut first_ordinary: Option<(Melding, Option<Vec<u64>>)> = None;
    for f in &a.files {
        results.push(check_one(
            f,
            "export",
            &check_opts,
            &mut state,
            |rec, lines| {
                let c = compare_with_lines(&exp_ordinary, rec, lines, &opts);
                if first_ordinary.is_none() {
                    first_ordinary = Some((rec.clone(), lines.map(<[u64]>::to_vec)));
                }
                c
            },
        )?);
    }
    if let Some(c) = &a.corrections {
        let ordinary = first_ordinary.clone();
        results.push(check_one(
            c,
            "corrections",
            &check_opts,
            &mut state,
            |rec, lines| match &ordinary {
                Some((o, ol)) => compare_corrections(
                    &exp_ordinary,
                    &exp_corrections,
                    (o, ol.as_deref()),
                    (rec, lines),
                    &opts,
                ),
                None => compare_with_lines(&exp_corrections, rec, lines, &opts),
            },
        )?);
    }
    let ok = results.iter().all(|r| {
        r.refused.is_none()
            && r.conformant
            && r.comparison.as_ref().is_some_and(Comparison::is_clean)
    });
    let result = CheckResult {
        tool: format!("iplos-harness {}", env!("CARGO_PKG_VERSION")),
        vendor: session.vendor.clone(),
        kommune: session.kommune.clone(),
        year: session.year,
        verdict: if ok { "pass" } else { "fail" },
        files: results,
    };
    let out = a.dir.join("check");
    let evidence = out.join("evidence");
    fs::create_dir_all(&evidence)?;
    let tmp = evidence.join("result.json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(&result)?)?;
    fs::rename(&tmp, evidence.join("result.json"))?;
    for (i, f) in a.files.iter().chain(a.corrections.iter()).enumerate() {
        let name = f
            .file_name()
            .map_or_else(|| format!("file{i}"), |n| n.to_string_lossy().to_string());
        fs::copy(f, evidence.join(format!("{i:02}-{name}")))
            .with_context(|| format!("keeping {} as evidence", f.display()))?;
    }
    let product = first_ordinary
        .as_ref()
        .map(|(m, _)| (m.header.navn_epj.clone(), m.header.versjon_epj.clone()))
        .unwrap_or_default();
    let report = certification_report(
        &session,
        &result,
        a.corrections.is_some(),
        &evidence,
        product,
    )?;
    let written = iplos_reports::certification::write_certification(&report, &out)
        .context("writing the certification report")?;
    let signing = SigningFiles::load_or_create(&a.dir, &session)
        .context("the harness's report-signing key")?;
    crate::certify::verify::sign_report(&out, &report.evidence_bundle, &signing)
        .context("signing the report")?;
    print_summary(&result, &evidence.join("result.json"), report.verdict);
    println!(
        "  certification report ({} of the plan's {} tests run offline): {}\n                        {}\n                        {}",
        report
            .tests
            .iter()
            .filter(|t| t.verdict != TestVerdict::Skip)
            .count(),
        report.tests.len(),
        written.html.display(),
        written.json.display(),
        written.junit.display()
    );
    println!(
        "  signed: {} and {} (check with `iplos-harness certify verify {}`)",
        out.join("report.json.p7s").display(),
        out.join("SHA256SUMS.p7s").display(),
        out.display()
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The plan's tests that files alone can decide, judged from the check; the others are
/// skipped with the reason (they need the transport session).
fn certification_report(
    session: &Session,
    result: &CheckResult,
    corrections_given: bool,
    evidence_dir: &Path,
    (product, version): (String, String),
) -> Result<CertificationReport> {
    use crate::certify::judge::{comparison_evidence, reference_evidence};
    use crate::certify::plan::{CheckKind, Plan};
    let plan = Plan::embedded().context("the certification plan")?;
    let mut tests = plan.skeleton_results();
    let all_findings: Vec<(&str, &iplos_model::rules::Finding)> = result
        .files
        .iter()
        .flat_map(|f| f.findings.iter().map(move |x| (f.file.as_str(), x)))
        .collect();
    let refused: Vec<&FileResult> = result
        .files
        .iter()
        .filter(|f| f.refused.is_some())
        .collect();
    let rule_evidence = |rules: &dyn Fn(&str) -> bool| -> Vec<Evidence> {
        all_findings
            .iter()
            .filter(|(_, f)| rules(f.rule))
            .take(50)
            .map(|(file, f)| Evidence::Rule {
                rule: f.rule.to_string(),
                title: f.message.clone(),
                message_id: Some((*file).to_string()),
                location: Some(format!("{} (line {})", f.location.path, f.location.line)),
            })
            .collect()
    };
    let comparisons: Vec<(&FileResult, &Comparison)> = result
        .files
        .iter()
        .filter_map(|f| f.comparison.as_ref().map(|c| (f, c)))
        .collect();
    for t in &mut tests {
        let test = plan.test(&t.id).map(|r| r.test.clone());
        let Some(test) = test else { continue };
        let judged: Option<(bool, String, Vec<Evidence>)> = match test.kind {
            CheckKind::Schema => {
                let is_schema = |r: &str| r.starts_with("WF") || r.starts_with("XSD");
                let ev = rule_evidence(&is_schema);
                let mut ev = ev;
                for f in &refused {
                    ev.push(Evidence::File {
                        path: f.file.clone(),
                        note: f.refused.clone().unwrap_or_default(),
                    });
                }
                let ok = ev.is_empty();
                Some((
                    ok,
                    if ok {
                        "every file is well-formed and valid against the XSD".into()
                    } else {
                        format!("{} schema problems", ev.len())
                    },
                    ev,
                ))
            }
            CheckKind::ContentRules => {
                let rules: Vec<String> = test.rules.clone();
                let ev = rule_evidence(&|r: &str| rules.iter().any(|x| x == r));
                let ok = ev.is_empty() && refused.is_empty();
                Some((
                    ok,
                    if ok {
                        format!("no finding of {}", rules.join(", "))
                    } else {
                        format!("{} findings", ev.len())
                    },
                    ev,
                ))
            }
            CheckKind::Completeness => {
                let mut ev = Vec::new();
                let mut n = 0;
                for (f, c) in &comparisons {
                    n += c.missing.len() + c.extra.len() + c.wrong.len();
                    ev.extend(comparison_evidence(c, &f.file, |_| true));
                }
                ev.truncate(50);
                let ok = n == 0 && refused.is_empty() && !comparisons.is_empty();
                Some((
                    ok,
                    if ok {
                        "every expected event is there, and nothing else".into()
                    } else {
                        format!("{n} events missing, extra or wrong")
                    },
                    ev,
                ))
            }
            CheckKind::Corrections | CheckKind::Annulments if corrections_given => {
                let mut ev = Vec::new();
                for (f, c) in comparisons.iter().filter(|(f, _)| f.role == "corrections") {
                    ev.extend(reference_evidence(c, &f.file, |_| true));
                    ev.extend(comparison_evidence(c, &f.file, |_| true));
                }
                let ok = ev.is_empty();
                Some((
                    ok,
                    if ok {
                        "the corrections reference the right originals".into()
                    } else {
                        format!("{} problems", ev.len())
                    },
                    ev,
                ))
            }
            CheckKind::Chain if corrections_given => {
                let ev = rule_evidence(&|r: &str| r == "IPL02" || r == "IPL03");
                let ok = ev.is_empty();
                Some((
                    ok,
                    if ok {
                        "the chain and numbering continue across the messages".into()
                    } else {
                        format!("{} chain findings", ev.len())
                    },
                    ev,
                ))
            }
            _ => None,
        };
        match judged {
            Some((ok, reason, evidence)) => {
                t.verdict = if ok {
                    TestVerdict::Pass
                } else {
                    TestVerdict::Fail
                };
                t.reason = Some(reason);
                t.evidence = evidence;
            }
            None => {
                t.reason = Some("not run in the offline mode (needs the transport session, `certify run`), or no corrections file given".into());
            }
        }
    }
    let mut report = CertificationReport {
        schema_version: iplos_reports::certification::CERTIFICATION_SCHEMA_VERSION,
        tool: iplos_reports::Tool {
            name: "iplos-harness".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        plan: plan.report_info(),
        vendor: VendorInfo {
            name: session.vendor.clone(),
            product,
            version,
        },
        session: CertSession {
            kommune: session.kommune.clone(),
            kommune_name: session.kommune_name.clone(),
            her_id: Some(session.her_id),
            channel: "files".into(),
            notes: Vec::new(),
            time_scale: None,
        },
        verdict: iplos_reports::certification::Verdict::Incomplete,
        summary: Default::default(),
        tests,
        evidence_bundle: iplos_reports::certification::bundle_from_dir(evidence_dir)
            .map_err(|e| anyhow::anyhow!("the evidence bundle: {e}"))?,
        timings: Default::default(),
    };
    report.normalise();
    Ok(report)
}

fn check_one(
    path: &Path,
    role: &'static str,
    opts: &CheckOptions,
    state: &mut ContentState,
    compare: impl FnOnce(&Melding, Option<&[u64]>) -> Comparison,
) -> Result<FileResult> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file = path.display().to_string();
    // Read and checked once, continuing the chain of the files before.
    match read_received_with(&bytes, opts, state) {
        Err(e) => Ok(FileResult {
            file,
            role,
            conformant: false,
            errors: 1,
            warnings: 0,
            findings: Vec::new(),
            comparison: None,
            refused: Some(e.to_string()),
        }),
        Ok(r) => {
            let comparison = compare(&r.melding, r.lines.as_deref());
            let report = r.report;
            let errors = report
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            Ok(FileResult {
                file,
                role,
                conformant: report.conformant,
                errors,
                warnings: report.findings.len() - errors,
                findings: report.findings,
                comparison: Some(comparison),
                refused: None,
            })
        }
    }
}

/// The headline is the certification report's verdict (what `report.json` says: without
/// the transport session it is at best incomplete); the files' own verdict follows it.
fn print_summary(r: &CheckResult, path: &Path, verdict: iplos_reports::certification::Verdict) {
    println!(
        "certify check: {} — kommune {}, data year {}: {} (the files: {}{})",
        r.vendor,
        r.kommune,
        r.year,
        verdict.as_str().to_uppercase(),
        r.verdict,
        if verdict == iplos_reports::certification::Verdict::Incomplete {
            "; the transport tests need `certify run`"
        } else {
            ""
        }
    );
    for f in &r.files {
        if let Some(why) = &f.refused {
            println!("  {} ({}): refused: {why}", f.file, f.role);
            continue;
        }
        let c = f.comparison.as_ref();
        println!(
            "  {} ({}): {} errors, {} warnings; {} of {} expected events matched, {} missing, {} extra, {} wrong fields, {} reference problems",
            f.file,
            f.role,
            f.errors,
            f.warnings,
            c.map_or(0, |c| c.matched),
            c.map_or(0, |c| c.expected_events),
            c.map_or(0, |c| c.missing.len()),
            c.map_or(0, |c| c.extra.len()),
            c.map_or(0, |c| c.wrong.len()),
            c.map_or(0, |c| c.references.len()),
        );
        for finding in f.findings.iter().take(5) {
            println!(
                "    {}:{}: {} {}",
                f.file, finding.location.line, finding.rule, finding.message
            );
        }
        if let Some(c) = c {
            for d in c.missing.iter().take(5) {
                println!("    {} missing: {}", d.rule, d.key);
            }
            for d in c.extra.iter().take(5) {
                println!("    {} extra: {} ({})", d.rule, d.key, d.location.path);
            }
            for d in c.wrong.iter().take(5) {
                println!(
                    "    {} {}: {} expected {:?}, got {:?} ({}{})",
                    d.rule,
                    d.key,
                    d.field,
                    d.expected,
                    d.received,
                    d.location.path,
                    d.location
                        .line
                        .map(|l| format!(", line {l}"))
                        .unwrap_or_default()
                );
            }
            for d in c.references.iter().take(5) {
                println!(
                    "    {} {}: expected {}, got {}",
                    d.rule, d.key, d.expected, d.received
                );
            }
        }
    }
    println!("  result: {}", path.display());
}
