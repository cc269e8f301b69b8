//! OpenAPI documents of the served resources (`/openapi/v2`, `/openapi/v3`), enough
//! for kubectl's field-validation detection, `kubectl explain` and clients.
//!
//! The v3 documents are shaped like kube-apiserver's: one document per group-version
//! with a path per resource (collection, item and `/status`, in the namespaced and
//! cluster-scoped forms), operations carrying `x-kubernetes-group-version-kind` and
//! `x-kubernetes-action` and the query parameters kube-apiserver documents, and
//! `components.schemas` with one schema per kind and list kind.
//!
//! Custom resources publish their CRD's `openAPIV3Schema` (with `apiVersion`, `kind`
//! and a `metadata` referring to `ObjectMeta`, as kube-apiserver does). Built-in kinds
//! publish a permissive schema: `apiVersion`, `kind`, `metadata` and
//! `x-kubernetes-preserve-unknown-fields: true`, with no field schema. Because such a
//! schema cannot drive a strategic merge patch, the PATCH operations of built-in
//! kinds do not list `application/strategic-merge-patch+json` in their request body
//! (kube-apiserver does): kubectl then computes strategic merge patches from its
//! compiled-in types, which is what it does when a server has no usable OpenAPI.
//!
//! `/openapi/v2` is the same content as swagger 2.0 JSON (`definitions`,
//! `#/definitions/` references); kube-apiserver serves it as protobuf to kubectl.

use serde_json::{Map, Value, json};

use crate::resources::ResourceInfo;

/// Where the apimachinery `meta/v1` schemas live.
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

const V3_REF_PREFIX: &str = "#/components/schemas/";
const V2_REF_PREFIX: &str = "#/definitions/";

/// The `/openapi/v3` index.
pub fn v3_index(resources: &[ResourceInfo]) -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions(resources) {
        let Some(doc) = v3_group_version(resources, &group, &version) else {
            continue;
        };
        let key = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        let hash = content_hash(doc.to_string().as_bytes());
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// The `/openapi/v3/{api/v1 | apis/group/version}` document.
pub fn v3_group_version(resources: &[ResourceInfo], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceInfo> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let prefix = api_prefix(group, version);
    let mut paths = Map::new();
    paths.insert(
        format!("{prefix}/"),
        json!({"get": {
            "tags": [tag(group, version)],
            "description": "get available resources",
            "operationId": format!("get{}{}APIResources", group_camel(group, served_custom(&served)), upper_first(version)),
            "responses": {
                "200": {"description": "OK", "content": media_types(&["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"], &reference(&format!("{META}.APIResourceList")))},
                "401": {"description": "Unauthorized"},
            },
        }}),
    );
    let mut schemas = meta_schemas();
    for info in &served {
        resource_paths(info, &mut paths);
        schemas.insert(definition_name(info, &info.kind), kind_schema(info));
        schemas.insert(definition_name(info, &info.list_kind), list_schema(info));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
    }))
}

/// The `/openapi/v2` document.
pub fn v2(resources: &[ResourceInfo]) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for (group, version) in group_versions(resources) {
        let Some(doc) = v3_group_version(resources, &group, &version) else {
            continue;
        };
        if let Some(p) = doc["paths"].as_object() {
            for (path, item) in p {
                paths.insert(path.clone(), v2_path_item(item));
            }
        }
        if let Some(s) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, schema) in s {
                definitions.insert(name.clone(), v2_schema(schema));
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    })
}

/// The served group-versions, core first, each once.
fn group_versions(resources: &[ResourceInfo]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = resources
        .iter()
        .map(|r| (r.group.clone(), r.version.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A stable hash of a document, as uppercase hex (FNV-1a, 128 bits).
fn content_hash(bytes: &[u8]) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut h = OFFSET;
    for b in bytes {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    format!("{h:032X}")
}

fn api_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

fn served_custom(served: &[&ResourceInfo]) -> bool {
    served.iter().all(|r| r.custom)
}

/// The prefix of schema names of a group-version: `io.k8s.api.core.v1`,
/// `io.k8s.api.rbac.v1`, `io.cert-manager.v1` (a custom group, reversed).
fn definition_prefix(group: &str, version: &str, custom: bool) -> String {
    if custom {
        let reversed: Vec<&str> = group.split('.').rev().collect();
        return format!("{}.{version}", reversed.join("."));
    }
    match group {
        "" => format!("io.k8s.api.core.{version}"),
        "apiextensions.k8s.io" => {
            format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}")
        }
        "apiregistration.k8s.io" => {
            format!("io.k8s.kube-aggregator.pkg.apis.apiregistration.{version}")
        }
        g => format!("io.k8s.api.{}.{version}", g.split('.').next().unwrap_or(g)),
    }
}

/// The schema name of a kind of a resource's group-version, e.g. `io.cert-manager.v1.Certificate`.
pub fn definition_name(info: &ResourceInfo, kind: &str) -> String {
    format!(
        "{}.{kind}",
        definition_prefix(&info.group, &info.version, info.custom)
    )
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("{V3_REF_PREFIX}{name}")})
}

fn gvk(info: &ResourceInfo, kind: &str) -> Value {
    json!({"group": info.group, "kind": kind, "version": info.version})
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `Core`, `RbacAuthorization`, `CertManagerIo`: the group as used in operation ids.
fn group_camel(group: &str, custom: bool) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let g = if custom {
        group
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    };
    g.split(['.', '-']).map(upper_first).collect()
}

/// `core_v1`, `certManagerIo_v1`: the operation tag of a group-version.
fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group, !group.ends_with(".k8s.io") && group.contains('.'));
    let mut c = camel.chars();
    let lower: String = match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    };
    format!("{lower}_{version}")
}

fn media_types(types: &[&str], schema: &Value) -> Value {
    let mut m = Map::new();
    for t in types {
        m.insert((*t).to_string(), json!({"schema": schema}));
    }
    Value::Object(m)
}

/// A parameter as kube-apiserver documents it (`schema.uniqueItems: true` included).
fn param(name: &str, location: &str, type_: &str, description: &str) -> Value {
    let mut p = json!({
        "name": name,
        "in": location,
        "description": description,
        "schema": {"type": type_, "uniqueItems": true},
    });
    if location == "path" {
        p["required"] = json!(true);
    }
    p
}

