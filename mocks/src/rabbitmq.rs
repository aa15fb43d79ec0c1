//! An existing RabbitMQ (one node or a cluster) as the service bus, instead of the
//! built-in broker: the addresses, the management HTTP API client and the provisioning of
//! one run.
//!
//! NHN's service bus is RabbitMQ. With [`ExternalBroker`] in
//! [`ServicebusOptions::external`](crate::national::ServicebusOptions::external) the
//! national side does not start its broker: it provisions the run on RabbitMQ through
//! the management API ([`provision`]) and runs the register's receiver as an AMQP 1.0
//! client of it ([`crate::receiver::client::ClientReceiver`]). Nothing else reaches into the
//! broker's state.
//!
//! # What one run gets on RabbitMQ ([`RunPlan`])
//!
//! - a vhost of its own (`iplos-<run>`), removed again by [`teardown`];
//! - the namespace exchange (`NHNTESTServiceBus` by default) as a durable **topic**
//!   exchange, each queue bound to it by its own name, so `/exchange/<namespace>/<queue>`
//!   routes as on NHN's bus (queue names have no dots: a topic binding on the name is an
//!   exact match);
//! - per participant (each kommune, each register HER-id) the five queues `<her>_async`,
//!   `_sync`, `_error`, `_dl`, `_syncreply`: durable; on a cluster **quorum** queues
//!   (`x-queue-type: quorum`) with `x-delivery-limit: 10`; dead-lettering to the HER-id's
//!   `_dl` queue (`x-dead-letter-exchange` the namespace, `x-dead-letter-routing-key`
//!   `<her>_dl`), as NHN does; `_dl` itself does not dead-letter;
//! - per participant one user with its password and no tags, permitted to **read** only its
//!   own queues, to **write** only to the namespace exchange, to **configure** nothing,
//!   and, through topic permissions on the namespace exchange, to publish only to the
//!   queues it may send to: a kommune to the register's `_async` queues, the register to
//!   the senders' `_async` and `_error` queues. RabbitMQ checks the write permission on
//!   the exchange, not the routing key; the topic permission is what stops a kommune from
//!   writing into another kommune's queue.
//!
//! # The management user's permissions
//!
//! The user of `--broker-management` needs the `administrator` tag (creating vhosts and
//! users needs it), or at least `policymaker` plus an administrator-made vhost: the
//! harness creates vhosts and users, so in practice `administrator`. It gets full
//! permissions on each run's vhost (set by the harness itself).

mod count;
mod management;
mod open;
mod provision;
mod url;

pub use self::count::count_messages;
pub use self::management::{Management, ManagementError, QueueStats};
pub use self::open::{ClientLogin, open_client};
pub use self::provision::{QueueType, RunPlan, provision, teardown};
pub use self::url::{BrokerUrl, ManagementUrl, Node};

/// An existing RabbitMQ to use instead of the built-in broker.
#[derive(Debug, Clone)]
pub struct ExternalBroker {
    /// The AMQP nodes (`--broker`). Its login is not used by the national side: every
    /// participant, the register included, logs in as its own provisioned user.
    pub broker: BrokerUrl,
    /// The management API (`--broker-management`).
    pub management: ManagementUrl,
    /// The CA certificate(s) (PEM) that RabbitMQ's TLS certificates are verified against
    /// (`--broker-ca`): needed when the nodes are `amqps://` (by the register's receiver
    /// and every participant, see [`ExternalBroker::tls_ca`]) or the management API is
    /// `https://`.
    pub ca: Option<std::path::PathBuf>,
    /// The vhost of this run (created, removed by [`teardown`]).
    pub vhost: String,
    /// Quorum or classic queues; [`QueueType::Auto`]: quorum on a cluster of more than
    /// one node.
    pub queue_type: QueueType,
    /// Remove the vhost and the users at shutdown (default true).
    pub teardown: bool,
    /// Remove what an earlier run of the same vhost left (its queues with their messages,
    /// its users) before provisioning (default false: `serve` continues its run; a new
    /// rehearsal starts clean).
    pub fresh: bool,
}

impl ExternalBroker {
    /// The broker at `broker` managed through `management`, a vhost `iplos-<run>`,
    /// automatic queue type, teardown at shutdown.
    pub fn new(broker: BrokerUrl, management: ManagementUrl, run: &str) -> ExternalBroker {
        ExternalBroker {
            broker,
            management,
            ca: None,
            vhost: format!("iplos-{run}"),
            queue_type: QueueType::Auto,
            teardown: true,
            fresh: false,
        }
    }

    /// Parses the two command-line values (`--broker`, `--broker-management`).
    pub fn parse(broker: &str, management: &str, run: &str) -> Result<ExternalBroker, String> {
        Ok(ExternalBroker::new(
            BrokerUrl::parse(broker)?,
            ManagementUrl::parse(management)?,
            run,
        ))
    }

    /// The CA file a participant's client needs to verify the broker: `Some` when the
    /// nodes are `amqps://`.
    pub fn tls_ca(&self) -> Option<&std::path::Path> {
        self.broker.tls.then_some(self.ca.as_deref()).flatten()
    }

    /// The TLS client for `amqps://` nodes (`None` for `amqp://`). Errors (checked before
    /// anything connects): `amqps` without a CA file, naming `--broker-ca`; a CA file that
    /// cannot be read or holds no certificate, naming the file.
    pub fn tls_connector(&self) -> Result<Option<tokio_rustls::TlsConnector>, String> {
        if !self.broker.tls {
            return Ok(None);
        }
        let ca = self.ca.as_deref().ok_or_else(|| {
            format!(
                "the broker {} is amqps:// but no CA certificate to verify it was given \
                 (--broker-ca FILE, PEM); the system's roots are not used",
                self.nodes_text()
            )
        })?;
        crate::tls_client::connector(ca).map(Some)
    }

    /// The nodes as `host:port, …` (no login), for messages.
    pub fn nodes_text(&self) -> String {
        self.broker
            .nodes
            .iter()
            .map(|n| format!("{}://{n}", if self.broker.tls { "amqps" } else { "amqp" }))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The connection string a participant uses (every node, this run's vhost).
    pub fn connection_string(&self, namespace: &str, username: &str, password: &str) -> String {
        self.broker
            .connection_string(namespace, &self.vhost, username, password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(url: &str, ca: Option<&str>) -> ExternalBroker {
        let mut b = ExternalBroker::parse(url, "http://a:b@127.0.0.1:15672", "t").unwrap();
        b.ca = ca.map(Into::into);
        b
    }

    #[test]
    fn amqps_needs_the_ca_and_amqp_ignores_it() {
        // Plain AMQP: no TLS, whatever the CA.
        assert!(
            broker("amqp://u:p@h", None)
                .tls_connector()
                .unwrap()
                .is_none()
        );
        assert_eq!(broker("amqp://u:p@h", Some("/ca.pem")).tls_ca(), None);
        // amqps without a CA: refused, naming the flag and the broker (without its login).
        let e = broker("amqps://u:secret@h1,h2:5700", None)
            .tls_connector()
            .err()
            .expect("amqps without a CA fails");
        assert!(e.contains("--broker-ca"), "{e}");
        assert!(e.contains("amqps://h1:5671, amqps://h2:5700"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        // amqps with a CA that is not there: the file is named.
        let b = broker("amqps://u:p@h", Some("/nonexistent/ca.pem"));
        assert_eq!(
            b.tls_ca(),
            Some(std::path::Path::new("/nonexistent/ca.pem"))
        );
        let e = b.tls_connector().err().expect("a missing CA file fails");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
