//! certgate's DNS-01 provider conformance suite ([`suite`]), the configuration of
//! the `certgate-conformance` command ([`config`]), and local emulators of the
//! Cloudflare and Google Cloud DNS APIs ([`emulators`]).

pub mod config;
pub use certgate_emulators as emulators;
pub mod suite;

pub use suite::{CaseResult, Report, Suite};
