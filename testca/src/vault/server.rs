//! The emulator's HTTP(S) server: the listener, TLS with an optional client
//! certificate, routing by path (namespace, then endpoint), `sys/health`, the token
//! endpoints, and the JSON envelope and field parsing the endpoints share.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::{Map, Value, json};

use super::{App, Inner, Token, VERSION, VaultEmulator, VaultError, auth, bad_request, pki};

/// Request bodies larger than this are refused.
const MAX_BODY: usize = 1 << 20;

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS side of the connection a request came over.
#[derive(Clone, Default)]
pub(super) struct Peer {
    /// Whether the connection is TLS at all.
    pub(super) tls: bool,
    /// The client's certificate chain (DER), leaf first; empty when none was sent.
    pub(super) certificates: Arc<Vec<Vec<u8>>>,
}

pub(super) fn start(https: bool) -> VaultEmulator {
    let (tls_ca_pem, acceptor) = if https {
        let (pem, config) = tls_config();
        (pem, Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    } else {
        (String::new(), None)
    };
    let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("binding the Vault emulator: {e}"));
    std_listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("nonblocking: {e}"));
    let addr = std_listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"));
    let listener = tokio::net::TcpListener::from_std(std_listener)
        .unwrap_or_else(|e| panic!("VaultEmulator::start needs a tokio runtime: {e}"));

    let app = App {
        st: Arc::new(Mutex::new(Inner::new())),
    };
    let router = Router::new().fallback(dispatch).with_state(app.clone());
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let router = router.clone();
            let acceptor = acceptor.clone();
            conns.spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                match acceptor {
                    None => {
                        let svc = hyper_util::service::TowerToHyperService::new(
                            router.layer(axum::Extension(Peer::default())),
                        );
                        let _ = builder
                            .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                            .await;
                    }
                    Some(acceptor) => {
                        let Ok(Ok(stream)) =
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                        else {
                            return;
                        };
                        let certificates = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c.iter().map(|c| c.to_vec()).collect())
                            .unwrap_or_default();
                        let peer = Peer {
                            tls: true,
                            certificates: Arc::new(certificates),
                        };
                        let svc = hyper_util::service::TowerToHyperService::new(
                            router.layer(axum::Extension(peer)),
                        );
                        let _ = builder
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                            .await;
                    }
                }
            });
            while conns.try_join_next().is_some() {}
        }
    });
    let scheme = if https { "https" } else { "http" };
    VaultEmulator {
        app,
        addr,
        base_url: format!("{scheme}://127.0.0.1:{}", addr.port()),
        tls_ca_pem,
        task,
    }
}

/// The server's TLS configuration and the PEM of its CA.
fn tls_config() -> (String, rustls::ServerConfig) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (ca_pem, ca) = super::super::ca("certgate Vault emulator TLS CA", None);
    let key = super::super::keypair();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap_or_else(|e| panic!("TLS params: {e}"));
    for name in ["localhost", "vault.local"] {
        params.subject_alt_names.push(rcgen::SanType::DnsName(
            name.try_into().unwrap_or_else(|e| panic!("SAN: {e}")),
        ));
    }
    params.subject_alt_names.extend([
        rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        rcgen::SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ]);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "certgate Vault emulator");
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key, &ca)
        .unwrap_or_else(|e| panic!("TLS certificate: {e}"));
    let verifier = AnyClientCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("TLS versions: {e}"))
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap_or_else(|e| panic!("TLS config: {e}"));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (ca_pem, config)
}

/// Asks for a client certificate, takes any (or none) whose holder proves its key; the
/// `cert` login decides whether it is trusted, as Vault does.
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// ---------------------------------------------------------------------------------
// Routing

async fn dispatch(State(app): State<App>, req: Request) -> Response {
    match route(&app, req).await {
        Ok(response) => response,
        Err(e) => error_response(&e),
    }
}

