//! A cert-manager DNS-01 webhook solver: the extension API server a
//! `dns01.webhook{groupName, solverName, config}` solver talks to through the
//! Kubernetes API server's aggregation layer, serving the records it writes over DNS
//! ([`super::dns`]).
//!
//! It answers what cert-manager's webhook library (`pkg/acme/webhook`, built on
//! `k8s.io/apiserver`) serves for one solver: discovery (`GET /apis`,
//! `/apis/<group>`, `/apis/<group>/v1alpha1` listing the cluster-scoped resource
//! `<solverName>` of kind `ChallengePayload` with the verb `create`), `/healthz`,
//! `/livez`, `/readyz`, minimal `/openapi/v2` and `/openapi/v3` documents (the
//! aggregator fetches them), and `POST /apis/<group>/v1alpha1/<solverName>` taking
//! an `acme.cert-manager.io/v1alpha1` `ChallengePayload` and answering 201 with the
//! same payload and its `response{uid, success, status}`. `Present` adds the
//! request's `key` to the TXT RRset `resolvedFQDN` (other values stay; presenting a
//! value twice is a no-op), `CleanUp` removes only that value. A record outside the
//! zones given at start, credentials other than `config.apiKey` = the key given at
//! start, or a fault set with [`WebhookSolverEmulator::fail_next`] is answered with
//! `success: false` and a `metav1.Status` (`status: Failure`, `message`, `reason`,
//! `code`). cert-manager's own library writes `status: Failed` and a message only;
//! the fuller Status here is what a solver may send and what clients must read. A
//! payload without `request` or with an unknown action is a 500 `InternalError`
//! Status, as the library's `fmt` errors become; one of another kind a 400.
//!
//! HTTPS on 127.0.0.1 with a CA of its own ([`WebhookSolverEmulator::ca_pem`], the
//! APIService's `caBundle`) and a serving certificate for the DNS name given at
//! start (the aggregator verifies `<service>.<namespace>.svc`), `localhost` and
//! 127.0.0.1. Not modelled: it asks for no client certificate, so it does not check
//! the aggregator's front-proxy certificate, and it records `X-Remote-User` /
//! `X-Remote-Group` ([`WebhookSolverEmulator::last_caller`]) without trusting or
//! authorizing them (a real extension API server verifies the certificate against
//! the requestheader CA and may delegate authorization to the API server with a
//! SubjectAccessReview); no aggregated (v2) discovery, no protobuf, no `dryRun`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::EmulatorError;
use crate::dns::{DnsServer, RecordValue, StoredRecord, ZoneData, absolute};

/// The API group and version of the payload (whatever group the solver is served in).
pub const PAYLOAD_API_VERSION: &str = "acme.cert-manager.io/v1alpha1";
/// The version every solver group is served at.
pub const VERSION: &str = "v1alpha1";
/// The TTL of the TXT records written.
const TTL: u32 = 60;
/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a [`WebhookSolverEmulator`].
#[derive(Clone, Debug)]
pub struct SolverOptions {
    /// The API group it serves (the Issuer's `webhook.groupName`).
    pub group_name: String,
    /// The solver resource (the Issuer's `webhook.solverName`).
    pub solver_name: String,
    /// The zones its DNS API holds and its DNS server answers for.
    pub zones: Vec<String>,
    /// The key `config.apiKey` must carry.
    pub api_key: String,
    /// A DNS name for the serving certificate besides `localhost` and 127.0.0.1:
    /// `<service>.<namespace>.svc` of the Service an APIService names.
    pub serving_name: String,
}

/// The requests the solver resource received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub present: u64,
    pub clean_up: u64,
    /// Payloads without a request, with an unknown action, or not a ChallengePayload.
    pub invalid: u64,
}

impl RequestCounts {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.present + self.clean_up + self.invalid
    }
}

/// Who the front proxy said sent a request (`X-Remote-User`, `X-Remote-Group`),
/// recorded as received: the emulator does not authenticate the proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub groups: Vec<String>,
}

