//! Opening an AMQP 1.0 connection to one RabbitMQ node as a client of ours (the register's
//! receiver, the `_error` queue count): TCP, TLS for `amqps://` nodes, SASL PLAIN, the
//! run's vhost in the open's hostname, every step bounded in time.

use std::time::Duration;

use fe2o3_amqp::connection::ConnectionHandle;

/// Who opens the connection, and how.
pub struct ClientLogin<'a> {
    /// The container-id sent in the open.
    pub container_id: String,
    /// The run's vhost (`vhost:<vhost>` as the open's hostname); `None`: the node's host.
    pub vhost: Option<&'a str>,
    /// The RabbitMQ user name (with its vhost prefix, where the run has one).
    pub user: String,
    pub password: String,
    /// TLS for an `amqps://` node; `None`: plain AMQP.
    pub tls: Option<&'a tokio_rustls::TlsConnector>,
}

/// Connects to `host:port` (5 s) and opens the connection, TLS and SASL included (10 s):
/// a node that takes the connection and never answers does not hold the caller. Errors
/// name the node.
pub async fn open_client(
    host: &str,
    port: u16,
    login: ClientLogin<'_>,
) -> Result<ConnectionHandle<()>, String> {
    let node = format!("{host}:{port}");
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| format!("connect {node}: timed out"))?
    .map_err(|e| format!("connect {node}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let open_host = login
        .vhost
        .map_or_else(|| host.to_string(), |v| format!("vhost:{v}"));
    let builder = fe2o3_amqp::Connection::builder()
        .container_id(login.container_id)
        .hostname(open_host.as_str())
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: login.user,
            password: login.password,
        });
    let open = async {
        match login.tls {
            Some(connector) => {
                let stream = crate::tls_client::handshake(connector, host, port, tcp).await?;
                builder
                    .open_with_stream(stream)
                    .await
                    .map_err(|e| format!("open {node}: {e:?}"))
            }
            None => builder
                .open_with_stream(tcp)
                .await
                .map_err(|e| format!("open {node}: {e:?}")),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), open)
        .await
        .map_err(|_| format!("open {node}: no answer within 10 s"))?
}
