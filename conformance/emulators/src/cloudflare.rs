//! A local emulator of Cloudflare's v4 API, the part DNS-01 uses, serving the records
//! it holds over DNS ([`super::dns`]).
//!
//! Under `/client/v4`: `GET /zones` (filters `name`, `status`; `page`, `per_page`),
//! `GET /zones/{id}`, `GET|POST /zones/{id}/dns_records` (filters `type`, `name`,
//! `content`, `match`; pagination), `GET|DELETE /zones/{id}/dns_records/{rid}`.
//! Authentication with `Authorization: Bearer <token>` (a token sees all zones or a
//! list) or `X-Auth-Email` + `X-Auth-Key`. Answers use Cloudflare's envelope
//! (`success`, `errors[{code, message, error_chain}]`, `messages`, `result`,
//! `result_info`) and its error codes: 6003 (with 6102/6103/6111) malformed auth
//! headers, 9106 missing ones, 9109 unknown token, 9103 unknown key or email, 10000
//! a credential not allowed on the zone, 7000 no route, 7003 malformed identifier, 1003
//! unknown zone, 1004 validation, 81044 unknown record, 81053 CNAME conflict, 81058
//! identical record.

// Handlers return `Err(Response)` early, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::EmulatorError;
use crate::dns::{DnsServer, RecordValue, StoredRecord, ZoneData, absolute};

/// A well-formed API token accepted for every zone by [`CloudflareEmulator::start`].
pub const TOKEN: &str = "certgate-conformance-token-0123456789abc";
/// The account email of the global API key accepted by the emulator.
pub const EMAIL: &str = "ops@example.com";
/// A well-formed global API key (37 hex digits) accepted with [`EMAIL`].
pub const API_KEY: &str = "0123456789abcdef0123456789abcdef01234";

/// Which zones a credential may use.
#[derive(Clone, Debug)]
pub enum Access {
    All,
    Zones(Vec<String>),
}

impl Access {
    fn allows(&self, zone: &str) -> bool {
        match self {
            Self::All => true,
            Self::Zones(zs) => zs.iter().any(|z| absolute(z) == absolute(zone)),
        }
    }
}

#[derive(Clone, Debug)]
struct CfRecord {
    id: String,
    name: String,
    rtype: String,
    content: String,
    ttl: u32,
    created_on: String,
    modified_on: String,
}

#[derive(Clone, Debug)]
struct CfZone {
    id: String,
    /// Without trailing dot, lowercase.
    name: String,
    created_on: String,
    records: Vec<CfRecord>,
}

#[derive(Default)]
struct Inner {
    zones: Vec<CfZone>,
    tokens: HashMap<String, Access>,
    keys: HashMap<(String, String), Access>,
    per_page_cap: Option<u32>,
}

struct Shared {
    inner: Mutex<Inner>,
    data: ZoneData,
    requests: AtomicU64,
    writes: AtomicU64,
    next_id: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let u = uuid::Uuid::new_v4().simple().to_string();
        format!("{:08x}{}", n, &u[8..])
    }

    /// Rewrites the DNS view of `zone`.
    fn sync(&self, zone: &CfZone) {
        let records = zone
            .records
            .iter()
            .filter_map(|r| {
                let value = match r.rtype.as_str() {
                    "A" => RecordValue::A(r.content.parse().ok()?),
                    "TXT" => RecordValue::Txt(crate::txt_content_value(&r.content)),
                    "CNAME" => RecordValue::Cname(absolute(&r.content)),
                    _ => return None,
                };
                Some(StoredRecord {
                    name: absolute(&r.name),
                    ttl: if r.ttl == 1 { 300 } else { r.ttl },
                    value,
                })
            })
            .collect();
        self.data.set_records(&zone.name, records);
    }
}

/// A running emulator; stops when dropped.
pub struct CloudflareEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    dns: DnsServer,
    task: JoinHandle<()>,
}

