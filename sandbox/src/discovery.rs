//! Discovery documents, as kube-apiserver v1.36 serves them: `/version`, `/api`,
//! `/api/v1`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}` and aggregated
//! discovery v2 (`apidiscovery.k8s.io/v2`) for `/api` and `/apis`.
//!
//! Pure functions over the served [`ResourceInfo`]s; the HTTP layer picks one by path
//! and `Accept` header ([`wants_aggregated`]) and answers `404 page not found` (text)
//! when [`group`] or [`resource_list`] return `None`.

use crate::resources::{PrinterColumn, ResourceInfo};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

/// The `Content-Type` of an aggregated discovery answer.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The `gitVersion` reported by `/version`.
pub const GIT_VERSION: &str = "v1.36.2-certgate-sandbox";

/// Built-in groups in the order kube-apiserver lists them (by group priority).
const BUILTIN_GROUP_ORDER: &[&str] = &[
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "resource.k8s.io",
    "flowcontrol.apiserver.k8s.io",
];

/// `/version`.
pub fn version() -> Value {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    json!({
        "major": "1",
        "minor": "36",
        "emulationMajor": "1",
        "emulationMinor": "36",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "35",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-22T00:00:00Z",
        "goVersion": "go1.27.3",
        "compiler": "gc",
        "platform": format!("{}/{arch}", std::env::consts::OS),
    })
}

/// `/api` (`APIVersions`); `server_address` is `host:port` as clients reach the server.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    })
}

/// `/api/v1` (`APIResourceList`, without `apiVersion`, as kube-apiserver sends it).
pub fn core_resource_list(resources: &[ResourceInfo]) -> Value {
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": legacy_resources(resources, "", "v1"),
    })
}

