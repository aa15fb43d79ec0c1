//! Sendemodul — the web upload of the IPLOS file for data years ≤ 2017 (DOMAIN.md §3,
//! seeds 000–003), as an HTTP server in front of the national [`Intake`].
//!
//! # Pages
//!
//! Two portals with the same pages: `/Sendemodul/` (ordinary submission and corrections,
//! [`Channel::Ordinary`]) and `/SendemodulTEST/` (the test week, [`Channel::Test`]). Plain
//! HTML forms, UTF-8, no JavaScript (Internet Explorer 11 was the preferred browser), every
//! input with a `<label for>`; Norwegian text with English in parentheses.
//!
//! | page | method and path | fields |
//! |---|---|---|
//! | login | `GET /{portal}/`, `POST /{portal}/login` | `kommunenr`, `bydel`, `orgnr`, `pin` |
//! | upload | `GET /{portal}/upload`, `POST /{portal}/upload` (multipart) | `fil` (the file), `epost` (contact e-mail, required), `telefon` (optional), `tilbakemeldingspassord` (feedback key, ≥ 6 characters), `del` and `antall_deler` (part n of m, default 1 of 1), `gruppe` (upload group id; the page issues one as a hidden field), `csrf` |
//! | receipt | answer of a complete upload; `GET /{portal}/receipt/{id}` | kommune, bydel, file name, size, SHA-256, arrival (Europe/Oslo), when the e-mail receipt is due, the check's error and warning counts |
//! | history | `GET /{portal}/history` | the logged-in kommune's own uploads and its pending split uploads |
//! | logout | `POST /{portal}/logout` | `csrf` |
//!
//! # Login
//!
//! All four values must match: the kommunenummer is a kommune of the configured data year's
//! registry ([`iplos_model::municipality`]); the bydel is `00`, unless the kommune is
//! configured with other bydeler ([`SendemodulConfig::bydeler`]); the organisasjonsnummer is
//! the kommune's; the PIN is the kommune's KOSTRA PIN ([`Pins`]: configured, or
//! [`Pins::derive`]d from a seed). Every wrong combination gets the **same** answer — 401 and a
//! page saying the combination is not recognised; which field was wrong goes only to the log
//! (`tracing`, target `iplos_mocks::sendemodul`) and to [`Sendemodul::login_attempts`].
//! A successful login sets the cookie `SendemodulSession` (random 256-bit token, `HttpOnly`,
//! `SameSite=Lax`, `Path=/{portal}/`, `Max-Age` = [`SendemodulConfig::session_lifetime`]);
//! the session ends after that long without a request on the injected clock, at logout, or
//! when the server stops. A session belongs to one portal and one kommune: it sees only that
//! kommune's uploads on that portal (any other receipt id answers 404).
//!
//! # Rate limit
//!
//! **\[model\]** After [`SendemodulConfig::max_failures`] (5) failed logins for one
//! kommunenummer (as typed, known or not) further attempts for it are refused with **429**
//! and a page saying when to try again, for [`SendemodulConfig::lockout`] (15 minutes) on the
//! injected clock — the correct PIN included. The lock is the account's: other kommuner
//! logging in from the same address (one NAT, one host) are not affected. One client address
//! is locked the same way only after [`SendemodulConfig::max_failures_per_address`] (100)
//! failures, whatever the kommunenummer (someone trying many kommuner). A successful login
//! clears the counts of its kommunenummer and address.
//!
//! # Split uploads
//!
//! A file may be "evt. splittet" (DOMAIN.md §3): each part is one upload with `del` = n,
//! `antall_deler` = m and the same `gruppe` id (letters, digits, `-`, `_`; up to 64). Parts
//! are kept (as files under the state directory) until all m have arrived, then reassembled
//! in order and only the complete file goes to [`Intake::submit`]. Checks: every part once
//! (a repeated part number is refused with 409), the same m for every part of a group, no
//! empty part, and every part but the last the same size with the last no larger
//! (**\[model\]** as 7-Zip's split volumes are; a group failing that is discarded with 422).
//! While parts are missing the answer is 202 and a page naming the missing parts; nothing
//! partial is ever submitted. **\[model\]** The group's file name is part 1's with a split
//! suffix `.001`… removed. Pending groups live in memory: a restart drops them (the kommune
//! uploads again), as do more than [`MAX_PENDING_GROUPS`] per kommune.
//!
//! # Limits
//!
//! - [`SendemodulConfig::max_part_bytes`] (512 MiB) per upload: a `Content-Length` above it
//!   (plus [`FORM_OVERHEAD`] for the other fields) is refused with 413 before the body is
//!   read; a body without length is counted while it streams to a temporary file and refused
//!   with 413 the moment it passes the limit. An upload is never held in memory whole.
//! - A body that stalls for [`SendemodulConfig::read_timeout`], or a multipart body that ends
//!   without its closing boundary, is refused with 400.
//! - File names are reduced to their last path component (Internet Explorer sends
//!   `C:\…\fil.xml`; `../../x` becomes `x`); a name with NUL or control characters, or
//!   nothing left (`..`, empty), is refused with 400. The name is only ever data, never a path.
//! - Text fields: at most 4 KiB each, at most 32 fields.
//!
//! **\[model\]** The uploaded file is the IPLOS XML itself: the encryption of IPIS
//! krypteringsmodul v1.4 is not public, so the intake checks the content as uploaded.

