//! The CA injector (src/cainjector/) end to end, through the real client against the
//! sandbox (or the cluster of `CERTGATE_TEST_KUBECONFIG`): `inject-ca-from` a CA
//! Certificate into webhook configurations and through a CA rotation,
//! `inject-ca-from-secret` into an APIService (sandbox only) and a CRD's conversion
//! webhook,
//! `inject-apiserver-ca`, objects without annotations (or naming another namespace)
//! left alone, a missing source reported on the target.
//!
//! The controllers are scoped to the test's namespace; the cluster-scoped targets are
//! named after it and deleted at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::annotations::{
    ALLOW_DIRECT_INJECTION, INJECT_APISERVER_CA, INJECT_CA_FROM, INJECT_CA_FROM_SECRET,
};
use certgate::controller::RunningControllers;
use certgate_sandbox::TestEnv;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};

async fn apply(env: &TestEnv, docs: &[Value]) {
    let docs: Vec<Value> = docs.iter().map(|d| common::place(env, d.clone())).collect();
    certgate::manifests::apply(&env.client, "test", &docs, "test")
        .await
        .unwrap();
}

fn apply_cluster_scoped(env: &TestEnv, docs: &[Value]) -> impl Future<Output = ()> {
    let client = env.client.clone();
    let docs = docs.to_vec();
    async move {
        certgate::manifests::apply(&client, "test", &docs, "test")
            .await
            .unwrap();
    }
}

/// A webhook configuration of `kind` with `n` webhooks that match nothing.
fn webhooks(kind: &str, name: &str, annotations: Value, n: usize) -> Value {
    let hooks: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "name": format!("h{i}.ca-injector.certgate.test"),
                "clientConfig": {"url": format!("https://ca-injector.example.invalid/{i}")},
                "rules": [{"apiGroups": ["ca-injector.certgate.test"], "apiVersions": ["v1"],
                           "operations": ["CREATE"], "resources": ["nothings"]}],
                "objectSelector": {"matchLabels": {"ca-injector.certgate.test/never": "true"}},
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
            })
        })
        .collect();
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name, "annotations": annotations},
        "webhooks": hooks,
    })
}

fn validating(name: &str, annotations: Value, n: usize) -> Value {
    webhooks("ValidatingWebhookConfiguration", name, annotations, n)
}

fn mutating(name: &str, annotations: Value, n: usize) -> Value {
    webhooks("MutatingWebhookConfiguration", name, annotations, n)
}

async fn validating_bundles(env: &TestEnv, name: &str) -> Vec<Option<Vec<u8>>> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(env.client.clone());
    api.get(name)
        .await
        .unwrap()
        .webhooks
        .unwrap_or_default()
        .into_iter()
        .map(|w| w.client_config.ca_bundle.map(|b| b.0))
        .collect()
}

async fn mutating_bundles(env: &TestEnv, name: &str) -> Vec<Option<Vec<u8>>> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(env.client.clone());
    api.get(name)
        .await
        .unwrap()
        .webhooks
        .unwrap_or_default()
        .into_iter()
        .map(|w| w.client_config.ca_bundle.map(|b| b.0))
        .collect()
}

fn all_are(bundles: &[Option<Vec<u8>>], ca: &[u8]) -> bool {
    !bundles.is_empty() && bundles.iter().all(|b| b.as_deref() == Some(ca))
}

async fn secret_ca(env: &TestEnv, name: &str) -> Option<Vec<u8>> {
    Api::<Secret>::namespaced(env.client.clone(), &env.namespace)
        .get_opt(name)
        .await
        .unwrap()
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove("ca.crt"))
        .map(|b| b.0)
}

/// A self-signed CA Certificate `ca` (Secret `ca-tls`), Ready; its `ca.crt`.
async fn issue_ca(env: &TestEnv) -> Vec<u8> {
    apply(
        env,
        &[
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                   "metadata": {"name": "selfsigned"}, "spec": {"selfSigned": {}}}),
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                   "metadata": {"name": "ca"},
                   "spec": {"isCA": true, "commonName": "injected-ca", "secretName": "ca-tls",
                            "privateKey": {"algorithm": "ECDSA", "rotationPolicy": "Always"},
                            "issuerRef": {"name": "selfsigned"}}}),
        ],
    )
    .await;
    let certs: Api<certgate::api::Certificate> =
        Api::namespaced(env.client.clone(), &env.namespace);
    common::wait_for("the CA Certificate Ready", async || {
        certs.get_opt("ca").await.unwrap().filter(common::is_ready)
    })
    .await;
    secret_ca(env, "ca-tls").await.expect("ca.crt of ca-tls")
}

