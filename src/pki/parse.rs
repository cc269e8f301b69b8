//! Reading what a Secret or a CertificateRequest holds, as cert-manager's
//! `pkg/util/pki/parse.go` does and with its error texts: PEM blocks, the first
//! certificate, and private keys (PKCS#1 RSA, SEC1 EC, PKCS#8 RSA/EC/Ed25519)
//! reduced to their type, size and public half ([`PrivateKeyInfo`]) so they can
//! be compared. The one private key decoder: [`crate::pki::key::PrivateKey`] takes
//! the private part from [`decode_private_key_der`]; nothing here formats it. Pure.

use base64::Engine as _;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Errors decoding a private key. Messages are cert-manager's and never
/// contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyDecodeError {
    #[error("error decoding private key PEM block")]
    NoPemBlock,
    #[error("error parsing pkcs#8 private key: {0}")]
    Pkcs8(&'static str),
    #[error("error parsing ecdsa private key: {0}")]
    Ec(&'static str),
    #[error("error parsing rsa private key: {0}")]
    Rsa(&'static str),
    #[error("x509: PKCS#8 wrapping contained private key with unknown algorithm: {0}")]
    UnknownPkcs8Algorithm(String),
    #[error("unknown private key type: {0}")]
    UnknownType(String),
}

/// Errors decoding a certificate or a certificate request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("error decoding certificate PEM block")]
    NoCertificatePem,
    #[error("error parsing TLS certificate: {0}")]
    Certificate(String),
    #[error("error decoding certificate request PEM block")]
    NoRequestPem,
    #[error("error parsing certificate request: {0}")]
    Request(String),
    #[error("literal subject: {0}")]
    LiteralSubject(String),
}

// ---------------------------------------------------------------------------
// PEM / DER / keys
// ---------------------------------------------------------------------------

/// Decodes every well-formed PEM block (label, DER) in order; malformed blocks
/// are skipped as Go's `pem.Decode` does.
pub(crate) fn pem_blocks(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        if label.contains('\n') {
            rest = after;
            continue;
        }
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_start.find(&end_marker) else {
            rest = body_start;
            continue;
        };
        let body = &body_start[..end];
        let b64: String = body
            .lines()
            .filter(|l| !l.contains(':'))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
            out.push((label.to_string(), der));
        }
        rest = &body_start[end + end_marker.len()..];
    }
    out
}

pub(crate) fn first_certificate_der(pem: &[u8]) -> Result<Vec<u8>, CertError> {
    pem_blocks(pem)
        .into_iter()
        .next()
        .map(|(_, der)| der)
        .ok_or(CertError::NoCertificatePem)
}

/// One DER TLV: (tag byte, content, rest). Single-byte tags only.
pub(crate) fn der_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let l0 = *b.get(1)?;
    let (len, hdr) = if l0 < 0x80 {
        (usize::from(l0), 2)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    Some((tag, b.get(hdr..end)?, b.get(end..)?))
}

pub(crate) fn strip_leading_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

