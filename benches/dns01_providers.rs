//! DNS-01 providers in bulk (prints its figures): 50 certificates, each for a
//! wildcard and its apex (`*.appN.example.com` + `appN.example.com`: one TXT name,
//! two values), all in one zone, presented at once and then cleaned up at once.
//!
//! Per provider and phase: provider API change calls per certificate (target ≤ 1 for
//! the providers that batch per zone; Route53 ≤ 0.2), all API calls per certificate,
//! and the time until every value is present (each present returns once its change
//! is live: Route53 INSYNC, Cloud DNS `done`; the others once their write is
//! answered).
//!
//! - Route53 through moto (`python3 -m pip install 'moto[server]'`; skipped, saying
//!   so, when it is not installed). moto serves no DNS, so an issuance through Pebble
//!   cannot be timed for Route53; moto's GetChange is INSYNC at once, so AWS's real
//!   propagation time (typically 30-60 s) is not in these figures.
//! - Cloud DNS through the in-repo emulator (conformance/), whose changes are
//!   `pending` for 100 ms.
//! - DigitalOcean, acme-dns, Azure DNS and Akamai Edge DNS through their in-repo
//!   emulators, counted by the emulators (every HTTP request they answered; for
//!   Azure, Entra ID token requests included). acme-dns has one TXT name per account
//!   and keeps its last two values, so each certificate gets its own account; it
//!   cannot delete, so its clean-up makes no calls.
//!
//! `cargo bench --bench dns01_providers [-- --certs N]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/moto.rs"]
#[allow(dead_code)]
mod moto;

use std::sync::Arc;
use std::time::{Duration, Instant};

use certgate::dns01::Provider;
use certgate::dns01::acmedns::AcmeDnsProvider;
use certgate::dns01::akamai::{AkamaiProvider, EdgeGridCredentials};
use certgate::dns01::azure::{AzureCloud, AzureCredential, AzureOptions, AzureProvider, ZoneKind};
use certgate::dns01::clouddns::{CloudDnsOptions, CloudDnsProvider, GcpCredentials};
use certgate::dns01::digitalocean::DigitalOceanProvider;
use certgate::dns01::route53::{AwsCredentials, Route53Options, Route53Provider};
use certgate_conformance::emulators::acmedns::{self as acme, AcmeDnsEmulator};
use certgate_conformance::emulators::akamai::{self as ak, AkamaiEmulator};
use certgate_conformance::emulators::azure::{self as az, AzureEmulator};
use certgate_conformance::emulators::clouddns::{CloudDnsEmulator, PROJECT};
use certgate_conformance::emulators::digitalocean::{self as dig, DigitalOceanEmulator};

const ZONE: &str = "example.com.";

/// A provider's API calls so far.
#[derive(Default)]
struct Counts {
    /// Calls that change records (including refused ones).
    changes: u64,
    /// All calls.
    calls: u64,
    /// Change calls refused because the record set changed meanwhile (Azure's 412).
    conflicts: u64,
}

/// One phase's figures.
struct Phase {
    name: &'static str,
    elapsed: Duration,
    changes: u64,
    calls: u64,
    conflicts: u64,
}

/// One provider's figures, with remarks to print under them.
struct Report {
    phases: Vec<Phase>,
    notes: Vec<String>,
}

impl From<Vec<Phase>> for Report {
    fn from(phases: Vec<Phase>) -> Self {
        Report {
            phases,
            notes: Vec::new(),
        }
    }
}

/// The domain of certificate `i` (its wildcard is `*.` this).
fn domain(i: usize) -> String {
    format!("app{i}.example.com")
}

