//! What the API-based providers (Route53, Cloud DNS) share: TXT values as the APIs
//! write them, the pure plan from "what is there" + "what callers asked" to "what to
//! change", a per-zone batcher that sends the edits of a short window as one change,
//! and retries with exponential backoff and jitter.
//!
//! The batcher: every zone has one task. The first edit that reaches an idle task
//! opens a window (`window`, e.g. 200 ms); every edit arriving before it closes joins
//! the same batch. The batch reads the current TXT sets of its names, plans, and
//! applies the whole plan as one change; every caller awaits the result of that
//! change. While a batch is applied, new edits queue up and form the next batch, so a
//! burst of N presents to one zone costs one or two change calls, not N. A batch
//! whose change the API refuses because the record sets moved under it (a conflict)
//! is re-read and planned again; a batch of several names that fails for good is
//! retried one name at a time, so one bad name fails only its own callers.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

/// The TTL of the TXT records written (cert-manager's).
pub const TXT_TTL: u32 = 60;
/// At most this many edits go into one batch (Route53 allows 1000 values per change).
const MAX_EDITS_PER_BATCH: usize = 200;
/// With at least this many names in a batch, backends read pages of the whole zone
/// rather than one call per name.
pub const SCAN_MIN_NAMES: usize = 8;

/// At most this many pages are read for a batch of `names` names before the names
/// not found yet are read one by one: half as many calls as names.
pub fn scan_budget(names: usize) -> usize {
    (names / 2).max(1)
}

/// How often a batch is re-read and planned again after a conflict.
const CONFLICT_ATTEMPTS: u32 = 4;

/// `value` as TXT rdata in zone-file form: one quoted character-string.
pub fn txt_rdata(value: &str) -> String {
    format!("\"{value}\"")
}

/// The text of TXT rdata in zone-file form: its quoted character-strings joined
/// (`"ab" "cd"` → `abcd`), or the rdata itself when it is not quoted.
pub fn rdata_text(rdata: &str) -> String {
    let s = rdata.trim();
    if !s.starts_with('"') {
        return s.to_string();
    }
    let mut out = String::new();
    let mut in_quotes = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\\' if in_quotes => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c if in_quotes => out.push(c),
            _ => {}
        }
    }
    out
}

/// A TXT record set as the API holds it: values as raw rdata (so values written by
/// others are sent back exactly as they were read) and the TTL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxtSet {
    pub ttl: u32,
    pub rdatas: Vec<String>,
}

impl TxtSet {
    fn contains(&self, value: &str) -> bool {
        self.rdatas.iter().any(|r| rdata_text(r) == value)
    }
}

/// Add or remove one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
}

/// One caller's edit: `op` the (unquoted) `value` at the absolute, lowercase `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub name: String,
    pub op: Op,
    pub value: String,
}

/// What changes at one name: the set as read (`before`) and as it must become
/// (`after`; `None` deletes the set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameChange {
    pub name: String,
    pub before: Option<TxtSet>,
    pub after: Option<TxtSet>,
}

/// The changes that apply `edits`, in order, to the sets `current` (by name; absent:
/// no TXT set there). Names whose set does not change are left out, so presenting a
/// value that is there, or removing one that is not, plans nothing. Added values are
/// quoted; values already there keep their exact rdata; a new set gets [`TXT_TTL`],
/// an existing one keeps its TTL.
pub fn plan(current: &HashMap<String, TxtSet>, edits: &[Edit]) -> Vec<NameChange> {
    let mut after: BTreeMap<&str, Option<TxtSet>> = BTreeMap::new();
    for e in edits {
        let set = after
            .entry(e.name.as_str())
            .or_insert_with(|| current.get(&e.name).cloned());
        match e.op {
            Op::Add => match set {
                Some(s) if s.contains(&e.value) => {}
                Some(s) => s.rdatas.push(txt_rdata(&e.value)),
                None => {
                    *set = Some(TxtSet {
                        ttl: TXT_TTL,
                        rdatas: vec![txt_rdata(&e.value)],
                    })
                }
            },
            Op::Remove => {
                if let Some(s) = set {
                    s.rdatas.retain(|r| rdata_text(r) != e.value);
                    if s.rdatas.is_empty() {
                        *set = None;
                    }
                }
            }
        }
    }
    after
        .into_iter()
        .filter_map(|(name, after)| {
            let before = current.get(name).cloned();
            (before != after).then(|| NameChange {
                name: name.to_string(),
                before,
                after,
            })
        })
        .collect()
}

