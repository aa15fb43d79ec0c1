//! The `--broker`, `--broker-management` and `--broker-ca` flags that `serve`, `rehearse`
//! and `certify run` share: one reading of them into an [`ExternalBroker`].

use std::path::Path;

use anyhow::{Context, Result};
use iplos_mocks::rabbitmq::ExternalBroker;
use sha2::{Digest, Sha256};

/// The RabbitMQ of `--broker`/`--broker-management` for a run of `kind` (`serve`,
/// `rehearse`, `certify`) kept in `dir`: its vhost is `iplos-<kind>-<dir's name>-<hash of
/// dir's absolute path>`, so two runs in different folders never share one and a run
/// started again in the same folder finds its own. The CA of `--broker-ca` is made
/// absolute (endpoints.json names it) and read at once: an amqps broker without it, or a
/// file that holds no certificate, is an error here, before anything connects. The
/// caller sets `fresh` and `teardown`.
pub fn external(
    kind: &str,
    dir: &Path,
    broker: &str,
    management: &str,
    ca: Option<&Path>,
) -> Result<ExternalBroker> {
    let mut ext = ExternalBroker::parse(broker, management, &run_name(kind, dir))
        .map_err(anyhow::Error::msg)
        .context("--broker / --broker-management")?;
    ext.ca = ca.map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
    ext.tls_connector()
        .map_err(anyhow::Error::msg)
        .context("--broker-ca")?;
    Ok(ext)
}

/// `<kind>-<dir's name: letters, digits and '-', at most 40>-<8 hex digits of the hash of
/// its absolute path>`.
fn run_name(kind: &str, dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let name: String = abs
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let hash = Sha256::digest(abs.to_string_lossy().as_bytes());
    let hex: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{kind}-{name}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_name_is_the_folder_and_a_hash_of_its_path() {
        let a = run_name("rehearse", Path::new("/tmp/x/out run"));
        let b = run_name("rehearse", Path::new("/tmp/y/out run"));
        assert!(a.starts_with("rehearse-out-run-") && a.len() == "rehearse-out-run-".len() + 8);
        assert_ne!(a, b, "two folders of one name get two vhosts");
        assert_eq!(a, run_name("rehearse", Path::new("/tmp/x/out run")));
    }

    #[test]
    fn amqps_without_a_ca_is_refused_naming_the_flag() {
        let e = external(
            "serve",
            Path::new("/tmp/s"),
            "amqps://u:p@h",
            "http://u:p@h:1",
            None,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("--broker-ca"), "{e:#}");
        let ok = external(
            "serve",
            Path::new("/tmp/s"),
            "amqp://u:p@h",
            "http://u:p@h:1",
            None,
        )
        .unwrap();
        assert!(ok.vhost.starts_with("iplos-serve-s-"), "{}", ok.vhost);
    }
}
