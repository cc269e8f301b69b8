//! OpenAPI v3 structural-schema checks as kube-apiserver applies them to custom
//! resources: types, required, enum, pattern, formats, bounds, list types; plus
//! pruning of unknown fields and defaulting.

use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;

use super::field_error::{ErrorType, FieldError, child, index};

/// Compiled `pattern`s, shared by every validation.
#[derive(Default)]
pub struct PatternCache {
    compiled: Mutex<HashMap<String, Option<Regex>>>,
}

impl PatternCache {
    fn is_match(&self, pattern: &str, s: &str) -> Option<bool> {
        let mut map = self.compiled.lock().ok()?;
        let re = map
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok());
        re.as_ref().map(|r| r.is_match(s))
    }
}

/// Validates `value` against `schema` at `path`, appending errors.
pub fn validate(
    schema: &Value,
    value: &Value,
    path: &str,
    patterns: &PatternCache,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = schema.as_object() else { return };
    if value.is_null() && s.get("nullable") == Some(&Value::Bool(true)) {
        return;
    }
    // A null that survived pruning is a type error.
    let int_or_string = s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if int_or_string {
        if !(value.is_string() || is_integer(value)) {
            errs.push(type_error(path, value, "integer,string"));
            return;
        }
    } else if let Some(Value::String(ty)) = s.get("type")
        && !type_matches(ty, value)
    {
        errs.push(type_error(path, value, ty));
        return;
    }

    if let Some(Value::Array(allowed)) = s.get("enum")
        && !allowed.contains(value)
    {
        errs.push(FieldError {
            field: path.to_string(),
            error_type: ErrorType::NotSupported(allowed.clone()),
            value: Some(value.clone()),
            detail: String::new(),
        });
    }

    match value {
        Value::String(text) => check_string(s, text, value, path, patterns, errs),
        Value::Number(_) => check_number(s, value, path, errs),
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && n > max
            {
                errs.push(FieldError {
                    field: path.to_string(),
                    error_type: ErrorType::TooMany(max),
                    value: Some(value.clone()),
                    detail: String::new(),
                });
            }
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && n < min
            {
                errs.push(FieldError::invalid(
                    path,
                    None,
                    format!("{path} in body should have at least {min} items"),
                ));
            }
            check_list_type(s, items, path, errs);
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item_schema, item, &index(path, i), patterns, errs);
                }
            }
        }
        Value::Object(map) => {
            if let Some(Value::Array(required)) = s.get("required") {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        errs.push(FieldError::required(child(path, r)));
                    }
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, v) in map {
                if let Some(ps) = props.and_then(|p| p.get(k)) {
                    validate(ps, v, &child(path, k), patterns, errs);
                } else if let Some(a) = additional {
                    validate(a, v, &child(path, k), patterns, errs);
                }
            }
        }
        _ => {}
    }
}

fn check_string(
    s: &Map<String, Value>,
    text: &str,
    value: &Value,
    path: &str,
    patterns: &PatternCache,
    errs: &mut Vec<FieldError>,
) {
    let len = text.chars().count() as u64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errs.push(FieldError {
            field: path.to_string(),
            error_type: ErrorType::TooLong(max),
            value: Some(value.clone()),
            detail: String::new(),
        });
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errs.push(FieldError::invalid(
            path,
            Some(value.clone()),
            format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str)
        && patterns.is_match(pattern, text) == Some(false)
    {
        errs.push(FieldError::invalid(
            path,
            Some(value.clone()),
            format!("{path} in body should match '{pattern}'"),
        ));
    }
    if let Some(format) = s.get("format").and_then(Value::as_str)
        && !format_matches(format, text)
    {
        errs.push(FieldError {
            field: path.to_string(),
            error_type: ErrorType::TypeInvalid(format.to_string()),
            value: Some(value.clone()),
            detail: format!(
                "{path} in body must be of type {format}: {}",
                super::field_error::go_value(value)
            ),
        });
    }
}

fn check_number(s: &Map<String, Value>, value: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(x) = value.as_f64() else { return };
    if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
        let exclusive = s.get("exclusiveMaximum") == Some(&Value::Bool(true));
        if x > max || (exclusive && x >= max) {
            let rel = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            errs.push(FieldError::invalid(
                path,
                Some(value.clone()),
                format!(
                    "{path} in body should be {rel} {}",
                    number_text(s.get("maximum"))
                ),
            ));
        }
    }
    if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
        let exclusive = s.get("exclusiveMinimum") == Some(&Value::Bool(true));
        if x < min || (exclusive && x <= min) {
            let rel = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errs.push(FieldError::invalid(
                path,
                Some(value.clone()),
                format!(
                    "{path} in body should be {rel} {}",
                    number_text(s.get("minimum"))
                ),
            ));
        }
    }
}

fn number_text(v: Option<&Value>) -> String {
    v.map(Value::to_string).unwrap_or_default()
}

