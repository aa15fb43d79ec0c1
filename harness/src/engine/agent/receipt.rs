//! The contact looks for SSB's receipt (Sendemodul years: an e-mail at 08:00 the first
//! working day after arrival).

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};

use crate::engine::days::oslo;
use crate::engine::queue::Kind;
use crate::engine::world::{Agent, RECEIPT, World};
use crate::scenario::Fault;

/// The contact looks for the receipt of the kommune's latest ordinary arrival (event
/// `CheckReceipt`, 08:30 on the day it is due).
pub(crate) async fn check_receipt(w: &World, a: &mut Agent, t: DateTime<Utc>) -> Result<()> {
    if a.receipt.is_some() {
        return Ok(());
    }
    let Some(last) = a.sent.iter().rfind(|s| s.kind != Kind::Test).cloned() else {
        return Ok(());
    };
    let due =
        iplos_model::calendar::receipt_time(last.arrived).ok_or_else(|| anyhow!("receipt time"))?;
    let mails = w.mailbox.list(&a.plan.contact).await?;
    let mut found = None;
    for m in &mails {
        if m.subject.contains("Kvittering") {
            found = Some(m.id);
        }
    }
    if a.plan.has(Fault::NoReceipt) {
        // The receipt is in the mailbox's spam folder: the contact does not see it.
        found = None;
    }
    match found {
        Some(id) => {
            a.read.insert(id);
            a.note(
                t,
                "receipt-read",
                format!("SSB's receipt (due {})", oslo(due)),
            );
            a.receipt = Some(Some(due));
        }
        None => {
            a.note(
                t,
                "no-receipt",
                "no receipt by 08:00 the working day after: the contact asks SSB",
            );
            a.receipt = Some(None);
            if a.plan.has(Fault::NoReceipt) {
                a.cause(RECEIPT, Fault::NoReceipt);
            }
        }
    }
    Ok(())
}
