//! The IPLOS 56.0.0 message (`Melding`) as Rust types, with a streaming XML writer
//! ([`MessageWriter`]) and a streaming reader ([`crate::rules::read_message`] /
//! [`crate::rules::check`], which validate while they read).
//!
//! Values are kept as the strings that stand in the XML (what a vendor sent), so a message
//! with wrong values can still be represented, reported and re-written; typed accessors
//! interpret them.
//!
//! The envelope formats of the service bus live here too: [`MsgHead`] (the KITH
//! "hodemelding" around the IPLOS document) and [`AppRec`] (the application receipt).

mod apprec;
pub mod kith;
mod msghead;
mod writer;

pub use apprec::{
    AppRec, AppRecError, AppRecErrorCode, AppRecParty, AppRecReadError, AppRecStatus,
    AppRecVersion, MIG_VERSION_V1_1, NS_APPREC_V1_0, NS_APPREC_V1_1, OriginalMsgId, read_apprec,
    write_apprec,
};
pub use kith::Coded;
pub use msghead::{
    DEFAULT_MSG_TYPE, DEFAULT_MSG_TYPE_DN, MIG_VERSION as MSGHEAD_MIG_VERSION, MsgHead,
    MsgHeadInfo, NS_MSGHEAD, Organisation, ReadError as MsgHeadReadError,
    WriteError as MsgHeadWriteError, read_msghead, read_msghead_with, write_msghead,
};
pub use writer::{MessageWriter, OutputEncoding, write_message};

use serde::{Deserialize, Serialize};

/// The empty GUID that starts every notification chain.
pub const EMPTY_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// The attributes of `Melding`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `versjon` (fixed "56.0.0").
    pub versjon: String,
    /// `meldingstype` (fixed "K").
    pub meldingstype: String,
    /// `leverandor`: the EPJ vendor.
    pub leverandor: String,
    /// `navnEPJ`: the EPJ product.
    pub navn_epj: String,
    /// `versjonEPJ`.
    pub versjon_epj: String,
    /// `versjonUt`: version of the extraction program.
    pub versjon_ut: String,
    /// `lokalident`: free local id.
    pub lokalident: Option<String>,
}

impl Header {
    /// A header with the fixed values of 56.0.0 and the given vendor metadata.
    pub fn new(leverandor: &str, navn_epj: &str, versjon_epj: &str, versjon_ut: &str) -> Header {
        Header {
            versjon: "56.0.0".into(),
            meldingstype: "K".into(),
            leverandor: leverandor.into(),
            navn_epj: navn_epj.into(),
            versjon_epj: versjon_epj.into(),
            versjon_ut: versjon_ut.into(),
            lokalident: None,
        }
    }
}

/// `statusNotifikasjon` (kodeverk 7316).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// N Original
    N,
    /// M KorrigerErstatt
    M,
    /// T KorrigerSuppler (not to be used yet)
    T,
    /// C KorrigerAnnuller
    C,
    /// Anything else, as sent.
    Other(String),
}

impl Status {
    /// Parse the code.
    pub fn from_code(s: &str) -> Status {
        match s {
            "N" => Status::N,
            "M" => Status::M,
            "T" => Status::T,
            "C" => Status::C,
            other => Status::Other(other.to_string()),
        }
    }

    /// The code as it stands in the XML.
    pub fn code(&self) -> &str {
        match self {
            Status::N => "N",
            Status::M => "M",
            Status::T => "T",
            Status::C => "C",
            Status::Other(s) => s,
        }
    }
}

/// The five event kinds, in the order of the schema's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum EventKind {
    /// `TjenesteStart`
    TjenesteStart,
    /// `MidlertidigStoppTil`
    MidlertidigStoppTil,
    /// `MidlertidigStoppFra`
    MidlertidigStoppFra,
    /// `TjenesteutforerEndret`
    TjenesteutforerEndret,
    /// `TjenesteSlutt`
    TjenesteSlutt,
}

