//! junit.xml parses with a standard parser (Python's xml.etree.ElementTree) and its
//! counts match the report.

use std::process::Command;

use iplos_reports::{PhaseStatus, sample::sample, to_junit};

const PARSE: &str = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
out = {"total": {k: int(root.get(k)) for k in ("tests", "failures", "errors", "skipped")}, "suites": []}
for s in root.findall("testsuite"):
    cases = s.findall("testcase")
    out["suites"].append({
        "name": s.get("name"),
        "attr": {k: int(s.get(k)) for k in ("tests", "failures", "errors", "skipped")},
        "cases": len(cases),
        "failures": len([c for c in cases if c.find("failure") is not None]),
        "skipped": len([c for c in cases if c.find("skipped") is not None]),
        "classnames": sorted(set(c.get("classname") for c in cases)),
        "names": [c.get("name") for c in cases],
        "failure_types": sorted(set(c.find("failure").get("type") for c in cases if c.find("failure") is not None)),
        "messages": [c.find("failure").get("message") for c in cases if c.find("failure") is not None],
    })
json.dump(out, sys.stdout)
"#;

#[test]
fn junit_parses_and_counts_match_the_report() {
    let r = sample(430, 42);
    let xml = to_junit(&r);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    std::fs::write(&path, &xml).unwrap();
    let out = Command::new("/usr/bin/python3")
        .args(["-c", PARSE])
        .arg(&path)
        .output()
        .expect("/usr/bin/python3 is needed (apt-get install python3, as .ci/run does)");
    assert!(
        out.status.success(),
        "python could not parse junit.xml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let suites = v["suites"].as_array().unwrap();
    assert_eq!(suites.len(), r.phases.len());
    let mut mut_r = r.clone();
    mut_r.normalise();
    let mut total_fail = 0;
    for (s, p) in suites.iter().zip(&mut_r.phases) {
        assert_eq!(s["name"], p.id.as_str());
        assert_eq!(s["cases"], 430, "one case per kommune in {}", p.id);
        assert_eq!(s["attr"]["tests"], 430);
        let fails = u64::from(p.late + p.failed + p.not_attempted);
        assert_eq!(s["failures"], fails, "failures in {}", p.id);
        assert_eq!(s["attr"]["failures"], fails);
        assert_eq!(s["skipped"], u64::from(p.not_applicable));
        assert_eq!(s["attr"]["skipped"], u64::from(p.not_applicable));
        assert_eq!(s["classnames"], serde_json::json!([p.id]));
        total_fail += fails;
    }
    assert_eq!(v["total"]["tests"], 430 * r.phases.len() as u64);
    assert_eq!(v["total"]["failures"], total_fail);
    // names are "<kommunenr> <name>", the markup-laden synthetic name survives escaping
    let names = suites[0]["names"].as_array().unwrap();
    assert_eq!(names[0], "0101 Halden");
    assert!(
        names
            .iter()
            .any(|n| n.as_str().unwrap().contains("<script>alert(1)</script>"))
    );
    // failures carry the cause as type and the reason as message
    let ord = suites
        .iter()
        .find(|s| s["name"] == "ordinary_submission")
        .unwrap();
    let types = ord["failure_types"].as_array().unwrap();
    assert!(types.iter().any(|t| t == "epj_not_upgraded"), "{types:?}");
    let k = mut_r
        .kommuner
        .iter()
        .find(|k| k.phase("ordinary_submission").unwrap().status == PhaseStatus::Late)
        .unwrap();
    // the message is the status and the cause's title, from the (bokmål) catalogue
    let cause = k
        .phase("ordinary_submission")
        .unwrap()
        .cause
        .clone()
        .unwrap();
    let reason = format!(
        "{}: {}",
        PhaseStatus::Late.label(iplos_reports::Lang::Nb),
        iplos_reports::Lang::Nb.t(&format!("cause.{cause}"))
    );
    assert!(
        ord["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == reason.as_str())
    );
}
