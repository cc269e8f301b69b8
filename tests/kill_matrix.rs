//! The kill matrix (#20 item 4): the controller dies right after each API write of an
//! issuance, in turn, and a new one takes over. The cases are generated: a first run
//! records the writes one issuance makes (verb and resource, in order); then for each
//! write N a run whose client lets write N reach the API server and never answers it
//! nor sends anything after (as a process killed at that moment), aborts those
//! controllers, starts fresh ones and waits. Every case must end Ready with exactly
//! one CertificateRequest (revision 1) and no temporary private key Secret left.
//! On the sandbox and on the real API server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use certgate::api::{Certificate, CertificateRequest};
use certgate::controller::RunningControllers;
use certgate_sandbox::TestEnv;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

/// `VERB resource[/subresource]` of a write request, `None` for reads and watches.
fn write_of(method: &http::Method, uri: &http::Uri) -> Option<String> {
    if matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    ) {
        return None;
    }
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let after_version = if segments.first() == Some(&"api") {
        2
    } else {
        3
    };
    let rest = segments.get(after_version..).unwrap_or_default();
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let what = match rest {
        [plural] | [plural, _] => plural.to_string(),
        [plural, _, sub, ..] => format!("{plural}/{sub}"),
        [] => "?".to_string(),
    };
    Some(format!("{method} {what}"))
}

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
    let dir = std::env::temp_dir().join(format!("certgate-kill-{}", env.namespace));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    env.write_kubeconfig(&path).unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
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

async fn apply(env: &TestEnv, doc: Value) {
    let doc = common::place(env, doc);
    certgate::manifests::apply(&env.client, "test", &[doc], "test")
        .await
        .unwrap();
}

fn certificate(name: &str, issuer: &str) -> Value {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": name},
        "spec": {"secretName": format!("{name}-tls"), "commonName": format!("{name}.example.com"),
            "dnsNames": [format!("{name}.example.com")],
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"name": issuer, "kind": "Issuer"}}})
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

async fn wait_issuer_ready(env: &TestEnv, name: &str) {
    let issuers: Api<certgate::api::Issuer> = Api::namespaced(env.client.clone(), &env.namespace);
    common::wait_for("the Issuer to be Ready", async || {
        let i = issuers.get(name).await.ok()?;
        i.status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == certgate::api::ConditionStatus::True)
            .then_some(())
    })
    .await;
}

/// The issuance path: its issuer set up (and Ready) before the counted part.
#[derive(Clone, Copy, Debug)]
enum Path {
    SelfSigned,
    Ca,
}

impl Path {
    fn issuer(self) -> &'static str {
        match self {
            Path::SelfSigned => "ss",
            Path::Ca => "ca",
        }
    }

    async fn set_up(self, env: &TestEnv) {
        let controllers = RunningControllers::start(env.client.clone(), common::scoped_config(env));
        apply(
            env,
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
            "metadata": {"name": "ss"}, "spec": {"selfSigned": {}}}),
        )
        .await;
        wait_issuer_ready(env, "ss").await;
        if let Path::Ca = self {
            let mut root = certificate("root", "ss");
            root["spec"]["isCA"] = json!(true);
            apply(env, root).await;
            assert!(wait_ready(env, "root", 30).await, "the CA certificate");
            apply(
                env,
                json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                "metadata": {"name": "ca"}, "spec": {"ca": {"secretName": "root-tls"}}}),
            )
            .await;
            wait_issuer_ready(env, "ca").await;
        }
        controllers.stop().await;
    }
}

/// What one case left behind.
struct Outcome {
    ready: bool,
    requests: usize,
    revision: Option<i32>,
    temporary_keys: Vec<String>,
}

/// Issues `leaf` with controllers that die after write `after` (if any), then with
/// fresh ones; the writes the first controllers made.
async fn run_case(path: Path, after: Option<usize>) -> (Vec<String>, Outcome, TestEnv) {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    path.set_up(&env).await;
    let (client, state) = crashable_client(&env, after).await;
    let first = RunningControllers::start(client, common::scoped_config(&env));
    apply(&env, certificate("leaf", path.issuer())).await;
    let started = Instant::now();
    let ready_first = loop {
        if state.crashed.load(Ordering::SeqCst) {
            break false;
        }
        if after.is_none() && wait_ready(&env, "leaf", 0).await {
            break true;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "neither crashed after write {after:?} nor Ready: {:?}",
            state.writes.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let second = if ready_first {
        // The baseline: let the writes that follow Ready land (clean-up, events).
        let mut last = 0;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = state.writes.lock().unwrap().len();
            if now == last {
                break;
            }
            last = now;
        }
        first.stop().await;
        None
    } else {
        first.kill();
        Some(RunningControllers::start(
            env.client.clone(),
            common::scoped_config(&env),
        ))
    };
    let ready = wait_ready(&env, "leaf", 60).await;
    // Temporary keys go after issuance; give the clean-up its moment.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);
    let next_keys = ListParams::default().labels("cert-manager.io/next-private-key=true");
    let mut temporary_keys = Vec::new();
    for _ in 0..50 {
        temporary_keys = secrets
            .list(&next_keys)
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .filter(|n| n.starts_with("leaf-"))
            .collect();
        if temporary_keys.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Some(c) = second {
        c.stop().await;
    }
    let requests = Api::<CertificateRequest>::namespaced(env.client.clone(), &env.namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|r| {
            r.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("cert-manager.io/certificate-name"))
                .is_some_and(|n| n == "leaf")
        })
        .count();
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
            ready,
            requests,
            revision,
            temporary_keys,
        },
        env,
    )
}

async fn matrix(path: Path) {
    let (baseline, outcome, env) = run_case(path, None).await;
    env.cleanup().await;
    assert!(
        outcome.ready && outcome.requests == 1,
        "the baseline issuance"
    );
    assert!(baseline.len() >= 5, "too few writes recorded: {baseline:?}");
    let mut table = vec![format!(
        "{path:?}: killed after write | outcome | requests | revision | temporary keys left"
    )];
    let mut failures = Vec::new();
    for (i, write) in baseline.iter().enumerate() {
        let n = i + 1;
        let (_, o, env) = run_case(path, Some(n)).await;
        env.cleanup().await;
        let line = format!(
            "  {n:>2} {write:<34} | {} | {} | {:?} | {}",
            if o.ready { "Ready" } else { "NOT READY" },
            o.requests,
            o.revision,
            o.temporary_keys.len()
        );
        if !o.ready || o.requests != 1 || o.revision != Some(1) || !o.temporary_keys.is_empty() {
            failures.push(format!("{line} {:?}", o.temporary_keys));
        }
        table.push(line);
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "cases that did not converge cleanly:\n{}",
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selfsigned_issuance_survives_a_kill_after_every_write() {
    matrix(Path::SelfSigned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_issuance_survives_a_kill_after_every_write() {
    matrix(Path::Ca).await;
}
