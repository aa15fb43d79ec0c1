//! SSB's filsluse — a MOVEit Transfer file portal — as a server (DOMAIN.md §5, seeds 000–003).
//!
//! Each kommune has one user whose **username is its postmottak address**
//! (`postmottak@<domain>.kommune.test`, or an agreed impersonal address such as
//! `meldingsansvarlig@…`). SSB puts the feedback zip in the user's folder
//! `/Home/Ekstern/iplos/<username>/frassb`; the kommune signs on and downloads it, in a
//! browser or with MOVEit's REST API.
//!
//! # What is served
//!
//! - **HTML** (plain forms, no JavaScript, as in the IE11 era): sign-on, "New User Password
//!   Request", "Password Change Request", the change-password screen with the seeds'
//!   requirements, the folder listing (Name, Created, Size/Contents, Creator, Download,
//!   Delete), download and delete. Sessions by cookie (`HttpOnly; SameSite=Lax`), a CSRF
//!   token in every POST form, times shown in Europe/Oslo with the seeds' "GMT +2 / GMT +1"
//!   line. The mails' links use MOVEit's `human.aspx` forms (`transaction=signon&pxc=…`,
//!   `arg12=passchangerequest`, `Arg12=fileview`).
//! - **REST** (a subset of MOVEit Transfer's `/api/v1`): `POST /api/v1/token` (grant types
//!   `password` — with `new_password` when a change is due — and `refresh_token`),
//!   `POST /api/v1/token/revoke`, `GET /api/v1/users/self`, `GET /api/v1/folders`,
//!   `GET /api/v1/folders/{id}`, `GET /api/v1/folders/{id}/subfolders`,
//!   `GET /api/v1/folders/{id}/files`, `GET /api/v1/folders/{id}/content`,
//!   `GET /api/v1/folders/{id}/files/{fileId}` and `…/download` (302 to the file routes, as
//!   MOVEit does), `GET /api/v1/files`, `GET /api/v1/files/{id}`,
//!   `GET /api/v1/files/{id}/download`, `DELETE /api/v1/files/{id}`, and `GET /api/v1/info`
//!   (no token). Any other path under `/api/v1` is 404, with or without a token. Field names
//!   follow MOVEit's published OpenAPI document (see `rest.rs` for what was confirmed and
//!   what was chosen). `?name=`/`?path=` masks are matched in linear time (`glob.rs`).
//!   Password links asked for are throttled per username and per address
//!   ([`LinkThrottle`]). The server keeps [`crate::http_limits`].
//!
//! # Accounts
//!
//! The administrator (the season engine, through [`Filsluse`]) creates a user
//! ([`Filsluse::create_user`]): the [`Notifier`] gets the "Ny bruker" mail with the link to
//! "New User Password Request". The user enters the username there and gets a second mail
//! ("Nytt passord - NB! Utløper på tid") with a sign-on link that expires after
//! [`FilsluseConfig::link_lifetime`] (60 minutes) **on the injected clock** and works once:
//! it signs the user on and shows "You are required to change your password now." with the
//! seeds' requirements ([`password`]). A used, expired or unknown link is refused. "Request a
//! password change" on the sign-on page does the same for a forgotten password. The answer
//! to a request never tells whether the username exists.
//!
//! A user created with a temporary password ([`UserSpec::temporary_password`],
//! [`Filsluse::set_temporary_password`]) must change it at the first sign-on: the HTML
//! shows the change-password screen, the REST token request answers 400
//! `password_change_required` with `password_requirements` until it is repeated with
//! `new_password`.
//!
//! # Mail
//!
//! Every mail goes to the [`Notifier`] given at start: [`MailNotifier`] sends them over
//! SMTP through [`crate::mail::Outbox`] (in order, retried, failures kept and counted,
//! [`MailNotifier::flush`] to wait for them); [`RecordingNotifier`] only records them.
//! The texts are in [`notify`], once.
//!
//! # Isolation
//!
//! A user sees only its own two folders and the files in them. Every route that takes an
//! id or a path answers **404** for anything that is not the caller's own — another user's
//! file or folder, an id that does not exist, or one that is not a number — so the answer
//! does not tell whether someone else's resource exists (**\[model\]**: real MOVEit says
//! 403 for some of these). A request whose path holds a traversal (`..` or `.` segments,
//! `%2e`, `\` or `%5c`, `%2f`, `//`, NUL) is refused with 400 before routing; "Go To
//! Folder" paths must be absolute and name one of the caller's folders exactly.
//!
//! # Lockout
//!
//! **\[model\]** [`LockoutPolicy`]: after 5 failed sign-ons (HTML or REST) for a username,
//! known or not, the username is locked for 15 minutes on the injected clock; while locked
//! even the right password is refused. Each failure and each lock is logged (`tracing`,
//! target `iplos_mocks::filsluse`).
//!
//! # Storage
//!
//! SQLite ([`STORE_FILE`] in [`FilsluseConfig::state_dir`], or in memory): users, PBKDF2
//! password hashes, lockouts, files with their bytes, tokens, links and sessions (the last
//! three by SHA-256 of their value). A restart on the same state directory keeps them all.

