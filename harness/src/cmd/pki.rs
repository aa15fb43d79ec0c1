//! `iplos-harness pki`: the test PKI (a test CA with its CRL, the register's certificates,
//! certificate pairs for kommuner and vendors), wrapping `iplos_mocks::pki`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use iplos_mocks::pki::{Party, Pki, PkiConfig, Variant};
use iplos_model::ids::{HerId, OrgNr};
use serde::Serialize;

use super::Format;

/// Manage the test PKI of the service bus.
///
/// Exit 0 on success, 2 when the command could not run (existing PKI on init, unreadable
/// directory, invalid HER-id or organisation number).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PkiCommand,
}

#[derive(clap::Subcommand)]
enum PkiCommand {
    /// Create a PKI in DIR: the test CA and its CRL, an untrusted CA for "wrong CA"
    /// certificates, and the register's signing and encryption certificates.
    Init(InitArgs),
    /// Issue a certificate pair (signing + encryption) for a HER-id into the PKI in --dir.
    Issue(IssueArgs),
}

#[derive(clap::Args)]
struct InitArgs {
    /// The register's HER-id (its certificates go to DIR/<herid>/).
    #[arg(long, value_name = "H", default_value_t = iplos_mocks::pki::DEFAULT_REGISTER_HER_ID)]
    register_her_id: u32,
    /// The register's organisation number.
    #[arg(long, value_name = "ORGNR", default_value = iplos_mocks::pki::DEFAULT_REGISTER_ORGNR)]
    register_orgnr: String,
    /// The register's name.
    #[arg(long, value_name = "NAME", default_value = iplos_mocks::pki::DEFAULT_REGISTER_NAME)]
    register_name: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The directory (created if missing; must not hold a PKI yet).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// The kinds of pair `pki issue --variant` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VariantArg {
    /// Valid, from the trusted CA (files in DIR/<herid>/).
    Valid,
    /// Validity ended before the PKI's window (DIR/<herid>/expired/).
    Expired,
    /// Validity starts after the PKI's window.
    NotYetValid,
    /// On the CRL.
    Revoked,
    /// Issued by the untrusted CA.
    WrongCa,
    /// Key usages swapped (signing certificate without nonRepudiation).
    WrongKeyUsage,
}

impl From<VariantArg> for Variant {
    fn from(v: VariantArg) -> Variant {
        match v {
            VariantArg::Valid => Variant::Valid,
            VariantArg::Expired => Variant::Expired,
            VariantArg::NotYetValid => Variant::NotYetValid,
            VariantArg::Revoked => Variant::Revoked,
            VariantArg::WrongCa => Variant::WrongCa,
            VariantArg::WrongKeyUsage => Variant::WrongKeyUsage,
        }
    }
}

