//! What the Order controller tells the rate-limit ledger (`ledger`, decided by the
//! pure `rate_limits`): hold an order the limits would refuse, count the certificate
//! or the failed validations an order ends with, release what was never placed. It
//! places no ACME order and writes an Order only to say why it is held.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use serde_json::json;

use crate::api::Order;
use crate::api::order::State;
use crate::issuers::Context;
use crate::issuers::acme::ledger::Scope;
use crate::issuers::acme::orders::{OrderError, patch_status};
use crate::issuers::acme::protocol::Account;
use crate::issuers::acme::{AcmeIssuerRef, AcmeRuntime, rate_limits};
use crate::runtime::events::EventType;

/// The longest wait before an order held by the rate-limit guard is checked again
/// (the issuer's annotation may have changed meanwhile).
const RATE_LIMIT_RECHECK: Duration = Duration::from_secs(600);

/// The rate-limit ledger of `server` (in the cluster resource namespace).
fn scope<'a>(ctx: &'a Context, server: &'a str) -> Scope<'a> {
    Scope {
        client: &ctx.client,
        namespace: &ctx.config.cluster_resource_namespace,
        server,
    }
}

/// A renewal of a certificate this issuer issued (its request names the one it
/// replaces): Let's Encrypt exempts renewals from the certificates-per-domain limit.
fn is_renewal(order: &Order) -> bool {
    order
        .annotations()
        .contains_key(crate::api::annotations::ACME_REPLACES)
}

/// Holds an order the ACME server's limits would refuse (see `rate_limits`): its
/// `status.reason` says why and until when (written once), with a Warning event
/// `RateLimited`. `None`: place it (it is counted in flight from now on).
pub(super) async fn guard(
    ctx: &Context,
    api: &Api<Order>,
    order: &Order,
    issuer: &AcmeIssuerRef,
    account: &Account,
) -> Result<Option<Action>, OrderError> {
    let (message, event_reason, wait) = match rate_limits::Limits::for_issuer(&issuer.annotations) {
        Err(e) => (e.to_string(), "InvalidAnnotation", RATE_LIMIT_RECHECK),
        Ok(limits) => {
            let decision = ctx
                .acme
                .ledger
                .admit(
                    &scope(ctx, account.client().directory_url()),
                    account.url(),
                    &order.uid().unwrap_or_default(),
                    &AcmeRuntime::order_identifiers(order),
                    is_renewal(order),
                    &limits,
                    ctx.now(),
                )
                .await?;
            match decision {
                Ok(()) => return Ok(None),
                Err(refusal) => (
                    refusal.to_string(),
                    "RateLimited",
                    refusal.retry_in().min(RATE_LIMIT_RECHECK),
                ),
            }
        }
    };
    if order.status.as_ref().and_then(|s| s.reason.as_deref()) != Some(message.as_str()) {
        patch_status(api, &order.name_any(), json!({"reason": message})).await?;
        ctx.recorder
            .publish(order, EventType::Warning, event_reason, &message)
            .await;
    }
    Ok(Some(Action::requeue(wait)))
}

/// The order got its certificate from `server`: one more for its registered domains
/// (and its reservation ends).
pub(super) async fn issued(ctx: &Context, order: &Order, server: &str) {
    let result = ctx
        .acme
        .ledger
        .issued(
            &scope(ctx, server),
            &order.uid().unwrap_or_default(),
            &AcmeRuntime::order_identifiers(order),
            is_renewal(order),
            ctx.now(),
        )
        .await;
    if let Err(e) = result {
        tracing::warn!(order = %order.name_any(), error = %e, "the issued certificate could not be counted in the rate-limit ledger");
    }
}

/// The order went invalid: `identifiers` failed validation for `account`.
pub(super) async fn failed_validations(
    ctx: &Context,
    order: &Order,
    account: &Account,
    identifiers: &[String],
) {
    let result = ctx
        .acme
        .ledger
        .failed_validations(
            &scope(ctx, account.client().directory_url()),
            &order.uid().unwrap_or_default(),
            account.url(),
            identifiers,
            ctx.now(),
        )
        .await;
    if let Err(e) = result {
        tracing::warn!(order = %order.name_any(), error = %e, "the failed validations could not be counted in the rate-limit ledger");
    }
}

/// The CA refused the new order: not placed, not counted.
pub(super) async fn release_refused(ctx: &Context, order: &Order, account: &Account) {
    let result = ctx
        .acme
        .ledger
        .release(
            &scope(ctx, account.client().directory_url()),
            &order.uid().unwrap_or_default(),
            ctx.now(),
        )
        .await;
    if let Err(e) = result {
        tracing::warn!(order = %order.name_any(), error = %e, "the refused order's reservation stays in the rate-limit ledger until it expires");
    }
}

/// Ends the order's reservation in a loaded rate-limit ledger, if it still has one:
/// a valid order's becomes an issued certificate, any other's goes.
pub(super) async fn end_reservation(ctx: &Context, order: &Order, state: Option<State>) {
    let uid = order.uid().unwrap_or_default();
    let Some(server) = ctx.acme.ledger.in_flight(&uid).await else {
        return;
    };
    if state == Some(State::Valid) {
        return issued(ctx, order, &server).await;
    }
    if let Err(e) = ctx
        .acme
        .ledger
        .release(&scope(ctx, &server), &uid, ctx.now())
        .await
    {
        tracing::warn!(order = %order.name_any(), error = %e, "the rate-limit ledger could not be updated");
    }
}
