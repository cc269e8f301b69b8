//! Where the rate-limit ledgers ([`super::rate_limits`]) live: one ConfigMap per ACME
//! server (directory URL) in the cluster resource namespace,
//! `certgate-acme-ledger-<hash of the URL>`, holding the ledger as compact JSON
//! under `ledger.json`. Each is read on first use and kept in memory; every change
//! is written at once (a replace with the resourceVersion read, re-read and redone
//! on conflict), so a restarted controller counts what the one before it issued.
//!
//! Without the right to read or write ConfigMaps there (403), the guard still works
//! from memory, with a warning: a restart then forgets, as before.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};

use super::rate_limits::{Ledger, Limits, Refusal};

/// The ConfigMap key that holds the ledger.
pub const LEDGER_KEY: &str = "ledger.json";
/// The annotation on the ConfigMap naming its ACME server.
pub const SERVER_ANNOTATION: &str = "certgate.io/acme-server";

/// The ConfigMap name for an ACME server's ledger.
pub fn configmap_name(directory_url: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, directory_url.as_bytes());
    let hex: String = d.as_ref()[..5].iter().map(|b| format!("{b:02x}")).collect();
    format!("certgate-acme-ledger-{hex}")
}

struct Loaded {
    ledger: Ledger,
    /// The ConfigMap's resourceVersion last read or written; `None`: none exists.
    resource_version: Option<String>,
    /// `false` when ConfigMaps are forbidden: memory only.
    persisted: bool,
}

/// What one ledger change needs to know.
pub struct Scope<'a> {
    pub client: &'a kube::Client,
    /// The cluster resource namespace.
    pub namespace: &'a str,
    /// The ACME server's directory URL.
    pub server: &'a str,
}

/// The ledgers of every ACME server this process has used.
#[derive(Default)]
pub struct LedgerStore {
    ledgers: tokio::sync::Mutex<HashMap<String, Loaded>>,
}

fn forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

async fn read(scope: &Scope<'_>) -> Result<Loaded, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(scope.client.clone(), scope.namespace);
    let name = configmap_name(scope.server);
    match api.get_opt(&name).await {
        Ok(None) => Ok(Loaded {
            ledger: Ledger::default(),
            resource_version: None,
            persisted: true,
        }),
        Ok(Some(cm)) => {
            let text = cm
                .data
                .as_ref()
                .and_then(|d| d.get(LEDGER_KEY))
                .map_or("{}", String::as_str);
            let ledger = Ledger::from_json(text).unwrap_or_else(|e| {
                tracing::warn!(configmap = %name, error = %e, "the ACME rate-limit ledger cannot be read; starting it afresh");
                Ledger::default()
            });
            Ok(Loaded {
                ledger,
                resource_version: cm.metadata.resource_version,
                persisted: true,
            })
        }
        Err(e) if forbidden(&e) => {
            tracing::warn!(configmap = %name, namespace = %scope.namespace, error = %e, "cannot read the ACME rate-limit ledger; counting in memory only (a restart forgets)");
            Ok(Loaded {
                ledger: Ledger::default(),
                resource_version: None,
                persisted: false,
            })
        }
        Err(e) => Err(e),
    }
}

/// Writes `ledger` over the version read; the new resourceVersion.
async fn write(
    scope: &Scope<'_>,
    ledger: &Ledger,
    resource_version: Option<String>,
) -> Result<Option<String>, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(scope.client.clone(), scope.namespace);
    let name = configmap_name(scope.server);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(scope.namespace.to_string()),
            resource_version: resource_version.clone(),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "certgate".to_string(),
            )])),
            annotations: Some(BTreeMap::from([(
                SERVER_ANNOTATION.to_string(),
                scope.server.to_string(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(LEDGER_KEY.to_string(), ledger.to_json())])),
        ..Default::default()
    };
    let written = match resource_version {
        Some(_) => api.replace(&name, &PostParams::default(), &cm).await?,
        None => api.create(&PostParams::default(), &cm).await?,
    };
    Ok(written.metadata.resource_version)
}