/// A DNS API that the batcher drives: read TXT sets, apply changes atomically.
pub trait Backend: Send + Sync + 'static {
    /// How the API names a zone (a hosted zone id, a managed zone name).
    type Zone: Clone + Send + Sync + 'static;
    type Error: std::error::Error + Send + Sync + 'static;

    /// The current TXT sets at `names` (absent from the map: no TXT set).
    fn read<'a>(
        &'a self,
        zone: &'a Self::Zone,
        names: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, TxtSet>, Self::Error>>;

    /// Applies `changes` as one atomic change and waits until it is live.
    fn apply<'a>(
        &'a self,
        zone: &'a Self::Zone,
        changes: &'a [NameChange],
    ) -> BoxFuture<'a, Result<(), Self::Error>>;

    /// Whether the API refused `apply` because the sets changed since they were read.
    fn is_conflict(e: &Self::Error) -> bool;

    /// Whether retrying later without any change may succeed.
    fn is_transient(e: &Self::Error) -> bool;
}

/// The outcome a caller receives; the error is shared by all callers of a batch.
pub type Outcome<E> = Result<(), Arc<E>>;

struct Job<B: Backend> {
    zone: B::Zone,
    edit: Edit,
    reply: oneshot::Sender<Outcome<B::Error>>,
}

/// One task per zone, batching the edits of `window` into one change.
pub struct Batcher<B: Backend> {
    backend: Arc<B>,
    window: Duration,
    zones: Mutex<HashMap<String, mpsc::UnboundedSender<Job<B>>>>,
}

impl<B: Backend> Batcher<B> {
    pub fn new(backend: Arc<B>, window: Duration) -> Self {
        Self {
            backend,
            window,
            zones: Mutex::new(HashMap::new()),
        }
    }

    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// Queues `edit` on the task of zone `key` and waits for the change that carries it.
    pub async fn submit(&self, key: &str, zone: B::Zone, edit: Edit) -> Outcome<B::Error>
    where
        B::Error: From<BatcherGone>,
    {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            zone,
            edit,
            reply: tx,
        };
        {
            let mut zones = self
                .zones
                .lock()
                .map_err(|_| Arc::new(B::Error::from(BatcherGone)))?;
            let sender = zones.entry(key.to_string()).or_insert_with(|| {
                let (stx, srx) = mpsc::unbounded_channel();
                tokio::spawn(run_zone(self.backend.clone(), self.window, srx));
                stx
            });
            if let Err(mpsc::error::SendError(job)) = sender.send(job) {
                // The task is gone (its runtime was shut down): start a new one.
                let (stx, srx) = mpsc::unbounded_channel();
                tokio::spawn(run_zone(self.backend.clone(), self.window, srx));
                let _ = stx.send(job);
                *sender = stx;
            }
        }
        rx.await
            .map_err(|_| Arc::new(B::Error::from(BatcherGone)))?
    }
}

/// The zone's batching task ended before answering (its runtime is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the DNS change was not carried out: the controller is shutting down")]
pub struct BatcherGone;

