//! The portal's state in SQLite: users (with password hashes), lockouts, files and their
//! bytes, access and refresh tokens, password links and browser sessions.
//!
//! One file, [`STORE_FILE`](super::STORE_FILE), in the state directory (WAL journal,
//! synchronous FULL: a write is on disk before the request that made it is answered), or an
//! in-memory database. Tokens, links and sessions are stored as the SHA-256 of their value,
//! never the value itself. Times are milliseconds since the Unix epoch (UTC).

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("filsluse store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A user with this username exists.
    #[error("user '{0}' exists")]
    UserExists(String),
    /// No user with this username.
    #[error("no user '{0}'")]
    NoSuchUser(String),
}

/// First folder id handed out (the seed's folder id in the file-view link).
const FIRST_FOLDER_ID: i64 = 330_483_371;
/// First file id handed out (the seed's tracking id).
const FIRST_FILE_ID: i64 = 330_435_303;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    full_name TEXT NOT NULL,
    email TEXT NOT NULL,
    kommunenr TEXT,
    home_folder_id INTEGER NOT NULL UNIQUE,
    frassb_folder_id INTEGER NOT NULL UNIQUE,
    password_hash TEXT,
    must_change INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    password_changed_at INTEGER,
    last_login INTEGER
);
CREATE TABLE IF NOT EXISTS lockouts (
    username TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    locked_until INTEGER
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL REFERENCES users(username),
    folder_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha1 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL,
    is_new INTEGER NOT NULL DEFAULT 1,
    download_count INTEGER NOT NULL DEFAULT 0,
    bytes BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS files_folder ON files(folder_id);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    username TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
    hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    username TEXT,
    csrf TEXT NOT NULL,
    must_change INTEGER NOT NULL DEFAULT 0,
    next TEXT,
    expires_at INTEGER NOT NULL
);
";

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserRow {
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub kommunenr: Option<String>,
    pub home_folder_id: i64,
    pub frassb_folder_id: i64,
    pub password_hash: Option<String>,
    pub must_change: bool,
    pub created_at: i64,
    pub password_changed_at: Option<i64>,
    pub last_login: Option<i64>,
}

/// A new user's fields.
pub(crate) struct NewUser<'a> {
    pub username: &'a str,
    pub full_name: &'a str,
    pub email: &'a str,
    pub kommunenr: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub must_change: bool,
    pub now: i64,
}

/// A file's metadata as stored (the bytes are fetched separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileRow {
    pub id: i64,
    pub owner: String,
    pub folder_id: i64,
    pub name: String,
    pub size: i64,
    pub sha1: String,
    pub sha256: String,
    pub uploaded_at: i64,
    pub uploaded_by: String,
    pub is_new: bool,
    pub download_count: i64,
}

/// A stored browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRow {
    pub username: Option<String>,
    pub csrf: String,
    pub must_change: bool,
    pub next: Option<String>,
    pub expires_at: i64,
}

/// A stored password link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkRow {
    pub username: String,
    pub reason: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// The SQLite store.
pub(crate) struct Store {
    conn: Mutex<Connection>,
}

const USER_COLS: &str = "username, full_name, email, kommunenr, home_folder_id, frassb_folder_id, \
     password_hash, must_change, created_at, password_changed_at, last_login";
const FILE_COLS: &str = "id, owner, folder_id, name, size, sha1, sha256, uploaded_at, uploaded_by, is_new, download_count";

fn user_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        username: row.get(0)?,
        full_name: row.get(1)?,
        email: row.get(2)?,
        kommunenr: row.get(3)?,
        home_folder_id: row.get(4)?,
        frassb_folder_id: row.get(5)?,
        password_hash: row.get(6)?,
        must_change: row.get::<_, i64>(7)? != 0,
        created_at: row.get(8)?,
        password_changed_at: row.get(9)?,
        last_login: row.get(10)?,
    })
}

fn file_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        id: row.get(0)?,
        owner: row.get(1)?,
        folder_id: row.get(2)?,
        name: row.get(3)?,
        size: row.get(4)?,
        sha1: row.get(5)?,
        sha256: row.get(6)?,
        uploaded_at: row.get(7)?,
        uploaded_by: row.get(8)?,
        is_new: row.get::<_, i64>(9)? != 0,
        download_count: row.get(10)?,
    })
}

