//! A local emulator of the Azure APIs the Azure DNS solver uses, serving the record
//! sets it holds over DNS ([`super::dns`]): Azure Resource Manager's DNS record sets,
//! the Entra ID token endpoint and the instance metadata service, on one port.
//!
//! - ARM: `GET|PUT|PATCH|DELETE
//!   /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnsZones/{zone}/TXT/{name}`
//!   (`api-version=2018-05-01` required: 400 `MissingApiVersionParameter` /
//!   `InvalidApiVersionParameter` otherwise; `privateDnsZones` with 2024-06-01 or
//!   2020-06-01) and `GET …/dnsZones/{zone}`. Record sets are
//!   `{"id", "name", "type", "etag", "properties": {"fqdn", "TTL", "TXTRecords":
//!   [{"value": [..]}], "metadata", "provisioningState"}}` (`ttl`/`txtRecords` in
//!   private zones; property names read case-insensitively, as Azure does), with an
//!   `ETag` header. Every write gives the set a new ETag; `If-Match` with another one
//!   (or on a missing set) and `If-None-Match: *` on an existing set are 412
//!   `PreconditionFailed`. PUT creates (201) or replaces (200), PATCH updates what it
//!   names (404 on a missing set), DELETE is 200, or 204 when there was nothing.
//!   Missing: record set 404 `NotFound`, zone `ParentResourceNotFound`, resource
//!   group `ResourceGroupNotFound`, subscription `SubscriptionNotFound`. Requests
//!   need `Authorization: Bearer` with a token this emulator issued and that has not
//!   expired (401 `AuthenticationFailed` / `InvalidAuthenticationToken` /
//!   `ExpiredAuthenticationToken`, with `WWW-Authenticate`); an identity with the
//!   Reader role gets 403 `AuthorizationFailed` on writes, one without a role on
//!   everything. ARM's `{"error": {"code", "message"}}` shape throughout.
//! - Entra ID: `POST /{tenant}/oauth2/v2.0/token`, form `grant_type=client_credentials`,
//!   `client_id`, `scope=https://management.azure.com/.default`, and `client_secret`
//!   or `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//!   with `client_assertion` (a federated token registered for the client). Refusals
//!   as Entra ID words them (`{"error", "error_description": "AADSTS…", "error_codes"}`):
//!   unknown tenant 400 AADSTS90002, unknown client 400 AADSTS700016, wrong secret 401
//!   AADSTS7000215, unmatched assertion 401 AADSTS70021, wrong scope 400 AADSTS70011.
//! - IMDS: `GET /metadata/identity/oauth2/token?api-version&resource` with
//!   `Metadata: true` (400 without), `client_id` or `msi_res_id` choosing among the
//!   identities registered (400 `Identity not found`); `expires_in` as a string, as
//!   IMDS sends it.
//!
//! Throttling (429 with `Retry-After`), server errors, lost answers and edits by
//! another client between a read and a write happen only when a test injects them
//! ([`AzureEmulator::inject`], [`AzureEmulator::inject_login`]).

// Handlers return `Err(Response)` early, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::EmulatorError;
use crate::dns::{DnsServer, RecordValue, StoredRecord, ZoneData, absolute};

/// The tenant of the identities [`AzureEmulator::start`] registers.
pub const TENANT: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// The subscription and resource group of the zones it starts with.
pub const SUBSCRIPTION: &str = "0c3e5b9a-5f1e-4f5e-9d56-6f2a1c0d7e11";
pub const RESOURCE_GROUP: &str = "dns-rg";
/// A service principal with the DNS Zone Contributor role, and its secret.
pub const CLIENT_ID: &str = "3d1c2b4a-1f0e-4e6d-8c7b-9a0f1e2d3c4b";
pub const CLIENT_SECRET: &str = "Qx8~emulated.client-secret_0123456789abcdEF";
/// A workload identity with the same role, and the federated token it accepts.
pub const WORKLOAD_CLIENT_ID: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
pub const FEDERATED_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y2VydGdhdGU6Y2VydGdhdGUifQ.c2lnbmF0dXJl";
/// The client ID of the node's managed identity (the default one), same role.
pub const MANAGED_CLIENT_ID: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
/// The API versions served per zone kind.
const PUBLIC_API_VERSIONS: [&str; 1] = ["2018-05-01"];
const PRIVATE_API_VERSIONS: [&str; 2] = ["2024-06-01", "2020-06-01"];
/// The scope and resource ARM tokens are asked for.
const SCOPES: [&str; 2] = [
    "https://management.azure.com/.default",
    "https://management.core.windows.net//.default",
];
const RESOURCES: [&str; 4] = [
    "https://management.azure.com/",
    "https://management.azure.com",
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
];
/// The client assertion type of workload identity.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What an identity may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// DNS Zone Contributor: read and write.
    Contributor,
    /// Reader: writes are 403.
    Reader,
    /// No role assignment: everything is 403.
    None,
}

