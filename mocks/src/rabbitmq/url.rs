//! The addresses of an external broker: the AMQP nodes and the management API.

/// One AMQP node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `amqp[s]://USER:PASS@HOST:PORT[,amqp://HOST2:PORT2…][/NAMESPACE][?vhost=VHOST]`: the
/// nodes of a broker (a cluster's nodes in the order to try), one login.
///
/// Later nodes may repeat the scheme (`,amqp://h2:5672`), give a login of their own
/// (ignored: one login for all) or be bare (`,h2:5672`). The path, when given, is the
/// namespace; `vhost` selects the RabbitMQ vhost (sent as the AMQP open's hostname
/// `vhost:<name>`, as RabbitMQ's AMQP 1.0 plugin reads it).
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// `amqps`.
    pub tls: bool,
    /// SASL PLAIN user.
    pub username: String,
    /// SASL PLAIN password.
    pub password: String,
    /// The nodes, at least one.
    pub nodes: Vec<Node>,
    /// The namespace (path), if given.
    pub namespace: Option<String>,
    /// The vhost (`?vhost=`), if given.
    pub vhost: Option<String>,
}

impl std::fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerUrl")
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("nodes", &self.nodes)
            .field("namespace", &self.namespace)
            .field("vhost", &self.vhost)
            .finish_non_exhaustive()
    }
}

fn strip_scheme(s: &str) -> Option<(bool, &str)> {
    if let Some(r) = s.strip_prefix("amqps://") {
        Some((true, r))
    } else {
        s.strip_prefix("amqp://").map(|r| (false, r))
    }
}

fn parse_node(s: &str, tls: bool, whole: &str) -> Result<Node, String> {
    let bad = |why: &str| format!("{why}: {whole}");
    let default_port = if tls { 5671 } else { 5672 };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None if after.is_empty() => default_port,
            None => return Err(bad("bad host")),
        };
        (h.to_string(), port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad("bad port"))?),
            None => (s.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Node { host, port })
}

