//! The Vault issuer end to end: the in-repo Vault emulator (`certgate_testca::vault`,
//! Vault's HTTP API over TLS, signing with a real root + intermediate) behind
//! Issuers written as for cert-manager, the controllers on the sandbox or the real
//! API server. Every auth method logs in for real: tokens, AppRole, Kubernetes
//! (ServiceAccount tokens from the API server's TokenRequest, checked by the
//! emulator with the API server's TokenReview), TLS certificates, and AWS IAM
//! (IRSA through moto's STS, which the emulator asks who signed the request).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use certgate::api::{Certificate, CertificateRequest, Issuer};
use certgate::controller::{ControllerConfig, RunningControllers};
use certgate_sandbox::TestEnv;
use certgate_testca::vault::{KubernetesRole, ReviewedServiceAccount, RoleConfig, VaultEmulator};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

struct Stack {
    env: TestEnv,
    vault: VaultEmulator,
    _controllers: RunningControllers,
}

impl Stack {
    async fn start(sts_endpoint: Option<String>) -> Stack {
        let vault = VaultEmulator::start();
        vault.add_pki_mount(None, "pki_int").unwrap();
        vault
            .add_role(
                None,
                "pki_int",
                "web",
                RoleConfig {
                    allowed_domains: vec!["example.com".into()],
                    allow_subdomains: true,
                    // cert-manager's CSRs for dnsNames-only Certificates carry no CN;
                    // Vault refuses them unless the role says so (a real-world setting).
                    require_cn: false,
                    max_ttl: Duration::from_secs(30 * 24 * 3600),
                    ..RoleConfig::default()
                },
            )
            .unwrap();
        let env = TestEnv::start().await.unwrap();
        env.apply_crds(&common::checked_in_crds()).await.unwrap();
        let mut config = ControllerConfig {
            ..common::scoped_config(&env)
        };
        config.vault.sts_endpoint = sts_endpoint;
        let controllers = RunningControllers::start(env.client.clone(), config);
        Stack {
            env,
            vault,
            _controllers: controllers,
        }
    }

    async fn apply(&self, doc: Value) {
        let doc = common::place(&self.env, doc);
        certgate::manifests::apply(&self.env.client, "test", &[doc], "test")
            .await
            .unwrap();
    }

    /// A Vault Issuer signing at `pki_int/sign/web` with `auth`.
    async fn issuer(&self, name: &str, auth: Value) {
        self.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
            "metadata": {"name": name},
            "spec": {"vault": {
                "server": self.vault.base_url(),
                "path": "pki_int/sign/web",
                "caBundle": self.vault.ca_bundle_b64(),
                "auth": auth}}}))
            .await;
    }

    async fn secret(&self, name: &str, data: Value) {
        self.apply(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name}, "stringData": data}))
            .await;
    }

    async fn certificate(&self, name: &str, issuer: &str, dns_names: &[&str]) {
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name},
            "spec": {"secretName": format!("{name}-tls"), "dnsNames": dns_names,
                "duration": "24h",
                "issuerRef": {"name": issuer, "kind": "Issuer"}}}),
        )
        .await;
    }

    /// The issuer's Ready condition (status, reason, message) once `ok` holds for it.
    async fn issuer_ready(
        &self,
        name: &str,
        ok: impl Fn(&str, &str, &str) -> bool,
    ) -> (String, String, String) {
        let api = Api::<Issuer>::namespaced(self.env.client.clone(), &self.env.namespace);
        let mut last = None;
        for _ in 0..600 {
            if let Some(i) = api.get_opt(name).await.unwrap() {
                let c = i
                    .status
                    .and_then(|s| s.conditions)
                    .and_then(|cs| cs.into_iter().find(|c| c.type_ == "Ready"));
                if let Some(c) = c {
                    let got = (
                        format!("{:?}", c.status),
                        c.reason.unwrap_or_default(),
                        c.message.unwrap_or_default(),
                    );
                    if ok(&got.0, &got.1, &got.2) {
                        return got;
                    }
                    last = Some(got);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("issuer {name}: Ready never as wanted; last {last:?}");
    }

    async fn wait_certificate_ready(&self, name: &str) -> Secret {
        let certs = Api::<Certificate>::namespaced(self.env.client.clone(), &self.env.namespace);
        let requests =
            Api::<CertificateRequest>::namespaced(self.env.client.clone(), &self.env.namespace);
        for _ in 0..600 {
            if let Some(c) = certs.get_opt(name).await.unwrap()
                && common::is_ready(&c)
            {
                let secrets =
                    Api::<Secret>::namespaced(self.env.client.clone(), &self.env.namespace);
                return secrets.get(&format!("{name}-tls")).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let reqs: Vec<String> = requests
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .map(|r| format!("{:?}", r.status.as_ref().and_then(|s| s.conditions.clone())))
                    .collect()
            })
            .unwrap_or_default();
        panic!("Certificate {name} never Ready; requests: {reqs:#?}");
    }

    /// The Ready condition (reason, message) of the Certificate's request once `ok`.
    async fn request_condition(
        &self,
        certificate: &str,
        ok: impl Fn(&str, &str) -> bool,
    ) -> (String, String) {
        let requests =
            Api::<CertificateRequest>::namespaced(self.env.client.clone(), &self.env.namespace);
        let mut last = None;
        for _ in 0..600 {
            let list = requests.list(&ListParams::default()).await.unwrap();
            for r in list.items {
                let mine = r
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.name == certificate);
                let ready = r
                    .status
                    .and_then(|s| s.conditions)
                    .and_then(|cs| cs.into_iter().find(|c| c.type_ == "Ready"));
                if let (true, Some(c)) = (mine, ready) {
                    let got = (c.reason.unwrap_or_default(), c.message.unwrap_or_default());
                    if ok(&got.0, &got.1) {
                        return got;
                    }
                    last = Some(got);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("request of {certificate}: Ready never as wanted; last {last:?}");
    }

    /// Makes the issuer controller look again now (an annotation changes).
    async fn touch_issuer(&self, name: &str) {
        Api::<Issuer>::namespaced(self.env.client.clone(), &self.env.namespace)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {
                    "test.certgate.io/touched": format!("{:?}", std::time::Instant::now())}}})),
            )
            .await
            .unwrap();
    }
}

