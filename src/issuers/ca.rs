//! The CA issuer: signs with the key pair of a `kubernetes.io/tls` Secret.
//!
//! Conditions as cert-manager's `pkg/issuer/ca/setup.go` sets them: a Secret
//! whose data is missing or undecodable gives reason `ErrGetKeyPair`; a
//! certificate that is not a CA (or, in certgate, whose key is not the
//! Secret's key) gives `ErrInvalidKeyPair`; both with the message
//! `"Error getting keypair for CA issuer: " + error`. A usable key pair gives
//! `KeyPairVerified` / `"Signing CA verified"`.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

use super::signer::{self, IssuerInfo, SignError, SignOptions, SignedCertificate};
use crate::api::annotations::{TLS_CRT, TLS_KEY};
use crate::pki::key::{PrivateKey, spki_matches};
use crate::pki::pem;

/// Reason when the key pair cannot be read from the Secret.
pub const REASON_ERR_GET_KEY_PAIR: &str = "ErrGetKeyPair";
/// Reason when the key pair is not usable as a CA.
pub const REASON_ERR_INVALID_KEY_PAIR: &str = "ErrInvalidKeyPair";
/// Reason when the CA is usable.
pub const REASON_KEY_PAIR_VERIFIED: &str = "KeyPairVerified";
/// Prefix of the messages of both error reasons.
pub const MESSAGE_ERROR_GET_KEY_PAIR: &str = "Error getting keypair for CA issuer: ";
/// cert-manager's (unused there too) prefix for invalid key pairs.
pub const MESSAGE_ERROR_INVALID_KEY_PAIR: &str = "Invalid signing key pair: ";
/// Message when the CA is usable.
pub const MESSAGE_KEY_PAIR_VERIFIED: &str = "Signing CA verified";

/// Why a CA Secret cannot be used. Never carries key material.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CaError {
    /// A data key of the Secret is missing or empty.
    #[error("no data for {0:?} in secret")]
    MissingData(&'static str),
    /// `tls.crt` holds no decodable certificate.
    #[error("error decoding certificate PEM block: {0}")]
    DecodeCertificate(String),
    /// `tls.key` holds no decodable private key.
    #[error("{0}")]
    DecodeKey(String),
    /// The first certificate of `tls.crt` is not a CA.
    #[error("certificate is not a CA")]
    NotCa,
    /// The private key is not the certificate's.
    #[error("the private key in the secret does not match the CA certificate")]
    KeyMismatch,
}

impl CaError {
    /// The Issuer `Ready=False` condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            CaError::MissingData(_) | CaError::DecodeCertificate(_) | CaError::DecodeKey(_) => {
                REASON_ERR_GET_KEY_PAIR
            }
            CaError::NotCa | CaError::KeyMismatch => REASON_ERR_INVALID_KEY_PAIR,
        }
    }

    /// The Issuer condition message for this error.
    pub fn condition_message(&self) -> String {
        format!("{MESSAGE_ERROR_GET_KEY_PAIR}{self}")
    }
}

/// A CA certificate chain and its private key.
pub struct CaKeyPair {
    /// DER certificates of `tls.crt`, the signing CA first.
    chain: Vec<Vec<u8>>,
    key: PrivateKey,
    subject: Vec<u8>,
    key_id: Option<Vec<u8>>,
    not_after: i64,
}

