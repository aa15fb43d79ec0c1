//! The coordinator's sections of `index.html` (see [`crate::page`] for the order): at
//! risk per deadline, the comparison, failures by cause, approved extensions, findings,
//! and the kommune table with each kommune's bounded timeline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::html::{badge, esc, section, table};
use crate::i18n::Lang;
use crate::rehearsal::{KommuneResult, PhaseStatus, RehearsalReport, TimelineEvent};
use crate::when;

/// How many affected kommuner a list shows before folding the rest away.
const KLIST_OPEN: usize = 24;
/// How many (folded) timeline lines a kommune shows before the rest are folded away.
const TIMELINE_OPEN: usize = 14;
/// The longest detail text of a timeline line.
const DETAIL_MAX: usize = 140;

fn names(r: &RehearsalReport) -> BTreeMap<&str, &str> {
    r.kommuner
        .iter()
        .map(|k| (k.kommunenr.as_str(), k.name.as_str()))
        .collect()
}

fn klinks(r: &RehearsalReport, ks: &[String], lang: Lang) -> String {
    let names = names(r);
    let mut o = String::from("<div class=\"klist\">");
    for (i, k) in ks.iter().enumerate() {
        if i == KLIST_OPEN && ks.len() > KLIST_OPEN {
            let _ = write!(
                o,
                "<details><summary>{}</summary>",
                esc(&lang.fill("failures.more", &[("n", &(ks.len() - KLIST_OPEN))]))
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

/// `#at-risk`: per deadline (in date order) a table of the kommuner that will miss it.
pub fn at_risk(r: &RehearsalReport, lang: Lang) -> String {
    let names = names(r);
    let mut o = format!("<p class=\"note\">{}</p>", esc(lang.t("risk.note")));
    for d in &r.coordination.at_risk {
        let _ = write!(
            o,
            "<h3 id=\"deadline-{id}\">{} — {} <small>({})</small></h3>",
            esc(lang.t(&format!("deadline.{}", d.id))),
            esc(&when::day(d.date, lang)),
            esc(&lang.fill("risk.count", &[("n", &d.kommuner.len())])),
            id = esc(&d.id),
        );
        if d.kommuner.is_empty() {
            let _ = write!(o, "<p class=\"note\">{}</p>", esc(lang.t("risk.none")));
            continue;
        }
        let rows: Vec<Vec<String>> = d
            .kommuner
            .iter()
            .map(|k| {
                let c = r.coordination.contacts.get(&k.kommunenr);
                vec![
                    format!(
                        "<a href=\"#k-{nr}\">{nr} {}</a>",
                        esc(names.get(k.kommunenr.as_str()).copied().unwrap_or("")),
                        nr = esc(&k.kommunenr)
                    ),
                    esc(&k
                        .reasons
                        .iter()
                        .map(|x| lang.t(&format!("reason.{x}")))
                        .collect::<Vec<_>>()
                        .join(", ")),
                    format!(
                        "<time datetime=\"{}\">{}</time>",
                        when::iso_day(k.act_by),
                        esc(&when::day(k.act_by, lang))
                    ),
                    c.map(|c| format!("{}<br><small>{}</small>", esc(&c.iplos), esc(&c.phone)))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        let t = table(
            &format!("risk-{}", d.id),
            &[
                lang.t("risk.col.kommune"),
                lang.t("risk.col.why"),
                lang.t("risk.col.act_by"),
                lang.t("risk.col.contact"),
            ],
            &rows,
        );
        if d.kommuner.len() > KLIST_OPEN {
            let _ = write!(
                o,
                "<details><summary>{}</summary>{t}</details>",
                esc(&lang.fill("risk.count", &[("n", &d.kommuner.len())]))
            );
        } else {
            o.push_str(&t);
        }
    }
    section("at-risk", lang.t("risk.title"), &o)
}

/// `#comparison`: against the baseline (`#compare-phases`, `#compare-rules`) and the real
/// season (`#compare-real`).
pub fn comparison(r: &RehearsalReport, lang: Lang) -> String {
    let mut o = String::new();
    let c = r.comparison.clone().unwrap_or_default();
    match &c.baseline {
        Some(b) => {
            let _ = write!(
                o,
                "<p class=\"note\">{}</p>",
                esc(&lang.fill(
                    "compare.baseline",
                    &[("scenario", &b.scenario), ("seed", &b.seed)]
                ))
            );
            let names: BTreeMap<&str, &str> = r
                .phases
                .iter()
                .map(|p| (p.id.as_str(), p.name.as_str()))
                .collect();
            let rows: Vec<Vec<String>> = c
                .phases
                .iter()
                .map(|p| {
                    vec![
                        esc(&lang
                            .phase(&p.phase, names.get(p.phase.as_str()).copied().unwrap_or(""))),
                        format!("<span class=\"up\">{}</span>", p.better.len()),
                        format!("<span class=\"down\">{}</span>", p.worse.len()),
                        format!(
                            "{}{}",
                            klinks(r, &p.better, lang),
                            klinks(r, &p.worse, lang)
                        ),
                    ]
                })
                .collect();
            o.push_str(&table(
                "compare-phases",
                &[
                    lang.t("compare.col.phase"),
                    lang.t("compare.col.better"),
                    lang.t("compare.col.worse"),
                    lang.t("compare.col.kommuner"),
                ],
                &rows,
            ));
            let cause = |ids: &[String]| {
                ids.iter()
                    .map(|x| lang.or("cause", x, x).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            for (key, ids) in [
                ("compare.new_causes", &c.new_causes),
                ("compare.gone_causes", &c.gone_causes),
            ] {
                if !ids.is_empty() {
                    let _ = write!(
                        o,
                        "<p>{}</p>",
                        esc(&lang.fill(key, &[("list", &cause(ids))]))
                    );
                }
            }
            let rows: Vec<Vec<String>> = c
                .rules
                .iter()
                .map(|x| {
                    let class = if x.after > x.before { "down" } else { "up" };
                    vec![
                        format!("<code>{}</code>", esc(&x.rule)),
                        x.before.to_string(),
                        format!("<span class=\"{class}\">{}</span>", x.after),
                    ]
                })
                .collect();
            o.push_str(&table(
                "compare-rules",
                &[
                    lang.t("compare.col.rule"),
                    lang.t("compare.col.before"),
                    lang.t("compare.col.after"),
                ],
                &rows,
            ));
        }
        None => {
            let _ = write!(
                o,
                "<p class=\"note\">{}</p>",
                esc(lang.t("compare.no_baseline"))
            );
        }
    }
    if !c.real.is_empty() {
        let _ = write!(o, "<h3>{}</h3>", esc(lang.t("compare.real")));
        let rows: Vec<Vec<String>> = c
            .real
            .iter()
            .map(|f| {
                vec![
                    esc(&lang.fill(
                        &format!("real.{}", f.id),
                        &[("date", &when::day(f.date, lang))],
                    )),
                    f.real.to_string(),
                    f.rehearsal.to_string(),
                    esc(&f.source),
                ]
            })
            .collect();
        o.push_str(&table(
            "compare-real",
            &[
                lang.t("compare.col.figure"),
                lang.t("compare.col.real"),
                lang.t("compare.col.rehearsal"),
                lang.t("compare.col.source"),
            ],
            &rows,
        ));
    }
    section("comparison", lang.t("compare.title"), &o)
}

/// `#failures`: grouped by cause, with the kommuner affected.
pub fn failures(r: &RehearsalReport, lang: Lang) -> String {
    if r.failures.is_empty() {
        return section(
            "failures",
            lang.t("failures.title"),
            &format!("<p class=\"note\">{}</p>", esc(lang.t("failures.none"))),
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
                format!(
                    "<b>{}</b><br><code>{}</code>",
                    esc(&lang.or("cause", &f.cause, &f.title)),
                    esc(&f.cause)
                ),
                esc(&f
                    .phases
                    .iter()
                    .map(|p| lang.phase(p, phase_names.get(p.as_str()).copied().unwrap_or(p)))
                    .collect::<Vec<_>>()
                    .join(", ")),
                f.kommuner.len().to_string(),
                klinks(r, &f.kommuner, lang),
            ]
        })
        .collect();
    section(
        "failures",
        lang.t("failures.title"),
        &table(
            "failures-table",
            &[
                lang.t("failures.col.cause"),
                lang.t("failures.col.phases"),
                lang.t("failures.col.count"),
                lang.t("failures.col.affected"),
            ],
            &rows,
        ),
    )
}

/// `#extensions`: kommuner that sent within an approved extension, apart from "late".
pub fn extensions(r: &RehearsalReport, lang: Lang) -> String {
    let ext = &r.coordination.extensions;
    let body = if ext.is_empty() {
        format!("<p class=\"note\">{}</p>", esc(lang.t("extensions.none")))
    } else {
        format!(
            "<p class=\"note\">{}</p>{}",
            esc(lang.t("extensions.note")),
            klinks(r, ext, lang)
        )
    };
    section("extensions", lang.t("extensions.title"), &body)
}

/// `#findings`: by rule and by vendor (each vendor linking to its page).
pub fn findings(r: &RehearsalReport, lang: Lang) -> String {
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
                badge("sev", sev, lang.t(&format!("severity.{sev}"))),
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
                format!(
                    "<a href=\"{}\">{}</a>",
                    esc(&crate::actions::vendor_path(&v.vendor)),
                    esc(&v.vendor)
                ),
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
    let mut o = format!("<h3>{}</h3>", esc(lang.t("findings.by_rule")));
    if rules.is_empty() {
        let _ = write!(o, "<p class=\"note\">{}</p>", esc(lang.t("findings.none")));
    }
    o.push_str(&table(
        "findings-by-rule",
        &[
            lang.t("findings.col.rule"),
            lang.t("findings.col.severity"),
            lang.t("findings.col.title"),
            lang.t("findings.col.occurrences"),
            lang.t("findings.col.kommuner"),
        ],
        &rules,
    ));
    let _ = write!(o, "<h3>{}</h3>", esc(lang.t("findings.by_vendor")));
    o.push_str(&table(
        "findings-by-vendor",
        &[
            lang.t("findings.col.vendor"),
            lang.t("findings.col.kommuner"),
            lang.t("findings.col.messages"),
            lang.t("findings.col.errors"),
            lang.t("findings.col.warnings"),
            lang.t("findings.col.top"),
        ],
        &vendors,
    ));
    section("findings", lang.t("findings.title"), &o)
}

/// A detail for one timeline line: markup stripped (a refusal's HTML body becomes its
/// text), whitespace collapsed, at most [`DETAIL_MAX`] characters.
pub fn short_detail(s: &str) -> String {
    let mut text = String::with_capacity(s.len().min(DETAIL_MAX * 2));
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut o = words.join(" ");
    if o.chars().count() > DETAIL_MAX {
        o = o.chars().take(DETAIL_MAX - 1).collect::<String>() + "…";
    }
    o
}

/// A kommune's timeline, bounded: runs of the same kind fold into one line ("link
/// requested ×3", first time shown), details are shortened, and after
/// [`TIMELINE_OPEN`] lines the rest is folded away.
pub fn timeline_html(events: &[TimelineEvent], lang: Lang) -> String {
    let mut lines: Vec<(&TimelineEvent, usize)> = Vec::new();
    for e in events {
        match lines.last_mut() {
            Some((first, n)) if first.kind == e.kind => *n += 1,
            _ => lines.push((e, 1)),
        }
    }
    let mut o = String::from("<ol class=\"timeline\">");
    if lines.is_empty() {
        let _ = write!(o, "<li>{}</li>", esc(lang.t("timeline.none")));
    }
    for (i, (e, n)) in lines.iter().enumerate() {
        if i == TIMELINE_OPEN && lines.len() > TIMELINE_OPEN {
            let _ = write!(
                o,
                "<li><details><summary>{}</summary><ol class=\"timeline\">",
                esc(&lang.fill("timeline.folded", &[("n", &(lines.len() - TIMELINE_OPEN))]))
            );
        }
        let kind = lang.or("kind", &e.kind, &e.kind).replace('_', " ");
        let times = if *n > 1 {
            format!(" {}", lang.fill("timeline.repeat", &[("n", n)]))
        } else {
            String::new()
        };
        let _ = write!(
            o,
            "<li><time datetime=\"{}\">{}</time><span class=\"kind\">{}{}</span>{}</li>",
            esc(&e.at.to_rfc3339()),
            esc(&when::at_short(&e.at, lang)),
            esc(&kind),
            esc(&times),
            esc(&short_detail(&e.detail))
        );
    }
    if lines.len() > TIMELINE_OPEN {
        o.push_str("</ol></details></li>");
    }
    o.push_str("</ol>");
    o
}

fn kommune_row(o: &mut String, r: &RehearsalReport, k: &KommuneResult, lang: Lang) {
    let extended = r.coordination.extensions.contains(&k.kommunenr);
    let problem = k.phases.iter().any(|p| p.status.is_problem());
    let mut search = format!(
        "{} {} {} {}",
        k.kommunenr,
        k.name,
        k.vendor,
        k.channel.as_str()
    );
    for p in &k.phases {
        let _ = write!(
            search,
            " {}:{} {}",
            p.phase,
            p.status.as_str(),
            p.status.label(lang)
        );
        if let Some(c) = &p.cause {
            let _ = write!(search, " {c}");
        }
    }
    for f in &k.faults {
        let _ = write!(search, " {f}");
    }
    let _ = write!(
        o,
        "<tr id=\"k-{nr}\" data-search=\"{s}\" data-problem=\"{p}\"><td>{nr}</td><td data-key=\"{name}\"><details><summary>{name}</summary>{tl}</details></td><td>{v}</td><td>{ch}</td>",
        nr = esc(&k.kommunenr),
        s = esc(&search.to_lowercase()),
        p = if problem { 1 } else { 0 },
        name = esc(&k.name),
        tl = timeline_html(&k.timeline, lang),
        v = esc(&k.vendor),
        ch = esc(lang.t(&format!("channel.{}", k.channel.as_str()))),
    );
    for p in &r.phases {
        match k.phase(&p.id) {
            Some(kp) => {
                let (class, label) = if extended
                    && kp.phase == "ordinary_submission"
                    && kp.status == PhaseStatus::Late
                {
                    ("extension", lang.t("status.extension"))
                } else {
                    (kp.status.as_str(), kp.status.label(lang))
                };
                let mut tip = label.to_string();
                if let Some(at) = kp.at {
                    let _ = write!(tip, " {}", when::at(&at, lang));
                }
                if let Some(c) = &kp.cause {
                    let causes: Vec<String> = c
                        .split(',')
                        .map(|x| lang.or("cause", x, x).into_owned())
                        .collect();
                    let _ = write!(tip, ": {}", causes.join(", "));
                }
                let _ = write!(
                    o,
                    "<td title=\"{}\" data-key=\"{}\">{}</td>",
                    esc(&tip),
                    esc(kp.status.as_str()),
                    badge("st", class, label)
                );
            }
            None => {
                let _ = write!(
                    o,
                    "<td>{}</td>",
                    badge(
                        "st",
                        PhaseStatus::NotApplicable.as_str(),
                        PhaseStatus::NotApplicable.label(lang)
                    )
                );
            }
        }
    }
    let faults: Vec<String> = k
        .faults
        .iter()
        .map(|f| lang.or("cause", f, f).into_owned())
        .collect();
    let _ = writeln!(o, "<td>{}</td></tr>", esc(&faults.join("; ")));
}

/// `#kommuner`: one row per kommune, a badge per phase, its timeline in a `<details>`.
pub fn kommuner(r: &RehearsalReport, lang: Lang) -> String {
    let mut o = String::with_capacity(r.kommuner.len() * 1500);
    let n = r.kommuner.len();
    let _ = write!(
        o,
        "<div class=\"filter\" hidden><input type=\"search\" id=\"kommune-search\" placeholder=\"{ph}\" aria-label=\"{al}\">\
<label><input type=\"checkbox\" id=\"kommune-problems\"> {only}</label><span>{shown}</span></div><p class=\"note\">{sort}</p>",
        ph = esc(lang.t("kommuner.search")),
        al = esc(lang.t("kommuner.search_label")),
        only = esc(lang.t("kommuner.only_problems")),
        shown = lang.fill(
            "kommuner.shown",
            &[
                ("shown", &format!("<span id=\"kommune-count\">{n}</span>")),
                ("n", &n)
            ]
        ),
        sort = esc(lang.t("kommuner.sort")),
    );
    let _ = write!(
        o,
        "<table id=\"kommune-table\" data-filterable data-search=\"kommune-search\" data-problems=\"kommune-problems\" data-count=\"kommune-count\"><thead><tr>\
<th>{}</th><th>{}</th><th>{}</th><th>{}</th>",
        esc(lang.t("kommuner.col.nr")),
        esc(lang.t("kommuner.col.name")),
        esc(lang.t("kommuner.col.vendor")),
        esc(lang.t("kommuner.col.channel")),
    );
    for p in &r.phases {
        let _ = write!(o, "<th>{}</th>", esc(&lang.phase(&p.id, &p.name)));
    }
    let _ = writeln!(
        o,
        "<th>{}</th></tr></thead><tbody>",
        esc(lang.t("kommuner.col.faults"))
    );
    for k in &r.kommuner {
        kommune_row(&mut o, r, k, lang);
    }
    o.push_str("</tbody></table>");
    section("kommuner", lang.t("kommuner.title"), &o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn timelines_fold_repeats_and_strip_markup() {
        let t = DateTime::parse_from_rfc3339("2017-02-06T09:00:00+01:00").unwrap();
        let ev = |kind: &str, detail: &str| TimelineEvent {
            at: t,
            kind: kind.into(),
            detail: detail.into(),
        };
        let mut evs = vec![ev(
            "link-refused",
            "<html><body><h1>403 Forbidden</h1><p>Link expired</p></body></html>",
        )];
        evs.extend((0..3).map(|_| ev("link-requested", "New User Password Request on filsluse")));
        for i in 0..40 {
            evs.push(ev(if i % 2 == 0 { "mail" } else { "login" }, "x"));
        }
        let h = timeline_html(&evs, Lang::En);
        assert!(h.contains("link requested ×3"), "{h}");
        assert!(h.contains("403 Forbidden Link expired"));
        assert!(!h.contains("&lt;html"));
        assert!(h.contains("more events"));
        assert!(h.contains("6 February, 09:00"));
    }
}
