//! The Azure DNS provider: the challenge values of a name as one TXT record set
//! through Azure Resource Manager's REST API, from cert-manager's `azureDNS` solver
//! fields (`subscriptionID`, `resourceGroupName`, `hostedZoneName`, `environment`,
//! `zoneType`, and `clientID` + `clientSecretSecretRef` + `tenantID` or
//! `managedIdentity`).
//!
//! As cert-manager does it: the zone is `hostedZoneName` when set, else the zone the
//! SOA walk found; the record set's name is the record's name relative to it
//! (`_acme-challenge.www` in `example.com`, `@` at the apex). Each change is a
//! read-modify-write of the whole set, `GET
//! {arm}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnsZones/{zone}/TXT/{name}?api-version=2018-05-01`
//! then `PUT` of `{"properties": {"TTL": 60, "TXTRecords": [{"value": ["…"]}, …]}}`
//! keeping the values already there (and the set's TTL and metadata), with
//! `If-Match: <etag>` (or `If-None-Match: *` when creating the set), or `DELETE` with
//! `If-Match` once the last value goes. A concurrent edit makes Azure answer 412; the
//! set is then read again and the change applied to what is there now, so no value
//! written meanwhile is lost. A value already there (present) or absent (cleanup)
//! costs one GET and no write. `zoneType: AzurePrivateZone` uses
//! `privateDnsZones` (api-version 2024-06-01, `ttl`/`txtRecords`) instead.
//!
//! Tokens: a service principal's from Entra ID (`POST
//! {login}/{tenant}/oauth2/v2.0/token`, `grant_type=client_credentials`, `scope` the
//! cloud's ARM endpoint + `/.default`); with `managedIdentity` (or no `clientID`) the
//! controller's ambient identity, cert-manager's order: Azure Workload Identity when
//! `AZURE_FEDERATED_TOKEN_FILE` is set (the same token request with
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and
//! the file's token, read anew each time as the kubelet rotates it; client and tenant
//! from `managedIdentity` or `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`), else the instance
//! metadata service (`GET
//! http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
//! with `Metadata: true`, and `client_id` or `msi_res_id` when given). A token is kept
//! until shortly before it expires, one request at a time; an ARM 401 drops it and
//! the request is made once more with a new one.
//!
//! Throttling (429, waiting as long as `Retry-After` says), server errors (5xx) and
//! unanswered requests are retried with exponential backoff and jitter; a lost
//! answer to a conditional write shows as a 412 on the retry and is read again. The
//! client secret, federated token and access tokens appear in no log, `Debug` output
//! or error.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use reqwest012 as reqwest;
use serde_json::{Value, json};
use tracing::debug;

use super::cloudflare::{new_client, without_url};
use super::provider::{Provider, ProviderError};
use super::zone_batch::Backoff;
use crate::api::acme_dns01::{AcmeIssuerDns01ProviderAzureDns, AzureDnsEnvironment, AzureZoneType};

mod errors;
mod record_set;
mod token;

pub use errors::AzureError;
use errors::{CallError, detail, error_fields};
use token::CachedToken;
pub use token::{AmbientEnv, AzureCredential, ambient_credential, uses_ambient};

/// The solver field, for messages.
pub const FIELD: &str = "azureDNS";
/// The API version of public DNS zones (cert-manager's armdns).
pub const PUBLIC_API_VERSION: &str = "2018-05-01";
/// The API version of private DNS zones (cert-manager's armprivatedns).
pub const PRIVATE_API_VERSION: &str = "2024-06-01";
/// The TTL of record sets created (cert-manager's); an existing set keeps its own.
pub const TXT_TTL: u32 = 60;
/// The instance metadata service.
pub const IMDS_URL: &str = "http://169.254.169.254/";
/// The IMDS token API version (azidentity's).
const IMDS_API_VERSION: &str = "2018-02-01";
/// The client assertion type of workload identity.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Concurrent edits (412) tolerated per change before giving up for now.
const CONFLICT_RETRIES: u32 = 8;
/// A token is renewed this long before it expires (or at half its life if shorter).
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// The role that grants what the provider does, for messages.
pub const ROLE: &str =
    "DNS Zone Contributor (or a role with Microsoft.Network/dnsZones/TXT/read, write and delete)";

/// An Azure cloud: where its ARM API and Entra ID token endpoint are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AzureCloud {
    Public,
    China,
    UsGovernment,
}

impl AzureCloud {
    /// The cloud of `environment` (cert-manager's names; AzurePublicCloud when unset).
    pub fn from_environment(env: Option<AzureDnsEnvironment>) -> Result<Self, AzureError> {
        match env {
            None | Some(AzureDnsEnvironment::AzurePublicCloud) => Ok(Self::Public),
            Some(AzureDnsEnvironment::AzureChinaCloud) => Ok(Self::China),
            Some(AzureDnsEnvironment::AzureUSGovernmentCloud) => Ok(Self::UsGovernment),
            Some(AzureDnsEnvironment::AzureGermanCloud) => Err(AzureError::GermanCloud),
        }
    }

