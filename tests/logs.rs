//! No secret material in the logs, at any level: the controllers issue a self-signed
//! CA and a CA-signed Certificate with every log line captured at TRACE (certgate's
//! and its libraries': kube's HTTP client included), and neither private key — PEM,
//! base64 or DER in hex — appears in them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use certgate::api::Certificate;
use certgate::controller::RunningControllers;
use certgate_sandbox::TestEnv;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_keys_never_reach_the_logs_even_at_trace() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let controllers = RunningControllers::start(env.client.clone(), common::scoped_config(&env));
    let docs = vec![
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ss"}, "spec": {"selfSigned": {}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "root"},
            "spec": {"isCA": true, "commonName": "log root", "secretName": "root-ca", "issuerRef": {"name": "ss"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ca"}, "spec": {"ca": {"secretName": "root-ca"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web"},
            "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"], "issuerRef": {"name": "ca"},
                "privateKey": {"algorithm": "RSA", "size": 2048}}}),
    ];
    let docs: Vec<serde_json::Value> = docs.into_iter().map(|d| common::place(&env, d)).collect();
    certgate::manifests::apply(&env.client, "test", &docs, "test")
        .await
        .unwrap();
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &env.namespace);
    common::wait_for("the CA-signed Certificate Ready", async || {
        certs.get_opt("web").await.unwrap().filter(common::is_ready)
    })
    .await;
    controllers.stop().await;

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 50,
        "the capture saw the run ({} lines)",
        logs.lines().count()
    );
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);
    for name in ["root-ca", "web-tls"] {
        let key = secrets.get(name).await.unwrap().data.unwrap()["tls.key"]
            .0
            .clone();
        let pem = String::from_utf8(key.clone()).unwrap();
        // A line of the PEM body (64 base64 characters of the key), the whole Secret
        // value as the API carries it, and the DER in hex.
        let body_line = pem.lines().nth(2).unwrap().to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
        let der = x509_parser::pem::parse_x509_pem(&key)
            .map(|(_, p)| p.contents)
            .unwrap_or_default();
        let hex: String = der.iter().take(32).map(|b| format!("{b:02x}")).collect();
        for (what, needle) in [
            ("a line of the PEM", body_line.as_str()),
            ("the Secret's base64", &b64[40..100]),
            ("the DER in hex", hex.as_str()),
        ] {
            assert!(
                needle.len() >= 32 && !logs.contains(needle),
                "{what} of {name}'s private key is in the logs"
            );
        }
    }
    assert!(
        !logs.contains("PRIVATE KEY"),
        "a PEM private key header is in the logs"
    );
    env.cleanup().await;
}