impl fmt::Debug for CaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaKeyPair")
            .field("chain_len", &self.chain.len())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl CaKeyPair {
    /// Loads the key pair from the Secret's data (`tls.crt`, `tls.key`).
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<CaKeyPair, CaError> {
        let crt = data
            .get(TLS_CRT)
            .filter(|v| !v.is_empty())
            .ok_or(CaError::MissingData(TLS_CRT))?;
        let key_bytes = data
            .get(TLS_KEY)
            .filter(|v| !v.is_empty())
            .ok_or(CaError::MissingData(TLS_KEY))?;

        let blocks = pem::decode_all(crt).map_err(|e| CaError::DecodeCertificate(e.to_string()))?;
        let chain: Vec<Vec<u8>> = blocks
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| b.der)
            .collect();
        let Some(first) = chain.first() else {
            return Err(CaError::DecodeCertificate("no certificate found".into()));
        };
        for der in &chain {
            x509_parser::parse_x509_certificate(der)
                .map_err(|e| CaError::DecodeCertificate(e.to_string()))?;
        }
        let key = PrivateKey::from_pem(key_bytes).map_err(|e| CaError::DecodeKey(e.to_string()))?;

        let (_, cert) = x509_parser::parse_x509_certificate(first)
            .map_err(|e| CaError::DecodeCertificate(e.to_string()))?;
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        if !is_ca {
            return Err(CaError::NotCa);
        }
        if !spki_matches(cert.public_key().raw, &key) {
            return Err(CaError::KeyMismatch);
        }
        let key_id = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(id.0.to_vec())
                }
                _ => None,
            });
        let subject = cert.tbs_certificate.subject.as_raw().to_vec();
        let not_after = cert.validity().not_after.timestamp();
        drop(cert);
        Ok(CaKeyPair {
            chain,
            key,
            subject,
            key_id,
            not_after,
        })
    }

    /// Signs `csr_pem`. `certificate_pem` is the leaf followed by the CA's
    /// chain without a self-signed root (cert-manager's
    /// `ParseSingleCertificateChain`); `ca_pem` is the last certificate of
    /// the CA's chain. The certificate's notAfter never exceeds the CA's.
    pub fn sign(&self, csr_pem: &[u8], opts: &SignOptions) -> Result<SignedCertificate, SignError> {
        let csr = signer::parse_csr(csr_pem)?;
        let leaf = signer::issue(
            &csr,
            opts,
            &IssuerInfo {
                subject: &self.subject,
                key_id: self.key_id.as_deref(),
                key: &self.key,
                not_after_limit: Some(self.not_after),
            },
        )?;
        let mut certificate_pem = signer::certificate_pem(&leaf);
        let last = self.chain.len().saturating_sub(1);
        for (i, der) in self.chain.iter().enumerate() {
            if i < last || !is_self_signed(der) {
                certificate_pem.push_str(&signer::certificate_pem(der));
            }
        }
        let ca_pem = self
            .chain
            .last()
            .map(|der| signer::certificate_pem(der))
            .unwrap_or_default();
        Ok(SignedCertificate {
            certificate_pem,
            ca_pem,
        })
    }

    /// PEM of the CA certificate that signs (the first of `tls.crt`).
    pub fn certificate_pem(&self) -> String {
        self.chain
            .first()
            .map(|der| signer::certificate_pem(der))
            .unwrap_or_default()
    }
}

