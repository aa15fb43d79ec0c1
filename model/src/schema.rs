//! The IPLOS 56.0.0 schema (`XPR(ipl).xsd` with `NPR.xsd` and the coding schemes) as data:
//! elements with their content models, attributes with use, type and fixed values, and
//! uniqueness constraints. The validator in [`crate::rules`] walks a document against
//! these tables, so another profile is another set of tables.
//!
//! The lexical checks of the simple types follow XML Schema 1.0 part 2 as libxml2
//! implements it (the reference the agreement test compares against).

/// The target namespace of the IPLOS 56.0.0 schema.
pub const NS_IPL: &str = "http://www.npr.no/xmlstds/56_0_0_ipl";
/// The XML Schema instance namespace (xsi).
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The simple types that occur in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleType {
    /// xs:string (and the code types, which restrict string without facets).
    String,
    /// xs:date
    Date,
    /// xs:dateTime
    DateTime,
    /// xs:integer
    Integer,
    /// nprx:guid (string with a pattern)
    Guid,
    /// nprx:bydelNr (string, length 1..=6)
    BydelNr,
    /// nprx:kommNr (string, length 4)
    KommNr,
}

/// `use` of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// use="required"
    Required,
    /// use="optional"
    Optional,
    /// use="prohibited"
    Prohibited,
}

/// An attribute declaration.
#[derive(Debug, Clone, Copy)]
pub struct AttrDecl {
    /// Local name (attributes are unqualified).
    pub name: &'static str,
    /// Its use.
    pub use_: Use,
    /// Its type.
    pub ty: SimpleType,
    /// A fixed value, if any.
    pub fixed: Option<&'static str>,
}

/// One particle of a sequence: an element reference with its occurrence bounds.
#[derive(Debug, Clone, Copy)]
pub struct Particle {
    /// Local name of the referenced element (in [`NS_IPL`]).
    pub element: &'static str,
    /// minOccurs
    pub min: u32,
    /// maxOccurs (`u32::MAX` = unbounded)
    pub max: u32,
}

/// A uniqueness constraint: among the children named `selector`, attribute `field`
/// must not repeat.
#[derive(Debug, Clone, Copy)]
pub struct Unique {
    /// Constraint name in the XSD.
    pub name: &'static str,
    /// Child element selected.
    pub selector: &'static str,
    /// Attribute compared.
    pub field: &'static str,
}

/// An element declaration with an anonymous complex type.
#[derive(Debug, Clone, Copy)]
pub struct ElementDecl {
    /// Local name (in [`NS_IPL`]).
    pub name: &'static str,
    /// The sequence of child elements (empty = empty content).
    pub sequence: &'static [Particle],
    /// Attribute declarations.
    pub attributes: &'static [AttrDecl],
    /// Uniqueness constraints.
    pub unique: &'static [Unique],
}

