//! Norwegian identifiers used in IPLOS reporting (DOMAIN.md §7, §4, §6).
//!
//! * [`PersonId`]: the fødselsnummer family — fødselsnummer, D-nummer (day + 40),
//!   H-nummer (month + 40), FH-nummer (felles hjelpenummer, first digit 8 or 9), and the
//!   synthetic Test-Norge form (month + 80) of fødselsnummer and D-nummer.
//! * [`OrgNr`]: the 9-digit organisasjonsnummer.
//! * [`HerId`]: an identifier in Norsk helsenett's Adresseregister (1–9 digits, no check digit).
//!
//! Every parser takes the string exactly as given (no trimming), never panics, and reports
//! what is wrong and where through [`IdError`]. Error messages never repeat the input: a
//! person id may belong to a real person and must not end up in logs.
//!
//! The harness generates only synthetic person ids ([`PersonId::generate_synthetic`]) and
//! must treat every other valid person id as possibly real ([`PersonId::is_synthetic`]).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Weights of the first check digit (k1) over digits 1–9 of a person id.
const K1_WEIGHTS: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
/// Weights of the second check digit (k2) over digits 1–10 of a person id.
const K2_WEIGHTS: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
/// Weights of the check digit over digits 1–8 of an organisasjonsnummer.
const ORGNR_WEIGHTS: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];

/// How many random individnummer (or body digits) a generator tries before it falls back
/// to a deterministic scan.
const RANDOM_TRIES: usize = 64;

/// Label used in error messages for person ids.
const WHAT_PERSON: &str = "person id";
/// Label used in error messages for organisasjonsnummer.
const WHAT_ORGNR: &str = "organisasjonsnummer";
/// Label used in error messages for HER-ids.
const WHAT_HERID: &str = "HER-id";

