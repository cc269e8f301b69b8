//! `acme.cert-manager.io/v1` Order: one ACME order made for a CertificateRequest.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::meta::IssuerReference;

/// The specification of an Order. Immutable once created.
#[skip_serializing_none]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "acme.cert-manager.io",
    version = "v1",
    kind = "Order",
    plural = "orders",
    singular = "order",
    namespaced,
    status = "OrderStatus",
    category = "cert-manager",
    category = "cert-manager-acme",
    derive = "PartialEq",
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Issuer","type":"string","jsonPath":".spec.issuerRef.name","priority":1}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.reason","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC."}"#
)]
#[serde(rename_all = "camelCase")]
pub struct OrderSpec {
    /// The PEM CSR (base64 in JSON) sent when the order is finalized.
    pub request: String,
    /// The ACME issuer that made the order.
    pub issuer_ref: IssuerReference,
    /// The common name of the CSR, which must also be one of `dnsNames`.
    pub common_name: Option<String>,
    /// The DNS identifiers of the order.
    #[serde(rename = "dnsNames")]
    pub dns_names: Option<Vec<String>>,
    /// The IP identifiers of the order.
    pub ip_addresses: Option<Vec<String>>,
    /// The requested lifetime, sent as notAfter when `enableDurationFeature` is on.
    pub duration: Option<String>,
    /// The ACME profile requested for the order.
    pub profile: Option<String>,
}

/// The observed state of an Order, mirroring the ACME order.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatus {
    /// The order URL.
    pub url: Option<String>,
    /// The URL the CSR is posted to.
    #[serde(rename = "finalizeURL")]
    pub finalize_url: Option<String>,
    /// The authorizations of the order.
    pub authorizations: Option<Vec<AcmeAuthorization>>,
    /// The issued chain (PEM, base64 in JSON).
    pub certificate: Option<String>,
    /// The state of the order.
    pub state: Option<State>,
    /// Why the order is in its state.
    pub reason: Option<String>,
    /// When the order failed.
    pub failure_time: Option<Time>,
}

/// One authorization of an order.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeAuthorization {
    /// The authorization URL.
    pub url: String,
    /// The identifier being authorized.
    pub identifier: Option<String>,
    /// Whether the identifier is a wildcard.
    pub wildcard: Option<bool>,
    /// The state of the authorization when the order was made.
    pub initial_state: Option<State>,
    /// The challenges offered for the authorization.
    pub challenges: Option<Vec<AcmeChallenge>>,
}

/// One challenge offered by the ACME server.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AcmeChallenge {
    /// The challenge URL.
    pub url: String,
    /// The challenge token.
    pub token: String,
    /// The challenge type, e.g. `http-01` or `dns-01`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// ACME resource states (RFC 8555 §7.1.6), plus cert-manager's `errored`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Valid,
    Ready,
    Pending,
    Processing,
    Invalid,
    Expired,
    Errored,
}

impl State {
    /// Whether the state is final: nothing more will happen to the resource.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Valid | State::Invalid | State::Expired | State::Errored
        )
    }

    /// Whether the state is a failure.
    pub fn is_failure(self) -> bool {
        matches!(self, State::Invalid | State::Expired | State::Errored)
    }
}
