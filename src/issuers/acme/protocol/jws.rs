//! JSON Web Signatures as ACME uses them (RFC 8555 §6.2): the flattened JSON
//! serialization, signed with the account key — ES256 (P-256), ES384 (P-384) or
//! RS256 (RSA 2048–4096) — and identified by `jwk` (newAccount) or `kid` (the
//! account URL, everything else); the public key as a JWK and its RFC 7638
//! thumbprint; and the HS256 external account binding (§7.3.4).
//!
//! All cryptography is aws-lc-rs. Neither [`SigningKey`] nor [`EabKey`] ever
//! prints its secret: their `Debug` shows the algorithm and public parts only.

use std::fmt;

use aws_lc_rs::{hmac, rand::SystemRandom, rsa, signature};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};

/// Why a key cannot sign, or a signature cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// aws-lc-rs refused the key (its reason names no key bytes).
    #[error("the account key is not a usable {alg} key: {reason}")]
    KeyRejected { alg: &'static str, reason: String },
    /// An RSA key outside 2048–4096 bits.
    #[error("RSA account keys must have 2048 to 4096 bits, this one has {0}")]
    RsaKeySize(usize),
    #[error("signing the request failed")]
    Sign,
    #[error("the external account binding key is empty")]
    EmptyEabKey,
    #[error("the external account binding key is not base64url: {0}")]
    EabKeyEncoding(String),
}

/// The JWS algorithms an account key signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl JwsAlgorithm {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlgorithm::Es256 => "ES256",
            JwsAlgorithm::Es384 => "ES384",
            JwsAlgorithm::Rs256 => "RS256",
        }
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A public key as a JWK (RFC 7517/7518), with exactly the members RFC 7638 hashes.
#[derive(Clone, PartialEq, Eq)]
pub enum Jwk {
    /// `{"crv","kty":"EC","x","y"}`; `x` and `y` are padded to the curve's size.
    Ec {
        crv: &'static str,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    /// `{"e","kty":"RSA","n"}`; big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl Jwk {
    /// The JWK's required members in lexicographic order with no whitespace: the
    /// input of the RFC 7638 thumbprint, and a valid JWK as it is.
    pub fn canonical_json(&self) -> String {
        // Every value is base64url or a fixed name: nothing needs JSON escaping.
        match self {
            Jwk::Ec { crv, x, y } => format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                B64URL.encode(x),
                B64URL.encode(y)
            ),
            Jwk::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                B64URL.encode(e),
                B64URL.encode(n)
            ),
        }
    }

    /// The JWK as a JSON value (for the `jwk` header).
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Jwk::Ec { crv, x, y } => serde_json::json!({
                "crv": crv, "kty": "EC", "x": B64URL.encode(x), "y": B64URL.encode(y),
            }),
            Jwk::Rsa { n, e } => serde_json::json!({
                "e": B64URL.encode(e), "kty": "RSA", "n": B64URL.encode(n),
            }),
        }
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url (as in key authorizations).
    pub fn thumbprint(&self) -> String {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.canonical_json().as_bytes());
        B64URL.encode(digest.as_ref())
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical_json())
    }
}

enum Inner {
    Ecdsa(signature::EcdsaKeyPair),
    Rsa(rsa::KeyPair),
}

/// An account key loaded for signing. `Debug` shows the algorithm and thumbprint.
pub struct SigningKey {
    alg: JwsAlgorithm,
    inner: Inner,
    jwk: Jwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("thumbprint", &self.jwk.thumbprint())
            .finish_non_exhaustive()
    }
}

fn rejected(alg: JwsAlgorithm) -> impl Fn(aws_lc_rs::error::KeyRejected) -> JwsError {
    move |e| JwsError::KeyRejected {
        alg: alg.as_str(),
        reason: e.to_string(),
    }
}

