//! The portal's logic, shared by the HTML and REST front ends and the handle: accounts,
//! sign-on with lockout, tokens, password links, sessions, files and the ownership checks.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, TimeZone, Utc};
use iplos_model::calendar::{Clock, oslo_local};
use openssl::sha::{sha1, sha256};
use serde_json::json;

use super::notify::{LinkReason, NewFileMail, NewUserMail, Notifier, PasswordLinkMail};
use super::password::{self, PasswordRule};
use super::store::{FileRow, NewUser, SessionRow, Store, UserRow};
use super::types::{
    FileInfo, FilsluseConfig, FilsluseError, FolderInfo, HOME_ROOT, LockoutPolicy, UPLOAD_FOLDER,
    UserInfo, UserSpec,
};

/// The `tracing` target of the portal's log lines.
pub(crate) const LOG: &str = "iplos_mocks::filsluse";

/// An `ErrorModel` answer of the REST API (also for a refused path under `/api/`).
pub(crate) fn api_error(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        Json(json!({
            "detail": detail,
            "errorCode": status.as_u16(),
            "title": title,
        })),
    )
        .into_response()
}

/// Settings copied from the configuration.
pub(crate) struct Settings {
    pub org_id: u32,
    pub link_lifetime: Duration,
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
    pub session_timeout: Duration,
    pub lockout: LockoutPolicy,
    pub iterations: u32,
    pub max_file_bytes: usize,
    pub secure_cookies: bool,
    pub link_throttle: super::LinkThrottle,
}

/// The portal.
pub(crate) struct Portal {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub notifier: Arc<dyn Notifier>,
    pub settings: Settings,
    pub base_url: String,
    /// Password links asked for, per username and per client address.
    pub link_limiter: super::throttle::Limiter,
}

/// The result of a sign-on attempt.
pub(crate) enum AuthOutcome {
    /// Right password; the user (check `must_change`).
    Ok(UserRow),
    /// Wrong username or password (or no password set yet).
    BadCredentials,
    /// Locked until the given instant.
    Locked(DateTime<Utc>),
}

/// The result of following a password link.
pub(crate) enum LinkOutcome {
    /// Valid: now used; the user it was for.
    Ok(UserRow),
    /// No such link.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Used before.
    Used,
}

/// An access and refresh token pair.
pub(crate) struct TokenPair {
    pub access: String,
    pub refresh: String,
    pub expires_in: i64,
}

/// A live browser session.
pub(crate) struct Session {
    /// The SHA-256 of the cookie value (the store key).
    pub key: String,
    pub row: SessionRow,
}

/// Which of a user's folders an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FolderKind {
    Home,
    Upload,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

pub(crate) fn sha256_hex(s: &[u8]) -> String {
    hex(&sha256(s))
}

