//! The three PATCH flavours kube-apiserver accepts besides server-side apply, as pure
//! functions on JSON values:
//!
//! - [`merge_patch`]: RFC 7386 JSON merge patch (`application/merge-patch+json`);
//! - [`json_patch`]: RFC 6902 JSON patch (`application/json-patch+json`) with the quirks of
//!   the `evanphx/json-patch` v4 library kube-apiserver uses (`replace` of a missing map key
//!   adds it; every failure is a 422 with a fixed message);
//! - [`strategic_merge_patch`]: strategic merge patch (`application/strategic-merge-patch+json`)
//!   for built-in kinds, with the patch merge keys of the list fields certgate touches and the
//!   `$patch`, `$deleteFromPrimitiveList/…`, `$setElementOrder/…` and `$retainKeys` directives.
//!
//! Errors ([`PatchError`]) carry the HTTP code, reason and message kube-apiserver answers with
//! (see `recordings/07-patches.json`).

use serde_json::{Map, Value};

/// The message kube-apiserver gives for a JSON patch operation that cannot be applied.
pub const JSON_PATCH_APPLY_FAILED: &str =
    "the server rejected our request due to an error in our request";

/// The message of a 415 for a patch type the resource does not accept.
pub const UNSUPPORTED_PATCH_MESSAGE: &str = "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

/// Why a patch could not be applied, with what the HTTP layer answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// 400 BadRequest: the patch document cannot be decoded. The string is the whole Status
    /// message, e.g. `error decoding patch: json: cannot unmarshal object into Go value of
    /// type []handlers.jsonPatchOp`.
    #[error("{0}")]
    BadRequest(String),
    /// 422 Invalid: a JSON patch operation failed (a failing `test`, `remove` of a missing
    /// path, …). kube answers with [`JSON_PATCH_APPLY_FAILED`] and empty `details`;
    /// `detail` says what failed, for logs only.
    #[error("{JSON_PATCH_APPLY_FAILED}")]
    Invalid {
        /// What went wrong, in evanphx/json-patch's words.
        detail: String,
    },
    /// 415 UnsupportedMediaType (strategic merge patch on a custom resource).
    #[error("{UNSUPPORTED_PATCH_MESSAGE}")]
    UnsupportedMediaType,
}

impl PatchError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Invalid { .. } => 422,
            PatchError::UnsupportedMediaType => 415,
        }
    }

    /// The Status `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Invalid { .. } => "Invalid",
            PatchError::UnsupportedMediaType => "UnsupportedMediaType",
        }
    }

    /// The Status `message`.
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
        if let PatchError::Invalid { .. } = self {
            m.insert("details".into(), Value::Object(Map::new()));
        }
        m.insert("code".into(), self.code().into());
        Value::Object(m)
    }

    fn invalid(detail: impl Into<String>) -> Self {
        PatchError::Invalid {
            detail: detail.into(),
        }
    }
}

/// The name Go's `encoding/json` uses for a JSON value's type in unmarshal errors.
fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------
// RFC 7386 JSON merge patch
// ---------------------------------------------------------------------------------------

/// Applies an RFC 7386 JSON merge patch in place: objects merge recursively, `null` deletes
/// a key, anything else (arrays included) replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// RFC 6902 JSON patch
// ---------------------------------------------------------------------------------------

/// Splits a JSON pointer into its unescaped tokens (`~1` → `/`, `~0` → `~`).
fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PatchError::invalid(format!(
            "JSON pointer must be empty or start with a \"/\": {pointer}"
        )));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// An array index token: digits only (no sign); `len` is accepted only when `allow_end`.
fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, PatchError> {
    if token == "-" && allow_end {
        return Ok(len);
    }
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PatchError::invalid(format!("invalid array index: {token}")));
    }
    let idx: usize = token
        .parse()
        .map_err(|_| PatchError::invalid(format!("invalid array index: {token}")))?;
    if idx < len || (allow_end && idx == len) {
        Ok(idx)
    } else {
        Err(PatchError::invalid(format!("index out of range: {idx}")))
    }
}

/// The container holding the last token of `tokens`.
fn parent_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, PatchError> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| PatchError::invalid(format!("doc is missing path: {t}")))?,
            Value::Array(a) => {
                let len = a.len();
                let i = array_index(t, len, false)?;
                a.get_mut(i)
                    .ok_or_else(|| PatchError::invalid(format!("doc is missing path: {t}")))?
            }
            _ => return Err(PatchError::invalid(format!("doc is missing path: {t}"))),
        };
    }
    Ok(cur)
}

