//! DNS-01 under faults (#20): providers that throttle and fail, nameservers that lag,
//! fall silent or answer SERVFAIL. For each: the outcome, the calls made (bounded),
//! and what was left behind (nothing).
//!
//! - Cloudflare (its emulator behind a fault-injecting front, end to end through
//!   Pebble): 429s, 5xx, and a create the API carried out whose answer was lost.
//! - Route53 (moto behind the front) and Cloud DNS (its emulator behind the front),
//!   at the provider: `Throttling` / `PriorRequestNotComplete`, 429
//!   `RESOURCE_EXHAUSTED` / 503, retried within the provider's budget, then reported
//!   as transient with the provider's words once the budget is spent.
//! - Nameservers (end to end): the zone's second authoritative nameserver lags
//!   (certgate waits for it and says so), then is silent while a recursive
//!   nameserver answers SERVFAIL and another times out (certgate moves on).
//!
//! Each test names its ClusterIssuer after its namespace: on a real API server the
//! tests share one cluster, and a ClusterIssuer of one name would be the last test's,
//! with that test's Pebble (seen as "No TXT records found" from the wrong CA).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use certgate::api::{Certificate, Challenge};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use certgate::dns01::Provider;
use certgate_conformance::emulators::cloudflare::{self as cf, CloudflareEmulator};
use certgate_conformance::emulators::dns::{DnsMode, DnsServer};
use certgate_sandbox::TestEnv;
use common::http_faults::{Failure, HttpFaults};
use common::pebble::{Pebble, PebbleOptions, free_port};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

/// Cloudflare's answer when it throttles (code 971, as its API writes it).
fn cloudflare_throttled() -> Failure {
    Failure::answer(
        429,
        "application/json",
        json!({"success": false, "errors": [{"code": 971,
            "message": "Please wait and consider throttling your request speed"}],
            "messages": [], "result": null})
        .to_string(),
    )
}

fn cloudflare_down(status: u16) -> Failure {
    Failure::answer(
        status,
        "text/html",
        "<html><body><h1>Bad gateway</h1> Cloudflare is unable to reach the origin</body></html>",
    )
}

struct Stack {
    env: TestEnv,
    cloudflare: CloudflareEmulator,
    front: HttpFaults,
    pebble: Pebble,
    _controllers: RunningControllers,
}

