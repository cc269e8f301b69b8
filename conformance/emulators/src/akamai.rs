//! A local emulator of Akamai Edge DNS's zone management API (config-dns v2), the
//! record-set part DNS-01 uses, behind EdgeGrid authentication, serving the records
//! it holds over DNS ([`super::dns`]).
//!
//! `GET|POST|PUT|DELETE /config-dns/v2/zones/{zone}/names/{name}/types/{type}` with
//! record sets `{"name", "type", "ttl", "rdata": [..]}` (`name` the fully qualified
//! name without trailing dot; TXT rdata held quoted, `"\"value\""`, quotes added to
//! values sent without) and `GET /config-dns/v2/zones/{zone}`. POST creates (201;
//! 409 when the set exists), PUT replaces (200; 404 when it does not), DELETE removes
//! (204; 404 when missing), GET reads (200; 404 `Not Found` for a missing set or
//! zone). Errors are problem details (`{"type", "title", "status", "detail",
//! "instance"}`).
//!
//! Every request must carry `Authorization: EG1-HMAC-SHA256
//! client_token=…;access_token=…;timestamp=…;nonce=…;signature=…`, verified as
//! EdgeGrid specifies: the signing key is base64(HMAC-SHA256(client secret,
//! timestamp)); the signed data is method, scheme (`http`: this emulator's), `Host`,
//! path with query, no headers, the base64 SHA-256 of a POST body (its first 131072
//! bytes; empty for other methods) and the header up to `signature=`, joined by tabs;
//! the signature is base64(HMAC-SHA256(signing key, data)). Refusals as Akamai's
//! gateway gives them: an unknown client token, a wrong access token or a signature
//! that does not match are 401 (`pep-authn/deny`); a malformed header, a timestamp
//! (`yyyyMMddTHH:mm:ss+0000`, UTC) more than [`TIMESTAMP_WINDOW`] away from the
//! emulator's clock or a nonce used before are 400 (`pep-authn/request-error`). A
//! client with read-only access gets 403 on writes, one without access to a zone 403
//! on it.
//!
//! Throttling (429, with `Retry-After` when asked), server errors and lost answers
//! happen only when a test injects them ([`AkamaiEmulator::inject`]).

// Handlers return `Err(Response)` early, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::EmulatorError;
use crate::dns::{DnsServer, RecordValue, StoredRecord, ZoneData, absolute};

/// An API client accepted with read-write access to every zone by
/// [`AkamaiEmulator::start`]: its client token, client secret and access token.
pub const CLIENT_TOKEN: &str = "akab-emulatedclienttk-0123456789abcdef";
pub const CLIENT_SECRET: &str = "Em9ulatedClientSecret/0123456789abcdefghij+=";
pub const ACCESS_TOKEN: &str = "akab-emulatedaccesstk-fedcba9876543210";
/// How far a request's timestamp may be from the emulator's clock, in seconds.
pub const TIMESTAMP_WINDOW: i64 = 60;
/// The bytes of a POST body that are hashed (EdgeGrid's `max_body`).
pub const MAX_BODY: usize = 131_072;

/// What an API client may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and write every zone.
    ReadWrite,
    /// Read only: writes are 403.
    ReadOnly,
    /// Read and write these zones only: others are 403.
    Zones(Vec<String>),
}

/// A failure the next request gets instead of its answer (after authentication).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 429 `Too Many Requests`, with `Retry-After` when given.
    Throttled { retry_after: Option<u64> },
    /// This status (5xx) with a problem body.
    Status(u16),
    /// The request is carried out, but answered with this status.
    Lost(u16),
    /// Answered normally (to aim a failure at a later request).
    Pass,
}

/// One request as the emulator saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRequest {
    pub method: String,
    /// Path with query.
    pub uri: String,
    pub body: Option<Value>,
    /// Whether its EdgeGrid signature was verified.
    pub signed: bool,
    /// Why authentication failed, when it did.
    pub refused: Option<String>,
    /// The nonce it carried.
    pub nonce: String,
}

#[derive(Clone, Debug)]
struct ApiClient {
    secret: String,
    access_token: String,
    access: Access,
}

#[derive(Clone, Debug)]
struct RecordSet {
    ttl: u64,
    /// As held: quoted character strings.
    rdata: Vec<String>,
}

