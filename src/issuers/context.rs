//! What the issuer loops (Issuers and ClusterIssuers, CertificateRequests, ACME
//! Orders, Challenges and renewal information) read besides the shared runtime:
//! the ACME and Vault settings, the ACME accounts, order budget and challenge
//! slots, the in-process solvers' answers and the Vault tokens. Built once by the
//! wiring; derefs to [`crate::runtime::Context`] for the client, recorder,
//! metrics and clock.

use std::sync::Arc;

use crate::issuers::acme::AcmeRuntime;
use crate::issuers::acme::settings::AcmeSettings;

/// The issuer controllers' settings (from `certgate controller`'s flags).
#[derive(Clone, Default)]
pub struct IssuerSettings {
    pub acme: AcmeSettings,
    /// Vault issuers: what comes from the controller, not the issuer.
    pub vault: crate::issuers::vault::VaultConfig,
    /// Run the built-in approver (cert-manager's `certificaterequests-approver`).
    pub approve_requests: bool,
    /// Serve only the ClusterIssuers matching this label selector.
    pub cluster_issuer_selector: Option<String>,
}

pub struct Context {
    runtime: Arc<crate::runtime::Context>,
    pub acme_settings: AcmeSettings,
    pub vault: crate::issuers::vault::VaultConfig,
    pub approve_requests: bool,
    pub cluster_issuer_selector: Option<String>,
    /// Accounts, order limits and challenge slots of the ACME controllers.
    pub acme: AcmeRuntime,
    /// The answers of the in-process HTTP-01 solver.
    pub solver_tokens: crate::http01::server::SolverTokens,
    /// The certificates of the in-process TLS-ALPN-01 solver.
    pub tls_alpn_solver: crate::tlsalpn01::server::TlsAlpnSolver,
    /// Vault tokens by issuer (renewed, re-logged in on 403).
    pub vault_tokens: Arc<crate::issuers::vault::auth::TokenCache>,
    /// The CertificateRequests whose status the request controller wrote last,
    /// until the request cache holds them (read instead of the API).
    pub recent_requests:
        crate::runtime::recent_writes::RecentWrites<crate::api::CertificateRequest>,
    /// The process's request cache, once the request controller runs.
    pub request_cache:
        std::sync::OnceLock<kube::runtime::reflector::Store<crate::api::CertificateRequest>>,
}

impl Context {
    pub fn new(runtime: Arc<crate::runtime::Context>, settings: IssuerSettings) -> Arc<Context> {
        let a = &settings.acme;
        let mut acme = AcmeRuntime::new(
            a.max_concurrent_challenges,
            a.dns01.clone(),
            a.http01.clone(),
            a.order_limits,
        );
        acme.ari_min_poll = a.ari_min_poll;
        Arc::new(Context {
            runtime,
            acme_settings: settings.acme,
            vault: settings.vault,
            approve_requests: settings.approve_requests,
            cluster_issuer_selector: settings.cluster_issuer_selector,
            acme,
            solver_tokens: Default::default(),
            tls_alpn_solver: Default::default(),
            vault_tokens: Default::default(),
            recent_requests: crate::runtime::recent_writes::RecentWrites::new(
                crate::runtime::recent_writes::KEEP_AT_MOST,
            ),
            request_cache: Default::default(),
        })
    }
}

impl std::ops::Deref for Context {
    type Target = crate::runtime::Context;
    fn deref(&self) -> &crate::runtime::Context {
        &self.runtime
    }
}
