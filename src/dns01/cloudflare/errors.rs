//! What goes wrong with Cloudflare: the error a Challenge shows (what to fix, never
//! the token or key), the failed call it comes from, and the wording of Cloudflare's
//! error codes. Must not make requests.

use super::wire::ApiMessage;
use super::*;

/// What went wrong with a Cloudflare solver. Messages say what to fix and never carry
/// the token or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudflareError {
    #[error(
        "the Cloudflare API URL \"{url}\" is invalid: {reason}; expected e.g. {PRODUCTION_URL}"
    )]
    InvalidBaseUrl { url: String, reason: String },
    #[error("{source_} is empty")]
    EmptyCredential { source_: String },
    #[error(
        "{source_} contains characters an HTTP header cannot carry (only visible ASCII is allowed): \
         check that the Secret holds the credential itself"
    )]
    InvalidCredential { source_: String },
    #[error(
        "\"{email}\" (spec.acme.solvers[].dns01.cloudflare.email) is not a valid email address"
    )]
    InvalidEmail { email: String },
    #[error(
        "{FIELD} sets both apiTokenSecretRef and apiKeySecretRef: keep one (an API token is recommended)"
    )]
    BothCredentials,
    #[error(
        "{FIELD} has no credentials: set apiTokenSecretRef (an API token with Zone:Read and DNS:Edit), \
         or apiKeySecretRef and email"
    )]
    NoCredentials,
    #[error("{FIELD}.apiKeySecretRef needs {FIELD}.email, the Cloudflare account's email")]
    MissingEmail,
    #[error(
        "{FIELD}.{field}.key is not set: name the key of Secret \"{secret}\" that holds the credential"
    )]
    MissingSecretKey { field: String, secret: String },
    #[error("\"{fqdn}\" is not inside zone \"{zone}\"")]
    NotInZone { fqdn: String, zone: String },
    #[error(
        "Cloudflare has no zone for \"{fqdn}\" visible to {credential} (looked for {tried}): \
         check that the domain's zone is in the Cloudflare account and that the credential may read it (Zone:Read)"
    )]
    NoZone {
        fqdn: String,
        tried: String,
        credential: String,
    },
    #[error(
        "Cloudflare refused {credential} (code {code}: {message}) when {action}: \
         check it has Zone:Read and DNS:Edit on {zone}"
    )]
    Forbidden {
        credential: String,
        code: u32,
        message: String,
        action: String,
        zone: String,
    },
    #[error(
        "Cloudflare does not know {credential} (code {code}: {message}): it is mistyped, revoked or expired; \
         {fix}"
    )]
    UnknownCredential {
        credential: String,
        code: u32,
        message: String,
        fix: String,
    },
    #[error(
        "Cloudflare rejected the request headers made from {credential} (code {code}: {message}): \
         {fix}"
    )]
    MalformedCredential {
        credential: String,
        code: u32,
        message: String,
        fix: String,
    },
    #[error(
        "Cloudflare has no API route for {what} (code {code}: {message}): the zone id may be stale, \
         or {base} is not Cloudflare's v4 API"
    )]
    BadRoute {
        what: String,
        code: u32,
        message: String,
        base: String,
    },
    #[error("Cloudflare refused {action} (HTTP {status}{codes})")]
    Api {
        action: String,
        status: u16,
        codes: String,
    },
    #[error("Cloudflare is rate limiting requests (HTTP 429{codes}) when {action}: retrying later")]
    RateLimited { action: String, codes: String },
    #[error("Cloudflare failed when {action} (HTTP {status}{codes}): retrying later")]
    ServerError {
        action: String,
        status: u16,
        codes: String,
    },
    #[error("no answer from the Cloudflare API at {base} when {action}: {reason}")]
    Unreachable {
        base: String,
        action: String,
        reason: String,
    },
    #[error("unexpected answer from the Cloudflare API at {base} when {action}: {reason}")]
    InvalidResponse {
        base: String,
        action: String,
        reason: String,
    },
}

impl CloudflareError {
    /// Whether retrying without any change may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::ServerError { .. }
                | Self::Unreachable { .. }
                | Self::InvalidResponse { .. }
        )
    }
}

