//! The kommune side's clients of the national endpoints, shared by the season engine and the
//! reference EPJ of a certification session.
//!
//! The kommune side's HTTP clients: what a person's browser (or an automated client) does
//! against Sendemodul, filsluse and the mail capture's reading API. Plain reqwest, no
//! cookie store: session cookies are carried by hand, as a form-posting script would.

use std::time::Duration as StdDuration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, redirect};
use serde::Deserialize;

/// A client that does not follow redirects (the agent reads each answer).
pub fn http() -> Result<Client> {
    Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(StdDuration::from_secs(120))
        .pool_max_idle_per_host(4)
        .build()
        .context("building the HTTP client")
}

/// The `name=value` pairs of every Set-Cookie of an answer.
pub fn cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|s| s.trim().to_string())
        .filter(|s| s.contains('=') && !s.ends_with('='))
        .collect()
}

/// Merges new cookies into a jar (by name).
pub fn merge_cookies(jar: &mut Vec<String>, new: Vec<String>) {
    for c in new {
        let name = c.split('=').next().unwrap_or("").to_string();
        jar.retain(|old| old.split('=').next() != Some(name.as_str()));
        jar.push(c);
    }
}

/// The Cookie header of a jar.
pub fn cookie_header(jar: &[String]) -> String {
    jar.join("; ")
}

/// The value of `<input name="NAME" value="...">` in an HTML page (hidden fields, CSRF).
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.split("value=\"").nth(1)?;
    Some(html_unescape(v.split('"').next()?))
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A message in a mailbox listing of the capture's API.
#[derive(Debug, Clone, Deserialize)]
pub struct MailSummary {
    /// Id.
    pub id: u64,
    /// Subject.
    #[serde(default)]
    pub subject: String,
}

/// The mail capture's reading API.
#[derive(Debug, Clone)]
pub struct Mailbox {
    client: Client,
    base: String,
    token: String,
}

impl Mailbox {
    /// A client of the API at `base` (`http://127.0.0.1:port`), sending `token` as
    /// `Authorization: Bearer` (the API answers 401 without it).
    pub fn new(client: Client, base: String, token: String) -> Mailbox {
        Mailbox {
            client,
            base,
            token,
        }
    }

    /// The messages in `address`'s mailbox, oldest first.
    pub async fn list(&self, address: &str) -> Result<Vec<MailSummary>> {
        let url = format!("{}/mailboxes/{}/messages", self.base, encode(address));
        let resp = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| url.clone())?;
        if !resp.status().is_success() {
            bail!("{url}: {}", resp.status());
        }
        let mut v: Vec<MailSummary> = resp.json().await.with_context(|| url.clone())?;
        v.sort_by_key(|m| m.id);
        Ok(v)
    }

    /// One message's text (body) and subject.
    pub async fn text(&self, id: u64) -> Result<(String, String)> {
        let url = format!("{}/messages/{id}", self.base);
        let v: serde_json::Value = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| url.clone())?
            .error_for_status()?
            .json()
            .await?;
        let subject = v
            .get("subject")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string();
        let text = v
            .get("text")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string();
        Ok((subject, text))
    }
}

/// Percent-encodes a path segment.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The first `http://…` link in a text that contains `marker`.
pub fn link_containing(text: &str, marker: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .find(|w| w.contains(marker))
        .map(|w| w.trim_end_matches(['.', ',', ')']).to_string())
}

/// What a filsluse sign-on through a password link ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The password is set.
    PasswordSet,
    /// The link was refused (expired, used or unknown).
    Refused(String),
}

/// The filsluse as a kommune uses it.
#[derive(Debug, Clone)]
pub struct FilsluseClient {
    client: Client,
    base: String,
}

/// A file in the user's folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteFile {
    /// MOVEit file id (a string of digits).
    pub id: serde_json::Value,
    /// Name.
    pub name: String,
    /// Size.
    #[serde(default)]
    pub size: u64,
}

impl FilsluseClient {
    /// A client of the portal at `base`.
    pub fn new(client: Client, base: String) -> FilsluseClient {
        FilsluseClient { client, base }
    }

