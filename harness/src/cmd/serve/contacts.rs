//! `serve --contacts FILE`: the real test mailboxes some kommuner's mail goes to.
//!
//! By default every address `serve` hands out or mails is synthetic, on the reserved
//! `.test` domain (RFC 6761), so a forgotten relay can never write to a real kommune's
//! postmottak. An operator who wants the national side's mail (the filsluse's "Ny bruker",
//! password and "New File" mails) delivered to real test mailboxes through `--smtp-relay`
//! lists them here, and `serve` refuses `--smtp-relay` without such a file.
//!
//! # Format
//!
//! UTF-8 text, one kommune per line: the four-digit kommunenummer, then whitespace, `;` or
//! `,`, then the mailbox. Blank lines and lines starting with `#` are ignored.
//!
//! ```text
//! # kommunenummer  test mailbox
//! 0301  iplos-test-oslo@example.org
//! 3403; filsluse-test@hamar.example
//! ```
//!
//! Each listed kommune's filsluse user (its username stays the synthetic postmottak
//! address) gets its mail at the listed mailbox; `endpoints.json` shows it as the
//! kommune's `mail_to`. Kommuner not listed keep their `.test` address, which no relay
//! can deliver. The file applies to users created at that start: a user already in the
//! state directory keeps the address it was created with.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Kommunenummer → test mailbox.
pub(super) type Contacts = BTreeMap<String, String>;

/// Reads a contacts file; every kommunenummer must be one of `known`.
pub(super) fn read(path: &Path, known: &[&str]) -> Result<Contacts> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--contacts: cannot read {}", path.display()))?;
    parse(&text, known).with_context(|| format!("--contacts {}", path.display()))
}

/// Parses the contacts file's text (see the module docs).
pub(super) fn parse(text: &str, known: &[&str]) -> Result<Contacts> {
    let mut out = Contacts::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let Some((knr, addr)) =
            line.split_once(|c: char| c.is_whitespace() || c == ';' || c == ',')
        else {
            bail!("line {n}: expected `KOMMUNENUMMER ADDRESS`");
        };
        let (knr, addr) = (
            knr.trim(),
            addr.trim_matches(|c: char| c.is_whitespace() || c == ';' || c == ','),
        );
        if !known.contains(&knr) {
            bail!("line {n}: {knr} is not a kommune of the data year");
        }
        if !plausible_address(addr) {
            bail!("line {n}: {addr:?} is not a mail address");
        }
        if out.insert(knr.to_string(), addr.to_string()).is_some() {
            bail!("line {n}: {knr} is listed twice");
        }
    }
    if out.is_empty() {
        bail!("lists no kommune");
    }
    Ok(out)
}

fn plausible_address(a: &str) -> bool {
    a.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty()
            && d.contains('.')
            && !a
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_documented_format() {
        let c = parse(
            "# kommunenummer  test mailbox\n\n0301  iplos-test-oslo@example.org\n3403; filsluse-test@hamar.example\n",
            &["0301", "3403"],
        )
        .unwrap();
        assert_eq!(c["0301"], "iplos-test-oslo@example.org");
        assert_eq!(c["3403"], "filsluse-test@hamar.example");
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for (text, why) in [
            ("9999 a@b.example\n", "not a kommune"),
            ("0301\n", "expected"),
            ("0301 not-an-address\n", "not a mail address"),
            ("0301 a@b.example\n0301 c@d.example\n", "twice"),
            ("# nothing\n", "no kommune"),
        ] {
            let e = format!("{:#}", parse(text, &["0301"]).unwrap_err());
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }
}
