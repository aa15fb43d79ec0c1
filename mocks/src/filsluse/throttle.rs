//! **\[model\]** The throttle of password links asked for through "New User Password
//! Request" and "Password Change Request": at most [`LinkThrottle::max_links`] mails per
//! username within [`LinkThrottle::window`] on the injected clock, and at most
//! [`LinkThrottle::max_per_client`] requests from one client address in that window (far
//! looser: many kommuner may sit behind one address). A request past either limit gets the
//! same answer as any other — the page never tells — but no mail; it is logged.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// How many password links are mailed per username and requested per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkThrottle {
    /// Links mailed per username within the window (5).
    pub max_links: usize,
    /// Requests per client address within the window (1 000: a whole country's kommuner
    /// may sit behind one address, as the season engine's do on loopback).
    pub max_per_client: usize,
    /// The window (1 hour).
    pub window: Duration,
}

impl Default for LinkThrottle {
    fn default() -> Self {
        LinkThrottle {
            max_links: 5,
            max_per_client: 1000,
            window: Duration::hours(1),
        }
    }
}

/// Most keys kept; past that, keys with nothing in the window are dropped.
const MAX_KEYS: usize = 100_000;

/// A sliding-window counter per key.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    seen: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

impl Limiter {
    /// Counts an event for `key` at `now` and says whether it is within `max` per `window`
    /// (a refused event is not counted).
    pub(crate) fn allow(
        &self,
        key: &str,
        now: DateTime<Utc>,
        max: usize,
        window: Duration,
    ) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_KEYS {
            seen.retain(|_, v| v.back().is_some_and(|t| *t > now - window));
        }
        let times = seen.entry(key.to_string()).or_default();
        while times.front().is_some_and(|t| *t <= now - window) {
            times.pop_front();
        }
        if times.len() >= max {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_per_window_then_again_after_it() {
        let l = Limiter::default();
        let t0: DateTime<Utc> = "2024-01-08T09:00:00Z".parse().unwrap();
        let w = Duration::hours(1);
        let allowed = (0..25)
            .filter(|i| l.allow("a@x.test", t0 + Duration::seconds(*i), 5, w))
            .count();
        assert_eq!(allowed, 5);
        assert!(l.allow("b@x.test", t0, 5, w), "another key is not affected");
        assert!(l.allow("a@x.test", t0 + Duration::minutes(61), 5, w));
    }
}
