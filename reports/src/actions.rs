//! The files a coordinator acts on, written beside `index.html`:
//!
//! - `actions/<reason>.csv` per problem group: UTF-8 with a byte-order mark, `;`-separated,
//!   CRLF line ends (what Norwegian Excel opens without an import dialogue); one row per
//!   kommune with kommune, problem, act-by day and the contacts' e-mail and phone. Cells
//!   starting with `= + - @` get a leading `'` so a spreadsheet never runs them.
//! - `actions/<reason>.txt` per problem group: one ready mail per kommune (to postmottak,
//!   copy to the IPLOS and KOSTRA contacts; what to ask, by when).
//! - `vendors/<vendor>.html` per EPJ vendor: the rules its exports break, the kommuner
//!   affected, an XML excerpt each.
//!
//! Every address comes from the report's [`Contacts`](crate::coordination::Contacts):
//! synthetic `.test` addresses unless the engine gives others.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;

use crate::coordination::{Contacts, slug};
use crate::html::{esc, page_lang, section, table};
use crate::i18n::Lang;
use crate::rehearsal::RehearsalReport;
use crate::when;

/// A file for the output directory: a path relative to it and the bytes.
pub type File = (String, Vec<u8>);

/// The CSV of a problem group's path.
pub fn csv_path(reason: &str) -> String {
    format!("actions/{reason}.csv")
}

/// The mail text of a problem group's path.
pub fn mail_path(reason: &str) -> String {
    format!("actions/{reason}.txt")
}

/// A vendor page's path.
pub fn vendor_path(vendor: &str) -> String {
    format!("vendors/{}.html", slug(vendor))
}

fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn fallback_contacts(r: &RehearsalReport, nr: &str) -> Contacts {
    r.coordination.contacts.get(nr).cloned().unwrap_or_else(|| {
        let name = r
            .kommuner
            .iter()
            .find(|k| k.kommunenr == nr)
            .map(|k| k.name.as_str())
            .unwrap_or("");
        Contacts::synthetic(nr, name)
    })
}

/// One problem group's CSV.
pub fn csv(r: &RehearsalReport, reason: &str, rows: &[(String, NaiveDate)], lang: Lang) -> String {
    let names: BTreeMap<&str, (&str, &str)> = r
        .kommuner
        .iter()
        .map(|k| (k.kommunenr.as_str(), (k.name.as_str(), k.vendor.as_str())))
        .collect();
    let mut o = String::from("\u{feff}");
    let head = [
        "csv.kommunenr",
        "csv.kommune",
        "csv.problem",
        "csv.act_by",
        "csv.postmottak",
        "csv.iplos",
        "csv.kostra",
        "csv.phone",
        "csv.vendor",
    ];
    o.push_str(
        &head
            .iter()
            .map(|k| cell(lang.t(k)))
            .collect::<Vec<_>>()
            .join(";"),
    );
    o.push_str("\r\n");
    let problem = lang.t(&format!("reason.{reason}"));
    for (nr, by) in rows {
        let c = fallback_contacts(r, nr);
        let (name, vendor) = names.get(nr.as_str()).copied().unwrap_or(("", ""));
        let line = [
            nr.as_str(),
            name,
            problem,
            &when::iso_day(*by),
            &c.postmottak,
            &c.iplos,
            &c.kostra,
            &c.phone,
            vendor,
        ]
        .iter()
        .map(|s| cell(s))
        .collect::<Vec<_>>()
        .join(";");
        o.push_str(&line);
        o.push_str("\r\n");
    }
    o
}

/// One problem group's ready mails.
pub fn mails(
    r: &RehearsalReport,
    reason: &str,
    rows: &[(String, NaiveDate)],
    lang: Lang,
) -> String {
    let problem = lang.t(&format!("reason.{reason}"));
    let ask = lang.t(&format!("reason.{reason}.ask"));
    let mut o = lang.fill("mail.intro", &[("problem", &problem), ("n", &rows.len())]);
    o.push_str("\n\n");
    for (nr, by) in rows {
        let c = fallback_contacts(r, nr);
        let name = r
            .kommuner
            .iter()
            .find(|k| &k.kommunenr == nr)
            .map(|k| k.name.as_str())
            .unwrap_or("");
        let by = when::day(*by, lang);
        let _ = writeln!(o, "{}", lang.t("mail.separator"));
        let _ = writeln!(
            o,
            "{}",
            lang.fill(
                "mail.to",
                &[(
                    "to",
                    &format!("{}; {}; {}", c.postmottak, c.iplos, c.kostra)
                )]
            )
        );
        let _ = writeln!(
            o,
            "{}\n",
            lang.fill(
                "mail.subject",
                &[("year", &r.run.season), ("problem", &problem), ("by", &by)]
            )
        );
        o.push_str(&lang.fill(
            "mail.body",
            &[
                ("kommune", &format!("{name} ({nr})")),
                ("year", &r.run.season),
                ("problem", &problem),
                ("ask", &ask),
                ("by", &by),
                ("phone", &c.phone),
            ],
        ));
        o.push('\n');
    }
    o
}

