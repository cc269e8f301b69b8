//! The HTTP-01 self-check: fetch the challenge URL the way the CA will, before the
//! CA is told, and say in cert-manager's words what went wrong.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};

use crate::http01::{Http01Config, challenge_path};

/// What the self-check found when it is not the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelfCheckError {
    #[error("failed to perform self check GET request '{url}': {reason}")]
    Request { url: String, reason: String },
    #[error("wrong status code '{code}', expected '200'{hint}")]
    Status { code: u16, hint: String },
    #[error(
        "did not get expected response when querying endpoint, expected {expected:?} but got: {got}"
    )]
    Body { expected: String, got: String },
}

/// The URL the CA fetches for `host` and `token`.
pub fn challenge_url(host: &str, port: u16, token: &str) -> String {
    if port == 80 {
        format!("http://{host}{}", challenge_path(token))
    } else {
        format!("http://{host}:{port}{}", challenge_path(token))
    }
}

pub(crate) async fn resolve(host: &str, nameservers: &[SocketAddr]) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    if nameservers.is_empty() {
        let addrs = tokio::net::lookup_host((host, 80))
            .await
            .map_err(|e| format!("lookup {host}: {e}"))?;
        return Ok(addrs.map(|a| a.ip()).collect());
    }
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    let mut cfg = ResolverConfig::default();
    for ns in nameservers {
        let mut s = NameServerConfig::udp_and_tcp(ns.ip());
        for c in s.connections.iter_mut() {
            c.port = ns.port();
        }
        cfg.add_name_server(s);
    }
    let resolver = hickory_resolver::Resolver::builder_with_config(
        cfg,
        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
    )
    .build()
    .map_err(|e| format!("lookup {host}: {e}"))?;
    let fqdn = format!("{}.", host.trim_end_matches('.'));
    let found = resolver
        .lookup_ip(fqdn.as_str())
        .await
        .map_err(|e| format!("lookup {host}: no such host ({e})"))?;
    Ok(found.iter().collect())
}

/// How far a fetch of the challenge URL got (what [`probe`] saw).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "stage")]
pub enum FetchOutcome {
    /// The host name did not resolve (`reason` in Go's words, e.g. `lookup a.example.com: no such host`).
    Unresolved { reason: String },
    /// It resolved, but no TCP connection could be made to `addr`.
    Unreachable { addr: SocketAddr, reason: String },
    /// Connected, but the request failed or got no answer in time.
    NoResponse { addr: SocketAddr, reason: String },
    /// An HTTP answer came.
    Answered {
        addr: SocketAddr,
        status: u16,
        /// The `Location` header of a redirect.
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        body: String,
    },
}

/// One fetch of a challenge URL, the way the CA makes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fetch {
    pub url: String,
    /// The addresses the host resolved to (empty when it did not).
    pub resolved: Vec<IpAddr>,
    pub outcome: FetchOutcome,
}

const TIMEOUT_REASON: &str =
    "context deadline exceeded (Client.Timeout exceeded while awaiting headers)";

/// GETs the challenge URL of `host` and `token` and reports how far it got.
pub async fn probe(host: &str, token: &str, config: &Http01Config) -> Fetch {
    let port = config.self_check_port;
    let url = challenge_url(host, port, token);
    let resolved = match resolve(host, &config.self_check_nameservers).await {
        Ok(ips) => ips,
        Err(e) => {
            return Fetch {
                url,
                resolved: Vec::new(),
                outcome: FetchOutcome::Unresolved { reason: e },
            };
        }
    };
    let Some(ip) = resolved.first().copied() else {
        return Fetch {
            url,
            resolved,
            outcome: FetchOutcome::Unresolved {
                reason: format!("lookup {host}: no such host"),
            },
        };
    };
    let addr = SocketAddr::new(ip, port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let stream = match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Fetch {
                url,
                resolved,
                outcome: FetchOutcome::Unreachable {
                    addr,
                    reason: format!("dial tcp {addr}: {e}"),
                },
            };
        }
        Err(_) => {
            return Fetch {
                url,
                resolved,
                outcome: FetchOutcome::Unreachable {
                    addr,
                    reason: TIMEOUT_REASON.into(),
                },
            };
        }
    };
    let fetch = async {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = http::Request::get(challenge_path(token))
            .header(http::header::HOST, host)
            .header(http::header::USER_AGENT, "certgate-self-check")
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| e.to_string())?;
        let rsp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = rsp.status();
        let location = rsp
            .headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let body = rsp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, location, body))
    };
    let outcome = match tokio::time::timeout_at(deadline, fetch).await {
        Err(_) => FetchOutcome::NoResponse {
            addr,
            reason: TIMEOUT_REASON.into(),
        },
        Ok(Err(reason)) => FetchOutcome::NoResponse { addr, reason },
        Ok(Ok((status, location, body))) => FetchOutcome::Answered {
            addr,
            status: status.as_u16(),
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        },
    };
    Fetch {
        url,
        resolved,
        outcome,
    }
}

