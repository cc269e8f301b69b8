//! A local emulator of DigitalOcean's API v2, the domain-records part DNS-01 uses,
//! serving the records it holds over DNS ([`super::dns`]).
//!
//! `GET /v2/domains/{domain}`, `GET|POST /v2/domains/{domain}/records` (filters
//! `type` and `name`, the record's fully qualified name without trailing dot;
//! `page`, `per_page` 1–200, default 20; `links.pages` with `first`/`prev`/`next`/
//! `last` and `meta.total`), `GET|DELETE /v2/domains/{domain}/records/{id}`. A record
//! `name` is relative to the domain (`@` the apex) unless it ends with a dot (then it
//! must lie in the domain); records are listed with relative names. Authentication is
//! `Authorization: Bearer <token>`. Errors have DigitalOcean's shape `{"id",
//! "message"}`: 401 `unauthorized`, 403 `forbidden` (a read-only token writing), 404
//! `not_found` (also a domain the token's team does not hold), 422
//! `unprocessable_entity`, 429 `too_many_requests` (with `Retry-After`), 5xx
//! `server_error`. Every answer carries `ratelimit-limit`, `ratelimit-remaining` and
//! `ratelimit-reset`. Throttling and server errors happen only when a test injects
//! them ([`DigitalOceanEmulator::inject`]).

// Handlers return `Err(Response)` early, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::EmulatorError;
use crate::dns::{DnsServer, RecordValue, StoredRecord, ZoneData, absolute};

/// A well-formed personal access token accepted with full access by
/// [`DigitalOceanEmulator::start`].
pub const TOKEN: &str = "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The hourly request quota announced in `ratelimit-limit`.
const RATE_LIMIT: u64 = 5000;
/// Records per page without `per_page`, and the most a page may hold.
const DEFAULT_PER_PAGE: usize = 20;
const MAX_PER_PAGE: usize = 200;
/// The TTL of records created without one (DigitalOcean's default) and the least allowed.
const DEFAULT_TTL: u32 = 1800;
const MIN_TTL: u32 = 30;

/// What a token may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and write every domain (scopes `domain:read`, `domain:create`,
    /// `domain:delete`).
    Full,
    /// `domain:read` only: writes are 403.
    ReadOnly,
    /// A token of another team that holds only these domains: the others are 404.
    Domains(Vec<String>),
}

impl Access {
    fn sees(&self, domain: &str) -> bool {
        match self {
            Self::Domains(ds) => ds.iter().any(|d| absolute(d) == absolute(domain)),
            _ => true,
        }
    }
}

/// A failure the next request gets instead of its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 429 `too_many_requests`, with `Retry-After` when given and
    /// `ratelimit-reset` this many seconds ahead.
    Throttled {
        retry_after: Option<u64>,
        reset_in: u64,
    },
    /// This status (5xx: `server_error`) with DigitalOcean's error body.
    Status(u16),
    /// The request is carried out, but answered with this status (an answer lost on
    /// the way, as a client sees it).
    Lost(u16),
    /// Answered normally (to aim a failure at a later request).
    Pass,
}

/// One request as the emulator saw it: method, path with query, JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRequest {
    pub method: String,
    pub uri: String,
    pub body: Option<Value>,
    /// Whether it carried `Authorization: Bearer`.
    pub bearer: bool,
}

#[derive(Clone, Debug)]
struct DoRecord {
    id: u64,
    rtype: String,
    /// Relative to the domain, lowercase; `@` for the apex.
    name: String,
    data: String,
    ttl: u32,
}

#[derive(Clone, Debug)]
struct DoDomain {
    /// Without trailing dot, lowercase.
    name: String,
    records: Vec<DoRecord>,
}

impl DoDomain {
    /// The fully qualified name (no trailing dot) of a relative record name.
    fn full(&self, relative: &str) -> String {
        if relative == "@" {
            self.name.clone()
        } else {
            format!("{relative}.{}", self.name)
        }
    }
}

