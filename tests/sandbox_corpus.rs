//! The fixture corpus against an API server (the sandbox, or a real cluster with
//! `CERTGATE_TEST_KUBECONFIG`): with the CRDs applied, every valid fixture is
//! accepted and every invalid one refused with 422 naming its field, CEL rules included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate_sandbox::TestEnv;
use kube::api::{Api, DeleteParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

fn api_for(env: &TestEnv, obj: &Value) -> Api<DynamicObject> {
    let (group, version) = obj["apiVersion"].as_str().unwrap().split_once('/').unwrap();
    let kind = obj["kind"].as_str().unwrap();
    let plural = format!("{}s", kind.to_lowercase());
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    if kind == "ClusterIssuer" {
        Api::all_with(env.client.clone(), &ar)
    } else {
        Api::namespaced_with(env.client.clone(), &env.namespace, &ar)
    }
}

fn prepare(mut obj: Value, ns: &str) -> DynamicObject {
    if obj["kind"] != "ClusterIssuer" {
        obj["metadata"]["namespace"] = Value::String(ns.to_string());
    }
    serde_json::from_value(obj).unwrap()
}

#[tokio::test]
async fn the_api_server_accepts_the_valid_corpus_and_refuses_the_invalid_one() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let mut failures = Vec::new();

    for (path, text) in common::fixtures("valid") {
        let obj = common::yaml_to_json(&text).unwrap();
        let api = api_for(&env, &obj);
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match api
            .create(
                &PostParams::default(),
                &prepare(obj.clone(), &env.namespace),
            )
            .await
        {
            Ok(_) => {
                let _ = api.delete(&name, &DeleteParams::default()).await;
            }
            Err(e) => failures.push(format!("{}: refused: {e}", common::name(&path))),
        }
    }

    for (path, text) in common::fixtures("invalid") {
        let field = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix("# field:"))
            .map(|f| f.trim().to_string())
            .unwrap();
        // Status-only errors fire on status writes, not on create (status is dropped).
        if field.starts_with("status") {
            continue;
        }
        let obj = common::yaml_to_json(&text).unwrap();
        let api = api_for(&env, &obj);
        match api
            .create(&PostParams::default(), &prepare(obj, &env.namespace))
            .await
        {
            Ok(created) => {
                failures.push(format!(
                    "{}: accepted, expected an error on {field}",
                    common::name(&path)
                ));
                let _ = api
                    .delete(
                        &created.metadata.name.unwrap_or_default(),
                        &DeleteParams::default(),
                    )
                    .await;
            }
            Err(kube::Error::Api(status)) => {
                let causes: Vec<String> = status
                    .details
                    .as_ref()
                    .map(|d| d.causes.iter().map(|c| c.field.clone()).collect())
                    .unwrap_or_default();
                if status.code != 422 || !causes.contains(&field) {
                    failures.push(format!(
                        "{}: expected 422 on {field}, got {} {} (causes {causes:?})",
                        common::name(&path),
                        status.code,
                        status.message
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", common::name(&path))),
        }
    }
    env.cleanup().await;
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
