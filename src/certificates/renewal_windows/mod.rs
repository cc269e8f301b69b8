//! Renewal windows (`spec.renewal.windows`): cert-manager v1.21's cron windows in
//! which a renewal may start, with the cron dialect and time arithmetic of the Go
//! code it runs, so that a Certificate gets the renewal time cert-manager gives it.
//!
//! Sources (cert-manager):
//! - `pkg/util/pki/renewaltime.go`: `applyRenewBeforeWithWindows`,
//!   `bsFindLatestWindowBeforeDesired`, `findBeforeDesired`, `findAfterDesired`;
//! - `pkg/util/util.go`: `CronParse`, i.e. `CRON_TZ=<timezone> <cron>` parsed by
//! - `internal/cron` (robfig/cron v3 with a 9-year search horizon), with the
//!   options `Minute | Hour | Dom | Month | Dow | Descriptor`:
//!   * five fields `minute hour day-of-month month day-of-week`; no seconds field
//!     (seconds are always 0);
//!   * each field a comma list of `*`, `?` (same as `*`), `N`, `N-M`, with an
//!     optional `/step` (`N/step` means `N-max/step`); `*-5` is `*`;
//!   * month names `jan`..`dec` and day names `sun`..`sat`, any case; days of the
//!     week are 0-6 (7 is refused);
//!   * when neither day field is a plain `*` (or `*/1`, `?`), a day matches if
//!     either day-of-month or day-of-week does (Vixie cron); otherwise both must;
//!   * descriptors `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
//!     `@midnight`, `@hourly` and `@every <Go duration>`;
//!   * a `TZ=`/`CRON_TZ=` prefix in the cron itself.
//! - `internal/apis/certmanager/validation/certificate.go`
//!   (`validateCertificateRenewalWindows`): the webhook's checks, which
//!   certgate (without a webhook) reports on the Certificate instead.
//!
//! Time zones are IANA names resolved as Go's `time.LoadLocation` resolves them
//! (case-sensitive; `""`, `UTC` and `Local` are UTC to certgate, whose times are
//! all UTC), through jiff's time zone database (the system's `/usr/share/zoneinfo`,
//! as cert-manager reads it). Local times are turned into instants as Go's
//! `time.Date` does, so a window start in a daylight-saving gap or fold lands
//! where cert-manager puts it.
//!
//! Every loop is bounded: `next` by the 9-year horizon (and an iteration cap), the
//! binary search by halving (and an iteration cap).

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::api::certificate::CertificateRenewalWindow;
use crate::gocompat::{go_duration_string, go_list, go_quote, go_time_string};

mod cron;
mod go_time;

use cron::to_timestamp;
#[cfg(test)]
use cron::*;
pub use cron::{Schedule, SpecSchedule, cron_parse, parse};
use go_time::go_sub;
#[cfg(test)]
use go_time::*;
pub use go_time::{Location, load_location};

/// Nanoseconds since the Unix epoch: the instants of this module.
type Nanos = i128;

const SECOND: Nanos = 1_000_000_000;
const MINUTE: Nanos = 60 * SECOND;
const HOUR: Nanos = 60 * MINUTE;

/// Go's zero `time.Time` (0001-01-01T00:00:00Z), which robfig's `Next` returns when
/// nothing matches within its horizon.
const GO_ZERO: Nanos = -62_135_596_800 * SECOND;

/// How many years past its start `next` looks (`nextSearchLimitYears`).
const SEARCH_LIMIT_YEARS: i64 = 9;

/// Safety cap on the steps of one `next` (far above what 9 years need).
const NEXT_STEP_CAP: u32 = 1_000_000;

/// Safety cap on the halvings of the binary search (an i64 range needs 64).
const SEARCH_STEP_CAP: u32 = 256;

/// The bit set when a field was `*` or `?` (with no step above 1).
const STAR_BIT: u64 = 1 << 63;

/// Why windows give no renewal time: cert-manager's `RenewalTime` errors, and the
/// errors its webhook would have refused the Certificate with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowsError {
    /// cert-manager's webhook would have refused the windows: its field errors,
    /// aggregated as the API server reports them.
    Invalid(Vec<String>),
    /// An error of `RenewalTime` itself for a window the webhook accepts (a zero
    /// `windowDuration`, or a `TZ=` prefix in the cron together with a timezone).
    Window(String),
    /// No window opens between `notBefore - windowDuration` and
    /// `notAfter + windowDuration` at or after the desired time.
    NoWindow {
        not_before: Timestamp,
        not_after: Timestamp,
        desired: Timestamp,
    },
}

impl fmt::Display for WindowsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // k8s.io/apimachinery's `utilerrors.NewAggregate(...).Error()`.
            WindowsError::Invalid(errs) if errs.len() == 1 => f.write_str(&errs[0]),
            WindowsError::Invalid(errs) => write!(f, "[{}]", errs.join(", ")),
            WindowsError::Window(m) => f.write_str(m),
            WindowsError::NoWindow {
                not_before,
                not_after,
                desired,
            } => write!(
                f,
                "cannot find a time with the given windows between {} and {} for: {}",
                go_time_string(*not_before),
                go_time_string(*not_after),
                go_time_string(*desired)
            ),
        }
    }
}

/// The errors cert-manager's webhook (`validateCertificateRenewalWindows`) gives
/// for the windows, as `field.Error` strings; plus a `windowDuration` Go cannot
/// parse, which cert-manager could not even decode.
pub fn webhook_errors(windows: &[CertificateRenewalWindow]) -> Vec<String> {
    let mut errs = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let path = format!("spec.renewal.windows[{i}]");
        if let Err(e) = crate::gocompat::parse_go_duration_nanos(&w.window_duration) {
            errs.push(format!(
                "{path}.windowDuration: Invalid value: {}: {e}",
                go_quote(&w.window_duration)
            ));
        }
        let tz = w.timezone.as_deref().unwrap_or("");
        if !tz.is_empty() && load_location(tz).is_err() {
            errs.push(format!(
                "{path}.timezone: Invalid value: {}: invalid value for timezone. timezone must be IANA compliant",
                go_quote(tz)
            ));
        }
        if let Err(e) = cron_parse(&w.cron, tz) {
            errs.push(format!(
                "{path}.cron: Invalid value: {}: invalid cron syntax: {e}. cron needs to follow: cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow",
                go_quote(&w.cron)
            ));
        }
    }
    errs
}

