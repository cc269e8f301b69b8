//! The solvers of ACME challenges behind one interface: [`Solver`] puts in place
//! what the CA will look for (`present`), says whether it is visible where the CA
//! will look (`check`) and removes it (`clean_up`). HTTP-01 (in-process answer +
//! solver route), DNS-01 (a TXT value through the solver's DNS provider) and
//! TLS-ALPN-01 (in-process certificate + TLSRoute) implement it here, thinly: the
//! work is done in `crate::http01`, `crate::dns01` and `crate::tlsalpn01`.
//!
//! Failures are typed ([`SolverError`]): a misconfigured solver is retried slowly
//! (it takes a change by a person to succeed), an unavailable service sooner, and
//! a record not yet visible at the poll period of its kind. The Challenge
//! controller reads the kind; the message is what users see, unchanged.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::api::Challenge;
use crate::api::acme_dns01::{AcmeChallengeSolverDns01, CnameStrategy};
use crate::api::challenge::AcmeChallengeType;
use crate::issuers::Context;

/// Why a solver could not present, check or clean up. Displays as its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolverError {
    /// The solver's configuration, its credentials or a referenced object is
    /// wrong or missing: retrying helps only once someone fixes it.
    #[error("{0}")]
    Misconfigured(String),
    /// A service the solver needs (the API server, a DNS provider's API, a
    /// resolver) failed for now: retry.
    #[error("{0}")]
    Unavailable(String),
    /// Presented, but not (yet) visible where the CA will look.
    #[error("{0}")]
    NotVisible(String),
}

/// How long after a failed present or clean-up a Misconfigured solver is tried
/// again (an Unavailable one: [`RETRY_UNAVAILABLE`]).
pub const RETRY_MISCONFIGURED: Duration = Duration::from_secs(30);
/// How long after a failed present or clean-up an Unavailable service is tried again.
pub const RETRY_UNAVAILABLE: Duration = Duration::from_secs(10);

impl SolverError {
    /// Whether retrying without any change may succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(self, SolverError::Misconfigured(_))
    }

    /// The wait before the next attempt of a failed present or clean-up.
    pub fn retry_after(&self) -> Duration {
        if self.is_transient() {
            RETRY_UNAVAILABLE
        } else {
            RETRY_MISCONFIGURED
        }
    }

    fn unavailable(e: impl std::fmt::Display) -> Self {
        SolverError::Unavailable(e.to_string())
    }

    fn misconfigured(e: impl std::fmt::Display) -> Self {
        SolverError::Misconfigured(e.to_string())
    }
}

impl From<crate::dns01::ProviderError> for SolverError {
    fn from(e: crate::dns01::ProviderError) -> Self {
        if e.is_transient() {
            SolverError::unavailable(e)
        } else {
            SolverError::misconfigured(e)
        }
    }
}

/// A Kubernetes API failure: refused for what was asked (403, 404, 422: the
/// solver's configuration or RBAC) or failed for now (anything else).
fn from_kube(e: &kube::Error) -> SolverError {
    match e {
        kube::Error::Api(s) if matches!(s.code, 400 | 403 | 404 | 422) => {
            SolverError::misconfigured(e)
        }
        _ => SolverError::unavailable(e),
    }
}

fn from_routes(e: crate::http01::routes::RoutesError) -> SolverError {
    match &e {
        crate::http01::routes::RoutesError::Kube(k) => match from_kube(k) {
            SolverError::Misconfigured(_) => SolverError::misconfigured(&e),
            _ => SolverError::unavailable(&e),
        },
        crate::http01::routes::RoutesError::IngressMissing(_) => SolverError::misconfigured(&e),
    }
}

/// One challenge's solver.
pub trait Solver: Send + Sync {
    /// Puts in place what the CA will look for. Idempotent.
    fn present<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>>;
    /// Whether it is visible where the CA will look; `NotVisible` says what is missing.
    fn check<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>>;
    /// Removes what `present` put in place. Idempotent.
    fn clean_up<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>>;
    /// Whether what was presented is gone without a clean-up (an in-process
    /// answer forgotten by a restart), so it must be presented again.
    fn lost(&self, _ch: &Challenge) -> bool {
        false
    }
    /// How often `check` is repeated while it says `NotVisible`.
    fn check_period(&self) -> Duration {
        Duration::from_secs(2)
    }
}

/// The solver of `ch`; `secret_ns` is where its issuer's Secrets live.
pub fn for_challenge<'a>(
    ctx: &'a Context,
    ch: &Challenge,
    secret_ns: &str,
) -> Box<dyn Solver + 'a> {
    match ch.spec.type_ {
        AcmeChallengeType::Http01 => Box::new(Http01 { ctx }),
        AcmeChallengeType::Dns01 => Box::new(Dns01 {
            ctx,
            secret_ns: secret_ns.to_string(),
        }),
        AcmeChallengeType::TlsAlpn01 => Box::new(TlsAlpn01 { ctx }),
    }
}

