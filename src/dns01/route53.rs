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

/// Where the solver's fields live, for messages.
const FIELD: &str = "spec.acme.solvers[].dns01.route53";
/// Route53 is global; its API is signed for us-east-1 unless a region is given.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The audience of ServiceAccount tokens exchanged with STS (cert-manager's).
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
/// How long a discovered hosted zone id (or the absence of one) is trusted.
/// The session name of assumed roles.
const SESSION_NAME: &str = "certgate";

/// What went wrong with Route53. Messages say what to fix and never carry secrets.
#[derive(Debug, thiserror::Error)]
pub enum Route53Error {
    #[error(
        "no Route53 hosted zone holds \"{fqdn}\": there is no hosted zone named {tried} visible to {creds}; \
         create the zone, or set {FIELD}.hostedZoneID"
    )]
    ZoneNotFound {
        fqdn: String,
        tried: String,
        creds: String,
    },
    #[error(
        "Route53 hosted zone \"{id}\" does not exist or {creds} cannot see it: check {FIELD}.hostedZoneID"
    )]
    NoSuchZone { id: String, creds: String },
    #[error(
        "Route53 did not accept {creds} for {action} ({code}): check that the access key id and secret access key \
         belong together and are active, and that the clock is right"
    )]
    BadCredentials {
        action: &'static str,
        creds: String,
        code: String,
    },
    #[error(
        "Route53 denied {action} to {creds} ({code}): allow route53:GetChange, route53:ChangeResourceRecordSets, \
         route53:ListResourceRecordSets and route53:ListHostedZonesByName on the hosted zone"
    )]
    Denied {
        action: &'static str,
        creds: String,
        code: String,
    },
    #[error(
        "Route53 throttled {action} {attempts} times in a row ({code}); it will be tried again later"
    )]
    Throttled {
        action: &'static str,
        attempts: u32,
        code: String,
    },
    #[error("Route53 {action} failed ({code}): {message}")]
    Api {
        action: &'static str,
        code: String,
        message: String,
        transient: bool,
    },
    #[error("Route53 {action} could not be sent with {creds}: {reason}")]
    Request {
        action: &'static str,
        creds: String,
        reason: String,
        transient: bool,
    },
    #[error("Route53 change {id} was still PENDING after {secs} s; it will be checked again later")]
    NotInSync { id: String, secs: u64 },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Gone(#[from] BatcherGone),
}

impl Route53Error {
    /// Whether retrying later without any change may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::NotInSync { .. } | Self::Gone(_) => true,
            Self::Api { transient, .. } | Self::Request { transient, .. } => *transient,
            _ => false,
        }
    }
}

fn provider_error(e: Arc<Route53Error>) -> ProviderError {
    if e.is_transient() {
        ProviderError::Unavailable(Box::new(e))
    } else {
        ProviderError::Misconfigured(Box::new(e))
    }
}

/// Error codes Route53 (and STS) answer when a caller goes too fast.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "PriorRequestNotComplete",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

/// Error codes of a failure on AWS's side that a retry may not meet again.
const TRANSIENT_CODES: &[&str] = &[
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether an answer with error `code` and HTTP `status` is worth retrying soon:
/// throttling, AWS-side failures, 429 and 5xx.
pub fn is_retryable(code: Option<&str>, status: Option<u16>) -> bool {
    code.is_some_and(|c| THROTTLING_CODES.contains(&c) || TRANSIENT_CODES.contains(&c))
        || status.is_some_and(|s| s == 429 || (500..600).contains(&s))
}

/// Whether `code` says the caller is throttled.
pub fn is_throttling(code: Option<&str>) -> bool {
    code.is_some_and(|c| THROTTLING_CODES.contains(&c))
}

const BAD_CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
    "InvalidSignatureException",
];

fn sdk_retryable<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_route53::config::http::HttpResponse>,
) -> bool {
    match e {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
        SdkError::ResponseError(r) => is_retryable(None, Some(r.raw().status().as_u16())),
        SdkError::ServiceError(s) => is_retryable(s.err().code(), Some(s.raw().status().as_u16())),
        _ => false,
    }
}

