//! The cron dialect of renewal windows: robfig/cron v3 as vendored in cert-manager's
//! `internal/cron` (five fields, names, descriptors, `@every`, `CRON_TZ=`), parsed
//! and searched forward within the 9-year horizon. Must not know about windows.

use super::go_time::*;
use super::*;

/// A parsed cron schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A crontab spec or a named descriptor (`@daily`...).
    Spec(SpecSchedule),
    /// `@every <duration>`: the delay in whole seconds (at least one), as nanoseconds.
    Every(Nanos),
}

/// A crontab spec as bit sets (robfig's `SpecSchedule`).
#[derive(Debug, Clone)]
pub struct SpecSchedule {
    second: u64,
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    location: Location,
}

pub(super) struct Bounds {
    min: u64,
    max: u64,
    names: &'static [(&'static str, u64)],
}

pub(super) const SECONDS: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
pub(super) const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
pub(super) const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
pub(super) const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
pub(super) const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
pub(super) const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// `util.CronParse`: the cron, prefixed with `CRON_TZ=<time_zone> ` when a time
/// zone is given. The error is cert-manager's message.
pub fn cron_parse(cron: &str, time_zone: &str) -> Result<Schedule, String> {
    let spec = if time_zone.is_empty() {
        cron.to_string()
    } else {
        format!("CRON_TZ={time_zone} {cron}")
    };
    parse(&spec).map_err(|e| format!("failed to parse cron spec '{cron}': {e}"))
}

/// robfig's `Parser.Parse` with `Minute | Hour | Dom | Month | Dow | Descriptor`.
pub fn parse(spec: &str) -> Result<Schedule, String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec;
    let mut location = Location::Utc;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let Some(i) = spec.find(' ') else {
            return Err(format!(
                "expected timezone prefix to be followed by a cron spec: {spec}"
            ));
        };
        let eq = spec.find('=').unwrap_or(0);
        let name = &spec[eq + 1..i];
        location = load_location(name).map_err(|e| format!("provided bad location {name}: {e}"))?;
        spec = spec[i..].trim();
    }
    if spec.starts_with('@') {
        return parse_descriptor(spec, location);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: {}",
            fields.len(),
            go_list(&fields)
        ));
    }
    Ok(Schedule::Spec(SpecSchedule {
        second: get_field("0", &SECONDS)?,
        minute: get_field(fields[0], &MINUTES)?,
        hour: get_field(fields[1], &HOURS)?,
        dom: get_field(fields[2], &DOM)?,
        month: get_field(fields[3], &MONTHS)?,
        dow: get_field(fields[4], &DOW)?,
        location,
    }))
}

/// A comma-separated list of ranges (empty items are skipped).
pub(super) fn get_field(field: &str, r: &Bounds) -> Result<u64, String> {
    let mut bits = 0;
    for expr in field.split(',').filter(|e| !e.is_empty()) {
        bits |= get_range(expr, r)?;
    }
    Ok(bits)
}

/// `number | number "-" number [ "/" number ]`, `*` or `?`.
pub(super) fn get_range(expr: &str, r: &Bounds) -> Result<u64, String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single_digit = low_and_high.len() == 1;
    let (start, mut end, mut extra);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        start = r.min;
        end = r.max;
        extra = STAR_BIT;
    } else {
        start = parse_int_or_name(low_and_high[0], r.names)?;
        end = match low_and_high.len() {
            1 => start,
            2 => parse_int_or_name(low_and_high[1], r.names)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        extra = 0;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            if single_digit {
                end = r.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < r.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            r.min
        ));
    }
    if end > r.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            r.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(get_bits(start, end, step) | extra)
}

pub(super) fn parse_int_or_name(expr: &str, names: &[(&str, u64)]) -> Result<u64, String> {
    let lower = expr.to_lowercase();
    if let Some((_, v)) = names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    must_parse_int(expr)
}

pub(super) fn must_parse_int(expr: &str) -> Result<u64, String> {
    let num = go_atoi(expr).map_err(|e| format!("failed to parse int from {expr}: {e}"))?;
    u64::try_from(num).map_err(|_| format!("negative number ({num}) not allowed: {expr}"))
}

