//! Memory at scale, as production looks (#18): unrelated Secrets of other
//! controllers (Opaque, 100 KB each, half of them applied with kubectl so that they
//! carry the last-applied annotation, as real ones do) are created first, then the
//! controller starts, then Certificates are issued (half SelfSigned, half by a CA
//! Issuer). The controller runs as users run it: the `certgate controller` binary in
//! a process of its own, beside the sandbox API server in another; the figures are
//! that process's (SCALE_IN_PROCESS=1 runs the controllers inside the benchmark's
//! process instead, as this benchmark did before: then they include the
//! benchmark's own client).
//!
//! Prints: RSS with the Secrets listed and no Certificate, peak RSS, steady RSS after
//! issuance (10 s after the last Certificate is Ready), and RSS per 1,000
//! Certificates (steady minus the start, over the Certificates); what RSS is made of
//! (anonymous and file-backed pages, the allocator's account of the heap).
//!
//! `cargo bench --bench scale` — SCALE_CERTS (10,000), SCALE_SECRETS (30,000) and
//! SCALE_SECRET_KB (100) override the sizes (SCALE_EXIT_AT_STEADY=1, in process,
//! leaves without freeing anything, for a heap profiler's leak report); with
//! `CERTGATE_TEST_KUBECONFIG` set the objects go to a fresh namespace of that real
//! cluster (e.g. the control plane of `../shared/kube`; mind etcd's quota: 30,000 ×
//! 100 KB is 3 GB). The controller process inherits the allocator's settings
//! (`CERTGATE_ALLOCATOR`, `_RJEM_MALLOC_CONF`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use certgate::api::Certificate;
use certgate::controller::{ControllerConfig, RunningControllers};
use futures::StreamExt;
use kube::api::Api;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{
    ApiServer, cpu_seconds_of, env_or, free_port, malloc_mib, peak_rss_mib_of, rss_anon_mib_of,
    rss_file_mib_of, rss_mib_of,
};

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
    let in_process = std::env::var_os("SCALE_IN_PROCESS").is_some();
    let cluster_ns = matches!(server, ApiServer::Cluster(_)).then(|| ns.to_string());
    let controllers = if in_process {
        let config = ControllerConfig {
            cluster_resource_namespace: ns.into(),
            namespace: cluster_ns,
            max_concurrent_reconciles: 32,
            ..Default::default()
        };
        Controllers::InProcess(RunningControllers::start(client.clone(), config))
    } else {
        Controllers::Process(ControllerProcess::start(
            &server.kubeconfig(),
            ns,
            cluster_ns.as_deref(),
        ))
    };
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
    let mut samples = vec![controllers.rss()];
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(controllers.rss());
        if let [.., a, _, _, d] = samples[..]
            && (d - a).abs() < 1.0
        {
            break;
        }
    }
    let start_rss = controllers.rss();
    let start_parts = controllers.parts().await;
    let start_cpu = controllers.cpu_seconds();

    // Prometheus scrapes the controller's /metrics every 15 s, as in a monitored
    // deployment: its exposition grows with the Certificates.
    let scraper = controllers.metrics_port().map(|port| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                scrape(port).await;
            }
        })
    });
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
    if let Some(scraper) = scraper {
        scraper.abort();
    }
    // Before the parts: reading them scrapes the process's /metrics.
    let steady = controllers.rss();
    let peak = controllers.peak_rss();
    let cpu = controllers.cpu_seconds() - start_cpu;
    let steady_parts = controllers.parts().await;
    // For a heap profiler (`heaptrack`): leave with the steady state's heap still
    // allocated, so what the profiler reports as leaked is what steady state holds.
    let exit_at_steady = in_process && std::env::var_os("SCALE_EXIT_AT_STEADY").is_some();
    if !exit_at_steady {
        controllers.stop().await;
    }

    println!(
        "scale: {n_certs} Certificates (half SelfSigned, half CA) beside {n_secrets} unrelated {secret_kb} KB Secrets, on {}; the controllers {}",
        server.describe(),
        if in_process {
            "in the benchmark's process"
        } else {
            "in a `certgate controller` process"
        }
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
    println!(
        "  controller CPU from the first Certificate to steady state: {cpu:.1} s ({:.2} ms per Certificate)",
        cpu * 1000.0 / n_certs as f64
    );
    server.finish().await;
    if exit_at_steady {
        std::process::exit(0);
    }
}

