//! The Akamai Edge DNS provider: the challenge values of a name as one TXT record
//! set through Edge DNS's zone management API (config-dns v2), from cert-manager's
//! `akamai` solver fields (`serviceConsumerDomain`, `clientTokenSecretRef`,
//! `clientSecretSecretRef`, `accessTokenSecretRef`), with EdgeGrid signed requests.
//!
//! As cert-manager does it: the Edge DNS zone is the zone the SOA walk found and the
//! record set's name is the record's fully qualified name without trailing dot
//! (`_acme-challenge.example.com`), at
//! `https://{serviceConsumerDomain}/config-dns/v2/zones/{zone}/names/{name}/types/TXT`.
//! present reads the set (`GET`; 404 when there is none) and, unless a value is
//! already there, creates it (`POST {"name", "type": "TXT", "ttl": 300, "rdata":
//! ["\"value\""]}`) or replaces it with the value added (`PUT`, the same shape with
//! every value, TTL 300); cleanup reads it and replaces it without the value (`PUT`,
//! keeping the set's TTL) or deletes it when that was the last (`DELETE`). Values are
//! compared unquoted. Edge DNS has no ETags: changes of one name through one provider
//! are made one at a time, and a create that finds the set created meanwhile (409)
//! or a replace that finds it deleted (404) reads it again.
//!
//! EdgeGrid (`EG1-HMAC-SHA256`): `Authorization: EG1-HMAC-SHA256
//! client_token=…;access_token=…;timestamp=…;nonce=…;signature=…`, with the
//! timestamp `yyyyMMddTHH:mm:ss+0000` (UTC), a fresh UUID nonce per attempt, the
//! signing key base64(HMAC-SHA256(client secret, timestamp)), the signed data
//! method, scheme, host, path with query, no headers, base64(SHA-256(POST body, at
//! most 131072 bytes)) (empty for other methods) and the header up to `signature=`,
//! joined by tabs, and the signature base64(HMAC-SHA256(signing key, data)).
//!
//! Throttling (429, waiting as long as `Retry-After` says), server errors (5xx) and
//! unanswered requests are retried with exponential backoff and jitter, each attempt
//! signed anew. The client secret, client token and access token appear in no log,
//! `Debug` output or error.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::future::BoxFuture;
use reqwest012 as reqwest;
use serde_json::{Value, json};
use tracing::debug;

use super::cloudflare::{new_client, without_url};
use super::provider::{Provider, ProviderError};
use super::zone_batch::{Backoff, rdata_text};
use crate::api::acme_dns01::AcmeIssuerDns01ProviderAkamai;

mod edgegrid;
mod errors;

pub use edgegrid::{EdgeGridCredentials, authorization, timestamp};
pub use errors::AkamaiError;
use errors::{CallError, detail};

/// The solver field, for messages.
pub const FIELD: &str = "akamai";
/// The TTL of the TXT record sets written (cert-manager's).
pub const TXT_TTL: u32 = 300;
/// The bytes of a POST body that are hashed (EdgeGrid's `max_body`, cert-manager's).
pub const MAX_BODY: usize = 131_072;
/// The authentication scheme.
pub const SCHEME: &str = "EG1-HMAC-SHA256";
/// Re-reads tolerated per change when the set changes between read and write.
const CONFLICT_RETRIES: u32 = 8;
/// The grant the API client needs, for messages.
pub const GRANT: &str = "the \"DNS—Zone Record Management\" API with READ-WRITE access";

/// A TXT record set as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RecordSet {
    ttl: Option<u64>,
    rdata: Vec<String>,
}

impl RecordSet {
    fn holds(&self, value: &str) -> bool {
        self.rdata.iter().any(|r| unquote(r) == value)
    }
}

/// A TXT rdata as a plain value (quoted character strings joined).
fn unquote(rdata: &str) -> String {
    rdata_text(rdata)
}

/// Where a value goes: the zone and the set's name, both without trailing dot.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    zone: String,
    name: String,
}

