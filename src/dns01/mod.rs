//! The DNS-01 engine: solver selection, DNS lookups (zone, CNAMEs, authoritative
//! nameservers), propagation checks shared between challenges, and DNS providers
//! behind one two-call contract ([`Provider`]: present and cleanup).
//!
//! Names handed to providers and to the checker are absolute, with a trailing dot:
//! zone `example.com.`, record `_acme-challenge.example.com.`.

pub mod acmedns;
pub mod akamai;
pub mod api_provider;
pub mod azure;
pub mod clouddns;
pub mod cloudflare;
pub mod credentials;
pub mod digitalocean;
pub mod factory;
pub mod nameserver;
pub mod propagation;
pub mod provider;
pub mod resolver;
pub mod rfc2136;
pub mod route53;
pub mod selection;
pub mod webhook;
pub mod zone_batch;

use std::time::Duration;

use base64::Engine as _;
use hickory_proto::dnssec::DigestType;
use hickory_proto::dnssec::crypto::Digest;

pub use nameserver::Nameserver;
pub use provider::{Provider, ProviderError};

/// How DNS-01 lookups and propagation checks are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dns01Config {
    /// Recursive nameservers for zone, CNAME and nameserver lookups (cert-manager's
    /// `--dns01-recursive-nameservers`): `host:port` or DNS-over-HTTPS endpoints
    /// (`https://…/dns-query`), asked in order until one answers. Empty: the system's
    /// resolver configuration (`/etc/resolv.conf`).
    pub recursive_nameservers: Vec<Nameserver>,
    /// Check propagation only against `recursive_nameservers` instead of every
    /// authoritative nameserver of the zone (cert-manager's
    /// `--dns01-recursive-nameservers-only`).
    pub recursive_nameservers_only: bool,
    /// How often a pending record is checked again. Default 2 s. Answers are shared
    /// between checks of the same name for less than half of this.
    pub poll_period: Duration,
    /// How long [`propagation::Checker::wait`] waits for a record to become visible
    /// before giving up. Default 5 minutes: authoritative nameservers of the big DNS
    /// services usually converge within a minute or two, and a controller that
    /// gives up retries the whole challenge later anyway.
    pub timeout: Duration,
    /// The port the zone's authoritative nameservers are asked on. Default 53; tests
    /// set the port of their local server.
    pub authoritative_port: u16,
    /// How long one DNS query waits for an answer (UDP retries included) before it
    /// fails. Default 10 s (cert-manager's `DNSTimeout`).
    pub query_timeout: Duration,
    /// Where providers' HTTP APIs are reached. Default: each provider's public API.
    pub api_endpoints: ApiEndpoints,
    /// Whether a namespaced Issuer's solver may use the controller's own (ambient)
    /// cloud credentials (cert-manager's `--issuer-ambient-credentials`, off).
    pub issuer_ambient_credentials: bool,
    /// The same for ClusterIssuers (`--cluster-issuer-ambient-credentials`, on).
    pub cluster_issuer_ambient_credentials: bool,
    /// PEM certificates trusted for DNS-over-HTTPS nameservers in place of the
    /// platform's roots. Only tests set it (cert-manager, like certgate, trusts the
    /// system's roots, which `SSL_CERT_FILE` can extend).
    pub doh_ca_bundle: Option<String>,
}

