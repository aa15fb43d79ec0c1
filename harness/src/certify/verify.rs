//! The signed report (issue #13): `certify run` and `certify check` sign what they wrote
//! with the harness's own key ([`sign_report`]), and `certify verify DIR` checks it
//! ([`verify_report`]).
//!
//! A report directory (`DIR/run/` or `DIR/check/`) then holds, besides `report.json`,
//! `junit.xml`, `index.html` and `evidence/`:
//!
//! ```text
//! SHA256SUMS                  the evidence manifest: `<sha256>  <path>` per file of
//!                             evidence/, sorted by path (what `sha256sum` prints; its sha256
//!                             is report.json's evidence_bundle.sha256)
//! report.json.p7s             CMS SignedData (DER), detached, over report.json's bytes
//! SHA256SUMS.p7s              the same over SHA256SUMS
//! harness-certificate.pem     the harness's self-signed signing certificate
//! ```
//!
//! The signatures are made as `openssl cms -sign -binary -md sha256` makes them (the signer's
//! certificate included), so a reader checks them with the openssl command line alone:
//!
//! ```text
//! openssl cms -verify -binary -inform DER -in report.json.p7s -content report.json \
//!     -CAfile harness-certificate.pem -out /dev/null
//! (cd evidence && sha256sum --check --strict ../SHA256SUMS)
//! ```
//!
//! **\[model\]** The certificate is self-signed (the harness is its own authority): the
//! signature proves the files are unchanged since the harness that holds the key wrote them.
//! Whose harness that was, the reader learns by comparing the certificate's SHA-256
//! fingerprint (printed by `certify verify`) with the one the certifier published, or by
//! pinning it (`certify verify --cert`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use iplos_reports::certification::{CertificationReport, EvidenceBundle, bundle_from_dir};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;

use super::session::SigningFiles;
use crate::files::write_atomic;

/// The evidence manifest next to the report.
pub const MANIFEST: &str = "SHA256SUMS";
/// The report.
pub const REPORT: &str = "report.json";
/// The harness's certificate next to the report.
pub const CERTIFICATE: &str = "harness-certificate.pem";
/// The evidence directory of a report directory.
pub const EVIDENCE: &str = "evidence";

fn signature_of(file: &str) -> String {
    format!("{file}.p7s")
}

/// Writes `SHA256SUMS` (the bundle's manifest), the detached signatures of it and of
/// `report.json`, and the harness's certificate into `report_dir`.
pub fn sign_report(
    report_dir: &Path,
    bundle: &EvidenceBundle,
    signing: &SigningFiles,
) -> Result<()> {
    let cert = X509::from_pem(
        &fs::read(&signing.cert).with_context(|| format!("reading {}", signing.cert.display()))?,
    )?;
    let key = PKey::private_key_from_pem(
        &fs::read(&signing.key).with_context(|| format!("reading {}", signing.key.display()))?,
    )?;
    let manifest = bundle.manifest();
    write_atomic(&report_dir.join(MANIFEST), manifest.as_bytes(), false)?;
    for file in [REPORT, MANIFEST] {
        let path = report_dir.join(file);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let signed = CmsContentInfo::sign(
            Some(&cert),
            Some(&key),
            None,
            Some(&bytes),
            CMSOptions::DETACHED | CMSOptions::BINARY,
        )
        .with_context(|| format!("signing {}", path.display()))?;
        write_atomic(
            &report_dir.join(signature_of(file)),
            &signed.to_der()?,
            false,
        )?;
    }
    write_atomic(&report_dir.join(CERTIFICATE), &cert.to_pem()?, false)?;
    write_atomic(
        &report_dir.join("README.md"),
        readme(&fingerprint(&cert)?).as_bytes(),
        false,
    )?;
    Ok(())
}

