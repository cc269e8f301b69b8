//! The rate-limit guard (pure): a ledger of what an ACME server issued, kept so
//! that certgate does not place an order Let's Encrypt would refuse. Its documented
//! limits (letsencrypt.org/docs/rate-limits, failed-validation-limit):
//!
//! - **New certificates per registered domain**: 50 per 7 days, across all
//!   accounts. The registered domain comes from the Public Suffix List (`psl`,
//!   compiled in); an IPv4 address is its own registered domain, an IPv6 address
//!   counts under its /64. Renewals are exempt and do not count.
//! - **Failed validations**: 5 per account, per hostname, per hour.
//!
//! The certificate limit applies to every ACME server (the ledger is kept per
//! directory URL): other CAs have looser limits or none, and the issuer annotation
//! [`CERTIFICATES_PER_DOMAIN_ANNOTATION`] raises the limit or turns it off (`"0"`).
//!
//! Orders placed but not yet finished are counted too (a reservation per Order),
//! or fifty Certificates applied at once would all be admitted before the first is
//! issued. A reservation ends when its order is valid (it becomes an issuance),
//! invalid, or after [`Limits::reservation_ttl`] (an Order deleted mid-flight).
//!
//! The ledger is small JSON (unix seconds), pruned of what left its window and
//! capped, so it fits in a ConfigMap (see `ledger.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The issuer annotation that sets the certificates-per-registered-domain limit
/// (a whole number per 7 days; `"0"` turns the guard off for that issuer).
pub const CERTIFICATES_PER_DOMAIN_ANNOTATION: &str =
    "certgate.io/acme-certificates-per-domain-per-week";

/// At most this many timestamps are kept per registered domain or identifier (the
/// newest): more than any limit the annotation is likely to set.
pub const MAX_TIMESTAMPS_PER_KEY: usize = 1000;
/// At most this many registered domains, identifiers or reservations (the most
/// recently used are kept), so the ConfigMap stays far below its 1 MiB.
pub const MAX_KEYS: usize = 2000;

/// What goes wrong with the guard's inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error(
        "invalid annotation {CERTIFICATES_PER_DOMAIN_ANNOTATION}: {value:?} is not a whole number of certificates per week (0 turns the limit off)"
    )]
    InvalidLimit { value: String },
    #[error("the rate-limit ledger is not valid JSON: {0}")]
    Ledger(String),
}

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// New certificates per registered domain per `certificate_window`; 0 = off.
    pub certificates_per_domain: usize,
    pub certificate_window: SignedDuration,
    /// Failed validations per account per identifier per `failure_window`; 0 = off.
    pub failures_per_identifier: usize,
    pub failure_window: SignedDuration,
    /// How long an order placed but never seen finish is counted.
    pub reservation_ttl: SignedDuration,
    /// How long an order refused only because of orders in flight waits.
    pub in_flight_wait: SignedDuration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            certificates_per_domain: 50,
            certificate_window: SignedDuration::from_hours(7 * 24),
            failures_per_identifier: 5,
            failure_window: SignedDuration::from_hours(1),
            reservation_ttl: SignedDuration::from_hours(24),
            in_flight_wait: SignedDuration::from_secs(30),
        }
    }
}

impl Limits {
    /// The limits for an issuer with these annotations.
    pub fn for_issuer(annotations: &BTreeMap<String, String>) -> Result<Limits, RateLimitError> {
        let mut l = Limits::default();
        if let Some(v) = annotations.get(CERTIFICATES_PER_DOMAIN_ANNOTATION) {
            l.certificates_per_domain =
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| RateLimitError::InvalidLimit {
                        value: v.to_string(),
                    })?;
        }
        Ok(l)
    }
}

/// Why an order must not be placed yet, and until when.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "Rate limit: over the limit for {domain}: {count} certificates in the last 7 days (limit {limit}); next attempt at {until}"
    )]
    Certificates {
        domain: String,
        count: usize,
        limit: usize,
        until: Timestamp,
        now: Timestamp,
    },
    #[error(
        "Rate limit: at the limit for {domain}: {count} certificates in the last 7 days and {in_flight} orders in flight (limit {limit}); next attempt when one of them ends"
    )]
    /// (No time in the message: it would change at every check. `until` is the
    /// next check.)
    InFlight {
        domain: String,
        count: usize,
        in_flight: usize,
        limit: usize,
        until: Timestamp,
        now: Timestamp,
    },
    #[error(
        "Rate limit: {count} failed validations for {identifier} by this account in the last hour (limit {limit}); next attempt at {until}"
    )]
    FailedValidations {
        identifier: String,
        count: usize,
        limit: usize,
        until: Timestamp,
        now: Timestamp,
    },
}

