//! `meta.k8s.io/v1` (and `v1beta1`) Table output, as kube-apiserver renders it for
//! `kubectl get`: the columns of a CRD's `additionalPrinterColumns` (computed with a
//! JSONPath subset), kube-apiserver's built-in printers for a few core types, and the
//! `Accept` header negotiation that asks for it.

use crate::discovery::media_ranges;
use crate::resources::{PrinterColumn, ResourceInfo};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

/// The `meta.k8s.io` version of a Table (or PartialObjectMetadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableVersion {
    V1,
    V1beta1,
}

impl TableVersion {
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`.
    pub fn api_version(self) -> &'static str {
        match self {
            TableVersion::V1 => "meta.k8s.io/v1",
            TableVersion::V1beta1 => "meta.k8s.io/v1beta1",
        }
    }

    fn from_param(v: Option<&str>) -> Option<Self> {
        match v {
            Some("v1") => Some(TableVersion::V1),
            Some("v1beta1") => Some(TableVersion::V1beta1),
            _ => None,
        }
    }
}

/// The `includeObject` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// `object: null` in every row.
    None,
    /// A `PartialObjectMetadata` per row (the default).
    #[default]
    Metadata,
    /// The whole object per row.
    Object,
}

impl IncludeObject {
    /// `None`, `Metadata` or `Object`; an absent or empty parameter is `Metadata`.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value.unwrap_or("") {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// How to answer, from the `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Json,
    Yaml,
    Table(TableVersion),
    /// `as=PartialObjectMetadata` (single object).
    PartialObjectMetadata(TableVersion),
    /// `as=PartialObjectMetadataList` (lists and watches).
    PartialObjectMetadataList(TableVersion),
}

/// The first representation of an `Accept` header the sandbox can produce (by `q`, then
/// in the order written); `None` means 406 ([`not_acceptable_body`]). An empty header is
/// JSON. Protobuf is not produced, so a protobuf-only header is refused.
pub fn negotiate(accept: &str) -> Option<Representation> {
    if accept.trim().is_empty() {
        return Some(Representation::Json);
    }
    for range in media_ranges(accept) {
        let (ty, sub) = (range.type_.as_str(), range.subtype.as_str());
        let json_like = matches!(
            (ty, sub),
            ("application", "json") | ("application", "*") | ("*", "*")
        );
        match range.param("as") {
            None if json_like => return Some(Representation::Json),
            None if (ty, sub) == ("application", "yaml") => return Some(Representation::Yaml),
            None => {}
            Some(kind) if json_like && range.param("g") == Some("meta.k8s.io") => {
                let Some(v) = TableVersion::from_param(range.param("v")) else {
                    continue;
                };
                match kind {
                    "Table" => return Some(Representation::Table(v)),
                    "PartialObjectMetadata" => {
                        return Some(Representation::PartialObjectMetadata(v));
                    }
                    "PartialObjectMetadataList" => {
                        return Some(Representation::PartialObjectMetadataList(v));
                    }
                    _ => {}
                }
            }
            Some(_) => {}
        }
    }
    None
}

/// The Table version asked for by an `Accept` header such as kubectl's
/// `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`;
/// `None` when the header prefers something else (or nothing acceptable).
pub fn parse_table_accept(accept: &str) -> Option<TableVersion> {
    match negotiate(accept) {
        Some(Representation::Table(v)) => Some(v),
        _ => None,
    }
}

/// Whether an `Accept` header prefers metadata only (`as=PartialObjectMetadata` or
/// `as=PartialObjectMetadataList`, `g=meta.k8s.io`, as kube-rs `list_metadata` asks).
pub fn wants_metadata_only(accept: &str) -> bool {
    matches!(
        negotiate(accept),
        Some(
            Representation::PartialObjectMetadata(_) | Representation::PartialObjectMetadataList(_)
        )
    )
}

/// The body of the 406 kube-apiserver answers for an unsupported `Accept` (e.g. `text/plain`).
pub fn not_acceptable_body() -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        "reason": "NotAcceptable",
        "code": 406,
    })
}

/// A Table of a list: `list_meta` is the list's `metadata` (only `resourceVersion`,
/// a non-empty `continue` and `remainingItemCount` are kept). Without
/// `with_column_definitions` (watch events after the first) `columnDefinitions` is null.
pub fn table_for_list(
    info: &ResourceInfo,
    objects: &[Value],
    list_meta: Value,
    include_object: IncludeObject,
    now: Timestamp,
    with_column_definitions: bool,
) -> Value {
    let mut metadata = Map::new();
    if let Some(rv) = list_meta.get("resourceVersion").filter(|v| !v.is_null()) {
        metadata.insert("resourceVersion".into(), rv.clone());
    }
    if let Some(c) = list_meta
        .get("continue")
        .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    {
        metadata.insert("continue".into(), c.clone());
    }
    if let Some(n) = list_meta.get("remainingItemCount").filter(|v| !v.is_null()) {
        metadata.insert("remainingItemCount".into(), n.clone());
    }
    build_table(
        info,
        objects,
        Value::Object(metadata),
        include_object,
        now,
        with_column_definitions,
    )
}

