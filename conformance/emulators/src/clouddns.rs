//! A local emulator of Google Cloud DNS's v1 REST API, the part DNS-01 uses, serving
//! the records it holds over DNS ([`super::dns`]). The paths are the ones the
//! `google-cloud-dns-v1` crate calls (it adds `$alt=json`, ignored here).
//!
//! Under `/dns/v1/projects/{project}`: `GET managedZones` (`dnsName`, `maxResults`,
//! `pageToken`), `GET managedZones/{zone}`, `POST managedZones/{zone}/changes`
//! (additions and deletions applied atomically: a deletion must match the record set
//! exactly, else 412 `conditionNotMet` (404 `notFound` when it does not exist); an
//! addition of an existing record set is 409 `alreadyExists`), `GET .../changes` and
//! `GET .../changes/{id}` (`pending`, then `done` once the change is served over DNS),
//! `GET .../rrsets` (`name`, `type`, `maxResults`, `pageToken`), `POST .../rrsets`, and
//! `GET|PATCH|DELETE .../rrsets/{name}/{type}`. Errors have Google's shape
//! `{"error": {"code", "message", "errors": [{"domain", "reason", "message"}],
//! "status"}}`. Any bearer token (or none: anonymous credentials) is accepted unless
//! the emulator is told to deny a token (401 `authError`) or require one.

// Handlers return `Err(Response)` early, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::EmulatorError;
use crate::dns::{DnsServer, RecordValue, StoredRecord, ZoneData, absolute};

/// The project the emulator's zones belong to unless told otherwise.
pub const PROJECT: &str = "certgate-conformance";

/// A resource record set as Cloud DNS writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RRSet {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub rtype: String,
    #[serde(default)]
    pub ttl: Option<i64>,
    #[serde(default)]
    pub rrdatas: Vec<String>,
}

impl RRSet {
    fn json(&self) -> Value {
        json!({"kind": "dns#resourceRecordSet", "name": self.name, "type": self.rtype,
               "ttl": self.ttl.unwrap_or(300), "rrdatas": self.rrdatas, "signatureRrdatas": []})
    }

    fn key(&self) -> (String, String) {
        (absolute(&self.name), self.rtype.to_ascii_uppercase())
    }

    /// Equal as Cloud DNS compares a deletion with what it holds.
    fn same_as(&self, other: &RRSet) -> bool {
        let set = |r: &RRSet| r.rrdatas.iter().cloned().collect::<HashSet<String>>();
        self.key() == other.key()
            && self.ttl.unwrap_or(300) == other.ttl.unwrap_or(300)
            && set(self) == set(other)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ChangeBody {
    #[serde(default)]
    additions: Vec<RRSet>,
    #[serde(default)]
    deletions: Vec<RRSet>,
}

#[derive(Clone, Debug)]
struct ChangeRec {
    id: String,
    additions: Vec<RRSet>,
    deletions: Vec<RRSet>,
    start_time: String,
    done: bool,
}

impl ChangeRec {
    fn json(&self) -> Value {
        json!({"kind": "dns#change", "id": self.id, "startTime": self.start_time,
               "status": if self.done { "done" } else { "pending" }, "isServing": self.done,
               "additions": self.additions.iter().map(RRSet::json).collect::<Vec<_>>(),
               "deletions": self.deletions.iter().map(RRSet::json).collect::<Vec<_>>()})
    }
}

#[derive(Clone, Debug)]
struct ManagedZone {
    name: String,
    dns_name: String,
    id: u64,
    creation_time: String,
    rrsets: Vec<RRSet>,
    changes: Vec<ChangeRec>,
    /// The record sets as served over DNS (updated when a change is done).
    served: Vec<RRSet>,
}

impl ManagedZone {
    fn json(&self) -> Value {
        json!({"kind": "dns#managedZone", "name": self.name, "dnsName": self.dns_name,
               "id": self.id.to_string(), "description": "certgate conformance emulator",
               "creationTime": self.creation_time, "visibility": "public",
               "nameServers": [format!("ns1.{}", self.dns_name)]})
    }
}

#[derive(Default)]
struct Inner {
    project: String,
    zones: Vec<ManagedZone>,
    denied_tokens: HashSet<String>,
    required_token: Option<String>,
    page_cap: Option<usize>,
    pending_for: Duration,
}

struct Shared {
    inner: Mutex<Inner>,
    data: ZoneData,
    requests: AtomicU64,
    changes: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sync(&self, zone: &ManagedZone) {
        let mut records = Vec::new();
        for set in &zone.served {
            let ttl = u32::try_from(set.ttl.unwrap_or(300)).unwrap_or(300);
            for data in &set.rrdatas {
                let value = match set.rtype.to_ascii_uppercase().as_str() {
                    "A" => match data.trim().parse() {
                        Ok(ip) => RecordValue::A(ip),
                        Err(_) => continue,
                    },
                    "TXT" => RecordValue::Txt(crate::txt_content_value(data)),
                    "CNAME" => RecordValue::Cname(absolute(data)),
                    _ => continue,
                };
                records.push(StoredRecord {
                    name: absolute(&set.name),
                    ttl,
                    value,
                });
            }
        }
        self.data.set_records(&zone.dns_name, records);
    }
}

/// A running emulator; stops when dropped.
pub struct CloudDnsEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    dns: DnsServer,
    task: JoinHandle<()>,
}

impl Drop for CloudDnsEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", t.as_secs(), t.subsec_millis())
}