fn query(name: &str) -> Value {
    let (type_, description) = match name {
        "allowWatchBookmarks" => (
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.",
        ),
        "continue" => (
            "string",
            "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token.",
        ),
        "dryRun" => (
            "string",
            "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
        ),
        "fieldManager" => (
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
        ),
        "fieldManagerPatch" => (
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).",
        ),
        "fieldSelector" => (
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        "fieldValidation" => (
            "string",
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
        ),
        "force" => (
            "boolean",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        ),
        "gracePeriodSeconds" => (
            "integer",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.",
        ),
        "ignoreStoreReadErrorWithClusterBreakingPotential" => (
            "boolean",
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it",
        ),
        "labelSelector" => (
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        "limit" => (
            "integer",
            "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.",
        ),
        "orphanDependents" => (
            "boolean",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.",
        ),
        "pretty" => (
            "string",
            "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
        ),
        "propagationPolicy" => (
            "string",
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
        ),
        "resourceVersion" => (
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        "resourceVersionMatch" => (
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        "sendInitialEvents" => (
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event will be sent.",
        ),
        "timeoutSeconds" => (
            "integer",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
        ),
        "watch" => (
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
        ),
        _ => ("string", ""),
    };
    let name = if name == "fieldManagerPatch" {
        "fieldManager"
    } else {
        name
    };
    param(name, "query", type_, description)
}

fn queries(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|n| query(n)).collect())
}

const LIST_PARAMS: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
const WRITE_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
const PATCH_PARAMS: &[&str] = &["dryRun", "fieldManagerPatch", "fieldValidation", "force"];
const DELETE_PARAMS: &[&str] = &[
    "dryRun",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents",
    "propagationPolicy",
];
const DELETE_COLLECTION_PARAMS: &[&str] = &[
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
];

/// Builds the operations of one resource.
struct Ops<'a> {
    info: &'a ResourceInfo,
    kind_ref: Value,
    list_ref: Value,
    status_ref: Value,
    responses: Vec<&'static str>,
    list_responses: Vec<&'static str>,
}

impl<'a> Ops<'a> {
    fn new(info: &'a ResourceInfo) -> Self {
        let mut responses = vec!["application/json", "application/yaml"];
        let mut list_responses = vec![
            "application/json",
            "application/json;stream=watch",
            "application/yaml",
        ];
        if !info.custom {
            responses.push("application/vnd.kubernetes.protobuf");
            list_responses.push("application/vnd.kubernetes.protobuf");
            list_responses.push("application/vnd.kubernetes.protobuf;stream=watch");
        }
        Ops {
            info,
            kind_ref: reference(&definition_name(info, &info.kind)),
            list_ref: reference(&definition_name(info, &info.list_kind)),
            status_ref: reference(&format!("{META}.Status")),
            responses,
            list_responses,
        }
    }

    fn has(&self, verb: &str) -> bool {
        self.info.verbs.iter().any(|v| v == verb)
    }

    fn operation_id(&self, verb: &str, namespaced: bool, suffix: &str) -> String {
        format!(
            "{verb}{}{}{}{}{suffix}",
            group_camel(&self.info.group, self.info.custom),
            upper_first(&self.info.version),
            if namespaced { "Namespaced" } else { "" },
            self.info.kind,
        )
    }

    fn response(
        &self,
        code: &str,
        description: &str,
        schema: &Value,
        list: bool,
    ) -> (String, Value) {
        let types = if list {
            &self.list_responses
        } else {
            &self.responses
        };
        (
            code.to_string(),
            json!({"description": description, "content": media_types(types, schema)}),
        )
    }

    fn op(
        &self,
        action: &str,
        description: String,
        operation_id: String,
        params: &[&str],
        request_body: Option<Value>,
        responses: Vec<(String, Value)>,
    ) -> Value {
        let mut resp = Map::new();
        for (code, r) in responses {
            resp.insert(code, r);
        }
        resp.insert("401".into(), json!({"description": "Unauthorized"}));
        let mut op = json!({
            "tags": [tag(&self.info.group, &self.info.version)],
            "description": description,
            "operationId": operation_id,
            "responses": resp,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk(self.info, &self.info.kind),
        });
        if !params.is_empty() {
            op["parameters"] = queries(params);
        }
        if let Some(body) = request_body {
            op["requestBody"] = body;
        }
        op
    }

    fn body(&self) -> Value {
        json!({"content": {"*/*": {"schema": self.kind_ref}}, "required": true})
    }

    fn patch_body(&self) -> Value {
        let patch = reference(&format!("{META}.Patch"));
        let mut types = vec![
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
        ];
        // The permissive schemas of built-in kinds cannot drive a strategic merge
        // patch: not listing it makes kubectl use its compiled-in types instead.
        if !self.info.custom && self.info.schema.is_some() {
            types.push("application/strategic-merge-patch+json");
        }
        json!({"content": media_types(&types, &patch), "required": true})
    }

    fn delete_body(&self) -> Value {
        json!({"content": {"*/*": {"schema": reference(&format!("{META}.DeleteOptions"))}}})
    }

    /// `get` (list) of the collection.
    fn list(&self, namespaced: bool, all_namespaces: bool) -> Value {
        let kind = &self.info.kind;
        let id = if all_namespaces {
            self.operation_id("list", false, "ForAllNamespaces")
        } else {
            self.operation_id("list", namespaced, "")
        };
        self.op(
            "list",
            format!("list or watch objects of kind {kind}"),
            id,
            LIST_PARAMS,
            None,
            vec![self.response("200", "OK", &self.list_ref, true)],
        )
    }

    fn collection(&self, namespaced: bool) -> Value {
        let kind = &self.info.kind;
        let mut item = Map::new();
        if self.has("list") {
            item.insert("get".into(), self.list(namespaced, false));
        }
        if self.has("create") {
            item.insert(
                "post".into(),
                self.op(
                    "post",
                    format!("create {} {kind}", article(kind)),
                    self.operation_id("create", namespaced, ""),
                    WRITE_PARAMS,
                    Some(self.body()),
                    vec![
                        self.response("200", "OK", &self.kind_ref, false),
                        self.response("201", "Created", &self.kind_ref, false),
                        self.response("202", "Accepted", &self.kind_ref, false),
                    ],
                ),
            );
        }
        if self.has("deletecollection") {
            item.insert(
                "delete".into(),
                self.op(
                    "deletecollection",
                    format!("delete collection of {kind}"),
                    self.operation_id("deleteCollection", namespaced, ""),
                    DELETE_COLLECTION_PARAMS,
                    Some(self.delete_body()),
                    vec![self.response("200", "OK", &self.status_ref, false)],
                ),
            );
        }
        item.insert("parameters".into(), path_params(namespaced, None));
        Value::Object(item)
    }

