//! Field ownership for the write paths: wires `managed_fields` to the served
//! resource's schema (list types) and to the clock.

use serde_json::Value;

use crate::api_error::ApiError;
use crate::apiserver::WriteOptions;
use crate::registry::Served;

/// After a non-apply write: the fields the write changed become `manager`'s.
pub fn record_update(
    served: &Served,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    let _ = (served, old, new, manager, subresource);
}

/// Server-side apply of `applied` onto `live` (absent: create).
pub fn apply(
    served: &Served,
    live: Option<&Value>,
    applied: &Value,
    opts: &WriteOptions,
    subresource: Option<&str>,
) -> Result<Value, ApiError> {
    let _ = (served, opts, subresource);
    let mut out = live.cloned().unwrap_or_else(|| serde_json::json!({}));
    crate::patch::merge_patch(&mut out, applied);
    Ok(out)
}