impl CloudDnsEmulator {
    /// Starts an emulator with project [`PROJECT`] holding `zones` (DNS names; each
    /// managed zone is named after its DNS name with dots as dashes: `example-com`).
    pub async fn start(zones: &[&str]) -> Result<CloudDnsEmulator, EmulatorError> {
        let data = ZoneData::default();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                project: PROJECT.to_string(),
                pending_for: Duration::from_millis(100),
                ..Default::default()
            }),
            data: data.clone(),
            requests: AtomicU64::new(0),
            changes: AtomicU64::new(0),
        });
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
        let e = CloudDnsEmulator {
            addr,
            shared,
            dns,
            task,
        };
        for z in zones {
            e.add_zone(&absolute(z).trim_end_matches('.').replace('.', "-"), z);
        }
        Ok(e)
    }

    /// Adds managed zone `name` for `dns_name`, with its SOA and NS record sets.
    pub fn add_zone(&self, name: &str, dns_name: &str) {
        let dns_name = absolute(dns_name);
        let mut inner = self.shared.lock();
        if inner.zones.iter().any(|z| z.name == name) {
            return;
        }
        let apex = vec![
            RRSet {
                name: dns_name.clone(),
                rtype: "SOA".into(),
                ttl: Some(21600),
                rrdatas: vec![format!(
                    "ns1.{dns_name} hostmaster.{dns_name} 1 21600 3600 259200 300"
                )],
            },
            RRSet {
                name: dns_name.clone(),
                rtype: "NS".into(),
                ttl: Some(21600),
                rrdatas: vec![format!("ns1.{dns_name}")],
            },
        ];
        let zone = ManagedZone {
            name: name.to_string(),
            dns_name,
            id: 1_000_000 + inner.zones.len() as u64,
            creation_time: now(),
            rrsets: apex.clone(),
            changes: Vec::new(),
            served: apex,
        };
        self.shared.sync(&zone);
        inner.zones.push(zone);
    }

    /// Answers 401 to requests bearing `token`.
    pub fn deny_token(&self, token: &str) {
        self.shared.lock().denied_tokens.insert(token.to_string());
    }

    /// Answers 401 to requests without exactly this bearer token.
    pub fn require_token(&self, token: &str) {
        self.shared.lock().required_token = Some(token.to_string());
    }

    /// How long a change stays `pending` (and unserved over DNS). Default 100 ms.
    pub fn set_pending_for(&self, d: Duration) {
        self.shared.lock().pending_for = d;
    }

    /// Serves at most `n` items per page whatever the client asks.
    pub fn cap_per_page(&self, n: usize) {
        self.shared.lock().page_cap = Some(n.max(1));
    }

    /// The endpoint for `google-cloud-dns-v1`'s `with_endpoint`: `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
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

    /// The record sets of `name` as the API holds them.
    pub fn rrsets(&self, name: &str) -> Vec<RRSet> {
        let name = absolute(name);
        self.shared
            .lock()
            .zones
            .iter()
            .flat_map(|z| z.rrsets.iter())
            .filter(|r| absolute(&r.name) == name)
            .cloned()
            .collect()
    }

    /// How many API requests it answered.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// How many changes (and rrset writes) it accepted.
    pub fn changes(&self) -> u64 {
        self.shared.changes.load(Ordering::Relaxed)
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let p = "/dns/v1/projects/{project}/managedZones";
    Router::new()
        .route(p, get(list_zones))
        .route(&format!("{p}/{{zone}}"), get(get_zone))
        .route(
            &format!("{p}/{{zone}}/changes"),
            get(list_changes).post(create_change),
        )
        .route(&format!("{p}/{{zone}}/changes/{{id}}"), get(get_change))
        .route(
            &format!("{p}/{{zone}}/rrsets"),
            get(list_rrsets).post(create_rrset),
        )
        .route(
            &format!("{p}/{{zone}}/rrsets/{{name}}/{{rtype}}"),
            get(get_rrset).patch(patch_rrset).delete(delete_rrset),
        )
        .fallback(|uri: axum::http::Uri| async move {
            error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!(
                    "The requested URL {} was not found on this server.",
                    uri.path()
                ),
            )
        })
        .with_state(shared)
}