/// A Table of one object (GET of an object, or one watch event); its metadata carries the
/// object's `resourceVersion`.
pub fn table_for_object(
    info: &ResourceInfo,
    object: &Value,
    include_object: IncludeObject,
    now: Timestamp,
    with_column_definitions: bool,
) -> Value {
    let mut metadata = Map::new();
    if let Some(rv) = object
        .pointer("/metadata/resourceVersion")
        .filter(|v| !v.is_null())
    {
        metadata.insert("resourceVersion".into(), rv.clone());
    }
    build_table(
        info,
        std::slice::from_ref(object),
        Value::Object(metadata),
        include_object,
        now,
        with_column_definitions,
    )
}

/// Turns a `meta.k8s.io/v1` Table from [`table_for_list`] / [`table_for_object`] into
/// the given version (the Table's and the rows' PartialObjectMetadata `apiVersion`).
pub fn set_table_version(table: &mut Value, version: TableVersion) {
    table["apiVersion"] = json!(version.api_version());
    if let Some(rows) = table.get_mut("rows").and_then(Value::as_array_mut) {
        for row in rows {
            if let Some(obj) = row
                .get_mut("object")
                .filter(|o| o["kind"] == "PartialObjectMetadata")
            {
                obj["apiVersion"] = json!(version.api_version());
            }
        }
    }
}

