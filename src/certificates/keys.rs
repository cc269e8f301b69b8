//! Private keys and certificate signing requests, as cert-manager makes them.
//!
//! Keys are generated and used through `rcgen` (backed by aws-lc-rs); the
//! encodings cert-manager writes (PKCS#1 `RSA PRIVATE KEY`, SEC1
//! `EC PRIVATE KEY`, PKCS#8 `PRIVATE KEY`) and the PKCS#10 request itself are
//! written by the small DER module below, so that the request carries exactly
//! what cert-manager's `pki.GenerateCSR` puts in it (several values per
//! subject attribute, multi-valued RDNs of a literal subject, otherName SANs,
//! name constraints), none of which `rcgen`'s own CSR writer can express.
//!
//! Nothing in this module ever formats private key material: [`PrivateKey`]'s
//! `Debug` prints only the algorithm and [`KeyError`] carries no key bytes.

use std::fmt;
use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{PublicKeyData as _, SigningKey as _};
use rustls::pki_types::PrivatePkcs8KeyDer;
use thiserror::Error;

use crate::api::certificate::{
    CertificatePrivateKey, CertificateSpec, KeyUsage, NameConstraintItem, NameConstraints,
    PrivateKeyAlgorithm, PrivateKeyEncoding, SignatureAlgorithm,
};

/// Errors of key handling and CSR building. Never carries key material.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// `spec.privateKey.size` is not valid for the algorithm (cert-manager's webhook wording).
    #[error("spec.privateKey.size: {0}")]
    InvalidKeySize(String),
    /// A key size cert-manager accepts but certgate cannot generate.
    #[error("{0}")]
    UnsupportedKeySize(String),
    /// The key could not be generated.
    #[error("failed to generate private key: {0}")]
    Generate(String),
    /// The private key bytes could not be decoded.
    #[error("error decoding private key PEM block: {0}")]
    Decode(String),
    /// The key's algorithm is not one certgate handles.
    #[error("unsupported private key algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// Signing with the key failed.
    #[error("failed to sign: {0}")]
    Sign(String),
    /// The requested signature algorithm does not fit the key.
    #[error("signature algorithm {requested} cannot be used with a {key} key")]
    SignatureAlgorithmMismatch { requested: String, key: String },
    /// A field of the Certificate cannot be put into a CSR.
    #[error("invalid {field}: {reason}")]
    InvalidField { field: String, reason: String },
    /// The literal subject could not be parsed.
    #[error("invalid literalSubject: {0}")]
    LiteralSubject(String),
    /// The certificate could not be decoded.
    #[error("error decoding certificate PEM block: {0}")]
    Certificate(String),
}

/// A key algorithm with its size (bits for RSA, curve size for ECDSA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with the modulus size in bits.
    Rsa(u32),
    /// ECDSA on NIST P-256, P-384 or P-521.
    Ecdsa(u32),
    /// Ed25519.
    Ed25519,
}

/// cert-manager's default RSA key size.
pub const DEFAULT_RSA_KEY_SIZE: u32 = 2048;
/// cert-manager's default ECDSA key size.
pub const DEFAULT_ECDSA_KEY_SIZE: u32 = 256;
/// Smallest RSA key size cert-manager accepts (`pki.MinRSAKeySize`).
pub const MIN_RSA_KEY_SIZE: u32 = 2048;
/// Largest RSA key size cert-manager accepts (`pki.MaxRSAKeySize`).
pub const MAX_RSA_KEY_SIZE: u32 = 8192;

