//! The policy chains deciding whether a Certificate needs (re-)issuance, whether
//! it is Ready, and whether its Secret needs a metadata/data repair that does
//! not need a new certificate. Pure: no I/O, the current time is passed in.
//!
//! Ported from cert-manager (reasons and messages kept verbatim):
//! - `internal/controller/certificates/policies/policies.go` (chain order)
//! - `internal/controller/certificates/policies/checks.go` (checks, messages)
//! - `internal/controller/certificates/policies/constants.go` (reasons)
//! - `pkg/util/pki/match.go` (`PrivateKeyMatchesSpec`, `RequestMatchesSpec`,
//!   `FuzzyX509AltNamesMatchSpec`)
//! - `pkg/util/pki/parse.go` (PEM/key decoding error texts)
//! - `internal/controller/certificates/secrets.go` (`AnnotationsForCertificate`,
//!   `OutputFormatDER`, `OutputFormatCombinedPEM`)
//! - `pkg/controller/certificates/readiness/readiness_controller.go`
//!   (`BuildReadyConditionFromChain`)
//! - `pkg/controller/certificates/trigger/trigger_controller.go`
//!   (`shouldBackoffReissuingOnFailure`; certgate's delays differ, see
//!   [`super::renewal::backoff`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::gocompat::{go_list, go_time_string, rfc1123};

use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate, X509CertificationRequest, X509Name};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::renewal::{self, go_quote, parse_go_duration_nanos};
use crate::api::annotations as ann;
use crate::api::certificate::{
    AdditionalOutputFormatType, Certificate, CertificateSpec, KeyUsage, OtherName,
    PrivateKeyAlgorithm,
};
use crate::api::certificate_request::CertificateRequest;
use crate::api::meta::ConditionStatus;

/// Policy violation reasons, with cert-manager's values.
pub mod reasons {
    pub const DOES_NOT_EXIST: &str = "DoesNotExist";
    pub const MISSING_DATA: &str = "MissingData";
    pub const INVALID_KEY_PAIR: &str = "InvalidKeyPair";
    pub const INVALID_CERTIFICATE: &str = "InvalidCertificate";
    pub const INVALID_CERTIFICATE_REQUEST: &str = "InvalidCertificateRequest";
    pub const SECRET_MISMATCH: &str = "SecretMismatch";
    pub const INCORRECT_ISSUER: &str = "IncorrectIssuer";
    pub const INCORRECT_CERTIFICATE: &str = "IncorrectCertificate";
    pub const REQUEST_CHANGED: &str = "RequestChanged";
    pub const RENEWING: &str = "Renewing";
    pub const EXPIRED: &str = "Expired";
    pub const SECRET_TEMPLATE_MISMATCH: &str = "SecretTemplateMismatch";
    pub const SECRET_MANAGED_METADATA_MISMATCH: &str = "SecretManagedMetadataMismatch";
    pub const ADDITIONAL_OUTPUT_FORMATS_MISMATCH: &str = "AdditionalOutputFormatsMismatch";
    pub const MANAGED_FIELDS_PARSE_ERROR: &str = "ManagedFieldsParseError";
    pub const SECRET_OWNER_REF_MISMATCH: &str = "SecretOwnerRefMismatch";
    /// Set on the Issuing condition by `cmctl renew` / `kubectl cert-manager renew`.
    pub const MANUALLY_TRIGGERED: &str = "ManuallyTriggered";
    /// The Ready reason of an up-to-date Certificate.
    pub const READY: &str = "Ready";
}

/// The message of a Ready=True condition.
pub const READY_MESSAGE: &str = "Certificate is up to date and has not expired";

/// An owner reference of a Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretOwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: Option<bool>,
    pub block_owner_deletion: Option<bool>,
}

/// What the policies need to know of the Secret named by `spec.secretName`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretSnapshot {
    pub name: String,
    pub type_: Option<String>,
    pub data: BTreeMap<String, Vec<u8>>,
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub owner_references: Vec<SecretOwnerReference>,
}

impl std::fmt::Debug for SecretSnapshot {
    // Never print Secret data: it holds the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSnapshot")
            .field("name", &self.name)
            .field("type_", &self.type_)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("annotations", &self.annotations)
            .field("labels", &self.labels)
            .field("owner_references", &self.owner_references)
            .finish()
    }
}

/// The input of every policy chain.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    pub certificate: &'a Certificate,
    pub secret: Option<&'a SecretSnapshot>,
    /// The CertificateRequest of the current revision (`status.revision`), if any.
    pub current_request: Option<&'a CertificateRequest>,
    pub now: Timestamp,
}

/// A failed check: the reason and message for the Issuing (or Ready) condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub reason: &'static str,
    pub message: String,
}

impl Trigger {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// The Ready condition computed by [`readiness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyCondition {
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: String,
}

/// Errors decoding a private key. Messages are cert-manager's and never
/// contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
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
// Entry points
// ---------------------------------------------------------------------------

/// Whether an issuance is already in progress (`Issuing` condition `True`).
/// cert-manager's trigger controller does nothing for such a Certificate.
pub fn issuance_in_progress(certificate: &Certificate) -> bool {
    issuing_condition(certificate).is_some_and(|c| c.status == ConditionStatus::True)
}

fn issuing_condition(certificate: &Certificate) -> Option<&crate::api::meta::Condition> {
    certificate
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Issuing")
}

/// Whether the Certificate needs (re-)issuance, and why.
///
/// An `Issuing=True` condition with reason `ManuallyTriggered` (set by
/// `cmctl renew`) yields `ManuallyTriggered` with the condition's message;
/// otherwise the trigger chain ([`trigger_chain`]) is evaluated. Callers
/// should, like cert-manager, not evaluate anything while
/// [`issuance_in_progress`] for other reasons.
pub fn needs_issuance(input: &PolicyInput<'_>) -> Option<Trigger> {
    if let Some(c) = issuing_condition(input.certificate)
        && c.status == ConditionStatus::True
        && c.reason.as_deref() == Some(reasons::MANUALLY_TRIGGERED)
    {
        let message = c
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "Certificate re-issuance manually triggered".to_string());
        return Some(Trigger::new(reasons::MANUALLY_TRIGGERED, message));
    }
    trigger_chain(input)
}

/// cert-manager's `NewTriggerPolicyChain`, evaluated in order; the first
/// failing check wins.
pub fn trigger_chain(input: &PolicyInput<'_>) -> Option<Trigger> {
    let Some(secret) = input.secret else {
        return Some(secret_does_not_exist());
    };
    let ctx = Ctx::new(input, secret);
    ctx.secret_is_missing_data()
        .or_else(|| ctx.secret_public_keys_differ())
        .or_else(|| ctx.secret_issuer_annotations_mismatch())
        .or_else(|| ctx.secret_certificate_name_annotation_mismatch())
        .or_else(|| ctx.secret_private_key_mismatches_spec())
        .or_else(|| ctx.secret_public_key_differs_from_current_request())
        .or_else(|| ctx.current_request_mismatches_spec())
        .or_else(|| ctx.current_certificate_nearing_expiry())
}

/// cert-manager's `NewReadinessPolicyChain`.
pub fn readiness_chain(input: &PolicyInput<'_>) -> Option<Trigger> {
    let Some(secret) = input.secret else {
        return Some(secret_does_not_exist());
    };
    let ctx = Ctx::new(input, secret);
    ctx.secret_is_missing_data()
        .or_else(|| ctx.secret_public_keys_differ())
        .or_else(|| ctx.secret_issuer_annotations_mismatch())
        .or_else(|| ctx.secret_certificate_name_annotation_mismatch())
        .or_else(|| ctx.secret_private_key_mismatches_spec())
        .or_else(|| ctx.secret_public_key_differs_from_current_request())
        .or_else(|| ctx.current_request_mismatches_spec())
        .or_else(|| ctx.current_certificate_has_expired())
}

/// The Ready condition (cert-manager's `BuildReadyConditionFromChain`).
pub fn readiness(input: &PolicyInput<'_>) -> ReadyCondition {
    match readiness_chain(input) {
        None => ReadyCondition {
            status: ConditionStatus::True,
            reason: reasons::READY,
            message: READY_MESSAGE.to_string(),
        },
        Some(t) => ReadyCondition {
            status: ConditionStatus::False,
            reason: t.reason,
            message: t.message,
        },
    }
}

/// cert-manager's `NewTemporaryCertificatePolicyChain`.
pub fn temporary_certificate_chain(input: &PolicyInput<'_>) -> Option<Trigger> {
    let Some(secret) = input.secret else {
        return Some(secret_does_not_exist());
    };
    let ctx = Ctx::new(input, secret);
    ctx.secret_is_missing_data()
        .or_else(|| ctx.secret_public_keys_differ())
}

/// Post-issuance checks on a Secret that do not need a new certificate
/// (cert-manager's `NewSecretPostIssuancePolicyChain`), returning the first
/// violation. `owner_ref_enabled` is `--enable-certificate-owner-ref`.
///
/// certgate has no managed fields, so "extra" labels/annotations/output
/// formats that cert-manager finds through managed fields are only partly
/// detectable; see the per-check notes. Returns `None` when there is no Secret
/// or it lacks a key pair (issuance handles those).
pub fn secret_post_issuance_violation(
    input: &PolicyInput<'_>,
    owner_ref_enabled: bool,
) -> Option<Trigger> {
    let secret = input.secret?;
    let ctx = Ctx::new(input, secret);
    if ctx.secret_is_missing_data().is_some() {
        return None;
    }
    ctx.secret_base_labels_mismatch()
        .or_else(|| ctx.secret_certificate_details_annotations_mismatch())
        .or_else(|| ctx.secret_managed_labels_and_annotations_missing())
        .or_else(|| ctx.secret_template_mismatch())
        .or_else(|| ctx.secret_template_missing())
        .or_else(|| ctx.secret_additional_output_formats_mismatch())
        .or_else(|| ctx.secret_owner_reference_mismatch(owner_ref_enabled))
        .or_else(|| ctx.secret_keystore_format_mismatch())
        .or_else(|| ctx.secret_ca_missing())
}

/// What to fix on the Secret without re-issuing, as a message (see
/// [`secret_post_issuance_violation`] for the reason as well).
pub fn secret_needs_update(input: &PolicyInput<'_>, owner_ref_enabled: bool) -> Option<String> {
    secret_post_issuance_violation(input, owner_ref_enabled).map(|t| t.message)
}

/// cert-manager's `shouldBackoffReissuingOnFailure` with certgate's delays
/// ([`renewal::backoff`]): `Some(remaining)` when issuance must wait. No
/// back-off without `status.lastFailureTime`, or when the "next"
/// CertificateRequest no longer matches the spec (a spec change re-issues at
/// once), or when it cannot be decoded.
pub fn backoff_remaining(
    certificate: &Certificate,
    next_request: Option<&CertificateRequest>,
    now: Timestamp,
) -> Option<SignedDuration> {
    let status = certificate.status.as_ref()?;
    let last_failure = status.last_failure_time.as_ref()?.0;
    if let Some(req) = next_request {
        match request_matches_spec(req, &certificate.spec) {
            Err(_) => return None,
            Ok(v) if !v.is_empty() => return None,
            Ok(_) => {}
        }
    }
    let attempts = status
        .failed_issuance_attempts
        .map_or(0, |n| u32::try_from(n).unwrap_or(0));
    let next = renewal::next_issuance_attempt(last_failure, attempts);
    let remaining = now.duration_until(next);
    (remaining > SignedDuration::ZERO).then_some(remaining)
}

/// The log/event message cert-manager emits while backing off.
pub fn backoff_message(next_attempt: Timestamp) -> String {
    format!(
        "Backing off from issuance due to previously failed issuance(s). Issuance will next be attempted at {}",
        go_time_string(next_attempt)
    )
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

fn secret_does_not_exist() -> Trigger {
    Trigger::new(
        reasons::DOES_NOT_EXIST,
        "Issuing certificate as Secret does not exist",
    )
}

struct Ctx<'a> {
    input: &'a PolicyInput<'a>,
    secret: &'a SecretSnapshot,
    spec: &'a CertificateSpec,
}

const INVALID_KEY_DATA: &str = "Issuing certificate as Secret contains invalid private key data: ";
const INVALID_CERT: &str = "Issuing certificate as Secret contains an invalid certificate: ";

impl<'a> Ctx<'a> {
    fn new(input: &'a PolicyInput<'a>, secret: &'a SecretSnapshot) -> Self {
        Self {
            input,
            secret,
            spec: &input.certificate.spec,
        }
    }

    fn key_pem(&self) -> &[u8] {
        self.secret
            .data
            .get(ann::TLS_KEY)
            .map_or(&[], Vec::as_slice)
    }

    fn cert_pem(&self) -> &[u8] {
        self.secret
            .data
            .get(ann::TLS_CRT)
            .map_or(&[], Vec::as_slice)
    }

    fn private_key(&self) -> Result<PrivateKeyInfo, Trigger> {
        parse_private_key_pem(self.key_pem())
            .map_err(|e| Trigger::new(reasons::INVALID_KEY_PAIR, format!("{INVALID_KEY_DATA}{e}")))
    }

