//! Renewal-time arithmetic, Go duration parsing and the issuance failure
//! back-off. All functions are pure: the current time is always passed in.
//!
//! Sources (cert-manager):
//! - `pkg/util/pki/renewaltime.go` (`RenewalTime`, `desiredRenewalTime`; the
//!   windows are in [`super::renewal_windows`])
//! - `pkg/controller/certificates/trigger/trigger_controller.go`
//!   (`shouldBackoffReissuingOnFailure`)
//! - Go's `time.ParseDuration`

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::api::certificate::{CertificateSpec, RenewalPolicy};
pub use crate::certificates::renewal_windows::WindowsError;
use crate::certificates::renewal_windows::apply_windows;

/// The default requested lifetime of a certificate (`2160h`, 90 days).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(2160 * 3600);

/// The first back-off delay after a failed issuance in certgate.
///
/// Deliberate difference from cert-manager: cert-manager starts at one hour
/// (`1h * 2^(n-1)`); certgate starts at five minutes so transient failures
/// (rate limits, a DNS record not propagated yet) recover sooner. Both cap the
/// delay at 32 hours.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(5 * 60);

/// The maximum back-off delay after failed issuances (same as cert-manager).
pub const BACKOFF_MAX: Duration = Duration::from_secs(32 * 3600);

/// Go's duration parsing and quoting live in `crate::gocompat`; re-exported for
/// the Certificate loops that read durations.
pub use crate::gocompat::{DurationError, go_quote, parse_go_duration, parse_go_duration_nanos};

