//! Sandbox throughput: create 10,000 custom resources with a watch open, then patch
//! each once — through `kube::Client` over HTTPS, and directly against the in-process
//! API (to show what HTTP costs). Prints ops/s, watch events seen and RSS.
//!
//! `cargo bench -p certgate-sandbox --bench throughput` (N overrides with SANDBOX_BENCH_N).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use certgate_sandbox::apiserver::{PatchType, WriteOptions};
use certgate_sandbox::{Sandbox, SandboxOptions};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn widget_crd() -> Value {
    let path = format!(
        "{}/tests/recordings/crd-widget.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    text.split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .find(|d| d["spec"]["names"]["kind"] == "Widget")
        .unwrap()
}

fn widget(i: usize) -> Value {
    json!({"apiVersion": "example.certgate.test/v1", "kind": "Widget",
        "metadata": {"name": format!("w{i:05}"), "namespace": "default", "labels": {"bench": "yes"}},
        "spec": {"owner": "bench", "size": 1 + (i % 10) as i64, "name": "abc"}})
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = std::env::var("SANDBOX_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let concurrency = 64;
    let rss_start = rss_mib();

    // Over HTTPS through kube::Client.
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    sandbox.install_crds(&[widget_crd()]).unwrap();
    let client = sandbox.client().await.unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.certgate.test", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let seen = Arc::new(AtomicUsize::new(0));
    let watch_api = api.clone();
    let seen_w = seen.clone();
    let watcher = tokio::spawn(async move {
        let mut s = watch_api
            .watch(&WatchParams::default().timeout(290), "0")
            .await
            .unwrap()
            .boxed();
        while let Ok(Some(e)) = s.try_next().await {
            match e {
                WatchEvent::Added(_) | WatchEvent::Modified(_) => {
                    seen_w.fetch_add(1, Ordering::Relaxed);
                }
                WatchEvent::Error(e) => eprintln!("watch ended with {} {}", e.code, e.message),
                _ => {}
            }
        }
    });

    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(widget(i)).unwrap();
                api.create(&PostParams::default(), &obj).await.unwrap();
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let create_s = t.elapsed().as_secs_f64();
    let rss_after_create = rss_mib();

    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                api.patch(
                    &format!("w{i:05}"),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"name": "patched"}})),
                )
                .await
                .unwrap();
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let patch_s = t.elapsed().as_secs_f64();
    for _ in 0..1200 {
        if seen.load(Ordering::Relaxed) >= 2 * n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let events = seen.load(Ordering::Relaxed);
    watcher.abort();

    let list_t = Instant::now();
    let listed = api.list(&Default::default()).await.unwrap().items.len();
    let list_s = list_t.elapsed().as_secs_f64();

    // In process, without HTTP.
    let direct = Sandbox::start(SandboxOptions::default()).await.unwrap();
    direct.install_crds(&[widget_crd()]).unwrap();
    let server = direct.api().clone();
    let served = server
        .registry
        .get("example.certgate.test", "v1", "widgets")
        .unwrap();
    let opts = WriteOptions {
        manager: "bench".into(),
        ..Default::default()
    };
    let t = Instant::now();
    for i in 0..n {
        server
            .create(&served, Some("default"), widget(i), &opts)
            .unwrap();
    }
    let direct_create_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..n {
        server
            .patch(
                &served,
                "default",
                &format!("w{i:05}"),
                PatchType::Merge,
                &json!({"spec": {"name": "patched"}}),
                None,
                &opts,
            )
            .unwrap();
    }
    let direct_patch_s = t.elapsed().as_secs_f64();

    let target = 5000.0;
    let http_create = n as f64 / create_s;
    let http_patch = n as f64 / patch_s;
    println!(
        "sandbox throughput, {n} custom resources, {concurrency} concurrent requests, one watch open"
    );
    println!(
        "  HTTPS create : {http_create:>9.0} ops/s  ({:.2}x the 5,000 writes/s target)",
        http_create / target
    );
    println!(
        "  HTTPS patch  : {http_patch:>9.0} ops/s  ({:.2}x the target)",
        http_patch / target
    );
    println!("  watch events : {events} of {} expected", 2 * n);
    println!(
        "  list of {listed}: {:.0} objects/s",
        listed as f64 / list_s
    );
    println!(
        "  in-process create {:>9.0} ops/s, patch {:>9.0} ops/s (HTTPS costs {:.1}x on create)",
        n as f64 / direct_create_s,
        n as f64 / direct_patch_s,
        (n as f64 / direct_create_s) / http_create
    );
    println!(
        "  RSS: {rss_start:.0} MiB at start, {rss_after_create:.0} MiB with {n} objects over HTTPS, {:.0} MiB with both sandboxes filled (target < 200 MiB at 10,000)",
        rss_mib()
    );
}
