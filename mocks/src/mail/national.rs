//! The mails of the national side (DOMAIN.md §2): SSB's 08:00 receipt.
//!
//! | mail | source |
//! |---|---|
//! | [`receipt_mail`] | **\[model\]**: no seed shows the receipt itself; seeds 000/002/003 say it goes out "hver morgen kl. 08.00", "første virkedag etter", and "inneholder informasjon om når data er ankommet". Its sentences are taken from those seeds where they exist |
//!
//! The filsluse's (MOVEit) new-user, password and new-file mails are built by
//! [`crate::filsluse::mails`], next to the portal's texts.

use chrono::{DateTime, Utc};
use iplos_model::calendar::{OSLO, receipt_time};
use serde::Serialize;

use super::error::MailError;
use super::outbox::{MailAddress, OutgoingMail};

/// SSB's name as the display name of its mails.
pub const SSB_NAME: &str = "Statistisk sentralbyrå";

/// The sender address of the 08:00 receipts. **\[model\]**: the seeds give `iplos@ssb.no`
/// (here `iplos@ssb.test`, a reserved domain) as SSB's IPLOS contact address (seed 000 §5.3, seed 002), not as the receipts' sender.
pub const RECEIPT_SENDER: &str = "iplos@ssb.test";

/// Subject of the receipt. **\[model\]** (no seed shows the receipt; seed 000 speaks of
/// "Kvitteringene for mottatte data").
pub const RECEIPT_SUBJECT: &str = "Kvittering for mottatte IPLOS-data";

/// The date-time format of the arrival times, the filsluse's (seed 001:
/// "20.10.2016 18:31:29"), Oslo time.
const ARRIVAL_TIME: &str = "%d.%m.%Y %H:%M:%S";

/// One file that arrived at SSB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arrival {
    /// The file's name as uploaded.
    pub file_name: String,
    /// When it arrived.
    pub arrived: DateTime<Utc>,
}

/// What SSB knows when it sends a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The contact e-mail given with the submission (entered at encryption time).
    pub contact_email: String,
    /// Kommunenummer, e.g. `0403`.
    pub kommunenr: String,
    /// Bydel, `00` unless agreed otherwise.
    pub bydel: String,
    /// The kommune's name, e.g. `Hamar`.
    pub kommune_name: String,
    /// The data year reported.
    pub data_year: i32,
    /// The files, in any order.
    pub arrivals: Vec<Arrival>,
}

/// SSB's receipt for `receipt.arrivals`, listing when each file arrived, dated (and due
/// to be sent) at [`receipt_time`] of the latest arrival: 08:00 Europe/Oslo on the first
/// working day after it. Give it the files of one receipt slot ([`receipt_mails`] splits
/// them). **\[model\]** text: see the module documentation.
///
/// Errors: no arrivals, or a time outside chrono's range.
pub fn receipt_mail(receipt: &Receipt) -> Result<OutgoingMail, MailError> {
    let mut arrivals = receipt.arrivals.clone();
    arrivals.sort_by(|a, b| {
        a.arrived
            .cmp(&b.arrived)
            .then(a.file_name.cmp(&b.file_name))
    });
    let last = arrivals
        .last()
        .ok_or_else(|| MailError::Build("a receipt needs at least one arrival".into()))?;
    let due = receipt_time(last.arrived)
        .ok_or_else(|| MailError::Time(format!("receipt time of {}", last.arrived)))?;
    let lines: Vec<String> = arrivals
        .iter()
        .map(|a| {
            format!(
                "- {}, ankommet {}",
                a.file_name,
                oslo_format(a.arrived, ARRIVAL_TIME)
            )
        })
        .collect();
    let body = format!(
        "Til IPLOS-kontakt/innsendingsansvarlig for IPLOS i kommunen\n\
         \n\
         Kvittering for mottatte IPLOS-data for {year} fra kommune {nr} {name}, bydel {bydel}.\n\
         \n\
         Data er ankommet og lastet til registeret i SSB:\n\
         \n\
         {lines}\n\
         \n\
         Kommunene vil få særskilt tilbakemelding på feil og mangler i innsendte data.\n\
         \n\
         Ved spørsmål, ta kontakt med iplos@ssb.test.\n\
         \n\
         Med vennlig hilsen\n\
         IPLOS-gruppa\n\
         \n\
         Statistisk sentralbyrå\n\
         e-post: iplos@ssb.test\n",
        year = receipt.data_year,
        nr = receipt.kommunenr,
        name = receipt.kommune_name,
        bydel = receipt.bydel,
        lines = lines.join("\n"),
    );
    Ok(OutgoingMail {
        from: MailAddress::named(SSB_NAME, RECEIPT_SENDER),
        to: vec![MailAddress::new(receipt.contact_email.clone())],
        subject: RECEIPT_SUBJECT.to_string(),
        body,
        date: Some(due),
        message_id: None,
    })
}

/// The receipts for files that may have arrived on different days: one per receipt
/// slot (files arriving before the same 08:00 share one receipt), earliest first.
pub fn receipt_mails(receipt: &Receipt) -> Result<Vec<OutgoingMail>, MailError> {
    let mut slots: std::collections::BTreeMap<DateTime<Utc>, Vec<Arrival>> =
        std::collections::BTreeMap::new();
    for a in &receipt.arrivals {
        let due = receipt_time(a.arrived)
            .ok_or_else(|| MailError::Time(format!("receipt time of {}", a.arrived)))?;
        slots.entry(due).or_default().push(a.clone());
    }
    slots
        .into_values()
        .map(|arrivals| {
            receipt_mail(&Receipt {
                arrivals,
                ..receipt.clone()
            })
        })
        .collect()
}

/// An instant formatted in Europe/Oslo time.
fn oslo_format(t: DateTime<Utc>, format: &str) -> String {
    t.with_timezone(&OSLO).format(format).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn receipts_split_by_slot() {
        let r = Receipt {
            contact_email: "iplos@hamar.kommune.test".into(),
            kommunenr: "0403".into(),
            bydel: "00".into(),
            kommune_name: "Hamar".into(),
            data_year: 2017,
            arrivals: vec![
                // Tuesday 9 Jan 2018 10:00 and 23:00 Oslo, Wednesday 10 Jan 07:59 Oslo
                Arrival {
                    file_name: "a.zip".into(),
                    arrived: Utc.with_ymd_and_hms(2018, 1, 9, 9, 0, 0).unwrap(),
                },
                Arrival {
                    file_name: "b.zip".into(),
                    arrived: Utc.with_ymd_and_hms(2018, 1, 9, 22, 0, 0).unwrap(),
                },
                Arrival {
                    file_name: "c.zip".into(),
                    arrived: Utc.with_ymd_and_hms(2018, 1, 10, 6, 59, 0).unwrap(),
                },
            ],
        };
        let mails = receipt_mails(&r).unwrap();
        assert_eq!(mails.len(), 2);
        assert_eq!(
            mails[0].date,
            Some(Utc.with_ymd_and_hms(2018, 1, 10, 7, 0, 0).unwrap())
        );
        assert!(
            mails[0]
                .body
                .contains("- a.zip, ankommet 09.01.2018 10:00:00\n")
        );
        assert!(
            mails[0]
                .body
                .contains("- b.zip, ankommet 09.01.2018 23:00:00\n")
        );
        assert!(!mails[0].body.contains("c.zip"));
        assert_eq!(
            mails[1].date,
            Some(Utc.with_ymd_and_hms(2018, 1, 11, 7, 0, 0).unwrap())
        );
        assert!(
            receipt_mail(&Receipt {
                arrivals: vec![],
                ..r
            })
            .is_err()
        );
    }
}