/// Why a string is not a valid identifier, or why one could not be generated.
///
/// `what` names the kind of identifier ("person id", "organisasjonsnummer", "HER-id");
/// positions are 1-based character positions in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The input has the wrong number of characters.
    #[error("{what} has {found} characters, expected {expected}")]
    Length {
        /// Which identifier was being parsed.
        what: &'static str,
        /// The required number of characters.
        expected: usize,
        /// The number of characters (not bytes) found.
        found: usize,
    },
    /// The input's length is outside an allowed range.
    #[error("{what} has {found} characters, expected {min} to {max}")]
    LengthRange {
        /// Which identifier was being parsed.
        what: &'static str,
        /// The fewest characters allowed.
        min: usize,
        /// The most characters allowed.
        max: usize,
        /// The number of characters (not bytes) found.
        found: usize,
    },
    /// A character is not an ASCII digit.
    #[error("{what}: character {position} is {found:?}, expected a digit 0-9")]
    NotDigit {
        /// Which identifier was being parsed.
        what: &'static str,
        /// 1-based position of the offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// A check digit does not match the digits before it.
    #[error("{what}: check digit {which} (character {position}) is {found}, expected {expected}")]
    CheckDigit {
        /// Which identifier was being parsed.
        what: &'static str,
        /// Which check digit: 1 (k1) or 2 (k2); an organisasjonsnummer has only 1.
        which: u8,
        /// 1-based position of the check digit in the input.
        position: usize,
        /// The digit found.
        found: u8,
        /// The digit the mod-11 rule gives.
        expected: u8,
    },
    /// The mod-11 rule gives 10 for a check digit, so no valid number starts with these digits.
    #[error(
        "{what}: check digit {which} (character {position}) would have to be 10, \
         so no valid number starts with the digits before it"
    )]
    CheckDigitImpossible {
        /// Which identifier was being parsed.
        what: &'static str,
        /// Which check digit: 1 (k1) or 2 (k2).
        which: u8,
        /// 1-based position of the check digit in the input.
        position: usize,
    },
    /// Digits 1–2 of a person id are not a day (01–31) nor a D-nummer day (41–71).
    #[error(
        "person id: day digits 1-2 are {value:02}, expected 01-31 \
         (41-71 for a D-nummer, first digit 8 or 9 for an FH-nummer)"
    )]
    DayOutOfRange {
        /// The two-digit value found.
        value: u8,
    },
    /// Digits 3–4 of a person id are not a month in any accepted form.
    #[error(
        "person id: month digits 3-4 are {value:02}, expected 01-12 \
         (41-52 for an H-nummer, 81-92 for a synthetic id)"
    )]
    MonthOutOfRange {
        /// The two-digit value found.
        value: u8,
    },
    /// Day + 40 (D-nummer) and month + 40 (H-nummer) together: no such id exists.
    #[error(
        "person id: day digits 1-2 ({day_field:02}) mark a D-nummer and month digits 3-4 \
         ({month_field:02}) an H-nummer; an id cannot be both"
    )]
    DAndHCombined {
        /// The day digits found.
        day_field: u8,
        /// The month digits found.
        month_field: u8,
    },
    /// The individnummer (digits 7–9) is not used together with these year digits.
    #[error(
        "person id: individnummer {individnummer:03} (digits 7-9) is not used with year \
         digits {year_digits:02} (digits 5-6)"
    )]
    IndividnummerOutOfRange {
        /// The individnummer found.
        individnummer: u16,
        /// The two year digits found.
        year_digits: u8,
    },
    /// The birth date encoded in digits 1–6 does not exist (e.g. 30 February).
    #[error("person id: birth date {day:02}.{month:02}.{year} (digits 1-6) does not exist")]
    InvalidDate {
        /// The year, with the century taken from the individnummer.
        year: i32,
        /// The month (after removing +40 / +80).
        month: u8,
        /// The day (after removing +40).
        day: u8,
    },
    /// The identifier's value is 0, which is not allowed.
    #[error("{what} must not be 0")]
    Zero {
        /// Which identifier was being parsed.
        what: &'static str,
    },
    /// The identifier starts with 0, which would make its text ambiguous.
    #[error("{what} must not start with 0")]
    LeadingZero {
        /// Which identifier was being parsed.
        what: &'static str,
    },
    /// A HER-id value with more than 9 digits.
    #[error("HER-id {value} has more than 9 digits")]
    HerIdTooLarge {
        /// The value given.
        value: u32,
    },
    /// A generator was asked for a kind of person id it cannot make.
    #[error("cannot generate a {kind} here; {allowed}")]
    UnsupportedKind {
        /// The kind asked for.
        kind: PersonIdKind,
        /// What the generator can make.
        allowed: &'static str,
    },
    /// A generator was asked for a birth year outside 1854–2039.
    #[error("cannot generate a person id for birth year {year}: person ids cover 1854-2039")]
    BirthYearOutOfRange {
        /// The birth year asked for.
        year: i32,
    },
}

/// The kinds of person id in the fødselsnummer family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PersonIdKind {
    /// Fødselsnummer: DDMMYY + individnummer + 2 check digits.
    Fodselsnummer,
    /// D-nummer: like a fødselsnummer with day + 40.
    DNummer,
    /// H-nummer (hjelpenummer): like a fødselsnummer with month + 40.
    HNummer,
    /// FH-nummer (felles hjelpenummer): first digit 8 or 9, no date, same check digits.
    FhNummer,
}

impl PersonIdKind {
    /// The code of this kind in kodeverk 9032 (type of person identification), as used in
    /// `Bruker/typeID` of the IPLOS message (DOMAIN.md §6): 1, 2, 3 or 12.
    pub fn type_id(self) -> u8 {
        match self {
            PersonIdKind::Fodselsnummer => 1,
            PersonIdKind::DNummer => 2,
            PersonIdKind::HNummer => 3,
            PersonIdKind::FhNummer => 12,
        }
    }

    /// The Norwegian name of this kind, e.g. "D-nummer".
    pub fn name(self) -> &'static str {
        match self {
            PersonIdKind::Fodselsnummer => "fødselsnummer",
            PersonIdKind::DNummer => "D-nummer",
            PersonIdKind::HNummer => "H-nummer",
            PersonIdKind::FhNummer => "FH-nummer",
        }
    }
}

