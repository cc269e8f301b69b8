//! The wiring of the controller process: the flags' [`ControllerConfig`], each
//! feature's context built from it, every controller started against one cluster,
//! the metrics and health endpoints, and graceful shutdown. Nothing but the binary
//! and the demo imports this module; features get what they need from
//! `crate::runtime` and their own context.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::metrics::Metrics;
use crate::runtime::clock::{self, Clock};
pub use crate::runtime::shared_certificates::SharedCertificates;
pub use crate::runtime::shared_requests::SharedRequests;

/// How the controllers run (the flags of `certgate controller`).
#[derive(Clone)]
pub struct ControllerConfig {
    /// Where ClusterIssuers' Secrets live.
    pub cluster_resource_namespace: String,
    /// Watch only this namespace (ClusterIssuers are still watched).
    pub namespace: Option<String>,
    /// Serve only the ClusterIssuers matching this label selector
    /// (`--cluster-issuer-selector`): several certgates can share a cluster, each
    /// keeping its own ClusterIssuers Ready (with `namespace`, one per tenant or test).
    pub cluster_issuer_selector: Option<String>,
    /// The Certificate annotations copied to its CertificateRequests and Orders
    /// (`--copied-annotation-prefixes`, cert-manager's semantics and default).
    pub copied_annotation_prefixes: Vec<String>,
    pub max_concurrent_reconciles: u16,
    /// Set an ownerReference from each Secret to its Certificate.
    pub enable_certificate_owner_ref: bool,
    pub clock: Arc<dyn Clock>,
    /// The component name events are reported from.
    pub component: String,
    /// The issuer of Ingresses annotated `kubernetes.io/tls-acme: "true"` (`--default-issuer-*`).
    pub default_issuer: crate::intent::Defaults,
    /// ACME: challenge concurrency, DNS-01 lookups, HTTP-01 serving and checking.
    pub acme: AcmeSettings,
    /// Run the CA injector (`--enable-ca-injector`, src/cainjector/).
    pub ca_injector: bool,
    /// Vault issuers: what comes from the controller, not the issuer.
    pub vault: crate::issuers::vault::VaultConfig,
    /// Run the built-in approver (cert-manager's `certificaterequests-approver`):
    /// approve every CertificateRequest, of any issuer group, that no one approved
    /// or denied. Off with `--controllers=*,-certificaterequests-approver`.
    pub approve_requests: bool,
    /// The Gateway API shim (`--enable-gateway-api`, `--enable-gateway-api-listenerset`,
    /// `--gateway-api-extra-protocols`).
    pub gateway_api: crate::gateway::GatewayApiConfig,
    /// Share namespaces with the other replicas (`--shards`); unset, this process
    /// works on everything (as cert-manager's one active leader).
    pub sharding: Option<crate::runtime::shards::ShardSettings>,
    /// With `sharding`: the Lease whose holder alone runs the cluster-scoped
    /// controllers (ClusterIssuers, the CA injector).
    pub cluster_leader: Option<crate::runtime::leader::LeaderElectionConfig>,
}

/// Whether cert-manager's `--controllers` list leaves the built-in approver on:
/// it is on by default (`*`) unless `-certificaterequests-approver` is listed, and
/// on when named explicitly.
pub fn approver_enabled(controllers: &[String]) -> bool {
    const APPROVER: &str = "certificaterequests-approver";
    let names: Vec<&str> = controllers.iter().map(|c| c.trim()).collect();
    if names.iter().any(|n| n.strip_prefix('-') == Some(APPROVER)) {
        return false;
    }
    names.is_empty() || names.iter().any(|n| *n == "*" || *n == APPROVER)
}

pub use crate::issuers::acme::settings::AcmeSettings;

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            cluster_resource_namespace: "cert-manager".to_string(),
            namespace: None,
            cluster_issuer_selector: None,
            copied_annotation_prefixes:
                crate::certificates::controller::DEFAULT_COPIED_ANNOTATION_PREFIXES
                    .iter()
                    .map(|p| p.to_string())
                    .collect(),
            max_concurrent_reconciles: 16,
            enable_certificate_owner_ref: false,
            clock: Arc::new(clock::SystemClock),
            component: "cert-manager".to_string(),
            default_issuer: Default::default(),
            acme: Default::default(),
            ca_injector: true,
            vault: Default::default(),
            approve_requests: true,
            gateway_api: Default::default(),
            sharding: None,
            cluster_leader: None,
        }
    }
}

