//! Carrying out a [`Plan`] against the API server: create, update, delete the
//! Certificates and record the plan's events on the source; and finding the
//! Certificates of the intended names that the source does not own. The only
//! writes the shims make go through here.

use std::sync::Arc;

use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::api::Certificate;
use crate::intent::{self, Defaults, Plan, Source};
use crate::runtime::Context;
use crate::runtime::events::EventType;
use crate::runtime::owner_index::OwnerIndex;

/// Why a source could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
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
