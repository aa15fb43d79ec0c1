//! A client of RabbitMQ's management HTTP API (the calls provisioning needs, and the
//! queue counters tests and operators read).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::url::ManagementUrl;

/// Errors of the management API.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    /// The request did not get an answer.
    #[error("RabbitMQ management API {what}: {source}")]
    Http {
        /// The call.
        what: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The request over https (the management API behind TLS) did not get an answer.
    #[error("RabbitMQ management API {what}: {reason}")]
    Https {
        /// The call.
        what: String,
        /// Why.
        reason: String,
    },
    /// RabbitMQ answered with an error status.
    #[error("RabbitMQ management API {what}: HTTP {status}: {body}")]
    Status {
        /// The call.
        what: String,
        /// The status.
        status: u16,
        /// The answer's body (RabbitMQ's `reason`).
        body: String,
    },
    /// The answer was not what the API documents.
    #[error("RabbitMQ management API {what}: unexpected answer: {reason}")]
    Answer {
        /// The call.
        what: String,
        /// What was wrong.
        reason: String,
    },
}

/// A queue's counters as the management API shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct QueueStats {
    /// The queue's name.
    pub name: String,
    /// `classic`, `quorum`, `stream`.
    #[serde(rename = "type", default)]
    pub queue_type: String,
    /// Messages in the queue (ready + unacknowledged).
    #[serde(default)]
    pub messages: u64,
    /// Messages published into the queue since it was created
    /// (`message_stats.publish`; 0 before the first stats interval).
    #[serde(default)]
    pub published: u64,
    /// Messages delivered to consumers and acknowledged (`message_stats.ack`).
    #[serde(default)]
    pub acknowledged: u64,
    /// Messages delivered (`message_stats.deliver_get`).
    #[serde(default)]
    pub delivered: u64,
    /// The queue's arguments.
    #[serde(default)]
    pub arguments: serde_json::Map<String, Value>,
}

/// The management API of one RabbitMQ (any node of a cluster).
#[derive(Clone)]
pub struct Management {
    url: ManagementUrl,
    http: reqwest::Client,
    /// For an `https://` API: TLS verified against the CA (reqwest is built without TLS,
    /// so https goes through hyper and [`crate::tls_client`]).
    tls: Option<tokio_rustls::TlsConnector>,
}

/// `host:port`, `[v6]:port`, `host` or `[v6]` (the default port): the host without
/// brackets and the port.
fn host_port(s: &str, default: u16) -> (&str, u16) {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (h, port.unwrap_or(default));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().unwrap_or(default)),
        _ => (s, default),
    }
}

impl std::fmt::Debug for Management {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Management")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A path segment, percent-encoded (vhost and user names may hold `/`).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Management {
    /// A client of the API at `url` (10 s per request), plain `http://` only.
    pub fn new(url: ManagementUrl) -> Result<Management, ManagementError> {
        Management::with_ca(url, None)
    }

