//! Kontrolltabeller: counts from the files' content, read as a stream (quick-xml over
//! [`Utf8Input`], which also transcodes ISO-8859-1): memory grows with the number of
//! distinct persons, never with the file.
//!
//! What is counted, over all files of the feedback together:
//! - **notifications** (`Notifikasjon` elements) and by `statusNotifikasjon`;
//! - **events** by kind (`TjenesteStart`, …) and by `tjenesteType` (code + kodeverk 9151
//!   name), with the **persons** who have at least one event of the type;
//! - **persons** in total and by **age band** 0–17, 18–49, 50–66, 67–79, 80–89, 90+.
//!
//! **\[model\]** choices: a person is a distinct `fid` (or, without one, a distinct
//! `pasientGUID`); the age is the age on **1 January of the data year** (as the generator
//! counts it), from the birth date in `fid` (fødselsnummer, D-nummer, synthetic
//! Test-Norge ids); a person whose `fid` gives no birth date is counted under "ukjent".
//! The bands are those Helsedirektoratet publishes (DOMAIN §7). Elements are matched by
//! local name, whatever their namespace. A file that cannot be read to the end is
//! counted up to the fault and the fault is noted (the feilliste says what is wrong).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use chrono::{Datelike, NaiveDate};
use iplos_model::ids::PersonId;
use iplos_model::message::{EventKind, SERVICE_TYPES};
use iplos_model::xml_input::{DEFAULT_TOKEN_LIMIT, Utf8Input};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use serde::Serialize;

use super::text::{Csv, html, html_head};
use super::types::PageMeta;

/// The age bands (inclusive lower and upper age).
pub const AGE_BANDS: [(u32, u32); 6] = [
    (0, 17),
    (18, 49),
    (50, 66),
    (67, 79),
    (80, 89),
    (90, u32::MAX),
];
/// Labels of [`AGE_BANDS`], then the label of an unknown age.
pub const AGE_BAND_LABELS: [&str; 7] =
    ["0-17", "18-49", "50-66", "67-79", "80-89", "90+", "ukjent"];

/// **\[model\]** At most this many distinct `tjenesteType` / `statusNotifikasjon` values are
/// kept apart; any further value counts under [`OTHER`] (hostile input cannot grow the
/// tables).
pub const MAX_DISTINCT_CODES: usize = 100;
/// The row of values beyond [`MAX_DISTINCT_CODES`].
pub const OTHER: &str = "(andre)";
/// Codes longer than this are cut (they are invalid anyway; the feilliste says so).
const MAX_CODE_LEN: usize = 20;

/// One file's share.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileCount {
    /// The file name.
    pub name: String,
    /// Notifications in it.
    pub notifications: u64,
    /// Events in it.
    pub events: u64,
    /// Why counting stopped early, if it did (`None`: read to the end).
    pub incomplete: Option<String>,
}

/// A service type's row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceCount {
    /// Events of the type.
    pub events: u64,
    /// Persons with at least one event of the type.
    pub persons: u64,
}

/// The kontrolltabeller's numbers (always the real ones; the test variant's files leave
/// them out, this struct keeps them for the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// `Notifikasjon` elements.
    pub notifications: u64,
    /// Distinct persons.
    pub persons: u64,
    /// Events (all kinds).
    pub events: u64,
    /// Notifications by `statusNotifikasjon` (N, M, C, …).
    pub by_status: BTreeMap<String, u64>,
    /// Events by kind, element name as key.
    pub by_event: BTreeMap<String, u64>,
    /// By `tjenesteType` code.
    pub by_service: BTreeMap<String, ServiceCount>,
    /// Persons by age band label ([`AGE_BAND_LABELS`], every label present).
    pub by_age_band: BTreeMap<String, u64>,
    /// Per file.
    pub files: Vec<FileCount>,
}

/// Accumulates counts over several files.
pub struct Counter {
    jan1: Option<NaiveDate>,
    counts: Counts,
    persons: HashMap<String, u32>,
    person_band: Vec<u8>,
    service_persons: HashSet<(u16, u32)>,
    service_index: HashMap<String, u16>,
}

impl Counter {
    /// A counter for data year `data_year` (ages on 1 January of it).
    pub fn new(data_year: i32) -> Counter {
        Counter {
            jan1: NaiveDate::from_ymd_opt(data_year, 1, 1),
            counts: Counts::default(),
            persons: HashMap::new(),
            person_band: Vec::new(),
            service_persons: HashSet::new(),
            service_index: HashMap::new(),
        }
    }

