//! The DigitalOcean provider: one TXT record per challenge value through
//! DigitalOcean's API v2 (domain records), from cert-manager's `digitalocean` solver
//! field (`tokenSecretRef`).
//!
//! As cert-manager does it: the DigitalOcean domain is the zone the SOA walk found;
//! present lists the record name's TXT records (`GET /v2/domains/{domain}/records`
//! with `type=TXT`, `name` = the record's fully qualified name without trailing dot,
//! `per_page=200`, every page while `links.pages.next` is there) and creates one
//! holding the value unless one already does (`POST /v2/domains/{domain}/records`
//! `{"type": "TXT", "name": "_acme-challenge.example.com.", "data": value, "ttl":
//! 60}`: the absolute name with its trailing dot, as cert-manager sends it); cleanup
//! deletes the records holding exactly that value (`DELETE
//! /v2/domains/{domain}/records/{id}`). Other values on the name are never touched.
//!
//! Authentication is `Authorization: Bearer <token>`. Throttling (429: waiting as long
//! as `Retry-After` or `ratelimit-reset` say, or giving up at once when that is
//! beyond the backoff's longest wait), server errors (5xx) and unanswered requests
//! are retried with exponential backoff and jitter. A create is only retried after
//! listing again, so a create that succeeded unseen is not made twice; a delete of a
//! record already gone (404) counts as done. Pages are requested from the configured
//! API root by number: the token never goes to a host named in an answer's `links`.
//! The token appears in no log, `Debug` output or error.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use reqwest012 as reqwest;
use serde::Deserialize;
use serde_json::json;
use tracing::debug;

use super::cloudflare::{new_client, without_url};
use super::provider::{Provider, ProviderError};
use super::zone_batch::{Backoff, rdata_text};
use crate::api::acme_dns01::AcmeIssuerDns01ProviderDigitalOcean;

/// The solver field naming the token's Secret, for messages.
pub const TOKEN_FIELD: &str = "digitalocean.tokenSecretRef";
/// DigitalOcean's public API.
pub const PRODUCTION_URL: &str = "https://api.digitalocean.com/";
/// The TTL of the TXT records written (cert-manager's).
pub const TXT_TTL: u32 = 60;
/// Records per page when listing (cert-manager's; DigitalOcean's most).
pub const RECORDS_PER_PAGE: u32 = 200;
/// Pages read at most when listing, against a server that never ends.
const MAX_PAGES: u32 = 1000;
/// Listings restarted at most when the records change while being paged through.
const LIST_RESTARTS: usize = 5;
/// The token scopes the provider needs, for messages.
pub const SCOPES: &str = "domain:read, domain:create and domain:delete";

/// What went wrong with a DigitalOcean solver. Messages say what to fix and never
/// carry the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitalOceanError {
    #[error(
        "the DigitalOcean API URL \"{url}\" is invalid: {reason}; expected e.g. {PRODUCTION_URL}"
    )]
    InvalidBaseUrl { url: String, reason: String },
    #[error("{source_} is empty: it must hold a DigitalOcean API token")]
    EmptyToken { source_: String },
    #[error(
        "{source_} contains characters an HTTP header cannot carry (only visible ASCII is allowed): \
         check that the Secret holds the token itself"
    )]
    InvalidToken { source_: String },
    #[error("\"{fqdn}\" is not inside zone \"{zone}\"")]
    NotInZone { fqdn: String, zone: String },
    #[error(
        "DigitalOcean has no domain \"{domain}\" visible to {credential} (HTTP 404 when {action}): \
         add the domain to DigitalOcean (Networking → Domains) in the team the token belongs to, \
         with the zone delegated to DigitalOcean's nameservers"
    )]
    NoDomain {
        domain: String,
        credential: String,
        action: String,
    },
    #[error(
        "DigitalOcean refused {credential} (HTTP 401: {message}) when {action}: it is mistyped, revoked or expired; \
         create a token with the {SCOPES} scopes and put it in the Secret"
    )]
    Unauthorized {
        credential: String,
        message: String,
        action: String,
    },
    #[error(
        "DigitalOcean refused {credential} (HTTP 403: {message}) when {action}: the token lacks a scope; \
         it needs {SCOPES} (a read-only token cannot write records)"
    )]
    Forbidden {
        credential: String,
        message: String,
        action: String,
    },
    #[error("DigitalOcean refused {action} (HTTP {status}{detail})")]
    Rejected {
        action: String,
        status: u16,
        detail: String,
    },
    #[error(
        "DigitalOcean is rate limiting requests (HTTP 429{detail}) when {action}, after {attempts} attempt(s){reset}: retrying later"
    )]
    RateLimited {
        action: String,
        attempts: u32,
        detail: String,
        reset: String,
    },
    #[error(
        "DigitalOcean failed when {action} (HTTP {status}{detail}), after {attempts} attempt(s): retrying later"
    )]
    ServerError {
        action: String,
        status: u16,
        detail: String,
        attempts: u32,
    },
    #[error(
        "no answer from the DigitalOcean API at {base} when {action}, after {attempts} attempt(s): {reason}"
    )]
    Unreachable {
        base: String,
        action: String,
        attempts: u32,
        reason: String,
    },
    #[error("unexpected answer from the DigitalOcean API at {base} when {action}: {reason}")]
    InvalidResponse {
        base: String,
        action: String,
        reason: String,
    },
}