/// Every feature's context, built from one [`ControllerConfig`]: the wiring hands
/// each controller the one it needs.
pub struct Context {
    pub config: ControllerConfig,
    pub runtime: Arc<crate::runtime::Context>,
    pub certificates: Arc<crate::certificates::Context>,
    pub issuers: Arc<crate::issuers::Context>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        config: ControllerConfig,
        metrics: Arc<Metrics>,
    ) -> Arc<Context> {
        let runtime = crate::runtime::Context::new(
            client,
            crate::runtime::context::Settings {
                namespace: config.namespace.clone(),
                cluster_resource_namespace: config.cluster_resource_namespace.clone(),
                max_concurrent_reconciles: config.max_concurrent_reconciles,
                clock: config.clock.clone(),
                component: config.component.clone(),
                shards: match &config.sharding {
                    Some(s) => crate::runtime::shards::Shards::member(s),
                    None => crate::runtime::shards::Shards::all(),
                },
            },
            metrics,
        );
        let certificates = crate::certificates::Context::new(
            runtime.clone(),
            config.copied_annotation_prefixes.clone(),
            config.enable_certificate_owner_ref,
        );
        let issuers = crate::issuers::Context::new(
            runtime.clone(),
            crate::issuers::context::IssuerSettings {
                acme: config.acme.clone(),
                vault: config.vault.clone(),
                approve_requests: config.approve_requests,
                cluster_issuer_selector: config.cluster_issuer_selector.clone(),
            },
        );
        Arc::new(Context {
            config,
            runtime,
            certificates,
            issuers,
        })
    }

    /// The process's one Certificate watch, with the index the shims read.
    pub fn watch_certificates(&self) -> Arc<SharedCertificates> {
        SharedCertificates::start(
            &self.runtime,
            crate::intent::ownership::certificate_index(),
            crate::intent::ownership::is_cross_namespace,
        )
    }

    /// The process's one CertificateRequest watch, feeding the Certificate
    /// controller's index of requests by owner.
    pub fn watch_requests(&self) -> Arc<SharedRequests> {
        let (index, read) = (self.certificates.clone(), self.certificates.clone());
        SharedRequests::start(
            &self.runtime,
            vec![Box::new(move |e, _| index.requests_by_owner.apply(e))],
            Box::new(move || read.requests_by_owner.all()),
        )
    }
}

/// Readiness of the process for `/readyz`.
#[derive(Default)]
pub struct Health {
    pub ready: AtomicBool,
}

