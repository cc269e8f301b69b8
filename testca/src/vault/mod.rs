//! An in-process emulator of HashiCorp Vault's (and OpenBao's) HTTP API, the part a
//! certificate issuer uses, for certgate's Vault issuer tests: no Vault binary needed.
//!
//! [`VaultEmulator::start`] serves HTTPS on 127.0.0.1 (a free port) with a server
//! certificate (`127.0.0.1`, `::1`, `localhost`, `vault.local`) from a TLS CA of its own
//! ([`VaultEmulator::ca_pem`]); it asks for a client certificate without requiring one,
//! for `cert` auth. [`VaultEmulator::start_http`] serves plain HTTP instead.
//!
//! Endpoints, under `/v1/`, with Vault's JSON shapes and error wording
//! (`{"errors":["..."]}`):
//!
//! - `GET|HEAD sys/health` (`standbyok`, `sealedcode`, `standbycode`, `activecode`);
//! - `GET auth/token/lookup-self`, `POST auth/token/renew-self`;
//! - `POST auth/<mount>/login` for the AppRole, Kubernetes, TLS certificate and AWS
//!   IAM methods (mount paths may be nested: `auth/k8s/cluster-a/login`);
//! - `POST <pki mount>/sign/<role>`, `<pki mount>/sign-verbatim[/<role>]`.
//!
//! Anything else answers 404 (`no handler for route ...`), after the token check as
//! Vault does (so 403 without a valid token). A sealed emulator answers 503 `Vault is
//! sealed` everywhere but `sys/health`. The `X-Vault-Namespace` header, or a path
//! prefix naming a namespace (`/v1/team-a/pki/sign/web`), picks the namespace whose
//! mounts and tokens apply; only the root token works across namespaces.
//!
//! Not modelled: policies (reported, never enforced), entities, leases, token
//! accessors and the rest of `auth/token/*`, `issue/<role>` and every other PKI path
//! (CRLs, issuers, revocation), role key type and key usage settings,
//! `allowed_other_sans`, the `not_after` field, AWS EC2 auth and IAM unique-ID
//! resolution (wildcard bindings match the canonical or caller ARN), Kubernetes JWT
//! parsing (the reviewer alone decides), and policy-based access to child namespaces.
//!
//! The module holds the public handle and its configuration types (this file), the
//! HTTP server and the token endpoints (`server`), the login methods (`auth`) and the
//! PKI signing (`pki`). Start-up panics with a message when it cannot bind or build its
//! keys; nothing a client sends can make it panic.

mod auth;
mod pki;
mod server;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use serde_json::Value;

/// Vault's default and maximum lease TTL (`768h`): the TTL of tokens and certificates
/// when nothing else says, and the cap of token renewals.
pub const SYSTEM_MAX_TTL: Duration = Duration::from_secs(768 * 3600);

/// The `version` `sys/health` reports.
pub const VERSION: &str = "1.17.0";

/// An error: what an endpoint answers (the status of [`VaultError::status`] and
/// `{"errors":["<Display>"]}`), or a configuration call the emulator refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// 503: the emulator is sealed.
    #[error("Vault is sealed")]
    Sealed,
    /// 403: no token, an unknown, expired or revoked one, or a failed login.
    #[error("permission denied")]
    PermissionDenied,
    /// 400 with Vault's message.
    #[error("{0}")]
    BadRequest(String),
    /// 403 with a message other than `permission denied`.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no mount serves the path (relative to the namespace).
    #[error("no handler for route \"{0}\". route entry not found.")]
    NoRoute(String),
    /// 405: the path exists, not with this method.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// 500 with Vault's message.
    #[error("{0}")]
    Internal(String),
    /// A configuration call the emulator cannot honour (never an HTTP answer).
    #[error("emulator configuration: {0}")]
    Config(String),
}