impl DigitalOceanError {
    /// Whether retrying without any change may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::ServerError { .. }
                | Self::Unreachable { .. }
                | Self::InvalidResponse { .. }
        )
    }
}

impl From<DigitalOceanError> for ProviderError {
    fn from(e: DigitalOceanError) -> Self {
        if e.is_transient() {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Misconfigured(Box::new(e))
        }
    }
}

/// A failed request.
#[derive(Debug)]
enum CallError {
    /// Not answered (connection, timeout, body).
    Transport(String),
    /// Answered with an error status; `wait` is how long the server asked to wait.
    Status {
        status: u16,
        id: String,
        message: String,
        wait: Option<Duration>,
    },
}

impl CallError {
    /// Worth retrying soon: not answered, 429 or 5xx.
    fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
        }
    }
}

/// DigitalOcean's error body.
#[derive(Debug, Default, Deserialize)]
struct ApiError {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: String,
}

/// One domain record, with only what is used.
#[derive(Debug, Clone, Deserialize)]
pub struct DomainRecord {
    pub id: u64,
    #[serde(rename = "type", default)]
    pub rtype: String,
    /// Relative to the domain (`@` for the apex).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub data: String,
}

#[derive(Debug, Deserialize)]
struct RecordPage {
    #[serde(default)]
    domain_records: Vec<DomainRecord>,
    #[serde(default)]
    links: Option<Links>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Debug, Default, Deserialize)]
struct Links {
    #[serde(default)]
    pages: Option<Pages>,
}

#[derive(Debug, Default, Deserialize)]
struct Pages {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(default)]
    total: Option<u64>,
}

/// Where a value goes: the DigitalOcean domain (`example.com`), the record's name as
/// the list filter takes it (`_acme-challenge.example.com`) and as created
/// (`_acme-challenge.example.com.`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    domain: String,
    name: String,
    absolute: String,
}

fn target(zone: &str, fqdn: &str) -> Result<Target, DigitalOceanError> {
    let absolute = super::fqdn(fqdn);
    let zone_abs = super::fqdn(zone);
    let domain = zone_abs.trim_end_matches('.').to_string();
    let name = absolute.trim_end_matches('.').to_string();
    if domain.is_empty() || !(name == domain || name.ends_with(&format!(".{domain}"))) {
        return Err(DigitalOceanError::NotInZone {
            fqdn: absolute,
            zone: zone_abs,
        });
    }
    Ok(Target {
        domain,
        name,
        absolute,
    })
}

/// Whether `r` holds `value` (as written, or as quoted character strings).
fn holds(r: &DomainRecord, value: &str) -> bool {
    r.rtype.eq_ignore_ascii_case("TXT") && (r.data == value || rdata_text(&r.data) == value)
}

/// `" (id: message)"`-style detail of an error answer, or empty.
fn detail(id: &str, message: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    match (id.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(", {id}"),
        (true, false) => format!(", {message}"),
        (false, false) => format!(", {id}: {message}"),
    }
}

