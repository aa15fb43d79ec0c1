//! index.html renders in headless Chromium (Debian's `chromium`): a screenshot of the
//! page is a real, non-blank PNG of the window's size showing the page's colours, and the
//! DOM after the script ran has the key elements: the summary, the timeline SVG, the
//! per-kommune table with one row per kommune, the search box (shown by the script), and
//! a search from the URL filters the table. Without Chromium the test fails and says how
//! to install it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use iplos_reports::{sample::sample, write_report};

const CHROMIUM: &str = "/usr/bin/chromium";
const KOMMUNER: usize = 430;

fn chromium() -> &'static str {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does"
    );
    CHROMIUM
}

/// Runs headless Chromium with `args` + `url`, killing it after two minutes.
fn run_chromium(profile: &Path, args: &[&str], url: &str) -> Output {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
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
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Read output on threads so a full pipe cannot block the browser.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).ok();
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).ok();
        v
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: o.join().unwrap_or_default(),
        stderr: e.join().unwrap_or_default(),
    }
}

fn page() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write_report(&sample(KOMMUNER, 42), &dir.path().join("report")).expect("write");
    (dir, w.html)
}

#[test]
fn screenshot_is_a_real_page() {
    let (dir, html) = page();
    let png_path = dir.path().join("page.png");
    let out = run_chromium(
        &dir.path().join("profile"),
        &[
            "--window-size=1280,2000",
            &format!("--screenshot={}", png_path.display()),
        ],
        &format!("file://{}", html.display()),
    );
    assert!(
        png_path.is_file(),
        "no screenshot; chromium said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(keep) = std::env::var_os("KEEP_SCREENSHOT") {
        std::fs::copy(&png_path, keep).expect("copy screenshot");
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).expect("open png"),
    ));
    let mut reader = decoder.read_info().expect("a valid PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a decodable PNG");
    assert_eq!((info.width, info.height), (1280, 2000), "the window's size");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "colour image, got {:?}", info.color_type);
    let px = |x: u32, y: u32| {
        let i = (y as usize * info.line_size) + x as usize * channels;
        (buf[i], buf[i + 1], buf[i + 2])
    };
    // not blank: many distinct colours across the page
    let mut colours = std::collections::BTreeSet::new();
    for y in (0..info.height).step_by(7) {
        for x in (0..info.width).step_by(7) {
            colours.insert(px(x, y));
        }
    }
    assert!(
        colours.len() > 100,
        "only {} colours: a blank page?",
        colours.len()
    );
    // the stylesheet applied: the header band is the page's dark blue (#0b3d5c)
    assert_eq!(px(640, 5), (0x0b, 0x3d, 0x5c), "header colour");
    // the verdict bars show the on-time green (#2e7d32) somewhere in the top third
    let green = (0..info.height / 3).step_by(2).any(|y| {
        (0..info.width)
            .step_by(2)
            .any(|x| px(x, y) == (0x2e, 0x7d, 0x32))
    });
    assert!(green, "no on-time green in the summary");
}

#[test]
fn dom_has_the_key_elements_after_the_script_ran() {
    let (dir, html) = page();
    let url = format!("file://{}", html.display());
    let out = run_chromium(&dir.path().join("profile"), &["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in [
        "summary",
        "summary-line",
        "timeline",
        "timeline-chart",
        "receipts",
        "receipt-histogram",
        "failures",
        "findings-by-rule",
        "findings-by-vendor",
        "endpoints-table",
        "kommune-table",
        "kommune-search",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "#{id} missing");
    }
    assert_eq!(
        dom.matches("<tr id=\"k-").count(),
        KOMMUNER,
        "one row per kommune"
    );
    assert!(
        dom.matches("<details><summary>").count() >= KOMMUNER,
        "a timeline per kommune"
    );
    assert_eq!(
        dom.matches("class=\"series\"").count(),
        5,
        "five series in the timeline"
    );
    assert!(
        dom.contains("<div class=\"filter\">"),
        "the script showed the search controls"
    );
    assert!(
        dom.contains("id=\"kommune-count\">430<"),
        "the script counted the rows"
    );
    // hostile text stays text
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!dom.contains("<script>alert(1)"));
    // no external fetches in the page
    let src = std::fs::read_to_string(&html).unwrap();
    assert!(
        !src.contains("src=\"http") && !src.contains("href=\"http") && !src.contains("url(http")
    );

    // a search from the URL filters the table to Oslo
    let out = run_chromium(
        &dir.path().join("profile2"),
        &["--dump-dom"],
        &format!("{url}?q=0301"),
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("id=\"kommune-count\">1<"), "search count");
    let shown = dom
        .match_indices("<tr id=\"k-")
        .filter(|(i, _)| {
            let tag = &dom[*i..];
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            !tag.contains("class=\"hidden\"")
        })
        .count();
    assert_eq!(shown, 1, "exactly one row left visible");
}
