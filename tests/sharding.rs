//! Work shared across replicas (#18, `--shards`): three replicas share nine
//! namespaces by their Leases while Certificates are issued in all of them; the
//! replica with the largest share is killed half way (no clean-up: its Lease
//! stays until it expires). The others take its share over within 15 s, every
//! Certificate ends Ready with exactly one CertificateRequest, every write in a
//! namespace came from its owner (and, in the killed replica's namespaces, from
//! the new owner only after the kill: no namespace was worked by two replicas at
//! once), and a replica that stops gracefully hands its share over at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::replicas::{replica, settled};

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use certgate::api::Certificate;
use certgate::controller::RunningControllers;
use certgate::runtime::shards::owner;
use certgate_sandbox::TestEnv;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

const NAMESPACES: usize = 9;
const PER_NAMESPACE: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_namespaces_and_take_over_a_killed_ones_share() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let scope: BTreeSet<String> = (0..NAMESPACES)
        .map(|i| format!("{}-s{i}", env.namespace))
        .collect();
    common::replicas::create_namespaces(&env, &scope).await;
    let issuer = format!("shards-{}", env.namespace);
    common::outcome::apply(
        &env,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": issuer}, "spec": {"selfSigned": {}}}),
    )
    .await;

    let ids = ["r1", "r2", "r3"];
    let (r1, w1) = replica(&env, "r1", &scope, "certgate-shard", |_| {}).await;
    let (r2, w2) = replica(&env, "r2", &scope, "certgate-shard", |_| {}).await;
    let (r3, w3) = replica(&env, "r3", &scope, "certgate-shard", |_| {}).await;
    let writes = BTreeMap::from([("r1", w1), ("r2", w2), ("r3", w3)]);
    // Joining: counted by the others after 4 s, working after 8 s.
    settled(
        &[("r1", &r1), ("r2", &r2), ("r3", &r3)],
        &ids,
        Duration::from_secs(20),
    )
    .await;
    common::outcome::wait_issuer_ready(&env.client, None, &issuer).await;

    let all: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    let mut share: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for ns in &scope {
        share.entry(owner(ns, &all).unwrap()).or_default().push(ns);
    }
    // The replica with the largest share is the one killed.
    let victim = *share.iter().max_by_key(|(_, v)| v.len()).unwrap().0;
    eprintln!("shares: {share:?}; killing {victim}");

    let create = async |ns: &str, i: usize| {
        let certs: Api<Certificate> = Api::namespaced(env.client.clone(), ns);
        let doc = common::outcome::certificate(&format!("c{i}"), (&issuer, "ClusterIssuer"));
        certs
            .create(
                &PostParams::default(),
                &serde_json::from_value(doc).unwrap(),
            )
            .await
            .unwrap();
    };
    for i in 0..PER_NAMESPACE / 2 {
        for ns in &scope {
            create(ns, i).await;
        }
    }
    let (mut survivors, killed_at) = {
        let mut r = vec![("r1", r1), ("r2", r2), ("r3", r3)];
        let at = r.iter().position(|(id, _)| *id == victim).unwrap();
        let (_, dead) = r.remove(at);
        dead.kill();
        (r, Instant::now())
    };
    for i in PER_NAMESPACE / 2..PER_NAMESPACE {
        for ns in &scope {
            create(ns, i).await;
        }
    }

    // Takeover: the survivors drop the killed member once its Lease expires.
    let left: Vec<&str> = ids.iter().copied().filter(|id| *id != victim).collect();
    let refs: Vec<(&str, &RunningControllers)> = survivors.iter().map(|(id, r)| (*id, r)).collect();
    settled(&refs, &left, Duration::from_secs(15)).await;
    let takeover = killed_at.elapsed();

    // Every Certificate Ready, with one CertificateRequest each.
    let started = Instant::now();
    loop {
        let not_ready = common::replicas::not_ready(&env, &scope).await;
        if not_ready.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not Ready after 90 s: {not_ready:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_ready = killed_at.elapsed();
    let mut duplicates = Vec::new();
    let mut requests = 0;
    for ns in &scope {
        let per_certificate = common::outcome::requests_per_certificate_in(&env.client, ns).await;
        requests += per_certificate.values().sum::<usize>();
        duplicates.extend(
            per_certificate
                .into_iter()
                .filter(|(_, n)| *n != 1)
                .map(|(c, n)| format!("{ns}/{c}: {n}")),
        );
    }
    eprintln!(
        "{} Certificates in {NAMESPACES} namespaces, 3 replicas, {victim} killed: taken over in {:.1} s, all Ready {:.1} s after the kill, {requests} CertificateRequests",
        NAMESPACES * PER_NAMESPACE,
        takeover.as_secs_f64(),
        all_ready.as_secs_f64()
    );
    assert!(
        duplicates.is_empty(),
        "more than one request: {duplicates:?}"
    );
    assert_eq!(requests, NAMESPACES * PER_NAMESPACE);

    // Who wrote where: only the owner; in the killed replica's namespaces, the new
    // owner and only after the kill.
    let wrong = common::replicas::writes_outside_share(&scope, &all, &left, &writes, killed_at);
    assert!(wrong.is_empty(), "writes outside the share: {wrong:?}");

    // A graceful stop deletes the member's Lease: the last replica takes over at once.
    let (gone, last) = (survivors.remove(0), survivors.remove(0));
    let stopped_at = Instant::now();
    gone.1.stop().await;
    settled(&[(last.0, &last.1)], &[last.0], Duration::from_secs(5)).await;
    eprintln!(
        "graceful stop of {}: {} alone after {:.1} s",
        gone.0,
        last.0,
        stopped_at.elapsed().as_secs_f64()
    );
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &env.namespace);
    let names: Vec<String> = leases
        .list(&ListParams::default().labels("certgate.io/shard-group=certgate"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|l| l.metadata.name)
        .collect();
    assert!(
        !names.contains(&format!("certgate-shard-{}", gone.0)),
        "the stopped member's Lease is still there: {names:?}"
    );
    last.1.stop().await;
    common::replicas::delete_namespaces(&env, &scope).await;
    env.cleanup().await;
}