/// The report directory's README: what the files are and how to check them.
fn readme(fingerprint: &str) -> String {
    format!(
        "# IPLOS certification report\n\n\
         - `index.html`: the report for people; `report.json`: the same for machines (its JSON\n\
         \x20 Schema is `reports/schema/certification-report.schema.json` in iplos-harness);\n\
         \x20 `junit.xml`: the same for CI.\n\
         - `evidence/`: what the verdicts rest on; `SHA256SUMS` lists every file of it with its\n\
         \x20 sha256 (the sha256 of `SHA256SUMS` is `evidence_bundle.sha256` in `report.json`).\n\
         - `report.json.p7s`, `SHA256SUMS.p7s`: detached CMS signatures (DER) of `report.json`\n\
         \x20 and `SHA256SUMS` by the harness that ran the session; `harness-certificate.pem`: its\n\
         \x20 self-signed certificate, SHA-256 fingerprint\n\
         \x20 `{fingerprint}`.\n\n\
         ## Checking that nothing was changed\n\n\
         With iplos-harness: `iplos-harness certify verify THIS-DIRECTORY` (exit 0 and `OK`\n\
         when untouched; otherwise it names every file that changed, is missing or was added;\n\
         `--cert FILE` to insist on a certificate you got from the certifier).\n\n\
         With the openssl and coreutils command line alone:\n\n\
         ```sh\n\
         openssl x509 -in harness-certificate.pem -noout -fingerprint -sha256\n\
         openssl cms -verify -binary -inform DER -in report.json.p7s -content report.json \\\n\
         \x20   -CAfile harness-certificate.pem -out /dev/null\n\
         openssl cms -verify -binary -inform DER -in SHA256SUMS.p7s -content SHA256SUMS \\\n\
         \x20   -CAfile harness-certificate.pem -out /dev/null\n\
         (cd evidence && sha256sum --check --strict ../SHA256SUMS)\n\
         find evidence -type f | wc -l   # as many files as SHA256SUMS has lines\n\
         ```\n\n\
         The certificate is the harness's own (self-signed): compare its fingerprint with the\n\
         one the certifier published before trusting the signatures.\n"
    )
}

/// What `certify verify` found in one report directory.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The report directory.
    pub dir: PathBuf,
    /// The signer's subject and the certificate's SHA-256 fingerprint (hex with colons).
    pub signer: String,
    pub fingerprint: String,
    /// How many evidence files the manifest lists.
    pub files: usize,
    /// Every problem, each naming the file (empty: untouched).
    pub problems: Vec<String>,
}

/// The report directories `certify verify DIR` checks: DIR itself when it holds a
/// `report.json`, else DIR/run and DIR/check (those that hold one).
pub fn report_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join(REPORT).is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let found: Vec<PathBuf> = ["run", "check"]
        .iter()
        .map(|d| dir.join(d))
        .filter(|d| d.join(REPORT).is_file())
        .collect();
    if found.is_empty() {
        bail!(
            "{}: no report.json (neither a report directory nor a session with run/ or check/)",
            dir.display()
        );
    }
    Ok(found)
}

/// Checks a report directory: both signatures (by the certificate next to the report, or
/// `pinned` — then the one next to the report must be it), the manifest's agreement with
/// report.json, and every evidence file against the manifest (changed, missing, added).
/// An error means the check could not run (no report, no certificate).
pub fn verify_report(dir: &Path, pinned: Option<&X509>) -> Result<Verified> {
    if !dir.join(REPORT).is_file() {
        bail!("{}: no {REPORT}", dir.display());
    }
    let mut problems = Vec::new();
    let cert_path = dir.join(CERTIFICATE);
    let beside = fs::read(&cert_path)
        .ok()
        .and_then(|b| X509::from_pem(&b).ok());
    let cert = match (pinned, beside) {
        (Some(p), Some(b)) => {
            if p.to_der()? != b.to_der()? {
                problems.push(format!(
                    "{CERTIFICATE}: not the expected harness certificate ({})",
                    fingerprint(&b)?
                ));
            }
            p.to_owned()
        }
        (Some(p), None) => {
            problems.push(format!("{CERTIFICATE}: missing or not a PEM certificate"));
            p.to_owned()
        }
        (None, Some(b)) => b,
        (None, None) => bail!(
            "{}: missing or not a PEM certificate, and no --cert given: nothing to check the signatures with",
            cert_path.display()
        ),
    };
    for file in [REPORT, MANIFEST] {
        if let Err(why) = check_signature(dir, file, &cert) {
            problems.push(why);
        }
    }
    let report: Option<CertificationReport> = match fs::read(dir.join(REPORT)) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.push(format!("{REPORT}: not a certification report ({e})"));
                None
            }
        },
        Err(e) => bail!("{}: {e}", dir.join(REPORT).display()),
    };
    let manifest = fs::read(dir.join(MANIFEST)).ok();
    let parsed = match &manifest {
        Some(m) => match parse_manifest(m) {
            Ok(l) => Some(l),
            Err(e) => {
                problems.push(format!("{MANIFEST}: {e}"));
                None
            }
        },
        None => {
            problems.push(format!("{MANIFEST}: missing"));
            None
        }
    };
    // report.json names the manifest's hash: the two belong together.
    if let (Some(m), Some(r)) = (&manifest, &report) {
        let h = iplos_reports::certification::sha256_hex(m);
        if r.evidence_bundle.sha256 != h {
            problems.push(format!(
                "{MANIFEST}: its sha256 {h} is not report.json's evidence_bundle.sha256 {}",
                r.evidence_bundle.sha256
            ));
        }
    }
    // The files to check: the manifest's, else (it is unreadable) the report's list.
    let listed: BTreeMap<String, String> = match (parsed, &report) {
        (Some(l), _) => l,
        (None, Some(r)) => r
            .evidence_bundle
            .files
            .iter()
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect(),
        (None, None) => BTreeMap::new(),
    };
    let evidence = dir.join(EVIDENCE);
    let on_disk = if evidence.is_dir() {
        bundle_from_dir(&evidence)
            .map_err(|e| anyhow::anyhow!("{}: {e}", evidence.display()))?
            .files
    } else {
        Vec::new()
    };
    let disk: BTreeMap<&str, &str> = on_disk
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    for (path, sha) in &listed {
        match disk.get(path.as_str()) {
            None => problems.push(format!("{EVIDENCE}/{path}: missing")),
            Some(found) if found != sha => problems.push(format!(
                "{EVIDENCE}/{path}: changed (listed sha256 {sha}, found {found})"
            )),
            Some(_) => {}
        }
    }
    for f in &on_disk {
        if !listed.contains_key(&f.path) {
            problems.push(format!("{EVIDENCE}/{}: not listed in {MANIFEST}", f.path));
        }
    }
    Ok(Verified {
        dir: dir.to_path_buf(),
        signer: iplos_mocks::pki::name_to_string(cert.subject_name()),
        fingerprint: fingerprint(&cert)?,
        files: listed.len(),
        problems,
    })
}

