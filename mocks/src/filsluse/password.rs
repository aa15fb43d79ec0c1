//! Password rules (with the seeds' wording) and password hashing.
//!
//! # Rules
//!
//! The filsluse guide (seeds 000–003, "Change Password..." screen) lists three requirements,
//! shown to the user in exactly these words:
//!
//! - [`RULE_MIN_LENGTH`]: "Must be at least 6 characters."
//! - [`RULE_USERNAME`]: "Must not contain or resemble Username."
//! - [`RULE_LETTER_NUMBER`]: "Must contain at least one letter and one number."
//!
//! Length counts Unicode scalar values. A "letter" is any alphabetic character (so `æøå`
//! count), a "number" an ASCII digit.
//!
//! **\[model\] "contain or resemble".** MOVEit does not publish its test. Here both the
//! password and the username are first *normalised*: lower-cased, common look-alike
//! characters mapped to letters (`0→o 1→l 3→e 4→a 5→s 7→t 8→b @→a $→s`) and everything that
//! is not a letter or digit dropped. With `local` the normalised part before `@` and `full`
//! the normalised whole username, a password is refused when
//!
//! 1. it contains `local` (when `local` has at least 3 characters) or `full`; or
//! 2. its edit distance (Levenshtein) to `local` or to `full` is at most 2, taken as it is
//!    and once more with its remaining digits (2, 6, 9) removed; or
//! 3. its letters alone (digits removed), when there are at least 4 of them, occur inside
//!    `full` — a piece of the username padded with digits, e.g. `hamar2024` for
//!    `postmottak@hamar.kommune.test`.
//!
//! So `postmottak1`, `P0stm0ttak!9`, `postmotak12` and `Hamar2024` are refused for
//! `postmottak@hamar.kommune.test`; `Sommer2024` and `abc123` are accepted.
//!
//! # Hashing
//!
//! PBKDF2-HMAC-SHA256 (OpenSSL) with a random 16-byte salt per user and a configurable
//! iteration count (600 000 by default, OWASP's 2023 figure), stored as
//! `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`; verification reads the iterations
//! from the stored string and compares in constant time.

use openssl::hash::MessageDigest;

/// The seeds' wording of the length rule.
pub const RULE_MIN_LENGTH: &str = "Must be at least 6 characters.";
/// The seeds' wording of the username rule.
pub const RULE_USERNAME: &str = "Must not contain or resemble Username.";
/// The seeds' wording of the letter-and-number rule.
pub const RULE_LETTER_NUMBER: &str = "Must contain at least one letter and one number.";
/// Shown when the two password fields differ (our wording; the seeds show no such message).
pub const MSG_MISMATCH: &str = "The two passwords you entered do not match.";
/// The minimum password length.
pub const MIN_LENGTH: usize = 6;
/// The longest password accepted (bytes); longer input is refused as too long for the KDF
/// budget. **\[model\]**
pub const MAX_LENGTH: usize = 256;
/// The default PBKDF2 iteration count.
pub const DEFAULT_ITERATIONS: u32 = 600_000;

const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
const SCHEME: &str = "pbkdf2-sha256";

/// A password requirement that a candidate password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PasswordRule {
    /// Shorter than [`MIN_LENGTH`].
    MinLength,
    /// Contains or resembles the username.
    Username,
    /// Lacks a letter or a digit.
    LetterAndNumber,
    /// Longer than [`MAX_LENGTH`] bytes.
    TooLong,
    /// The two entries differ.
    Mismatch,
}

impl PasswordRule {
    /// The message shown for the rule: the seeds' wording for the three published rules.
    pub fn message(self) -> &'static str {
        match self {
            PasswordRule::MinLength => RULE_MIN_LENGTH,
            PasswordRule::Username => RULE_USERNAME,
            PasswordRule::LetterAndNumber => RULE_LETTER_NUMBER,
            PasswordRule::TooLong => "Must be at most 256 characters.",
            PasswordRule::Mismatch => MSG_MISMATCH,
        }
    }
}

/// The three published requirements, in the order the seeds list them.
pub const REQUIREMENTS: [&str; 3] = [RULE_MIN_LENGTH, RULE_USERNAME, RULE_LETTER_NUMBER];

/// Every rule `password` breaks for `username` (empty: acceptable), in the seeds' order.
pub fn check(password: &str, username: &str) -> Vec<PasswordRule> {
    let mut broken = Vec::new();
    if password.len() > MAX_LENGTH {
        broken.push(PasswordRule::TooLong);
        return broken;
    }
    if password.chars().count() < MIN_LENGTH {
        broken.push(PasswordRule::MinLength);
    }
    if resembles_username(password, username) {
        broken.push(PasswordRule::Username);
    }
    let letter = password.chars().any(char::is_alphabetic);
    let digit = password.chars().any(|c| c.is_ascii_digit());
    if !(letter && digit) {
        broken.push(PasswordRule::LetterAndNumber);
    }
    broken
}

/// Lower-case, map look-alikes to letters, keep letters and digits only.
fn normalise(s: &str) -> Vec<char> {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '0' => 'o',
            '1' => 'l',
            '3' => 'e',
            '4' => 'a',
            '5' => 's',
            '7' => 't',
            '8' => 'b',
            '@' => 'a',
            '$' => 's',
            other => other,
        })
        .filter(|c| c.is_alphanumeric())
        .collect()
}

fn contains(hay: &[char], needle: &[char]) -> bool {
    !needle.is_empty()
        && needle.len() <= hay.len()
        && hay.windows(needle.len()).any(|w| w == needle)
}