/// A PEM certificate made here (for Secrets injected directly).
fn some_ca_pem(name: &str) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

/// A Secret that allows direct injection, with `ca.crt` = `pem`.
fn direct_secret(name: &str, pem: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "annotations": {ALLOW_DIRECT_INJECTION: "true"}},
           "stringData": {"ca.crt": pem}})
}

async fn delete<K>(env: &TestEnv, name: &str)
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let _ = Api::<K>::all(env.client.clone())
        .delete(name, &DeleteParams::default())
        .await;
}

fn start(env: &TestEnv) -> RunningControllers {
    RunningControllers::start(env.client.clone(), common::scoped_config(env))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_certificate_is_injected_into_webhooks_and_follows_a_rotation() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let controllers = start(&env);
    let ca = issue_ca(&env).await;

    let name = format!("ca-injector-{ns}");
    let from = json!({INJECT_CA_FROM: format!("{ns}/ca")});
    apply_cluster_scoped(
        &env,
        &[validating(&name, from.clone(), 2), mutating(&name, from, 1)],
    )
    .await;
    common::wait_for(
        "the CA in both webhooks of the validating configuration",
        async || all_are(&validating_bundles(&env, &name).await, &ca).then_some(()),
    )
    .await;
    common::wait_for("the CA in the mutating configuration", async || {
        all_are(&mutating_bundles(&env, &name).await, &ca).then_some(())
    })
    .await;

    // A rotation: the CA renewed (a new key), every bundle follows.
    certgate::cli::renew::renew(&env.client, Some(&ns), &["ca".to_string()], false)
        .await
        .unwrap();
    let rotated = common::wait_for("a new CA", async || {
        secret_ca(&env, "ca-tls").await.filter(|c| *c != ca)
    })
    .await;
    common::wait_for("the new CA in the validating configuration", async || {
        all_are(&validating_bundles(&env, &name).await, &rotated).then_some(())
    })
    .await;
    common::wait_for("the new CA in the mutating configuration", async || {
        all_are(&mutating_bundles(&env, &name).await, &rotated).then_some(())
    })
    .await;

    // Up to date: no further writes.
    let api: Api<ValidatingWebhookConfiguration> = Api::all(env.client.clone());
    let rv = api.get(&name).await.unwrap().metadata.resource_version;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(api.get(&name).await.unwrap().metadata.resource_version, rv);

    controllers.stop().await;
    delete::<ValidatingWebhookConfiguration>(&env, &name).await;
    delete::<MutatingWebhookConfiguration>(&env, &name).await;
    env.cleanup().await;
}

async fn apiservice_bundle(env: &TestEnv, name: &str) -> Option<Vec<u8>> {
    Api::<APIService>::all(env.client.clone())
        .get(name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.ca_bundle)
        .map(|b| b.0)
}

async fn crd_bundle(env: &TestEnv, name: &str) -> Option<Vec<u8>> {
    Api::<CustomResourceDefinition>::all(env.client.clone())
        .get(name)
        .await
        .unwrap()
        .spec
        .conversion
        .and_then(|c| c.webhook)
        .and_then(|w| w.client_config)
        .and_then(|c| c.ca_bundle)
        .map(|b| b.0)
}

