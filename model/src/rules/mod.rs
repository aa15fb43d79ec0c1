//! Conformance checking of IPLOS messages at three levels: well-formedness, schema (what
//! the official XSD says) and content rules (what it cannot say). Every check is a
//! [`Rule`] of the [`catalogue`] with a stable id.
//!
//! Checking streams: memory depends on the number of notifications (their GUIDs are kept
//! for references and uniqueness), never on holding the document.

pub mod catalogue;
mod content;
mod validate;

use std::io::Read;

use serde::Serialize;

pub use catalogue::{Category, Consequence, Rule, Severity};
pub use content::ContentState;

use crate::message::{Header, Kontaktperson, Melding, Notifikasjon};

/// Where a finding is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Location {
    /// 1-based line of the element (or of the parser's position for syntax errors).
    pub line: u64,
    /// XPath-like path, e.g. `/Melding/Notifikasjon[3]/TjenesteStart/Bruker/@fid`.
    pub path: String,
}

/// One thing found wrong. Read back from JSON, the rule id must be one of the catalogue's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule id.
    pub rule: &'static str,
    /// The rule's category.
    pub category: Category,
    /// Severity.
    pub severity: Severity,
    /// What the national side does about it.
    pub consequence: Consequence,
    /// Where.
    pub location: Location,
    /// What is wrong, in words that name the value and what was expected.
    pub message: String,
}

impl<'de> serde::Deserialize<'de> for Finding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Finding, D::Error> {
        /// The JSON shape, with an owned rule id.
        #[derive(serde::Deserialize)]
        struct Shadow {
            rule: String,
            category: Category,
            severity: Severity,
            consequence: Consequence,
            location: Location,
            message: String,
        }
        let s = Shadow::deserialize(d)?;
        let rule = catalogue::by_id(&s.rule)
            .map(|r| r.id)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rule id {:?}", s.rule)))?;
        Ok(Finding {
            rule,
            category: s.category,
            severity: s.severity,
            consequence: s.consequence,
            location: s.location,
            message: s.message,
        })
    }
}

/// Escapes control characters (`\0`, `\n`, `\u{85}`, ...) that a message or path copied
/// from the input: findings go into reports, AppRec XML and mails, one line each.
fn printable(s: String) -> String {
    if !s.chars().any(char::is_control) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Findings of one file, capped so hostile input cannot grow them without bound.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    list: Vec<Finding>,
    omitted: u64,
    /// Whether an omitted finding had error severity.
    omitted_errors: bool,
    cap: usize,
}

impl Findings {
    /// A collector keeping at most `cap` findings (the rest are counted).
    pub fn new(cap: usize) -> Findings {
        Findings {
            list: Vec::new(),
            omitted: 0,
            omitted_errors: false,
            cap,
        }
    }

    /// Records a finding of `rule`.
    pub fn push(
        &mut self,
        rule: &Rule,
        line: u64,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        if self.list.len() >= self.cap {
            self.omitted += 1;
            self.omitted_errors |= rule.severity == Severity::Error;
            return;
        }
        self.list.push(Finding {
            rule: rule.id,
            category: rule.category,
            severity: rule.severity,
            consequence: rule.consequence,
            location: Location {
                line,
                path: printable(path.into()),
            },
            message: printable(message.into()),
        });
    }

    /// Whether any error-severity finding was recorded, kept or omitted.
    pub fn has_errors(&self) -> bool {
        self.omitted_errors || self.list.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings kept.
    pub fn list(&self) -> &[Finding] {
        &self.list
    }
}

/// The lines where one event of a notification and its `Bruker` start, so that a finding
/// points at the element its path names rather than at the enclosing `Notifikasjon`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventLines {
    /// Line of the event element (`TjenesteStart`, ...).
    pub(crate) event: u64,
    /// Line of its `Bruker` element.
    pub(crate) bruker: u64,
}

/// Where an item was read, as the content rules need it.
pub(crate) struct Source<'a> {
    /// Line of the item's element.
    pub(crate) line: u64,
    /// Path of the item's element.
    pub(crate) path: &'a str,
    /// For a notification: where each event and its `Bruker` start.
    pub(crate) events: &'a [EventLines],
    /// Paths of required attributes (and child elements) missing from the item's
    /// elements. The schema reports those (XSD05, XSD03); the content rules judge an
    /// empty value only when the attribute is present.
    pub(crate) missing: &'a [String],
}

impl Source<'_> {
    /// Whether the attribute at `path` is missing (as opposed to present but empty). The
    /// path is only built when some attribute of the item is missing.
    pub(crate) fn is_missing(&self, path: impl FnOnce() -> String) -> bool {
        !self.missing.is_empty() && {
            let path = path();
            self.missing.contains(&path)
        }
    }
}

/// Parser limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum element nesting depth (libxml2's default is 256).
    pub max_depth: usize,
    /// Maximum bytes in one run without markup (one text node or tag).
    pub max_token: usize,
    /// Maximum findings kept per file.
    pub max_findings: usize,
    /// Maximum bytes in an element or attribute name. Every open element keeps its
    /// path, which repeats its ancestors' names: without this limit 200 nested 100 kB
    /// names (20 MB of input) would hold 2 GB of paths.
    pub max_name: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_token: crate::xml_input::DEFAULT_TOKEN_LIMIT,
            max_findings: 1000,
            max_name: 1000,
        }
    }
}

