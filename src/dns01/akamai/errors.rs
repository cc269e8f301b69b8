//! What goes wrong with Akamai Edge DNS: the error a Challenge shows (what to fix,
//! never a secret), the failed call it comes from, and the wording of Akamai's
//! problem details. Must not make requests.

use super::*;

/// What went wrong with an Akamai solver. Messages say what to fix and never carry
/// a token or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AkamaiError {
    #[error("the Akamai API URL \"{url}\" is invalid: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    #[error("{field} {why}")]
    Config { field: String, why: String },
    #[error("\"{fqdn}\" is not inside zone \"{zone}\"")]
    NotInZone { fqdn: String, zone: String },
    #[error(
        "Edge DNS has no zone \"{zone}\" visible to the API client ({source_}) (HTTP 404{detail}) when {action}: add the zone to Edge DNS, in a contract and group the API client may use"
    )]
    NoZone {
        zone: String,
        source_: String,
        detail: String,
        action: String,
    },
    #[error(
        "Akamai refused the API client's credentials ({source_}) (HTTP 401{detail}) when {action}: check the client token, client secret and access token of the API client (Identity and Access Management → API clients), and that {FIELD}.serviceConsumerDomain is that client's host"
    )]
    Unauthorized {
        source_: String,
        detail: String,
        action: String,
    },
    #[error(
        "Akamai refused the request's timestamp (HTTP 400{detail}) when {action}: certgate's clock differs from Akamai's; synchronise it (NTP)"
    )]
    ClockSkew { detail: String, action: String },
    #[error(
        "the API client ({source_}) may not {action} (HTTP 403{detail}): give it {GRANT}, and access to the zone's contract and group"
    )]
    Forbidden {
        source_: String,
        detail: String,
        action: String,
    },
    #[error("Edge DNS refused {action} (HTTP {status}{detail})")]
    Rejected {
        action: String,
        status: u16,
        detail: String,
    },
    #[error("the record set kept changing while {action} ({attempts} attempts): retrying later")]
    Conflict { action: String, attempts: u32 },
    #[error(
        "Akamai is rate limiting requests (HTTP 429{detail}) when {action}, after {attempts} attempt(s){wait}: retrying later"
    )]
    RateLimited {
        action: String,
        attempts: u32,
        detail: String,
        wait: String,
    },
    #[error(
        "Edge DNS failed when {action} (HTTP {status}{detail}), after {attempts} attempt(s): retrying later"
    )]
    ServerError {
        action: String,
        status: u16,
        detail: String,
        attempts: u32,
    },
    #[error(
        "no answer from the Akamai API at {base} when {action}, after {attempts} attempt(s): {reason}"
    )]
    Unreachable {
        base: String,
        action: String,
        attempts: u32,
        reason: String,
    },
    #[error("unexpected answer from the Akamai API at {base} when {action}: {reason}")]
    InvalidResponse {
        base: String,
        action: String,
        reason: String,
    },
}

impl AkamaiError {
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

impl From<AkamaiError> for ProviderError {
    fn from(e: AkamaiError) -> Self {
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
    Transport(String),
    /// Answered with an error status: the problem's `title` and `detail`; `wait` is
    /// how long the server asked to wait.
    Status {
        status: u16,
        title: String,
        detail: String,
        wait: Option<Duration>,
    },
}

impl CallError {
    pub(super) fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
        }
    }
}

/// `", title: detail"`-style detail, or empty.
pub(super) fn detail(title: &str, message: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    match (title.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(", {title}"),
        (true, false) => format!(", {message}"),
        (false, false) => format!(", {title}: {message}"),
    }
}
