//! Differential fidelity suite: the same requests go to a fresh sandbox and to the real
//! API server named by `CERTGATE_TEST_KUBECONFIG`, and the answers are compared after
//! normalising what legitimately differs (uids, resourceVersions, timestamps, the
//! managedFields times, generated names, the cluster's CA): status code, Status
//! `reason`, `details.causes`, messages where they should match, the object as stored
//! (a GET after each write) and watch event sequences.
//!
//! ```sh
//! CERTGATE_TEST_KUBECONFIG=/path/to/kubeconfig cargo test -p certgate-sandbox --test differential
//! ```
//!
//! Without `CERTGATE_TEST_KUBECONFIG` every test says it is skipped and passes. Every
//! difference found is printed (all of a test's, not only the first) as JSON paths
//! with the sandbox's and the real server's values. Differences the sandbox keeps on
//! purpose are listed in `sandbox/README.md` ("Known differences from
//! kube-apiserver") and skipped here with a reference to their entry.
//!
//! On the real server each test works in a namespace of its own (`diff-<random>`) and
//! a CRD group of its own (`d<random>.diff.certgate.test`), and removes both at the
//! end, also when it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![recursion_limit = "256"]

use certgate_sandbox::{Sandbox, SandboxOptions, client_from_kubeconfig};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Map, Value, json};
use std::time::Duration;

const KUBECONFIG_ENV: &str = "CERTGATE_TEST_KUBECONFIG";
const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";
const CRD_PATH: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// An answer: HTTP status and JSON body (`null` when the body is not JSON).
#[derive(Debug, Clone)]
struct Resp {
    code: u16,
    body: Value,
}

/// What of two answers must be equal.
#[derive(Debug, Clone, Copy)]
enum Cmp {
    /// Code and the whole normalised body.
    Object,
    /// Code, and of a Status: reason, details (kind, name, group) and causes with
    /// their messages, and the message.
    Status,
    /// As `Status` without any message (reason and causes' type and field only).
    StatusNoMessages,
    /// The code only.
    Code,
}

