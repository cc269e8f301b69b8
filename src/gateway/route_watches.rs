//! The routes the Gateway shim reads (HTTPRoute, GRPCRoute, TLSRoute): one shared
//! watch per kind served, caches trimmed to parents and hostnames, and the
//! triggers that re-reconcile the Gateways and ListenerSets a changed route names
//! (now or before). Reads only.

use super::*;
use futures::StreamExt;
use futures::stream::BoxStream;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use std::sync::Arc;

use crate::runtime::Context;
use crate::runtime::shared_watch::{Change, SharedWatch};
use routes::{ParentKey, ParentTracker, RouteView};
use types::{GRPCRoute, HTTPRoute, Route, TLSRoute};

/// The caches of the route kinds served (a kind the API server does not serve: `None`).
#[derive(Clone, Default)]
pub(super) struct RouteStores {
    http: Option<Store<HTTPRoute>>,
    grpc: Option<Store<GRPCRoute>>,
    tls: Option<Store<TLSRoute>>,
}

/// A route of any kind.
pub(super) enum AnyRoute {
    Http(Arc<HTTPRoute>),
    Grpc(Arc<GRPCRoute>),
    Tls(Arc<TLSRoute>),
}

pub(super) fn view_of<R: Route>(route: &R) -> RouteView<'_> {
    RouteView {
        kind: R::KIND,
        namespace: route.meta().namespace.as_deref().unwrap_or_default(),
        parent_refs: route.parent_refs(),
        hostnames: route.hostnames(),
    }
}

impl AnyRoute {
    pub(super) fn view(&self) -> RouteView<'_> {
        match self {
            AnyRoute::Http(r) => view_of(r.as_ref()),
            AnyRoute::Grpc(r) => view_of(r.as_ref()),
            AnyRoute::Tls(r) => view_of(r.as_ref()),
        }
    }
}

/// The routes in `store` that name `parent` in a parentRef (ACME solver routes aside).
pub(super) fn naming<R: Route + Clone>(
    store: &Option<Store<R>>,
    parent: &ParentKey,
) -> Vec<Arc<R>> {
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
    pub(super) async fn listed(&self) -> Result<(), GatewayError> {
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
    pub(super) fn naming(&self, parent: &ParentKey) -> Vec<AnyRoute> {
        let http = naming(&self.http, parent).into_iter().map(AnyRoute::Http);
        let grpc = naming(&self.grpc, parent).into_iter().map(AnyRoute::Grpc);
        let tls = naming(&self.tls, parent).into_iter().map(AnyRoute::Tls);
        http.chain(grpc).chain(tls).collect()
    }
}

/// Drops what no attachment needs from a watched route: it keeps its name,
/// namespace, uid, parents, hostnames and the labels of ACME solver routes.
pub(super) fn trim_route<R: Route>(route: &mut R) {
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
pub(super) struct RouteWatches {
    http: Option<Arc<SharedWatch<HTTPRoute>>>,
    grpc: Option<Arc<SharedWatch<GRPCRoute>>>,
    tls: Option<Arc<SharedWatch<TLSRoute>>>,
    drivers: Vec<tokio::task::JoinHandle<()>>,
}

impl RouteWatches {
    /// Starts one watch per route kind served, in the namespace certgate serves (or all).
    pub(super) async fn start(ctx: &Context) -> RouteWatches {
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
    pub(super) fn stores(&self) -> RouteStores {
        RouteStores {
            http: self.http.as_ref().map(|w| w.store()),
            grpc: self.grpc.as_ref().map(|w| w.store()),
            tls: self.tls.as_ref().map(|w| w.store()),
        }
    }

    /// The parents of kind `parent_kind` (`Gateway`, `ListenerSet`) to reconcile as
    /// routes change: those a route names, and those it named before the change.
    pub(super) fn parent_triggers<P>(
        &self,
        parent_kind: &'static str,
    ) -> BoxStream<'static, ObjectRef<P>>
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
    pub(super) fn abort(&self) {
        for d in &self.drivers {
            d.abort();
        }
    }
}

/// The parents of kind `parent_kind` each change of a route touches (see
/// [`ParentTracker`]).
pub(super) fn parents_touched<R, P>(
    watch: &Arc<SharedWatch<R>>,
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
