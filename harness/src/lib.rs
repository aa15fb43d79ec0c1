//! `iplos-harness`: the dress rehearsal for Norway's yearly IPLOS reporting — the season
//! engine, certification sessions and the subcommands of the CLI. `main.rs` only parses the
//! command line and calls [`cmd`].
// The doc comments of the CLI are its --help texts: `<herid>` there is text, not HTML.
#![allow(rustdoc::invalid_html_tags)]

pub mod certify;
pub mod client;
pub mod cmd;
pub mod engine;
pub mod files;
pub mod identity;
pub mod logging;
pub mod output;
pub mod scenario;
