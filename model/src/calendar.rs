//! The calendar of an IPLOS reporting season (DOMAIN.md §2): Norwegian public holidays,
//! working days, the 08:00 receipt slot, ISO weeks, the phases and deadlines of each data
//! year's [`Season`], and the injected [`Clock`].
//!
//! All civil times are Europe/Oslo ([`OSLO`]), with daylight saving time: CET (UTC+1) in
//! winter, CEST (UTC+2) in summer. Offsets come from the `chrono-tz` tables, which carry
//! Norway's DST rule through 2099; that is why seasons end with data year
//! [`Season::LAST_DATA_YEAR`].
//!
//! Nothing here panics on any input: functions whose answer could leave chrono's date
//! range (hundreds of thousands of years away) return `Option` or `Result`.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{
    DateTime, Datelike, Days, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::Serialize;

/// The time zone of every civil time in IPLOS reporting: Europe/Oslo.
pub const OSLO: Tz = chrono_tz::Europe::Oslo;

/// The local time (Europe/Oslo) at which receipts go out: 08:00.
pub const RECEIPT_TIME: NaiveTime = match NaiveTime::from_hms_opt(8, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// Errors of the season calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// No season is defined for this data year.
    #[error("no IPLOS season for data year {year}: seasons are defined for data years {min}-{max}")]
    DataYearOutOfRange {
        /// The data year asked for.
        year: i32,
        /// The first data year with a season.
        min: i32,
        /// The last data year with a season.
        max: i32,
    },
    /// A date of a season could not be computed (outside chrono's range or the time zone
    /// tables); not expected for supported data years.
    #[error("data year {year}: cannot compute the date of {what}")]
    NoSuchDate {
        /// The data year.
        year: i32,
        /// What was being computed, e.g. "ISO week 42".
        what: &'static str,
    },
}

/// Errors of a [`VirtualClock`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// `set` to an instant before the clock's current time.
    #[error("virtual clock cannot go back from {now} to {requested}")]
    Backwards {
        /// The clock's time.
        now: DateTime<Utc>,
        /// The earlier instant asked for.
        requested: DateTime<Utc>,
    },
    /// `advance` by a negative duration.
    #[error("virtual clock cannot advance by a negative duration ({by})")]
    NegativeAdvance {
        /// The duration given.
        by: Duration,
    },
    /// `advance` past the last instant chrono can represent.
    #[error(
        "virtual clock cannot advance from {now} by {by}: beyond the last representable instant"
    )]
    Overflow {
        /// The clock's time.
        now: DateTime<Utc>,
        /// The duration given.
        by: Duration,
    },
}

// ---------------------------------------------------------------------------------------
// Holidays and working days
// ---------------------------------------------------------------------------------------

/// Easter Sunday of `year` by the Gregorian computus (the anonymous algorithm as given by
/// Meeus), in the proleptic Gregorian calendar. `None` only outside chrono's date range.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let n = h + l - 7 * m + 114;
    let month = u32::try_from(n.div_euclid(31)).ok()?;
    let day = u32::try_from(n.rem_euclid(31) + 1).ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Public holidays fixed in the calendar: (month, day, Norwegian name).
const FIXED_HOLIDAYS: [(u32, u32, &str); 5] = [
    (1, 1, "Første nyttårsdag"),
    (5, 1, "Arbeidernes dag"),
    (5, 17, "Grunnlovsdag"),
    (12, 25, "Første juledag"),
    (12, 26, "Andre juledag"),
];

/// Public holidays relative to Easter Sunday: (days after Easter, Norwegian name).
const EASTER_HOLIDAYS: [(i64, &str); 7] = [
    (-3, "Skjærtorsdag"),
    (-2, "Langfredag"),
    (0, "Første påskedag"),
    (1, "Andre påskedag"),
    (39, "Kristi himmelfartsdag"),
    (49, "Første pinsedag"),
    (50, "Andre pinsedag"),
];

