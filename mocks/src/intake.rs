//! The national file intake (data years ≤ 2017, DOMAIN.md §2–§3): every IPLOS file a
//! kommune hands in, whatever the transport. Sendemodul ([`crate::sendemodul`]) feeds it;
//! the season engine and the feedback builder read it.
//!
//! # What [`Intake::submit`] does
//!
//! 1. **Stores first.** The metadata (channel, kommunenummer, bydel, data year, file name,
//!    contact e-mail and phone, the feedback key, the arrival instant, size, SHA-256) and the
//!    raw bytes go into SQLite in **one transaction**. The bytes are kept as 1 MiB chunks
//!    (table `in_chunks`), read from memory or streamed from a file, so a large file never
//!    needs to be in memory at once.
//! 2. **Then checks.** The stored bytes are read back chunk by chunk into the streaming
//!    IPLOS checker ([`iplos_model::rules::check_stream`], test mode on). The data year the
//!    check uses is the submission's data year on the ordinary channel and **the year before
//!    it on the test channel** (DOMAIN.md §2: the test week of data year 2016 used 2015 data).
//!    A [`ContentState`] per (channel, kommune) carries the notification chain from one file
//!    to the next, so a corrections file continues the kommune's earlier files. A new
//!    complete extract (its first notification starts the chain) replaces the earlier files:
//!    the chain starts anew with it ([`Intake::current_submissions_of`]: the files that make
//!    up a kommune's data now).
//!    A file the register rejects as a whole ([`CheckReport::rejects_message`]:
//!    well-formedness, schema, a kommunenummer not valid in the year, …) leaves the chain as
//!    it was — as a status-2 AppRec does on the service bus; any other file advances it.
//! 3. The [`CheckReport`] is stored as JSON with a [`Summary`] (errors, warnings,
//!    notifications, distinct persons). Anything — not XML, not IPLOS, huge — gets stored and
//!    gets a report with the checker's findings; nothing panics (a panic inside the checker
//!    would be caught and stored as an internal-error report).
//!
//! The answer ([`Accepted`]) names the id, the arrival instant, and the receipt's due time
//! ([`receipt_time`]: 08:00 Europe/Oslo on the first working day after the arrival date).
//!
//! After a restart ([`Intake::open`] on the same file) a submission that was stored but not
//! yet checked is checked, and a kommune's chain is rebuilt by re-checking its earlier files
//! in order the first time it is needed.
//!
//! # Receipts
//!
//! [`Intake::due_receipts`] gives the receipt mails owed at an instant: every submission whose
//! 08:00 slot is at or before it and which has no receipt yet, grouped per kommune, bydel,
//! contact e-mail, data year and slot — one mail per group, built by
//! [`national::receipt_mail`] and dated at the slot. [`Intake::send_due_receipts`] sends them
//! through an [`Outbox`] and marks each submission receipted in the store after the SMTP
//! server accepted the mail: a second call (or a call after a restart) sends nothing more.
//! Calls are serialised within the process. **\[model\]** The one window where a receipt can
//! go twice is a crash between the SMTP server's `250` and the store's update; the mail's
//! Message-ID is derived from the submission ids, so such a duplicate is recognisable.
//! A mail the server refuses stays owed and is tried again on the next call.
//!
//! A virtual-clock driver (the season engine) calls [`Intake::send_due_receipts`] after each
//! step of its clock; a real-time `serve` uses [`spawn_receipt_ticker`], which polls every
//! [`TICK`].
//!
//! **\[model\]** Test-channel files get receipts too (the seeds only speak of the ordinary
//! submission's receipts). The receipt's data year is the year of the data checked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeZone, Utc};
use iplos_model::calendar::{Clock, receipt_time};
use iplos_model::rules::{Category, CheckOptions, CheckReport, ContentState, Item, Severity};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::mail::national::{self, Arrival, Receipt};
use crate::mail::{MailError, Outbox, OutgoingMail};
use crate::text_enum::text_enum;

/// Size of one stored chunk of a file.
pub const CHUNK: usize = 1024 * 1024;

/// How often [`spawn_receipt_ticker`] looks for owed receipts.
pub const TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// Longest file name stored.
pub const MAX_FILE_NAME: usize = 255;

