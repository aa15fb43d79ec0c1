//! Completeness and correctness of a vendor's export against the expected events
//! (vendor certification, issue #7).
//!
//! The harness generates a population; the vendor loads it into its EPJ and exports its own
//! IPLOS file. That file has its **own** notification GUIDs, `hendelseGUID`s, sequence
//! numbers, `pasientGUID`/`brukerNr` numbering, `notifikasjonTid`s and element order. What
//! must agree is the content: [`compare`] pairs every expected event with a received one
//! and reports what is missing, extra, different, or referenced wrongly.
//!
//! # The matching key **\[model\]**
//!
//! An event is identified by
//!
//! * `statusNotifikasjon` (N, M, C, ...): an annulment is not the original it repeats;
//! * the person: `typeID` + `fid`; when `fid` is empty, the person's other id
//!   (`pasientGUID`) stands in;
//! * `tjenesteType`;
//! * `tjenesteID` — unless [`ServiceIds::VendorOwn`] says the EPJ numbers services itself;
//!   then `tjenesteID` is left out of the key and checked for consistency instead (one
//!   expected service ↔ one received service id);
//! * the event kind (the element: `TjenesteStart`, ...);
//! * `hendelseDato` (normalised to `YYYY-MM-DD` when it parses).
//!
//! Events with the same key pair up in received order: a received event takes a free expected
//! event of its key that agrees on every compared field (looking at the first 16 of the key,
//! so a file of thousands of identical keys stays linear), otherwise the first free one; what
//! is left of a key is missing or extra. Lookups go through hash maps, so the work is linear
//! in the number of events (60 000 notifications: about 3 s in a debug build, see the test
//! `sixty_thousand_notifications_compare_in_linear_time`).
//!
//! # Diagnosis of near misses **\[model\]**
//!
//! After exact matching, the unmatched events get a second chance: the key is relaxed by one
//! component at a time (`tjenesteID`, `hendelseDato`, `tjenesteType`, the person, the event
//! kind, in that order), and where a relaxed bucket holds **exactly one** unmatched expected
//! and **exactly one** unmatched received event, they are paired and reported as one
//! [`FieldDiff`] per differing field instead of a missing + an extra. A changed date or
//! person id on one event is thus reported as "this field is wrong", which is what a
//! certifier needs. Where a bucket is ambiguous nothing is guessed: missing + extra.
//! A person whose id is wrong on every event gives one `wrong` per event (each naming
//! `Bruker/@fid` with both values) as long as each of their events is unambiguous by the
//! rest of its key (with `tjenesteID` in the key, it always is).
//!
//! # What is compared on a matched pair
//!
//! `tjenesteType`, `tjenesteID` (with [`ServiceIds::Same`]), `hendelseDato`,
//! `tjenesteOrgNr`, `Bruker/@fid`, `Bruker/@typeID`, `Bruker/@bydel`, the presence of
//! `midlertidigStoppID`, and `hendelseRegTid` only when [`CompareOptions::compare_reg_time`]
//! is set.
//!
//! # What is deliberately not compared
//!
//! * `notifikasjonGUID`, `notifikasjonForrigeGUID`, `notifikasjonLopeNr`, `notifikasjonTid`,
//!   `hendelseGUID`, `pasientGUID`, `brukerNr`: the vendor's own. The chain and sequence
//!   rules on them are the checker's job ([`crate::rules`]), not repeated here.
//! * **\[model\]** `hendelseRegTid` by default: it is the EPJ's own registration timestamp, which
//!   in a certification load is the time of loading.
//! * The value of `midlertidigStoppID` (the vendor's id) — instead the pairing it expresses is
//!   checked: the `MidlertidigStoppFra` and `MidlertidigStoppTil` that share an id in the
//!   expected file must share one in the received file, and vice versa
//!   ([`RefProblemKind::StopPairSplit`], [`RefProblemKind::StopPairMerged`]).
//! * Header, `Kontaktperson`, `Kommune`: profile data, not events.
//!
//! # References
//!
//! `notifikasjonRef` (of M and C corrections) is compared by content: the received reference
//! must resolve (in the received corrections message or the received ordinary message) to the
//! notification that was matched with the expected reference's target.
//! [`compare_corrections`] first matches the ordinary pair, then the corrections pair, so
//! references resolve across the two messages.
//!
//! # Locations
//!
//! Every item names the event key in words, the expected and received values, and where it
//! is: the 1-based notification index and an XPath-like path in the received file (in the
//! expected file for a missing event), and the line when the file was read with
//! [`read_received`]. Items carry a rule id: `CMP01` missing, `CMP02` extra, `CMP03` wrong
//! field, `CMP04` reference. Lists are sorted deterministically (missing by expected
//! position; the others by received position, then field).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Read;