/// A failure the next ARM (or, with [`AzureEmulator::inject_login`], token) request
/// gets instead of its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 429 `TooManyRequests`, with `Retry-After` when given.
    Throttled { retry_after: Option<u64> },
    /// This status with ARM's error body.
    Status(u16),
    /// The request is carried out, but answered with this status (an answer lost on
    /// the way, as a client sees it).
    Lost(u16),
    /// Another client adds this TXT value to the record set the request names just
    /// before it is carried out (changing its ETag); then it runs as usual.
    ConcurrentEdit(String),
    /// Answered normally (to aim a failure at a later request).
    Pass,
}

/// One request as the emulator saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRequest {
    pub method: String,
    /// Path with query.
    pub uri: String,
    /// A JSON body (ARM); `None` for the token endpoint's form.
    pub body: Option<Value>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    /// Whether it carried `Authorization: Bearer`.
    pub bearer: bool,
}

/// One token request, without its secret or assertion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The tenant in the path, or `imds`.
    pub tenant: String,
    pub grant_type: String,
    pub client_id: String,
    pub scope: String,
    pub client_assertion_type: String,
    pub had_secret: bool,
    pub had_assertion: bool,
    /// IMDS: whether `Metadata: true` came, and `msi_res_id`.
    pub metadata_header: bool,
    pub resource_id: String,
}

#[derive(Clone, Debug)]
struct TxtSet {
    etag: String,
    ttl: u64,
    metadata: Option<Value>,
    records: Vec<Vec<String>>,
}

#[derive(Clone, Debug)]
struct AzZone {
    subscription: String,
    resource_group: String,
    /// Lowercase, without trailing dot.
    name: String,
    private: bool,
    /// Relative name (lowercase, `@` for the apex) → set.
    sets: BTreeMap<String, TxtSet>,
}

#[derive(Clone, Debug)]
struct Client {
    secret: Option<String>,
    federated: Option<String>,
    access: Access,
}

#[derive(Clone, Debug)]
struct ManagedIdentity {
    client_id: String,
    resource_id: String,
    access: Access,
}

#[derive(Clone, Debug)]
struct Issued {
    principal: String,
    access: Access,
    expires: Instant,
}

#[derive(Default)]
struct Inner {
    zones: Vec<AzZone>,
    /// (tenant, client id) → client.
    clients: HashMap<(String, String), Client>,
    /// The first is the node's default identity.
    managed: Vec<ManagedIdentity>,
    tokens: HashMap<String, Issued>,
    token_lifetime: u64,
    failures: VecDeque<Failure>,
    login_failures: VecDeque<Failure>,
    log: Vec<LoggedRequest>,
    token_log: Vec<TokenRequest>,
}

struct Shared {
    inner: Mutex<Inner>,
    data: ZoneData,
    requests: AtomicU64,
    writes: AtomicU64,
    preconditions_failed: AtomicU64,
    login_requests: AtomicU64,
    base: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rewrites the DNS view of `zone`.
    fn sync(&self, zone: &AzZone) {
        let records = zone
            .sets
            .iter()
            .flat_map(|(name, set)| {
                let owner = full_name(name, &zone.name);
                set.records.iter().map(move |r| StoredRecord {
                    name: absolute(&owner),
                    ttl: u32::try_from(set.ttl).unwrap_or(u32::MAX),
                    value: RecordValue::Txt(r.concat()),
                })
            })
            .collect();
        self.data.set_records(&zone.name, records);
    }
}

fn full_name(relative: &str, zone: &str) -> String {
    if relative == "@" {
        zone.to_string()
    } else {
        format!("{relative}.{zone}")
    }
}

