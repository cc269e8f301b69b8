//! The Certificates a Gateway or ListenerSet leaves behind: which source a
//! Certificate belongs to (by ownerReference, or across namespaces by its
//! `certgate.io/owner` annotation), which are orphaned, and the sweeper that
//! deletes cross-namespace Certificates (no ownerReference can reach them) when
//! their source goes, after every full listing of the sources and every ten minutes.

use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

use crate::api::Certificate;
use crate::intent;
use crate::runtime::Context;

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

pub(super) async fn delete_certificates<'a>(
    ctx: &Context,
    certs: impl IntoIterator<Item = &'a Certificate>,
) {
    for c in certs {
        let ns = c.namespace().unwrap_or_default();
        let _ = Api::<Certificate>::namespaced(ctx.client.clone(), &ns)
            .delete(&c.name_any(), &kube::api::DeleteParams::background())
            .await;
    }
}

/// How often the cross-namespace Certificates are swept besides the sweeps after each
/// full listing: a deletion missed between two listings (the delete call failed, the
/// API server was away) is caught up within this time.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// Certificates made in another namespace (a ReferenceGrant'ed certificateRef) cannot
/// be owned by their source, so the garbage collector does not remove them: when the
/// source goes they are deleted here, found by their `certgate.io/owner-uid` label;
/// each time the watch has listed every source (at start, after a restart or a lost
/// watch), and every [`SWEEP_INTERVAL`], the ones whose source is gone are swept.
pub(super) async fn delete_cross_namespace_certificates<K>(
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
    let mut live = std::collections::HashSet::new();
    let mut listing = std::collections::HashSet::new();
    // Set once the first listing is complete: before it, `live` knows no source.
    let mut listed = false;
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_INTERVAL, SWEEP_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
            _ = every.tick() => {
                if listed {
                    sweep::<K>(&ctx, kind, &live).await;
                }
                continue;
            }
        };
        match event {
            watcher::Event::Init => listing.clear(),
            watcher::Event::InitApply(uid) => {
                listing.insert(uid);
            }
            watcher::Event::InitDone => {
                live = std::mem::take(&mut listing);
                listed = true;
                sweep::<K>(&ctx, kind, &live).await;
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

/// Deletes the cross-namespace Certificates of `kind` sources whose source is not in
/// `live` and, asked again (a source made after the listing is not in `live` yet),
/// does not exist or is another object of the same name.
async fn sweep<K>(ctx: &Arc<Context>, kind: &'static str, live: &std::collections::HashSet<String>)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let labelled = ListParams::default().labels(intent::OWNER_UID_LABEL);
    let Ok(list) = Api::<Certificate>::all(ctx.client.clone())
        .list(&labelled)
        .await
    else {
        return;
    };
    let mut gone = Vec::new();
    for c in orphaned(&list.items, kind, live) {
        let Some((ns, name)) = source_of(c, kind) else {
            continue;
        };
        let source = Api::<K>::namespaced(ctx.client.clone(), &ns)
            .get_opt(&name)
            .await;
        let uid = c.labels().get(intent::OWNER_UID_LABEL);
        if matches!(source, Ok(None)) || matches!(&source, Ok(Some(s)) if s.uid().as_ref() != uid) {
            gone.push(c);
        }
    }
    delete_certificates(ctx, gone).await;
}

/// One shared watch of a source kind, whose raw events also feed the sweeper of
/// its cross-namespace Certificates.
#[allow(clippy::type_complexity)]
pub(super) fn shared_with_sweeper<K>(
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
    let hook: crate::runtime::shared_watch::Hook<K> = Box::new(move |e, _| {
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