impl ElementDecl {
    /// The declaration of an attribute by local name.
    pub fn attribute(&self, name: &str) -> Option<&'static AttrDecl> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

const fn p(element: &'static str, min: u32, max: u32) -> Particle {
    Particle { element, min, max }
}
const fn req(name: &'static str, ty: SimpleType) -> AttrDecl {
    AttrDecl {
        name,
        use_: Use::Required,
        ty,
        fixed: None,
    }
}
const fn opt(name: &'static str, ty: SimpleType) -> AttrDecl {
    AttrDecl {
        name,
        use_: Use::Optional,
        ty,
        fixed: None,
    }
}
const fn proh(name: &'static str, ty: SimpleType) -> AttrDecl {
    AttrDecl {
        name,
        use_: Use::Prohibited,
        ty,
        fixed: None,
    }
}
const fn fixed(name: &'static str, value: &'static str) -> AttrDecl {
    AttrDecl {
        name,
        use_: Use::Required,
        ty: SimpleType::String,
        fixed: Some(value),
    }
}
const fn uniq(name: &'static str, selector: &'static str, field: &'static str) -> Unique {
    Unique {
        name,
        selector,
        field,
    }
}

use SimpleType as T;

const BRUKER: &[Particle] = &[p("Bruker", 1, 1)];

/// Every element of the IPLOS 56.0.0 schema. The first is the root.
pub const ELEMENTS: &[ElementDecl] = &[
    ElementDecl {
        name: "Melding",
        sequence: &[
            p("Notifikasjon", 0, u32::MAX),
            p("Kontaktperson", 1, u32::MAX),
            p("Kommune", 1, u32::MAX),
        ],
        attributes: &[
            fixed("versjon", "56.0.0"),
            fixed("meldingstype", "K"),
            proh("fraDatoPeriode", T::Date),
            proh("uttakDato", T::Date),
            req("leverandor", T::String),
            req("navnEPJ", T::String),
            req("versjonEPJ", T::String),
            req("versjonUt", T::String),
            proh("lopenr", T::Integer),
            proh("tilDatoPeriode", T::Date),
            opt("lokalident", T::String),
        ],
        unique: &[
            uniq("NotifikasjonP_ID", "Notifikasjon", "notifikasjonGUID"),
            uniq("KommuneP_ID", "Kommune", "kommuneNr"),
        ],
    },
    ElementDecl {
        name: "Notifikasjon",
        sequence: &[
            p("TjenesteStart", 0, 1),
            p("MidlertidigStoppTil", 0, 1),
            p("MidlertidigStoppFra", 0, 1),
            p("TjenesteutforerEndret", 0, 1),
            p("TjenesteSlutt", 0, 1),
        ],
        attributes: &[
            req("statusNotifikasjon", T::String),
            req("notifikasjonTid", T::DateTime),
            req("notifikasjonGUID", T::Guid),
            req("notifikasjonForrigeGUID", T::Guid),
            req("notifikasjonLopeNr", T::String),
            opt("notifikasjonRef", T::Guid),
        ],
        // One constraint per event kind on @hendelseGUID; each kind occurs at most once,
        // so they can never be violated and are not listed.
        unique: &[],
    },
    ElementDecl {
        name: "Kontaktperson",
        sequence: &[],
        attributes: &[
            req("kontPerson", T::String),
            opt("meldTelefon", T::String),
            req("meldEpost1", T::String),
            opt("meldEpost2", T::String),
            req("typeKontaktperson", T::String),
        ],
        unique: &[],
    },
    ElementDecl {
        name: "Kommune",
        sequence: &[],
        attributes: &[req("kommuneNr", T::String), proh("kommuneOrgNr", T::String)],
        unique: &[],
    },
    ElementDecl {
        name: "TjenesteStart",
        sequence: BRUKER,
        attributes: EVENT_ATTRS,
        unique: &[],
    },
    ElementDecl {
        name: "MidlertidigStoppTil",
        sequence: BRUKER,
        attributes: STOP_ATTRS,
        unique: &[],
    },
    ElementDecl {
        name: "MidlertidigStoppFra",
        sequence: BRUKER,
        attributes: STOP_ATTRS,
        unique: &[],
    },
    ElementDecl {
        name: "TjenesteutforerEndret",
        sequence: BRUKER,
        attributes: &[
            req("tjenesteType", T::String),
            req("hendelseRegTid", T::DateTime),
            req("tjenesteOrgNr", T::String),
            req("hendelseDato", T::Date),
            req("tjenesteID", T::String),
            req("hendelseGUID", T::Guid),
        ],
        unique: &[],
    },
    ElementDecl {
        name: "TjenesteSlutt",
        sequence: BRUKER,
        attributes: EVENT_ATTRS,
        unique: &[],
    },
    ElementDecl {
        name: "Bruker",
        sequence: &[],
        attributes: &[
            req("pasientGUID", T::Guid),
            req("brukerNr", T::String),
            proh("kjonn", T::String),
            proh("fodselsar", T::Integer),
            opt("bydel", T::BydelNr),
            proh("komNrHjem", T::KommNr),
            req("fid", T::String),
            req("typeID", T::String),
        ],
        unique: &[],
    },
];

const EVENT_ATTRS: &[AttrDecl] = &[
    req("tjenesteType", T::String),
    req("hendelseRegTid", T::DateTime),
    opt("tjenesteOrgNr", T::String),
    req("hendelseDato", T::Date),
    req("tjenesteID", T::String),
    req("hendelseGUID", T::Guid),
];

const STOP_ATTRS: &[AttrDecl] = &[
    req("tjenesteType", T::String),
    req("hendelseRegTid", T::DateTime),
    opt("tjenesteOrgNr", T::String),
    req("hendelseDato", T::Date),
    req("tjenesteID", T::String),
    req("hendelseGUID", T::Guid),
    req("midlertidigStoppID", T::String),
];

/// The declaration of an element by local name.
pub fn element(name: &str) -> Option<&'static ElementDecl> {
    ELEMENTS.iter().find(|e| e.name == name)
}

/// The declaration of the message's root element, `Melding`. (Every element of the schema
/// is declared globally, so the XSD accepts any of them as a document's root; a message
/// must still be a `Melding`.)
pub fn root() -> &'static ElementDecl {
    &ELEMENTS[0]
}

