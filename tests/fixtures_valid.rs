//! Every valid fixture (the seeds' manifests and one per issuer, provider, solver and
//! field) parses into the API types, serializes back to the same JSON, and passes
//! the CRD schema and its CEL rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::{Certificate, CertificateRequest, Challenge, ClusterIssuer, Issuer, Order};
use certgate_sandbox::validation::SchemaValidator;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

fn round_trip_by_kind(v: &Value) -> Result<Value, String> {
    match (v["apiVersion"].as_str(), v["kind"].as_str()) {
        (Some("cert-manager.io/v1"), Some("Certificate")) => round_trip::<Certificate>(v),
        (Some("cert-manager.io/v1"), Some("CertificateRequest")) => {
            round_trip::<CertificateRequest>(v)
        }
        (Some("cert-manager.io/v1"), Some("Issuer")) => round_trip::<Issuer>(v),
        (Some("cert-manager.io/v1"), Some("ClusterIssuer")) => round_trip::<ClusterIssuer>(v),
        (Some("acme.cert-manager.io/v1"), Some("Order")) => round_trip::<Order>(v),
        (Some("acme.cert-manager.io/v1"), Some("Challenge")) => round_trip::<Challenge>(v),
        (a, k) => Err(format!("not a cert-manager kind: {a:?} {k:?}")),
    }
}

/// The first place two JSON values differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => {
                        if let Some(d) = first_difference(va, vb, &p) {
                            return Some(d);
                        }
                    }
                    (Some(_), None) => return Some(format!("{p} lost")),
                    (None, Some(_)) => return Some(format!("{p} invented")),
                    (None, None) => {}
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} became {b}")),
    }
}

#[test]
fn valid_fixtures_round_trip_and_validate() {
    let crds = common::checked_in_crds();
    let fixtures = common::fixtures("valid");
    assert!(
        fixtures.len() >= 40,
        "expected the full valid corpus, found {}",
        fixtures.len()
    );
    let mut failures = Vec::new();
    for (path, text) in &fixtures {
        let name = common::name(path);
        let original = match common::yaml_to_json(text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: not YAML: {e}"));
                continue;
            }
        };
        match round_trip_by_kind(&original) {
            Ok(back) => {
                if let Some(d) = first_difference(&original, &back, "") {
                    failures.push(format!("{name}: round trip changed the manifest: {d}"));
                }
            }
            Err(e) => failures.push(format!("{name}: does not parse into the types: {e}")),
        }
        let api_version = original["apiVersion"].as_str().unwrap_or_default();
        let kind = original["kind"].as_str().unwrap_or_default();
        let Some(schema) = common::schema_for(&crds, api_version, kind) else {
            failures.push(format!("{name}: no CRD serves {api_version} {kind}"));
            continue;
        };
        let validator = SchemaValidator::new(schema).expect("rules compile");
        let mut object = original.clone();
        let pruned = validator.prune_and_default(&mut object);
        if !pruned.is_empty() {
            failures.push(format!("{name}: the schema prunes {pruned:?}"));
        }
        let errors = validator.validate(&object, None);
        if !errors.is_empty() {
            let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
            failures.push(format!("{name}: refused: {}", msgs.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} valid fixtures failed:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}
