//! Shared pieces of the KITH envelope formats (MsgHead, AppRec): the coded-value attributes
//! (`V`, `S`, `DN`, `OT`), XML escaping, decoding to UTF-8, and a small bounded element
//! tree for these small documents (with one element's content captured as a raw byte range
//! instead of being parsed into the tree).

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Volven OID of kodeverk 9051 (identifier types for health service units: HER, ENH, ...).
pub const OID_9051: &str = "2.16.578.1.12.4.1.1.9051";
/// Volven OID of kodeverk 8221 (AppRec error codes).
pub const OID_8221: &str = "2.16.578.1.12.4.1.1.8221";
/// Volven OID of kodeverk 8258 (AppRec status).
pub const OID_8258: &str = "2.16.578.1.12.4.1.1.8258";

/// Limits for reading a KITH envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum element depth outside the captured content.
    pub max_depth: usize,
    /// Maximum number of elements outside the captured content.
    pub max_elements: usize,
    /// Maximum depth inside the captured content.
    pub max_content_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 32,
            max_elements: 10_000,
            max_content_depth: 256,
        }
    }
}

/// Why an envelope could not be read as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed.
    #[error("not well-formed XML at byte {offset}: {message}")]
    Syntax {
        /// Byte offset (in the UTF-8 text).
        offset: u64,
        /// What the parser said.
        message: String,
    },
    /// The encoding is not one the harness reads.
    #[error("{0}")]
    Encoding(String),
    /// A DOCTYPE (refused: no DTDs, no entity expansion).
    #[error("a DOCTYPE is not allowed in this message")]
    Doctype,
    /// Deeper than the limit.
    #[error("elements nested deeper than {0}")]
    TooDeep(usize),
    /// More elements than the limit.
    #[error("more than {0} elements")]
    TooManyElements(usize),
    /// No root element.
    #[error("no root element")]
    Empty,
}

/// Decodes a document to UTF-8 text: a UTF-8 BOM is dropped; a declared ISO-8859-1 /
/// windows-1252 encoding is transcoded; UTF-16/32 and unknown encodings are refused.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, XmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        return Err(XmlError::Encoding(
            "UTF-16/UTF-32 is not supported; use UTF-8".into(),
        ));
    }
    let label = declared_encoding(bytes);
    let enc = match label.as_deref() {
        None => crate::xml_input::SourceEncoding::Utf8,
        Some(l) => crate::xml_input::SourceEncoding::from_label(l)
            .ok_or_else(|| XmlError::Encoding(format!("encoding \"{l}\" is not supported")))?,
    };
    match enc {
        crate::xml_input::SourceEncoding::Utf8 | crate::xml_input::SourceEncoding::Ascii => {
            std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
                XmlError::Encoding(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
            })
        }
        crate::xml_input::SourceEncoding::Latin1 => {
            Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()))
        }
        crate::xml_input::SourceEncoding::Windows1252 => {
            let (s, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            Ok(Cow::Owned(s.into_owned()))
        }
    }
}

/// The encoding label of an XML declaration at the start, if any.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = bytes.get(..bytes.len().min(200))?;
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let i = decl.find("encoding")?;
    let rest = decl[i + 8..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let rest = &rest[1..];
    let j = rest.find(quote)?;
    Some(rest[..j].to_string())
}

