//! The Ingress shim: an Ingress annotated for cert-manager becomes Certificates (one
//! per `tls[]` Secret), built by the shared intent builder and owned by the Ingress.

use crate::runtime::reconcile::ShardedRun;
use futures::StreamExt;
use k8s_openapi::api::networking::v1::Ingress;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use std::sync::Arc;
use std::time::Duration;

use crate::api::Certificate;
use crate::intent::apply::{ShimContext, ShimError, apply_plan, others};
use crate::intent::{self, Defaults, Source, SourceKind, TlsBlock};
use crate::metrics;
use crate::runtime::Context;

/// The intent builder's view of an Ingress.
pub fn source(ing: &Ingress) -> Source {
    let tls = ing
        .spec
        .as_ref()
        .and_then(|s| s.tls.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t| TlsBlock {
            hosts: t.hosts.unwrap_or_default(),
            secret_name: t.secret_name.unwrap_or_default(),
            ..Default::default()
        })
        .collect();
    Source {
        kind: SourceKind::Ingress,
        api_version: "networking.k8s.io/v1".to_string(),
        name: ing.name_any(),
        namespace: ing.namespace().unwrap_or_default(),
        uid: ing.uid().unwrap_or_default(),
        annotations: ing.annotations().clone(),
        labels: ing.labels().clone(),
        tls,
        http01_parent: None,
    }
}

async fn reconcile(ing: Arc<Ingress>, shim: Arc<ShimContext>) -> Result<Action, ShimError> {
    shim.ctx.metrics.inc(
        metrics::SYNC_CALLS,
        vec![("controller", "ingress-shim".into())],
    );
    let src = source(&ing);
    let existing: Vec<Certificate> = shim
        .certificates
        .owned_by(&src.uid)
        .iter()
        .map(|c| (**c).clone())
        .collect();
    let others = others(&shim, &src).await?;
    let plan = intent::build(&src, &shim.defaults, &existing, &others);
    apply_plan(&shim, ing.as_ref(), plan).await?;
    Ok(Action::requeue(Duration::from_secs(3600)))
}

fn error_policy(obj: Arc<Ingress>, error: &ShimError, shim: Arc<ShimContext>) -> Action {
    shim.ctx.metrics.inc(
        metrics::SYNC_ERRORS,
        vec![("controller", "ingress-shim".into())],
    );
    crate::runtime::reconcile::log_reconcile_error("ingress-shim", &obj.name_any(), error);
    Action::requeue(Duration::from_secs(5))
}

/// Runs the Ingress shim until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    certificates: Arc<crate::runtime::shared_certificates::SharedCertificates>,
    defaults: Defaults,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ingresses: Api<Ingress> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    // The process's one Certificate watch keeps the index by source up to date.
    let shim = Arc::new(ShimContext {
        ctx: ctx.clone(),
        certificates: certificates.by_source.clone(),
        defaults,
    });
    crate::runtime::reconcile::lean_controller(ingresses, &ctx.config.shards)
        .owns_shared_stream(certificates.watch.touched())
        // At most `max_concurrent_reconciles` Ingresses at once (see the Gateway shim).
        .with_config(
            kube::runtime::controller::Config::default()
                .concurrency(ctx.config.max_concurrent_reconciles),
        )
        .graceful_shutdown_on(shutdown)
        .run_sharded(ctx.config.shards.clone(), reconcile, error_policy, shim)
        .for_each(|_| futures::future::ready(()))
        .await;
}
