//! The defect catalogue against the checker: every defect, alone and in pairs, makes
//! `rules::check` report exactly its rules; schema-level defects fail `xmllint --schema`
//! and content-level ones pass it; the same seed gives the same bytes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use iplos_generators::defects::{
    self, Applied, Category, Defect, DefectContext, DefectError, catalogue, compatible,
};
use iplos_model::message::Melding;
use iplos_model::rules::{self, CheckOptions, catalogue as rule_catalogue};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The valid samples every defect is tried on.
const BASES: [&str; 2] = ["valid-mutation-base.xml", "valid-typical.xml"];
/// Seeds per defect and base: the random choices differ, the rules must not.
const SEEDS: u64 = 6;

fn documents() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/documents/schema")
}

fn xsd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/iplos-56.0.0/XPR(ipl).xsd")
}

/// Reads a sample, which must be free of findings.
fn sample(name: &str) -> Melding {
    let bytes = std::fs::read(documents().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (m, report) = rules::read_message(&bytes[..], &CheckOptions::default());
    assert!(
        report.findings.is_empty(),
        "{name} is not a clean sample: {:?}",
        report.findings
    );
    m
}

fn options(ctx: &DefectContext) -> CheckOptions {
    CheckOptions {
        data_year: Some(ctx.data_year),
        ..CheckOptions::default()
    }
}

/// The rule ids the checker reports, with the default options (data year from the
/// message) and with the context's data year; both must agree.
fn found(bytes: &[u8], ctx: &DefectContext) -> Result<BTreeSet<String>, String> {
    let default: BTreeSet<String> = rules::check(bytes, &CheckOptions::default())
        .findings
        .iter()
        .map(|f| f.rule.to_string())
        .collect();
    let report = rules::check(bytes, &options(ctx));
    let with_year: BTreeSet<String> = report.findings.iter().map(|f| f.rule.to_string()).collect();
    if default != with_year {
        return Err(format!(
            "default options found {default:?}, data year {} found {with_year:?}",
            ctx.data_year
        ));
    }
    Ok(with_year)
}

fn expected(defects: &[&Defect]) -> BTreeSet<String> {
    defects
        .iter()
        .flat_map(|d| d.rules.iter().map(|r| r.to_string()))
        .collect()
}

fn render(
    m: &Melding,
    defects: &[&Defect],
    seed: u64,
    ctx: &DefectContext,
) -> Result<(Vec<u8>, Vec<Applied>), DefectError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    defects::render(m, defects, &mut rng, ctx)
}

/// Renders and checks; `Err` describes the misbehaviour.
fn try_defects(m: &Melding, defects: &[&Defect], seed: u64) -> Result<(), String> {
    let ctx = DefectContext::for_message(m).map_err(|e| e.to_string())?;
    let (bytes, applied) = render(m, defects, seed, &ctx).map_err(|e| format!("render: {e}"))?;
    let got = found(&bytes, &ctx)?;
    let want = expected(defects);
    if got != want {
        let details: Vec<String> = applied
            .iter()
            .map(|a| format!("{} @{:?}: {}", a.defect, a.notification, a.detail))
            .collect();
        return Err(format!(
            "expected {want:?}, found {got:?} ({})",
            details.join("; ")
        ));
    }
    Ok(())
}

#[test]
fn every_defect_reports_exactly_its_rules() {
    let mut table = String::new();
    for base in BASES {
        let m = sample(base);
        for d in catalogue() {
            for seed in 0..SEEDS {
                if let Err(e) = try_defects(&m, &[d], seed) {
                    let _ = writeln!(table, "{:<34} {base:<24} seed {seed}: {e}", d.name);
                }
            }
        }
    }
    assert!(table.is_empty(), "defects that misbehave:\n{table}");
}