impl EventKind {
    /// All kinds in schema order.
    pub const ALL: [EventKind; 5] = [
        EventKind::TjenesteStart,
        EventKind::MidlertidigStoppTil,
        EventKind::MidlertidigStoppFra,
        EventKind::TjenesteutforerEndret,
        EventKind::TjenesteSlutt,
    ];

    /// The element name.
    pub fn element(self) -> &'static str {
        match self {
            EventKind::TjenesteStart => "TjenesteStart",
            EventKind::MidlertidigStoppTil => "MidlertidigStoppTil",
            EventKind::MidlertidigStoppFra => "MidlertidigStoppFra",
            EventKind::TjenesteutforerEndret => "TjenesteutforerEndret",
            EventKind::TjenesteSlutt => "TjenesteSlutt",
        }
    }

    /// The kind for an element name.
    pub fn from_element(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.element() == name)
    }

    /// Whether the event carries `midlertidigStoppID`.
    pub fn is_stop(self) -> bool {
        matches!(
            self,
            EventKind::MidlertidigStoppFra | EventKind::MidlertidigStoppTil
        )
    }
}

/// `Bruker`: the person the event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bruker {
    /// `pasientGUID`
    pub pasient_guid: String,
    /// `brukerNr`: stable per kommune.
    pub bruker_nr: String,
    /// `fid`: the official person id.
    pub fid: String,
    /// `typeID` (kodeverk 9032).
    pub type_id: String,
    /// `bydel`
    pub bydel: Option<String>,
}

/// One event (the single child of a `Notifikasjon`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Which event.
    pub kind: EventKind,
    /// `tjenesteType` (kodeverk 9151).
    pub tjeneste_type: String,
    /// `tjenesteID`
    pub tjeneste_id: String,
    /// `hendelseGUID`
    pub hendelse_guid: String,
    /// `hendelseDato` (xs:date)
    pub hendelse_dato: String,
    /// `hendelseRegTid` (xs:dateTime)
    pub hendelse_reg_tid: String,
    /// `tjenesteOrgNr`
    pub tjeneste_org_nr: Option<String>,
    /// `midlertidigStoppID` (stops only)
    pub midlertidig_stopp_id: Option<String>,
    /// The person.
    pub bruker: Bruker,
}

impl Event {
    /// `hendelseDato` as a date, if it is a valid plain `YYYY-MM-DD` date.
    pub fn date(&self) -> Option<chrono::NaiveDate> {
        parse_plain_date(&self.hendelse_dato)
    }
}

/// Parses the `YYYY-MM-DD` part of an xs:date (ignoring a timezone).
pub fn parse_plain_date(s: &str) -> Option<chrono::NaiveDate> {
    // xs:date: `-?YYYY+-MM-DD` and an optional timezone; the year may be negative or longer
    // than four digits (the schema allows both), so the date part is read field by field.
    let s = s.trim();
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (year, rest) = rest.split_once('-')?;
    if year.len() < 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (month, day) = (rest.get(..2)?, rest.get(3..5)?);
    if rest.as_bytes().get(2) != Some(&b'-') {
        return None;
    }
    let number = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse::<u32>().ok())
            .flatten()
    };
    let year: i32 = year.parse().ok()?;
    let year = if negative { -year } else { year };
    chrono::NaiveDate::from_ymd_opt(year, number(month)?, number(day)?)
}

/// `Notifikasjon`: metadata and (in a valid message) exactly one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifikasjon {
    /// `statusNotifikasjon`
    pub status: Status,
    /// `notifikasjonTid` (xs:dateTime)
    pub tid: String,
    /// `notifikasjonGUID`
    pub guid: String,
    /// `notifikasjonForrigeGUID`
    pub forrige_guid: String,
    /// `notifikasjonLopeNr`
    pub lopenr: String,
    /// `notifikasjonRef`
    pub referanse: Option<String>,
    /// The events (one in a valid message).
    pub events: Vec<Event>,
}

/// `Kontaktperson`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kontaktperson {
    /// `kontPerson`: name.
    pub navn: String,
    /// `meldTelefon`
    pub telefon: Option<String>,
    /// `meldEpost1`
    pub epost1: String,
    /// `meldEpost2`
    pub epost2: Option<String>,
    /// `typeKontaktperson` (kodeverk 8471; 16 IPLOS kontaktperson, 17 innsendingsansvarlig).
    pub type_kontaktperson: String,
}

