//! Property: for any seed, small kommuner of any data year give messages with no findings.

use crate::common;
use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::municipality::{municipalities, supported_years};
use proptest::prelude::*;
use proptest::sample::select;

fn small(year: u16) -> Vec<&'static iplos_model::municipality::Municipality> {
    municipalities(year)
        .unwrap()
        .iter()
        .filter(|m| m.population().total() <= 10_000)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn small_kommuner_any_seed_no_findings(
        (year, m) in select(supported_years().collect::<Vec<_>>())
            .prop_flat_map(|y| (Just(y), select(small(y)))),
        seed in any::<u64>(),
        scale in 0.1f64..=1.5,
    ) {
        let d = generate_kommune(year, m, &GenConfig::with_scale(scale), seed).unwrap();
        common::assert_clean(&d);
    }
}

#[cfg(feature = "proptest")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn exported_strategy_gives_clean_messages(case in iplos_generators::strategies::valid_case()) {
        prop_assert_eq!(&case.data.kommune, &case.kommune);
        common::assert_clean(&case.data);
    }
}