fn new_etag() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A running emulator; stops when dropped.
pub struct AzureEmulator {
    shared: Arc<Shared>,
    dns: DnsServer,
    task: JoinHandle<()>,
}

impl Drop for AzureEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AzureEmulator {
    /// Starts an emulator holding the public zones `zones` in [`SUBSCRIPTION`] /
    /// [`RESOURCE_GROUP`], with three identities of tenant [`TENANT`] that may edit
    /// them: the service principal [`CLIENT_ID`] / [`CLIENT_SECRET`], the workload
    /// identity [`WORKLOAD_CLIENT_ID`] accepting [`FEDERATED_TOKEN`], and the node's
    /// managed identity [`MANAGED_CLIENT_ID`]. Tokens last an hour.
    pub async fn start(zones: &[&str]) -> Result<AzureEmulator, EmulatorError> {
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
            inner: Mutex::new(Inner {
                token_lifetime: 3599,
                ..Inner::default()
            }),
            data,
            requests: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            preconditions_failed: AtomicU64::new(0),
            login_requests: AtomicU64::new(0),
            base: format!("http://{addr}/"),
        });
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let emulator = AzureEmulator { shared, dns, task };
        emulator.add_client(TENANT, CLIENT_ID, CLIENT_SECRET, Access::Contributor);
        emulator.add_federated(
            TENANT,
            WORKLOAD_CLIENT_ID,
            FEDERATED_TOKEN,
            Access::Contributor,
        );
        emulator.add_managed_identity(
            MANAGED_CLIENT_ID,
            &format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/certgate"
            ),
            Access::Contributor,
        );
        for z in zones {
            emulator.add_zone(z);
        }
        Ok(emulator)
    }

    /// Adds a public zone in [`SUBSCRIPTION`] / [`RESOURCE_GROUP`].
    pub fn add_zone(&self, name: &str) {
        self.add_zone_in(SUBSCRIPTION, RESOURCE_GROUP, name, false);
    }

    /// Adds a zone (no-op when it is there), public or private.
    pub fn add_zone_in(&self, subscription: &str, resource_group: &str, name: &str, private: bool) {
        let name = absolute(name).trim_end_matches('.').to_string();
        let mut inner = self.shared.lock();
        if inner.zones.iter().any(|z| {
            z.name == name
                && z.private == private
                && z.resource_group.eq_ignore_ascii_case(resource_group)
        }) {
            return;
        }
        let zone = AzZone {
            subscription: subscription.to_ascii_lowercase(),
            resource_group: resource_group.to_string(),
            name,
            private,
            sets: BTreeMap::new(),
        };
        self.shared.sync(&zone);
        inner.zones.push(zone);
    }

    /// Registers a service principal with a client secret.
    pub fn add_client(&self, tenant: &str, client_id: &str, secret: &str, access: Access) {
        self.shared.lock().clients.insert(
            (tenant.to_ascii_lowercase(), client_id.to_ascii_lowercase()),
            Client {
                secret: Some(secret.to_string()),
                federated: None,
                access,
            },
        );
    }

    /// Registers a workload identity accepting `assertion` as client assertion.
    pub fn add_federated(&self, tenant: &str, client_id: &str, assertion: &str, access: Access) {
        self.shared.lock().clients.insert(
            (tenant.to_ascii_lowercase(), client_id.to_ascii_lowercase()),
            Client {
                secret: None,
                federated: Some(assertion.to_string()),
                access,
            },
        );
    }

    /// Registers a managed identity of the node (the first is the default).
    pub fn add_managed_identity(&self, client_id: &str, resource_id: &str, access: Access) {
        self.shared.lock().managed.push(ManagedIdentity {
            client_id: client_id.to_ascii_lowercase(),
            resource_id: resource_id.to_ascii_lowercase(),
            access,
        });
    }

    /// How long tokens issued from now on last, in seconds.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.shared.lock().token_lifetime = secs;
    }

    /// Forgets every token issued (ARM answers 401 to them).
    pub fn revoke_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    /// The next ARM requests get these failures, one each, instead of their answers.
    pub fn inject(&self, failures: impl IntoIterator<Item = Failure>) {
        self.shared.lock().failures.extend(failures);
    }

    /// The next token requests (Entra ID or IMDS) get these failures.
    pub fn inject_login(&self, failures: impl IntoIterator<Item = Failure>) {
        self.shared.lock().login_failures.extend(failures);
    }

    /// Adds `value` to the TXT set `name` (relative) of public zone `zone`, as another
    /// client would (a new ETag).
    pub fn add_txt(&self, zone: &str, name: &str, value: &str) {
        let zone = absolute(zone).trim_end_matches('.').to_string();
        let mut inner = self.shared.lock();
        if let Some(z) = inner.zones.iter_mut().find(|z| z.name == zone) {
            add_value(z, &name.to_ascii_lowercase(), value);
            self.shared.sync(z);
        }
    }

    /// The ARM root: `http://127.0.0.1:<port>/`.
    pub fn api_url(&self) -> String {
        self.shared.base.clone()
    }

    /// The Entra ID root (the same server): `http://127.0.0.1:<port>/`.
    pub fn login_url(&self) -> String {
        self.shared.base.clone()
    }

    /// The instance metadata service's root (the same server).
    pub fn imds_url(&self) -> String {
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

    /// The TXT values (character strings joined) of set `name` (relative) in `zone`.
    pub fn txt_values(&self, zone: &str, name: &str) -> Vec<String> {
        self.record_set(zone, name)
            .map(|(_, _, records)| records.iter().map(|r| r.concat()).collect())
            .unwrap_or_default()
    }

    /// The set `name` of `zone`: its ETag, TTL and records.
    pub fn record_set(&self, zone: &str, name: &str) -> Option<(String, u64, Vec<Vec<String>>)> {
        let zone = absolute(zone).trim_end_matches('.').to_string();
        let inner = self.shared.lock();
        inner
            .zones
            .iter()
            .find(|z| z.name == zone)
            .and_then(|z| z.sets.get(&name.to_ascii_lowercase()))
            .map(|s| (s.etag.clone(), s.ttl, s.records.clone()))
    }

    /// The ARM requests answered so far, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    /// The token requests answered so far.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.lock().token_log.clone()
    }

    /// How many token requests (Entra ID and IMDS) it answered, failures included.
    pub fn login_requests(&self) -> u64 {
        self.shared.login_requests.load(Ordering::Relaxed)
    }

    /// How many ARM requests it answered (injected failures included).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// How many of them changed a record set.
    pub fn writes(&self) -> u64 {
        self.shared.writes.load(Ordering::Relaxed)
    }

    /// How many writes were refused with 412.
    pub fn preconditions_failed(&self) -> u64 {
        self.shared.preconditions_failed.load(Ordering::Relaxed)
    }
}

