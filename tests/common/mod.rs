//! Helpers shared by the integration tests: fixtures and the checked-in CRDs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod acme_mock;
pub mod bind;
pub mod moto;
pub mod pebble;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses one YAML document into JSON.
pub fn yaml_to_json(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Every `*.yaml` file in a fixtures directory, sorted, with its text.
pub fn fixtures(dir: &str) -> Vec<(PathBuf, String)> {
    let dir = root().join("tests/fixtures").join(dir);
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (p, text)
        })
        .collect();
    out.sort();
    out
}

/// The checked-in CRDs under `crds/`, as JSON.
pub fn checked_in_crds() -> Vec<Value> {
    let dir = root().join("crds");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            yaml_to_json(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", p.display()))
        })
        .collect()
}

/// The `openAPIV3Schema` of the CRD serving `apiVersion` + `kind`.
pub fn schema_for(crds: &[Value], api_version: &str, kind: &str) -> Option<Value> {
    let (group, version) = api_version.split_once('/')?;
    crds.iter()
        .find(|c| c["spec"]["group"] == group && c["spec"]["names"]["kind"] == kind)
        .and_then(|c| {
            c["spec"]["versions"]
                .as_array()?
                .iter()
                .find(|v| v["name"] == version)
                .map(|v| v["schema"]["openAPIV3Schema"].clone())
        })
}

/// The file name, for messages.
pub fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Polls `f` every 50 ms for up to 10 s; panics naming `what` when it never holds.
pub async fn wait_for<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Whether a Certificate's Ready condition is True.
pub fn is_ready(c: &certgate::api::Certificate) -> bool {
    c.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Ready" && c.status == certgate::api::ConditionStatus::True)
        })
}

/// The released Gateway API v1.6.1 standard-channel CRDs certgate reads and writes
/// (GatewayClass, Gateway, HTTPRoute, ListenerSet, ReferenceGrant), exactly as
/// published (copied from `../shared/gateway-api/v1.6.1-standard/`), so the real
/// schemas and CEL rules check what the tests and certgate write.
pub fn gateway_api_crds() -> Vec<Value> {
    let dir = root().join("tests/gateway-api");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            certgate::manifests::parse_documents(&name(p), &text)
                .unwrap_or_else(|e| panic!("parsing {}: {e}", p.display()))
        })
        .collect()
}

/// The controllers' configuration for one test: they watch only the test's namespace
/// (its Secrets are the ClusterIssuers' too) and serve only the ClusterIssuers
/// labelled for it, so tests can share a real API server without acting on each
/// other's objects.
pub fn scoped_config(env: &certgate_sandbox::TestEnv) -> certgate::controller::ControllerConfig {
    certgate::controller::ControllerConfig {
        namespace: Some(env.namespace.clone()),
        cluster_resource_namespace: env.namespace.clone(),
        cluster_issuer_selector: Some(env.scope_selector()),
        ..Default::default()
    }
}

/// A manifest placed in the test's scope: namespaced objects in its namespace,
/// ClusterIssuers labelled for it (see [`scoped_config`]).
pub fn place(env: &certgate_sandbox::TestEnv, mut doc: Value) -> Value {
    if doc["kind"] == "ClusterIssuer" {
        env.scoped(doc)
    } else {
        if doc["metadata"]["namespace"].is_null() {
            doc["metadata"]["namespace"] = Value::String(env.namespace.clone());
        }
        doc
    }
}
