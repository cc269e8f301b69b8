//! The estimated cost of `x-kubernetes-validations` rules, checked when a CRD is
//! created or updated, as kube-apiserver v1.36 does it: a rule whose worst-case
//! cost (times the number of times it can run in one object) exceeds
//! [`STATIC_ESTIMATED_COST_LIMIT`] is refused, and so is a schema whose rules
//! together exceed [`STATIC_ESTIMATED_CRD_COST_LIMIT`].
//!
//! Ported from `apiextensions-apiserver` (`pkg/apis/apiextensions/validation`:
//! `validateExpressions`, `getExpressionCost`, `CELSchemaContext`, `TotalCost`;
//! `pkg/apiserver/schema/cel/compilation.go`: `maxCardinality`, `sizeEstimator`),
//! `k8s.io/apiserver/pkg/cel` (`common.SchemaDeclType`: `MaxElements` and
//! `MinSerializedSize`; `library.CostEstimator`) and cel-go's `checker/cost.go`.
//!
//! Approximations, where this differs from the real server:
//! - cel-go's cost walk uses the type checker's types and overload ids; this walk
//!   infers types itself from the schema, literals and a table of function result
//!   types. Arithmetic and comparisons on `dyn` values (`x-kubernetes-int-or-string`)
//!   are costed as the O(1) overloads, where cel-go unions every candidate overload.
//! - Only the Kubernetes library functions that have a cost of their own are
//!   special-cased (strings, lists, regex, IP/CIDR, URL, quantity, semver); others
//!   cost 1 plus their arguments, as cel-go's default.
//! - `cel.bind` and the optional-types library are not modelled.
//! - Properties are visited in sorted order (Go visits them in map order, which is
//!   random), so the order of several errors is stable here and not on the server.

use std::collections::{BTreeMap, HashMap};

use cel::common::ast::{Expr, IdedExpr, LiteralValue};
use serde_json::{Map, Value};

use super::field_error::FieldError;

/// The largest estimated cost of one rule (`StaticEstimatedCostLimit`).
pub const STATIC_ESTIMATED_COST_LIMIT: u64 = 10_000_000;
/// The largest estimated cost of all rules of a schema (`StaticEstimatedCRDCostLimit`).
pub const STATIC_ESTIMATED_CRD_COST_LIMIT: u64 = 100_000_000;
/// `celconfig.MaxRequestSizeBytes`: 3 MiB, the bound of every unbounded list, map and string.
const MAX_REQUEST_SIZE_BYTES: u64 = 3 * 1024 * 1024;

// cel-go's `common/cost.go`.
const SELECT_AND_IDENT_COST: u64 = 1;
const LIST_CREATE_BASE_COST: u64 = 10;
const MAP_CREATE_BASE_COST: u64 = 30;
const STRUCT_CREATE_BASE_COST: u64 = 40;
const STRING_TRAVERSAL_COST_FACTOR: f64 = 0.1;
const REGEX_STRING_LENGTH_COST_FACTOR: f64 = 0.25;

// `k8s.io/apiserver/pkg/cel/limits.go`.
const MAX_DURATION_SIZE_JSON: u64 = 32;
const MIN_DURATION_SIZE_JSON: u64 = 3;
const JSON_DATE_SIZE: u64 = 12;
const MAX_DATETIME_SIZE_JSON: u64 = 32;
const MIN_DATETIME_SIZE_JSON: u64 = 21;
const MIN_STRING_SIZE: u64 = 2;
const MIN_BOOL_SIZE: u64 = 4;
const MIN_NUMBER_SIZE: u64 = 1;
/// `apimachinery`'s `DNS1123SubdomainMaxLength`, the cap of `metadata.name` in rules.
const NAME_MAX_LENGTH: i64 = 253;

const RULE_COST_ADVICE: &str = "(try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)";
const CONTRIBUTED: &str =
    "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema";

/// Why a rule's cost could not be estimated.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// The rule does not parse (the compile check reports it on its own).
    #[error("rule does not parse: {0}")]
    Parse(String),
}

/// The cost errors of a CRD (`apiextensions.k8s.io/v1`, as JSON), in kube-apiserver's
/// shape. `old` is the stored CRD on an update: a version whose schema did not change
/// is spared the per-rule limit (the server ratchets it), though it still counts
/// towards the schema total.
pub fn crd_cost_errors(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let Some(versions) = crd.pointer("/spec/versions").and_then(Value::as_array) else {
        return Vec::new();
    };
    let schema_of = |v: &Value| v.pointer("/schema/openAPIV3Schema").cloned();
    let unchanged = |v: &Value| {
        let name = v.get("name");
        old.and_then(|o| o.pointer("/spec/versions").and_then(Value::as_array))
            .and_then(|olds| olds.iter().find(|o| o.get("name") == name))
            .is_some_and(|o| schema_of(o).is_some() && schema_of(o) == schema_of(v))
    };
    // Versions that all share one schema are validated once, as the internal
    // version's top-level `spec.validation` (which is how the server names them).
    let first = versions.first().and_then(schema_of);
    if first.is_some() && versions.iter().all(|v| schema_of(v) == first) {
        let (Some(schema), Some(v0)) = (first, versions.first()) else {
            return Vec::new();
        };
        return schema_cost_errors(&schema, "spec.validation.openAPIV3Schema", unchanged(v0));
    }
    let mut errs = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        if let Some(schema) = schema_of(v) {
            errs.extend(schema_cost_errors(
                &schema,
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                unchanged(v),
            ));
        }
    }
    errs
}

/// The cost errors of one `openAPIV3Schema`, field paths under `base`
/// (`spec.validation.openAPIV3Schema`). `suppress_per_rule` skips the per-rule limit.
pub fn schema_cost_errors(schema: &Value, base: &str, suppress_per_rule: bool) -> Vec<FieldError> {
    let Some(root) = schema.as_object() else {
        return Vec::new();
    };
    let mut w = Walker {
        suppress_per_rule,
        errors: Vec::new(),
        total: 0,
        most_expensive: Vec::new(),
    };
    w.walk(root, base.to_string(), Some(1), true);
    let mut errs = w.errors;
    if w.total > STATIC_ESTIMATED_CRD_COST_LIMIT {
        for (path, _) in &w.most_expensive {
            errs.push(FieldError::forbidden(path.clone(), CONTRIBUTED));
        }
        errs.push(FieldError::forbidden(
            base,
            cost_message(
                "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema",
                w.total,
                STATIC_ESTIMATED_CRD_COST_LIMIT,
            ),
        ));
    }
    errs
}

/// The estimated worst-case cost of one evaluation of `rule` on a node of `schema`
/// (cel-go's `CostEstimate.Max`), without the cardinality of enclosing lists and maps.
pub fn rule_cost(schema: &Value, rule: &str, resource_root: bool) -> Result<u64, CostError> {
    let decl = schema
        .as_object()
        .and_then(|s| decl_of(s, resource_root || is_embedded(s)));
    match decl {
        Some(d) => expression_cost(rule, &d),
        None => Ok(0),
    }
}

/// The `... exceeds budget by factor of ...` message (`getCostErrorMessage`).
pub fn cost_message(cost_name: &str, cost: u64, limit: u64) -> String {
    let factor = cost as f64 / limit as f64;
    let shown = if factor > 100.0 {
        "more than 100x".to_string()
    } else if factor < 1.5 {
        format!("{factor:.6}x")
    } else {
        format!("{factor:.1}x")
    };
    format!("{cost_name} exceeds budget by factor of {shown} {RULE_COST_ADVICE}")
}

