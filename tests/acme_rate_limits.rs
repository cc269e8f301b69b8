//! The rate-limit guard (src/issuers/acme/rate_limits.rs, ledger.rs) against Pebble:
//! an issuer allowed 2 certificates per registered domain per week gets two, and
//! the third Order is held with a reason naming the domain and when it may try
//! again, without an ACME order placed. The count is persisted in a ConfigMap, so
//! controllers started afresh still hold new orders for that domain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::{Certificate, CertificateRequest, Order};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use certgate::issuers::acme::ledger::{LEDGER_KEY, configmap_name};
use certgate::issuers::acme::rate_limits::{CERTIFICATES_PER_DOMAIN_ANNOTATION, Ledger};
use certgate_sandbox::TestEnv;
use common::bind::{Bind, ZoneSpec};
use common::pebble::{Pebble, PebbleOptions, free_port};
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Stack {
    env: TestEnv,
    _bind: Bind,
    pebble: Pebble,
    config: ControllerConfig,
}

impl Stack {
    async fn start() -> Stack {
        let bind = Bind::start(&[ZoneSpec::new("example.com")]);
        let solver_port = free_port();
        let pebble = Pebble::start(PebbleOptions {
            dns_server: bind.addr().to_string(),
            http_port: solver_port,
            tls_port: 0,
            eab_keys: vec![],
        });
        let env = TestEnv::start().await.unwrap();
        env.apply_crds(&common::checked_in_crds()).await.unwrap();
        let dns: SocketAddr = bind.addr();
        let mut acme = AcmeSettings::default();
        acme.http01.self_check_port = solver_port;
        acme.http01.self_check_nameservers = vec![dns];
        acme.http01_solver_listen = Some(SocketAddr::from(([127, 0, 0, 1], solver_port)));
        // The ledger's ConfigMap goes to the cluster resource namespace: here the
        // test's own namespace, which exists on the sandbox and on a real cluster.
        let config = ControllerConfig {
            acme,
            ..common::scoped_config(&env)
        };
        Stack {
            env,
            _bind: bind,
            pebble,
            config,
        }
    }

    fn controllers(&self) -> RunningControllers {
        RunningControllers::start(self.env.client.clone(), self.config.clone())
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Api::namespaced(self.env.client.clone(), &self.env.namespace)
    }

    async fn apply(&self, doc: Value) {
        let doc = common::place(&self.env, doc);
        certgate::manifests::apply(&self.env.client, "test", &[doc], "test")
            .await
            .unwrap();
    }

    async fn certificate(&self, name: &str) {
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name},
            "spec": {"secretName": format!("{name}-tls"),
                "dnsNames": [format!("{name}.rl.example.com")],
                "issuerRef": {"name": "limited", "kind": "ClusterIssuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256}}}),
        )
        .await;
    }

    async fn dump(&self) -> String {
        let mut out = String::new();
        let lp = ListParams::default();
        for c in self
            .api::<CertificateRequest>()
            .list(&lp)
            .await
            .unwrap()
            .items
        {
            out += &format!(
                "CR {:?}: {:?}\n",
                c.metadata.name,
                c.status.and_then(|s| s.conditions)
            );
        }
        for o in self.api::<Order>().list(&lp).await.unwrap().items {
            out += &format!("Order {:?}: {:?}\n", o.metadata.name, o.status);
        }
        for c in self.api::<Certificate>().list(&lp).await.unwrap().items {
            out += &format!(
                "Certificate {:?}: {:?}\n",
                c.metadata.name,
                c.status.and_then(|s| s.conditions)
            );
        }
        out
    }

    /// Polls `f` every 100 ms for up to `secs`; panics with the ACME objects.
    async fn wait<T>(&self, what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
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

    async fn wait_ready(&self, name: &str) {
        let api = self.api::<Certificate>();
        self.wait(&format!("Certificate {name} Ready"), 90, async || {
            api.get(name).await.ok().filter(common::is_ready)
        })
        .await;
    }

    /// The Order of Certificate `name` (through its request's annotation).
    async fn order_of(&self, name: &str) -> Option<Order> {
        let crs = self
            .api::<CertificateRequest>()
            .list(&ListParams::default())
            .await
            .ok()?;
        let cr = crs.items.into_iter().find(|c| {
            c.metadata.annotations.as_ref().and_then(|a| {
                a.get(certgate::api::annotations::CERTIFICATE_NAME)
                    .map(String::as_str)
            }) == Some(name)
        })?;
        let uid = cr.metadata.uid?;
        self.api::<Order>()
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|o| {
                o.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == uid)
            })
    }

    /// Waits until the Order of `name` is held by the guard; its reason.
    async fn wait_held(&self, name: &str) -> (Order, String) {
        self.wait(&format!("the Order of {name} held"), 60, async || {
            let o = self.order_of(name).await?;
            let reason = o.status.as_ref()?.reason.clone()?;
            reason
                .starts_with("Rate limit: over the limit for example.com")
                .then_some((o, reason))
        })
        .await
    }
}

