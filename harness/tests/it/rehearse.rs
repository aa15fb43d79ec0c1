//! `iplos-harness rehearse` as a user runs it: whole seasons against the real endpoints on
//! loopback, judged from the report it writes.
//!
//! - With every fault at zero, every kommune completes every phase on time and every
//!   receipt goes out at the first 08:00 on a working day after arrival.
//! - With one fault at 1.0, the report shows exactly that fault's documented consequence
//!   (scenarios/README.md) and no other cause.
//! - The same seed gives the same report.json outside its timing section.
//! - All 426 kommuner of 2017 at scale 0.02: every kommune and every phase in report.json,
//!   and junit.xml parses with Python's ElementTree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_iplos-harness")
}

/// A few kommuner of 2017 of different sizes.
const KOMMUNER: &str = "0301,0403,1103";

fn scenario(dir: &Path, faults: &str) -> PathBuf {
    let text = format!(
        "name = \"test\"\n[season]\ndata_year = 2017\nchannel = \"sendemodul\"\ntest_data_year = 2016\n\
         [rehearsal]\ntest_share = 1.0\nregistration_mistakes = 1.0\n[faults]\n{faults}\n"
    );
    write_scenario(dir, &text)
}

/// The 2018 season (KPR over the service bus).
fn scenario_2018(dir: &Path, faults: &str) -> PathBuf {
    let text = format!(
        "name = \"test 2018\"\n[season]\ndata_year = 2018\nchannel = \"servicebus\"\n\
         register_her_id = 134197\nvalidation_her_id = 131725\n\
         [rehearsal]\ntest_share = 1.0\nregistration_mistakes = 1.0\n[faults]\n{faults}\n"
    );
    write_scenario(dir, &text)
}