/// Errors of the intake.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// SQLite failed.
    #[error("intake store ({what}): {source}")]
    Store {
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// Reading the file to submit failed.
    #[error("intake: reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A field of the submission is not acceptable.
    #[error("intake: invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The store holds something this version does not write.
    #[error("intake store holds unreadable data: {0}")]
    Corrupt(String),
    /// A time outside chrono's range.
    #[error("intake: time out of range: {0}")]
    Time(String),
    /// Building a receipt mail failed.
    #[error("intake: receipt mail: {0}")]
    Mail(#[from] MailError),
}

fn db(what: &'static str) -> impl FnOnce(rusqlite::Error) -> IntakeError {
    move |source| IntakeError::Store { what, source }
}

/// Which Sendemodul a file came through.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum Channel {
    /// `/SendemodulTEST/`: the test week, with the previous year's data.
    Test,
    /// `/Sendemodul/`: the ordinary submission and corrections.
    Ordinary,
}

impl Channel {
    /// `test` or `ordinary`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The inverse of [`Channel::as_str`].
    pub fn parse(s: &str) -> Option<Channel> {
        s.parse().ok()
    }

    /// The data year the content is checked against for a season of `data_year`: the year
    /// before on the test channel (DOMAIN.md §2).
    ///
    /// **\[model\]** The registry and the generators begin with 2016, so the 2016 season's
    /// test (2015 data in reality) is checked against 2016.
    pub fn checked_year(self, data_year: i32) -> i32 {
        match self {
            Channel::Test => (data_year - 1).max(2016),
            Channel::Ordinary => data_year,
        }
    }
}

text_enum!(Channel);

/// The file of a submission: in memory, or a file to stream from (the reassembled upload).
#[derive(Debug, Clone)]
pub enum SubmissionFile {
    /// The bytes.
    Bytes(Vec<u8>),
    /// A file on disk, read in chunks.
    Path(PathBuf),
}

/// One complete file handed in.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Test or ordinary.
    pub channel: Channel,
    /// Kommunenummer, four digits.
    pub kommunenr: String,
    /// Bydel, two digits (`00` unless agreed).
    pub bydel: String,
    /// The season's data year (the ordinary submission's; the test channel checks the year
    /// before, see [`Channel::checked_year`]).
    pub data_year: i32,
    /// The file's name as the kommune gave it (a plain name; never used as a path).
    pub file_name: String,
    /// The complete file.
    pub file: SubmissionFile,
    /// The contact e-mail (receipts go there).
    pub contact_email: String,
    /// The contact phone, if given.
    pub contact_phone: Option<String>,
    /// The password the kommune chose for its feedback file.
    pub feedback_key: String,
    /// When it arrived; `None`: the intake's clock now.
    pub arrived: Option<DateTime<Utc>>,
}

/// Identifies a stored submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SubmissionId(pub i64);

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The numbers of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// No error-severity finding.
    pub conformant: bool,
    /// Error-severity findings (kept and omitted).
    pub errors: u64,
    /// Warning-severity findings kept.
    pub warnings: u64,
    /// Notifications read.
    pub notifications: u64,
    /// Distinct persons (fid, else pasientGUID, as the kontrolltabeller count them) in the
    /// notifications.
    pub persons: u64,
    /// Findings not kept in the report (the checker's cap).
    pub findings_omitted: u64,
    /// Whether the file had no well-formedness or schema findings.
    pub schema_valid: bool,
    /// Rejected as a whole ([`CheckReport::rejects_message`]); it does not enter the chain.
    pub rejected: bool,
}

/// The answer to [`Intake::submit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The submission's id.
    pub id: SubmissionId,
    /// When it arrived.
    pub arrived: DateTime<Utc>,
    /// When its receipt is due (08:00 Oslo, first working day after).
    pub receipt_due: DateTime<Utc>,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// The check's numbers.
    pub summary: Summary,
}

/// A stored submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubmissionInfo {
    /// Its id.
    pub id: SubmissionId,
    /// Test or ordinary.
    pub channel: Channel,
    /// Kommunenummer.
    pub kommunenr: String,
    /// Bydel.
    pub bydel: String,
    /// The season's data year as submitted.
    pub data_year: i32,
    /// The data year the content was checked against.
    pub checked_year: i32,
    /// The file name.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Contact e-mail.
    pub contact_email: String,
    /// Contact phone.
    pub contact_phone: Option<String>,
    /// The feedback key.
    pub feedback_key: String,
    /// Arrival.
    pub arrived: DateTime<Utc>,
    /// Receipt due.
    pub receipt_due: DateTime<Utc>,
    /// When the receipt went out, if it has.
    pub receipt_sent: Option<DateTime<Utc>>,
    /// The receipt mail's Message-ID, if sent.
    pub receipt_message_id: Option<String>,
    /// The check's numbers (`None` while not yet checked).
    pub summary: Option<Summary>,
    /// The check report as JSON (`None` while not yet checked).
    pub report_json: Option<String>,
}

