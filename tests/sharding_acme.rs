//! Work shared across replicas (#18, `--shards`) on the ACME path: three replicas
//! share nine namespaces by their Leases while Certificates are issued in all of
//! them by an ACME ClusterIssuer (Pebble behind a counting proxy, DNS-01 through
//! RFC2136 to BIND: the solver does not live in the killed process). The replica
//! with the largest share is killed half way (no clean-up: its Lease stays until
//! it expires) and the others take its share over. No object is ever worked on by
//! two replicas at once: every Certificate ends Ready at revision 1 with exactly
//! one CertificateRequest, every CertificateRequest has exactly one Order, every
//! order worked on at the CA is the one an Order records, no Challenge and no
//! `_acme-challenge` TXT record is left, and every write in a namespace came from
//! its owner (in the killed replica's namespaces, from the new owner only after
//! the kill).
//!
//! What the CA may see more of: ACME's new-order is not idempotent, so a replica
//! killed after the CA created an order and before the Order's status recorded it
//! leaves that order behind, and the new owner places another (as
//! `tests/kill_matrix.rs` allows for one controller). Such orders are bounded here
//! — at most one for each Certificate of the killed replica's share that existed
//! before the kill — and never worked on (never read again, never finalized):
//! seen in about a third of the runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// Only its counting is used here; its faults serve tests/acme_faults.rs.
#[allow(dead_code)]
#[path = "common/acme_proxy.rs"]
mod acme_proxy;
mod common;

use common::replicas::{replica, settled};

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use certgate::api::{Certificate, CertificateRequest, Challenge, Order};
use certgate::controller::{AcmeSettings, RunningControllers};
use certgate::runtime::shards::owner;
use certgate_sandbox::TestEnv;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

const NAMESPACES: usize = 9;
const PER_NAMESPACE: usize = 2;