/// A fresh sandbox and the real server, with a namespace of the same name on both.
struct Pair {
    test: &'static str,
    suffix: String,
    ns: String,
    sandbox: kube::Client,
    real: kube::Client,
    _sandbox_server: Sandbox,
    kubeconfig: String,
    /// The differences found so far.
    diffs: Vec<String>,
    /// Real-server paths to DELETE when the test ends (last first).
    cleanup: Vec<String>,
    /// Real-server paths whose finalizers are removed before the cleanup.
    unfinalize: Vec<String>,
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

async fn send(client: &kube::Client, method: &str, path: &str, ct: &str, body: &Value) -> Resp {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", ct)
        .header("Accept", JSON)
        .body(if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        })
        .unwrap();
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    Resp {
        code,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

impl Pair {
    /// Both servers and the test's namespace, or `None` (after saying so) without a
    /// real server to compare with.
    async fn start(test: &'static str) -> Option<Pair> {
        let path = match std::env::var(KUBECONFIG_ENV) {
            Ok(p) if !p.is_empty() => p,
            _ => {
                eprintln!(
                    "differential::{test}: skipped: {KUBECONFIG_ENV} is not set, and this suite \
                     compares the sandbox with a real kube-apiserver (start one with \
                     /work/shared/kube/start.sh DIR and set {KUBECONFIG_ENV} from DIR/env)"
                );
                return None;
            }
        };
        let kubeconfig = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let real = client_from_kubeconfig(&kubeconfig).await.unwrap();
        let sandbox_server = Sandbox::start(SandboxOptions::default()).await.unwrap();
        let sandbox = sandbox_server.client().await.unwrap();
        let suffix = random_suffix();
        let ns = format!("diff-{suffix}");
        let mut pair = Pair {
            test,
            suffix,
            ns: ns.clone(),
            sandbox,
            real,
            _sandbox_server: sandbox_server,
            kubeconfig,
            diffs: Vec::new(),
            cleanup: Vec::new(),
            unfinalize: Vec::new(),
        };
        pair.cleanup.push(format!("/api/v1/namespaces/{ns}"));
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        pair.req(
            "create the test's namespace",
            "POST",
            "/api/v1/namespaces",
            JSON,
            body,
            Cmp::Object,
        )
        .await;
        Some(pair)
    }

    /// `/api/v1/namespaces/<ns>/<resource>` of the test's namespace.
    fn core(&self, resource: &str) -> String {
        format!("/api/v1/namespaces/{}/{resource}", self.ns)
    }

    /// The same request to both servers.
    async fn both(&self, method: &str, path: &str, ct: &str, body: &Value) -> (Resp, Resp) {
        let s = send(&self.sandbox, method, path, ct, body).await;
        let r = send(&self.real, method, path, ct, body).await;
        (s, r)
    }

    /// The same request to both servers, compared.
    async fn req(
        &mut self,
        label: &str,
        method: &str,
        path: &str,
        ct: &str,
        body: Value,
        cmp: Cmp,
    ) -> (Resp, Resp) {
        let answers = self.both(method, path, ct, &body).await;
        self.check(&format!("{label} ({method} {path})"), &answers, cmp);
        answers
    }

    /// The stored object on both servers (GET), compared.
    async fn stored(&mut self, label: &str, path: &str) -> (Resp, Resp) {
        self.req(
            &format!("{label}: as stored"),
            "GET",
            path,
            JSON,
            Value::Null,
            Cmp::Object,
        )
        .await
    }

    /// Compares two answers; a difference is recorded with a readable diff.
    fn check(&mut self, label: &str, (s, r): &(Resp, Resp), cmp: Cmp) {
        let project = |resp: &Resp| -> Value {
            match cmp {
                Cmp::Code => json!({"code": resp.code}),
                Cmp::Object => json!({"code": resp.code, "body": normalize(&resp.body)}),
                Cmp::Status | Cmp::StatusNoMessages => {
                    let messages = matches!(cmp, Cmp::Status);
                    let b = &resp.body;
                    if b["kind"] != "Status" {
                        return json!({"code": resp.code, "body": normalize(b)});
                    }
                    let mut causes: Vec<Value> = b["details"]["causes"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| {
                            let mut c = c;
                            if !messages && let Some(m) = c.as_object_mut() {
                                m.remove("message");
                            }
                            c
                        })
                        .collect();
                    if !messages {
                        // Without messages the order of causes is not compared either
                        // (sandbox/README.md, "Order of validation errors").
                        causes.sort_by_key(|c| c.to_string());
                    }
                    let mut v = json!({
                        "code": resp.code,
                        "status": b["status"],
                        "reason": b["reason"],
                        "details": {
                            "kind": b["details"]["kind"],
                            "name": b["details"]["name"],
                            "group": b["details"]["group"],
                            "causes": causes,
                        },
                    });
                    if messages {
                        v["message"] = b["message"].clone();
                    }
                    v
                }
            }
        };
        self.same(label, &project(s), &project(r));
    }

    /// Compares two values; a difference is recorded with a readable diff.
    fn same(&mut self, label: &str, s: &Value, r: &Value) {
        if s == r {
            return;
        }
        let mut lines = Vec::new();
        diff_values("", s, r, &mut lines);
        let mut report = format!(
            "── {label}\n{}\n   sandbox: {}\n   real:    {}",
            lines.join("\n"),
            short(s),
            short(r)
        );
        report.push('\n');
        eprintln!("differential::{}: DIFFERENCE {report}", self.test);
        self.diffs.push(report);
    }

    /// A comparison left out on purpose: a known difference in `sandbox/README.md`.
    fn known(&self, label: &str, readme_entry: &str) {
        eprintln!(
            "differential::{}: not compared: {label}: see sandbox/README.md, \
             \"Known differences from kube-apiserver\", {readme_entry}",
            self.test
        );
    }

    /// Polls `path` on both servers until each answers `code` (or `timeout` passes);
    /// the last answers.
    async fn wait_both(&self, path: &str, code: u16, timeout: Duration) -> (Resp, Resp) {
        let (s, r) = tokio::join!(
            wait_for(&self.sandbox, path, code, timeout),
            wait_for(&self.real, path, code, timeout)
        );
        (s, r)
    }

    /// Fails the test with every difference found.
    fn finish(self) {
        if !self.diffs.is_empty() {
            panic!(
                "differential::{}: {} difference(s) between the sandbox and kube-apiserver:\n{}",
                self.test,
                self.diffs.len(),
                self.diffs.join("\n")
            );
        }
    }

    /// Installs a CRD on both servers (compared) and waits until it is Established.
    async fn install_crd(&mut self, crd: Value) {
        let name = crd["metadata"]["name"].as_str().unwrap().to_string();
        self.cleanup.insert(0, format!("{CRD_PATH}/{name}"));
        let (s, r) = self
            .req("create a CRD", "POST", CRD_PATH, JSON, crd, Cmp::Code)
            .await;
        assert_eq!((s.code, r.code), (201, 201), "{s:?}\n{r:?}");
        let path = format!("{CRD_PATH}/{name}");
        let (s, r) = tokio::join!(
            wait_established(&self.sandbox, &path),
            wait_established(&self.real, &path)
        );
        // The CRD as stored, once established: spec and the status that matters.
        let view = |crd: &Value| {
            let mut conditions: Vec<Value> = crd["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|c| json!({"type": c["type"], "status": c["status"], "reason": c["reason"]}))
                .collect();
            conditions.sort_by_key(|c| c["type"].to_string());
            json!({
                "metadata": {"name": crd["metadata"]["name"], "generation": crd["metadata"]["generation"]},
                "spec": crd["spec"],
                "status": {
                    "acceptedNames": crd["status"]["acceptedNames"],
                    "storedVersions": crd["status"]["storedVersions"],
                    "conditions": conditions,
                },
            })
        };
        self.same(
            &format!("CRD {name} as stored once established"),
            &view(&s),
            &view(&r),
        );
        // Discovery and the REST mapping on the real server can lag a moment behind
        // the condition.
        let list = format!(
            "/apis/{}/{}/{}",
            s["spec"]["group"].as_str().unwrap(),
            s["spec"]["versions"][0]["name"].as_str().unwrap(),
            s["spec"]["names"]["plural"].as_str().unwrap()
        );
        wait_both_ok(self, &list).await;
    }
}

impl Drop for Pair {
    /// Removes what the test made on the real server, also when it failed: finalizers
    /// first, then the namespace and CRDs. A fresh runtime on a thread of its own: the
    /// test's runtime may be unwinding.
    fn drop(&mut self) {
        let yaml = self.kubeconfig.clone();
        let unfinalize = std::mem::take(&mut self.unfinalize);
        let cleanup = std::mem::take(&mut self.cleanup);
        certgate_sandbox::harness::with_fresh_client(yaml, async move |client| {
            for path in unfinalize {
                let _ = send(
                    &client,
                    "PATCH",
                    &path,
                    MERGE,
                    &json!({"metadata": {"finalizers": null}}),
                )
                .await;
            }
            for path in cleanup {
                let _ = send(&client, "DELETE", &path, JSON, &Value::Null).await;
            }
        });
    }
}

async fn wait_for(client: &kube::Client, path: &str, code: u16, timeout: Duration) -> Resp {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let resp = send(client, "GET", path, JSON, &Value::Null).await;
        if resp.code == code || tokio::time::Instant::now() >= deadline {
            return resp;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_both_ok(pair: &Pair, path: &str) {
    let (s, r) = pair.wait_both(path, 200, Duration::from_secs(20)).await;
    assert_eq!((s.code, r.code), (200, 200), "{path}: {s:?}\n{r:?}");
}

async fn wait_established(client: &kube::Client, path: &str) -> Value {
    for _ in 0..200 {
        let resp = send(client, "GET", path, JSON, &Value::Null).await;
        let established = resp.body["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            });
        if established {
            return resp.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never became Established");
}

/// Replaces what legitimately differs between two servers by placeholders.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                let placeholder = match k.as_str() {
                    "uid" => Some("<uid>"),
                    "resourceVersion" => Some("<resourceVersion>"),
                    "creationTimestamp" | "deletionTimestamp" => Some("<timestamp>"),
                    _ => None,
                };
                match (placeholder, val) {
                    (_, Value::Null) => {
                        out.insert(k.clone(), Value::Null);
                    }
                    (Some(p), _) => {
                        out.insert(k.clone(), json!(p));
                    }
                    (None, _) if k == "selfLink" => {}
                    (None, Value::Array(entries)) if k == "managedFields" => {
                        // Order and times are not compared: sandbox/README.md,
                        // "managedFields order and times".
                        let mut entries: Vec<Value> = entries
                            .iter()
                            .map(|e| {
                                let mut e = normalize(e);
                                if let Some(m) = e.as_object_mut() {
                                    m.insert("time".into(), json!("<time>"));
                                }
                                e
                            })
                            .collect();
                        entries.sort_by_key(|e| {
                            format!("{}/{}/{}", e["manager"], e["operation"], e["subresource"])
                        });
                        out.insert(k.clone(), Value::Array(entries));
                    }
                    // Managed-fields keys of ownerReferences name the owner's uid.
                    (None, _) if k.starts_with("k:{\"uid\":") => {
                        out.insert("k:{\"uid\":\"<uid>\"}".into(), normalize(val));
                    }
                    (None, _) => {
                        out.insert(k.clone(), normalize(val));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Every JSON path where `s` (sandbox) and `r` (real) differ.
fn diff_values(path: &str, s: &Value, r: &Value, out: &mut Vec<String>) {
    match (s, r) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_values(&p, x, y, out),
                    (Some(x), None) => out.push(format!("   {p}: only the sandbox has {x}")),
                    (None, Some(y)) => out.push(format!("   {p}: only the real server has {y}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_values(&format!("{path}/{i}"), x, y, out);
            }
        }
        _ if s != r => out.push(format!(
            "   {}: sandbox {} ≠ real {}",
            if path.is_empty() { "/" } else { path },
            s,
            r
        )),
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 1500 {
        format!("{}…", &s[..s.floor_char_boundary(1500)])
    } else {
        s
    }
}

/// The test CRD: every format certgate's CRDs use, CEL rules, a status subresource.
fn diff_crd(group: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("diffs.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Diff", "listKind": "DiffList", "plural": "diffs", "singular": "diff"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "x-kubernetes-validations": [
                                {"rule": "!(has(self.a) && has(self.b))", "message": "a and b are mutually exclusive"}
                            ],
                            "properties": {
                                "a": {"type": "string"},
                                "b": {"type": "string"},
                                "owner": {"type": "string"},
                                "size": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 10},
                                "color": {"type": "string", "default": "blue"},
                                "ca": {"type": "string", "format": "byte"},
                                "notAfter": {"type": "string", "format": "date-time"},
                                "port": {"x-kubernetes-int-or-string": true},
                                "limits": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}},
                                "timeout": {"type": "string", "format": "duration"},
                                "renewBefore": {"type": "string", "maxLength": 32, "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"},
                                "ipAddresses": {
                                    "type": "array", "maxItems": 100,
                                    "items": {"type": "string", "maxLength": 64,
                                        "x-kubernetes-validations": [{"rule": "isIP(self)", "message": "must be an IP address"}]}
                                }
                            }
                        },
                        "status": {
                            "type": "object",
                            "properties": {
                                "ca": {"type": "string", "format": "byte"},
                                "notAfter": {"type": "string", "format": "date-time"},
                                "observedGeneration": {"type": "integer", "format": "int64"},
                                "conditions": {
                                    "type": "array", "maxItems": 10,
                                    "x-kubernetes-list-type": "map",
                                    "x-kubernetes-list-map-keys": ["type"],
                                    "items": {
                                        "type": "object", "required": ["type", "status"],
                                        "properties": {
                                            "type": {"type": "string"},
                                            "status": {"type": "string"},
                                            "message": {"type": "string"},
                                            "lastTransitionTime": {"type": "string", "format": "date-time"}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }}
            }]
        }
    })
}

/// A CRD whose CEL rule is too expensive: `isIP` over the items of a list without
/// `maxItems` (strings without `maxLength`).
fn costly_crd(group: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("costlies.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Costly", "listKind": "CostlyList", "plural": "costlies", "singular": "costly"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {"type": "object", "properties": {
                        "ipAddresses": {"type": "array", "items": {"type": "string",
                            "x-kubernetes-validations": [{"rule": "isIP(self)", "message": "must be an IP address"}]}}
                    }}}
                }}
            }]
        }
    })
}