fn add_value(z: &mut AzZone, name: &str, value: &str) {
    let set = z.sets.entry(name.to_string()).or_insert_with(|| TxtSet {
        etag: new_etag(),
        ttl: 3600,
        metadata: None,
        records: Vec::new(),
    });
    set.records.push(vec![value.to_string()]);
    set.etag = new_etag();
}

const ARM_RECORD: &str = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{zone}/{rtype}/{name}";
const ARM_ZONE: &str =
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{zone}";

fn router(shared: Arc<Shared>) -> Router {
    let arm = Router::new()
        .route(
            ARM_RECORD,
            get(record).put(record).patch(record).delete(record),
        )
        .route(ARM_ZONE, get(get_zone))
        .fallback(no_route)
        .layer(from_fn_with_state(shared.clone(), arm_front))
        .with_state(shared.clone());
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/metadata/identity/oauth2/token", get(imds))
        .layer(from_fn_with_state(shared.clone(), login_front))
        .with_state(shared)
        .merge(arm)
}

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("x-ms-request-id", uuid::Uuid::new_v4().to_string())],
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn no_route(request: Request) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "InvalidResourceType",
        &format!(
            "The resource type could not be found for {} (the emulator serves TXT record sets and zones only).",
            request.uri().path()
        ),
    )
}

fn server_error(status: u16) -> Response {
    arm_error(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "InternalServerError",
        "Encountered internal server error. Diagnostic information: timestamp '…', tracking id '…'.",
    )
}

