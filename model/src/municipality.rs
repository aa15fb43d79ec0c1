//! The municipality (kommune) registry: every kommune valid in each data year 2016–2030, with
//! organisation number, postmottak address, county and population by sex and 1-year age, and
//! the changes of kommunenummer between years (mergers, splits, renumbering).
//!
//! The registry is built once, lazily, from compact tables under `model/data/` that
//! `data/derive_tables.py` derives from the official classifications in `shared/data`
//! (SSB Klass 131 and 582, the SSB change tables, FHI's redistricting table and SSB table
//! 07459); `data/README.md` names the sources and explains every modelling choice. The tables
//! are embedded in the binary, so nothing is read at run time.
//!
//! Structures (which list a data year uses):
//!
//! | data years | kommuner | list |
//! |---|---|---|
//! | 2016 | 428 | SSB 2013 (valid 2013–2016) |
//! | 2017 | 426 | SSB 2017 |
//! | 2018 | 422 | SSB 2018 |
//! | 2019 | 422 | SSB 2019 |
//! | 2020–2023 | 356 | SSB 2020 |
//! | 2024–2030 | 357 | FHI, current codes; **\[model\]** 2027–2030 assume the 2024 structure unchanged |
//!
//! **\[model\]** Population is that of 1 January 2023 in every year, mapped onto each year's
//! kommuner through the changes: a kommune formed from several old ones is split evenly among
//! them (a kommune split between several new ones counts with its share), a split kommune is
//! divided by FHI's weighting. Each step is done in whole persons (largest remainder), so
//! every merger and split adds up exactly for every sex and age, and so does the national
//! total (5 488 984) in every year.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::sync::OnceLock;

use serde::Serialize;

const MUNICIPALITIES_TSV: &str = include_str!("../data/municipalities.tsv");
const COUNTIES_TSV: &str = include_str!("../data/counties.tsv");
const CHANGES_TSV: &str = include_str!("../data/changes.tsv");
const POPULATION_TSV: &str = include_str!("../data/population-2023.tsv");

/// The first data year the registry covers.
pub const FIRST_YEAR: u16 = 2016;
/// The last data year [`years`] lists.
pub const LAST_LISTED_YEAR: u16 = 2026;
/// The last data year accepted at all: 2027–2030 assume the 2024 structure unchanged.
pub const LAST_ASSUMED_YEAR: u16 = 2030;
/// The highest age in [`PopulationByAge`]; it counts everyone aged 105 or older.
pub const MAX_AGE: u8 = 105;

const AGES: usize = MAX_AGE as usize + 1;

/// The structures: first and last data year of each list of kommuner.
const STRUCTURES: [(u16, u16); 6] = [
    (2016, 2016),
    (2017, 2017),
    (2018, 2018),
    (2019, 2019),
    (2020, 2023),
    (2024, LAST_ASSUMED_YEAR),
];
/// The structure the population table is keyed by (2020–2023 numbers).
const BASE_STRUCTURE: usize = 4;
/// SSB's pseudo-code "Uoppgitt" (unknown) found in every SSB list.
const PSEUDO_CODE: &str = "9999";

/// The data years the registry lists: 2016 to 2026. Years after the last change (2024) use
/// the 2024 list; [`municipalities`] and [`lookup`] also accept 2027–2030 on the assumption
/// that the 2024 structure stays unchanged.
pub fn years() -> RangeInclusive<u16> {
    FIRST_YEAR..=LAST_LISTED_YEAR
}

/// Every data year accepted: [`years`] plus 2027–2030 (2024 structure, assumed unchanged).
pub fn supported_years() -> RangeInclusive<u16> {
    FIRST_YEAR..=LAST_ASSUMED_YEAR
}

/// Errors of the municipality registry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The data year is outside 2016–2030.
    #[error(
        "data year {year} is not supported: the registry covers {FIRST_YEAR}–{LAST_LISTED_YEAR} \
         (and {}–{LAST_ASSUMED_YEAR} assuming the 2024 structure unchanged)",
        LAST_LISTED_YEAR + 1
    )]
    UnsupportedYear {
        /// The year asked for.
        year: u16,
    },
    /// The text is not four ASCII digits.
    #[error("{number:?} is not a kommunenummer: expected four digits, e.g. \"0301\"")]
    Malformed {
        /// The text given.
        number: String,
    },
    /// The number was valid in an earlier year and has been replaced.
    #[error("kommunenummer {number} is not valid in {year}; {history}")]
    Replaced {
        /// The number asked for.
        number: String,
        /// The data year asked for.
        year: u16,
        /// The kommuner (number, name) that cover its area in `year`.
        successors: Vec<(String, String)>,
        /// What happened, e.g. "it became 5001 Trondheim on 1 January 2018".
        history: String,
    },
    /// The number only comes into use after the year asked for.
    #[error("kommunenummer {number} is not valid in {year}; {history}")]
    NotYetValid {
        /// The number asked for.
        number: String,
        /// The data year asked for.
        year: u16,
        /// The kommuner (number, name) that cover its area in `year`.
        predecessors: Vec<(String, String)>,
        /// When it came into use and from what.
        history: String,
    },
    /// The number is no kommune in any year 2016–2030.
    #[error(
        "kommunenummer {number} is not a kommune in any year {FIRST_YEAR}–{LAST_ASSUMED_YEAR}{hint}"
    )]
    Unknown {
        /// The number asked for.
        number: String,
        /// Extra explanation (e.g. for SSB's pseudo-code 9999), possibly empty.
        hint: String,
    },
    /// An embedded table is corrupt (a build problem, not a user error).
    #[error("embedded municipality table {table}, line {line}: {reason}")]
    Table {
        /// The table's file name.
        table: &'static str,
        /// The 1-based line number (0 = the table as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

pub use crate::ids::Sex;

/// Population of one kommune by sex and 1-year age 0..=105 (105 = 105 or older).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PopulationByAge {
    males: Vec<u32>,
    females: Vec<u32>,
}