pub(crate) fn bit_len(b: &[u8]) -> usize {
    let b = strip_leading_zeros(b);
    match b.first() {
        None => 0,
        Some(first) => (b.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Named elliptic curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcCurve {
    P224,
    P256,
    P384,
    P521,
}

impl EcCurve {
    fn from_oid_content(c: &[u8]) -> Option<Self> {
        match c {
            [0x2b, 0x81, 0x04, 0x00, 0x21] => Some(Self::P224),
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => Some(Self::P256),
            [0x2b, 0x81, 0x04, 0x00, 0x22] => Some(Self::P384),
            [0x2b, 0x81, 0x04, 0x00, 0x23] => Some(Self::P521),
            _ => None,
        }
    }

    /// The curve's bit size, as Go's `Curve.Params().BitSize`.
    pub fn bit_size(self) -> i32 {
        match self {
            Self::P224 => 224,
            Self::P256 => 256,
            Self::P384 => 384,
            Self::P521 => 521,
        }
    }
}

/// The algorithm and size of a private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa { bits: usize },
    Ecdsa { curve: EcCurve },
    Ed25519,
}

/// A public key, comparable across private keys, certificates and CSRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyData {
    /// Modulus and exponent, without leading zero bytes.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Curve and encoded point.
    Ec {
        curve: EcCurve,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
}

/// What is known of a private key: never the private material itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateKeyInfo {
    pub algorithm: KeyType,
    /// `None` if it could not be determined.
    pub public_key: Option<PublicKeyData>,
}

pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(crate) const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Decodes a PEM private key (PKCS#1 RSA, SEC1 EC, PKCS#8 RSA/EC/Ed25519) the
/// way cert-manager's `DecodePrivateKeyBytes` does, keeping only the
/// algorithm, size and public key.
pub fn parse_private_key_pem(pem: &[u8]) -> Result<PrivateKeyInfo, KeyDecodeError> {
    let (label, der) = pem_blocks(pem)
        .into_iter()
        .next()
        .ok_or(KeyDecodeError::NoPemBlock)?;
    let mut info = decode_private_key_der(&label, &der)?.info;
    if info.public_key.is_none() {
        info.public_key = derive_public_key(&der, info.algorithm);
    }
    Ok(info)
}

/// A private key as decoded: what is known of it, and its private part for
/// [`crate::pki::key`] to sign with (RSA: the PKCS#1 `RSAPrivateKey`; ECDSA: the
/// scalar, padded to the curve's size as Go pads it; Ed25519: the seed). The private
/// part is never formatted: no `Debug`, no error carries it.
pub(crate) struct DecodedKey {
    pub info: PrivateKeyInfo,
    pub private: Vec<u8>,
}

/// Decodes the DER of a PEM block labelled `label` (`RSA PRIVATE KEY` PKCS#1,
/// `EC PRIVATE KEY` SEC1, `PRIVATE KEY` PKCS#8 RSA/EC/Ed25519): the one private key
/// decoder of certgate, with cert-manager's error texts.
pub(crate) fn decode_private_key_der(
    label: &str,
    der: &[u8],
) -> Result<DecodedKey, KeyDecodeError> {
    match label {
        "PRIVATE KEY" => parse_pkcs8(der),
        "EC PRIVATE KEY" => parse_sec1(der, None).map_err(KeyDecodeError::Ec),
        "RSA PRIVATE KEY" => parse_pkcs1(der).map_err(KeyDecodeError::Rsa),
        other => Err(KeyDecodeError::UnknownType(other.to_string())),
    }
}

/// Derives the public key when the encoding does not carry it (SEC1 without
/// `publicKey`, PKCS#8 v1 Ed25519), through rcgen's crypto provider.
pub(crate) fn derive_public_key(der: &[u8], alg: KeyType) -> Option<PublicKeyData> {
    let kp = rcgen::KeyPair::try_from(der).ok()?;
    let raw = kp.public_key_raw().to_vec();
    match alg {
        KeyType::Ecdsa { curve } => Some(PublicKeyData::Ec { curve, point: raw }),
        KeyType::Ed25519 => Some(PublicKeyData::Ed25519(raw)),
        KeyType::Rsa { .. } => rsa_public_key(&raw).ok(),
    }
}

pub(crate) const MALFORMED: &str = "malformed DER";

pub(crate) fn parse_pkcs1(der: &[u8]) -> Result<DecodedKey, &'static str> {
    let (tag, seq, trailing) = der_tlv(der).ok_or(MALFORMED)?;
    if tag != 0x30 {
        return Err(MALFORMED);
    }
    let whole = &der[..der.len() - trailing.len()];
    let (t, _version, rest) = der_tlv(seq).ok_or(MALFORMED)?;
    if t != 0x02 {
        return Err(MALFORMED);
    }
    let (t, n, rest) = der_tlv(rest).ok_or(MALFORMED)?;
    if t != 0x02 {
        return Err(MALFORMED);
    }
    let (t, e, _) = der_tlv(rest).ok_or(MALFORMED)?;
    if t != 0x02 {
        return Err(MALFORMED);
    }
    Ok(DecodedKey {
        info: PrivateKeyInfo {
            algorithm: KeyType::Rsa { bits: bit_len(n) },
            public_key: Some(PublicKeyData::Rsa {
                n: strip_leading_zeros(n),
                e: strip_leading_zeros(e),
            }),
        },
        private: whole.to_vec(),
    })
}

pub(crate) fn parse_sec1(
    der: &[u8],
    curve_hint: Option<EcCurve>,
) -> Result<DecodedKey, &'static str> {
    let (tag, seq, _) = der_tlv(der).ok_or(MALFORMED)?;
    if tag != 0x30 {
        return Err(MALFORMED);
    }
    let (t, version, mut rest) = der_tlv(seq).ok_or(MALFORMED)?;
    if t != 0x02 {
        return Err(MALFORMED);
    }
    if version != [1] {
        return Err("x509: unknown EC private key version");
    }
    let (t, scalar, r) = der_tlv(rest).ok_or(MALFORMED)?;
    if t != 0x04 {
        return Err(MALFORMED);
    }
    rest = r;
    let mut curve = None;
    let mut point = None;
    while !rest.is_empty() {
        let (t, c, r) = der_tlv(rest).ok_or(MALFORMED)?;
        rest = r;
        match t {
            0xa0 => {
                let (t, oid, _) = der_tlv(c).ok_or(MALFORMED)?;
                if t == 0x06 {
                    curve = EcCurve::from_oid_content(oid);
                }
            }
            0xa1 => {
                let (t, bits, _) = der_tlv(c).ok_or(MALFORMED)?;
                if t == 0x03 && bits.first() == Some(&0) {
                    point = Some(bits[1..].to_vec());
                }
            }
            _ => {}
        }
    }
    // Go takes the curve of a PKCS#8 wrapper over the one inside.
    let curve = curve_hint.or(curve).ok_or("unknown elliptic curve")?;
    // Go strips zero padding beyond the curve's size and pads up to it.
    let size = (curve.bit_size() as usize).div_ceil(8);
    let mut scalar = scalar;
    while scalar.len() > size {
        if scalar.first() != Some(&0) {
            return Err("x509: invalid private key length");
        }
        scalar = &scalar[1..];
    }
    let mut private = vec![0u8; size - scalar.len()];
    private.extend_from_slice(scalar);
    Ok(DecodedKey {
        info: PrivateKeyInfo {
            algorithm: KeyType::Ecdsa { curve },
            public_key: point.map(|point| PublicKeyData::Ec { curve, point }),
        },
        private,
    })
}

