//! The integration tests of this crate, one binary (linking once) with a module per
//! behaviour: populations, messages and defects: calibration, determinism, conformance.

mod common;

mod config_options;
mod defects;
mod determinism;
mod event_order;
mod messages_conform;
mod national_calibration;
mod population_file;
mod proptest_messages;
mod xsd_validation;
