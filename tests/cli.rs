//! `certgate status`, `renew` and `inspect` against a sandbox with the controllers
//! running: what they show, and that renew re-issues.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::Certificate;
use certgate::controller::RunningControllers;
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
    let controllers = RunningControllers::start(env.client.clone(), common::scoped_config(&env));
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
/// Sandbox only: it needs a cluster without the CRDs, which a shared real one is not.
#[tokio::test(flavor = "multi_thread")]
async fn check_api_wait_succeeds_when_crds_arrive_sandbox_only() {
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
    let dir = std::env::temp_dir().join(format!("certgate-check-{}", env.namespace));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    env.write_kubeconfig(&kubeconfig).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_certgate"));
        cmd.args(["check", "api", "-n", env.namespace.as_str()])
            .args(args)
            .env("KUBECONFIG", &kubeconfig);
        async move { cmd.output().await.unwrap() }
    };
    // Before the CRDs are installed (a shared real cluster has them already: there,
    // only the ready half below can be checked).
    if !env.is_real_cluster() {
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
    }

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

/// Creates `doc` and, when given, sets its status (through the status subresource).
async fn create<K>(api: &Api<K>, doc: serde_json::Value, status: Option<serde_json::Value>) -> K
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    use kube::api::{Patch, PatchParams, PostParams};
    let obj: K = serde_json::from_value(doc).unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    match status {
        None => created,
        Some(st) => api
            .patch_status(
                &kube::ResourceExt::name_any(&created),
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": st })),
            )
            .await
            .unwrap(),
    }
}

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> serde_json::Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message})
}

fn owner(kind: &str, api_version: &str, name: &str, uid: &str) -> serde_json::Value {
    json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true}])
}

/// One ACME issuance frozen in a state: Certificate → CertificateRequest → Order →
/// Challenges, each created with the status given (an Order and Challenges only
/// when their status is given).
struct Issuance<'a> {
    name: &'a str,
    issuer_ref: serde_json::Value,
    dns_names: &'a [&'a str],
    certificate: serde_json::Value,
    request: Option<serde_json::Value>,
    order: Option<serde_json::Value>,
    /// (type, dnsName, solver, status)
    challenges: Vec<(&'a str, &'a str, serde_json::Value, serde_json::Value)>,
}

async fn freeze(client: &kube::Client, ns: &str, i: Issuance<'_>) {
    use certgate::api::{CertificateRequest, Challenge, Order};
    let cert = create(
        &Api::<Certificate>::namespaced(client.clone(), ns),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": i.name, "namespace": ns},
            "spec": {"secretName": format!("{}-tls", i.name), "dnsNames": i.dns_names, "issuerRef": i.issuer_ref}}),
        Some(i.certificate),
    )
    .await;
    let Some(req_status) = i.request else { return };
    let cr_name = format!("{}-1", i.name);
    let cr = create(
        &Api::<CertificateRequest>::namespaced(client.clone(), ns),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
            "metadata": {"name": cr_name, "namespace": ns,
                "annotations": {"cert-manager.io/certificate-revision": "1"},
                "ownerReferences": owner("Certificate", "cert-manager.io/v1", i.name, &cert.metadata.uid.unwrap())},
            "spec": {"request": "dGVzdA==", "issuerRef": i.issuer_ref}}),
        Some(req_status),
    )
    .await;
    let Some(order_status) = i.order else { return };
    let order_name = format!("{cr_name}-42");
    let order = create(
        &Api::<Order>::namespaced(client.clone(), ns),
        json!({"apiVersion": "acme.cert-manager.io/v1", "kind": "Order",
            "metadata": {"name": order_name, "namespace": ns,
                "ownerReferences": owner("CertificateRequest", "cert-manager.io/v1", &cr_name, &cr.metadata.uid.unwrap())},
            "spec": {"request": "dGVzdA==", "issuerRef": i.issuer_ref, "dnsNames": i.dns_names}}),
        Some(order_status),
    )
    .await;
    let order_uid = order.metadata.uid.unwrap();
    for (n, (type_, domain, solver, status)) in i.challenges.into_iter().enumerate() {
        let key = if type_ == "DNS-01" {
            "txt-value"
        } else {
            "token-1.thumbprint"
        };
        create(
            &Api::<Challenge>::namespaced(client.clone(), ns),
            json!({"apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
                "metadata": {"name": format!("{order_name}-{n}"), "namespace": ns,
                    "ownerReferences": owner("Order", "acme.cert-manager.io/v1", &order_name, &order_uid)},
                "spec": {"url": "https://ca.test/chall/1", "authorizationURL": "https://ca.test/authz/1",
                    "dnsName": domain, "type": type_, "token": "token-1", "key": key,
                    "solver": solver, "issuerRef": i.issuer_ref}}),
            Some(status),
        )
        .await;
    }
}