fn der_chain(pem: &[u8]) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .map(|p| p.contents)
        .collect()
}

fn data(secret: &Secret, key: &str) -> Vec<u8> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_issuer_signs_with_vaults_chain_and_says_what_vault_refused() {
    let stack = Stack::start(None).await;
    let token = stack
        .vault
        .create_token(None, &["pki"], Duration::from_secs(3600), true);
    stack.secret("vault-token", json!({"token": token})).await;
    stack
        .issuer("vault", json!({"tokenSecretRef": {"name": "vault-token"}}))
        .await;
    let (_, reason, message) = stack.issuer_ready("vault", |s, _, _| s == "True").await;
    assert_eq!(
        (reason.as_str(), message.as_str()),
        ("VaultVerified", "Vault verified")
    );

    stack.certificate("web", "vault", &["a.example.com"]).await;
    let secret = stack.wait_certificate_ready("web").await;
    let chain = stack.vault.pki_chain(None, "pki_int").unwrap();
    let issued = der_chain(&data(&secret, "tls.crt"));
    assert_eq!(issued.len(), 2, "leaf and intermediate, not the root");
    assert_eq!(issued[1], der_chain(chain.intermediate_pem.as_bytes())[0]);
    assert_eq!(
        der_chain(&data(&secret, "ca.crt")),
        der_chain(chain.root_pem.as_bytes()),
        "ca.crt is the root of Vault's ca_chain"
    );
    let sent = stack.vault.last_sign_request().unwrap();
    assert_eq!(sent["ttl"], "24h0m0s");
    assert_eq!(sent["alt_names"], "a.example.com");
    assert_eq!(sent["exclude_cn_from_sans"], "true");

    // A name the role does not allow: the request fails with Vault's words.
    stack.certificate("evil", "vault", &["a.evil.test"]).await;
    let (reason, message) = stack.request_condition("evil", |r, _| r == "Failed").await;
    assert_eq!(reason, "Failed");
    assert!(
        message.starts_with("Vault failed to sign certificate: ")
            && message.contains("not allowed by this role"),
        "{message}"
    );

    // Sealed: the issuer says so; unsealed: Ready again.
    stack.vault.seal();
    stack.touch_issuer("vault").await;
    let (_, reason, message) = stack.issuer_ready("vault", |s, _, _| s == "False").await;
    assert_eq!(reason, "VaultError");
    assert_eq!(
        message,
        "Failed to verify Vault is initialized and unsealed: Vault is sealed"
    );
    stack.vault.unseal();
    stack.touch_issuer("vault").await;
    stack.issuer_ready("vault", |s, _, _| s == "True").await;
    stack.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approle_logs_in_once_per_token_and_again_after_the_secret_id_rotates() {
    let stack = Stack::start(None).await;
    stack
        .vault
        .add_approle(
            None,
            "approle",
            "role-1",
            "secret-1",
            Duration::from_secs(3600),
        )
        .unwrap();
    stack
        .secret("approle", json!({"secretId": "secret-1"}))
        .await;
    stack
        .issuer(
            "approle",
            json!({"appRole": {"path": "approle", "roleId": "role-1",
                "secretRef": {"name": "approle", "key": "secretId"}}}),
        )
        .await;
    stack.issuer_ready("approle", |s, _, _| s == "True").await;
    stack
        .certificate("one", "approle", &["one.example.com"])
        .await;
    stack.wait_certificate_ready("one").await;
    stack
        .certificate("two", "approle", &["two.example.com"])
        .await;
    stack.wait_certificate_ready("two").await;
    assert_eq!(
        stack.vault.logins("approle"),
        1,
        "the issuer check and both signings share one token"
    );

    let rotated = stack.vault.rotate_approle_secret("role-1").unwrap();
    stack.secret("approle", json!({"secretId": rotated})).await;
    stack
        .certificate("three", "approle", &["three.example.com"])
        .await;
    stack.wait_certificate_ready("three").await;
    assert_eq!(
        stack.vault.logins("approle"),
        2,
        "a new login with the new secret id"
    );
    stack.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubernetes_auth_with_a_service_account_token_and_tls_certificate_auth_issue() {
    let stack = Stack::start(None).await;
    let ns = stack.env.namespace.clone();
    stack
        .apply(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "vault-auth"}}))
        .await;
    let audience = format!("vault://{ns}/kube");
    stack
        .vault
        .add_kubernetes_role(
            None,
            "kubernetes",
            "certgate",
            KubernetesRole {
                bound_service_account_names: vec!["vault-auth".into()],
                bound_service_account_namespaces: vec![ns.clone()],
                audience: Some(audience.clone()),
                token_ttl: Duration::from_secs(3600),
            },
        )
        .unwrap();
    // Vault's Kubernetes auth asks the API server who the token belongs to.
    let client = stack.env.client.clone();
    stack
        .vault
        .set_token_reviewer(std::sync::Arc::new(move |jwt: String| {
            let client = client.clone();
            let audience = audience.clone();
            Box::pin(async move {
                let review = TokenReview {
                    spec: TokenReviewSpec {
                        token: jwt,
                        audiences: Some(vec![audience]),
                    },
                    ..TokenReview::default()
                };
                let out = Api::<TokenReview>::all(client)
                    .create(&PostParams::default(), &review)
                    .await
                    .map_err(|e| e.to_string())?;
                let status = out.status.ok_or("no status")?;
                if status.authenticated != Some(true) {
                    return Err(status.error.unwrap_or_default());
                }
                let user = status.user.and_then(|u| u.username).unwrap_or_default();
                let rest = user
                    .strip_prefix("system:serviceaccount:")
                    .ok_or("not a ServiceAccount")?;
                let (namespace, name) = rest.split_once(':').ok_or("bad username")?;
                Ok(ReviewedServiceAccount {
                    namespace: namespace.into(),
                    name: name.into(),
                    audiences: status.audiences.unwrap_or_default(),
                })
            })
        }));
    stack
        .issuer(
            "kube",
            json!({"kubernetes": {"role": "certgate",
                "serviceAccountRef": {"name": "vault-auth"}}}),
        )
        .await;
    stack.issuer_ready("kube", |s, _, _| s == "True").await;
    stack.certificate("k", "kube", &["k.example.com"]).await;
    stack.wait_certificate_ready("k").await;
    assert!(stack.vault.logins("kubernetes") >= 1);

    // TLS certificate auth with a kubernetes.io/tls Secret.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "certgate-client");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key).unwrap();
    stack
        .vault
        .add_cert_role(
            None,
            "cert",
            "certgate",
            &cert.pem(),
            Duration::from_secs(3600),
        )
        .unwrap();
    stack
        .apply(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "vault-client"},
            "stringData": {"tls.crt": cert.pem(), "tls.key": key.serialize_pem()}}),
        )
        .await;
    stack
        .issuer(
            "cert",
            json!({"clientCertificate": {"secretName": "vault-client", "name": "certgate"}}),
        )
        .await;
    stack.issuer_ready("cert", |s, _, _| s == "True").await;
    stack.certificate("c", "cert", &["c.example.com"]).await;
    stack.wait_certificate_ready("c").await;
    assert!(stack.vault.logins("cert") >= 1);
    stack.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_iam_auth_logs_in_the_role_assumed_with_a_service_account_token() {
    if common::missing(&[common::MOTO]) {
        return;
    }
    let moto = common::moto::Moto::start();
    let stack = Stack::start(Some(moto.endpoint())).await;
    stack.vault.set_sts_endpoint(&moto.endpoint());
    stack
        .vault
        .set_iam_server_id_header(Some("vault.example.com"));
    stack
        .vault
        .add_aws_role(
            None,
            "aws",
            "web",
            vec!["arn:aws:iam::123456789012:role/vault-web".into()],
            Duration::from_secs(3600),
        )
        .unwrap();
    stack
        .apply(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "vault-aws"}}))
        .await;
    stack
        .issuer(
            "aws",
            json!({"aws": {"role": "web", "region": "us-east-1",
                "serviceAccountRef": {"name": "vault-aws"},
                "iamRoleArn": "arn:aws:iam::123456789012:role/vault-web",
                "vaultHeaderValue": "vault.example.com"}}),
        )
        .await;
    stack.issuer_ready("aws", |s, _, _| s == "True").await;
    stack.certificate("a", "aws", &["aws.example.com"]).await;
    stack.wait_certificate_ready("a").await;
    assert_eq!(stack.vault.logins("aws"), 1);
    stack.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_secret_or_two_auth_methods_say_what_to_fix() {
    let stack = Stack::start(None).await;
    stack
        .issuer("late", json!({"tokenSecretRef": {"name": "vault-token"}}))
        .await;
    let (_, reason, message) = stack.issuer_ready("late", |s, _, _| s == "False").await;
    assert_eq!(reason, "VaultError");
    assert!(
        message.starts_with("Failed to initialize Vault client: ")
            && message.contains("\"vault-token\" not found"),
        "{message}"
    );
    stack
        .certificate("late", "late", &["late.example.com"])
        .await;
    let (_, message) = stack
        .request_condition("late", |r, m| {
            r == "Pending" && m.starts_with("Required secret resource not found")
        })
        .await;
    assert!(message.contains("tokenSecretRef"), "{message}");
    // The Secret appears: the issuer and the request go on by themselves.
    let token = stack
        .vault
        .create_token(None, &["pki"], Duration::from_secs(3600), true);
    stack.secret("vault-token", json!({"token": token})).await;
    stack.issuer_ready("late", |s, _, _| s == "True").await;
    stack.wait_certificate_ready("late").await;

    stack
        .issuer(
            "two",
            json!({"tokenSecretRef": {"name": "vault-token"},
                "kubernetes": {"role": "r", "secretRef": {"name": "jwt"}}}),
        )
        .await;
    let (_, reason, message) = stack.issuer_ready("two", |s, _, _| s == "False").await;
    assert_eq!(
        (reason.as_str(), message.as_str()),
        (
            "VaultError",
            "Multiple auth methods cannot be set on the same Vault issuer"
        )
    );
    stack.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_vault_namespace_sign_verbatim_a_ca_bundle_secret_and_mutual_tls() {
    let stack = Stack::start(None).await;
    let chain = stack.vault.add_pki_mount(Some("team-a"), "pki").unwrap();
    stack
        .vault
        .add_role(
            Some("team-a"),
            "pki",
            "web",
            RoleConfig {
                allow_any_name: true,
                require_cn: false,
                ..RoleConfig::default()
            },
        )
        .unwrap();
    let token = stack
        .vault
        .create_token(Some("team-a"), &["pki"], Duration::from_secs(3600), true);
    stack.secret("team-a-token", json!({"token": token})).await;
    stack
        .secret("vault-ca", json!({"ca.crt": stack.vault.ca_pem()}))
        .await;
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "certgate-mtls");
    let client = params.self_signed(&key).unwrap();
    stack
        .apply(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "vault-mtls"},
            "stringData": {"tls.crt": client.pem(), "tls.key": key.serialize_pem()}}),
        )
        .await;
    stack
        .apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
            "metadata": {"name": "team-a"},
            "spec": {"vault": {
                "server": stack.vault.base_url(),
                "namespace": "team-a",
                "path": "pki/sign-verbatim/web",
                "caBundleSecretRef": {"name": "vault-ca"},
                "clientCertSecretRef": {"name": "vault-mtls"},
                "clientKeySecretRef": {"name": "vault-mtls"},
                "auth": {"tokenSecretRef": {"name": "team-a-token"}}}}}))
        .await;
    stack.issuer_ready("team-a", |s, _, _| s == "True").await;
    stack
        .certificate("verbatim", "team-a", &["any.name.test"])
        .await;
    let secret = stack.wait_certificate_ready("verbatim").await;
    assert_eq!(
        der_chain(&data(&secret, "ca.crt")),
        der_chain(chain.root_pem.as_bytes()),
        "signed in namespace team-a, by its mount's chain"
    );
    let issued = stack.vault.issued();
    assert!(
        issued.iter().any(|c| c.namespace == "team-a"
            && c.mount == "pki"
            && c.role.as_deref() == Some("web")),
        "{issued:?}"
    );
    stack.env.cleanup().await;
}