/// Sandbox only: on a real cluster an APIService whose service does not answer is
/// unavailable, and while it exists discovery fails for every client and namespaces
/// cannot be deleted — it would break whatever else runs on the shared cluster.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_is_injected_into_an_apiservice() {
    let env = TestEnv::start().await.unwrap();
    if env.is_real_cluster() {
        env.cleanup().await;
        return;
    }
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let controllers = start(&env);
    let pem = some_ca_pem("direct");
    apply(&env, &[direct_secret("direct", &pem)]).await;
    let group = format!("{ns}.apiservice.certgate.test");
    let name = format!("v1.{group}");
    apply_cluster_scoped(
        &env,
        &[
            json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                 "metadata": {"name": name,
                              "annotations": {INJECT_CA_FROM_SECRET: format!("{ns}/direct")}},
                 "spec": {"group": group, "version": "v1", "groupPriorityMinimum": 100,
                          "versionPriority": 10,
                          "service": {"namespace": ns, "name": "nothing", "port": 443}}}),
        ],
    )
    .await;
    common::wait_for("the CA in the APIService", async || {
        (apiservice_bundle(&env, &name).await.as_deref() == Some(pem.as_bytes())).then_some(())
    })
    .await;
    // The Secret's CA changes: the APIService follows.
    let pem2 = some_ca_pem("direct-2");
    apply(&env, &[direct_secret("direct", &pem2)]).await;
    common::wait_for("the new CA in the APIService", async || {
        (apiservice_bundle(&env, &name).await.as_deref() == Some(pem2.as_bytes())).then_some(())
    })
    .await;
    controllers.stop().await;
    delete::<APIService>(&env, &name).await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_is_injected_into_a_crd_conversion_webhook() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let controllers = start(&env);
    let pem = some_ca_pem("direct");
    apply(&env, &[direct_secret("direct", &pem)]).await;
    let group = format!("{ns}.conversion.certgate.test");
    let crd = format!("injectees.{group}");
    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    apply_cluster_scoped(
        &env,
        &[json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                 "metadata": {"name": crd,
                              "annotations": {INJECT_CA_FROM_SECRET: format!("{ns}/direct")}},
                 "spec": {"group": group, "scope": "Namespaced",
                          "names": {"plural": "injectees", "singular": "injectee",
                                    "kind": "Injectee", "listKind": "InjecteeList"},
                          "versions": [
                              {"name": "v1", "served": true, "storage": true, "schema": schema},
                              {"name": "v2", "served": true, "storage": false, "schema": schema}],
                          "conversion": {"strategy": "Webhook", "webhook": {
                              "conversionReviewVersions": ["v1"],
                              "clientConfig": {"url": "https://ca-injector.example.invalid/convert"}}}}})],
    )
    .await;
    common::wait_for("the CA in the CRD's conversion webhook", async || {
        (crd_bundle(&env, &crd).await.as_deref() == Some(pem.as_bytes())).then_some(())
    })
    .await;
    // The Secret's CA changes: the CRD follows.
    let pem2 = some_ca_pem("direct-2");
    apply(&env, &[direct_secret("direct", &pem2)]).await;
    common::wait_for("the new CA in the CRD", async || {
        (crd_bundle(&env, &crd).await.as_deref() == Some(pem2.as_bytes())).then_some(())
    })
    .await;
    controllers.stop().await;
    delete::<CustomResourceDefinition>(&env, &crd).await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_servers_ca_is_injected() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    // What the injector reads: the pod's CA file, else the namespace's kube-root-ca.crt.
    let expected = match std::fs::read(certgate::cainjector::SERVICE_ACCOUNT_CA) {
        Ok(ca) => ca,
        Err(_) => {
            let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
            common::wait_for("kube-root-ca.crt", async || {
                cms.get_opt(certgate::cainjector::ROOT_CA_CONFIGMAP)
                    .await
                    .unwrap()
                    .and_then(|c| c.data)
                    .and_then(|mut d| d.remove("ca.crt"))
            })
            .await
            .into_bytes()
        }
    };
    let controllers = start(&env);
    let name = format!("ca-injector-apiserver-{ns}");
    apply_cluster_scoped(
        &env,
        &[validating(&name, json!({INJECT_APISERVER_CA: "true"}), 1)],
    )
    .await;
    common::wait_for("the API server's CA in the webhook", async || {
        all_are(&validating_bundles(&env, &name).await, &expected).then_some(())
    })
    .await;
    controllers.stop().await;
    delete::<ValidatingWebhookConfiguration>(&env, &name).await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_without_annotations_or_naming_another_namespace_are_left_alone() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let controllers = start(&env);
    let pem = some_ca_pem("direct");
    apply(&env, &[direct_secret("direct", &pem)]).await;
    let plain = format!("ca-injector-plain-{ns}");
    let elsewhere = format!("ca-injector-elsewhere-{ns}");
    let annotated = format!("ca-injector-annotated-{ns}");
    apply_cluster_scoped(
        &env,
        &[
            validating(&plain, json!({}), 1),
            // A source in a namespace this controller does not watch: not its target.
            validating(
                &elsewhere,
                json!({INJECT_CA_FROM_SECRET: format!("{ns}-elsewhere/direct")}),
                1,
            ),
        ],
    )
    .await;
    let api: Api<ValidatingWebhookConfiguration> = Api::all(env.client.clone());
    let rv = |name: String| {
        let api = api.clone();
        async move { api.get(&name).await.unwrap().metadata.resource_version }
    };
    let plain_rv = rv(plain.clone()).await;
    let elsewhere_rv = rv(elsewhere.clone()).await;
    // An annotated one is injected: the controller ran past the others.
    apply_cluster_scoped(
        &env,
        &[validating(
            &annotated,
            json!({INJECT_CA_FROM_SECRET: format!("{ns}/direct")}),
            1,
        )],
    )
    .await;
    common::wait_for("the CA in the annotated webhook", async || {
        all_are(&validating_bundles(&env, &annotated).await, pem.as_bytes()).then_some(())
    })
    .await;
    // The Secret changes: still nothing for the others.
    apply(&env, &[direct_secret("direct", &some_ca_pem("direct-2"))]).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(rv(plain.clone()).await, plain_rv);
    assert_eq!(rv(elsewhere.clone()).await, elsewhere_rv);
    assert_eq!(validating_bundles(&env, &plain).await, vec![None]);
    assert_eq!(validating_bundles(&env, &elsewhere).await, vec![None]);

    controllers.stop().await;
    for name in [&plain, &elsewhere, &annotated] {
        delete::<ValidatingWebhookConfiguration>(&env, name).await;
    }
    env.cleanup().await;
}

