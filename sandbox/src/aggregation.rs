//! The aggregation layer (kube-aggregator's proxy), as far as extension API servers
//! such as cert-manager's DNS-01 webhook solvers need it.
//!
//! A request for `/apis/<group>/<version>` or below, when the APIService
//! `<version>.<group>` names a `spec.service {namespace, name, port (443)}`, goes to
//! that Service over HTTPS: an ExternalName Service to `<externalName>:<port>` (as
//! kube-apiserver does by default; with `--enable-aggregator-routing=true` it refuses
//! ExternalName), any other to the first ready address of its EndpointSlices (label
//! `kubernetes.io/service-name`) at the slice port named like the Service port whose
//! `port` is the APIService's (as `--enable-aggregator-routing=true` does: the
//! sandbox has no cluster IPs to route to). The server certificate must chain to
//! `spec.caBundle` (nothing else is trusted) and name `<service>.<namespace>.svc`,
//! unless `spec.insecureSkipTLSVerify`. The method, path, query, body and headers go
//! through, less `Authorization`, hop-by-hop headers and the caller's own
//! `X-Remote-*` / `Impersonate-*`, plus `X-Remote-User` and one `X-Remote-Group` per
//! group of the authenticated caller; the answer's status, headers and body stream
//! back. Authorization happened before, as for any request. Failures are answered
//! as kube-apiserver 1.36 answers them, in plain text (not a Status): a backend that
//! cannot be reached (refused, TLS) is a 503 `error trying to reach service: dial tcp
//! 127.0.0.1:8443: connect: connection refused`; one that cannot be resolved (no
//! Service, no port, no ready endpoint) a 503 `service unavailable`, the reason
//! going to the log.
//!
//! Not modelled: the APIService's `Available` condition (nothing checks the backend
//! or sets it, and requests are proxied at once, where kube-apiserver answers 503
//! `service unavailable` until its discovery check passed), discovery merging (`/apis`
//! and `/apis/<group>` list only the sandbox's own groups; the backend's
//! `/apis/<group>/<version>` is proxied), OpenAPI aggregation, the front-proxy client
//! certificate (the backend cannot authenticate the sandbox), `X-Remote-Extra-*`,
//! connection upgrades and HTTP/2 to the backend.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

use crate::http::{App, Identity};

/// How long connecting to the backend and the TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an APIService's requests go.
struct Backend {
    /// `host:port` to dial.
    address: String,
    /// The name the certificate must hold: `<service>.<namespace>.svc`.
    server_name: String,
    tls: Arc<rustls::ClientConfig>,
}

/// Proxies the request when `path` lies under an APIService backed by a Service;
/// `None` leaves it to the sandbox.
pub async fn proxy(
    app: &App,
    who: &Identity,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Option<Response> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["apis", group, version, ..] = segs.as_slice() else {
        return None;
    };
    let api_service = app.server.store.get(
        "apiregistration.k8s.io/apiservices",
        "",
        &format!("{version}.{group}"),
    )?;
    let spec = api_service.get("spec")?;
    let service = spec.get("service").filter(|s| s.is_object())?;
    let backend = match resolve(app, spec, service) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(api_service = %api_service["metadata"]["name"], "resolving: {e}");
            return Some(proxy_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "service unavailable",
            ));
        }
    };
    let mut target = path.to_string();
    if !raw_query.is_empty() {
        target = format!("{target}?{raw_query}");
    }
    let mut request = Request::builder().method(method.clone()).uri(target);
    for (name, value) in headers {
        if forwarded(name) {
            request = request.header(name, value);
        }
    }
    request = request.header(header::HOST, backend.address.as_str());
    for (name, value) in identity_headers(who) {
        request = request.header(name, value);
    }
    let request = match request.body(Body::from(body)) {
        Ok(r) => r,
        Err(e) => {
            return Some(proxy_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &e.to_string(),
            ));
        }
    };
    Some(match send(&backend, request).await {
        Ok(response) => {
            let (parts, incoming) = response.into_parts();
            let mut out = Response::new(Body::new(incoming));
            *out.status_mut() = parts.status;
            for (name, value) in &parts.headers {
                if !hop_by_hop(name) {
                    out.headers_mut().append(name, value.clone());
                }
            }
            out
        }
        Err(e) => proxy_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("error trying to reach service: {e}"),
        ),
    })
}