async fn run_zone<B: Backend>(
    backend: Arc<B>,
    window: Duration,
    mut rx: mpsc::UnboundedReceiver<Job<B>>,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        let mut closed = false;
        while jobs.len() < MAX_EDITS_PER_BATCH {
            tokio::select! {
                j = rx.recv() => match j {
                    Some(j) => jobs.push(j),
                    None => { closed = true; break }
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        run_batch(&*backend, jobs).await;
        if closed {
            break;
        }
    }
}

async fn run_batch<B: Backend>(backend: &B, jobs: Vec<Job<B>>) {
    let Some(zone) = jobs.first().map(|j| j.zone.clone()) else {
        return;
    };
    let edits: Vec<Edit> = jobs.iter().map(|j| j.edit.clone()).collect();
    let names = unique_names(&edits);
    debug!(
        edits = edits.len(),
        names = names.len(),
        "applying a batch of TXT edits"
    );
    let result = apply_edits(backend, &zone, &names, &edits).await;
    match result {
        Err(e) if names.len() > 1 && !B::is_transient(&e) => {
            // One bad name must not fail the others: one name at a time.
            let mut by_name: BTreeMap<String, Vec<Job<B>>> = BTreeMap::new();
            for j in jobs {
                by_name.entry(j.edit.name.clone()).or_default().push(j);
            }
            for (name, jobs) in by_name {
                let edits: Vec<Edit> = jobs.iter().map(|j| j.edit.clone()).collect();
                let r = apply_edits(backend, &zone, std::slice::from_ref(&name), &edits)
                    .await
                    .map_err(Arc::new);
                for j in jobs {
                    let _ = j.reply.send(r.clone());
                }
            }
        }
        r => {
            let r = r.map_err(Arc::new);
            for j in jobs {
                let _ = j.reply.send(r.clone());
            }
        }
    }
}

fn unique_names(edits: &[Edit]) -> Vec<String> {
    let mut names: Vec<String> = edits.iter().map(|e| e.name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

/// Reads, plans and applies `edits` to `names`, again from the read after a conflict.
async fn apply_edits<B: Backend>(
    backend: &B,
    zone: &B::Zone,
    names: &[String],
    edits: &[Edit],
) -> Result<(), B::Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = backend.read(zone, names).await?;
        let changes = plan(&current, edits);
        if changes.is_empty() {
            return Ok(());
        }
        match backend.apply(zone, &changes).await {
            Err(e) if B::is_conflict(&e) && attempt < CONFLICT_ATTEMPTS => {
                debug!(attempt, error = %e, "the record sets changed under the batch: reading them again");
            }
            r => return r,
        }
    }
}

/// Exponential backoff with jitter: attempt `n` (0-based) waits a random time in
/// `[d/2, d]` with `d = min(max, base · 2ⁿ)`, for at most `attempts` attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            max: Duration::from_secs(20),
            attempts: 8,
        }
    }
}

impl Backoff {
    /// The upper bound of the wait after failed attempt `n` (0-based).
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The wait after failed attempt `n`, with `unit` ∈ [0, 1) picking the jitter.
    pub fn delay_with(&self, n: u32, unit: f64) -> Duration {
        let d = self.ceiling(n);
        let unit = unit.clamp(0.0, 1.0);
        d.mul_f64(0.5 + unit / 2.0)
    }

    /// The wait after failed attempt `n`, jittered at random.
    pub fn delay(&self, n: u32) -> Duration {
        self.delay_with(n, random_unit())
    }

    /// The wait after failed attempt `n` when the server may have said how long to
    /// wait (`hint`, e.g. `Retry-After`): at least that long, or `None` — give up
    /// now — when it asks for longer than this backoff would ever wait.
    pub fn wait_after(&self, n: u32, hint: Option<Duration>) -> Option<Duration> {
        let jitter = self.delay(n);
        match hint {
            Some(w) if w > self.max => None,
            Some(w) => Some(w.max(jitter)),
            None => Some(jitter),
        }
    }
}

/// A `Retry-After` header in seconds (the form DNS provider APIs send), if any.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// A random number in [0, 1), good enough for jitter.
fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let bits = RandomState::new().hash_one(n) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// Calls `f` until it succeeds, fails with an error `retryable` refuses, or
/// `backoff.attempts` attempts were made; waits per `backoff` in between. Returns the
/// last result and the number of attempts made.
pub async fn retry<T, E, F, Fut>(
    backoff: &Backoff,
    retryable: impl Fn(&E) -> bool,
    mut f: F,
) -> (Result<T, E>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut n = 0;
    loop {
        let r = f().await;
        n += 1;
        match r {
            Err(e) if n < backoff.attempts.max(1) && retryable(&e) => {
                tokio::time::sleep(backoff.delay(n - 1)).await;
            }
            r => return (r, n),
        }
    }
}

