//! The evidence bundle: the files under a directory with their sha256, the manifest and
//! its hash, and the check of a directory against a bundle (see the
//! [module docs](crate::certification#the-evidence-bundle)).

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The evidence files and the bundle's hash.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBundle {
    /// Every file, sorted by path.
    pub files: Vec<BundleFile>,
    /// sha256 of the manifest (see the module docs).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// One file of the evidence bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleFile {
    /// Relative path, `/`-separated.
    pub path: String,
    /// sha256 of its bytes (lower-case hex).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

impl EvidenceBundle {
    /// A bundle of `files` (sorted here), with its hash.
    pub fn new(mut files: Vec<BundleFile>) -> EvidenceBundle {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut b = EvidenceBundle {
            files,
            sha256: String::new(),
        };
        b.sha256 = sha256_hex(b.manifest().as_bytes());
        b
    }

    /// The manifest: `<sha256>  <path>\n` per file, in path order (`sha256sum`'s format).
    pub fn manifest(&self) -> String {
        let mut s = String::with_capacity(self.files.len() * 100);
        for f in &self.files {
            let _ = writeln!(s, "{}  {}", f.sha256, f.path);
        }
        s
    }
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Errors of the bundle functions.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A path cannot be listed in the manifest.
    #[error("{path}: {reason}")]
    BadPath {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
}

fn hash_file(path: &Path) -> Result<(String, u64), BundleError> {
    let err = |source| BundleError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(err)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((format!("{:x}", h.finalize()), n))
}

/// Lists the regular files under `dir` (recursively) as a bundle. Symbolic links, paths that
/// are not UTF-8 and paths holding a newline or a backslash are refused.
pub fn bundle_from_dir(dir: &Path) -> Result<EvidenceBundle, BundleError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| BundleError::Read {
            path: d.clone(),
            source,
        })?;
        for entry in rd {
            let entry = entry.map_err(|source| BundleError::Read {
                path: d.clone(),
                source,
            })?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|source| BundleError::Read {
                path: path.clone(),
                source,
            })?;
            if ft.is_symlink() {
                return Err(BundleError::BadPath {
                    path,
                    reason: "a symbolic link in the evidence bundle",
                });
            }
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            if !ft.is_file() {
                return Err(BundleError::BadPath {
                    path,
                    reason: "not a regular file",
                });
            }
            let rel = relative_name(dir, &path)?;
            let (sha256, bytes) = hash_file(&path)?;
            files.push(BundleFile {
                path: rel,
                sha256,
                bytes,
            });
        }
    }
    Ok(EvidenceBundle::new(files))
}

fn relative_name(dir: &Path, path: &Path) -> Result<String, BundleError> {
    let bad = |reason| BundleError::BadPath {
        path: path.to_path_buf(),
        reason,
    };
    let rel = path
        .strip_prefix(dir)
        .map_err(|_| bad("outside the bundle"))?;
    let mut parts = Vec::new();
    for c in rel.components() {
        let s = c
            .as_os_str()
            .to_str()
            .ok_or_else(|| bad("a path that is not UTF-8"))?;
        if s.contains(['\n', '\r', '\\']) {
            return Err(bad("a path holding a newline or a backslash"));
        }
        parts.push(s);
    }
    Ok(parts.join("/"))
}

/// A way the files on disk differ from a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleProblem {
    /// A listed file is not there.
    Missing(String),
    /// A listed file's bytes differ.
    Changed {
        /// The path.
        path: String,
        /// The sha256 listed.
        listed: String,
        /// The sha256 found.
        found: String,
    },
    /// A file is there that the bundle does not list.
    Extra(String),
    /// The bundle's hash is not the hash of its manifest (the report was edited).
    BundleHash {
        /// The hash in the report.
        listed: String,
        /// The hash of the listed files' manifest.
        computed: String,
    },
}

impl std::fmt::Display for BundleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleProblem::Missing(p) => write!(f, "{p}: missing"),
            BundleProblem::Changed {
                path,
                listed,
                found,
            } => write!(f, "{path}: changed (listed sha256 {listed}, found {found})"),
            BundleProblem::Extra(p) => write!(f, "{p}: not in the bundle"),
            BundleProblem::BundleHash { listed, computed } => write!(
                f,
                "bundle sha256 {listed} is not the hash of its files' manifest ({computed})"
            ),
        }
    }
}

/// Checks the files under `dir` against `bundle`: every problem, or an empty list when the
/// files and the hash are exactly as listed.
pub fn verify_bundle(
    dir: &Path,
    bundle: &EvidenceBundle,
) -> Result<Vec<BundleProblem>, BundleError> {
    let mut problems = Vec::new();
    let mut listed = bundle.clone();
    listed.files.sort_by(|a, b| a.path.cmp(&b.path));
    let computed = sha256_hex(listed.manifest().as_bytes());
    if computed != bundle.sha256 {
        problems.push(BundleProblem::BundleHash {
            listed: bundle.sha256.clone(),
            computed,
        });
    }
    let on_disk = bundle_from_dir(dir)?;
    let disk: std::collections::BTreeMap<&str, &BundleFile> =
        on_disk.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut seen = std::collections::BTreeSet::new();
    for f in &listed.files {
        seen.insert(f.path.as_str());
        match disk.get(f.path.as_str()) {
            None => problems.push(BundleProblem::Missing(f.path.clone())),
            Some(d) if d.sha256 != f.sha256 || d.bytes != f.bytes => {
                problems.push(BundleProblem::Changed {
                    path: f.path.clone(),
                    listed: f.sha256.clone(),
                    found: d.sha256.clone(),
                })
            }
            Some(_) => {}
        }
    }
    for f in &on_disk.files {
        if !seen.contains(f.path.as_str()) {
            problems.push(BundleProblem::Extra(f.path.clone()));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_sha256sums_format() {
        let b = EvidenceBundle::new(vec![
            BundleFile {
                path: "b".into(),
                sha256: "2".repeat(64),
                bytes: 1,
            },
            BundleFile {
                path: "a/x".into(),
                sha256: "1".repeat(64),
                bytes: 1,
            },
        ]);
        assert_eq!(
            b.manifest(),
            format!("{}  a/x\n{}  b\n", "1".repeat(64), "2".repeat(64))
        );
        assert_eq!(b.sha256, sha256_hex(b.manifest().as_bytes()));
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
