//! Certificate issuance policy: the checks deciding when a Certificate is
//! (re-)issued, when it is Ready, and the renewal and back-off arithmetic.

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