/// A receipt owed at some instant.
#[derive(Debug, Clone)]
pub struct DueReceipt {
    /// The submissions it covers.
    pub submissions: Vec<SubmissionId>,
    /// The 08:00 slot.
    pub due: DateTime<Utc>,
    /// The mail (dated at the slot).
    pub mail: OutgoingMail,
}

/// A receipt sent.
#[derive(Debug, Clone)]
pub struct SentReceipt {
    /// The submissions it covers.
    pub submissions: Vec<SubmissionId>,
    /// The 08:00 slot (the mail's Date).
    pub due: DateTime<Utc>,
    /// The Message-ID.
    pub message_id: String,
    /// The recipient.
    pub to: String,
}

/// What one [`Intake::send_due_receipts`] call did.
#[derive(Debug, Clone, Default)]
pub struct ReceiptRun {
    /// Mails sent and recorded.
    pub sent: Vec<SentReceipt>,
    /// Mails that failed (submissions, error); they stay owed.
    pub failed: Vec<(Vec<SubmissionId>, String)>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS in_submissions (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    kommunenr TEXT NOT NULL,
    bydel TEXT NOT NULL,
    data_year INTEGER NOT NULL,
    checked_year INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    contact_phone TEXT,
    feedback_key TEXT NOT NULL,
    arrived_ms INTEGER NOT NULL,
    receipt_due_ms INTEGER NOT NULL,
    receipt_sent_ms INTEGER,
    receipt_message_id TEXT,
    checked INTEGER NOT NULL DEFAULT 0,
    chained INTEGER NOT NULL DEFAULT 0,
    summary_json TEXT,
    report_json TEXT
);
CREATE INDEX IF NOT EXISTS in_submissions_kommune ON in_submissions(channel, kommunenr);
CREATE INDEX IF NOT EXISTS in_submissions_due ON in_submissions(receipt_sent_ms, receipt_due_ms);
CREATE TABLE IF NOT EXISTS in_chunks (
    submission_id INTEGER NOT NULL REFERENCES in_submissions(id),
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (submission_id, seq)
);
";

type ChainKey = (Channel, String);

struct Inner {
    conn: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    chains: Mutex<HashMap<ChainKey, Arc<Mutex<Option<ContentState>>>>>,
    sending: tokio::sync::Mutex<()>,
}

/// The national file intake. Cheap to clone (shared state); thread-safe; a synchronous API
/// of short SQLite calls (run [`Intake::submit`] of a large file on a blocking thread).
#[derive(Clone)]
pub struct Intake {
    inner: Arc<Inner>,
}

impl fmt::Debug for Intake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> Result<DateTime<Utc>, IntakeError> {
    Utc.timestamp_millis_opt(v)
        .single()
        .ok_or_else(|| IntakeError::Corrupt(format!("timestamp {v} out of range")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn validate(s: &Submission) -> Result<(), IntakeError> {
    let invalid = |field, reason: &str| IntakeError::Invalid {
        field,
        reason: reason.to_string(),
    };
    if s.kommunenr.len() != 4 || !s.kommunenr.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("kommunenr", "must be four digits"));
    }
    if s.bydel.len() != 2 || !s.bydel.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("bydel", "must be two digits"));
    }
    if !(1900..=2200).contains(&s.data_year) {
        return Err(invalid("data_year", "must be a year 1900-2200"));
    }
    let name = s.file_name.trim();
    if name.is_empty() || name.chars().count() > MAX_FILE_NAME {
        return Err(invalid(
            "file_name",
            "must be 1-255 characters (a plain file name)",
        ));
    }
    if name.chars().any(char::is_control) || name.contains(['/', '\\']) {
        return Err(invalid(
            "file_name",
            "must be a plain file name without control characters or path separators",
        ));
    }
    if s.contact_email.trim().is_empty() || s.contact_email.len() > 254 {
        return Err(invalid(
            "contact_email",
            "must be given (at most 254 bytes)",
        ));
    }
    if s.feedback_key.is_empty() || s.feedback_key.len() > 256 {
        return Err(invalid("feedback_key", "must be given (at most 256 bytes)"));
    }
    Ok(())
}

