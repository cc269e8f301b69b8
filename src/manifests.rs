//! Applying multi-document YAML manifests of any kind, as `kubectl apply --server-side` does.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use serde_json::Value;

/// Why manifests could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: not valid YAML: {detail}")]
    Yaml { file: String, detail: String },
    #[error("{file}: a document has no apiVersion or kind")]
    NoKind { file: String },
    #[error("discovering the API server's resources: {0}")]
    Discovery(#[source] Box<kube::Error>),
    #[error("{kind} ({api_version}) is not served by the cluster; are the CRDs installed?")]
    NotServed { api_version: String, kind: String },
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
}

/// Splits YAML into its documents, dropping empty ones.
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut docs = Vec::new();
    for chunk in text.split("\n---") {
        let trimmed: String = chunk
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        if trimmed.trim().is_empty() || trimmed.trim() == "---" {
            continue;
        }
        let v: Value = serde_saphyr::from_str(chunk).map_err(|e| ManifestError::Yaml {
            file: file.to_string(),
            detail: e.to_string(),
        })?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// Applies documents in order with server-side apply as `field_manager`.
pub async fn apply(
    client: &kube::Client,
    file: &str,
    docs: &[Value],
    field_manager: &str,
) -> Result<Vec<String>, ManifestError> {
    // Only the groups the documents use: one unavailable aggregated API elsewhere in
    // the cluster (a metrics-server or webhook down) must not stop an apply.
    let groups: std::collections::BTreeSet<&str> = docs
        .iter()
        .filter_map(|d| d.get("apiVersion").and_then(Value::as_str))
        .map(|v| v.split_once('/').map(|(g, _)| g).unwrap_or(""))
        .collect();
    let groups: Vec<&str> = groups.into_iter().collect();
    let discovery = Discovery::new(client.clone())
        .filter(&groups)
        .run()
        .await
        .map_err(|e| ManifestError::Discovery(Box::new(e)))?;
    let mut applied = Vec::new();
    for doc in docs {
        let api_version = doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| ManifestError::NoKind {
                file: file.to_string(),
            })?;
        let kind =
            doc.get("kind")
                .and_then(Value::as_str)
                .ok_or_else(|| ManifestError::NoKind {
                    file: file.to_string(),
                })?;
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let found: Option<(ApiResource, ApiCapabilities)> = discovery
            .groups()
            .filter(|g| g.name() == group)
            .flat_map(|g| g.versioned_resources(version))
            .find(|(ar, _)| ar.kind == kind);
        let Some((ar, caps)) = found else {
            return Err(ManifestError::NotServed {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            });
        };
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                let ns = doc
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                Api::namespaced_with(client.clone(), ns, &ar)
            }
            Scope::Cluster => Api::all_with(client.clone(), &ar),
        };
        let params = PatchParams::apply(field_manager).force();
        api.patch(&name, &params, &Patch::Apply(doc))
            .await
            .map_err(|source| ManifestError::Apply {
                kind: kind.to_string(),
                name: name.clone(),
                source: Box::new(source),
            })?;
        applied.push(format!("{}/{}", kind.to_lowercase(), name));
    }
    Ok(applied)
}
