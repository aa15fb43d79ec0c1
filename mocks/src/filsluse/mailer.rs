//! [`MailNotifier`]: the portal's mails sent over real SMTP through the [`Outbox`].
//!
//! The portal calls its [`Notifier`] synchronously on the request's task; sending is
//! async. Each mail is therefore queued on an unbounded channel (the call returns at
//! once) and one tokio task sends them **in order** (a password link never overtakes the
//! new-user mail). A send that fails is tried again ([`MailerConfig::attempts`], with
//! [`MailerConfig::retry_delay`] between tries); a mail that still fails is logged
//! (`tracing` error, target `iplos_mocks::filsluse`), counted ([`MailNotifier::failed_count`])
//! and kept with its error ([`MailNotifier::failures`]) so it can be resent
//! ([`MailNotifier::resend_failed`]) — never dropped silently.
//!
//! [`MailNotifier::flush`] waits until every mail queued before the call has been sent
//! or has failed: tests and the season engine use it before they look in the mailboxes.
//! Each mail is dated by the portal's injected clock ([`FilsluseMail::outgoing`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::notify::{FilsluseMail, NewFileMail, NewUserMail, Notifier, PasswordLinkMail};
use crate::mail::{Outbox, OutgoingMail, SentMail};

const LOG: &str = "iplos_mocks::filsluse";

/// How the notifier retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailerConfig {
    /// Tries per mail (at least 1); **\[model\]** 3.
    pub attempts: u32,
    /// Pause between tries; **\[model\]** 200 ms.
    pub retry_delay: Duration,
}

impl Default for MailerConfig {
    fn default() -> Self {
        MailerConfig {
            attempts: 3,
            retry_delay: Duration::from_millis(200),
        }
    }
}

/// A mail that could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMail {
    /// The mail as the portal produced it.
    pub mail: FilsluseMail,
    /// The last error.
    pub error: String,
    /// Tries made.
    pub attempts: u32,
}

/// Errors of [`MailNotifier::flush`].
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// Mails were still queued when the time ran out.
    #[error("{pending} filsluse mail(s) still queued after {waited:?}")]
    Timeout {
        /// Mails neither sent nor failed yet.
        pending: u64,
        /// How long `flush` waited.
        waited: Duration,
    },
    /// The sending task is gone (the runtime shut down): the queued mails were not sent.
    #[error("the filsluse mail task has stopped with {pending} mail(s) unsent")]
    Stopped {
        /// Mails neither sent nor failed.
        pending: u64,
    },
}

#[derive(Default)]
struct State {
    queued: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<FailedMail>>,
    sent_log: Mutex<Vec<SentMail>>,
}

/// A [`Notifier`] that sends every filsluse mail through an [`Outbox`] (to the capture
/// server by default: [`Outbox::to_capture`]). See the module documentation.
pub struct MailNotifier {
    tx: mpsc::UnboundedSender<FilsluseMail>,
    state: Arc<State>,
    done: watch::Receiver<u64>,
}

impl std::fmt::Debug for MailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailNotifier")
            .field("queued", &self.queued_count())
            .field("sent", &self.sent_count())
            .field("failed", &self.failed_count())
            .finish()
    }
}

impl MailNotifier {
    /// Starts the sending task with the default retries. Must be called within a tokio
    /// runtime.
    pub fn start(outbox: Arc<Outbox>) -> MailNotifier {
        MailNotifier::with_config(outbox, MailerConfig::default())
    }

