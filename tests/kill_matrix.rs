//! The kill matrix (#20 item 4): the controller dies right after each API write of an
//! issuance, in turn, and a new one takes over. The cases are generated: a first run
//! records the writes one issuance makes (verb and resource, in order); then for each
//! write N a run whose client lets write N reach the API server and never answers it
//! nor sends anything after (as a process killed at that moment), aborts those
//! controllers, starts fresh ones and waits. Every case must end Ready with exactly
//! one CertificateRequest (revision 1) and no temporary private key Secret left.
//! On the sandbox and on the real API server. The ACME path (HTTP-01, Pebble behind
//! a counting proxy) must also place exactly one order at the CA, keep one Order,
//! and leave no Challenge, solver Ingress or Service behind; the DNS-01 path (a
//! wildcard and its apex through RFC2136 to BIND) no TXT record either. Its HTTP-01 answers come
//! from the standalone solver (`certgate acmesolver`, the chart's own Deployment),
//! which a controller crash does not take down: with the solver inside the killed
//! process, a kill right after the CA was told to validate fails the authorization
//! (seen once in CI as `connection reset by peer`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

// Only its counting is used here; its faults serve tests/acme_faults.rs.
#[allow(dead_code)]
#[path = "common/acme_proxy.rs"]
mod acme_proxy;
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use certgate::api::Certificate;
use certgate::controller::RunningControllers;
use certgate_sandbox::TestEnv;
use common::outcome::{
    apply, certificate, requests_per_certificate, temporary_keys_left, write_of,
};
use kube::api::{Api, ListParams};
use serde_json::json;

/// The writes seen, and the crash: after write `after` has reached the server, no
/// answer and no request gets through any more.
#[derive(Default)]
struct CrashState {
    writes: Mutex<Vec<String>>,
    after: Option<usize>,
    crashed: AtomicBool,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

struct CrashAfter<S> {
    inner: S,
    state: Arc<CrashState>,
}

impl<S> tower::Service<http::Request<kube::client::Body>> for CrashAfter<S>
where
    S: tower::Service<http::Request<kube::client::Body>>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
        let state = self.state.clone();
        if state.crashed.load(Ordering::SeqCst) {
            return Box::pin(futures::future::pending());
        }
        let crash_here = write_of(req.method(), req.uri()).is_some_and(|w| {
            let mut log = state.writes.lock().unwrap();
            log.push(w);
            Some(log.len()) == state.after
        });
        let sent = self.inner.call(req);
        Box::pin(async move {
            let answer = sent.await;
            if crash_here {
                state.crashed.store(true, Ordering::SeqCst);
            }
            if state.crashed.load(Ordering::SeqCst) {
                return futures::future::pending().await;
            }
            answer
        })
    }
}

async fn crashable_client(env: &TestEnv, after: Option<usize>) -> (kube::Client, Arc<CrashState>) {
    let config = common::outcome::client_config(env, "certgate-kill").await;
    let state = Arc::new(CrashState {
        after,
        ..Default::default()
    });
    let layer = {
        let state = state.clone();
        tower::layer::layer_fn(move |inner| CrashAfter {
            inner,
            state: state.clone(),
        })
    };
    let client = kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build();
    (client, state)
}