impl Stack {
    /// Cloudflare behind the front; `dns` adjusts the DNS-01 settings (nameservers).
    async fn start(
        dns: impl FnOnce(&mut certgate::dns01::Dns01Config, &CloudflareEmulator),
    ) -> Stack {
        let cloudflare = CloudflareEmulator::start(&["example.com"]).await.unwrap();
        let front = HttpFaults::start(&cloudflare.api_url()).await;
        let ns1 = cloudflare.dns_addr();
        let pebble = Pebble::start(PebbleOptions {
            dns_server: ns1.to_string(),
            http_port: free_port(),
            eab_keys: vec![],
            tls_port: 0,
        });
        let env = TestEnv::start().await.unwrap();
        env.apply_crds(&common::checked_in_crds()).await.unwrap();
        let mut acme = AcmeSettings::default();
        acme.dns01.recursive_nameservers = vec![ns1.into()];
        acme.dns01.authoritative_port = ns1.port();
        acme.dns01.poll_period = Duration::from_millis(500);
        acme.dns01.query_timeout = Duration::from_secs(1);
        acme.dns01.api_endpoints.cloudflare = Some(front.url());
        dns(&mut acme.dns01, &cloudflare);
        let config = ControllerConfig {
            acme,
            ..common::scoped_config(&env)
        };
        let controllers = RunningControllers::start(env.client.clone(), config);
        let s = Stack {
            env,
            cloudflare,
            front,
            pebble,
            _controllers: controllers,
        };
        s.apply(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cf-token"},
            "stringData": {"api-token": cf::TOKEN}}),
        )
        .await;
        s.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": s.issuer()},
            "spec": {"acme": {
                "server": s.pebble.directory_url,
                "email": "ops@example.com",
                "caBundle": s.pebble.ca_bundle(),
                "privateKeySecretRef": {"name": "cloudflare-account"},
                "solvers": [{"dns01": {"cloudflare": {
                    "apiTokenSecretRef": {"name": "cf-token", "key": "api-token"}}}}]}}}),
        )
        .await;
        s
    }

    /// This test's ClusterIssuer (cluster-scoped: a name of its own per test).
    fn issuer(&self) -> String {
        format!("cloudflare-{}", self.env.namespace)
    }

    async fn apply(&self, doc: Value) {
        let doc = common::place(&self.env, doc);
        certgate::manifests::apply(&self.env.client, "test", &[doc], "test")
            .await
            .unwrap();
    }

    async fn certificate(&self, name: &str, dns_names: &[&str]) {
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name},
            "spec": {"secretName": format!("{name}-tls"), "dnsNames": dns_names,
                "issuerRef": {"name": self.issuer(), "kind": "ClusterIssuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256}}}),
        )
        .await;
    }

    /// Waits up to `secs` for Certificate `name` to be Ready, collecting every
    /// Challenge reason: those shown while polling, and those of the Challenges'
    /// `PresentError` events (a reason can be replaced between two polls); then waits
    /// for the Challenges and every TXT record under `_acme-challenge.example.com` to
    /// be gone.
    async fn ready_and_clean(&self, name: &str, secs: u64) -> BTreeSet<String> {
        let certificates =
            Api::<Certificate>::namespaced(self.env.client.clone(), &self.env.namespace);
        let challenges = Api::<Challenge>::namespaced(self.env.client.clone(), &self.env.namespace);
        let mut reasons = BTreeSet::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(list) = challenges.list(&ListParams::default()).await {
                reasons.extend(
                    list.items
                        .iter()
                        .filter_map(|c| c.status.as_ref()?.reason.clone())
                        .filter(|r| !r.is_empty()),
                );
            }
            if certificates
                .get(name)
                .await
                .ok()
                .is_some_and(|c| common::is_ready(&c))
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} not Ready in {secs} s; reasons seen: {reasons:#?}\npebble:\n{}",
                self.pebble.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let events = Api::<Event>::namespaced(self.env.client.clone(), &self.env.namespace)
            .list(&ListParams::default())
            .await
            .unwrap();
        reasons.extend(
            events
                .items
                .into_iter()
                .filter(|e| {
                    e.involved_object.kind.as_deref() == Some("Challenge")
                        && e.reason.as_deref() == Some("PresentError")
                })
                .filter_map(|e| e.message),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = challenges
                .list(&ListParams::default())
                .await
                .map(|l| l.items.len())
                .unwrap_or(usize::MAX);
            let txt = self.cloudflare.txt_contents("_acme-challenge.example.com");
            if left == 0 && txt.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "left behind: {left} Challenges, TXT {txt:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        reasons
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_throttling_outages_and_a_lost_answer_end_ready_with_nothing_left() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let s = Stack::start(|_, _| {}).await;
    s.front.inject([
        cloudflare_throttled(),
        cloudflare_throttled(),
        cloudflare_down(502),
        cloudflare_down(503),
        // The record is created, the answer lost: the retry must not add another.
        Failure {
            after_upstream: true,
            ..cloudflare_down(502).on("POST", "/dns_records")
        },
    ]);
    s.certificate("wild", &["*.example.com", "example.com"])
        .await;
    let reasons = s.ready_and_clean("wild", 180).await;
    let seen = s.front.seen();
    let injected = seen.iter().filter(|r| r.injected).count();
    eprintln!(
        "Cloudflare faults: {} API requests ({injected} answered by faults), {} record writes; reasons: {reasons:#?}",
        seen.len(),
        s.cloudflare.writes()
    );
    assert_eq!(s.front.pending(), 0, "every fault was met");
    assert!(
        reasons.iter().any(|r| r.contains("rate limiting")),
        "no Challenge said Cloudflare was rate limiting: {reasons:#?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("HTTP 502") || r.contains("HTTP 503")),
        "no Challenge named the outage: {reasons:#?}"
    );
    // Two values created and deleted once each: the lost create was found, not repeated.
    assert_eq!(s.cloudflare.writes(), 4, "creates + deletes: {seen:#?}");
    // Without faults the issuance takes about a dozen calls; each fault costs a retry.
    assert!(seen.len() <= 40, "{} API requests: {seen:#?}", seen.len());
}

/// A second nameserver for the emulator's zones, on 127.0.0.2 at `ns1`'s port.
async fn second_nameserver(cloudflare: &CloudflareEmulator) -> DnsServer {
    let data = cloudflare.zone_data();
    data.set_nameservers(&[Ipv4Addr::LOCALHOST, Ipv4Addr::new(127, 0, 0, 2)]);
    let at = SocketAddr::from(([127, 0, 0, 2], cloudflare.dns_addr().port()));
    DnsServer::start_on(data, at).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_second_nameserver_is_waited_for_and_named() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let s = Stack::start(|_, _| {}).await;
    let ns2 = second_nameserver(&s.cloudflare).await;
    // A secondary that knows the zone but serves it as it was 5 s ago: wait until
    // its view holds the zone (before, it answers REFUSED: a lame server, passed over).
    ns2.set_lag(Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(5500)).await;
    s.certificate("lagging", &["lagging.example.com"]).await;
    let started = std::time::Instant::now();
    let reasons = s.ready_and_clean("lagging", 120).await;
    eprintln!(
        "lagging nameserver: Ready and clean after {:?}; {} queries to ns1, {} to ns2; reasons: {reasons:#?}",
        started.elapsed(),
        s.cloudflare.dns_server().queries(),
        ns2.queries()
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not yet propagated") && r.contains("127.0.0.2")),
        "no Challenge named the lagging nameserver: {reasons:#?}"
    );
    // Polled every 500 ms while it lags, not in a tight loop.
    assert!(ns2.queries() >= 4, "ns2 was not polled while it lagged");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "Ready before ns2 caught up"
    );
    assert!(
        ns2.queries() <= 60,
        "{} queries to the lagging server",
        ns2.queries()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_nameserver_and_failing_recursive_resolvers_are_passed_over() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    // Recursive nameservers asked in order: one silent, one answering SERVFAIL, then ns1.
    let silent = DnsServer::start(Default::default()).await.unwrap();
    silent.set_mode(DnsMode::Silent);
    let servfail = DnsServer::start(Default::default()).await.unwrap();
    servfail.set_mode(DnsMode::ServFail);
    let (silent_addr, servfail_addr) = (silent.addr(), servfail.addr());
    let s = Stack::start(|dns, cloudflare| {
        dns.recursive_nameservers = vec![
            silent_addr.into(),
            servfail_addr.into(),
            cloudflare.dns_addr().into(),
        ];
    })
    .await;
    let ns2 = second_nameserver(&s.cloudflare).await;
    ns2.set_mode(DnsMode::Silent);
    s.certificate("passed-over", &["passed-over.example.com"])
        .await;
    let started = std::time::Instant::now();
    let reasons = s.ready_and_clean("passed-over", 120).await;
    eprintln!(
        "silent ns2, silent and SERVFAIL recursive: Ready and clean after {:?}; queries: silent {}, SERVFAIL {}, ns2 {}; reasons: {reasons:#?}",
        started.elapsed(),
        silent.queries(),
        servfail.queries(),
        ns2.queries()
    );
    assert!(
        silent.queries() >= 1 && servfail.queries() >= 1,
        "the failing resolvers were not asked"
    );
    assert!(ns2.queries() >= 1, "the silent nameserver was not asked");
    // A resolver that failed is asked after the others for 30 s: each costs a lookup
    // or two, not a timeout per lookup (before: 36 queries to the silent one).
    assert!(
        silent.queries() <= 5,
        "{} queries to the silent resolver",
        silent.queries()
    );
    assert!(
        servfail.queries() <= 5,
        "{} queries to the SERVFAIL resolver",
        servfail.queries()
    );
}

fn route53_error(code: &str, message: &str) -> Failure {
    Failure::answer(
        400,
        "text/xml",
        format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>0f1e2d3c-fault</RequestId></ErrorResponse>"
        ),
    )
}

