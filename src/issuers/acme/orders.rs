//! The Order controller: one ACME order per Order resource. It creates the order at
//! the CA (once: the URL is kept in status, so a restart continues the same order),
//! creates a Challenge per pending authorization with the solver chosen for its
//! name, finalizes with the CSR when the CA says ready, and stores the chain.

use crate::runtime::reconcile::ShardedRun;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::api::challenge::AcmeChallengeType;
use crate::api::order::{AcmeAuthorization, AcmeChallenge, State};
use crate::api::{Challenge, ChallengeSpec, Order};
use crate::dns01::selection::{ChallengeKind, SolverCandidate, select_solver};
use crate::issuers::Context;
use crate::issuers::acme::client::with_action;
use crate::issuers::acme::naming::compute_name;
use crate::issuers::acme::order_ledger;
use crate::issuers::acme::protocol::{
    self, Account, AuthorizationStatus, Identifier, NewOrder, OrderStatus as AcmeOrderStatus,
};
use crate::issuers::acme::{AcmeIssuerRef, lookup_issuer};
use crate::metrics;
use crate::runtime::events::EventType;
use crate::tlsalpn01::solvers::{self, TlsAlpn01Solver};

/// Why an Order could not be reconciled (retried with back-off).
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("ACME request failed: {0}")]
    Acme(String),
}

fn acme_err(e: protocol::Error) -> OrderError {
    OrderError::Acme(e.to_string())
}

/// How long no new order follows one the CA refused: its Retry-After, between 1 s
/// and an hour; 5 s without one.
fn refusal_hold(retry_after: Option<Duration>) -> Duration {
    retry_after.map_or(Duration::from_secs(5), |d| {
        d.clamp(Duration::from_secs(1), Duration::from_secs(3600))
    })
}

/// Our state for an ACME order state. A status this client does not know (newer
/// than RFC 8555) is taken as pending: not final, the order is read again.
pub fn order_state(s: AcmeOrderStatus) -> State {
    match s {
        AcmeOrderStatus::Pending | AcmeOrderStatus::Unknown => State::Pending,
        AcmeOrderStatus::Ready => State::Ready,
        AcmeOrderStatus::Processing => State::Processing,
        AcmeOrderStatus::Valid => State::Valid,
        AcmeOrderStatus::Invalid => State::Invalid,
    }
}

fn authz_state(s: AuthorizationStatus) -> State {
    match s {
        AuthorizationStatus::Pending | AuthorizationStatus::Unknown => State::Pending,
        AuthorizationStatus::Valid => State::Valid,
        AuthorizationStatus::Invalid
        | AuthorizationStatus::Revoked
        | AuthorizationStatus::Deactivated => State::Invalid,
        AuthorizationStatus::Expired => State::Expired,
    }
}

/// The challenge type names of our API among an ACME server's challenge types.
fn challenge_type_name(t: &str) -> Option<&'static str> {
    match t {
        "http-01" => Some("http-01"),
        "dns-01" => Some("dns-01"),
        "tls-alpn-01" => Some("tls-alpn-01"),
        _ => None,
    }
}

/// An authorization's identifier as the CA's errors name it: `*.` before a
/// wildcard's DNS name.
pub(crate) fn authorization_identifier(a: &protocol::Authorization) -> String {
    if a.wildcard && a.identifier.kind == "dns" {
        format!("*.{}", a.identifier.value)
    } else {
        a.identifier.value.clone()
    }
}

/// How long until reading a processing order again: the CA's Retry-After (within
/// reason), else soon.
fn processing_wait(retry_after: Option<Duration>) -> Duration {
    retry_after.map_or(Duration::from_millis(500), |d| {
        d.clamp(Duration::from_millis(200), Duration::from_secs(600))
    })
}

