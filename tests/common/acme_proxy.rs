//! A fault-injecting HTTPS reverse proxy in front of an ACME server (Pebble) for
//! tests: it rewrites the server's URLs to its own, counts requests by kind and
//! injects faults (5xx, 429 with Retry-After, badNonce, rateLimited, a reset
//! connection, a stall) on the requests of one kind. It also listens on a second
//! origin: after [`AcmeProxy::move_urls`] the directory (still at the first
//! origin's `/dir`) names URLs on the second and every other URL of the first
//! answers 404, as when a CA moves its endpoints.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;
type Upstream = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// What an ACME request is for, by Pebble's paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Directory,
    Nonce,
    Account,
    Order,
    Authz,
    Chall,
    Finalize,
    Cert,
    Other,
}

impl Kind {
    pub fn of(path: &str) -> Kind {
        let p = path.trim_start_matches('/');
        let prefix = |s: &str| p.starts_with(s);
        if p == "dir" {
            Kind::Directory
        } else if prefix("nonce-plz") {
            Kind::Nonce
        } else if prefix("sign-me-up") || prefix("my-account") || prefix("rollover-account-key") {
            Kind::Account
        } else if prefix("order-plz") || prefix("my-order") {
            Kind::Order
        } else if prefix("authZ") {
            Kind::Authz
        } else if prefix("chalZ") {
            Kind::Chall
        } else if prefix("finalize-order") {
            Kind::Finalize
        } else if prefix("certZ") {
            Kind::Cert
        } else {
            Kind::Other
        }
    }
}

/// A fault the proxy injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 503 Service Unavailable, no body.
    ServiceUnavailable,
    /// 429 with `Retry-After: 2`, no problem document.
    TooManyRequests,
    /// 400 `badNonce` problem with a fresh Replay-Nonce from the server.
    BadNonce,
    /// 429 `rateLimited` problem with `Retry-After: 2`.
    RateLimited,
    /// The connection dropped half way through the response body.
    Reset,
    /// The request held for this many seconds, then forwarded.
    Stall(u64),
    /// On finalize: 403 `caa` ("CAA record … prevents issuance"), and from then on
    /// the order reads `invalid` with that error (an order that goes invalid after
    /// it was ready).
    RefusedAtFinalize,
}

/// The CA's words for [`Fault::RefusedAtFinalize`].
pub const CAA_REFUSAL: &str = "proxy: CAA record for the name prevents issuance";

/// Which requests a fault hits and how many more times.
#[derive(Clone, Debug)]
pub struct Injection {
    pub fault: Fault,
    pub method: http::Method,
    pub kind: Kind,
    /// How many more requests it hits (`usize::MAX`: every one).
    pub remaining: usize,
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub method: http::Method,
    pub kind: Kind,
    pub path: String,
    /// The status answered (0: the connection was reset).
    pub status: u16,
    /// Whether it came to the second origin (see [`AcmeProxy::move_urls`]).
    pub second_origin: bool,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
}

#[derive(Default)]
struct State {
    injection: Option<Injection>,
    seen: Vec<Seen>,
    /// Order ids (the path's last segment) made invalid at finalize.
    invalid_orders: std::collections::HashSet<String>,
    /// The directory names the second origin; the first answers 404 but for `/dir`.
    moved: bool,
}

/// A running proxy; stops on drop.
pub struct AcmeProxy {
    pub directory_url: String,
    /// PEM of the CA that signed the proxy's certificate (for `caBundle`).
    pub ca_pem: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AcmeProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AcmeProxy {
    /// A proxy in front of the ACME server of `directory_url` (`https://host:port/dir`),
    /// whose TLS certificate `upstream_ca_pem` signed.
    pub async fn start(directory_url: &str, upstream_ca_pem: &str) -> AcmeProxy {
        let upstream_origin = directory_url
            .trim_end_matches("/dir")
            .trim_end_matches('/')
            .to_string();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "certgate test ACME proxy CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
            )
            .unwrap();
        // HTTP/1.1 only: a reset then closes one request's connection.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::pem::PemObject::pem_slice_iter(upstream_ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(client_config)
            .https_only()
            .enable_http1()
            .build();
        let upstream: Upstream =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let second_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let second_port = second_listener.local_addr().unwrap().port();
        let origin = |port: u16| Origin {
            origin: format!("https://127.0.0.1:{port}"),
            host: format!("127.0.0.1:{port}"),
        };
        let own = |second: bool| {
            Arc::new(Own {
                first: origin(port),
                second: origin(second_port),
                is_second: second,
                upstream_origin: upstream_origin.clone(),
                upstream: upstream.clone(),
            })
        };
        let state = Arc::new(Mutex::new(State::default()));
        let first = serve(listener, acceptor.clone(), own(false), state.clone());
        let second = serve(second_listener, acceptor, own(true), state.clone());
        let task = tokio::spawn(async move {
            let _ = tokio::join!(first, second);
        });
        AcmeProxy {
            directory_url: format!("https://127.0.0.1:{port}/dir"),
            ca_pem: ca.pem(),
            state,
            task,
        }
    }