/// Turns an SDK error after `attempts` attempts into a [`Route53Error`].
fn classify<E>(
    action: &'static str,
    creds: &str,
    attempts: u32,
    e: SdkError<E, aws_sdk_route53::config::http::HttpResponse>,
) -> Route53Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    match &e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("unknown").to_string();
            let message = s.err().message().unwrap_or_default().to_string();
            if is_throttling(Some(&code)) {
                Route53Error::Throttled {
                    action,
                    attempts,
                    code,
                }
            } else if BAD_CREDENTIAL_CODES.contains(&code.as_str())
                || (code == "unknown" && matches!(status, Some(401 | 403)))
            {
                let code = if code == "unknown" {
                    format!("HTTP {}", status.unwrap_or_default())
                } else {
                    code
                };
                Route53Error::BadCredentials {
                    action,
                    creds: creds.to_string(),
                    code,
                }
            } else if code == "AccessDenied" || code == "AccessDeniedException" {
                Route53Error::Denied {
                    action,
                    creds: creds.to_string(),
                    code,
                }
            } else {
                Route53Error::Api {
                    action,
                    transient: is_retryable(Some(&code), status),
                    code,
                    message,
                }
            }
        }
        SdkError::ResponseError(_) => Route53Error::Api {
            action,
            code: format!("HTTP {}", status.unwrap_or_default()),
            message: DisplayErrorContext(&e).to_string(),
            transient: is_retryable(None, status),
        },
        SdkError::TimeoutError(_) => Route53Error::Request {
            action,
            creds: creds.to_string(),
            reason: format!("timed out after {attempts} attempts"),
            transient: true,
        },
        SdkError::DispatchFailure(d) => Route53Error::Request {
            action,
            creds: creds.to_string(),
            transient: d.is_io() || d.is_timeout(),
            reason: DisplayErrorContext(&e).to_string(),
        },
        _ => Route53Error::Request {
            action,
            creds: creds.to_string(),
            reason: DisplayErrorContext(&e).to_string(),
            transient: false,
        },
    }
}

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

/// Where the provider's AWS identity comes from.
#[derive(Clone)]
pub enum AwsCredentials {
    /// aws-config's default chain: environment, web identity token file (IRSA), EKS
    /// pod identity, ECS, instance metadata.
    Ambient,
    /// An access key; `source` says where it was read from (for messages).
    Static {
        access_key_id: String,
        secret_access_key: String,
        source: String,
    },
    /// ServiceAccount tokens exchanged with STS AssumeRoleWithWebIdentity for `role`.
    WebIdentity(Arc<dyn WebIdentityTokenSource>),
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ambient => f.write_str("Ambient"),
            Self::Static {
                access_key_id,
                source,
                ..
            } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"** redacted **")
                .field("source", source)
                .finish(),
            Self::WebIdentity(t) => f.debug_tuple("WebIdentity").field(&t.describe()).finish(),
        }
    }
}

impl AwsCredentials {
    fn describe(&self, role: Option<&str>) -> String {
        let base = match self {
            Self::Ambient => {
                "the ambient AWS credentials (environment, IRSA, pod identity or instance role)"
                    .to_string()
            }
            Self::Static {
                access_key_id,
                source,
                ..
            } => format!("access key {access_key_id} ({source})"),
            Self::WebIdentity(t) => format!("a token of {}", t.describe()),
        };
        match role {
            Some(r) => format!("role {r} assumed with {base}"),
            None => base,
        }
    }
}

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

struct Api {
    client: aws_sdk_route53::Client,
    calls: Arc<ApiCalls>,
    creds: String,
    backoff: Backoff,
    poll_interval: Duration,
    insync_timeout: Duration,
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

impl ZoneApi for Api {
    const ZONE_KIND: &'static str = "Route53 hosted zone";

    fn find_zone<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, Route53Error>> {
        Box::pin(Api::find_zone(self, name))
    }

