//! The ACME issuer: accounts, CertificateRequest → Order, the Order and Challenge
//! controllers, and the limits that keep a failing issuer from flooding its CA.

pub mod account;
pub mod ari;
pub mod budget;
pub mod challenge_state;
pub mod challenges;
pub mod client;
pub mod ledger;
pub mod naming;
pub mod order_ledger;
pub mod orders;
pub mod protocol;
pub mod rate_limits;
pub mod requests;
pub mod settings;
pub mod solver;
pub mod solver_overrides;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;

use crate::api::{AcmeIssuer, ClusterIssuer, Issuer, IssuerConfig, IssuerReference, Order};
use crate::issuers::Context;

/// The finalizer on every Challenge: what was presented is removed before it goes.
/// cert-manager's name since v1.18 (`UseDomainQualifiedFinalizer`, GA).
pub const CHALLENGE_FINALIZER: &str = "acme.cert-manager.io/finalizer";
/// The name older cert-manager releases put on Challenges; still honoured, so a
/// Challenge they created is cleaned up and let go, not left Terminating.
pub const LEGACY_CHALLENGE_FINALIZER: &str = "finalizer.acme.cert-manager.io";

/// Whether `finalizer` is a Challenge finalizer, by either name.
pub fn is_challenge_finalizer(finalizer: &str) -> bool {
    finalizer == CHALLENGE_FINALIZER || finalizer == LEGACY_CHALLENGE_FINALIZER
}

/// What the ACME controllers share in one process.
pub struct AcmeRuntime {
    pub accounts: account::AccountRegistry,
    budget: Mutex<budget::OrderBudget>,
    /// Certificates issued and validations failed per ACME server, persisted
    /// (Let's Encrypt's limits: see `rate_limits`).
    pub ledger: ledger::LedgerStore,
    /// Challenges being worked on (`ns/name`), at most `max_concurrent_challenges`.
    in_flight: Mutex<HashSet<String>>,
    /// ACME orders the CA created whose URL is not yet in their Order's status (the
    /// status write failed: a conflict, a throttled or restarted API server), by
    /// Order UID: the next attempt records this order instead of placing another.
    placed: Mutex<HashMap<String, String>>,
    pub max_concurrent_challenges: usize,
    /// The shortest wait between two ARI polls of one certificate.
    pub ari_min_poll: Duration,
    /// The DNS-01 checker, or why none could be set up (e.g. no resolv.conf).
    pub dns01: Result<crate::dns01::propagation::Checker, String>,
    pub dns01_config: crate::dns01::Dns01Config,
    pub http01: crate::http01::Http01Config,
}

impl AcmeRuntime {
    pub fn new(
        max_concurrent_challenges: usize,
        dns01_config: crate::dns01::Dns01Config,
        http01: crate::http01::Http01Config,
        limits: budget::Limits,
    ) -> AcmeRuntime {
        AcmeRuntime {
            accounts: Default::default(),
            budget: Mutex::new(budget::OrderBudget::new(limits)),
            ledger: Default::default(),
            in_flight: Default::default(),
            placed: Default::default(),
            max_concurrent_challenges,
            ari_min_poll: Duration::from_secs(60),
            dns01: crate::dns01::propagation::Checker::new(dns01_config.clone())
                .map_err(|e| format!("cannot set up DNS lookups: {e}")),
            dns01_config,
            http01,
        }
    }

    fn order_names(order: &Order) -> String {
        budget::names_key(&Self::order_identifiers(order))
    }

    /// The DNS names and IP addresses an Order asks for.
    pub fn order_identifiers(order: &Order) -> Vec<String> {
        let mut names: Vec<String> = order.spec.dns_names.clone().unwrap_or_default();
        names.extend(order.spec.ip_addresses.clone().unwrap_or_default());
        names
    }

    pub fn budget_admit(
        &self,
        order: &Order,
        account: &str,
        now: jiff::Timestamp,
    ) -> Result<(), budget::OverBudget> {
        match self.budget.lock() {
            Ok(mut b) => b.admit(account, &Self::order_names(order), now),
            Err(_) => Ok(()),
        }
    }

    pub fn budget_record_created(&self, account: &str, now: jiff::Timestamp) {
        if let Ok(mut b) = self.budget.lock() {
            b.record_created(account, now);
        }
    }

    /// The CA refused a new order from `account`: none before `until`.
    pub fn budget_record_refused(&self, account: &str, until: jiff::Timestamp) {
        if let Ok(mut b) = self.budget.lock() {
            b.record_refused(account, until);
        }
    }

    pub fn budget_record_failure(&self, order: &Order, now: jiff::Timestamp) {
        if let Ok(mut b) = self.budget.lock() {
            b.record_failure(&Self::order_names(order), now);
        }
    }

