//! Gateway API first: the HTTPS/TLS listeners of Gateways and ListenerSets annotated
//! for cert-manager become Certificates through the shared intent builder. On by
//! default: certgate waits quietly until the Gateway API CRDs are served.

pub mod listeners;
pub mod types;

use futures::StreamExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Certificate, ClusterIssuer, Issuer};
use crate::certificates::intent::{self, Defaults, Source, SourceKind, TlsBlock};
use crate::controller::Context;
use crate::controller::events::EventType;
use crate::ingress_shim::{ShimContext, ShimError, apply_plan, others};
use crate::metrics;
use types::{Gateway, Listener, ListenerSet, ReferenceGrant};

const GATEWAY_API: &str = "gateway.networking.k8s.io/v1";

/// Whether the API server serves `plural` in `gateway.networking.k8s.io/v1`.
pub async fn served(client: &kube::Client, plural: &str) -> bool {
    client
        .list_api_group_resources(GATEWAY_API)
        .await
        .is_ok_and(|l| l.resources.iter().any(|r| r.name == plural))
}

fn is_shim_annotation(k: &str) -> bool {
    k.starts_with("cert-manager.io/") || k.starts_with("acme.cert-manager.io/")
}

async fn reference_grants(ctx: &Context, ns: &str) -> Vec<ReferenceGrant> {
    Api::<ReferenceGrant>::namespaced(ctx.client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// The TLS blocks of listeners, with ReferenceGrants looked up where refs cross namespaces.
async fn listener_blocks(
    ctx: &Context,
    listeners: &[Listener],
    kind: &str,
    ns: &str,
) -> (Vec<TlsBlock>, Vec<listeners::Skipped>) {
    let mut grants: BTreeMap<String, Vec<ReferenceGrant>> = BTreeMap::new();
    for l in listeners {
        for r in l.tls.iter().flat_map(|t| t.certificate_refs.iter()) {
            if let Some(target) = r.namespace.as_ref().filter(|t| t.as_str() != ns)
                && !grants.contains_key(target)
            {
                grants.insert(target.clone(), reference_grants(ctx, target).await);
            }
        }
    }
    listeners::blocks(listeners, kind, ns, &|target| {
        grants.get(target).cloned().unwrap_or_default()
    })
}

/// Warns when a wildcard hostname goes to an ACME issuer without a DNS-01 solver.
async fn wildcard_warnings(ctx: &Context, src: &Source) -> Vec<String> {
    let wild: Vec<&TlsBlock> = src
        .tls
        .iter()
        .filter(|b| b.hosts.iter().any(|h| h.starts_with("*.")))
        .collect();
    if wild.is_empty() {
        return Vec::new();
    }
    let (name, cluster) = match (
        src.annotations.get(crate::api::annotations::ISSUER),
        src.annotations.get(crate::api::annotations::CLUSTER_ISSUER),
    ) {
        (Some(n), _) => (n.clone(), false),
        (None, Some(n)) => (n.clone(), true),
        _ => return Vec::new(),
    };
    let config = if cluster {
        Api::<ClusterIssuer>::all(ctx.client.clone())
            .get_opt(&name)
            .await
            .ok()
            .flatten()
            .map(|i| i.spec.config)
    } else {
        Api::<Issuer>::namespaced(ctx.client.clone(), &src.namespace)
            .get_opt(&name)
            .await
            .ok()
            .flatten()
            .map(|i| i.spec.config)
    };
    let Some(acme) = config.and_then(|c| c.acme) else {
        return Vec::new();
    };
    if acme.solvers.iter().flatten().any(|s| s.dns01.is_some()) {
        return Vec::new();
    }
    wild.iter()
        .map(|b| {
            format!(
                "listener {:?} asks for {:?}: issuer {name:?} has no DNS-01 solver, and ACME validates wildcard names only with DNS-01",
                b.listener.clone().unwrap_or_default(),
                b.hosts.join(",")
            )
        })
        .collect()
}

async fn sync<K: Resource<DynamicType = ()>>(
    shim: &ShimContext,
    obj: &K,
    src: Source,
    skipped: Vec<listeners::Skipped>,
) -> Result<(), ShimError> {
    let managed = src.annotations.keys().any(|k| is_shim_annotation(k));
    let existing: Vec<Certificate> = shim
        .certificates
        .owned_by(&src.uid)
        .iter()
        .map(|c| (**c).clone())
        .collect();
    let others = others(shim, &src).await?;
    let plan = intent::build(&src, &shim.defaults, &existing, &others);
    if managed {
        for s in &skipped {
            shim.ctx
                .recorder
                .publish(
                    obj,
                    EventType::Normal,
                    "SkippedListener",
                    &format!("Skipped listener {:?}: {}", s.listener, s.reason),
                )
                .await;
        }
        for w in wildcard_warnings(&shim.ctx, &src).await {
            shim.ctx
                .recorder
                .publish(obj, EventType::Warning, "WildcardNeedsDNS01", &w)
                .await;
        }
    }
    apply_plan(shim, obj, plan).await
}

async fn reconcile_gateway(gw: Arc<Gateway>, shim: Arc<ShimContext>) -> Result<Action, ShimError> {
    shim.ctx.metrics.inc(
        metrics::SYNC_CALLS,
        vec![("controller", "gateway-shim".into())],
    );
    let ns = gw.namespace().unwrap_or_default();
    let (tls, skipped) = listener_blocks(&shim.ctx, &gw.spec.listeners, "Gateway", &ns).await;
    let src = Source {
        kind: SourceKind::Gateway,
        api_version: GATEWAY_API.to_string(),
        name: gw.name_any(),
        namespace: ns,
        uid: gw.uid().unwrap_or_default(),
        annotations: gw.annotations().clone(),
        labels: gw.labels().clone(),
        tls,
        http01_parent: None,
    };
    sync(&shim, gw.as_ref(), src, skipped).await?;
    Ok(Action::requeue(Duration::from_secs(3600)))
}

/// A ListenerSet's annotations: its own cert-manager ones, else its parent Gateway's.
pub fn effective_annotations(
    own: &BTreeMap<String, String>,
    parent: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    if own.keys().any(|k| is_shim_annotation(k)) {
        return own.clone();
    }
    let mut merged = own.clone();
    if let Some(p) = parent {
        merged.extend(
            p.iter()
                .filter(|(k, _)| is_shim_annotation(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    merged
}

async fn reconcile_listener_set(
    ls: Arc<ListenerSet>,
    shim: Arc<ShimContext>,
) -> Result<Action, ShimError> {
    shim.ctx.metrics.inc(
        metrics::SYNC_CALLS,
        vec![("controller", "listenerset-shim".into())],
    );
    let ns = ls.namespace().unwrap_or_default();
    let parent_ns = ls
        .spec
        .parent_ref
        .namespace
        .clone()
        .unwrap_or_else(|| ns.clone());
    let parent = Api::<Gateway>::namespaced(shim.ctx.client.clone(), &parent_ns)
        .get_opt(&ls.spec.parent_ref.name)
        .await?;
    let (tls, skipped) = listener_blocks(&shim.ctx, &ls.spec.listeners, "ListenerSet", &ns).await;
    let src = Source {
        kind: SourceKind::ListenerSet,
        api_version: GATEWAY_API.to_string(),
        name: ls.name_any(),
        namespace: ns,
        uid: ls.uid().unwrap_or_default(),
        annotations: effective_annotations(
            ls.annotations(),
            parent.as_ref().map(|p| p.annotations()),
        ),
        labels: ls.labels().clone(),
        tls,
        http01_parent: http01_parent(&ls, &parent_ns),
    };
    sync(&shim, ls.as_ref(), src, skipped).await?;
    Ok(Action::requeue(Duration::from_secs(3600)))
}

/// Where a ListenerSet's HTTP-01 solver routes attach: its parent Gateway when it
/// asks for that (`acme.cert-manager.io/http01-parentreffallback`, as cert-manager)
/// or when it has no plain HTTP listener of its own for the CA to reach; else the
/// ListenerSet itself (`None`).
pub fn http01_parent(ls: &ListenerSet, parent_ns: &str) -> Option<intent::Http01Parent> {
    let asked = ls
        .annotations()
        .get(crate::api::annotations::HTTP01_PARENTREF_FALLBACK)
        .is_some_and(|v| crate::gocompat::go_parse_bool(v));
    let has_http = ls.spec.listeners.iter().any(|l| l.protocol == "HTTP");
    (asked || !has_http).then(|| intent::Http01Parent {
        kind: "Gateway".to_string(),
        namespace: parent_ns.to_string(),
        name: ls.spec.parent_ref.name.clone(),
    })
}

fn error_policy<K: Resource>(obj: Arc<K>, error: &ShimError, shim: Arc<ShimContext>) -> Action {
    shim.ctx.metrics.inc(
        metrics::SYNC_ERRORS,
        vec![("controller", "gateway-shim".into())],
    );
    crate::controller::log_reconcile_error("gateway-shim", &obj.name_any(), error);
    Action::requeue(Duration::from_secs(5))
}

/// The Gateway (or ListenerSet: `kind`) a Certificate belongs to, as
/// `(namespace, name)`: its controlling ownerReference of that kind, or — for one in
/// another namespace, which no ownerReference can reach — its `certgate.io/owner`
/// annotation (`Kind/namespace/name`).
pub fn source_of(cert: &Certificate, kind: &str) -> Option<(String, String)> {
    let owned = cert
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == kind)
        .map(|o| (cert.namespace().unwrap_or_default(), o.name.clone()));
    owned.or_else(|| {
        let annotated = cert.annotations().get(intent::OWNER_ANNOTATION)?;
        let mut parts = annotated.splitn(3, '/');
        let (k, ns, name) = (parts.next()?, parts.next()?, parts.next()?);
        (k == kind).then(|| (ns.to_string(), name.to_string()))
    })
}

/// The cross-namespace Certificates of `kind` sources whose source is gone: labelled
/// with an owner uid that no live source has.
pub fn orphaned<'a>(
    certs: &'a [Certificate],
    kind: &str,
    live: &std::collections::HashSet<String>,
) -> Vec<&'a Certificate> {
    certs
        .iter()
        .filter(|c| source_of(c, kind).is_some())
        .filter(|c| {
            c.labels()
                .get(intent::OWNER_UID_LABEL)
                .is_some_and(|uid| !live.contains(uid))
        })
        .collect()
}

async fn delete_certificates<'a>(ctx: &Context, certs: impl IntoIterator<Item = &'a Certificate>) {
    for c in certs {
        let ns = c.namespace().unwrap_or_default();
        let _ = Api::<Certificate>::namespaced(ctx.client.clone(), &ns)
            .delete(&c.name_any(), &kube::api::DeleteParams::background())
            .await;
    }
}

/// Certificates made in another namespace (a ReferenceGrant'ed certificateRef) cannot
/// be owned by their source, so the garbage collector does not remove them: when the
/// source goes they are deleted here, found by their `certgate.io/owner-uid` label;
/// and each time the watch has listed every source (at start, after a restart or a
/// lost watch) the ones whose source went while nobody watched are swept.
async fn delete_cross_namespace_certificates<K>(
    ctx: Arc<Context>,
    mut events: tokio::sync::mpsc::UnboundedReceiver<watcher::Event<String>>,
    kind: &'static str,
) where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let labelled = || ListParams::default().labels(intent::OWNER_UID_LABEL);
    let mut live = std::collections::HashSet::new();
    let mut listing = std::collections::HashSet::new();
    while let Some(event) = events.recv().await {
        match event {
            watcher::Event::Init => listing.clear(),
            watcher::Event::InitApply(uid) => {
                listing.insert(uid);
            }
            watcher::Event::InitDone => {
                live = std::mem::take(&mut listing);
                let Ok(list) = Api::<Certificate>::all(ctx.client.clone())
                    .list(&labelled())
                    .await
                else {
                    continue;
                };
                // A source made after the listing is not in `live` yet: ask for each.
                let mut gone = Vec::new();
                for c in orphaned(&list.items, kind, &live) {
                    let Some((ns, name)) = source_of(c, kind) else {
                        continue;
                    };
                    let source = Api::<K>::namespaced(ctx.client.clone(), &ns)
                        .get_opt(&name)
                        .await;
                    let uid = c.labels().get(intent::OWNER_UID_LABEL);
                    if matches!(source, Ok(None))
                        || matches!(&source, Ok(Some(s)) if s.uid().as_ref() != uid)
                    {
                        gone.push(c);
                    }
                }
                delete_certificates(&ctx, gone).await;
            }
            watcher::Event::Apply(uid) => {
                live.insert(uid);
            }
            watcher::Event::Delete(uid) => {
                live.remove(&uid);
                // Now, and again shortly after: a reconcile of the source that was
                // already running when it went may still write its Certificate.
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let selector = format!("{}={uid}", intent::OWNER_UID_LABEL);
                    for wait in [0, 2, 10] {
                        tokio::time::sleep(Duration::from_secs(wait)).await;
                        if let Ok(list) = Api::<Certificate>::all(ctx.client.clone())
                            .list(&ListParams::default().labels(&selector))
                            .await
                        {
                            delete_certificates(&ctx, &list.items).await;
                        }
                    }
                });
            }
        }
    }
}

