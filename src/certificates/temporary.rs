//! Temporary certificates (`cert-manager.io/issue-temporary-certificate: "true"`), as
//! cert-manager's issuing controller makes them: while the next revision's
//! CertificateRequest is pending and the Secret holds no usable key pair, the Secret
//! gets the next private key and a certificate for it signed by a one-use CA
//! (`CN=cert-manager.local`, ECDSA P-521, discarded at once), so a load balancer that
//! needs *some* certificate (ingress-gce) can come up before the real one arrives.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::annotations::{ISSUE_TEMPORARY_CERTIFICATE, TLS_CRT, TLS_KEY};
use crate::certificates::policy::{PolicyInput, temporary_certificate_chain};
use crate::certificates::snapshot::{Snapshot, request_condition, request_failed};
use crate::issuers::ca::CaKeyPair;
use crate::issuers::signer::SignOptions;

/// The common name of the one-use CA (cert-manager's).
pub const TEMPORARY_CA_COMMON_NAME: &str = "cert-manager.local";

/// Why a temporary certificate could not be made. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum TemporaryError {
    #[error("cannot make the one-use CA: {0}")]
    Ca(String),
    #[error("cannot sign the temporary certificate: {0}")]
    Sign(#[from] crate::issuers::signer::SignError),
}

/// Whether the Certificate asks for temporary certificates.
pub fn requested(s: &Snapshot) -> bool {
    s.certificate
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ISSUE_TEMPORARY_CERTIFICATE))
        .is_some_and(|v| v == "true")
}

/// The pending request to make a temporary certificate for (pure): the Certificate
/// asks for one, an issuance is in progress with its next key, its request is
/// neither ready nor failed, and the Secret is missing, lacks data, or holds a
/// certificate whose key is not `tls.key`.
pub fn wanted(s: &Snapshot) -> Option<String> {
    if !requested(s) || !s.issuing() {
        return None;
    }
    s.next_key.as_ref()?.pem.as_ref()?;
    let req = s.next_request()?;
    let ready = request_condition(req, "Ready")
        .is_some_and(|c| c.status == crate::api::ConditionStatus::True);
    if ready || request_failed(req).is_some() {
        return None;
    }
    let input = PolicyInput {
        certificate: &s.certificate,
        secret: s.secret.as_ref(),
        current_request: s.current_request(),
        now: s.now,
    };
    temporary_certificate_chain(&input)?;
    req.metadata.name.clone()
}

/// A certificate for the CSR (the pending request's) signed by a fresh one-use CA;
/// PEM of the leaf only, as cert-manager stores it (no `ca.crt`).
pub fn sign(csr_pem: &[u8], duration: Duration) -> Result<String, TemporaryError> {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)
        .map_err(|e| TemporaryError::Ca(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| TemporaryError::Ca(e.to_string()))?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, TEMPORARY_CA_COMMON_NAME);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    let ca_cert = params
        .self_signed(&ca_key)
        .map_err(|e| TemporaryError::Ca(e.to_string()))?;
    let data = BTreeMap::from([
        (TLS_CRT.to_string(), ca_cert.pem().into_bytes()),
        (TLS_KEY.to_string(), ca_key.serialize_pem().into_bytes()),
    ]);
    let ca = CaKeyPair::from_secret_data(&data).map_err(|e| TemporaryError::Ca(e.to_string()))?;
    let signed = ca.sign(csr_pem, &SignOptions::new(duration))?;
    // The leaf only: the one-use CA is not part of any chain anyone should trust.
    let leaf = crate::pki::chain::certificates_der(&signed.certificate_pem)
        .ok()
        .and_then(|c| c.into_iter().next())
        .map(|der| crate::pki::chain::certificate_pem(&der))
        .unwrap_or(signed.certificate_pem);
    Ok(leaf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::testing::{cert, issuing, request_for, snapshot, with_next_key};

    #[test]
    fn only_an_annotated_certificate_with_a_pending_request_and_no_usable_secret_gets_one() {
        let mut crt = cert("web", &["web.example"]);
        crt.metadata.annotations = Some(BTreeMap::from([(
            ISSUE_TEMPORARY_CERTIFICATE.to_string(),
            "true".to_string(),
        )]));
        let s = with_next_key(issuing(snapshot(crt.clone(), None)));
        let req = request_for(&s, 1);
        let mut pending = s.clone();
        pending.requests.push(req.clone());
        assert_eq!(wanted(&pending), Some("web-1".to_string()));
        // No request yet: wait for it.
        assert_eq!(wanted(&s), None);
        // Not annotated.
        let mut plain = pending.clone();
        plain.certificate.metadata.annotations = None;
        assert_eq!(wanted(&plain), None);
        // "True" is not "true" for cert-manager either.
        let mut capital = pending.clone();
        capital.certificate.metadata.annotations = Some(BTreeMap::from([(
            ISSUE_TEMPORARY_CERTIFICATE.to_string(),
            "True".to_string(),
        )]));
        assert_eq!(wanted(&capital), None);
    }

    #[test]
    fn the_temporary_certificate_is_for_the_request_and_signed_by_a_one_use_ca() {
        let key = crate::pki::key::PrivateKey::generate(crate::pki::key::KeyAlgorithm::Ecdsa(256))
            .unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["web.example".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "web.example");
        let key_pem = key
            .to_pem(crate::api::certificate::PrivateKeyEncoding::Pkcs8)
            .unwrap();
        let kp = rcgen::KeyPair::from_pem(&key_pem).unwrap();
        let csr = params.serialize_request(&kp).unwrap().pem().unwrap();
        let pem = sign(csr.as_bytes(), Duration::from_secs(3600)).unwrap();
        let ders = crate::pki::chain::certificates_der(&pem).unwrap();
        assert_eq!(ders.len(), 1, "the leaf only");
        let (_, leaf) = x509_parser::parse_x509_certificate(&ders[0]).unwrap();
        assert_eq!(
            leaf.issuer().to_string(),
            format!("CN={TEMPORARY_CA_COMMON_NAME}")
        );
        assert!(crate::pki::key::spki_matches(leaf.public_key().raw, &key));
        let sans: Vec<String> = leaf
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(sans, ["DNSName(web.example)"]);
    }
}
