//! `acme.cert-manager.io/v1` Challenge: one ACME challenge being solved.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::acme::AcmeChallengeSolver;
use super::meta::IssuerReference;
use super::order::State;

/// The specification of a Challenge. Immutable once created.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "acme.cert-manager.io",
    version = "v1",
    kind = "Challenge",
    plural = "challenges",
    singular = "challenge",
    namespaced,
    status = "ChallengeStatus",
    category = "cert-manager",
    category = "cert-manager-acme",
    derive = "PartialEq",
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".spec.dnsName"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.reason","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC."}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeSpec {
    /// The challenge URL.
    pub url: String,
    /// The URL of the authorization the challenge belongs to.
    #[serde(rename = "authorizationURL")]
    pub authorization_url: String,
    /// The name being validated, without any `*.` prefix.
    pub dns_name: String,
    /// Whether the authorization is for a wildcard name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wildcard: Option<bool>,
    /// `HTTP-01` or `DNS-01`.
    #[serde(rename = "type")]
    pub type_: AcmeChallengeType,
    /// The challenge token.
    pub token: String,
    /// The key authorization (HTTP-01 body; DNS-01 TXT value before hashing).
    pub key: String,
    /// The solver chosen for the challenge.
    pub solver: AcmeChallengeSolver,
    /// The ACME issuer the challenge belongs to.
    pub issuer_ref: IssuerReference,
}

/// Challenge types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AcmeChallengeType {
    #[serde(rename = "HTTP-01")]
    Http01,
    #[serde(rename = "DNS-01")]
    Dns01,
    /// TLS-ALPN-01 (RFC 8737): certgate only (cert-manager has no such solver); see
    /// [`crate::tlsalpn01`].
    #[serde(rename = "TLS-ALPN-01")]
    TlsAlpn01,
}

impl AcmeChallengeType {
    /// The name as written in `spec.type` (`HTTP-01`, `DNS-01`, `TLS-ALPN-01`).
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeChallengeType::Http01 => "HTTP-01",
            AcmeChallengeType::Dns01 => "DNS-01",
            AcmeChallengeType::TlsAlpn01 => "TLS-ALPN-01",
        }
    }
}

/// The observed state of a Challenge.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ChallengeStatus {
    /// Whether the controller is still working on the challenge.
    pub processing: Option<bool>,
    /// Whether the record or the HTTP resource has been presented.
    pub presented: Option<bool>,
    /// Why the challenge is in its state.
    pub reason: Option<String>,
    /// The state of the challenge.
    pub state: Option<State>,
    /// When the challenge was presented.
    #[serde(rename = "presentedAt")]
    pub presented_at: Option<Time>,
}
