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