/// Norway's public holidays (helligdager and høytidsdager) of `year`, sorted by date, with
/// their Norwegian names: 1 January, Maundy Thursday, Good Friday, Easter Sunday, Easter
/// Monday, 1 May, 17 May, Ascension Day (Easter + 39), Whit Sunday (Easter + 49), Whit
/// Monday (Easter + 50), 25 and 26 December.
///
/// Ordinary Sundays are not listed (they are never working days anyway), nor are
/// Christmas Eve and New Year's Eve, which are working days. When two holidays fall on the
/// same date (Ascension Day on 1 May, as in 2008), both entries are kept. Empty only for
/// years outside chrono's date range.
pub fn holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut out: Vec<(NaiveDate, &'static str)> = FIXED_HOLIDAYS
        .iter()
        .filter_map(|&(m, d, name)| NaiveDate::from_ymd_opt(year, m, d).map(|date| (date, name)))
        .collect();
    if let Some(easter) = easter_sunday(year) {
        out.extend(EASTER_HOLIDAYS.iter().filter_map(|&(offset, name)| {
            easter
                .checked_add_signed(Duration::days(offset))
                .map(|date| (date, name))
        }));
    }
    out.sort_by_key(|&(date, _)| date);
    out
}

/// The Norwegian name of the public holiday on `date`, if it is one (the first name when
/// two holidays coincide).
pub fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    let (m, d) = (date.month(), date.day());
    let mut names = FIXED_HOLIDAYS
        .iter()
        .filter(|&&(hm, hd, _)| (hm, hd) == (m, d))
        .map(|&(_, _, name)| name);
    if let Some(name) = names.next() {
        return Some(name);
    }
    let easter = easter_sunday(date.year())?;
    let offset = date.signed_duration_since(easter).num_days();
    EASTER_HOLIDAYS
        .iter()
        .find(|&&(o, _)| o == offset)
        .map(|&(_, name)| name)
}

/// Whether `date` is a Norwegian public holiday (see [`holidays`]).
pub fn is_holiday(date: NaiveDate) -> bool {
    holiday_name(date).is_some()
}

/// Whether `date` is a working day (virkedag): Monday to Friday and not a public holiday.
pub fn is_working_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !is_holiday(date)
}

/// The first working day strictly after `date`. `None` only at the end of chrono's range.
pub fn next_working_day_after(date: NaiveDate) -> Option<NaiveDate> {
    let mut day = date.succ_opt()?;
    while !is_working_day(day) {
        day = day.succ_opt()?;
    }
    Some(day)
}

// ---------------------------------------------------------------------------------------
// Europe/Oslo helpers and the receipt slot
// ---------------------------------------------------------------------------------------

/// The Europe/Oslo civil time of an instant. `None` only within hours of the end of
/// chrono's range.
pub fn oslo_local(instant: DateTime<Utc>) -> Option<NaiveDateTime> {
    let utc = instant.naive_utc();
    let offset = OSLO.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_signed(Duration::seconds(i64::from(offset.local_minus_utc())))
}

/// The Europe/Oslo date of an instant (see [`oslo_local`]).
pub fn oslo_date(instant: DateTime<Utc>) -> Option<NaiveDate> {
    oslo_local(instant).map(|t| t.date())
}

/// The instant of a Europe/Oslo civil time. For a time skipped by the spring DST change
/// the answer is `None`; for a time that occurs twice in autumn, the earlier one.
pub fn oslo_instant(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    OSLO.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// When the receipt for data arriving at `arrival` goes out: 08:00 Europe/Oslo on the
/// first working day after the Oslo date of arrival (seed 000: "ca. kl. 08:00 første
/// virkedag etter"; DOMAIN.md §2). The Oslo offset on the receipt day decides the UTC
/// instant: 07:00 UTC in winter, 06:00 UTC in summer.
///
/// Example: data arriving on Maundy Thursday 29 March 2018 get their receipt on Tuesday
/// 3 April 2018 at 08:00 Oslo (06:00 UTC). `None` only at the end of chrono's range.
pub fn receipt_time(arrival: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let day = next_working_day_after(oslo_date(arrival)?)?;
    oslo_instant(day, RECEIPT_TIME)
}

/// The Monday and Sunday of ISO week `week` of ISO year `year`; `None` when that week
/// does not exist (week 0, week 53 of a 52-week year, ...).
pub fn iso_week_dates(year: i32, week: u32) -> Option<(NaiveDate, NaiveDate)> {
    let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)?;
    let sunday = NaiveDate::from_isoywd_opt(year, week, Weekday::Sun)?;
    Some((monday, sunday))
}

// ---------------------------------------------------------------------------------------
// Seasons
// ---------------------------------------------------------------------------------------

/// How a data year's submissions travel (DOMAIN.md §3, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// IPIS Sendemodul, web upload over helsenett to SSB (data years ≤ 2017).
    Sendemodul,
    /// NHN's AMQP 1.0 service bus to KPR (data years ≥ 2018).
    ServiceBus,
}

