//! Field ownership as kube-apiserver tracks it in `metadata.managedFields`
//! (structured-merge-diff's field sets, serialized as `fieldsType: FieldsV1`), and
//! server-side apply.
//!
//! - [`FieldSet`]: a set of field paths; [`FieldSet::to_fields_v1`] gives the JSON of a
//!   managedFields entry (`{"f:spec":{".":{},"f:size":{}}}`), with items of
//!   `x-kubernetes-list-type: map` lists as `k:{"type":"Ready"}`, of `set` lists as
//!   `v:"value"`; other lists (and atomic maps) are owned as a whole.
//! - [`ListTypes`]: where the list types come from: a CRD's `openAPIV3Schema`
//!   ([`SchemaListTypes`]) or a small table for built-in kinds ([`BuiltinListTypes`]).
//! - [`record_update`]: the managedFields bookkeeping of a create, update or patch
//!   (`operation: Update`): changed fields move to the writer.
//! - [`apply`]: server-side apply (`operation: Apply`), with conflicts ([`ApplyError`])
//!   worded as kube-apiserver words them.
//!
//! As in kube-apiserver, `apiVersion`, `kind`, `metadata` itself and the server-maintained
//! metadata fields (`name`, `namespace`, `uid`, `resourceVersion`, `generation`,
//! `creationTimestamp`, `managedFields`, …) are never owned; labels, annotations,
//! finalizers, ownerReferences and generateName are. With a status subresource, writes to
//! the main resource own nothing under `status` and writes to `/status` own only `status`.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::patch::pod_spec_subpath;

// ---------------------------------------------------------------------------------------
// Paths and field sets
// ---------------------------------------------------------------------------------------

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a map: `f:name`, printed `.name`.
    Field(String),
    /// An item of a `map` list, by its key fields (sorted by name, values as compact
    /// JSON): `k:{"type":"Ready"}`, printed `[type="Ready"]`.
    Key(Vec<(String, String)>),
    /// An item of a `set` list, as compact JSON: `v:"a"`, printed `[="a"]`.
    Value(String),
    /// An item of a list by position: `i:0`, printed `[0]`.
    Index(usize),
}

impl PathElement {
    /// The key of this element in FieldsV1 JSON.
    pub fn fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|(n, v)| format!("{}:{v}", Value::String(n.clone())))
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a FieldsV1 key (`f:…`, `k:…`, `v:…`, `i:…`).
    pub fn parse_fields_v1_key(key: &str) -> Result<Self, String> {
        if let Some(f) = key.strip_prefix("f:") {
            return Ok(PathElement::Field(f.to_string()));
        }
        if let Some(k) = key.strip_prefix("k:") {
            let m: Map<String, Value> =
                serde_json::from_str(k).map_err(|e| format!("invalid key {key}: {e}"))?;
            let mut pairs: Vec<(String, String)> =
                m.iter().map(|(n, v)| (n.clone(), v.to_string())).collect();
            pairs.sort();
            return Ok(PathElement::Key(pairs));
        }
        if let Some(v) = key.strip_prefix("v:") {
            let parsed: Value =
                serde_json::from_str(v).map_err(|e| format!("invalid value {key}: {e}"))?;
            return Ok(PathElement::Value(parsed.to_string()));
        }
        if let Some(i) = key.strip_prefix("i:") {
            return i
                .parse()
                .map(PathElement::Index)
                .map_err(|e| format!("invalid index {key}: {e}"));
        }
        Err(format!("unknown path element {key}"))
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(pairs) => {
                let inner: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
                write!(f, "[{}]", inner.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A field path from the object root.
pub type Path = Vec<PathElement>;

/// A path as kube prints it in conflicts: `.spec.size`, `.status.conditions[type="Ready"]`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of field paths (the members of a structured-merge-diff `fieldpath.Set`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    paths: BTreeSet<Path>,
}

impl FieldSet {
    pub fn new() -> Self {
        FieldSet::default()
    }

    pub fn insert(&mut self, path: Path) {
        self.paths.insert(path);
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.paths.contains(path)
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// The member paths, sorted.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Path> {
        self.paths.iter()
    }

    /// The member paths as kube prints them (`.spec.size`).
    pub fn to_strings(&self) -> Vec<String> {
        self.paths.iter().map(|p| path_string(p)).collect()
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.union(&other.paths).cloned().collect(),
        }
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.difference(&other.paths).cloned().collect(),
        }
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.intersection(&other.paths).cloned().collect(),
        }
    }

    /// Whether some member lies strictly below `prefix`.
    pub fn has_descendant(&self, prefix: &[PathElement]) -> bool {
        self.paths
            .range(prefix.to_vec()..)
            .skip_while(|p| p.as_slice() == prefix)
            .take_while(|p| p.starts_with(prefix))
            .next()
            .is_some()
    }

    fn retain(&mut self, f: impl Fn(&Path) -> bool) {
        self.paths.retain(|p| f(p));
    }

    /// The FieldsV1 JSON of this set: nested `f:`/`k:`/`v:`/`i:` keys, `{}` for a member
    /// without members below it and `".": {}` for a member with some.
    pub fn to_fields_v1(&self) -> Value {
        #[derive(Default)]
        struct Node {
            member: bool,
            children: BTreeMap<PathElement, Node>,
        }
        fn to_json(node: &Node) -> Value {
            let mut m = Map::new();
            if node.member && !node.children.is_empty() {
                m.insert(".".into(), Value::Object(Map::new()));
            }
            for (pe, child) in &node.children {
                m.insert(pe.fields_v1_key(), to_json(child));
            }
            Value::Object(m)
        }
        let mut root = Node::default();
        for path in &self.paths {
            let mut node = &mut root;
            for pe in path {
                node = node.children.entry(pe.clone()).or_default();
            }
            node.member = true;
        }
        to_json(&root)
    }

    /// Parses FieldsV1 JSON.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        fn walk(v: &Value, prefix: &mut Path, out: &mut FieldSet) -> Result<(), String> {
            let Value::Object(m) = v else {
                return Err(format!("expected an object at {}", path_string(prefix)));
            };
            for (k, child) in m {
                if k == "." {
                    out.insert(prefix.clone());
                    continue;
                }
                prefix.push(PathElement::parse_fields_v1_key(k)?);
                match child {
                    Value::Object(c) if c.is_empty() => out.insert(prefix.clone()),
                    _ => walk(child, prefix, out)?,
                }
                prefix.pop();
            }
            Ok(())
        }
        let mut out = FieldSet::new();
        walk(v, &mut Vec::new(), &mut out)?;
        Ok(out)
    }
}

