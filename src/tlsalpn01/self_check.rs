//! The TLS-ALPN-01 self-check: a handshake made the way the CA will make it (SNI =
//! the name, ALPN `acme-tls/1` only), before the CA is told; it passes when the
//! certificate answered carries the challenge's key authorization.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::tlsalpn01::cert::{ACME_IDENTIFIER_OID, key_authorization_digest};
use crate::tlsalpn01::{ACME_TLS_ALPN_PROTOCOL, TlsAlpn01Config};

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the self-check found when it is not the challenge certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelfCheckError {
    #[error("{0}")]
    Resolve(String),
    #[error("cannot connect to {addr} for {name}: {reason}")]
    Connect {
        addr: SocketAddr,
        name: String,
        reason: String,
    },
    #[error(
        "TLS handshake with {addr} for {name} offering only acme-tls/1 failed: {reason} (is the TLSRoute attached to a TLS listener in Passthrough mode?)"
    )]
    Handshake {
        addr: SocketAddr,
        name: String,
        reason: String,
    },
    #[error("{addr} answered {name} with a certificate that {what}")]
    WrongCertificate {
        addr: SocketAddr,
        name: String,
        what: String,
    },
}

/// Accepts any certificate and keeps the end-entity one: the check is of its
/// content, not of a chain (the challenge certificate is self-signed, and its
/// critical acmeIdentifier extension is unknown to WebPKI).
#[derive(Debug)]
struct KeepCertificate {
    seen: Mutex<Option<Vec<u8>>>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for KeepCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// What is wrong with `der` as the challenge certificate for `name` and
/// `key_authorization`, if anything.
pub fn certificate_problem(der: &[u8], name: &str, key_authorization: &str) -> Option<String> {
    use x509_parser::prelude::*;
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Some("cannot be parsed".into());
    };
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names != [name.to_ascii_lowercase()] {
        return Some(format!("names {names:?}, not only {name:?}"));
    }
    let Some(ext) = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == ACME_IDENTIFIER_OID)
    else {
        return Some("has no acmeIdentifier extension (not a TLS-ALPN-01 certificate)".into());
    };
    let mut want = vec![0x04, 0x20];
    want.extend_from_slice(&key_authorization_digest(key_authorization));
    if ext.value != want.as_slice() {
        return Some("carries another key authorization (an older or other challenge)".into());
    }
    None
}

/// Makes the CA's handshake for `name` and checks the certificate answered.
pub async fn check(
    name: &str,
    key_authorization: &str,
    config: &TlsAlpn01Config,
) -> Result<(), SelfCheckError> {
    let ips = crate::http01::self_check::resolve(name, &config.self_check_nameservers)
        .await
        .map_err(SelfCheckError::Resolve)?;
    let Some(ip) = ips.first().copied() else {
        return Err(SelfCheckError::Resolve(format!(
            "lookup {name}: no such host"
        )));
    };
    let addr = SocketAddr::new(ip, config.self_check_port);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(KeepCertificate {
        seen: Mutex::new(None),
        schemes: provider
            .signature_verification_algorithms
            .supported_schemes(),
    });
    let handshake_error = |reason: String| SelfCheckError::Handshake {
        addr,
        name: name.to_string(),
        reason,
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| handshake_error(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    tls.alpn_protocols = vec![ACME_TLS_ALPN_PROTOCOL.to_vec()];
    let server_name =
        ServerName::try_from(name.to_string()).map_err(|e| handshake_error(e.to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let tcp = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| "timed out".to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|reason| SelfCheckError::Connect {
            addr,
            name: name.to_string(),
            reason,
        })?;
    let stream = tokio::time::timeout(TIMEOUT, connector.connect(server_name, tcp))
        .await
        .map_err(|_| handshake_error("timed out".into()))?
        .map_err(|e| handshake_error(e.to_string()))?;
    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    if alpn.as_deref() != Some(ACME_TLS_ALPN_PROTOCOL) {
        return Err(handshake_error("acme-tls/1 was not negotiated".into()));
    }
    let seen = verifier
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let Some(der) = seen else {
        return Err(handshake_error("no certificate was presented".into()));
    };
    match certificate_problem(&der, name, key_authorization) {
        None => Ok(()),
        Some(what) => Err(SelfCheckError::WrongCertificate {
            addr,
            name: name.to_string(),
            what,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlsalpn01::server::TlsAlpnSolver;

    #[test]
    fn only_the_certificate_of_this_key_authorization_and_name_passes() {
        let certified =
            crate::tlsalpn01::cert::challenge_certificate("db.example.com", "tok.thumb").unwrap();
        let der = certified.cert[0].to_vec();
        assert_eq!(
            certificate_problem(&der, "db.example.com", "tok.thumb"),
            None
        );
        assert!(
            certificate_problem(&der, "db.example.com", "other.thumb")
                .is_some_and(|w| w.contains("another key authorization"))
        );
        assert!(certificate_problem(&der, "web.example.com", "tok.thumb").is_some());
        assert!(certificate_problem(b"junk", "db.example.com", "tok.thumb").is_some());
    }

    #[tokio::test]
    async fn the_self_check_passes_against_the_solver_and_fails_without_it() {
        let solver = TlsAlpnSolver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(solver.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        let config = TlsAlpn01Config {
            self_check_port: port,
            ..Default::default()
        };
        // "localhost" resolves through the system resolver to 127.0.0.1.
        let err = check("localhost", "tok.thumb", &config).await.unwrap_err();
        assert!(matches!(err, SelfCheckError::Handshake { .. }), "{err}");
        solver.present("localhost", "tok.thumb").unwrap();
        check("localhost", "tok.thumb", &config).await.unwrap();
        let err = check("localhost", "new.thumb", &config).await.unwrap_err();
        assert!(
            matches!(err, SelfCheckError::WrongCertificate { .. }),
            "{err}"
        );
        let _ = stop.send(());
        let _ = serving.await;
    }
}