impl fmt::Display for PersonIdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Legal sex as encoded in a person id: odd 9th digit male, even female.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Odd 9th digit.
    Male,
    /// Even 9th digit.
    Female,
}

impl Sex {
    /// The parity (0 even, 1 odd) the 9th digit must have for this sex.
    fn parity(self) -> u16 {
        match self {
            Sex::Male => 1,
            Sex::Female => 0,
        }
    }
}

/// Mod-11 check digit over `digits` with `weights`: k = 11 − (sum mod 11), 11 → 0;
/// `None` when k would be 10 (no valid number has these digits).
fn mod11(digits: &[u8], weights: &[u32]) -> Option<u8> {
    let sum: u32 = digits
        .iter()
        .zip(weights)
        .map(|(&d, &w)| u32::from(d) * w)
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        // 1..=9: fits in u8.
        k => u8::try_from(k).ok(),
    }
}

/// Splits `s` into exactly `N` ASCII digits (values 0–9), or says what is wrong.
fn parse_digits<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N], IdError> {
    let found = s.chars().count();
    if found != N {
        return Err(IdError::Length {
            what,
            expected: N,
            found,
        });
    }
    let mut out = [0u8; N];
    for ((slot, c), position) in out.iter_mut().zip(s.chars()).zip(1..) {
        match c.to_digit(10).and_then(|d| u8::try_from(d).ok()) {
            Some(d) => *slot = d,
            None => {
                return Err(IdError::NotDigit {
                    what,
                    position,
                    found: c,
                });
            }
        }
    }
    Ok(out)
}

/// Checks one check digit at `position` (0-based index into `digits`) computed over all
/// digits before it.
fn check_digit(
    digits: &[u8],
    position: usize,
    weights: &[u32],
    which: u8,
    what: &'static str,
) -> Result<(), IdError> {
    let body = digits.get(..position).unwrap_or(&[]);
    let found = digits.get(position).copied().unwrap_or(u8::MAX);
    match mod11(body, weights) {
        None => Err(IdError::CheckDigitImpossible {
            what,
            which,
            position: position + 1,
        }),
        Some(expected) if expected != found => Err(IdError::CheckDigit {
            what,
            which,
            position: position + 1,
            found,
            expected,
        }),
        Some(_) => Ok(()),
    }
}

/// The full birth year from the individnummer and the two year digits, or `None` when the
/// combination is not in use.
///
/// 500–749 with YY ≥ 54 → 1854–1899; 000–499 → 1900–1999; 900–999 with YY ≥ 40 →
/// 1940–1999; 500–999 with YY ≤ 39 → 2000–2039.
fn birth_year(individnummer: u16, yy: u8) -> Option<i32> {
    let yy_i = i32::from(yy);
    match individnummer {
        0..=499 => Some(1900 + yy_i),
        500..=749 if yy >= 54 => Some(1800 + yy_i),
        500..=999 if yy <= 39 => Some(2000 + yy_i),
        900..=999 if yy >= 40 => Some(1900 + yy_i),
        _ => None,
    }
}

/// The individnummer ranges (inclusive) in use for a birth year; empty outside 1854–2039.
fn individnummer_ranges(year: i32) -> &'static [(u16, u16)] {
    match year {
        1854..=1899 => &[(500, 749)],
        1900..=1939 => &[(0, 499)],
        1940..=1999 => &[(0, 499), (900, 999)],
        2000..=2039 => &[(500, 999)],
        _ => &[],
    }
}

/// The decoded structure of a person id whose check digits are already known to be valid.
struct Decoded {
    kind: PersonIdKind,
    synthetic: bool,
    birth_date: Option<NaiveDate>,
}

