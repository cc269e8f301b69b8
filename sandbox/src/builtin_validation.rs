//! The validation kube-apiserver applies to the built-in kinds certgate writes:
//! Secrets (tls keys, key names, immutability, type changes), Leases, Namespaces.

use base64::Engine;
use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::resources::ResourceInfo;
use crate::validation::FieldError;

fn is_core(info: &ResourceInfo, kind: &str) -> bool {
    !info.custom && info.group.is_empty() && info.kind == kind
}

/// Decoding errors that make the API server answer 400 before validating.
pub fn decode_check(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    if is_core(info, "Secret")
        && let Some(data) = obj.get("data").and_then(Value::as_object)
    {
        for v in data.values() {
            let text = v.as_str().unwrap_or_default();
            if let Err(e) = base64::engine::general_purpose::STANDARD.decode(text) {
                let at = match e {
                    base64::DecodeError::InvalidByte(i, _) => i,
                    base64::DecodeError::InvalidLength(i) => i,
                    base64::DecodeError::InvalidLastSymbol(i, _) => i,
                    base64::DecodeError::InvalidPadding => text.len(),
                };
                return Err(ApiError::bad_request(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte {at}"
                )));
            }
        }
    }
    Ok(())
}

/// Validation errors of a built-in object; `old` is the stored object on updates.
pub fn validate(info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if is_core(info, "Secret") {
        validate_secret(obj, old, &mut errs);
    }
    // core/v1 Events: the involved object's namespace is the event's.
    if is_core(info, "Event")
        && let Some(ns) = obj
            .pointer("/involvedObject/namespace")
            .and_then(Value::as_str)
        && !ns.is_empty()
        && ns != crate::objects::namespace(obj)
    {
        errs.push(FieldError::invalid(
            "involvedObject.namespace",
            Some(json!(ns)),
            "does not match event.namespace",
        ));
    }
    if !info.custom
        && info.group == "coordination.k8s.io"
        && info.kind == "Lease"
        && let Some(d) = obj
            .pointer("/spec/leaseDurationSeconds")
            .and_then(Value::as_i64)
        && d <= 0
    {
        errs.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            Some(json!(d)),
            "must be greater than 0",
        ));
    }
    errs
}

fn validate_secret(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    let data = obj.get("data").and_then(Value::as_object);
    if let Some(old) = old {
        let old_ty = old.get("type").and_then(Value::as_str).unwrap_or("Opaque");
        if old_ty != ty {
            errs.push(FieldError::invalid(
                "type",
                Some(json!(ty)),
                "field is immutable",
            ));
        }
        if old.get("immutable") == Some(&Value::Bool(true)) && old.get("data") != obj.get("data") {
            errs.push(FieldError::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
    }
    if let Some(d) = data {
        for k in d.keys() {
            let ok = !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            if !ok {
                errs.push(FieldError::invalid(
                    format!("data[{k}]"),
                    Some(json!(k)),
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                ));
            }
        }
    }
    if ty == "kubernetes.io/tls" {
        for key in ["tls.crt", "tls.key"] {
            if !data.is_some_and(|d| d.contains_key(key)) {
                errs.push(FieldError::required(format!("data[{key}]")));
            }
        }
    }
}

/// `Warning` header texts for a built-in object.
pub fn warnings(info: &ResourceInfo, obj: &Value) -> Vec<String> {
    if is_core(info, "Secret")
        && obj.get("type").and_then(Value::as_str) == Some("kubernetes.io/tls")
    {
        let crt = obj
            .pointer("/data/tls.crt")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(crt)
            .unwrap_or_default();
        if !String::from_utf8_lossy(&decoded).contains("-----BEGIN") {
            return vec!["tls: failed to find any PEM data in certificate input".to_string()];
        }
    }
    Vec::new()
}
