//! The IPLOS domain, pure and synchronous: identifiers, the municipality registry, the
//! calendar of a reporting season, the IPLOS 56.0.0 message and the conformance rules.
//! Nothing here does network I/O or async.

pub mod calendar;
pub mod compare;
pub mod ids;
pub mod message;
pub mod municipality;
pub mod rules;
pub mod schema;
pub mod xml_input;
pub(crate) mod xml_syntax;