/// Candidate zone names for `fqdn`, most specific first: `zone` (the zone the public
/// DNS says is authoritative) first, then every parent of `fqdn` from the nearest
/// up, each once. Absolute, lowercase.
pub fn zone_candidates(zone: &str, fqdn: &str) -> Vec<String> {
    let zone = super::fqdn(zone);
    let mut out = vec![zone.clone()];
    let fqdn = super::fqdn(fqdn);
    let mut rest = fqdn.as_str();
    while let Some((_, parent)) = rest.split_once('.') {
        // Skip the TLD alone: no provider hosts a zone for it.
        if parent.trim_end_matches('.').contains('.') && !out.iter().any(|z| z == parent) {
            out.push(parent.to_string());
        }
        rest = parent;
    }
    out
}

/// Zones found by name (or found absent), trusted for `ttl`, looked up one at a
/// time: concurrent challenges wait for the first lookup and find its answer.
pub struct ZoneCache {
    ttl: Duration,
    zones: std::sync::Mutex<HashMap<String, (Option<String>, std::time::Instant)>>,
    lookup: tokio::sync::Mutex<()>,
}

impl ZoneCache {
    pub fn new(ttl: Duration) -> Self {
        ZoneCache {
            ttl,
            zones: Default::default(),
            lookup: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, name: &str) -> Option<Option<String>> {
        let z = self.zones.lock().ok()?;
        z.get(name)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(found, _)| found.clone())
    }