/// The key a Challenge carries: the key authorization for HTTP-01 and TLS-ALPN-01,
/// the TXT value (base64url SHA-256 of it) for DNS-01.
pub fn challenge_key(kind: AcmeChallengeType, token: &str, thumbprint: &str) -> String {
    let key_authorization = format!("{token}.{thumbprint}");
    match kind {
        AcmeChallengeType::Http01 | AcmeChallengeType::TlsAlpn01 => key_authorization,
        AcmeChallengeType::Dns01 => crate::dns01::txt_value(&key_authorization),
    }
}

/// A solver the selection can choose: one of the issuer's `solvers[]`, or one of its
/// TLS-ALPN-01 solvers (with its index in the annotation's list).
enum Candidate<'a> {
    Issuer(&'a crate::api::AcmeChallengeSolver),
    TlsAlpn(usize, &'a TlsAlpn01Solver),
}

impl SolverCandidate for Candidate<'_> {
    fn selector(&self) -> Option<&crate::api::acme::CertificateDnsNameSelector> {
        match self {
            Candidate::Issuer(s) => s.selector(),
            Candidate::TlsAlpn(_, s) => s.selector(),
        }
    }

    fn solves(&self, kind: ChallengeKind, wildcard: bool) -> bool {
        match self {
            Candidate::Issuer(s) => s.solves(kind, wildcard),
            Candidate::TlsAlpn(_, s) => s.solves(kind, wildcard),
        }
    }
}

/// The Challenge to create for one pending authorization (pure), or why none can be.
/// `tls_alpn` are the issuer's TLS-ALPN-01 solvers; they come after `solvers` in
/// the selection.
pub fn build_challenge(
    order: &Order,
    authz: &AcmeAuthorization,
    solvers: &[crate::api::AcmeChallengeSolver],
    tls_alpn: &[TlsAlpn01Solver],
    thumbprint: &str,
) -> Result<Challenge, String> {
    let identifier = authz.identifier.clone().unwrap_or_default();
    let wildcard = authz.wildcard.unwrap_or(false);
    let domain = if wildcard {
        format!("*.{identifier}")
    } else {
        identifier.clone()
    };
    let offered: Vec<(ChallengeKind, &AcmeChallenge)> = authz
        .challenges
        .iter()
        .flatten()
        .filter_map(|c| ChallengeKind::from_acme_type(&c.type_).map(|k| (k, c)))
        .collect();
    let kinds: Vec<ChallengeKind> = offered.iter().map(|(k, _)| *k).collect();
    let labels = order.metadata.labels.clone().unwrap_or_default();
    let candidates: Vec<Candidate> = solvers
        .iter()
        .map(Candidate::Issuer)
        .chain(
            tls_alpn
                .iter()
                .enumerate()
                .map(|(i, s)| Candidate::TlsAlpn(i, s)),
        )
        .collect();
    let (_, chosen) =
        select_solver(&candidates, &domain, &labels, &kinds).map_err(|e| e.to_string())?;
    let order_ns = order.namespace().unwrap_or_default();
    let mut annotations = None;
    let (solver, kind, want) = match chosen {
        Candidate::Issuer(solver) => {
            let mut solver = (*solver).clone();
            crate::issuers::acme::solver_overrides::apply(
                order.annotations(),
                &order_ns,
                &mut solver,
            )
            .map_err(|e| e.to_string())?;
            if solver.dns01.is_some() {
                (solver, AcmeChallengeType::Dns01, ChallengeKind::Dns01)
            } else {
                (solver, AcmeChallengeType::Http01, ChallengeKind::Http01)
            }
        }
        Candidate::TlsAlpn(index, solver) => {
            let chosen = solvers::for_challenge(solver, *index, order.annotations(), &order_ns)
                .map_err(|e| e.to_string())?;
            let json = serde_json::to_string(&chosen).map_err(|e| e.to_string())?;
            annotations = Some(std::collections::BTreeMap::from([(
                solvers::CHALLENGE_SOLVER_ANNOTATION.to_string(),
                json,
            )]));
            let spec_solver = crate::api::AcmeChallengeSolver {
                selector: chosen.selector.clone(),
                ..Default::default()
            };
            (
                spec_solver,
                AcmeChallengeType::TlsAlpn01,
                ChallengeKind::TlsAlpn01,
            )
        }
    };
    let Some((_, acme_challenge)) = offered.iter().find(|(k, _)| *k == want) else {
        return Err(format!(
            "the ACME server offers no {} challenge for {domain:?}",
            want.as_acme_type()
        ));
    };
    let spec = ChallengeSpec {
        url: acme_challenge.url.clone(),
        authorization_url: authz.url.clone(),
        dns_name: identifier,
        wildcard: Some(wildcard),
        type_: kind,
        token: acme_challenge.token.clone(),
        key: challenge_key(kind, &acme_challenge.token, thumbprint),
        solver,
        issuer_ref: order.spec.issuer_ref.clone(),
    };
    let name = compute_name(&order.name_any(), &spec);
    let owner = OwnerReference {
        api_version: Order::api_version(&()).to_string(),
        kind: Order::kind(&()).to_string(),
        name: order.name_any(),
        uid: order.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    Ok(Challenge {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: order.namespace(),
            labels: order.metadata.labels.clone(),
            annotations,
            owner_references: Some(vec![owner]),
            finalizers: Some(vec![crate::issuers::acme::CHALLENGE_FINALIZER.to_string()]),
            ..Default::default()
        },
        spec,
        status: None,
    })
}

