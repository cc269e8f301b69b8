//! The Google Cloud DNS provider (`google-cloud-dns-v1`), from cert-manager's
//! `cloudDNS` solver fields.
//!
//! - **Zone**: `hostedZoneName` when set; otherwise discovered with
//!   `managedZones.list?dnsName=`: first the zone the public DNS names authoritative
//!   for the record, then every parent of the record from the most specific up; a
//!   public zone before a private one of the same DNS name.
//! - **Records**: a change whose deletion is the TXT set as read and whose addition
//!   is the set with our value added (or removed; a set left empty is only deleted),
//!   so other values are kept. Cloud DNS applies a change atomically and refuses it
//!   when the deletion no longer matches (412 `conditionNotMet`, 404 `notFound`) or
//!   the addition already exists (409 `alreadyExists`): the set is then read again and
//!   the change planned again. Edits to one managed zone within `batch_window` go out
//!   as one change (see [`super::zone_batch`]); callers wait until it is `done`.
//! - **Credentials**: a service account JSON key from `serviceAccountSecretRef`, or
//!   the ambient Application Default Credentials (GKE workload identity, the metadata
//!   server, `GOOGLE_APPLICATION_CREDENTIALS`). Tests use anonymous credentials.
//! - **Retries**: the client's own retries are off; 429, 5xx and I/O errors are
//!   retried here with exponential backoff and jitter, and counted in [`ApiCalls`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use google_cloud_auth::credentials::Credentials;
use google_cloud_dns_v1::client::{Changes, ManagedZones, ResourceRecordSets};
use google_cloud_dns_v1::model::{Change, ResourceRecordSet, change, managed_zone};
use google_cloud_gax::retry_policy::NeverRetry;
use tracing::debug;

use super::api_provider::{ApiProvider, ZoneApi};
use super::provider::{Provider, ProviderError};
use super::zone_batch::{
    Backend, Backoff, BatcherGone, NameChange, SCAN_MIN_NAMES, TXT_TTL, TxtSet, retry, scan_budget,
};
use crate::api::acme_dns01::AcmeIssuerDns01ProviderCloudDns;

/// Where the solver's fields live, for messages.
const FIELD: &str = "spec.acme.solvers[].dns01.cloudDNS";
/// How long a discovered managed zone (or the absence of one) is trusted.
/// The permissions the provider uses, for messages.
const PERMISSIONS: &str = "dns.managedZones.list, dns.resourceRecordSets.list, dns.changes.create and dns.changes.get \
     (roles/dns.admin has them)";

/// What went wrong with Cloud DNS. Messages say what to fix and never carry secrets.
#[derive(Debug, thiserror::Error)]
pub enum CloudDnsError {
    #[error(
        "no Cloud DNS managed zone in project \"{project}\" holds \"{fqdn}\": there is none with DNS name {tried} \
         visible to {creds}; create the zone, or set {FIELD}.hostedZoneName"
    )]
    ZoneNotFound {
        fqdn: String,
        tried: String,
        project: String,
        creds: String,
    },
    #[error("{source_desc} is not a usable service account key: {reason}")]
    BadKey { source_desc: String, reason: String },
    #[error(
        "Cloud DNS refused {action} in project \"{project}\" to {creds} (HTTP {status}: {message}): check the \
         credentials and that they have {PERMISSIONS}"
    )]
    Denied {
        action: &'static str,
        project: String,
        creds: String,
        status: u16,
        message: String,
    },
    #[error(
        "Cloud DNS has no managed zone \"{zone}\" in project \"{project}\" (HTTP 404: {message}): check {FIELD}.project and {FIELD}.hostedZoneName"
    )]
    NoSuchZone {
        zone: String,
        project: String,
        message: String,
    },
    #[error("Cloud DNS {action} failed ({what}): {message}")]
    Api {
        action: &'static str,
        what: String,
        message: String,
        status: Option<u16>,
        transient: bool,
    },
    #[error(
        "Cloud DNS change {id} was still pending after {secs} s; it will be checked again later"
    )]
    NotDone { id: String, secs: u64 },
    #[error("setting up the Cloud DNS client: {0}")]
    Setup(String),
    #[error(transparent)]
    Gone(#[from] BatcherGone),
}

