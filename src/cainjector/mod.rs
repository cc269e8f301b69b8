//! The CA injector, in place of cert-manager's cainjector: fills the CA bundle of
//! ValidatingWebhookConfigurations, MutatingWebhookConfigurations, APIServices and
//! CustomResourceDefinitions (conversion webhooks) annotated
//! `cert-manager.io/inject-ca-from`, `cert-manager.io/inject-ca-from-secret` or
//! `cert-manager.io/inject-apiserver-ca`, and keeps it up to date as the source changes.
//!
//! One controller per target kind watches its targets; Certificates and Secret
//! metadata in scope are watched too, and a change of one reconciles the targets that
//! name it. Sources are read on demand (a Secret's data only when a target names it).
//! A target is patched only where its bundle differs. A namespace-scoped controller
//! (`ControllerConfig::namespace`) acts only for targets whose source is in its
//! namespace (and for `inject-apiserver-ca`, the same bundle for every controller).
//! A source that is missing or refuses injection is reported by a Warning event on
//! the target (and a warn log naming it).

pub mod desired;

use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

use crate::api::Certificate;
use crate::api::annotations::CERTIFICATE_NAME;
use crate::metrics;
use crate::runtime::Context;
use crate::runtime::events::EventType;
use desired::{NamespacedName, SecretSnapshot, Source, SourceSnapshot, TargetKind};

/// The field manager of the injector's patches.
pub const FIELD_MANAGER: &str = "certgate-cainjector";

/// The service account CA file of a pod (the API server's CA, preferred when present).
pub const SERVICE_ACCOUNT_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// The ConfigMap with the cluster's CA in every namespace.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// How often targets of `inject-apiserver-ca` are checked again (the CA is read, not watched).
const APISERVER_CA_RECHECK: Duration = Duration::from_secs(600);

/// A failed reconcile of a target (retried).
#[derive(Debug, thiserror::Error)]
pub enum InjectorError {
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("patching the CA bundle of {target}: {source}")]
    Patch {
        target: String,
        #[source]
        source: kube::Error,
    },
    #[error("encoding {target}: {source}")]
    Encode {
        target: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A change of a source object in scope.
#[derive(Debug, Clone)]
enum SourceChange {
    Certificate(NamespacedName),
    Secret {
        secret: NamespacedName,
        /// Its `cert-manager.io/certificate-name`.
        certificate: Option<String>,
    },
    /// Changes were missed: reconcile every target.
    Lagged,
}

/// A kind the injector writes CA bundles into.
trait Injectable:
    Resource<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    const KIND: TargetKind;

    /// Drops what the injector never reads before the object is cached.
    fn trim(&mut self) {}
}

impl Injectable for ValidatingWebhookConfiguration {
    const KIND: TargetKind = TargetKind::ValidatingWebhookConfiguration;
}

impl Injectable for MutatingWebhookConfiguration {
    const KIND: TargetKind = TargetKind::MutatingWebhookConfiguration;
}

impl Injectable for APIService {
    const KIND: TargetKind = TargetKind::ApiService;
}

impl Injectable for CustomResourceDefinition {
    const KIND: TargetKind = TargetKind::CustomResourceDefinition;

    /// Schemas are most of a CRD; only `spec.conversion` is read.
    fn trim(&mut self) {
        self.spec.versions.clear();
        self.status = None;
    }
}

struct InjectorContext {
    ctx: Arc<Context>,
}

/// Whether a controller scoped to `namespace` acts for `source`.
fn in_scope(namespace: Option<&str>, source: &Source) -> bool {
    match (namespace, source.namespace()) {
        (None, _) | (_, None) => true,
        (Some(ours), Some(theirs)) => ours == theirs,
    }
}

/// Whether a change of a source concerns a target with these annotations.
fn concerns(
    annotations: &std::collections::BTreeMap<String, String>,
    change: &SourceChange,
) -> bool {
    let Ok(Some(source)) = desired::source_of(annotations) else {
        return false;
    };
    match (&source, change) {
        (_, SourceChange::Lagged) => true,
        (Source::Certificate(c), SourceChange::Certificate(changed)) => c == changed,
        (
            Source::Certificate(c),
            SourceChange::Secret {
                secret,
                certificate,
            },
        ) => secret.namespace == c.namespace && certificate.as_deref() == Some(c.name.as_str()),
        (Source::Secret(s), SourceChange::Secret { secret, .. }) => s == secret,
        _ => false,
    }
}

