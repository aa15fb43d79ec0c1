//! Behaviour of `iplos_model::calendar`: holidays, working days, receipt times, ISO weeks,
//! seasons and clocks.
//!
//! Every expected date in the tables below was worked out by hand from the Easter dates
//! and weekdays (reasoning in the comments) and cross-checked with an independent
//! implementation (Python's `dateutil.easter` and `zoneinfo`); none comes from the code
//! under test.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};
use iplos_model::calendar::{
    Channel, Clock, ClockError, OSLO, PhaseKind, Season, ShiftedClock, SystemClock, VirtualClock,
    easter_sunday, holiday_name, holidays, is_holiday, is_working_day, iso_week_dates,
    next_working_day_after, oslo_date, receipt_time,
};
use proptest::prelude::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------------
// Easter and holidays
// ---------------------------------------------------------------------------------------

/// Easter Sundays 2016–2026 (from the brief, checked against `dateutil.easter`).
const EASTER: [(i32, &str); 11] = [
    (2016, "2016-03-27"),
    (2017, "2017-04-16"),
    (2018, "2018-04-01"),
    (2019, "2019-04-21"),
    (2020, "2020-04-12"),
    (2021, "2021-04-04"),
    (2022, "2022-04-17"),
    (2023, "2023-04-09"),
    (2024, "2024-03-31"),
    (2025, "2025-04-20"),
    (2026, "2026-04-05"),
];

#[test]
fn easter_sundays_2016_to_2026() {
    for (year, date) in EASTER {
        assert_eq!(easter_sunday(year), Some(d(date)), "{year}");
    }
}

#[test]
fn easter_extremes() {
    // The earliest and latest possible Easter dates.
    assert_eq!(easter_sunday(1818), Some(d("1818-03-22")));
    assert_eq!(easter_sunday(2285), Some(d("2285-03-22")));
    assert_eq!(easter_sunday(1943), Some(d("1943-04-25")));
    assert_eq!(easter_sunday(2038), Some(d("2038-04-25")));
}

/// The movable holidays per year, worked out by hand from Easter Sunday E:
/// Maundy Thursday E−3, Good Friday E−2, Easter Monday E+1, Ascension E+39,
/// Whit Sunday E+49, Whit Monday E+50.
/// (year, Maundy Thursday, Good Friday, Easter Monday, Ascension, Whit Sunday, Whit Monday)
const MOVABLE: [(i32, [&str; 6]); 11] = [
    // E = 27 Mar; Mar 31 = E+4, Apr 30 = E+34, so E+39 = 5 May.
    (
        2016,
        [
            "2016-03-24",
            "2016-03-25",
            "2016-03-28",
            "2016-05-05",
            "2016-05-15",
            "2016-05-16",
        ],
    ),
    // E = 16 Apr; Apr 30 = E+14, so E+39 = 25 May; May 31 = E+45, E+49 = 4 Jun.
    (
        2017,
        [
            "2017-04-13",
            "2017-04-14",
            "2017-04-17",
            "2017-05-25",
            "2017-06-04",
            "2017-06-05",
        ],
    ),
    // E = 1 Apr; Apr 30 = E+29, so E+39 = 10 May.
    (
        2018,
        [
            "2018-03-29",
            "2018-03-30",
            "2018-04-02",
            "2018-05-10",
            "2018-05-20",
            "2018-05-21",
        ],
    ),
    // E = 21 Apr; Apr 30 = E+9, so E+39 = 30 May; E+49 = 9 Jun.
    (
        2019,
        [
            "2019-04-18",
            "2019-04-19",
            "2019-04-22",
            "2019-05-30",
            "2019-06-09",
            "2019-06-10",
        ],
    ),
    // E = 12 Apr; Apr 30 = E+18, so E+39 = 21 May; E+49 = 31 May.
    (
        2020,
        [
            "2020-04-09",
            "2020-04-10",
            "2020-04-13",
            "2020-05-21",
            "2020-05-31",
            "2020-06-01",
        ],
    ),
    // E = 4 Apr; Apr 30 = E+26, so E+39 = 13 May.
    (
        2021,
        [
            "2021-04-01",
            "2021-04-02",
            "2021-04-05",
            "2021-05-13",
            "2021-05-23",
            "2021-05-24",
        ],
    ),
    // E = 17 Apr; Apr 30 = E+13, so E+39 = 26 May; E+49 = 5 Jun.
    (
        2022,
        [
            "2022-04-14",
            "2022-04-15",
            "2022-04-18",
            "2022-05-26",
            "2022-06-05",
            "2022-06-06",
        ],
    ),
    // E = 9 Apr; Apr 30 = E+21, so E+39 = 18 May.
    (
        2023,
        [
            "2023-04-06",
            "2023-04-07",
            "2023-04-10",
            "2023-05-18",
            "2023-05-28",
            "2023-05-29",
        ],
    ),
    // E = 31 Mar; Apr 30 = E+30, so E+39 = 9 May.
    (
        2024,
        [
            "2024-03-28",
            "2024-03-29",
            "2024-04-01",
            "2024-05-09",
            "2024-05-19",
            "2024-05-20",
        ],
    ),
    // E = 20 Apr; Apr 30 = E+10, so E+39 = 29 May; E+49 = 8 Jun.
    (
        2025,
        [
            "2025-04-17",
            "2025-04-18",
            "2025-04-21",
            "2025-05-29",
            "2025-06-08",
            "2025-06-09",
        ],
    ),
    // E = 5 Apr; Apr 30 = E+25, so E+39 = 14 May.
    (
        2026,
        [
            "2026-04-02",
            "2026-04-03",
            "2026-04-06",
            "2026-05-14",
            "2026-05-24",
            "2026-05-25",
        ],
    ),
];