/// A window ready for the search.
struct Window {
    schedule: Schedule,
    duration: Nanos,
}

/// The windows as `applyRenewBeforeWithWindows` reads them: the time zone
/// (`error parsing timezone in window ...`), the cron parsed in it (`error
/// parsing cron in window ...`), a positive duration.
fn prepare(w: &CertificateRenewalWindow) -> Result<Window, String> {
    let tz = w.timezone.as_deref().unwrap_or("");
    load_location(tz).map_err(|e| format!("error parsing timezone in window {e}"))?;
    // `loc.String()`: "UTC" for an empty timezone, else the name.
    let name = if tz.is_empty() { "UTC" } else { tz };
    let schedule =
        cron_parse(&w.cron, name).map_err(|e| format!("error parsing cron in window {e}"))?;
    let duration = crate::gocompat::parse_go_duration_nanos(&w.window_duration).unwrap_or(0);
    if duration <= 0 {
        let shown = if duration < 0 {
            format!(
                "-{}",
                go_duration_string(std::time::Duration::from_nanos(duration.unsigned_abs()))
            )
        } else {
            go_duration_string(std::time::Duration::from_nanos(duration.unsigned_abs()))
        };
        // Go prints `%v` of the window struct (its duration as a pointer).
        return Err(format!(
            "windowDuration must be a positive duration in window {{{tz} {shown} {}}}",
            w.cron
        ));
    }
    Ok(Window {
        schedule,
        duration: Nanos::from(duration),
    })
}

/// `applyRenewBeforeWithWindows`: the renewal time for the desired one within the
/// windows. Without windows, the desired time. First checks what cert-manager's
/// webhook checks ([`WindowsError::Invalid`]).
pub fn apply_windows(
    not_before: Timestamp,
    not_after: Timestamp,
    desired: Timestamp,
    windows: &[CertificateRenewalWindow],
) -> Result<Timestamp, WindowsError> {
    if windows.is_empty() {
        return Ok(desired);
    }
    let errs = webhook_errors(windows);
    if !errs.is_empty() {
        return Err(WindowsError::Invalid(errs));
    }
    let prepared = windows
        .iter()
        .map(prepare)
        .collect::<Result<Vec<_>, _>>()
        .map_err(WindowsError::Window)?;
    let (nb, na, want) = (
        not_before.as_nanosecond(),
        not_after.as_nanosecond(),
        desired.as_nanosecond(),
    );
    let mut best_before = None;
    let mut best_after = None;
    for w in &prepared {
        let search_min = nb - w.duration;
        let search_max = na + w.duration;
        best_before = find_before_desired(
            &w.schedule,
            search_min,
            search_max,
            want,
            best_before,
            w.duration,
        );
        best_after = find_after_desired(
            &w.schedule,
            search_min,
            search_max,
            want,
            best_after,
            w.duration,
        );
    }
    match best_before.or(best_after) {
        Some(t) => Ok(to_timestamp(t)),
        None => Err(WindowsError::NoWindow {
            not_before,
            not_after,
            desired,
        }),
    }
}

/// `bsFindLatestWindowBeforeDesired`: a binary search for the latest window start
/// S (from `next`) with `min <= S <= max`.
fn bs_find_latest_window_before_desired(sched: &Schedule, min: Nanos, max: Nanos) -> Option<Nanos> {
    if min >= max {
        return None;
    }
    if sched.next(min - SECOND) > max {
        return None;
    }
    let (mut low, mut high) = (min, max);
    let mut steps = 0;
    while go_sub(high, low) > SECOND && steps < SEARCH_STEP_CAP {
        steps += 1;
        let mid = low + go_sub(high, low) / 2;
        if sched.next(mid) > max {
            high = mid;
        } else {
            low = mid;
        }
    }
    let last = sched.next(low - SECOND);
    (last <= max).then_some(last)
}

/// `findBeforeDesired`: the desired time when it falls inside the latest window
/// that starts at or before it (or that window's end when it is the desired time).
fn find_before_desired(
    sched: &Schedule,
    search_min: Nanos,
    search_max: Nanos,
    desired: Nanos,
    best_before: Option<Nanos>,
    duration: Nanos,
) -> Option<Nanos> {
    if desired < search_min {
        return None;
    }
    let before_max = desired.min(search_max);
    let Some(last_start) = bs_find_latest_window_before_desired(sched, search_min, before_max)
    else {
        return best_before;
    };
    let end = last_start + duration;
    let candidate = if desired >= last_start && desired < end {
        desired
    } else {
        end
    };
    if candidate >= desired && best_before.is_none_or(|b| candidate > b) {
        return Some(candidate);
    }
    best_before
}

