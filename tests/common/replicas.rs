//! Replicas for the sharding tests (`tests/sharding.rs`, `tests/sharding_acme.rs`):
//! controllers sharing namespaces by their Leases, each with a client of its own
//! whose writes are recorded by namespace, and a wait until they agree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certgate::api::Certificate;
use certgate::controller::{ControllerConfig, RunningControllers};
use certgate::runtime::shards::{ShardSettings, owner};
use certgate_sandbox::TestEnv;
use kube::api::{Api, ListParams};

/// The writes one replica sent: when, and in which namespace.
pub type Writes = Arc<Mutex<Vec<(Instant, String)>>>;

/// A replica `identity` of three sharing `scope`, its writes recorded by namespace;
/// `manager` names its field manager (`<manager>-<identity>`), `configure` adds what
/// the test needs to its configuration.
pub async fn replica(
    env: &TestEnv,
    identity: &str,
    scope: &BTreeSet<String>,
    manager: &str,
    configure: impl FnOnce(&mut ControllerConfig),
) -> (RunningControllers, Writes) {
    let writes: Writes = Default::default();
    let layer = {
        let writes = writes.clone();
        tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
            if super::outcome::write_of(req.method(), req.uri()).is_some() {
                let path = req.uri().path();
                if let Some(ns) = path
                    .split_once("/namespaces/")
                    .and_then(|(_, rest)| rest.split('/').next())
                {
                    writes
                        .lock()
                        .unwrap()
                        .push((Instant::now(), ns.to_string()));
                }
            }
            req
        })
    };
    let config = super::outcome::client_config(env, &format!("{manager}-{identity}")).await;
    let client = kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build();
    let mut sharding = ShardSettings::new(&env.namespace, identity, 3);
    sharding.scope = Some(scope.clone());
    let mut config = ControllerConfig {
        namespace: None,
        sharding: Some(sharding),
        cluster_leader: Some(certgate::runtime::leader::LeaderElectionConfig::new(
            &env.namespace,
            identity,
        )),
        ..super::scoped_config(env)
    };
    configure(&mut config);
    (RunningControllers::start(client, config), writes)
}

/// Waits until every replica in `replicas` sees exactly `members` and works.
pub async fn settled(replicas: &[(&str, &RunningControllers)], members: &[&str], within: Duration) {
    let started = Instant::now();
    loop {
        let views: Vec<_> = replicas.iter().map(|(_, r)| r.shards.view()).collect();
        if views.iter().all(|v| {
            v.as_ref().is_some_and(|v| {
                v.working
                    && v.members
                        .iter()
                        .map(String::as_str)
                        .eq(members.iter().copied())
            })
        }) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "replicas did not settle on {members:?} within {within:?}: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Certificates of `scope` not Ready yet, as `namespace/name`.
pub async fn not_ready(env: &TestEnv, scope: &BTreeSet<String>) -> Vec<String> {
    let mut not_ready = Vec::new();
    for ns in scope {
        let certs: Api<Certificate> = Api::namespaced(env.client.clone(), ns);
        for c in certs.list(&ListParams::default()).await.unwrap().items {
            if !super::is_ready(&c) {
                not_ready.push(format!("{ns}/{}", c.metadata.name.unwrap_or_default()));
            }
        }
    }
    not_ready
}

/// The writes no replica should have sent: in each namespace of `scope` only its
/// owner among `all` writes, and once `killed_at` is past, its owner among `left`.
pub fn writes_outside_share(
    scope: &BTreeSet<String>,
    all: &[String],
    left: &[&str],
    writes: &BTreeMap<&str, Writes>,
    killed_at: Instant,
) -> Vec<String> {
    let left: Vec<String> = left.iter().map(|s| s.to_string()).collect();
    let mut wrong = Vec::new();
    for ns in scope {
        let first = owner(ns, all).unwrap();
        let then = owner(ns, &left).unwrap();
        for (id, w) in writes {
            let w: Vec<Instant> = w
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, n)| n == ns)
                .map(|(at, _)| *at)
                .collect();
            let allowed = if *id == first {
                w.len()
            } else if *id == then {
                w.iter().filter(|at| **at > killed_at).count()
            } else {
                0
            };
            if allowed != w.len() {
                wrong.push(format!(
                    "{id} wrote {} times in {ns} (owner {first}, then {then})",
                    w.len() - allowed
                ));
            }
        }
    }
    wrong
}

/// Creates the namespaces the replicas share.
pub async fn create_namespaces(env: &TestEnv, names: impl IntoIterator<Item = &String>) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    for ns in names {
        let doc = serde_json::json!({"metadata": {"name": ns}});
        api.create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(doc).unwrap(),
        )
        .await
        .unwrap();
    }
}

/// Deletes the namespaces the replicas shared (best effort, at the end of a test).
pub async fn delete_namespaces(env: &TestEnv, names: impl IntoIterator<Item = &String>) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    for ns in names {
        let _ = api.delete(ns, &Default::default()).await;
    }
}