/// A whole message in memory (use [`MessageWriter`] to write large ones as a stream).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Melding {
    /// The attributes of `Melding`.
    pub header: Header,
    /// The notifications, in order.
    pub notifikasjoner: Vec<Notifikasjon>,
    /// The contacts.
    pub kontaktpersoner: Vec<Kontaktperson>,
    /// `Kommune/@kommuneNr` values.
    pub kommuner: Vec<String>,
}

/// Kodeverk 9151 (IPLOS tjenestetype): code, Norwegian text, retired.
pub const SERVICE_TYPES: &[(&str, &str, bool)] = &[
    ("1", "Praktisk bistand - daglige gjøremål", false),
    (
        "2",
        "Praktisk bistand - opplæring - daglige gjøremål",
        false,
    ),
    (
        "3",
        "Praktisk bistand - brukerstyrt - personlig assistanse",
        false,
    ),
    ("4", "Dagaktivitetstilbud", false),
    ("5", "Matombringing", false),
    ("15", "Helsetjenester i hjemmet", false),
    ("7", "Avlastning utenfor institusjon", false),
    ("9", "Støttekontakt", false),
    ("11", "Omsorgsstønad", false),
    (
        "29",
        "Bolig som kommunen disponerer for helse- og omsorgsformål",
        false,
    ),
    ("18", "Tidsbegrenset opphold - utredning/behandling", false),
    (
        "19",
        "Tidsbegrenset opphold - habilitering/rehabilitering",
        false,
    ),
    ("20", "Tidsbegrenset opphold - annet", false),
    ("8", "Avlastning i institusjon", false),
    ("17", "Dagopphold i institusjon", false),
    ("22", "Nattopphold i institusjon", false),
    ("21", "Langtidsopphold i institusjon", false),
    ("25", "Kommunal øyeblikkelig hjelp - døgnopphold", false),
    ("23", "Skadeavvergende tiltak i nødssituasjoner", true),
    ("14", "Planlagte tiltak", true),
    ("24", "Helsehjelp med tvang", true),
    ("6", "Trygghetsalarm", true),
    ("26", "Lokaliseringsteknologi (GPS)", true),
    ("27", "Elektronisk medisineringsstøtte", true),
    ("28", "Digitalt tilsyn", true),
];

/// Whether a service type must, may or must not carry `tjenesteOrgNr`
/// (Helsedirektoratet's Q&A, DOMAIN §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrgNrDuty {
    /// Must have an orgnr.
    Required,
    /// May have one.
    Optional,
    /// Must not have one (29 housing, 26 GPS).
    Forbidden,
}

/// The orgnr duty of a service code.
pub fn orgnr_duty(tjeneste_type: &str) -> OrgNrDuty {
    match tjeneste_type {
        "1" | "2" | "3" | "4" | "8" | "15" | "17" | "18" | "19" | "20" | "21" | "22" | "25" => {
            OrgNrDuty::Required
        }
        "29" | "26" => OrgNrDuty::Forbidden,
        _ => OrgNrDuty::Optional,
    }
}

/// Kodeverk 9032 (type personidentifikasjon) codes.
pub const PERSON_ID_TYPES: &[(&str, &str)] = &[
    ("1", "Norsk fødselsnummer"),
    ("2", "D-nummer"),
    ("3", "H-nummer"),
    ("4", "Passnummer"),
    ("5", "Svensk personnummer"),
    ("6", "Dansk personnummer"),
    ("7", "Sosial security number"),
    ("8", "Forsikringspolise nummer"),
    ("9", "Annet"),
    ("10", "DUF-nummer"),
    ("12", "Felles hjelpenummer (FH-nummer)"),
];

/// Kodeverk 8471 (kontaktperson type) codes: 1..=19.
pub fn is_contact_type(code: &str) -> bool {
    code.parse::<u32>().is_ok_and(|n| (1..=19).contains(&n)) && !code.starts_with('0')
}
