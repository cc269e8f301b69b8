//! An in-memory index of objects by the uid of their controlling owner, kept from a
//! watch stream: the Certificate controller finds a Certificate's CertificateRequests
//! and temporary key Secrets without listing (listing scans every object of the
//! namespace on the API server: quadratic work at thousands of Certificates).

use crate::runtime::packing::Packing;
use kube::ResourceExt;
use kube::runtime::watcher::Event;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// How the index holds an object: the object itself (an `Arc` a cache may share),
/// or packed, its JSON deflated, decoded again when read. A decoded
/// CertificateRequest holds about 3.4 KB of heap, most of it the fixed cost of
/// Kubernetes' generic types (ObjectMeta's fifteen optional fields, a 544-byte
/// B-tree node per map); its JSON 1.7 KB, deflated 1 KB (`benches/footprint.rs`).
enum Held<K> {
    Whole(Arc<K>),
    Packed(Box<[u8]>),
}

/// One object filed, with the owner uids it is filed under (shared with the
/// index's keys).
struct Filed<K> {
    held: Held<K>,
    owners: Box<[Arc<str>]>,
}

impl<K: serde::Serialize + serde::de::DeserializeOwned> Filed<K> {
    fn read(&self, packing: Option<&Packing<K>>) -> Option<Arc<K>> {
        match &self.held {
            Held::Whole(o) => Some(o.clone()),
            // The index packed it itself: decoding cannot fail but on a bug, and
            // then the object reads as absent rather than as a panic.
            Held::Packed(packed) => packing?.unpack(packed).map(Arc::new),
        }
    }
}

struct Inner<K> {
    /// namespace/name → the object filed.
    objects: HashMap<String, Arc<Filed<K>>>,
    /// owner uid → the objects filed under it (one or two, mostly: a list).
    by_owner: HashMap<Arc<str>, Vec<Arc<Filed<K>>>>,
    /// Objects received during a relist, filed when it completes.
    relist: Option<Vec<Listed<K>>>,
}

/// An object of a listing in progress: its key, its kept form, its owners.
type Listed<K> = (String, Held<K>, Vec<String>);

/// Objects by owner uid.
pub struct OwnerIndex<K> {
    inner: RwLock<Inner<K>>,
    /// Drops what the index's readers do not need, before an object is kept.
    trim: fn(&mut K),
    /// The uids an object is filed under: its ownerReferences' by default.
    owners: fn(&K) -> Vec<String>,
    /// Keep objects packed (deflated JSON) rather than decoded.
    packing: Option<Packing<K>>,
}

/// The uids of an object's ownerReferences.
fn referenced_owners<K: ResourceExt>(obj: &K) -> Vec<String> {
    obj.owner_references()
        .iter()
        .map(|o| o.uid.clone())
        .collect()
}

impl<K: ResourceExt> Default for OwnerIndex<K> {
    fn default() -> Self {
        OwnerIndex {
            trim: |_| {},
            owners: referenced_owners::<K>,
            packing: None,
            inner: RwLock::new(Inner {
                objects: HashMap::new(),
                by_owner: HashMap::new(),
                relist: None,
            }),
        }
    }
}

fn key<K: ResourceExt>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

