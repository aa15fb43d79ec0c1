//! `index.html` for a rehearsal: the page a coordinator reads, in bokmål or English
//! (every text from [`crate::i18n`]), every time in Norwegian time ([`crate::when`]).
//!
//! Sections, in order (each a `<section>` with a stable id the tests look for):
//! `#summary` (per phase: on time of those the phase applies to; `#summary-line`, which
//! counts non-testing apart from failures), `#calendar` (key dates), `#at-risk` (per
//! deadline, `#risk-<id>` tables), `#actions` (action lists: CSV and mail per problem
//! group, vendor pages), `#comparison` (against `--baseline` and the real season),
//! `#timeline` (SVG `#timeline-chart`), `#receipts` (by channel; SVG `#receipt-histogram`
//! for the 08:00 mail, seconds for AppRecs), `#failures`, `#extensions`, `#findings`
//! (`#findings-by-rule`, `#findings-by-vendor`), `#kommuner` (`#kommune-table`, search
//! `#kommune-search`, each kommune's bounded timeline) and `#appendix` (developer detail:
//! `#endpoints-table`).
//!
//! **\[model\]** Phase colours for the bands cycle through a fixed palette in phase order;
//! day ticks are the first of each month, or every seventh day for runs shorter than two
//! months.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Datelike, Duration, NaiveDate};

use crate::html::{esc, page_lang, section, stacked_bar, table};
use crate::i18n::Lang;
use crate::rehearsal::{Channel, PhaseStatus, RehearsalReport};
use crate::svg::{self, Band, Frame, Series};
use crate::when;

const BAND_COLOURS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
];

/// The sections in page order: id and title key.
const NAV: &[(&str, &str)] = &[
    ("summary", "summary.title"),
    ("calendar", "calendar.title"),
    ("at-risk", "risk.title"),
    ("actions", "actions.title"),
    ("comparison", "compare.title"),
    ("timeline", "timeline.title"),
    ("receipts", "receipts.title"),
    ("failures", "failures.title"),
    ("extensions", "extensions.title"),
    ("findings", "findings.title"),
    ("kommuner", "kommuner.title"),
    ("appendix", "appendix.title"),
];

/// The whole page for a (normalised) report, in bokmål.
pub fn render(r: &RehearsalReport) -> String {
    render_in(r, Lang::Nb)
}

/// The whole page for a (normalised) report in `lang`.
pub fn render_in(r: &RehearsalReport, lang: Lang) -> String {
    let title = lang.fill(
        "page.title",
        &[("year", &r.run.season), ("scenario", &r.run.scenario)],
    );
    let channel = lang.t(&format!("channel.{}", r.run.channel.as_str()));
    let mut meta = lang.fill(
        "page.meta",
        &[
            ("scenario", &esc(&r.run.scenario)),
            ("seed", &r.run.seed),
            ("scale", &r.run.scale),
            ("channel", &esc(channel)),
            ("kommuner", &r.run.kommuner),
            (
                "from",
                &esc(&when::day(when::oslo(&r.run.virtual_start).0, lang)),
            ),
            (
                "to",
                &esc(&when::day(when::oslo(&r.run.virtual_end).0, lang)),
            ),
        ],
    );
    let _ = write!(meta, " · {}", esc(lang.t("when.zone")));
    meta.push_str("<nav class=\"toc\">");
    for (id, key) in NAV {
        let _ = write!(meta, "<a href=\"#{id}\">{}</a>", esc(lang.t(key)));
    }
    meta.push_str("</nav>");
    let mut body = String::with_capacity(256 * 1024);
    body.push_str(&summary(r, lang));
    body.push_str(&calendar(r, lang));
    body.push_str(&crate::page_sections::at_risk(r, lang));
    body.push_str(&crate::actions::section_html(r, lang));
    body.push_str(&crate::page_sections::comparison(r, lang));
    body.push_str(&timeline(r, lang));
    body.push_str(&receipts(r, lang));
    body.push_str(&crate::page_sections::failures(r, lang));
    body.push_str(&crate::page_sections::extensions(r, lang));
    body.push_str(&crate::page_sections::findings(r, lang));
    body.push_str(&crate::page_sections::kommuner(r, lang));
    body.push_str(&appendix(r, lang));
    let mut footer = esc(&lang.fill(
        "page.footer",
        &[
            ("tool", &r.tool.name),
            ("version", &r.tool.version),
            ("format", &r.schema_version),
        ],
    ));
    if let Some(s) = r.timing.started {
        let _ = write!(
            footer,
            " · {}",
            esc(&lang.fill("page.footer_started", &[("at", &when::at(&s, lang))]))
        );
    }
    if let Some(w) = r.timing.wall_seconds {
        let _ = write!(
            footer,
            " · {}",
            esc(&lang.fill("page.footer_wall", &[("seconds", &w)]))
        );
    }
    page_lang(lang, &title, &meta, &body, &footer)
}

