//! One watch of a kind for the whole process: a single list+watch against the API
//! server, one cache (`Store`), and any number of subscribers, each getting the
//! objects that changed as a stream. The Certificate controller, the Ingress shim,
//! the Gateway and ListenerSet shims and the metrics all read Certificates this way,
//! where each used to hold its own watch (and its own copy of every object).
//!
//! Subscribers see every object applied or deleted after they subscribe, the whole
//! cache once when they subscribe and after every relist, and the whole cache again
//! should they fall behind the shared buffer. Hooks run on each raw watch event
//! before subscribers hear of it, so indexes are current when they are woken.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use tokio::sync::broadcast;

/// A change seen by subscribers.
#[derive(Debug)]
pub enum Change<K> {
    Applied(Arc<K>),
    Deleted(Arc<K>),
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Change::Applied(o) => Change::Applied(o.clone()),
            Change::Deleted(o) => Change::Deleted(o.clone()),
        }
    }
}

impl<K> Change<K> {
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Applied(o) | Change::Deleted(o) => o,
        }
    }
}

/// How many changes a slow subscriber may fall behind before it is resynced from
/// the cache.
const BUFFER: usize = 4096;

/// What the broadcast carries: an applied object by reference (subscribers read it
/// from the cache, so the buffer holds no object, and a subscriber that is behind
/// reads the newest version), an applied object the cache does not keep, and a
/// deleted object, whole (neither is cached). A value leaves the buffer once every
/// subscriber has read it.
#[derive(Debug)]
enum Notice<K: Resource<DynamicType = ()>> {
    Applied(ObjectRef<K>),
    Passing(Arc<K>),
    Deleted(Arc<K>),
}

impl<K: Resource<DynamicType = ()>> Clone for Notice<K> {
    fn clone(&self) -> Self {
        match self {
            Notice::Applied(r) => Notice::Applied(r.clone()),
            Notice::Passing(o) => Notice::Passing(o.clone()),
            Notice::Deleted(o) => Notice::Deleted(o.clone()),
        }
    }
}

/// Takes `o` out of the cache `writer` keeps, if it is there, and hands it back
/// (the writer reads an event: no copy of the object is made for it).
fn uncache<K>(writer: &mut reflector::store::Writer<K>, o: K) -> K
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let gone = Event::Delete(o);
    writer.apply_watcher_event(&gone);
    match gone {
        Event::Delete(o) => o,
        _ => unreachable!("built as a deletion above"),
    }
}

/// A hook on every raw watch event (indexes, metrics), called once the cache holds
/// the event's change: an index can keep the cache's own copy of an object.
pub type Hook<K> = Box<dyn Fn(&Event<K>, &Store<K>) + Send + Sync>;

/// The shared watch of one kind.
pub struct SharedWatch<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    changes: broadcast::Sender<Notice<K>>,
    /// The watch requests made (one per list+watch cycle), for tests.
    watches_started: std::sync::atomic::AtomicU64,
    /// Where the objects the cache does not keep are held (an index), read to
    /// resync a subscriber that fell behind.
    not_kept: std::sync::OnceLock<NotKept<K>>,
}

/// Reads the objects a cache does not keep from where they are held.
pub type NotKept<K> = Box<dyn Fn() -> Vec<Arc<K>> + Send + Sync>;