async fn wait_ready(env: &TestEnv, name: &str, secs: u64) -> bool {
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &env.namespace);
    let started = Instant::now();
    loop {
        if certs
            .get(name)
            .await
            .ok()
            .is_some_and(|c| common::is_ready(&c))
        {
            return true;
        }
        if started.elapsed() >= Duration::from_secs(secs) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pebble (resolving names with BIND) behind a proxy that counts its requests, and
/// the HTTP-01 solver port; shared by the cases of the ACME path.
struct Acme {
    bind: common::bind::Bind,
    _pebble: common::pebble::Pebble,
    proxy: acme_proxy::AcmeProxy,
    settings: certgate::controller::AcmeSettings,
    solver: std::net::SocketAddr,
}

impl Acme {
    async fn start() -> Acme {
        use common::pebble::{Pebble, PebbleOptions, free_port};
        let bind = common::bind::Bind::start(&[common::bind::ZoneSpec::new("example.com")]);
        let solver_port = free_port();
        let pebble = Pebble::start(PebbleOptions {
            dns_server: bind.addr().to_string(),
            http_port: solver_port,
            tls_port: 0,
            eab_keys: vec![],
        });
        let proxy = acme_proxy::AcmeProxy::start(&pebble.directory_url, &pebble.tls_ca_pem).await;
        let mut settings = certgate::controller::AcmeSettings::default();
        settings.http01.self_check_port = solver_port;
        settings.http01.self_check_nameservers = vec![bind.addr()];
        settings.dns01.recursive_nameservers = vec![bind.addr().into()];
        settings.dns01.authoritative_port = bind.port();
        settings.dns01.poll_period = Duration::from_millis(500);
        Acme {
            bind,
            _pebble: pebble,
            proxy,
            settings,
            solver: std::net::SocketAddr::from(([127, 0, 0, 1], solver_port)),
        }
    }

    /// The standalone HTTP-01 solver for this case's API server; stops when the
    /// handle is aborted.
    async fn start_solver(&self, env: &TestEnv) -> tokio::task::JoinHandle<()> {
        let (client, listen) = (env.client.clone(), self.solver);
        let handle = tokio::spawn(async move {
            // The previous case's solver may still hold the port for a moment.
            for _ in 0..50 {
                match certgate::acmesolver::run_standalone(client.clone(), listen, None).await {
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    _ => return,
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        handle
    }

    /// Orders the CA created (Pebble's new-order answered 201) since the last reset.
    fn orders_placed(&self) -> usize {
        self.proxy
            .seen()
            .iter()
            .filter(|s| s.path.starts_with("/order-plz") && s.status == 201)
            .count()
    }
}

/// The issuance path: its issuer set up (and Ready) before the counted part.
#[derive(Clone, Copy, Debug)]
enum Path {
    SelfSigned,
    Ca,
    AcmeHttp01,
    /// `*.leaf.example.com` and `leaf.example.com` through RFC2136 (BIND, TSIG).
    AcmeDns01,
}

impl Path {
    /// The issuer's name and kind (a ClusterIssuer gets a name of its own per case).
    fn issuer(self, env: &TestEnv) -> (String, &'static str) {
        match self {
            Path::SelfSigned => ("ss".into(), "Issuer"),
            Path::Ca => ("ca".into(), "Issuer"),
            Path::AcmeHttp01 | Path::AcmeDns01 => {
                (format!("acme-{}", env.namespace), "ClusterIssuer")
            }
        }
    }

    fn config(env: &TestEnv, acme: Option<&Acme>) -> certgate::controller::ControllerConfig {
        certgate::controller::ControllerConfig {
            acme: acme.map(|a| a.settings.clone()).unwrap_or_default(),
            ..common::scoped_config(env)
        }
    }

    async fn set_up(self, env: &TestEnv, acme: Option<&Acme>) {
        let controllers = RunningControllers::start(env.client.clone(), Self::config(env, acme));
        if let (Path::AcmeHttp01 | Path::AcmeDns01, Some(a)) = (self, acme) {
            let (name, _) = self.issuer(env);
            let solver = if let Path::AcmeDns01 = self {
                apply(
                    env,
                    json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "tsig", "namespace": env.namespace},
                    "stringData": {"secret": a.bind.key_secret()}}),
                )
                .await;
                json!({"dns01": {"rfc2136": {"nameserver": a.bind.addr().to_string(),
                    "tsigKeyName": a.bind.key_name(), "tsigAlgorithm": "HMACSHA256",
                    "tsigSecretSecretRef": {"name": "tsig", "key": "secret"}}}})
            } else {
                json!({"http01": {"ingress": {}}})
            };
            apply(
                env,
                json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                "metadata": {"name": name},
                "spec": {"acme": {"server": a.proxy.directory_url, "email": "ops@example.com",
                    "caBundle": a.proxy.ca_bundle(),
                    "privateKeySecretRef": {"name": format!("acme-account-{}", env.namespace)},
                    "solvers": [solver]}}}),
            )
            .await;
            common::outcome::wait_issuer_ready(&env.client, None, &name).await;
            controllers.stop().await;
            return;
        }
        apply(
            env,
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
            "metadata": {"name": "ss"}, "spec": {"selfSigned": {}}}),
        )
        .await;
        common::outcome::wait_issuer_ready(&env.client, Some(&env.namespace), "ss").await;
        if let Path::Ca = self {
            let mut root = certificate("root", ("ss", "Issuer"));
            root["spec"]["isCA"] = json!(true);
            apply(env, root).await;
            assert!(wait_ready(env, "root", 30).await, "the CA certificate");
            apply(
                env,
                json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                "metadata": {"name": "ca"}, "spec": {"ca": {"secretName": "root-tls"}}}),
            )
            .await;
            common::outcome::wait_issuer_ready(&env.client, Some(&env.namespace), "ca").await;
        }
        controllers.stop().await;
    }
}

