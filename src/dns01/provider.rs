//! The contract every DNS provider fulfils: two calls, present and cleanup.
//!
//! Both take the zone (`example.com.`), the record name
//! (`_acme-challenge.example.com.`, after any CNAME following) and the TXT value, all
//! absolute. A wildcard and its base name share one record name, each with its own
//! value, so:
//! - `present` adds the value to the TXT RRset and keeps the values already there;
//!   presenting a value that is already there succeeds and changes nothing;
//! - `cleanup` removes only that value and succeeds when it is not there.

use futures::future::BoxFuture;

/// The error of any boxed source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a provider could not present or clean up a record. The message says what to
/// fix; it never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The solver's configuration, its credentials, or the DNS service's policy is
    /// wrong; retrying helps only once that is fixed.
    #[error(transparent)]
    Misconfigured(BoxError),
    /// The DNS service could not be reached or failed for now; retry later.
    #[error(transparent)]
    Unavailable(BoxError),
}

impl ProviderError {
    /// Whether retrying without any change may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A DNS service that can hold challenge TXT records. Object safe: controllers keep
/// `Box<dyn Provider>` / `Arc<dyn Provider>`.
pub trait Provider: Send + Sync {
    /// Adds `value` to the TXT RRset `fqdn` in `zone`, keeping the other values.
    /// Idempotent.
    fn present<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;

    /// Removes `value` from the TXT RRset `fqdn` in `zone`, keeping the other values.
    /// Succeeds when the value is absent.
    fn cleanup<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    /// An in-memory provider: the contract in its simplest form.
    #[derive(Default)]
    struct Memory(Mutex<BTreeMap<String, BTreeSet<String>>>);

    impl Provider for Memory {
        fn present<'a>(
            &'a self,
            _zone: &'a str,
            fqdn: &'a str,
            value: &'a str,
        ) -> BoxFuture<'a, Result<(), ProviderError>> {
            Box::pin(async move {
                let mut m = self
                    .0
                    .lock()
                    .map_err(|_| ProviderError::Unavailable("poisoned".into()))?;
                m.entry(fqdn.to_string())
                    .or_default()
                    .insert(value.to_string());
                Ok(())
            })
        }

        fn cleanup<'a>(
            &'a self,
            _zone: &'a str,
            fqdn: &'a str,
            value: &'a str,
        ) -> BoxFuture<'a, Result<(), ProviderError>> {
            Box::pin(async move {
                let mut m = self
                    .0
                    .lock()
                    .map_err(|_| ProviderError::Unavailable("poisoned".into()))?;
                if let Some(set) = m.get_mut(fqdn) {
                    set.remove(value);
                }
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn object_safe_and_contract() {
        let p: Box<dyn Provider> = Box::new(Memory::default());
        let name = "_acme-challenge.example.com.";
        p.present("example.com.", name, "a").await.ok();
        p.present("example.com.", name, "a").await.ok();
        p.present("example.com.", name, "b").await.ok();
        p.cleanup("example.com.", name, "a").await.ok();
        p.cleanup("example.com.", name, "absent").await.ok();
        assert!(p.cleanup("example.com.", "other.", "x").await.is_ok());
    }

    #[test]
    fn error_display_is_the_source() {
        let e = ProviderError::Misconfigured("check the key".into());
        assert_eq!(e.to_string(), "check the key");
        assert!(!e.is_transient());
        assert!(ProviderError::Unavailable("timeout".into()).is_transient());
    }
}