impl Drop for CloudflareEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // RFC 3339 with microseconds, as Cloudflare writes them.
    let secs = t.as_secs();
    let (days, rem) = (secs / 86400, secs % 86400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        t.subsec_micros()
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl CloudflareEmulator {
    /// Starts an emulator holding `zones` (empty), accepting [`TOKEN`] and
    /// [`EMAIL`] + [`API_KEY`] for every zone.
    pub async fn start(zones: &[&str]) -> Result<CloudflareEmulator, EmulatorError> {
        let data = ZoneData::default();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            data: data.clone(),
            requests: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        });
        {
            let mut inner = shared.lock();
            inner.tokens.insert(TOKEN.to_string(), Access::All);
            inner
                .keys
                .insert((EMAIL.to_string(), API_KEY.to_string()), Access::All);
        }
        let dns = DnsServer::start(data)
            .await
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let emulator = CloudflareEmulator {
            addr,
            shared,
            dns,
            task,
        };
        for z in zones {
            emulator.add_zone(z);
        }
        Ok(emulator)
    }

    /// Adds a zone (no-op when it is there) and returns its id.
    pub fn add_zone(&self, name: &str) -> String {
        let name = absolute(name).trim_end_matches('.').to_string();
        let mut inner = self.shared.lock();
        if let Some(z) = inner.zones.iter().find(|z| z.name == name) {
            return z.id.clone();
        }
        let zone = CfZone {
            id: self.shared.id(),
            name: name.clone(),
            created_on: now(),
            records: Vec::new(),
        };
        let id = zone.id.clone();
        self.shared.sync(&zone);
        inner.zones.push(zone);
        id
    }

    /// Accepts `token` for `access`.
    pub fn add_token(&self, token: &str, access: Access) {
        self.shared.lock().tokens.insert(token.to_string(), access);
    }

    /// Serves at most `n` items per page whatever the client asks (to exercise
    /// clients' pagination with few records).
    pub fn cap_per_page(&self, n: u32) {
        self.shared.lock().per_page_cap = Some(n.max(1));
    }

    /// The API base URL: `http://127.0.0.1:<port>/client/v4/`.
    pub fn api_url(&self) -> String {
        format!("http://{}/client/v4/", self.addr)
    }

    /// Where its DNS server listens (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// Its DNS server, to make it lag, fail or fall silent.
    pub fn dns_server(&self) -> &DnsServer {
        &self.dns
    }

    /// The zones and records served over DNS.
    pub fn zone_data(&self) -> ZoneData {
        self.shared.data.clone()
    }

    /// The TXT record contents held for `name` (any zone).
    pub fn txt_contents(&self, name: &str) -> Vec<String> {
        let name = absolute(name).trim_end_matches('.').to_string();
        let inner = self.shared.lock();
        inner
            .zones
            .iter()
            .flat_map(|z| z.records.iter())
            .filter(|r| r.rtype == "TXT" && r.name == name)
            .map(|r| r.content.clone())
            .collect()
    }

    /// The TXT record contents held for `name` in zone `zone`.
    pub fn txt_contents_in(&self, zone: &str, name: &str) -> Vec<String> {
        let zone = absolute(zone).trim_end_matches('.').to_string();
        let name = absolute(name).trim_end_matches('.').to_string();
        let inner = self.shared.lock();
        inner
            .zones
            .iter()
            .filter(|z| z.name == zone)
            .flat_map(|z| z.records.iter())
            .filter(|r| r.rtype == "TXT" && r.name == name)
            .map(|r| r.content.clone())
            .collect()
    }

    /// How many API requests it answered.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// How many of them created or deleted records.
    pub fn writes(&self) -> u64 {
        self.shared.writes.load(Ordering::Relaxed)
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/client/v4/zones", get(list_zones))
        .route("/client/v4/zones/{zone}", get(get_zone))
        .route(
            "/client/v4/zones/{zone}/dns_records",
            get(list_records).post(create_record),
        )
        .route(
            "/client/v4/zones/{zone}/dns_records/{record}",
            get(get_record).delete(delete_record),
        )
        .fallback(no_route)
        .with_state(shared)
}

fn error(status: StatusCode, code: u32, message: &str, chain: &[(u32, &str)]) -> Response {
    let mut e = json!({"code": code, "message": message});
    if !chain.is_empty() {
        e["error_chain"] = chain
            .iter()
            .map(|(c, m)| json!({"code": c, "message": m}))
            .collect();
    }
    (
        status,
        axum::Json(json!({"success": false, "errors": [e], "messages": [], "result": null})),
    )
        .into_response()
}

