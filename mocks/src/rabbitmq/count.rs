//! Counting the messages waiting on a queue as an AMQP 1.0 client of the broker (not
//! through the management API: what a harness reports comes from clients).

use std::time::Duration;

use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::{Receiver, Session};
use fe2o3_amqp_types::messaging::Body;
use fe2o3_amqp_types::primitives::Value;

/// Counts the messages on `queue` of `vhost`: consumes them with `user`'s login until the
/// queue has been quiet for `quiet`, then releases every one (they stay on the queue, their
/// delivery count one higher on a quorum queue). The first node that accepts is used,
/// over TLS when `tls` is given (`amqps://` nodes).
pub async fn count_messages(
    nodes: &[(String, u16)],
    vhost: &str,
    (user, password): (&str, &str),
    tls: Option<&tokio_rustls::TlsConnector>,
    queue: &str,
    quiet: Duration,
) -> Result<usize, String> {
    let mut last = String::from("no node");
    for (host, port) in nodes {
        let login = super::ClientLogin {
            container_id: format!("iplos-count-{queue}"),
            vhost: Some(vhost),
            user: user.to_string(),
            password: password.to_string(),
            tls,
        };
        let mut connection = match super::open_client(host, *port, login).await {
            Ok(c) => c,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let mut session = Session::begin(&mut connection)
            .await
            .map_err(|e| format!("session: {e}"))?;
        let mut receiver = Receiver::builder()
            .name(format!("iplos-count-{queue}"))
            .source(format!("/amq/queue/{queue}"))
            .credit_mode(CreditMode::Auto(200))
            .attach(&mut session)
            .await
            .map_err(|e| format!("attach to {queue}: {e}"))?;
        let mut held = Vec::new();
        while let Ok(Ok(delivery)) =
            tokio::time::timeout(quiet, receiver.recv::<Body<Value>>()).await
        {
            held.push(delivery);
            if held.len() >= 100_000 {
                break;
            }
        }
        let n = held.len();
        let closing = async {
            for d in held {
                let _ = receiver.release(d).await;
            }
            let _ = receiver.close().await;
            let _ = session.end().await;
            let _ = connection.close().await;
        };
        // Released or not, what was not accepted goes back when the connection ends.
        let _ = tokio::time::timeout(Duration::from_secs(5), closing).await;
        return Ok(n);
    }
    Err(format!("no broker node accepts a connection ({last})"))
}
