//! A local emulator of acme-dns (github.com/joohoi/acme-dns): its HTTP API and the
//! DNS it serves for its own zone ([`super::dns`]), plus the CNAME a user puts in
//! their own zone to delegate `_acme-challenge.<domain>` to an account.
//!
//! - `POST /register` (optional body `{"allowfrom": [CIDR…]}`) → 201 with the new
//!   account `{"username", "password", "fulldomain", "subdomain", "allowfrom"}`.
//! - `POST /update` with headers `X-Api-User` (the username, a UUID) and `X-Api-Key`
//!   (the 40-character password) and body `{"subdomain", "txt"}` → 200 `{"txt"}`.
//!   As acme-dns checks it: a malformed or unknown user, a wrong key, a caller
//!   outside the account's `allowfrom`, an undecodable body or a subdomain other than
//!   the account's → 401 `{"error": "forbidden"}`; then a subdomain that is not a DNS
//!   label → 400 `bad_subdomain`, a value that is not 43 characters of base64url → 400
//!   `bad_txt`.
//! - `GET /health` → 200.
//!
//! Each subdomain holds two TXT slots; an update overwrites the slot written least
//! recently, so the last two values are served (a wildcard and its apex share the
//! subdomain). Nothing is ever deleted. `<subdomain>.<zone>` serves the non-empty
//! slots as TXT with TTL 1.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::EmulatorError;
use crate::dns::{DnsServer, RecordValue, StoredRecord, ZoneData, absolute};

/// The zone the emulator serves accounts under unless told otherwise.
pub const ZONE: &str = "auth.acme-dns.test";
/// The TTL acme-dns serves TXT records with.
const TXT_TTL: u32 = 1;

/// An acme-dns account, as `/register` returns it and as cert-manager's
/// `acmeDNS.accountSecretRef` JSON holds it per domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub username: String,
    pub password: String,
    pub fulldomain: String,
    pub subdomain: String,
    #[serde(default)]
    pub allowfrom: Vec<String>,
}

/// The JSON of an `acmeDNS.accountSecretRef` Secret key: each domain mapped to its
/// account.
pub fn accounts_json(accounts: &[(&str, &Account)]) -> String {
    let map: serde_json::Map<String, Value> = accounts
        .iter()
        .map(|(d, a)| ((*d).to_string(), json!(a)))
        .collect();
    Value::Object(map).to_string()
}

/// A failure the next `/update` gets instead of its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure(pub u16);

/// One `/update` request as the emulator saw it (the key is not kept).
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedUpdate {
    pub user: Option<String>,
    pub has_key: bool,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

#[derive(Clone, Debug, Default)]
struct Slot {
    value: String,
    /// When it was written, as a sequence number (0: never).
    written: u64,
}

struct Registered {
    account: Account,
    slots: [Slot; 2],
}

#[derive(Default)]
struct Inner {
    /// By username.
    accounts: HashMap<String, Registered>,
    failures: VecDeque<Failure>,
    log: Vec<LoggedUpdate>,
    /// Delegations served over DNS: domain → fulldomain.
    delegations: Vec<(String, String)>,
}

struct Shared {
    inner: Mutex<Inner>,
    data: ZoneData,
    zone: String,
    requests: AtomicU64,
    updates: AtomicU64,
    sequence: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rewrites the DNS view of the acme-dns zone.
    fn sync(&self, inner: &Inner) {
        let mut records = Vec::new();
        for r in inner.accounts.values() {
            for s in r.slots.iter().filter(|s| !s.value.is_empty()) {
                records.push(StoredRecord {
                    name: absolute(&r.account.fulldomain),
                    ttl: TXT_TTL,
                    value: RecordValue::Txt(s.value.clone()),
                });
            }
        }
        self.data.set_records(&self.zone, records);
    }

    fn register(&self, allowfrom: Vec<String>) -> Account {
        let subdomain = uuid::Uuid::new_v4().to_string();
        let password: String = (0..2)
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect::<String>()[..40]
            .to_string();
        let account = Account {
            username: uuid::Uuid::new_v4().to_string(),
            password,
            fulldomain: format!("{subdomain}.{}", self.zone.trim_end_matches('.')),
            subdomain,
            allowfrom,
        };
        let mut inner = self.lock();
        inner.accounts.insert(
            account.username.clone(),
            Registered {
                account: account.clone(),
                slots: Default::default(),
            },
        );
        self.sync(&inner);
        account
    }
}

/// A running emulator; stops when dropped.
pub struct AcmeDnsEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    dns: DnsServer,
    task: JoinHandle<()>,
}

