//! certgate against a misbehaving ACME server: Pebble behind a fault-injecting
//! proxy (tests/common/acme_proxy.rs). Each transient fault still ends in a Ready
//! Certificate with a bounded number of ACME requests, Retry-After is honoured, and
//! a permanent rate limit shows the CA's words without a request storm.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/acme_proxy.rs"]
mod acme_proxy;
mod common;

use acme_proxy::{AcmeProxy, Fault, Kind};
use certgate::api::{Certificate, CertificateRequest, Order};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use certgate_sandbox::TestEnv;
use common::bind::{Bind, ZoneSpec};
use common::pebble::{Pebble, PebbleOptions, free_port};
use http::Method;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Stack {
    env: TestEnv,
    _bind: Bind,
    pebble: Pebble,
    proxy: AcmeProxy,
    _controllers: RunningControllers,
}

impl Stack {
    async fn start() -> Stack {
        Self::start_with(None).await
    }

    /// With `faults`, the controllers talk to the sandbox as its faulty client.
    async fn start_with(faults: Option<certgate_sandbox::faults::FaultPlan>) -> Stack {
        let bind = Bind::start(&[ZoneSpec::new("example.com")]);
        let solver_port = free_port();
        let pebble = Pebble::start(PebbleOptions {
            dns_server: bind.addr().to_string(),
            http_port: solver_port,
            tls_port: 0,
            eab_keys: vec![],
        });
        let proxy = AcmeProxy::start(&pebble.directory_url, &pebble.tls_ca_pem).await;
        let env = TestEnv::start().await.unwrap();
        env.apply_crds(&common::checked_in_crds()).await.unwrap();
        let dns: SocketAddr = bind.addr();
        let mut acme = AcmeSettings::default();
        acme.http01.self_check_port = solver_port;
        acme.http01.self_check_nameservers = vec![dns];
        acme.http01_solver_listen = Some(SocketAddr::from(([127, 0, 0, 1], solver_port)));
        let config = ControllerConfig {
            acme,
            ..common::scoped_config(&env)
        };
        let client = match (&faults, env.sandbox.as_ref()) {
            (Some(plan), Some(sandbox)) => {
                sandbox.faults().set(plan.clone());
                sandbox.faulty_client().await.unwrap()
            }
            _ => env.client.clone(),
        };
        let controllers = RunningControllers::start(client, config);
        Stack {
            env,
            _bind: bind,
            pebble,
            proxy,
            _controllers: controllers,
        }
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

    /// The name of the test's ClusterIssuer (one per namespace: tests share a real
    /// cluster).
    fn issuer(&self) -> String {
        format!("proxied-{}", self.env.namespace)
    }

    /// The test's ClusterIssuer: ACME through the proxy, HTTP-01 by Ingress, its
    /// account registered.
    async fn proxied_issuer(&self) {
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": self.issuer()},
            "spec": {"acme": {"server": self.proxy.directory_url, "email": "ops@example.com",
                "caBundle": self.proxy.ca_bundle(),
                "privateKeySecretRef": {"name": "proxied-account"},
                "solvers": [{"http01": {"ingress": {}}}]}}}),
        )
        .await;
        common::outcome::wait_issuer_ready(&self.env.client, None, &self.issuer()).await;
    }

    async fn certificate(&self, name: &str) {
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name},
            "spec": {"secretName": format!("{name}-tls"),
                "dnsNames": [format!("{name}.example.com")],
                "issuerRef": {"name": self.issuer(), "kind": "ClusterIssuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256}}}),
        )
        .await;
    }

    async fn ready(&self, name: &str) -> bool {
        self.api::<Certificate>()
            .get(name)
            .await
            .ok()
            .is_some_and(|c| common::is_ready(&c))
    }

    /// Everything ACME in the namespace, for messages and the CA's words.
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

    /// Issues `name` and waits up to `secs` for it Ready; the requests and time taken.
    async fn issue(&self, name: &str, secs: u64) -> (usize, Duration) {
        self.proxy.reset_log();
        let started = Instant::now();
        self.certificate(name).await;
        while !self.ready(name).await {
            if started.elapsed() > Duration::from_secs(secs) {
                panic!(
                    "Certificate {name} not Ready in {secs} s\nrequests: {:?}\n{}\npebble log:\n{}",
                    self.proxy
                        .seen()
                        .iter()
                        .map(|s| (&s.method, s.kind, s.status))
                        .collect::<Vec<_>>(),
                    self.dump().await,
                    self.pebble.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (self.proxy.seen().len(), started.elapsed())
    }
}

/// No request to `method` + `kind` sooner than ~2 s after a 429 there; the
/// shortest such gap, for the table.
fn assert_retry_after_honoured(
    seen: &[acme_proxy::Seen],
    method: &Method,
    kind: Kind,
) -> Option<Duration> {
    let mut shortest: Option<Duration> = None;
    let hits: Vec<_> = seen
        .iter()
        .filter(|s| s.method == *method && s.kind == kind)
        .collect();
    for w in hits.windows(2) {
        if w[0].status == 429 {
            let gap = w[1].at - w[0].at;
            shortest = Some(shortest.map_or(gap, |g| g.min(gap)));
            assert!(
                gap >= Duration::from_millis(1800),
                "{method} {kind:?} again {gap:?} after a 429 with Retry-After: 2"
            );
        }
    }
    shortest
}

/// How many new-order requests (Pebble's `/order-plz`) were answered 201.
fn new_orders(seen: &[acme_proxy::Seen]) -> usize {
    seen.iter()
        .filter(|s| s.path.starts_with("/order-plz") && s.status == 201)
        .count()
}

fn gap_text(gap: Option<Duration>) -> String {
    gap.map_or("-".to_string(), |g| format!("{:.1} s", g.as_secs_f64()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certgate_converges_through_acme_faults_with_bounded_requests() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start().await;
    s.proxied_issuer().await;

    let (baseline, took) = s.issue("baseline", 60).await;
    let mut table = vec![
        format!(
            "{:<28} {:<10} {:>8} {:>6} {:>7} {:>14} {:>10}",
            "fault", "outcome", "requests", "bound", "secs", "gap after 429", "new orders"
        ),
        format!(
            "{:<28} {:<10} {:>8} {:>6} {:>7.1} {:>14} {:>10}",
            "none",
            "Ready",
            baseline,
            "-",
            took.as_secs_f64(),
            "-",
            1
        ),
    ];

    let post = Method::POST;
    let cases: Vec<(&str, Fault, Method, Kind, usize)> = vec![
        (
            "2 x 503 on new-order",
            Fault::ServiceUnavailable,
            post.clone(),
            Kind::Order,
            2,
        ),
        (
            "2 x 429 Retry-After: 2",
            Fault::TooManyRequests,
            post.clone(),
            Kind::Order,
            2,
        ),
        (
            "2 x badNonce on new-order",
            Fault::BadNonce,
            post.clone(),
            Kind::Order,
            2,
        ),
        (
            "1 x rateLimited on order",
            Fault::RateLimited,
            post.clone(),
            Kind::Order,
            1,
        ),
        (
            "1 x reset on finalize",
            Fault::Reset,
            post.clone(),
            Kind::Finalize,
            1,
        ),
        (
            "1 x stall 3 s on chall",
            Fault::Stall(3),
            post.clone(),
            Kind::Chall,
            1,
        ),
        (
            "1 x stall 10 s on finalize",
            Fault::Stall(10),
            post.clone(),
            Kind::Finalize,
            1,
        ),
        (
            "2 x 503 on cert download",
            Fault::ServiceUnavailable,
            post.clone(),
            Kind::Cert,
            2,
        ),
        (
            "1 x 429 on authz",
            Fault::TooManyRequests,
            post.clone(),
            Kind::Authz,
            1,
        ),
    ];
    for (i, (what, fault, method, kind, n)) in cases.into_iter().enumerate() {
        s.proxy.inject(fault, method.clone(), kind, n);
        let (requests, took) = s.issue(&format!("case{i}"), 60).await;
        let seen = s.proxy.seen();
        s.proxy.clear();
        let bound = 2 * baseline + n;
        let gap = assert_retry_after_honoured(&seen, &method, kind);
        table.push(format!(
            "{what:<28} {:<10} {requests:>8} {bound:>6} {:>7.1} {:>14} {:>10}",
            "Ready",
            took.as_secs_f64(),
            gap_text(gap),
            new_orders(&seen)
        ));
        assert!(
            requests <= bound,
            "{what}: {requests} requests, bound {bound}"
        );
        let injected = seen.iter().filter(|s| s.fault.is_some()).count();
        assert_eq!(injected, n, "{what}: the faults were not all hit");
    }

    // A permanent rate limit on new orders: the CA's words shown, no storm.
    s.proxy.reset_log();
    s.proxy
        .inject(Fault::RateLimited, post.clone(), Kind::Order, usize::MAX);
    s.certificate("limited").await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let seen = s.proxy.seen();
    let dump = s.dump().await;
    let orders = seen.iter().filter(|x| x.kind == Kind::Order).count();
    // Retry-After: 2 honoured: at most one new order per 2 s, and two spare.
    let bound = 12;
    let gap = assert_retry_after_honoured(&seen, &post, Kind::Order);
    table.push(format!(
        "{:<28} {:<10} {:>8} {bound:>6} {:>7.1} {:>14}",
        "rateLimited forever (20 s)",
        "not Ready",
        format!("{orders} orders"),
        20.0,
        gap_text(gap)
    ));
    eprintln!("{}", table.join("\n"));
    assert!(
        dump.contains("too many new orders recently"),
        "the CA's words are not shown:\n{dump}"
    );
    assert!(!s.ready("limited").await);
    assert!(
        orders <= bound,
        "{orders} new-order requests in 20 s: a storm\n{seen:?}"
    );

    // The CA refuses at finalize (CAA) and the order goes invalid after it was
    // ready: Failed with the CA's words, and no new order straight away (the
    // Certificate backs off as cert-manager's does after a failed issuance).
    s.proxy.clear();
    s.proxy.reset_log();
    s.proxy
        .inject(Fault::RefusedAtFinalize, post.clone(), Kind::Finalize, 1);
    s.certificate("refused").await;
    let started = Instant::now();
    let dump = loop {
        let dump = s.dump().await;
        if dump
            .lines()
            .any(|l| l.starts_with("CR Some(\"refused") && l.contains(acme_proxy::CAA_REFUSAL))
        {
            break dump;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the refusal at finalize is not on the CertificateRequest:\n{dump}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The refused Order's ACME order, now and 5 s later: the same one, and no other
    // Order (the "limited" Certificate above may place its own order meanwhile).
    let refused = async || -> Vec<Option<String>> {
        s.api::<Order>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|o| {
                o.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("refused-"))
            })
            .map(|o| o.status.and_then(|st| st.url))
            .collect()
    };
    let at_failure = refused().await;
    let failed_after = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = refused().await;
    eprintln!(
        "refused at finalize: Failed after {:.1} s; Orders then {at_failure:?}, 5 s later {later:?}",
        failed_after.as_secs_f64()
    );
    assert!(!s.ready("refused").await);
    assert_eq!(at_failure.len(), 1, "{dump}");
    assert!(at_failure[0].is_some(), "{dump}");
    assert_eq!(later, at_failure, "a new order after the refusal:\n{dump}");
}

/// A lagging watch (every event 500 ms late), 409s and 429s from the API server: the
/// Order controller must not act on a cache that has not seen the status it just
/// wrote, and an order the CA created whose status write was refused (409, 429) is
/// recorded on the next attempt, not placed again. Before the Order was read back,
/// and again before placed orders were remembered, this placed 8–9 CA orders for 6
/// Orders (seen in CI under load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_api_server_gets_one_ca_order_per_order_sandbox_only() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let plan = certgate_sandbox::faults::FaultPlan {
        watch_delay: Duration::from_millis(500),
        conflict_rate: 0.2,
        throttle_rate: 0.1,
        seed: 3,
        ..Default::default()
    };
    let s = Stack::start_with(Some(plan)).await;
    if s.env.sandbox.is_none() {
        eprintln!("skipped: injected API server faults need the sandbox");
        return;
    }
    s.proxied_issuer().await;
    const N: usize = 6;
    for i in 0..N {
        s.certificate(&format!("lag{i}")).await;
    }
    let started = Instant::now();
    for i in 0..N {
        while !s.ready(&format!("lag{i}")).await {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "lag{i} not Ready in 120 s\n{}",
                s.dump().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = s.env.sandbox.as_ref().map(|x| x.faults().counts());
    let orders = s
        .api::<Order>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let requests = s
        .api::<CertificateRequest>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let placed = new_orders(&s.proxy.seen());
    eprintln!(
        "lagging watch: {N} Certificates, {} CertificateRequests, {} Orders, {placed} CA orders placed; faults {counts:?}",
        requests.len(),
        orders.len()
    );
    assert!(
        counts.is_some_and(|c| c.delayed_watch_events > 0),
        "{counts:?}"
    );
    assert_eq!(requests.len(), N, "{}", s.dump().await);
    assert_eq!(orders.len(), N, "{}", s.dump().await);
    assert_eq!(
        placed,
        N,
        "CA orders placed for {N} Orders\n{}",
        s.dump().await
    );
}

/// The CA moves its endpoints: the directory (at the same URL) names new URLs and
/// the old ones answer 404. certgate reads the directory again after the 404 from
/// newOrder, finds its account by its key at the new URLs and issues, with one
/// order at the new origin and no more than four requests to the old URLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_that_moves_its_urls_is_followed_to_the_new_ones() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start().await;
    s.proxied_issuer().await;
    let (baseline, _) = s.issue("before", 60).await;
    assert!(
        s.proxy.seen().iter().all(|x| !x.second_origin),
        "nothing goes to the second origin before the move"
    );

    s.proxy.move_urls();
    let (requests, took) = s.issue("after", 60).await;
    let seen = s.proxy.seen();
    let old: Vec<_> = seen
        .iter()
        .filter(|x| !x.second_origin && x.kind != Kind::Directory)
        .collect();
    let directory_reads = seen.iter().filter(|x| x.kind == Kind::Directory).count();
    let new_orders_at_new = seen
        .iter()
        .filter(|x| x.second_origin && x.path.starts_with("/order-plz") && x.status == 201)
        .count();
    let bound = 2 * baseline + 4;
    eprintln!(
        "directory moved: Ready in {:.1} s, {requests} requests (bound {bound}; baseline {baseline}), \
         {} to old URLs (all 404), {directory_reads} directory reads, {new_orders_at_new} new order at the new origin",
        took.as_secs_f64(),
        old.len()
    );
    eprintln!(
        "old URLs asked after the move: {:?}",
        old.iter().map(|x| (&x.method, &x.path)).collect::<Vec<_>>()
    );
    // newNonce and/or newOrder before the directory is read again, and perhaps a
    // late read by the previous issuance's clean-up.
    assert!(
        !old.is_empty() && old.len() <= 4,
        "requests to the old URLs after the move: {old:?}"
    );
    assert!(old.iter().all(|x| x.status == 404), "{old:?}");
    assert_eq!(
        directory_reads, 1,
        "the directory read again once: {seen:?}"
    );
    assert_eq!(new_orders_at_new, 1, "{seen:?}");
    assert!(requests <= bound, "{requests} requests, bound {bound}");
}