/// A `Diff` manifest.
fn diff(group: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": format!("{group}/v1"), "kind": "Diff", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn crd_creation_and_cel_cost_refusal() {
    let Some(mut pair) = Pair::start("crd_creation_and_cel_cost_refusal").await else {
        return;
    };
    let group = format!("d{}.diff.certgate.test", pair.suffix);
    pair.install_crd(diff_crd(&group)).await;
    let name = format!("diffs.{group}");
    pair.req(
        "a CRD that exists already",
        "POST",
        CRD_PATH,
        JSON,
        diff_crd(&group),
        Cmp::Status,
    )
    .await;
    pair.req(
        "label a CRD (merge patch)",
        "PATCH",
        &format!("{CRD_PATH}/{name}"),
        MERGE,
        json!({"metadata": {"labels": {"diff": "yes"}}}),
        Cmp::Code,
    )
    .await;
    // Refused for CEL cost. Depends on sandbox/src/validation/cel_cost.rs (the
    // estimated-cost check another change adds): until that is in place this
    // comparison shows a difference (sandbox 201, real 422).
    pair.cleanup
        .insert(0, format!("{CRD_PATH}/costlies.{group}"));
    pair.req(
        "CEL COST: a CRD with isIP over an unbounded list (needs validation/cel_cost.rs)",
        "POST",
        CRD_PATH,
        JSON,
        costly_crd(&group),
        Cmp::Status,
    )
    .await;
    pair.req(
        "CEL COST: the refused CRD is not stored",
        "GET",
        &format!("{CRD_PATH}/costlies.{group}"),
        JSON,
        Value::Null,
        Cmp::Status,
    )
    .await;
    pair.req(
        "delete a CRD",
        "DELETE",
        &format!("{CRD_PATH}/{name}"),
        JSON,
        Value::Null,
        Cmp::Code,
    )
    .await;
    let gone = pair
        .wait_both(&format!("{CRD_PATH}/{name}"), 404, Duration::from_secs(20))
        .await;
    pair.check("a deleted CRD is gone", &gone, Cmp::Status);
    pair.finish();
}

