//! The controller process: every controller against one cluster, leader election,
//! the metrics and health endpoints, and graceful shutdown.

pub mod clock;
pub mod events;
pub mod leader;
pub mod owner_index;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::metrics::Metrics;
use clock::Clock;

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
    pub default_issuer: crate::certificates::intent::Defaults,
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

/// The ACME flags of `certgate controller`.
#[derive(Clone, Debug)]
pub struct AcmeSettings {
    /// `--max-concurrent-challenges`.
    pub max_concurrent_challenges: usize,
    pub dns01: crate::dns01::Dns01Config,
    pub http01: crate::http01::Http01Config,
    /// Serve HTTP-01 answers from the controller process on this address.
    pub http01_solver_listen: Option<SocketAddr>,
    pub tls_alpn01: crate::tlsalpn01::TlsAlpn01Config,
    /// Answer TLS-ALPN-01 handshakes from the controller process on this address.
    pub tls_alpn01_solver_listen: Option<SocketAddr>,
    /// Limits on new orders per issuer.
    pub order_limits: crate::issuers::acme::budget::Limits,
    /// The shortest wait between two ACME renewal-information polls (60 s).
    pub ari_min_poll: std::time::Duration,
}

impl Default for AcmeSettings {
    fn default() -> Self {
        AcmeSettings {
            max_concurrent_challenges: 60,
            dns01: Default::default(),
            http01: Default::default(),
            http01_solver_listen: None,
            tls_alpn01: Default::default(),
            tls_alpn01_solver_listen: None,
            order_limits: Default::default(),
            ari_min_poll: std::time::Duration::from_secs(60),
        }
    }
}

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
        }
    }
}

/// What every reconciler gets.
pub struct Context {
    pub client: kube::Client,
    pub config: ControllerConfig,
    pub recorder: events::Recorder,
    pub metrics: Arc<Metrics>,
    /// CertificateRequests by the uid of their Certificate (kept from the controller's watch).
    pub requests_by_owner: owner_index::OwnerIndex<crate::api::CertificateRequest>,
    /// Secret metadata by owner uid (temporary key Secrets by their Certificate).
    pub secrets_by_owner:
        owner_index::OwnerIndex<kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Secret>>,
    /// Accounts, order limits and challenge slots of the ACME controllers.
    pub acme: crate::issuers::acme::AcmeRuntime,
    /// The answers of the in-process HTTP-01 solver.
    pub solver_tokens: crate::http01::server::SolverTokens,
    /// The certificates of the in-process TLS-ALPN-01 solver.
    pub tls_alpn_solver: crate::tlsalpn01::server::TlsAlpnSolver,
    /// Vault tokens by issuer (renewed, re-logged in on 403).
    pub vault_tokens: Arc<crate::issuers::vault::auth::TokenCache>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        config: ControllerConfig,
        metrics: Arc<Metrics>,
    ) -> Arc<Context> {
        let recorder = events::Recorder::new(client.clone(), &config.component);
        let mut acme = crate::issuers::acme::AcmeRuntime::new(
            config.acme.max_concurrent_challenges,
            config.acme.dns01.clone(),
            config.acme.http01.clone(),
            config.acme.order_limits,
        );
        acme.ari_min_poll = config.acme.ari_min_poll;
        Arc::new(Context {
            client,
            config,
            recorder,
            metrics,
            // Issued certificates are read from the API when issuing, not kept here.
            requests_by_owner: owner_index::OwnerIndex::with_trim(|r| {
                if let Some(st) = r.status.as_mut() {
                    st.certificate = None;
                    st.ca = None;
                }
            }),
            secrets_by_owner: Default::default(),
            acme,
            solver_tokens: Default::default(),
            tls_alpn_solver: Default::default(),
            vault_tokens: Default::default(),
        })
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.config.clock.now()
    }
}

/// A controller over `api` whose cache keeps objects without `managedFields` (they
/// are often the biggest part of an object, and no controller reads them).
pub fn lean_controller<K>(api: kube::Api<K>) -> kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    lean_controller_with(api, |_| {})
}

/// As [`lean_controller`], watching only what `config` selects.
pub fn lean_controller_selected<K>(
    api: kube::Api<K>,
    config: kube::runtime::watcher::Config,
) -> kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    lean_controller_configured(api, config, |_| {})
}

/// As [`lean_controller`], dropping more of each object before it is cached.
pub fn lean_controller_with<K>(
    api: kube::Api<K>,
    trim: impl FnMut(&mut K) + Send + 'static,
) -> kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    lean_controller_configured(api, kube::runtime::watcher::Config::default(), trim)
}

fn lean_controller_configured<K>(
    api: kube::Api<K>,
    config: kube::runtime::watcher::Config,
    mut trim: impl FnMut(&mut K) + Send + 'static,
) -> kube::runtime::Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(api, config).modify(move |o: &mut K| {
            let meta = o.meta_mut();
            meta.managed_fields = None;
            if let Some(a) = meta.annotations.as_mut() {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
            trim(o);
        }),
    )
    .applied_objects();
    kube::runtime::Controller::for_stream(stream, reader)
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
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.render(now),
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

/// The process's one watch of Certificates, and the index of Certificates by the
/// Gateway, ListenerSet or Ingress they come from that the shims read. Dropped:
/// the watch stops.
pub struct SharedCertificates {
    pub watch: Arc<crate::runtime::shared_watch::SharedWatch<crate::api::Certificate>>,
    pub by_source: Arc<owner_index::OwnerIndex<crate::api::Certificate>>,
    driver: tokio::task::JoinHandle<()>,
}

