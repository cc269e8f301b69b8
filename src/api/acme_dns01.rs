//! DNS-01 solver configuration: one provider per solver.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::meta::{SecretKeySelector, ServiceAccountRef};

/// DNS-01 solving: exactly one provider.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeChallengeSolverDns01 {
    /// `Follow` to follow CNAMEs of `_acme-challenge` names; `None` (default) not to.
    pub cname_strategy: Option<CnameStrategy>,
    pub akamai: Option<AcmeIssuerDns01ProviderAkamai>,
    #[serde(rename = "cloudDNS")]
    pub cloud_dns: Option<AcmeIssuerDns01ProviderCloudDns>,
    pub cloudflare: Option<AcmeIssuerDns01ProviderCloudflare>,
    pub route53: Option<AcmeIssuerDns01ProviderRoute53>,
    #[serde(rename = "azureDNS")]
    pub azure_dns: Option<AcmeIssuerDns01ProviderAzureDns>,
    pub digitalocean: Option<AcmeIssuerDns01ProviderDigitalOcean>,
    #[serde(rename = "acmeDNS")]
    pub acme_dns: Option<AcmeIssuerDns01ProviderAcmeDns>,
    pub rfc2136: Option<AcmeIssuerDns01ProviderRfc2136>,
    pub webhook: Option<AcmeIssuerDns01ProviderWebhook>,
}

/// Whether CNAMEs of challenge names are followed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CnameStrategy {
    None,
    Follow,
}

/// Akamai Edge DNS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerDns01ProviderAkamai {
    pub service_consumer_domain: String,
    pub client_token_secret_ref: SecretKeySelector,
    pub client_secret_secret_ref: SecretKeySelector,
    pub access_token_secret_ref: SecretKeySelector,
}

/// Google Cloud DNS.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerDns01ProviderCloudDns {
    /// A Secret key holding a service account JSON key; ambient credentials when absent.
    pub service_account_secret_ref: Option<SecretKeySelector>,
    /// The Google Cloud project of the zone.
    pub project: String,
    /// The managed zone's name; discovered from the domain when absent.
    pub hosted_zone_name: Option<String>,
}

/// Cloudflare.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerDns01ProviderCloudflare {
    /// The account email, required with `apiKeySecretRef`.
    pub email: Option<String>,
    /// A Secret key holding a global API key (legacy).
    pub api_key_secret_ref: Option<SecretKeySelector>,
    /// A Secret key holding an API token (recommended).
    pub api_token_secret_ref: Option<SecretKeySelector>,
}

/// AWS Route53.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerDns01ProviderRoute53 {
    /// Ambient or web-identity authentication settings.
    pub auth: Option<Route53Auth>,
    /// The access key id, inline.
    #[serde(rename = "accessKeyID")]
    pub access_key_id: Option<String>,
    /// A Secret key holding the access key id.
    #[serde(rename = "accessKeyIDSecretRef")]
    pub access_key_id_secret_ref: Option<SecretKeySelector>,
    /// A Secret key holding the secret access key.
    pub secret_access_key_secret_ref: Option<SecretKeySelector>,
    /// A role ARN to assume.
    pub role: Option<String>,
    /// The hosted zone; discovered from the domain when absent.
    #[serde(rename = "hostedZoneID")]
    pub hosted_zone_id: Option<String>,
    /// The AWS region.
    pub region: Option<String>,
}

/// Route53 authentication.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Route53Auth {
    /// Web identity with a token of a Kubernetes ServiceAccount.
    pub kubernetes: Route53KubernetesAuth,
}

/// Route53 web-identity authentication through a ServiceAccount token.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Route53KubernetesAuth {
    pub service_account_ref: ServiceAccountRef,
}

/// Azure DNS.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerDns01ProviderAzureDns {
    #[serde(rename = "clientID")]
    pub client_id: Option<String>,
    pub client_secret_secret_ref: Option<SecretKeySelector>,
    #[serde(rename = "subscriptionID")]
    pub subscription_id: String,
    #[serde(rename = "tenantID")]
    pub tenant_id: Option<String>,
    pub resource_group_name: String,
    pub hosted_zone_name: Option<String>,
    pub environment: Option<AzureDnsEnvironment>,
    pub managed_identity: Option<AzureManagedIdentity>,
    /// `AzurePublicZone` (default) or `AzurePrivateZone` (an Azure Private DNS zone).
    pub zone_type: Option<AzureZoneType>,
}

/// Which kind of Azure DNS zone holds the records.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AzureZoneType {
    AzurePublicZone,
    AzurePrivateZone,
}

/// Azure clouds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AzureDnsEnvironment {
    AzurePublicCloud,
    AzureChinaCloud,
    AzureGermanCloud,
    AzureUSGovernmentCloud,
}

/// An Azure managed identity.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AzureManagedIdentity {
    #[serde(rename = "clientID")]
    pub client_id: Option<String>,
    #[serde(rename = "resourceID")]
    pub resource_id: Option<String>,
    #[serde(rename = "tenantID")]
    pub tenant_id: Option<String>,
}

/// DigitalOcean.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerDns01ProviderDigitalOcean {
    pub token_secret_ref: SecretKeySelector,
}

/// acme-dns.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerDns01ProviderAcmeDns {
    pub host: String,
    pub account_secret_ref: SecretKeySelector,
}

/// RFC 2136 dynamic updates, e.g. to BIND or PowerDNS.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerDns01ProviderRfc2136 {
    /// The server to send updates to: `host`, `host:port`, `[v6]:port`.
    pub nameserver: String,
    /// A Secret key holding the base64 TSIG secret.
    pub tsig_secret_secret_ref: Option<SecretKeySelector>,
    /// The TSIG key name.
    pub tsig_key_name: Option<String>,
    /// The TSIG algorithm, case-insensitive: HMACMD5 (default), HMACSHA1, HMACSHA256, HMACSHA512.
    pub tsig_algorithm: Option<String>,
    /// `TCP` or `UDP` (default).
    pub protocol: Option<Rfc2136Protocol>,
}

/// Transport for RFC 2136 updates.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Rfc2136Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
}

/// An out-of-tree webhook solver.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuerDns01ProviderWebhook {
    pub group_name: String,
    pub solver_name: String,
    /// Free-form configuration passed to the webhook.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::preserve_unknown_object")]
    pub config: Option<serde_json::Value>,
}
