//! The nameservers DNS-01 lookups go to, as cert-manager's
//! `--dns01-recursive-nameservers` takes them: `<host>:<port>` (plain DNS: UDP, then
//! TCP when the answer is truncated) or `https://<server>/<path>` (DNS over HTTPS,
//! RFC 8484), e.g. `8.8.8.8:53,[2001:4860:4860::8888]:53` or
//! `https://1.1.1.1/dns-query,https://8.8.8.8/dns-query`.
//!
//! A DNS-over-HTTPS query is what cert-manager's `httpDNSClient` sends: the packed
//! message POSTed as `application/dns-message`, an answer accepted only with status
//! 200, that content type and at most 128 KiB of body.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hickory_proto::op::Message;
use http_body_util::{BodyExt as _, Full, Limited};

/// The media type of DNS-over-HTTPS requests and answers (RFC 8484 §6).
pub const DOH_MEDIA_TYPE: &str = "application/dns-message";

/// The largest DNS-over-HTTPS answer body read (cert-manager's `maxDNSResponseSize`).
pub const MAX_DOH_RESPONSE: usize = 128 * 1024;

/// One nameserver to ask.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Nameserver {
    /// A DNS server at an address.
    Addr(SocketAddr),
    /// A DNS server named by host name, resolved by the system at each query (as a
    /// Go dialer does with `host:port`).
    Host { host: String, port: u16 },
    /// A DNS-over-HTTPS endpoint: the URL, as given.
    Https(String),
}

impl Nameserver {
    /// Whether queries to this server go over HTTPS.
    pub fn is_https(&self) -> bool {
        matches!(self, Self::Https(_))
    }

    /// The address of a server given by IP address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Addr(a) => Some(*a),
            _ => None,
        }
    }
}

impl From<SocketAddr> for Nameserver {
    fn from(addr: SocketAddr) -> Self {
        Self::Addr(addr)
    }
}

impl fmt::Display for Nameserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(a) => write!(f, "{a}"),
            Self::Host { host, port } => write!(f, "{host}:{port}"),
            Self::Https(url) => f.write_str(url),
        }
    }
}

/// A malformed nameserver, in the words of cert-manager's configuration validation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameserverError {
    #[error("invalid value {0:?}: must be in the format https://<DoH RFC 8484 server address>")]
    Https(String),
    #[error("invalid value {0:?}: must be in the format <ip address>:<port>")]
    HostPort(String),
}

impl FromStr for Nameserver {
    type Err = NameserverError;

    /// `https://…` is a DNS-over-HTTPS endpoint (an absolute `https` URL with a
    /// host); anything else must be `host:port` (`[v6]:port` for IPv6 addresses).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("https://") {
            let uri: http::Uri = s.parse().map_err(|_| NameserverError::Https(s.into()))?;
            let has_host = uri.host().is_some_and(|h| !h.is_empty());
            if uri.scheme_str() != Some("https") || !has_host {
                return Err(NameserverError::Https(s.into()));
            }
            return Ok(Self::Https(s.to_string()));
        }
        let bad = || NameserverError::HostPort(s.into());
        let (host, port) = split_host_port(s).ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Self::Addr(SocketAddr::new(ip, port)));
        }
        let valid_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid_name {
            return Err(bad());
        }
        Ok(Self::Host {
            host: host.to_string(),
            port,
        })
    }
}

/// Go's `net.SplitHostPort`: `host:port`, or `[host]:port` when the host has colons.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, port))
}

/// Why a DNS-over-HTTPS exchange failed (cert-manager's wording where it has one).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DohError {
    #[error("packing the query: {0}")]
    Pack(String),
    #[error("{0}")]
    Request(String),
    #[error("dns: server returned HTTP {code} error: {status:?}")]
    Status { code: u16, status: String },
    #[error("dns: unexpected Content-Type {found:?}; expected \"{DOH_MEDIA_TYPE}\"")]
    ContentType { found: String },
    #[error("reading the answer: {0}")]
    Body(String),
    #[error("unpacking the answer: {0}")]
    Unpack(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// A DNS-over-HTTPS client (HTTP/1.1 or HTTP/2, as the server offers), sharing
/// connections between queries.
#[derive(Clone)]
pub struct DohClient {
    client: Arc<HttpsClient>,
}

impl fmt::Debug for DohClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DohClient").finish_non_exhaustive()
    }
}

