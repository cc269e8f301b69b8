//! The AWS Route53 provider, from cert-manager's `route53` solver fields.
//!
//! - **Zone**: `hostedZoneID` when set; otherwise discovered with
//!   `ListHostedZonesByName`: first the zone the public DNS names authoritative for
//!   the record, then every parent of the record from the most specific up. Among
//!   hosted zones of the same name a public one is preferred (the ACME CA queries the
//!   public DNS); a private zone is used only when no public zone of that name
//!   exists (split-horizon setups whose CA resolves through the VPC).
//! - **Records**: present UPSERTs the TXT set with our value added to the values
//!   already there; clean-up UPSERTs it without our value, or DELETEs it when ours was
//!   the last. Edits to one hosted zone within `batch_window` (default 200 ms) go out
//!   as one `ChangeResourceRecordSets` call (see [`super::zone_batch`]); every caller
//!   waits until `GetChange` says INSYNC.
//! - **Credentials**: the ambient chain of aws-config (environment, IRSA / web
//!   identity token file, EKS pod identity, ECS, instance role); or an access key id
//!   and secret access key; optionally a `role` assumed with STS AssumeRole on top; or
//!   `auth.kubernetes.serviceAccountRef` with `role`: a token of that ServiceAccount
//!   (audience `sts.amazonaws.com`) exchanged with STS AssumeRoleWithWebIdentity.
//! - **Retries**: the SDK's own retries are off; throttling (`Throttling`,
//!   `PriorRequestNotComplete`, `RequestLimitExceeded`…), 5xx answers and I/O errors
//!   are retried here with exponential backoff and jitter, so every call on the wire
//!   is counted in [`ApiCalls`].
//! - **Endpoint**: `endpoint_url` in [`Route53Options`] (tests point it at moto). The
//!   ambient chain also honours aws-config's own `AWS_ENDPOINT_URL` /
//!   `AWS_ENDPOINT_URL_ROUTE53` variables.
//!
//! Secrets are held in `aws_credential_types::Credentials`, whose Debug output
//! redacts them; errors name where credentials come from, never what they are.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{
    ProvideCredentials, SharedCredentialsProvider, error::CredentialsError, future,
};
use aws_sdk_route53::config::Region;
use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use futures::future::BoxFuture;
use tracing::debug;

use super::api_provider::{ApiProvider, ZoneApi};
use super::provider::{Provider, ProviderError};
use super::zone_batch::{
    Backend, Backoff, BatcherGone, NameChange, SCAN_MIN_NAMES, TxtSet, retry, scan_budget,
};
use crate::api::acme_dns01::AcmeIssuerDns01ProviderRoute53;

mod aws_credentials;
mod errors;
mod wire;

pub use aws_credentials::AwsCredentials;
use aws_credentials::KubeWebIdentity;
pub use errors::{Route53Error, is_throttling};
use errors::{classify, provider_error};
use wire::Api;
pub use wire::{bare_zone_id, change_batch};

/// Where the solver's fields live, for messages.
const FIELD: &str = "spec.acme.solvers[].dns01.route53";
/// Route53 is global; its API is signed for us-east-1 unless a region is given.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The audience of ServiceAccount tokens exchanged with STS (cert-manager's).
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
/// The session name of assumed roles.
const SESSION_NAME: &str = "certgate";

/// Calls made to the Route53 API (every attempt on the wire, retries included).
#[derive(Debug, Default)]
pub struct ApiCalls {
    pub change_resource_record_sets: AtomicU64,
    pub get_change: AtomicU64,
    pub list_resource_record_sets: AtomicU64,
    pub list_hosted_zones_by_name: AtomicU64,
}

/// A copy of [`ApiCalls`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiCallCounts {
    pub change_resource_record_sets: u64,
    pub get_change: u64,
    pub list_resource_record_sets: u64,
    pub list_hosted_zones_by_name: u64,
}

impl ApiCallCounts {
    pub fn total(&self) -> u64 {
        self.change_resource_record_sets
            + self.get_change
            + self.list_resource_record_sets
            + self.list_hosted_zones_by_name
    }
}

impl ApiCalls {
    pub fn snapshot(&self) -> ApiCallCounts {
        ApiCallCounts {
            change_resource_record_sets: self.change_resource_record_sets.load(Ordering::Relaxed),
            get_change: self.get_change.load(Ordering::Relaxed),
            list_resource_record_sets: self.list_resource_record_sets.load(Ordering::Relaxed),
            list_hosted_zones_by_name: self.list_hosted_zones_by_name.load(Ordering::Relaxed),
        }
    }
}

