//! The Gateway shim at scale: 5,000 Gateways × 4 HTTPS listeners (GATEWAYS_N overrides)
//! created against the sandbox API server (a child process); prints the time until
//! every Certificate exists, the peak RSS of the shim's process, and the shim's share
//! of the heap at rest (the heap in use less what is left once the shim has stopped,
//! the Certificate watch it read from still running). Only the Gateway shim runs
//! here, so the figures are the shim's, not issuance's.
//!
//! `cargo bench --bench gateways`

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use certgate::api::Certificate;
use certgate::controller::{Context, ControllerConfig};
use futures::StreamExt;
use kube::api::Api;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use support::{cpu_seconds_of, env_or, malloc_mib, peak_rss_mib, remote_sandbox, rss_mib};

fn main() {
    support::run(run());
}

async fn run() {
    let n = env_or("GATEWAYS_N", 5000);
    let (sandbox, client) = remote_sandbox().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gateway-api");
    let mut crds = Vec::new();
    for kind in [
        "gatewayclasses",
        "gateways",
        "listenersets",
        "referencegrants",
    ] {
        let file = format!("gateway.networking.k8s.io_{kind}.yaml");
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        crds.extend(certgate::manifests::parse_documents(&file, &text).unwrap());
    }
    certgate::manifests::apply(&client, "crds", &crds, "bench")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let ctx = Context::new(
        client.clone(),
        ControllerConfig::default(),
        Arc::new(certgate::metrics::Metrics::default()),
    );
    let (stop, rx) = tokio::sync::watch::channel(false);
    let certificates = ctx.watch_certificates();
    let shim = tokio::spawn(certgate::gateway::run(
        ctx.runtime.clone(),
        certificates.clone(),
        Default::default(),
        Default::default(),
        async move {
            let mut rx = rx;
            let _ = rx.wait_for(|s| *s).await;
        },
    ));
    let cpu0 = cpu_seconds_of("self");
    let sandbox_pid = sandbox.child.id().to_string();
    let sandbox_cpu0 = cpu_seconds_of(&sandbox_pid);
    let t = Instant::now();
    let gateways: Api<certgate::gateway::types::Gateway> =
        Api::namespaced(client.clone(), "default");
    futures::stream::iter(0..n)
        .map(|i| {
            let gateways = gateways.clone();
            async move {
                let listeners: Vec<serde_json::Value> = (0..4)
                    .map(|l| json!({"name": format!("l{l}"), "protocol": "HTTPS", "port": 443, "hostname": format!("h{l}.g{i}.example.com"),
                                    "tls": {"certificateRefs": [{"name": format!("g{i}-l{l}")}]}}))
                    .collect();
                let gw = serde_json::from_value(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                    "metadata": {"name": format!("g{i}"), "namespace": "default", "annotations": {"cert-manager.io/cluster-issuer": "bench"}},
                    "spec": {"gatewayClassName": "bench", "listeners": listeners}}))
                .unwrap();
                gateways.create(&Default::default(), &gw).await.unwrap();
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let created = t.elapsed().as_secs_f64();
    let certs: Api<Certificate> = Api::namespaced(client.clone(), "default");
    let mut seen = std::collections::HashSet::new();
    let mut events = kube::runtime::watcher(certs, Default::default()).boxed();
    while seen.len() < 4 * n {
        if let Some(Ok(
            kube::runtime::watcher::Event::Apply(c) | kube::runtime::watcher::Event::InitApply(c),
        )) = events.next().await
        {
            seen.insert(c.metadata.name.unwrap_or_default());
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds_of("self") - cpu0;
    let sandbox_cpu = cpu_seconds_of(&sandbox_pid) - sandbox_cpu0;
    drop(events);
    drop(seen);
    // The shim's share of the heap: in use while it runs, less what is left once it
    // has stopped and only the Certificate watch it read from remains (the
    // Certificate controller keeps that cache in any case); then the Certificate
    // watch's own share, less what is left without it.
    let with_shim = settled_heap_mib().await;
    let rss_with_shim = rss_mib();
    let _ = stop.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), shim).await;
    let without_shim = settled_heap_mib().await;
    drop(certificates);
    let without_certificates = settled_heap_mib().await;
    println!("Gateway shim: {n} Gateways x 4 listeners, one Certificate per listener");
    println!(
        "  every Certificate exists {elapsed:.1} s after the first Gateway was created ({created:.1} s to create the Gateways)"
    );
    println!(
        "  {:.0} Certificates/s; {:.4} CPU s per Certificate in the shim's process (+{:.4} in the API server)",
        (4 * n) as f64 / elapsed,
        cpu / (4 * n) as f64,
        sandbox_cpu / (4 * n) as f64
    );
    println!(
        "  peak RSS of the shim's process: {:.0} MiB; RSS at rest: {rss_with_shim:.0} MiB",
        peak_rss_mib()
    );
    println!(
        "  heap in use at rest: the Gateway shim's share {:.1} MiB, the Certificate cache's {:.1} MiB ({:.0} bytes per Certificate), the rest {without_certificates:.1} MiB",
        with_shim - without_shim,
        without_shim - without_certificates,
        (without_shim - without_certificates) * 1024.0 * 1024.0 / (4 * n) as f64
    );
}

/// malloc's heap in use once the process has settled (free pages handed back).
async fn settled_heap_mib() -> f64 {
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    certgate::runtime::allocator::trim();
    malloc_mib().0
}