/// `/apis` (`APIGroupList`).
pub fn group_list(resources: &[ResourceInfo]) -> Value {
    let groups: Vec<Value> = groups(resources)
        .iter()
        .map(|g| group_body(resources, g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}` (`APIGroup`), `None` for an unknown group (or the core group).
pub fn group(resources: &[ResourceInfo], group: &str) -> Option<Value> {
    if group.is_empty() || !resources.iter().any(|r| r.group == group) {
        return None;
    }
    let mut body = group_body(resources, group);
    if let Value::Object(map) = &mut body {
        map.insert("kind".into(), json!("APIGroup"));
        map.insert("apiVersion".into(), json!("v1"));
    }
    Some(body)
}

/// `/apis/{group}/{version}` (`APIResourceList`), `None` when nothing is served there.
pub fn resource_list(resources: &[ResourceInfo], group: &str, version: &str) -> Option<Value> {
    if group.is_empty()
        || !resources
            .iter()
            .any(|r| r.group == group && r.version == version)
    {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{group}/{version}"),
        "resources": legacy_resources(resources, group, version),
    }))
}

/// Aggregated discovery v2 for `/api` (served with [`AGGREGATED_CONTENT_TYPE`]).
pub fn aggregated_core(resources: &[ResourceInfo]) -> Value {
    let mut items = Vec::new();
    if resources.iter().any(|r| r.group.is_empty()) {
        items.push(aggregated_group(resources, ""));
    }
    aggregated_list(items)
}

/// Aggregated discovery v2 for `/apis` (served with [`AGGREGATED_CONTENT_TYPE`]).
pub fn aggregated_groups(resources: &[ResourceInfo]) -> Value {
    let items = groups(resources)
        .iter()
        .map(|g| aggregated_group(resources, g))
        .collect();
    aggregated_list(items)
}

/// Whether a client's `Accept` header asks for aggregated discovery v2 before any plain
/// JSON: true for client-go's and kubectl's
/// `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,...,application/json`.
/// `v2beta1` (no longer served by kube-apiserver) is skipped, like any clause the server
/// cannot produce.
pub fn wants_aggregated(accept_header: &str) -> bool {
    for clause in media_ranges(accept_header) {
        let (ty, sub) = (clause.type_.as_str(), clause.subtype.as_str());
        let json_like = matches!(
            (ty, sub),
            ("application", "json") | ("application", "*") | ("*", "*")
        );
        let param = |k: &str| clause.param(k);
        match param("as") {
            Some("APIGroupDiscoveryList") => {
                if json_like
                    && param("g") == Some("apidiscovery.k8s.io")
                    && param("v") == Some("v2")
                {
                    return true;
                }
            }
            Some(_) => {}
            None => {
                if json_like
                    || matches!(
                        (ty, sub),
                        ("application", "yaml") | ("application", "vnd.kubernetes.protobuf")
                    )
                {
                    return false;
                }
            }
        }
    }
    false
}

/// One media range of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MediaRange {
    pub type_: String,
    pub subtype: String,
    /// Parameters other than `q`, keys lowercased.
    pub params: Vec<(String, String)>,
    pub q: f64,
}

impl MediaRange {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The media ranges of an `Accept` header, best first (by `q`, then as written), without
/// those with `q=0`.
pub(crate) fn media_ranges(accept: &str) -> Vec<MediaRange> {
    let mut out = Vec::new();
    for clause in accept.split(',') {
        let mut parts = clause.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if media.is_empty() {
            continue;
        }
        let (type_, subtype) = match media.split_once('/') {
            Some((t, s)) => (t.trim().to_string(), s.trim().to_string()),
            None if media == "*" => ("*".to_string(), "*".to_string()),
            None => continue,
        };
        let mut params = Vec::new();
        let mut q = 1.0;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().trim_matches('"').to_string();
            if k == "q" {
                q = v.parse().unwrap_or(0.0);
            } else {
                params.push((k, v));
            }
        }
        if q > 0.0 {
            out.push(MediaRange {
                type_,
                subtype,
                params,
                q,
            });
        }
    }
    out.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(Ordering::Equal));
    out
}

fn aggregated_list(items: Vec<Value>) -> Value {
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

fn aggregated_group(resources: &[ResourceInfo], group: &str) -> Value {
    let versions: Vec<Value> = versions_of(resources, group)
        .iter()
        .map(|v| {
            let mut list: Vec<&ResourceInfo> = resources
                .iter()
                .filter(|r| r.group == group && &r.version == v)
                .collect();
            list.sort_by(|a, b| a.plural.cmp(&b.plural));
            let entries: Vec<Value> = list.iter().map(|r| aggregated_resource(r)).collect();
            json!({"version": v, "resources": entries, "freshness": "Current"})
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({})
    } else {
        json!({"name": group})
    };
    json!({"metadata": metadata, "versions": versions})
}

/// Built-ins report an empty group and version in `responseKind`; custom resources
/// report their own.
fn response_kind(info: &ResourceInfo, kind: &str) -> Value {
    if info.custom {
        json!({"group": info.group, "version": info.version, "kind": kind})
    } else {
        json!({"group": "", "version": "", "kind": kind})
    }
}

fn aggregated_resource(info: &ResourceInfo) -> Value {
    let mut m = Map::new();
    m.insert("resource".into(), json!(info.plural));
    m.insert("responseKind".into(), response_kind(info, &info.kind));
    m.insert(
        "scope".into(),
        json!(if info.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }),
    );
    m.insert("singularResource".into(), json!(info.singular));
    m.insert("verbs".into(), json!(info.verbs));
    if !info.short_names.is_empty() {
        m.insert("shortNames".into(), json!(info.short_names));
    }
    if !info.categories.is_empty() {
        m.insert("categories".into(), json!(info.categories));
    }
    let subs: Vec<Value> = subresources(info)
        .into_iter()
        .map(|s| {
            let kind = match s.group_version {
                Some((g, v)) => json!({"group": g, "version": v, "kind": s.kind}),
                None => response_kind(info, &s.kind),
            };
            json!({"subresource": s.name, "responseKind": kind, "verbs": s.verbs})
        })
        .collect();
    if !subs.is_empty() {
        m.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(m)
}

/// A subresource listed in discovery.
struct Subresource {
    name: &'static str,
    kind: String,
    /// Set when the subresource answers with a kind of another group (`TokenRequest`).
    group_version: Option<(&'static str, &'static str)>,
    verbs: Vec<&'static str>,
}

/// The subresources of a resource type, sorted by name: `status` when served, plus the
/// built-in ones the sandbox knows (`serviceaccounts/token`).
fn subresources(info: &ResourceInfo) -> Vec<Subresource> {
    let mut subs = Vec::new();
    if info.status_subresource {
        subs.push(Subresource {
            name: "status",
            kind: info.kind.clone(),
            group_version: None,
            verbs: vec!["get", "patch", "update"],
        });
    }
    if !info.custom && info.group.is_empty() && info.plural == "serviceaccounts" {
        subs.push(Subresource {
            name: "token",
            kind: "TokenRequest".into(),
            group_version: Some(("authentication.k8s.io", "v1")),
            verbs: vec!["create"],
        });
    }
    subs.sort_by(|a, b| a.name.cmp(b.name));
    subs
}

/// The `resources` of a legacy `APIResourceList`: built-ins sorted by name (as
/// kube-apiserver sorts them), custom resources after them in the order given, each
/// followed by its subresources.
fn legacy_resources(resources: &[ResourceInfo], group: &str, version: &str) -> Vec<Value> {
    let mut builtin: Vec<&ResourceInfo> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version && !r.custom)
        .collect();
    builtin.sort_by(|a, b| a.plural.cmp(&b.plural));
    let custom = resources
        .iter()
        .filter(|r| r.group == group && r.version == version && r.custom);
    let mut out = Vec::new();
    for info in builtin.into_iter().chain(custom) {
        let mut m = Map::new();
        m.insert("name".into(), json!(info.plural));
        m.insert("singularName".into(), json!(info.singular));
        m.insert("namespaced".into(), json!(info.namespaced));
        m.insert("kind".into(), json!(info.kind));
        m.insert("verbs".into(), json!(info.verbs));
        if !info.short_names.is_empty() {
            m.insert("shortNames".into(), json!(info.short_names));
        }
        if !info.categories.is_empty() {
            m.insert("categories".into(), json!(info.categories));
        }
        out.push(Value::Object(m));
        for s in subresources(info) {
            let mut m = Map::new();
            m.insert("name".into(), json!(format!("{}/{}", info.plural, s.name)));
            m.insert("singularName".into(), json!(""));
            m.insert("namespaced".into(), json!(info.namespaced));
            if let Some((g, v)) = s.group_version {
                m.insert("group".into(), json!(g));
                m.insert("version".into(), json!(v));
            }
            m.insert("kind".into(), json!(s.kind));
            m.insert("verbs".into(), json!(s.verbs));
            out.push(Value::Object(m));
        }
    }
    out
}

fn group_body(resources: &[ResourceInfo], group: &str) -> Value {
    let versions: Vec<Value> = versions_of(resources, group)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// The named groups served, built-in ones in kube-apiserver's order, then the others by name.
fn groups(resources: &[ResourceInfo]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in resources {
        if !r.group.is_empty() && !names.contains(&r.group) {
            names.push(r.group.clone());
        }
    }
    let rank = |g: &str| {
        BUILTIN_GROUP_ORDER
            .iter()
            .position(|b| *b == g)
            .unwrap_or(usize::MAX)
    };
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    names
}

/// The versions served in a group, preferred first (Kubernetes version priority).
fn versions_of(resources: &[ResourceInfo], group: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for r in resources.iter().filter(|r| r.group == group) {
        if !versions.contains(&r.version) {
            versions.push(r.version.clone());
        }
    }
    versions.sort_by(|a, b| compare_versions(a, b));
    versions
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first, then
/// anything else by name.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (parse_kube_version(a), parse_kube_version(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// `v2` → (3, 2, 0), `v1beta2` → (2, 1, 2), `v1alpha1` → (1, 1, 1); greater is preferred.
fn parse_kube_version(v: &str) -> Option<(u8, u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || rest.starts_with('0') {
        return None;
    }
    let major: u64 = rest[..digits].parse().ok()?;
    let tail = &rest[digits..];
    if tail.is_empty() {
        return Some((3, major, 0));
    }
    let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return None;
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) || num.starts_with('0') {
        return None;
    }
    Some((level, major, num.parse().ok()?))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Verbs of built-in resource types, sorted as kube-apiserver lists them.
fn builtin_verbs() -> Vec<String> {
    strings(&[
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ])
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    kind: &str,
    plural: &str,
    singular: &str,
    short_names: &[&str],
    categories: &[&str],
    namespaced: bool,
    status_subresource: bool,
) -> ResourceInfo {
    ResourceInfo {
        group: group.to_string(),
        version: "v1".to_string(),
        kind: kind.to_string(),
        list_kind: format!("{kind}List"),
        plural: plural.to_string(),
        singular: singular.to_string(),
        short_names: strings(short_names),
        categories: strings(categories),
        namespaced,
        status_subresource,
        verbs: builtin_verbs(),
        printer_columns: Vec::new(),
        schema: None,
        custom: false,
    }
}

/// The built-in resource types the sandbox serves, described as on a v1.36 cluster.
/// `serviceaccounts` also lists its `token` subresource in discovery.
pub fn builtin_resources() -> Vec<ResourceInfo> {
    const NS: bool = true;
    const CLUSTER: bool = false;
    const STATUS: bool = true;
    const NO_STATUS: bool = false;
    let mut namespace = builtin(
        "",
        "Namespace",
        "namespaces",
        "namespace",
        &["ns"],
        &[],
        CLUSTER,
        STATUS,
    );
    namespace.verbs.retain(|v| v != "deletecollection");
    vec![
        namespace,
        builtin("", "Secret", "secrets", "secret", &[], &[], NS, NO_STATUS),
        builtin(
            "",
            "ConfigMap",
            "configmaps",
            "configmap",
            &["cm"],
            &[],
            NS,
            NO_STATUS,
        ),
        builtin(
            "",
            "Service",
            "services",
            "service",
            &["svc"],
            &["all"],
            NS,
            STATUS,
        ),
        builtin("", "Pod", "pods", "pod", &["po"], &["all"], NS, STATUS),
        builtin(
            "",
            "ServiceAccount",
            "serviceaccounts",
            "serviceaccount",
            &["sa"],
            &[],
            NS,
            NO_STATUS,
        ),
        builtin("", "Event", "events", "event", &["ev"], &[], NS, NO_STATUS),
        builtin(
            "",
            "Endpoints",
            "endpoints",
            "endpoints",
            &["ep"],
            &[],
            NS,
            NO_STATUS,
        ),
        builtin(
            "events.k8s.io",
            "Event",
            "events",
            "event",
            &["ev"],
            &[],
            NS,
            NO_STATUS,
        ),
        builtin(
            "discovery.k8s.io",
            "EndpointSlice",
            "endpointslices",
            "endpointslice",
            &[],
            &[],
            NS,
            NO_STATUS,
        ),
        builtin(
            "coordination.k8s.io",
            "Lease",
            "leases",
            "lease",
            &[],
            &[],
            NS,
            NO_STATUS,
        ),
        builtin(
            "networking.k8s.io",
            "Ingress",
            "ingresses",
            "ingress",
            &["ing"],
            &[],
            NS,
            STATUS,
        ),
        builtin(
            "networking.k8s.io",
            "IngressClass",
            "ingressclasses",
            "ingressclass",
            &[],
            &[],
            CLUSTER,
            NO_STATUS,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "Role",
            "roles",
            "role",
            &[],
            &[],
            NS,
            NO_STATUS,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "rolebindings",
            "rolebinding",
            &[],
            &[],
            NS,
            NO_STATUS,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "clusterroles",
            "clusterrole",
            &[],
            &[],
            CLUSTER,
            NO_STATUS,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "clusterrolebindings",
            "clusterrolebinding",
            &[],
            &[],
            CLUSTER,
            NO_STATUS,
        ),
        builtin(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            &[],
            &["api-extensions"],
            CLUSTER,
            NO_STATUS,
        ),
        builtin(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            &[],
            &["api-extensions"],
            CLUSTER,
            NO_STATUS,
        ),
        builtin(
            "apiregistration.k8s.io",
            "APIService",
            "apiservices",
            "apiservice",
            &[],
            &["api-extensions"],
            CLUSTER,
            STATUS,
        ),
        builtin(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            "customresourcedefinition",
            &["crd", "crds"],
            &["api-extensions"],
            CLUSTER,
            STATUS,
        ),
    ]
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource types of an `apiextensions.k8s.io/v1` CustomResourceDefinition: one per
/// served version, in the CRD's order. Empty when the names are missing.
pub fn resource_info_from_crd(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let (Some(group), Some(kind), Some(plural)) = (
        str_at(spec, "group"),
        str_at(names, "kind"),
        str_at(names, "plural"),
    ) else {
        return Vec::new();
    };
    let list_kind = str_at(names, "listKind")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind}List"));
    let singular = str_at(names, "singular")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let namespaced = str_at(spec, "scope") != Some("Cluster");
    let Some(versions) = spec["versions"].as_array() else {
        return Vec::new();
    };
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(false))
        .filter_map(|v| {
            let version = str_at(v, "name")?;
            let printer_columns = v["additionalPrinterColumns"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .filter_map(|c| {
                            Some(PrinterColumn {
                                name: str_at(c, "name")?.to_string(),
                                type_: str_at(c, "type").unwrap_or("string").to_string(),
                                json_path: str_at(c, "jsonPath")?.to_string(),
                                priority: c["priority"].as_i64().unwrap_or(0),
                                description: str_at(c, "description").unwrap_or("").to_string(),
                                format: str_at(c, "format").unwrap_or("").to_string(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(ResourceInfo {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                list_kind: list_kind.clone(),
                plural: plural.to_string(),
                singular: singular.clone(),
                short_names: string_list(names.get("shortNames")),
                categories: string_list(names.get("categories")),
                namespaced,
                status_subresource: v
                    .pointer("/subresources/status")
                    .is_some_and(|s| !s.is_null()),
                verbs: ResourceInfo::standard_verbs(),
                printer_columns,
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                custom: true,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn recording() -> Value {
        crate::test_recordings::recording("01-discovery-extract.json")
    }

    use crate::test_recordings::test_crds;

    /// The built-ins plus the recording's CRDs (Widget created first, then Gadget).
    fn served() -> Vec<ResourceInfo> {
        let mut all = builtin_resources();
        let crds = test_crds();
        assert_eq!(crds.len(), 2);
        for crd in &crds {
            all.extend(resource_info_from_crd(crd));
        }
        all
    }

    fn without_hash(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("storageVersionHash");
        }
        v
    }

    /// The recorded legacy resource list reduced to the entries we serve.
    fn recorded_subset(recorded: &Value, ours: &Value) -> Value {
        let names: Vec<&Value> = ours["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["name"])
            .collect();
        let mut body = recorded.clone();
        let kept: Vec<Value> = recorded["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| names.contains(&&r["name"]))
            .map(without_hash)
            .collect();
        body["resources"] = Value::Array(kept);
        body
    }

    #[test]
    fn version_has_the_recorded_fields() {
        let rec = recording();
        let ours = version();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(&rec["version"]));
        for k in [
            "major",
            "minor",
            "emulationMajor",
            "emulationMinor",
            "minCompatibilityMinor",
        ] {
            assert_eq!(ours[k], rec["version"][k], "{k}");
        }
        assert!(ours["gitVersion"].as_str().unwrap().starts_with("v1.36."));
    }

    #[test]
    fn core_versions_match() {
        assert_eq!(core_versions("127.0.0.1:16443"), recording()["api"]);
    }

    #[test]
    fn core_resource_list_matches_recorded_entries() {
        let rec = recording();
        let ours = core_resource_list(&served());
        let names: Vec<&str> = ours["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        for expected in [
            "namespaces",
            "namespaces/status",
            "pods/status",
            "serviceaccounts/token",
            "services/status",
            "secrets",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        assert_eq!(names.len(), 12, "{names:?}");
        assert_eq!(ours, recorded_subset(&rec["api_v1"], &ours));
    }

    #[test]
    fn group_list_matches_recorded_groups() {
        let rec = recording();
        let ours = group_list(&served());
        let served_groups: Vec<&Value> = ours["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| &g["name"])
            .collect();
        assert_eq!(served_groups.len(), 9);
        let mut expected = rec["apis"].clone();
        let kept: Vec<Value> = expected["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| served_groups.contains(&&g["name"]))
            .cloned()
            .collect();
        expected["groups"] = Value::Array(kept);
        assert_eq!(ours, expected);
    }

    #[test]
    fn crd_group_and_group_version_match() {
        let rec = recording();
        let all = served();
        assert_eq!(
            group(&all, "example.certgate.test"),
            Some(rec["group"]["body"].clone())
        );
        let ours = resource_list(&all, "example.certgate.test", "v1").unwrap();
        let recorded = &rec["group_version"]["body"];
        let mut expected = recorded.clone();
        expected["resources"] = Value::Array(
            recorded["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(without_hash)
                .collect(),
        );
        assert_eq!(ours, expected);
        let nested = resource_list(&all, "rbac.authorization.k8s.io", "v1").unwrap();
        assert_eq!(nested["resources"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn unknown_group_or_version_is_none() {
        let all = served();
        assert_eq!(recording()["unknown_version"]["status"], 404);
        assert!(resource_list(&all, "example.certgate.test", "v2").is_none());
        assert!(resource_list(&all, "nope.example.test", "v1").is_none());
        assert!(group(&all, "nope.example.test").is_none());
        assert!(group(&all, "").is_none());
    }

    fn aggregated_subset(recorded: &Value, ours: &Value) -> Value {
        let mut expected = recorded.clone();
        let mut items = Vec::new();
        for our_item in ours["items"].as_array().unwrap() {
            let rec_item = recorded["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["metadata"] == our_item["metadata"])
                .unwrap_or_else(|| panic!("recorded group {}", our_item["metadata"]))
                .clone();
            let mut item = rec_item.clone();
            for (vi, version) in rec_item["versions"].as_array().unwrap().iter().enumerate() {
                let ours_v = &our_item["versions"][vi];
                let names: Vec<&Value> = ours_v["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| &r["resource"])
                    .collect();
                let kept: Vec<Value> = version["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| names.contains(&&r["resource"]))
                    .map(|r| {
                        // Keep only the subresources we serve.
                        let mut r = r.clone();
                        let ours_r = ours_v["resources"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|o| o["resource"] == r["resource"])
                            .unwrap();
                        if let Some(subs) = r.get("subresources").cloned() {
                            let our_subs: Vec<&Value> = ours_r["subresources"]
                                .as_array()
                                .map(|a| a.iter().map(|s| &s["subresource"]).collect())
                                .unwrap_or_default();
                            let kept: Vec<Value> = subs
                                .as_array()
                                .unwrap()
                                .iter()
                                .filter(|s| our_subs.contains(&&s["subresource"]))
                                .cloned()
                                .collect();
                            if kept.is_empty() {
                                r.as_object_mut().unwrap().remove("subresources");
                            } else {
                                r["subresources"] = Value::Array(kept);
                            }
                        }
                        r
                    })
                    .collect();
                item["versions"][vi]["resources"] = Value::Array(kept);
            }
            items.push(item);
        }
        expected["items"] = Value::Array(items);
        expected
    }

    #[test]
    fn aggregated_core_matches_recording() {
        let rec = recording();
        let ours = aggregated_core(&served());
        assert_eq!(
            ours["items"][0]["versions"][0]["resources"]
                .as_array()
                .unwrap()
                .len(),
            8
        );
        assert_eq!(
            ours,
            aggregated_subset(&rec["aggregated_api"]["body"], &ours)
        );
        assert_eq!(
            AGGREGATED_CONTENT_TYPE,
            rec["aggregated_api"]["content_type"]
        );
    }

    #[test]
    fn aggregated_groups_match_recording() {
        let rec = recording();
        let ours = aggregated_groups(&served());
        assert_eq!(ours["items"].as_array().unwrap().len(), 9);
        let crd_group = &ours["items"][8];
        assert_eq!(crd_group["metadata"]["name"], "example.certgate.test");
        assert_eq!(
            crd_group["versions"][0]["resources"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            ours,
            aggregated_subset(&rec["aggregated_apis"]["body"], &ours)
        );
        assert_eq!(
            AGGREGATED_CONTENT_TYPE,
            rec["aggregated_apis"]["content_type"]
        );
    }

    #[test]
    fn accept_headers() {
        let rec = recording();
        assert!(wants_aggregated(
            rec["aggregated_api"]["accept"].as_str().unwrap()
        ));
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        ));
        assert!(wants_aggregated(
            "application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList"
        ));
        assert!(!wants_aggregated("application/json"));
        assert!(!wants_aggregated(""));
        assert!(!wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated(
            "application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        ));
        assert!(wants_aggregated(
            "application/json;q=0.5, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        ));
    }

    #[test]
    fn crd_resource_info() {
        let crds = test_crds();
        let widget = resource_info_from_crd(&crds[0]);
        assert_eq!(widget.len(), 1);
        let w = &widget[0];
        assert_eq!(
            (w.group.as_str(), w.version.as_str(), w.kind.as_str()),
            ("example.certgate.test", "v1", "Widget")
        );
        assert_eq!(
            (w.list_kind.as_str(), w.plural.as_str(), w.singular.as_str()),
            ("WidgetList", "widgets", "widget")
        );
        assert!(w.namespaced && w.status_subresource && w.custom);
        assert_eq!(w.printer_columns.len(), 2);
        assert_eq!(
            w.printer_columns[0].json_path,
            ".status.conditions[?(@.type==\"Ready\")].status"
        );
        assert_eq!(w.printer_columns[1].type_, "date");
        assert!(w.schema.as_ref().unwrap()["properties"]["spec"].is_object());
        let gadget = &resource_info_from_crd(&crds[1])[0];
        assert!(
            !gadget.namespaced && !gadget.status_subresource && gadget.printer_columns.is_empty()
        );

        let multi = json!({"spec": {"group": "g.test", "scope": "Cluster",
            "names": {"kind": "Thing", "plural": "things", "shortNames": ["th"], "categories": ["all"]},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false},
                {"name": "v1alpha1", "served": false, "storage": false},
                {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]}});
        let infos = resource_info_from_crd(&multi);
        assert_eq!(
            infos.iter().map(|i| i.version.as_str()).collect::<Vec<_>>(),
            ["v1beta1", "v1"]
        );
        assert_eq!(infos[0].list_kind, "ThingList");
        assert_eq!(infos[0].singular, "thing");
        assert!(!infos[0].status_subresource && infos[1].status_subresource);
        let g = group(&infos, "g.test").unwrap();
        assert_eq!(g["preferredVersion"]["version"], "v1");
        assert_eq!(g["versions"][1]["version"], "v1beta1");
        let legacy = resource_list(&infos, "g.test", "v1").unwrap();
        assert_eq!(legacy["resources"][0]["shortNames"], json!(["th"]));
        assert_eq!(legacy["resources"][0]["categories"], json!(["all"]));
        assert_eq!(legacy["resources"][1]["name"], "things/status");
    }

    #[test]
    fn version_priority() {
        let mut v = vec![
            "v1alpha1", "foo", "v1", "v2beta1", "v1beta2", "v1beta1", "v2", "bar", "v10",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            [
                "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo"
            ]
        );
    }
}