    /// The ARM API root.
    pub fn arm_url(self) -> &'static str {
        match self {
            Self::Public => "https://management.azure.com/",
            Self::China => "https://management.chinacloudapi.cn/",
            Self::UsGovernment => "https://management.usgovcloudapi.net/",
        }
    }

    /// The Entra ID (Azure AD) authority.
    pub fn login_url(self) -> &'static str {
        match self {
            Self::Public => "https://login.microsoftonline.com/",
            Self::China => "https://login.chinacloudapi.cn/",
            Self::UsGovernment => "https://login.microsoftonline.us/",
        }
    }

    /// The OAuth scope of ARM tokens: `https://management.azure.com/.default`.
    pub fn scope(self) -> String {
        format!("{}.default", self.arm_url())
    }
}

/// Whether the zone is a public Azure DNS zone or an Azure Private DNS zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneKind {
    Public,
    Private,
}

impl ZoneKind {
    fn resource(self) -> &'static str {
        match self {
            Self::Public => "dnsZones",
            Self::Private => "privateDnsZones",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Self::Public => PUBLIC_API_VERSION,
            Self::Private => PRIVATE_API_VERSION,
        }
    }

    /// The JSON names of the TTL and the TXT records (public zones capitalise them).
    fn keys(self) -> (&'static str, &'static str) {
        match self {
            Self::Public => ("TTL", "TXTRecords"),
            Self::Private => ("ttl", "txtRecords"),
        }
    }
}

