//! HTTP-01: one long-running solver server answering for every Challenge, the
//! temporary routing (Service + EndpointSlice, and an Ingress or HTTPRoute) that
//! sends the CA's request to it, and the self-check made through that routing.

pub mod routes;
pub mod self_check;
pub mod server;

use std::net::SocketAddr;

/// How HTTP-01 challenges are served and checked.
#[derive(Debug, Clone)]
pub struct Http01Config {
    /// The port the self-check connects to (80 in clusters; tests use the solver's).
    pub self_check_port: u16,
    /// Nameservers the self-check resolves names with; the system's when empty.
    pub self_check_nameservers: Vec<SocketAddr>,
    /// The long-running solver's Service (`namespace`, `name`), whose endpoints the
    /// per-challenge Services point at.
    pub solver_service: Option<(String, String)>,
    /// The solver's port.
    pub solver_port: u16,
}

impl Default for Http01Config {
    fn default() -> Self {
        Http01Config {
            self_check_port: 80,
            self_check_nameservers: Vec::new(),
            solver_service: None,
            solver_port: 8089,
        }
    }
}

/// The path the CA fetches.
pub fn challenge_path(token: &str) -> String {
    format!("/.well-known/acme-challenge/{token}")
}
