//! Synthetic IPLOS populations for every kommune, calibrated to official figures, with their
//! service histories, the messages a correct EPJ export of them produces, corrections, and
//! named defects tied to the checker's rules. Deterministic: one seed, per-kommune sub-seeds.
//!
//! The main entry point is [`generate_kommune`]: for a data year, a kommune of that year, a
//! [`GenConfig`] and a seed it returns [`KommuneData`] — the kommune's [`Profile`] (EPJ
//! vendor, contacts, providers), its [`Person`]s (population.jsonl, see
//! [`write_population_jsonl`]), the ordinary submission `melding` (initial load at
//! 1 January plus every event of the year) and the corrections message `korreksjoner`
//! (M and C notifications continuing the chain), and [`Stats`]. Both messages give no
//! findings at all from `iplos_model::rules::check` (the corrections checked as a
//! continuation of the ordinary message).
//!
//! Choices that are ours rather than a published figure are marked **\[model\]** in the
//! documentation of the item that makes them: [`calibration`], [`services`], [`profile`],
//! [`population`], [`corrections`]; how events are derived is in [`events`].

pub mod calibration;
pub mod corrections;
pub mod defects;
pub mod events;
mod kommune;
pub mod population;
pub mod profile;
pub mod seed;
pub mod services;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod time;

pub use calibration::{official_recipients, recipient_counts};
pub use kommune::{
    GenConfig, KommuneData, Stats, generate_kommune, generate_persons, population_schema,
    write_population_jsonl,
};
pub use population::{
    EndReason, ErrorKind, Person, ProviderChange, RegistrationError, Service, Stop,
    WelfareTechnology,
};
pub use profile::{Profile, Provider};
pub use services::{ProviderKind, ServiceCode};

/// Why generation could not run.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The data year is outside what the registry and calendar cover (2016–2030).
    #[error("data year {year} is not supported (2016-2030)")]
    UnsupportedYear {
        /// The year asked for.
        year: u16,
    },
    /// The municipality registry failed.
    #[error("municipality registry: {0}")]
    Registry(#[from] iplos_model::municipality::RegistryError),
    /// A person id could not be generated.
    #[error("person id: {0}")]
    PersonId(#[from] iplos_model::ids::IdError),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}