/// Runs the CA injector until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    certificates: Arc<crate::runtime::shared_certificates::SharedCertificates>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (changes, _) = broadcast::channel::<SourceChange>(1024);
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let secrets: Api<PartialObjectMeta<Secret>> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    // Certificates come from the process's one Certificate watch.
    let certificate_changes = {
        let changes = changes.clone();
        certificates.watch.touched().for_each(move |c| {
            let _ = changes.send(SourceChange::Certificate(NamespacedName {
                namespace: c.namespace().unwrap_or_default(),
                name: c.name_any(),
            }));
            futures::future::ready(())
        })
    };
    let secret_changes = {
        let changes = changes.clone();
        watcher(secrets, crate::runtime::reconcile::secret_metadata_watch())
            .default_backoff()
            .touched_objects()
            .for_each(move |s| {
                match s {
                    Ok(s) => {
                        let _ = changes.send(SourceChange::Secret {
                            secret: NamespacedName {
                                namespace: s.namespace().unwrap_or_default(),
                                name: s.name_any(),
                            },
                            certificate: s.annotations().get(CERTIFICATE_NAME).cloned(),
                        });
                    }
                    Err(error) => tracing::warn!(%error, "CA injector: watching Secrets"),
                }
                futures::future::ready(())
            })
    };
    let watches = async {
        tokio::join!(certificate_changes, secret_changes);
    };
    let cx = Arc::new(InjectorContext { ctx });
    let controllers = async {
        tokio::join!(
            run_kind::<ValidatingWebhookConfiguration>(cx.clone(), &changes, shutdown.clone()),
            run_kind::<MutatingWebhookConfiguration>(cx.clone(), &changes, shutdown.clone()),
            run_kind::<APIService>(cx.clone(), &changes, shutdown.clone()),
            run_kind::<CustomResourceDefinition>(cx.clone(), &changes, shutdown.clone()),
        );
    };
    // The source watches never end on their own: stop them with the controllers.
    tokio::select! {
        _ = controllers => {}
        _ = watches => {}
    }
}

/// The targets of kind `K` in `store` a source change concerns.
fn affected<K: Injectable>(store: &Store<K>, change: &SourceChange) -> Vec<ObjectRef<K>> {
    store
        .state()
        .iter()
        .filter(|t| concerns(t.annotations(), change))
        .map(|t| ObjectRef::from_obj(&**t))
        .collect()
}

