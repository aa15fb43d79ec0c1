//! Proptest strategies: a message with one chosen defect.

use iplos_model::message::Melding;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Applied, Defect, DefectContext, catalogue, render};

fn one(m: &Melding, d: &Defect, seed: u64) -> Option<(Vec<u8>, Applied)> {
    let ctx = DefectContext::for_message(m).ok()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (bytes, mut applied) = render(m, &[d], &mut rng, &ctx).ok()?;
    Some((bytes, applied.pop()?))
}

/// `defect` injected into messages drawn from `messages` (valid ones, with at least one
/// dated event and a Kommune): the bytes, and what was done. The context is
/// [`DefectContext::for_message`]; messages the defect cannot be applied to are skipped.
pub fn with_defect(
    messages: impl Strategy<Value = Melding>,
    defect: &'static Defect,
) -> impl Strategy<Value = (Vec<u8>, Applied)> {
    (messages, any::<u64>()).prop_filter_map("defect not applicable", move |(m, seed)| {
        one(&m, defect, seed)
    })
}

/// A defect drawn from the whole catalogue, injected into messages from `messages`.
pub fn with_any_defect(
    messages: impl Strategy<Value = Melding>,
) -> impl Strategy<Value = (Vec<u8>, Applied)> {
    (messages, 0..catalogue().len(), any::<u64>())
        .prop_filter_map("defect not applicable", |(m, i, seed)| {
            one(&m, &catalogue()[i], seed)
        })
}
