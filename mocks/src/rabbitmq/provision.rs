//! One run on RabbitMQ: what is created ([`RunPlan`]), [`provision`] and [`teardown`].

use iplos_model::ids::HerId;
use serde_json::{Map, Value, json};

use super::management::{Management, ManagementError};
use crate::servicebus::{Participant, QueueKind};

/// NHN's delivery limit: a message delivered this many times without being settled is
/// dead-lettered (quorum queues only; classic queues in RabbitMQ 3.x have no limit).
pub const DELIVERY_LIMIT: u32 = 10;

/// The kind of queue to declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    /// Quorum on a cluster (more than one node), classic on a single node.
    Auto,
    /// Classic, durable.
    Classic,
    /// Quorum (replicated; survives the loss of a minority of nodes).
    Quorum,
}

/// What one run gets on RabbitMQ (see the module docs of [`super`]).
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The run's vhost.
    pub vhost: String,
    /// The namespace exchange.
    pub namespace: String,
    /// The queue type asked for.
    pub queue_type: QueueType,
    /// Every participant (kommuner, vendors and the register's HER-ids), each with its
    /// login.
    pub participants: Vec<Participant>,
    /// The register's HER-ids (their users may answer anybody).
    pub register: Vec<HerId>,
}

impl RunPlan {
    /// Every queue of the run, `<her>_<kind>`, in participant order.
    pub fn queues(&self) -> Vec<String> {
        self.participants
            .iter()
            .flat_map(|p| QueueKind::ALL.iter().map(|k| k.queue_name(p.her_id)))
            .collect()
    }

    /// The routing keys `user` may publish to on the namespace exchange (a regular
    /// expression): a kommune the register's `_async` queues, the register every
    /// `_async` and `_error` queue.
    pub fn write_keys(&self, her: HerId) -> String {
        if self.register.contains(&her) {
            r"^[0-9]+_(async|error)$".to_string()
        } else {
            let regs: Vec<String> = self.register.iter().map(|h| h.to_string()).collect();
            format!("^({})_async$", regs.join("|"))
        }
    }

    fn queue_arguments(&self, her: HerId, kind: QueueKind, quorum: bool) -> Map<String, Value> {
        let mut args = Map::new();
        if quorum {
            args.insert("x-queue-type".into(), json!("quorum"));
            args.insert("x-delivery-limit".into(), json!(DELIVERY_LIMIT));
        }
        if kind != QueueKind::DeadLetter {
            args.insert("x-dead-letter-exchange".into(), json!(self.namespace));
            args.insert(
                "x-dead-letter-routing-key".into(),
                json!(QueueKind::DeadLetter.queue_name(her)),
            );
        }
        args
    }
}

/// Creates the run's vhost, exchange, queues, bindings, users and permissions (each call
/// idempotent: provisioning again after a failure completes it). The management user gets
/// full permissions on the vhost. Returns whether the queues are quorum queues.
pub async fn provision(api: &Management, plan: &RunPlan) -> Result<bool, ManagementError> {
    let quorum = match plan.queue_type {
        QueueType::Quorum => true,
        QueueType::Classic => false,
        QueueType::Auto => api.nodes().await?.len() > 1,
    };
    let vhost = plan.vhost.as_str();
    api.create_vhost(vhost).await?;
    api.set_permissions(vhost, api_user(api), ".*", ".*", ".*")
        .await?;
    api.declare_exchange(vhost, &plan.namespace, "topic")
        .await?;
    for p in &plan.participants {
        for kind in QueueKind::ALL {
            let q = kind.queue_name(p.her_id);
            api.declare_queue(vhost, &q, plan.queue_arguments(p.her_id, kind, quorum))
                .await?;
            api.bind(vhost, &plan.namespace, &q, &q).await?;
        }
    }
    for p in &plan.participants {
        api.put_user(&p.username, &p.password).await?;
        let own = format!("^{}_(async|sync|error|dl|syncreply)$", p.her_id);
        let exchange = format!("^{}$", regex_escape(&plan.namespace));
        api.set_permissions(vhost, &p.username, "^$", &exchange, &own)
            .await?;
        api.set_topic_permissions(
            vhost,
            &p.username,
            &plan.namespace,
            &plan.write_keys(p.her_id),
            "^$",
        )
        .await?;
    }
    tracing::info!(
        vhost,
        queues = plan.participants.len() * QueueKind::ALL.len(),
        users = plan.participants.len(),
        quorum,
        "RabbitMQ run provisioned"
    );
    Ok(quorum)
}

fn api_user(api: &Management) -> &str {
    api.username()
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' && c != '-' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Removes the run's vhost (its queues, exchange and messages) and its users.
pub async fn teardown(api: &Management, plan: &RunPlan) -> Result<(), ManagementError> {
    api.delete_vhost(&plan.vhost).await?;
    for p in &plan.participants {
        api.delete_user(&p.username).await?;
    }
    tracing::info!(vhost = %plan.vhost, "RabbitMQ run removed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn her(n: u32) -> HerId {
        HerId::new(n).unwrap()
    }

    #[test]
    fn a_kommune_writes_only_to_the_register() {
        let plan = RunPlan {
            vhost: "v".into(),
            namespace: "NS".into(),
            queue_type: QueueType::Auto,
            participants: vec![],
            register: vec![her(134197), her(131725)],
        };
        assert_eq!(plan.write_keys(her(12345)), "^(134197|131725)_async$");
        assert_eq!(plan.write_keys(her(131725)), "^[0-9]+_(async|error)$");
        let a = plan.queue_arguments(her(1), QueueKind::Async, true);
        assert_eq!(a["x-delivery-limit"], json!(10));
        assert_eq!(a["x-dead-letter-routing-key"], json!("1_dl"));
        let dl = plan.queue_arguments(her(1), QueueKind::DeadLetter, false);
        assert!(dl.is_empty());
        assert_eq!(regex_escape("a.b"), r"a\.b");
    }
}
