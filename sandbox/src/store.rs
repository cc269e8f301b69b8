//! The object store: every object by resource, namespace and name, one global
//! resourceVersion counter, and for each resource a bounded history of changes that
//! watches resume from (as kube-apiserver's watch cache keeps one per resource).

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Identifies a resource type across versions: `group/plural` (`/configmaps` for core).
pub type ResourceKey = String;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub resource: ResourceKey,
    pub namespace: String,
    pub event: EventType,
    pub object: Arc<Value>,
    /// The object before the change (for label-selector watches).
    pub previous: Option<Arc<Value>>,
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    #[error("resourceVersion conflict")]
    Conflict,
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
}

/// An object's place in its resource: (namespace, name).
pub type ObjectKey = (String, String);

type Objects = BTreeMap<ObjectKey, Arc<Value>>;

/// One page of a list.
pub struct Page {
    /// The page's objects, in (namespace, name) order.
    pub items: Vec<Arc<Value>>,
    /// True when accepted objects follow the page.
    pub more: bool,
    /// How many objects of the resource (accepted or not) follow the page's last one.
    pub following: usize,
    /// The resourceVersion the page was taken at.
    pub rv: u64,
}

struct State {
    rv: u64,
    objects: HashMap<ResourceKey, Objects>,
    /// Each resource's recent changes.
    history: HashMap<ResourceKey, History>,
    /// The uid of every stored object.
    uids: std::collections::HashSet<String>,
    /// How many stored objects name each uid as an owner.
    dependents: HashMap<String, usize>,
}

impl State {
    /// Books an object's owner references in (`+1`) or out (`-1`); true when an owner is missing.
    fn book_owners(&mut self, obj: &Value, add: bool) -> bool {
        let mut missing = false;
        for owner in crate::objects::owner_uids(obj) {
            if add {
                missing |= !self.uids.contains(&owner);
                *self.dependents.entry(owner).or_default() += 1;
            } else if let Some(n) = self.dependents.get_mut(&owner) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.dependents.remove(&owner);
                }
            }
        }
        missing
    }
}

/// A resource's recent changes, oldest first, with when each was made.
struct History {
    changes: VecDeque<(std::time::Instant, Arc<Change>)>,
    /// Watches of the resource may resume from any resourceVersion at or after this one.
    oldest_watchable: u64,
}

impl History {
    /// Adds a change made at `now`; drops the changes the limits no longer keep.
    fn push(&mut self, now: std::time::Instant, change: Arc<Change>) {
        self.changes.push_back((now, change));
        while let Some((at, oldest)) = self.changes.front() {
            let len = self.changes.len();
            let expired = len > KEEP_AT_LEAST_CHANGES && now.duration_since(*at) > KEEP_CHANGES_FOR;
            if len <= KEEP_AT_MOST_CHANGES && !expired {
                break;
            }
            self.oldest_watchable = oldest.rv + 1;
            self.changes.pop_front();
        }
    }
}

/// How long a change is kept for watches to resume from at least: kube-apiserver's
/// watch cache grows rather than drop an event younger than this (`eventFreshDuration`).
const KEEP_CHANGES_FOR: std::time::Duration = std::time::Duration::from_secs(75);

/// How many changes of one resource are kept at most (kube-apiserver's watch cache
/// upper bound, `defaultUpperBoundCapacity`).
const KEEP_AT_MOST_CHANGES: usize = 100 * 1024;

/// The resourceVersion of an empty store.
const FIRST_RV: u64 = 100;

/// How many changes are kept at least, however old (`defaultLowerBoundCapacity`).
const KEEP_AT_LEAST_CHANGES: usize = 100;

/// How many changes a watch may fall behind the writers before the store drops it (the
/// watch then ends and its client resumes from the history).
const LIVE_BUFFER: usize = 65_536;

/// Changes to replay, and the receiver of those that follow.
pub type Subscription = (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>);

/// The in-memory store.
pub struct Store {
    state: Mutex<State>,
    changes: broadcast::Sender<Arc<Change>>,
    /// Set when the garbage collector has work: an owner with dependents went away, an
    /// object names an owner that does not exist, or someone asked (finalizers, namespaces).
    gc_needed: std::sync::atomic::AtomicBool,
}

