//! Writing results so that nothing half-written is ever left looking complete: a staged
//! directory renamed into place at the end, and a writer that hashes what it writes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// An output directory written under a temporary sibling name and renamed into place by
/// [`StagedDir::commit`]. Dropped without commit, the partial directory is removed.
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Prepares to write `target`. Refuses an existing non-empty directory (or a file) unless
    /// `force`, in which case the old content is replaced only when the new one is complete.
    pub fn new(target: &Path, force: bool) -> Result<StagedDir> {
        if target.exists() {
            if !target.is_dir() {
                bail!("{} exists and is not a directory", target.display());
            }
            let non_empty = fs::read_dir(target)
                .with_context(|| format!("cannot read {}", target.display()))?
                .next()
                .is_some();
            if non_empty && !force {
                bail!(
                    "output directory {} exists and is not empty (use --force to replace it)",
                    target.display()
                );
            }
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging)
                .with_context(|| format!("cannot remove stale {}", staging.display()))?;
        }
        fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
        Ok(StagedDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where to write meanwhile.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Moves the finished directory into place.
    pub fn commit(mut self) -> Result<PathBuf> {
        if self.target.exists() {
            let old = self.staging.with_extension("old");
            fs::rename(&self.target, &old)
                .with_context(|| format!("cannot move the old {} aside", self.target.display()))?;
            fs::rename(&self.staging, &self.target)
                .with_context(|| format!("cannot move the result to {}", self.target.display()))?;
            fs::remove_dir_all(&old)
                .with_context(|| format!("cannot remove the old output {}", old.display()))?;
        } else {
            fs::rename(&self.staging, &self.target)
                .with_context(|| format!("cannot move the result to {}", self.target.display()))?;
        }
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// A writer that counts and SHA-256-hashes the bytes written through it.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Flushes and returns (inner writer, lowercase hex sha256, byte count).
    pub fn finish(mut self) -> io::Result<(W, String, u64)> {
        self.inner.flush()?;
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok((self.inner, hex, self.bytes))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_empty_without_force_and_cleans_up_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep.txt"), "old").unwrap();
        let err = StagedDir::new(&target, false).err().unwrap().to_string();
        assert!(
            err.contains("not empty") && err.contains("--force"),
            "{err}"
        );
        {
            let staged = StagedDir::new(&target, true).unwrap();
            fs::write(staged.path().join("new.txt"), "new").unwrap();
            // dropped: not committed
        }
        assert!(
            target.join("keep.txt").exists(),
            "old output untouched until commit"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from("out")],
            "no partial directory left"
        );
        let staged = StagedDir::new(&target, true).unwrap();
        fs::write(staged.path().join("new.txt"), "new").unwrap();
        staged.commit().unwrap();
        assert!(target.join("new.txt").exists() && !target.join("keep.txt").exists());
    }

    #[test]
    fn hashes_what_it_writes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (inner, hex, n) = w.finish().unwrap();
        assert_eq!(inner, b"abc");
        assert_eq!(n, 3);
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
