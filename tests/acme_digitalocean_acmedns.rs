//! ACME DNS-01 end to end through DigitalOcean and through acme-dns: Pebble as the CA,
//! the in-repo emulators as the DNS providers (their APIs written by certgate's
//! providers, their DNS servers queried by Pebble and by certgate's propagation
//! checks), and the controllers on the sandbox API server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use certgate::api::{Certificate, Challenge};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use certgate_conformance::emulators::acmedns::{AcmeDnsEmulator, accounts_json};
use certgate_conformance::emulators::digitalocean::{self as dig, DigitalOceanEmulator};
use certgate_sandbox::TestEnv;
use common::pebble::{Pebble, PebbleOptions, free_port};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

struct Stack {
    env: TestEnv,
    pebble: Pebble,
    _controllers: RunningControllers,
}

impl Stack {
    /// Pebble and the controllers, both resolving through `dns` (an emulator's DNS
    /// server); `digitalocean` is the DigitalOcean API root, when used.
    async fn start(dns: SocketAddr, digitalocean: Option<String>) -> Stack {
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
        acme.dns01.api_endpoints.digitalocean = digitalocean;
        let config = ControllerConfig {
            acme,
            ..common::scoped_config(&env)
        };
        let controllers = RunningControllers::start(env.client.clone(), config);
        Stack {
            env,
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

    /// A Secret `name` holding `key`, and a ClusterIssuer `issuer` solving DNS-01
    /// with `dns01`.
    async fn issuer(&self, issuer: &str, secret: &str, key: &str, value: &str, dns01: Value) {
        self.apply(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret},
            "stringData": {key: value}}),
        )
        .await;
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": issuer},
            "spec": {"acme": {
                "server": self.pebble.directory_url,
                "email": "ops@example.com",
                "caBundle": self.pebble.ca_bundle(),
                "privateKeySecretRef": {"name": format!("{issuer}-account")},
                "solvers": [{"dns01": dns01}]}}}),
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
        let challenges = self
            .challenges()
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

    fn challenges(&self) -> Api<Challenge> {
        Api::namespaced(self.env.client.clone(), &self.env.namespace)
    }

    /// Waits until Certificate `name` is Ready; returns the SANs it was issued for.
    async fn issued(&self, name: &str) -> Vec<String> {
        let certificates =
            Api::<Certificate>::namespaced(self.env.client.clone(), &self.env.namespace);
        self.wait(&format!("Certificate {name} Ready"), 120, async || {
            certificates.get(name).await.ok().filter(common::is_ready)
        })
        .await;
        let secret = Api::<Secret>::namespaced(self.env.client.clone(), &self.env.namespace)
            .get(&format!("{name}-tls"))
            .await
            .unwrap();
        sans(&secret.data.unwrap()["tls.crt"].0)
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
async fn wildcard_and_apex_issued_through_digitalocean_and_nothing_left() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let emu = DigitalOceanEmulator::start(&["example.com"]).await.unwrap();
    let s = Stack::start(emu.dns_addr(), Some(emu.api_url())).await;
    s.issuer(
        "digitalocean",
        "digitalocean-token",
        "access-token",
        dig::TOKEN,
        json!({"digitalocean": {"tokenSecretRef":
            {"name": "digitalocean-token", "key": "access-token"}}}),
    )
    .await;
    s.certificate("wild", "digitalocean", &["*.example.com", "example.com"])
        .await;
    assert_eq!(
        s.issued("wild").await,
        vec!["*.example.com".to_string(), "example.com".to_string()]
    );
    // Both challenge records are deleted once the Challenges are gone.
    let challenges = s.challenges();
    s.wait("Challenges gone and no TXT record left", 30, async || {
        let left = challenges.list(&ListParams::default()).await.ok()?;
        (left.items.is_empty() && emu.txt_data("_acme-challenge.example.com").is_empty())
            .then_some(())
    })
    .await;
    // One record created and one deleted per value: no more writes than that.
    assert_eq!(emu.writes(), 4, "creates + deletes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_issued_through_acme_dns_delegation() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let emu = AcmeDnsEmulator::start().await.unwrap();
    let account = emu.register(&[]);
    // The user's `_acme-challenge.example.com CNAME <fulldomain>`, served by the same
    // DNS server as the acme-dns zone.
    emu.delegate("example.com", &account);
    let s = Stack::start(emu.dns_addr(), None).await;
    s.issuer(
        "acme-dns",
        "acmedns-credentials",
        "acmedns.json",
        &accounts_json(&[("example.com", &account)]),
        json!({"acmeDNS": {"host": emu.api_url(),
            "accountSecretRef": {"name": "acmedns-credentials", "key": "acmedns.json"}}}),
    )
    .await;
    s.certificate("wild", "acme-dns", &["*.example.com", "example.com"])
        .await;
    assert_eq!(
        s.issued("wild").await,
        vec!["*.example.com".to_string(), "example.com".to_string()]
    );
    let challenges = s.challenges();
    s.wait("Challenges gone", 30, async || {
        let left = challenges.list(&ListParams::default()).await.ok()?;
        left.items.is_empty().then_some(())
    })
    .await;
    // One update per value, both in the account's two slots; acme-dns deletes
    // nothing (cert-manager's clean-up does nothing either).
    assert_eq!(emu.updates(), 2);
    assert_eq!(emu.txt_values(&account.subdomain).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_acme_dns_password_is_reported_on_the_challenge_without_it() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let emu = AcmeDnsEmulator::start().await.unwrap();
    let account = emu.register(&[]);
    emu.delegate("example.com", &account);
    let mut wrong = account.clone();
    wrong.password = "w".repeat(40);
    let s = Stack::start(emu.dns_addr(), None).await;
    s.issuer(
        "acme-dns-wrong",
        "acme-dns-wrong",
        "acmedns.json",
        &accounts_json(&[("example.com", &wrong)]),
        json!({"acmeDNS": {"host": emu.api_url(),
            "accountSecretRef": {"name": "acme-dns-wrong", "key": "acmedns.json"}}}),
    )
    .await;
    s.certificate("denied", "acme-dns-wrong", &["example.com"])
        .await;
    let challenges = s.challenges();
    let reason = s
        .wait(
            "the Challenge to report acme-dns's refusal",
            60,
            async || {
                let list = challenges.list(&ListParams::default()).await.ok()?;
                list.items
                    .into_iter()
                    .filter_map(|c| c.status.and_then(|st| st.reason))
                    .find(|r| r.contains("acme-dns"))
            },
        )
        .await;
    let secret = format!(
        "Secret {}/acme-dns-wrong key \"acmedns.json\"",
        s.env.namespace
    );
    assert!(
        reason.contains(&secret)
            && reason.contains("HTTP 401")
            && !reason.contains(&wrong.password)
            && !reason.contains(&account.password),
        "{reason}"
    );
    assert_eq!(emu.updates(), 0);
}
