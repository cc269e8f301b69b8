//! A fault-injecting front for a provider's plain-HTTP API (an emulator, moto): it
//! forwards every request to the upstream and returns its answer, except that a
//! request matching an injected failure gets the failure's canned answer instead
//! (the provider's own error format, written by the test), optionally after the
//! upstream carried the request out (an answer lost on the way back). Every
//! request is logged with the status the client got.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

/// A canned answer for the next request that matches.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Only requests with this method (any when `None`).
    pub method: Option<&'static str>,
    /// Only requests whose path and query contain this (any when `None`).
    pub path_contains: Option<&'static str>,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// The upstream carries the request out first; the client still sees the failure.
    pub after_upstream: bool,
}

impl Failure {
    /// `status` with `body` (JSON or XML as the provider writes it) for any request.
    pub fn answer(status: u16, content_type: &str, body: impl Into<String>) -> Failure {
        Failure {
            method: None,
            path_contains: None,
            status,
            headers: vec![("content-type", content_type.to_string())],
            body: body.into(),
            after_upstream: false,
        }
    }

    /// Only for requests with `method` whose path contains `path`.
    pub fn on(mut self, method: &'static str, path: &'static str) -> Failure {
        self.method = Some(method);
        self.path_contains = Some(path);
        self
    }

    /// With a `Retry-After` of `secs`.
    pub fn retry_after(mut self, secs: u64) -> Failure {
        self.headers.push(("retry-after", secs.to_string()));
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path_contains.is_none_or(|p| path.contains(p))
    }
}

/// One request as the front saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// What the client got.
    pub status: u16,
    pub injected: bool,
}

struct Shared {
    upstream: String,
    client: reqwest012::Client,
    failures: Mutex<VecDeque<Failure>>,
    seen: Mutex<Vec<Seen>>,
}

/// A running front; stops when dropped.
pub struct HttpFaults {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpFaults {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpFaults {
    /// A front for `upstream` (`http://host:port`, no trailing slash).
    pub async fn start(upstream: &str) -> HttpFaults {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest012::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client"),
            failures: Mutex::default(),
            seen: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("its address");
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpFaults { addr, shared, task }
    }

    /// `http://127.0.0.1:<port>`: give this to the client instead of the upstream.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues failures: each is used once, by the first later request it matches.
    pub fn inject(&self, failures: impl IntoIterator<Item = Failure>) {
        self.shared.failures.lock().unwrap().extend(failures);
    }

    /// Failures not used yet.
    pub fn pending(&self) -> usize {
        self.shared.failures.lock().unwrap().len()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.to_string();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(body, 8 << 20)
        .await
        .unwrap_or_default();
    let failure = {
        let mut queue = shared.failures.lock().unwrap();
        let at = queue.iter().position(|f| f.matches(&method, &path));
        at.and_then(|i| queue.remove(i))
    };
    let upstream = if failure.as_ref().is_none_or(|f| f.after_upstream) {
        let mut r = shared
            .client
            .request(parts.method.clone(), format!("{}{path}", shared.upstream))
            .body(bytes.to_vec());
        for (name, value) in &parts.headers {
            if name != "host" && name != "content-length" {
                r = r.header(name, value);
            }
        }
        Some(r.send().await)
    } else {
        None
    };
    let response = match (failure, upstream) {
        (Some(f), _) => canned(&f),
        (None, Some(Ok(answer))) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = answer.bytes().await.unwrap_or_default();
            let mut out = Response::new(Body::from(body));
            *out.status_mut() = status;
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    out.headers_mut().insert(name.clone(), value.clone());
                }
            }
            out
        }
        (None, _) => {
            let mut out = Response::new(Body::from("upstream unreachable"));
            *out.status_mut() = StatusCode::BAD_GATEWAY;
            out
        }
    };
    shared.seen.lock().unwrap().push(Seen {
        method,
        path,
        status: response.status().as_u16(),
        injected: response.headers().contains_key("x-injected-failure"),
    });
    response
}

fn canned(f: &Failure) -> Response {
    let mut out = Response::new(Body::from(f.body.clone()));
    *out.status_mut() = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in &f.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.headers_mut().insert(n, v);
        }
    }
    out.headers_mut()
        .insert("x-injected-failure", HeaderValue::from_static("1"));
    out
}