#[test]
fn holidays_2016_to_2026() {
    for ((year, movable), (easter_year, easter)) in MOVABLE.iter().zip(EASTER) {
        assert_eq!(*year, easter_year);
        let [
            maundy,
            good_friday,
            easter_monday,
            ascension,
            whit_sunday,
            whit_monday,
        ] = *movable;
        let mut expected = vec![
            (d(&format!("{year}-01-01")), "Første nyttårsdag"),
            (d(maundy), "Skjærtorsdag"),
            (d(good_friday), "Langfredag"),
            (d(easter), "Første påskedag"),
            (d(easter_monday), "Andre påskedag"),
            (d(&format!("{year}-05-01")), "Arbeidernes dag"),
            (d(&format!("{year}-05-17")), "Grunnlovsdag"),
            (d(ascension), "Kristi himmelfartsdag"),
            (d(whit_sunday), "Første pinsedag"),
            (d(whit_monday), "Andre pinsedag"),
            (d(&format!("{year}-12-25")), "Første juledag"),
            (d(&format!("{year}-12-26")), "Andre juledag"),
        ];
        expected.sort();
        let got = holidays(*year);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "{year}: sorted");
        let mut got_sorted = got.clone();
        got_sorted.sort();
        assert_eq!(got_sorted, expected, "{year}");
        for (date, name) in &expected {
            assert!(is_holiday(*date), "{date}");
            assert!(!is_working_day(*date), "{date}");
            assert_eq!(holiday_name(*date), Some(*name), "{date}");
        }
        // Maundy Thursday is a Thursday, Ascension a Thursday, Whit Monday a Monday.
        assert_eq!(d(maundy).weekday(), Weekday::Thu);
        assert_eq!(d(ascension).weekday(), Weekday::Thu);
        assert_eq!(d(whit_monday).weekday(), Weekday::Mon);
    }
}

#[test]
fn coinciding_holidays_keep_both_entries() {
    // 2008: Easter 23 March, Ascension = 1 May.
    let h = holidays(2008);
    let first_may: Vec<_> = h
        .iter()
        .filter(|(date, _)| *date == d("2008-05-01"))
        .collect();
    assert_eq!(first_may.len(), 2);
    assert!(is_holiday(d("2008-05-01")));
}

#[test]
fn working_days() {
    for (date, working) in [
        ("2018-03-28", true),  // Wednesday before Easter
        ("2018-03-29", false), // Skjærtorsdag
        ("2018-03-31", false), // Saturday
        ("2018-04-03", true),  // Tuesday after Easter
        ("2018-12-24", true),  // Christmas Eve (a Monday) is a working day
        ("2018-12-31", true),  // New Year's Eve (a Monday) is a working day
        ("2019-01-01", false),
        ("2017-05-17", false), // Wednesday, Grunnlovsdag
        ("2017-05-18", true),
        ("2016-05-17", false), // Tuesday after Whit Monday
        ("2023-05-19", true),  // Friday after Ascension (17 and 18 May were holidays)
        ("2020-05-01", false), // Friday, 1 May
        ("2016-10-17", true),
    ] {
        assert_eq!(is_working_day(d(date)), working, "{date}");
    }
}

#[test]
fn next_working_day_examples() {
    for (from, to) in [
        ("2018-03-28", "2018-04-03"),
        ("2018-03-29", "2018-04-03"),
        ("2018-01-12", "2018-01-15"), // Friday → Monday
        ("2016-05-13", "2016-05-18"), // Friday before Whitsun 2016 → past 17 May
        ("2023-05-16", "2023-05-19"),
        ("2020-12-31", "2021-01-04"),
    ] {
        assert_eq!(next_working_day_after(d(from)), Some(d(to)), "{from}");
    }
    assert_eq!(next_working_day_after(NaiveDate::MAX), None);
}

// ---------------------------------------------------------------------------------------
// Receipts
// ---------------------------------------------------------------------------------------

#[test]
fn maundy_thursday_2018_receipt_on_tuesday_after_easter() {
    // The brief's example: Thursday 29 March 2018 → Tuesday 3 April 2018 08:00 Oslo
    // (CEST, UTC+2) = 06:00 UTC.
    let r = receipt_time(t("2018-03-29T10:00:00Z")).expect("in range");
    assert_eq!(r, t("2018-04-03T06:00:00Z"));
    let local = r.with_timezone(&OSLO);
    assert_eq!(local.date_naive(), d("2018-04-03"));
    assert_eq!((local.hour(), local.minute(), local.second()), (8, 0, 0));
}

