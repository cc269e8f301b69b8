//! The Challenge controller: schedule (at most `--max-concurrent-challenges` in
//! flight), present, self-check, tell the CA, wait for its verdict, clean up. What
//! to do is decided by [`challenge_state`] (pure); presenting, checking and
//! cleaning up are the challenge's [`Solver`]'s. A finalizer makes sure nothing
//! presented outlives its Challenge, whatever happens to it.

use crate::runtime::reconcile::ShardedRun;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use serde_json::json;

use crate::api::Challenge;
use crate::api::order::State;
use crate::issuers::Context;
use crate::issuers::acme::challenge_state::{self, Observed, Phase};
use crate::issuers::acme::client::with_action;
use crate::issuers::acme::protocol::AuthorizationStatus;
use crate::issuers::acme::solver::{self, Solver, SolverError};
use crate::issuers::acme::{CHALLENGE_FINALIZER, is_challenge_finalizer, jittered, lookup_issuer};
use crate::metrics;
use crate::runtime::events::EventType;

/// Why a Challenge could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
}

fn key(ch: &Challenge) -> String {
    format!("{}/{}", ch.namespace().unwrap_or_default(), ch.name_any())
}

async fn patch_status(
    ctx: &Context,
    ch: &Challenge,
    status: serde_json::Value,
) -> Result<(), ChallengeError> {
    Api::<Challenge>::namespaced(ctx.client.clone(), &ch.namespace().unwrap_or_default())
        .patch_status(
            &ch.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
    Ok(())
}

async fn set_finalizers(
    ctx: &Context,
    ch: &Challenge,
    finalizers: Vec<String>,
) -> Result<(), ChallengeError> {
    Api::<Challenge>::namespaced(ctx.client.clone(), &ch.namespace().unwrap_or_default())
        .patch(
            &ch.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": finalizers,
                "resourceVersion": ch.resource_version()}})),
        )
        .await?;
    Ok(())
}

/// Where the issuer's Secrets live, from the Challenge's issuerRef.
fn secret_namespace(ctx: &Context, ch: &Challenge) -> String {
    if ch.spec.issuer_ref.kind_or_default() == "ClusterIssuer" {
        ctx.config.cluster_resource_namespace.clone()
    } else {
        ch.namespace().unwrap_or_default()
    }
}

/// The final state of the challenge's authorization, once the CA decided.
enum Verdict {
    /// The CA was told now.
    Accepted,
    Pending,
    Valid,
    Invalid(String),
}

/// Tells the CA the challenge is ready (once), then reads its authorization.
async fn accept_and_poll(ctx: &Context, ch: &Challenge, accepted: bool) -> Result<Verdict, String> {
    let ns = ch.namespace().unwrap_or_default();
    let issuer = lookup_issuer(ctx, &ns, &ch.spec.issuer_ref)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the issuer is gone")?;
    let acme = issuer
        .config
        .acme
        .clone()
        .ok_or("the issuer is not an ACME issuer")?;
    let account = issuer
        .account(ctx, &acme)
        .await
        .map_err(|e| e.to_string())?;
    let a = with_action(
        "get_authorization",
        account.account.authorization(&ch.spec.authorization_url),
    )
    .await
    .map_err(|e| e.to_string())?;
    let identifier = crate::issuers::acme::orders::authorization_identifier(&a);
    if !accepted && a.status == AuthorizationStatus::Pending {
        let told = with_action(
            "accept_challenge",
            account.account.respond_to_challenge(&ch.spec.url),
        )
        .await
        .map_err(|e| format!("Error accepting challenge: {e}"))?;
        // Written as `processing` whatever the answer (RFC 8555 §7.5.1: the challenge
        // moves to `processing`; a CA that says `pending` has still been told, and a
        // decided one is read from the authorization on the next poll).
        tracing::debug!(challenge = %ch.name_any(), answered = ?told.status, "challenge accepted");
        return Ok(Verdict::Accepted);
    }
    Ok(match a.status {
        // A status this client does not know yet: the CA has not decided.
        AuthorizationStatus::Pending | AuthorizationStatus::Unknown => Verdict::Pending,
        AuthorizationStatus::Valid => Verdict::Valid,
        _ => {
            let detail = a
                .challenges
                .iter()
                .find_map(|c| c.error.as_ref().map(|p| p.to_string()))
                .unwrap_or_else(|| format!("authorization is {:?}", a.status));
            Verdict::Invalid(format!(
                "Error accepting authorization: acme: authorization error for {identifier}: {detail}"
            ))
        }
    })
}