/// XML whitespace (space, tab, CR, LF).
pub fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The whiteSpace="collapse" normalisation of XML Schema.
pub fn collapse(s: &str) -> String {
    s.split(is_xml_space)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a value against a simple type. `Err` explains what is wrong.
pub fn check_value(ty: SimpleType, value: &str) -> Result<(), String> {
    match ty {
        SimpleType::String => Ok(()),
        // XML Schema collapses whitespace for date and dateTime, but libxml2 (xmllint), the
        // reference the harness agrees with, rejects any surrounding whitespace: so do we.
        SimpleType::Date => parse_date_time(value, false).map(|_| ()),
        SimpleType::DateTime => parse_date_time(value, true).map(|_| ()),
        SimpleType::Integer => {
            let v = collapse(value);
            let digits = v.strip_prefix(['+', '-']).unwrap_or(&v);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err("is not an integer".into())
            }
        }
        SimpleType::Guid => {
            if is_guid(value) {
                Ok(())
            } else {
                Err("is not a GUID (8-4-4-4-12 hexadecimal digits, optionally in braces)".into())
            }
        }
        SimpleType::BydelNr => {
            let n = value.chars().count();
            if (1..=6).contains(&n) {
                Ok(())
            } else {
                Err(format!("has length {n}; bydelNr allows 1 to 6 characters"))
            }
        }
        SimpleType::KommNr => {
            let n = value.chars().count();
            if n == 4 {
                Ok(())
            } else {
                Err(format!("has length {n}; kommNr must have 4 characters"))
            }
        }
    }
}

/// The nprx:guid pattern: `hex{8}-hex{4}-hex{4}-hex{4}-hex{12}`, optionally in `{}`.
pub fn is_guid(v: &str) -> bool {
    let inner = match v.strip_prefix('{') {
        Some(rest) => match rest.strip_suffix('}') {
            Some(i) => i,
            None => return false,
        },
        None => v,
    };
    let b = inner.as_bytes();
    if b.len() != 36 {
        return false;
    }
    b.iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

/// A parsed xs:date or xs:dateTime (lexical validity only; the timezone is kept as minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XsDateTime {
    /// Year (may be negative or have more than four digits).
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    /// Hour, minute, second and nanosecond for dateTime.
    pub time: Option<(u32, u32, u32, u32)>,
    /// Timezone offset in minutes, if given.
    pub tz_minutes: Option<i32>,
}

fn take_digits<'a>(s: &'a str, n: usize, what: &str) -> Result<(u32, &'a str), String> {
    if s.len() < n || !s.as_bytes()[..n].iter().all(u8::is_ascii_digit) {
        return Err(format!("expected {n} digits for the {what}"));
    }
    Ok((s[..n].parse().map_err(|_| format!("bad {what}"))?, &s[n..]))
}