impl FromIterator<Path> for FieldSet {
    fn from_iter<T: IntoIterator<Item = Path>>(iter: T) -> Self {
        FieldSet {
            paths: iter.into_iter().collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// List types
// ---------------------------------------------------------------------------------------

/// How a list's items are identified (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Owned and replaced as a whole.
    Atomic,
    /// Items are primitives identified by value.
    Set,
    /// Items are maps identified by these key fields (`x-kubernetes-list-map-keys`).
    Map(Vec<String>),
}

/// Type information the field tracking needs. Paths are field names from the object
/// root; list items add nothing (`["spec", "containers", "env"]`).
pub trait ListTypes {
    /// The type of the list at `path`.
    fn list_type(&self, path: &[String]) -> ListType;

    /// Whether the map at `path` is atomic (owned as a whole); for a list path, whether
    /// its items are.
    fn map_is_atomic(&self, _path: &[String]) -> bool {
        false
    }

    /// The fields an empty object of this type already has once decoded (non-pointer
    /// structs of built-in types are `{}`, some fields `null` or `""`). Changes from them
    /// count as modifications, not additions (no `"."` entry for the map).
    fn empty_object(&self) -> Value {
        Value::Object(Map::new())
    }

    /// Whether `status` is written only through the `/status` subresource.
    fn status_subresource(&self) -> bool {
        true
    }
}

fn metadata_list_type(path: &[String]) -> Option<ListType> {
    match path {
        [m, f] if m == "metadata" => Some(match f.as_str() {
            "ownerReferences" => ListType::Map(vec!["uid".into()]),
            "finalizers" => ListType::Set,
            _ => ListType::Atomic,
        }),
        [m, ..] if m == "metadata" => Some(ListType::Atomic),
        _ => None,
    }
}

fn is_owner_references(path: &[String]) -> bool {
    path.len() == 2 && path[0] == "metadata" && path[1] == "ownerReferences"
}

/// List types of a custom resource, from its `openAPIV3Schema`
/// (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`);
/// `metadata` follows ObjectMeta (ownerReferences by uid, finalizers a set).
#[derive(Debug, Clone, Copy)]
pub struct SchemaListTypes<'a> {
    schema: Option<&'a Value>,
    status_subresource: bool,
}

impl<'a> SchemaListTypes<'a> {
    pub fn new(schema: Option<&'a Value>, status_subresource: bool) -> Self {
        SchemaListTypes {
            schema,
            status_subresource,
        }
    }

    fn node(&self, path: &[String]) -> Option<&'a Value> {
        let mut node = self.schema?;
        for seg in path {
            while node.get("type").and_then(Value::as_str) == Some("array") {
                node = node.get("items")?;
            }
            node = match node.get("properties").and_then(|p| p.get(seg)) {
                Some(n) => n,
                None => match node.get("additionalProperties") {
                    Some(n) if n.is_object() => n,
                    _ => return None,
                },
            };
        }
        Some(node)
    }
}

impl ListTypes for SchemaListTypes<'_> {
    fn list_type(&self, path: &[String]) -> ListType {
        if let Some(t) = metadata_list_type(path) {
            return t;
        }
        if self.schema.is_none() {
            return BuiltinListTypes::new("", "").list_type(path);
        }
        let Some(node) = self.node(path) else {
            return ListType::Atomic;
        };
        match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                node.get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        }
    }

    fn map_is_atomic(&self, path: &[String]) -> bool {
        if is_owner_references(path) {
            return true;
        }
        let Some(mut node) = self.node(path) else {
            return false;
        };
        if node.get("type").and_then(Value::as_str) == Some("array") {
            match node.get("items") {
                Some(items) => node = items,
                None => return false,
            }
        }
        node.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
    }

    fn status_subresource(&self) -> bool {
        self.status_subresource
    }
}

/// List types of built-in kinds: ObjectMeta's lists, `status.conditions` by `type`, the
/// Pod spec lists (containers by name, env by name, ports by containerPort+protocol,
/// volumeMounts by mountPath, volumes by name, …), Service ports by port+protocol;
/// everything else atomic.
#[derive(Debug, Clone)]
pub struct BuiltinListTypes {
    api_version: String,
    kind: String,
}

impl BuiltinListTypes {
    pub fn new(api_version: &str, kind: &str) -> Self {
        BuiltinListTypes {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }
    }
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

fn keys(names: &[&str]) -> ListType {
    ListType::Map(names.iter().map(|s| s.to_string()).collect())
}

impl ListTypes for BuiltinListTypes {
    fn list_type(&self, path: &[String]) -> ListType {
        if let Some(t) = metadata_list_type(path) {
            return t;
        }
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        if p.as_slice() == ["status", "conditions"] {
            return keys(&["type"]);
        }
        if let Some(sub) = pod_spec_subpath(&self.kind, path) {
            let s: Vec<&str> = sub.iter().map(String::as_str).collect();
            return match s.as_slice() {
                [c] if CONTAINER_LISTS.contains(c) => keys(&["name"]),
                [c, "env"] if CONTAINER_LISTS.contains(c) => keys(&["name"]),
                [c, "ports"] if CONTAINER_LISTS.contains(c) => keys(&["containerPort", "protocol"]),
                [c, "volumeMounts"] if CONTAINER_LISTS.contains(c) => keys(&["mountPath"]),
                [c, "volumeDevices"] if CONTAINER_LISTS.contains(c) => keys(&["devicePath"]),
                ["volumes"] | ["imagePullSecrets"] | ["resourceClaims"] => keys(&["name"]),
                ["hostAliases"] => keys(&["ip"]),
                _ => ListType::Atomic,
            };
        }
        match (self.kind.as_str(), p.as_slice()) {
            ("Service", ["spec", "ports"]) => keys(&["port", "protocol"]),
            _ => ListType::Atomic,
        }
    }

    fn map_is_atomic(&self, path: &[String]) -> bool {
        if is_owner_references(path) {
            return true;
        }
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        matches!(
            (self.api_version.as_str(), self.kind.as_str(), p.as_slice()),
            ("v1", "Event", ["involvedObject"] | ["related"])
                | ("events.k8s.io/v1", "Event", ["regarding"] | ["related"])
                | (_, "Service", ["spec", "selector"])
                | (
                    _,
                    "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job",
                    ["spec", "selector"],
                )
        )
    }

