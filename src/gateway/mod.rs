//! Gateway API first: the HTTPS/TLS listeners of Gateways and ListenerSets annotated
//! for cert-manager become Certificates through the shared intent builder. On by
//! default: certgate waits quietly until the Gateway API CRDs are served.
//!
//! Listeners without a hostname take the names of their attached routes when the
//! source opts in (`certgate.io/hostnames-from-routes`, see [`routes`]): HTTPRoutes,
//! GRPCRoutes and TLSRoutes are each watched once (when served), a route's change
//! reconciles the parents it names and named, and both controllers are debounced so a
//! burst of route changes makes one Certificate update.

pub mod listeners;
mod orphans;
mod route_watches;
pub mod routes;
pub mod types;

use crate::runtime::reconcile::ShardedRun;
use orphans::*;
pub use orphans::{orphaned, source_of};
use route_watches::*;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Certificate, ClusterIssuer, Issuer};
use crate::intent::apply::{ShimContext, ShimError, apply_plan, others};
use crate::intent::{self, Defaults, Source, SourceKind, TlsBlock};
use crate::metrics;
use crate::runtime::Context;
use listeners::ListenerBlocks;
use routes::{NamespacePolicy, ParentKey, RouteView};
use types::{Gateway, Listener, ListenerSet, ReferenceGrant};

const GATEWAY_API: &str = "gateway.networking.k8s.io/v1";

/// The Gateway API shim's switches, with cert-manager's flag names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayApiConfig {
    /// `--enable-gateway-api` (certgate: on by default; the shim waits quietly for
    /// the CRDs).
    pub enabled: bool,
    /// `--enable-gateway-api-listenerset` (certgate: on by default, where
    /// cert-manager's ListenerSets feature gate is alpha and off).
    pub listener_sets: bool,
    /// `--gateway-api-extra-protocols`: listener protocols besides HTTPS and TLS that
    /// carry a certificate.
    pub extra_protocols: Vec<String>,
}

impl Default for GatewayApiConfig {
    fn default() -> Self {
        GatewayApiConfig {
            enabled: true,
            listener_sets: true,
            extra_protocols: Vec::new(),
        }
    }
}

/// How long the Gateway and ListenerSet controllers wait for a source's changes to
/// settle before reconciling it (a burst of route changes: one Certificate update).
pub const RECONCILE_DEBOUNCE: Duration = Duration::from_secs(1);

