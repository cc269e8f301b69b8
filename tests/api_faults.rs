//! certgate against a misbehaving API server (#20 item 3): the sandbox delays every
//! watch event, ends watches early, answers resumed watches 410 Gone (as after an
//! etcd compaction), refuses writes with 409 Conflict and requests with 429, at the
//! rates below, for the controllers' requests only. SelfSigned and CA issuance must
//! still converge with exactly one CertificateRequest per Certificate revision and
//! no temporary private key Secret left. (The same faults under ACME, where a stale
//! cache once placed two CA orders for one Order, are in tests/acme_faults.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use certgate::api::Certificate;
use certgate::controller::RunningControllers;
use certgate_sandbox::TestEnv;
use certgate_sandbox::faults::FaultPlan;
use common::outcome::{apply, certificate, requests_per_certificate, temporary_keys_left};
use kube::api::{Api, ListParams};
use serde_json::json;

const CERTIFICATES: usize = 16;

/// What goes wrong: every rate high enough that each fault is hit many times in a run.
fn plan() -> FaultPlan {
    let seed = std::env::var("CERTGATE_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    FaultPlan {
        watch_delay: Duration::from_millis(400),
        watch_lifetime: Some((Duration::from_millis(800), Duration::from_secs(3))),
        gone_rate: 0.3,
        conflict_rate: 0.2,
        throttle_rate: 0.05,
        seed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuance_converges_under_api_server_faults_sandbox_only() {
    let env = TestEnv::start().await.unwrap();
    let Some(sandbox) = env.sandbox.as_ref() else {
        eprintln!("skipped: injected API server faults need the sandbox");
        return;
    };
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let plan = plan();
    sandbox.faults().set(plan.clone());
    let controllers = RunningControllers::start(
        sandbox.faulty_client().await.unwrap(),
        common::scoped_config(&env),
    );
    apply(
        &env,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
        "metadata": {"name": "ss"}, "spec": {"selfSigned": {}}}),
    )
    .await;
    let mut root = certificate("root", ("ss", "Issuer"));
    root["spec"]["isCA"] = json!(true);
    apply(&env, root).await;
    apply(
        &env,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
        "metadata": {"name": "ca"}, "spec": {"ca": {"secretName": "root-tls"}}}),
    )
    .await;
    for i in 0..CERTIFICATES {
        let issuer = if i % 2 == 0 { "ss" } else { "ca" };
        apply(&env, certificate(&format!("c{i}"), (issuer, "Issuer"))).await;
    }

    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    let started = Instant::now();
    loop {
        let list = certs.list(&ListParams::default()).await.unwrap().items;
        if list.len() == CERTIFICATES + 1 && list.iter().all(common::is_ready) {
            break;
        }
        if started.elapsed() > Duration::from_secs(150) {
            let waiting: Vec<_> = list
                .iter()
                .filter(|c| !common::is_ready(c))
                .map(|c| (c.metadata.name.clone(), c.status.clone()))
                .collect();
            panic!(
                "not Ready in 150 s under {plan:?} ({:?}): {waiting:#?}",
                sandbox.faults().counts()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed();

    // Temporary private keys are deleted after issuance; wait for the last of them.
    let left = temporary_keys_left(&env, "").await;
    // Quiet for a moment: nothing re-issues after the fact.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = sandbox.faults().counts();
    sandbox.faults().clear();
    drop(controllers);

    let per_certificate = requests_per_certificate(&env).await;
    let list = certs.list(&ListParams::default()).await.unwrap().items;
    let revisions: Vec<(String, Option<i32>)> = list
        .iter()
        .map(|c| {
            (
                c.metadata.name.clone().unwrap_or_default(),
                c.status.as_ref().and_then(|s| s.revision),
            )
        })
        .filter(|(_, r)| *r != Some(1))
        .collect();

    println!(
        "API server faults ({} s to Ready, seed {}):",
        took.as_secs(),
        plan.seed
    );
    println!(
        "  {:<44} {:>6}",
        "watch events delivered 400 ms late", counts.delayed_watch_events
    );
    println!(
        "  {:<44} {:>6}",
        "watches ended early (0.8-3 s)", counts.watches_ended
    );
    println!(
        "  {:<44} {:>6}",
        "resumed watches answered 410 Gone", counts.gone
    );
    println!(
        "  {:<44} {:>6}",
        "writes refused 409 Conflict", counts.conflicts
    );
    println!("  {:<44} {:>6}", "requests refused 429", counts.throttled);
    println!(
        "  outcome: {} Certificates Ready, {} CertificateRequests, {} temporary keys left",
        list.len(),
        per_certificate.values().sum::<usize>(),
        left.len()
    );

    // Every fault was really injected, more than once.
    assert!(counts.delayed_watch_events > 10, "{counts:?}");
    assert!(counts.watches_ended > 2, "{counts:?}");
    assert!(counts.gone > 0, "{counts:?}");
    assert!(counts.conflicts > 2, "{counts:?}");
    assert!(counts.throttled > 2, "{counts:?}");
    // Nothing duplicated, nothing left behind.
    assert!(
        revisions.is_empty(),
        "re-issued under faults: {revisions:?}"
    );
    assert_eq!(
        per_certificate.len(),
        CERTIFICATES + 1,
        "{per_certificate:?}"
    );
    for (cert, n) in &per_certificate {
        assert_eq!(*n, 1, "{cert}: {n} CertificateRequests");
    }
    assert!(left.is_empty(), "temporary key Secrets left: {left:?}");
    env.cleanup().await;
}