#[derive(Clone, Debug, Default)]
struct EdgeZone {
    /// Lowercase, without trailing dot.
    name: String,
    /// Fully qualified name (lowercase, no trailing dot) → TXT set.
    sets: BTreeMap<String, RecordSet>,
}

#[derive(Default)]
struct Inner {
    zones: Vec<EdgeZone>,
    clients: HashMap<String, ApiClient>,
    nonces: HashSet<String>,
    failures: VecDeque<Failure>,
    log: Vec<LoggedRequest>,
}

struct Shared {
    inner: Mutex<Inner>,
    data: ZoneData,
    requests: AtomicU64,
    writes: AtomicU64,
    refused: AtomicU64,
    clock_offset: AtomicI64,
    base: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sync(&self, zone: &EdgeZone) {
        let records = zone
            .sets
            .iter()
            .flat_map(|(name, set)| {
                set.rdata.iter().map(move |r| StoredRecord {
                    name: absolute(name),
                    ttl: u32::try_from(set.ttl).unwrap_or(u32::MAX),
                    value: RecordValue::Txt(crate::txt_content_value(r)),
                })
            })
            .collect();
        self.data.set_records(&zone.name, records);
    }
}

/// A running emulator; stops when dropped.
pub struct AkamaiEmulator {
    shared: Arc<Shared>,
    dns: DnsServer,
    task: JoinHandle<()>,
}

impl Drop for AkamaiEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AkamaiEmulator {
    /// Starts an emulator holding `zones`, accepting [`CLIENT_TOKEN`] /
    /// [`CLIENT_SECRET`] / [`ACCESS_TOKEN`] with read-write access.
    pub async fn start(zones: &[&str]) -> Result<AkamaiEmulator, EmulatorError> {
        let data = ZoneData::default();
        let dns = DnsServer::start(data.clone())
            .await
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            data,
            requests: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            clock_offset: AtomicI64::new(0),
            base: format!("http://{addr}/"),
        });
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let emulator = AkamaiEmulator { shared, dns, task };
        emulator.add_client(CLIENT_TOKEN, CLIENT_SECRET, ACCESS_TOKEN, Access::ReadWrite);
        for z in zones {
            emulator.add_zone(z);
        }
        Ok(emulator)
    }

    /// Adds a zone (no-op when it is there).
    pub fn add_zone(&self, name: &str) {
        let name = absolute(name).trim_end_matches('.').to_string();
        let mut inner = self.shared.lock();
        if inner.zones.iter().any(|z| z.name == name) {
            return;
        }
        let zone = EdgeZone {
            name,
            sets: BTreeMap::new(),
        };
        self.shared.sync(&zone);
        inner.zones.push(zone);
    }

    /// Accepts an API client.
    pub fn add_client(&self, client_token: &str, secret: &str, access_token: &str, access: Access) {
        self.shared.lock().clients.insert(
            client_token.to_string(),
            ApiClient {
                secret: secret.to_string(),
                access_token: access_token.to_string(),
                access,
            },
        );
    }

    /// Adds `value` to the TXT set `name` (fully qualified), as another client would.
    pub fn add_txt(&self, name: &str, value: &str) {
        let name = absolute(name).trim_end_matches('.').to_string();
        let mut inner = self.shared.lock();
        if let Some(z) = inner
            .zones
            .iter_mut()
            .filter(|z| name == z.name || name.ends_with(&format!(".{}", z.name)))
            .max_by_key(|z| z.name.len())
        {
            z.sets
                .entry(name)
                .or_insert_with(|| RecordSet {
                    ttl: 300,
                    rdata: Vec::new(),
                })
                .rdata
                .push(format!("\"{value}\""));
            self.shared.sync(z);
        }
    }

    /// Moves the emulator's clock by `secs` (to see skewed timestamps refused).
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared.clock_offset.store(secs, Ordering::Relaxed);
    }

    /// The next requests that pass authentication get these failures, one each.
    pub fn inject(&self, failures: impl IntoIterator<Item = Failure>) {
        self.shared.lock().failures.extend(failures);
    }

    /// The API root, standing in for `https://<serviceConsumerDomain>/`.
    pub fn api_url(&self) -> String {
        self.shared.base.clone()
    }

    /// Where its DNS server listens (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// The zones and records served over DNS.
    pub fn zone_data(&self) -> ZoneData {
        self.shared.data.clone()
    }

    /// The rdata (quoted, as held) of the TXT set `name` (fully qualified).
    pub fn txt_rdata(&self, name: &str) -> Vec<String> {
        self.set(name).map(|s| s.rdata).unwrap_or_default()
    }

    /// The TTL of the TXT set `name`.
    pub fn txt_ttl(&self, name: &str) -> Option<u64> {
        self.set(name).map(|s| s.ttl)
    }

    fn set(&self, name: &str) -> Option<RecordSet> {
        let name = absolute(name).trim_end_matches('.').to_string();
        let inner = self.shared.lock();
        inner.zones.iter().find_map(|z| z.sets.get(&name).cloned())
    }

    /// The requests answered so far, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    /// How many requests it answered (refused and injected failures included).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// How many changed a record set.
    pub fn writes(&self) -> u64 {
        self.shared.writes.load(Ordering::Relaxed)
    }

    /// How many were refused by authentication.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/config-dns/v2/zones/{zone}/names/{name}/types/{rtype}",
            get(record).post(record).put(record).delete(record),
        )
        .route("/config-dns/v2/zones/{zone}", get(get_zone))
        .fallback(no_route)
        .layer(from_fn_with_state(shared.clone(), front))
        .with_state(shared)
}