impl Store {
    /// Opens (creating) the store at `path`, or an in-memory store.
    pub fn open(path: Option<&Path>) -> Result<Store, StoreError> {
        let conn = match path {
            Some(p) => {
                let c = Connection::open(p)?;
                c.pragma_update(None, "journal_mode", "WAL")?;
                c.pragma_update(None, "synchronous", "FULL")?;
                c
            }
            None => Connection::open_in_memory()?,
        };
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('next_folder_id', ?1), ('next_file_id', ?2)",
            params![FIRST_FOLDER_ID, FIRST_FILE_ID],
        )?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_id(tx: &rusqlite::Transaction<'_>, key: &str, n: i64) -> rusqlite::Result<i64> {
        let id: i64 = tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = ?2",
            params![id + n, key],
        )?;
        Ok(id)
    }

    /// Creates a user with its two folders; an error if the username is taken.
    pub fn create_user(&self, u: &NewUser<'_>) -> Result<UserRow, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: bool = tx
            .query_row(
                "SELECT 1 FROM users WHERE username = ?1",
                [u.username],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if exists {
            return Err(StoreError::UserExists(u.username.to_string()));
        }
        let home = Self::next_id(&tx, "next_folder_id", 2)?;
        tx.execute(
            &format!(
                "INSERT INTO users({USER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL)"
            ),
            params![
                u.username,
                u.full_name,
                u.email,
                u.kommunenr,
                home,
                home + 1,
                u.password_hash,
                i64::from(u.must_change),
                u.now
            ],
        )?;
        let row = tx.query_row(
            &format!("SELECT {USER_COLS} FROM users WHERE username = ?1"),
            [u.username],
            user_from,
        )?;
        tx.commit()?;
        Ok(row)
    }

    /// The user with this (canonical) username.
    pub fn user(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE username = ?1"),
                [username],
                user_from,
            )
            .optional()?)
    }

    /// Every user, by username.
    pub fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))?;
        let rows = st.query_map([], user_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets a user's password hash and whether a change is due at next sign-on.
    pub fn set_password(
        &self,
        username: &str,
        hash: &str,
        must_change: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE users SET password_hash = ?1, must_change = ?2, password_changed_at = ?3 \
             WHERE username = ?4",
            params![hash, i64::from(must_change), now, username],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchUser(username.to_string()));
        }
        Ok(())
    }

    /// Records a successful sign-on.
    pub fn set_last_login(&self, username: &str, now: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE users SET last_login = ?1 WHERE username = ?2",
            params![now, username],
        )?;
        Ok(())
    }

    /// Counts a sign-on attempt for a username (known or not) *before* its password is
    /// checked, so parallel attempts cannot get past the limit. `Err(until)` while locked;
    /// otherwise the attempt's number since the last success or lock, and the lock this
    /// attempt sets when it is the `max`-th (it is still checked; a success lifts the lock).
    pub fn begin_attempt(
        &self,
        username: &str,
        now: i64,
        max: i64,
        lock_ms: i64,
    ) -> Result<Result<(i64, Option<i64>), i64>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (failures, locked_until): (i64, Option<i64>) = tx
            .query_row(
                "SELECT failures, locked_until FROM lockouts WHERE username = ?1",
                [username],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, None));
        if let Some(until) = locked_until.filter(|u| *u > now) {
            return Ok(Err(until));
        }
        let n = if locked_until.is_some() {
            1
        } else {
            failures + 1
        };
        let lock = (n >= max).then(|| now.saturating_add(lock_ms));
        tx.execute(
            "INSERT INTO lockouts(username, failures, locked_until) VALUES (?1, ?2, ?3) \
             ON CONFLICT(username) DO UPDATE SET failures = ?2, locked_until = ?3",
            params![username, if lock.is_some() { 0 } else { n }, lock],
        )?;
        tx.commit()?;
        Ok(Ok((n, lock)))
    }

    /// Forgets failed attempts and any lock.
    pub fn clear_lockout(&self, username: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM lockouts WHERE username = ?1", [username])?;
        Ok(())
    }

    /// Stores a file and returns its row.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_file(
        &self,
        owner: &str,
        folder_id: i64,
        name: &str,
        bytes: &[u8],
        sha1: &str,
        sha256: &str,
        uploaded_at: i64,
        uploaded_by: &str,
    ) -> Result<FileRow, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = Self::next_id(&tx, "next_file_id", 1)?;
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO files(id, owner, folder_id, name, size, sha1, sha256, uploaded_at, \
             uploaded_by, is_new, download_count, bytes) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, 0, ?10)",
            params![
                id,
                owner,
                folder_id,
                name,
                size,
                sha1,
                sha256,
                uploaded_at,
                uploaded_by,
                bytes
            ],
        )?;
        let row = tx.query_row(
            &format!("SELECT {FILE_COLS} FROM files WHERE id = ?1"),
            [id],
            file_from,
        )?;
        tx.commit()?;
        Ok(row)
    }

    /// A file's metadata.
    pub fn file(&self, id: i64) -> Result<Option<FileRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {FILE_COLS} FROM files WHERE id = ?1"),
                [id],
                file_from,
            )
            .optional()?)
    }

    /// A file's bytes.
    pub fn file_bytes(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT bytes FROM files WHERE id = ?1", [id], |r| r.get(0))
            .optional()?)
    }

    /// The files in a folder, by name then id.
    pub fn files_in(&self, folder_id: i64) -> Result<Vec<FileRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {FILE_COLS} FROM files WHERE folder_id = ?1 ORDER BY name, id"
        ))?;
        let rows = st.query_map([folder_id], file_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// All files of an owner, by name then id.
    pub fn files_of(&self, owner: &str) -> Result<Vec<FileRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {FILE_COLS} FROM files WHERE owner = ?1 ORDER BY name, id"
        ))?;
        let rows = st.query_map([owner], file_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Counts a download and clears the file's "new" flag.
    pub fn mark_downloaded(&self, id: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE files SET is_new = 0, download_count = download_count + 1 WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    /// Deletes a file; whether it existed.
    pub fn delete_file(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM files WHERE id = ?1", [id])?
            > 0)
    }

    /// Stores a token (by hash).
    pub fn insert_token(
        &self,
        hash: &str,
        kind: &str,
        username: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO tokens(hash, kind, username, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![hash, kind, username, expires_at],
        )?;
        Ok(())
    }

    /// A token's username and expiry.
    pub fn token(&self, hash: &str, kind: &str) -> Result<Option<(String, i64)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT username, expires_at FROM tokens WHERE hash = ?1 AND kind = ?2",
                params![hash, kind],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Deletes a token; whether it existed.
    pub fn delete_token(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM tokens WHERE hash = ?1", [hash])?
            > 0)
    }

    /// Deletes every token of a user (after a password change).
    pub fn delete_tokens_of(&self, username: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM tokens WHERE username = ?1", [username])?;
        Ok(())
    }

    /// Stores a password link (by hash).
    pub fn insert_link(
        &self,
        hash: &str,
        username: &str,
        reason: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO links(hash, username, reason, created_at, expires_at, used_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
            params![hash, username, reason, created_at, expires_at],
        )?;
        Ok(())
    }

    /// A password link.
    pub fn link(&self, hash: &str) -> Result<Option<LinkRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT username, reason, expires_at, used_at FROM links WHERE hash = ?1",
                [hash],
                |r| {
                    Ok(LinkRow {
                        username: r.get(0)?,
                        reason: r.get(1)?,
                        expires_at: r.get(2)?,
                        used_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Marks a link used; `false` if it was already used (or does not exist).
    pub fn use_link(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "UPDATE links SET used_at = ?1 WHERE hash = ?2 AND used_at IS NULL",
            params![now, hash],
        )? == 1)
    }

    /// Stores a session (by hash).
    pub fn insert_session(&self, hash: &str, s: &SessionRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO sessions(hash, username, csrf, must_change, next, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                hash,
                s.username,
                s.csrf,
                i64::from(s.must_change),
                s.next,
                s.expires_at
            ],
        )?;
        Ok(())
    }

    /// A session.
    pub fn session(&self, hash: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT username, csrf, must_change, next, expires_at FROM sessions WHERE hash = ?1",
                [hash],
                |r| {
                    Ok(SessionRow {
                        username: r.get(0)?,
                        csrf: r.get(1)?,
                        must_change: r.get::<_, i64>(2)? != 0,
                        next: r.get(3)?,
                        expires_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Moves a session's expiry.
    pub fn touch_session(&self, hash: &str, expires_at: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET expires_at = ?1 WHERE hash = ?2",
            params![expires_at, hash],
        )?;
        Ok(())
    }

    /// Sets whether the session's user must change the password before anything else.
    pub fn set_session_must_change(&self, hash: &str, must_change: bool) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET must_change = ?1 WHERE hash = ?2",
            params![i64::from(must_change), hash],
        )?;
        Ok(())
    }

    /// Deletes a session.
    pub fn delete_session(&self, hash: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE hash = ?1", [hash])?;
        Ok(())
    }

    /// Deletes every session of a user (after a password change elsewhere).
    pub fn delete_sessions_of(
        &self,
        username: &str,
        except: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM sessions WHERE username = ?1 AND hash IS NOT ?2",
            params![username, except],
        )?;
        Ok(())
    }

    /// Deletes expired tokens, sessions and links (links a day after expiry).
    pub fn purge_expired(&self, now: i64) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute("DELETE FROM tokens WHERE expires_at <= ?1", [now])?;
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
        conn.execute(
            "DELETE FROM links WHERE expires_at <= ?1",
            [now - 86_400_000],
        )?;
        Ok(())
    }
}
