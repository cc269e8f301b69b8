//! ACME DNS-01 end to end through Azure DNS: Pebble as the CA, the in-repo Azure
//! emulator as Azure (Resource Manager's record sets written by certgate's provider
//! with ETags, Entra ID and the instance metadata service issuing its tokens, its DNS
//! server queried by Pebble and by certgate's propagation checks), and the
//! controllers on the sandbox API server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use certgate::api::{Certificate, Challenge};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use certgate_conformance::emulators::azure::{self as az, AzureEmulator};
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
    /// Pebble and the controllers, both resolving through the emulator's DNS server,
    /// with Azure's APIs at the emulator.
    async fn start(emu: &AzureEmulator) -> Stack {
        let dns = emu.dns_addr();
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
        acme.dns01.api_endpoints.azure = Some(emu.api_url());
        acme.dns01.api_endpoints.azure_login = Some(emu.login_url());
        acme.dns01.api_endpoints.azure_imds = Some(emu.imds_url());
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

    /// An issuer of `kind` named `name` solving DNS-01 with `dns01`.
    async fn issuer(&self, kind: &str, name: &str, dns01: Value) {
        self.apply(json!({"apiVersion": "cert-manager.io/v1", "kind": kind,
            "metadata": {"name": name},
            "spec": {"acme": {
                "server": self.pebble.directory_url,
                "email": "ops@example.com",
                "caBundle": self.pebble.ca_bundle(),
                "privateKeySecretRef": {"name": format!("{name}-account")},
                "solvers": [{"dns01": dns01}]}}}))
            .await;
    }

    async fn certificate(&self, name: &str, kind: &str, issuer: &str, dns_names: &[&str]) {
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name},
            "spec": {"secretName": format!("{name}-tls"), "dnsNames": dns_names,
                "issuerRef": {"name": issuer, "kind": kind},
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
async fn wildcard_and_apex_issued_through_azure_dns_and_nothing_left() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let emu = AzureEmulator::start(&["example.com"]).await.unwrap();
    let s = Stack::start(&emu).await;
    s.apply(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "azuredns"},
        "stringData": {"client-secret": az::CLIENT_SECRET}}),
    )
    .await;
    s.issuer(
        "ClusterIssuer",
        "azure",
        json!({"azureDNS": {
            "subscriptionID": az::SUBSCRIPTION,
            "resourceGroupName": az::RESOURCE_GROUP,
            "hostedZoneName": "example.com",
            "environment": "AzurePublicCloud",
            "clientID": az::CLIENT_ID,
            "tenantID": az::TENANT,
            "clientSecretSecretRef": {"name": "azuredns", "key": "client-secret"}}}),
    )
    .await;
    s.certificate(
        "wild",
        "ClusterIssuer",
        "azure",
        &["*.example.com", "example.com"],
    )
    .await;
    assert_eq!(
        s.issued("wild").await,
        vec!["*.example.com".to_string(), "example.com".to_string()]
    );
    // Both values went into one record set (a wildcard and its apex share the name);
    // it is deleted once the Challenges are gone.
    let challenges = s.challenges();
    s.wait("Challenges gone and no record set left", 30, async || {
        let left = challenges.list(&ListParams::default()).await.ok()?;
        (left.items.is_empty() && emu.record_set("example.com", "_acme-challenge").is_none())
            .then_some(())
    })
    .await;
    // Two values added and removed: four writes that took, however the two
    // challenges raced (a 412 is a write refused, read again and redone).
    assert_eq!(emu.writes(), 4, "{:#?}", emu.request_log());
    assert!(
        emu.request_log()
            .iter()
            .filter(|r| r.method != "GET")
            .all(|r| r.if_match.is_some() || r.if_none_match.as_deref() == Some("*")),
        "every write conditional"
    );
    // Tokens are kept between calls.
    let tokens = emu.token_requests();
    assert!(
        !tokens.is_empty() && tokens.len() <= 2,
        "one token per provider: {tokens:#?}"
    );
    assert!(
        tokens
            .iter()
            .all(|t| t.had_secret && t.tenant == az::TENANT)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_for_cluster_issuers_only() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let emu = AzureEmulator::start(&["example.com"]).await.unwrap();
    let s = Stack::start(&emu).await;
    let dns01 = json!({"azureDNS": {
        "subscriptionID": az::SUBSCRIPTION,
        "resourceGroupName": az::RESOURCE_GROUP,
        "managedIdentity": {"clientID": az::MANAGED_CLIENT_ID}}});
    // A ClusterIssuer may use the controller's identity (the instance metadata
    // service here: the test process has no AZURE_FEDERATED_TOKEN_FILE).
    s.issuer("ClusterIssuer", "azure-mi", dns01.clone()).await;
    s.certificate("apex", "ClusterIssuer", "azure-mi", &["example.com"])
        .await;
    assert_eq!(s.issued("apex").await, vec!["example.com".to_string()]);
    assert!(
        emu.token_requests().iter().all(|t| t.tenant == "imds"
            && t.metadata_header
            && t.client_id == az::MANAGED_CLIENT_ID),
        "{:#?}",
        emu.token_requests()
    );
    // A namespaced Issuer may not (cert-manager's --issuer-ambient-credentials=false).
    s.issuer("Issuer", "azure-mi-ns", dns01).await;
    s.certificate("refused", "Issuer", "azure-mi-ns", &["www.example.com"])
        .await;
    let challenges = s.challenges();
    let reason = s
        .wait("the Challenge to report the refusal", 60, async || {
            let list = challenges.list(&ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .filter(|c| c.spec.dns_name == "www.example.com")
                .filter_map(|c| c.status.and_then(|st| st.reason))
                .find(|r| r.contains("ambient"))
        })
        .await;
    assert!(
        reason.contains("azureDNS") && reason.contains("--issuer-ambient-credentials=false"),
        "{reason}"
    );
    assert!(
        emu.record_set("example.com", "_acme-challenge.www")
            .is_none()
    );
}
