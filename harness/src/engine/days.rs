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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn oslo_instants_follow_summer_and_winter_time() {
        assert_eq!(
            at_oslo(date(2018, 1, 2), 8, 17).unwrap(),
            utc(2018, 1, 2, 7, 17)
        );
        assert_eq!(
            at_oslo(date(2017, 10, 16), 8, 0).unwrap(),
            utc(2017, 10, 16, 6, 0)
        );
        // The minutes of a plan may pass the hour.
        assert_eq!(
            at_oslo(date(2018, 1, 2), 8, 90).unwrap(),
            utc(2018, 1, 2, 8, 30)
        );
        assert!(at_oslo(date(2018, 1, 2), 24, 0).is_err());
        assert_eq!(oslo(utc(2017, 10, 16, 6, 30)), "2017-10-16 08:30");
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        // A working day is itself.
        assert_eq!(working_day_on_or_after(date(2018, 1, 2)), date(2018, 1, 2));
        // New Year's Day, a Monday.
        assert_eq!(working_day_on_or_after(date(2018, 1, 1)), date(2018, 1, 2));
        // Saturday.
        assert_eq!(working_day_on_or_after(date(2018, 1, 6)), date(2018, 1, 8));
        // Maundy Thursday to Easter Monday 2018.
        assert_eq!(working_day_on_or_after(date(2018, 3, 29)), date(2018, 4, 3));
    }

    #[test]
    fn next_working_counts_working_days_from_the_oslo_date() {
        // Friday afternoon: one working day later is Monday.
        let friday = utc(2018, 1, 5, 14, 0);
        assert_eq!(
            next_working(friday, 1, 8, 5).unwrap(),
            utc(2018, 1, 8, 7, 5)
        );
        // Zero counts as one: never the same day.
        assert_eq!(
            next_working(friday, 0, 8, 5).unwrap(),
            utc(2018, 1, 8, 7, 5)
        );
        // Three working days: Monday, Tuesday, Wednesday.
        assert_eq!(
            next_working(friday, 3, 9, 0).unwrap(),
            utc(2018, 1, 10, 8, 0)
        );
        // Sunday 23:30 UTC is already Monday in Oslo: the next working day is Tuesday.
        assert_eq!(
            next_working(utc(2018, 1, 7, 23, 30), 1, 9, 0).unwrap(),
            utc(2018, 1, 9, 8, 0)
        );
        // Over Easter 2018.
        assert_eq!(
            next_working(utc(2018, 3, 28, 12, 0), 1, 9, 0).unwrap(),
            utc(2018, 4, 3, 7, 0)
        );
    }

    #[test]
    fn friday_of_the_week_at_two() {
        // Wednesday of week 6, 2018.
        assert_eq!(
            friday_of(utc(2018, 2, 7, 8, 0)).unwrap(),
            utc(2018, 2, 9, 13, 0)
        );
        // Friday itself, after 14:00: the same day.
        assert_eq!(
            friday_of(utc(2018, 2, 9, 15, 0)).unwrap(),
            utc(2018, 2, 9, 13, 0)
        );
        // Saturday: that day (the week's Friday is past).
        assert_eq!(
            friday_of(utc(2018, 2, 10, 8, 0)).unwrap(),
            utc(2018, 2, 10, 13, 0)
        );
    }
}