impl PopulationByAge {
    /// Everyone.
    pub fn total(&self) -> u64 {
        self.total_of(Sex::Male) + self.total_of(Sex::Female)
    }

    /// Everyone of one sex.
    pub fn total_of(&self, sex: Sex) -> u64 {
        self.by_sex(sex).iter().map(|&n| u64::from(n)).sum()
    }

    /// Everyone aged `min_age..=max_age` (ages above 105 count as 105; an empty band gives 0).
    pub fn in_band(&self, min_age: u8, max_age: u8) -> u64 {
        self.in_band_of(Sex::Male, min_age, max_age)
            + self.in_band_of(Sex::Female, min_age, max_age)
    }

    /// Everyone of one sex aged `min_age..=max_age` (ages above 105 count as 105).
    pub fn in_band_of(&self, sex: Sex, min_age: u8, max_age: u8) -> u64 {
        let lo = usize::from(min_age.min(MAX_AGE));
        let hi = usize::from(max_age.min(MAX_AGE));
        if lo > hi {
            return 0;
        }
        self.by_sex(sex)
            .get(lo..=hi)
            .map_or(0, |s| s.iter().map(|&n| u64::from(n)).sum())
    }

    /// The number of one sex at one age (ages above 105 count as 105).
    pub fn count(&self, sex: Sex, age: u8) -> u32 {
        self.by_sex(sex)
            .get(usize::from(age.min(MAX_AGE)))
            .copied()
            .unwrap_or(0)
    }

    /// The counts of one sex, indexed by age 0..=105.
    pub fn by_sex(&self, sex: Sex) -> &[u32] {
        match sex {
            Sex::Male => &self.males,
            Sex::Female => &self.females,
        }
    }
}

/// A county (fylke), identified by the first two digits of the kommunenummer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct County {
    number: String,
    name: String,
}

impl County {
    /// The two-digit county number, e.g. "03".
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The Norwegian name, e.g. "Møre og Romsdal".
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One kommune as it is in one structure (a range of data years).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Municipality {
    number: String,
    name: String,
    orgnr: String,
    orgnr_official: bool,
    postmottak: String,
    county: County,
    valid_from: u16,
    valid_to: Option<u16>,
    population: LazyPopulation,
}

/// Where a kommune's population is: built on first use (mapping the 2023 table onto
/// every structure takes tens of milliseconds that `check` never needs).
#[derive(Debug, Clone, PartialEq)]
struct LazyPopulation {
    structure: usize,
    number: String,
}

impl Serialize for LazyPopulation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl LazyPopulation {
    fn get(&self) -> &'static PopulationByAge {
        static NONE: PopulationByAge = PopulationByAge {
            males: Vec::new(),
            females: Vec::new(),
        };
        populations()
            .and_then(|p| p.get(self.structure))
            .and_then(|m| m.get(&self.number))
            .unwrap_or(&NONE)
    }
}

/// The population of every kommune in every structure (see [`population_per_structure`]).
fn populations() -> Option<&'static Vec<HashMap<String, PopulationByAge>>> {
    static P: OnceLock<Option<Vec<HashMap<String, PopulationByAge>>>> = OnceLock::new();
    P.get_or_init(|| {
        let reg = registry().ok()?;
        let numbers: Vec<HashSet<&str>> = reg
            .structures
            .iter()
            .map(|s| s.list.iter().map(|m| m.number.as_str()).collect())
            .collect();
        population_per_structure(&numbers, &reg.transitions).ok()
    })
    .as_ref()
}

impl Municipality {
    /// The four-digit kommunenummer, e.g. "0301".
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The name as SSB writes it, e.g. "Snåase - Snåsa" or "Herøy (Nordland)".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The nine-digit organisation number (check digit valid).
    pub fn orgnr(&self) -> &str {
        &self.orgnr
    }

    /// Whether [`orgnr`](Self::orgnr) is the official one from SSB's register; `false` means
    /// a generated stand-in (see data/README.md for which kommuner and why).
    pub fn orgnr_official(&self) -> bool {
        self.orgnr_official
    }