async fn route(app: &App, req: Request) -> Result<Response, VaultError> {
    let (parts, body) = req.into_parts();
    let peer = parts.extensions.get::<Peer>().cloned().unwrap_or_default();
    let method = parts.method.clone();
    let full_path = parts.uri.path().to_string();
    let Some(path) = full_path.strip_prefix("/v1/") else {
        app.lock().count("other");
        return Err(VaultError::NoRoute(
            full_path.trim_start_matches('/').to_string(),
        ));
    };
    let path = path.trim_end_matches('/');
    if path == "sys/health" {
        app.lock().count("sys/health");
        return health(app, &method, parts.uri.query().unwrap_or_default());
    }
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| bad_request(format!("error reading the request body: {e}")))?;
    if app.lock().sealed {
        return Err(VaultError::Sealed);
    }
    let header_ns = header_str(&parts.headers, "x-vault-namespace").unwrap_or_default();
    let Some((ns, rest)) = app.lock().resolve_namespace(header_ns, path) else {
        app.lock().count("other");
        return Err(VaultError::NoRoute(path.to_string()));
    };
    let rest = rest.to_string();

    // Logins are the unauthenticated paths, for mounts that exist.
    if let Some(mount) = rest
        .strip_prefix("auth/")
        .and_then(|r| r.strip_suffix("/login"))
    {
        let kind = app
            .lock()
            .namespaces
            .get(&ns)
            .and_then(|s| s.auth.get(mount))
            .map(super::AuthMount::kind);
        if let Some(kind) = kind {
            app.lock().count("login");
            require_write(&method)?;
            let body = body_object(&body)?;
            return auth::login(app, &ns, mount, kind, &peer, &body).await;
        }
    }

    let token_header = header_str(&parts.headers, "x-vault-token").or_else(|| {
        header_str(&parts.headers, header::AUTHORIZATION.as_str())
            .and_then(|v| v.strip_prefix("Bearer "))
    });
    let token = app.lock().authenticate(&ns, token_header)?;
    match rest.as_str() {
        "auth/token/lookup-self" => {
            app.lock().count("lookup-self");
            if method != Method::GET {
                return Err(VaultError::UnsupportedOperation);
            }
            Ok(lookup_self(&token))
        }
        "auth/token/renew-self" => {
            app.lock().count("renew-self");
            require_write(&method)?;
            let body = body_object(&body)?;
            renew_self(app, &token, &body)
        }
        _ => pki::handle(app, &ns, &rest, &method, &body),
    }
}

fn require_write(method: &Method) -> Result<(), VaultError> {
    if *method == Method::POST || *method == Method::PUT {
        Ok(())
    } else {
        Err(VaultError::UnsupportedOperation)
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The JSON object of a request body (an empty body is `{}`).
pub(super) fn body_object(body: &Bytes) -> Result<Map<String, Value>, VaultError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad_request("error parsing JSON: not a JSON object")),
        Err(e) => Err(bad_request(format!("error parsing JSON: {e}"))),
    }
}

// ---------------------------------------------------------------------------------
// Responses

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn error_response(e: &VaultError) -> Response {
    json_response(e.status(), &json!({ "errors": [e.to_string()] }))
}

/// Vault's response envelope.
pub(super) fn envelope(
    data: Option<Value>,
    auth: Option<Value>,
    warnings: &[String],
    mount_type: &str,
) -> Value {
    json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": if warnings.is_empty() { Value::Null } else { json!(warnings) },
        "auth": auth,
        "mount_type": mount_type,
    })
}

/// The `auth` block of a login or renewal.
pub(super) fn auth_block(token: &Token, lease_duration: u64) -> Value {
    json!({
        "client_token": token.client_token,
        "accessor": token.accessor,
        "policies": token.policies,
        "token_policies": token.policies,
        "metadata": token.meta,
        "lease_duration": lease_duration,
        "renewable": token.renewable,
        "entity_id": token.entity_id,
        "token_type": "service",
        "orphan": true,
        "mfa_requirement": null,
        "num_uses": 0,
    })
}

// ---------------------------------------------------------------------------------
// sys/health

fn health(app: &App, method: &Method, query: &str) -> Result<Response, VaultError> {
    if *method != Method::GET && *method != Method::HEAD {
        return Err(VaultError::UnsupportedOperation);
    }
    let params: BTreeMap<&str, &str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let flag = |name: &str| {
        params
            .get(name)
            .is_some_and(|v| v.is_empty() || parse_bool(v) == Some(true))
    };
    let code = |name: &str, default: u16| -> Result<StatusCode, VaultError> {
        match params.get(name) {
            None => Ok(StatusCode::from_u16(default).unwrap_or(StatusCode::OK)),
            Some(v) => v
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| bad_request(format!("bad code for {name}: {v:?}"))),
        }
    };
    let st = app.lock();
    let status = if st.sealed {
        code("sealedcode", 503)?
    } else if st.standby && !flag("standbyok") {
        code("standbycode", 429)?
    } else {
        code("activecode", 200)?
    };
    if *method == Method::HEAD {
        return Ok(status.into_response());
    }
    let mut body = json!({
        "initialized": true,
        "sealed": st.sealed,
        "standby": st.standby && !st.sealed,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": Timestamp::now().as_second(),
        "version": VERSION,
        "enterprise": false,
        "echo_duration_ms": 0,
        "clock_skew_ms": 0,
    });
    if !st.sealed {
        body["cluster_name"] = json!("vault-cluster-emulator");
        body["cluster_id"] = json!(st.cluster_id);
    }
    Ok(json_response(status, &body))
}

// ---------------------------------------------------------------------------------
// Token endpoints