use serde::Serialize;

use crate::message::{Event, EventKind, Melding, Notifikasjon, Status, parse_plain_date};
use crate::rules::{Category, CheckOptions, CheckReport, ContentState, read_message_with};

/// Rule id of a missing event.
pub const RULE_MISSING: &str = "CMP01";
/// Rule id of an extra event.
pub const RULE_EXTRA: &str = "CMP02";
/// Rule id of a wrong field.
pub const RULE_WRONG: &str = "CMP03";
/// Rule id of a reference problem.
pub const RULE_REFERENCE: &str = "CMP04";

/// Whether the vendor's `tjenesteID`s are expected to be the generated ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum ServiceIds {
    /// The EPJ keeps the loaded service ids: `tjenesteID` is part of the key.
    #[default]
    Same,
    /// The EPJ numbers services itself: `tjenesteID` is left out of the key and must map
    /// one-to-one between the files.
    VendorOwn,
}

/// Options of a comparison.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// How `tjenesteID` is treated.
    pub service_ids: ServiceIds,
    /// Compare `hendelseRegTid` too (off by default: it is the EPJ's own timestamp).
    pub compare_reg_time: bool,
}

/// Where something is in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Which file: `"received"` or `"expected"`, with the message (`ordinary`/`corrections`).
    pub file: String,
    /// 1-based index of the notification in its message.
    pub notification: usize,
    /// XPath-like path of the element or attribute.
    pub path: String,
    /// 1-based line of the notification's start tag, when known.
    pub line: Option<u64>,
}

/// The content of an event as compared (the values that matter, not the vendor's ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventValue {
    /// `statusNotifikasjon`.
    pub status: String,
    /// The element name.
    pub kind: String,
    /// `tjenesteType`.
    pub tjeneste_type: String,
    /// `tjenesteID`.
    pub tjeneste_id: String,
    /// `hendelseDato`.
    pub hendelse_dato: String,
    /// `tjenesteOrgNr`.
    pub tjeneste_org_nr: Option<String>,
    /// `Bruker/@typeID`.
    pub type_id: String,
    /// `Bruker/@fid`.
    pub fid: String,
    /// `Bruker/@bydel`.
    pub bydel: Option<String>,
}

/// An event in one file and not in the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    /// [`RULE_MISSING`] or [`RULE_EXTRA`].
    pub rule: &'static str,
    /// The event key in words.
    pub key: String,
    /// The expected event (missing), if any.
    pub expected: Option<EventValue>,
    /// The received event (extra), if any.
    pub received: Option<EventValue>,
    /// Where: in the received file for an extra event, in the expected file for a missing one.
    pub location: Location,
}

/// One field of a matched event that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    /// [`RULE_WRONG`].
    pub rule: &'static str,
    /// The (expected) event key in words.
    pub key: String,
    /// The field: attribute name (`hendelseDato`, `Bruker/@fid`, ...) or `element`.
    pub field: String,
    /// The expected value (`None`: absent).
    pub expected: Option<String>,
    /// The received value (`None`: absent).
    pub received: Option<String>,
    /// Where in the received file.
    pub location: Location,
    /// Where the expected event is.
    pub expected_location: Location,
}

/// Kinds of reference problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RefProblemKind {
    /// The expected event refers to an original; the received one has no `notifikasjonRef`.
    MissingRef,
    /// The received event has a `notifikasjonRef` the expected one does not have.
    UnexpectedRef,
    /// The received reference names no notification of the received messages.
    Dangling,
    /// The received reference resolves to a notification matched with nothing expected.
    TargetUnmatched,
    /// The received reference resolves to another original than the expected one.
    WrongOriginal,
    /// Stop events sharing a `midlertidigStoppID` in the expected file do not share one in
    /// the received file.
    StopPairSplit,
    /// Stop events sharing a `midlertidigStoppID` in the received file belong to different
    /// stops in the expected file.
    StopPairMerged,
    /// ([`ServiceIds::VendorOwn`]) one expected service has several received ids, or one
    /// received id several expected services.
    ServiceIdInconsistent,
}