fn write_scenario(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs a rehearsal; returns report.json.
fn rehearse(dir: &Path, scenario: &Path, kommuner: &str, scale: &str, seed: &str) -> Value {
    let out = dir.join("out");
    let o = Command::new(bin())
        .args(["rehearse", "--scenario"])
        .arg(scenario)
        .args([
            "--municipality",
            kommuner,
            "--scale",
            scale,
            "--seed",
            seed,
            "--out",
        ])
        .arg(&out)
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

fn phase<'a>(k: &'a Value, id: &str) -> &'a Value {
    k["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == id)
        .unwrap_or_else(|| panic!("kommune {} has no phase {id}", k["kommunenr"]))
}

fn causes(report: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for k in report["kommuner"].as_array().unwrap() {
        for p in k["phases"].as_array().unwrap() {
            if let Some(c) = p["cause"].as_str() {
                out.extend(c.split(',').map(str::to_string));
            }
        }
    }
    out
}

#[test]
fn without_faults_every_phase_is_on_time_and_receipts_come_at_0800() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(dir.path(), "");
    let r = rehearse(dir.path(), &sc, KOMMUNER, "0.005", "3");
    let kommuner = r["kommuner"].as_array().unwrap();
    assert_eq!(kommuner.len(), 3);
    for k in kommuner {
        for p in k["phases"].as_array().unwrap() {
            assert_eq!(
                p["status"], "on_time",
                "{} {}: {p}",
                k["kommunenr"], p["phase"]
            );
        }
    }
    assert!(causes(&r).is_empty());
    assert!(r["failures"].as_array().unwrap().is_empty());
    let delays = r["receipt_delays"]["delays"].as_array().unwrap();
    assert_eq!(
        delays.len(),
        6,
        "a receipt for each ordinary file and each correction"
    );
    for d in delays {
        let arrived = chrono::DateTime::parse_from_rfc3339(d["arrived"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        let receipted = chrono::DateTime::parse_from_rfc3339(d["receipted"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            Some(receipted),
            iplos_model::calendar::receipt_time(arrived),
            "receipt for {d}"
        );
    }
}

/// Corrections come from the kommuner with something to correct (the feilliste's errors,
/// mistakes they know of), spread over the working days after the feedback — not from
/// every kommune on one day.
#[test]
fn corrections_come_from_kommuner_with_something_to_correct_spread_over_days() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name = \"corrections\"\n[season]\ndata_year = 2017\nchannel = \"sendemodul\"\n\
                test_data_year = 2016\n[rehearsal]\ntest_share = 1.0\n";
    let sc = write_scenario(dir.path(), text);
    let kommuner = "0101,0104,0105,0106,0111,0118,0119,0121,0122,0123,0124,0125,0127,0128,\
                    0135,0136,0137,0138,0211,0213,0214,0215,0216,0217,0219,0220,0221,0226,\
                    0227,0228";
    let r = rehearse(dir.path(), &sc, kommuner, "0.002", "5");
    let all = r["kommuner"].as_array().unwrap();
    let correcting: Vec<&Value> = all
        .iter()
        .filter(|k| !steps(k, "correction-submitted").is_empty())
        .collect();
    assert!(
        !correcting.is_empty() && correcting.len() * 10 < all.len() * 9,
        "{} of {} kommuner sent corrections",
        correcting.len(),
        all.len()
    );
    let per_day = r["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["corrections"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        per_day as usize * 10 <= all.len() * 4,
        "{per_day} of {} kommuner sent corrections on one day",
        all.len()
    );
    for k in all {
        let phase = phase(k, "corrections");
        if steps(k, "correction-submitted").is_empty() {
            assert_eq!(
                phase["status"], "not_applicable",
                "{}: {phase}",
                k["kommunenr"]
            );
        }
    }
}

/// 30 kommuner of 2016 and 2017 (Østfold and Akershus).
const THIRTY: &str = "0101,0104,0105,0106,0111,0118,0119,0121,0122,0123,0124,0125,0127,0128,\
                      0135,0136,0137,0138,0211,0213,0214,0215,0216,0217,0219,0220,0221,0226,\
                      0227,0228";

/// Runs `--season YEAR` (its defaults) on the thirty kommuner.
fn rehearse_season(dir: &Path, year: &str, seed: &str) -> Value {
    let out = dir.join("out");
    let o = Command::new(bin())
        .args(["rehearse", "--season", year, "--municipality", THIRTY])
        .args(["--scale", "0.002", "--seed", seed, "--out"])
        .arg(&out)
        .output()
        .expect("rehearse runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// The default seasons are realistic: several fault causes, about two thirds testing,
/// feedback that lists what the register found, bounded link requests, corrections from
/// some kommuner over several days (the checks, on 30 kommuner).
#[test]
fn the_default_2016_and_2017_seasons_are_realistic() {
    for year in ["2016", "2017"] {
        let dir = tempfile::tempdir().unwrap();
        let r = rehearse_season(dir.path(), year, "11");
        let all = r["kommuner"].as_array().unwrap();
        assert!(causes(&r).len() >= 3, "{year}: causes {:?}", causes(&r));
        let tested = all
            .iter()
            .filter(|k| phase(k, "test_submission")["status"] != "not_attempted")
            .count();
        assert!((12..=27).contains(&tested), "{year}: {tested} of 30 tested");
        for k in all {
            assert!(
                steps(k, "link-requested").len() <= 3,
                "{year} {}",
                k["kommunenr"]
            );
            // "0 error rows" only after files without errors.
            let tl = k["timeline"].as_array().unwrap();
            let errors_sent = tl.iter().any(|e| {
                let d = e["detail"].as_str().unwrap();
                e["kind"].as_str().unwrap().ends_with("-submitted")
                    && e["kind"] != "test-submitted"
                    && !d.contains("; 0 errors")
            });
            for e in tl.iter().filter(|e| e["kind"] == "feedback-opened") {
                let d = e["detail"].as_str().unwrap();
                if d.starts_with("feedback") && errors_sent {
                    assert!(
                        !d.contains(": 0 error rows"),
                        "{year} {}: {d}",
                        k["kommunenr"]
                    );
                }
            }
        }
        let correcting = all
            .iter()
            .filter(|k| !steps(k, "correction-submitted").is_empty())
            .count();
        assert!(
            correcting * 10 < all.len() * 9,
            "{year}: {correcting} corrected"
        );
        let max_day = r["daily"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["corrections"].as_u64().unwrap() as usize)
            .max()
            .unwrap();
        assert!(
            max_day * 10 <= all.len() * 4,
            "{year}: {max_day} on one day"
        );
    }
}

/// The fault-free scenario (CI's baseline) is shipped and named without a path.
#[test]
fn the_fault_free_scenario_has_no_cause_and_every_kommune_tests() {
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(dir.path(), Path::new("fault-free"), KOMMUNER, "0.005", "3");
    assert!(causes(&r).is_empty());
    for k in r["kommuner"].as_array().unwrap() {
        for p in k["phases"].as_array().unwrap() {
            let ok = p["status"] == "on_time"
                || (p["phase"] == "corrections" && p["status"] == "not_applicable");
            assert!(ok, "{} {}: {p}", k["kommunenr"], p["phase"]);
        }
    }
}

/// What a fault at 1.0 must show in the 2017 season: (phase, allowed statuses) that carry
/// the cause.
fn expect_fault(fault: &str, phases: &[(&str, &[&str])]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(dir.path(), &format!("{fault} = 1.0"));
    let r = rehearse(dir.path(), &sc, KOMMUNER, "0.005", "3");
    expect_consequence(&r, fault, phases);
    r
}

/// The rules of the report's findings table.
fn rules_found(r: &Value) -> Vec<&str> {
    r["findings"]["by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect()
}

/// The same in the 2018 season (service bus).
fn expect_fault_2018(fault: &str, phases: &[(&str, &[&str])]) {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario_2018(dir.path(), &format!("{fault} = 1.0"));
    let r = rehearse(dir.path(), &sc, "0301,0403,5001", "0.005", "3");
    assert_eq!(r["run"]["channel"], "amqp");
    expect_consequence(&r, fault, phases);
}

fn expect_consequence(r: &Value, fault: &str, phases: &[(&str, &[&str])]) {
    assert_eq!(
        causes(r),
        BTreeSet::from([fault.to_string()]),
        "only {fault} may appear as a cause"
    );
    let groups: Vec<&str> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["cause"].as_str().unwrap())
        .collect();
    assert_eq!(groups, vec![fault]);
    for k in r["kommuner"].as_array().unwrap() {
        assert!(
            k["faults"].as_array().unwrap().iter().any(|f| f == fault),
            "{} lists the fault",
            k["kommunenr"]
        );
        for (id, statuses) in phases {
            let p = phase(k, id);
            assert!(
                p["cause"]
                    .as_str()
                    .is_some_and(|c| c.split(',').any(|c| c == fault)),
                "{} {id} should carry {fault}: {p}",
                k["kommunenr"]
            );
            let st = p["status"].as_str().unwrap();
            assert!(
                statuses.contains(&st),
                "{} {id}: {st} not in {statuses:?}",
                k["kommunenr"]
            );
        }
    }
}

const IN_TIME: &[&str] = &["on_time", "late"];

#[test]
fn fault_never_tested() {
    expect_fault("never_tested", &[("test_submission", &["not_attempted"])]);
}

#[test]
fn fault_postmottak_late() {
    expect_fault(
        "postmottak_late",
        &[("test_feedback", &["on_time"]), ("feedback", &["on_time"])],
    );
}

#[test]
fn fault_postmottak_never() {
    expect_fault(
        "postmottak_never",
        &[("test_feedback", &["late"]), ("feedback", &["late"])],
    );
}

#[test]
fn fault_spam_filter() {
    expect_fault(
        "spam_filter",
        &[("test_feedback", &["late"]), ("feedback", &["late"])],
    );
}

/// The steps of kind `kind` in a kommune's timeline, as Oslo civil times.
fn steps(k: &Value, kind: &str) -> Vec<chrono::NaiveDateTime> {
    k["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| {
            let t = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc);
            iplos_model::calendar::oslo_local(t).unwrap()
        })
        .collect()
}

#[test]
fn fault_link_expired() {
    let r = expect_fault("link_expired", &[("test_feedback", &["on_time"])]);
    for k in r["kommuner"].as_array().unwrap() {
        // The first link expires, one new link is used at once (the password then serves
        // the ordinary feedback too): no loop.
        let requested = steps(k, "link-requested");
        assert!(
            requested.len() == 2,
            "{}: {} link requests: {requested:?}",
            k["kommunenr"],
            requested.len()
        );
        assert_eq!(steps(k, "link-refused").len(), 1, "{}", k["kommunenr"]);
        // People act in working hours: no link requested or forwarded at night.
        for at in requested.iter().chain(&steps(k, "forwarded")) {
            use chrono::{Datelike, Timelike};
            assert!(
                (8..16).contains(&at.hour()) && at.weekday().number_from_monday() <= 5,
                "{}: step at {at}",
                k["kommunenr"]
            );
        }
    }
}

#[test]
fn fault_wrong_pin() {
    expect_fault("wrong_pin", &[("test_submission", IN_TIME)]);
}

/// A wrong PIN costs a phone call, not the test: the contact tries again the same day when
/// there is time, and a test file that comes after the test feedback was published gets
/// its feedback all the same (seed 001: testing went on after week 42).
#[test]
fn a_wrong_pin_on_a_friday_still_gets_its_test_feedback() {
    let dir = tempfile::tempdir().unwrap();
    // The test week squeezed to its Friday, so every kommune's first login is on a
    // Friday and its second try can only be in week 43.
    let season = include_str!("../../../scenarios/fault-free.toml");
    let week = "first_day = 2017-10-16\nlast_day = 2017-10-22";
    assert!(season.contains(week) && season.trim_end().ends_with("[faults]"));
    let text = format!(
        "{}\nwrong_pin = 1.0\n",
        season.replace(week, "first_day = 2017-10-20\nlast_day = 2017-10-20")
    );
    let sc = write_scenario(dir.path(), &text);
    let r = rehearse(dir.path(), &sc, KOMMUNER, "0.005", "3");
    for k in r["kommuner"].as_array().unwrap() {
        let refused = steps(k, "login-refused");
        let sent = steps(k, "test-submitted");
        assert_eq!((refused.len(), sent.len()), (1, 1), "{}", k["kommunenr"]);
        let same_day = sent[0].date() == refused[0].date();
        assert!(
            same_day || refused[0].time() >= chrono::NaiveTime::from_hms_opt(13, 30, 0).unwrap(),
            "{}: refused {} but sent only {}",
            k["kommunenr"],
            refused[0],
            sent[0]
        );
        let fb = phase(k, "test_feedback");
        assert!(
            fb["status"] == "on_time" || fb["status"] == "late",
            "{}: {fb}",
            k["kommunenr"]
        );
    }
}

#[test]
fn fault_wrong_orgnr() {
    expect_fault("wrong_orgnr", &[("test_submission", IN_TIME)]);
}

#[test]
fn fault_wrong_bydel() {
    expect_fault("wrong_bydel", &[("test_submission", IN_TIME)]);
}

#[test]
fn fault_no_receipt() {
    expect_fault("no_receipt", &[("receipt", &["failed"])]);
}

#[test]
fn fault_firewall_closed() {
    expect_fault("firewall_closed", &[("test_submission", IN_TIME)]);
}

#[test]
fn fault_dns_not_resolving() {
    expect_fault("dns_not_resolving", &[("test_submission", IN_TIME)]);
}

#[test]
fn fault_defective_export() {
    // Sendemodul era: the file is received (on time, with its receipt); its errors come back
    // in the week-6 feilliste, and the fixed file goes with the corrections.
    let r = expect_fault("defective_export", &[("corrections", &["on_time"])]);
    assert_eq!(
        rules_found(&r),
        vec!["XSD02"],
        "the register's finding is in the report"
    );
    received_then_corrected(&r);
}

/// A file with errors in the Sendemodul era: received on time with its receipt, the
/// feilliste lists the errors, the fixed file goes with the corrections.
fn received_then_corrected(r: &Value) {
    for k in r["kommuner"].as_array().unwrap() {
        assert_eq!(
            phase(k, "ordinary_submission")["status"],
            "on_time",
            "{}",
            k["kommunenr"]
        );
        assert_eq!(
            phase(k, "receipt")["status"],
            "on_time",
            "{}",
            k["kommunenr"]
        );
        let opened: Vec<String> = k["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "feedback-opened")
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .filter(|d| d.starts_with("feedback"))
            .collect();
        assert!(
            opened.len() == 1 && !opened[0].contains(": 0 error rows"),
            "{}: {opened:?}",
            k["kommunenr"]
        );
        assert!(
            !steps(k, "correction-submitted").is_empty(),
            "{}",
            k["kommunenr"]
        );
    }
}

#[test]
fn fault_wrong_unzip_tool() {
    expect_fault(
        "wrong_unzip_tool",
        &[("test_feedback", &["on_time"]), ("feedback", &["on_time"])],
    );
}

#[test]
fn fault_old_kommunenummer() {
    // Sendemodul era: the file is received (on time, with its receipt); its errors come back
    // in the week-6 feilliste, and the fixed file goes with the corrections.
    // The 2017 trap: Trondheim (1601) reporting on its 2018 number 5001, Sandefjord (0710,
    // new in 2017) on a number from before its merger. Oslo has no trap: untouched.
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(dir.path(), "old_kommunenummer = 1.0");
    let all = rehearse(dir.path(), &sc, "1601,0710,0301", "0.005", "3");
    let oslo = all["kommuner"].as_array().unwrap()[0].clone();
    assert_eq!(oslo["kommunenr"], "0301");
    assert!(oslo["faults"].as_array().unwrap().is_empty(), "{oslo}");
    let mut r = all.clone();
    r["kommuner"].as_array_mut().unwrap().remove(0);
    expect_consequence(&r, "old_kommunenummer", &[("corrections", &["on_time"])]);
    assert_eq!(
        rules_found(&r),
        vec!["IPL22"],
        "the register's finding is in the report"
    );
    received_then_corrected(&r);
}

#[test]
fn fault_late_correction() {
    expect_fault("late_correction", &[("corrections", &["late"])]);
}

#[test]
fn the_2018_season_goes_over_amqp_with_apprec_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario_2018(dir.path(), "");
    let r = rehearse(dir.path(), &sc, "0301,0403,5001", "0.005", "3");
    assert_eq!(r["run"]["channel"], "amqp");
    // Every ordinary message and correction got its AppRec: the receipts of the season.
    assert_eq!(r["receipt_delays"]["delays"].as_array().unwrap().len(), 6);
    for k in r["kommuner"].as_array().unwrap() {
        for p in k["phases"].as_array().unwrap() {
            assert_eq!(
                p["status"], "on_time",
                "{} {}: {p}",
                k["kommunenr"], p["phase"]
            );
        }
        let details: Vec<&str> = k["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["detail"].as_str().unwrap())
            .collect();
        assert!(
            details
                .iter()
                .any(|d| d.contains("to HER-id 134197 over AMQP; AppRec status 1")),
            "{details:?}"
        );
        assert!(
            details
                .iter()
                .any(|d| d.contains("to HER-id 131725 over AMQP")),
            "the prøveinnsending goes to KPR Validering: {details:?}"
        );
    }
}

#[test]
fn fault_servicebus_not_activated() {
    expect_fault_2018("servicebus_not_activated", &[("test_submission", IN_TIME)]);
}

#[test]
fn fault_epj_not_upgraded() {
    expect_fault_2018(
        "epj_not_upgraded",
        &[
            ("test_submission", &["not_attempted"]),
            ("ordinary_submission", &["late"]),
        ],
    );
}

#[test]
fn fault_defective_export_over_the_service_bus() {
    expect_fault_2018("defective_export", &[("ordinary_submission", IN_TIME)]);
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(
        dir.path(),
        "postmottak_late = 0.5\nwrong_pin = 0.5\ndefective_export = 0.3",
    );
    let mut a = rehearse(
        &dir.path().join("a"),
        &sc,
        "0301,0403,1103,1601",
        "0.005",
        "9",
    );
    let mut b = rehearse(
        &dir.path().join("b"),
        &sc,
        "0301,0403,1103,1601",
        "0.005",
        "9",
    );
    a.as_object_mut().unwrap().remove("timing");
    b.as_object_mut().unwrap().remove("timing");
    assert_eq!(
        serde_json::to_string_pretty(&a).unwrap(),
        serde_json::to_string_pretty(&b).unwrap()
    );
    let mut c = rehearse(
        &dir.path().join("c"),
        &sc,
        "0301,0403,1103,1601",
        "0.005",
        "10",
    );
    c.as_object_mut().unwrap().remove("timing");
    assert_ne!(a, c, "another seed gives another season");
}

#[test]
fn all_426_kommuner_of_2017_at_scale_0_02() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = Command::new(bin())
        .args(["rehearse", "--season", "2017", "--scale", "0.02", "--out"])
        .arg(&out)
        .output()
        .expect("rehearse runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let kommuner = r["kommuner"].as_array().unwrap();
    assert_eq!(kommuner.len(), 426);
    let phases: Vec<&str> = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "test_submission",
            "test_feedback",
            "ordinary_submission",
            "receipt",
            "feedback",
            "corrections"
        ]
    );
    for k in kommuner {
        let got: Vec<&str> = k["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect();
        assert_eq!(got, phases, "{}", k["kommunenr"]);
    }
    // junit.xml with a standard parser: one suite per phase, one case per kommune.
    let py = "import sys, xml.etree.ElementTree as ET\n\
              root = ET.parse(sys.argv[1]).getroot()\n\
              suites = root.findall('testsuite')\n\
              print(len(suites), ' '.join(str(len(s.findall('testcase'))) for s in suites))";
    let o = Command::new("/usr/bin/python3")
        .args(["-c", py])
        .arg(out.join("junit.xml"))
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "6 426 426 426 426 426 426"
    );
    let dom = render_in_chromium(&out.join("index.html"), 426);
    assert!(dom.contains("Trondheim") && dom.contains("Oslo"));
    assert!(
        dom.contains("id=\"receipt-histogram\""),
        "08:00 receipts by mail"
    );
    coordinator_sections(&dom);
}

/// What a coordinator acts on, in the rendered page: in bokmål, the key dates, the kommuner
/// at risk per deadline, the action lists, and developer detail in an appendix.
fn coordinator_sections(dom: &str) {
    assert!(dom.contains("lang=\"nb\""), "the page is in bokmål");
    for id in ["calendar", "at-risk", "actions", "appendix"] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "#{id} missing from the rendered page"
        );
    }
}