fn target(zone: &str, fqdn: &str) -> Result<Target, AkamaiError> {
    let name = super::fqdn(fqdn).trim_end_matches('.').to_string();
    let zone = super::fqdn(zone).trim_end_matches('.').to_string();
    if zone.is_empty() || !(name == zone || name.ends_with(&format!(".{zone}"))) {
        return Err(AkamaiError::NotInZone {
            fqdn: format!("{name}."),
            zone: format!("{zone}."),
        });
    }
    Ok(Target { zone, name })
}

/// The API root of a `serviceConsumerDomain` (a host, or a URL by mistake).
pub fn base_of(service_consumer_domain: &str) -> Result<reqwest::Url, AkamaiError> {
    let scd = service_consumer_domain.trim().trim_end_matches('/');
    if scd.is_empty() {
        return Err(AkamaiError::Config {
            field: format!("{FIELD}.serviceConsumerDomain"),
            why: "is required: the API client's host, e.g. akab-xxxx.luna.akamaiapis.net".into(),
        });
    }
    let url = if scd.contains("://") {
        scd.to_string()
    } else {
        format!("https://{scd}/")
    };
    normalise_base(&url)
}

fn normalise_base(base: &str) -> Result<reqwest::Url, AkamaiError> {
    let invalid = |reason: &str| AkamaiError::InvalidBaseUrl {
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

/// Writes challenge records through Edge DNS's config-dns v2 API.
#[derive(Clone)]
pub struct AkamaiProvider {
    http: reqwest::Client,
    base: reqwest::Url,
    creds: Arc<EdgeGridCredentials>,
    backoff: Backoff,
    /// One lock per record set name: Edge DNS has no ETags.
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl fmt::Debug for AkamaiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AkamaiProvider")
            .field("base", &self.base.as_str())
            .field("credentials", &self.creds)
            .finish_non_exhaustive()
    }
}

impl AkamaiProvider {
    /// A provider for the API at `base` (`https://{serviceConsumerDomain}/`, see
    /// [`base_of`]; tests give an emulator's) with `creds`.
    pub fn new(creds: EdgeGridCredentials, base: &str) -> Result<Self, AkamaiError> {
        let base = normalise_base(base)?;
        let mut creds = creds;
        for (value, what) in [
            (&mut creds.client_token, "client token"),
            (&mut creds.access_token, "access token"),
            (&mut creds.client_secret, "client secret"),
        ] {
            *value = value.trim().to_string();
            if value.is_empty() {
                return Err(AkamaiError::Config {
                    field: format!("the {what} ({})", creds.source),
                    why: "is empty".into(),
                });
            }
            if what != "client secret"
                && !value
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b';')
            {
                return Err(AkamaiError::Config {
                    field: format!("the {what} ({})", creds.source),
                    why: "contains characters an EdgeGrid header cannot carry: check that the Secret holds the value itself".into(),
                });
            }
        }
        let http = new_client().map_err(|reason| AkamaiError::Unreachable {
            base: base.to_string(),
            action: "setting up the HTTP client".into(),
            attempts: 0,
            reason,
        })?;
        Ok(Self {
            http,
            base,
            creds: Arc::new(creds),
            backoff: Backoff::default(),
            locks: Arc::default(),
        })
    }

    /// The same provider retrying as `backoff` says.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The API root requests go to.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// `{base}config-dns/v2/zones/{zone}/names/{name}/types/TXT`.
    fn url(&self, t: &Target) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend([
                "config-dns",
                "v2",
                "zones",
                &t.zone,
                "names",
                &t.name,
                "types",
                "TXT",
            ]);
        }
        url
    }

    fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(name.to_string()).or_default().clone()
    }

    /// One signed request; the body of a successful answer.
    async fn send(
        &self,
        method: &reqwest::Method,
        url: &reqwest::Url,
        body: &[u8],
    ) -> Result<bytes::Bytes, CallError> {
        let ts = timestamp(jiff::Timestamp::now());
        let nonce = uuid::Uuid::new_v4().to_string();
        let auth = authorization(&self.creds, method.as_str(), url, body, &ts, &nonce);
        let mut auth = reqwest::header::HeaderValue::from_str(&auth).map_err(|_| {
            CallError::Transport("the credentials cannot be sent as a header".into())
        })?;
        auth.set_sensitive(true);
        debug!(method = %method, path = %url.path(), "Akamai Edge DNS request");
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json");
        if !body.is_empty() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(without_url(&e)))?;
        let status = response.status();
        let wait = super::zone_batch::retry_after(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Transport(without_url(&e)))?;
        if status.is_success() {
            return Ok(bytes);
        }
        let problem: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |k: &str| problem[k].as_str().unwrap_or_default().trim().to_string();
        Err(CallError::Status {
            status: status.as_u16(),
            title: text("title"),
            detail: text("detail"),
            wait,
        })
    }

    /// Sends a request, retrying throttled, failed and unanswered ones. Returns the
    /// last result and the number of attempts made.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &reqwest::Url,
        body: Option<&Value>,
    ) -> (Result<bytes::Bytes, CallError>, u32) {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut n = 0;
        loop {
            let r = self.send(&method, url, &body).await;
            n += 1;
            match r {
                Err(e) if e.retryable() && n < self.backoff.attempts.max(1) => {
                    let hint = match &e {
                        CallError::Status { wait, .. } => *wait,
                        CallError::Transport(_) => None,
                    };
                    let Some(wait) = self.backoff.wait_after(n - 1, hint) else {
                        return (Err(e), n);
                    };
                    debug!(
                        attempt = n,
                        wait_ms = wait.as_millis() as u64,
                        "Akamai request retried"
                    );
                    tokio::time::sleep(wait).await;
                }
                r => return (r, n),
            }
        }
    }

    /// What a failed request means, in words.
    fn explain(&self, e: CallError, action: &str, t: &Target, attempts: u32) -> AkamaiError {
        let (status, title, message, wait) = match e {
            CallError::Transport(reason) => {
                return AkamaiError::Unreachable {
                    base: self.base.to_string(),
                    action: action.into(),
                    attempts,
                    reason,
                };
            }
            CallError::Status {
                status,
                title,
                detail,
                wait,
            } => (status, title, detail, wait),
        };
        let d = detail(&title, &message);
        let source_ = self.creds.source.clone();
        match status {
            400 if message.to_ascii_lowercase().contains("timestamp") => AkamaiError::ClockSkew {
                detail: d,
                action: action.into(),
            },
            401 => AkamaiError::Unauthorized {
                source_,
                detail: d,
                action: action.into(),
            },
            403 => AkamaiError::Forbidden {
                source_,
                detail: d,
                action: action.into(),
            },
            404 => AkamaiError::NoZone {
                zone: t.zone.clone(),
                source_,
                detail: d,
                action: action.into(),
            },
            429 => AkamaiError::RateLimited {
                action: action.into(),
                attempts,
                detail: d,
                wait: wait
                    .map(|w| format!("; asked to wait {} s", w.as_secs()))
                    .unwrap_or_default(),
            },
            s if s >= 500 => AkamaiError::ServerError {
                action: action.into(),
                status: s,
                detail: d,
                attempts,
            },
            s => AkamaiError::Rejected {
                action: action.into(),
                status: s,
                detail: d,
            },
        }
    }

    /// The record set, or `None` when there is none.
    async fn read(&self, t: &Target) -> Result<Option<RecordSet>, AkamaiError> {
        let action = format!("reading the TXT record set {} of zone {}", t.name, t.zone);
        let (r, attempts) = self.call(reqwest::Method::GET, &self.url(t), None).await;
        match r {
            Ok(body) => {
                let v: Value =
                    serde_json::from_slice(&body).map_err(|e| AkamaiError::InvalidResponse {
                        base: self.base.to_string(),
                        action: action.clone(),
                        reason: e.to_string(),
                    })?;
                Ok(Some(RecordSet {
                    ttl: v["ttl"].as_u64(),
                    rdata: v["rdata"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                }))
            }
            Err(CallError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(self.explain(e, &action, t, attempts)),
        }
    }

    fn body(t: &Target, ttl: u64, rdata: &[String]) -> Value {
        json!({"name": t.name, "type": "TXT", "ttl": ttl, "rdata": rdata})
    }

    /// Adds `value` to the TXT set of `fqdn`, keeping the values there.
    pub async fn add(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), AkamaiError> {
        let t = target(zone, fqdn)?;
        let action = format!(
            "adding a value to the TXT record set {} of zone {}",
            t.name, t.zone
        );
        let lock = self.lock_for(&t.name);
        let _held = lock.lock().await;
        let url = self.url(&t);
        for _ in 0..CONFLICT_RETRIES {
            let current = self.read(&t).await?;
            if current.as_ref().is_some_and(|s| s.holds(value)) {
                debug!(zone = %t.zone, name = %t.name, "Akamai TXT value already present");
                return Ok(());
            }
            let quoted = format!("\"{value}\"");
            let (method, body) = match &current {
                None => (
                    reqwest::Method::POST,
                    Self::body(&t, TXT_TTL.into(), &[quoted]),
                ),
                Some(set) => {
                    let mut rdata = set.rdata.clone();
                    rdata.push(quoted);
                    (reqwest::Method::PUT, Self::body(&t, TXT_TTL.into(), &rdata))
                }
            };
            debug!(zone = %t.zone, name = %t.name, method = %method, "writing Akamai TXT record set");
            let creating = method == reqwest::Method::POST;
            let (r, attempts) = self.call(method, &url, Some(&body)).await;
            match r {
                Ok(_) => return Ok(()),
                // Created meanwhile (or by an attempt whose answer was lost).
                Err(CallError::Status { status: 409, .. }) if creating => continue,
                // Deleted meanwhile: create it.
                Err(CallError::Status { status: 404, .. }) if !creating => continue,
                Err(e) => return Err(self.explain(e, &action, &t, attempts)),
            }
        }
        Err(AkamaiError::Conflict {
            action,
            attempts: CONFLICT_RETRIES,
        })
    }

    /// Removes `value` from the TXT set of `fqdn`, deleting the set when it was the
    /// last; succeeds when it is not there.
    pub async fn remove(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), AkamaiError> {
        let t = target(zone, fqdn)?;
        let action = format!(
            "removing a value from the TXT record set {} of zone {}",
            t.name, t.zone
        );
        let lock = self.lock_for(&t.name);
        let _held = lock.lock().await;
        let url = self.url(&t);
        for _ in 0..CONFLICT_RETRIES {
            let Some(set) = self.read(&t).await? else {
                return Ok(());
            };
            if !set.holds(value) {
                return Ok(());
            }
            let rdata: Vec<String> = set
                .rdata
                .iter()
                .filter(|r| unquote(r) != value)
                .cloned()
                .collect();
            let (r, attempts) = if rdata.is_empty() {
                debug!(zone = %t.zone, name = %t.name, "deleting Akamai TXT record set");
                self.call(reqwest::Method::DELETE, &url, None).await
            } else {
                debug!(zone = %t.zone, name = %t.name, "writing Akamai TXT record set");
                let body = Self::body(&t, set.ttl.unwrap_or(TXT_TTL.into()), &rdata);
                self.call(reqwest::Method::PUT, &url, Some(&body)).await
            };
            match r {
                Ok(_) => return Ok(()),
                // Gone meanwhile: read again (nothing left to do, most likely).
                Err(CallError::Status { status: 404, .. }) => continue,
                Err(e) => return Err(self.explain(e, &action, &t, attempts)),
            }
        }
        Err(AkamaiError::Conflict {
            action,
            attempts: CONFLICT_RETRIES,
        })
    }
}

impl Provider for AkamaiProvider {
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

/// Providers per solver configuration, namespace and credentials (so every challenge
/// of a name goes through one lock).
static PROVIDERS: std::sync::LazyLock<super::credentials::ProviderCache<AkamaiProvider>> =
    std::sync::LazyLock::new(|| super::credentials::ProviderCache::new(64));

/// The provider of an `akamai` solver, with its three credentials read from the
/// Secret keys its `…SecretRef` fields name in `secret_ns` (surrounding whitespace
/// removed). `endpoint` replaces `https://{serviceConsumerDomain}/` (tests and the
/// conformance suite: an emulator).
pub async fn from_solver(
    client: &kube::Client,
    cfg: &AcmeIssuerDns01ProviderAkamai,
    secret_ns: &str,
    endpoint: Option<&str>,
) -> Result<AkamaiProvider, String> {
    use super::credentials::{describe_secret_key, fingerprint, secret_value};
    let base = base_of(&cfg.service_consumer_domain).map_err(|e| e.to_string())?;
    let client_token = secret_value(
        client,
        secret_ns,
        &cfg.client_token_secret_ref,
        &format!("{FIELD}.clientTokenSecretRef"),
    )
    .await?;
    let client_secret = secret_value(
        client,
        secret_ns,
        &cfg.client_secret_secret_ref,
        &format!("{FIELD}.clientSecretSecretRef"),
    )
    .await?;
    let access_token = secret_value(
        client,
        secret_ns,
        &cfg.access_token_secret_ref,
        &format!("{FIELD}.accessTokenSecretRef"),
    )
    .await?;
    let source = format!(
        "client token from {}, client secret from {}, access token from {}",
        describe_secret_key(secret_ns, &cfg.client_token_secret_ref),
        describe_secret_key(secret_ns, &cfg.client_secret_secret_ref),
        describe_secret_key(secret_ns, &cfg.access_token_secret_ref),
    );
    let key = format!(
        "{secret_ns}|{endpoint:?}|{}|{}",
        serde_json::to_string(cfg).unwrap_or_default(),
        fingerprint(&[&client_token, &client_secret, &access_token])
    );
    if let Some(p) = PROVIDERS.get(&key) {
        return Ok(p);
    }
    let creds = EdgeGridCredentials {
        client_token,
        client_secret,
        access_token,
        source,
    };
    let base = endpoint
        .map(String::from)
        .unwrap_or_else(|| base.to_string());
    let p = AkamaiProvider::new(creds, &base).map_err(|e| e.to_string())?;
    Ok(PROVIDERS.insert(key, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use certgate_emulators::akamai::{self as emu, Access, AkamaiEmulator, Failure};

    const SOURCE: &str = "client token from Secret cert-manager/akamai key \"client-token\", client secret from Secret cert-manager/akamai key \"client-secret\", access token from Secret cert-manager/akamai key \"access-token\"";
    const ZONE: &str = "example.com.";
    const NAME: &str = "_acme-challenge.example.com.";
    const SET: &str = "_acme-challenge.example.com";
    const URI: &str =
        "/config-dns/v2/zones/example.com/names/_acme-challenge.example.com/types/TXT";

    fn fast() -> Backoff {
        Backoff {
            base: Duration::from_millis(5),
            max: Duration::from_millis(50),
            attempts: 4,
        }
    }

    fn creds(client_token: &str, client_secret: &str, access_token: &str) -> EdgeGridCredentials {
        EdgeGridCredentials {
            client_token: client_token.into(),
            client_secret: client_secret.into(),
            access_token: access_token.into(),
            source: SOURCE.into(),
        }
    }

    fn provider(e: &AkamaiEmulator) -> AkamaiProvider {
        AkamaiProvider::new(
            creds(emu::CLIENT_TOKEN, emu::CLIENT_SECRET, emu::ACCESS_TOKEN),
            &e.api_url(),
        )
        .unwrap()
        .with_backoff(fast())
    }

    fn value(n: u8) -> String {
        super::super::txt_value(&format!("akamai-{n}"))
    }

    fn quoted(v: &str) -> String {
        format!("\"{v}\"")
    }

    #[test]
    fn signatures_match_akamais_test_vectors() {
        // The vectors of Akamai's EdgeGrid client libraries' shared test suite.
        let c = creds(
            "akab-client-token-xxx-xxxxxxxxxxxxxxxx",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=",
            "akab-access-token-xxx-xxxxxxxxxxxxxxxx",
        );
        let base = "https://akaa-baseurl-xxxxxxxxxxx-xxxxxxxxxxxxx.luna.akamaiapis.net";
        let ts = "20140321T19:34:21+0000";
        let nonce = "nonce-xx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
        for (method, path, body, signature) in [
            (
                "GET",
                "/",
                "",
                "tL+y4hxyHxgWVD30X3pWnGKHcPzmrIF+LThiAOhMxYU=",
            ),
            (
                "GET",
                "/testapi/v1/t1?p1=1&p2=2",
                "",
                "hKDH1UlnQySSHjvIcZpDMbQHihTQ0XyVAKZaApabdeA=",
            ),
            (
                "POST",
                "/testapi/v1/t3",
                "datadatadatadatadatadatadatadata",
                "hXm4iCxtpN22m4cbZb4lVLW5rhX8Ca82vCFqXzSTPe4=",
            ),
            (
                "POST",
                "/testapi/v1/t6",
                "",
                "1gEDxeQGD5GovIkJJGcBaKnZ+VaPtrc4qBUHixjsPCQ=",
            ),
            (
                "PUT",
                "/testapi/v1/t6",
                "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP",
                "GNBWEYSEWOLtu+7dD52da2C39aX/Jchpon3K/AmBqBU=",
            ),
        ] {
            let url = reqwest::Url::parse(&format!("{base}{path}")).unwrap();
            let header = authorization(&c, method, &url, body.as_bytes(), ts, nonce);
            assert_eq!(
                header,
                format!(
                    "EG1-HMAC-SHA256 client_token=akab-client-token-xxx-xxxxxxxxxxxxxxxx;access_token=akab-access-token-xxx-xxxxxxxxxxxxxxxx;timestamp={ts};nonce={nonce};signature={signature}"
                ),
                "{method} {path}"
            );
        }
        let t = jiff::Timestamp::from_second(1_395_430_461).unwrap();
        assert_eq!(timestamp(t), ts);
    }

    #[test]
    fn hosts_and_names() {
        assert_eq!(
            base_of("akab-abc.luna.akamaiapis.net").unwrap().as_str(),
            "https://akab-abc.luna.akamaiapis.net/"
        );
        assert_eq!(
            base_of("https://akab-abc.luna.akamaiapis.net/")
                .unwrap()
                .as_str(),
            "https://akab-abc.luna.akamaiapis.net/"
        );
        assert!(
            base_of(" ")
                .unwrap_err()
                .to_string()
                .contains("serviceConsumerDomain")
        );
        let t = target(ZONE, "_acme-challenge.WWW.example.com").unwrap();
        assert_eq!(
            (t.zone.as_str(), t.name.as_str()),
            ("example.com", "_acme-challenge.www.example.com")
        );
        assert!(target(ZONE, "_acme-challenge.example.net.").is_err());
        let p = AkamaiProvider::new(
            creds("ct", "cs", "at"),
            "https://akab-abc.luna.akamaiapis.net",
        )
        .unwrap();
        assert_eq!(
            p.url(&t).as_str(),
            "https://akab-abc.luna.akamaiapis.net/config-dns/v2/zones/example.com/names/_acme-challenge.www.example.com/types/TXT"
        );
    }

    #[test]
    fn the_credentials_never_show() {
        let (ct, cs, at) = ("akab-ct-s3cr3t", "cs-s3cr3t-value", "akab-at-s3cr3t");
        let p = AkamaiProvider::new(creds(ct, cs, at), "https://akab-abc.luna.akamaiapis.net/")
            .unwrap();
        let debug = format!("{p:?}");
        for s in [ct, cs, at] {
            assert!(!debug.contains(s), "{debug}");
        }
        assert!(debug.contains("cert-manager/akamai"), "{debug}");
        let e = AkamaiProvider::new(creds("with space", cs, at), "https://x/").unwrap_err();
        assert!(
            !e.to_string().contains("with space") && e.to_string().contains(SOURCE),
            "{e}"
        );
        assert!(AkamaiProvider::new(creds(ct, " \n", at), "https://x/").is_err());
    }

    #[tokio::test]
    async fn requests_as_cert_manager_makes_them() {
        let e = AkamaiEmulator::start(&["example.com"]).await.unwrap();
        let p = provider(&e);
        let (a, b) = (value(1), value(2));
        p.present(ZONE, NAME, &a).await.unwrap();
        let log = e.request_log();
        assert_eq!(log.len(), 2, "{log:#?}");
        assert_eq!((log[0].method.as_str(), log[0].uri.as_str()), ("GET", URI));
        assert_eq!((log[1].method.as_str(), log[1].uri.as_str()), ("POST", URI));
        assert_eq!(
            log[1].body,
            Some(json!({"name": SET, "type": "TXT", "ttl": 300, "rdata": [quoted(&a)]}))
        );
        assert_eq!(e.txt_rdata(SET), vec![quoted(&a)]);
        assert_eq!(e.zone_data().txt_values(NAME), vec![a.clone()]);

        p.present(ZONE, NAME, &b).await.unwrap();
        let log = e.request_log();
        assert_eq!(log[3].method, "PUT");
        assert_eq!(
            log[3].body,
            Some(
                json!({"name": SET, "type": "TXT", "ttl": 300, "rdata": [quoted(&a), quoted(&b)]})
            )
        );
        // Presenting again: one read.
        p.present(ZONE, NAME, &a).await.unwrap();
        assert_eq!(e.request_log().len(), 5);
        assert_eq!(e.writes(), 2);

        p.cleanup(ZONE, NAME, &a).await.unwrap();
        assert_eq!(e.txt_rdata(SET), vec![quoted(&b)]);
        p.cleanup(ZONE, NAME, &b).await.unwrap();
        let log = e.request_log();
        assert_eq!(log.last().unwrap().method, "DELETE");
        assert!(e.txt_rdata(SET).is_empty());
        assert!(e.zone_data().txt_values(NAME).is_empty());
        p.cleanup(ZONE, NAME, &b).await.unwrap();
        // Every request signed, each with its own nonce.
        let log = e.request_log();
        assert!(log.iter().all(|r| r.signed), "{log:#?}");
        let mut nonces: Vec<&str> = log.iter().map(|r| r.nonce.as_str()).collect();
        nonces.sort();
        nonces.dedup();
        assert_eq!(nonces.len(), log.len());
    }

    #[tokio::test]
    async fn other_values_and_ttl_are_kept() {
        let e = AkamaiEmulator::start(&["example.com"]).await.unwrap();
        e.add_txt(SET, "someone-else");
        let p = provider(&e);
        p.present(ZONE, NAME, &value(1)).await.unwrap();
        assert_eq!(
            e.txt_rdata(SET),
            vec![quoted("someone-else"), quoted(&value(1))]
        );
        p.cleanup(ZONE, NAME, &value(1)).await.unwrap();
        assert_eq!(e.txt_rdata(SET), vec![quoted("someone-else")]);
        assert_eq!(e.txt_ttl(SET), Some(300));
        p.cleanup(ZONE, NAME, "absent").await.unwrap();
        assert_eq!(e.txt_rdata(SET).len(), 1);
    }

    #[tokio::test]
    async fn concurrent_changes_of_one_name_are_serialised() {
        let e = AkamaiEmulator::start(&["example.com"]).await.unwrap();
        let p = provider(&e);
        let values: Vec<String> = (10..18).map(value).collect();
        futures::future::join_all(values.iter().map(|v| p.present(ZONE, NAME, v)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let mut held: Vec<String> = e.txt_rdata(SET).iter().map(|r| unquote(r)).collect();
        held.sort();
        let mut want = values.clone();
        want.sort();
        assert_eq!(held, want);
        futures::future::join_all(values.iter().map(|v| p.cleanup(ZONE, NAME, v)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert!(e.txt_rdata(SET).is_empty());
    }

    #[tokio::test]
    async fn refusals_name_the_secret_and_say_what_to_fix() {
        let e = AkamaiEmulator::start(&["example.com", "other.test"])
            .await
            .unwrap();
        let wrong = "Wr0ngClientSecret/abcdefghijklmnopqrstuv+=";
        let err = AkamaiProvider::new(
            creds(emu::CLIENT_TOKEN, wrong, emu::ACCESS_TOKEN),
            &e.api_url(),
        )
        .unwrap()
        .present(ZONE, NAME, &value(1))
        .await
        .unwrap_err();
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains(SOURCE)
                && msg.contains("HTTP 401")
                && msg.contains("signature does not match")
                && !msg.contains(wrong)
                && !msg.contains(emu::CLIENT_SECRET)
                && !msg.contains(emu::CLIENT_TOKEN)
                && !msg.contains(emu::ACCESS_TOKEN),
            "{msg}"
        );
        assert_eq!(e.refused(), 1);
        let err = AkamaiProvider::new(
            creds(
                emu::CLIENT_TOKEN,
                emu::CLIENT_SECRET,
                "akab-wrong-access-token",
            ),
            &e.api_url(),
        )
        .unwrap()
        .present(ZONE, NAME, &value(1))
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("Invalid authorization access token"),
            "{err}"
        );

        // A clock far from Akamai's.
        e.set_clock_offset(600);
        let err = provider(&e)
            .present(ZONE, NAME, &value(1))
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        assert!(
            err.to_string().contains("NTP") && err.to_string().contains("HTTP 400"),
            "{err}"
        );
        e.set_clock_offset(0);

        e.add_client(
            "akab-readonly",
            "ro-secret",
            "akab-ro-access",
            Access::ReadOnly,
        );
        let err = AkamaiProvider::new(
            creds("akab-readonly", "ro-secret", "akab-ro-access"),
            &e.api_url(),
        )
        .unwrap()
        .present(ZONE, NAME, &value(1))
        .await
        .unwrap_err();
        assert!(!err.is_transient());
        assert!(
            err.to_string().contains("HTTP 403") && err.to_string().contains("READ-WRITE"),
            "{err}"
        );

        e.add_client(
            "akab-other",
            "other-secret",
            "akab-other-access",
            Access::Zones(vec!["other.test".into()]),
        );
        let err = AkamaiProvider::new(
            creds("akab-other", "other-secret", "akab-other-access"),
            &e.api_url(),
        )
        .unwrap()
        .present(ZONE, NAME, &value(1))
        .await
        .unwrap_err();
        assert!(err.to_string().contains("HTTP 403"), "{err}");

        let err = provider(&e)
            .present("example.net.", "_acme-challenge.example.net.", &value(1))
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        assert!(err.to_string().contains("no zone \"example.net\""), "{err}");
        assert_eq!(e.writes(), 0);
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retried() {
        let e = AkamaiEmulator::start(&["example.com"]).await.unwrap();
        let p = provider(&e);
        e.inject([
            Failure::Throttled {
                retry_after: Some(0),
            },
            Failure::Status(503),
        ]);
        p.present(ZONE, NAME, &value(1)).await.unwrap();
        assert_eq!(e.requests(), 4, "two failed reads, a read, a create");
        assert!(
            e.request_log().iter().all(|r| r.signed),
            "retries are signed anew"
        );

        // A create answered 502 after it was made: the retry finds it (409), reads
        // again and finds the value.
        let f = AkamaiEmulator::start(&["example.com"]).await.unwrap();
        let q = provider(&f);
        f.inject([Failure::Pass, Failure::Lost(502)]);
        q.present(ZONE, NAME, &value(2)).await.unwrap();
        assert_eq!(f.txt_rdata(SET), vec![quoted(&value(2))]);

        e.inject(std::iter::repeat_n(Failure::Status(500), 4));
        let err = p.present(ZONE, NAME, &value(3)).await.unwrap_err();
        assert!(err.is_transient());
        assert!(
            err.to_string().contains("HTTP 500") && err.to_string().contains("4 attempt(s)"),
            "{err}"
        );
        let before = e.requests();
        e.inject([Failure::Throttled {
            retry_after: Some(3600),
        }]);
        let err = p.cleanup(ZONE, NAME, &value(1)).await.unwrap_err();
        assert!(
            err.is_transient() && err.to_string().contains("HTTP 429"),
            "{err}"
        );
        assert_eq!(e.requests(), before + 1);
    }

    #[tokio::test]
    async fn unreachable_is_transient() {
        let p = AkamaiProvider::new(creds("ct", "cs", "at"), "http://127.0.0.1:1/")
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