impl DohClient {
    /// A client trusting the platform's roots (as cert-manager's Go client trusts the
    /// system's), or only the certificates of `ca_bundle` (PEM) when given.
    pub fn new(ca_bundle: Option<&str>) -> Result<Self, String> {
        let builder = match ca_bundle {
            None => hyper_rustls::HttpsConnectorBuilder::new()
                .try_with_platform_verifier()
                .map_err(|e| format!("the platform's certificate verifier: {e}"))?,
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for der in crate::pki::pem::certificates(pem.as_bytes()) {
                    roots
                        .add(rustls::pki_types::CertificateDer::from(der))
                        .map_err(|e| format!("a DNS-over-HTTPS CA certificate: {e}"))?;
                }
                if roots.is_empty() {
                    return Err("the DNS-over-HTTPS CA bundle holds no certificate".into());
                }
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let connector = builder
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Self {
            client: Arc::new(client),
        })
    }

    /// POSTs `message` to `url` and returns the answer, whatever its response code.
    pub async fn exchange(
        &self,
        url: &str,
        message: &Message,
        timeout: Duration,
    ) -> Result<Message, DohError> {
        tokio::time::timeout(timeout, self.exchange_inner(url, message))
            .await
            .map_err(|_| DohError::Timeout(timeout))?
    }

    async fn exchange_inner(&self, url: &str, message: &Message) -> Result<Message, DohError> {
        let body = message
            .to_vec()
            .map_err(|e| DohError::Pack(e.to_string()))?;
        let request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, DOH_MEDIA_TYPE)
            .header(http::header::ACCEPT, DOH_MEDIA_TYPE)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| DohError::Request(e.to_string()))?;
        let response = self.client.request(request).await.map_err(|e| {
            // The connector's error (TLS, connection refused) is the useful part.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            DohError::Request(text)
        })?;
        let status = response.status();
        if status != http::StatusCode::OK {
            return Err(DohError::Status {
                code: status.as_u16(),
                status: status.to_string(),
            });
        }
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case(DOH_MEDIA_TYPE) {
            return Err(DohError::ContentType {
                found: content_type,
            });
        }
        let bytes = Limited::new(response.into_body(), MAX_DOH_RESPONSE)
            .collect()
            .await
            .map_err(|e| DohError::Body(e.to_string()))?
            .to_bytes();
        Message::from_vec(&bytes).map_err(|e| DohError::Unpack(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> Nameserver {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn cert_managers_formats_parse() {
        assert_eq!(
            ns("8.8.8.8:53"),
            Nameserver::Addr(SocketAddr::from(([8, 8, 8, 8], 53)))
        );
        assert_eq!(
            ns("[2001:4860:4860::8888]:53").to_string(),
            "[2001:4860:4860::8888]:53"
        );
        assert_eq!(
            ns("kube-dns.kube-system.svc.cluster.local:53"),
            Nameserver::Host {
                host: "kube-dns.kube-system.svc.cluster.local".into(),
                port: 53
            }
        );
        assert_eq!(
            ns("https://1.1.1.1/dns-query"),
            Nameserver::Https("https://1.1.1.1/dns-query".into())
        );
        assert!(ns("https://dns.google/dns-query").is_https());
        assert_eq!(
            ns("https://doh.example:8443/dns-query").to_string(),
            "https://doh.example:8443/dns-query"
        );
    }

    #[test]
    fn malformed_nameservers_are_refused_in_cert_managers_words() {
        for bad in [
            "8.8.8.8",
            "8.8.8.8:dns",
            "2001:db8::1:53",
            ":53",
            "http://1.1.1.1/dns-query",
        ] {
            let e = bad.parse::<Nameserver>().err();
            assert_eq!(
                e.map(|e| e.to_string()),
                Some(format!(
                    "invalid value {bad:?}: must be in the format <ip address>:<port>"
                )),
                "{bad}"
            );
        }
        for bad in ["https://", "https:///dns-query", "https://a b/dns-query"] {
            let e = bad.parse::<Nameserver>().err();
            assert_eq!(
                e.map(|e| e.to_string()),
                Some(format!(
                    "invalid value {bad:?}: must be in the format https://<DoH RFC 8484 server address>"
                )),
                "{bad}"
            );
        }
    }
}
