//! `index.html` for a rehearsal: the page a coordinator reads.
//!
//! Sections, in order (each a `<section>` with a stable id the tests look for):
//! `#summary` the verdict at a glance (per phase: kommuner on time of those the phase
//! applies to, as a number and a stacked bar), `#timeline` (SVG `#timeline-chart`:
//! submissions, receipts, rejections, corrections and feedback per day, phase windows
//! shaded), `#receipts` (SVG `#receipt-histogram` with p50/p90/max), `#failures` (grouped
//! by cause, with the kommuner affected), `#findings` (tables `#findings-by-rule`,
//! `#findings-by-vendor`), `#endpoints` (wall-clock throughput and latency) and
//! `#kommuner` (table `#kommune-table`, one row per kommune with a coloured badge per
//! phase and its own timeline in a `<details>`; search box `#kommune-search`).
//!
//! **\[model\]** Phase colours for the bands cycle through a fixed palette in phase order;
//! day ticks are the first of each month, or every seventh day for runs shorter than two
//! months.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Datelike, Duration, NaiveDate};

use crate::html::{badge, esc, page, section, stacked_bar, table};
use crate::rehearsal::{PhaseStatus, RehearsalReport};
use crate::svg::{self, Band, Frame, Series};

const BAND_COLOURS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
];

/// The whole page for a (normalised) report.
pub fn render(r: &RehearsalReport) -> String {
    let title = format!(
        "IPLOS dress rehearsal — data year {} — {}",
        r.run.season, r.run.scenario
    );
    let meta = format!(
        "scenario <b>{}</b> · seed {} · scale {} · channel {} · {} kommuner · virtual time {} → {}",
        esc(&r.run.scenario),
        r.run.seed,
        r.run.scale,
        esc(r.run.channel.as_str()),
        r.run.kommuner,
        esc(&r.run.virtual_start.format("%Y-%m-%d %H:%M").to_string()),
        esc(&r.run.virtual_end.format("%Y-%m-%d %H:%M").to_string()),
    );
    let mut body = String::with_capacity(256 * 1024);
    body.push_str(&summary(r));
    body.push_str(&timeline(r));
    body.push_str(&receipts(r));
    body.push_str(&failures(r));
    body.push_str(&findings(r));
    body.push_str(&endpoints(r));
    body.push_str(&kommuner(r));
    let mut footer = format!(
        "Written by {} {} · report format {}",
        esc(&r.tool.name),
        esc(&r.tool.version),
        r.schema_version
    );
    if let Some(s) = r.timing.started {
        let _ = write!(footer, " · run started {}", esc(&s.to_rfc3339()));
    }
    if let Some(w) = r.timing.wall_seconds {
        let _ = write!(footer, " · {w} s wall clock");
    }
    page(&title, &meta, &body, &footer)
}

fn status_parts(
    on: u32,
    late: u32,
    failed: u32,
    none: u32,
) -> [(&'static str, u64, &'static str); 4] {
    [
        ("st-on_time", on.into(), "on time"),
        ("st-late", late.into(), "late"),
        ("st-failed", failed.into(), "failed"),
        ("st-not_attempted", none.into(), "not attempted"),
    ]
}

fn summary(r: &RehearsalReport) -> String {
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
{bar}<div class=\"figure\" data-phase=\"{id}\"><b>{on}</b> of {total} on time<br><small>{pct:.0} % · {late} late · {failed} failed · {none} not attempted</small></div>",
            id = esc(&p.id),
            name = esc(&p.name),
            from = p.first_day.format("%-d %b %Y"),
            to = p.last_day.format("%-d %b %Y"),
            bar = stacked_bar(&status_parts(p.on_time, p.late, p.failed, p.not_attempted)),
            on = p.on_time,
            total = p.total,
            late = p.late,
            failed = p.failed,
            none = p.not_attempted,
        );
    }
    o.push_str("</div>\n");
    o.push_str(
        "<p class=\"legend-inline\"><span><i class=\"st-on_time\"></i>on time</span>\
<span><i class=\"st-late\"></i>late</span><span><i class=\"st-failed\"></i>failed</span>\
<span><i class=\"st-not_attempted\"></i>not attempted</span></p>",
    );
    let failing = r
        .kommuner
        .iter()
        .filter(|k| k.phases.iter().any(|p| p.status.is_problem()))
        .count();
    let _ = write!(
        o,
        "<p class=\"note\" id=\"summary-line\">{} of {} kommuner completed every phase that applied to them on time; {} had at least one late, failed or missing step.</p>",
        r.kommuner.len() - failing,
        r.kommuner.len(),
        failing
    );
    section("summary", "The season at a glance", &o)
}