/// The kinds of phase in a season.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// Test submission: ISO week 42 of the data year (≤ 2017), or the KPR
    /// "prøveinnsending" 1 November – 14 February (≥ 2018).
    TestSubmission,
    /// Test feedback on the filsluse, ISO week 43 (data years ≤ 2017 only).
    TestFeedback,
    /// The ordinary submission, 2–15 January after the data year.
    OrdinarySubmission,
    /// The extension to 15 February for kommuner that could not upgrade (≥ 2018).
    Extension,
    /// Feedback (feilliste, kontrolltabeller), ISO week 6 after the data year.
    Feedback,
    /// Publication of the KOSTRA fact sheets, 15 March after the data year.
    Publication,
    /// The window for corrections that still count for the mid-June publication: from
    /// the feedback week up to and including the last accepted day. Corrections arriving
    /// earlier are on time too (see [`Season::is_correction_on_time`]).
    CorrectionsDeadline,
}

/// One phase of a season: a named interval of whole days in Europe/Oslo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phase {
    /// What kind of phase this is.
    kind: PhaseKind,
    /// A short human-readable name, e.g. "test submission (week 42)".
    name: &'static str,
    /// The first day (Oslo date).
    first_day: NaiveDate,
    /// The last day (Oslo date), inclusive.
    last_day: NaiveDate,
    /// 00:00 Oslo on the first day.
    start: DateTime<FixedOffset>,
    /// 00:00 Oslo on the day after the last day (exclusive end).
    end: DateTime<FixedOffset>,
    /// Where the dates come from (seed file or DOMAIN.md section; "\[model\]" marks our own
    /// choice).
    source: &'static str,
}

impl Phase {
    /// What kind of phase this is.
    pub fn kind(&self) -> PhaseKind {
        self.kind
    }

    /// A short human-readable name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The first day (Oslo date).
    pub fn first_day(&self) -> NaiveDate {
        self.first_day
    }

    /// The last day (Oslo date), inclusive.
    pub fn last_day(&self) -> NaiveDate {
        self.last_day
    }

    /// The start instant: 00:00 Oslo on the first day.
    pub fn start(&self) -> DateTime<Utc> {
        self.start.with_timezone(&Utc)
    }

    /// The exclusive end instant: 00:00 Oslo on the day after the last day.
    pub fn end(&self) -> DateTime<Utc> {
        self.end.with_timezone(&Utc)
    }

    /// Where the dates come from.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether `instant` lies in the phase (`start <= instant < end`).
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start() <= instant && instant < self.end()
    }

    /// Whether the Oslo date `date` is one of the phase's days.
    pub fn contains_date(&self, date: NaiveDate) -> bool {
        self.first_day <= date && date <= self.last_day
    }
}

/// The season of one data year: the phases and deadlines of DOMAIN.md §2, the channel,
/// and (for the Sendemodul years) which year's data the test used.
///
/// Data years 2016 and 2017 follow seeds 001–003 and 000; data years from 2018 follow the
/// KPR pattern of seed 004.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Season {
    /// The data year (registrations 1 January – 31 December of this year).
    data_year: i32,
    /// How submissions travel.
    channel: Channel,
    /// The data year whose data the test submission used (Sendemodul years only).
    test_data_year: Option<i32>,
    /// The phases, ordered by start.
    phases: Vec<Phase>,
}