#[derive(Default)]
struct Inner {
    domains: Vec<DoDomain>,
    tokens: HashMap<String, Access>,
    per_page_cap: Option<usize>,
    failures: VecDeque<Failure>,
    log: Vec<LoggedRequest>,
}

struct Shared {
    inner: Mutex<Inner>,
    data: ZoneData,
    requests: AtomicU64,
    writes: AtomicU64,
    next_id: AtomicU64,
    base: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rewrites the DNS view of `domain`.
    fn sync(&self, domain: &DoDomain) {
        let records = domain
            .records
            .iter()
            .filter_map(|r| {
                let value = match r.rtype.as_str() {
                    "A" => RecordValue::A(r.data.parse().ok()?),
                    "TXT" => RecordValue::Txt(r.data.clone()),
                    "CNAME" => RecordValue::Cname(absolute(&domain_target(&r.data, domain))),
                    _ => return None,
                };
                Some(StoredRecord {
                    name: absolute(&domain.full(&r.name)),
                    ttl: r.ttl,
                    value,
                })
            })
            .collect();
        self.data.set_records(&domain.name, records);
    }
}

/// A CNAME's data as a name: `@` is the apex, a name without trailing dot is
/// relative to the domain (as DigitalOcean reads it).
fn domain_target(data: &str, domain: &DoDomain) -> String {
    let d = data.trim();
    if d == "@" {
        domain.name.clone()
    } else if let Some(abs) = d.strip_suffix('.') {
        abs.to_string()
    } else {
        domain.full(d)
    }
}

/// A running emulator; stops when dropped.
pub struct DigitalOceanEmulator {
    shared: Arc<Shared>,
    dns: DnsServer,
    task: JoinHandle<()>,
}