impl LedgerStore {
    async fn loaded<'m>(
        map: &'m mut HashMap<String, Loaded>,
        scope: &Scope<'_>,
    ) -> Result<&'m mut Loaded, kube::Error> {
        if !map.contains_key(scope.server) {
            let l = read(scope).await?;
            map.insert(scope.server.to_string(), l);
        }
        map.get_mut(scope.server)
            .ok_or_else(|| kube::Error::Service("the ledger vanished from memory".into()))
    }

    /// Applies `change` to the server's ledger and persists it (when it changed
    /// anything): re-read and applied again on a conflict.
    async fn mutate(
        map: &mut HashMap<String, Loaded>,
        scope: &Scope<'_>,
        limits: &Limits,
        now: jiff::Timestamp,
        change: impl Fn(&mut Ledger) -> bool,
    ) -> Result<(), kube::Error> {
        for _ in 0..5 {
            let loaded = Self::loaded(map, scope).await?;
            let mut next = loaded.ledger.clone();
            if !change(&mut next) {
                return Ok(());
            }
            next.prune(now, limits);
            if !loaded.persisted {
                loaded.ledger = next;
                return Ok(());
            }
            match write(scope, &next, loaded.resource_version.clone()).await {
                Ok(rv) => {
                    loaded.ledger = next;
                    loaded.resource_version = rv;
                    return Ok(());
                }
                Err(e) if forbidden(&e) => {
                    tracing::warn!(namespace = %scope.namespace, error = %e, "cannot write the ACME rate-limit ledger; counting in memory only (a restart forgets)");
                    loaded.ledger = next;
                    loaded.persisted = false;
                    return Ok(());
                }
                // Changed (or created) by another writer: read it again, redo.
                Err(e) if conflict(&e) => {
                    map.remove(scope.server);
                }
                Err(e) => return Err(e),
            }
        }
        Err(kube::Error::Service(
            "the ACME rate-limit ledger kept changing under this controller (5 conflicts)".into(),
        ))
    }

    /// May `account` place this order now? When it may, the order is counted (a
    /// reservation, persisted) until it ends: see [`Self::issued`], [`Self::release`].
    #[allow(clippy::too_many_arguments)]
    pub async fn admit(
        &self,
        scope: &Scope<'_>,
        account: &str,
        order_uid: &str,
        names: &[String],
        renewal: bool,
        limits: &Limits,
        now: jiff::Timestamp,
    ) -> Result<Result<(), Refusal>, kube::Error> {
        let mut map = self.ledgers.lock().await;
        let loaded = Self::loaded(&mut map, scope).await?;
        if let Err(refusal) = loaded
            .ledger
            .admit(account, order_uid, names, renewal, limits, now)
        {
            return Ok(Err(refusal));
        }
        if renewal || limits.certificates_per_domain == 0 {
            return Ok(Ok(()));
        }
        Self::mutate(&mut map, scope, limits, now, |l| {
            let before = l.in_flight.get(order_uid).cloned();
            l.reserve(order_uid, names, now);
            // A retry of the same order within a minute need not write again.
            before.is_none_or(|b| now.as_second() - b.t > 60)
        })
        .await?;
        Ok(Ok(()))
    }

    /// The order ended without a certificate, or was never placed.
    pub async fn release(
        &self,
        scope: &Scope<'_>,
        order_uid: &str,
        now: jiff::Timestamp,
    ) -> Result<(), kube::Error> {
        let mut map = self.ledgers.lock().await;
        Self::mutate(&mut map, scope, &Limits::default(), now, |l| {
            l.release(order_uid)
        })
        .await
    }

    /// The order got its certificate.
    pub async fn issued(
        &self,
        scope: &Scope<'_>,
        order_uid: &str,
        names: &[String],
        renewal: bool,
        now: jiff::Timestamp,
    ) -> Result<(), kube::Error> {
        let mut map = self.ledgers.lock().await;
        Self::mutate(&mut map, scope, &Limits::default(), now, |l| {
            l.record_issued(order_uid, names, renewal, now);
            true
        })
        .await
    }

    /// Validation of `identifiers` failed for `account` (the order ended).
    pub async fn failed_validations(
        &self,
        scope: &Scope<'_>,
        order_uid: &str,
        account: &str,
        identifiers: &[String],
        now: jiff::Timestamp,
    ) -> Result<(), kube::Error> {
        let mut map = self.ledgers.lock().await;
        Self::mutate(&mut map, scope, &Limits::default(), now, |l| {
            let had = l.in_flight.contains_key(order_uid);
            l.record_failed_validations(order_uid, account, identifiers, now);
            had || !identifiers.is_empty()
        })
        .await
    }

    /// Whether a loaded ledger still counts this order as in flight (an Order that
    /// reached a final state while no controller was there to see it).
    pub async fn in_flight(&self, order_uid: &str) -> Option<String> {
        let map = self.ledgers.lock().await;
        map.iter()
            .find(|(_, l)| l.ledger.in_flight.contains_key(order_uid))
            .map(|(server, _)| server.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_configmap_name_per_server() {
        let a = configmap_name("https://acme-v02.api.letsencrypt.org/directory");
        let b = configmap_name("https://acme-staging-v02.api.letsencrypt.org/directory");
        assert_ne!(a, b);
        assert_eq!(
            a,
            configmap_name("https://acme-v02.api.letsencrypt.org/directory")
        );
        assert!(
            a.starts_with("certgate-acme-ledger-") && a.len() == 31,
            "{a}"
        );
    }
}