/// Cleans up through the solver; on failure records `CleanUpError` and says when
/// to try again.
async fn clean_up(ctx: &Context, ch: &Challenge, solver: &dyn Solver) -> Option<Action> {
    let e = solver.clean_up(ch).await.err()?;
    ctx.recorder
        .publish(
            ch,
            EventType::Warning,
            "CleanUpError",
            &format!("Error cleaning up challenge: {e}"),
        )
        .await;
    Some(Action::requeue(jittered(e.retry_after())))
}

async fn reconcile(ch: Arc<Challenge>, ctx: Arc<Context>) -> Result<Action, ChallengeError> {
    ctx.metrics.inc(
        metrics::SYNC_CALLS,
        vec![("controller", "challenges".into())],
    );
    let status = ch.status.clone().unwrap_or_default();
    record_metrics(&ctx, &ch);
    let secret_ns = secret_namespace(&ctx, &ch);
    let solver = solver::for_challenge(&ctx, &ch, &secret_ns);
    let finalizers = ch.finalizers().to_vec();
    let accepted = is_accepted(status.state);
    let observed = Observed {
        deleting: ch.metadata.deletion_timestamp.is_some(),
        has_finalizer: finalizers.iter().any(|f| is_challenge_finalizer(f)),
        decided: status.state.is_some_and(State::is_final),
        presented: status.presented.unwrap_or(false),
        processing: status.processing.unwrap_or(false),
        accepted,
    };
    match challenge_state::phase(&observed) {
        Phase::Release { clean_up: hold } => {
            if hold {
                if let Some(retry) = clean_up(&ctx, &ch, solver.as_ref()).await {
                    return Ok(retry);
                }
                ctx.acme.release_slot(&key(&ch));
                let rest: Vec<String> = finalizers
                    .into_iter()
                    .filter(|f| !is_challenge_finalizer(f))
                    .collect();
                set_finalizers(&ctx, &ch, rest).await?;
            }
            ctx.metrics
                .forget_challenge(&ch.namespace().unwrap_or_default(), &ch.name_any());
            return Ok(Action::await_change());
        }
        Phase::AddFinalizer => {
            let mut f = finalizers;
            f.push(CHALLENGE_FINALIZER.to_string());
            set_finalizers(&ctx, &ch, f).await?;
            return Ok(Action::await_change());
        }
        Phase::Finish {
            clean_up: presented,
        } => {
            if presented {
                if let Some(retry) = clean_up(&ctx, &ch, solver.as_ref()).await {
                    return Ok(retry);
                }
                patch_status(&ctx, &ch, json!({"presented": false, "processing": false})).await?;
            }
            ctx.acme.release_slot(&key(&ch));
            return Ok(Action::await_change());
        }
        Phase::Schedule | Phase::Work => {}
    }
    // Scheduling.
    let processing = observed.processing;
    if !ctx.acme.take_slot(&key(&ch), processing) {
        return Ok(Action::requeue(jittered(Duration::from_secs(5))));
    }
    if !processing {
        patch_status(&ctx, &ch, json!({"processing": true, "state": status.state.map_or("pending", crate::issuers::acme::requests::state_str)})).await?;
        ctx.recorder
            .publish(
                &*ch,
                EventType::Normal,
                "Started",
                "Challenge scheduled for processing",
            )
            .await;
        return Ok(Action::await_change());
    }
    let kind = ch.spec.type_.as_str();
    if !accepted {
        // Present (again after a restart: presenting is idempotent and the
        // in-process solvers forget their answers).
        if challenge_state::must_present(observed.presented, solver.lost(&ch)) {
            if let Err(e) = solver.present(&ch).await {
                let message = format!("Error presenting challenge: {e}");
                if status.reason.as_deref() != Some(message.as_str()) {
                    patch_status(&ctx, &ch, json!({"reason": message})).await?;
                    ctx.recorder
                        .publish(&*ch, EventType::Warning, "PresentError", &message)
                        .await;
                }
                return Ok(Action::requeue(jittered(e.retry_after())));
            }
            if !observed.presented {
                patch_status(
                    &ctx,
                    &ch,
                    json!({"presented": true, "presentedAt": Time(ctx.now()), "reason": null}),
                )
                .await?;
                ctx.recorder
                    .publish(
                        &*ch,
                        EventType::Normal,
                        "Presented",
                        &format!("Presented challenge using {kind} challenge mechanism"),
                    )
                    .await;
                return Ok(Action::requeue(Duration::from_millis(50)));
            }
        }
        // Self-check, or the configured wait instead of it.
        if let Some(wait) = ch.spec.solver.wait_instead_of_self_check.as_deref() {
            let wait = crate::gocompat::parse_go_duration(wait).unwrap_or(Duration::from_secs(0));
            let since_presented = status
                .presented_at
                .as_ref()
                .map(|t| ctx.now().duration_since(t.0).unsigned_abs());
            if let Some(remaining) = challenge_state::wait_remaining(wait, since_presented) {
                return Ok(Action::requeue(remaining));
            }
        } else if let Err(why) = solver.check(&ch).await {
            let reason = format!("Waiting for {kind} challenge propagation: {why}");
            if status.reason.as_deref() != Some(reason.as_str()) {
                patch_status(&ctx, &ch, json!({"reason": reason})).await?;
            }
            let period = match why {
                SolverError::NotVisible(_) => solver.check_period(),
                other => other.retry_after(),
            };
            return Ok(Action::requeue(period));
        }
    }
    match accept_and_poll(&ctx, &ch, accepted).await {
        Ok(Verdict::Accepted) => {
            patch_status(
                &ctx,
                &ch,
                json!({"state": "processing", "reason": REASON_ACCEPTED}),
            )
            .await?;
            Ok(Action::requeue(Duration::from_millis(500)))
        }
        Ok(Verdict::Pending) => Ok(Action::requeue(Duration::from_millis(500))),
        Ok(Verdict::Valid) => {
            patch_status(
                &ctx,
                &ch,
                json!({"state": "valid", "reason": "Successfully authorized domain"}),
            )
            .await?;
            ctx.recorder
                .publish(
                    &*ch,
                    EventType::Normal,
                    "DomainVerified",
                    &format!(
                        "Domain {:?} verified with {:?} validation",
                        ch.spec.dns_name,
                        kind.to_ascii_lowercase()
                    ),
                )
                .await;
            Ok(Action::requeue(Duration::from_millis(10)))
        }
        Ok(Verdict::Invalid(reason)) => {
            patch_status(&ctx, &ch, json!({"state": "invalid", "reason": reason})).await?;
            ctx.recorder
                .publish(&*ch, EventType::Warning, "Failed", &reason)
                .await;
            Ok(Action::requeue(Duration::from_millis(10)))
        }
        Err(e) => {
            if status.reason.as_deref() != Some(e.as_str()) && !accepted {
                patch_status(&ctx, &ch, json!({"reason": e})).await?;
            }
            Ok(Action::requeue(jittered(Duration::from_secs(5))))
        }
    }
}

