//! Starting the capture server (SMTP + HTTP) and its handle.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use iplos_model::calendar::Clock;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::MailError;
use super::smtp::{self, SessionEvent, Shared, SmtpLimits};
use super::store::{
    CapturedMessage, MailStore, MailboxSummary, MessageId, MessageSummary, Storage,
};

/// Configuration of the capture server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// Where SMTP listens. Default 127.0.0.1, port 0 (any free port).
    pub smtp_bind: SocketAddr,
    /// Where the HTTP reading API listens; `None` for no HTTP. Default 127.0.0.1:0.
    pub http_bind: Option<SocketAddr>,
    /// Where captured mail is kept. Default in memory.
    pub storage: Storage,
    /// The name the server gives in its greeting and replies.
    pub hostname: String,
    /// Protocol limits.
    pub limits: SmtpLimits,
    /// The bearer token the HTTP reading API requires ([`crate::http_auth`]); random by
    /// default.
    pub http_token: String,
    /// The HTTP reading API's limits (header timeout and size, connections).
    pub http_limits: crate::http_limits::HttpLimits,
}

impl Default for MailConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        MailConfig {
            smtp_bind: loopback,
            http_bind: Some(loopback),
            storage: Storage::Memory,
            hostname: "mail.iplos-harness.invalid".to_string(),
            limits: SmtpLimits::default(),
            http_token: crate::http_auth::random_token(),
            http_limits: crate::http_limits::HttpLimits::default(),
        }
    }
}

impl MailConfig {
    /// The default configuration with captured mail kept in `dir`.
    pub fn in_dir(dir: impl Into<std::path::PathBuf>) -> MailConfig {
        MailConfig {
            storage: Storage::Dir(dir.into()),
            ..MailConfig::default()
        }
    }
}

/// The capture server.
#[derive(Debug)]
pub struct MailServer;

impl MailServer {
    /// Opens the store and binds SMTP (and HTTP, if configured); serves in the
    /// background on the current tokio runtime until [`MailHandle::shutdown`] or the
    /// handle is dropped. `clock` stamps the received time of each message.
    pub async fn start(config: MailConfig, clock: Arc<dyn Clock>) -> Result<MailHandle, MailError> {
        let store_cfg = config.storage.clone();
        let store = tokio::task::spawn_blocking(move || MailStore::open(&store_cfg))
            .await
            .map_err(|e| MailError::Task(e.to_string()))??;
        let smtp_listener = TcpListener::bind(config.smtp_bind)
            .await
            .map_err(|source| MailError::Io {
                what: "binding the SMTP listener",
                source,
            })?;
        let smtp_addr = smtp_listener.local_addr().map_err(|source| MailError::Io {
            what: "reading the SMTP address",
            source,
        })?;
        let http_listener = match config.http_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| MailError::Io {
                        what: "binding the HTTP listener",
                        source,
                    })?,
            ),
            None => None,
        };
        let http_addr = match &http_listener {
            Some(l) => Some(l.local_addr().map_err(|source| MailError::Io {
                what: "reading the HTTP address",
                source,
            })?),
            None => None,
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            store: store.clone(),
            clock,
            limits: config.limits.clone(),
            hostname: config.hostname.clone(),
            events: Mutex::new(VecDeque::new()),
        });
        let smtp_task = tokio::spawn(smtp::serve(
            smtp_listener,
            Arc::clone(&shared),
            shutdown_rx.clone(),
        ));
        let http_task = http_listener.map(|listener| {
            let mut rx = shutdown_rx.clone();
            let app = super::http::router(store.clone(), &config.http_token);
            let limits = config.http_limits;
            tokio::spawn(async move {
                let stop = async move {
                    while !*rx.borrow_and_update() {
                        if rx.changed().await.is_err() {
                            break;
                        }
                    }
                };
                crate::http_limits::serve(listener, app, limits, stop).await;
            })
        });
        tracing::info!(%smtp_addr, ?http_addr, "mail capture server started");
        Ok(MailHandle {
            http_token: config.http_token.clone(),
            smtp_addr,
            http_addr,
            store,
            shared,
            shutdown,
            tasks: vec![Some(smtp_task), http_task]
                .into_iter()
                .flatten()
                .collect(),
        })
    }
}

/// The running capture server: its addresses, in-process reading, shutdown. Dropping
/// the handle also stops the servers (without waiting for them).
///
/// The reading methods query SQLite directly (short, blocking calls); [`MailHandle::wait_for`]
/// runs its queries on tokio's blocking pool.
pub struct MailHandle {
    smtp_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    store: MailStore,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    http_token: String,
}

impl std::fmt::Debug for MailHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailHandle")
            .field("smtp_addr", &self.smtp_addr)
            .field("http_addr", &self.http_addr)
            .finish_non_exhaustive()
    }
}

impl MailHandle {
    /// The SMTP listener's address.
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    /// The HTTP API's address, if it runs.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The HTTP API's base URL (`http://127.0.0.1:PORT`), if it runs.
    pub fn http_url(&self) -> Option<String> {
        self.http_addr.map(|a| format!("http://{a}"))
    }

    /// The bearer token the HTTP API requires (`Authorization: Bearer <token>`).
    pub fn http_token(&self) -> &str {
        &self.http_token
    }

    /// The store the server writes to (clones share it).
    pub fn store(&self) -> &MailStore {
        &self.store
    }

    /// Every mailbox with its message count ([`MailStore::mailboxes`]).
    pub fn mailboxes(&self) -> Result<Vec<MailboxSummary>, MailError> {
        self.store.mailboxes()
    }

    /// The messages of `address`'s mailbox ([`MailStore::messages`]).
    pub fn messages(&self, address: &str) -> Result<Vec<MessageSummary>, MailError> {
        self.store.messages(address)
    }

    /// One message, parsed ([`MailStore::message`]).
    pub fn message(&self, id: MessageId) -> Result<Option<CapturedMessage>, MailError> {
        self.store.message(id)
    }

    /// One message's raw bytes ([`MailStore::raw`]).
    pub fn raw(&self, id: MessageId) -> Result<Option<Vec<u8>>, MailError> {
        self.store.raw(id)
    }

    /// Waits for a message matching `matches` ([`MailStore::wait_for`]).
    pub async fn wait_for<F>(
        &self,
        matches: F,
        timeout: Duration,
    ) -> Result<CapturedMessage, MailError>
    where
        F: Fn(&CapturedMessage) -> bool,
    {
        self.store.wait_for(matches, timeout).await
    }

    /// Waits for a message newer than `after` matching `matches`
    /// ([`MailStore::wait_for_after`]).
    pub async fn wait_for_after<F>(
        &self,
        after: MessageId,
        matches: F,
        timeout: Duration,
    ) -> Result<CapturedMessage, MailError>
    where
        F: Fn(&CapturedMessage) -> bool,
    {
        self.store.wait_for_after(after, matches, timeout).await
    }

    /// The refused commands and closed sessions logged so far (the newest 1000).
    pub fn events(&self) -> Vec<SessionEvent> {
        self.shared
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Stops accepting, tells open sessions (`421`; a message whose `DATA` has not
    /// ended is not stored and not acknowledged) and waits until both servers are down.
    pub async fn shutdown(mut self) -> Result<(), MailError> {
        self.shutdown.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            task.await.map_err(|e| MailError::Task(e.to_string()))?;
        }
        tracing::info!(smtp_addr = %self.smtp_addr, "mail capture server stopped");
        Ok(())
    }
}

impl Drop for MailHandle {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
