//! The streaming pass: well-formedness (with quick-xml plus the checks it leaves to the
//! caller) and validation against the schema tables of [`crate::schema`], building the
//! message items on the way.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Read;

use quick_xml::errors::Error as XmlError;
use quick_xml::escape::EscapeError;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::name::{NamespaceError, QName, ResolveResult};
use quick_xml::reader::NsReader;

use super::catalogue as r;
use super::{EventLines, Findings, Item, Limits, Source};
use crate::message::{Bruker, Event, EventKind, Header, Kontaktperson, Notifikasjon, Status};
use crate::schema::{self, ElementDecl, NS_IPL, NS_XSI, Use};
use crate::xml_input::{DecodeError, SourceEncoding, Utf8Input};
use crate::xml_syntax::{self as syntax, SyntaxError};

/// One open element.
struct Frame {
    /// Local name (static when the element is declared).
    name: Cow<'static, str>,
    /// Length of the shared path buffer before this element's segment.
    path_start: usize,
    /// Its declaration; `None` when the subtree is not validated (unexpected element).
    decl: Option<&'static ElementDecl>,
    /// Position in the content model.
    particle: usize,
    count: u32,
    /// How many children of each repeatable name were seen (for path indices).
    child_counts: Vec<(&'static str, u32)>,
    /// Values seen per uniqueness constraint.
    unique: Vec<HashSet<String>>,
    /// Non-whitespace text already reported.
    text_reported: bool,
    line: u64,
}

/// Elements that repeat under their parent get an index in paths.
const INDEXED: [&str; 3] = ["Notifikasjon", "Kontaktperson", "Kommune"];

impl Frame {
    fn new(
        name: Cow<'static, str>,
        path_start: usize,
        decl: Option<&'static ElementDecl>,
        line: u64,
    ) -> Frame {
        let unique = decl
            .map(|d| vec![HashSet::new(); d.unique.len()])
            .unwrap_or_default();
        Frame {
            name,
            path_start,
            decl,
            particle: 0,
            count: 0,
            child_counts: Vec::new(),
            unique,
            text_reported: false,
            line,
        }
    }

    /// Appends the path segment of a new child `name` to `buf`.
    fn push_child_segment(&mut self, name: &str, buf: &mut String) {
        buf.push('/');
        buf.push_str(name);
        if let Some(&key) = INDEXED.iter().find(|&&k| k == name) {
            let n = match self.child_counts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    self.child_counts.push((key, 1));
                    1
                }
            };
            let _ = write!(buf, "[{n}]");
        }
    }

    /// Advances the content model over a child `name`.
    fn accept(&mut self, name: &str) -> Result<(), Vec<&'static str>> {
        let Some(decl) = self.decl else { return Ok(()) };
        let seq = decl.sequence;
        let (mut i, mut count) = (self.particle, self.count);
        while i < seq.len() {
            if seq[i].element == name && count < seq[i].max {
                self.particle = i;
                self.count = count + 1;
                return Ok(());
            }
            if count >= seq[i].min {
                i += 1;
                count = 0;
            } else {
                break;
            }
        }
        Err(self.expected())
    }

    /// The elements that could come next.
    fn expected(&self) -> Vec<&'static str> {
        let Some(decl) = self.decl else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let (mut i, mut count) = (self.particle, self.count);
        while i < decl.sequence.len() {
            let p = &decl.sequence[i];
            if count < p.max {
                out.push(p.element);
            }
            if count < p.min {
                break;
            }
            i += 1;
            count = 0;
        }
        out
    }

    /// The first required child still missing at the end of the element.
    fn missing(&self) -> Option<&'static str> {
        let decl = self.decl?;
        let (mut i, mut count) = (self.particle, self.count);
        while i < decl.sequence.len() {
            if count < decl.sequence[i].min {
                return Some(decl.sequence[i].element);
            }
            i += 1;
            count = 0;
        }
        None
    }
}

/// Receives each item read, with the line it starts on, the lines of its events (for a
/// notification) and its path.
pub(crate) type OnItem<'a> = dyn FnMut(Item, &Source<'_>) + 'a;

/// The item being built from the elements read.
#[derive(Default)]
struct Builder {
    notifikasjon: Option<(Notifikasjon, u64, String)>,
    /// Where each event of the notification being built and its `Bruker` start.
    event_lines: Vec<EventLines>,
    /// Paths of required attributes missing from the elements of the item being built.
    missing: Vec<String>,
    kontakt: Option<(Kontaktperson, u64, String)>,
    kommune: Option<(String, u64, String)>,
}