#[tokio::test]
async fn custom_resource_formats_and_status() {
    let Some(mut pair) = Pair::start("custom_resource_formats_and_status").await else {
        return;
    };
    let group = format!("d{}.diff.certgate.test", pair.suffix);
    pair.install_crd(diff_crd(&group)).await;
    let base = format!("/apis/{group}/v1/namespaces/{}/diffs", pair.ns);
    let ok_spec = json!({
        "owner": "alice", "size": 3, "unknown": 1,
        "ca": "LS0tLS1CRUdJTg==", "notAfter": "2030-01-02T03:04:05Z",
        "port": 443, "limits": {"cpu": "100m", "memory": 128},
        "timeout": "1h30m", "renewBefore": "360h",
        "ipAddresses": ["10.0.0.1", "::1"]
    });
    pair.req(
        "create with every format (pruned, defaulted)",
        "POST",
        &base,
        JSON,
        diff(&group, "ok", ok_spec),
        Cmp::Object,
    )
    .await;
    pair.stored("create with every format", &format!("{base}/ok"))
        .await;
    pair.req(
        "int-or-string as a string",
        "POST",
        &base,
        JSON,
        diff(&group, "port-name", json!({"port": "https"})),
        Cmp::Object,
    )
    .await;
    let invalid = [
        ("byte: the empty string", json!({"ca": ""})),
        ("byte: not base64", json!({"ca": "not base64!"})),
        ("date-time: not a time", json!({"notAfter": "yesterday"})),
        (
            "date-time: no zone",
            json!({"notAfter": "2030-01-02T03:04:05"}),
        ),
        ("int-or-string: a boolean", json!({"port": true})),
        (
            "int-or-string map values: an object",
            json!({"limits": {"cpu": {"n": 1}}}),
        ),
        ("byte: padding missing", json!({"ca": "YQ"})),
        ("duration: a number without unit", json!({"timeout": "90"})),
        ("duration: not a duration", json!({"timeout": "soon"})),
        (
            "pattern: not a Go duration",
            json!({"renewBefore": "1 day"}),
        ),
        ("maximum", json!({"size": 11})),
        (
            "CEL rule on list items",
            json!({"ipAddresses": ["10.0.0.1", "nope"]}),
        ),
        ("CEL rule on the object", json!({"a": "x", "b": "y"})),
    ];
    for (i, (what, spec)) in invalid.into_iter().enumerate() {
        let name = format!("bad-{i}");
        pair.req(
            &format!("refused: {what}"),
            "POST",
            &base,
            JSON,
            diff(&group, &name, spec),
            Cmp::Status,
        )
        .await;
    }
    pair.req(
        "refused: two errors at once",
        "POST",
        &base,
        JSON,
        diff(&group, "bad-two", json!({"ca": "", "size": -1})),
        Cmp::StatusNoMessages,
    )
    .await;
    pair.known(
        "the order of two schema errors (and so the message listing them)",
        "\"Order of validation errors\"",
    );
    // A custom resource held by a finalizer.
    let held = format!("{base}/held");
    pair.unfinalize.push(held.clone());
    let mut with_finalizer = diff(&group, "held", json!({"owner": "a"}));
    with_finalizer["metadata"]["finalizers"] = json!(["example.com/hold"]);
    pair.req(
        "create with a finalizer",
        "POST",
        &base,
        JSON,
        with_finalizer,
        Cmp::Object,
    )
    .await;
    pair.req(
        "delete held by a finalizer",
        "DELETE",
        &held,
        JSON,
        Value::Null,
        Cmp::Object,
    )
    .await;
    pair.req(
        "no new finalizers while deleting",
        "PATCH",
        &held,
        MERGE,
        json!({"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "remove the last finalizer",
        "PATCH",
        &held,
        MERGE,
        json!({"metadata": {"finalizers": null}}),
        Cmp::Object,
    )
    .await;
    pair.req(
        "gone with its last finalizer",
        "GET",
        &held,
        JSON,
        Value::Null,
        Cmp::Status,
    )
    .await;
    pair.req(
        "loose duration units (`3 days`) are a duration",
        "POST",
        &base,
        JSON,
        diff(&group, "days", json!({"timeout": "3 days"})),
        Cmp::Object,
    )
    .await;
    let mut kindless = diff(&group, "kindless", json!({}));
    kindless.as_object_mut().unwrap().remove("kind");
    pair.req(
        "a custom resource without kind",
        "POST",
        &base,
        JSON,
        kindless,
        Cmp::StatusNoMessages,
    )
    .await;
    // Status: written through /status only.
    let status = json!({"status": {
        "ca": "LS0tLS1CRUdJTg==", "notAfter": "2030-01-02T03:04:05Z", "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2030-01-01T00:00:00Z", "message": "ok"}]
    }});
    pair.req(
        "status merge patch through /status",
        "PATCH",
        &format!("{base}/ok/status"),
        MERGE,
        status,
        Cmp::Object,
    )
    .await;
    pair.stored("status through /status", &format!("{base}/ok"))
        .await;
    pair.req(
        "status on the main resource is ignored",
        "PATCH",
        &format!("{base}/ok"),
        MERGE,
        json!({"status": {"observedGeneration": 7}}),
        Cmp::Object,
    )
    .await;
    pair.req(
        "status with ca: \"\" (format byte) is refused",
        "PATCH",
        &format!("{base}/ok/status"),
        MERGE,
        json!({"status": {"ca": ""}}),
        Cmp::StatusNoMessages,
    )
    .await;
    pair.req(
        "status with a bad date-time is refused",
        "PATCH",
        &format!("{base}/ok/status"),
        MERGE,
        json!({"status": {"notAfter": "tomorrow"}}),
        Cmp::StatusNoMessages,
    )
    .await;
    pair.known(
        "the messages of validation errors on /status (field paths and reasons are compared)",
        "\"Messages of /status validation errors\"",
    );
    pair.stored("after refused status writes", &format!("{base}/ok"))
        .await;
    // A spec change bumps the generation; a stale update is a conflict.
    pair.req(
        "spec merge patch",
        "PATCH",
        &format!("{base}/ok"),
        MERGE,
        json!({"spec": {"size": 4}}),
        Cmp::Object,
    )
    .await;
    let stale = json!({
        "apiVersion": format!("{group}/v1"), "kind": "Diff",
        "metadata": {"name": "ok", "resourceVersion": "1"},
        "spec": {"owner": "bob"}
    });
    pair.req(
        "update with a stale resourceVersion",
        "PUT",
        &format!("{base}/ok"),
        JSON,
        stale,
        Cmp::Status,
    )
    .await;
    pair.finish();
}