fn timeline(r: &RehearsalReport) -> String {
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
            "Timeline",
            "<p class=\"note\">No days recorded.</p>",
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
    let series = vec![
        Series {
            name: "submissions".into(),
            colour: "#1f77b4".into(),
            values: get(|c| c.submissions),
        },
        Series {
            name: "receipts".into(),
            colour: "#2ca02c".into(),
            values: get(|c| c.receipts),
        },
        Series {
            name: "rejections".into(),
            colour: "#c62828".into(),
            values: get(|c| c.rejections),
        },
        Series {
            name: "corrections".into(),
            colour: "#ff7f0e".into(),
            values: get(|c| c.corrections),
        },
        Series {
            name: "feedback".into(),
            colour: "#9467bd".into(),
            values: get(|c| c.feedback),
        },
    ];
    let ticks: Vec<(usize, String)> = if n > 60 {
        days.iter()
            .enumerate()
            .filter(|(_, d)| d.day() == 1)
            .map(|(i, d)| (i, d.format("%-d %b %y").to_string()))
            .collect()
    } else {
        days.iter()
            .enumerate()
            .filter(|(i, _)| i % 7 == 0)
            .map(|(i, d)| (i, d.format("%-d %b").to_string()))
            .collect()
    };
    let idx = |d: NaiveDate| (d - first).num_days().max(0) as usize;
    let bands: Vec<Band> = r
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| Band {
            from: idx(p.first_day),
            to: idx(p.last_day),
            label: short(&p.id),
            tooltip: format!("{}: {} – {}", p.name, p.first_day, p.last_day),
            colour: BAND_COLOURS[i % BAND_COLOURS.len()].to_string(),
        })
        .collect();
    let hover: Vec<String> = days
        .iter()
        .map(|d| match by_date.get(d) {
            Some(c) => format!(
                "{}: {} submissions, {} receipts, {} rejections, {} corrections, {} feedback",
                d, c.submissions, c.receipts, c.rejections, c.corrections, c.feedback
            ),
            None => format!("{d}: nothing"),
        })
        .collect();
    let chart = svg::line_chart(
        "timeline-chart",
        "Submissions, receipts and corrections per day",
        Frame::default(),
        &series,
        &ticks,
        &bands,
        &hover,
    );
    let totals = |s: &Series| s.values.iter().sum::<f64>() as u64;
    let mut stats = String::from("<div class=\"stats\">");
    for s in &series {
        let _ = write!(stats, "<div><b>{}</b>{}</div>", totals(s), esc(&s.name));
    }
    stats.push_str("</div>");
    section(
        "timeline",
        "Timeline",
        &format!(
            "<p class=\"note\">Per virtual day (Europe/Oslo). Shaded: the phase windows.</p>{chart}{stats}"
        ),
    )
}

fn receipts(r: &RehearsalReport) -> String {
    let d = &r.receipt_delays;
    let labels: Vec<String> = d
        .histogram
        .iter()
        .map(|b| match b.to_hours {
            Some(t) => format!("{}–{} h", b.from_hours, t),
            None => format!("≥ {} h", b.from_hours),
        })
        .collect();
    let values: Vec<f64> = d.histogram.iter().map(|b| f64::from(b.count)).collect();
    let chart = svg::bar_chart(
        "receipt-histogram",
        "Receipt delay distribution",
        Frame {
            height: 240.0,
            top: 16.0,
            ..Frame::default()
        },
        &labels,
        &values,
        "#2ca02c",
    );
    let h = |x: Option<f64>| x.map(|v| format!("{v} h")).unwrap_or_else(|| "–".into());
    let late = d.delays.iter().filter(|x| x.minutes > 24 * 60).count();
    let stats = format!(
        "<div class=\"stats\" id=\"receipt-stats\"><div><b>{}</b>receipts</div><div><b>{}</b>median (p50)</div>\
<div><b>{}</b>p90</div><div><b>{}</b>longest</div><div><b>{}</b>over 24 h</div></div>",
        d.delays.len(),
        h(d.p50_hours),
        h(d.p90_hours),
        h(d.max_hours),
        late
    );
    section(
        "receipts",
        "Receipt delays",
        &format!(
            "<p class=\"note\">From arrival to receipt, virtual time. Receipts go out 08:00 on the first working day after arrival.</p>{stats}{chart}"
        ),
    )
}