/// Attributes of one element: the name (static when declared) and the normalised value.
type Attrs = Vec<(Cow<'static, str>, String)>;

fn attr_value<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Moves an attribute's value out (empty when absent).
fn take(attrs: &mut Attrs, name: &str) -> String {
    attrs
        .iter_mut()
        .find(|(k, _)| k == name)
        .map(|(_, v)| std::mem::take(v))
        .unwrap_or_default()
}

fn take_opt(attrs: &mut Attrs, name: &str) -> Option<String> {
    attrs
        .iter_mut()
        .find(|(k, _)| k == name)
        .map(|(_, v)| std::mem::take(v))
}

struct Pass<'f, 'i> {
    findings: &'f mut Findings,
    on_item: &'i mut OnItem<'i>,
    stack: Vec<Frame>,
    /// The path of the current element, e.g. `/Melding/Notifikasjon[3]/TjenesteStart`.
    path_buf: String,
    builder: Builder,
    root_seen: bool,
    root_closed: bool,
    doctype_seen: bool,
    line: u64,
    events: u64,
}

/// Validates `input`, recording findings and handing items to `on_item`.
/// Returns true when the whole document was read (it is well-formed), false when reading
/// stopped at a well-formedness error.
pub(crate) fn validate(
    input: impl Read,
    limits: &Limits,
    findings: &mut Findings,
    on_item: &mut OnItem<'_>,
) -> bool {
    let utf8 = match Utf8Input::new(input, limits.max_token) {
        Ok(u) => u,
        Err((e, io)) => {
            let rule = match e {
                DecodeError::Unsupported(ref l) if l.is_empty() => {
                    findings.push(
                        &r::WF_SYNTAX,
                        1,
                        "/",
                        format!("the file could not be read: {io}"),
                    );
                    return false;
                }
                _ => &r::WF_ENCODING,
            };
            findings.push(rule, 1, "/", e.to_string());
            return false;
        }
    };
    let mut reader = NsReader::from_reader(utf8);
    {
        let cfg = reader.config_mut();
        cfg.expand_empty_elements = false;
        cfg.check_end_names = true;
        cfg.check_comments = true;
        cfg.trim_text_start = false;
        cfg.trim_text_end = false;
    }
    let mut pass = Pass {
        findings,
        on_item,
        stack: Vec::new(),
        path_buf: String::with_capacity(128),
        builder: Builder::default(),
        root_seen: false,
        root_closed: false,
        doctype_seen: false,
        line: 1,
        events: 0,
    };
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        // The token limit bounds what the parser buffers for this event.
        reader.get_mut().start_token();
        let ev = reader.read_event_into(&mut buf);
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                let input = reader.get_ref();
                pass.xml_error(e, input.error().cloned(), input.at_end());
                return false;
            }
        };
        pass.events += 1;
        let start_line = pass.line;
        let mut raw_doctype = false;
        match ev {
            XmlEvent::Eof => {
                if let Some(f) = pass.stack.last() {
                    let (name, line) = (f.name.clone(), f.line);
                    pass.findings.push(&r::WF_TRUNCATED, pass.line, pass.path_buf.clone(), format!("the document ends before </{name}> (opened on line {line}): the file is truncated"));
                    return false;
                } else if !pass.root_seen {
                    pass.findings.push(
                        &r::WF_TRUNCATED,
                        pass.line,
                        "/",
                        "the document has no root element (empty file or no XML content)",
                    );
                    return false;
                }
                return true;
            }
            XmlEvent::Decl(d) => {
                pass.count_lines(&d);
                if pass.events != 1 {
                    pass.findings.push(
                        &r::WF_SYNTAX,
                        start_line,
                        "/",
                        "the XML declaration is only allowed at the very start of the document",
                    );
                    return false;
                }
                let decl = syntax::declaration(&d).map_err(|e| (e, ()));
                if !pass.chars_ok(&d, start_line)
                    || !pass.syntax(decl.clone().map_err(|(e, _)| e), start_line)
                {
                    return false;
                }
                // The declaration may be longer than what the encoding was sniffed from.
                let declared = decl.ok().and_then(|d| d.encoding);
                if let Some(label) = declared
                    && SourceEncoding::from_label(&label) != Some(reader.get_ref().encoding())
                {
                    let msg = match SourceEncoding::from_label(&label) {
                        None => DecodeError::Unsupported(label).to_string(),
                        Some(_) => format!(
                            "the encoding \"{label}\" is declared too far from the start of the file to be used"
                        ),
                    };
                    pass.findings.push(&r::WF_ENCODING, start_line, "/", msg);
                    return false;
                }
            }
            XmlEvent::PI(p) => {
                pass.count_lines(&p);
                if !pass.chars_ok(&p, start_line)
                    || !pass.syntax(syntax::processing_instruction(&p), start_line)
                {
                    return false;
                }
            }
            XmlEvent::Comment(c) => {
                pass.count_lines(&c);
                if !pass.chars_ok(&c, start_line) {
                    return false;
                }
            }
            XmlEvent::DocType(d) => {
                pass.count_lines(&d);
                if pass.root_seen {
                    pass.findings.push(
                        &r::WF_SYNTAX,
                        start_line,
                        "/",
                        "a DOCTYPE is only allowed before the root element",
                    );
                    return false;
                }
                if pass.doctype_seen {
                    pass.findings
                        .push(&r::WF_SYNTAX, start_line, "/", "a second DOCTYPE");
                    return false;
                }
                pass.doctype_seen = true;
                if !pass.chars_ok(&d, start_line) {
                    return false;
                }
                raw_doctype = true;
            }
            XmlEvent::Start(e) => {
                pass.count_lines(&e);
                if !pass.start(&reader, &e, start_line, false, limits) {
                    return false;
                }
            }
            XmlEvent::Empty(e) => {
                pass.count_lines(&e);
                if !pass.start(&reader, &e, start_line, true, limits) {
                    return false;
                }
            }
            XmlEvent::End(_) => {
                pass.end(start_line);
            }
            XmlEvent::Text(t) => {
                // libxml2 takes a NUL byte where markup may start after the root element
                // for the end of the input: what follows is not read.
                if pass.root_closed
                    && pass.stack.is_empty()
                    && let Some(nul) = t.find('\0')
                    && t[..nul].bytes().all(|b| b.is_ascii_whitespace())
                {
                    return true;
                }
                pass.count_lines(&t);
                if !pass.chars_ok(&t, start_line) {
                    return false;
                }
                if t.contains("]]>") {
                    pass.findings.push(
                        &r::WF_SYNTAX,
                        start_line,
                        pass.path(),
                        "the sequence ']]>' is not allowed in content",
                    );
                    return false;
                }
                let blank = t.bytes().all(|b| b.is_ascii_whitespace());
                if (!blank || pass.in_empty_content()) && !pass.text(start_line) {
                    return false;
                }
            }
            XmlEvent::CData(t) => {
                pass.count_lines(&t);
                if !pass.chars_ok(&t, start_line) {
                    return false;
                }
                if pass.stack.is_empty() {
                    pass.findings.push(
                        &r::WF_SYNTAX,
                        start_line,
                        "/",
                        "a CDATA section outside the root element",
                    );
                    return false;
                }
                // libxml2 treats any CDATA section, even whitespace, as character data.
                pass.text(start_line);
            }
            XmlEvent::GeneralRef(g) => {
                if g.is_char_ref() {
                    match g.resolve_char_ref() {
                        Ok(Some(c)) if is_xml_char(c) => {
                            if (pass.stack.is_empty()
                                || !c.is_ascii_whitespace()
                                || pass.in_empty_content())
                                && !pass.text(start_line)
                            {
                                return false;
                            }
                        }
                        _ => {
                            pass.findings.push(
                                &r::WF_SYNTAX,
                                start_line,
                                pass.path(),
                                format!("&{}; is not a valid character reference", &*g),
                            );
                            return false;
                        }
                    }
                } else {
                    let name = g.to_string();
                    if !matches!(name.as_str(), "amp" | "lt" | "gt" | "quot" | "apos") {
                        pass.findings.push(&r::WF_DTD, start_line, pass.path(), format!("undefined entity &{name}; (only the five predefined entities are accepted)"));
                        return false;
                    }
                    if !pass.text(start_line) {
                        return false;
                    }
                }
            }
        }
        if raw_doctype {
            let raw = String::from_utf8_lossy(&buf);
            if !pass.syntax(syntax::doctype(&raw), start_line) {
                return false;
            }
        }
    }
}

