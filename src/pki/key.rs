//! Private keys, as cert-manager makes and reads them.
//!
//! Keys are generated and used through `rcgen` (backed by aws-lc-rs); the
//! encodings cert-manager writes (PKCS#1 `RSA PRIVATE KEY`, SEC1
//! `EC PRIVATE KEY`, PKCS#8 `PRIVATE KEY`) are written by [`crate::pki::der`];
//! requests are built in [`crate::pki::csr`].
//!
//! Nothing in this module ever formats private key material: [`PrivateKey`]'s
//! `Debug` prints only the algorithm and [`KeyError`] carries no key bytes.

use std::fmt;

use rcgen::{PublicKeyData as _, SigningKey as _};
use rustls::pki_types::PrivatePkcs8KeyDer;
use thiserror::Error;

use crate::api::certificate::key_sizes;
use crate::api::certificate::{
    CertificatePrivateKey, PrivateKeyAlgorithm, PrivateKeyEncoding, SignatureAlgorithm,
};
use crate::pki::{der, oids, parse, pem};

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

pub use crate::api::certificate::key_sizes::{
    ECDSA_DEFAULT as DEFAULT_ECDSA_KEY_SIZE, RSA_DEFAULT as DEFAULT_RSA_KEY_SIZE,
    RSA_MAX as MAX_RSA_KEY_SIZE, RSA_MIN as MIN_RSA_KEY_SIZE,
};

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
                s if key_sizes::allowed(PrivateKeyAlgorithm::Ecdsa, i64::from(s)) == Some(true) => {
                    Ok(KeyAlgorithm::Ecdsa(size.unsigned_abs()))
                }
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

    pub(crate) fn from_api(alg: SignatureAlgorithm) -> SigAlg {
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
        let info = decode("PRIVATE KEY", pair.serialized_der())
            .map_err(|e| KeyError::Generate(e.to_string()))?;
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
        Self::from_parsed(decode(&block.label, &block.der)?)
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
        let info = decode("PRIVATE KEY", &self.pkcs8)?;
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
pub(crate) fn csr_sig_alg(alg: KeyAlgorithm) -> SigAlg {
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

/// The key `label`ed PEM block's `der` holds, through the one decoder of
/// [`crate::pki::parse`].
fn decode(label: &str, der: &[u8]) -> Result<KeyInfo, KeyError> {
    let decoded = parse::decode_private_key_der(label, der).map_err(|e| match e {
        parse::KeyDecodeError::UnknownPkcs8Algorithm(oid) => {
            KeyError::UnsupportedAlgorithm(format!("PKCS#8 key with algorithm OID {oid}"))
        }
        parse::KeyDecodeError::UnknownType(label) => {
            KeyError::Decode(format!("unknown private key type {label:?}"))
        }
        other => KeyError::Decode(other.to_string()),
    })?;
    let (algorithm, public) = match decoded.info.algorithm {
        parse::KeyType::Rsa { bits } => (
            KeyAlgorithm::Rsa(u32::try_from(bits).unwrap_or(u32::MAX)),
            None,
        ),
        parse::KeyType::Ecdsa { curve } => {
            let bits = match curve {
                parse::EcCurve::P256 => 256,
                parse::EcCurve::P384 => 384,
                parse::EcCurve::P521 => 521,
                parse::EcCurve::P224 => {
                    return Err(KeyError::UnsupportedAlgorithm(
                        "unsupported elliptic curve P-224".into(),
                    ));
                }
            };
            let point = match decoded.info.public_key {
                Some(parse::PublicKeyData::Ec { point, .. }) => Some(point),
                _ => None,
            };
            (KeyAlgorithm::Ecdsa(bits), point)
        }
        parse::KeyType::Ed25519 => {
            let public = match decoded.info.public_key {
                Some(parse::PublicKeyData::Ed25519(p)) => Some(p),
                _ => None,
            };
            (KeyAlgorithm::Ed25519, public)
        }
    };
    Ok(KeyInfo {
        algorithm,
        inner: decoded.private,
        public,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::certificate::{CertificateSpec, KeyUsage, NameConstraintItem, NameConstraints};
    use crate::api::certificate::{OtherName, X509Subject};
    use crate::pki::csr::*;
    use crate::pki::pem;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use x509_parser::prelude::*;

    fn spec_with_names() -> CertificateSpec {
        CertificateSpec {
            common_name: Some("example.com".into()),
            subject: Some(Box::new(X509Subject {
                organizations: Some(vec!["Org One".into(), "Org Two".into()]),
                countries: Some(vec!["DE".into()]),
                organizational_units: Some(vec!["Unit".into()]),
                localities: Some(vec!["Berlin".into()]),
                provinces: Some(vec!["Berlin".into()]),
                street_addresses: Some(vec!["Main Street 1".into()]),
                postal_codes: Some(vec!["10115".into()]),
                serial_number: Some("1234".into()),
            })),
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
        let info = decode("PRIVATE KEY", &key.to_der_pkcs8()).unwrap();
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
        spec.name_constraints = Some(Box::new(NameConstraints {
            critical: Some(true),
            permitted: Some(NameConstraintItem {
                dns_domains: Some(vec!["example.com".into()]),
                ip_ranges: Some(vec!["10.0.0.0/8".into()]),
                ..Default::default()
            }),
            excluded: None,
        }));
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
