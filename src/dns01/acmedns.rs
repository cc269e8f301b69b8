//! The acme-dns provider (github.com/joohoi/acme-dns), from cert-manager's `acmeDNS`
//! solver fields: `host`, the acme-dns API, and `accountSecretRef`, a Secret key
//! holding JSON that maps each domain to its acme-dns account (`{"username",
//! "password", "fulldomain", "subdomain", "allowfrom"}`, as acme-dns's `/register`
//! returns it).
//!
//! acme-dns serves one TXT name per account, its `fulldomain`; users delegate
//! `_acme-challenge.<domain>` to it with a CNAME. present is one request, `POST
//! {host}/update` with headers `X-Api-User` and `X-Api-Key` and body `{"subdomain",
//! "txt"}`, whatever `cnameStrategy` says: acme-dns writes at the account's
//! `fulldomain`, and the CA and certgate's propagation check follow the CNAME there.
//! acme-dns keeps the last two values written per account, so a wildcard and its apex
//! fit; presenting a value again takes a slot but evicts nothing still needed while at
//! most two values are in flight. acme-dns cannot delete: cleanup does nothing (as in
//! cert-manager) and stale values are overwritten by later ones.
//!
//! Which account: cert-manager looks it up by the Challenge's `dnsName`, the domain
//! (a wildcard's without `*.`). Providers are given the record name, so the domain is
//! that name without its `_acme-challenge.` label (keys match case-insensitively and
//! without trailing dot; a `*.` key matches its base domain too). When `cnameStrategy:
//! Follow` already led the name to an account's `fulldomain`, that account is used.
//!
//! Throttling (429) and server errors (5xx, from acme-dns or a proxy before it) and
//! unanswered requests are retried with exponential backoff and jitter. The password
//! appears in no log, `Debug` output or error; a JSON problem in the Secret is told
//! by position, never by quoting it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest012 as reqwest;
use serde::Deserialize;
use serde_json::json;
use tracing::debug;

use super::cloudflare::{new_client, without_url};
use super::provider::{Provider, ProviderError};
use super::zone_batch::Backoff;
use crate::api::acme_dns01::AcmeIssuerDns01ProviderAcmeDns;

/// The solver fields, for messages.
pub const HOST_FIELD: &str = "acmeDNS.host";
pub const ACCOUNT_FIELD: &str = "acmeDNS.accountSecretRef";
/// The label in front of a domain in its challenge record name.
const CHALLENGE_LABEL: &str = "_acme-challenge.";

/// What went wrong with an acme-dns solver. Messages say what to fix and never carry
/// the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcmeDnsError {
    #[error(
        "{HOST_FIELD} \"{host}\" is not a usable URL: {reason}; expected the acme-dns API, e.g. https://auth.acme-dns.io"
    )]
    InvalidHost { host: String, reason: String },
    #[error(
        "{source_} is not a list of acme-dns accounts: {reason}; it must be JSON mapping each domain to \
         {{\"username\", \"password\", \"fulldomain\", \"subdomain\"}} as acme-dns's /register returns them"
    )]
    InvalidAccounts { source_: String, reason: String },
    #[error(
        "account credentials not found for domain {domain}: {source_} has no acme-dns account for it \
         (it has: {known}); add \"{domain}\": {{\"username\", \"password\", \"fulldomain\", \"subdomain\"}} to it"
    )]
    NoAccount {
        domain: String,
        source_: String,
        known: String,
    },
    #[error(
        "no acme-dns account in {source_} has fulldomain {fqdn}, where cnameStrategy: Follow led the challenge record \
         (it has: {known}); add the account of that fulldomain, or drop cnameStrategy: Follow"
    )]
    NoAccountForTarget {
        fqdn: String,
        source_: String,
        known: String,
    },
    #[error("the acme-dns account for {domain} in {source_} has no \"{field}\"")]
    IncompleteAccount {
        domain: String,
        source_: String,
        field: &'static str,
    },
    #[error(
        "acme-dns at {host} refused the account for {domain} from {source_} (HTTP {status}: {error}): \
         the username or password is wrong, the subdomain is not the account's, or certgate's address is \
         outside the account's allowfrom{allowfrom}"
    )]
    Forbidden {
        host: String,
        domain: String,
        source_: String,
        status: u16,
        error: String,
        allowfrom: String,
    },
    #[error("acme-dns at {host} refused the update for {domain} (HTTP {status}: {error}){hint}")]
    Rejected {
        host: String,
        domain: String,
        status: u16,
        error: String,
        hint: String,
    },
    #[error(
        "{host} has no acme-dns update API (HTTP 404 for {url}): check {HOST_FIELD}, the acme-dns API's base URL"
    )]
    NoApi { host: String, url: String },
    #[error(
        "acme-dns at {host} failed when updating the record for {domain} (HTTP {status}{error}), after {attempts} attempt(s): retrying later"
    )]
    ServerError {
        host: String,
        domain: String,
        status: u16,
        error: String,
        attempts: u32,
    },
    #[error(
        "no answer from acme-dns at {host} when updating the record for {domain}, after {attempts} attempt(s): {reason}"
    )]
    Unreachable {
        host: String,
        domain: String,
        attempts: u32,
        reason: String,
    },
}

