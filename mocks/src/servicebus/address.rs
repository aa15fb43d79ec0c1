//! Queue names and the RabbitMQ (AMQP 1.0 plugin, "v1") address forms NHN's service bus uses.

use iplos_model::ids::HerId;

/// The five queues NHN creates for every HER-id, by suffix (`async`, `sync`, `error`, `dl`,
/// `syncreply`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString, strum::Display,
)]
#[strum(serialize_all = "lowercase")]
pub enum QueueKind {
    /// `<herid>_async`: ordinary (asynchronous) messages to the HER-id.
    Async,
    /// `<herid>_sync`: synchronous requests.
    Sync,
    /// `<herid>_error`: error reports about messages the HER-id sent.
    Error,
    /// `<herid>_dl`: dead letters.
    #[strum(serialize = "dl")]
    DeadLetter,
    /// `<herid>_syncreply`: answers to synchronous requests.
    SyncReply,
}

impl QueueKind {
    /// Every kind, in the order NHN lists them.
    pub const ALL: [QueueKind; 5] = [
        QueueKind::Async,
        QueueKind::Sync,
        QueueKind::Error,
        QueueKind::DeadLetter,
        QueueKind::SyncReply,
    ];

    /// The suffix after the HER-id, without the underscore.
    pub fn suffix(self) -> &'static str {
        self.into()
    }

    /// The queue of this kind for a HER-id, e.g. `131725_async`.
    pub fn queue_name(self, her_id: HerId) -> String {
        format!("{her_id}_{}", self.suffix())
    }
}

/// Splits a queue name into its HER-id and kind, if it has the NHN form.
pub fn parse_queue_name(name: &str) -> Option<(HerId, QueueKind)> {
    let (her, suffix) = name.rsplit_once('_')?;
    let kind = suffix.parse().ok()?;
    if her.is_empty() || !her.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((her.parse().ok()?, kind))
}

/// Why an address could not be resolved to a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// The link has no address (null terminus or null address).
    Missing,
    /// `/exchange/<name>/...` names an exchange that does not exist.
    UnknownExchange(String),
    /// The address has none of the accepted forms.
    Unsupported(String),
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressError::Missing => write!(f, "the link has no address"),
            AddressError::UnknownExchange(x) => write!(f, "no exchange '{x}' in vhost '/'"),
            AddressError::Unsupported(a) => write!(
                f,
                "address '{a}' is not supported; use /exchange/<namespace>/<queue> or /amq/queue/<queue>"
            ),
        }
    }
}

fn bare_name(rest: &str, original: &str) -> Result<String, AddressError> {
    if rest.is_empty() || rest.contains('/') {
        Err(AddressError::Unsupported(original.to_string()))
    } else {
        Ok(rest.to_string())
    }
}

/// The queue a sending link's target address points at. Accepted, as RabbitMQ's v1 address
/// forms: `/exchange/<namespace>/<queue>` (the namespace is the direct exchange named in the
/// connection string; the routing key is the queue name), `/amq/queue/<queue>`,
/// `/queue/<queue>` and a bare queue name.
pub fn target_queue(address: &str, namespace: &str) -> Result<String, AddressError> {
    if let Some(rest) = address.strip_prefix("/exchange/") {
        let (exchange, key) = rest
            .split_once('/')
            .ok_or_else(|| AddressError::Unsupported(address.to_string()))?;
        if exchange != namespace {
            return Err(AddressError::UnknownExchange(exchange.to_string()));
        }
        return bare_name(key, address);
    }
    source_queue(address)
}

/// The queue a receiving link's source address points at: `/amq/queue/<queue>`, and as
/// RabbitMQ also allows, `/queue/<queue>` or a bare queue name.
pub fn source_queue(address: &str) -> Result<String, AddressError> {
    if let Some(rest) = address.strip_prefix("/amq/queue/") {
        bare_name(rest, address)
    } else if let Some(rest) = address.strip_prefix("/queue/") {
        bare_name(rest, address)
    } else if address.starts_with('/') || address.is_empty() {
        Err(AddressError::Unsupported(address.to_string()))
    } else {
        bare_name(address, address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_round_trip() {
        let her = HerId::new(131725).unwrap();
        for kind in QueueKind::ALL {
            let name = kind.queue_name(her);
            assert_eq!(parse_queue_name(&name), Some((her, kind)));
        }
        assert_eq!(parse_queue_name("131725_other"), None);
        assert_eq!(parse_queue_name("abc_async"), None);
        assert_eq!(parse_queue_name("_async"), None);
        assert_eq!(parse_queue_name("async"), None);
    }

    #[test]
    fn target_forms() {
        let ns = "NHNTESTServiceBus";
        assert_eq!(
            target_queue("/exchange/NHNTESTServiceBus/123_async", ns).unwrap(),
            "123_async"
        );
        assert_eq!(target_queue("/amq/queue/123_sync", ns).unwrap(), "123_sync");
        assert_eq!(target_queue("/queue/123_sync", ns).unwrap(), "123_sync");
        assert_eq!(target_queue("123_dl", ns).unwrap(), "123_dl");
        assert_eq!(
            target_queue("/exchange/Other/123_async", ns),
            Err(AddressError::UnknownExchange("Other".into()))
        );
        assert!(target_queue("/exchange/NHNTESTServiceBus", ns).is_err());
        assert!(target_queue("/exchange/NHNTESTServiceBus/", ns).is_err());
        assert!(target_queue("/topic/x", ns).is_err());
        assert!(target_queue("", ns).is_err());
        assert!(target_queue("/amq/queue/a/b", ns).is_err());
    }

    #[test]
    fn source_forms() {
        assert_eq!(source_queue("/amq/queue/1_async").unwrap(), "1_async");
        assert_eq!(source_queue("1_async").unwrap(), "1_async");
        assert!(source_queue("/exchange/NS/1_async").is_err());
    }
}