#[test]
fn receipt_examples_with_explicit_instants() {
    for (arrival, receipt, why) in [
        (
            "2018-03-28T22:30:00Z",
            "2018-04-03T06:00:00Z",
            "00:30 CEST on Maundy Thursday",
        ),
        (
            "2018-01-12T10:00:00Z",
            "2018-01-15T07:00:00Z",
            "Friday → Monday 08:00 CET",
        ),
        (
            "2018-01-12T22:59:59Z",
            "2018-01-15T07:00:00Z",
            "Friday 23:59:59 CET → Monday",
        ),
        (
            "2019-01-08T22:59:00Z",
            "2019-01-09T07:00:00Z",
            "Tuesday 23:59 CET → Wednesday",
        ),
        (
            "2019-01-08T23:30:00Z",
            "2019-01-10T07:00:00Z",
            "already Wednesday 00:30 in Oslo → Thursday, though still Tuesday in UTC",
        ),
        (
            "2018-06-12T22:30:00Z",
            "2018-06-14T06:00:00Z",
            "Wednesday 00:30 CEST → Thursday 08:00 CEST",
        ),
        // Spring DST change, Sunday 25 March 2018 02:00 CET → 03:00 CEST.
        (
            "2018-03-23T10:00:00Z",
            "2018-03-26T06:00:00Z",
            "Friday in CET → Monday 08:00 CEST",
        ),
        (
            "2018-03-24T22:30:00Z",
            "2018-03-26T06:00:00Z",
            "Saturday 23:30 CET",
        ),
        (
            "2018-03-25T00:30:00Z",
            "2018-03-26T06:00:00Z",
            "Sunday 01:30 CET, before the switch",
        ),
        (
            "2018-03-25T01:30:00Z",
            "2018-03-26T06:00:00Z",
            "Sunday 03:30 CEST, after the switch",
        ),
        // Autumn DST change, Sunday 28 October 2018 03:00 CEST → 02:00 CET.
        (
            "2018-10-26T10:00:00Z",
            "2018-10-29T07:00:00Z",
            "Friday in CEST → Monday 08:00 CET",
        ),
        (
            "2018-10-28T00:30:00Z",
            "2018-10-29T07:00:00Z",
            "02:30 CEST, first pass",
        ),
        (
            "2018-10-28T01:30:00Z",
            "2018-10-29T07:00:00Z",
            "02:30 CET, second pass",
        ),
        // Week 42 test submissions (Sendemodul years).
        (
            "2016-10-21T12:00:00Z",
            "2016-10-24T06:00:00Z",
            "Friday of week 42 2016 → Monday (CEST until 30 October)",
        ),
        (
            "2016-10-28T12:00:00Z",
            "2016-10-31T07:00:00Z",
            "Friday 28 October 2016 → Monday 31 October (CET from 30 October)",
        ),
    ] {
        assert_eq!(
            receipt_time(t(arrival)),
            Some(t(receipt)),
            "{arrival}: {why}"
        );
    }
}