/// Whether the certificate's issuer is its subject and its signature verifies with its own key.
fn is_self_signed(der: &[u8]) -> bool {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            cert.tbs_certificate.subject.as_raw() == cert.tbs_certificate.issuer.as_raw()
                && cert.verify_signature(None).is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::certificate::PrivateKeyEncoding;
    use crate::issuers::selfsigned;
    use crate::issuers::signer::tests::{options, spec};
    use crate::pki::csr::build_csr;
    use crate::pki::key::KeyAlgorithm;
    use crate::pki::pem;
    use x509_parser::prelude::*;

    fn self_signed_ca(alg: KeyAlgorithm, cn: &str) -> (PrivateKey, String) {
        let key = PrivateKey::generate(alg).unwrap();
        let mut s = spec(cn);
        s.is_ca = Some(true);
        let csr = build_csr(&s, &key).unwrap();
        let mut opts = options(Duration::from_secs(3600 * 24 * 365));
        opts.is_ca = true;
        let signed = selfsigned::sign(csr.as_bytes(), &key, &opts).unwrap();
        (key, signed.certificate_pem)
    }

    fn secret(cert_pem: &str, key: &PrivateKey) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            (TLS_CRT.to_string(), cert_pem.as_bytes().to_vec()),
            (
                TLS_KEY.to_string(),
                key.to_pem(PrivateKeyEncoding::Pkcs1).unwrap().into_bytes(),
            ),
        ])
    }

    fn ders(pem_text: &str) -> Vec<Vec<u8>> {
        pem::decode_all(pem_text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|b| b.der)
            .collect()
    }

    #[test]
    fn signs_with_root_ca() {
        let (ca_key, ca_pem) = self_signed_ca(KeyAlgorithm::Ecdsa(384), "root");
        let ca = CaKeyPair::from_secret_data(&secret(&ca_pem, &ca_key)).unwrap();
        assert!(!format!("{ca:?}").contains("BEGIN"));

        let leaf_key = PrivateKey::generate(KeyAlgorithm::Rsa(2048)).unwrap();
        let csr = build_csr(&spec("leaf"), &leaf_key).unwrap();
        let mut opts = options(Duration::from_secs(3600 * 24));
        opts.crl_distribution_points = vec!["http://crl.example.com/ca.crl".into()];
        opts.ocsp_servers = vec!["http://ocsp.example.com".into()];
        opts.issuing_certificate_urls = vec!["http://ca.example.com/ca.crt".into()];
        let signed = ca.sign(csr.as_bytes(), &opts).unwrap();

        // Root CA: chain is the leaf only; ca.crt is the root.
        let chain = ders(&signed.certificate_pem);
        assert_eq!(chain.len(), 1);
        assert_eq!(ders(&signed.ca_pem), ders(&ca_pem));

        let (_, leaf) = X509Certificate::from_der(&chain[0]).unwrap();
        let ca_der = ders(&ca_pem).remove(0);
        let (_, root) = X509Certificate::from_der(&ca_der).unwrap();
        assert_eq!(leaf.issuer(), root.subject());
        leaf.verify_signature(Some(root.public_key())).unwrap();
        assert!(!leaf.basic_constraints().unwrap().unwrap().value.ca);

        // AKI = the CA's SKI.
        let ski = root
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                _ => None,
            });
        let aki = leaf
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    aki.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            });
        assert!(ski.is_some());
        assert_eq!(aki, ski);

        let mut saw = (false, false, false);
        for ext in leaf.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::CRLDistributionPoints(points) => {
                    saw.0 = format!("{points:?}").contains("crl.example.com");
                }
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    let text = format!("{aia:?}");
                    saw.1 = text.contains("ocsp.example.com");
                    saw.2 = text.contains("ca.example.com/ca.crt");
                }
                _ => {}
            }
        }
        assert_eq!(saw, (true, true, true));
    }

    #[test]
    fn signs_with_intermediate_ca_and_appends_chain() {
        let (root_key, root_pem) = self_signed_ca(KeyAlgorithm::Ed25519, "root");
        let root = CaKeyPair::from_secret_data(&secret(&root_pem, &root_key)).unwrap();

        let int_key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let mut s = spec("intermediate");
        s.is_ca = Some(true);
        let csr = build_csr(&s, &int_key).unwrap();
        let mut opts = options(Duration::from_secs(3600 * 24 * 30));
        opts.is_ca = true;
        let int_signed = root.sign(csr.as_bytes(), &opts).unwrap();
        // tls.crt of the intermediate as cert-manager writes it: intermediate (root omitted).
        assert_eq!(ders(&int_signed.certificate_pem).len(), 1);

        // Intermediate Secret holding intermediate + root.
        let tls_crt = format!("{}{}", int_signed.certificate_pem, int_signed.ca_pem);
        let intermediate = CaKeyPair::from_secret_data(&secret(&tls_crt, &int_key)).unwrap();
        let leaf_key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let csr = build_csr(&spec("leaf"), &leaf_key).unwrap();
        let signed = intermediate
            .sign(
                csr.as_bytes(),
                &options(Duration::from_secs(3600 * 24 * 365 * 5)),
            )
            .unwrap();
        let chain = ders(&signed.certificate_pem);
        assert_eq!(chain.len(), 2, "leaf + intermediate");
        assert_eq!(chain[1], ders(&int_signed.certificate_pem)[0]);
        assert_eq!(ders(&signed.ca_pem), ders(&root_pem));
        let (_, leaf) = X509Certificate::from_der(&chain[0]).unwrap();
        let (_, int_cert) = X509Certificate::from_der(&chain[1]).unwrap();
        leaf.verify_signature(Some(int_cert.public_key())).unwrap();
        // Lifetime capped at the intermediate's notAfter.
        assert_eq!(leaf.validity().not_after, int_cert.validity().not_after);
    }

    #[test]
    fn secret_errors_map_to_cert_manager_reasons() {
        let (ca_key, ca_pem) = self_signed_ca(KeyAlgorithm::Ecdsa(256), "root");

        let err = CaKeyPair::from_secret_data(&BTreeMap::new()).unwrap_err();
        assert_eq!(err.reason(), REASON_ERR_GET_KEY_PAIR);
        assert_eq!(
            err.condition_message(),
            "Error getting keypair for CA issuer: no data for \"tls.crt\" in secret"
        );

        let mut data = secret(&ca_pem, &ca_key);
        data.remove(TLS_KEY);
        assert_eq!(
            CaKeyPair::from_secret_data(&data).unwrap_err(),
            CaError::MissingData(TLS_KEY)
        );

        let mut data = secret(&ca_pem, &ca_key);
        data.insert(TLS_KEY.into(), b"garbage".to_vec());
        let err = CaKeyPair::from_secret_data(&data).unwrap_err();
        assert_eq!(err.reason(), REASON_ERR_GET_KEY_PAIR);

        // Key that does not match the certificate.
        let other = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let err = CaKeyPair::from_secret_data(&secret(&ca_pem, &other)).unwrap_err();
        assert_eq!(err, CaError::KeyMismatch);
        assert_eq!(err.reason(), REASON_ERR_INVALID_KEY_PAIR);
        assert!(
            err.condition_message()
                .starts_with("Error getting keypair for CA issuer: ")
        );
        let shown = format!("{err} {err:?} {}", err.condition_message());
        for key in [&other, &ca_key] {
            let text = key.to_pem(PrivateKeyEncoding::Pkcs1).unwrap();
            for line in text.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!shown.contains(&line[..line.len().min(16)]));
            }
        }

        // A leaf certificate is not a CA.
        let leaf_key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let csr = build_csr(&spec("leaf"), &leaf_key).unwrap();
        let leaf = selfsigned::sign(
            csr.as_bytes(),
            &leaf_key,
            &options(Duration::from_secs(3600)),
        )
        .unwrap();
        let err =
            CaKeyPair::from_secret_data(&secret(&leaf.certificate_pem, &leaf_key)).unwrap_err();
        assert_eq!(err, CaError::NotCa);
        assert_eq!(err.reason(), REASON_ERR_INVALID_KEY_PAIR);
        assert_eq!(
            err.condition_message(),
            "Error getting keypair for CA issuer: certificate is not a CA"
        );
    }
}