    /// Counts one file.
    pub fn add_file<R: Read>(&mut self, name: &str, input: R) {
        let mut fc = FileCount {
            name: name.to_string(),
            ..FileCount::default()
        };
        fc.incomplete = self.read(input, &mut fc).err();
        if let Some(why) = &fc.incomplete {
            tracing::warn!(target: "iplos_mocks::feedback", file = name, %why, "kontrolltabeller: file counted only in part");
        }
        self.counts.files.push(fc);
    }

    /// Adds a file that could not be opened at all.
    pub fn add_unreadable(&mut self, name: &str, why: String) {
        self.counts.files.push(FileCount {
            name: name.to_string(),
            incomplete: Some(why),
            ..FileCount::default()
        });
    }

    fn read<R: Read>(&mut self, input: R, fc: &mut FileCount) -> Result<(), String> {
        let utf8 = Utf8Input::new(input, DEFAULT_TOKEN_LIMIT)
            .map_err(|(e, io)| format!("the file could not be read: {e} ({io})"))?;
        let mut reader = Reader::from_reader(utf8);
        reader.config_mut().expand_empty_elements = false;
        let mut buf = Vec::with_capacity(4096);
        // The service type of the event being read, for its Bruker.
        let mut current_service: Option<u16> = None;
        loop {
            buf.clear();
            reader.get_mut().start_token();
            let ev = match reader.read_event_into(&mut buf) {
                Ok(ev) => ev,
                Err(e) => {
                    let why = match reader.get_ref().error() {
                        Some(d) => d.to_string(),
                        None => e.to_string(),
                    };
                    return Err(format!(
                        "stopped at byte {}: {why}",
                        reader.buffer_position()
                    ));
                }
            };
            match ev {
                Event::Eof => return Ok(()),
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(ev, Event::Empty(_));
                    let local = e.local_name();
                    let name = local.as_ref();
                    if name == "Notifikasjon" {
                        fc.notifications += 1;
                        self.counts.notifications += 1;
                        let status = attr(e, "statusNotifikasjon").unwrap_or_default();
                        let key = code_key(&status, &self.counts.by_status);
                        *self.counts.by_status.entry(key).or_default() += 1;
                    } else if let Some(kind) = EventKind::from_element(name) {
                        fc.events += 1;
                        self.counts.events += 1;
                        *self
                            .counts
                            .by_event
                            .entry(kind.element().to_string())
                            .or_default() += 1;
                        let code = attr(e, "tjenesteType").unwrap_or_default();
                        let key = code_key(&code, &self.counts.by_service);
                        self.counts
                            .by_service
                            .entry(key.clone())
                            .or_default()
                            .events += 1;
                        let next = self.service_index.len();
                        let idx = *self
                            .service_index
                            .entry(key)
                            .or_insert_with(|| u16::try_from(next).unwrap_or(u16::MAX));
                        current_service = if empty { None } else { Some(idx) };
                    } else if name == "Bruker" {
                        let fid = attr(e, "fid").unwrap_or_default();
                        let guid = attr(e, "pasientGUID").unwrap_or_default();
                        let person = self.person(&fid, &guid);
                        if let Some(svc) = current_service {
                            self.service_persons.insert((svc, person));
                        }
                    }
                }
                Event::End(ref e) => {
                    let local = e.local_name();
                    if EventKind::from_element(local.as_ref()).is_some() {
                        current_service = None;
                    }
                }
                _ => {}
            }
        }
    }

    fn person(&mut self, fid: &str, guid: &str) -> u32 {
        let key = if fid.is_empty() {
            format!("guid:{guid}")
        } else {
            format!("fid:{fid}")
        };
        if let Some(&i) = self.persons.get(&key) {
            return i;
        }
        let i = u32::try_from(self.persons.len()).unwrap_or(u32::MAX);
        let band = PersonId::parse(fid)
            .ok()
            .and_then(|p| p.birth_date())
            .zip(self.jan1)
            .and_then(|(birth, jan1)| age_on(birth, jan1))
            .map_or(6u8, band_of);
        self.persons.insert(key, i);
        self.person_band.push(band);
        i
    }

    /// The counts.
    pub fn finish(mut self) -> Counts {
        self.counts.persons = self.persons.len() as u64;
        for label in AGE_BAND_LABELS {
            self.counts.by_age_band.insert(label.to_string(), 0);
        }
        for &b in &self.person_band {
            *self
                .counts
                .by_age_band
                .entry(AGE_BAND_LABELS[usize::from(b)].to_string())
                .or_default() += 1;
        }
        let names: HashMap<u16, &String> =
            self.service_index.iter().map(|(k, v)| (*v, k)).collect();
        for (svc, _) in &self.service_persons {
            if let Some(code) = names.get(svc)
                && let Some(row) = self.counts.by_service.get_mut(*code)
            {
                row.persons += 1;
            }
        }
        self.counts
    }
}

