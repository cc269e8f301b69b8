//! The HTTP side of an ACME issuer: the action label of a task's requests (for
//! `certmanager_http_acme_client_request_*`), the roots an issuer's `caBundle`
//! holds, and the [`protocol::Client`] each issuer talks to its server with — the
//! system's roots, the issuer's `caBundle`, or no verification at all with
//! `skipTLSVerify`.

use std::sync::Arc;

use base64::Engine;
use rustls::pki_types::CertificateDer;

use crate::api::AcmeIssuer;
use crate::issuers::acme::protocol::{self, ClientOptions, HttpOptions};
use crate::metrics::Metrics;

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

/// The ACME client of an issuer: its HTTP client trusts what the issuer says to
/// trust, every request is counted in `certmanager_http_acme_client_request_count`
/// when `metrics` is given, labelled with the action [`with_action`] set. Reads the
/// server's directory (`discover`).
pub async fn new_client(
    acme: &AcmeIssuer,
    metrics: Option<Arc<Metrics>>,
) -> Result<protocol::Client, protocol::Error> {
    let http = HttpOptions {
        task_action: current_action,
        ..HttpOptions::for_issuer(acme, metrics)
    };
    protocol::Client::new(
        &acme.server,
        ClientOptions {
            http,
            ..ClientOptions::default()
        },
    )
    .await
}

tokio::task_local! {
    /// The logical ACME operation the requests of a task belong to.
    static ACME_ACTION: &'static str;
}

/// Runs `f` with its ACME requests labelled `action` in
/// `certmanager_http_acme_client_request_*` (cert-manager's operation names:
/// `discover`, `register_account`, `get_registration`, `authorize_order`,
/// `get_order`, `get_authorization`, `accept_challenge`, `create_order_cert`,
/// `fetch_cert`, `get_renewal_info`, …); requests outside any carry their
/// operation's own name.
pub async fn with_action<F: std::future::Future>(action: &'static str, f: F) -> F::Output {
    ACME_ACTION.scope(action, f).await
}

/// The action label of a request made now: the task's, or `unnamed_action`
/// (the transport then labels the request with its operation).
pub(crate) fn current_action() -> &'static str {
    ACME_ACTION
        .try_with(|a| *a)
        .unwrap_or(protocol::http::UNNAMED_ACTION)
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