#[tokio::test]
async fn server_side_apply() {
    let Some(mut pair) = Pair::start("server_side_apply").await else {
        return;
    };
    let group = format!("d{}.diff.certgate.test", pair.suffix);
    pair.install_crd(diff_crd(&group)).await;
    let base = format!("/apis/{group}/v1/namespaces/{}/diffs", pair.ns);
    let obj = format!("{base}/applied");
    let cfg = |spec: Value| diff(&group, "applied", spec);
    pair.req(
        "apply creates (mgr-a)",
        "PATCH",
        &format!("{obj}?fieldManager=mgr-a"),
        APPLY,
        cfg(json!({"owner": "o", "size": 3})),
        Cmp::Object,
    )
    .await;
    pair.req(
        "apply of another manager: a conflict",
        "PATCH",
        &format!("{obj}?fieldManager=mgr-b"),
        APPLY,
        cfg(json!({"owner": "o", "size": 4})),
        Cmp::Status,
    )
    .await;
    pair.req(
        "apply of two conflicting fields",
        "PATCH",
        &format!("{obj}?fieldManager=mgr-b"),
        APPLY,
        cfg(json!({"owner": "p", "size": 4})),
        Cmp::Status,
    )
    .await;
    pair.req(
        "apply of the same values: no conflict (shared ownership)",
        "PATCH",
        &format!("{obj}?fieldManager=mgr-c"),
        APPLY,
        cfg(json!({"owner": "o"})),
        Cmp::Object,
    )
    .await;
    pair.req(
        "forced apply takes the field",
        "PATCH",
        &format!("{obj}?fieldManager=mgr-b&force=true"),
        APPLY,
        cfg(json!({"owner": "o", "size": 4})),
        Cmp::Object,
    )
    .await;
    pair.stored("after a forced apply", &obj).await;
    pair.req(
        "a manager stops applying a field it alone owns: removed",
        "PATCH",
        &format!("{obj}?fieldManager=mgr-b&force=true"),
        APPLY,
        cfg(json!({"owner": "o"})),
        Cmp::Object,
    )
    .await;
    pair.req(
        "apply to /status",
        "PATCH",
        &format!("{obj}/status?fieldManager=mgr-status"),
        APPLY,
        json!({"apiVersion": format!("{group}/v1"), "kind": "Diff", "metadata": {"name": "applied"},
               "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "False"}]}}),
        Cmp::Object,
    )
    .await;
    pair.req(
        "apply to /status of another manager: a conflict",
        "PATCH",
        &format!("{obj}/status?fieldManager=mgr-other"),
        APPLY,
        json!({"apiVersion": format!("{group}/v1"), "kind": "Diff", "metadata": {"name": "applied"},
               "status": {"observedGeneration": 3}}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "apply to /status with an invalid byte field",
        "PATCH",
        &format!("{obj}/status?fieldManager=mgr-status&force=true"),
        APPLY,
        json!({"apiVersion": format!("{group}/v1"), "kind": "Diff", "metadata": {"name": "applied"},
               "status": {"ca": ""}}),
        Cmp::StatusNoMessages,
    )
    .await;
    pair.known(
        "the message of a validation error on /status",
        "\"Messages of /status validation errors\"",
    );
    pair.stored("after applies to /status", &obj).await;
    pair.req(
        "apply without a field manager",
        "PATCH",
        &obj,
        APPLY,
        cfg(json!({"owner": "o"})),
        Cmp::Status,
    )
    .await;
    // certgate applies ConfigMaps and Secrets too.
    let cm = format!("{}/applied", pair.core("configmaps"));
    pair.req(
        "apply a ConfigMap",
        "PATCH",
        &format!("{cm}?fieldManager=mgr-a"),
        APPLY,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied", "labels": {"a": "1"}}, "data": {"k": "v"}}),
        Cmp::Object,
    )
    .await;
    pair.req(
        "apply a ConfigMap: a conflict on data",
        "PATCH",
        &format!("{cm}?fieldManager=mgr-b"),
        APPLY,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"k": "w"}}),
        Cmp::Status,
    )
    .await;
    pair.finish();
}

