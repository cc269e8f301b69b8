//! ACME profiles and renewal information (RFC 9773) end to end, against the mock
//! ACME server in tests/common/acme_mock.rs (Pebble 2.4 has neither): the profile
//! asked for reaches the CA, the CA's renewal window moves the Certificate's renewal
//! time, and the renewal's order says which certificate it replaces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::{Certificate, CertificateRequest};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use certgate_sandbox::TestEnv;
use common::acme_mock::AcmeMock;
use kube::api::{Api, ListParams};
use serde_json::json;
use std::time::Duration;

async fn wait<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cas_renewal_window_moves_renewal_and_the_renewal_replaces_the_certificate() {
    let mock = AcmeMock::start();
    mock.set_retry_after(1);
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let acme = AcmeSettings {
        ari_min_poll: Duration::from_secs(1),
        ..Default::default()
    };
    let controllers = RunningControllers::start(
        env.client.clone(),
        ControllerConfig {
            acme,
            ..common::scoped_config(&env)
        },
    );
    let docs = vec![
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": "mock"},
            "spec": {"acme": {"server": mock.directory_url(), "caBundle": mock.ca_bundle_b64(),
                "privateKeySecretRef": {"name": "mock-account"},
                "solvers": [{"http01": {"ingress": {}}}]}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "ari", "namespace": ns,
                "annotations": {"acme.cert-manager.io/profile": "shortlived"}},
            "spec": {"secretName": "ari-tls", "dnsNames": ["ari.example.com"],
                "issuerRef": {"name": "mock", "kind": "ClusterIssuer"}}}),
    ];
    let docs: Vec<serde_json::Value> = docs.into_iter().map(|d| common::place(&env, d)).collect();
    certgate::manifests::apply(&env.client, "test", &docs, "test")
        .await
        .unwrap();
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    let requests: Api<CertificateRequest> = Api::namespaced(env.client.clone(), &ns);
    let revision = async |r: i32| {
        wait(&format!("revision {r} Ready"), 30, async || {
            let c = certs.get("ari").await.ok()?;
            (common::is_ready(&c) && c.status.as_ref()?.revision == Some(r)).then_some(c)
        })
        .await
    };
    let first = revision(1).await;

    // The profile reached the CA: a 6-day certificate.
    let orders = mock.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].profile.as_deref(), Some("shortlived"));
    assert_eq!(orders[0].replaces, None);
    let issued = mock.issued();
    let lifetime = issued[0].not_after.duration_since(issued[0].not_before);
    assert!(
        lifetime < jiff::SignedDuration::from_hours(7 * 24),
        "{lifetime:?}"
    );

    // The renewal time is the one picked in the CA's window (2/3 to 3/4 of the
    // lifetime by default), recorded on the request, visible in status.
    let picked = wait("the ARI renewal time on the request", 30, async || {
        let list = requests.list(&ListParams::default()).await.ok()?.items;
        list.iter().find_map(|r| {
            r.metadata
                .annotations
                .as_ref()?
                .get("acme.cert-manager.io/ari-renewal-time")
                .cloned()
        })
    })
    .await;
    let picked: jiff::Timestamp = picked.parse().unwrap();
    let (nb, na) = (issued[0].not_before, issued[0].not_after);
    let third = na.duration_since(nb) / 3;
    assert!(
        picked >= nb + third * 2 && picked <= na - third * 3 / 4,
        "{picked} not in the default window"
    );
    let in_status = wait("status.renewalTime to follow ARI", 30, async || {
        let c = certs.get("ari").await.ok()?;
        let rt = c.status?.renewal_time?.0;
        (rt == picked).then_some(rt)
    })
    .await;
    assert_eq!(in_status, picked);
    assert!(first.status.unwrap().revision == Some(1));

    // The CA asks for early renewal: the Certificate is renewed, and the new order
    // says which certificate it replaces.
    let now = jiff::Timestamp::now();
    mock.set_window_for(
        &issued[0].cert_id,
        now - jiff::SignedDuration::from_mins(10),
        now - jiff::SignedDuration::from_mins(5),
    );
    revision(2).await;
    let orders = mock.orders();
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert_eq!(
        orders[1].replaces.as_deref(),
        Some(issued[0].cert_id.as_str())
    );
    assert_eq!(orders[1].profile.as_deref(), Some("shortlived"));
    // The new certificate gets the default window again: no renewal loop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mock.orders().len(), 2);
    controllers.stop().await;
}