    /// The CA created `url` for the Order with this UID; not yet in its status.
    pub fn remember_placed(&self, order_uid: &str, url: &str) {
        if let Ok(mut m) = self.placed.lock() {
            m.insert(order_uid.to_string(), url.to_string());
        }
    }

    /// The ACME order placed for this Order whose URL its status does not hold yet.
    pub fn placed(&self, order_uid: &str) -> Option<String> {
        self.placed.lock().ok()?.get(order_uid).cloned()
    }

    /// The Order's status holds its URL now (or the Order is gone).
    pub fn forget_placed(&self, order_uid: &str) {
        if let Ok(mut m) = self.placed.lock() {
            m.remove(order_uid);
        }
    }

    /// Takes a slot for a Challenge; `false` when all are taken. A Challenge that
    /// already holds one keeps it.
    pub fn take_slot(&self, key: &str, already_processing: bool) -> bool {
        let Ok(mut set) = self.in_flight.lock() else {
            return false;
        };
        if set.contains(key) || already_processing {
            set.insert(key.to_string());
            return true;
        }
        if set.len() >= self.max_concurrent_challenges {
            return false;
        }
        set.insert(key.to_string());
        true
    }

    pub fn release_slot(&self, key: &str) {
        if let Ok(mut set) = self.in_flight.lock() {
            set.remove(key);
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.lock().map(|s| s.len()).unwrap_or(0)
    }
}

impl Default for AcmeRuntime {
    fn default() -> Self {
        AcmeRuntime::new(
            60,
            Default::default(),
            Default::default(),
            Default::default(),
        )
    }
}

/// An issuer found for an ACME object.
pub struct AcmeIssuerRef {
    pub config: IssuerConfig,
    /// `Issuer/<ns>/<name>` or `ClusterIssuer/<name>`: the account's registry key.
    pub key: String,
    /// Where its Secrets live.
    pub secret_namespace: String,
    /// The issuer's annotations (certgate's TLS-ALPN-01 solvers live there).
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl AcmeIssuerRef {
    /// The issuer's registered account.
    pub async fn account(
        &self,
        ctx: &Context,
        acme: &AcmeIssuer,
    ) -> Result<account::Registered, account::AccountError> {
        account::ensure(
            &ctx.client,
            &ctx.acme.accounts,
            &account::AccountRequest {
                issuer_key: &self.key,
                acme,
                secret_namespace: &self.secret_namespace,
                metrics: Some(ctx.metrics.clone()),
            },
        )
        .await
    }
}

/// The issuer an Order or Challenge in `ns` refers to, if it exists.
pub async fn lookup_issuer(
    ctx: &Context,
    ns: &str,
    r: &IssuerReference,
) -> Result<Option<AcmeIssuerRef>, kube::Error> {
    if r.kind_or_default() == "ClusterIssuer" {
        let found = Api::<ClusterIssuer>::all(ctx.client.clone())
            .get_opt(&r.name)
            .await?;
        Ok(found.map(|i| AcmeIssuerRef {
            annotations: i.annotations().clone(),
            key: format!("ClusterIssuer/{}", i.name_any()),
            config: i.spec.config,
            secret_namespace: ctx.config.cluster_resource_namespace.clone(),
        }))
    } else {
        let found = Api::<Issuer>::namespaced(ctx.client.clone(), ns)
            .get_opt(&r.name)
            .await?;
        Ok(found.map(|i| AcmeIssuerRef {
            annotations: i.annotations().clone(),
            key: format!("Issuer/{ns}/{}", i.name_any()),
            config: i.spec.config,
            secret_namespace: ns.to_string(),
        }))
    }
}

/// `d` give or take up to 20%, so retries of many objects spread out.
pub fn jittered(d: Duration) -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() % 401;
    let factor = 0.8 + (r as f64) / 1000.0;
    d.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_challenge_finalizer_names_are_recognised() {
        assert!(is_challenge_finalizer("acme.cert-manager.io/finalizer"));
        assert!(is_challenge_finalizer("finalizer.acme.cert-manager.io"));
        assert!(!is_challenge_finalizer("kubernetes"));
        assert_eq!(CHALLENGE_FINALIZER, "acme.cert-manager.io/finalizer");
    }

    #[test]
    fn at_most_max_concurrent_challenges_hold_a_slot() {
        let rt = AcmeRuntime::new(
            2,
            Default::default(),
            Default::default(),
            Default::default(),
        );
        assert!(rt.take_slot("ns/a", false));
        assert!(rt.take_slot("ns/b", false));
        assert!(!rt.take_slot("ns/c", false), "the third waits");
        assert!(rt.take_slot("ns/a", false), "a holder keeps its slot");
        // After a restart, a Challenge already processing takes its slot back.
        assert!(rt.take_slot("ns/d", true));
        assert_eq!(rt.in_flight(), 3);
        rt.release_slot("ns/a");
        rt.release_slot("ns/d");
        assert!(rt.take_slot("ns/c", false));
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}
