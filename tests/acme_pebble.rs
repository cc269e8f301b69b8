//! ACME issuance end to end against real servers: Pebble (Let's Encrypt's test CA)
//! as the CA, BIND 9 as the authoritative DNS that Pebble queries and RFC 2136
//! updates, and the sandbox API server through the real `kube::Client`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::annotations as ann;
use certgate::api::{Certificate, CertificateRequest, Challenge, ClusterIssuer, Order};
use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
use certgate::issuers::acme::account::key_hash;
use certgate::issuers::acme::protocol::chains;
use certgate::issuers::acme::protocol::http::Transport;
use certgate::issuers::acme::protocol::jws::{Jwk, JwsAlgorithm};
use certgate::issuers::acme::protocol::{
    AccountKey, AccountKeyAlgorithm, Client as AcmeClient, ClientOptions, HttpOptions, NewAccount,
};
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

/// Every object `api` sees created or changed from now on (watched from before the
/// test acts, so short-lived solver routes are seen), and the watch to abort.
fn watch_applied<K>(
    api: Api<K>,
) -> (
    tokio::sync::mpsc::UnboundedReceiver<K>,
    tokio::task::JoinHandle<()>,
)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = tokio::spawn(async move {
        use futures::StreamExt;
        let stream = kube::runtime::watcher(api, Default::default());
        futures::pin_mut!(stream);
        while let Some(Ok(ev)) = stream.next().await {
            if let kube::runtime::watcher::Event::Apply(o) = ev {
                let _ = tx.send(o);
            }
        }
    });
    (rx, watch)
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
    tls_alpn_port: u16,
    controllers: Option<RunningControllers>,
}

impl Stack {
    async fn start(eab: Vec<(String, String)>) -> Stack {
        Stack::start_with_pebble_env(eab, &[]).await
    }

    /// As [`Stack::start`], with Pebble's environment settings overridden (see
    /// [`Pebble::start_with_env`]).
    async fn start_with_pebble_env(eab: Vec<(String, String)>, env: &[(&str, &str)]) -> Stack {
        let bind = Bind::start(&[
            ZoneSpec::new("example.com")
                .with_record("_acme-challenge.fail IN CNAME _acme-challenge.wrong.example.com.")
                .with_record("_acme-challenge.wrong IN TXT \"not-the-key\"")
                .with_record("_acme-challenge.delegated IN CNAME _acme-challenge.delegated-target.example.com."),
            ZoneSpec::new("other.test"),
        ]);
        let solver_port = free_port();
        let tls_alpn_port = free_port();
        let pebble = Pebble::start_with_env(
            PebbleOptions {
                dns_server: bind.addr().to_string(),
                http_port: solver_port,
                tls_port: tls_alpn_port,
                eab_keys: eab,
            },
            env,
        );
        let env = TestEnv::start().await.unwrap();
        env.apply_crds(&common::checked_in_crds()).await.unwrap();
        let mut s = Stack {
            env,
            bind,
            pebble,
            solver_port,
            tls_alpn_port,
            controllers: None,
        };
        s.start_controllers();
        s
    }