use syntax::is_xml_char;

impl Pass<'_, '_> {
    /// Records a syntax check's error; whether the markup passed.
    fn syntax<T>(&mut self, res: Result<T, SyntaxError>, line: u64) -> bool {
        match res {
            Ok(_) => true,
            Err(SyntaxError::Syntax(m)) => {
                let path = self.path();
                self.findings
                    .push(&r::WF_SYNTAX, line, path, format!("not well-formed: {m}"));
                false
            }
            Err(SyntaxError::Refused(m)) => {
                let path = self.path();
                self.findings.push(&r::WF_DTD, line, path, m);
                false
            }
        }
    }

    fn count_lines(&mut self, text: &str) {
        self.line += text.as_bytes().iter().filter(|&&b| b == b'\n').count() as u64;
    }

    fn path(&self) -> String {
        if self.path_buf.is_empty() {
            "/".to_string()
        } else {
            self.path_buf.clone()
        }
    }

    /// Rejects characters XML does not allow.
    fn chars_ok(&mut self, text: &str, line: u64) -> bool {
        let bytes = text.as_bytes();
        if let Some(b) = bytes
            .iter()
            .find(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
        {
            self.findings.push(
                &r::WF_SYNTAX,
                line,
                self.path(),
                format!("character U+{:04X} is not allowed in XML", b),
            );
            return false;
        }
        if bytes
            .windows(3)
            .any(|w| w == [0xEF, 0xBF, 0xBE] || w == [0xEF, 0xBF, 0xBF])
        {
            self.findings.push(
                &r::WF_SYNTAX,
                line,
                self.path(),
                "character U+FFFE or U+FFFF is not allowed in XML",
            );
            return false;
        }
        true
    }

    /// Whether the current element has empty content (where even whitespace is not allowed).
    fn in_empty_content(&self) -> bool {
        self.stack
            .last()
            .and_then(|f| f.decl)
            .is_some_and(|d| d.sequence.is_empty())
    }

    /// Character data at the current position. Returns false when parsing must stop.
    fn text(&mut self, line: u64) -> bool {
        match self.stack.last_mut() {
            None => {
                let where_ = if self.root_closed { "after" } else { "before" };
                self.findings.push(
                    &r::WF_SYNTAX,
                    line,
                    "/",
                    format!("text {where_} the root element"),
                );
                false
            }
            Some(f) => {
                if f.decl.is_some() && !f.text_reported {
                    f.text_reported = true;
                    let (name, path) = (f.name.clone(), self.path_buf.clone());
                    self.findings.push(&r::XSD_TEXT, line, path, format!("element {name} may not contain text (its content is element-only or empty; an empty element may not even hold whitespace)"));
                }
                true
            }
        }
    }

    /// A parser error; `at_end` when the whole input had been read (a syntax error there
    /// is a cut-off document).
    fn xml_error(&mut self, e: XmlError, decode: Option<DecodeError>, at_end: bool) {
        let path = self.path();
        if let Some(d) = decode {
            let rule = if matches!(d, DecodeError::TokenTooLong { .. }) {
                &r::WF_LIMIT
            } else {
                &r::WF_ENCODING
            };
            self.findings.push(rule, self.line, path, d.to_string());
            return;
        }
        match e {
            XmlError::Syntax(s) => {
                let truncated = matches!(
                    s,
                    quick_xml::errors::SyntaxError::UnclosedTag
                        | quick_xml::errors::SyntaxError::UnclosedXmlDecl
                        | quick_xml::errors::SyntaxError::UnclosedComment
                        | quick_xml::errors::SyntaxError::UnclosedCData
                        | quick_xml::errors::SyntaxError::UnclosedDoctype
                        | quick_xml::errors::SyntaxError::UnclosedPI
                        | quick_xml::errors::SyntaxError::UnclosedSingleQuotedAttributeValue
                        | quick_xml::errors::SyntaxError::UnclosedDoubleQuotedAttributeValue
                ) || (at_end
                    && s == quick_xml::errors::SyntaxError::InvalidBangMarkup);
                let rule = if truncated {
                    &r::WF_TRUNCATED
                } else {
                    &r::WF_SYNTAX
                };
                self.findings
                    .push(rule, self.line, path, format!("not well-formed: {s}"));
            }
            XmlError::Namespace(NamespaceError::TooManyBindings(n)) => self.findings.push(
                &r::WF_LIMIT,
                self.line,
                path,
                format!("more than {n} namespace declarations (xmlns) are in scope at once"),
            ),
            XmlError::Namespace(NamespaceError::TooDeeplyNested(n)) => self.findings.push(
                &r::WF_LIMIT,
                self.line,
                path,
                format!("elements are nested deeper than {n} levels"),
            ),
            XmlError::IllFormed(i) => self.findings.push(
                &r::WF_SYNTAX,
                self.line,
                path,
                format!("not well-formed: {i}"),
            ),
            XmlError::Escape(EscapeError::UnrecognizedEntity(_, name)) => self.findings.push(
                &r::WF_DTD,
                self.line,
                path,
                format!(
                    "undefined entity &{name}; (only the five predefined entities are accepted)"
                ),
            ),
            other => self.findings.push(
                &r::WF_SYNTAX,
                self.line,
                path,
                format!("not well-formed: {other}"),
            ),
        }
    }

    /// Start of an element (`empty` for `<x/>`). Returns false when parsing must stop.
    fn start<R>(
        &mut self,
        reader: &NsReader<R>,
        e: &BytesStart,
        line: u64,
        empty: bool,
        limits: &Limits,
    ) -> bool {
        let content: &str = e;
        let mut raw_attrs = Vec::new();
        let res = syntax::start_tag(content, &mut raw_attrs);
        if !self.syntax(res, line) {
            return false;
        }
        let mut values = Vec::with_capacity(raw_attrs.len());
        for a in &raw_attrs {
            if !self.chars_ok(a.value, line) {
                return false;
            }
            let mut v = String::new();
            if !self.syntax(syntax::attribute_value(a.value, &mut v), line) {
                return false;
            }
            values.push(v);
        }
        if !self.syntax(syntax::namespaces(content, &raw_attrs, &values), line) {
            return false;
        }
        let qname = e.name();
        if qname.as_ref().len() > limits.max_name {
            self.findings.push(
                &r::WF_LIMIT,
                line,
                self.path(),
                format!(
                    "an element name is {} bytes long; names are limited to {} bytes",
                    qname.as_ref().len(),
                    limits.max_name
                ),
            );
            return false;
        }
        if !syntax::is_qname(qname.as_ref()) {
            self.findings.push(
                &r::WF_SYNTAX,
                line,
                self.path(),
                format!("\"{}\" is not a valid element name", qname.as_ref()),
            );
            return false;
        }
        if self.root_closed && self.stack.is_empty() {
            self.findings.push(
                &r::WF_SYNTAX,
                line,
                "/",
                format!(
                    "a second root element <{}> after the end of the first",
                    qname.as_ref()
                ),
            );
            return false;
        }
        if self.stack.len() >= limits.max_depth {
            self.findings.push(
                &r::WF_LIMIT,
                line,
                self.path(),
                format!(
                    "elements are nested deeper than {} levels",
                    limits.max_depth
                ),
            );
            return false;
        }
        let (ns, local) = reader.resolver().resolve_element(qname);
        let local: &str = local.as_ref();
        let in_ipl = match ns {
            ResolveResult::Bound(n) => n.as_ref() == NS_IPL,
            ResolveResult::Unbound => false,
            ResolveResult::Unknown(p) => {
                self.findings.push(
                    &r::WF_SYNTAX,
                    line,
                    self.path(),
                    format!("namespace prefix \"{p}\" is not declared"),
                );
                return false;
            }
        };
        let describe_ns = || match ns {
            ResolveResult::Bound(n) => format!("{{{}}}{local}", n.as_ref()),
            _ => format!("{local} in no namespace"),
        };

        // Where does it go? Push the path segment and find the declaration.
        let path_start = self.path_buf.len();
        let decl = match self.stack.last_mut() {
            None => {
                self.root_seen = true;
                self.path_buf.push('/');
                self.path_buf.push_str(local);
                if let Some(d) = schema::element(local).filter(|_| in_ipl) {
                    if d.name != schema::root().name {
                        self.findings.push(&r::ROOT_NOT_MELDING, line, self.path_buf.clone(), format!("the root element is {local}; the XSD accepts it, but a message must be a Melding"));
                    }
                    Some(d)
                } else {
                    self.findings.push(
                        &r::XSD_ROOT,
                        line,
                        self.path_buf.clone(),
                        format!(
                            "the root element is {}; expected Melding in namespace {NS_IPL}",
                            describe_ns()
                        ),
                    );
                    None
                }
            }
            Some(parent) => {
                parent.push_child_segment(local, &mut self.path_buf);
                if parent.decl.is_none() {
                    None
                } else if !in_ipl {
                    let msg = format!(
                        "element {} is not allowed in {}; expected {}",
                        describe_ns(),
                        parent.name,
                        describe(&parent.expected())
                    );
                    self.findings
                        .push(&r::XSD_UNEXPECTED, line, self.path_buf.clone(), msg);
                    None
                } else {
                    match parent.accept(local) {
                        Ok(()) => schema::element(local),
                        Err(expected) => {
                            let msg = format!(
                                "element {local} is not allowed here in {}; expected {}",
                                parent.name,
                                describe(&expected)
                            );
                            self.findings.push(
                                &r::XSD_UNEXPECTED,
                                line,
                                self.path_buf.clone(),
                                msg,
                            );
                            None
                        }
                    }
                }
            }
        };
        let name: Cow<'static, str> = match decl {
            Some(d) => Cow::Borrowed(d.name),
            None => Cow::Owned(local.to_string()),
        };

        // Attributes: well-formedness first.
        let mut attrs: Attrs = Vec::with_capacity(8);
        let mut foreign: Vec<(String, String)> = Vec::new();
        let mut seen_expanded: HashSet<(String, String)> = HashSet::new();
        for (a, value) in raw_attrs.iter().zip(values) {
            let key = QName(a.name);
            let raw_key = a.name;
            if raw_key.len() > limits.max_name {
                self.findings.push(
                    &r::WF_LIMIT,
                    line,
                    self.path(),
                    format!(
                        "an attribute name is {} bytes long; names are limited to {} bytes",
                        raw_key.len(),
                        limits.max_name
                    ),
                );
                return false;
            }
            if raw_key == "xmlns" || raw_key.starts_with("xmlns:") {
                continue;
            }
            let (ans, alocal) = reader.resolver().resolve_attribute(key);
            let alocal: &str = alocal.as_ref();
            match ans {
                ResolveResult::Unbound => {
                    let key = match decl.and_then(|d| d.attribute(alocal)) {
                        Some(ad) => Cow::Borrowed(ad.name),
                        None => Cow::Owned(alocal.to_string()),
                    };
                    attrs.push((key, value));
                }
                ResolveResult::Bound(n) => {
                    let expanded = (n.as_ref().to_string(), alocal.to_string());
                    if seen_expanded.contains(&expanded) {
                        self.findings.push(
                            &r::WF_SYNTAX,
                            line,
                            self.path(),
                            format!(
                                "attribute {{{}}}{} appears twice on <{}> (under two prefixes)",
                                expanded.0,
                                expanded.1,
                                qname.as_ref()
                            ),
                        );
                        return false;
                    }
                    seen_expanded.insert(expanded.clone());
                    foreign.push(expanded);
                }
                ResolveResult::Unknown(p) => {
                    self.findings.push(
                        &r::WF_SYNTAX,
                        line,
                        self.path(),
                        format!(
                            "namespace prefix \"{p}\" of attribute \"{raw_key}\" is not declared"
                        ),
                    );
                    return false;
                }
            }
        }

        if let Some(decl) = decl {
            check_attributes(
                self.findings,
                &self.path_buf,
                decl,
                &attrs,
                &foreign,
                line,
                &mut self.builder.missing,
            );
            if let Some(parent) = self.stack.last_mut() {
                check_unique(self.findings, &self.path_buf, parent, local, &attrs, line);
            }
            self.build_start(decl.name, &mut attrs, line);
        }
        self.stack.push(Frame::new(name, path_start, decl, line));
        if empty {
            self.end(line);
        }
        true
    }

