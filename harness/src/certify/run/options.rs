//! How `certify run` is asked to run.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::certify::phases::PhaseKind;

/// How `certify run` is asked to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub dir: PathBuf,
    pub plan: Option<PathBuf>,
    pub time_scale: f64,
    pub bind: IpAddr,
    pub amqp_port: u16,
    pub wrong_host_port: u16,
    pub web_port: u16,
    /// Walk only these phases (empty: all).
    pub only: Vec<PhaseKind>,
    /// Replace an earlier run's results.
    pub force: bool,
    /// RabbitMQ instead of our broker (`--broker`, `--broker-management`).
    pub broker: Option<iplos_mocks::rabbitmq::ExternalBroker>,
}
