//! The HTTP client an ACME issuer talks to its server with: the system's roots, the
//! issuer's `caBundle`, or no verification at all with `skipTLSVerify`.

use std::sync::Arc;

use base64::Engine;
use instant_acme::{AccountBuilder, BodyWrapper};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::api::AcmeIssuer;
use crate::metrics::{ACME_CLIENT_DURATION, ACME_CLIENT_REQUESTS, Metrics};

/// Why no client could be built for an issuer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("spec.acme.caBundle is not valid base64: {0}")]
    CaBundleBase64(base64::DecodeError),
    #[error("spec.acme.caBundle holds no PEM certificate")]
    CaBundleEmpty,
    #[error("spec.acme.caBundle holds a certificate rustls refuses: {0}")]
    CaBundleCertificate(rustls::Error),
    #[error("cannot set up the HTTP client for the ACME server: {0}")]
    Client(String),
}

/// An [`AccountBuilder`] whose HTTP client trusts what the issuer says to trust:
/// the platform's roots, `caBundle`, or anything with `skipTLSVerify`. Every request
/// is counted in `certmanager_http_acme_client_request_count` when `metrics` is given.
pub fn account_builder(
    acme: &AcmeIssuer,
    metrics: Option<Arc<Metrics>>,
) -> Result<AccountBuilder, ClientError> {
    let skip = acme.skip_tls_verify.unwrap_or(false);
    let bundle = acme.ca_bundle.as_deref().filter(|b| !b.is_empty());
    let connector = if !skip && bundle.is_none() {
        hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| ClientError::Client(e.to_string()))?
    } else {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Client(e.to_string()))?;
        let config = if skip {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth()
        } else {
            let roots = roots_from_bundle(bundle.unwrap_or_default())?;
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
    }
    .https_only()
    .enable_http1()
    .enable_http2()
    .wrap_connector(tcp_connector());
    let client: HyperClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    Ok(instant_acme::Account::builder_with_http(Box::new(
        CountingClient { client, metrics },
    )))
}

/// TCP with Nagle off: an ACME exchange is many small request/response pairs, and
/// a request's frames held back for the peer's delayed ACK cost ~40 ms each.
fn tcp_connector() -> hyper_util::client::legacy::connect::HttpConnector {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    BodyWrapper<bytes::Bytes>,
>;

/// The HTTP client, counting and timing requests by scheme, host, action, method and
/// status.
struct CountingClient {
    client: HyperClient,
    metrics: Option<Arc<Metrics>>,
}

tokio::task_local! {
    /// The logical ACME operation the requests of a task belong to.
    static ACME_ACTION: &'static str;
}

/// Runs `f` with its ACME requests labelled `action` in
/// `certmanager_http_acme_client_request_*` (cert-manager's operation names:
/// `discover`, `register_account`, `get_registration`, `authorize_order`,
/// `get_order`, `get_authorization`, `accept_challenge`, `create_order_cert`,
/// `fetch_cert`, `get_renewal_info`, …); requests outside any are `unnamed_action`.
pub async fn with_action<F: std::future::Future>(action: &'static str, f: F) -> F::Output {
    ACME_ACTION.scope(action, f).await
}

/// The action label of a request made now.
fn current_action() -> &'static str {
    ACME_ACTION.try_with(|a| *a).unwrap_or("unnamed_action")
}

impl instant_acme::HttpClient for CountingClient {
    fn request(
        &self,
        req: http::Request<BodyWrapper<bytes::Bytes>>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<instant_acme::BytesResponse, instant_acme::Error>,
                > + Send,
        >,
    > {
        let labels = self.metrics.as_ref().map(|_| {
            let uri = req.uri();
            (
                uri.scheme_str().unwrap_or("https").to_string(),
                uri.authority().map(|a| a.to_string()).unwrap_or_default(),
                current_action(),
                req.method().to_string(),
            )
        });
        let metrics = self.metrics.clone();
        let fut = instant_acme::HttpClient::request(&self.client, req);
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = fut.await;
            if let (Some(m), Some((scheme, host, action, method))) = (metrics, labels) {
                // cert-manager's transport reports 999 when no response came.
                let status = match &result {
                    Ok(r) => r.parts.status.as_u16().to_string(),
                    Err(_) => "999".to_string(),
                };
                let labels = vec![
                    ("scheme", scheme),
                    ("host", host),
                    ("action", action.to_string()),
                    ("method", method),
                    ("status", status),
                ];
                m.observe(
                    ACME_CLIENT_DURATION,
                    labels.clone(),
                    started.elapsed().as_secs_f64(),
                );
                m.inc(ACME_CLIENT_REQUESTS, labels);
            }
            result
        })
    }
}

/// The roots in a base64-encoded PEM bundle (the `caBundle` field).
pub fn roots_from_bundle(bundle_b64: &str) -> Result<rustls::RootCertStore, ClientError> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(bundle_b64.trim())
        .map_err(ClientError::CaBundleBase64)?;
    let mut roots = rustls::RootCertStore::empty();
    for der in pem_certificates(&pem) {
        roots
            .add(CertificateDer::from(der))
            .map_err(ClientError::CaBundleCertificate)?;
    }
    if roots.is_empty() {
        return Err(ClientError::CaBundleEmpty);
    }
    Ok(roots)
}

/// The DER of every `CERTIFICATE` block in a PEM text.
pub fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect()
}

/// `skipTLSVerify: true`: accepts any server certificate (signatures still checked).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_carry_the_action_of_their_task() {
        assert_eq!(current_action(), "unnamed_action");
        let inside = with_action("authorize_order", async { current_action() }).await;
        assert_eq!(inside, "authorize_order");
        let nested = with_action("get_order", async {
            with_action("fetch_cert", async { current_action() }).await
        })
        .await;
        assert_eq!(nested, "fetch_cert");
    }

    #[test]
    fn a_bundle_must_hold_certificates() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(matches!(
            roots_from_bundle("%%%"),
            Err(ClientError::CaBundleBase64(_))
        ));
        assert!(matches!(
            roots_from_bundle(&b64("no pem here")),
            Err(ClientError::CaBundleEmpty)
        ));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["ca.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let roots = roots_from_bundle(&b64(&cert.pem())).unwrap();
        assert_eq!(roots.len(), 1);
    }
}
