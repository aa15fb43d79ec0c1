//! Sending again: after IT (or NHN) fixed what kept the kommune from the endpoint, after
//! a rejected file, and the kommune's own corrections after the feedback.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use iplos_model::calendar::next_working_day_after;

use crate::engine::days::{at_oslo, next_working, working_day_on_or_after};
use crate::engine::queue::{Ev, Kind, Queue};
use crate::engine::world::{Agent, EngineConfig};
use crate::scenario::{Fault, PhaseId};

/// IT (or NHN) fixes what kept the kommune from the endpoint; it tries again then.
pub(crate) fn retry_after_fix(
    cfg: &EngineConfig,
    a: &Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
) -> Result<()> {
    q.push(
        next_working(
            t,
            cfg.scenario.rehearsal.it_fix_working_days,
            8,
            a.plan.minute,
        )?,
        Ev::Submit(i, kind),
    );
    Ok(())
}

/// What a kommune does after a file was taken in (or rejected).
pub(crate) fn after_sent(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
    rejected: bool,
) -> Result<()> {
    match kind {
        Kind::Ordinary => {
            if rejected {
                a.needs_resend = true;
                for f in [Fault::DefectiveExport, Fault::OldKommunenummer] {
                    if a.plan.has(f) {
                        a.cause(kind.phase(), f);
                        a.cause("corrections", f);
                    }
                }
            }
        }
        Kind::Correction => {
            if a.needs_resend && !rejected {
                a.needs_resend = false;
                // The kommune's own corrections follow, when it knows of mistakes.
                a.has_corrections = a.plan.registration_mistakes;
                if a.has_corrections {
                    schedule_corrections(cfg, a, i, q, t)?;
                }
            } else if !a.needs_resend {
                // Sent what it had to correct.
                a.has_corrections = false;
            }
        }
        Kind::Test => {}
    }
    Ok(())
}

/// After reading the ordinary feedback the kommune sends what it must correct.
pub(crate) fn after_feedback(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    test: bool,
) -> Result<()> {
    if test {
        return Ok(());
    }
    // Something to correct: the feilliste's error rows, or mistakes the kommune knows of.
    a.has_corrections = a.feilliste_errors > 0 || a.plan.registration_mistakes;
    if (a.needs_resend || a.has_corrections) && !a.corrections_scheduled {
        a.corrections_scheduled = true;
        schedule_corrections(cfg, a, i, q, t)?;
    }
    Ok(())
}

/// Schedules the kommune's corrections: a few working days after `t` within the
/// corrections window, or after it when `late_correction` strikes.
fn schedule_corrections(
    cfg: &EngineConfig,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
) -> Result<()> {
    let Some(p) = cfg.scenario.phase(PhaseId::Corrections) else {
        return Ok(());
    };
    let late = a.plan.has(Fault::LateCorrection);
    let day = if late {
        next_working_day_after(p.last_day).unwrap_or(p.last_day)
    } else {
        correction_day(
            iplos_model::calendar::oslo_date(t).unwrap_or(p.first_day),
            a.plan.correction_days,
            p.first_day,
            p.last_day,
        )
    };
    let at = at_oslo(working_day_on_or_after(day), 8, a.plan.minute)?.max(t + Duration::minutes(1));
    if late {
        a.cause("corrections", Fault::LateCorrection);
    }
    q.push(at, Ev::Submit(i, Kind::Correction));
    Ok(())
}

/// The day corrections go: `days` working days after `read`, within `first..=last`.
pub(crate) fn correction_day(
    read: chrono::NaiveDate,
    days: u32,
    first: chrono::NaiveDate,
    last: chrono::NaiveDate,
) -> chrono::NaiveDate {
    let mut d = read;
    for _ in 0..days.max(1) {
        d = next_working_day_after(d).unwrap_or(d);
    }
    d.min(last).max(first)
}