    fn zone_not_found(&self, fqdn: &str, tried: String) -> Route53Error {
        Route53Error::ZoneNotFound {
            fqdn: fqdn.to_string(),
            tried,
            creds: self.creds.clone(),
        }
    }

    fn provider_error(e: Arc<Route53Error>) -> ProviderError {
        provider_error(e)
    }
}

/// `Z123` from `/hostedzone/Z123` or `Z123`.
pub fn bare_zone_id(id: &str) -> &str {
    id.trim().trim_start_matches("/hostedzone/")
}

/// Route53 writes `*` and other special characters of names as `\NNN` octal escapes.
fn unescape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.clone().take(3).collect();
            if digits.len() == 3
                && digits.chars().all(|d| d.is_ascii_digit())
                && let Ok(n) = u8::from_str_radix(&digits, 8)
            {
                out.push(n as char);
                for _ in 0..3 {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    super::fqdn(&out)
}

impl Api {
    /// The id of the hosted zone named exactly `name`: a public one if there is one,
    /// else a private one.
    async fn find_zone(&self, name: &str) -> Result<Option<String>, Route53Error> {
        const ACTION: &str = "ListHostedZonesByName";
        let mut public = None;
        let mut private = None;
        let mut next: Option<(String, Option<String>)> = None;
        loop {
            let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
                self.calls
                    .list_hosted_zones_by_name
                    .fetch_add(1, Ordering::Relaxed);
                let mut req = self.client.list_hosted_zones_by_name().max_items(100);
                req = match &next {
                    Some((dns, id)) => req.dns_name(dns).set_hosted_zone_id(id.clone()),
                    None => req.dns_name(name),
                };
                req.send()
            })
            .await;
            let out = r.map_err(|e| classify(ACTION, &self.creds, attempts, e))?;
            let mut past = false;
            for z in out.hosted_zones() {
                if unescape_name(z.name()) != name {
                    past = true;
                    continue;
                }
                let id = bare_zone_id(z.id()).to_string();
                if z.config().is_some_and(|c| c.private_zone()) {
                    private.get_or_insert(id);
                } else {
                    public.get_or_insert(id);
                }
            }
            if public.is_some() || past || !out.is_truncated() {
                break;
            }
            match out.next_dns_name() {
                Some(dns) => {
                    next = Some((dns.to_string(), out.next_hosted_zone_id().map(String::from)))
                }
                None => break,
            }
        }
        Ok(public.or(private))
    }

