//! What the sandbox serves: one `ResourceInfo` per resource type, built in or from a CRD.

use serde_json::Value;

/// A printer column (CRD `additionalPrinterColumns`, or a built-in printer's).
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub json_path: String,
    pub priority: i64,
    pub description: String,
    pub format: String,
}

/// A served resource type.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    /// Lowercase plural used in paths, e.g. `certificates`.
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Whether the `/status` subresource is served.
    pub status_subresource: bool,
    /// The verbs listed in discovery.
    pub verbs: Vec<String>,
    /// Printer columns of a CRD; empty for built-ins without a printer.
    pub printer_columns: Vec<PrinterColumn>,
    /// The `openAPIV3Schema` of a custom resource; `None` for built-ins.
    pub schema: Option<Value>,
    /// Whether this comes from a CRD.
    pub custom: bool,
}

impl ResourceInfo {
    /// `apiVersion` as written in objects: `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The name used in error messages: `widgets.example.certgate.test`, or `configmaps` for core.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The standard verbs of a resource type.
    pub fn standard_verbs() -> Vec<String> {
        [
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}