/// What one case left behind.
struct Outcome {
    /// Whether the kill happened (a run may need fewer writes than the baseline).
    killed: bool,
    ready: bool,
    requests: usize,
    revision: Option<i32>,
    temporary_keys: Vec<String>,
    /// ACME: Order objects, orders placed at the CA, Challenges, solver Ingresses
    /// and Services left. A kill while the CA answers new-order leaves that order
    /// unrecorded, and the next controller places another: ACME's new-order is not
    /// idempotent (Let's Encrypt's Boulder answers with the account's pending order
    /// for the same names; Pebble makes a new one), so a case may see 2, never more.
    orders: usize,
    ca_orders: usize,
    acme_left: Vec<String>,
}

impl Outcome {
    fn clean(&self, acme: bool) -> bool {
        self.ready
            && self.requests == 1
            && self.revision == Some(1)
            && self.temporary_keys.is_empty()
            && (!acme || (self.orders == 1 && self.ca_orders <= 2 && self.acme_left.is_empty()))
    }
}

/// The record both DNS-01 challenges of the wildcard and apex use.
const DNS01_RECORD: &str = "_acme-challenge.leaf.example.com.";

/// Challenges, the solver Ingresses and Services still in the namespace, and the
/// DNS-01 TXT values still served (waiting a little for their clean-up).
async fn acme_left(env: &TestEnv, acme: &Acme) -> Vec<String> {
    /// `<Kind> <name>` of each object of kind `K` that `lp` selects.
    async fn named<K>(env: &TestEnv, lp: &ListParams) -> Vec<String>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Api::<K>::namespaced(env.client.clone(), &env.namespace)
            .list(lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| {
                format!(
                    "{} {}",
                    K::kind(&()),
                    o.meta().name.clone().unwrap_or_default()
                )
            })
            .collect()
    }
    let solver = ListParams::default().labels("acme.cert-manager.io/http01-solver=true");
    let mut left = Vec::new();
    for _ in 0..50 {
        left = named::<certgate::api::Challenge>(env, &ListParams::default()).await;
        left.extend(named::<k8s_openapi::api::networking::v1::Ingress>(env, &solver).await);
        left.extend(named::<k8s_openapi::api::core::v1::Service>(env, &solver).await);
        left.extend(
            acme.bind
                .txt(DNS01_RECORD)
                .into_iter()
                .map(|v| format!("TXT {DNS01_RECORD} {v}")),
        );
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    left
}

/// Issues `leaf` with controllers that die after write `after` (if any), then with
/// fresh ones; the writes the first controllers made.
async fn run_case(
    path: Path,
    after: Option<usize>,
    acme: Option<&Acme>,
) -> (Vec<String>, Outcome, TestEnv) {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    path.set_up(&env, acme).await;
    if let Some(a) = acme {
        a.proxy.reset_log();
    }
    let solver = match acme {
        Some(a) => Some(a.start_solver(&env).await),
        None => None,
    };
    let (client, state) = crashable_client(&env, after).await;
    let first = RunningControllers::start(client, Path::config(&env, acme));
    let (issuer, kind) = path.issuer(&env);
    let mut leaf = certificate("leaf", (&issuer, kind));
    if let Path::AcmeDns01 = path {
        leaf["spec"]["dnsNames"] = json!(["leaf.example.com", "*.leaf.example.com"]);
    }
    apply(&env, leaf).await;
    let started = Instant::now();
    let ready_first = loop {
        if state.crashed.load(Ordering::SeqCst) {
            break false;
        }
        // Ready first: the baseline, or a run that needed fewer writes than the
        // baseline (the order of concurrent writes varies); its kill may still come
        // in the writes after Ready.
        if wait_ready(&env, "leaf", 0).await {
            break true;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "neither crashed after write {after:?} nor Ready: {:?}",
            state.writes.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let crashed_after_ready = ready_first && {
        // Let the writes that follow Ready land (clean-up, events), or the kill.
        let mut last = 0;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = state.writes.lock().unwrap().len();
            if now == last || state.crashed.load(Ordering::SeqCst) {
                break;
            }
            last = now;
        }
        state.crashed.load(Ordering::SeqCst)
    };
    let second = if ready_first && !crashed_after_ready {
        first.stop().await;
        None
    } else {
        first.kill();
        Some(RunningControllers::start(
            env.client.clone(),
            Path::config(&env, acme),
        ))
    };
    let ready = wait_ready(&env, "leaf", if acme.is_some() { 90 } else { 60 }).await;
    let temporary_keys = temporary_keys_left(&env, "leaf-").await;
    let acme_left = match acme {
        Some(a) => acme_left(&env, a).await,
        None => Vec::new(),
    };
    if !ready && acme.is_some() {
        for c in Api::<certgate::api::Challenge>::namespaced(env.client.clone(), &env.namespace)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            eprintln!(
                "case {after:?}: Challenge {:?} finalizers {:?} deleting {:?} status {:?}",
                c.metadata.name, c.metadata.finalizers, c.metadata.deletion_timestamp, c.status
            );
        }
        for o in Api::<certgate::api::Order>::namespaced(env.client.clone(), &env.namespace)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            eprintln!(
                "case {after:?}: Order {:?} status {:?}",
                o.metadata.name,
                o.status.map(|s| (s.state, s.reason))
            );
        }
    }
    if let Some(c) = second {
        c.stop().await;
    }
    if let Some(solver) = solver {
        solver.abort();
        let _ = solver.await;
    }
    let orders = Api::<certgate::api::Order>::namespaced(env.client.clone(), &env.namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len();
    let ca_orders = acme.map_or(0, Acme::orders_placed);
    let requests = requests_per_certificate(&env)
        .await
        .get("leaf")
        .copied()
        .unwrap_or(0);
    let revision = Api::<Certificate>::namespaced(env.client.clone(), &env.namespace)
        .get("leaf")
        .await
        .unwrap()
        .status
        .and_then(|s| s.revision);
    let writes = state.writes.lock().unwrap().clone();
    (
        writes,
        Outcome {
            killed: state.crashed.load(Ordering::SeqCst),
            ready,
            requests,
            revision,
            temporary_keys,
            orders,
            ca_orders,
            acme_left,
        },
        env,
    )
}

