//! Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection:
//! only the holder runs controllers; a holder that cannot renew steps down.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use std::time::Duration;

/// Leader election settings (client-go's defaults: 60 s lease, 40 s renew deadline, 15 s retry,
/// scaled down here for a lighter controller: 15 s, 10 s, 2 s).
#[derive(Debug, Clone)]
pub struct LeaderElectionConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    pub fn new(namespace: &str, identity: &str) -> Self {
        LeaderElectionConfig {
            namespace: namespace.to_string(),
            name: "certgate-controller".to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Why leader election failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("leader election lease {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

/// Whether the lease is free for `identity` to take at `at`.
fn takeable(spec: &LeaseSpec, identity: &str, at: jiff::Timestamp) -> bool {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == identity {
        return true;
    }
    let Some(renewed) = spec.renew_time.as_ref().map(|t| t.0) else {
        return true;
    };
    let duration = spec.lease_duration_seconds.unwrap_or(15).max(1) as i64;
    renewed
        .saturating_add(jiff::SignedDuration::from_secs(duration))
        .map(|expiry| expiry < at)
        .unwrap_or(true)
}

/// Tries once to acquire or renew the lease; true when this identity holds it.
pub async fn try_acquire_or_renew(
    client: &kube::Client,
    cfg: &LeaderElectionConfig,
) -> Result<bool, LeaderError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let err = |source| LeaderError::Api {
        namespace: cfg.namespace.clone(),
        name: cfg.name.clone(),
        source,
    };
    let spec = |acquire: Option<MicroTime>, transitions: i32| LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(cfg.lease_duration.as_secs() as i32),
        acquire_time: acquire,
        renew_time: Some(now()),
        lease_transitions: Some(transitions),
        ..Default::default()
    };
    match api.get_opt(&cfg.name).await.map_err(err)? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    ..Default::default()
                },
                spec: Some(spec(Some(now()), 0)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(err(e)),
            }
        }
        Some(mut lease) => {
            let current = lease.spec.clone().unwrap_or_default();
            if !takeable(&current, &cfg.identity, jiff::Timestamp::now()) {
                return Ok(false);
            }
            let ours = current.holder_identity.as_deref() == Some(cfg.identity.as_str());
            let transitions = current.lease_transitions.unwrap_or(0) + if ours { 0 } else { 1 };
            let acquire = if ours {
                current.acquire_time.clone()
            } else {
                Some(now())
            };
            lease.spec = Some(spec(acquire, transitions));
            match api.replace(&cfg.name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(err(e)),
            }
        }
    }
}

/// Waits until this identity holds the lease.
pub async fn acquire(client: &kube::Client, cfg: &LeaderElectionConfig) {
    loop {
        match try_acquire_or_renew(client, cfg).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "leader election"),
        }
        tokio::time::sleep(cfg.retry_period).await;
    }
}

/// Renews the lease until renewal fails for longer than the renew deadline; then returns
/// (the caller stops its controllers).
pub async fn keep_renewing(client: &kube::Client, cfg: &LeaderElectionConfig) {
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.retry_period).await;
        match try_acquire_or_renew(client, cfg).await {
            Ok(true) => last_ok = tokio::time::Instant::now(),
            Ok(false) => {
                tracing::warn!("leader election lost: another instance holds the lease");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "renewing the leader election lease"),
        }
        if last_ok.elapsed() > cfg.renew_deadline {
            tracing::warn!("leader election lost: could not renew within the deadline");
            return;
        }
    }
}

/// Releases the lease on shutdown so another instance can take over at once.
pub async fn release(client: &kube::Client, cfg: &LeaderElectionConfig) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    if let Ok(Some(mut lease)) = api.get_opt(&cfg.name).await
        && lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(cfg.identity.as_str())
    {
        if let Some(s) = lease.spec.as_mut() {
            s.holder_identity = None;
            s.lease_duration_seconds = Some(1);
        }
        let _ = api.replace(&cfg.name, &PostParams::default(), &lease).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_takeable_when_free_ours_or_expired() {
        let now = jiff::Timestamp::now();
        let held = |holder: &str, renewed_ago: i64| LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                now.saturating_sub(jiff::SignedDuration::from_secs(renewed_ago))
                    .unwrap_or(now),
            )),
            ..Default::default()
        };
        assert!(takeable(&LeaseSpec::default(), "me", now));
        assert!(takeable(&held("me", 5), "me", now));
        assert!(!takeable(&held("other", 5), "me", now));
        assert!(takeable(&held("other", 30), "me", now));
    }
}