impl KeyAlgorithm {
    /// The algorithm a Certificate's `spec.privateKey` asks for, with
    /// cert-manager's defaults (RSA 2048; ECDSA 256; size ignored for Ed25519)
    /// and its webhook's size rules.
    pub fn from_spec(spec: Option<&CertificatePrivateKey>) -> Result<KeyAlgorithm, KeyError> {
        let algorithm = spec.and_then(|s| s.algorithm);
        let size = spec.and_then(|s| s.size).unwrap_or(0);
        match algorithm {
            None | Some(PrivateKeyAlgorithm::Rsa) => {
                if size == 0 {
                    return Ok(KeyAlgorithm::Rsa(DEFAULT_RSA_KEY_SIZE));
                }
                match u32::try_from(size) {
                    Ok(bits) if (MIN_RSA_KEY_SIZE..=MAX_RSA_KEY_SIZE).contains(&bits) => {
                        Ok(KeyAlgorithm::Rsa(bits))
                    }
                    _ => Err(KeyError::InvalidKeySize(format!(
                        "must be between {MIN_RSA_KEY_SIZE} and {MAX_RSA_KEY_SIZE} for rsa keyAlgorithm"
                    ))),
                }
            }
            Some(PrivateKeyAlgorithm::Ecdsa) => match size {
                0 => Ok(KeyAlgorithm::Ecdsa(DEFAULT_ECDSA_KEY_SIZE)),
                256 | 384 | 521 => Ok(KeyAlgorithm::Ecdsa(size.unsigned_abs())),
                _ => Err(KeyError::InvalidKeySize(format!(
                    "Unsupported value: {size}: supported values: \"256\", \"384\", \"521\""
                ))),
            },
            Some(PrivateKeyAlgorithm::Ed25519) => Ok(KeyAlgorithm::Ed25519),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa(bits) => write!(f, "RSA-{bits}"),
            KeyAlgorithm::Ecdsa(bits) => write!(f, "ECDSA P-{bits}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// A signature algorithm certgate can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigAlg {
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    Ed25519,
}

impl SigAlg {
    /// The DER `AlgorithmIdentifier` of the signature algorithm.
    pub(crate) fn algorithm_identifier(self) -> Vec<u8> {
        match self {
            SigAlg::RsaSha256 => der::seq(&[&der::oid(oids::SHA256_WITH_RSA), &der::null()]),
            SigAlg::RsaSha384 => der::seq(&[&der::oid(oids::SHA384_WITH_RSA), &der::null()]),
            SigAlg::RsaSha512 => der::seq(&[&der::oid(oids::SHA512_WITH_RSA), &der::null()]),
            SigAlg::EcdsaSha256 => der::seq(&[&der::oid(oids::ECDSA_WITH_SHA256)]),
            SigAlg::EcdsaSha384 => der::seq(&[&der::oid(oids::ECDSA_WITH_SHA384)]),
            SigAlg::EcdsaSha512 => der::seq(&[&der::oid(oids::ECDSA_WITH_SHA512)]),
            SigAlg::Ed25519 => der::seq(&[&der::oid(oids::ED25519)]),
        }
    }

    fn from_api(alg: SignatureAlgorithm) -> SigAlg {
        match alg {
            SignatureAlgorithm::SHA256WithRSA => SigAlg::RsaSha256,
            SignatureAlgorithm::SHA384WithRSA => SigAlg::RsaSha384,
            SignatureAlgorithm::SHA512WithRSA => SigAlg::RsaSha512,
            SignatureAlgorithm::ECDSAWithSHA256 => SigAlg::EcdsaSha256,
            SignatureAlgorithm::ECDSAWithSHA384 => SigAlg::EcdsaSha384,
            SignatureAlgorithm::ECDSAWithSHA512 => SigAlg::EcdsaSha512,
            SignatureAlgorithm::PureEd25519 => SigAlg::Ed25519,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SigAlg::RsaSha256 => "SHA256WithRSA",
            SigAlg::RsaSha384 => "SHA384WithRSA",
            SigAlg::RsaSha512 => "SHA512WithRSA",
            SigAlg::EcdsaSha256 => "ECDSAWithSHA256",
            SigAlg::EcdsaSha384 => "ECDSAWithSHA384",
            SigAlg::EcdsaSha512 => "ECDSAWithSHA512",
            SigAlg::Ed25519 => "PureEd25519",
        }
    }
}

/// A private key. `Debug` prints only the algorithm.
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    /// Normalised PKCS#8 (v1) DER of the key.
    pkcs8: Vec<u8>,
    /// The subjectPublicKey bits (RSAPublicKey DER, EC point, or Ed25519 key).
    public_raw: Vec<u8>,
    /// The key loaded for its default signature algorithm.
    key_pair: rcgen::KeyPair,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a new key. RSA 2048, 3072 and 4096, ECDSA P-256, P-384 and
    /// P-521, and Ed25519 are supported; other RSA sizes (which cert-manager
    /// accepts, up to 8192) return [`KeyError::UnsupportedKeySize`].
    pub fn generate(alg: KeyAlgorithm) -> Result<PrivateKey, KeyError> {
        let gen_err = |e: rcgen::Error| KeyError::Generate(e.to_string());
        let pair = match alg {
            KeyAlgorithm::Rsa(bits) => {
                let size = match bits {
                    2048 => rcgen::RsaKeySize::_2048,
                    3072 => rcgen::RsaKeySize::_3072,
                    4096 => rcgen::RsaKeySize::_4096,
                    _ => {
                        return Err(KeyError::UnsupportedKeySize(format!(
                            "RSA key size {bits} is not supported by certgate: generating RSA keys of 2048, 3072 or 4096 bits is supported"
                        )));
                    }
                };
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size).map_err(gen_err)?
            }
            KeyAlgorithm::Ecdsa(256) => {
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen_err)?
            }
            KeyAlgorithm::Ecdsa(384) => {
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(gen_err)?
            }
            KeyAlgorithm::Ecdsa(521) => {
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).map_err(gen_err)?
            }
            KeyAlgorithm::Ecdsa(bits) => {
                return Err(KeyError::UnsupportedKeySize(format!(
                    "ECDSA key size {bits} is not supported: use 256, 384 or 521"
                )));
            }
            KeyAlgorithm::Ed25519 => {
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(gen_err)?
            }
        };
        let info =
            parse_pkcs8(pair.serialized_der()).map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::from_parsed(info)
    }

    /// Decodes the first PEM block of `pem`: PKCS#1 `RSA PRIVATE KEY`, SEC1
    /// `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`. Encrypted keys are refused.
    pub fn from_pem(pem: &[u8]) -> Result<PrivateKey, KeyError> {
        let blocks = pem::decode_all(pem).map_err(|e| KeyError::Decode(e.to_string()))?;
        let Some(block) = blocks.into_iter().next() else {
            return Err(KeyError::Decode("no PEM block found".into()));
        };
        if block.encrypted {
            return Err(KeyError::Decode(
                "encrypted private keys are not supported".into(),
            ));
        }
        let info = match block.label.as_str() {
            "RSA PRIVATE KEY" => parse_pkcs1(&block.der)?,
            "EC PRIVATE KEY" => parse_sec1(&block.der, None)?,
            "PRIVATE KEY" => parse_pkcs8(&block.der)?,
            other => {
                return Err(KeyError::Decode(format!(
                    "unknown private key type {other:?}"
                )));
            }
        };
        Self::from_parsed(info)
    }

    fn from_parsed(info: KeyInfo) -> Result<PrivateKey, KeyError> {
        let pkcs8 = info.to_pkcs8();
        let rcgen_alg = rcgen_alg(info.algorithm, default_sig_alg(info.algorithm))?;
        let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(pkcs8.as_slice()),
            rcgen_alg,
        )
        .map_err(|e| KeyError::Decode(e.to_string()))?;
        let public_raw = key_pair.der_bytes().to_vec();
        // The key must be internally consistent: a stated public key must be the derived one.
        if let Some(stated) = &info.public
            && stated != &public_raw
        {
            return Err(KeyError::Decode(
                "the public key in the private key does not match the private key".into(),
            ));
        }
        let algorithm = match info.algorithm {
            KeyAlgorithm::Rsa(_) => KeyAlgorithm::Rsa(rsa_modulus_bits(&public_raw)?),
            other => other,
        };
        Ok(PrivateKey {
            algorithm,
            pkcs8,
            public_raw,
            key_pair,
        })
    }

    /// The key's algorithm and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// PEM as cert-manager writes it to `tls.key`: PKCS1 writes
    /// `RSA PRIVATE KEY` for RSA and SEC1 `EC PRIVATE KEY` for ECDSA; PKCS8
    /// writes `PRIVATE KEY`; Ed25519 is always PKCS#8.
    pub fn to_pem(&self, encoding: PrivateKeyEncoding) -> Result<String, KeyError> {
        let info = parse_pkcs8(&self.pkcs8)?;
        Ok(match (encoding, self.algorithm) {
            (PrivateKeyEncoding::Pkcs1, KeyAlgorithm::Rsa(_)) => {
                pem::encode("RSA PRIVATE KEY", &info.inner)
            }
            (PrivateKeyEncoding::Pkcs1, KeyAlgorithm::Ecdsa(_)) => {
                pem::encode("EC PRIVATE KEY", &info.sec1_with_params()?)
            }
            _ => pem::encode("PRIVATE KEY", &self.pkcs8),
        })
    }

    /// PKCS#8 DER (as cert-manager's `key.der` additional output format).
    pub fn to_der_pkcs8(&self) -> Vec<u8> {
        self.pkcs8.clone()
    }

    /// The DER SubjectPublicKeyInfo of the key.
    pub fn public_key_der(&self) -> Vec<u8> {
        spki(self.algorithm, &self.public_raw)
    }

    /// Whether the key is of the algorithm and size `spec` asks for
    /// (cert-manager's `PrivateKeyMatchesSpec`; the encoding is not compared).
    pub fn matches_spec(&self, spec: Option<&CertificatePrivateKey>) -> bool {
        match KeyAlgorithm::from_spec(spec) {
            Ok(wanted) => wanted == self.algorithm,
            Err(_) => false,
        }
    }

    /// The subjectPublicKey bits.
    pub(crate) fn public_key_bits(&self) -> &[u8] {
        &self.public_raw
    }

    /// The signature algorithm Go's x509 uses by default for this key.
    pub(crate) fn default_sig_alg(&self) -> SigAlg {
        default_sig_alg(self.algorithm)
    }

    /// Signs `msg` with `alg`.
    pub(crate) fn sign(&self, alg: SigAlg, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        if alg == self.default_sig_alg() {
            return self
                .key_pair
                .sign(msg)
                .map_err(|e| KeyError::Sign(e.to_string()));
        }
        let rcgen_alg = rcgen_alg(self.algorithm, alg)?;
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(self.pkcs8.as_slice()),
            rcgen_alg,
        )
        .map_err(|e| KeyError::Sign(e.to_string()))?;
        pair.sign(msg).map_err(|e| KeyError::Sign(e.to_string()))
    }
}

fn default_sig_alg(alg: KeyAlgorithm) -> SigAlg {
    match alg {
        KeyAlgorithm::Rsa(_) => SigAlg::RsaSha256,
        KeyAlgorithm::Ecdsa(384) => SigAlg::EcdsaSha384,
        KeyAlgorithm::Ecdsa(521) => SigAlg::EcdsaSha512,
        KeyAlgorithm::Ecdsa(_) => SigAlg::EcdsaSha256,
        KeyAlgorithm::Ed25519 => SigAlg::Ed25519,
    }
}

/// The signature algorithm cert-manager's `pki.SignatureAlgorithm` picks for a CSR.
fn csr_sig_alg(alg: KeyAlgorithm) -> SigAlg {
    match alg {
        KeyAlgorithm::Rsa(bits) if bits >= 4096 => SigAlg::RsaSha512,
        KeyAlgorithm::Rsa(bits) if bits >= 3072 => SigAlg::RsaSha384,
        other => default_sig_alg(other),
    }
}

fn rcgen_alg(
    key: KeyAlgorithm,
    sig: SigAlg,
) -> Result<&'static rcgen::SignatureAlgorithm, KeyError> {
    let alg = match (key, sig) {
        (KeyAlgorithm::Rsa(_), SigAlg::RsaSha256) => &rcgen::PKCS_RSA_SHA256,
        (KeyAlgorithm::Rsa(_), SigAlg::RsaSha384) => &rcgen::PKCS_RSA_SHA384,
        (KeyAlgorithm::Rsa(_), SigAlg::RsaSha512) => &rcgen::PKCS_RSA_SHA512,
        (KeyAlgorithm::Ecdsa(256), SigAlg::EcdsaSha256) => &rcgen::PKCS_ECDSA_P256_SHA256,
        (KeyAlgorithm::Ecdsa(384), SigAlg::EcdsaSha384) => &rcgen::PKCS_ECDSA_P384_SHA384,
        (KeyAlgorithm::Ecdsa(521), SigAlg::EcdsaSha256) => &rcgen::PKCS_ECDSA_P521_SHA256,
        (KeyAlgorithm::Ecdsa(521), SigAlg::EcdsaSha384) => &rcgen::PKCS_ECDSA_P521_SHA384,
        (KeyAlgorithm::Ecdsa(521), SigAlg::EcdsaSha512) => &rcgen::PKCS_ECDSA_P521_SHA512,
        (KeyAlgorithm::Ed25519, SigAlg::Ed25519) => &rcgen::PKCS_ED25519,
        _ => {
            return Err(KeyError::SignatureAlgorithmMismatch {
                requested: sig.name().to_string(),
                key: key.to_string(),
            });
        }
    };
    Ok(alg)
}

fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Result<u32, KeyError> {
    let bad = || KeyError::Decode("malformed RSA public key".into());
    let (outer, _) = der::read(rsa_public_key).ok_or_else(bad)?;
    let fields = der::children(outer.content).ok_or_else(bad)?;
    let n = fields.first().ok_or_else(bad)?;
    let mut bytes = n.content;
    while let [0, rest @ ..] = bytes {
        bytes = rest;
    }
    let Some(first) = bytes.first() else {
        return Err(bad());
    };
    let bits = (bytes.len() as u64) * 8 - u64::from(first.leading_zeros());
    u32::try_from(bits).map_err(|_| bad())
}

