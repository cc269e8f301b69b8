//! The Gateway shim end to end through the sandbox with a CA ClusterIssuer: the
//! seed's Gateway ends with a Ready Secret; listeners sharing a Secret share one
//! Certificate; cross-namespace refs need a ReferenceGrant; a ListenerSet inherits its
//! Gateway's issuer; the Gateway deleted takes its Certificates (not the Secrets).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::Certificate;
use certgate::controller::{ControllerConfig, RunningControllers};
use certgate_sandbox::TestEnv;
use k8s_openapi::api::core::v1::{Event, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

async fn apply(env: &TestEnv, doc: Value) {
    let doc = if doc["kind"] == "ClusterIssuer" {
        env.scoped(doc)
    } else {
        doc
    };
    certgate::manifests::apply(&env.client, "test", &[doc], "test")
        .await
        .unwrap();
}

fn gateway_crds() -> Vec<Value> {
    common::gateway_api_crds()
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_listeners_and_listener_sets_become_certificates() {
    let env = TestEnv::start().await.unwrap();
    let mut crds = common::checked_in_crds();
    crds.extend(gateway_crds());
    env.apply_crds(&crds).await.unwrap();
    let ns = env.namespace.clone();
    // Watching every namespace (a certificateRef reaches into another one), serving
    // only this test's ClusterIssuers.
    let config = ControllerConfig {
        namespace: None,
        ..common::scoped_config(&env)
    };
    let controllers = RunningControllers::start(env.client.clone(), config.clone());

    // A CA ClusterIssuer (standing in for the seed's letsencrypt-prod).
    let issuer = format!("ca-{ns}");
    apply(&env, json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": format!("ss-{ns}")}, "spec": {"selfSigned": {}}})).await;
    apply(&env, json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "root", "namespace": ns},
        "spec": {"isCA": true, "commonName": "root", "secretName": "root-ca", "privateKey": {"algorithm": "ECDSA"},
                 "issuerRef": {"name": format!("ss-{ns}"), "kind": "ClusterIssuer"}}})).await;
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    common::wait_for("the CA", async || {
        certs
            .get_opt("root")
            .await
            .unwrap()
            .filter(common::is_ready)
    })
    .await;
    apply(&env, json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": issuer}, "spec": {"ca": {"secretName": "root-ca"}}})).await;

    // The seed's Gateway (002), with its indentation restored and the issuer name adjusted.
    apply(&env, json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "app-gateway", "namespace": ns, "annotations": {"cert-manager.io/cluster-issuer": issuer}},
        "spec": {"gatewayClassName": "nginx", "listeners": [
            {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "app.example.com",
             "tls": {"mode": "Terminate", "certificateRefs": [{"name": "app-tls", "kind": "Secret"}]}},
            {"name": "https-www", "protocol": "HTTPS", "port": 443, "hostname": "www.example.com",
             "tls": {"certificateRefs": [{"name": "app-tls"}]}},
            {"name": "db", "protocol": "TLS", "port": 5432, "hostname": "db.example.com",
             "tls": {"mode": "Passthrough"}},
            {"name": "shared", "protocol": "HTTPS", "port": 8443, "hostname": "shared.example.com",
             "tls": {"certificateRefs": [{"name": "shared-tls", "namespace": "certs-vault"}]}}
        ]}
    }))
    .await;
    let cert = common::wait_for("a Ready Certificate for the Gateway", async || {
        certs
            .get_opt("app-tls")
            .await
            .unwrap()
            .filter(common::is_ready)
    })
    .await;
    assert_eq!(
        cert.spec.dns_names.clone().unwrap(),
        ["app.example.com", "www.example.com"],
        "listeners sharing a Secret share a Certificate"
    );
    let owner = &cert.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Gateway", "app-gateway")
    );
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    assert!(
        secrets
            .get("app-tls")
            .await
            .unwrap()
            .data
            .unwrap()
            .contains_key("tls.crt")
    );
    let events: Api<Event> = Api::namespaced(env.client.clone(), &ns);
    let on_gateway = common::wait_for("events on the Gateway", async || {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=app-gateway"))
            .await
            .unwrap()
            .items;
        let skipped = list.iter().any(|e| {
            e.reason.as_deref() == Some("SkippedListener")
                && e.message.as_deref().is_some_and(|m| m.contains("\"db\""))
        });
        let refused = list.iter().any(|e| {
            e.reason.as_deref() == Some("BadConfig")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("certs-vault"))
        });
        (skipped && refused).then_some(list)
    })
    .await;
    assert!(!on_gateway.is_empty());

    // With a ReferenceGrant, the cross-namespace Secret gets its Certificate there.
    Api::<Namespace>::all(env.client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("{ns}-vault")}})).unwrap(),
        )
        .await
        .unwrap();
    let vault = format!("{ns}-vault");
    apply(&env, json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
        "metadata": {"name": "gateways-may-use-secrets", "namespace": vault},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": ns}], "to": [{"group": "", "kind": "Secret"}]}})).await;
    apply(&env, json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "app-gateway", "namespace": ns, "annotations": {"cert-manager.io/cluster-issuer": issuer, "touched": "1"}},
        "spec": {"gatewayClassName": "nginx", "listeners": [
            {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "app.example.com",
             "tls": {"mode": "Terminate", "certificateRefs": [{"name": "app-tls", "kind": "Secret"}]}},
            {"name": "shared", "protocol": "HTTPS", "port": 8443, "hostname": "shared.example.com",
             "tls": {"certificateRefs": [{"name": "shared-tls", "namespace": vault}]}}
        ]}
    }))
    .await;
    let vault_certs: Api<Certificate> = Api::namespaced(env.client.clone(), &vault);
    common::wait_for("the granted cross-namespace Certificate", async || {
        vault_certs
            .get_opt("shared-tls")
            .await
            .unwrap()
            .filter(common::is_ready)
    })
    .await;
    // The listener's hostname changes: the Certificate in the other namespace follows
    // (it is found by its owner label, not an ownerReference).
    apply(&env, json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "app-gateway", "namespace": ns, "annotations": {"cert-manager.io/cluster-issuer": issuer, "touched": "1"}},
        "spec": {"gatewayClassName": "nginx", "listeners": [
            {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "app.example.com",
             "tls": {"mode": "Terminate", "certificateRefs": [{"name": "app-tls", "kind": "Secret"}]}},
            {"name": "shared", "protocol": "HTTPS", "port": 8443, "hostname": "shared2.example.com",
             "tls": {"certificateRefs": [{"name": "shared-tls", "namespace": vault}]}}
        ]}
    }))
    .await;
    common::wait_for(
        "the cross-namespace Certificate to follow the hostname",
        async || {
            vault_certs
                .get_opt("shared-tls")
                .await
                .unwrap()
                .filter(|c| c.spec.dns_names.clone().unwrap_or_default() == ["shared2.example.com"])
        },
    )
    .await;
    common::wait_for("the removed listener's host dropped", async || {
        certs
            .get_opt("app-tls")
            .await
            .unwrap()
            .filter(|c| c.spec.dns_names.clone().unwrap_or_default() == ["app.example.com"])
    })
    .await;

    // A ListenerSet without annotations of its own uses its Gateway's issuer.
    apply(&env, json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
        "metadata": {"name": "team-a", "namespace": ns},
        "spec": {"parentRef": {"name": "app-gateway"}, "listeners": [
            {"name": "team-a", "protocol": "HTTPS", "port": 443, "hostname": "team-a.example.com",
             "tls": {"certificateRefs": [{"name": "team-a-tls"}]}}]}
    }))
    .await;
    let team = common::wait_for("the ListenerSet's Certificate", async || {
        certs
            .get_opt("team-a-tls")
            .await
            .unwrap()
            .filter(common::is_ready)
    })
    .await;
    assert_eq!(team.spec.issuer_ref.name, issuer);
    assert_eq!(
        team.metadata.owner_references.unwrap()[0].kind,
        "ListenerSet"
    );

    // The Gateway deleted: its Certificate goes, the Secret stays.
    Api::<certgate::gateway::types::Gateway>::namespaced(env.client.clone(), &ns)
        .delete("app-gateway", &DeleteParams::default())
        .await
        .unwrap();
    common::wait_gone("the Gateway's Certificate gone", &certs, "app-tls").await;
    assert!(secrets.get_opt("app-tls").await.unwrap().is_some());
    common::wait_gone(
        "the cross-namespace Certificate gone too",
        &vault_certs,
        "shared-tls",
    )
    .await;
    // A Gateway deleted while certgate is down: its cross-namespace Certificate is
    // swept when certgate starts again (no Delete event will ever come for it).
    apply(&env, json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "late-gateway", "namespace": ns, "annotations": {"cert-manager.io/cluster-issuer": issuer}},
        "spec": {"gatewayClassName": "nginx", "listeners": [
            {"name": "late", "protocol": "HTTPS", "port": 443, "hostname": "late.example.com",
             "tls": {"certificateRefs": [{"name": "late-tls", "namespace": vault}]}}
        ]}
    }))
    .await;
    common::wait_for(
        "the late Gateway's cross-namespace Certificate",
        async || vault_certs.get_opt("late-tls").await.unwrap(),
    )
    .await;
    controllers.stop().await;
    Api::<certgate::gateway::types::Gateway>::namespaced(env.client.clone(), &ns)
        .delete("late-gateway", &DeleteParams::default())
        .await
        .unwrap();
    let controllers = RunningControllers::start(env.client.clone(), config);
    common::wait_gone(
        "the orphan swept after the restart",
        &vault_certs,
        "late-tls",
    )
    .await;
    controllers.stop().await;
    let _ = Api::<Namespace>::all(env.client.clone())
        .delete(&vault, &DeleteParams::default())
        .await;
    env.cleanup().await;
}