    fn empty_object(&self) -> Value {
        match (self.api_version.as_str(), self.kind.as_str()) {
            ("v1", "Event") => serde_json::json!({
                "involvedObject": {}, "source": {}, "firstTimestamp": null,
                "lastTimestamp": null, "eventTime": null,
                "reportingComponent": "", "reportingInstance": ""
            }),
            ("events.k8s.io/v1", "Event") => serde_json::json!({
                "regarding": {}, "deprecatedSource": {}, "deprecatedFirstTimestamp": null,
                "deprecatedLastTimestamp": null, "eventTime": null
            }),
            (_, "Lease") => serde_json::json!({"spec": {}}),
            ("v1", "Pod") => serde_json::json!({"spec": {"containers": null}, "status": {}}),
            ("v1", "Service") => serde_json::json!({"spec": {}, "status": {"loadBalancer": {}}}),
            ("v1", "Namespace") => serde_json::json!({"spec": {}, "status": {}}),
            _ => Value::Object(Map::new()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Walking objects
// ---------------------------------------------------------------------------------------

/// What a write may own: the main resource or the status subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The main resource; `status` excluded when it has its own subresource.
    Main { status_subresource: bool },
    /// `/status`: only `status`.
    Status,
}

impl Scope {
    fn new(subresource: Option<&str>, lt: &dyn ListTypes) -> Self {
        match subresource {
            Some("status") => Scope::Status,
            _ => Scope::Main {
                status_subresource: lt.status_subresource(),
            },
        }
    }

    fn contains(self, path: &[PathElement]) -> bool {
        let field = |i: usize| match path.get(i) {
            Some(PathElement::Field(f)) => Some(f.as_str()),
            _ => None,
        };
        // Never owned (kube's stripMetaManager).
        match (field(0), path.len()) {
            (Some("apiVersion" | "kind" | "metadata"), 1) => return false,
            (Some("metadata"), 2) => {
                if matches!(
                    field(1),
                    Some(
                        "name"
                            | "namespace"
                            | "creationTimestamp"
                            | "selfLink"
                            | "uid"
                            | "clusterName"
                            | "generation"
                            | "managedFields"
                            | "resourceVersion"
                    )
                ) {
                    return false;
                }
            }
            (Some("metadata"), _) if field(1) == Some("managedFields") => return false,
            _ => {}
        }
        let is_status = field(0) == Some("status");
        match self {
            Scope::Status => is_status,
            Scope::Main { status_subresource } => !(status_subresource && is_status),
        }
    }

    fn filter(self, mut set: FieldSet) -> FieldSet {
        set.retain(|p| self.contains(p));
        set
    }
}

/// The key path element of an item of a `map` list.
fn item_key(item: &Value, keys: &[String]) -> Option<PathElement> {
    let m = item.as_object()?;
    let mut pairs: Vec<(String, String)> = keys
        .iter()
        .filter_map(|k| m.get(k).map(|v| (k.clone(), v.to_string())))
        .collect();
    pairs.sort();
    Some(PathElement::Key(pairs))
}

fn is_granular_map(v: &Value, names: &[String], lt: &dyn ListTypes) -> bool {
    v.is_object() && !lt.map_is_atomic(names)
}

fn is_granular_list(v: &Value, names: &[String], lt: &dyn ListTypes) -> bool {
    v.is_array() && lt.list_type(names) != ListType::Atomic
}

fn insert_fields(
    v: &Value,
    path: &mut Path,
    names: &mut Vec<String>,
    lt: &dyn ListTypes,
    out: &mut FieldSet,
) {
    match v {
        Value::Object(m) if is_granular_map(v, names, lt) => {
            for (k, child) in m {
                path.push(PathElement::Field(k.clone()));
                names.push(k.clone());
                insert_fields(child, path, names, lt, out);
                names.pop();
                path.pop();
            }
        }
        Value::Array(items) if is_granular_list(v, names, lt) => match lt.list_type(names) {
            ListType::Map(keys) => {
                for item in items {
                    let pe = item_key(item, &keys).unwrap_or(PathElement::Value(item.to_string()));
                    path.push(pe);
                    out.insert(path.clone());
                    if is_granular_map(item, names, lt) {
                        insert_fields(item, path, names, lt, out);
                    }
                    path.pop();
                }
            }
            _ => {
                for item in items {
                    path.push(PathElement::Value(item.to_string()));
                    out.insert(path.clone());
                    path.pop();
                }
            }
        },
        _ => out.insert(path.clone()),
    }
}

/// The fields an object sets, as server-side apply counts them for an applied
/// configuration: leaves, atomic lists and maps, and the items of `map` and `set` lists
/// (maps themselves are not members). Fields that are never owned are left out, and so is
/// `status` (main resource with a status subresource) or all but `status`
/// (`subresource: Some("status")`).
pub fn fields_of(obj: &Value, subresource: Option<&str>, list_types: &dyn ListTypes) -> FieldSet {
    let mut out = FieldSet::new();
    insert_fields(obj, &mut Vec::new(), &mut Vec::new(), list_types, &mut out);
    Scope::new(subresource, list_types).filter(out)
}

/// What changed between two versions of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    fn filter(self, scope: Scope) -> Self {
        Comparison {
            added: scope.filter(self.added),
            modified: scope.filter(self.modified),
            removed: scope.filter(self.removed),
        }
    }
}

struct Comparer<'a> {
    lt: &'a dyn ListTypes,
    out: Comparison,
}

fn granular_container<'v>(
    v: Option<&'v Value>,
    names: &[String],
    lt: &dyn ListTypes,
) -> Option<&'v Value> {
    v.filter(|v| is_granular_map(v, names, lt) || is_granular_list(v, names, lt))
}

fn is_empty_value(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

impl Comparer<'_> {
    fn leaf(&mut self, path: &Path, lhs: Option<&Value>, rhs: Option<&Value>) {
        match (lhs, rhs) {
            (None, Some(_)) => self.out.added.insert(path.clone()),
            (Some(_), None) => self.out.removed.insert(path.clone()),
            (Some(a), Some(b)) if a != b => self.out.modified.insert(path.clone()),
            _ => {}
        }
    }

    fn walk(
        &mut self,
        path: &mut Path,
        names: &mut Vec<String>,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
    ) {
        let lt = self.lt;
        let container = |v| granular_container(v, names, lt);
        let (lc, rc) = (container(lhs), container(rhs));
        // Empty or absent on both sides: a leaf (keeps the empty / null distinction).
        if (is_empty_value(lhs) && is_empty_value(rhs)) || (lc.is_none() && rc.is_none()) {
            self.leaf(path, lhs, rhs);
            return;
        }
        let same_shape = matches!((lc, rc), (Some(a), Some(b)) if a.is_object() == b.is_object());
        if !same_shape {
            match (lhs, rhs) {
                (None, _) => self.out.added.insert(path.clone()),
                (_, None) => self.out.removed.insert(path.clone()),
                (Some(Value::Null), _) if rc.is_some() => {}
                _ => self.out.modified.insert(path.clone()),
            }
        }
        let (lc, rc) = if same_shape {
            (lc, rc)
        } else if rc.is_some() {
            (None, rc)
        } else {
            (lc, None)
        };
        self.children(path, names, lc, rc);
    }

    fn children(
        &mut self,
        path: &mut Path,
        names: &mut Vec<String>,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
    ) {
        let is_map = lhs.or(rhs).is_some_and(Value::is_object);
        if is_map {
            let empty = Map::new();
            let l = lhs.and_then(Value::as_object).unwrap_or(&empty);
            let r = rhs.and_then(Value::as_object).unwrap_or(&empty);
            let keys: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
            for k in keys {
                path.push(PathElement::Field(k.clone()));
                names.push(k.clone());
                self.walk(path, names, l.get(k), r.get(k));
                names.pop();
                path.pop();
            }
            return;
        }
        let empty = Vec::new();
        let l = lhs.and_then(Value::as_array).unwrap_or(&empty);
        let r = rhs.and_then(Value::as_array).unwrap_or(&empty);
        let list_type = self.lt.list_type(names);
        let key_of = |item: &Value| -> PathElement {
            match &list_type {
                ListType::Map(keys) => {
                    item_key(item, keys).unwrap_or(PathElement::Value(item.to_string()))
                }
                _ => PathElement::Value(item.to_string()),
            }
        };
        let mut items: BTreeMap<PathElement, (Option<&Value>, Option<&Value>)> = BTreeMap::new();
        for item in l {
            items.entry(key_of(item)).or_default().0 = Some(item);
        }
        for item in r {
            items.entry(key_of(item)).or_default().1 = Some(item);
        }
        for (pe, (li, ri)) in items {
            let keyed_map = matches!(pe, PathElement::Key(_));
            path.push(pe);
            if keyed_map {
                self.walk(path, names, li, ri);
            } else {
                self.leaf(path, li, ri);
            }
            path.pop();
        }
    }
}

/// Fills the fields of `skeleton` missing from `obj` (recursively into maps).
fn fill_from(obj: &mut Value, skeleton: &Value) {
    let (Value::Object(o), Value::Object(s)) = (obj, skeleton) else {
        return;
    };
    for (k, sv) in s {
        match o.get_mut(k) {
            Some(ov) => fill_from(ov, sv),
            None => {
                o.insert(k.clone(), sv.clone());
            }
        }
    }
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    o
}