/// Reads a stored file back chunk by chunk.
struct ChunkReader<'a> {
    conn: &'a Mutex<Connection>,
    id: i64,
    seq: i64,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            if self.done {
                return Ok(0);
            }
            let next: Option<Vec<u8>> = lock(self.conn)
                .query_row(
                    "SELECT data FROM in_chunks WHERE submission_id = ?1 AND seq = ?2",
                    params![self.id, self.seq],
                    |r| r.get(0),
                )
                .optional()
                .map_err(std::io::Error::other)?;
            match next {
                Some(data) => {
                    self.buf = data;
                    self.pos = 0;
                    self.seq += 1;
                }
                None => self.done = true,
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Checks stored bytes; returns the report, its summary and whether it advances the chain.
fn run_check(
    reader: &mut dyn Read,
    checked_year: i32,
    state: &mut ContentState,
) -> (CheckReport, Summary) {
    let options = CheckOptions {
        data_year: Some(checked_year),
        test_mode: true,
        ..CheckOptions::default()
    };
    let mut persons: HashSet<String> = HashSet::new();
    let before = state.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        iplos_model::rules::check_stream(reader, &options, state, &mut |item| {
            if let Item::Notifikasjon(n) = item {
                for e in &n.events {
                    // A person as the kontrolltabeller count one: the fid, else the
                    // pasientGUID (feedback::kontroll), so the receipt page and the
                    // feedback agree.
                    let b = &e.bruker;
                    let key = if b.fid.trim().is_empty() {
                        format!("guid:{}", b.pasient_guid.trim())
                    } else {
                        format!("fid:{}", b.fid.trim())
                    };
                    if key.len() > 5 && !persons.contains(&key) {
                        persons.insert(key);
                    }
                }
            }
        })
    }));
    let report = match result {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(target: "iplos_mocks::intake", "the checker panicked; stored as an internal error");
            *state = before.clone();
            CheckReport {
                conformant: false,
                data_year: Some(checked_year),
                notifications: 0,
                findings: Vec::new(),
                findings_omitted: 1,
            }
        }
    };
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count() as u64;
    let warnings = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count() as u64;
    // Omitted findings: count them as errors when the report says it does not conform
    // and no kept finding is an error.
    let errors = if !report.conformant && errors == 0 {
        report.findings_omitted.max(1)
    } else {
        errors
    };
    let schema_valid = !report
        .findings
        .iter()
        .any(|f| matches!(f.category, Category::Wellformed | Category::Schema));
    let summary = Summary {
        conformant: report.conformant,
        errors,
        warnings,
        notifications: report.notifications,
        persons: persons.len() as u64,
        findings_omitted: report.findings_omitted,
        schema_valid,
        rejected: report.rejects_message(),
    };
    if summary.rejected {
        *state = before;
    }
    (report, summary)
}

impl Intake {
    /// Opens (or creates) the intake in the SQLite file `path`; checks submissions stored
    /// but not checked before a restart.
    pub fn open(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Intake, IntakeError> {
        let conn = Connection::open(path.as_ref()).map_err(db("opening"))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(db("setting pragmas"))?;
        Intake::with_connection(conn, clock)
    }

    /// An intake in memory (lost when dropped).
    pub fn in_memory(clock: Arc<dyn Clock>) -> Result<Intake, IntakeError> {
        let conn = Connection::open_in_memory().map_err(db("opening"))?;
        Intake::with_connection(conn, clock)
    }

    fn with_connection(conn: Connection, clock: Arc<dyn Clock>) -> Result<Intake, IntakeError> {
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(db("setting the busy timeout"))?;
        conn.execute_batch(SCHEMA).map_err(db("creating tables"))?;
        let intake = Intake {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                clock,
                chains: Mutex::new(HashMap::new()),
                sending: tokio::sync::Mutex::new(()),
            }),
        };
        intake.check_pending()?;
        Ok(intake)
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    fn check_pending(&self) -> Result<(), IntakeError> {
        let pending: Vec<(i64, String, String)> = {
            let conn = lock(&self.inner.conn);
            let mut st = conn
                .prepare("SELECT id, channel, kommunenr FROM in_submissions WHERE checked = 0 ORDER BY id")
                .map_err(db("listing unchecked submissions"))?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(db("listing unchecked submissions"))?
                .collect::<Result<_, _>>()
                .map_err(db("listing unchecked submissions"))?
        };
        for (id, channel, knr) in pending {
            let channel = Channel::parse(&channel)
                .ok_or_else(|| IntakeError::Corrupt(format!("channel '{channel}'")))?;
            tracing::info!(target: "iplos_mocks::intake", id, %channel, %knr, "checking a submission stored before a restart");
            let chain = self.chain((channel, knr));
            let mut guard = lock(&chain);
            self.check_stored(id, channel, &mut guard)?;
        }
        Ok(())
    }

