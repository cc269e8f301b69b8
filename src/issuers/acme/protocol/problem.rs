//! RFC 7807 problem documents as ACME servers send them (RFC 8555 §6.7, with
//! subproblems, §6.7.1), and the error type of the whole protocol module.
//!
//! An error keeps what a caller decides on: the problem's type, detail and status,
//! the HTTP status, and the server's `Retry-After`. Nothing here ever holds key
//! material: requests are not kept, only what the server answered.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::resources::Identifier;

/// The namespace of ACME's error types (`urn:ietf:params:acme:error:badNonce`, …).
pub const ACME_ERROR_PREFIX: &str = "urn:ietf:params:acme:error:";

/// How much of a non-JSON error body is kept as the problem's detail.
const MAX_PLAIN_DETAIL: usize = 512;

/// An RFC 7807 problem document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The problem type, e.g. `urn:ietf:params:acme:error:rateLimited`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The HTTP status the server states in the document (it may differ from the
    /// response's, or be absent in a problem embedded in an order or challenge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The identifier the problem is about (ACME extension, in subproblems mostly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Subproblem>,
}

/// One problem of several (RFC 8555 §6.7.1), usually about one identifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subproblem {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
}

impl Problem {
    /// The problem an error response carries: its JSON problem document, or, when
    /// the body is no such document (a proxy's HTML page, say), the start of the
    /// body — or the status line when the body is empty — as the detail.
    pub fn from_response(status: u16, body: &[u8]) -> Problem {
        if let Ok(p) = serde_json::from_slice::<Problem>(body)
            && (p.kind.is_some() || p.detail.is_some())
        {
            return p;
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let detail = if text.is_empty() {
            http::StatusCode::from_u16(status)
                .map(|s| s.to_string())
                .unwrap_or_else(|_| status.to_string())
        } else {
            truncate(text, MAX_PLAIN_DETAIL)
        };
        Problem {
            detail: Some(detail),
            status: Some(status),
            ..Problem::default()
        }
    }

    /// Whether the problem is of ACME error type `name` (`"badNonce"`,
    /// `"rateLimited"`, …). Compared case-insensitively on the part after the last
    /// colon, as cert-manager's client does for servers that spell them their way.
    pub fn is(&self, name: &str) -> bool {
        self.kind.as_deref().is_some_and(|k| {
            let short = k.rsplit(':').next().unwrap_or(k);
            short.eq_ignore_ascii_case(name)
        })
    }

    /// The type, or `""`.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("")
    }

    /// The detail, or `""`.
    pub fn detail(&self) -> &str {
        self.detail.as_deref().unwrap_or("")
    }
}