/// The fields added, modified and removed from `old` (`None` on create) to `new`, within
/// what a write to `subresource` may own.
pub fn compare(
    old: Option<&Value>,
    new: &Value,
    subresource: Option<&str>,
    list_types: &dyn ListTypes,
) -> Comparison {
    let skeleton = list_types.empty_object();
    let mut l = old
        .map(without_managed_fields)
        .unwrap_or(Value::Object(Map::new()));
    let mut r = without_managed_fields(new);
    fill_from(&mut l, &skeleton);
    fill_from(&mut r, &skeleton);
    let mut c = Comparer {
        lt: list_types,
        out: Comparison::default(),
    };
    c.walk(&mut Vec::new(), &mut Vec::new(), Some(&l), Some(&r));
    c.out.filter(Scope::new(subresource, list_types))
}

// ---------------------------------------------------------------------------------------
// managedFields entries
// ---------------------------------------------------------------------------------------

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFieldsEntry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub subresource: Option<String>,
    /// RFC 3339, seconds precision.
    pub time: Option<String>,
    pub fields: FieldSet,
}

fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

impl ManagedFieldsEntry {
    /// kube's manager identifier: the entry's JSON without fields and time, and without
    /// apiVersion for appliers. Entries with the same identifier are the same manager.
    pub fn identifier(&self) -> String {
        let mut s = format!(
            "{{\"manager\":{},\"operation\":{}",
            json_string(&self.manager),
            json_string(&self.operation)
        );
        if self.operation != "Apply" && !self.api_version.is_empty() {
            s.push_str(&format!(
                ",\"apiVersion\":{}",
                json_string(&self.api_version)
            ));
        }
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(",\"subresource\":{}", json_string(sub)));
        }
        s.push('}');
        s
    }

    /// How conflicts name this manager: `"a"`, `"upd" using example.certgate.test/v1`,
    /// `"ctrl" with subresource "status"`.
    pub fn display_name(&self) -> String {
        let mut s = json_string(&self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {}", json_string(sub)));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    /// The entry as it appears in `metadata.managedFields`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("apiVersion".into(), self.api_version.clone().into());
        m.insert("fieldsType".into(), "FieldsV1".into());
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        m.insert("manager".into(), self.manager.clone().into());
        m.insert("operation".into(), self.operation.clone().into());
        if let Some(sub) = &self.subresource {
            m.insert("subresource".into(), sub.clone().into());
        }
        if let Some(t) = &self.time {
            m.insert("time".into(), t.clone().into());
        }
        Value::Object(m)
    }

    /// Parses one entry.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        if let Some(t) = s("fieldsType")
            && t != "FieldsV1"
        {
            return Err(format!("unsupported fieldsType {t}"));
        }
        let fields = match v.get("fieldsV1") {
            Some(f) => FieldSet::from_fields_v1(f)?,
            None => FieldSet::new(),
        };
        Ok(ManagedFieldsEntry {
            manager: s("manager").unwrap_or_default(),
            operation: s("operation").ok_or("managedFields entry without operation")?,
            api_version: s("apiVersion").unwrap_or_default(),
            subresource: s("subresource").filter(|x| !x.is_empty()),
            time: s("time"),
            fields,
        })
    }
}

/// The entries of `obj`'s `metadata.managedFields` (empty when absent).
pub fn decode_managed_fields(obj: &Value) -> Result<Vec<ManagedFieldsEntry>, String> {
    match obj.get("metadata").and_then(|m| m.get("managedFields")) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(entries)) => entries.iter().map(ManagedFieldsEntry::from_json).collect(),
        Some(_) => Err("metadata.managedFields is not a list".into()),
    }
}

fn time_seconds(t: &Option<String>) -> i64 {
    t.as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_second())
}

/// `metadata.managedFields` for these entries in kube's order (Apply before Update, then
/// by time, manager, apiVersion, subresource); entries without fields are dropped.
pub fn encode_managed_fields(entries: &[ManagedFieldsEntry]) -> Value {
    let mut sorted: Vec<&ManagedFieldsEntry> =
        entries.iter().filter(|e| !e.fields.is_empty()).collect();
    sorted.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then(time_seconds(&p.time).cmp(&time_seconds(&q.time)))
            .then(p.manager.cmp(&q.manager))
            .then(p.api_version.cmp(&q.api_version))
            .then(p.subresource.cmp(&q.subresource))
    });
    Value::Array(
        sorted
            .into_iter()
            .map(ManagedFieldsEntry::to_json)
            .collect(),
    )
}

fn set_managed_fields(obj: &mut Value, entries: &[ManagedFieldsEntry]) {
    let encoded = encode_managed_fields(entries);
    let empty = encoded.as_array().is_none_or(Vec::is_empty);
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        if empty {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), encoded);
        }
    } else if !empty && let Value::Object(o) = obj {
        let mut meta = Map::new();
        meta.insert("managedFields".into(), encoded);
        o.insert("metadata".into(), Value::Object(meta));
    }
}

/// Whether two entry lists are the same but for their times.
fn same_but_times(a: &[ManagedFieldsEntry], b: &[ManagedFieldsEntry]) -> bool {
    let strip = |v: &[ManagedFieldsEntry]| {
        let mut out: Vec<(String, String, Vec<Path>)> = v
            .iter()
            .filter(|e| !e.fields.is_empty())
            .map(|e| {
                (
                    e.identifier(),
                    e.api_version.clone(),
                    e.fields.iter().cloned().collect(),
                )
            })
            .collect();
        out.sort();
        out
    };
    strip(a) == strip(b)
}

fn live_managed_fields(obj: Option<&Value>) -> Option<Value> {
    obj?.get("metadata")?.get("managedFields").cloned()
}

// ---------------------------------------------------------------------------------------
// Update (POST / PUT / PATCH)
// ---------------------------------------------------------------------------------------

/// Records a create (`old: None`), update or patch by `manager` in `new`'s
/// `metadata.managedFields`, as kube-apiserver does for non-apply writes
/// (`operation: Update`, with `subresource` for `/status` writes).
///
/// Call it with the final object (defaults applied, status / spec reset by the
/// subresource rules). The fields that were added or changed become the writer's and leave
/// every other manager; removed fields leave everyone; managers left without fields are
/// dropped. The writer's `time` becomes `now` when it took any field. A write that changes
/// nothing leaves `managedFields` as they were in `old`. If `new` carries a non-empty
/// `managedFields` of its own (a client editing them), those are the starting point
/// instead of `old`'s (not for subresources), as in kube.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    api_version: &str,
    now: &str,
    list_types: &dyn ListTypes,
) {
    let old_entries = old
        .map(decode_managed_fields)
        .and_then(Result::ok)
        .unwrap_or_default();
    let requested = if subresource.is_none() {
        decode_managed_fields(new)
            .ok()
            .filter(|entries| !entries.is_empty())
    } else {
        None
    };
    let mut entries = requested.unwrap_or_else(|| old_entries.clone());
    let cmp = compare(old, new, subresource, list_types);
    let changed = cmp.added.union(&cmp.modified);
    let me = ManagedFieldsEntry {
        manager: manager.to_string(),
        operation: "Update".into(),
        api_version: api_version.to_string(),
        subresource: subresource.map(str::to_string),
        time: Some(now.to_string()),
        fields: changed.clone(),
    };
    let my_id = me.identifier();
    let mut found = false;
    for e in entries.iter_mut() {
        if e.identifier() == my_id {
            found = true;
            let kept = e.fields.difference(&cmp.removed);
            if changed.is_empty() {
                e.fields = kept;
            } else {
                e.fields = kept.union(&changed);
                e.time = Some(now.to_string());
            }
        } else {
            e.fields = e.fields.difference(&changed).difference(&cmp.removed);
        }
    }
    if !found && !changed.is_empty() {
        entries.push(me);
    }
    entries.retain(|e| !e.fields.is_empty());
    if same_but_times(&entries, &old_entries) {
        // Nothing changed hands: keep the stored entries (and their times) verbatim.
        let stored = live_managed_fields(old);
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            match stored {
                Some(mf) => {
                    meta.insert("managedFields".into(), mf);
                }
                None => {
                    meta.remove("managedFields");
                }
            }
            return;
        }
    }
    set_managed_fields(new, &entries);
}