    /// Starts the sending task. Must be called within a tokio runtime.
    pub fn with_config(outbox: Arc<Outbox>, config: MailerConfig) -> MailNotifier {
        let (tx, mut rx) = mpsc::unbounded_channel::<FilsluseMail>();
        let (done_tx, done) = watch::channel(0u64);
        let state = Arc::new(State::default());
        let task_state = Arc::clone(&state);
        let attempts = config.attempts.max(1);
        tokio::spawn(async move {
            let mut processed = 0u64;
            while let Some(mail) = rx.recv().await {
                let outgoing = mail.outgoing();
                match send_with_retries(&outbox, &outgoing, attempts, config.retry_delay).await {
                    Ok(sent) => {
                        lock(&task_state.sent_log).push(sent);
                        task_state.sent.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(error) => {
                        tracing::error!(
                            target: LOG, to = %mail.to(), subject = %outgoing.subject,
                            %error, attempts, "filsluse mail could not be sent"
                        );
                        lock(&task_state.failures).push(FailedMail {
                            mail,
                            error,
                            attempts,
                        });
                        task_state.failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                processed += 1;
                let _ = done_tx.send(processed);
            }
        });
        MailNotifier { tx, state, done }
    }

    fn queue(&self, mail: FilsluseMail) {
        self.state.queued.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.tx.send(mail) {
            // The task is gone (runtime shut down): keep the mail as a failure.
            tracing::error!(target: LOG, to = %e.0.to(), "filsluse mail task stopped; mail not sent");
            lock(&self.state.failures).push(FailedMail {
                mail: e.0,
                error: "the mail task has stopped".into(),
                attempts: 0,
            });
            self.state.failed.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Mails handed to the notifier so far.
    pub fn queued_count(&self) -> u64 {
        self.state.queued.load(Ordering::SeqCst)
    }

    /// Mails the SMTP server accepted.
    pub fn sent_count(&self) -> u64 {
        self.state.sent.load(Ordering::SeqCst)
    }

    /// Mails that failed every try (see [`MailNotifier::failures`]).
    pub fn failed_count(&self) -> u64 {
        self.state.failed.load(Ordering::SeqCst)
    }

    /// The mails that failed, with their last error, oldest first.
    pub fn failures(&self) -> Vec<FailedMail> {
        lock(&self.state.failures).clone()
    }

    /// What the SMTP server accepted (message id, date, reply), oldest first.
    pub fn sent(&self) -> Vec<SentMail> {
        lock(&self.state.sent_log).clone()
    }

    /// Queues the failed mails again (e.g. after the mail server is back) and forgets
    /// them as failures; returns how many.
    pub fn resend_failed(&self) -> usize {
        let failed: Vec<FailedMail> = std::mem::take(&mut *lock(&self.state.failures));
        self.state
            .failed
            .fetch_sub(failed.len() as u64, Ordering::SeqCst);
        // They were counted as processed: count them as queued again.
        let n = failed.len();
        for f in failed {
            self.queue(f.mail);
        }
        n
    }

    /// Waits until every mail queued before this call is sent or failed, at most
    /// `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), MailerError> {
        let target = self.queued_count();
        let pending = |processed: u64| target.saturating_sub(processed);
        let mut done = self.done.clone();
        let processed_target = target.saturating_sub(self.stopped_without_task());
        let wait = done.wait_for(|p| *p >= processed_target);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(MailerError::Stopped {
                pending: pending(*self.done.borrow()),
            }),
            Err(_) => Err(MailerError::Timeout {
                pending: pending(*self.done.borrow()),
                waited: timeout,
            }),
        }
    }

    /// Mails that never reached the task (queued after it stopped): counted as failed in
    /// [`MailNotifier::queue`], never as processed by the task.
    fn stopped_without_task(&self) -> u64 {
        lock(&self.state.failures)
            .iter()
            .filter(|f| f.attempts == 0)
            .count() as u64
    }
}

impl Notifier for MailNotifier {
    fn new_user(&self, mail: NewUserMail) {
        self.queue(FilsluseMail::NewUser(mail));
    }

    fn password_link(&self, mail: PasswordLinkMail) {
        self.queue(FilsluseMail::PasswordLink(mail));
    }

    fn new_file(&self, mail: NewFileMail) {
        self.queue(FilsluseMail::NewFile(mail));
    }
}

async fn send_with_retries(
    outbox: &Outbox,
    mail: &OutgoingMail,
    attempts: u32,
    delay: Duration,
) -> Result<SentMail, String> {
    let mut last = String::new();
    for attempt in 1..=attempts {
        match outbox.send(mail).await {
            Ok(sent) => return Ok(sent),
            Err(e) => {
                tracing::warn!(target: LOG, attempt, attempts, error = %e, "filsluse mail send failed");
                last = e.to_string();
                if attempt < attempts {
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
    Err(last)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