/// Runs the Gateway and ListenerSet shims until `shutdown` resolves; waits quietly
/// for the Gateway API CRDs first.
pub async fn run(
    ctx: Arc<Context>,
    certificates: Arc<crate::controller::SharedCertificates>,
    defaults: Defaults,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let wait_for_crds = async {
        while !served(&ctx.client, "gateways").await {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    };
    tokio::select! {
        _ = wait_for_crds => {}
        _ = shutdown.clone() => return,
    }
    tracing::info!("Gateway API is served: watching Gateways and ListenerSets");
    let client = ctx.client.clone();
    let gateways: Api<Gateway> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // One watch of Gateways: the Gateway controller's cache and trigger, the
    // ListenerSets' parent trigger, and (through a hook) the sweeper's events.
    let (gateway_watch, gateway_driver, sweeper) = shared_with_sweeper(&ctx, gateways, "Gateway");
    // The process's one Certificate watch keeps the index by source up to date.
    let shared = Arc::new(ShimContext {
        ctx: ctx.clone(),
        certificates: certificates.by_source.clone(),
        defaults: defaults.clone(),
    });
    // A Certificate's change goes to the source it belongs to, by ownerReference or,
    // in another namespace, by its `certgate.io/owner` annotation.
    let gateway_controller = kube::runtime::Controller::for_shared_stream(
        gateway_watch.applied(),
        gateway_watch.store(),
    )
    .watches_shared_stream(certificates.watch.touched(), |c: Arc<Certificate>| {
        source_of(&c, "Gateway").map(|(ns, name)| ObjectRef::new(&name).within(&ns))
    })
    .graceful_shutdown_on(shutdown.clone())
    .run(reconcile_gateway, error_policy, shared.clone())
    .for_each(|_| futures::future::ready(()));
    let listener_sets = async {
        if !served(&ctx.client, "listenersets").await {
            return;
        }
        let api: Api<ListenerSet> = match &ctx.config.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        // One index of Certificates by owner serves both shims (owner uids are unique).
        let ls_shim = shared.clone();
        let (ls_watch, ls_driver, ls_sweeper) = shared_with_sweeper(&ctx, api, "ListenerSet");
        let store = ls_watch.store();
        kube::runtime::Controller::for_shared_stream(ls_watch.applied(), ls_watch.store())
            .watches_shared_stream(certificates.watch.touched(), |c: Arc<Certificate>| {
                source_of(&c, "ListenerSet").map(|(ns, name)| ObjectRef::new(&name).within(&ns))
            })
            .watches_shared_stream(gateway_watch.touched(), move |gw: Arc<Gateway>| {
                let (name, ns) = (gw.name_any(), gw.namespace());
                store
                    .state()
                    .into_iter()
                    .filter(|ls| {
                        ls.spec.parent_ref.name == name
                            && ls
                                .spec
                                .parent_ref
                                .namespace
                                .clone()
                                .or_else(|| ls.namespace())
                                == ns
                    })
                    .map(|ls| ObjectRef::from_obj(&*ls))
                    .collect::<Vec<_>>()
            })
            .graceful_shutdown_on(shutdown.clone())
            .run(reconcile_listener_set, error_policy, ls_shim)
            .for_each(|_| futures::future::ready(()))
            .await;
        ls_sweeper.abort();
        ls_driver.abort();
    };
    tokio::join!(gateway_controller, listener_sets);
    sweeper.abort();
    gateway_driver.abort();
}

/// One shared watch of a source kind, whose raw events also feed the sweeper of
/// its cross-namespace Certificates.
#[allow(clippy::type_complexity)]
fn shared_with_sweeper<K>(
    ctx: &Arc<Context>,
    api: Api<K>,
    kind: &'static str,
) -> (
    Arc<crate::runtime::shared_watch::SharedWatch<K>>,
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let hook: crate::runtime::shared_watch::Hook<K> = Box::new(move |e| {
        // The sweeper needs the sources' uids only, not the objects.
        use watcher::Event as E;
        let uid_of = |o: &K| o.uid().unwrap_or_default();
        let small = match e {
            E::Init => E::Init,
            E::InitApply(o) => E::InitApply(uid_of(o)),
            E::InitDone => E::InitDone,
            E::Apply(o) => E::Apply(uid_of(o)),
            E::Delete(o) => E::Delete(uid_of(o)),
        };
        let _ = tx.send(small);
    });
    let (watch, driver) = crate::runtime::shared_watch::SharedWatch::start(api, |_| {}, vec![hook]);
    let sweeper = tokio::spawn(delete_cross_namespace_certificates::<K>(
        ctx.clone(),
        rx,
        kind,
    ));
    (watch, driver, sweeper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_set_inherits_the_gateway_annotations_only_when_it_sets_none() {
        let parent = BTreeMap::from([
            (
                "cert-manager.io/cluster-issuer".to_string(),
                "ca".to_string(),
            ),
            ("other".to_string(), "x".to_string()),
        ]);
        let none = BTreeMap::from([("team".to_string(), "a".to_string())]);
        let merged = effective_annotations(&none, Some(&parent));
        assert_eq!(
            merged
                .get("cert-manager.io/cluster-issuer")
                .map(String::as_str),
            Some("ca")
        );
        assert!(!merged.contains_key("other"));
        let own = BTreeMap::from([("cert-manager.io/issuer".to_string(), "local".to_string())]);
        let kept = effective_annotations(&own, Some(&parent));
        assert_eq!(kept, own);
    }
}

#[cfg(test)]
mod http01_parent_tests {
    use super::*;
    use types::{ListenerSetSpec, ParentGatewayReference};

    fn listener_set(protocols: &[&str], annotations: &[(&str, &str)]) -> ListenerSet {
        let mut ls = ListenerSet::new(
            "team-a",
            ListenerSetSpec {
                parent_ref: ParentGatewayReference {
                    name: "edge".into(),
                    namespace: Some("infra".into()),
                },
                listeners: protocols
                    .iter()
                    .map(|p| Listener {
                        name: p.to_lowercase(),
                        protocol: p.to_string(),
                        ..Default::default()
                    })
                    .collect(),
            },
        );
        ls.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        ls
    }

    #[test]
    fn a_listener_set_without_an_http_listener_sends_http01_to_its_gateway() {
        let edge = Some(intent::Http01Parent {
            kind: "Gateway".into(),
            namespace: "infra".into(),
            name: "edge".into(),
        });
        assert_eq!(http01_parent(&listener_set(&["HTTPS"], &[]), "infra"), edge);
        assert_eq!(
            http01_parent(&listener_set(&["HTTPS", "HTTP"], &[]), "infra"),
            None
        );
        let fallback = [(crate::api::annotations::HTTP01_PARENTREF_FALLBACK, "true")];
        assert_eq!(
            http01_parent(&listener_set(&["HTTPS", "HTTP"], &fallback), "infra"),
            edge
        );
    }
}

#[cfg(test)]
mod ownership_tests {
    use super::*;
    use std::collections::HashSet;

    fn cert(ns: &str, owner_ref: Option<(&str, &str)>, label: Option<(&str, &str)>) -> Certificate {
        let mut c: Certificate = serde_json::from_value(serde_json::json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "c", "namespace": ns},
            "spec": {"secretName": "s", "issuerRef": {"name": "i"}}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        if let Some((kind, name)) = owner_ref {
            c.metadata.owner_references = Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    kind: kind.into(),
                    name: name.into(),
                    uid: "ref-uid".into(),
                    controller: Some(true),
                    ..Default::default()
                },
            ]);
        }
        if let Some((owner, uid)) = label {
            c.metadata.labels = Some(BTreeMap::from([(
                intent::OWNER_UID_LABEL.to_string(),
                uid.to_string(),
            )]));
            c.metadata.annotations = Some(BTreeMap::from([(
                intent::OWNER_ANNOTATION.to_string(),
                owner.to_string(),
            )]));
        }
        c
    }

    #[test]
    fn a_certificate_maps_to_its_source_by_reference_or_by_annotation() {
        let owned = cert("app", Some(("Gateway", "gw")), None);
        assert_eq!(
            source_of(&owned, "Gateway"),
            Some(("app".into(), "gw".into()))
        );
        assert_eq!(source_of(&owned, "ListenerSet"), None);
        let across = cert("vault", None, Some(("Gateway/app/gw", "u1")));
        assert_eq!(
            source_of(&across, "Gateway"),
            Some(("app".into(), "gw".into()))
        );
        assert_eq!(source_of(&across, "ListenerSet"), None);
        let malformed = cert("vault", None, Some(("Gateway/app", "u1")));
        assert_eq!(source_of(&malformed, "Gateway"), None);
    }

    #[test]
    fn only_certificates_of_the_kind_whose_source_is_not_live_are_orphans() {
        let live: HashSet<String> = HashSet::from(["alive".to_string()]);
        let certs = vec![
            cert("v", None, Some(("Gateway/app/a", "alive"))),
            cert("v", None, Some(("Gateway/app/b", "gone"))),
            cert("v", None, Some(("ListenerSet/app/c", "gone-too"))),
            cert("v", Some(("Gateway", "d")), None),
        ];
        let orphans: Vec<String> = orphaned(&certs, "Gateway", &live)
            .iter()
            .map(|c| c.annotations()[intent::OWNER_ANNOTATION].clone())
            .collect();
        assert_eq!(orphans, ["Gateway/app/b"]);
        let ls: Vec<String> = orphaned(&certs, "ListenerSet", &live)
            .iter()
            .map(|c| c.annotations()[intent::OWNER_ANNOTATION].clone())
            .collect();
        assert_eq!(ls, ["ListenerSet/app/c"]);
    }
}