// ---------------------------------------------------------------------------------------
// Server-side apply
// ---------------------------------------------------------------------------------------

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// kube's manager identifier (see [`ManagedFieldsEntry::identifier`]).
    pub manager_id: String,
    /// How the message names the manager: `"a"`, `"upd" using example.certgate.test/v1`.
    pub manager: String,
    pub path: Path,
}

impl Conflict {
    /// The field as kube prints it: `.spec.size`.
    pub fn field(&self) -> String {
        path_string(&self.path)
    }
}

/// The conflicts of a refused apply, sorted by manager then field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicts(pub Vec<Conflict>);

impl Conflicts {
    /// `Apply failed with 1 conflict: conflict with "a": .spec.size`, or for several
    /// `Apply failed with 2 conflicts: conflicts with "a":\n- .spec.name\n- .spec.size`.
    pub fn message(&self) -> String {
        if let [only] = self.0.as_slice() {
            return format!(
                "Apply failed with 1 conflict: conflict with {}: {}",
                only.manager,
                only.field()
            );
        }
        let mut by_manager: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::new();
        for c in &self.0 {
            by_manager
                .entry(&c.manager_id)
                .or_insert((&c.manager, Vec::new()))
                .1
                .push(c.field());
        }
        let mut lines = Vec::new();
        for (display, fields) in by_manager.values() {
            lines.push(format!("conflicts with {display}:"));
            for f in fields {
                lines.push(format!("- {f}"));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.0.len(),
            lines.join("\n")
        )
    }

    /// `details.causes`: one `FieldManagerConflict` per field.
    pub fn causes(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|c| {
                    let mut m = Map::new();
                    m.insert("reason".into(), "FieldManagerConflict".into());
                    m.insert(
                        "message".into(),
                        format!("conflict with {}", c.manager).into(),
                    );
                    m.insert("field".into(), c.field().into());
                    Value::Object(m)
                })
                .collect(),
        )
    }
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// 409 Conflict: fields owned by other managers with other values (without force).
    #[error("{}", .0.message())]
    Conflict(Conflicts),
    /// 400 BadRequest, e.g. `metadata.managedFields must be nil`.
    #[error("{0}")]
    BadRequest(String),
}

impl ApplyError {
    pub fn code(&self) -> u16 {
        match self {
            ApplyError::Conflict(_) => 409,
            ApplyError::BadRequest(_) => 400,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApplyError::Conflict(_) => "Conflict",
            ApplyError::BadRequest(_) => "BadRequest",
        }
    }

    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The whole `Status` body kube-apiserver answers with.
    pub fn status_body(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), "Status".into());
        m.insert("apiVersion".into(), "v1".into());
        m.insert("metadata".into(), Value::Object(Map::new()));
        m.insert("status".into(), "Failure".into());
        m.insert("message".into(), self.message().into());
        m.insert("reason".into(), self.reason().into());
        if let ApplyError::Conflict(c) = self {
            let mut details = Map::new();
            details.insert("causes".into(), c.causes());
            m.insert("details".into(), Value::Object(details));
        }
        m.insert("code".into(), self.code().into());
        Value::Object(m)
    }
}

/// A value from an applied configuration with its `null` map entries dropped.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Merges an applied configuration into a live value: maps merge, `map` lists merge by
/// key, `set` lists unite, atomic lists and maps are replaced.
fn merge_applied(
    live: Option<&Value>,
    cfg: &Value,
    names: &mut Vec<String>,
    lt: &dyn ListTypes,
) -> Value {
    match (live, cfg) {
        (Some(Value::Object(l)), Value::Object(c)) if !lt.map_is_atomic(names) => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    out.remove(k);
                    continue;
                }
                names.push(k.clone());
                let merged = merge_applied(l.get(k), cv, names, lt);
                names.pop();
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(c)) => match lt.list_type(names) {
            ListType::Atomic => without_nulls(cfg),
            ListType::Set => {
                let mut out = l.clone();
                for item in c {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Value::Array(out)
            }
            ListType::Map(keys) => {
                let mut out = l.clone();
                for item in c {
                    let key = item_key(item, &keys);
                    let pos = key.as_ref().and_then(|k| {
                        out.iter()
                            .position(|o| item_key(o, &keys).as_ref() == Some(k))
                    });
                    match pos {
                        Some(i) => {
                            let merged = merge_applied(out.get(i), item, names, lt);
                            out[i] = merged;
                        }
                        None => out.push(without_nulls(item)),
                    }
                }
                Value::Array(out)
            }
        },
        _ => without_nulls(cfg),
    }
}

/// Removes the field at `path` from `obj`.
fn remove_path(obj: &mut Value, path: &[PathElement]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, obj) {
        (PathElement::Field(f), Value::Object(m)) => {
            if rest.is_empty() {
                m.remove(f);
            } else if let Some(child) = m.get_mut(f) {
                remove_path(child, rest);
            }
        }
        (PathElement::Key(pairs), Value::Array(items)) => {
            let names: Vec<String> = pairs.iter().map(|(n, _)| n.clone()).collect();
            let pos = items
                .iter()
                .position(|i| item_key(i, &names).as_ref() == Some(first));
            if let Some(i) = pos {
                if rest.is_empty() {
                    items.remove(i);
                } else {
                    remove_path(&mut items[i], rest);
                }
            }
        }
        (PathElement::Value(v), Value::Array(items)) if rest.is_empty() => {
            items.retain(|i| i.to_string().as_str() != v.as_str());
        }
        (PathElement::Index(i), Value::Array(items)) => {
            if rest.is_empty() {
                if *i < items.len() {
                    items.remove(*i);
                }
            } else if let Some(child) = items.get_mut(*i) {
                remove_path(child, rest);
            }
        }
        _ => {}
    }
}