fn success(result: Value, result_info: Option<Value>) -> Response {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(info) = result_info {
        body["result_info"] = info;
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn no_route(method: Method, uri: axum::http::Uri) -> Response {
    let _ = method;
    error(
        StatusCode::BAD_REQUEST,
        7000,
        &format!("No route for that URI: {}", uri.path()),
        &[],
    )
}

/// The caller's access, or the error Cloudflare answers.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Access, Response> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let inner = shared.lock();
    if let Some(auth) = header("authorization") {
        let token = auth.strip_prefix("Bearer ").unwrap_or("");
        let well_formed = token.len() == 40
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(error(
                StatusCode::BAD_REQUEST,
                6003,
                "Invalid request headers",
                &[(6111, "Invalid format for Authorization header")],
            ));
        }
        return inner
            .tokens
            .get(token)
            .cloned()
            .ok_or_else(|| error(StatusCode::FORBIDDEN, 9109, "Invalid access token", &[]));
    }
    match (header("x-auth-email"), header("x-auth-key")) {
        (Some(email), Some(key)) => {
            if !email.contains('@') {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    6003,
                    "Invalid request headers",
                    &[(6102, "Invalid format for X-Auth-Email header")],
                ));
            }
            if key.len() != 37 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    6003,
                    "Invalid request headers",
                    &[(6103, "Invalid format for X-Auth-Key header")],
                ));
            }
            inner
                .keys
                .get(&(email.to_string(), key.to_string()))
                .cloned()
                .ok_or_else(|| {
                    error(
                        StatusCode::FORBIDDEN,
                        9103,
                        "Unknown X-Auth-Key or X-Auth-Email",
                        &[],
                    )
                })
        }
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            9106,
            "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
            &[],
        )),
    }
}

fn zone_json(z: &CfZone) -> Value {
    json!({
        "id": z.id,
        "name": z.name,
        "status": "active",
        "paused": false,
        "type": "full",
        "development_mode": 0,
        "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
        "original_name_servers": null,
        "original_registrar": null,
        "original_dnshost": null,
        "created_on": z.created_on,
        "modified_on": z.created_on,
        "activated_on": z.created_on,
        "meta": {"step": 4, "custom_certificate_quota": 0, "page_rule_quota": 3,
                 "phishing_detected": false, "cdn_only": false, "dns_only": false, "foundation_dns": false},
        "owner": {"id": null, "type": "user", "email": null},
        "account": {"id": "0123456789abcdef0123456789abcdef", "name": "certgate conformance"},
        "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
        "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website", "price": 0,
                 "currency": "USD", "frequency": "", "is_subscribed": false, "can_subscribe": false,
                 "legacy_id": "free", "legacy_discount": false, "externally_managed": false},
    })
}

fn record_json(z: &CfZone, r: &CfRecord) -> Value {
    json!({
        "id": r.id,
        "zone_id": z.id,
        "zone_name": z.name,
        "name": r.name,
        "type": r.rtype,
        "content": r.content,
        "proxiable": false,
        "proxied": false,
        "ttl": r.ttl,
        "settings": {},
        "meta": {"auto_added": false, "managed_by_apps": false, "managed_by_argo_tunnel": false},
        "comment": null,
        "tags": [],
        "created_on": r.created_on,
        "modified_on": r.modified_on,
    })
}

/// `page` and `per_page` from a query, within `[min, max]` per page.
fn paging(
    q: &HashMap<String, String>,
    default: u32,
    min: u32,
    max: u32,
    cap: Option<u32>,
) -> Result<(u32, u32), Response> {
    let num = |k: &str, d: u32| -> Result<u32, Response> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => v.parse::<u32>().map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    1004,
                    &format!("Invalid {k}: {v:?} is not a number"),
                    &[],
                )
            }),
        }
    };
    let page = num("page", 1)?.max(1);
    let mut per_page = num("per_page", default)?.clamp(min, max);
    if let Some(cap) = cap {
        per_page = per_page.min(cap);
    }
    Ok((page, per_page))
}

