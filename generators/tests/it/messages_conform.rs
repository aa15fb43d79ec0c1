//! Every generated melding.xml and korreksjoner.xml gives no findings at all from the
//! checker (the corrections checked as a continuation of the ordinary message).

use crate::common;
use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::municipality::{lookup, municipalities};

fn run(year: u16, nr: &str, scale: f64, seed: u64) -> iplos_generators::KommuneData {
    let m = lookup(year, nr).expect("kommune");
    let d = generate_kommune(year, m, &GenConfig::with_scale(scale), seed).expect("generate");
    common::assert_clean(&d);
    d
}

#[test]
fn oslo_at_scale_005_in_2017_and_2024() {
    for year in [2017, 2024] {
        let d = run(year, "0301", 0.05, 11);
        assert!(d.stats.notifications > 500, "{:?}", d.stats);
        assert!(d.stats.corrections_m + d.stats.corrections_c > 0);
    }
}

#[test]
fn utsira_at_full_scale() {
    for year in [2017, 2024] {
        for seed in 0..20 {
            run(year, "1151", 1.0, seed);
        }
    }
}

#[test]
fn bergen_trondheim_and_a_sample_of_kommuner() {
    run(2017, "1201", 0.1, 3);
    run(2024, "4601", 0.1, 3);
    run(2017, "1601", 0.1, 4);
    run(2024, "5001", 0.1, 4);
    for year in [2017u16, 2024] {
        let all = municipalities(year).expect("year");
        for m in all.iter().step_by(17) {
            let d = generate_kommune(year, m, &GenConfig::with_scale(0.5), 5).expect("generate");
            common::assert_clean(&d);
        }
    }
}

#[test]
fn every_year_2016_to_2030_for_a_merged_or_split_kommune() {
    for year in 2016..=2030u16 {
        // Kommuner valid in each structure: Oslo and Utsira never change number.
        run(year, "1151", 1.0, u64::from(year));
        let all = municipalities(year).expect("year");
        let m = &all[usize::from(year) % all.len()];
        let d = generate_kommune(year, m, &GenConfig::with_scale(0.3), 9).expect("generate");
        common::assert_clean(&d);
    }
}