/// Server-side apply of `applied` (the parsed `application/apply-patch+yaml` body) by
/// `manager` to `live` (`None`: the object does not exist yet and is created).
///
/// Returns the new object with its `metadata.managedFields`; it equals `live` when the
/// apply changes nothing (same object, same owners: the stored times are kept). Fields
/// the configuration sets that another manager owns and that would change are conflicts
/// (an error unless `force`, which moves them to `manager`); equal values become shared.
/// Fields `manager` applied before and no longer applies are removed from the object unless
/// another manager owns them. With a status subresource the main resource keeps the live
/// `status` (dropped on create) and `/status` changes nothing but `status`. Server-side
/// defaulting and validation are the caller's.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    api_version: &str,
    now: &str,
    list_types: &dyn ListTypes,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::BadRequest(
            "the applied configuration is not an object".into(),
        ));
    }
    if let Some(mf) = applied.get("metadata").and_then(|m| m.get("managedFields"))
        && !mf.is_null()
    {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let scope = Scope::new(subresource, list_types);
    let old_entries = live
        .map(decode_managed_fields)
        .and_then(Result::ok)
        .unwrap_or_default();
    let live_plain = live
        .map(without_managed_fields)
        .unwrap_or(Value::Object(Map::new()));

    // Merge, then prune what this manager applied before and no longer applies.
    let mut merged = merge_applied(Some(&live_plain), applied, &mut Vec::new(), list_types);
    let config_set = fields_of(applied, subresource, list_types);
    let me_template = ManagedFieldsEntry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        subresource: subresource.map(str::to_string),
        time: Some(now.to_string()),
        fields: config_set.clone(),
    };
    let my_id = me_template.identifier();
    let last_set = old_entries
        .iter()
        .find(|e| e.identifier() == my_id)
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut owned_elsewhere = config_set.clone();
    for e in old_entries.iter().filter(|e| e.identifier() != my_id) {
        owned_elsewhere = owned_elsewhere.union(&e.fields);
    }
    let to_remove = last_set.difference(&owned_elsewhere);
    // Only the outermost removable paths: a list item goes whole. Removing its key
    // fields first would leave an item no key can find (an empty `{}` in the list).
    let removable: Vec<&Path> = to_remove
        .iter()
        .filter(|p| !owned_elsewhere.has_descendant(p))
        .collect();
    for path in removable.iter().rev() {
        let under_another = removable
            .iter()
            .any(|q| q.len() < path.len() && path.starts_with(q));
        if !under_another {
            remove_path(&mut merged, path);
        }
    }

    // Subresource rules: what this endpoint cannot change stays as it was.
    if list_types.status_subresource() {
        match scope {
            Scope::Main { .. } => {
                if let Value::Object(m) = &mut merged {
                    match live_plain.get("status") {
                        Some(s) => {
                            m.insert("status".into(), s.clone());
                        }
                        None => {
                            m.remove("status");
                        }
                    }
                }
            }
            Scope::Status => {
                let mut only_status = live_plain.clone();
                if let Value::Object(m) = &mut only_status {
                    match merged.get("status") {
                        Some(s) => {
                            m.insert("status".into(), s.clone());
                        }
                        None => {
                            m.remove("status");
                        }
                    }
                }
                merged = only_status;
            }
        }
    }

    // Who loses what.
    let cmp = compare(Some(&live_plain), &merged, subresource, list_types);
    let changed = cmp.added.union(&cmp.modified);
    let mut conflicts = Vec::new();
    for e in old_entries.iter().filter(|e| e.identifier() != my_id) {
        for path in e.fields.intersection(&changed).iter() {
            conflicts.push(Conflict {
                manager_id: e.identifier(),
                manager: e.display_name(),
                path: path.clone(),
            });
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.manager_id, &a.path).cmp(&(&b.manager_id, &b.path)));
        return Err(ApplyError::Conflict(Conflicts(conflicts)));
    }
    let mut entries = old_entries.clone();
    let mut found = false;
    for e in entries.iter_mut() {
        if e.identifier() == my_id {
            found = true;
            e.fields = config_set.clone();
            e.api_version = api_version.to_string();
            e.time = Some(now.to_string());
        } else {
            e.fields = e.fields.difference(&changed).difference(&cmp.removed);
        }
    }
    if !found {
        entries.push(me_template);
    }
    entries.retain(|e| !e.fields.is_empty());

    if let Some(live) = live
        && merged == live_plain
        && same_but_times(&entries, &old_entries)
    {
        return Ok(live.clone());
    }
    set_managed_fields(&mut merged, &entries);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_recordings::exchanges;

    fn widget_schema() -> Value {
        crate::test_recordings::test_crd("Widget")["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }
    use serde_json::json;

    fn mf_without_time(obj: &Value) -> Value {
        let mut mf = obj["metadata"]["managedFields"].clone();
        if let Some(a) = mf.as_array_mut() {
            for e in a {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
        }
        mf
    }

    fn query_param(path: &str, name: &str) -> Option<String> {
        let q = path.split_once('?')?.1;
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    fn object_path(path: &str) -> (String, Option<String>) {
        let p = path.split('?').next().unwrap_or_default();
        match p.strip_suffix("/status") {
            Some(base) => (base.to_string(), Some("status".to_string())),
            None => (p.to_string(), None),
        }
    }

    /// The manager name of a recorded request (fieldManager, else the User-Agent up to
    /// its first `/`, `recorder` by default, `unknown` without one).
    fn manager_of(req: &Value) -> String {
        if let Some(m) = req["path"]
            .as_str()
            .and_then(|p| query_param(p, "fieldManager"))
        {
            return m;
        }
        match req["headers"]["User-Agent"].as_str() {
            Some("(not sent)") => "unknown".into(),
            Some(ua) => ua.split('/').next().unwrap_or_default().to_string(),
            None => "recorder".into(),
        }
    }

    fn list_types_for<'a>(obj: &Value, schema: &'a Value) -> Box<dyn ListTypes + 'a> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        if api_version.starts_with("example.certgate.test/") {
            Box::new(SchemaListTypes::new(Some(schema), true))
        } else {
            Box::new(BuiltinListTypes::new(api_version, kind))
        }
    }

    /// Replays every successful non-apply write of the given recordings: the previous
    /// recorded state of the object is `old`, the recorded response (with `old`'s
    /// managedFields, as the HTTP layer hands it over) is `new`, and `record_update` must
    /// produce the recorded managedFields. Returns how many writes were checked.
    fn replay_updates(files: &[&str]) -> usize {
        let schema = widget_schema();
        let mut states: BTreeMap<String, Value> = BTreeMap::new();
        let mut checked = 0;
        for file in files {
            for e in exchanges(file) {
                let req = &e["request"];
                let resp = &e["response"];
                let method = req["method"].as_str().expect("method");
                let status = resp["status"].as_u64().expect("status");
                let body = &resp["body"];
                let path = req["path"].as_str().expect("path");
                if !body["metadata"]["uid"].is_string() || !(200..300).contains(&status) {
                    continue;
                }
                let name = body["metadata"]["name"].as_str().expect("name");
                let (mut key, subresource) = object_path(path);
                if method == "POST" {
                    key = format!("{key}/{name}");
                }
                let dry_run = path.contains("dryRun");
                let is_apply = req["headers"]["Content-Type"] == "application/apply-patch+yaml";
                if matches!(method, "POST" | "PUT" | "PATCH") && !dry_run && !is_apply {
                    let old = if method == "POST" {
                        None
                    } else {
                        states.get(&key).cloned()
                    };
                    if method != "POST" && old.is_none() {
                        states.insert(key, body.clone());
                        continue;
                    }
                    let mut new = body.clone();
                    if let Some(meta) = new["metadata"].as_object_mut() {
                        match old
                            .as_ref()
                            .and_then(|o| o["metadata"].get("managedFields"))
                        {
                            Some(mf) => meta.insert("managedFields".into(), mf.clone()),
                            None => meta.remove("managedFields"),
                        };
                    }
                    let lt = list_types_for(body, &schema);
                    let now = body["metadata"]["managedFields"]
                        .as_array()
                        .and_then(|a| a.iter().filter_map(|e| e["time"].as_str()).max())
                        .unwrap_or("2026-11-22T00:00:00Z")
                        .to_string();
                    record_update(
                        old.as_ref(),
                        &mut new,
                        &manager_of(req),
                        subresource.as_deref(),
                        body["apiVersion"].as_str().expect("apiVersion"),
                        &now,
                        lt.as_ref(),
                    );
                    let what = format!("{file}: {method} {path} ({})", e["note"]);
                    assert_eq!(mf_without_time(&new), mf_without_time(body), "{what}");
                    let unchanged_rv = old.as_ref().is_some_and(|o| {
                        o["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]
                    });
                    let same_content = old
                        .as_ref()
                        .is_some_and(|o| without_managed_fields(o) == without_managed_fields(body));
                    if unchanged_rv && same_content {
                        // A no-op write keeps the stored entries verbatim (times included).
                        assert_eq!(
                            new["metadata"]["managedFields"], body["metadata"]["managedFields"],
                            "{what}"
                        );
                    }
                    checked += 1;
                }
                if !dry_run {
                    states.insert(key, body.clone());
                }
            }
        }
        checked
    }

    #[test]
    fn replays_creates_updates_and_patches_of_widgets_and_configmaps() {
        let n = replay_updates(&[
            "02-create.json",
            "06-update-conflict.json",
            "07-patches.json",
        ]);
        assert_eq!(n, 18);
    }

    #[test]
    fn replays_status_subresource_writes() {
        let n = replay_updates(&["09-status-subresource.json"]);
        assert_eq!(n, 8);
    }

    #[test]
    fn replays_finalizers_owner_references_events_and_leases() {
        let n = replay_updates(&[
            "12-finalizers.json",
            "16-owner-references.json",
            "19-events.json",
            "20-lease.json",
        ]);
        assert_eq!(n, 28);
    }

    fn parse_yaml(body: &Value) -> Value {
        match body {
            Value::String(s) => serde_saphyr::from_str(s).expect("YAML body"),
            other => other.clone(),
        }
    }

    #[test]
    fn replays_08_server_side_apply() {
        let schema = widget_schema();
        let lt = SchemaListTypes::new(Some(&schema), true);
        let mut state: Option<Value> = None;
        let mut applies = 0;
        let mut conflicts = 0;
        for e in exchanges("08-server-side-apply.json") {
            let req = &e["request"];
            let resp = &e["response"];
            let path = req["path"].as_str().expect("path");
            let (base, subresource) = object_path(path);
            if !base.ends_with("/widgets/ssa") {
                continue;
            }
            let status = resp["status"].as_u64().expect("status");
            let body = &resp["body"];
            let what = format!("{} ({})", path, e["note"]);
            let is_apply = req["headers"]["Content-Type"] == "application/apply-patch+yaml";
            let Some(manager) = query_param(path, "fieldManager") else {
                continue; // 422 without fieldManager: the HTTP layer's
            };
            if is_apply && (status == 200 || status == 201 || status == 409) {
                let applied = parse_yaml(&req["body"]);
                if applied.get("kind").is_none() || applied["metadata"]["name"] != "ssa" {
                    continue; // 400s of the HTTP layer
                }
                let force = query_param(path, "force").as_deref() == Some("true");
                let result = apply(
                    state.as_ref(),
                    &applied,
                    &manager,
                    force,
                    subresource.as_deref(),
                    "example.certgate.test/v1",
                    "2026-11-22T10:48:13Z",
                    &lt,
                );
                match result {
                    Ok(mut obj) => {
                        assert!(status < 300, "{what}: expected {status}, got {obj}");
                        if state.is_none() {
                            // Created: the server defaults spec.color afterwards.
                            obj["spec"]["color"] = json!("blue");
                        }
                        assert_eq!(obj["spec"], body["spec"], "{what}");
                        assert_eq!(obj.get("status"), body.get("status"), "{what}");
                        assert_eq!(
                            obj["metadata"]["labels"], body["metadata"]["labels"],
                            "{what}"
                        );
                        assert_eq!(mf_without_time(&obj), mf_without_time(body), "{what}");
                        if let Some(live) = &state {
                            if live["metadata"]["resourceVersion"]
                                == body["metadata"]["resourceVersion"]
                            {
                                assert_eq!(&obj, live, "{what}: a no-op apply returns live");
                            } else {
                                assert_ne!(&obj, live, "{what}");
                            }
                        }
                        applies += 1;
                    }
                    Err(err) => {
                        assert_eq!(status, 409, "{what}: unexpected {err:?}");
                        assert_eq!(err.message(), body["message"], "{what}");
                        assert_eq!(err.status_body(), *body, "{what}");
                        conflicts += 1;
                    }
                }
            } else if !is_apply && status == 200 && req["method"] == "PATCH" {
                // The Update manager `upd` (merge patch).
                let old = state.clone().expect("exists");
                let mut new = old.clone();
                crate::patch::merge_patch(&mut new, &req["body"]);
                record_update(
                    Some(&old),
                    &mut new,
                    &manager,
                    subresource.as_deref(),
                    "example.certgate.test/v1",
                    "2026-11-22T10:48:13Z",
                    &lt,
                );
                assert_eq!(mf_without_time(&new), mf_without_time(body), "{what}");
                assert_eq!(new["spec"], body["spec"]);
            }
            if status < 300 && body["metadata"]["uid"].is_string() {
                state = Some(body.clone());
            }
        }
        assert_eq!(applies, 5);
        assert_eq!(conflicts, 3);
    }

    #[test]
    fn fields_v1_round_trip_and_strings() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}},
                           "f:finalizers": {".": {}, "v:\"a/b\"": {}},
                           "f:ownerReferences": {".": {}, "k:{\"uid\":\"u1\"}": {}}},
            "f:spec": {".": {}, "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}},
                       "f:list": {"i:3": {}}},
        });
        let set = FieldSet::from_fields_v1(&v).expect("parses");
        assert_eq!(set.to_fields_v1(), v);
        assert_eq!(
            set.to_strings(),
            vec![
                ".metadata.finalizers",
                ".metadata.finalizers[=\"a/b\"]",
                ".metadata.labels",
                ".metadata.labels.app",
                ".metadata.ownerReferences",
                ".metadata.ownerReferences[uid=\"u1\"]",
                ".spec",
                ".spec.list[3]",
                ".spec.ports[port=80,protocol=\"TCP\"]",
                ".spec.ports[port=80,protocol=\"TCP\"].port",
            ]
        );
        assert!(set.has_descendant(&[PathElement::Field("spec".into())]));
        assert!(!set.has_descendant(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into()),
            PathElement::Field("app".into())
        ]));
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
    }

    #[test]
    fn fields_of_uses_list_types_and_scope() {
        let schema = widget_schema();
        let lt = SchemaListTypes::new(Some(&schema), true);
        let obj = json!({
            "apiVersion": "example.certgate.test/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "rec", "labels": {"a": "1"}, "finalizers": ["f"],
                         "ownerReferences": [{"uid": "u", "name": "o", "kind": "K", "apiVersion": "v1"}]},
            "spec": {"owner": "o", "items": ["x", "y"]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        let main = fields_of(&obj, None, &lt);
        assert_eq!(
            main.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {"f:a": {}}, "f:finalizers": {"v:\"f\"": {}},
                               "f:ownerReferences": {"k:{\"uid\":\"u\"}": {}}},
                "f:spec": {"f:items": {}, "f:owner": {}}
            })
        );
        let status = fields_of(&obj, Some("status"), &lt);
        assert_eq!(
            status.to_fields_v1(),
            json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
        );
        // Without a status subresource, status belongs to the main resource.
        let lt = SchemaListTypes::new(Some(&schema), false);
        assert!(fields_of(&obj, None, &lt).has_descendant(&[PathElement::Field("status".into())]));
    }

    #[test]
    fn builtin_pod_list_types() {
        let lt = BuiltinListTypes::new("v1", "Pod");
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app", "image": "i",
                                     "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                     "env": [{"name": "A", "value": "1"}]}],
                     "tolerations": [{"key": "k"}]}
        });
        let mut new = pod.clone();
        record_update(
            None,
            &mut new,
            "kubectl",
            None,
            "v1",
            "2026-01-01T00:00:00Z",
            &lt,
        );
        assert_eq!(
            new["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {
                "f:containers": {"k:{\"name\":\"app\"}": {
                    ".": {}, "f:env": {".": {}, "k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                    "f:image": {}, "f:name": {},
                    "f:ports": {".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                        ".": {}, "f:containerPort": {}, "f:protocol": {}}}}},
                "f:tolerations": {}}})
        );
    }

    fn widget(spec: Value) -> Value {
        json!({"apiVersion": "example.certgate.test/v1", "kind": "Widget",
               "metadata": {"name": "w", "namespace": "rec"}, "spec": spec})
    }

    #[test]
    fn reapplying_without_list_map_items_removes_them_whole() {
        // A Gateway's listeners: a list of maps keyed by name. The manager that
        // applied three applies one: two go, with no empty `{}` left behind.
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"listeners": {"type": "array",
                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "port": {"type": "integer"},
                    "tls": {"type": "object", "properties": {"mode": {"type": "string"}}}}}}}}}});
        let lt = SchemaListTypes::new(Some(&schema), false);
        let listeners = |names: &[&str]| {
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"name": "gw", "namespace": "ns"},
                "spec": {"listeners": names.iter().map(|n| json!({"name": n, "port": 443, "tls": {"mode": "Terminate"}})).collect::<Vec<_>>()}})
        };
        let v = "gateway.networking.k8s.io/v1";
        let t = "2026-01-01T00:00:00Z";
        let first = apply(
            None,
            &listeners(&["a", "b", "c"]),
            "m",
            false,
            None,
            v,
            t,
            &lt,
        )
        .unwrap();
        let second = apply(
            Some(&first),
            &listeners(&["b"]),
            "m",
            false,
            None,
            v,
            t,
            &lt,
        )
        .unwrap();
        assert_eq!(
            second["spec"]["listeners"],
            json!([{"name": "b", "port": 443, "tls": {"mode": "Terminate"}}])
        );
    }

    #[test]
    fn update_moves_ownership_and_drops_empty_managers() {
        let schema = widget_schema();
        let lt = SchemaListTypes::new(Some(&schema), true);
        let mut obj = widget(json!({"owner": "a", "size": 1}));
        record_update(
            None,
            &mut obj,
            "one",
            None,
            "example.certgate.test/v1",
            "2026-01-01T00:00:00Z",
            &lt,
        );
        let mut next = obj.clone();
        next["spec"]["size"] = json!(2);
        next["spec"]["owner"] = json!("b");
        record_update(
            Some(&obj),
            &mut next,
            "two",
            None,
            "example.certgate.test/v1",
            "2026-01-01T00:00:01Z",
            &lt,
        );
        let entries = decode_managed_fields(&next).expect("decodes");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].manager, "one");
        assert_eq!(entries[0].fields.to_strings(), vec![".spec"]);
        assert_eq!(entries[0].time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(entries[1].manager, "two");
        assert_eq!(
            entries[1].fields.to_strings(),
            vec![".spec.owner", ".spec.size"]
        );
        assert_eq!(entries[1].time.as_deref(), Some("2026-01-01T00:00:01Z"));
        // Removing spec entirely: everyone loses it, managers without fields go.
        let mut gone = next.clone();
        gone.as_object_mut().expect("object").remove("spec");
        record_update(
            Some(&next),
            &mut gone,
            "three",
            None,
            "example.certgate.test/v1",
            "2026-01-01T00:00:02Z",
            &lt,
        );
        assert!(gone["metadata"].get("managedFields").is_none(), "{gone}");
    }

    #[test]
    fn apply_conflicts_with_status_writer_and_force_and_prune_shared() {
        let schema = widget_schema();
        let lt = SchemaListTypes::new(Some(&schema), true);
        let v = "example.certgate.test/v1";
        let t = "2026-01-01T00:00:00Z";
        let cfg = json!({"apiVersion": v, "kind": "Widget", "metadata": {"name": "w"},
                         "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let live = apply(
            None,
            &widget(json!({"owner": "a"})),
            "a",
            false,
            None,
            v,
            t,
            &lt,
        )
        .expect("created");
        let live = apply(Some(&live), &cfg, "ctrl", false, Some("status"), v, t, &lt)
            .expect("status applied");
        assert_eq!(live["status"]["conditions"][0]["status"], "True");
        let mut other = cfg.clone();
        other["status"]["conditions"][0]["status"] = json!("False");
        let err = apply(
            Some(&live),
            &other,
            "ctrl2",
            false,
            Some("status"),
            v,
            t,
            &lt,
        )
        .expect_err("conflict");
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"ctrl\" with subresource \"status\": .status.conditions[type=\"Ready\"].status"
        );
        assert_eq!(err.code(), 409);
        let forced = apply(
            Some(&live),
            &other,
            "ctrl2",
            true,
            Some("status"),
            v,
            t,
            &lt,
        )
        .expect("forced");
        assert_eq!(forced["status"]["conditions"][0]["status"], "False");
        let entries = decode_managed_fields(&forced).expect("decodes");
        let ctrl = entries
            .iter()
            .find(|e| e.manager == "ctrl")
            .expect("ctrl kept");
        assert_eq!(
            ctrl.fields.to_strings(),
            vec![
                ".status.conditions[type=\"Ready\"]",
                ".status.conditions[type=\"Ready\"].type"
            ]
        );
        // ctrl2 stops applying the condition: `type` is still ctrl's, so the item stays
        // but ctrl2's `status` field goes.
        let empty = json!({"apiVersion": v, "kind": "Widget", "metadata": {"name": "w"}});
        let pruned = apply(
            Some(&forced),
            &empty,
            "ctrl2",
            false,
            Some("status"),
            v,
            t,
            &lt,
        )
        .expect("applies");
        assert_eq!(pruned["status"]["conditions"], json!([{"type": "Ready"}]));
        // Status through the main resource is ignored, spec through /status too.
        let mut both = widget(json!({"owner": "z"}));
        both["status"] = json!({"observedGeneration": 5});
        let main = apply(Some(&pruned), &both, "a", true, None, v, t, &lt).expect("applies");
        assert_eq!(main["status"], pruned["status"]);
        assert_eq!(main["spec"]["owner"], "z");
        let st =
            apply(Some(&pruned), &both, "s", false, Some("status"), v, t, &lt).expect("applies");
        assert_eq!(st["spec"], pruned["spec"]);
        assert_eq!(st["status"]["observedGeneration"], 5);
        // managedFields in the configuration are refused.
        let mut bad = empty.clone();
        bad["metadata"]["managedFields"] = json!([]);
        assert_eq!(
            apply(Some(&pruned), &bad, "a", false, None, v, t, &lt)
                .expect_err("refused")
                .code(),
            400
        );
    }

    #[test]
    fn two_conflicting_managers_message_is_grouped_and_sorted() {
        let c = Conflicts(vec![
            Conflict {
                manager_id: "{\"manager\":\"a\",\"operation\":\"Apply\"}".into(),
                manager: "\"a\"".into(),
                path: vec![
                    PathElement::Field("spec".into()),
                    PathElement::Field("x".into()),
                ],
            },
            Conflict {
                manager_id: "{\"manager\":\"b\",\"operation\":\"Update\",\"apiVersion\":\"v1\"}"
                    .into(),
                manager: "\"b\" using v1".into(),
                path: vec![
                    PathElement::Field("spec".into()),
                    PathElement::Field("y".into()),
                ],
            },
        ]);
        assert_eq!(
            c.message(),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.x\nconflicts with \"b\" using v1:\n- .spec.y"
        );
        assert_eq!(c.causes()[1]["message"], "conflict with \"b\" using v1");
    }
}