    fn build_start(&mut self, name: &str, attrs: &mut Attrs, line: u64) {
        match name {
            "Melding" => {
                let h = Header {
                    versjon: take(attrs, "versjon"),
                    meldingstype: take(attrs, "meldingstype"),
                    leverandor: take(attrs, "leverandor"),
                    navn_epj: take(attrs, "navnEPJ"),
                    versjon_epj: take(attrs, "versjonEPJ"),
                    versjon_ut: take(attrs, "versjonUt"),
                    lokalident: take_opt(attrs, "lokalident"),
                };
                let missing = std::mem::take(&mut self.builder.missing);
                let source = Source {
                    line,
                    path: &self.path_buf,
                    events: &[],
                    missing: &missing,
                };
                (self.on_item)(Item::Header(h), &source);
            }
            "Notifikasjon" => {
                let n = Notifikasjon {
                    status: Status::from_code(
                        attr_value(attrs, "statusNotifikasjon").unwrap_or_default(),
                    ),
                    tid: take(attrs, "notifikasjonTid"),
                    guid: take(attrs, "notifikasjonGUID"),
                    forrige_guid: take(attrs, "notifikasjonForrigeGUID"),
                    lopenr: take(attrs, "notifikasjonLopeNr"),
                    referanse: take_opt(attrs, "notifikasjonRef"),
                    events: Vec::with_capacity(1),
                };
                self.builder.notifikasjon = Some((n, line, self.path_buf.clone()));
                self.builder.event_lines.clear();
            }
            "Kontaktperson" => {
                let k = Kontaktperson {
                    navn: take(attrs, "kontPerson"),
                    telefon: take_opt(attrs, "meldTelefon"),
                    epost1: take(attrs, "meldEpost1"),
                    epost2: take_opt(attrs, "meldEpost2"),
                    type_kontaktperson: take(attrs, "typeKontaktperson"),
                };
                self.builder.kontakt = Some((k, line, self.path_buf.clone()));
            }
            "Kommune" => {
                // Without kommuneNr there is nothing to check: the missing attribute is the
                // schema's finding (XSD05), not an invalid kommunenummer (IPL22).
                self.builder.kommune =
                    take_opt(attrs, "kommuneNr").map(|k| (k, line, self.path_buf.clone()))
            }
            "Bruker" => {
                if let Some((n, _, _)) = self.builder.notifikasjon.as_mut()
                    && let Some(ev) = n.events.last_mut()
                {
                    if let Some(l) = self.builder.event_lines.last_mut() {
                        l.bruker = line;
                    }
                    ev.bruker = Bruker {
                        pasient_guid: take(attrs, "pasientGUID"),
                        bruker_nr: take(attrs, "brukerNr"),
                        fid: take(attrs, "fid"),
                        type_id: take(attrs, "typeID"),
                        bydel: take_opt(attrs, "bydel"),
                    };
                }
            }
            other => {
                if let (Some(kind), Some((n, _, _))) = (
                    EventKind::from_element(other),
                    self.builder.notifikasjon.as_mut(),
                ) {
                    n.events.push(Event {
                        kind,
                        tjeneste_type: take(attrs, "tjenesteType"),
                        tjeneste_id: take(attrs, "tjenesteID"),
                        hendelse_guid: take(attrs, "hendelseGUID"),
                        hendelse_dato: take(attrs, "hendelseDato"),
                        hendelse_reg_tid: take(attrs, "hendelseRegTid"),
                        tjeneste_org_nr: take_opt(attrs, "tjenesteOrgNr"),
                        midlertidig_stopp_id: take_opt(attrs, "midlertidigStoppID"),
                        bruker: Bruker::default(),
                    });
                    self.builder.event_lines.push(EventLines {
                        event: line,
                        bruker: line,
                    });
                }
            }
        }
    }