    fn config(&self) -> ControllerConfig {
        let dns: SocketAddr = self.bind.addr();
        let mut acme = AcmeSettings::default();
        acme.dns01.recursive_nameservers = vec![dns.into()];
        acme.dns01.authoritative_port = dns.port();
        acme.dns01.poll_period = Duration::from_millis(500);
        acme.http01.self_check_port = self.solver_port;
        acme.http01.self_check_nameservers = vec![dns];
        acme.http01_solver_listen = Some(SocketAddr::from(([127, 0, 0, 1], self.solver_port)));
        acme.tls_alpn01.self_check_port = self.tls_alpn_port;
        acme.tls_alpn01.self_check_nameservers = vec![dns];
        acme.tls_alpn01_solver_listen =
            Some(SocketAddr::from(([127, 0, 0, 1], self.tls_alpn_port)));
        ControllerConfig {
            acme,
            ..common::scoped_config(&self.env)
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

    async fn apply(&self, doc: Value) {
        let doc = common::place(&self.env, doc);
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
        self.wait(&format!("Certificate {name} Ready"), secs, async || {
            api.get(name).await.ok().filter(common::is_ready)
        })
        .await
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

    /// Every object of a kind in the test namespace.
    async fn all<K>(&self) -> Vec<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        self.api::<K>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
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

    /// Every event in the namespace, in order, for failure messages.
    async fn all_events(&self) -> String {
        let mut list = self
            .api::<Event>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        list.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
        list.into_iter()
            .map(|e| {
                format!(
                    "{} {} {}/{} ({}) x{}: {} {}\n",
                    e.metadata
                        .creation_timestamp
                        .map(|t| t.0.to_string())
                        .unwrap_or_default(),
                    e.type_.unwrap_or_default(),
                    e.involved_object.kind.unwrap_or_default(),
                    e.involved_object.name.unwrap_or_default(),
                    e.involved_object.uid.unwrap_or_default(),
                    e.count.unwrap_or(1),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default()
                )
            })
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
        for o in self.all::<Order>().await {
            out += &format!(
                "Order {}: {:?}\n",
                o.metadata.name.unwrap_or_default(),
                o.status
            );
        }
        for c in self.all::<Challenge>().await {
            out += &format!(
                "Challenge {}: {:?} {:?}\n",
                c.metadata.name.unwrap_or_default(),
                c.spec.type_,
                c.status
            );
        }
        for c in self.all::<Certificate>().await {
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
            // `dig +short` through a CNAME prints the target as an empty value; the
            // zone's own fixture value is not ours.
            let left: Vec<String> = self
                .bind
                .txt(&record)
                .into_iter()
                .filter(|v| !v.is_empty() && v != "not-the-key")
                .collect();
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

impl Stack {
    /// Waits for an Order in `state`.
    async fn wait_order(&self, state: certgate::api::order::State, secs: u64) -> Order {
        self.wait(&format!("an Order in state {state:?}"), secs, async || {
            self.api::<Order>()
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|o| o.status.as_ref().and_then(|st| st.state) == Some(state))
        })
        .await
    }

    /// Waits until the Certificate recorded a failed issuance.
    async fn wait_failure_recorded(&self, name: &str) -> Certificate {
        self.wait("the Certificate to record the failure", 30, async || {
            let c = self.api::<Certificate>().get(name).await.ok()?;
            c.status
                .as_ref()
                .and_then(|st| st.last_failure_time.as_ref())
                .map(|_| c.clone())
        })
        .await
    }

    /// Waits for a Challenge presented.
    async fn wait_presented(&self) -> Challenge {
        self.wait("a challenge presented", 30, async || {
            self.api::<Challenge>()
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|c| c.status.as_ref().and_then(|st| st.presented) == Some(true))
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_issues_a_certificate_from_pebble_and_leaves_nothing_behind() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
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
    // The ACME client's requests are counted under cert-manager's metric name.
    let text = s.controllers.as_ref().unwrap().metrics.render(0.0);
    let new_orders = text
        .lines()
        .find(|l| {
            l.starts_with("certmanager_http_acme_client_request_count{")
                && l.contains("action=\"authorize_order\"")
                && l.contains("status=\"201\"")
        })
        .unwrap_or_else(|| panic!("no new-order series in:\n{text}"));
    assert!(new_orders.contains("method=\"POST\""), "{new_orders}");
    assert_metrics_as_cert_manager(&text);
    s.assert_nothing_left(&["web.example.com"]).await;
}

/// Every metric cert-manager v1.21's controller exports (internal/collectors/*.go and
/// pkg/metrics/metrics.go), with its type and label names; certgate has no Venafi
/// issuer, so the three `venafi_*` families are not served.
const CERT_MANAGER_METRICS: &[(&str, &str, &[&str])] = &[
    (
        "certmanager_certificate_expiration_timestamp_seconds",
        "gauge",
        &[
            "name",
            "namespace",
            "issuer_name",
            "issuer_kind",
            "issuer_group",
        ],
    ),
    (
        "certmanager_certificate_not_after_timestamp_seconds",
        "gauge",
        &[
            "name",
            "namespace",
            "issuer_name",
            "issuer_kind",
            "issuer_group",
        ],
    ),
    (
        "certmanager_certificate_not_before_timestamp_seconds",
        "gauge",
        &[
            "name",
            "namespace",
            "issuer_name",
            "issuer_kind",
            "issuer_group",
        ],
    ),
    (
        "certmanager_certificate_renewal_timestamp_seconds",
        "gauge",
        &[
            "name",
            "namespace",
            "issuer_name",
            "issuer_kind",
            "issuer_group",
        ],
    ),
    (
        "certmanager_certificate_ready_status",
        "gauge",
        &[
            "name",
            "namespace",
            "condition",
            "issuer_name",
            "issuer_kind",
            "issuer_group",
        ],
    ),
    (
        "certmanager_certificate_challenge_status",
        "gauge",
        &[
            "status",
            "domain",
            "reason",
            "processing",
            "name",
            "namespace",
            "type",
        ],
    ),
    (
        "certmanager_issuer_ready_status",
        "gauge",
        &["name", "namespace", "condition"],
    ),
    (
        "certmanager_clusterissuer_ready_status",
        "gauge",
        &["name", "condition"],
    ),
    (
        "certmanager_http_acme_client_request_count",
        "counter",
        &["scheme", "host", "action", "method", "status"],
    ),
    (
        "certmanager_http_acme_client_request_duration_seconds",
        "summary",
        &["scheme", "host", "action", "method", "status"],
    ),
    (
        "certmanager_controller_sync_call_count",
        "counter",
        &["controller"],
    ),
    (
        "certmanager_controller_sync_error_count",
        "counter",
        &["controller"],
    ),
    ("certmanager_clock_time_seconds", "counter", &[]),
    ("certmanager_clock_time_seconds_gauge", "gauge", &[]),
];

/// The exposition serves exactly cert-manager's families, types and label names.
fn assert_metrics_as_cert_manager(text: &str) {
    use std::collections::BTreeSet;
    let served: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let expected: BTreeSet<&str> = CERT_MANAGER_METRICS.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(served, expected, "families differ from cert-manager's");
    for (name, kind, labels) in CERT_MANAGER_METRICS {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} is not a {kind}"
        );
        let want: BTreeSet<&str> = labels.iter().copied().collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            // The value follows the last space; label values may hold spaces
            // ("Successfully authorized domain"), so never cut at the first.
            let (series, _) = line.rsplit_once(' ').unwrap_or((line, ""));
            let (metric, label_text) = series.split_once('{').unwrap_or((series, "}"));
            let base = match *kind {
                "summary" => metric
                    .strip_suffix("_sum")
                    .or_else(|| metric.strip_suffix("_count"))
                    .unwrap_or(metric),
                _ => metric,
            };
            if base != *name {
                continue;
            }
            let got: BTreeSet<&str> = label_text
                .trim_end_matches('}')
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
                .filter(|k| *k != "quantile")
                .collect();
            assert_eq!(got, want, "labels of {line}");
        }
    }
    for (name, _, _) in CERT_MANAGER_METRICS.iter().filter(|(n, _, _)| {
        !n.contains("challenge")
            && !n.contains("sync_error")
            && !n.starts_with("certmanager_issuer")
    }) {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && !l.starts_with('#')),
            "no {name} series after an ACME issuance:\n{text}"
        );
    }
}

impl Stack {
    /// A Secret with the BIND TSIG key, in the issuers' namespace.
    async fn tsig_secret(&self, name: &str) {
        self.apply(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "stringData": {"secret": self.bind.key_secret()}}),
        )
        .await;
    }

    fn rfc2136(&self, secret: &str, nameserver: &str) -> Value {
        json!({"rfc2136": {"nameserver": nameserver, "tsigKeyName": self.bind.key_name(),
            "tsigAlgorithm": "HMACSHA256",
            "tsigSecretSecretRef": {"name": secret, "key": "secret"}}})
    }

    fn bind_ns(&self) -> String {
        self.bind.addr().to_string()
    }

