//! What the receiver decided for a message: the stage that decided, the answer, and the
//! verdict kept in the run store.

use iplos_model::message::AppRecError;
use iplos_model::rules::CheckReport;
use serde::Serialize;

use crate::nhn::ErrorCondition;
use crate::text_enum::text_enum;

/// Which stage of the checks decided; written `header`, `body`, `cms`, `msghead`, `iplos`,
/// `internal` (in the run store and in the verdict's JSON).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::EnumIter,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum Stage {
    /// The AMQP properties.
    Header,
    /// The body's shape.
    Body,
    /// Decryption and signature.
    Cms,
    /// The MsgHead.
    MsgHead,
    /// The IPLOS check.
    Iplos,
    /// The receiver itself failed.
    Internal,
}

text_enum!(Stage);

impl Stage {
    /// The name used in the store.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a message was answered, in short (the run store's `outcome`): `apprec`, `error`,
/// `dead-letter`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::EnumIter,
    strum::VariantNames,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Outcome {
    /// An AppRec ([`Answer::AppRec`]).
    #[strum(serialize = "apprec")]
    AppRec,
    /// An error message ([`Answer::Error`]).
    Error,
    /// Dead-lettered ([`Answer::DeadLetter`]).
    DeadLetter,
}

text_enum!(Outcome);

impl Outcome {
    /// The name used in the store.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The answer decided for a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Answer {
    /// An AppRec.
    AppRec {
        /// Status code (kodeverk 8258).
        status: String,
        /// Its errors.
        errors: Vec<AppRecError>,
    },
    /// An error message to the sender's error queue.
    Error {
        /// errorCondition.
        condition: ErrorCondition,
        /// errorDescription.
        description: String,
        /// errorConditionData.
        data: String,
    },
    /// No queue to answer on: the message was dead-lettered.
    DeadLetter {
        /// Why.
        reason: String,
    },
}

/// The verdict on one message, as kept in the run store (JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The stage that decided.
    pub stage: Stage,
    /// The AMQP message-id.
    pub message_id: Option<String>,
    /// `fromHerId` as sent.
    pub from_her: Option<String>,
    /// `toHerId` as sent.
    pub to_her: Option<String>,
    /// The MsgHead's `MsgId`, when read.
    pub msg_id: Option<String>,
    /// The answer.
    pub answer: Answer,
    /// The IPLOS check report (findings with rule ids), when the check ran.
    pub report: Option<CheckReport>,
}

impl Answer {
    /// The answer in short.
    pub fn outcome(&self) -> Outcome {
        match self {
            Answer::AppRec { .. } => Outcome::AppRec,
            Answer::Error { .. } => Outcome::Error,
            Answer::DeadLetter { .. } => Outcome::DeadLetter,
        }
    }
}