/// The controllers under measurement: in this process, or a `certgate controller`
/// process of their own.
enum Controllers {
    InProcess(RunningControllers),
    Process(ControllerProcess),
}

impl Controllers {
    fn pid(&self) -> String {
        match self {
            Controllers::InProcess(_) => "self".into(),
            Controllers::Process(p) => p.child.id().to_string(),
        }
    }

    fn rss(&self) -> f64 {
        rss_mib_of(&self.pid())
    }

    fn peak_rss(&self) -> f64 {
        peak_rss_mib_of(&self.pid())
    }

    /// The port of the controller process's /metrics.
    fn metrics_port(&self) -> Option<u16> {
        match self {
            Controllers::InProcess(_) => None,
            Controllers::Process(p) => Some(p.metrics_port),
        }
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(&self.pid())
    }

    /// What RSS is made of: anonymous (heap, stacks) and file-backed (code) pages,
    /// and the allocator's heap in use and held beside (the controller process
    /// reports jemalloc's account on `/metrics`).
    async fn parts(&self) -> String {
        let pid = self.pid();
        let (allocator, (in_use, beside)) = match self {
            Controllers::InProcess(_) => (
                if certgate::runtime::allocator::jemalloc() {
                    "jemalloc"
                } else {
                    "glibc malloc"
                },
                malloc_mib(),
            ),
            Controllers::Process(p) => ("jemalloc", p.allocator_mib().await),
        };
        let (code_size, code_rss) = executable_kib(&pid);
        format!(
            "anonymous {:.0} MiB ({allocator}: {in_use:.0} MiB in use, {beside:.0} MiB held beside), file-backed {:.0} MiB (the executable: {:.1} of {:.1} MiB mapped are resident)",
            rss_anon_mib_of(&pid),
            rss_file_mib_of(&pid),
            code_rss as f64 / 1024.0,
            code_size as f64 / 1024.0,
        )
    }

    async fn stop(self) {
        match self {
            Controllers::InProcess(c) => c.stop().await,
            Controllers::Process(mut p) => {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
        }
    }
}

/// A `certgate controller` process on the benchmark's API server.
struct ControllerProcess {
    child: std::process::Child,
    metrics_port: u16,
}

impl ControllerProcess {
    fn start(kubeconfig: &std::path::Path, ns: &str, only_ns: Option<&str>) -> ControllerProcess {
        let metrics_port = free_port();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"));
        cmd.args(["controller", "--kubeconfig"])
            .arg(kubeconfig)
            .args([
                &format!("--cluster-resource-namespace={ns}"),
                "--leader-elect=false",
                "--max-concurrent-reconciles=32",
                &format!("--metrics-listen-address=127.0.0.1:{metrics_port}"),
                &format!("--health-listen-address=127.0.0.1:{}", free_port()),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(only) = only_ns {
            cmd.arg(format!("--namespace={only}"));
        }
        let child = cmd.spawn().expect("certgate controller starts");
        ControllerProcess {
            child,
            metrics_port,
        }
    }

    /// jemalloc's account from the process's `/metrics`, in MiB: (allocated,
    /// resident beyond what is allocated).
    async fn allocator_mib(&self) -> (f64, f64) {
        let text = scrape(self.metrics_port).await;
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
                .unwrap_or(0.0)
                / (1024.0 * 1024.0)
        };
        let allocated = value("certgate_allocator_allocated_bytes");
        let resident = value("certgate_allocator_resident_bytes");
        (allocated, (resident - allocated).max(0.0))
    }
}

/// The text of a controller process's /metrics (empty if it does not answer).
async fn scrape(port: u16) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut text = String::new();
    if let Ok(mut conn) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        let _ = conn
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await;
        let _ = conn.read_to_string(&mut text).await;
    }
    text
}

/// A process's mappings of its own executable, from /proc/PID/smaps: (size,
/// resident), in KiB.
fn executable_kib(pid: &str) -> (u64, u64) {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let exe = exe.to_string_lossy();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
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
