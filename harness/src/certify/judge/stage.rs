//! The register's verdict on a message as the judges read it: which check of its pipeline
//! the message failed or got past.
//!
//! This is the one place where the judges compare the register's stage names, error
//! conditions and error data (as the receiver's store records them); the other judges ask
//! [`failed`] and [`got_past`].

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
    let stage = m.stage.as_deref();
    match gate {
        Gate::Certificate => {
            matches!(
                m.error_condition.as_deref(),
                Some(
                    "transport:missing-certificate"
                        | "abuse:spoofing-attack"
                        | "transport:unverified-certificate"
                        | "transport:expired-certificate"
                        | "transport:revoked-certificate"
                )
            ) || m.error_data.as_deref() == Some("WrongKeyUsage")
        }
        Gate::Properties => {
            matches!(stage, Some("header" | "body")) && m.outcome.as_deref() != Some("apprec")
        }
        Gate::Cms => {
            stage == Some("cms")
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
        Gate::Msghead => stage == Some("msghead"),
    }
}

/// Whether the message got past `gate` (a later stage decided it).
pub fn got_past(m: &Msg, gate: Gate) -> bool {
    let stage = m.stage.as_deref();
    match gate {
        Gate::Certificate | Gate::Cms => matches!(stage, Some("msghead" | "iplos")),
        Gate::Properties => !matches!(stage, Some("header" | "body") | None),
        Gate::Msghead => stage == Some("iplos"),
    }
}