/// `findAfterDesired`: the desired time when the first window starting at or after
/// it contains it, else that window's start.
fn find_after_desired(
    sched: &Schedule,
    search_min: Nanos,
    search_max: Nanos,
    desired: Nanos,
    best_after: Option<Nanos>,
    duration: Nanos,
) -> Option<Nanos> {
    let after_min = desired.max(search_min);
    let start = sched.next(after_min - SECOND);
    if start > search_max {
        return None;
    }
    let end = start + duration;
    let candidate = if desired >= start && desired < end {
        desired
    } else if desired < start {
        start
    } else {
        GO_ZERO
    };
    if candidate != GO_ZERO && candidate >= desired && best_after.is_none_or(|b| candidate < b) {
        return Some(candidate);
    }
    best_after
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn window(tz: &str, cron: &str, duration: &str) -> CertificateRenewalWindow {
        CertificateRenewalWindow {
            cron: cron.to_string(),
            timezone: (!tz.is_empty()).then(|| tz.to_string()),
            window_duration: duration.to_string(),
        }
    }

    /// `util.CronParse(cron, timezone)`; expected errors are the Go code's, run on
    /// these inputs.
    #[test]
    fn cron_dialect_is_cert_managers() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("0 10 * * *", "", None),
            ("* * * * *", "", None),
            ("*/15 2-4 1,15 jan-mar mon-fri", "", None),
            (
                "0 0 * * 7",
                "",
                Some(
                    "failed to parse cron spec '0 0 * * 7': end of range (7) above maximum (6): 7",
                ),
            ),
            ("0 0 * * SUN", "", None),
            ("0 0 ? * ?", "", None),
            ("@daily", "", None),
            ("@every 1h30m", "", None),
            ("@every 500ms", "", None),
            (
                "@every bogus",
                "",
                Some(
                    "failed to parse cron spec '@every bogus': failed to parse duration @every bogus: time: invalid duration \"bogus\"",
                ),
            ),
            (
                "@reboot",
                "",
                Some("failed to parse cron spec '@reboot': unrecognized descriptor: @reboot"),
            ),
            (
                "@daily ",
                "",
                Some("failed to parse cron spec '@daily ': unrecognized descriptor: @daily "),
            ),
            ("@daily ", "UTC", None),
            (
                "0 0 * *",
                "",
                Some(
                    "failed to parse cron spec '0 0 * *': expected exactly 5 fields, found 4: [0 0 * *]",
                ),
            ),
            (
                "0 0 * * * *",
                "",
                Some(
                    "failed to parse cron spec '0 0 * * * *': expected exactly 5 fields, found 6: [0 0 * * * *]",
                ),
            ),
            (
                "",
                "",
                Some("failed to parse cron spec '': empty spec string"),
            ),
            (
                "   ",
                "",
                Some("failed to parse cron spec '   ': expected exactly 5 fields, found 0: []"),
            ),
            (
                "60 * * * *",
                "",
                Some(
                    "failed to parse cron spec '60 * * * *': end of range (60) above maximum (59): 60",
                ),
            ),
            (
                "* 24 * * *",
                "",
                Some(
                    "failed to parse cron spec '* 24 * * *': end of range (24) above maximum (23): 24",
                ),
            ),
            (
                "* * 0 * *",
                "",
                Some(
                    "failed to parse cron spec '* * 0 * *': beginning of range (0) below minimum (1): 0",
                ),
            ),
            (
                "* * * 13 *",
                "",
                Some(
                    "failed to parse cron spec '* * * 13 *': end of range (13) above maximum (12): 13",
                ),
            ),
            (
                "5-1 * * * *",
                "",
                Some(
                    "failed to parse cron spec '5-1 * * * *': beginning of range (5) beyond end of range (1): 5-1",
                ),
            ),
            (
                "*/0 * * * *",
                "",
                Some(
                    "failed to parse cron spec '*/0 * * * *': step of range should be a positive number: */0",
                ),
            ),
            (
                "1-2-3 * * * *",
                "",
                Some("failed to parse cron spec '1-2-3 * * * *': too many hyphens: 1-2-3"),
            ),
            (
                "1/2/3 * * * *",
                "",
                Some("failed to parse cron spec '1/2/3 * * * *': too many slashes: 1/2/3"),
            ),
            (
                "a * * * *",
                "",
                Some(
                    "failed to parse cron spec 'a * * * *': failed to parse int from a: strconv.Atoi: parsing \"a\": invalid syntax",
                ),
            ),
            (
                "*/-1 * * * *",
                "",
                Some(
                    "failed to parse cron spec '*/-1 * * * *': negative number (-1) not allowed: -1",
                ),
            ),
            ("+5 * * * *", "", None),
            (
                "99999999999999999999 * * * *",
                "",
                Some(
                    "failed to parse cron spec '99999999999999999999 * * * *': failed to parse int from 99999999999999999999: strconv.Atoi: parsing \"99999999999999999999\": value out of range",
                ),
            ),
            (
                "-5 * * * *",
                "",
                Some(
                    "failed to parse cron spec '-5 * * * *': failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax",
                ),
            ),
            (", * * * *", "", None),
            (
                "CRON_TZ=UTC",
                "",
                Some(
                    "failed to parse cron spec 'CRON_TZ=UTC': expected timezone prefix to be followed by a cron spec: CRON_TZ=UTC",
                ),
            ),
            (
                "TZ=UTC",
                "",
                Some(
                    "failed to parse cron spec 'TZ=UTC': expected timezone prefix to be followed by a cron spec: TZ=UTC",
                ),
            ),
            ("TZ=Europe/Paris 0 0 * * *", "", None),
            (
                "TZ=Europe/Paris 0 0 * * *",
                "UTC",
                Some(
                    "failed to parse cron spec 'TZ=Europe/Paris 0 0 * * *': expected exactly 5 fields, found 6: [TZ=Europe/Paris 0 0 * * *]",
                ),
            ),
            (
                "0 0 * * *",
                "Mars/Base",
                Some(
                    "failed to parse cron spec '0 0 * * *': provided bad location Mars/Base: unknown time zone Mars/Base",
                ),
            ),
            (
                "0 0 * * *",
                "america/denver",
                Some(
                    "failed to parse cron spec '0 0 * * *': provided bad location america/denver: unknown time zone america/denver",
                ),
            ),
            (
                "0 0 * * *",
                "../etc",
                Some(
                    "failed to parse cron spec '0 0 * * *': provided bad location ../etc: time: invalid location name",
                ),
            ),
            ("0 0 * * *", "Local", None),
            (
                "0 0 * * *",
                "Etc/Unknown",
                Some(
                    "failed to parse cron spec '0 0 * * *': provided bad location Etc/Unknown: unknown time zone Etc/Unknown",
                ),
            ),
            (
                "0 0 * JANUARY *",
                "",
                Some(
                    "failed to parse cron spec '0 0 * JANUARY *': failed to parse int from JANUARY: strconv.Atoi: parsing \"JANUARY\": invalid syntax",
                ),
            ),
            (
                "0 0 * * mon-7",
                "",
                Some(
                    "failed to parse cron spec '0 0 * * mon-7': end of range (7) above maximum (6): mon-7",
                ),
            ),
            ("*-5 * * * *", "", None),
            (
                "1- * * * *",
                "",
                Some(
                    "failed to parse cron spec '1- * * * *': failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax",
                ),
            ),
            ("0 0 * * *", "US/Mountain", None),
            ("0 0 * * *", "Etc/UTC", None),
            (
                "0 0 * * *",
                "utc",
                Some(
                    "failed to parse cron spec '0 0 * * *': provided bad location utc: unknown time zone utc",
                ),
            ),
            ("CRON_TZ= 0 0 * * *", "", None),
            ("0\t0 *  * *", "", None),
            ("0 0 * * Fri,SAT", "", None),
            (
                "0 0 L * *",
                "",
                Some(
                    "failed to parse cron spec '0 0 L * *': failed to parse int from L: strconv.Atoi: parsing \"L\": invalid syntax",
                ),
            ),
            (
                "0 0 1W * *",
                "",
                Some(
                    "failed to parse cron spec '0 0 1W * *': failed to parse int from 1W: strconv.Atoi: parsing \"1W\": invalid syntax",
                ),
            ),
            (
                "0 0 * * 1#2",
                "",
                Some(
                    "failed to parse cron spec '0 0 * * 1#2': failed to parse int from 1#2: strconv.Atoi: parsing \"1#2\": invalid syntax",
                ),
            ),
            (
                "0 0 * * 5L",
                "",
                Some(
                    "failed to parse cron spec '0 0 * * 5L': failed to parse int from 5L: strconv.Atoi: parsing \"5L\": invalid syntax",
                ),
            ),
            ("@every 0s", "", None),
            ("@every -5m", "", None),
            (
                "@every",
                "",
                Some("failed to parse cron spec '@every': unrecognized descriptor: @every"),
            ),
            (
                " @daily",
                "",
                Some(
                    "failed to parse cron spec ' @daily': expected exactly 5 fields, found 1: [@daily]",
                ),
            ),
        ];
        for (cron, tz, want) in cases {
            let got = cron_parse(cron, tz).err();
            assert_eq!(got.as_deref(), *want, "cron {cron:?} timezone {tz:?}");
        }
    }

    /// A directory of the zoneinfo tree is no zone (Go says `is a directory`).
    #[test]
    fn a_zoneinfo_directory_is_no_time_zone() {
        assert_eq!(
            cron_parse("0 0 * * *", "America").err().as_deref(),
            Some(
                "failed to parse cron spec '0 0 * * *': provided bad location America: unknown time zone America"
            )
        );
    }

    /// robfig's `Next` (strictly after the time given), with the results of the Go
    /// code on the same inputs, daylight-saving gaps and folds included.
    #[test]
    fn next_activation_is_robfigs() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            (
                "0 10 * * *",
                "",
                "2026-05-13T08:17:42Z",
                Some("2026-05-13T10:00:00Z"),
            ), // daily, later the same day
            (
                "0 10 * * *",
                "",
                "2026-05-13T10:00:00Z",
                Some("2026-05-14T10:00:00Z"),
            ), // strictly after: the next day
            (
                "0 10 * * *",
                "",
                "2026-05-13T09:59:59.999Z",
                Some("2026-05-13T10:00:00Z"),
            ), // sub-second before the start
            (
                "*/15 * * * *",
                "",
                "2026-05-13T08:17:42Z",
                Some("2026-05-13T08:30:00Z"),
            ), // step
            (
                "5/20 * * * *",
                "",
                "2026-05-13T08:46:00Z",
                Some("2026-05-13T09:05:00Z"),
            ), // N/step is N-max/step
            (
                "0 9-17/4 * * *",
                "",
                "2026-05-13T13:00:00Z",
                Some("2026-05-13T17:00:00Z"),
            ), // range with step
            (
                "0 0 * * sun",
                "",
                "2026-05-13T08:00:00Z",
                Some("2026-05-17T00:00:00Z"),
            ), // day name
            (
                "0 0 * * 0",
                "",
                "2026-05-13T08:00:00Z",
                Some("2026-05-17T00:00:00Z"),
            ), // Sunday is 0
            (
                "0 0 1 jan *",
                "",
                "2026-05-13T08:00:00Z",
                Some("2027-01-01T00:00:00Z"),
            ), // month name
            (
                "0 0 13 * 5",
                "",
                "2026-05-13T08:00:00Z",
                Some("2026-05-15T00:00:00Z"),
            ), // dom or dow (Vixie): Friday the 15th comes first
            (
                "0 0 20 * 5",
                "",
                "2026-05-13T08:00:00Z",
                Some("2026-05-15T00:00:00Z"),
            ), // dom or dow (Vixie): Friday
            (
                "0 0 */1 * 5",
                "",
                "2026-05-13T08:00:00Z",
                Some("2026-05-15T00:00:00Z"),
            ), // */1 keeps the star: dom and dow
            (
                "0 0 1-31 * 5",
                "",
                "2026-05-13T08:00:00Z",
                Some("2026-05-14T00:00:00Z"),
            ), // 1-31 has no star: dom or dow
            (
                "0 0 * * 5",
                "",
                "2026-05-13T08:00:00Z",
                Some("2026-05-15T00:00:00Z"),
            ), // dom star: dow only
            (
                "0 0 ? * 5",
                "",
                "2026-05-13T08:00:00Z",
                Some("2026-05-15T00:00:00Z"),
            ), // ? is a star
            (
                "0 0 29 2 *",
                "",
                "2024-03-01T00:00:00Z",
                Some("2028-02-29T00:00:00Z"),
            ), // leap day 4 years on
            (
                "0 0 29 2 *",
                "",
                "2096-03-01T00:00:00Z",
                Some("2104-02-29T00:00:00Z"),
            ), // leap day across 2100
            ("0 0 31 2 *", "", "2024-01-01T00:00:00Z", None), // never
            ("0 0 31 4,6 *", "", "2024-01-01T00:00:00Z", None), // never (30-day months)
            (", * * * *", "", "2024-01-01T00:00:00Z", None),  // an empty list never matches
            (
                "0 0 31 * *",
                "",
                "2026-04-01T00:00:00Z",
                Some("2026-05-31T00:00:00Z"),
            ), // skips 30-day months
            (
                "@daily",
                "",
                "2026-05-13T08:17:42Z",
                Some("2026-05-14T00:00:00Z"),
            ), // @daily
            (
                "@hourly",
                "",
                "2026-05-13T08:17:42Z",
                Some("2026-05-13T09:00:00Z"),
            ), // @hourly
            (
                "@weekly",
                "",
                "2026-05-13T08:17:42Z",
                Some("2026-05-17T00:00:00Z"),
            ), // @weekly
            (
                "@monthly",
                "",
                "2026-05-13T08:17:42Z",
                Some("2026-06-01T00:00:00Z"),
            ), // @monthly
            (
                "@yearly",
                "",
                "2026-05-13T08:17:42Z",
                Some("2027-01-01T00:00:00Z"),
            ), // @yearly
            (
                "@every 90m",
                "",
                "2026-05-13T08:17:42.25Z",
                Some("2026-05-13T09:47:42Z"),
            ), // @every drops the sub-second
            (
                "@every 1500ms",
                "",
                "2026-05-13T08:17:42Z",
                Some("2026-05-13T08:17:43Z"),
            ), // @every rounds down to seconds
            (
                "@every 0s",
                "",
                "2026-05-13T08:17:42Z",
                Some("2026-05-13T08:17:43Z"),
            ), // @every at least a second
            (
                "0 10 * * *",
                "America/Phoenix",
                "2026-05-13T08:17:42Z",
                Some("2026-05-13T17:00:00Z"),
            ), // fixed offset zone
            (
                "0 10 * * *",
                "America/Denver",
                "2026-10-31T21:30:00Z",
                Some("2026-11-01T17:00:00Z"),
            ), // Denver: the day DST ends
            (
                "30 2 * * *",
                "America/Denver",
                "2026-03-07T12:00:00Z",
                Some("2026-03-09T08:30:00Z"),
            ), // Denver: 02:30 does not exist on 2026-03-08
            (
                "30 2 * * *",
                "America/Denver",
                "2026-03-08T08:00:00Z",
                Some("2026-03-09T08:30:00Z"),
            ), // Denver: from just before the gap
            (
                "0 2 * * *",
                "America/Denver",
                "2026-03-07T12:00:00Z",
                Some("2026-03-09T08:00:00Z"),
            ), // Denver: 02:00 does not exist
            (
                "30 1 * * *",
                "America/Denver",
                "2026-10-31T12:00:00Z",
                Some("2026-11-01T07:30:00Z"),
            ), // Denver: 01:30 happens twice
            (
                "30 1 * * *",
                "America/Denver",
                "2026-11-01T07:30:00Z",
                Some("2026-11-01T08:30:00Z"),
            ), // Denver: from the first 01:30
            (
                "0 * * * *",
                "America/Denver",
                "2026-11-01T07:00:00Z",
                Some("2026-11-01T08:00:00Z"),
            ), // Denver hourly through the fold
            (
                "0 * * * *",
                "America/Denver",
                "2026-11-01T08:00:00Z",
                Some("2026-11-01T09:00:00Z"),
            ), // Denver hourly after the fold
            (
                "0 * * * *",
                "America/Denver",
                "2026-03-08T08:30:00Z",
                Some("2026-03-08T09:00:00Z"),
            ), // Denver hourly through the gap
            (
                "0 3 * * 0",
                "America/Denver",
                "2026-03-01T12:00:00Z",
                Some("2026-03-08T09:00:00Z"),
            ), // Denver Sunday 03:00 the day DST starts
            (
                "30 2 * * *",
                "Europe/Berlin",
                "2026-03-28T12:00:00Z",
                Some("2026-03-30T00:30:00Z"),
            ), // Berlin: 02:30 does not exist
            (
                "30 2 * * *",
                "Europe/Berlin",
                "2026-10-24T12:00:00Z",
                Some("2026-10-25T00:30:00Z"),
            ), // Berlin: 02:30 happens twice
            (
                "0 0 * * *",
                "America/Sao_Paulo",
                "2018-11-03T12:00:00Z",
                Some("2018-11-05T02:00:00Z"),
            ), // Sao Paulo: midnight did not exist
            (
                "0 0 * * *",
                "America/Sao_Paulo",
                "2018-11-02T12:00:00Z",
                Some("2018-11-03T03:00:00Z"),
            ), // Sao Paulo: the day before
            (
                "0 0 5 11 *",
                "America/Sao_Paulo",
                "2018-10-01T00:00:00Z",
                Some("2018-11-05T02:00:00Z"),
            ), // Sao Paulo: day search over missing midnight
            (
                "15 * * * *",
                "Asia/Kathmandu",
                "2026-05-13T08:17:42Z",
                Some("2026-05-13T08:30:00Z"),
            ), // +05:45
            (
                "30 2 * * *",
                "Australia/Lord_Howe",
                "2026-10-03T00:00:00Z",
                Some("2026-10-03T15:30:00Z"),
            ), // Lord Howe: 30-minute DST gap
            (
                "0 0 * * *",
                "Pacific/Apia",
                "2011-12-29T00:00:00Z",
                Some("2011-12-29T10:00:00Z"),
            ), // Apia skipped 2011-12-30
            (
                "TZ=Asia/Tokyo 0 9 * * *",
                "",
                "2026-05-13T08:17:42Z",
                Some("2026-05-14T00:00:00Z"),
            ), // TZ= prefix in the cron
            (
                "0 0 * * *",
                "Local",
                "2026-05-13T08:17:42Z",
                Some("2026-05-14T00:00:00Z"),
            ), // Local is the times' zone (UTC)
        ];
        for (cron, tz, from, want) in cases {
            let sched = cron_parse(cron, tz).unwrap();
            let got = sched.next_after(ts(from));
            assert_eq!(got, want.map(ts), "cron {cron:?} in {tz:?} after {from}");
        }
    }

    struct WindowCase {
        name: &'static str,
        not_before: &'static str,
        not_after: &'static str,
        desired: &'static str,
        windows: &'static [(&'static str, &'static str, &'static str)],
        /// `None`: no window fits (cert-manager's "cannot find a time" error).
        want: Option<&'static str>,
    }

    /// `applyRenewBeforeWithWindows`: cert-manager's `TestRenewalWithWindowsForRenewBefore`
    /// (dated: now = 2026-05-13T08:17:42Z, so future = 2026-05-18, a Monday) and
    /// more, with the results of the Go code on the same inputs.
    #[test]
    fn windows_move_the_renewal_time_as_cert_manager() {
        let cases = [
            WindowCase {
                name: "single window, renewal time within window",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T10:30:00Z",
                windows: &[("UTC", "0 10 * * *", "2h")],
                want: Some("2026-05-18T10:30:00Z"),
            },
            WindowCase {
                name: "single window, time outside window",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T13:00:00Z",
                windows: &[("UTC", "0 10 * * *", "2h")],
                want: Some("2026-05-19T10:00:00Z"),
            },
            WindowCase {
                name: "single window, renewal time before the window",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-19T00:00:00Z",
                desired: "2026-05-18T09:00:00Z",
                windows: &[("UTC", "0 15 * * *", "2h")],
                want: Some("2026-05-18T15:00:00Z"),
            },
            WindowCase {
                name: "multiple windows, weekday and weekend",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-24T00:00:00Z",
                desired: "2026-05-23T06:00:00Z",
                windows: &[("UTC", "0 23 * * 1-5", "2h"), ("UTC", "0 10 * * 6,0", "4h")],
                want: Some("2026-05-23T10:00:00Z"),
            },
            WindowCase {
                name: "single window, renewal time within window, different timezone",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T17:30:00Z",
                windows: &[("America/Phoenix", "0 10 * * *", "2h")],
                want: Some("2026-05-18T17:30:00Z"),
            },
            WindowCase {
                name: "single window, renewal time in daylight savings (on to off) time zone",
                not_before: "2026-02-26T00:00:00Z",
                not_after: "2026-11-03T00:00:00Z",
                desired: "2026-10-31T21:30:00Z",
                windows: &[("America/Denver", "0 10 * * *", "2h")],
                want: Some("2026-11-01T17:00:00Z"),
            },
            WindowCase {
                name: "single window, renewal time outside of windows",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-19T00:00:00Z",
                desired: "2026-05-18T13:30:00Z",
                windows: &[("UTC", "0 10 * * *", "2h")],
                want: None,
            },
            WindowCase {
                name: "single window, renewal time within window and with ARI",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T10:30:00Z",
                windows: &[("UTC", "0 10 * * *", "2h")],
                want: Some("2026-05-18T10:30:00Z"),
            },
            WindowCase {
                name: "timezone defaults to UTC",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T13:00:00Z",
                windows: &[("", "0 10 * * *", "2h")],
                want: Some("2026-05-19T10:00:00Z"),
            },
            WindowCase {
                name: "Denver: the window opens in the spring-forward gap",
                not_before: "2026-02-01T00:00:00Z",
                not_after: "2026-03-20T00:00:00Z",
                desired: "2026-03-08T08:30:00Z",
                windows: &[("America/Denver", "0 2 * * *", "2h")],
                want: Some("2026-03-09T08:00:00Z"),
            },
            WindowCase {
                name: "Denver: inside a window across spring forward",
                not_before: "2026-02-01T00:00:00Z",
                not_after: "2026-03-20T00:00:00Z",
                desired: "2026-03-08T09:30:00Z",
                windows: &[("America/Denver", "0 1 * * *", "3h")],
                want: Some("2026-03-08T09:30:00Z"),
            },
            WindowCase {
                name: "Denver: a window in the fall-back fold",
                not_before: "2026-09-01T00:00:00Z",
                not_after: "2026-11-20T00:00:00Z",
                desired: "2026-11-01T08:15:00Z",
                windows: &[("America/Denver", "0 1 * * *", "90m")],
                want: Some("2026-11-01T08:15:00Z"),
            },
            WindowCase {
                name: "Denver: after the first 01:00 window of the fold day",
                not_before: "2026-09-01T00:00:00Z",
                not_after: "2026-11-20T00:00:00Z",
                desired: "2026-11-01T09:00:00Z",
                windows: &[("America/Denver", "0 1 * * *", "30m")],
                want: Some("2026-11-02T08:00:00Z"),
            },
            WindowCase {
                name: "Denver: Saturday night maintenance across fall back",
                not_before: "2026-09-01T00:00:00Z",
                not_after: "2026-11-20T00:00:00Z",
                desired: "2026-10-28T12:00:00Z",
                windows: &[("America/Denver", "0 22 * * sat", "4h")],
                want: Some("2026-11-01T04:00:00Z"),
            },
            WindowCase {
                name: "a later window without a start resets the one found after",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T13:00:00Z",
                windows: &[("UTC", "0 10 * * *", "2h"), ("UTC", "0 0 1 1 *", "1h")],
                want: None,
            },
            WindowCase {
                name: "the window found after from the last window stands",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T13:00:00Z",
                windows: &[("UTC", "0 0 1 1 *", "1h"), ("UTC", "0 10 * * *", "2h")],
                want: Some("2026-05-19T10:00:00Z"),
            },
            WindowCase {
                name: "desired at a window's end",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T12:00:00Z",
                windows: &[("UTC", "0 10 * * *", "2h")],
                want: Some("2026-05-18T12:00:00Z"),
            },
            WindowCase {
                name: "desired at a window's start",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T10:00:00Z",
                windows: &[("UTC", "0 10 * * *", "2h")],
                want: Some("2026-05-18T10:00:00Z"),
            },
            WindowCase {
                name: "desired one second before a window's end",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T11:59:59Z",
                windows: &[("UTC", "0 10 * * *", "2h")],
                want: Some("2026-05-18T11:59:59Z"),
            },
            WindowCase {
                name: "a window before beats one after",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T10:30:00Z",
                windows: &[("UTC", "0 11 * * *", "1h"), ("UTC", "0 10 * * *", "1h")],
                want: Some("2026-05-18T10:30:00Z"),
            },
            WindowCase {
                name: "@every window",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T13:00:00Z",
                windows: &[("UTC", "@every 7h", "1h")],
                want: Some("2026-05-18T13:00:00Z"),
            },
            WindowCase {
                name: "desired before notBefore - windowDuration",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-01T00:00:00Z",
                windows: &[("UTC", "0 10 * * *", "2h")],
                want: Some("2026-05-03T10:00:00Z"),
            },
            WindowCase {
                name: "window longer than a day",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-22T00:00:00Z",
                desired: "2026-05-19T12:00:00Z",
                windows: &[("UTC", "0 0 * * 1", "48h")],
                want: Some("2026-05-19T12:00:00Z"),
            },
            WindowCase {
                name: "a window may start after notAfter, within windowDuration",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-18T10:30:00Z",
                desired: "2026-05-18T10:00:00Z",
                windows: &[("UTC", "0 11 * * *", "1h")],
                want: Some("2026-05-18T11:00:00Z"),
            },
            WindowCase {
                name: "a window may start before notBefore, within windowDuration",
                not_before: "2026-05-03T10:30:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-03T10:45:00Z",
                windows: &[("UTC", "0 10 * * *", "2h")],
                want: Some("2026-05-03T10:45:00Z"),
            },
            WindowCase {
                name: "a window that never opens",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T13:00:00Z",
                windows: &[("UTC", "0 0 31 2 *", "1h")],
                want: None,
            },
            WindowCase {
                name: "minute-long windows",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T13:00:30Z",
                windows: &[("UTC", "*/5 * * * *", "1m")],
                want: Some("2026-05-18T13:00:30Z"),
            },
            WindowCase {
                name: "Vixie dom or dow",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-06-17T00:00:00Z",
                desired: "2026-05-18T13:00:00Z",
                windows: &[("UTC", "0 0 1,15 * 5", "24h")],
                want: Some("2026-05-22T00:00:00Z"),
            },
            WindowCase {
                name: "fractional windowDuration",
                not_before: "2026-05-03T00:00:00Z",
                not_after: "2026-05-20T00:00:00Z",
                desired: "2026-05-18T11:00:00Z",
                windows: &[("UTC", "0 10 * * *", "1.5h")],
                want: Some("2026-05-18T11:00:00Z"),
            },
        ];
        for c in cases {
            let windows: Vec<_> = c
                .windows
                .iter()
                .map(|(tz, cron, d)| window(tz, cron, d))
                .collect();
            let (nb, na, desired) = (ts(c.not_before), ts(c.not_after), ts(c.desired));
            let got = apply_windows(nb, na, desired, &windows);
            let want = c.want.map(ts).ok_or(WindowsError::NoWindow {
                not_before: nb,
                not_after: na,
                desired,
            });
            assert_eq!(got, want, "{}", c.name);
        }
    }

    /// The error text is Go's, so that the Certificate shows what cert-manager shows.
    #[test]
    fn no_window_error_reads_as_cert_managers() {
        let windows = [window("UTC", "0 10 * * *", "2h")];
        let err = apply_windows(
            ts("2026-05-03T00:00:00Z"),
            ts("2026-05-19T00:00:00Z"),
            ts("2026-05-18T13:30:00Z"),
            &windows,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot find a time with the given windows between 2026-05-03 00:00:00 +0000 UTC and 2026-05-19 00:00:00 +0000 UTC for: 2026-05-18 13:30:00 +0000 UTC"
        );
    }

    /// What cert-manager's webhook refuses, with its field errors.
    #[test]
    fn invalid_windows_are_refused_as_the_webhook_refuses_them() {
        type Windows = &'static [(&'static str, &'static str, &'static str)];
        let cases: &[(Windows, &[&str])] = &[
            (&[("America/Denver", "0 10 * * 1-5", "2h")], &[]),
            (&[("", "@weekly", "30m")], &[]),
            (
                &[("Mars/Olympus_Mons", "0 10 * * *", "2h")],
                &[
                    r#"spec.renewal.windows[0].timezone: Invalid value: "Mars/Olympus_Mons": invalid value for timezone. timezone must be IANA compliant"#,
                    r#"spec.renewal.windows[0].cron: Invalid value: "0 10 * * *": invalid cron syntax: failed to parse cron spec '0 10 * * *': provided bad location Mars/Olympus_Mons: unknown time zone Mars/Olympus_Mons. cron needs to follow: cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow"#,
                ],
            ),
            (
                &[("UTC", "0 10 * * *", "2h"), ("", "0 10 * * 7", "2h")],
                &[
                    r#"spec.renewal.windows[1].cron: Invalid value: "0 10 * * 7": invalid cron syntax: failed to parse cron spec '0 10 * * 7': end of range (7) above maximum (6): 7. cron needs to follow: cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow"#,
                ],
            ),
            // cert-manager's own test case.
            (
                &[("", "CRON_TZ=UTC", "2h")],
                &[
                    r#"spec.renewal.windows[0].cron: Invalid value: "CRON_TZ=UTC": invalid cron syntax: failed to parse cron spec 'CRON_TZ=UTC': expected timezone prefix to be followed by a cron spec: CRON_TZ=UTC. cron needs to follow: cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow"#,
                ],
            ),
            (
                &[("", "0 10 * * *", "99999999h")],
                &[
                    r#"spec.renewal.windows[0].windowDuration: Invalid value: "99999999h": time: invalid duration "99999999h""#,
                ],
            ),
        ];
        for (windows, want) in cases {
            let windows: Vec<_> = windows
                .iter()
                .map(|(tz, cron, d)| window(tz, cron, d))
                .collect();
            assert_eq!(webhook_errors(&windows), *want, "{windows:?}");
            let got = apply_windows(
                ts("2026-05-03T00:00:00Z"),
                ts("2026-06-03T00:00:00Z"),
                ts("2026-05-23T00:00:00Z"),
                &windows,
            );
            if want.is_empty() {
                assert!(got.is_ok(), "{windows:?}: {got:?}");
            } else {
                let err = got.unwrap_err();
                let joined = if want.len() == 1 {
                    want[0].to_string()
                } else {
                    format!("[{}]", want.join(", "))
                };
                assert_eq!(err.to_string(), joined);
            }
        }
    }

    /// Errors of `RenewalTime` itself for windows the webhook lets through.
    #[test]
    fn renewal_time_errors_for_windows_the_webhook_accepts() {
        let (nb, na, desired) = (
            ts("2026-05-03T00:00:00Z"),
            ts("2026-06-03T00:00:00Z"),
            ts("2026-05-23T00:00:00Z"),
        );
        let err = |w: CertificateRenewalWindow| apply_windows(nb, na, desired, &[w]).unwrap_err();
        assert_eq!(
            err(window("America/Denver", "0 10 * * *", "0s")),
            WindowsError::Window(
                "windowDuration must be a positive duration in window {America/Denver 0s 0 10 * * *}"
                    .into()
            )
        );
        // The webhook parses the cron without a prefix when no timezone is set, the
        // renewal with `CRON_TZ=UTC` in front: a `TZ=` in the cron is then a sixth field.
        assert_eq!(
            err(window("", "TZ=Europe/Paris 0 10 * * *", "1h")),
            WindowsError::Window(
                "error parsing cron in window failed to parse cron spec 'TZ=Europe/Paris 0 10 * * *': expected exactly 5 fields, found 6: [TZ=Europe/Paris 0 10 * * *]"
                    .into()
            )
        );
    }

    #[test]
    fn time_zones_resolve_as_go_loads_them() {
        for ok in [
            "",
            "UTC",
            "Local",
            "America/Denver",
            "Etc/UTC",
            "US/Mountain",
        ] {
            assert!(load_location(ok).is_ok(), "{ok}");
        }
        for (bad, want) in [
            ("america/denver", "unknown time zone america/denver"),
            ("utc", "unknown time zone utc"),
            ("Etc/Unknown", "unknown time zone Etc/Unknown"),
            ("Mars/Base", "unknown time zone Mars/Base"),
            ("../zoneinfo/UTC", "time: invalid location name"),
            ("/etc/localtime", "time: invalid location name"),
        ] {
            assert_eq!(load_location(bad).err().as_deref(), Some(want), "{bad}");
        }
    }

    /// Go's `time.Date` picks, for a local time in a gap, the offset after the
    /// transition applied to the wall clock (Denver 02:30 -> 01:30 MST), and for
    /// a fold the offset in force at `local - offset(local as UTC)`.
    #[test]
    fn local_times_become_instants_as_go_date_makes_them() {
        let denver = load_location("America/Denver").unwrap();
        let berlin = load_location("Europe/Berlin").unwrap();
        let at =
            |loc: &Location, y, mo, d, h, mi| to_timestamp(go_date(loc, y, mo, d, h, mi, 0, 0));
        // Gap: 2026-03-08 02:00 MST -> 03:00 MDT.
        assert_eq!(at(&denver, 2026, 3, 8, 2, 30), ts("2026-03-08T08:30:00Z"));
        // Fold: 2026-11-01 02:00 MDT -> 01:00 MST; the first 01:30 (MDT).
        assert_eq!(at(&denver, 2026, 11, 1, 1, 30), ts("2026-11-01T07:30:00Z"));
        // Berlin (east of UTC): the gap moves forward, the fold takes the second.
        assert_eq!(at(&berlin, 2026, 3, 29, 2, 30), ts("2026-03-29T01:30:00Z"));
        assert_eq!(at(&berlin, 2026, 10, 25, 2, 30), ts("2026-10-25T01:30:00Z"));
        // Out-of-range fields roll over.
        assert_eq!(
            at(&Location::Utc, 2026, 13, 32, 24, 60),
            ts("2027-02-02T01:00:00Z")
        );
        assert_eq!(
            at(&Location::Utc, 2026, 0, 0, 0, 0),
            ts("2025-11-30T00:00:00Z")
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_468, -1, 0, 1, 11_016, 47_481, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(
            civil(&Location::Utc, 0).weekday,
            4,
            "1970-01-01 was a Thursday"
        );
        assert_eq!(civil(&Location::Utc, GO_ZERO).year, 1);
    }

    #[test]
    fn go_atoi_edges() {
        assert_eq!(go_atoi("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(go_atoi("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            go_atoi("9223372036854775808"),
            Err(r#"strconv.Atoi: parsing "9223372036854775808": value out of range"#.into())
        );
        assert_eq!(go_atoi("+7"), Ok(7));
        assert_eq!(
            go_atoi("+"),
            Err(r#"strconv.Atoi: parsing "+": invalid syntax"#.into())
        );
        assert_eq!(
            go_atoi("1_000"),
            Err(r#"strconv.Atoi: parsing "1_000": invalid syntax"#.into())
        );
    }

    /// A schedule that never fires costs a bounded search, and gives no window.
    #[test]
    fn a_schedule_that_never_fires_ends() {
        for cron in [
            "0 0 30 2 *",
            "0 0 31 2,4,6,9,11 *",
            ", * * * *",
            "0 0 , * *",
            "0 0 * * ,",
        ] {
            let sched = cron_parse(cron, "America/Denver").unwrap();
            assert_eq!(sched.next_after(ts("2026-01-01T00:00:00Z")), None, "{cron}");
        }
        // Vixie OR: an empty day-of-month list with a day of week still fires.
        let sched = cron_parse("0 0 , * 1", "").unwrap();
        assert_eq!(
            sched.next_after(ts("2026-05-13T00:00:00Z")),
            Some(ts("2026-05-18T00:00:00Z"))
        );
    }
}