    /// A client of the API at `url` (10 s per request); an `https://` API's certificate is
    /// verified against the CA file `ca` (PEM), which https therefore needs.
    pub fn with_ca(
        url: ManagementUrl,
        ca: Option<&std::path::Path>,
    ) -> Result<Management, ManagementError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ManagementError::Http {
                what: "client".into(),
                source: e,
            })?;
        let tls = if url.base.starts_with("https://") {
            let bad = |reason: String| ManagementError::Https {
                what: "client".into(),
                reason,
            };
            let ca = ca.ok_or_else(|| {
                bad(format!(
                    "{} is https but no CA certificate to verify it was given (--broker-ca FILE)",
                    url.base
                ))
            })?;
            Some(crate::tls_client::connector(ca).map_err(bad)?)
        } else {
            None
        };
        Ok(Management { url, http, tls })
    }

    /// One request over https: TCP, TLS (server name = the URL's host), HTTP/1.1, one
    /// connection per request. The status and the body.
    async fn call_https(
        &self,
        connector: &tokio_rustls::TlsConnector,
        method: &reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), String> {
        use base64::Engine as _;
        use http_body_util::BodyExt as _;
        let rest = self.url.base.trim_start_matches("https://");
        let (hostport, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = host_port(hostport, 443);
        let work = async {
            let tcp = tokio::net::TcpStream::connect((host, port))
                .await
                .map_err(|e| format!("connect {hostport}: {e}"))?;
            let tls = crate::tls_client::handshake(connector, host, port, tcp).await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .map_err(|e| format!("{hostport}: {e}"))?;
            let conn = tokio::spawn(conn);
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.url.username, self.url.password));
            let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
            let req = hyper::Request::builder()
                .method(method.as_str())
                .uri(format!("{prefix}/api/{path}"))
                .header("host", hostport)
                .header("authorization", format!("Basic {auth}"))
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(hyper::body::Bytes::from(bytes)))
                .map_err(|e| e.to_string())?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("{hostport}: {e}"))?;
            let status = resp.status().as_u16();
            let text = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{hostport}: {e}"))?
                .to_bytes();
            conn.abort();
            Ok((status, String::from_utf8_lossy(&text).into_owned()))
        };
        tokio::time::timeout(Duration::from_secs(10), work)
            .await
            .map_err(|_| format!("{hostport}: no answer within 10 s"))?
    }

    /// The management user's name.
    pub fn username(&self) -> &str {
        &self.url.username
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, ManagementError> {
        let what = format!("{method} {path}");
        let (status, text) = match &self.tls {
            Some(connector) => self
                .call_https(connector, &method, path, body.as_ref())
                .await
                .map_err(|reason| ManagementError::Https {
                    what: what.clone(),
                    reason,
                })?,
            None => self.call_http(&what, method, path, body).await?,
        };
        if !(200..300).contains(&status) {
            return Err(ManagementError::Status {
                what,
                status,
                body: text,
            });
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ManagementError::Answer {
                what,
                reason: e.to_string(),
            })
    }

    /// One request over plain http (reqwest). The status and the body.
    async fn call_http(
        &self,
        what: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, String), ManagementError> {
        let mut req = self
            .http
            .request(method, format!("{}/api/{path}", self.url.base))
            .basic_auth(&self.url.username, Some(&self.url.password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| ManagementError::Http {
            what: what.to_string(),
            source: e,
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| ManagementError::Http {
            what: what.to_string(),
            source: e,
        })?;
        Ok((status, text))
    }

    async fn put(&self, path: &str, body: Value) -> Result<(), ManagementError> {
        self.call(reqwest::Method::PUT, path, Some(body)).await?;
        Ok(())
    }

    async fn get(&self, path: &str) -> Result<Value, ManagementError> {
        self.call(reqwest::Method::GET, path, None)
            .await?
            .ok_or_else(|| ManagementError::Answer {
                what: format!("GET {path}"),
                reason: "empty body".into(),
            })
    }

    /// Deletes; a 404 (already gone) is not an error.
    async fn delete(&self, path: &str) -> Result<(), ManagementError> {
        match self.call(reqwest::Method::DELETE, path, None).await {
            Ok(_) => Ok(()),
            Err(ManagementError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The cluster's node names (`GET /api/nodes`).
    pub async fn nodes(&self) -> Result<Vec<String>, ManagementError> {
        let v = self.get("nodes").await?;
        let arr = v.as_array().ok_or_else(|| ManagementError::Answer {
            what: "GET nodes".into(),
            reason: "not a list".into(),
        })?;
        Ok(arr
            .iter()
            .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    /// Creates a vhost (idempotent).
    pub async fn create_vhost(&self, vhost: &str) -> Result<(), ManagementError> {
        self.put(
            &format!("vhosts/{}", seg(vhost)),
            json!({"description": "iplos-harness run"}),
        )
        .await
    }

    /// Deletes a vhost with everything in it.
    pub async fn delete_vhost(&self, vhost: &str) -> Result<(), ManagementError> {
        self.delete(&format!("vhosts/{}", seg(vhost))).await
    }

    /// Creates or updates a user with a password and no tags.
    pub async fn put_user(&self, user: &str, password: &str) -> Result<(), ManagementError> {
        self.put(
            &format!("users/{}", seg(user)),
            json!({"password": password, "tags": ""}),
        )
        .await
    }

    /// Deletes a user.
    pub async fn delete_user(&self, user: &str) -> Result<(), ManagementError> {
        self.delete(&format!("users/{}", seg(user))).await
    }

    /// The users' names.
    pub async fn users(&self) -> Result<Vec<String>, ManagementError> {
        let v = self.get("users").await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Sets a user's permissions on a vhost (regular expressions on resource names).
    pub async fn set_permissions(
        &self,
        vhost: &str,
        user: &str,
        configure: &str,
        write: &str,
        read: &str,
    ) -> Result<(), ManagementError> {
        self.put(
            &format!("permissions/{}/{}", seg(vhost), seg(user)),
            json!({"configure": configure, "write": write, "read": read}),
        )
        .await
    }

    /// Sets a user's topic permissions on a topic exchange (regular expressions on
    /// routing keys).
    pub async fn set_topic_permissions(
        &self,
        vhost: &str,
        user: &str,
        exchange: &str,
        write: &str,
        read: &str,
    ) -> Result<(), ManagementError> {
        self.put(
            &format!("topic-permissions/{}/{}", seg(vhost), seg(user)),
            json!({"exchange": exchange, "write": write, "read": read}),
        )
        .await
    }

    /// Declares a durable exchange of `kind` (`topic`, `direct`…).
    pub async fn declare_exchange(
        &self,
        vhost: &str,
        name: &str,
        kind: &str,
    ) -> Result<(), ManagementError> {
        self.put(
            &format!("exchanges/{}/{}", seg(vhost), seg(name)),
            json!({"type": kind, "durable": true, "auto_delete": false, "internal": false, "arguments": {}}),
        )
        .await
    }

    /// Declares a durable queue with these arguments.
    pub async fn declare_queue(
        &self,
        vhost: &str,
        name: &str,
        arguments: serde_json::Map<String, Value>,
    ) -> Result<(), ManagementError> {
        self.put(
            &format!("queues/{}/{}", seg(vhost), seg(name)),
            json!({"durable": true, "auto_delete": false, "arguments": arguments}),
        )
        .await
    }

    /// Binds a queue to an exchange with a routing key.
    pub async fn bind(
        &self,
        vhost: &str,
        exchange: &str,
        queue: &str,
        routing_key: &str,
    ) -> Result<(), ManagementError> {
        self.call(
            reqwest::Method::POST,
            &format!(
                "bindings/{}/e/{}/q/{}",
                seg(vhost),
                seg(exchange),
                seg(queue)
            ),
            Some(json!({"routing_key": routing_key, "arguments": {}})),
        )
        .await?;
        Ok(())
    }

    /// Every queue of a vhost with its counters.
    pub async fn queues(&self, vhost: &str) -> Result<Vec<QueueStats>, ManagementError> {
        let v = self.get(&format!("queues/{}", seg(vhost))).await?;
        let arr = v.as_array().ok_or_else(|| ManagementError::Answer {
            what: "GET queues".into(),
            reason: "not a list".into(),
        })?;
        Ok(arr.iter().map(queue_stats).collect())
    }
}

fn queue_stats(q: &Value) -> QueueStats {
    let stat = |k: &str| {
        q.get("message_stats")
            .and_then(|s| s.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    QueueStats {
        name: q
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        queue_type: q
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("classic")
            .to_string(),
        messages: q.get("messages").and_then(Value::as_u64).unwrap_or(0),
        published: stat("publish"),
        acknowledged: stat("ack"),
        delivered: stat("deliver_get"),
        arguments: q
            .get("arguments")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(super::seg("/"), "%2F");
        assert_eq!(super::seg("iplos-run_1.x"), "iplos-run_1.x");
        assert_eq!(super::seg("a b"), "a%20b");
    }

    #[test]
    fn https_hosts_and_ports() {
        use super::host_port;
        assert_eq!(host_port("rabbit1:15671", 443), ("rabbit1", 15671));
        assert_eq!(host_port("rabbit1", 443), ("rabbit1", 443));
        assert_eq!(host_port("[::1]:15671", 443), ("::1", 15671));
        assert_eq!(host_port("[::1]", 443), ("::1", 443));
    }

    #[test]
    fn https_needs_the_ca() {
        let url = super::ManagementUrl::parse("https://a:b@rabbit1:15671").unwrap();
        let e = super::Management::with_ca(url.clone(), None).unwrap_err();
        assert!(e.to_string().contains("--broker-ca"), "{e}");
        let e = super::Management::with_ca(url, Some("/nonexistent/ca.pem".as_ref())).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        // Plain http needs none.
        let url = super::ManagementUrl::parse("http://a:b@rabbit1:15672").unwrap();
        assert!(super::Management::new(url).is_ok());
    }
}
