//! ACME account keys: loaded from the PEM an issuer's `privateKeySecretRef` Secret
//! holds — PKCS#1 `RSA PRIVATE KEY` (what cert-manager generates), SEC1
//! `EC PRIVATE KEY`, or PKCS#8 `PRIVATE KEY` of either — or generated: RSA 2048
//! by default, as cert-manager, ECDSA P-256 (or P-384) on request.
//!
//! Decoding and encoding are certgate's own key code
//! ([`crate::pki::key::PrivateKey`]); signing is [`super::jws`].
//! `Debug` shows the algorithm and the thumbprint, never the key.

use std::fmt;

use crate::api::certificate::PrivateKeyEncoding;
use crate::pki::key::{KeyAlgorithm, KeyError, PrivateKey};

use super::jws::{Jwk, JwsAlgorithm, JwsError, SigningKey};

/// Why an account key cannot be loaded or made. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountKeyError {
    /// The PEM could not be decoded (certgate's key decoder's reason).
    #[error("{0}")]
    Decode(#[from] KeyError),
    /// A key type ACME account keys cannot be.
    #[error(
        "{0} account keys are not supported: use RSA (2048 to 4096 bits), ECDSA P-256 or ECDSA P-384"
    )]
    Unsupported(String),
    #[error("{0}")]
    Jws(#[from] JwsError),
}

/// The kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountKeyAlgorithm {
    /// RSA 2048 (cert-manager's account key).
    #[default]
    Rsa2048,
    /// RSA of another size: 3072 or 4096.
    Rsa(u32),
    EcdsaP256,
    EcdsaP384,
}

/// An account key, ready to sign requests.
pub struct AccountKey {
    private: PrivateKey,
    signing: SigningKey,
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKey")
            .field("algorithm", &self.signing.algorithm())
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

fn jws_algorithm(alg: KeyAlgorithm) -> Result<JwsAlgorithm, AccountKeyError> {
    match alg {
        KeyAlgorithm::Rsa(bits) if (2048..=4096).contains(&bits) => Ok(JwsAlgorithm::Rs256),
        KeyAlgorithm::Ecdsa(256) => Ok(JwsAlgorithm::Es256),
        KeyAlgorithm::Ecdsa(384) => Ok(JwsAlgorithm::Es384),
        other => Err(AccountKeyError::Unsupported(other.to_string())),
    }
}

impl AccountKey {
    /// A new key.
    pub fn generate(alg: AccountKeyAlgorithm) -> Result<AccountKey, AccountKeyError> {
        let alg = match alg {
            AccountKeyAlgorithm::Rsa2048 => KeyAlgorithm::Rsa(2048),
            AccountKeyAlgorithm::Rsa(bits) => KeyAlgorithm::Rsa(bits),
            AccountKeyAlgorithm::EcdsaP256 => KeyAlgorithm::Ecdsa(256),
            AccountKeyAlgorithm::EcdsaP384 => KeyAlgorithm::Ecdsa(384),
        };
        // Refuse what cannot sign before spending time generating it.
        jws_algorithm(alg)?;
        Self::from_private(PrivateKey::generate(alg)?)
    }

    /// The key in the first PEM block of `pem`: PKCS#1, SEC1 or PKCS#8.
    pub fn from_pem(pem: &[u8]) -> Result<AccountKey, AccountKeyError> {
        Self::from_private(PrivateKey::from_pem(pem)?)
    }

    fn from_private(private: PrivateKey) -> Result<AccountKey, AccountKeyError> {
        let alg = jws_algorithm(private.algorithm())?;
        let signing = SigningKey::from_pkcs8(alg, &private.to_der_pkcs8())?;
        Ok(AccountKey { private, signing })
    }

    /// The PEM to store in the account Secret, as cert-manager writes it: PKCS#1
    /// `RSA PRIVATE KEY` for RSA, SEC1 `EC PRIVATE KEY` for ECDSA.
    pub fn to_pem(&self) -> Result<String, AccountKeyError> {
        Ok(self.private.to_pem(PrivateKeyEncoding::Pkcs1)?)
    }

    /// The key as PKCS#8 DER (e.g. to hash it). Handle as a secret.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        self.private.to_der_pkcs8()
    }

