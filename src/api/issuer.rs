//! `cert-manager.io/v1` Issuer and ClusterIssuer: who signs certificates.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::acme::{AcmeIssuer, AcmeIssuerStatus};
use super::meta::{Condition, LocalObjectReference, SecretKeySelector, ServiceAccountRef};

/// The specification of a namespaced Issuer.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "cert-manager.io",
    version = "v1",
    kind = "Issuer",
    plural = "issuers",
    singular = "issuer",
    namespaced,
    status = "IssuerStatus",
    shortname = "iss",
    category = "cert-manager",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type == \"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type == \"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC."}"#
)]
pub struct IssuerSpec {
    #[serde(flatten)]
    pub config: IssuerConfig,
}

/// The specification of a cluster-scoped ClusterIssuer; the same as an Issuer's.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "cert-manager.io",
    version = "v1",
    kind = "ClusterIssuer",
    plural = "clusterissuers",
    singular = "clusterissuer",
    status = "IssuerStatus",
    shortname = "ciss",
    category = "cert-manager",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type == \"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type == \"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC."}"#
)]
pub struct ClusterIssuerSpec {
    #[serde(flatten)]
    pub config: IssuerConfig,
}

/// Exactly one issuer type.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerConfig {
    /// An ACME server such as Let's Encrypt.
    pub acme: Option<AcmeIssuer>,
    /// A CA whose key pair is stored in a Secret.
    pub ca: Option<CaIssuer>,
    /// HashiCorp Vault's PKI engine.
    pub vault: Option<VaultIssuer>,
    /// Certificates signed by their own private key.
    pub self_signed: Option<SelfSignedIssuer>,
    /// Venafi TPP or Venafi Cloud (accepted for compatibility; certgate does not sign with it).
    pub venafi: Option<VenafiIssuer>,
}

/// A CA issuer: signs with the key pair stored in a Secret.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaIssuer {
    /// The Secret (`tls.crt`, `tls.key`) holding the CA's key pair.
    pub secret_name: String,
    /// CRL distribution points written into issued certificates.
    pub crl_distribution_points: Option<Vec<String>>,
    /// OCSP servers written into issued certificates.
    pub ocsp_servers: Option<Vec<String>>,
    /// Issuing certificate URLs (AIA) written into issued certificates.
    #[serde(rename = "issuingCertificateURLs")]
    pub issuing_certificate_urls: Option<Vec<String>>,
}

/// A self-signing issuer.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelfSignedIssuer {
    /// CRL distribution points written into issued certificates.
    pub crl_distribution_points: Option<Vec<String>>,
}

/// HashiCorp Vault's PKI secrets engine.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultIssuer {
    /// How certgate authenticates to Vault.
    pub auth: VaultAuth,
    /// Vault's address, e.g. `https://vault.local:8200`.
    pub server: String,
    /// The TLS server name to verify Vault's certificate against.
    pub server_name: Option<String>,
    /// The signing path, e.g. `pki_int/sign/example-dot-com`.
    pub path: String,
    /// The Vault namespace (Vault Enterprise).
    pub namespace: Option<String>,
    /// PEM CA bundle to verify Vault's certificate, base64-encoded.
    pub ca_bundle: Option<String>,
    /// A Secret key holding the CA bundle. Mutually exclusive with `caBundle`.
    pub ca_bundle_secret_ref: Option<SecretKeySelector>,
    /// A Secret key holding a client certificate for mutual TLS with Vault.
    pub client_cert_secret_ref: Option<SecretKeySelector>,
    /// A Secret key holding the client key for mutual TLS with Vault.
    pub client_key_secret_ref: Option<SecretKeySelector>,
}

/// Vault authentication: exactly one method.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultAuth {
    /// A Secret key holding a Vault token.
    pub token_secret_ref: Option<SecretKeySelector>,
    /// Vault's AppRole auth method.
    pub app_role: Option<VaultAppRole>,
    /// Vault's TLS certificate auth method.
    pub client_certificate: Option<VaultClientCertificateAuth>,
    /// Vault's Kubernetes auth method.
    pub kubernetes: Option<VaultKubernetesAuth>,
    /// Vault's AWS IAM auth method.
    pub aws: Option<VaultAwsAuth>,
}

/// Vault AWS IAM authentication.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultAwsAuth {
    /// Where the AWS auth method is mounted; default `/v1/auth/aws`.
    pub mount_path: Option<String>,
    /// The Vault role to log in as.
    pub role: String,
    /// The AWS region of the STS endpoint.
    pub region: Option<String>,
    /// A ServiceAccount whose token is exchanged for AWS credentials (IRSA).
    pub service_account_ref: Option<ServiceAccountRef>,
    /// The IAM role to assume with the ServiceAccount token.
    pub iam_role_arn: Option<String>,
    /// The value of the `X-Vault-AWS-IAM-Server-ID` header.
    pub vault_header_value: Option<String>,
}

/// Vault AppRole authentication.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultAppRole {
    /// Where the AppRole auth method is mounted, e.g. `approle`.
    pub path: String,
    /// The AppRole role id.
    pub role_id: String,
    /// A Secret key holding the AppRole secret id.
    pub secret_ref: SecretKeySelector,
}

/// Vault TLS certificate authentication.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultClientCertificateAuth {
    /// Where the cert auth method is mounted; default `/v1/auth/cert`.
    pub mount_path: Option<String>,
    /// The certificate role to log in against.
    pub name: Option<String>,
    /// A `kubernetes.io/tls` Secret with the client key pair.
    pub secret_name: Option<String>,
}

/// Vault Kubernetes authentication.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultKubernetesAuth {
    /// Where the Kubernetes auth method is mounted; default `/v1/auth/kubernetes`.
    pub mount_path: Option<String>,
    /// A Secret key holding a ServiceAccount token.
    pub secret_ref: Option<SecretKeySelector>,
    /// A ServiceAccount whose short-lived token is requested.
    pub service_account_ref: Option<ServiceAccountRef>,
    /// The Vault role to log in as.
    pub role: String,
}

/// Venafi TPP or Venafi Cloud.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct VenafiIssuer {
    /// The Venafi policy zone.
    pub zone: String,
    /// Venafi Trust Protection Platform.
    pub tpp: Option<VenafiTpp>,
    /// Venafi Cloud.
    pub cloud: Option<VenafiCloud>,
}

/// Venafi Trust Protection Platform settings.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenafiTpp {
    pub url: String,
    pub credentials_ref: LocalObjectReference,
    pub ca_bundle: Option<String>,
    pub ca_bundle_secret_ref: Option<SecretKeySelector>,
}

/// Venafi Cloud settings.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenafiCloud {
    pub url: Option<String>,
    pub api_token_secret_ref: SecretKeySelector,
}

/// The observed state of an Issuer or ClusterIssuer.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct IssuerStatus {
    /// The `Ready` condition.
    pub conditions: Option<Vec<Condition>>,
    /// ACME account state.
    pub acme: Option<AcmeIssuerStatus>,
}