impl Drop for DigitalOceanEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl DigitalOceanEmulator {
    /// Starts an emulator holding `domains` (each with DigitalOcean's SOA and NS
    /// records), accepting [`TOKEN`] with full access.
    pub async fn start(domains: &[&str]) -> Result<DigitalOceanEmulator, EmulatorError> {
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
            next_id: AtomicU64::new(3_352_892),
            base: format!("http://{addr}"),
        });
        shared.lock().tokens.insert(TOKEN.to_string(), Access::Full);
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let emulator = DigitalOceanEmulator { shared, dns, task };
        for d in domains {
            emulator.add_domain(d);
        }
        Ok(emulator)
    }

    /// Adds a domain (no-op when it is there) with the SOA and NS records
    /// DigitalOcean creates with it.
    pub fn add_domain(&self, name: &str) {
        let name = absolute(name).trim_end_matches('.').to_string();
        let mut inner = self.shared.lock();
        if inner.domains.iter().any(|d| d.name == name) {
            return;
        }
        let mut records = Vec::new();
        for (rtype, data, ttl) in [
            ("SOA", "1800", 1800),
            ("NS", "ns1.digitalocean.com", 1800),
            ("NS", "ns2.digitalocean.com", 1800),
            ("NS", "ns3.digitalocean.com", 1800),
        ] {
            records.push(DoRecord {
                id: self.shared.next_id.fetch_add(1, Ordering::Relaxed),
                rtype: rtype.into(),
                name: "@".into(),
                data: data.into(),
                ttl,
            });
        }
        let domain = DoDomain { name, records };
        self.shared.sync(&domain);
        inner.domains.push(domain);
    }

    /// Adds a record as if created through the API (e.g. other TXT values, to make
    /// listings page). `name` is relative, `@` or absolute with a trailing dot.
    pub fn add_record(&self, domain: &str, rtype: &str, name: &str, data: &str) {
        let domain = absolute(domain).trim_end_matches('.').to_string();
        let mut inner = self.shared.lock();
        let Some(d) = inner.domains.iter_mut().find(|d| d.name == domain) else {
            return;
        };
        let Ok(name) = relative_name(name, &d.name) else {
            return;
        };
        d.records.push(DoRecord {
            id: self.shared.next_id.fetch_add(1, Ordering::Relaxed),
            rtype: rtype.to_ascii_uppercase(),
            name,
            data: data.to_string(),
            ttl: DEFAULT_TTL,
        });
        self.shared.sync(d);
    }

    /// Accepts `token` with `access`.
    pub fn add_token(&self, token: &str, access: Access) {
        self.shared.lock().tokens.insert(token.to_string(), access);
    }

    /// Serves at most `n` records per page whatever the client asks (to exercise
    /// clients' pagination with few records).
    pub fn cap_per_page(&self, n: usize) {
        self.shared.lock().per_page_cap = Some(n.max(1));
    }

    /// The next requests get these failures, one each, instead of their answers.
    pub fn inject(&self, failures: impl IntoIterator<Item = Failure>) {
        self.shared.lock().failures.extend(failures);
    }

    /// The API root: `http://127.0.0.1:<port>` (paths `/v2/...`).
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

    /// The `data` of the TXT records at `name` (fully qualified, any domain).
    pub fn txt_data(&self, name: &str) -> Vec<String> {
        let name = absolute(name).trim_end_matches('.').to_string();
        let inner = self.shared.lock();
        inner
            .domains
            .iter()
            .flat_map(|d| {
                d.records
                    .iter()
                    .filter(|r| r.rtype == "TXT" && d.full(&r.name) == name)
                    .map(|r| r.data.clone())
            })
            .collect()
    }

    /// The TTLs of the TXT records at `name`.
    pub fn txt_ttls(&self, name: &str) -> Vec<u32> {
        let name = absolute(name).trim_end_matches('.').to_string();
        let inner = self.shared.lock();
        inner
            .domains
            .iter()
            .flat_map(|d| {
                d.records
                    .iter()
                    .filter(|r| r.rtype == "TXT" && d.full(&r.name) == name)
                    .map(|r| r.ttl)
            })
            .collect()
    }

    /// The requests answered so far, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    /// How many API requests it answered (injected failures included).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// How many of them created or deleted records.
    pub fn writes(&self) -> u64 {
        self.shared.writes.load(Ordering::Relaxed)
    }
}

/// `name` relative to `domain` as DigitalOcean stores it, or why it cannot be.
fn relative_name(name: &str, domain: &str) -> Result<String, String> {
    let n = name.trim().to_ascii_lowercase();
    if n.is_empty() {
        return Err("Name can't be blank".into());
    }
    if n == "@" {
        return Ok(n);
    }
    match n.strip_suffix('.') {
        Some(abs) if abs == domain => Ok("@".into()),
        Some(abs) => abs
            .strip_suffix(&format!(".{domain}"))
            .map(String::from)
            .ok_or_else(|| format!("Name {name} is not within the domain {domain}")),
        None => Ok(n),
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v2/domains/{domain}", get(get_domain))
        .route(
            "/v2/domains/{domain}/records",
            get(list_records).post(create_record),
        )
        .route(
            "/v2/domains/{domain}/records/{id}",
            get(get_record).delete(delete_record),
        )
        .fallback(no_route)
        .layer(from_fn_with_state(shared.clone(), front))
        .with_state(shared)
}

fn error(status: StatusCode, id: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"id": id, "message": message, "request_id": uuid::Uuid::new_v4().to_string()}),
        ),
    )
        .into_response()
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "The resource you were accessing could not be found.",
    )
}

fn server_error(status: u16) -> Response {
    error(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "server_error",
        "Unexpected server-side error",
    )
}

async fn no_route() -> Response {
    not_found()
}

