//! The Vault issuer (HashiCorp Vault's and OpenBao's PKI secrets engine), as
//! cert-manager's: the CSR is POSTed to `spec.vault.path` (`<mount>/sign/<role>`
//! or `sign-verbatim`) with a token from one of five auth methods, and the
//! certificate, `issuing_ca` and `ca_chain` of the answer become the request's
//! certificate and CA.
//!
//! - `spec`: what the issuer says, checked (pure): cert-manager's readiness messages,
//!   the Secrets it names, the auth method.
//! - `material`: reading those Secrets and ServiceAccount tokens (the Kubernetes I/O).
//! - `transport`: the HTTPS connection (trust, mutual TLS, server name, namespace).
//! - `auth`: logging in, and the token cache (renewed before expiry, re-login on 403).
//! - `aws`: the signed STS `GetCallerIdentity` request of the AWS IAM auth method.
//! - `sign`: the sign request and reading the answer (pure).
//!
//! Nothing here logs or returns a token, a secret id, a JWT or a private key.

pub mod auth;
pub mod aws;
pub mod material;
pub mod sign;
pub mod spec;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::Value;

use crate::api::issuer::VaultIssuer;
use crate::issuers::signer::SignedCertificate;

/// cert-manager's reasons and messages for a Vault issuer's Ready condition.
pub const REASON_VERIFIED: &str = "VaultVerified";
pub const MESSAGE_VERIFIED: &str = "Vault verified";
pub const REASON_ERROR: &str = "VaultError";
pub const MESSAGE_CLIENT_INIT_FAILED: &str = "Failed to initialize Vault client";
pub const MESSAGE_HEALTH_FAILED: &str = "Failed to verify Vault is initialized and unsealed";

/// Why talking to Vault failed. Messages say what to fix and carry no secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VaultError {
    /// The issuer's configuration cannot work as written.
    #[error("{0}")]
    Config(String),
    /// A Secret the issuer names does not exist.
    #[error("secret \"{name}\" not found in namespace \"{namespace}\" ({field})")]
    SecretMissing {
        namespace: String,
        name: String,
        field: String,
    },
    /// A Secret exists but lacks the key.
    #[error("no data for \"{key}\" in secret '{namespace}/{name}' ({field})")]
    SecretKey {
        namespace: String,
        name: String,
        key: String,
        field: String,
    },
    /// The Kubernetes API failed (reading a Secret, a TokenRequest).
    #[error("{0}")]
    Kube(String),
    /// Vault could not be reached, or TLS failed.
    #[error("cannot reach Vault at {server}: {cause}")]
    Unreachable { server: String, cause: String },
    /// Vault answered something that is not its JSON.
    #[error("failed to decode response returned by vault for {path}: {cause}")]
    Decode { path: String, cause: String },
    /// Vault refused the request, in its own words.
    #[error("Vault said HTTP {status} to {method} /v1/{path}: {errors}")]
    Refused {
        method: Method,
        path: String,
        status: StatusCode,
        errors: String,
    },
    /// Logging in failed (the method says which auth method).
    #[error("while requesting a Vault token using the {method} auth: {cause}")]
    Login {
        method: &'static str,
        cause: Box<VaultError>,
    },
    /// `sys/health` says Vault cannot serve.
    #[error("{0}")]
    Unhealthy(String),
    /// The answer to a sign request has no usable certificate chain.
    #[error("failed to parse certificate chain from vault: {0}")]
    Chain(String),
}

impl VaultError {
    /// Whether the same request may succeed later without a change by the user
    /// (Vault unreachable, sealed, 5xx, rate limited).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Unhealthy(_) | Self::Kube(_) => true,
            Self::Refused { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Self::Login { cause, .. } => cause.is_transient(),
            _ => false,
        }
    }

    /// Whether a Secret the issuer names is missing (cert-manager: `SecretMissing`).
    pub fn is_secret_missing(&self) -> bool {
        match self {
            Self::SecretMissing { .. } => true,
            Self::Login { cause, .. } => cause.is_secret_missing(),
            _ => false,
        }
    }

    fn refused(method: Method, path: &str, answer: &transport::Answer) -> VaultError {
        VaultError::Refused {
            method,
            path: path.trim_start_matches('/').to_string(),
            status: answer.status,
            errors: answer.errors(),
        }
    }
}