/// Sources of the phase dates.
mod source {
    pub const TEST_2016: &str = "seed 001 §3 (test innsending uke 42, 2015-data); DOMAIN.md §2";
    pub const TEST_2017: &str = "[model] 2016 pattern carried over: seed 000 names no test week \
                                 for data year 2017; DOMAIN.md §2";
    pub const TEST_KPR: &str =
        "seed 004 (prøveinnsending 1. nov - 14. februar, HER-id 131725); DOMAIN.md §2";
    pub const TEST_FEEDBACK_2016: &str = "seed 001 §4 (test tilbakemelding uke 43); DOMAIN.md §2";
    pub const TEST_FEEDBACK_2017: &str =
        "[model] 2016 pattern carried over (seed 001 §4); DOMAIN.md §2";
    pub const ORDINARY_2016: &str =
        "seeds 002, 003 (innsendingsperioden 2.-15. januar 2017); DOMAIN.md §2";
    pub const ORDINARY_2017: &str = "seed 000 (2. januar til 15. januar 2018); DOMAIN.md §2";
    pub const ORDINARY_KPR: &str = "seed 004 (2.-15. januar 2019; later data years follow the \
                                    2018 pattern); DOMAIN.md §2";
    pub const EXTENSION_KPR: &str = "seed 004 (utsettelse til 15. februar); DOMAIN.md §2";
    pub const FEEDBACK_2016: &str = "seed 003 §4 (tilbakemelding uke 6, 2017); DOMAIN.md §2";
    pub const FEEDBACK_2017: &str = "seed 000 §4 (tilbakemelding uke 6, 2018); DOMAIN.md §2";
    pub const FEEDBACK_KPR: &str = "[model] week 6 as in the SSB years; seed 004 only says \
                                    'tilbakemelding på feil og mangler'; DOMAIN.md §2";
    pub const PUBLICATION_2016: &str =
        "seeds 002, 003 (KOSTRA faktaark 15. mars 2017); DOMAIN.md §2";
    pub const PUBLICATION_2017: &str = "seed 000 (KOSTRA faktaark 15. mars 2018); DOMAIN.md §2";
    pub const PUBLICATION_KPR: &str = "seed 004 (KOSTRA faktaark 15. mars); DOMAIN.md §2";
    pub const CORRECTIONS_2016: &str = "seeds 002, 003 (rettede data sendt før 1. april 2017); \
                                        window opens with feedback [model]; DOMAIN.md §2";
    pub const CORRECTIONS_2017: &str = "seed 000 (rettede data sendt innen onsdag 21. mars \
                                        2018); window opens with feedback [model]; DOMAIN.md §2";
    pub const CORRECTIONS_KPR: &str = "seed 004 (rettede data sendt innen 21. mars); window \
                                       opens with feedback [model]; DOMAIN.md §2";
}

impl Season {
    /// The first data year with a season.
    pub const FIRST_DATA_YEAR: i32 = 2016;
    /// The last data year with a season: its phases end in the next year, and the time
    /// zone tables carry Norway's DST rule through 2099.
    pub const LAST_DATA_YEAR: i32 = 2098;