fn build_table(
    info: &ResourceInfo,
    objects: &[Value],
    metadata: Value,
    include_object: IncludeObject,
    now: Timestamp,
    with_column_definitions: bool,
) -> Value {
    let printer = Printer::for_resource(info);
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let object = match include_object {
                IncludeObject::None => Value::Null,
                IncludeObject::Metadata => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": TableVersion::V1.api_version(),
                    "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
                }),
                IncludeObject::Object => obj.clone(),
            };
            json!({"cells": printer.cells(obj, now), "object": object})
        })
        .collect();
    let columns = if with_column_definitions {
        Value::Array(printer.columns())
    } else {
        Value::Null
    };
    json!({
        "kind": "Table",
        "apiVersion": TableVersion::V1.api_version(),
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The column definitions of a resource type's Table.
pub fn column_definitions(info: &ResourceInfo) -> Vec<Value> {
    Printer::for_resource(info).columns()
}

/// The cells of one object's row.
pub fn row_cells(info: &ResourceInfo, object: &Value, now: Timestamp) -> Vec<Value> {
    Printer::for_resource(info).cells(object, now)
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATION_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONFIGMAP_DATA_DESC: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
const SECRET_TYPE_DESC: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
const SECRET_DATA_DESC: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
const LEASE_HOLDER_DESC: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";
const EVENT_LAST_DESC: &str =
    "The time at which the most recent occurrence of this event was recorded.";
const EVENT_TYPE_DESC: &str =
    "Type of this event (Normal, Warning), new types could be added in the future";
const EVENT_REASON_DESC: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
const EVENT_OBJECT_DESC: &str = "The object that this event is about.";
const EVENT_SUBOBJECT_DESC: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
const EVENT_SOURCE_DESC: &str =
    "The component reporting this event. Should be a short machine understandable string.";
const EVENT_MESSAGE_DESC: &str = "A human-readable description of the status of this operation.";
const EVENT_FIRST_DESC: &str =
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
const EVENT_COUNT_DESC: &str = "The number of times this event has occurred.";

fn column(name: &str, type_: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

fn name_column() -> Value {
    column("Name", "string", "name", NAME_DESC, 0)
}

fn age_column(type_: &str) -> Value {
    column("Age", type_, "", CREATION_DESC, 0)
}

/// Which printer renders a resource type.
enum Printer<'a> {
    /// A CRD with `additionalPrinterColumns`.
    Custom(&'a [PrinterColumn]),
    /// A CRD without printer columns: Name, Age (`date`).
    CustomDefault,
    ConfigMap,
    Secret,
    Namespace,
    Event,
    Lease,
    /// Types kube-apiserver prints as Name, Created At (RBAC roles, CRDs).
    CreatedAt,
    /// Everything else: Name, Age.
    Generic,
}

impl<'a> Printer<'a> {
    fn for_resource(info: &'a ResourceInfo) -> Self {
        if info.custom {
            return if info.printer_columns.is_empty() {
                Printer::CustomDefault
            } else {
                Printer::Custom(&info.printer_columns)
            };
        }
        match (info.group.as_str(), info.kind.as_str()) {
            ("", "ConfigMap") => Printer::ConfigMap,
            ("", "Secret") => Printer::Secret,
            ("", "Namespace") => Printer::Namespace,
            ("", "Event") | ("events.k8s.io", "Event") => Printer::Event,
            ("coordination.k8s.io", "Lease") => Printer::Lease,
            ("rbac.authorization.k8s.io", "Role" | "ClusterRole")
            | ("apiextensions.k8s.io", "CustomResourceDefinition") => Printer::CreatedAt,
            _ => Printer::Generic,
        }
    }

    fn columns(&self) -> Vec<Value> {
        match self {
            Printer::Custom(cols) => std::iter::once(name_column())
                .chain(cols.iter().map(|c| {
                    let description = if c.description.is_empty() {
                        format!(
                            "Custom resource definition column (in JSONPath format): {}",
                            c.json_path
                        )
                    } else {
                        c.description.clone()
                    };
                    column(&c.name, &c.type_, &c.format, &description, c.priority)
                }))
                .collect(),
            Printer::CustomDefault => vec![name_column(), age_column("date")],
            Printer::ConfigMap => {
                vec![
                    name_column(),
                    column("Data", "string", "", CONFIGMAP_DATA_DESC, 0),
                    age_column("string"),
                ]
            }
            Printer::Secret => vec![
                name_column(),
                column("Type", "string", "", SECRET_TYPE_DESC, 0),
                column("Data", "string", "", SECRET_DATA_DESC, 0),
                age_column("string"),
            ],
            Printer::Namespace => vec![
                name_column(),
                column("Status", "string", "", "The status of the namespace", 0),
                age_column("string"),
            ],
            Printer::Event => vec![
                column("Last Seen", "string", "", EVENT_LAST_DESC, 0),
                column("Type", "string", "", EVENT_TYPE_DESC, 0),
                column("Reason", "string", "", EVENT_REASON_DESC, 0),
                column("Object", "string", "", EVENT_OBJECT_DESC, 0),
                column("Subobject", "string", "", EVENT_SUBOBJECT_DESC, 1),
                column("Source", "string", "", EVENT_SOURCE_DESC, 1),
                column("Message", "string", "", EVENT_MESSAGE_DESC, 0),
                column("First Seen", "string", "", EVENT_FIRST_DESC, 1),
                column("Count", "string", "", EVENT_COUNT_DESC, 1),
                column("Name", "string", "name", NAME_DESC, 1),
            ],
            Printer::Lease => {
                vec![
                    name_column(),
                    column("Holder", "string", "", LEASE_HOLDER_DESC, 0),
                    age_column("string"),
                ]
            }
            Printer::CreatedAt => vec![
                name_column(),
                column("Created At", "date", "", CREATION_DESC, 0),
            ],
            Printer::Generic => vec![name_column(), age_column("string")],
        }
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let name = json!(str_at(obj, "/metadata/name"));
        let age = || json!(since(obj.pointer("/metadata/creationTimestamp"), now));
        let count = |path: &str| {
            obj.pointer(path)
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())
        };
        match self {
            Printer::Custom(cols) => std::iter::once(name)
                .chain(cols.iter().map(|c| custom_cell(c, obj, now)))
                .collect(),
            Printer::CustomDefault => vec![name, age()],
            Printer::ConfigMap => vec![name, json!(count("/data") + count("/binaryData")), age()],
            Printer::Secret => vec![
                name,
                json!(str_at(obj, "/type")),
                json!(count("/data")),
                age(),
            ],
            Printer::Namespace => vec![name, json!(str_at(obj, "/status/phase")), age()],
            Printer::Event => event_cells(obj, now),
            Printer::Lease => vec![name, json!(str_at(obj, "/spec/holderIdentity")), age()],
            Printer::CreatedAt => {
                let created = obj
                    .pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<Timestamp>().ok())
                    .map_or_else(
                        || "0001-01-01T00:00:00Z".to_string(),
                        |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    );
                vec![name, json!(created)]
            }
            Printer::Generic => vec![name, age()],
        }
    }
}

fn str_at<'v>(obj: &'v Value, pointer: &str) -> &'v str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `translateTimestampSince`: `<unknown>` for a missing time, else the age.
fn since(time: Option<&Value>, now: Timestamp) -> String {
    match time.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        None => "<unknown>".to_string(),
        Some(s) => match s.parse::<Timestamp>() {
            Ok(t) => human_duration(now.duration_since(t)),
            Err(_) => "<unknown>".to_string(),
        },
    }
}