impl VaultError {
    /// The HTTP status the error answers.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Sealed => StatusCode::SERVICE_UNAVAILABLE,
            Self::PermissionDenied | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::UnsupportedOperation => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal(_) | Self::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn bad_request(message: impl Into<String>) -> VaultError {
    VaultError::BadRequest(message.into())
}

fn config_error(message: impl Into<String>) -> VaultError {
    VaultError::Config(message.into())
}

/// A PKI role (`<mount>/roles/<name>`), with Vault's defaults from
/// [`RoleConfig::default`]. A zero `ttl` or `max_ttl` means the system's
/// ([`SYSTEM_MAX_TTL`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleConfig {
    /// Domains names may be (`allow_bare_domains`), be under (`allow_subdomains`), or
    /// match as globs (`allow_glob_domains`).
    pub allowed_domains: Vec<String>,
    /// Names under an allowed domain (`a.example.com`, `*.example.com`). Default false.
    pub allow_subdomains: bool,
    /// An allowed domain itself. Default false.
    pub allow_bare_domains: bool,
    /// Any name (hostname syntax still enforced by `enforce_hostnames`). Default false.
    pub allow_any_name: bool,
    /// Allowed domains containing `*` are globs. Default false.
    pub allow_glob_domains: bool,
    /// `localhost` and `localdomain`. Default true.
    pub allow_localhost: bool,
    /// Wildcard names at all. Default true.
    pub allow_wildcard_certificates: bool,
    /// Names must be hostnames. Default true.
    pub enforce_hostnames: bool,
    /// IP SANs. Default true.
    pub allow_ip_sans: bool,
    /// URI SANs allowed (globs); none by default.
    pub allowed_uri_sans: Vec<String>,
    /// `sign` takes the CN from the CSR (the `common_name` field only when the CSR
    /// has none). Default true.
    pub use_csr_common_name: bool,
    /// `sign` takes DNS, email, IP and URI SANs from the CSR and ignores `alt_names`,
    /// `ip_sans` and `uri_sans`. Default true.
    pub use_csr_sans: bool,
    /// A CN is required. Default true.
    pub require_cn: bool,
    /// The TTL when the request names none.
    pub ttl: Duration,
    /// The longest TTL; longer requests are capped with a warning.
    pub max_ttl: Duration,
}

impl Default for RoleConfig {
    fn default() -> Self {
        RoleConfig {
            allowed_domains: Vec::new(),
            allow_subdomains: false,
            allow_bare_domains: false,
            allow_any_name: false,
            allow_glob_domains: false,
            allow_localhost: true,
            allow_wildcard_certificates: true,
            enforce_hostnames: true,
            allow_ip_sans: true,
            allowed_uri_sans: Vec::new(),
            use_csr_common_name: true,
            use_csr_sans: true,
            require_cn: true,
            ttl: Duration::ZERO,
            max_ttl: Duration::ZERO,
        }
    }
}

/// A Kubernetes auth role (`auth/<mount>/role/<name>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesRole {
    /// Service account names allowed (`*` or globs allowed).
    pub bound_service_account_names: Vec<String>,
    /// Service account namespaces allowed (`*` or globs allowed).
    pub bound_service_account_namespaces: Vec<String>,
    /// When set, the reviewed token's audiences must contain it.
    pub audience: Option<String>,
    /// The TTL of the tokens the login issues (zero: [`SYSTEM_MAX_TTL`]).
    pub token_ttl: Duration,
}

/// What a [`TokenReviewer`] learnt about a service account token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewedServiceAccount {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account's name.
    pub name: String,
    /// The token's audiences.
    pub audiences: Vec<String>,
}

/// Validates the JWT of a Kubernetes login (a TokenReview in Vault); `Err` refuses it
/// (403 `permission denied`).
pub type TokenReviewer = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<ReviewedServiceAccount, String>> + Send>>
        + Send
        + Sync,
>;

/// The CA hierarchy of a PKI mount, PEM (without trailing newline, as Vault answers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiChain {
    /// The self-signed root (last in `ca_chain`).
    pub root_pem: String,
    /// The intermediate that signs (`issuing_ca`, first in `ca_chain`).
    pub intermediate_pem: String,
}

/// A certificate the emulator signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The namespace (`""` for the root namespace).
    pub namespace: String,
    /// The PKI mount.
    pub mount: String,
    /// The role (`None` for `sign-verbatim` without one).
    pub role: Option<String>,
    /// `aa:bb:...`, as in the response.
    pub serial_number: String,
    /// The leaf, PEM.
    pub certificate_pem: String,
    /// `notAfter`.
    pub not_after: Timestamp,
}