    fn item(&self, namespaced: bool) -> Value {
        let kind = &self.info.kind;
        let mut item = Map::new();
        if self.has("get") {
            item.insert(
                "get".into(),
                self.op(
                    "get",
                    format!("read the specified {kind}"),
                    self.operation_id("read", namespaced, ""),
                    &[],
                    None,
                    vec![self.response("200", "OK", &self.kind_ref, false)],
                ),
            );
        }
        if self.has("update") {
            item.insert("put".into(), self.replace(namespaced, ""));
        }
        if self.has("patch") {
            item.insert("patch".into(), self.patch(namespaced, ""));
        }
        if self.has("delete") {
            item.insert(
                "delete".into(),
                self.op(
                    "delete",
                    format!("delete {} {kind}", article(kind)),
                    self.operation_id("delete", namespaced, ""),
                    DELETE_PARAMS,
                    Some(self.delete_body()),
                    vec![
                        self.response("200", "OK", &self.status_ref, false),
                        self.response("202", "Accepted", &self.status_ref, false),
                    ],
                ),
            );
        }
        item.insert("parameters".into(), path_params(namespaced, Some(kind)));
        Value::Object(item)
    }

    fn replace(&self, namespaced: bool, sub: &str) -> Value {
        let kind = &self.info.kind;
        let what = if sub.is_empty() {
            String::new()
        } else {
            format!("{} of ", sub.to_lowercase())
        };
        self.op(
            "put",
            format!("replace {what}the specified {kind}"),
            self.operation_id("replace", namespaced, sub),
            WRITE_PARAMS,
            Some(self.body()),
            vec![
                self.response("200", "OK", &self.kind_ref, false),
                self.response("201", "Created", &self.kind_ref, false),
            ],
        )
    }

    fn patch(&self, namespaced: bool, sub: &str) -> Value {
        let kind = &self.info.kind;
        let what = if sub.is_empty() {
            String::new()
        } else {
            format!("{} of ", sub.to_lowercase())
        };
        self.op(
            "patch",
            format!("partially update {what}the specified {kind}"),
            self.operation_id("patch", namespaced, sub),
            PATCH_PARAMS,
            Some(self.patch_body()),
            vec![
                self.response("200", "OK", &self.kind_ref, false),
                self.response("201", "Created", &self.kind_ref, false),
            ],
        )
    }

    fn status(&self, namespaced: bool) -> Value {
        let kind = &self.info.kind;
        let mut item = Map::new();
        if self.has("get") {
            item.insert(
                "get".into(),
                self.op(
                    "get",
                    format!("read status of the specified {kind}"),
                    self.operation_id("read", namespaced, "Status"),
                    &[],
                    None,
                    vec![self.response("200", "OK", &self.kind_ref, false)],
                ),
            );
        }
        if self.has("update") {
            item.insert("put".into(), self.replace(namespaced, "Status"));
        }
        if self.has("patch") {
            item.insert("patch".into(), self.patch(namespaced, "Status"));
        }
        item.insert("parameters".into(), path_params(namespaced, Some(kind)));
        Value::Object(item)
    }

    /// `PUT /api/v1/namespaces/{name}/finalize`.
    fn finalize(&self) -> Value {
        let kind = &self.info.kind;
        let mut params = queries(WRITE_PARAMS);
        if let Some(a) = params.as_array_mut() {
            a.push(query("pretty"));
        }
        let mut op = self.op(
            "put",
            format!("replace finalize of the specified {kind}"),
            self.operation_id("replace", false, "Finalize"),
            &[],
            Some(self.body()),
            vec![
                self.response("200", "OK", &self.kind_ref, false),
                self.response("201", "Created", &self.kind_ref, false),
            ],
        );
        op["parameters"] = params;
        json!({
            "put": op,
            "parameters": [param("name", "path", "string", &format!("name of the {kind}"))],
        })
    }
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    }
}

/// The parameters of a path: `name` (item paths), `namespace`, `pretty`.
fn path_params(namespaced: bool, name_of: Option<&str>) -> Value {
    let mut out = Vec::new();
    if let Some(kind) = name_of {
        out.push(param(
            "name",
            "path",
            "string",
            &format!("name of the {kind}"),
        ));
    }
    if namespaced {
        out.push(param(
            "namespace",
            "path",
            "string",
            "object name and auth scope, such as for teams and projects",
        ));
    }
    out.push(query("pretty"));
    Value::Array(out)
}

/// The paths of one resource, as kube-apiserver publishes them.
fn resource_paths(info: &ResourceInfo, paths: &mut Map<String, Value>) {
    let ops = Ops::new(info);
    let prefix = api_prefix(&info.group, &info.version);
    let plural = &info.plural;
    let base = if info.namespaced {
        if ops.has("list") {
            paths.insert(
                format!("{prefix}/{plural}"),
                json!({"get": ops.list(false, true), "parameters": path_params(false, None)}),
            );
        }
        format!("{prefix}/namespaces/{{namespace}}/{plural}")
    } else {
        format!("{prefix}/{plural}")
    };
    paths.insert(base.clone(), ops.collection(info.namespaced));
    paths.insert(format!("{base}/{{name}}"), ops.item(info.namespaced));
    if info.status_subresource {
        paths.insert(
            format!("{base}/{{name}}/status"),
            ops.status(info.namespaced),
        );
    }
    if info.group.is_empty() && info.kind == "Namespace" {
        paths.insert(format!("{base}/{{name}}/finalize"), ops.finalize());
    }
}

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DESCRIPTION: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn type_meta_properties() -> Map<String, Value> {
    let mut p = Map::new();
    p.insert(
        "apiVersion".into(),
        json!({"description": API_VERSION_DESCRIPTION, "type": "string"}),
    );
    p.insert(
        "kind".into(),
        json!({"description": KIND_DESCRIPTION, "type": "string"}),
    );
    p
}

/// The schema of a resource's kind: a CRD's `openAPIV3Schema` completed like
/// kube-apiserver does, or a permissive schema for a built-in kind.
fn kind_schema(info: &ResourceInfo) -> Value {
    let object_meta = json!({"description": METADATA_DESCRIPTION, "allOf": [reference(&format!("{META}.ObjectMeta"))]});
    let mut schema = match &info.schema {
        Some(Value::Object(s)) => s.clone(),
        _ => {
            let mut s = Map::new();
            s.insert(
                "description".into(),
                json!(format!(
                    "{} (the sandbox publishes no field schema for built-in kinds).",
                    info.kind
                )),
            );
            s.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
            s
        }
    };
    schema.insert("type".into(), json!("object"));
    let mut props = match schema.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    for (k, v) in type_meta_properties() {
        props.entry(k).or_insert(v);
    }
    props.insert("metadata".into(), object_meta);
    schema.insert("properties".into(), Value::Object(props));
    schema.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([gvk(info, &info.kind)]),
    );
    Value::Object(schema)
}

