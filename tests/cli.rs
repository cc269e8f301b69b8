//! `certgate status`, `renew` and `inspect` against a sandbox with the controllers
//! running: what they show, and that renew re-issues.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::Certificate;
use certgate::controller::{ControllerConfig, RunningControllers};
use certgate_sandbox::TestEnv;
use kube::api::Api;
use serde_json::json;
use std::time::Duration;

async fn revision(certs: &Api<Certificate>, name: &str, want: i32) -> Certificate {
    for _ in 0..200 {
        let c = certs.get(name).await.unwrap();
        let ready = c
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "Ready" && serde_json::to_value(c.status).ok() == Some(json!("True"))
                })
            });
        if ready && c.status.as_ref().and_then(|s| s.revision) == Some(want) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached revision {want}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_renew_and_inspect() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let controllers = RunningControllers::start(
        env.client.clone(),
        ControllerConfig {
            cluster_resource_namespace: ns.clone(),
            ..Default::default()
        },
    );
    let docs = vec![
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ss", "namespace": ns}, "spec": {"selfSigned": {}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web", "namespace": ns},
               "spec": {"secretName": "web-tls", "commonName": "web.example", "dnsNames": ["web.example"],
                        "privateKey": {"algorithm": "ECDSA"}, "issuerRef": {"name": "ss"}}}),
    ];
    certgate::manifests::apply(&env.client, "test", &docs, "test")
        .await
        .unwrap();
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    revision(&certs, "web", 1).await;

    let screen = certgate::cli::status::certificate(&env.client, &ns, "web")
        .await
        .unwrap();
    for expected in [
        "Ready: True, Reason: Ready, Message: Certificate is up to date and has not expired",
        "DNS Names: web.example",
        "Revision: 1",
        "Issuer:\n  Name: ss\n  Kind: Issuer\n  Ready: True, Reason: IsReady",
        "Subject:    CN=web.example",
        "CertificateRequest:\n  Name: web-1",
        "Approved: True, Reason: cert-manager.io",
        "Issuing            The certificate has been successfully issued",
    ] {
        assert!(
            screen.contains(expected),
            "status lacks {expected:?}:\n{screen}"
        );
    }
    let missing = certgate::cli::status::certificate(&env.client, &ns, "nope")
        .await
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        format!("Certificate {ns}/nope not found")
    );

    let inspected = certgate::cli::inspect::secret(&env.client, &ns, "web-tls")
        .await
        .unwrap();
    assert!(
        inspected.contains("SANs:       DNS:web.example"),
        "{inspected}"
    );
    assert!(inspected.contains("Public key: ECDSA"), "{inspected}");
    assert!(
        inspected.contains("present, matches the certificate"),
        "{inspected}"
    );
    assert!(
        inspected.contains("Certificate \"web\": the DNS names match its spec"),
        "{inspected}"
    );
    assert!(
        !inspected.contains("PRIVATE KEY"),
        "no key material is printed"
    );

    let renewed = certgate::cli::renew::renew(&env.client, Some(&ns), &["web".to_string()], false)
        .await
        .unwrap();
    assert_eq!(renewed, [format!("{ns}/web")]);
    revision(&certs, "web", 2).await;
    let all = certgate::cli::renew::renew(&env.client, Some(&ns), &[], true)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    revision(&certs, "web", 3).await;
    controllers.stop().await;
    env.cleanup().await;
}