/// How many affected kommuner a failure group lists before folding the rest away.
const KLIST_OPEN: usize = 24;

fn klinks(r: &RehearsalReport, ks: &[String]) -> String {
    let names: BTreeMap<&str, &str> = r
        .kommuner
        .iter()
        .map(|k| (k.kommunenr.as_str(), k.name.as_str()))
        .collect();
    let mut o = String::from("<div class=\"klist\">");
    for (i, k) in ks.iter().enumerate() {
        if i == KLIST_OPEN && ks.len() > KLIST_OPEN {
            let _ = write!(
                o,
                "<details><summary>and {} more</summary>",
                ks.len() - KLIST_OPEN
            );
        }
        let _ = write!(
            o,
            "<a href=\"#k-{}\">{} {}</a>",
            esc(k),
            esc(k),
            esc(names.get(k.as_str()).copied().unwrap_or(""))
        );
    }
    if ks.len() > KLIST_OPEN {
        o.push_str("</details>");
    }
    o.push_str("</div>");
    o
}

fn failures(r: &RehearsalReport) -> String {
    if r.failures.is_empty() {
        return section(
            "failures",
            "Failures by cause",
            "<p class=\"note\">No failures.</p>",
        );
    }
    let phase_names: BTreeMap<&str, &str> = r
        .phases
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let rows: Vec<Vec<String>> = r
        .failures
        .iter()
        .map(|f| {
            vec![
                format!("<b>{}</b><br><code>{}</code>", esc(&f.title), esc(&f.cause)),
                esc(&f.consequence),
                esc(&f
                    .phases
                    .iter()
                    .map(|p| {
                        phase_names
                            .get(p.as_str())
                            .copied()
                            .unwrap_or(p)
                            .to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(", ")),
                f.kommuner.len().to_string(),
                klinks(r, &f.kommuner),
            ]
        })
        .collect();
    section(
        "failures",
        "Failures by cause",
        &table(
            "failures-table",
            &["cause", "consequence", "phases", "#kommuner", "affected"],
            &rows,
        ),
    )
}

fn findings(r: &RehearsalReport) -> String {
    let rules: Vec<Vec<String>> = r
        .findings
        .by_rule
        .iter()
        .map(|x| {
            let sev = match x.severity {
                crate::rehearsal::Severity::Error => "error",
                crate::rehearsal::Severity::Warning => "warning",
            };
            vec![
                format!("<code>{}</code>", esc(&x.rule)),
                badge("sev", sev, sev),
                esc(&x.title),
                x.occurrences.to_string(),
                x.kommuner.len().to_string(),
            ]
        })
        .collect();
    let vendors: Vec<Vec<String>> = r
        .findings
        .by_vendor
        .iter()
        .map(|v| {
            let mut top: Vec<(&String, &u64)> = v.by_rule.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            vec![
                esc(&v.vendor),
                v.kommuner.to_string(),
                v.messages.to_string(),
                v.errors.to_string(),
                v.warnings.to_string(),
                esc(&top
                    .iter()
                    .take(4)
                    .map(|(k, n)| format!("{k} ×{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")),
            ]
        })
        .collect();
    let mut o = String::from("<h3>By rule</h3>");
    if rules.is_empty() {
        o.push_str("<p class=\"note\">No findings.</p>");
    }
    o.push_str(&table(
        "findings-by-rule",
        &["rule", "severity", "title", "#occurrences", "#kommuner"],
        &rules,
    ));
    o.push_str("<h3>By vendor</h3>");
    o.push_str(&table(
        "findings-by-vendor",
        &[
            "vendor",
            "#kommuner",
            "#messages",
            "#errors",
            "#warnings",
            "most frequent rules",
        ],
        &vendors,
    ));
    section("findings", "Conformance findings", &o)
}

fn endpoints(r: &RehearsalReport) -> String {
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
    let mut o = String::from(
        "<p class=\"note\">Wall-clock measurements: these differ between runs with the same seed.</p>",
    );
    o.push_str(&table(
        "endpoints-table",
        &[
            "endpoint",
            "#requests",
            "#errors",
            "#per second",
            "#p50 ms",
            "#p90 ms",
            "#p99 ms",
            "#max ms",
        ],
        &rows,
    ));
    section("endpoints", "Endpoints", &o)
}

fn kommuner(r: &RehearsalReport) -> String {
    let mut o = String::with_capacity(r.kommuner.len() * 1500);
    let _ = write!(
        o,
        "<div class=\"filter\" hidden><input type=\"search\" id=\"kommune-search\" placeholder=\"Search number, name, vendor, status, fault…\" aria-label=\"Search kommuner\">\
<label><input type=\"checkbox\" id=\"kommune-problems\"> only kommuner with problems</label>\
<span><span id=\"kommune-count\">{n}</span> of {n} shown</span></div>",
        n = r.kommuner.len()
    );
    o.push_str(
        "<table id=\"kommune-table\" data-filterable data-search=\"kommune-search\" data-problems=\"kommune-problems\" data-count=\"kommune-count\"><thead><tr>\
<th>nr</th><th>kommune (click for its timeline)</th><th>vendor</th><th>channel</th>",
    );
    for p in &r.phases {
        let _ = write!(
            o,
            "<th title=\"{}\">{}</th>",
            esc(&p.name),
            esc(&short(&p.id))
        );
    }
    o.push_str("<th>faults</th></tr></thead><tbody>\n");
    for k in &r.kommuner {
        let problem = k.phases.iter().any(|p| p.status.is_problem());
        let mut search = format!(
            "{} {} {} {}",
            k.kommunenr,
            k.name,
            k.vendor,
            k.channel.as_str()
        );
        for p in &k.phases {
            let _ = write!(search, " {}:{}", p.phase, p.status.as_str());
            if let Some(c) = &p.cause {
                let _ = write!(search, " {c}");
            }
        }
        for f in &k.faults {
            let _ = write!(search, " {f}");
        }
        let _ = write!(
            o,
            "<tr id=\"k-{nr}\" data-search=\"{s}\" data-problem=\"{p}\"><td>{nr}</td><td><details><summary>{name}</summary><ol class=\"timeline\">",
            nr = esc(&k.kommunenr),
            s = esc(&search.to_lowercase()),
            p = if problem { 1 } else { 0 },
            name = esc(&k.name),
        );
        for e in &k.timeline {
            let _ = write!(
                o,
                "<li><time datetime=\"{}\">{}</time><span class=\"kind\">{}</span>{}</li>",
                esc(&e.at.to_rfc3339()),
                esc(&e.at.format("%Y-%m-%d %H:%M").to_string()),
                esc(&e.kind),
                esc(&e.detail)
            );
        }
        if k.timeline.is_empty() {
            o.push_str("<li>no events</li>");
        }
        let _ = write!(
            o,
            "</ol></details></td><td>{}</td><td>{}</td>",
            esc(&k.vendor),
            esc(k.channel.as_str())
        );
        for p in &r.phases {
            match k.phase(&p.id) {
                Some(kp) => {
                    let mut tip = kp.status.label().to_string();
                    if let Some(at) = kp.at {
                        let _ = write!(tip, " at {}", at.format("%Y-%m-%d %H:%M"));
                    }
                    if let Some(reason) = &kp.reason {
                        let _ = write!(tip, ": {reason}");
                    }
                    let _ = write!(
                        o,
                        "<td title=\"{}\">{}</td>",
                        esc(&tip),
                        badge("st", kp.status.as_str(), kp.status.label())
                    );
                }
                None => {
                    let _ = write!(
                        o,
                        "<td>{}</td>",
                        badge("st", PhaseStatus::NotApplicable.as_str(), "n/a")
                    );
                }
            }
        }
        let _ = writeln!(o, "<td>{}</td></tr>", esc(&k.faults.join(", ")));
    }
    o.push_str("</tbody></table>");
    section("kommuner", "Kommuner", &o)
}

/// A short column heading for a phase id: "ordinary_submission" → "ordinary submission".
fn short(id: &str) -> String {
    id.replace('_', " ")
}