/// Watch events of both servers as (type, normalised object).
async fn watch_events(
    client: &kube::Client,
    ar: &ApiResource,
    ns: &str,
    selector: &str,
    n: usize,
    start: impl std::future::Future<Output = ()>,
) -> Vec<Value> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
    let list = api
        .list(&kube::api::ListParams::default().labels(selector))
        .await
        .unwrap();
    let rv = list.metadata.resource_version.unwrap_or_default();
    let mut stream = api
        .watch(&WatchParams::default().labels(selector).timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    start.await;
    let mut events = Vec::new();
    while events.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(20), stream.try_next()).await;
        let ev = match next {
            Ok(Ok(Some(ev))) => ev,
            other => {
                events.push(json!({"error": format!("{other:?}")}));
                break;
            }
        };
        let (kind, obj) = match ev {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => {
                events.push(json!({"type": "ERROR", "code": e.code, "reason": e.reason}));
                continue;
            }
        };
        events
            .push(json!({"type": kind, "object": normalize(&serde_json::to_value(obj).unwrap())}));
    }
    events
}

#[tokio::test]
async fn watches_finalizers_and_garbage_collection() {
    let Some(mut pair) = Pair::start("watches_finalizers_and_garbage_collection").await else {
        return;
    };
    let cms = pair.core("configmaps");
    // A watch (label-selected, so only this test's objects) across create, update,
    // a delete held by a finalizer, the finalizer's removal.
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("", "v1", "ConfigMap"),
        "configmaps",
    );
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_s_tx, ready_s_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_r_tx, ready_r_rx) = tokio::sync::oneshot::channel::<()>();
    let (sandbox, real, ns) = (pair.sandbox.clone(), pair.real.clone(), pair.ns.clone());
    let watchers = {
        let ar = ar.clone();
        let ns = ns.clone();
        tokio::spawn(async move {
            let gate = async move {
                let _ = started_rx.await;
            };
            let shared = futures::future::FutureExt::shared(gate);
            let s_gate = {
                let shared = shared.clone();
                async move {
                    let _ = ready_s_tx.send(());
                    shared.await
                }
            };
            let r_gate = async move {
                let _ = ready_r_tx.send(());
                shared.await
            };
            tokio::join!(
                watch_events(&sandbox, &ar, &ns, "diff=watch", 5, s_gate),
                watch_events(&real, &ar, &ns, "diff=watch", 5, r_gate)
            )
        })
    };
    let _ = ready_s_rx.await;
    let _ = ready_r_rx.await;
    let _ = started_tx.send(());
    let w = format!("{cms}/watched");
    pair.unfinalize.push(w.clone());
    pair.req(
        "create a ConfigMap with a finalizer",
        "POST",
        &cms,
        JSON,
        json!({"metadata": {"name": "watched", "labels": {"diff": "watch"}, "finalizers": ["example.com/hold"]}, "data": {"a": "1"}}),
        Cmp::Object,
    )
    .await;
    pair.req(
        "merge patch data",
        "PATCH",
        &w,
        MERGE,
        json!({"data": {"b": "2"}}),
        Cmp::Object,
    )
    .await;
    pair.req(
        "delete held by a finalizer: the object back, with deletionTimestamp",
        "DELETE",
        &w,
        JSON,
        Value::Null,
        Cmp::Object,
    )
    .await;
    pair.stored("an object held by a finalizer", &w).await;
    pair.req(
        "no new finalizers while deleting",
        "PATCH",
        &w,
        MERGE,
        json!({"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "a second delete while held",
        "DELETE",
        &w,
        JSON,
        Value::Null,
        Cmp::Object,
    )
    .await;
    pair.req(
        "remove the last finalizer",
        "PATCH",
        &w,
        MERGE,
        json!({"metadata": {"finalizers": null}}),
        Cmp::Object,
    )
    .await;
    pair.req(
        "gone with its last finalizer",
        "GET",
        &w,
        JSON,
        Value::Null,
        Cmp::Status,
    )
    .await;
    let (s_events, r_events) = watchers.await.unwrap();
    pair.same(
        "watch events (labelSelector diff=watch) across create, patch, delete with a finalizer, finalizer removal",
        &json!(s_events),
        &json!(r_events),
    );

    // generateName.
    let (s, r) = pair
        .both(
            "POST",
            &cms,
            JSON,
            &json!({"metadata": {"generateName": "gen-"}, "data": {"k": "v"}}),
        )
        .await;
    let generated = |resp: &Resp| {
        let mut b = normalize(&resp.body);
        let name = b["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ok = name.starts_with("gen-") && name.len() == 9;
        b["metadata"]["name"] = json!(if ok { "gen-<5 random>" } else { name.as_str() });
        json!({"code": resp.code, "body": b})
    };
    pair.same("create with generateName", &generated(&s), &generated(&r));

    // Garbage collection: a dependent ConfigMap of an owner deleted in the background.
    let (so, ro) = pair
        .req(
            "create an owner",
            "POST",
            &cms,
            JSON,
            json!({"metadata": {"name": "owner"}}),
            Cmp::Object,
        )
        .await;
    let dep = |owner: &Resp| {
        json!({"metadata": {"name": "dep", "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
            "uid": owner.body["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true
        }]}, "data": {"k": "v"}})
    };
    let answers = (
        send(&pair.sandbox, "POST", &cms, JSON, &dep(&so)).await,
        send(&pair.real, "POST", &cms, JSON, &dep(&ro)).await,
    );
    pair.check("create a dependent", &answers, Cmp::Object);
    pair.req(
        "delete the owner (Background)",
        "DELETE",
        &format!("{cms}/owner"),
        JSON,
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}),
        Cmp::Object,
    )
    .await;
    let gone = pair
        .wait_both(&format!("{cms}/dep"), 404, Duration::from_secs(30))
        .await;
    pair.check("the dependent is garbage collected", &gone, Cmp::Status);
    pair.finish();
}