impl CloudDnsError {
    /// Whether retrying later without any change may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::NotDone { .. } | Self::Gone(_) => true,
            Self::Api { transient, .. } => *transient,
            _ => false,
        }
    }
}

fn provider_error(e: Arc<CloudDnsError>) -> ProviderError {
    if e.is_transient() {
        ProviderError::Unavailable(Box::new(e))
    } else {
        ProviderError::Misconfigured(Box::new(e))
    }
}

/// Whether an answer with HTTP `status` is worth retrying soon: 429 and 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// Whether the API refused a change because the sets moved since they were read.
pub fn is_conflict_status(status: u16) -> bool {
    matches!(status, 409 | 412 | 404)
}

fn retryable(e: &google_cloud_dns_v1::Error) -> bool {
    match e.http_status_code() {
        Some(s) => is_retryable_status(s),
        None => e.is_io() || e.is_connect() || e.is_timeout() || e.is_transport(),
    }
}

fn message_of(e: &google_cloud_dns_v1::Error) -> String {
    e.status()
        .map(|s| s.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| e.to_string())
}

/// Calls made to the Cloud DNS API (every attempt on the wire, retries included).
#[derive(Debug, Default)]
pub struct ApiCalls {
    pub changes_create: AtomicU64,
    pub changes_get: AtomicU64,
    pub rrsets_list: AtomicU64,
    pub managed_zones_list: AtomicU64,
}

/// A copy of [`ApiCalls`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiCallCounts {
    pub changes_create: u64,
    pub changes_get: u64,
    pub rrsets_list: u64,
    pub managed_zones_list: u64,
}

impl ApiCallCounts {
    pub fn total(&self) -> u64 {
        self.changes_create + self.changes_get + self.rrsets_list + self.managed_zones_list
    }
}

impl ApiCalls {
    pub fn snapshot(&self) -> ApiCallCounts {
        ApiCallCounts {
            changes_create: self.changes_create.load(Ordering::Relaxed),
            changes_get: self.changes_get.load(Ordering::Relaxed),
            rrsets_list: self.rrsets_list.load(Ordering::Relaxed),
            managed_zones_list: self.managed_zones_list.load(Ordering::Relaxed),
        }
    }
}

/// Where the provider's Google identity comes from.
#[derive(Clone)]
pub enum GcpCredentials {
    /// Application Default Credentials: GKE workload identity, the metadata server,
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    Ambient,
    /// A service account JSON key; `source` says where it was read from.
    ServiceAccountKey { json: String, source: String },
    /// No credentials at all (emulators).
    Anonymous,
}

impl fmt::Debug for GcpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ambient => f.write_str("Ambient"),
            Self::Anonymous => f.write_str("Anonymous"),
            Self::ServiceAccountKey { source, .. } => f
                .debug_struct("ServiceAccountKey")
                .field("json", &"** redacted **")
                .field("source", source)
                .finish(),
        }
    }
}

/// The `client_email` of a service account key, checking it has what a key needs.
/// Errors never quote the key.
pub fn service_account_email(json: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|_| "it is not JSON (a service account key file is expected)".to_string())?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty());
    if field("type") != Some("service_account") {
        return Err("its \"type\" is not \"service_account\"".into());
    }
    if field("private_key").is_none() {
        return Err("it has no \"private_key\"".into());
    }
    field("client_email")
        .map(String::from)
        .ok_or_else(|| "it has no \"client_email\"".into())
}

impl GcpCredentials {
    fn describe(&self) -> String {
        match self {
            Self::Ambient => {
                "the ambient Google credentials (workload identity, metadata server or GOOGLE_APPLICATION_CREDENTIALS)"
                    .into()
            }
            Self::Anonymous => "anonymous credentials".into(),
            Self::ServiceAccountKey { json, source } => match service_account_email(json) {
                Ok(email) => format!("service account {email} ({source})"),
                Err(_) => format!("the service account key in {source}"),
            },
        }
    }