impl AcmeDnsError {
    /// Whether retrying without any change may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::ServerError { .. } | Self::Unreachable { .. })
    }
}

impl From<AcmeDnsError> for ProviderError {
    fn from(e: AcmeDnsError) -> Self {
        if e.is_transient() {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Misconfigured(Box::new(e))
        }
    }
}

/// One acme-dns account. The password never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub password: String,
    pub fulldomain: String,
    pub subdomain: String,
    pub allowfrom: Vec<String>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("fulldomain", &self.fulldomain)
            .field("subdomain", &self.subdomain)
            .field("allowfrom", &self.allowfrom)
            .finish_non_exhaustive()
    }
}

/// An account as JSON may hold it (any field may be missing or null, as Go reads it).
#[derive(Deserialize)]
struct RawAccount {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    fulldomain: Option<String>,
    #[serde(default)]
    subdomain: Option<String>,
    #[serde(default)]
    allowfrom: Option<Vec<String>>,
}

/// `domain` as accounts are looked up: lowercase, without trailing dot or leading `*.`.
fn domain_key(domain: &str) -> String {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    d.strip_prefix("*.").map(String::from).unwrap_or(d)
}

/// What is wrong with JSON, by position: serde_json's own messages may quote the text.
fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => {
            format!("not valid JSON (line {}, column {})", e.line(), e.column())
        }
        Category::Data => format!(
            "not an object of accounts (line {}, column {})",
            e.line(),
            e.column()
        ),
        Category::Io => "unreadable".into(),
    }
}

/// The accounts of an `acmeDNS.accountSecretRef` Secret key, by domain.
#[derive(Clone, Debug)]
pub struct Accounts {
    by_domain: BTreeMap<String, Account>,
    /// Where they came from, e.g. `Secret ns/acme-dns key "acmedns.json"`.
    source: String,
}

impl Accounts {
    /// Parses the Secret's JSON; `source` names it in messages.
    pub fn parse(json: &str, source: &str) -> Result<Accounts, AcmeDnsError> {
        let raw: BTreeMap<String, RawAccount> =
            serde_json::from_str(json).map_err(|e| AcmeDnsError::InvalidAccounts {
                source_: source.to_string(),
                reason: json_problem(&e),
            })?;
        let mut by_domain = BTreeMap::new();
        // Exact keys first, so that `example.com` wins over `*.example.com`.
        let (wild, exact): (Vec<_>, Vec<_>) = raw
            .into_iter()
            .partition(|(k, _)| k.trim().starts_with("*."));
        for (key, a) in exact.into_iter().chain(wild) {
            let account = Account {
                username: a.username.unwrap_or_default().trim().to_string(),
                password: a.password.unwrap_or_default().trim().to_string(),
                fulldomain: a.fulldomain.unwrap_or_default().trim().to_string(),
                subdomain: a.subdomain.unwrap_or_default().trim().to_string(),
                allowfrom: a.allowfrom.unwrap_or_default(),
            };
            by_domain.entry(domain_key(&key)).or_insert(account);
        }
        if by_domain.is_empty() {
            return Err(AcmeDnsError::InvalidAccounts {
                source_: source.to_string(),
                reason: "it holds no account".into(),
            });
        }
        Ok(Accounts {
            by_domain,
            source: source.to_string(),
        })
    }

