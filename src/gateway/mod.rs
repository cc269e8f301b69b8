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
pub mod routes;
pub mod types;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Certificate, ClusterIssuer, Issuer};
use crate::intent::apply::{ShimContext, ShimError, apply_plan, others};
use crate::intent::{self, Defaults, Source, SourceKind, TlsBlock};
use crate::metrics;
use crate::runtime::Context;
use crate::runtime::shared_watch::{Change, SharedWatch};
use listeners::ListenerBlocks;
use routes::{NamespacePolicy, ParentKey, ParentTracker, RouteView};
use types::{
    GRPCRoute, Gateway, HTTPRoute, Listener, ListenerSet, ReferenceGrant, Route, TLSRoute,
};

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

/// The caches of the route kinds served (a kind the API server does not serve: `None`).
#[derive(Clone, Default)]
struct RouteStores {
    http: Option<Store<HTTPRoute>>,
    grpc: Option<Store<GRPCRoute>>,
    tls: Option<Store<TLSRoute>>,
}

/// A route of any kind.
enum AnyRoute {
    Http(Arc<HTTPRoute>),
    Grpc(Arc<GRPCRoute>),
    Tls(Arc<TLSRoute>),
}

fn view_of<R: Route>(route: &R) -> RouteView<'_> {
    RouteView {
        kind: R::KIND,
        namespace: route.meta().namespace.as_deref().unwrap_or_default(),
        parent_refs: route.parent_refs(),
        hostnames: route.hostnames(),
    }
}

impl AnyRoute {
    fn view(&self) -> RouteView<'_> {
        match self {
            AnyRoute::Http(r) => view_of(r.as_ref()),
            AnyRoute::Grpc(r) => view_of(r.as_ref()),
            AnyRoute::Tls(r) => view_of(r.as_ref()),
        }
    }
}

/// The routes in `store` that name `parent` in a parentRef (ACME solver routes aside).
fn naming<R: Route + Clone>(store: &Option<Store<R>>, parent: &ParentKey) -> Vec<Arc<R>> {
    store
        .as_ref()
        .map(|s| {
            s.state_filter(|r| {
                let ns = r.meta().namespace.as_deref().unwrap_or_default();
                !routes::is_acme_solver(r.labels())
                    && r.parent_refs()
                        .iter()
                        .any(|p| routes::names_parent(p, ns, parent))
            })
        })
        .unwrap_or_default()
}