/// Per year: (arrival date, expected receipt date), arrivals at 10:00 UTC (11:00 or 12:00
/// in Oslo). Worked out from the holiday table and these weekdays of 17 May and 25 Dec:
///
/// | year | 17 May | 25 Dec |
/// |------|--------|--------|
/// | 2016 | Tue | Sun |  2017 | Wed | Mon |  2018 | Thu | Tue |  2019 | Fri | Wed |
/// | 2020 | Sun | Fri |  2021 | Mon | Sat |  2022 | Tue | Sun |  2023 | Wed | Mon |
/// | 2024 | Fri | Wed |  2025 | Sat | Thu |  2026 | Sun | Fri |
///
/// Columns: Wednesday before Easter → Tuesday after; Wednesday before Ascension → Friday
/// after; Friday before Whitsun → Tuesday after Whit Monday (Wednesday in 2016, when that
/// Tuesday is 17 May); 16 May → next working day; 23 Dec, 24 Dec and 31 Dec → next working
/// day.
const RECEIPT_TABLE: [(i32, [(&str, &str); 7]); 11] = [
    (
        2016,
        [
            ("2016-03-23", "2016-03-29"),
            ("2016-05-04", "2016-05-06"),
            ("2016-05-13", "2016-05-18"),
            ("2016-05-16", "2016-05-18"),
            ("2016-12-23", "2016-12-27"),
            ("2016-12-24", "2016-12-27"),
            ("2016-12-31", "2017-01-02"),
        ],
    ),
    (
        2017,
        [
            ("2017-04-12", "2017-04-18"),
            ("2017-05-24", "2017-05-26"),
            ("2017-06-02", "2017-06-06"),
            ("2017-05-16", "2017-05-18"),
            ("2017-12-23", "2017-12-27"),
            ("2017-12-24", "2017-12-27"),
            ("2017-12-31", "2018-01-02"),
        ],
    ),
    (
        2018,
        [
            ("2018-03-28", "2018-04-03"),
            ("2018-05-09", "2018-05-11"),
            ("2018-05-18", "2018-05-22"),
            ("2018-05-16", "2018-05-18"),
            ("2018-12-23", "2018-12-24"),
            ("2018-12-24", "2018-12-27"),
            ("2018-12-31", "2019-01-02"),
        ],
    ),
    (
        2019,
        [
            ("2019-04-17", "2019-04-23"),
            ("2019-05-29", "2019-05-31"),
            ("2019-06-07", "2019-06-11"),
            ("2019-05-16", "2019-05-20"),
            ("2019-12-23", "2019-12-24"),
            ("2019-12-24", "2019-12-27"),
            ("2019-12-31", "2020-01-02"),
        ],
    ),
    (
        2020,
        [
            ("2020-04-08", "2020-04-14"),
            ("2020-05-20", "2020-05-22"),
            ("2020-05-29", "2020-06-02"),
            ("2020-05-16", "2020-05-18"),
            ("2020-12-23", "2020-12-24"),
            ("2020-12-24", "2020-12-28"),
            ("2020-12-31", "2021-01-04"),
        ],
    ),
    (
        2021,
        [
            ("2021-03-31", "2021-04-06"),
            ("2021-05-12", "2021-05-14"),
            ("2021-05-21", "2021-05-25"),
            ("2021-05-16", "2021-05-18"),
            ("2021-12-23", "2021-12-24"),
            ("2021-12-24", "2021-12-27"),
            ("2021-12-31", "2022-01-03"),
        ],
    ),
    (
        2022,
        [
            ("2022-04-13", "2022-04-19"),
            ("2022-05-25", "2022-05-27"),
            ("2022-06-03", "2022-06-07"),
            ("2022-05-16", "2022-05-18"),
            ("2022-12-23", "2022-12-27"),
            ("2022-12-24", "2022-12-27"),
            ("2022-12-31", "2023-01-02"),
        ],
    ),
    (
        2023,
        [
            ("2023-04-05", "2023-04-11"),
            ("2023-05-17", "2023-05-19"),
            ("2023-05-26", "2023-05-30"),
            ("2023-05-16", "2023-05-19"),
            ("2023-12-23", "2023-12-27"),
            ("2023-12-24", "2023-12-27"),
            ("2023-12-31", "2024-01-02"),
        ],
    ),
    (
        2024,
        [
            ("2024-03-27", "2024-04-02"),
            ("2024-05-08", "2024-05-10"),
            ("2024-05-17", "2024-05-21"),
            ("2024-05-16", "2024-05-21"),
            ("2024-12-23", "2024-12-24"),
            ("2024-12-24", "2024-12-27"),
            ("2024-12-31", "2025-01-02"),
        ],
    ),
    (
        2025,
        [
            ("2025-04-16", "2025-04-22"),
            ("2025-05-28", "2025-05-30"),
            ("2025-06-06", "2025-06-10"),
            ("2025-05-16", "2025-05-19"),
            ("2025-12-23", "2025-12-24"),
            ("2025-12-24", "2025-12-29"),
            ("2025-12-31", "2026-01-02"),
        ],
    ),
    (
        2026,
        [
            ("2026-04-01", "2026-04-07"),
            ("2026-05-13", "2026-05-15"),
            ("2026-05-22", "2026-05-26"),
            ("2026-05-16", "2026-05-18"),
            ("2026-12-23", "2026-12-24"),
            ("2026-12-24", "2026-12-28"),
            ("2026-12-31", "2027-01-04"),
        ],
    ),
];

#[test]
fn receipts_around_holidays_2016_to_2026() {
    for (year, cases) in RECEIPT_TABLE {
        for (arrival, receipt) in cases {
            let arrival_instant = t(&format!("{arrival}T10:00:00Z"));
            // 08:00 Oslo: 06:00 UTC in summer time, 07:00 UTC in winter. The only March
            // receipt in the table, 29 March 2016, is after DST began on 27 March 2016.
            let month = d(receipt).month();
            let utc_hour = if (3..=10).contains(&month) { 6 } else { 7 };
            let expected = t(&format!("{receipt}T{utc_hour:02}:00:00Z"));
            assert_eq!(
                receipt_time(arrival_instant),
                Some(expected),
                "{year}: arrival {arrival}"
            );
        }
    }
}

#[test]
fn receipt_time_at_the_ends_of_time_does_not_panic() {
    assert_eq!(receipt_time(DateTime::<Utc>::MAX_UTC), None);
    assert!(receipt_time(DateTime::<Utc>::MIN_UTC).is_some());
    assert_eq!(oslo_date(DateTime::<Utc>::MAX_UTC), None);
}

// ---------------------------------------------------------------------------------------
// ISO weeks
// ---------------------------------------------------------------------------------------

