//! ACME DNS-01 end to end through Cloudflare: Pebble as the CA, the in-repo Cloudflare
//! emulator as the DNS provider (its API written by certgate's Cloudflare provider,
//! its DNS server queried by Pebble and by certgate's propagation checks), and the
//! controllers on the sandbox API server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use certgate::api::{Certificate, Challenge};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use certgate_conformance::emulators::cloudflare::{self as cf, CloudflareEmulator};
use certgate_sandbox::TestEnv;
use common::pebble::{Pebble, PebbleOptions, free_port};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

struct Stack {
    env: TestEnv,
    cloudflare: CloudflareEmulator,
    pebble: Pebble,
    _controllers: RunningControllers,
}

impl Stack {
    async fn start() -> Stack {
        let cloudflare = CloudflareEmulator::start(&["example.com"]).await.unwrap();
        let dns = cloudflare.dns_addr();
        let pebble = Pebble::start(PebbleOptions {
            dns_server: dns.to_string(),
            http_port: free_port(),
            eab_keys: vec![],
            tls_port: 0,
        });
        let env = TestEnv::start().await.unwrap();
        env.apply_crds(&common::checked_in_crds()).await.unwrap();
        let mut acme = AcmeSettings::default();
        acme.dns01.recursive_nameservers = vec![dns.into()];
        acme.dns01.authoritative_port = dns.port();
        acme.dns01.poll_period = Duration::from_millis(500);
        acme.dns01.api_endpoints.cloudflare = Some(cloudflare.api_url());
        let config = ControllerConfig {
            acme,
            ..common::scoped_config(&env)
        };
        let controllers = RunningControllers::start(env.client.clone(), config);
        Stack {
            env,
            cloudflare,
            pebble,
            _controllers: controllers,
        }
    }

    async fn apply(&self, doc: Value) {
        let doc = common::place(&self.env, doc);
        certgate::manifests::apply(&self.env.client, "test", &[doc], "test")
            .await
            .unwrap();
    }

    /// A ClusterIssuer solving DNS-01 with Cloudflare, its API token in Secret `secret`.
    async fn issuer(&self, name: &str, secret: &str, token: &str) {
        self.apply(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret},
            "stringData": {"api-token": token}}),
        )
        .await;
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": name},
            "spec": {"acme": {
                "server": self.pebble.directory_url,
                "email": "ops@example.com",
                "caBundle": self.pebble.ca_bundle(),
                "privateKeySecretRef": {"name": format!("{name}-account")},
                "solvers": [{"dns01": {"cloudflare": {
                    "apiTokenSecretRef": {"name": secret, "key": "api-token"}}}}]}}}),
        )
        .await;
    }

    async fn certificate(&self, name: &str, issuer: &str, dns_names: &[&str]) {
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name},
            "spec": {"secretName": format!("{name}-tls"), "dnsNames": dns_names,
                "issuerRef": {"name": issuer, "kind": "ClusterIssuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256}}}),
        )
        .await;
    }

    async fn wait<T>(&self, what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let challenges = Api::<Challenge>::namespaced(self.env.client.clone(), &self.env.namespace)
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .map(|c| format!("{:?} {:?}", c.spec.dns_name, c.status))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        panic!(
            "timed out waiting for {what}\nchallenges: {challenges:#?}\npebble log:\n{}",
            self.pebble.log()
        );
    }
}

fn sans(pem: &[u8]) -> Vec<String> {
    let blocks: Vec<_> = x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .collect();
    let (_, leaf) = x509_parser::parse_x509_certificate(&blocks[0].contents).unwrap();
    let mut names: Vec<String> = leaf
        .subject_alternative_name()
        .unwrap()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_issued_through_cloudflare_and_nothing_left() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let s = Stack::start().await;
    s.issuer("cloudflare", "cloudflare-api-token", cf::TOKEN)
        .await;
    s.certificate("wild", "cloudflare", &["*.example.com", "example.com"])
        .await;
    let certificates = Api::<Certificate>::namespaced(s.env.client.clone(), &s.env.namespace);
    s.wait("Certificate wild Ready", 120, async || {
        certificates.get("wild").await.ok().filter(common::is_ready)
    })
    .await;
    let secret = Api::<Secret>::namespaced(s.env.client.clone(), &s.env.namespace)
        .get("wild-tls")
        .await
        .unwrap();
    assert_eq!(
        sans(&secret.data.unwrap()["tls.crt"].0),
        vec!["*.example.com".to_string(), "example.com".to_string()]
    );
    // Both challenge records are deleted once the Challenges are gone.
    let challenges = Api::<Challenge>::namespaced(s.env.client.clone(), &s.env.namespace);
    s.wait("Challenges gone and no TXT record left", 30, async || {
        let left = challenges.list(&ListParams::default()).await.ok()?;
        (left.items.is_empty()
            && s.cloudflare
                .txt_contents("_acme-challenge.example.com")
                .is_empty())
        .then_some(())
    })
    .await;
    // One record created and one deleted per value: no more writes than that.
    assert_eq!(s.cloudflare.writes(), 4, "creates + deletes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_reported_on_the_challenge_without_the_token() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let s = Stack::start().await;
    let wrong = "wrong-token-0123456789abcdefghijklmnopqr";
    s.issuer("cloudflare-wrong", "cloudflare-wrong-token", wrong)
        .await;
    s.certificate("denied", "cloudflare-wrong", &["denied.example.com"])
        .await;
    let challenges = Api::<Challenge>::namespaced(s.env.client.clone(), &s.env.namespace);
    let reason = s
        .wait(
            "the Challenge to report Cloudflare's refusal",
            60,
            async || {
                let list = challenges.list(&ListParams::default()).await.ok()?;
                list.items
                    .into_iter()
                    .filter_map(|c| c.status.and_then(|st| st.reason))
                    .find(|r| r.contains("Cloudflare"))
            },
        )
        .await;
    let secret = format!("Secret {}/cloudflare-wrong-token", s.env.namespace);
    assert!(
        reason.contains(&secret) && reason.contains("9109") && !reason.contains(wrong),
        "{reason}"
    );
    assert_eq!(s.cloudflare.writes(), 0);
}
