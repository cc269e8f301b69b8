//! Memory at scale, as production looks (#18): unrelated Secrets of other
//! controllers (Opaque, 100 KB each, half of them applied with kubectl so that they
//! carry the last-applied annotation, as real ones do) are created first, then the
//! controllers start, then Certificates are issued (half SelfSigned, half by a CA
//! Issuer). The sandbox API server runs in a child process, so the figures are the
//! controllers' process (with the benchmark's small client).
//!
//! Prints: RSS with the Secrets listed and no Certificate, peak RSS, steady RSS after
//! issuance (10 s after the last Certificate is Ready), and RSS per 1,000
//! Certificates (steady minus the start, over the Certificates).
//!
//! `cargo bench --bench scale` — SCALE_CERTS (10,000), SCALE_SECRETS (30,000) and
//! SCALE_SECRET_KB (100) override the sizes (SCALE_EXIT_AT_STEADY=1 leaves without
//! freeing anything, for a heap profiler's leak report); with `CERTGATE_TEST_KUBECONFIG` set
//! the objects go to a fresh namespace of that real cluster (e.g. the control plane
//! of `../shared/kube`; mind etcd's quota: 30,000 × 100 KB is 3 GB).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use certgate::api::Certificate;
use certgate::controller::{ControllerConfig, RunningControllers};
use futures::StreamExt;
use kube::api::Api;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{ApiServer, env_or, malloc_mib, peak_rss_mib, rss_anon_mib, rss_file_mib, rss_mib};

fn main() {
    support::run(run());
}