#[derive(clap::Args)]
struct IssueArgs {
    /// The party's HER-id.
    #[arg(long, value_name = "H")]
    her_id: String,
    /// The party's organisation number (9 digits, valid check digit).
    #[arg(long, value_name = "ORGNR")]
    org: String,
    /// The party's name (CN and O of the certificates).
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// Which kind of pair. A receiver reading this PKI uses the pair issued last for a
    /// HER-id as the registered one.
    #[arg(long, value_enum, default_value_t = VariantArg::Valid)]
    variant: VariantArg,
    /// The PKI directory (made with `pki init`).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Where a party's files are (for people and for endpoints.json).
#[derive(Debug, Clone, Serialize)]
pub struct PartyFiles {
    /// HER-id.
    pub her_id: u32,
    /// Organisation number.
    pub orgnr: String,
    /// Name.
    pub name: String,
    /// Kind of pair.
    pub variant: Variant,
    /// Signing certificate (PEM).
    pub signing_cert: PathBuf,
    /// Its private key (PKCS#8 PEM).
    pub signing_key: PathBuf,
    /// Certificate + key + CA (PKCS#12).
    pub signing_p12: PathBuf,
    /// Encryption certificate (PEM).
    pub encryption_cert: PathBuf,
    /// Its private key.
    pub encryption_key: PathBuf,
    /// PKCS#12.
    pub encryption_p12: PathBuf,
    /// Serial numbers (signing, encryption).
    pub serials: (String, String),
}

impl PartyFiles {
    /// The files of an issued party.
    pub fn of(p: &Party) -> PartyFiles {
        let serial = |c: &openssl::x509::X509| {
            c.serial_number()
                .to_bn()
                .ok()
                .and_then(|b| b.to_dec_str().ok().map(|s| s.to_string()))
                .unwrap_or_default()
        };
        PartyFiles {
            her_id: p.her_id.get(),
            orgnr: p.orgnr.clone(),
            name: p.name.clone(),
            variant: p.variant,
            signing_cert: p.signing.cert_path.clone(),
            signing_key: p.signing.key_path.clone(),
            signing_p12: p.signing.p12_path.clone(),
            encryption_cert: p.encryption.cert_path.clone(),
            encryption_key: p.encryption.key_path.clone(),
            encryption_p12: p.encryption.p12_path.clone(),
            serials: (serial(&p.signing.cert), serial(&p.encryption.cert)),
        }
    }
}

#[derive(Serialize)]
struct InitOutput {
    dir: PathBuf,
    ca: PathBuf,
    crl: PathBuf,
    p12_password: String,
    register: PartyFiles,
}

fn print_party(p: &PartyFiles) {
    println!(
        "  {} (HER-id {}, orgnr {}), {:?} pair",
        p.name, p.her_id, p.orgnr, p.variant
    );
    println!(
        "    signing:    {}  key {}  p12 {}  (serial {})",
        p.signing_cert.display(),
        p.signing_key.display(),
        p.signing_p12.display(),
        p.serials.0
    );
    println!(
        "    encryption: {}  key {}  p12 {}  (serial {})",
        p.encryption_cert.display(),
        p.encryption_key.display(),
        p.encryption_p12.display(),
        p.serials.1
    );
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        PkiCommand::Init(a) => init(a),
        PkiCommand::Issue(a) => issue(a),
    }
}

fn init(a: InitArgs) -> Result<ExitCode> {
    HerId::new(a.register_her_id).context("--register-her-id")?;
    OrgNr::parse(&a.register_orgnr).context("--register-orgnr")?;
    let config = PkiConfig {
        register_her_id: a.register_her_id,
        register_orgnr: a.register_orgnr,
        register_name: a.register_name,
        ..PkiConfig::default()
    };
    let pki = Pki::init_with(&a.dir, config)
        .with_context(|| format!("cannot create a PKI in {}", a.dir.display()))?;
    let register = PartyFiles::of(&pki.register()?);
    let out = InitOutput {
        dir: pki.dir().to_path_buf(),
        ca: pki.ca_path(),
        crl: pki.crl_path(),
        p12_password: pki.config().p12_password.clone(),
        register,
    };
    match a.format {
        super::Format::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        super::Format::Text => {
            println!("test PKI created in {}", out.dir.display());
            println!("  CA:  {}", out.ca.display());
            println!("  CRL: {}", out.crl.display());
            println!("  PKCS#12 password: {}", out.p12_password);
            println!("register:");
            print_party(&out.register);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn issue(a: IssueArgs) -> Result<ExitCode> {
    let her = HerId::parse(a.her_id.trim())
        .with_context(|| format!("--her-id {:?} is not a HER-id", a.her_id))?;
    let org = OrgNr::parse(a.org.trim())
        .with_context(|| format!("--org {:?} is not an organisation number", a.org))?;
    let name = a.name.unwrap_or_else(|| format!("HER-id {her}"));
    if name.trim().is_empty() {
        bail!("--name must not be empty");
    }
    let mut pki = Pki::load(&a.dir).with_context(|| {
        format!(
            "no PKI in {} (create one with `iplos-harness pki init {}`)",
            a.dir.display(),
            a.dir.display()
        )
    })?;
    let party = pki.issue_variant(her, &org, &name, a.variant.into())?;
    let files = PartyFiles::of(&party);
    match a.format {
        super::Format::Json => println!("{}", serde_json::to_string_pretty(&files)?),
        super::Format::Text => {
            println!("issued in {}:", pki.dir().display());
            print_party(&files);
        }
    }
    Ok(ExitCode::SUCCESS)
}
