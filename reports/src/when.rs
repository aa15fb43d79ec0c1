//! Dates and times as people say them, in Norwegian time: every instant of a report is
//! shown in Europe/Oslo ("mandag 2. januar 2017 kl. 08:00"), never as a UTC timestamp.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike};
use iplos_model::calendar::OSLO;

use crate::i18n::Lang;

/// "mandag 2. januar 2017" / "Monday 2 January 2017".
pub fn day(d: NaiveDate, lang: Lang) -> String {
    lang.fill(
        "when.day",
        &[
            (
                "weekday",
                &lang.weekdays()[d.weekday().num_days_from_monday() as usize],
            ),
            ("day", &d.day()),
            ("month", &lang.months()[d.month0() as usize]),
            ("year", &d.year()),
        ],
    )
}

/// "2. januar" / "2 January".
pub fn day_short(d: NaiveDate, lang: Lang) -> String {
    lang.fill(
        "when.day_short",
        &[
            ("day", &d.day()),
            ("month", &lang.months()[d.month0() as usize]),
        ],
    )
}

/// The instant in Oslo: its local date and `HH:MM`.
pub fn oslo<Z: TimeZone>(t: &DateTime<Z>) -> (NaiveDate, String) {
    let l = t.with_timezone(&OSLO);
    (l.date_naive(), format!("{:02}:{:02}", l.hour(), l.minute()))
}

/// "mandag 2. januar 2017 kl. 08:00" / "Monday 2 January 2017, 08:00" (Oslo time).
pub fn at<Z: TimeZone>(t: &DateTime<Z>, lang: Lang) -> String {
    let (d, hm) = oslo(t);
    lang.fill("when.at", &[("day", &day(d, lang)), ("time", &hm)])
}

/// A compact Oslo time for lists: "2. januar kl. 08:00".
pub fn at_short<Z: TimeZone>(t: &DateTime<Z>, lang: Lang) -> String {
    let (d, hm) = oslo(t);
    lang.fill("when.at", &[("day", &day_short(d, lang)), ("time", &hm)])
}

/// The Oslo date as ISO `YYYY-MM-DD` (for `<time datetime>` and CSV).
pub fn iso_day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times_in_oslo() {
        let d = NaiveDate::from_ymd_opt(2017, 1, 2).unwrap();
        assert_eq!(day(d, Lang::Nb), "mandag 2. januar 2017");
        assert_eq!(day(d, Lang::En), "Monday 2 January 2017");
        let t = DateTime::parse_from_rfc3339("2017-01-03T07:00:00Z").unwrap();
        assert_eq!(at(&t, Lang::Nb), "tirsdag 3. januar 2017 kl. 08:00");
        let summer = DateTime::parse_from_rfc3339("2017-06-15T06:30:00Z").unwrap();
        assert_eq!(at_short(&summer, Lang::En), "15 June, 08:30");
    }
}
