//! The recorded kube-apiserver exchanges and test CRDs under `tests/recordings`, for
//! the unit tests that replay them.

#![allow(clippy::expect_used)]

use serde_json::Value;

fn read(name: &str) -> String {
    let path = format!("{}/tests/recordings/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A recording file as JSON.
pub fn recording(name: &str) -> Value {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The `exchanges` of a recording file.
pub fn exchanges(name: &str) -> Vec<Value> {
    recording(name)["exchanges"]
        .as_array()
        .expect("exchanges")
        .clone()
}

/// The test CRDs of `crd-widget.yaml` (Widget, then Gadget).
pub fn test_crds() -> Vec<Value> {
    read("crd-widget.yaml")
        .split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .collect()
}

/// One test CRD by kind.
pub fn test_crd(kind: &str) -> Value {
    test_crds()
        .into_iter()
        .find(|d| d["spec"]["names"]["kind"] == kind)
        .expect("test CRD")
}
