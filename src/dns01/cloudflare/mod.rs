//! The Cloudflare provider: one TXT record per challenge value through Cloudflare's v4
//! API, from cert-manager's `cloudflare` solver fields (`apiTokenSecretRef`, or
//! `apiKeySecretRef` + `email`).
//!
//! present finds the zone (the zone the SOA walk found, else the most specific
//! Cloudflare zone enclosing the name), lists the name's TXT records (every page) and
//! creates a record holding the value unless one already does; cleanup deletes the
//! records holding exactly that value. Other values on the name are never touched.
//!
//! Requests are built with the `cloudflare` crate's endpoint types, credentials and
//! environments (`Environment::Custom` for a local emulator) and sent with reqwest.
//! The crate's own client is not used: it decodes error codes as `u16`, so the DNS
//! error codes (81044, 81057, 81058…) make it drop the whole error list, and its
//! response types require fields Cloudflare leaves null (e.g. a pending zone's
//! `activated_on`). Responses are decoded here with only the fields used.

/// A TXT record's content as a plain value (quoted character strings joined): how
/// Cloudflare holds TXT content, shared with its emulator.
pub use certgate_emulators::txt_content_value;
use std::fmt;
use std::time::Duration;

use cloudflare::endpoints::dns::dns::{
    CreateDnsRecord, CreateDnsRecordParams, DeleteDnsRecord, DnsContent,
};
use cloudflare::endpoints::zones::zone::{ListZones, ListZonesParams};
use cloudflare::framework::Environment;
use cloudflare::framework::auth::Credentials;
use cloudflare::framework::endpoint::spec::EndpointSpec;
use cloudflare::framework::endpoint::{Method, RequestBody};
use futures::future::BoxFuture;
use reqwest012 as reqwest;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::debug;

use super::provider::{Provider, ProviderError};
use crate::api::acme_dns01::AcmeIssuerDns01ProviderCloudflare;
use crate::api::meta::SecretKeySelector;

mod credentials;
mod errors;
mod wire;

use credentials::check_header_value;
pub use credentials::{CloudflareAuth, CredentialRef, credential_ref};
use errors::CallError;
pub use errors::CloudflareError;
use wire::{Envelope, ListTxtRecords, RecordLite, ResultInfo, ZoneLite, more_pages};