async fn run() {
    let n_certs = env_or("SCALE_CERTS", 10_000);
    let n_secrets = env_or("SCALE_SECRETS", 30_000);
    let secret_kb = env_or("SCALE_SECRET_KB", 100);
    let (server, client, ns) = ApiServer::start().await;
    let ns = ns.as_str();

    // Other controllers' Secrets.
    let t = Instant::now();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let payload = base64::engine::general_purpose::STANDARD.encode(
        (0..secret_kb * 1024)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    futures::stream::iter(0..n_secrets)
        .map(|i| {
            let secrets = secrets.clone();
            let payload = payload.clone();
            async move {
                let name = format!("other-{i:05}");
                let mut s = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": name, "namespace": ns, "labels": {"app": "other"}},
                    "data": {"blob": payload}});
                if i % 2 == 0 {
                    // What `kubectl apply` leaves on the object: the whole manifest again.
                    let applied = s.to_string();
                    s["metadata"]["annotations"] =
                        json!({"kubectl.kubernetes.io/last-applied-configuration": applied});
                }
                let s = serde_json::from_value(s).unwrap();
                secrets.create(&Default::default(), &s).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let secrets_created = t.elapsed().as_secs_f64();

    // Issuers: SelfSigned, and a CA Issuer whose CA is issued by it.
    let ss = json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ss", "namespace": ns}, "spec": {"selfSigned": {}}});
    let ca_cert = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "bench-ca", "namespace": ns},
        "spec": {"isCA": true, "commonName": "bench CA", "secretName": "bench-ca", "privateKey": {"algorithm": "ECDSA", "size": 256}, "issuerRef": {"name": "ss"}}});
    let ca = json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ca", "namespace": ns}, "spec": {"ca": {"secretName": "bench-ca"}}});
    certgate::manifests::apply(&client, "bench", &[ss, ca_cert, ca], "bench")
        .await
        .unwrap();

    // On a real cluster the controllers keep to the benchmark's namespace.
    let config = ControllerConfig {
        cluster_resource_namespace: ns.into(),
        namespace: matches!(server, ApiServer::Cluster(_)).then(|| ns.to_string()),
        max_concurrent_reconciles: 32,
        ..Default::default()
    };
    let controllers = RunningControllers::start(client.clone(), config);
    let certs: Api<Certificate> = Api::namespaced(client.clone(), ns);
    let wait_ready = |want: usize| {
        let certs = certs.clone();
        async move {
            let mut ready = std::collections::HashSet::new();
            let mut events =
                kube::runtime::watcher(certs, kube::runtime::watcher::Config::default()).boxed();
            while ready.len() < want {
                let Some(Ok(
                    kube::runtime::watcher::Event::Apply(c)
                    | kube::runtime::watcher::Event::InitApply(c),
                )) = events.next().await
                else {
                    continue;
                };
                let is_ready = c
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.type_ == "Ready" && c.status == certgate::api::ConditionStatus::True
                        })
                    });
                if is_ready {
                    ready.insert(c.metadata.name.unwrap_or_default());
                }
            }
        }
    };
    // The CA first; then wait for the controllers to have listed everything: RSS
    // stops moving (within 1 MiB over 3 s; at most a minute).
    wait_ready(1).await;
    let mut samples = vec![rss_mib()];
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(rss_mib());
        if let [.., a, _, _, d] = samples[..]
            && (d - a).abs() < 1.0
        {
            break;
        }
    }
    let start_rss = rss_mib();
    let start_parts = memory_parts();

    let t = Instant::now();
    futures::stream::iter(0..n_certs)
        .map(|i| {
            let certs = certs.clone();
            async move {
                let issuer = if i % 2 == 0 { "ss" } else { "ca" };
                let c: Certificate = serde_json::from_value(json!({
                    "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                    "metadata": {"name": format!("c{i:05}"), "namespace": ns},
                    "spec": {"secretName": format!("c{i:05}-tls"), "dnsNames": [format!("c{i}.bench.example")],
                             "privateKey": {"algorithm": "ECDSA", "size": 256}, "issuerRef": {"name": issuer}}
                }))
                .unwrap();
                certs.create(&Default::default(), &c).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    wait_ready(n_certs + 1).await;
    let issued = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let steady = rss_mib();
    let steady_parts = memory_parts();
    let peak = peak_rss_mib();
    // For a heap profiler (`heaptrack`): leave with the steady state's heap still
    // allocated, so what the profiler reports as leaked is what steady state holds.
    let exit_at_steady = std::env::var_os("SCALE_EXIT_AT_STEADY").is_some();
    if !exit_at_steady {
        controllers.stop().await;
    }

    println!(
        "scale: {n_certs} Certificates (half SelfSigned, half CA) beside {n_secrets} unrelated {secret_kb} KB Secrets, on {}",
        server.describe()
    );
    println!("  Secrets created in {secrets_created:.0} s; Certificates Ready in {issued:.0} s");
    println!("  RSS with the Secrets listed, before the Certificates: {start_rss:.0} MiB");
    println!("    {start_parts}");
    println!("  peak RSS: {peak:.0} MiB");
    println!("  steady RSS after issuance: {steady:.0} MiB");
    println!("    {steady_parts}");
    println!(
        "  RSS per 1,000 Certificates: {:.1} MiB",
        (steady - start_rss) / (n_certs as f64 / 1000.0)
    );
    server.finish().await;
    if exit_at_steady {
        std::process::exit(0);
    }
}

/// What RSS is made of: anonymous (heap, stacks) and file-backed (code) pages, and
/// malloc's heap in use and held free.
fn memory_parts() -> String {
    let (in_use, free) = malloc_mib();
    let (code_size, code_rss) = executable_kib();
    format!(
        "anonymous {:.0} MiB ({}: {in_use:.0} MiB in use, {free:.0} MiB held beside), file-backed {:.0} MiB (the executable: {:.1} of {:.1} MiB mapped are resident)",
        rss_anon_mib(),
        if certgate::runtime::allocator::jemalloc() {
            "jemalloc"
        } else {
            "glibc malloc"
        },
        rss_file_mib(),
        code_rss as f64 / 1024.0,
        code_size as f64 / 1024.0,
    )
}

/// The executable's own mappings, from /proc/self/smaps: (size, resident), in KiB.
fn executable_kib() -> (u64, u64) {
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let exe = exe.to_string_lossy();
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let (mut size, mut rss, mut ours) = (0, 0, false);
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("Size:") if ours => size += words.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            Some("Rss:") if ours => rss += words.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            Some(w) if w.contains('-') && !w.ends_with(':') => ours = line.ends_with(exe.as_ref()),
            _ => {}
        }
    }
    (size, rss)
}
