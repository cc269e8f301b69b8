//! The SelfSigned issuer: a certificate signed by its own private key (the
//! key of the Secret named by the CertificateRequest's
//! `cert-manager.io/private-key-secret-name` annotation).

use super::signer::{self, IssuerInfo, SignError, SignOptions, SignedCertificate};
use crate::pki::key::{PrivateKey, spki_matches};

/// Signs `csr_pem` with `key`, which must be the key the CSR was made with
/// (else [`SignError::KeyMismatch`], cert-manager's "CSR not signed by
/// referenced private key", reason `ErrorKeyMatch`). The certificate is its
/// own CA: `ca_pem` is the certificate itself.
pub fn sign(
    csr_pem: &[u8],
    key: &PrivateKey,
    opts: &SignOptions,
) -> Result<SignedCertificate, SignError> {
    let csr = signer::parse_csr(csr_pem)?;
    if !spki_matches(&csr.spki, key) {
        return Err(SignError::KeyMismatch);
    }
    let der = signer::issue(
        &csr,
        opts,
        &IssuerInfo {
            subject: &csr.subject,
            key_id: None,
            key,
            not_after_limit: None,
        },
    )?;
    let pem = signer::certificate_pem(&der);
    Ok(SignedCertificate {
        certificate_pem: pem.clone(),
        ca_pem: pem,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::certificate::{KeyUsage, PrivateKeyEncoding};
    use crate::issuers::signer::tests::{fixed_now, options, spec};
    use crate::pki::csr::build_csr;
    use crate::pki::key::{KeyAlgorithm, public_key_matches_cert};
    use x509_parser::prelude::*;

    fn pem_der(pem_text: &str) -> Vec<u8> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes()).unwrap();
        pem.contents
    }

    fn check(alg: KeyAlgorithm) {
        let key = PrivateKey::generate(alg).unwrap();
        // Round-trip through both encodings before use.
        let key = PrivateKey::from_pem(key.to_pem(PrivateKeyEncoding::Pkcs1).unwrap().as_bytes())
            .unwrap();
        let key = PrivateKey::from_pem(key.to_pem(PrivateKeyEncoding::Pkcs8).unwrap().as_bytes())
            .unwrap();
        let mut s = spec("leaf");
        s.usages = Some(vec![
            KeyUsage::DigitalSignature,
            KeyUsage::KeyEncipherment,
            KeyUsage::ServerAuth,
            KeyUsage::ClientAuth,
        ]);
        let csr = build_csr(&s, &key).unwrap();
        let mut opts = options(Duration::from_secs(3600 * 24 * 30));
        opts.usages = s.usages.clone().unwrap();
        opts.crl_distribution_points = vec!["http://crl.example.com/a.crl".into()];
        let signed = sign(csr.as_bytes(), &key, &opts).unwrap();
        assert_eq!(signed.ca_pem, signed.certificate_pem);
        assert!(public_key_matches_cert(signed.certificate_pem.as_bytes(), &key).unwrap());

        let der = pem_der(&signed.certificate_pem);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.version(), X509Version::V3);
        assert_eq!(
            cert.subject().to_string(),
            "O=Example Org, CN=leaf",
            "{alg}"
        );
        assert_eq!(cert.subject(), cert.issuer());
        assert_eq!(
            cert.validity().not_before.timestamp(),
            fixed_now().as_second()
        );
        assert_eq!(
            cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp(),
            3600 * 24 * 30
        );
        assert!(cert.tbs_certificate.raw_serial().len() <= 17);
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert!(!san.critical);
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(
            names,
            vec![
                "DNSName(leaf.example.com)".to_string(),
                "RFC822Name(a@example.com)".to_string(),
                "IPAddress(c0:00:02:01)".to_string(),
                "URI(https://example.com/x)".to_string(),
            ]
        );
        let ku = cert.key_usage().unwrap().unwrap();
        assert!(ku.critical);
        assert!(ku.value.digital_signature() && ku.value.key_encipherment());
        assert!(!ku.value.key_cert_sign());
        let eku = cert.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.server_auth && eku.value.client_auth && !eku.value.code_signing);
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && !bc.value.ca);
        // SKI present; no AKI on a self-signed certificate (as Go).
        assert!(cert.extensions().iter().any(|e| matches!(
            e.parsed_extension(),
            ParsedExtension::SubjectKeyIdentifier(_)
        )));
        assert!(!cert.extensions().iter().any(|e| matches!(
            e.parsed_extension(),
            ParsedExtension::AuthorityKeyIdentifier(_)
        )));
        assert!(cert.extensions().iter().any(|e| matches!(
            e.parsed_extension(),
            ParsedExtension::CRLDistributionPoints(_)
        )));
        // The signature verifies with the certificate's own key.
        cert.verify_signature(None).unwrap();
    }

    #[test]
    fn self_signs_rsa_2048() {
        check(KeyAlgorithm::Rsa(2048));
    }

    #[test]
    fn self_signs_rsa_3072() {
        check(KeyAlgorithm::Rsa(3072));
    }

    #[test]
    fn self_signs_rsa_4096() {
        check(KeyAlgorithm::Rsa(4096));
    }

    #[test]
    fn self_signs_ecdsa() {
        check(KeyAlgorithm::Ecdsa(256));
        check(KeyAlgorithm::Ecdsa(384));
    }

    #[test]
    fn self_signs_ecdsa_p521() {
        // x509-parser cannot verify ECDSA-SHA512; check the rest by hand.
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(521)).unwrap();
        let csr = build_csr(&spec("p521"), &key).unwrap();
        let signed = sign(csr.as_bytes(), &key, &options(Duration::from_secs(3600))).unwrap();
        let der = pem_der(&signed.certificate_pem);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.subject().to_string(), "O=Example Org, CN=p521");
        assert!(public_key_matches_cert(signed.certificate_pem.as_bytes(), &key).unwrap());
    }

    #[test]
    fn self_signs_ed25519() {
        check(KeyAlgorithm::Ed25519);
    }

    #[test]
    fn ca_request_gets_cert_sign_and_ca_true() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let mut s = spec("root");
        s.is_ca = Some(true);
        let csr = build_csr(&s, &key).unwrap();
        let mut opts = options(Duration::from_secs(3600));
        opts.is_ca = true;
        let signed = sign(csr.as_bytes(), &key, &opts).unwrap();
        let der = pem_der(&signed.certificate_pem);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert!(cert.basic_constraints().unwrap().unwrap().value.ca);
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.digital_signature() && ku.key_encipherment());

        // isCA in the CSR but not requested: refused.
        let err = sign(csr.as_bytes(), &key, &options(Duration::from_secs(3600))).unwrap_err();
        assert!(
            matches!(err, SignError::BasicConstraintsMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn default_usages_without_usages_anywhere() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let mut s = spec("d");
        s.encode_usages_in_request = Some(false);
        let csr = build_csr(&s, &key).unwrap();
        let signed = sign(csr.as_bytes(), &key, &options(Duration::from_secs(3600))).unwrap();
        let der = pem_der(&signed.certificate_pem);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.key_encipherment());
        assert!(cert.extended_key_usage().unwrap().is_none());
    }

    #[test]
    fn mismatched_key_is_refused() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let other = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let csr = build_csr(&spec("m"), &key).unwrap();
        let err = sign(csr.as_bytes(), &other, &options(Duration::from_secs(3600))).unwrap_err();
        assert_eq!(err, SignError::KeyMismatch);
        assert_eq!(err.to_string(), "CSR not signed by referenced private key");
        let other_pem = other.to_pem(PrivateKeyEncoding::Pkcs8).unwrap();
        let line = other_pem.lines().nth(1).unwrap();
        assert!(!format!("{err:?}").contains(&line[..16]));
    }

    #[test]
    fn empty_subject_makes_san_critical() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let mut s = spec("x");
        s.common_name = None;
        s.subject = None;
        let csr = build_csr(&s, &key).unwrap();
        let signed = sign(csr.as_bytes(), &key, &options(Duration::from_secs(3600))).unwrap();
        let der = pem_der(&signed.certificate_pem);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert!(cert.subject_alternative_name().unwrap().unwrap().critical);
    }
}
