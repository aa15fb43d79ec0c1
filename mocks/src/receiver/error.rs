//! The receiver's errors.

use crate::servicebus::{BusError, StoreError};

/// Errors of the receiver.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The service bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The run store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration does not fit the broker.
    #[error("receiver configuration: {0}")]
    Config(String),
    /// Something that should not happen.
    #[error("receiver: {0}")]
    Internal(String),
}