/// The DER SubjectPublicKeyInfo for a key of `alg` with `public` bits.
pub(crate) fn spki(alg: KeyAlgorithm, public: &[u8]) -> Vec<u8> {
    let alg_id = match alg {
        KeyAlgorithm::Rsa(_) => der::seq(&[&der::oid(oids::RSA_ENCRYPTION), &der::null()]),
        KeyAlgorithm::Ecdsa(bits) => {
            der::seq(&[&der::oid(oids::EC_PUBLIC_KEY), &der::oid(curve_oid(bits))])
        }
        KeyAlgorithm::Ed25519 => der::seq(&[&der::oid(oids::ED25519)]),
    };
    der::seq(&[&alg_id, &der::bit_string(public)])
}

fn curve_oid(bits: u32) -> &'static [u64] {
    match bits {
        384 => oids::SECP384R1,
        521 => oids::SECP521R1,
        _ => oids::PRIME256V1,
    }
}

/// A decoded private key, split into its parts.
struct KeyInfo {
    algorithm: KeyAlgorithm,
    /// RSA: the PKCS#1 RSAPrivateKey. EC: the private scalar. Ed25519: the seed.
    inner: Vec<u8>,
    /// EC and Ed25519: the public key, when the encoding states it.
    public: Option<Vec<u8>>,
}

impl KeyInfo {
    /// Normalised PKCS#8 v1, as Go's `x509.MarshalPKCS8PrivateKey` writes it.
    fn to_pkcs8(&self) -> Vec<u8> {
        let version = der::small_int(0);
        match self.algorithm {
            KeyAlgorithm::Rsa(_) => der::seq(&[
                &version,
                &der::seq(&[&der::oid(oids::RSA_ENCRYPTION), &der::null()]),
                &der::octet_string(&self.inner),
            ]),
            KeyAlgorithm::Ecdsa(bits) => {
                let mut parts = vec![der::small_int(1), der::octet_string(&self.inner)];
                if let Some(public) = &self.public {
                    parts.push(der::tlv(0xa1, &der::bit_string(public)));
                }
                let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                der::seq(&[
                    &version,
                    &der::seq(&[&der::oid(oids::EC_PUBLIC_KEY), &der::oid(curve_oid(bits))]),
                    &der::octet_string(&der::seq(&refs)),
                ])
            }
            KeyAlgorithm::Ed25519 => der::seq(&[
                &version,
                &der::seq(&[&der::oid(oids::ED25519)]),
                &der::octet_string(&der::octet_string(&self.inner)),
            ]),
        }
    }

    /// SEC1 ECPrivateKey with the curve and the public key, as Go's
    /// `x509.MarshalECPrivateKey` writes it.
    fn sec1_with_params(&self) -> Result<Vec<u8>, KeyError> {
        let KeyAlgorithm::Ecdsa(bits) = self.algorithm else {
            return Err(KeyError::UnsupportedAlgorithm("not an ECDSA key".into()));
        };
        let public = self
            .public
            .as_ref()
            .ok_or_else(|| KeyError::Decode("EC key without public key".into()))?;
        Ok(der::seq(&[
            &der::small_int(1),
            &der::octet_string(&self.inner),
            &der::tlv(0xa0, &der::oid(curve_oid(bits))),
            &der::tlv(0xa1, &der::bit_string(public)),
        ]))
    }
}

fn malformed(what: &str) -> KeyError {
    KeyError::Decode(format!("malformed {what}"))
}

fn parse_pkcs1(der_bytes: &[u8]) -> Result<KeyInfo, KeyError> {
    let (outer, rest) = der::read(der_bytes).ok_or_else(|| malformed("PKCS#1 key"))?;
    if outer.tag != 0x30 || !rest.is_empty() {
        return Err(malformed("PKCS#1 key"));
    }
    Ok(KeyInfo {
        algorithm: KeyAlgorithm::Rsa(0),
        inner: outer.raw.to_vec(),
        public: None,
    })
}

fn ec_bits_for_curve(curve: &[u8]) -> Result<u32, KeyError> {
    if curve == der::oid_content(oids::PRIME256V1) {
        Ok(256)
    } else if curve == der::oid_content(oids::SECP384R1) {
        Ok(384)
    } else if curve == der::oid_content(oids::SECP521R1) {
        Ok(521)
    } else {
        Err(KeyError::UnsupportedAlgorithm(
            "unsupported elliptic curve".into(),
        ))
    }
}