/// The schema walk of `ValidateCustomResourceDefinitionOpenAPISchema`, as far as costs go.
struct Walker {
    suppress_per_rule: bool,
    errors: Vec<FieldError>,
    /// `TotalCost.Total`.
    total: u64,
    /// `TotalCost.MostExpensive`: the (at most 4) costliest rules of at least 1% of the limit.
    most_expensive: Vec<(String, u64)>,
}

impl Walker {
    /// `cardinality` is `CELSchemaContext.MaxCardinality`: how many times the node can
    /// occur in one object, `None` when an enclosing list or map is unbounded.
    fn walk(&mut self, s: &Map<String, Value>, path: String, cardinality: Option<u64>, root: bool) {
        let child_cardinality = cardinality
            .zip(extract_max_elements(s))
            .map(|(c, m)| c.saturating_mul(m));
        if let Some(ap) = s.get("additionalProperties").and_then(Value::as_object) {
            self.walk(
                ap,
                format!("{path}.additionalProperties"),
                child_cardinality,
                false,
            );
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            let mut keys: Vec<&String> = props.keys().collect();
            keys.sort();
            for k in keys {
                if let Some(p) = props.get(k).and_then(Value::as_object) {
                    self.walk(
                        p,
                        format!("{path}.properties[{k}]"),
                        child_cardinality,
                        false,
                    );
                }
            }
        }
        if let Some(items) = s.get("items").and_then(Value::as_object) {
            self.walk(items, format!("{path}.items"), child_cardinality, false);
        }
        let Some(rules) = s.get("x-kubernetes-validations").and_then(Value::as_array) else {
            return;
        };
        let Some(decl) = decl_of(s, root || is_embedded(s)) else {
            return;
        };
        for (i, r) in rules.iter().enumerate() {
            let rule_path = format!("{path}.x-kubernetes-validations[{i}]");
            let text = r.get("rule").and_then(Value::as_str).unwrap_or_default();
            if text.trim().is_empty() {
                continue;
            }
            // A rule that does not parse is reported by the compile check, with cost 0.
            let Ok(max_cost) = expression_cost(text, &decl) else {
                continue;
            };
            let cardinality = cardinality.unwrap_or_else(|| max_cardinality(decl.min_size));
            let cost = if max_cost == 0 {
                0
            } else {
                max_cost.saturating_mul(cardinality)
            };
            self.check(format!("{rule_path}.rule"), "estimated rule cost", cost);
            if let Some(m) = r
                .get("messageExpression")
                .and_then(Value::as_str)
                .filter(|m| !m.trim().is_empty())
                && let Ok(cost) = expression_cost(m, &decl)
            {
                // Not multiplied by the cardinality, as on the server.
                self.check(
                    format!("{rule_path}.messageExpression"),
                    "estimated messageExpression cost",
                    cost,
                );
            }
        }
    }

    fn check(&mut self, field: String, cost_name: &str, cost: u64) {
        if !self.suppress_per_rule && cost > STATIC_ESTIMATED_COST_LIMIT {
            self.errors.push(FieldError::forbidden(
                field.clone(),
                cost_message(cost_name, cost, STATIC_ESTIMATED_COST_LIMIT),
            ));
        }
        self.total = self.total.saturating_add(cost);
        if cost < STATIC_ESTIMATED_CRD_COST_LIMIT / 100 {
            return;
        }
        self.most_expensive.push((field, cost));
        self.most_expensive.sort_by_key(|r| std::cmp::Reverse(r.1));
        self.most_expensive.truncate(4);
    }
}

/// `maxCardinality`: how many values of this minimum serialized size fit in a request.
fn max_cardinality(min_size: u64) -> u64 {
    MAX_REQUEST_SIZE_BYTES / (min_size + 1)
}

/// `extractMaxElements`: the factor by which a node multiplies its children's cardinality.
fn extract_max_elements(s: &Map<String, Value>) -> Option<u64> {
    match s.get("type").and_then(Value::as_str) {
        Some("object") if s.get("additionalProperties").is_some_and(|a| !a.is_null()) => {
            int_of(s, "maxProperties").map(zero_if_negative)
        }
        Some("array") => int_of(s, "maxItems").map(zero_if_negative),
        _ => Some(1),
    }
}

fn int_of(s: &Map<String, Value>, key: &str) -> Option<i64> {
    let v = s.get(key)?;
    v.as_i64()
        .or_else(|| v.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
}

fn zero_if_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn is_embedded(s: &Map<String, Value>) -> bool {
    s.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true))
}

// ---------------------------------------------------------------------------------
// Declared types: `common.SchemaDeclType`, keeping what the estimate needs.

/// A schema node as CEL sees it: `DeclType` with `MaxElements` and `MinSerializedSize`.
#[derive(Debug, Clone)]
pub(crate) struct Decl {
    kind: DeclKind,
    /// The most elements (list items, map entries, string bytes) the value can have.
    max_elements: u64,
    /// The fewest bytes the value takes in JSON.
    min_size: u64,
}

#[derive(Debug, Clone)]
enum DeclKind {
    /// Fields by their CEL-escaped names.
    Object(BTreeMap<String, Decl>),
    List(Box<Decl>),
    /// String keys.
    Map(Box<Decl>),
    Str,
    Bytes,
    Duration,
    Timestamp,
    Int,
    Double,
    Bool,
    /// `x-kubernetes-int-or-string`.
    Dyn,
}

/// Map keys: `apiservercel.StringType`, whose `MaxElements` is 0.
static MAP_KEY: Decl = Decl {
    kind: DeclKind::Str,
    max_elements: 0,
    min_size: MIN_STRING_SIZE,
};

fn simple(kind: DeclKind, max_elements: u64, min_size: u64) -> Decl {
    Decl {
        kind,
        max_elements,
        min_size,
    }
}

/// `SchemaDeclType`: `None` for nodes CEL does not see.
fn decl_of(s: &Map<String, Value>, resource_root: bool) -> Option<Decl> {
    let unbounded_string = MAX_REQUEST_SIZE_BYTES - 2;
    if s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        let max = int_of(s, "maxLength")
            .map(|n| zero_if_negative(n).saturating_mul(4))
            .unwrap_or(unbounded_string);
        return Some(simple(DeclKind::Dyn, max, 1));
    }
    match s.get("type").and_then(Value::as_str).unwrap_or_default() {
        "array" => {
            let items = s.get("items")?.as_object()?;
            let item = decl_of(items, is_embedded(items))?;
            let max = int_of(s, "maxItems")
                .map(zero_if_negative)
                .unwrap_or((MAX_REQUEST_SIZE_BYTES - 2) / (item.min_size + 1));
            Some(simple(DeclKind::List(Box::new(item)), max, 2))
        }
        "object" => {
            if let Some(ap) = s.get("additionalProperties").and_then(Value::as_object) {
                let value = decl_of(ap, is_embedded(ap))?;
                let max = int_of(s, "maxProperties")
                    .map(zero_if_negative)
                    .unwrap_or((MAX_REQUEST_SIZE_BYTES - 2) / (value.min_size + 6));
                return Some(simple(DeclKind::Map(Box::new(value)), max, 2));
            }
            Some(object_decl(s, resource_root))
        }
        "string" => {
            let format = s.get("format").and_then(Value::as_str).unwrap_or_default();
            Some(match format {
                "byte" => simple(
                    DeclKind::Bytes,
                    int_of(s, "maxLength")
                        .map(zero_if_negative)
                        .unwrap_or(unbounded_string),
                    MIN_STRING_SIZE,
                ),
                "duration" => simple(
                    DeclKind::Duration,
                    MAX_DURATION_SIZE_JSON,
                    MIN_DURATION_SIZE_JSON,
                ),
                "date" => simple(DeclKind::Timestamp, JSON_DATE_SIZE, JSON_DATE_SIZE),
                "date-time" => simple(
                    DeclKind::Timestamp,
                    MAX_DATETIME_SIZE_JSON,
                    MIN_DATETIME_SIZE_JSON,
                ),
                _ => {
                    let max = if let Some(n) = int_of(s, "maxLength") {
                        // maxLength counts code points; a code point is up to 4 bytes.
                        zero_if_negative(n).saturating_mul(4)
                    } else if let Some(values) = s
                        .get("enum")
                        .and_then(Value::as_array)
                        .filter(|e| !e.is_empty())
                    {
                        values
                            .iter()
                            .filter_map(Value::as_str)
                            .map(|v| v.len() as u64)
                            .max()
                            .unwrap_or(0)
                    } else {
                        unbounded_string
                    };
                    simple(DeclKind::Str, max, MIN_STRING_SIZE)
                }
            })
        }
        "boolean" => Some(simple(DeclKind::Bool, 0, MIN_BOOL_SIZE)),
        "number" => Some(simple(DeclKind::Double, 0, MIN_NUMBER_SIZE)),
        "integer" => Some(simple(DeclKind::Int, 0, MIN_NUMBER_SIZE)),
        _ => None,
    }
}