    /// The shared mailbox, `postmottak@<domain>.kommune.test`, unique within the year: on
    /// the reserved `.test` domain (RFC 6761), so no generated file or mail names a real
    /// mailbox (the real addresses are `…kommune.no`).
    pub fn postmottak(&self) -> &str {
        &self.postmottak
    }

    /// The county the kommune belongs to in this structure.
    pub fn county(&self) -> &County {
        &self.county
    }

    /// The first data year of the structure this entry belongs to.
    pub fn valid_from(&self) -> u16 {
        self.valid_from
    }

    /// The last data year of the structure, `None` for the current (2024) structure.
    pub fn valid_to(&self) -> Option<u16> {
        self.valid_to
    }

    /// Population by sex and age (1 January 2023, mapped onto this structure).
    pub fn population(&self) -> &PopulationByAge {
        self.population.get()
    }
}

/// The kommuner valid in a data year, sorted by number.
pub fn municipalities(year: u16) -> Result<&'static [Municipality], RegistryError> {
    let reg = registry()?;
    let k = structure_of(year).ok_or(RegistryError::UnsupportedYear { year })?;
    Ok(reg.structures.get(k).map_or(&[][..], |s| &s.list[..]))
}

/// The kommune with `number` in data `year`. A number not valid that year gives an error
/// naming the kommune(r) that cover it in that year.
pub fn lookup(year: u16, number: &str) -> Result<&'static Municipality, RegistryError> {
    let reg = registry()?;
    let k = structure_of(year).ok_or(RegistryError::UnsupportedYear { year })?;
    if !is_number(number) {
        return Err(RegistryError::Malformed {
            number: number.to_string(),
        });
    }
    if let Some(m) = reg.get(k, number) {
        return Ok(m);
    }
    Err(reg.not_valid(number, year, k))
}

/// The kommuner that `number` (valid in `from_year`) corresponds to in `to_year`, with the
/// share of its area/population that went to each (summing to 1), sorted by number.
///
/// Follows the changes of 2017, 2018, 2019, 2020 and 2024. Empty when `number` is not valid
/// in `from_year`, a year is outside 2016–2030, or `to_year < from_year`.
pub fn successors(number: &str, from_year: u16, to_year: u16) -> Vec<(String, f64)> {
    let Ok(reg) = registry() else {
        return Vec::new();
    };
    match (structure_of(from_year), structure_of(to_year)) {
        (Some(a), Some(b)) if a <= b && reg.get(a, number).is_some() => reg.forward(number, a, b),
        _ => Vec::new(),
    }
}

/// The kommuner valid in `earlier_year` that `number` (valid in `year`) was formed from, each
/// with the share of that predecessor that went into `number` (1.0 unless it was split),
/// sorted by number.
///
/// Empty when `number` is not valid in `year`, a year is outside 2016–2030, or
/// `earlier_year > year`.
pub fn predecessors(number: &str, year: u16, earlier_year: u16) -> Vec<(String, f64)> {
    let Ok(reg) = registry() else {
        return Vec::new();
    };
    match (structure_of(year), structure_of(earlier_year)) {
        (Some(b), Some(a)) if a <= b && reg.get(b, number).is_some() => reg.backward(number, b, a),
        _ => Vec::new(),
    }
}

// ------------------------------------------------------------------------------------------
// The registry
// ------------------------------------------------------------------------------------------

struct Structure {
    list: Vec<Municipality>,
    index: HashMap<String, usize>,
}

#[derive(Debug, Clone)]
struct Edge {
    old: String,
    new: String,
    weight: f64,
}

struct Registry {
    structures: Vec<Structure>,
    /// `transitions[k]`: all edges from structure k-1 into structure k (identity included);
    /// `transitions[0]` is empty.
    transitions: Vec<Vec<Edge>>,
}

fn registry() -> Result<&'static Registry, RegistryError> {
    static REGISTRY: OnceLock<Result<Registry, RegistryError>> = OnceLock::new();
    REGISTRY.get_or_init(build).as_ref().map_err(Clone::clone)
}

fn structure_of(year: u16) -> Option<usize> {
    STRUCTURES
        .iter()
        .position(|&(first, last)| (first..=last).contains(&year))
}

