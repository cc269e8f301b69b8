//! The process's one watch of Certificates, and the index of Certificates by the
//! Gateway, ListenerSet or Ingress they come from that the shims read (the index
//! is handed in: which Certificates a source owns is the intent module's rule).
//! Deleted Certificates leave the metrics here. Dropped: the watch stops.
//!
//! Sharded (`--shards`), the cache holds the Certificates of this replica's
//! namespaces, and of other namespaces those a source may own across namespaces
//! (also handed in): a shim working on a source in its share sees every
//! Certificate of that source, the Certificate controller the ones it works on.

use std::sync::Arc;

use kube::ResourceExt;

use crate::api::Certificate;
use crate::runtime::Context;
use crate::runtime::owner_index::OwnerIndex;
use crate::runtime::shared_watch::{Hook, SharedWatch};

pub struct SharedCertificates {
    pub watch: Arc<SharedWatch<Certificate>>,
    pub by_source: Arc<OwnerIndex<Certificate>>,
    driver: tokio::task::JoinHandle<()>,
}

impl SharedCertificates {
    /// Starts watching the Certificates `ctx` serves (its namespace, or all; this
    /// replica's share when sharded, with the Certificates of other namespaces
    /// `cross_namespace` picks), keeping `by_source` from the watch.
    pub fn start(
        ctx: &Context,
        by_source: OwnerIndex<Certificate>,
        cross_namespace: fn(&Certificate) -> bool,
    ) -> Arc<SharedCertificates> {
        let by_source = Arc::new(by_source);
        let metrics = ctx.metrics.clone();
        let hooks: Vec<Hook<Certificate>> = vec![
            Box::new({
                let index = by_source.clone();
                move |e, cache| index.apply_cached(e, cache)
            }),
            Box::new(move |e, _| {
                if let kube::runtime::watcher::Event::Delete(c) = e {
                    metrics.certificate_deleted(
                        &c.name_any(),
                        &c.namespace().unwrap_or_default(),
                        &c.uid().unwrap_or_default(),
                    );
                }
            }),
        ];
        let (watch, driver) = SharedWatch::start_sharded_and(
            ctx.api(),
            &ctx.config.shards,
            cross_namespace,
            |_| {},
            hooks,
        );
        Arc::new(SharedCertificates {
            watch,
            by_source,
            driver,
        })
    }
}

impl Drop for SharedCertificates {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