/// A 2026 dress rehearsal (the shipped scenario, over the service bus with AppRecs) for a few
/// kommuner, and its page in headless Chromium with the coordinator's sections.
#[test]
fn a_2026_dress_rehearsal_and_its_page_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/dress-rehearsal.toml");
    let r = rehearse(
        dir.path(),
        &scenario,
        "0301,4601,5001,1103,3403",
        "0.005",
        "3",
    );
    assert_eq!(r["run"]["season"], 2026);
    let dom = render_in_chromium(&dir.path().join("out").join("index.html"), 5);
    assert!(
        !dom.contains("id=\"receipt-histogram\""),
        "AppRecs come in seconds: no 08:00 histogram"
    );
    coordinator_sections(&dom);
}

/// Renders a rehearsal's index.html in headless Chromium (Debian's `chromium`, installed by
/// .ci/run): a screenshot is taken and is a real PNG, and the DOM after the page's script ran
/// has the summary, the timeline chart, the failures and `rows` rows in the
/// searchable kommune table. Returns the DOM.
fn render_in_chromium(html: &Path, rows: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let chromium = "/usr/bin/chromium";
    assert!(
        Path::new(chromium).is_file(),
        "{chromium} is missing: install Debian's chromium, as .ci/run does"
    );
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let url = format!("file://{}", html.display());
    let png = dir.path().join("page.png");
    let o = Command::new(chromium)
        .args(flags)
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("p1").display()
        ))
        .args([
            "--window-size=1280,1600",
            &format!("--screenshot={}", png.display()),
        ])
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert!(
        bytes.len() > 20_000,
        "a page with content, not a blank one ({} bytes)",
        bytes.len()
    );
    let o = Command::new(chromium)
        .args(flags)
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("p2").display()
        ))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&o.stdout).to_string();
    for id in [
        "summary",
        "timeline-chart",
        "failures",
        "kommune-table",
        "kommune-search",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "#{id} missing from the rendered page"
        );
    }
    assert_eq!(
        dom.matches("<tr id=\"k-").count(),
        rows,
        "one row per kommune"
    );
    dom
}