fn is_number(s: &str) -> bool {
    s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Registry {
    fn get(&self, k: usize, number: &str) -> Option<&Municipality> {
        let s = self.structures.get(k)?;
        s.index.get(number).and_then(|&i| s.list.get(i))
    }

    fn name(&self, k: usize, number: &str) -> String {
        self.get(k, number)
            .map_or_else(String::new, |m| m.name.clone())
    }

    /// Follow the changes from structure `a` to structure `b` (a <= b).
    fn forward(&self, number: &str, a: usize, b: usize) -> Vec<(String, f64)> {
        let mut cur: BTreeMap<String, f64> = BTreeMap::from([(number.to_string(), 1.0)]);
        for k in a + 1..=b {
            let mut next = BTreeMap::new();
            for e in self.transitions.get(k).map_or(&[][..], |t| &t[..]) {
                if let Some(&w) = cur.get(&e.old) {
                    *next.entry(e.new.clone()).or_insert(0.0) += w * e.weight;
                }
            }
            cur = next;
        }
        cur.into_iter().collect()
    }

    /// Follow the changes back from structure `b` to structure `a` (a <= b).
    fn backward(&self, number: &str, b: usize, a: usize) -> Vec<(String, f64)> {
        let mut cur: BTreeMap<String, f64> = BTreeMap::from([(number.to_string(), 1.0)]);
        for k in (a + 1..=b).rev() {
            let mut next = BTreeMap::new();
            for e in self.transitions.get(k).map_or(&[][..], |t| &t[..]) {
                if let Some(&w) = cur.get(&e.new) {
                    *next.entry(e.old.clone()).or_insert(0.0) += w * e.weight;
                }
            }
            cur = next;
        }
        cur.into_iter().collect()
    }

    fn describe(&self, k: usize, list: &[(String, f64)]) -> String {
        let names: Vec<String> = list
            .iter()
            .map(|(n, _)| format!("{n} {}", self.name(k, n)))
            .collect();
        join_and(&names)
    }

    fn not_valid(&self, number: &str, year: u16, k: usize) -> RegistryError {
        let in_k = |list: &[(String, f64)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, _)| (n.clone(), self.name(k, n)))
                .collect()
        };
        // Replaced: the latest earlier structure that has the number.
        if let Some(j) = (0..k).rev().find(|&j| self.get(j, number).is_some()) {
            let changed = STRUCTURES.get(j + 1).map_or(0, |s| s.0);
            let direct = self.forward(number, j, j + 1);
            let now = self.forward(number, j, k);
            let mut history = match direct.as_slice() {
                [(n, _)] => {
                    let merged = self
                        .transitions
                        .get(j + 1)
                        .is_some_and(|t| t.iter().filter(|e| &e.new == n).count() > 1);
                    let verb = if merged { "was merged into" } else { "became" };
                    format!(
                        "it {verb} {} on 1 January {changed}",
                        self.describe(j + 1, &direct)
                    )
                }
                _ => format!(
                    "it was split between {} on 1 January {changed}",
                    self.describe(j + 1, &direct)
                ),
            };
            if j + 1 < k && direct.iter().map(|d| &d.0).ne(now.iter().map(|d| &d.0)) {
                let _ = write!(history, "; in {year} that is {}", self.describe(k, &now));
            }
            return RegistryError::Replaced {
                number: number.to_string(),
                year,
                successors: in_k(&now),
                history,
            };
        }
        // Not yet valid: the first later structure that has the number.
        if let Some(j) = (k + 1..self.structures.len()).find(|&j| self.get(j, number).is_some()) {
            let from = STRUCTURES.get(j).map_or(0, |s| s.0);
            let before = self.backward(number, j, k);
            let history = format!(
                "it came into use on 1 January {from}; in {year} its area belonged to {}",
                self.describe(k, &before)
            );
            return RegistryError::NotYetValid {
                number: number.to_string(),
                year,
                predecessors: in_k(&before),
                history,
            };
        }
        let hint = if number == PSEUDO_CODE {
            " (9999 is SSB's pseudo-code \"Uoppgitt\", unknown)".to_string()
        } else {
            String::new()
        };
        RegistryError::Unknown {
            number: number.to_string(),
            hint,
        }
    }
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::from("nothing"),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

// ------------------------------------------------------------------------------------------
// Building the registry from the embedded tables
// ------------------------------------------------------------------------------------------

struct Row {
    line: usize,
    number: String,
    first: usize,
    last: usize,
    name: String,
    address_name: String,
    entity: String,
    orgnr: String,
}

fn table_err(table: &'static str, line: usize, reason: impl Into<String>) -> RegistryError {
    RegistryError::Table {
        table,
        line,
        reason: reason.into(),
    }
}

/// Data lines of a table: (1-based line number, tab-separated fields).
fn data_lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.split('\t').collect()))
}

