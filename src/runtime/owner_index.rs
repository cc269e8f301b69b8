//! An in-memory index of objects by the uid of their controlling owner, kept from a
//! watch stream: the Certificate controller finds a Certificate's CertificateRequests
//! and temporary key Secrets without listing (listing scans every object of the
//! namespace on the API server: quadratic work at thousands of Certificates).

use kube::ResourceExt;
use kube::runtime::watcher::Event;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Default)]
struct Inner<K> {
    /// namespace/name → the object filed (the uids it is filed under are its
    /// owners', computed again from it when it goes).
    objects: HashMap<String, Arc<K>>,
    /// owner uid → the objects filed under it (one or two, mostly: a list).
    by_owner: HashMap<String, Vec<Arc<K>>>,
    /// Objects received during a relist, swapped in when it completes.
    relist: Option<Vec<Arc<K>>>,
}

/// Objects by owner uid.
pub struct OwnerIndex<K> {
    inner: RwLock<Inner<K>>,
    /// Drops what the index's readers do not need, before an object is kept.
    trim: fn(&mut K),
    /// The uids an object is filed under: its ownerReferences' by default.
    owners: fn(&K) -> Vec<String>,
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

impl<K: ResourceExt + Clone> OwnerIndex<K> {
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

    fn lean(&self, o: &K) -> Arc<K> {
        let mut o = o.clone();
        o.meta_mut().managed_fields = None;
        (self.trim)(&mut o);
        Arc::new(o)
    }

    fn remove_locked(&self, inner: &mut Inner<K>, k: &str) {
        let Some(obj) = inner.objects.remove(k) else {
            return;
        };
        for o in (self.owners)(obj.as_ref()) {
            if let Some(filed) = inner.by_owner.get_mut(&o) {
                filed.retain(|f| !Arc::ptr_eq(f, &obj));
                if filed.is_empty() {
                    inner.by_owner.remove(&o);
                }
            }
        }
    }

    fn insert_locked(&self, inner: &mut Inner<K>, obj: Arc<K>) {
        let k = key(obj.as_ref());
        self.remove_locked(inner, &k);
        let owners = (self.owners)(obj.as_ref());
        // An object with no owner is filed nowhere: nothing to keep.
        if owners.is_empty() {
            return;
        }
        for o in owners {
            inner.by_owner.entry(o).or_default().push(obj.clone());
        }
        inner.objects.insert(k, obj);
    }

    /// Applies one watch event.
    pub fn apply(&self, event: &Event<K>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        match event {
            Event::Apply(o) => self.insert_locked(&mut inner, self.lean(o)),
            Event::Delete(o) => self.remove_locked(&mut inner, &key(o)),
            Event::Init => inner.relist = Some(Vec::new()),
            Event::InitApply(o) => {
                // Only what will be filed is held until the listing completes (a
                // namespace of other controllers' Secrets is not copied).
                if (self.owners)(o).is_empty() {
                    return;
                }
                if let Some(r) = inner.relist.as_mut() {
                    r.push(self.lean(o));
                }
            }
            Event::InitDone => {
                let listed = inner.relist.take().unwrap_or_default();
                inner.by_owner.clear();
                inner.objects.clear();
                for o in listed {
                    self.insert_locked(&mut inner, o);
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
                let cached = cache.get(&kube::runtime::reflector::ObjectRef::from_obj(o));
                let obj = cached.unwrap_or_else(|| self.lean(o));
                self.insert_locked(&mut inner, obj);
            }
            Event::Delete(o) => self.remove_locked(&mut inner, &key(o)),
            Event::Init | Event::InitApply(_) => {}
            Event::InitDone => {
                inner.by_owner.clear();
                inner.objects.clear();
                for o in cache.state() {
                    self.insert_locked(&mut inner, o);
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
        let obj = self.lean(&obj);
        self.insert_locked(&mut inner, obj);
    }

    /// Forgets an object this process deleted, before its watch event arrives.
    pub fn forget(&self, namespace: &str, name: &str) {
        if let Ok(mut inner) = self.inner.write() {
            self.remove_locked(&mut inner, &format!("{namespace}/{name}"));
        }
    }

    /// The objects an owner owns.
    pub fn owned_by(&self, owner_uid: &str) -> Vec<Arc<K>> {
        self.inner
            .read()
            .ok()
            .and_then(|i| i.by_owner.get(owner_uid).cloned())
            .unwrap_or_default()
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
        let idx = OwnerIndex::<ConfigMap>::default();
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
