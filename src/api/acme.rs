//! The ACME issuer configuration and its challenge solvers
//! (`acme.cert-manager.io/v1` types embedded in Issuers).

use k8s_openapi::api::core::v1::{Affinity, SELinuxOptions, SeccompProfile, Sysctl, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use std::collections::BTreeMap;

use super::acme_dns01::AcmeChallengeSolverDns01;
use super::meta::{LocalObjectReference, SecretKeySelector};

/// An ACME issuer: accounts, the directory and how challenges are solved.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuer {
    /// Email address registered with the ACME account.
    pub email: Option<String>,
    /// The ACME directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`.
    pub server: String,
    /// Common name of the root to chain to when the server offers alternate chains.
    pub preferred_chain: Option<String>,
    /// PEM CA bundle (base64) to verify the ACME server's TLS certificate.
    pub ca_bundle: Option<String>,
    /// Skip verification of the ACME server's TLS certificate. Insecure.
    #[serde(rename = "skipTLSVerify")]
    pub skip_tls_verify: Option<bool>,
    /// External account binding, for CAs that require it.
    pub external_account_binding: Option<AcmeExternalAccountBinding>,
    /// The Secret that stores the ACME account's private key.
    pub private_key_secret_ref: SecretKeySelector,
    /// The solvers used for challenges, picked by selector.
    pub solvers: Option<Vec<AcmeChallengeSolver>>,
    /// Never generate an account key; the Secret must already hold one.
    pub disable_account_key_generation: Option<bool>,
    /// Send the Certificate's duration as the order's notAfter.
    pub enable_duration_feature: Option<bool>,
    /// The ACME certificate profile to request (draft-ietf-acme-profiles).
    pub profile: Option<String>,
}

/// External Account Binding (RFC 8555 §7.3.4).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeExternalAccountBinding {
    /// The key identifier given by the CA.
    #[serde(rename = "keyID")]
    pub key_id: String,
    /// The Secret key holding the base64url-encoded HMAC key.
    pub key_secret_ref: SecretKeySelector,
    /// Deprecated: the MAC algorithm; HS256 is always used.
    pub key_algorithm: Option<HmacKeyAlgorithm>,
}

/// MAC algorithms for External Account Binding.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HmacKeyAlgorithm {
    HS256,
    HS384,
    HS512,
}

/// One way of solving challenges, and the names it applies to.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct AcmeChallengeSolver {
    /// Which names this solver applies to; all names when absent.
    pub selector: Option<CertificateDnsNameSelector>,
    /// Solve with HTTP-01.
    pub http01: Option<AcmeChallengeSolverHttp01>,
    /// Solve with DNS-01.
    pub dns01: Option<AcmeChallengeSolverDns01>,
    /// Skip the self-check and wait this long after presenting, e.g. `30s`.
    #[serde(rename = "waitInsteadOfSelfCheck")]
    pub wait_instead_of_self_check: Option<String>,
}

/// Selects the names a solver applies to.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateDnsNameSelector {
    /// Labels the Certificate must carry.
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Exact names this solver applies to (highest precedence).
    #[serde(rename = "dnsNames")]
    pub dns_names: Option<Vec<String>>,
    /// Zones whose names (and subdomains) this solver applies to; the most specific wins.
    #[serde(rename = "dnsZones")]
    pub dns_zones: Option<Vec<String>>,
}

/// HTTP-01 solving: exactly one of `ingress` and `gatewayHTTPRoute`.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct AcmeChallengeSolverHttp01 {
    /// Serve the challenge through an Ingress.
    pub ingress: Option<AcmeChallengeSolverHttp01Ingress>,
    /// Serve the challenge through a Gateway API HTTPRoute.
    #[serde(rename = "gatewayHTTPRoute")]
    pub gateway_http_route: Option<AcmeChallengeSolverHttp01GatewayHttpRoute>,
}

/// HTTP-01 through an Ingress.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeChallengeSolverHttp01Ingress {
    /// Service type of the solver: `ClusterIP` or `NodePort` (default).
    pub service_type: Option<ServiceType>,
    /// The IngressClass for the solver Ingress (`spec.ingressClassName`).
    pub ingress_class_name: Option<String>,
    /// The `kubernetes.io/ingress.class` annotation for the solver Ingress.
    pub class: Option<String>,
    /// Edit this existing Ingress instead of creating one.
    pub name: Option<String>,
    /// Overrides for the solver pod.
    pub pod_template: Option<AcmeChallengeSolverHttp01IngressPodTemplate>,
    /// Overrides for the solver Ingress.
    pub ingress_template: Option<AcmeChallengeSolverHttp01IngressTemplate>,
}

/// HTTP-01 through a Gateway API HTTPRoute.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeChallengeSolverHttp01GatewayHttpRoute {
    /// Service type of the solver: `ClusterIP` or `NodePort` (default).
    pub service_type: Option<ServiceType>,
    /// Labels added to the solver HTTPRoute.
    pub labels: Option<BTreeMap<String, String>>,
    /// The Gateways (and listeners) the solver HTTPRoute attaches to.
    pub parent_refs: Option<Vec<ParentReference>>,
    /// Overrides for the solver pod.
    pub pod_template: Option<AcmeChallengeSolverHttp01IngressPodTemplate>,
}

/// Service types the HTTP-01 solver can use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
}

/// A Gateway API parent reference (`gateway.networking.k8s.io/v1` ParentReference).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParentReference {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    pub section_name: Option<String>,
    pub port: Option<i32>,
}

/// Overrides for the HTTP-01 solver pod.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct AcmeChallengeSolverHttp01IngressPodTemplate {
    pub metadata: Option<ObjectMetaTemplate>,
    pub spec: Option<AcmeChallengeSolverHttp01IngressPodSpec>,
}

/// Labels and annotations for a generated object.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ObjectMetaTemplate {
    pub annotations: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// Overrides for the HTTP-01 solver Ingress.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AcmeChallengeSolverHttp01IngressTemplate {
    pub metadata: Option<ObjectMetaTemplate>,
}

/// The parts of the solver pod's spec that may be overridden.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeChallengeSolverHttp01IngressPodSpec {
    pub node_selector: Option<BTreeMap<String, String>>,
    pub affinity: Option<Affinity>,
    pub tolerations: Option<Vec<Toleration>>,
    pub priority_class_name: Option<String>,
    pub service_account_name: Option<String>,
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    pub security_context: Option<AcmeChallengeSolverHttp01IngressPodSecurityContext>,
    pub resources: Option<AcmeChallengeSolverHttp01IngressPodResources>,
}

/// The pod security context of the solver pod.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeChallengeSolverHttp01IngressPodSecurityContext {
    #[serde(rename = "seLinuxOptions")]
    pub se_linux_options: Option<SELinuxOptions>,
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub supplemental_groups: Option<Vec<i64>>,
    pub fs_group: Option<i64>,
    pub sysctls: Option<Vec<Sysctl>>,
    pub fs_group_change_policy: Option<String>,
    pub seccomp_profile: Option<SeccompProfile>,
}

/// Resource requests and limits of the solver pod.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct AcmeChallengeSolverHttp01IngressPodResources {
    pub limits: Option<BTreeMap<String, Quantity>>,
    pub requests: Option<BTreeMap<String, Quantity>>,
}

/// ACME account state of an Issuer.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerStatus {
    /// The account URL.
    pub uri: Option<String>,
    /// The email last registered with the account.
    pub last_registered_email: Option<String>,
    /// A hash of the account key last registered.
    pub last_private_key_hash: Option<String>,
}
