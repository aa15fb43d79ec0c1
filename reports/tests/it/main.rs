//! The integration tests of this crate, one binary (linking once) with a module per
//! behaviour: report files, their schemas and how they render.

mod certification;
mod certification_chromium;
mod chromium;
mod coordinator_chromium;
mod determinism;
mod junit;
mod schema;
mod write;
