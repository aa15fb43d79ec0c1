//! NHN's vocabulary on the service bus (Helsenorge.Messaging, DOMAIN §4), shared by the
//! broker, the receiver and the reference sender: property names, the content type, the
//! message functions (subjects), error conditions, the timestamp format, and helpers to read
//! an AMQP message's fields.
//!
//! It speaks plain AMQP 1.0 messages (`fe2o3_amqp_types`), so that it depends on no other
//! module of this crate; the broker's [`AmqpMessage`](crate::servicebus::AmqpMessage) is
//! the same type.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Europe::Oslo;
use fe2o3_amqp_types::messaging::{Body, Message, MessageId};
use fe2o3_amqp_types::primitives::{SimpleValue, Value};

use crate::text_enum::text_enum;

/// An AMQP 1.0 message with every section (what the broker stores and delivers).
type AmqpMessage = Message<Body<Value>>;

/// Application property: the sender's HER-id (an integer written as a string).
pub const FROM_HER_ID: &str = "fromHerId";
/// Application property: the receiver's HER-id.
pub const TO_HER_ID: &str = "toHerId";
/// Application property: when the sender made the message, `yyyy-MM-ddTHH:mm:ssK`.
pub const APPLICATION_TIMESTAMP: &str = "applicationTimeStamp";
/// Application property: the collaboration agreement id (optional).
pub const CPA_ID: &str = "cpaId";
/// Error message property: the message-id of the message the error is about.
pub const ORIGINAL_MESSAGE_ID: &str = "originalMessageId";
/// Error message property: when the receiver found the error.
pub const RECEIVER_TIMESTAMP: &str = "receiverTimeStamp";
/// Error message property: the condition (see [`ErrorCondition`]).
pub const ERROR_CONDITION: &str = "errorCondition";
/// Error message property: a description for people.
pub const ERROR_DESCRIPTION: &str = "errorDescription";
/// Error message property: data about the error (the property name, the certificate, ...).
pub const ERROR_CONDITION_DATA: &str = "errorConditionData";

/// The content type of a signed-then-encrypted payload.
pub const CONTENT_TYPE_SIGNED_ENVELOPED: &str =
    "application/pkcs7-mime; smime-type=signed-and-enveloped-data";
/// The message function (AMQP `subject`, MsgHead `MsgInfo/Type`) of an IPLOS submission.
/// **\[model\]** No public source names it; Helsenorge-style services put the message
/// function in both places and Helsedirektoratet's later HTTP API calls the message type
/// `IPLOS` (see `model::message::msghead`).
pub const SUBJECT_IPLOS: &str = "IPLOS";
/// The message function of an application receipt.
pub const SUBJECT_APPREC: &str = "APPREC";

/// The `errorCondition` values a receiver puts on an error message (DOMAIN §4); the text
/// forms (`transport:invalid-field-value`, ...) are the same on the wire, in JSON and in the
/// run store.
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
pub enum ErrorCondition {
    /// `transport:invalid-field-value`: a required property is missing or invalid.
    #[strum(serialize = "transport:invalid-field-value")]
    InvalidFieldValue,
    /// `transport:not-well-formed-xml`: the decrypted payload is not XML.
    #[strum(serialize = "transport:not-well-formed-xml")]
    NotWellFormedXml,
    /// `transport:internal-error`: the receiver failed.
    #[strum(serialize = "transport:internal-error")]
    InternalError,
    /// `transport:unsupported-message`: not a message this receiver handles.
    #[strum(serialize = "transport:unsupported-message")]
    UnsupportedMessage,
    /// `transport:invalid-certificate`.
    #[strum(serialize = "transport:invalid-certificate")]
    InvalidCertificate,
    /// `transport:missing-certificate`.
    #[strum(serialize = "transport:missing-certificate")]
    MissingCertificate,
    /// `transport:expired-certificate`.
    #[strum(serialize = "transport:expired-certificate")]
    ExpiredCertificate,
    /// `transport:revoked-certificate`.
    #[strum(serialize = "transport:revoked-certificate")]
    RevokedCertificate,
    /// `transport:unverified-certificate`.
    #[strum(serialize = "transport:unverified-certificate")]
    UnverifiedCertificate,
    /// `abuse:spoofing-attack`: the message claims to come from someone else.
    #[strum(serialize = "abuse:spoofing-attack")]
    SpoofingAttack,
}