/// Decodes the date, kind and synthetic flag of 11 digits, checking everything except the
/// check digits.
fn decode(d: &[u8; 11]) -> Result<Decoded, IdError> {
    let [d1, d2, m1, m2, y1, y2, i1, i2, i3, _, _] = *d;
    if d1 >= 8 {
        return Ok(Decoded {
            kind: PersonIdKind::FhNummer,
            synthetic: false,
            birth_date: None,
        });
    }
    let day_field = d1 * 10 + d2;
    let month_field = m1 * 10 + m2;
    let yy = y1 * 10 + y2;
    let individnummer = u16::from(i1) * 100 + u16::from(i2) * 10 + u16::from(i3);

    let (day, d_nummer) = match day_field {
        1..=31 => (day_field, false),
        41..=71 => (day_field - 40, true),
        value => return Err(IdError::DayOutOfRange { value }),
    };
    let (month, h_nummer, synthetic) = match month_field {
        1..=12 => (month_field, false, false),
        41..=52 => (month_field - 40, true, false),
        81..=92 => (month_field - 80, false, true),
        value => return Err(IdError::MonthOutOfRange { value }),
    };
    if d_nummer && h_nummer {
        return Err(IdError::DAndHCombined {
            day_field,
            month_field,
        });
    }
    let year = birth_year(individnummer, yy).ok_or(IdError::IndividnummerOutOfRange {
        individnummer,
        year_digits: yy,
    })?;
    let date = NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day))
        .ok_or(IdError::InvalidDate { year, month, day })?;
    let kind = if d_nummer {
        PersonIdKind::DNummer
    } else if h_nummer {
        PersonIdKind::HNummer
    } else {
        PersonIdKind::Fodselsnummer
    };
    Ok(Decoded {
        kind,
        synthetic,
        birth_date: Some(date),
    })
}

/// Adds both check digits to a 9-digit body; `None` when either would be 10.
fn with_check_digits(body: [u8; 9]) -> Option<[u8; 11]> {
    let k1 = mod11(&body, &K1_WEIGHTS)?;
    let [a, b, c, d, e, f, g, h, i] = body;
    let ten = [a, b, c, d, e, f, g, h, i, k1];
    let k2 = mod11(&ten, &K2_WEIGHTS)?;
    Some([a, b, c, d, e, f, g, h, i, k1, k2])
}

/// A person id of the fødselsnummer family: fødselsnummer, D-nummer, H-nummer or
/// FH-nummer, real-looking or synthetic (Test-Norge, month + 80).
///
/// A `PersonId` is always valid: both check digits match and (except for FH-nummer) the
/// date, century and individnummer are consistent. It displays and serialises as its 11
/// digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId {
    /// The 11 digits, each 0–9.
    digits: [u8; 11],
}

impl PersonId {
    /// Parses an 11-digit person id. Nothing is trimmed: whitespace is an error.
    ///
    /// Checks, in this order: length, digits, check digit 1, check digit 2, then (unless
    /// the first digit is 8 or 9, an FH-nummer) day and month fields, the individnummer
    /// against the year digits, and that the birth date exists.
    pub fn parse(s: &str) -> Result<PersonId, IdError> {
        let digits: [u8; 11] = parse_digits(s, WHAT_PERSON)?;
        check_digit(&digits, 9, &K1_WEIGHTS, 1, WHAT_PERSON)?;
        check_digit(&digits, 10, &K2_WEIGHTS, 2, WHAT_PERSON)?;
        decode(&digits)?;
        Ok(PersonId { digits })
    }

    /// Which kind of person id this is.
    pub fn kind(&self) -> PersonIdKind {
        self.decoded().map_or(PersonIdKind::FhNummer, |d| d.kind)
    }

    /// Whether this is a synthetic Test-Norge id (month + 80; a synthetic D-nummer has
    /// day + 40 and month + 80). H-nummer and FH-nummer are never synthetic.
    pub fn is_synthetic(&self) -> bool {
        self.decoded().is_some_and(|d| d.synthetic)
    }