/// An HTTPRoute with these parents and hostnames.
fn http_route(name: &str, ns: &str, parent_refs: Value, hostnames: &[&str]) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"parentRefs": parent_refs, "hostnames": hostnames,
                    "rules": [{"backendRefs": [{"name": "app", "port": 80}]}]}})
}

/// The dnsNames of Certificate `name`, once they are `want` (waits for them).
async fn wait_for_names(certs: &Api<Certificate>, name: &str, want: &[&str]) -> Certificate {
    common::wait_for(&format!("Certificate {name} with {want:?}"), async || {
        certs
            .get_opt(name)
            .await
            .unwrap()
            .filter(|c| c.spec.dns_names.clone().unwrap_or_default() == want)
    })
    .await
}

async fn wait_for_event(env: &TestEnv, object: &str, reason: &str, text: &str) -> Event {
    let events: Api<Event> = Api::namespaced(env.client.clone(), &env.namespace);
    common::wait_for(
        &format!("a {reason} event on {object} saying {text:?}"),
        async || {
            events
                .list(&ListParams::default().fields(&format!("involvedObject.name={object}")))
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.message.as_deref().is_some_and(|m| m.contains(text))
                })
        },
    )
    .await
}

/// Waits until Certificate `name` is Ready for its current spec, then a little longer
/// than the controllers' debounce, so no reconcile its changes caused is pending.
async fn wait_for_settled(certs: &Api<Certificate>, name: &str) {
    common::wait_for(
        &format!("Certificate {name} Ready for its spec"),
        async || {
            certs.get_opt(name).await.unwrap().filter(|c| {
                let generation = c.metadata.generation;
                c.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.type_ == "Ready"
                                && c.status == certgate::api::ConditionStatus::True
                                && c.observed_generation == generation
                        })
                    })
            })
        },
    )
    .await;
    tokio::time::sleep(certgate::gateway::RECONCILE_DEBOUNCE * 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn listeners_without_a_hostname_take_the_names_of_their_attached_routes() {
    let env = TestEnv::start().await.unwrap();
    let mut crds = common::checked_in_crds();
    crds.extend(gateway_crds());
    env.apply_crds(&crds).await.unwrap();
    let ns = env.namespace.clone();
    let elsewhere = format!("{ns}-apps");
    Api::<Namespace>::all(env.client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": elsewhere}})).unwrap(),
        )
        .await
        .unwrap();
    // Watching every namespace: a route in another namespace must be seen (and refused).
    let config = ControllerConfig {
        namespace: None,
        ..common::scoped_config(&env)
    };
    let controllers = RunningControllers::start(env.client.clone(), config);
    let issuer = format!("ss-{ns}");
    apply(
        &env,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": issuer}, "spec": {"selfSigned": {}}}),
    )
    .await;
    let gateway = |name: &str, listeners: Value| {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": name, "namespace": ns, "annotations": {
                   "cert-manager.io/cluster-issuer": issuer,
                   "certgate.io/hostnames-from-routes": "true"}},
               "spec": {"gatewayClassName": "nginx", "listeners": listeners}})
    };
    apply(
        &env,
        gateway(
            "routed",
            json!([
                {"name": "https", "protocol": "HTTPS", "port": 443,
                 "tls": {"certificateRefs": [{"name": "routed-tls"}]}},
                {"name": "admin", "protocol": "HTTPS", "port": 8443, "hostname": "admin.example.com",
                 "tls": {"certificateRefs": [{"name": "admin-tls"}]}}
            ]),
        ),
    )
    .await;
    let to = |gw: &str| json!([{"name": gw}]);
    for route in [
        http_route(
            "web",
            &ns,
            to("routed"),
            &["a.example.com", "*.b.example.com"],
        ),
        // Attached to the other listener: not the https listener's.
        http_route(
            "admin",
            &ns,
            json!([{"name": "routed", "sectionName": "admin"}]),
            &["admin-route.example.com"],
        ),
        // In another namespace, while the listener allows its own only (Same).
        http_route(
            "foreign",
            &elsewhere,
            json!([{"name": "routed", "namespace": ns}]),
            &["foreign.example.com"],
        ),
        // An ACME HTTP-01 solver's route: it names a host only while it is validated.
        {
            let mut solver = http_route("solver", &ns, to("routed"), &["challenge.example.com"]);
            solver["metadata"]["labels"] = json!({"acme.cert-manager.io/http01-solver": "true"});
            solver
        },
    ] {
        apply(&env, route).await;
    }
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    let routed = wait_for_names(&certs, "routed-tls", &["*.b.example.com", "a.example.com"]).await;
    let owner = &routed.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Gateway", "routed")
    );
    wait_for_names(&certs, "admin-tls", &["admin.example.com"]).await;

    // A route added: its names join (each once: a.example.com is web's too).
    apply(
        &env,
        http_route(
            "extra",
            &ns,
            to("routed"),
            &["c.example.com", "a.example.com"],
        ),
    )
    .await;
    wait_for_names(
        &certs,
        "routed-tls",
        &["*.b.example.com", "a.example.com", "c.example.com"],
    )
    .await;
    // A route deleted: the names only it had go.
    Api::<certgate::gateway::types::HTTPRoute>::namespaced(env.client.clone(), &ns)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_names(&certs, "routed-tls", &["a.example.com", "c.example.com"]).await;
    // Issued for those names and quiet: from now on only a route's move can reconcile
    // the Gateway `routed` (not its Certificate's status updates).
    wait_for_settled(&certs, "routed-tls").await;

    // A route moved to another Gateway: that one gains the names, this one loses them
    // (with no route left its listener is skipped and its Certificate deleted).
    apply(
        &env,
        gateway(
            "other",
            json!([{"name": "https", "protocol": "HTTPS", "port": 443,
                    "tls": {"certificateRefs": [{"name": "other-tls"}]}}]),
        ),
    )
    .await;
    wait_for_event(
        &env,
        "other",
        "SkippedListener",
        "no attached route names one",
    )
    .await;
    assert!(certs.get_opt("other-tls").await.unwrap().is_none());
    apply(
        &env,
        http_route(
            "extra",
            &ns,
            to("other"),
            &["c.example.com", "a.example.com"],
        ),
    )
    .await;
    wait_for_names(&certs, "other-tls", &["a.example.com", "c.example.com"]).await;
    common::wait_gone("routed-tls deleted", &certs, "routed-tls").await;
    wait_for_event(
        &env,
        "routed",
        "SkippedListener",
        "no attached route names one",
    )
    .await;

    // More than 100 names: split over the listed certificateRefs, then over Secrets
    // the listener must list (a Warning says so). 7 routes of 16 names: 112.
    apply(
        &env,
        gateway(
            "big",
            json!([{"name": "https", "protocol": "HTTPS", "port": 443,
                    "tls": {"certificateRefs": [{"name": "big-tls"}]}}]),
        ),
    )
    .await;
    let mut all: Vec<String> = Vec::new();
    for r in 0..7 {
        let hosts: Vec<String> = (0..16)
            .map(|h| format!("h{:03}.example.com", r * 16 + h))
            .collect();
        let refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
        apply(&env, http_route(&format!("big-{r}"), &ns, to("big"), &refs)).await;
        all.extend(hosts);
    }
    all.sort();
    let first: Vec<&str> = all[..100].iter().map(String::as_str).collect();
    let rest: Vec<&str> = all[100..].iter().map(String::as_str).collect();
    wait_for_names(&certs, "big-tls", &first).await;
    wait_for_names(&certs, "big-tls-2", &rest).await;
    wait_for_event(&env, "big", "UnlistedCertificateRef", "{name: big-tls-2}").await;

    controllers.stop().await;
    let _ = Api::<Namespace>::all(env.client.clone())
        .delete(&elsewhere, &DeleteParams::default())
        .await;
    env.cleanup().await;
}