    fn with_certificate<T>(
        &self,
        f: impl FnOnce(&X509Certificate<'_>) -> Option<T>,
    ) -> Result<Option<T>, Trigger> {
        let der = first_certificate_der(self.cert_pem()).map_err(|e| {
            Trigger::new(reasons::INVALID_CERTIFICATE, format!("{INVALID_CERT}{e}"))
        })?;
        match X509Certificate::from_der(&der) {
            Ok((_, cert)) => Ok(f(&cert)),
            Err(e) => Err(Trigger::new(
                reasons::INVALID_CERTIFICATE,
                format!("{INVALID_CERT}{}", CertError::Certificate(e.to_string())),
            )),
        }
    }

    fn secret_is_missing_data(&self) -> Option<Trigger> {
        if self.secret.data.is_empty() {
            return Some(Trigger::new(
                reasons::MISSING_DATA,
                "Issuing certificate as Secret does not contain any data",
            ));
        }
        if self.key_pem().is_empty() {
            return Some(Trigger::new(
                reasons::MISSING_DATA,
                "Issuing certificate as Secret does not contain a private key",
            ));
        }
        if self.cert_pem().is_empty() {
            return Some(Trigger::new(
                reasons::MISSING_DATA,
                "Issuing certificate as Secret does not contain a certificate",
            ));
        }
        None
    }

    fn secret_public_keys_differ(&self) -> Option<Trigger> {
        let pk = match self.private_key() {
            Ok(pk) => pk,
            Err(t) => return Some(t),
        };
        let cert_key = match self.with_certificate(|c| Some(spki_public_key(c.public_key()))) {
            Ok(k) => k?,
            Err(t) => return Some(t),
        };
        match public_keys_equal(cert_key, pk.public_key.as_ref()) {
            Err(e) => Some(Trigger::new(
                reasons::INVALID_KEY_PAIR,
                format!("Secret contains an invalid key-pair: {e}"),
            )),
            Ok(false) => Some(Trigger::new(
                reasons::INVALID_KEY_PAIR,
                "Issuing certificate as Secret contains a private key that does not match the certificate",
            )),
            Ok(true) => None,
        }
    }

    /// Note: cert-manager's condition is
    /// `(ok1 || ok2 || ok3) && name != ref.name || !kindsEqual || !groupsEqual`
    /// (Go precedence): a Secret without any issuer annotation still fails
    /// when the issuerRef's kind/group are not the defaults. Kept as is.
    fn secret_issuer_annotations_mismatch(&self) -> Option<Trigger> {
        let a = &self.secret.annotations;
        let name = a.get(ann::ISSUER_NAME);
        let kind = a.get(ann::ISSUER_KIND);
        let group = a.get(ann::ISSUER_GROUP);
        let any = name.is_some() || kind.is_some() || group.is_some();
        let name = name.map_or("", String::as_str);
        let kind = kind.map_or("", String::as_str);
        let group = group.map_or("", String::as_str);
        let r = &self.spec.issuer_ref;
        let mismatch = (any && name != r.name)
            || !issuer_kinds_equal(kind, r.kind.as_deref().unwrap_or(""))
            || !issuer_groups_equal(group, r.group.as_deref().unwrap_or(""));
        mismatch.then(|| {
            Trigger::new(
                reasons::INCORRECT_ISSUER,
                format!(
                    "Issuing certificate as Secret was previously issued by {}",
                    go_quote(&format_issuer_ref(name, kind, group))
                ),
            )
        })
    }

    fn secret_certificate_name_annotation_mismatch(&self) -> Option<Trigger> {
        let name = self.secret.annotations.get(ann::CERTIFICATE_NAME)?;
        let crt_name = self
            .input
            .certificate
            .metadata
            .name
            .as_deref()
            .unwrap_or("");
        (name != crt_name).then(|| {
            Trigger::new(
                reasons::INCORRECT_CERTIFICATE,
                format!(
                    "Secret was issued for {}. If this message is not transient, you might have two conflicting Certificates pointing to the same secret.",
                    go_quote(name)
                ),
            )
        })
    }

    fn secret_private_key_mismatches_spec(&self) -> Option<Trigger> {
        let pk = match self.private_key() {
            Ok(pk) => pk,
            Err(t) => return Some(t),
        };
        let violations = private_key_matches_spec(&pk, self.spec);
        (!violations.is_empty()).then(|| {
            Trigger::new(
                reasons::SECRET_MISMATCH,
                format!(
                    "Existing private key is not up to date for spec: {}",
                    go_list(&violations)
                ),
            )
        })
    }

    fn secret_public_key_differs_from_current_request(&self) -> Option<Trigger> {
        let req = self.input.current_request?;
        let pk = match self.private_key() {
            Ok(pk) => pk,
            Err(t) => return Some(t),
        };
        let der = match request_der(req) {
            Ok(d) => d,
            Err(e) => {
                return Some(Trigger::new(
                    reasons::INVALID_CERTIFICATE_REQUEST,
                    format!("Failed to decode current CertificateRequest: {e}"),
                ));
            }
        };
        let csr = match X509CertificationRequest::from_der(&der) {
            Ok((_, csr)) => csr,
            Err(e) => {
                return Some(Trigger::new(
                    reasons::INVALID_CERTIFICATE_REQUEST,
                    format!(
                        "Failed to decode current CertificateRequest: {}",
                        CertError::Request(e.to_string())
                    ),
                ));
            }
        };
        let csr_key = spki_public_key(&csr.certification_request_info.subject_pki);
        match public_keys_equal(csr_key, pk.public_key.as_ref()) {
            Err(e) => Some(Trigger::new(
                reasons::INVALID_CERTIFICATE_REQUEST,
                format!("CertificateRequest's public key is invalid: {e}"),
            )),
            Ok(false) => Some(Trigger::new(
                reasons::SECRET_MISMATCH,
                "Secret contains a private key that does not match the current CertificateRequest",
            )),
            Ok(true) => None,
        }
    }

    fn current_request_mismatches_spec(&self) -> Option<Trigger> {
        let Some(req) = self.input.current_request else {
            return self.current_secret_valid_for_spec();
        };
        // A request that cannot be parsed does not trigger re-issuance.
        let violations = request_matches_spec(req, self.spec).ok()?;
        (!violations.is_empty()).then(|| {
            Trigger::new(
                reasons::REQUEST_CHANGED,
                format!(
                    "Fields on existing CertificateRequest resource not up to date: {}",
                    go_list(&violations)
                ),
            )
        })
    }

    fn current_secret_valid_for_spec(&self) -> Option<Trigger> {
        let violations =
            match self.with_certificate(|c| Some(fuzzy_x509_alt_names_match_spec(c, self.spec))) {
                Ok(v) => v.unwrap_or_default(),
                Err(t) => return Some(t),
            };
        (!violations.is_empty()).then(|| {
            Trigger::new(
                reasons::SECRET_MISMATCH,
                format!(
                    "Issuing certificate as Existing issued Secret is not up to date for spec: {}",
                    go_list(&violations)
                ),
            )
        })
    }

    fn validity(&self) -> Result<(Timestamp, Timestamp), Trigger> {
        let v = self.with_certificate(|c| {
            let v = c.validity();
            Some((v.not_before.timestamp(), v.not_after.timestamp()))
        })?;
        let (nb, na) = v.unwrap_or((0, 0));
        let ts = |s: i64| {
            Timestamp::from_second(s).unwrap_or(if s < 0 {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            })
        };
        Ok((ts(nb), ts(na)))
    }

    /// With `spec.renewal.policy: Disabled` there is no renewal time and
    /// nothing is renewed. When no renewal window applies, renewal happens at the
    /// desired time with reason `WindowError` and the error (as cert-manager).
    fn current_certificate_nearing_expiry(&self) -> Option<Trigger> {
        let (nb, na) = match self.validity() {
            Ok(v) => v,
            Err(t) => return Some(t),
        };
        let (rt, window_error) = match renewal::renewal_time_checked(
            nb,
            na,
            self.spec,
            crate::certificates::snapshot::ari_renewal_time(self.input.current_request),
        ) {
            Ok(rt) => (rt?, None),
            Err(e) => (e.renewal_time, Some(e.to_string())),
        };
        if rt > self.input.now {
            return None;
        }
        if let Some(message) = window_error {
            return Some(Trigger::new(renewal::WINDOW_ERROR, message));
        }
        let scheduled = self
            .input
            .certificate
            .status
            .as_ref()
            .and_then(|s| s.renewal_time.as_ref())
            .map_or_else(|| "<nil>".to_string(), |t| go_time_string(t.0));
        Some(Trigger::new(
            reasons::RENEWING,
            format!("Renewing certificate as renewal was scheduled at {scheduled}"),
        ))
    }

    fn current_certificate_has_expired(&self) -> Option<Trigger> {
        let (_, na) = match self.validity() {
            Ok(v) => v,
            Err(t) => return Some(t),
        };
        (self.input.now > na).then(|| {
            Trigger::new(
                reasons::EXPIRED,
                format!("Certificate expired on {}", rfc1123(na)),
            )
        })
    }

    // --- post-issuance ---

    fn secret_base_labels_mismatch(&self) -> Option<Trigger> {
        match self.secret.labels.get(ann::LABEL_PART_OF_CONTROLLER) {
            Some(v) if v != "true" => Some(Trigger::new(
                reasons::SECRET_MANAGED_METADATA_MISMATCH,
                format!(
                    "wrong base label {} value {}, expected \"true\"",
                    ann::LABEL_PART_OF_CONTROLLER,
                    go_quote(v)
                ),
            )),
            _ => None,
        }
    }

    fn data_annotations(&self) -> Result<BTreeMap<String, String>, Trigger> {
        if self.cert_pem().is_empty() {
            return Ok(BTreeMap::new());
        }
        self.with_certificate(|c| Some(annotations_for_certificate(c)))
            .map(Option::unwrap_or_default)
            .map_err(|t| {
                Trigger::new(
                    reasons::INVALID_CERTIFICATE,
                    format!(
                        "Failed getting secret annotations: {}",
                        t.message.trim_start_matches(INVALID_CERT)
                    ),
                )
            })
    }

    fn secret_certificate_details_annotations_mismatch(&self) -> Option<Trigger> {
        let data = match self.data_annotations() {
            Ok(d) => d,
            Err(t) => return Some(t),
        };
        let key = first_mismatching_value(&data, &self.secret.annotations)?;
        Some(Trigger::new(
            reasons::SECRET_TEMPLATE_MISMATCH,
            format!(
                "Secret metadata {} does not match certificate metadata {}",
                self.secret.annotations.get(key).map_or("", String::as_str),
                data.get(key).map_or("", String::as_str)
            ),
        ))
    }

    /// cert-manager compares its managed fields; certgate checks that the
    /// `controller.cert-manager.io/fao` label and the certificate-details
    /// annotations are present (extra ones cannot be told from user ones).
    fn secret_managed_labels_and_annotations_missing(&self) -> Option<Trigger> {
        if !self
            .secret
            .labels
            .contains_key(ann::LABEL_PART_OF_CONTROLLER)
        {
            return Some(Trigger::new(
                reasons::SECRET_MANAGED_METADATA_MISMATCH,
                format!(
                    "Secret is missing these Managed Labels: [{}]",
                    ann::LABEL_PART_OF_CONTROLLER
                ),
            ));
        }
        let data = match self.data_annotations() {
            Ok(d) => d,
            Err(t) => return Some(t),
        };
        let missing: Vec<&str> = data
            .keys()
            .filter(|k| !self.secret.annotations.contains_key(*k))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| {
            Trigger::new(
                reasons::SECRET_MANAGED_METADATA_MISMATCH,
                format!(
                    "Secret is missing these Managed Annotations: {}",
                    go_list(&missing)
                ),
            )
        })
    }

    fn secret_template_mismatch(&self) -> Option<Trigger> {
        let t = self.spec.secret_template.as_ref()?;
        if let Some(a) = &t.annotations
            && first_mismatching_value(a, &self.secret.annotations).is_some()
        {
            return Some(Trigger::new(
                reasons::SECRET_TEMPLATE_MISMATCH,
                "Certificate's SecretTemplate Annotations missing or incorrect value on Secret",
            ));
        }
        if let Some(l) = &t.labels
            && first_mismatching_value(l, &self.secret.labels).is_some()
        {
            return Some(Trigger::new(
                reasons::SECRET_TEMPLATE_MISMATCH,
                "Certificate's SecretTemplate Labels missing or incorrect value on Secret",
            ));
        }
        None
    }

    /// cert-manager's `SecretSecretTemplateManagedFieldsMismatch`, for the
    /// missing keys only (extra ones need managed fields).
    fn secret_template_missing(&self) -> Option<Trigger> {
        let t = self.spec.secret_template.as_ref()?;
        fn missing<'m>(
            want: &'m Option<BTreeMap<String, String>>,
            have: &BTreeMap<String, String>,
        ) -> Vec<&'m str> {
            want.iter()
                .flat_map(BTreeMap::keys)
                .filter(|k| !have.contains_key(*k))
                .map(String::as_str)
                .collect()
        }
        let labels = missing(&t.labels, &self.secret.labels);
        if !labels.is_empty() {
            return Some(Trigger::new(
                reasons::SECRET_TEMPLATE_MISMATCH,
                format!(
                    "Secret is missing these Template Labels: {}",
                    go_list(&labels)
                ),
            ));
        }
        let annotations = missing(&t.annotations, &self.secret.annotations);
        (!annotations.is_empty()).then(|| {
            Trigger::new(
                reasons::SECRET_TEMPLATE_MISMATCH,
                format!(
                    "Secret is missing these Template Annotations: {}",
                    go_list(&annotations)
                ),
            )
        })
    }

    /// Data check as cert-manager's `SecretAdditionalOutputFormatsMismatch`;
    /// an output-format key present but no longer requested is reported with
    /// the managed-fields message.
    fn secret_additional_output_formats_mismatch(&self) -> Option<Trigger> {
        let formats: Vec<AdditionalOutputFormatType> = self
            .spec
            .additional_output_formats
            .iter()
            .flatten()
            .map(|f| f.type_)
            .collect();
        let data_mismatch = Trigger::new(
            reasons::ADDITIONAL_OUTPUT_FORMATS_MISMATCH,
            "Certificate's AdditionalOutputFormats doesn't match Secret Data",
        );
        for f in &formats {
            match f {
                AdditionalOutputFormatType::CombinedPEM => {
                    let want = output_format_combined_pem(self.key_pem(), self.cert_pem());
                    if self.secret.data.get(ann::TLS_COMBINED_PEM) != Some(&want) {
                        return Some(data_mismatch);
                    }
                }
                AdditionalOutputFormatType::Der => {
                    let want = output_format_der(self.key_pem());
                    if self.secret.data.get(ann::KEY_DER) != Some(&want) {
                        return Some(data_mismatch);
                    }
                }
            }
        }
        let extra = (self.secret.data.contains_key(ann::TLS_COMBINED_PEM)
            && !formats.contains(&AdditionalOutputFormatType::CombinedPEM))
            || (self.secret.data.contains_key(ann::KEY_DER)
                && !formats.contains(&AdditionalOutputFormatType::Der));
        extra.then(|| {
            Trigger::new(
                reasons::ADDITIONAL_OUTPUT_FORMATS_MISMATCH,
                "Certificate's AdditionalOutputFormats doesn't match Secret ManagedFields",
            )
        })
    }

    fn secret_owner_reference_mismatch(&self, enabled: bool) -> Option<Trigger> {
        let crt = self.input.certificate;
        let uid = crt.metadata.uid.as_deref().unwrap_or("");
        let with_uid = self.secret.owner_references.iter().find(|r| r.uid == uid);
        if enabled {
            let expected = SecretOwnerReference {
                api_version: "cert-manager.io/v1".to_string(),
                kind: "Certificate".to_string(),
                name: crt.metadata.name.clone().unwrap_or_default(),
                uid: uid.to_string(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            };
            if with_uid != Some(&expected) {
                return Some(Trigger::new(
                    reasons::SECRET_OWNER_REF_MISMATCH,
                    "unexpected Secret Owner Reference value on Secret --enable-certificate-owner-ref=true",
                ));
            }
        } else if !uid.is_empty() && with_uid.is_some() {
            return Some(Trigger::new(
                reasons::SECRET_OWNER_REF_MISMATCH,
                "unexpected managed Secret Owner Reference field on Secret --enable-certificate-owner-ref=false",
            ));
        }
        None
    }

    fn secret_keystore_format_mismatch(&self) -> Option<Trigger> {
        let has = |k: &str| self.secret.data.get(k).is_some_and(|v| !v.is_empty());
        let issuer_provides_ca = self.secret.data.contains_key(ann::CA_CRT);
        let m = |msg: &str| Some(Trigger::new(reasons::SECRET_MISMATCH, msg));
        let Some(ks) = &self.spec.keystores else {
            if has(ann::KEYSTORE_P12)
                || has(ann::TRUSTSTORE_P12)
                || has(ann::KEYSTORE_JKS)
                || has(ann::TRUSTSTORE_JKS)
            {
                return m("Keystore is not defined");
            }
            return None;
        };
        match &ks.jks {
            Some(j) if j.create => {
                if !has(ann::KEYSTORE_JKS) || (!has(ann::TRUSTSTORE_JKS) && issuer_provides_ca) {
                    return m("JKS Keystore key does not contain data");
                }
            }
            Some(_) => {
                if has(ann::KEYSTORE_JKS) || has(ann::TRUSTSTORE_JKS) {
                    return m("JKS Keystore create disabled");
                }
            }
            None => {
                if has(ann::KEYSTORE_JKS) || has(ann::TRUSTSTORE_JKS) {
                    return m("JKS Keystore not defined");
                }
            }
        }
        match &ks.pkcs12 {
            Some(p) if p.create => {
                if !has(ann::KEYSTORE_P12) || (!has(ann::TRUSTSTORE_P12) && issuer_provides_ca) {
                    return m("PKCS12 Keystore key does not contain data");
                }
            }
            Some(_) => {
                if has(ann::KEYSTORE_P12) || has(ann::TRUSTSTORE_P12) {
                    return m("PKCS12 Keystore create disabled");
                }
            }
            None => {
                if has(ann::KEYSTORE_P12) || has(ann::TRUSTSTORE_P12) {
                    return m("PKCS12 Keystore not defined");
                }
            }
        }
        None
    }

    /// certgate addition (not in cert-manager's chain): the issuer returned a
    /// CA (current request's `status.ca`) but the Secret has no `ca.crt` key.
    fn secret_ca_missing(&self) -> Option<Trigger> {
        let req = self.input.current_request?;
        let ca = req.status.as_ref()?.ca.as_deref()?;
        if ca.is_empty() || self.secret.data.contains_key(ann::CA_CRT) {
            return None;
        }
        Some(Trigger::new(
            reasons::SECRET_MISMATCH,
            "Secret is missing the ca.crt key although the issuer provided a CA",
        ))
    }
}