/// Escapes text content.
pub fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Appends ` name="value"` with the value escaped.
pub fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `<name>text</name>` (text escaped).
pub fn text_element(out: &mut String, indent: &str, name: &str, text: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_text(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

/// A coded value: KITH's CS (V, DN) and CV (V, S, DN, OT) attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Coded {
    /// `V`: the code.
    pub v: String,
    /// `S`: the code system OID (CV only).
    pub s: Option<String>,
    /// `DN`: the display name.
    pub dn: Option<String>,
    /// `OT`: original (free) text (CV only).
    pub ot: Option<String>,
}

impl Coded {
    /// A CS value (code and display name).
    pub fn cs(v: &str, dn: &str) -> Coded {
        Coded {
            v: v.into(),
            s: None,
            dn: Some(dn.into()),
            ot: None,
        }
    }

    /// A CV value (code, system, display name).
    pub fn cv(v: &str, s: &str, dn: &str) -> Coded {
        Coded {
            v: v.into(),
            s: Some(s.into()),
            dn: Some(dn.into()),
            ot: None,
        }
    }

    /// Appends `<name V=".." S=".." DN=".." OT=".."/>` (absent attributes left out).
    pub fn write(&self, out: &mut String, indent: &str, name: &str) {
        out.push_str(indent);
        out.push('<');
        out.push_str(name);
        attr(out, "V", &self.v);
        if let Some(s) = &self.s {
            attr(out, "S", s);
        }
        if let Some(dn) = &self.dn {
            attr(out, "DN", dn);
        }
        if let Some(ot) = &self.ot {
            attr(out, "OT", ot);
        }
        out.push_str("/>\n");
    }

    /// Reads the attributes of an element (a missing `V` gives an empty code).
    pub fn from_node(n: &Node) -> Coded {
        Coded {
            v: n.attr("V").unwrap_or_default().to_string(),
            s: n.attr("S").map(str::to_string),
            dn: n.attr("DN").map(str::to_string),
            ot: n.attr("OT").map(str::to_string),
        }
    }
}

/// An element of a small document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// Namespace URI ("" for none).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Unqualified attributes (local name, value).
    pub attrs: Vec<(String, String)>,
    /// Text content (concatenated, trimmed).
    pub text: String,
    /// Child elements.
    pub children: Vec<Node>,
    /// For the captured element: the byte range of its content in the decoded text, and
    /// the namespace bindings in scope at it that its content uses but its first child
    /// element does not declare.
    pub raw: Option<RawContent>,
}

/// The captured content of one element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawContent {
    /// Byte range of the content (between the start and end tag) in the decoded text.
    pub range: Range<usize>,
    /// Byte offset (in the decoded text) just after the name of the first child element's
    /// start tag, where missing namespace declarations can be inserted.
    pub root_insert_at: Option<usize>,
    /// `(prefix, uri)` bindings ("" prefix = default namespace) inherited from outside
    /// the content and used inside it without being redeclared on the first child.
    pub inherited: Vec<(String, String)>,
}

impl Node {
    /// An unqualified attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child with this local name in this namespace.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.ns == ns && c.name == name)
    }

    /// All children with this local name in this namespace.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |c| c.ns == ns && c.name == name)
    }

    /// The text of a child, if the child exists.
    pub fn child_text(&self, ns: &str, name: &str) -> Option<&str> {
        self.child(ns, name).map(|c| c.text.as_str())
    }
}

struct Frame {
    node: Node,
    /// Namespace declarations made on this element: (prefix, uri).
    decls: Vec<(String, String)>,
}