impl Caller {
    fn from_headers(headers: &HeaderMap) -> Option<Caller> {
        let values = |name: &str| -> Vec<String> {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_string)
                .collect()
        };
        let user = values("x-remote-user").into_iter().next()?;
        Some(Caller {
            user,
            groups: values("x-remote-group"),
        })
    }
}

struct Fault {
    remaining: u32,
    code: u16,
    message: String,
}

#[derive(Default)]
struct Inner {
    /// Zone apex (absolute) → its TXT records.
    records: BTreeMap<String, Vec<StoredRecord>>,
    counts: RequestCounts,
    last_request: Option<Value>,
    last_caller: Option<Caller>,
    fault: Option<Fault>,
}

struct Shared {
    inner: Mutex<Inner>,
    data: ZoneData,
    group: String,
    solver: String,
    api_key: String,
    /// Every HTTP request, discovery included.
    http_requests: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running webhook solver; stops serving (HTTPS and DNS) when dropped.
pub struct WebhookSolverEmulator {
    addr: SocketAddr,
    ca_pem: String,
    shared: Arc<Shared>,
    dns: DnsServer,
    task: JoinHandle<()>,
}

impl Drop for WebhookSolverEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookSolverEmulator {
    /// Starts serving on a free 127.0.0.1 port (and its DNS server on another).
    pub async fn start(options: SolverOptions) -> Result<WebhookSolverEmulator, EmulatorError> {
        let start_error = |e: &dyn std::fmt::Display| EmulatorError::Start(e.to_string());
        let (ca_pem, tls) = tls_config(&options.serving_name).map_err(|e| start_error(&e))?;
        let data = ZoneData::default();
        let mut inner = Inner::default();
        for zone in &options.zones {
            data.add_zone(zone);
            inner.records.insert(absolute(zone), Vec::new());
        }
        let shared = Arc::new(Shared {
            inner: Mutex::new(inner),
            data: data.clone(),
            group: options.group_name.trim().to_ascii_lowercase(),
            solver: options.solver_name.trim().to_string(),
            api_key: options.api_key,
            http_requests: AtomicU64::new(0),
        });
        let dns = DnsServer::start(data).await.map_err(|e| start_error(&e))?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| start_error(&e))?;
        let addr = listener.local_addr().map_err(|e| start_error(&e))?;
        let router = Router::new().fallback(dispatch).with_state(shared.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let task = tokio::spawn(async move {
            // Dropped (and its connections aborted) when the emulator is.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let router = router.clone();
                let acceptor = acceptor.clone();
                conns.spawn(async move {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let svc = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(WebhookSolverEmulator {
            addr,
            ca_pem,
            shared,
            dns,
            task,
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The HTTPS port (the APIService's `service.port`).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The PEM of the CA that signed its serving certificate (the APIService's
    /// `caBundle`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The API group it serves.
    pub fn group_name(&self) -> &str {
        &self.shared.group
    }

    /// The solver resource's name.
    pub fn solver_name(&self) -> &str {
        &self.shared.solver
    }

    /// `/apis/<group>/v1alpha1/<solver>`, where ChallengePayloads are POSTed.
    pub fn solver_path(&self) -> String {
        format!(
            "/apis/{}/{VERSION}/{}",
            self.shared.group, self.shared.solver
        )
    }

    /// The APIService's name: `v1alpha1.<group>`.
    pub fn api_service_name(&self) -> String {
        format!("{VERSION}.{}", self.shared.group)
    }

    /// Where its DNS server listens (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// The zones and records served over DNS.
    pub fn zone_data(&self) -> ZoneData {
        self.shared.data.clone()
    }

    /// The TXT values held for `name`.
    pub fn txt(&self, name: &str) -> Vec<String> {
        self.shared.data.txt_values(name)
    }

    /// The solver requests received, by action.
    pub fn requests(&self) -> RequestCounts {
        self.shared.lock().counts.clone()
    }

    /// Every HTTP request answered (discovery, health and OpenAPI included).
    pub fn http_requests(&self) -> u64 {
        self.shared.http_requests.load(Ordering::Relaxed)
    }

    /// The last ChallengePayload POSTed, as received.
    pub fn last_request(&self) -> Option<Value> {
        self.shared.lock().last_request.clone()
    }

    /// The `X-Remote-User` and `X-Remote-Group`s of the last ChallengePayload POSTed
    /// (`None` when it carried no `X-Remote-User`).
    pub fn last_caller(&self) -> Option<Caller> {
        self.shared.lock().last_caller.clone()
    }

    /// Answers the next `n` Present or CleanUp requests with `success: false`, a
    /// Status of `code` and `message` (e.g. 503, "the DNS API is unavailable, try
    /// again"), before looking at their credentials. `n = 0` clears it.
    pub fn fail_next(&self, n: u32, code: u16, message: &str) {
        self.shared.lock().fault = (n > 0).then(|| Fault {
            remaining: n,
            code,
            message: message.to_string(),
        });
    }
}

/// The serving configuration and the CA's PEM.
fn tls_config(serving_name: &str) -> Result<(String, rustls::ServerConfig), String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
    };
    let e = |e: &dyn std::fmt::Display| format!("the webhook solver's certificates: {e}");
    let ca_key = KeyPair::generate().map_err(|x| e(&x))?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "certgate webhook solver emulator CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).map_err(|x| e(&x))?;
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let mut names = vec!["localhost".to_string()];
    let serving_name = serving_name
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if !serving_name.is_empty() && serving_name != "localhost" {
        names.insert(0, serving_name.clone());
    }
    let key = KeyPair::generate().map_err(|x| e(&x))?;
    let mut params = CertificateParams::new(names).map_err(|x| e(&x))?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params.distinguished_name.push(
        DnType::CommonName,
        if serving_name.is_empty() {
            "localhost"
        } else {
            &serving_name
        },
    );
    let cert = params.signed_by(&key, &issuer).map_err(|x| e(&x))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|x| e(&x))?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|x| e(&x))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((ca.pem(), config))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The `reason` kube-apiserver gives a status code.
fn reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

/// A `metav1.Status` of failure.
fn status(code: u16, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason(code),
        "code": code,
    })
}

fn status_response(code: u16, message: &str) -> Response {
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &status(code, message),
    )
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.http_requests.fetch_add(1, Ordering::Relaxed);
    let group = shared.group.as_str();
    let gv = format!("{group}/{VERSION}");
    let version = json!({"groupVersion": gv, "version": VERSION});
    let api_group = json!({"name": group, "versions": [version], "preferredVersion": version});
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    if method != Method::GET && method != Method::HEAD {
        return match segs.as_slice() {
            ["apis", g, VERSION, r] if *g == group && *r == shared.solver => {
                if method == Method::POST {
                    solve(&shared, &headers, &body)
                } else {
                    status_response(
                        405,
                        "the server does not allow this method on the requested resource",
                    )
                }
            }
            _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
        };
    }
    match segs.as_slice() {
        ["healthz" | "livez" | "readyz"] => text(StatusCode::OK, "ok"),
        ["apis"] => json_response(
            StatusCode::OK,
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group]}),
        ),
        ["apis", g] if *g == group => {
            let mut g = api_group;
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            json_response(StatusCode::OK, &g)
        }
        ["apis", g, VERSION] if *g == group => json_response(
            StatusCode::OK,
            &json!({
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": gv,
                "resources": [{
                    "name": shared.solver,
                    "singularName": "ChallengePayload",
                    "namespaced": false,
                    "kind": "ChallengePayload",
                    "verbs": ["create"],
                }],
            }),
        ),
        ["openapi", "v2"] => json_response(
            StatusCode::OK,
            &json!({
                "swagger": "2.0",
                "info": {"title": "certgate webhook solver emulator", "version": VERSION},
                "paths": {},
                "definitions": {},
            }),
        ),
        ["openapi", "v3"] => json_response(
            StatusCode::OK,
            &json!({"paths": {format!("apis/{gv}"):
                {"serverRelativeURL": format!("/openapi/v3/apis/{gv}?hash=0")}}}),
        ),
        ["openapi", "v3", "apis", g, VERSION] if *g == group => json_response(
            StatusCode::OK,
            &json!({
                "openapi": "3.0.0",
                "info": {"title": "certgate webhook solver emulator", "version": VERSION},
                "paths": {},
                "components": {},
            }),
        ),
        ["apis", g, VERSION, r] if *g == group && *r == shared.solver => status_response(
            405,
            "the server does not allow this method on the requested resource",
        ),
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

/// Answers one ChallengePayload.
fn solve(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let payload: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return status_response(400, "the body of the request is not a JSON object"),
        Err(e) => {
            return status_response(400, &format!("couldn't decode the ChallengePayload: {e}"));
        }
    };
    let mut inner = shared.lock();
    inner.last_request = Some(payload.clone());
    inner.last_caller = Caller::from_headers(headers);
    let kind = payload["kind"].as_str().unwrap_or("ChallengePayload");
    let api_version = payload["apiVersion"]
        .as_str()
        .unwrap_or(PAYLOAD_API_VERSION);
    if kind != "ChallengePayload" || api_version != PAYLOAD_API_VERSION {
        inner.counts.invalid += 1;
        return status_response(
            400,
            &format!(
                "the body of the request is a {api_version} {kind}, not a {PAYLOAD_API_VERSION} ChallengePayload"
            ),
        );
    }
    let request = &payload["request"];
    if !request.is_object() {
        inner.counts.invalid += 1;
        return status_response(
            500,
            "Internal error occurred: payload request field cannot be empty",
        );
    }
    let action = request["action"].as_str().unwrap_or_default();
    match action {
        "Present" => inner.counts.present += 1,
        "CleanUp" => inner.counts.clean_up += 1,
        other => {
            inner.counts.invalid += 1;
            return status_response(
                500,
                &format!("Internal error occurred: unknown action type {other:?}"),
            );
        }
    }
    let outcome = match inner.fault.as_mut() {
        Some(fault) => {
            fault.remaining -= 1;
            let failure = Err((fault.code, fault.message.clone()));
            if fault.remaining == 0 {
                inner.fault = None;
            }
            failure
        }
        None => apply(shared, &mut inner, action == "Present", request),
    };
    let mut out = payload.clone();
    out["apiVersion"] = json!(PAYLOAD_API_VERSION);
    out["kind"] = json!("ChallengePayload");
    let uid = request["uid"].clone();
    out["response"] = match outcome {
        Ok(()) => json!({"uid": uid, "success": true}),
        Err((code, message)) => {
            json!({"uid": uid, "success": false, "status": status(code, &message)})
        }
    };
    json_response(StatusCode::CREATED, &out)
}

/// Presents or cleans up the record of `request`; a failure's code and message.
fn apply(
    shared: &Shared,
    inner: &mut Inner,
    present: bool,
    request: &Value,
) -> Result<(), (u16, String)> {
    if request["config"]["apiKey"].as_str() != Some(shared.api_key.as_str()) {
        return Err((
            403,
            "the webhook's DNS API refused the credentials in config.apiKey".into(),
        ));
    }
    let fqdn = request["resolvedFQDN"].as_str().unwrap_or_default();
    let key = request["key"].as_str().unwrap_or_default();
    if fqdn.trim().is_empty() || key.is_empty() {
        return Err((400, "the request has no resolvedFQDN or no key".into()));
    }
    let fqdn = absolute(fqdn);
    let Some(zone) = inner
        .records
        .keys()
        .filter(|z| fqdn == **z || fqdn.ends_with(&format!(".{z}")))
        .max_by_key(|z| z.len())
        .cloned()
    else {
        let resolved_zone = request["resolvedZone"].as_str().unwrap_or_default();
        let held: Vec<&str> = inner.records.keys().map(String::as_str).collect();
        return Err((
            404,
            format!(
                "the webhook's DNS API holds no zone {resolved_zone:?} for {fqdn:?} (its zones: {})",
                held.join(", ")
            ),
        ));
    };
    let records = inner.records.entry(zone.clone()).or_default();
    let value = RecordValue::Txt(key.to_string());
    let held = records
        .iter()
        .position(|r| r.name == fqdn && r.value == value);
    match (present, held) {
        (true, None) => records.push(StoredRecord {
            name: fqdn,
            ttl: TTL,
            value,
        }),
        (false, Some(i)) => {
            records.remove(i);
        }
        _ => return Ok(()),
    }
    shared.data.set_records(&zone, records.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RData, RecordType};

    const KEY: &str = "webhook-api-key";

    async fn solver() -> WebhookSolverEmulator {
        WebhookSolverEmulator::start(SolverOptions {
            group_name: "acme.certgate.test".into(),
            solver_name: "emulated".into(),
            zones: vec!["example.com".into()],
            api_key: KEY.into(),
            serving_name: "solver.certgate.svc".into(),
        })
        .await
        .unwrap()
    }

    /// A client trusting the emulator's CA and verifying `server_name`.
    fn client(ca_pem: &str) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject as _;
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// One HTTP/1.1 request over TLS to `server_name`; status and body.
    async fn call(
        s: &WebhookSolverEmulator,
        server_name: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client(s.ca_pem())));
        let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        let code = head.split(' ').nth(1).unwrap().parse().unwrap();
        // Chunked answers: keep the JSON between the chunk sizes.
        let body = match (rest.find('{'), rest.rfind('}')) {
            (Some(a), Some(b)) if !rest.starts_with('{') => rest[a..=b].to_string(),
            _ => rest.to_string(),
        };
        (code, body)
    }

    fn payload(action: &str, key: &str, fqdn: &str, api_key: &str) -> Value {
        json!({
            "apiVersion": PAYLOAD_API_VERSION,
            "kind": "ChallengePayload",
            "request": {
                "uid": format!("uid-{action}-{key}"),
                "action": action,
                "type": "dns-01",
                "dnsName": "example.com",
                "key": key,
                "resourceNamespace": "default",
                "resolvedFQDN": fqdn,
                "resolvedZone": "example.com.",
                "allowAmbientCredentials": false,
                "config": {"apiKey": api_key},
            },
        })
    }

    async fn post(s: &WebhookSolverEmulator, body: &Value) -> (u16, Value) {
        let (code, text) = call(
            s,
            "solver.certgate.svc",
            "POST",
            &s.solver_path(),
            Some(body),
        )
        .await;
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The TXT values of `name` as the emulator's DNS server answers them.
    async fn dns_txt(s: &WebhookSolverEmulator, name: &str) -> Vec<String> {
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii(name).unwrap(),
            RecordType::TXT,
        ));
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        udp.send_to(&m.to_vec().unwrap(), s.dns_addr())
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = udp.recv_from(&mut buf).await.unwrap();
        let mut values: Vec<String> = Message::from_vec(&buf[..n])
            .unwrap()
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        values.sort();
        values
    }

    const FQDN: &str = "_acme-challenge.example.com.";

    #[tokio::test]
    async fn discovery_health_and_openapi() {
        let s = solver().await;
        let (code, body) = call(&s, "solver.certgate.svc", "GET", "/apis", None).await;
        assert_eq!(code, 200);
        let list: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(list["kind"], "APIGroupList");
        assert_eq!(list["groups"][0]["name"], "acme.certgate.test");
        let (code, body) = call(&s, "localhost", "GET", "/apis/acme.certgate.test", None).await;
        assert_eq!(code, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["preferredVersion"]["groupVersion"],
            "acme.certgate.test/v1alpha1"
        );
        let (code, body) = call(
            &s,
            "localhost",
            "GET",
            "/apis/acme.certgate.test/v1alpha1",
            None,
        )
        .await;
        assert_eq!(code, 200);
        let resources: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(resources["kind"], "APIResourceList");
        assert_eq!(
            resources["resources"][0],
            json!({"name": "emulated", "singularName": "ChallengePayload", "namespaced": false,
                   "kind": "ChallengePayload", "verbs": ["create"]})
        );
        for path in ["/healthz", "/livez", "/readyz"] {
            assert_eq!(
                call(&s, "localhost", "GET", path, None).await,
                (200, "ok".into())
            );
        }
        let (code, body) = call(&s, "localhost", "GET", "/openapi/v2", None).await;
        assert_eq!(
            (
                code,
                serde_json::from_str::<Value>(&body).unwrap()["swagger"].clone()
            ),
            (200, json!("2.0"))
        );
        let (code, body) = call(&s, "localhost", "GET", "/openapi/v3", None).await;
        assert_eq!(code, 200);
        let url = serde_json::from_str::<Value>(&body).unwrap()["paths"]
            ["apis/acme.certgate.test/v1alpha1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .to_string();
        let (code, body) = call(&s, "localhost", "GET", &url, None).await;
        assert_eq!(
            (
                code,
                serde_json::from_str::<Value>(&body).unwrap()["openapi"].clone()
            ),
            (200, json!("3.0.0"))
        );
        assert_eq!(
            call(&s, "localhost", "GET", "/apis/other.test/v1alpha1", None)
                .await
                .0,
            404
        );
        assert_eq!(
            call(&s, "localhost", "GET", &s.solver_path(), None).await.0,
            405
        );
        assert_eq!(s.requests().total(), 0, "discovery is not a solver request");
        assert!(s.http_requests() >= 10);
    }

    #[tokio::test]
    async fn serving_certificate_names() {
        let s = solver().await;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client(s.ca_pem())));
        for (name, ok) in [
            ("solver.certgate.svc", true),
            ("localhost", true),
            ("127.0.0.1", true),
            ("other.certgate.svc", false),
        ] {
            let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
            let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
            assert_eq!(
                connector.connect(server_name, tcp).await.is_ok(),
                ok,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn present_cleanup_and_idempotence_over_dns() {
        let s = solver().await;
        let (code, out) = post(&s, &payload("Present", "one", FQDN, KEY)).await;
        assert_eq!(code, 201);
        assert_eq!(
            out["response"],
            json!({"uid": "uid-Present-one", "success": true})
        );
        assert_eq!(out["request"]["key"], "one", "the request comes back");
        assert_eq!(out["kind"], "ChallengePayload");
        assert_eq!(dns_txt(&s, FQDN).await, vec!["one"]);
        // Another value joins the RRset; presenting one again changes nothing.
        post(&s, &payload("Present", "two", FQDN, KEY)).await;
        let (_, again) = post(&s, &payload("Present", "one", FQDN, KEY)).await;
        assert_eq!(again["response"]["success"], true);
        assert_eq!(dns_txt(&s, FQDN).await, vec!["one", "two"]);
        assert_eq!(s.txt(FQDN).len(), 2);
        // CleanUp removes only its value, and twice is fine.
        let (code, out) = post(&s, &payload("CleanUp", "one", FQDN, KEY)).await;
        assert_eq!(
            (code, out["response"]["success"].clone()),
            (201, json!(true))
        );
        let (_, out) = post(&s, &payload("CleanUp", "one", FQDN, KEY)).await;
        assert_eq!(out["response"]["success"], true);
        assert_eq!(dns_txt(&s, FQDN).await, vec!["two"]);
        post(&s, &payload("CleanUp", "two", FQDN, KEY)).await;
        assert!(dns_txt(&s, FQDN).await.is_empty());
        assert_eq!(
            s.requests(),
            RequestCounts {
                present: 3,
                clean_up: 3,
                invalid: 0
            }
        );
        assert_eq!(s.last_request().unwrap()["request"]["key"], "two");
    }

    #[tokio::test]
    async fn bad_credentials_and_foreign_zones_fail() {
        let s = solver().await;
        for api_key in ["wrong", ""] {
            let (code, out) = post(&s, &payload("Present", "k", FQDN, api_key)).await;
            assert_eq!(code, 201, "a failure is an answer, not an error");
            assert_eq!(out["response"]["success"], false);
            let status = &out["response"]["status"];
            assert_eq!(status["kind"], "Status");
            assert_eq!(status["status"], "Failure");
            assert_eq!(status["code"], 403);
            assert_eq!(status["reason"], "Forbidden");
            assert_eq!(
                status["message"],
                "the webhook's DNS API refused the credentials in config.apiKey"
            );
        }
        let mut no_config = payload("Present", "k", FQDN, KEY);
        no_config["request"]
            .as_object_mut()
            .unwrap()
            .remove("config");
        let (_, out) = post(&s, &no_config).await;
        assert_eq!(out["response"]["status"]["code"], 403);
        assert!(dns_txt(&s, FQDN).await.is_empty());

        let mut foreign = payload("Present", "k", "_acme-challenge.example.org.", KEY);
        foreign["request"]["resolvedZone"] = json!("example.org.");
        let (_, out) = post(&s, &foreign).await;
        assert_eq!(out["response"]["success"], false);
        let message = out["response"]["status"]["message"].as_str().unwrap();
        assert!(message.contains("example.org."), "{message}");
        assert_eq!(out["response"]["status"]["reason"], "NotFound");
    }

    #[tokio::test]
    async fn faults_fail_the_next_requests() {
        let s = solver().await;
        s.fail_next(2, 503, "the DNS API is unavailable, try again");
        for _ in 0..2 {
            let (code, out) = post(&s, &payload("Present", "k", FQDN, KEY)).await;
            assert_eq!(code, 201);
            assert_eq!(out["response"]["success"], false);
            assert_eq!(out["response"]["status"]["code"], 503);
            assert_eq!(out["response"]["status"]["reason"], "ServiceUnavailable");
            assert_eq!(
                out["response"]["status"]["message"],
                "the DNS API is unavailable, try again"
            );
        }
        assert!(dns_txt(&s, FQDN).await.is_empty());
        let (_, out) = post(&s, &payload("Present", "k", FQDN, KEY)).await;
        assert_eq!(out["response"]["success"], true, "the fault is spent");
        assert_eq!(dns_txt(&s, FQDN).await, vec!["k"]);
        s.fail_next(1, 500, "boom");
        s.fail_next(0, 500, "cleared");
        let (_, out) = post(&s, &payload("CleanUp", "k", FQDN, KEY)).await;
        assert_eq!(out["response"]["success"], true);
    }

    #[tokio::test]
    async fn malformed_payloads_are_api_errors() {
        let s = solver().await;
        let (code, out) = post(
            &s,
            &json!({"apiVersion": PAYLOAD_API_VERSION, "kind": "ChallengePayload"}),
        )
        .await;
        assert_eq!((code, out["reason"].clone()), (500, json!("InternalError")));
        let (code, out) = post(&s, &payload("Explode", "k", FQDN, KEY)).await;
        assert_eq!(code, 500);
        assert!(out["message"].as_str().unwrap().contains("Explode"));
        let mut other = payload("Present", "k", FQDN, KEY);
        other["kind"] = json!("Secret");
        assert_eq!(post(&s, &other).await.0, 400);
        assert_eq!(s.requests().invalid, 3);
        assert!(s.txt(FQDN).is_empty());
    }
}
