//! Time zones and Go's civil-time arithmetic (`time.LoadLocation`, `time.Date`,
//! `AddDate`, `Truncate`, `Sub`) on nanoseconds since the Unix epoch, as the Go code
//! of cert-manager's renewal windows computes them. Must not know about cron or
//! windows.

use super::*;

/// A location as Go's `time.LoadLocation` returns it.
#[derive(Debug, Clone)]
pub enum Location {
    /// `""`, `UTC`, and `Local` (to certgate, whose times are all UTC, as the
    /// certificate times cert-manager passes to a `time.Local` schedule are).
    Utc,
    /// An IANA zone.
    Zone(TimeZone),
}

impl Location {
    /// The UTC offset in seconds at an instant.
    pub(super) fn offset_at_second(&self, unix_seconds: i64) -> i64 {
        match self {
            Location::Utc => 0,
            Location::Zone(tz) => {
                let ts = Timestamp::from_second(unix_seconds).unwrap_or(if unix_seconds < 0 {
                    Timestamp::MIN
                } else {
                    Timestamp::MAX
                });
                i64::from(tz.to_offset(ts).seconds())
            }
        }
    }
}

/// Go's `time.LoadLocation`: `""` and `UTC` are UTC, `Local` the local zone, any
/// other name an IANA zone, looked up case-sensitively. The error is Go's message.
pub fn load_location(name: &str) -> Result<Location, String> {
    if name.is_empty() || name == "UTC" || name == "Local" {
        return Ok(Location::Utc);
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return Err("time: invalid location name".to_string());
    }
    let unknown = || format!("unknown time zone {name}");
    // jiff knows `Etc/Unknown` without a file; Go does not.
    if name == "Etc/Unknown" {
        return Err(unknown());
    }
    match jiff::tz::db().get(name) {
        // jiff finds names regardless of case; Go opens the file by its name.
        Ok(tz) if tz.iana_name() == Some(name) => Ok(Location::Zone(tz)),
        _ => Err(unknown()),
    }
}

/// The fields of a `time.Time` that robfig's `Next` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Civil {
    pub(super) year: i64,
    pub(super) month: i64,
    pub(super) day: i64,
    pub(super) hour: i64,
    pub(super) minute: i64,
    pub(super) second: i64,
    /// 0 = Sunday.
    pub(super) weekday: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).
pub(super) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
pub(super) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub(super) fn unix_seconds(t: Nanos) -> i64 {
    i64::try_from(t.div_euclid(SECOND)).unwrap_or(if t < 0 { i64::MIN } else { i64::MAX })
}

/// Go's `t.In(loc).Date()`, `Clock()` and `Weekday()`.
pub(super) fn civil(loc: &Location, t: Nanos) -> Civil {
    let secs = unix_seconds(t);
    let local = secs.saturating_add(loc.offset_at_second(secs));
    let days = local.div_euclid(86_400);
    let sod = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: sod / 60 % 60,
        second: sod % 60,
        weekday: (days + 4).rem_euclid(7),
    }
}

/// Go's `time.Date(year, month, day, hour, min, sec, nsec, loc)`: out-of-range
/// values roll over, and a local time in a gap or fold gets the offset Go picks:
/// the offset in force at `local - offset(local as if UTC)`.
#[allow(clippy::too_many_arguments)]
pub(super) fn go_date(
    loc: &Location,
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nsec: i64,
) -> Nanos {
    let m0 = month - 1;
    let year = year + m0.div_euclid(12);
    let month = m0.rem_euclid(12) + 1;
    let days = days_from_civil(year, month, 1) + (day - 1);
    let local = i128::from(days) * 86_400
        + i128::from(hour) * 3600
        + i128::from(min) * 60
        + i128::from(sec)
        + i128::from(nsec.div_euclid(1_000_000_000));
    let local_s = i64::try_from(local).unwrap_or(if local < 0 { i64::MIN } else { i64::MAX });
    let first = loc.offset_at_second(local_s);
    let offset = loc.offset_at_second(local_s.saturating_sub(first));
    (local - i128::from(offset)) * SECOND + i128::from(nsec.rem_euclid(1_000_000_000))
}

/// Go's `t.AddDate(years, months, days)` in `loc`.
pub(super) fn add_date(loc: &Location, t: Nanos, years: i64, months: i64, days: i64) -> Nanos {
    let c = civil(loc, t);
    let nsec = i64::try_from(t.rem_euclid(SECOND)).unwrap_or(0);
    go_date(
        loc,
        c.year + years,
        c.month + months,
        c.day + days,
        c.hour,
        c.minute,
        c.second,
        nsec,
    )
}

/// Go's `t.Truncate(d)` for a whole number of seconds dividing a day.
pub(super) fn truncate(t: Nanos, d: Nanos) -> Nanos {
    t - t.rem_euclid(d)
}

/// Go's `a.Sub(b)`: saturates at the range of `time.Duration`.
pub(super) fn go_sub(a: Nanos, b: Nanos) -> Nanos {
    (a - b).clamp(Nanos::from(i64::MIN), Nanos::from(i64::MAX))
}