text_enum!(ErrorCondition);

impl ErrorCondition {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An instant as `yyyy-MM-ddTHH:mm:ssK` in Norwegian time (e.g. `2019-01-03T08:15:00+01:00`).
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&Oslo)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Checks a value against `yyyy-MM-ddTHH:mm:ssK`: .NET's `K` is `Z`, an offset `+hh:mm` /
/// `-hh:mm`, or nothing (a time without a kind). Returns what is wrong.
pub fn check_timestamp(s: &str) -> Result<(), String> {
    let expected = "expected yyyy-MM-ddTHH:mm:ssK, e.g. 2019-01-03T08:15:00+01:00";
    if s.len() < 19 || !s.is_char_boundary(19) {
        return Err(format!("\"{s}\" is too short: {expected}"));
    }
    let (main, zone) = s.split_at(19);
    if NaiveDateTime::parse_from_str(main, "%Y-%m-%dT%H:%M:%S").is_err()
        || !main.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        })
    {
        return Err(format!("\"{s}\" is not a valid date and time: {expected}"));
    }
    let zone_ok = match zone.as_bytes() {
        [] | [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] => {
            matches!(sign, b'+' | b'-')
                && [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 14
                && (m1 - b'0') * 10 + (m2 - b'0') < 60
        }
        _ => false,
    };
    if zone_ok {
        Ok(())
    } else {
        Err(format!(
            "\"{s}\" has no valid offset after the seconds: {expected}"
        ))
    }
}

