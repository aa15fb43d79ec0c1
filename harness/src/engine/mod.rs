//! The season engine: a deterministic discrete-event simulation of one IPLOS season on a
//! virtual clock, with one agent per kommune acting through the real endpoints on
//! loopback (Sendemodul or the AMQP service bus, the mail capture, filsluse).
//!
//! # How it runs
//!
//! Events (a kommune's action, or a national job such as the 08:00 receipts or the week-6
//! feedback) sit in one queue ordered by (virtual instant, sequence number). The engine
//! takes them one at a time, sets the shared [`VirtualClock`](iplos_model::calendar::VirtualClock) to the event's instant and
//! performs the action — HTTP requests, SMTP forwards, AMQP sends — against the mocks,
//! which read the same clock. Nothing runs concurrently with an event, so a seed gives the
//! same run: the same requests in the same order, the same answers, the same report. What
//! a kommune does is decided by its [`plan::Plan`] (drawn from the seed) and by what the
//! endpoints answer.
//!
//! # A kommune's season (Sendemodul years)
//!
//! 1. *Test submission* (if it tests): the KOSTRA contact logs in to `/SendemodulTEST`
//!    with kommunenummer, bydel, orgnr and PIN and uploads the previous year's data.
//! 2. *Test feedback* (week 43): SSB publishes `<knr>00_iplos_test.zip` (key `123456`) on
//!    filsluse, which mails "1 New File Available" to postmottak; postmottak forwards it to
//!    the IPLOS contact; a contact without a password requests a link (mailed to postmottak,
//!    forwarded, valid 60 minutes), sets a password, downloads and opens the zip.
//! 3. *Ordinary submission* on its day in 2–15 January, to `/Sendemodul`.
//! 4. *Receipt*: the contact looks for SSB's receipt at 08:30 on the first working day
//!    after arrival; none → contacts SSB.
//! 5. *Feedback* (week 6): as 2, with the kommune's own key.
//! 6. *Corrections*: a kommune whose file was rejected sends it again (fixed); a kommune with
//!    corrections (the generator's M/C notifications) sends them on its corrections day —
//!    by the deadline unless `late_correction` strikes.
//!
//! The faults of [`crate::scenario::Fault`] change these steps as `scenarios/README.md`
//! documents; the consequences are asserted by the `rehearse` integration tests of the
//! harness (one fault at a time, both channels).

//!
//! # Where it lives
//!
//! - [`run`](mod@run): the loop — the season set up, then take, do, commit;
//! - [`queue`]: the events and their order; [`days`]: Oslo instants and working days;
//! - [`world`]: what to rehearse, the mocks, each kommune's state; [`national`] starts the
//!   mocks;
//! - [`agent`]: a kommune's steps, one file per kind; [`ssb`]: the national side's jobs
//!   (receipts, feedback);
//! - [`report`]: the kommuner judged; [`store`]: the run store behind `--resume`;
//!   [`plan`]: what each kommune will do, drawn from the seed.

mod agent;
mod days;
mod national;
pub mod plan;
mod queue;
mod report;
mod run;
mod ssb;
mod store;
mod world;

pub use run::run;
pub use world::EngineConfig;