impl BrokerUrl {
    /// Parses the form above.
    pub fn parse(s: &str) -> Result<BrokerUrl, String> {
        let (tls, rest) =
            strip_scheme(s).ok_or_else(|| format!("expected amqp:// or amqps://: {s}"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (auth, rest) = rest
            .split_once('@')
            .ok_or_else(|| format!("no USER:PASS@: {s}"))?;
        let (username, password) = auth
            .split_once(':')
            .ok_or_else(|| format!("no password: {s}"))?;
        // The namespace path follows the last node.
        let (nodes_part, namespace) = match rest.rfind('/') {
            Some(i) if !rest[..i].ends_with(':') && !rest[..i].ends_with("/") => {
                let ns = rest[i + 1..].trim_matches('/');
                (&rest[..i], (!ns.is_empty()).then(|| ns.to_string()))
            }
            _ => (rest, None),
        };
        let mut nodes = Vec::new();
        for (i, part) in nodes_part.split(',').enumerate() {
            let part = part.trim();
            let part = if i == 0 {
                part
            } else {
                let p = strip_scheme(part).map(|(_, r)| r).unwrap_or(part);
                p.rsplit_once('@').map(|(_, r)| r).unwrap_or(p)
            };
            // A later node written as `amqp://h:p/` keeps no path of its own.
            nodes.push(parse_node(part.trim_end_matches('/'), tls, s)?);
        }
        let mut vhost = None;
        for kv in query.unwrap_or("").split('&').filter(|kv| !kv.is_empty()) {
            match kv.split_once('=') {
                Some(("vhost", v)) if !v.is_empty() => vhost = Some(v.to_string()),
                _ => return Err(format!("unknown query parameter '{kv}' (only vhost=): {s}")),
            }
        }
        Ok(BrokerUrl {
            tls,
            username: username.to_string(),
            password: password.to_string(),
            nodes,
            namespace,
            vhost,
        })
    }

    /// The connection string of `username` on every node, with the namespace and vhost.
    pub fn connection_string(
        &self,
        namespace: &str,
        vhost: &str,
        username: &str,
        password: &str,
    ) -> String {
        let nodes: Vec<String> = self.nodes.iter().map(Node::to_string).collect();
        format!(
            "{}://{username}:{password}@{}/{namespace}?vhost={vhost}",
            if self.tls { "amqps" } else { "amqp" },
            nodes.join(",")
        )
    }

    /// The AMQP open's hostname: `vhost:<vhost>` when a vhost is given, else the host.
    pub fn open_hostname(&self, node: &Node) -> String {
        match &self.vhost {
            Some(v) => format!("vhost:{v}"),
            None => node.host.clone(),
        }
    }
}

/// `http[s]://USER:PASS@HOST:PORT[/PATH]`: RabbitMQ's management API (the path prefix,
/// when the API is behind one; `/api` is appended).
#[derive(Clone, PartialEq, Eq)]
pub struct ManagementUrl {
    /// `http://host:port[/prefix]`, without credentials or trailing slash.
    pub base: String,
    /// The management user.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for ManagementUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementUrl")
            .field("base", &self.base)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl ManagementUrl {
    /// Parses the form above.
    pub fn parse(s: &str) -> Result<ManagementUrl, String> {
        let (scheme, rest) = s
            .split_once("://")
            .filter(|(sc, _)| *sc == "http" || *sc == "https")
            .ok_or_else(|| format!("expected http:// or https://: {s}"))?;
        let (auth, rest) = rest
            .split_once('@')
            .ok_or_else(|| format!("no USER:PASS@: {s}"))?;
        let (username, password) = auth
            .split_once(':')
            .ok_or_else(|| format!("no password: {s}"))?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Err(format!("no host: {s}"));
        }
        Ok(ManagementUrl {
            base: format!("{scheme}://{rest}"),
            username: username.to_string(),
            password: password.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_nodes_one_login() {
        let u = BrokerUrl::parse(
            "amqp://kpr:secret@127.0.0.1:5672,amqp://127.0.0.2:5673,h3/NS?vhost=iplos-x",
        )
        .unwrap();
        assert_eq!(u.username, "kpr");
        assert_eq!(u.password, "secret");
        assert_eq!(
            u.nodes,
            vec![
                Node {
                    host: "127.0.0.1".into(),
                    port: 5672
                },
                Node {
                    host: "127.0.0.2".into(),
                    port: 5673
                },
                Node {
                    host: "h3".into(),
                    port: 5672
                }
            ]
        );
        assert_eq!(u.namespace.as_deref(), Some("NS"));
        assert_eq!(u.vhost.as_deref(), Some("iplos-x"));
        let s = u.connection_string("NS", "iplos-x", "k", "p");
        assert_eq!(
            s,
            "amqp://k:p@127.0.0.1:5672,127.0.0.2:5673,h3:5672/NS?vhost=iplos-x"
        );
        assert_eq!(BrokerUrl::parse(&s).unwrap().nodes, u.nodes);
    }

    #[test]
    fn single_node_and_errors() {
        let u = BrokerUrl::parse("amqps://a:b@[::1]").unwrap();
        assert!(u.tls);
        assert_eq!(u.nodes[0].port, 5671);
        assert_eq!(u.nodes[0].to_string(), "[::1]:5671");
        assert!(u.namespace.is_none() && u.vhost.is_none());
        assert!(BrokerUrl::parse("http://a:b@h").is_err());
        assert!(BrokerUrl::parse("amqp://h:5672").is_err());
        assert!(BrokerUrl::parse("amqp://a:b@h:x").is_err());
        assert!(BrokerUrl::parse("amqp://a:b@h?x=1").is_err());
    }

    #[test]
    fn management_url() {
        let m = ManagementUrl::parse("http://admin:pw@127.0.0.1:15672/").unwrap();
        assert_eq!(m.base, "http://127.0.0.1:15672");
        assert_eq!((m.username.as_str(), m.password.as_str()), ("admin", "pw"));
        assert!(!format!("{m:?}").contains("pw"));
        assert!(ManagementUrl::parse("amqp://a:b@h").is_err());
        assert!(ManagementUrl::parse("http://h:1").is_err());
    }
}