/// The key a code is counted under: the value (cut, printable), or [`OTHER`] once the
/// table has [`MAX_DISTINCT_CODES`] rows.
fn code_key<V>(value: &str, table: &BTreeMap<String, V>) -> String {
    let mut v: String = value
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_CODE_LEN)
        .collect();
    if v.is_empty() {
        v = "(tom)".to_string();
    }
    if !table.contains_key(&v) && table.len() >= MAX_DISTINCT_CODES {
        OTHER.to_string()
    } else {
        v
    }
}

/// The value of the attribute with this local name.
fn attr(e: &BytesStart<'_>, local: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// Whole years from `birth` to `on`; `None` if `birth` is after `on`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> Option<u32> {
    let mut a = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    u32::try_from(a).ok()
}

/// The index of the band of an age (0–5).
pub fn band_of(age: u32) -> u8 {
    AGE_BANDS
        .iter()
        .position(|&(lo, hi)| (lo..=hi).contains(&age))
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(6)
}

/// The kodeverk 9151 name of a service code, if it is one.
pub fn service_name(code: &str) -> Option<&'static str> {
    SERVICE_TYPES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, n, _)| *n)
}

/// Sort key: numeric codes in numeric order, then the rest.
pub fn code_order(code: &str) -> (u64, String) {
    (code.parse::<u64>().unwrap_or(u64::MAX), code.to_string())
}

/// The Norwegian name of a notification status (kodeverk 7316).
pub fn status_name(code: &str) -> &'static str {
    match code {
        "N" => "Original",
        "M" => "KorrigerErstatt",
        "T" => "KorrigerSuppler",
        "C" => "KorrigerAnnuller",
        _ => "(ukjent kode)",
    }
}

/// The rows of the kontrolltabeller: (table, code, text, number).
fn rows(c: &Counts) -> Vec<(&'static str, String, String, u64)> {
    let mut out = vec![
        (
            "Totalt",
            String::new(),
            "Notifikasjoner".to_string(),
            c.notifications,
        ),
        ("Totalt", String::new(), "Hendelser".to_string(), c.events),
        ("Totalt", String::new(), "Personer".to_string(), c.persons),
    ];
    let mut services: Vec<(&String, &ServiceCount)> = c.by_service.iter().collect();
    services.sort_by_key(|(k, _)| code_order(k));
    for (code, row) in &services {
        let name = service_name(code).unwrap_or("(ukjent kode)").to_string();
        out.push((
            "Hendelser etter tjenestetype",
            (*code).clone(),
            name,
            row.events,
        ));
    }
    for (code, row) in &services {
        let name = service_name(code).unwrap_or("(ukjent kode)").to_string();
        out.push((
            "Personer etter tjenestetype",
            (*code).clone(),
            name,
            row.persons,
        ));
    }
    for (i, label) in AGE_BAND_LABELS.iter().enumerate() {
        let text = if i == 6 {
            "Ukjent alder (fødselsdato kan ikke leses av fid)".to_string()
        } else {
            format!("{} år", label.replace('-', "–"))
        };
        out.push((
            "Personer etter aldersgruppe",
            (*label).to_string(),
            text,
            c.by_age_band.get(*label).copied().unwrap_or(0),
        ));
    }
    for kind in EventKind::ALL {
        out.push((
            "Notifikasjoner etter hendelsestype",
            kind.element().to_string(),
            kind.element().to_string(),
            c.by_event.get(kind.element()).copied().unwrap_or(0),
        ));
    }
    let mut statuses: Vec<(&String, &u64)> = c.by_status.iter().collect();
    statuses.sort();
    for (code, n) in statuses {
        out.push((
            "Notifikasjoner etter status",
            code.clone(),
            status_name(code).to_string(),
            *n,
        ));
    }
    out
}

/// `kontrolltabeller.csv`: columns `Tabell;Kode;Tekst;Antall`, one row per cell of the
/// tables; with `masked` (test feedback) the `Antall` column is empty.
pub fn render_csv(c: &Counts, masked: bool) -> String {
    let mut csv = Csv::new();
    csv.row(&["Tabell", "Kode", "Tekst", "Antall"]);
    for (table, code, text, n) in rows(c) {
        let n = if masked { String::new() } else { n.to_string() };
        csv.row(&[table, code.as_str(), text.as_str(), n.as_str()]);
    }
    csv.finish()
}

