//! Taking over from cert-manager: objects as cert-manager v1.21 writes them (built here
//! from its formats, not by certgate: Secret annotations from
//! `internal/controller/certificates/secrets.go` and `issuing/internal/secret.go`,
//! CertificateRequests `<certificate>-<revision>` with its annotations, Certificate
//! status with `revision` and `renewalTime` = notAfter − ⅓ of the lifetime), then
//! certgate starts: nothing is re-issued, no Secret is rewritten, renewal times stay.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use certgate::api::{Certificate, CertificateRequest};
use certgate::controller::RunningControllers;
use certgate_sandbox::TestEnv;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

const LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The one-use CA of the fixture: its PEM and a signer.
struct Ca {
    pem: String,
    key_pair: certgate::issuers::ca::CaKeyPair,
    key_pem: String,
}

fn ca() -> Ca {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "takeover CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    let data = BTreeMap::from([
        ("tls.crt".to_string(), cert.pem().into_bytes()),
        ("tls.key".to_string(), key.serialize_pem().into_bytes()),
    ]);
    Ca {
        pem: cert.pem(),
        key_pair: certgate::issuers::ca::CaKeyPair::from_secret_data(&data).unwrap(),
        key_pem: key.serialize_pem(),
    }
}

/// What cert-manager left for one Certificate: its key (PKCS#1/SEC1 PEM, cert-manager's
/// default encoding), its CSR (made by rcgen, not by certgate) and the signed leaf.
struct Issued {
    key_pem: String,
    csr_pem: String,
    leaf_pem: String,
    not_before: String,
    not_after: String,
    renewal: String,
}

fn issue(ca: &Ca, dns: &[&str], algorithm: &str) -> Issued {
    use certgate::api::certificate::PrivateKeyEncoding;
    use certgate::pki::key::{KeyAlgorithm, PrivateKey};
    let alg = match algorithm {
        "RSA" => KeyAlgorithm::Rsa(2048),
        _ => KeyAlgorithm::Ecdsa(256),
    };
    let key = PrivateKey::generate(alg).unwrap();
    let pkcs8 = key.to_pem(PrivateKeyEncoding::Pkcs8).unwrap();
    let key_pem = key.to_pem(PrivateKeyEncoding::Pkcs1).unwrap();
    let rc_key = rcgen::KeyPair::from_pem(&pkcs8).unwrap();
    let mut params =
        rcgen::CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    // cert-manager's default usages.
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    let csr_pem = params.serialize_request(&rc_key).unwrap().pem().unwrap();
    let signed = ca
        .key_pair
        .sign(
            csr_pem.as_bytes(),
            &certgate::issuers::signer::SignOptions::new(LIFETIME),
        )
        .unwrap();
    let der = certgate::pki::chain::certificates_der(&signed.certificate_pem).unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&der[0]).unwrap();
    let nb = leaf.validity().not_before.timestamp();
    let na = leaf.validity().not_after.timestamp();
    let renewal = na - (na - nb) / 3;
    let at = |s: i64| jiff::Timestamp::from_second(s).unwrap().to_string();
    Issued {
        key_pem,
        csr_pem,
        leaf_pem: signed.certificate_pem.clone(),
        not_before: at(nb),
        not_after: at(na),
        renewal: at(renewal),
    }
}

/// Applies `doc` with server-side apply as `manager` (cert-manager applies Secrets as
/// `cert-manager-certificates-issuing`).
async fn apply_as(client: &kube::Client, ns: &str, doc: &Value, manager: &str) {
    let api_version = doc["apiVersion"].as_str().unwrap();
    let kind = doc["kind"].as_str().unwrap();
    let name = doc["metadata"]["name"].as_str().unwrap();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    let plural = match kind {
        "Secret" => "secrets",
        "Certificate" => "certificates",
        "CertificateRequest" => "certificaterequests",
        "Issuer" => "issuers",
        "Ingress" => "ingresses",
        other => panic!("no plural for {other}"),
    };
    let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    api.patch(
        name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(doc),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {kind} {name}: {e}"));
}

/// A Certificate as a user (or cert-manager's ingress-shim, with `owner`) wrote it.
struct Written<'a> {
    name: &'a str,
    secret: &'a str,
    dns: &'a [&'a str],
    /// `spec.privateKey.algorithm`; RSA 2048 when unset, as cert-manager.
    algorithm: Option<&'a str>,
    /// The ingress-shim's: an ownerReference, `issuerRef.group` and default usages.
    owner: Option<Value>,
}

