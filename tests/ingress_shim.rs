//! The Ingress shim end to end through the sandbox: the seed's Ingress, as written,
//! ends with a Ready Secret; hosts added and removed; hand edits reverted; a second
//! Ingress claiming the same Secret is refused; removing a TLS entry removes its
//! Certificate and keeps the Secret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::Certificate;
use certgate::controller::RunningControllers;
use certgate_sandbox::TestEnv;
use k8s_openapi::api::core::v1::{Event, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

/// The seed's Ingress (000), exactly as written there.
const SEED_INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-aws-ingress
  annotations:
    external-dns.alpha.kubernetes.io/hostname: k8s-tutorial.mamezou-tech.com
    # 自己署名の証明書Issuerを指定
    cert-manager.io/issuer: "selfsigning-issuer"
spec:
  ingressClassName: nginx
  # IngressのTLS設定
  tls:
    - hosts:
        - k8s-tutorial.mamezou-tech.com
      secretName: selfsigning-cert
  rules:
    - host: k8s-tutorial.mamezou-tech.com
      http:
        paths:
          # app1へのルーティングルール
          - backend:
              service:
                name: app1
                port:
                  number: 80
            path: /app1
            pathType: Prefix
"#;

async fn apply(env: &TestEnv, mut doc: Value) {
    doc["metadata"]["namespace"] = json!(env.namespace);
    certgate::manifests::apply(&env.client, "test", &[doc], "test")
        .await
        .unwrap();
}

fn dns_names(c: &Certificate) -> Vec<String> {
    c.spec.dns_names.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_ingress_gets_a_ready_secret_and_follows_its_tls_entries() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let config = common::scoped_config(&env);
    let controllers = RunningControllers::start(env.client.clone(), config);
    let issuer = std::fs::read_to_string(
        common::root().join("tests/fixtures/valid/seed-000-selfsigning-issuer.yaml"),
    )
    .unwrap();
    apply(&env, common::yaml_to_json(&issuer).unwrap()).await;
    apply(&env, common::yaml_to_json(SEED_INGRESS).unwrap()).await;

    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &env.namespace);
    let cert = common::wait_for("a Ready Certificate for the Ingress", async || {
        certs
            .get_opt("selfsigning-cert")
            .await
            .unwrap()
            .filter(common::is_ready)
    })
    .await;
    assert_eq!(dns_names(&cert), ["k8s-tutorial.mamezou-tech.com"]);
    assert_eq!(cert.spec.issuer_ref.name, "selfsigning-issuer");
    let owner = &cert.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Ingress", "app-aws-ingress", Some(true))
    );
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);
    let secret = secrets.get("selfsigning-cert").await.unwrap();
    assert!(secret.data.unwrap().contains_key("tls.crt"));
    let events: Api<Event> = Api::namespaced(env.client.clone(), &env.namespace);
    let created = events
        .list(&ListParams::default().fields("involvedObject.kind=Ingress"))
        .await
        .unwrap();
    assert!(
        created
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("CreateCertificate")
                && e.message.as_deref()
                    == Some("Successfully created Certificate \"selfsigning-cert\""))
    );

    // A host added to the TLS entry is added to the Certificate.
    let ingresses: Api<Ingress> = Api::namespaced(env.client.clone(), &env.namespace);
    let patch = json!({"spec": {"tls": [{"hosts": ["k8s-tutorial.mamezou-tech.com", "www.mamezou-tech.com"], "secretName": "selfsigning-cert"}]}});
    ingresses
        .patch(
            "app-aws-ingress",
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
        .unwrap();
    common::wait_for("the new host on the Certificate", async || {
        certs
            .get_opt("selfsigning-cert")
            .await
            .unwrap()
            .filter(|c| dns_names(c).len() == 2)
    })
    .await;

    // A hand edit of the generated Certificate is reverted.
    certs
        .patch(
            "selfsigning-cert",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"dnsNames": ["hand.edited.example"]}})),
        )
        .await
        .unwrap();
    common::wait_for("the hand edit reverted", async || {
        certs
            .get_opt("selfsigning-cert")
            .await
            .unwrap()
            .filter(|c| dns_names(c) == ["k8s-tutorial.mamezou-tech.com", "www.mamezou-tech.com"])
    })
    .await;

    // A second Ingress claiming the same Secret: BadConfig on it, the first unaffected.
    let mut second = common::yaml_to_json(SEED_INGRESS).unwrap();
    second["metadata"]["name"] = json!("intruder");
    apply(&env, second).await;
    common::wait_for("BadConfig on the second Ingress", async || {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=intruder"))
            .await
            .unwrap();
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("BadConfig"))
    })
    .await;
    let still = certs.get("selfsigning-cert").await.unwrap();
    assert_eq!(
        still.metadata.owner_references.unwrap()[0].name,
        "app-aws-ingress"
    );

    // The TLS entry removed: the Certificate goes, the Secret stays.
    let patch = json!({"spec": {"tls": null}});
    ingresses
        .patch(
            "app-aws-ingress",
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
        .unwrap();
    common::wait_gone("the Certificate removed", &certs, "selfsigning-cert").await;
    assert!(
        secrets.get_opt("selfsigning-cert").await.unwrap().is_some(),
        "the Secret is kept"
    );
    controllers.stop().await;
    env.cleanup().await;
}