#[test]
fn iso_weeks() {
    for (year, week, monday, sunday) in [
        (2016, 42, "2016-10-17", "2016-10-23"),
        (2016, 43, "2016-10-24", "2016-10-30"),
        (2017, 42, "2017-10-16", "2017-10-22"),
        (2017, 43, "2017-10-23", "2017-10-29"),
        (2017, 6, "2017-02-06", "2017-02-12"),
        (2018, 6, "2018-02-05", "2018-02-11"),
        (2019, 6, "2019-02-04", "2019-02-10"),
        (2020, 6, "2020-02-03", "2020-02-09"),
        (2021, 6, "2021-02-08", "2021-02-14"),
        (2024, 6, "2024-02-05", "2024-02-11"),
        (2026, 6, "2026-02-02", "2026-02-08"),
        (2020, 53, "2020-12-28", "2021-01-03"),
        (2026, 1, "2025-12-29", "2026-01-04"),
    ] {
        assert_eq!(
            iso_week_dates(year, week),
            Some((d(monday), d(sunday))),
            "week {week} {year}"
        );
    }
    assert_eq!(iso_week_dates(2021, 53), None);
    assert_eq!(iso_week_dates(2021, 0), None);
    assert_eq!(iso_week_dates(2021, 54), None);
    assert_eq!(iso_week_dates(i32::MAX, 1), None);
}

// ---------------------------------------------------------------------------------------
// Seasons
// ---------------------------------------------------------------------------------------

fn days(season: &Season, kind: PhaseKind) -> Option<(NaiveDate, NaiveDate)> {
    season.phase(kind).map(|p| (p.first_day(), p.last_day()))
}

#[test]
fn season_2016() {
    let s = Season::for_data_year(2016).expect("2016");
    assert_eq!(s.data_year(), 2016);
    assert_eq!(s.channel(), Channel::Sendemodul);
    assert_eq!(s.test_data_year(), Some(2015));
    let expect = [
        (PhaseKind::TestSubmission, "2016-10-17", "2016-10-23"),
        (PhaseKind::TestFeedback, "2016-10-24", "2016-10-30"),
        (PhaseKind::OrdinarySubmission, "2017-01-02", "2017-01-15"),
        (PhaseKind::Feedback, "2017-02-06", "2017-02-12"),
        (PhaseKind::Publication, "2017-03-15", "2017-03-15"),
        (PhaseKind::CorrectionsDeadline, "2017-02-06", "2017-03-31"),
    ];
    for (kind, first, last) in expect {
        assert_eq!(days(&s, kind), Some((d(first), d(last))), "{kind:?}");
    }
    assert_eq!(s.phase(PhaseKind::Extension), None);
    assert_eq!(s.phases().len(), 6);
    assert_eq!(s.corrections_deadline(), d("2017-03-31"));
    // Week 42 2016 runs from 00:00 CEST on Monday 17 October to 00:00 CEST on 24 October.
    let test = s.phase(PhaseKind::TestSubmission).expect("test phase");
    assert_eq!(test.start(), t("2016-10-16T22:00:00Z"));
    assert_eq!(test.end(), t("2016-10-23T22:00:00Z"));
    // The ordinary submission ends at 24:00 CET on 15 January.
    let ord = s.phase(PhaseKind::OrdinarySubmission).expect("ordinary");
    assert_eq!(ord.start(), t("2017-01-01T23:00:00Z"));
    assert_eq!(ord.end(), t("2017-01-15T23:00:00Z"));
    assert!(ord.contains(t("2017-01-15T22:59:59Z")));
    assert!(!ord.contains(t("2017-01-15T23:00:00Z")));
    assert!(!ord.contains(t("2017-01-01T22:59:59Z")));
    assert!(ord.contains_date(d("2017-01-15")));
    for p in s.phases() {
        assert!(!p.source().is_empty());
        assert!(!p.name().is_empty());
    }
}

#[test]
fn season_2017() {
    let s = Season::for_data_year(2017).expect("2017");
    assert_eq!(s.channel(), Channel::Sendemodul);
    assert_eq!(s.test_data_year(), Some(2016));
    let expect = [
        (PhaseKind::TestSubmission, "2017-10-16", "2017-10-22"),
        (PhaseKind::TestFeedback, "2017-10-23", "2017-10-29"),
        (PhaseKind::OrdinarySubmission, "2018-01-02", "2018-01-15"),
        (PhaseKind::Feedback, "2018-02-05", "2018-02-11"),
        (PhaseKind::Publication, "2018-03-15", "2018-03-15"),
        (PhaseKind::CorrectionsDeadline, "2018-02-05", "2018-03-21"),
    ];
    for (kind, first, last) in expect {
        assert_eq!(days(&s, kind), Some((d(first), d(last))), "{kind:?}");
    }
    // Seed 000: "innen onsdag 21. mars 2018".
    assert_eq!(s.corrections_deadline().weekday(), Weekday::Wed);
}

