//! One [`Provider`] for the DNS services whose API edits whole TXT sets of a zone
//! (Route53, Google Cloud DNS): find the zone (a fixed one from the solver, or the
//! most specific existing zone among the record's candidates, cached), then queue
//! the edit to that zone's batcher ([`super::zone_batch`]), which reads, plans,
//! applies and retries. A service brings only its wire calls, as a [`ZoneApi`].
//! Must not know any one service.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tracing::debug;

use super::provider::{Provider, ProviderError};
use super::zone_batch::{Backend, Batcher, BatcherGone, Edit, Op, ZoneCache, zone_candidates};

/// How long a discovered zone (or its absence) is remembered.
const ZONE_CACHE_TTL: Duration = Duration::from_secs(300);

/// The wire calls of a zone-editing DNS API, besides reading and applying changes
/// ([`Backend`]).
pub trait ZoneApi: Backend<Zone = String, Error: From<BatcherGone>> {
    /// What a zone is called in this API, for logs ("Route53 hosted zone").
    const ZONE_KIND: &'static str;

    /// The zone named exactly `name` (absolute, `example.com.`): its id in the API.
    fn find_zone<'a>(&'a self, name: &'a str)
    -> BoxFuture<'a, Result<Option<String>, Self::Error>>;

    /// The error when no candidate of `fqdn` is a zone; `tried` lists them.
    fn zone_not_found(&self, fqdn: &str, tried: String) -> Self::Error;

    /// How an error of this API is reported to the Challenge.
    fn provider_error(e: Arc<Self::Error>) -> ProviderError;
}

/// A zone-editing DNS API as a [`Provider`]. Cheap to clone; clones share the
/// batcher, the zone cache and the API (with its call counters).
pub struct ApiProvider<A: ZoneApi> {
    inner: Arc<Inner<A>>,
}

impl<A: ZoneApi> Clone for ApiProvider<A> {
    fn clone(&self) -> Self {
        ApiProvider {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<A: ZoneApi> {
    batcher: Batcher<A>,
    /// The zone the solver names, when it names one.
    fixed_zone: Option<String>,
    /// Discovered zones (or their absence) by name.
    zones: ZoneCache,
}

impl<A: ZoneApi> ApiProvider<A> {
    /// Edits within `batch_window` of one another in one zone go out as one change.
    pub fn new(api: A, batch_window: Duration, fixed_zone: Option<String>) -> Self {
        ApiProvider {
            inner: Arc::new(Inner {
                batcher: Batcher::new(Arc::new(api), batch_window),
                fixed_zone,
                zones: ZoneCache::new(ZONE_CACHE_TTL),
            }),
        }
    }

    pub fn api(&self) -> &Arc<A> {
        self.inner.batcher.backend()
    }

    pub fn fixed_zone(&self) -> Option<&str> {
        self.inner.fixed_zone.as_deref()
    }

    /// The API's zone for `fqdn`, whose authoritative zone (in public DNS) is `zone`.
    pub async fn zone(&self, zone: &str, fqdn: &str) -> Result<String, A::Error> {
        if let Some(z) = &self.inner.fixed_zone {
            return Ok(z.clone());
        }
        let api = self.api();
        let candidates = zone_candidates(zone, fqdn);
        let found = self
            .inner
            .zones
            .first(
                &candidates,
                |name| async move { api.find_zone(&name).await },
            )
            .await?;
        if let Some((name, id)) = found {
            debug!(zone = %name, id = %id, kind = A::ZONE_KIND, "using zone");
            return Ok(id);
        }
        let tried = candidates
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(" or ");
        Err(api.zone_not_found(fqdn, tried))
    }

    async fn edit(&self, zone: &str, fqdn: &str, value: &str, op: Op) -> Result<(), ProviderError> {
        let id = self
            .zone(zone, fqdn)
            .await
            .map_err(|e| A::provider_error(Arc::new(e)))?;
        let edit = Edit {
            name: super::fqdn(fqdn),
            op,
            value: value.to_string(),
        };
        self.inner
            .batcher
            .submit(&id, id.clone(), edit)
            .await
            .map_err(A::provider_error)
    }
}

impl<A: ZoneApi> Provider for ApiProvider<A> {
    fn present<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.edit(zone, fqdn, value, Op::Add))
    }

    fn cleanup<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.edit(zone, fqdn, value, Op::Remove))
    }
}