#[tokio::test]
async fn namespace_deletion() {
    let Some(mut pair) = Pair::start("namespace_deletion").await else {
        return;
    };
    let ns = format!("diff-ns-{}", pair.suffix);
    let ns_path = format!("/api/v1/namespaces/{ns}");
    pair.cleanup.insert(0, ns_path.clone());
    let (s, r) = pair
        .req(
            "create a namespace",
            "POST",
            "/api/v1/namespaces",
            JSON,
            json!({"metadata": {"name": ns, "labels": {"diff": "ns"}}}),
            Cmp::Object,
        )
        .await;
    assert_eq!((s.code, r.code), (201, 201));
    let cms = format!("{ns_path}/configmaps");
    pair.req(
        "a ConfigMap in it",
        "POST",
        &cms,
        JSON,
        json!({"metadata": {"name": "inside"}, "data": {"k": "v"}}),
        Cmp::Object,
    )
    .await;
    // The namespace as it is answered on deletion: Terminating, spec.finalizers.
    pair.req(
        "delete the namespace",
        "DELETE",
        &ns_path,
        JSON,
        Value::Null,
        Cmp::Object,
    )
    .await;
    let (s, r) = pair.both("GET", &ns_path, JSON, &Value::Null).await;
    // The namespace controller writes conditions as it works; compare the phase and
    // what the API server itself sets.
    let view = |resp: &Resp| {
        json!({"code": resp.code, "phase": resp.body["status"]["phase"],
               "spec": resp.body["spec"], "deleting": resp.body["metadata"]["deletionTimestamp"].is_string()})
    };
    pair.same("a namespace being deleted", &view(&s), &view(&r));
    pair.known(
        "the conditions of a namespace being deleted",
        "\"Namespace status conditions\"",
    );
    pair.req(
        "create inside a namespace being deleted",
        "POST",
        &cms,
        JSON,
        json!({"metadata": {"name": "late"}}),
        Cmp::Status,
    )
    .await;
    let gone = pair.wait_both(&ns_path, 404, Duration::from_secs(60)).await;
    pair.check("the namespace is gone once empty", &gone, Cmp::Status);
    pair.req(
        "create in a namespace that is gone",
        "POST",
        &cms,
        JSON,
        json!({"metadata": {"name": "later"}}),
        Cmp::Status,
    )
    .await;
    pair.finish();
}

#[tokio::test]
async fn kube_root_ca_is_published() {
    let Some(mut pair) = Pair::start("kube_root_ca_is_published").await else {
        return;
    };
    let path = format!("{}/kube-root-ca.crt", pair.core("configmaps"));
    let answers = pair.wait_both(&path, 200, Duration::from_secs(20)).await;
    // Each cluster has its own CA: compare that it is one PEM certificate.
    let view = |resp: &Resp| {
        let mut b = normalize(&resp.body);
        if let Some(pem) = b["data"]["ca.crt"].as_str() {
            let one_cert = pem.starts_with("-----BEGIN CERTIFICATE-----\n")
                && pem.trim_end().ends_with("-----END CERTIFICATE-----");
            b["data"]["ca.crt"] = json!(if one_cert { "<PEM certificate>" } else { pem });
        }
        Resp {
            code: resp.code,
            body: b,
        }
    };
    let answers = (view(&answers.0), view(&answers.1));
    pair.check("kube-root-ca.crt in a new namespace", &answers, Cmp::Object);
    // Deleted, it comes back.
    pair.req(
        "delete kube-root-ca.crt",
        "DELETE",
        &path,
        JSON,
        Value::Null,
        Cmp::Code,
    )
    .await;
    let back = pair.wait_both(&path, 200, Duration::from_secs(20)).await;
    pair.check("kube-root-ca.crt is published again", &back, Cmp::Code);
    pair.finish();
}

