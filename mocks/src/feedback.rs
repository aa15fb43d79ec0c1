//! SSB's feedback to a kommune (DOMAIN.md §2, §5): an AES-256 encrypted zip with a
//! **feilliste** (error list) and **kontrolltabeller** (control tables), put on the
//! filsluse in the kommune's folder, which makes the portal send "1 New File Available".
//!
//! Transport-neutral: the input ([`FeedbackInput`]) is what SSB knows about the kommune
//! and the files it received, each with the checker's [`CheckReport`](iplos_model::rules::CheckReport) and its bytes (or a
//! path) for counting. Whoever received the files (Sendemodul intake, the AMQP receiver's
//! run store) builds it.
//!
//! # The zip
//!
//! - **Name**: `<kommunenr><bydel>_iplos_test.zip` for test feedback (week 43 in 2016),
//!   `<kommunenr><bydel>_iplos.zip` for ordinary feedback (week 6), e.g.
//!   `040300_iplos_test.zip` (seed 001). Kommunenr is 4 digits, bydel 2 (`00` unless
//!   agreed with SSB).
//! - **Key**: test feedback always uses [`TEST_KEY`] `123456` (seeds: every test zip);
//!   ordinary feedback uses the kommune's own key, the password it chose at submission
//!   ([`FeedbackInput::key`]). An empty key, or one with control characters, is refused
//!   ([`FeedbackError::Key`]); a test input whose key is neither empty nor `123456` is
//!   refused too, so a caller cannot believe it chose the key.
//! - **Encryption**: WinZip AES-256, deflate (the `zip` crate writing into memory: AE-1
//!   entries, CRC stored, for entries of 20 bytes or more; its streaming writer cannot
//!   write AES entries); opened by 7-Zip, WinZip ≥ 9 and other AES-aware tools (not by
//!   Windows' built-in zip support). Each entry has a random salt, so two builds of the same
//!   input differ in bytes but not in content.
//! - **Entries** (UTF-8; the CSV files with a BOM so Excel reads them as UTF-8):
//!   - `feilliste.csv` — columns [`feilliste::CSV_COLUMNS`]: file, rule id, severity
//!     (Feil/Advarsel), consequence (the spec's words: "Slettemerk melding", …), line,
//!     path, the checker's English message, the rule's Norwegian title, its English title.
//!     One row per finding (header row first). Separator **`;`**, as Excel with Norwegian
//!     regional settings expects (the decimal comma makes `,` unusable); CRLF line ends;
//!     fields quoted when they hold `;`, `"` or a line break; a text cell starting with
//!     `=`, `+`, `-` or `@` gets a leading `'` so Excel does not take it for a formula
//!     (the messages quote the kommune's own data).
//!   - `feilliste.html` — a self-contained page (inline CSS, no script): the files, the
//!     count per rule (most frequent first), then each rule's rows.
//!   - `kontrolltabeller.csv` — columns `Tabell;Kode;Tekst;Antall`: totals
//!     (notifications, events, persons), events and persons by service type (kodeverk
//!     9151 code and name), persons by age band (0–17, 18–49, 50–66, 67–79, 80–89, 90+,
//!     unknown — **\[model\]**: Helsedirektoratet's published bands; the age on 1 January
//!     of the data year), notifications by event type and by status. See [`kontroll`] for
//!     how persons and ages are counted (**\[model\]**).
//!   - `kontrolltabeller.html` — the same tables as a page.
//!   - `LESMEG.txt` — what the files are and how to open the zip.
//!
//!   For **test** feedback the kontrolltabeller keep their structure but every number is
//!   removed (CSV: empty `Antall`; HTML: "–"), as SSB did in 2016. **\[model\]** The
//!   feilliste is complete in both kinds (its line numbers are locations, not statistics).
//!
//! # Publishing
//!
//! [`publish`] builds the whole zip in memory, then uploads it with
//! [`Filsluse::upload`] as `frassb` to `/Home/Ekstern/iplos/<username>/frassb`. The portal
//! stores the file, reads it back to verify it, and only then hands "1 New File Available"
//! to its notifier: **the zip is complete in the filsluse before the mail is sent.** The
//! user must exist (creating it is the caller's business: [`FeedbackError::NoSuchUser`]),
//! and a user that belongs to another kommune is refused ([`FeedbackError::WrongKommune`])
//! rather than given someone else's data. [`PublishedFeedback`] gives the file id, name,
//! size and SHA-256, and a [`FeedbackSummary`] (counts per severity and per rule, the
//! kontrolltabeller's real numbers) to compare with what the receiver reported.
//!
//! `build` and `publish` are synchronous (they read files and compress); from async code
//! run them in `spawn_blocking`.

