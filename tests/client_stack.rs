//! The controller's Kubernetes client (`runtime::client`: kube's layers with a capped
//! read buffer and an idle timeout on pooled connections) against the API server:
//! token auth and TLS on the real leg, a listing several times larger than the read
//! buffer's cap read intact, a watch that sees a write, and requests after the pool's
//! connections have been reused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use certgate::runtime::client::{READ_BUFFER_MAX, from_config};
use certgate_sandbox::TestEnv;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;

const OBJECTS: usize = 24;
const VALUE_BYTES: usize = 16 * 1024;
// The listing is several times the read buffer's cap.
const _: () = assert!(OBJECTS * VALUE_BYTES > 4 * READ_BUFFER_MAX);

/// The value ConfigMap `i` holds: different per object and per position, so a
/// listing read out of order or cut short does not compare equal.
fn value(i: usize) -> String {
    (0..VALUE_BYTES)
        .map(|j| char::from(b'a' + ((i * 7 + j * 13) % 26) as u8))
        .collect()
}

#[tokio::test]
async fn the_controllers_client_lists_watches_and_writes() {
    let env = TestEnv::start().await.unwrap();
    let config = common::outcome::client_config(&env, "certgate-client-stack").await;
    let client = from_config(config).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &env.namespace);

    futures::stream::iter(0..OBJECTS)
        .map(|i| {
            let api = api.clone();
            async move {
                let cm = ConfigMap {
                    metadata: kube::api::ObjectMeta {
                        name: Some(format!("blob-{i:02}")),
                        labels: Some(BTreeMap::from([("kind".to_string(), "blob".to_string())])),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([("blob".to_string(), value(i))])),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &cm).await.unwrap();
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;

    // One answer of about 400 KiB, read through a buffer capped at 64 KiB.
    let listed = api
        .list(&ListParams::default().labels("kind=blob"))
        .await
        .unwrap();
    let mut names: Vec<String> = Vec::new();
    for cm in &listed.items {
        let name = cm.metadata.name.clone().unwrap();
        let i: usize = name.trim_start_matches("blob-").parse().unwrap();
        let data = cm.data.as_ref().and_then(|d| d.get("blob")).unwrap();
        assert!(*data == value(i), "{name} came back altered");
        names.push(name);
    }
    names.sort();
    let expected: Vec<String> = (0..OBJECTS).map(|i| format!("blob-{i:02}")).collect();
    assert_eq!(names, expected);

    // A watch through the same client sees a write made after it started.
    let mut events = watcher::watcher(
        api.clone(),
        watcher::Config::default().fields("metadata.name=blob-03"),
    )
    .boxed();
    let mut initial_done = false;
    while !initial_done {
        let e = tokio::time::timeout(Duration::from_secs(30), events.try_next())
            .await
            .expect("the watch lists in time")
            .unwrap()
            .unwrap();
        initial_done = matches!(e, watcher::Event::InitDone);
    }
    api.patch(
        "blob-03",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"marker": "seen"}})),
    )
    .await
    .unwrap();
    let changed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(watcher::Event::Apply(cm)) = events.try_next().await.unwrap()
                && cm
                    .data
                    .as_ref()
                    .is_some_and(|d| d.get("marker").is_some_and(|m| m == "seen"))
            {
                return cm;
            }
        }
    })
    .await
    .expect("the watch sees the write");
    assert_eq!(changed.data.unwrap().get("blob"), Some(&value(3)));

    env.cleanup().await;
}
