//! RBAC in the sandbox: a ServiceAccount's requests are authorized against Roles,
//! ClusterRoles and their bindings, and refused with kube-apiserver's 403 otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use certgate_sandbox::{Sandbox, SandboxOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn service_accounts_get_what_their_roles_grant_and_nothing_else() {
    let sandbox = Sandbox::start(SandboxOptions {
        rbac: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let admin = sandbox.client().await.unwrap();
    let ns = "rbac-test";
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "cm-reader", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
                  {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["allowed"], "verbs": ["get"]}]
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "cm-reader", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": ns}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let cluster_role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": "ns-lister"},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]
    }))
    .unwrap();
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &cluster_role)
        .await
        .unwrap();
    let crb: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "ns-lister"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ns-lister"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": ns}]
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &crb)
        .await
        .unwrap();
    for name in ["allowed", "other"] {
        let s: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {"k": "v"}}))
                .unwrap();
        Api::<Secret>::namespaced(admin.clone(), ns)
            .create(&PostParams::default(), &s)
            .await
            .unwrap();
    }

    let token = sandbox.service_account_token(ns, "app");
    let app = sandbox.client_with_token(&token).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(app.clone(), ns);
    cms.list(&ListParams::default())
        .await
        .expect("list is granted");
    Api::<Namespace>::all(app.clone())
        .list(&ListParams::default())
        .await
        .expect("cluster-wide list is granted");

    let refused = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = refused else {
        panic!("expected a 403")
    };
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        format!(
            "configmaps is forbidden: User \"system:serviceaccount:{ns}:app\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        )
    );
    let secrets: Api<Secret> = Api::namespaced(app.clone(), ns);
    secrets
        .get("allowed")
        .await
        .expect("resourceNames grants this one");
    let other = secrets.get("other").await.unwrap_err();
    assert!(matches!(other, kube::Error::Api(s) if s.code == 403));
    let elsewhere: Api<ConfigMap> = Api::namespaced(app.clone(), "default");
    assert!(
        matches!(elsewhere.list(&ListParams::default()).await.unwrap_err(), kube::Error::Api(s) if s.code == 403)
    );

    // An unknown token is not anyone.
    let stranger = sandbox.client_with_token("not-a-token").await.unwrap();
    let unauth = Api::<ConfigMap>::namespaced(stranger, ns)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(unauth, kube::Error::Api(s) if s.code == 401));

    // The log says which rules allowed the ServiceAccount's requests.
    let used: Vec<String> = sandbox
        .rbac_log()
        .into_iter()
        .filter(|(u, _)| u.ends_with(":app"))
        .map(|(_, r)| r)
        .collect();
    assert!(
        used.iter()
            .any(|r| r.contains("cm-reader") && r.contains("rule_index: 0")),
        "{used:?}"
    );
    assert!(
        used.iter()
            .any(|r| r.contains("cm-reader") && r.contains("rule_index: 1")),
        "{used:?}"
    );
    assert!(used.iter().any(|r| r.contains("ns-lister")), "{used:?}");
}

/// RBAC objects take path segment names (kube's `ValidateRBACName`), colons included.
#[tokio::test]
async fn rbac_names_are_path_segments() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let admin = sandbox.client().await.unwrap();
    let roles: Api<ClusterRole> = Api::all(admin);
    let named = |name: &str| -> ClusterRole {
        serde_json::from_value(json!({"metadata": {"name": name}, "rules": []})).unwrap()
    };
    for ok in [
        "system:discovery",
        "cert-manager:leaderelection",
        "Upper_Case",
    ] {
        roles
            .create(&PostParams::default(), &named(ok))
            .await
            .unwrap();
    }
    let err = roles
        .create(&PostParams::default(), &named("a%b"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("may not contain '%'")),
        "{err}"
    );
}