/// A running emulator; stops when dropped. Every method may be called while it runs.
pub struct VaultEmulator {
    app: App,
    addr: SocketAddr,
    base_url: String,
    tls_ca_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VaultEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VaultEmulator {
    /// Starts the emulator over HTTPS on 127.0.0.1 (a free port), served by a task on
    /// the current tokio runtime. Panics outside a runtime.
    pub fn start() -> VaultEmulator {
        server::start(true)
    }

    /// Starts the emulator over plain HTTP (`cert` logins then answer `tls connection
    /// required`).
    pub fn start_http() -> VaultEmulator {
        server::start(false)
    }

    /// `https://127.0.0.1:PORT` (or `http://` from [`VaultEmulator::start_http`]).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA of the HTTPS server certificate (empty over plain HTTP).
    pub fn ca_pem(&self) -> &str {
        &self.tls_ca_pem
    }

    /// Base64 of [`VaultEmulator::ca_pem`], for an issuer's `spec.vault.caBundle`.
    pub fn ca_bundle_b64(&self) -> String {
        STANDARD.encode(self.tls_ca_pem.as_bytes())
    }

    /// The root token: policy `root`, no expiry, valid in every namespace.
    pub fn root_token(&self) -> String {
        self.app.lock().root_token.clone()
    }

    /// Mounts a PKI secrets engine at `mount` (e.g. `pki_int`) with a fresh root and an
    /// intermediate signed by it; the intermediate signs. Refused if the path is taken.
    pub fn add_pki_mount(
        &self,
        namespace: Option<&str>,
        mount: &str,
    ) -> Result<PkiChain, VaultError> {
        let mount = normalize_path(mount);
        let ns = normalize_path(namespace.unwrap_or_default());
        let label = if ns.is_empty() {
            mount.clone()
        } else {
            format!("{ns}/{mount}")
        };
        let (root_pem, root) = super::ca(&format!("Vault emulator {label} root CA"), None);
        let (intermediate_pem, issuer) = super::ca(
            &format!("Vault emulator {label} intermediate CA"),
            Some(&root),
        );
        let chain = PkiChain {
            root_pem: root_pem.trim().to_string(),
            intermediate_pem: intermediate_pem.trim().to_string(),
        };
        let mut st = self.app.lock();
        let space = st.namespace_mut(&ns);
        if mount.is_empty() || space.pki.contains_key(&mount) {
            return Err(config_error(format!("path is already in use at {mount}/")));
        }
        space.pki.insert(
            mount,
            PkiMount {
                issuer,
                chain: chain.clone(),
                roles: BTreeMap::new(),
            },
        );
        Ok(chain)
    }

    /// The CA hierarchy of a PKI mount.
    pub fn pki_chain(&self, namespace: Option<&str>, mount: &str) -> Option<PkiChain> {
        let st = self.app.lock();
        st.namespaces
            .get(&normalize_path(namespace.unwrap_or_default()))
            .and_then(|s| s.pki.get(&normalize_path(mount)))
            .map(|m| m.chain.clone())
    }

    /// Creates or replaces a role of a PKI mount.
    pub fn add_role(
        &self,
        namespace: Option<&str>,
        mount: &str,
        role: &str,
        config: RoleConfig,
    ) -> Result<(), VaultError> {
        let mut st = self.app.lock();
        let mount = normalize_path(mount);
        let pki = st
            .namespaces
            .get_mut(&normalize_path(namespace.unwrap_or_default()))
            .and_then(|s| s.pki.get_mut(&mount))
            .ok_or_else(|| config_error(format!("no PKI mount {mount}")))?;
        pki.roles.insert(role.to_string(), config);
        Ok(())
    }

    /// A token of `namespace` with these policies (plus `default`), lasting `ttl`
    /// (zero: [`SYSTEM_MAX_TTL`]); it stops working when it expires, 403 `permission
    /// denied`. Policies are reported, not enforced.
    pub fn create_token(
        &self,
        namespace: Option<&str>,
        policies: &[&str],
        ttl: Duration,
        renewable: bool,
    ) -> String {
        let ns = normalize_path(namespace.unwrap_or_default());
        let mut policies: Vec<String> = policies.iter().map(|p| p.to_string()).collect();
        if !policies.iter().any(|p| p == "default" || p == "root") {
            policies.push("default".into());
        }
        policies.sort();
        policies.dedup();
        let mut st = self.app.lock();
        st.issue_token(
            &ns,
            TokenSpec {
                policies,
                ttl,
                renewable,
                path: "auth/token/create".into(),
                display_name: "token".into(),
                meta: None,
            },
        )
        .client_token
    }

    /// Revokes a token (any namespace); whether there was one.
    pub fn revoke_token(&self, token: &str) -> bool {
        let mut st = self.app.lock();
        st.namespaces
            .values_mut()
            .any(|s| s.tokens.remove(token).is_some())
    }

    /// Revokes every token but the root token (as if Vault's tokens were all revoked
    /// or its token store lost); how many there were.
    pub fn revoke_all_tokens(&self) -> usize {
        let mut st = self.app.lock();
        let root = st.root_token.clone();
        let mut revoked = 0;
        for s in st.namespaces.values_mut() {
            let before = s.tokens.len();
            s.tokens.retain(|t, _| *t == root);
            revoked += before - s.tokens.len();
        }
        revoked
    }

    /// Adds an AppRole role to the AppRole method at `auth/<mount>` (mounted if needed):
    /// `role_id` and `secret_id` log in for a token of `token_ttl`.
    pub fn add_approle(
        &self,
        namespace: Option<&str>,
        mount: &str,
        role_id: &str,
        secret_id: &str,
        token_ttl: Duration,
    ) -> Result<(), VaultError> {
        let mut st = self.app.lock();
        let AuthMount::AppRole(roles) = st.auth_mount(namespace, mount, AuthKind::AppRole)? else {
            return Err(config_error("not an AppRole mount"));
        };
        roles.insert(
            role_id.to_string(),
            AppRole {
                secret_id: secret_id.to_string(),
                token_ttl,
            },
        );
        Ok(())
    }

    /// A new secret ID for the AppRole `role_id` (in any namespace and mount); the old
    /// one stops working.
    pub fn rotate_approle_secret(&self, role_id: &str) -> Result<String, VaultError> {
        let mut st = self.app.lock();
        let role = st
            .namespaces
            .values_mut()
            .flat_map(|s| s.auth.values_mut())
            .find_map(|m| match m {
                AuthMount::AppRole(roles) => roles.get_mut(role_id),
                _ => None,
            })
            .ok_or_else(|| config_error(format!("no AppRole with role ID {role_id}")))?;
        role.secret_id = uuid::Uuid::new_v4().to_string();
        Ok(role.secret_id.clone())
    }

    /// Adds a role to the Kubernetes method at `auth/<mount>` (mounted if needed). Logins
    /// need a reviewer ([`VaultEmulator::set_token_reviewer`]).
    pub fn add_kubernetes_role(
        &self,
        namespace: Option<&str>,
        mount: &str,
        role: &str,
        config: KubernetesRole,
    ) -> Result<(), VaultError> {
        let mut st = self.app.lock();
        let AuthMount::Kubernetes(roles) = st.auth_mount(namespace, mount, AuthKind::Kubernetes)?
        else {
            return Err(config_error("not a Kubernetes mount"));
        };
        roles.insert(role.to_string(), config);
        Ok(())
    }

    /// What validates the JWT of Kubernetes logins (every Kubernetes mount).
    pub fn set_token_reviewer(&self, reviewer: TokenReviewer) {
        self.app.lock().reviewer = Some(reviewer);
    }

    /// Adds a trusted certificate to the TLS certificate method at `auth/<mount>`
    /// (mounted if needed): a login presenting this certificate, or one that chains to
    /// it when it is a CA, gets a token of `token_ttl`. The PEM may hold several
    /// certificates.
    pub fn add_cert_role(
        &self,
        namespace: Option<&str>,
        mount: &str,
        name: &str,
        certificate_pem: &str,
        token_ttl: Duration,
    ) -> Result<(), VaultError> {
        let certificates = pem_certificates(certificate_pem);
        if certificates.is_empty() {
            return Err(config_error(format!("no certificate in the PEM of {name}")));
        }
        let mut st = self.app.lock();
        let AuthMount::Cert(roles) = st.auth_mount(namespace, mount, AuthKind::Cert)? else {
            return Err(config_error("not a cert mount"));
        };
        roles.insert(
            name.to_string(),
            CertRole {
                certificates,
                token_ttl,
            },
        );
        Ok(())
    }

    /// Adds a role to the AWS method at `auth/<mount>` (mounted if needed): an IAM login
    /// whose caller ARN matches one of `bound_iam_principal_arn` (exactly, by its
    /// canonical form, or by a `*` glob) gets a token of `token_ttl`.
    pub fn add_aws_role(
        &self,
        namespace: Option<&str>,
        mount: &str,
        role: &str,
        bound_iam_principal_arn: Vec<String>,
        token_ttl: Duration,
    ) -> Result<(), VaultError> {
        let mut st = self.app.lock();
        let AuthMount::Aws(roles) = st.auth_mount(namespace, mount, AuthKind::Aws)? else {
            return Err(config_error("not an AWS mount"));
        };
        roles.insert(
            role.to_string(),
            AwsRole {
                bound_iam_principal_arn,
                token_ttl,
            },
        );
        Ok(())
    }

    /// Where AWS IAM logins send the signed `GetCallerIdentity` (Vault's
    /// `sts_endpoint`), e.g. `http://127.0.0.1:5000`.
    pub fn set_sts_endpoint(&self, url: &str) {
        self.app.lock().sts_endpoint = Some(url.trim_end_matches('/').to_string());
    }

    /// The CA(s) trusted for an `https://` STS endpoint (none by default).
    pub fn set_sts_ca_pem(&self, pem: Option<&str>) {
        self.app.lock().sts_ca_pem = pem.map(str::to_string);
    }

    /// The `X-Vault-AWS-IAM-Server-ID` value AWS logins must carry and sign (`None`:
    /// not checked).
    pub fn set_iam_server_id_header(&self, value: Option<&str>) {
        self.app.lock().iam_server_id = value.map(str::to_string);
    }

    /// Seals: 503 everywhere (`sys/health` reports `sealed`).
    pub fn seal(&self) {
        self.app.lock().sealed = true;
    }

    /// Unseals.
    pub fn unseal(&self) {
        self.app.lock().sealed = false;
    }

    /// Reports a standby node in `sys/health` (429 unless `standbyok`).
    pub fn set_standby(&self, standby: bool) {
        self.app.lock().standby = standby;
    }

    /// Successful logins so far with one method: `approle`, `kubernetes`, `cert`, `aws`.
    pub fn logins(&self, method: &str) -> u64 {
        self.app
            .lock()
            .logins
            .get(method)
            .copied()
            .unwrap_or_default()
    }

    /// Login requests so far with one method, refused ones included.
    pub fn login_attempts(&self, method: &str) -> u64 {
        self.app
            .lock()
            .login_attempts
            .get(method)
            .copied()
            .unwrap_or_default()
    }

    /// POST/PUT requests to `sign` and `sign-verbatim` so far that passed the token
    /// check, refused ones included.
    pub fn sign_requests(&self) -> u64 {
        self.app.lock().sign_requests
    }

    /// The JSON body of the last such request (a JSON string of the raw body when it
    /// was not a JSON object).
    pub fn last_sign_request(&self) -> Option<Value> {
        self.app.lock().last_sign_request.clone()
    }

    /// Every certificate signed so far, oldest first.
    pub fn issued(&self) -> Vec<IssuedCertificate> {
        self.app.lock().issued.clone()
    }

    /// Requests so far by endpoint: `sys/health`, `lookup-self`, `renew-self`, `login`,
    /// `sign`, `sign-verbatim`, `other`.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.app.lock().requests.clone()
    }
}

