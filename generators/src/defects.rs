//! Named defects, each tied to the rule ids of the checker it must trigger.
//!
//! A vendor certifying its export, and the dress rehearsal, need messages with known
//! faults. Every [`Defect`] of the [`catalogue`] has a stable kebab-case name, a one-line
//! description, the **exact** set of rule ids [`iplos_model::rules::check`] reports once
//! it is injected into a valid message (each at least once, nothing else), and a level
//! (the most severe [`Category`] among those rules).
//!
//! [`render`] applies defects to a message and writes it: content defects change the
//! [`Melding`] model; schema and well-formedness defects (which the model cannot
//! express) queue edits that are carried out on the bytes the model's writer produced.
//! Each defect changes one notification nobody else has touched, or appends what it
//! needs at the end of the chain (keeping the chain, sequence numbers and GUIDs valid), so
//! every defect applies to any valid message, and defects combine: the rules found are the
//! union of the defects' rules, for every pair that is [`compatible`].
//!
//! ```
//! use iplos_generators::defects::{self, DefectContext};
//! use iplos_model::message::{Header, Melding, Kontaktperson};
//! use rand::SeedableRng;
//!
//! let m = Melding {
//!     header: Header::new("Leverandør AS", "EPJ", "1.0", "1.0"),
//!     notifikasjoner: Vec::new(),
//!     kontaktpersoner: ["16", "17"].iter().map(|t| Kontaktperson {
//!         navn: "Kari Nordmann".into(), telefon: None,
//!         epost1: "kari@kommune.example".into(), epost2: None,
//!         type_kontaktperson: t.to_string(),
//!     }).collect(),
//!     kommuner: vec!["0301".into()],
//! };
//! let ctx = DefectContext::new(2024, "0301");
//! let status_t = defects::find("status-t").unwrap();
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
//! let (bytes, applied) = defects::render(&m, &[status_t], &mut rng, &ctx).unwrap();
//! assert_eq!(applied[0].rules, ["IPL08"]);
//! assert!(std::str::from_utf8(&bytes).unwrap().contains("statusNotifikasjon=\"T\""));
//! ```

mod content;
mod doc;
mod schema;
mod session;
#[cfg(feature = "proptest")]
pub mod strategy;

use std::fmt;

use iplos_model::message::{Melding, OutputEncoding, parse_plain_date, write_message};
pub use iplos_model::rules::Category;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use serde::Serialize;

use session::{Hit, Session};

/// A part of the message that some defects rewrite as a whole; two defects that share a
/// slot are not [`compatible`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slot {
    /// The attributes of `Melding`.
    Header,
    /// The `Kommune` elements.
    Kommune,
}

type ApplyFn = fn(&mut Session<'_>) -> Result<Hit, DefectError>;

/// One named defect of the catalogue.
#[derive(Clone, Copy, Serialize)]
pub struct Defect {
    /// Stable kebab-case name, e.g. `broken-chain`.
    pub name: &'static str,
    /// What is wrong, in one line.
    pub description: &'static str,
    /// The rule ids the checker reports for it, exactly (sorted).
    pub rules: &'static [&'static str],
    /// The most severe category among its rules: a `Wellformed` or `Schema` defect makes
    /// the file fail `xmllint --schema`; a `Content` one passes it.
    pub level: Category,
    /// An exclusive defect hides everything else (the file is not well-formed, or the
    /// checker cannot read it as a message): it is combined with no other defect.
    pub exclusive: bool,
    /// Parts of the message the defect rewrites as a whole.
    pub slots: &'static [Slot],
    #[serde(skip)]
    apply: ApplyFn,
}

impl fmt::Debug for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Defect")
            .field("name", &self.name)
            .field("rules", &self.rules)
            .field("level", &self.level)
            .field("exclusive", &self.exclusive)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Defect {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Defect {}

/// What one defect did to one message; the run manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The defect's name.
    pub defect: &'static str,
    /// The rule ids the checker must report for it.
    pub rules: Vec<&'static str>,
    /// The (0-based) index of the notification changed or added, if any.
    pub notification: Option<usize>,
    /// What was changed, with the values before and after.
    pub detail: String,
}

