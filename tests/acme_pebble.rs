//! ACME issuance end to end against real servers: Pebble (Let's Encrypt's test CA)
//! as the CA, BIND 9 as the authoritative DNS that Pebble queries and RFC 2136
//! updates, and the sandbox API server through the real `kube::Client`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::{Certificate, Challenge, ClusterIssuer, Order};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use certgate_sandbox::TestEnv;
use common::bind::{Bind, ZoneSpec};
use common::pebble::{Pebble, PebbleOptions, free_port};
use k8s_openapi::api::core::v1::{Event, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

/// Polls `f` every 100 ms for up to `secs`; panics naming `what` when it never holds.
async fn wait_long<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

impl Stack {
    /// As [`wait_long`], printing the ACME objects when it never holds.
    async fn wait<T>(&self, what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "timed out waiting for {what}\n{}\npebble log:\n{}",
            self.dump().await,
            self.pebble.log()
        );
    }
}

struct Stack {
    env: TestEnv,
    bind: Bind,
    pebble: Pebble,
    solver_port: u16,
    controllers: Option<RunningControllers>,
}

impl Stack {
    async fn start(eab: Vec<(String, String)>) -> Stack {
        let bind = Bind::start(&[
            ZoneSpec::new("example.com")
                .with_record("_acme-challenge.fail IN CNAME _acme-challenge.wrong.example.com.")
                .with_record("_acme-challenge.wrong IN TXT \"not-the-key\""),
            ZoneSpec::new("other.test"),
        ]);
        let solver_port = free_port();
        let pebble = Pebble::start(PebbleOptions {
            dns_server: bind.addr().to_string(),
            http_port: solver_port,
            eab_keys: eab,
        });
        let env = TestEnv::start().await.unwrap();
        env.apply_crds(&common::checked_in_crds()).await.unwrap();
        let mut s = Stack {
            env,
            bind,
            pebble,
            solver_port,
            controllers: None,
        };
        s.start_controllers();
        s
    }

    fn config(&self) -> ControllerConfig {
        let dns: SocketAddr = self.bind.addr();
        let mut acme = AcmeSettings::default();
        acme.dns01.recursive_nameservers = vec![dns];
        acme.dns01.authoritative_port = dns.port();
        acme.dns01.poll_period = Duration::from_millis(500);
        acme.http01.self_check_port = self.solver_port;
        acme.http01.self_check_nameservers = vec![dns];
        acme.http01_solver_listen = Some(SocketAddr::from(([127, 0, 0, 1], self.solver_port)));
        ControllerConfig {
            cluster_resource_namespace: self.env.namespace.clone(),
            acme,
            ..Default::default()
        }
    }

    fn start_controllers(&mut self) {
        self.controllers = Some(RunningControllers::start(
            self.env.client.clone(),
            self.config(),
        ));
    }

    fn ns(&self) -> String {
        self.env.namespace.clone()
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Api::namespaced(self.env.client.clone(), &self.ns())
    }

    async fn apply(&self, mut doc: Value) {
        if doc["kind"] != "ClusterIssuer" {
            doc["metadata"]["namespace"] = json!(self.ns());
        }
        certgate::manifests::apply(&self.env.client, "test", &[doc], "test")
            .await
            .unwrap();
    }

    async fn cluster_issuer(&self, name: &str, acme_extra: Value) {
        let mut acme = json!({
            "server": self.pebble.directory_url,
            "email": "ops@example.com",
            "caBundle": self.pebble.ca_bundle(),
            "privateKeySecretRef": {"name": format!("{name}-account")},
        });
        for (k, v) in acme_extra.as_object().unwrap() {
            acme[k] = v.clone();
        }
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": name}, "spec": {"acme": acme}}),
        )
        .await;
    }

    async fn issuer_condition(&self, name: &str) -> Option<(String, String, String)> {
        let i = Api::<ClusterIssuer>::all(self.env.client.clone())
            .get(name)
            .await
            .ok()?;
        let c = i
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        Some((
            format!("{:?}", c.status),
            c.reason.unwrap_or_default(),
            c.message.unwrap_or_default(),
        ))
    }

    async fn wait_issuer_ready(&self, name: &str) {
        wait_long(&format!("ClusterIssuer {name} Ready"), 30, async || {
            self.issuer_condition(name)
                .await
                .filter(|(s, _, _)| s == "True")
        })
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

    async fn wait_certificate_ready(&self, name: &str, secs: u64) -> Certificate {
        let api = self.api::<Certificate>();
        let c = self
            .wait(&format!("Certificate {name} Ready"), secs, async || {
                api.get(name).await.ok().filter(common::is_ready)
            })
            .await;
        c
    }

    async fn events_for(&self, name: &str) -> Vec<(String, String)> {
        let list = self
            .api::<Event>()
            .list(&ListParams::default())
            .await
            .unwrap();
        list.items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect()
    }

    /// (reason, message) of every Event about a Challenge.
    async fn challenge_events(&self) -> Vec<(String, String)> {
        let list = self
            .api::<Event>()
            .list(&ListParams::default())
            .await
            .unwrap();
        list.items
            .into_iter()
            .filter(|e| e.involved_object.kind.as_deref() == Some("Challenge"))
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect()
    }

    /// Everything ACME in the namespace, for failure messages.
    async fn dump(&self) -> String {
        let mut out = String::new();
        let crs = self
            .api::<certgate::api::CertificateRequest>()
            .list(&ListParams::default())
            .await
            .unwrap();
        for c in crs.items {
            out += &format!(
                "CR {}: {:?}\n",
                c.metadata.name.unwrap_or_default(),
                c.status.and_then(|s| s.conditions)
            );
        }
        for o in self
            .api::<Order>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            out += &format!(
                "Order {}: {:?}\n",
                o.metadata.name.unwrap_or_default(),
                o.status
            );
        }
        for c in self
            .api::<Challenge>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            out += &format!(
                "Challenge {}: {:?} {:?}\n",
                c.metadata.name.unwrap_or_default(),
                c.spec.type_,
                c.status
            );
        }
        for c in self
            .api::<Certificate>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            out += &format!(
                "Certificate {}: {:?}\n",
                c.metadata.name.unwrap_or_default(),
                c.status.and_then(|s| s.conditions)
            );
        }
        out
    }

    async fn assert_nothing_left(&self, names: &[&str]) {
        wait_long(
            "Challenges, solver Ingresses and Services gone",
            20,
            async || {
                let ch = self
                    .api::<Challenge>()
                    .list(&ListParams::default())
                    .await
                    .ok()?;
                let ing = self
                    .api::<Ingress>()
                    .list(&ListParams::default())
                    .await
                    .ok()?;
                let svc = self
                    .api::<Service>()
                    .list(&ListParams::default())
                    .await
                    .ok()?;
                (ch.items.is_empty() && ing.items.is_empty() && svc.items.is_empty()).then_some(())
            },
        )
        .await;
        for n in names {
            let record = certgate::dns01::challenge_record_name(n);
            let left = self.bind.txt(&record);
            assert!(left.is_empty(), "TXT values left at {record}: {left:?}");
        }
    }
}