#[tokio::test]
async fn route53_throttling_is_retried_within_the_budget_then_reported() {
    use certgate::dns01::route53::{AwsCredentials, Route53Options, Route53Provider};
    if common::missing(&[common::MOTO]) {
        return;
    }
    let moto = common::moto::Moto::start();
    let id = moto.create_zone("example.com", false).await;
    let front = HttpFaults::start(&moto.endpoint()).await;
    let backoff = certgate::dns01::zone_batch::Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_millis(400),
        attempts: 5,
    };
    let p = Route53Provider::new(Route53Options {
        region: Some("us-east-1".into()),
        hosted_zone_id: Some(id.clone()),
        credentials: AwsCredentials::Static {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: "test-secret".into(),
            source: "test".into(),
        },
        endpoint_url: Some(front.url()),
        batch_window: Duration::from_millis(50),
        backoff,
        poll_interval: Duration::from_millis(50),
        ..Route53Options::default()
    })
    .await
    .unwrap();
    let name = "_acme-challenge.example.com.";
    // Throttled twice, then the change refused while "a prior request" is pending;
    // then throttled beyond the budget.
    throttled_present_then_clean_up(
        "Route53",
        &p,
        &front,
        vec![
            route53_error("Throttling", "Rate exceeded"),
            route53_error("Throttling", "Rate exceeded"),
            route53_error(
                "PriorRequestNotComplete",
                "The request was rejected because Route 53 was still processing a prior request.",
            )
            .on("POST", "/rrset"),
        ],
        || route53_error("Throttling", "Rate exceeded"),
        "Throttling",
        async || moto.txt(&id, name).await,
    )
    .await;
}