impl Drop for AcmeDnsEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AcmeDnsEmulator {
    /// Starts an emulator serving accounts under [`ZONE`].
    pub async fn start() -> Result<AcmeDnsEmulator, EmulatorError> {
        Self::start_with_zone(ZONE).await
    }

    /// Starts an emulator serving accounts under `zone`.
    pub async fn start_with_zone(zone: &str) -> Result<AcmeDnsEmulator, EmulatorError> {
        let data = ZoneData::default();
        let zone = absolute(zone);
        data.add_zone(&zone);
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
            zone,
            requests: AtomicU64::new(0),
            updates: AtomicU64::new(0),
            sequence: AtomicU64::new(0),
        });
        let app = router(shared.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(AcmeDnsEmulator {
            addr,
            shared,
            dns,
            task,
        })
    }

    /// Registers an account (as `POST /register` does), allowed to update from
    /// `allowfrom` (CIDRs; empty: anywhere).
    pub fn register(&self, allowfrom: &[&str]) -> Account {
        self.shared
            .register(allowfrom.iter().map(|s| s.to_string()).collect())
    }

    /// Serves zone `domain` with `_acme-challenge.<domain>. CNAME <fulldomain>.`: what
    /// a user adds to their own DNS to use `account` for `domain`.
    pub fn delegate(&self, domain: &str, account: &Account) {
        let domain = absolute(domain);
        let mut inner = self.shared.lock();
        inner.delegations.retain(|(d, _)| d != &domain);
        inner
            .delegations
            .push((domain.clone(), absolute(&account.fulldomain)));
        let records = inner
            .delegations
            .iter()
            .filter(|(d, _)| d == &domain)
            .map(|(d, target)| StoredRecord {
                name: format!("_acme-challenge.{d}"),
                ttl: 60,
                value: RecordValue::Cname(target.clone()),
            })
            .collect();
        self.shared.data.set_records(&domain, records);
    }

    /// The next updates get these statuses (one each) instead of their answers.
    pub fn inject(&self, failures: impl IntoIterator<Item = Failure>) {
        self.shared.lock().failures.extend(failures);
    }

    /// The API root, the `acmeDNS.host` to configure: `http://127.0.0.1:<port>`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The zone accounts live under, absolute.
    pub fn zone(&self) -> String {
        self.shared.zone.clone()
    }

    /// Where its DNS server listens (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// The zones and records served over DNS.
    pub fn zone_data(&self) -> ZoneData {
        self.shared.data.clone()
    }

    /// The values `subdomain` serves (its non-empty slots, least recently written
    /// first).
    pub fn txt_values(&self, subdomain: &str) -> Vec<String> {
        let inner = self.shared.lock();
        let Some(r) = inner
            .accounts
            .values()
            .find(|r| r.account.subdomain == subdomain)
        else {
            return Vec::new();
        };
        let mut slots: Vec<&Slot> = r.slots.iter().filter(|s| !s.value.is_empty()).collect();
        slots.sort_by_key(|s| s.written);
        slots.iter().map(|s| s.value.clone()).collect()
    }

    /// The `/update` requests answered so far, oldest first.
    pub fn update_log(&self) -> Vec<LoggedUpdate> {
        self.shared.lock().log.clone()
    }

    /// How many API requests it answered.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// How many updates it applied.
    pub fn updates(&self) -> u64 {
        self.shared.updates.load(Ordering::Relaxed)
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/register", post(register))
        .route("/update", post(update))
        .route("/health", get(health))
        .with_state(shared)
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK.into_response()
}