/// What some defects need to know about the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefectContext {
    /// The data year: added notifications are dated in it, and `old-kommunenummer` and
    /// `two-kommuner` look kommuner up in it. It should be the year the checker uses (by
    /// default the year of the message's latest `hendelseDato`).
    pub data_year: i32,
    /// The reporting kommune's number.
    pub kommune_nr: String,
}

impl DefectContext {
    /// A context for a kommune's message of a data year.
    pub fn new(data_year: i32, kommune_nr: impl Into<String>) -> DefectContext {
        DefectContext {
            data_year,
            kommune_nr: kommune_nr.into(),
        }
    }

    /// The context the checker would derive: the year of the latest `hendelseDato`, and
    /// the first `Kommune`.
    pub fn for_message(m: &Melding) -> Result<DefectContext, DefectError> {
        use chrono::Datelike;
        let year = m
            .notifikasjoner
            .iter()
            .flat_map(|n| &n.events)
            .filter_map(|e| parse_plain_date(&e.hendelse_dato))
            .max()
            .map(|d| d.year())
            .ok_or_else(|| {
                DefectError::NoContext(
                    "the message has no dated event to take the data year from".into(),
                )
            })?;
        let kommune = m
            .kommuner
            .first()
            .cloned()
            .ok_or_else(|| DefectError::NoContext("the message has no Kommune".into()))?;
        Ok(DefectContext::new(year, kommune))
    }
}

/// Errors of the defect catalogue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DefectError {
    /// No defect has this name.
    #[error("unknown defect \"{name}\"; known defects: {known}")]
    UnknownDefect {
        /// The name asked for.
        name: String,
        /// Every known name, comma-separated.
        known: String,
    },
    /// The defect cannot be applied to this message.
    #[error("defect {defect} cannot be applied: {reason}")]
    NotApplicable {
        /// The defect's name.
        defect: &'static str,
        /// Why.
        reason: String,
    },
    /// Two defects asked for together interfere (or one was asked for twice).
    #[error("defects {a} and {b} cannot be combined in one message")]
    Incompatible {
        /// The first.
        a: &'static str,
        /// The second.
        b: &'static str,
    },
    /// [`DefectContext::for_message`] found nothing to derive the context from.
    #[error("no defect context: {0}")]
    NoContext(String),
    /// Writing the message failed.
    #[error("writing the message: {0}")]
    Write(#[from] std::io::Error),
    /// An edit of the serialized message could not be carried out (a bug: the writer's
    /// output was not what the editor expects).
    #[error("editing the serialized message: {0}")]
    Edit(String),
}

const fn defect(
    name: &'static str,
    description: &'static str,
    rules: &'static [&'static str],
    level: Category,
    apply: ApplyFn,
) -> Defect {
    Defect {
        name,
        description,
        rules,
        level,
        exclusive: false,
        slots: &[],
        apply,
    }
}

const fn exclusive(d: Defect) -> Defect {
    Defect {
        exclusive: true,
        ..d
    }
}

const fn in_slots(d: Defect, slots: &'static [Slot]) -> Defect {
    Defect { slots, ..d }
}

use Category::{Content, Schema, Wellformed};
use Slot::{Header, Kommune};

