//! The portal's configuration, errors and the records it hands out (a leaf: the portal's
//! modules use these, and [`super`] re-exports them).

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use iplos_model::municipality::{self, Municipality, RegistryError};

use super::password;
use super::store::StoreError;
use super::throttle::LinkThrottle;
use crate::http_limits::HttpLimits;

/// The file the portal keeps its state in, inside [`FilsluseConfig::state_dir`].
pub const STORE_FILE: &str = "filsluse.sqlite";
/// MOVEit's organisation id of SSB's filsluse (the seeds' links: `OrgID=5281`).
pub const DEFAULT_ORG_ID: u32 = 5281;
/// The uploader name of SSB's feedback files (seed 001: "Uploaded By: frassb").
pub const DEFAULT_UPLOADER: &str = "frassb";
/// The parent of every kommune's home folder.
pub const HOME_ROOT: &str = "/Home/Ekstern/iplos";
/// The subfolder SSB uploads to.
pub const UPLOAD_FOLDER: &str = "frassb";

/// Errors of the filsluse portal.
#[derive(Debug, thiserror::Error)]
pub enum FilsluseError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Binding the listener or creating the state directory failed.
    #[error("filsluse I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Hashing a password failed.
    #[error(transparent)]
    Hash(#[from] password::HashError),
    /// No user with this username.
    #[error("no filsluse user '{0}'")]
    NoSuchUser(String),
    /// A username that cannot be a filsluse user (must be an e-mail address without path
    /// characters).
    #[error("invalid filsluse username '{0}': {1}")]
    InvalidUsername(String, &'static str),
    /// A file name that cannot be stored.
    #[error("invalid file name '{0}': {1}")]
    InvalidFileName(String, &'static str),
    /// A file larger than [`FilsluseConfig::max_file_bytes`].
    #[error("file of {size} bytes is larger than the limit of {limit} bytes")]
    FileTooLarge {
        /// The file's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The configuration is inconsistent.
    #[error("filsluse configuration: {0}")]
    Config(String),
}

/// **\[model\]** Failed sign-ons before a lock, and how long the lock lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failed attempts in a row that lock the username (5).
    pub max_failures: u32,
    /// How long the lock lasts on the injected clock (15 minutes).
    pub duration: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            duration: Duration::minutes(15),
        }
    }
}

/// A user to create: username (the postmottak address), full name, optional temporary
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// The username, an e-mail address (case-insensitive; stored lower-case).
    pub username: String,
    /// The name shown after "Signed onto … as", e.g. "IPLOS-Tilbakemelding Hamar kommune".
    pub full_name: String,
    /// Where mails go; `None`: the username.
    pub email: Option<String>,
    /// The kommunenummer, if the user is a kommune's.
    pub kommunenr: Option<String>,
    /// A temporary password the user must change at the first sign-on; `None`: the user
    /// sets one through a password link.
    pub temporary_password: Option<String>,
}

impl std::fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSpec")
            .field("username", &self.username)
            .field("full_name", &self.full_name)
            .field("email", &self.email)
            .field("kommunenr", &self.kommunenr)
            .field(
                "temporary_password",
                &self.temporary_password.as_ref().map(|_| "<hidden>"),
            )
            .finish()
    }
}

impl UserSpec {
    /// A user with `username`, its full name the username too.
    pub fn new(username: impl Into<String>) -> UserSpec {
        let username = username.into();
        UserSpec {
            full_name: username.clone(),
            username,
            email: None,
            kommunenr: None,
            temporary_password: None,
        }
    }

    /// The kommune's user: its postmottak address, full name
    /// `IPLOS-Tilbakemelding <name> kommune` (seed 001's form), its kommunenummer.
    pub fn for_municipality(m: &Municipality) -> UserSpec {
        UserSpec {
            username: m.postmottak().to_string(),
            full_name: format!("IPLOS-Tilbakemelding {} kommune", m.name()),
            email: None,
            kommunenr: Some(m.number().to_string()),
            temporary_password: None,
        }
    }

    /// One user per kommune valid in data `year`.
    pub fn all_for_year(year: u16) -> Result<Vec<UserSpec>, RegistryError> {
        Ok(municipality::municipalities(year)?
            .iter()
            .map(UserSpec::for_municipality)
            .collect())
    }