impl Refusal {
    /// When the order may be tried again.
    pub fn until(&self) -> Timestamp {
        match self {
            Refusal::Certificates { until, .. }
            | Refusal::InFlight { until, .. }
            | Refusal::FailedValidations { until, .. } => *until,
        }
    }

    /// How long until then (at least a second).
    pub fn retry_in(&self) -> std::time::Duration {
        let now = match self {
            Refusal::Certificates { now, .. }
            | Refusal::InFlight { now, .. }
            | Refusal::FailedValidations { now, .. } => *now,
        };
        std::time::Duration::try_from(self.until().duration_since(now))
            .unwrap_or(std::time::Duration::from_secs(1))
            .max(std::time::Duration::from_secs(1))
    }
}

/// The registered domain `name` counts under (lowercase, without a trailing dot
/// or a wildcard's `*.`).
///
/// - An IPv4 address is its own registered domain, an IPv6 address counts under
///   its /64: Let's Encrypt's rule for IP address certificates.
/// - A name whose top-level domain is not on the list (`example.test`,
///   `svc.internal`) counts under its last two labels: the list's own default rule
///   (`*`), which is also what the CA applies.
/// - A name that has no registered domain at all (a single label such as
///   `localhost`, or a public suffix itself such as `co.uk`) counts under the name
///   itself rather than being skipped: a public CA refuses such names anyway, and
///   counting them keeps a private CA that accepts them within the limit too.
pub fn registered_domain(name: &str) -> String {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let name = name.strip_prefix("*.").unwrap_or(&name);
    if let Ok(ip) = name.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        };
    }
    match psl::domain_str(name) {
        Some(d) => d.to_string(),
        None => name.to_string(),
    }
}

/// The identifier a failed validation counts under: the name without `*.` (a
/// wildcard's authorization is for its base domain), lowercase.
pub fn identifier_key(name: &str) -> String {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    name.strip_prefix("*.").unwrap_or(&name).to_string()
}

/// The distinct registered domains of an order's names, sorted.
pub fn registered_domains(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| registered_domain(n))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// An order placed and not yet finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// When it was placed (unix seconds).
    pub t: i64,
    /// Its registered domains.
    pub d: Vec<String>,
}

/// What one ACME server issued and refused, as persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Registered domain → issuance times (unix seconds, ascending).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub certificates: BTreeMap<String, Vec<i64>>,
    /// Account → identifier → failed validation times (unix seconds, ascending).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, BTreeMap<String, Vec<i64>>>,
    /// Order UID → its reservation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub in_flight: BTreeMap<String, Reservation>,
}

fn secs(t: Timestamp) -> i64 {
    t.as_second()
}

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The entries of `list` (ascending) within `window` before `now`.
fn within(list: &[i64], now: Timestamp, window: SignedDuration) -> &[i64] {
    let cutoff = secs(now) - window.as_secs();
    let first = list.partition_point(|t| *t <= cutoff);
    &list[first..]
}

/// When the count of `recent` (ascending, within the window) falls below `limit`.
fn below_limit_at(
    recent: &[i64],
    limit: usize,
    window: SignedDuration,
    now: Timestamp,
) -> Timestamp {
    // Dropping recent[..=k] leaves recent.len() - k - 1 entries: below the limit once
    // k = len - limit has left the window.
    let k = recent.len().saturating_sub(limit);
    recent
        .get(k)
        .map_or(now, |t| at(t.saturating_add(window.as_secs())))
}

fn push_sorted(list: &mut Vec<i64>, t: i64) {
    let i = list.partition_point(|x| *x <= t);
    list.insert(i, t);
    if list.len() > MAX_TIMESTAMPS_PER_KEY {
        let excess = list.len() - MAX_TIMESTAMPS_PER_KEY;
        list.drain(..excess);
    }
}

/// Keeps the `MAX_KEYS` entries whose newest time is latest.
fn cap_keys<V>(map: &mut BTreeMap<String, V>, newest: impl Fn(&V) -> i64) {
    if map.len() <= MAX_KEYS {
        return;
    }
    let mut by_age: Vec<(i64, String)> = map.iter().map(|(k, v)| (newest(v), k.clone())).collect();
    by_age.sort();
    let excess = map.len() - MAX_KEYS;
    for (_, k) in by_age.into_iter().take(excess) {
        map.remove(&k);
    }
}