async fn register(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default)]
        allowfrom: Vec<String>,
    }
    let body: Body = if body.is_empty() {
        Body::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(_) => return json_error(StatusCode::BAD_REQUEST, "malformed_json_payload"),
        }
    };
    if body.allowfrom.iter().any(|c| parse_cidr(c).is_none()) {
        return json_error(StatusCode::BAD_REQUEST, "invalid_allowfrom_cidr");
    }
    let account = shared.register(body.allowfrom);
    (StatusCode::CREATED, axum::Json(json!(account))).into_response()
}

/// `a.b.c.d/n`, `v6/n` or a bare address: the network and prefix length.
fn parse_cidr(s: &str) -> Option<(IpAddr, u32)> {
    // Brackets around IPv6 addresses go, as acme-dns removes them.
    let s = s.trim().replace(['[', ']'], "");
    let s = s.as_str();
    let (ip, bits) = match s.split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, bits.parse::<u32>().ok()?),
        None => {
            let ip = s.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, bits)) = parse_cidr(cidr) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A DNS label, as acme-dns checks subdomains.
fn valid_subdomain(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// 43 characters of the base64url alphabet, as acme-dns checks values.
fn valid_txt(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn valid_key(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

async fn update(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let user = header("x-api-user");
    let key = header("x-api-key");
    let posted: Option<Value> = serde_json::from_slice(&body).ok();
    let mut inner = shared.lock();
    inner.log.push(LoggedUpdate {
        user: user.clone(),
        has_key: key.is_some(),
        content_type: header("content-type"),
        body: posted.clone(),
    });
    if let Some(Failure(status)) = inner.failures.pop_front() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return json_error(status, "db_error");
    }
    let user = user.unwrap_or_default();
    let key = key.unwrap_or_default();
    let subdomain = posted
        .as_ref()
        .and_then(|b| b["subdomain"].as_str())
        .map(String::from);
    let txt = posted
        .as_ref()
        .and_then(|b| b["txt"].as_str())
        .map(String::from)
        .unwrap_or_default();
    let authorized = uuid::Uuid::parse_str(&user).is_ok()
        && valid_key(&key)
        && inner.accounts.get(&user).is_some_and(|r| {
            r.account.password == key
                && (r.account.allowfrom.is_empty()
                    || r.account.allowfrom.iter().any(|c| in_cidr(peer.ip(), c)))
                && subdomain.as_deref() == Some(r.account.subdomain.as_str())
        });
    if !authorized {
        return json_error(StatusCode::UNAUTHORIZED, "forbidden");
    }
    let subdomain = subdomain.unwrap_or_default();
    if !valid_subdomain(&subdomain) {
        return json_error(StatusCode::BAD_REQUEST, "bad_subdomain");
    }
    if !valid_txt(&txt) {
        return json_error(StatusCode::BAD_REQUEST, "bad_txt");
    }
    let seq = shared.sequence.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(r) = inner.accounts.get_mut(&user) {
        // The slot written least recently (the first on a tie).
        let oldest = if r.slots[1].written < r.slots[0].written {
            1
        } else {
            0
        };
        r.slots[oldest] = Slot {
            value: txt.clone(),
            written: seq,
        };
    }
    shared.sync(&inner);
    shared.updates.fetch_add(1, Ordering::Relaxed);
    (StatusCode::OK, axum::Json(json!({"txt": txt}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(in_cidr(lo, "127.0.0.0/8"));
        assert!(in_cidr(lo, "127.0.0.1"));
        assert!(in_cidr(lo, "0.0.0.0/0"));
        assert!(!in_cidr(lo, "192.0.2.0/24"));
        assert!(!in_cidr(lo, "::1/128"));
        assert!(in_cidr("::1".parse().unwrap(), "[::1]/128"));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("nonsense").is_none());
    }

    #[test]
    fn validation() {
        assert!(valid_subdomain("d420c923-bbd7-4056-ab64-c3ca54c9b3cf"));
        assert!(!valid_subdomain("-x"));
        assert!(!valid_subdomain("a.b"));
        assert!(valid_txt(&"a".repeat(43)));
        assert!(!valid_txt(&"a".repeat(42)));
        assert!(!valid_txt(&format!("{}=", "a".repeat(42))));
        assert!(valid_key(&"k".repeat(40)));
    }
}