fn list_schema(info: &ResourceInfo) -> Value {
    let mut props = type_meta_properties();
    props.insert(
        "items".into(),
        json!({
            "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", info.plural),
            "type": "array",
            "items": reference(&definition_name(info, &info.kind)),
        }),
    );
    props.insert(
        "metadata".into(),
        json!({"description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "allOf": [reference(&format!("{META}.ListMeta"))]}),
    );
    json!({
        "description": format!("{} is a list of {}", info.list_kind, info.kind),
        "type": "object",
        "required": ["items"],
        "properties": props,
        "x-kubernetes-group-version-kind": [gvk(info, &info.list_kind)],
    })
}

fn string_prop(description: &str) -> Value {
    json!({"description": description, "type": "string", "default": ""})
}

fn meta_ref(name: &str, description: &str) -> Value {
    json!({"description": description, "allOf": [reference(&format!("{META}.{name}"))]})
}

/// The `meta/v1` schemas the documents refer to.
fn meta_schemas() -> Map<String, Value> {
    let mut m = Map::new();
    let n = |s: &str| format!("{META}.{s}");
    m.insert(
        n("Time"),
        json!({"description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.  Wrappers are provided for many of the factory methods that the time package offers.", "type": "string", "format": "date-time"}),
    );
    m.insert(
        n("FieldsV1"),
        json!({"description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.", "type": "object"}),
    );
    m.insert(
        n("Patch"),
        json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"}),
    );
    m.insert(
        n("OwnerReference"),
        json!({
            "description": "OwnerReference contains enough information to let you identify an owning object. An owning object must be in the same namespace as the dependent, or be cluster-scoped, so there is no namespace field.",
            "type": "object",
            "required": ["apiVersion", "kind", "name", "uid"],
            "properties": {
                "apiVersion": string_prop("API version of the referent."),
                "blockOwnerDeletion": {"description": "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.", "type": "boolean"},
                "controller": {"description": "If true, this reference points to the managing controller.", "type": "boolean"},
                "kind": string_prop("Kind of the referent. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"),
                "name": string_prop("Name of the referent. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"),
                "uid": string_prop("UID of the referent. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids"),
            },
            "x-kubernetes-map-type": "atomic",
        }),
    );
    m.insert(
        n("ManagedFieldsEntry"),
        json!({
            "description": "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
            "type": "object",
            "properties": {
                "apiVersion": {"description": "APIVersion defines the version of this resource that this field set applies to.", "type": "string"},
                "fieldsType": {"description": "FieldsType is the discriminator for the different fields format and version. There is currently only one possible value: \"FieldsV1\"", "type": "string"},
                "fieldsV1": meta_ref("FieldsV1", "FieldsV1 holds the first JSON version format as described in the \"FieldsV1\" type."),
                "manager": {"description": "Manager is an identifier of the workflow managing these fields.", "type": "string"},
                "operation": {"description": "Operation is the type of operation which lead to this ManagedFieldsEntry being created. The only valid values for this field are 'Apply' and 'Update'.", "type": "string"},
                "subresource": {"description": "Subresource is the name of the subresource used to update that object, or empty string if the object was updated through the main resource.", "type": "string"},
                "time": meta_ref("Time", "Time is the timestamp of when the ManagedFields entry was added."),
            },
        }),
    );
    m.insert(
        n("ObjectMeta"),
        json!({
            "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
            "type": "object",
            "properties": {
                "annotations": {"description": "Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata. They are not queryable and should be preserved when modifying objects. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations", "type": "object", "additionalProperties": {"type": "string", "default": ""}},
                "creationTimestamp": meta_ref("Time", "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"),
                "deletionGracePeriodSeconds": {"description": "Number of seconds allowed for this object to gracefully terminate before it will be removed from the system. Only set when deletionTimestamp is also set. May only be shortened. Read-only.", "type": "integer", "format": "int64"},
                "deletionTimestamp": meta_ref("Time", "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. This field is set by the server when a graceful deletion is requested by the user, and is not directly settable by a client.\n\nPopulated by the system when a graceful deletion is requested. Read-only. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"),
                "finalizers": {"description": "Must be empty before the object is deleted from the registry. Each entry is an identifier for the responsible component that will remove the entry from the list.", "type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
                "generateName": {"description": "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#idempotency", "type": "string"},
                "generation": {"description": "A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.", "type": "integer", "format": "int64"},
                "labels": {"description": "Map of string keys and values that can be used to organize and categorize (scope and select) objects. May match selectors of replication controllers and services. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels", "type": "object", "additionalProperties": {"type": "string", "default": ""}},
                "managedFields": {"description": "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow. This is mostly for internal housekeeping, and users typically shouldn't need to set or understand this field.", "type": "array", "items": {"default": {}, "allOf": [reference(&n("ManagedFieldsEntry"))]}, "x-kubernetes-list-type": "atomic"},
                "name": {"description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names", "type": "string"},
                "namespace": {"description": "Namespace defines the space within which each name must be unique. An empty namespace is equivalent to the \"default\" namespace, but \"default\" is the canonical representation. Not all objects are required to be scoped to a namespace - the value of this field for those objects will be empty.\n\nMust be a DNS_LABEL. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces", "type": "string"},
                "ownerReferences": {"description": "List of objects depended by this object. If ALL objects in the list have been deleted, this object will be garbage collected. If this object is managed by a controller, then an entry in this list will point to this controller, with the controller field set to true. There cannot be more than one managing controller.", "type": "array", "items": {"default": {}, "allOf": [reference(&n("OwnerReference"))]}, "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map", "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge"},
                "resourceVersion": {"description": "An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed. May be used for optimistic concurrency, change detection, and the watch operation on a resource or set of resources. Populated by the system. Read-only. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#concurrency-control-and-consistency", "type": "string"},
                "selfLink": {"description": "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.", "type": "string"},
                "uid": {"description": "UID is the unique in time and space value for this object. It is typically generated by the server on successful creation of a resource and is not allowed to change on PUT operations.\n\nPopulated by the system. Read-only. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids", "type": "string"},
            },
        }),
    );
    m.insert(
        n("ListMeta"),
        json!({
            "description": "ListMeta describes metadata that synthetic resources must have, including lists and various status objects. A resource may have only one of {ObjectMeta, ListMeta}.",
            "type": "object",
            "properties": {
                "continue": {"description": "continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available.", "type": "string"},
                "remainingItemCount": {"description": "remainingItemCount is the number of subsequent items in the list which are not included in this list response.", "type": "integer", "format": "int64"},
                "resourceVersion": {"description": "String that identifies the server's internal version of this object that can be used by clients to determine when objects have changed. Value must be treated as opaque by clients and passed unmodified back to the server. Populated by the system. Read-only.", "type": "string"},
                "selfLink": {"description": "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.", "type": "string"},
            },
        }),
    );
    m.insert(
        n("StatusCause"),
        json!({
            "description": "StatusCause provides more information about an api.Status failure, including cases when multiple errors are encountered.",
            "type": "object",
            "properties": {
                "field": {"description": "The field of the resource that has caused this error, as named by its JSON serialization.", "type": "string"},
                "message": {"description": "A human-readable description of the cause of the error.", "type": "string"},
                "reason": {"description": "A machine-readable description of the cause of the error. If this value is empty there is no information available.", "type": "string"},
            },
        }),
    );
    m.insert(
        n("StatusDetails"),
        json!({
            "description": "StatusDetails is a set of additional properties that MAY be set by the server to provide additional information about a response.",
            "type": "object",
            "properties": {
                "causes": {"description": "The Causes array includes more details associated with the StatusReason failure.", "type": "array", "items": {"default": {}, "allOf": [reference(&n("StatusCause"))]}, "x-kubernetes-list-type": "atomic"},
                "group": {"description": "The group attribute of the resource associated with the status StatusReason.", "type": "string"},
                "kind": {"description": "The kind attribute of the resource associated with the status StatusReason.", "type": "string"},
                "name": {"description": "The name attribute of the resource associated with the status StatusReason (when there is a single name which can be described).", "type": "string"},
                "retryAfterSeconds": {"description": "If specified, the time in seconds before the operation should be retried.", "type": "integer", "format": "int32"},
                "uid": {"description": "UID of the resource. (when there is a single resource which can be described).", "type": "string"},
            },
        }),
    );
    let mut status_props = type_meta_properties();
    for (k, v) in [
        (
            "code",
            json!({"description": "Suggested HTTP return code for this status, 0 if not set.", "type": "integer", "format": "int32"}),
        ),
        (
            "details",
            meta_ref(
                "StatusDetails",
                "Extended data associated with the reason.  Each reason may define its own extended details. This field is optional and the data returned is not guaranteed to conform to any schema except that defined by the reason type.",
            ),
        ),
        (
            "message",
            json!({"description": "A human-readable description of the status of this operation.", "type": "string"}),
        ),
        (
            "metadata",
            meta_ref(
                "ListMeta",
                "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            ),
        ),
        (
            "reason",
            json!({"description": "A machine-readable description of why this operation is in the \"Failure\" status. If this value is empty there is no information available.", "type": "string"}),
        ),
        (
            "status",
            json!({"description": "Status of the operation. One of: \"Success\" or \"Failure\". More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status", "type": "string"}),
        ),
    ] {
        status_props.insert(k.into(), v);
    }
    m.insert(
        n("Status"),
        json!({
            "description": "Status is a return value for calls that don't return other objects.",
            "type": "object",
            "properties": status_props,
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
        }),
    );
    let mut delete_props = type_meta_properties();
    for (k, v) in [
        (
            "dryRun",
            json!({"description": "When present, indicates that modifications should not be persisted.", "type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "atomic"}),
        ),
        (
            "gracePeriodSeconds",
            json!({"description": "The duration in seconds before the object should be deleted.", "type": "integer", "format": "int64"}),
        ),
        (
            "orphanDependents",
            json!({"description": "Deprecated: please use the PropagationPolicy.", "type": "boolean"}),
        ),
        (
            "preconditions",
            json!({"description": "Must be fulfilled before a deletion is carried out. If not possible, a 409 Conflict status will be returned.", "type": "object", "properties": {"resourceVersion": {"description": "Specifies the target ResourceVersion", "type": "string"}, "uid": {"description": "Specifies the target UID.", "type": "string"}}}),
        ),
        (
            "propagationPolicy",
            json!({"description": "Whether and how garbage collection will be performed.", "type": "string"}),
        ),
    ] {
        delete_props.insert(k.into(), v);
    }
    m.insert(
        n("DeleteOptions"),
        json!({
            "description": "DeleteOptions may be provided when deleting an API object.",
            "type": "object",
            "properties": delete_props,
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "DeleteOptions", "version": "v1"}],
        }),
    );
    m.insert(
        n("APIResourceList"),
        json!({
            "description": "APIResourceList is a list of APIResource, it is used to expose the name of the resources supported in a specific group and version, and if the resource is namespaced.",
            "type": "object",
            "required": ["groupVersion", "resources"],
            "properties": {
                "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
                "groupVersion": string_prop("groupVersion is the group and version this APIResourceList is for."),
                "kind": {"description": KIND_DESCRIPTION, "type": "string"},
                "resources": {"description": "resources contains the name of the resources and if they are namespaced.", "type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "x-kubernetes-list-type": "atomic"},
            },
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "APIResourceList", "version": "v1"}],
        }),
    );
    m
}

/// A v3 schema as swagger 2.0: `#/definitions/` references, without the keywords
/// swagger 2.0 lacks (`nullable`, `anyOf`, `oneOf`, `not`), as kube-apiserver
/// publishes CRD schemas in `/openapi/v2`.
fn v2_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match k.as_str() {
                    "nullable" | "anyOf" | "oneOf" | "not" => {}
                    "$ref" => {
                        let r = v.as_str().unwrap_or_default();
                        let name = r.strip_prefix(V3_REF_PREFIX).unwrap_or(r);
                        out.insert(k.clone(), json!(format!("{V2_REF_PREFIX}{name}")));
                    }
                    // `properties`, `patternProperties`, `definitions`: maps of schemas
                    // whose keys are names (never keywords to drop).
                    "properties" | "patternProperties" | "definitions" => {
                        let mapped = v
                            .as_object()
                            .map(|props| {
                                props
                                    .iter()
                                    .map(|(name, s)| (name.clone(), v2_schema(s)))
                                    .collect::<Map<String, Value>>()
                            })
                            .map(Value::Object)
                            .unwrap_or_else(|| v.clone());
                        out.insert(k.clone(), mapped);
                    }
                    "enum" | "default" | "example" | "x-kubernetes-validations" => {
                        out.insert(k.clone(), v.clone());
                    }
                    _ => {
                        out.insert(k.clone(), v2_schema(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(v2_schema).collect()),
        other => other.clone(),
    }
}

/// A v3 path item as swagger 2.0: typed parameters, a `body` parameter for the
/// request body, `consumes`/`produces` and response schemas.
fn v2_path_item(item: &Value) -> Value {
    let mut out = Map::new();
    let Some(m) = item.as_object() else {
        return item.clone();
    };
    for (k, v) in m {
        if k == "parameters" {
            out.insert(k.clone(), v2_parameters(v));
            continue;
        }
        let Some(op) = v.as_object() else {
            continue;
        };
        let mut o = Map::new();
        let mut params = v2_parameters(op.get("parameters").unwrap_or(&json!([])));
        let mut consumes: Vec<String> = Vec::new();
        let mut produces: Vec<String> = Vec::new();
        for (ok, ov) in op {
            match ok.as_str() {
                "parameters" => {}
                "requestBody" => {
                    let content = ov["content"].as_object();
                    if let Some(c) = content {
                        consumes.extend(c.keys().cloned());
                    }
                    let schema = content
                        .and_then(|c| c.values().next())
                        .map(|mt| v2_schema(&mt["schema"]))
                        .unwrap_or_else(|| json!({"type": "object"}));
                    let mut body = json!({"name": "body", "in": "body", "schema": schema});
                    if ov["required"] == json!(true) {
                        body["required"] = json!(true);
                    }
                    if let Some(a) = params.as_array_mut() {
                        a.insert(0, body);
                    }
                }
                "responses" => {
                    let mut responses = Map::new();
                    for (code, r) in ov.as_object().into_iter().flatten() {
                        let mut resp = json!({"description": r["description"]});
                        if let Some(c) = r["content"].as_object() {
                            for t in c.keys() {
                                if !produces.contains(t) {
                                    produces.push(t.clone());
                                }
                            }
                            if let Some(mt) = c.values().next() {
                                resp["schema"] = v2_schema(&mt["schema"]);
                            }
                        }
                        responses.insert(code.clone(), resp);
                    }
                    o.insert(ok.clone(), Value::Object(responses));
                }
                _ => {
                    o.insert(ok.clone(), ov.clone());
                }
            }
        }
        if params.as_array().is_some_and(|a| !a.is_empty()) {
            o.insert("parameters".into(), params);
        }
        if !consumes.is_empty() {
            o.insert("consumes".into(), json!(consumes));
        }
        if !produces.is_empty() {
            o.insert("produces".into(), json!(produces));
        }
        o.insert("schemes".into(), json!(["https"]));
        out.insert(k.clone(), Value::Object(o));
    }
    Value::Object(out)
}

fn v2_parameters(params: &Value) -> Value {
    let Some(a) = params.as_array() else {
        return json!([]);
    };
    Value::Array(
        a.iter()
            .map(|p| {
                let mut q =
                    json!({"name": p["name"], "in": p["in"], "description": p["description"]});
                if let Some(s) = p["schema"].as_object() {
                    for (k, v) in s {
                        q[k.as_str()] = v.clone();
                    }
                }
                if p["required"] == json!(true) {
                    q["required"] = json!(true);
                }
                q
            })
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::discovery::{builtin_resources, resource_info_from_crd};

    fn crds_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds")
    }

    fn served() -> Vec<ResourceInfo> {
        let mut all = builtin_resources();
        for crd in crate::load_crd_dir(&crds_dir()).unwrap() {
            all.extend(resource_info_from_crd(&crd));
        }
        all
    }

    fn info<'a>(all: &'a [ResourceInfo], group: &str, plural: &str) -> &'a ResourceInfo {
        all.iter()
            .find(|r| r.group == group && r.plural == plural)
            .unwrap_or_else(|| panic!("{group}/{plural} not served"))
    }

    /// kubectl's `supportsQueryParamV3`: the first PATCH operation of the GVK decides.
    fn supports_query_param(
        doc: &Value,
        group: &str,
        version: &str,
        kind: &str,
        param: &str,
    ) -> bool {
        let want = json!({"group": group, "version": version, "kind": kind});
        for item in doc["paths"].as_object().unwrap().values() {
            let Some(op) = item.get("patch") else {
                continue;
            };
            if op["x-kubernetes-group-version-kind"] != want {
                continue;
            }
            return op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == param && p["in"] == "query");
        }
        false
    }

    fn resolve<'a>(doc: &'a Value, r: &str) -> &'a Value {
        let name = r.strip_prefix(V3_REF_PREFIX).unwrap();
        let s = &doc["components"]["schemas"][name];
        assert!(s.is_object(), "dangling reference {r}");
        s
    }

    /// Every `$ref` of the document resolves.
    fn check_refs(doc: &Value, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        resolve(doc, x.as_str().unwrap());
                    } else {
                        check_refs(doc, x);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| check_refs(doc, x)),
            _ => {}
        }
    }

    #[test]
    fn index_lists_every_group_version_with_a_content_hash() {
        let all = served();
        let index = v3_index(&all);
        let paths = index["paths"].as_object().unwrap();
        for key in [
            "api/v1",
            "apis/cert-manager.io/v1",
            "apis/acme.cert-manager.io/v1",
            "apis/apiextensions.k8s.io/v1",
            "apis/rbac.authorization.k8s.io/v1",
        ] {
            let url = paths[key]["serverRelativeURL"].as_str().unwrap();
            let (path, hash) = url.split_once("?hash=").unwrap();
            assert_eq!(path, format!("/openapi/v3/{key}"));
            assert_eq!(hash.len(), 32);
            assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        }
        assert_eq!(paths.len(), group_versions(&all).len());
        // Stable for the same content, different when a document changes.
        assert_eq!(v3_index(&all), index);
        let builtins_only = v3_index(&builtin_resources());
        assert_eq!(builtins_only["paths"]["api/v1"], index["paths"]["api/v1"]);
        assert!(
            builtins_only["paths"]
                .get("apis/cert-manager.io/v1")
                .is_none()
        );
        let mut changed = all.clone();
        let cert = changed
            .iter_mut()
            .find(|r| r.kind == "Certificate")
            .unwrap();
        cert.schema.as_mut().unwrap()["description"] = json!("changed");
        let changed_index = v3_index(&changed);
        assert_ne!(
            changed_index["paths"]["apis/cert-manager.io/v1"],
            index["paths"]["apis/cert-manager.io/v1"]
        );
        assert_eq!(
            changed_index["paths"]["apis/acme.cert-manager.io/v1"],
            index["paths"]["apis/acme.cert-manager.io/v1"]
        );
    }

    #[test]
    fn unknown_group_version_has_no_document() {
        let all = served();
        assert!(v3_group_version(&all, "cert-manager.io", "v2").is_none());
        assert!(v3_group_version(&all, "example.com", "v1").is_none());
        assert!(v3_group_version(&all, "", "v2").is_none());
    }

    #[test]
    fn custom_resource_paths_and_operations() {
        let all = served();
        let doc = v3_group_version(&all, "cert-manager.io", "v1").unwrap();
        assert_eq!(doc["openapi"], "3.0.0");
        let paths = doc["paths"].as_object().unwrap();
        let base = "/apis/cert-manager.io/v1/namespaces/{namespace}/certificates";
        let want_gvk = json!({"group": "cert-manager.io", "kind": "Certificate", "version": "v1"});
        let expected = [
            (
                "/apis/cert-manager.io/v1/certificates",
                "get",
                "list",
                "listCertManagerIoV1CertificateForAllNamespaces",
            ),
            (
                base,
                "get",
                "list",
                "listCertManagerIoV1NamespacedCertificate",
            ),
            (
                base,
                "post",
                "post",
                "createCertManagerIoV1NamespacedCertificate",
            ),
            (
                base,
                "delete",
                "deletecollection",
                "deleteCollectionCertManagerIoV1NamespacedCertificate",
            ),
            (
                &format!("{base}/{{name}}"),
                "get",
                "get",
                "readCertManagerIoV1NamespacedCertificate",
            ),
            (
                &format!("{base}/{{name}}"),
                "put",
                "put",
                "replaceCertManagerIoV1NamespacedCertificate",
            ),
            (
                &format!("{base}/{{name}}"),
                "patch",
                "patch",
                "patchCertManagerIoV1NamespacedCertificate",
            ),
            (
                &format!("{base}/{{name}}"),
                "delete",
                "delete",
                "deleteCertManagerIoV1NamespacedCertificate",
            ),
            (
                &format!("{base}/{{name}}/status"),
                "get",
                "get",
                "readCertManagerIoV1NamespacedCertificateStatus",
            ),
            (
                &format!("{base}/{{name}}/status"),
                "put",
                "put",
                "replaceCertManagerIoV1NamespacedCertificateStatus",
            ),
            (
                &format!("{base}/{{name}}/status"),
                "patch",
                "patch",
                "patchCertManagerIoV1NamespacedCertificateStatus",
            ),
        ];
        for (path, method, action, id) in expected {
            let op = &paths
                .get(path)
                .unwrap_or_else(|| panic!("missing path {path}"))[method];
            assert_eq!(op["x-kubernetes-action"], action, "{method} {path}");
            assert_eq!(op["operationId"], id, "{method} {path}");
            assert_eq!(
                op["x-kubernetes-group-version-kind"], want_gvk,
                "{method} {path}"
            );
            assert_eq!(op["tags"], json!(["certManagerIo_v1"]));
        }
        let patch = &paths[&format!("{base}/{{name}}")]["patch"];
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        let content = patch["requestBody"]["content"].as_object().unwrap();
        assert!(content.contains_key("application/apply-patch+yaml"));
        assert!(content.contains_key("application/merge-patch+json"));
        assert!(!content.contains_key("application/strategic-merge-patch+json"));
        let item_params = paths[&format!("{base}/{{name}}")]["parameters"]
            .as_array()
            .unwrap();
        assert_eq!(item_params[0]["name"], "name");
        assert_eq!(item_params[0]["in"], "path");
        assert_eq!(item_params[0]["required"], true);
        assert_eq!(item_params[1]["name"], "namespace");
        // Issuers have no /status in the fixture CRDs only if they say so.
        let issuer = info(&all, "cert-manager.io", "clusterissuers");
        assert!(!issuer.namespaced);
        assert!(paths.contains_key("/apis/cert-manager.io/v1/clusterissuers/{name}"));
        assert!(
            !paths
                .keys()
                .any(|p| p.contains("namespaces/{namespace}/clusterissuers"))
        );
        assert_eq!(
            paths.contains_key("/apis/cert-manager.io/v1/clusterissuers/{name}/status"),
            issuer.status_subresource
        );
        assert!(paths.contains_key("/apis/cert-manager.io/v1/"));
        check_refs(&doc, &doc);
    }

    #[test]
    fn status_path_only_when_served() {
        let mut all = served();
        let cert = all.iter_mut().find(|r| r.kind == "Certificate").unwrap();
        cert.status_subresource = false;
        let doc = v3_group_version(&all, "cert-manager.io", "v1").unwrap();
        assert!(
            !doc["paths"]
                .as_object()
                .unwrap()
                .keys()
                .any(|p| p.contains("certificates/{name}/status"))
        );
    }

    #[test]
    fn kubectl_detects_field_validation_for_every_kind() {
        let all = served();
        for info in &all {
            let doc = v3_group_version(&all, &info.group, &info.version).unwrap();
            for param in ["fieldValidation", "fieldManager", "dryRun", "force"] {
                assert!(
                    supports_query_param(&doc, &info.group, &info.version, &info.kind, param),
                    "{} {param}",
                    info.kind
                );
            }
            // Lists are never matched (kubectl asks the API server about the kind).
            assert!(!supports_query_param(
                &doc,
                &info.group,
                &info.version,
                &info.list_kind,
                "fieldValidation"
            ));
        }
        // The fallback kubectl uses for CRDs missing from the documents.
        let core = v3_group_version(&all, "", "v1").unwrap();
        assert!(supports_query_param(
            &core,
            "",
            "v1",
            "Namespace",
            "fieldValidation"
        ));
    }

    #[test]
    fn custom_resource_schema_is_the_crd_schema_completed() {
        let all = served();
        let cert = info(&all, "cert-manager.io", "certificates");
        let doc = v3_group_version(&all, "cert-manager.io", "v1").unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let s = &schemas["io.cert-manager.v1.Certificate"];
        assert_eq!(
            s["x-kubernetes-group-version-kind"],
            json!([{"group": "cert-manager.io", "kind": "Certificate", "version": "v1"}])
        );
        assert_eq!(s["type"], "object");
        let crd_schema = cert.schema.as_ref().unwrap();
        assert_eq!(s["properties"]["spec"], crd_schema["properties"]["spec"]);
        assert_eq!(s["description"], crd_schema["description"]);
        assert_eq!(s["properties"]["apiVersion"]["type"], "string");
        assert_eq!(s["properties"]["kind"]["type"], "string");
        let meta_ref = s["properties"]["metadata"]["allOf"][0]["$ref"]
            .as_str()
            .unwrap();
        assert_eq!(
            resolve(&doc, meta_ref)["properties"]["name"]["type"],
            "string"
        );
        let list = &schemas["io.cert-manager.v1.CertificateList"];
        assert_eq!(
            list["x-kubernetes-group-version-kind"][0]["kind"],
            "CertificateList"
        );
        assert_eq!(
            list["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/io.cert-manager.v1.Certificate"
        );
        // Only this group-version's kinds (and meta) are in the document.
        assert!(!schemas.contains_key("io.cert-manager.acme.v1.Order"));
        assert!(
            schemas
                .keys()
                .all(|k| k.starts_with("io.cert-manager.v1.") || k.starts_with(META))
        );
    }

    /// What `kubectl explain` does: the GVK of the first operation on the resource's
    /// paths must be one listed by exactly the kind's schema.
    #[test]
    fn explain_finds_the_schema_of_each_resource() {
        let all = served();
        for info in &all {
            let doc = v3_group_version(&all, &info.group, &info.version).unwrap();
            let prefix = api_prefix(&info.group, &info.version);
            let path = if info.namespaced {
                format!("{prefix}/namespaces/{{namespace}}/{}", info.plural)
            } else {
                format!("{prefix}/{}", info.plural)
            };
            let op_gvk = &doc["paths"][&path]["get"]["x-kubernetes-group-version-kind"];
            let matching: Vec<&String> = doc["components"]["schemas"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, s)| {
                    s["x-kubernetes-group-version-kind"]
                        .as_array()
                        .is_some_and(|l| l.contains(op_gvk))
                })
                .map(|(k, _)| k)
                .collect();
            assert_eq!(
                matching,
                [&definition_name(info, &info.kind)],
                "{}",
                info.kind
            );
        }
    }

    #[test]
    fn builtin_kinds_are_permissive_and_named_like_kube() {
        let all = served();
        let core = v3_group_version(&all, "", "v1").unwrap();
        let ns = &core["components"]["schemas"]["io.k8s.api.core.v1.Namespace"];
        assert_eq!(ns["x-kubernetes-preserve-unknown-fields"], true);
        assert_eq!(
            ns["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "Namespace", "version": "v1"}])
        );
        let paths = core["paths"].as_object().unwrap();
        assert_eq!(
            paths["/api/v1/namespaces"]["get"]["operationId"],
            "listCoreV1Namespace"
        );
        assert!(
            paths["/api/v1/namespaces"].get("delete").is_none(),
            "namespaces have no deletecollection"
        );
        assert_eq!(
            paths["/api/v1/namespaces/{name}/finalize"]["put"]["operationId"],
            "replaceCoreV1NamespaceFinalize"
        );
        assert_eq!(
            paths["/api/v1/namespaces/{namespace}/secrets/{name}"]["patch"]["operationId"],
            "patchCoreV1NamespacedSecret"
        );
        assert_eq!(
            paths["/api/v1/secrets"]["get"]["operationId"],
            "listCoreV1SecretForAllNamespaces"
        );
        assert!(!paths.contains_key("/api/v1/namespaces/{namespace}/secrets/{name}/status"));
        assert!(paths.contains_key("/api/v1/namespaces/{namespace}/pods/{name}/status"));
        let patch_types = paths["/api/v1/namespaces/{namespace}/secrets/{name}"]["patch"]["requestBody"]["content"]
            .as_object()
            .unwrap();
        assert!(!patch_types.contains_key("application/strategic-merge-patch+json"));
        check_refs(&core, &core);
        let rbac = v3_group_version(&all, "rbac.authorization.k8s.io", "v1").unwrap();
        assert!(
            rbac["components"]["schemas"]
                .get("io.k8s.api.rbac.v1.ClusterRole")
                .is_some()
        );
        assert_eq!(
            rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["patch"]["operationId"],
            "patchRbacAuthorizationV1ClusterRole"
        );
        assert_eq!(
            rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["patch"]["tags"],
            json!(["rbacAuthorization_v1"])
        );
        let crd = v3_group_version(&all, "apiextensions.k8s.io", "v1").unwrap();
        assert!(
            crd["components"]["schemas"]
                .get("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
                .is_some()
        );
    }

    #[test]
    fn v2_has_definitions_and_swagger_paths() {
        let all = served();
        let doc = v2(&all);
        assert_eq!(doc["swagger"], "2.0");
        let defs = doc["definitions"].as_object().unwrap();
        let cert = &defs["io.cert-manager.v1.Certificate"];
        assert_eq!(
            cert["x-kubernetes-group-version-kind"],
            json!([{"group": "cert-manager.io", "kind": "Certificate", "version": "v1"}])
        );
        assert_eq!(
            cert["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(defs.contains_key("io.k8s.api.core.v1.Namespace"));
        assert!(defs.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
        assert!(!doc.to_string().contains("#/components/"));
        assert!(!doc.to_string().contains("\"nullable\""));
        let patch = &doc["paths"]["/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/{name}"]
            ["patch"];
        let params = patch["parameters"].as_array().unwrap();
        assert_eq!(params[0]["in"], "body");
        assert_eq!(params[0]["required"], true);
        let fv = params
            .iter()
            .find(|p| p["name"] == "fieldValidation")
            .unwrap();
        assert_eq!(fv["in"], "query");
        assert_eq!(fv["type"], "string");
        assert!(
            patch["consumes"]
                .as_array()
                .unwrap()
                .contains(&json!("application/merge-patch+json"))
        );
        assert_eq!(
            patch["responses"]["200"]["schema"]["$ref"],
            "#/definitions/io.cert-manager.v1.Certificate"
        );
    }

    #[test]
    fn v2_schema_drops_v3_only_keywords_but_not_field_names() {
        let s = json!({
            "type": "object",
            "properties": {
                "nullable": {"type": "string", "nullable": true},
                "x": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true},
            },
        });
        let v2 = v2_schema(&s);
        assert_eq!(v2["properties"]["nullable"], json!({"type": "string"}));
        assert_eq!(
            v2["properties"]["x"],
            json!({"x-kubernetes-int-or-string": true})
        );
    }

    #[test]
    fn content_hash_is_stable_hex() {
        assert_eq!(content_hash(b"abc"), content_hash(b"abc"));
        assert_ne!(content_hash(b"abc"), content_hash(b"abd"));
        assert_eq!(content_hash(b""), "6C62272E07BB014262B821756295C58D");
    }
}
