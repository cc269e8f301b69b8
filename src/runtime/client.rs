//! The controller's Kubernetes client: kube's own client stack (TLS with rustls,
//! authentication, base URI, extra headers, kube's retry policy, timeouts), with
//! two bounds on what its HTTP/1.1 connections hold between requests.
//!
//! - **Read buffer**: hyper grows a connection's read buffer while reads fill it,
//!   up to 408 KiB by default, and keeps that capacity. A controller lists
//!   thousands of objects at start and then holds one connection per watch for
//!   days, so each watch kept the buffer its largest listing needed (8 MB in all at
//!   10,000 Certificates, heaptrack; docs/scale.md). [`READ_BUFFER_MAX`] caps it.
//! - **Idle connections**: a burst of writes opens up to one connection per
//!   concurrent reconcile. kube's default pool has no timer, so an idle connection
//!   (with its buffer) goes only when a later request finds it expired; here a
//!   timer closes it after [`POOL_IDLE_TIMEOUT`] unused.
//!
//! Through an HTTP or SOCKS proxy (`proxy-url` in the kubeconfig) kube's default
//! stack is used as it is.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{Body, ClientBuilder, ConfigExt};
use tower::{BoxError, ServiceBuilder};

/// The most a connection's read buffer grows to (hyper's minimum is 8 KiB).
pub const READ_BUFFER_MAX: usize = 64 * 1024;

/// How long an unused connection stays open in the pool.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for the cluster the environment points at (in-cluster service
/// account, else `KUBECONFIG` / `~/.kube/config`), as `kube::Client::try_default`.
pub async fn infer() -> Result<kube::Client, kube::Error> {
    let config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    from_config(config)
}

/// A client for the current context of a kubeconfig (YAML).
pub async fn from_kubeconfig_yaml(yaml: &str) -> Result<kube::Client, ClientError> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(yaml)?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    Ok(from_config(config)?)
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error(transparent)]
    Client(#[from] kube::Error),
}

/// A client for `config`.
pub fn from_config(config: kube::Config) -> Result<kube::Client, kube::Error> {
    if config.proxy_url.is_some() {
        return kube::Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http_client: hyper_util::client::legacy::Client<_, Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new())
            .http1_max_buf_size(READ_BUFFER_MAX)
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
    let retry = config
        .default_retry
        .then(|| tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry()));
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(retry)
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(http_client);
    Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
}