    async fn certificate_spec(&self, name: &str, spec: Value) {
        let mut full = json!({"secretName": format!("{name}-tls"),
            "privateKey": {"algorithm": "ECDSA", "size": 256}});
        for (k, v) in spec.as_object().unwrap() {
            full[k] = v.clone();
        }
        self.apply(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name}, "spec": full}),
        )
        .await;
    }

    async fn secret_names(&self, name: &str) -> Vec<String> {
        let secret = self.api::<Secret>().get(name).await.unwrap();
        chain_names(&secret.data.unwrap()["tls.crt"].0).1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_wildcard_and_apex_via_rfc2136_with_solvers_routed_by_zone() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start(vec![]).await;
    s.tsig_secret("tsig").await;
    s.tsig_secret("tsig-other").await;
    let good = s.bind_ns();
    // Solvers that would fail if chosen: a catch-all and a less specific zone.
    let dead = "127.0.0.1:1";
    s.cluster_issuer(
        "le-dns",
        json!({"solvers": [
            {"dns01": s.rfc2136("tsig", dead)},
            {"selector": {"dnsZones": ["test"]}, "dns01": s.rfc2136("tsig-other", dead)},
            {"selector": {"dnsZones": ["example.com"]}, "dns01": s.rfc2136("tsig", &good)},
            {"selector": {"dnsZones": ["other.test"]}, "dns01": s.rfc2136("tsig-other", &good)},
        ]}),
    )
    .await;
    s.wait_issuer_ready("le-dns").await;
    s.certificate_spec(
        "wild",
        json!({"dnsNames": ["*.example.com", "example.com"],
            "issuerRef": {"name": "le-dns", "kind": "ClusterIssuer"}}),
    )
    .await;
    s.certificate_spec(
        "other",
        json!({"dnsNames": ["app.other.test"],
            "issuerRef": {"name": "le-dns", "kind": "ClusterIssuer"}}),
    )
    .await;
    s.wait_certificate_ready("wild", 90).await;
    s.wait_certificate_ready("other", 90).await;
    assert_eq!(
        s.secret_names("wild-tls").await,
        vec!["*.example.com".to_string(), "example.com".to_string()]
    );
    assert_eq!(
        s.secret_names("other-tls").await,
        vec!["app.other.test".to_string()]
    );
    let events = s.challenge_events().await;
    assert_eq!(
        events
            .iter()
            .filter(|(r, m)| r == "Presented"
                && m == "Presented challenge using DNS-01 challenge mechanism")
            .count(),
        3,
        "{events:?}\n{}\n{}",
        s.all_events().await,
        s.dump().await
    );
    s.assert_nothing_left(&["example.com", "app.other.test"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_follows_a_cname_delegation() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    // The target is in the same zone: BIND, authoritative only, does not chase a
    // CNAME into another zone, and Pebble asks it without recursion. Following into
    // another zone is covered by tests/dns01_bind.rs.
    let s = Stack::start(vec![]).await;
    s.tsig_secret("tsig").await;
    let mut dns01 = s.rfc2136("tsig", &s.bind_ns());
    dns01["cnameStrategy"] = json!("Follow");
    s.cluster_issuer("le-cname", json!({"solvers": [{"dns01": dns01}]}))
        .await;
    s.wait_issuer_ready("le-cname").await;
    s.certificate_spec(
        "delegated",
        json!({"dnsNames": ["delegated.example.com"],
            "issuerRef": {"name": "le-cname", "kind": "ClusterIssuer"}}),
    )
    .await;
    s.wait_certificate_ready("delegated", 90).await;
    assert!(
        s.bind
            .txt("_acme-challenge.delegated-target.example.com.")
            .is_empty()
    );
    s.assert_nothing_left(&["delegated.example.com"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_needing_eab_says_so_then_registers_with_it() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let s = Stack::start(vec![("kid-1".into(), hmac.into())]).await;
    s.cluster_issuer("le-eab", json!({"solvers": [{"http01": {"ingress": {}}}]}))
        .await;
    let (status, reason, message) = wait_long("the EAB failure", 30, async || {
        s.issuer_condition("le-eab")
            .await
            .filter(|(st, _, _)| st == "False")
    })
    .await;
    assert_eq!(status, "False");
    assert_eq!(reason, "ErrRegisterACMEAccount");
    assert!(
        message.starts_with("Failed to register ACME account:"),
        "{message}"
    );
    assert!(
        message.contains("requires External Account Binding"),
        "{message}"
    );
    // No account key was stored for an account that does not exist.
    assert!(
        s.api::<Secret>()
            .get_opt("le-eab-account")
            .await
            .unwrap()
            .is_none()
    );
    s.apply(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "eab"},
        "stringData": {"secret": hmac}}),
    )
    .await;
    s.cluster_issuer(
        "le-eab",
        json!({"solvers": [{"http01": {"ingress": {}}}],
            "externalAccountBinding": {"keyID": "kid-1", "keySecretRef": {"name": "eab", "key": "secret"}}}),
    )
    .await;
    s.wait_issuer_ready("le-eab").await;
    s.certificate("eab", "le-eab", &["eab.example.com"]).await;
    s.wait_certificate_ready("eab", 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_txt_record_fails_the_order_with_the_cas_error_and_backs_off() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start(vec![]).await;
    s.tsig_secret("tsig").await;
    // `_acme-challenge.fail.example.com` is a CNAME to a record holding a wrong value,
    // and the solver neither follows it nor self-checks: the CA sees the wrong TXT.
    s.cluster_issuer(
        "le-fail",
        json!({"solvers": [{"dns01": s.rfc2136("tsig", &s.bind_ns()), "waitInsteadOfSelfCheck": "1s"}]}),
    )
    .await;
    s.wait_issuer_ready("le-fail").await;
    s.certificate("fail", "le-fail", &["fail.example.com"])
        .await;
    let order = s.wait_order(certgate::api::order::State::Invalid, 60).await;
    let st = order.status.clone().unwrap();
    let reason = st.reason.unwrap();
    assert!(reason.contains("fail.example.com"), "{reason}");
    assert!(
        reason.contains("Correct value not found for DNS challenge"),
        "the CA's words: {reason}"
    );
    assert!(st.failure_time.is_some());
    // The request failed with the Order's reason; the Certificate says so and backs off.
    let cert = s.wait_failure_recorded("fail").await;
    let status = cert.status.unwrap();
    assert_eq!(status.failed_issuance_attempts, Some(1));
    let ready = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(format!("{:?}", ready.status), "False");
    let issuing_events = s.events_for("fail").await;
    assert!(
        issuing_events
            .iter()
            .any(|(r, m)| r == "Failed" && m.contains("fail.example.com")),
        "{issuing_events:?}"
    );
    // Backing off: no second order comes in the next seconds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let orders = s.api::<Order>().list(&ListParams::default()).await.unwrap();
    assert_eq!(orders.items.len(), 1, "{}", s.dump().await);
    s.assert_nothing_left(&["fail.example.com"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_mid_order_continues_the_same_order() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let mut s = Stack::start(vec![]).await;
    s.tsig_secret("tsig").await;
    s.cluster_issuer(
        "le-restart",
        json!({"solvers": [{"dns01": s.rfc2136("tsig", &s.bind_ns()), "waitInsteadOfSelfCheck": "3s"}]}),
    )
    .await;
    s.wait_issuer_ready("le-restart").await;
    s.certificate("restart", "le-restart", &["restart.example.com"])
        .await;
    // Wait until the record is presented and the controller waits before telling the CA.
    let presented = s.wait_presented().await;
    let order_before = s.all::<Order>().await;
    assert_eq!(order_before.len(), 1);
    let url_before = order_before[0]
        .status
        .as_ref()
        .unwrap()
        .url
        .clone()
        .unwrap();
    s.controllers.take().unwrap().kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.start_controllers();
    s.wait_certificate_ready("restart", 90).await;
    let orders = s.all::<Order>().await;
    assert_eq!(orders.len(), 1, "no second Order");
    assert_eq!(
        orders[0].status.as_ref().unwrap().url.as_deref(),
        Some(url_before.as_str())
    );
    let challenges_created = s
        .events_for(orders[0].metadata.name.as_ref().unwrap())
        .await
        .into_iter()
        .filter(|(r, _)| r == "Created")
        .count();
    assert_eq!(challenges_created, 1, "one Challenge, not recreated");
    assert!(presented.metadata.name.is_some());
    s.assert_nothing_left(&["restart.example.com"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_the_ca_does_not_offer_errors_the_order_with_a_clear_reason() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start(vec![]).await;
    s.cluster_issuer(
        "le-profile",
        json!({"solvers": [{"http01": {"ingress": {}}}]}),
    )
    .await;
    s.wait_issuer_ready("le-profile").await;
    s.apply(
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "short", "annotations": {"acme.cert-manager.io/profile": "tlsserver"}},
        "spec": {"secretName": "short-tls", "dnsNames": ["short.example.com"],
            "issuerRef": {"name": "le-profile", "kind": "ClusterIssuer"}}}),
    )
    .await;
    let order = s.wait_order(certgate::api::order::State::Errored, 30).await;
    assert_eq!(order.spec.profile.as_deref(), Some("tlsserver"));
    let reason = order.status.unwrap().reason.unwrap();
    // Pebble 2.10 lists its profiles; Debian's 2.4 has none.
    let expected = if common::pebble::pebble_is_current() {
        "the ACME server does not offer profile \"tlsserver\"; it offers: default, shortlived"
    } else {
        "does not support certificate profiles"
    };
    assert!(
        reason.contains(expected) && reason.contains("\"tlsserver\""),
        "{reason}"
    );
    // No ACME order was placed for it.
    let cert = s.wait_failure_recorded("short").await;
    let issuing = cert
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Issuing")
        .unwrap();
    assert!(
        issuing.message.unwrap_or_default().contains(expected),
        "the Certificate says why"
    );
}

/// A profile and ARI end to end against a current CA (Pebble 2.10.1 from
/// `../shared/pebble`): the 6-day `shortlived` profile reaches the CA, the renewal
/// time comes from the CA's renewal window, and a renewal's order names the
/// certificate it replaces — and the CA accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_and_renewal_information_from_a_current_ca() {
    if common::missing(&[
        common::PEBBLE_CURRENT,
        common::BIND,
        common::TSIG_KEYGEN,
        common::DIG,
    ]) {
        return;
    }
    let s = Stack::start(vec![]).await;
    s.cluster_issuer("le-ari", json!({"solvers": [{"http01": {"ingress": {}}}]}))
        .await;
    s.wait_issuer_ready("le-ari").await;
    s.apply(
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "ari", "annotations": {"acme.cert-manager.io/profile": "shortlived"}},
        "spec": {"secretName": "ari-tls", "dnsNames": ["ari.example.com"],
            "issuerRef": {"name": "le-ari", "kind": "ClusterIssuer"}}}),
    )
    .await;
    let first = s.wait_certificate_ready("ari", 60).await;
    let st = first.status.clone().unwrap();
    let (nb, na) = (st.not_before.clone().unwrap().0, st.not_after.unwrap().0);
    let lifetime = na.duration_since(nb);
    assert!(
        lifetime > jiff::SignedDuration::from_hours(5 * 24)
            && lifetime < jiff::SignedDuration::from_hours(7 * 24),
        "the shortlived profile gives 6 days, not {lifetime:?}"
    );
    let requests = s.api::<CertificateRequest>();
    let picked: jiff::Timestamp = s
        .wait("the CA's renewal time on the request", 30, async || {
            requests
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .iter()
                .find_map(|r| {
                    r.metadata
                        .annotations
                        .as_ref()?
                        .get(ann::ACME_ARI_RENEWAL_TIME)
                        .cloned()
                })
        })
        .await
        .parse()
        .unwrap();
    assert!(
        picked > nb && picked < na,
        "{picked} outside the certificate's life"
    );
    let renewal = s
        .wait("status.renewalTime to follow the CA", 30, async || {
            let c = s.api::<Certificate>().get("ari").await.ok()?;
            let rt = c.status?.renewal_time?.0;
            (rt == picked).then_some(rt)
        })
        .await;
    assert_eq!(renewal, picked);

    // Renew now: the new request names the certificate it replaces, the CA takes the
    // order with `replaces`, and revision 2 is issued.
    certgate::cli::renew::renew(&s.env.client, Some(&s.ns()), &["ari".to_string()], false)
        .await
        .unwrap();
    let second = s
        .wait("revision 2 Ready", 60, async || {
            let c = s.api::<Certificate>().get("ari").await.ok()?;
            (common::is_ready(&c) && c.status.as_ref()?.revision == Some(2)).then_some(c)
        })
        .await;
    assert!(common::is_ready(&second));
    // The renewal's request names the certificate it replaces, and its Order — placed
    // with `replaces` — is valid (older requests may be gone: revisionHistoryLimit).
    let renewal_request = requests
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|r| {
            r.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ann::ACME_REPLACES))
                .is_some_and(|id| !id.is_empty())
        })
        .expect("the renewal says what it replaces");
    let renewal_uid = renewal_request.metadata.uid.clone().unwrap();
    let orders = s
        .api::<Order>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let order = orders
        .iter()
        .find(|o| {
            o.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.uid == renewal_uid)
        })
        .expect("the renewal's Order");
    assert_eq!(
        order.status.as_ref().and_then(|st| st.state),
        Some(certgate::api::order::State::Valid),
        "{order:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_through_a_gateway_httproute_solver() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start(vec![]).await;
    s.env.apply_crds(&common::gateway_api_crds()).await.unwrap();
    s.cluster_issuer(
        "le-gw",
        json!({"solvers": [{"http01": {"gatewayHTTPRoute": {
            "parentRefs": [{"name": "edge", "namespace": "infra", "sectionName": "http"}],
            "labels": {"team": "web"}}}}]}),
    )
    .await;
    s.wait_issuer_ready("le-gw").await;
    let routes: Api<kube::api::DynamicObject> = Api::namespaced_with(
        s.env.client.clone(),
        &s.ns(),
        &certgate::http01::routes::http_route_resource(),
    );
    // Watch from before the Certificate exists, so the short-lived route is seen.
    let (mut rx, watch) = watch_applied(routes.clone());
    s.certificate("gw", "le-gw", &["gw.example.com"]).await;
    let route = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the solver HTTPRoute was created")
        .unwrap();
    watch.abort();
    assert_eq!(route.metadata.labels.as_ref().unwrap()["team"], "web");
    assert_eq!(route.data["spec"]["hostnames"][0], "gw.example.com");
    assert_eq!(route.data["spec"]["parentRefs"][0]["name"], "edge");
    assert_eq!(
        route.data["spec"]["rules"][0]["matches"][0]["path"]["type"],
        "Exact"
    );
    s.wait_certificate_ready("gw", 60).await;
    wait_long("the HTTPRoute removed", 20, async || {
        routes
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    s.assert_nothing_left(&["gw.example.com"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_for_a_gateway_certificate_attaches_to_its_source_gateway_with_no_parent_refs() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start(vec![]).await;
    s.env.apply_crds(&common::gateway_api_crds()).await.unwrap();
    // No parentRefs anywhere in the issuer: the Gateway the Certificate came from is
    // the parent of the solver route.
    s.cluster_issuer(
        "le-zero",
        json!({"solvers": [{"http01": {"gatewayHTTPRoute": {}}}]}),
    )
    .await;
    s.wait_issuer_ready("le-zero").await;
    let routes: Api<kube::api::DynamicObject> = Api::namespaced_with(
        s.env.client.clone(),
        &s.ns(),
        &certgate::http01::routes::http_route_resource(),
    );
    let (mut rx, watch) = watch_applied(routes.clone());
    s.apply(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": s.ns(),
            "annotations": {"cert-manager.io/cluster-issuer": "le-zero"}},
        "spec": {"gatewayClassName": "any", "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "zero.example.com",
             "tls": {"certificateRefs": [{"name": "zero-tls"}]}}]}
    }))
    .await;
    let route = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the solver HTTPRoute was created")
        .unwrap();
    watch.abort();
    let parents = route.data["spec"]["parentRefs"].as_array().unwrap();
    assert_eq!(parents.len(), 1, "{route:?}");
    assert_eq!(
        (
            &parents[0]["kind"],
            &parents[0]["name"],
            &parents[0]["namespace"]
        ),
        (&json!("Gateway"), &json!("edge"), &json!(s.ns())),
    );
    assert_eq!(route.data["spec"]["hostnames"][0], "zero.example.com");
    s.wait_certificate_ready("zero-tls", 60).await;
    s.assert_nothing_left(&["zero.example.com"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_through_a_tls_route_on_a_passthrough_listener() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start(vec![]).await;
    s.env.apply_crds(&common::gateway_api_crds()).await.unwrap();
    // HTTP-01 for every name but one, which a TLS-ALPN-01 solver (certgate's
    // annotation) takes by its dnsNames selector.
    let solvers = "- selector: {dnsNames: [db.example.com]}\n  gatewayTLSRoute:\n    parentRefs: [{name: edge, namespace: infra, sectionName: tls-passthrough}]\n    labels: {team: db}\n";
    s.apply(
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": "le-alpn", "annotations": {
            certgate::tlsalpn01::solvers::SOLVERS_ANNOTATION: solvers}},
        "spec": {"acme": {
            "server": s.pebble.directory_url,
            "email": "ops@example.com",
            "caBundle": s.pebble.ca_bundle(),
            "privateKeySecretRef": {"name": "le-alpn-account"},
            "solvers": [{"http01": {"ingress": {}}}]}}}),
    )
    .await;
    s.wait_issuer_ready("le-alpn").await;
    let routes: Api<kube::api::DynamicObject> = Api::namespaced_with(
        s.env.client.clone(),
        &s.ns(),
        &certgate::tlsalpn01::routes::tls_route_resource("v1"),
    );
    let (mut rx, watch) = watch_applied(routes.clone());
    s.certificate("db", "le-alpn", &["db.example.com"]).await;
    let Ok(Some(route)) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await else {
        panic!("no solver TLSRoute was created\n{}", s.dump().await);
    };
    watch.abort();
    let spec = &route.data["spec"];
    assert_eq!(spec["hostnames"], json!(["db.example.com"]), "{route:?}");
    assert_eq!(spec["parentRefs"][0]["name"], "edge");
    assert_eq!(spec["parentRefs"][0]["sectionName"], "tls-passthrough");
    assert_eq!(spec["rules"][0]["backendRefs"][0]["port"], 443);
    assert_eq!(route.metadata.labels.as_ref().unwrap()["team"], "db");
    let cert = s.wait_certificate_ready("db", 60).await;
    assert!(cert.status.is_some());
    // Validated by TLS-ALPN-01: the Challenge said so, and its route is gone.
    let events = s.challenge_events().await;
    assert!(
        events
            .iter()
            .any(|(reason, message)| reason == "DomainVerified" && message.contains("tls-alpn-01")),
        "{events:?}"
    );
    wait_long("the TLSRoute removed", 20, async || {
        routes
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    s.assert_nothing_left(&["db.example.com"]).await;

    // A mistyped annotation keeps the issuer from being Ready, naming it.
    s.apply(
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": "le-alpn-typo", "annotations": {
            certgate::tlsalpn01::solvers::SOLVERS_ANNOTATION: "- gatewayTLSRoutes: {}"}},
        "spec": {"acme": {
            "server": s.pebble.directory_url,
            "caBundle": s.pebble.ca_bundle(),
            "privateKeySecretRef": {"name": "le-alpn-typo-account"},
            "solvers": [{"http01": {"ingress": {}}}]}}}),
    )
    .await;
    let (status, reason, message) = s
        .wait(
            "the issuer to say its annotation is invalid",
            30,
            async || {
                s.issuer_condition("le-alpn-typo")
                    .await
                    .filter(|(_, reason, _)| reason == "InvalidTLSALPN01Solvers")
            },
        )
        .await;
    assert_eq!(status, "False");
    assert!(
        message.contains(certgate::tlsalpn01::solvers::SOLVERS_ANNOTATION)
            && message.contains("gatewayTLSRoutes"),
        "{reason}: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_challenge_or_its_certificate_mid_way_leaves_no_txt_record() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start(vec![]).await;
    s.tsig_secret("tsig").await;
    // The solver waits long before telling the CA: the record sits presented.
    s.cluster_issuer(
        "le-slow",
        json!({"solvers": [{"dns01": s.rfc2136("tsig", &s.bind_ns()), "waitInsteadOfSelfCheck": "10m"}]}),
    )
    .await;
    s.wait_issuer_ready("le-slow").await;
    let presented = async |s: &Stack, name: &str| {
        let record = certgate::dns01::challenge_record_name(&format!("{name}.example.com"));
        s.wait(&format!("{record} presented"), 30, async || {
            (!s.bind.txt(&record).is_empty()).then_some(())
        })
        .await;
    };
    // A Challenge deleted by hand — one carrying the finalizer under the name older
    // cert-manager releases wrote (`finalizer.acme.cert-manager.io`), as a Challenge
    // left by cert-manager would: it is cleaned up and let go all the same.
    s.certificate("gone-ch", "le-slow", &["gone-ch.example.com"])
        .await;
    presented(&s, "gone-ch").await;
    let challenges = s.api::<Challenge>();
    let mut deleted_uids = Vec::new();
    for c in challenges.list(&ListParams::default()).await.unwrap().items {
        let name = c.metadata.name.clone().unwrap();
        assert_eq!(
            c.metadata.finalizers.as_deref(),
            Some(&["acme.cert-manager.io/finalizer".to_string()][..]),
            "certgate writes cert-manager's current finalizer name"
        );
        challenges
            .patch(
                &name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(
                    json!({"metadata": {"finalizers": ["finalizer.acme.cert-manager.io"]}}),
                ),
            )
            .await
            .unwrap();
        deleted_uids.push(c.metadata.uid.clone().unwrap());
        challenges.delete(&name, &Default::default()).await.unwrap();
    }
    s.wait(
        "the Challenges with the legacy finalizer gone",
        30,
        async || {
            let now = challenges.list(&ListParams::default()).await.ok()?.items;
            (!now.iter().any(|c| {
                c.metadata
                    .uid
                    .as_ref()
                    .is_some_and(|u| deleted_uids.contains(u))
            }))
            .then_some(())
        },
    )
    .await;
    // The finalizer cleans up and lets it go; the Order makes it again (same name,
    // same token and TXT value), so the record may come back: what matters is that
    // nothing is left once the Certificate is gone (below).
    s.wait(
        "the hand-deleted Challenge to be replaced",
        30,
        async || {
            let now = challenges.list(&ListParams::default()).await.ok()?.items;
            now.iter()
                .any(|c| {
                    c.metadata.deletion_timestamp.is_none()
                        && c.spec.dns_name == "gone-ch.example.com"
                })
                .then_some(())
        },
    )
    .await;
    s.api::<Certificate>()
        .delete("gone-ch", &Default::default())
        .await
        .unwrap();
    // A Certificate deleted: its request, Order and Challenge go with it, and the record.
    s.certificate("gone-cert", "le-slow", &["gone-cert.example.com"])
        .await;
    presented(&s, "gone-cert").await;
    s.api::<Certificate>()
        .delete("gone-cert", &Default::default())
        .await
        .unwrap();
    s.wait("the Certificate's record cleaned", 30, async || {
        s.bind
            .txt("_acme-challenge.gone-cert.example.com.")
            .is_empty()
            .then_some(())
    })
    .await;
    s.wait("every Challenge gone", 30, async || {
        challenges
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    s.assert_nothing_left(&["gone-ch.example.com", "gone-cert.example.com"])
        .await;
}

/// `certgate diagnose certificate` against Pebble and BIND: a DNS-01 record behind a
/// CNAME the solver does not follow (the Challenge waits on propagation: the CA would
/// see the CNAME target's wrong value), and an HTTP-01 path caught by a forced HTTPS
/// redirect in front of the solver (the Challenge waits on its self-check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_reports_an_unfollowed_cname_and_a_forced_https_redirect() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    // An ingress that redirects every plain-HTTP request to HTTPS.
    let redirect = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_port = redirect.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(
        |uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.split(':').next())
                .unwrap_or_default()
                .to_string();
            (
                axum::http::StatusCode::MOVED_PERMANENTLY,
                [(axum::http::header::LOCATION, format!("https://{host}{uri}"))],
            )
        },
    );
    tokio::spawn(async move { axum::serve(redirect, app).await });

    let mut s = Stack::start(vec![]).await;
    // The controller's self-check goes where the CA's request would: through the redirect.
    s.controllers.take().unwrap().kill();
    let mut config = s.config();
    config.acme.http01.self_check_port = redirect_port;
    s.controllers = Some(RunningControllers::start(s.env.client.clone(), config));
    s.tsig_secret("tsig").await;
    // `_acme-challenge.fail.example.com` is a CNAME to a record holding a wrong value.
    s.cluster_issuer(
        "le-diag",
        json!({"solvers": [
            {"selector": {"dnsNames": ["fail.example.com"]}, "dns01": s.rfc2136("tsig", &s.bind_ns())},
            {"http01": {"ingress": {"class": "nginx"}}},
        ]}),
    )
    .await;
    s.wait_issuer_ready("le-diag").await;
    s.certificate("diag-dns", "le-diag", &["fail.example.com"])
        .await;
    s.certificate("diag-http", "le-diag", &["redirect.example.com"])
        .await;
    for (domain, waiting) in [
        (
            "fail.example.com",
            "Waiting for DNS-01 challenge propagation",
        ),
        (
            "redirect.example.com",
            "Waiting for HTTP-01 challenge propagation: wrong status code '301'",
        ),
    ] {
        s.wait(&format!("the {domain} Challenge waiting"), 60, async || {
            s.api::<Challenge>()
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|c| {
                    c.spec.dns_name == domain
                        && c.status
                            .as_ref()
                            .and_then(|st| st.reason.as_deref())
                            .is_some_and(|r| r.starts_with(waiting))
                })
        })
        .await;
    }

    let dir = std::env::temp_dir().join(format!("certgate-diagnose-{}", s.ns()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    s.env.write_kubeconfig(&kubeconfig).unwrap();
    let bind = s.bind.addr();
    let run = |args: Vec<String>| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_certgate"));
        cmd.args(&args).env("KUBECONFIG", &kubeconfig);
        async move {
            let out = cmd.output().await.unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.code(), text)
        }
    };
    let diagnose = |name: &str| {
        let ns = s.ns();
        run([
            "diagnose",
            "certificate",
            name,
            "-n",
            &ns,
            "--cluster-resource-namespace",
            &ns,
            "--dns01-recursive-nameservers",
            &bind.to_string(),
            "--dns01-authoritative-port",
            &bind.port().to_string(),
            "--http01-port",
            &redirect_port.to_string(),
        ]
        .map(String::from)
        .to_vec())
    };

    let (code, out) = diagnose("diag-dns").await;
    assert_eq!(code, Some(1), "fixable:\n{out}");
    for expected in [
        "[WARN] Challenge fail.example.com (DNS-01) — ",
        "[PASS] DNS-01 fail.example.com: solver selector — solver #1 dns01 dnsNames [fail.example.com] matches \"fail.example.com\" (zone example.com.)",
        &format!(
            "[PASS] DNS-01 fail.example.com: rfc2136 credentials — dns01.rfc2136.tsigSecretSecretRef: Secret {}/tsig has key \"secret\"",
            s.ns()
        ),
        "[FAIL] DNS-01 fail.example.com: CNAME delegation — _acme-challenge.fail.example.com. is a CNAME to _acme-challenge.wrong.example.com., but the solver does not follow CNAMEs",
        "       fix: set cnameStrategy: Follow on the solver's dns01",
        &format!(
            "[FAIL] DNS-01 fail.example.com: TXT at authoritative nameserver 127.0.0.1:{} — _acme-challenge.wrong.example.com. has 1 TXT value(s), none is the challenge's",
            bind.port()
        ),
    ] {
        assert!(
            out.contains(expected),
            "diagnose lacks {expected:?}:\n{out}"
        );
    }

    let (code, out) = diagnose("diag-http").await;
    assert_eq!(code, Some(1), "fixable:\n{out}");
    for expected in [
        "[WARN] Challenge redirect.example.com (HTTP-01) — ",
        "[PASS] HTTP-01 redirect.example.com: name resolves — redirect.example.com resolves to 127.0.0.1",
        &format!(
            "[PASS] HTTP-01 redirect.example.com: port reachable — connected to 127.0.0.1:{redirect_port}"
        ),
        &format!(
            "[FAIL] HTTP-01 redirect.example.com: challenge path — forced HTTPS redirect: http://redirect.example.com:{redirect_port}/.well-known/acme-challenge/"
        ),
        "answers 301 to https://redirect.example.com/.well-known/acme-challenge/",
        "       fix: a forced HTTPS redirect catches the challenge path: exempt /.well-known/acme-challenge/ from it",
    ] {
        assert!(
            out.contains(expected),
            "diagnose lacks {expected:?}:\n{out}"
        );
    }

    // status shows the Order and the waiting Challenge.
    let (code, out) = run(["status", "certificate", "diag-http", "-n", &s.ns()]
        .map(String::from)
        .to_vec())
    .await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Order:\n  Name: diag-http-1-"), "{out}");
    assert!(
        out.contains("Type: HTTP-01, Token: ")
            && out.contains("State: pending, Reason: Waiting for HTTP-01 challenge propagation: wrong status code '301'")
            && out.contains("Processing: true, Presented: true"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client of the stack's Pebble, as a test's own (e.g. cert-manager registering
/// an account before certgate takes over).
async fn pebble_client(pebble: &Pebble) -> AcmeClient {
    AcmeClient::new(
        &pebble.directory_url,
        ClientOptions {
            http: HttpOptions {
                ca_bundle: Some(pebble.ca_bundle()),
                ..HttpOptions::default()
            },
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap()
}

/// The ACME status a ClusterIssuer recorded.
async fn issuer_acme_status(s: &Stack, name: &str) -> certgate::api::acme::AcmeIssuerStatus {
    Api::<ClusterIssuer>::all(s.env.client.clone())
        .get(name)
        .await
        .unwrap()
        .status
        .unwrap()
        .acme
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_managers_rsa_account_keys_are_reused_and_new_keys_are_rsa_2048() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start(vec![]).await;
    let acme = pebble_client(&s.pebble).await;

    // An account cert-manager registered: its RSA 2048 key in PKCS#1, as
    // cert-manager stores it in the issuer's privateKeySecretRef Secret.
    let key = AccountKey::generate(AccountKeyAlgorithm::Rsa2048).unwrap();
    let pem = key.to_pem().unwrap();
    assert!(
        pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
        "{pem}"
    );
    let registered = acme
        .new_account(
            std::sync::Arc::new(key),
            &NewAccount {
                contact: vec!["mailto:ops@example.com".into()],
                terms_of_service_agreed: true,
            },
            None,
        )
        .await
        .unwrap();
    assert!(registered.created);
    let account_url = registered.account.url().to_string();
    s.apply(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "le-cm-account"},
        "type": "Opaque", "stringData": {"tls.key": pem}}),
    )
    .await;
    let secrets = s.api::<Secret>();
    let before = secrets.get("le-cm-account").await.unwrap();

    s.cluster_issuer(
        "le-cm",
        json!({"solvers": [{"http01": {"ingress": {"class": "nginx"}}}]}),
    )
    .await;
    s.wait_issuer_ready("le-cm").await;
    let status = issuer_acme_status(&s, "le-cm").await;
    assert_eq!(
        status.uri.as_deref(),
        Some(account_url.as_str()),
        "the account cert-manager registered, not a new one"
    );
    assert_eq!(
        status.last_private_key_hash.as_deref(),
        Some(key_hash(&pem_der(pem.as_bytes())).as_str()),
        "the hash of the stored key's DER"
    );
    let after = secrets.get("le-cm-account").await.unwrap();
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the Secret is left as it is"
    );
    assert_eq!(after.data, before.data);
    s.certificate("cm", "le-cm", &["cm.example.com"]).await;
    s.wait_certificate_ready("cm", 60).await;
    let secret = s.api::<Secret>().get("cm-tls").await.unwrap();
    let (_, names) = chain_names(&secret.data.unwrap()["tls.crt"].0);
    assert_eq!(names, vec!["cm.example.com".to_string()]);

    // A new issuer: its key is generated as cert-manager generates it — RSA 2048,
    // PKCS#1 under tls.key — so cert-manager can take the Secret over again.
    s.cluster_issuer("le-new", json!({"solvers": [{"http01": {"ingress": {}}}]}))
        .await;
    s.wait_issuer_ready("le-new").await;
    let generated = secrets.get("le-new-account").await.unwrap();
    let data = generated.data.unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        vec!["tls.key"],
        "one key, as cert-manager stores it"
    );
    let stored = &data["tls.key"].0;
    let text = std::str::from_utf8(stored).unwrap();
    assert!(
        text.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
        "PKCS#1: {text}"
    );
    let generated_key = AccountKey::from_pem(stored).unwrap();
    assert_eq!(generated_key.algorithm(), JwsAlgorithm::Rs256);
    let Jwk::Rsa { n, .. } = generated_key.jwk() else {
        panic!("an RSA key")
    };
    assert_eq!(n.len() * 8, 2048, "RSA 2048");
    // The key stored is the key of the account the issuer reports.
    let status = issuer_acme_status(&s, "le-new").await;
    let found = acme
        .find_account(std::sync::Arc::new(generated_key))
        .await
        .unwrap()
        .expect("the stored key's account");
    assert_eq!(status.uri.as_deref(), Some(found.account.url()));
    assert_ne!(found.account.url(), account_url);
    assert_eq!(
        status.last_private_key_hash.as_deref(),
        Some(key_hash(&pem_der(stored)).as_str())
    );
}