/// Every other clean sample (other layouts, encodings, GUID spellings) as a base, and the
/// message without notifications (`valid-minimal.xml`) with an explicit context: every
/// defect applies, adding what it needs.
#[test]
fn every_defect_applies_to_every_clean_sample() {
    let mut table = String::new();
    let mut names: Vec<String> = std::fs::read_dir(documents())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("valid-") && n.ends_with(".xml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        let m = sample(name);
        let ctx = DefectContext::for_message(&m)
            .unwrap_or_else(|_| DefectContext::new(2024, m.kommuner[0].clone()));
        for d in catalogue() {
            let outcome = render(&m, &[d], 11, &ctx)
                .map_err(|e| format!("render: {e}"))
                .and_then(|(bytes, _)| {
                    let got: BTreeSet<String> = rules::check(&bytes[..], &options(&ctx))
                        .findings
                        .iter()
                        .map(|f| f.rule.to_string())
                        .collect();
                    let want = expected(&[d]);
                    if got == want {
                        Ok(())
                    } else {
                        Err(format!("expected {want:?}, found {got:?}"))
                    }
                });
            if let Err(e) = outcome {
                let _ = writeln!(table, "{:<34} {name:<36} {e}", d.name);
            }
        }
    }
    assert!(table.is_empty(), "defects that misbehave:\n{table}");
}

#[test]
fn every_content_and_schema_rule_is_covered() {
    let covered: BTreeSet<&str> = catalogue()
        .iter()
        .flat_map(|d| d.rules.iter().copied())
        .collect();
    let missing: Vec<&str> = rule_catalogue::ALL
        .iter()
        .filter(|r| matches!(r.category, Category::Content | Category::Schema))
        .map(|r| r.id)
        .filter(|id| !covered.contains(id))
        .collect();
    assert!(missing.is_empty(), "rules without a defect: {missing:?}");
    let wf = rule_catalogue::ALL
        .iter()
        .filter(|r| r.category == Category::Wellformed && covered.contains(r.id))
        .count();
    assert!(wf >= 2, "only {wf} well-formedness rules covered");
    for id in ["WF02", "WF03", "WF04"] {
        assert!(covered.contains(id), "{id} not covered");
    }
}

#[test]
fn catalogue_entries_are_consistent() {
    let mut names = BTreeSet::new();
    for d in catalogue() {
        assert!(names.insert(d.name), "{} twice", d.name);
        assert!(
            !d.name.is_empty()
                && d.name.split('-').all(|p| !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
            "{} is not kebab-case",
            d.name
        );
        assert!(!d.description.is_empty() && !d.description.contains('\n'));
        assert!(!d.rules.is_empty(), "{} has no rules", d.name);
        assert!(d.rules.is_sorted(), "{}: rules not sorted", d.name);
        let cats: Vec<Category> = d
            .rules
            .iter()
            .map(|id| {
                rule_catalogue::by_id(id)
                    .unwrap_or_else(|| panic!("{}: unknown rule {id}", d.name))
                    .category
            })
            .collect();
        let level = if cats.contains(&Category::Wellformed) {
            Category::Wellformed
        } else if cats.contains(&Category::Schema) {
            Category::Schema
        } else {
            Category::Content
        };
        assert_eq!(d.level, level, "{}: level", d.name);
        if d.level == Category::Wellformed {
            assert!(
                d.exclusive,
                "{}: well-formedness defects are exclusive",
                d.name
            );
        }
        assert_eq!(defects::by_name(d.name), Some(d));
    }
}

#[test]
fn unknown_names_are_refused_with_the_known_ones() {
    let err = defects::find("no-such-defect").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("no-such-defect"), "{text}");
    for d in catalogue() {
        assert!(text.contains(d.name), "{text} lacks {}", d.name);
    }
    assert!(defects::by_name("no-such-defect").is_none());
}

#[test]
fn incompatible_defects_are_refused() {
    let m = sample("valid-mutation-base.xml");
    let ctx = DefectContext::for_message(&m).unwrap();
    let t = defects::find("truncated").unwrap();
    let chain = defects::find("broken-chain").unwrap();
    assert!(!compatible(t, chain) && !compatible(chain, t));
    assert!(!compatible(chain, chain));
    for (a, b) in [(t, chain), (chain, chain)] {
        match render(&m, &[a, b], 1, &ctx) {
            Err(DefectError::Incompatible { .. }) => {}
            other => panic!("{} + {}: {:?}", a.name, b.name, other.map(|r| r.1)),
        }
    }
    let old = defects::find("old-kommunenummer").unwrap();
    let two = defects::find("two-kommuner").unwrap();
    assert!(!compatible(old, two), "they share the Kommune slot");
}