    /// The domains with an account.
    pub fn domains(&self) -> Vec<&str> {
        self.by_domain.keys().map(String::as_str).collect()
    }

    fn known(&self) -> String {
        self.domains().join(", ")
    }

    /// The account of `domain` (a wildcard's `*.` ignored).
    pub fn for_domain(&self, domain: &str) -> Result<(String, &Account), AcmeDnsError> {
        let key = domain_key(domain);
        match self.by_domain.get(&key) {
            Some(a) => Ok((key, a)),
            None => Err(AcmeDnsError::NoAccount {
                domain: key,
                source_: self.source.clone(),
                known: self.known(),
            }),
        }
    }

    /// The account for challenge record `fqdn`: the domain's when `fqdn` is
    /// `_acme-challenge.<domain>`, else the account whose `fulldomain` it is.
    pub fn for_record(&self, fqdn: &str) -> Result<(String, &Account), AcmeDnsError> {
        let name = super::fqdn(fqdn);
        let name = name.trim_end_matches('.');
        if let Some(domain) = name.strip_prefix(CHALLENGE_LABEL) {
            return self.for_domain(domain);
        }
        self.by_domain
            .iter()
            .find(|(_, a)| domain_key(&a.fulldomain) == name)
            .map(|(d, a)| (d.clone(), a))
            .ok_or_else(|| AcmeDnsError::NoAccountForTarget {
                fqdn: format!("{name}."),
                source_: self.source.clone(),
                known: self.known(),
            })
    }
}

/// `{host}/update` as a URL.
fn update_url(host: &str) -> Result<reqwest::Url, AcmeDnsError> {
    let invalid = |reason: &str| AcmeDnsError::InvalidHost {
        host: host.to_string(),
        reason: reason.to_string(),
    };
    if host.trim().is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut url = reqwest::Url::parse(host.trim()).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid("the scheme must be https (or http)"));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(invalid("no host"));
    }
    let path = format!("{}/update", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// A failed update request.
enum CallError {
    Transport(String),
    Status { status: u16, error: String },
}

impl CallError {
    fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
        }
    }
}

/// Updates acme-dns accounts' TXT records.
#[derive(Clone)]
pub struct AcmeDnsProvider {
    http: reqwest::Client,
    host: String,
    url: reqwest::Url,
    accounts: Arc<Accounts>,
    backoff: Backoff,
}

impl fmt::Debug for AcmeDnsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcmeDnsProvider")
            .field("host", &self.host)
            .field("accounts", &self.accounts.source)
            .field("domains", &self.accounts.domains())
            .finish_non_exhaustive()
    }
}

impl AcmeDnsProvider {
    /// A provider for the acme-dns API at `host` with the accounts of `accounts_json`,
    /// which came from `source` (e.g. `Secret ns/acme-dns key "acmedns.json"`).
    pub fn new(host: &str, accounts_json: &str, source: &str) -> Result<Self, AcmeDnsError> {
        let url = update_url(host)?;
        let accounts = Accounts::parse(accounts_json, source)?;
        let http = new_client().map_err(|reason| AcmeDnsError::Unreachable {
            host: host.to_string(),
            domain: String::new(),
            attempts: 0,
            reason,
        })?;
        Ok(Self {
            http,
            host: host.trim().to_string(),
            url,
            accounts: Arc::new(accounts),
            backoff: Backoff::default(),
        })
    }

