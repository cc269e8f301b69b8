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

use std::collections::BTreeMap;

use crate::gocompat::{go_list, go_time_string, rfc1123};

use jiff::{SignedDuration, Timestamp};
use x509_parser::prelude::{FromDer, X509Certificate, X509CertificationRequest};

use super::renewal::{self, go_quote};
use crate::api::annotations as ann;
use crate::api::certificate::{AdditionalOutputFormatType, Certificate, CertificateSpec};
use crate::api::certificate_request::CertificateRequest;
use crate::api::meta::ConditionStatus;
use crate::pki::matching::*;
pub use crate::pki::matching::{private_key_matches_spec, request_matches_spec};
pub use crate::pki::output_formats::{
    annotations_for_certificate_pem, join_with_escape_csv, output_format_combined_pem,
    output_format_der,
};
use crate::pki::parse::*;
pub use crate::pki::parse::{
    CertError, KeyDecodeError, KeyType, PrivateKeyInfo, parse_private_key_pem,
};

use crate::pki::output_formats::annotations_for_certificate;

mod checks;
mod secret_checks;

use checks::{Ctx, secret_does_not_exist};

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

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Whether an issuance is already in progress (`Issuing` condition `True`).
/// cert-manager's trigger controller does nothing for such a Certificate.
pub fn issuance_in_progress(certificate: &Certificate) -> bool {
    issuing_condition(certificate).is_some_and(|c| c.status == ConditionStatus::True)
}

