//! Same seed → same report.json, apart from the one timing section; the order the engine
//! fills the lists in does not matter.

use iplos_reports::{sample::sample, to_html, to_json, to_junit};

#[test]
fn same_seed_same_files() {
    let a = sample(430, 9);
    let b = sample(430, 9);
    assert_eq!(to_json(&a).unwrap(), to_json(&b).unwrap());
    assert_eq!(to_junit(&a), to_junit(&b));
    assert_eq!(to_html(&a), to_html(&b));
    assert_ne!(to_json(&a).unwrap(), to_json(&sample(430, 10)).unwrap());
}

#[test]
fn only_the_timing_section_differs_between_runs() {
    let a = sample(50, 3);
    let mut b = a.clone();
    b.timing.started = Some(chrono::Utc::now());
    b.timing.wall_seconds = Some(99.123_456);
    b.timing.endpoints[0].p99_ms = 1234.5678;
    let ja: serde_json::Value = serde_json::from_str(&to_json(&a).unwrap()).unwrap();
    let jb: serde_json::Value = serde_json::from_str(&to_json(&b).unwrap()).unwrap();
    assert_ne!(ja["timing"], jb["timing"]);
    assert_eq!(
        jb["timing"]["wall_seconds"], 99.12,
        "floats are rounded to two decimals"
    );
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("timing");
        v
    };
    assert_eq!(strip(ja), strip(jb));
    assert_eq!(
        to_json(&a.without_timing()).unwrap(),
        to_json(&b.without_timing()).unwrap()
    );
}

#[test]
fn fill_order_does_not_matter() {
    let a = sample(120, 5);
    let mut b = a.clone();
    b.kommuner.reverse();
    for k in &mut b.kommuner {
        k.phases.reverse();
        k.timeline.reverse();
    }
    b.daily.reverse();
    b.failures.reverse();
    for f in &mut b.failures {
        f.kommuner.reverse();
    }
    b.receipt_delays.delays.reverse();
    b.findings.by_rule.reverse();
    b.findings.by_vendor.reverse();
    assert_eq!(to_json(&a).unwrap(), to_json(&b).unwrap());
}

#[test]
fn every_kommune_has_every_phase() {
    let r = sample(430, 11);
    let v: serde_json::Value = serde_json::from_str(&to_json(&r).unwrap()).unwrap();
    let phases: Vec<&str> = v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    let ks = v["kommuner"].as_array().unwrap();
    assert_eq!(ks.len(), 430);
    assert_eq!(v["run"]["kommuner"], 430);
    for k in ks {
        let kp: Vec<&str> = k["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect();
        assert_eq!(kp, phases, "kommune {}", k["kommunenr"]);
    }
    // tallies add up
    for p in v["phases"].as_array().unwrap() {
        let n = |f: &str| p[f].as_u64().unwrap();
        assert_eq!(
            n("on_time") + n("late") + n("failed") + n("not_attempted"),
            n("total")
        );
        assert_eq!(n("total") + n("not_applicable"), 430);
    }
}
