//! Europe/Oslo civil times as they stand in the message (`2024-03-10T21:32:00+01:00`), and
//! fast formatting of dates and GUIDs (no `format!` in the hot loops).
//!
//! The offset follows the EU rule Norway uses (since 1996): summer time (+02:00) from the
//! last Sunday of March 02:00 to the last Sunday of October 03:00 local time. A local time
//! skipped in spring (02:00–02:59 on the last Sunday of March) is moved one hour on by
//! [`OsloTime::new`]; a time that occurs twice in autumn is given the earlier (+02:00)
//! offset, as `iplos_model::calendar::oslo_instant` does. A unit test compares every hour
//! of several years with the `chrono-tz` tables behind `iplos_model::calendar`.

use std::fmt;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Europe/Oslo civil time, to the second. Displays and serialises as an xs:dateTime with
/// the offset valid at that time, e.g. `2024-07-01T09:15:00+02:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OsloTime(NaiveDateTime);

/// The day of the last Sunday of `month` (March or October) in `year`.
fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let last = NaiveDate::from_ymd_opt(year, month, 31)?;
    let back = last.weekday().num_days_from_sunday();
    last.checked_sub_signed(Duration::days(i64::from(back)))
}

impl OsloTime {
    /// The local time `t`, moved one hour on if it falls in the hour skipped when summer
    /// time starts.
    pub fn new(t: NaiveDateTime) -> OsloTime {
        if t.hour() == 2
            && t.month() == 3
            && t.weekday() == Weekday::Sun
            && last_sunday(t.year(), 3) == Some(t.date())
        {
            return OsloTime(t + Duration::hours(1));
        }
        OsloTime(t)
    }

    /// The local time at `hour:minute:second` on `date` (see [`OsloTime::new`]).
    pub fn at(date: NaiveDate, hour: u32, minute: u32, second: u32) -> OsloTime {
        let time = NaiveTime::from_hms_opt(hour.min(23), minute.min(59), second.min(59))
            .unwrap_or(NaiveTime::MIN);
        OsloTime::new(date.and_time(time))
    }

    /// Midnight at the start of `date`.
    pub fn midnight(date: NaiveDate) -> OsloTime {
        OsloTime::new(date.and_time(NaiveTime::MIN))
    }

    /// The local date and time.
    pub fn local(self) -> NaiveDateTime {
        self.0
    }

    /// The local date.
    pub fn date(self) -> NaiveDate {
        self.0.date()
    }

    /// This time plus `seconds` (local clock arithmetic, normalised as in [`OsloTime::new`]).
    pub fn plus_seconds(self, seconds: i64) -> OsloTime {
        OsloTime::new(self.0 + Duration::seconds(seconds))
    }

    /// Whether summer time (+02:00) applies.
    pub fn is_summer_time(self) -> bool {
        let t = self.0;
        let (m, y) = (t.month(), t.year());
        if !(3..=10).contains(&m) {
            return false;
        }
        if (4..=9).contains(&m) {
            return true;
        }
        let Some(switch) = last_sunday(y, m) else {
            return false;
        };
        let d = t.date();
        if m == 3 {
            d > switch || (d == switch && t.hour() >= 2)
        } else {
            d < switch || (d == switch && t.hour() < 3)
        }
    }

    /// The UTC offset in hours: 1 (CET) or 2 (CEST).
    pub fn offset_hours(self) -> i32 {
        if self.is_summer_time() { 2 } else { 1 }
    }

    /// Appends the xs:dateTime form to `buf`.
    pub fn push_to(self, buf: &mut String) {
        let t = self.0;
        push_date(buf, t.date());
        buf.push('T');
        push2(buf, t.hour());
        buf.push(':');
        push2(buf, t.minute());
        buf.push(':');
        push2(buf, t.second());
        buf.push_str(if self.is_summer_time() {
            "+02:00"
        } else {
            "+01:00"
        });
    }

    /// The xs:dateTime form, e.g. `2024-01-08T10:14:03+01:00`.
    pub fn to_xml(self) -> String {
        let mut s = String::with_capacity(25);
        self.push_to(&mut s);
        s
    }

    /// Parses the form written by [`OsloTime::to_xml`] (the offset is recomputed, not read).
    pub fn parse(s: &str) -> Option<OsloTime> {
        let head = s.get(..19)?;
        NaiveDateTime::parse_from_str(head, "%Y-%m-%dT%H:%M:%S")
            .ok()
            .map(OsloTime::new)
    }
}

