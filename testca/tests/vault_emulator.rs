#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Vault emulator driven over HTTPS by a plain hyper client: Vault's documented
//! shapes for health, tokens, the login methods (AWS against a small STS stub
//! started here), signing with and without names the role allows, TTL capping,
//! namespaces and `sign-verbatim`.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use certgate_testca::vault::{
    KubernetesRole, ReviewedServiceAccount, RoleConfig, VaultEmulator, VaultError,
};
use http_body_util::{BodyExt as _, Full};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

// ---------------------------------------------------------------------------------
// A small Vault client

type Https = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

struct Client {
    http: Https,
    base: String,
}

/// A client trusting the emulator's TLS CA, presenting `identity` when given.
fn client(vault: &VaultEmulator, identity: Option<(&str, &str)>) -> Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(vault.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain_pem, key_pem)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Client {
        http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
        base: vault.base_url().to_string(),
    }
}

impl Client {
    /// A request to `/v1/{path}`; `Value::Null` sends no body. Answers the status and
    /// the JSON body (`Null` when empty).
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> (u16, Value) {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}/v1/{path}", self.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let body = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        let response = self
            .http
            .request(request.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, json)
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, &[("X-Vault-Token", token)], Value::Null)
            .await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, &[("X-Vault-Token", token)], body)
            .await
    }

    async fn login(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, &[], body).await
    }
}

fn errors(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| e.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------
// PKI helpers

/// A CSR (PEM) and its key (PEM): `cn` as the subject CN, `sans` as DNS or IP SANs.
fn csr(cn: Option<&str>, sans: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = cn {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
    }
    let csr = params.serialize_request(&key).unwrap();
    (csr.pem().unwrap(), key.serialize_pem())
}

fn der_of(pem: &str) -> Vec<u8> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// The DNS and IP SANs and the CN of a certificate.
fn names_of(pem: &str) -> (Option<String>, Vec<String>, Vec<IpAddr>) {
    let der = der_of(pem);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .map(|c| c.as_str().unwrap().to_string());
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Some(san) = cert.subject_alternative_name().unwrap() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(b) if b.len() == 4 => {
                    ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()))
                }
                _ => {}
            }
        }
    }
    (cn, dns, ips)
}

fn not_after(pem: &str) -> i64 {
    let der = der_of(pem);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    cert.validity().not_after.timestamp()
}

/// Whether `child` is signed by `parent`'s key.
fn signed_by(child: &str, parent: &str) -> bool {
    let (child_der, parent_der) = (der_of(child), der_of(parent));
    let (_, child) = X509Certificate::from_der(&child_der).unwrap();
    let (_, parent) = X509Certificate::from_der(&parent_der).unwrap();
    child.issuer() == parent.subject() && child.verify_signature(Some(parent.public_key())).is_ok()
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// An emulator with `pki_int` and a role `web` for example.com and its subdomains.
fn vault_with_pki() -> VaultEmulator {
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
                allow_ip_sans: false,
                ttl: Duration::from_secs(24 * 3600),
                max_ttl: Duration::from_secs(30 * 24 * 3600),
                ..RoleConfig::default()
            },
        )
        .unwrap();
    vault
}

// ---------------------------------------------------------------------------------
// Health, seal, standby