fn ts_from_nanos(n: i128) -> Timestamp {
    Timestamp::from_nanosecond(n).unwrap_or(if n < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// How long before `not_after` a certificate with the given lifetime
/// (`not_after - not_before`, in nanoseconds) is renewed: cert-manager's
/// `desiredRenewalTime`.
///
/// `renewBefore` is used when it parses, is > 0 and < the lifetime; otherwise
/// `renewBeforePercentage` when in (0, 100) (lifetime * p / 100); otherwise a
/// third of the lifetime.
pub fn renew_before_nanos(
    actual_duration_nanos: i128,
    renew_before: Option<&str>,
    renew_before_percentage: Option<i32>,
) -> i128 {
    let rb = renew_before.and_then(|s| parse_go_duration_nanos(s).ok());
    if let Some(rb) = rb
        && rb > 0
        && i128::from(rb) < actual_duration_nanos
    {
        return i128::from(rb);
    }
    if let Some(p) = renew_before_percentage
        && p > 0
        && p < 100
    {
        // Go computes this in int64 and can overflow for multi-year lifetimes;
        // certgate uses i128 and does not.
        return actual_duration_nanos * i128::from(p) / 100;
    }
    actual_duration_nanos / 3
}

/// cert-manager's `pki.RenewalTime` without renewal windows: the moment a
/// certificate valid from `not_before` to `not_after` is renewed, truncated to
/// the second (as cert-manager truncates, since the status keeps seconds).
pub fn renewal_time(
    not_before: Timestamp,
    not_after: Timestamp,
    renew_before: Option<&str>,
    renew_before_percentage: Option<i32>,
) -> Timestamp {
    let nb = not_before.as_nanosecond();
    let na = not_after.as_nanosecond();
    let rb = renew_before_nanos(na - nb, renew_before, renew_before_percentage);
    let rt = na - rb;
    ts_from_nanos(rt.div_euclid(1_000_000_000) * 1_000_000_000)
}

/// The Certificate's `Ready` reason (and the `Issuing` reason of a renewal at the
/// desired time) when the renewal time cannot be calculated from the windows
/// (cert-manager's `policies.WindowError`).
pub const WINDOW_ERROR: &str = "WindowError";

/// Why the renewal time could not be calculated from `spec.renewal.windows`
/// (cert-manager's `RenewalTime` error, or what its webhook would have refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalTimeError {
    /// What went wrong; cert-manager's message.
    pub error: WindowsError,
    /// When the certificate is renewed all the same: the desired time (from
    /// `renewBefore`/`renewBeforePercentage`/ARI) without the windows. For
    /// [`WindowsError::NoWindow`] that is cert-manager's time too; for windows
    /// its webhook would have refused cert-manager has none (and never renews);
    /// certgate renews rather than let the certificate expire.
    pub renewal_time: Timestamp,
}

impl std::fmt::Display for RenewalTimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for RenewalTimeError {}

/// The desired renewal time (`renewBefore`/`renewBeforePercentage`, no windows,
/// no ARI), or `None` when `spec.renewal.policy` is `Disabled`.
pub fn desired_renewal_time(
    not_before: Timestamp,
    not_after: Timestamp,
    spec: &CertificateSpec,
) -> Option<Timestamp> {
    if renewal_disabled(spec) {
        return None;
    }
    Some(renewal_time(
        not_before,
        not_after,
        spec.renew_before.as_deref(),
        spec.renew_before_percentage,
    ))
}

/// cert-manager's `pki.RenewalTime` for a Certificate spec: the desired time
/// ([`desired_renewal_time`], with the CA's suggestion merged as in
/// [`renewal_time_with_hint`]) moved into `spec.renewal.windows` as
/// `applyRenewBeforeWithWindows` moves it. `Ok(None)` when renewal is
/// `Disabled`. An error says why no window applies and when renewal happens
/// anyway ([`RenewalTimeError::renewal_time`]).
pub fn renewal_time_checked(
    not_before: Timestamp,
    not_after: Timestamp,
    spec: &CertificateSpec,
    hint: Option<Timestamp>,
) -> Result<Option<Timestamp>, RenewalTimeError> {
    let Some(own) = desired_renewal_time(not_before, not_after, spec) else {
        return Ok(None);
    };
    let explicit = spec.renew_before.is_some() || spec.renew_before_percentage.is_some();
    let desired = match hint {
        Some(h) if !explicit || h < own => h,
        _ => own,
    };
    let windows = spec
        .renewal
        .as_ref()
        .and_then(|r| r.windows.as_deref())
        .unwrap_or_default();
    apply_windows(not_before, not_after, desired, windows)
        .map(Some)
        .map_err(|error| RenewalTimeError {
            error,
            renewal_time: desired,
        })
}

/// The renewal time of a certificate for a Certificate spec, honouring
/// `spec.renewal.policy` (`None` when `Disabled`, as cert-manager's
/// `RenewalTime` returns nil) and `spec.renewal.windows` (falling back to the
/// desired time when no window applies; see [`renewal_time_checked`]).
pub fn renewal_time_for_spec(
    not_before: Timestamp,
    not_after: Timestamp,
    spec: &CertificateSpec,
) -> Option<Timestamp> {
    renewal_time_with_hint(not_before, not_after, spec, None)
}

/// The renewal time with the CA's suggestion (ACME ARI) applied: without an explicit
/// `renewBefore`/`renewBeforePercentage` the CA's time is followed; with one, the
/// earlier of the two wins. Renewal windows apply on top (as cert-manager applies
/// them on top of its ARI time); when none fits, the time before the windows.
/// Disabled renewal stays disabled.
pub fn renewal_time_with_hint(
    not_before: Timestamp,
    not_after: Timestamp,
    spec: &CertificateSpec,
    hint: Option<Timestamp>,
) -> Option<Timestamp> {
    match renewal_time_checked(not_before, not_after, spec, hint) {
        Ok(t) => t,
        Err(e) => Some(e.renewal_time),
    }
}

/// Whether `spec.renewal.policy` is `Disabled`.
pub fn renewal_disabled(spec: &CertificateSpec) -> bool {
    spec.renewal
        .as_ref()
        .and_then(|r| r.policy)
        .is_some_and(|p| p == RenewalPolicy::Disabled)
}

/// The back-off after `failed_attempts` consecutive failed issuances:
/// 5 minutes doubling per failure (5m, 10m, 20m, ...), at least 5 minutes
/// (also for 0 attempts), capped at 32 hours.
///
/// Deliberate difference from cert-manager, whose policy is
/// `1h * 2^(n-1)` capped at 32h (see [`cert_manager_backoff`]).
pub fn backoff(failed_attempts: u32) -> Duration {
    scaled_backoff(BACKOFF_INITIAL, failed_attempts)
}

/// cert-manager's own back-off (`shouldBackoffReissuingOnFailure`):
/// 1h, 2h, 4h, 8h, 16h, 32h; at least 1h, at most 32h. For reference and tests.
pub fn cert_manager_backoff(failed_attempts: u32) -> Duration {
    scaled_backoff(Duration::from_secs(3600), failed_attempts)
}

fn scaled_backoff(initial: Duration, failed_attempts: u32) -> Duration {
    let exp = failed_attempts.saturating_sub(1);
    if exp >= 32 {
        return BACKOFF_MAX;
    }
    let d = initial.saturating_mul(1u32 << exp);
    d.clamp(initial, BACKOFF_MAX)
}

/// When the next issuance may be attempted after a failure at `last_failure`
/// with `failed_attempts` consecutive failures: `last_failure + backoff(n)`.
pub fn next_issuance_attempt(last_failure: Timestamp, failed_attempts: u32) -> Timestamp {
    let d = SignedDuration::try_from(backoff(failed_attempts)).unwrap_or(SignedDuration::MAX);
    last_failure.checked_add(d).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn go_durations() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("0", Ok(0)),
            ("-0", Ok(0)),
            ("+0", Ok(0)),
            ("5s", Ok(5_000_000_000)),
            ("30s", Ok(30_000_000_000)),
            ("1478s", Ok(1_478_000_000_000)),
            ("-5s", Ok(-5_000_000_000)),
            ("+5s", Ok(5_000_000_000)),
            ("-0s", Ok(0)),
            ("5.0s", Ok(5_000_000_000)),
            ("5.6s", Ok(5_600_000_000)),
            ("5.s", Ok(5_000_000_000)),
            (".5s", Ok(500_000_000)),
            ("1.0s", Ok(1_000_000_000)),
            ("1.00s", Ok(1_000_000_000)),
            ("1.004s", Ok(1_004_000_000)),
            ("100.00100s", Ok(100_001_000_000)),
            ("10ns", Ok(10)),
            ("11us", Ok(11_000)),
            ("12\u{b5}s", Ok(12_000)),
            ("12\u{3bc}s", Ok(12_000)),
            ("13ms", Ok(13_000_000)),
            ("14s", Ok(14_000_000_000)),
            ("15m", Ok(900_000_000_000)),
            ("16h", Ok(57_600_000_000_000)),
            ("2160h", Ok(7_776_000_000_000_000)),
            ("3h30m", Ok(12_600_000_000_000)),
            ("1h30m", Ok(5_400_000_000_000)),
            ("1.5h", Ok(5_400_000_000_000)),
            ("10.5s4m", Ok(250_500_000_000)),
            ("-2m3.4s", Ok(-123_400_000_000)),
            ("1h2m3s4ms5us6ns", Ok(3_723_004_005_006)),
            ("39h9m14.425s", Ok(140_954_425_000_000)),
            ("52763797000ns", Ok(52_763_797_000)),
            ("0.3333333333333333333h", Ok(1_200_000_000_000)),
            ("9007199254740993ns", Ok(9_007_199_254_740_993)),
            ("9223372036854775807ns", Ok(i64::MAX)),
            ("9223372036854775.807us", Ok(i64::MAX)),
            ("-9223372036854775808ns", Ok(i64::MIN)),
            ("0.100000000000000000000h", Ok(360_000_000_000)),
            ("", Err("time: invalid duration \"\"")),
            ("3", Err("time: missing unit in duration \"3\"")),
            ("-", Err("time: invalid duration \"-\"")),
            ("s", Err("time: invalid duration \"s\"")),
            (".", Err("time: invalid duration \".\"")),
            ("-.", Err("time: invalid duration \"-.\"")),
            (".s", Err("time: invalid duration \".s\"")),
            ("+.s", Err("time: invalid duration \"+.s\"")),
            ("1d", Err("time: unknown unit \"d\" in duration \"1d\"")),
            ("3000000h", Err("time: invalid duration \"3000000h\"")),
            (
                "9223372036854775808ns",
                Err("time: invalid duration \"9223372036854775808ns\""),
            ),
            (
                "9223372036854775.808us",
                Err("time: invalid duration \"9223372036854775.808us\""),
            ),
            (
                "1h 30m",
                Err("time: unknown unit \"h \" in duration \"1h 30m\""),
            ),
        ];
        for (input, want) in cases {
            let got = parse_go_duration_nanos(input).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_string), "input {input:?}");
        }
    }

    #[test]
    fn std_duration_parsing() {
        assert_eq!(parse_go_duration("2160h").unwrap(), DEFAULT_DURATION);
        assert_eq!(
            parse_go_duration("300ms").unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("-1h").unwrap_err(),
            DurationError::Negative("-1h".into())
        );
        assert_eq!(
            parse_go_duration("-1h").unwrap_err().to_string(),
            "negative duration \"-1h\" is not allowed"
        );
        assert_eq!(parse_go_duration("2160h0m0s").unwrap(), DEFAULT_DURATION);
    }

    #[test]
    fn renewal_times() {
        let nb = ts("2024-01-01T00:00:00Z");
        let na90 = ts("2024-03-31T00:00:00Z"); // 90 days
        struct Case {
            name: &'static str,
            not_after: Timestamp,
            renew_before: Option<&'static str>,
            pct: Option<i32>,
            want: &'static str,
        }
        let cases = [
            Case {
                name: "default: 1/3 before expiry",
                not_after: na90,
                renew_before: None,
                pct: None,
                want: "2024-03-01T00:00:00Z",
            },
            Case {
                name: "renewBefore used",
                not_after: na90,
                renew_before: Some("360h"),
                pct: None,
                want: "2024-03-16T00:00:00Z",
            },
            Case {
                name: "renewBefore equal to lifetime falls back to default",
                not_after: na90,
                renew_before: Some("2160h"),
                pct: None,
                want: "2024-03-01T00:00:00Z",
            },
            Case {
                name: "renewBefore longer than lifetime falls back to default",
                not_after: na90,
                renew_before: Some("3000h"),
                pct: None,
                want: "2024-03-01T00:00:00Z",
            },
            Case {
                name: "renewBefore zero falls back",
                not_after: na90,
                renew_before: Some("0s"),
                pct: None,
                want: "2024-03-01T00:00:00Z",
            },
            Case {
                name: "renewBefore invalid falls back",
                not_after: na90,
                renew_before: Some("nonsense"),
                pct: None,
                want: "2024-03-01T00:00:00Z",
            },
            Case {
                name: "renewBefore wins over percentage",
                not_after: na90,
                renew_before: Some("24h"),
                pct: Some(50),
                want: "2024-03-30T00:00:00Z",
            },
            Case {
                name: "invalid renewBefore then percentage",
                not_after: na90,
                renew_before: Some("3000h"),
                pct: Some(50),
                want: "2024-02-15T00:00:00Z",
            },
            Case {
                name: "percentage 25",
                not_after: ts("2024-01-01T01:00:00Z"),
                renew_before: None,
                pct: Some(25),
                want: "2024-01-01T00:45:00Z",
            },
            Case {
                name: "percentage 0 ignored",
                not_after: na90,
                renew_before: None,
                pct: Some(0),
                want: "2024-03-01T00:00:00Z",
            },
            Case {
                name: "percentage 100 ignored",
                not_after: na90,
                renew_before: None,
                pct: Some(100),
                want: "2024-03-01T00:00:00Z",
            },
            Case {
                name: "truncated to the second",
                not_after: ts("2024-01-01T00:00:10Z"),
                renew_before: None,
                pct: None,
                // 10s / 3 = 3.333s before expiry → 00:00:06.667 → truncated
                want: "2024-01-01T00:00:06Z",
            },
            Case {
                name: "notAfter before notBefore",
                not_after: ts("2023-12-31T23:00:00Z"),
                renew_before: None,
                pct: None,
                // lifetime -1h, renewBefore -20m → 23:20
                want: "2023-12-31T23:20:00Z",
            },
        ];
        for c in cases {
            assert_eq!(
                renewal_time(nb, c.not_after, c.renew_before, c.pct),
                ts(c.want),
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn renewal_time_truncates_sub_second_not_after() {
        let nb = ts("2024-01-01T00:00:00Z");
        let na = ts("2024-01-01T03:00:00.9Z");
        // lifetime 3h0.9s; /3 = 1h0.3s; na - that = 02:00:00.6 → 02:00:00
        assert_eq!(renewal_time(nb, na, None, None), ts("2024-01-01T02:00:00Z"));
    }

    #[test]
    fn renewal_disabled_policy() {
        use crate::api::certificate::CertificateRenewal;
        let nb = ts("2024-01-01T00:00:00Z");
        let na = ts("2024-03-31T00:00:00Z");
        let mut spec = CertificateSpec::default();
        assert_eq!(
            renewal_time_for_spec(nb, na, &spec),
            Some(ts("2024-03-01T00:00:00Z"))
        );
        spec.renewal = Some(Box::new(CertificateRenewal {
            policy: Some(RenewalPolicy::Disabled),
            windows: None,
        }));
        assert!(renewal_disabled(&spec));
        assert_eq!(renewal_time_for_spec(nb, na, &spec), None);
        spec.renewal = Some(Box::new(CertificateRenewal {
            policy: Some(RenewalPolicy::RenewBefore),
            windows: None,
        }));
        assert_eq!(
            renewal_time_for_spec(nb, na, &spec),
            Some(ts("2024-03-01T00:00:00Z"))
        );
    }

    fn windowed(windows: &[(&str, &str, &str)]) -> CertificateSpec {
        use crate::api::certificate::{CertificateRenewal, CertificateRenewalWindow};
        CertificateSpec {
            renewal: Some(Box::new(CertificateRenewal {
                policy: Some(RenewalPolicy::RenewBefore),
                windows: Some(
                    windows
                        .iter()
                        .map(|(tz, cron, d)| CertificateRenewalWindow {
                            cron: (*cron).into(),
                            timezone: (!tz.is_empty()).then(|| (*tz).into()),
                            window_duration: (*d).into(),
                        })
                        .collect(),
                ),
            })),
            ..Default::default()
        }
    }

    /// `spec.renewal.windows` move the renewal time (cert-manager's `RenewalTime`).
    #[test]
    fn renewal_windows_apply_to_the_spec() {
        // 90 days from Monday 2026-03-02: desired 2026-05-01 (a Friday) 00:00 UTC.
        let nb = ts("2026-03-02T00:00:00Z");
        let na = ts("2026-05-31T00:00:00Z");
        struct Case {
            name: &'static str,
            spec: CertificateSpec,
            hint: Option<&'static str>,
            want: Result<Option<&'static str>, (&'static str, &'static str)>,
        }
        let disabled = CertificateSpec {
            renewal: Some(Box::new(crate::api::certificate::CertificateRenewal {
                policy: Some(RenewalPolicy::Disabled),
                windows: None,
            })),
            ..Default::default()
        };
        let mut no_policy = windowed(&[("", "0 22 * * sat", "2h")]);
        no_policy.renewal.as_mut().unwrap().policy = None;
        let cases = [
            Case {
                name: "no windows: the desired time",
                spec: CertificateSpec::default(),
                hint: None,
                want: Ok(Some("2026-05-01T00:00:00Z")),
            },
            Case {
                name: "renewal disabled",
                spec: disabled,
                hint: None,
                want: Ok(None),
            },
            Case {
                name: "Saturday 22:00-24:00 in Denver (MDT, UTC-6)",
                spec: windowed(&[("America/Denver", "0 22 * * sat", "2h")]),
                hint: None,
                want: Ok(Some("2026-05-03T04:00:00Z")),
            },
            Case {
                name: "no policy is RenewBefore",
                spec: no_policy,
                hint: None,
                want: Ok(Some("2026-05-02T22:00:00Z")),
            },
            Case {
                name: "the desired time inside a window stays",
                spec: windowed(&[("", "0 23 * * thu", "2h")]),
                hint: None,
                want: Ok(Some("2026-05-01T00:00:00Z")),
            },
            Case {
                name: "the ARI time, moved into the window",
                spec: windowed(&[("", "0 3 * * *", "1h")]),
                hint: Some("2026-04-20T12:34:56Z"),
                want: Ok(Some("2026-04-21T03:00:00Z")),
            },
            Case {
                name: "no window before expiry: the desired time, with the error",
                spec: windowed(&[("", "0 0 1 1 *", "1h")]),
                hint: None,
                want: Err((
                    "2026-05-01T00:00:00Z",
                    "cannot find a time with the given windows between 2026-03-02 00:00:00 +0000 UTC and 2026-05-31 00:00:00 +0000 UTC for: 2026-05-01 00:00:00 +0000 UTC",
                )),
            },
            Case {
                name: "an unknown time zone: the desired time, with the webhook's error",
                spec: windowed(&[("Europe/Atlantis", "0 3 * * *", "1h")]),
                hint: None,
                want: Err((
                    "2026-05-01T00:00:00Z",
                    "[spec.renewal.windows[0].timezone: Invalid value: \"Europe/Atlantis\": invalid value for timezone. timezone must be IANA compliant, spec.renewal.windows[0].cron: Invalid value: \"0 3 * * *\": invalid cron syntax: failed to parse cron spec '0 3 * * *': provided bad location Europe/Atlantis: unknown time zone Europe/Atlantis. cron needs to follow: cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow]",
                )),
            },
        ];
        for c in cases {
            let hint = c.hint.map(ts);
            let got = renewal_time_checked(nb, na, &c.spec, hint)
                .map_err(|e| (e.renewal_time, e.to_string()));
            let want = c
                .want
                .map(|t| t.map(ts))
                .map_err(|(t, m)| (ts(t), m.to_string()));
            assert_eq!(got, want, "{}", c.name);
            // The infallible form renews at the error's time.
            let fallback = match &want {
                Ok(t) => *t,
                Err((t, _)) => Some(*t),
            };
            assert_eq!(
                renewal_time_with_hint(nb, na, &c.spec, hint),
                fallback,
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn backoff_policy() {
        let m = |n: u64| Duration::from_secs(n * 60);
        let cases = [
            (0, m(5)),
            (1, m(5)),
            (2, m(10)),
            (3, m(20)),
            (4, m(40)),
            (5, m(80)),
            (9, m(5 * 256)),
            (10, BACKOFF_MAX),
            (11, BACKOFF_MAX),
            (40, BACKOFF_MAX),
            (u32::MAX, BACKOFF_MAX),
        ];
        for (n, want) in cases {
            assert_eq!(backoff(n), want, "attempts {n}");
        }
        let h = |n: u64| Duration::from_secs(n * 3600);
        let cm = [
            (0, h(1)),
            (1, h(1)),
            (2, h(2)),
            (3, h(4)),
            (4, h(8)),
            (5, h(16)),
            (6, h(32)),
            (7, h(32)),
            (99, h(32)),
        ];
        for (n, want) in cm {
            assert_eq!(cert_manager_backoff(n), want, "cert-manager attempts {n}");
        }
    }

    #[test]
    fn next_attempt() {
        let t = ts("2024-01-01T00:00:00Z");
        assert_eq!(next_issuance_attempt(t, 1), ts("2024-01-01T00:05:00Z"));
        assert_eq!(next_issuance_attempt(t, 3), ts("2024-01-01T00:20:00Z"));
        assert_eq!(next_issuance_attempt(t, 100), ts("2024-01-02T08:00:00Z"));
        assert_eq!(next_issuance_attempt(Timestamp::MAX, 100), Timestamp::MAX);
    }
}