/// Parses a SEC1 ECPrivateKey. `curve` is the curve OID content given by a
/// PKCS#8 wrapper, if any.
fn parse_sec1(der_bytes: &[u8], curve: Option<&[u8]>) -> Result<KeyInfo, KeyError> {
    let (outer, rest) = der::read(der_bytes).ok_or_else(|| malformed("EC private key"))?;
    if outer.tag != 0x30 || !rest.is_empty() {
        return Err(malformed("EC private key"));
    }
    let fields = der::children(outer.content).ok_or_else(|| malformed("EC private key"))?;
    let mut iter = fields.iter();
    match iter.next() {
        Some(v) if v.tag == 0x02 && v.content == [1] => {}
        _ => return Err(malformed("EC private key")),
    }
    let scalar = match iter.next() {
        Some(v) if v.tag == 0x04 => v.content.to_vec(),
        _ => return Err(malformed("EC private key")),
    };
    let mut stated_curve: Option<&[u8]> = None;
    let mut public = None;
    for field in iter {
        match field.tag {
            0xa0 => {
                let (oid, _) =
                    der::read(field.content).ok_or_else(|| malformed("EC private key"))?;
                if oid.tag != 0x06 {
                    return Err(malformed("EC private key"));
                }
                stated_curve = Some(oid.content);
            }
            0xa1 => {
                let (bits, _) =
                    der::read(field.content).ok_or_else(|| malformed("EC private key"))?;
                public = Some(
                    der::bit_string_bytes(&bits)
                        .ok_or_else(|| malformed("EC private key"))?
                        .to_vec(),
                );
            }
            _ => return Err(malformed("EC private key")),
        }
    }
    let curve = match (curve, stated_curve) {
        (Some(a), Some(b)) if a != b => {
            return Err(KeyError::Decode("conflicting elliptic curves".into()));
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => {
            return Err(KeyError::Decode(
                "EC private key does not name its curve".into(),
            ));
        }
    };
    let bits = ec_bits_for_curve(curve)?;
    // Go pads the scalar to the curve's size.
    let len = (bits as usize).div_ceil(8);
    let mut inner = scalar;
    while inner.len() > len && inner.first() == Some(&0) {
        inner.remove(0);
    }
    if inner.len() > len {
        return Err(malformed("EC private key"));
    }
    let mut padded = vec![0u8; len - inner.len()];
    padded.extend_from_slice(&inner);
    Ok(KeyInfo {
        algorithm: KeyAlgorithm::Ecdsa(bits),
        inner: padded,
        public,
    })
}

fn parse_pkcs8(der_bytes: &[u8]) -> Result<KeyInfo, KeyError> {
    let (outer, rest) = der::read(der_bytes).ok_or_else(|| malformed("PKCS#8 key"))?;
    if outer.tag != 0x30 || !rest.is_empty() {
        return Err(malformed("PKCS#8 key"));
    }
    let fields = der::children(outer.content).ok_or_else(|| malformed("PKCS#8 key"))?;
    let (Some(version), Some(alg_id), Some(key)) = (fields.first(), fields.get(1), fields.get(2))
    else {
        return Err(malformed("PKCS#8 key"));
    };
    if version.tag != 0x02 || alg_id.tag != 0x30 || key.tag != 0x04 {
        return Err(malformed("PKCS#8 key"));
    }
    let alg_fields = der::children(alg_id.content).ok_or_else(|| malformed("PKCS#8 key"))?;
    let Some(alg_oid) = alg_fields.first().filter(|f| f.tag == 0x06) else {
        return Err(malformed("PKCS#8 key"));
    };
    // PKCS#8 v2 may carry the public key as [1].
    let stated_public = fields
        .iter()
        .skip(3)
        .find(|f| f.tag == 0x81)
        .and_then(|f| f.content.split_first().map(|(_, b)| b.to_vec()));
    if alg_oid.content == der::oid_content(oids::RSA_ENCRYPTION) {
        parse_pkcs1(key.content)
    } else if alg_oid.content == der::oid_content(oids::EC_PUBLIC_KEY) {
        let curve = alg_fields
            .get(1)
            .filter(|f| f.tag == 0x06)
            .map(|f| f.content);
        parse_sec1(key.content, curve)
    } else if alg_oid.content == der::oid_content(oids::ED25519) {
        let (seed, _) = der::read(key.content).ok_or_else(|| malformed("Ed25519 key"))?;
        if seed.tag != 0x04 || seed.content.len() != 32 {
            return Err(malformed("Ed25519 key"));
        }
        Ok(KeyInfo {
            algorithm: KeyAlgorithm::Ed25519,
            inner: seed.content.to_vec(),
            public: stated_public,
        })
    } else {
        Err(KeyError::UnsupportedAlgorithm(format!(
            "PKCS#8 key with algorithm OID {}",
            der::oid_to_string(alg_oid.content).unwrap_or_else(|| "?".into())
        )))
    }
}

/// Whether the certificate (first PEM block of `cert_pem`) holds `key`'s public key.
pub fn public_key_matches_cert(cert_pem: &[u8], key: &PrivateKey) -> Result<bool, KeyError> {
    let blocks = pem::decode_all(cert_pem).map_err(|e| KeyError::Certificate(e.to_string()))?;
    let Some(block) = blocks.into_iter().find(|b| b.label == "CERTIFICATE") else {
        return Err(KeyError::Certificate(
            "no CERTIFICATE PEM block found".into(),
        ));
    };
    let (_, cert) = x509_parser::parse_x509_certificate(&block.der)
        .map_err(|e| KeyError::Certificate(e.to_string()))?;
    Ok(spki_matches(cert.public_key().raw, key))
}

/// Whether a DER SubjectPublicKeyInfo holds `key`'s public key.
pub fn spki_matches(spki_der: &[u8], key: &PrivateKey) -> bool {
    spki_der == key.public_key_der().as_slice()
        || der::spki_public_bits(spki_der).is_some_and(|(alg, bits)| {
            bits == key.public_key_bits()
                && der::read(&key.public_key_der())
                    .and_then(|(s, _)| der::children(s.content))
                    .and_then(|f| f.first().and_then(|a| der::children(a.content)))
                    .and_then(|f| f.first().map(|o| o.content.to_vec()))
                    .is_some_and(|oid| oid == alg)
        })
}

// ---------------------------------------------------------------------------
// Key usages.

/// X.509 KeyUsage bits, bit `i` standing for RFC 5280's bit `i`
/// (0 = digitalSignature ... 8 = decipherOnly).
pub(crate) mod ku {
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    pub const CONTENT_COMMITMENT: u16 = 1 << 1;
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    pub const DATA_ENCIPHERMENT: u16 = 1 << 3;
    pub const KEY_AGREEMENT: u16 = 1 << 4;
    pub const CERT_SIGN: u16 = 1 << 5;
    pub const CRL_SIGN: u16 = 1 << 6;
    pub const ENCIPHER_ONLY: u16 = 1 << 7;
    pub const DECIPHER_ONLY: u16 = 1 << 8;
}

/// cert-manager's `DefaultKeyUsages`.
pub const DEFAULT_KEY_USAGES: [KeyUsage; 2] =
    [KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment];

/// The KeyUsage bits and extended key usage OIDs (DER content) for the
/// usages, as cert-manager's `KeyUsagesForCertificateOrCertificateRequest`:
/// defaults when none are given, `cert sign` added for a CA.
pub(crate) fn usages_to_x509(usages: &[KeyUsage], is_ca: bool) -> (u16, Vec<Vec<u8>>) {
    let usages: &[KeyUsage] = if usages.is_empty() {
        &DEFAULT_KEY_USAGES
    } else {
        usages
    };
    let mut bits = if is_ca { ku::CERT_SIGN } else { 0 };
    let mut ekus: Vec<Vec<u8>> = Vec::new();
    for usage in usages {
        let (bit, eku): (u16, Option<&[u64]>) = match usage {
            KeyUsage::Signing | KeyUsage::DigitalSignature => (ku::DIGITAL_SIGNATURE, None),
            KeyUsage::ContentCommitment => (ku::CONTENT_COMMITMENT, None),
            KeyUsage::KeyEncipherment => (ku::KEY_ENCIPHERMENT, None),
            KeyUsage::KeyAgreement => (ku::KEY_AGREEMENT, None),
            KeyUsage::DataEncipherment => (ku::DATA_ENCIPHERMENT, None),
            KeyUsage::CertSign => (ku::CERT_SIGN, None),
            KeyUsage::CrlSign => (ku::CRL_SIGN, None),
            KeyUsage::EncipherOnly => (ku::ENCIPHER_ONLY, None),
            KeyUsage::DecipherOnly => (ku::DECIPHER_ONLY, None),
            KeyUsage::Any => (0, Some(oids::EKU_ANY)),
            KeyUsage::ServerAuth => (0, Some(oids::EKU_SERVER_AUTH)),
            KeyUsage::ClientAuth => (0, Some(oids::EKU_CLIENT_AUTH)),
            KeyUsage::CodeSigning => (0, Some(oids::EKU_CODE_SIGNING)),
            KeyUsage::EmailProtection | KeyUsage::Smime => (0, Some(oids::EKU_EMAIL_PROTECTION)),
            KeyUsage::IpsecEndSystem => (0, Some(oids::EKU_IPSEC_END_SYSTEM)),
            KeyUsage::IpsecTunnel => (0, Some(oids::EKU_IPSEC_TUNNEL)),
            KeyUsage::IpsecUser => (0, Some(oids::EKU_IPSEC_USER)),
            KeyUsage::Timestamping => (0, Some(oids::EKU_TIMESTAMPING)),
            KeyUsage::OcspSigning => (0, Some(oids::EKU_OCSP_SIGNING)),
            KeyUsage::MicrosoftSgc => (0, Some(oids::EKU_MICROSOFT_SGC)),
            KeyUsage::NetscapeSgc => (0, Some(oids::EKU_NETSCAPE_SGC)),
        };
        bits |= bit;
        if let Some(eku) = eku {
            let content = der::oid_content(eku);
            if !ekus.contains(&content) {
                ekus.push(content);
            }
        }
    }
    (bits, ekus)
}

/// The value of a KeyUsage extension (a minimal BIT STRING, as Go writes it).
pub(crate) fn key_usage_value(bits: u16) -> Vec<u8> {
    let b0 = (bits as u8).reverse_bits();
    let b1 = ((bits >> 8) as u8).reverse_bits();
    let bytes: Vec<u8> = if b1 != 0 { vec![b0, b1] } else { vec![b0] };
    let unused = bytes
        .last()
        .map_or(0, |b| if *b == 0 { 0 } else { b.trailing_zeros() as u8 });
    let mut content = vec![unused];
    content.extend_from_slice(&bytes);
    der::tlv(0x03, &content)
}

/// The value of an ExtendedKeyUsage extension.
pub(crate) fn ext_key_usage_value(ekus: &[Vec<u8>]) -> Vec<u8> {
    let parts: Vec<Vec<u8>> = ekus.iter().map(|c| der::tlv(0x06, c)).collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    der::seq(&refs)
}

/// The value of a BasicConstraints extension.
pub(crate) fn basic_constraints_value(is_ca: bool, path_len: Option<u64>) -> Vec<u8> {
    let mut parts = Vec::new();
    if is_ca {
        parts.push(der::boolean(true));
    }
    if let Some(len) = path_len {
        parts.push(der::uint(len));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    der::seq(&refs)
}

/// One DER Extension.
pub(crate) fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        der::seq(&[
            &der::oid(oid),
            &der::boolean(true),
            &der::octet_string(value),
        ])
    } else {
        der::seq(&[&der::oid(oid), &der::octet_string(value)])
    }
}

// ---------------------------------------------------------------------------
// CSR building.

/// Builds the PEM `CERTIFICATE REQUEST` cert-manager's `pki.GenerateCSR`
/// would build for `spec`, signed with `key`.
pub fn build_csr(spec: &CertificateSpec, key: &PrivateKey) -> Result<String, KeyError> {
    let is_ca = spec.is_ca.unwrap_or(false);
    let subject = build_subject(spec)?;
    let subject_empty = subject == der::seq(&[]);

    let mut extensions: Vec<Vec<u8>> = Vec::new();
    let sans = build_general_names(spec)?;
    if !sans.is_empty() {
        let refs: Vec<&[u8]> = sans.iter().map(Vec::as_slice).collect();
        extensions.push(extension(oids::EXT_SAN, subject_empty, &der::seq(&refs)));
    }
    if spec.encode_usages_in_request != Some(false) {
        let (bits, ekus) = usages_to_x509(spec.usages.as_deref().unwrap_or(&[]), is_ca);
        if bits != 0 {
            extensions.push(extension(oids::EXT_KEY_USAGE, true, &key_usage_value(bits)));
        }
        if !ekus.is_empty() {
            extensions.push(extension(
                oids::EXT_EXT_KEY_USAGE,
                false,
                &ext_key_usage_value(&ekus),
            ));
        }
    }
    if is_ca {
        extensions.push(extension(
            oids::EXT_BASIC_CONSTRAINTS,
            true,
            &basic_constraints_value(true, None),
        ));
    }
    if let Some(nc) = &spec.name_constraints
        && let Some(value) = name_constraints_value(nc)?
    {
        extensions.push(extension(
            oids::EXT_NAME_CONSTRAINTS,
            nc.critical.unwrap_or(false),
            &value,
        ));
    }

    let attributes = if extensions.is_empty() {
        der::tlv(0xa0, &[])
    } else {
        let refs: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
        let attr = der::seq(&[
            &der::oid(oids::EXTENSION_REQUEST),
            &der::set(&[&der::seq(&refs)]),
        ]);
        der::tlv(0xa0, &attr)
    };
    let info = der::seq(&[
        &der::small_int(0),
        &subject,
        &key.public_key_der(),
        &attributes,
    ]);
    let sig_alg = match spec.signature_algorithm {
        Some(requested) => SigAlg::from_api(requested),
        None => csr_sig_alg(key.algorithm()),
    };
    let signature = key.sign(sig_alg, &info)?;
    let csr = der::seq(&[
        &info,
        &sig_alg.algorithm_identifier(),
        &der::bit_string(&signature),
    ]);
    Ok(pem::encode("CERTIFICATE REQUEST", &csr))
}

