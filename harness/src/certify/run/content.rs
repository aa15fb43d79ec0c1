//! The decrypted content of the register's messages, parsed once: the walk compares it with
//! the expected events while a content phase runs, the evidence collection writes it.

use std::collections::HashMap;

use iplos_mocks::receiver::RunStore;
use iplos_model::compare::read_received;
use iplos_model::message::{Melding, read_msghead};
use iplos_model::rules::CheckOptions;

/// Parsed content of the register's messages, by row.
#[derive(Default, Clone)]
pub struct ContentCache {
    parsed: HashMap<i64, Parsed>,
}

/// A message's content: the MsgHead, the IPLOS document in it, and that read.
#[derive(Clone, Default)]
pub struct Parsed {
    pub msghead: Option<Vec<u8>>,
    pub iplos: Option<Vec<u8>>,
    pub melding: Option<Melding>,
    pub lines: Option<Vec<u64>>,
}

impl ContentCache {
    /// The parsed content of a row (empty when the register has none).
    pub fn get(&mut self, store: &RunStore, row: i64) -> &Parsed {
        self.parsed.entry(row).or_insert_with(|| {
            let Ok(Some(msghead)) = store.content(row) else {
                return Parsed::default();
            };
            let iplos = read_msghead(&msghead)
                .ok()
                .map(|info| info.content_document().into_owned());
            let received = iplos
                .as_deref()
                .and_then(|b| read_received(b, &CheckOptions::default()).ok());
            Parsed {
                msghead: Some(msghead),
                melding: received.as_ref().map(|r| r.melding.clone()),
                lines: received.and_then(|r| r.lines),
                iplos,
            }
        })
    }

    /// The parsed content of a row, taken out of the cache (parsed now if it was not).
    pub fn take(&mut self, store: &RunStore, row: i64) -> Parsed {
        self.get(store, row);
        self.parsed.remove(&row).unwrap_or_default()
    }
}
