//! What the Certificate loops decide from: the Certificate and everything of its
//! that the API holds, read at one moment.

use jiff::Timestamp;

use crate::api::annotations;
use crate::api::meta::ConditionStatus;
use crate::api::{Certificate, CertificateRequest};
use crate::certificates::policy::SecretSnapshot;

/// The temporary Secret holding the private key of the issuance in progress.
#[derive(Clone, PartialEq, Eq)]
pub struct NextKey {
    pub name: String,
    /// `tls.key`, when the Secret has one.
    pub pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for NextKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextKey")
            .field("name", &self.name)
            .field("has_key", &self.pem.is_some())
            .finish()
    }
}

/// A Certificate and its Secret, temporary key Secrets and CertificateRequests.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub certificate: Certificate,
    pub secret: Option<SecretSnapshot>,
    /// The Secret `status.nextPrivateKeySecretName` names, if it exists.
    pub next_key: Option<NextKey>,
    /// Other temporary key Secrets of this Certificate (left over).
    pub stale_keys: Vec<String>,
    pub requests: Vec<CertificateRequest>,
    pub now: Timestamp,
}

pub use crate::api::certificate_request::{request_condition, request_revision};

/// Whether a CertificateRequest has failed for good (cert-manager's `IsFailed` plus denial).
pub fn request_failed(req: &CertificateRequest) -> Option<String> {
    let is_true =
        |t: &str| request_condition(req, t).is_some_and(|c| c.status == ConditionStatus::True);
    if is_true("Denied") {
        return Some(
            request_condition(req, "Denied")
                .and_then(|c| c.message.clone())
                .unwrap_or_default(),
        );
    }
    if is_true("InvalidRequest") {
        return Some(
            request_condition(req, "InvalidRequest")
                .and_then(|c| c.message.clone())
                .unwrap_or_default(),
        );
    }
    match request_condition(req, "Ready") {
        Some(c) if c.status == ConditionStatus::False && c.reason.as_deref() == Some("Failed") => {
            Some(c.message.clone().unwrap_or_default())
        }
        _ => None,
    }
}

/// The renewal time the ACME CA suggested (ARI) for the certificate `req` issued.
pub fn ari_renewal_time(req: Option<&CertificateRequest>) -> Option<Timestamp> {
    req?.metadata
        .annotations
        .as_ref()?
        .get(annotations::ACME_ARI_RENEWAL_TIME)?
        .parse()
        .ok()
}

impl Snapshot {
    /// `status.revision` (0 before the first issuance).
    pub fn revision(&self) -> i32 {
        self.certificate
            .status
            .as_ref()
            .and_then(|s| s.revision)
            .unwrap_or(0)
    }

    /// The CertificateRequests made for `revision`.
    pub fn requests_for(&self, revision: i32) -> impl Iterator<Item = &CertificateRequest> {
        self.requests
            .iter()
            .filter(move |r| request_revision(r) == Some(revision))
    }

    /// The request of the current revision.
    pub fn current_request(&self) -> Option<&CertificateRequest> {
        self.requests_for(self.revision()).next()
    }

    /// The request of the issuance in progress.
    pub fn next_request(&self) -> Option<&CertificateRequest> {
        self.requests_for(self.revision() + 1).next()
    }

    /// Whether the Ready condition is True.
    pub fn ready(&self) -> bool {
        crate::api::certificate::certificate_condition(&self.certificate, "Ready")
            .is_some_and(|c| c.status == crate::api::meta::ConditionStatus::True)
    }

    /// Whether the Issuing condition is True.
    pub fn issuing(&self) -> bool {
        crate::certificates::policy::issuance_in_progress(&self.certificate)
    }

    pub fn name(&self) -> &str {
        self.certificate
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.certificate
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }
}