impl Default for Store {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(LIVE_BUFFER);
        Store {
            state: Mutex::new(State {
                rv: FIRST_RV,
                objects: HashMap::new(),
                history: HashMap::new(),
                uids: Default::default(),
                dependents: HashMap::new(),
            }),
            changes,
            gc_needed: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// The resourceVersion of a stored object.
pub fn rv_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Asks the garbage collector for a pass.
    pub fn mark_gc_needed(&self) {
        self.gc_needed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the garbage collector has work (and clears the mark).
    pub fn take_gc_needed(&self) -> bool {
        self.gc_needed
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// The newest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, res: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(res)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
            .cloned()
    }

    /// Every object of a resource (in one namespace, or all), sorted by namespace and
    /// name, with the resourceVersion the list is consistent with.
    pub fn list(&self, res: &str, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let all = self.page(res, ns, None, None, |_| true);
        (all.items, all.rv)
    }

    /// One page of a list, in (namespace, name) order: at most `limit` of the objects
    /// after `after` that `keep` accepts, whether more follow, and how many objects
    /// (accepted or not) follow the page. The cost is the page, not the list: the
    /// objects before `after` are skipped by the map's order, not filtered.
    pub fn page(
        &self,
        res: &str,
        ns: Option<&str>,
        after: Option<&ObjectKey>,
        limit: Option<usize>,
        keep: impl Fn(&Value) -> bool,
    ) -> Page {
        use std::ops::Bound;
        let state = self.lock();
        let mut page = Page {
            items: Vec::new(),
            more: false,
            following: 0,
            rv: state.rv,
        };
        let Some(m) = state.objects.get(res) else {
            return page;
        };
        let start = match (after, ns) {
            (Some(a), Some(ns)) if a.0.as_str() < ns => {
                Bound::Included((ns.to_string(), String::new()))
            }
            (Some(a), _) => Bound::Excluded(a.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut objects = m
            .range((start, Bound::Unbounded))
            .take_while(|((n, _), _)| ns.is_none_or(|ns| n == ns));
        let limit = limit.unwrap_or(usize::MAX);
        // Objects seen since the page's last one.
        let mut since_last = 0;
        for (_, obj) in objects.by_ref() {
            since_last += 1;
            if !keep(obj) {
                continue;
            }
            if page.items.len() == limit {
                page.more = true;
                break;
            }
            page.items.push(obj.clone());
            since_last = 0;
        }
        page.following = since_last + objects.count();
        page
    }

    /// Every object in a namespace, of every resource.
    pub fn namespace_contents(&self, ns: &str) -> Vec<(ResourceKey, Arc<Value>)> {
        let state = self.lock();
        state
            .objects
            .iter()
            .flat_map(|(res, m)| {
                m.range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| (res.clone(), v.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every stored object with its resource.
    pub fn all(&self) -> Vec<(ResourceKey, Arc<Value>)> {
        let state = self.lock();
        state
            .objects
            .iter()
            .flat_map(|(res, m)| {
                m.values()
                    .map(|v| (res.clone(), v.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn record(&self, state: &mut State, change: Change) {
        let change = Arc::new(change);
        let now = std::time::Instant::now();
        let history = state
            .history
            .entry(change.resource.clone())
            .or_insert_with(|| History {
                changes: VecDeque::new(),
                oldest_watchable: FIRST_RV,
            });
        history.push(now, change.clone());
        // No receiver is not an error: nobody is watching.
        let _ = self.changes.send(change);
    }

    /// Stores a new object; gives it the next resourceVersion.
    pub fn create(
        &self,
        res: &str,
        ns: &str,
        name: &str,
        mut obj: Value,
    ) -> Result<Arc<Value>, StoreError> {
        let mut state = self.lock();
        let key = (ns.to_string(), name.to_string());
        if state.objects.get(res).is_some_and(|m| m.contains_key(&key)) {
            return Err(StoreError::AlreadyExists);
        }
        state.rv += 1;
        let rv = state.rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        state.uids.insert(crate::objects::uid(&obj).to_string());
        if state.book_owners(&obj, true) {
            self.mark_gc_needed();
        }
        state
            .objects
            .entry(res.to_string())
            .or_default()
            .insert(key, obj.clone());
        self.record(
            &mut state,
            Change {
                rv,
                resource: res.to_string(),
                namespace: ns.to_string(),
                event: EventType::Added,
                object: obj.clone(),
                previous: None,
            },
        );
        Ok(obj)
    }

    /// Replaces an object. With `expected_rv`, fails with Conflict when the stored
    /// object has another resourceVersion. An object equal to the stored one (apart
    /// from its resourceVersion) is a no-op that keeps the resourceVersion.
    pub fn update(
        &self,
        res: &str,
        ns: &str,
        name: &str,
        mut obj: Value,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let mut state = self.lock();
        let key = (ns.to_string(), name.to_string());
        let current = state
            .objects
            .get(res)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        let current_rv = rv_of(&current);
        if expected_rv.is_some_and(|e| e != current_rv) {
            return Err(StoreError::Conflict);
        }
        set_rv(&mut obj, current_rv);
        if obj == *current {
            return Ok(current);
        }
        state.rv += 1;
        let rv = state.rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        if crate::objects::owner_uids(&current) != crate::objects::owner_uids(&obj) {
            state.book_owners(&current, false);
            if state.book_owners(&obj, true) {
                self.mark_gc_needed();
            }
        }
        state
            .objects
            .entry(res.to_string())
            .or_default()
            .insert(key, obj.clone());
        self.record(
            &mut state,
            Change {
                rv,
                resource: res.to_string(),
                namespace: ns.to_string(),
                event: EventType::Modified,
                object: obj.clone(),
                previous: Some(current),
            },
        );
        Ok(obj)
    }

    /// Removes an object; the DELETED event carries `last` (the object as it was,
    /// with a new resourceVersion).
    pub fn delete(
        &self,
        res: &str,
        ns: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let mut state = self.lock();
        let key = (ns.to_string(), name.to_string());
        let current = state
            .objects
            .get(res)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if expected_rv.is_some_and(|e| e != rv_of(&current)) {
            return Err(StoreError::Conflict);
        }
        if let Some(m) = state.objects.get_mut(res) {
            m.remove(&key);
        }
        let uid = crate::objects::uid(&current).to_string();
        state.uids.remove(&uid);
        state.book_owners(&current, false);
        if state.dependents.contains_key(&uid) {
            self.mark_gc_needed();
        }
        state.rv += 1;
        let rv = state.rv;
        let mut last = (*current).clone();
        set_rv(&mut last, rv);
        let last = Arc::new(last);
        self.record(
            &mut state,
            Change {
                rv,
                resource: res.to_string(),
                namespace: ns.to_string(),
                event: EventType::Deleted,
                object: last.clone(),
                previous: Some(current),
            },
        );
        Ok(last)
    }

    /// Removes every object of a resource (when its CRD goes away).
    pub fn drop_resource(&self, res: &str) {
        let names: Vec<(String, String)> = {
            let state = self.lock();
            state
                .objects
                .get(res)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        for (ns, name) in names {
            let _ = self.delete(res, &ns, &name, None);
        }
    }

    /// The changes after `from_rv` to replay, and a receiver of the changes that follow,
    /// taken atomically so nothing is missed or repeated.
    pub fn subscribe(&self, res: &str, from_rv: u64) -> Result<Subscription, StoreError> {
        let state = self.lock();
        let Some(history) = state.history.get(res) else {
            return Ok((Vec::new(), self.changes.subscribe()));
        };
        if from_rv + 1 < history.oldest_watchable {
            return Err(StoreError::Gone {
                requested: from_rv,
                oldest: history.oldest_watchable,
            });
        }
        let first = history.changes.partition_point(|(_, c)| c.rv <= from_rv);
        let backlog = history
            .changes
            .range(first..)
            .map(|(_, c)| c.clone())
            .collect();
        Ok((backlog, self.changes.subscribe()))
    }

    /// The changes made from now on, of every resource.
    pub fn changes(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store_with(names: &[(&str, &str, &str)]) -> Store {
        let store = Store::default();
        for (ns, name, app) in names {
            let obj = json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": app}}});
            store.create("/secrets", ns, name, obj).expect("create");
        }
        store
    }

    fn names(page: &Page) -> Vec<String> {
        page.items
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    crate::objects::namespace(o),
                    crate::objects::name(o)
                )
            })
            .collect()
    }

    fn change(rv: u64) -> Arc<Change> {
        Arc::new(Change {
            rv,
            resource: "/secrets".into(),
            namespace: "a".into(),
            event: EventType::Modified,
            object: Arc::new(json!({})),
            previous: None,
        })
    }

    #[test]
    fn history_keeps_fresh_changes_and_drops_old_ones_down_to_the_floor() {
        let t0 = std::time::Instant::now();
        let mut history = History {
            changes: VecDeque::new(),
            oldest_watchable: FIRST_RV,
        };
        for rv in 1..=300 {
            history.push(t0, change(rv));
        }
        // Young changes are all kept, however many.
        assert_eq!(history.changes.len(), 300);
        assert_eq!(history.oldest_watchable, FIRST_RV);
        // Once they are older than the window, the oldest go, but never the last 100.
        history.push(
            t0 + KEEP_CHANGES_FOR + std::time::Duration::from_secs(1),
            change(301),
        );
        assert_eq!(history.changes.len(), KEEP_AT_LEAST_CHANGES);
        assert_eq!(history.oldest_watchable, 202);
        assert_eq!(history.changes.front().map(|(_, c)| c.rv), Some(202));
    }

    #[test]
    fn a_watch_resumes_from_its_resource_history_or_is_told_it_is_gone() {
        let store = store_with(&[("a", "1", "x"), ("a", "2", "x")]);
        let (backlog, _) = store
            .subscribe("/secrets", FIRST_RV + 1)
            .expect("in history");
        assert_eq!(
            backlog.iter().map(|c| c.rv).collect::<Vec<_>>(),
            [FIRST_RV + 2]
        );
        // Another resource's changes are not replayed.
        let (backlog, _) = store
            .subscribe("/configmaps", FIRST_RV)
            .expect("no history");
        assert!(backlog.is_empty());
        // A resource whose early changes were dropped refuses a watch from before them.
        store
            .lock()
            .history
            .get_mut("/secrets")
            .expect("history")
            .oldest_watchable = FIRST_RV + 2;
        assert!(matches!(
            store.subscribe("/secrets", FIRST_RV),
            Err(StoreError::Gone { .. })
        ));
    }

    #[test]
    fn pages_walk_every_object_once_in_namespace_then_name_order() {
        // "a-b" sorts before "a/..." as a string but after namespace "a" as a tuple:
        // paging must follow the map's (namespace, name) order.
        let store = store_with(&[
            ("a", "z", "x"),
            ("a-b", "a", "x"),
            ("a", "y", "x"),
            ("b", "k", "x"),
            ("a", "x", "x"),
        ]);
        let mut seen = Vec::new();
        let mut after: Option<ObjectKey> = None;
        loop {
            let page = store.page("/secrets", None, after.as_ref(), Some(2), |_| true);
            seen.extend(names(&page));
            if !page.more {
                assert_eq!(page.following, 0);
                break;
            }
            assert_eq!(page.following, 5 - seen.len());
            let last = page.items.last().expect("a page with more has items");
            after = Some((
                crate::objects::namespace(last).to_string(),
                crate::objects::name(last).to_string(),
            ));
        }
        assert_eq!(seen, ["a/x", "a/y", "a/z", "a-b/a", "b/k"]);
    }

    #[test]
    fn a_namespace_page_stays_in_its_namespace_and_filters_before_counting() {
        let store = store_with(&[
            ("a", "1", "x"),
            ("b", "1", "x"),
            ("b", "2", "other"),
            ("b", "3", "x"),
            ("b", "4", "x"),
            ("c", "1", "x"),
        ]);
        let is_x = |o: &Value| o.pointer("/metadata/labels/app") == Some(&json!("x"));
        let first = store.page("/secrets", Some("b"), None, Some(2), is_x);
        assert_eq!(names(&first), ["b/1", "b/3"]);
        assert!(first.more);
        assert_eq!(first.following, 1);
        let after = ("b".to_string(), "3".to_string());
        let second = store.page("/secrets", Some("b"), Some(&after), Some(2), is_x);
        assert_eq!(names(&second), ["b/4"]);
        assert!(!second.more);
        // A token from before the namespace starts at the namespace's first object.
        let before = ("a".to_string(), "9".to_string());
        let from_before = store.page("/secrets", Some("b"), Some(&before), None, |_| true);
        assert_eq!(names(&from_before), ["b/1", "b/2", "b/3", "b/4"]);
        assert!(
            store
                .page("/nothing", None, None, Some(1), |_| true)
                .items
                .is_empty()
        );
    }
}