/// Google's error body.
fn error(status: StatusCode, reason: &str, message: &str) -> Response {
    let grpc = match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        _ => "INTERNAL",
    };
    (
        status,
        axum::Json(json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
            "status": grpc,
        }})),
    )
        .into_response()
}

fn authenticate(shared: &Shared, headers: &HeaderMap, project: &str) -> Result<(), Response> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let inner = shared.lock();
    let denied = token.is_some_and(|t| inner.denied_tokens.contains(t))
        || inner
            .required_token
            .as_deref()
            .is_some_and(|r| token != Some(r));
    if denied {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        ));
    }
    if project != inner.project {
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("The caller does not have permission (project '{project}')"),
        ));
    }
    Ok(())
}

fn zone_index(inner: &Inner, zone: &str) -> Result<usize, Response> {
    inner
        .zones
        .iter()
        .position(|z| z.name == zone || z.id.to_string() == zone)
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!("The 'parameters.managedZone' resource named '{zone}' does not exist."),
            )
        })
}

/// A page of `items` from `pageToken` (an offset) and `maxResults`.
fn page<T: Clone>(
    items: &[T],
    q: &HashMap<String, String>,
    cap: Option<usize>,
) -> (Vec<T>, Option<String>) {
    let start = q
        .get("pageToken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0)
        .min(items.len());
    let mut max = q
        .get("maxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| *m > 0)
        .unwrap_or(1000);
    if let Some(cap) = cap {
        max = max.min(cap);
    }
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    (items[start..end].to_vec(), next)
}

async fn list_zones(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    let inner = shared.lock();
    let dns_name = q.get("dnsName").map(|n| absolute(n));
    let zones: Vec<ManagedZone> = inner
        .zones
        .iter()
        .filter(|z| dns_name.as_ref().is_none_or(|n| &z.dns_name == n))
        .cloned()
        .collect();
    let (slice, next) = page(&zones, &q, inner.page_cap);
    let mut body = json!({"kind": "dns#managedZonesListResponse",
                          "managedZones": slice.iter().map(ManagedZone::json).collect::<Vec<_>>()});
    if let Some(n) = next {
        body["nextPageToken"] = json!(n);
    }
    axum::Json(body).into_response()
}

async fn get_zone(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, zone)): Path<(String, String)>,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    let inner = shared.lock();
    match zone_index(&inner, &zone) {
        Ok(i) => axum::Json(inner.zones[i].json()).into_response(),
        Err(r) => r,
    }
}

/// Checks one record set of a change; `field` names it in messages.
fn validate(set: &RRSet, zone: &ManagedZone, field: &str) -> Result<(), Response> {
    let name = absolute(&set.name);
    if set.name.is_empty() || !set.name.ends_with('.') {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid",
            &format!(
                "Invalid value for '{field}.name': '{}' (a fully qualified name ending with a dot is required)",
                set.name
            ),
        ));
    }
    if !(name == zone.dns_name || name.ends_with(&format!(".{}", zone.dns_name))) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid",
            &format!(
                "The resource record set '{field}' is not in the managed zone '{}' ({}).",
                zone.name, zone.dns_name
            ),
        ));
    }
    if set.rtype.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "required",
            &format!("Required field '{field}.type' not specified"),
        ));
    }
    if set.rrdatas.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "required",
            &format!("Required field '{field}.rrdata' not specified"),
        ));
    }
    Ok(())
}