    /// The season of data year `year` (2016..=2098).
    pub fn for_data_year(year: i32) -> Result<Season, CalendarError> {
        if !(Self::FIRST_DATA_YEAR..=Self::LAST_DATA_YEAR).contains(&year) {
            return Err(CalendarError::DataYearOutOfRange {
                year,
                min: Self::FIRST_DATA_YEAR,
                max: Self::LAST_DATA_YEAR,
            });
        }
        let next = year + 1;
        let date = |y: i32, m: u32, d: u32, what: &'static str| {
            NaiveDate::from_ymd_opt(y, m, d).ok_or(CalendarError::NoSuchDate { year, what })
        };
        let week = |y: i32, w: u32, what: &'static str| {
            iso_week_dates(y, w).ok_or(CalendarError::NoSuchDate { year, what })
        };
        let phase = |kind, name, (first_day, last_day), source| {
            Phase::new(year, kind, name, first_day, last_day, source)
        };

        let sendemodul = year <= 2017;
        let (feedback_monday, feedback_sunday) = week(next, 6, "ISO week 6")?;
        let corrections_last = if year == 2016 {
            // "før 1. april 2017": the last accepted day is 31 March.
            date(next, 3, 31, "the corrections deadline")?
        } else {
            date(next, 3, 21, "the corrections deadline")?
        };
        let ordinary = (
            date(next, 1, 2, "the ordinary submission")?,
            date(next, 1, 15, "the ordinary submission")?,
        );
        let publication_day = date(next, 3, 15, "the publication")?;

        let mut phases = Vec::with_capacity(7);
        if sendemodul {
            let (test_src, test_fb_src, ord_src, fb_src, pub_src, corr_src) = if year == 2016 {
                (
                    source::TEST_2016,
                    source::TEST_FEEDBACK_2016,
                    source::ORDINARY_2016,
                    source::FEEDBACK_2016,
                    source::PUBLICATION_2016,
                    source::CORRECTIONS_2016,
                )
            } else {
                (
                    source::TEST_2017,
                    source::TEST_FEEDBACK_2017,
                    source::ORDINARY_2017,
                    source::FEEDBACK_2017,
                    source::PUBLICATION_2017,
                    source::CORRECTIONS_2017,
                )
            };
            phases.push(phase(
                PhaseKind::TestSubmission,
                "test submission (week 42, previous year's data)",
                week(year, 42, "ISO week 42")?,
                test_src,
            )?);
            phases.push(phase(
                PhaseKind::TestFeedback,
                "test feedback on filsluse (week 43)",
                week(year, 43, "ISO week 43")?,
                test_fb_src,
            )?);
            phases.push(phase(
                PhaseKind::OrdinarySubmission,
                "ordinary submission via Sendemodul (2-15 January)",
                ordinary,
                ord_src,
            )?);
            phases.push(phase(
                PhaseKind::Feedback,
                "feedback on filsluse (week 6)",
                (feedback_monday, feedback_sunday),
                fb_src,
            )?);
            phases.push(phase(
                PhaseKind::Publication,
                "publication of KOSTRA fact sheets (15 March)",
                (publication_day, publication_day),
                pub_src,
            )?);
            phases.push(phase(
                PhaseKind::CorrectionsDeadline,
                if year == 2016 {
                    "corrections (sent before 1 April)"
                } else {
                    "corrections (sent by 21 March)"
                },
                (feedback_monday, corrections_last),
                corr_src,
            )?);
        } else {
            phases.push(phase(
                PhaseKind::TestSubmission,
                "prøveinnsending to the KPR validation HER-id (1 November - 14 February)",
                (
                    date(year, 11, 1, "the test submission")?,
                    date(next, 2, 14, "the test submission")?,
                ),
                source::TEST_KPR,
            )?);
            phases.push(phase(
                PhaseKind::OrdinarySubmission,
                "ordinary submission over AMQP (2-15 January)",
                ordinary,
                source::ORDINARY_KPR,
            )?);
            phases.push(phase(
                PhaseKind::Extension,
                "extension for kommuner that could not upgrade (to 15 February)",
                (
                    date(next, 1, 16, "the extension")?,
                    date(next, 2, 15, "the extension")?,
                ),
                source::EXTENSION_KPR,
            )?);
            phases.push(phase(
                PhaseKind::Feedback,
                "feedback on errors and deficiencies (week 6)",
                (feedback_monday, feedback_sunday),
                source::FEEDBACK_KPR,
            )?);
            phases.push(phase(
                PhaseKind::Publication,
                "publication of KOSTRA fact sheets (15 March)",
                (publication_day, publication_day),
                source::PUBLICATION_KPR,
            )?);
            phases.push(phase(
                PhaseKind::CorrectionsDeadline,
                "corrections (sent by 21 March)",
                (feedback_monday, corrections_last),
                source::CORRECTIONS_KPR,
            )?);
        }
        phases.sort_by_key(|p| (p.first_day, p.kind));

        Ok(Season {
            data_year: year,
            channel: if sendemodul {
                Channel::Sendemodul
            } else {
                Channel::ServiceBus
            },
            test_data_year: sendemodul.then_some(year - 1),
            phases,
        })
    }

    /// The data year.
    pub fn data_year(&self) -> i32 {
        self.data_year
    }

    /// How submissions travel: Sendemodul for data years ≤ 2017, the AMQP service bus from
    /// 2018.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The data year whose data the test submission used: the previous year for the
    /// Sendemodul years (seed 001: "2015-data skal benyttes" for data year 2016); `None`
    /// for the KPR years.
    pub fn test_data_year(&self) -> Option<i32> {
        self.test_data_year
    }

    /// The period whose registrations are reported: 1 January – 31 December of the data
    /// year.
    pub fn data_period(&self) -> Option<(NaiveDate, NaiveDate)> {
        Some((
            NaiveDate::from_ymd_opt(self.data_year, 1, 1)?,
            NaiveDate::from_ymd_opt(self.data_year, 12, 31)?,
        ))
    }

    /// All phases, ordered by their first day.
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The phase of the given kind, if this season has one.
    pub fn phase(&self, kind: PhaseKind) -> Option<&Phase> {
        self.phases.iter().find(|p| p.kind == kind)
    }

    /// The kinds of all phases that contain `instant` (phases may overlap: the KPR
    /// prøveinnsending runs through the ordinary submission).
    pub fn phase_at(&self, instant: DateTime<Utc>) -> Vec<PhaseKind> {
        self.phases
            .iter()
            .filter(|p| p.contains(instant))
            .map(|p| p.kind)
            .collect()
    }

    /// The last day (Oslo date) on which a correction still counts: 31 March for data year
    /// 2016 ("før 1. april 2017"), 21 March of the next year otherwise.
    pub fn corrections_deadline(&self) -> NaiveDate {
        self.phase(PhaseKind::CorrectionsDeadline)
            .map_or(NaiveDate::MIN, |p| p.last_day)
    }

    /// Whether a correction arriving at `arrival` is in time for the mid-June publication:
    /// it arrives before the end (24:00 Oslo) of the last accepted day.
    pub fn is_correction_on_time(&self, arrival: DateTime<Utc>) -> bool {
        self.phase(PhaseKind::CorrectionsDeadline)
            .is_some_and(|p| arrival < p.end())
    }
}