/// Where the solver's fields live, for messages.
const FIELD: &str = "spec.acme.solvers[].dns01.cloudflare";
/// Cloudflare's public API.
pub const PRODUCTION_URL: &str = "https://api.cloudflare.com/client/v4/";
/// The TTL of the TXT records written (cert-manager's).
pub const TXT_TTL: u32 = 120;
/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Records per page when listing (Cloudflare's default is 100).
const RECORDS_PER_PAGE: u32 = 100;
/// Zones per page when listing (Cloudflare allows 5 to 50).
const ZONES_PER_PAGE: u32 = 50;
/// Listings restarted at most when the records change while being paged through.
const LIST_RESTARTS: usize = 5;
/// Pages read at most when listing, against a server that never ends.
const MAX_PAGES: u32 = 1000;
/// Writes challenge records through Cloudflare's v4 API.
#[derive(Clone)]
pub struct CloudflareProvider {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    auth: CloudflareAuth,
}

impl fmt::Debug for CloudflareProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudflareProvider")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// An HTTP client for one provider. (Not shared process-wide: pooled connections
/// belong to the runtime that opened them, and tests run many runtimes.)
pub(super) fn new_client() -> Result<reqwest::Client, String> {
    // reqwest here uses rustls without a built-in crypto provider: make sure the
    // process has one (the binary installs aws-lc-rs first; this is a no-op then).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}

/// `base` as a URL ending in `/`, so that endpoint paths join below it.
fn normalise_base(base: &str) -> Result<String, CloudflareError> {
    let invalid = |reason: &str| CloudflareError::InvalidBaseUrl {
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
    Ok(url.to_string())
}

fn strip_dot(name: &str) -> String {
    super::fqdn(name).trim_end_matches('.').to_string()
}

impl CloudflareProvider {
    /// A provider for Cloudflare's public API.
    pub fn production(auth: CloudflareAuth) -> Result<Self, CloudflareError> {
        Self::new(auth, PRODUCTION_URL)
    }

    /// A provider for the v4 API at `base_url` (Cloudflare's is [`PRODUCTION_URL`];
    /// tests give a local emulator's).
    pub fn new(auth: CloudflareAuth, base_url: &str) -> Result<Self, CloudflareError> {
        let base = normalise_base(base_url)?;
        let (credentials, auth) = match auth {
            CloudflareAuth::Token { token, source } => {
                let token = check_header_value(&token, &source)?;
                (
                    Credentials::UserAuthToken {
                        token: token.clone(),
                    },
                    CloudflareAuth::Token { token, source },
                )
            }
            CloudflareAuth::Key { email, key, source } => {
                let key = check_header_value(&key, &source)?;
                let email = email.trim().to_string();
                if email.is_empty()
                    || !email.contains('@')
                    || !email.bytes().all(|b| (0x21..=0x7e).contains(&b))
                {
                    return Err(CloudflareError::InvalidEmail { email });
                }
                (
                    Credentials::UserAuthKey {
                        email: email.clone(),
                        key: key.clone(),
                    },
                    CloudflareAuth::Key { email, key, source },
                )
            }
        };
        let http = new_client().map_err(|reason| CloudflareError::Unreachable {
            base: base.clone(),
            action: "setting up the HTTP client".into(),
            reason,
        })?;
        Ok(Self {
            http,
            base,
            credentials,
            auth,
        })
    }

    /// The API base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends `endpoint` and decodes a successful envelope's `result` as `T`.
    async fn call<E, T>(&self, endpoint: &E) -> Result<(T, Option<ResultInfo>), CallError>
    where
        E: EndpointSpec,
        T: DeserializeOwned,
    {
        let env = Environment::Custom(self.base.clone());
        let url = endpoint.url(&env);
        let method = endpoint.method();
        debug!(method = %method, url = %url, "Cloudflare API request");
        let mut request = self.http.request(method, url);
        for (name, value) in self.credentials.headers() {
            let mut value = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| CallError::Transport("invalid credential header".into()))?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        if let Some(RequestBody::Json(json)) = endpoint.body() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(without_url(&e)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Transport(without_url(&e)))?;
        let envelope: Result<Envelope<T>, _> = serde_json::from_slice(&bytes);
        if !status.is_success() {
            let errors = serde_json::from_slice::<Envelope<serde_json::Value>>(&bytes)
                .map(|e| e.errors)
                .unwrap_or_default();
            return Err(CallError::Status {
                status: status.as_u16(),
                errors,
            });
        }
        let envelope = envelope.map_err(|e| CallError::Decode(e.to_string()))?;
        if !envelope.success {
            return Err(CallError::Status {
                status: status.as_u16(),
                errors: envelope.errors,
            });
        }
        let result = envelope
            .result
            .ok_or_else(|| CallError::Decode("no result".into()))?;
        Ok((result, envelope.result_info))
    }

    /// Zones named exactly `name` visible to the credential.
    async fn zones_named(&self, name: &str, zone: &str) -> Result<Vec<ZoneLite>, CloudflareError> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let endpoint = ListZones {
                params: ListZonesParams {
                    name: Some(name.to_string()),
                    page: Some(page),
                    per_page: Some(ZONES_PER_PAGE),
                    ..Default::default()
                },
            };
            let (zones, info): (Vec<ZoneLite>, _) = self
                .call(&endpoint)
                .await
                .map_err(|e| self.explain(e, &format!("looking up zone {name}"), zone))?;
            let n = zones.len();
            out.extend(
                zones
                    .into_iter()
                    .filter(|z| z.name.eq_ignore_ascii_case(name)),
            );
            if !more_pages(info.as_ref(), page, n, ZONES_PER_PAGE) || page >= MAX_PAGES {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// The Cloudflare zone holding `fqdn`: `zone` when Cloudflare has it, else the
    /// most specific zone enclosing `fqdn`. Returns its id and name.
    pub async fn find_zone(
        &self,
        zone: &str,
        fqdn: &str,
    ) -> Result<(String, String), CloudflareError> {
        let fqdn_name = strip_dot(fqdn);
        let zone_name = strip_dot(zone);
        let inside = fqdn_name == zone_name || fqdn_name.ends_with(&format!(".{zone_name}"));
        if !inside {
            return Err(CloudflareError::NotInZone {
                fqdn: super::fqdn(fqdn),
                zone: super::fqdn(zone),
            });
        }
        // The zone the SOA walk found first, then every parent of the name, most
        // specific first (a Cloudflare zone by another name than the served one).
        let mut candidates = vec![zone_name.clone()];
        let labels: Vec<&str> = fqdn_name.split('.').collect();
        for i in 1..labels.len().saturating_sub(1) {
            let c = labels[i..].join(".");
            if !candidates.contains(&c) {
                candidates.push(c);
            }
        }
        let mut tried = Vec::new();
        for candidate in candidates {
            let zones = self.zones_named(&candidate, zone).await?;
            tried.push(candidate.clone());
            let best = zones
                .iter()
                .find(|z| z.status.as_deref() == Some("active"))
                .or_else(|| zones.first());
            if let Some(z) = best {
                return Ok((z.id.clone(), z.name.clone()));
            }
        }
        Err(CloudflareError::NoZone {
            fqdn: super::fqdn(fqdn),
            tried: tried.join(", "),
            credential: self.auth.describe(),
        })
    }

    /// The TXT records of `name` in zone `zone_id`, every page. Pages are offsets:
    /// when the record count changes between pages (a record of the name created or
    /// deleted meanwhile, e.g. the other value of a wildcard + apex pair), records may
    /// have shifted past a page boundary, so the listing starts again.
    async fn txt_records(
        &self,
        zone_id: &str,
        name: &str,
        zone: &str,
    ) -> Result<Vec<RecordLite>, CloudflareError> {
        let mut restarts = 0;
        'listing: loop {
            let mut out = Vec::new();
            let mut first_count = None;
            let mut page = 1;
            loop {
                let endpoint = ListTxtRecords {
                    zone_identifier: zone_id,
                    name,
                    page,
                };
                let (records, info): (Vec<RecordLite>, _) =
                    self.call(&endpoint).await.map_err(|e| {
                        self.explain(e, &format!("listing the TXT records of {name}"), zone)
                    })?;
                let count = info.as_ref().and_then(|i| i.total_count);
                if page == 1 {
                    first_count = count;
                } else if count != first_count && restarts < LIST_RESTARTS {
                    restarts += 1;
                    continue 'listing;
                }
                let n = records.len();
                out.extend(records.into_iter().filter(|r| {
                    r.record_type.eq_ignore_ascii_case("TXT") && r.name.eq_ignore_ascii_case(name)
                }));
                if !more_pages(info.as_ref(), page, n, RECORDS_PER_PAGE) || page >= MAX_PAGES {
                    return Ok(out);
                }
                page += 1;
            }
        }
    }

    /// Creates a TXT record of `fqdn` holding `value` unless one already does.
    pub async fn add(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), CloudflareError> {
        let (zone_id, zone_name) = self.find_zone(zone, fqdn).await?;
        let name = strip_dot(fqdn);
        let records = self.txt_records(&zone_id, &name, &zone_name).await?;
        if records
            .iter()
            .any(|r| txt_content_value(&r.content) == value)
        {
            debug!(%name, zone = %zone_name, "Cloudflare TXT record already present");
            return Ok(());
        }
        let endpoint = CreateDnsRecord {
            zone_identifier: &zone_id,
            params: CreateDnsRecordParams {
                ttl: Some(TXT_TTL),
                priority: None,
                proxied: None,
                name: &name,
                content: DnsContent::TXT {
                    content: value.to_string(),
                },
            },
        };
        debug!(%name, zone = %zone_name, "creating Cloudflare TXT record");
        match self.call::<_, RecordLite>(&endpoint).await {
            Ok(_) => Ok(()),
            // Created meanwhile by someone else (another replica, a retry).
            Err(e) if e.has_code(&[81057, 81058]) => Ok(()),
            Err(e) => {
                Err(self.explain(e, &format!("creating a TXT record for {name}"), &zone_name))
            }
        }
    }

    /// Deletes the TXT records of `fqdn` holding `value`; succeeds when there are none.
    pub async fn remove(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), CloudflareError> {
        let (zone_id, zone_name) = self.find_zone(zone, fqdn).await?;
        let name = strip_dot(fqdn);
        let records = self.txt_records(&zone_id, &name, &zone_name).await?;
        for r in records
            .iter()
            .filter(|r| txt_content_value(&r.content) == value)
        {
            let endpoint = DeleteDnsRecord {
                zone_identifier: &zone_id,
                identifier: &r.id,
            };
            debug!(%name, zone = %zone_name, record = %r.id, "deleting Cloudflare TXT record");
            match self.call::<_, serde_json::Value>(&endpoint).await {
                Ok(_) => {}
                // Deleted meanwhile.
                Err(e) if e.status() == Some(404) || e.has_code(&[81044]) => {}
                Err(e) => {
                    return Err(self.explain(
                        e,
                        &format!("deleting a TXT record of {name}"),
                        &zone_name,
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A reqwest error without its URL (which is ours and harmless, but long).
pub(super) fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(&format!(" ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

impl Provider for CloudflareProvider {
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

#[cfg(test)]
mod tests {
    use super::wire::ApiMessage;
    use super::*;

    fn token(t: &str) -> CloudflareAuth {
        CloudflareAuth::Token {
            token: t.into(),
            source: "Secret cert-manager/cf key api-token".into(),
        }
    }

    #[test]
    fn base_urls() {
        assert_eq!(normalise_base(PRODUCTION_URL).unwrap(), PRODUCTION_URL);
        assert_eq!(
            normalise_base("http://127.0.0.1:8080/client/v4").unwrap(),
            "http://127.0.0.1:8080/client/v4/"
        );
        assert!(normalise_base("ftp://x/").is_err());
        assert!(normalise_base("not a url").is_err());
        let env = Environment::Custom(normalise_base("http://127.0.0.1:1/client/v4").unwrap());
        let list = ListTxtRecords {
            zone_identifier: "abc",
            name: "_acme-challenge.example.com",
            page: 2,
        };
        assert_eq!(
            list.url(&env).as_str(),
            "http://127.0.0.1:1/client/v4/zones/abc/dns_records?type=TXT&name=_acme-challenge.example.com&page=2&per_page=100"
        );
        let zones = ListZones {
            params: ListZonesParams {
                name: Some("example.com".into()),
                page: Some(1),
                per_page: Some(50),
                ..Default::default()
            },
        };
        assert_eq!(
            zones.url(&env).as_str(),
            "http://127.0.0.1:1/client/v4/zones?name=example.com&page=1&per_page=50"
        );
    }

    #[test]
    fn credentials_never_leak() {
        let secret = "s3cr3t-token-value-0123456789abcdefghijk";
        let p = CloudflareProvider::new(token(secret), "http://127.0.0.1:1/").unwrap();
        let debug = format!("{p:?}");
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains("cert-manager/cf"), "{debug}");
        let e =
            CloudflareProvider::new(token("with space\u{7f}"), "http://127.0.0.1:1/").unwrap_err();
        assert!(!e.to_string().contains("with space"), "{e}");
        assert!(e.to_string().contains("Secret cert-manager/cf"), "{e}");
        assert!(matches!(
            CloudflareProvider::new(token("  \n"), "http://127.0.0.1:1/"),
            Err(CloudflareError::EmptyCredential { .. })
        ));
        // A trailing newline (common in Secrets) is not part of the token.
        assert!(CloudflareProvider::new(token("abc\n"), "http://127.0.0.1:1/").is_ok());
        let key = CloudflareAuth::Key {
            email: "not-an-email".into(),
            key: "k".into(),
            source: "Secret x/y key k".into(),
        };
        assert!(matches!(
            CloudflareProvider::new(key, PRODUCTION_URL),
            Err(CloudflareError::InvalidEmail { .. })
        ));
    }

    #[test]
    fn credential_refs() {
        let sel = |name: &str, key: Option<&str>| SecretKeySelector {
            name: name.into(),
            key: key.map(Into::into),
        };
        let token = AcmeIssuerDns01ProviderCloudflare {
            api_token_secret_ref: Some(sel("cf", Some("api-token"))),
            ..Default::default()
        };
        assert_eq!(
            credential_ref(&token).unwrap(),
            CredentialRef::Token {
                secret: "cf".into(),
                key: "api-token".into()
            }
        );
        let both = AcmeIssuerDns01ProviderCloudflare {
            api_key_secret_ref: Some(sel("cf", Some("k"))),
            ..token.clone()
        };
        assert_eq!(credential_ref(&both), Err(CloudflareError::BothCredentials));
        assert_eq!(
            credential_ref(&Default::default()),
            Err(CloudflareError::NoCredentials)
        );
        let key_no_email = AcmeIssuerDns01ProviderCloudflare {
            api_key_secret_ref: Some(sel("cf", Some("k"))),
            ..Default::default()
        };
        assert_eq!(
            credential_ref(&key_no_email),
            Err(CloudflareError::MissingEmail)
        );
        let key = AcmeIssuerDns01ProviderCloudflare {
            email: Some("ops@example.com".into()),
            ..key_no_email
        };
        assert!(matches!(
            credential_ref(&key),
            Ok(CredentialRef::Key { .. })
        ));
        let no_key = AcmeIssuerDns01ProviderCloudflare {
            api_token_secret_ref: Some(sel("cf", None)),
            ..Default::default()
        };
        let e = credential_ref(&no_key).unwrap_err();
        assert!(
            e.to_string().contains("apiTokenSecretRef.key") && e.to_string().contains("\"cf\""),
            "{e}"
        );
    }

    #[test]
    fn txt_contents() {
        assert_eq!(txt_content_value("abc"), "abc");
        assert_eq!(txt_content_value("\"abc\""), "abc");
        assert_eq!(txt_content_value("\"ab\" \"cd\""), "abcd");
        assert_eq!(txt_content_value("\"a\\\"b\""), "a\"b");
    }

    #[test]
    fn error_codes_in_plain_words() {
        let p = CloudflareProvider::new(token("tok"), PRODUCTION_URL).unwrap();
        let status = |status: u16, code: u32, message: &str| CallError::Status {
            status,
            errors: vec![ApiMessage {
                code,
                message: message.into(),
                error_chain: vec![],
            }],
        };
        let e = p.explain(
            status(403, 10000, "Authentication error"),
            "listing",
            "example.com.",
        );
        assert_eq!(
            e.to_string(),
            "Cloudflare refused the API token from Secret cert-manager/cf key api-token \
             (code 10000: Authentication error) when listing: check it has Zone:Read and DNS:Edit on example.com"
        );
        assert!(!e.is_transient());
        let e = p.explain(
            status(403, 9109, "Invalid access token"),
            "x",
            "example.com.",
        );
        assert!(
            e.to_string().contains("mistyped, revoked or expired"),
            "{e}"
        );
        let e = p.explain(
            CallError::Status {
                status: 400,
                errors: vec![ApiMessage {
                    code: 6003,
                    message: "Invalid request headers".into(),
                    error_chain: vec![ApiMessage {
                        code: 6111,
                        message: "Invalid format for Authorization header".into(),
                        error_chain: vec![],
                    }],
                }],
            },
            "x",
            "example.com.",
        );
        assert!(e.to_string().contains("6111: Invalid format"), "{e}");
        let e = p.explain(
            status(400, 7003, "Could not route"),
            "listing",
            "example.com.",
        );
        assert!(e.to_string().contains("zone id may be stale"), "{e}");
        let e = p.explain(status(429, 971, "Please wait"), "listing", "example.com.");
        assert!(e.is_transient());
        let e = p.explain(status(502, 0, ""), "listing", "example.com.");
        assert!(e.is_transient());
        let e = p.explain(
            status(400, 81058, "An identical record already exists."),
            "creating",
            "example.com.",
        );
        assert!(
            e.to_string()
                .contains("code 81058: An identical record already exists"),
            "{e}"
        );
        assert!(status(400, 81057, "x").has_code(&[81057]));
    }

    #[test]
    fn pages() {
        let info = |page, total| ResultInfo {
            page: Some(page),
            total_pages: Some(total),
            total_count: None,
        };
        assert!(more_pages(Some(&info(1, 2)), 1, 100, 100));
        assert!(!more_pages(Some(&info(2, 2)), 2, 3, 100));
        assert!(!more_pages(None, 1, 3, 100));
        assert!(more_pages(None, 1, 100, 100));
        assert!(!more_pages(None, 1, 0, 100));
    }
}
