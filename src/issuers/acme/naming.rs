//! Deterministic names for the objects the ACME issuer creates (pure): an Order is
//! named from its CertificateRequest, a Challenge from its Order, as cert-manager
//! does, so a restarted controller finds what it made instead of making it again.

use serde::Serialize;

pub use crate::gocompat::fnv32;

/// Shortens `name` to at most `max` bytes, ending on an ASCII letter or digit.
pub fn dns_safe_shorten(name: &str, max: usize) -> String {
    if name.len() < max {
        return name.to_string();
    }
    let cut: String = name.chars().take(max).collect();
    cut.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// `<prefix shortened to 52>-<fnv32 of the JSON of obj>`: at most 63 characters.
pub fn compute_name<T: Serialize>(prefix: &str, obj: &T) -> String {
    let json = serde_json::to_vec(obj).unwrap_or_default();
    format!("{}-{}", dns_safe_shorten(prefix, 52), fnv32(&json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv32_matches_the_reference_vectors() {
        // FNV-1 32-bit test vectors (draft-eastlake-fnv).
        assert_eq!(fnv32(b""), 0x811c_9dc5);
        assert_eq!(fnv32(b"a"), 0x050c_5d7e);
        assert_eq!(fnv32(b"foobar"), 0x31f0_b262);
    }

    #[test]
    fn names_are_deterministic_short_and_dns_safe() {
        let a = compute_name(
            "my-cert-1",
            &serde_json::json!({"dnsNames": ["a.example.com"]}),
        );
        let b = compute_name(
            "my-cert-1",
            &serde_json::json!({"dnsNames": ["a.example.com"]}),
        );
        let c = compute_name(
            "my-cert-1",
            &serde_json::json!({"dnsNames": ["b.example.com"]}),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("my-cert-1-"), "{a}");
        let long = "x".repeat(50) + "--" + &"y".repeat(20);
        let n = compute_name(&long, &1);
        assert!(n.len() <= 63, "{n}");
        assert!(!n.contains("---"), "{n}");
        assert_eq!(dns_safe_shorten("abc", 52), "abc");
    }
}
