//! Issuers: the Issuer/ClusterIssuer controller (Ready conditions), the
//! CertificateRequest controller (approval, then signing by SelfSigned, CA, Vault
//! or ACME) and the ACME Orders and Challenges, with their own context. Must not
//! import the Certificate loops (`crate::certificates`) or the wiring; keys and
//! requests come from `crate::pki`.

pub mod acme;
pub mod ca;
pub mod context;
pub use context::Context;
pub mod issuer_controller;
pub mod readiness;
pub mod request_controller;
pub mod selfsigned;
pub mod signer;
pub mod vault;