pub(super) async fn patch_status(
    api: &Api<Order>,
    name: &str,
    status: serde_json::Value,
) -> Result<(), OrderError> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}

/// The Challenges this Order owns.
async fn owned_challenges(ctx: &Context, order: &Order) -> Result<Vec<Challenge>, OrderError> {
    let ns = order.namespace().unwrap_or_default();
    let uid = order.uid().unwrap_or_default();
    let list = Api::<Challenge>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default())
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|c| c.owner_references().iter().any(|o| o.uid == uid))
        .collect())
}

/// Why the order failed, in the CA's words: the order's error, else the first
/// failed challenge's error.
fn failure_reason(order_error: Option<String>, challenge_errors: &[String]) -> String {
    if let Some(first) = challenge_errors.first() {
        return first.clone();
    }
    order_error.unwrap_or_else(|| "the ACME server marked the order invalid".to_string())
}

async fn reconcile(order: Arc<Order>, ctx: Arc<Context>) -> Result<Action, OrderError> {
    ctx.metrics
        .inc(metrics::SYNC_CALLS, vec![("controller", "orders".into())]);
    if order.metadata.deletion_timestamp.is_some() {
        ctx.acme.forget_placed(&order.uid().unwrap_or_default());
        order_ledger::end_reservation(&ctx, &order, None).await;
        return Ok(Action::await_change());
    }
    let ns = order.namespace().unwrap_or_default();
    let name = order.name_any();
    let api: Api<Order> = Api::namespaced(ctx.client.clone(), &ns);
    // Before an order is placed, read the Order itself, not the cache: a reconcile
    // woken before the watch delivers the status written a moment ago would place a
    // second ACME order for the same resource.
    let order = if order.status.as_ref().and_then(|s| s.url.as_ref()).is_none() {
        match api.get_opt(&name).await? {
            Some(fresh) if fresh.metadata.deletion_timestamp.is_none() => Arc::new(fresh),
            _ => return Ok(Action::await_change()),
        }
    } else {
        order
    };
    let status = order.status.clone().unwrap_or_default();
    if let Some(state) = status.state.filter(|s| s.is_final()) {
        // Counted as in flight still (it ended while no controller saw it): now not.
        order_ledger::end_reservation(&ctx, &order, Some(state)).await;
        // Done: the Challenges go (their finalizer cleans up what they presented).
        for ch in owned_challenges(&ctx, &order).await? {
            if ch.metadata.deletion_timestamp.is_none() {
                Api::<Challenge>::namespaced(ctx.client.clone(), &ns)
                    .delete(&ch.name_any(), &DeleteParams::default())
                    .await?;
            }
        }
        return Ok(Action::await_change());
    }
    let Some(issuer) = lookup_issuer(&ctx, &ns, &order.spec.issuer_ref).await? else {
        return Ok(Action::requeue(Duration::from_secs(10)));
    };
    let Some(acme) = issuer.config.acme.clone() else {
        return Ok(Action::await_change());
    };
    let account = match issuer.account(&ctx, &acme).await {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(order = %name, error = %e, "ACME account not ready; order waits");
            return Ok(Action::requeue(Duration::from_secs(5)));
        }
    };
    let Some(url) = status.url.clone() else {
        return create_acme_order(&ctx, &api, &order, &issuer, &account.account).await;
    };
    let acme_order = with_action("get_order", account.account.order(&url))
        .await
        .map_err(acme_err)?;
    let order_error = acme_order.error.as_ref().map(|p| p.to_string());
    match acme_order.status {
        AcmeOrderStatus::Pending => {
            ensure_challenges(
                &ctx,
                &order,
                &acme,
                &issuer.annotations,
                &account.account.key().thumbprint(),
            )
            .await?;
            if status.state != Some(State::Pending) {
                patch_status(&api, &name, json!({"state": "pending"})).await?;
            }
            // Challenge changes wake the Order; this is the fallback.
            Ok(Action::requeue(Duration::from_secs(15)))
        }
        AcmeOrderStatus::Ready => {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(&order.spec.request)
                .unwrap_or_default();
            let der = x509_parser::pem::Pem::iter_from_buffer(&pem)
                .find_map(Result::ok)
                .map(|p| p.contents)
                .unwrap_or_default();
            let finalized = with_action(
                "create_order_cert",
                account.account.finalize(&acme_order, &der),
            )
            .await
            .map_err(acme_err)?;
            patch_status(&api, &name, json!({"state": "processing"})).await?;
            Ok(Action::requeue(match finalized.status {
                AcmeOrderStatus::Processing => processing_wait(finalized.retry_after),
                _ => Duration::from_millis(200),
            }))
        }
        AcmeOrderStatus::Processing => {
            if let Some(e) = order_error {
                return Err(OrderError::Acme(e));
            }
            Ok(Action::requeue(processing_wait(acme_order.retry_after)))
        }
        AcmeOrderStatus::Valid => {
            if let Some(e) = order_error {
                return Err(OrderError::Acme(e));
            }
            let Some(cert_url) = acme_order.certificate.as_deref() else {
                return Err(OrderError::Acme(
                    "the ACME server gave the valid order no certificate URL".into(),
                ));
            };
            // The chain `spec.acme.preferredChain` asks for, else the CA's default.
            let chain = with_action(
                "fetch_cert",
                account
                    .account
                    .preferred_certificate(cert_url, acme.preferred_chain.as_deref()),
            )
            .await
            .map_err(acme_err)?;
            let b64 = base64::engine::general_purpose::STANDARD.encode(chain.pem.as_bytes());
            patch_status(
                &api,
                &name,
                json!({"state": "valid", "certificate": b64, "reason": null}),
            )
            .await?;
            ctx.recorder
                .publish(
                    &*order,
                    EventType::Normal,
                    "Complete",
                    "Order completed successfully",
                )
                .await;
            order_ledger::issued(&ctx, &order, account.account.client().directory_url()).await;
            Ok(Action::await_change())
        }
        AcmeOrderStatus::Unknown => {
            tracing::debug!(order = %name, "the ACME order's status is unknown; reading it again later");
            Ok(Action::requeue(Duration::from_secs(15)))
        }
        AcmeOrderStatus::Invalid => {
            let mut errors = Vec::new();
            let mut failed_identifiers = Vec::new();
            for url in &acme_order.authorizations {
                let Ok(a) =
                    with_action("get_authorization", account.account.authorization(url)).await
                else {
                    continue;
                };
                if a.status == AuthorizationStatus::Invalid {
                    failed_identifiers.push(a.identifier.value.clone());
                }
                for c in &a.challenges {
                    if let Some(p) = &c.error {
                        errors.push(format!(
                            "acme: authorization error for {}: {p}",
                            authorization_identifier(&a)
                        ));
                    }
                }
            }
            let reason = failure_reason(order_error, &errors);
            patch_status(
                &api,
                &name,
                json!({"state": "invalid", "reason": reason, "failureTime": Time(ctx.now())}),
            )
            .await?;
            ctx.recorder
                .publish(
                    &*order,
                    EventType::Warning,
                    "Failed",
                    &format!("Order failed: {reason}"),
                )
                .await;
            ctx.acme.budget_record_failure(&order, ctx.now());
            order_ledger::failed_validations(&ctx, &order, &account.account, &failed_identifiers)
                .await;
            Ok(Action::await_change())
        }
    }
}