/// Runs `xmllint --noout --schema XSD FILE`: true when it accepts the file.
fn xmllint_accepts(bytes: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("message.xml");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd())
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint could not be run ({e}): install libxml2-utils (Debian/Ubuntu) to run this test")
        });
    out.status.success()
}

#[test]
fn schema_level_defects_fail_xmllint_and_content_ones_pass() {
    assert!(xsd().is_file(), "schema not found at {}", xsd().display());
    let mut table = String::new();
    for base in BASES {
        let m = sample(base);
        let ctx = DefectContext::for_message(&m).unwrap();
        for d in catalogue() {
            let (bytes, _) = render(&m, &[d], 3, &ctx).unwrap();
            let accepted = xmllint_accepts(&bytes);
            let should = d.level == Category::Content;
            if accepted != should {
                let _ = writeln!(
                    table,
                    "{:<34} {base:<24} level {:?}: xmllint {}",
                    d.name,
                    d.level,
                    if accepted { "accepts" } else { "rejects" }
                );
            }
        }
    }
    assert!(table.is_empty(), "xmllint disagrees:\n{table}");
}

#[test]
fn same_seed_same_bytes_and_manifest() {
    for base in BASES {
        let m = sample(base);
        let ctx = DefectContext::for_message(&m).unwrap();
        for d in catalogue() {
            let a = render(&m, &[d], 42, &ctx).unwrap();
            let b = render(&m, &[d], 42, &ctx).unwrap();
            assert_eq!(a, b, "{} on {base}", d.name);
        }
        // A whole compatible set, too.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let set = defects::choose(&mut rng, 0.3);
        assert_eq!(
            render(&m, &set, 9, &ctx).unwrap(),
            render(&m, &set, 9, &ctx).unwrap()
        );
    }
}

#[test]
fn applied_records_what_was_done() {
    let m = sample("valid-typical.xml");
    let ctx = DefectContext::for_message(&m).unwrap();
    let d = defects::find("end-before-start").unwrap();
    let (bytes, applied) = render(&m, &[d], 0, &ctx).unwrap();
    assert_eq!(applied.len(), 1);
    let a = &applied[0];
    assert_eq!(a.defect, "end-before-start");
    assert_eq!(a.rules, ["IPL12"]);
    let i = a.notification.expect("a notification index");
    let (read, _) = rules::read_message(&bytes[..], &CheckOptions::default());
    let e = &read.notifikasjoner[i].events[0];
    assert_eq!(e.kind.element(), "TjenesteSlutt");
    assert!(a.detail.contains(&e.hendelse_dato), "{}", a.detail);
    let json = serde_json::to_value(a).unwrap();
    assert_eq!(json["defect"], "end-before-start");
    assert_eq!(json["rules"][0], "IPL12");
}

#[test]
fn old_kommunenummer_names_the_successor() {
    let m = sample("valid-mutation-base.xml"); // Bergen, 4601, data year 2024
    let ctx = DefectContext::for_message(&m).unwrap();
    let d = defects::find("old-kommunenummer").unwrap();
    for seed in 0..4 {
        let (bytes, applied) = render(&m, &[d], seed, &ctx).unwrap();
        let report = rules::check(&bytes[..], &CheckOptions::default());
        let f = report
            .findings
            .iter()
            .find(|f| f.rule == "IPL22")
            .expect("IPL22");
        assert!(f.message.contains("4601"), "{}", f.message);
        assert!(
            applied[0].detail.contains("4601 -> 1201"),
            "{}",
            applied[0].detail
        );
    }
}