fn status_parts(
    lang: Lang,
    on: u32,
    late: u32,
    failed: u32,
    none: u32,
) -> [(&'static str, u64, &'static str); 4] {
    [
        ("st-on_time", on.into(), PhaseStatus::OnTime.label(lang)),
        ("st-late", late.into(), PhaseStatus::Late.label(lang)),
        ("st-failed", failed.into(), PhaseStatus::Failed.label(lang)),
        (
            "st-not_attempted",
            none.into(),
            PhaseStatus::NotAttempted.label(lang),
        ),
    ]
}

fn summary(r: &RehearsalReport, lang: Lang) -> String {
    let mut o = String::from("<div class=\"verdict\">\n");
    for p in &r.phases {
        let pct = if p.total > 0 {
            f64::from(p.on_time) * 100.0 / f64::from(p.total)
        } else {
            0.0
        };
        let _ = writeln!(
            o,
            "<div class=\"name\" data-phase=\"{id}\">{name}<br><small>{from} – {to}</small></div>\
{bar}<div class=\"figure\" data-phase=\"{id}\">{fig}<br><small>{detail}</small></div>",
            id = esc(&p.id),
            name = esc(&lang.phase(&p.id, &p.name)),
            from = esc(&when::day_short(p.first_day, lang)),
            to = esc(&when::day_short(p.last_day, lang)),
            bar = stacked_bar(&status_parts(
                lang,
                p.on_time,
                p.late,
                p.failed,
                p.not_attempted
            )),
            fig = lang.fill("summary.figure", &[("on", &p.on_time), ("total", &p.total)]),
            detail = esc(&lang.fill(
                "summary.detail",
                &[
                    ("pct", &format!("{pct:.0}")),
                    ("late", &p.late),
                    ("failed", &p.failed),
                    ("none", &p.not_attempted),
                ]
            )),
        );
    }
    o.push_str("</div>\n<p class=\"legend-inline\">");
    for s in [
        PhaseStatus::OnTime,
        PhaseStatus::Late,
        PhaseStatus::Failed,
        PhaseStatus::NotAttempted,
    ] {
        let _ = write!(
            o,
            "<span><i class=\"st-{}\"></i>{}</span>",
            s.as_str(),
            esc(s.label(lang))
        );
    }
    o.push_str("</p>");
    // Not testing is not failing: a kommune counts as failed only for a late or failed
    // step, or a step never attempted other than the test; approved extensions are not late.
    let ext = &r.coordination.extensions;
    let (mut failed, mut untested) = (0, 0);
    for k in &r.kommuner {
        let extended = ext.contains(&k.kommunenr);
        let bad = k.phases.iter().any(|p| match p.status {
            PhaseStatus::Late => !(extended && p.phase == "ordinary_submission"),
            PhaseStatus::Failed => p.phase != "test_submission",
            PhaseStatus::NotAttempted => p.phase != "test_submission",
            _ => false,
        });
        let not_tested = k
            .phase("test_submission")
            .is_some_and(|p| matches!(p.status, PhaseStatus::NotAttempted | PhaseStatus::Failed));
        if bad {
            failed += 1;
        } else if not_tested {
            untested += 1;
        }
    }
    let n = r.kommuner.len();
    let extended = r
        .kommuner
        .iter()
        .filter(|k| ext.contains(&k.kommunenr))
        .count();
    let ok = n.saturating_sub(failed + untested);
    let _ = write!(
        o,
        "<p class=\"note\" id=\"summary-line\">{}</p>",
        esc(&lang.fill(
            "summary.line",
            &[
                ("ok", &ok),
                ("n", &n),
                ("failed", &failed),
                ("untested", &untested),
                ("extended", &extended),
            ]
        ))
    );
    section("summary", lang.t("summary.title"), &o)
}