/// HTTP-01: the in-process answer and the solver's Ingress or HTTPRoute.
struct Http01<'a> {
    ctx: &'a Context,
}

impl Solver for Http01<'_> {
    fn present<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>> {
        Box::pin(async move {
            self.ctx
                .solver_tokens
                .insert(&ch.spec.token, &ch.spec.dns_name, &ch.spec.key);
            crate::http01::routes::ensure(&self.ctx.client, ch, &self.ctx.acme.http01)
                .await
                .map_err(from_routes)
        })
    }

    fn check<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>> {
        Box::pin(async move {
            crate::http01::self_check::check(
                &ch.spec.dns_name,
                &ch.spec.token,
                &ch.spec.key,
                &self.ctx.acme.http01,
            )
            .await
            .map_err(|e| SolverError::NotVisible(e.to_string()))
        })
    }

    fn clean_up<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>> {
        Box::pin(async move {
            self.ctx.solver_tokens.remove(&ch.spec.token);
            crate::http01::routes::remove(&self.ctx.client, ch)
                .await
                .map_err(from_routes)
        })
    }

    fn lost(&self, ch: &Challenge) -> bool {
        !self.ctx.solver_tokens.contains(&ch.spec.token)
    }
}

/// DNS-01: a TXT value through the solver's provider.
struct Dns01<'a> {
    ctx: &'a Context,
    secret_ns: String,
}

impl Dns01<'_> {
    /// The provider of the Challenge's solver, with its credentials; ambient
    /// credentials only where the flags allow them.
    async fn provider(
        &self,
        ch: &Challenge,
        dns01: &AcmeChallengeSolverDns01,
    ) -> Result<Box<dyn crate::dns01::Provider>, SolverError> {
        let ctx = self.ctx;
        let cluster = ch.spec.issuer_ref.kind_or_default() == "ClusterIssuer";
        let config = &ctx.acme_settings.dns01;
        if let Some(why) = crate::dns01::factory::ambient_refusal(dns01, cluster, config) {
            return Err(SolverError::Misconfigured(why));
        }
        let info = crate::dns01::webhook::ChallengeInfo {
            uid: ch.metadata.uid.clone().unwrap_or_default(),
            dns_name: ch.spec.dns_name.clone(),
            allow_ambient_credentials: if cluster {
                config.cluster_issuer_ambient_credentials
            } else {
                config.issuer_ambient_credentials
            },
        };
        crate::dns01::factory::provider_for_challenge(
            &ctx.client,
            dns01,
            &self.secret_ns,
            &config.api_endpoints,
            &info,
        )
        .await
        .map_err(SolverError::from)
    }

    /// Where the TXT value goes: (zone, fqdn).
    async fn target(
        &self,
        ch: &Challenge,
        dns01: &AcmeChallengeSolverDns01,
    ) -> Result<(String, String), SolverError> {
        let checker = self
            .ctx
            .acme
            .dns01
            .as_ref()
            .map_err(|e| SolverError::Unavailable(e.clone()))?;
        let resolver = checker.resolver();
        let mut fqdn = crate::dns01::challenge_record_name(&ch.spec.dns_name);
        if dns01.cname_strategy == Some(CnameStrategy::Follow) {
            fqdn = resolver
                .follow_cname(&fqdn)
                .await
                .map_err(SolverError::unavailable)?;
        }
        let zone = resolver
            .find_zone(&fqdn)
            .await
            .map_err(SolverError::unavailable)?;
        Ok((zone, fqdn))
    }
}

impl Solver for Dns01<'_> {
    fn present<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>> {
        Box::pin(async move {
            let dns01 = ch.spec.solver.dns01.clone().unwrap_or_default();
            let provider = self.provider(ch, &dns01).await?;
            let (zone, fqdn) = self.target(ch, &dns01).await?;
            Ok(provider.present(&zone, &fqdn, &ch.spec.key).await?)
        })
    }

    fn check<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>> {
        Box::pin(async move {
            // The checker follows CNAMEs from the challenge's own record name (and
            // caches where they lead), so this is the record the CA will read,
            // wherever the solver wrote it.
            let fqdn = crate::dns01::challenge_record_name(&ch.spec.dns_name);
            let checker = self
                .ctx
                .acme
                .dns01
                .as_ref()
                .map_err(|e| SolverError::Unavailable(e.clone()))?;
            let p = checker
                .check(&fqdn, &ch.spec.key)
                .await
                .map_err(|e| SolverError::NotVisible(e.to_string()))?;
            if p.is_visible() {
                Ok(())
            } else {
                Err(SolverError::NotVisible(p.message()))
            }
        })
    }

    fn clean_up<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>> {
        Box::pin(async move {
            let dns01 = ch.spec.solver.dns01.clone().unwrap_or_default();
            let provider = self.provider(ch, &dns01).await?;
            let (zone, fqdn) = self.target(ch, &dns01).await?;
            Ok(provider.cleanup(&zone, &fqdn, &ch.spec.key).await?)
        })
    }

    fn check_period(&self) -> Duration {
        self.ctx.acme.dns01_config.poll_period
    }
}

