//! Work shared across replicas (#18): N controller processes (`certgate controller`,
//! `--shards N` for N > 1, one unsharded process for N = 1) against one sandbox API
//! server (a child process), issuing C SelfSigned ECDSA P-256 Certificates spread
//! over M namespaces. For each N: certificates/s, CPU seconds of each replica and of
//! the API server, and peak RSS and RSS at rest of each replica. Each round has a
//! fresh API server.
//!
//! `cargo bench --bench replicas` — REPLICAS_CERTS (1,200), REPLICAS_NAMESPACES (12)
//! and REPLICAS_MAX (3) override the sizes. With `CERTGATE_TEST_KUBECONFIG` set (as for
//! the tests) the replicas work against that real cluster instead: each round in
//! namespaces of its own (its Leases too), removed afterwards; the API server's CPU
//! is then kube-apiserver's plus etcd's (processes of this machine, found by name).
//! REPLICAS_KEEP=1 leaves a real cluster's namespaces behind, to look at.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use certgate::api::Certificate;
use futures::StreamExt;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};
use support::{ApiServer, cpu_seconds_of, env_or, free_port, peak_rss_mib_of, rss_mib_of};

fn main() {
    support::run(run());
}

struct Round {
    replicas: usize,
    per_second: f64,
    cpu: Vec<f64>,
    rss: Vec<f64>,
    /// RSS of each replica at rest (a few seconds after the last Certificate was Ready).
    rest: Vec<f64>,
    apiserver_cpu: f64,
}

/// The API server of one round (`support::ApiServer`: a fresh sandbox, or the real
/// cluster with a fresh namespace for the Leases, the teams' namespaces beside it).
struct Server {
    api: ApiServer,
    /// Where the replicas keep their Leases and the cluster-scoped work's Secrets.
    system: String,
}

impl Server {
    async fn start() -> (Server, kube::Client) {
        let (api, client, system) = ApiServer::start().await;
        (Server { api, system }, client)
    }

    /// The namespace prefix of this round's teams.
    fn team_prefix(&self) -> String {
        match &self.api {
            ApiServer::Sandbox(_) => "team".into(),
            ApiServer::Cluster(_) => self.system.clone(),
        }
    }

    /// CPU seconds the API server has used (on a real cluster: kube-apiserver and
    /// etcd together).
    fn cpu_seconds(&self) -> f64 {
        match &self.api {
            ApiServer::Sandbox(s) => cpu_seconds_of(&s.child.id().to_string()),
            ApiServer::Cluster(_) => pids_named(&["kube-apiserver", "etcd"])
                .iter()
                .map(|p| cpu_seconds_of(p))
                .sum(),
        }
    }

    fn describe(&self) -> &'static str {
        match &self.api {
            ApiServer::Sandbox(_) => "one sandbox API server",
            ApiServer::Cluster(_) => {
                "one real API server (CERTGATE_TEST_KUBECONFIG: kube-apiserver + etcd)"
            }
        }
    }

    async fn finish(self, client: &kube::Client, teams: &[String]) {
        if std::env::var_os("REPLICAS_KEEP").is_some() {
            println!("kept: {}", teams.join(" "));
            std::mem::forget(self);
            return;
        }
        if let ApiServer::Cluster(_) = &self.api {
            let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
            for ns in teams {
                let _ = ns_api.delete(ns, &Default::default()).await;
            }
            // The next round's controllers would otherwise meet these
            // Certificates in namespaces being deleted (and be refused).
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(300) {
                let mut left = 0;
                for ns in teams {
                    if ns_api.get_opt(ns).await.ok().flatten().is_some() {
                        left += 1;
                    }
                }
                if left == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        self.api.finish().await;
    }
}

/// Pids of this machine's processes whose command name is one of `names`.
fn pids_named(names: &[&str]) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            names.contains(&comm.trim()).then_some(pid)
        })
        .collect()
}

