//! Strict XML 1.0 (fifth edition) and Namespaces syntax of the markup quick-xml leaves
//! unchecked: the XML declaration, processing-instruction targets, the DOCTYPE, start
//! tags and their attributes, names. Each check follows what libxml2 decides, so that
//! `check` calls not well-formed exactly what `xmllint` does.

/// Why a piece of markup is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyntaxError {
    /// Not well-formed (WF01).
    Syntax(String),
    /// A DTD declaration: refused by design (WF04).
    Refused(String),
}

type Res<T> = Result<T, SyntaxError>;

fn err<T>(msg: impl Into<String>) -> Res<T> {
    Err(SyntaxError::Syntax(msg.into()))
}

/// XML 1.0 fifth edition NameStartChar.
pub(crate) fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 fifth edition NameChar.
pub(crate) fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Whether `s` is an XML Name.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty() && name_len(s) == s.len()
}

/// Whether `s` is a QName: one NCName, or two joined by one colon.
pub(crate) fn is_qname(s: &str) -> bool {
    if !is_name(s) {
        return false;
    }
    let mut parts = s.split(':');
    let first = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (None, _) => true,
        (Some(local), None) => !first.is_empty() && !local.is_empty(),
        _ => false,
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// ASCII name characters: 1 = NameChar, 2 = also NameStartChar.
const ASCII_NAME: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        t[i] = if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            2
        } else if c.is_ascii_digit() || c == b'-' || c == b'.' {
            1
        } else {
            0
        };
        i += 1;
    }
    t
};

/// Length of the Name at the start of `s` (0 when there is none).
fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    // ASCII fast path: almost every name in a message.
    let mut i = 0;
    while i < b.len() && b[i] < 0x80 {
        let class = ASCII_NAME[b[i] as usize];
        if class == 0 || (i == 0 && class != 2) {
            return i;
        }
        i += 1;
    }
    if i == b.len() {
        return i;
    }
    let mut end = i;
    for (k, c) in s[i..].char_indices() {
        let ok = if i + k == 0 {
            is_name_start_char(c)
        } else {
            is_name_char(c)
        };
        if !ok {
            break;
        }
        end = i + k + c.len_utf8();
    }
    end
}

/// A cursor over a piece of markup.
struct Cur<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cur<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }
    /// Skips whitespace; whether there was any.
    fn space(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_space) {
            self.i += 1;
        }
        self.i > start
    }
    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }
    fn name(&mut self) -> Option<&'a str> {
        let n = name_len(self.rest());
        if n == 0 {
            return None;
        }
        let s = &self.rest()[..n];
        self.i += n;
        Some(s)
    }
    /// `S? '=' S?`
    fn eq(&mut self) -> bool {
        self.space();
        let ok = self.eat("=");
        self.space();
        ok
    }
    /// A quoted literal; its content.
    fn quoted(&mut self) -> Option<&'a str> {
        let q = self.peek().filter(|&b| b == b'"' || b == b'\'')?;
        let rest = &self.rest()[1..];
        let end = rest.bytes().position(|b| b == q)?;
        self.i += end + 2;
        Some(&rest[..end])
    }
}

/// What an XML declaration declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Declaration {
    /// The encoding label, if any.
    pub(crate) encoding: Option<String>,
}

