//! The coordinator's report as `rehearse` writes it (not a sample): bokmål by default and
//! English on request, no UTC instant shown as text, the action lists and vendor pages beside
//! index.html, and `--baseline` adding a comparison to report.json and the page.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Kommuner of 2017 of different sizes and counties.
const KOMMUNER: &str = "0301,0403,1103,1201,1601,0219,1902";

fn rehearse(out: &Path, extra: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_iplos-harness"))
        .args([
            "rehearse", "--season", "2017", "--scale", "0.01", "--seed", "5",
        ])
        .args(["--municipality", KOMMUNER, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("rehearse runs");
    assert!(
        o.status.success(),
        "rehearse failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// The page's text as a reader sees it: scripts, styles and tags (with their attributes,
/// where machine-readable instants may stand) removed.
fn visible_text(html: &str) -> String {
    let mut s = html.to_string();
    for (open, close) in [("<script", "</script>"), ("<style", "</style>")] {
        while let Some(i) = s.find(open) {
            let j = s[i..].find(close).map_or(s.len(), |j| i + j + close.len());
            s.replace_range(i..j, " ");
        }
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// An ISO instant in UTC (`…T08:00Z`, `…T08:00:00+00:00`) or the word UTC.
fn utc_instants(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    for i in 0..b.len().saturating_sub(6) {
        let is_time = b[i] == b'T'
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
            && b[i + 3] == b':';
        if is_time {
            let rest = &text[i..text.len().min(i + 20)];
            if rest.contains('Z') || rest.contains("+00:00") {
                found.push(rest.to_string());
            }
        }
    }
    if text.contains("UTC") {
        found.push("UTC".into());
    }
    found
}

#[test]
fn the_rehearsal_report_is_norwegian_in_oslo_time_with_action_lists_and_a_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let report = rehearse(&first, &[]);

    let page = std::fs::read_to_string(first.join("index.html")).unwrap();
    assert!(page.contains("<html lang=\"nb\""), "bokmål by default");
    let text = visible_text(&page);
    assert!(utc_instants(&text).is_empty(), "{:?}", utc_instants(&text));

    // Action lists: a CSV per problem group, as Norwegian spreadsheets read them.
    let actions = first.join("actions");
    let csvs: Vec<_> = std::fs::read_dir(&actions)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let csvs: Vec<_> = csvs
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    assert!(
        !csvs.is_empty(),
        "the default 2017 season has problems to act on"
    );
    for csv in &csvs {
        let body = std::fs::read_to_string(csv).unwrap();
        assert!(
            body.starts_with('\u{feff}'),
            "{}: UTF-8 with BOM",
            csv.display()
        );
        let mut lines = body.trim_start_matches('\u{feff}').lines();
        let head = lines.next().unwrap().to_lowercase();
        assert!(head.contains(';') && head.contains("kommune"), "{head}");
        assert!(head.contains("postmottak"), "an e-mail column: {head}");
        for row in lines {
            let cells: Vec<&str> = row.split(';').collect();
            let mails: Vec<&&str> = cells.iter().filter(|c| c.contains('@')).collect();
            assert!(!mails.is_empty(), "{row}");
            assert!(
                mails.iter().all(|m| m.trim_matches('"').ends_with(".test")),
                "{row}"
            );
        }
        let mail_text = csv.with_extension("txt");
        assert!(mail_text.is_file(), "a ready mail beside {}", csv.display());
    }
    // A vendor page for every vendor whose exports broke a rule.
    let vendors_with_findings = report["findings"]["by_vendor"]
        .as_array()
        .map_or(0, |v| v.len());
    let pages = std::fs::read_dir(first.join("vendors"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(pages, vendors_with_findings);

    // English on request, compared with the first run.
    let second = dir.path().join("second");
    let baseline = first.join("report.json");
    let compared = rehearse(
        &second,
        &["--lang", "en", "--baseline", baseline.to_str().unwrap()],
    );
    let page = std::fs::read_to_string(second.join("index.html")).unwrap();
    assert!(page.contains("<html lang=\"en\""));
    assert!(utc_instants(&visible_text(&page)).is_empty());
    let comparison = &compared["comparison"];
    assert!(
        comparison.is_object(),
        "report.json has a comparison: {compared:#}"
    );
    assert!(page.contains("id=\"comparison\""), "the page shows it");
}
