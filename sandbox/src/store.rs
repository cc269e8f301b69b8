//! The object store: every object by resource, namespace and name, one global
//! resourceVersion counter, and a bounded history of changes that watches resume from.

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

type Objects = BTreeMap<(String, String), Arc<Value>>;

struct State {
    rv: u64,
    objects: HashMap<ResourceKey, Objects>,
    history: VecDeque<Arc<Change>>,
    /// Watches may resume from any resourceVersion at or after this one.
    oldest_watchable: u64,
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

/// How many changes are kept for watches to resume from.
const HISTORY: usize = 20_000;

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
        let (changes, _) = broadcast::channel(16_384);
        Store {
            state: Mutex::new(State {
                rv: 100,
                objects: HashMap::new(),
                history: VecDeque::new(),
                oldest_watchable: 100,
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

    /// The oldest resourceVersion a watch can start from.
    pub fn oldest_watchable(&self) -> u64 {
        self.lock().oldest_watchable
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
        let state = self.lock();
        let items = match state.objects.get(res) {
            None => Vec::new(),
            Some(m) => match ns {
                Some(ns) => m
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect(),
                None => m.values().cloned().collect(),
            },
        };
        (items, state.rv)
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
        state.history.push_back(change.clone());
        while state.history.len() > HISTORY {
            if let Some(old) = state.history.pop_front() {
                state.oldest_watchable = old.rv + 1;
            }
        }
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
    pub fn subscribe(&self, from_rv: u64) -> Result<Subscription, StoreError> {
        let state = self.lock();
        if from_rv + 1 < state.oldest_watchable {
            return Err(StoreError::Gone {
                requested: from_rv,
                oldest: state.oldest_watchable,
            });
        }
        let backlog = state
            .history
            .iter()
            .filter(|c| c.rv > from_rv)
            .cloned()
            .collect();
        Ok((backlog, self.changes.subscribe()))
    }
}