fn get_at<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get(t)?,
            Value::Array(a) => a.get(array_index(t, a.len(), false).ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn op_add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), PatchError> {
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err(PatchError::invalid(
            "add operation does not apply: doc is missing path",
        )),
    }
}

fn op_remove(doc: &mut Value, tokens: &[String]) -> Result<Value, PatchError> {
    let Some((last, parents)) = tokens.split_last() else {
        return Err(PatchError::invalid("unable to remove the whole document"));
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| {
            PatchError::invalid(format!("Unable to remove nonexistent key: {last}"))
        }),
        Value::Array(a) => {
            let i = array_index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(PatchError::invalid(
            "remove operation does not apply: doc is missing path",
        )),
    }
}

fn op_replace(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), PatchError> {
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents)? {
        // evanphx/json-patch v4: replacing a missing map key sets it.
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(last, a.len(), false)?;
            a[i] = value;
            Ok(())
        }
        _ => Err(PatchError::invalid(
            "replace operation does not apply: doc is missing path",
        )),
    }
}

fn string_field<'a>(op: &'a Map<String, Value>, name: &str) -> Result<&'a str, PatchError> {
    match op.get(name) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(PatchError::invalid(format!(
            "operation missing {name} field"
        ))),
    }
}

/// Applies an RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`) and
/// returns the patched document; `target` is left untouched (operations are atomic).
///
/// A patch that is not an array is a 400 with Go's unmarshal message; any failing operation
/// is a 422 ([`PatchError::Invalid`]). A `null` patch does nothing.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        Value::Array(ops) => ops.as_slice(),
        Value::Null => &[],
        other => {
            return Err(PatchError::BadRequest(format!(
                "error decoding patch: json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                go_json_type(other)
            )));
        }
    };
    for op in ops {
        if !op.is_object() && !op.is_null() {
            return Err(PatchError::BadRequest(format!(
                "error decoding patch: json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                go_json_type(op)
            )));
        }
    }
    let mut doc = target.clone();
    for op in ops {
        let Value::Object(op) = op else {
            return Err(PatchError::invalid("Unexpected kind: unknown"));
        };
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
        let path = parse_pointer(string_field(op, "path")?)?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError::invalid(format!("{kind} operation missing value")))
        };
        match kind {
            "add" => op_add(&mut doc, &path, value()?)?,
            "remove" => {
                op_remove(&mut doc, &path)?;
            }
            "replace" => op_replace(&mut doc, &path, value()?)?,
            "move" => {
                let from = parse_pointer(string_field(op, "from")?)?;
                let v = op_remove(&mut doc, &from)?;
                op_add(&mut doc, &path, v)?;
            }
            "copy" => {
                let from = parse_pointer(string_field(op, "from")?)?;
                let v = get_at(&doc, &from).cloned().ok_or_else(|| {
                    PatchError::invalid("copy operation does not apply: doc is missing from path")
                })?;
                op_add(&mut doc, &path, v)?;
            }
            "test" => {
                let expected = op.get("value").cloned().unwrap_or(Value::Null);
                match get_at(&doc, &path) {
                    Some(actual) if *actual == expected => {}
                    None if expected.is_null() => {}
                    _ => {
                        return Err(PatchError::invalid(format!(
                            "testing value {} failed: test failed",
                            string_field(op, "path")?
                        )));
                    }
                }
            }
            other => return Err(PatchError::invalid(format!("Unexpected kind: {other}"))),
        }
    }
    Ok(doc)
}

// ---------------------------------------------------------------------------------------
// Strategic merge patch
// ---------------------------------------------------------------------------------------

/// How a strategic merge patch combines a list field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStrategy {
    /// No patch strategy: the patch's list replaces the original.
    Replace,
    /// `patchStrategy: merge` on a list of primitives: union, original order first.
    MergePrimitives,
    /// `patchStrategy: merge` with `patchMergeKey`: items with the same key merge.
    MergeByKey(&'static str),
}