pub mod feilliste;
pub mod kontroll;
pub mod text;
mod types;

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Datelike, Timelike, Utc};
use iplos_model::calendar::OSLO;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{AesMode, CompressionMethod, ZipWriter};

use crate::filsluse::{FileInfo, Filsluse, FilsluseError};

pub use self::kontroll::Counts;
use self::types::oslo;
pub use self::types::{Content, FeedbackFile, FeedbackKind, PageMeta};

/// The key of every test feedback zip (seeds 001–003).
pub const TEST_KEY: &str = "123456";

/// The entries of every feedback zip, in order.
pub const ENTRIES: [&str; 5] = [
    "feilliste.csv",
    "feilliste.html",
    "kontrolltabeller.csv",
    "kontrolltabeller.html",
    "LESMEG.txt",
];

/// What SSB knows when it builds a kommune's feedback.
#[derive(Debug, Clone)]
pub struct FeedbackInput {
    /// Kommunenummer, 4 digits (`0403`).
    pub kommunenr: String,
    /// Bydel, 2 digits (`00` unless agreed).
    pub bydel: String,
    /// The kommune's name (`Hamar`).
    pub kommune_name: String,
    /// The data year.
    pub data_year: i32,
    /// Test or ordinary.
    pub kind: FeedbackKind,
    /// The zip's key: the kommune's own for ordinary feedback; empty or `123456` for test.
    pub key: String,
    /// The files received.
    pub files: Vec<FeedbackFile>,
}

impl FeedbackInput {
    /// Test feedback (key `123456`), bydel `00`, no files yet.
    pub fn test(kommunenr: &str, kommune_name: &str, data_year: i32) -> FeedbackInput {
        FeedbackInput {
            kommunenr: kommunenr.to_string(),
            bydel: "00".to_string(),
            kommune_name: kommune_name.to_string(),
            data_year,
            kind: FeedbackKind::Test,
            key: TEST_KEY.to_string(),
            files: Vec::new(),
        }
    }

    /// Ordinary feedback with the kommune's key, bydel `00`, no files yet.
    pub fn ordinary(
        kommunenr: &str,
        kommune_name: &str,
        data_year: i32,
        key: &str,
    ) -> FeedbackInput {
        FeedbackInput {
            kind: FeedbackKind::Ordinary,
            key: key.to_string(),
            ..FeedbackInput::test(kommunenr, kommune_name, data_year)
        }
    }

    /// Sets the bydel.
    pub fn with_bydel(mut self, bydel: &str) -> FeedbackInput {
        self.bydel = bydel.to_string();
        self
    }

    /// Adds a file.
    pub fn with_file(mut self, file: FeedbackFile) -> FeedbackInput {
        self.files.push(file);
        self
    }

    /// The zip's file name: `<kommunenr><bydel>_iplos_test.zip` / `…_iplos.zip`.
    pub fn file_name(&self) -> String {
        match self.kind {
            FeedbackKind::Test => format!("{}{}_iplos_test.zip", self.kommunenr, self.bydel),
            FeedbackKind::Ordinary => format!("{}{}_iplos.zip", self.kommunenr, self.bydel),
        }
    }