#[tokio::test]
async fn health_reports_seal_and_standby() {
    let vault = VaultEmulator::start();
    let c = client(&vault, None);

    let (status, body) = c.call(Method::GET, "sys/health", &[], Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(body["initialized"], true);
    assert_eq!(body["sealed"], false);
    assert_eq!(body["standby"], false);
    assert_eq!(body["performance_standby"], false);
    assert_eq!(body["replication_performance_mode"], "disabled");
    assert_eq!(body["replication_dr_mode"], "disabled");
    assert_eq!(body["version"], "1.17.0");
    assert_eq!(body["cluster_name"], "vault-cluster-emulator");
    assert!(uuid::Uuid::parse_str(body["cluster_id"].as_str().unwrap()).is_ok());
    assert!((body["server_time_utc"].as_i64().unwrap() - now()).abs() <= 5);

    vault.set_standby(true);
    let (status, body) = c.call(Method::GET, "sys/health", &[], Value::Null).await;
    assert_eq!((status, &body["standby"]), (429, &json!(true)));
    let (status, _) = c
        .call(Method::GET, "sys/health?standbyok=true", &[], Value::Null)
        .await;
    assert_eq!(status, 200);
    vault.set_standby(false);

    let root = vault.root_token();
    vault.seal();
    let (status, body) = c.call(Method::GET, "sys/health", &[], Value::Null).await;
    assert_eq!(status, 503);
    assert_eq!(
        (&body["initialized"], &body["sealed"], &body["standby"]),
        (&json!(true), &json!(true), &json!(false))
    );
    let (status, body) = c.get("auth/token/lookup-self", &root).await;
    assert_eq!(
        (status, errors(&body)),
        (503, vec!["Vault is sealed".into()])
    );
    let (status, body) = c
        .login(
            "auth/approle/login",
            json!({"role_id": "x", "secret_id": "y"}),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (503, vec!["Vault is sealed".into()])
    );
    let (status, _) = c
        .call(Method::GET, "sys/health?sealedcode=200", &[], Value::Null)
        .await;
    assert_eq!(status, 200);

    vault.unseal();
    let (status, _) = c.get("auth/token/lookup-self", &root).await;
    assert_eq!(status, 200);
    assert_eq!(vault.requests().get("sys/health"), Some(&5));
}

// ---------------------------------------------------------------------------------
// Tokens

#[tokio::test]
async fn tokens_look_up_renew_and_expire() {
    let vault = VaultEmulator::start();
    let c = client(&vault, None);

    let token = vault.create_token(None, &["pki-signer"], Duration::from_secs(3600), true);
    assert!(token.starts_with("hvs."));
    let (status, body) = c.get("auth/token/lookup-self", &token).await;
    assert_eq!(status, 200);
    let data = &body["data"];
    assert_eq!(data["id"], token.as_str());
    assert_eq!(data["policies"], json!(["default", "pki-signer"]));
    assert_eq!(data["renewable"], true);
    assert_eq!(data["creation_ttl"], 3600);
    assert_eq!(data["type"], "service");
    let ttl = data["ttl"].as_i64().unwrap();
    assert!((3590..=3600).contains(&ttl), "ttl {ttl}");
    let expire: jiff::Timestamp = data["expire_time"].as_str().unwrap().parse().unwrap();
    assert!((expire.as_second() - now() - 3600).abs() <= 5);
    assert!(body["request_id"].is_string());
    assert_eq!(body["auth"], Value::Null);

    // Renewal with an increment, and without one (the creation TTL).
    let (status, body) = c
        .post("auth/token/renew-self", &token, json!({"increment": "2h"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["auth"]["client_token"], token.as_str());
    assert_eq!(body["auth"]["lease_duration"], 7200);
    assert_eq!(body["auth"]["renewable"], true);
    assert_eq!(body["auth"]["policies"], json!(["default", "pki-signer"]));
    let (_, body) = c.get("auth/token/lookup-self", &token).await;
    assert!(body["data"]["ttl"].as_i64().unwrap() > 7000);
    let (status, body) = c.post("auth/token/renew-self", &token, Value::Null).await;
    assert_eq!(
        (status, &body["auth"]["lease_duration"]),
        (200, &json!(3600))
    );
    // Past the system max: capped with a warning.
    let (_, body) = c
        .post(
            "auth/token/renew-self",
            &token,
            json!({"increment": 10_000_000}),
        )
        .await;
    assert!(body["auth"]["lease_duration"].as_u64().unwrap() <= 768 * 3600);
    assert!(
        body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("exceeded the effective max_ttl"),
        "{body}"
    );

    let fixed = vault.create_token(None, &[], Duration::from_secs(60), false);
    let (status, body) = c.post("auth/token/renew-self", &fixed, Value::Null).await;
    assert_eq!(
        (status, errors(&body)),
        (400, vec!["lease is not renewable".into()])
    );

    // Expiry and revocation.
    let short = vault.create_token(None, &[], Duration::from_secs(1), true);
    assert_eq!(c.get("auth/token/lookup-self", &short).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, body) = c.get("auth/token/lookup-self", &short).await;
    assert_eq!(
        (status, errors(&body)),
        (403, vec!["permission denied".into()])
    );
    assert!(vault.revoke_token(&token));
    assert_eq!(c.get("auth/token/lookup-self", &token).await.0, 403);
    assert_eq!(c.get("auth/token/lookup-self", "hvs.nonsense").await.0, 403);
    let (status, _) = c
        .call(Method::GET, "auth/token/lookup-self", &[], Value::Null)
        .await;
    assert_eq!(status, 403);

    // The root token, also as a bearer token.
    let root = vault.root_token();
    let bearer = format!("Bearer {root}");
    let (status, body) = c
        .call(
            Method::GET,
            "auth/token/lookup-self",
            &[("Authorization", &bearer)],
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["policies"], json!(["root"]));
    assert_eq!(body["data"]["ttl"], 0);
    assert_eq!(body["data"]["expire_time"], Value::Null);
    // A method the path does not serve.
    let (status, _) = c.post("auth/token/lookup-self", &root, Value::Null).await;
    assert_eq!(status, 405);
}

// ---------------------------------------------------------------------------------
// AppRole

#[tokio::test]
async fn approle_logs_in_and_rotation_retires_the_old_secret() {
    let vault = VaultEmulator::start();
    vault
        .add_approle(
            None,
            "approle",
            "role-1",
            "secret-1",
            Duration::from_secs(600),
        )
        .unwrap();
    let c = client(&vault, None);

    let (status, body) = c
        .login(
            "auth/approle/login",
            json!({"role_id": "role-1", "secret_id": "secret-1"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lease_id"], "");
    assert_eq!(body["renewable"], false);
    assert_eq!(body["lease_duration"], 0);
    assert_eq!(body["data"], Value::Null);
    let auth = &body["auth"];
    let token = auth["client_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("hvs."));
    assert!(auth["accessor"].is_string());
    assert_eq!(auth["policies"], json!(["default"]));
    assert_eq!(auth["token_policies"], json!(["default"]));
    assert_eq!(auth["metadata"]["role_name"], "role-1");
    assert_eq!(auth["lease_duration"], 600);
    assert_eq!(auth["renewable"], true);
    assert_eq!(auth["token_type"], "service");
    assert_eq!(auth["orphan"], true);
    assert!(auth["entity_id"].is_string());
    let (status, body) = c.get("auth/token/lookup-self", &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["path"], "auth/approle/login");

    for (body, message) in [
        (
            json!({"role_id": "role-1", "secret_id": "wrong"}),
            "invalid role or secret ID",
        ),
        (
            json!({"role_id": "nobody", "secret_id": "secret-1"}),
            "invalid role or secret ID",
        ),
        (json!({"secret_id": "secret-1"}), "missing role_id"),
        (json!({"role_id": "role-1"}), "missing secret_id"),
    ] {
        let (status, answer) = c.login("auth/approle/login", body.clone()).await;
        assert_eq!(
            (status, errors(&answer)),
            (400, vec![message.to_string()]),
            "{body}"
        );
    }

    let rotated = vault.rotate_approle_secret("role-1").unwrap();
    assert_ne!(rotated, "secret-1");
    let (status, _) = c
        .login(
            "auth/approle/login",
            json!({"role_id": "role-1", "secret_id": "secret-1"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = c
        .login(
            "auth/approle/login",
            json!({"role_id": "role-1", "secret_id": rotated}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(vault.logins("approle"), 2);
    assert_eq!(vault.login_attempts("approle"), 7);
    assert!(matches!(
        vault.rotate_approle_secret("nobody"),
        Err(VaultError::Config(_))
    ));

    // A mount that does not exist is no login path: the token check, then 404.
    let (status, body) = c
        .login(
            "auth/other/login",
            json!({"role_id": "role-1", "secret_id": rotated}),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (403, vec!["permission denied".into()])
    );
    let (status, body) = c
        .post("auth/other/login", &vault.root_token(), json!({}))
        .await;
    assert_eq!(
        (status, errors(&body)),
        (
            404,
            vec![r#"no handler for route "auth/other/login". route entry not found."#.into()]
        )
    );
}

// ---------------------------------------------------------------------------------
// TLS certificates

/// A CA (PEM) and a client certificate it signed (chain PEM, key PEM).
fn client_ca(cn: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{cn} CA"));
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![format!("{cn}.example.com")]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn cert_login_needs_a_trusted_client_certificate() {
    let vault = vault_with_pki();
    let (ca_pem, client_pem, client_key) = client_ca("agent");
    vault
        .add_cert_role(None, "cert", "agents", &ca_pem, Duration::from_secs(300))
        .unwrap();

    // No client certificate.
    let anonymous = client(&vault, None);
    let (status, body) = anonymous.login("auth/cert/login", Value::Null).await;
    assert_eq!(
        (status, errors(&body)),
        (400, vec!["client certificate must be supplied".into()])
    );

    // One that chains to the trusted CA.
    let trusted = client(&vault, Some((&client_pem, &client_key)));
    let (status, body) = trusted.login("auth/cert/login", Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["lease_duration"], 300);
    assert_eq!(body["auth"]["metadata"]["cert_name"], "agents");
    assert_eq!(body["auth"]["metadata"]["common_name"], "agent");
    let token = body["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(trusted.get("auth/token/lookup-self", &token).await.0, 200);
    // Naming another role does not match.
    let (status, body) = trusted
        .login("auth/cert/login", json!({"name": "others"}))
        .await;
    assert_eq!(
        (status, errors(&body)),
        (
            400,
            vec!["invalid certificate or no client certificate supplied".into()]
        )
    );

    // One from another CA.
    let (_, stranger_pem, stranger_key) = client_ca("stranger");
    let stranger = client(&vault, Some((&stranger_pem, &stranger_key)));
    let (status, _) = stranger.login("auth/cert/login", Value::Null).await;
    assert_eq!(status, 400);
    // ... until that very certificate is trusted (a non-CA entry matches exactly).
    vault
        .add_cert_role(None, "cert", "pinned", &stranger_pem, Duration::ZERO)
        .unwrap();
    let (status, body) = stranger
        .login("auth/cert/login", json!({"name": "pinned"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["lease_duration"], 768 * 3600);

    // A leaf from the emulator's own PKI, presented with its intermediate, chains to
    // the mount's root.
    let (csr_pem, key_pem) = csr(Some("bot.example.com"), &["bot.example.com"]);
    let (_, signed) = anonymous
        .post(
            "pki_int/sign/web",
            &vault.root_token(),
            json!({"csr": csr_pem, "format": "pem_bundle"}),
        )
        .await;
    let bundle = signed["data"]["certificate"].as_str().unwrap().to_string();
    let chain = vault.pki_chain(None, "pki_int").unwrap();
    vault
        .add_cert_role(
            None,
            "cert",
            "pki",
            &chain.root_pem,
            Duration::from_secs(60),
        )
        .unwrap();
    let bot = client(&vault, Some((&bundle, &key_pem)));
    let (status, body) = bot.login("auth/cert/login", json!({"name": "pki"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(vault.logins("cert"), 3);

    // Over plain HTTP there is no TLS to take a certificate from.
    let plain = VaultEmulator::start_http();
    plain
        .add_cert_role(None, "cert", "agents", &ca_pem, Duration::ZERO)
        .unwrap();
    assert!(plain.base_url().starts_with("http://"));
    let (status, body) = client(&plain, None)
        .login("auth/cert/login", Value::Null)
        .await;
    assert_eq!(
        (status, errors(&body)),
        (400, vec!["tls connection required".into()])
    );
}

// ---------------------------------------------------------------------------------
// Kubernetes

#[tokio::test]
async fn kubernetes_login_goes_through_the_reviewer() {
    let vault = VaultEmulator::start();
    vault
        .add_kubernetes_role(
            None,
            "k8s/cluster-a",
            "certgate",
            KubernetesRole {
                bound_service_account_names: vec!["certgate".into()],
                bound_service_account_namespaces: vec!["certgate-*".into()],
                audience: Some("vault".into()),
                token_ttl: Duration::from_secs(900),
            },
        )
        .unwrap();
    let c = client(&vault, None);
    let login = |jwt: &str| json!({"role": "certgate", "jwt": jwt});

    // No reviewer yet: Vault's missing-configuration error.
    let (status, _) = c.login("auth/k8s/cluster-a/login", login("good")).await;
    assert_eq!(status, 500);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_reviewer = seen.clone();
    vault.set_token_reviewer(Arc::new(move |jwt: String| {
        seen_by_reviewer.lock().unwrap().push(jwt.clone());
        Box::pin(async move {
            let (namespace, name, audience) = match jwt.as_str() {
                "good" => ("certgate-system", "certgate", "vault"),
                "other-namespace" => ("default", "certgate", "vault"),
                "other-name" => ("certgate-system", "intruder", "vault"),
                "other-audience" => ("certgate-system", "certgate", "kubernetes"),
                _ => return Err("token is not valid".to_string()),
            };
            Ok(ReviewedServiceAccount {
                namespace: namespace.into(),
                name: name.into(),
                audiences: vec![audience.into()],
            })
        })
    }));

    let (status, body) = c.login("auth/k8s/cluster-a/login", login("good")).await;
    assert_eq!(status, 200, "{body}");
    let auth = &body["auth"];
    assert_eq!(auth["lease_duration"], 900);
    assert_eq!(auth["metadata"]["role"], "certgate");
    assert_eq!(auth["metadata"]["service_account_name"], "certgate");
    assert_eq!(
        auth["metadata"]["service_account_namespace"],
        "certgate-system"
    );
    assert_eq!(body["mount_type"], "kubernetes");

    for (jwt, status, message) in [
        ("forged", 403, "permission denied"),
        ("other-audience", 403, "permission denied"),
        ("other-namespace", 403, "namespace not authorized"),
        ("other-name", 403, "service account name not authorized"),
    ] {
        let (got, body) = c.login("auth/k8s/cluster-a/login", login(jwt)).await;
        assert_eq!(
            (got, errors(&body)),
            (status, vec![message.to_string()]),
            "{jwt}"
        );
    }
    let (status, body) = c
        .login(
            "auth/k8s/cluster-a/login",
            json!({"role": "nobody", "jwt": "good"}),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (400, vec![r#"invalid role name "nobody""#.into()])
    );
    let (status, body) = c
        .login("auth/k8s/cluster-a/login", json!({"role": "certgate"}))
        .await;
    assert_eq!((status, errors(&body)), (400, vec!["missing jwt".into()]));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "good",
            "forged",
            "other-audience",
            "other-namespace",
            "other-name"
        ]
    );
    assert_eq!(vault.logins("kubernetes"), 1);
    assert_eq!(vault.login_attempts("kubernetes"), 8);
}

// ---------------------------------------------------------------------------------
// AWS IAM

#[derive(Clone, Default)]
struct Sts {
    /// The ARN the stub answers.
    arn: Arc<Mutex<String>>,
    /// (Host, body, Authorization) of each request.
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
}

async fn sts_answer(
    axum::extract::State(sts): axum::extract::State<Sts>,
    headers: HeaderMap,
    body: String,
) -> (axum::http::StatusCode, String) {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let authorization = get(header::AUTHORIZATION);
    sts.seen
        .lock()
        .unwrap()
        .push((get(header::HOST), body, authorization.clone()));
    let arn = sts.arn.lock().unwrap().clone();
    if arn.is_empty() {
        return (
            axum::http::StatusCode::FORBIDDEN,
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>"
                .into(),
        );
    }
    (
        axum::http::StatusCode::OK,
        format!(
            r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>{arn}</Arn>
    <UserId>AROAEXAMPLE:session</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#
        ),
    )
}

async fn start_sts() -> (Sts, String) {
    let sts = Sts::default();
    let router = axum::Router::new()
        .route("/", axum::routing::post(sts_answer))
        .with_state(sts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (sts, format!("http://{addr}"))
}

/// An AWS IAM login body: the signed request, base64, with `headers` as given.
fn aws_login(role: Option<&str>, headers: &Value, body: &str) -> Value {
    let mut login = json!({
        "iam_http_request_method": "POST",
        "iam_request_url": STANDARD.encode("https://sts.amazonaws.com/"),
        "iam_request_body": STANDARD.encode(body),
        "iam_request_headers": STANDARD.encode(headers.to_string()),
    });
    if let Some(role) = role {
        login["role"] = json!(role);
    }
    login
}

const CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

fn signed_headers(signed: &str, server_id: Option<&str>) -> Value {
    let mut headers = json!({
        "Content-Type": ["application/x-www-form-urlencoded; charset=utf-8"],
        "X-Amz-Date": "20240101T000000Z",
        "Authorization": [format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/sts/aws4_request, \
             SignedHeaders={signed}, Signature=0123456789abcdef"
        )],
    });
    if let Some(id) = server_id {
        headers["X-Vault-AWS-IAM-Server-ID"] = json!([id]);
    }
    headers
}

#[tokio::test]
async fn aws_iam_login_asks_sts_who_signed() {
    let (sts, endpoint) = start_sts().await;
    *sts.arn.lock().unwrap() =
        "arn:aws:sts::123456789012:assumed-role/certgate/i-0123456789".to_string();
    let vault = VaultEmulator::start();
    vault.set_sts_endpoint(&endpoint);
    vault
        .add_aws_role(
            None,
            "aws",
            "certgate",
            vec!["arn:aws:iam::123456789012:role/certgate".into()],
            Duration::from_secs(1200),
        )
        .unwrap();
    vault
        .add_aws_role(
            None,
            "aws",
            "wild",
            vec!["arn:aws:iam::123456789012:role/cert*".into()],
            Duration::ZERO,
        )
        .unwrap();
    let c = client(&vault, None);
    let headers = signed_headers("content-type;host;x-amz-date", None);

    // The assumed-role ARN matches the role ARN, as in Vault.
    let (status, body) = c
        .login(
            "auth/aws/login",
            aws_login(Some("certgate"), &headers, CALLER_IDENTITY),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let auth = &body["auth"];
    assert_eq!(auth["lease_duration"], 1200);
    assert_eq!(auth["metadata"]["auth_type"], "iam");
    assert_eq!(auth["metadata"]["account_id"], "123456789012");
    assert_eq!(
        auth["metadata"]["canonical_arn"],
        "arn:aws:iam::123456789012:role/certgate"
    );
    assert_eq!(
        auth["metadata"]["client_arn"],
        "arn:aws:sts::123456789012:assumed-role/certgate/i-0123456789"
    );
    {
        let seen = sts.seen.lock().unwrap();
        let (host, sent_body, authorization) = seen.last().unwrap();
        assert_eq!(host, "sts.amazonaws.com", "Host is the signed URL's host");
        assert_eq!(sent_body, CALLER_IDENTITY);
        assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    }
    // Without a role: the principal's friendly name. A wildcard binding.
    let (status, _) = c
        .login("auth/aws/login", aws_login(None, &headers, CALLER_IDENTITY))
        .await;
    assert_eq!(status, 200);
    let (status, _) = c
        .login(
            "auth/aws/login",
            aws_login(Some("wild"), &headers, CALLER_IDENTITY),
        )
        .await;
    assert_eq!(status, 200);

    // Another principal.
    *sts.arn.lock().unwrap() = "arn:aws:iam::123456789012:user/mallory".to_string();
    let (status, body) = c
        .login(
            "auth/aws/login",
            aws_login(Some("certgate"), &headers, CALLER_IDENTITY),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (
            400,
            vec![
                r#"IAM Principal "arn:aws:iam::123456789012:user/mallory" does not belong to the role "certgate""#
                    .into()
            ]
        )
    );
    *sts.arn.lock().unwrap() = "arn:aws:sts::123456789012:assumed-role/certgate/s".to_string();

    // Requests refused before STS.
    let seen_before = sts.seen.lock().unwrap().len();
    let (status, body) = c
        .login(
            "auth/aws/login",
            aws_login(
                Some("certgate"),
                &headers,
                "Action=GetSessionToken&Version=2011-06-15",
            ),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (400, vec!["iam request body is invalid".into()])
    );
    let unsigned = json!({"Content-Type": "application/x-www-form-urlencoded"});
    let (status, body) = c
        .login(
            "auth/aws/login",
            aws_login(Some("certgate"), &unsigned, CALLER_IDENTITY),
        )
        .await;
    assert_eq!(status, 400);
    assert!(errors(&body)[0].contains("AWS4-HMAC-SHA256"), "{body}");

    // The server ID header, when configured, must be there, equal and signed.
    vault.set_iam_server_id_header(Some("vault.example.com"));
    for (headers, message) in [
        (
            signed_headers("content-type;host;x-amz-date", None),
            r#"missing header "X-Vault-AWS-IAM-Server-ID""#,
        ),
        (
            signed_headers(
                "content-type;host;x-amz-date;x-vault-aws-iam-server-id",
                Some("other.example.com"),
            ),
            r#"expected "vault.example.com" but got "other.example.com""#,
        ),
        (
            signed_headers("content-type;host;x-amz-date", Some("vault.example.com")),
            "vault header wasn't signed",
        ),
    ] {
        let (status, body) = c
            .login(
                "auth/aws/login",
                aws_login(Some("certgate"), &headers, CALLER_IDENTITY),
            )
            .await;
        assert_eq!(
            (status, errors(&body)),
            (
                400,
                vec![format!(
                    "error validating X-Vault-AWS-IAM-Server-ID header: {message}"
                )]
            )
        );
    }
    assert_eq!(sts.seen.lock().unwrap().len(), seen_before);
    let good = signed_headers(
        "content-type;host;x-amz-date;x-vault-aws-iam-server-id",
        Some("vault.example.com"),
    );
    // Header values as plain strings are accepted as well as lists.
    let mut plain = good.clone();
    plain["X-Vault-AWS-IAM-Server-ID"] = json!("vault.example.com");
    for headers in [good, plain] {
        let (status, body) = c
            .login(
                "auth/aws/login",
                aws_login(Some("certgate"), &headers, CALLER_IDENTITY),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(vault.logins("aws"), 5);

    // STS refusing the signature.
    vault.set_iam_server_id_header(None);
    *sts.arn.lock().unwrap() = String::new();
    let (status, body) = c
        .login(
            "auth/aws/login",
            aws_login(Some("certgate"), &headers, CALLER_IDENTITY),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (
            400,
            vec![
                "error making upstream request: received error code 403 from STS: \
                 <ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>"
                    .into()
            ]
        )
    );
    assert_eq!(vault.login_attempts("aws"), 12);
}

// ---------------------------------------------------------------------------------
// Signing

#[tokio::test]
async fn sign_issues_from_the_intermediate_with_vaults_fields() {
    let vault = vault_with_pki();
    let chain = vault.pki_chain(None, "pki_int").unwrap();
    let token = vault.create_token(None, &["pki"], Duration::from_secs(600), true);
    let c = client(&vault, None);
    let (csr_pem, _) = csr(
        Some("www.example.com"),
        &["www.example.com", "api.example.com"],
    );

    // As cert-manager sends it: every value a string.
    let request = json!({
        "common_name": "www.example.com",
        "alt_names": "www.example.com,api.example.com",
        "ip_sans": "",
        "uri_sans": "",
        "ttl": "2h0m0s",
        "csr": csr_pem,
        "exclude_cn_from_sans": "true",
    });
    let (status, body) = c.post("pki_int/sign/web", &token, request.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mount_type"], "pki");
    assert_eq!(body["warnings"], Value::Null);
    let data = &body["data"];
    let leaf = data["certificate"].as_str().unwrap();
    assert!(leaf.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        leaf.ends_with("-----END CERTIFICATE-----"),
        "no trailing newline"
    );
    assert_eq!(leaf.matches("BEGIN CERTIFICATE").count(), 1);
    assert_eq!(data["issuing_ca"], chain.intermediate_pem.as_str());
    assert_eq!(
        data["ca_chain"],
        json!([chain.intermediate_pem, chain.root_pem])
    );
    assert!(signed_by(leaf, &chain.intermediate_pem));
    assert!(signed_by(&chain.intermediate_pem, &chain.root_pem));
    assert!(!signed_by(leaf, &chain.root_pem));

    // The names come from the CSR (use_csr_sans), the CN is not repeated.
    let (cn, dns, ips) = names_of(leaf);
    assert_eq!(cn.as_deref(), Some("www.example.com"));
    assert_eq!(dns, ["www.example.com", "api.example.com"]);
    assert!(ips.is_empty());

    let expiration = data["expiration"].as_i64().unwrap();
    assert_eq!(expiration, not_after(leaf));
    assert!((expiration - now() - 7200).abs() <= 5, "ttl 2h0m0s");
    let serial = data["serial_number"].as_str().unwrap();
    let leaf_der = der_of(leaf);
    let (_, parsed) = X509Certificate::from_der(&leaf_der).unwrap();
    assert_eq!(serial, parsed.raw_serial_as_string());
    assert!(serial.split(':').all(|b| b.len() == 2));
    let eku = parsed.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert!(!parsed.is_ca());

    assert_eq!(vault.sign_requests(), 1);
    assert_eq!(vault.last_sign_request(), Some(request));
    let issued = vault.issued();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].serial_number, serial);
    assert_eq!(issued[0].role.as_deref(), Some("web"));
    assert_eq!(issued[0].certificate_pem, leaf);

    // pem_bundle: the leaf then the issuing CA; the role's default TTL; CN in SANs.
    let (csr_pem, _) = csr(Some("bundle.example.com"), &[]);
    let (status, body) = c
        .post(
            "pki_int/sign/web",
            &token,
            json!({"csr": csr_pem, "format": "pem_bundle", "ttl": 0}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let bundle = body["data"]["certificate"].as_str().unwrap();
    let pems: Vec<String> = CertificateDer::pem_slice_iter(bundle.as_bytes())
        .map(|c| c.unwrap().to_vec())
        .map(|der| STANDARD.encode(der))
        .collect();
    assert_eq!(pems.len(), 2);
    assert_eq!(pems[1], STANDARD.encode(der_of(&chain.intermediate_pem)));
    assert_eq!(names_of(bundle).1, ["bundle.example.com"]);
    let expiration = body["data"]["expiration"].as_i64().unwrap();
    assert!((expiration - now() - 24 * 3600).abs() <= 5, "role ttl 24h");

    // der: base64 DER everywhere; remove_roots_from_chain.
    let (csr_pem, _) = csr(Some("der.example.com"), &[]);
    let (status, body) = c
        .post(
            "pki_int/sign/web",
            &token,
            json!({"csr": csr_pem, "format": "der", "remove_roots_from_chain": true,
                   "private_key_format": "der", "surprise": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let der = STANDARD
        .decode(body["data"]["certificate"].as_str().unwrap())
        .unwrap();
    assert!(X509Certificate::from_der(&der).is_ok());
    assert_eq!(
        body["data"]["ca_chain"],
        json!([STANDARD.encode(der_of(&chain.intermediate_pem))])
    );
    assert_eq!(
        body["warnings"],
        json!(["Endpoint ignored these unrecognized parameters: [surprise]"])
    );
    assert_eq!(vault.sign_requests(), 3);
}

#[tokio::test]
async fn sign_refuses_what_the_role_does_not_allow() {
    let vault = vault_with_pki();
    let token = vault.create_token(None, &[], Duration::from_secs(600), true);
    let c = client(&vault, None);
    let sign = |cn: Option<&str>, sans: &[&str]| json!({"csr": csr(cn, sans).0});

    for (request, message) in [
        (
            sign(Some("foo.evil"), &["foo.evil"]),
            "common name foo.evil not allowed by this role",
        ),
        (
            sign(Some("a.example.com"), &["a.example.com", "b.evil.com"]),
            "subject alternate name b.evil.com not allowed by this role",
        ),
        (
            // allow_bare_domains is off.
            sign(Some("example.com"), &[]),
            "common name example.com not allowed by this role",
        ),
        (
            sign(Some("a.example.com"), &["a.example.com", "10.0.0.1"]),
            "IP Subject Alternative Names are not allowed in this role, but was provided some via CSR",
        ),
        (
            sign(None, &["a.example.com"]),
            r#"the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false"#,
        ),
        (json!({"csr": ""}), r#""csr" is empty"#),
        (json!({"csr": "not a pem"}), "csr contains no data"),
        (
            json!({"csr": sign(Some("a.example.com"), &[])["csr"], "format": "xml"}),
            r#"the "format" path parameter must be "pem", "der", or "pem_bundle""#,
        ),
        (
            json!({"csr": sign(Some("a.example.com"), &[])["csr"], "other_sans": "1.3.6.1.4.1.311.20.2.3;UTF8:a@example.com"}),
            "other SAN a@example.com not allowed for OID 1.3.6.1.4.1.311.20.2.3 by this role",
        ),
    ] {
        let (status, body) = c.post("pki_int/sign/web", &token, request).await;
        assert_eq!((status, errors(&body)), (400, vec![message.to_string()]));
    }

    // The CN from the request when the CSR has none; wildcards are subdomains.
    let (status, body) = c
        .post(
            "pki_int/sign/web",
            &token,
            json!({"csr": csr(None, &["*.example.com"]).0, "common_name": "*.example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (cn, dns, _) = names_of(body["data"]["certificate"].as_str().unwrap());
    assert_eq!(cn.as_deref(), Some("*.example.com"));
    assert_eq!(dns, ["*.example.com"]);

    // A tampered CSR: its signature does not verify.
    let good = csr(Some("a.example.com"), &[]).0;
    let block: Vec<u8> = {
        let text: String = good.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut bytes = STANDARD.decode(text).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        bytes
    };
    let tampered = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        STANDARD.encode(block)
    );
    let (status, body) = c
        .post("pki_int/sign/web", &token, json!({"csr": tampered}))
        .await;
    assert_eq!(
        (status, errors(&body)),
        (400, vec!["request signature invalid".into()])
    );

    // Unknown role, unknown mount, no token, GET.
    let (status, body) = c
        .post(
            "pki_int/sign/nope",
            &token,
            sign(Some("a.example.com"), &[]),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (400, vec!["unknown role: nope".into()])
    );
    let (status, body) = c
        .post(
            "pki_other/sign/web",
            &token,
            sign(Some("a.example.com"), &[]),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (
            404,
            vec![r#"no handler for route "pki_other/sign/web". route entry not found."#.into()]
        )
    );
    let (status, body) = c
        .call(
            Method::POST,
            "pki_int/sign/web",
            &[],
            sign(Some("a.example.com"), &[]),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (403, vec!["permission denied".into()])
    );
    assert_eq!(c.get("pki_int/sign/web", &token).await.0, 405);
    assert!(vault.issued().len() == 1);
}

#[tokio::test]
async fn role_flags_change_what_is_signed() {
    let vault = vault_with_pki();
    // A role reading names from the request, with IP and URI SANs.
    vault
        .add_role(
            None,
            "pki_int",
            "api",
            RoleConfig {
                allowed_domains: vec!["example.com".into()],
                allow_bare_domains: true,
                allow_subdomains: true,
                use_csr_sans: false,
                use_csr_common_name: false,
                allowed_uri_sans: vec!["spiffe://cluster.local/*".into()],
                ..RoleConfig::default()
            },
        )
        .unwrap();
    let token = vault.root_token();
    let c = client(&vault, None);
    let (csr_pem, _) = csr(Some("ignored.example.com"), &["ignored.example.com"]);
    let (status, body) = c
        .post(
            "pki_int/sign/api",
            &token,
            json!({"csr": csr_pem, "common_name": "example.com",
                   "alt_names": "b.example.com,a.example.com", "ip_sans": "10.1.2.3",
                   "uri_sans": "spiffe://cluster.local/ns/a/sa/b"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let leaf = body["data"]["certificate"].as_str().unwrap();
    let (cn, dns, ips) = names_of(leaf);
    assert_eq!(cn.as_deref(), Some("example.com"));
    assert_eq!(dns, ["example.com", "a.example.com", "b.example.com"]);
    assert_eq!(ips, ["10.1.2.3".parse::<IpAddr>().unwrap()]);

    let (status, body) = c
        .post(
            "pki_int/sign/api",
            &token,
            json!({"csr": csr_pem, "common_name": "example.com",
                   "uri_sans": "spiffe://elsewhere/x"}),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (
            400,
            vec!["URI Subject Alternative Names were provided via the API which are not valid for this role: spiffe://elsewhere/x".into()]
        )
    );
    let (status, body) = c
        .post(
            "pki_int/sign/api",
            &token,
            json!({"csr": csr_pem, "common_name": "example.com", "ip_sans": "nonsense"}),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (
            400,
            vec![r#"the value "nonsense" is not a valid IP address"#.into()]
        )
    );
}

#[tokio::test]
async fn ttl_is_capped_at_the_roles_max_ttl() {
    let vault = vault_with_pki();
    let token = vault.root_token();
    let c = client(&vault, None);
    let (csr_pem, _) = csr(Some("long.example.com"), &[]);
    let (status, body) = c
        .post(
            "pki_int/sign/web",
            &token,
            json!({"csr": csr_pem, "ttl": "2160h"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["warnings"],
        json!([r#"TTL "2160h0m0s" is longer than permitted maxTTL "720h0m0s", so using maxTTL"#])
    );
    let expiration = body["data"]["expiration"].as_i64().unwrap();
    assert!((expiration - now() - 30 * 24 * 3600).abs() <= 5);

    // Seconds as a number and as a string.
    for ttl in [json!(600), json!("600")] {
        let (_, body) = c
            .post(
                "pki_int/sign/web",
                &token,
                json!({"csr": csr_pem, "ttl": ttl}),
            )
            .await;
        let expiration = body["data"]["expiration"].as_i64().unwrap();
        assert!((expiration - now() - 600).abs() <= 5, "{ttl}");
        assert_eq!(body["warnings"], Value::Null);
    }
    let (status, body) = c
        .post(
            "pki_int/sign/web",
            &token,
            json!({"csr": csr_pem, "ttl": "soon"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(errors(&body)[0].contains(r#"for field "ttl""#), "{body}");
}

#[tokio::test]
async fn sign_verbatim_takes_the_csr_as_it_is() {
    let vault = vault_with_pki();
    let token = vault.root_token();
    let c = client(&vault, None);
    let (csr_pem, _) = csr(Some("anything.test"), &["anything.test", "10.9.8.7"]);

    for path in ["pki_int/sign-verbatim", "pki_int/sign-verbatim/web"] {
        let (status, body) = c
            .post(path, &token, json!({"csr": csr_pem, "ttl": "1h"}))
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        let (cn, dns, ips) = names_of(body["data"]["certificate"].as_str().unwrap());
        assert_eq!(cn.as_deref(), Some("anything.test"));
        assert_eq!(dns, ["anything.test"]);
        assert_eq!(ips, ["10.9.8.7".parse::<IpAddr>().unwrap()]);
    }
    let (status, body) = c
        .post(
            "pki_int/sign-verbatim/nope",
            &token,
            json!({"csr": csr_pem}),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (400, vec!["unknown role: nope".into()])
    );
    // The role's max_ttl still applies.
    let (_, body) = c
        .post(
            "pki_int/sign-verbatim/web",
            &token,
            json!({"csr": csr_pem, "ttl": "9000h"}),
        )
        .await;
    assert!(body["warnings"][0].as_str().unwrap().contains("maxTTL"));
    assert_eq!(vault.requests().get("sign-verbatim"), Some(&4));
}

// ---------------------------------------------------------------------------------
// Namespaces

#[tokio::test]
async fn namespaces_keep_mounts_and_tokens_apart() {
    let vault = VaultEmulator::start();
    for ns in ["team-a", "team-b"] {
        vault.add_pki_mount(Some(ns), "pki").unwrap();
        vault
            .add_role(
                Some(ns),
                "pki",
                "web",
                RoleConfig {
                    allowed_domains: vec![format!("{ns}.example.com")],
                    allow_subdomains: true,
                    ..RoleConfig::default()
                },
            )
            .unwrap();
    }
    vault
        .add_approle(Some("team-a"), "approle", "ra", "sa", Duration::ZERO)
        .unwrap();
    let token_a = vault.create_token(Some("team-a"), &[], Duration::from_secs(600), true);
    let c = client(&vault, None);
    let (csr_a, _) = csr(Some("www.team-a.example.com"), &[]);
    let sign = json!({"csr": csr_a});

    // The header, with or without trailing slash, and the path prefix.
    for (headers, path) in [
        (vec![("X-Vault-Namespace", "team-a")], "pki/sign/web"),
        (vec![("X-Vault-Namespace", "team-a/")], "pki/sign/web"),
        (vec![], "team-a/pki/sign/web"),
    ] {
        let mut headers = headers;
        headers.push(("X-Vault-Token", &token_a));
        let (status, body) = c.call(Method::POST, path, &headers, sign.clone()).await;
        assert_eq!(status, 200, "{headers:?} {path}: {body}");
        let issued = vault.issued();
        assert_eq!(issued.last().unwrap().namespace, "team-a");
        let chain = vault.pki_chain(Some("team-a"), "pki").unwrap();
        assert!(signed_by(
            body["data"]["certificate"].as_str().unwrap(),
            &chain.intermediate_pem
        ));
    }
    let (status, body) = c
        .call(
            Method::GET,
            "auth/token/lookup-self",
            &[("X-Vault-Namespace", "team-a"), ("X-Vault-Token", &token_a)],
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["namespace_path"], "team-a/");

    // team-a's token is nothing in team-b or the root namespace.
    let (status, _) = c
        .call(
            Method::POST,
            "pki/sign/web",
            &[("X-Vault-Namespace", "team-b"), ("X-Vault-Token", &token_a)],
            sign.clone(),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(c.get("auth/token/lookup-self", &token_a).await.0, 403);
    // The root namespace has no pki mount; the root token works anywhere.
    let root = vault.root_token();
    let (status, _) = c.post("pki/sign/web", &root, sign.clone()).await;
    assert_eq!(status, 404);
    let (status, body) = c
        .call(
            Method::POST,
            "pki/sign/web",
            &[("X-Vault-Namespace", "team-b"), ("X-Vault-Token", &root)],
            sign.clone(),
        )
        .await;
    assert_eq!(
        (status, errors(&body)),
        (
            400,
            vec!["common name www.team-a.example.com not allowed by this role".into()]
        ),
        "team-b's role judges the names"
    );

    // Logins: the mount exists in team-a only; the token is team-a's.
    let login = json!({"role_id": "ra", "secret_id": "sa"});
    let (status, _) = c.login("auth/approle/login", login.clone()).await;
    assert_eq!(status, 403);
    let (status, body) = c
        .call(
            Method::POST,
            "auth/approle/login",
            &[("X-Vault-Namespace", "team-a")],
            login.clone(),
        )
        .await;
    assert_eq!(status, 200);
    let from_login = body["auth"]["client_token"].as_str().unwrap().to_string();
    let (status, _) = c
        .call(
            Method::GET,
            "team-a/auth/token/lookup-self",
            &[("X-Vault-Token", &from_login)],
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = c
        .call(
            Method::GET,
            "auth/token/lookup-self",
            &[
                ("X-Vault-Namespace", "team-b"),
                ("X-Vault-Token", &from_login),
            ],
            Value::Null,
        )
        .await;
    assert_eq!(status, 403);
    // An unknown namespace has no routes.
    let (status, _) = c
        .call(
            Method::GET,
            "auth/token/lookup-self",
            &[("X-Vault-Namespace", "team-z"), ("X-Vault-Token", &root)],
            Value::Null,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn rsa_and_p384_keys_are_signed() {
    let vault = vault_with_pki();
    let c = client(&vault, None);
    for alg in [&rcgen::PKCS_RSA_SHA256, &rcgen::PKCS_ECDSA_P384_SHA384] {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["k.example.com".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "k.example.com");
        let csr_pem = params.serialize_request(&key).unwrap().pem().unwrap();
        let (status, body) = c
            .post(
                "pki_int/sign/web",
                &vault.root_token(),
                json!({"csr": csr_pem}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let leaf_der = der_of(body["data"]["certificate"].as_str().unwrap());
        let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
        assert_eq!(
            leaf.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw(),
            "the leaf certifies the CSR's key"
        );
    }
}