/// Parses a small document into a tree. `capture(path)` is asked for each element (path of
/// local names from the root, including the element); when it returns true the element's
/// content is not parsed into the tree but recorded as a raw range (it is still checked for
/// well-formedness, within `limits.max_content_depth`).
pub fn parse(
    text: &str,
    limits: Limits,
    capture: &dyn Fn(&[&str], &str) -> bool,
) -> Result<Node, XmlError> {
    let mut reader = NsReader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.expand_empty_elements = false;
        cfg.check_end_names = true;
        cfg.trim_text_start = false;
        cfg.trim_text_end = false;
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut elements = 0usize;
    let mut first = true;
    let syntax = |reader: &NsReader<&[u8]>, e: &dyn std::fmt::Display| XmlError::Syntax {
        offset: reader.buffer_position(),
        message: e.to_string(),
    };
    loop {
        let ev = reader.read_event().map_err(|e| syntax(&reader, &e))?;
        match ev {
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(XmlError::Syntax {
                        offset: reader.buffer_position(),
                        message: format!(
                            "the document ends inside <{}>",
                            stack.last().map(|f| f.node.name.as_str()).unwrap_or("")
                        ),
                    });
                }
                return root.ok_or(XmlError::Empty);
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(ev, Event::Empty(_));
                if root.is_some() {
                    return Err(XmlError::Syntax {
                        offset: reader.buffer_position(),
                        message: "content after the root element".into(),
                    });
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(XmlError::TooManyElements(limits.max_elements));
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                let (rns, local) = reader.resolver().resolve_element(e.name());
                let ns = match rns {
                    ResolveResult::Bound(n) => n.as_ref().to_string(),
                    ResolveResult::Unbound => String::new(),
                    ResolveResult::Unknown(p) => {
                        return Err(XmlError::Syntax {
                            offset: reader.buffer_position(),
                            message: format!("undeclared namespace prefix \"{p}\""),
                        });
                    }
                };
                let mut node = Node {
                    ns,
                    name: local.as_ref().to_string(),
                    ..Node::default()
                };
                let mut decls = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|err| syntax(&reader, &err))?;
                    let key = a.key.as_ref();
                    let value = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|err| syntax(&reader, &err))?
                        .into_owned();
                    if key == "xmlns" {
                        decls.push((String::new(), value));
                    } else if let Some(p) = key.strip_prefix("xmlns:") {
                        decls.push((p.to_string(), value));
                    } else if !key.contains(':') {
                        node.attrs.push((key.to_string(), value));
                    }
                }
                let mut path: Vec<&str> = stack.iter().map(|f| f.node.name.as_str()).collect();
                path.push(&node.name);
                let captured = capture(&path, &node.ns);
                if captured && !is_empty {
                    let start = reader.buffer_position() as usize;
                    let inherited_scope = scope(&stack, &decls);
                    let (end, raw) =
                        skip_content(&mut reader, text, start, limits, &inherited_scope)?;
                    node.raw = Some(RawContent {
                        range: start..end,
                        ..raw
                    });
                    attach(&mut stack, &mut root, node);
                } else if captured {
                    node.raw = Some(RawContent {
                        range: 0..0,
                        ..RawContent::default()
                    });
                    attach(&mut stack, &mut root, node);
                } else if is_empty {
                    attach(&mut stack, &mut root, node);
                } else {
                    stack.push(Frame { node, decls });
                }
            }
            Event::End(_) => {
                let f = stack.pop().ok_or_else(|| XmlError::Syntax {
                    offset: reader.buffer_position(),
                    message: "end tag without start tag".into(),
                })?;
                let mut node = f.node;
                node.text = node.text.trim().to_string();
                attach(&mut stack, &mut root, node);
            }
            Event::Text(t) => {
                let s = t.xml_content(XmlVersion::Implicit1_0);
                match stack.last_mut() {
                    Some(f) => f.node.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => {
                        return Err(XmlError::Syntax {
                            offset: reader.buffer_position(),
                            message: "text outside the root element".into(),
                        });
                    }
                }
            }
            Event::CData(t) => {
                if let Some(f) = stack.last_mut() {
                    f.node
                        .text
                        .push_str(&t.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::GeneralRef(r) => {
                let c = resolve_ref(&r).ok_or_else(|| XmlError::Syntax {
                    offset: reader.buffer_position(),
                    message: format!("unknown entity &{};", &*r),
                })?;
                if let Some(f) = stack.last_mut() {
                    f.node.text.push(c);
                }
            }
            Event::Decl(_) if !first => {
                return Err(XmlError::Syntax {
                    offset: reader.buffer_position(),
                    message: "the XML declaration is only allowed at the very start".into(),
                });
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
        first = false;
    }
}

fn resolve_ref(r: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    if r.is_char_ref() {
        return r.resolve_char_ref().ok().flatten();
    }
    match &**r {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

fn attach(stack: &mut [Frame], root: &mut Option<Node>, node: Node) {
    match stack.last_mut() {
        Some(parent) => parent.node.children.push(node),
        None => *root = Some(node),
    }
}

/// The namespace bindings in scope at the current element (innermost wins).
fn scope(stack: &[Frame], own: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for decls in stack
        .iter()
        .map(|f| &f.decls)
        .chain(std::iter::once(&own.to_vec()))
    {
        for (p, u) in decls {
            out.retain(|(q, _)| q != p);
            out.push((p.clone(), u.clone()));
        }
    }
    out
}

/// Skips the content of the captured element (already past its start tag), checking
/// well-formedness, and returns where its end tag starts, with the namespace facts.
fn skip_content(
    reader: &mut NsReader<&[u8]>,
    text: &str,
    start: usize,
    limits: Limits,
    in_scope: &[(String, String)],
) -> Result<(usize, RawContent), XmlError> {
    let mut depth = 0usize;
    let mut used: Vec<String> = Vec::new();
    let mut root_decls: Vec<String> = Vec::new();
    let mut root_insert_at = None;
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| XmlError::Syntax {
            offset: reader.buffer_position(),
            message: e.to_string(),
        })?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let qname = e.name();
                let raw = qname.as_ref();
                let prefix = raw.split_once(':').map(|(p, _)| p).unwrap_or("");
                if !used.iter().any(|u| u == prefix) {
                    used.push(prefix.to_string());
                }
                for a in e.attributes().flatten() {
                    let k = a.key.as_ref();
                    if let Some((p, _)) = k.split_once(':')
                        && p != "xmlns"
                        && p != "xml"
                        && !used.iter().any(|u| u == p)
                    {
                        used.push(p.to_string());
                    }
                    if depth == 0 && root_insert_at.is_none() {
                        if k == "xmlns" {
                            root_decls.push(String::new());
                        } else if let Some(p) = k.strip_prefix("xmlns:") {
                            root_decls.push(p.to_string());
                        }
                    }
                }
                if depth == 0 && root_insert_at.is_none() {
                    // '<' + name
                    let at = before + 1 + raw.len();
                    if text.get(before..at).is_some_and(|s| s.ends_with(raw)) {
                        root_insert_at = Some(at);
                    }
                }
                if matches!(ev, Event::Start(_)) {
                    depth += 1;
                    if depth > limits.max_content_depth {
                        return Err(XmlError::TooDeep(limits.max_content_depth));
                    }
                }
            }
            Event::End(_) => {
                if depth == 0 {
                    let inherited = in_scope
                        .iter()
                        .filter(|(p, _)| used.contains(p) && !root_decls.contains(p))
                        .cloned()
                        .collect();
                    return Ok((
                        before,
                        RawContent {
                            range: start..before,
                            root_insert_at,
                            inherited,
                        },
                    ));
                }
                depth -= 1;
            }
            Event::Eof => {
                return Err(XmlError::Syntax {
                    offset: reader.buffer_position(),
                    message: "the document ends inside the content".into(),
                });
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) => {
                return Err(XmlError::Syntax {
                    offset: reader.buffer_position(),
                    message: "an XML declaration inside the content".into(),
                });
            }
            Event::GeneralRef(r) if resolve_ref(&r).is_none() => {
                return Err(XmlError::Syntax {
                    offset: reader.buffer_position(),
                    message: format!("unknown entity &{};", &*r),
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_latin1_and_refuse_utf16() {
        let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xE6\xF8\xE5</a>";
        assert_eq!(
            decode(latin).unwrap(),
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>æøå</a>"
        );
        assert!(decode(b"\xFF\xFE<\0a\0").is_err());
        assert!(decode(b"<?xml version='1.0' encoding='EBCDIC'?><a/>").is_err());
        assert!(decode(b"<a>\xFF</a>").is_err());
    }

    #[test]
    fn tree_and_capture() {
        let doc =
            r#"<r xmlns="urn:x" xmlns:p="urn:p"><a V="1">t&amp;x</a><c><p:i/><j>z</j></c></r>"#;
        let n = parse(doc, Limits::default(), &|path, _| path.last() == Some(&"c")).unwrap();
        assert_eq!(n.name, "r");
        assert_eq!(n.ns, "urn:x");
        let a = n.child("urn:x", "a").unwrap();
        assert_eq!(a.attr("V"), Some("1"));
        assert_eq!(a.text, "t&x");
        let c = n.child("urn:x", "c").unwrap();
        let raw = c.raw.as_ref().unwrap();
        assert_eq!(&doc[raw.range.clone()], "<p:i/><j>z</j>");
        let mut inh = raw.inherited.clone();
        inh.sort();
        assert_eq!(
            inh,
            vec![
                (String::new(), "urn:x".to_string()),
                ("p".to_string(), "urn:p".to_string())
            ]
        );
    }

    #[test]
    fn limits_and_doctype() {
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert_eq!(
            parse(&deep, Limits::default(), &|_, _| false),
            Err(XmlError::TooDeep(32))
        );
        assert_eq!(
            parse(
                "<!DOCTYPE a [<!ENTITY x 'y'>]><a/>",
                Limits::default(),
                &|_, _| false
            ),
            Err(XmlError::Doctype)
        );
        assert!(matches!(
            parse("<a><b></a>", Limits::default(), &|_, _| false),
            Err(XmlError::Syntax { .. })
        ));
        assert_eq!(
            parse("", Limits::default(), &|_, _| false),
            Err(XmlError::Empty)
        );
    }
}