    /// The key the zip is encrypted with, after the checks of the module documentation.
    pub fn effective_key(&self) -> Result<&str, FeedbackError> {
        match self.kind {
            FeedbackKind::Test => {
                if self.key.is_empty() || self.key == TEST_KEY {
                    Ok(TEST_KEY)
                } else {
                    Err(FeedbackError::Key(format!(
                        "test feedback is always encrypted with {TEST_KEY}; \
                         leave the key empty or set it to {TEST_KEY}"
                    )))
                }
            }
            FeedbackKind::Ordinary => {
                if self.key.is_empty() {
                    Err(FeedbackError::Key(format!(
                        "ordinary feedback for kommune {} needs the kommune's own key \
                         (the password chosen at submission); the key is empty",
                        self.kommunenr
                    )))
                } else if self.key.chars().any(char::is_control) {
                    Err(FeedbackError::Key(
                        "the key contains control characters".to_string(),
                    ))
                } else {
                    Ok(&self.key)
                }
            }
        }
    }

    fn validate(&self) -> Result<(), FeedbackError> {
        if self.kommunenr.len() != 4 || !self.kommunenr.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FeedbackError::Input(format!(
                "kommunenr must be 4 digits, not {:?}",
                self.kommunenr
            )));
        }
        if self.bydel.len() != 2 || !self.bydel.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FeedbackError::Input(format!(
                "bydel must be 2 digits (00 unless agreed), not {:?}",
                self.bydel
            )));
        }
        if self.files.is_empty() {
            return Err(FeedbackError::Input(format!(
                "no files: kommune {} sent nothing to give feedback on",
                self.kommunenr
            )));
        }
        self.effective_key().map(|_| ())
    }
}

/// Errors of building or publishing feedback.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// The key is missing or not allowed.
    #[error("feedback key: {0}")]
    Key(String),
    /// The input is incomplete or malformed.
    #[error("feedback input: {0}")]
    Input(String),
    /// The zip could not be written.
    #[error("writing the feedback zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Writing into the zip failed.
    #[error("writing the feedback zip: {0}")]
    Io(#[from] std::io::Error),
    /// The filsluse user does not exist.
    #[error(
        "no filsluse user '{0}': create it first (Filsluse::create_user or provision_user); \
         feedback goes to /Home/Ekstern/iplos/<username>/frassb"
    )]
    NoSuchUser(String),
    /// The user belongs to another kommune.
    #[error(
        "filsluse user '{username}' belongs to kommune {user_kommune}, not {kommunenr}: \
         refusing to put kommune {kommunenr}'s feedback there"
    )]
    WrongKommune {
        /// The user.
        username: String,
        /// Its kommune.
        user_kommune: String,
        /// The feedback's kommune.
        kommunenr: String,
    },
    /// The portal refused the upload.
    #[error("filsluse: {0}")]
    Filsluse(#[from] FilsluseError),
}

/// One file's share of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    /// The file name.
    pub name: String,
    /// Whether the checker found it conformant.
    pub conformant: bool,
    /// Notifications the checker read.
    pub notifications: u64,
    /// Findings listed.
    pub findings: u64,
    /// Findings the checker did not keep (over its cap).
    pub findings_omitted: u64,
}

/// What the zip says, in numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedbackSummary {
    /// Test or ordinary.
    pub kind: FeedbackKind,
    /// Kommunenummer.
    pub kommunenr: String,
    /// Bydel.
    pub bydel: String,
    /// Data year.
    pub data_year: i32,
    /// The zip's entries.
    pub entries: Vec<String>,
    /// Rows of `feilliste.csv` (= findings listed).
    pub findings: u64,
    /// Findings not listed because the checker's cap was reached.
    pub findings_omitted: u64,
    /// Findings per severity (`error`, `warning`).
    pub by_severity: BTreeMap<String, u64>,
    /// Findings per rule id.
    pub by_rule: BTreeMap<String, u64>,
    /// Per file.
    pub files: Vec<FileSummary>,
    /// The kontrolltabeller's numbers (the real ones, also for test feedback whose
    /// files leave them out).
    pub counts: Counts,
}

