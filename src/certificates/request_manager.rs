//! The request manager loop: while issuing with a next key, keeps exactly one
//! CertificateRequest for the next revision, made from the current spec and that key.

use x509_parser::prelude::FromDer;

use crate::api::CertificateRequest;
use crate::certificates::policy;
use crate::certificates::snapshot::Snapshot;
use crate::pki::key::PrivateKey;

/// What the request manager wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestAction {
    /// Create the CertificateRequest of this revision.
    Create { revision: i32 },
    /// Delete a CertificateRequest of the next revision that no longer fits.
    Delete(String),
}

/// Whether a request was made from `key` (its CSR carries the key's public key).
fn made_with(req: &CertificateRequest, key: &PrivateKey) -> bool {
    use base64::Engine;
    let Ok(pem) = base64::engine::general_purpose::STANDARD.decode(&req.spec.request) else {
        return false;
    };
    let Some(der) = pem_body(&pem) else {
        return false;
    };
    let Ok((_, csr)) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
    else {
        return false;
    };
    csr.certification_request_info.subject_pki.raw == key.public_key_der().as_slice()
}

fn pem_body(pem: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    let text = std::str::from_utf8(pem).ok()?;
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()
}

/// The request manager decision for a snapshot.
pub fn decide(s: &Snapshot) -> Option<RequestAction> {
    if !s.issuing() {
        return None;
    }
    let key = s
        .next_key
        .as_ref()?
        .pem
        .as_deref()
        .and_then(|pem| PrivateKey::from_pem(pem).ok())?;
    if !key.matches_spec(s.certificate.spec.private_key.as_ref()) {
        return None; // the key manager replaces it first
    }
    let revision = s.revision() + 1;
    let mut fitting = false;
    for req in s.requests_for(revision) {
        let matches = policy::request_matches_spec(req, &s.certificate.spec)
            .is_ok_and(|v| v.is_empty())
            && made_with(req, &key)
            && req.spec.issuer_ref == s.certificate.spec.issuer_ref;
        if !matches || fitting {
            return Some(RequestAction::Delete(
                req.metadata.name.clone().unwrap_or_default(),
            ));
        }
        fitting = true;
    }
    (!fitting).then_some(RequestAction::Create { revision })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::testing::{cert, issuing, request_for, snapshot, with_next_key};

    #[test]
    fn a_next_key_and_no_request_creates_the_next_revision() {
        let s = with_next_key(issuing(snapshot(cert("web", &["web.example"]), None)));
        assert_eq!(decide(&s), Some(RequestAction::Create { revision: 1 }));
    }

    #[test]
    fn a_fitting_request_is_kept_and_a_stale_one_replaced() {
        let s = with_next_key(issuing(snapshot(cert("web", &["web.example"]), None)));
        let mut kept = s.clone();
        kept.requests.push(request_for(&s, 1));
        assert_eq!(decide(&kept), None);
        let mut changed = kept.clone();
        changed.certificate.spec.dns_names = Some(vec!["other.example".into()]);
        assert!(matches!(decide(&changed), Some(RequestAction::Delete(_))));
    }
}