/// The DNS name of Certificate `c<i>` in the `k`-th namespace (unique across
/// namespaces, so no two Certificates share a challenge record).
fn dns_name(i: usize, k: usize) -> String {
    format!("c{i}-s{k}.example.com")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_issue_acme_certificates_once_when_one_is_killed() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();

    // Pebble resolving names with BIND, behind a proxy that counts its requests.
    let bind = common::bind::Bind::start(&[common::bind::ZoneSpec::new("example.com")]);
    let pebble = common::pebble::Pebble::start(common::pebble::PebbleOptions {
        dns_server: bind.addr().to_string(),
        http_port: common::pebble::free_port(),
        tls_port: 0,
        eab_keys: vec![],
    });
    let proxy = acme_proxy::AcmeProxy::start(&pebble.directory_url, &pebble.tls_ca_pem).await;
    let mut settings = AcmeSettings::default();
    settings.dns01.recursive_nameservers = vec![bind.addr().into()];
    settings.dns01.authoritative_port = bind.port();
    settings.dns01.poll_period = Duration::from_millis(500);

    let scope: Vec<String> = (0..NAMESPACES)
        .map(|k| format!("{}-s{k}", env.namespace))
        .collect();
    common::replicas::create_namespaces(&env, &scope).await;
    let scope_set: BTreeSet<String> = scope.iter().cloned().collect();

    // The ACME ClusterIssuer: its TSIG key Secret and account key live in the
    // cluster resource namespace (the test's own).
    let issuer = format!("shards-acme-{}", env.namespace);
    common::outcome::apply(
        &env,
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "tsig", "namespace": env.namespace},
            "stringData": {"secret": bind.key_secret()}}),
    )
    .await;
    common::outcome::apply(
        &env,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": issuer},
            "spec": {"acme": {"server": proxy.directory_url, "email": "ops@example.com",
                "caBundle": proxy.ca_bundle(),
                "privateKeySecretRef": {"name": format!("acme-account-{}", env.namespace)},
                "solvers": [{"dns01": {"rfc2136": {"nameserver": bind.addr().to_string(),
                    "tsigKeyName": bind.key_name(), "tsigAlgorithm": "HMACSHA256",
                    "tsigSecretSecretRef": {"name": "tsig", "key": "secret"}}}}]}}}),
    )
    .await;

    let ids = ["r1", "r2", "r3"];
    let (r1, w1) = replica(&env, "r1", &scope_set, "certgate-shard-acme", |c| {
        c.acme = settings.clone()
    })
    .await;
    let (r2, w2) = replica(&env, "r2", &scope_set, "certgate-shard-acme", |c| {
        c.acme = settings.clone()
    })
    .await;
    let (r3, w3) = replica(&env, "r3", &scope_set, "certgate-shard-acme", |c| {
        c.acme = settings.clone()
    })
    .await;
    let writes = BTreeMap::from([("r1", w1), ("r2", w2), ("r3", w3)]);
    // Joining: counted by the others after 4 s, working after 8 s.
    settled(
        &[("r1", &r1), ("r2", &r2), ("r3", &r3)],
        &ids,
        Duration::from_secs(20),
    )
    .await;
    common::outcome::wait_issuer_ready(&env.client, None, &issuer).await;
    // Only the orders of the Certificates below are counted.
    proxy.reset_log();

    let all: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    let mut share: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for ns in &scope {
        share.entry(owner(ns, &all).unwrap()).or_default().push(ns);
    }
    // The replica with the largest share is the one killed.
    let victim = *share.iter().max_by_key(|(_, v)| v.len()).unwrap().0;
    eprintln!("shares: {share:?}; killing {victim}");

    let started = Instant::now();
    let create = async |k: usize, i: usize| {
        let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &scope[k]);
        let mut doc = common::outcome::certificate(&format!("c{i}"), (&issuer, "ClusterIssuer"));
        doc["spec"]["commonName"] = json!(dns_name(i, k));
        doc["spec"]["dnsNames"] = json!([dns_name(i, k)]);
        certs
            .create(
                &PostParams::default(),
                &serde_json::from_value(doc).unwrap(),
            )
            .await
            .unwrap();
    };
    for i in 0..PER_NAMESPACE / 2 {
        for k in 0..NAMESPACES {
            create(k, i).await;
        }
    }
    // Let the first half get under way (Orders created, challenges presented) so
    // the kill cuts ACME work in flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (survivors, killed_at) = {
        let mut r = vec![("r1", r1), ("r2", r2), ("r3", r3)];
        let at = r.iter().position(|(id, _)| *id == victim).unwrap();
        let (_, dead) = r.remove(at);
        dead.kill();
        (r, Instant::now())
    };
    eprintln!(
        "killed {victim} {:.1} s after the first Certificate",
        started.elapsed().as_secs_f64()
    );
    for i in PER_NAMESPACE / 2..PER_NAMESPACE {
        for k in 0..NAMESPACES {
            create(k, i).await;
        }
    }

    // Takeover: the survivors drop the killed member once its Lease expires.
    let left: Vec<&str> = ids.iter().copied().filter(|id| *id != victim).collect();
    let refs: Vec<(&str, &RunningControllers)> = survivors.iter().map(|(id, r)| (*id, r)).collect();
    settled(&refs, &left, Duration::from_secs(15)).await;
    let takeover = killed_at.elapsed();

    // Every Certificate Ready.
    let waiting = Instant::now();
    loop {
        let not_ready = common::replicas::not_ready(&env, &scope_set).await;
        if not_ready.is_empty() {
            break;
        }
        if waiting.elapsed() >= Duration::from_secs(120) {
            for ns in &scope {
                for o in Api::<Order>::namespaced(env.client.clone(), ns)
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                {
                    eprintln!(
                        "{ns}: Order {:?} status {:?}",
                        o.metadata.name,
                        o.status.map(|s| (s.state, s.reason))
                    );
                }
                for c in Api::<Challenge>::namespaced(env.client.clone(), ns)
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                {
                    eprintln!(
                        "{ns}: Challenge {:?} finalizers {:?} status {:?}",
                        c.metadata.name, c.metadata.finalizers, c.status
                    );
                }
            }
            panic!("not Ready after 120 s: {not_ready:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_ready = killed_at.elapsed();
    let total = NAMESPACES * PER_NAMESPACE;

    // One CertificateRequest per Certificate, and the Certificate at revision 1.
    let mut problems = Vec::new();
    let mut requests = 0;
    for ns in &scope {
        let per_certificate = common::outcome::requests_per_certificate_in(&env.client, ns).await;
        requests += per_certificate.values().sum::<usize>();
        problems.extend(
            per_certificate
                .into_iter()
                .filter(|(_, n)| *n != 1)
                .map(|(c, n)| format!("{ns}/{c}: {n} CertificateRequests")),
        );
        for c in Api::<Certificate>::namespaced(env.client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            let revision = c.status.as_ref().and_then(|s| s.revision);
            if revision != Some(1) {
                problems.push(format!(
                    "{ns}/{}: revision {revision:?}",
                    c.metadata.name.unwrap_or_default()
                ));
            }
        }
    }

    // One Order per CertificateRequest (by its controller owner reference), and
    // no Order of anything else.
    let mut orders = 0;
    // The CA's order of each Order (the path of its URL), for the report below.
    let mut recorded: BTreeMap<String, String> = BTreeMap::new();
    for ns in &scope {
        let request_uids: BTreeMap<String, String> =
            Api::<CertificateRequest>::namespaced(env.client.clone(), ns)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|r| {
                    (
                        r.metadata.uid.unwrap_or_default(),
                        r.metadata.name.unwrap_or_default(),
                    )
                })
                .collect();
        let mut per_request: BTreeMap<String, Vec<String>> = request_uids
            .keys()
            .map(|uid| (uid.clone(), Vec::new()))
            .collect();
        for o in Api::<Order>::namespaced(env.client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            orders += 1;
            let name = o.metadata.name.clone().unwrap_or_default();
            if let Some(url) = o.status.as_ref().and_then(|s| s.url.as_deref()) {
                let path = url
                    .split_once("://")
                    .map_or(url, |(_, rest)| rest.find('/').map_or("", |at| &rest[at..]));
                recorded.insert(path.to_string(), format!("{ns}/{name}"));
            }
            let owners: Vec<_> = o
                .metadata
                .owner_references
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.kind == "CertificateRequest" && r.controller == Some(true))
                .collect();
            match owners.as_slice() {
                [r] if per_request.contains_key(&r.uid) => {
                    per_request.get_mut(&r.uid).unwrap().push(name);
                }
                _ => problems.push(format!(
                    "{ns}/Order {name}: not owned by one CertificateRequest of the namespace ({owners:?})"
                )),
            }
        }
        for (uid, names) in per_request {
            if names.len() != 1 {
                problems.push(format!(
                    "{ns}/CertificateRequest {}: {} Orders {names:?}",
                    request_uids[&uid],
                    names.len()
                ));
            }
        }
    }

    // The orders the CA created (Pebble's new-order answered 201), when relative to
    // the kill, and the orders worked on after (by the id in `/my-order/<id>` and
    // `/finalize-order/<id>`) that no Order records: an order placed and then
    // worked on beside the recorded one (two replicas on one Certificate) would
    // show here. An order the CA created but nobody worked on is one a replica
    // killed between new-order and writing the Order's status left behind.
    let seen = proxy.seen();
    let relative = |at: Instant| {
        if at >= killed_at {
            format!("+{:.2} s", (at - killed_at).as_secs_f64())
        } else {
            format!("-{:.2} s", (killed_at - at).as_secs_f64())
        }
    };
    let ca_orders: Vec<String> = seen
        .iter()
        .filter(|s| s.path.starts_with("/order-plz") && s.status == 201)
        .map(|s| relative(s.at))
        .collect();
    let mut worked: BTreeMap<String, (Instant, Instant)> = BTreeMap::new();
    for s in &seen {
        let id = s
            .path
            .strip_prefix("/my-order/")
            .or_else(|| s.path.strip_prefix("/finalize-order/"));
        if let Some(id) = id {
            let e = worked.entry(id.to_string()).or_insert((s.at, s.at));
            e.1 = s.at;
        }
    }
    let unrecorded: Vec<String> = worked
        .iter()
        .filter(|(id, _)| !recorded.contains_key(&format!("/my-order/{id}")))
        .map(|(id, (first, last))| {
            format!(
                "order {id} worked from {} to {}",
                relative(*first),
                relative(*last)
            )
        })
        .collect();

    // No Challenge and no challenge TXT record left (waiting a little for their
    // clean-up).
    let mut acme_left = Vec::new();
    for _ in 0..50 {
        acme_left.clear();
        for ns in &scope {
            acme_left.extend(
                Api::<Challenge>::namespaced(env.client.clone(), ns)
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|c| format!("{ns}/Challenge {}", c.metadata.name.unwrap_or_default())),
            );
        }
        for k in 0..NAMESPACES {
            for i in 0..PER_NAMESPACE {
                let record = format!("_acme-challenge.{}.", dns_name(i, k));
                acme_left.extend(
                    bind.txt(&record)
                        .into_iter()
                        .map(|v| format!("TXT {record} {v}")),
                );
            }
        }
        if acme_left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Who wrote where: only the owner; in the killed replica's namespaces, the new
    // owner and only after the kill.
    let wrong = common::replicas::writes_outside_share(&scope_set, &all, &left, &writes, killed_at);

    eprintln!(
        "{total} ACME Certificates in {NAMESPACES} namespaces, 3 replicas, {victim} killed: taken over in {:.1} s, all Ready {:.1} s after the kill, {requests} CertificateRequests, {orders} Orders, {} CA orders, {} CA orders worked on, unrecorded: {unrecorded:?}",
        takeover.as_secs_f64(),
        all_ready.as_secs_f64(),
        ca_orders.len(),
        worked.len()
    );
    // Every check, then one failure naming all that did not hold.
    let mut failures = problems;
    if requests != total {
        failures.push(format!("{requests} CertificateRequests, not {total}"));
    }
    if orders != total {
        failures.push(format!("{orders} Orders, not {total}"));
    }
    // Orders the killed replica may have left at the CA: one per Certificate of
    // its share created before the kill, at most.
    let exposed = share[victim].len() * (PER_NAMESPACE / 2);
    if ca_orders.len() < total || ca_orders.len() > total + exposed {
        failures.push(format!(
            "{} orders created at the CA, not {total} (+ at most {exposed} left by the kill of {victim}, whose share was {:?}): {ca_orders:?}; orders worked on but recorded by no Order: {unrecorded:?}",
            ca_orders.len(),
            share[victim]
        ));
    }
    if !unrecorded.is_empty() {
        failures.push(format!(
            "CA orders worked on that no Order records: {unrecorded:?}"
        ));
    }
    if !acme_left.is_empty() {
        failures.push(format!("ACME objects left: {acme_left:?}"));
    }
    if !wrong.is_empty() {
        failures.push(format!("writes outside the share: {wrong:?}"));
    }
    assert!(failures.is_empty(), "{failures:#?}");

    for (_, r) in survivors {
        r.stop().await;
    }
    common::replicas::delete_namespaces(&env, &scope).await;
    env.cleanup().await;
}
