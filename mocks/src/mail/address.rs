//! Mail addresses as the capture server sees them: SMTP paths (`<local@domain>`) and the
//! mailbox key under which a recipient's mail is filed.

/// The longest path accepted in `MAIL FROM` / `RCPT TO` (RFC 5321 §4.5.3.1.3: 256 octets
/// including the angle brackets).
pub(crate) const MAX_PATH: usize = 256;

/// The key of the mailbox for `address`: surrounding whitespace and angle brackets
/// removed, the domain (after the last `@`) in lower case, the local part unchanged
/// (RFC 5321 §2.4: only the domain is case-insensitive).
///
/// ```
/// use iplos_mocks::mail::mailbox_key;
/// assert_eq!(mailbox_key(" <Postmottak@Hamar.KOMMUNE.test> "), "Postmottak@hamar.kommune.test");
/// assert_eq!(mailbox_key("postmaster"), "postmaster");
/// ```
pub fn mailbox_key(address: &str) -> String {
    let a = address.trim();
    let a = a.strip_prefix('<').unwrap_or(a);
    let a = a.strip_suffix('>').unwrap_or(a).trim();
    match a.rfind('@') {
        Some(at) => {
            let (local, domain) = a.split_at(at);
            format!("{local}{}", domain.to_lowercase())
        }
        None => a.to_string(),
    }
}

/// Why an SMTP path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathError {
    /// No `<...>` and nothing usable.
    Syntax,
    /// Longer than [`MAX_PATH`].
    TooLong,
    /// An address without `@` (other than `postmaster`) or with an empty part.
    BadAddress,
    /// A null path `<>` where one is not allowed (RCPT).
    NullNotAllowed,
}

/// Splits the argument of `MAIL FROM:` or `RCPT TO:` into the address and the ESMTP
/// parameters. Lenient as to spaces after the colon and a missing pair of brackets
/// (`MAIL FROM:a@b`); strips a source route (`<@a,@b:user@c>`). The null path `<>` gives
/// an empty address when `allow_null`.
pub(crate) fn parse_path(arg: &str, allow_null: bool) -> Result<(String, Vec<String>), PathError> {
    let arg = arg.trim_start();
    let (path, rest) = if let Some(inner) = arg.strip_prefix('<') {
        let end = find_closing(inner).ok_or(PathError::Syntax)?;
        (&inner[..end], &inner[end + 1..])
    } else {
        match arg.find(char::is_whitespace) {
            Some(sp) => (&arg[..sp], &arg[sp..]),
            None => (arg, ""),
        }
    };
    if path.len() + 2 > MAX_PATH {
        return Err(PathError::TooLong);
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(PathError::Syntax);
    }
    let params: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
    // Source route: "@a,@b:user@c" -> "user@c".
    let path = if path.starts_with('@') {
        match path.find(':') {
            Some(colon) => &path[colon + 1..],
            None => return Err(PathError::Syntax),
        }
    } else {
        path
    };
    if path.is_empty() {
        return if allow_null {
            Ok((String::new(), params))
        } else {
            Err(PathError::NullNotAllowed)
        };
    }
    if path
        .chars()
        .any(|c| c.is_control() || (c.is_whitespace() && !path.starts_with('"')))
    {
        return Err(PathError::BadAddress);
    }
    match path.rfind('@') {
        Some(at) if at > 0 && at + 1 < path.len() => Ok((path.to_string(), params)),
        None if path.eq_ignore_ascii_case("postmaster") => Ok((path.to_string(), params)),
        _ => Err(PathError::BadAddress),
    }
}

/// The index of the `>` closing a path, skipping a quoted local part.
fn find_closing(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_only_the_domain() {
        assert_eq!(mailbox_key("A.B@EXAMPLE.No"), "A.B@example.no");
        assert_eq!(mailbox_key("<x@Y>"), "x@y");
        assert_ne!(mailbox_key("A@b"), mailbox_key("a@b"));
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("<a@b> SIZE=10 BODY=8BITMIME", true),
            Ok(("a@b".into(), vec!["SIZE=10".into(), "BODY=8BITMIME".into()]))
        );
        assert_eq!(parse_path(" <a@b>", false), Ok(("a@b".into(), vec![])));
        assert_eq!(parse_path("a@b", false), Ok(("a@b".into(), vec![])));
        assert_eq!(parse_path("<>", true), Ok((String::new(), vec![])));
        assert_eq!(parse_path("<>", false), Err(PathError::NullNotAllowed));
        assert_eq!(
            parse_path("<@r1,@r2:u@c>", false),
            Ok(("u@c".into(), vec![]))
        );
        assert_eq!(
            parse_path("<\"a>b\"@c>", false),
            Ok(("\"a>b\"@c".into(), vec![]))
        );
        assert_eq!(
            parse_path("<Postmaster>", false),
            Ok(("Postmaster".into(), vec![]))
        );
        assert_eq!(parse_path("<nobody>", false), Err(PathError::BadAddress));
        assert_eq!(parse_path("<a@b", false), Err(PathError::Syntax));
        assert_eq!(parse_path("<a@b>x", false), Err(PathError::Syntax));
        assert_eq!(parse_path("<@b>", false), Err(PathError::Syntax));
        let long = format!("<{}@b>", "x".repeat(300));
        assert_eq!(parse_path(&long, false), Err(PathError::TooLong));
    }
}
