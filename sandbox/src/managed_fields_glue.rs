//! Field ownership for the write paths: wires `managed_fields` to the served
//! resource's schema (list types) and to the clock.

use serde_json::Value;

use crate::api_error::ApiError;
use crate::apiserver::WriteOptions;
use crate::managed_fields::{self, BuiltinListTypes, ListTypes, SchemaListTypes};
use crate::registry::Served;

fn with_list_types<T>(served: &Served, f: impl FnOnce(&dyn ListTypes) -> T) -> T {
    let info = &served.info;
    if info.custom {
        f(&SchemaListTypes::new(
            info.schema.as_ref(),
            info.status_subresource,
        ))
    } else {
        f(&BuiltinListTypes::new(&info.api_version(), &info.kind))
    }
}

/// After a non-apply write: the fields the write changed become `manager`'s.
pub fn record_update(
    served: &Served,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    let now = crate::objects::now_rfc3339();
    let api_version = served.info.api_version();
    with_list_types(served, |lt| {
        managed_fields::record_update(old, new, manager, subresource, &api_version, &now, lt)
    });
}

/// Server-side apply of `applied` onto `live` (absent: create).
pub fn apply(
    served: &Served,
    live: Option<&Value>,
    applied: &Value,
    opts: &WriteOptions,
    subresource: Option<&str>,
) -> Result<Value, ApiError> {
    let now = crate::objects::now_rfc3339();
    let api_version = served.info.api_version();
    with_list_types(served, |lt| {
        managed_fields::apply(
            live,
            applied,
            &opts.manager,
            opts.force,
            subresource,
            &api_version,
            &now,
            lt,
        )
    })
    .map_err(|e| ApiError::Status {
        code: e.code(),
        body: e.status_body(),
    })
}