    /// The same provider retrying as `backoff` says.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The accounts it holds.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    async fn send(&self, account: &Account, body: &serde_json::Value) -> Result<(), CallError> {
        let mut key = reqwest::header::HeaderValue::from_str(&account.password)
            .map_err(|_| CallError::Transport("the password cannot be sent as a header".into()))?;
        key.set_sensitive(true);
        let user = reqwest::header::HeaderValue::from_str(&account.username)
            .map_err(|_| CallError::Transport("the username cannot be sent as a header".into()))?;
        let response = self
            .http
            .post(self.url.clone())
            .header("X-Api-User", user)
            .header("X-Api-Key", key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| CallError::Transport(without_url(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let bytes = response.bytes().await.unwrap_or_default();
        let error = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or_default();
        Err(CallError::Status {
            status: status.as_u16(),
            error,
        })
    }

    /// Writes `value` into the account of challenge record `fqdn`.
    pub async fn update(&self, fqdn: &str, value: &str) -> Result<(), AcmeDnsError> {
        let (domain, account) = self.accounts.for_record(fqdn)?;
        for (field, v) in [
            ("username", &account.username),
            ("password", &account.password),
            ("subdomain", &account.subdomain),
        ] {
            if v.is_empty() {
                return Err(AcmeDnsError::IncompleteAccount {
                    domain,
                    source_: self.accounts.source.clone(),
                    field,
                });
            }
        }
        let body = json!({"subdomain": account.subdomain, "txt": value});
        debug!(
            %domain,
            subdomain = %account.subdomain,
            host = %self.host,
            "updating the acme-dns TXT record"
        );
        let mut n = 0;
        let e = loop {
            let r = self.send(account, &body).await;
            n += 1;
            match r {
                Ok(()) => return Ok(()),
                Err(e) if e.retryable() && n < self.backoff.attempts.max(1) => {
                    tokio::time::sleep(self.backoff.delay(n - 1)).await;
                }
                Err(e) => break e,
            }
        };
        let host = self.host.clone();
        Err(match e {
            CallError::Transport(reason) => AcmeDnsError::Unreachable {
                host,
                domain,
                attempts: n,
                reason,
            },
            CallError::Status { status, error } => match status {
                401 | 403 => AcmeDnsError::Forbidden {
                    host,
                    domain,
                    source_: self.accounts.source.clone(),
                    status,
                    error: if error.is_empty() {
                        "forbidden".into()
                    } else {
                        error
                    },
                    allowfrom: if account.allowfrom.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", account.allowfrom.join(", "))
                    },
                },
                404 => AcmeDnsError::NoApi {
                    host,
                    url: self.url.to_string(),
                },
                s if s == 429 || s >= 500 => AcmeDnsError::ServerError {
                    host,
                    domain,
                    status: s,
                    error: if error.is_empty() {
                        String::new()
                    } else {
                        format!(": {error}")
                    },
                    attempts: n,
                },
                s => AcmeDnsError::Rejected {
                    host,
                    domain,
                    status: s,
                    hint: match error.as_str() {
                        "bad_txt" => "; acme-dns takes values of 43 base64url characters, as DNS-01 values are".into(),
                        "bad_subdomain" => format!(
                            "; the account's subdomain \"{}\" is not a DNS label: check it in {}",
                            account.subdomain, self.accounts.source
                        ),
                        _ => String::new(),
                    },
                    error: if error.is_empty() {
                        "no error given".into()
                    } else {
                        error
                    },
                },
            },
        })
    }
}

impl Provider for AcmeDnsProvider {
    fn present<'a>(
        &'a self,
        _zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move { self.update(fqdn, value).await.map_err(Into::into) })
    }

    /// Nothing: acme-dns has no way to remove a value (cert-manager does the same);
    /// it is overwritten by the next ones.
    fn cleanup<'a>(
        &'a self,
        _zone: &'a str,
        fqdn: &'a str,
        _value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            debug!(%fqdn, "acme-dns cannot delete TXT values: left to be overwritten");
            Ok(())
        })
    }
}