fn throttled(retry_after: Option<u64>) -> Response {
    let mut r = arm_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "The request is being throttled as the limit has been reached for operation type.",
    );
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// Counts and logs every ARM request and answers injected failures.
async fn arm_front(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
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
            if_match: header(&parts.headers, "if-match"),
            if_none_match: header(&parts.headers, "if-none-match"),
            bearer: header(&parts.headers, "authorization")
                .is_some_and(|v| v.starts_with("Bearer ")),
        });
        inner.failures.pop_front()
    };
    match failure {
        Some(Failure::Throttled { retry_after }) => throttled(retry_after),
        Some(Failure::Status(status)) => server_error(status),
        Some(Failure::Lost(status)) => {
            let _ = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            server_error(status)
        }
        Some(Failure::ConcurrentEdit(value)) => {
            edit_behind(&shared, parts.uri.path(), &value);
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Some(Failure::Pass) | None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// Another client's edit of the set a request path names.
fn edit_behind(shared: &Shared, path: &str, value: &str) {
    let segments: Vec<&str> = path.split('/').collect();
    // ["", "subscriptions", sub, "resourceGroups", rg, "providers",
    //  "Microsoft.Network", kind, zone, "TXT", name]
    if segments.len() != 11 {
        return;
    }
    let zone = segments[8].to_ascii_lowercase();
    let name = segments[10].to_ascii_lowercase();
    let private = segments[7].eq_ignore_ascii_case("privateDnsZones");
    let mut inner = shared.lock();
    if let Some(z) = inner
        .zones
        .iter_mut()
        .find(|z| z.name == zone && z.private == private)
    {
        add_value(z, &name, value);
        shared.sync(z);
    }
}

/// Counts and logs token requests and answers injected failures.
async fn login_front(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    shared.login_requests.fetch_add(1, Ordering::Relaxed);
    let failure = shared.lock().login_failures.pop_front();
    match failure {
        Some(Failure::Throttled { retry_after }) => throttled(retry_after),
        Some(Failure::Status(status)) => server_error(status),
        Some(Failure::Lost(status)) => {
            let _ = next.run(request).await;
            server_error(status)
        }
        _ => next.run(request).await,
    }
}

fn aad_error(status: StatusCode, error: &str, code: u64, description: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {description} Trace ID: {} Correlation ID: {} Timestamp: 2026-01-01 00:00:00Z",
                uuid::Uuid::new_v4(), uuid::Uuid::new_v4()
            ),
            "error_codes": [code],
            "timestamp": "2026-01-01 00:00:00Z",
            "trace_id": uuid::Uuid::new_v4().to_string(),
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        })),
    )
        .into_response()
}

fn issue(shared: &Shared, principal: &str, access: Access) -> (String, u64) {
    let mut inner = shared.lock();
    let lifetime = inner.token_lifetime;
    let token = format!(
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.emulated.{}",
        uuid::Uuid::new_v4().simple()
    );
    inner.tokens.insert(
        token.clone(),
        Issued {
            principal: principal.to_string(),
            access,
            expires: Instant::now() + Duration::from_secs(lifetime),
        },
    );
    (token, lifetime)
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (grant, client_id, scope, assertion_type) = (
        get("grant_type"),
        get("client_id"),
        get("scope"),
        get("client_assertion_type"),
    );
    let client = {
        let mut inner = shared.lock();
        inner.token_log.push(TokenRequest {
            tenant: tenant.clone(),
            grant_type: grant.clone(),
            client_id: client_id.clone(),
            scope: scope.clone(),
            client_assertion_type: assertion_type.clone(),
            had_secret: form.contains_key("client_secret"),
            had_assertion: form.contains_key("client_assertion"),
            metadata_header: false,
            resource_id: String::new(),
        });
        let tenant_known = inner
            .clients
            .keys()
            .any(|(t, _)| t.eq_ignore_ascii_case(&tenant));
        if !tenant_known {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90002,
                &format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                ),
            );
        }
        inner
            .clients
            .get(&(tenant.to_ascii_lowercase(), client_id.to_ascii_lowercase()))
            .cloned()
    };
    if grant != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let Some(client) = client else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    };
    if !SCOPES.contains(&scope.as_str()) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        );
    }
    if let Some(secret) = form.get("client_secret") {
        if client.secret.as_deref() != Some(secret.as_str()) {
            return aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            );
        }
    } else if let Some(assertion) = form.get("client_assertion") {
        if assertion_type != JWT_BEARER {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50027,
                "Invalid client assertion type.",
            );
        }
        if client.federated.as_deref() != Some(assertion.as_str()) {
            return aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                70021,
                "No matching federated identity record found for presented assertion.",
            );
        }
    } else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    let (access_token, lifetime) = issue(&shared, &client_id, client.access);
    (
        StatusCode::OK,
        axum::Json(json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        })),
    )
        .into_response()
}