/// Checks an XML declaration; `content` is what is between `<?` and `?>`.
pub(crate) fn declaration(content: &str) -> Res<Declaration> {
    let mut c = Cur { s: content, i: 0 };
    if !c.eat("xml") {
        return err("malformed XML declaration");
    }
    let mut out = Declaration::default();
    if !c.space() || !c.eat("version") {
        return err("malformed XML declaration: version expected");
    }
    if !c.eq() {
        return err("malformed XML declaration: '=' expected after version");
    }
    let Some(v) = c.quoted() else {
        return err("malformed XML declaration: quoted version expected");
    };
    let vb = v.as_bytes();
    let shape = vb.len() >= 2
        && vb[0].is_ascii_digit()
        && vb[1] == b'.'
        && vb[2..].iter().all(u8::is_ascii_digit);
    if !shape {
        return err(format!("malformed XML declaration: version \"{v}\""));
    }
    if vb[0] != b'1' {
        return err(format!("unsupported XML version \"{v}\""));
    }
    let mut had_space = c.space();
    if c.rest().starts_with("encoding") {
        if !had_space {
            return err("malformed XML declaration: blank needed before encoding");
        }
        c.eat("encoding");
        if !c.eq() {
            return err("malformed XML declaration: '=' expected after encoding");
        }
        let Some(e) = c.quoted() else {
            return err("malformed XML declaration: quoted encoding expected");
        };
        let eb = e.as_bytes();
        let ok = eb.first().is_some_and(u8::is_ascii_alphabetic)
            && eb
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return err(format!("invalid encoding name \"{e}\""));
        }
        out.encoding = Some(e.to_string());
        had_space = c.space();
    }
    // libxml2 wants no blank before standalone after an encoding it needs not switch to.
    let utf8 = out
        .encoding
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("UTF-8") || e.eq_ignore_ascii_case("UTF8"));
    if c.rest().starts_with("standalone") {
        if !had_space && !utf8 {
            return err("malformed XML declaration: blank needed before standalone");
        }
        c.eat("standalone");
        if !c.eq() {
            return err("malformed XML declaration: '=' expected after standalone");
        }
        match c.quoted() {
            Some("yes" | "no") => {}
            _ => return err("standalone accepts only 'yes' or 'no'"),
        }
        c.space();
    }
    if !c.rest().is_empty() {
        return err("malformed XML declaration: '?>' expected");
    }
    Ok(out)
}

/// Checks a processing instruction; `content` is what is between `<?` and `?>`.
pub(crate) fn processing_instruction(content: &str) -> Res<()> {
    let n = name_len(content);
    if n == 0 {
        return err("a processing instruction without a valid target name");
    }
    let target = &content[..n];
    if target.eq_ignore_ascii_case("xml") {
        return err(if target == "xml" {
            "the XML declaration is only allowed at the very start of the document"
        } else {
            "a processing instruction may not be named \"xml\""
        });
    }
    if target.contains(':') {
        return err(format!(
            "colons are forbidden in processing-instruction targets ({target})"
        ));
    }
    let rest = &content[n..];
    if !rest.is_empty() && !is_space(rest.as_bytes()[0]) {
        return err(format!(
            "no space after the processing-instruction target {target}"
        ));
    }
    Ok(())
}

/// Checks a whole `<!DOCTYPE ...>` (raw bytes from `<!` to `>`). Markup declarations and
/// parameter-entity references in the internal subset are refused.
pub(crate) fn doctype(raw: &str) -> Res<()> {
    let mut c = Cur { s: raw, i: 0 };
    if !c.eat("<!DOCTYPE") {
        return err("malformed DOCTYPE (it must be written <!DOCTYPE)");
    }
    // libxml2 needs no blank after `<!DOCTYPE` nor after the name.
    c.space();
    if c.name().is_none() {
        return err("the DOCTYPE has no valid name");
    }
    let had_space = c.space();
    let _ = had_space;
    if c.rest().starts_with("SYSTEM") || c.rest().starts_with("PUBLIC") {
        let public = c.eat("PUBLIC");
        if !public {
            c.eat("SYSTEM");
        }
        if !c.space() {
            return err("malformed DOCTYPE: blank needed after SYSTEM/PUBLIC");
        }
        if public {
            let Some(p) = c.quoted() else {
                return err("malformed DOCTYPE: public id literal expected");
            };
            let ok = p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b" \r\n-'()+,./:=?;!*#@$_%".contains(&b));
            if !ok {
                return err("malformed DOCTYPE: invalid character in the public id");
            }
            if !c.space() {
                return err("malformed DOCTYPE: blank needed after the public id");
            }
        }
        if c.quoted().is_none() {
            return err("malformed DOCTYPE: system literal expected");
        }
        c.space();
    }
    if c.eat("[") {
        loop {
            c.space();
            let rest = c.rest();
            if rest.starts_with(']') {
                c.i += 1;
                break;
            }
            if let Some(body) = rest.strip_prefix("<!--") {
                match body.find("--") {
                    Some(p) if body[p..].starts_with("-->") => c.i += 4 + p + 3,
                    _ => return err("malformed comment in the DOCTYPE"),
                }
            } else if rest.starts_with("<?") {
                let Some(end) = rest.find("?>") else {
                    return err("unterminated processing instruction in the DOCTYPE");
                };
                processing_instruction(&rest[2..end])?;
                c.i += end + 2;
            } else if rest.starts_with("<!") || rest.starts_with('%') {
                return Err(SyntaxError::Refused(
                    "the DOCTYPE declares markup (entities, elements, attribute lists, notations); DTD declarations are refused (entity expansion is off, which also stops \"billion laughs\" bombs)".into(),
                ));
            } else {
                return err("malformed internal subset of the DOCTYPE");
            }
        }
        c.space();
    }
    if c.rest() != ">" {
        return err("the DOCTYPE is not properly terminated");
    }
    Ok(())
}