/// A reference (or internal consistency) problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefProblem {
    /// [`RULE_REFERENCE`].
    pub rule: &'static str,
    /// What is wrong.
    pub kind: RefProblemKind,
    /// The event key in words (of the expected event).
    pub key: String,
    /// What was expected, in words (e.g. the referenced original's key).
    pub expected: String,
    /// What was received, in words.
    pub received: String,
    /// Where in the received file.
    pub location: Location,
}

/// The result of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Events in the expected message(s) compared.
    pub expected_events: usize,
    /// Events in the received message(s) compared.
    pub received_events: usize,
    /// Events paired (including those with wrong fields).
    pub matched: usize,
    /// Expected events not found.
    pub missing: Vec<Discrepancy>,
    /// Received events not expected.
    pub extra: Vec<Discrepancy>,
    /// Fields that differ on paired events.
    pub wrong: Vec<FieldDiff>,
    /// References and pairings that do not point to the right content.
    pub references: Vec<RefProblem>,
}

impl Comparison {
    /// No discrepancy of any kind.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.wrong.is_empty()
            && self.references.is_empty()
    }

    /// Number of discrepancies of all kinds.
    pub fn discrepancies(&self) -> usize {
        self.missing.len() + self.extra.len() + self.wrong.len() + self.references.len()
    }
}

/// Why a received file could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Not an IPLOS 56.0.0 message (not XML, wrong root or namespace, truncated, ...).
    #[error("not an IPLOS message: {rule} at line {line} ({path}): {message}")]
    NotIplos {
        /// The checker's rule id.
        rule: &'static str,
        /// Line.
        line: u64,
        /// Path.
        path: String,
        /// The checker's message.
        message: String,
    },
}

/// A received file as read for comparison.
#[derive(Debug, Clone)]
pub struct Received {
    /// The message.
    pub melding: Melding,
    /// Line of each notification's start tag (same length as `melding.notifikasjoner`),
    /// when it could be determined.
    pub lines: Option<Vec<u64>>,
    /// The checker's report on the file (the comparison does not repeat its findings).
    pub report: CheckReport,
}

/// Reads a received file with the model's own checking reader. A file that is not
/// well-formed, not IPLOS (root or namespace) or truncated is refused with the first such
/// finding; schema or content findings do not stop the comparison (they are in `report`).
pub fn read_received(bytes: &[u8], options: &CheckOptions) -> Result<Received, CompareError> {
    read_received_with(bytes, options, &mut ContentState::new())
}

/// [`read_received`] checking the file as a continuation of `state` (the chain of the
/// kommune's earlier messages: a corrections message after its export).
pub fn read_received_with(
    bytes: &[u8],
    options: &CheckOptions,
    state: &mut ContentState,
) -> Result<Received, CompareError> {
    let (melding, report) = read_message_with(bytes, options, state);
    if let Some(f) = report
        .findings
        .iter()
        .find(|f| f.category == Category::Wellformed || f.rule == "XSD01")
    {
        return Err(CompareError::NotIplos {
            rule: f.rule,
            line: f.location.line,
            path: f.location.path.clone(),
            message: f.message.clone(),
        });
    }
    let lines = notification_lines(bytes, melding.notifikasjoner.len());
    Ok(Received {
        melding,
        lines,
        report,
    })
}

/// Like [`read_received`] from a reader (the file is held in memory for the line scan).
pub fn read_received_from<R: Read>(
    mut input: R,
    options: &CheckOptions,
) -> Result<Received, CompareError> {
    let mut bytes = Vec::new();
    if let Err(e) = input.read_to_end(&mut bytes) {
        return Err(CompareError::NotIplos {
            rule: "WF03",
            line: 0,
            path: String::new(),
            message: format!("could not read the file: {e}"),
        });
    }
    read_received(&bytes, options)
}

/// Lines of the `Notifikasjon` start tags, for ASCII-compatible encodings; `None` when the
/// scan does not find exactly `expected` of them.
fn notification_lines(bytes: &[u8], expected: usize) -> Option<Vec<u64>> {
    use quick_xml::events::Event as X;
    if bytes.starts_with(&[0xFE, 0xFF]) || bytes.starts_with(&[0xFF, 0xFE]) {
        return None;
    }
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut lines = Vec::with_capacity(expected);
    let mut line = 1u64;
    let mut counted = 0usize;
    let mut buf = Vec::new();
    loop {
        let before = usize::try_from(reader.buffer_position()).ok()?;
        buf.clear();
        let ev = reader.read_event_into(&mut buf).ok()?;
        match ev {
            X::Start(s) | X::Empty(s) if s.local_name().as_ref() == "Notifikasjon" => {
                // The start tag begins at the first '<' at or after `before`.
                let lt = bytes.get(before..)?.iter().position(|&b| b == b'<')? + before;
                line += count_newlines(bytes.get(counted..lt)?);
                counted = lt;
                lines.push(line);
            }
            X::Eof => break,
            _ => {}
        }
    }
    (lines.len() == expected).then_some(lines)
}