impl RouteStores {
    /// Waits (a while) until every route watch has listed its routes.
    async fn listed(&self) -> Result<(), GatewayError> {
        async fn wait<K>(store: &Option<Store<K>>, kind: &'static str) -> Result<(), GatewayError>
        where
            K: Resource<DynamicType = ()> + Clone + 'static,
        {
            let Some(store) = store else { return Ok(()) };
            match tokio::time::timeout(ROUTES_SYNC_TIMEOUT, store.wait_until_ready()).await {
                Ok(Ok(())) => Ok(()),
                _ => Err(GatewayError::RoutesNotListed(kind)),
            }
        }
        wait(&self.http, "HTTPRoute").await?;
        wait(&self.grpc, "GRPCRoute").await?;
        wait(&self.tls, "TLSRoute").await
    }

    /// The routes of every kind that name `parent` in a parentRef.
    fn naming(&self, parent: &ParentKey) -> Vec<AnyRoute> {
        let http = naming(&self.http, parent).into_iter().map(AnyRoute::Http);
        let grpc = naming(&self.grpc, parent).into_iter().map(AnyRoute::Grpc);
        let tls = naming(&self.tls, parent).into_iter().map(AnyRoute::Tls);
        http.chain(grpc).chain(tls).collect()
    }
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
    let debounced = || kube::runtime::controller::Config::default().debounce(RECONCILE_DEBOUNCE);
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
    .run(reconcile_gateway, error_policy, shared.clone())
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
            .run(reconcile_listener_set, error_policy, ls_shim)
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

/// Drops what no attachment needs from a watched route: it keeps its name,
/// namespace, uid, parents, hostnames and the labels of ACME solver routes.
fn trim_route<R: Route>(route: &mut R) {
    let meta = route.meta_mut();
    if let Some(labels) = meta.labels.as_mut() {
        labels.retain(|k, _| routes::ACME_SOLVER_LABELS.contains(&k.as_str()));
    }
    meta.annotations = None;
    meta.owner_references = None;
    meta.finalizers = None;
}

/// The shared watches of the route kinds the API server serves.
#[derive(Default)]
struct RouteWatches {
    http: Option<Arc<SharedWatch<HTTPRoute>>>,
    grpc: Option<Arc<SharedWatch<GRPCRoute>>>,
    tls: Option<Arc<SharedWatch<TLSRoute>>>,
    drivers: Vec<tokio::task::JoinHandle<()>>,
}

impl RouteWatches {
    /// Starts one watch per route kind served, in the namespace certgate serves (or all).
    async fn start(ctx: &Context) -> RouteWatches {
        fn watch<R>(
            ctx: &Context,
            drivers: &mut Vec<tokio::task::JoinHandle<()>>,
        ) -> Arc<SharedWatch<R>>
        where
            R: Route<Scope = k8s_openapi::NamespaceResourceScope>
                + Clone
                + serde::de::DeserializeOwned
                + std::fmt::Debug
                + Send
                + Sync
                + 'static,
        {
            let api: Api<R> = match &ctx.config.namespace {
                Some(ns) => Api::namespaced(ctx.client.clone(), ns),
                None => Api::all(ctx.client.clone()),
            };
            let (watch, driver) = SharedWatch::start(api, trim_route::<R>, Vec::new());
            drivers.push(driver);
            watch
        }
        let mut watches = RouteWatches::default();
        if served(&ctx.client, "httproutes").await {
            watches.http = Some(watch(ctx, &mut watches.drivers));
        }
        if served(&ctx.client, "grpcroutes").await {
            watches.grpc = Some(watch(ctx, &mut watches.drivers));
        }
        if served(&ctx.client, "tlsroutes").await {
            watches.tls = Some(watch(ctx, &mut watches.drivers));
        }
        watches
    }

    /// Their caches.
    fn stores(&self) -> RouteStores {
        RouteStores {
            http: self.http.as_ref().map(|w| w.store()),
            grpc: self.grpc.as_ref().map(|w| w.store()),
            tls: self.tls.as_ref().map(|w| w.store()),
        }
    }

    /// The parents of kind `parent_kind` (`Gateway`, `ListenerSet`) to reconcile as
    /// routes change: those a route names, and those it named before the change.
    fn parent_triggers<P>(&self, parent_kind: &'static str) -> BoxStream<'static, ObjectRef<P>>
    where
        P: Resource<DynamicType = ()> + 'static,
    {
        let mut streams = Vec::new();
        if let Some(w) = &self.http {
            streams.push(parents_touched(w, parent_kind));
        }
        if let Some(w) = &self.grpc {
            streams.push(parents_touched(w, parent_kind));
        }
        if let Some(w) = &self.tls {
            streams.push(parents_touched(w, parent_kind));
        }
        futures::stream::select_all(streams).boxed()
    }

    /// Stops the watches.
    fn abort(&self) {
        for d in &self.drivers {
            d.abort();
        }
    }
}

/// The parents of kind `parent_kind` each change of a route touches (see
/// [`ParentTracker`]).
fn parents_touched<R, P>(
    watch: &SharedWatch<R>,
    parent_kind: &'static str,
) -> BoxStream<'static, ObjectRef<P>>
where
    R: Route + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    P: Resource<DynamicType = ()> + 'static,
{
    let mut tracker = ParentTracker::default();
    watch
        .changes()
        .flat_map(move |change| {
            let route = change.object();
            let uid = route.uid().unwrap_or_default();
            let ns = route.namespace().unwrap_or_default();
            let mut parents = routes::parents_of(&ns, route.parent_refs());
            // ACME solver routes add no names: they need no reconcile.
            parents.retain(|p| p.kind == parent_kind && !routes::is_acme_solver(route.labels()));
            let touched = match change {
                Change::Applied(_) => tracker.applied(&uid, parents),
                Change::Deleted(_) => tracker.deleted(&uid, parents),
            };
            futures::stream::iter(
                touched
                    .into_iter()
                    .map(|p| ObjectRef::new(&p.name).within(&p.namespace))
                    .collect::<Vec<_>>(),
            )
        })
        .boxed()
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