fn lookup_self(token: &Token) -> Response {
    let now = Timestamp::now();
    let ttl = token.expires.map_or(0, |e| seconds_until(now, e));
    let mut data = json!({
        "accessor": token.accessor,
        "creation_time": token.created.as_second(),
        "creation_ttl": token.creation_ttl,
        "display_name": token.display_name,
        "entity_id": token.entity_id,
        "expire_time": token.expires.map(|e| e.to_string()),
        "explicit_max_ttl": 0,
        "id": token.client_token,
        "issue_time": token.created.to_string(),
        "meta": token.meta,
        "num_uses": 0,
        "orphan": true,
        "path": token.path,
        "policies": token.policies,
        "renewable": token.renewable,
        "ttl": ttl,
        "type": "service",
    });
    if let Some(t) = token.last_renewal {
        data["last_renewal"] = json!(t.to_string());
        data["last_renewal_time"] = json!(t.as_second());
    }
    if !token.namespace.is_empty() {
        data["namespace_path"] = json!(format!("{}/", token.namespace));
    }
    json_response(StatusCode::OK, &envelope(Some(data), None, &[], "token"))
}

fn renew_self(app: &App, token: &Token, body: &Map<String, Value>) -> Result<Response, VaultError> {
    let increment = duration_field(body, "increment")?.unwrap_or_default();
    if !token.renewable {
        return Err(bad_request("lease is not renewable"));
    }
    let now = Timestamp::now();
    let wanted = if increment.is_zero() {
        Duration::from_secs(token.creation_ttl)
    } else {
        increment
    };
    let mut warnings = Vec::new();
    let mut expires = after(now, wanted);
    if let Some(max) = token.max_expires
        && expires > max
    {
        let left = Duration::from_secs(seconds_until(now, max));
        warnings.push(format!(
            "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
            go_duration(wanted),
            go_duration(left)
        ));
        expires = max;
    }
    let mut st = app.lock();
    let stored = st.token_mut(token).ok_or(VaultError::PermissionDenied)?;
    stored.expires = Some(expires);
    stored.last_renewal = Some(now);
    let renewed = stored.clone();
    let lease = seconds_until(now, expires);
    Ok(json_response(
        StatusCode::OK,
        &envelope(None, Some(auth_block(&renewed, lease)), &warnings, "token"),
    ))
}

// ---------------------------------------------------------------------------------
// Fields, typed as Vault's framework reads them

fn conversion_error(name: &str, value: &Value, why: &str) -> VaultError {
    bad_request(format!(
        "error converting input {value} for field \"{name}\": {why}"
    ))
}

/// A string field (numbers and booleans read as their text).
pub(super) fn string_field(
    body: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, VaultError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(v) => Err(conversion_error(name, v, "expected a string")),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A boolean field (`true` or a string `strconv.ParseBool` reads); false when absent.
pub(super) fn bool_field(body: &Map<String, Value>, name: &str) -> Result<bool, VaultError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.is_empty() => Ok(false),
        Some(v @ Value::String(s)) => {
            parse_bool(s).ok_or_else(|| conversion_error(name, v, "invalid syntax"))
        }
        Some(v @ Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(conversion_error(name, v, "invalid syntax")),
        },
        Some(v) => Err(conversion_error(name, v, "expected a boolean")),
    }
}

/// A comma-separated list field (a string or an array of strings); empty items dropped.
pub(super) fn list_field(body: &Map<String, Value>, name: &str) -> Result<Vec<String>, VaultError> {
    let items: Vec<String> = match body.get(name) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(v @ Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => Err(conversion_error(name, v, "expected strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(v) => Err(conversion_error(name, v, "expected a string or a list"))?,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// A duration field: seconds (a number or a numeric string) or a Go duration
/// (`2160h`, `1h30m`, `90s`), or days (`7d`), as Vault's `parseutil` reads them.
pub(super) fn duration_field(
    body: &Map<String, Value>,
    name: &str,
) -> Result<Option<Duration>, VaultError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(s), _) => Ok(Some(Duration::from_secs(s))),
            (None, Some(f)) => Duration::try_from_secs_f64(f)
                .map(Some)
                .map_err(|e| conversion_error(name, v, &e.to_string())),
            _ => Err(conversion_error(name, v, "not a duration")),
        },
        Some(v @ Value::String(s)) => parse_duration(s)
            .map(Some)
            .map_err(|why| conversion_error(name, v, &why)),
        Some(v) => Err(conversion_error(name, v, "expected a duration")),
    }
}

pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Duration::ZERO);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| e.to_string());
    }
    if let Some(days) = s.strip_suffix('d')
        && days.bytes().all(|b| b.is_ascii_digit())
    {
        return days
            .parse::<u64>()
            .ok()
            .and_then(|d| d.checked_mul(86400))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("invalid duration {s:?}"));
    }
    // A Go duration: one or more <decimal><unit>.
    let bad = || format!("time: invalid duration {s:?}");
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {s:?}"))?;
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        total += value * seconds;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// A duration as Go prints one (`2160h0m0s`, `1m30s`, `45s`), whole seconds.
pub(super) fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// `now + d`, saturating (a client's huge TTL must not overflow).
pub(super) fn after(now: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Whole seconds from `now` to `t` (0 when past).
pub(super) fn seconds_until(now: Timestamp, t: Timestamp) -> u64 {
    t.duration_since(now).as_secs().max(0).unsigned_abs()
}