// ---------------------------------------------------------------------------------
// State

#[derive(Clone)]
struct App {
    st: Arc<Mutex<Inner>>,
}

impl App {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.st.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Inner {
    sealed: bool,
    standby: bool,
    cluster_id: String,
    root_token: String,
    /// By path, `""` the root namespace; a namespace's parents are present too.
    namespaces: BTreeMap<String, Namespace>,
    reviewer: Option<TokenReviewer>,
    sts_endpoint: Option<String>,
    sts_ca_pem: Option<String>,
    iam_server_id: Option<String>,
    logins: BTreeMap<String, u64>,
    login_attempts: BTreeMap<String, u64>,
    sign_requests: u64,
    last_sign_request: Option<Value>,
    issued: Vec<IssuedCertificate>,
    requests: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Namespace {
    pki: BTreeMap<String, PkiMount>,
    auth: BTreeMap<String, AuthMount>,
    tokens: HashMap<String, Token>,
}

struct PkiMount {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    chain: PkiChain,
    roles: BTreeMap<String, RoleConfig>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AuthKind {
    AppRole,
    Kubernetes,
    Cert,
    Aws,
}

enum AuthMount {
    /// By role ID.
    AppRole(BTreeMap<String, AppRole>),
    Kubernetes(BTreeMap<String, KubernetesRole>),
    Cert(BTreeMap<String, CertRole>),
    Aws(BTreeMap<String, AwsRole>),
}

impl AuthMount {
    fn kind(&self) -> AuthKind {
        match self {
            Self::AppRole(_) => AuthKind::AppRole,
            Self::Kubernetes(_) => AuthKind::Kubernetes,
            Self::Cert(_) => AuthKind::Cert,
            Self::Aws(_) => AuthKind::Aws,
        }
    }
}

struct AppRole {
    secret_id: String,
    token_ttl: Duration,
}

#[derive(Clone)]
struct CertRole {
    /// DER.
    certificates: Vec<Vec<u8>>,
    token_ttl: Duration,
}

#[derive(Clone)]
struct AwsRole {
    bound_iam_principal_arn: Vec<String>,
    token_ttl: Duration,
}

/// A token as Vault's token store keeps it.
#[derive(Clone)]
struct Token {
    client_token: String,
    accessor: String,
    namespace: String,
    policies: Vec<String>,
    path: String,
    display_name: String,
    meta: Option<BTreeMap<String, String>>,
    entity_id: String,
    renewable: bool,
    created: Timestamp,
    /// The TTL it was created with (seconds); 0 for the root token.
    creation_ttl: u64,
    /// `None`: never (the root token).
    expires: Option<Timestamp>,
    /// Renewals cannot go past this.
    max_expires: Option<Timestamp>,
    last_renewal: Option<Timestamp>,
}

struct TokenSpec {
    policies: Vec<String>,
    ttl: Duration,
    renewable: bool,
    path: String,
    display_name: String,
    meta: Option<BTreeMap<String, String>>,
}

impl Inner {
    fn new() -> Self {
        let root_token = format!("hvs.{}", random_alnum(24));
        let mut root = Namespace::default();
        let now = Timestamp::now();
        root.tokens.insert(
            root_token.clone(),
            Token {
                client_token: root_token.clone(),
                accessor: random_alnum(24),
                namespace: String::new(),
                policies: vec!["root".into()],
                path: "auth/token/root".into(),
                display_name: "root".into(),
                meta: None,
                entity_id: String::new(),
                renewable: false,
                created: now,
                creation_ttl: 0,
                expires: None,
                max_expires: None,
                last_renewal: None,
            },
        );
        Inner {
            sealed: false,
            standby: false,
            cluster_id: uuid::Uuid::new_v4().to_string(),
            root_token,
            namespaces: BTreeMap::from([(String::new(), root)]),
            reviewer: None,
            sts_endpoint: None,
            sts_ca_pem: None,
            iam_server_id: None,
            logins: BTreeMap::new(),
            login_attempts: BTreeMap::new(),
            sign_requests: 0,
            last_sign_request: None,
            issued: Vec::new(),
            requests: BTreeMap::new(),
        }
    }