    /// The JWS algorithm the key signs with.
    pub fn algorithm(&self) -> JwsAlgorithm {
        self.signing.algorithm()
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Jwk {
        self.signing.jwk()
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn thumbprint(&self) -> String {
        self.signing.jwk().thumbprint()
    }

    /// The key authorization of a challenge token (RFC 8555 §8.1).
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint())
    }

    /// What signs the requests.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC256_THUMBPRINT: &str = "C5M-E8NZwJK36uEO7oCoerdp_emGaZlVI7zy1Yn9n2g";
    const RSA_THUMBPRINT: &str = "Ptf2GWlOq7NVbw7vmujZhHKdHMxpuJcvfK06BJ4Yn-g";

    #[test]
    fn every_encoding_of_a_key_loads_as_the_same_key() {
        for (pem, alg, thumbprint) in [
            (
                include_str!("testdata/rsa2048.pem"),
                JwsAlgorithm::Rs256,
                RSA_THUMBPRINT,
            ),
            (
                include_str!("testdata/rsa2048_pkcs8.pem"),
                JwsAlgorithm::Rs256,
                RSA_THUMBPRINT,
            ),
            (
                include_str!("testdata/ec256.pem"),
                JwsAlgorithm::Es256,
                EC256_THUMBPRINT,
            ),
            // SEC1 without the public key: derived from the private scalar.
            (
                include_str!("testdata/ec256_nopub.pem"),
                JwsAlgorithm::Es256,
                EC256_THUMBPRINT,
            ),
        ] {
            let key = AccountKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(key.algorithm(), alg);
            assert_eq!(key.thumbprint(), thumbprint);
            assert_eq!(key.key_authorization("tok"), format!("tok.{thumbprint}"));
        }
    }

    #[test]
    fn keys_are_stored_as_cert_manager_stores_them() {
        let rsa = AccountKey::from_pem(include_bytes!("testdata/rsa2048_pkcs8.pem")).unwrap();
        let pem = rsa.to_pem().unwrap();
        assert!(
            pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{pem}"
        );
        assert_eq!(
            pem,
            include_str!("testdata/rsa2048.pem"),
            "PKCS#1 exactly as OpenSSL wrote it"
        );
        let ec = AccountKey::from_pem(include_bytes!("testdata/ec256.pem")).unwrap();
        let pem = ec.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{pem}");
        assert_eq!(
            AccountKey::from_pem(pem.as_bytes()).unwrap().thumbprint(),
            EC256_THUMBPRINT
        );
    }

    #[test]
    fn generated_keys_default_to_rsa_2048() {
        let key = AccountKey::generate(AccountKeyAlgorithm::default()).unwrap();
        assert_eq!(key.algorithm(), JwsAlgorithm::Rs256);
        let Jwk::Rsa { n, .. } = key.jwk() else {
            panic!("RSA")
        };
        assert_eq!(n.len() * 8, 2048);
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let again = AccountKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(again.thumbprint(), key.thumbprint());

        let ec = AccountKey::generate(AccountKeyAlgorithm::EcdsaP256).unwrap();
        assert_eq!(ec.algorithm(), JwsAlgorithm::Es256);
        assert_ne!(ec.thumbprint(), key.thumbprint());
    }

    #[test]
    fn unsupported_keys_are_refused_with_a_reason() {
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let err = AccountKey::from_pem(ed.serialize_pem().as_bytes()).unwrap_err();
        assert!(matches!(err, AccountKeyError::Unsupported(_)), "{err}");
        assert!(err.to_string().contains("Ed25519"), "{err}");
        let p521 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
        assert!(matches!(
            AccountKey::from_pem(p521.serialize_pem().as_bytes()),
            Err(AccountKeyError::Unsupported(_))
        ));
        assert!(matches!(
            AccountKey::generate(AccountKeyAlgorithm::Rsa(1024)),
            Err(AccountKeyError::Unsupported(_))
        ));
        assert!(matches!(
            AccountKey::from_pem(b"no key here"),
            Err(AccountKeyError::Decode(_))
        ));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = AccountKey::from_pem(include_bytes!("testdata/ec256.pem")).unwrap();
        let debug = format!("{key:?} {:?}", key.signing_key());
        assert!(debug.contains(EC256_THUMBPRINT), "{debug}");
        let pem = key.to_pem().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!debug.contains(&body[..20]), "{debug}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
    }
}