/// Why `profile` cannot be ordered from a CA offering `offered`, if it cannot.
pub fn profile_problem(profile: &str, offered: &[&str]) -> Option<String> {
    if offered.contains(&profile) {
        return None;
    }
    Some(if offered.is_empty() {
        format!(
            "the ACME server does not support certificate profiles, so profile {profile:?} cannot be ordered: remove it from spec.acme.profile or the acme.cert-manager.io/profile annotation"
        )
    } else {
        // Sorted: the directory is a JSON object, whose order means nothing (and a
        // reason that changes between reconciles would be rewritten every time).
        let mut names = offered.to_vec();
        names.sort_unstable();
        format!(
            "the ACME server does not offer profile {profile:?}; it offers: {}",
            names.join(", ")
        )
    })
}

async fn create_acme_order(
    ctx: &Context,
    api: &Api<Order>,
    order: &Order,
    issuer: &AcmeIssuerRef,
    account: &Account,
) -> Result<Action, OrderError> {
    let name = order.name_any();
    let uid = order.uid().unwrap_or_default();
    // Placed before but not recorded (the status write failed): record that one.
    if let Some(url) = ctx.acme.placed(&uid) {
        match with_action("get_order", account.order(&url)).await {
            Ok(acme_order) => return record_acme_order(ctx, api, order, account, acme_order).await,
            // Gone at the CA (or never readable): place a new one below.
            Err(e) => {
                tracing::info!(order = %name, error = %e, "the order placed before cannot be read; placing a new one");
                ctx.acme.forget_placed(&uid);
            }
        }
    }
    if let Err(wait) = ctx.acme.budget_admit(order, &issuer.key, ctx.now()) {
        let message = wait.to_string();
        // Held after the CA refused: the reason keeps the CA's words.
        let refused = matches!(
            wait,
            crate::issuers::acme::budget::OverBudget::Refused { .. }
        );
        if !refused
            && order.status.as_ref().and_then(|s| s.reason.as_deref()) != Some(message.as_str())
        {
            patch_status(api, &name, json!({"reason": message})).await?;
        }
        return Ok(Action::requeue(wait.retry_in()));
    }
    let mut identifiers: Vec<Identifier> = order
        .spec
        .dns_names
        .iter()
        .flatten()
        .map(Identifier::dns)
        .collect();
    for ip in order.spec.ip_addresses.iter().flatten() {
        if let Ok(ip) = ip.parse() {
            identifiers.push(Identifier::ip(ip));
        }
    }
    let profile = order.spec.profile.as_deref();
    if let Some(p) = profile {
        let offered: Vec<&str> = account.client().directory().profile_names().collect();
        if let Some(reason) = profile_problem(p, &offered) {
            patch_status(
                api,
                &name,
                json!({"state": "errored", "reason": reason, "failureTime": Time(ctx.now())}),
            )
            .await?;
            ctx.recorder
                .publish(order, EventType::Warning, "Failed", &reason)
                .await;
            return Ok(Action::await_change());
        }
    }
    if let Some(action) = order_ledger::guard(ctx, api, order, issuer, account).await? {
        return Ok(action);
    }
    let new = || {
        let n = NewOrder::new(identifiers.clone());
        match profile {
            Some(p) => n.profile(p),
            None => n,
        }
    };
    // A renewal says which certificate it replaces (ARI), when the CA takes it.
    let replaces = order
        .annotations()
        .get(crate::api::annotations::ACME_REPLACES)
        .and_then(|id| crate::issuers::acme::ari::parse_certificate_id(id));
    let first = match replaces {
        Some(id) => {
            match with_action("authorize_order", account.new_order(&new().replaces(id))).await {
                Ok(o) => Ok(o),
                Err(e) => {
                    tracing::info!(order = %name, error = %e, "ordering with `replaces` failed; ordering without");
                    with_action("authorize_order", account.new_order(&new())).await
                }
            }
        }
        None => with_action("authorize_order", account.new_order(&new())).await,
    };
    let acme_order = match first {
        Ok(o) => o,
        Err(e) => {
            // No new order from this issuer before the CA's Retry-After (a short
            // pause without one): the status patch below wakes this Order at once.
            let hold = refusal_hold(e.retry_after());
            if let Ok(until) = ctx.now().checked_add(hold) {
                ctx.acme.budget_record_refused(&issuer.key, until);
            }
            order_ledger::release_refused(ctx, order, account).await;
            // newOrder (or newNonce) is not found where the directory said: the CA
            // moved its endpoints. Read the directory again on the next attempt.
            if e.status() == Some(404) {
                tracing::info!(issuer = %issuer.key, error = %e, "the ACME server no longer answers at the URLs of its directory; reading it again");
                ctx.acme.accounts.forget(&issuer.key);
            }
            let reason = format!("Failed to create Order: {e}");
            patch_status(api, &name, json!({"reason": reason})).await?;
            return Err(acme_err(e));
        }
    };
    ctx.acme.budget_record_created(&issuer.key, ctx.now());
    ctx.acme.remember_placed(&uid, &acme_order.url);
    record_acme_order(ctx, api, order, account, acme_order).await
}