/// Base URLs of DNS providers' HTTP APIs; `None` means the provider's public API.
/// Only tests and the conformance suite set them (to local emulators): the
/// controller has no flag or environment variable for them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiEndpoints {
    /// Cloudflare's v4 API, e.g. `http://127.0.0.1:8080/client/v4/`.
    pub cloudflare: Option<String>,
    /// Route53's (and STS's) API, e.g. moto's `http://127.0.0.1:5000`.
    pub route53: Option<String>,
    /// Cloud DNS's API root, e.g. `http://127.0.0.1:8080` (paths `/dns/v1/...`).
    pub cloud_dns: Option<String>,
    /// DigitalOcean's API root, e.g. `http://127.0.0.1:8080` (paths `/v2/...`). (An
    /// acme-dns solver names its API itself, in `acmeDNS.host`.)
    pub digitalocean: Option<String>,
    /// Azure Resource Manager's root, e.g. `http://127.0.0.1:8080/` (paths
    /// `/subscriptions/...`); the `environment`'s ARM endpoint when `None`.
    pub azure: Option<String>,
    /// The Entra ID authority (paths `/{tenant}/oauth2/v2.0/token`); the
    /// `environment`'s when `None`.
    pub azure_login: Option<String>,
    /// The Azure instance metadata service (managed identity), `http://169.254.169.254/`
    /// when `None`.
    pub azure_imds: Option<String>,
    /// Akamai's API root in place of `https://{serviceConsumerDomain}/`, e.g.
    /// `http://127.0.0.1:8080/` (paths `/config-dns/v2/...`).
    pub akamai: Option<String>,
}

impl Default for Dns01Config {
    fn default() -> Self {
        Self {
            recursive_nameservers: Vec::new(),
            recursive_nameservers_only: false,
            poll_period: Duration::from_secs(2),
            timeout: Duration::from_secs(300),
            authoritative_port: 53,
            query_timeout: Duration::from_secs(10),
            api_endpoints: ApiEndpoints::default(),
            issuer_ambient_credentials: false,
            cluster_issuer_ambient_credentials: true,
            doh_ca_bundle: None,
        }
    }
}

/// The TXT record name of a DNS-01 challenge for `domain`: `_acme-challenge.<domain>.`,
/// with a leading `*.` removed (a wildcard and its base name share one record name)
/// and exactly one trailing dot.
pub fn challenge_record_name(domain: &str) -> String {
    let domain = domain.trim();
    let domain = domain.strip_prefix("*.").unwrap_or(domain);
    let domain = domain.trim_end_matches('.');
    format!("_acme-challenge.{domain}.")
}

/// The TXT value of a DNS-01 challenge: the unpadded base64url SHA-256 digest of the
/// key authorization (RFC 8555 §8.4).
pub fn txt_value(key_authorization: &str) -> String {
    // SHA-256 is always available, so this cannot fail; an empty value would only
    // make the challenge fail, never panic.
    Digest::new(key_authorization.as_bytes(), DigestType::SHA256)
        .map(|d| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref()))
        .unwrap_or_default()
}

/// `name` with exactly one trailing dot, lowercased (DNS names compare case-insensitively).
pub(crate) fn fqdn(name: &str) -> String {
    let name = name.trim().trim_end_matches('.');
    format!("{}.", name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names() {
        for (domain, want) in [
            ("example.com", "_acme-challenge.example.com."),
            ("*.example.com", "_acme-challenge.example.com."),
            ("example.com.", "_acme-challenge.example.com."),
            ("*.sub.example.com.", "_acme-challenge.sub.example.com."),
            ("a.b.example.com", "_acme-challenge.a.b.example.com."),
        ] {
            assert_eq!(challenge_record_name(domain), want, "{domain}");
        }
    }

    #[test]
    fn txt_value_is_rfc8555_digest() {
        // RFC 8555 §8.4: base64url(SHA-256(keyAuthorization)), no padding. Vector from
        // the SHA-256 of "abc".
        assert_eq!(
            txt_value("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        let v = txt_value("token.thumbprint");
        assert_eq!(v.len(), 43);
        assert!(!v.contains('=') && !v.contains('+') && !v.contains('/'));
    }

    #[test]
    fn defaults() {
        let c = Dns01Config::default();
        assert!(c.recursive_nameservers.is_empty());
        assert!(!c.recursive_nameservers_only);
        assert_eq!(c.poll_period, Duration::from_secs(2));
        assert_eq!(c.timeout, Duration::from_secs(300));
        assert_eq!(c.authoritative_port, 53);
    }

    #[test]
    fn fqdn_normalises() {
        assert_eq!(fqdn("Example.COM"), "example.com.");
        assert_eq!(fqdn("example.com.."), "example.com.");
    }
}