    async fn read_one(&self, zone: &str, name: &str) -> Result<Option<TxtSet>, Route53Error> {
        const ACTION: &str = "ListResourceRecordSets";
        let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
            self.calls
                .list_resource_record_sets
                .fetch_add(1, Ordering::Relaxed);
            self.client
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(name)
                .start_record_type(RrType::Txt)
                .max_items(1)
                .send()
        })
        .await;
        let out = r.map_err(|e| match &e {
            SdkError::ServiceError(s) if s.err().code() == Some("NoSuchHostedZone") => {
                Route53Error::NoSuchZone {
                    id: zone.to_string(),
                    creds: self.creds.clone(),
                }
            }
            _ => classify(ACTION, &self.creds, attempts, e),
        })?;
        Ok(out
            .resource_record_sets()
            .iter()
            .find(|s| {
                unescape_name(s.name()) == name
                    && *s.r#type() == RrType::Txt
                    && s.set_identifier().is_none()
            })
            .map(txt_set))
    }

    /// The TXT sets at `names` from pages of the whole zone (300 record sets a page),
    /// at most [`scan_budget`] pages; `false` when the zone was longer than that (the
    /// caller reads the names not found one by one).
    async fn scan(
        &self,
        zone: &str,
        names: &[String],
    ) -> Result<(HashMap<String, TxtSet>, bool), Route53Error> {
        const ACTION: &str = "ListResourceRecordSets";
        let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut found = HashMap::new();
        let mut next: Option<(String, RrType, Option<String>)> = None;
        for _ in 0..scan_budget(names.len()) {
            let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
                self.calls
                    .list_resource_record_sets
                    .fetch_add(1, Ordering::Relaxed);
                let mut req = self
                    .client
                    .list_resource_record_sets()
                    .hosted_zone_id(zone)
                    .max_items(300);
                if let Some((n, t, id)) = &next {
                    req = req
                        .start_record_name(n)
                        .start_record_type(t.clone())
                        .set_start_record_identifier(id.clone());
                }
                req.send()
            })
            .await;
            let out = r.map_err(|e| match &e {
                SdkError::ServiceError(s) if s.err().code() == Some("NoSuchHostedZone") => {
                    Route53Error::NoSuchZone {
                        id: zone.to_string(),
                        creds: self.creds.clone(),
                    }
                }
                _ => classify(ACTION, &self.creds, attempts, e),
            })?;
            for s in out.resource_record_sets() {
                let name = unescape_name(s.name());
                if *s.r#type() == RrType::Txt
                    && s.set_identifier().is_none()
                    && wanted.contains(name.as_str())
                {
                    found.insert(name, txt_set(s));
                }
            }
            match (
                out.is_truncated(),
                out.next_record_name(),
                out.next_record_type(),
            ) {
                (true, Some(n), Some(t)) => {
                    next = Some((
                        n.to_string(),
                        t.clone(),
                        out.next_record_identifier().map(String::from),
                    ))
                }
                _ => return Ok((found, true)),
            }
        }
        Ok((found, false))
    }

    async fn wait_insync(&self, id: &str) -> Result<(), Route53Error> {
        const ACTION: &str = "GetChange";
        let start = tokio::time::Instant::now();
        let mut wait = self.poll_interval;
        loop {
            if start.elapsed() + wait > self.insync_timeout {
                return Err(Route53Error::NotInSync {
                    id: id.to_string(),
                    secs: self.insync_timeout.as_secs(),
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
            let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
                self.calls.get_change.fetch_add(1, Ordering::Relaxed);
                self.client.get_change().id(id).send()
            })
            .await;
            let out = r.map_err(|e| classify(ACTION, &self.creds, attempts, e))?;
            if out
                .change_info()
                .is_some_and(|c| *c.status() == ChangeStatus::Insync)
            {
                return Ok(());
            }
        }
    }
}

fn txt_set(s: &ResourceRecordSet) -> TxtSet {
    TxtSet {
        ttl: s
            .ttl()
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(super::zone_batch::TXT_TTL),
        rdatas: s
            .resource_records()
            .iter()
            .map(|r| r.value().to_string())
            .collect(),
    }
}

/// The ChangeBatch of `changes`: UPSERT of every set that stays, DELETE (with the
/// exact values read) of every set that goes.
pub fn change_batch(changes: &[NameChange]) -> Result<ChangeBatch, Route53Error> {
    let build_err = |e: aws_sdk_route53::error::BuildError| Route53Error::Config(e.to_string());
    let mut batch = ChangeBatch::builder().comment("certgate DNS-01");
    for c in changes {
        let (action, set) = match (&c.after, &c.before) {
            (Some(after), _) => (ChangeAction::Upsert, after),
            (None, Some(before)) => (ChangeAction::Delete, before),
            (None, None) => continue,
        };
        let mut rrset = ResourceRecordSet::builder()
            .name(&c.name)
            .r#type(RrType::Txt)
            .ttl(i64::from(set.ttl));
        for v in &set.rdatas {
            rrset = rrset.resource_records(
                ResourceRecord::builder()
                    .value(v)
                    .build()
                    .map_err(build_err)?,
            );
        }
        batch = batch.changes(
            Change::builder()
                .action(action)
                .resource_record_set(rrset.build().map_err(build_err)?)
                .build()
                .map_err(build_err)?,
        );
    }
    batch.build().map_err(build_err)
}

impl Backend for Api {
    type Zone = String;
    type Error = Route53Error;

