//! The number of recipients: national totals at scale 1.0 within 1 % of the official
//! figure, and the big cities and Utsira in proportion to their populations.
//!
//! Counts come from `recipient_counts`, which `generate_persons` uses to decide how many
//! persons to make (checked here for a few kommuner).

use iplos_generators::{GenConfig, generate_persons, official_recipients, recipient_counts};
use iplos_model::municipality::{lookup, municipalities};

fn national(year: u16, seed: u64) -> (u64, u64) {
    let mut recipients = 0u64;
    let mut population = 0u64;
    for m in municipalities(year).expect("year") {
        let c = recipient_counts(year, m, 1.0, seed).expect("counts");
        recipients += c.iter().map(|&n| u64::from(n)).sum::<u64>();
        population += m.population().total();
    }
    (recipients, population)
}

#[test]
fn national_totals_within_one_percent_of_the_official_figures() {
    for (year, official) in [(2017u16, 361_471.0), (2024, 399_263.0)] {
        assert_eq!(official_recipients(year).unwrap().0, official);
        for seed in [1, 2, 99] {
            let (n, _) = national(year, seed);
            let rel = (n as f64 - official).abs() / official;
            assert!(rel < 0.01, "{year} seed {seed}: {n} vs {official}");
        }
    }
}

#[test]
fn cities_and_utsira_in_proportion_to_population() {
    for (year, kommuner) in [
        (2017u16, ["0301", "1201", "1151"]),
        (2024, ["0301", "4601", "1151"]),
    ] {
        let (n, pop) = national(year, 7);
        let national_ratio = n as f64 / pop as f64;
        for nr in kommuner {
            let m = lookup(year, nr).expect("kommune");
            let c: u32 = recipient_counts(year, m, 1.0, 7).unwrap().iter().sum();
            let ratio = f64::from(c) / m.population().total() as f64;
            assert!(
                (0.5 * national_ratio..=2.0 * national_ratio).contains(&ratio),
                "{year} {nr}: {c} recipients of {} inhabitants ({ratio:.4}) vs national {national_ratio:.4}",
                m.population().total()
            );
            if nr == "1151" {
                assert!((5..=40).contains(&c), "Utsira gets a handful, not {c}");
            } else {
                assert!(c > 10_000, "{nr} gets tens of thousands, not {c}");
            }
        }
    }
}

#[test]
fn generation_makes_exactly_the_counted_persons_by_band() {
    for (year, nr, scale) in [
        (2024u16, "1151", 1.0),
        (2017, "1201", 0.05),
        (2024, "3201", 0.2),
    ] {
        let m = lookup(year, nr).unwrap();
        let counts = recipient_counts(year, m, scale, 3).unwrap();
        let (persons, _) = generate_persons(year, m, &GenConfig::with_scale(scale), 3).unwrap();
        let mut by_band = [0u32; 6];
        for p in &persons {
            by_band[p.age_band()] += 1;
        }
        assert_eq!(by_band, counts, "{year} {nr}");
    }
}

#[test]
fn scale_multiplies_sizes() {
    let m = lookup(2024, "0301").unwrap();
    let full: u32 = recipient_counts(2024, m, 1.0, 1).unwrap().iter().sum();
    let tenth: u32 = recipient_counts(2024, m, 0.1, 1).unwrap().iter().sum();
    assert!((f64::from(tenth) - f64::from(full) / 10.0).abs() <= 1.0);
}
