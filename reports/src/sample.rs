//! A synthetic, deterministic rehearsal report for tests, demos and looking at the page:
//! data year 2016's kommuner (names and numbers from the model's registry; no person data)
//! with varied, made-up outcomes. It is not the output of a run.
//!
//! `sample(n, seed)` gives `n` kommuner: the registry's 428 for 2016, then synthetic
//! numbers `99xx` (the first of which has a name full of markup, to test escaping).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, Utc};

use iplos_model::calendar::{OSLO, Season, oslo_instant, receipt_time};

use crate::rehearsal::{
    Channel, DailyCounts, EndpointStats, FailureGroup, KommunePhase, KommuneResult, PhaseStatus,
    PhaseSummary, ReceiptDelay, RehearsalReport, RunInfo, TimelineEvent, Tool, WallClock,
    catalogue_rule_info,
};

/// splitmix64: a tiny deterministic mixer (no rand dependency in the library).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct Dice(u64);
impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 = mix(self.0);
        self.0 % n.max(1)
    }
}

const VENDORS: &[&str] = &["Gerica", "Profil", "CosDoc", "Visma Omsorg", "Acos"];

/// (cause id, title, consequence)
const CAUSES: &[(&str, &str, &str)] = &[
    (
        "never_tested",
        "Kommune never tested in week 42",
        "problems found only in the ordinary submission",
    ),
    (
        "wrong_pin",
        "Wrong PIN at Sendemodul login",
        "login refused; submission delayed until the PIN is found",
    ),
    (
        "wrong_orgnr",
        "Wrong organisasjonsnummer at login",
        "login refused",
    ),
    (
        "firewall_closed",
        "Firewall not opened for tcp/443 to Sendemodul",
        "upload never reached the national side",
    ),
    (
        "postmottak_never",
        "Postmottak did not forward the filsluse mail",
        "password link expired after 60 minutes; feedback not fetched",
    ),
    (
        "wrong_unzip_tool",
        "Feedback zip could not be opened",
        "wrong unzip tool or wrong password; feedback not read",
    ),
    (
        "no_receipt",
        "No receipt by 08:00 the next working day",
        "kommune had to contact SSB",
    ),
    (
        "late_correction",
        "Correction sent after the deadline",
        "correction misses the publication",
    ),
    ("epj_not_upgraded", "EPJ not upgraded", "submission late"),
];

fn cause(id: &str) -> (&'static str, &'static str, &'static str) {
    CAUSES
        .iter()
        .copied()
        .find(|c| c.0 == id)
        .unwrap_or(("unknown", "Unknown cause", ""))
}

fn oslo(date: NaiveDate, h: u32, m: u32) -> DateTime<FixedOffset> {
    let t = NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
    let utc = oslo_instant(date, t).unwrap_or_else(|| date.and_time(t).and_utc());
    utc.with_timezone(&OSLO).fixed_offset()
}

fn fixed(utc: DateTime<Utc>) -> DateTime<FixedOffset> {
    utc.with_timezone(&OSLO).fixed_offset()
}

/// A report of `n` kommuner for data year 2016, deterministic in `seed`.
pub fn sample(n: usize, seed: u64) -> RehearsalReport {
    season_sample(2016, n, seed)
}

