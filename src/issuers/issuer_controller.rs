//! Issuer and ClusterIssuer controllers: keep the Ready condition current, and look
//! again whenever the Secret an issuer uses changes.

use crate::runtime::reconcile::ShardedRun;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::api::conditions;
use crate::api::meta::{Condition, ConditionStatus};
use crate::api::{ClusterIssuer, Issuer, IssuerConfig};
use crate::issuers::Context;
use crate::issuers::readiness;
use crate::metrics;

/// Why an issuer could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
}

async fn secret_data(
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, IssuerError> {
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await?;
    Ok(secret.map(|s| {
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    }))
}

/// The new conditions, when they differ from `current`.
async fn next_conditions(
    ctx: &Context,
    config: &IssuerConfig,
    secret_ns: &str,
    current: Option<&Vec<Condition>>,
    generation: Option<i64>,
) -> Result<(Option<Vec<Condition>>, readiness::IssuerReady), IssuerError> {
    let data = match readiness::secret_needed(config) {
        Some(name) => secret_data(ctx, secret_ns, name).await?,
        None => None,
    };
    let r = readiness::evaluate(config, secret_ns, data.as_ref());
    let mut list = current.cloned().unwrap_or_default();
    let changed = conditions::set(
        &mut list,
        "Ready",
        r.status,
        &r.reason,
        &r.message,
        ctx.now(),
        generation,
    );
    Ok((changed.then_some(list), r))
}

fn status_str(s: ConditionStatus) -> &'static str {
    match s {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}

/// An ACME issuer's readiness: its account registered (or why not), and the
/// `status.acme` to record.
async fn acme_ready(
    ctx: &Context,
    issuer_key: &str,
    acme: &crate::api::AcmeIssuer,
    secret_ns: &str,
    current: Option<&crate::api::acme::AcmeIssuerStatus>,
) -> (
    readiness::IssuerReady,
    Option<crate::api::acme::AcmeIssuerStatus>,
) {
    use crate::issuers::acme::account;
    let req = account::AccountRequest {
        issuer_key,
        acme,
        secret_namespace: secret_ns,
        metrics: Some(ctx.metrics.clone()),
    };
    match account::ensure(&ctx.client, &ctx.acme.accounts, &req).await {
        Ok(r) => {
            let next = crate::api::acme::AcmeIssuerStatus {
                uri: Some(r.account.url().to_string()),
                last_registered_email: r.email.clone(),
                last_private_key_hash: Some(r.key_hash.clone()),
            };
            (
                readiness::IssuerReady {
                    status: ConditionStatus::True,
                    reason: account::REASON_REGISTERED.into(),
                    message: account::MESSAGE_REGISTERED.into(),
                },
                (Some(&next) != current).then_some(next),
            )
        }
        Err(e) => (
            readiness::IssuerReady {
                status: ConditionStatus::False,
                reason: e.reason().into(),
                message: e.to_string(),
            },
            None,
        ),
    }
}

/// A Vault issuer's readiness: its settings, a token, and Vault unsealed
/// (cert-manager's `VaultVerified` / `VaultError`).
async fn vault_ready(
    ctx: &Context,
    identity: &crate::issuers::vault::IssuerIdentity,
    vault: &crate::api::issuer::VaultIssuer,
) -> readiness::IssuerReady {
    use crate::issuers::vault;
    let verdict = match vault::Vault::connect(
        &ctx.client,
        identity,
        vault,
        &ctx.vault,
        ctx.vault_tokens.clone(),
    )
    .await
    {
        Ok(v) => v.verify().await,
        Err(vault::VaultError::Config(m)) if vault::spec::check(vault).is_err() => Err(m),
        Err(e) => Err(format!("{}: {e}", vault::MESSAGE_CLIENT_INIT_FAILED)),
    };
    match verdict {
        Ok(()) => readiness::IssuerReady {
            status: ConditionStatus::True,
            reason: vault::REASON_VERIFIED.into(),
            message: vault::MESSAGE_VERIFIED.into(),
        },
        Err(message) => readiness::IssuerReady {
            status: ConditionStatus::False,
            reason: vault::REASON_ERROR.into(),
            message,
        },
    }
}

/// A Vault issuer's identity: an Issuer in `resource_ns`, or a ClusterIssuer whose
/// Secrets are in `resource_ns` (the cluster resource namespace).
pub fn vault_identity(
    cluster: bool,
    name: &str,
    resource_ns: &str,
) -> crate::issuers::vault::IssuerIdentity {
    let (key, namespace) = if cluster {
        (format!("ClusterIssuer/{name}"), String::new())
    } else {
        (
            format!("Issuer/{resource_ns}/{name}"),
            resource_ns.to_string(),
        )
    };
    crate::issuers::vault::IssuerIdentity {
        key,
        namespace,
        name: name.to_string(),
        resource_namespace: resource_ns.to_string(),
    }
}

/// Brings an issuer's Ready condition up to date (one write, only when it changed).
#[allow(clippy::too_many_arguments)]
async fn sync_ready<K>(
    ctx: &Context,
    api: Api<K>,
    meta: &kube::api::ObjectMeta,
    issuer_key: &str,
    config: &IssuerConfig,
    secret_ns: &str,
    status: Option<&crate::api::IssuerStatus>,
) -> Result<readiness::IssuerReady, IssuerError>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = meta.name.as_deref().unwrap_or_default();
    let generation = meta.generation;
    let current = status.and_then(|s| s.conditions.as_ref());
    if let Some(vault) = &config.vault {
        let cluster = K::kind(&()) == "ClusterIssuer";
        let identity = vault_identity(cluster, name, secret_ns);
        let r = vault_ready(ctx, &identity, vault).await;
        let mut list = current.cloned().unwrap_or_default();
        if conditions::set(
            &mut list,
            "Ready",
            r.status,
            &r.reason,
            &r.message,
            ctx.now(),
            generation,
        ) {
            api.patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"conditions": list}})),
            )
            .await?;
        }
        return Ok(r);
    }
    if let Some(acme) = &config.acme {
        let (r, acme_status) = acme_ready(
            ctx,
            issuer_key,
            acme,
            secret_ns,
            status.and_then(|s| s.acme.as_ref()),
        )
        .await;
        // certgate's TLS-ALPN-01 solvers (an annotation no schema can check).
        let tls_alpn = crate::tlsalpn01::solvers::from_issuer_annotations(
            meta.annotations.as_ref().unwrap_or(&Default::default()),
        );
        let r = match tls_alpn {
            Err(e) if r.status == ConditionStatus::True => readiness::IssuerReady {
                status: ConditionStatus::False,
                reason: crate::tlsalpn01::solvers::REASON_INVALID.into(),
                message: e.to_string(),
            },
            _ => r,
        };
        let mut list = current.cloned().unwrap_or_default();
        let changed = conditions::set(
            &mut list,
            "Ready",
            r.status,
            &r.reason,
            &r.message,
            ctx.now(),
            generation,
        );
        if changed || acme_status.is_some() {
            let mut st = json!({"conditions": list});
            if let Some(a) = acme_status {
                st["acme"] = serde_json::to_value(a).unwrap_or_default();
            }
            api.patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": st })),
            )
            .await?;
        }
        return Ok(r);
    }
    let (next, r) = next_conditions(ctx, config, secret_ns, current, generation).await?;
    if let Some(list) = next {
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": list}})),
        )
        .await?;
    }
    Ok(r)
}