/// A built feedback zip.
#[derive(Debug, Clone)]
pub struct FeedbackArchive {
    /// The file name.
    pub file_name: String,
    /// The zip's bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// What it says.
    pub summary: FeedbackSummary,
}

/// Feedback put on the filsluse.
#[derive(Debug, Clone)]
pub struct PublishedFeedback {
    /// The filsluse file id (also its tracking id).
    pub file_id: u64,
    /// The file name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// The portal's record of the file.
    pub file: FileInfo,
    /// What the zip says.
    pub summary: FeedbackSummary,
}

/// Builds the zip for `input`, dated `now` (entry times, "laget" lines).
pub fn build(input: &FeedbackInput, now: DateTime<Utc>) -> Result<FeedbackArchive, FeedbackError> {
    input.validate()?;
    let key = input.effective_key()?;
    let masked = input.kind == FeedbackKind::Test;
    let meta = PageMeta {
        kommunenr: &input.kommunenr,
        bydel: &input.bydel,
        kommune_name: &input.kommune_name,
        data_year: input.data_year,
        kind: input.kind,
        made: now,
    };

    let mut counter = kontroll::Counter::new(input.data_year);
    for f in &input.files {
        match &f.content {
            Content::Bytes(b) => counter.add_file(&f.name, &b[..]),
            Content::Path(p) => match std::fs::File::open(p) {
                Ok(file) => counter.add_file(&f.name, std::io::BufReader::new(file)),
                Err(e) => {
                    return Err(FeedbackError::Input(format!(
                        "cannot read {} ({}): {e}",
                        f.name,
                        p.display()
                    )));
                }
            },
        }
    }
    let counts = counter.finish();

    let (by_severity, by_rule) = feilliste::tally(&input.files);
    let entries: [(&str, String); 5] = [
        ("feilliste.csv", feilliste::render_csv(&input.files)),
        (
            "feilliste.html",
            feilliste::render_html(&input.files, &meta),
        ),
        (
            "kontrolltabeller.csv",
            kontroll::render_csv(&counts, masked),
        ),
        (
            "kontrolltabeller.html",
            kontroll::render_html(&counts, &meta, masked),
        ),
        ("LESMEG.txt", lesmeg(input, &meta)),
    ];

    let local = now.with_timezone(&OSLO);
    let stamp = zip::DateTime::from_date_and_time(
        u16::try_from(local.year()).unwrap_or(1980),
        u8::try_from(local.month()).unwrap_or(1),
        u8::try_from(local.day()).unwrap_or(1),
        u8::try_from(local.hour()).unwrap_or(0),
        u8::try_from(local.minute()).unwrap_or(0),
        u8::try_from(local.second()).unwrap_or(0),
    )
    .unwrap_or_default();
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(stamp)
        .unix_permissions(0o644)
        .with_aes_encryption(AesMode::Aes256, key);
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in &entries {
        zip.start_file(*name, options)?;
        zip.write_all(content.as_bytes())?;
    }
    let bytes = zip.finish()?.into_inner();
    let sha256 = hex(&Sha256::digest(&bytes));

    let files = input
        .files
        .iter()
        .map(|f| FileSummary {
            name: f.name.clone(),
            conformant: f.report.conformant,
            notifications: f.report.notifications,
            findings: f.report.findings.len() as u64,
            findings_omitted: f.report.findings_omitted,
        })
        .collect::<Vec<_>>();
    let summary = FeedbackSummary {
        kind: input.kind,
        kommunenr: input.kommunenr.clone(),
        bydel: input.bydel.clone(),
        data_year: input.data_year,
        entries: ENTRIES.iter().map(|e| e.to_string()).collect(),
        findings: files.iter().map(|f| f.findings).sum(),
        findings_omitted: files.iter().map(|f| f.findings_omitted).sum(),
        by_severity,
        by_rule,
        files,
        counts,
    };
    tracing::info!(
        target: "iplos_mocks::feedback", kommunenr = %input.kommunenr, kind = ?input.kind,
        size = bytes.len(), findings = summary.findings, "feedback zip built"
    );
    Ok(FeedbackArchive {
        file_name: input.file_name(),
        bytes,
        sha256,
        summary,
    })
}