pub(crate) fn parse_pkcs8(der: &[u8]) -> Result<DecodedKey, KeyDecodeError> {
    let m = KeyDecodeError::Pkcs8(MALFORMED);
    let (tag, seq, _) = der_tlv(der).ok_or(m.clone())?;
    if tag != 0x30 {
        return Err(m);
    }
    let (t, _version, rest) = der_tlv(seq).ok_or(m.clone())?;
    if t != 0x02 {
        return Err(m);
    }
    let (t, alg, rest) = der_tlv(rest).ok_or(m.clone())?;
    if t != 0x30 {
        return Err(m);
    }
    let (t, oid, params) = der_tlv(alg).ok_or(m.clone())?;
    if t != 0x06 {
        return Err(m);
    }
    let (t, key, mut rest) = der_tlv(rest).ok_or(m.clone())?;
    if t != 0x04 {
        return Err(m);
    }
    match oid {
        OID_RSA => parse_pkcs1(key).map_err(KeyDecodeError::Pkcs8),
        OID_EC => {
            let hint = der_tlv(params)
                .filter(|(t, _, _)| *t == 0x06)
                .and_then(|(_, c, _)| EcCurve::from_oid_content(c));
            if hint.is_none() {
                return Err(KeyDecodeError::Pkcs8("unknown elliptic curve"));
            }
            parse_sec1(key, hint).map_err(KeyDecodeError::Pkcs8)
        }
        OID_ED25519 => {
            let (t, seed, _) = der_tlv(key).ok_or(m.clone())?;
            if t != 0x04 || seed.len() != 32 {
                return Err(KeyDecodeError::Pkcs8("invalid Ed25519 private key"));
            }
            let mut public_key = None;
            while !rest.is_empty() {
                let (t, c, r) = der_tlv(rest).ok_or(m.clone())?;
                rest = r;
                if t == 0x81 && c.first() == Some(&0) && c.len() == 33 {
                    public_key = Some(PublicKeyData::Ed25519(c[1..].to_vec()));
                }
            }
            Ok(DecodedKey {
                info: PrivateKeyInfo {
                    algorithm: KeyType::Ed25519,
                    public_key,
                },
                private: seed.to_vec(),
            })
        }
        other => Err(KeyDecodeError::UnknownPkcs8Algorithm(oid_to_string(other))),
    }
}

