//! Running kube-runtime Controllers the way every certgate loop does: caches that
//! keep no `managedFields` (or more, with a trim), and failed reconciles logged
//! by what they were (a lost write race is routine). Knows no feature.

/// Objects per list page of a Secret metadata watch. Other controllers' Secrets
/// applied with kubectl carry their whole manifest again in the last-applied
/// annotation, which a metadata list returns: with kube's default page of 500, one
/// page of 100 KB Secrets is some 70 MB of JSON, held with its decoded copy while the
/// page is read, in each watcher. Pages of 50 keep that under 10 MB.
pub const SECRET_METADATA_PAGE: u32 = 50;

/// The watcher configuration of a Secret metadata watch (see [`SECRET_METADATA_PAGE`]).
pub fn secret_metadata_watch() -> kube::runtime::watcher::Config {
    kube::runtime::watcher::Config::default().page_size(SECRET_METADATA_PAGE)
}

/// The back-off of a Controller's trigger stream. kube-runtime puts ONE back-off on
/// the merged stream of a Controller's watches (its own objects, `owns`, `watches`),
/// so an error from any of them pauses all of them; with its default (0.8 s doubling
/// to 30 s, reset only by an event or 120 s without errors) the errors every watch
/// gets after kube-apiserver restarts (a closed stream, refused connections, 410 Gone
/// on resume) kept a CertificateRequest controller deaf for 2-3 minutes
/// (tests/apiserver_restart.rs). Short pauses keep one failing watch from silencing
/// the others; a server that is down still sees each watch retried at most every 2 s.
#[derive(Debug, Clone)]
pub struct TriggerBackoff {
    next: std::time::Duration,
}

impl TriggerBackoff {
    pub const FIRST: std::time::Duration = std::time::Duration::from_millis(100);
    pub const MAX: std::time::Duration = std::time::Duration::from_secs(2);
}

impl Default for TriggerBackoff {
    fn default() -> Self {
        TriggerBackoff { next: Self::FIRST }
    }
}

impl Iterator for TriggerBackoff {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<std::time::Duration> {
        let now = self.next;
        self.next = (now * 2).min(Self::MAX);
        Some(now)
    }
}

impl kube::runtime::utils::Backoff for TriggerBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// A controller over `api` whose cache keeps objects without `managedFields` (they
/// are often the biggest part of an object, and no controller reads them).
pub fn lean_controller<K>(
    api: kube::Api<K>,
    shards: &crate::runtime::shards::Shards,
) -> kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    lean_controller_with(api, shards, |_| {})
}

/// As [`lean_controller`], watching only what `config` selects.
pub fn lean_controller_selected<K>(
    api: kube::Api<K>,
    shards: &crate::runtime::shards::Shards,
    config: kube::runtime::watcher::Config,
) -> kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    lean_controller_configured(api, shards, config, |_| {})
}

/// As [`lean_controller`], dropping more of each object before it is cached.
pub fn lean_controller_with<K>(
    api: kube::Api<K>,
    shards: &crate::runtime::shards::Shards,
    trim: impl FnMut(&mut K) + Send + 'static,
) -> kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    lean_controller_configured(api, shards, kube::runtime::watcher::Config::default(), trim)
}

fn lean_controller_configured<K>(
    api: kube::Api<K>,
    shards: &crate::runtime::shards::Shards,
    config: kube::runtime::watcher::Config,
    mut trim: impl FnMut(&mut K) + Send + 'static,
) -> kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        shards
            .share_of(move || watcher(api.clone(), config.clone()))
            .modify(move |o: &mut K| {
                drop_unread_metadata(o.meta_mut());
                trim(o);
            }),
    )
    .applied_objects();
    kube::runtime::Controller::for_stream(stream, reader).trigger_backoff(TriggerBackoff::default())
}

/// What a sharded controller's reconcile becomes: the reconcile's future, or at
/// once "nothing to do" for an object outside this replica's share.
pub type ShardedFuture<Fut, E> = futures::future::Either<
    Fut,
    futures::future::Ready<Result<kube::runtime::controller::Action, E>>,
>;