/// Options of a check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The data year; `None` = the year of the message's latest `hendelseDato`.
    pub data_year: Option<i32>,
    /// Test mode: a real-looking (non-synthetic) person id is an error.
    pub test_mode: bool,
    /// Parser limits.
    pub limits: Limits,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            data_year: None,
            test_mode: true,
            limits: Limits::default(),
        }
    }
}

/// What a reader of a message receives, in document order.
#[derive(Debug, Clone)]
pub enum Item {
    /// The attributes of `Melding`.
    Header(Header),
    /// One notification (built even when parts of it break rules).
    Notifikasjon(Notifikasjon),
    /// One contact person.
    Kontaktperson(Kontaktperson),
    /// One `Kommune/@kommuneNr` (a `Kommune` without the attribute gives no item).
    Kommune(String),
}

/// The result of checking one message.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct CheckReport {
    /// True when no finding has error severity (including findings omitted by the cap).
    pub conformant: bool,
    /// The data year the year-dependent rules used.
    pub data_year: Option<i32>,
    /// Notifications read.
    pub notifications: u64,
    /// Findings, in document order.
    pub findings: Vec<Finding>,
    /// Findings not kept because of the cap.
    pub findings_omitted: u64,
}

impl CheckReport {
    /// Whether the national side rejects the whole message: an error whose consequence is
    /// *reject message* (well-formedness, schema, IPL22, IPL24, IPL26, IPL28). A rejected
    /// message does not enter the kommune's chain (AppRec status 2; Sendemodul's intake).
    pub fn rejects_message(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Error && f.consequence == Consequence::RejectMessage)
    }

    /// Whether any finding belongs to the well-formedness or schema level.
    pub fn schema_valid(&self) -> bool {
        !self
            .findings
            .iter()
            .any(|f| matches!(f.category, Category::Wellformed | Category::Schema))
    }
}

/// Checks a message, handing every item read to `sink`, continuing from `state`
/// (the content state left by earlier messages of the same kommune, or a fresh one).
pub fn check_stream<R: Read>(
    input: R,
    options: &CheckOptions,
    state: &mut ContentState,
    sink: &mut dyn FnMut(&Item),
) -> CheckReport {
    let mut findings = Findings::new(options.limits.max_findings);
    let mut content_findings = Findings::new(options.limits.max_findings);
    let mut notifications = 0u64;
    let complete;
    {
        let mut on_item = |item: Item, source: &Source<'_>| {
            if let Item::Notifikasjon(_) = item {
                notifications += 1;
            }
            state.item(&item, source, options, &mut content_findings);
            sink(&item);
        };
        complete = validate::validate(input, &options.limits, &mut findings, &mut on_item);
    }
    let data_year = state.finish(options, &mut content_findings, complete);
    let conformant = !findings.has_errors() && !content_findings.has_errors();
    let mut all = findings.list;
    all.extend(content_findings.list);
    all.sort_by_key(|f| f.location.line);
    let mut omitted = findings.omitted + content_findings.omitted;
    // Each level kept up to the cap: the report as a whole keeps the first `cap`.
    let cap = options.limits.max_findings;
    if all.len() > cap {
        omitted += (all.len() - cap) as u64;
        all.truncate(cap);
    }
    CheckReport {
        conformant,
        data_year,
        notifications,
        findings: all,
        findings_omitted: omitted,
    }
}

/// Checks a message from the start of a kommune's chain.
pub fn check<R: Read>(input: R, options: &CheckOptions) -> CheckReport {
    check_stream(input, options, &mut ContentState::new(), &mut |_| {})
}

/// Reads a whole message into memory, with the check report. The message is returned
/// as far as it could be read even when it does not conform.
pub fn read_message<R: Read>(input: R, options: &CheckOptions) -> (Melding, CheckReport) {
    read_message_with(input, options, &mut ContentState::new())
}

/// [`read_message`] continuing `state` (a kommune's earlier messages), as [`check_stream`].
pub fn read_message_with<R: Read>(
    input: R,
    options: &CheckOptions,
    state: &mut ContentState,
) -> (Melding, CheckReport) {
    let mut m = Melding::default();
    let report = check_stream(input, options, state, &mut |item| match item {
        Item::Header(h) => m.header = h.clone(),
        Item::Notifikasjon(n) => m.notifikasjoner.push(n.clone()),
        Item::Kontaktperson(k) => m.kontaktpersoner.push(k.clone()),
        Item::Kommune(k) => m.kommuner.push(k.clone()),
    });
    (m, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_escape_control_characters() {
        let mut f = Findings::new(10);
        f.push(
            &catalogue::WF_SYNTAX,
            1,
            "/a\u{85}",
            "\"Kom\0mune\" &a\n; \t",
        );
        assert_eq!(f.list()[0].message, "\"Kom\\0mune\" &a\\n; \\t");
        assert_eq!(f.list()[0].location.path, "/a\\u{85}");
    }
}