/// The 2016 season over Sendemodul, and its report in headless Chromium (Debian's
/// `chromium`, installed by .ci/run): a screenshot is taken and is a real PNG, and the DOM
/// after the page's script ran has the summary, the timeline chart, the receipt histogram
/// and one row per kommune in the searchable table.
#[test]
fn the_2016_season_and_its_page_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name = \"2016\"\n[season]\ndata_year = 2016\nchannel = \"sendemodul\"\ntest_data_year = 2015\n\
                [faults]\npostmottak_never = 0.5\n";
    let sc = write_scenario(dir.path(), text);
    let r = rehearse(dir.path(), &sc, "0301,0403,1103,0104,1201", "0.005", "5");
    assert_eq!(r["run"]["channel"], "sendemodul");
    assert_eq!(r["run"]["season"], 2016);
    let test_phase = &r["phases"][0];
    assert_eq!(test_phase["first_day"], "2016-10-17", "week 42 of 2016");
    let dom = render_in_chromium(&dir.path().join("out").join("index.html"), 5);
    assert!(
        dom.contains("id=\"receipt-histogram\""),
        "08:00 receipts by mail"
    );
    assert!(
        dom.contains("postmottak_never"),
        "the failure cause is on the page"
    );
}

/// (uploads in the intake, mails captured, files on filsluse) of a run's state.
fn store_counts(out: &Path) -> (u64, u64, u64) {
    let count = |file: &str, table: &str| -> u64 {
        let conn = rusqlite::Connection::open(out.join("state").join(file)).unwrap();
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as u64
    };
    (
        count("intake.sqlite", "in_submissions"),
        count("mail/mail.sqlite", "messages"),
        count("filsluse/filsluse.sqlite", "files"),
    )
}

