//! The outbox: builds RFC 5322 messages (lettre's builder) and sends them over real SMTP
//! (lettre's tokio transport, no TLS) to the capture server or any host:port.
//!
//! Every message is `text/plain; charset=utf-8`, quoted-printable, with `MIME-Version`,
//! `From`, `To`, `Subject`, `Message-ID` and a `Date` in Europe/Oslo time with its offset
//! (`+0100` in winter, `+0200` in summer), taken from the mail or else the injected clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use iplos_model::calendar::{Clock, OSLO};
use lettre::message::Mailbox;
use lettre::message::header::{
    ContentTransferEncoding, ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0,
};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::MailError;
use super::server::MailHandle;

/// A mail address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailAddress {
    /// The display name, e.g. `Statistisk sentralbyrå`.
    pub name: Option<String>,
    /// The address, e.g. `MoveITFilsluse@ssb.test`.
    pub address: String,
}

impl MailAddress {
    /// An address without a display name.
    pub fn new(address: impl Into<String>) -> MailAddress {
        MailAddress {
            name: None,
            address: address.into(),
        }
    }

    /// An address with a display name.
    pub fn named(name: impl Into<String>, address: impl Into<String>) -> MailAddress {
        MailAddress {
            name: Some(name.into()),
            address: address.into(),
        }
    }

    fn mailbox(&self) -> Result<Mailbox, MailError> {
        let address = self
            .address
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Address {
                address: self.address.clone(),
                reason: e.to_string(),
            })?;
        Ok(Mailbox::new(self.name.clone(), address))
    }
}

impl std::fmt::Display for MailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} <{}>", self.address),
            None => f.write_str(&self.address),
        }
    }
}

/// A plain-text mail to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutgoingMail {
    /// The sender (`From` and the envelope's `MAIL FROM`).
    pub from: MailAddress,
    /// The recipients (`To` and the envelope's `RCPT TO`).
    pub to: Vec<MailAddress>,
    /// The subject (UTF-8; encoded as needed).
    pub subject: String,
    /// The text body (UTF-8, lines separated by `\n` or `\r\n`; trailing empty lines
    /// are dropped, the message ends with one line end).
    pub body: String,
    /// The `Date`; `None` for the outbox clock's time at sending.
    pub date: Option<DateTime<Utc>>,
    /// The `Message-ID` including angle brackets; `None` for one derived
    /// deterministically from the content, the date and the outbox's counter.
    pub message_id: Option<String>,
}

/// What was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    /// The `Message-ID` used.
    pub message_id: String,
    /// The `Date` used.
    pub date: DateTime<Utc>,
    /// The server's reply to the end of `DATA` (code and text), e.g.
    /// `250 2.0.0 Ok: queued as 7`.
    pub reply: String,
    /// The message bytes as sent, before dot-stuffing: lettre's formatted message and
    /// the CRLF that ends its last line (what the capture server stores).
    pub bytes: Vec<u8>,
}

/// Where and how the outbox connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// SMTP host (name or IP).
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// The name given in `EHLO`.
    pub hello_name: String,
    /// Timeout of each SMTP command.
    pub timeout: Duration,
    /// `AUTH` user and password, if the server needs them (plain connection: only for
    /// test servers).
    pub credentials: Option<(String, String)>,
}

impl OutboxConfig {
    /// Plain SMTP to `host:port`, EHLO `ssb.iplos-harness.invalid`, 60 s timeout, no AUTH.
    pub fn new(host: impl Into<String>, port: u16) -> OutboxConfig {
        OutboxConfig {
            host: host.into(),
            port,
            hello_name: "ssb.iplos-harness.invalid".to_string(),
            timeout: Duration::from_secs(60),
            credentials: None,
        }
    }

    /// Plain SMTP to a capture server.
    pub fn for_capture(handle: &MailHandle) -> OutboxConfig {
        let addr = handle.smtp_addr();
        OutboxConfig::new(addr.ip().to_string(), addr.port())
    }
}

/// Sends mail over SMTP (one connection per mail). Share it behind an `Arc` to send from
/// several tasks.
pub struct Outbox {
    config: OutboxConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    clock: Arc<dyn Clock>,
    counter: AtomicU64,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An outbox sending to `config`'s server, dating mail by `clock`.
    pub fn new(config: OutboxConfig, clock: Arc<dyn Clock>) -> Outbox {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .hello_name(ClientId::Domain(config.hello_name.clone()))
            .timeout(Some(config.timeout));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Outbox {
            transport: builder.build(),
            config,
            clock,
            counter: AtomicU64::new(0),
        }
    }

    /// An outbox sending to a capture server.
    pub fn to_capture(handle: &MailHandle, clock: Arc<dyn Clock>) -> Outbox {
        Outbox::new(OutboxConfig::for_capture(handle), clock)
    }

