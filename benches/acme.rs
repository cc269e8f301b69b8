//! ACME issuance speed against local Pebble + BIND: Certificate creation → Ready for
//! HTTP-01 and for DNS-01 wildcard+apex (median of N, with each phase), 100
//! Certificates at once, and certbot against the same Pebble for the same kind of
//! names, as a ratio. Run: `cargo bench --bench acme` (ACME_BENCH_N, ACME_BENCH_BULK).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/bind.rs"]
#[allow(dead_code)]
mod bind;
#[path = "../tests/common/pebble.rs"]
#[allow(dead_code)]
mod pebble;
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use certgate::api::order::State;
use certgate::api::{Certificate, Challenge, ClusterIssuer, Order};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

const NS: &str = "bench";

/// When each phase of one issuance ended, from its start.
#[derive(Default, Debug, Clone)]
struct Phases {
    order: Option<Duration>,
    presented: Option<Duration>,
    propagated: Option<Duration>,
    validated: Option<Duration>,
    ready: Option<Duration>,
}

async fn apply(client: &kube::Client, doc: Value) {
    certgate::manifests::apply(client, "bench", &[doc], "bench")
        .await
        .unwrap();
}

async fn issue_one(client: &kube::Client, name: &str, issuer: &str, dns: &[String]) -> Phases {
    let certs: Api<Certificate> = Api::namespaced(client.clone(), NS);
    let orders: Api<Order> = Api::namespaced(client.clone(), NS);
    let challenges: Api<Challenge> = Api::namespaced(client.clone(), NS);
    let start = Instant::now();
    apply(
        client,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"secretName": format!("{name}-tls"), "dnsNames": dns,
                "issuerRef": {"name": issuer, "kind": "ClusterIssuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256}}}),
    )
    .await;
    let mut p = Phases::default();
    let label = format!("cert-manager.io/certificate-name={name}");
    while start.elapsed() < Duration::from_secs(120) {
        let t = start.elapsed();
        let os = orders
            .list(&ListParams::default().labels(&label))
            .await
            .unwrap()
            .items;
        if p.order.is_none()
            && os
                .iter()
                .any(|o| o.status.as_ref().and_then(|s| s.url.as_ref()).is_some())
        {
            p.order = Some(t);
        }
        let chs: Vec<Challenge> = challenges
            .list(&ListParams::default().labels(&label))
            .await
            .unwrap()
            .items;
        let all = |f: &dyn Fn(&Challenge) -> bool| !chs.is_empty() && chs.iter().all(f);
        if p.presented.is_none()
            && all(&|c| c.status.as_ref().and_then(|s| s.presented) == Some(true))
        {
            p.presented = Some(t);
        }
        let accepted = |c: &Challenge| {
            let st = c.status.as_ref();
            st.and_then(|s| s.reason.as_deref())
                == Some(certgate::issuers::acme::challenges::REASON_ACCEPTED)
                || st.and_then(|s| s.state) == Some(State::Valid)
        };
        if p.propagated.is_none() && all(&accepted) {
            p.propagated = Some(t);
        }
        let order_past_validation = os.iter().any(|o| {
            matches!(
                o.status.as_ref().and_then(|s| s.state),
                Some(State::Ready | State::Processing | State::Valid)
            )
        });
        if p.validated.is_none()
            && (all(&|c| c.status.as_ref().and_then(|s| s.state) == Some(State::Valid))
                || order_past_validation)
        {
            p.validated = Some(t);
        }
        let c = certs.get(name).await.unwrap();
        let ready = c
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Ready" && format!("{:?}", c.status) == "True")
            });
        if ready {
            p.ready = Some(t);
            // Phases too quick to be seen end with the next one.
            p.validated = p.validated.or(p.ready);
            p.propagated = p.propagated.or(p.validated);
            p.presented = p.presented.or(p.propagated);
            p.order = p.order.or(p.presented);
            return p;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{name} not Ready after 120 s: {p:?}");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn report(kind: &str, runs: &[Phases]) -> Duration {
    let phase = |f: &dyn Fn(&Phases) -> Duration| median(runs.iter().map(f).collect());
    let g = |o: Option<Duration>| o.unwrap_or_default();
    let order = phase(&|p| g(p.order));
    let present = phase(&|p| g(p.presented).saturating_sub(g(p.order)));
    let propagation = phase(&|p| g(p.propagated).saturating_sub(g(p.presented)));
    let validation = phase(&|p| g(p.validated).saturating_sub(g(p.propagated)));
    let finalize = phase(&|p| g(p.ready).saturating_sub(g(p.validated)));
    let total = phase(&|p| g(p.ready));
    println!(
        "{kind}: median of {} → Ready {} (order {}, present {}, propagation {}, validation {}, finalize+Secret {}); target ≤ 2 s: {}",
        runs.len(),
        ms(total),
        ms(order),
        ms(present),
        ms(propagation),
        ms(validation),
        ms(finalize),
        if total <= Duration::from_secs(2) {
            "met"
        } else {
            "NOT met"
        }
    );
    total
}

fn certbot_runs(pebble: &pebble::Pebble, port: u16, n: usize) -> Option<Vec<Duration>> {
    let certbot = std::env::var("CERTBOT").unwrap_or_else(|_| "certbot".into());
    if std::process::Command::new(&certbot)
        .arg("--version")
        .output()
        .is_err()
    {
        println!("certbot: not found (pip install certbot) — no ratio");
        return None;
    }
    let dir = pebble::TempDir::new("certgate-certbot");
    let ca = dir.0.join("pebble-tls-ca.pem");
    std::fs::write(&ca, &pebble.tls_ca_pem).unwrap();
    let mut times = Vec::new();
    for i in 0..n {
        let start = Instant::now();
        let out = std::process::Command::new(&certbot)
            .args([
                "certonly",
                "--standalone",
                "--non-interactive",
                "--agree-tos",
            ])
            .args(["--register-unsafely-without-email", "--key-type", "ecdsa"])
            .args(["--server", &pebble.directory_url])
            .args([
                "--http-01-port",
                &port.to_string(),
                "--http-01-address",
                "127.0.0.1",
            ])
            .arg("--config-dir")
            .arg(dir.0.join("config"))
            .arg("--work-dir")
            .arg(dir.0.join("work"))
            .arg("--logs-dir")
            .arg(dir.0.join("logs"))
            .args(["-d", &format!("certbot{i}.example.com")])
            .env("REQUESTS_CA_BUNDLE", &ca)
            .output()
            .unwrap();
        if !out.status.success() {
            println!(
                "certbot failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            );
            return None;
        }
        times.push(start.elapsed());
    }
    Some(times)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let n = support::env_or("ACME_BENCH_N", 10);
    let bulk = support::env_or("ACME_BENCH_BULK", 100);
    let bind = bind::Bind::start(&[bind::ZoneSpec::new("example.com")]);
    let dns: SocketAddr = bind.addr();
    let solver_port = pebble::free_port();
    let pebble = pebble::Pebble::start(pebble::PebbleOptions {
        dns_server: dns.to_string(),
        http_port: solver_port,
        eab_keys: vec![],
        tls_port: 0,
    });
    let (_sandbox, client) = support::remote_sandbox().await;
    apply(
        &client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .await;
    let mut acme = AcmeSettings::default();
    acme.dns01.recursive_nameservers = vec![dns.into()];
    acme.dns01.authoritative_port = dns.port();
    acme.http01.self_check_port = solver_port;
    acme.http01.self_check_nameservers = vec![dns];
    acme.http01_solver_listen = Some(SocketAddr::from(([127, 0, 0, 1], solver_port)));
    let controllers = RunningControllers::start(
        client.clone(),
        ControllerConfig {
            cluster_resource_namespace: NS.into(),
            max_concurrent_reconciles: 32,
            acme,
            ..Default::default()
        },
    );
    apply(&client, json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "tsig", "namespace": NS}, "stringData": {"secret": bind.key_secret()}})).await;
    let base = json!({"server": pebble.directory_url, "caBundle": pebble.ca_bundle(),
        "email": "bench@example.com"});
    let mut http = base.clone();
    http["privateKeySecretRef"] = json!({"name": "http-account"});
    http["solvers"] = json!([{"http01": {"ingress": {}}}]);
    let mut dns01 = base.clone();
    dns01["privateKeySecretRef"] = json!({"name": "dns-account"});
    dns01["solvers"] = json!([{"dns01": {"rfc2136": {"nameserver": dns.to_string(),
        "tsigKeyName": bind.key_name(), "tsigAlgorithm": "HMACSHA256",
        "tsigSecretSecretRef": {"name": "tsig", "key": "secret"}}}}]);
    for (name, spec) in [("http", http), ("dns", dns01)] {
        apply(
            &client,
            // More certificates under example.com than Let's Encrypt's 50 a week: the
            // rate-limit guard is off for Pebble here.
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": name, "annotations": {
                "certgate.io/acme-certificates-per-domain-per-week": "0"}},
            "spec": {"acme": spec}}),
        )
        .await;
    }
    let issuers: Api<ClusterIssuer> = Api::all(client.clone());
    for name in ["http", "dns"] {
        let start = Instant::now();
        loop {
            let i = issuers.get(name).await.unwrap();
            let ready = i.status.and_then(|s| s.conditions).is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Ready" && format!("{:?}", c.status) == "True")
            });
            if ready {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "issuer {name} not Ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    println!(
        "ACME issuance against Pebble + BIND on 127.0.0.1 (sandbox API server in a child process)"
    );
    let mut http_runs = Vec::new();
    for i in 0..n {
        let name = format!("h{i}");
        http_runs.push(issue_one(&client, &name, "http", &[format!("{name}.example.com")]).await);
    }
    let http_median = report("HTTP-01, one name", &http_runs);
    let mut dns_runs = Vec::new();
    for i in 0..n {
        let name = format!("w{i}");
        let zone = format!("{name}.example.com");
        dns_runs.push(issue_one(&client, &name, "dns", &[format!("*.{zone}"), zone.clone()]).await);
    }
    report("DNS-01, wildcard + apex", &dns_runs);

    // Bulk: all at once.
    let start = Instant::now();
    for i in 0..bulk {
        let name = format!("b{i}");
        apply(&client, json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"secretName": format!("{name}-tls"), "dnsNames": [format!("{name}.example.com")],
                "issuerRef": {"name": "http", "kind": "ClusterIssuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256}}})).await;
    }
    let certs: Api<Certificate> = Api::namespaced(client.clone(), NS);
    loop {
        let list = certs.list(&ListParams::default()).await.unwrap().items;
        let ready = list
            .iter()
            .filter(|c| {
                c.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with('b'))
            })
            .filter(|c| {
                c.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Ready" && format!("{:?}", c.status) == "True")
                    })
            })
            .count();
        if ready == bulk {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "bulk: {ready}/{bulk} Ready after 600 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = bulk as f64 / secs;
    println!(
        "bulk: {bulk} HTTP-01 Certificates at once, all Ready in {secs:.2} s: {rate:.1} certificates/s; target ≥ 10/s: {}",
        if rate >= 10.0 { "met" } else { "NOT met" }
    );

    // certbot against the same Pebble, on the port Pebble checks: our solver stops first.
    controllers.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(times) = certbot_runs(&pebble, solver_port, n.min(5)) {
        let m = median(times.clone());
        println!(
            "certbot certonly --standalone (HTTP-01, one name): median of {} {}; certbot / certgate = {:.1}x",
            times.len(),
            ms(m),
            m.as_secs_f64() / http_median.as_secs_f64()
        );
    }
}
