//! Local emulators of DNS providers' HTTP APIs, each serving the records it holds
//! over DNS so that propagation checks and an ACME server (Pebble) see them.

pub mod clouddns;
pub mod cloudflare;
pub mod dns;

/// Why an emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("starting the emulator: {0}")]
    Start(String),
}