fn problem(status: StatusCode, kind: &str, title: &str, detail: &str, instance: &str) -> Response {
    (
        status,
        [("content-type", "application/problem+json")],
        json!({
            "type": format!("https://problems.luna.akamaiapis.net/{kind}"),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
            "instance": instance,
            "requestId": uuid::Uuid::new_v4().simple().to_string(),
        })
        .to_string(),
    )
        .into_response()
}

async fn no_route(request: Request) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "config-dns/v2/not-found",
        "Not Found",
        "The requested resource is not served by the emulator",
        request.uri().path(),
    )
}

fn hmac_b64(key: &[u8], data: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::hmac::sign(&key, data).as_ref())
}

/// The parsed `Authorization` header: its fields, and the part that is signed.
struct AuthHeader {
    fields: HashMap<String, String>,
    unsigned: String,
}

fn parse_auth(value: &str) -> Option<AuthHeader> {
    let rest = value.strip_prefix("EG1-HMAC-SHA256 ")?;
    let at = value.find("signature=")?;
    let mut fields = HashMap::new();
    for part in rest.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=')?;
        fields.insert(k.trim().to_string(), v.to_string());
    }
    Some(AuthHeader {
        fields,
        unsigned: value[..at].to_string(),
    })
}

/// Seconds since the epoch of an EdgeGrid timestamp (`20140321T19:34:21+0000`).
fn parse_timestamp(ts: &str) -> Option<i64> {
    let ts = ts.strip_suffix("+0000")?;
    let dt = jiff::civil::DateTime::strptime("%Y%m%dT%H:%M:%S", ts).ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// Verifies a request's EdgeGrid signature; the client's access, or why not.
fn verify(
    shared: &Shared,
    method: &Method,
    host: &str,
    path_and_query: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Result<Access, (StatusCode, &'static str, String)> {
    let deny = |detail: &str| {
        (
            StatusCode::UNAUTHORIZED,
            "-/pep-authn/deny",
            detail.to_string(),
        )
    };
    let bad = |detail: &str| {
        (
            StatusCode::BAD_REQUEST,
            "-/pep-authn/request-error",
            detail.to_string(),
        )
    };
    let header = auth
        .and_then(parse_auth)
        .ok_or_else(|| bad("Invalid authorization header"))?;
    let field = |k: &str| header.fields.get(k).cloned().unwrap_or_default();
    let client = {
        let inner = shared.lock();
        inner.clients.get(&field("client_token")).cloned()
    }
    .ok_or_else(|| deny("Invalid authorization client token"))?;
    if field("access_token") != client.access_token {
        return Err(deny("Invalid authorization access token"));
    }
    let timestamp = field("timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
        + shared.clock_offset.load(Ordering::Relaxed);
    match parse_timestamp(&timestamp) {
        Some(t) if (now - t).abs() <= TIMESTAMP_WINDOW => {}
        _ => return Err(bad("Invalid timestamp")),
    }
    let nonce = field("nonce");
    if nonce.is_empty() {
        return Err(bad("Invalid nonce"));
    }
    let content_hash = if *method == Method::POST && !body.is_empty() {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &body[..body.len().min(MAX_BODY)],
        );
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    } else {
        String::new()
    };
    let data = [
        method.as_str(),
        "http",
        host,
        path_and_query,
        "",
        &content_hash,
        &header.unsigned,
    ]
    .join("\t");
    let signing_key = hmac_b64(client.secret.as_bytes(), timestamp.as_bytes());
    let expected = hmac_b64(signing_key.as_bytes(), data.as_bytes());
    if field("signature") != expected {
        return Err(deny("The signature does not match"));
    }
    // A nonce is good once (checked after the signature, so a forged request cannot
    // burn a client's nonce).
    if !shared.lock().nonces.insert(nonce) {
        return Err(bad("Invalid nonce"));
    }
    Ok(client.access)
}

/// Counts, logs and authenticates every request; answers injected failures.
async fn front(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let nonce = auth
        .as_deref()
        .and_then(parse_auth)
        .and_then(|h| h.fields.get("nonce").cloned())
        .unwrap_or_default();
    let verdict = verify(
        &shared,
        &parts.method,
        &host,
        &path_and_query,
        auth.as_deref(),
        &bytes,
    );
    let failure = {
        let mut inner = shared.lock();
        inner.log.push(LoggedRequest {
            method: parts.method.to_string(),
            uri: path_and_query.clone(),
            body: serde_json::from_slice(&bytes).ok(),
            signed: verdict.is_ok(),
            refused: verdict.as_ref().err().map(|(_, _, d)| d.clone()),
            nonce,
        });
        if verdict.is_ok() {
            inner.failures.pop_front()
        } else {
            None
        }
    };
    let access = match verdict {
        Ok(a) => a,
        Err((status, kind, detail)) => {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            let title = if status == StatusCode::UNAUTHORIZED {
                "Not authorized"
            } else {
                "Bad request"
            };
            return problem(status, kind, title, &detail, parts.uri.path());
        }
    };
    parts.extensions.insert(access);
    let server_error = |status: u16| {
        problem(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "config-dns/v2/server-error",
            "Internal Server Error",
            "An unexpected error occurred",
            parts.uri.path(),
        )
    };
    match failure {
        Some(Failure::Throttled { retry_after }) => {
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "config-dns/v2/rate-limit",
                "Too Many Requests",
                "The rate limit for this API client was exceeded",
                parts.uri.path(),
            );
            if let Some(secs) = retry_after
                && let Ok(v) = HeaderValue::from_str(&secs.to_string())
            {
                r.headers_mut().insert("retry-after", v);
            }
            r
        }
        Some(Failure::Status(status)) => server_error(status),
        Some(Failure::Lost(status)) => {
            let r = server_error(status);
            let _ = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            r
        }
        Some(Failure::Pass) | None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// The zone's index if it exists and `access` may use it (`write`: to change it).
fn zone_index(inner: &Inner, access: &Access, zone: &str, write: bool) -> Result<usize, Response> {
    let name = zone.trim_end_matches('.').to_ascii_lowercase();
    let instance = format!("/config-dns/v2/zones/{name}");
    let i = inner
        .zones
        .iter()
        .position(|z| z.name == name)
        .ok_or_else(|| {
            problem(
                StatusCode::NOT_FOUND,
                "config-dns/v2/not-found",
                "Not Found",
                &format!("Zone {name} does not exist"),
                &instance,
            )
        })?;
    let allowed = match access {
        Access::ReadWrite => true,
        Access::ReadOnly => !write,
        Access::Zones(zs) => zs
            .iter()
            .any(|z| z.trim_end_matches('.').eq_ignore_ascii_case(&name)),
    };
    if !allowed {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "config-dns/v2/forbidden",
            "Forbidden",
            &format!(
                "The API client does not have {} access to zone {name}",
                if write { "write" } else { "read" }
            ),
            &instance,
        ));
    }
    Ok(i)
}

async fn get_zone(
    State(shared): State<Arc<Shared>>,
    axum::Extension(access): axum::Extension<Access>,
    Path(zone): Path<String>,
) -> Response {
    let inner = shared.lock();
    match zone_index(&inner, &access, &zone, false) {
        Ok(i) => (
            StatusCode::OK,
            axum::Json(json!({"zone": inner.zones[i].name, "type": "PRIMARY", "activationState": "ACTIVE"})),
        )
            .into_response(),
        Err(r) => r,
    }
}

fn bad_request(detail: &str, instance: &str) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "config-dns/v2/bad-request",
        "Bad Request",
        detail,
        instance,
    )
}