/// `base` as a URL ending in `/`.
fn normalise_base(what: &str, base: &str) -> Result<reqwest::Url, AzureError> {
    let invalid = |reason: &str| AzureError::InvalidBaseUrl {
        what: what.to_string(),
        url: base.to_string(),
        reason: reason.to_string(),
    };
    let mut url = reqwest::Url::parse(base.trim()).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(
            "the scheme must be https (or http for a local emulator)",
        ));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(invalid("no host"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Where a value goes: the zone (`example.com`) and the set's relative name.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    zone: String,
    name: String,
}

/// Everything the provider needs besides its endpoints.
#[derive(Clone, Debug)]
pub struct AzureOptions {
    pub subscription_id: String,
    pub resource_group: String,
    /// The zone to write in; the zone the SOA walk found when `None`.
    pub hosted_zone_name: Option<String>,
    pub zone_kind: ZoneKind,
    pub cloud: AzureCloud,
    pub credential: AzureCredential,
    /// ARM's root (tests: an emulator); the cloud's when `None`.
    pub arm_url: Option<String>,
    /// Entra ID's root; the cloud's when `None`.
    pub login_url: Option<String>,
    /// The instance metadata service; [`IMDS_URL`] when `None`.
    pub imds_url: Option<String>,
}

/// Writes challenge records through Azure Resource Manager.
#[derive(Clone)]
pub struct AzureProvider {
    http: reqwest::Client,
    arm: reqwest::Url,
    login: reqwest::Url,
    imds: reqwest::Url,
    subscription: String,
    resource_group: String,
    hosted_zone: Option<String>,
    kind: ZoneKind,
    cloud: AzureCloud,
    credential: AzureCredential,
    token: Arc<tokio::sync::Mutex<Option<CachedToken>>>,
    backoff: Backoff,
}

impl fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureProvider")
            .field("arm", &self.arm.as_str())
            .field("subscription", &self.subscription)
            .field("resource_group", &self.resource_group)
            .field("hosted_zone", &self.hosted_zone)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl AzureProvider {
    /// A provider as `options` say.
    pub fn new(options: AzureOptions) -> Result<Self, AzureError> {
        let required = |value: &str, field: &str| {
            if value.trim().is_empty() {
                Err(AzureError::Config {
                    field: format!("{FIELD}.{field}"),
                    why: "is required".into(),
                })
            } else {
                Ok(value.trim().to_string())
            }
        };
        let subscription = required(&options.subscription_id, "subscriptionID")?;
        let resource_group = required(&options.resource_group, "resourceGroupName")?;
        if let AzureCredential::ClientSecret { secret, source, .. } = &options.credential
            && secret.trim().is_empty()
        {
            return Err(AzureError::Config {
                field: source.clone(),
                why: "is empty: it must hold the service principal's client secret".into(),
            });
        }
        let arm = normalise_base(
            "Resource Manager",
            options
                .arm_url
                .as_deref()
                .unwrap_or(options.cloud.arm_url()),
        )?;
        let login = normalise_base(
            "Entra ID",
            options
                .login_url
                .as_deref()
                .unwrap_or(options.cloud.login_url()),
        )?;
        let imds = normalise_base(
            "instance metadata",
            options.imds_url.as_deref().unwrap_or(IMDS_URL),
        )?;
        let http = new_client().map_err(|reason| AzureError::Unreachable {
            base: arm.to_string(),
            action: "setting up the HTTP client".into(),
            attempts: 0,
            reason,
        })?;
        Ok(Self {
            http,
            arm,
            login,
            imds,
            subscription,
            resource_group,
            hosted_zone: options
                .hosted_zone_name
                .map(|z| z.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|z| !z.is_empty()),
            kind: options.zone_kind,
            cloud: options.cloud,
            credential: options.credential,
            token: Arc::default(),
            backoff: Backoff::default(),
        })
    }

    /// The same provider retrying as `backoff` says.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The ARM root requests go to.
    pub fn arm_url(&self) -> &str {
        self.arm.as_str()
    }

    fn target(&self, zone: &str, fqdn: &str) -> Result<Target, AzureError> {
        let name = super::fqdn(fqdn);
        let name = name.trim_end_matches('.');
        let (zone, hint) = match &self.hosted_zone {
            Some(z) => (z.clone(), format!(" ({FIELD}.hostedZoneName)")),
            None => (
                super::fqdn(zone).trim_end_matches('.').to_string(),
                String::new(),
            ),
        };
        let relative = if name == zone {
            Some("@".to_string())
        } else {
            name.strip_suffix(&format!(".{zone}")).map(String::from)
        };
        match relative {
            Some(r) if !zone.is_empty() && !r.is_empty() => Ok(Target { zone, name: r }),
            _ => Err(AzureError::NotInZone {
                fqdn: format!("{name}."),
                zone: format!("{zone}."),
                hint,
            }),
        }
    }

    /// `{arm}subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{zone}/TXT/{name}?api-version=…`
    fn record_url(&self, t: &Target) -> reqwest::Url {
        let mut url = self.arm.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend([
                "subscriptions",
                &self.subscription,
                "resourceGroups",
                &self.resource_group,
                "providers",
                "Microsoft.Network",
                self.kind.resource(),
                &t.zone,
                "TXT",
                &t.name,
            ]);
        }
        url.query_pairs_mut()
            .append_pair("api-version", self.kind.api_version());
        url
    }

    /// Removes secret material from text a server sent back.
    fn redact(&self, text: String) -> String {
        match self.credential.secret() {
            Some(s) if s.len() >= 4 => text.replace(s, "<redacted>"),
            _ => text,
        }
    }

    /// The wait before the next attempt after failed attempt `n` (0-based), or
    /// `None` when the server asks to wait longer than the backoff ever would.
    fn wait_after(&self, n: u32, e: &CallError) -> Option<Duration> {
        let hint = match e {
            CallError::Status { wait, .. } => *wait,
            CallError::Transport(_) => None,
        };
        self.backoff.wait_after(n, hint)
    }

    /// One request; the status, `ETag` and body of a successful answer.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Option<String>, bytes::Bytes), CallError> {
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(without_url(&e)))?;
        let status = response.status();
        let wait = super::zone_batch::retry_after(response.headers());
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Transport(without_url(&e)))?;
        if status.is_success() {
            return Ok((status.as_u16(), etag, bytes));
        }
        let (code, message, aadsts) = error_fields(&bytes);
        Err(CallError::Status {
            status: status.as_u16(),
            code,
            message: self.redact(message),
            aadsts,
            wait,
        })
    }

    /// Sends what `build` makes until it succeeds or fails for good (429, 5xx and
    /// unanswered retried). Returns the last result and the number of attempts.
    async fn retrying<F>(
        &self,
        what: &str,
        mut build: F,
    ) -> (Result<(u16, Option<String>, bytes::Bytes), CallError>, u32)
    where
        F: FnMut() -> reqwest::RequestBuilder,
    {
        let mut n = 0;
        loop {
            let r = self.send(build()).await;
            n += 1;
            match r {
                Err(e) if e.retryable() && n < self.backoff.attempts.max(1) => {
                    match self.wait_after(n - 1, &e) {
                        Some(d) => {
                            debug!(
                                attempt = n,
                                wait_ms = d.as_millis() as u64,
                                request = what,
                                "Azure request retried"
                            );
                            tokio::time::sleep(d).await;
                        }
                        None => return (Err(e), n),
                    }
                }
                r => return (r, n),
            }
        }
    }

    /// An ARM request with a bearer token, retried; a 401 drops the token and the
    /// request is made once more with a new one.
    async fn arm(
        &self,
        method: reqwest::Method,
        url: &reqwest::Url,
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(Result<(u16, Option<String>, bytes::Bytes), CallError>, u32), AzureError> {
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            debug!(
                method = %method,
                path = %url.path(),
                "Azure Resource Manager request"
            );
            let (r, n) = self
                .retrying(method.as_str(), || {
                    let mut auth =
                        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
                    auth.set_sensitive(true);
                    let mut req = self
                        .http
                        .request(method.clone(), url.clone())
                        .header(reqwest::header::AUTHORIZATION, auth)
                        .header(reqwest::header::ACCEPT, "application/json");
                    for (k, v) in headers {
                        req = req.header(*k, v.as_str());
                    }
                    if let Some(b) = body {
                        req = req
                            .header(reqwest::header::CONTENT_TYPE, "application/json")
                            .body(b.to_string());
                    }
                    req
                })
                .await;
            if !renewed && matches!(&r, Err(e) if e.status() == Some(401)) {
                renewed = true;
                self.drop_token().await;
                continue;
            }
            return Ok((r, n));
        }
    }

    /// Adds `value` to the TXT record set of `fqdn`, keeping the values there.
    pub async fn add(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), AzureError> {
        self.update(zone, fqdn, value, true).await
    }

    /// Removes `value` from the TXT record set of `fqdn`, deleting the set when it
    /// was the last; succeeds when it is not there.
    pub async fn remove(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), AzureError> {
        self.update(zone, fqdn, value, false).await
    }
}

impl Provider for AzureProvider {
    fn present<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move { self.add(zone, fqdn, value).await.map_err(Into::into) })
    }

    fn cleanup<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move { self.remove(zone, fqdn, value).await.map_err(Into::into) })
    }
}

/// Providers per solver configuration, namespace and credentials: the token cache
/// lives as long as the provider.
static PROVIDERS: std::sync::LazyLock<super::credentials::ProviderCache<AzureProvider>> =
    std::sync::LazyLock::new(|| super::credentials::ProviderCache::new(64));