/// Writes the ACME order the CA created into the Order's status: its URL, finalize
/// URL, state and authorizations with their challenges.
async fn record_acme_order(
    ctx: &Context,
    api: &Api<Order>,
    order: &Order,
    account: &Account,
    acme_order: protocol::Order,
) -> Result<Action, OrderError> {
    let name = order.name_any();
    let url = acme_order.url.clone();
    let (finalize, status) = (acme_order.finalize.clone(), acme_order.status);
    let mut authorizations = Vec::new();
    for authz_url in &acme_order.authorizations {
        let a = with_action("get_authorization", account.authorization(authz_url))
            .await
            .map_err(acme_err)?;
        authorizations.push(AcmeAuthorization {
            url: a.url.clone(),
            identifier: Some(a.identifier.value.clone()),
            wildcard: Some(a.wildcard),
            initial_state: Some(authz_state(a.status)),
            challenges: Some(
                a.challenges
                    .iter()
                    .filter_map(|c| {
                        challenge_type_name(&c.kind).map(|t| AcmeChallenge {
                            url: c.url.clone(),
                            token: c.token.clone().unwrap_or_default(),
                            type_: t.to_string(),
                        })
                    })
                    .collect(),
            ),
        });
    }
    patch_status(
        api,
        &name,
        json!({
            "url": url,
            "finalizeURL": finalize,
            "state": crate::issuers::acme::requests::state_str(order_state(status)),
            "authorizations": authorizations,
            "reason": null,
        }),
    )
    .await?;
    ctx.acme.forget_placed(&order.uid().unwrap_or_default());
    Ok(Action::requeue(Duration::from_millis(10)))
}

