//! The national side's jobs: SSB's 08:00 receipts, and the feedback published on
//! filsluse (SSB's from its intake; the register's built from its verdicts).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::agent::export::make_file;
use super::agent::mail::forward_time;
use super::days::{at_oslo, friday_of, working_day_on_or_after};
use super::queue::{Ev, Queue};
use super::world::{Agent, Channel, EngineConfig, World};
use crate::scenario::PhaseId;

/// SSB sends the receipts owed (event `SendReceipts`, 08:00 every working day; Sendemodul
/// years).
pub(crate) async fn send_receipts(w: &World, t: DateTime<Utc>) -> Result<()> {
    if let Channel::Sendemodul = &w.channel {
        let run = w.intake()?.send_due_receipts(w.outbox()?, t).await?;
        for (ids, why) in &run.failed {
            tracing::warn!(?ids, why, "receipt not sent");
        }
    }
    Ok(())
}

/// The feedback (`test`: the test feedback) is published for every kommune with files
/// (event `PublishFeedback`).
pub(crate) async fn publish_feedback(
    cfg: &EngineConfig,
    w: &World,
    agents: &mut [Agent],
    q: &mut Queue,
    t: DateTime<Utc>,
    test: bool,
) -> Result<()> {
    let Channel::Sendemodul = &w.channel else {
        return publish_servicebus_feedback(cfg, w, agents, q, t).await;
    };
    for (i, a) in agents.iter_mut().enumerate() {
        publish_one(cfg, w, a, i, q, t, test).await?;
    }
    Ok(())
}

/// SSB publishes one kommune's feedback from its intake (Sendemodul years; event
/// `PublishFeedbackFor` for a test file that came after the test feedback was out).
pub(crate) async fn publish_one(
    cfg: &EngineConfig,
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    test: bool,
) -> Result<()> {
    let channel = if test {
        iplos_mocks::intake::Channel::Test
    } else {
        iplos_mocks::intake::Channel::Ordinary
    };
    let Some(input) = iplos_mocks::national::feedback_from_intake(
        w.intake()?,
        &a.plan.knr,
        &a.plan.name,
        cfg.scenario.season.data_year,
        channel,
        &cfg.scenario.season.test_feedback_key,
    )?
    else {
        return Ok(());
    };
    if !w.already_published(&a.plan.postmottak, &input.file_name())? {
        iplos_mocks::feedback::publish(w.filsluse()?, &a.plan.postmottak, &input)
            .with_context(|| format!("publishing the feedback of {}", a.plan.knr))?;
        w.flush().await?;
    }
    published(cfg, a, i, q, t, test)
}

/// When SSB publishes the feedback of a phase (09:00 on its first working day).
pub(crate) fn publication_time(cfg: &EngineConfig, test: bool) -> Result<Option<DateTime<Utc>>> {
    let id = if test {
        PhaseId::TestFeedback
    } else {
        PhaseId::Feedback
    };
    cfg.scenario
        .phase(id)
        .map(|p| at_oslo(working_day_on_or_after(p.first_day), 9, 0))
        .transpose()
}

/// The feedback is on filsluse and its mail in postmottak: postmottak will forward it, and
/// without feedback by Friday of the feedback week the contact asks SSB.
fn published(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    test: bool,
) -> Result<()> {
    a.note(
        t,
        "feedback-published",
        if test {
            "test feedback on filsluse"
        } else {
            "feedback on filsluse"
        },
    );
    a.waiting_feedback = Some(test);
    q.push(forward_time(cfg, a, t)?, Ev::Postmottak(i, false));
    q.push(friday_of(t)?, Ev::ContactSsb(i));
    Ok(())
}

/// \[model\] Service bus seasons: the register's feedback goes to filsluse as in the SSB
/// years, built from the verdicts in the run store and the content the kommune sent (the
/// receiver keeps no decrypted copy), with the kommune's own key.
async fn publish_servicebus_feedback(
    cfg: &EngineConfig,
    w: &World,
    agents: &mut [Agent],
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    use iplos_mocks::feedback::{Content, FeedbackFile, FeedbackInput};
    for (i, a) in agents.iter_mut().enumerate() {
        if a.sent_files.is_empty() {
            continue;
        }
        let mut input = FeedbackInput::ordinary(
            &a.plan.knr,
            &a.plan.name,
            cfg.scenario.season.data_year,
            &a.plan.feedback_key,
        );
        for f in &a.sent_files {
            let report: iplos_model::rules::CheckReport = match &f.report {
                Some(r) => serde_json::from_str(r).context("a verdict's check report")?,
                None => Default::default(),
            };
            let (bytes, _) = make_file(cfg, &a.plan, f.kind, f.resend, f.fixed)?;
            input = input.with_file(FeedbackFile::new(
                f.name.clone(),
                f.arrived,
                report,
                Content::Bytes(bytes),
            ));
        }
        if !w.already_published(&a.plan.postmottak, &input.file_name())? {
            iplos_mocks::feedback::publish(w.filsluse()?, &a.plan.postmottak, &input)
                .with_context(|| format!("publishing the feedback of {}", a.plan.knr))?;
            w.flush().await?;
        }
        published(cfg, a, i, q, t, false)?;
    }
    Ok(())
}