// ---------------------------------------------------------------------------
// Matching (pkg/util/pki/match.go)
// ---------------------------------------------------------------------------

fn issuer_kinds_equal(l: &str, r: &str) -> bool {
    let d = |s: &str| if s.is_empty() { "Issuer" } else { s }.to_string();
    d(l) == d(r)
}

fn issuer_groups_equal(l: &str, r: &str) -> bool {
    let d = |s: &str| if s.is_empty() { crate::api::GROUP } else { s }.to_string();
    d(l) == d(r)
}

fn format_issuer_ref(name: &str, kind: &str, group: &str) -> String {
    let group = if group.is_empty() {
        crate::api::GROUP
    } else {
        group
    };
    let kind = if kind.is_empty() { "Issuer" } else { kind };
    format!("{kind}.{group}/{name}")
}

/// cert-manager's `PrivateKeyMatchesSpec`: `spec.privateKey.algorithm` and
/// `spec.privateKey.size` against the key in the Secret.
pub fn private_key_matches_spec(pk: &PrivateKeyInfo, spec: &CertificateSpec) -> Vec<&'static str> {
    let pks = spec.private_key.as_ref();
    let algorithm = pks
        .and_then(|p| p.algorithm)
        .unwrap_or(PrivateKeyAlgorithm::Rsa);
    let size = pks.and_then(|p| p.size).filter(|s| *s > 0);
    match (algorithm, &pk.algorithm) {
        (PrivateKeyAlgorithm::Rsa, KeyAlgorithm::Rsa { bits }) => {
            let want = size.unwrap_or(2048);
            if i64::from(want) == i64::try_from(*bits).unwrap_or(-1) {
                vec![]
            } else {
                vec!["spec.privateKey.size"]
            }
        }
        (PrivateKeyAlgorithm::Ecdsa, KeyAlgorithm::Ecdsa { curve }) => {
            let want = size.unwrap_or(256);
            if want == curve.bit_size() {
                vec![]
            } else {
                vec!["spec.privateKey.size"]
            }
        }
        (PrivateKeyAlgorithm::Ed25519, KeyAlgorithm::Ed25519) => vec![],
        _ => vec!["spec.privateKey.algorithm"],
    }
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn equal_unsorted(a: &[String], b: &[String]) -> bool {
    sorted(a) == sorted(b)
}

fn canonical_ip_string(s: &str) -> String {
    match s.parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().to_string(),
        Err(_) => format!("<nil>{s}"),
    }
}

fn ip_bytes_to_string(b: &[u8]) -> String {
    match b.len() {
        4 => {
            let a: [u8; 4] = [b[0], b[1], b[2], b[3]];
            IpAddr::from(a).to_string()
        }
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            IpAddr::from(a).to_canonical().to_string()
        }
        // Go prints invalid lengths as "?" followed by hex.
        _ => format!(
            "?{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

fn ips_match(parsed: &[String], spec: &[String]) -> bool {
    let spec: Vec<String> = spec.iter().map(|s| canonical_ip_string(s)).collect();
    equal_unsorted(parsed, &spec)
}

/// Subject alternative names of a certificate or request.
#[derive(Debug, Default)]
struct Sans {
    dns: Vec<String>,
    ips: Vec<String>,
    uris: Vec<String>,
    emails: Vec<String>,
    other_names: Vec<(String, Result<String, ()>)>,
}

fn collect_sans<'b>(names: impl Iterator<Item = &'b GeneralName<'b>>) -> Sans {
    let mut s = Sans::default();
    for n in names {
        match n {
            GeneralName::DNSName(d) => s.dns.push((*d).to_string()),
            GeneralName::RFC822Name(e) => s.emails.push((*e).to_string()),
            GeneralName::URI(u) => s.uris.push((*u).to_string()),
            GeneralName::IPAddress(b) => s.ips.push(ip_bytes_to_string(b)),
            GeneralName::OtherName(oid, rest) => {
                s.other_names
                    .push((oid.to_id_string(), other_name_utf8(rest)));
            }
            _ => {}
        }
    }
    s
}

/// The value of an otherName: `[0] EXPLICIT UTF8String`.
fn other_name_utf8(rest: &[u8]) -> Result<String, ()> {
    let (tag, content, _) = der_tlv(rest).ok_or(())?;
    let inner = if tag == 0xa0 {
        let (t, c, _) = der_tlv(content).ok_or(())?;
        if t != 0x0c {
            return Err(());
        }
        c
    } else if tag == 0x0c {
        content
    } else {
        return Err(());
    };
    String::from_utf8(inner.to_vec()).map_err(|_| ())
}

fn cert_sans(cert: &X509Certificate<'_>) -> Sans {
    match cert.subject_alternative_name() {
        Ok(Some(ext)) => collect_sans(ext.value.general_names.iter()),
        _ => Sans::default(),
    }
}

fn csr_sans(csr: &X509CertificationRequest<'_>) -> Sans {
    let mut names = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = e {
                names.extend(san.general_names.iter());
            }
        }
    }
    collect_sans(names.into_iter())
}

/// Go's `pkix.Name` view of a subject.
#[derive(Debug, Default)]
struct Subject {
    common_name: String,
    serial_number: String,
    organization: Vec<String>,
    organizational_unit: Vec<String>,
    country: Vec<String>,
    province: Vec<String>,
    locality: Vec<String>,
    street_address: Vec<String>,
    postal_code: Vec<String>,
}

fn subject_of(name: &X509Name<'_>) -> Subject {
    let mut s = Subject::default();
    for attr in name.iter_attributes() {
        let Ok(v) = attr.as_str() else { continue };
        let v = v.to_string();
        match attr.attr_type().to_id_string().as_str() {
            "2.5.4.3" => s.common_name = v,
            "2.5.4.5" => s.serial_number = v,
            "2.5.4.10" => s.organization.push(v),
            "2.5.4.11" => s.organizational_unit.push(v),
            "2.5.4.6" => s.country.push(v),
            "2.5.4.8" => s.province.push(v),
            "2.5.4.7" => s.locality.push(v),
            "2.5.4.9" => s.street_address.push(v),
            "2.5.4.17" => s.postal_code.push(v),
            _ => {}
        }
    }
    s
}

fn opt_vec(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

/// The DER of the PEM CSR in a CertificateRequest (`spec.request` is base64 of
/// PEM in JSON; a raw PEM string is accepted too).
fn request_der(req: &CertificateRequest) -> Result<Vec<u8>, CertError> {
    let raw = req.spec.request.trim();
    let pem_bytes = if raw.starts_with("-----BEGIN") {
        raw.as_bytes().to_vec()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| CertError::NoRequestPem)?
    };
    pem_blocks(&pem_bytes)
        .into_iter()
        .next()
        .map(|(_, der)| der)
        .ok_or(CertError::NoRequestPem)
}

/// cert-manager's `RequestMatchesSpec`: the fields of `spec` that differ from
/// the CertificateRequest (its CSR and its spec). `Err` when the CSR cannot be
/// decoded or the literal subject cannot be parsed.
pub fn request_matches_spec(
    req: &CertificateRequest,
    spec: &CertificateSpec,
) -> Result<Vec<&'static str>, CertError> {
    let der = request_der(req)?;
    let (_, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| CertError::Request(e.to_string()))?;
    let info = &csr.certification_request_info;
    let sans = csr_sans(&csr);
    let mut v = Vec::new();

    if !ips_match(&sans.ips, opt_vec(&spec.ip_addresses)) {
        v.push("spec.ipAddresses");
    }
    if !equal_unsorted(&sans.uris, opt_vec(&spec.uris)) {
        v.push("spec.uris");
    }
    if !equal_unsorted(&sans.emails, opt_vec(&spec.email_addresses)) {
        v.push("spec.emailAddresses");
    }
    if !equal_unsorted(&sans.dns, opt_vec(&spec.dns_names)) {
        v.push("spec.dnsNames");
    }
    if let Some(want) = &spec.other_names {
        let mut got = Vec::new();
        for (oid, val) in &sans.other_names {
            // cert-manager errors on a non-UTF8String otherName.
            let val = val.clone().map_err(|()| {
                CertError::Request(format!("otherName {oid} is not an utf8 value"))
            })?;
            got.push((oid.clone(), val));
        }
        let want: Vec<(String, String)> = want
            .iter()
            .map(|OtherName { oid, utf8_value }| {
                (
                    oid.clone().unwrap_or_default(),
                    utf8_value.clone().unwrap_or_default(),
                )
            })
            .collect();
        if sorted(&got) != sorted(&want) {
            v.push("spec.otherNames");
        }
    }

    match spec.literal_subject.as_deref().filter(|s| !s.is_empty()) {
        None => {
            let got = subject_of(&info.subject);
            let want = spec.subject.clone().unwrap_or_default();
            if got.common_name != spec.common_name.clone().unwrap_or_default() {
                v.push("spec.commonName");
            }
            if got.serial_number != want.serial_number.clone().unwrap_or_default() {
                v.push("spec.subject.serialNumber");
            }
            if !equal_unsorted(&got.organization, opt_vec(&want.organizations)) {
                v.push("spec.subject.organizations");
            }
            if !equal_unsorted(&got.country, opt_vec(&want.countries)) {
                v.push("spec.subject.countries");
            }
            if !equal_unsorted(&got.locality, opt_vec(&want.localities)) {
                v.push("spec.subject.localities");
            }
            if !equal_unsorted(
                &got.organizational_unit,
                opt_vec(&want.organizational_units),
            ) {
                v.push("spec.subject.organizationalUnits");
            }
            // cert-manager reports both postal codes and provinces as
            // "spec.subject.postCodes" (sic).
            if !equal_unsorted(&got.postal_code, opt_vec(&want.postal_codes)) {
                v.push("spec.subject.postCodes");
            }
            if !equal_unsorted(&got.province, opt_vec(&want.provinces)) {
                v.push("spec.subject.postCodes");
            }
            if !equal_unsorted(&got.street_address, opt_vec(&want.street_addresses)) {
                v.push("spec.subject.streetAddresses");
            }
        }
        Some(literal) => {
            let want = parse_literal_subject(literal)?;
            let got: Vec<Vec<(String, String)>> = info
                .subject
                .iter_rdn()
                .map(|rdn| {
                    let mut set: Vec<(String, String)> = rdn
                        .iter()
                        .map(|a| {
                            (
                                a.attr_type().to_id_string(),
                                a.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|_| format!("#{}", hex(a.attr_value().data))),
                            )
                        })
                        .collect();
                    set.sort();
                    set
                })
                .collect();
            if got != want {
                v.push("spec.literalSubject");
            }
        }
    }

    if req.spec.is_ca.unwrap_or(false) != spec.is_ca.unwrap_or(false) {
        v.push("spec.isCA");
    }
    let usages = |u: &Option<Vec<KeyUsage>>| sorted(u.as_deref().unwrap_or(&[]));
    if usages(&req.spec.usages) != usages(&spec.usages) {
        v.push("spec.usages");
    }
    if let (Some(a), Some(b)) = (&req.spec.duration, &spec.duration)
        && parse_go_duration_nanos(a).ok() != parse_go_duration_nanos(b).ok()
    {
        v.push("spec.duration");
    }
    let (rr, sr) = (&req.spec.issuer_ref, &spec.issuer_ref);
    if rr.name != sr.name
        || !issuer_kinds_equal(
            rr.kind.as_deref().unwrap_or(""),
            sr.kind.as_deref().unwrap_or(""),
        )
        || !issuer_groups_equal(
            rr.group.as_deref().unwrap_or(""),
            sr.group.as_deref().unwrap_or(""),
        )
    {
        v.push("spec.issuerRef");
    }
    Ok(v)
}

