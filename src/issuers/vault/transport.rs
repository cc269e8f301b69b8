//! The HTTP(S) connection to one Vault server: the trust (`caBundle`, its Secret,
//! or the platform's roots), the client certificate for mutual TLS, the TLS server
//! name (`serverName`), and the `X-Vault-Namespace` header. It sends JSON and reads
//! Vault's answers; it knows nothing of auth methods or PKI.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

use super::VaultError;

/// How long one request to Vault may take before it counts as unreachable.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The TLS material of a connection, read from the issuer and its Secrets.
#[derive(Clone, Default)]
pub struct TlsMaterial {
    /// PEM CA certificates to trust instead of the platform's roots.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// PEM client certificate chain and key, presented to Vault (mutual TLS, or the
    /// cert auth method).
    pub client_identity: Option<ClientIdentity>,
    /// The name Vault's certificate is checked against, instead of the URL's host.
    pub server_name: Option<String>,
}

/// A client certificate and its key. The key is never printed.
#[derive(Clone)]
pub struct ClientIdentity {
    pub certificate_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity { .. }")
    }
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// A connection to one Vault server (`spec.vault.server`), with its namespace.
#[derive(Clone)]
pub struct Transport {
    client: HttpsClient,
    /// `https://vault.example:8200`, without a trailing slash.
    server: String,
    namespace: Option<String>,
}

/// One answer of Vault: its status and JSON body (`Value::Null` when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// Vault's own words for a failed request: the `errors` list joined.
    pub fn errors(&self) -> String {
        let list: Vec<&str> = self
            .body
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if list.is_empty() {
            self.status.to_string()
        } else {
            list.join("; ")
        }
    }
}

fn load_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, VaultError> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| VaultError::Config(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(VaultError::Config(format!(
            "{what} holds no PEM certificate"
        )));
    }
    Ok(certs)
}

fn load_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, VaultError> {
    use rustls::pki_types::pem::PemObject;
    // The parser's error can quote the input; say only where it came from.
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|_| VaultError::Config(format!("{what} holds no PEM private key")))
}

fn tls_config(tls: &TlsMaterial) -> Result<rustls::ClientConfig, VaultError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| VaultError::Config(format!("cannot set up TLS: {e}")))?;
    let builder = match &tls.ca_bundle_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in load_certificates(pem, "the Vault CA bundle")? {
                roots.add(cert).map_err(|e| {
                    VaultError::Config(format!(
                        "the Vault CA bundle holds a certificate rustls refuses: {e}"
                    ))
                })?;
            }
            builder.with_root_certificates(roots)
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| VaultError::Config(format!("cannot load the system's roots: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        }
    };
    match &tls.client_identity {
        Some(id) => {
            let chain = load_certificates(&id.certificate_pem, "the client certificate")?;
            let key = load_key(&id.key_pem, "the client key")?;
            builder.with_client_auth_cert(chain, key).map_err(|_| {
                VaultError::Config(
                    "the client certificate and key do not form a usable pair".into(),
                )
            })
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

impl Transport {
    /// A connection to `server` (`http://` or `https://`), sending `namespace` as
    /// `X-Vault-Namespace` where asked.
    pub fn new(
        server: &str,
        namespace: Option<&str>,
        tls: &TlsMaterial,
    ) -> Result<Transport, VaultError> {
        let server = server.trim().trim_end_matches('/').to_string();
        let uri: http::Uri = server
            .parse()
            .map_err(|e| VaultError::Config(format!("spec.vault.server {server:?}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(VaultError::Config(format!(
                "spec.vault.server {server:?} is not an http:// or https:// URL"
            )));
        }
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls_config(tls)?);
        let builder = match tls.server_name.as_deref().filter(|s| !s.is_empty()) {
            Some(name) => {
                let name = ServerName::try_from(name.to_string()).map_err(|_| {
                    VaultError::Config(format!("spec.vault.serverName {name:?} is not a DNS name"))
                })?;
                builder
                    .https_or_http()
                    .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder.https_or_http(),
        };
        let connector = builder.enable_http1().wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Transport {
            client,
            server,
            namespace: namespace.filter(|n| !n.is_empty()).map(str::to_string),
        })
    }

    /// Sends `body` (JSON) to `/v1/<path>` with `token` and the namespace header,
    /// and reads the answer. Only the connection failing is an error here; Vault's
    /// refusals are answers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, VaultError> {
        self.send(method, path, token, body, true).await
    }

    /// A call outside the namespace and without a token (`sys/health`).
    pub async fn call_without_namespace(
        &self,
        method: Method,
        path: &str,
    ) -> Result<Answer, VaultError> {
        self.send(method, path, None, None, false).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        in_namespace: bool,
    ) -> Result<Answer, VaultError> {
        let url = format!("{}/v1/{}", self.server, path.trim_start_matches('/'));
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .header(http::header::ACCEPT, "application/json");
        if let Some(ns) = self.namespace.as_ref().filter(|_| in_namespace) {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        let bytes = match body {
            Some(b) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(b).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| VaultError::Config(format!("cannot build a request to {url}: {e}")))?;
        let unreachable = |e: String| VaultError::Unreachable {
            server: self.server.clone(),
            cause: e,
        };
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| unreachable(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(connection_error(&e)))?;
        let status = resp.status();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, resp.into_body().collect())
            .await
            .map_err(|_| unreachable("the answer stalled".into()))?
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| VaultError::Decode {
                path: path.to_string(),
                cause: format!("HTTP {status}: {e}"),
            })?
        };
        Ok(Answer { status, body })
    }
}

/// The innermost cause of a connection failure (the TLS verification error, the
/// refused connection), which is what the user can act on.
fn connection_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    let mut words = e.to_string();
    while let Some(inner) = cause.source() {
        words = inner.to_string();
        cause = inner;
    }
    words
}