fn calendar(r: &RehearsalReport, lang: Lang) -> String {
    let mut rows: Vec<(NaiveDate, String, String)> = r
        .phases
        .iter()
        .map(|p| {
            let text = if p.first_day == p.last_day {
                when::day(p.first_day, lang)
            } else {
                lang.fill(
                    "calendar.from_to",
                    &[
                        ("from", &when::day(p.first_day, lang)),
                        ("to", &when::day(p.last_day, lang)),
                    ],
                )
            };
            (p.first_day, lang.phase(&p.id, &p.name), text)
        })
        .collect();
    for d in &r.coordination.at_risk {
        rows.push((
            d.date,
            lang.t(&format!("deadline.{}", d.id)).to_string(),
            when::day(d.date, lang),
        ));
    }
    if let Some(d) = NaiveDate::from_ymd_opt(r.run.season + 1, 3, 15) {
        rows.push((
            d,
            lang.t("deadline.publication_march").to_string(),
            when::day(d, lang),
        ));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    rows.dedup_by(|a, b| a.1 == b.1 && a.2 == b.2);
    let mut o = format!(
        "<p class=\"note\">{}</p><dl class=\"calendar\" id=\"calendar-list\">",
        esc(lang.t("calendar.note"))
    );
    for (d, name, text) in rows {
        let _ = write!(
            o,
            "<dt>{}</dt><dd><time datetime=\"{}\">{}</time></dd>",
            esc(&name),
            when::iso_day(d),
            esc(&text)
        );
    }
    o.push_str("</dl>");
    section("calendar", lang.t("calendar.title"), &o)
}

fn timeline(r: &RehearsalReport, lang: Lang) -> String {
    let first = r
        .daily
        .iter()
        .map(|d| d.date)
        .chain(r.phases.iter().map(|p| p.first_day))
        .min();
    let last = r
        .daily
        .iter()
        .map(|d| d.date)
        .chain(r.phases.iter().map(|p| p.last_day))
        .max();
    let (Some(first), Some(last)) = (first, last) else {
        return section(
            "timeline",
            lang.t("timeline.title"),
            &format!("<p class=\"note\">{}</p>", esc(lang.t("timeline.empty"))),
        );
    };
    // Bounded: a report spans one season; cap at ~3 years of days to stay light.
    let n = ((last - first).num_days().clamp(0, 1100) + 1) as usize;
    let days: Vec<NaiveDate> = (0..n).map(|i| first + Duration::days(i as i64)).collect();
    let by_date: BTreeMap<NaiveDate, &crate::rehearsal::DailyCounts> =
        r.daily.iter().map(|d| (d.date, d)).collect();
    let get = |f: fn(&crate::rehearsal::DailyCounts) -> u32| -> Vec<f64> {
        days.iter()
            .map(|d| by_date.get(d).map(|c| f64::from(f(c))).unwrap_or(0.0))
            .collect()
    };
    let s = |key: &str, colour: &str, values| Series {
        name: lang.t(key).into(),
        colour: colour.into(),
        values,
    };
    let series = vec![
        s("series.submissions", "#1f77b4", get(|c| c.submissions)),
        s("series.receipts", "#2ca02c", get(|c| c.receipts)),
        s("series.rejections", "#c62828", get(|c| c.rejections)),
        s("series.corrections", "#ff7f0e", get(|c| c.corrections)),
        s("series.feedback", "#9467bd", get(|c| c.feedback)),
    ];
    let month = |d: &NaiveDate| {
        let m = lang.months()[d.month0() as usize];
        format!(
            "{} {}",
            m.chars().take(3).collect::<String>(),
            d.year() % 100
        )
    };
    let ticks: Vec<(usize, String)> = if n > 60 {
        days.iter()
            .enumerate()
            .filter(|(_, d)| d.day() == 1)
            .map(|(i, d)| (i, month(d)))
            .collect()
    } else {
        days.iter()
            .enumerate()
            .filter(|(i, _)| i % 7 == 0)
            .map(|(i, d)| (i, when::day_short(*d, lang)))
            .collect()
    };
    let idx = |d: NaiveDate| (d - first).num_days().max(0) as usize;
    let bands: Vec<Band> = r
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = lang.phase(&p.id, &p.name);
            Band {
                from: idx(p.first_day),
                to: idx(p.last_day),
                label: name.clone(),
                tooltip: format!(
                    "{name}: {} – {}",
                    when::day(p.first_day, lang),
                    when::day(p.last_day, lang)
                ),
                colour: BAND_COLOURS[i % BAND_COLOURS.len()].to_string(),
            }
        })
        .collect();
    let hover: Vec<String> = days
        .iter()
        .map(|d| {
            let day = when::day(*d, lang);
            match by_date.get(d) {
                Some(c) => lang.fill(
                    "timeline.hover",
                    &[
                        ("day", &day),
                        ("s", &c.submissions),
                        ("r", &c.receipts),
                        ("x", &c.rejections),
                        ("c", &c.corrections),
                        ("f", &c.feedback),
                    ],
                ),
                None => lang.fill("timeline.hover_none", &[("day", &day)]),
            }
        })
        .collect();
    let chart = svg::line_chart(
        "timeline-chart",
        lang.t("timeline.chart"),
        Frame::default(),
        &series,
        &ticks,
        &bands,
        &hover,
    );
    let mut stats = String::from("<div class=\"stats\">");
    for s in &series {
        let total = s.values.iter().sum::<f64>() as u64;
        let _ = write!(stats, "<div><b>{total}</b>{}</div>", esc(&s.name));
    }
    stats.push_str("</div>");
    section(
        "timeline",
        lang.t("timeline.title"),
        &format!(
            "<p class=\"note\">{}</p>{chart}{stats}",
            esc(lang.t("timeline.note"))
        ),
    )
}