/// Counts and logs every request, answers injected failures, and adds the rate
/// limit headers to every answer.
async fn front(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let n = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let failure = {
        let mut inner = shared.lock();
        inner.log.push(LoggedRequest {
            method: parts.method.to_string(),
            uri: parts
                .uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            body: serde_json::from_slice(&bytes).ok(),
            bearer: parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Bearer ")),
        });
        inner.failures.pop_front()
    };
    let now = unix_now();
    let mut reset = now + 60;
    let mut response = match failure {
        Some(Failure::Throttled {
            retry_after,
            reset_in,
        }) => {
            reset = now + reset_in;
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "API Rate limit exceeded.",
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
            let _ = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            server_error(status)
        }
        Some(Failure::Pass) | None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    };
    let throttled = response.status() == StatusCode::TOO_MANY_REQUESTS;
    let remaining = if throttled {
        0
    } else {
        RATE_LIMIT.saturating_sub(n)
    };
    for (name, value) in [
        ("ratelimit-limit", RATE_LIMIT),
        ("ratelimit-remaining", remaining),
        ("ratelimit-reset", reset),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// The caller's access, or DigitalOcean's 401.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Access, Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    shared.lock().tokens.get(token).cloned().ok_or_else(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unable to authenticate you",
        )
    })
}

/// The index of `domain` if the caller sees it.
fn domain_index(inner: &Inner, access: &Access, domain: &str) -> Result<usize, Response> {
    let name = absolute(domain).trim_end_matches('.').to_string();
    inner
        .domains
        .iter()
        .position(|d| d.name == name)
        .filter(|_| access.sees(&name))
        .ok_or_else(not_found)
}

fn record_json(r: &DoRecord) -> Value {
    json!({
        "id": r.id,
        "type": r.rtype,
        "name": r.name,
        "data": r.data,
        "priority": null,
        "port": null,
        "ttl": r.ttl,
        "weight": null,
        "flags": null,
        "tag": null,
    })
}

async fn get_domain(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(domain): Path<String>,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let inner = shared.lock();
    match domain_index(&inner, &access, &domain) {
        Ok(i) => {
            let d = &inner.domains[i];
            (
                StatusCode::OK,
                axum::Json(json!({"domain": {"name": d.name, "ttl": 1800, "zone_file": ""}})),
            )
                .into_response()
        }
        Err(r) => r,
    }
}

/// A page number or size from the query; DigitalOcean answers 400 for non-numbers.
fn number(q: &HashMap<String, String>, key: &str, default: usize) -> Result<usize, Response> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("{key} must be a number"),
            )
        }),
    }
}