    /// The birth date encoded in the id; `None` for an FH-nummer.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        self.decoded().and_then(|d| d.birth_date)
    }

    /// The sex encoded in the 9th digit; `None` for an FH-nummer.
    pub fn sex(&self) -> Option<Sex> {
        if self.kind() == PersonIdKind::FhNummer {
            return None;
        }
        Some(if self.digits[8] % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        })
    }

    /// The individnummer (digits 7–9); `None` for an FH-nummer.
    pub fn individnummer(&self) -> Option<u16> {
        if self.kind() == PersonIdKind::FhNummer {
            return None;
        }
        let [_, _, _, _, _, _, a, b, c, _, _] = self.digits;
        Some(u16::from(a) * 100 + u16::from(b) * 10 + u16::from(c))
    }

    /// Generates a valid synthetic (Test-Norge, month + 80) fødselsnummer or D-nummer with
    /// the given birth date and sex. The individnummer is drawn from the range valid for
    /// the birth year, and drawn again while a check digit comes out as 10.
    ///
    /// Errors: `kind` is not [`PersonIdKind::Fodselsnummer`] or [`PersonIdKind::DNummer`]
    /// ([`IdError::UnsupportedKind`]: there is no synthetic H-nummer or FH-nummer), or the
    /// birth year is outside 1854–2039 ([`IdError::BirthYearOutOfRange`]).
    pub fn generate_synthetic<R: Rng + ?Sized>(
        rng: &mut R,
        birth_date: NaiveDate,
        sex: Sex,
        kind: PersonIdKind,
    ) -> Result<PersonId, IdError> {
        let (day_add, month_add) = match kind {
            PersonIdKind::Fodselsnummer => (0, 80),
            PersonIdKind::DNummer => (40, 80),
            PersonIdKind::HNummer | PersonIdKind::FhNummer => {
                return Err(IdError::UnsupportedKind {
                    kind,
                    allowed: "synthetic ids are fødselsnummer or D-nummer",
                });
            }
        };
        generate_dated(rng, birth_date, sex, day_add, month_add)
    }

    /// Generates a valid, **real-looking** (not synthetic) fødselsnummer, D-nummer or
    /// H-nummer with the given birth date and sex.
    ///
    /// **For negative tests only**: the harness plays "real" patient data with these ids
    /// (defect injection, tests of the real-id finding). Such an id may belong to a living
    /// person; never use it as ordinary test data.
    ///
    /// Errors as for [`PersonId::generate_synthetic`]; FH-nummer come from
    /// [`PersonId::generate_fh`].
    pub fn generate_real_looking<R: Rng + ?Sized>(
        rng: &mut R,
        birth_date: NaiveDate,
        sex: Sex,
        kind: PersonIdKind,
    ) -> Result<PersonId, IdError> {
        let (day_add, month_add) = match kind {
            PersonIdKind::Fodselsnummer => (0, 0),
            PersonIdKind::DNummer => (40, 0),
            PersonIdKind::HNummer => (0, 40),
            PersonIdKind::FhNummer => {
                return Err(IdError::UnsupportedKind {
                    kind,
                    allowed: "use PersonId::generate_fh for FH-nummer",
                });
            }
        };
        generate_dated(rng, birth_date, sex, day_add, month_add)
    }

    /// Generates a valid FH-nummer (felles hjelpenummer): first digit 8 or 9, seven random
    /// digits, two check digits. FH-nummer are never synthetic.
    pub fn generate_fh<R: Rng + ?Sized>(rng: &mut R) -> PersonId {
        for _ in 0..RANDOM_TRIES {
            let mut body = [0u8; 9];
            for (i, slot) in body.iter_mut().enumerate() {
                *slot = if i == 0 {
                    rng.gen_range(8..=9)
                } else {
                    rng.gen_range(0..=9)
                };
            }
            if let Some(digits) = with_check_digits(body) {
                return PersonId { digits };
            }
        }
        // Only reached with a degenerate random source. 80000000098 is a valid FH-nummer
        // (k1: 8·3 = 24, 24 mod 11 = 2 → 9; k2: 8·5 + 9·2 = 58, 58 mod 11 = 3 → 8).
        PersonId {
            digits: [8, 0, 0, 0, 0, 0, 0, 0, 0, 9, 8],
        }
    }

    /// Decodes the digits; `None` only for an FH-nummer or (impossible for a parsed id)
    /// inconsistent digits.
    fn decoded(&self) -> Option<Decoded> {
        decode(&self.digits).ok()
    }
}

