//! Who the kommuner are on the national side: their HER-ids and the passwords of their
//! service bus users (shared by `serve`, the season engine and certification sessions).

use anyhow::{Context, Result};
use iplos_model::ids::HerId;
use sha2::{Digest, Sha256};

/// Offset of the kommuner's HER-ids: kommune `KNR` is HER-id `9 000 000 + KNR` (see the
/// docs of `iplos-harness serve`).
pub const KOMMUNE_HER_BASE: u32 = 9_000_000;

/// The HER-id of a kommune on the national side (`9 000 000 + kommunenummer`).
pub fn kommune_her_id(kommunenummer: &str) -> Result<HerId> {
    let n: u32 = kommunenummer
        .parse()
        .with_context(|| format!("kommunenummer {kommunenummer:?}"))?;
    Ok(HerId::new(KOMMUNE_HER_BASE + n)?)
}

/// A password of 24 letters and digits for `who`: derived from `seed` when given (the
/// same seed gives the same passwords), random otherwise.
pub fn password(seed: Option<u64>, who: &str) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let bytes: Vec<u8> = match seed {
        Some(s) => {
            let mut h = Sha256::new();
            h.update(b"iplos-harness serve password");
            h.update(s.to_le_bytes());
            h.update(who.as_bytes());
            h.finalize().to_vec()
        }
        None => {
            let mut b = vec![0u8; 32];
            openssl::rand::rand_bytes(&mut b)?;
            b
        }
    };
    Ok(bytes
        .iter()
        .take(24)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}