/// Presents (or cleans up) both values of every certificate at once.
async fn phase(p: Arc<dyn Provider>, certs: usize, present: bool) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..certs {
        let name = certgate::dns01::challenge_record_name(&format!("*.{}", domain(i)));
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

/// Both phases through `p`, with `counts` giving its API calls so far.
async fn phases(p: Arc<dyn Provider>, certs: usize, counts: impl Fn() -> Counts) -> Vec<Phase> {
    let mut out = Vec::new();
    for (name, present) in [("present", true), ("cleanup", false)] {
        let before = counts();
        let elapsed = phase(p.clone(), certs, present).await;
        let after = counts();
        out.push(Phase {
            name,
            elapsed,
            changes: after.changes - before.changes,
            calls: after.calls - before.calls,
            conflicts: after.conflicts - before.conflicts,
        });
    }
    out
}

fn print(provider: &str, certs: usize, report: &Report) {
    for ph in &report.phases {
        println!(
            "{provider:<12} {:<8} {certs} certs: {:>7.1} ms   change calls {:>3} ({:.2}/cert)   all API calls {:>4} ({:.2}/cert)",
            ph.name,
            ph.elapsed.as_secs_f64() * 1000.0,
            ph.changes,
            ph.changes as f64 / certs as f64,
            ph.calls,
            ph.calls as f64 / certs as f64,
        );
    }
    for note in &report.notes {
        println!("{:<12} note: {note}", "");
    }
}

/// Whether moto can be started (what [`moto::Moto::start`] runs).
fn moto_installed() -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("moto_server").is_file()));
    on_path
        || std::process::Command::new("python3")
            .args(["-c", "import moto.server"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

async fn route53(certs: usize) -> Report {
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
    phases(Arc::new(p.clone()), certs, || {
        let c = p.api_calls();
        Counts {
            changes: c.change_resource_record_sets,
            calls: c.total(),
            ..Counts::default()
        }
    })
    .await
    .into()
}

async fn clouddns(certs: usize) -> Report {
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
    phases(Arc::new(p.clone()), certs, || {
        let c = p.api_calls();
        Counts {
            changes: c.changes_create,
            calls: c.total(),
            ..Counts::default()
        }
    })
    .await
    .into()
}

async fn digitalocean(certs: usize) -> Report {
    let e = DigitalOceanEmulator::start(&["example.com"])
        .await
        .expect("DigitalOcean emulator");
    let p = DigitalOceanProvider::new(dig::TOKEN, "bench", &e.api_url())
        .expect("DigitalOcean provider");
    phases(Arc::new(p), certs, || Counts {
        changes: e.writes(),
        calls: e.requests(),
        ..Counts::default()
    })
    .await
    .into()
}

async fn acmedns(certs: usize) -> Report {
    let e = AcmeDnsEmulator::start().await.expect("acme-dns emulator");
    // One account per certificate: acme-dns serves one name per account.
    let accounts: Vec<(String, acme::Account)> =
        (0..certs).map(|i| (domain(i), e.register(&[]))).collect();
    let by_domain: Vec<(&str, &acme::Account)> =
        accounts.iter().map(|(d, a)| (d.as_str(), a)).collect();
    let p = AcmeDnsProvider::new(&e.api_url(), &acme::accounts_json(&by_domain), "bench")
        .expect("acme-dns provider");
    Report {
        phases: phases(Arc::new(p), certs, || Counts {
            changes: e.updates(),
            calls: e.requests(),
            ..Counts::default()
        })
        .await,
        notes: vec![
            "one account per certificate; clean-up makes no calls (acme-dns cannot delete: \
             later values overwrite the last two)"
                .into(),
        ],
    }
}

async fn azure(certs: usize) -> Report {
    let e = AzureEmulator::start(&["example.com"])
        .await
        .expect("Azure emulator");
    let p = AzureProvider::new(AzureOptions {
        subscription_id: az::SUBSCRIPTION.into(),
        resource_group: az::RESOURCE_GROUP.into(),
        hosted_zone_name: None,
        zone_kind: ZoneKind::Public,
        cloud: AzureCloud::Public,
        credential: AzureCredential::ClientSecret {
            tenant_id: az::TENANT.into(),
            client_id: az::CLIENT_ID.into(),
            secret: az::CLIENT_SECRET.into(),
            source: "bench".into(),
        },
        arm_url: Some(e.api_url()),
        login_url: Some(e.login_url()),
        imds_url: None,
    })
    .expect("Azure provider");
    // Writes refused with 412 (the ETag moved) were made all the same: they count.
    let phases = phases(Arc::new(p), certs, || Counts {
        changes: e.writes() + e.preconditions_failed(),
        calls: e.requests() + e.login_requests(),
        conflicts: e.preconditions_failed(),
    })
    .await;
    let refused: Vec<String> = phases
        .iter()
        .map(|ph| format!("{} {}", ph.conflicts, ph.name))
        .collect();
    Report {
        notes: vec![format!(
            "change calls refused with 412 and made again after a fresh read ({}): the \
             wildcard and apex values of a name are written at once; all API calls include \
             {} Entra ID token request(s)",
            refused.join(", "),
            e.login_requests()
        )],
        phases,
    }
}

async fn akamai(certs: usize) -> Report {
    let e = AkamaiEmulator::start(&["example.com"])
        .await
        .expect("Akamai emulator");
    let p = AkamaiProvider::new(
        EdgeGridCredentials {
            client_token: ak::CLIENT_TOKEN.into(),
            client_secret: ak::CLIENT_SECRET.into(),
            access_token: ak::ACCESS_TOKEN.into(),
            source: "bench".into(),
        },
        &e.api_url(),
    )
    .expect("Akamai provider");
    phases(Arc::new(p), certs, || Counts {
        changes: e.writes(),
        calls: e.requests(),
        ..Counts::default()
    })
    .await
    .into()
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
        "(Route53 and Cloud DNS batch per zone, window 200 ms: targets change calls per certificate per phase <= 1, Route53 <= 0.2)"
    );
    if moto_installed() {
        print("route53", certs, &route53(certs).await);
    } else {
        println!(
            "route53      skipped: moto is not installed (python3 -m pip install 'moto[server]')"
        );
    }
    print("clouddns", certs, &clouddns(certs).await);
    print("digitalocean", certs, &digitalocean(certs).await);
    print("acmedns", certs, &acmedns(certs).await);
    print("azure", certs, &azure(certs).await);
    print("akamai", certs, &akamai(certs).await);
}