/// Shared generator for dated person ids: `day_add` is 0 or 40, `month_add` 0, 40 or 80.
fn generate_dated<R: Rng + ?Sized>(
    rng: &mut R,
    birth_date: NaiveDate,
    sex: Sex,
    day_add: u8,
    month_add: u8,
) -> Result<PersonId, IdError> {
    let year = birth_date.year();
    let ranges = individnummer_ranges(year);
    if ranges.is_empty() {
        return Err(IdError::BirthYearOutOfRange { year });
    }
    // Day 1–31, month 1–12 and year 1854–2039 make every value below fit in a u8.
    let small = |v: u32| u8::try_from(v).unwrap_or(0);
    let day = small(birth_date.day()) + day_add;
    let month = small(birth_date.month()) + month_add;
    let yy = u8::try_from(year.rem_euclid(100)).unwrap_or(0);
    let body = |ind: u16| -> [u8; 9] {
        let digit = |v: u16| u8::try_from(v % 10).unwrap_or(0);
        [
            day / 10,
            day % 10,
            month / 10,
            month % 10,
            yy / 10,
            yy % 10,
            digit(ind / 100),
            digit(ind / 10),
            digit(ind),
        ]
    };
    let parity = sex.parity();
    // Every range starts even and ends odd, so forcing the last bit keeps the draw uniform
    // over the numbers of the wanted parity.
    let total: u16 = ranges.iter().map(|&(lo, hi)| hi - lo + 1).sum();
    for _ in 0..RANDOM_TRIES {
        let mut r = rng.gen_range(0..total);
        let mut ind = 0;
        for &(lo, hi) in ranges {
            let size = hi - lo + 1;
            if r < size {
                ind = ((lo + r) & !1) | parity;
                break;
            }
            r -= size;
        }
        if let Some(digits) = with_check_digits(body(ind)) {
            return Ok(PersonId { digits });
        }
    }
    // Deterministic fallback (only reached with a degenerate random source).
    for &(lo, hi) in ranges {
        for ind in (lo..=hi).filter(|i| i % 2 == parity) {
            if let Some(digits) = with_check_digits(body(ind)) {
                return Ok(PersonId { digits });
            }
        }
    }
    // Every date 1854–2039 has a valid individnummer for both sexes (tested exhaustively
    // in this module's unit tests), so this is unreachable; report it rather than panic.
    Err(IdError::BirthYearOutOfRange { year })
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.digits {
            fmt::Write::write_char(f, char::from(b'0' + d))?;
        }
        Ok(())
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonId(\"{self}\")")
    }
}

impl FromStr for PersonId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PersonId::parse(s)
    }
}

/// A Norwegian organisasjonsnummer: 9 digits, the last a mod-11 check digit with weights
/// 3, 2, 7, 6, 5, 4, 3, 2 over the first eight.
///
/// Parsing checks only length, digits and the check digit (any first digit is accepted);
/// [`OrgNr::generate`] makes numbers starting with 8 or 9, as real ones do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgNr {
    /// The 9 digits, each 0–9.
    digits: [u8; 9],
}

impl OrgNr {
    /// Parses a 9-digit organisasjonsnummer. Nothing is trimmed: spaces (as in
    /// "974 760 673") are an error.
    pub fn parse(s: &str) -> Result<OrgNr, IdError> {
        let digits: [u8; 9] = parse_digits(s, WHAT_ORGNR)?;
        check_digit(&digits, 8, &ORGNR_WEIGHTS, 1, WHAT_ORGNR)?;
        Ok(OrgNr { digits })
    }