/// `kontrolltabeller.html`: the same tables as a page; with `masked` every number is
/// shown as "–".
pub fn render_html(c: &Counts, meta: &PageMeta<'_>, masked: bool) -> String {
    let mut h = html_head(&format!(
        "IPLOS kontrolltabeller {} – {} {} (bydel {})",
        meta.data_year, meta.kommunenr, meta.kommune_name, meta.bydel
    ));
    h.push_str(&meta.line());
    if masked {
        h.push_str(
            "<p class=\"test\">Testinnsending: alle tall er fjernet. Tabellene viser bare \
             oppbyggingen av tilbakemeldingen.</p>\n",
        );
    }
    let mut current = "";
    for (table, code, text, n) in rows(c) {
        if table != current {
            if !current.is_empty() {
                h.push_str("</table>\n");
            }
            current = table;
            h.push_str(&format!(
                "<h2>{}</h2>\n<table>\n<tr><th>Kode</th><th>Tekst</th><th>Antall</th></tr>\n",
                html(table)
            ));
        }
        let n = if masked {
            "–".to_string()
        } else {
            n.to_string()
        };
        h.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td></tr>\n",
            html(&code),
            html(&text),
            n
        ));
    }
    h.push_str("</table>\n<h2>Filer</h2>\n<table>\n<tr><th>Fil</th><th>Notifikasjoner</th><th>Hendelser</th><th>Merknad</th></tr>\n");
    for f in &c.files {
        let (nn, ne) = if masked {
            ("–".to_string(), "–".to_string())
        } else {
            (f.notifications.to_string(), f.events.to_string())
        };
        let note = match &f.incomplete {
            Some(why) => format!("Bare delvis talt: {}", html(why)),
            None => String::new(),
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{nn}</td><td class=\"n\">{ne}</td><td>{note}</td></tr>\n",
            html(&f.name)
        ));
    }
    h.push_str(
        "</table>\n<p class=\"meta\">Personer telles som ulike fid (uten fid: ulike pasientGUID). \
         Alder er alder 1. januar i dataåret, regnet ut fra fødselsdatoen i fid.</p>\n\
         </body>\n</html>\n",
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands() {
        assert_eq!(band_of(0), 0);
        assert_eq!(band_of(17), 0);
        assert_eq!(band_of(18), 1);
        assert_eq!(band_of(66), 2);
        assert_eq!(band_of(67), 3);
        assert_eq!(band_of(89), 4);
        assert_eq!(band_of(90), 5);
        assert_eq!(band_of(130), 5);
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(age_on(d(1930, 1, 1), d(2017, 1, 1)), Some(87));
        assert_eq!(age_on(d(1930, 1, 2), d(2017, 1, 1)), Some(86));
        assert_eq!(age_on(d(2018, 1, 2), d(2017, 1, 1)), None);
    }

    #[test]
    fn garbage_is_counted_up_to_the_fault() {
        let mut c = Counter::new(2017);
        c.add_file(
            "x.xml",
            &b"<Melding><Notifikasjon statusNotifikasjon='N'><TjenesteStart tjenesteType='21'><Bruker fid='' pasientGUID='a'/></TjenesteStart></Notifikasjon><Notifikasjon"[..],
        );
        c.add_file("y.xml", &b"\xff\xfe\x00garbage"[..]);
        let counts = c.finish();
        assert_eq!(counts.notifications, 1);
        assert_eq!(counts.by_service["21"].events, 1);
        assert_eq!(counts.by_service["21"].persons, 1);
        assert_eq!(counts.by_age_band["ukjent"], 1);
        assert!(counts.files[0].incomplete.is_some());
        assert!(counts.files[1].incomplete.is_some());
    }

    #[test]
    fn many_distinct_codes_are_bounded() {
        let mut xml = String::from("<Melding>");
        for i in 0..500 {
            xml.push_str(&format!(
                "<Notifikasjon statusNotifikasjon='S{i}'><TjenesteSlutt tjenesteType='X{i}'><Bruker fid='' pasientGUID='p{i}'/></TjenesteSlutt></Notifikasjon>"
            ));
        }
        xml.push_str("</Melding>");
        let mut c = Counter::new(2017);
        c.add_file("x.xml", xml.as_bytes());
        let counts = c.finish();
        assert_eq!(counts.by_service.len(), MAX_DISTINCT_CODES + 1);
        assert_eq!(counts.by_status.len(), MAX_DISTINCT_CODES + 1);
        assert_eq!(counts.by_service[OTHER].events, 400);
        assert_eq!(counts.persons, 500);
    }
}
