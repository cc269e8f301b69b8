//! Literal subjects (`spec.literalSubject`): the RFC 4514 string parsed once, as
//! cert-manager's `UnmarshalSubjectStringToRDNSequence` (go-ldap's `ParseDN`) reads
//! it, into RDNs in DER order. [`crate::pki::csr`] encodes them into a request's
//! Name and [`crate::pki::matching`] compares them with a certificate's subject.
//! Pure; must not encode DER or know about Certificates.
//!
//! Read: RDNs separated by `,` or `;`, attributes of one RDN by `+`; each attribute
//! `type=value` with `type` one of cert-manager's names (`CN`, `C`, `O`, `OU`, `L`,
//! `ST`, `STREET`, `POSTALCODE`, `SERIALNUMBER`, `DC`, `UID`, `E`/`EMAILADDRESS`,
//! any case) or a dotted OID; values with `\,`-style and `\XX` hex escapes, spaces
//! around them dropped, or `#` and the hex of one BER element.

use crate::pki::oids;

/// A value as written: text, or a BER element given in hex (`#0c03616263`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiteralValue {
    Text(String),
    Ber(Vec<u8>),
}

/// One `type=value` of a literal subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralAttribute {
    /// The attribute type's OID arcs.
    pub oid: Vec<u64>,
    pub value: LiteralValue,
}

/// Why a literal subject cannot be read. The unknown-type wording is cert-manager's
/// (its webhook's), the others go-ldap's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("Literal subject contains unrecognized key with value [{0}]")]
    UnknownType(String),
    #[error("{0}")]
    Syntax(String),
}

fn syntax(m: &str) -> SubjectError {
    SubjectError::Syntax(m.to_string())
}

/// The OID of an attribute type name cert-manager accepts, or of a dotted OID.
pub fn attribute_oid(name: &str) -> Option<Vec<u64>> {
    let named: Option<&[u64]> = match name.to_ascii_uppercase().as_str() {
        "CN" => Some(oids::AT_COMMON_NAME),
        "C" => Some(oids::AT_COUNTRY),
        "O" => Some(oids::AT_ORGANIZATION),
        "OU" => Some(oids::AT_ORGANIZATIONAL_UNIT),
        "L" => Some(oids::AT_LOCALITY),
        "ST" => Some(oids::AT_PROVINCE),
        "STREET" => Some(oids::AT_STREET_ADDRESS),
        "POSTALCODE" => Some(oids::AT_POSTAL_CODE),
        "SERIALNUMBER" => Some(oids::AT_SERIAL_NUMBER),
        "DC" => Some(oids::AT_DOMAIN_COMPONENT),
        "UID" => Some(oids::AT_UID),
        "E" | "EMAILADDRESS" => Some(oids::AT_EMAIL_ADDRESS),
        _ => None,
    };
    if let Some(oid) = named {
        return Some(oid.to_vec());
    }
    let arcs: Option<Vec<u64>> = name.split('.').map(|p| p.parse().ok()).collect();
    arcs.filter(|a| a.len() >= 2 && name.as_bytes()[0].is_ascii_digit())
}