/// `status certificate` shows the Order and Challenges, and `diagnose certificate`
/// gives each frozen state its verdict, fix and exit status — through the commands.
#[tokio::test(flavor = "multi_thread")]
async fn status_and_diagnose_recognise_acme_states() {
    use certgate::api::{ClusterIssuer, Issuer};
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let c = env.client.clone();
    let dir = std::env::temp_dir().join(format!("certgate-diagnose-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    env.write_kubeconfig(&kubeconfig).unwrap();
    // Nothing listens on this port: HTTP-01 probes cannot connect, DNS gets no answer.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };

    let tsig = json!({"tsigKeyName": "acme-key", "nameserver": "127.0.0.1:53",
        "tsigSecretSecretRef": {"name": "tsig", "key": "secret"}});
    let dns_solver = json!({"selector": {"dnsZones": ["example.com"]}, "dns01": {"rfc2136": tsig}});
    let http_solver = json!({"selector": {"dnsZones": ["example.com"]}, "http01": {"ingress": {}}});
    let registered = || json!({"conditions": [cond("Ready", "True", "ACMEAccountRegistered", "The ACME account was registered with the ACME server")]});
    let acme = |solvers: serde_json::Value| json!({"acme": {"server": "https://ca.test/dir", "privateKeySecretRef": {"name": "le-account"}, "solvers": solvers}});
    let clusterissuers = Api::<ClusterIssuer>::all(c.clone());
    let le = format!("letsencrypt-{ns}");
    create(
        &clusterissuers,
        env.scoped(json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": le},
            "spec": acme(json!([dns_solver, http_solver]))})),
        Some(registered()),
    )
    .await;
    let le_eab = format!("le-eab-{ns}");
    create(
        &clusterissuers,
        env.scoped(json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": le_eab},
            "spec": acme(json!([http_solver]))})),
        Some(json!({"conditions": [cond("Ready", "False", "ErrRegisterACMEAccount",
            "Failed to register ACME account: urn:ietf:params:acme:error:externalAccountRequired: External account binding required: this ACME server requires External Account Binding: set spec.acme.externalAccountBinding with the key ID and HMAC key your CA gave you")]})),
    )
    .await;
    create(
        &Api::<Issuer>::namespaced(c.clone(), &ns),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ca", "namespace": ns},
            "spec": {"ca": {"secretName": "ca-kp"}}}),
        Some(json!({"conditions": [cond("Ready", "False", "ErrGetKeyPair",
            "Error getting keypair for CA issuer: secret \"ca-kp\" not found")]})),
    )
    .await;

    let cluster = |name: &str| json!({"name": name, "kind": "ClusterIssuer"});
    let issuing = || {
        json!({"conditions": [
            cond("Ready", "False", "DoesNotExist", "Issuing certificate as Secret does not exist"),
            cond("Issuing", "True", "DoesNotExist", "Issuing certificate as Secret does not exist")]})
    };
    let approved = |ready: serde_json::Value| json!({"conditions": [cond("Approved", "True", "cert-manager.io", "Certificate request has been approved by cert-manager.io"), ready]});
    let pending_req = || {
        approved(cond(
            "Ready",
            "False",
            "Pending",
            "Waiting on certificate issuance from order",
        ))
    };
    let base = |name: &'static str, issuer_ref: serde_json::Value, dns: &'static [&'static str]| {
        Issuance {
            name,
            issuer_ref,
            dns_names: dns,
            certificate: issuing(),
            request: None,
            order: None,
            challenges: vec![],
        }
    };
    let typo = format!("letsencrpyt-{ns}");
    freeze(&c, &ns, base("typo", cluster(&typo), &["typo.example.com"])).await;
    freeze(
        &c,
        &ns,
        base("wrongkind", json!({"name": le}), &["wk.example.com"]),
    )
    .await;
    freeze(
        &c,
        &ns,
        base("notready", json!({"name": "ca"}), &["ca.example.com"]),
    )
    .await;
    freeze(
        &c,
        &ns,
        base("account", cluster(&le_eab), &["eab.example.com"]),
    )
    .await;
    freeze(&c, &ns, Issuance {
        request: Some(json!({"conditions": [
            cond("Denied", "True", "policy.cert-manager.io", "No policy approved this request"),
            cond("Ready", "False", "Denied", "The CertificateRequest was denied by an approval controller")]})),
        ..base("denied", cluster(&le), &["denied.example.com"])
    })
    .await;
    let rejected = "acme: authorization error for caerror.example.com: urn:ietf:params:acme:error:rejectedIdentifier: Cannot issue for \"caerror.example.com\": forbidden by policy";
    freeze(
        &c,
        &ns,
        Issuance {
            request: Some(approved(cond(
                "Ready",
                "False",
                "Failed",
                &format!(
                    "Failed to wait for order resource: order is in \"invalid\" state: {rejected}"
                ),
            ))),
            order: Some(json!({"state": "invalid", "reason": rejected})),
            ..base("caerror", cluster(&le), &["caerror.example.com"])
        },
    )
    .await;
    freeze(&c, &ns, Issuance {
        request: Some(pending_req()),
        order: Some(json!({"state": "pending", "reason": "Failed to determine a valid solver configuration for the set of domains on the Order: no configured challenge solvers can be used for this challenge: no solver matches \"app.example.org\""})),
        ..base("nosolver", cluster(&le), &["app.example.org"])
    })
    .await;
    freeze(&c, &ns, Issuance {
        request: Some(pending_req()),
        order: Some(json!({"state": "pending"})),
        challenges: vec![("HTTP-01", "127.0.0.1", json!({"http01": {"ingress": {}}}),
            json!({"state": "pending", "processing": true, "presented": true,
                "reason": format!("Waiting for HTTP-01 challenge propagation: failed to perform self check GET request 'http://127.0.0.1:{closed}/.well-known/acme-challenge/token-1': connection refused")}))],
        ..base("http", cluster(&le), &["127.0.0.1"])
    })
    .await;
    freeze(&c, &ns, Issuance {
        request: Some(pending_req()),
        order: Some(json!({"state": "pending"})),
        challenges: vec![("DNS-01", "tsig.example.com", dns_solver.clone(),
            json!({"state": "pending", "processing": true, "presented": false,
                "reason": format!("Error presenting challenge: the Secret {ns}/tsig named by rfc2136.tsigSecretSecretRef does not exist")}))],
        ..base("tsig", cluster(&le), &["tsig.example.com"])
    })
    .await;
    freeze(&c, &ns, Issuance {
        request: Some(pending_req()),
        order: Some(json!({"state": "errored", "reason": "Failed to create Order: urn:ietf:params:acme:error:rateLimited: too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2030-01-02 03:04:05 UTC: see https://letsencrypt.org/docs/rate-limits/"})),
        ..base("limited", cluster(&le), &["limited.example.com"])
    })
    .await;
    freeze(&c, &ns, Issuance {
        certificate: json!({"revision": 1, "conditions": [cond("Ready", "True", "Ready", "Certificate is up to date and has not expired")]}),
        request: Some(approved(cond("Ready", "True", "Issued", "Certificate fetched from issuer successfully"))),
        order: Some(json!({"state": "valid"})),
        ..base("healthy", cluster(&le), &["healthy.example.com"])
    })
    .await;

    let run = |args: Vec<String>| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_certgate"));
        cmd.args(&args).env("KUBECONFIG", &kubeconfig);
        async move {
            let out = cmd.output().await.unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let diagnose = |name: &str, extra: &[&str]| {
        let mut args: Vec<String> = [
            "diagnose",
            "certificate",
            name,
            "-n",
            &ns,
            "--cluster-resource-namespace",
            &ns,
            "--dns01-recursive-nameservers",
            &format!("127.0.0.1:{closed}"),
            "--http01-port",
            &closed.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        run(args)
    };

    // status: the Order and its Challenges, as text and as JSON.
    let (code, text, err) = run(["status", "certificate", "tsig", "-n", &ns]
        .map(String::from)
        .to_vec())
    .await;
    assert_eq!(code, Some(0), "{err}");
    // Without -n: the kubeconfig context's namespace, as kubectl and cmctl take it.
    {
        let text = std::fs::read_to_string(&kubeconfig).unwrap();
        let mut doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        for c in doc["contexts"].as_array_mut().unwrap() {
            c["context"]["namespace"] = serde_json::json!(ns);
        }
        let in_ns = dir.join("kubeconfig-in-namespace");
        std::fs::write(&in_ns, serde_json::to_string(&doc).unwrap()).unwrap();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
            .args(["status", "certificate", "tsig"])
            .env("KUBECONFIG", &in_ns)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("Name: tsig-1"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for expected in [
        "CertificateRequest:\n  Name: tsig-1\n",
        "Order:\n  Name: tsig-1-42\n  State: pending, Reason: \n",
        &format!(
            "Challenges:\n- Name: tsig-1-42-0, Type: DNS-01, Token: token-1, Key: txt-value, State: pending, Reason: Error presenting challenge: the Secret {ns}/tsig named by rfc2136.tsigSecretSecretRef does not exist, Processing: true, Presented: false\n"
        ),
    ] {
        assert!(
            text.contains(expected),
            "status lacks {expected:?}:\n{text}"
        );
    }
    let (code, as_json, err) = run(
        ["status", "certificate", "caerror", "-n", &ns, "-o", "json"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&as_json).unwrap();
    assert_eq!(v["order"]["name"], "caerror-1-42");
    assert_eq!(v["order"]["state"], "invalid");
    assert_eq!(v["order"]["reason"], rejected);
    assert_eq!(v["certificateRequest"]["name"], "caerror-1");
    let (code, as_yaml, _) = run(["status", "certificate", "http", "-n", &ns, "-o", "yaml"]
        .map(String::from)
        .to_vec())
    .await;
    assert_eq!(code, Some(0));
    let y = common::yaml_to_json(&as_yaml).unwrap();
    assert_eq!(y["challenges"][0]["type"], "HTTP-01");
    assert_eq!(y["challenges"][0]["processing"], true);

    // diagnose: (certificate, exit status, lines the table must hold).
    let cases: Vec<(&str, i32, Vec<String>)> = vec![
        ("typo", 1, vec![
            format!("[FAIL] issuerRef — ClusterIssuer \"{typo}\" does not exist"),
            format!("       fix: did you mean ClusterIssuer \"{le}\"? set issuerRef.name: {le}"),
        ]),
        ("wrongkind", 1, vec![
            format!("[FAIL] issuerRef — Issuer \"{le}\" does not exist in namespace \"{ns}\", but a ClusterIssuer \"{le}\" exists"),
            "       fix: set issuerRef.kind: ClusterIssuer".into(),
        ]),
        ("notready", 1, vec![
            "[FAIL] Issuer Ready — ErrGetKeyPair: Error getting keypair for CA issuer".into(),
            format!("       fix: create the CA key pair Secret {ns}/ca-kp with tls.crt and tls.key"),
            format!("[FAIL] Issuer Secret spec.ca.secretName — Secret {ns}/ca-kp does not exist"),
        ]),
        ("account", 1, vec![
            "[FAIL] ClusterIssuer Ready — ErrRegisterACMEAccount: Failed to register ACME account".into(),
            "       fix: set spec.acme.externalAccountBinding".into(),
        ]),
        ("denied", 1, vec![
            "[FAIL] CertificateRequest — denied-1 was denied (policy.cert-manager.io: No policy approved this request)".into(),
        ]),
        ("caerror", 2, vec![
            format!("[FAIL] Order — caerror-1-42 is invalid: {rejected}"),
            "Result: failing".into(),
        ]),
        ("nosolver", 1, vec![
            "[FAIL] solver for app.example.org — no configured challenge solvers can be used for this challenge: no solver matches \"app.example.org\"".into(),
            "fix: add a solver whose selector matches \"app.example.org\" — dnsZones: [example.org] or dnsNames: [app.example.org]".into(),
        ]),
        ("http", 1, vec![
            "[WARN] Challenge 127.0.0.1 (HTTP-01) — http-1-42-0 is pending (processing: true, presented: true): Waiting for HTTP-01 challenge propagation".into(),
            "[PASS] HTTP-01 127.0.0.1: name resolves — 127.0.0.1 resolves to 127.0.0.1".into(),
            format!("[FAIL] HTTP-01 127.0.0.1: port reachable — no connection to 127.0.0.1:{closed}"),
            format!("       fix: open port {closed} on 127.0.0.1 to the internet"),
            "[SKIP] HTTP-01 127.0.0.1: challenge path — the port is not reachable".into(),
        ]),
        ("tsig", 1, vec![
            format!("[FAIL] Challenge tsig.example.com (DNS-01) — tsig-1-42-0 could not be presented: the Secret {ns}/tsig named by rfc2136.tsigSecretSecretRef does not exist"),
            format!("[FAIL] DNS-01 tsig.example.com: rfc2136 credentials — dns01.rfc2136.tsigSecretSecretRef: Secret {ns}/tsig does not exist"),
            format!("       fix: create Secret tsig in namespace {ns} with key \"secret\""),
            "[PASS] DNS-01 tsig.example.com: solver selector — solver #1 dns01 dnsZones [example.com] matches \"tsig.example.com\"".into(),
        ]),
        ("limited", 1, vec![
            "[FAIL] CA rate limits — the CA refuses for now: Failed to create Order: urn:ietf:params:acme:error:rateLimited".into(),
            "       fix: wait until 2030-01-02 03:04:05 UTC; certgate retries by itself".into(),
        ]),
        ("healthy", 0, vec![
            "[PASS] Certificate Ready — Ready: Certificate is up to date and has not expired".into(),
            format!("[PASS] issuerRef — ClusterIssuer \"{le}\" exists"),
            "[PASS] Order — healthy-1-42 is valid".into(),
            "[PASS] CA rate limits — no rate limit reported by the CA".into(),
            "Result: healthy".into(),
        ]),
        ("nope", 1, vec![format!("[FAIL] Certificate exists — Certificate {ns}/nope not found")]),
    ];
    for (name, want, lines) in cases {
        let (code, out, err) = diagnose(name, &["--probe-timeout", "300ms"]).await;
        assert_eq!(code, Some(want), "{name}: exit status\n{out}{err}");
        for l in &lines {
            assert!(
                out.contains(l.as_str()),
                "{name}: the table lacks {l:?}:\n{out}"
            );
        }
    }
    // -o json for scripts: the same steps and the outcome.
    let (code, out, _) = diagnose("tsig", &["-o", "json", "--probe-timeout", "300ms"]).await;
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["outcome"], "fixable");
    assert_eq!(v["exitCode"], 1);
    assert!(
        v["steps"].as_array().unwrap().iter().any(|s| s["check"]
            == "DNS-01 tsig.example.com: rfc2136 credentials"
            && s["verdict"] == "fail"
            && s["fix"]
                .as_str()
                .is_some_and(|f| f.contains("create Secret tsig"))),
        "{v}"
    );
    let (code, out, _) = diagnose("healthy", &["-o", "yaml", "--probe-timeout", "300ms"]).await;
    assert_eq!(code, Some(0));
    assert_eq!(common::yaml_to_json(&out).unwrap()["outcome"], "healthy");
    // Once the Secret exists, the credentials pass.
    create(
        &Api::<k8s_openapi::api::core::v1::Secret>::namespaced(c.clone(), &ns),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tsig", "namespace": ns},
            "stringData": {"secret": "c2VjcmV0"}}),
        None,
    )
    .await;
    let (_, out, _) = diagnose("tsig", &["--probe-timeout", "300ms"]).await;
    assert!(
        out.contains(&format!("[PASS] DNS-01 tsig.example.com: rfc2136 credentials — dns01.rfc2136.tsigSecretSecretRef: Secret {ns}/tsig has key \"secret\"")),
        "{out}"
    );
    assert!(!out.contains("c2VjcmV0"), "no Secret content in the output");
    let _ = clusterissuers.delete(&le, &Default::default()).await;
    let _ = clusterissuers.delete(&le_eab, &Default::default()).await;
    let _ = std::fs::remove_dir_all(&dir);
    env.cleanup().await;
}
