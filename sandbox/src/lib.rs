//! certgate's sandbox: an in-memory Kubernetes API server, faithful enough to test
//! certgate through the real `kube::Client`, and the harness tests use it through.

pub mod aggregation;
pub mod api_error;
pub mod apiserver;
pub mod builtin_validation;
pub mod discovery;
pub mod faults;
pub mod gc;
pub mod harness;
pub mod http;
pub mod managed_fields;
mod managed_fields_glue;
pub mod objects;
pub mod openapi;
pub mod patch;
mod patch_glue;
pub mod rbac;
pub mod registry;
pub mod resources;
pub mod root_ca;
pub mod sandbox;
pub mod selectors;
pub mod store;
pub mod table;
#[cfg(test)]
mod test_recordings;
pub mod tls;
pub mod tokens;
pub mod validation;

pub use harness::TestEnv;
pub use sandbox::{Sandbox, SandboxError, SandboxOptions, client_from_kubeconfig};

/// Reads every CRD (`kind: CustomResourceDefinition`) from the YAML files of a directory.
pub fn load_crd_dir(dir: &std::path::Path) -> Result<Vec<serde_json::Value>, SandboxError> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| SandboxError::Write {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|source| SandboxError::Write {
            path: p.display().to_string(),
            source,
        })?;
        for doc in text.split("\n---") {
            if let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(doc)
                && v.get("kind").and_then(serde_json::Value::as_str)
                    == Some("CustomResourceDefinition")
            {
                out.push(v);
            }
        }
    }
    Ok(out)
}
