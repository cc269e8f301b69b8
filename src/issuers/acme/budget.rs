//! How many new ACME orders an issuer may place (pure): never a storm. The limits
//! follow Let's Encrypt's: at most 5 failed orders for the same set of names per
//! hour, at most 300 new orders per account per 3 hours. An order over budget
//! waits until the oldest counted event leaves its window.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub failures_per_names: usize,
    pub failure_window: SignedDuration,
    pub orders_per_account: usize,
    pub order_window: SignedDuration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            failures_per_names: 5,
            failure_window: SignedDuration::from_hours(1),
            orders_per_account: 300,
            order_window: SignedDuration::from_hours(3),
        }
    }
}

/// Why an order must wait, and until when.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    #[error(
        "Waiting before ordering again: {count} orders for {names} failed in the last hour (the CA allows {limit}); next attempt at {until}"
    )]
    Failures {
        names: String,
        count: usize,
        limit: usize,
        until: Timestamp,
        now: Timestamp,
    },
    #[error(
        "Waiting before ordering again: this issuer placed {count} new orders in the last 3 hours (the CA allows {limit}); next attempt at {until}"
    )]
    Orders {
        count: usize,
        limit: usize,
        until: Timestamp,
        now: Timestamp,
    },
    /// The CA refused this issuer's last new order (its Retry-After, or a short
    /// pause when it sent none): the order's reason keeps the CA's words.
    #[error(
        "Waiting before ordering again: the ACME server refused the last new order; next attempt at {until}"
    )]
    Refused { until: Timestamp, now: Timestamp },
}

impl OverBudget {
    /// How long until the next attempt.
    pub fn retry_in(&self) -> Duration {
        let (until, now) = match self {
            OverBudget::Failures { until, now, .. }
            | OverBudget::Orders { until, now, .. }
            | OverBudget::Refused { until, now } => (*until, *now),
        };
        let d = until.duration_since(now);
        Duration::try_from(d)
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_secs(1))
    }
}

/// Counted events, kept only as long as their windows.
#[derive(Debug, Default)]
pub struct OrderBudget {
    pub limits: Limits,
    failures: BTreeMap<String, VecDeque<Timestamp>>,
    orders: BTreeMap<String, VecDeque<Timestamp>>,
    refused: BTreeMap<String, Timestamp>,
}

fn prune(list: &mut VecDeque<Timestamp>, now: Timestamp, window: SignedDuration) {
    while list
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        list.pop_front();
    }
}

/// The key for a set of names: sorted, comma-separated.
pub fn names_key(names: &[String]) -> String {
    let mut n: Vec<&str> = names.iter().map(String::as_str).collect();
    n.sort_unstable();
    n.dedup();
    n.join(",")
}

impl OrderBudget {
    pub fn new(limits: Limits) -> Self {
        OrderBudget {
            limits,
            ..Default::default()
        }
    }

    /// May `account` place a new order for `names` now?
    pub fn admit(&mut self, account: &str, names: &str, now: Timestamp) -> Result<(), OverBudget> {
        let l = self.limits;
        if let Some(until) = self.refused.get(account).copied() {
            if now < until {
                return Err(OverBudget::Refused { until, now });
            }
            self.refused.remove(account);
        }
        if let Some(f) = self.failures.get_mut(names) {
            prune(f, now, l.failure_window);
            if f.len() >= l.failures_per_names
                && let Some(oldest) = f.front()
            {
                return Err(OverBudget::Failures {
                    names: names.to_string(),
                    count: f.len(),
                    limit: l.failures_per_names,
                    until: oldest.saturating_add(l.failure_window).unwrap_or(now),
                    now,
                });
            }
        }
        if let Some(o) = self.orders.get_mut(account) {
            prune(o, now, l.order_window);
            if o.len() >= l.orders_per_account
                && let Some(oldest) = o.front()
            {
                return Err(OverBudget::Orders {
                    count: o.len(),
                    limit: l.orders_per_account,
                    until: oldest.saturating_add(l.order_window).unwrap_or(now),
                    now,
                });
            }
        }
        Ok(())
    }

    /// A new order was placed.
    pub fn record_created(&mut self, account: &str, now: Timestamp) {
        self.orders
            .entry(account.to_string())
            .or_default()
            .push_back(now);
    }

    /// The CA refused a new order from `account`: none before `until`.
    pub fn record_refused(&mut self, account: &str, until: Timestamp) {
        let t = self.refused.entry(account.to_string()).or_insert(until);
        *t = (*t).max(until);
    }

    /// An order for `names` failed.
    pub fn record_failure(&mut self, names: &str, now: Timestamp) {
        self.failures
            .entry(names.to_string())
            .or_default()
            .push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn a_refused_new_order_holds_the_next_until_retry_after() {
        let mut b = OrderBudget::default();
        b.record_refused("acct", at(2));
        let err = b.admit("acct", "a.example.com", at(0)).unwrap_err();
        assert!(matches!(err, OverBudget::Refused { .. }), "{err}");
        assert_eq!(err.retry_in(), Duration::from_secs(2));
        // An earlier hold does not shorten a later one; other accounts go on.
        b.record_refused("acct", at(1));
        assert!(b.admit("acct", "a.example.com", at(1)).is_err());
        assert!(b.admit("other", "a.example.com", at(1)).is_ok());
        assert!(b.admit("acct", "a.example.com", at(2)).is_ok());
    }

    #[test]
    fn five_failures_for_the_same_names_stop_orders_for_an_hour() {
        let mut b = OrderBudget::default();
        let names = names_key(&["b.example.com".into(), "a.example.com".into()]);
        assert_eq!(names, "a.example.com,b.example.com");
        for i in 0..5 {
            assert!(b.admit("acct", &names, at(i * 60)).is_ok());
            b.record_created("acct", at(i * 60));
            b.record_failure(&names, at(i * 60 + 10));
        }
        let err = b.admit("acct", &names, at(400)).unwrap_err();
        assert!(
            err.to_string()
                .contains("5 orders for a.example.com,b.example.com failed"),
            "{err}"
        );
        // The first failure (at 10 s) leaves the window at 3610 s.
        assert_eq!(err.retry_in(), Duration::from_secs(3610 - 400));
        // Other names are not held back.
        assert!(b.admit("acct", "c.example.com", at(400)).is_ok());
        assert!(b.admit("acct", &names, at(3610)).is_ok());
    }

    #[test]
    fn an_account_places_at_most_its_order_limit_per_window() {
        let mut b = OrderBudget::new(Limits {
            orders_per_account: 3,
            ..Limits::default()
        });
        for i in 0..3 {
            assert!(b.admit("acct", &format!("n{i}"), at(i)).is_ok());
            b.record_created("acct", at(i));
        }
        let err = b.admit("acct", "n9", at(10)).unwrap_err();
        assert!(
            matches!(err, OverBudget::Orders { count: 3, .. }),
            "{err:?}"
        );
        assert!(b.admit("other", "n9", at(10)).is_ok());
        assert!(b.admit("acct", "n9", at(3 * 3600)).is_ok());
    }
}
