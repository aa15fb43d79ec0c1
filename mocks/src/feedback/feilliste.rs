//! The feilliste: every finding of every file, as CSV and as an HTML page.

use std::collections::BTreeMap;

use iplos_model::rules::{Finding, catalogue};

use super::text::{Csv, consequence_nb, html, html_head, rule_title_nb, severity_key, severity_nb};
use super::types::{FeedbackFile, PageMeta, oslo};

/// The columns of `feilliste.csv`, in order.
pub const CSV_COLUMNS: [&str; 9] = [
    "Fil",
    "Regel",
    "Alvorlighetsgrad",
    "Konsekvens",
    "Linje",
    "Sti",
    "Melding (engelsk)",
    "Regel (norsk)",
    "Regel (engelsk)",
];

fn title_nb(id: &str) -> String {
    match rule_title_nb(id) {
        Some(t) => t.to_string(),
        None => "(ingen norsk tekst for denne regelen)".to_string(),
    }
}

fn title_en(id: &str) -> &'static str {
    catalogue::by_id(id).map_or("", |r| r.title)
}

/// `feilliste.csv`: a header row, then one row per finding, file by file in the order
/// given, each file's findings in document order.
pub fn render_csv(files: &[FeedbackFile]) -> String {
    let mut csv = Csv::new();
    csv.row(&CSV_COLUMNS);
    for file in files {
        for f in &file.report.findings {
            csv.row(&[
                file.name.as_str(),
                f.rule,
                severity_nb(f.severity),
                consequence_nb(f.consequence),
                &f.location.line.to_string(),
                &f.location.path,
                &f.message,
                &title_nb(f.rule),
                title_en(f.rule),
            ]);
        }
    }
    csv.finish()
}

/// Findings per rule id, with the rule's first finding (for its severity/consequence).
fn by_rule(files: &[FeedbackFile]) -> BTreeMap<&'static str, (u64, &Finding)> {
    let mut out: BTreeMap<&'static str, (u64, &Finding)> = BTreeMap::new();
    for file in files {
        for f in &file.report.findings {
            out.entry(f.rule).or_insert((0, f)).0 += 1;
        }
    }
    out
}

/// `feilliste.html`: the files, the findings counted per rule (most first), then per rule
/// its rows.
pub fn render_html(files: &[FeedbackFile], meta: &PageMeta<'_>) -> String {
    let mut h = html_head(&format!(
        "IPLOS feilliste {} – {} {} (bydel {})",
        meta.data_year, meta.kommunenr, meta.kommune_name, meta.bydel
    ));
    h.push_str(&meta.line());
    h.push_str("<h2>Filer</h2>\n<table>\n<tr><th>Fil</th><th>Mottatt</th><th>Notifikasjoner</th><th>Funn</th><th>Resultat</th></tr>\n");
    for f in &files_sorted(files) {
        let omitted = if f.report.findings_omitted > 0 {
            format!(" (+{} ikke listet)", f.report.findings_omitted)
        } else {
            String::new()
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}{}</td><td>{}</td></tr>\n",
            html(&f.name),
            html(&oslo(f.arrived)),
            f.report.notifications,
            f.report.findings.len(),
            omitted,
            if f.report.conformant {
                "Godkjent"
            } else {
                "<span class=\"feil\">Ikke godkjent</span>"
            },
        ));
    }
    h.push_str("</table>\n");
    let rules = by_rule(files);
    if rules.is_empty() {
        h.push_str("<p>Ingen feil eller advarsler ble funnet.</p>\n</body>\n</html>\n");
        return h;
    }
    let mut ordered: Vec<(&&str, &(u64, &Finding))> = rules.iter().collect();
    ordered.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    h.push_str("<h2>Antall per regel</h2>\n<table>\n<tr><th>Regel</th><th>Beskrivelse</th><th>Alvorlighetsgrad</th><th>Konsekvens</th><th>Antall</th></tr>\n");
    for (id, (n, f)) in &ordered {
        h.push_str(&format!(
            "<tr><td><a href=\"#{id}\">{id}</a></td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td class=\"n\">{n}</td></tr>\n",
            html(&title_nb(id)),
            severity_nb(f.severity).to_lowercase(),
            severity_nb(f.severity),
            consequence_nb(f.consequence),
            id = html(id),
        ));
    }
    h.push_str("</table>\n");
    for (id, (n, f)) in &ordered {
        h.push_str(&format!(
            "<h2 id=\"{id}\">{id}: {} ({n})</h2>\n<p class=\"meta\">{} · {} · {}</p>\n\
             <table>\n<tr><th>Fil</th><th>Linje</th><th>Sti</th><th>Melding (engelsk)</th></tr>\n",
            html(&title_nb(id)),
            html(title_en(id)),
            severity_nb(f.severity),
            consequence_nb(f.consequence),
            id = html(id),
        ));
        for file in files {
            for f in file.report.findings.iter().filter(|f| f.rule == **id) {
                h.push_str(&format!(
                    "<tr><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
                    html(&file.name),
                    f.location.line,
                    html(&f.location.path),
                    html(&f.message)
                ));
            }
        }
        h.push_str("</table>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

fn files_sorted(files: &[FeedbackFile]) -> Vec<&FeedbackFile> {
    let mut v: Vec<&FeedbackFile> = files.iter().collect();
    v.sort_by(|a, b| a.arrived.cmp(&b.arrived).then(a.name.cmp(&b.name)));
    v
}

/// Counts per severity key (`error`, `warning`) and per rule id.
pub fn tally(files: &[FeedbackFile]) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut sev = BTreeMap::new();
    let mut rule = BTreeMap::new();
    for file in files {
        for f in &file.report.findings {
            *sev.entry(severity_key(f.severity).to_string()).or_default() += 1;
            *rule.entry(f.rule.to_string()).or_default() += 1;
        }
    }
    (sev, rule)
}
