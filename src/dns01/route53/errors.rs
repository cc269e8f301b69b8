//! What goes wrong with Route53: the error a Challenge shows (what to fix, never a
//! secret), and how an SDK error is classified (throttled, bad credentials, denied,
//! transient). Must not make requests.

use super::*;

/// What went wrong with Route53. Messages say what to fix and never carry secrets.
#[derive(Debug, thiserror::Error)]
pub enum Route53Error {
    #[error(
        "no Route53 hosted zone holds \"{fqdn}\": there is no hosted zone named {tried} visible to {creds}; \
         create the zone, or set {FIELD}.hostedZoneID"
    )]
    ZoneNotFound {
        fqdn: String,
        tried: String,
        creds: String,
    },
    #[error(
        "Route53 hosted zone \"{id}\" does not exist or {creds} cannot see it: check {FIELD}.hostedZoneID"
    )]
    NoSuchZone { id: String, creds: String },
    #[error(
        "Route53 did not accept {creds} for {action} ({code}): check that the access key id and secret access key \
         belong together and are active, and that the clock is right"
    )]
    BadCredentials {
        action: &'static str,
        creds: String,
        code: String,
    },
    #[error(
        "Route53 denied {action} to {creds} ({code}): allow route53:GetChange, route53:ChangeResourceRecordSets, \
         route53:ListResourceRecordSets and route53:ListHostedZonesByName on the hosted zone"
    )]
    Denied {
        action: &'static str,
        creds: String,
        code: String,
    },
    #[error(
        "Route53 throttled {action} {attempts} times in a row ({code}); it will be tried again later"
    )]
    Throttled {
        action: &'static str,
        attempts: u32,
        code: String,
    },
    #[error("Route53 {action} failed ({code}): {message}")]
    Api {
        action: &'static str,
        code: String,
        message: String,
        transient: bool,
    },
    #[error("Route53 {action} could not be sent with {creds}: {reason}")]
    Request {
        action: &'static str,
        creds: String,
        reason: String,
        transient: bool,
    },
    #[error("Route53 change {id} was still PENDING after {secs} s; it will be checked again later")]
    NotInSync { id: String, secs: u64 },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Gone(#[from] BatcherGone),
}

impl Route53Error {
    /// Whether retrying later without any change may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::NotInSync { .. } | Self::Gone(_) => true,
            Self::Api { transient, .. } | Self::Request { transient, .. } => *transient,
            _ => false,
        }
    }
}

pub(super) fn provider_error(e: Arc<Route53Error>) -> ProviderError {
    if e.is_transient() {
        ProviderError::Unavailable(Box::new(e))
    } else {
        ProviderError::Misconfigured(Box::new(e))
    }
}

/// Error codes Route53 (and STS) answer when a caller goes too fast.
pub(super) const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "PriorRequestNotComplete",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

/// Error codes of a failure on AWS's side that a retry may not meet again.
pub(super) const TRANSIENT_CODES: &[&str] = &[
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether an answer with error `code` and HTTP `status` is worth retrying soon:
/// throttling, AWS-side failures, 429 and 5xx.
pub fn is_retryable(code: Option<&str>, status: Option<u16>) -> bool {
    code.is_some_and(|c| THROTTLING_CODES.contains(&c) || TRANSIENT_CODES.contains(&c))
        || status.is_some_and(|s| s == 429 || (500..600).contains(&s))
}

/// Whether `code` says the caller is throttled.
pub fn is_throttling(code: Option<&str>) -> bool {
    code.is_some_and(|c| THROTTLING_CODES.contains(&c))
}

pub(super) const BAD_CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
    "InvalidSignatureException",
];

pub(super) fn sdk_retryable<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_route53::config::http::HttpResponse>,
) -> bool {
    match e {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
        SdkError::ResponseError(r) => is_retryable(None, Some(r.raw().status().as_u16())),
        SdkError::ServiceError(s) => is_retryable(s.err().code(), Some(s.raw().status().as_u16())),
        _ => false,
    }
}

/// Turns an SDK error after `attempts` attempts into a [`Route53Error`].
pub(super) fn classify<E>(
    action: &'static str,
    creds: &str,
    attempts: u32,
    e: SdkError<E, aws_sdk_route53::config::http::HttpResponse>,
) -> Route53Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    match &e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("unknown").to_string();
            let message = s.err().message().unwrap_or_default().to_string();
            if is_throttling(Some(&code)) {
                Route53Error::Throttled {
                    action,
                    attempts,
                    code,
                }
            } else if BAD_CREDENTIAL_CODES.contains(&code.as_str())
                || (code == "unknown" && matches!(status, Some(401 | 403)))
            {
                let code = if code == "unknown" {
                    format!("HTTP {}", status.unwrap_or_default())
                } else {
                    code
                };
                Route53Error::BadCredentials {
                    action,
                    creds: creds.to_string(),
                    code,
                }
            } else if code == "AccessDenied" || code == "AccessDeniedException" {
                Route53Error::Denied {
                    action,
                    creds: creds.to_string(),
                    code,
                }
            } else {
                Route53Error::Api {
                    action,
                    transient: is_retryable(Some(&code), status),
                    code,
                    message,
                }
            }
        }
        SdkError::ResponseError(_) => Route53Error::Api {
            action,
            code: format!("HTTP {}", status.unwrap_or_default()),
            message: DisplayErrorContext(&e).to_string(),
            transient: is_retryable(None, status),
        },
        SdkError::TimeoutError(_) => Route53Error::Request {
            action,
            creds: creds.to_string(),
            reason: format!("timed out after {attempts} attempts"),
            transient: true,
        },
        SdkError::DispatchFailure(d) => Route53Error::Request {
            action,
            creds: creds.to_string(),
            transient: d.is_io() || d.is_timeout(),
            reason: DisplayErrorContext(&e).to_string(),
        },
        _ => Route53Error::Request {
            action,
            creds: creds.to_string(),
            reason: DisplayErrorContext(&e).to_string(),
            transient: false,
        },
    }
}
