//! Split uploads waiting for their other parts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tempfile::TempPath;

use crate::intake::Channel;

/// A pending split upload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GroupKey {
    pub(crate) channel: Channel,
    pub(crate) kommunenr: String,
    pub(crate) bydel: String,
    pub(crate) group: String,
}

/// One received part (or a whole file), in a temporary file removed on drop.
#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) path: TempPath,
    pub(crate) size: u64,
    pub(crate) sha256: String,
    pub(crate) file_name: String,
}

/// The parts of a split upload received so far.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) count: u32,
    pub(crate) parts: BTreeMap<u32, Part>,
    pub(crate) created: DateTime<Utc>,
}