fn paginate<T: Clone>(items: &[T], page: u32, per_page: u32) -> (Vec<T>, Value) {
    let total = items.len();
    let per = per_page as usize;
    let start = (page as usize - 1).saturating_mul(per).min(total);
    let end = (start + per).min(total);
    let slice = items[start..end].to_vec();
    let info = json!({
        "page": page,
        "per_page": per_page,
        "count": slice.len(),
        "total_count": total,
        "total_pages": total.div_ceil(per).max(1),
    });
    (slice, info)
}

async fn list_zones(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let (page, per_page) = match paging(&q, 20, 5, 50, inner.per_page_cap) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let name = q
        .get("name")
        .map(|n| absolute(n).trim_end_matches('.').to_string());
    let status_ok = q.get("status").is_none_or(|s| s == "active");
    let zones: Vec<CfZone> = inner
        .zones
        .iter()
        .filter(|z| access.allows(&z.name))
        .filter(|z| name.as_ref().is_none_or(|n| &z.name == n))
        .filter(|_| status_ok)
        .cloned()
        .collect();
    let (slice, info) = paginate(&zones, page, per_page);
    success(
        Value::Array(slice.iter().map(zone_json).collect()),
        Some(info),
    )
}

fn is_identifier(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The zone `id` if the caller may use it, or Cloudflare's error.
fn zone_for(inner: &Inner, access: &Access, id: &str, path: &str) -> Result<usize, Response> {
    if !is_identifier(id) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            7003,
            &format!("Could not route to {path}, perhaps your object identifier is invalid?"),
            &[],
        ));
    }
    let Some(i) = inner.zones.iter().position(|z| z.id == id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            1003,
            "Invalid or missing zone id.",
            &[],
        ));
    };
    if !access.allows(&inner.zones[i].name) {
        return Err(error(
            StatusCode::FORBIDDEN,
            10000,
            "Authentication error",
            &[],
        ));
    }
    Ok(i)
}

async fn get_zone(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let inner = shared.lock();
    match zone_for(&inner, &access, &zone, uri.path()) {
        Ok(i) => success(zone_json(&inner.zones[i]), None),
        Err(r) => r,
    }
}

/// A record name as Cloudflare stores it: absolute in the zone, without trailing dot.
fn full_name(name: &str, zone: &str) -> String {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if n == "@" || n.is_empty() {
        zone.to_string()
    } else if n == zone || n.ends_with(&format!(".{zone}")) {
        n
    } else {
        format!("{n}.{zone}")
    }
}

async fn list_records(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let i = match zone_for(&inner, &access, &zone, uri.path()) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let (page, per_page) = match paging(&q, 100, 5, 5_000_000, inner.per_page_cap) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let z = &inner.zones[i];
    let any = q.get("match").is_some_and(|m| m == "any");
    let rtype = q.get("type").map(|t| t.to_ascii_uppercase());
    let name = q
        .get("name")
        .or_else(|| q.get("name.exact"))
        .map(|n| full_name(n, &z.name));
    let content = q.get("content").or_else(|| q.get("content.exact"));
    let records: Vec<CfRecord> = z
        .records
        .iter()
        .filter(|r| {
            let tests = [
                rtype.as_ref().map(|t| &r.rtype == t),
                name.as_ref().map(|n| &r.name == n),
                content.map(|c| &r.content == c),
            ];
            let given: Vec<bool> = tests.into_iter().flatten().collect();
            given.is_empty()
                || if any {
                    given.iter().any(|b| *b)
                } else {
                    given.iter().all(|b| *b)
                }
        })
        .cloned()
        .collect();
    let (slice, info) = paginate(&records, page, per_page);
    success(
        Value::Array(slice.iter().map(|r| record_json(z, r)).collect()),
        Some(info),
    )
}