fn set_json(name: &str, set: &RecordSet) -> Value {
    json!({"name": name, "type": "TXT", "ttl": set.ttl, "rdata": set.rdata})
}

async fn record(
    State(shared): State<Arc<Shared>>,
    axum::Extension(access): axum::Extension<Access>,
    method: Method,
    Path((zone, name, rtype)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let instance = format!("/config-dns/v2/zones/{zone}/names/{name}/types/{rtype}");
    if !rtype.eq_ignore_ascii_case("TXT") {
        return bad_request("The emulator holds TXT record sets only", &instance);
    }
    let write = method != Method::GET;
    let mut inner = shared.lock();
    let i = match zone_index(&inner, &access, &zone, write) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let z = &mut inner.zones[i];
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if !(name == z.name || name.ends_with(&format!(".{}", z.name))) {
        return bad_request(
            &format!("Record name {name} is not in zone {}", z.name),
            &instance,
        );
    }
    let not_found = || {
        problem(
            StatusCode::NOT_FOUND,
            "config-dns/v2/not-found",
            "Not Found",
            &format!(
                "Recordset {name} of type TXT was not found in zone {}",
                z.name
            ),
            &instance,
        )
    };
    let existing = z.sets.get(&name).cloned();
    match method {
        Method::GET => match existing {
            Some(s) => (StatusCode::OK, axum::Json(set_json(&name, &s))).into_response(),
            None => not_found(),
        },
        Method::DELETE => {
            if existing.is_none() {
                return not_found();
            }
            z.sets.remove(&name);
            shared.sync(z);
            shared.writes.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT.into_response()
        }
        Method::POST | Method::PUT => {
            if method == Method::POST && existing.is_some() {
                return problem(
                    StatusCode::CONFLICT,
                    "config-dns/v2/conflict",
                    "Conflict",
                    &format!("Recordset {name} of type TXT already exists"),
                    &instance,
                );
            }
            if method == Method::PUT && existing.is_none() {
                return not_found();
            }
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return bad_request("The request body is not valid JSON", &instance);
            };
            if v["name"]
                .as_str()
                .is_none_or(|n| n.trim_end_matches('.').to_ascii_lowercase() != name)
            {
                return bad_request("The record name must match the name in the URL", &instance);
            }
            if !v["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("TXT"))
            {
                return bad_request("The record type must match the type in the URL", &instance);
            }
            let Some(ttl) = v["ttl"].as_u64().filter(|t| *t >= 1) else {
                return bad_request("ttl is required and must be a positive number", &instance);
            };
            let rdata: Vec<String> = v["rdata"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str())
                        .map(|s| {
                            if s.starts_with('"') {
                                s.to_string()
                            } else {
                                format!("\"{s}\"")
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            if rdata.is_empty() {
                return bad_request("rdata must hold at least one value", &instance);
            }
            let set = RecordSet { ttl, rdata };
            z.sets.insert(name.clone(), set.clone());
            shared.sync(z);
            shared.writes.fetch_add(1, Ordering::Relaxed);
            let status = if method == Method::POST {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, axum::Json(set_json(&name, &set))).into_response()
        }
        _ => problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "config-dns/v2/method-not-allowed",
            "Method Not Allowed",
            "Method not allowed",
            &instance,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("19700101T00:00:10+0000"), Some(10));
        assert_eq!(
            parse_timestamp("20140321T19:34:21+0000"),
            Some(1_395_430_461)
        );
        assert_eq!(parse_timestamp("20140321T19:34:21Z"), None);
    }

    #[test]
    fn headers() {
        let h = parse_auth(
            "EG1-HMAC-SHA256 client_token=a;access_token=b;timestamp=t;nonce=n;signature=s=",
        )
        .unwrap();
        assert_eq!(h.fields["signature"], "s=");
        assert_eq!(
            h.unsigned,
            "EG1-HMAC-SHA256 client_token=a;access_token=b;timestamp=t;nonce=n;"
        );
        assert!(parse_auth("Bearer x").is_none());
    }
}