/// A report for data year `year` (its calendar and registry; the service bus with
/// AppRecs in seconds from 2018, with approved extensions), `n` kommuner, deterministic
/// in `seed`. `season_sample(2017, 426, s)` is a 2017-season-sized report,
/// `season_sample(2026, 357, s)` a 2026 dress rehearsal.
pub fn season_sample(year: i32, n: usize, seed: u64) -> RehearsalReport {
    let season = match Season::for_data_year(year).or_else(|_| Season::for_data_year(2016)) {
        Ok(s) => s,
        Err(_) => unreachable_season(),
    };
    let amqp = year >= 2018;
    let channel = if amqp {
        Channel::Amqp
    } else {
        Channel::Sendemodul
    };
    let ph = |kind: &str| {
        season
            .phases()
            .iter()
            .find(|p| {
                serde_json::to_value(p.kind())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .as_deref()
                    == Some(kind)
            })
            .map(|p| (p.first_day(), p.last_day(), p.name().to_string()))
    };
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    let (ts_first, ts_last, ts_name) =
        ph("test_submission").unwrap_or((day(2016, 10, 17), day(2016, 10, 23), "test".into()));
    let (tf_first, tf_last, tf_name) = ph("test_feedback").unwrap_or((
        day(2016, 10, 24),
        day(2016, 10, 30),
        "test feedback".into(),
    ));
    let (os_first, os_last, os_name) =
        ph("ordinary_submission").unwrap_or((day(2017, 1, 2), day(2017, 1, 15), "ordinary".into()));
    let (fb_first, fb_last, fb_name) =
        ph("feedback").unwrap_or((day(2017, 2, 6), day(2017, 2, 12), "feedback".into()));
    let (co_first, co_last, co_name) =
        ph("corrections_deadline").unwrap_or((fb_first, day(2017, 3, 31), "corrections".into()));
    let rc_last = os_last + Duration::days(3);

    let phases = vec![
        PhaseSummary::new(
            "test_submission",
            ts_name,
            ts_first,
            ts_last,
            Some(oslo(ts_last + Duration::days(1), 0, 0)),
        ),
        PhaseSummary::new(
            "test_feedback",
            tf_name,
            tf_first,
            tf_last,
            Some(oslo(tf_last + Duration::days(1), 0, 0)),
        ),
        PhaseSummary::new(
            "ordinary_submission",
            os_name,
            os_first,
            os_last,
            Some(oslo(os_last + Duration::days(1), 0, 0)),
        ),
        PhaseSummary::new(
            "receipt",
            "receipt by 08:00 next working day",
            os_first,
            rc_last,
            None,
        ),
        PhaseSummary::new(
            "feedback",
            fb_name,
            fb_first,
            fb_last,
            Some(oslo(fb_last + Duration::days(1), 0, 0)),
        ),
        PhaseSummary::new(
            "corrections",
            co_name,
            co_first,
            co_last,
            Some(oslo(co_last + Duration::days(1), 0, 0)),
        ),
    ];

    let registry = u16::try_from(year)
        .ok()
        .and_then(|y| iplos_model::municipality::municipalities(y).ok())
        .unwrap_or(&[]);
    let rules: Vec<&str> = iplos_model::rules::catalogue::ALL
        .iter()
        .map(|r| r.id)
        .take(14)
        .collect();

    let mut kommuner = Vec::with_capacity(n);
    let mut daily: BTreeMap<NaiveDate, DailyCounts> = BTreeMap::new();
    let mut delays = Vec::new();
    let mut messages = BTreeMap::new();
    let mut groups: BTreeMap<&str, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut bump = |d: NaiveDate, f: fn(&mut DailyCounts)| {
        let e = daily.entry(d).or_insert_with(|| DailyCounts {
            date: d,
            submissions: 0,
            receipts: 0,
            rejections: 0,
            feedback: 0,
            corrections: 0,
        });
        f(e);
    };

    for i in 0..n {
        let (nr, name) = match registry.get(i) {
            Some(m) => (m.number().to_string(), m.name().to_string()),
            None => {
                let j = i - registry.len();
                let nr = format!("99{:02}", (j + 1) % 100);
                let name = if j == 0 {
                    "Prøve & <b>Test</b> \"kommune\" <script>alert(1)</script>".to_string()
                } else {
                    format!("Prøvekommune {}", j + 1)
                };
                (nr, name)
            }
        };
        let mut d = Dice(mix(seed ^ mix(i as u64 + 1)));
        let vendor = VENDORS[d.roll(VENDORS.len() as u64) as usize].to_string();
        let mut kp = Vec::new();
        let mut timeline = Vec::new();
        let mut faults: Vec<String> = Vec::new();
        let mut ev = |at: DateTime<FixedOffset>, kind: &str, detail: String| {
            timeline.push(TimelineEvent {
                at,
                kind: kind.into(),
                detail,
            });
        };
        let mut set = |phase: &str, status, at, c: Option<&str>, kp: &mut Vec<KommunePhase>| {
            let reason = c.map(|c| cause(c).1.to_string());
            if let Some(c) = c {
                let g = groups.entry(cause(c).0).or_default();
                g.0.push(nr.clone());
                g.1.push(phase.to_string());
            }
            kp.push(KommunePhase {
                phase: phase.into(),
                status,
                at,
                reason,
                cause: c.map(str::to_string),
            });
        };

        // test submission
        let r = d.roll(100);
        let tested = r < 65;
        if tested {
            let date = ts_first + Duration::days(d.roll(5) as i64);
            let at = oslo(date, 8 + d.roll(8) as u32, d.roll(60) as u32);
            ev(
                at,
                "submission",
                "test file uploaded to SendemodulTEST (2015 data)".into(),
            );
            bump(date, |c| c.submissions += 1);
            set(
                "test_submission",
                PhaseStatus::OnTime,
                Some(at),
                None,
                &mut kp,
            );
        } else if r < 68 {
            faults.push("wrong_pin".into());
            let at = oslo(ts_first + Duration::days(2), 10, 5);
            ev(at, "login", "Sendemodul login refused: wrong PIN".into());
            set(
                "test_submission",
                PhaseStatus::Failed,
                Some(at),
                Some("wrong_pin"),
                &mut kp,
            );
        } else {
            faults.push("never_tested".into());
            set(
                "test_submission",
                PhaseStatus::NotAttempted,
                None,
                Some("never_tested"),
                &mut kp,
            );
        }
        // test feedback
        if tested {
            let date = tf_first + Duration::days(d.roll(4) as i64);
            if d.roll(10) == 0 {
                faults.push("postmottak_never".into());
                let at = oslo(date, 9, 0);
                ev(
                    at,
                    "mail",
                    "filsluse password mail stuck in postmottak; link expired".into(),
                );
                set(
                    "test_feedback",
                    PhaseStatus::Failed,
                    Some(at),
                    Some("postmottak_never"),
                    &mut kp,
                );
            } else {
                let at = oslo(date, 9 + d.roll(6) as u32, d.roll(60) as u32);
                ev(
                    at,
                    "feedback",
                    "test feedback downloaded from filsluse (password 123456)".into(),
                );
                bump(date, |c| c.feedback += 1);
                set(
                    "test_feedback",
                    PhaseStatus::OnTime,
                    Some(at),
                    None,
                    &mut kp,
                );
            }
        } else {
            set(
                "test_feedback",
                PhaseStatus::NotApplicable,
                None,
                None,
                &mut kp,
            );
        }
        // ordinary submission
        let r = d.roll(100);
        let submitted: Option<DateTime<FixedOffset>> = if r < 90 {
            let date = os_first + Duration::days(d.roll(14) as i64);
            let at = oslo(date, 7 + d.roll(10) as u32, d.roll(60) as u32);
            set(
                "ordinary_submission",
                PhaseStatus::OnTime,
                Some(at),
                None,
                &mut kp,
            );
            Some(at)
        } else if r < 95 {
            faults.push("epj_not_upgraded".into());
            let date = os_last + Duration::days(1 + d.roll(20) as i64);
            let at = oslo(date, 13, 30);
            set(
                "ordinary_submission",
                PhaseStatus::Late,
                Some(at),
                Some("epj_not_upgraded"),
                &mut kp,
            );
            Some(at)
        } else if r < 98 {
            let c = if r < 97 {
                "firewall_closed"
            } else {
                "wrong_orgnr"
            };
            faults.push(c.into());
            let at = oslo(os_first + Duration::days(1), 9, 15);
            ev(at, "rejection", format!("upload failed: {}", cause(c).1));
            bump(at.date_naive(), |c| c.rejections += 1);
            set(
                "ordinary_submission",
                PhaseStatus::Failed,
                Some(at),
                Some(c),
                &mut kp,
            );
            None
        } else {
            set(
                "ordinary_submission",
                PhaseStatus::NotAttempted,
                None,
                None,
                &mut kp,
            );
            None
        };
        // receipt
        if let Some(at) = submitted {
            ev(
                at,
                "submission",
                "ordinary file uploaded to Sendemodul".into(),
            );
            bump(at.date_naive(), |c| c.submissions += 1);
            *messages.entry(nr.clone()).or_insert(0u64) += 1;
            let due = receipt_time(at.with_timezone(&Utc))
                .map(fixed)
                .unwrap_or(at);
            let due = if amqp {
                at + Duration::seconds(1 + d.roll(9) as i64)
            } else {
                due
            };
            let (rt, status, c) = if !amqp && d.roll(20) == 0 {
                faults.push("no_receipt".into());
                (
                    due + Duration::hours(26),
                    PhaseStatus::Late,
                    Some("no_receipt"),
                )
            } else {
                (due, PhaseStatus::OnTime, None)
            };
            ev(
                rt,
                "receipt",
                format!("receipt mail: data arrived {}", at.format("%d.%m.%Y %H:%M")),
            );
            bump(rt.date_naive(), |c| c.receipts += 1);
            delays.push(ReceiptDelay::new(nr.clone(), at, rt));
            set("receipt", status, Some(rt), c, &mut kp);
        } else {
            set("receipt", PhaseStatus::NotApplicable, None, None, &mut kp);
        }
        // feedback
        if submitted.is_some() {
            let date = fb_first + Duration::days(d.roll(5) as i64);
            let r = d.roll(100);
            if r < 90 {
                let at = oslo(date, 10, d.roll(60) as u32);
                ev(
                    at,
                    "feedback",
                    "feilliste and kontrolltabeller opened".into(),
                );
                bump(date, |c| c.feedback += 1);
                set("feedback", PhaseStatus::OnTime, Some(at), None, &mut kp);
            } else if r < 96 {
                faults.push("wrong_unzip_tool".into());
                let at = oslo(date, 11, 0);
                ev(
                    at,
                    "feedback",
                    "feedback zip could not be opened (AES-256, old unzip tool)".into(),
                );
                set(
                    "feedback",
                    PhaseStatus::Failed,
                    Some(at),
                    Some("wrong_unzip_tool"),
                    &mut kp,
                );
            } else {
                faults.push("postmottak_never".into());
                let at = oslo(fb_last + Duration::days(4), 9, 0);
                bump(at.date_naive(), |c| c.feedback += 1);
                ev(
                    at,
                    "feedback",
                    "feedback fetched late: notification mail forwarded late".into(),
                );
                set(
                    "feedback",
                    PhaseStatus::Late,
                    Some(at),
                    Some("postmottak_never"),
                    &mut kp,
                );
            }
        } else {
            set("feedback", PhaseStatus::NotApplicable, None, None, &mut kp);
        }
        // corrections
        let r = d.roll(100);
        if submitted.is_some() && r < 40 {
            let date = co_first + Duration::days(7 + d.roll(40) as i64);
            let at = oslo(date, 12, d.roll(60) as u32);
            ev(at, "correction", "corrected file sent".into());
            bump(date, |c| c.corrections += 1);
            set("corrections", PhaseStatus::OnTime, Some(at), None, &mut kp);
        } else if submitted.is_some() && r < 48 {
            faults.push("late_correction".into());
            let at = oslo(co_last + Duration::days(3 + d.roll(10) as i64), 14, 0);
            ev(
                at,
                "correction",
                "corrected file sent after the deadline".into(),
            );
            bump(at.date_naive(), |c| c.corrections += 1);
            set(
                "corrections",
                PhaseStatus::Late,
                Some(at),
                Some("late_correction"),
                &mut kp,
            );
        } else {
            set(
                "corrections",
                PhaseStatus::NotApplicable,
                None,
                None,
                &mut kp,
            );
        }
        let mut findings = BTreeMap::new();
        if submitted.is_some() && !rules.is_empty() {
            for _ in 0..d.roll(4) {
                let rule = rules[d.roll(rules.len() as u64) as usize];
                *findings.entry(rule.to_string()).or_insert(0) += 1 + d.roll(30);
            }
        }
        kommuner.push(KommuneResult {
            kommunenr: nr,
            name,
            vendor,
            channel,
            phases: kp,
            faults,
            timeline,
            findings,
            conflicting_apprecs: Vec::new(),
        });
    }

    let failures = groups
        .into_iter()
        .map(|(c, (ks, ps))| {
            let (id, title, consequence) = cause(c);
            FailureGroup {
                cause: id.into(),
                title: title.into(),
                consequence: consequence.into(),
                phases: ps,
                kommuner: ks,
            }
        })
        .collect();
    let mut r = RehearsalReport::new(
        Tool::this_crate(),
        RunInfo {
            season: year,
            scenario: if amqp {
                "dress-rehearsal-sample"
            } else {
                "sample"
            }
            .into(),
            seed,
            scale: 0.1,
            channel,
            kommuner: n as u32,
            virtual_start: oslo(
                NaiveDate::from_ymd_opt(year, 10, 1).unwrap_or_default(),
                0,
                0,
            ),
            virtual_end: oslo(
                NaiveDate::from_ymd_opt(year + 1, 4, 30).unwrap_or_default(),
                0,
                0,
            ),
        },
    );
    r.phases = phases;
    r.kommuner = kommuner;
    if amqp {
        // No test feedback on the filsluse in service-bus years.
        r.phases.retain(|p| p.id != "test_feedback");
        for k in &mut r.kommuner {
            k.phases.retain(|p| p.phase != "test_feedback");
        }
    }
    r.daily = daily.into_values().collect();
    r.receipt_delays.delays = delays;
    r.failures = failures;
    r.timing = WallClock {
        started: None,
        finished: None,
        wall_seconds: Some(12.34),
        peak_rss_bytes: Some(180 << 20),
        endpoints: vec![
            EndpointStats {
                endpoint: "sendemodul".into(),
                requests: 2210,
                errors: 31,
                per_second: 184.2,
                p50_ms: 3.1,
                p90_ms: 7.9,
                p99_ms: 21.4,
                max_ms: 88.0,
            },
            EndpointStats {
                endpoint: "filsluse".into(),
                requests: 1630,
                errors: 12,
                per_second: 135.8,
                p50_ms: 2.2,
                p90_ms: 5.0,
                p99_ms: 14.9,
                max_ms: 40.3,
            },
            EndpointStats {
                endpoint: "smtp".into(),
                requests: 1280,
                errors: 0,
                per_second: 106.7,
                p50_ms: 1.4,
                p90_ms: 2.8,
                p99_ms: 6.6,
                max_ms: 12.1,
            },
        ],
    };
    r.derive_findings(catalogue_rule_info, &messages);
    for v in &mut r.findings.by_vendor {
        for rule in v.by_rule.keys() {
            v.excerpts.insert(
                rule.clone(),
                format!(
                    "<Tjenestemottaker>\n  <!-- {rule} -->\n  <Tjeneste kode=\"??\" fraDato=\"{year}-13-01\"/>\n</Tjenestemottaker>"
                ),
            );
        }
    }
    r
}

#[cold]
fn unreachable_season() -> Season {
    // 2016 is inside the calendar's range; a calendar without it is a build error of the
    // model, not something a caller can cause.
    panic!("the model's calendar has no season for data year 2016")
}