async fn matrix(path: Path, acme: Option<&Acme>) {
    let (baseline, outcome, env) = run_case(path, None, acme).await;
    env.cleanup().await;
    assert!(
        outcome.clean(acme.is_some()),
        "the baseline issuance: ready {} requests {} orders {} CA orders {} left {:?}",
        outcome.ready,
        outcome.requests,
        outcome.orders,
        outcome.ca_orders,
        outcome.acme_left
    );
    assert!(baseline.len() >= 5, "too few writes recorded: {baseline:?}");
    let mut table = vec![format!(
        "{path:?}: killed after write | outcome | requests | revision | temporary keys | Orders | CA orders | ACME objects left"
    )];
    let mut failures = Vec::new();
    let mut killed = 0;
    // CERTGATE_KILL_AT=N runs only case N (to look at one case closely).
    let only: Option<usize> = std::env::var("CERTGATE_KILL_AT")
        .ok()
        .and_then(|v| v.parse().ok());
    for (i, write) in baseline.iter().enumerate() {
        let n = i + 1;
        if only.is_some_and(|o| o != n) {
            continue;
        }
        let (_, o, env) = run_case(path, Some(n), acme).await;
        env.cleanup().await;
        if o.killed {
            killed += 1;
        }
        let line = format!(
            "  {n:>2} {write:<34} | {}{} | {} | {:?} | {} | {} | {} | {}",
            if o.ready { "Ready" } else { "NOT READY" },
            if o.killed {
                ""
            } else {
                " (no kill: fewer writes)"
            },
            o.requests,
            o.revision,
            o.temporary_keys.len(),
            o.orders,
            o.ca_orders,
            o.acme_left.len()
        );
        if !o.clean(acme.is_some()) {
            failures.push(format!("{line} {:?} {:?}", o.temporary_keys, o.acme_left));
        }
        table.push(line);
    }
    eprintln!("{}", table.join("\n"));
    // The order of concurrent writes varies from run to run, so the last few cases
    // may find the issuance done before their write; most must be real kills.
    let cases = table.len() - 1;
    assert!(
        killed * 10 >= cases * 8,
        "only {killed} of {cases} cases were killed: the matrix tested little"
    );
    assert!(
        failures.is_empty(),
        "cases that did not converge cleanly:\n{}",
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selfsigned_issuance_survives_a_kill_after_every_write() {
    matrix(Path::SelfSigned, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_issuance_survives_a_kill_after_every_write() {
    matrix(Path::Ca, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_http01_issuance_survives_a_kill_after_every_write() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let acme = Acme::start().await;
    matrix(Path::AcmeHttp01, Some(&acme)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_dns01_wildcard_issuance_survives_a_kill_after_every_write() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let acme = Acme::start().await;
    matrix(Path::AcmeDns01, Some(&acme)).await;
}