static CATALOGUE: &[Defect] = &[
    // ---- content (IPL) --------------------------------------------------------------------
    defect(
        "no-event",
        "a Notifikasjon without any event",
        &["IPL01"],
        Content,
        content::no_event,
    ),
    defect(
        "two-events",
        "a Notifikasjon holding both a TjenesteStart and a TjenesteSlutt",
        &["IPL01"],
        Content,
        content::two_events,
    ),
    defect(
        "lopenr-not-increasing",
        "a notifikasjonLopeNr equal to the previous notification's",
        &["IPL02"],
        Content,
        content::lopenr_not_increasing,
    ),
    defect(
        "lopenr-not-a-number",
        "a notifikasjonLopeNr written as a decimal (\"12.0\")",
        &["IPL02"],
        Content,
        content::lopenr_not_a_number,
    ),
    defect(
        "broken-chain",
        "a notifikasjonForrigeGUID in the middle of the chain pointing to no notification",
        &["IPL03"],
        Content,
        content::broken_chain,
    ),
    defect(
        "missing-ref",
        "a correction (M or C) without notifikasjonRef",
        &["IPL04"],
        Content,
        content::missing_ref,
    ),
    defect(
        "ref-not-original",
        "a C (KorrigerAnnuller) whose notifikasjonRef points to a correction, not an original",
        &["IPL05"],
        Content,
        content::ref_not_original,
    ),
    defect(
        "ref-unknown",
        "a correction whose notifikasjonRef points to a notification not in the message",
        &["IPL06"],
        Content,
        content::ref_unknown,
    ),
    defect(
        "ref-on-original",
        "an original (N) with a notifikasjonRef",
        &["IPL07"],
        Content,
        content::ref_on_original,
    ),
    defect(
        "status-t",
        "a correction with status T (KorrigerSuppler), not to be used yet",
        &["IPL08"],
        Content,
        content::status_t,
    ),
    defect(
        "unknown-status",
        "a statusNotifikasjon outside kodeverk 7316 (\"O\", \"n\", \"E\")",
        &["IPL09"],
        Content,
        content::unknown_status,
    ),
    defect(
        "duplicate-hendelse-guid",
        "two events sharing one hendelseGUID",
        &["IPL10"],
        Content,
        content::duplicate_hendelse_guid,
    ),
    defect(
        "unmatched-stop",
        "a MidlertidigStoppTil whose midlertidigStoppID has no MidlertidigStoppFra",
        &["IPL11"],
        Content,
        content::unmatched_stop,
    ),
    defect(
        "end-before-start",
        "a TjenesteSlutt dated before the TjenesteStart of its tjenesteID",
        &["IPL12"],
        Content,
        content::end_before_start,
    ),
    defect(
        "unknown-service-type",
        "a tjenesteType outside kodeverk 9151",
        &["IPL13"],
        Content,
        content::unknown_service_type,
    ),
    defect(
        "retired-service-type",
        "a retired tjenesteType (6, 14, 23, 24, 27 or 28)",
        &["IPL14"],
        Content,
        content::retired_service_type,
    ),
    defect(
        "missing-orgnr",
        "no tjenesteOrgNr on a service type that requires one",
        &["IPL15"],
        Content,
        content::missing_orgnr,
    ),
    defect(
        "orgnr-on-housing",
        "a tjenesteOrgNr on housing (tjenesteType 29)",
        &["IPL16"],
        Content,
        content::orgnr_on_housing,
    ),
    defect(
        "invalid-orgnr",
        "a tjenesteOrgNr with a wrong check digit",
        &["IPL17"],
        Content,
        content::invalid_orgnr,
    ),
    defect(
        "invalid-fid",
        "a fid with a wrong check digit",
        &["IPL18"],
        Content,
        content::invalid_fid,
    ),
    defect(
        "fid-kind-mismatch",
        "a valid fødselsnummer declared as a D-nummer (or the reverse)",
        &["IPL19"],
        Content,
        content::fid_kind_mismatch,
    ),
    defect(
        "typeid-without-kprid",
        "a person identified by an H-nummer (typeID 3) or FH-nummer (typeID 12), which gives no KPR-ID (warning)",
        &["IPL20"],
        Content,
        content::typeid_without_kprid,
    ),
    defect(
        "unknown-typeid",
        "a typeID outside kodeverk 9032",
        &["IPL21"],
        Content,
        content::unknown_typeid,
    ),
    in_slots(
        defect(
            "old-kommunenummer",
            "the kommune reported on a number not valid in the data year (its number from before a merger when it has one)",
            &["IPL22"],
            Content,
            content::old_kommunenummer,
        ),
        &[Kommune],
    ),
    defect(
        "missing-contact-type",
        "no Kontaktperson of type 16 (or none of type 17)",
        &["IPL23"],
        Content,
        content::missing_contact_type,
    ),
    defect(
        "real-person-id",
        "a real-looking (non-synthetic) fid of the same kind, birth date and sex",
        &["IPL24"],
        Content,
        content::real_person_id,
    ),
    defect(
        "unknown-contact-type",
        "an added Kontaktperson with a typeKontaktperson outside kodeverk 8471",
        &["IPL25"],
        Content,
        content::unknown_contact_type,
    ),
    in_slots(
        defect(
            "two-kommuner",
            "a second (valid) Kommune in the message",
            &["IPL26"],
            Content,
            content::two_kommuner,
        ),
        &[Kommune],
    ),
    defect(
        "long-bruker-nr",
        "a brukerNr longer than 100 characters",
        &["IPL27"],
        Content,
        content::long_bruker_nr,
    ),
    in_slots(
        defect(
            "long-leverandor",
            "a leverandor longer than 100 characters",
            &["IPL27"],
            Content,
            content::long_leverandor,
        ),
        &[Header],
    ),
    exclusive(defect(
        "root-not-melding",
        "a lone Notifikasjon (or Kommune) as the document, without Melding",
        &["IPL28"],
        Content,
        schema::root_not_melding,
    )),
    defect(
        "notifikasjon-guid-case-duplicate",
        "a notifikasjonGUID repeating another in upper case and braces",
        &["IPL29"],
        Content,
        content::notifikasjon_guid_case_duplicate,
    ),
    // ---- schema (XSD) ---------------------------------------------------------------------
    exclusive(defect(
        "wrong-root-namespace",
        "the root element in another version's namespace",
        &["XSD01"],
        Schema,
        schema::wrong_root_namespace,
    )),
    defect(
        "event-order",
        "a second event (a TjenesteStart) after a notification's event",
        &["XSD02"],
        Schema,
        schema::event_order,
    ),
    defect(
        "unknown-element",
        "an element the schema does not know (Merknad) in a Notifikasjon",
        &["XSD02"],
        Schema,
        schema::unknown_element,
    ),
    in_slots(
        defect(
            "kontaktperson-after-kommune",
            "a Kontaktperson after the Kommune element",
            &["XSD02"],
            Schema,
            schema::kontaktperson_after_kommune,
        ),
        &[Kommune],
    ),
    defect(
        "missing-bruker",
        "an event without its Bruker",
        &["XSD03"],
        Schema,
        schema::missing_bruker,
    ),
    in_slots(
        defect(
            "missing-kommune",
            "a Melding without any Kommune element",
            &["XSD03"],
            Schema,
            schema::missing_kommune,
        ),
        &[Kommune],
    ),
    defect(
        "text-in-notifikasjon",
        "text in a Notifikasjon, whose content is element-only",
        &["XSD04"],
        Schema,
        schema::text_in_notifikasjon,
    ),
    defect(
        "whitespace-in-bruker",
        "whitespace inside Bruker, whose content is empty",
        &["XSD04"],
        Schema,
        schema::whitespace_in_bruker,
    ),
    in_slots(
        defect(
            "missing-kommune-nr",
            "a Kommune without kommuneNr",
            &["XSD05"],
            Schema,
            schema::missing_kommune_nr,
        ),
        &[Kommune],
    ),
    defect(
        "missing-notifikasjon-tid",
        "a Notifikasjon without notifikasjonTid",
        &["XSD05"],
        Schema,
        schema::missing_notifikasjon_tid,
    ),
    defect(
        "missing-utforer-orgnr",
        "a TjenesteutforerEndret without its required tjenesteOrgNr",
        &["XSD05"],
        Schema,
        schema::missing_utforer_orgnr,
    ),
    in_slots(
        defect(
            "missing-leverandor",
            "a Melding without leverandor",
            &["XSD05"],
            Schema,
            schema::missing_leverandor,
        ),
        &[Header],
    ),
    defect(
        "prohibited-kjonn",
        "Bruker with kjonn, prohibited since the annual format",
        &["XSD06"],
        Schema,
        schema::prohibited_kjonn,
    ),
    in_slots(
        defect(
            "old-period-attributes",
            "Melding with fraDatoPeriode and tilDatoPeriode, prohibited since the annual format",
            &["XSD06"],
            Schema,
            schema::old_period_attributes,
        ),
        &[Header],
    ),
    in_slots(
        defect(
            "wrong-versjon",
            "versjon 56.0.0.5 (the schema file's version) instead of the fixed 56.0.0",
            &["XSD07"],
            Schema,
            schema::wrong_versjon,
        ),
        &[Header],
    ),
    defect(
        "date-with-time",
        "a hendelseDato with a time of day (xs:date)",
        &["XSD08"],
        Schema,
        schema::date_with_time,
    ),
    defect(
        "malformed-guid",
        "a pasientGUID without hyphens",
        &["XSD08"],
        Schema,
        schema::malformed_guid,
    ),
    defect(
        "bydel-too-long",
        "a bydel of seven characters (bydelNr allows 1 to 6)",
        &["XSD08"],
        Schema,
        schema::bydel_too_long,
    ),
    in_slots(
        defect(
            "duplicate-kommune-nr",
            "the same kommuneNr in two Kommune elements",
            &["XSD09"],
            Schema,
            content::duplicate_kommune_nr,
        ),
        &[Kommune],
    ),
    defect(
        "duplicate-notifikasjon-guid",
        "two notifications with the same notifikasjonGUID",
        &["XSD09"],
        Schema,
        content::duplicate_notifikasjon_guid,
    ),
    // ---- well-formedness (WF) -------------------------------------------------------------
    exclusive(defect(
        "unescaped-ampersand",
        "a raw & in an attribute value",
        &["WF01"],
        Wellformed,
        schema::unescaped_ampersand,
    )),
    exclusive(defect(
        "invalid-utf8",
        "ISO-8859-1 bytes (æ, ø, å) in a file declared UTF-8",
        &["WF02"],
        Wellformed,
        schema::invalid_utf8,
    )),
    exclusive(defect(
        "truncated",
        "the file cut off before </Melding>",
        &["WF03"],
        Wellformed,
        schema::truncated,
    )),
    exclusive(defect(
        "undefined-entity",
        "an HTML entity (&oslash;) XML does not define",
        &["WF04"],
        Wellformed,
        schema::undefined_entity,
    )),
];

