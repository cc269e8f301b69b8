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

/// A watch whose cache keeps only some objects (as the request watch keeps only
/// the requests still worked on) announces the others all the same, once each
/// time they change, drops an object from the cache when it stops being kept,
/// and its hooks see every object.
#[tokio::test]
async fn a_cache_that_keeps_some_objects_announces_the_others_too() {
    use certgate::runtime::shared_watch::{Change, SharedWatch};
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams, PostParams};

    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let hooked = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
    let (watch, driver) = {
        let hooked = hooked.clone();
        SharedWatch::start_keeping(
            api.clone(),
            &certgate::runtime::shards::Shards::all(),
            // Kept while not labelled done.
            |c: &ConfigMap| {
                c.metadata
                    .labels
                    .as_ref()
                    .is_none_or(|l| !l.contains_key("done"))
            },
            |_| {},
            vec![Box::new(move |e, _| {
                if let kube::runtime::watcher::Event::Apply(c) = e {
                    let name = c.metadata.name.clone().unwrap_or_default();
                    *hooked.lock().unwrap().entry(name).or_default() += 1;
                }
            })],
        )
    };
    let mut changes = watch.changes().boxed();
    let cm = |name: &str, done: bool| -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": if done { serde_json::json!({"done": "yes"}) } else { serde_json::json!({}) }},
            "data": {"k": "v"},
        }))
        .unwrap()
    };
    // Wait for the watch to have listed (the empty namespace).
    common::wait_for("the watch to list", async || {
        (watch.lists() > 0).then_some(())
    })
    .await;
    api.create(&PostParams::default(), &cm("working", false))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("finished", true))
        .await
        .unwrap();
    let mut announced = Vec::new();
    while announced.len() < 2 {
        let change = tokio::time::timeout(Duration::from_secs(20), changes.next())
            .await
            .expect("a change within 20 s")
            .expect("the stream goes on");
        // (kube-controller-manager's kube-root-ca.crt is in every namespace.)
        if let Change::Applied(c) = change
            && c.metadata.name != Some("kube-root-ca.crt".into())
        {
            announced.push(c.metadata.name.clone().unwrap_or_default());
        }
    }
    announced.sort();
    assert_eq!(announced, ["finished", "working"]);
    let cached = || {
        let mut names: Vec<String> = watch
            .store()
            .state()
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .filter(|n| n != "kube-root-ca.crt")
            .collect();
        names.sort();
        names
    };
    assert_eq!(cached(), ["working"]);
    // The kept one finishes: announced, and gone from the cache.
    api.patch(
        "working",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": {"done": "yes"}}})),
    )
    .await
    .unwrap();
    let c = loop {
        let change = tokio::time::timeout(Duration::from_secs(20), changes.next())
            .await
            .expect("a change within 20 s")
            .expect("the stream goes on");
        let Change::Applied(c) = change else {
            panic!("expected the change to be announced as applied");
        };
        if c.metadata.name.as_deref() == Some("working") {
            break c;
        }
    };
    assert!(c.metadata.labels.as_ref().unwrap().contains_key("done"));
    assert!(cached().is_empty(), "{:?}", cached());
    let hooks = hooked.lock().unwrap().clone();
    assert_eq!(hooks.get("finished"), Some(&1), "{hooks:?}");
    assert_eq!(hooks.get("working"), Some(&2), "{hooks:?}");
    driver.abort();
    env.cleanup().await;
}
