//! Shared helpers of the filsluse tests: a portal on 127.0.0.1 with a virtual clock and a
//! recording notifier, a small cookie-keeping browser over reqwest, raw HTTP for paths a
//! URL library would normalise, and a stored (uncompressed) zip builder.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use iplos_mocks::filsluse::{Filsluse, FilsluseConfig, RecordingNotifier, UserSpec};
use iplos_model::calendar::VirtualClock;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Hamar's postmottak, the seeds' example user.
pub const HAMAR: &str = "postmottak@hamar.kommune.test";
/// A second kommune.
pub const ELVERUM: &str = "postmottak@elverum.kommune.test";
/// A password that keeps every rule for both users.
pub const GOOD: &str = "Sommer2024";

/// 08:00 Oslo on Tuesday 7 February 2017 (week 6: feedback files), winter time.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2017, 2, 7, 7, 0, 0).unwrap()
}

/// A running portal with its clock and mail recorder.
pub struct Env {
    pub fs: Filsluse,
    pub clock: VirtualClock,
    pub mails: Arc<RecordingNotifier>,
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

/// The test configuration: in memory, cheap PBKDF2.
pub fn config() -> FilsluseConfig {
    FilsluseConfig {
        kdf_iterations: 1_000,
        ..FilsluseConfig::default()
    }
}

pub async fn start() -> Env {
    start_at(config(), t0()).await
}

pub async fn start_at(config: FilsluseConfig, at: DateTime<Utc>) -> Env {
    start_with(
        config,
        VirtualClock::new(at),
        Arc::new(RecordingNotifier::new()),
    )
    .await
}

pub async fn start_with(
    config: FilsluseConfig,
    clock: VirtualClock,
    mails: Arc<RecordingNotifier>,
) -> Env {
    let fs = Filsluse::start(config, Arc::new(clock.clone()), mails.clone())
        .await
        .expect("filsluse starts");
    let base = fs.base_url().to_string();
    let addr = fs.addr();
    Env {
        fs,
        clock,
        mails,
        base,
        addr,
        http: client(),
    }
}

/// A reqwest client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Env {
    /// The virtual clock's time.
    pub fn now(&self) -> DateTime<Utc> {
        use iplos_model::calendar::Clock;
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates `username` with a temporary password and changes it to `pw` through the REST
    /// token request's `new_password` (the shortest real path to a usable account).
    pub async fn user_with_password(&self, username: &str, pw: &str) {
        self.fs
            .create_user(&UserSpec::new(username).with_temporary_password("Temp0rary9"))
            .unwrap();
        let (status, body) = self
            .token_form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", "Temp0rary9"),
                ("new_password", pw),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// POSTs the token form; status and JSON.
    pub async fn token_form(&self, form: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
        let r = self
            .http
            .post(self.url("/api/v1/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// An access token for `username`/`pw`.
    pub async fn access_token(&self, username: &str, pw: &str) -> String {
        let (status, body) = self
            .token_form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", pw),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// GET with a bearer token; status, headers and body bytes.
    pub async fn api_get(&self, token: &str, path: &str) -> Reply {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        Reply::from(r).await
    }

    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            http: client(),
            cookie: None,
            last: String::new(),
        }
    }
}

/// A response read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub async fn from(r: reqwest::Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.bytes().await.unwrap().to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn location(&self) -> String {
        self.headers
            .get(reqwest::header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

/// A browser: keeps the session cookie and the last page (for its CSRF token).
pub struct Browser {
    pub base: String,
    http: reqwest::Client,
    pub cookie: Option<String>,
    pub last: String,
}

/// The value of the first `name="csrftoken"` field in a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrftoken\" value=\"";
    let i = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[i..].split('"').next().unwrap().to_string()
}

impl Browser {
    fn take_cookie(&mut self, r: &Reply) {
        for v in r.headers.get_all(reqwest::header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix("filsluse_session=") {
                self.cookie = Some(rest.split(';').next().unwrap().to_string());
            }
        }
    }

    fn with_cookie(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => rb.header(reqwest::header::COOKIE, format!("filsluse_session={c}")),
            None => rb,
        }
    }

    /// GET a path (or a full URL on this portal).
    pub async fn get(&mut self, path: &str) -> Reply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let r = Reply::from(self.with_cookie(self.http.get(url)).send().await.unwrap()).await;
        self.take_cookie(&r);
        if r.status == StatusCode::OK {
            self.last = r.text();
        }
        r
    }

    /// POST a form; the CSRF token of the last page is added unless `fields` has one.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "csrftoken") {
            form.push(("csrftoken".into(), csrf_of(&self.last)));
        }
        let rb = self.http.post(format!("{}{path}", self.base)).form(&form);
        let r = Reply::from(self.with_cookie(rb).send().await.unwrap()).await;
        self.take_cookie(&r);
        if r.status == StatusCode::OK {
            self.last = r.text();
        }
        r
    }