    fn count(&mut self, endpoint: &str) {
        *self.requests.entry(endpoint.to_string()).or_default() += 1;
    }

    /// The namespace at `path`, created (with its parents) if need be.
    fn namespace_mut(&mut self, path: &str) -> &mut Namespace {
        let mut parent = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            parent = join_namespace(&parent, segment);
            self.namespaces.entry(parent.clone()).or_default();
        }
        self.namespaces.entry(path.to_string()).or_default()
    }

    /// The auth mount of a kind at `mount`, created if need be.
    fn auth_mount(
        &mut self,
        namespace: Option<&str>,
        mount: &str,
        kind: AuthKind,
    ) -> Result<&mut AuthMount, VaultError> {
        let mount = normalize_path(mount);
        if mount.is_empty() || mount == "token" {
            return Err(config_error(format!(
                "cannot mount an auth method at {mount:?}"
            )));
        }
        let space = self.namespace_mut(&normalize_path(namespace.unwrap_or_default()));
        let entry = space
            .auth
            .entry(mount.clone())
            .or_insert_with(|| match kind {
                AuthKind::AppRole => AuthMount::AppRole(BTreeMap::new()),
                AuthKind::Kubernetes => AuthMount::Kubernetes(BTreeMap::new()),
                AuthKind::Cert => AuthMount::Cert(BTreeMap::new()),
                AuthKind::Aws => AuthMount::Aws(BTreeMap::new()),
            });
        if entry.kind() != kind {
            return Err(config_error(format!(
                "auth/{mount} is already mounted with another method"
            )));
        }
        Ok(entry)
    }