/// What to compare afterwards.
struct Before {
    secret_rv: String,
    certificate_generation: Option<i64>,
    renewal: String,
}

/// One Certificate as cert-manager left it: the Certificate (status Ready at revision
/// 1), its Secret and its CertificateRequest `<name>-1`.
async fn cert_manager_wrote(env: &TestEnv, ca: &Ca, w: &Written<'_>) -> Before {
    let (name, dns) = (w.name, w.dns);
    let ns = env.namespace.clone();
    let issued = issue(ca, dns, w.algorithm.unwrap_or("RSA"));
    let mut spec = json!({"secretName": w.secret, "dnsNames": dns,
        "issuerRef": {"name": "ca", "kind": "Issuer"}});
    if let Some(a) = w.algorithm {
        spec["privateKey"] = json!({"algorithm": a});
    }
    let mut metadata = json!({"name": name, "namespace": ns});
    let manager = match &w.owner {
        Some(owner) => {
            metadata["ownerReferences"] = json!([owner]);
            spec["issuerRef"]["group"] = json!("cert-manager.io");
            spec["usages"] = json!(["digital signature", "key encipherment"]);
            "cert-manager-ingress-shim"
        }
        None => "kubectl-client-side-apply",
    };
    apply_as(
        &env.client,
        &ns,
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": metadata, "spec": spec}),
        manager,
    )
    .await;
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    let cert = certs.get(name).await.unwrap();
    let uid = cert.metadata.uid.clone().unwrap();
    // The Secret, as the issuing controller applies it (`issuer-group` is the
    // issuerRef's group as written, empty when unset).
    let group = spec["issuerRef"]["group"].as_str().unwrap_or_default();
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": w.secret, "namespace": ns,
            "labels": {"controller.cert-manager.io/fao": "true"},
            "annotations": {
                "cert-manager.io/alt-names": dns.join(","),
                "cert-manager.io/certificate-name": name,
                "cert-manager.io/common-name": "",
                "cert-manager.io/ip-sans": "",
                "cert-manager.io/issuer-group": group,
                "cert-manager.io/issuer-kind": "Issuer",
                "cert-manager.io/issuer-name": "ca",
                "cert-manager.io/uri-sans": ""}},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(issued.leaf_pem.as_bytes()),
                 "tls.key": b64(issued.key_pem.as_bytes()),
                 "ca.crt": b64(ca.pem.as_bytes())}});
    apply_as(
        &env.client,
        &ns,
        &secret,
        "cert-manager-certificates-issuing",
    )
    .await;
    // The request of revision 1, owned by the Certificate, signed; its `spec.usages`
    // are the Certificate's.
    let mut request_spec = json!({"request": b64(issued.csr_pem.as_bytes()),
        "issuerRef": spec["issuerRef"].clone()});
    if let Some(usages) = spec.get("usages") {
        request_spec["usages"] = usages.clone();
    }
    let request = json!({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
        "metadata": {"name": format!("{name}-1"), "namespace": ns,
            "annotations": {
                "cert-manager.io/certificate-name": name,
                "cert-manager.io/certificate-revision": "1",
                "cert-manager.io/private-key-secret-name": format!("{name}-x7k2p")},
            "ownerReferences": [{"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
        "spec": request_spec});
    apply_as(
        &env.client,
        &ns,
        &request,
        "cert-manager-certificates-request-manager",
    )
    .await;
    let requests: Api<CertificateRequest> = Api::namespaced(env.client.clone(), &ns);
    let t = "2026-11-01T10:00:00Z";
    requests
        .patch_status(
            &format!("{name}-1"),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "certificate": b64(issued.leaf_pem.as_bytes()),
                "ca": b64(ca.pem.as_bytes()),
                "conditions": [
                    {"type": "Approved", "status": "True", "reason": "cert-manager.io",
                     "message": "Certificate request has been approved by cert-manager.io", "lastTransitionTime": t},
                    {"type": "Ready", "status": "True", "reason": "Issued",
                     "message": "Certificate fetched from issuer successfully", "lastTransitionTime": t}]}})),
        )
        .await
        .unwrap();
    certs
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                    "message": "Certificate is up to date and has not expired",
                    "lastTransitionTime": t, "observedGeneration": 1}],
                "notBefore": issued.not_before, "notAfter": issued.not_after,
                "renewalTime": issued.renewal, "revision": 1}})),
        )
        .await
        .unwrap();
    let secret_rv = Api::<Secret>::namespaced(env.client.clone(), &ns)
        .get(w.secret)
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    Before {
        secret_rv,
        certificate_generation: cert.metadata.generation,
        renewal: issued.renewal,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certgate_takes_over_cert_manager_certificates_without_reissuing() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let ca = ca();
    let ca_secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "ca-key-pair", "namespace": ns}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(ca.pem.as_bytes()), "tls.key": b64(ca.key_pem.as_bytes())}});
    apply_as(&env.client, &ns, &ca_secret, "kubectl").await;
    apply_as(
        &env.client,
        &ns,
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
            "metadata": {"name": "ca", "namespace": ns}, "spec": {"ca": {"secretName": "ca-key-pair"}}}),
        "kubectl",
    )
    .await;
    // An Ingress whose Certificate cert-manager's ingress-shim made.
    apply_as(
        &env.client,
        &ns,
        &json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": ns, "annotations": {"cert-manager.io/issuer": "ca"}},
            "spec": {"tls": [{"hosts": ["shop.example"], "secretName": "shop-tls"}],
                "rules": [{"host": "shop.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "shop", "port": {"number": 80}}}}]}}]}}),
        "kubectl",
    )
    .await;
    let ingress =
        Api::<k8s_openapi::api::networking::v1::Ingress>::namespaced(env.client.clone(), &ns)
            .get("shop")
            .await
            .unwrap();
    let ingress_owner = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "name": "shop", "uid": ingress.metadata.uid.clone().unwrap(),
        "controller": true, "blockOwnerDeletion": true});
    // RSA 2048 by default (no privateKey), ECDSA, and the ingress-shim's.
    let written = [
        Written {
            name: "web",
            secret: "web-tls",
            dns: &["web.example"],
            algorithm: None,
            owner: None,
        },
        Written {
            name: "api",
            secret: "api-tls",
            dns: &["api.example", "api2.example"],
            algorithm: Some("ECDSA"),
            owner: None,
        },
        Written {
            name: "shop-tls",
            secret: "shop-tls",
            dns: &["shop.example"],
            algorithm: None,
            owner: Some(ingress_owner),
        },
    ];
    let mut before = BTreeMap::new();
    for w in &written {
        before.insert(w.name, (w.secret, cert_manager_wrote(&env, &ca, w).await));
    }

    let controllers = RunningControllers::start(env.client.clone(), common::scoped_config(&env));
    // Give every loop its passes: the metrics say when each Certificate was looked at
    // (its series is set by the controller), then some more time for any write.
    let metrics = controllers.metrics.clone();
    common::wait_for("certgate to look at every Certificate", async || {
        let text = metrics.render(0.0);
        written
            .iter()
            .all(|w| {
                text.lines().any(|l| {
                    l.starts_with("certmanager_certificate_ready_status{condition=\"True\"")
                        && l.contains(&format!("name=\"{}\"", w.name))
                        && l.ends_with(" 1")
                })
            })
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    let requests: Api<CertificateRequest> = Api::namespaced(env.client.clone(), &ns);
    for (name, (secret_name, b)) in &before {
        let secret = secrets.get(secret_name).await.unwrap();
        assert_eq!(
            secret.metadata.resource_version.as_deref(),
            Some(b.secret_rv.as_str()),
            "certgate rewrote Secret {secret_name}: {:?} {:?} {:?}",
            secret.metadata.annotations,
            secret.metadata.labels,
            secret.metadata.managed_fields,
        );
        let cert = certs.get(name).await.unwrap();
        assert_eq!(
            cert.metadata.generation, b.certificate_generation,
            "the spec of {name} was changed: {:?}",
            cert.spec
        );
        let status = cert.status.clone().unwrap();
        assert_eq!(status.revision, Some(1), "{name} was re-issued: {status:?}");
        assert_eq!(
            status.renewal_time.as_ref().map(|t| t.0.to_string()),
            Some(b.renewal.clone()),
            "{name}'s renewal time moved"
        );
        assert!(
            status
                .conditions
                .iter()
                .flatten()
                .all(|c| c.type_ != "Issuing"),
            "{name} is being issued again: {status:?}"
        );
    }
    let names: Vec<String> = requests
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|r| r.metadata.name)
        .collect();
    assert_eq!(
        names.len(),
        written.len(),
        "new CertificateRequests: {names:?}"
    );
    let keys = secrets
        .list(&ListParams::default().labels("cert-manager.io/next-private-key=true"))
        .await
        .unwrap()
        .items;
    assert!(keys.is_empty(), "a next private key was generated");
    controllers.stop().await;
    env.cleanup().await;
}
