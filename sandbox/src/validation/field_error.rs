//! Field errors in kube-apiserver's shape: `spec.size: Invalid value: 11: ...`,
//! with the `reason` each carries in a Status's `details.causes`.

use serde_json::Value;
use std::fmt;

/// What is wrong with a field, as apimachinery's `field.ErrorType`.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorType {
    /// A required field is missing.
    Required,
    /// A value outside an enum; carries the supported values.
    NotSupported(Vec<Value>),
    /// A value that breaks a rule (pattern, bound, format, CEL rule).
    Invalid,
    /// A JSON value of the wrong type; carries the expected type.
    TypeInvalid(String),
    /// A string longer than allowed; carries the maximum.
    TooLong(u64),
    /// A list with more items than allowed; carries the maximum.
    TooMany(u64),
    /// A repeated key in a `map` or `set` list.
    Duplicate,
    /// A change that is not allowed.
    Forbidden,
}

/// One validation error of one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field path, e.g. `spec.acme.solvers[0].dns01`.
    pub field: String,
    pub error_type: ErrorType,
    /// The offending value, when the message shows it.
    pub value: Option<Value>,
    /// What is wrong, in words.
    pub detail: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            error_type: ErrorType::Required,
            value: None,
            detail: String::new(),
        }
    }

    pub fn invalid(
        field: impl Into<String>,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            error_type: ErrorType::Invalid,
            value,
            detail: detail.into(),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            error_type: ErrorType::Forbidden,
            value: None,
            detail: detail.into(),
        }
    }

    /// The Status cause reason, e.g. `FieldValueInvalid`.
    pub fn reason(&self) -> &'static str {
        match self.error_type {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::NotSupported(_) => "FieldValueNotSupported",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::TypeInvalid(_) => "FieldValueTypeInvalid",
            ErrorType::TooLong(_) => "FieldValueTooLong",
            ErrorType::TooMany(_) => "FieldValueTooMany",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Forbidden => "FieldValueForbidden",
        }
    }

    /// Whether kube-apiserver stops before CEL rules when it sees this error.
    pub fn stops_cel(&self) -> bool {
        matches!(
            self.error_type,
            ErrorType::Required
                | ErrorType::NotSupported(_)
                | ErrorType::TypeInvalid(_)
                | ErrorType::TooLong(_)
                | ErrorType::TooMany(_)
        )
    }

    /// The message without the field, as in a Status cause.
    pub fn message(&self) -> String {
        match &self.error_type {
            ErrorType::Required => {
                if self.detail.is_empty() {
                    "Required value".to_string()
                } else {
                    format!("Required value: {}", self.detail)
                }
            }
            ErrorType::NotSupported(values) => {
                let supported: Vec<String> = values.iter().map(go_value).collect();
                format!(
                    "Unsupported value: {}: supported values: {}",
                    self.value.as_ref().map(go_value).unwrap_or_default(),
                    supported.join(", ")
                )
            }
            ErrorType::Invalid => match &self.value {
                Some(v) => format!("Invalid value: {}: {}", go_value(v), self.detail),
                None => format!("Invalid value: {}", self.detail),
            },
            ErrorType::TypeInvalid(_) => {
                format!(
                    "Invalid value: {}: {}",
                    self.value.as_ref().map(go_value).unwrap_or_default(),
                    self.detail
                )
            }
            ErrorType::TooLong(max) => format!("Too long: may not be more than {max} bytes"),
            ErrorType::TooMany(max) => {
                let n = self
                    .value
                    .as_ref()
                    .and_then(Value::as_array)
                    .map(Vec::len)
                    .unwrap_or_default();
                format!("Too many: {n}: must have at most {max} items")
            }
            ErrorType::Duplicate => {
                format!(
                    "Duplicate value: {}",
                    self.value.as_ref().map(go_value).unwrap_or_default()
                )
            }
            ErrorType::Forbidden => format!("Forbidden: {}", self.detail),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// A value printed the way apimachinery prints it: strings quoted, numbers bare.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Appends a child to a field path: `spec` + `size` → `spec.size`.
pub fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Appends an index or key to a field path: `spec.items` + 0 → `spec.items[0]`.
pub fn index(path: &str, key: impl fmt::Display) -> String {
    format!("{path}[{key}]")
}
