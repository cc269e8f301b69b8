//! Local emulators of DNS providers' HTTP APIs (Cloudflare, Google Cloud DNS,
//! DigitalOcean, acme-dns, Azure DNS, Akamai Edge DNS) and of a cert-manager DNS-01 webhook solver (an extension
//! API server behind the aggregation layer), each serving the records it holds over
//! DNS so that propagation checks and an ACME server (Pebble, or the demo's in-process CA) see
//! them. Used by the conformance suite, the tests and `certgate demo`; they depend on
//! nothing of certgate's.

pub mod acmedns;
pub mod akamai;
pub mod azure;
pub mod clouddns;
pub mod cloudflare;
pub mod digitalocean;
pub mod dns;
pub mod webhook_solver;

/// Why an emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("starting the emulator: {0}")]
    Start(String),
}

/// A TXT record's content as a plain value: Cloudflare may hold and return it as
/// quoted character strings (`"abc" "def"`), which join to `abcdef`.
pub fn txt_content_value(content: &str) -> String {
    let t = content.trim();
    if !(t.len() >= 2 && t.starts_with('"') && t.ends_with('"')) {
        return t.to_string();
    }
    let mut out = String::new();
    let mut in_quotes = false;
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\\' if in_quotes => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            c if in_quotes => out.push(c),
            _ => {}
        }
    }
    out
}