/// The time in "...; next attempt at <time>".
fn next_attempt(reason: &str) -> jiff::Timestamp {
    let (_, t) = reason
        .rsplit_once("next attempt at ")
        .unwrap_or_else(|| panic!("no time in {reason:?}"));
    t.parse()
        .unwrap_or_else(|e| panic!("{t:?} in {reason:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_third_certificate_for_a_registered_domain_waits_and_a_restart_remembers() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start().await;
    let controllers = s.controllers();
    s.apply(
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": "limited",
            "annotations": {CERTIFICATES_PER_DOMAIN_ANNOTATION: "2"}},
        "spec": {"acme": {"server": s.pebble.directory_url, "email": "ops@example.com",
            "caBundle": s.pebble.ca_bundle(),
            "privateKeySecretRef": {"name": "limited-account"},
            "solvers": [{"http01": {"ingress": {}}}]}}}),
    )
    .await;

    // Two certificates under example.com, applied together: both admitted.
    let started = jiff::Timestamp::now();
    s.certificate("one").await;
    s.certificate("two").await;
    s.wait_ready("one").await;
    s.wait_ready("two").await;

    // The third is held: its Order names the registered domain, the count and when
    // it may try again (a week after the first issuance), and has no ACME order.
    s.certificate("three").await;
    let (order, reason) = s.wait_held("three").await;
    assert!(
        reason.starts_with(
            "Rate limit: over the limit for example.com: 2 certificates in the last 7 days (limit 2); next attempt at "
        ),
        "{reason}"
    );
    let at = next_attempt(&reason);
    let week = jiff::SignedDuration::from_hours(7 * 24);
    // The message gives whole seconds: an issuance in `started`'s second reads earlier.
    let second = jiff::SignedDuration::from_secs(1);
    assert!(
        at + second > started + week && at <= jiff::Timestamp::now() + week,
        "next attempt at {at}, a week after an issuance since {started}"
    );
    let status = order.status.clone().unwrap();
    assert!(status.url.is_none(), "no ACME order placed: {status:?}");
    // The Warning event on the Order, once for the one reason.
    let order_name = order.metadata.name.clone().unwrap();
    let events = s.wait("the RateLimited event", 30, async || {
        let list = s.api::<Event>().list(&ListParams::default()).await.ok()?;
        let found: Vec<Event> = list
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object.name.as_deref() == Some(order_name.as_str())
                    && e.reason.as_deref() == Some("RateLimited")
            })
            .collect();
        (!found.is_empty()).then_some(found)
    });
    let events = events.await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].count.unwrap_or(1),
        1,
        "published once: {events:?}"
    );
    assert_eq!(events[0].type_.as_deref(), Some("Warning"));
    assert_eq!(events[0].message.as_deref(), Some(reason.as_str()));
    // What `kubectl describe certificate three` shows: the reason, through the request.
    let cert_message = s
        .wait("Certificate three to say why it waits", 30, async || {
            let c = s.api::<Certificate>().get("three").await.ok()?;
            let ready = c
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            ready.message.filter(|m| m.contains(&reason))
        })
        .await;
    assert!(!cert_message.is_empty());

    // The ledger is in the cluster resource namespace, with both issuances.
    let cm_name = configmap_name(&s.pebble.directory_url);
    let cm = s.api::<ConfigMap>().get(&cm_name).await.unwrap();
    let ledger = Ledger::from_json(&cm.data.as_ref().unwrap()[LEDGER_KEY]).unwrap();
    assert_eq!(
        ledger.certificates.get("example.com").map(Vec::len),
        Some(2),
        "{ledger:?}"
    );
    assert!(ledger.in_flight.is_empty(), "{ledger:?}");

    // Fresh controllers (nothing in memory) read the ledger: the third still waits,
    // and a fourth is held too, with the same count.
    controllers.stop().await;
    let controllers = s.controllers();
    s.certificate("four").await;
    let (_, reason4) = s.wait_held("four").await;
    assert!(
        reason4.contains("example.com: 2 certificates in the last 7 days (limit 2)"),
        "{reason4}"
    );
    assert_eq!(next_attempt(&reason4), at, "the same oldest issuance");
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["three", "four"] {
        let o = s.order_of(name).await.unwrap();
        let st = o.status.unwrap();
        assert!(st.url.is_none(), "{name}: no ACME order placed: {st:?}");
    }
    let cm = s.api::<ConfigMap>().get(&cm_name).await.unwrap();
    let after = Ledger::from_json(&cm.data.as_ref().unwrap()[LEDGER_KEY]).unwrap();
    assert_eq!(after.certificates, ledger.certificates);
    controllers.stop().await;
}