    fn end(&mut self, line: u64) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if let Some(missing) = frame.missing() {
            // Only Bruker can be missing inside an item (an event's one child); the content
            // rules then leave the person alone.
            self.builder
                .missing
                .push(format!("{}/{missing}", self.path_buf));
            let ends_on = if line != frame.line {
                format!(" (element ends on line {line})")
            } else {
                String::new()
            };
            self.findings.push(
                &r::XSD_MISSING,
                frame.line,
                self.path_buf.clone(),
                format!(
                    "{} is missing the required child element {missing}{ends_on}",
                    frame.name
                ),
            );
        }
        self.path_buf.truncate(frame.path_start);
        if self.stack.is_empty() {
            self.root_closed = true;
        }
        if frame.decl.is_none() {
            return;
        }
        match frame.name.as_ref() {
            "Notifikasjon" => {
                if let Some((n, l, p)) = self.builder.notifikasjon.take() {
                    let lines = std::mem::take(&mut self.builder.event_lines);
                    let missing = std::mem::take(&mut self.builder.missing);
                    let source = Source {
                        line: l,
                        path: &p,
                        events: &lines,
                        missing: &missing,
                    };
                    (self.on_item)(Item::Notifikasjon(n), &source);
                }
            }
            "Kontaktperson" => {
                if let Some((k, l, p)) = self.builder.kontakt.take() {
                    let missing = std::mem::take(&mut self.builder.missing);
                    let source = Source {
                        line: l,
                        path: &p,
                        events: &[],
                        missing: &missing,
                    };
                    (self.on_item)(Item::Kontaktperson(k), &source);
                }
            }
            "Kommune" => {
                if let Some((k, l, p)) = self.builder.kommune.take() {
                    let missing = std::mem::take(&mut self.builder.missing);
                    let source = Source {
                        line: l,
                        path: &p,
                        events: &[],
                        missing: &missing,
                    };
                    (self.on_item)(Item::Kommune(k), &source);
                }
            }
            _ => {}
        }
    }
}