async fn imds(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let imds_error = |error: &str, description: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let metadata = header(&headers, "metadata").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let identity = {
        let mut inner = shared.lock();
        inner.token_log.push(TokenRequest {
            tenant: "imds".into(),
            grant_type: String::new(),
            client_id: get("client_id"),
            scope: get("resource"),
            client_assertion_type: String::new(),
            had_secret: false,
            had_assertion: false,
            metadata_header: metadata,
            resource_id: get("msi_res_id"),
        });
        let client_id = get("client_id").to_ascii_lowercase();
        let resource_id = get("msi_res_id").to_ascii_lowercase();
        inner
            .managed
            .iter()
            .find(|m| {
                if !client_id.is_empty() {
                    m.client_id == client_id
                } else if !resource_id.is_empty() {
                    m.resource_id == resource_id
                } else {
                    true
                }
            })
            .cloned()
    };
    if !metadata {
        return imds_error("invalid_request", "Required metadata header not specified");
    }
    if get("api-version").is_empty() {
        return imds_error(
            "invalid_request",
            "Required query variable 'api-version' is missing",
        );
    }
    let resource = get("resource");
    if resource.is_empty() {
        return imds_error(
            "invalid_request",
            "Required query variable 'resource' is missing",
        );
    }
    if !RESOURCES.contains(&resource.as_str()) {
        return imds_error(
            "invalid_resource",
            &format!(
                "AADSTS500011: The resource principal named {resource} was not found in the tenant."
            ),
        );
    }
    let Some(identity) = identity else {
        return imds_error("invalid_request", "Identity not found");
    };
    let (access_token, lifetime) = issue(&shared, &identity.client_id, identity.access);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    (
        StatusCode::OK,
        axum::Json(json!({
            "access_token": access_token,
            "client_id": identity.client_id,
            "expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "ext_expires_in": lifetime.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        })),
    )
        .into_response()
}

/// The caller's principal and access, or ARM's 401.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(String, Access), Response> {
    let unauthorized = |code: &str, message: &str| {
        let mut r = arm_error(StatusCode::UNAUTHORIZED, code, message);
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static(
                "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"The authentication failed because of missing 'Authorization' header.\"",
            ),
        );
        r
    };
    let Some(token) = header(headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(|t| t.trim().to_string()))
    else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let issued = shared.lock().tokens.get(&token).cloned();
    match issued {
        None => Err(unauthorized(
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )),
        Some(i) if Instant::now() >= i.expires => Err(unauthorized(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        )),
        Some(i) => Ok((i.principal, i.access)),
    }
}

fn forbidden(principal: &str, action: &str, scope: &str) -> Response {
    arm_error(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        &format!(
            "The client '{principal}' with object id '{principal}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
        ),
    )
}

/// Checks `api-version` for the zone kind.
fn check_api_version(q: &HashMap<String, String>, private: bool) -> Result<(), Response> {
    let Some(v) = q.get("api-version") else {
        return Err(arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    let served: &[&str] = if private {
        &PRIVATE_API_VERSIONS
    } else {
        &PUBLIC_API_VERSIONS
    };
    if served.contains(&v.as_str()) {
        return Ok(());
    }
    Err(arm_error(
        StatusCode::BAD_REQUEST,
        "InvalidApiVersionParameter",
        &format!(
            "The api-version '{v}' is invalid. The supported versions are '{}'.",
            served.join(",")
        ),
    ))
}

/// The zone kind of a path's `{kind}` segment.
fn kind(segment: &str) -> Result<bool, Response> {
    if segment.eq_ignore_ascii_case("dnsZones") {
        Ok(false)
    } else if segment.eq_ignore_ascii_case("privateDnsZones") {
        Ok(true)
    } else {
        Err(arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            &format!(
                "The resource type '{segment}' could not be found in the namespace 'Microsoft.Network'."
            ),
        ))
    }
}

/// The index of the zone, or ARM's 404 for what is missing.
fn zone_index(
    inner: &Inner,
    sub: &str,
    rg: &str,
    zone: &str,
    private: bool,
) -> Result<usize, Response> {
    let sub = sub.to_ascii_lowercase();
    if !inner.zones.iter().any(|z| z.subscription == sub) {
        return Err(arm_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        ));
    }
    if !inner
        .zones
        .iter()
        .any(|z| z.subscription == sub && z.resource_group.eq_ignore_ascii_case(rg))
    {
        return Err(arm_error(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        ));
    }
    let name = zone.trim_end_matches('.').to_ascii_lowercase();
    inner
        .zones
        .iter()
        .position(|z| {
            z.subscription == sub
                && z.resource_group.eq_ignore_ascii_case(rg)
                && z.name == name
                && z.private == private
        })
        .ok_or_else(|| {
            arm_error(
                StatusCode::NOT_FOUND,
                "ParentResourceNotFound",
                &format!(
                    "Can not perform requested operation on nested resource. Parent resource '{name}' not found."
                ),
            )
        })
}

fn set_json(z: &AzZone, name: &str, set: &TxtSet, path: &str) -> Value {
    let (ttl_key, records_key, rtype) = if z.private {
        ("ttl", "txtRecords", "Microsoft.Network/privateDnsZones/TXT")
    } else {
        ("TTL", "TXTRecords", "Microsoft.Network/dnszones/TXT")
    };
    let mut properties = serde_json::Map::new();
    properties.insert(
        "fqdn".into(),
        json!(format!("{}.", full_name(name, &z.name))),
    );
    properties.insert(ttl_key.into(), json!(set.ttl));
    properties.insert(
        records_key.into(),
        Value::Array(set.records.iter().map(|r| json!({"value": r})).collect()),
    );
    properties.insert("provisioningState".into(), json!("Succeeded"));
    if let Some(m) = &set.metadata {
        properties.insert("metadata".into(), m.clone());
    }
    json!({
        "id": path,
        "name": name,
        "type": rtype,
        "etag": set.etag,
        "properties": properties,
    })
}

fn with_etag(status: StatusCode, body: Value, etag: &str) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert("etag", v);
    }
    r
}

