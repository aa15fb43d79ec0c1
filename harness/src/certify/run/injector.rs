//! The register's answers for a phase: the session arms the fault of the phase (AppRec
//! status 2 or 3, a transport error, a withheld or delayed AppRec) for the kommune's
//! messages to one register.

use std::sync::Mutex;

use iplos_mocks::receiver::{Injection, Injector};
use iplos_model::ids::HerId;

/// The register's answers for a phase, armed by the session.
#[derive(Default)]
pub struct SessionInjector {
    armed: Mutex<Armed>,
}

#[derive(Default)]
struct Armed {
    kommune: Option<HerId>,
    own: Option<HerId>,
    once: Option<Injection>,
    /// `once` is for the `at`-th new message (1-based); `seen` counts them.
    at: u32,
    seen: u32,
    each: Option<Injection>,
}

impl Injector for SessionInjector {
    fn inject(
        &self,
        own: HerId,
        from: Option<HerId>,
        _message_id: Option<&str>,
    ) -> Option<Injection> {
        let mut a = self.armed.lock().ok()?;
        if a.own != Some(own) || from.is_none() || a.kommune != from {
            return None;
        }
        if a.once.is_some() {
            // The fault strikes the plan's `after_messages`-th message of the phase.
            a.seen += 1;
            if a.seen >= a.at {
                return a.once.take();
            }
            return a.each.clone();
        }
        a.each.clone()
    }
}

impl SessionInjector {
    /// Arms `once` for the `at`-th new message of the kommune to `own`, `each` for every
    /// other one.
    pub fn arm(
        &self,
        kommune: HerId,
        own: HerId,
        (once, at): (Option<Injection>, u32),
        each: Option<Injection>,
    ) {
        if let Ok(mut a) = self.armed.lock() {
            *a = Armed {
                kommune: Some(kommune),
                own: Some(own),
                once,
                at: at.max(1),
                seen: 0,
                each,
            };
        }
    }

    /// Nothing injected.
    pub fn disarm(&self) {
        if let Ok(mut a) = self.armed.lock() {
            *a = Armed::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iplos_mocks::receiver::{KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID};
    use std::time::Duration;

    #[test]
    fn an_injection_strikes_the_planned_message_of_the_kommune_to_the_armed_register_only() {
        let kommune = HerId::new(9_004_601).unwrap();
        let other = HerId::new(9_000_301).unwrap();
        let (validation, production) = (
            HerId::new(KPR_VALIDATION_HER_ID).unwrap(),
            HerId::new(KPR_PRODUCTION_HER_ID).unwrap(),
        );
        let inj = SessionInjector::default();
        let reject = Injection::Rejected { reason: "r".into() };
        inj.arm(kommune, validation, (Some(reject.clone()), 2), None);
        assert_eq!(
            inj.inject(validation, Some(other), None),
            None,
            "another sender"
        );
        assert_eq!(
            inj.inject(production, Some(kommune), None),
            None,
            "another register"
        );
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            None,
            "the 1st message"
        );
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            Some(reject),
            "the 2nd"
        );
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            None,
            "once only"
        );
        let delay = Injection::DelayReply(Duration::from_millis(5));
        inj.arm(kommune, validation, (None, 1), Some(delay.clone()));
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            Some(delay.clone())
        );
        assert_eq!(
            inj.inject(validation, Some(kommune), None),
            Some(delay),
            "every message"
        );
        inj.disarm();
        assert_eq!(inj.inject(validation, Some(kommune), None), None);
    }
}