    fn read<'a>(
        &'a self,
        zone: &'a String,
        names: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, TxtSet>, Route53Error>> {
        Box::pin(async move {
            let mut out = HashMap::new();
            let mut rest: Vec<&String> = names.iter().collect();
            if names.len() >= SCAN_MIN_NAMES {
                let (found, complete) = self.scan(zone, names).await?;
                if complete {
                    return Ok(found);
                }
                rest.retain(|n| !found.contains_key(*n));
                out = found;
            }
            for chunk in rest.chunks(4) {
                let sets =
                    futures::future::join_all(chunk.iter().map(|n| self.read_one(zone, n))).await;
                for (n, s) in chunk.iter().zip(sets) {
                    if let Some(s) = s? {
                        out.insert((*n).clone(), s);
                    }
                }
            }
            Ok(out)
        })
    }

    fn apply<'a>(
        &'a self,
        zone: &'a String,
        changes: &'a [NameChange],
    ) -> BoxFuture<'a, Result<(), Route53Error>> {
        Box::pin(async move {
            const ACTION: &str = "ChangeResourceRecordSets";
            let batch = change_batch(changes)?;
            let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
                self.calls
                    .change_resource_record_sets
                    .fetch_add(1, Ordering::Relaxed);
                self.client
                    .change_resource_record_sets()
                    .hosted_zone_id(zone)
                    .change_batch(batch.clone())
                    .send()
            })
            .await;
            let out = r.map_err(|e| match &e {
                SdkError::ServiceError(s) if s.err().code() == Some("NoSuchHostedZone") => {
                    Route53Error::NoSuchZone {
                        id: zone.clone(),
                        creds: self.creds.clone(),
                    }
                }
                _ => classify(ACTION, &self.creds, attempts, e),
            })?;
            debug!(zone = %zone, changes = changes.len(), "Route53 change sent");
            match out.change_info() {
                Some(info) if *info.status() != ChangeStatus::Insync => {
                    self.wait_insync(info.id()).await
                }
                _ => Ok(()),
            }
        })
    }

    fn is_conflict(e: &Route53Error) -> bool {
        // A DELETE whose values no longer match what is there (InvalidChangeBatch on
        // AWS, InvalidInput on moto): read again and plan again.
        matches!(e, Route53Error::Api { code, .. } if code == "InvalidChangeBatch" || code == "InvalidInput")
    }

    fn is_transient(e: &Route53Error) -> bool {
        e.is_transient()
    }
}

/// Credentials from a ServiceAccount token exchanged with STS for `role`.
struct KubeWebIdentity {
    sts: aws_sdk_sts::Client,
    role: String,
    source: Arc<dyn WebIdentityTokenSource>,
}

impl fmt::Debug for KubeWebIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeWebIdentity")
            .field("role", &self.role)
            .field("service_account", &self.source.describe())
            .finish()
    }
}

impl KubeWebIdentity {
    async fn load(&self) -> Result<Credentials, CredentialsError> {
        let token = self.source.token().await.map_err(|e| {
            CredentialsError::provider_error(format!(
                "requesting a token of {}: {e}",
                self.source.describe()
            ))
        })?;
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.role)
            .role_session_name(SESSION_NAME)
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| {
                let reason = match &e {
                    SdkError::ServiceError(s) => format!(
                        "{}: {}",
                        s.err().code().unwrap_or("error"),
                        s.err().message().unwrap_or_default()
                    ),
                    _ => DisplayErrorContext(&e).to_string(),
                };
                CredentialsError::provider_error(format!(
                    "STS AssumeRoleWithWebIdentity for role {} with a token of {} failed ({reason}): check the role's trust \
                     policy (the cluster's OIDC provider, audience {STS_AUDIENCE}, subject system:serviceaccount:<namespace>:<name>)",
                    self.role,
                    self.source.describe()
                ))
            })?;
        let c = out.credentials().ok_or_else(|| {
            CredentialsError::provider_error(
                "STS AssumeRoleWithWebIdentity returned no credentials",
            )
        })?;
        let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "certgate-web-identity",
        ))
    }
}

impl ProvideCredentials for KubeWebIdentity {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.load())
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