#[tokio::test]
async fn secrets_events_and_leases() {
    let Some(mut pair) = Pair::start("secrets_events_and_leases").await else {
        return;
    };
    let secrets = pair.core("secrets");
    pair.req(
        "a TLS Secret without tls.key",
        "POST",
        &secrets,
        JSON,
        json!({"metadata": {"name": "t0"}, "type": "kubernetes.io/tls", "stringData": {"tls.crt": "x"}}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "a TLS Secret without either key",
        "POST",
        &secrets,
        JSON,
        json!({"metadata": {"name": "t1"}, "type": "kubernetes.io/tls"}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "a TLS Secret",
        "POST",
        &secrets,
        JSON,
        json!({"metadata": {"name": "t2", "annotations": {"cert-manager.io/certificate-name": "c"}},
               "type": "kubernetes.io/tls",
               "stringData": {"tls.crt": "crt", "tls.key": "key"}, "data": {"ca.crt": "Y2E="}}),
        Cmp::Object,
    )
    .await;
    pair.stored("a TLS Secret", &format!("{secrets}/t2")).await;
    pair.req(
        "a TLS Secret's type is immutable",
        "PATCH",
        &format!("{secrets}/t2"),
        MERGE,
        json!({"type": "Opaque"}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "a TLS Secret losing tls.key",
        "PATCH",
        &format!("{secrets}/t2"),
        MERGE,
        json!({"data": {"tls.key": null}}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "Secret data that is not base64",
        "POST",
        &secrets,
        JSON,
        json!({"metadata": {"name": "t3"}, "data": {"k": "not base64!"}}),
        Cmp::StatusNoMessages,
    )
    .await;

    // Events as certgate's recorder writes them (core/v1), and the repeat patch.
    let events = pair.core("events");
    let event = json!({
        "metadata": {"name": "cert.17a0", "namespace": pair.ns},
        "involvedObject": {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": "cert",
                           "namespace": pair.ns, "uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "resourceVersion": "7"},
        "reason": "Issuing", "message": "Issuing certificate as Secret does not exist", "type": "Normal",
        "count": 1, "firstTimestamp": "2030-01-01T00:00:00Z", "lastTimestamp": "2030-01-01T00:00:00Z",
        "source": {"component": "certgate"},
        "reportingComponent": "certgate", "reportingInstance": "certgate"
    });
    pair.req("create an Event", "POST", &events, JSON, event, Cmp::Object)
        .await;
    pair.req(
        "count a repeated Event",
        "PATCH",
        &format!("{events}/cert.17a0"),
        MERGE,
        json!({"count": 2, "lastTimestamp": "2030-01-01T00:01:00Z"}),
        Cmp::Object,
    )
    .await;
    pair.stored("an Event", &format!("{events}/cert.17a0"))
        .await;
    pair.req(
        "an Event whose involvedObject is in another namespace",
        "POST",
        &events,
        JSON,
        json!({"metadata": {"name": "elsewhere"}, "involvedObject": {"kind": "Certificate", "name": "c", "namespace": "other"},
               "reason": "R", "message": "m", "type": "Normal", "source": {"component": "certgate"}}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "an Event of an unknown type",
        "POST",
        &events,
        JSON,
        json!({"metadata": {"name": "badtype"}, "involvedObject": {"kind": "Certificate", "name": "c", "namespace": pair.ns},
               "reason": "R", "message": "m", "type": "Fatal", "source": {"component": "certgate"}}),
        Cmp::Status,
    )
    .await;

    // Leases as certgate's leader election writes them.
    let leases = format!("/apis/coordination.k8s.io/v1/namespaces/{}/leases", pair.ns);
    let lease = |rv: Option<&Value>, holder: &str, renew: &str| {
        let mut l = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "certgate-leader"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                     "acquireTime": "2030-01-01T00:00:00.000000Z", "renewTime": renew, "leaseTransitions": 0}
        });
        if let Some(rv) = rv {
            l["metadata"]["resourceVersion"] = rv.clone();
        }
        l
    };
    let (s, r) = pair
        .req(
            "create a Lease",
            "POST",
            &leases,
            JSON,
            lease(None, "a", "2030-01-01T00:00:00.000000Z"),
            Cmp::Object,
        )
        .await;
    pair.req(
        "create a Lease that exists",
        "POST",
        &leases,
        JSON,
        lease(None, "b", "2030-01-01T00:00:00.000000Z"),
        Cmp::Status,
    )
    .await;
    let path = format!("{leases}/certgate-leader");
    let renew = |resp: &Resp, renew: &str| {
        lease(Some(&resp.body["metadata"]["resourceVersion"]), "a", renew)
    };
    let answers = (
        send(
            &pair.sandbox,
            "PUT",
            &path,
            JSON,
            &renew(&s, "2030-01-01T00:00:05.000000Z"),
        )
        .await,
        send(
            &pair.real,
            "PUT",
            &path,
            JSON,
            &renew(&r, "2030-01-01T00:00:05.000000Z"),
        )
        .await,
    );
    pair.check("renew a Lease", &answers, Cmp::Object);
    // The first resourceVersion again: stale now.
    let answers = (
        send(
            &pair.sandbox,
            "PUT",
            &path,
            JSON,
            &renew(&s, "2030-01-01T00:00:10.000000Z"),
        )
        .await,
        send(
            &pair.real,
            "PUT",
            &path,
            JSON,
            &renew(&r, "2030-01-01T00:00:10.000000Z"),
        )
        .await,
    );
    pair.check(
        "renew a Lease with a stale resourceVersion",
        &answers,
        Cmp::Status,
    );
    pair.stored("a renewed Lease", &path).await;
    pair.req(
        "a Lease with a negative duration",
        "POST",
        &leases,
        JSON,
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "negative"},
               "spec": {"holderIdentity": "a", "leaseDurationSeconds": -1}}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "a Lease update without resourceVersion",
        "PUT",
        &path,
        JSON,
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "certgate-leader"},
               "spec": {"holderIdentity": "b", "leaseDurationSeconds": 15}}),
        Cmp::Status,
    )
    .await;
    pair.req(
        "release a Lease",
        "DELETE",
        &path,
        JSON,
        Value::Null,
        Cmp::Object,
    )
    .await;
    pair.finish();
}