/// The DER of a PEM text's first block.
fn pem_der(pem: &[u8]) -> Vec<u8> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .next()
        .unwrap()
        .unwrap()
        .contents
}

/// The subject common name of Pebble's root `i` (`/roots/<i>` of its management
/// interface: 0 is the default chain's, the others the alternates').
async fn pebble_root_name(pebble: &Pebble, i: usize) -> String {
    let transport = Transport::new(HttpOptions {
        ca_bundle: Some(pebble.ca_bundle()),
        ..HttpOptions::default()
    })
    .unwrap();
    let r = transport
        .get("test", &format!("{}/roots/{i}", pebble.management_url))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let der = certgate::pki::pem::certificates(&r.body);
    let (_, root) = x509_parser::parse_x509_certificate(&der[0]).unwrap();
    root.subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_chain_picks_the_alternate_chain_of_that_root() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let s = Stack::start_with_pebble_env(vec![], &[("PEBBLE_ALTERNATE_ROOTS", "2")]).await;
    let default_root = pebble_root_name(&s.pebble, 0).await;
    let alternate_root = pebble_root_name(&s.pebble, 1).await;
    assert_ne!(default_root, alternate_root);

    s.cluster_issuer(
        "le-chain",
        json!({"solvers": [{"http01": {"ingress": {}}}], "preferredChain": alternate_root}),
    )
    .await;
    s.wait_issuer_ready("le-chain").await;
    s.certificate("chain", "le-chain", &["chain.example.com"])
        .await;
    s.wait_certificate_ready("chain", 60).await;
    let secret = s.api::<Secret>().get("chain-tls").await.unwrap();
    let crt = secret.data.unwrap()["tls.crt"].0.clone();
    let (blocks, names) = chain_names(&crt);
    assert!(blocks >= 2, "leaf and an intermediate");
    assert_eq!(names, vec!["chain.example.com".to_string()]);
    let top = chains::top_issuer_common_name(std::str::from_utf8(&crt).unwrap()).unwrap();
    assert_eq!(
        top.as_deref(),
        Some(alternate_root.as_str()),
        "the chain tops out at the preferred root, not the default {default_root:?}"
    );

    // A preferredChain no chain has: the default chain, as cert-manager does.
    s.cluster_issuer(
        "le-nochain",
        json!({"solvers": [{"http01": {"ingress": {}}}], "preferredChain": "No Such Root"}),
    )
    .await;
    s.wait_issuer_ready("le-nochain").await;
    s.certificate("nochain", "le-nochain", &["nochain.example.com"])
        .await;
    s.wait_certificate_ready("nochain", 60).await;
    let secret = s.api::<Secret>().get("nochain-tls").await.unwrap();
    let crt = secret.data.unwrap()["tls.crt"].0.clone();
    let top = chains::top_issuer_common_name(std::str::from_utf8(&crt).unwrap()).unwrap();
    assert_eq!(top.as_deref(), Some(default_root.as_str()));
}