impl<K> OwnerIndex<K>
where
    K: ResourceExt + Clone + serde::Serialize + serde::de::DeserializeOwned,
{
    /// An index that trims objects with `trim` (besides dropping managedFields).
    pub fn with_trim(trim: fn(&mut K)) -> Self {
        OwnerIndex {
            trim,
            ..Default::default()
        }
    }

    /// An index that files each object under the uids `owners` gives (e.g. an owner
    /// named by a label where an ownerReference cannot be set).
    pub fn with_owners(trim: fn(&mut K), owners: fn(&K) -> Vec<String>) -> Self {
        OwnerIndex {
            trim,
            owners,
            ..Default::default()
        }
    }

    /// An index that trims objects with `trim` and keeps them packed: less than
    /// a third of the heap of decoded objects, for a decoding on each read. For objects
    /// read seldom (a Certificate's requests are read when it is reconciled) and
    /// cached nowhere else.
    pub fn packed(trim: fn(&mut K), packing: Packing<K>) -> Self {
        OwnerIndex {
            trim,
            packing: Some(packing),
            ..Default::default()
        }
    }

    /// The form the index keeps `o` in (trimmed; packed or whole).
    fn hold(&self, o: &K) -> Held<K> {
        let mut o = o.clone();
        o.meta_mut().managed_fields = None;
        (self.trim)(&mut o);
        match &self.packing {
            // Serializing a decoded Kubernetes object to JSON cannot fail.
            Some(packing) => packing
                .pack(o)
                .map_or_else(|o| Held::Whole(Arc::new(o)), Held::Packed),
            None => Held::Whole(Arc::new(o)),
        }
    }

    fn remove_locked(inner: &mut Inner<K>, k: &str) {
        let Some(filed) = inner.objects.remove(k) else {
            return;
        };
        for o in filed.owners.iter() {
            if let Some(list) = inner.by_owner.get_mut(o) {
                list.retain(|f| !Arc::ptr_eq(f, &filed));
                if list.is_empty() {
                    inner.by_owner.remove(o);
                }
            }
        }
    }

    fn insert_locked(inner: &mut Inner<K>, k: String, held: Held<K>, owners: Vec<String>) {
        Self::remove_locked(inner, &k);
        // An object with no owner is filed nowhere: nothing to keep.
        if owners.is_empty() {
            return;
        }
        let owners: Box<[Arc<str>]> = owners
            .into_iter()
            .map(|o| match inner.by_owner.get_key_value(o.as_str()) {
                Some((shared, _)) => shared.clone(),
                None => Arc::from(o),
            })
            .collect();
        let filed = Arc::new(Filed { held, owners });
        for o in filed.owners.iter() {
            inner
                .by_owner
                .entry(o.clone())
                .or_default()
                .push(filed.clone());
        }
        inner.objects.insert(k, filed);
    }

    /// Files `o` (kept as `held`).
    fn file_locked(&self, inner: &mut Inner<K>, o: &K, held: Held<K>) {
        Self::insert_locked(inner, key(o), held, (self.owners)(o));
    }

    /// Applies one watch event.
    pub fn apply(&self, event: &Event<K>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        match event {
            Event::Apply(o) => {
                let held = self.hold(o);
                self.file_locked(&mut inner, o, held);
            }
            Event::Delete(o) => Self::remove_locked(&mut inner, &key(o)),
            Event::Init => inner.relist = Some(Vec::new()),
            Event::InitApply(o) => {
                // Only what will be filed is held until the listing completes (a
                // namespace of other controllers' Secrets is not copied).
                let owners = (self.owners)(o);
                if owners.is_empty() {
                    return;
                }
                let held = self.hold(o);
                if let Some(r) = inner.relist.as_mut() {
                    r.push((key(o), held, owners));
                }
            }
            Event::InitDone => {
                let listed = inner.relist.take().unwrap_or_default();
                inner.by_owner.clear();
                inner.objects.clear();
                for (k, held, owners) in listed {
                    Self::insert_locked(&mut inner, k, held, owners);
                }
            }
        }
    }

    /// As [`OwnerIndex::apply`], for an event of a shared watch whose cache `cache`
    /// already holds the change: the index keeps the cache's own copies (no second
    /// copy of each object), and rebuilds from the cache after each listing.
    pub fn apply_cached(&self, event: &Event<K>, cache: &kube::runtime::reflector::Store<K>)
    where
        K: kube::Resource<DynamicType = ()> + 'static,
    {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        match event {
            Event::Apply(o) => {
                let held = match cache.get(&kube::runtime::reflector::ObjectRef::from_obj(o)) {
                    Some(cached) => Held::Whole(cached),
                    None => self.hold(o),
                };
                self.file_locked(&mut inner, o, held);
            }
            Event::Delete(o) => Self::remove_locked(&mut inner, &key(o)),
            Event::Init | Event::InitApply(_) => {}
            Event::InitDone => {
                inner.by_owner.clear();
                inner.objects.clear();
                for o in cache.state() {
                    let k = key(o.as_ref());
                    let owners = (self.owners)(o.as_ref());
                    Self::insert_locked(&mut inner, k, Held::Whole(o), owners);
                }
            }
        }
    }

    /// Files an object this process just wrote, unless the watch has already
    /// brought it: the watch's copy may be newer (a request created and signed
    /// before the creator got its answer), and an index must never go back to an
    /// older version of an object.
    pub fn file_if_absent(&self, obj: K) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if inner.objects.contains_key(&key(&obj)) {
            return;
        }
        let held = self.hold(&obj);
        self.file_locked(&mut inner, &obj, held);
    }

    /// Forgets an object this process deleted, before its watch event arrives.
    pub fn forget(&self, namespace: &str, name: &str) {
        if let Ok(mut inner) = self.inner.write() {
            Self::remove_locked(&mut inner, &format!("{namespace}/{name}"));
        }
    }

    /// Every object filed (to resync a watch's subscriber that fell behind).
    pub fn all(&self) -> Vec<Arc<K>> {
        let filed: Vec<Arc<Filed<K>>> = self
            .inner
            .read()
            .map(|i| i.objects.values().cloned().collect())
            .unwrap_or_default();
        filed
            .iter()
            .filter_map(|f| f.read(self.packing.as_ref()))
            .collect()
    }

    /// The objects an owner owns.
    pub fn owned_by(&self, owner_uid: &str) -> Vec<Arc<K>> {
        let filed = self
            .inner
            .read()
            .ok()
            .and_then(|i| i.by_owner.get(owner_uid).cloned())
            .unwrap_or_default();
        // Decoded outside the lock.
        filed
            .iter()
            .filter_map(|f| f.read(self.packing.as_ref()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn owned(name: &str, owner: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                owner_references: Some(vec![OwnerReference {
                    uid: owner.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn filing_what_was_written_never_replaces_what_the_watch_brought() {
        let index: OwnerIndex<ConfigMap> = OwnerIndex::default();
        let version = |rv: &str| {
            let mut o = owned("req", "cert");
            o.metadata.resource_version = Some(rv.into());
            o
        };
        let versions = || -> Vec<Option<String>> {
            index
                .owned_by("cert")
                .iter()
                .map(|o| o.metadata.resource_version.clone())
                .collect()
        };
        // The watch brought the signed request before the creator filed its copy.
        index.apply(&Event::Apply(version("2")));
        index.file_if_absent(version("1"));
        assert_eq!(versions(), vec![Some("2".to_string())]);
        // Filed first, then the watch's versions replace it.
        index.forget("ns", "req");
        index.file_if_absent(version("1"));
        assert_eq!(versions(), vec![Some("1".to_string())]);
        index.apply(&Event::Apply(version("2")));
        assert_eq!(versions(), vec![Some("2".to_string())]);
    }

    #[test]
    fn objects_are_found_by_owner_and_follow_changes() {
        objects_follow_changes(OwnerIndex::<ConfigMap>::default());
    }

    #[test]
    fn a_packed_index_follows_changes_as_a_decoded_one_does() {
        objects_follow_changes(OwnerIndex::<ConfigMap>::packed(|_| {}, config_maps()));
    }

    #[test]
    fn a_packed_index_reads_back_what_it_filed_trimmed() {
        let idx = OwnerIndex::<ConfigMap>::packed(|c| c.binary_data = None, config_maps());
        let mut cm = owned("a", "u1");
        cm.metadata.annotations = Some([("k".to_string(), "v".to_string())].into());
        cm.metadata.resource_version = Some("7".into());
        cm.data = Some([("tls.crt".to_string(), "x".repeat(100))].into());
        cm.binary_data =
            Some([("blob".to_string(), k8s_openapi::ByteString(vec![1, 2, 3]))].into());
        idx.apply(&Event::Apply(cm.clone()));
        let read = idx.owned_by("u1");
        let mut expected = cm;
        expected.binary_data = None;
        assert_eq!(read.len(), 1);
        assert_eq!(*read[0], expected);
        assert_eq!(idx.all().len(), 1);
        // Held packed: nothing decoded is kept between reads.
        let inner = idx.inner.read().unwrap();
        assert!(matches!(inner.objects["ns/a"].held, Held::Packed(_)));
    }

    /// Packs ConfigMaps with a `data` key renamed while packed (the fold undone).
    fn config_maps() -> Packing<ConfigMap> {
        fn rename(c: &mut ConfigMap, from: &str, to: &str) {
            if let Some(v) = c.data.as_mut().and_then(|d| d.remove(from)) {
                c.data.get_or_insert_default().insert(to.to_string(), v);
            }
        }
        Packing::new(
            &owned("typical", "u0"),
            |c| rename(c, "tls.crt", "folded"),
            |c| rename(c, "folded", "tls.crt"),
        )
    }

    fn objects_follow_changes(idx: OwnerIndex<ConfigMap>) {
        idx.apply(&Event::Apply(owned("a", "u1")));
        idx.apply(&Event::Apply(owned("b", "u1")));
        idx.apply(&Event::Apply(owned("c", "u2")));
        assert_eq!(idx.owned_by("u1").len(), 2);
        idx.apply(&Event::Apply(owned("b", "u2")));
        assert_eq!(idx.owned_by("u1").len(), 1);
        assert_eq!(idx.owned_by("u2").len(), 2);
        idx.apply(&Event::Delete(owned("c", "u2")));
        assert_eq!(idx.owned_by("u2").len(), 1);
        idx.apply(&Event::Init);
        idx.apply(&Event::InitApply(owned("z", "u9")));
        idx.apply(&Event::InitDone);
        assert!(idx.owned_by("u1").is_empty());
        assert_eq!(idx.owned_by("u9").len(), 1);
    }
}
