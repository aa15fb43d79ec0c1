//! Mail: postmottak forwards SSB's mail to the IPLOS contact; the contact reads it,
//! requests and uses the filsluse password link.

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Duration, Utc};

use super::feedback::{download_feedback, feedback_phase};
use crate::client::{self, LinkOutcome};
use crate::engine::days::next_working;
use crate::engine::queue::{Ev, Queue};
use crate::engine::world::{Agent, EngineConfig, World};
use crate::scenario::Fault;

/// Postmottak forwards the mail from SSB it has not forwarded yet to the IPLOS contact.
pub(crate) async fn postmottak(
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    urgent: bool,
) -> Result<()> {
    let phase = feedback_phase(a.waiting_feedback.unwrap_or(false));
    if !urgent {
        for f in [Fault::SpamFilter, Fault::PostmottakNever] {
            if a.plan.has(f) {
                a.cause(phase, f);
                return Ok(());
            }
        }
        if a.plan.has(Fault::PostmottakLate) {
            a.cause(phase, Fault::PostmottakLate);
        }
    }
    let mails = w.mailbox.list(&a.plan.postmottak).await?;
    // After a kill: what already reached the contact (each forward names its original).
    let mut already = String::new();
    if w.recovering() {
        for m in w.mailbox.list(&a.plan.contact).await? {
            already.push_str(&w.mailbox.text(m.id).await?.1);
        }
    }
    let mut any = false;
    for m in mails {
        if a.forwarded.contains(&m.id) {
            continue;
        }
        a.forwarded.insert(m.id);
        any = true;
        let marker = format!("Videresendt fra postmottak (melding {}).", m.id);
        if already.contains(&marker) {
            continue;
        }
        let (subject, text) = w.mailbox.text(m.id).await?;
        let fwd = iplos_mocks::mail::OutgoingMail {
            from: iplos_mocks::mail::MailAddress::new(a.plan.postmottak.clone()),
            to: vec![iplos_mocks::mail::MailAddress::new(a.plan.contact.clone())],
            subject: format!("VS: {subject}"),
            body: format!(
                "{marker}\n\n-------- Opprinnelig melding --------\nEmne: {subject}\n\n{text}"
            ),
            date: None,
            message_id: None,
        };
        w.outbox()?
            .send(&fwd)
            .await
            .context("forwarding from postmottak")?;
    }
    if any {
        a.note(
            t,
            "forwarded",
            "postmottak forwarded SSB's mail to the IPLOS contact",
        );
        // link_expired: the contact gets to the first link only after it has expired; a
        // new link is used at once.
        let delay = if a.plan.has(Fault::LinkExpired) && !a.password_set && a.links_requested <= 1 {
            61
        } else {
            10
        };
        q.push(t + Duration::minutes(delay), Ev::ContactMail(i));
    }
    Ok(())
}

