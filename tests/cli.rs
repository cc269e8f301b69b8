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

/// `check api` names the CRDs that are not served, then passes once they are.
#[tokio::test(flavor = "multi_thread")]
async fn check_api_names_missing_crds_then_passes() {
    use certgate::cli::check;
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace.clone();
    // A real cluster (CERTGATE_TEST_KUBECONFIG) may have the CRDs already.
    if env.sandbox.is_some() {
        let before = check::api_once(&env.client, &ns).await;
        assert!(!before.ready, "{before:?}");
        assert_eq!(
            before.missing,
            [
                "certificates.cert-manager.io/v1",
                "certificaterequests.cert-manager.io/v1",
                "issuers.cert-manager.io/v1",
                "clusterissuers.cert-manager.io/v1",
                "orders.acme.cert-manager.io/v1",
                "challenges.acme.cert-manager.io/v1",
            ]
        );
        assert!(
            before
                .message
                .contains("the cert-manager CRDs are not yet installed")
                && before.message.contains("certificates.cert-manager.io/v1"),
            "{}",
            before.message
        );
        // Only the ACME CRDs missing: only they are named.
        let crds: Vec<_> = common::checked_in_crds()
            .into_iter()
            .filter(|c| c["spec"]["group"] == "cert-manager.io")
            .collect();
        env.apply_crds(&crds).await.unwrap();
        let partial = check::api_once(&env.client, &ns).await;
        assert_eq!(
            partial.missing,
            [
                "orders.acme.cert-manager.io/v1",
                "challenges.acme.cert-manager.io/v1"
            ],
            "{partial:?}"
        );
        // Without --wait a single failed check returns at once.
        let started = std::time::Instant::now();
        let no_wait = check::api(&env.client, &ns, None).await;
        assert!(!no_wait.ready);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let after = check::api_once(&env.client, &ns).await;
    assert_eq!(
        after,
        check::ApiCheck {
            ready: true,
            missing: vec![],
            dry_run_error: None,
            discovery_error: None,
            message: "The cert-manager API is ready".into(),
        }
    );
    // The dry run stored nothing.
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    assert!(
        certs
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // A namespace that does not exist: the dry run is refused, and the reason shown.
    let refused = check::api_once(&env.client, "no-such-namespace-x").await;
    assert!(!refused.ready);
    let reason = refused.dry_run_error.clone().unwrap();
    assert!(reason.contains("no-such-namespace-x"), "{refused:?}");
    assert!(
        refused.message.contains("dry-run create of a Certificate"),
        "{}",
        refused.message
    );
    env.cleanup().await;
}

/// `check api --wait` keeps trying until the CRDs appear; without them it gives up at the deadline.
#[tokio::test(flavor = "multi_thread")]
async fn check_api_wait_succeeds_when_crds_arrive() {
    use certgate::cli::check;
    let env = TestEnv::start().await.unwrap();
    if env.sandbox.is_none() {
        env.cleanup().await;
        return; // needs a cluster without the CRDs
    }
    let ns = env.namespace.clone();
    let started = std::time::Instant::now();
    let gave_up = check::api(&env.client, &ns, Some(Duration::from_secs(3))).await;
    assert!(!gave_up.ready);
    assert!(!gave_up.missing.is_empty());
    assert!(started.elapsed() < Duration::from_secs(6));

    let env = std::sync::Arc::new(env);
    let installer = {
        let env = env.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            env.apply_crds(&common::checked_in_crds()).await.unwrap();
        })
    };
    let started = std::time::Instant::now();
    let waited = check::api(&env.client, &ns, Some(Duration::from_secs(60))).await;
    assert!(waited.ready, "{waited:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    installer.await.unwrap();
    if let Ok(env) = std::sync::Arc::try_unwrap(env) {
        env.cleanup().await;
    }
}

/// The `certgate check api` command: exit status 1 and the missing CRD, then 0 and
/// cmctl's sentence; `-o json` for scripts.
#[tokio::test(flavor = "multi_thread")]
async fn check_api_command_exit_status_and_output() {
    let env = TestEnv::start().await.unwrap();
    let Some(sandbox) = env.sandbox.as_ref() else {
        env.cleanup().await;
        return;
    };
    let dir = std::env::temp_dir().join(format!("certgate-check-{}", env.namespace));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    sandbox.write_kubeconfig(&kubeconfig).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_certgate"));
        cmd.args(["check", "api", "-n", env.namespace.as_str()])
            .args(args)
            .env("KUBECONFIG", &kubeconfig);
        async move { cmd.output().await.unwrap() }
    };
    let failed = run(&[]).await;
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("Not ready") && stderr.contains("certificates.cert-manager.io/v1"),
        "{stderr}"
    );
    let as_json = run(&["-o", "json"]).await;
    assert_eq!(as_json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&as_json.stdout).unwrap();
    assert_eq!(v["ready"], json!(false));
    assert!(
        v["missing"]
            .as_array()
            .unwrap()
            .contains(&json!("challenges.acme.cert-manager.io/v1")),
        "{v}"
    );

    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ok = run(&["--wait", "30s"]).await;
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "The cert-manager API is ready\n"
    );
    let as_yaml = run(&["-o", "yaml"]).await;
    assert_eq!(as_yaml.status.code(), Some(0));
    let y = common::yaml_to_json(&String::from_utf8_lossy(&as_yaml.stdout)).unwrap();
    assert_eq!(y["ready"], json!(true));
    let bad_wait = run(&["--wait", "soon"]).await;
    assert_eq!(bad_wait.status.code(), Some(2), "clap rejects the duration");
    let _ = std::fs::remove_dir_all(&dir);
    env.cleanup().await;
}