/// 32 random bytes as hex.
pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    // OpenSSL's CSPRNG only fails when it cannot be seeded at all; fall back to hashing the
    // time and an address so a token is still unguessable enough for a mock.
    if openssl::rand::rand_bytes(&mut b).is_err() {
        let seed = format!("{:?}{:p}", std::time::SystemTime::now(), &b);
        b = sha256(seed.as_bytes());
    }
    hex(&b)
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `dd.mm.yyyy HH:MM:SS` in Europe/Oslo (the seeds' format).
pub(crate) fn oslo_display(t: DateTime<Utc>) -> String {
    oslo_local(t).map_or_else(
        || t.format("%d.%m.%Y %H:%M:%S").to_string(),
        |l| l.format("%d.%m.%Y %H:%M:%S").to_string(),
    )
}

/// The Oslo offset at `t` in whole hours (1 in winter, 2 in summer).
pub(crate) fn oslo_offset_hours(t: DateTime<Utc>) -> i64 {
    oslo_local(t).map_or(1, |l| (l - t.naive_utc()).num_hours())
}

/// ISO 8601 with the Oslo offset, e.g. `2016-10-20T18:31:29+02:00`.
pub(crate) fn oslo_iso(t: DateTime<Utc>) -> String {
    match oslo_local(t) {
        Some(l) => {
            let h = (l - t.naive_utc()).num_hours();
            format!("{}+{:02}:00", l.format("%Y-%m-%dT%H:%M:%S"), h)
        }
        None => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical (lower-case) form of a username, or why it cannot be one.
pub(crate) fn canonical_username(input: &str) -> Result<String, &'static str> {
    let u = input.trim();
    if u.is_empty() {
        return Err("empty");
    }
    if u.len() > 128 {
        return Err("longer than 128 characters");
    }
    if !u.is_ascii() {
        return Err("not ASCII");
    }
    if u.chars()
        .any(|c| c.is_ascii_control() || c.is_ascii_whitespace() || matches!(c, '/' | '\\' | '%'))
    {
        return Err("contains a space, control character, slash, backslash or %");
    }
    let Some((local, domain)) = u.split_once('@') else {
        return Err("not an e-mail address");
    };
    if local.is_empty() || domain.is_empty() || domain.contains('@') || !domain.contains('.') {
        return Err("not an e-mail address");
    }
    if u.contains("..") || u.starts_with('.') || domain.starts_with('.') || domain.ends_with('.') {
        return Err("contains '..' or a misplaced dot");
    }
    Ok(u.to_ascii_lowercase())
}

/// Why a file name cannot be stored, if it cannot.
pub(crate) fn check_file_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 255 {
        return Err("must be 1 to 255 bytes");
    }
    if name == "." || name == ".." || name.contains("..") {
        return Err("must not contain '..'");
    }
    if name.chars().any(|c| {
        c.is_control() || matches!(c, '/' | '\\' | ':' | '"' | '<' | '>' | '|' | '*' | '?')
    }) {
        return Err("must not contain control characters or / \\ : \" < > | * ?");
    }
    if name.starts_with(' ') || name.ends_with(' ') || name.ends_with('.') {
        return Err("must not start or end with a space, or end with a dot");
    }
    Ok(())
}

/// Parses an id from a path or form: ASCII digits only, at most 18 of them.
pub(crate) fn parse_id(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Refuses, before routing, any request whose raw path holds a traversal: `.`/`..`
/// segments, `%2e`, a backslash or `%5c`, an encoded slash `%2f`, an empty segment (`//`)
/// or NUL. 400, as JSON under `/api/`, as text elsewhere.
pub(crate) async fn refuse_traversal(req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path();
    let lower = path.to_ascii_lowercase();
    let bad = lower.contains("%2e")
        || lower.contains("%5c")
        || lower.contains("%2f")
        || lower.contains("%00")
        || path.contains('\\')
        || path.contains('\0')
        || path.contains("//")
        || path.split('/').any(|seg| seg == "." || seg == "..");
    if bad {
        tracing::warn!(target: LOG, path, "refused a path with a traversal");
        if path.starts_with("/api/") {
            return api_error(StatusCode::BAD_REQUEST, "Bad Request", "Invalid path.");
        }
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Invalid path.\n",
        )
            .into_response();
    }
    next.run(req).await
}

impl Portal {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        notifier: Arc<dyn Notifier>,
        config: &FilsluseConfig,
        base_url: String,
    ) -> Portal {
        Portal {
            store,
            clock,
            notifier,
            settings: Settings {
                org_id: config.org_id,
                link_lifetime: config.link_lifetime,
                access_lifetime: config.access_token_lifetime,
                refresh_lifetime: config.refresh_token_lifetime,
                session_timeout: config.session_idle_timeout,
                lockout: config.lockout,
                iterations: config.kdf_iterations,
                max_file_bytes: config.max_file_bytes,
                secure_cookies: base_url.starts_with("https://"),
                link_throttle: config.link_throttle,
            },
            base_url,
            link_limiter: super::throttle::Limiter::default(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    // ----- paths and links -----------------------------------------------------------

    pub fn home_path(username: &str) -> String {
        format!("{HOME_ROOT}/{username}")
    }

    pub fn upload_path(username: &str) -> String {
        format!("{HOME_ROOT}/{username}/{UPLOAD_FOLDER}")
    }

    pub fn folder_path(user: &UserRow, kind: FolderKind) -> String {
        match kind {
            FolderKind::Home => Self::home_path(&user.username),
            FolderKind::Upload => Self::upload_path(&user.username),
        }
    }

    pub fn new_user_link(&self) -> String {
        format!(
            "{}/human.aspx?OrgID={}&arg12=passchangerequest&arg11=newuser",
            self.base_url, self.settings.org_id
        )
    }

    pub fn signon_link(&self, token: &str) -> String {
        format!(
            "{}/human.aspx?orgid={}&transaction=signon&pxc={token}",
            self.base_url, self.settings.org_id
        )
    }

    pub fn file_link(&self, f: &FileRow) -> String {
        format!(
            "{}/human.aspx?OrgID={}&Arg12=fileview&Arg06={}&Arg07={}&username={}",
            self.base_url,
            self.settings.org_id,
            f.folder_id,
            f.id,
            pct(&f.owner)
        )
    }

    // ----- users ---------------------------------------------------------------------

    pub fn user_info_of(&self, u: &UserRow) -> UserInfo {
        UserInfo {
            username: u.username.clone(),
            full_name: u.full_name.clone(),
            email: u.email.clone(),
            kommunenr: u.kommunenr.clone(),
            home_folder: FolderInfo {
                id: u64::try_from(u.home_folder_id).unwrap_or(0),
                path: Self::home_path(&u.username),
            },
            upload_folder: FolderInfo {
                id: u64::try_from(u.frassb_folder_id).unwrap_or(0),
                path: Self::upload_path(&u.username),
            },
            has_password: u.password_hash.is_some(),
            must_change_password: u.must_change,
            created_at: from_ms(u.created_at),
            last_login: u.last_login.map(from_ms),
        }
    }

    fn lookup(&self, username: &str) -> Result<Option<UserRow>, FilsluseError> {
        match canonical_username(username) {
            Ok(u) => Ok(self.store.user(&u)?),
            Err(_) => Ok(None),
        }
    }

    fn require(&self, username: &str) -> Result<UserRow, FilsluseError> {
        self.lookup(username)?
            .ok_or_else(|| FilsluseError::NoSuchUser(username.to_string()))
    }

    pub fn user_info(&self, username: &str) -> Result<Option<UserInfo>, FilsluseError> {
        Ok(self.lookup(username)?.map(|u| self.user_info_of(&u)))
    }

    pub fn all_users(&self) -> Result<Vec<UserInfo>, FilsluseError> {
        Ok(self
            .store
            .users()?
            .iter()
            .map(|u| self.user_info_of(u))
            .collect())
    }

    fn insert_user(&self, spec: &UserSpec) -> Result<UserRow, FilsluseError> {
        let username = canonical_username(&spec.username)
            .map_err(|why| FilsluseError::InvalidUsername(spec.username.clone(), why))?;
        let email = spec.email.clone().unwrap_or_else(|| username.clone());
        let hash = match &spec.temporary_password {
            Some(p) => Some(password::hash_password(p, self.settings.iterations)?),
            None => None,
        };
        let row = self.store.create_user(&NewUser {
            username: &username,
            full_name: &spec.full_name,
            email: &email,
            kommunenr: spec.kommunenr.as_deref(),
            password_hash: hash.as_deref(),
            must_change: hash.is_some(),
            now: ms(self.now()),
        })?;
        tracing::info!(target: LOG, username = %row.username, "user created");
        Ok(row)
    }

    /// Creates the user if missing; mails "Ny bruker" when `mail` and the user is new.
    pub fn provision(&self, spec: &UserSpec, mail: bool) -> Result<UserInfo, FilsluseError> {
        if let Some(u) = self.lookup(&spec.username)? {
            return Ok(self.user_info_of(&u));
        }
        let row = self.insert_user(spec)?;
        if mail {
            self.mail_new_user(&row);
        }
        Ok(self.user_info_of(&row))
    }

    pub fn create_user(&self, spec: &UserSpec) -> Result<UserInfo, FilsluseError> {
        let row = self.insert_user(spec)?;
        self.mail_new_user(&row);
        Ok(self.user_info_of(&row))
    }

    fn mail_new_user(&self, row: &UserRow) {
        self.notifier.new_user(NewUserMail {
            to: row.email.clone(),
            username: row.username.clone(),
            full_name: row.full_name.clone(),
            link: self.new_user_link(),
            created_at: from_ms(row.created_at),
        });
    }

    pub fn set_temporary_password(&self, username: &str, pw: &str) -> Result<(), FilsluseError> {
        let user = self.require(username)?;
        let hash = password::hash_password(pw, self.settings.iterations)?;
        self.store
            .set_password(&user.username, &hash, true, ms(self.now()))?;
        self.store.delete_tokens_of(&user.username)?;
        self.store.delete_sessions_of(&user.username, None)?;
        Ok(())
    }

    pub fn unlock(&self, username: &str) -> Result<(), FilsluseError> {
        let key = lockout_key(username);
        self.store.clear_lockout(&key)?;
        tracing::info!(target: LOG, username = %key, "lockout lifted by the administrator");
        Ok(())
    }

    // ----- sign-on and lockout -------------------------------------------------------

    /// Checks a username and password, with lockout. Slow (PBKDF2): call off the runtime.
    pub fn authenticate(&self, username: &str, pw: &str) -> Result<AuthOutcome, FilsluseError> {
        let key = lockout_key(username);
        let now = self.now();
        let max = i64::from(self.settings.lockout.max_failures.max(1));
        let lock_ms = self.settings.lockout.duration.num_milliseconds();
        let (attempt, lock) = match self.store.begin_attempt(&key, ms(now), max, lock_ms)? {
            Err(until) => {
                let until = from_ms(until);
                tracing::warn!(target: LOG, username = %key, %until, "sign-on refused: locked");
                return Ok(AuthOutcome::Locked(until));
            }
            Ok(counted) => counted,
        };
        let user = self.lookup(username)?;
        let ok = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
            Some(hash) => pw.len() <= password::MAX_LENGTH && password::verify_password(pw, hash),
            None => {
                password::dummy_verify(pw, self.settings.iterations);
                false
            }
        };
        match (ok, user) {
            (true, Some(user)) => {
                self.store.clear_lockout(&key)?;
                self.store.set_last_login(&user.username, ms(now))?;
                tracing::info!(target: LOG, username = %user.username, "signed on");
                Ok(AuthOutcome::Ok(user))
            }
            _ => {
                match lock.map(from_ms) {
                    Some(until) => tracing::warn!(
                        target: LOG, username = %key, failures = attempt, %until,
                        "sign-on failed; username locked"
                    ),
                    None => tracing::warn!(
                        target: LOG, username = %key, failures = attempt, "sign-on failed"
                    ),
                }
                Ok(AuthOutcome::BadCredentials)
            }
        }
    }

    /// Sets a new password for `username` if it keeps the rules (and equals `confirm` when
    /// given). Ends the user's tokens and other sessions. Slow (PBKDF2).
    pub fn change_password(
        &self,
        username: &str,
        new: &str,
        confirm: Option<&str>,
        keep_session: Option<&str>,
    ) -> Result<Result<(), Vec<PasswordRule>>, FilsluseError> {
        let user = self.require(username)?;
        if confirm.is_some_and(|c| c != new) {
            return Ok(Err(vec![PasswordRule::Mismatch]));
        }
        let broken = password::check(new, &user.username);
        if !broken.is_empty() {
            tracing::info!(target: LOG, username = %user.username, ?broken, "new password refused");
            return Ok(Err(broken));
        }
        let hash = password::hash_password(new, self.settings.iterations)?;
        self.store
            .set_password(&user.username, &hash, false, ms(self.now()))?;
        self.store.delete_tokens_of(&user.username)?;
        self.store
            .delete_sessions_of(&user.username, keep_session)?;
        self.store.clear_lockout(&user.username)?;
        tracing::info!(target: LOG, username = %user.username, "password changed");
        Ok(Ok(()))
    }

    // ----- tokens --------------------------------------------------------------------

    pub fn issue_tokens(&self, username: &str) -> Result<TokenPair, FilsluseError> {
        let now = self.now();
        self.store.purge_expired(ms(now))?;
        let access = random_token();
        let refresh = random_token();
        self.store.insert_token(
            &sha256_hex(access.as_bytes()),
            "access",
            username,
            ms(now + self.settings.access_lifetime),
        )?;
        self.store.insert_token(
            &sha256_hex(refresh.as_bytes()),
            "refresh",
            username,
            ms(now + self.settings.refresh_lifetime),
        )?;
        Ok(TokenPair {
            access,
            refresh,
            expires_in: self.settings.access_lifetime.num_seconds(),
        })
    }

    /// The user of a valid, unexpired access token.
    pub fn bearer_user(&self, token: &str) -> Result<Option<UserRow>, FilsluseError> {
        let Some((username, expires)) =
            self.store.token(&sha256_hex(token.as_bytes()), "access")?
        else {
            return Ok(None);
        };
        if from_ms(expires) <= self.now() {
            return Ok(None);
        }
        Ok(self.store.user(&username)?)
    }

    /// Exchanges a refresh token (once) for a new pair.
    pub fn refresh(&self, token: &str) -> Result<Option<TokenPair>, FilsluseError> {
        let key = sha256_hex(token.as_bytes());
        let Some((username, expires)) = self.store.token(&key, "refresh")? else {
            return Ok(None);
        };
        if !self.store.delete_token(&key)? || from_ms(expires) <= self.now() {
            return Ok(None);
        }
        match self.store.user(&username)? {
            Some(u) if !u.must_change && u.password_hash.is_some() => {
                Ok(Some(self.issue_tokens(&u.username)?))
            }
            _ => Ok(None),
        }
    }

    /// Revokes an access or refresh token; whether it existed.
    pub fn revoke(&self, token: &str) -> Result<bool, FilsluseError> {
        Ok(self.store.delete_token(&sha256_hex(token.as_bytes()))?)
    }

    // ----- password links ------------------------------------------------------------

    /// As [`Portal::request_password_link`], asked for by a user from `client`: within
    /// the [`super::LinkThrottle`] (per username and per client address), else nothing is
    /// sent (and the answer is the same).
    pub fn request_password_link_from(
        &self,
        username: &str,
        reason: LinkReason,
        client: Option<std::net::IpAddr>,
    ) -> Result<(), FilsluseError> {
        let now = self.now();
        let t = self.settings.link_throttle;
        if let Some(ip) = client
            && !self
                .link_limiter
                .allow(&format!("ip:{ip}"), now, t.max_per_client, t.window)
        {
            tracing::warn!(target: LOG, client = %ip, "password link requests from this address throttled; nothing sent");
            return Ok(());
        }
        let key = format!("user:{}", username.trim().to_lowercase());
        if !self.link_limiter.allow(&key, now, t.max_links, t.window) {
            tracing::warn!(
                target: LOG, username = %lockout_key(username),
                "password link requests for this username throttled; nothing sent"
            );
            return Ok(());
        }
        self.request_password_link(username, reason)
    }

    /// Mails a password link when the username exists; silent otherwise.
    pub fn request_password_link(
        &self,
        username: &str,
        reason: LinkReason,
    ) -> Result<(), FilsluseError> {
        let Some(user) = self.lookup(username)? else {
            tracing::info!(
                target: LOG, username = %lockout_key(username),
                "password link requested for an unknown username; nothing sent"
            );
            return Ok(());
        };
        let now = self.now();
        let token = random_token();
        let expires = now + self.settings.link_lifetime;
        let reason_s: &'static str = reason.into();
        self.store.insert_link(
            &sha256_hex(token.as_bytes()),
            &user.username,
            reason_s,
            ms(now),
            ms(expires),
        )?;
        tracing::info!(target: LOG, username = %user.username, reason = reason_s, %expires, "password link sent");
        self.notifier.password_link(PasswordLinkMail {
            to: user.email.clone(),
            username: user.username.clone(),
            link: self.signon_link(&token),
            reason,
            requested_at: now,
            expires_at: expires,
            valid_minutes: self.settings.link_lifetime.num_minutes(),
            portal_url: self.base_url.clone(),
        });
        Ok(())
    }

    pub fn admin_password_link(&self, username: &str) -> Result<(), FilsluseError> {
        self.require(username)?;
        self.request_password_link(username, LinkReason::Admin)
    }

    /// Uses a password link: valid once, before its expiry.
    pub fn redeem_link(&self, token: &str) -> Result<LinkOutcome, FilsluseError> {
        let key = sha256_hex(token.as_bytes());
        let Some(link) = self.store.link(&key)? else {
            tracing::warn!(target: LOG, "unknown password link refused");
            return Ok(LinkOutcome::Unknown);
        };
        if link.used_at.is_some() {
            tracing::warn!(target: LOG, username = %link.username, "used password link refused");
            return Ok(LinkOutcome::Used);
        }
        let now = self.now();
        if from_ms(link.expires_at) <= now {
            tracing::warn!(
                target: LOG, username = %link.username, reason = %link.reason,
                expired = %from_ms(link.expires_at), "expired password link refused"
            );
            return Ok(LinkOutcome::Expired);
        }
        if !self.store.use_link(&key, ms(now))? {
            return Ok(LinkOutcome::Used);
        }
        match self.store.user(&link.username)? {
            Some(u) => Ok(LinkOutcome::Ok(u)),
            None => Ok(LinkOutcome::Unknown),
        }
    }

    // ----- sessions ------------------------------------------------------------------

    /// A new session; returns the cookie value.
    pub fn new_session(
        &self,
        username: Option<&str>,
        must_change: bool,
        next: Option<String>,
    ) -> Result<(String, Session), FilsluseError> {
        let now = self.now();
        self.store.purge_expired(ms(now))?;
        let value = random_token();
        let key = sha256_hex(value.as_bytes());
        let row = SessionRow {
            username: username.map(str::to_string),
            csrf: random_token(),
            must_change,
            next,
            expires_at: ms(now + self.settings.session_timeout),
        };
        self.store.insert_session(&key, &row)?;
        Ok((value, Session { key, row }))
    }

    /// The live session of a cookie value (its idle timer restarted).
    pub fn session(&self, value: &str) -> Result<Option<Session>, FilsluseError> {
        if value.len() != 64 {
            return Ok(None);
        }
        let key = sha256_hex(value.as_bytes());
        let Some(row) = self.store.session(&key)? else {
            return Ok(None);
        };
        let now = self.now();
        if from_ms(row.expires_at) <= now {
            self.store.delete_session(&key)?;
            return Ok(None);
        }
        self.store
            .touch_session(&key, ms(now + self.settings.session_timeout))?;
        Ok(Some(Session { key, row }))
    }

    pub fn end_session(&self, key: &str) -> Result<(), FilsluseError> {
        Ok(self.store.delete_session(key)?)
    }

    pub fn clear_must_change(&self, key: &str) -> Result<(), FilsluseError> {
        Ok(self.store.set_session_must_change(key, false)?)
    }

    // ----- folders and files ---------------------------------------------------------

    /// Which of `user`'s folders `id` is, if it is one.
    pub fn own_folder(user: &UserRow, id: &str) -> Option<FolderKind> {
        let id = parse_id(id)?;
        if id == user.home_folder_id {
            Some(FolderKind::Home)
        } else if id == user.frassb_folder_id {
            Some(FolderKind::Upload)
        } else {
            None
        }
    }

    /// The folder an absolute path names, if it is one of `user`'s (exact match after
    /// dropping one trailing slash; case-insensitive; no `.`/`..`/empty segments).
    pub fn own_folder_by_path(user: &UserRow, path: &str) -> Option<FolderKind> {
        let p = path.strip_suffix('/').unwrap_or(path);
        if !p.starts_with('/')
            || p.contains('\\')
            || p.chars().any(char::is_control)
            || p[1..]
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return None;
        }
        if p.eq_ignore_ascii_case(&Self::home_path(&user.username)) {
            Some(FolderKind::Home)
        } else if p.eq_ignore_ascii_case(&Self::upload_path(&user.username)) {
            Some(FolderKind::Upload)
        } else {
            None
        }
    }

    /// `user`'s file with this id; `None` for anything else (another user's, unknown,
    /// malformed).
    pub fn own_file(&self, user: &UserRow, id: &str) -> Result<Option<FileRow>, FilsluseError> {
        let Some(id) = parse_id(id) else {
            return Ok(None);
        };
        Ok(self.store.file(id)?.filter(|f| {
            f.owner == user.username
                && (f.folder_id == user.frassb_folder_id || f.folder_id == user.home_folder_id)
        }))
    }

    pub fn files_in(
        &self,
        user: &UserRow,
        kind: FolderKind,
    ) -> Result<Vec<FileRow>, FilsluseError> {
        let folder = match kind {
            FolderKind::Home => user.home_folder_id,
            FolderKind::Upload => user.frassb_folder_id,
        };
        Ok(self
            .store
            .files_in(folder)?
            .into_iter()
            .filter(|f| f.owner == user.username)
            .collect())
    }

    pub fn files_of(&self, user: &UserRow) -> Result<Vec<FileRow>, FilsluseError> {
        Ok(self.store.files_of(&user.username)?)
    }

    /// Bytes of `user`'s file; counts the download.
    pub fn download(
        &self,
        user: &UserRow,
        id: &str,
    ) -> Result<Option<(FileRow, Vec<u8>)>, FilsluseError> {
        let Some(f) = self.own_file(user, id)? else {
            return Ok(None);
        };
        let Some(bytes) = self.store.file_bytes(f.id)? else {
            return Ok(None);
        };
        self.store.mark_downloaded(f.id)?;
        tracing::info!(target: LOG, username = %user.username, file = f.id, name = %f.name, "downloaded");
        Ok(Some((f, bytes)))
    }

    /// Deletes `user`'s file; `false` if it is not theirs.
    pub fn delete(&self, user: &UserRow, id: &str) -> Result<bool, FilsluseError> {
        let Some(f) = self.own_file(user, id)? else {
            return Ok(false);
        };
        let gone = self.store.delete_file(f.id)?;
        tracing::info!(target: LOG, username = %user.username, file = f.id, name = %f.name, "deleted");
        Ok(gone)
    }

    pub fn file_info(&self, f: &FileRow, integrity_verified: bool) -> FileInfo {
        let folder_path = if f.folder_id == 0 {
            String::new()
        } else {
            Self::upload_path(&f.owner)
        };
        FileInfo {
            id: u64::try_from(f.id).unwrap_or(0),
            username: f.owner.clone(),
            folder: FolderInfo {
                id: u64::try_from(f.folder_id).unwrap_or(0),
                path: folder_path.clone(),
            },
            name: f.name.clone(),
            path: format!("{folder_path}/{}", f.name),
            size: u64::try_from(f.size).unwrap_or(0),
            sha1: f.sha1.clone(),
            sha256: f.sha256.clone(),
            uploaded_at: from_ms(f.uploaded_at),
            uploaded_by: f.uploaded_by.clone(),
            is_new: f.is_new,
            download_count: u64::try_from(f.download_count).unwrap_or(0),
            link: self.file_link(f),
            integrity_verified,
        }
    }

    pub fn files_info(&self, username: &str) -> Result<Vec<FileInfo>, FilsluseError> {
        let user = self.require(username)?;
        Ok(self
            .files_of(&user)?
            .iter()
            .map(|f| self.file_info(f, true))
            .collect())
    }

    /// Stores a file in the user's upload folder and mails "1 New File Available".
    pub fn upload(
        &self,
        username: &str,
        name: &str,
        bytes: &[u8],
        uploaded_by: &str,
    ) -> Result<FileInfo, FilsluseError> {
        let user = self.require(username)?;
        check_file_name(name).map_err(|why| FilsluseError::InvalidFileName(name.into(), why))?;
        if uploaded_by.is_empty() || uploaded_by.chars().any(char::is_control) {
            return Err(FilsluseError::Config(
                "uploader name must be non-empty, without control characters".into(),
            ));
        }
        if bytes.len() > self.settings.max_file_bytes {
            return Err(FilsluseError::FileTooLarge {
                size: bytes.len(),
                limit: self.settings.max_file_bytes,
            });
        }
        let sha1_hex = hex(&sha1(bytes));
        let sha256 = sha256_hex(bytes);
        let now = self.now();
        let row = self.store.insert_file(
            &user.username,
            user.frassb_folder_id,
            name,
            bytes,
            &sha1_hex,
            &sha256,
            ms(now),
            uploaded_by,
        )?;
        let verified = self
            .store
            .file_bytes(row.id)?
            .is_some_and(|stored| sha256_hex(&stored) == sha256);
        let info = self.file_info(&row, verified);
        tracing::info!(
            target: LOG, username = %user.username, file = row.id, name, size = bytes.len(),
            verified, "uploaded"
        );
        self.notifier.new_file(NewFileMail {
            to: user.email.clone(),
            username: user.username.clone(),
            folder_path: info.folder.path.clone(),
            file_name: info.name.clone(),
            uploaded_at: now,
            date_and_time: oslo_display(now),
            size: info.size,
            uploaded_by: uploaded_by.to_string(),
            tracking_id: info.id.to_string(),
            link: info.link.clone(),
            integrity_verified: verified,
        });
        Ok(info)
    }
}

/// The key failed attempts are counted under: the trimmed, lower-cased input (at most 128
/// characters), whether or not such a user exists.
pub(crate) fn lockout_key(username: &str) -> String {
    username
        .trim()
        .chars()
        .take(128)
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(
            canonical_username(" Postmottak@Hamar.Kommune.test ").unwrap(),
            "postmottak@hamar.kommune.test"
        );
        for bad in [
            "",
            "postmottak",
            "a@b",
            "../x@y.no",
            "a/b@c.no",
            "a\\b@c.no",
            "a b@c.no",
            "a@@b.no",
            "a%2e@b.no",
            "bø@b.no",
        ] {
            assert!(canonical_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names() {
        assert!(check_file_name("040300_iplos_test.zip").is_ok());
        for bad in [
            "", "..", "a/b.zip", "a\\b", "..zip", "x\u{0}y", "a.", " a", "a:b",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids() {
        assert_eq!(parse_id("330435303"), Some(330_435_303));
        for bad in ["", "-1", "1e3", "12a", " 1", "1234567890123456789", "+1"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn oslo_times() {
        let summer = Utc.with_ymd_and_hms(2016, 10, 20, 16, 31, 29).unwrap();
        assert_eq!(oslo_display(summer), "20.10.2016 18:31:29");
        assert_eq!(oslo_iso(summer), "2016-10-20T18:31:29+02:00");
        assert_eq!(oslo_offset_hours(summer), 2);
        let winter = Utc.with_ymd_and_hms(2017, 2, 7, 7, 0, 0).unwrap();
        assert_eq!(oslo_display(winter), "07.02.2017 08:00:00");
        assert_eq!(oslo_offset_hours(winter), 1);
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(
            pct("postmottak@hamar.kommune.test"),
            "postmottak%40hamar.kommune.test"
        );
    }
}