/// A new random GUID (UUID version 4), lower case.
pub fn new_guid() -> String {
    let mut b = [0u8; 16];
    if openssl::rand::rand_bytes(&mut b).is_err() {
        // OpenSSL's generator does not fail once seeded; fall back to the clock.
        let t = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128;
        b = t.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_uuid(&b)
}

fn format_uuid(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Whether a string is a GUID (`8-4-4-4-12` hex digits, optionally in braces).
pub fn is_guid(s: &str) -> bool {
    let t = s
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(s);
    t.len() == 36
        && t.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// An AMQP message-id (or correlation-id) as text: strings as they are, UUIDs in the
/// usual form, numbers in decimal, binary in hex.
pub fn id_text(id: &MessageId) -> String {
    match id {
        MessageId::String(s) => s.clone(),
        MessageId::Ulong(n) => n.to_string(),
        MessageId::Uuid(u) => {
            let bytes: [u8; 16] = *u.as_inner();
            format_uuid(&bytes)
        }
        MessageId::Binary(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

/// The message-id of a message, as text.
pub fn message_id(m: &AmqpMessage) -> Option<String> {
    m.properties
        .as_ref()
        .and_then(|p| p.message_id.as_ref())
        .map(id_text)
}

/// The correlation-id of a message, as text.
pub fn correlation_id(m: &AmqpMessage) -> Option<String> {
    m.properties
        .as_ref()
        .and_then(|p| p.correlation_id.as_ref())
        .map(id_text)
}

/// An application property as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prop {
    /// Not there (or null).
    Missing,
    /// A string, or an integer (given as its decimal text).
    Text(String),
    /// Some other type (described).
    OtherType(String),
}

/// Reads an application property; integers are accepted and given as decimal text.
pub fn app_prop(m: &AmqpMessage, key: &str) -> Prop {
    let Some(app) = m.application_properties.as_ref() else {
        return Prop::Missing;
    };
    match app.0.get(key) {
        None | Some(SimpleValue::Null) => Prop::Missing,
        Some(SimpleValue::String(s)) => Prop::Text(s.clone()),
        Some(SimpleValue::Int(n)) => Prop::Text(n.to_string()),
        Some(SimpleValue::Long(n)) => Prop::Text(n.to_string()),
        Some(SimpleValue::Uint(n)) => Prop::Text(n.to_string()),
        Some(SimpleValue::Ulong(n)) => Prop::Text(n.to_string()),
        Some(SimpleValue::Short(n)) => Prop::Text(n.to_string()),
        Some(SimpleValue::Ushort(n)) => Prop::Text(n.to_string()),
        Some(other) => Prop::OtherType(format!("{other:?}")),
    }
}

/// An application property's text, if it is a string or an integer.
pub fn app_prop_text(m: &AmqpMessage, key: &str) -> Option<String> {
    match app_prop(m, key) {
        Prop::Text(s) => Some(s),
        _ => None,
    }
}

/// The shape of a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    /// No body section.
    Empty,
    /// One AMQP value section.
    Value,
    /// Sequence sections.
    Sequence,
    /// This many data sections (not one).
    Data(usize),
}

impl std::fmt::Display for BodyShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyShape::Empty => f.write_str("no body section"),
            BodyShape::Value => f.write_str("an amqp-value body section"),
            BodyShape::Sequence => f.write_str("amqp-sequence body sections"),
            BodyShape::Data(n) => write!(f, "{n} data sections"),
        }
    }
}

/// The bytes of the message's single data section.
pub fn single_data(m: &AmqpMessage) -> Result<&[u8], BodyShape> {
    match &m.body {
        Body::Data(batch) => {
            let mut it = batch.iter();
            match (it.next(), it.next()) {
                (Some(d), None) => Ok(&d.0[..]),
                _ => Err(BodyShape::Data(batch.len())),
            }
        }
        Body::Empty => Err(BodyShape::Empty),
        Body::Value(_) => Err(BodyShape::Value),
        Body::Sequence(_) => Err(BodyShape::Sequence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps() {
        let t = Utc.with_ymd_and_hms(2019, 1, 3, 7, 15, 0).unwrap();
        assert_eq!(format_timestamp(t), "2019-01-03T08:15:00+01:00");
        let t = Utc.with_ymd_and_hms(2019, 6, 3, 7, 15, 0).unwrap();
        assert_eq!(format_timestamp(t), "2019-06-03T09:15:00+02:00");
        for ok in [
            "2019-01-03T08:15:00+01:00",
            "2019-01-03T08:15:00Z",
            "2019-01-03T08:15:00",
            "2019-01-03T08:15:00-05:30",
        ] {
            assert!(check_timestamp(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2019-01-03",
            "2019-01-03 08:15:00",
            "2019-01-03T08:15:00.123Z",
            "2019-02-30T08:15:00Z",
            "2019-01-03T08:15:00+0100",
            "2019-01-03T08:15:00+25:00",
            "03.01.2019 08:15:00",
            "2019-01-03T08:15:00æ",
            "+2019-01-03T08:15:00",
        ] {
            assert!(check_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guids() {
        let g = new_guid();
        assert!(is_guid(&g), "{g}");
        assert_eq!(&g[14..15], "4");
        assert_ne!(new_guid(), g);
        assert!(is_guid("{6F1A3C1E-0000-4000-8000-000000000001}"));
        assert!(!is_guid("6f1a3c1e00004000800000000000000001"));
        assert!(!is_guid("not-a-guid"));
    }

    #[test]
    fn conditions_round_trip() {
        use strum::IntoEnumIterator;
        assert_eq!(ErrorCondition::iter().count(), 10);
        for c in ErrorCondition::iter() {
            assert_eq!(c.as_str().parse::<ErrorCondition>(), Ok(c));
            assert_eq!(c.to_string(), c.as_str());
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
    }
}