fn check_attributes(
    findings: &mut Findings,
    path: &str,
    decl: &'static ElementDecl,
    attrs: &Attrs,
    foreign: &[(String, String)],
    line: u64,
    missing: &mut Vec<String>,
) {
    for (ns, local) in foreign {
        if ns == NS_XSI
            && matches!(
                local.as_str(),
                "schemaLocation" | "noNamespaceSchemaLocation"
            )
        {
            continue;
        }
        findings.push(
            &r::XSD_ATTR_NOT_ALLOWED,
            line,
            format!("{path}/@{local}"),
            format!("attribute {{{ns}}}{local} is not allowed on {}", decl.name),
        );
    }
    for (name, value) in attrs {
        match decl.attribute(name) {
            None => findings.push(
                &r::XSD_ATTR_NOT_ALLOWED,
                line,
                format!("{path}/@{name}"),
                format!("attribute {name} is not declared for {}", decl.name),
            ),
            Some(a) if a.use_ == Use::Prohibited => findings.push(
                &r::XSD_ATTR_NOT_ALLOWED,
                line,
                format!("{path}/@{name}"),
                format!(
                    "attribute {name} is prohibited on {} in IPLOS 56.0.0",
                    decl.name
                ),
            ),
            Some(a) => {
                if let Err(why) = schema::check_value(a.ty, value) {
                    findings.push(
                        &r::XSD_TYPE,
                        line,
                        format!("{path}/@{name}"),
                        format!("{}/@{name} = \"{value}\" {why}", decl.name),
                    );
                } else if let Some(f) = a.fixed
                    && value != f
                {
                    findings.push(
                        &r::XSD_FIXED,
                        line,
                        format!("{path}/@{name}"),
                        format!(
                            "{}/@{name} is \"{value}\"; the schema fixes it to \"{f}\"",
                            decl.name
                        ),
                    );
                }
            }
        }
    }
    for a in decl.attributes.iter().filter(|a| a.use_ == Use::Required) {
        if attr_value(attrs, a.name).is_none() {
            let apath = format!("{path}/@{}", a.name);
            missing.push(apath.clone());
            findings.push(
                &r::XSD_ATTR_MISSING,
                line,
                apath,
                format!("{} is missing the required attribute {}", decl.name, a.name),
            );
        }
    }
}

fn check_unique(
    findings: &mut Findings,
    path: &str,
    parent: &mut Frame,
    local: &str,
    attrs: &Attrs,
    line: u64,
) {
    let Some(pdecl) = parent.decl else { return };
    for (i, u) in pdecl.unique.iter().enumerate() {
        if u.selector != local {
            continue;
        }
        if let Some(v) = attr_value(attrs, u.field)
            && !parent.unique[i].insert(v.to_string())
        {
            let msg = format!(
                "{local}/@{} = \"{v}\" occurs more than once (constraint {})",
                u.field, u.name
            );
            findings.push(&r::XSD_UNIQUE, line, format!("{path}/@{}", u.field), msg);
        }
    }
}

fn describe(expected: &[&str]) -> String {
    match expected {
        [] => "no further element".to_string(),
        [one] => one.to_string(),
        many => format!("one of {}", many.join(", ")),
    }
}
