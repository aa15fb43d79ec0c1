//! The coordinator's page in headless Chromium for a 2017-season-sized report (426
//! kommuner with faults, bokmål) and a 2026 dress rehearsal (service bus, English): the
//! sections are there in the DOM after the script ran, `<html lang>` is right, no UTC
//! timestamp is shown as text, the action lists and vendor pages are written.
//! `KEEP_SCREENSHOTS=DIR` copies the screenshots there (scripts/report-screenshots.sh).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use iplos_reports::{Lang, sample::season_sample, write_report_in};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: apt-get install chromium"
    );
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("start chromium")
}

fn check(year: i32, n: usize, lang: Lang, shot: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let w = write_report_in(&season_sample(year, n, 7), &out, lang).unwrap();
    let url = format!("file://{}", w.html.display());
    let o = chromium(&dir.path().join("p1"), &["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(
        dom.contains("</html>"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(dom.contains(&format!("<html lang=\"{}\"", lang.code())));
    for id in [
        "summary",
        "summary-line",
        "calendar",
        "calendar-list",
        "at-risk",
        "risk-ordinary",
        "actions",
        "actions-table",
        "vendor-pages",
        "comparison",
        "timeline-chart",
        "receipts",
        "failures",
        "extensions",
        "findings-by-rule",
        "kommune-table",
        "appendix",
        "endpoints-table",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "#{id} missing ({year})"
        );
    }
    assert_eq!(dom.matches("<tr id=\"k-").count(), n);
    // no UTC timestamp as text: ISO instants only inside datetime attributes
    let text: String = {
        let mut t = String::new();
        let mut tag = false;
        for c in dom.chars() {
            match c {
                '<' => tag = true,
                '>' => tag = false,
                _ if !tag => t.push(c),
                _ => {}
            }
        }
        t
    };
    assert!(!text.contains("T07:") && !text.contains("+00:00") && !text.contains(" UTC"));
    if year >= 2018 {
        assert!(dom.contains("data-channel=\"amqp\""));
        assert!(
            !dom.contains("id=\"receipt-histogram\""),
            "no 08:00 buckets for AppRecs"
        );
        assert!(dom.contains("id=\"deadline-extension\""));
    } else {
        assert!(dom.contains("id=\"receipt-histogram\""));
        assert!(dom.contains("data-channel=\"mail\""));
    }
    let actions = out.join("actions");
    let csv = std::fs::read_dir(&actions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .expect("an action list");
    let csv = std::fs::read_to_string(csv).unwrap();
    assert!(csv.starts_with('\u{feff}') && csv.contains(';') && csv.contains(".kommune.test"));
    assert!(out.join("vendors").read_dir().unwrap().count() >= 3);
    let png: PathBuf = dir.path().join("page.png");
    chromium(
        &dir.path().join("p2"),
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", png.display()),
        ],
        &url,
    );
    assert!(png.is_file());
    if let Some(keep) = std::env::var_os("KEEP_SCREENSHOTS") {
        std::fs::copy(&png, Path::new(&keep).join(shot)).unwrap();
    }
}

#[test]
fn season_2017_in_bokmal() {
    check(2017, 426, Lang::Nb, "rehearsal-2017-nb.png");
}

#[test]
fn dress_rehearsal_2026_in_english() {
    check(2026, 357, Lang::En, "rehearsal-2026-en.png");
}
