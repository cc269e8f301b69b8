//! API errors as kube-apiserver answers them: `kind: Status` bodies with the real
//! reason, code, message and details, or the plain-text 404 of an unknown path.

use serde_json::{Value, json};

use crate::resources::ResourceInfo;
use crate::validation::FieldError;

/// An error answer of the API server.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// A `kind: Status` answer.
    Status { code: u16, body: Value },
    /// `404 page not found` as text: an unknown group, version, resource or path.
    PageNotFound,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Status { code, body } => write!(
                f,
                "{code}: {}",
                body["message"].as_str().unwrap_or_default()
            ),
            ApiError::PageNotFound => write!(f, "404 page not found"),
        }
    }
}

impl std::error::Error for ApiError {}

fn status(code: u16, reason: &str, message: String, details: Option<Value>) -> ApiError {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    body["code"] = json!(code);
    ApiError::Status { code, body }
}

/// `details` naming an object by its plural resource, as NotFound/AlreadyExists/Conflict do.
fn plural_details(info: &ResourceInfo, name: &str) -> Value {
    let mut d = json!({ "name": name });
    if !info.group.is_empty() {
        d["group"] = json!(info.group);
    }
    d["kind"] = json!(info.plural);
    d
}

impl ApiError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::Status { code, .. } => *code,
            ApiError::PageNotFound => 404,
        }
    }

    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        status(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", info.qualified_plural()),
            Some(plural_details(info, name)),
        )
    }

    pub fn namespace_not_found(namespace: &str) -> Self {
        status(
            404,
            "NotFound",
            format!("namespaces \"{namespace}\" not found"),
            Some(json!({ "name": namespace, "kind": "namespaces" })),
        )
    }

    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        status(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", info.qualified_plural()),
            Some(plural_details(info, name)),
        )
    }

    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        status(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                info.qualified_plural()
            ),
            Some(plural_details(info, name)),
        )
    }

    /// A 409 Conflict with a custom message (e.g. a uid precondition).
    pub fn conflict_message(info: &ResourceInfo, name: &str, message: String) -> Self {
        status(409, "Conflict", message, Some(plural_details(info, name)))
    }

    /// 422 Invalid listing every field error, as `Kind.group "name" is invalid: [...]`.
    pub fn invalid(info: &ResourceInfo, name: &str, errors: &[FieldError]) -> Self {
        let kind_group = if info.group.is_empty() {
            info.kind.clone()
        } else {
            format!("{}.{}", info.kind, info.group)
        };
        // The message lists each distinct error once (an aggregate), the causes all.
        let mut listed: Vec<String> = Vec::new();
        for e in errors {
            let text = e.to_string();
            if !listed.contains(&text) {
                listed.push(text);
            }
        }
        let joined = if listed.len() == 1 {
            listed.join("")
        } else {
            format!("[{}]", listed.join(", "))
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({ "reason": e.reason(), "message": e.message(), "field": e.field }))
            .collect();
        let mut details = json!({ "name": name });
        if !info.group.is_empty() {
            details["group"] = json!(info.group);
        }
        details["kind"] = json!(info.kind);
        details["causes"] = json!(causes);
        status(
            422,
            "Invalid",
            format!("{kind_group} \"{name}\" is invalid: {joined}"),
            Some(details),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        status(400, "BadRequest", message.into(), None)
    }

    pub fn forbidden(message: String, details: Value) -> Self {
        status(403, "Forbidden", message, Some(details))
    }

    pub fn unauthorized() -> Self {
        status(401, "Unauthorized", "Unauthorized".to_string(), None)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        status(405, "MethodNotAllowed", message.into(), None)
    }

    pub fn unsupported_media_type(content_type: &str, supported: &[&str]) -> Self {
        status(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                supported.join(", ")
            ),
            Some(
                json!({ "causes": [{ "reason": "UnexpectedServerResponse", "message": content_type }] }),
            ),
        )
    }

    pub fn gone(message: String) -> Self {
        status(410, "Expired", message, None)
    }

    /// A 422 whose message is only the generic text (JSON patch `test` failures).
    pub fn invalid_plain(message: impl Into<String>) -> Self {
        status(422, "Invalid", message.into(), Some(json!({})))
    }

    /// 429 as API Priority and Fairness answers a request it will not queue.
    pub fn too_many_requests() -> Self {
        status(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.".into(),
            Some(json!({ "retryAfterSeconds": 1 })),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        status(500, "InternalError", message.into(), None)
    }

    pub fn timeout(message: String, retry_after: u64) -> Self {
        status(
            504,
            "Timeout",
            message,
            Some(json!({ "retryAfterSeconds": retry_after })),
        )
    }

    /// The body of a `kind: Status` answer, if it is one.
    pub fn body(&self) -> Option<&Value> {
        match self {
            ApiError::Status { body, .. } => Some(body),
            ApiError::PageNotFound => None,
        }
    }
}