/// The aggregator's own errors: Go's `http.Error`, plain text.
fn proxy_error(status: StatusCode, message: &str) -> Response {
    let mut response = Response::new(Body::from(format!("{message}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The backend of `spec.service`, and how to speak TLS to it.
fn resolve(app: &App, spec: &Value, service: &Value) -> Result<Backend, String> {
    let (namespace, name) = (str_at(service, "namespace"), str_at(service, "name"));
    let port = service.get("port").and_then(Value::as_i64).unwrap_or(443);
    let svc = app
        .server
        .store
        .get("/services", namespace, name)
        .ok_or_else(|| format!("service \"{namespace}/{name}\" not found"))?;
    let address = if str_at(&svc["spec"], "type") == "ExternalName" {
        format!("{}:{port}", str_at(&svc["spec"], "externalName"))
    } else {
        endpoint(app, namespace, name, &svc, port)?
    };
    Ok(Backend {
        address,
        server_name: format!("{name}.{namespace}.svc"),
        tls: Arc::new(tls_config(spec)?),
    })
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The first ready endpoint of Service `name` for its port `port`, as `ip:port`.
fn endpoint(
    app: &App,
    namespace: &str,
    name: &str,
    svc: &Value,
    port: i64,
) -> Result<String, String> {
    let port_name = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["port"].as_i64() == Some(port))
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .ok_or_else(|| format!("no service port {port} found for service \"{name}\""))?;
    let (slices, _) = app
        .server
        .store
        .list("discovery.k8s.io/endpointslices", Some(namespace));
    slices
        .iter()
        .filter(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == name)
        .find_map(|s| {
            let target = s["ports"].as_array()?.iter().find(|p| {
                p["name"].as_str().unwrap_or_default() == port_name && p["port"].is_i64()
            })?;
            let address = s["endpoints"]
                .as_array()?
                .iter()
                .filter(|e| e["conditions"]["ready"].as_bool() != Some(false))
                .find_map(|e| e["addresses"].get(0)?.as_str())?;
            let host = match address.contains(':') {
                true => format!("[{address}]"),
                false => address.to_string(),
            };
            Some(format!("{host}:{}", target["port"]))
        })
        .ok_or_else(|| format!("no endpoints available for service \"{name}\""))
}

/// Trusts `spec.caBundle` (base64 of PEM certificates), or anything with
/// `insecureSkipTLSVerify`.
fn tls_config(spec: &Value) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = if spec["insecureSkipTLSVerify"].as_bool() == Some(true) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(spec["caBundle"].as_str().unwrap_or_default())
            .map_err(|e| format!("spec.caBundle is not base64: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            roots.add(cert).map_err(|e| format!("spec.caBundle: {e}"))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Connects, sends `request` over HTTP/1.1 and returns the answer, its body still
/// streaming.
async fn send(
    backend: &Backend,
    request: Request<Body>,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let tcp = dial(&backend.address).await?;
    let name = ServerName::try_from(backend.server_name.clone())
        .map_err(|e| format!("server name {:?}: {e}", backend.server_name))?;
    let tls = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_rustls::TlsConnector::from(backend.tls.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| "tls: handshake timeout".to_string())?
    .map_err(|e| format!("tls: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    // Runs until the answer's body is read (or dropped).
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

/// Connects to the first address of `address` (`host:port`) that accepts, within
/// [`CONNECT_TIMEOUT`]; the error as Go words it.
async fn dial(address: &str) -> Result<tokio::net::TcpStream, String> {
    let addrs = tokio::net::lookup_host(address)
        .await
        .map_err(|e| format!("dial tcp: lookup {address}: {e}"))?;
    let mut last = format!("dial tcp: lookup {address}: no such host");
    for addr in addrs {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(tcp)) => return Ok(tcp),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = format!("dial tcp {addr}: connect: connection refused");
            }
            Ok(Err(e)) => last = format!("dial tcp {addr}: connect: {e}"),
            Err(_) => last = format!("dial tcp {addr}: i/o timeout"),
        }
    }
    Err(last)
}

/// Whether a request header goes to the backend.
fn forwarded(name: &HeaderName) -> bool {
    let n = name.as_str();
    !(hop_by_hop(name)
        || name == header::HOST
        || name == header::AUTHORIZATION
        || name == header::CONTENT_LENGTH
        || n.starts_with("x-remote-")
        || n.starts_with("impersonate-"))
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// `X-Remote-User` and `X-Remote-Group`s for the caller, as the front proxy sends them.
fn identity_headers(who: &Identity) -> Vec<(&'static str, HeaderValue)> {
    let mut groups = who.groups.clone();
    if who.user != "system:anonymous" && !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    std::iter::once(("x-remote-user", &who.user))
        .chain(groups.iter().map(|g| ("x-remote-group", g)))
        .filter_map(|(n, v)| Some((n, HeaderValue::from_str(v).ok()?)))
        .collect()
}

/// `insecureSkipTLSVerify`: any certificate, still checking the handshake's
/// signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::apiserver::ApiServer;
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::RwLock;

    fn app(objects: &[(&str, &str, Value)]) -> App {
        let server = Arc::new(ApiServer::new());
        for (res, ns, obj) in objects {
            let name = obj["metadata"]["name"].as_str().unwrap();
            server.store.create(res, ns, name, obj.clone()).unwrap();
        }
        App {
            server,
            tokens: RwLock::new(HashMap::new()),
            rbac: false,
            address: RwLock::new(String::new()),
            bookmark_interval: Duration::from_secs(60),
            rbac_log: RwLock::new(Vec::new()),
            issued_tokens: RwLock::new(HashMap::new()),
            faults: crate::faults::Faults::default(),
        }
    }

    fn service(name: &str, spec: Value) -> (&'static str, &'static str, Value) {
        (
            "/services",
            "ns",
            json!({"metadata": {"name": name, "namespace": "ns"}, "spec": spec}),
        )
    }

    fn slice(
        name: &str,
        service: &str,
        ports: Value,
        endpoints: Value,
    ) -> (&'static str, &'static str, Value) {
        (
            "discovery.k8s.io/endpointslices",
            "ns",
            json!({"metadata": {"name": name, "namespace": "ns",
                                "labels": {"kubernetes.io/service-name": service}},
                   "addressType": "IPv4", "ports": ports, "endpoints": endpoints}),
        )
    }

    fn backend(app: &App, name: &str, port: i64) -> Result<Backend, String> {
        let spec = json!({"insecureSkipTLSVerify": true});
        resolve(
            app,
            &spec,
            &json!({"namespace": "ns", "name": name, "port": port}),
        )
    }

    #[test]
    fn services_resolve_to_an_address_and_a_server_name() {
        let app = app(&[
            service(
                "ext",
                json!({"type": "ExternalName", "externalName": "localhost"}),
            ),
            service(
                "web",
                json!({"type": "ClusterIP", "ports": [
                    {"name": "metrics", "port": 80, "targetPort": 8080},
                    {"name": "https", "port": 443, "targetPort": "serving"}]}),
            ),
            // Another Service's slice, a slice without the port, a not-ready endpoint.
            slice(
                "other-1",
                "other",
                json!([{"name": "https", "port": 1}]),
                json!([{"addresses": ["10.0.0.1"]}]),
            ),
            slice(
                "web-1",
                "web",
                json!([{"name": "metrics", "port": 8080}]),
                json!([{"addresses": ["10.0.0.2"]}]),
            ),
            slice(
                "web-2",
                "web",
                json!([{"name": "https", "port": 9443}]),
                json!([{"addresses": ["10.0.0.3"], "conditions": {"ready": false}},
                         {"addresses": ["10.0.0.4"], "conditions": {"ready": true}}]),
            ),
        ]);
        let ext = backend(&app, "ext", 8443).unwrap();
        assert_eq!(ext.address, "localhost:8443");
        assert_eq!(ext.server_name, "ext.ns.svc");
        let web = backend(&app, "web", 443).unwrap();
        assert_eq!(web.address, "10.0.0.4:9443");
        assert_eq!(web.server_name, "web.ns.svc");
        let missing = backend(&app, "nothing", 443).err().unwrap();
        assert!(missing.contains("not found"), "{missing}");
        let no_port = backend(&app, "web", 8443).err().unwrap();
        assert!(no_port.contains("no service port 8443"), "{no_port}");
    }

    #[test]
    fn ca_bundles_must_be_base64_pem() {
        assert!(tls_config(&json!({"caBundle": "not base64!"})).is_err());
        assert!(
            tls_config(&json!({})).is_ok(),
            "trusting nothing is allowed"
        );
    }

    #[tokio::test]
    async fn only_groups_with_a_service_are_proxied() {
        let local = json!({"metadata": {"name": "v1.local.test"},
                           "spec": {"group": "local.test", "version": "v1"}});
        let remote = json!({"metadata": {"name": "v1.remote.test"},
                            "spec": {"group": "remote.test", "version": "v1",
                                     "service": {"namespace": "ns", "name": "gone"}}});
        let app = app(&[
            ("apiregistration.k8s.io/apiservices", "", local),
            ("apiregistration.k8s.io/apiservices", "", remote),
        ]);
        let who = Identity {
            user: "u".into(),
            groups: vec![],
        };
        let call = async |path: &str| {
            proxy(
                &app,
                &who,
                &Method::GET,
                path,
                "",
                &HeaderMap::new(),
                Bytes::new(),
            )
            .await
        };
        assert!(call("/apis/local.test/v1/things").await.is_none());
        assert!(call("/apis/other.test/v1").await.is_none());
        assert!(
            call("/apis/remote.test").await.is_none(),
            "group discovery is the sandbox's"
        );
        let response = call("/apis/remote.test/v1/things").await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"service unavailable\n");
    }

    #[test]
    fn the_caller_is_named_and_its_own_headers_dropped() {
        let who = Identity {
            user: "alice".into(),
            groups: vec!["team".into()],
        };
        let sent: Vec<(&str, String)> = identity_headers(&who)
            .into_iter()
            .map(|(n, v)| (n, v.to_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            sent,
            vec![
                ("x-remote-user", "alice".to_string()),
                ("x-remote-group", "team".to_string()),
                ("x-remote-group", "system:authenticated".to_string()),
            ]
        );
        for (name, kept) in [
            ("content-type", true),
            ("accept", true),
            ("user-agent", true),
            ("authorization", false),
            ("x-remote-user", false),
            ("impersonate-user", false),
            ("connection", false),
            ("host", false),
        ] {
            assert_eq!(forwarded(&HeaderName::from_static(name)), kept, "{name}");
        }
    }
}