mod app;
mod groups;
mod pages;
mod types;
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Duration;
use iplos_model::calendar::Clock;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::app::{App, lock};
pub use self::types::{
    COOKIE, FORM_OVERHEAD, LoginAttempt, LoginOutcome, MAX_PENDING_GROUPS, Pins, SendemodulConfig,
    SendemodulError, portal_name,
};
pub use crate::intake::Channel;
use crate::intake::Intake;

/// A running Sendemodul. Dropping it stops the server (without waiting).
pub struct Sendemodul {
    app: Arc<App>,
    addr: SocketAddr,
    base_url: String,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sendemodul {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sendemodul")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Sendemodul {
    /// Binds and serves both portals in front of `intake`. Must be called within a tokio
    /// runtime.
    pub async fn start(
        config: SendemodulConfig,
        intake: Intake,
        clock: Arc<dyn Clock>,
    ) -> Result<Sendemodul, SendemodulError> {
        if config.max_part_bytes == 0
            || config.max_parts == 0
            || config.max_failures == 0
            || config.max_failures_per_address == 0
        {
            return Err(SendemodulError::Config(
                "max_part_bytes, max_parts and max_failures must be positive".into(),
            ));
        }
        if config.lockout <= Duration::zero() || config.session_lifetime <= Duration::zero() {
            return Err(SendemodulError::Config(
                "lockout and session_lifetime must be positive".into(),
            ));
        }
        if u16::try_from(config.data_year)
            .ok()
            .and_then(|y| iplos_model::municipality::municipalities(y).ok())
            .is_none()
        {
            return Err(SendemodulError::Config(format!(
                "no kommune registry for data year {}",
                config.data_year
            )));
        }
        let (parts_dir, tmp) = match &config.state_dir {
            Some(d) => {
                let p = d.join("sendemodul-parts");
                std::fs::create_dir_all(&p)?;
                (p, None)
            }
            None => {
                let t = tempfile::Builder::new().prefix("sendemodul-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App::new(config, intake, clock, parts_dir, tmp));
        let router = pages::routes(&app).with_state(app.clone());
        let http = app.config.http;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                while !*stopped.borrow_and_update() {
                    if stopped.changed().await.is_err() {
                        break;
                    }
                }
            };
            crate::http_limits::serve(listener, router, http, shutdown).await;
        });
        tracing::info!(target: "iplos_mocks::sendemodul", %addr, "sendemodul listening");
        Ok(Sendemodul {
            app,
            addr,
            base_url: format!("http://{addr}"),
            stop,
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The start page of a portal: `<base>/Sendemodul/` or `<base>/SendemodulTEST/`.
    pub fn portal_url(&self, channel: Channel) -> String {
        format!("{}/{}/", self.base_url, portal_name(channel))
    }

    /// The PIN kommune `knr` logs in with.
    pub fn pin(&self, knr: &str) -> String {
        self.app.config.pins.pin(knr)
    }

    /// The intake behind the server.
    pub fn intake(&self) -> &Intake {
        &self.app.intake
    }

    /// The login attempts recorded (the latest 10 000).
    pub fn login_attempts(&self) -> Vec<LoginAttempt> {
        lock(&self.app.attempts).iter().cloned().collect()
    }

    /// Pending split uploads: (kommunenr, group id, parts received, part count).
    pub fn pending_groups(&self) -> Vec<(String, String, Vec<u32>, u32)> {
        lock(&self.app.groups)
            .iter()
            .map(|(k, g)| {
                (
                    k.kommunenr.clone(),
                    k.group.clone(),
                    g.parts.keys().copied().collect(),
                    g.count,
                )
            })
            .collect()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sendemodul {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
