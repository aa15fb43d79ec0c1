//! Shared pieces of the mail tests: peers that are not ours (Python's smtplib, curl), a
//! raw SMTP line client for malformed sessions, and the HTTP API read with curl.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use iplos_mocks::mail::{MailConfig, MailHandle, MailServer};
use iplos_model::calendar::{Clock, SystemClock};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How long a test waits for any one answer before failing (not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The Python interpreter: Debian's `/usr/bin/python3` when present.
pub fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// `mocks/tests/peers/`.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("peers")
}

/// The reading API's bearer token in these tests ([`start_with`] sets it; [`http_get`]
/// sends it).
pub const TOKEN: &str = "test-token-of-the-mail-api";

/// A capture server with the given configuration on the system clock (its API token
/// [`TOKEN`]).
pub async fn start(config: MailConfig) -> MailHandle {
    start_with(config, Arc::new(SystemClock)).await
}

/// A capture server with the given configuration and clock.
pub async fn start_with(mut config: MailConfig, clock: Arc<dyn Clock>) -> MailHandle {
    config.http_token = TOKEN.to_string();
    MailServer::start(config, clock)
        .await
        .expect("capture server starts")
}

/// Runs a command off the async threads and returns its output.
pub async fn run(mut cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("command task")
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"))
}

/// Writes `bytes` to a temporary file (kept alive by the returned guard).
pub fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut f, bytes).expect("write temp file");
    f
}

/// Sends `msg` with Python's smtplib (`peers/smtp_send.py`) and returns its JSON verdict.
pub async fn py_send(
    addr: SocketAddr,
    from: &str,
    to: &[&str],
    msg: &[u8],
    extra: &[&str],
) -> Value {
    let file = temp_file(msg);
    let mut cmd = Command::new(python());
    cmd.arg(peers_dir().join("smtp_send.py"))
        .args(["--host", &addr.ip().to_string()])
        .args(["--port", &addr.port().to_string()])
        .args(["--from", from])
        .arg("--file")
        .arg(file.path());
    for t in to {
        cmd.args(["--to", t]);
    }
    cmd.args(extra);
    let out = run(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "smtp_send.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON {stdout:?}: {e}"))
}

/// Sends `msg` with `curl smtp://`; returns curl's output (exit status 0 on success).
pub async fn curl_smtp(addr: SocketAddr, from: &str, to: &[&str], msg: &[u8]) -> Output {
    let file = temp_file(msg);
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30"])
        .arg(format!("smtp://{addr}"))
        .args(["--mail-from", from]);
    for t in to {
        cmd.args(["--mail-rcpt", t]);
    }
    cmd.arg("--upload-file").arg(file.path());
    run(cmd).await
}

/// `GET url` with curl: the status and the body bytes.
pub async fn http_get(url: &str) -> (u16, Vec<u8>) {
    let body = tempfile::NamedTempFile::new().expect("temp file");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30", "-H"])
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .arg("-o")
        .arg(body.path())
        .args(["-w", "%{http_code}", url]);
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("status code");
    (code, std::fs::read(body.path()).expect("read body"))
}

/// `GET url` with curl, body parsed as JSON.
pub async fn http_json(url: &str) -> (u16, Value) {
    let (code, body) = http_get(url).await;
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (code, v)
}

/// A small well-formed message with CRLF line ends.
pub fn simple_message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 15 Jan 2018 08:00:00 +0100\r\n\
         Message-ID: <{subject}@peer.invalid>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Python sends one message to `to`; it must be captured. The proof that the server is
/// still up and well after whatever came before.
pub async fn assert_good_client_works(handle: &MailHandle, to: &str) {
    let before = handle.messages(to).expect("list").len();
    let subject = format!("still-up-{before}");
    let msg = simple_message("peer@example.org", to, &subject, "hello");
    let v = py_send(handle.smtp_addr(), "peer@example.org", &[to], &msg, &[]).await;
    assert_eq!(v["ok"], true, "good client refused: {v}");
    let list = handle.messages(to).expect("list");
    assert_eq!(list.len(), before + 1);
    assert_eq!(
        list.last().map(|m| m.subject.as_str()),
        Some(subject.as_str())
    );
}

/// A raw SMTP connection that says exactly what a test tells it to.
pub struct Raw {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Raw {
    /// Connects (the greeting is not read).
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (r, w) = stream.into_split();
        Raw {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    /// Connects and reads the 220 greeting.
    pub async fn greeted(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr).await;
        let (code, text) = raw.reply().await;
        assert_eq!(code, 220, "greeting: {text}");
        raw
    }

    /// Reads one complete reply (all lines of a multi-line one): code and the text of
    /// its lines joined by `\n`. `(0, "")` when the server closed the connection.
    pub async fn reply(&mut self) -> (u16, String) {
        read_reply(&mut self.reader).await
    }

    /// Sends `line` every `every` until the server replies; returns the reply.
    pub async fn trickle_until_reply(&mut self, line: &[u8], every: Duration) -> (u16, String) {
        let writer = &mut self.writer;
        let trickle = async {
            loop {
                if writer.write_all(line).await.is_err() {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(every).await;
            }
        };
        tokio::select! {
            reply = read_reply(&mut self.reader) => reply,
            () = trickle => unreachable!("the trickle never ends"),
        }
    }

    /// Sends bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        // A server that has closed may refuse the write; the next reply shows it.
        let _ = self.writer.write_all(bytes).await;
    }

    /// Sends `line` + CRLF and reads the reply.
    pub async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Whether the server closes the connection (EOF or reset) within the patience.
    pub async fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        tokio::time::timeout(PATIENCE, self.reader.read_to_end(&mut rest))
            .await
            .is_ok()
    }
}

/// Reads one complete SMTP reply from `reader`.
async fn read_reply(reader: &mut BufReader<OwnedReadHalf>) -> (u16, String) {
    let mut texts = Vec::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(PATIENCE, reader.read_line(&mut line))
            .await
            .expect("reply within patience")
            .unwrap_or(0);
        if n == 0 {
            return (0, texts.join("\n"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        texts.push(line.get(4..).unwrap_or("").to_string());
        if line.as_bytes().get(3) != Some(&b'-') {
            return (code, texts.join("\n"));
        }
    }
}
