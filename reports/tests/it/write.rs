//! write_report puts three complete files in place and nothing else; errors name the path.

use iplos_reports::{
    HTML_FILE, JSON_FILE, JUNIT_FILE, console_summary, sample::sample, to_json, write_report,
};

#[test]
fn writes_three_files_atomically_and_replaces_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run-1");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(JSON_FILE), "old").unwrap();
    let r = sample(430, 1);
    let w = write_report(&r, &out).unwrap();
    assert_eq!(w.json, out.join(JSON_FILE));
    assert_eq!(w.junit, out.join(JUNIT_FILE));
    assert_eq!(w.html, out.join(HTML_FILE));
    assert_eq!(
        std::fs::read_to_string(&w.json).unwrap(),
        to_json(&r).unwrap()
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "actions",
            "index.html",
            "junit.xml",
            "report.json",
            "vendors"
        ],
        "no temporary files left"
    );
    // every action list and vendor page is in place, no temporary file among them
    assert!(!w.extra.is_empty());
    for sub in ["actions", "vendors"] {
        for e in std::fs::read_dir(out.join(sub)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with('.'), "temporary file {name}");
        }
    }
    assert!(
        w.extra
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "csv"))
    );
    let html = std::fs::metadata(&w.html).unwrap().len();
    assert!(
        html < 2 * 1024 * 1024,
        "index.html for 430 kommuner is {html} bytes"
    );
}

#[test]
fn creates_missing_directories_and_names_the_bad_path() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/c");
    write_report(&sample(3, 1), &nested).unwrap();
    assert!(nested.join(JSON_FILE).is_file());
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let e = write_report(&sample(3, 1), &file.join("sub"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("plain-file"), "{e}");
}

#[test]
fn console_summary_lists_phases_causes_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let r = sample(430, 1);
    let w = write_report(&r, dir.path()).unwrap();
    let s = console_summary(&r, Some(&w));
    let n = iplos_reports::normalised(&r);
    let nb = iplos_reports::Lang::Nb;
    for p in &n.phases {
        assert!(s.contains(&nb.phase(&p.id, &p.name)), "{s}");
    }
    assert!(
        s.contains(nb.t(&format!("cause.{}", n.failures[0].cause))),
        "{s}"
    );
    assert!(s.contains("I faresonen"), "{s}");
    assert!(s.contains(&n.findings.by_rule[0].rule), "{s}");
    assert!(s.contains(&w.html.display().to_string()));
    assert!(s.lines().count() < 30, "{s}");
}
