//! The Ingress shim: an Ingress annotated for cert-manager becomes Certificates (one
//! per `tls[]` Secret), built by the shared intent builder and owned by the Ingress.

use futures::StreamExt;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

use crate::api::Certificate;
use crate::certificates::intent::{self, Defaults, Plan, Source, SourceKind, TlsBlock};
use crate::controller::Context;
use crate::controller::events::EventType;
use crate::controller::owner_index::OwnerIndex;
use crate::metrics;

/// Why a source could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
}

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

/// An index of Certificates by owner for a shim: the builder compares metadata and
/// spec only, so status is not kept. A Certificate is filed under its controlling
/// owner and under the source its `certgate.io/owner-uid` label names (a Gateway's
/// Certificate in another namespace, where no ownerReference can point).
pub fn certificate_index() -> OwnerIndex<Certificate> {
    OwnerIndex::with_owners(|c| c.status = None, intent::owner_uids)
}

/// What the shims share: the context and the Certificates each source owns.
pub struct ShimContext {
    pub ctx: Arc<Context>,
    pub certificates: Arc<OwnerIndex<Certificate>>,
    pub defaults: Defaults,
}

/// Carries out a plan: creates, updates and deletes Certificates, and records the
/// events on the source.
pub async fn apply_plan<K>(shim: &ShimContext, source: &K, plan: Plan) -> Result<(), ShimError>
where
    K: Resource<DynamicType = ()>,
{
    let client = shim.ctx.client.clone();
    for c in plan.create {
        let ns = c.namespace().unwrap_or_default();
        match Api::<Certificate>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &c)
            .await
        {
            Ok(created) => shim.certificates.apply(&watcher::Event::Apply(created)),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    for mut c in plan.update {
        let ns = c.namespace().unwrap_or_default();
        let api = Api::<Certificate>::namespaced(client.clone(), &ns);
        let Some(current) = api.get_opt(&c.name_any()).await? else {
            continue;
        };
        c.metadata.resource_version = current.metadata.resource_version.clone();
        c.status = None;
        match api.replace(&c.name_any(), &PostParams::default(), &c).await {
            Ok(updated) => shim.certificates.apply(&watcher::Event::Apply(updated)),
            // Changed meanwhile: the watch brings it back here.
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    for k in plan.delete {
        match Api::<Certificate>::namespaced(client.clone(), &k.namespace)
            .delete(&k.name, &DeleteParams::background())
            .await
        {
            Ok(_) => shim.certificates.forget(&k.namespace, &k.name),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                shim.certificates.forget(&k.namespace, &k.name)
            }
            Err(e) => return Err(e.into()),
        }
    }
    for e in plan.events {
        let t = match e.type_ {
            intent::EventType::Normal => EventType::Normal,
            intent::EventType::Warning => EventType::Warning,
        };
        shim.ctx
            .recorder
            .publish(source, t, e.reason, &e.message)
            .await;
    }
    Ok(())
}

/// The Certificates a plan may collide with: same names, not owned by the source.
pub async fn others(shim: &ShimContext, src: &Source) -> Result<Vec<Certificate>, ShimError> {
    let mut out = Vec::new();
    for block in &src.tls {
        let ns = block
            .secret_namespace
            .clone()
            .unwrap_or_else(|| src.namespace.clone());
        if block.secret_name.is_empty() {
            continue;
        }
        if let Some(c) = Api::<Certificate>::namespaced(shim.ctx.client.clone(), &ns)
            .get_opt(&block.secret_name)
            .await?
            && !intent::is_owned_by(&c, &src.uid)
        {
            out.push(c);
        }
    }
    Ok(out)
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
    crate::controller::log_reconcile_error("ingress-shim", &obj.name_any(), error);
    Action::requeue(Duration::from_secs(5))
}

/// Runs the Ingress shim until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    certificates: Arc<crate::controller::SharedCertificates>,
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
    crate::controller::lean_controller(ingresses)
        .owns_shared_stream(certificates.watch.touched())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, shim)
        .for_each(|_| futures::future::ready(()))
        .await;
}