/// An object's fields; at a resource root with `apiVersion`, `kind` and
/// `metadata.name`/`generateName` always there (`WithTypeAndObjectMeta`).
fn object_decl(s: &Map<String, Value>, resource_root: bool) -> Decl {
    let empty = Map::new();
    let props = s
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut overrides: BTreeMap<&str, Value> = BTreeMap::new();
    if resource_root && !has_type_and_object_meta(props) {
        let meta_props = props
            .get("metadata")
            .and_then(|m| m.get("properties"))
            .cloned()
            .unwrap_or(Value::Null);
        let capped = |field: &str, max: i64| {
            let own = meta_props
                .get(field)
                .and_then(|f| f.get("maxLength"))
                .and_then(Value::as_i64)
                .filter(|m| *m < max);
            serde_json::json!({"type": "string", "maxLength": own.unwrap_or(max)})
        };
        overrides.insert("kind", serde_json::json!({"type": "string"}));
        overrides.insert("apiVersion", serde_json::json!({"type": "string"}));
        overrides.insert(
            "metadata",
            serde_json::json!({"type": "object", "properties": {
                "name": capped("name", NAME_MAX_LENGTH),
                "generateName": capped("generateName", NAME_MAX_LENGTH - 1),
            }}),
        );
    }
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields = BTreeMap::new();
    // An object is at least `{}`.
    let mut min_size: u64 = 2;
    let all = props
        .iter()
        .filter(|(k, _)| !overrides.contains_key(k.as_str()))
        .map(|(k, v)| (k.as_str(), v))
        .chain(overrides.iter().map(|(k, v)| (*k, v)));
    for (name, prop) in all {
        let Some(p) = prop.as_object() else { continue };
        let Some(field) = decl_of(p, is_embedded(p)) else {
            continue;
        };
        // Required fields without a default take at least `"name":value,`.
        if required.contains(&name) && !p.contains_key("default") {
            min_size = min_size
                .saturating_add(name.len() as u64)
                .saturating_add(field.min_size)
                .saturating_add(4);
        }
        if let Some(escaped) = escape(name) {
            fields.insert(escaped, field);
        }
    }
    simple(DeclKind::Object(fields), 0, min_size)
}

fn has_type_and_object_meta(props: &Map<String, Value>) -> bool {
    let is = |v: Option<&Value>, t: &str| {
        v.and_then(|v| v.get("type")).and_then(Value::as_str) == Some(t)
    };
    let meta_props = props.get("metadata").and_then(|m| m.get("properties"));
    is(props.get("kind"), "string")
        && is(props.get("apiVersion"), "string")
        && is(props.get("metadata"), "object")
        && is(meta_props.and_then(|m| m.get("name")), "string")
        && is(meta_props.and_then(|m| m.get("generateName")), "string")
}