/// Applies a change to `sets`, or the error Cloud DNS answers.
fn apply(sets: &mut Vec<RRSet>, zone: &ManagedZone, change: &ChangeBody) -> Result<(), Response> {
    if change.additions.is_empty() && change.deletions.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "required",
            "The 'entity.change' parameter is required but was missing.",
        ));
    }
    for (i, d) in change.deletions.iter().enumerate() {
        let field = format!("entity.change.deletions[{i}]");
        validate(d, zone, &field)?;
        let Some(pos) = sets.iter().position(|s| s.key() == d.key()) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!(
                    "The '{field}' resource named '{} ({})' does not exist.",
                    d.name, d.rtype
                ),
            ));
        };
        if !sets[pos].same_as(d) {
            return Err(error(
                StatusCode::PRECONDITION_FAILED,
                "conditionNotMet",
                &format!("Precondition not met for '{field}'"),
            ));
        }
        sets.remove(pos);
    }
    for (i, a) in change.additions.iter().enumerate() {
        let field = format!("entity.change.additions[{i}]");
        validate(a, zone, &field)?;
        if sets.iter().any(|s| s.key() == a.key()) {
            return Err(error(
                StatusCode::CONFLICT,
                "alreadyExists",
                &format!(
                    "The resource '{field}' named '{} ({})' already exists",
                    a.name, a.rtype
                ),
            ));
        }
        let cname_clash = sets.iter().any(|s| {
            absolute(&s.name) == absolute(&a.name)
                && (s.rtype.eq_ignore_ascii_case("CNAME") != a.rtype.eq_ignore_ascii_case("CNAME"))
        });
        if cname_clash {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "cnameResourceRecordSetConflict",
                &format!(
                    "The resource record set '{field}' is invalid because a CNAME resource record set cannot share a name with other record sets."
                ),
            ));
        }
        let mut a = a.clone();
        a.rtype = a.rtype.to_ascii_uppercase();
        if a.ttl.is_none() {
            a.ttl = Some(300);
        }
        sets.push(a);
    }
    Ok(())
}

/// Records a change on zone `i`, served over DNS once it is done.
fn commit(
    shared: &Arc<Shared>,
    inner: &mut Inner,
    i: usize,
    sets: Vec<RRSet>,
    body: ChangeBody,
) -> ChangeRec {
    let zone = &mut inner.zones[i];
    zone.rrsets = sets;
    let change = ChangeRec {
        id: (zone.changes.len() + 1).to_string(),
        additions: body.additions,
        deletions: body.deletions,
        start_time: now(),
        done: false,
    };
    zone.changes.push(change.clone());
    shared.changes.fetch_add(1, Ordering::Relaxed);
    let (zone_name, change_id, delay) = (zone.name.clone(), change.id.clone(), inner.pending_for);
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let mut inner = shared.lock();
        if let Some(z) = inner.zones.iter_mut().find(|z| z.name == zone_name) {
            z.served = z.rrsets.clone();
            if let Some(c) = z.changes.iter_mut().find(|c| c.id == change_id) {
                c.done = true;
            }
            // Earlier changes are served too.
            for c in z.changes.iter_mut() {
                c.done = true;
            }
            shared.sync(z);
        }
    });
    change
}

async fn create_change(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, zone)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<ChangeBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "parseError", "Parse Error");
    };
    let mut inner = shared.lock();
    let i = match zone_index(&inner, &zone) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut sets = inner.zones[i].rrsets.clone();
    if let Err(r) = apply(&mut sets, &inner.zones[i], &body) {
        return r;
    }
    let change = commit(&shared, &mut inner, i, sets, body);
    axum::Json(change.json()).into_response()
}

async fn list_changes(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, zone)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    let inner = shared.lock();
    let i = match zone_index(&inner, &zone) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let (slice, next) = page(&inner.zones[i].changes, &q, inner.page_cap);
    let mut body = json!({"kind": "dns#changesListResponse",
                          "changes": slice.iter().map(ChangeRec::json).collect::<Vec<_>>()});
    if let Some(n) = next {
        body["nextPageToken"] = json!(n);
    }
    axum::Json(body).into_response()
}