/// How long a reconcile waits for the route watches' first listing before it gives
/// up (and is retried) rather than making Certificates from a partial view.
const ROUTES_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a Gateway or ListenerSet could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Reading or writing through the API server failed.
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// Applying the Certificates failed.
    #[error(transparent)]
    Shim(#[from] ShimError),
    /// A route watch has not listed its routes yet.
    #[error("the {0} watch has not listed the routes yet; retrying")]
    RoutesNotListed(&'static str),
}

/// What the Gateway and ListenerSet reconcilers share.
struct GatewayShim {
    /// The Certificate-making context shared with the Ingress shim.
    shim: Arc<ShimContext>,
    /// `--enable-gateway-api*`, `--gateway-api-extra-protocols`.
    config: GatewayApiConfig,
    /// The route caches, for listeners named by their routes.
    routes: RouteStores,
}

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

/// Whether a listener could take its names from routes: an HTTPS or TLS listener
/// without a hostname.
fn lacks_hostname(l: &Listener) -> bool {
    (l.protocol == "HTTPS" || l.protocol == "TLS")
        && l.hostname.as_deref().is_none_or(str::is_empty)
}

/// The labels of the namespaces of `routes`, read when a listener without a hostname
/// selects route namespaces by label (else none are read).
async fn namespace_labels(
    ctx: &Context,
    listeners: &[Listener],
    routes: &[AnyRoute],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, kube::Error> {
    let mut labels = BTreeMap::new();
    let selects = listeners
        .iter()
        .filter(|l| lacks_hostname(l))
        .any(|l| NamespacePolicy::of(l).is_ok_and(|p| p.needs_namespace_labels()));
    if !selects {
        return Ok(labels);
    }
    let namespaces: BTreeSet<&str> = routes.iter().map(|r| r.view().namespace).collect();
    let api = Api::<Namespace>::all(ctx.client.clone());
    for ns in namespaces {
        if let Some(namespace) = api.get_opt(ns).await? {
            labels.insert(ns.to_string(), namespace.labels().clone());
        }
    }
    Ok(labels)
}

/// The TLS blocks of the listeners of `parent`, with ReferenceGrants looked up where
/// refs cross namespaces, and — when `from_routes` — the names of the routes attached
/// to listeners without a hostname.
async fn listener_blocks(
    gateway: &GatewayShim,
    listeners: &[Listener],
    parent: &ParentKey,
    from_routes: bool,
    options: &listeners::ListenerOptions,
) -> Result<ListenerBlocks, GatewayError> {
    let ctx = &gateway.shim.ctx;
    let ns = parent.namespace.as_str();
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
    let grants = |target: &str| grants.get(target).cloned().unwrap_or_default();
    if !from_routes || !listeners.iter().any(lacks_hostname) {
        // Not opted in, or no listener to name: no route is read.
        return Ok(listeners::blocks(
            listeners,
            &parent.kind,
            ns,
            &grants,
            None,
            options,
        ));
    }
    gateway.routes.listed().await?;
    let attached = gateway.routes.naming(parent);
    let labels = namespace_labels(ctx, listeners, &attached).await?;
    let views: Vec<RouteView<'_>> = attached.iter().map(AnyRoute::view).collect();
    let route_hostnames = |l: &Listener| routes::hostnames_from_routes(parent, l, &views, &labels);
    Ok(listeners::blocks(
        listeners,
        &parent.kind,
        ns,
        &grants,
        Some(&route_hostnames),
        options,
    ))
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
    unlisted_refs: Vec<listeners::UnlistedRef>,
) -> Result<(), ShimError> {
    let managed = src.annotations.keys().any(|k| is_shim_annotation(k));
    let existing: Vec<Certificate> = shim
        .certificates
        .owned_by(&src.uid)
        .iter()
        .map(|c| (**c).clone())
        .collect();
    let others = others(shim, &src).await?;
    let mut plan = intent::build(&src, &shim.defaults, &existing, &others);
    if managed {
        // The Gateway's own findings go first, then what the builder decided: one
        // plan, applied (and recorded) in one place.
        let mut findings: Vec<intent::SourceEvent> = skipped
            .iter()
            .map(|s| {
                intent::SourceEvent::normal(
                    "SkippedListener",
                    format!("Skipped listener {:?}: {}", s.listener, s.reason),
                )
            })
            .collect();
        findings.extend(
            unlisted_refs
                .iter()
                .map(|u| intent::SourceEvent::warning("UnlistedCertificateRef", u.message())),
        );
        findings.extend(
            wildcard_warnings(&shim.ctx, &src)
                .await
                .into_iter()
                .map(|w| intent::SourceEvent::warning("WildcardNeedsDNS01", w)),
        );
        plan.events.splice(0..0, findings);
    }
    apply_plan(shim, obj, plan).await
}

async fn reconcile_gateway(
    gw: Arc<Gateway>,
    gateway: Arc<GatewayShim>,
) -> Result<Action, GatewayError> {
    let shim = &gateway.shim;
    shim.ctx.metrics.inc(
        metrics::SYNC_CALLS,
        vec![("controller", "gateway-shim".into())],
    );
    let ns = gw.namespace().unwrap_or_default();
    let parent = ParentKey::new("Gateway", &ns, &gw.name_any());
    let from_routes = routes::enabled(gw.annotations());
    let options =
        listeners::ListenerOptions::for_source(gw.annotations(), &gateway.config.extra_protocols);
    let ListenerBlocks {
        tls,
        skipped,
        unlisted_refs,
    } = listener_blocks(&gateway, &gw.spec.listeners, &parent, from_routes, &options).await?;
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
    sync(shim, gw.as_ref(), src, skipped, unlisted_refs).await?;
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
    gateway: Arc<GatewayShim>,
) -> Result<Action, GatewayError> {
    let shim = &gateway.shim;
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
    let listener_set = ParentKey::new("ListenerSet", &ns, &ls.name_any());
    // The ListenerSet's own opt-in: it does not inherit the Gateway's.
    let from_routes = routes::enabled(ls.annotations());
    let options =
        listeners::ListenerOptions::for_source(ls.annotations(), &gateway.config.extra_protocols);
    let ListenerBlocks {
        tls,
        skipped,
        unlisted_refs,
    } = listener_blocks(
        &gateway,
        &ls.spec.listeners,
        &listener_set,
        from_routes,
        &options,
    )
    .await?;
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
    sync(shim, ls.as_ref(), src, skipped, unlisted_refs).await?;
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

fn error_policy<K: Resource>(
    obj: Arc<K>,
    error: &GatewayError,
    gateway: Arc<GatewayShim>,
) -> Action {
    gateway.shim.ctx.metrics.inc(
        metrics::SYNC_ERRORS,
        vec![("controller", "gateway-shim".into())],
    );
    crate::runtime::reconcile::log_reconcile_error("gateway-shim", &obj.name_any(), error);
    Action::requeue(Duration::from_secs(5))
}

/// Runs the Gateway and ListenerSet shims until `shutdown` resolves; waits quietly
/// for the Gateway API CRDs first.
pub async fn run(
    ctx: Arc<Context>,
    certificates: Arc<crate::runtime::shared_certificates::SharedCertificates>,
    defaults: Defaults,
    config: GatewayApiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    if !config.enabled {
        tracing::info!("the Gateway API shim is off (--enable-gateway-api=false)");
        return;
    }
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
    // One watch per route kind served, for listeners named by their routes.
    let route_watches = RouteWatches::start(&ctx).await;
    // The process's one Certificate watch keeps the index by source up to date.
    let shared = Arc::new(GatewayShim {
        shim: Arc::new(ShimContext {
            ctx: ctx.clone(),
            certificates: certificates.by_source.clone(),
            defaults: defaults.clone(),
        }),
        config: config.clone(),
        routes: route_watches.stores(),
    });
    // At most `max_concurrent_reconciles` sources at once: unbounded, 5,000 Gateways
    // were reconciled together, each with its Certificate writes in flight on an
    // HTTP/1.1 connection of its own (peak 374 MiB in benches/gateways.rs).
    let concurrency = ctx.config.max_concurrent_reconciles;
    let debounced = move || {
        kube::runtime::controller::Config::default()
            .debounce(RECONCILE_DEBOUNCE)
            .concurrency(concurrency)
    };
    // A Certificate's change goes to the source it belongs to, by ownerReference or,
    // in another namespace, by its `certgate.io/owner` annotation; a route's to the
    // Gateways it names and named.
    let gateway_controller = kube::runtime::Controller::for_shared_stream(
        gateway_watch.applied(),
        gateway_watch.store(),
    )
    .watches_shared_stream(certificates.watch.touched(), |c: Arc<Certificate>| {
        source_of(&c, "Gateway").map(|(ns, name)| ObjectRef::new(&name).within(&ns))
    })
    .reconcile_on(route_watches.parent_triggers("Gateway"))
    .with_config(debounced())
    .graceful_shutdown_on(shutdown.clone())
    .run_sharded(
        ctx.config.shards.clone(),
        reconcile_gateway,
        error_policy,
        shared.clone(),
    )
    .for_each(|_| futures::future::ready(()));
    let listener_sets = async {
        if !config.listener_sets || !served(&ctx.client, "listenersets").await {
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
            .reconcile_on(route_watches.parent_triggers("ListenerSet"))
            .with_config(debounced())
            .graceful_shutdown_on(shutdown.clone())
            .run_sharded(
                ctx.config.shards.clone(),
                reconcile_listener_set,
                error_policy,
                ls_shim,
            )
            .for_each(|_| futures::future::ready(()))
            .await;
        ls_sweeper.abort();
        ls_driver.abort();
    };
    tokio::join!(gateway_controller, listener_sets);
    route_watches.abort();
    sweeper.abort();
    gateway_driver.abort();
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