/// One attribute value as Go's asn1 encodes a string: PrintableString when
/// every character is printable (`*` allowed), UTF8String otherwise.
fn directory_string(value: &str) -> Vec<u8> {
    let printable = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?*".contains(&b));
    if printable {
        der::tlv(0x13, value.as_bytes())
    } else {
        der::tlv(0x0c, value.as_bytes())
    }
}

fn attribute(oid_content: &[u8], value: &[u8]) -> Vec<u8> {
    der::seq(&[&der::tlv(0x06, oid_content), value])
}

/// The subject Name: from `literalSubject`, or from `subject` and
/// `commonName` in the order of Go's `pkix.Name.ToRDNSequence`.
fn build_subject(spec: &CertificateSpec) -> Result<Vec<u8>, KeyError> {
    if let Some(literal) = spec.literal_subject.as_deref().filter(|s| !s.is_empty()) {
        return literal_subject_der(literal);
    }
    let mut rdns: Vec<Vec<u8>> = Vec::new();
    let mut push_all = |oid: &[u64], values: Option<&Vec<String>>| {
        for value in values.into_iter().flatten() {
            let attr = attribute(&der::oid_content(oid), &directory_string(value));
            rdns.push(der::set(&[&attr]));
        }
    };
    let subject = spec.subject.clone().unwrap_or_default();
    push_all(oids::AT_COUNTRY, subject.countries.as_ref());
    push_all(oids::AT_ORGANIZATION, subject.organizations.as_ref());
    push_all(
        oids::AT_ORGANIZATIONAL_UNIT,
        subject.organizational_units.as_ref(),
    );
    push_all(oids::AT_LOCALITY, subject.localities.as_ref());
    push_all(oids::AT_PROVINCE, subject.provinces.as_ref());
    push_all(oids::AT_STREET_ADDRESS, subject.street_addresses.as_ref());
    push_all(oids::AT_POSTAL_CODE, subject.postal_codes.as_ref());
    let serial = subject
        .serial_number
        .clone()
        .filter(|s| !s.is_empty())
        .map(|s| vec![s]);
    push_all(oids::AT_SERIAL_NUMBER, serial.as_ref());
    let cn = spec
        .common_name
        .clone()
        .filter(|s| !s.is_empty())
        .map(|s| vec![s]);
    push_all(oids::AT_COMMON_NAME, cn.as_ref());
    let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    Ok(der::seq(&refs))
}

/// Attribute type names accepted in a literal subject, as cert-manager's
/// `pki.UnmarshalSubjectStringToRDNSequence` maps them.
fn literal_attribute_oid(name: &str) -> Option<&'static [u64]> {
    Some(match name.to_ascii_uppercase().as_str() {
        "CN" => oids::AT_COMMON_NAME,
        "C" => oids::AT_COUNTRY,
        "O" => oids::AT_ORGANIZATION,
        "OU" => oids::AT_ORGANIZATIONAL_UNIT,
        "L" => oids::AT_LOCALITY,
        "ST" => oids::AT_PROVINCE,
        "STREET" => oids::AT_STREET_ADDRESS,
        "POSTALCODE" => oids::AT_POSTAL_CODE,
        "SERIALNUMBER" => oids::AT_SERIAL_NUMBER,
        "DC" => oids::AT_DOMAIN_COMPONENT,
        "UID" => oids::AT_UID,
        "E" | "EMAILADDRESS" => oids::AT_EMAIL_ADDRESS,
        _ => return None,
    })
}

/// Parses an RFC 4514 string into a DER Name. The string lists the most
/// specific RDN first; the Name lists it last (as cert-manager does).
/// Supported: the type names of [`literal_attribute_oid`], dotted OIDs,
/// multi-valued RDNs (`+`), backslash escapes (`\,` and `\XX`), and
/// `#`-prefixed hex BER values. Not supported: quoted values.
pub(crate) fn literal_subject_der(literal: &str) -> Result<Vec<u8>, KeyError> {
    let err = |m: &str| KeyError::LiteralSubject(m.to_string());
    let mut rdns: Vec<Vec<u8>> = Vec::new();
    for rdn in split_unescaped(literal, b',') {
        let mut attrs: Vec<Vec<u8>> = Vec::new();
        for atv in split_unescaped(&rdn, b'+') {
            let Some(eq) = atv.find('=') else {
                return Err(err("attribute without '='"));
            };
            let (name, raw_value) = (atv[..eq].trim(), &atv[eq + 1..]);
            if name.is_empty() {
                return Err(err("empty attribute type"));
            }
            let oid_content = if name.as_bytes()[0].is_ascii_digit() {
                let parts: Option<Vec<u64>> = name.split('.').map(|p| p.parse().ok()).collect();
                match parts {
                    Some(parts) if parts.len() >= 2 => der::oid_content(&parts),
                    _ => return Err(err(&format!("invalid attribute type {name:?}"))),
                }
            } else {
                match literal_attribute_oid(name) {
                    Some(oid) => der::oid_content(oid),
                    None => {
                        return Err(KeyError::LiteralSubject(format!(
                            "Literal subject contains unrecognized key with value [{name}]"
                        )));
                    }
                }
            };
            let value_str = raw_value.trim_start();
            let value = if let Some(hex) = value_str.strip_prefix('#') {
                let bytes = decode_hex(hex.trim_end()).ok_or_else(|| err("invalid hex value"))?;
                match der::read(&bytes) {
                    Some((_, [])) => bytes,
                    _ => return Err(err("hex value is not one BER element")),
                }
            } else {
                let text = unescape_value(value_str).ok_or_else(|| err("invalid escape"))?;
                if oid_content == der::oid_content(oids::AT_EMAIL_ADDRESS)
                    || oid_content == der::oid_content(oids::AT_DOMAIN_COMPONENT)
                {
                    if !text.is_ascii() {
                        return Err(err("email and DC values must be ASCII"));
                    }
                    der::tlv(0x16, text.as_bytes())
                } else {
                    directory_string(&text)
                }
            };
            attrs.push(attribute(&oid_content, &value));
        }
        if attrs.is_empty() {
            return Err(err("empty RDN"));
        }
        attrs.sort();
        let refs: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
        rdns.push(der::set(&refs));
    }
    rdns.reverse();
    let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    Ok(der::seq(&refs))
}

/// Splits at unescaped `sep`, keeping escapes for later.
fn split_unescaped(s: &str, sep: u8) -> Vec<String> {
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
        } else if b == sep {
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

/// Resolves RFC 4514 escapes and trims unescaped trailing spaces.
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

fn ia5(field: &str, value: &str) -> Result<(), KeyError> {
    if value.is_ascii() {
        Ok(())
    } else {
        Err(KeyError::InvalidField {
            field: field.to_string(),
            reason: format!("{value:?} is not ASCII"),
        })
    }
}

fn ip_bytes(field: &str, value: &str) -> Result<Vec<u8>, KeyError> {
    let ip: IpAddr = value.parse().map_err(|_| KeyError::InvalidField {
        field: field.to_string(),
        reason: format!("{value:?} is not an IP address"),
    })?;
    Ok(match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    })
}

