//! Schema helpers for fields whose JSON schema cannot be derived.

use schemars::{Schema, SchemaGenerator, json_schema};

/// A free-form JSON object kept as it is (`x-kubernetes-preserve-unknown-fields`).
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}