pub(crate) fn oid_to_string(c: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for (i, b) in c.iter().enumerate() {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() && i < 8 {
                let (x, y) = if acc < 40 {
                    (0, acc)
                } else if acc < 80 {
                    (1, acc - 40)
                } else {
                    (2, acc - 80)
                };
                parts.push(x);
                parts.push(y);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

pub(crate) fn rsa_public_key(der: &[u8]) -> Result<PublicKeyData, &'static str> {
    let (tag, seq, _) = der_tlv(der).ok_or(MALFORMED)?;
    if tag != 0x30 {
        return Err(MALFORMED);
    }
    let (t, n, rest) = der_tlv(seq).ok_or(MALFORMED)?;
    let (t2, e, _) = der_tlv(rest).ok_or(MALFORMED)?;
    if t != 0x02 || t2 != 0x02 {
        return Err(MALFORMED);
    }
    Ok(PublicKeyData::Rsa {
        n: strip_leading_zeros(n),
        e: strip_leading_zeros(e),
    })
}

/// The public key of a certificate or CSR; `Err` names an unsupported type.
pub(crate) fn spki_public_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKeyData, String> {
    let oid = spki.algorithm.algorithm.as_bytes();
    let data: &[u8] = &spki.subject_public_key.data;
    match oid {
        OID_RSA => rsa_public_key(data).map_err(str::to_string),
        OID_EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| EcCurve::from_oid_content(p.data))
                .ok_or_else(|| "unsupported elliptic curve".to_string())?;
            Ok(PublicKeyData::Ec {
                curve,
                point: data.to_vec(),
            })
        }
        OID_ED25519 => Ok(PublicKeyData::Ed25519(data.to_vec())),
        _ => Err(format!(
            "unrecognised public key type: {}",
            spki.algorithm.algorithm.to_id_string()
        )),
    }
}

/// cert-manager's `PublicKeysEqual`: `Err` for an unsupported certificate
/// key; keys of different types are not equal. A private key whose public half
/// could not be determined is reported as an error.
pub(crate) fn public_keys_equal(
    cert_key: Result<PublicKeyData, String>,
    private: Option<&PublicKeyData>,
) -> Result<bool, String> {
    let cert_key = cert_key?;
    let private = private
        .ok_or_else(|| "unable to determine the public key of the private key".to_string())?;
    Ok(&cert_key == private)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::pki::{der, oids};

    /// A SEC1 ECPrivateKey of P-256 with `version` and `scalar`, naming its curve.
    fn sec1(version: u8, scalar: &[u8]) -> Vec<u8> {
        der::seq(&[
            &der::tlv(0x02, &[version]),
            &der::tlv(0x04, scalar),
            &der::tlv(0xa0, &der::oid(oids::PRIME256V1)),
        ])
    }

    #[test]
    fn ec_scalars_are_padded_and_stripped_as_go_does() {
        let short = [7u8; 31];
        let key = decode_private_key_der("EC PRIVATE KEY", &sec1(1, &short)).unwrap();
        assert_eq!(key.private.len(), 32);
        assert_eq!(key.private[0], 0);
        assert_eq!(&key.private[1..], &short);

        let mut long = vec![0u8];
        long.extend_from_slice(&[9u8; 32]);
        let key = decode_private_key_der("EC PRIVATE KEY", &sec1(1, &long)).unwrap();
        assert_eq!(key.private, vec![9u8; 32]);

        let mut too_long = vec![1u8];
        too_long.extend_from_slice(&[9u8; 32]);
        let err = decode_private_key_der("EC PRIVATE KEY", &sec1(1, &too_long))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "error parsing ecdsa private key: x509: invalid private key length"
        );
    }

    #[test]
    fn ec_keys_of_another_version_are_refused() {
        let err = decode_private_key_der("EC PRIVATE KEY", &sec1(2, &[7u8; 32]))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "error parsing ecdsa private key: x509: unknown EC private key version"
        );
    }

    #[test]
    fn the_private_part_is_what_the_key_signs_with() {
        let generated = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let pem = generated.serialize_pem();
        let key = crate::pki::key::PrivateKey::from_pem(pem.as_bytes()).unwrap();
        // Re-encoded as SEC1 and decoded again, it is the same key.
        let sec1 = key
            .to_pem(crate::api::certificate::PrivateKeyEncoding::Pkcs1)
            .unwrap();
        let again = crate::pki::key::PrivateKey::from_pem(sec1.as_bytes()).unwrap();
        assert_eq!(again.to_der_pkcs8(), key.to_der_pkcs8());
        assert_eq!(
            parse_private_key_pem(sec1.as_bytes()).unwrap().algorithm,
            KeyType::Ecdsa {
                curve: EcCurve::P256
            }
        );
    }
}
