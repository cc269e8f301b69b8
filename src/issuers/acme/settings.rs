//! The ACME flags of `certgate controller`, as the ACME controllers read them.

use std::net::SocketAddr;

/// The ACME flags of `certgate controller`.
#[derive(Clone, Debug)]
pub struct AcmeSettings {
    /// `--max-concurrent-challenges`.
    pub max_concurrent_challenges: usize,
    pub dns01: crate::dns01::Dns01Config,
    pub http01: crate::http01::Http01Config,
    /// Serve HTTP-01 answers from the controller process on this address.
    pub http01_solver_listen: Option<SocketAddr>,
    pub tls_alpn01: crate::tlsalpn01::TlsAlpn01Config,
    /// Answer TLS-ALPN-01 handshakes from the controller process on this address.
    pub tls_alpn01_solver_listen: Option<SocketAddr>,
    /// Limits on new orders per issuer.
    pub order_limits: crate::issuers::acme::budget::Limits,
    /// The shortest wait between two ACME renewal-information polls (60 s).
    pub ari_min_poll: std::time::Duration,
}

impl Default for AcmeSettings {
    fn default() -> Self {
        AcmeSettings {
            max_concurrent_challenges: 60,
            dns01: Default::default(),
            http01: Default::default(),
            http01_solver_listen: None,
            tls_alpn01: Default::default(),
            tls_alpn01_solver_listen: None,
            order_limits: Default::default(),
            ari_min_poll: std::time::Duration::from_secs(60),
        }
    }
}