async fn list_records(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let i = match domain_index(&inner, &access, &domain) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let (page, mut per_page) = match (
        number(&q, "page", 1),
        number(&q, "per_page", DEFAULT_PER_PAGE),
    ) {
        (Ok(p), Ok(n)) => (p.max(1), n.clamp(1, MAX_PER_PAGE)),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if let Some(cap) = inner.per_page_cap {
        per_page = per_page.min(cap);
    }
    let d = &inner.domains[i];
    let rtype = q.get("type").map(|t| t.to_ascii_uppercase());
    let name = q
        .get("name")
        .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase());
    let matching: Vec<&DoRecord> = d
        .records
        .iter()
        .filter(|r| rtype.as_ref().is_none_or(|t| &r.rtype == t))
        .filter(|r| name.as_ref().is_none_or(|n| &d.full(&r.name) == n))
        .collect();
    let total = matching.len();
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = (start + per_page).min(total);
    let last = total.div_ceil(per_page).max(1);
    let link = |p: usize| {
        let mut url = format!(
            "{}/v2/domains/{}/records?page={p}&per_page={per_page}",
            shared.base, d.name
        );
        if let Some(t) = &rtype {
            url.push_str(&format!("&type={t}"));
        }
        if let Some(n) = &name {
            url.push_str(&format!("&name={n}"));
        }
        url
    };
    let mut pages = serde_json::Map::new();
    if page > 1 {
        pages.insert("first".into(), json!(link(1)));
        pages.insert("prev".into(), json!(link(page - 1)));
    }
    if page < last {
        pages.insert("next".into(), json!(link(page + 1)));
        pages.insert("last".into(), json!(link(last)));
    }
    let links = if pages.is_empty() {
        json!({})
    } else {
        json!({"pages": pages})
    };
    let body = json!({
        "domain_records": matching[start..end].iter().map(|r| record_json(r)).collect::<Vec<_>>(),
        "links": links,
        "meta": {"total": total},
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn unprocessable(message: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
        message,
    )
}

async fn create_record(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "unable to parse request body",
        );
    };
    let mut inner = shared.lock();
    let i = match domain_index(&inner, &access, &domain) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if access == Access::ReadOnly {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You do not have access for the attempted action.",
        );
    }
    let d = &mut inner.domains[i];
    let rtype = body["type"].as_str().unwrap_or("").to_ascii_uppercase();
    if !matches!(rtype.as_str(), "A" | "TXT" | "CNAME") {
        return unprocessable("The emulator stores A, TXT and CNAME records only.");
    }
    let name = match relative_name(body["name"].as_str().unwrap_or(""), &d.name) {
        Ok(n) => n,
        Err(m) => return unprocessable(&m),
    };
    let data = body["data"].as_str().unwrap_or("").to_string();
    if data.is_empty() {
        return unprocessable("Data can't be blank");
    }
    if rtype == "A" && data.parse::<std::net::Ipv4Addr>().is_err() {
        return unprocessable("Data is not a valid IPv4 address");
    }
    let ttl = match &body["ttl"] {
        Value::Null => DEFAULT_TTL,
        v => match v.as_u64().and_then(|t| u32::try_from(t).ok()) {
            Some(t) if t >= MIN_TTL => t,
            _ => return unprocessable("Ttl must be greater than or equal to 30"),
        },
    };
    let record = DoRecord {
        id: shared.next_id.fetch_add(1, Ordering::Relaxed),
        rtype,
        name,
        data,
        ttl,
    };
    d.records.push(record.clone());
    shared.sync(d);
    shared.writes.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::CREATED,
        axum::Json(json!({"domain_record": record_json(&record)})),
    )
        .into_response()
}

fn record_index(d: &DoDomain, id: &str) -> Result<usize, Response> {
    let id: u64 = id.parse().map_err(|_| not_found())?;
    d.records
        .iter()
        .position(|r| r.id == id)
        .ok_or_else(not_found)
}

async fn get_record(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((domain, id)): Path<(String, String)>,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let i = match domain_index(&inner, &access, &domain) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let d = &inner.domains[i];
    match record_index(d, &id) {
        Ok(j) => (
            StatusCode::OK,
            axum::Json(json!({"domain_record": record_json(&d.records[j])})),
        )
            .into_response(),
        Err(r) => r,
    }
}

async fn delete_record(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((domain, id)): Path<(String, String)>,
) -> Response {
    let access = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let mut inner = shared.lock();
    let i = match domain_index(&inner, &access, &domain) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if access == Access::ReadOnly {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You do not have access for the attempted action.",
        );
    }
    let d = &mut inner.domains[i];
    match record_index(d, &id) {
        Ok(j) => {
            d.records.remove(j);
            shared.sync(d);
            shared.writes.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(relative_name("@", "example.com").unwrap(), "@");
        assert_eq!(
            relative_name("_acme-challenge", "example.com").unwrap(),
            "_acme-challenge"
        );
        assert_eq!(
            relative_name("_acme-challenge.Example.com.", "example.com").unwrap(),
            "_acme-challenge"
        );
        assert_eq!(relative_name("example.com.", "example.com").unwrap(), "@");
        // Without the trailing dot a name is relative, whatever it looks like.
        assert_eq!(
            relative_name("_acme-challenge.example.com", "example.com").unwrap(),
            "_acme-challenge.example.com"
        );
        assert!(relative_name("x.example.net.", "example.com").is_err());
        assert!(relative_name(" ", "example.com").is_err());
    }
}