    /// Completes the first eight digits with the check digit; `None` when `first8` is not
    /// eight ASCII digits or no check digit exists for them (remainder 10).
    pub fn with_check_digit(first8: &str) -> Option<OrgNr> {
        let body: [u8; 8] = parse_digits(first8, WHAT_ORGNR).ok()?;
        let k = mod11(&body, &ORGNR_WEIGHTS)?;
        let [a, b, c, d, e, f, g, h] = body;
        Some(OrgNr {
            digits: [a, b, c, d, e, f, g, h, k],
        })
    }

    /// Generates a valid organisasjonsnummer starting with 8 or 9.
    pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> OrgNr {
        for _ in 0..RANDOM_TRIES {
            let mut body = [0u8; 8];
            for (i, slot) in body.iter_mut().enumerate() {
                *slot = if i == 0 {
                    rng.gen_range(8..=9)
                } else {
                    rng.gen_range(0..=9)
                };
            }
            if let Some(k) = mod11(&body, &ORGNR_WEIGHTS) {
                let [a, b, c, d, e, f, g, h] = body;
                return OrgNr {
                    digits: [a, b, c, d, e, f, g, h, k],
                };
            }
        }
        // Only reached with a degenerate random source. 800000009 is valid
        // (8·3 = 24, 24 mod 11 = 2 → 9).
        OrgNr {
            digits: [8, 0, 0, 0, 0, 0, 0, 0, 9],
        }
    }
}

impl fmt::Display for OrgNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.digits {
            fmt::Write::write_char(f, char::from(b'0' + d))?;
        }
        Ok(())
    }
}

impl fmt::Debug for OrgNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgNr(\"{self}\")")
    }
}

impl FromStr for OrgNr {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgNr::parse(s)
    }
}

/// An identifier in Norsk helsenett's Adresseregister (HER-id): a positive integer of 1–9
/// digits without check digit, e.g. 131725 ("KPR Validering").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HerId(u32);

impl HerId {
    /// The largest HER-id (9 digits).
    pub const MAX: u32 = 999_999_999;

    /// Makes a HER-id from its value; 0 and values over 9 digits are errors.
    pub const fn new(value: u32) -> Result<HerId, IdError> {
        if value == 0 {
            Err(IdError::Zero { what: WHAT_HERID })
        } else if value > Self::MAX {
            Err(IdError::HerIdTooLarge { value })
        } else {
            Ok(HerId(value))
        }
    }

    /// Parses a HER-id: 1–9 ASCII digits, no leading zero, not 0. Nothing is trimmed.
    pub fn parse(s: &str) -> Result<HerId, IdError> {
        let found = s.chars().count();
        if !(1..=9).contains(&found) {
            return Err(IdError::LengthRange {
                what: WHAT_HERID,
                min: 1,
                max: 9,
                found,
            });
        }
        let mut value: u32 = 0;
        for (c, position) in s.chars().zip(1..) {
            let d = c.to_digit(10).ok_or(IdError::NotDigit {
                what: WHAT_HERID,
                position,
                found: c,
            })?;
            // At most 9 digits: never overflows u32.
            value = value * 10 + d;
        }
        if value == 0 {
            return Err(IdError::Zero { what: WHAT_HERID });
        }
        if s.starts_with('0') {
            return Err(IdError::LeadingZero { what: WHAT_HERID });
        }
        HerId::new(value)
    }

    /// The numeric value.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for HerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for HerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HerId({})", self.0)
    }
}

impl FromStr for HerId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HerId::parse(s)
    }
}

impl TryFrom<u32> for HerId {
    type Error = IdError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        HerId::new(value)
    }
}

impl From<HerId> for u32 {
    fn from(id: HerId) -> u32 {
        id.0
    }
}

/// Implements Serialize (as the Display string) and Deserialize (a string, parsed).
macro_rules! serde_as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_string!(PersonId);
serde_as_string!(OrgNr);
serde_as_string!(HerId);

/// What a string looks like as an identifier, for messages to users (see [`classify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdClass {
    /// A valid person id.
    Person {
        /// Its kind.
        kind: PersonIdKind,
        /// Whether it is a synthetic Test-Norge id.
        synthetic: bool,
    },
    /// A valid organisasjonsnummer.
    OrgNr,
    /// Not a valid identifier; the error says why.
    Invalid(IdError),
}

