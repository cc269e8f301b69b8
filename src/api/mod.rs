//! The cert-manager API as certgate serves it: `cert-manager.io/v1` and
//! `acme.cert-manager.io/v1`, with the same JSON field names and shapes.

pub mod acme;
pub mod acme_dns01;
pub mod annotations;
pub mod certificate;
pub mod certificate_request;
pub mod challenge;
pub mod conditions;
pub mod crd;
pub mod issuer;
pub mod meta;
pub mod order;
pub mod schema;
mod validation_rules;

pub use acme::{AcmeChallengeSolver, AcmeIssuer};
pub use certificate::{Certificate, CertificateSpec, CertificateStatus};
pub use certificate_request::{
    CertificateRequest, CertificateRequestSpec, CertificateRequestStatus,
};
pub use challenge::{Challenge, ChallengeSpec, ChallengeStatus};
pub use issuer::{ClusterIssuer, Issuer, IssuerConfig, IssuerStatus};
pub use meta::{Condition, ConditionStatus, IssuerReference};
pub use order::{Order, OrderSpec, OrderStatus};

/// The API group of certificates and issuers.
pub const GROUP: &str = "cert-manager.io";
/// The API group of ACME orders and challenges.
pub const ACME_GROUP: &str = "acme.cert-manager.io";
