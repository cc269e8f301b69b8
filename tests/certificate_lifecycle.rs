//! The Certificate lifecycle end to end: the controllers run against the sandbox API
//! server (or `CERTGATE_TEST_KUBECONFIG`) through the real `kube::Client`, with
//! SelfSigned and CA issuers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::{Certificate, CertificateRequest, ClusterIssuer, Issuer};
use certgate::controller::{ControllerConfig, RunningControllers};
use certgate::runtime::clock::ManualClock;
use certgate_sandbox::TestEnv;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct Harness {
    env: TestEnv,
    clock: ManualClock,
    controllers: Option<RunningControllers>,
}

impl Harness {
    async fn start() -> Harness {
        let env = TestEnv::start().await.unwrap();
        env.apply_crds(&common::checked_in_crds()).await.unwrap();
        let clock = ManualClock::default();
        let mut h = Harness {
            env,
            clock,
            controllers: None,
        };
        h.start_controllers();
        h
    }

    fn start_controllers(&mut self) {
        let config = ControllerConfig {
            clock: Arc::new(self.clock.clone()),
            ..common::scoped_config(&self.env)
        };
        self.controllers = Some(RunningControllers::start(self.env.client.clone(), config));
    }

    fn ns(&self) -> &str {
        &self.env.namespace
    }

    fn certs(&self) -> Api<Certificate> {
        Api::namespaced(self.env.client.clone(), self.ns())
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.env.client.clone(), self.ns())
    }

    fn requests(&self) -> Api<CertificateRequest> {
        Api::namespaced(self.env.client.clone(), self.ns())
    }

    async fn apply(&self, doc: Value) {
        let docs = vec![common::place(&self.env, doc)];
        certgate::manifests::apply(&self.env.client, "test", &docs, "test")
            .await
            .unwrap();
    }

    async fn selfsigned_issuer(&self) {
        self.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "selfsigned"}, "spec": {"selfSigned": {}}})).await;
    }

    async fn certificate(&self, name: &str, spec: Value) {
        let mut full = json!({"secretName": format!("{name}-tls"), "issuerRef": {"name": "selfsigned"}, "privateKey": {"algorithm": "ECDSA", "size": 256}});
        for (k, v) in spec.as_object().unwrap() {
            full[k] = v.clone();
        }
        self.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name}, "spec": full})).await;
    }

    /// Waits until `check` holds for the Certificate; panics with its last state otherwise.
    async fn wait_for(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Certificate) -> bool,
    ) -> Certificate {
        let mut last = None;
        // Up to 60 s: a loaded CI machine runs the whole file in parallel.
        for _ in 0..1200 {
            if let Some(c) = self.certs().get_opt(name).await.unwrap() {
                if check(&c) {
                    return c;
                }
                last = Some(c);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "Certificate {name} never became {what}: {:#?}",
            last.map(|c| c.status)
        );
    }

    async fn wait_ready(&self, name: &str) -> Certificate {
        self.wait_for(name, "Ready", |c| {
            ready(c)
                == Some((
                    "True".into(),
                    "Certificate is up to date and has not expired".into(),
                ))
        })
        .await
    }

    async fn wait_revision(&self, name: &str, revision: i32) -> Certificate {
        self.wait_for(name, &format!("Ready at revision {revision}"), |c| {
            ready(c).is_some_and(|(s, _)| s == "True")
                && c.status.as_ref().and_then(|s| s.revision) == Some(revision)
        })
        .await
    }

    async fn secret_data(&self, name: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.secrets()
            .get(name)
            .await
            .unwrap()
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    }

    async fn temporary_keys(&self) -> Vec<String> {
        self.secrets()
            .list(&ListParams::default().labels("cert-manager.io/next-private-key=true"))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .collect()
    }

    /// The temporary key Secrets still there once clean-up has had its time: the key
    /// Secret goes after the write that makes the Certificate Ready (as in
    /// cert-manager, where the key manager deletes it later still).
    async fn temporary_keys_after_cleanup(&self) -> Vec<String> {
        let mut keys = self.temporary_keys().await;
        for _ in 0..100 {
            if keys.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            keys = self.temporary_keys().await;
        }
        keys
    }

    /// Makes the controllers look at a Certificate again (as any change would).
    async fn poke(&self, name: &str) {
        let patch = json!({"metadata": {"annotations": {"test/poke": format!("{}", jiff::Timestamp::now().as_nanosecond())}}});
        self.certs()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }

    async fn finish(mut self) {
        if let Some(c) = self.controllers.take() {
            c.stop().await;
        }
        self.env.cleanup().await;
    }
}