impl From<CloudflareError> for ProviderError {
    fn from(e: CloudflareError) -> Self {
        if e.is_transient() {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Misconfigured(Box::new(e))
        }
    }
}

/// A failed call: the HTTP status and Cloudflare's error codes.
#[derive(Debug)]
pub(super) enum CallError {
    Transport(String),
    Decode(String),
    Status {
        status: u16,
        errors: Vec<ApiMessage>,
    },
}

impl CallError {
    pub(super) fn has_code(&self, codes: &[u32]) -> bool {
        match self {
            Self::Status { errors, .. } => errors
                .iter()
                .flat_map(|e| std::iter::once(e).chain(e.error_chain.iter()))
                .any(|e| codes.contains(&e.code)),
            _ => false,
        }
    }

    pub(super) fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `" (code 81057: Record already exists.)"`, or empty.
pub(super) fn codes_text(errors: &[ApiMessage]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let mut s = format!("code {}: {}", e.code, e.message.trim_end_matches('.'));
            for c in &e.error_chain {
                s.push_str(&format!(
                    "; code {}: {}",
                    c.code,
                    c.message.trim_end_matches('.')
                ));
            }
            s
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(", {}", parts.join(", "))
    }
}

impl CloudflareProvider {
    /// What a failed call means, in words.
    pub(super) fn explain(&self, e: CallError, action: &str, zone: &str) -> CloudflareError {
        let credential = self.auth.describe();
        let base = self.base.clone();
        let (status, errors) = match e {
            CallError::Transport(reason) => {
                return CloudflareError::Unreachable {
                    base,
                    action: action.into(),
                    reason,
                };
            }
            CallError::Decode(reason) => {
                return CloudflareError::InvalidResponse {
                    base,
                    action: action.into(),
                    reason,
                };
            }
            CallError::Status { status, errors } => (status, errors),
        };
        let first = errors.first().cloned();
        let code = first.as_ref().map(|f| f.code).unwrap_or(0);
        let message = first
            .as_ref()
            .map(|f| {
                let mut m = f.message.trim_end_matches('.').to_string();
                for c in &f.error_chain {
                    m.push_str(&format!(
                        "; code {}: {}",
                        c.code,
                        c.message.trim_end_matches('.')
                    ));
                }
                m
            })
            .unwrap_or_default();
        let is_token = matches!(self.auth, CloudflareAuth::Token { .. });
        match code {
            // Authentication error: the credential is valid but not allowed here.
            10000 => CloudflareError::Forbidden {
                credential,
                code,
                message,
                action: action.into(),
                zone: zone.trim_end_matches('.').to_string(),
            },
            // Invalid access token / unknown key or email.
            9109 | 9103 | 1000 => CloudflareError::UnknownCredential {
                credential,
                code,
                message,
                fix: if is_token {
                    format!(
                        "create an API token with Zone:Read and DNS:Edit on {} and put it in the Secret",
                        zone.trim_end_matches('.')
                    )
                } else {
                    "check the account email and the global API key (or use an API token)".into()
                },
            },
            // Invalid request headers, missing headers.
            6003 | 6100..=6199 | 9106 => CloudflareError::MalformedCredential {
                credential,
                code,
                message,
                fix: if is_token {
                    "the Secret must hold the API token's value (about 40 characters), not a global API key or the token's ID".into()
                } else {
                    "check that apiKeySecretRef holds the global API key and email is the account's email; an API token goes in apiTokenSecretRef".into()
                },
            },
            7000 | 7003 | 1001 | 1003 => CloudflareError::BadRoute {
                what: action.into(),
                code,
                message,
                base,
            },
            _ if status == 429 => CloudflareError::RateLimited {
                action: action.into(),
                codes: codes_text(&errors),
            },
            _ if status >= 500 => CloudflareError::ServerError {
                action: action.into(),
                status,
                codes: codes_text(&errors),
            },
            _ if status == 401 || status == 403 => CloudflareError::Forbidden {
                credential,
                code,
                message: if message.is_empty() {
                    format!("HTTP {status}")
                } else {
                    message
                },
                action: action.into(),
                zone: zone.trim_end_matches('.').to_string(),
            },
            _ => CloudflareError::Api {
                action: action.into(),
                status,
                codes: codes_text(&errors),
            },
        }
    }
}