    fn build(&self) -> Result<Credentials, CloudDnsError> {
        match self {
            Self::Anonymous => {
                Ok(google_cloud_auth::credentials::anonymous::Builder::new().build())
            }
            Self::Ambient => google_cloud_auth::credentials::Builder::default()
                .build()
                .map_err(|e| {
                    CloudDnsError::Setup(format!("loading the ambient Google credentials: {e}"))
                }),
            Self::ServiceAccountKey { json, source } => {
                let bad = |reason: String| CloudDnsError::BadKey {
                    source_desc: source.clone(),
                    reason,
                };
                service_account_email(json).map_err(bad)?;
                let v: serde_json::Value =
                    serde_json::from_str(json).map_err(|_| bad("it is not JSON".into()))?;
                google_cloud_auth::credentials::service_account::Builder::new(v)
                    .build()
                    .map_err(|_| {
                        bad(
                            "the key could not be loaded (is private_key a PEM PKCS#8 RSA key?)"
                                .into(),
                        )
                    })
            }
        }
    }
}

/// How a [`CloudDnsProvider`] is set up.
#[derive(Clone, Debug)]
pub struct CloudDnsOptions {
    /// The Google Cloud project of the managed zones.
    pub project: String,
    /// The managed zone's name; discovered by DNS name when absent.
    pub hosted_zone_name: Option<String>,
    pub credentials: GcpCredentials,
    /// Another API root, e.g. an emulator's `http://127.0.0.1:PORT`.
    pub endpoint: Option<String>,
    /// How long edits to one zone are gathered into one change. Default 200 ms.
    pub batch_window: Duration,
    /// Retries of throttled and failed calls.
    pub backoff: Backoff,
    /// The first wait between polls of a pending change; it doubles up to 5 s.
    pub poll_interval: Duration,
    /// How long a change may stay pending. Default 5 minutes.
    pub change_timeout: Duration,
}

impl Default for CloudDnsOptions {
    fn default() -> Self {
        Self {
            project: String::new(),
            hosted_zone_name: None,
            credentials: GcpCredentials::Ambient,
            endpoint: None,
            batch_window: Duration::from_millis(200),
            backoff: Backoff::default(),
            poll_interval: Duration::from_millis(500),
            change_timeout: Duration::from_secs(300),
        }
    }
}

/// Cloud DNS as a [`Provider`] (the generic zone-editing provider over Cloud DNS's
/// API). Cheap to clone; clones share the batcher, the zone cache and the call
/// counters.
#[derive(Clone)]
pub struct CloudDnsProvider {
    inner: ApiProvider<Api>,
}

impl fmt::Debug for CloudDnsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api = self.inner.api();
        f.debug_struct("CloudDnsProvider")
            .field("project", &api.project)
            .field("hosted_zone_name", &self.inner.fixed_zone())
            .field("credentials", &api.creds)
            .finish()
    }
}

struct Api {
    zones: ManagedZones,
    rrsets: ResourceRecordSets,
    changes: Changes,
    project: String,
    creds: String,
    calls: ApiCalls,
    backoff: Backoff,
    poll_interval: Duration,
    change_timeout: Duration,
}

macro_rules! client {
    ($ty:ty, $opts:expr, $creds:expr) => {{
        let mut b = <$ty>::builder()
            .with_credentials($creds.clone())
            .with_retry_policy(NeverRetry);
        if let Some(url) = &$opts.endpoint {
            b = b.with_endpoint(url.trim_end_matches('/'));
        }
        b.build()
            .await
            .map_err(|e| CloudDnsError::Setup(e.to_string()))?
    }};
}

impl CloudDnsProvider {
    pub async fn new(opts: CloudDnsOptions) -> Result<Self, CloudDnsError> {
        if opts.project.trim().is_empty() {
            return Err(CloudDnsError::Setup(format!(
                "{FIELD}.project is empty: set the Google Cloud project of the managed zone"
            )));
        }
        let creds = opts.credentials.build()?;
        let api = Api {
            zones: client!(ManagedZones, opts, creds),
            rrsets: client!(ResourceRecordSets, opts, creds),
            changes: client!(Changes, opts, creds),
            project: opts.project.trim().to_string(),
            creds: opts.credentials.describe(),
            calls: ApiCalls::default(),
            backoff: opts.backoff,
            poll_interval: opts.poll_interval,
            change_timeout: opts.change_timeout,
        };
        let hosted_zone_name = opts.hosted_zone_name.filter(|z| !z.trim().is_empty());
        Ok(Self {
            inner: ApiProvider::new(api, opts.batch_window, hosted_zone_name),
        })
    }