/// A run killed after an event's effects and before its commit, then `--resume`d, ends with
/// the same report as a run never killed, and the endpoints hold the same number of
/// uploads, mails and files: nothing lost, nothing done twice.
#[test]
fn a_killed_run_resumes_with_nothing_lost_or_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "rehearse",
            "--season",
            "2017",
            "--municipality",
            "0301,0403,1103",
            "--scale",
            "0.005",
            "--seed",
            "4",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let full = dir.path().join("full");
    let o = Command::new(bin()).args(args(&full)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut want: Value =
        serde_json::from_slice(&std::fs::read(full.join("report.json")).unwrap()).unwrap();
    want.as_object_mut().unwrap().remove("timing");
    let want_counts = store_counts(&full);

    for (n, point) in [
        "kommune: test submission#1",
        "national: 08:00 receipts#9",
        "national: publish feedback#1",
        "kommune: postmottak forwards#2",
        "kommune: contact reads mail#2",
        "kommune: ordinary submission#2",
        "kommune: corrections#1",
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("cut{n}"));
        let o = Command::new(bin())
            .args(args(&out))
            .env("IPLOS_REHEARSE_ABORT", point)
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "{point}: the run should have been killed"
        );
        assert!(
            !out.join("report.json").exists(),
            "{point}: no report from a killed run"
        );
        let o = Command::new(bin())
            .args(args(&out))
            .arg("--resume")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{point}: resume failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut got: Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        got.as_object_mut().unwrap().remove("timing");
        assert_eq!(got, want, "{point}: the resumed run's report differs");
        assert_eq!(
            store_counts(&out),
            want_counts,
            "{point}: (uploads, mails, files) differ"
        );
    }
    // Resuming with other arguments is refused with a clear message.
    let out = dir.path().join("cut0");
    let o = Command::new(bin())
        .args([
            "rehearse",
            "--season",
            "2017",
            "--municipality",
            "0301",
            "--out",
        ])
        .arg(&out)
        .arg("--resume")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("other arguments"));
}