/// The path of a Pod spec inside an object of `kind`, as field names.
fn pod_spec_prefix(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&["spec"]),
        "PodTemplate" => Some(&["template", "spec"]),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some(&["spec", "template", "spec"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// `path` relative to the Pod spec of an object of `kind`, if it is inside it.
pub(crate) fn pod_spec_subpath<'a>(kind: &str, path: &'a [String]) -> Option<&'a [String]> {
    let prefix = pod_spec_prefix(kind)?;
    if path.len() < prefix.len() || !path.iter().zip(prefix).all(|(a, b)| a == b) {
        return None;
    }
    Some(&path[prefix.len()..])
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// The strategic merge strategy of the list at `path` (field names from the object root,
/// list items not counted) in a built-in object of `kind`.
pub fn list_strategy(kind: &str, path: &[String]) -> ListStrategy {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["metadata", "ownerReferences"] => return ListStrategy::MergeByKey("uid"),
        ["metadata", "finalizers"] => return ListStrategy::MergePrimitives,
        ["status", "conditions"] => return ListStrategy::MergeByKey("type"),
        _ => {}
    }
    if let Some(sub) = pod_spec_subpath(kind, path) {
        let s: Vec<&str> = sub.iter().map(String::as_str).collect();
        return match s.as_slice() {
            [c] if CONTAINER_LISTS.contains(c) => ListStrategy::MergeByKey("name"),
            [c, "env"] if CONTAINER_LISTS.contains(c) => ListStrategy::MergeByKey("name"),
            [c, "ports"] if CONTAINER_LISTS.contains(c) => {
                ListStrategy::MergeByKey("containerPort")
            }
            [c, "volumeMounts"] if CONTAINER_LISTS.contains(c) => {
                ListStrategy::MergeByKey("mountPath")
            }
            [c, "volumeDevices"] if CONTAINER_LISTS.contains(c) => {
                ListStrategy::MergeByKey("devicePath")
            }
            ["volumes"] | ["imagePullSecrets"] | ["resourceClaims"] => {
                ListStrategy::MergeByKey("name")
            }
            ["hostAliases"] => ListStrategy::MergeByKey("ip"),
            _ => ListStrategy::Replace,
        };
    }
    match (kind, p.as_slice()) {
        ("Service", ["spec", "ports"]) => ListStrategy::MergeByKey("port"),
        ("Node", ["spec", "podCIDRs"]) => ListStrategy::MergePrimitives,
        ("Node", ["status", "addresses"]) => ListStrategy::MergeByKey("type"),
        _ => ListStrategy::Replace,
    }
}

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Applies a strategic merge patch to a built-in object of `kind` and returns the result.
///
/// Maps merge recursively (`null` deletes a key); lists replace unless [`list_strategy`]
/// gives them a merge strategy. Directives: `$patch: delete | replace | merge` in a map or
/// a keyed list item, `$deleteFromPrimitiveList/<field>`, `$retainKeys`,
/// `$setElementOrder/<field>` (accepted, order of the result is original order then new
/// items). Custom resources are refused with 415 by the caller, not here.
pub fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    kind: &str,
) -> Result<Value, PatchError> {
    let Value::Object(p) = patch else {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_json_type(patch)
        )));
    };
    let original = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut path = Vec::new();
    match smp_map(Some(original), p, kind, &mut path)? {
        Some(m) => Ok(Value::Object(m)),
        None => Ok(Value::Object(Map::new())),
    }
}

fn bad_directive(d: &Value) -> PatchError {
    PatchError::BadRequest(format!("Unknown patch type: {d}"))
}

