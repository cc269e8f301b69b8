//! The HTTP client an ACME issuer talks to its server with: the system's roots, the
//! issuer's `caBundle`, or no verification at all with `skipTLSVerify`.

use std::sync::Arc;

use base64::Engine;
use instant_acme::{AccountBuilder, BodyWrapper};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::api::AcmeIssuer;

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

/// An [`AccountBuilder`] whose HTTP client trusts what the issuer says to trust.
pub fn account_builder(acme: &AcmeIssuer) -> Result<AccountBuilder, ClientError> {
    let skip = acme.skip_tls_verify.unwrap_or(false);
    let bundle = acme.ca_bundle.as_deref().filter(|b| !b.is_empty());
    if !skip && bundle.is_none() {
        return instant_acme::Account::builder().map_err(|e| ClientError::Client(e.to_string()));
    }
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
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, BodyWrapper<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    Ok(instant_acme::Account::builder_with_http(Box::new(client)))
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