async fn run_kind<K: Injectable>(
    cx: Arc<InjectorContext>,
    changes: &broadcast::Sender<SourceChange>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<K> = Api::all(cx.ctx.client.clone());
    let controller = crate::runtime::reconcile::lean_controller_with(
        api,
        &crate::runtime::shards::Shards::all(),
        K::trim,
    );
    let store = controller.store();
    let triggers = futures::stream::unfold(changes.subscribe(), |mut rx| async move {
        match rx.recv().await {
            Ok(change) => Some((change, rx)),
            Err(broadcast::error::RecvError::Lagged(_)) => Some((SourceChange::Lagged, rx)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
    .flat_map(move |change| futures::stream::iter(affected(&store, &change)));
    controller
        .reconcile_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, cx)
        .for_each(|r| {
            // Reconcile errors are logged by the error policy; a failing watch here.
            if let Err(kube::runtime::controller::Error::QueueError(error)) = r {
                tracing::warn!(%error, kind = %K::kind(&()), "CA injector: watching targets");
            }
            futures::future::ready(())
        })
        .await;
}

fn target_name<K: Injectable>(obj: &K) -> String {
    format!("{} {}", K::kind(&()), obj.name_any())
}

async fn reconcile<K: Injectable>(
    obj: Arc<K>,
    cx: Arc<InjectorContext>,
) -> Result<Action, InjectorError> {
    let ctx = &cx.ctx;
    if obj.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let scope = ctx.config.namespace.as_deref();
    let source = match desired::source_of(obj.annotations()) {
        Ok(None) => return Ok(Action::await_change()),
        Ok(Some(source)) if in_scope(scope, &source) => source,
        Ok(Some(_)) => {
            tracing::debug!(target = %target_name(&*obj), "CA source out of this controller's namespace");
            return Ok(Action::await_change());
        }
        Err(why) => {
            // A scoped controller cannot tell whose target this is: the unscoped one reports it.
            if scope.is_none() {
                ctx.recorder
                    .publish(&*obj, EventType::Warning, why.reason(), &why.to_string())
                    .await;
            }
            return Ok(Action::await_change());
        }
    };
    ctx.metrics.inc(
        metrics::SYNC_CALLS,
        vec![("controller", "cainjector".into())],
    );
    let snapshot = read_source(ctx, &source).await?;
    let next = match source {
        Source::ApiServer => Action::requeue(APISERVER_CA_RECHECK),
        _ => Action::await_change(),
    };
    let target = serde_json::to_value(&*obj).map_err(|source| InjectorError::Encode {
        target: target_name(&*obj),
        source,
    })?;
    match desired::desired_patch(K::KIND, &target, &source, &snapshot) {
        Ok(None) => {
            tracing::debug!(target = %target_name(&*obj), "CA bundle up to date");
        }
        Ok(Some(patch)) => {
            let patch: json_patch::Patch =
                serde_json::from_value(patch).map_err(|source| InjectorError::Encode {
                    target: target_name(&*obj),
                    source,
                })?;
            let api: Api<K> = Api::all(ctx.client.clone());
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            api.patch(&obj.name_any(), &params, &Patch::<()>::Json(patch))
                .await
                .map_err(|source| InjectorError::Patch {
                    target: target_name(&*obj),
                    source,
                })?;
            tracing::info!(target = %target_name(&*obj), source = ?source, "injected the CA bundle");
        }
        Err(why) => {
            ctx.recorder
                .publish(&*obj, EventType::Warning, why.reason(), &why.to_string())
                .await;
        }
    }
    Ok(next)
}

fn error_policy<K: Injectable>(
    obj: Arc<K>,
    error: &InjectorError,
    cx: Arc<InjectorContext>,
) -> Action {
    cx.ctx.metrics.inc(
        metrics::SYNC_ERRORS,
        vec![("controller", "cainjector".into())],
    );
    crate::runtime::reconcile::log_reconcile_error("cainjector", &target_name(&*obj), error);
    // A failed resourceVersion test (the cache was behind) is retried soon.
    Action::requeue(Duration::from_secs(2))
}

fn secret_snapshot(secret: Secret) -> SecretSnapshot {
    SecretSnapshot {
        annotations: secret.metadata.annotations.unwrap_or_default(),
        ca: secret
            .data
            .and_then(|mut d| d.remove(crate::api::annotations::CA_CRT))
            .map(|b| b.0),
    }
}

async fn get_secret(ctx: &Context, name: &NamespacedName) -> Result<Option<Secret>, InjectorError> {
    Api::<Secret>::namespaced(ctx.client.clone(), &name.namespace)
        .get_opt(&name.name)
        .await
        .map_err(|source| InjectorError::Read {
            what: format!("Secret {name}"),
            source,
        })
}

/// Reads what `source` is now.
async fn read_source(ctx: &Context, source: &Source) -> Result<SourceSnapshot, InjectorError> {
    match source {
        Source::Certificate(name) => {
            let certificate = Api::<Certificate>::namespaced(ctx.client.clone(), &name.namespace)
                .get_opt(&name.name)
                .await
                .map_err(|source| InjectorError::Read {
                    what: format!("Certificate {name}"),
                    source,
                })?;
            let Some(certificate) = certificate else {
                return Ok(SourceSnapshot::Certificate {
                    secret_name: None,
                    secret: None,
                });
            };
            let secret_name = certificate.spec.secret_name;
            let secret = get_secret(
                ctx,
                &NamespacedName {
                    namespace: name.namespace.clone(),
                    name: secret_name.clone(),
                },
            )
            .await?;
            Ok(SourceSnapshot::Certificate {
                secret_name: Some(secret_name),
                secret: secret.map(secret_snapshot),
            })
        }
        Source::Secret(name) => Ok(SourceSnapshot::Secret(
            get_secret(ctx, name).await?.map(secret_snapshot),
        )),
        Source::ApiServer => Ok(SourceSnapshot::ApiServer(apiserver_ca(ctx).await?)),
    }
}

/// The API server's CA: the pod's service account CA file when present, else the
/// `kube-root-ca.crt` ConfigMap of the cluster resource namespace.
async fn apiserver_ca(ctx: &Context) -> Result<Result<Vec<u8>, String>, InjectorError> {
    if let Ok(ca) = tokio::fs::read(SERVICE_ACCOUNT_CA).await {
        return Ok(Ok(ca));
    }
    let namespace = &ctx.config.cluster_resource_namespace;
    let configmap = Api::<ConfigMap>::namespaced(ctx.client.clone(), namespace)
        .get_opt(ROOT_CA_CONFIGMAP)
        .await
        .map_err(|source| InjectorError::Read {
            what: format!("ConfigMap {namespace}/{ROOT_CA_CONFIGMAP}"),
            source,
        })?;
    Ok(match configmap {
        None => Err(format!(
            "neither {SERVICE_ACCOUNT_CA} nor ConfigMap {namespace}/{ROOT_CA_CONFIGMAP} exists"
        )),
        Some(cm) => cm
            .data
            .and_then(|mut d| d.remove("ca.crt"))
            .map(String::into_bytes)
            .ok_or_else(|| format!("ConfigMap {namespace}/{ROOT_CA_CONFIGMAP} has no ca.crt")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::annotations::{INJECT_APISERVER_CA, INJECT_CA_FROM, INJECT_CA_FROM_SECRET};
    use std::collections::BTreeMap;

    fn nn(s: &str) -> NamespacedName {
        NamespacedName::parse(s).unwrap()
    }

    fn a(k: &str, v: &str) -> BTreeMap<String, String> {
        [(k.to_string(), v.to_string())].into()
    }

    #[test]
    fn a_scoped_controller_acts_only_for_sources_in_its_namespace() {
        let cases = [
            (None, Source::Certificate(nn("a/c")), true),
            (Some("a"), Source::Certificate(nn("a/c")), true),
            (Some("b"), Source::Certificate(nn("a/c")), false),
            (Some("b"), Source::Secret(nn("a/s")), false),
            (Some("a"), Source::Secret(nn("a/s")), true),
            (Some("b"), Source::ApiServer, true),
        ];
        for (scope, source, want) in cases {
            assert_eq!(in_scope(scope, &source), want, "{scope:?} {source:?}");
        }
    }

    #[test]
    fn source_changes_reach_the_targets_that_name_them() {
        let secret = |s: &str, c: Option<&str>| SourceChange::Secret {
            secret: nn(s),
            certificate: c.map(str::to_string),
        };
        let from_cert = a(INJECT_CA_FROM, "ns/ca");
        let from_secret = a(INJECT_CA_FROM_SECRET, "ns/s");
        let apiserver = a(INJECT_APISERVER_CA, "true");
        let cases = [
            (&from_cert, SourceChange::Certificate(nn("ns/ca")), true),
            (&from_cert, SourceChange::Certificate(nn("other/ca")), false),
            (&from_cert, secret("ns/ca-tls", Some("ca")), true),
            (&from_cert, secret("ns/ca-tls", None), false),
            (&from_cert, secret("other/ca-tls", Some("ca")), false),
            (&from_secret, secret("ns/s", None), true),
            (&from_secret, secret("ns/t", None), false),
            (&from_secret, SourceChange::Certificate(nn("ns/s")), false),
            (&apiserver, secret("ns/s", None), false),
            (&apiserver, SourceChange::Lagged, true),
            (&BTreeMap::new(), SourceChange::Lagged, false),
        ];
        for (annotations, change, want) in cases {
            assert_eq!(
                concerns(annotations, &change),
                want,
                "{annotations:?} {change:?}"
            );
        }
    }
}
