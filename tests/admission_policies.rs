//! The admission policies (`certgate admission-policies`) on a real API server: the
//! requester's identity is written on a new CertificateRequest and a forged one is
//! refused; only a user allowed `approve` on the issuer's signer may approve, and an
//! approval, once set, stays. The sandbox does not run admission policies: on the
//! sandbox leg this test says it is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::CertificateRequest;
use certgate_sandbox::TestEnv;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// A client for `sa` in `ns`, authenticated by its token (so RBAC and admission see
/// that ServiceAccount).
async fn client_as(env: &TestEnv, ns: &str, sa: &str) -> kube::Client {
    let dir = std::env::temp_dir().join(format!("certgate-admission-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let admin = dir.join("admin.kubeconfig");
    env.write_kubeconfig(&admin).unwrap();
    let token = std::process::Command::new("kubectl")
        .args(["create", "token", sa, "-n", ns, "--duration", "1h"])
        .env("KUBECONFIG", &admin)
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let mut kc = common::yaml_to_json(&std::fs::read_to_string(&admin).unwrap()).unwrap();
    kc["users"] =
        json!([{"name": sa, "user": {"token": String::from_utf8_lossy(&token.stdout).trim()}}]);
    kc["contexts"][0]["context"]["user"] = json!(sa);
    let _ = std::fs::remove_dir_all(&dir);
    certgate_sandbox::client_from_kubeconfig(&serde_json::to_string(&kc).unwrap())
        .await
        .unwrap()
}

fn request(name: &str, spec_extra: Value) -> CertificateRequest {
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(vec!["web.example.com".to_string()])
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    use base64::Engine;
    let mut spec = json!({"request": base64::engine::general_purpose::STANDARD.encode(csr),
        "issuerRef": {"name": "ca", "kind": "Issuer", "group": "cert-manager.io"}});
    for (k, v) in spec_extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(
        json!({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
        "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

fn refusal(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_and_approval_are_enforced_by_the_api_server() {
    let env = TestEnv::start().await.unwrap();
    if !env.is_real_cluster() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: admission policies run in a real API server (CERTGATE_TEST_KUBECONFIG); the sandbox has none"
        );
        env.cleanup().await;
        return;
    }
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    // The policies, bound to this test's namespace only.
    let scope = certgate::admission::Scope {
        namespace: Some(ns.clone()),
        suffix: format!("-{ns}"),
    };
    let policies = certgate::admission::policies(&scope);
    certgate::manifests::apply(&env.client, "admission", &policies, "test")
        .await
        .unwrap();
    // A requester that may create requests and write their status, nothing more.
    let rbac = vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "requester", "namespace": ns}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "requester", "namespace": ns},
            "rules": [{"apiGroups": ["cert-manager.io"], "resources": ["certificaterequests", "certificaterequests/status"],
                "verbs": ["create", "get", "patch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "requester", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "requester"},
            "subjects": [{"kind": "ServiceAccount", "name": "requester", "namespace": ns}]}),
    ];
    certgate::manifests::apply(&env.client, "rbac", &rbac, "test")
        .await
        .unwrap();
    let user = format!("system:serviceaccount:{ns}:requester");
    let as_requester = client_as(&env, &ns, "requester").await;
    let requests: Api<CertificateRequest> = Api::namespaced(as_requester.clone(), &ns);

    // Policies take a moment to be loaded: retry the first create until it is mutated.
    let mut created = None;
    for i in 0..100 {
        let name = format!("mine-{i}");
        let cr = requests
            .create(&PostParams::default(), &request(&name, json!({})))
            .await
            .unwrap();
        if cr.spec.username.is_some() {
            created = Some(cr);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mine = created.expect("the identity policy never wrote the requester's identity");
    assert_eq!(mine.spec.username.as_deref(), Some(user.as_str()));
    assert!(mine.spec.uid.as_deref().is_some_and(|u| !u.is_empty()));
    assert!(
        mine.spec
            .groups
            .as_ref()
            .is_some_and(|g| g.iter().any(|g| g == "system:serviceaccounts")),
        "{:?}",
        mine.spec.groups
    );

    // A forged identity is refused.
    let forged = requests
        .create(
            &PostParams::default(),
            &request("forged", json!({"username": "kubernetes-admin"})),
        )
        .await
        .unwrap_err();
    let message = refusal(forged);
    assert!(
        message.contains("username identity must be that of the requester"),
        "{message}"
    );

    // Approving without `approve` on the signer is refused, with cert-manager's words.
    let name = mine.metadata.name.clone().unwrap();
    let approve = json!({"status": {"conditions": [{"type": "Approved", "status": "True",
        "reason": "ByTest", "message": "approved by the test", "lastTransitionTime": "2026-12-04T00:00:00Z"}]}});
    let refused = requests
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&approve))
        .await
        .unwrap_err();
    let message = refusal(refused);
    assert!(
        message.contains(&format!(
            "user \"{user}\" does not have permissions to set approved/denied conditions for issuer {{ca Issuer cert-manager.io}}"
        )),
        "{message}"
    );

    // With `approve` on issuers.cert-manager.io/<ns>.ca it passes.
    let signer = format!("issuers.cert-manager.io/{ns}.ca");
    let grant = vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": format!("approver-{ns}")},
            "rules": [{"apiGroups": ["cert-manager.io"], "resources": ["signers"], "resourceNames": [signer], "verbs": ["approve"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": format!("approver-{ns}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("approver-{ns}")},
            "subjects": [{"kind": "ServiceAccount", "name": "requester", "namespace": ns}]}),
    ];
    certgate::manifests::apply(&env.client, "grant", &grant, "test")
        .await
        .unwrap();
    let mut approved = None;
    for _ in 0..50 {
        match requests
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&approve))
            .await
        {
            Ok(cr) => {
                approved = Some(cr);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    assert!(approved.is_some(), "the authorised approval was refused");

    // Once set, the approval cannot turn into a denial.
    let deny = json!({"status": {"conditions": [{"type": "Denied", "status": "True",
        "reason": "ByTest", "message": "changed my mind", "lastTransitionTime": "2026-12-04T00:00:01Z"}]}});
    let flipped = requests
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&deny))
        .await
        .unwrap_err();
    let message = refusal(flipped);
    assert!(
        message.contains("'Approved' condition may not be modified once set"),
        "{message}"
    );

    // Clean up the cluster-scoped objects.
    for doc in policies.iter().chain(grant.iter()) {
        let gvk = kube::core::GroupVersionKind::try_from(&kube::core::TypeMeta {
            api_version: doc["apiVersion"].as_str().unwrap().into(),
            kind: doc["kind"].as_str().unwrap().into(),
        })
        .unwrap();
        let plural = format!("{}s", doc["kind"].as_str().unwrap().to_lowercase());
        let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, &plural);
        let api: Api<kube::core::DynamicObject> = Api::all_with(env.client.clone(), &ar);
        let _ = api
            .delete(
                doc["metadata"]["name"].as_str().unwrap(),
                &Default::default(),
            )
            .await;
    }
    env.cleanup().await;
}