/// The GeneralNames of the SAN extension, in Go's order (DNS, email, IP,
/// URI), then otherNames (UTF8String values, as cert-manager encodes them).
fn build_general_names(spec: &CertificateSpec) -> Result<Vec<Vec<u8>>, KeyError> {
    let mut names = Vec::new();
    for dns in spec.dns_names.iter().flatten() {
        ia5("dnsNames", dns)?;
        names.push(der::tlv(0x82, dns.as_bytes()));
    }
    for email in spec.email_addresses.iter().flatten() {
        ia5("emailAddresses", email)?;
        names.push(der::tlv(0x81, email.as_bytes()));
    }
    for ip in spec.ip_addresses.iter().flatten() {
        names.push(der::tlv(0x87, &ip_bytes("ipAddresses", ip)?));
    }
    for uri in spec.uris.iter().flatten() {
        ia5("uris", uri)?;
        if !uri.contains(':') {
            return Err(KeyError::InvalidField {
                field: "uris".into(),
                reason: format!("{uri:?} is not an absolute URI"),
            });
        }
        names.push(der::tlv(0x86, uri.as_bytes()));
    }
    for other in spec.other_names.iter().flatten() {
        let oid = other.oid.as_deref().unwrap_or_default();
        let parts: Option<Vec<u64>> = oid.split('.').map(|p| p.parse().ok()).collect();
        let parts = match parts {
            Some(p) if p.len() >= 2 => p,
            _ => {
                return Err(KeyError::InvalidField {
                    field: "otherNames.oid".into(),
                    reason: format!("{oid:?} is not a dotted object identifier"),
                });
            }
        };
        let value = other.utf8_value.as_deref().unwrap_or_default();
        let explicit = der::tlv(0xa0, &der::tlv(0x0c, value.as_bytes()));
        let mut content = der::oid(&parts);
        content.extend_from_slice(&explicit);
        names.push(der::tlv(0xa0, &content));
    }
    Ok(names)
}

/// The value of a NameConstraints extension, as Go writes it; `None` when
/// nothing is constrained.
pub(crate) fn name_constraints_value(nc: &NameConstraints) -> Result<Option<Vec<u8>>, KeyError> {
    fn subtrees(item: &NameConstraintItem) -> Result<Vec<Vec<u8>>, KeyError> {
        let mut out = Vec::new();
        for dns in item.dns_domains.iter().flatten() {
            ia5("nameConstraints.dnsDomains", dns)?;
            out.push(der::seq(&[&der::tlv(0x82, dns.as_bytes())]));
        }
        for cidr in item.ip_ranges.iter().flatten() {
            let bad = || KeyError::InvalidField {
                field: "nameConstraints.ipRanges".into(),
                reason: format!("{cidr:?} is not a CIDR"),
            };
            let (ip, prefix) = cidr.split_once('/').ok_or_else(bad)?;
            let ip: IpAddr = ip.parse().map_err(|_| bad())?;
            let prefix: u32 = prefix.parse().map_err(|_| bad())?;
            let (addr, len): (Vec<u8>, u32) = match ip {
                IpAddr::V4(v4) => (v4.octets().to_vec(), 32),
                IpAddr::V6(v6) => (v6.octets().to_vec(), 128),
            };
            if prefix > len {
                return Err(bad());
            }
            let mask: Vec<u8> = (0..addr.len() as u32)
                .map(|i| {
                    let bits = prefix.saturating_sub(i * 8).min(8);
                    if bits == 0 { 0 } else { 0xffu8 << (8 - bits) }
                })
                .collect();
            let mut content: Vec<u8> = addr.iter().zip(&mask).map(|(a, m)| a & m).collect();
            content.extend_from_slice(&mask);
            out.push(der::seq(&[&der::tlv(0x87, &content)]));
        }
        for email in item.email_addresses.iter().flatten() {
            ia5("nameConstraints.emailAddresses", email)?;
            out.push(der::seq(&[&der::tlv(0x81, email.as_bytes())]));
        }
        for uri in item.uri_domains.iter().flatten() {
            ia5("nameConstraints.uriDomains", uri)?;
            out.push(der::seq(&[&der::tlv(0x86, uri.as_bytes())]));
        }
        Ok(out)
    }
    let mut parts = Vec::new();
    if let Some(permitted) = &nc.permitted {
        let trees = subtrees(permitted)?;
        if !trees.is_empty() {
            let refs: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
            parts.push(der::tlv(0xa0, &refs.concat()));
        }
    }
    if let Some(excluded) = &nc.excluded {
        let trees = subtrees(excluded)?;
        if !trees.is_empty() {
            let refs: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
            parts.push(der::tlv(0xa1, &refs.concat()));
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(Some(der::seq(&refs)))
}

// ---------------------------------------------------------------------------
// OIDs.

pub(crate) mod oids {
    pub const RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
    pub const SHA256_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 11];
    pub const SHA384_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 12];
    pub const SHA512_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 13];
    pub const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
    pub const PRIME256V1: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
    pub const SECP384R1: &[u64] = &[1, 3, 132, 0, 34];
    pub const SECP521R1: &[u64] = &[1, 3, 132, 0, 35];
    pub const ECDSA_WITH_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
    pub const ECDSA_WITH_SHA384: &[u64] = &[1, 2, 840, 10045, 4, 3, 3];
    pub const ECDSA_WITH_SHA512: &[u64] = &[1, 2, 840, 10045, 4, 3, 4];
    pub const ED25519: &[u64] = &[1, 3, 101, 112];
    pub const EXTENSION_REQUEST: &[u64] = &[1, 2, 840, 113549, 1, 9, 14];

    pub const AT_COMMON_NAME: &[u64] = &[2, 5, 4, 3];
    pub const AT_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
    pub const AT_COUNTRY: &[u64] = &[2, 5, 4, 6];
    pub const AT_LOCALITY: &[u64] = &[2, 5, 4, 7];
    pub const AT_PROVINCE: &[u64] = &[2, 5, 4, 8];
    pub const AT_STREET_ADDRESS: &[u64] = &[2, 5, 4, 9];
    pub const AT_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
    pub const AT_ORGANIZATIONAL_UNIT: &[u64] = &[2, 5, 4, 11];
    pub const AT_POSTAL_CODE: &[u64] = &[2, 5, 4, 17];
    pub const AT_DOMAIN_COMPONENT: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 25];
    pub const AT_UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];
    pub const AT_EMAIL_ADDRESS: &[u64] = &[1, 2, 840, 113549, 1, 9, 1];

    pub const EXT_SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
    pub const EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
    pub const EXT_SAN: &[u64] = &[2, 5, 29, 17];
    pub const EXT_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
    pub const EXT_NAME_CONSTRAINTS: &[u64] = &[2, 5, 29, 30];
    pub const EXT_CRL_DISTRIBUTION_POINTS: &[u64] = &[2, 5, 29, 31];
    pub const EXT_AUTHORITY_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 35];
    pub const EXT_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
    pub const EXT_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
    pub const AD_OCSP: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1];
    pub const AD_CA_ISSUERS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 2];

    pub const EKU_ANY: &[u64] = &[2, 5, 29, 37, 0];
    pub const EKU_SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
    pub const EKU_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
    pub const EKU_CODE_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 3];
    pub const EKU_EMAIL_PROTECTION: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 4];
    pub const EKU_IPSEC_END_SYSTEM: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 5];
    pub const EKU_IPSEC_TUNNEL: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 6];
    pub const EKU_IPSEC_USER: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 7];
    pub const EKU_TIMESTAMPING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 8];
    pub const EKU_OCSP_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 9];
    pub const EKU_MICROSOFT_SGC: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 10, 3, 3];
    pub const EKU_NETSCAPE_SGC: &[u64] = &[2, 16, 840, 1, 113730, 4, 1];
}

// ---------------------------------------------------------------------------
// PEM.

pub(crate) mod pem {
    use super::BASE64;
    use base64::Engine as _;

    /// One decoded PEM block. No `Debug`: it may hold a private key.
    pub(crate) struct Block {
        pub label: String,
        pub der: Vec<u8>,
        pub encrypted: bool,
    }

    /// Why PEM decoding failed. Carries no data from the input.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum PemError {
        NotUtf8,
        Unterminated,
        Base64,
    }

    impl std::fmt::Display for PemError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                PemError::NotUtf8 => "PEM data is not valid text",
                PemError::Unterminated => "PEM block has no END line",
                PemError::Base64 => "PEM block is not valid base64",
            })
        }
    }

    /// All PEM blocks of `data`, in order (text outside blocks is ignored).
    pub(crate) fn decode_all(data: &[u8]) -> Result<Vec<Block>, PemError> {
        let text = std::str::from_utf8(data).map_err(|_| PemError::NotUtf8)?;
        let mut blocks = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let line = line.trim();
            let Some(label) = line
                .strip_prefix("-----BEGIN ")
                .and_then(|l| l.strip_suffix("-----"))
            else {
                continue;
            };
            let end = format!("-----END {label}-----");
            let mut body = String::new();
            let mut encrypted = label.contains("ENCRYPTED");
            let mut terminated = false;
            for line in lines.by_ref() {
                let line = line.trim();
                if line == end {
                    terminated = true;
                    break;
                }
                if line.contains(':') {
                    // RFC 1421 headers (Proc-Type: 4,ENCRYPTED ...).
                    if line.contains("ENCRYPTED") {
                        encrypted = true;
                    }
                    continue;
                }
                body.push_str(line);
            }
            if !terminated {
                return Err(PemError::Unterminated);
            }
            let der = BASE64
                .decode(body.as_bytes())
                .map_err(|_| PemError::Base64)?;
            blocks.push(Block {
                label: label.to_string(),
                der,
                encrypted,
            });
        }
        Ok(blocks)
    }

    /// PEM with 64-character lines.
    pub(crate) fn encode(label: &str, der: &[u8]) -> String {
        let b64 = BASE64.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out
    }
}