impl<K> SharedWatch<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    /// Starts watching `api` (objects trimmed by `trim` before they are kept or
    /// shared; `managedFields` and the last-applied annotation always go), calling
    /// `hooks` on each event. The watch runs until the returned handle is aborted.
    pub fn start(
        api: Api<K>,
        trim: fn(&mut K),
        hooks: Vec<Hook<K>>,
    ) -> (Arc<SharedWatch<K>>, tokio::task::JoinHandle<()>) {
        Self::start_sharded(api, &crate::runtime::shards::Shards::all(), trim, hooks)
    }

    /// As [`SharedWatch::start`], caching this replica's share of the namespaces
    /// only (`--shards`; the watch lists again when the share changes).
    pub fn start_sharded(
        api: Api<K>,
        shards: &crate::runtime::shards::Shards,
        trim: fn(&mut K),
        hooks: Vec<Hook<K>>,
    ) -> (Arc<SharedWatch<K>>, tokio::task::JoinHandle<()>) {
        Self::start_sharded_and(api, shards, |_| false, trim, hooks)
    }

    /// As [`SharedWatch::start_sharded`], caching as well the objects of other
    /// namespaces `also` picks ([`Shards::share_of_and`]).
    ///
    /// [`Shards::share_of_and`]: crate::runtime::shards::Shards::share_of_and
    pub fn start_sharded_and(
        api: Api<K>,
        shards: &crate::runtime::shards::Shards,
        also: fn(&K) -> bool,
        trim: fn(&mut K),
        hooks: Vec<Hook<K>>,
    ) -> (Arc<SharedWatch<K>>, tokio::task::JoinHandle<()>) {
        Self::start_with(api, shards, also, |_| true, trim, hooks)
    }

    /// As [`SharedWatch::start_sharded`], the cache keeping only the objects
    /// `keep` picks: the others are still announced to subscribers (as applied,
    /// once, and again after each listing) and seen by the hooks, but not held.
    /// For objects no subscriber will work on again (a finished
    /// CertificateRequest), which an index may keep in a smaller form.
    pub fn start_keeping(
        api: Api<K>,
        shards: &crate::runtime::shards::Shards,
        keep: fn(&K) -> bool,
        trim: fn(&mut K),
        hooks: Vec<Hook<K>>,
    ) -> (Arc<SharedWatch<K>>, tokio::task::JoinHandle<()>) {
        Self::start_with(api, shards, |_| false, keep, trim, hooks)
    }

    fn start_with(
        api: Api<K>,
        shards: &crate::runtime::shards::Shards,
        also: fn(&K) -> bool,
        keep: fn(&K) -> bool,
        trim: fn(&mut K),
        hooks: Vec<Hook<K>>,
    ) -> (Arc<SharedWatch<K>>, tokio::task::JoinHandle<()>) {
        let (store, mut writer) = {
            let (reader, writer) = reflector::store();
            (reader, writer)
        };
        let (changes, _) = broadcast::channel(BUFFER);
        let watch = Arc::new(SharedWatch {
            store,
            changes,
            watches_started: Default::default(),
            not_kept: Default::default(),
        });
        let events = shards.share_of_and(
            move || watcher::watcher(api.clone(), watcher::Config::default()).default_backoff(),
            also,
        );
        let driver = {
            let watch = watch.clone();
            tokio::spawn(async move {
                let mut events = events
                    .modify(move |o: &mut K| {
                        crate::runtime::reconcile::drop_unread_metadata(o.meta_mut());
                        trim(o);
                    })
                    .boxed();
                // Objects of the listing in progress that the cache does not keep:
                // announced when it completes, as the kept ones are.
                let mut listed_passing: Vec<Arc<K>> = Vec::new();
                while let Some(event) = events.next().await {
                    let Ok(event) = event else { continue };
                    let kept = match &event {
                        Event::Apply(o) | Event::InitApply(o) => keep(o),
                        _ => true,
                    };
                    let event = match event {
                        Event::Apply(o) if !kept => Event::Apply(uncache(&mut writer, o)),
                        event => {
                            if kept {
                                writer.apply_watcher_event(&event);
                            }
                            event
                        }
                    };
                    for hook in &hooks {
                        hook(&event, &watch.store);
                    }
                    // Nobody subscribed yet is not an error: they read the cache.
                    match event {
                        Event::Apply(o) if !kept => {
                            let _ = watch.changes.send(Notice::Passing(Arc::new(o)));
                        }
                        Event::Apply(o) => {
                            let _ = watch.changes.send(Notice::Applied(ObjectRef::from_obj(&o)));
                        }
                        Event::Delete(o) => {
                            let _ = watch.changes.send(Notice::Deleted(Arc::new(o)));
                        }
                        Event::Init => {
                            listed_passing.clear();
                            watch
                                .watches_started
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Event::InitApply(o) if !kept => listed_passing.push(Arc::new(o)),
                        Event::InitApply(_) => {}
                        Event::InitDone => {
                            for o in watch.store.state() {
                                let _ = watch
                                    .changes
                                    .send(Notice::Applied(ObjectRef::from_obj(&*o)));
                            }
                            for o in listed_passing.drain(..) {
                                let _ = watch.changes.send(Notice::Passing(o));
                            }
                            listed_passing.shrink_to_fit();
                        }
                    }
                }
            })
        };
        (watch, driver)
    }

    /// Tells the watch where the objects its cache does not keep
    /// ([`SharedWatch::start_keeping`]) are held: a subscriber that falls behind
    /// hears of them again from there, as of the cached ones from the cache.
    pub fn set_not_kept(&self, read: NotKept<K>) {
        let _ = self.not_kept.set(read);
    }

    /// The cache.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// How many times the watch listed (its first list and each relist).
    pub fn lists(&self) -> u64 {
        self.watches_started
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every change from now on, after the cache as it is.
    pub fn changes(self: &Arc<Self>) -> impl Stream<Item = Change<K>> + Send + 'static {
        let pending: VecDeque<Change<K>> = self
            .store
            .state()
            .into_iter()
            .map(Change::Applied)
            .collect();
        let rx = self.changes.subscribe();
        futures::stream::unfold(
            (rx, pending, self.clone()),
            |(mut rx, mut pending, watch)| async move {
                loop {
                    if let Some(c) = pending.pop_front() {
                        return Some((c, (rx, pending, watch)));
                    }
                    match rx.recv().await {
                        Ok(Notice::Applied(r)) => {
                            // Gone from the cache: its deletion follows.
                            if let Some(o) = watch.store.get(&r) {
                                return Some((Change::Applied(o), (rx, pending, watch)));
                            }
                        }
                        Ok(Notice::Passing(o)) => {
                            return Some((Change::Applied(o), (rx, pending, watch)));
                        }
                        Ok(Notice::Deleted(o)) => {
                            return Some((Change::Deleted(o), (rx, pending, watch)));
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            pending.extend(watch.store.state().into_iter().map(Change::Applied));
                            if let Some(read) = watch.not_kept.get() {
                                pending.extend(read().into_iter().map(Change::Applied));
                            }
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            },
        )
    }

    /// Objects applied (created or changed) from now on, after the cache as it is.
    pub fn applied(self: &Arc<Self>) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.changes().filter_map(|c| async move {
            match c {
                Change::Applied(o) => Some(o),
                Change::Deleted(_) => None,
            }
        })
    }

    /// Objects applied or deleted from now on, after the cache as it is.
    pub fn touched(self: &Arc<Self>) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.changes().map(|c| c.object().clone())
    }
}
