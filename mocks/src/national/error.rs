//! The errors of assembling the national side.

/// A boxed error of one of the endpoints.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of assembling the national side.
#[derive(Debug, thiserror::Error)]
pub enum NationalError {
    /// The options do not fit together, or one is malformed.
    #[error("{0}")]
    Config(String),
    /// An endpoint could not start.
    #[error("cannot {what}")]
    Start {
        /// What could not be done, e.g. "start the AMQP broker on 127.0.0.1:5672".
        what: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The intake failed.
    #[error(transparent)]
    Intake(#[from] crate::intake::IntakeError),
    /// Feedback could not be built or published.
    #[error(transparent)]
    Feedback(#[from] crate::feedback::FeedbackError),
    /// Stored data is inconsistent.
    #[error("{0}")]
    Data(String),
}

impl NationalError {
    /// A [`NationalError::Start`].
    pub fn start(what: impl Into<String>, source: impl Into<BoxError>) -> NationalError {
        NationalError::Start {
            what: what.into(),
            source: source.into(),
        }
    }
}
