//! DNS-01 providers in bulk (prints its figures): 50 certificates, each for a
//! wildcard and its apex (`*.appN.example.com` + `appN.example.com`: one TXT name,
//! two values), all in one zone, presented at once and then cleaned up at once.
//!
//! Per provider and phase: provider API change calls per certificate (target ≤ 1;
//! Route53 ≤ 0.2 thanks to batching), all API calls per certificate, and the time
//! until every value is present (each present returns once its change is live:
//! Route53 INSYNC, Cloud DNS `done`).
//!
//! - Route53 through moto (`python3 -m pip install 'moto[server]'`). moto serves no
//!   DNS, so an issuance through Pebble cannot be timed for Route53; moto's GetChange
//!   is INSYNC at once, so AWS's real propagation time (typically 30-60 s) is not in
//!   these figures.
//! - Cloud DNS through the in-repo emulator (conformance/), whose changes are
//!   `pending` for 100 ms.
//!
//! `cargo bench --bench dns01_providers [-- --certs N]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/moto.rs"]
#[allow(dead_code)]
mod moto;

use std::sync::Arc;
use std::time::{Duration, Instant};

use certgate::dns01::Provider;
use certgate::dns01::clouddns::{CloudDnsOptions, CloudDnsProvider, GcpCredentials};
use certgate::dns01::route53::{AwsCredentials, Route53Options, Route53Provider};
use certgate_conformance::emulators::clouddns::{CloudDnsEmulator, PROJECT};

const ZONE: &str = "example.com.";

/// One phase's figures.
struct Phase {
    name: &'static str,
    elapsed: Duration,
    changes: u64,
    calls: u64,
}

/// Presents (or cleans up) both values of every certificate at once.
async fn phase(p: Arc<dyn Provider>, certs: usize, present: bool) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..certs {
        let name = certgate::dns01::challenge_record_name(&format!("*.app{i}.example.com"));
        for kind in ["wildcard", "apex"] {
            let p = p.clone();
            let name = name.clone();
            let value = certgate::dns01::txt_value(&format!("token-{i}-{kind}.thumbprint"));
            tasks.push(tokio::spawn(async move {
                if present {
                    p.present(ZONE, &name, &value).await
                } else {
                    p.cleanup(ZONE, &name, &value).await
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("task").expect("provider call");
    }
    start.elapsed()
}

fn print(provider: &str, certs: usize, phases: &[Phase]) {
    for ph in phases {
        println!(
            "{provider:<10} {:<8} {certs} certs: {:>7.1} ms   change calls {:>3} ({:.2}/cert)   all API calls {:>4} ({:.2}/cert)",
            ph.name,
            ph.elapsed.as_secs_f64() * 1000.0,
            ph.changes,
            ph.changes as f64 / certs as f64,
            ph.calls,
            ph.calls as f64 / certs as f64,
        );
    }
}

async fn route53(certs: usize) -> Vec<Phase> {
    let moto = moto::Moto::start();
    moto.create_zone("example.com", false).await;
    let p = Route53Provider::new(Route53Options {
        region: Some("us-east-1".into()),
        credentials: AwsCredentials::Static {
            access_key_id: "AKIDBENCH".into(),
            secret_access_key: "bench".into(),
            source: "bench".into(),
        },
        endpoint_url: Some(moto.endpoint()),
        ..Route53Options::default()
    })
    .await
    .expect("route53 provider");
    let dynp: Arc<dyn Provider> = Arc::new(p.clone());
    let mut out = Vec::new();
    for (name, present) in [("present", true), ("cleanup", false)] {
        let before = p.api_calls();
        let elapsed = phase(dynp.clone(), certs, present).await;
        let after = p.api_calls();
        out.push(Phase {
            name,
            elapsed,
            changes: after.change_resource_record_sets - before.change_resource_record_sets,
            calls: after.total() - before.total(),
        });
    }
    out
}

async fn clouddns(certs: usize) -> Vec<Phase> {
    let e = CloudDnsEmulator::start(&["example.com"])
        .await
        .expect("Cloud DNS emulator");
    let p = CloudDnsProvider::new(CloudDnsOptions {
        project: PROJECT.into(),
        credentials: GcpCredentials::Anonymous,
        endpoint: Some(e.endpoint()),
        poll_interval: Duration::from_millis(50),
        ..CloudDnsOptions::default()
    })
    .await
    .expect("Cloud DNS provider");
    let dynp: Arc<dyn Provider> = Arc::new(p.clone());
    let mut out = Vec::new();
    for (name, present) in [("present", true), ("cleanup", false)] {
        let before = p.api_calls();
        let elapsed = phase(dynp.clone(), certs, present).await;
        let after = p.api_calls();
        out.push(Phase {
            name,
            elapsed,
            changes: after.changes_create - before.changes_create,
            calls: after.total() - before.total(),
        });
    }
    out
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let certs = args
        .iter()
        .position(|a| a == "--certs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(50usize);
    println!(
        "DNS-01 providers: {certs} wildcard+apex certificates in one zone, presented at once, then cleaned up at once"
    );
    println!(
        "(batch window 200 ms; targets: change calls per certificate per phase <= 1, Route53 <= 0.2)"
    );
    print("route53", certs, &route53(certs).await);
    print("clouddns", certs, &clouddns(certs).await);
}