/// Every defect, in catalogue order (content, schema, well-formedness).
pub fn catalogue() -> &'static [Defect] {
    CATALOGUE
}

/// The defect with this name.
pub fn by_name(name: &str) -> Option<&'static Defect> {
    CATALOGUE.iter().find(|d| d.name == name)
}

/// The defect with this name, or an error listing the known names.
pub fn find(name: &str) -> Result<&'static Defect, DefectError> {
    by_name(name).ok_or_else(|| DefectError::UnknownDefect {
        name: name.to_string(),
        known: CATALOGUE
            .iter()
            .map(|d| d.name)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Whether two different defects can go into one message (their rules then add up):
/// neither is exclusive and they rewrite no common [`Slot`].
pub fn compatible(a: &Defect, b: &Defect) -> bool {
    a != b && !a.exclusive && !b.exclusive && !a.slots.iter().any(|s| b.slots.contains(s))
}

/// Checks that every pair of `defects` is [`compatible`].
pub fn check_compatible(defects: &[&Defect]) -> Result<(), DefectError> {
    for (i, a) in defects.iter().enumerate() {
        for b in &defects[i + 1..] {
            if !compatible(a, b) {
                return Err(DefectError::Incompatible {
                    a: a.name,
                    b: b.name,
                });
            }
        }
    }
    Ok(())
}

/// Picks defects for one message: in random order, each defect of the catalogue with
/// probability `rate`, skipping those not [`compatible`] with one already picked.
pub fn choose<R: Rng + ?Sized>(rng: &mut R, rate: f64) -> Vec<&'static Defect> {
    let rate = if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    };
    let mut order: Vec<&'static Defect> = CATALOGUE.iter().collect();
    order.shuffle(rng);
    let mut out: Vec<&'static Defect> = Vec::new();
    for d in order {
        if rng.gen_bool(rate) && out.iter().all(|o| compatible(o, d)) {
            out.push(d);
        }
    }
    out
}

/// Applies `defects` (in order) to a copy of `m` and writes it as UTF-8.
///
/// Returns the bytes and what each defect did. The defects must be pairwise
/// [`compatible`]; with `m` valid, the checker then reports exactly the union of their
/// rules. The same `rng` state gives the same bytes and the same list.
pub fn render(
    m: &Melding,
    defects: &[&Defect],
    rng: &mut impl Rng,
    ctx: &DefectContext,
) -> Result<(Vec<u8>, Vec<Applied>), DefectError> {
    check_compatible(defects)?;
    let rng: &mut dyn RngCore = rng;
    let mut s = Session::new(m.clone(), rng, ctx);
    let mut applied = Vec::with_capacity(defects.len());
    for d in defects {
        let hit = (d.apply)(&mut s)?;
        applied.push(Applied {
            defect: d.name,
            rules: d.rules.to_vec(),
            notification: hit.notification,
            detail: hit.detail,
        });
    }
    let mut bytes = write_message(&s.m, Vec::new(), OutputEncoding::Utf8)?;
    doc::apply(&mut bytes, &s.edits)?;
    Ok((bytes, applied))
}
