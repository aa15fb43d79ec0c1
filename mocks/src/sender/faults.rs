//! Faults the reference sender can put into a message, for negative tests and
//! certification: each makes the message wrong in exactly one way.

use iplos_model::ids::HerId;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

/// An AMQP property of the message (header or application property), by its name on the
/// wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum Property {
    /// `message-id`.
    MessageId,
    /// `to`.
    To,
    /// `reply-to`.
    ReplyTo,
    /// `subject`.
    Subject,
    /// `correlation-id`.
    CorrelationId,
    /// `content-type`.
    ContentType,
    /// Application property `fromHerId`.
    #[strum(serialize = "fromHerId")]
    FromHerId,
    /// Application property `toHerId`.
    #[strum(serialize = "toHerId")]
    ToHerId,
    /// Application property `applicationTimeStamp`.
    #[strum(serialize = "applicationTimeStamp")]
    ApplicationTimeStamp,
    /// Application property `cpaId`.
    #[strum(serialize = "cpaId")]
    CpaId,
}

impl Property {
    /// Every property.
    pub const ALL: [Property; 10] = [
        Property::MessageId,
        Property::To,
        Property::ReplyTo,
        Property::Subject,
        Property::CorrelationId,
        Property::ContentType,
        Property::FromHerId,
        Property::ToHerId,
        Property::ApplicationTimeStamp,
        Property::CpaId,
    ];

    /// The properties a receiver requires (DOMAIN §4, plus `message-id`).
    pub const REQUIRED: [Property; 6] = [
        Property::MessageId,
        Property::Subject,
        Property::ContentType,
        Property::FromHerId,
        Property::ToHerId,
        Property::ApplicationTimeStamp,
    ];

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A certificate and key to sign with instead of the sender's own.
#[derive(Clone)]
pub struct SignWith {
    /// The certificate.
    pub cert: X509,
    /// Its key.
    pub key: PKey<Private>,
}

impl std::fmt::Debug for SignWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignWith")
            .field(
                "subject",
                &crate::cms::name_to_string(self.cert.subject_name()),
            )
            .finish_non_exhaustive()
    }
}

/// One fault.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Leave a property out.
    Omit(Property),
    /// Give a property this value (text) instead of the right one.
    Set(Property, String),
    /// Send as another `fromHerId` than the sender's own (the MsgHead keeps the real one).
    FromHerId(HerId),
    /// Put another sender HER-id in the MsgHead (the AMQP `fromHerId` keeps the real one).
    MsgHeadSender(HerId),
    /// Address the MsgHead to another receiver HER-id (the AMQP properties keep the
    /// register).
    WrongReceiver(HerId),
    /// Another `MsgInfo/MsgId` than a fresh GUID.
    MsgId(String),
    /// Another `MsgInfo/Type` than `IPLOS`.
    MsgType(String),
    /// Change one byte of the signed content after signing (the signature no longer
    /// verifies).
    BadSignature,
    /// Sign with this certificate and key (an expired, revoked, wrong-CA or someone
    /// else's certificate).
    SignWith(SignWith),
    /// Sign only: the SignedData goes out without encryption.
    NotEncrypted,
    /// Encrypt the MsgHead without signing it.
    NotSigned,
    /// Encrypt for this certificate instead of the register's.
    EncryptFor(X509),
    /// Replace the payload (the data section) with these bytes.
    Payload(Vec<u8>),
    /// Replace the signed content (the MsgHead XML) with these bytes.
    Content(Vec<u8>),
    /// Send the same message (same message-id) twice.
    Duplicate,
    /// Pad the data section with zero bytes to this size (bigger than the broker's or the
    /// receiver's limit).
    Oversized(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nhn;

    #[test]
    fn application_property_names_are_nhns() {
        assert_eq!(Property::FromHerId.name(), nhn::FROM_HER_ID);
        assert_eq!(Property::ToHerId.name(), nhn::TO_HER_ID);
        assert_eq!(
            Property::ApplicationTimeStamp.name(),
            nhn::APPLICATION_TIMESTAMP
        );
        assert_eq!(Property::CpaId.name(), nhn::CPA_ID);
        assert_eq!(Property::CorrelationId.name(), "correlation-id");
        for p in Property::ALL {
            assert_eq!(p.name().parse::<Property>(), Ok(p));
        }
    }
}