/// One vendor's page.
pub fn vendor_page(r: &RehearsalReport, vendor: &str, lang: Lang) -> String {
    let Some(v) = r.findings.by_vendor.iter().find(|v| v.vendor == vendor) else {
        return String::new();
    };
    let titles: BTreeMap<&str, &str> = r
        .findings
        .by_rule
        .iter()
        .map(|x| (x.rule.as_str(), x.title.as_str()))
        .collect();
    let mut rules: Vec<(&String, &u64)> = v.by_rule.iter().collect();
    rules.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut body = format!(
        "<p><a href=\"../index.html\">{}</a></p><p>{}</p>",
        esc(lang.t("vendor.back")),
        esc(&lang.fill("vendor.intro", &[("vendor", &vendor), ("n", &v.kommuner)]))
    );
    if rules.is_empty() {
        let _ = write!(body, "<p class=\"note\">{}</p>", esc(lang.t("vendor.none")));
    }
    for (rule, n) in rules {
        let ks: Vec<String> = r
            .kommuner
            .iter()
            .filter(|k| k.vendor == vendor && k.findings.contains_key(rule))
            .map(|k| {
                format!(
                    "<a href=\"../index.html?q={nr}\">{nr} {name}</a>",
                    nr = esc(&k.kommunenr),
                    name = esc(&k.name)
                )
            })
            .collect();
        let excerpt = match v.excerpts.get(rule) {
            Some(x) => format!("<pre class=\"xml\">{}</pre>", esc(x)),
            None => format!("<p class=\"note\">{}</p>", esc(lang.t("vendor.no_excerpt"))),
        };
        let content = format!(
            "<p>{} ×{n}</p><h3>{}</h3><div class=\"klist\">{}</div><h3>{}</h3>{excerpt}",
            esc(titles.get(rule.as_str()).copied().unwrap_or("")),
            esc(lang.t("vendor.affected")),
            ks.join(" "),
            esc(lang.t("vendor.excerpt")),
        );
        body.push_str(&section(&format!("rule-{}", slug(rule)), rule, &content));
    }
    let title = lang.fill("vendor.title", &[("vendor", &vendor)]);
    page_lang(lang, &title, "", &body, "")
}

/// The action-list table of the page (`#actions`): per group the count, the earliest
/// act-by day and links to the CSV and the mail text.
pub fn section_html(r: &RehearsalReport, lang: Lang) -> String {
    let rows: Vec<Vec<String>> = r
        .coordination
        .groups()
        .into_iter()
        .map(|(reason, ks)| {
            let by = ks.iter().map(|k| k.1).min();
            vec![
                format!(
                    "<b>{}</b><br><small>{}</small>",
                    esc(lang.t(&format!("reason.{reason}"))),
                    esc(lang.t(&format!("reason.{reason}.ask")))
                ),
                ks.len().to_string(),
                by.map(|d| esc(&when::day(d, lang))).unwrap_or_default(),
                format!(
                    "<a href=\"{}\" download>{}</a> · <a href=\"{}\">{}</a>",
                    esc(&csv_path(reason)),
                    esc(lang.t("actions.csv")),
                    esc(&mail_path(reason)),
                    esc(lang.t("actions.mail"))
                ),
            ]
        })
        .collect();
    let vendors: Vec<String> = r
        .findings
        .by_vendor
        .iter()
        .map(|v| {
            format!(
                "<a href=\"{}\">{}</a>",
                esc(&vendor_path(&v.vendor)),
                esc(&v.vendor)
            )
        })
        .collect();
    let body = format!(
        "<p class=\"note\">{}</p>{}<h3>{}</h3><p class=\"klist\" id=\"vendor-pages\">{}</p>",
        esc(lang.t("actions.note")),
        table(
            "actions-table",
            &[
                lang.t("actions.col.group"),
                lang.t("actions.col.kommuner"),
                lang.t("actions.col.by"),
                lang.t("actions.col.files"),
            ],
            &rows
        ),
        esc(lang.t("vendor.pages")),
        vendors.join(" ")
    );
    section("actions", lang.t("actions.title"), &body)
}

/// Every action-list and vendor file of a (normalised) report.
pub fn files(r: &RehearsalReport, lang: Lang) -> Vec<File> {
    let mut out = Vec::new();
    for (reason, ks) in r.coordination.groups() {
        out.push((csv_path(reason), csv(r, reason, &ks, lang).into_bytes()));
        out.push((mail_path(reason), mails(r, reason, &ks, lang).into_bytes()));
    }
    for v in &r.findings.by_vendor {
        out.push((
            vendor_path(&v.vendor),
            vendor_page(r, &v.vendor, lang).into_bytes(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_is_excel_friendly_and_mails_use_test_domains() {
        let r = crate::normalised(&crate::sample::sample(60, 4));
        let groups = r.coordination.groups();
        let (reason, ks) = &groups[0];
        let c = csv(&r, reason, ks, Lang::Nb);
        assert!(c.starts_with("\u{feff}kommunenummer;kommune;"));
        assert!(c.contains("\r\n"));
        assert!(c.contains(".kommune.test;"));
        assert!(
            c.contains(";'+47 00 00 "),
            "phone cells cannot run as formulas"
        );
        assert_eq!(c.lines().count(), ks.len() + 1);
        let m = mails(&r, reason, ks, Lang::Nb);
        assert!(m.contains("Til: postmottak@"));
        for word in m.split_whitespace().filter(|w| w.contains('@')) {
            assert!(word.trim_end_matches(';').ends_with(".test"), "{word}");
        }
        assert_eq!(cell("a;b"), "\"a;b\"");
        assert_eq!(cell("=1+1"), "'=1+1");
    }
}