impl fmt::Display for OsloTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xml())
    }
}

impl schemars::JsonSchema for OsloTime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OsloTime".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A Europe/Oslo civil time to the second, with the offset valid then (`+01:00` or `+02:00`), as an xs:dateTime.",
            "type": "string",
            "format": "date-time",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$",
        })
    }
}

impl Serialize for OsloTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_xml())
    }
}

impl<'de> Deserialize<'de> for OsloTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OsloTime::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("not a date-time YYYY-MM-DDTHH:MM:SS±HH:MM: {s}"))
        })
    }
}

fn push2(buf: &mut String, v: u32) {
    buf.push(char::from(b'0' + (v / 10 % 10) as u8));
    buf.push(char::from(b'0' + (v % 10) as u8));
}

/// Appends `YYYY-MM-DD` (years 0–9999).
pub fn push_date(buf: &mut String, d: NaiveDate) {
    let y = d.year().clamp(0, 9999) as u32;
    push2(buf, y / 100);
    push2(buf, y % 100);
    buf.push('-');
    push2(buf, d.month());
    buf.push('-');
    push2(buf, d.day());
}

/// `YYYY-MM-DD`.
pub fn date_string(d: NaiveDate) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, d);
    s
}

/// A random (version 4 layout) GUID in lower-case hex, e.g.
/// `f57deb4f-dda9-49c3-b863-6b4c0ad6fc8f`.
pub fn guid<R: Rng + ?Sized>(rng: &mut R) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b: [u8; 16] = rng.r#gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(byte >> 4)]));
        s.push(char::from(HEX[usize::from(byte & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use iplos_model::calendar::oslo_local;

    #[test]
    fn offsets_match_the_tz_tables_for_every_hour() {
        // Walk UTC hours, convert with chrono-tz (through the model), and compare the offset
        // and local time with ours.
        for year in [2016, 2017, 2021, 2024, 2025, 2030] {
            let mut t = Utc.with_ymd_and_hms(year, 1, 1, 0, 30, 0).unwrap();
            let end = Utc.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).unwrap();
            while t < end {
                let local = oslo_local(t).unwrap();
                let ours = OsloTime::new(local);
                assert_eq!(ours.local(), local, "{t}");
                let offset = (local - t.naive_utc()).num_hours() as i32;
                // The repeated hour in autumn is given the earlier offset only.
                let repeated = local.month() == 10
                    && local.hour() == 2
                    && last_sunday(year, 10) == Some(local.date());
                if !(repeated && offset == 1) {
                    assert_eq!(ours.offset_hours(), offset, "{t} local {local}");
                }
                t += Duration::hours(1);
            }
        }
    }

    #[test]
    fn skipped_hour_moves_on_and_format_is_xsd_datetime() {
        let d = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
        assert_eq!(
            OsloTime::at(d, 2, 30, 0).to_xml(),
            "2024-03-31T03:30:00+02:00"
        );
        assert_eq!(
            OsloTime::at(d, 1, 59, 59).to_xml(),
            "2024-03-31T01:59:59+01:00"
        );
        let oct = NaiveDate::from_ymd_opt(2024, 10, 27).unwrap();
        assert_eq!(
            OsloTime::at(oct, 2, 30, 0).to_xml(),
            "2024-10-27T02:30:00+02:00"
        );
        assert_eq!(
            OsloTime::at(oct, 3, 0, 0).to_xml(),
            "2024-10-27T03:00:00+01:00"
        );
        let t = OsloTime::at(NaiveDate::from_ymd_opt(2017, 7, 4).unwrap(), 9, 5, 7);
        assert_eq!(t.to_string(), "2017-07-04T09:05:07+02:00");
        assert_eq!(OsloTime::parse(&t.to_xml()), Some(t));
        assert_eq!(
            date_string(NaiveDate::from_ymd_opt(924, 1, 9).unwrap()),
            "0924-01-09"
        );
    }

    #[test]
    fn guids_have_the_schema_shape() {
        let mut rng = crate::seed::rng_from(1);
        for _ in 0..100 {
            let g = guid(&mut rng);
            assert_eq!(g.len(), 36);
            for (i, c) in g.chars().enumerate() {
                if matches!(i, 8 | 13 | 18 | 23) {
                    assert_eq!(c, '-');
                } else {
                    assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
                }
            }
        }
    }
}