#[test]
fn season_2018_follows_kpr() {
    let s = Season::for_data_year(2018).expect("2018");
    assert_eq!(s.channel(), Channel::ServiceBus);
    assert_eq!(s.test_data_year(), None);
    let expect = [
        (PhaseKind::TestSubmission, "2018-11-01", "2019-02-14"),
        (PhaseKind::OrdinarySubmission, "2019-01-02", "2019-01-15"),
        (PhaseKind::Extension, "2019-01-16", "2019-02-15"),
        (PhaseKind::Feedback, "2019-02-04", "2019-02-10"),
        (PhaseKind::Publication, "2019-03-15", "2019-03-15"),
        (PhaseKind::CorrectionsDeadline, "2019-02-04", "2019-03-21"),
    ];
    for (kind, first, last) in expect {
        assert_eq!(days(&s, kind), Some((d(first), d(last))), "{kind:?}");
    }
    assert_eq!(s.phase(PhaseKind::TestFeedback), None);
    let kinds: Vec<_> = s.phases().iter().map(|p| p.kind()).collect();
    assert_eq!(
        kinds,
        [
            PhaseKind::TestSubmission,
            PhaseKind::OrdinarySubmission,
            PhaseKind::Extension,
            PhaseKind::Feedback,
            PhaseKind::CorrectionsDeadline,
            PhaseKind::Publication,
        ]
    );
}

#[test]
fn later_seasons_follow_the_2018_pattern() {
    let s = Season::for_data_year(2024).expect("2024");
    assert_eq!(s.channel(), Channel::ServiceBus);
    assert_eq!(
        days(&s, PhaseKind::TestSubmission),
        Some((d("2024-11-01"), d("2025-02-14")))
    );
    assert_eq!(
        days(&s, PhaseKind::Extension),
        Some((d("2025-01-16"), d("2025-02-15")))
    );
    // Week 6 2025: 3–9 February.
    assert_eq!(
        days(&s, PhaseKind::Feedback),
        Some((d("2025-02-03"), d("2025-02-09")))
    );
}

#[test]
fn corrections_deadline_per_year() {
    assert_eq!(
        Season::for_data_year(2016).map(|s| s.corrections_deadline()),
        Ok(d("2017-03-31"))
    );
    for year in 2017..=2026 {
        assert_eq!(
            Season::for_data_year(year).map(|s| s.corrections_deadline()),
            Ok(d(&format!("{}-03-21", year + 1))),
            "{year}"
        );
    }
}

#[test]
fn corrections_on_time_at_the_oslo_day_boundary() {
    // 2016: "før 1. april 2017". 31 March 2017 is CEST (DST from 26 March).
    let s = Season::for_data_year(2016).expect("2016");
    assert!(s.is_correction_on_time(t("2017-03-31T21:59:59Z")));
    assert!(!s.is_correction_on_time(t("2017-03-31T22:00:00Z")));
    assert!(s.is_correction_on_time(t("2017-01-20T12:00:00Z")));
    // 2017: "innen onsdag 21. mars 2018". 21 March 2018 is CET (DST from 25 March).
    let s = Season::for_data_year(2017).expect("2017");
    assert!(s.is_correction_on_time(t("2018-03-21T22:59:59Z")));
    assert!(!s.is_correction_on_time(t("2018-03-21T23:00:00Z")));
    assert!(!s.is_correction_on_time(t("2018-03-31T12:00:00Z")));
    // 2023: 21 March 2024 is CET (DST from 31 March).
    let s = Season::for_data_year(2023).expect("2023");
    assert!(s.is_correction_on_time(t("2024-03-21T22:59:59Z")));
    assert!(!s.is_correction_on_time(t("2024-03-21T23:00:00Z")));
}

#[test]
fn phase_at_reports_overlapping_phases() {
    let s = Season::for_data_year(2018).expect("2018");
    assert_eq!(s.phase_at(t("2018-10-31T12:00:00Z")), []);
    assert_eq!(
        s.phase_at(t("2018-11-01T12:00:00Z")),
        [PhaseKind::TestSubmission]
    );
    assert_eq!(
        s.phase_at(t("2019-01-10T12:00:00Z")),
        [PhaseKind::TestSubmission, PhaseKind::OrdinarySubmission]
    );
    assert_eq!(
        s.phase_at(t("2019-02-05T12:00:00Z")),
        [
            PhaseKind::TestSubmission,
            PhaseKind::Extension,
            PhaseKind::Feedback,
            PhaseKind::CorrectionsDeadline
        ]
    );
    assert_eq!(
        s.phase_at(t("2019-02-15T12:00:00Z")),
        [PhaseKind::Extension, PhaseKind::CorrectionsDeadline]
    );
    assert_eq!(
        s.phase_at(t("2019-03-15T12:00:00Z")),
        [PhaseKind::CorrectionsDeadline, PhaseKind::Publication]
    );
    let s = Season::for_data_year(2016).expect("2016");
    assert_eq!(
        s.phase_at(t("2016-10-19T08:00:00Z")),
        [PhaseKind::TestSubmission]
    );
    assert_eq!(
        s.phase_at(t("2016-10-26T08:00:00Z")),
        [PhaseKind::TestFeedback]
    );
}

