//! What the builder decides for one source: Certificates to create, update and
//! delete and the events to record on the source ([`Plan`]), and why part of a
//! source could not be used ([`IntentError`], the `BadConfig` message). Data only.

use std::collections::BTreeSet;

use crate::api::Certificate;
use crate::gocompat::go_quote;

// --- Event reasons (cert-manager's `reason*` constants in sync.go). ---
/// A Warning: the source's annotations or TLS configuration cannot be used.
pub const REASON_BAD_CONFIG: &str = "BadConfig";
/// A Warning: a per-listener annotation names no TLS listener of the source.
pub const REASON_SKIPPED_LISTENER_ANNOTATION: &str = "SkippedListenerAnnotation";
/// A Normal event: a Certificate was created.
pub const REASON_CREATE_CERTIFICATE: &str = "CreateCertificate";
/// A Normal event: a Certificate was updated.
pub const REASON_UPDATE_CERTIFICATE: &str = "UpdateCertificate";
/// A Normal event: a Certificate no longer asked for was deleted.
pub const REASON_DELETE_CERTIFICATE: &str = "DeleteCertificate";

/// The type of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// An event to record on the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceEvent {
    pub type_: EventType,
    pub reason: &'static str,
    pub message: String,
}

impl SourceEvent {
    pub(crate) fn normal(reason: &'static str, message: String) -> Self {
        SourceEvent {
            type_: EventType::Normal,
            reason,
            message,
        }
    }

    pub(crate) fn warning(reason: &'static str, message: String) -> Self {
        SourceEvent {
            type_: EventType::Warning,
            reason,
            message,
        }
    }

    pub(crate) fn bad_config(err: &IntentError) -> Self {
        Self::warning(REASON_BAD_CONFIG, err.to_string())
    }
}

/// A Certificate to delete. The namespace is the source's except for
/// Certificates of cross-namespace certificateRefs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertificateKey {
    pub namespace: String,
    pub name: String,
}

/// What to do for one source. Apply creates, then updates, then deletes, and
/// record `events` (they describe all three, assuming they succeed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// New Certificates.
    pub create: Vec<Certificate>,
    /// Existing Certificates (with their metadata: resourceVersion and so on)
    /// with the spec, labels, managed annotations and ownerReference replaced.
    pub update: Vec<Certificate>,
    /// Owned Certificates the source no longer asks for.
    pub delete: Vec<CertificateKey>,
    pub events: Vec<SourceEvent>,
}

/// Why (part of) a source cannot be turned into Certificates. The display is
/// the `BadConfig` event message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    /// The issuer annotations are contradictory or name no issuer.
    #[error("Could not determine issuer for ingress due to bad annotations: {}", .0.join(", "))]
    Issuer(Vec<String>),
    /// An annotation's value cannot be used; `reason` quotes the value.
    #[error("invalid ingress annotation {}: {reason}", go_quote(.key))]
    Annotation { key: String, reason: String },
    /// An Ingress TLS entry is incomplete (field errors, as cert-manager's).
    #[error("Skipped a TLS block: {}", aggregate(.0))]
    TlsBlock(Vec<String>),
    /// A Gateway listener's certificateRef cannot be used.
    #[error("Skipped a listener block: {}", aggregate(.0))]
    ListenerBlock(Vec<String>),
    /// Blocks sharing a Secret ask for different issuers.
    #[error(
        "Skipped Certificate {}: the TLS blocks sharing Secret {} ask for different issuers ({})",
        go_quote(.name), go_quote(.name), .issuers.join(", ")
    )]
    IssuerMismatch { name: String, issuers: Vec<String> },
    /// A Certificate of that name exists and the source does not own it.
    #[error("Skipped Certificate {}: {}", go_quote(.name), .reason)]
    NotOwned { name: String, reason: String },
}

/// Go's `utilerrors.NewAggregate(errs).Error()`.
pub(crate) fn aggregate(errs: &[String]) -> String {
    let mut seen = BTreeSet::new();
    let uniq: Vec<&String> = errs.iter().filter(|e| seen.insert(e.as_str())).collect();
    match uniq.as_slice() {
        [one] => (*one).clone(),
        many => format!(
            "[{}]",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