/// cert-manager's (deprecated) `FuzzyX509AltNamesMatchSpec`, used when the
/// current CertificateRequest is gone: names may move between the common name
/// and the DNS names.
fn fuzzy_x509_alt_names_match_spec(
    cert: &X509Certificate<'_>,
    spec: &CertificateSpec,
) -> Vec<&'static str> {
    let mut v = Vec::new();
    let sans = cert_sans(cert);
    let cert_cn = subject_of(cert.subject()).common_name;
    let spec_cn = spec.common_name.clone().unwrap_or_default();
    let spec_dns = opt_vec(&spec.dns_names);

    let mut expected: BTreeSet<&str> = spec_dns.iter().map(String::as_str).collect();
    if !spec_cn.is_empty() {
        expected.insert(&spec_cn);
    }
    let mut all: BTreeSet<&str> = sans.dns.iter().map(String::as_str).collect();
    if !cert_cn.is_empty() {
        all.insert(&cert_cn);
    }
    if all != expected {
        if (!spec_cn.is_empty() && !all.contains(spec_cn.as_str()))
            || (!cert_cn.is_empty() && !expected.contains(cert_cn.as_str()))
        {
            v.push("spec.commonName");
        }
        if !spec_dns.iter().all(|d| all.contains(d.as_str()))
            || !sans.dns.iter().all(|d| expected.contains(d.as_str()))
        {
            v.push("spec.dnsNames");
        }
    }
    if !ips_match(&sans.ips, opt_vec(&spec.ip_addresses)) {
        v.push("spec.ipAddresses");
    }
    if !equal_unsorted(&sans.uris, opt_vec(&spec.uris)) {
        v.push("spec.uris");
    }
    if !equal_unsorted(&sans.emails, opt_vec(&spec.email_addresses)) {
        v.push("spec.emailAddresses");
    }
    v
}

/// Parses an RFC 4514 literal subject into RDNs in DER order (the string
/// lists them most-specific first, so they are reversed, as cert-manager's
/// `UnmarshalSubjectStringToRDNSequence` does). Attribute sets are sorted.
fn parse_literal_subject(s: &str) -> Result<Vec<Vec<(String, String)>>, CertError> {
    let err = |m: &str| CertError::LiteralSubject(m.to_string());
    let mut rdns: Vec<Vec<(String, String)>> = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    let mut buf = String::new();
    let mut key: Option<String> = None;
    let mut chars = s.chars().peekable();
    let finish_attr = |key: &mut Option<String>,
                       buf: &mut String,
                       current: &mut Vec<(String, String)>|
     -> Result<(), CertError> {
        let k = key
            .take()
            .ok_or_else(|| err("incomplete type, value pair"))?;
        let oid = attribute_oid(k.trim()).ok_or_else(|| {
            CertError::LiteralSubject(format!(
                "Literal subject contains unrecognized key with value [{}]",
                buf.trim()
            ))
        })?;
        current.push((oid, buf.trim().to_string()));
        buf.clear();
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    return Err(err("got corrupted escaped character"));
                };
                if n.is_ascii_hexdigit() {
                    let Some(m) = chars.next().filter(char::is_ascii_hexdigit) else {
                        return Err(err("got corrupted escaped character"));
                    };
                    let hexs: String = [n, m].iter().collect();
                    let b = u8::from_str_radix(&hexs, 16).map_err(|_| err("invalid escape"))?;
                    buf.push(char::from(b));
                } else {
                    buf.push(n);
                }
            }
            '=' if key.is_none() => {
                key = Some(std::mem::take(&mut buf));
            }
            ',' | ';' => {
                finish_attr(&mut key, &mut buf, &mut current)?;
                current.sort();
                rdns.push(std::mem::take(&mut current));
            }
            '+' => finish_attr(&mut key, &mut buf, &mut current)?,
            c => buf.push(c),
        }
    }
    if key.is_some() || !buf.trim().is_empty() {
        finish_attr(&mut key, &mut buf, &mut current)?;
    }
    if !current.is_empty() {
        current.sort();
        rdns.push(current);
    }
    rdns.reverse();
    Ok(rdns)
}

fn attribute_oid(name: &str) -> Option<String> {
    let oid = match name.to_ascii_uppercase().as_str() {
        "CN" => "2.5.4.3",
        "SERIALNUMBER" => "2.5.4.5",
        "C" => "2.5.4.6",
        "L" => "2.5.4.7",
        "ST" => "2.5.4.8",
        "STREET" => "2.5.4.9",
        "O" => "2.5.4.10",
        "OU" => "2.5.4.11",
        "POSTALCODE" => "2.5.4.17",
        "UID" => "0.9.2342.19200300.100.1.1",
        "DC" => "0.9.2342.19200300.100.1.25",
        other => {
            let dotted = !other.is_empty()
                && other.split('.').count() >= 2
                && other
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            return dotted.then(|| other.to_string());
        }
    };
    Some(oid.to_string())
}

// ---------------------------------------------------------------------------
// Secret data helpers
// ---------------------------------------------------------------------------

/// The annotations cert-manager puts on a Secret describing its certificate
/// (`AnnotationsForCertificate`): common name, subject fields, and SANs.
pub fn annotations_for_certificate_pem(
    cert_pem: &[u8],
) -> Result<BTreeMap<String, String>, CertError> {
    let der = first_certificate_der(cert_pem)?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| CertError::Certificate(e.to_string()))?;
    Ok(annotations_for_certificate(&cert))
}

fn annotations_for_certificate(cert: &X509Certificate<'_>) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let subject = subject_of(cert.subject());
    let sans = cert_sans(cert);
    a.insert(ann::COMMON_NAME.to_string(), subject.common_name);
    if !subject.serial_number.is_empty() {
        a.insert(
            ann::SUBJECT_SERIAL_NUMBER.to_string(),
            subject.serial_number,
        );
    }
    let mut csv = |keep_empty: bool, key: &str, values: &[String]| {
        if values.is_empty() && !keep_empty {
            return;
        }
        // cert-manager drops an annotation that would not read back as the
        // values (a CRLF inside a value, or a single empty value).
        if values.iter().any(|v| v.contains("\r\n")) || (values.len() == 1 && values[0].is_empty())
        {
            return;
        }
        a.insert(key.to_string(), join_with_escape_csv(values));
    };
    csv(false, ann::SUBJECT_ORGANIZATIONS, &subject.organization);
    csv(
        false,
        ann::SUBJECT_ORGANIZATIONAL_UNITS,
        &subject.organizational_unit,
    );
    csv(false, ann::SUBJECT_COUNTRIES, &subject.country);
    csv(false, ann::SUBJECT_PROVINCES, &subject.province);
    csv(false, ann::SUBJECT_LOCALITIES, &subject.locality);
    csv(false, ann::SUBJECT_POSTAL_CODES, &subject.postal_code);
    csv(
        false,
        ann::SUBJECT_STREET_ADDRESSES,
        &subject.street_address,
    );
    csv(false, ann::EMAIL_SANS, &sans.emails);
    csv(true, ann::ALT_NAMES, &sans.dns);
    csv(true, ann::IP_SANS, &sans.ips);
    csv(true, ann::URI_SANS, &sans.uris);
    a
}