/// Go's `strconv.Atoi` on a 64-bit platform, with its error messages.
pub(super) fn go_atoi(s: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(s));
    let range = || format!("strconv.Atoi: parsing {}: value out of range", go_quote(s));
    let bytes = s.as_bytes();
    let (neg, digits) = match bytes.first() {
        Some(b'+') => (false, &bytes[1..]),
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return Err(syntax());
    }
    let mut n: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(syntax());
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(c - b'0')))
            .ok_or_else(range)?;
    }
    if neg {
        if n > 1 << 63 {
            return Err(range());
        }
        Ok((n as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(n).map_err(|_| range())
    }
}

/// The bits `min..=max` stepping by `step`.
pub(super) fn get_bits(min: u64, max: u64, step: u64) -> u64 {
    let mut bits = 0;
    let mut i = min;
    while i <= max {
        bits |= 1 << i;
        match i.checked_add(step) {
            Some(n) => i = n,
            None => break,
        }
    }
    bits
}

pub(super) fn all(r: &Bounds) -> u64 {
    get_bits(r.min, r.max, 1) | STAR_BIT
}

pub(super) fn parse_descriptor(descriptor: &str, location: Location) -> Result<Schedule, String> {
    let first = |r: &Bounds| 1u64 << r.min;
    let spec = |hour, dom, month, dow| {
        Ok(Schedule::Spec(SpecSchedule {
            second: first(&SECONDS),
            minute: first(&MINUTES),
            hour,
            dom,
            month,
            dow,
            location: location.clone(),
        }))
    };
    match descriptor {
        "@yearly" | "@annually" => spec(first(&HOURS), first(&DOM), first(&MONTHS), all(&DOW)),
        "@monthly" => spec(first(&HOURS), first(&DOM), all(&MONTHS), all(&DOW)),
        "@weekly" => spec(first(&HOURS), all(&DOM), all(&MONTHS), first(&DOW)),
        "@daily" | "@midnight" => spec(first(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
        "@hourly" => spec(all(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
        _ => {
            if let Some(d) = descriptor.strip_prefix("@every ") {
                let d = crate::gocompat::parse_go_duration_nanos(d)
                    .map_err(|e| format!("failed to parse duration {descriptor}: {e}"))?;
                let d = Nanos::from(d).max(SECOND);
                Ok(Schedule::Every(d - d % SECOND))
            } else {
                Err(format!("unrecognized descriptor: {descriptor}"))
            }
        }
    }
}

impl Schedule {
    /// The next activation strictly after `t` (whole seconds), or Go's zero time
    /// when none comes within 9 years.
    pub(super) fn next(&self, t: Nanos) -> Nanos {
        match self {
            Schedule::Every(delay) => t + delay - t.rem_euclid(SECOND),
            Schedule::Spec(s) => s.next(t),
        }
    }

    /// The next activation strictly after `t`, if one comes within 9 years
    /// (robfig's horizon).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let n = self.next(t.as_nanosecond());
        (n != GO_ZERO).then(|| to_timestamp(n))
    }
}

impl SpecSchedule {
    pub(super) fn day_matches(&self, c: &Civil) -> bool {
        let dom_match = (1u64 << c.day) & self.dom > 0;
        let dow_match = (1u64 << c.weekday) & self.dow > 0;
        if self.dom & STAR_BIT > 0 || self.dow & STAR_BIT > 0 {
            dom_match && dow_match
        } else {
            dom_match || dow_match
        }
    }

    /// Whether some field can never match (an empty list such as `,`): then
    /// `next` would search its whole horizon and return zero; it returns at once.
    pub(super) fn never_matches(&self) -> bool {
        let bits = |b: u64| b & !STAR_BIT;
        let (dom, dow) = (bits(self.dom), bits(self.dow));
        let star = (self.dom | self.dow) & STAR_BIT > 0;
        bits(self.second) == 0
            || bits(self.minute) == 0
            || bits(self.hour) == 0
            || bits(self.month) == 0
            || (dom == 0 && dow == 0)
            || (star && (dom == 0 || dow == 0))
    }

    /// robfig's `SpecSchedule.Next`, step by step in the schedule's location.
    pub(super) fn next(&self, t: Nanos) -> Nanos {
        if self.never_matches() {
            return GO_ZERO;
        }
        let loc = &self.location;
        let bit = |v: i64| 1u64 << v;
        // The upcoming whole second.
        let mut t = t + SECOND - t.rem_euclid(SECOND);
        let mut added = false;
        let year_limit = civil(loc, t).year + SEARCH_LIMIT_YEARS;
        let mut steps = 0u32;
        let mut step = || {
            steps += 1;
            steps <= NEXT_STEP_CAP
        };
        'wrap: loop {
            if civil(loc, t).year > year_limit || !step() {
                return GO_ZERO;
            }
            while bit(civil(loc, t).month) & self.month == 0 {
                if !step() {
                    return GO_ZERO;
                }
                if !added {
                    added = true;
                    let c = civil(loc, t);
                    t = go_date(loc, c.year, c.month, 1, 0, 0, 0, 0);
                }
                t = add_date(loc, t, 0, 1, 0);
                if civil(loc, t).month == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(&civil(loc, t)) {
                if !step() {
                    return GO_ZERO;
                }
                if !added {
                    added = true;
                    let c = civil(loc, t);
                    t = go_date(loc, c.year, c.month, c.day, 0, 0, 0, 0);
                }
                t = add_date(loc, t, 0, 0, 1);
                // Midnight may not exist (DST): back to it, or on to the next.
                let h = civil(loc, t).hour;
                if h != 0 {
                    if h > 12 {
                        t += Nanos::from(24 - h) * HOUR;
                    } else {
                        t -= Nanos::from(h) * HOUR;
                    }
                }
                if civil(loc, t).day == 1 {
                    continue 'wrap;
                }
            }
            while bit(civil(loc, t).hour) & self.hour == 0 {
                if !step() {
                    return GO_ZERO;
                }
                if !added {
                    added = true;
                    let c = civil(loc, t);
                    t = go_date(loc, c.year, c.month, c.day, c.hour, 0, 0, 0);
                }
                t += HOUR;
                if civil(loc, t).hour == 0 {
                    continue 'wrap;
                }
            }
            while bit(civil(loc, t).minute) & self.minute == 0 {
                if !step() {
                    return GO_ZERO;
                }
                if !added {
                    added = true;
                    t = truncate(t, MINUTE);
                }
                t += MINUTE;
                if civil(loc, t).minute == 0 {
                    continue 'wrap;
                }
            }
            while bit(civil(loc, t).second) & self.second == 0 {
                if !step() {
                    return GO_ZERO;
                }
                if !added {
                    added = true;
                    t = truncate(t, SECOND);
                }
                t += SECOND;
                if civil(loc, t).second == 0 {
                    continue 'wrap;
                }
            }
            return t;
        }
    }
}

pub(super) fn to_timestamp(n: Nanos) -> Timestamp {
    Timestamp::from_nanosecond(n).unwrap_or(if n < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}