/// The Challenge's `certmanager_certificate_challenge_status` series, as it is now.
fn record_metrics(ctx: &Context, ch: &Challenge) {
    let status = ch.status.clone().unwrap_or_default();
    let state = status
        .state
        .map(crate::issuers::acme::requests::state_str)
        .unwrap_or_default();
    ctx.metrics.set_challenge(
        &ch.namespace().unwrap_or_default(),
        &ch.name_any(),
        metrics::ChallengeSeries {
            state: state.to_string(),
            domain: ch.spec.dns_name.clone(),
            reason: status.reason.unwrap_or_default(),
            processing: status.processing.unwrap_or(false),
            type_: ch.spec.type_.as_str().to_string(),
        },
    );
}

/// `status.reason` once the CA was told, for people; what the controller reads is
/// `status.state` (see [`is_accepted`]).
pub const REASON_ACCEPTED: &str = "Waiting for the ACME server to validate the challenge";

/// Whether the CA was told the challenge is ready: its state is `processing` (a
/// challenge is scheduled as `pending` and told once, which makes it `processing`).
pub fn is_accepted(state: Option<State>) -> bool {
    state == Some(State::Processing)
}

fn error_policy(ch: Arc<Challenge>, error: &ChallengeError, ctx: Arc<Context>) -> Action {
    ctx.metrics.inc(
        metrics::SYNC_ERRORS,
        vec![("controller", "challenges".into())],
    );
    crate::runtime::reconcile::log_reconcile_error("challenges", &ch.name_any(), error);
    Action::requeue(jittered(Duration::from_secs(5)))
}

/// Runs the Challenge controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let challenges: Api<Challenge> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    crate::runtime::reconcile::lean_controller(challenges, &ctx.config.shards)
        .with_config(
            kube::runtime::controller::Config::default()
                .concurrency(ctx.config.max_concurrent_reconciles),
        )
        .graceful_shutdown_on(shutdown)
        .run_sharded(ctx.config.shards.clone(), reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}