/// Merges a patch map into an original map; `None` means the map is deleted.
fn smp_map(
    original: Option<Map<String, Value>>,
    patch: &Map<String, Value>,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    let mut result = original.unwrap_or_default();
    match patch.get(DIRECTIVE) {
        None => {}
        Some(Value::String(d)) if d == "merge" => {}
        Some(Value::String(d)) if d == "delete" => return Ok(None),
        Some(Value::String(d)) if d == "replace" => {
            let mut m = Map::new();
            for (k, v) in patch {
                if k == DIRECTIVE || v.is_null() || k.starts_with('$') {
                    continue;
                }
                m.insert(k.clone(), strip_directives(v));
            }
            return Ok(Some(m));
        }
        Some(other) => return Err(bad_directive(other)),
    }
    // $deleteFromPrimitiveList/<field>
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(remove) = v else {
                return Err(PatchError::BadRequest(format!(
                    "invalid type for {k}: expected a list"
                )));
            };
            if let Some(Value::Array(items)) = result.get_mut(field) {
                items.retain(|i| !remove.contains(i));
            }
        }
    }
    for (k, v) in patch {
        if k.starts_with(SET_ELEMENT_ORDER) && !v.is_array() {
            return Err(PatchError::BadRequest(format!(
                "invalid type for {k}: expected a list"
            )));
        }
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            result.remove(k);
            continue;
        }
        path.push(k.clone());
        let merged = smp_value(result.remove(k), v, kind, path)?;
        path.pop();
        if let Some(m) = merged {
            result.insert(k.clone(), m);
        }
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(keys) = retain else {
            return Err(PatchError::BadRequest(
                "invalid $retainKeys: expected a list".into(),
            ));
        };
        let keep: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        result.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(Some(result))
}

