//! The mail domains a test may meet in what the harness writes or sends: only the reserved
//! ones (RFC 2606, RFC 6761) — `.test`, `.example`, `.invalid`, `.localhost`, and
//! example.com/net/org — and IP addresses (`user:pass@127.0.0.1` in a connection string).

/// Every `@domain` in `text` (also percent-encoded `%40domain`) whose domain is not
/// reserved.
pub fn unreserved_domains(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    for marker in ["@", "%40"] {
        let mut rest = lower.as_str();
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let domain: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            let domain = domain.trim_end_matches('.').to_string();
            if !domain.contains('.') || reserved(&domain) {
                continue;
            }
            out.push(domain);
        }
    }
    out.sort();
    out.dedup();
    out
}

fn reserved(domain: &str) -> bool {
    let tld = domain.rsplit('.').next().unwrap_or("");
    matches!(tld, "test" | "example" | "invalid" | "localhost")
        || ["example.com", "example.net", "example.org"]
            .iter()
            .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        || domain.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Fails with the file and the domains when `text` names an unreserved one.
pub fn assert_reserved(what: &str, text: &str) {
    let bad = unreserved_domains(text);
    assert!(bad.is_empty(), "{what} names real domains: {bad:?}");
}

#[test]
fn the_scanner_finds_real_domains_and_only_those() {
    assert_eq!(
        unreserved_domains(
            "postmottak@hamar.kommune.no x%40ssb.no <id@ssb.test> a@b.example.org \
             amqp://u:p@127.0.0.1:5672 c@d.localhost e@f.invalid user@ g@h.example"
        ),
        vec!["hamar.kommune.no".to_string(), "ssb.no".to_string()]
    );
}