/// What both provider tests check, with `p` behind `front` writing
/// `_acme-challenge.example.com.`: after `burst` (faults within the retry budget) a
/// present succeeds in at most 12 requests, every fault met; after 5 of `over` (the
/// budget) a present fails, transient, naming `word`, after exactly 5 requests; the
/// clean-up then leaves nothing (`txt`: the values served).
async fn throttled_present_then_clean_up(
    provider: &str,
    p: &dyn Provider,
    front: &HttpFaults,
    burst: Vec<Failure>,
    over: impl Fn() -> Failure,
    word: &str,
    txt: impl AsyncFn() -> Vec<String>,
) {
    let name = "_acme-challenge.example.com.";
    front.inject(burst);
    p.present("example.com.", name, "value-1").await.unwrap();
    assert_eq!(
        front.pending(),
        0,
        "every fault was met: {:#?}",
        front.seen()
    );
    assert_eq!(txt().await, vec!["value-1"]);
    let first = front.seen().len();
    assert!(
        first <= 12,
        "{first} requests for one present: {:#?}",
        front.seen()
    );

    front.inject((0..5).map(|_| over()));
    let e = p
        .present("example.com.", name, "value-2")
        .await
        .expect_err("throttled beyond the retry budget");
    let made = front.seen().len() - first;
    eprintln!("{provider}: first present {first} requests; throttled present {made} requests: {e}");
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains(word), "{e}");
    assert_eq!(front.pending(), 0);
    assert_eq!(
        made,
        5,
        "attempts for a throttled present: {:#?}",
        front.seen()
    );
    // Faults over: clean-up leaves nothing.
    p.cleanup("example.com.", name, "value-1").await.unwrap();
    p.cleanup("example.com.", name, "value-2").await.unwrap();
    let left = txt().await;
    assert!(left.is_empty(), "left: {left:?}");
}

fn google_error(status: u16, state: &str, reason: &str, message: &str) -> Failure {
    Failure::answer(
        status,
        "application/json; charset=UTF-8",
        json!({"error": {"code": status, "message": message,
            "errors": [{"message": message, "domain": "usageLimits", "reason": reason}],
            "status": state}})
        .to_string(),
    )
}

#[tokio::test]
async fn cloud_dns_throttling_is_retried_within_the_budget_then_reported() {
    use certgate::dns01::clouddns::{CloudDnsOptions, CloudDnsProvider, GcpCredentials};
    use certgate_conformance::emulators::clouddns::{CloudDnsEmulator, PROJECT};
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let e = CloudDnsEmulator::start(&["example.com"]).await.unwrap();
    let front = HttpFaults::start(&e.endpoint()).await;
    let p = CloudDnsProvider::new(CloudDnsOptions {
        project: PROJECT.into(),
        credentials: GcpCredentials::Anonymous,
        endpoint: Some(front.url()),
        batch_window: Duration::from_millis(50),
        backoff: certgate::dns01::zone_batch::Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_millis(400),
            attempts: 5,
        },
        poll_interval: Duration::from_millis(50),
        ..CloudDnsOptions::default()
    })
    .await
    .unwrap();
    let throttled = || {
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        )
    };
    throttled_present_then_clean_up(
        "Cloud DNS",
        &p,
        &front,
        vec![
            throttled(),
            google_error(
                503,
                "UNAVAILABLE",
                "backendError",
                "The service is currently unavailable.",
            ),
            throttled(),
        ],
        throttled,
        "429",
        async || {
            e.rrsets("_acme-challenge.example.com.")
                .into_iter()
                .filter(|r| r.rtype == "TXT")
                .flat_map(|r| r.rrdatas)
                .map(|d| d.trim_matches('"').to_string())
                .collect()
        },
    )
    .await;
    assert!(e.changes() > 0);
}