/// Levenshtein distance, stopping early once it must exceed `limit` (returns `limit + 1`).
fn edit_distance_within(a: &[char], b: &[char], limit: usize) -> usize {
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Whether `password` contains or resembles `username` (the module's \[model\] test).
pub fn resembles_username(password: &str, username: &str) -> bool {
    let p = normalise(password);
    let full = normalise(username);
    let local_raw = username.split('@').next().unwrap_or(username);
    let local = normalise(local_raw);
    if (local.len() >= 3 && contains(&p, &local)) || contains(&p, &full) {
        return true;
    }
    let p_letters: Vec<char> = p.iter().copied().filter(|c| !c.is_ascii_digit()).collect();
    for candidate in [&p, &p_letters] {
        if candidate.is_empty() {
            continue;
        }
        if (!local.is_empty() && edit_distance_within(candidate, &local, 2) <= 2)
            || edit_distance_within(candidate, &full, 2) <= 2
        {
            return true;
        }
    }
    let letters: Vec<char> = password
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphabetic())
        .collect();
    letters.len() >= 4 && contains(&full, &letters)
}

/// Errors of hashing.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// OpenSSL failed (random bytes or PBKDF2).
    #[error("password hashing: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn derive(password: &str, salt: &[u8], iterations: u32) -> Result<[u8; HASH_LEN], HashError> {
    let mut out = [0u8; HASH_LEN];
    openssl::pkcs5::pbkdf2_hmac(
        password.as_bytes(),
        salt,
        usize::try_from(iterations).unwrap_or(usize::MAX),
        MessageDigest::sha256(),
        &mut out,
    )?;
    Ok(out)
}

/// Hashes `password` with a fresh random salt.
pub fn hash_password(password: &str, iterations: u32) -> Result<String, HashError> {
    let iterations = iterations.max(1);
    let mut salt = [0u8; SALT_LEN];
    openssl::rand::rand_bytes(&mut salt)?;
    let hash = derive(password, &salt, iterations)?;
    Ok(format!(
        "{SCHEME}${iterations}${}${}",
        hex(&salt),
        hex(&hash)
    ))
}

/// Whether `password` matches `stored` (a [`hash_password`] string). A malformed stored
/// value never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(scheme), Some(iter), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(iterations), Some(salt), Some(expected)) =
        (iter.parse::<u32>(), unhex(salt), unhex(hash))
    else {
        return false;
    };
    if scheme != SCHEME || iterations == 0 || expected.len() != HASH_LEN {
        return false;
    }
    match derive(password, &salt, iterations) {
        Ok(actual) => openssl::memcmp::eq(&actual, &expected),
        Err(_) => false,
    }
}

/// Spends about as long as a verification, for unknown users (no timing difference).
pub fn dummy_verify(password: &str, iterations: u32) {
    let _ = derive(password, &[0u8; SALT_LEN], iterations.max(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "postmottak@hamar.kommune.test";

    #[test]
    fn published_rules_with_their_wording() {
        assert_eq!(check("ab1", USER), vec![PasswordRule::MinLength]);
        assert_eq!(check("abcdefg", USER), vec![PasswordRule::LetterAndNumber]);
        assert_eq!(check("1234567", USER), vec![PasswordRule::LetterAndNumber]);
        assert_eq!(check("postmottak1", USER), vec![PasswordRule::Username]);
        assert_eq!(
            check("a", USER),
            vec![PasswordRule::MinLength, PasswordRule::LetterAndNumber]
        );
        assert!(check("Sommer2024", USER).is_empty());
        assert!(check("abc123", USER).is_empty());
        assert!(check("blåbær7", USER).is_empty(), "æøå are letters");
        assert_eq!(
            PasswordRule::MinLength.message(),
            "Must be at least 6 characters."
        );
        assert_eq!(
            PasswordRule::Username.message(),
            "Must not contain or resemble Username."
        );
        assert_eq!(
            PasswordRule::LetterAndNumber.message(),
            "Must contain at least one letter and one number."
        );
    }

    #[test]
    fn resemblance() {
        for p in [
            "postmottak1",
            "POSTMOTTAK99",
            "P0stm0ttak!9",
            "postmotak12",
            "pstmottak1",
            "xpostmottak@hamar.kommune.test1",
            "Hamar2024",
            "kommune77",
        ] {
            assert!(resembles_username(p, USER), "{p} should resemble");
        }
        for p in ["Sommer2024", "abc123", "Tromsø2024", "ham1", "zz9postx"] {
            assert!(!resembles_username(p, USER), "{p} should not resemble");
        }
        assert!(resembles_username(
            "meldingsansvarlig1",
            "meldingsansvarlig@bergen.kommune.test"
        ));
    }

    #[test]
    fn too_long_is_refused_before_hashing() {
        let long = "a1".repeat(200);
        assert_eq!(check(&long, USER), vec![PasswordRule::TooLong]);
    }

    #[test]
    fn hash_and_verify() {
        let h = hash_password("Sommer2024", 1000).unwrap();
        assert!(h.starts_with("pbkdf2-sha256$1000$"));
        assert!(verify_password("Sommer2024", &h));
        assert!(!verify_password("Sommer2025", &h));
        let h2 = hash_password("Sommer2024", 1000).unwrap();
        assert_ne!(h, h2, "salt differs per hash");
        for bad in [
            "",
            "x",
            "pbkdf2-sha256$0$00$00",
            "pbkdf2-sha256$10$zz$zz",
            "a$b$c$d$e",
        ] {
            assert!(!verify_password("Sommer2024", bad));
        }
    }
}