impl Ledger {
    /// Reads a persisted ledger.
    pub fn from_json(text: &str) -> Result<Ledger, RateLimitError> {
        let mut l: Ledger =
            serde_json::from_str(text).map_err(|e| RateLimitError::Ledger(e.to_string()))?;
        // Written by us sorted, but a hand edit may not be.
        for v in l.certificates.values_mut() {
            v.sort_unstable();
        }
        for v in l.failures.values_mut().flat_map(|m| m.values_mut()) {
            v.sort_unstable();
        }
        Ok(l)
    }

    /// The compact JSON persisted.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// May `account` place an order (UID `order_uid`) for `names` now? A renewal is
    /// exempt from the certificate limit (not from the failed-validation limit).
    pub fn admit(
        &self,
        account: &str,
        order_uid: &str,
        names: &[String],
        renewal: bool,
        limits: &Limits,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        if limits.failures_per_identifier > 0
            && let Some(by_id) = self.failures.get(account)
        {
            let mut worst: Option<Refusal> = None;
            for id in names
                .iter()
                .map(|n| identifier_key(n))
                .collect::<BTreeSet<_>>()
            {
                let Some(list) = by_id.get(&id) else { continue };
                let recent = within(list, now, limits.failure_window);
                if recent.len() >= limits.failures_per_identifier {
                    let until = below_limit_at(
                        recent,
                        limits.failures_per_identifier,
                        limits.failure_window,
                        now,
                    );
                    if worst.as_ref().is_none_or(|w| w.until() < until) {
                        worst = Some(Refusal::FailedValidations {
                            identifier: id,
                            count: recent.len(),
                            limit: limits.failures_per_identifier,
                            until,
                            now,
                        });
                    }
                }
            }
            if let Some(w) = worst {
                return Err(w);
            }
        }
        if renewal || limits.certificates_per_domain == 0 {
            return Ok(());
        }
        let limit = limits.certificates_per_domain;
        let mut worst: Option<Refusal> = None;
        for domain in registered_domains(names) {
            let recent = self
                .certificates
                .get(&domain)
                .map_or(&[][..], |l| within(l, now, limits.certificate_window));
            let refusal = if recent.len() >= limit {
                Refusal::Certificates {
                    domain,
                    count: recent.len(),
                    limit,
                    until: below_limit_at(recent, limit, limits.certificate_window, now),
                    now,
                }
            } else {
                let in_flight = self
                    .live_reservations(now, limits)
                    .filter(|(uid, r)| *uid != order_uid && r.d.contains(&domain))
                    .count();
                if recent.len() + in_flight < limit {
                    continue;
                }
                Refusal::InFlight {
                    domain,
                    count: recent.len(),
                    in_flight,
                    limit,
                    until: now.checked_add(limits.in_flight_wait).unwrap_or(now),
                    now,
                }
            };
            if worst.as_ref().is_none_or(|w| w.until() < refusal.until()) {
                worst = Some(refusal);
            }
        }
        worst.map_or(Ok(()), Err)
    }