impl Phase {
    /// Builds a phase from its Oslo days; the instants are Oslo midnights.
    fn new(
        year: i32,
        kind: PhaseKind,
        name: &'static str,
        first_day: NaiveDate,
        last_day: NaiveDate,
        source: &'static str,
    ) -> Result<Phase, CalendarError> {
        let midnight = |date: NaiveDate| {
            OSLO.from_local_datetime(&date.and_time(NaiveTime::MIN))
                .earliest()
                .map(|t| t.fixed_offset())
        };
        let err = CalendarError::NoSuchDate {
            year,
            what: "a phase boundary",
        };
        let start = midnight(first_day).ok_or(err.clone())?;
        let end = last_day
            .checked_add_days(Days::new(1))
            .and_then(midnight)
            .ok_or(err)?;
        Ok(Phase {
            kind,
            name,
            first_day,
            last_day,
            start,
            end,
            source,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Clocks
// ---------------------------------------------------------------------------------------

/// A source of the current time. Every component that looks at the time takes one, so a
/// season can run on a [`VirtualClock`] and a certification session on the
/// [`SystemClock`] (or a [`ShiftedClock`] moved into the season).
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Clones share the same time, so a test or the
/// season engine can hold one handle and give clones to every component.
///
/// The clock is monotonic: [`VirtualClock::set`] to an earlier instant and
/// [`VirtualClock::advance`] by a negative duration are **errors** and leave the time
/// unchanged. Setting the current instant again is allowed.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    /// The shared current instant.
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl VirtualClock {
    /// A virtual clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> VirtualClock {
        VirtualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock to `instant`; an error (and no change) if `instant` is earlier than
    /// the current time.
    pub fn set(&self, instant: DateTime<Utc>) -> Result<(), ClockError> {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        if instant < *now {
            return Err(ClockError::Backwards {
                now: *now,
                requested: instant,
            });
        }
        *now = instant;
        Ok(())
    }

    /// Moves the clock forward by `by` and returns the new time; an error (and no change)
    /// if `by` is negative or the result is beyond chrono's range.
    pub fn advance(&self, by: Duration) -> Result<DateTime<Utc>, ClockError> {
        if by < Duration::zero() {
            return Err(ClockError::NegativeAdvance { by });
        }
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        let next = now
            .checked_add_signed(by)
            .ok_or(ClockError::Overflow { now: *now, by })?;
        *now = next;
        Ok(next)
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A clock running at the pace of another, shifted by a fixed offset: a certification
/// session on the system clock can be moved into the season this way.
#[derive(Debug, Clone)]
pub struct ShiftedClock<C> {
    /// The clock that drives this one.
    inner: C,
    /// Added to the inner clock's time.
    offset: Duration,
}

impl<C: Clock> ShiftedClock<C> {
    /// `inner`'s time plus `offset`.
    pub fn new(inner: C, offset: Duration) -> ShiftedClock<C> {
        ShiftedClock { inner, offset }
    }

    /// A clock that reads `start` now and then runs at `inner`'s pace.
    pub fn starting_at(inner: C, start: DateTime<Utc>) -> ShiftedClock<C> {
        let offset = start.signed_duration_since(inner.now());
        ShiftedClock { inner, offset }
    }

    /// The offset added to the inner clock.
    pub fn offset(&self) -> Duration {
        self.offset
    }
}

impl<C: Clock> Clock for ShiftedClock<C> {
    /// The inner time plus the offset, saturating at the ends of chrono's range.
    fn now(&self) -> DateTime<Utc> {
        let inner = self.inner.now();
        inner
            .checked_add_signed(self.offset)
            .unwrap_or(if self.offset < Duration::zero() {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            })
    }
}
