//! [`National`]: the running national side, its endpoints and its shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iplos_model::calendar::Clock;
use tokio::task::JoinHandle;

use super::operator::OperatorServer;
use crate::filsluse::{Filsluse, MailNotifier};
use crate::intake::Intake;
use crate::mail::{MailHandle, Outbox};
use crate::receiver::{ReceiverHandle, RunStore};
use crate::sendemodul::Sendemodul;
use crate::servicebus::{BrokerHandle, Bus};

/// The running national side (see the module docs of [`super`]). Dropping it stops every endpoint
/// without waiting; [`National::shutdown`] stops them in order and waits.
pub struct National {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) data_year: Option<i32>,
    pub(super) mail: Option<MailHandle>,
    pub(super) outbox: Option<Arc<Outbox>>,
    pub(super) notifier: Option<Arc<MailNotifier>>,
    pub(super) filsluse: Option<Arc<Filsluse>>,
    pub(super) broker: Option<BrokerHandle>,
    pub(super) receiver: Option<ReceiverHandle>,
    pub(super) external: Option<super::external::ExternalRun>,
    pub(super) run_store: Option<Arc<RunStore>>,
    pub(super) intake: Option<Intake>,
    pub(super) sendemodul: Option<Sendemodul>,
    pub(super) refusing: Option<Sendemodul>,
    pub(super) ticker: Option<JoinHandle<()>>,
    pub(super) operator: Option<OperatorServer>,
}

impl std::fmt::Debug for National {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("National")
            .field("state_dir", &self.state_dir)
            .field("amqp", &self.amqp_addr())
            .field("sendemodul", &self.sendemodul.as_ref().map(|s| s.addr()))
            .field("filsluse", &self.filsluse.as_ref().map(|s| s.addr()))
            .field("smtp", &self.mail.as_ref().map(|m| m.smtp_addr()))
            .field("operator", &self.operator_url())
            .finish_non_exhaustive()
    }
}

impl National {
    /// The clock every endpoint runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The state directory, if any.
    pub fn state_dir(&self) -> Option<&Path> {
        self.state_dir.as_deref()
    }

    /// The season's data year, if given.
    pub fn data_year(&self) -> Option<i32> {
        self.data_year
    }

    /// The AMQP broker.
    pub fn broker(&self) -> Option<&BrokerHandle> {
        self.broker.as_ref()
    }

    /// The broker's in-process bus.
    pub fn bus(&self) -> Option<Bus> {
        self.broker.as_ref().map(BrokerHandle::bus)
    }

    /// Where the broker listens.
    pub fn amqp_addr(&self) -> Option<SocketAddr> {
        self.broker.as_ref().map(BrokerHandle::local_addr)
    }

    /// The run on an external RabbitMQ ([`super::ServicebusOptions::external`]).
    pub fn external(&self) -> Option<&super::external::ExternalRun> {
        self.external.as_ref()
    }

    /// The connection string of a service bus participant, on our broker or on the
    /// external RabbitMQ (there: every node, the run's vhost, the prefixed user).
    pub fn servicebus_connection_string(&self, username: &str, password: &str) -> Option<String> {
        if let Some(x) = &self.external {
            return Some(x.connection_string(username, password));
        }
        self.broker
            .as_ref()
            .map(|b| b.connection_string(username, password))
    }

    /// The CA file a service bus participant's client must verify the broker against:
    /// the external RabbitMQ's `--broker-ca` when its nodes are `amqps://`, else `None`.
    pub fn servicebus_tls_ca(&self) -> Option<&Path> {
        self.external.as_ref().and_then(|x| x.broker().tls_ca())
    }

    /// The register's receiver.
    pub fn receiver(&self) -> Option<&ReceiverHandle> {
        self.receiver.as_ref()
    }

    /// The register's receiver, mutably (to wait for a failpoint).
    pub fn receiver_mut(&mut self) -> Option<&mut ReceiverHandle> {
        self.receiver.as_mut()
    }

    /// The run store the broker and the receiver share.
    pub fn run_store(&self) -> Option<&Arc<RunStore>> {
        self.run_store.as_ref()
    }

    /// SSB's intake behind Sendemodul.
    pub fn intake(&self) -> Option<&Intake> {
        self.intake.as_ref()
    }

    /// Sendemodul.
    pub fn sendemodul(&self) -> Option<&Sendemodul> {
        self.sendemodul.as_ref()
    }

    /// The second portal of [`SendemodulOptions::refusing`](super::SendemodulOptions::refusing).
    pub fn refusing_sendemodul(&self) -> Option<&Sendemodul> {
        self.refusing.as_ref()
    }

    /// The filsluse portal.
    pub fn filsluse(&self) -> Option<&Filsluse> {
        self.filsluse.as_deref()
    }

    /// The filsluse's mail queue.
    pub fn notifier(&self) -> Option<&Arc<MailNotifier>> {
        self.notifier.as_ref()
    }

    /// The mail capture.
    pub fn mail(&self) -> Option<&MailHandle> {
        self.mail.as_ref()
    }

    /// The national side's outbox (to the capture, or the relay): receipts.
    pub fn outbox(&self) -> Option<&Arc<Outbox>> {
        self.outbox.as_ref()
    }

    /// The operator API's base URL (`http://ip:port`).
    pub fn operator_url(&self) -> Option<&str> {
        self.operator.as_ref().map(|o| o.url.as_str())
    }

    /// The bearer token the operator API requires (`Authorization: Bearer <token>`).
    pub fn operator_token(&self) -> Option<&str> {
        self.operator.as_ref().map(|o| o.token.as_str())
    }

    /// Stops everything in order (see the module docs) and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(op) = self.operator.take() {
            op.shutdown().await;
        }
        if let Some(t) = self.ticker.take() {
            t.abort();
            let _ = t.await;
        }
        for s in [self.sendemodul.take(), self.refusing.take()]
            .into_iter()
            .flatten()
        {
            s.shutdown().await;
        }
        if let Some(r) = self.receiver.take() {
            r.shutdown().await;
        }
        if let Some(b) = self.broker.take() {
            b.shutdown().await;
        }
        if let Some(x) = self.external.take() {
            x.shutdown().await;
        }
        if let Some(n) = &self.notifier {
            let _ = n.flush(std::time::Duration::from_secs(5)).await;
        }
        if let Some(f) = self.filsluse.take() {
            // The operator API held a clone; it is gone now.
            match Arc::try_unwrap(f) {
                Ok(f) => f.shutdown().await,
                Err(f) => drop(f),
            }
        }
        if let Some(m) = self.mail.take()
            && let Err(e) = m.shutdown().await
        {
            tracing::warn!(target: "iplos_mocks::national", "mail capture: {e}");
        }
    }
}

impl Drop for National {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}