fn build() -> Result<Registry, RegistryError> {
    let counties = parse_counties()?;
    let rows = parse_municipalities()?;
    let orgnrs = assign_orgnrs(&rows)?;

    // Kommuner per structure.
    let mut per: Vec<Vec<&Row>> = vec![Vec::new(); STRUCTURES.len()];
    for row in &rows {
        for k in row.first..=row.last {
            if let Some(v) = per.get_mut(k) {
                v.push(row);
            }
        }
    }
    let mut numbers: Vec<HashSet<&str>> = Vec::new();
    for (k, list) in per.iter_mut().enumerate() {
        list.sort_by(|a, b| a.number.cmp(&b.number));
        let mut seen = HashSet::new();
        for r in list.iter() {
            if !seen.insert(r.number.as_str()) {
                return Err(table_err(
                    "municipalities.tsv",
                    r.line,
                    format!("{} twice in structure {k}", r.number),
                ));
            }
        }
        numbers.push(seen);
    }

    let transitions = parse_changes(&numbers)?;

    let mut structures = Vec::new();
    for (k, list) in per.iter().enumerate() {
        let (first, last) = STRUCTURES.get(k).copied().unwrap_or((0, 0));
        let domains = postmottak_domains(list, &counties);
        let mut out = Vec::with_capacity(list.len());
        let mut index = HashMap::new();
        for (i, r) in list.iter().enumerate() {
            let cc = r.number.get(..2).unwrap_or_default();
            let county = County {
                number: cc.to_string(),
                name: counties.get(cc).cloned().ok_or_else(|| {
                    table_err(
                        "counties.tsv",
                        0,
                        format!("no county {cc} for {}", r.number),
                    )
                })?,
            };
            let (orgnr, official) = orgnrs
                .get(&r.entity)
                .cloned()
                .ok_or_else(|| table_err("municipalities.tsv", r.line, "no organisation number"))?;
            let population = LazyPopulation {
                structure: k,
                number: r.number.clone(),
            };
            index.insert(r.number.clone(), i);
            out.push(Municipality {
                number: r.number.clone(),
                name: r.name.clone(),
                orgnr,
                orgnr_official: official,
                postmottak: format!(
                    "postmottak@{}.kommune.test",
                    domains.get(i).map_or("", String::as_str)
                ),
                county,
                valid_from: first,
                valid_to: (last != LAST_ASSUMED_YEAR).then_some(last),
                population,
            });
        }
        structures.push(Structure { list: out, index });
    }
    Ok(Registry {
        structures,
        transitions,
    })
}

fn parse_counties() -> Result<HashMap<String, String>, RegistryError> {
    const T: &str = "counties.tsv";
    let mut out = HashMap::new();
    for (line, f) in data_lines(COUNTIES_TSV) {
        let [code, name] = f[..] else {
            return Err(table_err(T, line, "expected 2 columns"));
        };
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
            return Err(table_err(T, line, "bad county"));
        }
        out.insert(code.to_string(), name.to_string());
    }
    Ok(out)
}

fn parse_municipalities() -> Result<Vec<Row>, RegistryError> {
    const T: &str = "municipalities.tsv";
    let mut rows = Vec::new();
    for (line, f) in data_lines(MUNICIPALITIES_TSV) {
        let [number, from, to, name, address_name, entity, orgnr] = f[..] else {
            return Err(table_err(T, line, "expected 7 columns"));
        };
        if !is_number(number) || name.is_empty() || address_name.is_empty() || entity.is_empty() {
            return Err(table_err(T, line, "bad number, name or entity"));
        }
        let first = from
            .parse::<u16>()
            .ok()
            .and_then(|y| STRUCTURES.iter().position(|s| s.0 == y))
            .ok_or_else(|| table_err(T, line, format!("bad first year {from:?}")))?;
        let last = if to.is_empty() {
            STRUCTURES.len() - 1
        } else {
            to.parse::<u16>()
                .ok()
                .and_then(|y| STRUCTURES.iter().position(|s| s.1 == y))
                .ok_or_else(|| table_err(T, line, format!("bad last year {to:?}")))?
        };
        if first > last {
            return Err(table_err(T, line, "first year after last year"));
        }
        if !orgnr.is_empty() && !orgnr_is_valid(orgnr) {
            return Err(table_err(T, line, format!("invalid orgnr {orgnr}")));
        }
        rows.push(Row {
            line,
            number: number.to_string(),
            first,
            last,
            name: name.to_string(),
            address_name: address_name.to_string(),
            entity: entity.to_string(),
            orgnr: orgnr.to_string(),
        });
    }
    Ok(rows)
}

/// Entity -> (orgnr, official). Official numbers come from the table; every other entity
/// gets a generated one (see [`generated_orgnr`]).
fn assign_orgnrs(rows: &[Row]) -> Result<HashMap<String, (String, bool)>, RegistryError> {
    let mut official: HashMap<&str, &str> = HashMap::new();
    let mut entities: Vec<&str> = Vec::new();
    for r in rows {
        entities.push(&r.entity);
        if r.orgnr.is_empty() {
            continue;
        }
        if official
            .insert(&r.entity, &r.orgnr)
            .is_some_and(|prev| prev != r.orgnr)
        {
            return Err(table_err(
                "municipalities.tsv",
                r.line,
                format!("entity {} has two orgnr", r.entity),
            ));
        }
    }
    entities.sort_unstable();
    entities.dedup();
    let mut taken: HashSet<String> = official.values().map(|s| s.to_string()).collect();
    if taken.len() != official.len() {
        return Err(table_err(
            "municipalities.tsv",
            0,
            "an orgnr is used by two entities",
        ));
    }
    let mut out = HashMap::new();
    for e in entities {
        if let Some(o) = official.get(e) {
            out.insert(e.to_string(), (o.to_string(), true));
            continue;
        }
        let g = generated_orgnr(e, &taken)
            .ok_or_else(|| table_err("municipalities.tsv", 0, format!("no free orgnr for {e}")))?;
        taken.insert(g.clone());
        out.insert(e.to_string(), (g, false));
    }
    Ok(out)
}