    /// The calls made so far.
    pub fn api_calls(&self) -> ApiCallCounts {
        self.inner.api().calls.snapshot()
    }

    /// The managed zone name for `fqdn`, whose authoritative zone is `zone`.
    pub async fn zone_name(&self, zone: &str, fqdn: &str) -> Result<String, CloudDnsError> {
        self.inner.zone(zone, fqdn).await
    }
}

impl Provider for CloudDnsProvider {
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
    const ZONE_KIND: &'static str = "Cloud DNS managed zone";

    fn find_zone<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, CloudDnsError>> {
        Box::pin(Api::find_zone(self, name))
    }

    fn zone_not_found(&self, fqdn: &str, tried: String) -> CloudDnsError {
        CloudDnsError::ZoneNotFound {
            fqdn: fqdn.to_string(),
            tried,
            project: self.project.clone(),
            creds: self.creds.clone(),
        }
    }

    fn provider_error(e: Arc<CloudDnsError>) -> ProviderError {
        provider_error(e)
    }
}

fn rrset(name: &str, set: &TxtSet) -> ResourceRecordSet {
    ResourceRecordSet::new()
        .set_name(name)
        .set_type("TXT")
        .set_ttl(i32::try_from(set.ttl).unwrap_or(i32::MAX))
        .set_rrdatas(set.rdatas.clone())
}

fn txt_set(s: &ResourceRecordSet) -> TxtSet {
    TxtSet {
        ttl: s.ttl.and_then(|t| u32::try_from(t).ok()).unwrap_or(TXT_TTL),
        rdatas: s.rrdatas.clone(),
    }
}

/// The Cloud DNS change of `changes`: each set as read is deleted and the set as it
/// must become is added, in one atomic change.
pub fn change_body(changes: &[NameChange]) -> Change {
    let mut additions = Vec::new();
    let mut deletions = Vec::new();
    for c in changes {
        if let Some(before) = &c.before {
            deletions.push(rrset(&c.name, before));
        }
        if let Some(after) = &c.after {
            additions.push(rrset(&c.name, after));
        }
    }
    Change::new()
        .set_additions(additions)
        .set_deletions(deletions)
}

impl Api {
    fn classify(
        &self,
        action: &'static str,
        zone: Option<&str>,
        attempts: u32,
        e: google_cloud_dns_v1::Error,
    ) -> CloudDnsError {
        let status = e.http_status_code();
        let message = message_of(&e);
        match status {
            Some(s @ (401 | 403)) => CloudDnsError::Denied {
                action,
                project: self.project.clone(),
                creds: self.creds.clone(),
                status: s,
                message,
            },
            Some(404) if action != "changes.create" && zone.is_some() => {
                CloudDnsError::NoSuchZone {
                    zone: zone.unwrap_or_default().to_string(),
                    project: self.project.clone(),
                    message,
                }
            }
            Some(s) => CloudDnsError::Api {
                action,
                what: if is_retryable_status(s) {
                    format!("HTTP {s}, {attempts} attempts")
                } else {
                    format!("HTTP {s}")
                },
                message,
                status,
                transient: is_retryable_status(s),
            },
            None if e.is_authentication() => CloudDnsError::Api {
                action,
                what: format!("no access token from {}", self.creds),
                message,
                status,
                transient: true,
            },
            None => CloudDnsError::Api {
                action,
                what: format!("not answered, {attempts} attempts"),
                transient: retryable(&e),
                message,
                status,
            },
        }
    }

