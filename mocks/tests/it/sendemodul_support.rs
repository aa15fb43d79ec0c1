//! Shared helpers of the Sendemodul tests: a server on 127.0.0.1 with a virtual clock and an
//! in-memory intake, logins and multipart uploads over reqwest (cookies kept by hand), raw
//! HTTP for bodies no library would send, and real IPLOS files from the generators.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use iplos_generators::{GenConfig, generate_kommune};
use iplos_mocks::intake::{Channel, Intake};
use iplos_mocks::sendemodul::{Sendemodul, SendemodulConfig};
use iplos_model::calendar::VirtualClock;
use iplos_model::message::{OutputEncoding, write_message};
use iplos_model::municipality::lookup;
use reqwest::StatusCode;

/// The season's data year.
pub const YEAR: i32 = 2017;
/// Hamar (0403 in 2017) and Elverum (0427).
pub const HAMAR: &str = "0403";
pub const ELVERUM: &str = "0427";

/// 14:00 Oslo on Friday 12 January 2018 (winter time): the ordinary submission window.
pub fn friday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2018, 1, 12, 13, 0, 0).unwrap()
}

pub fn orgnr(knr: &str) -> String {
    lookup(YEAR as u16, knr).unwrap().orgnr().to_string()
}

pub fn config() -> SendemodulConfig {
    SendemodulConfig {
        data_year: YEAR,
        ..SendemodulConfig::default()
    }
}

pub struct Env {
    pub sm: Sendemodul,
    pub clock: VirtualClock,
    pub intake: Intake,
    pub http: reqwest::Client,
}

pub async fn start_at(config: SendemodulConfig, at: DateTime<Utc>) -> Env {
    let clock = VirtualClock::new(at);
    let intake = Intake::in_memory(Arc::new(clock.clone())).unwrap();
    start_with(config, clock, intake).await
}

pub async fn start_with(config: SendemodulConfig, clock: VirtualClock, intake: Intake) -> Env {
    let sm = Sendemodul::start(config, intake.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        sm,
        clock,
        intake,
        http,
    }
}

impl Env {
    pub fn url(&self, channel: Channel, rest: &str) -> String {
        format!("{}{}", self.sm.portal_url(channel), rest)
    }

    /// Posts the login form; (status, session cookie if set, body).
    pub async fn login_raw(
        &self,
        channel: Channel,
        knr: &str,
        bydel: &str,
        orgnr: &str,
        pin: &str,
    ) -> (StatusCode, Option<String>, String) {
        let r = self
            .http
            .post(self.url(channel, "login"))
            .form(&[
                ("kommunenr", knr),
                ("bydel", bydel),
                ("orgnr", orgnr),
                ("pin", pin),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status();
        let cookie = r
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("SendemodulSession=") && !v.starts_with("SendemodulSession=;"))
            .map(|v| v.split(';').next().unwrap().to_string());
        (status, cookie, r.text().await.unwrap())
    }

    /// Logs kommune `knr` in with the right four values; the cookie.
    pub async fn login(&self, channel: Channel, knr: &str) -> String {
        let (status, cookie, body) = self
            .login_raw(channel, knr, "00", &orgnr(knr), &self.sm.pin(knr))
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        cookie.expect("a session cookie")
    }

    pub async fn get(&self, channel: Channel, rest: &str, cookie: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(self.url(channel, rest))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// The CSRF token of the upload page.
    pub async fn csrf(&self, channel: Channel, cookie: &str) -> String {
        let (status, page) = self.get(channel, "upload", cookie).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        field_value(&page, "csrf").expect("a csrf field")
    }

    /// Uploads with the given text fields and file; (status, body).
    pub async fn upload(
        &self,
        channel: Channel,
        cookie: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> (StatusCode, String) {
        let (ct, body) = multipart(fields, file);
        let r = self
            .http
            .post(self.url(channel, "upload"))
            .header(reqwest::header::COOKIE, cookie)
            .header(reqwest::header::CONTENT_TYPE, ct)
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// A whole-file upload with valid contact fields.
    pub async fn upload_file(
        &self,
        channel: Channel,
        cookie: &str,
        name: &str,
        bytes: &[u8],
    ) -> (StatusCode, String) {
        let csrf = self.csrf(channel, cookie).await;
        self.upload(
            channel,
            cookie,
            &[
                ("csrf", &csrf),
                ("epost", "iplos@hamar.kommune.test"),
                ("telefon", "+47 912 34 567"),
                ("tilbakemeldingspassord", "Hemmelig42"),
            ],
            Some((name, bytes)),
        )
        .await
    }
}

pub const BOUNDARY: &str = "----iplosBoundary7MA4YWxkTrZu0gW";

/// A multipart/form-data body: (content type, bytes).
pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"fil\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), b)
}

/// The `value` of the input named `name`.
pub fn field_value(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\""))?;
    let tag_start = page[..at].rfind('<')?;
    let tag_end = at + page[at..].find('>')?;
    let tag = &page[tag_start..tag_end];
    let v = tag.find("value=\"")? + 7;
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// The text of the element with `id`.
pub fn by_id(page: &str, id: &str) -> Option<String> {
    let at = page.find(&format!("id=\"{id}\""))?;
    let start = at + page[at..].find('>')? + 1;
    let end = start + page[start..].find('<')?;
    Some(page[start..end].to_string())
}

/// A generated IPLOS file (the ordinary submission) of kommune `knr` for `year`.
pub fn iplos_file(year: u16, knr: &str, seed: u64) -> Vec<u8> {
    let m = lookup(year, knr).unwrap();
    let d = generate_kommune(year, m, &GenConfig::with_scale(0.02), seed).unwrap();
    write_message(&d.melding, Vec::new(), OutputEncoding::Utf8).unwrap()
}

/// Sends raw bytes on a new connection and reads the answer until the server closes.
pub async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

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