    /// "New User Password Request": asks for a password link for `username`.
    pub async fn request_link(&self, username: &str) -> Result<()> {
        let page = self
            .client
            .get(format!("{}/password/newuser", self.base))
            .send()
            .await?;
        let mut jar = cookies(&page);
        let html = page.text().await?;
        let mut form = vec![("username".to_string(), username.to_string())];
        if let Some(csrf) = input_value(&html, "csrftoken") {
            form.push(("csrftoken".into(), csrf));
        }
        let resp = self
            .client
            .post(format!("{}/password/newuser", self.base))
            .header(COOKIE, cookie_header(&jar))
            .form(&form)
            .send()
            .await?;
        merge_cookies(&mut jar, cookies(&resp));
        if !resp.status().is_success() {
            bail!("password request refused: {}", resp.status());
        }
        Ok(())
    }

    /// Follows a password link and sets `password`.
    pub async fn use_link(&self, link: &str, password: &str) -> Result<LinkOutcome> {
        let link = self.localise(link);
        let resp = self.client.get(&link).send().await?;
        let mut jar = cookies(&resp);
        let mut status = resp.status();
        let mut location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut html = resp.text().await.unwrap_or_default();
        // Follow redirects by hand (carrying cookies) to the change-password form.
        for _ in 0..5 {
            let Some(loc) = location.take() else { break };
            let url = if loc.starts_with("http") {
                self.localise(&loc)
            } else {
                format!("{}{}", self.base, loc)
            };
            let r = self
                .client
                .get(&url)
                .header(COOKIE, cookie_header(&jar))
                .send()
                .await?;
            merge_cookies(&mut jar, cookies(&r));
            status = r.status();
            location = r
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            html = r.text().await.unwrap_or_default();
        }
        if !status.is_success() || !html.contains("password") {
            return Ok(LinkOutcome::Refused(format!(
                "{status}: {}",
                first_sentence(&html)
            )));
        }
        let csrf = input_value(&html, "csrftoken").unwrap_or_default();
        let form = [
            ("csrftoken", csrf.as_str()),
            ("new_password", password),
            ("new_password2", password),
        ];
        let resp = self
            .client
            .post(format!("{}/password/change", self.base))
            .header(COOKIE, cookie_header(&jar))
            .form(&form)
            .send()
            .await?;
        let st = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if st.is_success() || st.is_redirection() {
            Ok(LinkOutcome::PasswordSet)
        } else {
            Ok(LinkOutcome::Refused(format!(
                "{st}: {}",
                first_sentence(&body)
            )))
        }
    }

    /// REST: a token for `username`/`password`.
    pub async fn token(&self, username: &str, password: &str) -> Result<String> {
        self.token_request(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .await
    }

    /// REST: signs on with a temporary password that must be changed, setting `new`.
    pub async fn token_changing(&self, username: &str, temp: &str, new: &str) -> Result<String> {
        self.token_request(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", temp),
            ("new_password", new),
        ])
        .await
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<String> {
        let resp = self
            .client
            .post(format!("{}/api/v1/token", self.base))
            .form(form)
            .send()
            .await?;
        let st = resp.status();
        let v: serde_json::Value = resp.json().await.unwrap_or_default();
        if !st.is_success() {
            bail!("token refused ({st}): {v}");
        }
        v.get("access_token")
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("token answer without access_token: {v}"))
    }

    /// REST: the files of the user's home folder's upload folder (every folder it sees).
    pub async fn files(&self, token: &str) -> Result<Vec<RemoteFile>> {
        let v: serde_json::Value = self
            .client
            .get(format!("{}/api/v1/files", self.base))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let items = v
            .get("items")
            .cloned()
            .unwrap_or(serde_json::Value::Array(vec![]));
        Ok(serde_json::from_value(items)?)
    }

    /// REST: a file's bytes.
    pub async fn download(&self, token: &str, id: &serde_json::Value) -> Result<Vec<u8>> {
        let id = match id {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let resp = self
            .client
            .get(format!("{}/api/v1/files/{id}/download", self.base))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?;
        Ok(resp.bytes().await?.to_vec())
    }

    /// Links in mails carry the portal's public base; the agent talks to the bound one.
    fn localise(&self, link: &str) -> String {
        match link
            .find("://")
            .and_then(|i| link[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(path_at) => format!("{}{}", self.base, &link[path_at..]),
            None => link.to_string(),
        }
    }
}

fn first_sentence(html: &str) -> String {
    let text: String = html
        .split('<')
        .map(|s| s.split_once('>').map_or(s, |(_, t)| t))
        .collect::<Vec<_>>()
        .join(" ");
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    t.chars().take(160).collect()
}