fn count_newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// Compares one expected message with one received message (e.g. the ordinary submission).
pub fn compare(expected: &Melding, received: &Melding, opts: &CompareOptions) -> Comparison {
    compare_with_lines(expected, received, None, opts)
}

/// [`compare`] with the received file's notification lines (from [`Received::lines`]).
pub fn compare_with_lines(
    expected: &Melding,
    received: &Melding,
    received_lines: Option<&[u64]>,
    opts: &CompareOptions,
) -> Comparison {
    let exp = [Msg::new(expected, "expected", None)];
    let rec = [Msg::new(received, "received", received_lines)];
    run(&exp, &rec, 0, opts).0
}

/// Compares a corrections message, given the ordinary pair it continues, so references to
/// originals resolve across the two messages. The result covers the corrections message
/// only (run [`compare`] on the ordinary pair for that one).
pub fn compare_corrections(
    expected_ordinary: &Melding,
    expected_corrections: &Melding,
    received_ordinary: (&Melding, Option<&[u64]>),
    received_corrections: (&Melding, Option<&[u64]>),
    opts: &CompareOptions,
) -> Comparison {
    let exp = [
        Msg::new(expected_ordinary, "expected ordinary", None),
        Msg::new(expected_corrections, "expected corrections", None),
    ];
    let rec = [
        Msg::new(
            received_ordinary.0,
            "received ordinary",
            received_ordinary.1,
        ),
        Msg::new(
            received_corrections.0,
            "received corrections",
            received_corrections.1,
        ),
    ];
    run(&exp, &rec, 1, opts).0
}

/// One message taking part.
struct Msg<'a> {
    m: &'a Melding,
    file: &'static str,
    lines: Option<&'a [u64]>,
}

impl<'a> Msg<'a> {
    fn new(m: &'a Melding, file: &'static str, lines: Option<&'a [u64]>) -> Msg<'a> {
        let lines = lines.filter(|l| l.len() == m.notifikasjoner.len());
        Msg { m, file, lines }
    }
}

/// One event with where it stands.
#[derive(Clone, Copy)]
struct Ev<'a> {
    msg: usize,
    n: usize,
    notif: &'a Notifikasjon,
    ev: &'a Event,
}

/// The key, with components that can be blanked for relaxed matching.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    status: String,
    person: String,
    ttype: String,
    tid: String,
    kind: Option<EventKind>,
    date: String,
}

#[derive(Clone, Copy)]
enum Relax {
    None,
    TjenesteId,
    Date,
    TjenesteType,
    Person,
    Kind,
}

fn norm_date(s: &str) -> String {
    match parse_plain_date(s) {
        Some(d) if s.trim().len() == 10 => d.format("%Y-%m-%d").to_string(),
        _ => s.trim().to_string(),
    }
}

fn person_of(e: &Event) -> String {
    let fid = e.bruker.fid.trim();
    if fid.is_empty() {
        format!("pasientGUID {}", e.bruker.pasient_guid.trim())
    } else {
        format!("typeID {} fid {fid}", e.bruker.type_id.trim())
    }
}

fn key_of(e: &Ev<'_>, opts: &CompareOptions, relax: Relax) -> Key {
    let mut k = Key {
        status: e.notif.status.code().to_string(),
        person: person_of(e.ev),
        ttype: e.ev.tjeneste_type.trim().to_string(),
        tid: match opts.service_ids {
            ServiceIds::Same => e.ev.tjeneste_id.trim().to_string(),
            ServiceIds::VendorOwn => String::new(),
        },
        kind: Some(e.ev.kind),
        date: norm_date(&e.ev.hendelse_dato),
    };
    match relax {
        Relax::None => {}
        Relax::TjenesteId => k.tid.clear(),
        Relax::Date => k.date.clear(),
        Relax::TjenesteType => k.ttype.clear(),
        Relax::Person => k.person.clear(),
        Relax::Kind => k.kind = None,
    }
    k
}