/// **\[model\]** A stand-in organisation number for a kommune the data has none for: derived
/// from its entity key (`<first number>/<first year>`), so it never changes between builds;
/// starts with 8 or 9, has a valid check digit and avoids every number in `taken`.
fn generated_orgnr(key: &str, taken: &HashSet<String>) -> Option<String> {
    // FNV-1a, then splitmix64 steps: portable integer arithmetic only.
    let mut state = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    for _ in 0..100_000 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let lead = if z & 1 == 0 { 8 } else { 9 };
        let first8 = format!("{lead}{:07}", (z >> 1) % 10_000_000);
        if let Some(orgnr) = crate::ids::OrgNr::with_check_digit(&first8) {
            let candidate = orgnr.to_string();
            if !taken.contains(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

fn orgnr_is_valid(s: &str) -> bool {
    crate::ids::OrgNr::parse(s).is_ok()
}

fn parse_changes(numbers: &[HashSet<&str>]) -> Result<Vec<Vec<Edge>>, RegistryError> {
    const T: &str = "changes.tsv";
    let mut explicit: Vec<Vec<Edge>> = vec![Vec::new(); STRUCTURES.len()];
    for (line, f) in data_lines(CHANGES_TSV) {
        let [year, old, new, weight] = f[..] else {
            return Err(table_err(T, line, "expected 4 columns"));
        };
        let k = year
            .parse::<u16>()
            .ok()
            .and_then(|y| STRUCTURES.iter().position(|s| s.0 == y))
            .filter(|&k| k > 0)
            .ok_or_else(|| table_err(T, line, format!("bad year {year:?}")))?;
        let weight: f64 = weight
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite() && *w > 0.0 && *w <= 1.0)
            .ok_or_else(|| table_err(T, line, format!("bad weight {weight:?}")))?;
        let known = |j: usize, n: &str| numbers.get(j).is_some_and(|s| s.contains(n));
        if !known(k - 1, old) || !known(k, new) {
            return Err(table_err(
                T,
                line,
                format!("{old} -> {new} outside the lists"),
            ));
        }
        if let Some(v) = explicit.get_mut(k) {
            v.push(Edge {
                old: old.to_string(),
                new: new.to_string(),
                weight,
            });
        }
    }
    // Add identity for every number that is not listed as old; check the result.
    let mut out = vec![Vec::new()];
    for k in 1..STRUCTURES.len() {
        let mut edges = explicit.get(k).cloned().unwrap_or_default();
        let sources: HashSet<&str> = edges.iter().map(|e| e.old.as_str()).collect();
        let prev = numbers.get(k - 1).cloned().unwrap_or_default();
        let cur = numbers.get(k).cloned().unwrap_or_default();
        let mut identity: Vec<&str> = prev
            .iter()
            .copied()
            .filter(|n| !sources.contains(n))
            .collect();
        identity.sort_unstable();
        for n in identity {
            if !cur.contains(n) {
                return Err(table_err(
                    T,
                    0,
                    format!("{n} vanishes without a change in {k}"),
                ));
            }
            edges.push(Edge {
                old: n.to_string(),
                new: n.to_string(),
                weight: 1.0,
            });
        }
        let mut out_sum: HashMap<&str, f64> = HashMap::new();
        let mut reached: HashSet<&str> = HashSet::new();
        for e in &edges {
            *out_sum.entry(&e.old).or_insert(0.0) += e.weight;
            reached.insert(&e.new);
        }
        if out_sum.values().any(|s| (s - 1.0).abs() > 1e-9) || reached != cur {
            return Err(table_err(
                T,
                0,
                format!("changes into structure {k} are inconsistent"),
            ));
        }
        edges.sort_by(|a, b| (&a.old, &a.new).cmp(&(&b.old, &b.new)));
        out.push(edges);
    }
    Ok(out)
}

type Cells = Vec<u32>; // 2 * AGES: males by age, then females by age

fn parse_population() -> Result<BTreeMap<String, Cells>, RegistryError> {
    const T: &str = "population-2023.tsv";
    let mut out = BTreeMap::new();
    for (line, f) in data_lines(POPULATION_TSV) {
        let [number, males, females] = f[..] else {
            return Err(table_err(T, line, "expected 3 columns"));
        };
        let mut cells = Vec::with_capacity(2 * AGES);
        for part in [males, females] {
            let before = cells.len();
            for v in part.split(',') {
                let n: u32 = v
                    .parse()
                    .map_err(|_| table_err(T, line, format!("bad count {v:?}")))?;
                cells.push(n);
            }
            if cells.len() - before != AGES {
                return Err(table_err(T, line, format!("expected {AGES} ages")));
            }
        }
        if !is_number(number) || out.insert(number.to_string(), cells).is_some() {
            return Err(table_err(
                T,
                line,
                format!("bad or repeated number {number:?}"),
            ));
        }
    }
    Ok(out)
}

/// The population of every kommune in every structure, mapped step by step from the
/// 2020–2023 base in whole persons, so that every merger and split adds up exactly, cell by
/// cell (sex × age), and so does the national total.
///
/// Backwards, a kommune's count is shared among its predecessors in proportion to the share
/// of each predecessor that went into it (so evenly among whole predecessors; a split
/// predecessor counts with its weight) and a predecessor sums its parts. Forwards, a kommune
/// that is split shares its count by the weights and a new kommune sums what went into it.
fn population_per_structure(
    numbers: &[HashSet<&str>],
    transitions: &[Vec<Edge>],
) -> Result<Vec<HashMap<String, PopulationByAge>>, RegistryError> {
    let base = parse_population()?;
    let base_numbers: HashSet<&str> = base.keys().map(String::as_str).collect();
    if numbers.get(BASE_STRUCTURE) != Some(&base_numbers) {
        return Err(table_err(
            "population-2023.tsv",
            0,
            "numbers differ from the 2020-2023 list",
        ));
    }
    let mut cells: Vec<BTreeMap<String, Cells>> = vec![BTreeMap::new(); STRUCTURES.len()];
    if let Some(slot) = cells.get_mut(BASE_STRUCTURE) {
        *slot = base;
    }
    let empty: &[Edge] = &[];
    for k in (0..BASE_STRUCTURE).rev() {
        let edges = transitions.get(k + 1).map_or(empty, |t| &t[..]);
        let from = cells.get(k + 1).cloned().unwrap_or_default();
        // group by the newer kommune: (older, weight)
        let mut groups: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
        for e in edges {
            groups.entry(&e.new).or_default().push((&e.old, e.weight));
        }
        if let Some(slot) = cells.get_mut(k) {
            *slot = distribute(&from, &groups);
        }
    }
    for k in BASE_STRUCTURE + 1..STRUCTURES.len() {
        let edges = transitions.get(k).map_or(empty, |t| &t[..]);
        let from = cells.get(k - 1).cloned().unwrap_or_default();
        // group by the older kommune: (newer, weight)
        let mut groups: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
        for e in edges {
            groups.entry(&e.old).or_default().push((&e.new, e.weight));
        }
        if let Some(slot) = cells.get_mut(k) {
            *slot = distribute(&from, &groups);
        }
    }
    Ok(cells
        .into_iter()
        .map(|m| {
            m.into_iter()
                .map(|(n, v)| {
                    let females = v.get(AGES..).map(<[u32]>::to_vec).unwrap_or_default();
                    let males = v.get(..AGES).map(<[u32]>::to_vec).unwrap_or_default();
                    (n, PopulationByAge { males, females })
                })
                .collect()
        })
        .collect())
}

/// Share the counts of each source kommune among its targets by weight, cell by cell, and
/// sum what each target receives.
fn distribute(
    from: &BTreeMap<String, Cells>,
    groups: &BTreeMap<&str, Vec<(&str, f64)>>,
) -> BTreeMap<String, Cells> {
    let mut out: BTreeMap<String, Cells> = BTreeMap::new();
    for (source, targets) in groups {
        let Some(counts) = from.get(*source) else {
            continue;
        };
        let weights: Vec<f64> = targets.iter().map(|t| t.1).collect();
        // what each target gets of this source, cell by cell (a kommune that goes whole to
        // one target gives it everything: what `apportion` gives for one weight)
        let mut shares: Vec<Cells> = vec![vec![0; counts.len()]; targets.len()];
        if let [only] = shares.as_mut_slice() {
            only.copy_from_slice(counts);
        } else {
            for (cell, &count) in counts.iter().enumerate() {
                for (share, part) in shares.iter_mut().zip(apportion(count, &weights)) {
                    if let Some(d) = share.get_mut(cell) {
                        *d = part;
                    }
                }
            }
        }
        for (&(target, _), share) in targets.iter().zip(shares) {
            let dst = out
                .entry(target.to_string())
                .or_insert_with(|| vec![0; 2 * AGES]);
            for (d, part) in dst.iter_mut().zip(share) {
                *d += part;
            }
        }
    }
    out
}

/// Split `total` whole persons by `weights` (largest remainder; ties go to the earlier
/// entry, i.e. the lower kommunenummer). The parts always sum to `total`.
fn apportion(total: u32, weights: &[f64]) -> Vec<u32> {
    let sum: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
    if weights.is_empty() {
        return Vec::new();
    }
    if sum <= 0.0 {
        let mut parts = vec![0; weights.len()];
        if let Some(first) = parts.first_mut() {
            *first = total;
        }
        return parts;
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut assigned: u32 = 0;
    for (i, w) in weights.iter().enumerate() {
        let w = if w.is_finite() && *w > 0.0 { *w } else { 0.0 };
        let quota = f64::from(total) * w / sum;
        let floor = (quota.floor() as u32).min(total - assigned);
        assigned += floor;
        parts.push(floor);
        // rounded so float noise does not decide ties
        remainders.push((i, ((quota - quota.floor()) * 1e9).round()));
    }
    remainders.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let missing = (total - assigned) as usize;
    for &(i, _) in remainders.iter().cycle().take(missing) {
        if let Some(p) = parts.get_mut(i) {
            *p += 1;
        }
    }
    parts
}

// ------------------------------------------------------------------------------------------
// Postmottak
// ------------------------------------------------------------------------------------------

/// The postmottak domains of one structure, in `list` order: the folded single-language name;
/// **\[model\]** names that fold alike get `-<county>` appended (e.g. `heroy-nordland`), and in
/// the unlikely case that is still not unique, `-<number>`.
fn postmottak_domains(list: &[&Row], counties: &HashMap<String, String>) -> Vec<String> {
    let base: Vec<String> = list
        .iter()
        .map(|r| {
            let d = domain_label(&r.address_name);
            if d.is_empty() {
                format!("kommune-{}", r.number)
            } else {
                d
            }
        })
        .collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for d in &base {
        *count.entry(d).or_insert(0) += 1;
    }
    let with_county: Vec<String> = base
        .iter()
        .zip(list)
        .map(|(d, r)| {
            if count.get(d.as_str()).copied().unwrap_or(0) > 1 {
                let county = r
                    .number
                    .get(..2)
                    .and_then(|c| counties.get(c))
                    .map(|n| domain_label(n))
                    .unwrap_or_default();
                format!("{d}-{county}")
            } else {
                d.clone()
            }
        })
        .collect();
    let mut count2: HashMap<&str, usize> = HashMap::new();
    for d in &with_county {
        *count2.entry(d).or_insert(0) += 1;
    }
    with_county
        .iter()
        .zip(list)
        .map(|(d, r)| {
            if count2.get(d.as_str()).copied().unwrap_or(0) > 1 {
                format!("{d}-{}", r.number)
            } else {
                d.clone()
            }
        })
        .collect()
}

/// A name folded into a DNS label: lowercase; æ→ae, ø→o, å→a, other diacritics folded
/// (á→a, š→s, ŋ→n …); spaces and hyphens → '-'; everything else dropped.
fn domain_label(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
            'a'..='z' | '0'..='9' => {
                out.push(c);
                continue;
            }
            ' ' | '-' | '\u{a0}' => "-",
            'æ' => "ae",
            'ø' | 'ö' | 'ó' | 'ò' | 'ô' | 'õ' | 'ő' => "o",
            'å' | 'ä' | 'á' | 'à' | 'â' | 'ã' | 'ā' => "a",
            'é' | 'è' | 'ê' | 'ë' | 'ē' => "e",
            'í' | 'ì' | 'î' | 'ï' | 'ī' => "i",
            'ú' | 'ù' | 'û' | 'ü' | 'ū' => "u",
            'ý' | 'ÿ' => "y",
            'š' | 'ś' => "s",
            'ž' | 'ź' | 'ż' | 'ʒ' | 'ǯ' => "z",
            'č' | 'ç' | 'ć' => "c",
            'đ' | 'ð' => "d",
            'ŋ' | 'ñ' | 'ń' => "n",
            'ŧ' => "t",
            'ǥ' | 'ǧ' => "g",
            'ǩ' => "k",
            'ł' => "l",
            'ß' => "ss",
            'þ' => "th",
            _ => "",
        };
        if folded == "-" {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push_str(folded);
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_known_numbers() {
        assert!(orgnr_is_valid("817263992")); // Færder
        assert!(orgnr_is_valid("958935420")); // Oslo
        assert!(!orgnr_is_valid("817263993"));
        assert!(!orgnr_is_valid("81726399"));
        assert!(!orgnr_is_valid("8172639x2"));
        assert!(!orgnr_is_valid("81726399é"));
    }

    #[test]
    fn generated_orgnr_is_stable_valid_and_avoids_taken() {
        let none = HashSet::new();
        let a = generated_orgnr("0104/2016", &none).unwrap_or_default();
        assert_eq!(Some(a.clone()), generated_orgnr("0104/2016", &none));
        assert!(orgnr_is_valid(&a));
        assert!(a.starts_with('8') || a.starts_with('9'));
        let taken = HashSet::from([a.clone()]);
        let b = generated_orgnr("0104/2016", &taken).unwrap_or_default();
        assert_ne!(a, b);
        assert!(orgnr_is_valid(&b));
    }

    #[test]
    fn domain_labels() {
        assert_eq!(domain_label("Nordre Follo"), "nordre-follo");
        assert_eq!(domain_label("Aurskog-Høland"), "aurskog-holand");
        assert_eq!(domain_label("Bærum"), "baerum");
        assert_eq!(domain_label("Kárášjohka"), "karasjohka");
        assert_eq!(domain_label("Porsáŋgu"), "porsangu");
        assert_eq!(domain_label("Møre og Romsdal"), "more-og-romsdal");
        assert_eq!(domain_label(" St. Hans -- (x) "), "st-hans-x");
        assert_eq!(domain_label("Ålesund"), "alesund");
    }

    #[test]
    fn join_and_lists() {
        assert_eq!(join_and(&[]), "nothing");
        assert_eq!(join_and(&["a".into()]), "a");
        assert_eq!(
            join_and(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
    }
}