mod core;
mod glob;
mod html;
mod mailer;
pub mod mails;
pub mod notify;
pub mod password;
mod rest;
mod rest_common;
mod rest_content;
mod rest_info;
mod store;
mod throttle;
mod types;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use iplos_model::calendar::Clock;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::mailer::{FailedMail, MailNotifier, MailerConfig, MailerError};
pub use self::notify::{
    FROM, FilsluseMail, LinkReason, NewFileMail, NewUserMail, Notifier, PasswordLinkMail,
    RecordingNotifier,
};
pub use self::password::PasswordRule;
pub use self::store::StoreError;
pub use self::types::{
    DEFAULT_ORG_ID, DEFAULT_UPLOADER, FileInfo, FilsluseConfig, FilsluseError, FolderInfo,
    HOME_ROOT, LockoutPolicy, STORE_FILE, UPLOAD_FOLDER, UserInfo, UserSpec,
};

use self::core::Portal;
pub use self::throttle::LinkThrottle;

/// A running filsluse portal. Dropping it stops the server (without waiting); use
/// [`Filsluse::shutdown`] to wait.
pub struct Filsluse {
    portal: Arc<Portal>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Filsluse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filsluse")
            .field("addr", &self.addr)
            .field("base_url", &self.portal.base_url)
            .finish()
    }
}

impl Filsluse {
    /// Opens the state, creates the configured users that are missing (no mail), binds and
    /// starts serving. Must be called within a tokio runtime.
    pub async fn start(
        config: FilsluseConfig,
        clock: Arc<dyn Clock>,
        notifier: Arc<dyn Notifier>,
    ) -> Result<Filsluse, FilsluseError> {
        let store_path = match &config.state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                Some(dir.join(STORE_FILE))
            }
            None => None,
        };
        if config.link_lifetime <= Duration::zero()
            || config.access_token_lifetime <= Duration::zero()
            || config.refresh_token_lifetime <= Duration::zero()
            || config.session_idle_timeout <= Duration::zero()
        {
            return Err(FilsluseError::Config(
                "lifetimes and timeouts must be positive".into(),
            ));
        }
        let store = store::Store::open(store_path.as_deref())?;
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let base_url = config
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_string();
        let portal = Arc::new(Portal::new(store, clock, notifier, &config, base_url));
        for spec in &config.users {
            portal.provision(spec, false)?;
        }
        let app = html::routes()
            .merge(rest::routes())
            .layer(axum::middleware::from_fn(core::refuse_traversal))
            .with_state(portal.clone());
        let (stop, mut stopped) = watch::channel(false);
        let http = config.http;
        let task = tokio::spawn(async move {
            let shutdown = async move {
                while !*stopped.borrow_and_update() {
                    if stopped.changed().await.is_err() {
                        break;
                    }
                }
            };
            crate::http_limits::serve(listener, app, http, shutdown).await;
        });
        tracing::info!(target: "iplos_mocks::filsluse", %addr, "filsluse listening");
        Ok(Filsluse {
            portal,
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base of the portal's links (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.portal.base_url
    }

    /// The portal's time (its injected clock).
    pub fn now(&self) -> DateTime<Utc> {
        self.portal.clock.now()
    }

    /// The "New User Password Request" link that new-user mails carry.
    pub fn new_user_link(&self) -> String {
        self.portal.new_user_link()
    }

    /// Creates a user and sends the "Ny bruker" mail. An error if the username is taken or
    /// invalid.
    pub fn create_user(&self, spec: &UserSpec) -> Result<UserInfo, FilsluseError> {
        self.portal.create_user(spec)
    }

    /// Creates the user if missing, without mail; returns the (existing or new) user.
    pub fn provision_user(&self, spec: &UserSpec) -> Result<UserInfo, FilsluseError> {
        self.portal.provision(spec, false)
    }

    /// The user with this username (case-insensitive).
    pub fn user(&self, username: &str) -> Result<Option<UserInfo>, FilsluseError> {
        self.portal.user_info(username)
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<UserInfo>, FilsluseError> {
        self.portal.all_users()
    }

    /// Sends the user a password link, as the administrator would.
    pub fn send_password_link(&self, username: &str) -> Result<(), FilsluseError> {
        self.portal.admin_password_link(username)
    }

    /// Sets a temporary password the user must change at the next sign-on (no rule check:
    /// the administrator's choice).
    pub fn set_temporary_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(), FilsluseError> {
        self.portal.set_temporary_password(username, password)
    }

    /// Lifts a lockout.
    pub fn unlock(&self, username: &str) -> Result<(), FilsluseError> {
        self.portal.unlock(username)
    }

    /// Puts a file in the user's `frassb` folder as "frassb" and sends "1 New File
    /// Available".
    pub fn upload(
        &self,
        username: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<FileInfo, FilsluseError> {
        self.portal
            .upload(username, file_name, bytes, DEFAULT_UPLOADER)
    }

    /// As [`upload`](Self::upload), with another uploader name.
    pub fn upload_as(
        &self,
        username: &str,
        file_name: &str,
        bytes: &[u8],
        uploaded_by: &str,
    ) -> Result<FileInfo, FilsluseError> {
        self.portal.upload(username, file_name, bytes, uploaded_by)
    }

    /// The user's files.
    pub fn files(&self, username: &str) -> Result<Vec<FileInfo>, FilsluseError> {
        self.portal.files_info(username)
    }

    /// The bytes of the user's file `id` (as stored); `None` if the user has no such file
    /// (another user's file is `None` too).
    pub fn file_bytes(&self, username: &str, id: u64) -> Result<Option<Vec<u8>>, FilsluseError> {
        if !self.files(username)?.iter().any(|f| f.id == id) {
            return Ok(None);
        }
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        Ok(self.portal.store.file_bytes(id)?)
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Filsluse {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
