//! A Gateway's Certificate in a namespace another replica owns (`--shards`): sharded,
//! a replica caches the Certificates of its own namespaces and, of the others, only
//! those a source owns across namespaces. A Gateway has a listener whose Secret
//! lives (by a ReferenceGrant) in another namespace; its Certificates are made while
//! one replica works alone. A second replica joins and takes the Gateway's namespace
//! over, not the other one; when the listener goes, the new owner deletes the
//! Certificate in the other namespace, which it knows only from its cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::replicas::{replica, settled};

use std::collections::BTreeSet;
use std::time::Duration;

use certgate::api::Certificate;
use certgate::runtime::shards::owner;
use certgate_sandbox::TestEnv;
use kube::api::Api;
use serde_json::{Value, json};

fn gateway(ns: &str, issuer: &str, other_ns: Option<&str>) -> Value {
    let mut listeners = vec![json!({"name": "own", "protocol": "HTTPS", "port": 443,
        "hostname": "own.example.com", "tls": {"certificateRefs": [{"name": "own-tls"}]}})];
    if let Some(other) = other_ns {
        listeners.push(json!({"name": "shared", "protocol": "HTTPS", "port": 8443,
            "hostname": "shared.example.com",
            "tls": {"certificateRefs": [{"name": "shared-tls", "namespace": other}]}}));
    }
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": ns,
            "annotations": {"cert-manager.io/cluster-issuer": issuer}},
        "spec": {"gatewayClassName": "nginx", "listeners": listeners}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_keeps_its_gateways_certificates_in_a_namespace_it_does_not_own() {
    let env = TestEnv::start().await.unwrap();
    let mut crds = common::checked_in_crds();
    crds.extend(common::gateway_api_crds());
    env.apply_crds(&crds).await.unwrap();

    // One namespace of each replica.
    let members = vec!["r1".to_string(), "r2".to_string()];
    let candidates: Vec<String> = (0..32).map(|i| format!("{}-g{i}", env.namespace)).collect();
    let of = |who: &str| {
        candidates
            .iter()
            .find(|ns| owner(ns, &members) == Some(who))
            .cloned()
            .unwrap()
    };
    let (gateway_ns, secret_ns) = (of("r1"), of("r2"));
    let scope: BTreeSet<String> = [gateway_ns.clone(), secret_ns.clone()].into();
    common::replicas::create_namespaces(&env, &scope).await;
    let issuer = format!("shards-gw-{}", env.namespace);
    common::outcome::apply(
        &env,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": issuer}, "spec": {"selfSigned": {}}}),
    )
    .await;
    common::outcome::apply(&env, json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
        "metadata": {"name": "gateways-may-use-secrets", "namespace": secret_ns},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": gateway_ns}],
                 "to": [{"group": "", "kind": "Secret"}]}}))
    .await;

    // The second replica alone first: it owns both namespaces and makes both
    // Certificates. Then the first one joins and takes the Gateway's namespace over,
    // knowing the Certificate in the other namespace only from its own cache.
    let (r2, _) = replica(&env, "r2", &scope, "certgate-shard-gw", |_| {}).await;
    settled(&[("r2", &r2)], &["r2"], Duration::from_secs(30)).await;
    common::outcome::apply(&env, gateway(&gateway_ns, &issuer, Some(&secret_ns))).await;
    let there: Api<Certificate> = Api::namespaced(env.client.clone(), &secret_ns);
    let here: Api<Certificate> = Api::namespaced(env.client.clone(), &gateway_ns);
    common::wait_for(
        "the Certificate in the other namespace, Ready",
        async || {
            there
                .get_opt("shared-tls")
                .await
                .unwrap()
                .filter(common::is_ready)
        },
    )
    .await;
    common::wait_for(
        "the Certificate in the Gateway's namespace, Ready",
        async || {
            here.get_opt("own-tls")
                .await
                .unwrap()
                .filter(common::is_ready)
        },
    )
    .await;
    let (r1, _) = replica(&env, "r1", &scope, "certgate-shard-gw", |_| {}).await;
    settled(
        &[("r1", &r1), ("r2", &r2)],
        &["r1", "r2"],
        Duration::from_secs(30),
    )
    .await;
    assert!(r1.shards.owns(Some(&gateway_ns)) && !r1.shards.owns(Some(&secret_ns)));

    // The listener goes: the Gateway's replica deletes the Certificate it made there.
    common::outcome::apply(&env, gateway(&gateway_ns, &issuer, None)).await;
    common::wait_gone(
        "the cross-namespace Certificate deleted",
        &there,
        "shared-tls",
    )
    .await;
    assert!(here.get_opt("own-tls").await.unwrap().is_some());

    r1.stop().await;
    r2.stop().await;
    common::replicas::delete_namespaces(&env, &scope).await;
    env.cleanup().await;
}
