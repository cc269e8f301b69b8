//! The process's one watch of CertificateRequests: the request controller
//! reconciles from it and the Certificate controller's index of requests by owner
//! keeps the same copies (an index hook is handed in: which requests a Certificate
//! owns is the certificates module's rule). Issued certificates are not cached.
//! Dropped: the watch stops.

use std::sync::Arc;

use crate::api::CertificateRequest;
use crate::runtime::Context;
use crate::runtime::shared_watch::{Hook, SharedWatch};

pub struct SharedRequests {
    pub watch: Arc<SharedWatch<CertificateRequest>>,
    driver: tokio::task::JoinHandle<()>,
}

/// What the cache keeps of a CertificateRequest: everything but the issued
/// certificate and CA (read from the API when a Certificate is issued). The CSR
/// stays: the Certificate controller compares the current request with its spec.
pub fn trim(r: &mut CertificateRequest) {
    if let Some(st) = r.status.as_mut() {
        st.certificate = None;
        st.ca = None;
    }
}

impl SharedRequests {
    /// Starts watching the CertificateRequests `ctx` serves (its namespace, or all;
    /// this replica's share when sharded), calling `hooks` on each event.
    pub fn start(ctx: &Context, hooks: Vec<Hook<CertificateRequest>>) -> Arc<SharedRequests> {
        let (watch, driver) =
            SharedWatch::start_sharded(ctx.api(), &ctx.config.shards, trim, hooks);
        Arc::new(SharedRequests { watch, driver })
    }
}

impl Drop for SharedRequests {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