/// Builds the zip and puts it on the filsluse in `username`'s `frassb` folder as
/// `frassb`, which sends "1 New File Available" (see the module documentation). Dated by
/// the portal's clock.
pub fn publish(
    fs: &Filsluse,
    username: &str,
    input: &FeedbackInput,
) -> Result<PublishedFeedback, FeedbackError> {
    let user = fs
        .user(username)?
        .ok_or_else(|| FeedbackError::NoSuchUser(username.to_string()))?;
    if let Some(k) = &user.kommunenr
        && *k != input.kommunenr
    {
        return Err(FeedbackError::WrongKommune {
            username: user.username,
            user_kommune: k.clone(),
            kommunenr: input.kommunenr.clone(),
        });
    }
    let archive = build(input, fs.now())?;
    let file = fs.upload(&user.username, &archive.file_name, &archive.bytes)?;
    tracing::info!(
        target: "iplos_mocks::feedback", username = %user.username, file_id = file.id,
        name = %file.name, size = file.size, "feedback published"
    );
    Ok(PublishedFeedback {
        file_id: file.id,
        name: file.name.clone(),
        size: file.size,
        sha256: archive.sha256,
        file,
        summary: archive.summary,
    })
}

/// `LESMEG.txt`: what the files are and how to open the zip (CRLF, UTF-8 with BOM for
/// Notepad).
fn lesmeg(input: &FeedbackInput, meta: &PageMeta<'_>) -> String {
    let (what, key) = match input.kind {
        FeedbackKind::Test => (
            "Dette er tilbakemeldingen på testinnsendingen. Alle tall i kontrolltabellene er \
             fjernet; tabellene viser bare oppbyggingen. Feillisten er fullstendig.",
            format!("Alle testfiler er kryptert med nøkkelen {TEST_KEY}."),
        ),
        FeedbackKind::Ordinary => (
            "Dette er tilbakemeldingen på den ordinære innsendingen.",
            "Filen er kryptert med kommunens egen nøkkel: passordet som ble valgt ved \
             innsendingen."
                .to_string(),
        ),
    };
    let files: Vec<String> = input
        .files
        .iter()
        .map(|f| format!("  - {} (mottatt {})", f.name, oslo(f.arrived)))
        .collect();
    let text = format!(
        "IPLOS – tilbakemelding fra Statistisk sentralbyrå\n\
         Kommune {nr} {name}, bydel {bydel}, dataår {year}. Laget {made}.\n\n\
         {what}\n\n\
         Mottatte filer:\n{files}\n\n\
         Innhold:\n\
         - feilliste.csv: alle feil og advarsler, én rad per funn: fil, regel, \
         alvorlighetsgrad, konsekvens, linje, sti i XML-filen, melding (engelsk) og \
         regelens tekst på norsk og engelsk. Semikolon-separert, UTF-8; åpnes i Excel.\n\
         - feilliste.html: det samme som nettside, gruppert per regel med antall først.\n\
         - kontrolltabeller.csv: antall notifikasjoner, hendelser og personer, etter \
         tjenestetype, aldersgruppe (alder 1. januar i dataåret), hendelsestype og status.\n\
         - kontrolltabeller.html: de samme tabellene som nettside.\n\n\
         Åpne filen:\n\
         {key}\n\
         Zip-filen er kryptert med AES-256. Bruk 7-Zip eller WinZip versjon 9 eller nyere; \
         Windows' innebygde zip-støtte kan ikke åpne den.\n\
         Feillistene og kontrolltabellene er personsensitive og unntatt offentlighet.\n\n\
         Spørsmål: iplos@ssb.test\n",
        nr = input.kommunenr,
        name = input.kommune_name,
        bydel = input.bydel,
        year = input.data_year,
        made = oslo(meta.made),
        files = files.join("\n"),
    );
    format!("\u{feff}{}", text.replace('\n', "\r\n"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a whole zip entry (used by tests in this crate).
#[cfg(test)]
fn read_entry(zip_bytes: &[u8], name: &str, key: &str) -> Option<String> {
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).ok()?;
    let mut f = a.by_name_decrypt(name, key.as_bytes()).ok()?;
    let mut s = String::new();
    use std::io::Read;
    f.read_to_string(&mut s).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use iplos_model::rules::CheckOptions;

    fn input(kind: FeedbackKind) -> FeedbackInput {
        let xml = b"<Melding><Notifikasjon statusNotifikasjon='N'/></Melding>".to_vec();
        let f = FeedbackFile::checked(
            "a.xml",
            Utc.with_ymd_and_hms(2017, 1, 3, 9, 0, 0).unwrap(),
            xml,
            &CheckOptions::default(),
        );
        let i = match kind {
            FeedbackKind::Test => FeedbackInput::test("0403", "Hamar", 2016),
            FeedbackKind::Ordinary => FeedbackInput::ordinary("0403", "Hamar", 2016, "Hemmelig9"),
        };
        i.with_file(f)
    }

    #[test]
    fn keys_and_names() {
        let t = input(FeedbackKind::Test);
        assert_eq!(t.file_name(), "040300_iplos_test.zip");
        assert_eq!(t.effective_key().unwrap(), TEST_KEY);
        let mut bad = t.clone();
        bad.key = "other".into();
        assert!(matches!(bad.effective_key(), Err(FeedbackError::Key(_))));
        let o = input(FeedbackKind::Ordinary);
        assert_eq!(o.file_name(), "040300_iplos.zip");
        let mut empty = o.clone();
        empty.key.clear();
        let e = build(&empty, Utc::now()).unwrap_err().to_string();
        assert!(e.contains("needs the kommune's own key"), "{e}");
        let mut k = o.clone();
        k.kommunenr = "403".into();
        assert!(
            build(&k, Utc::now())
                .unwrap_err()
                .to_string()
                .contains("4 digits")
        );
        let mut none = o.clone();
        none.files.clear();
        assert!(
            build(&none, Utc::now())
                .unwrap_err()
                .to_string()
                .contains("no files")
        );
    }

    #[test]
    fn the_zip_opens_with_the_key_only() {
        let now = Utc.with_ymd_and_hms(2017, 2, 7, 7, 0, 0).unwrap();
        let a = build(&input(FeedbackKind::Ordinary), now).unwrap();
        let csv = read_entry(&a.bytes, "feilliste.csv", "Hemmelig9").unwrap();
        assert!(csv.starts_with("\u{feff}Fil;Regel;"));
        assert_eq!(csv.lines().count() as u64, 1 + a.summary.findings);
        assert!(a.summary.findings > 0);
        assert!(read_entry(&a.bytes, "feilliste.csv", "wrong").is_none());
        let k = read_entry(&a.bytes, "kontrolltabeller.csv", "Hemmelig9").unwrap();
        assert!(k.contains("Totalt;;Notifikasjoner;1\r\n"), "{k}");
        let t = build(&input(FeedbackKind::Test), now).unwrap();
        let k = read_entry(&t.bytes, "kontrolltabeller.csv", TEST_KEY).unwrap();
        assert!(k.contains("Totalt;;Notifikasjoner;\r\n"), "{k}");
        assert_eq!(t.summary.counts.notifications, 1);
    }
}