/// The IPLOS contact reads new mail and acts on it.
pub(crate) async fn contact_mail(
    cfg: &EngineConfig,
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    if let Some(temp) = a.temp_password.take() {
        w.fs_client
            .token_changing(&a.plan.postmottak, &temp, &a.plan.filsluse_password)
            .await
            .context("signing on with SSB's temporary password")?;
        a.password_set = true;
        a.note(
            t,
            "password-set",
            "signed on with SSB's temporary password and changed it",
        );
        return download_feedback(cfg, w, a, i, q, t).await;
    }
    let mails = w.mailbox.list(&a.plan.contact).await?;
    let mut new_file = false;
    let mut link = None;
    for m in mails {
        if a.read.contains(&m.id) {
            continue;
        }
        a.read.insert(m.id);
        let (subject, text) = w.mailbox.text(m.id).await?;
        if subject.contains("New File") || text.contains("New File Available") {
            new_file = true;
        }
        if (subject.contains("Nytt passord") || subject.contains("passord"))
            && let Some(l) = client::link_containing(&text, "pxc=")
                .or_else(|| client::link_containing(&text, "token="))
        {
            link = Some(l);
        }
    }
    if let Some(l) = link {
        let outcome = if w.recovering()
            && w.fs_client
                .token(&a.plan.postmottak, &a.plan.filsluse_password)
                .await
                .is_ok()
        {
            // The link was used before the run was killed.
            LinkOutcome::PasswordSet
        } else {
            w.fs_client.use_link(&l, &a.plan.filsluse_password).await?
        };
        match outcome {
            LinkOutcome::PasswordSet => {
                a.password_set = true;
                a.note(t, "password-set", "filsluse password set through the link");
            }
            LinkOutcome::Refused(why) => {
                a.note(
                    t,
                    "link-refused",
                    format!("the password link was refused: {why}"),
                );
                let phase = feedback_phase(a.waiting_feedback.unwrap_or(false));
                if a.plan.has(Fault::LinkExpired) {
                    a.cause(phase, Fault::LinkExpired);
                }
                if a.links_requested >= MAX_LINKS {
                    // [model] Enough links: the contact phones SSB, which sets a temporary
                    // password (as for a feedback that never came).
                    a.note(
                        t,
                        "contacted-ssb",
                        "the password links keep failing: the contact asks SSB",
                    );
                    q.push(working_moment(a, t)?, Ev::ContactSsb(i));
                    return Ok(());
                }
                // One new link at the next working moment; postmottak is phoned to forward
                // it at once and the contact uses it at once.
                q.push(working_moment(a, t)?, Ev::RequestLink(i));
                return Ok(());
            }
        }
    }
    if (new_file || a.password_set) && a.waiting_feedback.is_some() {
        if !a.password_set {
            request_link(w, a).await?;
            a.note(t, "link-requested", "New User Password Request on filsluse");
            q.push(forward_time(cfg, a, t)?, Ev::Postmottak(i, false));
            return Ok(());
        }
        download_feedback(cfg, w, a, i, q, t).await?;
    }
    Ok(())
}

/// The most password links a kommune requests in a season before it asks SSB instead.
pub(crate) const MAX_LINKS: u32 = 3;

/// The contact asks for a new password link after one was refused, and phones postmottak
/// to forward it at once (event `RequestLink`, at a working moment).
pub(crate) async fn request_new_link(
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    if a.password_set || a.waiting_feedback.is_none() {
        return Ok(());
    }
    request_link(w, a).await?;
    a.note(
        t,
        "link-requested",
        "new password link requested; postmottak asked to forward it at once",
    );
    q.push(t + Duration::minutes(5), Ev::Postmottak(i, true));
    Ok(())
}

/// `t` if it falls in working hours (08:00–15:30 Oslo on a working day), else 08:00 plus
/// the kommune's minutes (at most an hour) the next working day.
pub(crate) fn working_moment(a: &Agent, t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    use chrono::Timelike;
    let local = iplos_model::calendar::oslo_local(t).ok_or_else(|| anyhow!("Oslo time of {t}"))?;
    let minutes = local.hour() * 60 + local.minute();
    if iplos_model::calendar::is_working_day(local.date()) && (480..930).contains(&minutes) {
        return Ok(t);
    }
    let first = if minutes < 480 && iplos_model::calendar::is_working_day(local.date()) {
        crate::engine::days::at_oslo(local.date(), 8, a.plan.minute % 60)?
    } else {
        next_working(t, 1, 8, a.plan.minute % 60)?
    };
    Ok(first)
}

/// "New User Password Request" for the kommune's user — unless, after a kill, the link
/// mail it asked for is already waiting in postmottak.
async fn request_link(w: &World, a: &mut Agent) -> Result<()> {
    a.links_requested += 1;
    if w.recovering() {
        for m in w.mailbox.list(&a.plan.postmottak).await? {
            if !a.forwarded.contains(&m.id) && m.subject.contains("passord") {
                return Ok(());
            }
        }
    }
    w.fs_client.request_link(&a.plan.postmottak).await?;
    w.flush().await
}

/// When postmottak forwards a mail that arrived at `t`.
pub(crate) fn forward_time(
    cfg: &EngineConfig,
    a: &Agent,
    t: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    if a.plan.has(Fault::PostmottakLate) {
        next_working(t, 1, 9, 0)
    } else {
        Ok(t + Duration::minutes(i64::from(cfg.scenario.rehearsal.forward_minutes)))
    }
}