/// The event key in words.
fn words(e: &Ev<'_>) -> String {
    let status = match &e.notif.status {
        Status::N => "",
        Status::M => "correction (M) ",
        Status::C => "annulment (C) ",
        Status::T => "supplement (T) ",
        Status::Other(_) => "notification ",
    };
    format!(
        "{status}{} of tjenesteType {} tjenesteID {} on {} for {}",
        e.ev.kind.element(),
        e.ev.tjeneste_type,
        e.ev.tjeneste_id,
        e.ev.hendelse_dato,
        person_of(e.ev)
    )
}

fn value_of(e: &Ev<'_>) -> EventValue {
    EventValue {
        status: e.notif.status.code().to_string(),
        kind: e.ev.kind.element().to_string(),
        tjeneste_type: e.ev.tjeneste_type.clone(),
        tjeneste_id: e.ev.tjeneste_id.clone(),
        hendelse_dato: e.ev.hendelse_dato.clone(),
        tjeneste_org_nr: e.ev.tjeneste_org_nr.clone(),
        type_id: e.ev.bruker.type_id.clone(),
        fid: e.ev.bruker.fid.clone(),
        bydel: e.ev.bruker.bydel.clone(),
    }
}

fn location(msgs: &[Msg<'_>], e: &Ev<'_>, field: Option<&str>) -> Location {
    let m = &msgs[e.msg];
    let mut path = format!("/Melding/Notifikasjon[{}]/{}", e.n + 1, e.ev.kind.element());
    if let Some(f) = field {
        if f == "element" {
            // The element itself.
        } else if let Some(a) = f.strip_prefix("Bruker/@") {
            let _ = write!(path, "/Bruker/@{a}");
        } else {
            let _ = write!(path, "/@{f}");
        }
    }
    Location {
        file: m.file.to_string(),
        notification: e.n + 1,
        path,
        line: m.lines.and_then(|l| l.get(e.n).copied()),
    }
}

fn collect<'a>(msgs: &[Msg<'a>]) -> Vec<Ev<'a>> {
    let mut out = Vec::new();
    for (mi, m) in msgs.iter().enumerate() {
        for (n, notif) in m.m.notifikasjoner.iter().enumerate() {
            for ev in &notif.events {
                out.push(Ev {
                    msg: mi,
                    n,
                    notif,
                    ev,
                });
            }
        }
    }
    out
}

/// The fields compared on a pair: (name, expected, received).
fn field_diffs(
    a: &Ev<'_>,
    b: &Ev<'_>,
    opts: &CompareOptions,
) -> Vec<(&'static str, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut cmp = |name: &'static str, x: Option<&str>, y: Option<&str>, date: bool| {
        let nx = x.map(|s| {
            if date {
                norm_date(s)
            } else {
                s.trim().to_string()
            }
        });
        let ny = y.map(|s| {
            if date {
                norm_date(s)
            } else {
                s.trim().to_string()
            }
        });
        if nx != ny {
            out.push((name, x.map(str::to_string), y.map(str::to_string)));
        }
    };
    let (x, y) = (a.ev, b.ev);
    cmp(
        "element",
        Some(x.kind.element()),
        Some(y.kind.element()),
        false,
    );
    cmp(
        "statusNotifikasjon",
        Some(a.notif.status.code()),
        Some(b.notif.status.code()),
        false,
    );
    cmp(
        "tjenesteType",
        Some(&x.tjeneste_type),
        Some(&y.tjeneste_type),
        false,
    );
    if opts.service_ids == ServiceIds::Same {
        cmp(
            "tjenesteID",
            Some(&x.tjeneste_id),
            Some(&y.tjeneste_id),
            false,
        );
    }
    cmp(
        "hendelseDato",
        Some(&x.hendelse_dato),
        Some(&y.hendelse_dato),
        true,
    );
    if opts.compare_reg_time {
        cmp(
            "hendelseRegTid",
            Some(&x.hendelse_reg_tid),
            Some(&y.hendelse_reg_tid),
            false,
        );
    }
    cmp(
        "tjenesteOrgNr",
        x.tjeneste_org_nr.as_deref(),
        y.tjeneste_org_nr.as_deref(),
        false,
    );
    let present = |s: &Option<String>| s.as_ref().map(|_| "present");
    cmp(
        "midlertidigStoppID",
        present(&x.midlertidig_stopp_id),
        present(&y.midlertidig_stopp_id),
        false,
    );
    cmp(
        "Bruker/@typeID",
        Some(&x.bruker.type_id),
        Some(&y.bruker.type_id),
        false,
    );
    cmp(
        "Bruker/@fid",
        Some(&x.bruker.fid),
        Some(&y.bruker.fid),
        false,
    );
    cmp(
        "Bruker/@bydel",
        x.bruker.bydel.as_deref(),
        y.bruker.bydel.as_deref(),
        false,
    );
    out
}

