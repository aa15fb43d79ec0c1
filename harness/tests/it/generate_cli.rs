//! `iplos-harness generate` as a vendor or the dress rehearsal uses it: folders per kommune,
//! the manifest, messages that pass the checker and the XSD, determinism across thread
//! counts, every defect of the catalogue, and refusals of bad input.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iplos-harness"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run iplos-harness")
}

fn generate(out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["generate", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(
        o.status.success(),
        "generate {extra:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(
        summary.contains("generated") && summary.contains("kommuner"),
        "one-line summary: {summary}"
    );
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap())
        .expect("manifest.json is JSON")
}

fn xsd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/iplos-56.0.0/XPR(ipl).xsd")
}

fn folders(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_kommune_of_the_year_gets_a_folder_and_a_manifest_entry() {
    for (year, count, official) in [("2024", 357, 399_263.0), ("2017", 426, 361_471.0)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let m = generate(&out, &["--year", year, "--scale", "0.02", "--seed", "3"]);
        assert_eq!(folders(&out).len(), count, "{year}");
        let kommuner = m["kommuner"].as_array().unwrap();
        assert_eq!(kommuner.len(), count);
        assert_eq!(m["year"], year.parse::<u64>().unwrap());
        assert_eq!(m["seed"], 3);
        assert_eq!(m["tool"], "iplos-harness");
        let persons = m["totals"]["persons"].as_f64().unwrap();
        let expected = official * 0.02;
        assert!(
            (persons - expected).abs() / expected < 0.05,
            "{year}: {persons} persons at scale 0.02, expected about {expected}"
        );
        for k in kommuner {
            let files: Vec<&str> = k["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap())
                .collect();
            let nr = k["number"].as_str().unwrap();
            for name in ["population.jsonl", "melding.xml", "korreksjoner.xml"] {
                let rel = format!("{nr}/{name}");
                assert!(files.contains(&rel.as_str()), "{rel} in manifest");
                assert!(out.join(&rel).is_file(), "{rel} on disk");
            }
            for f in k["files"].as_array().unwrap() {
                assert_eq!(f["sha256"].as_str().unwrap().len(), 64);
            }
        }
    }
}

#[test]
fn messages_pass_the_checker_and_the_official_xsd() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Oslo, Bergen, Utsira and a few more, 2024, small scale; the full national run is in the README.
    generate(
        &out,
        &[
            "--year",
            "2024",
            "--municipality",
            "0301,4601,1151,5001,1804",
            "--scale",
            "0.05",
        ],
    );
    let mut files = Vec::new();
    for k in folders(&out) {
        let m = out.join(&k).join("melding.xml");
        let c = out.join(&k).join("korreksjoner.xml");
        let o = run(&["check", "--year", "2024", m.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "",
            "{k}: no findings at all"
        );
        let o = run(&[
            "check",
            "--year",
            "2024",
            "--previous",
            m.to_str().unwrap(),
            c.to_str().unwrap(),
        ]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "",
            "{k} corrections: no findings"
        );
        assert_eq!(o.status.code(), Some(0));
        files.push(m);
        files.push(c);
    }
    let xsd = xsd();
    assert!(
        xsd.exists(),
        "{} missing: ../shared must be beside the checkout",
        xsd.display()
    );
    let o = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .args(&files)
        .output()
        .expect("xmllint not found: .ci/run installs libxml2-utils");
    assert!(
        o.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn same_seed_gives_byte_identical_files_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let args = [
        "--year",
        "2024",
        "--municipality",
        "0301,1151,4601,3907",
        "--scale",
        "0.05",
        "--seed",
        "42",
    ];
    let mut one = args.to_vec();
    one.extend(["--threads", "1"]);
    let mut two = args.to_vec();
    two.extend(["--threads", "2"]);
    generate(&a, &one);
    generate(&b, &two);
    for k in folders(&a) {
        for f in ["population.jsonl", "melding.xml", "korreksjoner.xml"] {
            assert_eq!(
                std::fs::read(a.join(&k).join(f)).unwrap(),
                std::fs::read(b.join(&k).join(f)).unwrap(),
                "{k}/{f}"
            );
        }
    }
    assert_eq!(
        std::fs::read(a.join("manifest.json")).unwrap(),
        std::fs::read(b.join("manifest.json")).unwrap()
    );
    // A kommune's output does not depend on which others are generated.
    let c = dir.path().join("c");
    generate(
        &c,
        &[
            "--year",
            "2024",
            "--municipality",
            "1151",
            "--scale",
            "0.05",
            "--seed",
            "42",
        ],
    );
    assert_eq!(
        std::fs::read(a.join("1151/melding.xml")).unwrap(),
        std::fs::read(c.join("1151/melding.xml")).unwrap()
    );
    // Another seed gives other data.
    let d = dir.path().join("d");
    generate(
        &d,
        &[
            "--year",
            "2024",
            "--municipality",
            "1151",
            "--scale",
            "0.05",
            "--seed",
            "43",
        ],
    );
    assert_ne!(
        std::fs::read(c.join("1151/population.jsonl")).unwrap(),
        std::fs::read(d.join("1151/population.jsonl")).unwrap()
    );
}

#[test]
fn every_defect_in_the_catalogue_triggers_exactly_its_rules() {
    let list = run(&["generate", "--year", "2024", "--defect", "list"]);
    assert!(list.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert!(names.len() >= 40, "catalogue has {} defects", names.len());
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for name in &names {
        let out = dir.path().join(name);
        let m = generate(
            &out,
            &[
                "--year",
                "2024",
                "--municipality",
                "4601",
                "--scale",
                "0.01",
                "--defect",
                name,
            ],
        );
        let applied = &m["kommuner"][0]["defects"];
        let expected: BTreeSet<String> = applied
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| {
                a["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
            })
            .collect();
        assert!(
            !expected.is_empty(),
            "{name}: the manifest records the defect and its rules"
        );
        let file = out.join("4601/melding.xml");
        let o = run(&[
            "check",
            "--year",
            "2024",
            "--format",
            "json",
            file.to_str().unwrap(),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let found: BTreeSet<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect();
        if found != expected {
            wrong.push(format!(
                "{name}: expected {expected:?}, check found {found:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "defects that do not trigger exactly their rules:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn defect_rate_is_recorded_per_kommune() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let m = generate(
        &out,
        &[
            "--year",
            "2024",
            "--municipality",
            "0301,4601,1151,5001,1804,3907,4204",
            "--scale",
            "0.01",
            "--defect-rate",
            "0.2",
        ],
    );
    assert_eq!(m["defects"]["rate"], 0.2);
    let injected: usize = m["kommuner"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["defects"].as_array().unwrap().len())
        .sum();
    assert!(
        injected > 0,
        "with 56 defects at rate 0.2 every kommune gets some"
    );
    for k in m["kommuner"].as_array().unwrap() {
        let nr = k["number"].as_str().unwrap();
        let o = run(&[
            "check",
            "--year",
            "2024",
            out.join(nr).join("melding.xml").to_str().unwrap(),
        ]);
        let has = !k["defects"].as_array().unwrap().is_empty();
        let errors = k["defects"].as_array().unwrap().iter().any(|d| {
            d["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| !matches!(r.as_str().unwrap(), "IPL06" | "IPL20"))
        });
        assert_eq!(
            o.status.code(),
            Some(if errors { 1 } else { 0 }),
            "{nr}: defects {has}"
        );
    }
}

#[test]
fn bad_input_is_refused_with_exit_2_and_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o_str = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--year", "2024", "--municipality", "9998"], "9998"),
        (&["--year", "2018", "--municipality", "1601"], "5001"),
        (&["--year", "1999"], "1999"),
        (&["--year", "2024", "--scale", "0"], "--scale"),
        (&["--year", "2024", "--scale", "-1"], "--scale"),
        (
            &["--year", "2024", "--defect", "no-such-defect"],
            "no-such-defect",
        ),
        (&["--year", "2024", "--defect-rate", "1.5"], "--defect-rate"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["generate", "--out", o_str];
        args.extend_from_slice(extra);
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains(needle),
            "{extra:?}: the error names {needle}: {err}"
        );
        assert!(!out.exists(), "{extra:?}: nothing written");
    }
    // An existing non-empty directory is refused unless --force.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("precious.txt"), "keep").unwrap();
    let o = run(&[
        "generate",
        "--out",
        o_str,
        "--year",
        "2024",
        "--municipality",
        "1151",
        "--scale",
        "0.1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert!(out.join("precious.txt").exists());
    let o = run(&[
        "generate",
        "--out",
        o_str,
        "--year",
        "2024",
        "--municipality",
        "1151",
        "--scale",
        "0.1",
        "--force",
    ]);
    assert!(o.status.success());
    assert!(!out.join("precious.txt").exists() && out.join("manifest.json").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        leftovers,
        vec!["out".to_string()],
        "no staging directory left behind"
    );
}