/// Taking over mid-issuance from cert-manager: its ACME account (RSA key), a
/// Certificate being issued (next key Secret, `Issuing`), its approved request, the
/// Order placed at the CA and its pending Challenge — written as cert-manager writes
/// them (names from cert-manager's `ComputeName`, as certgate's port computes it; the
/// Challenge with cert-manager's finalizer) — then certgate starts: the same order
/// finishes, no new account, order, request or challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_cert_manager_left_in_flight_is_finished_with_its_account() {
    use certgate::issuers::acme::protocol::resources::{Identifier as AcmeId, NewOrder};
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let mut s = Stack::start(vec![]).await;
    if let Some(c) = s.controllers.take() {
        c.stop().await;
    }
    // cert-manager's account: RSA 2048, PKCS#1 in the issuer's Secret.
    let acme = pebble_client(&s.pebble).await;
    let key = std::sync::Arc::new(AccountKey::generate(AccountKeyAlgorithm::Rsa2048).unwrap());
    let pem = key.to_pem().unwrap();
    let account = acme
        .new_account(
            key.clone(),
            &NewAccount {
                contact: vec!["mailto:ops@example.com".into()],
                terms_of_service_agreed: true,
            },
            None,
        )
        .await
        .unwrap()
        .account;
    s.apply(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "le-flight-account"},
        "type": "Opaque", "stringData": {"tls.key": pem}}),
    )
    .await;
    let solvers = json!([{"http01": {"ingress": {}}}]);
    s.apply(
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": "le-flight"},
        "spec": {"acme": {"server": s.pebble.directory_url, "email": "ops@example.com",
            "caBundle": s.pebble.ca_bundle(),
            "privateKeySecretRef": {"name": "le-flight-account"}, "solvers": solvers}}}),
    )
    .await;
    let account_secret_rv = s
        .api::<Secret>()
        .get("le-flight-account")
        .await
        .unwrap()
        .metadata
        .resource_version;

    // The Certificate being issued, its next key and its approved, pending request.
    let name = "flight";
    let dns = "flight.example.com";
    s.certificate(name, "le-flight", &[dns]).await;
    let cert = s.api::<Certificate>().get(name).await.unwrap();
    let cert_owner = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": name,
        "uid": cert.metadata.uid.clone().unwrap(), "controller": true, "blockOwnerDeletion": true});
    use certgate::pki::key::{KeyAlgorithm, PrivateKey};
    // The Certificate asks for ECDSA P-256 (the Stack's helper): so does its next key.
    let next = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
    let next_pem = next
        .to_pem(certgate::api::certificate::PrivateKeyEncoding::Pkcs1)
        .unwrap();
    s.apply(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "flight-q8w2c", "ownerReferences": [cert_owner],
            "labels": {"cert-manager.io/next-private-key": "true", "controller.cert-manager.io/fao": "true"}},
        "type": "Opaque", "stringData": {"tls.key": next_pem}}))
        .await;
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let rc_key = rcgen::KeyPair::from_pem(
        &next
            .to_pem(certgate::api::certificate::PrivateKeyEncoding::Pkcs8)
            .unwrap(),
    )
    .unwrap();
    let mut params = rcgen::CertificateParams::new(vec![dns.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let csr = params.serialize_request(&rc_key).unwrap().pem().unwrap();
    let t = "2026-11-01T10:00:00Z";
    s.apply(
        json!({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
        "metadata": {"name": "flight-1", "ownerReferences": [cert_owner], "annotations": {
            "cert-manager.io/certificate-name": name,
            "cert-manager.io/certificate-revision": "1",
            "cert-manager.io/private-key-secret-name": "flight-q8w2c"}},
        "spec": {"request": b64(csr.as_bytes()),
                 "issuerRef": {"name": "le-flight", "kind": "ClusterIssuer"}}}),
    )
    .await;
    let requests = s.api::<CertificateRequest>();
    let cr = requests.get("flight-1").await.unwrap();
    requests
        .patch_status(
            "flight-1",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"status": {"conditions": [
                {"type": "Approved", "status": "True", "reason": "cert-manager.io",
                 "message": "Certificate request has been approved by cert-manager.io", "lastTransitionTime": t},
                {"type": "Ready", "status": "False", "reason": "Pending",
                 "message": "Waiting on certificate issuance from order", "lastTransitionTime": t}]}})),
        )
        .await
        .unwrap();
    s.api::<Certificate>()
        .patch_status(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"status": {
                "conditions": [{"type": "Issuing", "status": "True", "reason": "DoesNotExist",
                    "message": "Issuing certificate as Secret does not exist", "lastTransitionTime": t,
                    "observedGeneration": 1}],
                "nextPrivateKeySecretName": "flight-q8w2c"}})),
        )
        .await
        .unwrap();

    // The Order cert-manager placed at the CA, and its Challenge.
    let placed = account
        .new_order(&NewOrder::new(vec![AcmeId::dns(dns)]))
        .await
        .unwrap();
    let issuer_spec: certgate::api::AcmeIssuer =
        serde_json::from_value(json!({"server": s.pebble.directory_url,
            "privateKeySecretRef": {"name": "le-flight-account"}, "solvers": solvers}))
        .unwrap();
    let order = certgate::issuers::acme::requests::build_order(&cr, &issuer_spec).unwrap();
    let order_name = order.metadata.name.clone().unwrap();
    let orders = s.api::<Order>();
    orders
        .create(&kube::api::PostParams::default(), &order)
        .await
        .unwrap();
    let mut authorizations = Vec::new();
    for url in &placed.authorizations {
        let a = account.authorization(url).await.unwrap();
        authorizations.push(certgate::api::order::AcmeAuthorization {
            url: url.clone(),
            identifier: Some(a.identifier.value.clone()),
            wildcard: Some(a.wildcard),
            initial_state: Some(certgate::api::order::State::Pending),
            challenges: Some(
                a.challenges
                    .iter()
                    .map(|c| certgate::api::order::AcmeChallenge {
                        url: c.url.clone(),
                        token: c.token.clone().unwrap_or_default(),
                        type_: c.kind.clone(),
                    })
                    .collect(),
            ),
        });
    }
    orders
        .patch_status(
            &order_name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"status": {"url": placed.url, "finalizeURL": placed.finalize,
                "state": "pending", "authorizations": authorizations}}),
            ),
        )
        .await
        .unwrap();
    let order = orders.get(&order_name).await.unwrap();
    let mut challenge = certgate::issuers::acme::orders::build_challenge(
        &order,
        &authorizations[0],
        &serde_json::from_value::<Vec<certgate::api::AcmeChallengeSolver>>(solvers.clone())
            .unwrap(),
        &[],
        &key.thumbprint(),
    )
    .unwrap();
    challenge.metadata.finalizers = Some(vec!["acme.cert-manager.io/finalizer".into()]);
    let challenge_name = challenge.metadata.name.clone().unwrap();
    s.api::<Challenge>()
        .create(&kube::api::PostParams::default(), &challenge)
        .await
        .unwrap();

    // Every Challenge that ever exists from now on.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watched = s.api::<Challenge>();
    let watch = tokio::spawn(async move {
        use futures::StreamExt;
        let stream = kube::runtime::watcher(watched, Default::default());
        futures::pin_mut!(stream);
        while let Some(Ok(ev)) = stream.next().await {
            if let kube::runtime::watcher::Event::Apply(o)
            | kube::runtime::watcher::Event::InitApply(o) = ev
            {
                let _ = tx.send(o.metadata.name.unwrap_or_default());
            }
        }
    });

    s.start_controllers();
    s.wait_certificate_ready(name, 90).await;
    watch.abort();
    let mut seen = std::collections::BTreeSet::new();
    while let Ok(n) = rx.try_recv() {
        seen.insert(n);
    }
    assert_eq!(
        seen,
        std::collections::BTreeSet::from([challenge_name]),
        "a second Challenge was made"
    );
    let all_orders = orders.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(all_orders.len(), 1, "a second Order was made");
    assert_eq!(
        all_orders[0].status.as_ref().and_then(|st| st.url.clone()),
        Some(placed.url.clone()),
        "the order cert-manager placed is the one that finished"
    );
    let names: Vec<String> = requests
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|r| r.metadata.name)
        .collect();
    assert_eq!(names, ["flight-1"], "a second request was made");
    let cert = s.api::<Certificate>().get(name).await.unwrap();
    assert_eq!(cert.status.and_then(|st| st.revision), Some(1));
    // The issued certificate is for the key cert-manager generated.
    let secret = s.api::<Secret>().get(&format!("{name}-tls")).await.unwrap();
    let data = secret.data.unwrap();
    assert_eq!(
        data["tls.key"].0,
        next_pem.as_bytes(),
        "the next key was used"
    );
    // The account cert-manager registered, its Secret untouched.
    assert_eq!(
        issuer_acme_status(&s, "le-flight").await.uri.as_deref(),
        Some(account.url())
    );
    let rv_after = s
        .api::<Secret>()
        .get("le-flight-account")
        .await
        .unwrap()
        .metadata
        .resource_version;
    assert_eq!(rv_after, account_secret_rv);
}