    /// The first of `candidates` that `find` says is a zone: (name, the provider's id).
    pub async fn first<E, F, Fut>(
        &self,
        candidates: &[String],
        mut find: F,
    ) -> Result<Option<(String, String)>, E>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<String>, E>>,
    {
        for name in candidates {
            let found = match self.cached(name) {
                Some(found) => found,
                None => {
                    let _one = self.lookup.lock().await;
                    match self.cached(name) {
                        Some(found) => found,
                        None => {
                            let found = find(name.clone()).await?;
                            if let Ok(mut z) = self.zones.lock() {
                                z.insert(name.clone(), (found.clone(), std::time::Instant::now()));
                            }
                            found
                        }
                    }
                }
            };
            if let Some(id) = found {
                return Ok(Some((name.clone(), id)));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn set(vals: &[&str]) -> TxtSet {
        TxtSet {
            ttl: 300,
            rdatas: vals.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn add(name: &str, v: &str) -> Edit {
        Edit {
            name: name.into(),
            op: Op::Add,
            value: v.into(),
        }
    }

    fn rm(name: &str, v: &str) -> Edit {
        Edit {
            name: name.into(),
            op: Op::Remove,
            value: v.into(),
        }
    }

    #[test]
    fn rdata_forms() {
        assert_eq!(txt_rdata("abc"), "\"abc\"");
        assert_eq!(rdata_text("\"abc\""), "abc");
        assert_eq!(rdata_text("\"ab\" \"cd\""), "abcd");
        assert_eq!(rdata_text("abc"), "abc");
        assert_eq!(rdata_text("\"a\\\"b\""), "a\"b");
    }

    #[test]
    fn plan_adds_keeping_other_values_and_ttl() {
        let n = "_acme-challenge.example.com.";
        let current = HashMap::from([(n.to_string(), set(&["\"other\""]))]);
        let changes = plan(&current, &[add(n, "mine")]);
        assert_eq!(
            changes,
            vec![NameChange {
                name: n.into(),
                before: Some(set(&["\"other\""])),
                after: Some(set(&["\"other\"", "\"mine\""])),
            }]
        );
    }

    #[test]
    fn plan_new_set_gets_default_ttl() {
        let n = "_acme-challenge.example.com.";
        let changes = plan(&HashMap::new(), &[add(n, "a"), add(n, "b")]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].before, None);
        assert_eq!(
            changes[0].after,
            Some(TxtSet {
                ttl: TXT_TTL,
                rdatas: vec!["\"a\"".into(), "\"b\"".into()]
            })
        );
    }

    #[test]
    fn plan_is_idempotent() {
        let n = "_acme-challenge.example.com.";
        let current = HashMap::from([(n.to_string(), set(&["\"mine\""]))]);
        assert!(plan(&current, &[add(n, "mine")]).is_empty());
        assert!(plan(&current, &[rm(n, "absent")]).is_empty());
        assert!(plan(&HashMap::new(), &[rm(n, "absent")]).is_empty());
        // Add then remove in one batch: nothing to do.
        assert!(plan(&HashMap::new(), &[add(n, "x"), rm(n, "x")]).is_empty());
    }

    #[test]
    fn plan_removes_only_ours_and_deletes_when_last() {
        let n = "_acme-challenge.example.com.";
        let current = HashMap::from([(n.to_string(), set(&["\"other\"", "\"mine\""]))]);
        let c = plan(&current, &[rm(n, "mine")]);
        assert_eq!(c[0].after, Some(set(&["\"other\""])));
        let current = HashMap::from([(n.to_string(), set(&["\"mine\""]))]);
        let c = plan(&current, &[rm(n, "mine")]);
        assert_eq!(c[0].before, Some(set(&["\"mine\""])));
        assert_eq!(c[0].after, None);
    }

    #[test]
    fn plan_many_names() {
        let edits: Vec<Edit> = (0..5)
            .flat_map(|i| {
                let n = format!("_acme-challenge.a{i}.example.com.");
                [add(&n, "w"), add(&n, "apex")]
            })
            .collect();
        let c = plan(&HashMap::new(), &edits);
        assert_eq!(c.len(), 5);
        assert!(
            c.iter()
                .all(|c| c.after.as_ref().map(|s| s.rdatas.len()) == Some(2))
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
            attempts: 5,
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(1), Duration::from_millis(200));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(10), Duration::from_secs(2));
        assert_eq!(b.ceiling(200), Duration::from_secs(2));
        assert_eq!(b.delay_with(2, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay_with(2, 1.0), Duration::from_millis(400));
        for n in 0..8 {
            let d = b.delay(n);
            assert!(d >= b.ceiling(n) / 2 && d <= b.ceiling(n), "{n}: {d:?}");
        }
        let u: Vec<f64> = (0..100).map(|_| random_unit()).collect();
        assert!(u.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(u.iter().any(|x| *x != u[0]), "jitter varies");
    }

    #[tokio::test]
    async fn retry_stops_on_success_on_permanent_error_and_after_attempts() {
        let b = Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
            attempts: 4,
        };
        let calls = AtomicUsize::new(0);
        let (r, n) = retry(
            &b,
            |e: &&str| *e == "throttled",
            || async {
                let c = calls.fetch_add(1, Ordering::SeqCst);
                if c < 2 { Err("throttled") } else { Ok(c) }
            },
        )
        .await;
        assert_eq!((r, n), (Ok(2), 3));

        let (r, n) = retry(
            &b,
            |e: &&str| *e == "throttled",
            || async { Err::<(), _>("denied") },
        )
        .await;
        assert_eq!((r, n), (Err("denied"), 1));

        let start = tokio::time::Instant::now();
        let (r, n) = retry(&b, |_: &&str| true, || async { Err::<(), _>("throttled") }).await;
        assert_eq!((r, n), (Err("throttled"), 4));
        let waited = start.elapsed();
        // 3 waits: ≥ 5+10+20 ms (≤ 10+20+40 ms, plus scheduling on a busy machine).
        assert!(
            waited >= Duration::from_millis(35) && waited <= Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[test]
    fn candidates_start_at_the_zone_then_walk_up() {
        assert_eq!(
            zone_candidates("example.com.", "_acme-challenge.a.b.example.com."),
            vec!["example.com.", "a.b.example.com.", "b.example.com."]
        );
        assert_eq!(
            zone_candidates("b.example.com", "_acme-challenge.b.example.com"),
            vec!["b.example.com.", "example.com."]
        );
    }

    /// A backend over a map, counting calls, failing with a conflict once on demand.
    #[derive(Default)]
    struct Fake {
        sets: Mutex<HashMap<String, TxtSet>>,
        applies: AtomicUsize,
        reads: AtomicUsize,
        conflicts_left: AtomicUsize,
        bad_name: Option<String>,
    }

    #[derive(Debug, thiserror::Error)]
    enum FakeError {
        #[error("conflict")]
        Conflict,
        #[error("bad name {0}")]
        Bad(String),
        #[error(transparent)]
        Gone(#[from] BatcherGone),
    }

    impl Backend for Fake {
        type Zone = String;
        type Error = FakeError;

        fn read<'a>(
            &'a self,
            _zone: &'a String,
            names: &'a [String],
        ) -> BoxFuture<'a, Result<HashMap<String, TxtSet>, FakeError>> {
            Box::pin(async move {
                self.reads.fetch_add(1, Ordering::SeqCst);
                let sets = self.sets.lock().map_err(|_| FakeError::Conflict)?;
                Ok(names
                    .iter()
                    .filter_map(|n| sets.get(n).map(|s| (n.clone(), s.clone())))
                    .collect())
            })
        }

        fn apply<'a>(
            &'a self,
            _zone: &'a String,
            changes: &'a [NameChange],
        ) -> BoxFuture<'a, Result<(), FakeError>> {
            Box::pin(async move {
                self.applies.fetch_add(1, Ordering::SeqCst);
                if let Some(bad) = &self.bad_name
                    && changes.iter().any(|c| &c.name == bad)
                {
                    return Err(FakeError::Bad(bad.clone()));
                }
                if self
                    .conflicts_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return Err(FakeError::Conflict);
                }
                let mut sets = self.sets.lock().map_err(|_| FakeError::Conflict)?;
                for c in changes {
                    match &c.after {
                        Some(s) => sets.insert(c.name.clone(), s.clone()),
                        None => sets.remove(&c.name),
                    };
                }
                Ok(())
            })
        }

        fn is_conflict(e: &FakeError) -> bool {
            matches!(e, FakeError::Conflict)
        }

        fn is_transient(_: &FakeError) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn concurrent_edits_become_one_change() {
        let fake = Arc::new(Fake::default());
        let b = Arc::new(Batcher::new(fake.clone(), Duration::from_millis(100)));
        let mut tasks = Vec::new();
        for i in 0..20 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                let n = format!("_acme-challenge.a{}.example.com.", i / 2);
                b.submit("z", "z".into(), add(&n, &format!("v{i}"))).await
            }));
        }
        for t in tasks {
            assert!(t.await.is_ok_and(|r| r.is_ok()));
        }
        assert_eq!(fake.applies.load(Ordering::SeqCst), 1);
        let sets = fake.sets.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(sets.len(), 10);
        assert!(sets.values().all(|s| s.rdatas.len() == 2));
    }

    #[tokio::test]
    async fn conflict_is_read_again_and_bad_name_fails_alone() {
        let fake = Arc::new(Fake {
            conflicts_left: AtomicUsize::new(1),
            bad_name: Some("_acme-challenge.bad.example.com.".into()),
            ..Fake::default()
        });
        let b = Arc::new(Batcher::new(fake.clone(), Duration::from_millis(50)));
        let good = {
            let b = b.clone();
            tokio::spawn(async move {
                b.submit("z", "z".into(), add("_acme-challenge.ok.example.com.", "v"))
                    .await
            })
        };
        let bad = {
            let b = b.clone();
            tokio::spawn(async move {
                b.submit(
                    "z",
                    "z".into(),
                    add("_acme-challenge.bad.example.com.", "v"),
                )
                .await
            })
        };
        let good = good.await.map_err(|e| e.to_string());
        let bad = bad.await.map_err(|e| e.to_string());
        assert!(matches!(good, Ok(Ok(()))), "{good:?}");
        match bad {
            Ok(Err(e)) => assert!(e.to_string().contains("bad name"), "{e}"),
            other => panic!("{other:?}"),
        }

        // A conflict alone: read again and applied.
        fake.conflicts_left.store(1, Ordering::SeqCst);
        let before = fake.reads.load(Ordering::SeqCst);
        let r = b
            .submit("z", "z".into(), add("_acme-challenge.ok.example.com.", "w"))
            .await;
        assert!(r.is_ok());
        assert_eq!(fake.reads.load(Ordering::SeqCst) - before, 2);
    }

    #[test]
    fn a_server_hint_is_waited_out_unless_longer_than_the_backoff_would_wait() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
            attempts: 5,
        };
        let plain = b.wait_after(0, None).unwrap_or_default();
        assert!(plain >= Duration::from_millis(50) && plain <= Duration::from_millis(100));
        assert_eq!(
            b.wait_after(0, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
        assert_eq!(b.wait_after(0, Some(Duration::from_secs(3))), None);
        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static(" 7"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    }
}
