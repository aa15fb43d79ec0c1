//! SASL PLAIN against the participants' user table, remembering who logged in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fe2o3_amqp::acceptor::SaslAcceptor;
use fe2o3_amqp::acceptor::sasl_acceptor::SaslServerFrame;
use fe2o3_amqp_types::primitives::{Array, Symbol};
use fe2o3_amqp_types::sasl::{SaslCode, SaslInit, SaslOutcome, SaslResponse};
use iplos_model::ids::HerId;

use super::faults::BrokerFaults;

/// username → (password, HER-id).
pub(crate) type UserTable = HashMap<String, (String, HerId)>;

/// PLAIN only (ANONYMOUS and every other mechanism fail with `auth`). One instance per
/// connection: the user who logged in is left in `authenticated`.
#[derive(Debug, Clone)]
pub(crate) struct PlainUserTable {
    users: Arc<UserTable>,
    pub(crate) authenticated: Arc<Mutex<Option<(String, HerId)>>>,
    /// Set when SASL failed: the PLAIN authcid sent, if one could be read.
    pub(crate) refused: Arc<Mutex<Option<Option<String>>>>,
    /// Fault injection: a user name to refuse.
    faults: Option<BrokerFaults>,
}

impl PlainUserTable {
    pub(crate) fn new(users: Arc<UserTable>, faults: Option<BrokerFaults>) -> Self {
        PlainUserTable {
            users,
            authenticated: Arc::new(Mutex::new(None)),
            refused: Arc::new(Mutex::new(None)),
            faults,
        }
    }

    /// Checks an init; on failure remembers the user name it named (if any).
    fn check(&self, init: &SaslInit) -> SaslCode {
        let mut named = None;
        let code = self.check_named(init, &mut named);
        if code != SaslCode::Ok
            && let Ok(mut slot) = self.refused.lock()
        {
            *slot = Some(named);
        }
        code
    }

    fn check_named(&self, init: &SaslInit, named: &mut Option<String>) -> SaslCode {
        if init.mechanism.as_str() != "PLAIN" {
            return SaslCode::Auth;
        }
        let Some(response) = init.initial_response.as_ref() else {
            return SaslCode::Auth;
        };
        // authzid NUL authcid NUL passwd
        let mut parts = response.as_ref().split(|b| *b == 0);
        let (Some(_authzid), Some(user), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return SaslCode::Auth;
        };
        let (Ok(user), Ok(pass)) = (std::str::from_utf8(user), std::str::from_utf8(pass)) else {
            return SaslCode::Auth;
        };
        *named = Some(user.to_string());
        if self.faults.as_ref().is_some_and(|f| f.auth_refused(user)) {
            return SaslCode::Auth;
        }
        match self.users.get(user) {
            Some((expected, her)) if constant_time_eq(expected.as_bytes(), pass.as_bytes()) => {
                if let Ok(mut slot) = self.authenticated.lock() {
                    *slot = Some((user.to_string(), *her));
                }
                SaslCode::Ok
            }
            _ => SaslCode::Auth,
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl SaslAcceptor for PlainUserTable {
    fn mechanisms(&self) -> Array<Symbol> {
        Array::from(vec![Symbol::from("PLAIN")])
    }

    fn on_init(&mut self, init: SaslInit) -> SaslServerFrame {
        let code = self.check(&init);
        if code != SaslCode::Ok {
            tracing::info!(mechanism = %init.mechanism.as_str(), "SASL authentication refused");
        }
        SaslServerFrame::Outcome(SaslOutcome {
            code,
            additional_data: None,
        })
    }

    fn on_response(&mut self, _response: SaslResponse) -> SaslServerFrame {
        if let Ok(mut slot) = self.refused.lock() {
            slot.get_or_insert(None);
        }
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Auth,
            additional_data: None,
        })
    }
}
