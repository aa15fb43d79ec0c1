//! The register's verdict on a message as the judges read it: which check of its pipeline
//! the message failed or got past.
//!
//! This is the one place where the judges compare the register's stages, error
//! conditions and error data (as the receiver's store records them); the other judges ask
//! [`failed`] and [`got_past`].

use iplos_mocks::nhn::ErrorCondition;
use iplos_mocks::receiver::{Outcome, Stage};

use crate::certify::record::Msg;

/// A check of the register's pipeline, in the order the register runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The certificate of the signature (conditions of the transport check, key usage).
    Certificate,
    /// The AMQP header and application properties, and the body's shape.
    Properties,
    /// Decryption and the signature (CMS).
    Cms,
    /// The MsgHead around the IPLOS document.
    Msghead,
}

/// Whether the register's answer says the message failed `gate`.
pub fn failed(m: &Msg, gate: Gate) -> bool {
    let stage = m.stage;
    match gate {
        Gate::Certificate => {
            matches!(
                m.error_condition,
                Some(
                    ErrorCondition::MissingCertificate
                        | ErrorCondition::SpoofingAttack
                        | ErrorCondition::UnverifiedCertificate
                        | ErrorCondition::ExpiredCertificate
                        | ErrorCondition::RevokedCertificate
                )
            ) || m.error_data.as_deref() == Some("WrongKeyUsage")
        }
        Gate::Properties => {
            matches!(stage, Some(Stage::Header | Stage::Body)) && m.outcome != Some(Outcome::AppRec)
        }
        Gate::Cms => {
            stage == Some(Stage::Cms)
                && matches!(
                    m.error_data.as_deref(),
                    Some(
                        "NotCms"
                            | "NotEnveloped"
                            | "NotForUs"
                            | "BadDecrypt"
                            | "NotSigned"
                            | "BadSignature"
                            | "TooLarge"
                    )
                )
        }
        Gate::Msghead => stage == Some(Stage::MsgHead),
    }
}

/// Whether the message got past `gate` (a later stage decided it).
pub fn got_past(m: &Msg, gate: Gate) -> bool {
    let stage = m.stage;
    match gate {
        Gate::Certificate | Gate::Cms => matches!(stage, Some(Stage::MsgHead | Stage::Iplos)),
        Gate::Properties => !matches!(stage, Some(Stage::Header | Stage::Body) | None),
        Gate::Msghead => stage == Some(Stage::Iplos),
    }
}
