//! Types shared by every cert-manager API kind: references and conditions
//! (`pkg/apis/meta/v1` in cert-manager).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// A reference to an Issuer or ClusterIssuer (cert-manager's `IssuerReference`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct IssuerReference {
    /// Name of the issuer being referred to.
    pub name: String,
    /// Kind of the issuer being referred to (`Issuer` or `ClusterIssuer` for cert-manager.io).
    pub kind: Option<String>,
    /// Group of the issuer being referred to (`cert-manager.io` when empty).
    pub group: Option<String>,
}

impl IssuerReference {
    /// The group, defaulted the way cert-manager defaults it.
    pub fn group_or_default(&self) -> &str {
        match self.group.as_deref() {
            None | Some("") => crate::api::GROUP,
            Some(g) => g,
        }
    }

    /// The kind, defaulted the way cert-manager defaults it.
    pub fn kind_or_default(&self) -> &str {
        match self.kind.as_deref() {
            None | Some("") => "Issuer",
            Some(k) => k,
        }
    }
}

/// A reference to an object in the same namespace, by name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the resource being referred to.
    pub name: String,
}

/// A reference to a key of a Secret in the same namespace.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretKeySelector {
    /// Name of the Secret.
    pub name: String,
    /// The key of the entry in the Secret's `data` field. Some fields give it a default.
    pub key: Option<String>,
}

/// A reference to a ServiceAccount whose token is requested for authentication.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ServiceAccountRef {
    /// Name of the ServiceAccount.
    pub name: String,
    /// Audiences of the requested token, in addition to the default one.
    pub audiences: Option<Vec<String>>,
}

/// The status of a condition: `True`, `False` or `Unknown`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// A condition of a Certificate, Issuer or ClusterIssuer.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition, e.g. `Ready` or `Issuing`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition.
    pub status: ConditionStatus,
    /// When the condition last moved from one status to another.
    pub last_transition_time: Option<Time>,
    /// A machine-readable CamelCase reason for the last transition.
    pub reason: Option<String>,
    /// A human-readable message with details about the last transition.
    pub message: Option<String>,
    /// The `metadata.generation` the condition was set for.
    pub observed_generation: Option<i64>,
}

/// A condition of a CertificateRequest (cert-manager's has no observedGeneration).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestCondition {
    /// Type of the condition: `Ready`, `Approved`, `Denied` or `InvalidRequest`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition.
    pub status: ConditionStatus,
    /// When the condition last moved from one status to another.
    pub last_transition_time: Option<Time>,
    /// A machine-readable CamelCase reason for the last transition.
    pub reason: Option<String>,
    /// A human-readable message with details about the last transition.
    pub message: Option<String>,
}