    /// The configuration.
    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    /// Builds the message for `mail` (what [`Outbox::send`] would send).
    pub fn build(
        &self,
        mail: &OutgoingMail,
    ) -> Result<(Message, String, DateTime<Utc>), MailError> {
        let date = mail.date.unwrap_or_else(|| self.clock.now());
        let message_id = match &mail.message_id {
            Some(id) => id.clone(),
            None => self.derive_message_id(mail, date),
        };
        let mut builder = Message::builder()
            .from(mail.from.mailbox()?)
            .subject(mail.subject.clone())
            .message_id(Some(message_id.clone()))
            .header(MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN)
            .header(ContentTransferEncoding::QuotedPrintable)
            .date(date.into());
        for to in &mail.to {
            builder = builder.to(to.mailbox()?);
        }
        // lettre ends the data with CRLF "." CRLF after the message, so the last line of
        // the body goes without its line end (else the recipient sees an extra one).
        let body = mail
            .body
            .replace("\r\n", "\n")
            .trim_end_matches('\n')
            .replace('\n', "\r\n");
        let mut message = builder
            .body(body)
            .map_err(|e| MailError::Build(e.to_string()))?;
        // lettre writes the Date in UTC (+0000); the national side writes Oslo time.
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("Date"),
            oslo_rfc2822(date),
        ));
        Ok((message, message_id, date))
    }

    /// Builds and sends `mail`; the server's refusal or a connection failure is an error.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<SentMail, MailError> {
        let (message, message_id, date) = self.build(mail)?;
        let mut bytes = message.formatted();
        bytes.extend_from_slice(b"\r\n");
        let response = self
            .transport
            .send(message)
            .await
            .map_err(|e| MailError::Send {
                server: format!("{}:{}", self.config.host, self.config.port),
                reason: e.to_string(),
            })?;
        let reply = format!(
            "{} {}",
            response.code(),
            response.message().collect::<Vec<_>>().join(" ")
        );
        tracing::info!(%message_id, to = ?mail.to, subject = %mail.subject, %reply, "outbox: sent");
        Ok(SentMail {
            message_id,
            date,
            reply,
            bytes,
        })
    }

    /// `<hex.n@domain-of-sender>`: a hash of the mail and its date, and the outbox's
    /// counter. Deterministic: a fresh outbox sending the same mail at the same instant
    /// gives the same id; set [`OutgoingMail::message_id`] to tell such mails apart.
    fn derive_message_id(&self, mail: &OutgoingMail, date: DateTime<Utc>) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut h = Sha256::new();
        h.update(mail.from.address.as_bytes());
        for to in &mail.to {
            h.update(b"\0");
            h.update(to.address.as_bytes());
        }
        h.update(b"\0");
        h.update(mail.subject.as_bytes());
        h.update(b"\0");
        h.update(mail.body.as_bytes());
        h.update(date.timestamp().to_be_bytes());
        let hex: String = h.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let domain = mail
            .from
            .address
            .rsplit_once('@')
            .map_or("iplos-harness.invalid", |(_, d)| d);
        format!("<{hex}.{n}@{domain}>")
    }
}

/// An instant as an RFC 5322 date in Europe/Oslo time, e.g.
/// `Mon, 15 Jan 2018 08:00:00 +0100`.
pub(crate) fn oslo_rfc2822(t: DateTime<Utc>) -> String {
    t.with_timezone(&OSLO).to_rfc2822()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use iplos_model::calendar::VirtualClock;

    #[test]
    fn dates_carry_the_oslo_offset() {
        let winter = Utc.with_ymd_and_hms(2018, 1, 15, 7, 0, 0).unwrap();
        assert_eq!(oslo_rfc2822(winter), "Mon, 15 Jan 2018 08:00:00 +0100");
        let summer = Utc.with_ymd_and_hms(2018, 4, 3, 6, 0, 0).unwrap();
        assert_eq!(oslo_rfc2822(summer), "Tue, 3 Apr 2018 08:00:00 +0200");
    }

    #[test]
    fn built_message_has_the_headers() {
        let t = Utc.with_ymd_and_hms(2018, 1, 15, 7, 0, 0).unwrap();
        let outbox = Outbox::new(
            OutboxConfig::new("127.0.0.1", 25),
            Arc::new(VirtualClock::new(t)),
        );
        let mail = OutgoingMail {
            from: MailAddress::named("Statistisk sentralbyrå", "iplos@ssb.test"),
            to: vec![MailAddress::new("postmottak@hamar.kommune.test")],
            subject: "Utløper på tid".into(),
            body: "Linje én\nLinje to\n".into(),
            date: None,
            message_id: None,
        };
        let (m, id, date) = outbox.build(&mail).unwrap();
        assert_eq!(date, t);
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(
            text.contains("Date: Mon, 15 Jan 2018 08:00:00 +0100\r\n"),
            "{text}"
        );
        assert!(text.contains(&format!("Message-ID: {id}\r\n")), "{text}");
        assert!(id.ends_with("@ssb.test>"));
        assert!(text.contains("MIME-Version: 1.0\r\n"));
        assert!(text.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(text.contains("Content-Transfer-Encoding: quoted-printable\r\n"));
        assert!(text.contains("Linje =C3=A9n\r\n"), "{text}");
        assert!(!text.contains("+0000"));
        assert!(text.ends_with("Linje =C3=A9n\r\nLinje to"), "{text}");
        // Same mail again: a different id (counter), same date.
        let (_, id2, _) = outbox.build(&mail).unwrap();
        assert_ne!(id, id2);
    }
}