/// Verifies `dir/file.p7s` over `dir/file` with `cert` as the one trusted signer.
fn check_signature(dir: &Path, file: &str, cert: &X509) -> Result<(), String> {
    let sig = signature_of(file);
    let content = fs::read(dir.join(file)).map_err(|e| format!("{file}: cannot read ({e})"))?;
    let der = fs::read(dir.join(&sig)).map_err(|e| format!("{sig}: missing ({e})"))?;
    let mut cms =
        CmsContentInfo::from_der(&der).map_err(|_| format!("{sig}: not a CMS signature"))?;
    let mut run = || -> Result<(), openssl::error::ErrorStack> {
        let mut store = X509StoreBuilder::new()?;
        store.add_cert(cert.to_owned())?;
        let store = store.build();
        let mut certs = Stack::new()?;
        certs.push(cert.to_owned())?;
        cms.verify(
            Some(&certs),
            Some(&store),
            Some(&content),
            None,
            CMSOptions::BINARY | CMSOptions::NOINTERN,
        )
    };
    run().map_err(|e| {
        let reason = e
            .errors()
            .first()
            .and_then(|x| x.reason())
            .unwrap_or("verification failed")
            .to_string();
        format!("{file}: the signature in {sig} does not verify ({reason}): changed after signing, or not signed by this harness")
    })
}

/// `<sha256>  <path>` lines.
fn parse_manifest(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let text = std::str::from_utf8(bytes).context("not UTF-8")?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some((sha, path)) = line.split_once("  ") else {
            bail!("line {}: not `<sha256>  <path>`", i + 1);
        };
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("line {}: {sha:?} is not a sha256", i + 1);
        }
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") {
            bail!("line {}: {path:?} is not a path inside the evidence", i + 1);
        }
        out.insert(path.to_string(), sha.to_ascii_lowercase());
    }
    Ok(out)
}

/// SHA-256 fingerprint, upper-case hex with colons (as `openssl x509 -fingerprint` shows).
pub fn fingerprint(cert: &X509) -> Result<String> {
    Ok(cert
        .digest(MessageDigest::sha256())?
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_read_strictly() {
        let sha = "a".repeat(64);
        let ok =
            parse_manifest(format!("{sha}  messages/001.xml\n{sha}  phases.json\n").as_bytes())
                .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok["phases.json"], sha);
        for bad in [
            "abc  x\n".to_string(),
            format!("{sha} x\n"),
            format!("{sha}  ../x\n"),
            format!("{sha}  /etc/passwd\n"),
        ] {
            assert!(parse_manifest(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
