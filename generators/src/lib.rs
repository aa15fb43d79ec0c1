//! Synthetic IPLOS populations for every kommune, calibrated to official figures, with their
//! service histories, the messages a correct EPJ export of them produces, corrections, and
//! named defects tied to the checker's rules. Deterministic: one seed, per-kommune sub-seeds.

pub mod defects;
