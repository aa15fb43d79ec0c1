//! A submission through Sendemodul: the login, the upload, the receipt page.

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Duration, Utc};

use super::corrections::after_sent;
use super::export::file_for;
use crate::client;
use crate::engine::days::next_working;
use crate::engine::queue::{Ev, Kind, Queue};
use crate::engine::world::{Agent, EngineConfig, Sent, World};
use crate::scenario::Fault;

/// A submission through Sendemodul (or SendemodulTEST): log in, upload, read what SSB
/// stored.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn submit(
    cfg: &EngineConfig,
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
) -> Result<()> {
    let path = if kind == Kind::Test {
        "/SendemodulTEST"
    } else {
        "/Sendemodul"
    };
    let channel = if kind == Kind::Test {
        iplos_mocks::intake::Channel::Test
    } else {
        iplos_mocks::intake::Channel::Ordinary
    };
    if w.recovering()
        && let Some(done) = w
            .intake()?
            .submissions_of(&a.plan.knr, channel)?
            .into_iter()
            .find(|x| x.arrived == t)
    {
        // The upload got through before the run was killed.
        a.login_fixed = true;
        let bytes_len = done.size as usize;
        let name = done.file_name.clone();
        let _ = file_for(cfg, a, kind)?;
        return record_upload(cfg, a, i, q, t, kind, path, &name, bytes_len, done);
    }
    let pin = w.sendemodul()?.pin(&a.plan.knr);
    let (mut knr, mut bydel, mut orgnr, mut pin_used) = (
        a.plan.knr.clone(),
        a.plan.bydel.clone(),
        a.plan.orgnr.clone(),
        pin.clone(),
    );
    let mut wrong = None;
    if !a.login_fixed {
        if a.plan.has(Fault::WrongPin) {
            pin_used = format!("{:06}", (pin.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
            wrong = Some(Fault::WrongPin);
        } else if a.plan.has(Fault::WrongOrgnr) {
            orgnr = "974760673".into();
            wrong = Some(Fault::WrongOrgnr);
        } else if a.plan.has(Fault::WrongBydel) {
            bydel = String::new();
            wrong = Some(Fault::WrongBydel);
        }
    }
    let _ = &mut knr;
    let base = w.sendemodul()?.base_url().to_string();
    let login = w
        .http
        .post(format!("{base}{path}/login"))
        .form(&[
            ("kommunenr", knr.as_str()),
            ("bydel", bydel.as_str()),
            ("orgnr", orgnr.as_str()),
            ("pin", pin_used.as_str()),
        ])
        .send()
        .await
        .context("Sendemodul login")?;
    let status = login.status();
    let mut jar = client::cookies(&login);
    if !(status.is_success() || status.is_redirection()) || jar.is_empty() {
        a.note(
            t,
            "login-refused",
            format!(
                "Sendemodul{} answered {status}",
                if kind == Kind::Test { "TEST" } else { "" }
            ),
        );
        if let Some(f) = wrong {
            a.login_fixed = true;
            a.note(t, "fault", f.title());
            a.cause(kind.phase(), f);
            // The contact phones SSB and gets the right PIN: a new try two hours later,
            // or at the next working moment.
            q.push(
                crate::engine::agent::mail::working_moment(a, t + Duration::hours(2))?,
                Ev::Submit(i, kind),
            );
        } else {
            return Err(anyhow!(
                "{}: Sendemodul refused the right credentials ({status})",
                a.plan.knr
            ));
        }
        return Ok(());
    }
    a.login_fixed = true;
    let bytes = file_for(cfg, a, kind)?;
    let name = match kind {
        Kind::Test => format!("{}{}_iplos_test.xml", a.plan.knr, a.plan.bydel),
        Kind::Ordinary => format!("{}{}_iplos.xml", a.plan.knr, a.plan.bydel),
        Kind::Correction => format!("{}{}_iplos_rettet.xml", a.plan.knr, a.plan.bydel),
    };
    let size = bytes.len();
    let page = w
        .http
        .get(format!("{base}{path}/upload"))
        .header(reqwest::header::COOKIE, client::cookie_header(&jar))
        .send()
        .await
        .context("Sendemodul upload page")?;
    client::merge_cookies(&mut jar, client::cookies(&page));
    let html = page.text().await?;
    let csrf = client::input_value(&html, "csrf").unwrap_or_default();
    let group = client::input_value(&html, "gruppe").unwrap_or_else(|| format!("g{}", a.plan.knr));
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("gruppe", group)
        .text("del", "1")
        .text("antall_deler", "1")
        .text("epost", a.plan.contact.clone())
        .text("telefon", a.plan.phone.clone())
        .text("tilbakemeldingspassord", a.plan.feedback_key.clone())
        .part(
            "fil",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.clone())
                .mime_str("application/xml")?,
        );
    let resp = w
        .http
        .post(format!("{base}{path}/upload"))
        .header(reqwest::header::COOKIE, client::cookie_header(&jar))
        .multipart(form)
        .send()
        .await
        .context("Sendemodul upload")?;
    let st = resp.status();
    let _ = resp.text().await;
    if !st.is_success() {
        return Err(anyhow!("{}: Sendemodul upload answered {st}", a.plan.knr));
    }
    // What SSB stored (the kommune sees it on the receipt page).
    let latest = w
        .intake()?
        .submissions_of(&a.plan.knr, channel)?
        .into_iter()
        .max_by_key(|x| x.id.0)
        .ok_or_else(|| anyhow!("{}: the upload is not in the intake", a.plan.knr))?;
    record_upload(cfg, a, i, q, t, kind, path, &name, size, latest)
}

/// The kommune's side of a file SSB took in: the receipt page read, the receipt to look for.
#[allow(clippy::too_many_arguments)]
fn record_upload(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
    path: &str,
    name: &str,
    size: usize,
    latest: iplos_mocks::intake::SubmissionInfo,
) -> Result<()> {
    let summary = latest.summary;
    // Sendemodul era: SSB receives every file, even an incomplete one; what its check found
    // comes back in the feilliste in week 6. Only a test file is judged by its check here.
    let check_rejected = summary.as_ref().is_some_and(|s| s.rejected);
    let rejected = kind == Kind::Test && check_rejected;
    a.note(
        t,
        &format!("{}-submitted", kind.as_str()),
        format!(
            "{name} ({size} bytes) via {path}; {} errors, {} warnings{}",
            summary.as_ref().map_or(0, |s| s.errors),
            summary.as_ref().map_or(0, |s| s.warnings),
            if check_rejected && kind == Kind::Test {
                "; rejected"
            } else if check_rejected {
                "; received, the errors come back in the feilliste"
            } else {
                ""
            }
        ),
    );
    if kind == Kind::Ordinary && check_rejected {
        // The vendor fixes the export once the feilliste shows the errors; the fixed
        // complete file goes with the corrections and replaces this one.
        a.needs_resend = true;
        for f in [Fault::DefectiveExport, Fault::OldKommunenummer] {
            if a.plan.has(f) {
                a.cause("corrections", f);
            }
        }
    }
    if kind != Kind::Test {
        let checked = latest
            .report_json
            .as_deref()
            .and_then(|r| serde_json::from_str::<iplos_model::rules::CheckReport>(r).ok());
        a.count_findings(checked.as_ref());
    }
    a.sent.push(Sent {
        kind,
        arrived: latest.arrived,
        rejected,
        receipted: None,
    });
    if kind == Kind::Test
        && let Some(out) = crate::engine::ssb::publication_time(cfg, true)?
        && t >= out
    {
        // A test file after the test feedback was published gets its own the next
        // working day (seed 001: testing went on after week 42).
        q.push(next_working(t, 1, 9, 0)?, Ev::PublishFeedbackFor(i, true));
    }
    if kind != Kind::Test {
        // The contact looks for the receipt at 08:30 on the day it is due.
        q.push(
            latest.receipt_due + Duration::minutes(30),
            Ev::CheckReceipt(i),
        );
    }
    after_sent(cfg, a, i, q, t, kind, rejected)
}
