//! TLS-ALPN-01 (RFC 8737): the ACME server proves control of a DNS name by
//! opening a TLS connection to port 443 of that name, sending the name as SNI and
//! offering only the `acme-tls/1` ALPN protocol. The answering server must
//! negotiate `acme-tls/1` and present a self-signed certificate whose only
//! subjectAltName is that name and which carries the critical
//! `id-pe-acmeIdentifier` extension holding SHA-256 of the challenge's key
//! authorization. No application data is exchanged: the handshake is the proof.
//!
//! certgate serves every pending TLS-ALPN-01 challenge from one long-running
//! TLS listener ([`server::TlsAlpnSolver`]) that picks the challenge certificate
//! by SNI (no pod per challenge). The CA's connection reaches it through a
//! temporary TLSRoute attached to a Passthrough listener of a Gateway, so the TLS
//! handshake arrives at the solver untouched.
//!
//! [`cert`] builds the challenge certificate; [`server`] holds the presented
//! challenges and answers the handshakes.

pub mod cert;
pub mod routes;
pub mod self_check;
pub mod server;
pub mod solvers;

/// The ALPN protocol name a TLS-ALPN-01 validation negotiates (RFC 8737 §6.2).
pub const ACME_TLS_ALPN_PROTOCOL: &[u8] = b"acme-tls/1";

/// What can go wrong presenting or serving a TLS-ALPN-01 challenge.
#[derive(Debug, thiserror::Error)]
pub enum TlsAlpnError {
    /// The identifier is a wildcard, which TLS-ALPN-01 cannot validate
    /// (RFC 8737 §3: wildcard identifiers are not allowed for this challenge).
    #[error("TLS-ALPN-01 cannot validate the wildcard name \"{0}\"")]
    WildcardName(String),
    /// The identifier is not a syntactically valid DNS name (IP addresses included).
    #[error("\"{0}\" is not a DNS name TLS-ALPN-01 can validate")]
    InvalidName(String),
    /// The challenge certificate or its key could not be generated.
    #[error("cannot generate the TLS-ALPN-01 challenge certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The generated key could not be loaded for TLS.
    #[error("cannot load the TLS-ALPN-01 challenge key: {0}")]
    Key(#[source] rustls::Error),
    /// The TLS server configuration could not be built.
    #[error("cannot set up the TLS-ALPN-01 TLS server: {0}")]
    TlsConfig(#[source] rustls::Error),
    /// Binding or accepting on the solver's socket failed.
    #[error("TLS-ALPN-01 solver socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// How TLS-ALPN-01 challenges are served and checked.
#[derive(Debug, Clone)]
pub struct TlsAlpn01Config {
    /// The port the self-check connects to (443 in clusters; tests use the solver's).
    pub self_check_port: u16,
    /// Nameservers the self-check resolves names with; the system's when empty.
    pub self_check_nameservers: Vec<std::net::SocketAddr>,
    /// The long-running solver's Service (`namespace`, `name`), whose endpoints the
    /// per-challenge Services point at.
    pub solver_service: Option<(String, String)>,
    /// The solver's port.
    pub solver_port: u16,
}

impl Default for TlsAlpn01Config {
    fn default() -> Self {
        TlsAlpn01Config {
            self_check_port: 443,
            self_check_nameservers: Vec::new(),
            solver_service: None,
            solver_port: 8443,
        }
    }
}