async fn reconcile_issuer(issuer: Arc<Issuer>, ctx: Arc<Context>) -> Result<Action, IssuerError> {
    ctx.metrics
        .inc(metrics::SYNC_CALLS, vec![("controller", "issuers".into())]);
    let ns = issuer.namespace().unwrap_or_default();
    let api = Api::<Issuer>::namespaced(ctx.client.clone(), &ns);
    let key = format!("Issuer/{ns}/{}", issuer.name_any());
    let r = sync_ready(
        &ctx,
        api,
        &issuer.metadata,
        &key,
        &issuer.spec.config,
        &ns,
        issuer.status.as_ref(),
    )
    .await?;
    ctx.metrics.set_condition(
        metrics::ISSUER_READY,
        vec![("name", issuer.name_any()), ("namespace", ns)],
        status_str(r.status),
    );
    Ok(Action::requeue(if r.status == ConditionStatus::True {
        Duration::from_secs(600)
    } else {
        crate::issuers::acme::jittered(Duration::from_secs(30))
    }))
}

async fn reconcile_cluster_issuer(
    issuer: Arc<ClusterIssuer>,
    ctx: Arc<Context>,
) -> Result<Action, IssuerError> {
    ctx.metrics.inc(
        metrics::SYNC_CALLS,
        vec![("controller", "clusterissuers".into())],
    );
    let ns = ctx.config.cluster_resource_namespace.clone();
    let api = Api::<ClusterIssuer>::all(ctx.client.clone());
    let key = format!("Issuer/{ns}/{}", issuer.name_any());
    let r = sync_ready(
        &ctx,
        api,
        &issuer.metadata,
        &key,
        &issuer.spec.config,
        &ns,
        issuer.status.as_ref(),
    )
    .await?;
    ctx.metrics.set_condition(
        metrics::CLUSTER_ISSUER_READY,
        vec![("name", issuer.name_any())],
        status_str(r.status),
    );
    Ok(Action::requeue(if r.status == ConditionStatus::True {
        Duration::from_secs(600)
    } else {
        crate::issuers::acme::jittered(Duration::from_secs(30))
    }))
}