/// Merges one patch value into an original value (either may be any JSON).
fn smp_value(
    original: Option<Value>,
    patch: &Value,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<Option<Value>, PatchError> {
    match patch {
        Value::Object(p) => {
            let orig = match original {
                Some(Value::Object(m)) => Some(m),
                _ => None,
            };
            Ok(smp_map(orig, p, kind, path)?.map(Value::Object))
        }
        Value::Array(p) => {
            let orig = match original {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            Ok(Some(Value::Array(smp_list(orig, p, kind, path)?)))
        }
        other => Ok(Some(other.clone())),
    }
}

fn smp_list(
    original: Vec<Value>,
    patch: &[Value],
    kind: &str,
    path: &mut Vec<String>,
) -> Result<Vec<Value>, PatchError> {
    // A `{"$patch": "replace"}` item replaces the whole list with the other items.
    let replace = patch
        .iter()
        .any(|i| i.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"));
    if replace {
        return Ok(patch
            .iter()
            .filter(|i| i.get(DIRECTIVE).is_none())
            .map(strip_directives)
            .collect());
    }
    match list_strategy(kind, path) {
        ListStrategy::Replace => Ok(patch.iter().map(strip_directives).collect()),
        ListStrategy::MergePrimitives => {
            let mut out = original;
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(out)
        }
        ListStrategy::MergeByKey(key) => {
            let mut out = original;
            for item in patch {
                let Value::Object(pi) = item else {
                    // Primitive items in a keyed list: append if new.
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                    continue;
                };
                let Some(kv) = pi.get(key) else {
                    return Err(PatchError::BadRequest(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    )));
                };
                let pos = out.iter().position(|o| o.get(key) == Some(kv));
                let directive = pi.get(DIRECTIVE);
                match directive {
                    Some(Value::String(d)) if d == "delete" => {
                        out.retain(|o| o.get(key) != Some(kv));
                        continue;
                    }
                    None => {}
                    Some(Value::String(d)) if d == "merge" => {}
                    Some(other) => return Err(bad_directive(other)),
                }
                match pos {
                    Some(i) => {
                        let orig = match out.get(i) {
                            Some(Value::Object(m)) => Some(m.clone()),
                            _ => None,
                        };
                        match smp_map(orig, pi, kind, path)? {
                            Some(m) => out[i] = Value::Object(m),
                            None => {
                                out.remove(i);
                            }
                        }
                    }
                    None => {
                        if let Some(m) = smp_map(None, pi, kind, path)? {
                            out.push(Value::Object(m));
                        }
                    }
                }
            }
            Ok(out)
        }
    }
}

/// A patch value with its directives and `null` map entries removed, for places where it
/// is taken as is.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_recordings::exchanges;
    use serde_json::json;

    /// The parts of an object a patch can change (no server-maintained metadata).
    fn content(obj: &Value) -> Value {
        let mut o = obj.clone();
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "managedFields",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "uid",
            ] {
                m.remove(k);
            }
        }
        o
    }

    /// The last recorded state of `w1` before 07-patches: the no-op PUT at the end of 06.
    fn w1_before_patches() -> Value {
        let ex = exchanges("06-update-conflict.json");
        let last = ex
            .iter()
            .rev()
            .find(|e| {
                e["request"]["path"] == "/apis/example.certgate.test/v1/namespaces/rec/widgets/w1"
                    && e["response"]["status"] == 200
            })
            .expect("w1 state in 06");
        last["response"]["body"].clone()
    }

    #[test]
    fn replays_07_patches_on_w1() {
        let mut state = w1_before_patches();
        let mut checked = 0;
        for e in exchanges("07-patches.json") {
            let req = &e["request"];
            if req["path"] != "/apis/example.certgate.test/v1/namespaces/rec/widgets/w1" {
                continue;
            }
            let ct = req["headers"]["Content-Type"].as_str().unwrap_or("");
            let body = &req["body"];
            let resp = &e["response"];
            let status = resp["status"].as_u64().expect("status");
            let result = match ct {
                "application/merge-patch+json" => {
                    if body.is_string() {
                        continue; // malformed body: a decoding error of the HTTP layer
                    }
                    if body["metadata"]["resourceVersion"].is_string() {
                        continue; // precondition: HTTP layer
                    }
                    let mut t = state.clone();
                    merge_patch(&mut t, body);
                    Ok(t)
                }
                "application/json-patch+json" => json_patch(&state, body),
                "application/strategic-merge-patch+json" => Err(PatchError::UnsupportedMediaType),
                _ => continue,
            };
            match result {
                Ok(mut patched) => {
                    assert_eq!(status, 200, "{}", e["note"]);
                    // The server prunes unknown fields: `replace` of /spec/nosuch added it.
                    if let Some(spec) = patched["spec"].as_object_mut()
                        && spec.remove("nosuch").is_some()
                    {
                        assert_eq!(e["note"], "replace of a missing path");
                    }
                    assert_eq!(content(&patched), content(&resp["body"]), "{}", e["note"]);
                    state = resp["body"].clone();
                }
                Err(err) => {
                    assert_eq!(u64::from(err.code()), status, "{}", e["note"]);
                    assert_eq!(err.message(), resp["body"]["message"], "{}", e["note"]);
                    assert_eq!(err.reason(), resp["body"]["reason"]);
                    assert_eq!(err.status_body(), resp["body"], "{}", e["note"]);
                }
            }
            checked += 1;
        }
        assert_eq!(checked, 11);
    }

    #[test]
    fn replays_07_strategic_merge_patch_on_configmap() {
        let ex = exchanges("07-patches.json");
        let smp = ex
            .iter()
            .find(|e| e["request"]["path"] == "/api/v1/namespaces/rec/configmaps/cm1")
            .expect("configmap patch");
        // cm1 as left by 06 (PUT data.k = v2).
        let before = exchanges("06-update-conflict.json")
            .into_iter()
            .rev()
            .find(|e| {
                e["request"]["method"] == "PUT"
                    && e["request"]["path"] == "/api/v1/namespaces/rec/configmaps/cm1"
            })
            .expect("cm1 PUT")["response"]["body"]
            .clone();
        let patched = strategic_merge_patch(&before, &smp["request"]["body"], "ConfigMap")
            .expect("patch applies");
        assert_eq!(patched["data"], smp["response"]["body"]["data"]);
        assert_eq!(patched["data"], json!({"k": "v2", "k2": "v2"}));
    }

    #[test]
    fn merge_patch_rfc7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, expected, "{target} + {patch}");
        }
    }

    #[test]
    fn json_patch_operations() {
        let doc = json!({"a": {"b": [1, 2]}, "x~y": 1, "p/q": 2});
        let r = json_patch(
            &doc,
            &json!([
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "add", "path": "/a/b/0", "value": 0},
                {"op": "replace", "path": "/x~0y", "value": 10},
                {"op": "remove", "path": "/p~1q"},
                {"op": "copy", "from": "/a/b", "path": "/c"},
                {"op": "move", "from": "/a/b/1", "path": "/m"},
                {"op": "test", "path": "/c", "value": [0, 1, 2, 3]},
            ]),
        )
        .expect("applies");
        assert_eq!(
            r,
            json!({"a": {"b": [0, 2, 3]}, "x~y": 10, "c": [0, 1, 2, 3], "m": 1})
        );
    }

    #[test]
    fn json_patch_is_atomic_and_reports_422() {
        let doc = json!({"spec": {"size": 1}});
        let err = json_patch(
            &doc,
            &json!([
                {"op": "replace", "path": "/spec/size", "value": 2},
                {"op": "test", "path": "/spec/size", "value": 1},
            ]),
        )
        .expect_err("test fails after the replace");
        assert_eq!(err.code(), 422);
        assert_eq!(err.message(), JSON_PATCH_APPLY_FAILED);
        for bad in [
            json!([{"op": "remove", "path": "/spec/nosuch"}]),
            json!([{"op": "add", "path": "/nosuch/x", "value": 1}]),
            json!([{"op": "replace", "path": "/a/b", "value": 1}]),
            json!([{"op": "add", "path": "/l/5", "value": 1}]),
            json!([{"op": "move", "from": "/nosuch", "path": "/x"}]),
            json!([{"op": "copy", "from": "/nosuch", "path": "/x"}]),
            json!([{"op": "frobnicate", "path": "/x"}]),
            json!([{"op": "add", "value": 1}]),
            json!([{"op": "add", "path": "spec"}]),
        ] {
            let d = json!({"spec": {"size": 1}, "l": [1]});
            let err = json_patch(&d, &bad).expect_err("fails");
            assert_eq!(err.code(), 422, "{bad}");
        }
        // replace of a missing map key adds it (evanphx/json-patch v4).
        let r = json_patch(
            &doc,
            &json!([{"op": "replace", "path": "/spec/new", "value": 5}]),
        )
        .expect("applies");
        assert_eq!(r["spec"]["new"], 5);
        // test against an absent path with a null value passes.
        json_patch(
            &doc,
            &json!([{"op": "test", "path": "/spec/absent", "value": null}]),
        )
        .expect("passes");
    }

    #[test]
    fn json_patch_decode_errors_are_400() {
        let doc = json!({});
        let err = json_patch(&doc, &json!("x")).expect_err("not an array");
        assert_eq!(err.code(), 400);
        assert_eq!(
            err.message(),
            "error decoding patch: json: cannot unmarshal string into Go value of type []handlers.jsonPatchOp"
        );
        let err = json_patch(&doc, &json!([1])).expect_err("not an op");
        assert_eq!(err.code(), 400);
        assert_eq!(json_patch(&doc, &Value::Null), Ok(json!({})));
    }

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "p", "finalizers": ["a"],
                "ownerReferences": [{"uid": "u1", "name": "o1", "kind": "X", "apiVersion": "v1"}]
            },
            "spec": {
                "containers": [
                    {"name": "app", "image": "app:1",
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "ports": [{"containerPort": 80, "name": "http"}],
                     "volumeMounts": [{"mountPath": "/data", "name": "data"}]},
                    {"name": "side", "image": "side:1"}
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "tolerations": [{"key": "k1", "operator": "Exists"}],
                "imagePullSecrets": [{"name": "s1"}]
            },
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Init", "status": "True"}]}
        })
    }

    #[test]
    fn strategic_merge_by_keys() {
        let patch = json!({
            "metadata": {
                "finalizers": ["b", "a"],
                "ownerReferences": [{"uid": "u2", "name": "o2", "kind": "X", "apiVersion": "v1"}]
            },
            "spec": {
                "containers": [
                    {"name": "app", "image": "app:2",
                     "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                     "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
                     "volumeMounts": [{"mountPath": "/cache", "name": "cache"}]},
                    {"name": "new", "image": "new:1"}
                ],
                "volumes": [{"name": "cache", "emptyDir": {}}],
                "tolerations": [{"key": "k2", "operator": "Exists"}],
                "imagePullSecrets": [{"name": "s2"}]
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        let r = strategic_merge_patch(&pod(), &patch, "Pod").expect("applies");
        assert_eq!(r["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(
            r["metadata"]["ownerReferences"]
                .as_array()
                .expect("list")
                .iter()
                .map(|o| o["uid"].clone())
                .collect::<Vec<_>>(),
            vec![json!("u1"), json!("u2")]
        );
        let c = &r["spec"]["containers"];
        assert_eq!(c.as_array().expect("list").len(), 3);
        assert_eq!(c[0]["image"], "app:2");
        assert_eq!(
            c[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}])
        );
        assert_eq!(
            c[0]["ports"],
            json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}])
        );
        assert_eq!(c[0]["volumeMounts"].as_array().expect("list").len(), 2);
        assert_eq!(c[1]["name"], "side");
        assert_eq!(c[2]["name"], "new");
        assert_eq!(r["spec"]["volumes"].as_array().expect("list").len(), 2);
        assert_eq!(
            r["spec"]["tolerations"],
            json!([{"key": "k2", "operator": "Exists"}])
        );
        assert_eq!(
            r["spec"]["imagePullSecrets"],
            json!([{"name": "s1"}, {"name": "s2"}])
        );
        assert_eq!(
            r["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "Init", "status": "True"}])
        );
    }

    #[test]
    fn strategic_merge_directives() {
        let patch = json!({
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "$setElementOrder/finalizers": []},
            "spec": {
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{"name": "side", "$patch": "delete"},
                               {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}],
                "volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}],
                "tolerations": null
            },
            "status": {"$patch": "delete"}
        });
        let r = strategic_merge_patch(&pod(), &patch, "Pod").expect("applies");
        assert_eq!(r["metadata"]["finalizers"], json!([]));
        let c = r["spec"]["containers"].as_array().expect("list");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["env"], json!([{"name": "B", "value": "2"}]));
        assert_eq!(
            r["spec"]["volumes"],
            json!([{"name": "only", "emptyDir": {}}])
        );
        assert!(r["spec"].get("tolerations").is_none());
        assert!(r.get("status").is_none());

        // $patch: replace on a map, $retainKeys.
        let r = strategic_merge_patch(
            &pod(),
            &json!({"spec": {"$patch": "replace", "containers": [{"name": "x", "image": "x"}]}}),
            "Pod",
        )
        .expect("applies");
        assert_eq!(
            r["spec"],
            json!({"containers": [{"name": "x", "image": "x"}]})
        );
        let r = strategic_merge_patch(
            &json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            "Deployment",
        )
        .expect("applies");
        assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));

        let err = strategic_merge_patch(&pod(), &json!({"spec": {"$patch": "frob"}}), "Pod")
            .expect_err("unknown directive");
        assert_eq!(err.code(), 400);
        let err = strategic_merge_patch(&pod(), &json!([1]), "Pod").expect_err("not a map");
        assert_eq!(
            err.message(),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
    }

    #[test]
    fn strategic_merge_other_kinds() {
        let svc =
            json!({"spec": {"ports": [{"port": 80, "name": "http"}], "selector": {"a": "1"}}});
        let r = strategic_merge_patch(
            &svc,
            &json!({"spec": {"ports": [{"port": 443, "name": "https"}], "selector": {"b": "2"}}}),
            "Service",
        )
        .expect("applies");
        assert_eq!(r["spec"]["ports"].as_array().expect("list").len(), 2);
        assert_eq!(r["spec"]["selector"], json!({"a": "1", "b": "2"}));

        let ing = json!({"spec": {"rules": [{"host": "a"}], "tls": [{"hosts": ["a"]}]}});
        let r = strategic_merge_patch(
            &ing,
            &json!({"spec": {"rules": [{"host": "b"}], "tls": [{"hosts": ["b"]}]}}),
            "Ingress",
        )
        .expect("applies");
        assert_eq!(r["spec"]["rules"], json!([{"host": "b"}]));
        assert_eq!(r["spec"]["tls"], json!([{"hosts": ["b"]}]));

        let secret = json!({"data": {"a": "MQ==", "b": "Mg=="}, "type": "Opaque"});
        let r = strategic_merge_patch(
            &secret,
            &json!({"data": {"a": null, "c": "Mw=="}}),
            "Secret",
        )
        .expect("applies");
        assert_eq!(r["data"], json!({"b": "Mg==", "c": "Mw=="}));

        let ev =
            json!({"involvedObject": {"kind": "Widget", "name": "w1"}, "count": 1, "message": "m"});
        let r = strategic_merge_patch(
            &ev,
            &json!({"count": 2, "lastTimestamp": "2026-11-22T10:49:59Z", "involvedObject": {"uid": "u"}}),
            "Event",
        )
        .expect("applies");
        assert_eq!(r["count"], 2);
        assert_eq!(
            r["involvedObject"],
            json!({"kind": "Widget", "name": "w1", "uid": "u"})
        );
        // Keyed list items without the merge key are refused.
        let err = strategic_merge_patch(
            &pod(),
            &json!({"spec": {"containers": [{"image": "x"}]}}),
            "Pod",
        )
        .expect_err("no merge key");
        assert_eq!(err.code(), 400);
    }
}
