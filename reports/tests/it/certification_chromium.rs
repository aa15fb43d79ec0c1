//! The certification page renders in headless Chromium (Debian's `chromium`): a screenshot is
//! a real page with the stylesheet applied and the verdict's colour in big letters near the
//! top, and the DOM after rendering has the verdict as its first heading and the key
//! sections, evidence and hashes. Without Chromium the test fails and says how to install it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use iplos_reports::certification::{sample, write_certification};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium with `args` on `url`; killed after two minutes.
fn chromium(profile: &Path, args: &[&str], url: &str) -> Output {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: apt-get install chromium"
    );
    let out_file = profile.with_extension("stdout");
    let err_file = profile.with_extension("stderr");
    let mut child = Command::new(CHROMIUM)
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
        // files, not pipes: a full pipe cannot stall the browser
        .stdout(std::fs::File::create(&out_file).expect("stdout file"))
        .stderr(std::fs::File::create(&err_file).expect("stderr file"))
        .spawn()
        .expect("start chromium");
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
        stdout: std::fs::read(&out_file).unwrap_or_default(),
        stderr: std::fs::read(&err_file).unwrap_or_default(),
    }
}

fn written() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write_certification(&sample(), &dir.path().join("report")).expect("write");
    (dir, w.html)
}

#[test]
fn screenshot_shows_the_verdict_first() {
    let (dir, html) = written();
    let png_path = dir.path().join("page.png");
    let out = chromium(
        &dir.path().join("profile"),
        &[
            "--window-size=1280,1600",
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
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a decodable PNG");
    assert_eq!((info.width, info.height), (1280, 1600));
    let channels = info.color_type.samples();
    assert!(channels >= 3);
    let px = |x: u32, y: u32| {
        let i = y as usize * info.line_size + x as usize * channels;
        (buf[i], buf[i + 1], buf[i + 2])
    };
    let mut colours = std::collections::BTreeSet::new();
    for y in (0..info.height).step_by(5) {
        for x in (0..info.width).step_by(5) {
            colours.insert(px(x, y));
        }
    }
    assert!(colours.len() > 50, "only {} colours: blank?", colours.len());
    assert_eq!(px(640, 5), (0x0b, 0x3d, 0x5c), "header colour");
    // the FAIL block (#c62828) is big and in the top 300 px: count its pixels there
    let red = (0..300u32)
        .flat_map(|y| (0..info.width).map(move |x| (x, y)))
        .filter(|&(x, y)| px(x, y) == (0xc6, 0x28, 0x28))
        .count();
    assert!(
        red > 10_000,
        "the verdict block is not big and red near the top ({red} px)"
    );
}

#[test]
fn dom_has_the_verdict_as_first_heading_and_the_key_elements() {
    let (dir, html) = written();
    let out = chromium(
        &dir.path().join("profile"),
        &["--dump-dom"],
        &format!("file://{}", html.display()),
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first_heading = dom
        .find("<h1")
        .into_iter()
        .chain(dom.find("<h2"))
        .min()
        .expect("a heading");
    assert!(
        dom[first_heading..].starts_with("<h1>FAIL "),
        "first heading: {}",
        &dom[first_heading..first_heading + 60]
    );
    for id in [
        "verdict",
        "verdict-word",
        "verdict-counts",
        "required-failures",
        "t-DATA-01",
        "blocked",
        "not-run",
        "optional-failures",
        "tests-table",
        "timings-table",
        "bundle-sha256",
        "bundle-table",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "#{id} missing");
    }
    assert!(dom.contains("id=\"verdict-word\" class=\"word v-fail\">FAIL<"));
    assert_eq!(
        dom.matches("<pre class=\"xml\">").count(),
        1,
        "the XML excerpt"
    );
    assert_eq!(
        dom.matches("<div class=\"er\">").count(),
        4,
        "expected vs received"
    );
    assert_eq!(
        dom.matches("<tr><td>").count() - 6 - 3,
        13,
        "one row per test (besides 6 timing and 3 bundle rows)"
    );
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!dom.contains("<script>alert(1)"));
    assert!(dom.contains(&sample().evidence_bundle.sha256));
}