async fn round(replicas: usize, certs: usize, namespaces: usize) -> (Round, &'static str) {
    let (server, client) = Server::start().await;
    let system = server.system.clone();
    let prefix = server.team_prefix();
    let spaces: Vec<String> = (0..namespaces)
        .map(|i| format!("{prefix}-{i:02}"))
        .collect();
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for ns in &spaces {
        ns_api
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
            )
            .await
            .unwrap();
    }
    let issuer = json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": "ss"}, "spec": {"selfSigned": {}}});
    certgate::manifests::apply(&client, &system, &[issuer], "bench")
        .await
        .unwrap();

    let mut children: Vec<std::process::Child> = (0..replicas)
        .map(|_| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"));
            cmd.args(["controller", "--kubeconfig"])
                .arg(server.api.kubeconfig())
                .args([
                    &format!("--cluster-resource-namespace={system}"),
                    &format!("--leader-election-namespace={system}"),
                    "--max-concurrent-reconciles=32",
                    &format!("--metrics-listen-address=127.0.0.1:{}", free_port()),
                    &format!("--health-listen-address=127.0.0.1:{}", free_port()),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            if replicas > 1 {
                cmd.arg(format!("--shards={replicas}"));
            } else {
                cmd.arg("--leader-elect=false");
            }
            cmd.spawn().expect("certgate controller starts")
        })
        .collect();
    // Members count themselves 8 s after joining: issue once every one works.
    if replicas > 1 {
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(client.clone(), &system);
        let started = Instant::now();
        loop {
            let n = leases
                .list(&ListParams::default().labels("certgate.io/shard-group=certgate"))
                .await
                .map(|l| l.items.len())
                .unwrap_or(0);
            if n == replicas {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{n} members");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(9)).await;
    } else {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let cpu_before: Vec<f64> = children
        .iter()
        .map(|c| cpu_seconds_of(&c.id().to_string()))
        .collect();
    let api_before = server.cpu_seconds();

    let t = Instant::now();
    futures::stream::iter(0..certs)
        .map(|i| {
            let client = client.clone();
            let ns = spaces[i % spaces.len()].clone();
            async move {
                let api: Api<Certificate> = Api::namespaced(client, &ns);
                let c = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                    "metadata": {"name": format!("c{i:05}")},
                    "spec": {"secretName": format!("c{i:05}-tls"), "commonName": format!("c{i}.example.com"),
                        "privateKey": {"algorithm": "ECDSA", "size": 256},
                        "issuerRef": {"name": "ss", "kind": "ClusterIssuer"}}});
                api.create(&PostParams::default(), &serde_json::from_value(c).unwrap())
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    // Ready Certificates are counted from a watch: listing them all every few
    // hundred milliseconds would load the API server the replicas share.
    let all: Api<Certificate> = Api::all(client.clone());
    let mut ready = std::collections::HashSet::new();
    let mut events = kube::runtime::watcher(all, kube::runtime::watcher::Config::default()).boxed();
    while ready.len() < certs {
        let next = tokio::time::timeout(
            Duration::from_secs(600) - t.elapsed().min(Duration::from_secs(600)),
            events.next(),
        )
        .await;
        let Ok(Some(event)) = next else {
            panic!("{} of {certs} Ready after 600 s", ready.len());
        };
        let (kube::runtime::watcher::Event::Apply(c) | kube::runtime::watcher::Event::InitApply(c)) =
            (match event {
                Ok(e) => e,
                Err(_) => continue,
            })
        else {
            continue;
        };
        let ours = c
            .metadata
            .namespace
            .as_deref()
            .is_some_and(|ns| spaces.iter().any(|s| s == ns));
        let is_ready = c
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Ready" && c.status == certgate::api::ConditionStatus::True)
            });
        if ours && is_ready {
            ready.insert((c.metadata.namespace, c.metadata.name));
        }
    }
    let took = t.elapsed().as_secs_f64();
    let cpu: Vec<f64> = children
        .iter()
        .zip(&cpu_before)
        .map(|(c, b)| cpu_seconds_of(&c.id().to_string()) - b)
        .collect();
    let rss: Vec<f64> = children
        .iter()
        .map(|c| peak_rss_mib_of(&c.id().to_string()))
        .collect();
    let apiserver_cpu = server.cpu_seconds() - api_before;
    // At rest: after the allocator's trimmer has run (runtime::allocator::TRIM_PERIOD).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rest: Vec<f64> = children
        .iter()
        .map(|c| rss_mib_of(&c.id().to_string()))
        .collect();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let describe = server.describe();
    server.finish(&client, &spaces).await;
    (
        Round {
            replicas,
            per_second: certs as f64 / took,
            cpu,
            rss,
            rest,
            apiserver_cpu,
        },
        describe,
    )
}

async fn run() {
    let certs = env_or("REPLICAS_CERTS", 1_200);
    let namespaces = env_or("REPLICAS_NAMESPACES", 12);
    let max = env_or("REPLICAS_MAX", 3);
    let mut rounds = Vec::new();
    let mut server = "";
    for n in 1..=max {
        let (r, describe) = round(n, certs, namespaces).await;
        rounds.push(r);
        server = describe;
    }
    println!("{certs} SelfSigned ECDSA P-256 Certificates in {namespaces} namespaces, {server}");
    println!(
        "{:>8} {:>9} {:>8} {:>26} {:>20} {:>26} {:>26}",
        "replicas",
        "certs/s",
        "ratio",
        "CPU s per replica",
        "API server CPU s",
        "peak RSS MiB per replica",
        "RSS at rest MiB"
    );
    let base = rounds.first().map_or(1.0, |r| r.per_second);
    for r in &rounds {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "{:>8} {:>9.1} {:>8.2} {:>26} {:>20.1} {:>26} {:>26}",
            r.replicas,
            r.per_second,
            r.per_second / base,
            list(&r.cpu),
            r.apiserver_cpu,
            list(&r.rss),
            list(&r.rest)
        );
    }
}
