//! The controllers a real control plane runs beside the API server and that the
//! sandbox runs in-process: garbage collection by ownerReferences (Background,
//! Foreground, Orphan) and namespace deletion.

use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::apiserver::{ApiServer, DeleteOptions, WriteOptions};
use crate::objects;
use crate::registry::Served;

/// Runs until the server is dropped: a pass after every wake-up, and one every
/// second for anything a pass could not finish.
pub async fn run(server: std::sync::Weak<ApiServer>) {
    loop {
        let Some(s) = server.upgrade() else { return };
        {
            let notified = s.gc_wakeup.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if s.store.take_gc_needed() && collect(&s) {
                // Work left (objects waiting on finalizers, namespaces emptying): go again.
                s.store.mark_gc_needed();
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        drop(s);
        // Let a burst of writes land before the next pass: a pass looks at every
        // object, so it runs at most a few times a second however busy the server is.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn served_for(server: &ApiServer, resource_key: &str) -> Option<Arc<Served>> {
    server.registry.by_storage_key(resource_key)
}

const GC: &str = "generic-garbage-collector";

/// One pass of every collector; true when work is left for a later pass.
pub fn collect(server: &ApiServer) -> bool {
    let all = server.store.all();
    let uids: HashSet<&str> = all.iter().map(|(_, o)| objects::uid(o)).collect();
    let write = WriteOptions {
        manager: GC.into(),
        ..Default::default()
    };

    // Dependents whose owners are all gone, or that wait on an owner being deleted in the foreground.
    let deleting_foreground: HashSet<String> = all
        .iter()
        .filter(|(_, o)| {
            objects::is_deleting(o)
                && objects::finalizers(o)
                    .iter()
                    .any(|f| f == "foregroundDeletion")
        })
        .map(|(_, o)| objects::uid(o).to_string())
        .collect();
    let orphaning: HashSet<String> = all
        .iter()
        .filter(|(_, o)| {
            objects::is_deleting(o) && objects::finalizers(o).iter().any(|f| f == "orphan")
        })
        .map(|(_, o)| objects::uid(o).to_string())
        .collect();

    for (res, obj) in &all {
        let owners = objects::owner_uids(obj);
        if owners.is_empty() {
            continue;
        }
        let Some(served) = served_for(server, res) else {
            continue;
        };
        let ns = objects::namespace(obj).to_string();
        let name = objects::name(obj).to_string();
        if owners.iter().any(|u| orphaning.contains(u)) {
            // Orphan: drop the references to owners being orphan-deleted.
            let kept: Vec<Value> = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter(|r| {
                            !r.get("uid")
                                .and_then(Value::as_str)
                                .is_some_and(|u| orphaning.contains(u))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let patch = if kept.is_empty() {
                json!({"metadata": {"ownerReferences": null}})
            } else {
                json!({"metadata": {"ownerReferences": kept}})
            };
            let _ = server.patch(
                &served,
                &ns,
                &name,
                crate::apiserver::PatchType::Merge,
                &patch,
                None,
                &write,
            );
            continue;
        }
        let all_gone = owners.iter().all(|u| !uids.contains(u.as_str()));
        let owner_in_foreground = owners.iter().any(|u| deleting_foreground.contains(u));
        if (all_gone || owner_in_foreground) && !objects::is_deleting(obj) {
            let policy = if owner_in_foreground {
                "Foreground"
            } else {
                "Background"
            };
            let _ = server.delete(
                &served,
                &ns,
                &name,
                &DeleteOptions {
                    propagation: Some(policy.into()),
                    ..Default::default()
                },
            );
        }
    }

    // Owners waiting for dependents (foregroundDeletion) or for orphaning.
    let remaining = server.store.all();
    let mut dependents_of: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
    for (_, o) in &remaining {
        for u in objects::owner_uids(o) {
            *dependents_of.entry(u).or_default() += 1;
        }
    }
    for (res, obj) in &remaining {
        if !objects::is_deleting(obj) {
            continue;
        }
        let finalizers = objects::finalizers(obj);
        let uid = objects::uid(obj).to_string();
        let waiting = dependents_of.get(&uid).copied().unwrap_or(0) > 0;
        let drop_these: Vec<&str> = finalizers
            .iter()
            .map(String::as_str)
            .filter(|f| (*f == "foregroundDeletion" || *f == "orphan") && !waiting)
            .collect();
        if drop_these.is_empty() {
            continue;
        }
        let Some(served) = served_for(server, res) else {
            continue;
        };
        let kept: Vec<&String> = finalizers
            .iter()
            .filter(|f| !drop_these.contains(&f.as_str()))
            .collect();
        let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": obj.pointer("/metadata/resourceVersion")}});
        let _ = server.patch(
            &served,
            objects::namespace(obj),
            objects::name(obj),
            crate::apiserver::PatchType::Merge,
            &patch,
            None,
            &write,
        );
    }

    collect_namespaces(server, &write);
    // Left for a later pass: owners waiting on their dependents, namespaces emptying.
    server.store.all().iter().any(|(res, o)| {
        objects::is_deleting(o)
            && (res == "/namespaces"
                || objects::finalizers(o)
                    .iter()
                    .any(|f| f == "foregroundDeletion" || f == "orphan"))
    })
}

/// Namespaces being deleted: delete their contents, then the namespace.
fn collect_namespaces(server: &ApiServer, write: &WriteOptions) {
    let Some(ns_served) = server.registry.get("", "v1", "namespaces") else {
        return;
    };
    let (namespaces, _) = server.store.list(&ns_served.key(), None);
    for ns_obj in namespaces.iter().filter(|n| objects::is_deleting(n)) {
        let ns = objects::name(ns_obj).to_string();
        let contents = server.store.namespace_contents(&ns);
        for (res, obj) in &contents {
            if objects::is_deleting(obj) {
                continue;
            }
            if let Some(served) = served_for(server, res) {
                let _ = server.delete(&served, &ns, objects::name(obj), &DeleteOptions::default());
            }
        }
        if server.store.namespace_contents(&ns).is_empty() {
            // Removing the `kubernetes` finalizer (the finalize subresource) ends it.
            let _ = server.store.delete(&ns_served.key(), "", &ns, None);
        }
        let _ = write;
    }
}
