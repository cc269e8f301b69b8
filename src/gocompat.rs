//! Go-compatible formatting and parsing, where certgate must write or read what
//! cert-manager's Go code does byte for byte: `time.ParseDuration` and
//! `Duration.String()`, `strconv.Quote`, `ParseBool`, `ParseInt`, `encoding/csv`
//! (cert-manager's `SplitWithEscapeCSV`), `%v` of a string slice, `time.Time.String()`
//! and RFC 1123. Pure functions only; nothing here knows about Kubernetes objects.

use std::time::Duration;

use jiff::Timestamp;

/// Go's `time.Duration.String()` (how cert-manager writes `metav1.Duration`).
pub fn go_duration_string(d: Duration) -> String {
    let Ok(mut u) = u64::try_from(d.as_nanos()) else {
        return format!("{}h", d.as_secs() / 3600);
    };
    // Digits of the fraction of `v / 10^prec`, trailing zeros dropped.
    fn frac(out: &mut Vec<char>, v: u64, prec: u32) -> u64 {
        let mut v = v;
        let mut print = false;
        for _ in 0..prec {
            let digit = v % 10;
            print = print || digit != 0;
            if print {
                out.push(char::from(b'0' + digit as u8));
            }
            v /= 10;
        }
        if print {
            out.push('.');
        }
        v
    }
    fn int(out: &mut Vec<char>, v: u64) {
        out.extend(v.to_string().chars().rev());
    }
    // Built backwards, like Go.
    let mut out: Vec<char> = Vec::new();
    if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0 => return "0s".to_string(),
            1..1_000 => ("sn", 0),
            1_000..1_000_000 => ("sµ", 3),
            _ => ("sm", 6),
        };
        out.extend(unit.chars());
        u = frac(&mut out, u, prec);
        int(&mut out, u);
    } else {
        out.push('s');
        u = frac(&mut out, u, 9);
        int(&mut out, u % 60);
        u /= 60;
        if u > 0 {
            out.push('m');
            int(&mut out, u % 60);
            u /= 60;
            if u > 0 {
                out.push('h');
                int(&mut out, u);
            }
        }
    }
    out.iter().rev().collect()
}

/// Errors of [`parse_go_duration`]; the messages are Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Syntax error or overflow.
    #[error("time: invalid duration {}", go_quote(.0))]
    Invalid(String),
    /// A number without a unit (other than a bare `0`).
    #[error("time: missing unit in duration {}", go_quote(.0))]
    MissingUnit(String),
    /// A unit Go does not know.
    #[error("time: unknown unit {} in duration {}", go_quote(.unit), go_quote(.input))]
    UnknownUnit { unit: String, input: String },
    /// A negative duration: valid in Go, but not representable as `std::time::Duration`.
    #[error("negative duration {} is not allowed", go_quote(.0))]
    Negative(String),
}

