//! The schema validator answers the recorded requests of a real kube-apiserver
//! (v1.36, `recordings/10-validation.json` and `11-pruning-defaults.json`) with
//! the same field errors, pruned fields and defaults.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use certgate_sandbox::validation::SchemaValidator;
use serde_json::Value;
use std::collections::HashMap;

fn recording(name: &str) -> Value {
    let path = format!("{}/tests/recordings/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("recording present");
    serde_json::from_str(&text).expect("recording is JSON")
}

fn widget_validator() -> SchemaValidator {
    let path = format!(
        "{}/tests/recordings/crd-widget.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("crd present");
    let widget = text
        .split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .find(|d| d["spec"]["names"]["kind"] == "Widget")
        .expect("Widget CRD");
    SchemaValidator::new(widget["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone())
        .expect("rules compile")
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The recorded causes, without the metadata checks the validator does not make.
fn recorded_causes(body: &Value) -> Vec<(String, String)> {
    let mut causes: Vec<(String, String)> = body["details"]["causes"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| {
                    (
                        c["field"].as_str().unwrap_or_default().to_string(),
                        c["message"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .filter(|(f, _)| !f.starts_with("metadata"))
                .collect()
        })
        .unwrap_or_default();
    causes.sort();
    causes
}

#[test]
fn validation_errors_match_the_recorded_api_server() {
    let validator = widget_validator();
    let rec = recording("10-validation.json");
    let mut stored: HashMap<String, Value> = HashMap::new();
    let mut compared = 0;
    for ex in rec["exchanges"].as_array().expect("exchanges") {
        let req = &ex["request"];
        let resp = &ex["response"];
        let method = req["method"].as_str().unwrap_or_default();
        let name = req["path"]
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let (mut object, old) = match method {
            "POST" => (req["body"].clone(), None),
            "PUT" => (req["body"].clone(), stored.get(&name).cloned()),
            "PATCH" => {
                let Some(current) = stored.get(&name) else {
                    continue;
                };
                let mut next = current.clone();
                merge_patch(&mut next, &req["body"]);
                (next, Some(current.clone()))
            }
            _ => continue,
        };
        validator.prune_and_default(&mut object);
        let errors = validator.validate(&object, old.as_ref());
        let mut got: Vec<(String, String)> = errors
            .iter()
            .map(|e| (e.field.clone(), e.message()))
            .collect();
        got.sort();
        let status = resp["status"].as_u64().unwrap_or_default();
        if status == 422 {
            let expected = recorded_causes(&resp["body"]);
            if expected.is_empty() {
                continue; // only metadata errors, which the API server layer checks
            }
            assert_eq!(got, expected, "{method} {} ({})", req["path"], ex["note"]);
        } else {
            assert!(
                got.is_empty(),
                "{method} {}: recorded {status}, validator said {got:?}",
                req["path"]
            );
            let body = resp["body"].clone();
            let key = body["metadata"]["name"]
                .as_str()
                .unwrap_or(&name)
                .to_string();
            stored.insert(key, body);
        }
        compared += 1;
    }
    assert!(compared >= 15, "only {compared} exchanges compared");
}

#[test]
fn pruning_and_defaults_match_the_recorded_api_server() {
    let validator = widget_validator();
    let rec = recording("11-pruning-defaults.json");
    let first = &rec["exchanges"][0];
    let mut object = first["request"]["body"].clone();
    let mut removed = validator.prune_and_default(&mut object);
    removed.retain(|p| !p.starts_with("metadata"));
    let mut warned: Vec<String> = first["response"]["headers"]["Warning"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|w| {
            w.split("unknown field \\\"")
                .nth(1)
                .or_else(|| w.split("unknown field \"").nth(1))
        })
        .map(|w| w.trim_end_matches('"').trim_end_matches('\\').to_string())
        .filter(|p| !p.starts_with("metadata"))
        .collect();
    warned.sort();
    removed.sort();
    assert_eq!(removed, warned);
    let stored = &first["response"]["body"];
    assert_eq!(
        object["spec"], stored["spec"],
        "pruned and defaulted spec differs from the stored one"
    );
}