/// The core/v1 Event printer (wide: every column), for core/v1 and events.k8s.io/v1 objects.
fn event_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let new_api = obj["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("events.k8s.io/"));
    let field = |core: &str, events: &str| -> Option<&Value> {
        obj.get(if new_api { events } else { core })
            .filter(|v| !v.is_null())
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let first_ts = field("firstTimestamp", "deprecatedFirstTimestamp");
    let first = if first_ts.is_some() {
        since(first_ts, now)
    } else {
        since(obj.get("eventTime"), now)
    };
    let last_ts = field("lastTimestamp", "deprecatedLastTimestamp");
    let mut last = if last_ts.is_some() {
        since(last_ts, now)
    } else {
        first.clone()
    };
    let mut count = field("count", "deprecatedCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(series) = obj.get("series").filter(|s| s.is_object()) {
        last = since(series.get("lastObservedTime"), now);
        count = series["count"].as_i64().unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let involved = field("involvedObject", "regarding")
        .cloned()
        .unwrap_or(Value::Null);
    let kind = text(involved.get("kind")).to_lowercase();
    let target_name = text(involved.get("name"));
    let target = if target_name.is_empty() {
        kind
    } else {
        format!("{kind}/{target_name}")
    };
    let source = field("source", "deprecatedSource")
        .cloned()
        .unwrap_or(Value::Null);
    let component = first_non_empty(
        text(source.get("component")),
        text(field("reportingComponent", "reportingController")),
    );
    let instance = first_non_empty(text(source.get("host")), text(obj.get("reportingInstance")));
    let source = match (component.is_empty(), instance.is_empty()) {
        (true, true) => String::new(),
        (_, true) => component,
        _ => format!("{component}, {instance}"),
    };
    vec![
        json!(last),
        json!(text(obj.get("type"))),
        json!(text(obj.get("reason"))),
        json!(target),
        json!(text(involved.get("fieldPath"))),
        json!(source),
        json!(text(field("message", "note")).trim()),
        json!(first),
        json!(count),
        json!(str_at(obj, "/metadata/name")),
    ]
}

fn first_non_empty(a: String, b: String) -> String {
    if a.is_empty() { b } else { a }
}

/// A CRD printer column's cell: the first JSONPath result converted by column type
/// (`null` when missing or of another type).
fn custom_cell(col: &PrinterColumn, obj: &Value, now: Timestamp) -> Value {
    let Some(path) = JsonPath::parse(&col.json_path) else {
        return Value::Null;
    };
    let results = path.find(obj);
    let Some(value) = results.first() else {
        return Value::Null;
    };
    match (col.type_.as_str(), value) {
        (_, Value::Null) => Value::Null,
        ("string", Value::String(s)) => json!(s),
        ("string", Value::Number(n)) => json!(n.to_string()),
        ("string", Value::Bool(b)) => json!(b.to_string()),
        ("string", other) => json!(other.to_string()),
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => json!(i),
            None => n.as_f64().map_or(Value::Null, |f| json!(f as i64)),
        },
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, |f| json!(f)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => match s.parse::<Timestamp>() {
            Ok(t) => json!(human_duration(now.duration_since(t))),
            Err(_) => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

/// apimachinery's `duration.HumanDuration`: `108s`, `2m5s`, `15m`, `3h20m`, `20h`,
/// `3d4h`, `30d`, `2y10d`; slightly negative durations read `0s`, more `<invalid>`.
pub fn human_duration(d: SignedDuration) -> String {
    let nanos = d.as_nanos();
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// The JSONPath subset of printer columns: `.a.b`, `.a[0]`, `.a[-1]`, `.a[*].b`, `.*`,
/// `['a.b']`, and filters `[?(@.type=="Ready")]` (`==`, `!=`, `<`, `<=`, `>`, `>=`, or a
/// bare `@.path` for existence). An optional `{...}` wrapper and leading `$` are accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Field(String),
    Index(i64),
    Wildcard,
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    path: JsonPath,
    compare: Option<(CmpOp, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl JsonPath {
    /// Parses a path; `None` when it is outside the supported subset.
    pub fn parse(path: &str) -> Option<JsonPath> {
        let mut p = path.trim();
        if let Some(inner) = p.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            p = inner.trim();
        }
        p = p.strip_prefix('$').unwrap_or(p);
        let chars: Vec<char> = p.chars().collect();
        let mut i = 0;
        let segments = parse_segments(&chars, &mut i)?;
        if i != chars.len() {
            return None;
        }
        Some(JsonPath { segments })
    }

    /// Every value the path selects, in document order (object wildcards by key).
    pub fn find<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![root];
        for seg in &self.segments {
            let mut next = Vec::new();
            for v in current {
                match seg {
                    Segment::Field(name) => next.extend(v.get(name.as_str())),
                    Segment::Index(idx) => {
                        if let Some(a) = v.as_array() {
                            let len = a.len() as i64;
                            let i = if *idx < 0 { len + idx } else { *idx };
                            if (0..len).contains(&i) {
                                next.extend(a.get(i as usize));
                            }
                        }
                    }
                    Segment::Wildcard => match v {
                        Value::Array(a) => next.extend(a.iter()),
                        Value::Object(m) => next.extend(m.values()),
                        _ => {}
                    },
                    Segment::Filter(f) => {
                        if let Some(a) = v.as_array() {
                            next.extend(a.iter().filter(|item| f.matches(item)));
                        }
                    }
                }
            }
            current = next;
        }
        current
    }
}

impl Filter {
    fn matches(&self, item: &Value) -> bool {
        let found = self.path.find(item);
        let Some((op, lit)) = &self.compare else {
            return !found.is_empty();
        };
        let Some(left) = found.first() else {
            return false;
        };
        match op {
            CmpOp::Eq => values_equal(left, lit),
            CmpOp::Ne => !values_equal(left, lit),
            _ => match (left.as_f64(), lit.as_f64()) {
                (Some(l), Some(r)) => match op {
                    CmpOp::Lt => l < r,
                    CmpOp::Le => l <= r,
                    CmpOp::Gt => l > r,
                    _ => l >= r,
                },
                _ => false,
            },
        }
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn is_name_char(c: char) -> bool {
    !matches!(
        c,
        '.' | '[' | ']' | '(' | ')' | '=' | '!' | '<' | '>' | ' ' | '\'' | '"' | '@' | '?' | '*'
    )
}

/// Parses segments until the end or a character that cannot start one.
fn parse_segments(c: &[char], i: &mut usize) -> Option<Vec<Segment>> {
    let mut segs = Vec::new();
    while *i < c.len() {
        match c[*i] {
            '.' => {
                *i += 1;
                if c.get(*i) == Some(&'*') {
                    *i += 1;
                    segs.push(Segment::Wildcard);
                    continue;
                }
                if c.get(*i) == Some(&'[') || c.get(*i).is_none() {
                    // `.[0]` or a trailing `.`: tolerate, like kubectl does.
                    continue;
                }
                let start = *i;
                while *i < c.len() && is_name_char(c[*i]) {
                    *i += 1;
                }
                if start == *i {
                    return None;
                }
                segs.push(Segment::Field(c[start..*i].iter().collect()));
            }
            '[' => {
                *i += 1;
                skip_ws(c, i);
                match c.get(*i)? {
                    '*' => {
                        *i += 1;
                        segs.push(Segment::Wildcard);
                    }
                    '\'' | '"' => {
                        let s = parse_quoted(c, i)?;
                        segs.push(Segment::Field(s));
                    }
                    '?' => {
                        *i += 1;
                        skip_ws(c, i);
                        if c.get(*i) != Some(&'(') {
                            return None;
                        }
                        *i += 1;
                        let filter = parse_filter(c, i)?;
                        skip_ws(c, i);
                        if c.get(*i) != Some(&')') {
                            return None;
                        }
                        *i += 1;
                        segs.push(Segment::Filter(filter));
                    }
                    _ => {
                        let start = *i;
                        if c.get(*i) == Some(&'-') {
                            *i += 1;
                        }
                        while *i < c.len() && c[*i].is_ascii_digit() {
                            *i += 1;
                        }
                        let n: i64 = c[start..*i].iter().collect::<String>().parse().ok()?;
                        segs.push(Segment::Index(n));
                    }
                }
                skip_ws(c, i);
                if c.get(*i) != Some(&']') {
                    return None;
                }
                *i += 1;
            }
            _ => break,
        }
    }
    Some(segs)
}

fn skip_ws(c: &[char], i: &mut usize) {
    while *i < c.len() && c[*i].is_whitespace() {
        *i += 1;
    }
}

fn parse_quoted(c: &[char], i: &mut usize) -> Option<String> {
    let quote = *c.get(*i)?;
    *i += 1;
    let mut s = String::new();
    while *i < c.len() {
        let ch = c[*i];
        *i += 1;
        if ch == '\\' {
            s.push(*c.get(*i)?);
            *i += 1;
        } else if ch == quote {
            return Some(s);
        } else {
            s.push(ch);
        }
    }
    None
}

/// `@.path [op literal]` inside `[?( ... )]`.
fn parse_filter(c: &[char], i: &mut usize) -> Option<Filter> {
    skip_ws(c, i);
    if c.get(*i) != Some(&'@') {
        return None;
    }
    *i += 1;
    let segments = parse_segments(c, i)?;
    skip_ws(c, i);
    let two: String = c.iter().skip(*i).take(2).collect();
    let (op, len) = match two.as_str() {
        "==" => (CmpOp::Eq, 2),
        "!=" => (CmpOp::Ne, 2),
        "<=" => (CmpOp::Le, 2),
        ">=" => (CmpOp::Ge, 2),
        _ => match c.get(*i) {
            Some('<') => (CmpOp::Lt, 1),
            Some('>') => (CmpOp::Gt, 1),
            _ => {
                return Some(Filter {
                    path: JsonPath { segments },
                    compare: None,
                });
            }
        },
    };
    *i += len;
    skip_ws(c, i);
    let literal = match c.get(*i)? {
        '\'' | '"' => Value::String(parse_quoted(c, i)?),
        _ => {
            let start = *i;
            while *i < c.len() && !c[*i].is_whitespace() && c[*i] != ')' {
                *i += 1;
            }
            let word: String = c[start..*i].iter().collect();
            match word.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "nil" | "null" => Value::Null,
                w => serde_json::from_str::<serde_json::Number>(w)
                    .ok()
                    .map(Value::Number)?,
            }
        }
    };
    Some(Filter {
        path: JsonPath { segments },
        compare: Some((op, literal)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::discovery::{builtin_resources, resource_info_from_crd};
    use crate::test_recordings::recording;

    fn crd_info(kind: &str) -> ResourceInfo {
        resource_info_from_crd(&crate::test_recordings::test_crd(kind)).remove(0)
    }

    fn builtin(group: &str, kind: &str) -> ResourceInfo {
        builtin_resources()
            .into_iter()
            .find(|r| r.group == group && r.kind == kind)
            .expect("built-in")
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn exchange(rec: &Value, i: usize) -> &Value {
        &rec["exchanges"][i]
    }

    /// The full Widget `w1` as listed with `includeObject=Object`.
    fn widget_w1(rec: &Value) -> Value {
        exchange(rec, 4)["response"]["body"]["rows"][0]["object"].clone()
    }

    #[test]
    fn widget_list_tables_match_recording() {
        let rec = recording("21-table.json");
        let widget = crd_info("Widget");
        let w1 = widget_w1(&rec);
        assert_eq!(w1["kind"], "Widget");
        let now = at("2026-11-22T10:50:00Z");
        let list_meta = json!({"continue": "", "resourceVersion": "401"});
        for (i, include) in [
            (0, IncludeObject::Metadata),
            (1, IncludeObject::Metadata),
            (3, IncludeObject::None),
            (4, IncludeObject::Object),
        ] {
            let ours = table_for_list(
                &widget,
                std::slice::from_ref(&w1),
                list_meta.clone(),
                include,
                now,
                true,
            );
            assert_eq!(ours, exchange(&rec, i)["response"]["body"], "exchange {i}");
        }
    }

    #[test]
    fn widget_object_table_matches_recording() {
        let rec = recording("21-table.json");
        let ours = table_for_object(
            &crd_info("Widget"),
            &widget_w1(&rec),
            IncludeObject::default(),
            at("2026-11-22T10:50:00.5Z"),
            true,
        );
        assert_eq!(ours, exchange(&rec, 2)["response"]["body"]);
    }

    #[test]
    fn configmap_table_matches_recording() {
        let rec = recording("21-table.json");
        let expected = &exchange(&rec, 5)["response"]["body"];
        let cm = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": expected["rows"][0]["object"]["metadata"],
            "data": {"k": "v", "k2": "v2"},
        });
        let list_meta = json!({"resourceVersion": "401"});
        let ours = table_for_list(
            &builtin("", "ConfigMap"),
            &[cm],
            list_meta,
            IncludeObject::Metadata,
            at("2026-11-22T10:50:00Z"),
            true,
        );
        assert_eq!(&ours, expected);
    }

    #[test]
    fn watch_tables_match_recording() {
        let rec = recording("21-table.json");
        let widget = crd_info("Widget");
        let events = exchange(&rec, 6)["response"]["events"]
            .as_array()
            .unwrap()
            .clone();
        let now = at("2026-11-22T10:50:00Z");
        let first = table_for_object(
            &widget,
            &widget_w1(&rec),
            IncludeObject::Metadata,
            now,
            true,
        );
        assert_eq!(first, events[0]["object"]);
        let modified = exchange(&rec, 7)["response"]["body"].clone();
        let second = table_for_object(&widget, &modified, IncludeObject::Metadata, now, false);
        assert_eq!(second, events[1]["object"]);
    }

    #[test]
    fn v1beta1_table_matches_recording() {
        let rec = recording("21-table.json");
        let modified = exchange(&rec, 7)["response"]["body"].clone();
        let list_meta = json!({"continue": "", "resourceVersion": "402"});
        let mut ours = table_for_list(
            &crd_info("Widget"),
            &[modified],
            list_meta,
            IncludeObject::Metadata,
            at("2026-11-22T10:50:03.2Z"),
            true,
        );
        set_table_version(&mut ours, TableVersion::V1beta1);
        assert_eq!(ours, exchange(&rec, 8)["response"]["body"]);
    }

    #[test]
    fn gadget_table_without_printer_columns_matches_recording() {
        let rec = recording("22-cluster-scoped.json");
        let list = &exchange(&rec, 2)["response"]["body"];
        let expected = &exchange(&rec, 3)["response"]["body"];
        let items = list["items"].as_array().unwrap();
        let ours = table_for_list(
            &crd_info("Gadget"),
            items,
            list["metadata"].clone(),
            IncludeObject::Metadata,
            at("2026-11-22T10:50:03.4Z"),
            true,
        );
        assert_eq!(&ours, expected);
    }

    #[test]
    fn accept_negotiation() {
        let rec = recording("21-table.json");
        let accept = |i: usize| {
            exchange(&rec, i)["request"]["headers"]["Accept"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(parse_table_accept(&accept(0)), Some(TableVersion::V1));
        assert_eq!(parse_table_accept(&accept(1)), Some(TableVersion::V1));
        assert_eq!(parse_table_accept(&accept(8)), Some(TableVersion::V1beta1));
        assert_eq!(negotiate(&accept(9)), Some(Representation::Yaml));
        assert_eq!(parse_table_accept(&accept(9)), None);
        assert_eq!(parse_table_accept("application/json"), None);
        assert_eq!(
            parse_table_accept("application/json;as=Table;g=meta.k8s.io;v=v2,application/json"),
            None
        );
        assert_eq!(
            parse_table_accept(
                "application/json; as=Table; v=v1beta1; g=meta.k8s.io, application/json"
            ),
            Some(TableVersion::V1beta1)
        );
        assert_eq!(negotiate(""), Some(Representation::Json));
        assert_eq!(negotiate("*/*"), Some(Representation::Json));
        assert_eq!(
            negotiate(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
            ),
            Some(Representation::PartialObjectMetadataList(TableVersion::V1))
        );
        assert!(wants_metadata_only(
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
        ));
        assert!(!wants_metadata_only(&accept(1)));
        assert!(!wants_metadata_only("application/json"));
        let refused = exchange(&rec, 10);
        assert_eq!(negotiate(&accept(10)), None);
        assert_eq!(refused["response"]["status"], 406);
        assert_eq!(not_acceptable_body(), refused["response"]["body"]);
    }

    #[test]
    fn human_durations() {
        let h = |secs: i64| human_duration(SignedDuration::from_secs(secs));
        assert_eq!(h(0), "0s");
        assert_eq!(h(-1), "0s");
        assert_eq!(h(-3), "<invalid>");
        assert_eq!(h(108), "108s");
        assert_eq!(h(119), "119s");
        assert_eq!(h(120), "2m");
        assert_eq!(h(125), "2m5s");
        assert_eq!(h(600), "10m");
        assert_eq!(h(3 * 3600 - 1), "179m");
        assert_eq!(h(3 * 3600 + 20 * 60), "3h20m");
        assert_eq!(h(5 * 3600), "5h");
        assert_eq!(h(20 * 3600), "20h");
        assert_eq!(h(2 * 86400), "2d");
        assert_eq!(h(3 * 86400 + 4 * 3600), "3d4h");
        assert_eq!(h(30 * 86400), "30d");
        assert_eq!(h(2 * 365 * 86400 + 10 * 86400), "2y10d");
        assert_eq!(h(9 * 365 * 86400), "9y");
        assert_eq!(human_duration(SignedDuration::from_millis(-1500)), "0s");
    }

    #[test]
    fn json_path_subset() {
        let obj = json!({
            "metadata": {"name": "x", "labels": {"a.b/c": "d"}},
            "spec": {"replicas": 3, "ratio": 0.5, "on": true, "ports": [{"port": 80}, {"port": 443}]},
            "status": {"conditions": [
                {"type": "Synced", "status": "False"},
                {"type": "Ready", "status": "True", "observedGeneration": 2}]},
        });
        let find = |p: &str| {
            JsonPath::parse(p)
                .unwrap_or_else(|| panic!("parse {p}"))
                .find(&obj)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(find(".metadata.name"), [json!("x")]);
        assert_eq!(find("{.metadata.name}"), [json!("x")]);
        assert_eq!(find("$.metadata.name"), [json!("x")]);
        assert_eq!(find(".spec.ports[0].port"), [json!(80)]);
        assert_eq!(find(".spec.ports[-1].port"), [json!(443)]);
        assert_eq!(find(".spec.ports[*].port"), [json!(80), json!(443)]);
        assert_eq!(
            find(".status.conditions[?(@.type==\"Ready\")].status"),
            [json!("True")]
        );
        assert_eq!(
            find(".status.conditions[?(@.type == \"Ready\")].status"),
            [json!("True")]
        );
        assert_eq!(
            find(".status.conditions[?(@.type=='Synced')].status"),
            [json!("False")]
        );
        assert_eq!(
            find(".status.conditions[?(@.type!=\"Synced\")].type"),
            [json!("Ready")]
        );
        assert_eq!(
            find(".status.conditions[?(@.observedGeneration)].type"),
            [json!("Ready")]
        );
        assert_eq!(
            find(".status.conditions[?(@.observedGeneration >= 2)].type"),
            [json!("Ready")]
        );
        assert_eq!(find(".metadata.labels['a.b/c']"), [json!("d")]);
        assert!(find(".status.missing[0].x").is_empty());
        assert!(find(".status.conditions[?(@.type==\"Gone\")].status").is_empty());
        assert!(JsonPath::parse(".a[?(@.b==").is_none());
        assert!(JsonPath::parse(".a]").is_none());

        let col = |name: &str, ty: &str, path: &str| PrinterColumn {
            name: name.into(),
            type_: ty.into(),
            json_path: path.into(),
            priority: 0,
            description: String::new(),
            format: String::new(),
        };
        let now = at("2026-11-22T12:00:00Z");
        assert_eq!(
            custom_cell(&col("R", "integer", ".spec.replicas"), &obj, now),
            json!(3)
        );
        assert_eq!(
            custom_cell(&col("R", "string", ".spec.replicas"), &obj, now),
            json!("3")
        );
        assert_eq!(
            custom_cell(&col("R", "number", ".spec.ratio"), &obj, now),
            json!(0.5)
        );
        assert_eq!(
            custom_cell(&col("R", "boolean", ".spec.on"), &obj, now),
            json!(true)
        );
        assert_eq!(
            custom_cell(&col("R", "boolean", ".spec.replicas"), &obj, now),
            Value::Null
        );
        assert_eq!(
            custom_cell(&col("R", "string", ".spec.ports[*].port"), &obj, now),
            json!("80")
        );
        assert_eq!(
            custom_cell(&col("R", "string", ".spec.nope"), &obj, now),
            Value::Null
        );
        assert_eq!(
            custom_cell(&col("R", "date", ".metadata.name"), &obj, now),
            json!("<invalid>")
        );
        let dated = json!({"t": "2026-11-22T09:00:00Z"});
        assert_eq!(
            custom_cell(&col("T", "date", ".t"), &dated, now),
            json!("3h")
        );
    }

    #[test]
    fn builtin_printers() {
        let now = at("2026-11-22T12:00:00Z");
        let created = "2026-11-22T11:55:00Z";
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "creationTimestamp": created},
            "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        let t = table_for_object(
            &builtin("", "Secret"),
            &secret,
            IncludeObject::None,
            now,
            true,
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["s", "kubernetes.io/tls", 2, "5m"])
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Type", "Data", "Age"]);

        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rec", "creationTimestamp": created}, "status": {"phase": "Active"}});
        assert_eq!(
            row_cells(&builtin("", "Namespace"), &ns, now),
            [json!("rec"), json!("Active"), json!("5m")]
        );

        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l", "creationTimestamp": created}, "spec": {"holderIdentity": "me"}});
        assert_eq!(
            row_cells(&builtin("coordination.k8s.io", "Lease"), &lease, now),
            [json!("l"), json!("me"), json!("5m")]
        );

        let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "creationTimestamp": created},
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
            "reason": "Started", "message": " hi ", "type": "Normal", "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": "2026-11-22T11:00:00Z", "lastTimestamp": "2026-11-22T11:58:00Z", "count": 4});
        assert_eq!(
            row_cells(&builtin("", "Event"), &event, now),
            json!([
                "2m",
                "Normal",
                "Started",
                "pod/p",
                "spec.containers{c}",
                "kubelet, n1",
                "hi",
                "60m",
                4,
                "e1"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
        let new_event = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2", "creationTimestamp": created},
            "eventTime": "2026-11-22T11:59:00.100000Z", "regarding": {"kind": "Widget"}, "reason": "R", "note": "n",
            "type": "Warning", "reportingController": "ctl", "reportingInstance": "i1", "action": "A"});
        assert_eq!(
            row_cells(&builtin("events.k8s.io", "Event"), &new_event, now),
            json!([
                "59s", "Warning", "R", "widget", "", "ctl, i1", "n", "59s", 1, "e2"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
        assert_eq!(column_definitions(&builtin("", "Event")).len(), 10);

        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        assert_eq!(
            row_cells(&builtin("", "Pod"), &pod, now),
            [json!("p"), json!("<unknown>")]
        );
        let role = json!({"metadata": {"name": "r", "creationTimestamp": created}});
        assert_eq!(
            row_cells(&builtin("rbac.authorization.k8s.io", "Role"), &role, now),
            [json!("r"), json!("2026-11-22T11:55:00Z")]
        );
    }

    #[test]
    fn list_metadata_keeps_continue_and_count() {
        let t = table_for_list(
            &builtin("", "ConfigMap"),
            &[],
            json!({"resourceVersion": "9", "continue": "abc", "remainingItemCount": 3, "selfLink": "x"}),
            IncludeObject::Metadata,
            at("2026-11-22T12:00:00Z"),
            false,
        );
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "9", "continue": "abc", "remainingItemCount": 3})
        );
        assert_eq!(t["columnDefinitions"], Value::Null);
        assert_eq!(t["rows"], json!([]));
    }
}