    /// Splits namespace path segments off the front of `path` (below the header's
    /// namespace); `None` when the header names no namespace.
    fn resolve_namespace<'p>(&self, header: &str, path: &'p str) -> Option<(String, &'p str)> {
        let mut ns = normalize_path(header);
        if !self.namespaces.contains_key(&ns) {
            return None;
        }
        let mut rest = path;
        while let Some((segment, tail)) = rest.split_once('/') {
            let candidate = join_namespace(&ns, segment);
            if segment.is_empty() || !self.namespaces.contains_key(&candidate) {
                break;
            }
            ns = candidate;
            rest = tail;
        }
        Some((ns, rest))
    }

    fn issue_token(&mut self, namespace: &str, spec: TokenSpec) -> Token {
        let now = Timestamp::now();
        let ttl = if spec.ttl.is_zero() {
            SYSTEM_MAX_TTL
        } else {
            spec.ttl
        };
        let token = Token {
            // Token-store tokens have no identity entity; logins get one.
            entity_id: if spec.path.starts_with("auth/token/") {
                String::new()
            } else {
                uuid::Uuid::new_v4().to_string()
            },
            client_token: format!("hvs.{}", random_alnum(24)),
            accessor: random_alnum(24),
            namespace: namespace.to_string(),
            policies: spec.policies,
            path: spec.path,
            display_name: spec.display_name,
            meta: spec.meta,
            renewable: spec.renewable,
            created: now,
            creation_ttl: ttl.as_secs(),
            expires: Some(server::after(now, ttl)),
            max_expires: Some(server::after(now, ttl.max(SYSTEM_MAX_TTL))),
            last_renewal: None,
        };
        self.namespace_mut(namespace)
            .tokens
            .insert(token.client_token.clone(), token.clone());
        token
    }