/// Serves `/metrics` on `addr`.
pub async fn serve_metrics(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
                // Page by page (metrics::Pages), then the process's own families.
                let mut pages = crate::metrics::Pages::new(now);
                let registry = std::iter::from_fn(move || pages.next_page(&metrics));
                let process = std::iter::once_with(|| {
                    let mut text = String::new();
                    crate::metrics::process::render(
                        &mut text,
                        crate::runtime::allocator::jemalloc_stats(),
                    );
                    text
                });
                let body = futures::stream::iter(
                    registry
                        .chain(process)
                        .map(Ok::<_, std::convert::Infallible>),
                );
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    axum::body::Body::from_stream(body),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// Serves `/healthz` and `/readyz` on `addr`.
pub async fn serve_health(addr: SocketAddr, health: Arc<Health>) -> std::io::Result<()> {
    let ready = health.clone();
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/readyz",
            axum::routing::get(move || {
                let ready = ready.clone();
                async move {
                    if ready.ready.load(Ordering::Relaxed) {
                        (axum::http::StatusCode::OK, "ok")
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// Resolves once `shutdown` says stop.
async fn stop(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Runs every controller until `shutdown` resolves.
pub async fn run_controllers(ctx: Arc<Context>, shutdown: tokio::sync::watch::Receiver<bool>) {
    let certificates = ctx.watch_certificates();
    let requests = ctx.watch_requests();
    let (rt, issuers) = (&ctx.runtime, &ctx.issuers);
    let ca_injector = || async {
        if ctx.config.ca_injector {
            crate::cainjector::run(rt.clone(), certificates.clone(), stop(shutdown.clone())).await
        }
    };
    // Cluster-scoped work: here, or, sharded, on the holder of the leader Lease only.
    let cluster_scoped = async {
        let work = || async {
            tokio::join!(
                crate::issuers::issuer_controller::run_cluster_issuers(
                    issuers.clone(),
                    stop(shutdown.clone())
                ),
                ca_injector()
            )
        };
        let Some(election) = &ctx.config.cluster_leader else {
            work().await;
            return;
        };
        loop {
            tokio::select! {
                _ = crate::runtime::leader::acquire(&rt.client, election) => {}
                _ = stop(shutdown.clone()) => return,
            }
            tracing::info!("leading: running the cluster-scoped controllers");
            tokio::select! {
                _ = work() => {
                    crate::runtime::leader::release(&rt.client, election).await;
                    return;
                }
                _ = crate::runtime::leader::keep_renewing(&rt.client, election) => {
                    tracing::warn!("leadership lost: the cluster-scoped controllers stopped until it is regained");
                }
            }
        }
    };
    // Sharded: this member's Lease is kept until every controller has stopped.
    let (stopped, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let membership = async {
        if let Some(settings) = ctx.config.sharding.clone() {
            crate::runtime::shards::run(
                rt.client.clone(),
                settings,
                rt.config.shards.clone(),
                async {
                    let _ = stopped_rx.await;
                },
            )
            .await
        }
    };
    let controllers = async {
        namespaced_controllers(&ctx, &certificates, &requests, cluster_scoped, &shutdown).await;
        let _ = stopped.send(());
    };
    tokio::join!(membership, controllers);
}

async fn namespaced_controllers(
    ctx: &Arc<Context>,
    certificates: &Arc<SharedCertificates>,
    requests: &Arc<SharedRequests>,
    cluster_scoped: impl std::future::Future<Output = ()>,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) {
    let (rt, issuers) = (&ctx.runtime, &ctx.issuers);
    tokio::join!(
        crate::issuers::issuer_controller::run_issuers(issuers.clone(), stop(shutdown.clone())),
        cluster_scoped,
        crate::issuers::request_controller::run(
            issuers.clone(),
            requests.watch.clone(),
            stop(shutdown.clone())
        ),
        crate::certificates::controller::run(
            ctx.certificates.clone(),
            certificates.clone(),
            requests.watch.clone(),
            stop(shutdown.clone())
        ),
        crate::ingress_shim::run(
            rt.clone(),
            certificates.clone(),
            ctx.config.default_issuer.clone(),
            stop(shutdown.clone())
        ),
        crate::gateway::run(
            rt.clone(),
            certificates.clone(),
            ctx.config.default_issuer.clone(),
            ctx.config.gateway_api.clone(),
            stop(shutdown.clone())
        ),
        crate::issuers::acme::orders::run(issuers.clone(), stop(shutdown.clone())),
        crate::issuers::acme::challenges::run(issuers.clone(), stop(shutdown.clone())),
        serve_http01_solver(ctx.clone(), stop(shutdown.clone())),
        serve_tls_alpn01_solver(ctx.clone(), stop(shutdown.clone())),
    );
}

/// Binds a solver's listener, retrying every second while the address is taken (a
/// restarted controller whose predecessor's socket is not yet closed would otherwise
/// never answer a challenge: seen in tests/kill_matrix.rs), until `shutdown`.
async fn bind_solver(
    addr: std::net::SocketAddr,
    what: &str,
    shutdown: &mut std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
) -> Option<tokio::net::TcpListener> {
    let mut failures = 0u32;
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                if failures > 0 {
                    tracing::info!(%addr, "{what} solver listening after {failures} failed attempts");
                }
                return Some(listener);
            }
            Err(e) => {
                if failures == 0 {
                    tracing::error!(%addr, error = %e, "{what} solver cannot listen; retrying every second");
                }
                failures += 1;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.as_mut() => return None,
        }
    }
}

/// The in-process HTTP-01 solver, when `--acme-http01-solver-listen` is set.
async fn serve_http01_solver(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let Some(addr) = ctx.config.acme.http01_solver_listen else {
        return;
    };
    let mut shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(shutdown);
    let Some(listener) = bind_solver(addr, "HTTP-01", &mut shutdown).await else {
        return;
    };
    if let Err(e) =
        crate::http01::server::serve(listener, ctx.issuers.solver_tokens.clone(), shutdown).await
    {
        tracing::error!(%addr, error = %e, "HTTP-01 solver stopped");
    }
}

/// The in-process TLS-ALPN-01 solver, when `--acme-tls-alpn01-solver-listen` is set.
async fn serve_tls_alpn01_solver(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let Some(addr) = ctx.config.acme.tls_alpn01_solver_listen else {
        return;
    };
    let mut shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(shutdown);
    let Some(listener) = bind_solver(addr, "TLS-ALPN-01", &mut shutdown).await else {
        return;
    };
    if let Err(e) = ctx
        .issuers
        .tls_alpn_solver
        .clone()
        .serve(listener, shutdown)
        .await
    {
        tracing::error!(%addr, error = %e, "TLS-ALPN-01 solver stopped");
    }
}

/// A running set of controllers that can be stopped (tests, the demo).
pub struct RunningControllers {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    pub metrics: Arc<Metrics>,
    /// This process's share of the namespaces (everything, unsharded).
    pub shards: crate::runtime::shards::Shards,
    ctx: Arc<Context>,
}

impl RunningControllers {
    /// Starts every controller in the background.
    pub fn start(client: kube::Client, config: ControllerConfig) -> RunningControllers {
        let metrics = Arc::new(Metrics::default());
        let ctx = Context::new(client, config, metrics.clone());
        let shards = ctx.runtime.config.shards.clone();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(run_controllers(ctx.clone(), rx));
        RunningControllers {
            stop,
            task,
            metrics,
            shards,
            ctx,
        }
    }

    /// How many of its own CertificateRequest writes the request controller holds
    /// until its cache shows them (none, once the watch has caught up).
    pub fn request_writes_held(&self) -> usize {
        self.ctx.issuers.recent_requests.len()
    }

    /// Stops gracefully: in-flight reconciles finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.task).await;
    }

    /// Stops at once, as a crash would (reconciles are cut wherever they are).
    pub fn kill(self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn metrics_are_served_whole_page_by_page_with_the_process_families() {
        let metrics = Arc::new(Metrics::default());
        for i in 0..2000 {
            metrics.set_certificate(
                "prod",
                &format!("web-{i:04}"),
                &format!("uid-{i}"),
                crate::metrics::CertificateSeries {
                    issuer_name: "ca".into(),
                    issuer_kind: "Issuer".into(),
                    issuer_group: "cert-manager.io".into(),
                    not_after: 1_800_000_000.0,
                    not_before: 1_700_000_000.0,
                    renewal: 1_770_000_000.0,
                    ready: "True",
                },
            );
        }
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let server = tokio::spawn(serve_metrics(addr, metrics.clone()));
        let mut text = String::new();
        for _ in 0..50 {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            if let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await {
                conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
                    .await
                    .unwrap();
                conn.read_to_string(&mut text).await.unwrap();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        server.abort();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        // 2,000 Certificates: 14,000 series lines over many pages, each once.
        for i in [0, 999, 1999] {
            let line = format!(
                "certmanager_certificate_renewal_timestamp_seconds{{issuer_group=\"cert-manager.io\",issuer_kind=\"Issuer\",issuer_name=\"ca\",name=\"web-{i:04}\",namespace=\"prod\"}} 1770000000\n"
            );
            assert_eq!(body.matches(&line).count(), 1, "{line}");
        }
        assert_eq!(
            body.matches("certmanager_certificate_ready_status{")
                .count(),
            3 * 2000
        );
        let registry = body
            .split_once("# HELP process_")
            .map(|(registry, _)| registry)
            .expect("the process families");
        assert_eq!(
            registry.lines().count(),
            metrics.render(0.0).lines().count()
        );
        assert!(body.contains("\nprocess_resident_memory_bytes "));
        assert!(body.ends_with('\n'));
    }

    #[tokio::test]
    async fn a_solver_port_still_taken_is_bound_once_it_is_free() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let binding = tokio::spawn(async move {
            let mut shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
                Box::pin(std::future::pending());
            bind_solver(addr, "HTTP-01", &mut shutdown).await.is_some()
        });
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert!(!binding.is_finished(), "bound a port that was taken");
        drop(taken);
        let bound = tokio::time::timeout(std::time::Duration::from_secs(5), binding)
            .await
            .expect("not bound within 5 s of the port being freed")
            .unwrap();
        assert!(bound);
    }

    #[test]
    fn the_approver_follows_cert_managers_controllers_flag() {
        let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert!(approver_enabled(&list("*")));
        assert!(!approver_enabled(&list("*,-certificaterequests-approver")));
        assert!(approver_enabled(&list(
            "certificates-issuing,certificaterequests-approver"
        )));
        assert!(!approver_enabled(&list("certificates-issuing")));
        assert!(approver_enabled(&[]));
    }
}