/// Quotes a string the way Go's `strconv.Quote` does for the common cases.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let v = c as u32;
                if v <= 0xffff {
                    out.push_str(&format!("\\u{v:04x}"));
                } else {
                    out.push_str(&format!("\\U{v:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses a duration string as Go's `time.ParseDuration` does (`2160h`,
/// `1h30m`, `1.5h`, `300ms`, `10µs`, `0`). Negative durations are rejected
/// since `std::time::Duration` cannot hold them (`-0` is accepted as zero).
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let nanos = parse_go_duration_nanos(input)?;
    if nanos < 0 {
        return Err(DurationError::Negative(input.to_string()));
    }
    Ok(Duration::from_nanos(nanos.unsigned_abs()))
}

/// Go's `time.ParseDuration`, returning signed nanoseconds (Go's `time.Duration`).
pub fn parse_go_duration_nanos(input: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid(input.to_string());
    let mut s = input;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    // Accumulated in u64 like Go, bounded by 1<<63.
    let mut total: u64 = 0;
    const LIMIT: u64 = 1 << 63;
    while !s.is_empty() {
        // The next character must be [0-9.].
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let pre = int_len > 0;
        let mut v: u64 = 0;
        for b in s[..int_len].bytes() {
            if v > (LIMIT - 1) / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(b - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        s = &s[int_len..];
        // Fraction.
        let mut f: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if let Some(rest) = s.strip_prefix('.') {
            s = rest;
            let frac_len = s.bytes().take_while(u8::is_ascii_digit).count();
            post = frac_len > 0;
            let mut overflow = false;
            for b in s[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                if f > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(b - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            s = &s[frac_len..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit.
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(input.to_string()));
        }
        let unit_str = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u64 = match unit_str {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            _ => {
                return Err(DurationError::UnknownUnit {
                    unit: unit_str.to_string(),
                    input: input.to_string(),
                });
            }
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            // Go: v += uint64(float64(f) * (float64(unit) / scale))
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let add = (f as f64 * (unit as f64 / scale)) as u64;
            v = v.checked_add(add).ok_or_else(invalid)?;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        // -(1<<63) is representable.
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `strconv.ParseBool` where cert-manager ignores the error: `false` unless
/// `v` is one of Go's true spellings.
pub fn go_parse_bool(v: &str) -> bool {
    go_bool(v).unwrap_or(false)
}

/// Go's `strconv.ParseBool`.
pub fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            go_quote(s)
        )),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal, `0x` hex, `0o`
/// or `0` octal, or `0b` binary, with `_` between digits.
pub fn go_int_i64(s: &str) -> Result<i64, String> {
    let invalid = || format!("strconv.ParseInt: parsing {s:?}: invalid syntax");
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    let digits = digits.trim_start_matches('_');
    if digits.is_empty()
        || digits.ends_with('_')
        || digits.contains("__")
        || (radix == 10 && body.starts_with('_'))
    {
        return Err(invalid());
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let magnitude = i128::from_str_radix(&clean, radix).map_err(|_| invalid())?;
    let value = if neg { -magnitude } else { magnitude };
    i64::try_from(value).map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// A Go integer that fits `T` (a `pflag` int flag bound to a narrower type).
pub fn go_int<T: TryFrom<i64>>(s: &str) -> Result<T, String> {
    let v = go_int_i64(s)?;
    T::try_from(v).map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// Go's `strconv.ParseFloat`.
pub fn go_float(s: &str) -> Result<f64, String> {
    s.replace('_', "")
        .parse::<f64>()
        .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
}

/// A Go duration (`time.ParseDuration`) that is not negative.
pub fn go_duration(s: &str) -> Result<Duration, String> {
    parse_go_duration(s).map_err(|e| e.to_string())
}

/// Go's `strconv.ParseInt(v, 10, _)` / `strconv.Atoi(v)` with their messages.
pub fn go_parse_int(v: &str, func: &str, min: i64, max: i64) -> Result<i64, String> {
    use std::num::IntErrorKind;
    match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(format!(
            "{func}: parsing {}: value out of range",
            go_quote(v)
        )),
        Err(e) => match e.kind() {
            IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => Err(format!(
                "{func}: parsing {}: value out of range",
                go_quote(v)
            )),
            _ => Err(format!("{func}: parsing {}: invalid syntax", go_quote(v))),
        },
    }
}

/// cert-manager's `SplitWithEscapeCSV`: one record of Go's `encoding/csv`.
pub fn split_with_escape_csv(input: &str) -> Result<Vec<String>, String> {
    let records = go_csv_read_all(input)
        .map_err(|e| format!("failed to parse {} as CSV: {e}", go_quote(input)))?;
    match records.len() {
        0 => Err(format!("no values found after parsing {}", go_quote(input))),
        1 => Ok(records.into_iter().next().unwrap_or_default()),
        _ => Err(format!(
            "refusing to use {} as input as it parses as multiple lines of CSV",
            go_quote(input)
        )),
    }
}

/// Go's `csv.NewReader(r).ReadAll()` with the default settings (comma `,`,
/// no comments, strict quotes, fields per record fixed by the first record).
pub fn go_csv_read_all(input: &str) -> Result<Vec<Vec<String>>, String> {
    let normalized = input.replace("\r\n", "\n");
    let chars: Vec<char> = normalized.chars().collect();
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        // Skip empty lines.
        if chars[i] == '\n' {
            i += 1;
            line += 1;
            continue;
        }
        let mut record = Vec::new();
        let mut line_start = i;
        loop {
            let mut field = String::new();
            if chars.get(i) == Some(&'"') {
                let quote_line = line;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            let at = if quote_line == line {
                                String::new()
                            } else {
                                format!("record on line {quote_line}; ")
                            };
                            return Err(format!(
                                "{at}parse error on line {line}, column {}: extraneous or missing \" in quoted-field",
                                i + 1 - line_start
                            ));
                        }
                        Some('"') => match chars.get(i + 1) {
                            Some('"') => {
                                field.push('"');
                                i += 2;
                            }
                            Some(',') | Some('\n') | None => {
                                i += 1;
                                break;
                            }
                            Some(_) => {
                                return Err(format!(
                                    "parse error on line {line}, column {}: extraneous or missing \" in quoted-field",
                                    i + 2 - line_start
                                ));
                            }
                        },
                        Some('\n') => {
                            field.push('\n');
                            i += 1;
                            line += 1;
                            line_start = i;
                        }
                        Some(c) => {
                            field.push(*c);
                            i += 1;
                        }
                    }
                }
            } else {
                while let Some(&c) = chars.get(i) {
                    if c == ',' || c == '\n' {
                        break;
                    }
                    if c == '"' {
                        return Err(format!(
                            "parse error on line {line}, column {}: bare \" in non-quoted field",
                            i + 1 - line_start
                        ));
                    }
                    field.push(c);
                    i += 1;
                }
            }
            record.push(field);
            match chars.get(i) {
                Some(',') => i += 1,
                Some('\n') => {
                    i += 1;
                    line += 1;
                    break;
                }
                _ => break,
            }
        }
        if let Some(first) = records.first()
            && first.len() != record.len()
        {
            return Err(format!("record on line {line}: wrong number of fields"));
        }
        records.push(record);
    }
    Ok(records)
}

/// Go's `%v` of a `[]string`: `[a b c]`.
pub fn go_list<S: AsRef<str>>(v: &[S]) -> String {
    format!(
        "[{}]",
        v.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ")
    )
}

/// Go's `time.Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub fn go_time_string(t: Timestamp) -> String {
    let base = t.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.subsec_nanosecond();
    let frac = if nanos == 0 {
        String::new()
    } else {
        let s = format!(".{:09}", nanos.unsigned_abs());
        s.trim_end_matches('0').to_string()
    };
    format!("{base}{frac} +0000 UTC")
}

/// Go's `time.RFC1123` in UTC: `Mon, 02 Jan 2006 15:04:05 UTC`.
pub fn rfc1123(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// 32-bit FNV-1 (what Go's `hash/fnv.New32` computes).
pub fn fnv32(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h = h.wrapping_mul(0x0100_0193);
        h ^= u32::from(*b);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(61_500), "1m1.5s"),
            (Duration::from_secs(2160 * 3600), "2160h0m0s"),
        ] {
            assert_eq!(go_duration_string(d), want);
        }
    }

    #[test]
    fn go_bools() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(go_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(go_bool(f), Ok(false), "{f}");
        }
        assert_eq!(
            go_bool("yes"),
            Err("strconv.ParseBool: parsing \"yes\": invalid syntax".into())
        );
    }

    #[test]
    fn go_ints() {
        assert_eq!(go_int_i64("42"), Ok(42));
        assert_eq!(go_int_i64("-7"), Ok(-7));
        assert_eq!(go_int_i64("0x10"), Ok(16));
        assert_eq!(go_int_i64("010"), Ok(8));
        assert_eq!(go_int_i64("0b11"), Ok(3));
        assert_eq!(go_int_i64("1_000"), Ok(1000));
        assert_eq!(go_int_i64("0"), Ok(0));
        for bad in ["", "1.5", "ten", "_1", "1_", "0x", "1__0"] {
            assert!(go_int_i64(bad).is_err(), "{bad}");
        }
        assert!(go_int::<u16>("70000").is_err());
        assert_eq!(go_int::<usize>("60"), Ok(60));
    }
}