/// A property of `props` by name, case-insensitively (as Azure reads JSON).
fn prop<'a>(props: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    props
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn bad_request(message: &str) -> Response {
    arm_error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// The TXT records of a body's properties, or why they are invalid.
fn parse_records(v: &Value) -> Result<Vec<Vec<String>>, Response> {
    let Some(list) = v.as_array() else {
        return Err(bad_request("TXTRecords must be an array."));
    };
    let mut out = Vec::new();
    for r in list {
        let values: Vec<String> = r
            .get("value")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if values.is_empty() {
            return Err(bad_request("A TXT record must have at least one value."));
        }
        if values.iter().any(|s| s.len() > 255) {
            return Err(bad_request(
                "The length of each string of a TXT record must not exceed 255 characters.",
            ));
        }
        out.push(values);
    }
    Ok(out)
}

async fn get_zone(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((sub, rg, kind_segment, zone)): Path<(String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (principal, access) = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let private = match kind(&kind_segment) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = check_api_version(&q, private) {
        return r;
    }
    let inner = shared.lock();
    let i = match zone_index(&inner, &sub, &rg, &zone, private) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let path = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind_segment}/{zone}"
    );
    if access == Access::None {
        return forbidden(&principal, "Microsoft.Network/dnszones/read", &path);
    }
    let z = &inner.zones[i];
    (
        StatusCode::OK,
        axum::Json(json!({
            "id": path,
            "name": z.name,
            "type": if z.private { "Microsoft.Network/privateDnsZones" } else { "Microsoft.Network/dnszones" },
            "location": "global",
            "properties": {"numberOfRecordSets": z.sets.len() + 2, "nameServers": [format!("ns1.{}.", z.name)]},
        })),
    )
        .into_response()
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    Path((sub, rg, kind_segment, zone, rtype, name)): Path<(
        String,
        String,
        String,
        String,
        String,
        String,
    )>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let (principal, access) = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let private = match kind(&kind_segment) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = check_api_version(&q, private) {
        return r;
    }
    if !rtype.eq_ignore_ascii_case("TXT") {
        return bad_request("The emulator holds TXT record sets only.");
    }
    let path = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind_segment}/{zone}/TXT/{name}"
    );
    let write = method != Method::GET;
    let action = format!(
        "Microsoft.Network/{}/TXT/{}",
        kind_segment.to_ascii_lowercase(),
        match method.as_str() {
            "GET" => "read",
            "DELETE" => "delete",
            _ => "write",
        }
    );
    if access == Access::None || (write && access == Access::Reader) {
        return forbidden(&principal, &action, &path);
    }
    let mut inner = shared.lock();
    let i = match zone_index(&inner, &sub, &rg, &zone, private) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let name = name.to_ascii_lowercase();
    let if_match = header(&headers, "if-match");
    let if_none_match = header(&headers, "if-none-match");
    let z = &mut inner.zones[i];
    let existing = z.sets.get(&name).cloned();
    let not_found = || {
        arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!(
                "The resource record '{name}' does not exist in resource group '{rg}' of subscription '{sub}'."
            ),
        )
    };
    let precondition = |current: Option<&TxtSet>| -> Option<Response> {
        let failed = match (&if_match, &if_none_match, current) {
            (Some(m), _, Some(s)) => m != "*" && m != &s.etag,
            (Some(_), _, None) => true,
            (None, Some(n), Some(_)) => n == "*",
            _ => false,
        };
        failed.then(|| {
            shared.preconditions_failed.fetch_add(1, Ordering::Relaxed);
            arm_error(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                &format!(
                    "The condition '{}' in the {} header was not satisfied. The current ETag is '{}'.",
                    if_match.clone().or(if_none_match.clone()).unwrap_or_default(),
                    if if_match.is_some() { "If-Match" } else { "If-None-Match" },
                    current.map(|s| s.etag.clone()).unwrap_or_default()
                ),
            )
        })
    };
    match method {
        Method::GET => match existing {
            Some(s) => {
                let body = set_json(z, &name, &s, &path);
                with_etag(StatusCode::OK, body, &s.etag)
            }
            None => not_found(),
        },
        Method::DELETE => {
            if existing.is_none() {
                return StatusCode::NO_CONTENT.into_response();
            }
            if let Some(r) = precondition(existing.as_ref()) {
                return r;
            }
            z.sets.remove(&name);
            shared.sync(z);
            shared.writes.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK.into_response()
        }
        _ => {
            if method == Method::PATCH && existing.is_none() {
                return not_found();
            }
            if let Some(r) = precondition(existing.as_ref()) {
                return r;
            }
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return bad_request("The request body is not valid JSON.");
            };
            let Some(props) = v.get("properties").and_then(Value::as_object) else {
                return bad_request("The request body must have properties.");
            };
            let mut set = match (&method, existing.clone()) {
                (&Method::PATCH, Some(s)) => s,
                _ => TxtSet {
                    etag: String::new(),
                    ttl: 0,
                    metadata: None,
                    records: Vec::new(),
                },
            };
            match prop(props, "TTL").map(Value::as_u64) {
                Some(Some(t)) if t <= 2_147_483_647 => set.ttl = t,
                Some(_) => return bad_request("TTL must be a number from 0 to 2147483647."),
                None if method == Method::PUT => {
                    return bad_request("The TTL of the record set is required.");
                }
                None => {}
            }
            if let Some(r) = prop(props, "TXTRecords") {
                match parse_records(r) {
                    Ok(records) => set.records = records,
                    Err(resp) => return resp,
                }
            } else if method == Method::PUT {
                set.records.clear();
            }
            if let Some(m) = prop(props, "metadata") {
                set.metadata = Some(m.clone()).filter(|m| !m.is_null());
            } else if method == Method::PUT {
                set.metadata = None;
            }
            set.etag = new_etag();
            let created = existing.is_none();
            z.sets.insert(name.clone(), set.clone());
            shared.sync(z);
            shared.writes.fetch_add(1, Ordering::Relaxed);
            let body = set_json(z, &name, &set, &path);
            with_etag(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                body,
                &set.etag,
            )
        }
    }
}
