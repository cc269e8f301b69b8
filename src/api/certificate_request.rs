//! `cert-manager.io/v1` CertificateRequest: one signing request sent to an issuer.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use std::collections::BTreeMap;

use super::certificate::KeyUsage;
use super::meta::{IssuerReference, RequestCondition};

/// The specification of a CertificateRequest. Immutable once created.
#[skip_serializing_none]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "cert-manager.io",
    version = "v1",
    kind = "CertificateRequest",
    plural = "certificaterequests",
    singular = "certificaterequest",
    namespaced,
    status = "CertificateRequestStatus",
    shortname = "cr",
    shortname = "crs",
    category = "cert-manager",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Approved","type":"string","jsonPath":".status.conditions[?(@.type == \"Approved\")].status"}"#,
    printcolumn = r#"{"name":"Denied","type":"string","jsonPath":".status.conditions[?(@.type == \"Denied\")].status"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type == \"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Issuer","type":"string","jsonPath":".spec.issuerRef.name"}"#,
    printcolumn = r#"{"name":"Requester","type":"string","jsonPath":".spec.username"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type == \"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC."}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRequestSpec {
    /// Requested lifetime of the certificate.
    pub duration: Option<String>,
    /// The issuer asked to sign.
    pub issuer_ref: IssuerReference,
    /// The PEM-encoded PKCS#10 certificate signing request, base64-encoded in JSON.
    pub request: String,
    /// Whether a CA certificate is requested.
    #[serde(rename = "isCA")]
    pub is_ca: Option<bool>,
    /// Requested key usages.
    pub usages: Option<Vec<KeyUsage>>,
    /// The user who created the request; set by the API server's admission in cert-manager.
    pub username: Option<String>,
    /// The uid of the user who created the request.
    pub uid: Option<String>,
    /// The groups of the user who created the request.
    pub groups: Option<Vec<String>>,
    /// Extra attributes of the user who created the request.
    pub extra: Option<BTreeMap<String, Vec<String>>>,
}

/// The observed state of a CertificateRequest.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRequestStatus {
    /// `Ready`, `Approved`, `Denied` and `InvalidRequest` conditions.
    pub conditions: Option<Vec<RequestCondition>>,
    /// The signed certificate (PEM, base64-encoded in JSON).
    pub certificate: Option<String>,
    /// The CA certificate of the issuer (PEM, base64-encoded in JSON), when known.
    pub ca: Option<String>,
    /// When the request failed.
    pub failure_time: Option<Time>,
}

/// The revision a CertificateRequest was made for.
pub fn request_revision(req: &CertificateRequest) -> Option<i32> {
    req.metadata
        .annotations
        .as_ref()?
        .get(crate::api::annotations::CERTIFICATE_REVISION)?
        .parse()
        .ok()
}

/// The status of a CertificateRequest condition.
pub fn request_condition<'a>(
    req: &'a CertificateRequest,
    type_: &str,
) -> Option<&'a crate::api::meta::RequestCondition> {
    req.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}
