//! A submission: the IT faults that keep the kommune from the endpoint, then the
//! season's channel.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::corrections::retry_after_fix;
use super::{sendemodul, servicebus};
use crate::engine::queue::{Kind, Queue};
use crate::engine::world::{Agent, Channel, EngineConfig, World};
use crate::scenario::Fault;

/// A kommune submits a file of `kind` (event `Submit`).
pub(crate) async fn submit(
    cfg: &EngineConfig,
    w: &World,
    a: &mut Agent,
    i: usize,
    q: &mut Queue,
    t: DateTime<Utc>,
    kind: Kind,
) -> Result<()> {
    // IT faults: nothing reaches the endpoint until IT has fixed it.
    for f in [Fault::FirewallClosed, Fault::DnsNotResolving] {
        if a.plan.has(f) && !a.it_fixed {
            let what = if f == Fault::FirewallClosed {
                probe_closed_port().await
            } else {
                "iplos.nhn.no did not resolve (simulated; no lookup is made)".to_string()
            };
            a.note(t, "unreachable", format!("{}: {what}", f.title()));
            a.cause(kind.phase(), f);
            a.it_fixed = true;
            return retry_after_fix(cfg, a, i, q, t, kind);
        }
    }
    match &w.channel {
        Channel::Sendemodul => sendemodul::submit(cfg, w, a, i, q, t, kind).await,
        Channel::Servicebus(b) => servicebus::submit(cfg, w, b, a, i, q, t, kind).await,
    }
}

/// A real connection attempt to a port where nothing listens: what a closed firewall
/// looks like from the kommune.
async fn probe_closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0");
    let port = l
        .as_ref()
        .ok()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port());
    drop(l);
    match port {
        Some(p) => match tokio::net::TcpStream::connect(("127.0.0.1", p)).await {
            Err(e) => format!("connection failed: {e}"),
            Ok(_) => "connected (unexpectedly)".into(),
        },
        None => "no port".into(),
    }
}
