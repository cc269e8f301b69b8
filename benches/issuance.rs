//! Issuance throughput: N Certificates issued end to end (controllers + sandbox API
//! server in this process) with a SelfSigned issuer, for ECDSA P-256 and RSA-4096.
//! Prints certificates/s, the ratio to generating the same keys alone in this run (the
//! physical limit), CPU seconds per certificate and peak RSS.
//!
//! `cargo bench --bench issuance` (ISSUANCE_N_ECDSA, ISSUANCE_N_RSA override the counts).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use certgate::api::Certificate;
use certgate::controller::{ControllerConfig, RunningControllers};
use certgate::pki::key::{KeyAlgorithm, PrivateKey};
use futures::StreamExt;
use kube::api::Api;
use serde_json::json;
use std::time::Instant;

mod support;
use support::{cpu_seconds_of, env_or, peak_rss_mib, remote_sandbox};

fn cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

async fn keygen_only(n: usize, alg: KeyAlgorithm) -> f64 {
    let t = Instant::now();
    let workers = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(2);
    futures::stream::iter(0..n)
        .map(|_| tokio::task::spawn_blocking(move || drop(PrivateKey::generate(alg).unwrap())))
        .buffer_unordered(workers)
        .collect::<Vec<_>>()
        .await;
    t.elapsed().as_secs_f64()
}

async fn issue(n: usize, algorithm: &str, size: u32) -> (f64, f64, f64) {
    let (sandbox, client) = remote_sandbox().await;
    let sandbox_pid = sandbox.child.id().to_string();
    let config = ControllerConfig {
        cluster_resource_namespace: "default".into(),
        max_concurrent_reconciles: 32,
        ..Default::default()
    };
    let controllers = RunningControllers::start(client.clone(), config);
    let issuer = json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ss", "namespace": "default"}, "spec": {"selfSigned": {}}});
    certgate::manifests::apply(&client, "bench", &[issuer], "bench")
        .await
        .unwrap();
    let cpu0 = cpu_seconds();
    let sandbox_cpu0 = cpu_seconds_of(&sandbox_pid);
    let t = Instant::now();
    let certs: Api<Certificate> = Api::namespaced(client.clone(), "default");
    futures::stream::iter(0..n)
        .map(|i| {
            let certs = certs.clone();
            async move {
                let c: Certificate = serde_json::from_value(json!({
                    "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                    "metadata": {"name": format!("c{i:05}"), "namespace": "default"},
                    "spec": {"secretName": format!("c{i:05}-tls"), "dnsNames": [format!("c{i}.bench.example")],
                             "privateKey": {"algorithm": algorithm, "size": size}, "issuerRef": {"name": "ss"}}
                }))
                .unwrap();
                certs.create(&Default::default(), &c).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    // Count Ready Certificates from a watch (listing thousands repeatedly would
    // measure the lists, not the issuance).
    let mut ready = std::collections::HashSet::new();
    let mut events =
        kube::runtime::watcher(certs.clone(), kube::runtime::watcher::Config::default()).boxed();
    while ready.len() < n {
        let Some(Ok(e)) = events.next().await else {
            continue;
        };
        let mut check = |c: Certificate| {
            let is_ready = c
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.type_ == "Ready"
                            && serde_json::to_value(c.status).ok() == Some(json!("True"))
                    })
                });
            if is_ready {
                ready.insert(c.metadata.name.unwrap_or_default());
            }
        };
        match e {
            kube::runtime::watcher::Event::Apply(c)
            | kube::runtime::watcher::Event::InitApply(c) => check(c),
            _ => {}
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let sandbox_cpu = cpu_seconds_of(&sandbox_pid) - sandbox_cpu0;
    controllers.stop().await;
    (elapsed, cpu, sandbox_cpu)
}

fn main() {
    support::run(run());
}

async fn run() {
    let n_ecdsa = env_or("ISSUANCE_N_ECDSA", 2000);
    let n_rsa = env_or("ISSUANCE_N_RSA", 40);
    println!(
        "issuance end to end, SelfSigned issuer: controllers in this process, the sandbox API server in a child process"
    );
    for (label, n, alg, algorithm, size) in [
        (
            "ECDSA P-256",
            n_ecdsa,
            KeyAlgorithm::Ecdsa(256),
            "ECDSA",
            256,
        ),
        ("RSA-4096", n_rsa, KeyAlgorithm::Rsa(4096), "RSA", 4096),
    ] {
        let keygen = keygen_only(n, alg).await;
        let (elapsed, cpu, sandbox_cpu) = issue(n, algorithm, size).await;
        println!(
            "  {label:<12} {n:>6} certificates: {:>8.1} certificates/s; {:.2}x the time of generating the keys alone; {:.4} CPU s/certificate in the controllers (+{:.4} in the API server)",
            n as f64 / elapsed,
            elapsed / keygen,
            cpu / n as f64,
            sandbox_cpu / n as f64
        );
    }
    println!(
        "  peak RSS of the controllers' process: {:.0} MiB",
        peak_rss_mib()
    );
}
