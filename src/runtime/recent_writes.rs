//! Objects this process wrote, kept until its caches show them (read-your-writes
//! without a GET): a controller that acts and looks again reads its own last write
//! from here while the watch has not brought it yet. Which of two versions is newer
//! is decided by comparing resourceVersions as Kubernetes defines it for its
//! comparable resource versions (decimal integers: longer is newer, then by digit);
//! where either is not such a number nothing is decided and the caller reads the
//! API. Entries live at most `ttl`: nothing is kept for objects left alone.
//! Must not: decide what to write, or hold objects past their time.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};

/// Compares two resourceVersions as Kubernetes' comparable resource versions
/// (`k8s.io/apimachinery/pkg/util/resourceversion.CompareResourceVersion`): `None`
/// when either is not a decimal integer without leading zeros.
pub fn compare_resource_versions(a: &str, b: &str) -> Option<Ordering> {
    let valid =
        |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && !s.starts_with('0');
    if !valid(a) || !valid(b) {
        return None;
    }
    Some(a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
}

type Key = (String, String);

/// Whether `cached` is `written`'s version or a newer one.
fn not_older<K: Resource>(cached: &K, written: &K) -> bool {
    matches!(
        compare_resource_versions(
            cached
                .meta()
                .resource_version
                .as_deref()
                .unwrap_or_default(),
            written
                .meta()
                .resource_version
                .as_deref()
                .unwrap_or_default(),
        ),
        Some(Ordering::Greater | Ordering::Equal)
    )
}

/// How long a write is kept at most: in normal running a write is forgotten as soon
/// as the cache holds it; this bounds what a watch that stopped would keep.
pub const KEEP_AT_MOST: Duration = Duration::from_secs(120);

/// The last object this process wrote, per namespace and name, for `ttl`.
pub struct RecentWrites<K> {
    entries: Mutex<HashMap<Key, (Arc<K>, Instant)>>,
    ttl: Duration,
}

impl<K: Resource> RecentWrites<K> {
    pub fn new(ttl: Duration) -> Self {
        RecentWrites {
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Arc<K>, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `obj`, the API server's answer to a write of this process.
    pub fn remember(&self, obj: K) -> Arc<K> {
        self.keep(obj, |_| false)
    }

    /// Keeps `obj`, the API server's answer to a write of this process, unless
    /// `cache` already holds that version or a newer one: the watch can bring a
    /// write before its answer arrives, and the write would then wait for an event
    /// that has passed. The cache is read under this map's lock, so an event
    /// applied after the read is reported after the write is kept.
    pub fn remember_unless_cached(&self, obj: K, cache: Option<&Store<K>>) -> Arc<K>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        self.keep(obj, |o| {
            cache
                .and_then(|c| c.get(&ObjectRef::from_obj(o)))
                .is_some_and(|c| not_older(&*c, o))
        })
    }

    /// As [`Self::remember_unless_cached`], for a cache that keeps only the objects
    /// `kept` picks (`SharedWatch::start_keeping`): a write it would not keep and
    /// no longer holds has been through it already (the watch brought it and the
    /// cache dropped the older version), so it is not kept either: nothing would
    /// forget it.
    pub fn remember_unless_cached_or_passed(
        &self,
        obj: K,
        cache: Option<&Store<K>>,
        kept: fn(&K) -> bool,
    ) -> Arc<K>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        self.keep(obj, |o| {
            cache.is_some_and(|c| match c.get(&ObjectRef::from_obj(o)) {
                Some(cached) => not_older(&*cached, o),
                None => !kept(o),
            })
        })
    }

    /// Keeps `obj` unless `shown(obj)`: the cache shows that version or a newer
    /// one. `shown` runs under this map's lock.
    fn keep(&self, obj: K, shown: impl FnOnce(&K) -> bool) -> Arc<K> {
        let key = key_of(&obj);
        let obj = Arc::new(obj);
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
        if shown(&obj) {
            entries.remove(&key);
        } else {
            entries.insert(key, (obj.clone(), now));
        }
        obj
    }

    /// The object this process last wrote, while its time lasts.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        let key = (namespace.to_string(), name.to_string());
        let mut entries = self.lock();
        match entries.get(&key) {
            Some((obj, at)) if at.elapsed() < self.ttl => Some(obj.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// The newer of the cache's copy and this process's last write: the cache's
    /// once it has caught up (the write is then forgotten). `None` when that cannot
    /// be told (no cached copy, or resourceVersions that do not compare): read the
    /// API.
    pub fn newest(&self, cached: Option<Arc<K>>) -> Option<Arc<K>> {
        let cached = cached?;
        let key = key_of(&*cached);
        let mut entries = self.lock();
        let Some((written, at)) = entries.get(&key) else {
            return Some(cached);
        };
        let order = compare_resource_versions(
            written
                .meta()
                .resource_version
                .as_deref()
                .unwrap_or_default(),
            cached
                .meta()
                .resource_version
                .as_deref()
                .unwrap_or_default(),
        );
        match order {
            Some(Ordering::Greater) if at.elapsed() < self.ttl => Some(written.clone()),
            Some(Ordering::Greater) => {
                // Kept too long without the cache catching up: ask the API.
                entries.remove(&key);
                None
            }
            Some(_) => {
                entries.remove(&key);
                Some(cached)
            }
            None => None,
        }
    }

    /// A watch saw `namespace/name` at `resource_version` (`None`: deleted): a
    /// version newer than this process's write, or a deletion, means someone else
    /// changed it, so the write is forgotten. Its own version, or an older one
    /// arriving late, keeps it.
    pub fn observe(&self, namespace: &str, name: &str, resource_version: Option<&str>) {
        let key = (namespace.to_string(), name.to_string());
        let mut entries = self.lock();
        let Some((written, _)) = entries.get(&key) else {
            return;
        };
        let keep = resource_version.is_some_and(|seen| {
            matches!(
                compare_resource_versions(
                    seen,
                    written
                        .meta()
                        .resource_version
                        .as_deref()
                        .unwrap_or_default()
                ),
                Some(Ordering::Less | Ordering::Equal)
            )
        });
        if !keep {
            entries.remove(&key);
        }
    }

    /// The cache now holds `namespace/name` at `resource_version`: a write of this
    /// process that is not newer is forgotten (the cache serves it now).
    pub fn caught_up(&self, namespace: &str, name: &str, resource_version: &str) {
        let key = (namespace.to_string(), name.to_string());
        let mut entries = self.lock();
        let Some((written, _)) = entries.get(&key) else {
            return;
        };
        if matches!(
            compare_resource_versions(
                resource_version,
                written
                    .meta()
                    .resource_version
                    .as_deref()
                    .unwrap_or_default()
            ),
            Some(Ordering::Greater | Ordering::Equal)
        ) {
            entries.remove(&key);
        }
    }

    /// The cache now holds `obj` (a watch brought it): as [`Self::caught_up`].
    pub fn caught_up_with(&self, obj: &K) {
        if self.is_empty() {
            return;
        }
        let meta = obj.meta();
        self.caught_up(
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
            meta.resource_version.as_deref().unwrap_or_default(),
        );
    }

    /// Forgets `namespace/name`.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.lock()
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Forgets everything (a watch listed again: its events may have been missed).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// How many objects are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Objects known not to exist: a GET answered 404 and the watch has shown nothing
/// of that name since the GET was about to be sent. A lookup registers first
/// ([`KnownAbsent::looking_up`]), the watch reports every name it sees
/// ([`KnownAbsent::seen`]), and a 404 is kept only when nothing was seen in
/// between: a create that raced the GET is never hidden.
pub struct KnownAbsent {
    state: Mutex<AbsentState>,
    ttl: Duration,
}

#[derive(Default)]
struct AbsentState {
    /// Lookups in flight, and whether the watch saw the name meanwhile.
    pending: HashMap<Key, bool>,
    absent: HashMap<Key, Instant>,
}

impl KnownAbsent {
    pub fn new(ttl: Duration) -> Self {
        KnownAbsent {
            state: Mutex::new(AbsentState::default()),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AbsentState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `namespace/name` is known not to exist.
    pub fn is_absent(&self, namespace: &str, name: &str) -> bool {
        let key = (namespace.to_string(), name.to_string());
        let mut state = self.lock();
        match state.absent.get(&key) {
            Some(at) if at.elapsed() < self.ttl => true,
            Some(_) => {
                state.absent.remove(&key);
                false
            }
            None => false,
        }
    }

    /// A GET of `namespace/name` is about to be sent.
    pub fn looking_up(&self, namespace: &str, name: &str) {
        self.lock()
            .pending
            .insert((namespace.to_string(), name.to_string()), false);
    }

    /// The GET answered: `found` or 404. A 404 is kept unless the watch saw the
    /// name while the GET was under way.
    pub fn looked_up(&self, namespace: &str, name: &str, found: bool) {
        let key = (namespace.to_string(), name.to_string());
        let mut state = self.lock();
        let seen_meanwhile = state.pending.remove(&key).unwrap_or(true);
        if found || seen_meanwhile {
            state.absent.remove(&key);
        } else {
            let now = Instant::now();
            let ttl = self.ttl;
            state.absent.retain(|_, at| now.duration_since(*at) < ttl);
            state.absent.insert(key, now);
        }
    }

    /// The watch saw `namespace/name` (created, changed or deleted).
    pub fn seen(&self, namespace: &str, name: &str) {
        let mut state = self.lock();
        if state.pending.is_empty() && state.absent.is_empty() {
            return;
        }
        let key = (namespace.to_string(), name.to_string());
        state.absent.remove(&key);
        if let Some(seen) = state.pending.get_mut(&key) {
            *seen = true;
        }
    }

    /// This process creates `namespace/name`, or the watch may have missed events.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.lock()
            .absent
            .remove(&(namespace.to_string(), name.to_string()));
    }

    pub fn clear(&self) {
        let mut state = self.lock();
        state.absent.clear();
        for seen in state.pending.values_mut() {
            *seen = true;
        }
    }
}

fn key_of<K: Resource>(obj: &K) -> Key {
    let meta = obj.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn at(name: &str, rv: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.namespace = Some("ns".into());
        c.metadata.name = Some(name.into());
        c.metadata.resource_version = Some(rv.into());
        c
    }

    fn rv(c: &ConfigMap) -> &str {
        c.metadata.resource_version.as_deref().unwrap_or_default()
    }

    #[test]
    fn resource_versions_compare_as_numbers_or_not_at_all() {
        assert_eq!(compare_resource_versions("9", "10"), Some(Ordering::Less));
        assert_eq!(
            compare_resource_versions("100", "99"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare_resource_versions("42", "42"), Some(Ordering::Equal));
        assert_eq!(compare_resource_versions("", "1"), None);
        assert_eq!(compare_resource_versions("01", "1"), None);
        assert_eq!(compare_resource_versions("abc", "1"), None);
    }

    #[test]
    fn a_write_the_cache_already_holds_is_not_kept() {
        let (cache, mut writer) = kube::runtime::reflector::store::<ConfigMap>();
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(at("c", "31")));
        let recent = RecentWrites::new(Duration::from_secs(60));
        // The watch brought this very write (or a later version) first.
        recent.remember_unless_cached(at("c", "31"), Some(&cache));
        assert!(recent.is_empty());
        // The cache is behind the write, or has never seen the object: kept.
        recent.remember_unless_cached(at("c", "32"), Some(&cache));
        assert_eq!(recent.get("ns", "c").as_deref().map(rv), Some("32"));
        recent.remember_unless_cached(at("d", "5"), Some(&cache));
        recent.remember_unless_cached(at("e", "5"), None);
        assert_eq!(recent.len(), 3);
        // A version the cache caught up with replaces the write kept before.
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(at("c", "33")));
        recent.remember_unless_cached(at("c", "33"), Some(&cache));
        assert!(recent.get("ns", "c").is_none());
    }

    #[test]
    fn the_write_is_read_until_the_cache_catches_up() {
        let recent = RecentWrites::new(Duration::from_secs(60));
        recent.remember(at("c", "12"));
        // The cache still has the version before the write: the write is newer.
        let read = recent.newest(Some(Arc::new(at("c", "11")))).unwrap();
        assert_eq!(rv(&read), "12");
        // The cache has it (or newer): the cache's copy, and the write is forgotten.
        let read = recent.newest(Some(Arc::new(at("c", "13")))).unwrap();
        assert_eq!(rv(&read), "13");
        assert!(recent.is_empty());
        // Nothing written: the cache's copy; nothing cached: ask the API.
        assert_eq!(
            rv(&recent.newest(Some(Arc::new(at("c", "5")))).unwrap()),
            "5"
        );
        assert!(recent.newest(None).is_none());
    }

    #[test]
    fn versions_that_do_not_compare_send_the_caller_to_the_api() {
        let recent = RecentWrites::new(Duration::from_secs(60));
        recent.remember(at("c", "opaque-2"));
        assert!(recent.newest(Some(Arc::new(at("c", "opaque-1")))).is_none());
    }

    #[test]
    fn a_newer_version_seen_or_a_deletion_forgets_the_write() {
        let recent: RecentWrites<ConfigMap> = RecentWrites::new(Duration::from_secs(60));
        recent.remember(at("s", "20"));
        recent.observe("ns", "s", Some("19"));
        recent.observe("ns", "s", Some("20"));
        assert_eq!(rv(&recent.get("ns", "s").unwrap()), "20");
        recent.observe("ns", "s", Some("21"));
        assert!(recent.get("ns", "s").is_none());
        recent.remember(at("s", "22"));
        recent.observe("ns", "s", None);
        assert!(recent.get("ns", "s").is_none());
    }

    #[test]
    fn a_cache_that_caught_up_forgets_the_write() {
        let recent: RecentWrites<ConfigMap> = RecentWrites::new(Duration::from_secs(60));
        recent.remember(at("c", "30"));
        recent.caught_up("ns", "c", "29");
        assert_eq!(recent.len(), 1);
        recent.caught_up("ns", "c", "30");
        assert!(recent.is_empty());
        // The same, told with the object the watch brought.
        recent.remember(at("c", "31"));
        recent.caught_up_with(&at("c", "30"));
        assert_eq!(recent.len(), 1);
        recent.caught_up_with(&at("c", "32"));
        assert!(recent.is_empty());
    }

    #[test]
    fn a_404_is_kept_only_when_the_watch_saw_nothing_meanwhile() {
        let absent = KnownAbsent::new(Duration::from_secs(60));
        absent.looking_up("ns", "a");
        absent.looked_up("ns", "a", false);
        assert!(absent.is_absent("ns", "a"));
        // Created afterwards: the watch tells.
        absent.seen("ns", "a");
        assert!(!absent.is_absent("ns", "a"));
        // Created while the GET was under way: the 404 is not kept.
        absent.looking_up("ns", "b");
        absent.seen("ns", "b");
        absent.looked_up("ns", "b", false);
        assert!(!absent.is_absent("ns", "b"));
        // Found: not absent; a relist forgets everything.
        absent.looking_up("ns", "c");
        absent.looked_up("ns", "c", true);
        assert!(!absent.is_absent("ns", "c"));
        absent.looking_up("ns", "d");
        absent.looked_up("ns", "d", false);
        absent.clear();
        assert!(!absent.is_absent("ns", "d"));
    }

    #[test]
    fn writes_expire() {
        let recent: RecentWrites<ConfigMap> = RecentWrites::new(Duration::from_millis(0));
        recent.remember(at("s", "20"));
        assert!(recent.get("ns", "s").is_none());
        recent.remember(at("c", "12"));
        assert!(recent.newest(Some(Arc::new(at("c", "11")))).is_none());
        assert!(recent.is_empty());
    }
}