    fn live_reservations<'a>(
        &'a self,
        now: Timestamp,
        limits: &Limits,
    ) -> impl Iterator<Item = (&'a String, &'a Reservation)> {
        let cutoff = secs(now) - limits.reservation_ttl.as_secs();
        self.in_flight.iter().filter(move |(_, r)| r.t > cutoff)
    }

    /// An order for `names` was placed (or is about to be): counted until it ends.
    pub fn reserve(&mut self, order_uid: &str, names: &[String], now: Timestamp) {
        self.in_flight.insert(
            order_uid.to_string(),
            Reservation {
                t: secs(now),
                d: registered_domains(names),
            },
        );
    }

    /// The order ended without a certificate (or was never placed). Whether there
    /// was a reservation to remove.
    pub fn release(&mut self, order_uid: &str) -> bool {
        self.in_flight.remove(order_uid).is_some()
    }

    /// A certificate for `names` was issued (its order's reservation ends). A
    /// renewal is not counted.
    pub fn record_issued(
        &mut self,
        order_uid: &str,
        names: &[String],
        renewal: bool,
        now: Timestamp,
    ) {
        self.in_flight.remove(order_uid);
        if renewal {
            return;
        }
        for domain in registered_domains(names) {
            push_sorted(self.certificates.entry(domain).or_default(), secs(now));
        }
    }

    /// Validation of `identifiers` by `account` failed (the order's reservation ends).
    pub fn record_failed_validations(
        &mut self,
        order_uid: &str,
        account: &str,
        identifiers: &[String],
        now: Timestamp,
    ) {
        self.in_flight.remove(order_uid);
        let by_id = self.failures.entry(account.to_string()).or_default();
        for id in identifiers
            .iter()
            .map(|i| identifier_key(i))
            .collect::<BTreeSet<_>>()
        {
            push_sorted(by_id.entry(id).or_default(), secs(now));
        }
    }

    /// Drops what left its window (the longest a limit may use: the annotation
    /// changes the count, not the window) and caps the sizes.
    pub fn prune(&mut self, now: Timestamp, limits: &Limits) {
        let keep = |list: &mut Vec<i64>, window: SignedDuration| {
            let n = list.len() - within(&list[..], now, window).len();
            list.drain(..n);
        };
        for list in self.certificates.values_mut() {
            keep(list, limits.certificate_window);
        }
        self.certificates.retain(|_, l| !l.is_empty());
        for by_id in self.failures.values_mut() {
            for list in by_id.values_mut() {
                keep(list, limits.failure_window);
            }
            by_id.retain(|_, l| !l.is_empty());
            cap_keys(by_id, |l| l.last().copied().unwrap_or(0));
        }
        self.failures.retain(|_, m| !m.is_empty());
        let cutoff = secs(now) - limits.reservation_ttl.as_secs();
        self.in_flight.retain(|_, r| r.t > cutoff);
        cap_keys(&mut self.certificates, |l| l.last().copied().unwrap_or(0));
        cap_keys(&mut self.failures, |m| {
            m.values()
                .filter_map(|l| l.last().copied())
                .max()
                .unwrap_or(0)
        });
        cap_keys(&mut self.in_flight, |r| r.t);
    }

    /// Certificates counted for `domain` within the window.
    pub fn issued(&self, domain: &str, now: Timestamp, limits: &Limits) -> usize {
        self.certificates
            .get(domain)
            .map_or(0, |l| within(l, now, limits.certificate_window).len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    const DAY: i64 = 86_400;

    #[test]
    fn registered_domains_follow_the_public_suffix_list() {
        let cases = [
            ("www.example.com", "example.com"),
            ("WWW.Example.COM.", "example.com"),
            ("*.apps.example.com", "example.com"),
            ("example.com", "example.com"),
            ("new.blog.example.co.uk", "example.co.uk"),
            ("a.b.example.com.au", "example.com.au"),
            // Private section: each user's site is its own registered domain.
            ("me.github.io", "me.github.io"),
            ("www.me.github.io", "me.github.io"),
            // Not on the list: the default rule, the last two labels.
            ("a.b.example.test", "example.test"),
            ("svc.cluster.internal", "cluster.internal"),
            // No registered domain: the name itself.
            ("localhost", "localhost"),
            ("co.uk", "co.uk"),
            // IP addresses: IPv4 each, IPv6 per /64.
            ("192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ];
        for (name, want) in cases {
            assert_eq!(registered_domain(name), want, "{name}");
        }
        assert_eq!(
            registered_domains(&names(&["a.example.com", "b.example.com", "x.example.org"])),
            names(&["example.com", "example.org"])
        );
    }

    #[test]
    fn the_limit_annotation_is_read_and_checked() {
        let ann = |v: &str| {
            BTreeMap::from([(
                CERTIFICATES_PER_DOMAIN_ANNOTATION.to_string(),
                v.to_string(),
            )])
        };
        let cases: [(&str, Result<usize, ()>); 6] = [
            ("2", Ok(2)),
            (" 120 ", Ok(120)),
            ("0", Ok(0)),
            ("-1", Err(())),
            ("ten", Err(())),
            ("", Err(())),
        ];
        for (v, want) in cases {
            let got = Limits::for_issuer(&ann(v));
            match want {
                Ok(n) => assert_eq!(got.map(|l| l.certificates_per_domain), Ok(n), "{v:?}"),
                Err(()) => {
                    let e = got.unwrap_err().to_string();
                    assert!(e.contains(CERTIFICATES_PER_DOMAIN_ANNOTATION), "{e}");
                }
            }
        }
        assert_eq!(
            Limits::for_issuer(&BTreeMap::new())
                .unwrap()
                .certificates_per_domain,
            50
        );
    }

    #[test]
    fn an_order_over_the_limit_for_its_registered_domain_waits_for_the_oldest_to_leave() {
        let limits = Limits {
            certificates_per_domain: 3,
            ..Limits::default()
        };
        let mut l = Ledger::default();
        for (i, n) in ["a.example.com", "b.example.com", "c.example.com"]
            .iter()
            .enumerate()
        {
            let uid = format!("o{i}");
            let ns = names(&[n]);
            assert_eq!(
                l.admit("acct", &uid, &ns, false, &limits, t(i as i64 * 100)),
                Ok(())
            );
            l.reserve(&uid, &ns, t(i as i64 * 100));
            l.record_issued(&uid, &ns, false, t(i as i64 * 100 + 10));
        }
        let err = l
            .admit(
                "acct",
                "o9",
                &names(&["d.example.com"]),
                false,
                &limits,
                t(1000),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Rate limit: over the limit for example.com: 3 certificates in the last 7 days (limit 3); next attempt at {}",
                t(10 + 7 * DAY)
            )
        );
        assert_eq!(
            err.retry_in(),
            std::time::Duration::from_secs((10 + 7 * DAY - 1000) as u64)
        );
        // Another registered domain, a renewal, another account alike for certs:
        assert_eq!(
            l.admit(
                "acct",
                "o9",
                &names(&["example.org"]),
                false,
                &limits,
                t(1000)
            ),
            Ok(())
        );
        assert_eq!(
            l.admit(
                "acct",
                "o9",
                &names(&["d.example.com"]),
                true,
                &limits,
                t(1000)
            ),
            Ok(())
        );
        assert!(
            l.admit(
                "other",
                "o9",
                &names(&["d.example.com"]),
                false,
                &limits,
                t(1000)
            )
            .is_err()
        );
        // A certificate with a name in each of two domains is refused for the full one.
        assert!(
            l.admit(
                "acct",
                "o9",
                &names(&["x.example.org", "d.example.com"]),
                false,
                &limits,
                t(1000)
            )
            .is_err()
        );
        // Once the first issuance leaves the window, one more fits.
        assert_eq!(
            l.admit(
                "acct",
                "o9",
                &names(&["d.example.com"]),
                false,
                &limits,
                t(10 + 7 * DAY)
            ),
            Ok(())
        );
        // 0 turns the limit off.
        let off = Limits {
            certificates_per_domain: 0,
            ..limits
        };
        assert_eq!(
            l.admit(
                "acct",
                "o9",
                &names(&["d.example.com"]),
                false,
                &off,
                t(1000)
            ),
            Ok(())
        );
    }

    #[test]
    fn a_lowered_limit_waits_until_enough_have_left() {
        let mut l = Ledger::default();
        for i in 0..5 {
            l.record_issued("x", &names(&["a.example.com"]), false, t(i * 100));
        }
        let limits = Limits {
            certificates_per_domain: 2,
            ..Limits::default()
        };
        let err = l
            .admit(
                "acct",
                "o",
                &names(&["example.com"]),
                false,
                &limits,
                t(1000),
            )
            .unwrap_err();
        // 5 counted, limit 2: below it once 4 have left, the 4th at 300 s.
        assert_eq!(err.until(), t(300 + 7 * DAY));
        assert!(
            matches!(
                err,
                Refusal::Certificates {
                    count: 5,
                    limit: 2,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn orders_in_flight_count_until_they_end() {
        let limits = Limits {
            certificates_per_domain: 2,
            ..Limits::default()
        };
        let mut l = Ledger::default();
        let a = names(&["a.example.com"]);
        assert_eq!(l.admit("acct", "o1", &a, false, &limits, t(0)), Ok(()));
        l.reserve("o1", &a, t(0));
        assert_eq!(l.admit("acct", "o2", &a, false, &limits, t(1)), Ok(()));
        l.reserve("o2", &a, t(1));
        let err = l
            .admit(
                "acct",
                "o3",
                &names(&["c.example.com"]),
                false,
                &limits,
                t(2),
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Rate limit: at the limit for example.com: 0 certificates in the last 7 days and 2 orders in flight (limit 2)"),
            "{err}"
        );
        assert_eq!(err.until(), t(32));
        // An order's own reservation does not hold it back (a retry after a restart).
        assert_eq!(l.admit("acct", "o2", &a, false, &limits, t(2)), Ok(()));
        // One fails: room again. The other is issued: full, for 7 days.
        assert!(l.release("o1"));
        assert!(!l.release("o1"));
        assert_eq!(l.admit("acct", "o3", &a, false, &limits, t(3)), Ok(()));
        l.record_issued("o2", &a, false, t(4));
        l.reserve("o3", &a, t(5));
        l.record_issued("o3", &a, false, t(6));
        let err = l.admit("acct", "o4", &a, false, &limits, t(7)).unwrap_err();
        assert!(
            matches!(err, Refusal::Certificates { count: 2, .. }),
            "{err:?}"
        );
        assert!(l.in_flight.is_empty());
        // A reservation never ended stops counting after its TTL.
        let mut l = Ledger::default();
        l.reserve("lost", &a, t(0));
        l.reserve("lost2", &a, t(0));
        assert!(l.admit("acct", "o", &a, false, &limits, t(10)).is_err());
        assert_eq!(l.admit("acct", "o", &a, false, &limits, t(DAY + 1)), Ok(()));
    }

    #[test]
    fn five_failed_validations_per_account_and_identifier_per_hour() {
        let limits = Limits::default();
        let mut l = Ledger::default();
        for i in 0..5 {
            l.record_failed_validations("o", "acct", &names(&["*.Web.example.com"]), t(i * 60));
        }
        let err = l
            .admit(
                "acct",
                "o",
                &names(&["web.example.com", "other.example.com"]),
                true,
                &limits,
                t(600),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Rate limit: 5 failed validations for web.example.com by this account in the last hour (limit 5); next attempt at {}",
                t(3600)
            )
        );
        // Another account, another identifier: not held back. After the hour: free.
        assert_eq!(
            l.admit(
                "acct2",
                "o",
                &names(&["web.example.com"]),
                false,
                &limits,
                t(600)
            ),
            Ok(())
        );
        assert_eq!(
            l.admit(
                "acct",
                "o",
                &names(&["api.example.com"]),
                false,
                &limits,
                t(600)
            ),
            Ok(())
        );
        assert_eq!(
            l.admit(
                "acct",
                "o",
                &names(&["web.example.com"]),
                false,
                &limits,
                t(3600)
            ),
            Ok(())
        );
        // Four are not enough.
        let mut l = Ledger::default();
        for i in 0..4 {
            l.record_failed_validations("o", "acct", &names(&["web.example.com"]), t(i));
        }
        assert_eq!(
            l.admit(
                "acct",
                "o",
                &names(&["web.example.com"]),
                false,
                &limits,
                t(10)
            ),
            Ok(())
        );
    }

    #[test]
    fn the_ledger_round_trips_pruned_and_capped() {
        let limits = Limits::default();
        let mut l = Ledger::default();
        l.record_issued("o", &names(&["a.example.com"]), false, t(0));
        l.record_issued("o", &names(&["a.example.com"]), false, t(8 * DAY));
        l.record_failed_validations("o", "https://ca/acct/1", &names(&["a.example.com"]), t(0));
        l.reserve("uid-1", &names(&["b.example.org"]), t(8 * DAY));
        l.prune(t(8 * DAY), &limits);
        assert_eq!(l.certificates["example.com"], vec![1_800_000_000 + 8 * DAY]);
        assert!(l.failures.is_empty(), "the failure left its hour");
        let json = l.to_json();
        assert_eq!(
            json,
            format!(
                r#"{{"certificates":{{"example.com":[{0}]}},"in_flight":{{"uid-1":{{"t":{0},"d":["example.org"]}}}}}}"#,
                1_800_000_000 + 8 * DAY
            )
        );
        assert_eq!(Ledger::from_json(&json).unwrap(), l);
        assert_eq!(Ledger::from_json("{}").unwrap(), Ledger::default());
        let e = Ledger::from_json("{not json").unwrap_err();
        assert!(matches!(e, RateLimitError::Ledger(_)), "{e:?}");
        // Caps: timestamps per key, keys.
        let mut l = Ledger::default();
        for i in 0..(MAX_TIMESTAMPS_PER_KEY as i64 + 5) {
            l.record_issued("o", &names(&["example.com"]), false, t(i));
        }
        assert_eq!(l.certificates["example.com"].len(), MAX_TIMESTAMPS_PER_KEY);
        assert_eq!(l.certificates["example.com"][0], 1_800_000_000 + 5);
        for i in 0..(MAX_KEYS as i64 + 10) {
            l.record_issued("o", &names(&[&format!("d{i}.example")]), false, t(i));
        }
        l.prune(t(MAX_KEYS as i64 + 10), &limits);
        assert_eq!(l.certificates.len(), MAX_KEYS);
        assert!(
            l.certificates.contains_key("example.com"),
            "the busiest recent domain stays"
        );
        assert!(
            !l.certificates.contains_key("d0.example"),
            "the oldest goes"
        );
    }
}