/// As cert-manager's forked `acme.Error` prints: `400 urn:…:malformed: detail`,
/// subproblems on their own lines (`type: [dns: name] detail`).
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.status {
            write!(f, "{status} ")?;
        }
        write!(f, "{}: {}", self.kind(), self.detail())?;
        if !self.subproblems.is_empty() {
            f.write_str("; subproblems:")?;
            for sp in &self.subproblems {
                write!(f, "\n\t{sp}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Subproblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind.as_deref().unwrap_or(""))?;
        if let Some(id) = &self.identifier {
            write!(f, "[{}: {}] ", id.kind, id.value)?;
        }
        f.write_str(self.detail.as_deref().unwrap_or(""))
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What went wrong talking to an ACME server. Never carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status (and, usually, a problem document).
    #[error("{problem}")]
    Server {
        /// The request's URL.
        url: String,
        /// The response's HTTP status.
        status: u16,
        problem: Box<Problem>,
        /// How long the server asks to be left alone (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
    /// No response: connection, TLS or protocol failure.
    #[error("cannot reach the ACME server at {url}: {reason}")]
    Transport { url: String, reason: String },
    /// No (complete) response in time.
    #[error("the ACME server at {url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// The response body was larger than the transport accepts.
    #[error("the response from {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    /// A response that is not what RFC 8555 says it must be.
    #[error("unexpected response from {url} (HTTP {status}): {reason}")]
    InvalidResponse {
        url: String,
        status: u16,
        reason: String,
    },
    /// The server's directory lacks what the operation needs.
    #[error("the ACME server does not support {0}")]
    Unsupported(&'static str),
    /// The TLS settings (`caBundle`) cannot be used.
    #[error(transparent)]
    Client(#[from] crate::issuers::acme::client::ClientError),
    /// The account key cannot be used.
    #[error(transparent)]
    Key(#[from] super::keys::AccountKeyError),
    /// A request could not be signed.
    #[error(transparent)]
    Jws(#[from] super::jws::JwsError),
    /// A value the caller passed cannot be used (e.g. a certificate without an
    /// authority key identifier for ARI).
    #[error("{0}")]
    InvalidInput(String),
}

impl Error {
    /// The server's problem document, if the server answered with an error.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Server { problem, .. } => Some(problem.as_ref()),
            _ => None,
        }
    }

    /// The HTTP status of the error response, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Server { status, .. } | Error::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `Retry-After`, if it sent one with the error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the server's problem is of ACME error type `name` (see [`Problem::is`]).
    pub fn is_problem(&self, name: &str) -> bool {
        self.problem().is_some_and(|p| p.is(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_documents_parse_with_subproblems() {
        // RFC 8555 §6.7.1's example, with a status.
        let body = br#"{
            "type": "urn:ietf:params:acme:error:malformed",
            "detail": "Some of the identifiers requested were rejected",
            "status": 400,
            "subproblems": [
                {"type": "urn:ietf:params:acme:error:malformed",
                 "detail": "Invalid underscore in DNS name \"_example.org\"",
                 "identifier": {"type": "dns", "value": "_example.org"}},
                {"type": "urn:ietf:params:acme:error:rejectedIdentifier",
                 "detail": "This CA will not issue for \"example.net\"",
                 "identifier": {"type": "dns", "value": "example.net"}}
            ]
        }"#;
        let p = Problem::from_response(400, body);
        assert_eq!(p.kind(), "urn:ietf:params:acme:error:malformed");
        assert_eq!(p.status, Some(400));
        assert_eq!(p.subproblems.len(), 2);
        assert_eq!(
            p.subproblems[1].identifier,
            Some(Identifier::dns("example.net"))
        );
        assert!(p.is("malformed"));
        assert!(p.is("MALFORMED"), "types compare case-insensitively");
        assert!(
            !p.is("rejectedIdentifier"),
            "only the top-level type counts"
        );
        assert_eq!(
            p.to_string(),
            "400 urn:ietf:params:acme:error:malformed: Some of the identifiers requested were rejected; subproblems:\n\
             \turn:ietf:params:acme:error:malformed: [dns: _example.org] Invalid underscore in DNS name \"_example.org\"\n\
             \turn:ietf:params:acme:error:rejectedIdentifier: [dns: example.net] This CA will not issue for \"example.net\""
        );
    }

    #[test]
    fn bodies_that_are_no_problem_document_become_the_detail() {
        let p = Problem::from_response(502, b"<html>Bad Gateway</html>");
        assert_eq!(p.kind, None);
        assert_eq!(p.detail(), "<html>Bad Gateway</html>");
        assert_eq!(p.status, Some(502));
        assert!(!p.is("badNonce"));

        let p = Problem::from_response(503, b"");
        assert_eq!(p.detail(), "503 Service Unavailable");

        // JSON that is not a problem document is kept as text too.
        let p = Problem::from_response(500, br#"{"hello": "world"}"#);
        assert_eq!(p.detail(), r#"{"hello": "world"}"#);

        let long = "x".repeat(2000);
        let p = Problem::from_response(500, long.as_bytes());
        assert!(p.detail().len() < 600, "{}", p.detail().len());
    }

    #[test]
    fn server_specific_spellings_of_a_type_are_recognised() {
        let p = Problem {
            kind: Some("urn:acme:error:badNonce".into()),
            ..Problem::default()
        };
        assert!(p.is("badNonce"));
        let p = Problem {
            kind: Some("urn:ietf:params:acme:error:badNonceX".into()),
            ..Problem::default()
        };
        assert!(!p.is("badNonce"));
    }

    #[test]
    fn errors_expose_what_callers_decide_on() {
        let e = Error::Server {
            url: "https://ca.test/acme/new-order".into(),
            status: 429,
            problem: Box::new(Problem::from_response(
                429,
                br#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many","status":429}"#,
            )),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert!(e.is_problem("rateLimited"));
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(
            e.to_string(),
            "429 urn:ietf:params:acme:error:rateLimited: too many"
        );
        let t = Error::Timeout {
            url: "https://ca.test/dir".into(),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(t.problem(), None);
        assert_eq!(t.retry_after(), None);
        assert!(!t.is_problem("rateLimited"));
    }
}
