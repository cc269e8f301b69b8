//! The root CA publisher the controller manager runs: a ConfigMap `kube-root-ca.crt`
//! with the cluster's CA (key `ca.crt`) in every namespace, created right after the
//! namespace and created again when it is deleted while the namespace lives.

use serde_json::{Value, json};
use std::sync::{Arc, Weak};
use tokio::sync::broadcast::error::RecvError;

use crate::apiserver::{ApiServer, WriteOptions};
use crate::store::EventType;

/// The ConfigMap's name.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// The manager the real controller manager writes it as.
const MANAGER: &str = "kube-controller-manager";

const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Publishes `ca_pem` into every namespace until the server is dropped.
pub async fn run(server: Weak<ApiServer>, ca_pem: String) {
    let mut changes = {
        let Some(s) = server.upgrade() else { return };
        let changes = s.store.changes();
        publish_everywhere(&s, &ca_pem);
        changes
    };
    loop {
        let change = changes.recv().await;
        let Some(s) = server.upgrade() else { return };
        match change {
            Ok(c) => {
                let namespace_added = c.resource == "/namespaces" && c.event == EventType::Added;
                let removed = c.resource == "/configmaps"
                    && c.event == EventType::Deleted
                    && crate::objects::name(&c.object) == ROOT_CA_CONFIGMAP;
                if namespace_added {
                    publish(&s, crate::objects::name(&c.object), &ca_pem);
                } else if removed {
                    publish(&s, &c.namespace, &ca_pem);
                }
            }
            Err(RecvError::Lagged(_)) => publish_everywhere(&s, &ca_pem),
            Err(RecvError::Closed) => return,
        }
    }
}

fn publish_everywhere(server: &Arc<ApiServer>, ca_pem: &str) {
    let (namespaces, _) = server.store.list("/namespaces", None);
    for ns in namespaces {
        publish(server, crate::objects::name(&ns), ca_pem);
    }
}

/// Creates the ConfigMap in `namespace` unless it is there; a namespace being
/// deleted (or gone) refuses it, as it refuses the real controller.
fn publish(server: &ApiServer, namespace: &str, ca_pem: &str) {
    let Some(served) = server.registry.get("", "v1", "configmaps") else {
        return;
    };
    if namespace.is_empty()
        || server
            .store
            .get(&served.key(), namespace, ROOT_CA_CONFIGMAP)
            .is_some()
    {
        return;
    }
    let cm: Value = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ROOT_CA_CONFIGMAP,
            "annotations": {"kubernetes.io/description": DESCRIPTION},
        },
        "data": {"ca.crt": ca_pem},
    });
    let opts = WriteOptions {
        manager: MANAGER.into(),
        ..Default::default()
    };
    let _ = server.create(&served, Some(namespace), cm, &opts);
}