/// The same over the service bus: killed after a message was sent and answered, before the
/// commit; on resume the engine waits for the answer to the message already sent (the
/// receiver answers a message once) instead of sending it again.
#[test]
fn a_killed_service_bus_run_resumes_without_sending_twice() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "rehearse",
            "--season",
            "2018",
            "--municipality",
            "0301,5001",
            "--scale",
            "0.005",
            "--seed",
            "6",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let messages = |out: &Path| -> u64 {
        let conn = rusqlite::Connection::open(out.join("state").join("run.sqlite")).unwrap();
        conn.query_row("SELECT count(*) FROM rcv_message", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as u64
    };
    let full = dir.path().join("full");
    let o = Command::new(bin()).args(args(&full)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut want: Value =
        serde_json::from_slice(&std::fs::read(full.join("report.json")).unwrap()).unwrap();
    want.as_object_mut().unwrap().remove("timing");

    let out = dir.path().join("cut");
    let o = Command::new(bin())
        .args(args(&out))
        .env("IPLOS_REHEARSE_ABORT", "kommune: ordinary submission#1")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the run should have been killed");
    let o = Command::new(bin())
        .args(args(&out))
        .arg("--resume")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut got: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    got.as_object_mut().unwrap().remove("timing");
    assert_eq!(got, want);
    assert_eq!(messages(&out), messages(&full), "no message received twice");
}