fn error_policy<K: kube::Resource>(obj: Arc<K>, error: &IssuerError, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .inc(metrics::SYNC_ERRORS, vec![("controller", "issuers".into())]);
    crate::runtime::reconcile::log_reconcile_error("issuers", &obj.name_any(), error);
    Action::requeue(Duration::from_secs(5))
}

/// Runs the Issuer controller until `shutdown` resolves.
pub async fn run_issuers(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (issuers, secrets): (Api<Issuer>, Api<PartialObjectMeta<Secret>>) =
        match &ctx.config.namespace {
            Some(ns) => (
                Api::namespaced(ctx.client.clone(), ns),
                Api::namespaced(ctx.client.clone(), ns),
            ),
            None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
        };
    let controller = crate::runtime::reconcile::lean_controller(issuers, &ctx.config.shards);
    let store = controller.store();
    controller
        .watches_stream(
            watcher(secrets, crate::runtime::reconcile::secret_metadata_watch()).touched_objects(),
            move |s| {
                let (ns, name) = (s.namespace().unwrap_or_default(), s.name_any());
                store
                    .state()
                    .into_iter()
                    .filter(|i| i.namespace().as_deref() == Some(ns.as_str()))
                    .filter(|i| readiness::uses_secret(&i.spec.config, &name))
                    .map(|i| ObjectRef::from_obj(&*i))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run_sharded(
            ctx.config.shards.clone(),
            reconcile_issuer,
            error_policy,
            ctx,
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Runs the ClusterIssuer controller until `shutdown` resolves.
pub async fn run_cluster_issuers(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let issuers: Api<ClusterIssuer> = Api::all(ctx.client.clone());
    let secrets: Api<PartialObjectMeta<Secret>> =
        Api::namespaced(ctx.client.clone(), &ctx.config.cluster_resource_namespace);
    let selected = match &ctx.cluster_issuer_selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let controller = crate::runtime::reconcile::lean_controller_selected(
        issuers,
        &crate::runtime::shards::Shards::all(),
        selected,
    );
    let store = controller.store();
    controller
        .watches_stream(
            watcher(secrets, crate::runtime::reconcile::secret_metadata_watch()).touched_objects(),
            move |s| {
                let name = s.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|i| readiness::uses_secret(&i.spec.config, &name))
                    .map(|i| ObjectRef::from_obj(&*i))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile_cluster_issuer, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}