/// One attribute of a start tag, as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawAttr<'a> {
    /// The qualified name.
    pub(crate) name: &'a str,
    /// The value between the quotes, references not resolved.
    pub(crate) value: &'a str,
}

/// Splits a start tag (what is between `<` and `>` or `/>`) into its name and attributes,
/// checking the syntax: names, `=`, quotes, whitespace between attributes, no `<` in a
/// value, no attribute twice. The `Vec` is reused.
pub(crate) fn start_tag<'a>(content: &'a str, attrs: &mut Vec<RawAttr<'a>>) -> Res<&'a str> {
    attrs.clear();
    let mut c = Cur { s: content, i: 0 };
    let Some(name) = c.name() else {
        return err("invalid element name");
    };
    loop {
        let had_space = c.space();
        if c.rest().is_empty() {
            break;
        }
        if !had_space {
            return err(format!(
                "attributes construct error in <{name}> (a blank is needed between attributes)"
            ));
        }
        let Some(aname) = c.name() else {
            return err(format!("error parsing attribute name in <{name}>"));
        };
        if !c.eq() {
            return err(format!("attribute {aname} of <{name}> has no value"));
        }
        let Some(value) = c.quoted() else {
            return err(format!("the value of {aname} in <{name}> is not quoted"));
        };
        if value.contains('<') {
            return err(format!(
                "'<' is not allowed in an attribute value (<{name}>)"
            ));
        }
        if attrs.iter().any(|a| a.name == aname) {
            return err(format!("attribute {aname} appears twice on <{name}>"));
        }
        attrs.push(RawAttr { name: aname, value });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations() {
        for ok in [
            "xml version=\"1.0\"",
            "xml version='1.0' encoding='UTF-8' standalone='yes' ",
            "xml version = \"1.0\" encoding = \"latin1\"",
            "xml version=\"1.\"",
            "xml version=\"1.1\" standalone=\"no\"",
        ] {
            assert!(declaration(ok).is_ok(), "{ok}");
        }
        for bad in [
            "xml",
            "xml ",
            "xml version=\"2.0\"",
            "xml version=\"11.0\"",
            "xml version=\"1.x\"",
            "xml version=\"1.0\"encoding=\"UTF-8\"",
            "xml version=\"1.0\" standalone=\"yes\" encoding=\"UTF-8\"",
            "xml version=\"1.0\" encoding=\"UTF 8\"",
            "xml version=\"1.0\" encoding=\" UTF-8\"",
            "xml version=\"1.0\" encoding=\"\"",
            "xml version=\"1.0\" standalone=\"maybe\"",
            "xml version=\"1.0\" encodin=\"UTF-8\"",
            "xml version=\"1.0\" foo=\"bar\"",
            "xml versio=\"1.0\"",
            "xml version=1.0",
            "xml version=\"1.0\" \u{1}",
        ] {
            assert!(declaration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        let mut v = Vec::new();
        assert_eq!(start_tag("a b='1'\n c=\"2\" ", &mut v), Ok("a"));
        assert_eq!(v.len(), 2);
        for bad in [
            "a b=\"1\"c=\"2\"",
            "a b",
            "a b=1",
            "a (=\"1\"",
            "a b=\"1\" b=\"2\"",
            "1a",
            "a b=\"<\"",
            "a/ ",
        ] {
            assert!(start_tag(bad, &mut v).is_err(), "{bad}");
        }
        assert!(is_qname("a:b") && !is_qname("a:b:c") && !is_qname(":a") && !is_qname("a:"));
    }

    #[test]
    fn doctypes_and_pis() {
        assert!(doctype("<!DOCTYPE Melding>").is_ok());
        assert!(doctype("<!DOCTYPE Melding SYSTEM \"x\" [ <!-- c --> <?p x?> ]>").is_ok());
        assert!(matches!(
            doctype("<!DOCTYPE Melding [<!ENTITY e \"v\">]>"),
            Err(SyntaxError::Refused(_))
        ));
        assert!(doctype("<!DOCTYPEMelding>").is_ok());
        for bad in [
            "<!DOCTYPE>",
            "<!doctype a>",
            "<!DOCTYPE a [ x ]>",
            "<!DOCTYPE a SYSTEM>",
            "<!DOCTYPE 1a>",
        ] {
            assert!(matches!(doctype(bad), Err(SyntaxError::Syntax(_))), "{bad}");
        }
        assert!(processing_instruction("pi x").is_ok());
        assert!(processing_instruction("xmlfoo").is_ok());
        for bad in ["", " pi", "XML x", "p:q", "1pi"] {
            assert!(processing_instruction(bad).is_err(), "{bad}");
        }
    }
}

/// Resolves the references of an attribute value and normalises its whitespace (XML 1.0
/// §3.3.3 for CDATA: each literal tab, newline, carriage return or CR LF pair becomes a
/// space; character references stay what they name).
pub(crate) fn attribute_value(raw: &str, out: &mut String) -> Res<()> {
    out.clear();
    let b = raw.as_bytes();
    if !b.iter().any(|&c| matches!(c, b'&' | b'\r' | b'\t' | b'\n')) {
        out.push_str(raw);
        return Ok(());
    }
    let mut i = 0;
    let mut plain = 0;
    while i < b.len() {
        match b[i] {
            b'&' => {
                out.push_str(&raw[plain..i]);
                let Some(semi) = raw[i..].find(';') else {
                    return err("'&' in an attribute value that starts no reference");
                };
                let r = &raw[i + 1..i + semi];
                out.push(reference(r)?);
                i += semi + 1;
                plain = i;
            }
            b'\r' => {
                out.push_str(&raw[plain..i]);
                out.push(' ');
                i += if b.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                plain = i;
            }
            b'\t' | b'\n' => {
                out.push_str(&raw[plain..i]);
                out.push(' ');
                i += 1;
                plain = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&raw[plain..]);
    Ok(())
}

/// The character a reference (between `&` and `;`) stands for.
pub(crate) fn reference(r: &str) -> Res<char> {
    if let Some(num) = r.strip_prefix('#') {
        let v = if let Some(hex) = num.strip_prefix('x') {
            (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(hex, 16).ok())
                .flatten()
        } else {
            (!num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()))
                .then(|| num.parse::<u32>().ok())
                .flatten()
        };
        return match v.and_then(char::from_u32).filter(|&c| is_xml_char(c)) {
            Some(c) => Ok(c),
            None => err(format!("&{r}; is not a valid character reference")),
        };
    }
    match r {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ if is_name(r) => Err(SyntaxError::Refused(format!(
            "undefined entity &{r}; (only the five predefined entities are accepted)"
        ))),
        _ => err(format!("&{r}; is not a valid reference")),
    }
}

/// Whether `c` is an XML 1.0 Char.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// Namespaces well-formedness of one start tag (what libxml2 calls namespace errors):
/// qualified names, and namespace declarations that bind no URI, rebind `xml` or
/// `xmlns`, or bind their URIs. `values` are the attribute values, resolved.
pub(crate) fn namespaces(content: &str, attrs: &[RawAttr<'_>], values: &[String]) -> Res<()> {
    let name = &content[..name_len(content)];
    if !is_qname(name) {
        return err(format!("failed to parse QName '{name}'"));
    }
    for (a, v) in attrs.iter().zip(values) {
        if !is_qname(a.name) {
            return err(format!("failed to parse QName '{}'", a.name));
        }
        let declares = a.name == "xmlns" || a.name.starts_with("xmlns:");
        // libxml2 keeps a '&' from a reference as "&#38;" in a namespace name it checks.
        if declares && !v.is_empty() && !uri_ok(&v.replace('&', "&#38;")) {
            return err(format!("{}: '{v}' is not a valid URI", a.name));
        }
        if a.name == "xmlns" {
            if v == NS_XML || v == NS_XMLNS {
                return err(format!("{v} cannot be the default namespace"));
            }
        } else if let Some(p) = a.name.strip_prefix("xmlns:") {
            if p == "xmlns" {
                return err("redefinition of the xmlns prefix is forbidden");
            }
            if v.is_empty() {
                return err(format!("xmlns:{p}: empty XML namespace is not allowed"));
            }
            if (p == "xml") != (v == NS_XML) || v == NS_XMLNS {
                return err(format!(
                    "xmlns:{p}=\"{v}\": the xml prefix and its URI go together"
                ));
            }
        }
    }
    Ok(())
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// Length of a run of `ok` characters and percent-encodings at the start of `s`; `None`
/// when a `%` is not followed by two hex digits.
fn run(s: &[u8], ok: impl Fn(u8) -> bool) -> Option<usize> {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if s.len() < i + 3 || !s[i + 1].is_ascii_hexdigit() || !s[i + 2].is_ascii_hexdigit() {
                return None;
            }
            i += 3;
        } else if ok(s[i]) {
            i += 1;
        } else {
            break;
        }
    }
    Some(i)
}

fn pchar(b: u8) -> bool {
    unreserved(b) || sub_delim(b) || b == b':' || b == b'@'
}

/// Whether `s` is an RFC 3986 URI reference, as libxml2 checks namespace names.
pub(crate) fn uri_ok(s: &str) -> bool {
    let b = s.as_bytes();
    // Absolute: scheme ":" hier-part.
    let scheme = b.first().is_some_and(u8::is_ascii_alphabetic).then(|| {
        1 + b[1..]
            .iter()
            .take_while(|&&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
            .count()
    });
    if let Some(n) = scheme
        && b.get(n) == Some(&b':')
        && uri_rest(&b[n + 1..], true)
    {
        return true;
    }
    uri_rest(b, false)
}

/// hier-part (or relative-part) ["?" query] ["#" fragment].
fn uri_rest(b: &[u8], absolute: bool) -> bool {
    let mut i = 0;
    if b.starts_with(b"//") {
        i = 2;
        // authority = [userinfo "@"] host [":" port]
        let Some(u) = run(&b[i..], |c| unreserved(c) || sub_delim(c) || c == b':') else {
            return false;
        };
        if b.get(i + u) == Some(&b'@') {
            i += u + 1;
        }
        if b.get(i) == Some(&b'[') {
            let Some(end) = b[i..].iter().position(|&c| c == b']') else {
                return false;
            };
            i += end + 1;
        } else {
            let Some(h) = run(&b[i..], |c| unreserved(c) || sub_delim(c)) else {
                return false;
            };
            i += h;
        }
        if b.get(i) == Some(&b':') {
            let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return false;
            }
            i += 1 + digits;
        }
        if !matches!(b.get(i), None | Some(b'/' | b'?' | b'#')) {
            return false;
        }
    } else if !absolute {
        // path-noscheme: no ':' in the first segment
        let Some(n) = run(b, |c| pchar(c) && c != b':') else {
            return false;
        };
        if b.get(n) == Some(&b':') {
            return false;
        }
    }
    // path
    let Some(p) = run(&b[i..], |c| pchar(c) || c == b'/') else {
        return false;
    };
    i += p;
    if b.get(i) == Some(&b'?') {
        let Some(q) = run(&b[i + 1..], |c| pchar(c) || c == b'/' || c == b'?') else {
            return false;
        };
        i += 1 + q;
    }
    if b.get(i) == Some(&b'#') {
        let Some(f) = run(&b[i + 1..], |c| pchar(c) || c == b'/' || c == b'?') else {
            return false;
        };
        i += 1 + f;
    }
    i == b.len()
}

#[cfg(test)]
mod uri_tests {
    use super::uri_ok;

    #[test]
    fn uris_as_libxml2_sees_them() {
        for ok in [
            "urn:x",
            "a:b",
            "%41",
            "?x",
            "http://[::1]/",
            "http://u@h:1/p?q#f",
            "a/b:c",
            "//host",
            "///x",
            "http://www.npr.no/xmlstds/56_0_0_ipl#",
            "http://a:80/",
        ] {
            assert!(uri_ok(ok), "{ok}");
        }
        for bad in [
            "a b",
            "http://a:b/",
            "1a:b",
            "#a#b",
            "%zz",
            "http://a]b/",
            "http://ex.com/a{b",
            "a|b",
            "a\\b",
            "http://u@h@x/",
            ":x",
            "http://h:/x",
            "http://h:8a/x",
            "http://www.©pr.no",
        ] {
            assert!(!uri_ok(bad), "{bad}");
        }
    }
}
