//! The service bus on an existing RabbitMQ ([`ServicebusOptions::external`]): the run
//! provisioned through the management API, the register's receiver as an AMQP 1.0 client,
//! no broker of ours.
//!
//! User names on RabbitMQ are global, so every participant's user is prefixed with the
//! run's vhost (`<vhost>.<user>`); [`ExternalRun::connection_string`] (and
//! [`National::servicebus_connection_string`](super::National::servicebus_connection_string))
//! applies the prefix, so callers keep their participants' plain names.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::NationalError;
use super::options::ServicebusOptions;
use crate::rabbitmq::{ExternalBroker, Management, RunPlan, provision, teardown};
use crate::receiver::client::{ClientReceiver, ClientReceiverConfig, ClientReceiverHandle};
use crate::receiver::{ReceiverConfig, RunStore};
use crate::servicebus::Participant;

/// The run on an external RabbitMQ, as the national side started it.
#[derive(Debug)]
pub struct ExternalRun {
    broker: ExternalBroker,
    namespace: String,
    plan: RunPlan,
    quorum: bool,
    api: Management,
    pub(super) receiver: Option<ClientReceiverHandle>,
}

impl ExternalRun {
    /// The broker as configured.
    pub fn broker(&self) -> &ExternalBroker {
        &self.broker
    }

    /// What was provisioned (with the prefixed user names).
    pub fn plan(&self) -> &RunPlan {
        &self.plan
    }

    /// Whether the queues are quorum queues.
    pub fn quorum(&self) -> bool {
        self.quorum
    }

    /// The management API client.
    pub fn management(&self) -> &Management {
        &self.api
    }

    /// The RabbitMQ user of a participant's plain user name.
    pub fn rabbit_user(&self, username: &str) -> String {
        format!("{}.{username}", self.broker.vhost)
    }

    /// The connection string of a participant (every node, the run's vhost).
    pub fn connection_string(&self, username: &str, password: &str) -> String {
        self.broker
            .connection_string(&self.namespace, &self.rabbit_user(username), password)
    }

    /// The client receiver.
    pub fn receiver(&self) -> Option<&ClientReceiverHandle> {
        self.receiver.as_ref()
    }

    /// Stops the receiver; removes the run from RabbitMQ when asked to.
    pub(super) async fn shutdown(mut self) {
        if let Some(r) = self.receiver.take() {
            r.shutdown().await;
        }
        if self.broker.teardown
            && let Err(e) = teardown(&self.api, &self.plan).await
        {
            tracing::warn!(target: "iplos_mocks::national", "RabbitMQ teardown: {e}");
        }
    }
}

/// Provisions the run and starts the client receiver.
pub(super) async fn start(
    options: &ServicebusOptions,
    external: &ExternalBroker,
    participants: &[Participant],
    store: Arc<RunStore>,
    config: ReceiverConfig,
) -> Result<ExternalRun, NationalError> {
    // Checked before anything is provisioned: amqps needs its CA.
    let tls = external
        .tls_connector()
        .map_err(|e| NationalError::start("the TLS client for RabbitMQ", e))?;
    if let Some(connector) = &tls {
        probe_tls(external, connector).await?;
    }
    let api = Management::with_ca(external.management.clone(), external.ca.as_deref())
        .map_err(|e| NationalError::start("the RabbitMQ management client", e))?;
    let prefixed: Vec<Participant> = participants
        .iter()
        .map(|p| {
            Participant::new(
                p.her_id,
                format!("{}.{}", external.vhost, p.username),
                p.password.clone(),
            )
        })
        .collect();
    let plan = RunPlan {
        vhost: external.vhost.clone(),
        namespace: options.namespace.clone(),
        queue_type: external.queue_type,
        participants: prefixed,
        register: options.register.her_ids.clone(),
    };
    if external.fresh {
        teardown(&api, &plan).await.map_err(|e| {
            NationalError::start(
                format!("remove the earlier run from RabbitMQ ({})", plan.vhost),
                e,
            )
        })?;
    }
    let quorum = provision(&api, &plan).await.map_err(|e| {
        NationalError::start(format!("provision the run on RabbitMQ ({})", plan.vhost), e)
    })?;
    let logins: HashMap<_, _> = plan
        .participants
        .iter()
        .filter(|p| plan.register.contains(&p.her_id))
        .map(|p| (p.her_id, (p.username.clone(), p.password.clone())))
        .collect();
    let register = &options.register;
    let receiver = ClientReceiver::start(
        ClientReceiverConfig {
            nodes: external
                .broker
                .nodes
                .iter()
                .map(|n| (n.host.clone(), n.port))
                .collect(),
            vhost: Some(external.vhost.clone()),
            namespace: options.namespace.clone(),
            logins,
            queues: plan.queues().into_iter().collect(),
            tls,
        },
        store,
        register.identity.clone(),
        register.directory.clone(),
        config,
    )
    .map_err(|e| NationalError::start("start the receiver on RabbitMQ", e))?;
    Ok(ExternalRun {
        broker: external.clone(),
        namespace: options.namespace.clone(),
        plan,
        quorum,
        api,
        receiver: Some(receiver),
    })
}

/// The TLS handshake with the first node that takes a TCP connection, before anything is
/// provisioned: a certificate the CA does not verify is a configuration error, said at
/// once and naming the broker, rather than consumers and clients retrying forever. Nodes
/// that are down are skipped (failover); none up is left to the clients' retries.
async fn probe_tls(
    external: &ExternalBroker,
    connector: &tokio_rustls::TlsConnector,
) -> Result<(), NationalError> {
    use std::time::Duration;
    for node in &external.broker.nodes {
        let tcp = match tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect((node.host.as_str(), node.port)),
        )
        .await
        {
            Ok(Ok(tcp)) => tcp,
            _ => continue,
        };
        let hs = crate::tls_client::handshake(connector, &node.host, node.port, tcp);
        let why = match tokio::time::timeout(Duration::from_secs(10), hs).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => format!("TLS: {node}: no handshake within 10 s"),
        };
        let ca = external
            .ca
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return Err(NationalError::start(
            format!("connect to RabbitMQ at amqps://{node}"),
            format!("{why} (is {ca}, --broker-ca, the CA that signed the broker's certificate?)"),
        ));
    }
    Ok(())
}
