//! One watch per kind per process: the Certificate controller, the Ingress shim,
//! the Gateway and ListenerSet shims and the CA injector all read Certificates
//! from one watch, and Gateways, ListenerSets and each route kind are watched once
//! each. Counted at the client: every request the controllers send goes through a
//! counting layer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certgate::controller::RunningControllers;
use certgate_sandbox::TestEnv;

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// The resource of a watch request (`certificates`, `gateways`, …), if it is one.
fn watched_resource(uri: &http::Uri) -> Option<String> {
    let query = uri.query().unwrap_or_default();
    if !query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1")
    {
        return None;
    }
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    // …/<plural> (cluster-wide) or …/namespaces/<ns>/<plural>
    segments.last().map(|s| s.to_string())
}

async fn counting_client(env: &TestEnv) -> (kube::Client, Counts) {
    let config = common::outcome::client_config(env, "certgate-watches").await;
    let counts: Counts = Default::default();
    let layer = {
        let counts = counts.clone();
        tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
            if let Some(r) = watched_resource(req.uri()) {
                *counts.lock().unwrap().entry(r).or_default() += 1;
            }
            req
        })
    };
    let client = kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build();
    (client, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificates_requests_gateways_and_listener_sets_are_each_watched_once() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    env.apply_crds(&common::gateway_api_crds()).await.unwrap();
    let (client, counts) = counting_client(&env).await;
    let config = certgate::controller::ControllerConfig {
        ca_injector: true,
        ..common::scoped_config(&env)
    };
    let controllers = RunningControllers::start(client, config);
    let count = |r: &str| counts.lock().unwrap().get(r).copied().unwrap_or(0);
    common::wait_for("the watches to start", async || {
        (count("certificates") > 0
            && count("certificaterequests") > 0
            && count("gateways") > 0
            && count("listenersets") > 0)
            .then_some(())
    })
    .await;
    // Every consumer has started by now; give late ones time to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = counts.lock().unwrap().clone();
    assert_eq!(seen.get("certificates"), Some(&1), "{seen:?}");
    // The request controller and the Certificate controller's index of requests
    // read one cache.
    assert_eq!(seen.get("certificaterequests"), Some(&1), "{seen:?}");
    assert_eq!(seen.get("gateways"), Some(&1), "{seen:?}");
    assert_eq!(seen.get("listenersets"), Some(&1), "{seen:?}");
    // Each route kind once, for the listeners named by their routes.
    for routes in ["httproutes", "grpcroutes", "tlsroutes"] {
        assert_eq!(seen.get(routes), Some(&1), "{routes}: {seen:?}");
    }
    drop(controllers);
    env.cleanup().await;
}
