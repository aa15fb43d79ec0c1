//! What SSB does with the intake, shared by `serve` (its operator API, in
//! [`iplos_mocks::national::operator`]) and the season engine: building a kommune's
//! feedback from the files it sent. It lives in `iplos_mocks::national` now; this
//! re-export keeps the engine's path.

pub use iplos_mocks::national::feedback_from_intake;