/// [`kube::runtime::Controller::run`] on this replica's share only (`--shards`):
/// objects in other namespaces are left to their owner, and everything is
/// reconciled again when the share changes (to pick up what it now holds).
/// Unsharded, the same as `run`.
pub trait ShardedRun<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    fn run_sharded<C, E, Fut>(
        self,
        shards: crate::runtime::shards::Shards,
        reconcile: impl Fn(std::sync::Arc<K>, std::sync::Arc<C>) -> Fut,
        error_policy: impl Fn(
            std::sync::Arc<K>,
            &E,
            std::sync::Arc<C>,
        ) -> kube::runtime::controller::Action,
        ctx: std::sync::Arc<C>,
    ) -> impl futures::Stream<
        Item = Result<
            (
                kube::runtime::reflector::ObjectRef<K>,
                kube::runtime::controller::Action,
            ),
            kube::runtime::controller::Error<E, kube::runtime::watcher::Error>,
        >,
    >
    where
        Fut: std::future::Future<Output = Result<kube::runtime::controller::Action, E>>
            + Send
            + 'static,
        E: std::error::Error + Send + 'static;
}

impl<K> ShardedRun<K> for kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    fn run_sharded<C, E, Fut>(
        self,
        shards: crate::runtime::shards::Shards,
        reconcile: impl Fn(std::sync::Arc<K>, std::sync::Arc<C>) -> Fut,
        error_policy: impl Fn(
            std::sync::Arc<K>,
            &E,
            std::sync::Arc<C>,
        ) -> kube::runtime::controller::Action,
        ctx: std::sync::Arc<C>,
    ) -> impl futures::Stream<
        Item = Result<
            (
                kube::runtime::reflector::ObjectRef<K>,
                kube::runtime::controller::Action,
            ),
            kube::runtime::controller::Error<E, kube::runtime::watcher::Error>,
        >,
    >
    where
        Fut: std::future::Future<Output = Result<kube::runtime::controller::Action, E>>
            + Send
            + 'static,
        E: std::error::Error + Send + 'static,
    {
        let changes = shards.changes();
        let reconcile = move |obj: std::sync::Arc<K>, ctx| -> ShardedFuture<Fut, E> {
            if shards.owns(obj.meta().namespace.as_deref()) {
                futures::future::Either::Left(reconcile(obj, ctx))
            } else {
                futures::future::Either::Right(futures::future::ready(Ok(
                    kube::runtime::controller::Action::await_change(),
                )))
            }
        };
        self.reconcile_all_on(changes)
            .run(reconcile, error_policy, ctx)
    }
}

/// Drops what no controller reads and what is often the biggest part of an
/// object: `managedFields` and kubectl's last-applied annotation (the whole
/// manifest again).
pub fn drop_unread_metadata(meta: &mut kube::api::ObjectMeta) {
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Whether an error is, somewhere down its chain, the API server's 409 Conflict: a
/// write that lost a race with another writer (or with our own previous write).
pub fn is_conflict(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(kube::Error::Api(status)) = e.downcast_ref::<kube::Error>()
            && status.code == 409
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Logs a failed reconcile of `object` by the `controller`: a lost write race is
/// routine (it is retried at once) and logs at debug; anything else warns.
pub fn log_reconcile_error(
    controller: &str,
    object: &str,
    error: &(dyn std::error::Error + 'static),
) {
    if is_conflict(error) {
        tracing::debug!(controller, object, %error, "write conflict; retrying");
    } else {
        tracing::warn!(controller, object, %error, "reconcile failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_backoff_doubles_to_two_seconds_and_resets() {
        use kube::runtime::utils::Backoff;
        let mut b = TriggerBackoff::default();
        let first: Vec<u128> = b.by_ref().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(first, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        b.reset();
        assert_eq!(b.next(), Some(TriggerBackoff::FIRST));
    }

    #[derive(Debug, thiserror::Error)]
    enum Wrapper {
        #[error("API request failed: {0}")]
        Kube(#[from] kube::Error),
    }

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..Default::default()
        }))
    }

    #[test]
    fn a_conflict_is_found_through_the_error_chain_and_nothing_else_is() {
        assert!(is_conflict(&Wrapper::from(api(409))));
        assert!(is_conflict(&api(409)));
        assert!(!is_conflict(&Wrapper::from(api(422))));
        assert!(!is_conflict(&std::io::Error::other("x")));
    }
}