async fn create_record(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            9207,
            "Request body is invalid.",
            &[],
        );
    };
    let mut inner = shared.lock();
    let i = match zone_for(&inner, &access, &zone, uri.path()) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let z = &mut inner.zones[i];
    let rtype = body["type"].as_str().unwrap_or("").to_ascii_uppercase();
    let Some(name) = body["name"].as_str().filter(|n| !n.trim().is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            1004,
            "DNS Validation Error",
            &[(9007, "Record name is required.")],
        );
    };
    let name = full_name(name, &z.name);
    let content = body["content"].as_str().unwrap_or("").to_string();
    let ttl = body["ttl"].as_u64().unwrap_or(1) as u32;
    if !matches!(rtype.as_str(), "A" | "TXT" | "CNAME") {
        return error(
            StatusCode::BAD_REQUEST,
            1004,
            "DNS Validation Error",
            &[(9000, "The emulator stores A, TXT and CNAME records only.")],
        );
    }
    if content.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            1004,
            "DNS Validation Error",
            &[(9005, "Content is required.")],
        );
    }
    if rtype == "A" && content.parse::<std::net::Ipv4Addr>().is_err() {
        return error(
            StatusCode::BAD_REQUEST,
            1004,
            "DNS Validation Error",
            &[(9005, "Content for A record must be a valid IPv4 address.")],
        );
    }
    if ttl != 1 && !(60..=86400).contains(&ttl) {
        return error(
            StatusCode::BAD_REQUEST,
            1004,
            "DNS Validation Error",
            &[(
                9021,
                "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
            )],
        );
    }
    if z.records
        .iter()
        .any(|r| r.name == name && r.rtype == rtype && r.content == content)
    {
        return error(
            StatusCode::BAD_REQUEST,
            81058,
            "An identical record already exists.",
            &[],
        );
    }
    if z.records
        .iter()
        .any(|r| r.name == name && (r.rtype == "CNAME") != (rtype == "CNAME"))
    {
        return error(
            StatusCode::BAD_REQUEST,
            81053,
            "An A, AAAA, or CNAME record with that host already exists.",
            &[],
        );
    }
    let t = now();
    let record = CfRecord {
        id: shared.id(),
        name,
        rtype,
        content,
        ttl,
        created_on: t.clone(),
        modified_on: t,
    };
    z.records.push(record.clone());
    let out = record_json(z, &record);
    shared.sync(z);
    shared.writes.fetch_add(1, Ordering::Relaxed);
    success(out, None)
}

fn record_index(z: &CfZone, rid: &str, path: &str) -> Result<usize, Response> {
    if !is_identifier(rid) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            7003,
            &format!("Could not route to {path}, perhaps your object identifier is invalid?"),
            &[],
        ));
    }
    z.records
        .iter()
        .position(|r| r.id == rid)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, 81044, "Record does not exist.", &[]))
}

async fn get_record(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((zone, rid)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let i = match zone_for(&inner, &access, &zone, uri.path()) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let z = &inner.zones[i];
    match record_index(z, &rid, uri.path()) {
        Ok(j) => success(record_json(z, &z.records[j]), None),
        Err(r) => r,
    }
}

async fn delete_record(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((zone, rid)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let mut inner = shared.lock();
    let i = match zone_for(&inner, &access, &zone, uri.path()) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let z = &mut inner.zones[i];
    match record_index(z, &rid, uri.path()) {
        Ok(j) => {
            let r = z.records.remove(j);
            shared.sync(z);
            shared.writes.fetch_add(1, Ordering::Relaxed);
            success(json!({"id": r.id}), None)
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19723), (2024, 1, 1));
        assert!(now().ends_with('Z'));
    }

    #[test]
    fn names_and_pages() {
        assert_eq!(full_name("@", "example.com"), "example.com");
        assert_eq!(
            full_name("_acme-challenge", "example.com"),
            "_acme-challenge.example.com"
        );
        assert_eq!(
            full_name("_acme-challenge.Example.com.", "example.com"),
            "_acme-challenge.example.com"
        );
        let (slice, info) = paginate(&[1, 2, 3, 4, 5], 2, 2);
        assert_eq!(slice, vec![3, 4]);
        assert_eq!(info["total_pages"], 3);
        let (slice, info) = paginate::<u8>(&[], 1, 20);
        assert!(slice.is_empty());
        assert_eq!(info["total_pages"], 1);
    }
}