// ---------------------------------------------------------------------------
// DER.

/// A minimal DER writer and reader (single-byte tags, definite lengths).
pub(crate) mod der {
    /// One element read from DER.
    #[derive(Clone, Copy)]
    pub(crate) struct Tlv<'a> {
        pub tag: u8,
        pub content: &'a [u8],
        /// The whole element, tag and length included.
        pub raw: &'a [u8],
    }

    /// Reads one element; returns it and what follows.
    pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
        let (&tag, rest) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None; // high tag numbers are not used here
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | usize::from(b);
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let header = input.len() - rest.len();
        let raw = &input[..header + len];
        Some((
            Tlv {
                tag,
                content: &rest[..len],
                raw,
            },
            &rest[len..],
        ))
    }

    /// All elements of a constructed element's content.
    pub(crate) fn children(mut content: &[u8]) -> Option<Vec<Tlv<'_>>> {
        let mut out = Vec::new();
        while !content.is_empty() {
            let (tlv, rest) = read(content)?;
            out.push(tlv);
            content = rest;
        }
        Some(out)
    }

    /// The bytes of a BIT STRING with no unused bits.
    pub(crate) fn bit_string_bytes<'a>(tlv: &Tlv<'a>) -> Option<&'a [u8]> {
        if tlv.tag != 0x03 {
            return None;
        }
        match tlv.content.split_first() {
            Some((0, bytes)) => Some(bytes),
            _ => None,
        }
    }

    /// The algorithm OID content and subjectPublicKey bits of an SPKI.
    pub(crate) fn spki_public_bits(spki: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let (outer, _) = read(spki)?;
        let fields = children(outer.content)?;
        let alg = children(fields.first()?.content)?;
        let oid = alg.first().filter(|o| o.tag == 0x06)?;
        let bits = bit_string_bytes(fields.get(1)?)?;
        Some((oid.content.to_vec(), bits.to_vec()))
    }

    pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(content);
        out
    }

    pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }

    /// A SET OF, elements sorted as DER requires.
    pub(crate) fn set(parts: &[&[u8]]) -> Vec<u8> {
        let mut sorted = parts.to_vec();
        sorted.sort();
        tlv(0x31, &sorted.concat())
    }

    pub(crate) fn oid_content(arcs: &[u64]) -> Vec<u8> {
        let mut out = Vec::new();
        let (first, rest) = match arcs {
            [a, b, rest @ ..] => (a * 40 + b, rest),
            [a] => (a * 40, &[][..]),
            [] => return out,
        };
        for arc in std::iter::once(first).chain(rest.iter().copied()) {
            let mut stack = vec![(arc & 0x7f) as u8];
            let mut v = arc >> 7;
            while v > 0 {
                stack.push(((v & 0x7f) as u8) | 0x80);
                v >>= 7;
            }
            stack.reverse();
            out.extend_from_slice(&stack);
        }
        out
    }

    pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
        tlv(0x06, &oid_content(arcs))
    }

    pub(crate) fn oid_to_string(content: &[u8]) -> Option<String> {
        let mut arcs: Vec<u64> = Vec::new();
        let mut v: u64 = 0;
        for &b in content {
            v = v.checked_mul(128)? | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (v / 40).min(2);
                    arcs.push(first);
                    arcs.push(v - first * 40);
                } else {
                    arcs.push(v);
                }
                v = 0;
            }
        }
        let strings: Vec<String> = arcs.iter().map(u64::to_string).collect();
        Some(strings.join("."))
    }

    pub(crate) fn null() -> Vec<u8> {
        vec![0x05, 0x00]
    }

    pub(crate) fn boolean(v: bool) -> Vec<u8> {
        vec![0x01, 0x01, if v { 0xff } else { 0x00 }]
    }

    /// An INTEGER from unsigned big-endian bytes.
    pub(crate) fn uint_bytes(bytes: &[u8]) -> Vec<u8> {
        let mut b = bytes;
        while b.len() > 1 && b[0] == 0 {
            b = &b[1..];
        }
        let mut content = Vec::new();
        if b.first().is_none_or(|x| x & 0x80 != 0) {
            content.push(0);
        }
        content.extend_from_slice(b);
        tlv(0x02, &content)
    }

    pub(crate) fn uint(v: u64) -> Vec<u8> {
        uint_bytes(&v.to_be_bytes())
    }

    pub(crate) fn small_int(v: u8) -> Vec<u8> {
        uint(u64::from(v))
    }

    pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
        let mut content = vec![0u8];
        content.extend_from_slice(bytes);
        tlv(0x03, &content)
    }

    pub(crate) fn octet_string(bytes: &[u8]) -> Vec<u8> {
        tlv(0x04, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::{KeyUsage, NameConstraints, pem};
    use crate::api::certificate::{OtherName, X509Subject};
    use base64::Engine as _;
    use x509_parser::prelude::*;

    fn spec_with_names() -> CertificateSpec {
        CertificateSpec {
            common_name: Some("example.com".into()),
            subject: Some(X509Subject {
                organizations: Some(vec!["Org One".into(), "Org Two".into()]),
                countries: Some(vec!["DE".into()]),
                organizational_units: Some(vec!["Unit".into()]),
                localities: Some(vec!["Berlin".into()]),
                provinces: Some(vec!["Berlin".into()]),
                street_addresses: Some(vec!["Main Street 1".into()]),
                postal_codes: Some(vec!["10115".into()]),
                serial_number: Some("1234".into()),
            }),
            dns_names: Some(vec!["example.com".into(), "www.example.com".into()]),
            ip_addresses: Some(vec!["10.0.0.1".into(), "2001:db8::1".into()]),
            uris: Some(vec!["spiffe://cluster.local/ns/default/sa/x".into()]),
            email_addresses: Some(vec!["admin@example.com".into()]),
            secret_name: "s".into(),
            ..Default::default()
        }
    }

    fn parse_csr(pem_text: &str) -> Vec<u8> {
        let blocks = pem::decode_all(pem_text.as_bytes()).unwrap();
        assert_eq!(blocks[0].label, "CERTIFICATE REQUEST");
        blocks[0].der.clone()
    }

    #[test]
    fn from_spec_defaults_and_validation() {
        assert_eq!(KeyAlgorithm::from_spec(None), Ok(KeyAlgorithm::Rsa(2048)));
        let ec = CertificatePrivateKey {
            algorithm: Some(PrivateKeyAlgorithm::Ecdsa),
            ..Default::default()
        };
        assert_eq!(
            KeyAlgorithm::from_spec(Some(&ec)),
            Ok(KeyAlgorithm::Ecdsa(256))
        );
        let bad = CertificatePrivateKey {
            algorithm: Some(PrivateKeyAlgorithm::Ecdsa),
            size: Some(255),
            ..Default::default()
        };
        assert!(KeyAlgorithm::from_spec(Some(&bad)).is_err());
        let rsa_small = CertificatePrivateKey {
            size: Some(1024),
            ..Default::default()
        };
        assert!(KeyAlgorithm::from_spec(Some(&rsa_small)).is_err());
        let ed = CertificatePrivateKey {
            algorithm: Some(PrivateKeyAlgorithm::Ed25519),
            size: Some(4096),
            ..Default::default()
        };
        assert_eq!(
            KeyAlgorithm::from_spec(Some(&ed)),
            Ok(KeyAlgorithm::Ed25519)
        );
    }

    #[test]
    fn rsa_8192_and_odd_sizes_are_refused_clearly() {
        let err = PrivateKey::generate(KeyAlgorithm::Rsa(8192)).unwrap_err();
        assert!(err.to_string().contains("8192"), "{err}");
        assert!(err.to_string().contains("not supported"), "{err}");
    }

    fn roundtrip(alg: KeyAlgorithm) -> PrivateKey {
        let key = PrivateKey::generate(alg).unwrap();
        assert_eq!(key.algorithm(), alg);
        let pkcs1 = key.to_pem(PrivateKeyEncoding::Pkcs1).unwrap();
        let pkcs8 = key.to_pem(PrivateKeyEncoding::Pkcs8).unwrap();
        match alg {
            KeyAlgorithm::Rsa(_) => assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----")),
            KeyAlgorithm::Ecdsa(_) => assert!(pkcs1.starts_with("-----BEGIN EC PRIVATE KEY-----")),
            KeyAlgorithm::Ed25519 => assert!(pkcs1.starts_with("-----BEGIN PRIVATE KEY-----")),
        }
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        for text in [&pkcs1, &pkcs8] {
            let again = PrivateKey::from_pem(text.as_bytes()).unwrap();
            assert_eq!(again.algorithm(), alg);
            assert_eq!(again.public_key_der(), key.public_key_der());
            assert_eq!(again.to_der_pkcs8(), key.to_der_pkcs8());
            assert_eq!(&again.to_pem(PrivateKeyEncoding::Pkcs1).unwrap(), &pkcs1);
        }
        // The SPKI parses and is the key's.
        let spki_der = key.public_key_der();
        let (_, spki) = SubjectPublicKeyInfo::from_der(&spki_der).unwrap();
        assert_eq!(spki.subject_public_key.data.as_ref(), key.public_key_bits());
        // Debug shows no key material.
        let dbg = format!("{key:?}");
        assert!(dbg.contains("algorithm"));
        assert!(!dbg.contains("pkcs8"));
        key
    }

    #[test]
    fn keys_roundtrip_all_algorithms() {
        for alg in [
            KeyAlgorithm::Rsa(2048),
            KeyAlgorithm::Rsa(3072),
            KeyAlgorithm::Ecdsa(256),
            KeyAlgorithm::Ecdsa(384),
            KeyAlgorithm::Ecdsa(521),
            KeyAlgorithm::Ed25519,
        ] {
            let key = roundtrip(alg);
            let spec = CertificatePrivateKey {
                algorithm: Some(match alg {
                    KeyAlgorithm::Rsa(_) => PrivateKeyAlgorithm::Rsa,
                    KeyAlgorithm::Ecdsa(_) => PrivateKeyAlgorithm::Ecdsa,
                    KeyAlgorithm::Ed25519 => PrivateKeyAlgorithm::Ed25519,
                }),
                size: match alg {
                    KeyAlgorithm::Rsa(b) | KeyAlgorithm::Ecdsa(b) => Some(b as i32),
                    KeyAlgorithm::Ed25519 => None,
                },
                ..Default::default()
            };
            assert!(key.matches_spec(Some(&spec)), "{alg}");
            assert_eq!(key.matches_spec(None), alg == KeyAlgorithm::Rsa(2048));
        }
    }

    #[test]
    fn sec1_without_public_key_and_garbage() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let info = parse_pkcs8(&key.to_der_pkcs8()).unwrap();
        let minimal = der::seq(&[
            &der::small_int(1),
            &der::octet_string(&info.inner),
            &der::tlv(0xa0, &der::oid(oids::PRIME256V1)),
        ]);
        let pem_text = pem::encode("EC PRIVATE KEY", &minimal);
        let again = PrivateKey::from_pem(pem_text.as_bytes()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());

        for junk in [
            &b"not a key"[..],
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN RSA PRIVATE KEY-----\n!!!\n-----END RSA PRIVATE KEY-----\n",
            b"-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n",
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        ] {
            assert!(PrivateKey::from_pem(junk).is_err());
        }
    }

    #[test]
    fn csr_has_subject_sans_and_usages() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let mut spec = spec_with_names();
        spec.other_names = Some(vec![OtherName {
            oid: Some("1.3.6.1.4.1.311.20.2.3".into()),
            utf8_value: Some("upn@example.com".into()),
        }]);
        spec.usages = Some(vec![KeyUsage::ServerAuth, KeyUsage::DigitalSignature]);
        let pem_text = build_csr(&spec, &key).unwrap();
        let der_bytes = parse_csr(&pem_text);
        let (_, csr) = X509CertificationRequest::from_der(&der_bytes).unwrap();
        csr.verify_signature().unwrap();
        let subject = csr.certification_request_info.subject.to_string();
        assert_eq!(
            subject,
            "C=DE, O=Org One, O=Org Two, OU=Unit, L=Berlin, ST=Berlin, streetAddress=Main Street 1, postalCode=10115, serialNumber=1234, CN=example.com"
        );
        let exts: Vec<_> = csr.requested_extensions().unwrap().collect();
        let mut saw_san = false;
        let mut saw_ku = false;
        let mut saw_eku = false;
        for ext in exts {
            match ext {
                ParsedExtension::SubjectAlternativeName(san) => {
                    saw_san = true;
                    let names: Vec<String> =
                        san.general_names.iter().map(|g| g.to_string()).collect();
                    assert!(
                        names.contains(&"DNSName(www.example.com)".to_string()),
                        "{names:?}"
                    );
                    assert!(names.iter().any(|n| n.contains("0a:00:00:01")), "{names:?}");
                    assert!(names.iter().any(|n| n.contains("spiffe://")), "{names:?}");
                    assert!(
                        names.iter().any(|n| n.contains("admin@example.com")),
                        "{names:?}"
                    );
                    assert!(
                        san.general_names
                            .iter()
                            .any(|g| matches!(g, GeneralName::OtherName(..))),
                        "{names:?}"
                    );
                }
                ParsedExtension::KeyUsage(ku) => {
                    saw_ku = true;
                    assert!(ku.digital_signature());
                    assert!(!ku.key_encipherment());
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    saw_eku = true;
                    assert!(eku.server_auth);
                }
                _ => {}
            }
        }
        assert!(saw_san && saw_ku && saw_eku);
    }

    #[test]
    fn csr_without_usages_when_disabled_and_with_ca_and_name_constraints() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let mut spec = spec_with_names();
        spec.encode_usages_in_request = Some(false);
        let der_bytes = parse_csr(&build_csr(&spec, &key).unwrap());
        let (_, csr) = X509CertificationRequest::from_der(&der_bytes).unwrap();
        csr.verify_signature().unwrap();
        assert!(
            !csr.requested_extensions()
                .unwrap()
                .any(|e| matches!(e, ParsedExtension::KeyUsage(_)))
        );

        let mut spec = spec_with_names();
        spec.is_ca = Some(true);
        spec.name_constraints = Some(NameConstraints {
            critical: Some(true),
            permitted: Some(NameConstraintItem {
                dns_domains: Some(vec!["example.com".into()]),
                ip_ranges: Some(vec!["10.0.0.0/8".into()]),
                ..Default::default()
            }),
            excluded: None,
        });
        let der_bytes = parse_csr(&build_csr(&spec, &key).unwrap());
        let (_, csr) = X509CertificationRequest::from_der(&der_bytes).unwrap();
        let exts: Vec<_> = csr.requested_extensions().unwrap().collect();
        assert!(
            exts.iter()
                .any(|e| matches!(e, ParsedExtension::BasicConstraints(bc) if bc.ca))
        );
        assert!(
            exts.iter()
                .any(|e| matches!(e, ParsedExtension::KeyUsage(k) if k.key_cert_sign()))
        );
        assert!(
            exts.iter()
                .any(|e| matches!(e, ParsedExtension::NameConstraints(_)))
        );
    }

    #[test]
    fn literal_subject_is_parsed_and_reversed() {
        let name = literal_subject_der(
            "CN=foo\\, bar,OU=a+OU=b,O=Example,DC=example,DC=com,UID=jdoe,1.2.3.4=#0c0178,C=US",
        )
        .unwrap();
        let (_, parsed) = X509Name::from_der(&name).unwrap();
        let rdns: Vec<_> = parsed.iter().collect();
        assert_eq!(rdns.len(), 8);
        assert_eq!(
            parsed.iter_common_name().next().unwrap().as_str().unwrap(),
            "foo, bar"
        );
        // The first RDN of the Name is the last of the string.
        assert_eq!(rdns[0].iter().next().unwrap().as_str().unwrap(), "US");
        assert_eq!(rdns[6].iter().count(), 2);
        let err = literal_subject_der("FOO=bar").unwrap_err();
        assert!(err.to_string().contains("unrecognized key"), "{err}");
        assert!(literal_subject_der("CN").is_err());
    }

    #[test]
    fn public_key_matches_cert_detects_mismatch() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let other = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let rc = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(key.to_der_pkcs8().as_slice()),
            &rcgen::PKCS_ECDSA_P256_SHA256,
        )
        .unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.example".to_string()])
            .unwrap()
            .self_signed(&rc)
            .unwrap();
        let pem_text = cert.pem();
        assert!(public_key_matches_cert(pem_text.as_bytes(), &key).unwrap());
        assert!(!public_key_matches_cert(pem_text.as_bytes(), &other).unwrap());
        assert!(public_key_matches_cert(b"garbage", &key).is_err());
    }

    #[test]
    fn errors_never_contain_key_material() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let pem_text = key.to_pem(PrivateKeyEncoding::Pkcs8).unwrap();
        let body: String = pem_text.lines().nth(1).unwrap().to_string();
        // Corrupt the key: truncate the DER.
        let mut der_bytes = key.to_der_pkcs8();
        der_bytes.truncate(der_bytes.len() - 5);
        let broken = pem::encode("PRIVATE KEY", &der_bytes);
        let err = PrivateKey::from_pem(broken.as_bytes()).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&body[..20]));
        assert!(!shown.contains(&BASE64.encode(&der_bytes)[..20]));
    }
}
