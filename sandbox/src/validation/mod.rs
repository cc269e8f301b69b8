//! Validation of custom resources against a CRD's `openAPIV3Schema`, as
//! kube-apiserver does it: pruning, defaulting, structural checks, then CEL rules.

pub mod cel_cost;
pub mod cel_rules;
pub mod field_error;
pub mod structural;

use serde_json::Value;

pub use cel_rules::{CelRuntime, RuleCompileError};
pub use field_error::{ErrorType, FieldError};
use structural::PatternCache;

/// The cause kube-apiserver appends when schema errors stopped it before the CEL rules.
pub const CEL_SKIPPED: &str = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/// A validator for one version's schema.
pub struct SchemaValidator {
    schema: Value,
    cel: CelRuntime,
    patterns: PatternCache,
}

impl SchemaValidator {
    /// A validator for `openAPIV3Schema`; fails when a CEL rule does not compile.
    pub fn new(schema: Value) -> Result<Self, RuleCompileError> {
        let cel = CelRuntime::default();
        cel.check_schema(&schema, "")?;
        Ok(SchemaValidator {
            schema,
            cel,
            patterns: PatternCache::default(),
        })
    }

    /// Removes unknown fields (returning their paths, for `Warning` headers) and applies defaults.
    pub fn prune_and_default(&self, object: &mut Value) -> Vec<String> {
        let mut removed = Vec::new();
        structural::prune(&self.schema, object, "", true, &mut removed);
        structural::apply_defaults(&self.schema, object);
        removed
    }

    /// Validates an object (already pruned and defaulted); `old` is the stored
    /// object on an update, for transition rules. Returns every error found.
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        // apiVersion, kind and metadata are checked by the API server itself; the schema
        // either does not list them or lists them as plain strings and objects.
        let body = object;
        structural::validate(&self.schema, body, "", &self.patterns, &mut errs);
        if errs.iter().any(FieldError::stops_cel) {
            errs.push(FieldError::invalid("<nil>", Some(Value::Null), CEL_SKIPPED));
            return errs;
        }
        self.cel.validate(&self.schema, body, old, "", &mut errs);
        errs
    }
}