/// `x-kubernetes-list-type: map | set` forbid repeated keys or values.
fn check_list_type(
    s: &Map<String, Value>,
    items: &[Value],
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    errs.push(FieldError {
                        field: index(path, i),
                        error_type: ErrorType::Duplicate,
                        value: Some(item.clone()),
                        detail: String::new(),
                    });
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = s
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key_of = |item: &Value| -> Value {
                let mut m = Map::new();
                for k in &keys {
                    if let Some(v) = item.get(*k) {
                        m.insert((*k).to_string(), v.clone());
                    }
                }
                Value::Object(m)
            };
            for (i, item) in items.iter().enumerate() {
                let key = key_of(item);
                if items[..i].iter().any(|prev| key_of(prev) == key) {
                    errs.push(FieldError {
                        field: index(path, i),
                        error_type: ErrorType::Duplicate,
                        value: Some(key),
                        detail: String::new(),
                    });
                }
            }
        }
        _ => {}
    }
}

fn type_error(path: &str, value: &Value, expected: &str) -> FieldError {
    let actual = json_type(value);
    FieldError {
        field: path.to_string(),
        error_type: ErrorType::TypeInvalid(expected.to_string()),
        value: Some(Value::String(actual.to_string())),
        detail: format!("{path} in body must be of type {expected}: \"{actual}\""),
    }
}

/// The JSON type name kube-apiserver reports.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => is_integer(v),
        "number" => v.is_number(),
        _ => true,
    }
}

/// The formats kube-apiserver checks on strings; unknown formats pass.
fn format_matches(format: &str, s: &str) -> bool {
    use base64::Engine;
    match format {
        // kube-apiserver refuses the empty string as `byte`.
        "byte" => !s.is_empty() && base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "duration" => is_duration(s),
        "date-time" | "datetime" => is_rfc3339(s),
        "int32" | "int64" | "double" | "float" => true,
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "uuid" => {
            static UUID: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
            UUID.get_or_init(|| {
                Regex::new(
                    r"^(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
                )
                .ok()
            })
            .as_ref()
            .is_none_or(|r| r.is_match(s))
        }
        _ => true,
    }
}

/// strfmt's `duration`: a Go duration (`1h30m`), or numbers with units such as
/// `3 days` or `2w` (each unit `ns`…`h`, `d`, `w` or a word starting like one).
fn is_duration(s: &str) -> bool {
    static GO: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    static LOOSE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    let go = GO.get_or_init(|| {
        Regex::new(r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$").ok()
    });
    if go.as_ref().is_some_and(|r| r.is_match(s)) {
        return true;
    }
    const UNITS: &[&[&str]] = &[
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let loose = LOOSE.get_or_init(|| Regex::new(r"(\d+)\s*([A-Za-zµ]+)").ok());
    loose.as_ref().is_some_and(|r| {
        r.captures_iter(s).any(|c| {
            let unit = c[2].to_lowercase();
            UNITS.iter().any(|variants| {
                variants
                    .iter()
                    .enumerate()
                    .any(|(i, v)| unit == *v || (i == variants.len() - 1 && unit.starts_with(v)))
            })
        })
    })
}

fn is_rfc3339(s: &str) -> bool {
    static RFC3339: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    RFC3339
        .get_or_init(|| {
            Regex::new(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
                .ok()
        })
        .as_ref()
        .is_none_or(|r| r.is_match(s))
}

/// Removes fields the schema does not know, as kube-apiserver's pruning does, and
/// nulls of fields that are not nullable. Returns the removed paths.
pub fn prune(
    schema: &Value,
    value: &mut Value,
    path: &str,
    is_root: bool,
    removed: &mut Vec<String>,
) {
    let Some(s) = schema.as_object() else { return };
    if s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        && s.get("properties").is_none()
    {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            let preserve =
                s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if is_root && (k == "apiVersion" || k == "kind" || k == "metadata") {
                    continue;
                }
                let child_schema = props.and_then(|p| p.get(&k)).or(additional);
                match child_schema {
                    Some(cs) => {
                        let nullable = cs.get("nullable") == Some(&Value::Bool(true));
                        if map.get(&k).is_some_and(Value::is_null) && !nullable {
                            map.remove(&k);
                            continue;
                        }
                        let child_path = if props.is_some_and(|p| p.contains_key(&k)) {
                            child(path, &k)
                        } else {
                            index(path, &k)
                        };
                        if let Some(v) = map.get_mut(&k) {
                            prune(cs, v, &child_path, false, removed);
                        }
                    }
                    None if preserve => {}
                    None => {
                        map.remove(&k);
                        removed.push(child(path, &k));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item_schema, item, &index(path, i), false, removed);
                }
            }
        }
        _ => {}
    }
}

/// Fills in `default`s of absent fields, recursively.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    let Some(s) = schema.as_object() else { return };
    match value {
        Value::Object(map) => {
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, ps) in props {
                    if !map.contains_key(k)
                        && let Some(d) = ps.get("default")
                    {
                        map.insert(k.clone(), d.clone());
                    }
                    if let Some(v) = map.get_mut(k) {
                        apply_defaults(ps, v);
                    }
                }
            }
            if let Some(a) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for v in map.values_mut() {
                    apply_defaults(a, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}
