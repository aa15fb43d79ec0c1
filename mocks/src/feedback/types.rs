//! The files and headings the feedback is built from (a leaf: the page renderers use
//! these, and [`super`] re-exports them).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use iplos_model::calendar::OSLO;
use iplos_model::rules::{CheckOptions, CheckReport};
use serde::Serialize;

/// Test feedback (week 43, numbers removed, key `123456`) or ordinary feedback (week 6,
/// the kommune's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackKind {
    /// The test week's feedback.
    Test,
    /// The ordinary submission's feedback.
    Ordinary,
}

/// A received file's content, for counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The bytes as received.
    Bytes(Vec<u8>),
    /// A file holding them.
    Path(PathBuf),
}

/// One file the kommune sent, with the checker's report.
#[derive(Debug, Clone)]
pub struct FeedbackFile {
    /// The file's name as received.
    pub name: String,
    /// When it arrived.
    pub arrived: DateTime<Utc>,
    /// The checker's report.
    pub report: CheckReport,
    /// The content, read again for the kontrolltabeller.
    pub content: Content,
}

impl FeedbackFile {
    /// A file with its report.
    pub fn new(
        name: impl Into<String>,
        arrived: DateTime<Utc>,
        report: CheckReport,
        content: Content,
    ) -> FeedbackFile {
        FeedbackFile {
            name: name.into(),
            arrived,
            report,
            content,
        }
    }

    /// Checks `bytes` with [`iplos_model::rules::check`] and keeps them.
    pub fn checked(
        name: impl Into<String>,
        arrived: DateTime<Utc>,
        bytes: Vec<u8>,
        options: &CheckOptions,
    ) -> FeedbackFile {
        let report = iplos_model::rules::check(&bytes[..], options);
        FeedbackFile::new(name, arrived, report, Content::Bytes(bytes))
    }
}

/// The heading facts of both pages.
pub struct PageMeta<'a> {
    pub(super) kommunenr: &'a str,
    pub(super) bydel: &'a str,
    pub(super) kommune_name: &'a str,
    pub(super) data_year: i32,
    pub(super) kind: FeedbackKind,
    pub(super) made: DateTime<Utc>,
}

impl PageMeta<'_> {
    pub(super) fn line(&self) -> String {
        format!(
            "<p class=\"meta\">{} · laget {} · Statistisk sentralbyrå, IPLOS</p>\n",
            match self.kind {
                FeedbackKind::Test => "Tilbakemelding på testinnsending",
                FeedbackKind::Ordinary => "Tilbakemelding på ordinær innsending",
            },
            oslo(self.made)
        )
    }
}

/// An instant as `dd.mm.yyyy HH:MM:SS` in Europe/Oslo.
pub(super) fn oslo(t: DateTime<Utc>) -> String {
    t.with_timezone(&OSLO)
        .format("%d.%m.%Y %H:%M:%S")
        .to_string()
}
