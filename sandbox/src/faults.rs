//! Fault injection: what a busy, restarting or compacting kube-apiserver does to its
//! clients — watch events that arrive late, watches that end, 410 Gone when a watch
//! resumes, 409 Conflict on writes, 429 throttling — at chosen rates, for tests that
//! prove convergence. Faults touch only requests of the faulty user
//! (`Sandbox::faulty_client`), so a test's own reads and writes stay exact. Off until
//! a test sets a plan; the rolls are seeded, so a failing run can be replayed.

use std::sync::Mutex;
use std::time::Duration;

/// The user whose requests faults apply to.
pub const FAULTY_USER: &str = "sandbox-faulty-client";

/// What goes wrong, and how often.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// Every watch event reaches the client this much later (order kept): an
    /// informer cache that lags behind the writes its owner just made.
    pub watch_delay: Duration,
    /// A watch ends after a lifetime drawn between these bounds; the client
    /// re-watches from the last resourceVersion it saw.
    pub watch_lifetime: Option<(Duration, Duration)>,
    /// Share (0..=1) of watches resumed from a resourceVersion that are answered
    /// 410 Gone, as after an etcd compaction: the client lists again.
    pub gone_rate: f64,
    /// Share of updates and patches refused with 409 Conflict.
    pub conflict_rate: f64,
    /// Share of other requests (not watches) refused with 429 and `Retry-After: 1`,
    /// as API Priority and Fairness does under load.
    pub throttle_rate: f64,
    /// Seed of the rolls.
    pub seed: u64,
}

/// How many faults were injected, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub delayed_watch_events: u64,
    pub watches_ended: u64,
    pub gone: u64,
    pub conflicts: u64,
    pub throttled: u64,
}

/// The faults a watch gets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WatchFaults {
    pub delay: Duration,
    pub lifetime: Option<Duration>,
    pub gone: bool,
}

/// What a request (not a watch) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFault {
    Conflict,
    Throttle,
}

#[derive(Debug, Default)]
struct State {
    plan: FaultPlan,
    rng: u64,
    counts: FaultCounts,
}

impl State {
    /// xorshift64*: a uniform number in [0, 1).
    fn roll(&mut self) -> f64 {
        let mut x = self.rng.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn hit(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.roll() < rate
    }
}

/// The sandbox's fault injector.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    /// Replaces the plan (and restarts the rolls from its seed).
    pub fn set(&self, plan: FaultPlan) {
        if let Ok(mut s) = self.state.lock() {
            s.rng = plan.seed ^ 0x9E37_79B9_7F4A_7C15;
            s.plan = plan;
        }
    }

    /// No faults from now on.
    pub fn clear(&self) {
        self.set(FaultPlan::default());
    }

    /// The faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        self.state.lock().map(|s| s.counts).unwrap_or_default()
    }

    /// The faults of a new watch by `user`; `resumed` when it starts from a
    /// resourceVersion (not a fresh list).
    pub fn for_watch(&self, user: &str, resumed: bool) -> WatchFaults {
        if user != FAULTY_USER {
            return WatchFaults::default();
        }
        let Ok(mut s) = self.state.lock() else {
            return WatchFaults::default();
        };
        let gone = resumed && {
            let rate = s.plan.gone_rate;
            s.hit(rate)
        };
        if gone {
            s.counts.gone += 1;
        }
        let lifetime = s.plan.watch_lifetime.map(|(lo, hi)| {
            let span = hi.saturating_sub(lo).as_secs_f64();
            let r = s.roll();
            lo + Duration::from_secs_f64(span * r)
        });
        WatchFaults {
            delay: s.plan.watch_delay,
            lifetime,
            gone,
        }
    }

    /// The fault, if any, of a request by `user`; `write` for updates and patches.
    pub fn for_request(&self, user: &str, write: bool) -> Option<RequestFault> {
        if user != FAULTY_USER {
            return None;
        }
        let mut s = self.state.lock().ok()?;
        let (conflict, throttle) = (s.plan.conflict_rate, s.plan.throttle_rate);
        if write && s.hit(conflict) {
            s.counts.conflicts += 1;
            return Some(RequestFault::Conflict);
        }
        if s.hit(throttle) {
            s.counts.throttled += 1;
            return Some(RequestFault::Throttle);
        }
        None
    }

    /// Counts a watch event delivered late, and a watch ended by its lifetime.
    pub fn record_delayed_event(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.counts.delayed_watch_events += 1;
        }
    }

    pub fn record_watch_ended(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.counts.watches_ended += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_faulty_user_gets_faults_and_rates_hold() {
        let f = Faults::default();
        f.set(FaultPlan {
            conflict_rate: 0.25,
            throttle_rate: 0.0,
            gone_rate: 1.0,
            seed: 7,
            ..Default::default()
        });
        assert_eq!(f.for_request("admin", true), None);
        assert!(!f.for_watch("admin", true).gone);
        assert!(f.for_watch(FAULTY_USER, true).gone);
        assert!(
            !f.for_watch(FAULTY_USER, false).gone,
            "a fresh list is never gone"
        );
        let conflicts = (0..4000)
            .filter(|_| f.for_request(FAULTY_USER, true) == Some(RequestFault::Conflict))
            .count();
        assert!((800..1200).contains(&conflicts), "{conflicts} of 4000");
        assert_eq!(
            f.for_request(FAULTY_USER, false),
            None,
            "reads never conflict"
        );
        assert_eq!(f.counts().conflicts, conflicts as u64);
        assert_eq!(f.counts().gone, 1);
    }

    #[test]
    fn lifetimes_stay_within_their_bounds() {
        let f = Faults::default();
        f.set(FaultPlan {
            watch_lifetime: Some((Duration::from_secs(1), Duration::from_secs(3))),
            ..Default::default()
        });
        for _ in 0..100 {
            let l = f.for_watch(FAULTY_USER, false).lifetime.unwrap_or_default();
            assert!(
                l >= Duration::from_secs(1) && l <= Duration::from_secs(3),
                "{l:?}"
            );
        }
    }
}
