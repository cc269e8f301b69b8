//! When Certificates at rest are looked at again. An issued Certificate next needs
//! its controller at its renewal time (or, past that, its expiry); a timer for each
//! of them, weeks ahead, costs the controller's queue about half a kilobyte per
//! Certificate for nothing. So only a Certificate due within [`HORIZON`] keeps a
//! timer (its reconcile asks for a requeue); the others wait for a change, and a
//! sweep of the Certificate cache every [`SWEEP_EVERY`] wakes those that have come
//! within the horizon. The due time is the one the readiness loop writes to the
//! status (`renewalTime`, else `notAfter`), read back from the cache.
//! Must not: decide about renewal (the trigger and readiness loops do), or write.

use std::time::Duration;

use futures::Stream;
use jiff::Timestamp;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::Certificate;

/// How far ahead a Certificate at rest keeps a timer.
pub const HORIZON: Duration = Duration::from_secs(60 * 60);

/// How often the cache is swept for Certificates come within [`HORIZON`]. Shorter
/// than the horizon, so every due time is seen by a sweep before it passes.
pub const SWEEP_EVERY: Duration = Duration::from_secs(20 * 60);

/// Whether a Certificate due in `due_in` keeps a timer (else the sweep wakes it).
pub fn keeps_timer(due_in: Duration) -> bool {
    due_in <= HORIZON
}

/// When the cached Certificate `c` is next due, as the readiness loop computes its
/// requeue: the renewal time while ahead, else the expiry while ahead.
pub fn next_due(c: &Certificate, now: Timestamp) -> Option<Timestamp> {
    let status = c.status.as_ref()?;
    let renewal = status.renewal_time.as_ref().map(|t| t.0);
    let expiry = status.not_after.as_ref().map(|t| t.0);
    match (renewal, expiry) {
        (Some(r), _) if r > now => Some(r),
        (_, Some(e)) if e > now => Some(e),
        _ => None,
    }
}

/// The Certificates of `cached` due before `now` + [`HORIZON`].
pub fn due_soon<'a>(
    cached: impl IntoIterator<Item = &'a Certificate>,
    now: Timestamp,
) -> Vec<ObjectRef<Certificate>> {
    let horizon = jiff::SignedDuration::try_from(HORIZON).unwrap_or(jiff::SignedDuration::MAX);
    let until = now.checked_add(horizon).unwrap_or(Timestamp::MAX);
    cached
        .into_iter()
        .filter(|c| next_due(c, now).is_some_and(|due| due <= until))
        .map(ObjectRef::from_obj)
        .collect()
}

/// Every [`SWEEP_EVERY`] (the first after one period), the Certificates of `store`
/// due within the horizon.
pub fn sweep(store: Store<Certificate>) -> impl Stream<Item = ObjectRef<Certificate>> {
    use futures::StreamExt;
    let start = tokio::time::Instant::now() + SWEEP_EVERY;
    let ticks = tokio::time::interval_at(start, SWEEP_EVERY);
    futures::stream::unfold(ticks, |mut ticks| async move {
        ticks.tick().await;
        Some(((), ticks))
    })
    .flat_map(move |_| {
        let cached = store.state();
        let due = due_soon(cached.iter().map(|c| &**c), Timestamp::now());
        futures::stream::iter(due)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::certificate::CertificateStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn cert(name: &str, renewal: Option<&str>, expiry: Option<&str>) -> Certificate {
        let mut c = Certificate::new(name, Default::default());
        c.metadata.namespace = Some("ns".into());
        c.status = Some(CertificateStatus {
            renewal_time: renewal.map(|t| Time(at(t))),
            not_after: expiry.map(|t| Time(at(t))),
            ..Default::default()
        });
        c
    }

    #[test]
    fn the_due_time_is_the_renewal_then_the_expiry_while_ahead() {
        let now = at("2026-12-05T12:00:00Z");
        let renew_later = cert(
            "a",
            Some("2026-12-20T00:00:00Z"),
            Some("2027-01-01T00:00:00Z"),
        );
        assert_eq!(
            next_due(&renew_later, now),
            Some(at("2026-12-20T00:00:00Z"))
        );
        let renewal_passed = cert(
            "b",
            Some("2026-12-01T00:00:00Z"),
            Some("2027-01-01T00:00:00Z"),
        );
        assert_eq!(
            next_due(&renewal_passed, now),
            Some(at("2027-01-01T00:00:00Z"))
        );
        let expired = cert(
            "c",
            Some("2026-11-01T00:00:00Z"),
            Some("2026-12-01T00:00:00Z"),
        );
        assert_eq!(next_due(&expired, now), None);
        let mut unissued = cert("d", None, None);
        assert_eq!(next_due(&unissued, now), None);
        unissued.status = None;
        assert_eq!(next_due(&unissued, now), None);
    }

    #[test]
    fn the_sweep_wakes_what_is_due_within_the_horizon_only() {
        let now = at("2026-12-05T12:00:00Z");
        let cached = [
            cert(
                "soon",
                Some("2026-12-05T12:30:00Z"),
                Some("2027-01-01T00:00:00Z"),
            ),
            cert(
                "edge",
                Some("2026-12-05T13:00:00Z"),
                Some("2027-01-01T00:00:00Z"),
            ),
            cert(
                "later",
                Some("2026-12-05T13:00:01Z"),
                Some("2027-01-01T00:00:00Z"),
            ),
            cert(
                "expiring",
                Some("2026-12-01T00:00:00Z"),
                Some("2026-12-05T12:59:00Z"),
            ),
            cert(
                "expired",
                Some("2026-12-01T00:00:00Z"),
                Some("2026-12-05T11:00:00Z"),
            ),
        ];
        let woken: Vec<String> = due_soon(&cached, now).into_iter().map(|r| r.name).collect();
        assert_eq!(woken, ["soon", "edge", "expiring"]);
    }

    #[test]
    fn a_timer_is_kept_within_the_horizon_and_the_sweep_comes_sooner() {
        assert!(keeps_timer(Duration::from_secs(59 * 60)));
        assert!(keeps_timer(HORIZON));
        assert!(!keeps_timer(HORIZON + Duration::from_secs(1)));
        // A due time just past the horizon at one sweep is within it at the next.
        assert!(SWEEP_EVERY < HORIZON);
    }
}