fn ready(c: &Certificate) -> Option<(String, String)> {
    let cond = c
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    let status = serde_json::to_value(cond.status)
        .ok()?
        .as_str()?
        .to_string();
    Some((status, cond.message.clone().unwrap_or_default()))
}

fn leaf(pem: &[u8]) -> x509_parser::pem::Pem {
    x509_parser::pem::parse_x509_pem(pem).unwrap().1
}

#[tokio::test(flavor = "multi_thread")]
async fn a_self_signed_certificate_is_issued_as_cert_manager_does() {
    let h = Harness::start().await;
    h.selfsigned_issuer().await;
    // Annotations a GitOps tool wrote, and one of the team's own.
    h.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "web", "annotations": {"argocd.argoproj.io/tracking-id": "app:cert-manager.io/Certificate:web",
            "fluxcd.io/sync-checksum": "abc", "team.example.com/owner": "web"}},
        "spec": {"secretName": "web-tls", "issuerRef": {"name": "selfsigned"}, "privateKey": {"algorithm": "ECDSA", "size": 256},
            "commonName": "web.example", "dnsNames": ["web.example", "www.example"], "ipAddresses": ["10.1.2.3"]}}))
        .await;
    let cert = h.wait_ready("web").await;
    let status = cert.status.clone().unwrap();
    assert_eq!(status.revision, Some(1));
    assert!(
        status.not_before.is_some() && status.not_after.is_some() && status.renewal_time.is_some()
    );
    assert_eq!(status.next_private_key_secret_name, None);
    assert!(
        status
            .conditions
            .unwrap()
            .iter()
            .all(|c| c.type_ != "Issuing"),
        "Issuing is removed after issuance"
    );

    let secret = h.secrets().get("web-tls").await.unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.clone().unwrap();
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        assert!(data.contains_key(key), "{key} in the Secret");
    }
    let annotations = secret.metadata.annotations.clone().unwrap();
    assert_eq!(
        annotations
            .get("cert-manager.io/certificate-name")
            .map(String::as_str),
        Some("web")
    );
    assert_eq!(
        annotations
            .get("cert-manager.io/issuer-name")
            .map(String::as_str),
        Some("selfsigned")
    );
    assert_eq!(
        annotations
            .get("cert-manager.io/issuer-kind")
            .map(String::as_str),
        Some("Issuer")
    );
    assert_eq!(
        annotations
            .get("cert-manager.io/common-name")
            .map(String::as_str),
        Some("web.example")
    );
    assert_eq!(
        annotations
            .get("cert-manager.io/alt-names")
            .map(String::as_str),
        Some("web.example,www.example")
    );
    assert_eq!(
        annotations
            .get("cert-manager.io/ip-sans")
            .map(String::as_str),
        Some("10.1.2.3")
    );
    let pem = leaf(&data["tls.crt"].0);
    let x509 = pem.parse_x509().unwrap();
    assert_eq!(x509.subject().to_string(), "CN=web.example");
    let validity = x509.validity().not_after.timestamp() - x509.validity().not_before.timestamp();
    assert_eq!(validity, 90 * 86_400, "90 days by default");
    // The key in the Secret is the certificate's.
    let key = certgate::pki::key::PrivateKey::from_pem(&data["tls.key"].0).unwrap();
    assert!(certgate::pki::key::public_key_matches_cert(&data["tls.crt"].0, &key).unwrap());

    // Events as cert-manager writes them, in order. The last is recorded after the
    // write that makes the Certificate Ready: wait for it to be there.
    let mut seen: Vec<(String, String)> = Vec::new();
    for _ in 0..100 {
        let events = Api::<Event>::namespaced(h.env.client.clone(), h.ns())
            .list(
                &ListParams::default()
                    .fields("involvedObject.name=web,involvedObject.kind=Certificate"),
            )
            .await
            .unwrap();
        seen = events
            .items
            .iter()
            .map(|e| {
                (
                    e.reason.clone().unwrap_or_default(),
                    e.message.clone().unwrap_or_default(),
                )
            })
            .collect();
        seen.dedup();
        if seen.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reasons: Vec<&str> = seen.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        reasons,
        ["Issuing", "Generated", "Requested", "Issuing"],
        "{seen:#?}"
    );
    assert_eq!(seen[0].1, "Issuing certificate as Secret does not exist");
    assert!(
        seen[1]
            .1
            .starts_with("Stored new private key in temporary Secret resource \"web-"),
        "{}",
        seen[1].1
    );
    assert_eq!(
        seen[2].1,
        "Created new CertificateRequest resource \"web-1\""
    );
    assert_eq!(seen[3].1, "The certificate has been successfully issued");

    // The request was approved by the built-in approver and issued.
    let req = h.requests().get("web-1").await.unwrap();
    // It carries the Certificate's annotations but those cert-manager never copies.
    let req_annotations = req.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        req_annotations
            .get("team.example.com/owner")
            .map(String::as_str),
        Some("web")
    );
    assert!(
        !req_annotations
            .keys()
            .any(|k| k.starts_with("argocd.argoproj.io/") || k.starts_with("fluxcd.io/")),
        "{req_annotations:?}"
    );
    let conds = req.status.unwrap().conditions.unwrap();
    let approved = conds.iter().find(|c| c.type_ == "Approved").unwrap();
    assert_eq!(approved.reason.as_deref(), Some("cert-manager.io"));
    assert_eq!(
        conds
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .reason
            .as_deref(),
        Some("Issued")
    );
    assert!(
        h.temporary_keys_after_cleanup().await.is_empty(),
        "no temporary key Secret left"
    );
    let issuer = Api::<Issuer>::namespaced(h.env.client.clone(), h.ns())
        .get("selfsigned")
        .await
        .unwrap();
    let ic = issuer.status.unwrap().conditions.unwrap();
    assert_eq!(ic[0].reason.as_deref(), Some("IsReady"));
    // Metrics with cert-manager's names.
    let text = h.controllers.as_ref().unwrap().metrics.render(0.0);
    assert!(text.contains(&format!("certmanager_certificate_expiration_timestamp_seconds{{issuer_group=\"cert-manager.io\",issuer_kind=\"Issuer\",issuer_name=\"selfsigned\",name=\"web\",namespace=\"{}\"}}", h.ns())), "{text}");
    assert!(text.contains(&format!("certmanager_certificate_ready_status{{condition=\"True\",issuer_group=\"cert-manager.io\",issuer_kind=\"Issuer\",issuer_name=\"selfsigned\",name=\"web\",namespace=\"{}\"}} 1", h.ns())));
    h.certs()
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if !h
            .controllers
            .as_ref()
            .unwrap()
            .metrics
            .render(0.0)
            .contains("name=\"web\"")
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "series removed with the Certificate");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_cluster_issuer_signs_with_a_bootstrapped_ca() {
    let h = Harness::start().await;
    h.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": format!("ss-{}", h.ns())}, "spec": {"selfSigned": {}}})).await;
    h.certificate("root", json!({"isCA": true, "commonName": "Test Root", "issuerRef": {"name": format!("ss-{}", h.ns()), "kind": "ClusterIssuer"}})).await;
    h.wait_ready("root").await;
    let ca_name = format!("ca-{}", h.ns());
    h.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": ca_name}, "spec": {"ca": {"secretName": "root-tls", "crlDistributionPoints": ["http://crl.example/root.crl"]}}})).await;
    h.certificate("leaf", json!({"dnsNames": ["leaf.example"], "usages": ["server auth", "digital signature"], "issuerRef": {"name": ca_name, "kind": "ClusterIssuer"}})).await;
    h.wait_ready("leaf").await;
    let ci = Api::<ClusterIssuer>::all(h.env.client.clone())
        .get(&ca_name)
        .await
        .unwrap();
    let c = &ci.status.unwrap().conditions.unwrap()[0];
    assert_eq!(
        (c.reason.as_deref(), c.message.as_deref()),
        (Some("KeyPairVerified"), Some("Signing CA verified"))
    );
    let root = h.secret_data("root-tls").await;
    let data = h.secret_data("leaf-tls").await;
    assert_eq!(
        data["ca.crt"], root["tls.crt"],
        "ca.crt is the CA's certificate"
    );
    let leaf_pem = leaf(&data["tls.crt"]);
    let x = leaf_pem.parse_x509().unwrap();
    assert_eq!(x.issuer().to_string(), "CN=Test Root");
    let root_pem = leaf(&root["tls.crt"]);
    let root_cert = root_pem.parse_x509().unwrap();
    x.verify_signature(Some(root_cert.public_key()))
        .expect("signed by the CA");
    assert!(root_cert.is_ca());
    let crl = x
        .get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_CRL_DISTRIBUTION_POINTS)
        .unwrap();
    assert!(crl.is_some(), "CRL distribution points from the issuer");
    for n in [format!("ss-{}", h.ns()), ca_name] {
        let _ = Api::<ClusterIssuer>::all(h.env.client.clone())
            .delete(&n, &DeleteParams::default())
            .await;
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn spec_changes_renewal_and_repairs_reissue_or_fix_the_secret() {
    let h = Harness::start().await;
    h.selfsigned_issuer().await;
    h.certificate(
        "app",
        json!({"dnsNames": ["a.example"], "revisionHistoryLimit": 1}),
    )
    .await;
    h.wait_revision("app", 1).await;
    let first_key = h.secret_data("app-tls").await["tls.key"].clone();

    // A spec change re-issues with a new key (rotationPolicy Always, the default).
    h.certificate(
        "app",
        json!({"dnsNames": ["a.example", "b.example"], "revisionHistoryLimit": 1}),
    )
    .await;
    h.wait_revision("app", 2).await;
    let data = h.secret_data("app-tls").await;
    assert_ne!(data["tls.key"], first_key, "a new key each issuance");
    let x = leaf(&data["tls.crt"]);
    let sans = x
        .parse_x509()
        .unwrap()
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .len();
    assert_eq!(sans, 2);
    // revisionHistoryLimit 1: only the current revision's request is kept.
    let mut names = Vec::new();
    for _ in 0..100 {
        names = h
            .requests()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|r| r.metadata.name)
            .collect::<Vec<_>>();
        if names == ["app-2"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(names, ["app-2"]);

    // Renewal: the clock passes renewalTime (2/3 of 90 days).
    h.clock.advance(Duration::from_secs(61 * 86_400));
    h.poke("app").await;
    h.wait_revision("app", 3).await;
    let events = Api::<Event>::namespaced(h.env.client.clone(), h.ns())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(events.items.iter().any(|e| {
        e.reason.as_deref() == Some("Issuing")
            && e.message
                .as_deref()
                .is_some_and(|m| m.starts_with("Renewing certificate as renewal was scheduled at"))
    }));

    // The Secret deleted: issued again.
    h.secrets()
        .delete("app-tls", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_revision("app", 4).await;

    // The Secret tampered with: a certificate that is not PEM is replaced.
    let patch = json!({"data": {"tls.crt": "bm90IGEgY2VydGlmaWNhdGU="}});
    h.secrets()
        .patch("app-tls", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    h.wait_revision("app", 5).await;

    // An annotation removed: repaired without a new certificate. (Removing an issuer
    // annotation re-issues, as in cert-manager: the Secret no longer says who issued it.)
    let before = h.secret_data("app-tls").await["tls.crt"].clone();
    let patch = json!({"metadata": {"annotations": {"cert-manager.io/alt-names": null}}});
    h.secrets()
        .patch("app-tls", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let mut repaired = false;
    for _ in 0..100 {
        let s = h.secrets().get("app-tls").await.unwrap();
        if s.metadata
            .annotations
            .unwrap_or_default()
            .get("cert-manager.io/alt-names")
            .map(String::as_str)
            == Some("a.example,b.example")
        {
            repaired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(repaired, "the annotation is put back");
    assert_eq!(
        h.certs().get("app").await.unwrap().status.unwrap().revision,
        Some(5)
    );
    assert_eq!(h.secret_data("app-tls").await["tls.crt"], before);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_policy_never_keeps_the_key() {
    let h = Harness::start().await;
    h.selfsigned_issuer().await;
    h.certificate("keep", json!({"dnsNames": ["k.example"], "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"}})).await;
    h.wait_revision("keep", 1).await;
    let key = h.secret_data("keep-tls").await["tls.key"].clone();
    h.certificate("keep", json!({"dnsNames": ["k.example", "k2.example"], "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"}})).await;
    h.wait_revision("keep", 2).await;
    assert_eq!(h.secret_data("keep-tls").await["tls.key"], key);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_controller_killed_mid_issuance_does_not_duplicate_requests_or_leak_keys() {
    let mut h = Harness::start().await;
    // No issuer yet: issuance stops at the CertificateRequest, pending.
    h.certificate(
        "slow",
        json!({"dnsNames": ["s.example"], "issuerRef": {"name": "later"}}),
    )
    .await;
    let waiting = h
        .wait_for("slow", "waiting on its issuer", |c| {
            ready(c).is_some_and(|(_, m)| {
                m.contains(
                    "Referenced \"Issuer\" not found: issuer.cert-manager.io \"later\" not found",
                )
            })
        })
        .await;
    assert!(
        waiting
            .status
            .unwrap()
            .next_private_key_secret_name
            .is_some()
    );
    h.controllers.take().unwrap().kill();
    h.start_controllers();
    h.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "later"}, "spec": {"selfSigned": {}}})).await;
    h.wait_revision("slow", 1).await;
    let requests = h
        .requests()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(requests.len(), 1, "one CertificateRequest for revision 1");
    let keys = h.temporary_keys_after_cleanup().await;
    assert!(keys.is_empty(), "no orphaned private key Secret: {keys:?}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_ca_key_pair_is_reported_on_the_issuer_and_the_certificate() {
    let h = Harness::start().await;
    // A Secret whose key is not the certificate's.
    h.selfsigned_issuer().await;
    h.certificate("one", json!({"isCA": true, "commonName": "one"}))
        .await;
    h.certificate("two", json!({"isCA": true, "commonName": "two"}))
        .await;
    h.wait_ready("one").await;
    h.wait_ready("two").await;
    let one = h.secret_data("one-tls").await;
    let two = h.secret_data("two-tls").await;
    let broken: Secret = serde_json::from_value(json!({
        "metadata": {"name": "broken-ca"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": base64(&one["tls.crt"]), "tls.key": base64(&two["tls.key"])}
    }))
    .unwrap();
    h.secrets()
        .create(&PostParams::default(), &broken)
        .await
        .unwrap();
    h.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "broken"}, "spec": {"ca": {"secretName": "broken-ca"}}})).await;
    let issuers: Api<Issuer> = Api::namespaced(h.env.client.clone(), h.ns());
    let mut reason = None;
    for _ in 0..100 {
        if let Some(c) = issuers
            .get("broken")
            .await
            .unwrap()
            .status
            .and_then(|s| s.conditions)
            .and_then(|c| c.into_iter().next())
        {
            reason = Some((
                c.status,
                c.reason.unwrap_or_default(),
                c.message.unwrap_or_default(),
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, reason, message) = reason.expect("the issuer gets a Ready condition");
    assert_eq!(serde_json::to_value(status).unwrap(), "False");
    assert_eq!(reason, "ErrInvalidKeyPair", "{message}");
    h.certificate(
        "victim",
        json!({"dnsNames": ["v.example"], "issuerRef": {"name": "broken"}}),
    )
    .await;
    let c = h
        .wait_for("victim", "waiting with a reason", |c| {
            ready(c).is_some_and(|(_, m)| m.contains("CertificateRequest \"victim-1\""))
        })
        .await;
    let (_, m) = ready(&c).unwrap();
    assert!(m.contains("key"), "the condition says what is wrong: {m}");
    h.finish().await;
}

fn base64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test(flavor = "multi_thread")]
async fn pkcs12_keystores_and_extra_output_formats_are_written() {
    let h = Harness::start().await;
    h.selfsigned_issuer().await;
    let pw: Secret = serde_json::from_value(
        json!({"metadata": {"name": "p12-password"}, "stringData": {"password": "changeit"}}),
    )
    .unwrap();
    h.secrets()
        .create(&PostParams::default(), &pw)
        .await
        .unwrap();
    h.certificate(
        "store",
        json!({
            "dnsNames": ["store.example"],
            "keystores": {"pkcs12": {"create": true, "passwordSecretRef": {"name": "p12-password", "key": "password"}, "profile": "Modern2023"}},
            "additionalOutputFormats": [{"type": "CombinedPEM"}, {"type": "DER"}],
            "secretTemplate": {"labels": {"team": "blue"}, "annotations": {"owner": "blue-team"}}
        }),
    )
    .await;
    h.wait_ready("store").await;
    let secret = h.secrets().get("store-tls").await.unwrap();
    let data: std::collections::BTreeMap<String, Vec<u8>> = secret
        .data
        .clone()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let p12 = &data["keystore.p12"];
    let store = p12_keystore::KeyStore::from_pkcs12(
        p12,
        "changeit",
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .unwrap();
    assert!(store.private_key_chain().is_some());
    assert!(
        p12_keystore::KeyStore::from_pkcs12(
            &data["truststore.p12"],
            "changeit",
            p12_keystore::Pkcs12ImportPolicy::Relaxed
        )
        .is_ok()
    );
    let combined = String::from_utf8(data["tls-combined.pem"].clone()).unwrap();
    assert!(combined.contains("PRIVATE KEY") && combined.contains("BEGIN CERTIFICATE"));
    assert_eq!(data["key.der"][0], 0x30, "DER starts with a SEQUENCE");
    assert_eq!(
        secret
            .metadata
            .labels
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("blue")
    );
    assert_eq!(
        secret
            .metadata
            .annotations
            .unwrap()
            .get("owner")
            .map(String::as_str),
        Some("blue-team")
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jks_keystores_are_written_and_kept_while_nothing_changes() {
    use certgate::certificates::jks::{self, JksEntry};
    let h = Harness::start().await;
    h.selfsigned_issuer().await;
    // The password Secret does not exist yet: nothing is written (cert-manager: the
    // issuance fails and is retried until it appears).
    h.certificate(
        "jks",
        json!({
            "commonName": "jks.example",
            "dnsNames": ["jks.example"],
            "keystores": {"jks": {"create": true, "alias": "MyApp", "passwordSecretRef": {"name": "jks-password", "key": "password"}}}
        }),
    )
    .await;
    common::wait_for("the CertificateRequest to be signed", async || {
        let r = h.requests().get_opt("jks-1").await.unwrap()?;
        r.status?.certificate.map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        h.secrets()
            .get_opt("jks-tls")
            .await
            .unwrap()
            .is_none_or(|s| s.data.unwrap_or_default().is_empty()),
        "no Secret without the keystore password"
    );
    let pw: Secret = serde_json::from_value(
        json!({"metadata": {"name": "jks-password"}, "stringData": {"password": "changeit"}}),
    )
    .unwrap();
    h.secrets()
        .create(&PostParams::default(), &pw)
        .await
        .unwrap();
    h.poke("jks").await;
    h.wait_ready("jks").await;

    let data = h.secret_data("jks-tls").await;
    let pem_ders = |pem: &[u8]| -> Vec<Vec<u8>> {
        x509_parser::pem::Pem::iter_from_buffer(pem)
            .map(|p| p.unwrap().contents)
            .collect()
    };
    let store = jks::decode(&data["keystore.jks"], b"changeit").unwrap();
    let aliases: Vec<&str> = store.entries.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(aliases, ["ca", "myapp"], "alias lower-cased, CA added");
    let JksEntry::PrivateKey {
        created_ms,
        protected_key,
        chain,
    } = &store.entries[1].1
    else {
        panic!("myapp is a key entry: {store:?}");
    };
    let now_ms = jiff::Timestamp::now().as_millisecond();
    assert!(
        (now_ms - i64::try_from(*created_ms).unwrap()).abs() < 3_600_000,
        "created now"
    );
    let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.der.clone()).collect();
    assert_eq!(chain, pem_ders(&data["tls.crt"]));
    assert!(store.entries.iter().all(|(_, e)| match e {
        JksEntry::PrivateKey { chain, .. } => chain.iter().all(|c| c.cert_type == "X509"),
        JksEntry::TrustedCertificate { certificate, .. } => certificate.cert_type == "X509",
    }));
    let pkcs8 = certgate::pki::key::PrivateKey::from_pem(&data["tls.key"])
        .unwrap()
        .to_der_pkcs8();
    assert_eq!(jks::recover_key(protected_key, b"changeit").unwrap(), pkcs8);
    let trust = jks::decode(&data["truststore.jks"], b"changeit").unwrap();
    let [(alias, JksEntry::TrustedCertificate { certificate, .. })] = trust.entries.as_slice()
    else {
        panic!("one trusted certificate: {trust:?}");
    };
    assert_eq!(alias, "ca");
    assert_eq!(certificate.der, pem_ders(&data["ca.crt"])[0]);
    assert!(jks::decode(&data["keystore.jks"], b"wrong").is_err());

    // The truststore is deleted: it comes back, and the keystore, still right, is kept
    // byte for byte (its salt is random: a rebuilt store would differ).
    h.secrets()
        .patch(
            "jks-tls",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"truststore.jks": null}})),
        )
        .await
        .unwrap();
    h.poke("jks").await;
    let repaired = common::wait_for("the truststore to come back", async || {
        let d = h.secret_data("jks-tls").await;
        d.contains_key("truststore.jks").then_some(d)
    })
    .await;
    assert!(
        repaired["keystore.jks"] == data["keystore.jks"],
        "the keystore is kept"
    );
    assert!(jks::decode(&repaired["truststore.jks"], b"changeit").is_ok());

    // Nothing changes any more: the Secret is not rewritten on later reconciles.
    let version = |s: Secret| s.metadata.resource_version.unwrap();
    let before = version(h.secrets().get("jks-tls").await.unwrap());
    h.poke("jks").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(version(h.secrets().get("jks-tls").await.unwrap()), before);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_temporary_certificate_fills_the_secret_until_the_issuer_signs() {
    use base64::Engine;
    let h = Harness::start().await;
    // An external issuer nobody runs here: the request stays pending until the test
    // signs it, as a slow CA would.
    h.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "temp", "annotations": {"cert-manager.io/issue-temporary-certificate": "true"}},
        "spec": {"secretName": "temp-tls", "dnsNames": ["temp.example"],
                 "privateKey": {"algorithm": "ECDSA", "size": 256},
                 "issuerRef": {"name": "slow", "kind": "SlowIssuer", "group": "slow.example.com"}}}))
    .await;
    let mut temporary = None;
    for _ in 0..1200 {
        let data = match h.secrets().get_opt("temp-tls").await.unwrap() {
            Some(s) => s.data.unwrap_or_default(),
            None => Default::default(),
        };
        if let (Some(crt), Some(key)) = (data.get("tls.crt"), data.get("tls.key")) {
            temporary = Some((crt.0.clone(), key.0.clone()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (crt, key) = temporary.expect("a temporary certificate in the Secret");
    let pem = leaf(&crt);
    let cert = pem.parse_x509().unwrap();
    assert_eq!(cert.issuer().to_string(), "CN=cert-manager.local");
    let key = certgate::pki::key::PrivateKey::from_pem(&key).unwrap();
    assert!(certgate::pki::key::spki_matches(
        cert.public_key().raw,
        &key
    ));
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(h.env.client.clone(), h.ns());
    // The event is recorded after the Secret is written: wait for it a little.
    let mut said = false;
    for _ in 0..200 {
        said = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| e.message.as_deref() == Some("Issued temporary certificate"));
        if said {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(said, "no 'Issued temporary certificate' event");

    // The issuer signs: the real certificate replaces the temporary one, same key.
    let req = h
        .requests()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
        .expect("the pending request");
    let csr = base64::engine::general_purpose::STANDARD
        .decode(&req.spec.request)
        .unwrap();
    let signed = certgate::issuers::selfsigned::sign(
        &csr,
        &key,
        &certgate::issuers::signer::SignOptions::new(Duration::from_secs(3600)),
    )
    .unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    h.requests()
        .patch_status(
            &req.metadata.name.clone().unwrap(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "certificate": b64(&signed.certificate_pem),
                "conditions": [
                    {"type": "Approved", "status": "True", "reason": "test", "message": "approved",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"},
                    {"type": "Ready", "status": "True", "reason": "Issued", "message": "signed",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
        )
        .await
        .unwrap();
    h.wait_revision("temp", 1).await;
    let data = h.secret_data("temp-tls").await;
    let real = leaf(&data["tls.crt"]);
    let real = real.parse_x509().unwrap();
    assert_ne!(real.issuer().to_string(), "CN=cert-manager.local");
    assert!(certgate::pki::key::spki_matches(
        real.public_key().raw,
        &key
    ));
    h.finish().await;
}

/// `spec.renewal.windows`: `status.renewalTime` is the first time in a window at or
/// after 2/3 of the lifetime (cert-manager's `RenewalTime`); the certificate is
/// renewed then and not before; windows cert-manager's webhook would refuse make
/// the Certificate not Ready (WindowError).
#[tokio::test(flavor = "multi_thread")]
async fn renewal_windows_place_the_renewal_time() {
    use certgate::runtime::clock::Clock;
    let h = Harness::start().await;
    h.selfsigned_issuer().await;
    h.certificate("windowed", json!({"dnsNames": ["w.example"]}))
        .await;
    let issued = h.wait_ready("windowed").await.status.unwrap();
    let (nb, first_rt) = (issued.not_before.unwrap().0, issued.renewal_time.unwrap().0);
    let desired = nb + jiff::SignedDuration::from_hours(60 * 24);
    assert_eq!(first_rt, desired, "2/3 of 90 days without windows");

    // A weekly window in Denver opening at 10:00 (never in a DST gap) on the
    // (local) day after the desired time: renewal moves to its start.
    let denver = jiff::tz::TimeZone::get("America/Denver").unwrap();
    let day_after = desired.to_zoned(denver.clone()).date().tomorrow().unwrap();
    let dow = day_after.weekday().to_sunday_zero_offset();
    let window_start = day_after
        .at(10, 0, 0, 0)
        .to_zoned(denver)
        .unwrap()
        .timestamp();
    let windows = |tz: &str| {
        json!({"dnsNames": ["w.example"], "renewal": {"policy": "RenewBefore",
            "windows": [{"cron": format!("0 10 * * {dow}"), "timezone": tz, "windowDuration": "3h"}]}})
    };
    h.certificate("windowed", windows("America/Denver")).await;
    let cert = h
        .wait_for("windowed", "renewed in the window", |c| {
            c.status
                .as_ref()
                .and_then(|s| s.renewal_time.as_ref())
                .is_some_and(|t| t.0 == window_start)
        })
        .await;
    let status = cert.status.clone().unwrap();
    assert_eq!(
        status.revision,
        Some(1),
        "a window is no reason to re-issue"
    );
    assert_eq!(
        Some(window_start),
        certgate::certificates::renewal::renewal_time_for_spec(
            nb,
            status.not_after.unwrap().0,
            &cert.spec
        )
    );

    // After the desired time, a minute before the window: nothing happens.
    let to_window = h.clock.now().duration_until(window_start);
    h.clock
        .advance((to_window - jiff::SignedDuration::from_mins(1)).unsigned_abs());
    h.poke("windowed").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = h.certs().get("windowed").await.unwrap();
    assert_eq!(still.status.unwrap().revision, Some(1), "renewed early");
    // In the window: renewed.
    h.clock.advance(Duration::from_secs(120));
    h.poke("windowed").await;
    h.wait_revision("windowed", 2).await;

    // A time zone Go cannot load: Ready=False with the webhook's error.
    h.certificate("windowed", windows("Mars/Olympus_Mons"))
        .await;
    let c = h
        .wait_for("windowed", "WindowError", |c| {
            c.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                .is_some_and(|c| c.reason.as_deref() == Some("WindowError"))
        })
        .await;
    let (status, message) = ready(&c).unwrap();
    assert_eq!(status, "False");
    assert!(
        message.starts_with(
            "Could not calculate renewal time: [spec.renewal.windows[0].timezone: Invalid value: \"Mars/Olympus_Mons\": invalid value for timezone. timezone must be IANA compliant"
        ),
        "{message}"
    );
    // Renewal still has a time: 2/3 of the new certificate's lifetime.
    let s = c.status.unwrap();
    let (nb, rt) = (s.not_before.unwrap().0, s.renewal_time.unwrap().0);
    assert_eq!(rt, nb + jiff::SignedDuration::from_hours(60 * 24));
    // ... and a Warning event says it too.
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(h.env.client.clone(), h.ns());
    let mut warned = false;
    for _ in 0..100 {
        warned = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("WindowError")
                    && e.type_.as_deref() == Some("Warning")
                    && e.message.as_deref() == Some(message.as_str())
            });
        if warned {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(warned, "no WindowError Warning event");
    h.finish().await;
}