/// The Warning events on a cluster-scoped object (they are in `default`).
async fn warnings_about(env: &TestEnv, name: &str) -> Vec<(String, String)> {
    Api::<Event>::namespaced(env.client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name) && e.type_.as_deref() == Some("Warning")
        })
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_source_is_reported_on_the_target_and_injected_once_it_exists() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let controllers = start(&env);
    let no_cert = format!("ca-injector-no-cert-{ns}");
    let no_secret = format!("ca-injector-no-secret-{ns}");
    apply_cluster_scoped(
        &env,
        &[
            validating(&no_cert, json!({INJECT_CA_FROM: format!("{ns}/absent")}), 1),
            mutating(
                &no_secret,
                json!({INJECT_CA_FROM_SECRET: format!("{ns}/later")}),
                1,
            ),
        ],
    )
    .await;
    let cert_message = format!("Certificate {ns}/absent");
    common::wait_for("an event naming the missing Certificate", async || {
        warnings_about(&env, &no_cert)
            .await
            .into_iter()
            .find(|(reason, message)| {
                reason == "CASourceNotFound" && message.contains(&cert_message)
            })
    })
    .await;
    let secret_message = format!("Secret {ns}/later");
    common::wait_for("an event naming the missing Secret", async || {
        warnings_about(&env, &no_secret)
            .await
            .into_iter()
            .find(|(reason, message)| {
                reason == "CASourceNotFound" && message.contains(&secret_message)
            })
    })
    .await;

    // The Secret appears without allowing injection: refused, and said so.
    let pem = some_ca_pem("later");
    apply(
        &env,
        &[
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "later"},
                 "stringData": {"ca.crt": pem}}),
        ],
    )
    .await;
    common::wait_for("an event saying the Secret refuses injection", async || {
        warnings_about(&env, &no_secret)
            .await
            .into_iter()
            .find(|(reason, message)| {
                reason == "CASourceNotAllowed" && message.contains(ALLOW_DIRECT_INJECTION)
            })
    })
    .await;
    assert_eq!(mutating_bundles(&env, &no_secret).await, vec![None]);
    // Allowed: injected.
    apply(&env, &[direct_secret("later", &pem)]).await;
    common::wait_for("the CA once the Secret allows it", async || {
        all_are(&mutating_bundles(&env, &no_secret).await, pem.as_bytes()).then_some(())
    })
    .await;
    assert_eq!(validating_bundles(&env, &no_cert).await, vec![None]);

    controllers.stop().await;
    delete::<ValidatingWebhookConfiguration>(&env, &no_cert).await;
    delete::<MutatingWebhookConfiguration>(&env, &no_secret).await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_injector_can_be_turned_off() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let controllers = RunningControllers::start(
        env.client.clone(),
        certgate::controller::ControllerConfig {
            ca_injector: false,
            ..common::scoped_config(&env)
        },
    );
    apply(&env, &[direct_secret("direct", &some_ca_pem("direct"))]).await;
    let name = format!("ca-injector-off-{ns}");
    apply_cluster_scoped(
        &env,
        &[validating(
            &name,
            json!({INJECT_CA_FROM_SECRET: format!("{ns}/direct")}),
            1,
        )],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    // On a shared real cluster another run's unscoped injector may act on it.
    if !env.is_real_cluster() {
        assert_eq!(validating_bundles(&env, &name).await, vec![None]);
    }
    controllers.stop().await;
    delete::<ValidatingWebhookConfiguration>(&env, &name).await;
    env.cleanup().await;
}
