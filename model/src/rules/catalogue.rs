//! The rule catalogue: every check the harness performs, with a stable id, its category,
//! severity, the consequence the national side applies and where the rule comes from.

// Rule titles become the constants' docs; XSD01's quotes the namespace URI, not a link.
#![allow(rustdoc::bare_urls)]

use serde::{Deserialize, Serialize};

/// Which level of checking a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// XML well-formedness, encoding and parser limits.
    Wellformed,
    /// Everything the official XSD says.
    Schema,
    /// Content rules the XSD cannot express.
    Content,
}

/// How serious a finding is. An `Error` makes the message non-conformant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported, but the message still conforms.
    Warning,
    /// The message does not conform.
    Error,
}

/// What the national receiver does with data that breaks the rule
/// (the spec's "Konsekvens" lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consequence {
    /// "Slettemerk melding": the whole message is discarded.
    RejectMessage,
    /// "Slettemerk rad med underelementer": the notification (row) is discarded.
    RejectRow,
    /// "Sett verdi til NULL": the value is dropped.
    SetNull,
    /// "Sett verdi til -1": the code is stored as unknown.
    UnknownCode,
    /// Accepted, but reported back to the kommune as a deficiency ("mangel").
    Deficiency,
}

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id, used in reports, AppRec error texts and feedback files.
    pub id: &'static str,
    /// Short name.
    pub title: &'static str,
    /// Level of checking.
    pub category: Category,
    /// Default severity.
    pub severity: Severity,
    /// What the national side does.
    pub consequence: Consequence,
    /// Where the rule comes from (spec section or seed).
    pub source: &'static str,
}

macro_rules! rules {
    ($( $konst:ident = $id:literal, $cat:ident, $sev:ident, $cons:ident, $title:literal, $source:literal; )*) => {
        $(
            #[doc = $title]
            pub const $konst: Rule = Rule {
                id: $id,
                title: $title,
                category: Category::$cat,
                severity: Severity::$sev,
                consequence: Consequence::$cons,
                source: $source,
            };
        )*
        /// Every rule, in catalogue order.
        pub const ALL: &[Rule] = &[$($konst),*];
    };
}