/// How long an answer asks to wait: `Retry-After` (seconds), else for a 429 the time
/// until `ratelimit-reset` (Unix time; every answer carries it, so only a throttled
/// one means it).
fn wait_hint(status: u16, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(wait) = super::zone_batch::retry_after(headers) {
        return Some(wait);
    }
    if status != 429 {
        return None;
    }
    let reset = headers
        .get("ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

/// `base` as a URL ending in `/`.
fn normalise_base(base: &str) -> Result<reqwest::Url, DigitalOceanError> {
    let invalid = |reason: &str| DigitalOceanError::InvalidBaseUrl {
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
    // The root: `/v2` is added to every path (and not twice).
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/v2").unwrap_or(path);
    let path = format!("{path}/");
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Writes challenge records through DigitalOcean's API v2.
#[derive(Clone)]
pub struct DigitalOceanProvider {
    http: reqwest::Client,
    base: reqwest::Url,
    token: String,
    source: String,
    backoff: Backoff,
}

impl fmt::Debug for DigitalOceanProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigitalOceanProvider")
            .field("base", &self.base.as_str())
            .field("token_source", &self.source)
            .finish_non_exhaustive()
    }
}

impl DigitalOceanProvider {
    /// A provider for the API at `base_url` (DigitalOcean's is [`PRODUCTION_URL`];
    /// tests give a local emulator's), with `token`, which came from `source` (e.g.
    /// `Secret cert-manager/digitalocean key "access-token"`, for messages).
    pub fn new(token: &str, source: &str, base_url: &str) -> Result<Self, DigitalOceanError> {
        let base = normalise_base(base_url)?;
        let token = token.trim();
        if token.is_empty() {
            return Err(DigitalOceanError::EmptyToken {
                source_: source.to_string(),
            });
        }
        if !token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(DigitalOceanError::InvalidToken {
                source_: source.to_string(),
            });
        }
        let http = new_client().map_err(|reason| DigitalOceanError::Unreachable {
            base: base.to_string(),
            action: "setting up the HTTP client".into(),
            attempts: 0,
            reason,
        })?;
        Ok(Self {
            http,
            base,
            token: token.to_string(),
            source: source.to_string(),
            backoff: Backoff::default(),
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

    fn credential(&self) -> String {
        format!("the token from {}", self.source)
    }

    /// `<base>v2/<segments…>?<query>`, each segment escaped.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v2").extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// One request; the answer's body on success.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &reqwest::Url,
        body: Option<&serde_json::Value>,
    ) -> Result<bytes::Bytes, CallError> {
        debug!(
            method = %method,
            path = %url.path(),
            query = url.query().unwrap_or(""),
            "DigitalOcean API request"
        );
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.token))
            .map_err(|_| CallError::Transport("the token cannot be sent as a header".into()))?;
        auth.set_sensitive(true);
        let mut request = self
            .http
            .request(method, url.clone())
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(without_url(&e)))?;
        let status = response.status();
        let wait = wait_hint(status.as_u16(), response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Transport(without_url(&e)))?;
        if status.is_success() {
            return Ok(bytes);
        }
        let e: ApiError = serde_json::from_slice(&bytes).unwrap_or_default();
        Err(CallError::Status {
            status: status.as_u16(),
            id: e.id,
            message: e.message,
            wait,
        })
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

    /// Sends a request, retrying throttled, failed and unanswered ones when `retry`.
    /// Returns the last result and the number of attempts made.
    async fn call(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<&serde_json::Value>,
        retry: bool,
    ) -> (Result<bytes::Bytes, CallError>, u32) {
        let mut n = 0;
        loop {
            let r = self.send(method.clone(), &url, body).await;
            n += 1;
            match r {
                Err(e) if retry && e.retryable() && n < self.backoff.attempts.max(1) => {
                    match self.wait_after(n - 1, &e) {
                        Some(d) => {
                            debug!(
                                attempt = n,
                                wait_ms = d.as_millis() as u64,
                                "DigitalOcean request retried"
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

    /// What a failed request means, in words.
    fn explain(
        &self,
        e: CallError,
        action: &str,
        domain: &str,
        attempts: u32,
    ) -> DigitalOceanError {
        let (status, id, message, wait) = match e {
            CallError::Transport(reason) => {
                return DigitalOceanError::Unreachable {
                    base: self.base.to_string(),
                    action: action.into(),
                    attempts,
                    reason,
                };
            }
            CallError::Status {
                status,
                id,
                message,
                wait,
            } => (status, id, message, wait),
        };
        let said = |fallback: &str| {
            let m = message.trim().trim_end_matches('.');
            if m.is_empty() {
                fallback.to_string()
            } else {
                m.to_string()
            }
        };
        match status {
            401 => DigitalOceanError::Unauthorized {
                credential: self.credential(),
                message: said("unauthorized"),
                action: action.into(),
            },
            403 => DigitalOceanError::Forbidden {
                credential: self.credential(),
                message: said("forbidden"),
                action: action.into(),
            },
            404 => DigitalOceanError::NoDomain {
                domain: domain.to_string(),
                credential: self.credential(),
                action: action.into(),
            },
            429 => DigitalOceanError::RateLimited {
                action: action.into(),
                attempts,
                detail: detail(&id, &message),
                reset: wait
                    .map(|w| format!("; the limit resets in {} s", w.as_secs()))
                    .unwrap_or_default(),
            },
            s if s >= 500 => DigitalOceanError::ServerError {
                action: action.into(),
                status: s,
                detail: detail(&id, &message),
                attempts,
            },
            s => DigitalOceanError::Rejected {
                action: action.into(),
                status: s,
                detail: detail(&id, &message),
            },
        }
    }

    /// The TXT records named `name` in `domain`, every page. Pages are offsets: when
    /// the total changes between pages (a record of the name created or deleted
    /// meanwhile, e.g. the other value of a wildcard + apex pair), records may have
    /// shifted past a page boundary, so the listing starts again.
    pub async fn txt_records(
        &self,
        domain: &str,
        name: &str,
    ) -> Result<Vec<DomainRecord>, DigitalOceanError> {
        let action = format!("listing the TXT records of {name}");
        let mut restarts = 0;
        'listing: loop {
            let mut out = Vec::new();
            let mut first_total = None;
            let mut page = 1;
            loop {
                let url = self.url(
                    &["domains", domain, "records"],
                    &[
                        ("type", "TXT".to_string()),
                        ("name", name.to_string()),
                        ("per_page", RECORDS_PER_PAGE.to_string()),
                        ("page", page.to_string()),
                    ],
                );
                let (r, attempts) = self.call(reqwest::Method::GET, url, None, true).await;
                let bytes = r.map_err(|e| self.explain(e, &action, domain, attempts))?;
                let listed: RecordPage = serde_json::from_slice(&bytes).map_err(|e| {
                    DigitalOceanError::InvalidResponse {
                        base: self.base.to_string(),
                        action: action.clone(),
                        reason: e.to_string(),
                    }
                })?;
                let total = listed.meta.and_then(|m| m.total);
                if page == 1 {
                    first_total = total;
                } else if total != first_total && restarts < LIST_RESTARTS {
                    restarts += 1;
                    continue 'listing;
                }
                let more = listed
                    .links
                    .and_then(|l| l.pages)
                    .and_then(|p| p.next)
                    .is_some()
                    && !listed.domain_records.is_empty();
                out.extend(
                    listed
                        .domain_records
                        .into_iter()
                        .filter(|r| r.rtype.eq_ignore_ascii_case("TXT")),
                );
                if !more || page >= MAX_PAGES {
                    return Ok(out);
                }
                page += 1;
            }
        }
    }

    /// Creates a TXT record of `fqdn` holding `value` unless one already does.
    pub async fn add(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), DigitalOceanError> {
        let t = target(zone, fqdn)?;
        let action = format!("creating a TXT record for {}", t.name);
        let body = json!({"type": "TXT", "name": t.absolute, "data": value, "ttl": TXT_TTL});
        let mut n = 0;
        loop {
            let records = self.txt_records(&t.domain, &t.name).await?;
            if records.iter().any(|r| holds(r, value)) {
                debug!(
                    name = %t.name,
                    domain = %t.domain,
                    "DigitalOcean TXT record already present"
                );
                return Ok(());
            }
            debug!(name = %t.name, domain = %t.domain, "creating DigitalOcean TXT record");
            let url = self.url(&["domains", &t.domain, "records"], &[]);
            // Not retried blindly: a create that succeeded unseen would be doubled.
            let (r, _) = self
                .call(reqwest::Method::POST, url, Some(&body), false)
                .await;
            n += 1;
            match r {
                Ok(_) => return Ok(()),
                Err(e) if e.retryable() && n < self.backoff.attempts.max(1) => {
                    match self.wait_after(n - 1, &e) {
                        Some(d) => tokio::time::sleep(d).await,
                        None => return Err(self.explain(e, &action, &t.domain, n)),
                    }
                }
                Err(e) => return Err(self.explain(e, &action, &t.domain, n)),
            }
        }
    }

    /// Deletes the TXT records of `fqdn` holding `value`; succeeds when there are none.
    pub async fn remove(
        &self,
        zone: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(), DigitalOceanError> {
        let t = target(zone, fqdn)?;
        let records = self.txt_records(&t.domain, &t.name).await?;
        for r in records.iter().filter(|r| holds(r, value)) {
            let id = r.id.to_string();
            debug!(
                name = %t.name,
                domain = %t.domain,
                record = %id,
                "deleting DigitalOcean TXT record"
            );
            let url = self.url(&["domains", &t.domain, "records", &id], &[]);
            match self.call(reqwest::Method::DELETE, url, None, true).await {
                (Ok(_), _) => {}
                // Deleted meanwhile (another replica, an earlier attempt).
                (Err(CallError::Status { status: 404, .. }), _) => {}
                (Err(e), attempts) => {
                    return Err(self.explain(
                        e,
                        &format!("deleting a TXT record of {}", t.name),
                        &t.domain,
                        attempts,
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Provider for DigitalOceanProvider {
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

/// The provider of a `digitalocean` solver, with its token read from the Secret key
/// `tokenSecretRef` names in `secret_ns` (surrounding whitespace removed, as
/// cert-manager does). `endpoint` replaces the public API (tests and the conformance
/// suite: an emulator).
pub async fn from_solver(
    client: &kube::Client,
    cfg: &AcmeIssuerDns01ProviderDigitalOcean,
    secret_ns: &str,
    endpoint: Option<&str>,
) -> Result<DigitalOceanProvider, String> {
    use super::credentials::{describe_secret_key, secret_value};
    let token = secret_value(client, secret_ns, &cfg.token_secret_ref, TOKEN_FIELD).await?;
    let source = describe_secret_key(secret_ns, &cfg.token_secret_ref);
    DigitalOceanProvider::new(&token, &source, endpoint.unwrap_or(PRODUCTION_URL))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use certgate_emulators::digitalocean::{self as emu, Access, DigitalOceanEmulator, Failure};

    const SOURCE: &str = "Secret cert-manager/digitalocean key \"access-token\"";
    const ZONE: &str = "example.com.";
    const NAME: &str = "_acme-challenge.example.com.";

    fn fast() -> Backoff {
        Backoff {
            base: Duration::from_millis(5),
            max: Duration::from_millis(50),
            attempts: 4,
        }
    }

    fn provider(e: &DigitalOceanEmulator, token: &str) -> DigitalOceanProvider {
        DigitalOceanProvider::new(token, SOURCE, &e.api_url())
            .unwrap()
            .with_backoff(fast())
    }

    /// A value shaped like a challenge's.
    fn value(n: u8) -> String {
        super::super::txt_value(&format!("digitalocean-{n}"))
    }

    #[test]
    fn urls() {
        for base in [
            "http://127.0.0.1:1",
            "http://127.0.0.1:1/",
            "http://127.0.0.1:1/v2",
            "http://127.0.0.1:1/v2/",
        ] {
            let p = DigitalOceanProvider::new("t", SOURCE, base).unwrap();
            let url = p.url(
                &["domains", "example.com", "records"],
                &[
                    ("type", "TXT".into()),
                    ("name", "_acme-challenge.example.com".into()),
                ],
            );
            assert_eq!(
                url.as_str(),
                "http://127.0.0.1:1/v2/domains/example.com/records?type=TXT&name=_acme-challenge.example.com",
                "{base}"
            );
        }
        let p = DigitalOceanProvider::new("t", SOURCE, PRODUCTION_URL).unwrap();
        assert_eq!(
            p.url(&["domains", "example.com", "records", "7"], &[])
                .as_str(),
            "https://api.digitalocean.com/v2/domains/example.com/records/7"
        );
        assert!(DigitalOceanProvider::new("t", SOURCE, "ftp://x/").is_err());
        assert!(DigitalOceanProvider::new("t", SOURCE, "not a url").is_err());
    }

    #[test]
    fn targets() {
        let t = target(ZONE, "_acme-challenge.Example.COM").unwrap();
        assert_eq!(t.domain, "example.com");
        assert_eq!(t.name, "_acme-challenge.example.com");
        assert_eq!(t.absolute, "_acme-challenge.example.com.");
        let e = target(ZONE, "_acme-challenge.example.net.").unwrap_err();
        assert!(e.to_string().contains("is not inside zone"), "{e}");
        assert!(!e.is_transient());
    }

    #[test]
    fn the_token_never_shows() {
        let secret = "dop_v1_s3cr3t";
        let p = DigitalOceanProvider::new(secret, SOURCE, PRODUCTION_URL).unwrap();
        let debug = format!("{p:?}");
        assert!(
            !debug.contains(secret) && debug.contains("cert-manager/digitalocean"),
            "{debug}"
        );
        let e = DigitalOceanProvider::new("with space\u{7f}", SOURCE, PRODUCTION_URL).unwrap_err();
        assert!(
            !e.to_string().contains("with space") && e.to_string().contains(SOURCE),
            "{e}"
        );
        assert!(matches!(
            DigitalOceanProvider::new(" \n", SOURCE, PRODUCTION_URL),
            Err(DigitalOceanError::EmptyToken { .. })
        ));
        // A trailing newline (common in Secrets) is not part of the token.
        assert!(DigitalOceanProvider::new("abc\n", SOURCE, PRODUCTION_URL).is_ok());
    }

    #[tokio::test]
    async fn requests_as_cert_manager_makes_them() {
        let e = DigitalOceanEmulator::start(&["example.com"]).await.unwrap();
        let p = provider(&e, emu::TOKEN);
        let v = value(1);
        p.present(ZONE, NAME, &v).await.unwrap();
        let log = e.request_log();
        assert_eq!(log.len(), 2, "{log:#?}");
        assert_eq!(log[0].method, "GET");
        assert_eq!(
            log[0].uri,
            "/v2/domains/example.com/records?type=TXT&name=_acme-challenge.example.com&per_page=200&page=1"
        );
        assert_eq!(log[1].method, "POST");
        assert_eq!(log[1].uri, "/v2/domains/example.com/records");
        assert_eq!(
            log[1].body,
            Some(
                json!({"type": "TXT", "name": "_acme-challenge.example.com.", "data": v, "ttl": 60})
            )
        );
        assert!(log.iter().all(|r| r.bearer));
        assert_eq!(e.txt_data("_acme-challenge.example.com"), vec![v.clone()]);
        assert_eq!(e.txt_ttls("_acme-challenge.example.com"), vec![60]);
        // Served over DNS.
        assert_eq!(e.zone_data().txt_values(NAME), vec![v.clone()]);

        p.cleanup(ZONE, NAME, &v).await.unwrap();
        let log = e.request_log();
        assert_eq!(log.len(), 4, "{log:#?}");
        assert_eq!(log[2].method, "GET");
        assert_eq!(log[3].method, "DELETE");
        assert!(
            log[3].uri.starts_with("/v2/domains/example.com/records/"),
            "{}",
            log[3].uri
        );
        assert!(e.txt_data("_acme-challenge.example.com").is_empty());
        assert_eq!(e.writes(), 2);
    }

    #[tokio::test]
    async fn idempotent_and_other_values_kept() {
        let e = DigitalOceanEmulator::start(&["example.com"]).await.unwrap();
        let p = provider(&e, emu::TOKEN);
        let (a, b) = (value(1), value(2));
        p.present(ZONE, NAME, &a).await.unwrap();
        p.present(ZONE, NAME, &a).await.unwrap();
        p.present(ZONE, NAME, &b).await.unwrap();
        let mut held = e.txt_data("_acme-challenge.example.com");
        held.sort();
        let mut want = vec![a.clone(), b.clone()];
        want.sort();
        assert_eq!(held, want, "one record per value");
        assert_eq!(e.writes(), 2);
        p.cleanup(ZONE, NAME, &a).await.unwrap();
        assert_eq!(e.txt_data("_acme-challenge.example.com"), vec![b.clone()]);
        let writes = e.writes();
        p.cleanup(ZONE, NAME, &a).await.unwrap();
        assert_eq!(e.writes(), writes, "nothing to delete: only a listing");
        p.cleanup(ZONE, NAME, &b).await.unwrap();
        assert!(e.txt_data("_acme-challenge.example.com").is_empty());
    }

    #[tokio::test]
    async fn every_page_is_read() {
        let e = DigitalOceanEmulator::start(&["example.com"]).await.unwrap();
        for n in 10..13 {
            e.add_record("example.com", "TXT", "_acme-challenge", &value(n));
        }
        e.cap_per_page(1);
        let p = provider(&e, emu::TOKEN);
        let last = value(12);
        // Already there, on the third page: nothing created.
        p.present(ZONE, NAME, &last).await.unwrap();
        assert_eq!(e.writes(), 0);
        let pages: Vec<String> = e.request_log().into_iter().map(|r| r.uri).collect();
        assert_eq!(pages.len(), 3, "{pages:#?}");
        assert!(pages[2].ends_with("&page=3"), "{pages:#?}");
        // Clean-up finds it on the last page too, and deletes only it.
        p.cleanup(ZONE, NAME, &last).await.unwrap();
        let mut left = e.txt_data("_acme-challenge.example.com");
        left.sort();
        let mut want = vec![value(10), value(11)];
        want.sort();
        assert_eq!(left, want);
    }

    #[tokio::test]
    async fn refusals_name_the_secret_and_say_what_to_fix() {
        let e = DigitalOceanEmulator::start(&["example.com"]).await.unwrap();
        let wrong = "dop_v1_wrongwrongwrong";
        let err = provider(&e, wrong)
            .present(ZONE, NAME, &value(1))
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains(SOURCE)
                && msg.contains("HTTP 401")
                && msg.contains("domain:create")
                && !msg.contains(wrong),
            "{msg}"
        );

        let read_only = "dop_v1_readonly";
        e.add_token(read_only, Access::ReadOnly);
        let err = provider(&e, read_only)
            .present(ZONE, NAME, &value(1))
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains("HTTP 403") && msg.contains("read-only"),
            "{msg}"
        );

        let other_team = "dop_v1_otherteam";
        e.add_domain("other.test");
        e.add_token(other_team, Access::Domains(vec!["other.test".into()]));
        let err = provider(&e, other_team)
            .present(ZONE, NAME, &value(1))
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains("no domain \"example.com\"") && msg.contains(SOURCE),
            "{msg}"
        );
        assert_eq!(e.writes(), 0);
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retried() {
        let e = DigitalOceanEmulator::start(&["example.com"]).await.unwrap();
        let p = provider(&e, emu::TOKEN);
        e.inject([
            Failure::Throttled {
                retry_after: Some(0),
                reset_in: 0,
            },
            Failure::Status(503),
        ]);
        p.present(ZONE, NAME, &value(1)).await.unwrap();
        assert_eq!(e.requests(), 4, "two failed listings, a listing, a create");
        assert_eq!(e.txt_data("_acme-challenge.example.com").len(), 1);

        // A create answered 502 after it was made: listed again, not made twice.
        e.inject([Failure::Pass, Failure::Lost(502)]);
        p.present(ZONE, NAME, &value(2)).await.unwrap();
        assert_eq!(e.txt_data("_acme-challenge.example.com").len(), 2);

        // Failing every time: transient, after the backoff's attempts.
        e.inject(std::iter::repeat_n(Failure::Status(500), 4));
        let err = p.present(ZONE, NAME, &value(3)).await.unwrap_err();
        assert!(err.is_transient());
        assert!(
            err.to_string().contains("HTTP 500") && err.to_string().contains("4 attempt(s)"),
            "{err}"
        );

        // A limit resetting beyond the longest wait is not waited for.
        let before = e.requests();
        e.inject([Failure::Throttled {
            retry_after: None,
            reset_in: 3600,
        }]);
        let err = p.cleanup(ZONE, NAME, &value(1)).await.unwrap_err();
        assert!(err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains("HTTP 429") && msg.contains("resets in"),
            "{msg}"
        );
        assert_eq!(e.requests(), before + 1);
    }

    #[tokio::test]
    async fn unreachable_is_transient() {
        let p = DigitalOceanProvider::new("t", SOURCE, "http://127.0.0.1:1/")
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