fn issuing_condition(certificate: &Certificate) -> Option<&crate::api::meta::Condition> {
    crate::api::certificate::certificate_condition(certificate, "Issuing")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::certificate::{
        CertificateAdditionalOutputFormat, CertificateKeystores, CertificatePrivateKey,
        CertificateRenewal, CertificateSecretTemplate, CertificateStatus, JksKeystore,
        Pkcs12Keystore, RenewalPolicy, X509Subject,
    };
    use crate::api::certificate::{KeyUsage, OtherName, PrivateKeyAlgorithm};
    use crate::api::certificate_request::{CertificateRequestSpec, CertificateRequestStatus};
    use crate::api::meta::{Condition, IssuerReference};
    use base64::Engine as _;
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
            case("renewal disabled", ts("2024-04-15T00:00:00Z"), None, |c, _, _| c.spec.renewal = Some(Box::new(CertificateRenewal { policy: Some(RenewalPolicy::Disabled), windows: None }))),
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
            subject: Some(Box::new(X509Subject {
                organizations: Some(vec!["Org".into()]),
                countries: Some(vec!["DE".into()]),
                organizational_units: Some(vec!["Unit".into()]),
                localities: Some(vec!["Berlin".into()]),
                provinces: Some(vec!["BE".into()]),
                street_addresses: Some(vec!["Street 1".into()]),
                postal_codes: Some(vec!["10115".into()]),
                serial_number: Some("SN1".into()),
            })),
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
        let cases: Vec<(&str, String, KeyType, Option<PublicKeyData>)> = vec![
            (
                "pkcs8 p256",
                ec.serialize_pem(),
                KeyType::Ecdsa {
                    curve: EcCurve::P256,
                },
                ec_pub.clone(),
            ),
            (
                "sec1 p256",
                sec1_pem(ec, P256, true),
                KeyType::Ecdsa {
                    curve: EcCurve::P256,
                },
                ec_pub.clone(),
            ),
            (
                "sec1 p256 without public key",
                sec1_pem(ec, P256, false),
                KeyType::Ecdsa {
                    curve: EcCurve::P256,
                },
                ec_pub.clone(),
            ),
            (
                "pkcs8 p384",
                p384.serialize_pem(),
                KeyType::Ecdsa {
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
                KeyType::Ecdsa {
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
                KeyType::Ed25519,
                Some(PublicKeyData::Ed25519(ed_pub_raw.clone())),
            ),
            (
                "pkcs8 v1 ed25519",
                ed_v1,
                KeyType::Ed25519,
                Some(PublicKeyData::Ed25519(ed_pub_raw)),
            ),
            (
                "pkcs8 rsa",
                rsa.serialize_pem(),
                KeyType::Rsa { bits: 2048 },
                Some(rsa_public_key(rsa.public_key_raw()).unwrap()),
            ),
            (
                "pkcs1 rsa",
                pem("RSA PRIVATE KEY", &pkcs8_inner(&rsa.serialize_pem())),
                KeyType::Rsa { bits: 2048 },
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
            algorithm: KeyType::Rsa { bits: 2048 },
            public_key: None,
        };
        let rsa4k = PrivateKeyInfo {
            algorithm: KeyType::Rsa { bits: 4096 },
            public_key: None,
        };
        let p256 = PrivateKeyInfo {
            algorithm: KeyType::Ecdsa {
                curve: EcCurve::P256,
            },
            public_key: None,
        };
        let p521 = PrivateKeyInfo {
            algorithm: KeyType::Ecdsa {
                curve: EcCurve::P521,
            },
            public_key: None,
        };
        let ed = PrivateKeyInfo {
            algorithm: KeyType::Ed25519,
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
                    c.spec.keystores = Some(Box::new(CertificateKeystores {
                        jks: Some(JksKeystore {
                            create: true,
                            ..Default::default()
                        }),
                        pkcs12: None,
                    }))
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
                    c.spec.keystores = Some(Box::new(CertificateKeystores {
                        jks: Some(JksKeystore {
                            create: true,
                            ..Default::default()
                        }),
                        pkcs12: None,
                    }));
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
                    c.spec.keystores = Some(Box::new(CertificateKeystores {
                        jks: Some(JksKeystore {
                            create: true,
                            ..Default::default()
                        }),
                        pkcs12: None,
                    }));
                    s.data.insert(ann::KEYSTORE_JKS.into(), b"x".to_vec());
                    s.data.remove(ann::CA_CRT);
                }),
                false,
                None,
            ),
            (
                "jks create disabled",
                Box::new(|c, s, _| {
                    c.spec.keystores = Some(Box::new(CertificateKeystores {
                        jks: Some(JksKeystore {
                            create: false,
                            ..Default::default()
                        }),
                        pkcs12: None,
                    }));
                    s.data.insert(ann::TRUSTSTORE_JKS.into(), b"x".to_vec());
                }),
                false,
                Some((reasons::SECRET_MISMATCH, "JKS Keystore create disabled")),
            ),
            (
                "jks not defined",
                Box::new(|c, s, _| {
                    c.spec.keystores = Some(Box::new(CertificateKeystores {
                        jks: None,
                        pkcs12: Some(Pkcs12Keystore {
                            create: false,
                            ..Default::default()
                        }),
                    }));
                    s.data.insert(ann::KEYSTORE_JKS.into(), b"x".to_vec());
                }),
                false,
                Some((reasons::SECRET_MISMATCH, "JKS Keystore not defined")),
            ),
            (
                "pkcs12 missing",
                Box::new(|c, _, _| {
                    c.spec.keystores = Some(Box::new(CertificateKeystores {
                        jks: None,
                        pkcs12: Some(Pkcs12Keystore {
                            create: true,
                            ..Default::default()
                        }),
                    }))
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
                    c.spec.keystores = Some(Box::new(CertificateKeystores {
                        jks: None,
                        pkcs12: Some(Pkcs12Keystore {
                            create: false,
                            ..Default::default()
                        }),
                    }));
                    s.data.insert(ann::KEYSTORE_P12.into(), b"x".to_vec());
                }),
                false,
                Some((reasons::SECRET_MISMATCH, "PKCS12 Keystore create disabled")),
            ),
            (
                "pkcs12 not defined",
                Box::new(|c, s, _| {
                    c.spec.keystores = Some(Box::new(CertificateKeystores {
                        jks: None,
                        pkcs12: None,
                    }));
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