    /// Follows a 303 (one hop).
    pub async fn follow(&mut self, r: &Reply) -> Reply {
        assert!(
            r.status.is_redirection(),
            "expected a redirect, got {}: {}",
            r.status,
            r.text()
        );
        let to = r.location();
        self.get(&to).await
    }

    /// Signs on; returns the redirect answer.
    pub async fn sign_on(&mut self, username: &str, pw: &str) -> Reply {
        let page = self.get("/signon").await;
        assert_eq!(page.status, StatusCode::OK);
        self.post("/signon", &[("username", username), ("password", pw)])
            .await
    }
}

/// A raw HTTP/1.1 GET (the path sent byte for byte); status and body.
pub async fn raw_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    raw_request(addr, "GET", path, headers, "").await
}

/// A raw HTTP/1.1 request; status and body.
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap_or_else(|_| panic!("no complete answer to {method} {path:?}: {out:?}"))
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Runs `curl` with `args` off the runtime (the server shares the test's thread); stdout
/// as text. Panics with a clear message when curl is missing.
pub async fn curl(args: Vec<String>) -> String {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(&args)
            .output()
            .expect("the curl command is needed by this test (apt-get install curl)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip archive with one stored (uncompressed) entry.
pub fn stored_zip(entry: &str, content: &[u8]) -> Vec<u8> {
    let crc = crc32(content);
    let size = u32::try_from(content.len()).unwrap();
    let name = entry.as_bytes();
    let name_len = u16::try_from(name.len()).unwrap();
    let mut z = Vec::new();
    // Local file header.
    z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    z.extend_from_slice(&20u16.to_le_bytes()); // version needed
    z.extend_from_slice(&0u16.to_le_bytes()); // flags
    z.extend_from_slice(&0u16.to_le_bytes()); // stored
    z.extend_from_slice(&0u16.to_le_bytes()); // time
    z.extend_from_slice(&0x4a47u16.to_le_bytes()); // date 2017-02-07
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&name_len.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name);
    z.extend_from_slice(content);
    let cd_start = u32::try_from(z.len()).unwrap();
    // Central directory.
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    z.extend_from_slice(&20u16.to_le_bytes()); // made by
    z.extend_from_slice(&20u16.to_le_bytes()); // needed
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0x4a47u16.to_le_bytes());
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&name_len.to_le_bytes());
    z.extend_from_slice(&[0; 8]); // extra len, comment len, disk, internal attrs
    z.extend_from_slice(&0u32.to_le_bytes()); // external attrs
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name);
    let cd_len = u32::try_from(z.len()).unwrap() - cd_start;
    // End of central directory.
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0; 4]);
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd_start.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

/// SHA-1 of bytes, lower-case hex.
pub fn sha1_hex(b: &[u8]) -> String {
    openssl::sha::sha1(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The path and query of a full link on this portal.
pub fn path_of(link: &str, base: &str) -> String {
    link.strip_prefix(base)
        .unwrap_or_else(|| panic!("{link} is not under {base}"))
        .to_string()
}

/// A fresh temporary state directory (kept by the returned guard).
pub fn state_dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("filsluse");
    (d, p)
}
