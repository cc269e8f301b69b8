//! The Certificate lifecycle as small loops: trigger (does it need issuing?), key
//! manager (the next private key), request manager (the CertificateRequest),
//! issuing (the Secret), readiness (the Ready condition), with the issuance policy
//! checks and the renewal and back-off arithmetic they share, its own context and
//! the controller that runs them over snapshots. Decisions are pure functions of a
//! [`snapshot::Snapshot`]. Must not sign (the issuers do) nor decode keys itself
//! (`crate::pki` does); must not import the wiring (`crate::controller`).

pub mod actions;
pub mod context;
pub use context::Context;
pub mod controller;
pub mod issuing;
pub mod jks;
pub mod key_manager;

pub mod keystores;
pub mod policy;
pub mod readiness;
pub mod renewal;
pub mod renewal_windows;
pub mod request_manager;
pub mod secret_data;
pub mod snapshot;
pub mod temporary;
#[cfg(test)]
pub mod testing;
pub mod trigger;
pub mod wake_ups;
