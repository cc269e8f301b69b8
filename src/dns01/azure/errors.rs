//! What goes wrong with Azure DNS: the error a Challenge shows (what to fix, never a
//! secret or token), the failed call it comes from, and the wording of ARM's and
//! Entra ID's error bodies. Must not make requests.

use super::*;

/// What went wrong with an Azure DNS solver. Messages say what to fix and never
/// carry the client secret or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AzureError {
    #[error("the Azure {what} URL \"{url}\" is invalid: {reason}")]
    InvalidBaseUrl {
        what: String,
        url: String,
        reason: String,
    },
    #[error(
        "{FIELD}.environment AzureGermanCloud is not served: Microsoft Cloud Deutschland closed in October 2021 (cert-manager refuses it too); use AzurePublicCloud"
    )]
    GermanCloud,
    #[error("{field} {why}")]
    Config { field: String, why: String },
    #[error("\"{fqdn}\" is not inside zone \"{zone}\"{hint}")]
    NotInZone {
        fqdn: String,
        zone: String,
        hint: String,
    },
    #[error(
        "Entra ID refused the {credential} (HTTP {status}, {error}{detail}) when getting an ARM token: {fix}"
    )]
    TokenRefused {
        credential: String,
        status: u16,
        error: String,
        detail: String,
        fix: String,
    },
    #[error(
        "the federated token file {path} of Azure Workload Identity cannot be read ({reason}): is the pod labelled azure.workload.identity/use=true with its ServiceAccount annotated?"
    )]
    TokenFile { path: String, reason: String },
    #[error(
        "Azure DNS has no {place} visible to the {credential} (HTTP 404{detail}) when {action}: check {FIELD}.subscriptionID, resourceGroupName and hostedZoneName, and that the zone exists"
    )]
    NoZone {
        /// `DNS zone "example.com" in resource group rg of subscription s`.
        place: String,
        credential: String,
        detail: String,
        action: String,
    },
    #[error(
        "Azure Resource Manager refused the token of the {credential} (HTTP 401{detail}) when {action}: check the tenant and that the identity is in the subscription's tenant"
    )]
    Unauthorized {
        credential: String,
        detail: String,
        action: String,
    },
    #[error(
        "the {credential} may not {action} (HTTP 403{detail}): give it the {ROLE} role on the zone or its resource group"
    )]
    Forbidden {
        credential: String,
        detail: String,
        action: String,
    },
    #[error("Azure refused {action} (HTTP {status}{detail})")]
    Rejected {
        action: String,
        status: u16,
        detail: String,
    },
    #[error(
        "the record set kept changing while {action} ({attempts} concurrent edits, HTTP 412): retrying later"
    )]
    Conflict { action: String, attempts: u32 },
    #[error(
        "Azure is throttling requests (HTTP 429{detail}) when {action}, after {attempts} attempt(s){wait}: retrying later"
    )]
    RateLimited {
        action: String,
        attempts: u32,
        detail: String,
        wait: String,
    },
    #[error(
        "Azure failed when {action} (HTTP {status}{detail}), after {attempts} attempt(s): retrying later"
    )]
    ServerError {
        action: String,
        status: u16,
        detail: String,
        attempts: u32,
    },
    #[error("no answer from {base} when {action}, after {attempts} attempt(s): {reason}")]
    Unreachable {
        base: String,
        action: String,
        attempts: u32,
        reason: String,
    },
    #[error("unexpected answer from {base} when {action}: {reason}")]
    InvalidResponse {
        base: String,
        action: String,
        reason: String,
    },
}

impl AzureError {
    /// Whether retrying without any change may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. }
                | Self::RateLimited { .. }
                | Self::ServerError { .. }
                | Self::Unreachable { .. }
                | Self::InvalidResponse { .. }
        )
    }
}

impl From<AzureError> for ProviderError {
    fn from(e: AzureError) -> Self {
        if e.is_transient() {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Misconfigured(Box::new(e))
        }
    }
}

