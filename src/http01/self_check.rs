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

async fn resolve(host: &str, nameservers: &[SocketAddr]) -> Result<Vec<IpAddr>, String> {
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

/// GETs the challenge URL and compares the body with `key`.
pub async fn check(
    host: &str,
    token: &str,
    key: &str,
    config: &Http01Config,
) -> Result<(), SelfCheckError> {
    let port = config.self_check_port;
    let url = challenge_url(host, port, token);
    let req_err = |reason: String| SelfCheckError::Request {
        url: url.clone(),
        reason: format!("Get {url:?}: {reason}"),
    };
    let ips = resolve(host, &config.self_check_nameservers)
        .await
        .map_err(|e| req_err(format!("dial tcp: {e}")))?;
    let ip = ips
        .first()
        .copied()
        .ok_or_else(|| req_err(format!("dial tcp: lookup {host}: no such host")))?;
    let addr = SocketAddr::new(ip, port);
    let fetch = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("dial tcp {addr}: {e}"))?;
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
    let (status, location, body) = tokio::time::timeout(Duration::from_secs(10), fetch)
        .await
        .map_err(|_| {
            req_err(
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into(),
            )
        })?
        .map_err(req_err)?;
    if status.as_u16() != 200 {
        let hint = match (status.is_redirection(), location) {
            (true, Some(l)) => format!(
                " (redirected to {l}: the challenge path must answer over plain HTTP; a forced HTTPS redirect on the host's Ingress or Gateway catches it)"
            ),
            _ => String::new(),
        };
        return Err(SelfCheckError::Status {
            code: status.as_u16(),
            hint,
        });
    }
    let got = String::from_utf8_lossy(&body);
    if got.trim() != key {
        let shown: String = got.chars().take(200).collect();
        return Err(SelfCheckError::Body {
            expected: key.to_string(),
            got: shown,
        });
    }
    Ok(())
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