impl IdClass {
    /// Whether the string may be a real person's id (a valid, non-synthetic person id):
    /// in test mode, such an id in received data is itself a finding.
    pub fn is_possibly_real_person(&self) -> bool {
        matches!(
            self,
            IdClass::Person {
                synthetic: false,
                ..
            }
        )
    }
}

impl fmt::Display for IdClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdClass::Person {
                kind,
                synthetic: true,
            } => write!(f, "valid synthetic {kind}"),
            IdClass::Person {
                kind,
                synthetic: false,
            } => write!(f, "valid real-looking {kind}"),
            IdClass::OrgNr => f.write_str("valid organisasjonsnummer"),
            IdClass::Invalid(e) => write!(f, "invalid: {e}"),
        }
    }
}

/// Tells what a string looks like: a 9-character string is judged as an
/// organisasjonsnummer, anything else as a person id. For example "valid synthetic
/// fødselsnummer", "valid real-looking D-nummer", "invalid: person id: check digit 1
/// (character 10) is 4, expected 7".
pub fn classify(s: &str) -> IdClass {
    if s.chars().count() == 9 {
        return match OrgNr::parse(s) {
            Ok(_) => IdClass::OrgNr,
            Err(e) => IdClass::Invalid(e),
        };
    }
    match PersonId::parse(s) {
        Ok(id) => IdClass::Person {
            kind: id.kind(),
            synthetic: id.is_synthetic(),
        },
        Err(e) => IdClass::Invalid(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every date 1854–2039 has, for both sexes and every kind of dated id, at least one
    /// individnummer with valid check digits: the generator's last error is unreachable.
    #[test]
    fn every_date_has_a_valid_individnummer() {
        let mut date = NaiveDate::from_ymd_opt(1854, 1, 1).expect("valid constant");
        let last = NaiveDate::from_ymd_opt(2039, 12, 31).expect("valid constant");
        while date <= last {
            for (day_add, month_add) in [(0, 0), (40, 0), (0, 40), (0, 80), (40, 80)] {
                for sex in [Sex::Male, Sex::Female] {
                    let ranges = individnummer_ranges(date.year());
                    let found = ranges.iter().any(|&(lo, hi)| {
                        (lo..=hi).filter(|i| i % 2 == sex.parity()).any(|ind| {
                            let d = u8::try_from(date.day()).expect("day") + day_add;
                            let m = u8::try_from(date.month()).expect("month") + month_add;
                            let yy = u8::try_from(date.year() % 100).expect("yy");
                            let body = [
                                d / 10,
                                d % 10,
                                m / 10,
                                m % 10,
                                yy / 10,
                                yy % 10,
                                u8::try_from(ind / 100).expect("digit"),
                                u8::try_from(ind / 10 % 10).expect("digit"),
                                u8::try_from(ind % 10).expect("digit"),
                            ];
                            with_check_digits(body).is_some()
                        })
                    });
                    assert!(
                        found,
                        "no individnummer for {date} {sex:?} +{day_add}/+{month_add}"
                    );
                }
            }
            date = date.succ_opt().expect("in range");
        }
    }

    #[test]
    fn fallbacks_are_valid() {
        assert_eq!(
            PersonId::parse("80000000098").map(|p| p.kind()),
            Ok(PersonIdKind::FhNummer)
        );
        assert!(OrgNr::parse("800000009").is_ok());
    }

    #[test]
    fn century_ranges_agree_with_generation_ranges() {
        for year in 1800..2100 {
            let yy = u8::try_from(year % 100).expect("yy");
            for ind in 0..=999u16 {
                let decoded = birth_year(ind, yy) == Some(year);
                let generated = individnummer_ranges(year)
                    .iter()
                    .any(|&(lo, hi)| (lo..=hi).contains(&ind));
                assert_eq!(decoded, generated, "year {year} individnummer {ind}");
            }
        }
    }
}