impl FetchOutcome {
    /// Whether the answer was a redirect, and where to.
    pub fn redirect(&self) -> Option<(u16, Option<&str>)> {
        match self {
            FetchOutcome::Answered {
                status, location, ..
            } if (300..400).contains(status) => Some((*status, location.as_deref())),
            _ => None,
        }
    }
}

impl Fetch {
    /// The self-check's verdict on this fetch: `Ok` when the body is `key`.
    pub fn verdict(&self, key: &str) -> Result<(), SelfCheckError> {
        let url = &self.url;
        let req_err = |reason: String| SelfCheckError::Request {
            url: url.clone(),
            reason: format!("Get {url:?}: {reason}"),
        };
        match &self.outcome {
            FetchOutcome::Unresolved { reason } => Err(req_err(format!("dial tcp: {reason}"))),
            FetchOutcome::Unreachable { reason, .. } | FetchOutcome::NoResponse { reason, .. } => {
                Err(req_err(reason.clone()))
            }
            FetchOutcome::Answered { status, body, .. } => {
                if *status != 200 {
                    let hint = match self.outcome.redirect() {
                        Some((_, Some(l))) => format!(
                            " (redirected to {l}: the challenge path must answer over plain HTTP; a forced HTTPS redirect on the host's Ingress or Gateway catches it)"
                        ),
                        _ => String::new(),
                    };
                    return Err(SelfCheckError::Status {
                        code: *status,
                        hint,
                    });
                }
                if body.trim() != key {
                    return Err(SelfCheckError::Body {
                        expected: key.to_string(),
                        got: body.chars().take(200).collect(),
                    });
                }
                Ok(())
            }
        }
    }
}

/// GETs the challenge URL and compares the body with `key`.
pub async fn check(
    host: &str,
    token: &str,
    key: &str,
    config: &Http01Config,
) -> Result<(), SelfCheckError> {
    probe(host, token, config).await.verdict(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_port_only_when_not_80() {
        assert_eq!(
            challenge_url("a.example.com", 80, "t"),
            "http://a.example.com/.well-known/acme-challenge/t"
        );
        assert_eq!(
            challenge_url("a.example.com", 5002, "t"),
            "http://a.example.com:5002/.well-known/acme-challenge/t"
        );
    }

    #[tokio::test]
    async fn reports_redirects_wrong_bodies_and_unreachable_hosts() {
        use axum::routing::get;
        let app = axum::Router::new()
            .route(
                "/.well-known/acme-challenge/redirect",
                get(|| async {
                    (
                        axum::http::StatusCode::MOVED_PERMANENTLY,
                        [(axum::http::header::LOCATION, "https://a.example.com/")],
                    )
                }),
            )
            .route(
                "/.well-known/acme-challenge/good",
                get(|| async { "good.key" }),
            )
            .route("/.well-known/acme-challenge/bad", get(|| async { "other" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let cfg = Http01Config {
            self_check_port: port,
            ..Default::default()
        };
        check("127.0.0.1", "good", "good.key", &cfg).await.unwrap();
        let e = check("127.0.0.1", "redirect", "k", &cfg).await.unwrap_err();
        assert!(
            e.to_string()
                .starts_with("wrong status code '301', expected '200'"),
            "{e}"
        );
        assert!(e.to_string().contains("plain HTTP"), "{e}");
        let e = check("127.0.0.1", "bad", "k", &cfg).await.unwrap_err();
        assert!(
            e.to_string().contains("expected \"k\" but got: other"),
            "{e}"
        );
        let closed = Http01Config {
            self_check_port: 1,
            ..Default::default()
        };
        let e = check("127.0.0.1", "t", "k", &closed).await.unwrap_err();
        assert!(
            e.to_string().starts_with("failed to perform self check GET request 'http://127.0.0.1:1/.well-known/acme-challenge/t': Get"),
            "{e}"
        );
    }
}