fn chain_names(pem: &[u8]) -> (usize, Vec<String>) {
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
    (blocks.len(), names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_issues_a_certificate_from_pebble_and_leaves_nothing_behind() {
    let s = Stack::start(vec![]).await;
    s.cluster_issuer(
        "le",
        json!({"solvers": [{"http01": {"ingress": {"class": "nginx"}}}]}),
    )
    .await;
    s.wait_issuer_ready("le").await;
    let (_, reason, message) = s.issuer_condition("le").await.unwrap();
    assert_eq!(reason, "ACMEAccountRegistered");
    assert_eq!(
        message,
        "The ACME account was registered with the ACME server"
    );
    let issuer = Api::<ClusterIssuer>::all(s.env.client.clone())
        .get("le")
        .await
        .unwrap();
    let acme_status = issuer.status.unwrap().acme.unwrap();
    assert!(acme_status.uri.unwrap().starts_with("https://127.0.0.1"));
    assert_eq!(
        acme_status.last_registered_email.as_deref(),
        Some("ops@example.com")
    );
    // The account key was generated into the Secret.
    let key = Api::<Secret>::namespaced(s.env.client.clone(), &s.ns())
        .get("le-account")
        .await
        .unwrap();
    assert!(key.data.unwrap().contains_key("tls.key"));

    s.certificate("web", "le", &["web.example.com"]).await;
    s.wait_certificate_ready("web", 60).await;
    let secret = s.api::<Secret>().get("web-tls").await.unwrap();
    let data = secret.data.unwrap();
    let (blocks, names) = chain_names(&data["tls.crt"].0);
    assert!(blocks >= 2, "leaf and Pebble's intermediate");
    assert_eq!(names, vec!["web.example.com".to_string()]);
    // The Order is valid and owned by the request; the request's events tell the story.
    let orders = s.api::<Order>().list(&ListParams::default()).await.unwrap();
    assert_eq!(orders.items.len(), 1);
    let order = &orders.items[0];
    assert_eq!(
        order.status.as_ref().unwrap().state,
        Some(certgate::api::order::State::Valid)
    );
    let cr_name = &order.metadata.owner_references.as_ref().unwrap()[0].name;
    assert!(
        order
            .metadata
            .name
            .as_ref()
            .unwrap()
            .starts_with(&format!("{cr_name}-"))
    );
    let cr_events = s.events_for(cr_name).await;
    assert!(
        cr_events.iter().any(|(r, m)| r == "OrderCreated"
            && m == &format!(
                "Created Order resource {}/{}",
                s.ns(),
                order.metadata.name.as_ref().unwrap()
            )),
        "{cr_events:?}"
    );
    let order_events = s.events_for(order.metadata.name.as_ref().unwrap()).await;
    assert!(
        order_events.iter().any(|(r, _)| r == "Created"),
        "{order_events:?}"
    );
    assert!(
        order_events
            .iter()
            .any(|(r, m)| r == "Complete" && m == "Order completed successfully"),
        "{order_events:?}"
    );
    // The Challenge was presented and verified, with cert-manager's events.
    let challenge_events = s.challenge_events().await;
    assert!(
        challenge_events.iter().any(|(r, m)| r == "Presented"
            && m == "Presented challenge using HTTP-01 challenge mechanism"),
        "{challenge_events:?}"
    );
    assert!(
        challenge_events.iter().any(|(r, m)| r == "DomainVerified"
            && m == "Domain \"web.example.com\" verified with \"http-01\" validation"),
        "{challenge_events:?}"
    );
    s.assert_nothing_left(&["web.example.com"]).await;
}