    /// From now on the directory names the second origin's URLs and every URL of
    /// the first origin but the directory answers 404.
    pub fn move_urls(&self) {
        self.state.lock().unwrap().moved = true;
    }

    /// `caBundle` for an issuer pointed at the proxy.
    pub fn ca_bundle(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }

    /// Injects `fault` into the next `n` requests of `method` + `kind`, replacing
    /// any injection set before.
    pub fn inject(&self, fault: Fault, method: http::Method, kind: Kind, n: usize) {
        self.state.lock().unwrap().injection = Some(Injection {
            fault,
            method,
            kind,
            remaining: n,
        });
    }

    /// Stops injecting.
    pub fn clear(&self) {
        self.state.lock().unwrap().injection = None;
    }

    /// Forgets the requests seen so far.
    pub fn reset_log(&self) {
        self.state.lock().unwrap().seen.clear();
    }

    /// Every request seen since the last [`AcmeProxy::reset_log`].
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

/// Serves one origin of the proxy until the task is aborted.
fn serve(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    own: Arc<Own>,
    st: Arc<Mutex<State>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, own, st) = (acceptor.clone(), own.clone(), st.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let (own, st) = (own.clone(), st.clone());
                    async move { Ok::<_, std::convert::Infallible>(answer(req, own, st).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    })
}

struct Origin {
    origin: String,
    host: String,
}

/// What one listener of the proxy knows: both origins and which one it serves.
struct Own {
    first: Origin,
    second: Origin,
    is_second: bool,
    upstream_origin: String,
    upstream: Upstream,
}

impl Own {
    /// The origin the upstream is told it serves (it names and checks URLs by it).
    fn named(&self, moved: bool) -> &Origin {
        if self.is_second || moved {
            &self.second
        } else {
            &self.first
        }
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn record(st: &Mutex<State>, req: &Request, status: u16, f: Option<Fault>) {
    let (method, kind, path, second_origin) = req;
    st.lock().unwrap().seen.push(Seen {
        at: Instant::now(),
        method: method.clone(),
        kind: *kind,
        path: path.clone(),
        status,
        fault: f,
        second_origin: *second_origin,
    });
}

/// Method, kind, path and whether it came to the second origin.
type Request = (http::Method, Kind, String, bool);

fn problem(status: u16) -> http::response::Builder {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/problem+json")
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    own: Arc<Own>,
    st: Arc<Mutex<State>>,
) -> hyper::Response<Body> {
    let method = req.method().clone();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let kind = Kind::of(req.uri().path());
    let what = (
        method.clone(),
        kind,
        req.uri().path().to_string(),
        own.is_second,
    );
    let moved = st.lock().unwrap().moved;
    if moved && !own.is_second && kind != Kind::Directory {
        record(&st, &what, 404, None);
        let body = serde_json::json!({
            "type": "urn:ietf:params:acme:error:malformed",
            "detail": "proxy: no such URL here any more",
            "status": 404,
        });
        return problem(404).body(full(body.to_string())).unwrap();
    }
    let named = own.named(moved);
    let fault = {
        let mut s = st.lock().unwrap();
        match s.injection.as_mut() {
            Some(i) if i.remaining > 0 && i.method == method && i.kind == kind => {
                if i.remaining != usize::MAX {
                    i.remaining -= 1;
                }
                Some(i.fault)
            }
            _ => None,
        }
    };
    let mut reset = false;
    match fault {
        Some(Fault::ServiceUnavailable) => {
            record(&st, &what, 503, fault);
            return http::Response::builder()
                .status(503)
                .body(full("service unavailable"))
                .unwrap();
        }
        Some(Fault::TooManyRequests) => {
            record(&st, &what, 429, fault);
            return http::Response::builder()
                .status(429)
                .header("retry-after", "2")
                .body(full("too many requests"))
                .unwrap();
        }
        Some(Fault::RateLimited) => {
            record(&st, &what, 429, fault);
            let body = serde_json::json!({
                "type": "urn:ietf:params:acme:error:rateLimited",
                "detail": "proxy: too many new orders recently",
                "status": 429,
            });
            let mut b = problem(429).header("retry-after", "2");
            if let Some(n) = fresh_nonce(&own, named).await {
                b = b.header("replay-nonce", n);
            }
            return b.body(full(body.to_string())).unwrap();
        }
        Some(Fault::BadNonce) => {
            record(&st, &what, 400, fault);
            let body = serde_json::json!({
                "type": "urn:ietf:params:acme:error:badNonce",
                "detail": "proxy: JWS has an invalid anti-replay nonce",
                "status": 400,
            });
            let mut b = problem(400);
            if let Some(n) = fresh_nonce(&own, named).await {
                b = b.header("replay-nonce", n);
            }
            return b.body(full(body.to_string())).unwrap();
        }
        Some(Fault::RefusedAtFinalize) => {
            record(&st, &what, 403, fault);
            if let Some(id) = what.2.rsplit('/').next() {
                st.lock().unwrap().invalid_orders.insert(id.to_string());
            }
            let body = serde_json::json!({
                "type": "urn:ietf:params:acme:error:caa",
                "detail": CAA_REFUSAL,
                "status": 403,
            });
            let mut b = problem(403);
            if let Some(n) = fresh_nonce(&own, named).await {
                b = b.header("replay-nonce", n);
            }
            return b.body(full(body.to_string())).unwrap();
        }
        Some(Fault::Stall(secs)) => tokio::time::sleep(Duration::from_secs(secs)).await,
        Some(Fault::Reset) => reset = true,
        None => {}
    }

    // Forward, with the proxy's own Host so Pebble names (and checks JWS URLs
    // against) the proxy.
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let uri: http::Uri = format!("{}{}", own.upstream_origin, path_and_query)
        .parse()
        .unwrap();
    let mut up = http::Request::builder().method(parts.method).uri(uri);
    for (k, v) in parts.headers.iter() {
        if k != http::header::HOST {
            up = up.header(k, v);
        }
    }
    up = up.header(http::header::HOST, named.host.as_str());
    let response = match own
        .upstream
        .request(up.body(Full::new(body)).unwrap())
        .await
    {
        Ok(r) => r,
        Err(e) => {
            record(&st, &what, 502, fault);
            return http::Response::builder()
                .status(502)
                .body(full(format!("proxy: {e}")))
                .unwrap();
        }
    };
    let (mut parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let rewrite = |s: &str| s.replace(&own.upstream_origin, &named.origin);
    for name in [http::header::LOCATION, http::header::LINK] {
        let values: Vec<String> = parts
            .headers
            .get_all(&name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(rewrite))
            .collect();
        if !values.is_empty() {
            parts.headers.remove(&name);
            for v in values {
                parts.headers.append(&name, v.parse().unwrap());
            }
        }
    }
    let body: Bytes = match std::str::from_utf8(&body) {
        Ok(text) if text.contains(&own.upstream_origin) => rewrite(text).into(),
        _ => body,
    };
    // An order refused at finalize reads invalid from then on.
    let refused = kind == Kind::Order
        && what.2.starts_with("/my-order/")
        && what
            .2
            .rsplit('/')
            .next()
            .is_some_and(|id| st.lock().unwrap().invalid_orders.contains(id));
    let body: Bytes = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(mut order) if refused => {
            order["status"] = serde_json::json!("invalid");
            order["error"] = serde_json::json!({
                "type": "urn:ietf:params:acme:error:caa",
                "detail": CAA_REFUSAL,
                "status": 403,
            });
            order.to_string().into()
        }
        _ => body,
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    if reset {
        record(&st, &what, 0, fault);
        // The length promised, half the bytes sent, then the connection dropped.
        let half = body.slice(..body.len() / 2);
        parts
            .headers
            .insert(http::header::CONTENT_LENGTH, body.len().max(2).into());
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(half)),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "proxy: reset",
            )),
        ];
        let stream = StreamBody::new(futures::stream::iter(frames));
        return hyper::Response::from_parts(parts, BodyExt::boxed(stream));
    }
    record(&st, &what, parts.status.as_u16(), fault);
    hyper::Response::from_parts(parts, full(body))
}

/// A nonce fresh from the upstream server.
async fn fresh_nonce(own: &Own, named: &Origin) -> Option<String> {
    let req = http::Request::builder()
        .method(http::Method::HEAD)
        .uri(format!("{}/nonce-plz", own.upstream_origin))
        .header(http::header::HOST, named.host.as_str())
        .body(Full::new(Bytes::new()))
        .ok()?;
    let r = own.upstream.request(req).await.ok()?;
    r.headers()
        .get("replay-nonce")?
        .to_str()
        .ok()
        .map(str::to_string)
}