const CEL_RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// A property name as a CEL field name (`apiservercel.Escape`), `None` when it has none.
fn escape(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if CEL_RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("__") {
            out.push_str("__underscores__");
            rest = &rest[2..];
            continue;
        }
        match c {
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            _ => return None,
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

// ---------------------------------------------------------------------------------
// The cost walk: cel-go's `checker.Cost` with Kubernetes' `library.CostEstimator`.

/// A size or cost range (cel-go's `SizeEstimate` / `CostEstimate`), saturating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Est {
    min: u64,
    max: u64,
}

impl Est {
    const UNKNOWN: Est = Est {
        min: 0,
        max: u64::MAX,
    };

    fn fixed(n: u64) -> Est {
        Est { min: n, max: n }
    }

    fn add(self, o: Est) -> Est {
        Est {
            min: self.min.saturating_add(o.min),
            max: self.max.saturating_add(o.max),
        }
    }

    fn mul(self, o: Est) -> Est {
        Est {
            min: self.min.saturating_mul(o.min),
            max: self.max.saturating_mul(o.max),
        }
    }

    fn factor(self, f: f64) -> Est {
        Est {
            min: by_factor(self.min, f),
            max: by_factor(self.max, f),
        }
    }

    fn union(self, o: Est) -> Est {
        Est {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }
}

/// `multiplyByCostFactor`: rounded up, saturating.
fn by_factor(x: u64, f: f64) -> u64 {
    let xf = x as f64;
    if xf > 0.0 && f > 0.0 && xf > u64::MAX as f64 / f {
        return u64::MAX;
    }
    let c = (xf * f).ceil();
    if c >= 18_446_744_073_709_551_616.0 {
        u64::MAX
    } else {
        c as u64
    }
}

/// The sizes of a list's or map's entries (`entrySizeEstimate`).
#[derive(Debug, Clone, Copy)]
struct Entry {
    list: bool,
    key: Est,
    val: Est,
}

/// The type of an expression, as far as the estimate needs it.
#[derive(Debug, Clone)]
enum Ty<'d> {
    Bool,
    Int,
    Uint,
    Double,
    Str,
    Bytes,
    Duration,
    Timestamp,
    Null,
    List(Box<Ty<'d>>),
    Map(Box<Ty<'d>>, Box<Ty<'d>>),
    Object(&'d BTreeMap<String, Decl>),
    /// A Kubernetes library type: `ip`, `cidr`, `url`, `quantity`, `semver`.
    Opaque(&'static str),
    Dyn,
}

impl<'d> Ty<'d> {
    fn of(d: &'d Decl) -> Ty<'d> {
        match &d.kind {
            DeclKind::Object(f) => Ty::Object(f),
            DeclKind::List(e) => Ty::List(Box::new(Ty::of(e))),
            DeclKind::Map(v) => Ty::Map(Box::new(Ty::Str), Box::new(Ty::of(v))),
            DeclKind::Str => Ty::Str,
            DeclKind::Bytes => Ty::Bytes,
            DeclKind::Duration => Ty::Duration,
            DeclKind::Timestamp => Ty::Timestamp,
            DeclKind::Int => Ty::Int,
            DeclKind::Double => Ty::Double,
            DeclKind::Bool => Ty::Bool,
            DeclKind::Dyn => Ty::Dyn,
        }
    }

    /// `isScalar`: constant size at compile time.
    fn is_scalar(&self) -> bool {
        matches!(
            self,
            Ty::Bool | Ty::Double | Ty::Duration | Ty::Int | Ty::Timestamp | Ty::Uint
        )
    }

    fn is_stringish(&self) -> bool {
        matches!(self, Ty::Str | Ty::Bytes)
    }
}

struct LocalVar<'d> {
    path: Vec<String>,
    size: Option<Est>,
    entry: Option<Entry>,
    ty: Ty<'d>,
}

/// Namespaces of qualified function names (`strings.quote`, `ip.isCanonical`).
const FUNCTION_NAMESPACES: &[&str] = &[
    "strings",
    "ip",
    "format",
    "math",
    "sets",
    "lists",
    "base64",
    "jsonpatch",
];

const ACCUMULATORS: &[&str] = &["@result", "__result__"];

struct Coster<'d> {
    root: &'d Decl,
    paths: HashMap<u64, Vec<String>>,
    sizes: HashMap<u64, Est>,
    entries: HashMap<u64, Entry>,
    types: HashMap<u64, Ty<'d>>,
    locals: HashMap<String, Vec<LocalVar<'d>>>,
}

/// The estimated worst-case cost of one evaluation of an expression with `self` of type `root`.
fn expression_cost(rule: &str, root: &Decl) -> Result<u64, CostError> {
    let expr = cel::parser::Parser::new()
        .enable_optional_syntax(true)
        .parse(rule)
        .map_err(|e| CostError::Parse(e.to_string()))?;
    let mut c = Coster {
        root,
        paths: HashMap::new(),
        sizes: HashMap::new(),
        entries: HashMap::new(),
        types: HashMap::new(),
        locals: HashMap::new(),
    };
    Ok(c.cost(&expr).max)
}

impl<'d> Coster<'d> {
    fn ty(&self, e: &IdedExpr) -> Ty<'d> {
        self.types.get(&e.id).cloned().unwrap_or(Ty::Dyn)
    }

    fn path(&self, e: &IdedExpr) -> Vec<String> {
        self.paths.get(&e.id).cloned().unwrap_or_default()
    }

    fn local(&self, name: &str) -> Option<&LocalVar<'d>> {
        self.locals.get(name).and_then(|v| v.last())
    }

    fn push_local(&mut self, name: &str, var: LocalVar<'d>) {
        self.locals.entry(name.to_string()).or_default().push(var);
    }

    fn pop_local(&mut self, name: &str) {
        if let Some(v) = self.locals.get_mut(name) {
            v.pop();
        }
    }

    /// The Kubernetes `sizeEstimator`: `MaxElements` of the schema node at `path`
    /// (its first element, `self` or `oldSelf`, is the rule's node).
    fn estimate_size(&self, path: &[String]) -> Option<Est> {
        let (_, rest) = path.split_first()?;
        let mut node = self.root;
        for seg in rest {
            node = match (seg.as_str(), &node.kind) {
                ("@items" | "@values", DeclKind::List(e) | DeclKind::Map(e)) => e,
                ("@keys", DeclKind::Map(_)) => &MAP_KEY,
                (name, DeclKind::Object(fields)) => fields.get(name)?,
                _ => return None,
            };
        }
        Some(Est {
            min: 0,
            max: node.max_elements,
        })
    }

    /// `computeSize`.
    fn compute_size(&mut self, e: &IdedExpr) -> Option<Est> {
        if let Some(s) = self.sizes.get(&e.id) {
            return Some(*s);
        }
        if let Some(s) = literal_size(e) {
            return Some(s);
        }
        let path = self.path(e);
        if let Some(s) = self.estimate_size(&path) {
            self.sizes.insert(e.id, s);
            return Some(s);
        }
        if self.ty(e).is_scalar() {
            return Some(Est::fixed(1));
        }
        if let Expr::Ident(name) = &e.expr {
            return self.local(name).and_then(|v| v.size);
        }
        None
    }

    fn size(&mut self, e: &IdedExpr) -> Est {
        self.compute_size(e).unwrap_or(Est::UNKNOWN)
    }

    fn entry(&self, e: &IdedExpr) -> Option<Entry> {
        if let Some(s) = self.entries.get(&e.id) {
            return Some(*s);
        }
        if let Expr::Ident(name) = &e.expr {
            return self.local(name).and_then(|v| v.entry);
        }
        None
    }

    fn cost(&mut self, e: &IdedExpr) -> Est {
        match &e.expr {
            Expr::Literal(l) => {
                let ty = match l {
                    LiteralValue::Boolean(_) => Ty::Bool,
                    LiteralValue::Bytes(_) => Ty::Bytes,
                    LiteralValue::Double(_) => Ty::Double,
                    LiteralValue::Int(_) => Ty::Int,
                    LiteralValue::Null => Ty::Null,
                    LiteralValue::String(_) => Ty::Str,
                    LiteralValue::UInt(_) => Ty::Uint,
                };
                self.types.insert(e.id, ty);
                Est::fixed(0)
            }
            Expr::Ident(name) => {
                let (path, ty) = match self.local(name) {
                    Some(v) => (v.path.clone(), v.ty.clone()),
                    None if name == "self" || name == "oldSelf" => {
                        (vec![name.clone()], Ty::of(self.root))
                    }
                    None => (vec![name.clone()], Ty::Dyn),
                };
                self.paths.insert(e.id, path);
                self.types.insert(e.id, ty);
                Est::fixed(SELECT_AND_IDENT_COST)
            }
            Expr::Select(sel) => {
                if sel.test {
                    // has(): Kubernetes sets PresenceTestHasCost(false).
                    self.types.insert(e.id, Ty::Bool);
                    return self.cost(&sel.operand);
                }
                let mut sum = self.cost(&sel.operand);
                let operand = self.ty(&sel.operand);
                if matches!(operand, Ty::Map(..) | Ty::Object(_)) {
                    sum = sum.add(Est::fixed(SELECT_AND_IDENT_COST));
                }
                let mut path = self.path(&sel.operand);
                path.push(sel.field.clone());
                self.paths.insert(e.id, path);
                let ty = match operand {
                    Ty::Object(fields) => fields.get(&sel.field).map(Ty::of).unwrap_or(Ty::Dyn),
                    Ty::Map(_, v) => *v,
                    _ => Ty::Dyn,
                };
                self.types.insert(e.id, ty);
                sum
            }
            Expr::Call(call) => self.cost_call(e, call),
            Expr::List(list) => {
                let mut sum = Est::fixed(0);
                let mut item = if list.elements.is_empty() {
                    Est::fixed(0)
                } else {
                    Est {
                        min: u64::MAX,
                        max: 0,
                    }
                };
                for el in &list.elements {
                    sum = sum.add(self.cost(el));
                    let s = self.size(el);
                    item = item.union(s);
                }
                self.entries.insert(
                    e.id,
                    Entry {
                        list: true,
                        key: Est::fixed(1),
                        val: item,
                    },
                );
                let el_ty = list.elements.first().map(|f| self.ty(f)).unwrap_or(Ty::Dyn);
                self.types.insert(e.id, Ty::List(Box::new(el_ty)));
                sum.add(Est::fixed(LIST_CREATE_BASE_COST))
            }
            Expr::Map(map) => {
                let mut sum = Est::fixed(0);
                let start = if map.entries.is_empty() {
                    Est::fixed(0)
                } else {
                    Est {
                        min: u64::MAX,
                        max: 0,
                    }
                };
                let (mut ks, mut vs) = (start, start);
                let mut tys = (Ty::Dyn, Ty::Dyn);
                for ent in &map.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(me) = &ent.expr {
                        sum = sum.add(self.cost(&me.key)).add(self.cost(&me.value));
                        let k = self.size(&me.key);
                        let v = self.size(&me.value);
                        ks = ks.union(k);
                        vs = vs.union(v);
                        tys = (self.ty(&me.key), self.ty(&me.value));
                    }
                }
                self.entries.insert(
                    e.id,
                    Entry {
                        list: false,
                        key: ks,
                        val: vs,
                    },
                );
                self.types
                    .insert(e.id, Ty::Map(Box::new(tys.0), Box::new(tys.1)));
                sum.add(Est::fixed(MAP_CREATE_BASE_COST))
            }
            Expr::Struct(st) => {
                let mut sum = Est::fixed(0);
                for ent in &st.entries {
                    if let cel::common::ast::EntryExpr::StructField(f) = &ent.expr {
                        sum = sum.add(self.cost(&f.value));
                    }
                }
                self.types.insert(e.id, Ty::Dyn);
                sum.add(Est::fixed(STRUCT_CREATE_BASE_COST))
            }
            Expr::Comprehension(c) => self.cost_comprehension(e, c),
            Expr::Unspecified => Est::fixed(0),
        }
    }

    fn cost_comprehension(&mut self, e: &IdedExpr, c: &cel::common::ast::ComprehensionExpr) -> Est {
        let is_bind = matches!(&c.iter_range.expr, Expr::List(l) if l.elements.is_empty())
            && matches!(
                &c.loop_cond.expr,
                Expr::Literal(LiteralValue::Boolean(b)) if !*b.inner()
            )
            && !ACCUMULATORS.contains(&c.accu_var.as_str());
        let mut sum = self.cost(&c.iter_range).add(self.cost(&c.accu_init));
        let accu = LocalVar {
            path: self.path(&c.accu_init),
            size: self.compute_size(&c.accu_init),
            entry: self.entry(&c.accu_init),
            ty: self.ty(&c.accu_init),
        };
        self.push_local(&c.accu_var, accu);
        if is_bind {
            sum = sum.add(self.cost(&c.result));
            self.pop_local(&c.accu_var);
            if let Some(s) = self.compute_size(&c.result) {
                self.sizes.insert(e.id, s);
            }
            if let Some(en) = self.entry(&c.result) {
                self.entries.insert(e.id, en);
            }
            self.types.insert(e.id, self.ty(&c.result));
            return sum;
        }
        let range_entry = self.entry(&c.iter_range);
        let range_ty = self.ty(&c.iter_range);
        let is_list = range_entry
            .map(|en| en.list)
            .unwrap_or(matches!(range_ty, Ty::List(_)));
        let range_path = self.path(&c.iter_range);
        let (key_ty, val_ty) = match &range_ty {
            Ty::List(el) => (Ty::Int, (**el).clone()),
            Ty::Map(k, v) => ((**k).clone(), (**v).clone()),
            _ => (Ty::Dyn, Ty::Dyn),
        };
        let with_sub = |sub: &str| {
            let mut p = range_path.clone();
            p.push(sub.to_string());
            p
        };
        match &c.iter_var2 {
            Some(v2) => {
                let key = LocalVar {
                    path: with_sub(if is_list { "@indices" } else { "@keys" }),
                    size: range_entry.map(|en| en.key),
                    entry: None,
                    ty: key_ty,
                };
                self.push_local(&c.iter_var, key);
                let val = LocalVar {
                    path: with_sub(if is_list { "@items" } else { "@values" }),
                    size: range_entry.map(|en| en.val),
                    entry: None,
                    ty: val_ty,
                };
                self.push_local(v2, val);
            }
            None => {
                let var = if is_list {
                    LocalVar {
                        path: with_sub("@items"),
                        size: range_entry.map(|en| en.val),
                        entry: None,
                        ty: val_ty,
                    }
                } else {
                    LocalVar {
                        path: with_sub("@keys"),
                        size: range_entry.map(|en| en.key),
                        entry: None,
                        ty: key_ty,
                    }
                };
                self.push_local(&c.iter_var, var);
            }
        }
        let loop_cost = self.cost(&c.loop_cond);
        let step_cost = self.cost(&c.loop_step);
        // The accumulator takes the step's type (`[]` becomes a list of the mapped values).
        let step_ty = self.ty(&c.loop_step);
        if let Some(v) = self.locals.get_mut(&c.accu_var).and_then(|v| v.last_mut()) {
            v.ty = step_ty;
        }
        self.pop_local(&c.iter_var);
        if let Some(v2) = &c.iter_var2 {
            self.pop_local(v2);
        }
        sum = sum.add(self.cost(&c.result));
        self.pop_local(&c.accu_var);
        let range_cnt = self.size(&c.iter_range);
        sum = sum.add(range_cnt.mul(step_cost.add(loop_cost)));
        match &c.accu_init.expr {
            Expr::Literal(_) => {
                if let Some(s) = self.compute_size(&c.accu_init) {
                    self.sizes.insert(e.id, s);
                }
            }
            Expr::List(_) | Expr::Map(_) => {
                self.sizes.insert(e.id, range_cnt);
                if let Some(en) = self.entry(&c.loop_step) {
                    self.entries.insert(e.id, en);
                }
            }
            _ => {}
        }
        self.types.insert(e.id, self.ty(&c.result));
        sum
    }

    fn cost_call(&mut self, e: &IdedExpr, call: &cel::common::ast::CallExpr) -> Est {
        // `strings.quote(x)` parses as a member call on the identifier `strings`.
        let qualified = match call.target.as_deref() {
            Some(IdedExpr {
                expr: Expr::Ident(ns),
                ..
            }) if FUNCTION_NAMESPACES.contains(&ns.as_str()) && self.local(ns).is_none() => {
                Some(format!("{ns}.{}", call.func_name))
            }
            _ => None,
        };
        let name = qualified.as_deref().unwrap_or(call.func_name.as_str());
        let target = if qualified.is_some() {
            None
        } else {
            call.target.as_deref()
        };
        let args = &call.args;
        if name == "dyn" && args.len() == 1 && target.is_none() {
            let c = self.cost(&args[0]);
            if let Some(s) = self.compute_size(&args[0]) {
                self.sizes.insert(e.id, s);
            }
            if let Some(en) = self.entry(&args[0]) {
                self.entries.insert(e.id, en);
            }
            self.types.insert(e.id, Ty::Dyn);
            return Est::fixed(1).add(c);
        }
        let arg_costs: Vec<Est> = args.iter().map(|a| self.cost(a)).collect();
        let mut sum = Est::fixed(0);
        if let Some(t) = target {
            sum = self.cost(t);
        }
        let arg_tys: Vec<Ty<'d>> = args.iter().map(|a| self.ty(a)).collect();
        let target_ty = target.map(|t| self.ty(t));
        let result_ty = result_type(name, target_ty.as_ref(), &arg_tys);
        self.types.insert(e.id, result_ty);
        let (fn_cost, mut result_size) = self.function_cost(e, name, target, args, &arg_costs);
        if name == "_[_]" && args.len() == 2 {
            result_size = self.entry(&args[0]).map(|en| en.val);
            let sub = if matches!(arg_tys[0], Ty::List(_)) {
                "@items"
            } else {
                "@values"
            };
            let mut p = self.path(&args[0]);
            p.push(sub.to_string());
            self.paths.insert(e.id, p);
        }
        if result_size.is_none() {
            result_size = self.compute_size(e);
        }
        if let Some(s) = result_size {
            self.sizes.insert(e.id, s);
        }
        sum.add(fn_cost)
    }

    /// `functionCost`: the Kubernetes estimator first, then cel-go's own overloads,
    /// else O(1). Returns the cost (arguments included) and the result size.
    fn function_cost(
        &mut self,
        e: &IdedExpr,
        name: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
        arg_costs: &[Est],
    ) -> (Est, Option<Est>) {
        let arg_sum = arg_costs.iter().fold(Est::fixed(0), |a, c| a.add(*c));
        if let Some((c, size)) = self.kubernetes_call_cost(name, target, args) {
            return (c.add(arg_sum), size);
        }
        let target_ty = target.map(|t| self.ty(t));
        let ty0 = args.first().map(|a| self.ty(a)).unwrap_or(Ty::Dyn);
        let ty1 = args.get(1).map(|a| self.ty(a)).unwrap_or(Ty::Dyn);
        let traversal = STRING_TRAVERSAL_COST_FACTOR;
        match (name, target, args) {
            ("format", Some(t), _) if matches!(target_ty, Some(Ty::Str)) => {
                let s = self.size(t);
                (s.factor(traversal).add(arg_sum), None)
            }
            ("bytes", None, [a]) if matches!(ty0, Ty::Str) => {
                let s = self.size(a);
                let rs = Est {
                    min: s.min,
                    max: s.max.saturating_mul(4),
                };
                (s.factor(traversal).add(arg_sum), Some(rs))
            }
            ("string", None, [a]) if matches!(ty0, Ty::Bytes) => {
                let s = self.size(a);
                let rs = Est {
                    min: s.min / 4,
                    max: s.max,
                };
                (s.factor(traversal).add(arg_sum), Some(rs))
            }
            ("strings.quote", None, [a]) => {
                let s = self.size(a);
                let rs = Est {
                    min: s.min.saturating_add(2),
                    max: s.max.saturating_mul(2).saturating_add(2),
                };
                (s.factor(traversal).add(arg_sum), Some(rs))
            }
            ("startsWith" | "endsWith", Some(_), [a]) => {
                let s = self.size(a);
                (s.factor(traversal).add(arg_sum), None)
            }
            ("@in", None, [_, list]) if matches!(ty1, Ty::List(_)) => {
                let s = self.size(list);
                (s.factor(1.0).add(arg_sum), None)
            }
            ("matches", Some(t), [re]) => {
                let str_cost = self.size(t).add(Est::fixed(1)).factor(traversal);
                let regex_cost = self.size(re).factor(REGEX_STRING_LENGTH_COST_FACTOR);
                (str_cost.mul(regex_cost).add(arg_sum), None)
            }
            ("contains", Some(t), [sub]) if matches!(target_ty, Some(Ty::Str)) => {
                let s = self.size(t).factor(traversal);
                let sub = self.size(sub).factor(traversal);
                (s.mul(sub).add(arg_sum), None)
            }
            ("_&&_" | "_||_", None, [_, _]) => {
                let (l, r) = (arg_costs[0], arg_costs[1]);
                (
                    Est {
                        min: l.min,
                        max: l.add(r).max,
                    },
                    None,
                )
            }
            ("_?_:_", None, [_, a, b]) => {
                let size = self.size(a).union(self.size(b));
                if let (Some(x), Some(y)) = (self.entry(a), self.entry(b)) {
                    self.entries.insert(
                        e.id,
                        Entry {
                            list: x.list,
                            key: x.key.union(y.key),
                            val: x.val.union(y.val),
                        },
                    );
                }
                let cost = arg_costs[0].add(arg_costs[1].union(arg_costs[2]));
                (cost, Some(size))
            }
            ("_+_", None, [a, b])
                if ty0.is_stringish()
                    || matches!(ty0, Ty::List(_))
                    || (matches!(ty0, Ty::Dyn)
                        && (ty1.is_stringish() || matches!(ty1, Ty::List(_)))) =>
            {
                let size = self.size(a).add(self.size(b));
                if let (Some(x), Some(y)) = (self.entry(a), self.entry(b)) {
                    self.entries.insert(
                        e.id,
                        Entry {
                            list: x.list,
                            key: x.key.union(y.key),
                            val: x.val.union(y.val),
                        },
                    );
                }
                if matches!(ty0, Ty::List(_)) || matches!(ty1, Ty::List(_)) {
                    (Est::fixed(1).add(arg_sum), Some(size))
                } else {
                    (size.factor(traversal).add(arg_sum), Some(size))
                }
            }
            ("_<_" | "_>_" | "_<=_" | "_>=_", None, [a, b])
                if ty0.is_stringish() || ty1.is_stringish() =>
            {
                (self.comparison_cost(a, b).add(arg_sum), None)
            }
            ("_==_" | "_!=_", None, [a, b]) => (self.comparison_cost(a, b).add(arg_sum), None),
            _ => (Est::fixed(1).add(arg_sum), None),
        }
    }

    /// String, bytes and equality comparisons: a traversal of the shorter operand.
    fn comparison_cost(&mut self, a: &IdedExpr, b: &IdedExpr) -> Est {
        let (l, r) = (self.size(a), self.size(b));
        let smallest_max = l.max.min(r.max);
        let min = u64::from(smallest_max > 0);
        Est {
            min,
            max: smallest_max,
        }
        .factor(STRING_TRAVERSAL_COST_FACTOR)
    }

    /// The element of a list, for `library.CostEstimator.listElementNode`: its
    /// type and its size (`@items` of the list's path), unknown without a path.
    fn list_element(&self, list: &IdedExpr) -> Option<(Ty<'d>, Est)> {
        let el = match self.ty(list) {
            Ty::List(el) => *el,
            Ty::Map(k, _) => *k,
            _ => return None,
        };
        let mut path = self.path(list);
        if path
            .first()
            .is_some_and(|p| ACCUMULATORS.contains(&p.as_str()))
        {
            path.clear();
        }
        path.push("@items".to_string());
        let size = self.estimate_size(&path).unwrap_or(Est::UNKNOWN);
        Some((el, size))
    }

    /// `library.CostEstimator.EstimateCallCost`, for the functions with a cost of their
    /// own; the cost excludes the arguments (the caller adds them).
    fn kubernetes_call_cost(
        &mut self,
        name: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) -> Option<(Est, Option<Est>)> {
        let traversal = STRING_TRAVERSAL_COST_FACTOR;
        let one = Est::fixed(1);
        match (name, target, args) {
            (
                "isSorted" | "sum" | "max" | "min" | "indexOf" | "lastIndexOf" | "includes",
                Some(t),
                _,
            ) => {
                let size = self.size(t);
                match self.list_element(t) {
                    Some((el_ty, el_size)) => {
                        let mut el_cost = one;
                        if el_ty.is_stringish() {
                            el_cost = el_cost.add(el_size.factor(traversal));
                        }
                        Some((size.mul(el_cost), None))
                    }
                    None if name == "includes" => Some((size.mul(one), None)),
                    None => Some((size.factor(traversal), None)),
                }
            }
            ("url" | "jsonpatch.escapeKey", None, [a]) => {
                let s = self.size(a);
                Some((s.factor(traversal), Some(s)))
            }
            ("lowerAscii" | "upperAscii" | "substring" | "trim", Some(t), _) => {
                let s = self.size(t);
                Some((s.factor(traversal), Some(s)))
            }
            ("replace", Some(t), [from, to, ..]) => {
                let sz = self.size(t);
                let from = self.size(from);
                let to = self.size(to);
                let mut count = Est::fixed(0);
                let mut retained = Est::fixed(0);
                if from.min == 0 {
                    count.max = sz.max.saturating_add(u64::from(sz.max < u64::MAX));
                    retained.max = sz.max;
                } else if to.max <= from.min {
                    retained.max = sz.max;
                } else {
                    count.max = (sz.max as f64 / from.min as f64).ceil() as u64;
                }
                if from.max == 0 {
                    count.min = sz.min.saturating_add(u64::from(sz.min < u64::MAX));
                    retained.min = sz.min;
                } else if from.max <= to.min {
                    retained.min = sz.min;
                } else {
                    count.min = (sz.min as f64 / from.max as f64).ceil() as u64;
                }
                let size = count.mul(to).add(retained);
                Some((sz.factor(2.0 * traversal), Some(size)))
            }
            ("split", Some(t), _) => {
                let sz = self.size(t);
                let mut max = sz.max;
                if let Some(IdedExpr {
                    expr: Expr::Literal(LiteralValue::Int(i)),
                    ..
                }) = args.get(1)
                {
                    max = u64::try_from(*i.inner()).unwrap_or(0);
                }
                Some((sz.factor(2.0 * traversal), Some(Est { min: 0, max })))
            }
            ("join", Some(t), _) => {
                let list = self.size(t);
                let mut sz = Est::fixed(0);
                if let Some((_, el)) = self.list_element(t) {
                    sz = list.mul(el);
                }
                if let Some(sep) = args.first() {
                    let sep = self.size(sep);
                    let seps = Est {
                        min: list.min.saturating_sub(1),
                        max: list.max.saturating_sub(1),
                    };
                    sz = sz.add(sep.mul(seps));
                }
                Some((sz.factor(traversal), Some(sz)))
            }
            ("find" | "findAll", Some(t), [re, ..]) => {
                let sz = self.size(t);
                let str_cost = sz.add(one).factor(traversal);
                let regex_cost = self.size(re).factor(REGEX_STRING_LENGTH_COST_FACTOR);
                Some((
                    str_cost.mul(regex_cost),
                    Some(Est {
                        min: 0,
                        max: sz.max,
                    }),
                ))
            }
            ("cidr" | "isIP" | "isCIDR" | "ip", None, [a, ..])
            | ("quantity" | "isQuantity" | "semver" | "isSemver", None, [a, ..]) => {
                Some((self.size(a).factor(traversal), None))
            }
            ("ip", Some(_), []) => Some((one, None)),
            ("ip.isCanonical", None, [a, ..]) => Some((self.size(a).factor(2.0 * traversal), None)),
            (
                "masked"
                | "prefixLength"
                | "family"
                | "isUnspecified"
                | "isLoopback"
                | "isLinkLocalMulticast"
                | "isLinkLocalUnicast"
                | "isGlobalUnicast"
                | "sign"
                | "asInteger"
                | "isInteger"
                | "asApproximateFloat"
                | "isGreaterThan"
                | "isLessThan"
                | "compareTo"
                | "add"
                | "sub"
                | "major"
                | "minor"
                | "patch"
                | "getScheme"
                | "getHostname"
                | "getHost"
                | "getPort"
                | "getEscapedPath"
                | "getQuery"
                | "format.named",
                _,
                _,
            ) => Some((one, None)),
            ("containsIP" | "containsCIDR", Some(_), [a, ..]) => {
                let ip = Est { min: 4, max: 16 };
                let mut c = ip.add(ip).factor(traversal);
                if name == "containsCIDR" {
                    c = c.add(ip.factor(traversal)).add(one);
                }
                if matches!(self.ty(a), Ty::Str) {
                    c = c.add(self.size(a).factor(traversal));
                }
                Some((c, None))
            }
            ("_==_", None, [a, b]) => match (self.ty(a), self.ty(b)) {
                (Ty::Opaque(x), Ty::Opaque(y)) if x == y => Some((one, None)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The size of a literal (`computeExprSize`): code points of a string, bytes,
/// entries of a list or map, 1 for a scalar.
fn literal_size(e: &IdedExpr) -> Option<Est> {
    let n = match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => s.inner().chars().count() as u64,
        Expr::Literal(LiteralValue::Bytes(b)) => b.inner().len() as u64,
        Expr::Literal(_) => 1,
        Expr::List(l) => l.elements.len() as u64,
        Expr::Map(m) => m.entries.len() as u64,
        _ => return None,
    };
    Some(Est::fixed(n))
}

/// The result type of a function (the type checker's job, for what the estimate needs).
fn result_type<'d>(name: &str, target: Option<&Ty<'d>>, args: &[Ty<'d>]) -> Ty<'d> {
    let first = args.first().cloned().unwrap_or(Ty::Dyn);
    match name {
        "_&&_"
        | "_||_"
        | "!_"
        | "@not_strictly_false"
        | "_==_"
        | "_!=_"
        | "_<_"
        | "_>_"
        | "_<=_"
        | "_>=_"
        | "@in"
        | "matches"
        | "startsWith"
        | "endsWith"
        | "contains"
        | "isIP"
        | "isCIDR"
        | "isURL"
        | "isSorted"
        | "isQuantity"
        | "isSemver"
        | "includes"
        | "containsIP"
        | "containsCIDR"
        | "isUnspecified"
        | "isLoopback"
        | "isLinkLocalMulticast"
        | "isLinkLocalUnicast"
        | "isGlobalUnicast"
        | "isInteger"
        | "isGreaterThan"
        | "isLessThan"
        | "ip.isCanonical"
        | "sets.contains"
        | "sets.equivalent"
        | "sets.intersects"
        | "exists"
        | "all"
        | "exists_one" => Ty::Bool,
        "_?_:_" => match args.get(1) {
            Some(Ty::Null | Ty::Dyn) | None => args.get(2).cloned().unwrap_or(Ty::Dyn),
            Some(t) => t.clone(),
        },
        "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => match first {
            Ty::Dyn => args.get(1).cloned().unwrap_or(Ty::Dyn),
            Ty::Timestamp if name == "_-_" && matches!(args.get(1), Some(Ty::Timestamp)) => {
                Ty::Duration
            }
            t => t,
        },
        "-_" => first,
        "_[_]" => match first {
            Ty::List(el) => *el,
            Ty::Map(_, v) => *v,
            _ => Ty::Dyn,
        },
        "size" | "int" | "indexOf" | "lastIndexOf" | "getFullYear" | "getMonth"
        | "getDayOfYear" | "getDayOfMonth" | "getDate" | "getDayOfWeek" | "getHours"
        | "getMinutes" | "getSeconds" | "getMilliseconds" | "prefixLength" | "family"
        | "asInteger" | "sign" | "compareTo" | "major" | "minor" | "patch" => Ty::Int,
        "uint" => Ty::Uint,
        "double" | "asApproximateFloat" => Ty::Double,
        "string"
        | "lowerAscii"
        | "upperAscii"
        | "trim"
        | "substring"
        | "replace"
        | "format"
        | "charAt"
        | "join"
        | "strings.quote"
        | "find"
        | "getScheme"
        | "getHostname"
        | "getHost"
        | "getPort"
        | "getEscapedPath"
        | "jsonpatch.escapeKey" => Ty::Str,
        "reverse" => target.cloned().unwrap_or(Ty::Str),
        "bytes" => Ty::Bytes,
        "duration" => Ty::Duration,
        "timestamp" => Ty::Timestamp,
        "split" | "findAll" => Ty::List(Box::new(Ty::Str)),
        "getQuery" => Ty::Map(Box::new(Ty::Str), Box::new(Ty::List(Box::new(Ty::Str)))),
        "ip" => Ty::Opaque("ip"),
        "cidr" | "masked" => Ty::Opaque("cidr"),
        "url" => Ty::Opaque("url"),
        "quantity" | "add" | "sub" => Ty::Opaque("quantity"),
        "semver" => Ty::Opaque("semver"),
        "sum" | "max" | "min" => match target {
            Some(Ty::List(el)) => (**el).clone(),
            _ => first,
        },
        "slice" | "sort" | "distinct" | "flatten" => target.cloned().unwrap_or(Ty::Dyn),
        _ => Ty::Dyn,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    fn rule_cost_of(schema: Value, rule: &str) -> u64 {
        rule_cost(&schema, rule, false).expect("parses")
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    /// A CRD schema with `spec` holding `props`.
    fn crd_schema(spec: Value) -> Value {
        json!({"type": "object", "properties": {"spec": spec}})
    }

    #[test]
    fn is_ip_on_a_bounded_string_costs_a_tenth_of_its_bytes_plus_the_reference() {
        // maxLength 45 → 180 bytes → ceil(18.0) + 1 for `self`.
        let cost = rule_cost_of(json!({"type": "string", "maxLength": 45}), "isIP(self)");
        assert_eq!(cost, 19);
    }

    #[test]
    fn has_checks_cost_only_their_operand() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "object"}, "b": {"type": "object"}, "c": {"type": "object"}}});
        assert_eq!(rule_cost_of(schema.clone(), "has(self.a)"), 1);
        // 3 conditionals (1 each) + 2 additions (1 each) + `== 1` (1).
        assert_eq!(
            rule_cost_of(
                schema,
                "(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) + (has(self.c) ? 1 : 0) == 1"
            ),
            6
        );
    }

    #[test]
    fn nested_all_over_bounded_lists() {
        // The accepted recording `costbs`: 100 items of up to 253 characters.
        let schema = json!({"type": "object", "properties": {
            "dnsNames": {"type": "array", "maxItems": 100,
                          "items": {"type": "string", "maxLength": 253}}}});
        let cost = rule_cost_of(
            schema,
            "self.dnsNames.all(n, self.dnsNames.all(m, n == m || !n.endsWith(m)))",
        );
        assert_eq!(cost, 2_120_603);
    }

    #[test]
    fn unbounded_list_items_are_multiplied_by_the_request_size_cardinality() {
        let schema = crd_schema(json!({"type": "object", "properties": {
            "ipAddresses": {"type": "array", "items": {
                "type": "string", "maxLength": 45,
                "x-kubernetes-validations": [{"rule": "isIP(self)"}]}}}}));
        let errs = schema_cost_errors(&schema, "spec.validation.openAPIV3Schema", false);
        assert_eq!(
            messages(&errs),
            vec![format!(
                "spec.validation.openAPIV3Schema.properties[spec].properties[ipAddresses].items.x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of 2.0x {RULE_COST_ADVICE}"
            )]
        );
    }

    #[test]
    fn bounded_enclosing_lists_multiply_by_their_max_items() {
        let schema = crd_schema(json!({"type": "object", "properties": {
            "ipAddresses": {"type": "array", "maxItems": 1000, "items": {
                "type": "string", "maxLength": 45,
                "x-kubernetes-validations": [{"rule": "isIP(self)"}]}}}}));
        assert!(schema_cost_errors(&schema, "s", false).is_empty());
    }

    #[test]
    fn a_quadratic_rule_over_unbounded_lists_exceeds_both_limits_by_more_than_100x() {
        let schema = crd_schema(json!({"type": "object",
            "x-kubernetes-validations": [{"rule": "self.dnsNames.all(n, self.dnsNames.all(m, n == m || !n.endsWith(m)))"}],
            "properties": {"dnsNames": {"type": "array", "items": {"type": "string"}}}}));
        let errs = schema_cost_errors(&schema, "spec.validation.openAPIV3Schema", false);
        let rule =
            "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule";
        assert_eq!(
            messages(&errs),
            vec![
                format!(
                    "{rule}: Forbidden: estimated rule cost exceeds budget by factor of more than 100x {RULE_COST_ADVICE}"
                ),
                format!("{rule}: Forbidden: {CONTRIBUTED}"),
                format!(
                    "spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x {RULE_COST_ADVICE}"
                ),
            ]
        );
    }

    #[test]
    fn unchanged_schemas_are_spared_the_per_rule_limit_but_not_the_total() {
        let schema = crd_schema(json!({"type": "object", "properties": {
            "ipAddresses": {"type": "array", "items": {
                "type": "string", "maxLength": 45,
                "x-kubernetes-validations": [{"rule": "isIP(self)"}]}}}}));
        assert!(schema_cost_errors(&schema, "s", true).is_empty());
        let crd = json!({"spec": {"versions": [
            {"name": "v1", "schema": {"openAPIV3Schema": schema}}]}});
        assert_eq!(crd_cost_errors(&crd, None).len(), 1);
        assert!(crd_cost_errors(&crd, Some(&crd)).is_empty());
    }

    #[test]
    fn versions_with_different_schemas_are_named_by_index() {
        let bad = crd_schema(json!({"type": "array", "items": {
            "type": "string", "maxLength": 45,
            "x-kubernetes-validations": [{"rule": "isIP(self)"}]}}));
        let crd = json!({"spec": {"versions": [
            {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object"}}},
            {"name": "v2", "schema": {"openAPIV3Schema": bad}}]}});
        let errs = crd_cost_errors(&crd, None);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].field,
            "spec.versions[1].schema.openAPIV3Schema.properties[spec].items.x-kubernetes-validations[0].rule"
        );
    }

    #[test]
    fn min_serialized_size_counts_required_fields_without_defaults() {
        let s = json!({"type": "object", "required": ["name", "kind"], "properties": {
            "name": {"type": "string"},
            "kind": {"type": "string", "default": "x"},
            "other": {"type": "integer"}}});
        let d = decl_of(s.as_object().unwrap(), false).unwrap();
        // {} + "name": "" → 2 + 4 + 2 + 4.
        assert_eq!(d.min_size, 12);
        assert_eq!(max_cardinality(d.min_size), 3_145_728 / 13);
    }

    #[test]
    fn factor_formatting_follows_go() {
        assert!(cost_message("c", 12_345_678, 10_000_000).contains("factor of 1.234568x"));
        assert!(cost_message("c", 18_874_368, 10_000_000).contains("factor of 1.9x"));
        assert!(cost_message("c", u64::MAX, 10_000_000).contains("more than 100x"));
    }

    #[test]
    fn escaping_of_property_names() {
        assert_eq!(
            escape("a-b.c/d").as_deref(),
            Some("a__dash__b__dot__c__slash__d")
        );
        assert_eq!(escape("namespace").as_deref(), Some("__namespace__"));
        assert_eq!(escape("a__b").as_deref(), Some("a__underscores__b"));
        assert_eq!(escape("1a"), None);
        assert_eq!(escape("a b"), None);
    }

    #[test]
    fn regex_and_string_functions() {
        // matches: ceil((1012 + 1) * 0.1) = 102 times ceil(14 * 0.25) = 4, plus `self`.
        let s = json!({"type": "string", "maxLength": 253});
        assert_eq!(
            rule_cost_of(s.clone(), "self.matches('^[a-z0-9.*-]+$')"),
            409
        );
        // size() is O(1): 1 + `self`; comparison of ints: 1 + args.
        assert_eq!(rule_cost_of(s.clone(), "size(self) <= 10"), 3);
        // string concatenation: ceil((1012 + 1) * 0.1) + args; then == 'x' (smaller max 1).
        assert_eq!(rule_cost_of(s, "self + 'a' == 'x'"), 1 + 102 + 1);
    }

    #[test]
    fn rules_that_do_not_parse_are_left_to_the_compile_check() {
        let schema = crd_schema(json!({"type": "object",
            "x-kubernetes-validations": [{"rule": "self.size >"}]}));
        assert!(schema_cost_errors(&schema, "s", false).is_empty());
        assert!(matches!(
            rule_cost(&json!({"type": "object"}), "self.size >", false),
            Err(CostError::Parse(_))
        ));
    }
}