/// The provider of an `azureDNS` solver: a service principal's secret read from the
/// Secret key `clientSecretSecretRef` names in `secret_ns`, or ambient credentials
/// (see [`ambient_credential`]). `endpoints` replace the cloud's APIs (tests and the
/// conformance suite: an emulator).
pub async fn from_solver(
    client: &kube::Client,
    cfg: &AcmeIssuerDns01ProviderAzureDns,
    secret_ns: &str,
    endpoints: &super::ApiEndpoints,
) -> Result<AzureProvider, String> {
    use super::credentials::{describe_secret_key, fingerprint, secret_value};
    let cloud = AzureCloud::from_environment(cfg.environment).map_err(|e| e.to_string())?;
    let env = AmbientEnv::from_process();
    let credential = if uses_ambient(cfg) {
        ambient_credential(cfg, &env).map_err(|e| e.to_string())?
    } else {
        let client_id = cfg.client_id.clone().unwrap_or_default().trim().to_string();
        if cfg.managed_identity.is_some() {
            return Err(format!(
                "{FIELD}.managedIdentity cannot be used at the same time as clientID, clientSecretSecretRef or tenantID"
            ));
        }
        let tenant_id = cfg
            .tenant_id
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                format!("{FIELD}.tenantID is required with clientID: name the service principal's tenant")
            })?;
        let r = cfg.client_secret_secret_ref.as_ref().ok_or_else(|| {
            format!(
                "{FIELD}.clientSecretSecretRef is required with clientID: name the Secret key holding the service principal's client secret"
            )
        })?;
        let secret = secret_value(
            client,
            secret_ns,
            r,
            &format!("{FIELD}.clientSecretSecretRef"),
        )
        .await?;
        AzureCredential::ClientSecret {
            tenant_id: tenant_id.trim().to_string(),
            client_id,
            secret,
            source: describe_secret_key(secret_ns, r),
        }
    };
    let fp = match &credential {
        AzureCredential::ClientSecret { secret, .. } => fingerprint(&[secret]),
        _ => 0,
    };
    let key = format!(
        "{secret_ns}|{:?}|{:?}|{:?}|{env:?}|{}|{fp}",
        endpoints.azure,
        endpoints.azure_login,
        endpoints.azure_imds,
        serde_json::to_string(cfg).unwrap_or_default()
    );
    if let Some(p) = PROVIDERS.get(&key) {
        return Ok(p);
    }
    let p = AzureProvider::new(AzureOptions {
        subscription_id: cfg.subscription_id.clone(),
        resource_group: cfg.resource_group_name.clone(),
        hosted_zone_name: cfg.hosted_zone_name.clone(),
        zone_kind: match cfg.zone_type {
            Some(AzureZoneType::AzurePrivateZone) => ZoneKind::Private,
            _ => ZoneKind::Public,
        },
        cloud,
        credential,
        arm_url: endpoints.azure.clone(),
        login_url: endpoints.azure_login.clone(),
        imds_url: endpoints.azure_imds.clone(),
    })
    .map_err(|e| e.to_string())?;
    Ok(PROVIDERS.insert(key, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use certgate_emulators::azure::{self as emu, Access, AzureEmulator, Failure};

    const SOURCE: &str = "Secret cert-manager/azuredns key \"client-secret\"";
    const ZONE: &str = "example.com.";
    const NAME: &str = "_acme-challenge.example.com.";
    const SET: &str = "_acme-challenge";

    fn fast() -> Backoff {
        Backoff {
            base: Duration::from_millis(5),
            max: Duration::from_millis(50),
            attempts: 4,
        }
    }

    fn service_principal(secret: &str) -> AzureCredential {
        AzureCredential::ClientSecret {
            tenant_id: emu::TENANT.into(),
            client_id: emu::CLIENT_ID.into(),
            secret: secret.into(),
            source: SOURCE.into(),
        }
    }

    fn options(e: &AzureEmulator, credential: AzureCredential) -> AzureOptions {
        AzureOptions {
            subscription_id: emu::SUBSCRIPTION.into(),
            resource_group: emu::RESOURCE_GROUP.into(),
            hosted_zone_name: None,
            zone_kind: ZoneKind::Public,
            cloud: AzureCloud::Public,
            credential,
            arm_url: Some(e.api_url()),
            login_url: Some(e.login_url()),
            imds_url: Some(e.imds_url()),
        }
    }

    fn provider(e: &AzureEmulator) -> AzureProvider {
        AzureProvider::new(options(e, service_principal(emu::CLIENT_SECRET)))
            .unwrap()
            .with_backoff(fast())
    }

    /// A value shaped like a challenge's.
    fn value(n: u8) -> String {
        super::super::txt_value(&format!("azure-{n}"))
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    fn path(kind: &str, zone: &str, name: &str, version: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/{kind}/{zone}/TXT/{name}?api-version={version}",
            emu::SUBSCRIPTION,
            emu::RESOURCE_GROUP
        )
    }

    #[test]
    fn clouds_names_and_urls() {
        assert_eq!(
            AzureCloud::from_environment(None).unwrap(),
            AzureCloud::Public
        );
        assert_eq!(
            AzureCloud::from_environment(Some(AzureDnsEnvironment::AzureChinaCloud)).unwrap(),
            AzureCloud::China
        );
        assert_eq!(
            AzureCloud::from_environment(Some(AzureDnsEnvironment::AzureUSGovernmentCloud))
                .unwrap()
                .arm_url(),
            "https://management.usgovcloudapi.net/"
        );
        let e =
            AzureCloud::from_environment(Some(AzureDnsEnvironment::AzureGermanCloud)).unwrap_err();
        assert!(
            !e.is_transient() && e.to_string().contains("AzureGermanCloud"),
            "{e}"
        );
        assert_eq!(
            AzureCloud::Public.scope(),
            "https://management.azure.com/.default"
        );

        let base = AzureOptions {
            subscription_id: "sub".into(),
            resource_group: "rg".into(),
            hosted_zone_name: None,
            zone_kind: ZoneKind::Public,
            cloud: AzureCloud::Public,
            credential: service_principal("s3cr3t-value"),
            arm_url: None,
            login_url: None,
            imds_url: None,
        };
        let p = AzureProvider::new(base.clone()).unwrap();
        let t = p.target(ZONE, "_acme-challenge.WWW.example.com").unwrap();
        assert_eq!(
            (t.zone.as_str(), t.name.as_str()),
            ("example.com", "_acme-challenge.www")
        );
        assert_eq!(
            p.record_url(&t).as_str(),
            "https://management.azure.com/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/dnsZones/example.com/TXT/_acme-challenge.www?api-version=2018-05-01"
        );
        assert_eq!(p.target(ZONE, "example.com.").unwrap().name, "@");
        let e = p.target(ZONE, "_acme-challenge.example.net.").unwrap_err();
        assert!(e.to_string().contains("is not inside zone"), "{e}");
        // hostedZoneName wins over the zone found, as in cert-manager.
        let hosted = AzureProvider::new(AzureOptions {
            hosted_zone_name: Some("Sub.Example.com.".into()),
            zone_kind: ZoneKind::Private,
            ..base.clone()
        })
        .unwrap();
        let t = hosted
            .target(ZONE, "_acme-challenge.a.sub.example.com.")
            .unwrap();
        assert_eq!(
            (t.zone.as_str(), t.name.as_str()),
            ("sub.example.com", "_acme-challenge.a")
        );
        assert!(hosted.record_url(&t).as_str().contains(
            "/privateDnsZones/sub.example.com/TXT/_acme-challenge.a?api-version=2024-06-01"
        ));
        let e = hosted.target(ZONE, NAME).unwrap_err();
        assert!(e.to_string().contains("hostedZoneName"), "{e}");

        let e = AzureProvider::new(AzureOptions {
            subscription_id: " ".into(),
            ..base.clone()
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("azureDNS.subscriptionID is required"),
            "{e}"
        );
        let e = AzureProvider::new(AzureOptions {
            credential: service_principal(""),
            ..base
        })
        .unwrap_err();
        assert!(e.to_string().contains(SOURCE), "{e}");
    }

    #[test]
    fn secrets_never_show() {
        let secret = "very-s3cr3t-client-value";
        let p = AzureProvider::new(AzureOptions {
            subscription_id: "sub".into(),
            resource_group: "rg".into(),
            hosted_zone_name: None,
            zone_kind: ZoneKind::Public,
            cloud: AzureCloud::Public,
            credential: service_principal(secret),
            arm_url: None,
            login_url: None,
            imds_url: None,
        })
        .unwrap();
        let debug = format!("{p:?}");
        assert!(!debug.contains(secret) && debug.contains(SOURCE), "{debug}");
        assert_eq!(
            p.redact(format!("echoed {secret} back")),
            "echoed <redacted> back"
        );
    }

    #[tokio::test]
    async fn requests_as_cert_manager_makes_them() {
        let e = AzureEmulator::start(&["example.com"]).await.unwrap();
        let p = provider(&e);
        let (a, b) = (value(1), value(2));
        p.present(ZONE, NAME, &a).await.unwrap();
        let tokens = e.token_requests();
        assert_eq!(tokens.len(), 1, "{tokens:#?}");
        assert_eq!(tokens[0].tenant, emu::TENANT);
        assert_eq!(tokens[0].grant_type, "client_credentials");
        assert_eq!(tokens[0].client_id, emu::CLIENT_ID);
        assert_eq!(tokens[0].scope, "https://management.azure.com/.default");
        assert!(tokens[0].had_secret && !tokens[0].had_assertion);
        let url = path("dnsZones", "example.com", SET, PUBLIC_API_VERSION);
        let log = e.request_log();
        assert_eq!(log.len(), 2, "{log:#?}");
        assert_eq!(
            (log[0].method.as_str(), log[0].uri.as_str()),
            ("GET", url.as_str())
        );
        assert_eq!(
            (log[1].method.as_str(), log[1].uri.as_str()),
            ("PUT", url.as_str())
        );
        assert_eq!(log[1].if_none_match.as_deref(), Some("*"));
        assert_eq!(log[1].if_match, None);
        assert_eq!(
            log[1].body,
            Some(json!({"properties": {"TTL": 60, "TXTRecords": [{"value": [a]}]}}))
        );
        assert!(log.iter().all(|r| r.bearer));
        assert_eq!(e.txt_values("example.com", SET), vec![a.clone()]);
        assert_eq!(e.zone_data().txt_values(NAME), vec![a.clone()]);

        // A second value: read, then written with the ETag read, keeping the first.
        let (etag, _, _) = e.record_set("example.com", SET).unwrap();
        p.present(ZONE, NAME, &b).await.unwrap();
        let log = e.request_log();
        assert_eq!(log.len(), 4);
        assert_eq!(log[3].method, "PUT");
        assert_eq!(log[3].if_match.as_deref(), Some(etag.as_str()));
        assert_eq!(
            log[3].body,
            Some(
                json!({"properties": {"TTL": 60, "TXTRecords": [{"value": [a]}, {"value": [b]}]}})
            )
        );
        // Presenting again: one read, no write.
        p.present(ZONE, NAME, &a).await.unwrap();
        assert_eq!(e.request_log().len(), 5);
        assert_eq!(e.writes(), 2);

        // Cleanup removes only its value, then deletes the set with the last one.
        p.cleanup(ZONE, NAME, &a).await.unwrap();
        assert_eq!(e.txt_values("example.com", SET), vec![b.clone()]);
        let (etag, _, _) = e.record_set("example.com", SET).unwrap();
        p.cleanup(ZONE, NAME, &b).await.unwrap();
        let log = e.request_log();
        let last = log.last().unwrap();
        assert_eq!(
            (last.method.as_str(), last.if_match.as_deref()),
            ("DELETE", Some(etag.as_str()))
        );
        assert!(e.record_set("example.com", SET).is_none());
        assert!(e.zone_data().txt_values(NAME).is_empty());
        // Absent: one read.
        let before = e.requests();
        p.cleanup(ZONE, NAME, &b).await.unwrap();
        assert_eq!(e.requests(), before + 1);
        // One token for all of it.
        assert_eq!(e.token_requests().len(), 1);
    }

    #[tokio::test]
    async fn other_values_ttl_and_metadata_are_kept() {
        let e = AzureEmulator::start(&["example.com"]).await.unwrap();
        e.add_txt("example.com", SET, "someone-else");
        let p = provider(&e);
        p.present(ZONE, NAME, &value(1)).await.unwrap();
        let (_, ttl, records) = e.record_set("example.com", SET).unwrap();
        assert_eq!(ttl, 3600, "an existing set keeps its TTL");
        assert_eq!(records.len(), 2);
        p.cleanup(ZONE, NAME, &value(1)).await.unwrap();
        assert_eq!(
            e.txt_values("example.com", SET),
            vec!["someone-else".to_string()]
        );
    }

    #[tokio::test]
    async fn concurrent_edits_are_kept_by_etags() {
        let e = AzureEmulator::start(&["example.com"]).await.unwrap();
        let p = provider(&e);
        let ours = value(1);
        // Another client adds a value between our read and our write (a create).
        e.inject([Failure::Pass, Failure::ConcurrentEdit("theirs-1".into())]);
        p.present(ZONE, NAME, &ours).await.unwrap();
        assert_eq!(e.preconditions_failed(), 1);
        assert_eq!(
            sorted(e.txt_values("example.com", SET)),
            sorted(vec![ours.clone(), "theirs-1".into()])
        );
        // …and between our read and our update.
        e.inject([Failure::Pass, Failure::ConcurrentEdit("theirs-2".into())]);
        p.present(ZONE, NAME, &value(2)).await.unwrap();
        assert_eq!(e.preconditions_failed(), 2);
        assert_eq!(e.txt_values("example.com", SET).len(), 4);
        // …and between our read and a delete: the set is written without our value.
        p.cleanup(ZONE, NAME, "theirs-1").await.unwrap();
        p.cleanup(ZONE, NAME, "theirs-2").await.unwrap();
        p.cleanup(ZONE, NAME, &value(2)).await.unwrap();
        e.inject([Failure::Pass, Failure::ConcurrentEdit("theirs-3".into())]);
        p.cleanup(ZONE, NAME, &ours).await.unwrap();
        assert_eq!(e.preconditions_failed(), 3);
        assert_eq!(
            e.txt_values("example.com", SET),
            vec!["theirs-3".to_string()]
        );

        // Two providers (two replicas) writing one set at once lose nothing.
        let q = provider(&e);
        let (left, right): (Vec<_>, Vec<_>) = (10..16).map(value).partition(|v| v < &value(12));
        let run = |p: AzureProvider, vs: Vec<String>| async move {
            for v in vs {
                p.present(ZONE, NAME, &v).await.unwrap();
            }
        };
        futures::join!(run(p.clone(), left.clone()), run(q, right.clone()));
        let held = e.txt_values("example.com", SET);
        for v in left.iter().chain(&right) {
            assert!(held.contains(v), "{v} lost: {held:?}");
        }
    }

    #[tokio::test]
    async fn refusals_name_the_credential_and_say_what_to_fix() {
        let e = AzureEmulator::start(&["example.com"]).await.unwrap();
        let wrong = "Zz9~not.the-secret_0123456789abcdefGHIJ";
        let p = AzureProvider::new(options(&e, service_principal(wrong)))
            .unwrap()
            .with_backoff(fast());
        let err = p.present(ZONE, NAME, &value(1)).await.unwrap_err();
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains(SOURCE)
                && msg.contains("HTTP 401")
                && msg.contains("AADSTS7000215")
                && msg.contains("client secret is wrong or expired")
                && !msg.contains(wrong)
                && !msg.contains(emu::CLIENT_SECRET)
                && !msg.contains("Trace ID"),
            "{msg}"
        );

        let unknown_app = AzureCredential::ClientSecret {
            tenant_id: emu::TENANT.into(),
            client_id: "00000000-0000-4000-8000-00000000dead".into(),
            secret: "x-secret".into(),
            source: SOURCE.into(),
        };
        let err = AzureProvider::new(options(&e, unknown_app))
            .unwrap()
            .present(ZONE, NAME, &value(1))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("AADSTS700016"), "{err}");

        let reader = "44444444-4444-4444-8444-444444444444";
        e.add_client(emu::TENANT, reader, "reader-secret", Access::Reader);
        let err = AzureProvider::new(options(
            &e,
            AzureCredential::ClientSecret {
                tenant_id: emu::TENANT.into(),
                client_id: reader.into(),
                secret: "reader-secret".into(),
                source: SOURCE.into(),
            },
        ))
        .unwrap()
        .present(ZONE, NAME, &value(1))
        .await
        .unwrap_err();
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains("HTTP 403")
                && msg.contains("DNS Zone Contributor")
                && msg.contains(reader),
            "{msg}"
        );

        let p = provider(&e);
        let err = p
            .present("example.net.", "_acme-challenge.example.net.", &value(1))
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains("no DNS zone \"example.net\"") && msg.contains(emu::RESOURCE_GROUP),
            "{msg}"
        );
        // Cleaning up in a zone that is not there has nothing to remove.
        p.cleanup("example.net.", "_acme-challenge.example.net.", &value(1))
            .await
            .unwrap();
        let wrong_rg = AzureProvider::new(AzureOptions {
            resource_group: "other-rg".into(),
            ..options(&e, service_principal(emu::CLIENT_SECRET))
        })
        .unwrap();
        let err = wrong_rg.present(ZONE, NAME, &value(1)).await.unwrap_err();
        assert!(err.to_string().contains("ResourceGroupNotFound"), "{err}");
        assert_eq!(e.writes(), 0);
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retried() {
        let e = AzureEmulator::start(&["example.com"]).await.unwrap();
        let p = provider(&e);
        e.inject_login([Failure::Status(503)]);
        e.inject([
            Failure::Throttled {
                retry_after: Some(0),
            },
            Failure::Status(503),
        ]);
        p.present(ZONE, NAME, &value(1)).await.unwrap();
        assert_eq!(e.requests(), 4, "two failed reads, a read, a write");
        assert_eq!(e.login_requests(), 2, "the token request was retried");

        // A write answered 502 after it was made: the retry is refused (412), the
        // set read again, and the value found there.
        e.inject([Failure::Pass, Failure::Lost(502)]);
        p.present(ZONE, NAME, &value(2)).await.unwrap();
        assert_eq!(e.txt_values("example.com", SET).len(), 2);

        e.inject(std::iter::repeat_n(Failure::Status(500), 4));
        let err = p.present(ZONE, NAME, &value(3)).await.unwrap_err();
        assert!(err.is_transient());
        assert!(
            err.to_string().contains("HTTP 500") && err.to_string().contains("4 attempt(s)"),
            "{err}"
        );

        // Asked to wait beyond the longest wait: not waited for.
        let before = e.requests();
        e.inject([Failure::Throttled {
            retry_after: Some(3600),
        }]);
        let err = p.cleanup(ZONE, NAME, &value(1)).await.unwrap_err();
        assert!(err.is_transient());
        assert!(
            err.to_string().contains("HTTP 429") && err.to_string().contains("3600 s"),
            "{err}"
        );
        assert_eq!(e.requests(), before + 1);
    }

    #[tokio::test]
    async fn tokens_are_cached_until_they_expire_and_renewed_when_refused() {
        let e = AzureEmulator::start(&["example.com"]).await.unwrap();
        e.set_token_lifetime(2);
        let p = provider(&e);
        p.present(ZONE, NAME, &value(1)).await.unwrap();
        p.present(ZONE, NAME, &value(2)).await.unwrap();
        assert_eq!(e.token_requests().len(), 1);
        // Renewed at half its life when that is shorter than the margin.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        p.cleanup(ZONE, NAME, &value(1)).await.unwrap();
        assert_eq!(e.token_requests().len(), 2);
        // Refused by ARM (revoked): renewed once, and the request made again.
        e.set_token_lifetime(3600);
        e.revoke_tokens();
        p.cleanup(ZONE, NAME, &value(2)).await.unwrap();
        assert_eq!(e.token_requests().len(), 3);
        assert!(e.txt_values("example.com", SET).is_empty());
    }

    #[tokio::test]
    async fn workload_and_managed_identities() {
        let e = AzureEmulator::start(&["example.com"]).await.unwrap();
        let dir = std::env::temp_dir().join(format!("certgate-azure-wi-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("azure-identity-token");
        std::fs::write(&file, format!("{}\n", emu::FEDERATED_TOKEN)).unwrap();

        // cert-manager's choice: the federated token file when the environment has one.
        let cfg = AcmeIssuerDns01ProviderAzureDns {
            subscription_id: emu::SUBSCRIPTION.into(),
            resource_group_name: emu::RESOURCE_GROUP.into(),
            managed_identity: Some(crate::api::acme_dns01::AzureManagedIdentity {
                client_id: Some(emu::WORKLOAD_CLIENT_ID.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let env = AmbientEnv {
            federated_token_file: Some(file.clone()),
            client_id: Some("from-env".into()),
            tenant_id: Some(emu::TENANT.into()),
        };
        let credential = ambient_credential(&cfg, &env).unwrap();
        assert!(matches!(
            &credential,
            AzureCredential::WorkloadIdentity { client_id, tenant_id, .. }
                if client_id == emu::WORKLOAD_CLIENT_ID && tenant_id == emu::TENANT
        ));
        let p = AzureProvider::new(options(&e, credential))
            .unwrap()
            .with_backoff(fast());
        p.present(ZONE, NAME, &value(1)).await.unwrap();
        let t = e.token_requests().pop().unwrap();
        assert_eq!(t.client_assertion_type, JWT_BEARER);
        assert!(t.had_assertion && !t.had_secret);

        // A token the identity has no federated credential for.
        std::fs::write(&file, "eyJ.not-federated.x").unwrap();
        let p = AzureProvider::new(options(&e, ambient_credential(&cfg, &env).unwrap())).unwrap();
        let err = p.present(ZONE, NAME, &value(2)).await.unwrap_err();
        assert!(!err.is_transient());
        assert!(
            err.to_string().contains("AADSTS70021")
                && err.to_string().contains("federated identity credential")
                && !err.to_string().contains("not-federated"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let err = p.present(ZONE, NAME, &value(2)).await.unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");

        // Without the file: the instance metadata service, for the identity named
        // by client ID, by resource ID, or the node's own.
        let no_env = AmbientEnv::default();
        let resource_id = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/certgate",
            emu::SUBSCRIPTION,
            emu::RESOURCE_GROUP
        );
        for (mi, want_client, want_resource) in [
            (Some(emu::MANAGED_CLIENT_ID), emu::MANAGED_CLIENT_ID, ""),
            (None, "", resource_id.as_str()),
        ] {
            let cfg = AcmeIssuerDns01ProviderAzureDns {
                managed_identity: Some(crate::api::acme_dns01::AzureManagedIdentity {
                    client_id: mi.map(String::from),
                    resource_id: mi.is_none().then(|| resource_id.clone()),
                    ..Default::default()
                }),
                ..cfg.clone()
            };
            let p = AzureProvider::new(options(&e, ambient_credential(&cfg, &no_env).unwrap()))
                .unwrap();
            p.present(ZONE, NAME, &value(3)).await.unwrap();
            let t = e.token_requests().pop().unwrap();
            assert_eq!(t.tenant, "imds");
            assert_eq!(
                (t.client_id.as_str(), t.resource_id.as_str()),
                (want_client, want_resource)
            );
            assert!(t.metadata_header);
            assert_eq!(t.scope, "https://management.azure.com/");
        }
        let node = AzureProvider::new(options(
            &e,
            AzureCredential::ManagedIdentity {
                client_id: None,
                resource_id: None,
            },
        ))
        .unwrap();
        node.present(ZONE, NAME, &value(4)).await.unwrap();
        let unknown = AzureProvider::new(options(
            &e,
            AzureCredential::ManagedIdentity {
                client_id: Some("00000000-0000-4000-8000-0000000000ff".into()),
                resource_id: None,
            },
        ))
        .unwrap();
        let err = unknown.present(ZONE, NAME, &value(5)).await.unwrap_err();
        assert!(!err.is_transient());
        assert!(err.to_string().contains("Identity not found"), "{err}");
        assert!(
            ambient_credential(
                &AcmeIssuerDns01ProviderAzureDns::default(),
                &AmbientEnv {
                    federated_token_file: Some("/x".into()),
                    ..Default::default()
                }
            )
            .unwrap_err()
            .to_string()
            .contains("AZURE_CLIENT_ID")
        );
    }

    #[tokio::test]
    async fn private_zones() {
        let e = AzureEmulator::start(&[]).await.unwrap();
        e.add_zone_in(
            emu::SUBSCRIPTION,
            emu::RESOURCE_GROUP,
            "internal.example",
            true,
        );
        let p = AzureProvider::new(AzureOptions {
            zone_kind: ZoneKind::Private,
            ..options(&e, service_principal(emu::CLIENT_SECRET))
        })
        .unwrap();
        let name = "_acme-challenge.internal.example.";
        p.present("internal.example.", name, &value(1))
            .await
            .unwrap();
        let log = e.request_log();
        assert_eq!(
            log[1].uri,
            path(
                "privateDnsZones",
                "internal.example",
                SET,
                PRIVATE_API_VERSION
            )
        );
        assert_eq!(
            log[1].body,
            Some(json!({"properties": {"ttl": 60, "txtRecords": [{"value": [value(1)]}]}}))
        );
        assert_eq!(e.zone_data().txt_values(name), vec![value(1)]);
        p.cleanup("internal.example.", name, &value(1))
            .await
            .unwrap();
        assert!(e.zone_data().txt_values(name).is_empty());
    }

    #[tokio::test]
    async fn unreachable_is_transient() {
        let p = AzureProvider::new(AzureOptions {
            subscription_id: "sub".into(),
            resource_group: "rg".into(),
            hosted_zone_name: None,
            zone_kind: ZoneKind::Public,
            cloud: AzureCloud::Public,
            credential: service_principal("secret-value"),
            arm_url: Some("http://127.0.0.1:1/".into()),
            login_url: Some("http://127.0.0.1:1/".into()),
            imds_url: None,
        })
        .unwrap()
        .with_backoff(Backoff {
            attempts: 2,
            ..fast()
        });
        let err = p.present(ZONE, NAME, "v").await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("no answer"), "{err}");
    }
}