/// The provider of an `acmeDNS` solver, with its accounts read from the Secret key
/// `accountSecretRef` names in `secret_ns`.
pub async fn from_solver(
    client: &kube::Client,
    cfg: &AcmeIssuerDns01ProviderAcmeDns,
    secret_ns: &str,
) -> Result<AcmeDnsProvider, String> {
    use super::credentials::{describe_secret_key, secret_value};
    let json = secret_value(client, secret_ns, &cfg.account_secret_ref, ACCOUNT_FIELD).await?;
    let source = describe_secret_key(secret_ns, &cfg.account_secret_ref);
    AcmeDnsProvider::new(&cfg.host, &json, &source).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use certgate_emulators::acmedns::{self as emu, AcmeDnsEmulator, Failure};
    use std::time::Duration;

    const SOURCE: &str = "Secret cert-manager/acme-dns key \"acmedns.json\"";
    const NAME: &str = "_acme-challenge.example.com.";

    fn fast() -> Backoff {
        Backoff {
            base: Duration::from_millis(5),
            max: Duration::from_millis(50),
            attempts: 3,
        }
    }

    fn value(n: u8) -> String {
        super::super::txt_value(&format!("acme-dns-{n}"))
    }

    fn provider(e: &AcmeDnsEmulator, accounts: &[(&str, &emu::Account)]) -> AcmeDnsProvider {
        AcmeDnsProvider::new(&e.api_url(), &emu::accounts_json(accounts), SOURCE)
            .unwrap()
            .with_backoff(fast())
    }

    #[tokio::test]
    async fn one_update_request_as_cert_manager_sends_it() {
        let e = AcmeDnsEmulator::start().await.unwrap();
        let a = e.register(&[]);
        let p = provider(&e, &[("example.com", &a)]);
        let v = value(1);
        p.present("example.com.", NAME, &v).await.unwrap();
        let log = e.update_log();
        assert_eq!(log.len(), 1, "{log:#?}");
        assert_eq!(log[0].user.as_deref(), Some(a.username.as_str()));
        assert!(log[0].has_key);
        assert_eq!(log[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(
            log[0].body,
            Some(json!({"subdomain": a.subdomain, "txt": v}))
        );
        assert_eq!(e.txt_values(&a.subdomain), vec![v.clone()]);
        // Served over DNS at the account's fulldomain.
        assert_eq!(e.zone_data().txt_values(&a.fulldomain), vec![v.clone()]);
        // Clean-up sends nothing and leaves the value.
        let requests = e.requests();
        p.cleanup("example.com.", NAME, &v).await.unwrap();
        assert_eq!(e.requests(), requests);
        assert_eq!(e.txt_values(&a.subdomain), vec![v]);
    }

    #[tokio::test]
    async fn a_wildcard_and_its_apex_fit_and_repeats_evict_nothing_needed() {
        let e = AcmeDnsEmulator::start().await.unwrap();
        let a = e.register(&[]);
        let p = provider(&e, &[("example.com", &a)]);
        let (wild, apex) = (value(1), value(2));
        // `*.example.com` and `example.com` share `_acme-challenge.example.com.`.
        p.present("example.com.", NAME, &wild).await.unwrap();
        p.present("example.com.", NAME, &wild).await.unwrap();
        p.present("example.com.", NAME, &apex).await.unwrap();
        p.present("example.com.", NAME, &wild).await.unwrap();
        let mut served = e.txt_values(&a.subdomain);
        served.sort();
        let mut want = vec![wild, apex];
        want.sort();
        assert_eq!(served, want);
    }

    #[test]
    fn accounts_are_found_as_cert_manager_finds_them() {
        let json = r#"{
            "Example.com.": {"username": "u1", "password": "p1", "fulldomain": "s1.auth.example.org", "subdomain": "s1", "allowfrom": null},
            "*.wild.example.com": {"username": "u2", "password": "p2", "fulldomain": "s2.auth.example.org", "subdomain": "s2"},
            "wild.example.com": {"username": "u3", "password": "p3", "fulldomain": "s3.auth.example.org", "subdomain": "s3"}
        }"#;
        let accounts = Accounts::parse(json, SOURCE).unwrap();
        assert_eq!(accounts.domains(), vec!["example.com", "wild.example.com"]);
        let (d, a) = accounts.for_record("_acme-challenge.EXAMPLE.com.").unwrap();
        assert_eq!((d.as_str(), a.username.as_str()), ("example.com", "u1"));
        // The exact key wins over the wildcard one.
        let (_, a) = accounts
            .for_record("_acme-challenge.wild.example.com")
            .unwrap();
        assert_eq!(a.username, "u3");
        // cnameStrategy: Follow led to the account's fulldomain.
        let (d, a) = accounts.for_record("s1.auth.example.org.").unwrap();
        assert_eq!((d.as_str(), a.username.as_str()), ("example.com", "u1"));
        let e = accounts
            .for_record("_acme-challenge.other.example.net.")
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("account credentials not found for domain other.example.net")
                && msg.contains(SOURCE)
                && msg.contains("it has: example.com, wild.example.com")
                && !msg.contains("p1"),
            "{msg}"
        );
        assert!(!e.is_transient());
        let e = accounts.for_record("elsewhere.example.org.").unwrap_err();
        assert!(e.to_string().contains("cnameStrategy: Follow"), "{e}");
    }

    #[test]
    fn json_problems_are_told_without_quoting_the_secret() {
        for bad in [
            r#"{"example.com": {"password": "hunter2-secret""#,
            r#"{"duck": "hunter2-secret"}"#,
            r#"["hunter2-secret"]"#,
            "{}",
        ] {
            let e = Accounts::parse(bad, SOURCE).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.contains(SOURCE), "{e}");
        }
        let json =
            r#"{"example.com": {"username": "u", "password": "hunter2-secret", "subdomain": "s"}}"#;
        let p = AcmeDnsProvider::new("https://auth.acme-dns.io/", json, SOURCE).unwrap();
        let debug = format!("{p:?} {:?}", p.accounts());
        assert!(
            !debug.contains("hunter2") && debug.contains("example.com"),
            "{debug}"
        );
        assert_eq!(p.url.as_str(), "https://auth.acme-dns.io/update");
        assert!(AcmeDnsProvider::new("", json, SOURCE).is_err());
        assert!(AcmeDnsProvider::new("ftp://x", json, SOURCE).is_err());
    }

    #[tokio::test]
    async fn refusals_name_the_secret_and_say_what_to_fix() {
        let e = AcmeDnsEmulator::start().await.unwrap();
        let a = e.register(&[]);
        let mut wrong = a.clone();
        wrong.password = "x".repeat(40);
        let err = provider(&e, &[("example.com", &wrong)])
            .present("example.com.", NAME, &value(1))
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains(SOURCE)
                && msg.contains("HTTP 401: forbidden")
                && !msg.contains(&wrong.password)
                && !msg.contains(&a.password),
            "{msg}"
        );

        // Only allowed from elsewhere.
        let fenced = e.register(&["192.0.2.0/24"]);
        let msg = provider(&e, &[("example.com", &fenced)])
            .present("example.com.", NAME, &value(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(msg.contains("allowfrom (192.0.2.0/24)"), "{msg}");

        // A value acme-dns does not take.
        let err = provider(&e, &[("example.com", &a)])
            .present("example.com.", NAME, "short")
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        assert!(
            err.to_string().contains("bad_txt") && err.to_string().contains("43"),
            "{err}"
        );

        // Not acme-dns.
        let p = AcmeDnsProvider::new(
            &format!("{}/nothing-here", e.api_url()),
            &emu::accounts_json(&[("example.com", &a)]),
            SOURCE,
        )
        .unwrap();
        let msg = p
            .present("example.com.", NAME, &value(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("HTTP 404") && msg.contains(HOST_FIELD),
            "{msg}"
        );
        assert_eq!(e.updates(), 0);
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retried() {
        let e = AcmeDnsEmulator::start().await.unwrap();
        let a = e.register(&[]);
        let p = provider(&e, &[("example.com", &a)]);
        e.inject([Failure(429), Failure(500)]);
        p.present("example.com.", NAME, &value(1)).await.unwrap();
        assert_eq!(e.update_log().len(), 3);
        e.inject([Failure(502); 3]);
        let err = p
            .present("example.com.", NAME, &value(2))
            .await
            .unwrap_err();
        assert!(err.is_transient());
        assert!(
            err.to_string().contains("HTTP 502") && err.to_string().contains("3 attempt(s)"),
            "{err}"
        );
        let p = AcmeDnsProvider::new(
            "http://127.0.0.1:1",
            &emu::accounts_json(&[("example.com", &a)]),
            SOURCE,
        )
        .unwrap()
        .with_backoff(fast());
        let err = p
            .present("example.com.", NAME, &value(3))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
    }
}