async fn ensure_challenges(
    ctx: &Context,
    order: &Order,
    acme: &crate::api::AcmeIssuer,
    issuer_annotations: &std::collections::BTreeMap<String, String>,
    thumbprint: &str,
) -> Result<(), OrderError> {
    let ns = order.namespace().unwrap_or_default();
    let api = Api::<Challenge>::namespaced(ctx.client.clone(), &ns);
    let authorizations = order
        .status
        .as_ref()
        .and_then(|s| s.authorizations.clone())
        .unwrap_or_default();
    let solvers = acme.solvers.clone().unwrap_or_default();
    let mut problems = Vec::new();
    let tls_alpn = match solvers::from_issuer_annotations(issuer_annotations) {
        Ok(s) => s,
        Err(e) => {
            problems.push(e.to_string());
            Vec::new()
        }
    };
    for authz in authorizations
        .iter()
        .filter(|a| a.initial_state == Some(State::Pending))
    {
        let challenge = match build_challenge(order, authz, &solvers, &tls_alpn, thumbprint) {
            Ok(c) => c,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let name = challenge.name_any();
        if api.get_opt(&name).await?.is_some() {
            continue;
        }
        match api.create(&PostParams::default(), &challenge).await {
            Ok(_) => {
                ctx.recorder
                    .publish(
                        order,
                        EventType::Normal,
                        "Created",
                        &format!(
                            "Created Challenge resource {name:?} for domain {:?}",
                            challenge.spec.dns_name
                        ),
                    )
                    .await;
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    let reason = (!problems.is_empty()).then(|| {
        format!(
            "Failed to determine a valid solver configuration for the set of domains on the Order: {}",
            problems.join("; ")
        )
    });
    let current = order.status.as_ref().and_then(|s| s.reason.clone());
    if reason != current && (reason.is_some() || current.is_some()) {
        let api: Api<Order> = Api::namespaced(ctx.client.clone(), &ns);
        patch_status(&api, &order.name_any(), json!({"reason": reason})).await?;
        if let Some(r) = &reason {
            ctx.recorder
                .publish(order, EventType::Warning, "Solver", r)
                .await;
        }
    }
    Ok(())
}

fn error_policy(order: Arc<Order>, error: &OrderError, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .inc(metrics::SYNC_ERRORS, vec![("controller", "orders".into())]);
    crate::runtime::reconcile::log_reconcile_error("orders", &order.name_any(), error);
    Action::requeue(crate::issuers::acme::jittered(Duration::from_secs(5)))
}

/// Runs the Order controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (orders, challenges): (Api<Order>, Api<Challenge>) = match &ctx.config.namespace {
        Some(ns) => (
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
        ),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    crate::runtime::reconcile::lean_controller(orders, &ctx.config.shards)
        .owns(challenges, watcher::Config::default())
        .with_config(
            kube::runtime::controller::Config::default()
                .concurrency(ctx.config.max_concurrent_reconciles),
        )
        .graceful_shutdown_on(shutdown)
        .run_sharded(ctx.config.shards.clone(), reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The Order a Challenge belongs to.
pub fn owner_order(ch: &Challenge) -> Option<ObjectRef<Order>> {
    let owner = ch
        .owner_references()
        .iter()
        .find(|o| o.kind == "Order" && o.controller == Some(true))?;
    Some(ObjectRef::new(&owner.name).within(&ch.namespace().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_new_order_waits_the_cas_retry_after() {
        assert_eq!(
            refusal_hold(Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(refusal_hold(None), Duration::from_secs(5));
        assert_eq!(refusal_hold(Some(Duration::ZERO)), Duration::from_secs(1));
        assert_eq!(
            refusal_hold(Some(Duration::from_secs(86400))),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn profiles_must_be_offered_by_the_ca() {
        assert_eq!(
            profile_problem("shortlived", &["classic", "shortlived"]),
            None
        );
        let none = profile_problem("shortlived", &[]).unwrap();
        assert!(
            none.contains("does not support certificate profiles"),
            "{none}"
        );
        let other = profile_problem("tlsserver", &["shortlived", "classic"]).unwrap();
        assert!(other.ends_with("it offers: classic, shortlived"), "{other}");
    }
}