/// Parses `[-]YYYY-MM-DD[Thh:mm:ss[.f+]][Z|(+|-)hh:mm]` strictly as XML Schema 1.0 does.
pub fn parse_date_time(s: &str, with_time: bool) -> Result<XsDateTime, String> {
    let what = if with_time {
        "dateTime (YYYY-MM-DDThh:mm:ss)"
    } else {
        "date (YYYY-MM-DD)"
    };
    let err = |m: String| format!("is not a valid {what}: {m}");
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let ylen = rest.bytes().take_while(u8::is_ascii_digit).count();
    if ylen < 4 {
        return Err(err("the year needs at least 4 digits".into()));
    }
    if ylen > 4 && rest.starts_with('0') {
        return Err(err(
            "a year of more than 4 digits cannot start with 0".into()
        ));
    }
    if ylen > 18 {
        return Err(err("the year is too large".into()));
    }
    let year: i64 = rest[..ylen].parse().map_err(|_| err("bad year".into()))?;
    if year == 0 {
        return Err(err("year 0000 is not allowed".into()));
    }
    let year = if neg { -year } else { year };
    let rest = &rest[ylen..];
    let rest = rest
        .strip_prefix('-')
        .ok_or_else(|| err("expected '-' after the year".into()))?;
    let (month, rest) = take_digits(rest, 2, "month").map_err(err)?;
    let rest = rest
        .strip_prefix('-')
        .ok_or_else(|| err("expected '-' after the month".into()))?;
    let (day, mut rest) = take_digits(rest, 2, "day").map_err(err)?;
    if !(1..=12).contains(&month) {
        return Err(err(format!("month {month:02} is out of range")));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(err(format!(
            "day {day:02} does not exist in month {month:02} of {year}"
        )));
    }
    let mut time = None;
    if with_time {
        rest = rest
            .strip_prefix('T')
            .ok_or_else(|| err("expected 'T' between date and time".into()))?;
        let (h, r) = take_digits(rest, 2, "hour").map_err(err)?;
        let r = r
            .strip_prefix(':')
            .ok_or_else(|| err("expected ':' after the hour".into()))?;
        let (mi, r) = take_digits(r, 2, "minute").map_err(err)?;
        let r = r
            .strip_prefix(':')
            .ok_or_else(|| err("expected ':' after the minute".into()))?;
        let (sec, mut r) = take_digits(r, 2, "second").map_err(err)?;
        let mut nanos = 0;
        if let Some(frac) = r.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return Err(err("expected digits after '.'".into()));
            }
            let digits = &frac[..n.min(9)];
            nanos = digits.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - digits.len() as u32);
            r = &frac[n..];
        }
        let midnight24 = h == 24 && mi == 0 && sec == 0 && nanos == 0;
        if (h > 23 && !midnight24) || mi > 59 || sec > 59 {
            return Err(err(format!("time {h:02}:{mi:02}:{sec:02} is out of range")));
        }
        time = Some((h, mi, sec, nanos));
        rest = r;
    }
    // libxml2 lets whitespace follow the timezone of an xs:dateTime (only there:
    // not after a dateTime without a timezone, not after an xs:date).
    let trimmed = rest.trim_end_matches([' ', '\t', '\n', '\r']);
    if with_time && !trimmed.is_empty() && trimmed.len() < rest.len() {
        rest = trimmed;
    }
    let tz_minutes = if rest.is_empty() {
        None
    } else if rest == "Z" {
        Some(0)
    } else {
        let (sign, r) = match rest.as_bytes()[0] {
            b'+' => (1, &rest[1..]),
            b'-' => (-1, &rest[1..]),
            _ => {
                return Err(err(format!(
                    "unexpected \"{rest}\" after the {}",
                    if with_time { "time" } else { "date" }
                )));
            }
        };
        let (th, r) = take_digits(r, 2, "timezone hour").map_err(err)?;
        let r = r
            .strip_prefix(':')
            .ok_or_else(|| err("expected ':' in the timezone".into()))?;
        let (tm, r) = take_digits(r, 2, "timezone minute").map_err(err)?;
        if !r.is_empty() {
            return Err(err(format!("unexpected \"{r}\" after the timezone")));
        }
        if tm > 59 || th * 60 + tm > 14 * 60 {
            return Err(err(format!(
                "timezone {th:02}:{tm:02} is out of range (at most 14:00)"
            )));
        }
        Some(sign * (th * 60 + tm) as i32)
    };
    Ok(XsDateTime {
        year,
        month,
        day,
        time,
        tz_minutes,
    })
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            // libxml2 applies the Gregorian rule to the signed year as written (-0004 and
            // -0400 are leap years, -0001 and -0100 are not), not the XSD 1.0 reading in
            // which -0001 is 1 BCE.
            let y = year;
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(check_value(T::Date, "2024-02-29").is_ok());
        assert!(check_value(T::Date, " 2024-02-29").is_err());
        assert!(check_value(T::Date, "2023-02-29").is_err());
        assert!(check_value(T::Date, "2024-1-05").is_err());
        assert!(check_value(T::Date, "2024-01-05T00:00:00").is_err());
        assert!(check_value(T::Date, "2024-01-05Z").is_ok());
        assert!(check_value(T::Date, "2024-01-05+01:00").is_ok());
        assert!(check_value(T::Date, "2024-01-05+15:00").is_err());
    }

    #[test]
    fn date_times() {
        assert!(check_value(T::DateTime, "2024-01-05T10:00:00").is_ok());
        assert!(check_value(T::DateTime, "2024-01-05T10:00:00.123+01:00").is_ok());
        assert!(check_value(T::DateTime, "2024-01-05 10:00:00").is_err());
        assert!(check_value(T::DateTime, "2024-13-05T10:00:00").is_err());
        assert!(check_value(T::DateTime, "2024-01-05T10:00").is_err());
        assert!(check_value(T::DateTime, "2024-01-05T10:00:00+1:00").is_err());
    }

    #[test]
    fn guids() {
        assert!(is_guid("00000000-0000-0000-0000-000000000000"));
        assert!(is_guid("{0a1B2c3D-0000-0000-0000-000000000000}"));
        assert!(!is_guid("{0a1B2c3D-0000-0000-0000-000000000000"));
        assert!(!is_guid(" 00000000-0000-0000-0000-000000000000"));
        assert!(!is_guid("g0000000-0000-0000-0000-000000000000"));
        assert!(!is_guid(""));
    }
}
