//! Go-compatible formatting and parsing, where certgate must write or read what
//! cert-manager's Go code does byte for byte (Go's `time.Duration` strings, …).
//! Pure functions only; nothing here knows about Kubernetes objects.

use std::time::Duration;

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
}