/// Matches and compares; events of messages with index ≥ `from_msg` are the ones reported
/// (earlier ones are matched only so references resolve). Returns the comparison and the
/// pairing (expected event index → received event index).
fn run(
    exp_msgs: &[Msg<'_>],
    rec_msgs: &[Msg<'_>],
    from_msg: usize,
    opts: &CompareOptions,
) -> (Comparison, Vec<Option<usize>>) {
    let exp = collect(exp_msgs);
    let rec = collect(rec_msgs);
    let mut e2r: Vec<Option<usize>> = vec![None; exp.len()];
    let mut r2e: Vec<Option<usize>> = vec![None; rec.len()];

    // Exact pass: bucket the expected events by key; each received event takes, within its
    // bucket (and its message pair), the first free expected event that agrees on every
    // field, else the first free one.
    let mut buckets: HashMap<(usize, Key), Vec<usize>> = HashMap::new();
    for (i, e) in exp.iter().enumerate() {
        buckets
            .entry((e.msg, key_of(e, opts, Relax::None)))
            .or_default()
            .push(i);
    }
    for (j, r) in rec.iter().enumerate() {
        let Some(bucket) = buckets.get_mut(&(r.msg, key_of(r, opts, Relax::None))) else {
            continue;
        };
        // Bounded look-ahead: a hostile file with thousands of identical keys stays linear.
        let pick = bucket
            .iter()
            .take(16)
            .position(|&i| field_diffs(&exp[i], r, opts).is_empty())
            .unwrap_or(0);
        if pick < bucket.len() {
            let i = bucket.swap_remove(pick);
            e2r[i] = Some(j);
            r2e[j] = Some(i);
        }
    }
    drop(buckets);

    // Relaxed passes: one component left out; only unambiguous 1:1 buckets pair.
    let relaxes: &[Relax] = match opts.service_ids {
        ServiceIds::Same => &[
            Relax::TjenesteId,
            Relax::Date,
            Relax::TjenesteType,
            Relax::Person,
            Relax::Kind,
        ],
        ServiceIds::VendorOwn => &[Relax::Date, Relax::TjenesteType, Relax::Person, Relax::Kind],
    };
    for &relax in relaxes {
        let mut b: HashMap<(usize, Key), (Vec<usize>, Vec<usize>)> = HashMap::new();
        for (i, e) in exp.iter().enumerate() {
            if e2r[i].is_none() {
                b.entry((e.msg, key_of(e, opts, relax)))
                    .or_default()
                    .0
                    .push(i);
            }
        }
        if b.is_empty() {
            break;
        }
        for (j, r) in rec.iter().enumerate() {
            if r2e[j].is_none()
                && let Some(entry) = b.get_mut(&(r.msg, key_of(r, opts, relax)))
            {
                entry.1.push(j);
            }
        }
        for (es, rs) in b.into_values() {
            if let ([i], [j]) = (es.as_slice(), rs.as_slice()) {
                e2r[*i] = Some(*j);
                r2e[*j] = Some(*i);
            }
        }
    }

    let mut c = Comparison::default();
    let reported_exp = |i: usize| exp[i].msg >= from_msg;
    let reported_rec = |j: usize| rec[j].msg >= from_msg;
    c.expected_events = (0..exp.len()).filter(|&i| reported_exp(i)).count();
    c.received_events = (0..rec.len()).filter(|&j| reported_rec(j)).count();

    for (i, e) in exp.iter().enumerate() {
        if !reported_exp(i) {
            continue;
        }
        match e2r[i] {
            None => c.missing.push(Discrepancy {
                rule: RULE_MISSING,
                key: words(e),
                expected: Some(value_of(e)),
                received: None,
                location: location(exp_msgs, e, None),
            }),
            Some(j) => {
                c.matched += 1;
                let r = &rec[j];
                for (field, x, y) in field_diffs(e, r, opts) {
                    c.wrong.push(FieldDiff {
                        rule: RULE_WRONG,
                        key: words(e),
                        field: field.to_string(),
                        expected: x,
                        received: y,
                        location: location(rec_msgs, r, Some(field)),
                        expected_location: location(exp_msgs, e, Some(field)),
                    });
                }
            }
        }
    }
    for (j, r) in rec.iter().enumerate() {
        if reported_rec(j) && r2e[j].is_none() {
            c.extra.push(Discrepancy {
                rule: RULE_EXTRA,
                key: words(r),
                expected: None,
                received: Some(value_of(r)),
                location: location(rec_msgs, r, None),
            });
        }
    }

    check_references(&exp, &rec, rec_msgs, &e2r, from_msg, &mut c);
    check_groupings(&exp, &rec, rec_msgs, &e2r, &r2e, from_msg, opts, &mut c);

    c.wrong.sort_by(|a, b| {
        (&a.location.file, a.location.notification, &a.location.path).cmp(&(
            &b.location.file,
            b.location.notification,
            &b.location.path,
        ))
    });
    c.references.sort_by(|a, b| {
        (&a.location.file, a.location.notification, a.kind as u8).cmp(&(
            &b.location.file,
            b.location.notification,
            b.kind as u8,
        ))
    });
    (c, e2r)
}

/// `notifikasjonRef` of every reported pair must resolve to the matched original.
fn check_references(
    exp: &[Ev<'_>],
    rec: &[Ev<'_>],
    rec_msgs: &[Msg<'_>],
    e2r: &[Option<usize>],
    from_msg: usize,
    c: &mut Comparison,
) {
    // GUID → first event of that notification (first occurrence wins; duplicates are the
    // checker's business).
    fn guid_index(evs: &[Ev<'_>]) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for (i, e) in evs.iter().enumerate() {
            m.entry(e.notif.guid.trim().to_string()).or_insert(i);
        }
        m
    }
    let eg = guid_index(exp);
    let rg = guid_index(rec);
    // Received notification → the expected notification it was matched with.
    let mut rn2en: HashMap<(usize, usize), (usize, usize)> = HashMap::new();
    for (i, j) in e2r.iter().enumerate() {
        if let Some(j) = j {
            rn2en.insert((rec[*j].msg, rec[*j].n), (exp[i].msg, exp[i].n));
        }
    }
    let mut en2e: HashMap<(usize, usize), usize> = HashMap::new();
    for (i, e) in exp.iter().enumerate() {
        en2e.entry((e.msg, e.n)).or_insert(i);
    }
    let exp_words = |i: usize| words(&exp[i]);
    for (i, j) in e2r.iter().enumerate() {
        let (e, Some(j)) = (&exp[i], *j) else {
            continue;
        };
        if e.msg < from_msg {
            continue;
        }
        let r = &rec[j];
        let eref = e.notif.referanse.as_deref().map(str::trim);
        let rref = r.notif.referanse.as_deref().map(str::trim);
        let loc = || {
            let mut l = location(rec_msgs, r, None);
            l.path = format!("/Melding/Notifikasjon[{}]/@notifikasjonRef", r.n + 1);
            l
        };
        let problem = |kind, expected: String, received: String| RefProblem {
            rule: RULE_REFERENCE,
            kind,
            key: words(e),
            expected,
            received,
            location: loc(),
        };
        let etarget = eref.and_then(|g| eg.get(g).copied());
        match (eref, rref) {
            (None, None) => {}
            (None, Some(g)) => c.references.push(problem(
                RefProblemKind::UnexpectedRef,
                "no notifikasjonRef".into(),
                format!("notifikasjonRef {g}"),
            )),
            (Some(g), None) => c.references.push(problem(
                RefProblemKind::MissingRef,
                etarget.map_or_else(|| format!("a reference ({g})"), &exp_words),
                "no notifikasjonRef".into(),
            )),
            (Some(_), Some(g)) => {
                let want = etarget.map(|t| (exp[t].msg, exp[t].n));
                let want_words = etarget.map_or_else(
                    || "an original not in the expected messages".to_string(),
                    exp_words,
                );
                match rg.get(g) {
                    None => c.references.push(problem(
                        RefProblemKind::Dangling,
                        want_words,
                        format!("notifikasjonRef {g}, which names no received notification"),
                    )),
                    Some(&t) => {
                        let got = rn2en.get(&(rec[t].msg, rec[t].n)).copied();
                        match got {
                            None => c.references.push(problem(
                                RefProblemKind::TargetUnmatched,
                                want_words,
                                format!("{} (matches no expected event)", words(&rec[t])),
                            )),
                            Some(g2) if Some(g2) != want => {
                                let got_words = en2e
                                    .get(&g2)
                                    .map_or_else(|| words(&rec[t]), |&x| exp_words(x));
                                c.references.push(problem(
                                    RefProblemKind::WrongOriginal,
                                    want_words,
                                    got_words,
                                ))
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
        }
    }
}

/// Stop pairs (`midlertidigStoppID`) and, with [`ServiceIds::VendorOwn`], service ids must
/// group the same events in both files.
#[allow(clippy::too_many_arguments)]
fn check_groupings(
    exp: &[Ev<'_>],
    rec: &[Ev<'_>],
    rec_msgs: &[Msg<'_>],
    e2r: &[Option<usize>],
    r2e: &[Option<usize>],
    from_msg: usize,
    opts: &CompareOptions,
    c: &mut Comparison,
) {
    /// Group id of an event: (service scope, id) or None when it has none.
    type GroupFn = fn(&Ev<'_>) -> Option<(String, String)>;
    let stop: GroupFn = |e| {
        e.ev.midlertidig_stopp_id.as_ref().map(|s| {
            (
                format!(
                    "{}|{}|{}",
                    e.msg,
                    person_of(e.ev),
                    e.ev.tjeneste_type.trim()
                ),
                s.trim().to_string(),
            )
        })
    };
    let service: GroupFn = |e| {
        Some((
            format!("{}|{}", e.msg, person_of(e.ev)),
            e.ev.tjeneste_id.trim().to_string(),
        ))
    };
    let mut checks: Vec<(GroupFn, RefProblemKind, RefProblemKind, &str)> = vec![(
        stop,
        RefProblemKind::StopPairSplit,
        RefProblemKind::StopPairMerged,
        "midlertidigStoppID",
    )];
    if opts.service_ids == ServiceIds::VendorOwn {
        checks.push((
            service,
            RefProblemKind::ServiceIdInconsistent,
            RefProblemKind::ServiceIdInconsistent,
            "tjenesteID",
        ));
    }
    for (group, split_kind, merged_kind, attr) in checks {
        // One direction: events grouped together on side A must be grouped together on side B.
        let mut one_way = |a: &[Ev<'_>],
                           b: &[Ev<'_>],
                           a2b: &[Option<usize>],
                           kind: RefProblemKind,
                           a_is_expected: bool| {
            let mut groups: HashMap<(String, String), (usize, BTreeSet<String>)> = HashMap::new();
            for (i, x) in a.iter().enumerate() {
                let (Some(g), Some(j)) = (group(x), a2b[i]) else {
                    continue;
                };
                // Only the events of the reported messages.
                if x.msg < from_msg {
                    continue;
                }
                // The partner's id only: a partner in another scope (its person or type
                // is wrong) is reported as a wrong field, not as a split group.
                let bg = group(&b[j]).map(|(_, id)| id).unwrap_or_default();
                let entry = groups.entry(g).or_insert((i, BTreeSet::new()));
                entry.1.insert(bg);
            }
            let mut found: Vec<(usize, String, String)> = groups
                .into_iter()
                .filter(|(_, (_, set))| set.len() > 1)
                .map(|((_, id), (first, set))| {
                    let ids: Vec<String> = set.into_iter().collect();
                    (first, id, ids.join(", "))
                })
                .collect();
            found.sort();
            for (first, id, ids) in found {
                let (ev_exp, ev_rec) = if a_is_expected {
                    (&a[first], a2b[first].map(|j| &b[j]))
                } else {
                    (a2b[first].map_or(&a[first], |j| &b[j]), Some(&a[first]))
                };
                let Some(ev_rec) = ev_rec else { continue };
                let (expected, received) = if a_is_expected {
                    (
                        format!("the events with {attr} {id} share one {attr}"),
                        format!("their received events carry {attr} {ids}"),
                    )
                } else {
                    (
                        format!("the events with received {attr} {id} belong to one group"),
                        format!("their expected events carry {attr} {ids}"),
                    )
                };
                let mut location = location(rec_msgs, ev_rec, Some(attr));
                if !a_is_expected {
                    location = self::location(rec_msgs, &a[first], Some(attr));
                }
                c.references.push(RefProblem {
                    rule: RULE_REFERENCE,
                    kind,
                    key: words(ev_exp),
                    expected,
                    received,
                    location,
                });
            }
        };
        one_way(exp, rec, e2r, split_kind, true);
        one_way(rec, exp, r2e, merged_kind, false);
    }
}
