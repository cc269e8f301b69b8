//! Approval as cert-manager does it: the built-in approver approves the requests of
//! every issuer group — external issuers' too, which their own controllers then sign
//! — unless it is turned off (`--controllers=*,-certificaterequests-approver`, the
//! chart's `disableAutoApproval`), when another approver (approver-policy, a person)
//! decides and certgate signs what they approved.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use certgate::api::{Certificate, CertificateRequest};
use certgate::controller::{ControllerConfig, RunningControllers};
use certgate_sandbox::TestEnv;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

async fn apply(env: &TestEnv, doc: Value) {
    let doc = common::place(env, doc);
    certgate::manifests::apply(&env.client, "test", &[doc], "test")
        .await
        .unwrap();
}

fn condition(r: &CertificateRequest, type_: &str) -> Option<(String, String)> {
    r.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| {
            (
                format!("{:?}", c.status),
                c.reason.clone().unwrap_or_default(),
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_external_issuers_request_is_approved_and_left_to_its_signer() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let _controllers = RunningControllers::start(env.client.clone(), common::scoped_config(&env));
    // Any CSR will do: nobody signs it here.
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(vec!["pca.example.com".to_string()])
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    use base64::Engine;
    apply(
        &env,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
            "metadata": {"name": "pca"},
            "spec": {"request": base64::engine::general_purpose::STANDARD.encode(csr),
                "issuerRef": {"group": "awspca.cert-manager.io", "kind": "AWSPCAClusterIssuer",
                    "name": "pca"}}}),
    )
    .await;
    let requests = Api::<CertificateRequest>::namespaced(env.client.clone(), &env.namespace);
    let approved = common::wait_for("the request approved", async || {
        condition(&requests.get("pca").await.ok()?, "Approved")
    })
    .await;
    assert_eq!(
        approved,
        ("True".to_string(), "cert-manager.io".to_string())
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        condition(&requests.get("pca").await.unwrap(), "Ready"),
        None,
        "the external issuer's controller signs, not certgate"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_approver_off_another_approver_decides() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let config = ControllerConfig {
        approve_requests: false,
        ..common::scoped_config(&env)
    };
    let _controllers = RunningControllers::start(env.client.clone(), config);
    apply(
        &env,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
            "metadata": {"name": "self"}, "spec": {"selfSigned": {}}}),
    )
    .await;
    apply(
        &env,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "gated"},
            "spec": {"secretName": "gated-tls", "dnsNames": ["gated.example.com"],
                "issuerRef": {"name": "self", "kind": "Issuer"}}}),
    )
    .await;
    let requests = Api::<CertificateRequest>::namespaced(env.client.clone(), &env.namespace);
    let name = common::wait_for("the request", async || {
        let list = requests.list(&ListParams::default()).await.ok()?;
        list.items.first().and_then(|r| r.metadata.name.clone())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = requests.get(&name).await.unwrap();
    assert_eq!(condition(&r, "Approved"), None, "certgate did not approve");
    assert_eq!(condition(&r, "Ready"), None, "nor sign");
    // Another approver approves: certgate signs.
    let mut conditions = r
        .status
        .and_then(|s| s.conditions)
        .map(|c| serde_json::to_value(c).unwrap())
        .unwrap_or(json!([]));
    conditions.as_array_mut().unwrap().push(json!({
        "type": "Approved", "status": "True", "reason": "policy.cert-manager.io",
        "message": "Approved by CertificateRequestPolicy: \"example\"",
        "lastTransitionTime": "2026-01-01T00:00:00Z"}));
    requests
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": conditions}})),
        )
        .await
        .unwrap();
    let certs = Api::<Certificate>::namespaced(env.client.clone(), &env.namespace);
    common::wait_for("the Certificate Ready", async || {
        certs
            .get("gated")
            .await
            .ok()
            .filter(common::is_ready)
            .map(|_| ())
    })
    .await;
    env.cleanup().await;
}