pub use super::credentials::WebIdentityTokenSource;

/// How a [`Route53Provider`] is set up.
#[derive(Clone, Debug)]
pub struct Route53Options {
    /// The region the API is signed for (and STS is called in). Default: the ambient
    /// chain's region, else [`DEFAULT_REGION`].
    pub region: Option<String>,
    /// The hosted zone; discovered by name when absent.
    pub hosted_zone_id: Option<String>,
    pub credentials: AwsCredentials,
    /// A role ARN to assume (required with web identity).
    pub role: Option<String>,
    /// Another Route53 (and STS) endpoint, e.g. moto's `http://127.0.0.1:PORT`.
    pub endpoint_url: Option<String>,
    /// How long edits to one zone are gathered into one change. Default 200 ms.
    pub batch_window: Duration,
    /// Retries of throttled and failed calls.
    pub backoff: Backoff,
    /// The first wait between `GetChange` polls; it doubles up to 10 s.
    pub poll_interval: Duration,
    /// How long a change may stay PENDING. Default 5 minutes.
    pub insync_timeout: Duration,
}

impl Default for Route53Options {
    fn default() -> Self {
        Self {
            region: None,
            hosted_zone_id: None,
            credentials: AwsCredentials::Ambient,
            role: None,
            endpoint_url: None,
            batch_window: Duration::from_millis(200),
            backoff: Backoff::default(),
            poll_interval: Duration::from_secs(1),
            insync_timeout: Duration::from_secs(300),
        }
    }
}

/// Route53 as a [`Provider`] (the generic zone-editing provider over Route53's
/// API). Cheap to clone; clones share the batcher, the zone cache and the call
/// counters.
#[derive(Clone)]
pub struct Route53Provider {
    inner: ApiProvider<Api>,
}

impl fmt::Debug for Route53Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route53Provider")
            .field("hosted_zone_id", &self.inner.fixed_zone())
            .field("credentials", &self.inner.api().creds)
            .finish()
    }
}

impl Route53Provider {
    /// Builds the client. Loads no credentials yet: they are resolved (and cached
    /// until they expire) at the first call.
    pub async fn new(opts: Route53Options) -> Result<Self, Route53Error> {
        let creds_desc = opts.credentials.describe(opts.role.as_deref());
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::disabled());
        if let Some(r) = opts.region.as_deref().filter(|r| !r.is_empty()) {
            loader = loader.region(Region::new(r.to_string()));
        }
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        match &opts.credentials {
            AwsCredentials::Ambient => {}
            AwsCredentials::Static {
                access_key_id,
                secret_access_key,
                ..
            } => {
                loader = loader.credentials_provider(Credentials::new(
                    access_key_id.clone(),
                    secret_access_key.clone(),
                    None,
                    None,
                    "certgate-secret",
                ));
            }
            AwsCredentials::WebIdentity(_) => {
                // Replaced below; keep the chain from probing for ambient credentials.
                loader = loader.no_credentials();
            }
        }
        let mut sdk = loader.load().await;
        if sdk.region().is_none() {
            sdk = sdk
                .into_builder()
                .region(Region::new(DEFAULT_REGION))
                .build();
        }

        let provider: Option<SharedCredentialsProvider> = match (&opts.credentials, &opts.role) {
            (AwsCredentials::WebIdentity(source), Some(role)) => {
                let sts = aws_sdk_sts::Client::new(&sdk);
                Some(SharedCredentialsProvider::new(KubeWebIdentity {
                    sts,
                    role: role.clone(),
                    source: source.clone(),
                }))
            }
            (AwsCredentials::WebIdentity(source), None) => {
                return Err(Route53Error::Config(format!(
                    "{FIELD}.auth.kubernetes.serviceAccountRef ({}) needs {FIELD}.role: set it to the ARN of the IAM role \
                     whose trust policy allows that ServiceAccount",
                    source.describe()
                )));
            }
            (_, Some(role)) => {
                let base = sdk.credentials_provider().ok_or_else(|| {
                    Route53Error::Config("no AWS credentials provider is configured".into())
                })?;
                let assumed = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                    .session_name(SESSION_NAME)
                    .configure(&sdk)
                    .build_from_provider(base)
                    .await;
                Some(SharedCredentialsProvider::new(assumed))
            }
            (_, None) => None,
        };
        let mut conf = aws_sdk_route53::config::Builder::from(&sdk);
        if let Some(p) = provider {
            conf = conf.credentials_provider(p);
        }
        let client = aws_sdk_route53::Client::from_conf(conf.build());
        let api = Api {
            client,
            calls: Arc::new(ApiCalls::default()),
            creds: creds_desc,
            backoff: opts.backoff,
            poll_interval: opts.poll_interval,
            insync_timeout: opts.insync_timeout,
        };
        let hosted_zone_id = opts
            .hosted_zone_id
            .filter(|z| !z.is_empty())
            .map(|z| bare_zone_id(&z).to_string());
        Ok(Self {
            inner: ApiProvider::new(api, opts.batch_window, hosted_zone_id),
        })
    }

    /// The calls made so far.
    pub fn api_calls(&self) -> ApiCallCounts {
        self.inner.api().calls.snapshot()
    }

    /// The hosted zone id for `fqdn`, whose authoritative zone is `zone`.
    pub async fn zone_id(&self, zone: &str, fqdn: &str) -> Result<String, Route53Error> {
        self.inner.zone(zone, fqdn).await
    }
}