fn receipts(r: &RehearsalReport, lang: Lang) -> String {
    let d = &r.receipt_delays;
    let stat = |v: String, key: &str| format!("<div><b>{v}</b>{}</div>", esc(lang.t(key)));
    if r.run.channel != Channel::Sendemodul {
        // AppRecs come in seconds: no 08:00 rule, no hour buckets.
        let mut secs: Vec<i64> = d
            .delays
            .iter()
            .map(|x| (x.receipted - x.arrived).num_seconds().max(0))
            .collect();
        secs.sort_unstable();
        let s = |x: Option<i64>| {
            x.map(|v| lang.fill("receipts.seconds", &[("n", &v)]))
                .unwrap_or_else(|| "–".into())
        };
        let stats = format!(
            "<div class=\"stats\" id=\"receipt-stats\">{}{}{}{}</div>",
            stat(secs.len().to_string(), "receipts.count"),
            stat(s(crate::rehearsal::percentile(&secs, 50)), "receipts.p50"),
            stat(s(crate::rehearsal::percentile(&secs, 90)), "receipts.p90"),
            stat(s(secs.last().copied()), "receipts.max"),
        );
        return section(
            "receipts",
            lang.t("receipts.title"),
            &format!(
                "<p class=\"note\" data-channel=\"amqp\">{}</p>{stats}",
                esc(lang.t("receipts.amqp_note"))
            ),
        );
    }
    let labels: Vec<String> = d
        .histogram
        .iter()
        .map(|b| match b.to_hours {
            Some(t) => lang.fill("receipts.bucket", &[("from", &b.from_hours), ("to", &t)]),
            None => lang.fill("receipts.bucket_open", &[("from", &b.from_hours)]),
        })
        .collect();
    let values: Vec<f64> = d.histogram.iter().map(|b| f64::from(b.count)).collect();
    let chart = svg::bar_chart(
        "receipt-histogram",
        lang.t("receipts.chart"),
        Frame {
            height: 240.0,
            top: 16.0,
            ..Frame::default()
        },
        &labels,
        &values,
        "#2ca02c",
    );
    let h = |x: Option<f64>| {
        x.map(|v| lang.fill("receipts.hours", &[("n", &v)]))
            .unwrap_or_else(|| "–".into())
    };
    let late = d.delays.iter().filter(|x| x.minutes > 24 * 60).count();
    let stats = format!(
        "<div class=\"stats\" id=\"receipt-stats\">{}{}{}{}{}</div>",
        stat(d.delays.len().to_string(), "receipts.count"),
        stat(h(d.p50_hours), "receipts.p50"),
        stat(h(d.p90_hours), "receipts.p90"),
        stat(h(d.max_hours), "receipts.max"),
        stat(late.to_string(), "receipts.over24"),
    );
    section(
        "receipts",
        lang.t("receipts.title"),
        &format!(
            "<p class=\"note\" data-channel=\"mail\">{}</p>{stats}{chart}",
            esc(lang.t("receipts.mail_note"))
        ),
    )
}

fn appendix(r: &RehearsalReport, lang: Lang) -> String {
    let rows: Vec<Vec<String>> = r
        .timing
        .endpoints
        .iter()
        .map(|e| {
            vec![
                esc(&e.endpoint),
                e.requests.to_string(),
                e.errors.to_string(),
                format!("{}", e.per_second),
                format!("{}", e.p50_ms),
                format!("{}", e.p90_ms),
                format!("{}", e.p99_ms),
                format!("{}", e.max_ms),
            ]
        })
        .collect();
    let mut o = format!("<p class=\"note\">{}</p>", esc(lang.t("appendix.note")));
    if let (Some(s), Some(m)) = (r.timing.wall_seconds, r.timing.peak_rss_bytes) {
        let _ = write!(
            o,
            "<p>{}</p>",
            esc(&lang.fill("appendix.run", &[("seconds", &s), ("mb", &(m >> 20))]))
        );
    }
    let head: Vec<&str> = [
        "appendix.col.endpoint",
        "appendix.col.requests",
        "appendix.col.errors",
        "appendix.col.per_second",
        "appendix.col.p50",
        "appendix.col.p90",
        "appendix.col.p99",
        "appendix.col.max",
    ]
    .iter()
    .map(|k| lang.t(k))
    .collect();
    o.push_str(&table("endpoints-table", &head, &rows));
    format!(
        "<details id=\"appendix-details\"><summary>{}</summary>{}</details>",
        esc(lang.t("appendix.title")),
        section("appendix", lang.t("appendix.title"), &o)
    )
}
