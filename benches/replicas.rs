//! Work shared across replicas (#18): N controller processes (`certgate controller`,
//! `--shards N` for N > 1, one unsharded process for N = 1) against one sandbox API
//! server (a child process), issuing C SelfSigned ECDSA P-256 Certificates spread
//! over M namespaces. For each N: certificates/s, CPU seconds of each replica and of
//! the API server, and peak RSS of each replica. Each round has a fresh API server.
//!
//! `cargo bench --bench replicas` — REPLICAS_CERTS (1,200), REPLICAS_NAMESPACES (12)
//! and REPLICAS_MAX (3) override the sizes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use certgate::api::Certificate;
use futures::StreamExt;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};
use support::{cpu_seconds_of, env_or, peak_rss_mib_of, remote_sandbox};

fn main() {
    support::run(run());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Round {
    replicas: usize,
    per_second: f64,
    cpu: Vec<f64>,
    rss: Vec<f64>,
    apiserver_cpu: f64,
}

async fn round(replicas: usize, certs: usize, namespaces: usize) -> Round {
    let (sandbox, client) = remote_sandbox().await;
    let sandbox_pid = sandbox.child.id().to_string();
    let spaces: Vec<String> = (0..namespaces).map(|i| format!("team-{i:02}")).collect();
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
    certgate::manifests::apply(&client, "bench", &[issuer], "bench")
        .await
        .unwrap();

    let mut children: Vec<std::process::Child> = (0..replicas)
        .map(|_| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"));
            cmd.args(["controller", "--kubeconfig"])
                .arg(sandbox.kubeconfig())
                .args([
                    "--cluster-resource-namespace=default",
                    "--leader-election-namespace=default",
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
            Api::namespaced(client.clone(), "default");
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
    let api_before = cpu_seconds_of(&sandbox_pid);

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
    let all: Api<Certificate> = Api::all(client.clone());
    loop {
        let ready = all
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|c| {
                c.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.type_ == "Ready" && c.status == certgate::api::ConditionStatus::True
                        })
                    })
            })
            .count();
        if ready == certs {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "{ready} of {certs} Ready after 600 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
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
    let apiserver_cpu = cpu_seconds_of(&sandbox_pid) - api_before;
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    Round {
        replicas,
        per_second: certs as f64 / took,
        cpu,
        rss,
        apiserver_cpu,
    }
}

async fn run() {
    let certs = env_or("REPLICAS_CERTS", 1_200);
    let namespaces = env_or("REPLICAS_NAMESPACES", 12);
    let max = env_or("REPLICAS_MAX", 3);
    let mut rounds = Vec::new();
    for n in 1..=max {
        rounds.push(round(n, certs, namespaces).await);
    }
    println!(
        "{certs} SelfSigned ECDSA P-256 Certificates in {namespaces} namespaces, one sandbox API server"
    );
    println!(
        "{:>8} {:>9} {:>8} {:>26} {:>20} {:>26}",
        "replicas",
        "certs/s",
        "ratio",
        "CPU s per replica",
        "API server CPU s",
        "peak RSS MiB per replica"
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
            "{:>8} {:>9.1} {:>8.2} {:>26} {:>20.1} {:>26}",
            r.replicas,
            r.per_second,
            r.per_second / base,
            list(&r.cpu),
            r.apiserver_cpu,
            list(&r.rss)
        );
    }
}