#[test]
fn season_years_out_of_range() {
    for year in [2015, 2099, 2100, i32::MIN, i32::MAX] {
        let e = Season::for_data_year(year).expect_err("out of range");
        assert_eq!(
            e.to_string(),
            format!(
                "no IPLOS season for data year {year}: seasons are defined for data years 2016-2098"
            )
        );
    }
    assert!(Season::for_data_year(2098).is_ok());
}

#[test]
fn season_serialises_for_reports() {
    let s = Season::for_data_year(2016).expect("2016");
    let json = serde_json::to_value(&s).expect("serialise");
    assert_eq!(json["data_year"], 2016);
    assert_eq!(json["channel"], "sendemodul");
    assert_eq!(json["test_data_year"], 2015);
    let first = &json["phases"][0];
    assert_eq!(first["kind"], "test_submission");
    assert_eq!(first["first_day"], "2016-10-17");
    assert_eq!(first["last_day"], "2016-10-23");
    assert_eq!(first["start"], "2016-10-17T00:00:00+02:00");
    assert_eq!(first["end"], "2016-10-24T00:00:00+02:00");
    assert!(
        first["source"]
            .as_str()
            .is_some_and(|s| s.contains("seed 001"))
    );
    let s = Season::for_data_year(2018).expect("2018");
    let json = serde_json::to_value(&s).expect("serialise");
    assert_eq!(json["channel"], "service_bus");
    assert_eq!(json["test_data_year"], serde_json::Value::Null);
}

// ---------------------------------------------------------------------------------------
// Clocks
// ---------------------------------------------------------------------------------------

#[test]
fn virtual_clock_is_shared_and_monotonic() {
    let start = t("2016-10-17T06:00:00Z");
    let clock = VirtualClock::new(start);
    let other = clock.clone();
    assert_eq!(other.now(), start);
    assert_eq!(
        clock.advance(Duration::hours(2)),
        Ok(t("2016-10-17T08:00:00Z"))
    );
    assert_eq!(other.now(), t("2016-10-17T08:00:00Z"));
    other.set(t("2017-01-02T00:00:00Z")).expect("forward");
    assert_eq!(clock.now(), t("2017-01-02T00:00:00Z"));
    // Setting the same instant again is allowed.
    clock.set(t("2017-01-02T00:00:00Z")).expect("same instant");
    // Going back is an error and changes nothing.
    assert_eq!(
        clock.set(start),
        Err(ClockError::Backwards {
            now: t("2017-01-02T00:00:00Z"),
            requested: start
        })
    );
    assert_eq!(
        clock.advance(Duration::seconds(-1)),
        Err(ClockError::NegativeAdvance {
            by: Duration::seconds(-1)
        })
    );
    assert_eq!(other.now(), t("2017-01-02T00:00:00Z"));
    assert_eq!(
        clock.advance(Duration::zero()),
        Ok(t("2017-01-02T00:00:00Z"))
    );
    // Overflow is an error too.
    let end = VirtualClock::new(DateTime::<Utc>::MAX_UTC);
    assert!(matches!(
        end.advance(Duration::seconds(1)),
        Err(ClockError::Overflow { .. })
    ));
    assert_eq!(end.now(), DateTime::<Utc>::MAX_UTC);
}

#[test]
fn clocks_can_be_shared_between_threads_and_as_trait_objects() {
    let clock = VirtualClock::new(t("2019-01-02T08:00:00Z"));
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let handle = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || shared.now())
    };
    assert_eq!(handle.join().ok(), Some(t("2019-01-02T08:00:00Z")));
    clock.advance(Duration::days(1)).expect("forward");
    assert_eq!(shared.now(), t("2019-01-03T08:00:00Z"));
    fn takes_clock(c: impl Clock) -> DateTime<Utc> {
        c.now()
    }
    assert_eq!(takes_clock(&clock), t("2019-01-03T08:00:00Z"));
    assert_eq!(
        takes_clock(Box::new(clock.clone()) as Box<dyn Clock>),
        t("2019-01-03T08:00:00Z")
    );
    let _system: &dyn Clock = &SystemClock;
}

