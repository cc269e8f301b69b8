//! Issuances for the fault and write-count tests, and what they left in a test's
//! namespace: a Certificate to issue, its issuer Ready, a client config of the
//! test's own (to wrap in a counting or crashing layer), the API writes a client
//! made, temporary key Secrets still there, and CertificateRequests per Certificate.

use std::collections::BTreeMap;
use std::time::Duration;

use certgate::api::{CertificateRequest, ClusterIssuer, ConditionStatus, Issuer, IssuerStatus};
use certgate_sandbox::TestEnv;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

/// Applies `doc` in the test's scope (`super::place`).
pub async fn apply(env: &TestEnv, doc: Value) {
    let doc = super::place(env, doc);
    certgate::manifests::apply(&env.client, "test", &[doc], "test")
        .await
        .unwrap();
}

/// Waits until the Issuer `name` in `namespace`, or the ClusterIssuer `name` when
/// `namespace` is `None`, has its Ready condition True.
pub async fn wait_issuer_ready(client: &kube::Client, namespace: Option<&str>, name: &str) {
    let ready = |status: Option<IssuerStatus>| {
        status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
            .then_some(())
    };
    let what = match namespace {
        Some(ns) => format!("Issuer {ns}/{name} Ready"),
        None => format!("ClusterIssuer {name} Ready"),
    };
    super::wait_for(&what, async || match namespace {
        Some(ns) => ready(
            Api::<Issuer>::namespaced(client.clone(), ns)
                .get(name)
                .await
                .ok()?
                .status,
        ),
        None => ready(
            Api::<ClusterIssuer>::all(client.clone())
                .get(name)
                .await
                .ok()?
                .status,
        ),
    })
    .await;
}

/// A client config for the test's API server (sandbox or real), through a
/// kubeconfig written under the temp folder `<tag>-<namespace>`: a client of its
/// own to build with a tower layer.
pub async fn client_config(env: &TestEnv, tag: &str) -> kube::Config {
    let dir = std::env::temp_dir().join(format!("{tag}-{}", env.namespace));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    env.write_kubeconfig(&path).unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap()
}

/// A Certificate for `<name>.example.com` (ECDSA P-256, Secret `<name>-tls`) from the
/// issuer `name` of `kind` (Issuer or ClusterIssuer).
pub fn certificate(name: &str, (issuer, kind): (&str, &str)) -> Value {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": name},
        "spec": {"secretName": format!("{name}-tls"), "commonName": format!("{name}.example.com"),
            "dnsNames": [format!("{name}.example.com")],
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"name": issuer, "kind": kind}}})
}

/// `VERB resource[/subresource]` of a write request, `None` for reads and watches.
pub fn write_of(method: &http::Method, uri: &http::Uri) -> Option<String> {
    if matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    ) {
        return None;
    }
    Some(request_name(method, uri))
}

/// `GET resource[/subresource]` of a read of one object or a list, `None` for
/// watches (they stay open: the shared watches' cost is not per certificate) and for
/// writes.
pub fn read_of(method: &http::Method, uri: &http::Uri) -> Option<String> {
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    (*method == http::Method::GET && !watch).then(|| request_name(method, uri))
}

/// `VERB resource[/subresource]` of any API request.
fn request_name(method: &http::Method, uri: &http::Uri) -> String {
    // /api/v1/namespaces/<ns>/<plural>[/<name>[/<sub>]] or /apis/<g>/<v>/…
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let after_version = if segments.first() == Some(&"api") {
        2
    } else {
        3
    };
    let rest = segments.get(after_version..).unwrap_or_default();
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let what = match rest {
        [plural] | [plural, _] => plural.to_string(),
        [plural, _, sub, ..] => format!("{plural}/{sub}"),
        [] => "?".to_string(),
    };
    format!("{method} {what}")
}

/// The temporary private key Secrets (`cert-manager.io/next-private-key=true`) whose
/// names start with `prefix`, once they stop going away (up to 20 s: they are
/// deleted after issuance).
pub async fn temporary_keys_left(env: &TestEnv, prefix: &str) -> Vec<String> {
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);
    let next_keys = ListParams::default().labels("cert-manager.io/next-private-key=true");
    let mut left = Vec::new();
    for _ in 0..100 {
        left = secrets
            .list(&next_keys)
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .filter(|n| n.starts_with(prefix))
            .collect();
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    left
}

/// How many CertificateRequests each Certificate of the test's namespace has (by
/// `cert-manager.io/certificate-name`).
pub async fn requests_per_certificate(env: &TestEnv) -> BTreeMap<String, usize> {
    requests_per_certificate_in(&env.client, &env.namespace).await
}

/// How many CertificateRequests each Certificate of `namespace` has.
pub async fn requests_per_certificate_in(
    client: &kube::Client,
    namespace: &str,
) -> BTreeMap<String, usize> {
    let requests: Api<CertificateRequest> = Api::namespaced(client.clone(), namespace);
    let mut per_certificate = BTreeMap::new();
    for r in requests.list(&ListParams::default()).await.unwrap().items {
        let owner = r
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("cert-manager.io/certificate-name").cloned())
            .unwrap_or_default();
        *per_certificate.entry(owner).or_default() += 1;
    }
    per_certificate
}
