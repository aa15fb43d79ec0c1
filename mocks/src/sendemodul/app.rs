//! The server's state shared by the pages: sessions, the login check with its lockout,
//! the recorded login attempts and the split uploads in progress.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use iplos_model::calendar::Clock;
use serde::Deserialize;

use super::groups::{Group, GroupKey};
use super::types::{LoginAttempt, LoginOutcome, SendemodulConfig};
use crate::intake::{Channel, Intake};

/// The login form (missing fields are empty, and refused like wrong ones).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    pub(crate) kommunenr: String,
    #[serde(default)]
    pub(crate) bydel: String,
    #[serde(default)]
    pub(crate) orgnr: String,
    #[serde(default)]
    pub(crate) pin: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) channel: Channel,
    pub(crate) kommunenr: String,
    pub(crate) kommune_name: String,
    pub(crate) bydel: String,
    pub(crate) csrf: String,
    pub(crate) expires: DateTime<Utc>,
}

/// A refused login: the outcome and, when locked, until when.
pub(crate) type Refused = (LoginOutcome, Option<DateTime<Utc>>);

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    locked_until: Option<DateTime<Utc>>,
}

const MAX_ATTEMPTS_KEPT: usize = 10_000;

pub(crate) struct App {
    pub(crate) config: SendemodulConfig,
    pub(crate) intake: Intake,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) parts_dir: PathBuf,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Failures>>,
    /// The login attempts recorded (the latest [`MAX_ATTEMPTS_KEPT`]).
    pub(crate) attempts: Mutex<VecDeque<LoginAttempt>>,
    pub(crate) groups: Mutex<HashMap<GroupKey, Group>>,
    _tmp: Option<tempfile::TempDir>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl App {
    /// The server's state; split parts go to `parts_dir` (`tmp`: the temporary directory
    /// it is in, removed with the state).
    pub(crate) fn new(
        config: SendemodulConfig,
        intake: Intake,
        clock: Arc<dyn Clock>,
        parts_dir: PathBuf,
        tmp: Option<tempfile::TempDir>,
    ) -> App {
        App {
            config,
            intake,
            clock,
            parts_dir,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            attempts: Mutex::new(VecDeque::new()),
            groups: Mutex::new(HashMap::new()),
            _tmp: tmp,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn registry_year(&self) -> u16 {
        u16::try_from(self.config.data_year).unwrap_or(0)
    }

    /// The session of a cookie value on `channel`, extended on use.
    pub(crate) fn session(&self, token: &str, channel: Channel) -> Option<Session> {
        let now = self.now();
        let mut sessions = lock(&self.sessions);
        let s = sessions.get_mut(token)?;
        if s.expires <= now {
            sessions.remove(token);
            return None;
        }
        if s.channel != channel {
            return None;
        }
        s.expires = now + self.config.session_lifetime;
        Some(s.clone())
    }

    pub(crate) fn end_session(&self, token: &str) {
        lock(&self.sessions).remove(token);
    }

    fn record(&self, a: LoginAttempt) {
        let mut l = lock(&self.attempts);
        if l.len() >= MAX_ATTEMPTS_KEPT {
            l.pop_front();
        }
        l.push_back(a);
    }

    /// The lockout end for this kommunenummer or address, if locked now.
    pub(crate) fn locked_until(&self, knr: &str, ip: IpAddr) -> Option<DateTime<Utc>> {
        let now = self.now();
        let f = lock(&self.failures);
        [format!("knr:{knr}"), format!("ip:{ip}")]
            .iter()
            .filter_map(|k| f.get(k).and_then(|x| x.locked_until))
            .filter(|u| *u > now)
            .max()
    }

    /// Checks a login; `Ok(token)` or the outcome of a refusal.
    pub(crate) fn login(
        &self,
        channel: Channel,
        form: &LoginForm,
        ip: IpAddr,
    ) -> Result<(String, Session), Refused> {
        let now = self.now();
        let knr: String = form.kommunenr.trim().chars().take(16).collect();
        let knr_logged: String = knr.escape_debug().collect();
        if let Some(until) = self.locked_until(&knr, ip) {
            tracing::warn!(target: "iplos_mocks::sendemodul", kommunenr = %knr_logged, client = %ip, %until, "login refused: locked out");
            self.record(LoginAttempt {
                at: now,
                channel,
                kommunenr: knr_logged,
                client: ip,
                outcome: LoginOutcome::Locked,
            });
            return Err((LoginOutcome::Locked, Some(until)));
        }
        let bydel = form.bydel.trim();
        let mut wrong: Vec<&'static str> = Vec::new();
        let kommune = iplos_model::municipality::lookup(self.registry_year(), &knr).ok();
        match kommune {
            None => wrong.push("kommunenr"),
            Some(m) => {
                let allowed = self.config.bydeler.get(m.number());
                let ok = match allowed {
                    Some(list) => list.iter().any(|b| b == bydel),
                    None => bydel == "00",
                };
                if !ok {
                    wrong.push("bydel");
                }
                if form.orgnr.trim().replace(' ', "") != m.orgnr() {
                    wrong.push("orgnr");
                }
                let pin = self.config.pins.pin(m.number());
                if !constant_time_eq(form.pin.trim().as_bytes(), pin.as_bytes()) {
                    wrong.push("pin");
                }
            }
        }
        let keys = [format!("knr:{knr}"), format!("ip:{ip}")];
        if let (true, Some(m)) = (wrong.is_empty(), kommune) {
            {
                let mut f = lock(&self.failures);
                for k in &keys {
                    f.remove(k);
                }
            }
            let token = random_hex(32);
            let session = Session {
                channel,
                kommunenr: m.number().to_string(),
                kommune_name: m.name().to_string(),
                bydel: bydel.to_string(),
                csrf: random_hex(16),
                expires: now + self.config.session_lifetime,
            };
            {
                let mut s = lock(&self.sessions);
                s.retain(|_, v| v.expires > now);
                s.insert(token.clone(), session.clone());
            }
            tracing::info!(target: "iplos_mocks::sendemodul", kommunenr = %knr, %bydel, %channel, client = %ip, "login");
            self.record(LoginAttempt {
                at: now,
                channel,
                kommunenr: knr_logged,
                client: ip,
                outcome: LoginOutcome::Success,
            });
            return Ok((token, session));
        }
        let mut until = None;
        {
            let mut f = lock(&self.failures);
            if f.len() > 100_000 {
                f.retain(|_, v| v.locked_until.is_some_and(|u| u > now));
            }
            let limits = [
                self.config.max_failures,
                self.config.max_failures_per_address,
            ];
            for (k, limit) in keys.iter().zip(limits) {
                let e = f.entry(k.clone()).or_default();
                if e.locked_until.is_some_and(|u| u <= now) {
                    e.locked_until = None;
                }
                e.count += 1;
                if e.count >= limit {
                    e.count = 0;
                    let u = now + self.config.lockout;
                    e.locked_until = Some(u);
                    until = Some(u);
                    tracing::warn!(target: "iplos_mocks::sendemodul", key = %k.escape_debug(), %u, "locked out after repeated failed logins");
                }
            }
        }
        tracing::warn!(target: "iplos_mocks::sendemodul", kommunenr = %knr_logged, wrong = ?wrong, client = %ip, %channel, "login refused");
        self.record(LoginAttempt {
            at: now,
            channel,
            kommunenr: knr_logged,
            client: ip,
            outcome: LoginOutcome::Refused(wrong.clone()),
        });
        Err((LoginOutcome::Refused(wrong), until))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
