//! The feedback: the contact downloads the zip from filsluse and opens it (with 7-Zip
//! the next working day when the built-in unzipper fails), or asks SSB when no mail came.

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};

use super::corrections::after_feedback;
use crate::engine::days::next_working;
use crate::engine::queue::{Ev, Queue};
use crate::engine::world::{Agent, EngineConfig, World};
use crate::scenario::Fault;

/// The report phase of a feedback.
pub(crate) fn feedback_phase(test: bool) -> &'static str {
    if test { "test_feedback" } else { "feedback" }
}

/// The contact signs on to filsluse, downloads the feedback zip it waits for and opens it.
pub(crate) async fn download_feedback(
    cfg: &EngineConfig,
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    let Some(test) = a.waiting_feedback else {
        return Ok(());
    };
    let token = w
        .fs_client
        .token(&a.plan.postmottak, &a.plan.filsluse_password)
        .await?;
    let want = if test {
        "_iplos_test.zip"
    } else {
        "_iplos.zip"
    };
    let files = w.fs_client.files(&token).await?;
    let Some(f) = files.iter().rev().find(|f| f.name.ends_with(want)) else {
        a.note(t, "no-file", format!("no {want} in the folder"));
        return Ok(());
    };
    let zip = w.fs_client.download(&token, &f.id).await?;
    if zip.len() as u64 != f.size {
        return Err(anyhow!(
            "{}: filsluse listed {} as {} bytes, the download has {}",
            a.plan.knr,
            f.name,
            f.size,
            zip.len()
        ));
    }
    a.note(t, "downloaded", format!("{} ({} bytes)", f.name, zip.len()));
    a.waiting_feedback = None;
    if a.plan.has(Fault::WrongUnzipTool) && !a.feedback_done.contains(&test) {
        // The built-in unzipper does not know AES-256.
        let err = open_without_aes(&zip);
        a.note(
            t,
            "zip-not-opened",
            format!("the zip could not be opened without AES-256 support: {err}"),
        );
        a.cause(feedback_phase(test), Fault::WrongUnzipTool);
        a.feedback_zip = Some((test, zip));
        q.push(next_working(t, 1, 9, 0)?, Ev::RetryOpen(i));
        return Ok(());
    }
    open_feedback(cfg, a, t, test, &zip, false)?;
    after_feedback(cfg, a, i, q, t, test)
}

/// The contact opens the zip again with 7-Zip (event `RetryOpen`, the next working day).
pub(crate) fn retry_open(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    if let Some((test, zip)) = a.feedback_zip.take() {
        open_feedback(cfg, a, t, test, &zip, true)?;
        after_feedback(cfg, a, i, q, t, test)?;
    }
    Ok(())
}

