//! Issuers: building and signing certificates from CSRs.

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