/// The dotted form of `oid` (`2.5.4.3`).
pub fn dotted(oid: &[u64]) -> String {
    oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// Parses `literal` into RDNs in DER order: the string lists the most specific RDN
/// first, the Name last. Attributes keep the order they are written in.
pub fn parse_literal_subject(literal: &str) -> Result<Vec<Vec<LiteralAttribute>>, SubjectError> {
    let mut rdns = Vec::new();
    for rdn in split_unescaped(literal, b",;") {
        let mut attributes = Vec::new();
        for atv in split_unescaped(&rdn, b"+") {
            let Some(eq) = atv.find('=') else {
                return Err(syntax("incomplete type, value pair"));
            };
            let (name, raw_value) = (atv[..eq].trim(), &atv[eq + 1..]);
            if name.is_empty() {
                return Err(syntax("incomplete type, value pair"));
            }
            let value = read_value(raw_value)?;
            let Some(oid) = attribute_oid(name) else {
                let shown = match &value {
                    LiteralValue::Text(t) => t.clone(),
                    LiteralValue::Ber(_) => raw_value.trim().to_string(),
                };
                return Err(SubjectError::UnknownType(shown));
            };
            attributes.push(LiteralAttribute { oid, value });
        }
        if attributes.is_empty() {
            return Err(syntax("empty RDN"));
        }
        rdns.push(attributes);
    }
    rdns.reverse();
    Ok(rdns)
}

fn read_value(raw: &str) -> Result<LiteralValue, SubjectError> {
    let value = raw.trim_start();
    if let Some(hex) = value.strip_prefix('#') {
        let bytes = decode_hex(hex.trim_end()).ok_or_else(|| syntax("invalid hex value"))?;
        return match crate::pki::der::read(&bytes) {
            Some((_, [])) => Ok(LiteralValue::Ber(bytes)),
            _ => Err(syntax("hex value is not one BER element")),
        };
    }
    unescape_value(value)
        .map(LiteralValue::Text)
        .ok_or_else(|| syntax("got corrupted escaped character"))
}

/// Splits at unescaped bytes of `seps`, keeping escapes for later.
fn split_unescaped(s: &str, seps: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut escaped = false;
    for &b in s.as_bytes() {
        if escaped {
            current.push(b);
            escaped = false;
        } else if b == b'\\' {
            current.push(b);
            escaped = true;
        } else if seps.contains(&b) {
            out.push(String::from_utf8_lossy(&current).into_owned());
            current.clear();
        } else {
            current.push(b);
        }
    }
    if !current.is_empty() || !out.is_empty() {
        out.push(String::from_utf8_lossy(&current).into_owned());
    }
    out
}

/// Resolves RFC 4514 escapes and trims unescaped trailing spaces; `None` for a
/// dangling or broken escape or bytes that are not UTF-8.
fn unescape_value(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut last_significant = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let next = *bytes.get(i + 1)?;
            if next.is_ascii_hexdigit() {
                let pair = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(pair, 16).ok()?);
                i += 3;
            } else {
                out.push(next);
                i += 2;
            }
            last_significant = out.len();
        } else {
            out.push(bytes[i]);
            if bytes[i] != b' ' {
                last_significant = out.len();
            }
            i += 1;
        }
    }
    out.truncate(last_significant);
    String::from_utf8(out).ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn text(oid: &[u64], v: &str) -> LiteralAttribute {
        LiteralAttribute {
            oid: oid.to_vec(),
            value: LiteralValue::Text(v.into()),
        }
    }

    #[test]
    fn rdns_come_out_in_der_order_with_escapes_resolved() {
        let got = parse_literal_subject("CN=a\\,b + O=x,C=DE;DC=example").unwrap();
        assert_eq!(
            got,
            vec![
                vec![text(oids::AT_DOMAIN_COMPONENT, "example")],
                vec![text(oids::AT_COUNTRY, "DE")],
                vec![
                    text(oids::AT_COMMON_NAME, "a,b"),
                    text(oids::AT_ORGANIZATION, "x")
                ],
            ]
        );
        assert_eq!(
            parse_literal_subject("1.2.3.4=\\41").unwrap(),
            vec![vec![text(&[1, 2, 3, 4], "A")]]
        );
        assert_eq!(
            parse_literal_subject("CN=\\c3\\a9t\\c3\\a9 ").unwrap(),
            vec![vec![text(oids::AT_COMMON_NAME, "été")]]
        );
        assert_eq!(
            parse_literal_subject("CN=#0c03616263").unwrap(),
            vec![vec![LiteralAttribute {
                oid: oids::AT_COMMON_NAME.to_vec(),
                value: LiteralValue::Ber(vec![0x0c, 3, b'a', b'b', b'c'])
            }]]
        );
    }

    #[test]
    fn bad_subjects_are_refused_with_their_reason() {
        assert_eq!(
            parse_literal_subject("C=O,B=TX,CN=foo")
                .unwrap_err()
                .to_string(),
            "Literal subject contains unrecognized key with value [TX]"
        );
        assert!(parse_literal_subject("CN=a\\").is_err());
        assert_eq!(
            parse_literal_subject("novalue").unwrap_err().to_string(),
            "incomplete type, value pair"
        );
        assert!(parse_literal_subject("CN=#0c05ab").is_err());
        assert!(parse_literal_subject("CN=a,,O=b").is_err());
    }
}