    /// The same user under another (agreed, impersonal) address, e.g.
    /// `meldingsansvarlig@hamar.kommune.test`; mail goes there too.
    pub fn with_username(mut self, username: impl Into<String>) -> UserSpec {
        self.username = username.into();
        self.email = None;
        self
    }

    /// Sets the full name.
    pub fn with_full_name(mut self, full_name: impl Into<String>) -> UserSpec {
        self.full_name = full_name.into();
        self
    }

    /// Sets a temporary password (must be changed at the first sign-on).
    pub fn with_temporary_password(mut self, password: impl Into<String>) -> UserSpec {
        self.temporary_password = Some(password.into());
        self
    }
}

/// The portal's configuration.
#[derive(Debug, Clone)]
pub struct FilsluseConfig {
    /// Where to listen; `127.0.0.1:0` by default (loopback, any free port).
    pub bind: SocketAddr,
    /// The base of the links in mails, e.g. `https://filsluse.example`; `None`:
    /// `http://<bound address>`.
    pub public_base_url: Option<String>,
    /// Where [`STORE_FILE`] lives; `None`: in memory (lost at shutdown).
    pub state_dir: Option<PathBuf>,
    /// MOVEit's organisation id, shown in links and `orgID` fields.
    pub org_id: u32,
    /// Users created (without mail) at start when missing.
    pub users: Vec<UserSpec>,
    /// How long a password link works (60 minutes, seeds).
    pub link_lifetime: Duration,
    /// Access token lifetime (`expires_in`); **\[model\]** 20 minutes.
    pub access_token_lifetime: Duration,
    /// Refresh token lifetime; **\[model\]** 8 hours. Each refresh token works once.
    pub refresh_token_lifetime: Duration,
    /// A browser session ends after this long without a request; **\[model\]** 20 minutes.
    pub session_idle_timeout: Duration,
    /// Failed sign-on lockout.
    pub lockout: LockoutPolicy,
    /// PBKDF2 iterations for new password hashes (600 000; tests may lower it).
    pub kdf_iterations: u32,
    /// The largest file [`Filsluse::upload`](super::Filsluse::upload) accepts.
    pub max_file_bytes: usize,
    /// The HTTP server's limits (header timeout and size, connections).
    pub http: HttpLimits,
    /// Password links mailed per username on request (the administrator's are not
    /// counted).
    pub link_throttle: LinkThrottle,
}

impl Default for FilsluseConfig {
    fn default() -> Self {
        FilsluseConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_base_url: None,
            state_dir: None,
            org_id: DEFAULT_ORG_ID,
            users: Vec::new(),
            link_lifetime: Duration::minutes(60),
            access_token_lifetime: Duration::minutes(20),
            refresh_token_lifetime: Duration::hours(8),
            session_idle_timeout: Duration::minutes(20),
            lockout: LockoutPolicy::default(),
            kdf_iterations: password::DEFAULT_ITERATIONS,
            max_file_bytes: 256 * 1024 * 1024,
            http: HttpLimits::default(),
            link_throttle: LinkThrottle::default(),
        }
    }
}

/// A user as the administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The username (lower-case).
    pub username: String,
    /// The full name.
    pub full_name: String,
    /// Where mails go.
    pub email: String,
    /// The kommunenummer, if any.
    pub kommunenr: Option<String>,
    /// The home folder's id and path (`/Home/Ekstern/iplos/<username>`).
    pub home_folder: FolderInfo,
    /// The upload folder's id and path (`…/frassb`).
    pub upload_folder: FolderInfo,
    /// Whether a password is set.
    pub has_password: bool,
    /// Whether the password must be changed at the next sign-on.
    pub must_change_password: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// The last successful sign-on.
    pub last_login: Option<DateTime<Utc>>,
}

/// A folder's id and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    /// MOVEit folder id.
    pub id: u64,
    /// Full path.
    pub path: String,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file id, also the tracking id.
    pub id: u64,
    /// The owner's username.
    pub username: String,
    /// The folder it is in.
    pub folder: FolderInfo,
    /// The file name.
    pub name: String,
    /// Full path (`<folder>/<name>`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-1 of the bytes, lower-case hex (MOVEit's `hash`).
    pub sha1: String,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// Whether it has not been downloaded yet.
    pub is_new: bool,
    /// Downloads so far.
    pub download_count: u64,
    /// The portal link to it (as in the "New File" mail).
    pub link: String,
    /// Whether the stored bytes were read back and matched (upload only; `true` otherwise).
    pub integrity_verified: bool,
}