impl SigningKey {
    /// Loads a PKCS#8 private key to sign with `alg`.
    pub fn from_pkcs8(alg: JwsAlgorithm, pkcs8: &[u8]) -> Result<SigningKey, JwsError> {
        let (inner, jwk) = match alg {
            JwsAlgorithm::Es256 | JwsAlgorithm::Es384 => {
                let (sig_alg, crv, size) = if alg == JwsAlgorithm::Es256 {
                    (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32)
                } else {
                    (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48)
                };
                let pair =
                    signature::EcdsaKeyPair::from_pkcs8(sig_alg, pkcs8).map_err(rejected(alg))?;
                // The uncompressed point: 0x04 || X || Y.
                let point = signature::KeyPair::public_key(&pair).as_ref().to_vec();
                if point.len() != 1 + 2 * size || point.first() != Some(&0x04) {
                    return Err(JwsError::KeyRejected {
                        alg: alg.as_str(),
                        reason: "unexpected public key encoding".into(),
                    });
                }
                let jwk = Jwk::Ec {
                    crv,
                    x: point[1..1 + size].to_vec(),
                    y: point[1 + size..].to_vec(),
                };
                (Inner::Ecdsa(pair), jwk)
            }
            JwsAlgorithm::Rs256 => {
                let pair = rsa::KeyPair::from_pkcs8(pkcs8).map_err(rejected(alg))?;
                let bits = pair.public_modulus_len() * 8;
                if !(2048..=4096).contains(&bits) {
                    return Err(JwsError::RsaKeySize(bits));
                }
                let public: rsa::PublicKeyComponents<Vec<u8>> =
                    signature::KeyPair::public_key(&pair).into();
                let jwk = Jwk::Rsa {
                    n: strip_zeros(public.n),
                    e: strip_zeros(public.e),
                };
                (Inner::Rsa(pair), jwk)
            }
        };
        Ok(SigningKey { alg, inner, jwk })
    }

    pub fn algorithm(&self) -> JwsAlgorithm {
        self.alg
    }

    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The JWS signature of `message`: `r || s` for ECDSA, PKCS#1 v1.5 for RSA.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JwsError> {
        let rng = SystemRandom::new();
        match &self.inner {
            Inner::Ecdsa(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JwsError::Sign),
            Inner::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| JwsError::Sign)?;
                Ok(sig)
            }
        }
    }
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros.min(v.len().saturating_sub(1)));
    v
}

/// How a request names its key: the whole public key (newAccount, or a request
/// before the account URL is known), or the account URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyId<'a> {
    Jwk,
    Kid(&'a str),
}

/// A JWS in the flattened JSON serialization (RFC 7515 §7.2.2), the body of every
/// ACME POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jws {
    pub protected: String,
    pub payload: String,
    pub signature: String,
}