impl SharedCertificates {
    /// Starts watching the Certificates `ctx` serves (its namespace, or all).
    pub fn start(ctx: &Arc<Context>) -> Arc<SharedCertificates> {
        use crate::runtime::shared_watch::{Hook, SharedWatch};
        let api: kube::Api<crate::api::Certificate> = match &ctx.config.namespace {
            Some(ns) => kube::Api::namespaced(ctx.client.clone(), ns),
            None => kube::Api::all(ctx.client.clone()),
        };
        let by_source = Arc::new(crate::ingress_shim::certificate_index());
        let metrics = ctx.metrics.clone();
        let hooks: Vec<Hook<crate::api::Certificate>> = vec![
            Box::new({
                let index = by_source.clone();
                move |e| index.apply(e)
            }),
            Box::new(move |e| {
                if let kube::runtime::watcher::Event::Delete(c) = e {
                    use kube::ResourceExt;
                    metrics.forget_certificate(&c.name_any(), &c.namespace().unwrap_or_default());
                }
            }),
        ];
        let (watch, driver) = SharedWatch::start(api, |_| {}, hooks);
        Arc::new(SharedCertificates {
            watch,
            by_source,
            driver,
        })
    }
}

impl Drop for SharedCertificates {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Runs every controller until `shutdown` resolves.
pub async fn run_controllers(ctx: Arc<Context>, shutdown: tokio::sync::watch::Receiver<bool>) {
    let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let certificates = SharedCertificates::start(&ctx);
    tokio::join!(
        crate::issuers::issuer_controller::run_issuers(ctx.clone(), stop(shutdown.clone())),
        crate::issuers::issuer_controller::run_cluster_issuers(ctx.clone(), stop(shutdown.clone())),
        crate::issuers::request_controller::run(ctx.clone(), stop(shutdown.clone())),
        crate::certificates::controller::run(
            ctx.clone(),
            certificates.clone(),
            stop(shutdown.clone())
        ),
        crate::ingress_shim::run(
            ctx.clone(),
            certificates.clone(),
            ctx.config.default_issuer.clone(),
            stop(shutdown.clone())
        ),
        crate::gateway::run(
            ctx.clone(),
            certificates.clone(),
            ctx.config.default_issuer.clone(),
            stop(shutdown.clone())
        ),
        crate::issuers::acme::orders::run(ctx.clone(), stop(shutdown.clone())),
        crate::issuers::acme::challenges::run(ctx.clone(), stop(shutdown.clone())),
        serve_http01_solver(ctx.clone(), stop(shutdown.clone())),
        serve_tls_alpn01_solver(ctx.clone(), stop(shutdown.clone())),
        crate::cainjector::run(ctx.clone(), certificates.clone(), stop(shutdown.clone())),
    );
}

/// The in-process HTTP-01 solver, when `--acme-http01-solver-listen` is set.
async fn serve_http01_solver(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let Some(addr) = ctx.config.acme.http01_solver_listen else {
        return;
    };
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            if let Err(e) =
                crate::http01::server::serve(listener, ctx.solver_tokens.clone(), shutdown).await
            {
                tracing::error!(%addr, error = %e, "HTTP-01 solver stopped");
            }
        }
        Err(e) => tracing::error!(%addr, error = %e, "HTTP-01 solver cannot listen"),
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
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            if let Err(e) = ctx.tls_alpn_solver.clone().serve(listener, shutdown).await {
                tracing::error!(%addr, error = %e, "TLS-ALPN-01 solver stopped");
            }
        }
        Err(e) => tracing::error!(%addr, error = %e, "TLS-ALPN-01 solver cannot listen"),
    }
}

/// A running set of controllers that can be stopped (tests, the demo).
pub struct RunningControllers {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    pub metrics: Arc<Metrics>,
}

impl RunningControllers {
    /// Starts every controller in the background.
    pub fn start(client: kube::Client, config: ControllerConfig) -> RunningControllers {
        let metrics = Arc::new(Metrics::default());
        let ctx = Context::new(client, config, metrics.clone());
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(run_controllers(ctx, rx));
        RunningControllers {
            stop,
            task,
            metrics,
        }
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

/// Whether an error is, somewhere down its chain, the API server's 409 Conflict: a
/// write that lost a race with another writer (or with our own previous write).
pub fn is_conflict(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(kube::Error::Api(status)) = e.downcast_ref::<kube::Error>()
            && status.code == 409
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Logs a failed reconcile of `object` by the `controller`: a lost write race is
/// routine (it is retried at once) and logs at debug; anything else warns.
pub fn log_reconcile_error(
    controller: &str,
    object: &str,
    error: &(dyn std::error::Error + 'static),
) {
    if is_conflict(error) {
        tracing::debug!(controller, object, %error, "write conflict; retrying");
    } else {
        tracing::warn!(controller, object, %error, "reconcile failed");
    }
}

#[cfg(test)]
mod conflict_tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Wrapper {
        #[error("API request failed: {0}")]
        Kube(#[from] kube::Error),
    }

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..Default::default()
        }))
    }

    #[test]
    fn a_conflict_is_found_through_the_error_chain_and_nothing_else_is() {
        assert!(is_conflict(&Wrapper::from(api(409))));
        assert!(is_conflict(&api(409)));
        assert!(!is_conflict(&Wrapper::from(api(422))));
        assert!(!is_conflict(&std::io::Error::other("x")));
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