/// Go's `encoding/csv` writer for one record, without the trailing newline
/// (cert-manager's `JoinWithEscapeCSV`).
pub fn join_with_escape_csv(values: &[String]) -> String {
    values
        .iter()
        .map(|f| {
            let needs_quotes = !f.is_empty()
                && (f == r"\."
                    || f.contains([',', '"', '\r', '\n'])
                    || f.chars().next().is_some_and(char::is_whitespace));
            if needs_quotes {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `tls-combined.pem`: the key PEM, a newline, the certificate PEM.
pub fn output_format_combined_pem(key_pem: &[u8], cert_pem: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key_pem.len() + cert_pem.len() + 1);
    out.extend_from_slice(key_pem);
    out.push(b'\n');
    out.extend_from_slice(cert_pem);
    out
}

/// `key.der`: the DER of the first PEM block of the private key.
pub fn output_format_der(key_pem: &[u8]) -> Vec<u8> {
    pem_blocks(key_pem)
        .into_iter()
        .next()
        .map(|(_, der)| der)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// PEM / DER / keys
// ---------------------------------------------------------------------------

/// Decodes every well-formed PEM block (label, DER) in order; malformed blocks
/// are skipped as Go's `pem.Decode` does.
fn pem_blocks(data: &[u8]) -> Vec<(String, Vec<u8>)> {
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

fn first_certificate_der(pem: &[u8]) -> Result<Vec<u8>, CertError> {
    pem_blocks(pem)
        .into_iter()
        .next()
        .map(|(_, der)| der)
        .ok_or(CertError::NoCertificatePem)
}

/// One DER TLV: (tag byte, content, rest). Single-byte tags only.
fn der_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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

fn strip_leading_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

fn bit_len(b: &[u8]) -> usize {
    let b = strip_leading_zeros(b);
    match b.first() {
        None => 0,
        Some(first) => (b.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

fn hex(b: &[u8]) -> String {
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
pub enum KeyAlgorithm {
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
    pub algorithm: KeyAlgorithm,
    /// `None` if it could not be determined.
    pub public_key: Option<PublicKeyData>,
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Decodes a PEM private key (PKCS#1 RSA, SEC1 EC, PKCS#8 RSA/EC/Ed25519) the
/// way cert-manager's `DecodePrivateKeyBytes` does, keeping only the
/// algorithm, size and public key.
pub fn parse_private_key_pem(pem: &[u8]) -> Result<PrivateKeyInfo, KeyError> {
    let (label, der) = pem_blocks(pem)
        .into_iter()
        .next()
        .ok_or(KeyError::NoPemBlock)?;
    let mut info = match label.as_str() {
        "PRIVATE KEY" => parse_pkcs8(&der)?,
        "EC PRIVATE KEY" => parse_sec1(&der, None).map_err(KeyError::Ec)?,
        "RSA PRIVATE KEY" => parse_pkcs1(&der).map_err(KeyError::Rsa)?,
        other => return Err(KeyError::UnknownType(other.to_string())),
    };
    if info.public_key.is_none() {
        info.public_key = derive_public_key(&der, info.algorithm);
    }
    Ok(info)
}

/// Derives the public key when the encoding does not carry it (SEC1 without
/// `publicKey`, PKCS#8 v1 Ed25519), through rcgen's crypto provider.
fn derive_public_key(der: &[u8], alg: KeyAlgorithm) -> Option<PublicKeyData> {
    let kp = rcgen::KeyPair::try_from(der).ok()?;
    let raw = kp.public_key_raw().to_vec();
    match alg {
        KeyAlgorithm::Ecdsa { curve } => Some(PublicKeyData::Ec { curve, point: raw }),
        KeyAlgorithm::Ed25519 => Some(PublicKeyData::Ed25519(raw)),
        KeyAlgorithm::Rsa { .. } => rsa_public_key(&raw).ok(),
    }
}

const MALFORMED: &str = "malformed DER";

fn parse_pkcs1(der: &[u8]) -> Result<PrivateKeyInfo, &'static str> {
    let (tag, seq, _) = der_tlv(der).ok_or(MALFORMED)?;
    if tag != 0x30 {
        return Err(MALFORMED);
    }
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
    Ok(PrivateKeyInfo {
        algorithm: KeyAlgorithm::Rsa { bits: bit_len(n) },
        public_key: Some(PublicKeyData::Rsa {
            n: strip_leading_zeros(n),
            e: strip_leading_zeros(e),
        }),
    })
}

fn parse_sec1(der: &[u8], curve_hint: Option<EcCurve>) -> Result<PrivateKeyInfo, &'static str> {
    let (tag, seq, _) = der_tlv(der).ok_or(MALFORMED)?;
    if tag != 0x30 {
        return Err(MALFORMED);
    }
    let (t, _version, mut rest) = der_tlv(seq).ok_or(MALFORMED)?;
    if t != 0x02 {
        return Err(MALFORMED);
    }
    let (t, _private, r) = der_tlv(rest).ok_or(MALFORMED)?;
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
                    curve = Some(EcCurve::from_oid_content(oid).ok_or("unknown elliptic curve")?);
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
    let curve = curve.or(curve_hint).ok_or("unknown elliptic curve")?;
    Ok(PrivateKeyInfo {
        algorithm: KeyAlgorithm::Ecdsa { curve },
        public_key: point.map(|point| PublicKeyData::Ec { curve, point }),
    })
}

fn parse_pkcs8(der: &[u8]) -> Result<PrivateKeyInfo, KeyError> {
    let m = KeyError::Pkcs8(MALFORMED);
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
        OID_RSA => parse_pkcs1(key).map_err(KeyError::Pkcs8),
        OID_EC => {
            let hint = der_tlv(params)
                .filter(|(t, _, _)| *t == 0x06)
                .and_then(|(_, c, _)| EcCurve::from_oid_content(c));
            if hint.is_none() {
                return Err(KeyError::Pkcs8("unknown elliptic curve"));
            }
            parse_sec1(key, hint).map_err(KeyError::Pkcs8)
        }
        OID_ED25519 => {
            let (t, seed, _) = der_tlv(key).ok_or(m.clone())?;
            if t != 0x04 || seed.len() != 32 {
                return Err(KeyError::Pkcs8("invalid Ed25519 private key"));
            }
            let mut public_key = None;
            while !rest.is_empty() {
                let (t, c, r) = der_tlv(rest).ok_or(m.clone())?;
                rest = r;
                if t == 0x81 && c.first() == Some(&0) && c.len() == 33 {
                    public_key = Some(PublicKeyData::Ed25519(c[1..].to_vec()));
                }
            }
            Ok(PrivateKeyInfo {
                algorithm: KeyAlgorithm::Ed25519,
                public_key,
            })
        }
        other => Err(KeyError::UnknownPkcs8Algorithm(oid_to_string(other))),
    }
}

fn oid_to_string(c: &[u8]) -> String {
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

fn rsa_public_key(der: &[u8]) -> Result<PublicKeyData, &'static str> {
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
fn spki_public_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKeyData, String> {
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
fn public_keys_equal(
    cert_key: Result<PublicKeyData, String>,
    private: Option<&PublicKeyData>,
) -> Result<bool, String> {
    let cert_key = cert_key?;
    let private = private
        .ok_or_else(|| "unable to determine the public key of the private key".to_string())?;
    Ok(&cert_key == private)
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

/// The first key (sorted) present in both maps with different values.
fn first_mismatching_value<'m>(
    a: &'m BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Option<&'m str> {
    a.iter()
        .find(|(k, v)| b.get(*k).is_some_and(|bv| bv != *v))
        .map(|(k, _)| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::certificate::{
        CertificateAdditionalOutputFormat, CertificateKeystores, CertificatePrivateKey,
        CertificateRenewal, CertificateSecretTemplate, CertificateStatus, JksKeystore,
        Pkcs12Keystore, RenewalPolicy, X509Subject,
    };
    use crate::api::certificate_request::{CertificateRequestSpec, CertificateRequestStatus};
    use crate::api::meta::{Condition, IssuerReference};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};
    use std::sync::OnceLock;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn pem(label: &str, der: &[u8]) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for chunk in body.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out
    }

    fn der_len(n: usize) -> Vec<u8> {
        if n < 0x80 {
            vec![n as u8]
        } else if n < 0x100 {
            vec![0x81, n as u8]
        } else {
            vec![0x82, (n >> 8) as u8, n as u8]
        }
    }

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend(der_len(content.len()));
        v.extend_from_slice(content);
        v
    }

    /// The private key inside a PKCS#8 PEM (PKCS#1 for RSA, SEC1 for EC).
    fn pkcs8_inner(pkcs8_pem: &str) -> Vec<u8> {
        let (_, der) = pem_blocks(pkcs8_pem.as_bytes()).remove(0);
        let (_, seq, _) = der_tlv(&der).unwrap();
        let (_, _, rest) = der_tlv(seq).unwrap();
        let (_, _, rest) = der_tlv(rest).unwrap();
        let (_, key, _) = der_tlv(rest).unwrap();
        key.to_vec()
    }

    /// A SEC1 key with the named curve and, optionally, the public key.
    fn sec1_pem(kp: &KeyPair, curve_oid: &[u8], with_public: bool) -> String {
        let inner = pkcs8_inner(&kp.serialize_pem());
        let (_, seq, _) = der_tlv(&inner).unwrap();
        let (_, version, rest) = der_tlv(seq).unwrap();
        let (_, private, _) = der_tlv(rest).unwrap();
        let mut content = tlv(0x02, version);
        content.extend(tlv(0x04, private));
        content.extend(tlv(0xa0, &tlv(0x06, curve_oid)));
        if with_public {
            let mut bits = vec![0u8];
            bits.extend_from_slice(kp.public_key_raw());
            content.extend(tlv(0xa1, &tlv(0x03, &bits)));
        }
        pem("EC PRIVATE KEY", &tlv(0x30, &content))
    }

    fn p256() -> &'static KeyPair {
        static K: OnceLock<KeyPair> = OnceLock::new();
        K.get_or_init(|| KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap())
    }

    fn other_p256() -> &'static KeyPair {
        static K: OnceLock<KeyPair> = OnceLock::new();
        K.get_or_init(|| KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap())
    }

    fn rsa2048() -> &'static KeyPair {
        static K: OnceLock<KeyPair> = OnceLock::new();
        K.get_or_init(|| {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap()
        })
    }

    fn params(cn: &str, dns: &[&str]) -> CertificateParams {
        let mut p =
            CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        if !cn.is_empty() {
            p.distinguished_name.push(DnType::CommonName, cn);
        }
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2024, 3, 31);
        p
    }

    fn cert_pem(p: &CertificateParams, key: &KeyPair) -> String {
        p.self_signed(key).unwrap().pem()
    }

    fn csr_b64(p: &CertificateParams, key: &KeyPair) -> String {
        b64(&p.serialize_request(key).unwrap().pem().unwrap())
    }

    fn issuer_ref() -> IssuerReference {
        IssuerReference {
            name: "ca".into(),
            kind: Some("Issuer".into()),
            group: Some("cert-manager.io".into()),
        }
    }

    fn certificate() -> Certificate {
        let mut c = Certificate::new(
            "crt",
            CertificateSpec {
                common_name: Some("example.com".into()),
                dns_names: Some(vec!["example.com".into()]),
                secret_name: "tls".into(),
                issuer_ref: issuer_ref(),
                private_key: Some(CertificatePrivateKey {
                    algorithm: Some(PrivateKeyAlgorithm::Ecdsa),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        c.metadata.uid = Some("uid-1".into());
        c
    }

    fn good_secret() -> SecretSnapshot {
        let p = params("example.com", &["example.com"]);
        let crt = cert_pem(&p, p256());
        let mut s = SecretSnapshot {
            name: "tls".into(),
            type_: Some("kubernetes.io/tls".into()),
            ..Default::default()
        };
        s.data.insert("tls.crt".into(), crt.clone().into_bytes());
        s.data
            .insert("tls.key".into(), p256().serialize_pem().into_bytes());
        s.data.insert("ca.crt".into(), crt.into_bytes());
        for (k, v) in [
            (ann::ISSUER_NAME, "ca"),
            (ann::ISSUER_KIND, "Issuer"),
            (ann::ISSUER_GROUP, "cert-manager.io"),
            (ann::CERTIFICATE_NAME, "crt"),
            (ann::COMMON_NAME, "example.com"),
            (ann::ALT_NAMES, "example.com"),
            (ann::IP_SANS, ""),
            (ann::URI_SANS, ""),
        ] {
            s.annotations.insert(k.into(), v.into());
        }
        s.labels
            .insert(ann::LABEL_PART_OF_CONTROLLER.into(), "true".into());
        s
    }

    fn request(p: &CertificateParams, key: &KeyPair) -> CertificateRequest {
        CertificateRequest::new(
            "crt-1",
            CertificateRequestSpec {
                request: csr_b64(p, key),
                issuer_ref: issuer_ref(),
                ..Default::default()
            },
        )
    }

    fn good_request() -> CertificateRequest {
        request(&params("example.com", &["example.com"]), p256())
    }

    fn now() -> Timestamp {
        ts("2024-02-01T00:00:00Z")
    }

    type Mutate =
        Box<dyn Fn(&mut Certificate, &mut Option<SecretSnapshot>, &mut Option<CertificateRequest>)>;

    struct Case {
        name: &'static str,
        mutate: Mutate,
        now: Timestamp,
        want: Option<(&'static str, &'static str)>,
    }

    fn case(
        name: &'static str,
        now: Timestamp,
        want: Option<(&'static str, &'static str)>,
        mutate: impl Fn(&mut Certificate, &mut Option<SecretSnapshot>, &mut Option<CertificateRequest>)
        + 'static,
    ) -> Case {
        Case {
            name,
            mutate: Box::new(mutate),
            now,
            want,
        }
    }

    fn set_data(s: &mut Option<SecretSnapshot>, k: &str, v: &str) {
        s.as_mut()
            .unwrap()
            .data
            .insert(k.into(), v.as_bytes().to_vec());
    }

    /// Cases shared by the trigger and readiness chains (same checks before
    /// the expiry checks).
    fn common_cases() -> Vec<Case> {
        vec![
            case(
                "secret does not exist",
                now(),
                Some((
                    reasons::DOES_NOT_EXIST,
                    "Issuing certificate as Secret does not exist",
                )),
                |_, s, _| *s = None,
            ),
            case(
                "no data",
                now(),
                Some((
                    reasons::MISSING_DATA,
                    "Issuing certificate as Secret does not contain any data",
                )),
                |_, s, _| s.as_mut().unwrap().data.clear(),
            ),
            case(
                "no private key",
                now(),
                Some((
                    reasons::MISSING_DATA,
                    "Issuing certificate as Secret does not contain a private key",
                )),
                |_, s, _| {
                    s.as_mut().unwrap().data.remove("tls.key");
                },
            ),
            case(
                "empty certificate",
                now(),
                Some((
                    reasons::MISSING_DATA,
                    "Issuing certificate as Secret does not contain a certificate",
                )),
                |_, s, _| set_data(s, "tls.crt", ""),
            ),
            case(
                "key not PEM",
                now(),
                Some((
                    reasons::INVALID_KEY_PAIR,
                    "Issuing certificate as Secret contains invalid private key data: error decoding private key PEM block",
                )),
                |_, s, _| set_data(s, "tls.key", "garbage"),
            ),
            case(
                "unknown key type",
                now(),
                Some((
                    reasons::INVALID_KEY_PAIR,
                    "Issuing certificate as Secret contains invalid private key data: unknown private key type: FOO KEY",
                )),
                |_, s, _| set_data(s, "tls.key", &pem("FOO KEY", b"abc")),
            ),
            case(
                "malformed pkcs8",
                now(),
                Some((
                    reasons::INVALID_KEY_PAIR,
                    "Issuing certificate as Secret contains invalid private key data: error parsing pkcs#8 private key: malformed DER",
                )),
                |_, s, _| set_data(s, "tls.key", &pem("PRIVATE KEY", b"\x30\x05abc")),
            ),
            case(
                "malformed rsa key",
                now(),
                Some((
                    reasons::INVALID_KEY_PAIR,
                    "Issuing certificate as Secret contains invalid private key data: error parsing rsa private key: malformed DER",
                )),
                |_, s, _| set_data(s, "tls.key", &pem("RSA PRIVATE KEY", b"\x02\x01\x00")),
            ),
            case(
                "malformed ec key",
                now(),
                Some((
                    reasons::INVALID_KEY_PAIR,
                    "Issuing certificate as Secret contains invalid private key data: error parsing ecdsa private key: malformed DER",
                )),
                |_, s, _| set_data(s, "tls.key", &pem("EC PRIVATE KEY", b"")),
            ),
            case(
                "certificate not PEM",
                now(),
                Some((
                    reasons::INVALID_CERTIFICATE,
                    "Issuing certificate as Secret contains an invalid certificate: error decoding certificate PEM block",
                )),
                |_, s, _| set_data(s, "tls.crt", "garbage"),
            ),
            case(
                "key does not match certificate",
                now(),
                Some((
                    reasons::INVALID_KEY_PAIR,
                    "Issuing certificate as Secret contains a private key that does not match the certificate",
                )),
                |_, s, _| set_data(s, "tls.key", &other_p256().serialize_pem()),
            ),
            case(
                "issued by another issuer",
                now(),
                Some((
                    reasons::INCORRECT_ISSUER,
                    "Issuing certificate as Secret was previously issued by \"Issuer.cert-manager.io/other\"",
                )),
                |_, s, _| {
                    s.as_mut()
                        .unwrap()
                        .annotations
                        .insert(ann::ISSUER_NAME.into(), "other".into());
                },
            ),
            case(
                "issued by another kind",
                now(),
                Some((
                    reasons::INCORRECT_ISSUER,
                    "Issuing certificate as Secret was previously issued by \"ClusterIssuer.cert-manager.io/ca\"",
                )),
                |_, s, _| {
                    s.as_mut()
                        .unwrap()
                        .annotations
                        .insert(ann::ISSUER_KIND.into(), "ClusterIssuer".into());
                },
            ),
            case(
                "issued by another group",
                now(),
                Some((
                    reasons::INCORRECT_ISSUER,
                    "Issuing certificate as Secret was previously issued by \"Issuer.example.org/ca\"",
                )),
                |_, s, _| {
                    s.as_mut()
                        .unwrap()
                        .annotations
                        .insert(ann::ISSUER_GROUP.into(), "example.org".into());
                },
            ),
            case(
                "default kind and group are equal to empty",
                now(),
                None,
                |c, s, _| {
                    c.spec.issuer_ref.kind = None;
                    c.spec.issuer_ref.group = Some(String::new());
                    let a = &mut s.as_mut().unwrap().annotations;
                    a.remove(ann::ISSUER_KIND);
                    a.insert(ann::ISSUER_GROUP.into(), String::new());
                },
            ),
            case(
                "no issuer annotations, default issuer kind",
                now(),
                None,
                |_, s, _| {
                    let a = &mut s.as_mut().unwrap().annotations;
                    a.remove(ann::ISSUER_NAME);
                    a.remove(ann::ISSUER_KIND);
                    a.remove(ann::ISSUER_GROUP);
                },
            ),
            case(
                "no issuer annotations, ClusterIssuer (cert-manager precedence quirk)",
                now(),
                Some((
                    reasons::INCORRECT_ISSUER,
                    "Issuing certificate as Secret was previously issued by \"Issuer.cert-manager.io/\"",
                )),
                |c, s, _| {
                    c.spec.issuer_ref.kind = Some("ClusterIssuer".into());
                    let a = &mut s.as_mut().unwrap().annotations;
                    a.remove(ann::ISSUER_NAME);
                    a.remove(ann::ISSUER_KIND);
                    a.remove(ann::ISSUER_GROUP);
                },
            ),
            case(
                "issued for another Certificate",
                now(),
                Some((
                    reasons::INCORRECT_CERTIFICATE,
                    "Secret was issued for \"other\". If this message is not transient, you might have two conflicting Certificates pointing to the same secret.",
                )),
                |_, s, _| {
                    s.as_mut()
                        .unwrap()
                        .annotations
                        .insert(ann::CERTIFICATE_NAME.into(), "other".into());
                },
            ),
            case(
                "key algorithm differs",
                now(),
                Some((
                    reasons::SECRET_MISMATCH,
                    "Existing private key is not up to date for spec: [spec.privateKey.algorithm]",
                )),
                |c, _, _| c.spec.private_key = None,
            ),
            case(
                "key size differs",
                now(),
                Some((
                    reasons::SECRET_MISMATCH,
                    "Existing private key is not up to date for spec: [spec.privateKey.size]",
                )),
                |c, _, _| c.spec.private_key.as_mut().unwrap().size = Some(384),
            ),
            case(
                "Ed25519 requested",
                now(),
                Some((
                    reasons::SECRET_MISMATCH,
                    "Existing private key is not up to date for spec: [spec.privateKey.algorithm]",
                )),
                |c, _, _| {
                    c.spec.private_key.as_mut().unwrap().algorithm =
                        Some(PrivateKeyAlgorithm::Ed25519)
                },
            ),
            case(
                "request signed by another key",
                now(),
                Some((
                    reasons::SECRET_MISMATCH,
                    "Secret contains a private key that does not match the current CertificateRequest",
                )),
                |_, _, r| {
                    *r = Some(request(
                        &params("example.com", &["example.com"]),
                        other_p256(),
                    ))
                },
            ),
            case(
                "request undecodable",
                now(),
                Some((
                    reasons::INVALID_CERTIFICATE_REQUEST,
                    "Failed to decode current CertificateRequest: error decoding certificate request PEM block",
                )),
                |_, _, r| r.as_mut().unwrap().spec.request = b64("garbage"),
            ),
            case(
                "request dnsNames changed",
                now(),
                Some((
                    reasons::REQUEST_CHANGED,
                    "Fields on existing CertificateRequest resource not up to date: [spec.dnsNames]",
                )),
                |c, _, _| {
                    c.spec.dns_names = Some(vec!["example.com".into(), "www.example.com".into()])
                },
            ),
            case(
                "request unordered dnsNames equal",
                now(),
                None,
                |c, _, r| {
                    c.spec.dns_names = Some(vec!["b.example.com".into(), "example.com".into()]);
                    *r = Some(request(
                        &params("example.com", &["example.com", "b.example.com"]),
                        p256(),
                    ));
                },
            ),
            case(
                "request many fields changed",
                now(),
                Some((
                    reasons::REQUEST_CHANGED,
                    "Fields on existing CertificateRequest resource not up to date: [spec.commonName spec.isCA spec.usages spec.duration spec.issuerRef]",
                )),
                |c, s, r| {
                    c.spec.common_name = Some("other.example.com".into());
                    c.spec.is_ca = Some(true);
                    c.spec.usages = Some(vec![KeyUsage::ServerAuth]);
                    c.spec.duration = Some("24h".into());
                    c.spec.issuer_ref.name = "ca2".into();
                    s.as_mut()
                        .unwrap()
                        .annotations
                        .insert(ann::ISSUER_NAME.into(), "ca2".into());
                    r.as_mut().unwrap().spec.duration = Some("2160h".into());
                },
            ),
            case(
                "request duration equal in another spelling",
                now(),
                None,
                |c, _, r| {
                    c.spec.duration = Some("2160h0m0s".into());
                    r.as_mut().unwrap().spec.duration = Some("90h1950m1800m".into()); // 90h+32.5h+30h ≠ 2160h
                    r.as_mut().unwrap().spec.duration = Some("2160h".into());
                },
            ),
            case(
                "request duration ignored when unset on request",
                now(),
                None,
                |c, _, r| {
                    c.spec.duration = Some("24h".into());
                    r.as_mut().unwrap().spec.duration = None;
                },
            ),
            case("request usages unordered equal", now(), None, |c, _, r| {
                c.spec.usages = Some(vec![KeyUsage::ServerAuth, KeyUsage::DigitalSignature]);
                r.as_mut().unwrap().spec.usages =
                    Some(vec![KeyUsage::DigitalSignature, KeyUsage::ServerAuth]);
            }),
            case("no request: SANs match", now(), None, |_, _, r| *r = None),
            case(
                "no request: dnsNames changed",
                now(),
                Some((
                    reasons::SECRET_MISMATCH,
                    "Issuing certificate as Existing issued Secret is not up to date for spec: [spec.dnsNames]",
                )),
                |c, _, r| {
                    *r = None;
                    c.spec.dns_names = Some(vec!["example.com".into(), "www.example.com".into()]);
                },
            ),
            case(
                "no request: commonName changed",
                now(),
                Some((
                    reasons::SECRET_MISMATCH,
                    "Issuing certificate as Existing issued Secret is not up to date for spec: [spec.commonName]",
                )),
                |c, _, r| {
                    *r = None;
                    c.spec.common_name = Some("new.example.com".into());
                },
            ),
            case(
                "no request: common name moved to dnsNames",
                now(),
                None,
                |c, _, r| {
                    *r = None;
                    c.spec.common_name = None;
                },
            ),
            case(
                "no request: ipAddresses, uris and emails differ",
                now(),
                Some((
                    reasons::SECRET_MISMATCH,
                    "Issuing certificate as Existing issued Secret is not up to date for spec: [spec.ipAddresses spec.uris spec.emailAddresses]",
                )),
                |c, _, r| {
                    *r = None;
                    c.spec.ip_addresses = Some(vec!["10.0.0.1".into()]);
                    c.spec.uris = Some(vec!["spiffe://example.com/x".into()]);
                    c.spec.email_addresses = Some(vec!["a@example.com".into()]);
                },
            ),
            case(
                "invalid certificate DER",
                now(),
                Some((reasons::INVALID_CERTIFICATE, "")),
                |_, s, _| set_data(s, "tls.crt", &pem("CERTIFICATE", b"\x30\x03\x02\x01\x00")),
            ),
            case("up to date", now(), None, |_, _, _| {}),
        ]
    }

    fn run(cases: Vec<Case>, eval: impl Fn(&PolicyInput<'_>) -> Option<Trigger>) {
        for c in cases {
            let mut crt = certificate();
            let mut secret = Some(good_secret());
            let mut req = Some(good_request());
            (c.mutate)(&mut crt, &mut secret, &mut req);
            let input = PolicyInput {
                certificate: &crt,
                secret: secret.as_ref(),
                current_request: req.as_ref(),
                now: c.now,
            };
            let got = eval(&input);
            match (c.want, got) {
                (None, None) => {}
                (Some((reason, message)), Some(t)) => {
                    assert_eq!(t.reason, reason, "{}: {}", c.name, t.message);
                    if message.is_empty() {
                        continue;
                    }
                    assert_eq!(t.message, message, "{}", c.name);
                }
                (want, got) => panic!("{}: want {want:?}, got {got:?}", c.name),
            }
        }
    }

    #[test]
    fn invalid_certificate_der_message() {
        let mut s = good_secret();
        s.data.insert(
            "tls.crt".into(),
            pem("CERTIFICATE", b"\x30\x03\x02\x01\x00").into_bytes(),
        );
        // The key check runs first in the chain, so call the certificate check directly.
        let crt = certificate();
        let input = PolicyInput {
            certificate: &crt,
            secret: Some(&s),
            current_request: None,
            now: now(),
        };
        let ctx = Ctx::new(&input, &s);
        let t = ctx.current_certificate_has_expired().unwrap();
        assert_eq!(t.reason, reasons::INVALID_CERTIFICATE);
        assert!(
            t.message.starts_with("Issuing certificate as Secret contains an invalid certificate: error parsing TLS certificate: "),
            "{}",
            t.message
        );
    }

    #[test]
    fn trigger_chain_cases() {
        let mut cases = common_cases();
        cases.extend([
            case("renewal due, status time set", ts("2024-03-01T00:00:00Z"), Some((reasons::RENEWING, "Renewing certificate as renewal was scheduled at 2024-03-01 00:00:00 +0000 UTC")), |c, _, _| {
                c.status = Some(CertificateStatus { renewal_time: Some(Time(ts("2024-03-01T00:00:00Z"))), ..Default::default() });
            }),
            case("renewal due, no status", ts("2024-03-02T00:00:00Z"), Some((reasons::RENEWING, "Renewing certificate as renewal was scheduled at <nil>")), |_, _, _| {}),
            case("renewal not due one second before", ts("2024-02-29T23:59:59Z"), None, |_, _, _| {}),
            case("renewBefore moves renewal earlier", ts("2024-03-20T00:00:00Z"), None, |c, _, _| c.spec.renew_before = Some("240h".into())),
            case("renewBefore: due", ts("2024-03-21T00:00:00Z"), Some((reasons::RENEWING, "")), |c, _, _| c.spec.renew_before = Some("240h".into())),
            case("renewBeforePercentage: due", ts("2024-02-15T00:00:00Z"), Some((reasons::RENEWING, "")), |c, _, _| c.spec.renew_before_percentage = Some(50)),
            case("renewal disabled", ts("2024-04-15T00:00:00Z"), None, |c, _, _| c.spec.renewal = Some(CertificateRenewal { policy: Some(RenewalPolicy::Disabled), windows: None })),
            case("expired certificate is renewed", ts("2024-04-15T00:00:00Z"), Some((reasons::RENEWING, "")), |_, _, _| {}),
        ]);
        run(cases, trigger_chain);
    }

    #[test]
    fn readiness_chain_cases() {
        let mut cases = common_cases();
        cases.extend([
            case(
                "renewal due but not expired is ready",
                ts("2024-03-15T00:00:00Z"),
                None,
                |_, _, _| {},
            ),
            case(
                "expired",
                ts("2024-03-31T00:00:01Z"),
                Some((
                    reasons::EXPIRED,
                    "Certificate expired on Sun, 31 Mar 2024 00:00:00 UTC",
                )),
                |_, _, _| {},
            ),
            case(
                "at notAfter not expired",
                ts("2024-03-31T00:00:00Z"),
                None,
                |_, _, _| {},
            ),
        ]);
        run(cases, readiness_chain);
    }

    #[test]
    fn temporary_chain() {
        run(
            vec![
                case("ok", now(), None, |_, _, _| {}),
                case(
                    "missing",
                    now(),
                    Some((reasons::DOES_NOT_EXIST, "")),
                    |_, s, _| *s = None,
                ),
                case(
                    "mismatch",
                    now(),
                    Some((reasons::INVALID_KEY_PAIR, "")),
                    |_, s, _| set_data(s, "tls.key", &other_p256().serialize_pem()),
                ),
                case("spec ignored", now(), None, |c, _, _| {
                    c.spec.dns_names = None
                }),
            ],
            temporary_certificate_chain,
        );
    }

    #[test]
    fn ready_condition() {
        let crt = certificate();
        let s = good_secret();
        let r = good_request();
        let mut input = PolicyInput {
            certificate: &crt,
            secret: Some(&s),
            current_request: Some(&r),
            now: now(),
        };
        assert_eq!(
            readiness(&input),
            ReadyCondition {
                status: ConditionStatus::True,
                reason: "Ready",
                message: "Certificate is up to date and has not expired".into()
            }
        );
        input.secret = None;
        assert_eq!(
            readiness(&input),
            ReadyCondition {
                status: ConditionStatus::False,
                reason: "DoesNotExist",
                message: "Issuing certificate as Secret does not exist".into()
            }
        );
    }

    fn with_issuing(
        crt: &mut Certificate,
        status: ConditionStatus,
        reason: &str,
        message: Option<&str>,
    ) {
        crt.status = Some(CertificateStatus {
            conditions: Some(vec![Condition {
                type_: "Issuing".into(),
                status,
                last_transition_time: None,
                reason: Some(reason.into()),
                message: message.map(str::to_string),
                observed_generation: None,
            }]),
            ..Default::default()
        });
    }

    #[test]
    fn manually_triggered() {
        let mut crt = certificate();
        let s = good_secret();
        let input = |c: &Certificate| {
            needs_issuance(&PolicyInput {
                certificate: c,
                secret: Some(&s),
                current_request: None,
                now: now(),
            })
        };
        assert_eq!(input(&crt), None);
        assert!(!issuance_in_progress(&crt));
        with_issuing(
            &mut crt,
            ConditionStatus::True,
            "ManuallyTriggered",
            Some("Certificate re-issuance manually triggered"),
        );
        assert!(issuance_in_progress(&crt));
        assert_eq!(
            input(&crt),
            Some(Trigger {
                reason: "ManuallyTriggered",
                message: "Certificate re-issuance manually triggered".into()
            })
        );
        with_issuing(&mut crt, ConditionStatus::True, "ManuallyTriggered", None);
        assert_eq!(
            input(&crt).unwrap().message,
            "Certificate re-issuance manually triggered"
        );
        with_issuing(&mut crt, ConditionStatus::False, "ManuallyTriggered", None);
        assert_eq!(input(&crt), None);
        assert!(!issuance_in_progress(&crt));
        with_issuing(&mut crt, ConditionStatus::True, "Renewing", None);
        assert!(issuance_in_progress(&crt));
        assert_eq!(input(&crt), None);
    }

    #[test]
    fn request_matches_spec_fields() {
        let key = p256();
        let mut p = params(
            "example.com",
            &["example.com", "10.0.0.1", "::ffff:10.0.0.2"],
        );
        p.subject_alt_names
            .push(SanType::URI("spiffe://example.com/a".try_into().unwrap()));
        p.subject_alt_names
            .push(SanType::Rfc822Name("a@example.com".try_into().unwrap()));
        p.subject_alt_names.push(SanType::OtherName((
            vec![1, 3, 6, 1, 4, 1, 311, 20, 2, 3],
            "upn@example.com".into(),
        )));
        p.distinguished_name.push(DnType::OrganizationName, "Org");
        p.distinguished_name
            .push(DnType::OrganizationalUnitName, "Unit");
        p.distinguished_name.push(DnType::CountryName, "DE");
        p.distinguished_name.push(DnType::LocalityName, "Berlin");
        p.distinguished_name.push(DnType::StateOrProvinceName, "BE");
        p.distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 17]), "10115");
        p.distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 9]), "Street 1");
        p.distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 5]), "SN1");
        let req = request(&p, key);
        let base = CertificateSpec {
            common_name: Some("example.com".into()),
            dns_names: Some(vec!["example.com".into()]),
            ip_addresses: Some(vec!["10.0.0.2".into(), "10.0.0.1".into()]),
            uris: Some(vec!["spiffe://example.com/a".into()]),
            email_addresses: Some(vec!["a@example.com".into()]),
            other_names: Some(vec![OtherName {
                oid: Some("1.3.6.1.4.1.311.20.2.3".into()),
                utf8_value: Some("upn@example.com".into()),
            }]),
            subject: Some(X509Subject {
                organizations: Some(vec!["Org".into()]),
                countries: Some(vec!["DE".into()]),
                organizational_units: Some(vec!["Unit".into()]),
                localities: Some(vec!["Berlin".into()]),
                provinces: Some(vec!["BE".into()]),
                street_addresses: Some(vec!["Street 1".into()]),
                postal_codes: Some(vec!["10115".into()]),
                serial_number: Some("SN1".into()),
            }),
            issuer_ref: IssuerReference {
                name: "ca".into(),
                kind: None,
                group: None,
            },
            ..Default::default()
        };
        assert_eq!(
            request_matches_spec(&req, &base).unwrap(),
            Vec::<&str>::new()
        );

        type M = fn(&mut CertificateSpec);
        let cases: Vec<(&str, M, Vec<&str>)> = vec![
            (
                "ip",
                |s| s.ip_addresses = Some(vec!["10.0.0.1".into()]),
                vec!["spec.ipAddresses"],
            ),
            ("uri", |s| s.uris = None, vec!["spec.uris"]),
            (
                "email",
                |s| s.email_addresses = Some(vec!["b@example.com".into()]),
                vec!["spec.emailAddresses"],
            ),
            ("dns", |s| s.dns_names = None, vec!["spec.dnsNames"]),
            (
                "otherName",
                |s| s.other_names.as_mut().unwrap()[0].utf8_value = Some("x@example.com".into()),
                vec!["spec.otherNames"],
            ),
            (
                "otherNames unset are not compared",
                |s| s.other_names = None,
                vec![],
            ),
            ("cn", |s| s.common_name = None, vec!["spec.commonName"]),
            (
                "serial",
                |s| s.subject.as_mut().unwrap().serial_number = None,
                vec!["spec.subject.serialNumber"],
            ),
            (
                "org",
                |s| s.subject.as_mut().unwrap().organizations = None,
                vec!["spec.subject.organizations"],
            ),
            (
                "country",
                |s| s.subject.as_mut().unwrap().countries = None,
                vec!["spec.subject.countries"],
            ),
            (
                "locality",
                |s| s.subject.as_mut().unwrap().localities = None,
                vec!["spec.subject.localities"],
            ),
            (
                "ou",
                |s| s.subject.as_mut().unwrap().organizational_units = None,
                vec!["spec.subject.organizationalUnits"],
            ),
            (
                "postal",
                |s| s.subject.as_mut().unwrap().postal_codes = None,
                vec!["spec.subject.postCodes"],
            ),
            (
                "province (sic)",
                |s| s.subject.as_mut().unwrap().provinces = None,
                vec!["spec.subject.postCodes"],
            ),
            (
                "street",
                |s| s.subject.as_mut().unwrap().street_addresses = None,
                vec!["spec.subject.streetAddresses"],
            ),
            ("isCA", |s| s.is_ca = Some(true), vec!["spec.isCA"]),
            (
                "usages",
                |s| s.usages = Some(vec![KeyUsage::ClientAuth]),
                vec!["spec.usages"],
            ),
            (
                "issuer kind",
                |s| s.issuer_ref.kind = Some("ClusterIssuer".into()),
                vec!["spec.issuerRef"],
            ),
            (
                "issuer default kind",
                |s| s.issuer_ref.kind = Some("Issuer".into()),
                vec![],
            ),
            (
                "literal subject replaces subject fields",
                |s| {
                    s.literal_subject = Some("SERIALNUMBER=SN1,STREET=Street 1,POSTALCODE=10115,ST=BE,L=Berlin,C=DE,OU=Unit,O=Org,CN=example.com".into());
                    s.subject = None;
                    s.common_name = None;
                },
                vec![],
            ),
            (
                "literal subject differs",
                |s| {
                    s.literal_subject = Some("CN=example.com,O=Org".into());
                },
                vec!["spec.literalSubject"],
            ),
        ];
        for (name, m, want) in cases {
            let mut spec = base.clone();
            m(&mut spec);
            assert_eq!(request_matches_spec(&req, &spec).unwrap(), want, "{name}");
        }

        let mut spec = base.clone();
        spec.literal_subject = Some("FOO=bar".into());
        assert_eq!(
            request_matches_spec(&req, &spec).unwrap_err().to_string(),
            "literal subject: Literal subject contains unrecognized key with value [bar]"
        );
    }

    #[test]
    fn literal_subject_parsing() {
        let got = parse_literal_subject("CN=a\\,b + O=x,C=DE;DC=example").unwrap();
        assert_eq!(
            got,
            vec![
                vec![(
                    "0.9.2342.19200300.100.1.25".to_string(),
                    "example".to_string()
                )],
                vec![("2.5.4.6".to_string(), "DE".to_string())],
                vec![
                    ("2.5.4.10".to_string(), "x".to_string()),
                    ("2.5.4.3".to_string(), "a,b".to_string())
                ],
            ]
        );
        assert_eq!(
            parse_literal_subject("1.2.3.4=\\41").unwrap(),
            vec![vec![("1.2.3.4".to_string(), "A".to_string())]]
        );
        assert!(parse_literal_subject("CN=a\\").is_err());
        assert!(parse_literal_subject("novalue").is_err());
    }

    #[test]
    fn private_key_formats() {
        let ec = p256();
        let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let rsa = rsa2048();
        const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
        let ec_pub = Some(PublicKeyData::Ec {
            curve: EcCurve::P256,
            point: ec.public_key_raw().to_vec(),
        });
        let ed_pub_raw = ed.public_key_raw().to_vec();
        // A PKCS#8 v1 Ed25519 key (no public key), as Go writes them.
        let ed_seed = pkcs8_inner(&ed.serialize_pem());
        let mut v1 = tlv(0x02, &[0]);
        v1.extend(tlv(0x30, &tlv(0x06, OID_ED25519)));
        v1.extend(tlv(0x04, &ed_seed));
        let ed_v1 = pem("PRIVATE KEY", &tlv(0x30, &v1));
        let cases: Vec<(&str, String, KeyAlgorithm, Option<PublicKeyData>)> = vec![
            (
                "pkcs8 p256",
                ec.serialize_pem(),
                KeyAlgorithm::Ecdsa {
                    curve: EcCurve::P256,
                },
                ec_pub.clone(),
            ),
            (
                "sec1 p256",
                sec1_pem(ec, P256, true),
                KeyAlgorithm::Ecdsa {
                    curve: EcCurve::P256,
                },
                ec_pub.clone(),
            ),
            (
                "sec1 p256 without public key",
                sec1_pem(ec, P256, false),
                KeyAlgorithm::Ecdsa {
                    curve: EcCurve::P256,
                },
                ec_pub.clone(),
            ),
            (
                "pkcs8 p384",
                p384.serialize_pem(),
                KeyAlgorithm::Ecdsa {
                    curve: EcCurve::P384,
                },
                Some(PublicKeyData::Ec {
                    curve: EcCurve::P384,
                    point: p384.public_key_raw().to_vec(),
                }),
            ),
            (
                "sec1 p384",
                sec1_pem(&p384, P384, true),
                KeyAlgorithm::Ecdsa {
                    curve: EcCurve::P384,
                },
                Some(PublicKeyData::Ec {
                    curve: EcCurve::P384,
                    point: p384.public_key_raw().to_vec(),
                }),
            ),
            (
                "pkcs8 ed25519",
                ed.serialize_pem(),
                KeyAlgorithm::Ed25519,
                Some(PublicKeyData::Ed25519(ed_pub_raw.clone())),
            ),
            (
                "pkcs8 v1 ed25519",
                ed_v1,
                KeyAlgorithm::Ed25519,
                Some(PublicKeyData::Ed25519(ed_pub_raw)),
            ),
            (
                "pkcs8 rsa",
                rsa.serialize_pem(),
                KeyAlgorithm::Rsa { bits: 2048 },
                Some(rsa_public_key(rsa.public_key_raw()).unwrap()),
            ),
            (
                "pkcs1 rsa",
                pem("RSA PRIVATE KEY", &pkcs8_inner(&rsa.serialize_pem())),
                KeyAlgorithm::Rsa { bits: 2048 },
                Some(rsa_public_key(rsa.public_key_raw()).unwrap()),
            ),
        ];
        for (name, pem_text, alg, public) in cases {
            let info = parse_private_key_pem(pem_text.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(info.algorithm, alg, "{name}");
            assert_eq!(info.public_key, public, "{name}");
        }
        // SEC1 without a curve cannot be parsed (as in Go).
        let inner = pkcs8_inner(&ec.serialize_pem());
        let (_, seq, _) = der_tlv(&inner).unwrap();
        let (_, version, rest) = der_tlv(seq).unwrap();
        let (_, private, _) = der_tlv(rest).unwrap();
        let mut c = tlv(0x02, version);
        c.extend(tlv(0x04, private));
        let err =
            parse_private_key_pem(pem("EC PRIVATE KEY", &tlv(0x30, &c)).as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error parsing ecdsa private key: unknown elliptic curve"
        );
        // Unknown PKCS#8 algorithm.
        let mut u = tlv(0x02, &[0]);
        u.extend(tlv(0x30, &tlv(0x06, &[0x2b, 0x65, 0x6e])));
        u.extend(tlv(0x04, &tlv(0x04, &[1; 32])));
        let err = parse_private_key_pem(pem("PRIVATE KEY", &tlv(0x30, &u)).as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x509: PKCS#8 wrapping contained private key with unknown algorithm: 1.3.101.110"
        );
        // Errors never echo key bytes.
        let err =
            parse_private_key_pem(pem("PRIVATE KEY", b"\x30\x03secret").as_bytes()).unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn key_matches_spec() {
        let rsa = PrivateKeyInfo {
            algorithm: KeyAlgorithm::Rsa { bits: 2048 },
            public_key: None,
        };
        let rsa4k = PrivateKeyInfo {
            algorithm: KeyAlgorithm::Rsa { bits: 4096 },
            public_key: None,
        };
        let p256 = PrivateKeyInfo {
            algorithm: KeyAlgorithm::Ecdsa {
                curve: EcCurve::P256,
            },
            public_key: None,
        };
        let p521 = PrivateKeyInfo {
            algorithm: KeyAlgorithm::Ecdsa {
                curve: EcCurve::P521,
            },
            public_key: None,
        };
        let ed = PrivateKeyInfo {
            algorithm: KeyAlgorithm::Ed25519,
            public_key: None,
        };
        let spec = |alg: Option<PrivateKeyAlgorithm>, size: Option<i32>| CertificateSpec {
            private_key: Some(CertificatePrivateKey {
                algorithm: alg,
                size,
                ..Default::default()
            }),
            ..Default::default()
        };
        let none: Vec<&str> = vec![];
        let cases = [
            (
                "default RSA 2048",
                &rsa,
                CertificateSpec::default(),
                none.clone(),
            ),
            (
                "RSA explicit 2048",
                &rsa,
                spec(Some(PrivateKeyAlgorithm::Rsa), Some(2048)),
                none.clone(),
            ),
            (
                "RSA size 0 defaults",
                &rsa,
                spec(Some(PrivateKeyAlgorithm::Rsa), Some(0)),
                none.clone(),
            ),
            (
                "RSA 4096 wanted",
                &rsa,
                spec(None, Some(4096)),
                vec!["spec.privateKey.size"],
            ),
            (
                "RSA 4096 default 2048",
                &rsa4k,
                spec(None, None),
                vec!["spec.privateKey.size"],
            ),
            (
                "ECDSA default 256",
                &p256,
                spec(Some(PrivateKeyAlgorithm::Ecdsa), None),
                none.clone(),
            ),
            (
                "ECDSA 521",
                &p521,
                spec(Some(PrivateKeyAlgorithm::Ecdsa), Some(521)),
                none.clone(),
            ),
            (
                "ECDSA 384 wanted",
                &p256,
                spec(Some(PrivateKeyAlgorithm::Ecdsa), Some(384)),
                vec!["spec.privateKey.size"],
            ),
            (
                "Ed25519 size ignored",
                &ed,
                spec(Some(PrivateKeyAlgorithm::Ed25519), Some(4096)),
                none.clone(),
            ),
            (
                "RSA wanted, EC given",
                &p256,
                spec(None, None),
                vec!["spec.privateKey.algorithm"],
            ),
            (
                "EC wanted, Ed given",
                &ed,
                spec(Some(PrivateKeyAlgorithm::Ecdsa), None),
                vec!["spec.privateKey.algorithm"],
            ),
            (
                "Ed wanted, RSA given",
                &rsa,
                spec(Some(PrivateKeyAlgorithm::Ed25519), None),
                vec!["spec.privateKey.algorithm"],
            ),
        ];
        for (name, key, spec, want) in cases {
            assert_eq!(private_key_matches_spec(key, &spec), want, "{name}");
        }
    }

    #[test]
    fn rsa_pkcs1_secret_chain() {
        let rsa = rsa2048();
        let p = params("example.com", &["example.com"]);
        let mut crt = certificate();
        crt.spec.private_key = None;
        let mut s = good_secret();
        s.data
            .insert("tls.crt".into(), cert_pem(&p, rsa).into_bytes());
        s.data.insert(
            "tls.key".into(),
            pem("RSA PRIVATE KEY", &pkcs8_inner(&rsa.serialize_pem())).into_bytes(),
        );
        let req = request(&p, rsa);
        let input = PolicyInput {
            certificate: &crt,
            secret: Some(&s),
            current_request: Some(&req),
            now: now(),
        };
        assert_eq!(trigger_chain(&input), None);
        crt.spec.private_key = Some(CertificatePrivateKey {
            size: Some(4096),
            ..Default::default()
        });
        let input = PolicyInput {
            certificate: &crt,
            secret: Some(&s),
            current_request: Some(&req),
            now: now(),
        };
        assert_eq!(
            trigger_chain(&input).unwrap().message,
            "Existing private key is not up to date for spec: [spec.privateKey.size]"
        );
    }

    #[test]
    fn annotations_and_csv() {
        let mut p = params(
            "example.com",
            &["example.com", "a,b.example.com", "10.0.0.1", "::1"],
        );
        p.distinguished_name
            .push(DnType::OrganizationName, "Org, Inc.");
        p.subject_alt_names
            .push(SanType::Rfc822Name("a@example.com".try_into().unwrap()));
        let a = annotations_for_certificate_pem(cert_pem(&p, p256()).as_bytes()).unwrap();
        let want: BTreeMap<String, String> = [
            (ann::COMMON_NAME, "example.com"),
            (ann::ALT_NAMES, "example.com,\"a,b.example.com\""),
            (ann::IP_SANS, "10.0.0.1,::1"),
            (ann::URI_SANS, ""),
            (ann::EMAIL_SANS, "a@example.com"),
            (ann::SUBJECT_ORGANIZATIONS, "\"Org, Inc.\""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(a, want);
        let j =
            |v: &[&str]| join_with_escape_csv(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(j(&[]), "");
        assert_eq!(j(&["a", "b"]), "a,b");
        assert_eq!(j(&["a\"b"]), "\"a\"\"b\"");
        assert_eq!(j(&[" lead"]), "\" lead\"");
        assert_eq!(j(&["", "x"]), ",x");
        assert!(annotations_for_certificate_pem(b"nope").is_err());
    }

    fn post(
        mutate: impl Fn(&mut Certificate, &mut SecretSnapshot, &mut CertificateRequest),
        owner_ref: bool,
    ) -> Option<Trigger> {
        let mut crt = certificate();
        let mut s = good_secret();
        let mut r = good_request();
        mutate(&mut crt, &mut s, &mut r);
        secret_post_issuance_violation(
            &PolicyInput {
                certificate: &crt,
                secret: Some(&s),
                current_request: Some(&r),
                now: now(),
            },
            owner_ref,
        )
    }

    #[test]
    fn post_issuance_checks() {
        type M = Box<dyn Fn(&mut Certificate, &mut SecretSnapshot, &mut CertificateRequest)>;
        let template = |c: &mut Certificate| {
            c.spec.secret_template = Some(CertificateSecretTemplate {
                annotations: Some([("a".to_string(), "1".to_string())].into()),
                labels: Some([("l".to_string(), "2".to_string())].into()),
            })
        };
        let key = p256().serialize_pem();
        let key_der = output_format_der(key.as_bytes());
        let owner = SecretOwnerReference {
            api_version: "cert-manager.io/v1".into(),
            kind: "Certificate".into(),
            name: "crt".into(),
            uid: "uid-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let owner2 = owner.clone();
        let owner3 = owner.clone();
        type PostCase = (&'static str, M, bool, Option<(&'static str, &'static str)>);
        let cases: Vec<PostCase> = vec![
            ("all good", Box::new(|_, _, _| {}), false, None),
            (
                "no secret data is left to issuance",
                Box::new(|_, s, _| s.data.clear()),
                false,
                None,
            ),
            (
                "wrong base label",
                Box::new(|_, s, _| {
                    s.labels
                        .insert(ann::LABEL_PART_OF_CONTROLLER.into(), "false".into());
                }),
                false,
                Some((
                    reasons::SECRET_MANAGED_METADATA_MISMATCH,
                    "wrong base label controller.cert-manager.io/fao value \"false\", expected \"true\"",
                )),
            ),
            (
                "certificate details annotation differs",
                Box::new(|_, s, _| {
                    s.annotations
                        .insert(ann::COMMON_NAME.into(), "old.example.com".into());
                }),
                false,
                Some((
                    reasons::SECRET_TEMPLATE_MISMATCH,
                    "Secret metadata old.example.com does not match certificate metadata example.com",
                )),
            ),
            (
                "missing base label",
                Box::new(|_, s, _| s.labels.clear()),
                false,
                Some((
                    reasons::SECRET_MANAGED_METADATA_MISMATCH,
                    "Secret is missing these Managed Labels: [controller.cert-manager.io/fao]",
                )),
            ),
            (
                "missing details annotations",
                Box::new(|_, s, _| {
                    s.annotations.remove(ann::ALT_NAMES);
                    s.annotations.remove(ann::URI_SANS);
                }),
                false,
                Some((
                    reasons::SECRET_MANAGED_METADATA_MISMATCH,
                    "Secret is missing these Managed Annotations: [cert-manager.io/alt-names cert-manager.io/uri-sans]",
                )),
            ),
            (
                "template annotation value differs",
                Box::new(move |c, s, _| {
                    template(c);
                    s.annotations.insert("a".into(), "x".into());
                    s.labels.insert("l".into(), "2".into());
                }),
                false,
                Some((
                    reasons::SECRET_TEMPLATE_MISMATCH,
                    "Certificate's SecretTemplate Annotations missing or incorrect value on Secret",
                )),
            ),
            (
                "template label value differs",
                Box::new(move |c, s, _| {
                    template(c);
                    s.annotations.insert("a".into(), "1".into());
                    s.labels.insert("l".into(), "x".into());
                }),
                false,
                Some((
                    reasons::SECRET_TEMPLATE_MISMATCH,
                    "Certificate's SecretTemplate Labels missing or incorrect value on Secret",
                )),
            ),
            (
                "template label missing",
                Box::new(move |c, s, _| {
                    template(c);
                    s.annotations.insert("a".into(), "1".into());
                }),
                false,
                Some((
                    reasons::SECRET_TEMPLATE_MISMATCH,
                    "Secret is missing these Template Labels: [l]",
                )),
            ),
            (
                "template annotation missing",
                Box::new(move |c, s, _| {
                    template(c);
                    s.labels.insert("l".into(), "2".into());
                }),
                false,
                Some((
                    reasons::SECRET_TEMPLATE_MISMATCH,
                    "Secret is missing these Template Annotations: [a]",
                )),
            ),
            (
                "template satisfied",
                Box::new(move |c, s, _| {
                    template(c);
                    s.labels.insert("l".into(), "2".into());
                    s.annotations.insert("a".into(), "1".into());
                }),
                false,
                None,
            ),
            (
                "combined PEM missing",
                Box::new(|c, _, _| {
                    c.spec.additional_output_formats =
                        Some(vec![CertificateAdditionalOutputFormat {
                            type_: AdditionalOutputFormatType::CombinedPEM,
                        }])
                }),
                false,
                Some((
                    reasons::ADDITIONAL_OUTPUT_FORMATS_MISMATCH,
                    "Certificate's AdditionalOutputFormats doesn't match Secret Data",
                )),
            ),
            (
                "combined PEM present",
                Box::new(|c, s, _| {
                    c.spec.additional_output_formats =
                        Some(vec![CertificateAdditionalOutputFormat {
                            type_: AdditionalOutputFormatType::CombinedPEM,
                        }]);
                    let combined =
                        output_format_combined_pem(&s.data["tls.key"], &s.data["tls.crt"]);
                    s.data.insert(ann::TLS_COMBINED_PEM.into(), combined);
                }),
                false,
                None,
            ),
            (
                "DER wrong",
                Box::new(|c, s, _| {
                    c.spec.additional_output_formats =
                        Some(vec![CertificateAdditionalOutputFormat {
                            type_: AdditionalOutputFormatType::Der,
                        }]);
                    s.data.insert(ann::KEY_DER.into(), b"x".to_vec());
                }),
                false,
                Some((
                    reasons::ADDITIONAL_OUTPUT_FORMATS_MISMATCH,
                    "Certificate's AdditionalOutputFormats doesn't match Secret Data",
                )),
            ),
            (
                "DER present",
                Box::new(move |c, s, _| {
                    c.spec.additional_output_formats =
                        Some(vec![CertificateAdditionalOutputFormat {
                            type_: AdditionalOutputFormatType::Der,
                        }]);
                    s.data.insert(ann::KEY_DER.into(), key_der.clone());
                }),
                false,
                None,
            ),
            (
                "DER no longer requested",
                Box::new(|_, s, _| {
                    s.data.insert(ann::KEY_DER.into(), b"x".to_vec());
                }),
                false,
                Some((
                    reasons::ADDITIONAL_OUTPUT_FORMATS_MISMATCH,
                    "Certificate's AdditionalOutputFormats doesn't match Secret ManagedFields",
                )),
            ),
            (
                "owner ref expected, missing",
                Box::new(|_, _, _| {}),
                true,
                Some((
                    reasons::SECRET_OWNER_REF_MISMATCH,
                    "unexpected Secret Owner Reference value on Secret --enable-certificate-owner-ref=true",
                )),
            ),
            (
                "owner ref expected, present",
                Box::new(move |_, s, _| s.owner_references.push(owner.clone())),
                true,
                None,
            ),
            (
                "owner ref expected, not controller",
                Box::new(move |_, s, _| {
                    let mut o = owner2.clone();
                    o.controller = None;
                    s.owner_references.push(o);
                }),
                true,
                Some((
                    reasons::SECRET_OWNER_REF_MISMATCH,
                    "unexpected Secret Owner Reference value on Secret --enable-certificate-owner-ref=true",
                )),
            ),
            (
                "owner ref not expected, present",
                Box::new(move |_, s, _| s.owner_references.push(owner3.clone())),
                false,
                Some((
                    reasons::SECRET_OWNER_REF_MISMATCH,
                    "unexpected managed Secret Owner Reference field on Secret --enable-certificate-owner-ref=false",
                )),
            ),
            (
                "keystore not defined",
                Box::new(|_, s, _| {
                    s.data.insert(ann::KEYSTORE_P12.into(), b"x".to_vec());
                }),
                false,
                Some((reasons::SECRET_MISMATCH, "Keystore is not defined")),
            ),
            (
                "jks missing",
                Box::new(|c, _, _| {
                    c.spec.keystores = Some(CertificateKeystores {
                        jks: Some(JksKeystore {
                            create: true,
                            ..Default::default()
                        }),
                        pkcs12: None,
                    })
                }),
                false,
                Some((
                    reasons::SECRET_MISMATCH,
                    "JKS Keystore key does not contain data",
                )),
            ),
            (
                "jks truststore missing with CA",
                Box::new(|c, s, _| {
                    c.spec.keystores = Some(CertificateKeystores {
                        jks: Some(JksKeystore {
                            create: true,
                            ..Default::default()
                        }),
                        pkcs12: None,
                    });
                    s.data.insert(ann::KEYSTORE_JKS.into(), b"x".to_vec());
                }),
                false,
                Some((
                    reasons::SECRET_MISMATCH,
                    "JKS Keystore key does not contain data",
                )),
            ),
            (
                "jks without CA",
                Box::new(|c, s, _| {
                    c.spec.keystores = Some(CertificateKeystores {
                        jks: Some(JksKeystore {
                            create: true,
                            ..Default::default()
                        }),
                        pkcs12: None,
                    });
                    s.data.insert(ann::KEYSTORE_JKS.into(), b"x".to_vec());
                    s.data.remove(ann::CA_CRT);
                }),
                false,
                None,
            ),
            (
                "jks create disabled",
                Box::new(|c, s, _| {
                    c.spec.keystores = Some(CertificateKeystores {
                        jks: Some(JksKeystore {
                            create: false,
                            ..Default::default()
                        }),
                        pkcs12: None,
                    });
                    s.data.insert(ann::TRUSTSTORE_JKS.into(), b"x".to_vec());
                }),
                false,
                Some((reasons::SECRET_MISMATCH, "JKS Keystore create disabled")),
            ),
            (
                "jks not defined",
                Box::new(|c, s, _| {
                    c.spec.keystores = Some(CertificateKeystores {
                        jks: None,
                        pkcs12: Some(Pkcs12Keystore {
                            create: false,
                            ..Default::default()
                        }),
                    });
                    s.data.insert(ann::KEYSTORE_JKS.into(), b"x".to_vec());
                }),
                false,
                Some((reasons::SECRET_MISMATCH, "JKS Keystore not defined")),
            ),
            (
                "pkcs12 missing",
                Box::new(|c, _, _| {
                    c.spec.keystores = Some(CertificateKeystores {
                        jks: None,
                        pkcs12: Some(Pkcs12Keystore {
                            create: true,
                            ..Default::default()
                        }),
                    })
                }),
                false,
                Some((
                    reasons::SECRET_MISMATCH,
                    "PKCS12 Keystore key does not contain data",
                )),
            ),
            (
                "pkcs12 create disabled",
                Box::new(|c, s, _| {
                    c.spec.keystores = Some(CertificateKeystores {
                        jks: None,
                        pkcs12: Some(Pkcs12Keystore {
                            create: false,
                            ..Default::default()
                        }),
                    });
                    s.data.insert(ann::KEYSTORE_P12.into(), b"x".to_vec());
                }),
                false,
                Some((reasons::SECRET_MISMATCH, "PKCS12 Keystore create disabled")),
            ),
            (
                "pkcs12 not defined",
                Box::new(|c, s, _| {
                    c.spec.keystores = Some(CertificateKeystores {
                        jks: None,
                        pkcs12: None,
                    });
                    s.data.insert(ann::TRUSTSTORE_P12.into(), b"x".to_vec());
                }),
                false,
                Some((reasons::SECRET_MISMATCH, "PKCS12 Keystore not defined")),
            ),
            (
                "ca.crt missing though issuer provided one",
                Box::new(|_, s, r| {
                    s.data.remove(ann::CA_CRT);
                    r.status = Some(CertificateRequestStatus {
                        ca: Some("Y2E=".into()),
                        ..Default::default()
                    });
                }),
                false,
                Some((
                    reasons::SECRET_MISMATCH,
                    "Secret is missing the ca.crt key although the issuer provided a CA",
                )),
            ),
            (
                "ca.crt missing, issuer has no CA",
                Box::new(|_, s, _| {
                    s.data.remove(ann::CA_CRT);
                }),
                false,
                None,
            ),
        ];
        for (name, m, owner_ref, want) in cases {
            let got = post(m, owner_ref);
            assert_eq!(
                got.as_ref().map(|t| (t.reason, t.message.as_str())),
                want,
                "{name}"
            );
        }
        assert_eq!(
            secret_needs_update(
                &PolicyInput {
                    certificate: &certificate(),
                    secret: Some(&SecretSnapshot {
                        labels: BTreeMap::new(),
                        ..good_secret()
                    }),
                    current_request: None,
                    now: now()
                },
                false
            ),
            Some(
                "Secret is missing these Managed Labels: [controller.cert-manager.io/fao]"
                    .to_string()
            )
        );
    }

    #[test]
    fn backoff() {
        let mut crt = certificate();
        assert_eq!(backoff_remaining(&crt, None, now()), None);
        crt.status = Some(CertificateStatus {
            last_failure_time: Some(Time(ts("2024-02-01T00:00:00Z"))),
            failed_issuance_attempts: Some(3),
            ..Default::default()
        });
        // 3 failures → 20 minutes.
        assert_eq!(
            backoff_remaining(&crt, None, ts("2024-02-01T00:05:00Z")),
            Some(SignedDuration::from_mins(15))
        );
        assert_eq!(
            backoff_remaining(&crt, None, ts("2024-02-01T00:20:00Z")),
            None
        );
        let req = good_request();
        assert_eq!(
            backoff_remaining(&crt, Some(&req), ts("2024-02-01T00:05:00Z")),
            Some(SignedDuration::from_mins(15))
        );
        // The spec changed since the failed request: no back-off.
        crt.spec.dns_names = Some(vec!["changed.example.com".into()]);
        assert_eq!(
            backoff_remaining(&crt, Some(&req), ts("2024-02-01T00:05:00Z")),
            None
        );
        // An undecodable request: no back-off.
        let mut bad = good_request();
        bad.spec.request = "!!".into();
        crt.spec.dns_names = Some(vec!["example.com".into()]);
        assert_eq!(
            backoff_remaining(&crt, Some(&bad), ts("2024-02-01T00:05:00Z")),
            None
        );
        // Missing attempts counter → the initial delay.
        crt.status.as_mut().unwrap().failed_issuance_attempts = None;
        assert_eq!(
            backoff_remaining(&crt, None, ts("2024-02-01T00:01:00Z")),
            Some(SignedDuration::from_mins(4))
        );
        assert_eq!(
            backoff_message(ts("2024-02-01T00:05:00.5Z")),
            "Backing off from issuance due to previously failed issuance(s). Issuance will next be attempted at 2024-02-01 00:05:00.5 +0000 UTC"
        );
    }

    #[test]
    fn formatting() {
        assert_eq!(
            rfc1123(ts("2024-03-31T00:00:00Z")),
            "Sun, 31 Mar 2024 00:00:00 UTC"
        );
        assert_eq!(
            go_time_string(ts("2024-03-01T01:02:03Z")),
            "2024-03-01 01:02:03 +0000 UTC"
        );
        assert_eq!(
            go_time_string(ts("2024-03-01T01:02:03.120Z")),
            "2024-03-01 01:02:03.12 +0000 UTC"
        );
        assert_eq!(go_list(&["a", "b"]), "[a b]");
        assert_eq!(go_list::<&str>(&[]), "[]");
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(
            oid_to_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]),
            "1.2.840.113549.1.1.1"
        );
    }

    #[test]
    fn secret_debug_hides_data() {
        let s = good_secret();
        let d = format!("{s:?}");
        assert!(!d.contains("PRIVATE KEY"), "{d}");
        assert!(d.contains("tls.key"));
    }
}
