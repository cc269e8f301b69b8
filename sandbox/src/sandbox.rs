//! Starting a sandbox: the API server over HTTPS (generated CA) and plain HTTP on
//! 127.0.0.1, a kubeconfig with bearer-token users, and a `kube::Client` for it.

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::apiserver::{ApiServer, WriteOptions};
use crate::http::{App, Identity};

/// Why a sandbox could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("building a client: {0}")]
    Client(String),
    #[error("loading CRDs: {0}")]
    Crd(String),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// `127.0.0.1:0` picks a free port.
    pub https_addr: String,
    pub http_addr: String,
    /// Authorize ServiceAccount requests with RBAC.
    pub rbac: bool,
    /// How often idle watches with bookmarks get one (a real server: about 60 s).
    pub bookmark_interval: Duration,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            https_addr: "127.0.0.1:0".into(),
            http_addr: "127.0.0.1:0".into(),
            rbac: false,
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

/// A running sandbox. Dropping it stops serving.
pub struct Sandbox {
    app: Arc<App>,
    pub https_url: String,
    pub http_url: String,
    ca_pem: String,
    admin_token: String,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Sandbox {
    /// Starts serving.
    pub async fn start(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let server = Arc::new(ApiServer::new());
        let admin_token = random_token();
        let mut tokens = HashMap::new();
        tokens.insert(
            admin_token.clone(),
            Identity {
                user: "sandbox-admin".into(),
                groups: vec!["system:masters".into()],
            },
        );
        let app = Arc::new(App {
            server: server.clone(),
            tokens: RwLock::new(tokens),
            rbac: opts.rbac,
            address: RwLock::new(String::new()),
            bookmark_interval: opts.bookmark_interval,
            rbac_log: RwLock::new(Vec::new()),
            issued_tokens: RwLock::new(HashMap::new()),
            faults: crate::faults::Faults::default(),
        });
        let router = {
            let app = app.clone();
            Router::new().fallback(move |req: Request<Body>| {
                let app = app.clone();
                async move { crate::http::handle(app, req).await }
            })
        };
        let bind = |addr: &str| {
            let addr = addr.to_string();
            async move {
                TcpListener::bind(&addr)
                    .await
                    .map_err(|source| SandboxError::Bind { addr, source })
            }
        };
        let https = bind(&opts.https_addr).await?;
        let http = bind(&opts.http_addr).await?;
        let https_local: SocketAddr = https.local_addr().map_err(|source| SandboxError::Bind {
            addr: opts.https_addr.clone(),
            source,
        })?;
        let http_local: SocketAddr = http.local_addr().map_err(|source| SandboxError::Bind {
            addr: opts.http_addr.clone(),
            source,
        })?;
        if let Ok(mut a) = app.address.write() {
            *a = https_local.to_string();
        }
        let tls = crate::tls::generate()?;
        let mut tasks = Vec::new();
        {
            let router = router.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(http, router).await;
            }));
        }
        {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = https.accept().await else {
                        continue;
                    };
                    let acceptor = acceptor.clone();
                    let router = router.clone();
                    tokio::spawn(async move {
                        let Ok(tls_stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let service = hyper::service::service_fn(
                            move |req: Request<hyper::body::Incoming>| {
                                let router = router.clone();
                                async move {
                                    use tower::ServiceExt;
                                    router.oneshot(req.map(Body::new)).await
                                }
                            },
                        );
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                            .await;
                    });
                }
            }));
        }
        tasks.push(tokio::spawn(crate::gc::run(Arc::downgrade(&server))));
        tasks.push(tokio::spawn(crate::root_ca::run(
            Arc::downgrade(&server),
            tls.ca_pem.clone(),
        )));
        Ok(Sandbox {
            app,
            https_url: format!("https://{https_local}"),
            http_url: format!("http://{http_local}"),
            ca_pem: tls.ca_pem,
            admin_token,
            tasks,
        })
    }

    /// The API semantics behind the HTTP layer.
    pub fn api(&self) -> &Arc<ApiServer> {
        &self.app.server
    }

    /// The CA certificate that signs the serving certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The token of the `system:masters` user.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A token that authenticates as a ServiceAccount (`system:serviceaccount:<ns>:<name>`).
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        let token = random_token();
        if let Ok(mut t) = self.app.tokens.write() {
            t.insert(
                token.clone(),
                Identity {
                    user: format!("system:serviceaccount:{namespace}:{name}"),
                    groups: vec![
                        "system:serviceaccounts".into(),
                        format!("system:serviceaccounts:{namespace}"),
                    ],
                },
            );
        }
        token
    }

    /// The fault injector: its plan applies to `faulty_client`'s requests only.
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.app.faults
    }

    /// A `kube::Client` as an admin whose requests get the faults of `faults()`.
    pub async fn faulty_client(&self) -> Result<kube::Client, SandboxError> {
        let token = random_token();
        if let Ok(mut t) = self.app.tokens.write() {
            t.insert(
                token.clone(),
                Identity {
                    user: crate::faults::FAULTY_USER.into(),
                    groups: vec!["system:masters".into()],
                },
            );
        }
        self.client_with_token(&token).await
    }

    /// The RBAC rules that allowed requests so far: (user, rule).
    pub fn rbac_log(&self) -> Vec<(String, String)> {
        self.app
            .rbac_log
            .read()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// A kubeconfig for the HTTPS endpoint with the given token.
    pub fn kubeconfig_yaml(&self, token: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: sandbox\n  user:\n    token: {token}\ncontexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox\n    namespace: default\ncurrent-context: sandbox\n",
            self.https_url
        )
    }

    /// Writes the admin kubeconfig to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> Result<(), SandboxError> {
        std::fs::write(path, self.kubeconfig_yaml(&self.admin_token)).map_err(|source| {
            SandboxError::Write {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// A `kube::Client` over HTTPS as the admin user.
    pub async fn client(&self) -> Result<kube::Client, SandboxError> {
        self.client_with_token(&self.admin_token.clone()).await
    }

    /// A `kube::Client` over HTTPS authenticating with `token`.
    pub async fn client_with_token(&self, token: &str) -> Result<kube::Client, SandboxError> {
        client_from_kubeconfig(&self.kubeconfig_yaml(token)).await
    }

    /// Applies CRDs (as JSON values) directly, and waits until they are served.
    pub fn install_crds(&self, crds: &[Value]) -> Result<(), SandboxError> {
        let served = self
            .app
            .server
            .registry
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .ok_or_else(|| SandboxError::Crd("CRDs are not served".into()))?;
        for crd in crds {
            let opts = WriteOptions {
                manager: "sandbox".into(),
                ..Default::default()
            };
            self.app
                .server
                .create(&served, None, crd.clone(), &opts)
                .map_err(|e| SandboxError::Crd(e.to_string()))?;
        }
        Ok(())
    }
}

/// A client from kubeconfig YAML.
pub async fn client_from_kubeconfig(yaml: &str) -> Result<kube::Client, SandboxError> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(yaml)
        .map_err(|e| SandboxError::Client(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| SandboxError::Client(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| SandboxError::Client(e.to_string()))
}