#[test]
fn shifted_clock_runs_at_the_inner_pace() {
    let inner = VirtualClock::new(t("2026-04-20T10:00:00Z"));
    let shifted = ShiftedClock::starting_at(inner.clone(), t("2019-01-02T07:00:00Z"));
    assert_eq!(shifted.now(), t("2019-01-02T07:00:00Z"));
    inner.advance(Duration::minutes(90)).expect("forward");
    assert_eq!(shifted.now(), t("2019-01-02T08:30:00Z"));
    assert_eq!(
        shifted.offset(),
        t("2019-01-02T07:00:00Z") - t("2026-04-20T10:00:00Z")
    );
    // Saturates instead of overflowing.
    let far = ShiftedClock::new(
        VirtualClock::new(DateTime::<Utc>::MAX_UTC),
        Duration::days(1),
    );
    assert_eq!(far.now(), DateTime::<Utc>::MAX_UTC);
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

/// Instants from 2000 to 2099 (the span with DST rules in the tables).
fn instants() -> impl Strategy<Value = DateTime<Utc>> {
    let lo = t("2000-01-01T00:00:00Z").timestamp();
    let hi = t("2099-12-20T00:00:00Z").timestamp();
    (lo..hi).prop_map(|s| DateTime::<Utc>::from_timestamp(s, 0).expect("in range"))
}

fn dates() -> impl Strategy<Value = NaiveDate> {
    let first = d("1600-01-01");
    let n = d("2400-12-31").signed_duration_since(first).num_days();
    (0..=n).prop_map(move |k| first + Duration::days(k))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn receipt_is_0800_oslo_on_the_next_working_day(arrival in instants()) {
        let receipt = receipt_time(arrival).expect("in range");
        let local = receipt.with_timezone(&OSLO);
        prop_assert_eq!((local.hour(), local.minute(), local.second(), local.nanosecond()), (8, 0, 0, 0));
        prop_assert!(is_working_day(local.date_naive()));
        prop_assert!(receipt > arrival);
        let arrival_date = arrival.with_timezone(&OSLO).date_naive();
        prop_assert!(local.date_naive() > arrival_date);
        let mut day = arrival_date.succ_opt().expect("in range");
        while day < local.date_naive() {
            prop_assert!(!is_working_day(day), "working day {} between {} and {}", day, arrival_date, local.date_naive());
            day = day.succ_opt().expect("in range");
        }
        // Offset at 08:00 Oslo is +1 (winter) or +2 (summer).
        let utc_hour = receipt.hour();
        prop_assert!(utc_hour == 6 || utc_hour == 7);
        // At most 5 days later (Wednesday before Easter → Tuesday after is the longest gap
        // measured from the day after arrival).
        prop_assert!(local.date_naive().signed_duration_since(arrival_date).num_days() <= 6);
    }

    #[test]
    fn receipt_time_never_panics(secs in any::<i64>()) {
        if let Some(arrival) = DateTime::<Utc>::from_timestamp(secs, 0) {
            let _ = receipt_time(arrival);
        }
    }

    #[test]
    fn working_days_agree_with_the_holiday_list(date in dates()) {
        let listed = holidays(date.year()).iter().any(|(h, _)| *h == date);
        prop_assert_eq!(is_holiday(date), listed);
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        prop_assert_eq!(is_working_day(date), !weekend && !listed);
        let next = next_working_day_after(date).expect("in range");
        prop_assert!(next > date && is_working_day(next));
        let mut day = date.succ_opt().expect("in range");
        while day < next {
            prop_assert!(!is_working_day(day));
            day = day.succ_opt().expect("in range");
        }
    }

    #[test]
    fn easter_is_a_sunday_between_22_march_and_25_april(year in 1583..=9999i32) {
        let e = easter_sunday(year).expect("in range");
        prop_assert_eq!(e.weekday(), Weekday::Sun);
        let lo = NaiveDate::from_ymd_opt(year, 3, 22).expect("date");
        let hi = NaiveDate::from_ymd_opt(year, 4, 25).expect("date");
        prop_assert!(lo <= e && e <= hi);
        prop_assert_eq!(holidays(year).len(), 12);
    }

    #[test]
    fn easter_and_holidays_never_panic(year in any::<i32>()) {
        let _ = easter_sunday(year);
        let _ = holidays(year);
        let _ = Season::for_data_year(year);
        let _ = iso_week_dates(year, 1);
    }

    #[test]
    fn iso_weeks_contain_their_dates(date in dates()) {
        let w = date.iso_week();
        let (monday, sunday) = iso_week_dates(w.year(), w.week()).expect("exists");
        prop_assert_eq!(monday.weekday(), Weekday::Mon);
        prop_assert_eq!(sunday.signed_duration_since(monday).num_days(), 6);
        prop_assert!(monday <= date && date <= sunday);
    }

    #[test]
    fn phases_are_well_formed(year in 2016..=2098i32, probe in instants()) {
        let s = Season::for_data_year(year).expect("supported");
        for p in s.phases() {
            prop_assert!(p.first_day() <= p.last_day());
            prop_assert!(p.start() < p.end());
            prop_assert_eq!(p.start().with_timezone(&OSLO).date_naive(), p.first_day());
            prop_assert_eq!(p.start().with_timezone(&OSLO).hour(), 0);
            prop_assert_eq!(p.end().with_timezone(&OSLO).hour(), 0);
            prop_assert_eq!(
                p.end().with_timezone(&OSLO).date_naive(),
                p.last_day().succ_opt().expect("in range")
            );
            prop_assert_eq!(s.phase(p.kind()).map(|q| q.first_day()), Some(p.first_day()));
        }
        let at = s.phase_at(probe);
        for p in s.phases() {
            prop_assert_eq!(at.contains(&p.kind()), p.contains(probe));
        }
        prop_assert_eq!(
            s.is_correction_on_time(probe),
            probe.with_timezone(&OSLO).date_naive() <= s.corrections_deadline()
        );
    }
}