/// What an unzipper without AES support says (a real attempt with the zip crate).
fn open_without_aes(zip: &[u8]) -> String {
    match zip::ZipArchive::new(std::io::Cursor::new(zip)) {
        Ok(mut z) => match z.by_index(0) {
            Ok(mut e) => {
                let mut sink = Vec::new();
                match std::io::Read::read_to_end(&mut e, &mut sink) {
                    Ok(_) => "opened (unexpectedly)".into(),
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    }
}

/// Opens the feedback zip with its key and reads feilliste.csv.
fn open_feedback(
    cfg: &EngineConfig,
    a: &mut Agent,
    t: DateTime<Utc>,
    test: bool,
    zip: &[u8],
    retried: bool,
) -> Result<()> {
    let key = if test {
        cfg.scenario.season.test_feedback_key.clone()
    } else {
        a.plan.feedback_key.clone()
    };
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).context("feedback zip")?;
    let (errors, warnings) = {
        let mut e = z
            .by_name_decrypt("feilliste.csv", key.as_bytes())
            .context("feilliste.csv in the feedback zip")?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut e, &mut text).context("reading feilliste.csv")?;
        feilliste_rows(&text)
    };
    a.note(
        t,
        "feedback-opened",
        format!(
            "{} opened{}; feilliste: {errors} error rows, {warnings} warning rows",
            if test { "test feedback" } else { "feedback" },
            if retried { " with 7-Zip" } else { "" }
        ),
    );
    if !test {
        a.feilliste_errors = errors;
    }
    a.feedback_done.insert(test);
    a.feedback_at.entry(test).or_insert(t);
    if !test {
        a.feedback_zip = None;
    }
    Ok(())
}

/// The rows of a `feilliste.csv` by severity: (errors, warnings). The file is `;`-separated
/// with quoted cells that may hold `;`, quotes and line breaks; the severity is the
/// `Alvorlighetsgrad` column ("Feil" / "Advarsel").
pub(crate) fn feilliste_rows(text: &str) -> (usize, usize) {
    use iplos_mocks::feedback::text::severity_nb;
    use iplos_model::rules::Severity;
    let records = csv_records(text.trim_start_matches('\u{feff}'));
    let Some(header) = records.first() else {
        return (0, 0);
    };
    let Some(col) = header.iter().position(|h| h == "Alvorlighetsgrad") else {
        return (0, 0);
    };
    let count = |s: Severity| {
        records
            .iter()
            .skip(1)
            .filter(|r| r.get(col).map(String::as_str) == Some(severity_nb(s)))
            .count()
    };
    (count(Severity::Error), count(Severity::Warning))
}

/// The records of a `;`-separated text with `"`-quoted cells.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ';') => record.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !record.is_empty() {
        record.push(cell);
        records.push(record);
    }
    records
}

/// No feedback by Friday: the contact asks SSB, which sets a temporary password and tells
/// the contact by phone; the contact signs on the next working day.
pub(crate) async fn contact_ssb(
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    let Some(_) = a.waiting_feedback else {
        return Ok(());
    };
    a.note(
        t,
        "contacted-ssb",
        "no feedback mail by Friday of the feedback week: the contact asks SSB",
    );
    let temp = format!("Tmp{}x9", &a.plan.filsluse_password[2..]);
    w.filsluse()?
        .set_temporary_password(&a.plan.postmottak, &temp)
        .context("SSB sets a temporary password")?;
    a.temp_password = Some(temp);
    let phase = feedback_phase(a.waiting_feedback.unwrap_or(false));
    for f in [Fault::PostmottakNever, Fault::SpamFilter] {
        if a.plan.has(f) {
            a.cause(phase, f);
        }
    }
    q.push(next_working(t, 1, 9, 0)?, Ev::ContactMail(i));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feilliste_rows_are_counted_by_severity_as_the_feedback_writes_them() {
        use iplos_mocks::feedback::{Content, FeedbackFile, feilliste};
        use iplos_model::rules::{Category, CheckReport, Consequence, Finding, Location, Severity};
        let finding = |rule: &'static str, severity, message: &str| Finding {
            rule,
            category: Category::Content,
            severity,
            consequence: Consequence::RejectMessage,
            location: Location {
                line: 3,
                path: "/melding/kommune".into(),
            },
            message: message.into(),
        };
        let report = CheckReport {
            findings: vec![
                finding("IPL22", Severity::Error, "kommunenummer 5001; not valid"),
                finding("IPL10", Severity::Warning, "a \"quoted\"\nmessage"),
                finding("IPL02", Severity::Error, "error; feil"),
            ],
            ..Default::default()
        };
        let file = FeedbackFile::new(
            "5001_iplos.xml",
            chrono::Utc::now(),
            report,
            Content::Bytes(Vec::new()),
        );
        let csv = feilliste::render_csv(&[file]);
        assert_eq!(feilliste_rows(&csv), (2, 1));
        // A header alone: nothing to correct.
        let empty = feilliste::render_csv(&[]);
        assert_eq!(feilliste_rows(&empty), (0, 0));
    }
}
