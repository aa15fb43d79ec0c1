//! The engine's calendar: instants on Oslo dates and working days (Norwegian holidays).

use anyhow::{Result, anyhow};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use iplos_model::calendar::{is_working_day, next_working_day_after, oslo_instant};

/// `hour`:00 plus `minute` minutes (any number) on an Oslo date, as UTC.
pub(crate) fn at_oslo(d: NaiveDate, hour: u32, minute: u32) -> Result<DateTime<Utc>> {
    let base = NaiveTime::from_hms_opt(hour, 0, 0).ok_or_else(|| anyhow!("bad hour"))?;
    let t = oslo_instant(d, base).ok_or_else(|| anyhow!("no Oslo instant for {d}"))?;
    Ok(t + Duration::minutes(i64::from(minute)))
}

/// `d` if it is a working day, else the first working day after it.
pub(crate) fn working_day_on_or_after(d: NaiveDate) -> NaiveDate {
    if is_working_day(d) {
        d
    } else {
        next_working_day_after(d).unwrap_or(d)
    }
}

/// The `days`-th working day (at least the first) after instant `t`'s Oslo date, at
/// `hour`:`minute` Oslo time.
pub(crate) fn next_working(
    t: DateTime<Utc>,
    days: u32,
    hour: u32,
    minute: u32,
) -> Result<DateTime<Utc>> {
    let mut d = iplos_model::calendar::oslo_date(t).ok_or_else(|| anyhow!("date of {t}"))?;
    for _ in 0..days.max(1) {
        d = next_working_day_after(d).ok_or_else(|| anyhow!("no working day after {d}"))?;
    }
    at_oslo(d, hour, minute)
}

/// 14:00 Oslo on the Friday of `t`'s week (on the day itself at a weekend).
pub(crate) fn friday_of(t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    use chrono::Datelike;
    let d = iplos_model::calendar::oslo_date(t).ok_or_else(|| anyhow!("date"))?;
    let offset = 4 - i64::from(d.weekday().num_days_from_monday());
    at_oslo(d + Duration::days(offset.max(0)), 14, 0)
}

/// An instant as Oslo civil time, `YYYY-MM-DD HH:MM`.
pub(crate) fn oslo(t: DateTime<Utc>) -> String {
    iplos_model::calendar::oslo_local(t)
        .map(|l| l.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| t.to_rfc3339())
}