rules! {
    WF_SYNTAX = "WF01", Wellformed, Error, RejectMessage,
        "The document is not well-formed XML", "XML 1.0; kravspesifikasjon §3 (Om melding)";
    WF_ENCODING = "WF02", Wellformed, Error, RejectMessage,
        "The bytes do not match the declared encoding, or the encoding is not supported", "XML 1.0 §4.3.3";
    WF_TRUNCATED = "WF03", Wellformed, Error, RejectMessage,
        "The document is empty or ends before its root element is closed", "XML 1.0 §2.1";
    WF_DTD = "WF04", Wellformed, Error, RejectMessage,
        "Entity declarations and undeclared entities are refused (entity expansion is off)", "DESIGN: parsers have limits, entity expansion off";
    WF_LIMIT = "WF05", Wellformed, Error, RejectMessage,
        "A parser limit was exceeded (nesting depth, size of a single token, length of a name)", "DESIGN: parsers have limits";
    XSD_ROOT = "XSD01", Schema, Error, RejectMessage,
        "The root element is not Melding in namespace http://www.npr.no/xmlstds/56_0_0_ipl", "XPR(ipl).xsd: element Melding";
    XSD_UNEXPECTED = "XSD02", Schema, Error, RejectMessage,
        "An element is not allowed here (unknown, out of order or too many)", "XPR(ipl).xsd: sequences";
    XSD_MISSING = "XSD03", Schema, Error, RejectMessage,
        "A required child element is missing", "XPR(ipl).xsd: minOccurs";
    XSD_TEXT = "XSD04", Schema, Error, RejectMessage,
        "Text is not allowed inside an element that has element-only or empty content", "XPR(ipl).xsd: complexType without mixed content";
    XSD_ATTR_MISSING = "XSD05", Schema, Error, RejectMessage,
        "A required attribute is missing", "XPR(ipl).xsd: use=\"required\"; kravspesifikasjon §9 'Obligatorisk attributt'";
    XSD_ATTR_NOT_ALLOWED = "XSD06", Schema, Error, RejectMessage,
        "An attribute is not declared for the element or is prohibited", "XPR(ipl).xsd: use=\"prohibited\" and undeclared attributes";
    XSD_FIXED = "XSD07", Schema, Error, RejectMessage,
        "An attribute with a fixed value has another value", "XPR(ipl).xsd: fixed (versjon 56.0.0, meldingstype K)";
    XSD_TYPE = "XSD08", Schema, Error, RejectMessage,
        "An attribute value is not valid for its type (date, dateTime, guid, length)", "XPR(ipl).xsd and NPR.xsd: simple types";
    XSD_UNIQUE = "XSD09", Schema, Error, RejectMessage,
        "A uniqueness constraint is violated", "XPR(ipl).xsd: unique NotifikasjonP_ID, KommuneP_ID";
    ONE_EVENT = "IPL01", Content, Error, RejectRow,
        "A Notifikasjon must contain exactly one event", "kravspesifikasjon §9.2.1: {XOR Notifikasjon}";
    LOPENR_INCREASING = "IPL02", Content, Error, Deficiency,
        "notifikasjonLopeNr must be a number, strictly increasing per kommune", "kravspesifikasjon §9.2.1 notifikasjonLopeNr";
    CHAIN = "IPL03", Content, Error, Deficiency,
        "notifikasjonForrigeGUID must point to the previous notification; the first is the empty GUID", "kravspesifikasjon §9.2.1 notifikasjonForrigeGUID";
    REF_MISSING = "IPL04", Content, Error, RejectRow,
        "notifikasjonRef is required for every status other than N", "kravspesifikasjon §5, §9.2.1 notifikasjonRef";
    REF_NOT_ORIGINAL = "IPL05", Content, Error, RejectRow,
        "notifikasjonRef must point to a notification with status N", "kravspesifikasjon §5, §9.2.1 notifikasjonRef";
    REF_UNKNOWN = "IPL06", Content, Warning, RejectRow,
        "notifikasjonRef points to a notification not in this message (nor in the earlier messages given)", "kravspesifikasjon §5";
    REF_ON_ORIGINAL = "IPL07", Content, Warning, Deficiency,
        "A notification with status N must not refer to another notification", "kravspesifikasjon §5 ('Original' skal aldri erstatte eller korrigere)";
    STATUS_T = "IPL08", Content, Error, RejectRow,
        "Status T (KorrigerSuppler) is not to be used yet", "kravspesifikasjon §9.2.1 statusNotifikasjon";
    STATUS_UNKNOWN = "IPL09", Content, Error, RejectRow,
        "statusNotifikasjon is not a code of kodeverk 7316", "kodeverk 7316";
    EVENT_GUID_UNIQUE = "IPL10", Content, Error, RejectRow,
        "hendelseGUID must be unique across the message", "kravspesifikasjon §9.3 hendelseGUID (primærnøkkel)";
    STOP_UNMATCHED = "IPL11", Content, Error, RejectRow,
        "MidlertidigStoppTil needs a MidlertidigStoppFra with the same midlertidigStoppID, tjenesteID and an earlier or equal date", "kravspesifikasjon §7 (initiell last)";
    END_BEFORE_START = "IPL12", Content, Error, RejectRow,
        "TjenesteSlutt is dated before the TjenesteStart of the same tjenesteID", "kravspesifikasjon §2";
    SERVICE_UNKNOWN = "IPL13", Content, Error, UnknownCode,
        "tjenesteType is not a code of kodeverk 9151", "kodeverk 9151; kravspesifikasjon 'Sett verdi til -1'";
    SERVICE_RETIRED = "IPL14", Content, Error, UnknownCode,
        "tjenesteType is a retired code (6, 14, 23, 24, 26, 27, 28)", "kodeverk 9151 'Utgått'";
    ORGNR_REQUIRED = "IPL15", Content, Error, Deficiency,
        "tjenesteOrgNr is required for this service type", "Helsedirektoratet Q&A: orgnr duty per service code (DOMAIN §6)";
    ORGNR_FORBIDDEN = "IPL16", Content, Error, SetNull,
        "tjenesteOrgNr must not be given for service type 29 (housing) or 26 (GPS)", "Helsedirektoratet Q&A: orgnr duty per service code (DOMAIN §6)";
    ORGNR_INVALID = "IPL17", Content, Error, SetNull,
        "tjenesteOrgNr is not a valid organisasjonsnummer (9 digits, mod 11)", "Brønnøysundregistrene: organisasjonsnummer (DOMAIN §7)";
    FID_INVALID = "IPL18", Content, Error, RejectRow,
        "fid is not a valid identifier of the kind typeID says (check digits, date)", "kravspesifikasjon §9.4.1 fid; DOMAIN §7";
    FID_KIND_MISMATCH = "IPL19", Content, Error, RejectRow,
        "fid is valid but of another kind than typeID says", "kravspesifikasjon §9.4.1 typeID";
    TYPEID_NO_KPRID = "IPL20", Content, Warning, Deficiency,
        "typeID other than 1, 2 or 10 gives no KPR-ID and is reported back as a deficiency", "kravspesifikasjon §6 'Manglende KPR-ID i registret'";
    TYPEID_UNKNOWN = "IPL21", Content, Error, RejectRow,
        "typeID is not a code of kodeverk 9032", "kodeverk 9032; kravspesifikasjon §9.4.1";
    KOMMUNE_INVALID = "IPL22", Content, Error, RejectMessage,
        "kommuneNr is not valid in the data year", "seed 000-003: report on the kommunenummer valid for the data year";
    CONTACT_TYPES = "IPL23", Content, Error, Deficiency,
        "Each kommune needs at least one Kontaktperson of type 16 and one of type 17", "kravspesifikasjon §9.2.2 typeKontaktperson";
    REAL_PERSON_ID = "IPL24", Content, Error, RejectMessage,
        "A real-looking (non-synthetic) person id was sent to a test harness", "DESIGN: synthetic people only (Test-Norge ids, month + 80)";
    CONTACT_TYPE_UNKNOWN = "IPL25", Content, Error, UnknownCode,
        "typeKontaktperson is not a code of kodeverk 8471", "kodeverk 8471; 'Sett verdi til -1'";
    ONE_UNIT = "IPL26", Content, Error, RejectMessage,
        "A message must hold data from exactly one reporting unit (one Kommune)", "kravspesifikasjon §3 (Om melding)";
    TOO_LONG = "IPL27", Content, Error, SetNull,
        "A string is longer than 100 characters", "kravspesifikasjon §9 'Streng max 100 tegn'";
    ROOT_NOT_MELDING = "IPL28", Content, Error, RejectMessage,
        "The root element must be Melding (the XSD also accepts its other global elements as root)", "kravspesifikasjon §3 (Om melding)";
    NOTIF_GUID_UNIQUE = "IPL29", Content, Error, RejectRow,
        "notifikasjonGUID must be unique, also across messages and regardless of case or braces", "kravspesifikasjon §9.2.1 (primærnøkkel Notifikasjon GUID)";
}

/// Look a rule up by its id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().find(|r| r.id == id)
}