impl Provider for Route53Provider {
    fn present<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.inner.present(zone, fqdn, value)
    }

    fn cleanup<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.inner.cleanup(zone, fqdn, value)
    }
}

/// Providers per solver configuration, namespace and credentials.
static PROVIDERS: std::sync::LazyLock<super::credentials::ProviderCache<Route53Provider>> =
    std::sync::LazyLock::new(|| super::credentials::ProviderCache::new(64));

/// The provider of a `route53` solver, with its credentials read from Secrets in
/// `secret_ns`. One provider (and one batcher per zone) is shared by every challenge
/// of the same solver and credentials.
pub async fn from_solver(
    client: &kube::Client,
    cfg: &AcmeIssuerDns01ProviderRoute53,
    secret_ns: &str,
    endpoint_url: Option<&str>,
) -> Result<Route53Provider, String> {
    use super::credentials::{
        ServiceAccountTokens, describe_secret_key, fingerprint, secret_value,
    };
    let static_key = cfg.access_key_id.as_deref().is_some_and(|k| !k.is_empty())
        || cfg.access_key_id_secret_ref.is_some()
        || cfg.secret_access_key_secret_ref.is_some();
    let credentials = if static_key {
        let (access_key_id, id_source) = match (&cfg.access_key_id, &cfg.access_key_id_secret_ref) {
            (Some(id), _) if !id.is_empty() => {
                (id.trim().to_string(), format!("{FIELD}.accessKeyID"))
            }
            (_, Some(r)) => (
                secret_value(
                    client,
                    secret_ns,
                    r,
                    &format!("{FIELD}.accessKeyIDSecretRef"),
                )
                .await?,
                describe_secret_key(secret_ns, r),
            ),
            _ => {
                return Err(format!(
                    "{FIELD}.secretAccessKeySecretRef is set but the access key id is not: set {FIELD}.accessKeyID \
                     or {FIELD}.accessKeyIDSecretRef"
                ));
            }
        };
        let r = cfg.secret_access_key_secret_ref.as_ref().ok_or_else(|| {
            format!(
                "an access key id is set but the secret access key is not: set {FIELD}.secretAccessKeySecretRef"
            )
        })?;
        let secret_access_key = secret_value(
            client,
            secret_ns,
            r,
            &format!("{FIELD}.secretAccessKeySecretRef"),
        )
        .await?;
        AwsCredentials::Static {
            access_key_id,
            secret_access_key,
            source: format!(
                "id from {id_source}, secret from {}",
                describe_secret_key(secret_ns, r)
            ),
        }
    } else if let Some(auth) = &cfg.auth {
        let sa = &auth.kubernetes.service_account_ref;
        let mut audiences = vec![STS_AUDIENCE.to_string()];
        audiences.extend(sa.audiences.iter().flatten().cloned());
        AwsCredentials::WebIdentity(Arc::new(ServiceAccountTokens {
            client: client.clone(),
            namespace: secret_ns.to_string(),
            name: sa.name.clone(),
            audiences,
        }))
    } else {
        AwsCredentials::Ambient
    };
    let fp = match &credentials {
        AwsCredentials::Static {
            access_key_id,
            secret_access_key,
            ..
        } => fingerprint(&[access_key_id, secret_access_key]),
        _ => 0,
    };
    let key = format!(
        "{secret_ns}|{endpoint_url:?}|{}|{fp}",
        serde_json::to_string(cfg).unwrap_or_default()
    );
    if let Some(p) = PROVIDERS.get(&key) {
        return Ok(p);
    }
    let p = Route53Provider::new(Route53Options {
        region: cfg.region.clone(),
        hosted_zone_id: cfg.hosted_zone_id.clone(),
        credentials,
        role: cfg.role.clone().filter(|r| !r.is_empty()),
        endpoint_url: endpoint_url.map(String::from),
        ..Route53Options::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(PROVIDERS.insert(key, p))
}

#[cfg(test)]
mod tests {
    use super::errors::is_retryable;
    use super::wire::unescape_name;
    use super::*;

    #[test]
    fn retry_classifier() {
        for code in [
            "Throttling",
            "PriorRequestNotComplete",
            "RequestLimitExceeded",
        ] {
            assert!(is_retryable(Some(code), Some(400)), "{code}");
            assert!(is_throttling(Some(code)), "{code}");
        }
        assert!(is_retryable(Some("ServiceUnavailable"), Some(503)));
        assert!(is_retryable(None, Some(500)));
        assert!(is_retryable(None, Some(429)));
        for code in [
            "InvalidChangeBatch",
            "AccessDenied",
            "NoSuchHostedZone",
            "InvalidInput",
            "SignatureDoesNotMatch",
        ] {
            assert!(!is_retryable(Some(code), Some(400)), "{code}");
        }
        assert!(!is_retryable(None, Some(403)));
        assert!(!is_retryable(None, None));
    }

    #[test]
    fn names_and_ids() {
        assert_eq!(bare_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_zone_id("Z123"), "Z123");
        assert_eq!(unescape_name("\\052.Example.com."), "*.example.com.");
        assert_eq!(
            unescape_name("_acme-challenge.example.com"),
            "_acme-challenge.example.com."
        );
    }

    #[test]
    fn change_batch_upserts_and_deletes() {
        let keep = TxtSet {
            ttl: 60,
            rdatas: vec!["\"a\"".into(), "\"b\"".into()],
        };
        let changes = vec![
            NameChange {
                name: "_acme-challenge.a.example.com.".into(),
                before: None,
                after: Some(keep.clone()),
            },
            NameChange {
                name: "_acme-challenge.b.example.com.".into(),
                before: Some(keep.clone()),
                after: None,
            },
        ];
        let b = change_batch(&changes).map_err(|e| e.to_string());
        let Ok(b) = b else {
            panic!("{b:?}");
        };
        let c = b.changes();
        assert_eq!(c.len(), 2);
        assert_eq!(*c[0].action(), ChangeAction::Upsert);
        assert_eq!(*c[1].action(), ChangeAction::Delete);
        let vals: Vec<&str> = c[1]
            .resource_record_set()
            .map(|s| s.resource_records().iter().map(|r| r.value()).collect())
            .unwrap_or_default();
        assert_eq!(vals, vec!["\"a\"", "\"b\""]);
        assert_eq!(c[1].resource_record_set().and_then(|s| s.ttl()), Some(60));
    }

    #[test]
    fn debug_and_errors_hide_the_secret_key() {
        let creds = AwsCredentials::Static {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG".into(),
            source: "Secret ns/aws keys id, secret".into(),
        };
        let dbg = format!("{creds:?}");
        assert!(!dbg.contains("wJalrXUtnFEMI"), "{dbg}");
        let opts = Route53Options {
            credentials: creds.clone(),
            ..Route53Options::default()
        };
        assert!(!format!("{opts:?}").contains("wJalrXUtnFEMI"));
        let desc = creds.describe(Some("arn:aws:iam::1:role/dns"));
        assert!(!desc.contains("wJalrXUtnFEMI") && desc.contains("Secret ns/aws"));
    }

    #[test]
    fn errors_say_what_to_fix() {
        let e = Route53Error::ZoneNotFound {
            fqdn: "_acme-challenge.a.example.com.".into(),
            tried: "\"example.com.\"".into(),
            creds: "the ambient AWS credentials".into(),
        };
        assert!(e.to_string().contains("hostedZoneID"));
        assert!(!e.is_transient());
        let t = Route53Error::Throttled {
            action: "ChangeResourceRecordSets",
            attempts: 8,
            code: "Throttling".into(),
        };
        assert!(t.is_transient());
        assert!(provider_error(Arc::new(t)).is_transient());
        assert!(Api::is_conflict(&Route53Error::Api {
            action: "ChangeResourceRecordSets",
            code: "InvalidChangeBatch".into(),
            message: String::new(),
            transient: false
        }));
    }
}