async fn get_change(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, zone, id)): Path<(String, String, String)>,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    let inner = shared.lock();
    let i = match zone_index(&inner, &zone) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match inner.zones[i].changes.iter().find(|c| c.id == id) {
        Some(c) => axum::Json(c.json()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("The 'parameters.changeId' resource named '{id}' does not exist."),
        ),
    }
}

async fn list_rrsets(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, zone)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    if q.contains_key("type") && !q.contains_key("name") {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "The 'parameters.type' parameter requires 'parameters.name'.",
        );
    }
    let inner = shared.lock();
    let i = match zone_index(&inner, &zone) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let name = q.get("name").map(|n| absolute(n));
    let rtype = q.get("type").map(|t| t.to_ascii_uppercase());
    let sets: Vec<RRSet> = inner.zones[i]
        .rrsets
        .iter()
        .filter(|s| name.as_ref().is_none_or(|n| &absolute(&s.name) == n))
        .filter(|s| rtype.as_ref().is_none_or(|t| &s.rtype == t))
        .cloned()
        .collect();
    let (slice, next) = page(&sets, &q, inner.page_cap);
    let mut body = json!({"kind": "dns#resourceRecordSetsListResponse",
                          "rrsets": slice.iter().map(RRSet::json).collect::<Vec<_>>()});
    if let Some(n) = next {
        body["nextPageToken"] = json!(n);
    }
    axum::Json(body).into_response()
}

async fn create_rrset(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, zone)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    let Ok(set) = serde_json::from_slice::<RRSet>(&body) else {
        return error(StatusCode::BAD_REQUEST, "parseError", "Parse Error");
    };
    let mut inner = shared.lock();
    let i = match zone_index(&inner, &zone) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let change = ChangeBody {
        additions: vec![set.clone()],
        deletions: vec![],
    };
    let mut sets = inner.zones[i].rrsets.clone();
    if let Err(r) = apply(&mut sets, &inner.zones[i], &change) {
        return r;
    }
    commit(&shared, &mut inner, i, sets, change);
    axum::Json(set.json()).into_response()
}

fn find_set(inner: &Inner, i: usize, name: &str, rtype: &str) -> Result<usize, Response> {
    let key = (absolute(name), rtype.to_ascii_uppercase());
    inner.zones[i]
        .rrsets
        .iter()
        .position(|s| s.key() == key)
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!("The 'parameters.name' resource named '{name} ({rtype})' does not exist."),
            )
        })
}

async fn get_rrset(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, zone, name, rtype)): Path<(String, String, String, String)>,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    let inner = shared.lock();
    let i = match zone_index(&inner, &zone) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match find_set(&inner, i, &name, &rtype) {
        Ok(j) => axum::Json(inner.zones[i].rrsets[j].json()).into_response(),
        Err(r) => r,
    }
}

async fn patch_rrset(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, zone, name, rtype)): Path<(String, String, String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    let Ok(patch) = serde_json::from_slice::<RRSet>(&body) else {
        return error(StatusCode::BAD_REQUEST, "parseError", "Parse Error");
    };
    let mut inner = shared.lock();
    let i = match zone_index(&inner, &zone) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let j = match find_set(&inner, i, &name, &rtype) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let old = inner.zones[i].rrsets[j].clone();
    let mut new = old.clone();
    if !patch.rrdatas.is_empty() {
        new.rrdatas = patch.rrdatas;
    }
    if patch.ttl.is_some() {
        new.ttl = patch.ttl;
    }
    let change = ChangeBody {
        additions: vec![new.clone()],
        deletions: vec![old],
    };
    let mut sets = inner.zones[i].rrsets.clone();
    if let Err(r) = apply(&mut sets, &inner.zones[i], &change) {
        return r;
    }
    commit(&shared, &mut inner, i, sets, change);
    axum::Json(new.json()).into_response()
}

async fn delete_rrset(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, zone, name, rtype)): Path<(String, String, String, String)>,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &project) {
        return r;
    }
    let mut inner = shared.lock();
    let i = match zone_index(&inner, &zone) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let j = match find_set(&inner, i, &name, &rtype) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let change = ChangeBody {
        additions: vec![],
        deletions: vec![inner.zones[i].rrsets[j].clone()],
    };
    let mut sets = inner.zones[i].rrsets.clone();
    if let Err(r) = apply(&mut sets, &inner.zones[i], &change) {
        return r;
    }
    commit(&shared, &mut inner, i, sets, change);
    axum::Json(json!({})).into_response()
}