    fn chain(&self, key: ChainKey) -> Arc<Mutex<Option<ContentState>>> {
        lock(&self.inner.chains).entry(key).or_default().clone()
    }

    /// Checks stored submission `id` continuing `state` (rebuilt from the kommune's earlier
    /// files when `None`), and stores the report.
    fn check_stored(
        &self,
        id: i64,
        channel: Channel,
        state: &mut Option<ContentState>,
    ) -> Result<Summary, IntakeError> {
        let (knr, checked_year): (String, i32) = lock(&self.inner.conn)
            .query_row(
                "SELECT kommunenr, checked_year FROM in_submissions WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db("reading a submission"))?;
        if self.starts_a_chain(id) {
            // A new complete extract replaces the kommune's earlier files: its chain starts
            // anew (corrections files continue it).
            *state = Some(ContentState::new());
        }
        if state.is_none() {
            let earlier: Vec<(i64, i32)> = {
                let conn = lock(&self.inner.conn);
                let mut st = conn
                    .prepare(
                        "SELECT id, checked_year FROM in_submissions WHERE channel = ?1 AND kommunenr = ?2 \
                         AND id < ?3 AND checked = 1 AND chained = 1 ORDER BY id",
                    )
                    .map_err(db("listing a kommune's files"))?;
                st.query_map(params![channel.as_str(), knr, id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(db("listing a kommune's files"))?
                .collect::<Result<_, _>>()
                .map_err(db("listing a kommune's files"))?
            };
            // From the latest complete extract on.
            let from = earlier
                .iter()
                .rposition(|(eid, _)| self.starts_a_chain(*eid))
                .unwrap_or(0);
            let mut s = ContentState::new();
            for (eid, year) in &earlier[from..] {
                let mut reader = self.reader(*eid);
                let _ = run_check(&mut reader, *year, &mut s);
            }
            *state = Some(s);
        }
        let st = state.get_or_insert_with(ContentState::new);
        let mut reader = self.reader(id);
        let (report, summary) = run_check(&mut reader, checked_year, st);
        let report_json = serde_json::to_string(&report)
            .map_err(|e| IntakeError::Corrupt(format!("report JSON: {e}")))?;
        let summary_json = serde_json::to_string(&summary)
            .map_err(|e| IntakeError::Corrupt(format!("summary JSON: {e}")))?;
        lock(&self.inner.conn)
            .execute(
                "UPDATE in_submissions SET checked = 1, chained = ?2, summary_json = ?3, report_json = ?4 WHERE id = ?1",
                params![id, !summary.rejected, summary_json, report_json],
            )
            .map_err(db("storing a report"))?;
        tracing::info!(
            target: "iplos_mocks::intake",
            id, %channel, kommunenr = %knr, errors = summary.errors, warnings = summary.warnings,
            notifications = summary.notifications, "file checked"
        );
        Ok(summary)
    }

    fn reader(&self, id: i64) -> ChunkReader<'_> {
        ChunkReader {
            conn: &self.inner.conn,
            id,
            seq: 0,
            buf: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    /// Stores the file and its metadata (one transaction), checks it, stores the report.
    pub fn submit(&self, s: Submission) -> Result<Accepted, IntakeError> {
        validate(&s)?;
        let arrived = s.arrived.unwrap_or_else(|| self.inner.clock.now());
        let due = receipt_time(arrived)
            .ok_or_else(|| IntakeError::Time(format!("receipt time of {arrived}")))?;
        let checked_year = s.channel.checked_year(s.data_year);
        let chain = self.chain((s.channel, s.kommunenr.clone()));
        let mut state = lock(&chain);

        // 1. Store (one transaction).
        let (id, size, sha256) = {
            let mut conn = lock(&self.inner.conn);
            let tx = conn.transaction().map_err(db("beginning a submission"))?;
            tx.execute(
                "INSERT INTO in_submissions (channel, kommunenr, bydel, data_year, checked_year, file_name, \
                 size, sha256, contact_email, contact_phone, feedback_key, arrived_ms, receipt_due_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, '', ?7, ?8, ?9, ?10, ?11)",
                params![
                    s.channel.as_str(),
                    s.kommunenr,
                    s.bydel,
                    s.data_year,
                    checked_year,
                    s.file_name.trim(),
                    s.contact_email.trim(),
                    s.contact_phone.as_deref().map(str::trim).filter(|p| !p.is_empty()),
                    s.feedback_key,
                    ms(arrived),
                    ms(due),
                ],
            )
            .map_err(db("inserting a submission"))?;
            let id = tx.last_insert_rowid();
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut seq = 0i64;
            let mut put = |chunk: &[u8]| -> Result<(), IntakeError> {
                hasher.update(chunk);
                size += chunk.len() as u64;
                tx.execute(
                    "INSERT INTO in_chunks (submission_id, seq, data) VALUES (?1, ?2, ?3)",
                    params![id, seq, chunk],
                )
                .map_err(db("storing a chunk"))?;
                seq += 1;
                Ok(())
            };
            match &s.file {
                SubmissionFile::Bytes(b) => {
                    for c in b.chunks(CHUNK) {
                        put(c)?;
                    }
                }
                SubmissionFile::Path(p) => {
                    let io = |source| IntakeError::Io {
                        path: p.display().to_string(),
                        source,
                    };
                    let mut f = std::fs::File::open(p).map_err(io)?;
                    let mut buf = vec![0u8; CHUNK];
                    loop {
                        let mut filled = 0;
                        while filled < CHUNK {
                            let n = f.read(&mut buf[filled..]).map_err(io)?;
                            if n == 0 {
                                break;
                            }
                            filled += n;
                        }
                        if filled == 0 {
                            break;
                        }
                        put(&buf[..filled])?;
                        if filled < CHUNK {
                            break;
                        }
                    }
                }
            }
            let sha256 = hex(&hasher.finalize());
            tx.execute(
                "UPDATE in_submissions SET size = ?2, sha256 = ?3 WHERE id = ?1",
                params![id, size as i64, sha256],
            )
            .map_err(db("completing a submission"))?;
            tx.commit().map_err(db("committing a submission"))?;
            (id, size, sha256)
        };
        tracing::info!(
            target: "iplos_mocks::intake",
            id, channel = %s.channel, kommunenr = %s.kommunenr, bydel = %s.bydel,
            file = %s.file_name, size, %arrived, "file stored"
        );

        // 2. Check, 3. store the report.
        let summary = self.check_stored(id, s.channel, &mut state)?;
        Ok(Accepted {
            id: SubmissionId(id),
            arrived,
            receipt_due: due,
            size,
            sha256,
            summary,
        })
    }

    fn query(
        &self,
        where_: &str,
        p: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<SubmissionInfo>, IntakeError> {
        let conn = lock(&self.inner.conn);
        let sql = format!(
            "SELECT id, channel, kommunenr, bydel, data_year, checked_year, file_name, size, sha256, \
             contact_email, contact_phone, feedback_key, arrived_ms, receipt_due_ms, receipt_sent_ms, \
             receipt_message_id, summary_json, report_json FROM in_submissions {where_} ORDER BY id"
        );
        let mut st = conn.prepare(&sql).map_err(db("querying submissions"))?;
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            i64,
            String,
            String,
            String,
            i32,
            i32,
            String,
            i64,
            String,
            String,
            Option<String>,
            String,
            (i64, i64, Option<i64>, Option<String>),
            Option<String>,
            Option<String>,
        )> = st
            .query_map(p, |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    (r.get(12)?, r.get(13)?, r.get(14)?, r.get(15)?),
                    r.get(16)?,
                    r.get(17)?,
                ))
            })
            .map_err(db("querying submissions"))?
            .collect::<Result<_, _>>()
            .map_err(db("querying submissions"))?;
        rows.into_iter()
            .map(|r| {
                let summary = match &r.13 {
                    Some(j) => Some(parse_summary(j)?),
                    None => None,
                };
                Ok(SubmissionInfo {
                    id: SubmissionId(r.0),
                    channel: Channel::parse(&r.1)
                        .ok_or_else(|| IntakeError::Corrupt(format!("channel '{}'", r.1)))?,
                    kommunenr: r.2,
                    bydel: r.3,
                    data_year: r.4,
                    checked_year: r.5,
                    file_name: r.6,
                    size: r.7 as u64,
                    sha256: r.8,
                    contact_email: r.9,
                    contact_phone: r.10,
                    feedback_key: r.11,
                    arrived: from_ms(r.12.0)?,
                    receipt_due: from_ms(r.12.1)?,
                    receipt_sent: r.12.2.map(from_ms).transpose()?,
                    receipt_message_id: r.12.3,
                    summary,
                    report_json: r.14,
                })
            })
            .collect()
    }

    /// One submission.
    pub fn submission(&self, id: SubmissionId) -> Result<Option<SubmissionInfo>, IntakeError> {
        Ok(self.query("WHERE id = ?1", &[&id.0])?.into_iter().next())
    }

    /// A kommune's submissions on one channel, oldest first.
    pub fn submissions_of(
        &self,
        kommunenr: &str,
        channel: Channel,
    ) -> Result<Vec<SubmissionInfo>, IntakeError> {
        self.query(
            "WHERE kommunenr = ?1 AND channel = ?2",
            &[&kommunenr, &channel.as_str()],
        )
    }

    /// A kommune's files on `channel` that make up its data now, oldest first: from its
    /// latest accepted complete extract on (a new complete extract replaces the earlier
    /// ones; corrections files and rejected files after it are kept). All its files when
    /// none is a complete extract.
    pub fn current_submissions_of(
        &self,
        kommunenr: &str,
        channel: Channel,
    ) -> Result<Vec<SubmissionInfo>, IntakeError> {
        let all = self.submissions_of(kommunenr, channel)?;
        let from = all
            .iter()
            .rposition(|s| {
                !s.summary.as_ref().is_some_and(|x| x.rejected) && self.starts_a_chain(s.id.0)
            })
            .unwrap_or(0);
        Ok(all.into_iter().skip(from).collect())
    }

    /// Whether stored submission `id` is a complete extract: its first notification starts
    /// the chain (`notifikasjonForrigeGUID` is the empty GUID). Read from the first chunk.
    fn starts_a_chain(&self, id: i64) -> bool {
        let first: Option<Vec<u8>> = lock(&self.inner.conn)
            .query_row(
                "SELECT data FROM in_chunks WHERE submission_id = ?1 AND seq = 0",
                [id],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten();
        let Some(first) = first else {
            return false;
        };
        let text = String::from_utf8_lossy(&first);
        let attr = "notifikasjonForrigeGUID=";
        text.find(attr).is_some_and(|i| {
            text[i + attr.len()..]
                .get(1..=iplos_model::message::EMPTY_GUID.len())
                .is_some_and(|g| g.eq_ignore_ascii_case(iplos_model::message::EMPTY_GUID))
        })
    }

    /// Every submission, oldest first.
    pub fn all_submissions(&self) -> Result<Vec<SubmissionInfo>, IntakeError> {
        self.query("", &[])
    }

    /// The raw bytes of a submission (`None` if there is no such submission).
    pub fn raw_bytes(&self, id: SubmissionId) -> Result<Option<Vec<u8>>, IntakeError> {
        if self.submission(id)?.is_none() {
            return Ok(None);
        }
        let mut out = Vec::new();
        self.reader(id.0)
            .read_to_end(&mut out)
            .map_err(|e| IntakeError::Io {
                path: format!("submission {id}"),
                source: e,
            })?;
        Ok(Some(out))
    }

    /// A reader over the raw bytes of a submission (chunk by chunk, bounded memory).
    pub fn raw_reader(&self, id: SubmissionId) -> impl Read + '_ {
        self.reader(id.0)
    }

    /// The receipt mails owed at `now` (see the module documentation).
    pub fn due_receipts(&self, now: DateTime<Utc>) -> Result<Vec<DueReceipt>, IntakeError> {
        let owed = self.query(
            "WHERE receipt_sent_ms IS NULL AND receipt_due_ms <= ?1",
            &[&ms(now)],
        )?;
        type Key = (DateTime<Utc>, String, String, String, i32);
        let mut groups: BTreeMap<Key, Vec<SubmissionInfo>> = BTreeMap::new();
        for s in owed {
            let key = (
                s.receipt_due,
                s.kommunenr.clone(),
                s.bydel.clone(),
                crate::mail::mailbox_key(&s.contact_email),
                s.checked_year,
            );
            groups.entry(key).or_default().push(s);
        }
        let mut out = Vec::new();
        for ((due, knr, bydel, _, year), subs) in groups {
            let name = u16::try_from(year)
                .ok()
                .and_then(|y| iplos_model::municipality::lookup(y, &knr).ok())
                .or_else(|| {
                    u16::try_from(subs[0].data_year)
                        .ok()
                        .and_then(|y| iplos_model::municipality::lookup(y, &knr).ok())
                })
                .map_or_else(|| knr.clone(), |m| m.name().to_string());
            let receipt = Receipt {
                contact_email: subs[0].contact_email.clone(),
                kommunenr: knr.clone(),
                bydel,
                kommune_name: name,
                data_year: year,
                arrivals: subs
                    .iter()
                    .map(|s| Arrival {
                        file_name: s.file_name.clone(),
                        arrived: s.arrived,
                    })
                    .collect(),
            };
            let mut mail = national::receipt_mail(&receipt)?;
            let ids: Vec<SubmissionId> = subs.iter().map(|s| s.id).collect();
            let mut h = Sha256::new();
            for id in &ids {
                h.update(id.0.to_be_bytes());
            }
            h.update(ms(due).to_be_bytes());
            mail.message_id = Some(format!(
                "<kvittering.{}.{}@{}>",
                knr,
                hex(&h.finalize()[..10]),
                national::RECEIPT_SENDER
                    .rsplit_once('@')
                    .map_or("ssb.test", |(_, d)| d)
            ));
            out.push(DueReceipt {
                submissions: ids,
                due,
                mail,
            });
        }
        Ok(out)
    }

    /// Sends the receipts owed at `now` and records them; see the module documentation for
    /// the exactly-once guarantee.
    pub async fn send_due_receipts(
        &self,
        outbox: &Outbox,
        now: DateTime<Utc>,
    ) -> Result<ReceiptRun, IntakeError> {
        let _serial = self.inner.sending.lock().await;
        let mut run = ReceiptRun::default();
        for r in self.due_receipts(now)? {
            match outbox.send(&r.mail).await {
                Ok(sent) => {
                    let sent_at = self.inner.clock.now().max(r.due);
                    {
                        let mut conn = lock(&self.inner.conn);
                        let tx = conn.transaction().map_err(db("recording a receipt"))?;
                        for id in &r.submissions {
                            tx.execute(
                                "UPDATE in_submissions SET receipt_sent_ms = ?2, receipt_message_id = ?3 \
                                 WHERE id = ?1 AND receipt_sent_ms IS NULL",
                                params![id.0, ms(sent_at), sent.message_id],
                            )
                            .map_err(db("recording a receipt"))?;
                        }
                        tx.commit().map_err(db("recording a receipt"))?;
                    }
                    let to = r
                        .mail
                        .to
                        .first()
                        .map(|a| a.address.clone())
                        .unwrap_or_default();
                    tracing::info!(target: "iplos_mocks::intake", submissions = ?r.submissions, due = %r.due, %to, "receipt sent");
                    run.sent.push(SentReceipt {
                        submissions: r.submissions,
                        due: r.due,
                        message_id: sent.message_id,
                        to,
                    });
                }
                Err(e) => {
                    tracing::warn!(target: "iplos_mocks::intake", submissions = ?r.submissions, error = %e, "receipt not sent; stays owed");
                    run.failed.push((r.submissions, e.to_string()));
                }
            }
        }
        Ok(run)
    }
}

fn parse_summary(j: &str) -> Result<Summary, IntakeError> {
    let v: serde_json::Value =
        serde_json::from_str(j).map_err(|e| IntakeError::Corrupt(format!("summary: {e}")))?;
    let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let b = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    Ok(Summary {
        conformant: b("conformant"),
        errors: n("errors"),
        warnings: n("warnings"),
        notifications: n("notifications"),
        persons: n("persons"),
        findings_omitted: n("findings_omitted"),
        schema_valid: b("schema_valid"),
        rejected: b("rejected"),
    })
}

/// Sends owed receipts every [`TICK`] on `clock`'s time, for a real-time `serve`. Abort
/// the returned task to stop it; a round already under way finishes (sends and records).
pub fn spawn_receipt_ticker(
    intake: Intake,
    outbox: Arc<Outbox>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            // Each round runs in its own task: aborting the ticker never cuts a round
            // between a mail's sending and its recording.
            let (intake, outbox, now) = (intake.clone(), outbox.clone(), clock.now());
            let round = tokio::spawn(async move { intake.send_due_receipts(&outbox, now).await });
            match round.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(target: "iplos_mocks::intake", error = %e, "receipt ticker")
                }
                Err(e) => {
                    tracing::error!(target: "iplos_mocks::intake", error = %e, "receipt ticker round failed")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests;