#[test]
fn real_person_id_keeps_kind_birth_date_and_sex() {
    use iplos_model::ids::PersonId;
    let m = sample("valid-mutation-base.xml");
    let ctx = DefectContext::for_message(&m).unwrap();
    let d = defects::find("real-person-id").unwrap();
    let (bytes, applied) = render(&m, &[d], 2, &ctx).unwrap();
    let i = applied[0].notification.unwrap();
    let (read, _) = rules::read_message(&bytes[..], &CheckOptions::default());
    let before = PersonId::parse(&m.notifikasjoner[i].events[0].bruker.fid).unwrap();
    let after = PersonId::parse(&read.notifikasjoner[i].events[0].bruker.fid).unwrap();
    assert!(before.is_synthetic() && !after.is_synthetic());
    assert_eq!(before.kind(), after.kind());
    assert_eq!(before.birth_date(), after.birth_date());
    assert_eq!(before.sex(), after.sex());
}

#[test]
fn truncation_is_always_wf03() {
    let d = defects::find("truncated").unwrap();
    for base in BASES {
        let m = sample(base);
        let ctx = DefectContext::for_message(&m).unwrap();
        for seed in 0..300 {
            let (bytes, _) = render(&m, &[d], seed, &ctx).unwrap();
            let got = found(&bytes, &ctx).unwrap();
            assert_eq!(
                got,
                expected(&[d]),
                "{base} seed {seed}: ends with {:?}",
                String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(40)..])
            );
        }
    }
}

#[test]
fn compatible_pairs_report_the_union() {
    let pairs: Vec<(&Defect, &Defect)> = catalogue()
        .iter()
        .enumerate()
        .flat_map(|(i, a)| catalogue()[i + 1..].iter().map(move |b| (a, b)))
        .filter(|(a, b)| compatible(a, b))
        .collect();
    assert!(pairs.len() >= 100, "only {} compatible pairs", pairs.len());
    eprintln!("{} compatible pairs", pairs.len());
    let mut table = String::new();
    for base in BASES {
        let m = sample(base);
        for (k, &(a, b)) in pairs.iter().enumerate() {
            // Every pair, in one order or the other (applying order changes which
            // notifications each defect picks).
            let (a, b) = if k % 2 == 0 { (a, b) } else { (b, a) };
            let seed = k as u64;
            if let Err(e) = try_defects(&m, &[a, b], seed) {
                let _ = writeln!(table, "{} + {} {base} seed {seed}: {e}", a.name, b.name);
            }
        }
    }
    assert!(table.is_empty(), "pairs that misbehave:\n{table}");
}

#[test]
fn chosen_sets_report_the_union() {
    let mut table = String::new();
    for base in BASES {
        let m = sample(base);
        for seed in 0..40 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let set = defects::choose(&mut rng, 0.15);
            defects::check_compatible(&set).unwrap();
            if let Err(e) = try_defects(&m, &set, seed) {
                let names: Vec<&str> = set.iter().map(|d| d.name).collect();
                let _ = writeln!(table, "{names:?} {base} seed {seed}: {e}");
            }
        }
    }
    assert!(table.is_empty(), "sets that misbehave:\n{table}");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert!(defects::choose(&mut rng, 0.0).is_empty());
    let all = defects::choose(&mut rng, 1.0);
    assert!(all.len() > 20, "{}", all.len());
    defects::check_compatible(&all).unwrap();
}

#[cfg(feature = "proptest")]
mod strategies {
    use super::*;
    use iplos_generators::defects::strategy;
    use proptest::prelude::*;

    fn messages() -> impl Strategy<Value = Melding> {
        prop_oneof![Just(sample(BASES[0])), Just(sample(BASES[1]))]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_defect_reports_its_rules((bytes, applied) in strategy::with_any_defect(messages())) {
            let got: BTreeSet<&str> = rules::check(&bytes[..], &CheckOptions::default())
                .findings.iter().map(|f| f.rule).collect();
            let want: BTreeSet<&str> = applied.rules.iter().copied().collect();
            prop_assert_eq!(got, want, "{}: {}", applied.defect, applied.detail);
        }

        #[test]
        fn a_chosen_defect_reports_its_rules(
            (bytes, applied) in strategy::with_defect(messages(), defects::find("end-before-start").unwrap())
        ) {
            prop_assert_eq!(applied.defect, "end-before-start");
            let got: Vec<&str> = rules::check(&bytes[..], &CheckOptions::default())
                .findings.iter().map(|f| f.rule).collect();
            prop_assert_eq!(got, vec!["IPL12"]);
        }
    }
}