    /// The token a request carries, valid in `namespace` (the root token anywhere);
    /// an expired one is forgotten.
    fn authenticate(&mut self, namespace: &str, token: Option<&str>) -> Result<Token, VaultError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(VaultError::PermissionDenied)?;
        let home = if token == self.root_token {
            ""
        } else {
            namespace
        };
        let space = self
            .namespaces
            .get_mut(home)
            .ok_or(VaultError::PermissionDenied)?;
        let found = space
            .tokens
            .get(token)
            .cloned()
            .ok_or(VaultError::PermissionDenied)?;
        if found.expires.is_some_and(|e| e <= Timestamp::now()) {
            space.tokens.remove(token);
            return Err(VaultError::PermissionDenied);
        }
        Ok(found)
    }

    fn token_mut(&mut self, token: &Token) -> Option<&mut Token> {
        self.namespaces
            .get_mut(&token.namespace)
            .and_then(|s| s.tokens.get_mut(&token.client_token))
    }
}

// ---------------------------------------------------------------------------------
// Small helpers

/// `a/b/` → `a/b`.
fn normalize_path(path: &str) -> String {
    path.trim()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

fn join_namespace(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}/{child}")
    }
}

fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < len {
                out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
            }
        }
    }
    out
}

/// The DER certificates of a PEM text.
fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .map(|c| c.to_vec())
        .collect()
}

/// PEM of a DER certificate, without trailing newline (as Vault answers).
fn pem_trimmed(der: &[u8]) -> String {
    super::pem_of(der).trim().to_string()
}
