//! Shared helpers of the feedback tests: real generated content with injected defects,
//! independent counting of what the kontrolltabeller must say, and 7-Zip (`7z`, Debian
//! p7zip-full) as the independent peer that opens the zips.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use iplos_generators::defects::{self, DefectContext};
use iplos_generators::{GenConfig, generate_kommune};
use iplos_mocks::feedback::{FeedbackFile, FeedbackInput};
use iplos_model::ids::PersonId;
use iplos_model::municipality::{Municipality, lookup};
use iplos_model::rules::{CheckOptions, read_message};
use rand::SeedableRng;

/// The data year of the tests (test week 2016).
pub const YEAR: u16 = 2016;

/// A kommune's generated ordinary message with `defect` injected: (municipality, bytes).
pub fn generated(knr: &str, defect: &str, seed: u64) -> (&'static Municipality, Vec<u8>) {
    let m = lookup(YEAR, knr).expect("kommune");
    let d = generate_kommune(YEAR, m, &GenConfig::with_scale(0.05), seed).expect("generates");
    let ctx = DefectContext::for_message(&d.melding).expect("context");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (bytes, applied) = defects::render(
        &d.melding,
        &[defects::find(defect).expect("defect")],
        &mut rng,
        &ctx,
    )
    .expect("renders");
    assert!(!applied.is_empty());
    (m, bytes)
}

/// Checker options for the tests' data year.
pub fn options() -> CheckOptions {
    CheckOptions {
        data_year: Some(i32::from(YEAR)),
        ..CheckOptions::default()
    }
}

/// A feedback file from bytes, checked.
pub fn file(name: &str, bytes: Vec<u8>) -> FeedbackFile {
    FeedbackFile::checked(
        name,
        Utc.with_ymd_and_hms(2016, 10, 18, 9, 30, 0).unwrap(),
        bytes,
        &options(),
    )
}

/// Test feedback for `m` with one generated file.
pub fn test_input(m: &Municipality, bytes: Vec<u8>) -> FeedbackInput {
    FeedbackInput::test(m.number(), m.name(), i32::from(YEAR))
        .with_file(file(&format!("{}00_2015.xml", m.number()), bytes))
}

/// The kontrolltabeller counted another way: the model's validating reader into a
/// `Melding`, then plain loops. Keys as in `kontrolltabeller.csv` (`Tabell|Kode`).
pub fn expected_counts(bytes: &[u8]) -> BTreeMap<String, u64> {
    let (m, _) = read_message(bytes, &options());
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    let jan1 = NaiveDate::from_ymd_opt(i32::from(YEAR), 1, 1).unwrap();
    let mut persons: HashMap<String, &'static str> = HashMap::new();
    let mut svc_persons: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    let mut events = 0;
    for n in &m.notifikasjoner {
        *out.entry(format!("Notifikasjoner etter status|{}", n.status.code()))
            .or_default() += 1;
        for e in &n.events {
            events += 1;
            *out.entry(format!(
                "Notifikasjoner etter hendelsestype|{}",
                e.kind.element()
            ))
            .or_default() += 1;
            *out.entry(format!("Hendelser etter tjenestetype|{}", e.tjeneste_type))
                .or_default() += 1;
            let key = if e.bruker.fid.is_empty() {
                format!("g{}", e.bruker.pasient_guid)
            } else {
                format!("f{}", e.bruker.fid)
            };
            svc_persons
                .entry(e.tjeneste_type.clone())
                .or_default()
                .insert(key.clone());
            let band = PersonId::parse(&e.bruker.fid)
                .ok()
                .and_then(|p| p.birth_date())
                .map(|b| {
                    let mut a = jan1.year() - b.year();
                    if (jan1.month(), jan1.day()) < (b.month(), b.day()) {
                        a -= 1;
                    }
                    match a {
                        0..=17 => "0-17",
                        18..=49 => "18-49",
                        50..=66 => "50-66",
                        67..=79 => "67-79",
                        80..=89 => "80-89",
                        _ => "90+",
                    }
                })
                .unwrap_or("ukjent");
            persons.insert(key, band);
        }
    }
    for (svc, set) in svc_persons {
        out.insert(
            format!("Personer etter tjenestetype|{svc}"),
            set.len() as u64,
        );
    }
    for band in persons.values() {
        *out.entry(format!("Personer etter aldersgruppe|{band}"))
            .or_default() += 1;
    }
    out.insert(
        "Totalt|Notifikasjoner".into(),
        m.notifikasjoner.len() as u64,
    );
    out.insert("Totalt|Hendelser".into(), events);
    out.insert("Totalt|Personer".into(), persons.len() as u64);
    out
}

/// Runs `7z` with `args`; (success, stdout + stderr).
pub fn sevenzip(args: &[&str]) -> (bool, String) {
    let out = Command::new("7z")
        .args(args)
        .output()
        .expect("7z (Debian p7zip-full) is installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `7z t -p<key> zip`: whether 7-Zip accepts the archive with the key.
pub fn sevenzip_test(zip: &Path, key: &str) -> (bool, String) {
    sevenzip(&["t", &format!("-p{key}"), zip.to_str().unwrap()])
}

/// `7z x -p<key> -o<dir> zip`, then the entries read as text.
pub fn sevenzip_extract(zip: &Path, key: &str, dir: &Path) -> BTreeMap<String, String> {
    let (ok, out) = sevenzip(&[
        "x",
        "-y",
        &format!("-p{key}"),
        &format!("-o{}", dir.display()),
        zip.to_str().unwrap(),
    ]);
    assert!(ok, "7z x failed: {out}");
    let mut entries = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        entries.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read_to_string(e.path()).unwrap(),
        );
    }
    entries
}

/// Parses `;`-separated CSV (quoted fields, doubled quotes) after the BOM: rows of cells.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let text = text
        .strip_prefix('\u{feff}')
        .expect("CSV starts with a BOM");
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cell.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cell.push(c);
            }
        } else {
            match c {
                '"' => quoted = true,
                ';' => row.push(std::mem::take(&mut cell)),
                '\r' => {}
                '\n' => {
                    row.push(std::mem::take(&mut cell));
                    rows.push(std::mem::take(&mut row));
                }
                c => cell.push(c),
            }
        }
    }
    assert!(
        cell.is_empty() && row.is_empty(),
        "CSV must end with a line end"
    );
    rows
}

/// `kontrolltabeller.csv` as `Tabell|Kode` → `Antall` (the cell as written).
pub fn kontroll_cells(csv: &str) -> BTreeMap<String, String> {
    let rows = parse_csv(csv);
    assert_eq!(rows[0], ["Tabell", "Kode", "Tekst", "Antall"]);
    rows[1..]
        .iter()
        .map(|r| {
            let key = if r[0] == "Totalt" {
                format!("Totalt|{}", r[2])
            } else {
                format!("{}|{}", r[0], r[1])
            };
            (key, r[3].clone())
        })
        .collect()
}