    /// The managed zone with DNS name exactly `dns_name`: a public one if there is
    /// one, else a private one.
    async fn find_zone(&self, dns_name: &str) -> Result<Option<String>, CloudDnsError> {
        let mut public = None;
        let mut private = None;
        let mut page: Option<String> = None;
        loop {
            let (r, attempts) = retry(&self.backoff, retryable, || {
                self.calls
                    .managed_zones_list
                    .fetch_add(1, Ordering::Relaxed);
                let mut req = self
                    .zones
                    .list()
                    .set_project(&self.project)
                    .set_dns_name(dns_name);
                if let Some(t) = &page {
                    req = req.set_page_token(t.clone());
                }
                req.send()
            })
            .await;
            let out = r.map_err(|e| self.classify("managedZones.list", None, attempts, e))?;
            for z in &out.managed_zones {
                let (Some(name), Some(dn)) = (&z.name, &z.dns_name) else {
                    continue;
                };
                if super::fqdn(dn) != dns_name {
                    continue;
                }
                if z.visibility == Some(managed_zone::Visibility::Private) {
                    private.get_or_insert(name.clone());
                } else {
                    public.get_or_insert(name.clone());
                }
            }
            match out.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if public.is_none() => page = Some(t),
                _ => break,
            }
        }
        Ok(public.or(private))
    }

    async fn read_one(&self, zone: &str, name: &str) -> Result<Option<TxtSet>, CloudDnsError> {
        let (r, attempts) = retry(&self.backoff, retryable, || {
            self.calls.rrsets_list.fetch_add(1, Ordering::Relaxed);
            self.rrsets
                .list()
                .set_project(&self.project)
                .set_managed_zone(zone)
                .set_name(name)
                .set_type("TXT")
                .send()
        })
        .await;
        let out =
            r.map_err(|e| self.classify("resourceRecordSets.list", Some(zone), attempts, e))?;
        Ok(out
            .rrsets
            .iter()
            .find(|s| {
                s.name.as_deref().map(super::fqdn).as_deref() == Some(name)
                    && s.r#type.as_deref() == Some("TXT")
            })
            .map(txt_set))
    }

    /// The TXT sets at `names` from pages of the whole zone, at most [`scan_budget`]
    /// pages; `false` when the zone was longer than that.
    async fn scan(
        &self,
        zone: &str,
        names: &[String],
    ) -> Result<(HashMap<String, TxtSet>, bool), CloudDnsError> {
        let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut found = HashMap::new();
        let mut page: Option<String> = None;
        for _ in 0..scan_budget(names.len()) {
            let (r, attempts) = retry(&self.backoff, retryable, || {
                self.calls.rrsets_list.fetch_add(1, Ordering::Relaxed);
                let mut req = self
                    .rrsets
                    .list()
                    .set_project(&self.project)
                    .set_managed_zone(zone)
                    .set_max_results(1000);
                if let Some(t) = &page {
                    req = req.set_page_token(t.clone());
                }
                req.send()
            })
            .await;
            let out =
                r.map_err(|e| self.classify("resourceRecordSets.list", Some(zone), attempts, e))?;
            for s in &out.rrsets {
                let Some(name) = s.name.as_deref().map(super::fqdn) else {
                    continue;
                };
                if s.r#type.as_deref() == Some("TXT") && wanted.contains(name.as_str()) {
                    found.insert(name, txt_set(s));
                }
            }
            match out.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => page = Some(t),
                None => return Ok((found, true)),
            }
        }
        Ok((found, false))
    }

    async fn wait_done(&self, zone: &str, id: &str) -> Result<(), CloudDnsError> {
        let start = Instant::now();
        let mut wait = self.poll_interval;
        loop {
            if start.elapsed() + wait > self.change_timeout {
                return Err(CloudDnsError::NotDone {
                    id: id.to_string(),
                    secs: self.change_timeout.as_secs(),
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
            let (r, attempts) = retry(&self.backoff, retryable, || {
                self.calls.changes_get.fetch_add(1, Ordering::Relaxed);
                self.changes
                    .get()
                    .set_project(&self.project)
                    .set_managed_zone(zone)
                    .set_change_id(id)
                    .send()
            })
            .await;
            let c = r.map_err(|e| self.classify("changes.get", Some(zone), attempts, e))?;
            if c.status != Some(change::Status::Pending) {
                return Ok(());
            }
        }
    }
}

impl Backend for Api {
    type Zone = String;
    type Error = CloudDnsError;

    fn read<'a>(
        &'a self,
        zone: &'a String,
        names: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, TxtSet>, CloudDnsError>> {
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
    ) -> BoxFuture<'a, Result<(), CloudDnsError>> {
        Box::pin(async move {
            let body = change_body(changes);
            let (r, attempts) = retry(&self.backoff, retryable, || {
                self.calls.changes_create.fetch_add(1, Ordering::Relaxed);
                self.changes
                    .create()
                    .set_project(&self.project)
                    .set_managed_zone(zone)
                    .set_body(body.clone())
                    .send()
            })
            .await;
            let c = r.map_err(|e| self.classify("changes.create", Some(zone), attempts, e))?;
            debug!(zone = %zone, changes = changes.len(), "Cloud DNS change sent");
            match (&c.status, &c.id) {
                (Some(change::Status::Pending), Some(id)) => self.wait_done(zone, id).await,
                _ => Ok(()),
            }
        })
    }

    fn is_conflict(e: &CloudDnsError) -> bool {
        matches!(e, CloudDnsError::Api { status: Some(s), .. } if is_conflict_status(*s))
    }

    fn is_transient(e: &CloudDnsError) -> bool {
        e.is_transient()
    }
}

/// Providers per solver configuration, namespace and credentials.
static PROVIDERS: LazyLock<super::credentials::ProviderCache<CloudDnsProvider>> =
    LazyLock::new(|| super::credentials::ProviderCache::new(64));

/// The provider of a `cloudDNS` solver, with its service account key read from a
/// Secret in `secret_ns` (ambient credentials without `serviceAccountSecretRef`).
/// `endpoint` replaces the public API (tests and the conformance suite: an
/// emulator, reached with anonymous credentials unless a key is given).
pub async fn from_solver(
    client: &kube::Client,
    cfg: &AcmeIssuerDns01ProviderCloudDns,
    secret_ns: &str,
    endpoint: Option<&str>,
) -> Result<CloudDnsProvider, String> {
    use super::credentials::{describe_secret_key, fingerprint, secret_value};
    let credentials = match &cfg.service_account_secret_ref {
        Some(r) => GcpCredentials::ServiceAccountKey {
            json: secret_value(
                client,
                secret_ns,
                r,
                &format!("{FIELD}.serviceAccountSecretRef"),
            )
            .await?,
            source: describe_secret_key(secret_ns, r),
        },
        None if endpoint.is_some() => GcpCredentials::Anonymous,
        None => GcpCredentials::Ambient,
    };
    let fp = match &credentials {
        GcpCredentials::ServiceAccountKey { json, .. } => fingerprint(&[json]),
        _ => 0,
    };
    let key = format!(
        "{secret_ns}|{endpoint:?}|{}|{fp}",
        serde_json::to_string(cfg).unwrap_or_default()
    );
    if let Some(p) = PROVIDERS.get(&key) {
        return Ok(p);
    }
    let p = CloudDnsProvider::new(CloudDnsOptions {
        project: cfg.project.clone(),
        hosted_zone_name: cfg.hosted_zone_name.clone(),
        credentials,
        endpoint: endpoint.map(String::from),
        ..CloudDnsOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(PROVIDERS.insert(key, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns01::zone_batch::{Edit, Op};

    fn set(ttl: u32, vals: &[&str]) -> TxtSet {
        TxtSet {
            ttl,
            rdatas: vals.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn change_deletes_what_was_read_and_adds_what_must_be() {
        let n = "_acme-challenge.example.com.";
        let body = change_body(&[NameChange {
            name: n.into(),
            before: Some(set(300, &["\"other\""])),
            after: Some(set(300, &["\"other\"", "\"mine\""])),
        }]);
        assert_eq!(body.deletions.len(), 1);
        assert_eq!(body.additions.len(), 1);
        assert_eq!(body.deletions[0].rrdatas, vec!["\"other\""]);
        assert_eq!(body.deletions[0].ttl, Some(300));
        assert_eq!(body.additions[0].rrdatas, vec!["\"other\"", "\"mine\""]);
        assert_eq!(body.additions[0].r#type.as_deref(), Some("TXT"));
        assert_eq!(body.additions[0].name.as_deref(), Some(n));
    }

    #[test]
    fn new_set_is_only_added_last_value_only_deleted() {
        let n = "_acme-challenge.example.com.";
        let body = change_body(&[
            NameChange {
                name: n.into(),
                before: None,
                after: Some(set(60, &["\"mine\""])),
            },
            NameChange {
                name: "_acme-challenge.b.example.com.".into(),
                before: Some(set(60, &["\"mine\""])),
                after: None,
            },
        ]);
        assert_eq!(body.additions.len(), 1);
        assert_eq!(body.additions[0].ttl, Some(60));
        assert_eq!(body.deletions.len(), 1);
        assert_eq!(
            body.deletions[0].name.as_deref(),
            Some("_acme-challenge.b.example.com.")
        );
    }

    #[test]
    fn planned_from_edits() {
        use super::super::zone_batch::plan;
        let n = "_acme-challenge.example.com.";
        let current = HashMap::from([(n.to_string(), set(300, &["\"other\"", "\"mine\""]))]);
        let changes = plan(
            &current,
            &[Edit {
                name: n.into(),
                op: Op::Remove,
                value: "mine".into(),
            }],
        );
        let body = change_body(&changes);
        assert_eq!(body.deletions[0].rrdatas, vec!["\"other\"", "\"mine\""]);
        assert_eq!(body.additions[0].rrdatas, vec!["\"other\""]);
    }

    #[test]
    fn statuses() {
        for s in [409, 412, 404] {
            assert!(is_conflict_status(s), "{s}");
        }
        for s in [429, 500, 503] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 412] {
            assert!(!is_retryable_status(s), "{s}");
        }
        assert!(Api::is_conflict(&CloudDnsError::Api {
            action: "changes.create",
            what: "HTTP 412".into(),
            message: String::new(),
            status: Some(412),
            transient: false,
        }));
    }

    const KEY: &str = r#"{"type": "service_account", "project_id": "p", "private_key_id": "abc",
        "private_key": "-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n",
        "client_email": "dns@p.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token"}"#;

    #[test]
    fn service_account_keys_checked_without_quoting_them() {
        assert_eq!(
            service_account_email(KEY).as_deref(),
            Ok("dns@p.iam.gserviceaccount.com")
        );
        for (bad, want) in [
            ("not json TOPSECRET", "not JSON"),
            (r#"{"type": "authorized_user", "x": "TOPSECRET"}"#, "type"),
            (
                r#"{"type": "service_account", "client_email": "a@b"}"#,
                "private_key",
            ),
        ] {
            let e = service_account_email(bad).err().unwrap_or_default();
            assert!(e.contains(want), "{e}");
            assert!(!e.contains("TOPSECRET"), "{e}");
        }
        let creds = GcpCredentials::ServiceAccountKey {
            json: KEY.into(),
            source: "Secret ns/gcp key \"key.json\"".into(),
        };
        let dbg = format!("{creds:?}");
        assert!(!dbg.contains("TOPSECRET"), "{dbg}");
        assert!(creds.describe().contains("dns@p.iam.gserviceaccount.com"));
        let opts = CloudDnsOptions {
            credentials: creds,
            ..CloudDnsOptions::default()
        };
        assert!(!format!("{opts:?}").contains("TOPSECRET"));
    }

    #[tokio::test]
    async fn a_broken_key_is_named_not_quoted() {
        let e = CloudDnsProvider::new(CloudDnsOptions {
            project: "p".into(),
            credentials: GcpCredentials::ServiceAccountKey {
                json: KEY.into(),
                source: "Secret ns/gcp key \"key.json\"".into(),
            },
            ..CloudDnsOptions::default()
        })
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        // The PEM is not a key: refused at build or first use; either way never quoted.
        assert!(!e.contains("TOPSECRET"), "{e}");
        let e = CloudDnsProvider::new(CloudDnsOptions::default())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("project"), "{e}");
    }
}