/// Settings of the Vault issuers that come from the controller, not the issuer.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// The STS endpoint of `AssumeRoleWithWebIdentity` for the AWS auth method with a
    /// ServiceAccount (default: AWS's regional endpoint); tests point it at moto.
    pub sts_endpoint: Option<String>,
    /// Whether AWS auth without `serviceAccountRef` may use the controller's own AWS
    /// identity: for Issuers (`--issuer-ambient-credentials`, default false) and
    /// ClusterIssuers (`--cluster-issuer-ambient-credentials`, default true), as
    /// cert-manager gates it after 1.21.
    pub issuer_ambient_credentials: bool,
    pub cluster_issuer_ambient_credentials: bool,
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            sts_endpoint: None,
            issuer_ambient_credentials: false,
            cluster_issuer_ambient_credentials: true,
        }
    }
}

/// Where an issuer lives, for Secrets, audiences and the token cache.
#[derive(Clone, Debug)]
pub struct IssuerIdentity {
    /// `Issuer/<ns>/<name>` or `ClusterIssuer/<name>`.
    pub key: String,
    /// The issuer's namespace; empty for a ClusterIssuer.
    pub namespace: String,
    pub name: String,
    /// Where its Secrets and ServiceAccounts are read (the cluster resource
    /// namespace for a ClusterIssuer).
    pub resource_namespace: String,
}

/// A Vault issuer ready to be called: its connection and its way of logging in.
pub struct Vault {
    transport: transport::Transport,
    login: auth::Login,
    tokens: Arc<auth::TokenCache>,
    cache_key: String,
    path: String,
}

impl Vault {
    /// Reads what the issuer needs (Secrets, ServiceAccount token when no cached
    /// Vault token can be used) and sets up the connection.
    pub async fn connect(
        client: &kube::Client,
        issuer: &IssuerIdentity,
        vault: &VaultIssuer,
        config: &VaultConfig,
        tokens: Arc<auth::TokenCache>,
    ) -> Result<Vault, VaultError> {
        spec::check(vault).map_err(|m| VaultError::Config(m.to_string()))?;
        let reader = material::Reader {
            client,
            issuer,
            config,
        };
        let tls = reader.tls(vault).await?;
        let transport = transport::Transport::new(&vault.server, vault.namespace.as_deref(), &tls)?;
        let method = reader.login_material(vault).await?;
        let cache_key = format!("{}#{}", issuer.key, method.fingerprint(vault));
        let login = auth::Login {
            method,
            tls,
            server: vault.server.clone(),
            namespace: vault.namespace.clone(),
        };
        Ok(Vault {
            transport,
            login,
            tokens,
            cache_key,
            path: vault.path.clone(),
        })
    }

    /// A token: the cached one, renewed when near its end, or a new login.
    async fn token(&self) -> Result<String, VaultError> {
        self.tokens
            .token(&self.cache_key, &self.transport, &self.login)
            .await
    }

    /// Calls Vault with a token; on 403 the token is dropped and the call made once
    /// more with a fresh login.
    async fn call_authenticated(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<transport::Answer, VaultError> {
        let token = self.token().await?;
        let answer = self
            .transport
            .call(method.clone(), path, Some(&token), body)
            .await?;
        if answer.status != StatusCode::FORBIDDEN || self.login.method.is_static_token() {
            return Ok(answer);
        }
        self.tokens.forget(&self.cache_key);
        let token = self.token().await?;
        self.transport.call(method, path, Some(&token), body).await
    }

    /// Checks the issuer can work: a token, and Vault initialized and unsealed
    /// (`sys/health`; a standby counts as healthy, as in cert-manager).
    pub async fn verify(&self) -> Result<(), String> {
        self.token()
            .await
            .map_err(|e| format!("{MESSAGE_CLIENT_INIT_FAILED}: {e}"))?;
        let health = self
            .transport
            .call_without_namespace(Method::GET, "sys/health")
            .await
            .map_err(|e| format!("{MESSAGE_HEALTH_FAILED}: {e}"))?;
        spec::health_verdict(health.status).map_err(|e| format!("{MESSAGE_HEALTH_FAILED}: {e}"))
    }

    /// Has Vault sign `csr_pem` for `duration`.
    pub async fn sign(
        &self,
        csr_pem: &str,
        duration: Duration,
    ) -> Result<SignedCertificate, VaultError> {
        let body = sign::request_body(csr_pem, duration)?;
        let path = sign::request_path(&self.path);
        let answer = self
            .call_authenticated(Method::POST, &path, Some(&body))
            .await?;
        if !answer.status.is_success() {
            return Err(VaultError::refused(Method::POST, &path, &answer));
        }
        sign::certificates_from_answer(&answer.body)
    }
}
