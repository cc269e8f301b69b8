//! The CRDs under `crds/` are exactly what `certgate crds` generates from `src/api`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate_sandbox::validation::SchemaValidator;

#[test]
fn checked_in_crds_match_the_code() {
    let generated = certgate::api::crd::all().expect("CRDs generate");
    let dir = common::root().join("crds");
    let mut expected_files: Vec<String> = generated.iter().map(|c| c.file_name.clone()).collect();
    expected_files.sort();
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    present.sort();
    assert_eq!(
        present, expected_files,
        "crds/ holds other files than the code generates; run `certgate crds --output-dir crds`"
    );
    for crd in generated {
        let on_disk = std::fs::read_to_string(dir.join(&crd.file_name)).expect("readable");
        assert!(
            on_disk == crd.to_yaml().expect("yaml"),
            "crds/{} differs from the code; run `cargo run -- crds --output-dir crds`",
            crd.file_name
        );
    }
}

#[test]
fn crds_have_cert_manager_names_scopes_and_columns() {
    let crds = common::checked_in_crds();
    let find = |plural: &str| {
        crds.iter()
            .find(|c| c["spec"]["names"]["plural"] == plural)
            .unwrap_or_else(|| panic!("no CRD for {plural}"))
            .clone()
    };
    let cert = find("certificates");
    assert_eq!(
        cert["spec"]["names"]["shortNames"],
        serde_json::json!(["cert", "certs"])
    );
    assert_eq!(
        cert["spec"]["names"]["categories"],
        serde_json::json!(["cert-manager"])
    );
    let columns: Vec<&str> = cert["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Ready", "Secret", "Issuer", "Status", "Age"]);
    assert_eq!(find("clusterissuers")["spec"]["scope"], "Cluster");
    assert_eq!(find("issuers")["spec"]["scope"], "Namespaced");
    assert_eq!(
        find("certificaterequests")["spec"]["names"]["shortNames"],
        serde_json::json!(["cr", "crs"])
    );
    let orders = find("orders");
    let order_columns: Vec<&str> = orders["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(order_columns, ["State", "Issuer", "Reason", "Age"]);
    assert_eq!(
        find("challenges")["spec"]["names"]["categories"],
        serde_json::json!(["cert-manager", "cert-manager-acme"])
    );
    for crd in &crds {
        assert_eq!(
            crd["spec"]["versions"][0]["subresources"]["status"],
            serde_json::json!({})
        );
    }
}

#[test]
fn every_cel_rule_compiles() {
    for crd in common::checked_in_crds() {
        let schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
        if let Err(e) = SchemaValidator::new(schema) {
            panic!("{}: {e}", crd["metadata"]["name"]);
        }
    }
}

/// Every bound (`maxItems`, `maxLength`, `maxProperties`) multiplied by `factor`.
fn loosen_bounds(node: &mut serde_json::Value, factor: u64) {
    match node {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if matches!(k.as_str(), "maxItems" | "maxLength" | "maxProperties") {
                    if let Some(n) = v.as_u64() {
                        *v = serde_json::json!(n * factor);
                    }
                } else {
                    loosen_bounds(v, factor);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| loosen_bounds(v, factor)),
        _ => {}
    }
}

/// The API server accepts all six CRDs, and would still accept them with every bound
/// four times larger: the rules' estimated cost is far from the budget, not at its edge.
/// (On the real leg this is kube-apiserver's own cost estimator; a CRD over budget is
/// refused with "estimated rule cost exceeds budget".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_accepts_the_crds_with_room_to_spare_in_the_cel_budget() {
    let env = certgate_sandbox::TestEnv::start().await.expect("test env");
    let crds = common::checked_in_crds();
    env.apply_crds(&crds)
        .await
        .expect("the API server accepts the CRDs");
    // The same CRDs in a group of this test's own, with every bound loosened ×4.
    let group = format!("{}.budget.certgate.test", env.namespace);
    let loosened: Vec<serde_json::Value> = crds
        .iter()
        .map(|crd| {
            let mut c = crd.clone();
            let plural = c["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            c["metadata"] = serde_json::json!({"name": format!("{plural}.{group}")});
            c["spec"]["group"] = serde_json::json!(group);
            loosen_bounds(&mut c["spec"]["versions"], 4);
            c
        })
        .collect();
    let result = env.apply_crds(&loosened).await;
    let api: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(env.client.clone());
    for c in &loosened {
        let _ = api
            .delete(
                c["metadata"]["name"].as_str().unwrap_or_default(),
                &Default::default(),
            )
            .await;
    }
    env.cleanup().await;
    result.expect("the CRDs with every bound ×4 still fit the CEL cost budget");
}

/// Without the bounds (the CRDs as they were before), the API server refuses the
/// Certificate and Issuer CRDs for their rules' estimated cost — the real server and
/// the sandbox alike, naming the rule's path and the factor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bounds_the_crds_are_refused_for_cel_cost() {
    let env = certgate_sandbox::TestEnv::start().await.expect("test env");
    let group = format!("{}.unbounded.certgate.test", env.namespace);
    let api: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(env.client.clone());
    let mut refusals = Vec::new();
    for (file, path) in [
        (
            "certificates.cert-manager.io.yaml",
            "properties[spec].properties[ipAddresses].items.x-kubernetes-validations[0].rule",
        ),
        (
            "issuers.cert-manager.io.yaml",
            "properties[spec].properties[acme].properties[solvers].items.properties[dns01].x-kubernetes-validations[0].rule",
        ),
    ] {
        let text = std::fs::read_to_string(
            common::root()
                .join("sandbox/tests/fixtures/unbounded-crds")
                .join(file),
        )
        .expect("the unbounded CRD fixture");
        let mut crd = common::yaml_to_json(&text).expect("yaml");
        let plural = crd["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        crd["metadata"] = serde_json::json!({"name": format!("{plural}.{group}")});
        crd["spec"]["group"] = serde_json::json!(group);
        let typed = serde_json::from_value(crd).expect("a CRD");
        let result = api.create(&Default::default(), &typed).await;
        if let Ok(created) = &result {
            let _ = api
                .delete(
                    &created.metadata.name.clone().unwrap_or_default(),
                    &Default::default(),
                )
                .await;
        }
        refusals.push((path, result.err().map(|e| e.to_string())));
    }
    env.cleanup().await;
    for (path, refusal) in refusals {
        let message =
            refusal.unwrap_or_else(|| panic!("accepted a CRD whose rule at {path} is over budget"));
        assert!(
            message.contains(&format!(
                "{path}: Forbidden: estimated rule cost exceeds budget by factor of"
            )),
            "{message}"
        );
    }
}