/// A failed request.
#[derive(Debug)]
pub(super) enum CallError {
    /// Not answered (connection, timeout, body).
    Transport(String),
    /// Answered with an error status: ARM's `error.code`/`message`, or Entra ID's
    /// `error`/`error_description` and first AADSTS code; `wait` is how long the
    /// server asked to wait.
    Status {
        status: u16,
        code: String,
        message: String,
        aadsts: u64,
        wait: Option<Duration>,
    },
}

impl CallError {
    /// Worth retrying soon: not answered, 429 or 5xx.
    pub(super) fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
        }
    }

    pub(super) fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Transport(_) => None,
        }
    }
}

/// An error answer's code and message, from ARM (`{"error": {"code", "message"}}`,
/// or the fields at the top) or Entra ID (`{"error", "error_description",
/// "error_codes"}`), and the first AADSTS code.
pub(super) fn error_fields(body: &[u8]) -> (String, String, u64) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (String::new(), String::new(), 0);
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().trim().to_string();
    if let Some(e) = v.get("error").filter(|e| e.is_object()) {
        return (text(&e["code"]), text(&e["message"]), 0);
    }
    if v.get("error").is_some_and(Value::is_string) {
        let mut description = text(&v["error_description"]);
        // Entra ID appends trace and correlation IDs and a timestamp: not for people.
        if let Some(i) = description.find("Trace ID:") {
            description.truncate(i);
        }
        let aadsts = v["error_codes"]
            .as_array()
            .and_then(|c| c.first())
            .and_then(Value::as_u64)
            .unwrap_or_default();
        return (text(&v["error"]), description.trim().to_string(), aadsts);
    }
    (text(&v["code"]), text(&v["message"]), 0)
}

/// `", code: message"`-style detail, or empty.
pub(super) fn detail(code: &str, message: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    match (code.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(", {code}"),
        (true, false) => format!(", {message}"),
        (false, false) => format!(", {code}: {message}"),
    }
}

impl AzureProvider {
    /// What a failed ARM request means, in words.
    pub(super) fn explain(
        &self,
        e: CallError,
        action: &str,
        t: &Target,
        attempts: u32,
    ) -> AzureError {
        let (status, code, message, wait) = match e {
            CallError::Transport(reason) => {
                return AzureError::Unreachable {
                    base: self.arm.to_string(),
                    action: action.into(),
                    attempts,
                    reason,
                };
            }
            CallError::Status {
                status,
                code,
                message,
                wait,
                ..
            } => (status, code, message, wait),
        };
        let detail = detail(&code, &message);
        match status {
            401 => AzureError::Unauthorized {
                credential: self.credential.describe(),
                detail,
                action: action.into(),
            },
            403 => AzureError::Forbidden {
                credential: self.credential.describe(),
                detail,
                action: action.into(),
            },
            404 => self.no_zone(t, detail, action),
            429 => AzureError::RateLimited {
                action: action.into(),
                attempts,
                detail,
                wait: wait
                    .map(|w| format!("; asked to wait {} s", w.as_secs()))
                    .unwrap_or_default(),
            },
            s if s >= 500 => AzureError::ServerError {
                action: action.into(),
                status: s,
                detail,
                attempts,
            },
            s => AzureError::Rejected {
                action: action.into(),
                status: s,
                detail,
            },
        }
    }

    pub(super) fn no_zone(&self, t: &Target, detail: String, action: &str) -> AzureError {
        let kind = match self.kind {
            ZoneKind::Public => "DNS",
            ZoneKind::Private => "private DNS",
        };
        AzureError::NoZone {
            place: format!(
                "{kind} zone \"{}\" in resource group {} of subscription {}",
                t.zone, self.resource_group, self.subscription
            ),
            credential: self.credential.describe(),
            detail,
            action: action.into(),
        }
    }
}
