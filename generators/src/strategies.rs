//! Proptest strategies for other crates' tests (feature `proptest`).
//!
//! ```no_run
//! use iplos_generators::strategies::valid_case;
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #[test]
//!     fn my_receiver_accepts_valid_messages(case in valid_case()) {
//!         // case.data.melding, case.data.korreksjoner, case.data.persons, ...
//!         prop_assert_eq!(case.data.melding.kommuner.len(), 1);
//!     }
//! }
//! ```

use iplos_model::message::Melding;
use iplos_model::municipality::{Municipality, municipalities, supported_years};
use proptest::prelude::*;
use proptest::sample::select;

use crate::{GenConfig, KommuneData, generate_kommune};

/// Kommuner with at most this many inhabitants count as small.
pub const SMALL_POPULATION: u64 = 10_000;

/// One generated kommune with what it was generated from.
#[derive(Debug, Clone)]
pub struct ValidCase {
    /// The data year.
    pub year: u16,
    /// The kommunenummer.
    pub kommune: String,
    /// The seed.
    pub seed: u64,
    /// The scale.
    pub scale: f64,
    /// Everything generated: both messages conform with no findings.
    pub data: KommuneData,
}

/// The small kommuner (≤ [`SMALL_POPULATION`] inhabitants) of a data year.
pub fn small_kommuner(year: u16) -> Vec<&'static Municipality> {
    municipalities(year)
        .map(|l| {
            l.iter()
                .filter(|m| m.population().total() <= SMALL_POPULATION)
                .collect()
        })
        .unwrap_or_default()
}

/// A small kommune of data `year`.
pub fn small_kommune(year: u16) -> impl Strategy<Value = &'static Municipality> {
    select(small_kommuner(year))
}

/// A data year 2016–2030, a small kommune of it, a random seed and a scale in 0.05–1.
pub fn valid_case() -> impl Strategy<Value = ValidCase> {
    let years: Vec<u16> = supported_years().collect();
    select(years)
        .prop_flat_map(|year| (Just(year), small_kommune(year), any::<u64>(), 0.05f64..=1.0))
        .prop_filter_map("generation failed", |(year, m, seed, scale)| {
            let data = generate_kommune(year, m, &GenConfig::with_scale(scale), seed).ok()?;
            Some(ValidCase {
                year,
                kommune: m.number().to_string(),
                seed,
                scale,
                data,
            })
        })
}

/// A valid ordinary submission (initial load + the year's events) of a small kommune.
pub fn valid_message() -> impl Strategy<Value = Melding> {
    valid_case().prop_map(|c| c.data.melding)
}
