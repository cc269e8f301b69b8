//! certgate's DNS-01 provider conformance suite ([`suite`]), the configuration of
//! the `certgate-conformance` command ([`config`]), and local emulators of the
//! Cloudflare, Google Cloud DNS, DigitalOcean, acme-dns, Azure DNS and Akamai Edge DNS
//! APIs ([`emulators`]).

pub mod config;
pub use certgate_emulators as emulators;
pub mod suite;

pub use suite::{CaseResult, RecordModel, Report, Suite};