/// TLS-ALPN-01: the in-process `acme-tls/1` certificate and a TLSRoute.
struct TlsAlpn01<'a> {
    ctx: &'a Context,
}

impl Solver for TlsAlpn01<'_> {
    fn present<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>> {
        Box::pin(async move {
            self.ctx
                .tls_alpn_solver
                .present(&ch.spec.dns_name, &ch.spec.key)
                .map_err(SolverError::misconfigured)?;
            crate::tlsalpn01::routes::ensure(
                &self.ctx.client,
                ch,
                &self.ctx.acme_settings.tls_alpn01,
            )
            .await
            .map_err(|e| from_routes_like(&e))
        })
    }

    fn check<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>> {
        Box::pin(async move {
            crate::tlsalpn01::self_check::check(
                &ch.spec.dns_name,
                &ch.spec.key,
                &self.ctx.acme_settings.tls_alpn01,
            )
            .await
            .map_err(|e| SolverError::NotVisible(e.to_string()))
        })
    }

    fn clean_up<'a>(&'a self, ch: &'a Challenge) -> BoxFuture<'a, Result<(), SolverError>> {
        Box::pin(async move {
            self.ctx.tls_alpn_solver.clean_up(&ch.spec.dns_name);
            crate::tlsalpn01::routes::remove(&self.ctx.client, ch)
                .await
                .map_err(|e| from_routes_like(&e))
        })
    }

    fn lost(&self, ch: &Challenge) -> bool {
        !self.ctx.tls_alpn_solver.is_presented(&ch.spec.dns_name)
    }
}

/// An error of the TLS-ALPN-01 routes: a Kubernetes failure down its chain is
/// classed as [`from_kube`] does; anything else is the solver's configuration.
fn from_routes_like(e: &(dyn std::error::Error + 'static)) -> SolverError {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(k) = err.downcast_ref::<kube::Error>() {
            return match from_kube(k) {
                SolverError::Misconfigured(_) => SolverError::misconfigured(e),
                _ => SolverError::unavailable(e),
            };
        }
        next = err.source();
    }
    SolverError::misconfigured(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: format!("code {code}"),
            ..Default::default()
        }))
    }

    #[test]
    fn only_a_misconfigured_solver_waits_longer() {
        let m = SolverError::Misconfigured("no Secret".into());
        let u = SolverError::Unavailable("timeout".into());
        let n = SolverError::NotVisible("no TXT".into());
        assert!(!m.is_transient() && u.is_transient() && n.is_transient());
        assert_eq!(m.retry_after(), RETRY_MISCONFIGURED);
        assert_eq!(u.retry_after(), RETRY_UNAVAILABLE);
        assert!(RETRY_MISCONFIGURED > RETRY_UNAVAILABLE);
        // The message is what users see, whatever the kind.
        assert_eq!(m.to_string(), "no Secret");
    }

    #[test]
    fn provider_errors_keep_their_kind() {
        let p = crate::dns01::ProviderError::Misconfigured("bad token".into());
        assert!(matches!(SolverError::from(p), SolverError::Misconfigured(m) if m == "bad token"));
        let p = crate::dns01::ProviderError::Unavailable("429".into());
        assert!(matches!(SolverError::from(p), SolverError::Unavailable(_)));
    }

    #[test]
    fn api_refusals_are_configuration_and_the_rest_is_for_now() {
        for code in [400, 403, 404, 422] {
            assert!(!from_kube(&api(code)).is_transient(), "{code}");
        }
        for code in [409, 429, 500, 503] {
            assert!(from_kube(&api(code)).is_transient(), "{code}");
        }
        let missing = crate::http01::routes::RoutesError::IngressMissing("web".into());
        assert!(!from_routes(missing).is_transient());
        let forbidden = crate::http01::routes::RoutesError::Kube(api(403));
        assert!(!from_routes(forbidden).is_transient());
        let down = crate::http01::routes::RoutesError::Kube(api(503));
        assert!(from_routes(down).is_transient());
    }
}