impl Jws {
    /// The serialized request body.
    pub fn to_body(&self) -> Vec<u8> {
        // Three strings: serialisation cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Signs a request to `url` with `nonce`. `payload` `None` is a POST-as-GET (the
/// empty payload, RFC 8555 §6.3); `Some(bytes)` is a JSON body.
pub fn sign(
    key: &SigningKey,
    key_id: KeyId<'_>,
    nonce: &str,
    url: &str,
    payload: Option<&[u8]>,
) -> Result<Jws, JwsError> {
    let mut header = serde_json::json!({
        "alg": key.alg.as_str(),
        "nonce": nonce,
        "url": url,
    });
    match key_id {
        KeyId::Jwk => header["jwk"] = key.jwk.to_value(),
        KeyId::Kid(kid) => header["kid"] = serde_json::Value::from(kid),
    }
    let protected = B64URL.encode(header.to_string());
    let payload = payload.map(|p| B64URL.encode(p)).unwrap_or_default();
    let signature = key.sign(format!("{protected}.{payload}").as_bytes())?;
    Ok(Jws {
        protected,
        payload,
        signature: B64URL.encode(signature),
    })
}

/// An external account binding key: the CA's key ID and HMAC key. `Debug` shows
/// the key ID only.
pub struct EabKey {
    key_id: String,
    key: hmac::Key,
}

impl fmt::Debug for EabKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EabKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl EabKey {
    /// The key the CA gave, as raw bytes.
    pub fn new(key_id: impl Into<String>, hmac_key: &[u8]) -> Result<EabKey, JwsError> {
        if hmac_key.is_empty() {
            return Err(JwsError::EmptyEabKey);
        }
        Ok(EabKey {
            key_id: key_id.into(),
            key: hmac::Key::new(hmac::HMAC_SHA256, hmac_key),
        })
    }

    /// The key the CA gave, base64url-encoded as CAs hand it out (padding and
    /// surrounding whitespace tolerated, as cert-manager does).
    pub fn from_base64url(key_id: impl Into<String>, encoded: &str) -> Result<EabKey, JwsError> {
        let raw = B64URL
            .decode(encoded.trim().trim_end_matches('='))
            .map_err(|e| JwsError::EabKeyEncoding(e.to_string()))?;
        EabKey::new(key_id, &raw)
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// The `externalAccountBinding` of a newAccount request (RFC 8555 §7.3.4): the
/// account's JWK, MACed with HS256 under the EAB key, for `new_account_url`.
pub fn external_account_binding(
    eab: &EabKey,
    account_jwk: &Jwk,
    new_account_url: &str,
) -> Result<Jws, JwsError> {
    let header = serde_json::json!({
        "alg": "HS256",
        "kid": eab.key_id,
        "url": new_account_url,
    });
    let protected = B64URL.encode(header.to_string());
    let payload = B64URL.encode(account_jwk.canonical_json());
    let tag = hmac::sign(&eab.key, format!("{protected}.{payload}").as_bytes());
    Ok(Jws {
        protected,
        payload,
        signature: B64URL.encode(tag.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::UnparsedPublicKey;

    fn b64(s: &str) -> Vec<u8> {
        B64URL.decode(s).unwrap()
    }

    fn pkcs8_of(pem: &str) -> (JwsAlgorithm, Vec<u8>) {
        let key =
            crate::issuers::acme::protocol::keys::AccountKey::from_pem(pem.as_bytes()).unwrap();
        (key.algorithm(), key.to_pkcs8_der())
    }

    fn decoded_header(jws: &Jws) -> serde_json::Value {
        serde_json::from_slice(&b64(&jws.protected)).unwrap()
    }

    #[test]
    fn rfc7638_rsa_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = Jwk::Rsa {
            n: b64(
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            ),
            e: b64("AQAB"),
        };
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn thumbprints_of_fixed_keys() {
        // Expected values computed independently (OpenSSL keys, Python's
        // `cryptography` for the public numbers, RFC 7638 by hand).
        for (pem, alg, thumbprint) in [
            (
                include_str!("testdata/ec256.pem"),
                JwsAlgorithm::Es256,
                "C5M-E8NZwJK36uEO7oCoerdp_emGaZlVI7zy1Yn9n2g",
            ),
            (
                include_str!("testdata/ec384_pkcs8.pem"),
                JwsAlgorithm::Es384,
                "6jBlkXusTlUX9JgsO7d7McZ1Pl1VMjoj0LPG2rjhc74",
            ),
            (
                include_str!("testdata/rsa2048.pem"),
                JwsAlgorithm::Rs256,
                "Ptf2GWlOq7NVbw7vmujZhHKdHMxpuJcvfK06BJ4Yn-g",
            ),
        ] {
            let (got_alg, der) = pkcs8_of(pem);
            assert_eq!(got_alg, alg);
            let key = SigningKey::from_pkcs8(alg, &der).unwrap();
            assert_eq!(key.jwk().thumbprint(), thumbprint, "{alg}");
            // The JWK's members are the canonical ones.
            let v = key.jwk().to_value();
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                key.jwk().canonical_json()
            );
        }
    }

    #[test]
    fn es256_signatures_verify_with_the_jwk_public_key() {
        let (_, der) = pkcs8_of(include_str!("testdata/ec256.pem"));
        let key = SigningKey::from_pkcs8(JwsAlgorithm::Es256, &der).unwrap();
        let jws = sign(
            &key,
            KeyId::Kid("https://ca.test/acct/1"),
            "nonce-1",
            "https://ca.test/new-order",
            Some(br#"{"identifiers":[]}"#),
        )
        .unwrap();
        let header = decoded_header(&jws);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "https://ca.test/acct/1");
        assert_eq!(header["nonce"], "nonce-1");
        assert_eq!(header["url"], "https://ca.test/new-order");
        assert!(header.get("jwk").is_none(), "kid and jwk are exclusive");
        assert_eq!(b64(&jws.payload), br#"{"identifiers":[]}"#);

        let Jwk::Ec { x, y, .. } = key.jwk() else {
            panic!("an EC key")
        };
        let mut point = vec![0x04];
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let sig = b64(&jws.signature);
        assert_eq!(sig.len(), 64, "r || s, 32 bytes each");
        let public = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point);
        let signed = format!("{}.{}", jws.protected, jws.payload);
        public.verify(signed.as_bytes(), &sig).unwrap();
        assert!(public.verify(b"something else", &sig).is_err());
    }

    #[test]
    fn es384_signatures_verify() {
        let (_, der) = pkcs8_of(include_str!("testdata/ec384_pkcs8.pem"));
        let key = SigningKey::from_pkcs8(JwsAlgorithm::Es384, &der).unwrap();
        let jws = sign(&key, KeyId::Jwk, "n", "https://ca.test/x", None).unwrap();
        let Jwk::Ec { crv, x, y } = key.jwk() else {
            panic!("an EC key")
        };
        assert_eq!(*crv, "P-384");
        let mut point = vec![0x04];
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let sig = b64(&jws.signature);
        assert_eq!(sig.len(), 96);
        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &point)
            .verify(
                format!("{}.{}", jws.protected, jws.payload).as_bytes(),
                &sig,
            )
            .unwrap();
    }

    #[test]
    fn rs256_signatures_verify_with_the_jwk_public_key() {
        let (_, der) = pkcs8_of(include_str!("testdata/rsa2048.pem"));
        let key = SigningKey::from_pkcs8(JwsAlgorithm::Rs256, &der).unwrap();
        let jws = sign(
            &key,
            KeyId::Jwk,
            "nonce-2",
            "https://ca.test/new-acct",
            None,
        )
        .unwrap();
        let header = decoded_header(&jws);
        assert_eq!(header["alg"], "RS256");
        assert!(header.get("kid").is_none());
        assert_eq!(header["jwk"], key.jwk().to_value());
        assert_eq!(jws.payload, "", "POST-as-GET has the empty payload");

        let Jwk::Rsa { n, e } = key.jwk() else {
            panic!("an RSA key")
        };
        assert_eq!(n.len(), 256);
        let public = signature::RsaPublicKeyComponents { n, e };
        let sig = b64(&jws.signature);
        public
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                format!("{}.{}", jws.protected, jws.payload).as_bytes(),
                &sig,
            )
            .unwrap();
        assert!(
            public
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, b"tampered", &sig)
                .is_err()
        );
    }

    #[test]
    fn the_wrong_algorithm_for_a_key_is_refused() {
        let (_, ec) = pkcs8_of(include_str!("testdata/ec256.pem"));
        assert!(matches!(
            SigningKey::from_pkcs8(JwsAlgorithm::Rs256, &ec),
            Err(JwsError::KeyRejected { .. })
        ));
        assert!(matches!(
            SigningKey::from_pkcs8(JwsAlgorithm::Es384, &ec),
            Err(JwsError::KeyRejected { .. })
        ));
    }

    #[test]
    fn external_account_binding_is_hs256_over_the_account_jwk() {
        let (_, der) = pkcs8_of(include_str!("testdata/ec256.pem"));
        let key = SigningKey::from_pkcs8(JwsAlgorithm::Es256, &der).unwrap();
        let hmac_key = b"a secret HMAC key of some length";
        let eab = EabKey::new("kid-1", hmac_key).unwrap();
        let jws = external_account_binding(&eab, key.jwk(), "https://ca.test/new-acct").unwrap();
        let header = decoded_header(&jws);
        assert_eq!(
            header,
            serde_json::json!({"alg": "HS256", "kid": "kid-1", "url": "https://ca.test/new-acct"})
        );
        assert_eq!(b64(&jws.payload), key.jwk().canonical_json().as_bytes());
        let check = hmac::Key::new(hmac::HMAC_SHA256, hmac_key);
        hmac::verify(
            &check,
            format!("{}.{}", jws.protected, jws.payload).as_bytes(),
            &b64(&jws.signature),
        )
        .unwrap();
        let other = hmac::Key::new(hmac::HMAC_SHA256, b"another key");
        assert!(
            hmac::verify(
                &other,
                format!("{}.{}", jws.protected, jws.payload).as_bytes(),
                &b64(&jws.signature),
            )
            .is_err()
        );

        // The key never shows.
        let debug = format!("{eab:?}");
        assert!(
            debug.contains("kid-1") && !debug.contains("secret"),
            "{debug}"
        );
        let from_text = EabKey::from_base64url("kid-1", &format!(" {}= ", B64URL.encode(hmac_key)));
        assert!(from_text.is_ok());
        assert_eq!(EabKey::new("k", b"").unwrap_err(), JwsError::EmptyEabKey);
        assert!(matches!(
            EabKey::from_base64url("k", "not base64url!"),
            Err(JwsError::EabKeyEncoding(_))
        ));
    }
}
