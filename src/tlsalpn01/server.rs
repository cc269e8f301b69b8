//! The TLS-ALPN-01 solver: one TLS listener answering every presented challenge.
//! A handshake succeeds only when the client offers `acme-tls/1` and sends as SNI
//! a name whose challenge is presented; the server then answers with that
//! challenge's certificate and closes the connection without exchanging
//! application data (RFC 8737 §3).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use super::cert::{challenge_certificate, challenge_name};
use super::{ACME_TLS_ALPN_PROTOCOL, TlsAlpnError};

/// How long one connection may take, from accept to the closing of the TLS
/// session, before the solver drops it.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the accept loop waits after a failed accept (e.g. out of file
/// descriptors) before accepting again, so that it does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Challenge certificates by lowercase DNS name.
type CertificatesByName = Arc<RwLock<HashMap<String, Arc<CertifiedKey>>>>;

/// The presented TLS-ALPN-01 challenges and the TLS server answering them.
/// Clones share the same set of challenges.
#[derive(Clone, Default)]
pub struct TlsAlpnSolver {
    certificates_by_name: CertificatesByName,
}

impl fmt::Debug for TlsAlpnSolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAlpnSolver")
            .field("presented", &presented_count(&self.certificates_by_name))
            .finish()
    }
}

impl TlsAlpnSolver {
    /// Starts answering the challenge for `dns_name` with `key_authorization`,
    /// replacing the certificate of an earlier challenge for the same name.
    /// Presenting the same challenge again is harmless.
    pub fn present(&self, dns_name: &str, key_authorization: &str) -> Result<(), TlsAlpnError> {
        let name = challenge_name(dns_name)?;
        let certified = Arc::new(challenge_certificate(&name, key_authorization)?);
        self.certificates_by_name
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, certified);
        Ok(())
    }

    /// Stops answering for `dns_name`. Nothing happens when it is not presented.
    pub fn clean_up(&self, dns_name: &str) {
        self.certificates_by_name
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&dns_name.to_ascii_lowercase());
    }

    /// Makes the presented challenges those of `wanted` (name → key authorization),
    /// given `presented`, what an earlier call presented (updated here): only new or
    /// changed challenges get a new certificate. Returns the names that could not be
    /// presented (wildcards, invalid names).
    pub fn sync_to(
        &self,
        wanted: &HashMap<String, String>,
        presented: &mut HashMap<String, String>,
    ) -> Vec<String> {
        let gone: Vec<String> = presented
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            self.clean_up(&name);
            presented.remove(&name);
        }
        let mut refused = Vec::new();
        for (name, key_authorization) in wanted {
            if presented.get(name) == Some(key_authorization) {
                continue;
            }
            match self.present(name, key_authorization) {
                Ok(()) => {
                    presented.insert(name.clone(), key_authorization.clone());
                }
                Err(_) => refused.push(name.clone()),
            }
        }
        refused
    }

    /// Whether a challenge for `dns_name` is being answered.
    pub fn is_presented(&self, dns_name: &str) -> bool {
        self.certificates_by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&dns_name.to_ascii_lowercase())
    }

    /// The TLS configuration the solver serves with: aws-lc-rs, TLS 1.3 and 1.2,
    /// `acme-tls/1` as the only ALPN protocol, no session resumption (every
    /// validation must see the certificate), and the certificate chosen by SNI.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsAlpnError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsAlpnError::TlsConfig)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(ChallengeCertResolver {
                certificates_by_name: self.certificates_by_name.clone(),
            }));
        config.alpn_protocols = vec![ACME_TLS_ALPN_PROTOCOL.to_vec()];
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Arc::new(config))
    }

    /// Answers TLS-ALPN-01 handshakes on `listener` until `shutdown` completes.
    /// Each connection runs in its own task, is given [`HANDSHAKE_TIMEOUT`], and
    /// is closed right after the handshake; connections still open at shutdown
    /// are dropped. Fails only when the TLS configuration cannot be built.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), TlsAlpnError> {
        let acceptor = TlsAcceptor::from(self.server_config()?);
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                // Reap finished connections so the set does not grow.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        connections.spawn(answer_connection(acceptor.clone(), stream, peer));
                    }
                    Err(error) => {
                        debug!(%error, "TLS-ALPN-01 solver: accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        }
        connections.shutdown().await;
        Ok(())
    }
}

fn presented_count(certificates_by_name: &CertificatesByName) -> usize {
    certificates_by_name
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
}

/// Runs the TLS handshake on one connection and closes it (close_notify, then
/// the TCP write side) without reading or writing application data.
async fn answer_connection(acceptor: TlsAcceptor, stream: TcpStream, peer: SocketAddr) {
    let exchange = async {
        let mut tls = acceptor.accept(stream).await?;
        let server_name = tls.get_ref().1.server_name().map(str::to_owned);
        debug!(%peer, ?server_name, "TLS-ALPN-01 solver: answered a validation handshake");
        tls.shutdown().await
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => debug!(%peer, %error, "TLS-ALPN-01 solver: connection failed"),
        Err(_) => debug!(%peer, "TLS-ALPN-01 solver: connection timed out"),
    }
}

/// Chooses the challenge certificate for a ClientHello: the one presented for
/// its SNI, and only when `acme-tls/1` is offered. Anything else gets no
/// certificate, which fails the handshake.
struct ChallengeCertResolver {
    certificates_by_name: CertificatesByName,
}

impl fmt::Debug for ChallengeCertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChallengeCertResolver")
            .field("presented", &presented_count(&self.certificates_by_name))
            .finish()
    }
}

impl ResolvesServerCert for ChallengeCertResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offers_acme_tls = client_hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN_PROTOCOL));
        let Some(server_name) = client_hello.server_name() else {
            debug!("TLS-ALPN-01 solver: refused a ClientHello without SNI");
            return None;
        };
        if !offers_acme_tls {
            debug!(
                server_name,
                "TLS-ALPN-01 solver: refused a ClientHello not offering acme-tls/1"
            );
            return None;
        }
        let certified = self
            .certificates_by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&server_name.to_ascii_lowercase())
            .cloned();
        if certified.is_none() {
            debug!(
                server_name,
                "TLS-ALPN-01 solver: no challenge presented for this name"
            );
        }
        certified
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlsalpn01::cert::key_authorization_digest;
    use crate::tlsalpn01::cert::tests::{acme_identifier_extension, der_octet_string};
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};
    use std::sync::Mutex;
    use tokio::io::AsyncReadExt;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    const KEY_AUTHORIZATION: &str =
        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nysa3KHYm6LdLbV5vbrhENsb9Y7LLr9jGwG6c0DEqWg";

    /// Accepts any certificate but keeps the end-entity one; still checks the
    /// handshake signatures, so the server must hold the certificate's key.
    #[derive(Debug)]
    struct CapturingVerifier {
        end_entity: Mutex<Option<Vec<u8>>>,
    }

    impl ServerCertVerifier for CapturingVerifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            *self.end_entity.lock().unwrap() = Some(end_entity.to_vec());
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_p256_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_p256_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ECDSA_NISTP256_SHA256]
        }
    }

    /// Checks a handshake signature against the certificate's P-256 key. rustls'
    /// own helpers parse the certificate with webpki, which refuses the critical
    /// id-pe-acmeIdentifier extension, so the key is taken out with x509-parser.
    fn verify_p256_signature(
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme != SignatureScheme::ECDSA_NISTP256_SHA256 {
            return Err(rustls::Error::General(format!(
                "unexpected signature scheme {:?}",
                dss.scheme
            )));
        }
        let (_, parsed) = x509_parser::parse_x509_certificate(cert)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let public_key = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            parsed.public_key().subject_public_key.data.as_ref(),
        );
        public_key.verify(message, dss.signature()).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
        })?;
        Ok(HandshakeSignatureValid::assertion())
    }

    /// What a client saw of a completed handshake.
    struct Handshake {
        alpn_protocol: Option<Vec<u8>>,
        end_entity: Vec<u8>,
        version: Option<rustls::ProtocolVersion>,
        stream: tokio_rustls::client::TlsStream<TcpStream>,
    }

    struct RunningSolver {
        solver: TlsAlpnSolver,
        address: SocketAddr,
        stop: oneshot::Sender<()>,
        task: JoinHandle<Result<(), TlsAlpnError>>,
    }

    async fn start_solver() -> RunningSolver {
        let solver = TlsAlpnSolver::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(solver.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        RunningSolver {
            solver,
            address,
            stop,
            task,
        }
    }

    async fn handshake_with(
        address: SocketAddr,
        server_name: &str,
        alpn_protocols: &[&[u8]],
        versions: &[&'static SupportedProtocolVersion],
    ) -> Result<Handshake, std::io::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(CapturingVerifier {
            end_entity: Mutex::new(None),
        });
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn_protocols.iter().map(|p| p.to_vec()).collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from(server_name.to_string()).unwrap();
        let tcp = TcpStream::connect(address).await?;
        let stream = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
            .await
            .expect("the handshake ends within 5 s")?;
        let connection = stream.get_ref().1;
        Ok(Handshake {
            alpn_protocol: connection.alpn_protocol().map(<[u8]>::to_vec),
            version: connection.protocol_version(),
            end_entity: verifier
                .end_entity
                .lock()
                .unwrap()
                .clone()
                .expect("the verifier saw a certificate"),
            stream,
        })
    }

    async fn handshake(
        address: SocketAddr,
        server_name: &str,
    ) -> Result<Handshake, std::io::Error> {
        handshake_with(
            address,
            server_name,
            &[ACME_TLS_ALPN_PROTOCOL],
            rustls::DEFAULT_VERSIONS,
        )
        .await
    }

    fn assert_answers_key_authorization(handshake: &Handshake, key_authorization: &str) {
        assert_eq!(
            handshake.alpn_protocol.as_deref(),
            Some(ACME_TLS_ALPN_PROTOCOL)
        );
        let (value, critical) = acme_identifier_extension(&handshake.end_entity)
            .expect("the served certificate has id-pe-acmeIdentifier");
        assert!(critical);
        assert_eq!(
            value,
            der_octet_string(&key_authorization_digest(key_authorization))
        );
    }

    /// Asserts the server refused the handshake: the client got a TLS alert.
    fn assert_refused(result: Result<Handshake, std::io::Error>, why: &str) {
        let error = match result {
            Ok(_) => panic!("{why}: the handshake succeeded"),
            Err(error) => error,
        };
        let tls_error = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        assert!(
            matches!(tls_error, Some(rustls::Error::AlertReceived(_))),
            "{why}: expected a TLS alert from the server, got {error:?}"
        );
    }

    #[tokio::test]
    async fn presented_name_is_answered_with_its_challenge_certificate() {
        let running = start_solver().await;
        running
            .solver
            .present("example.com", KEY_AUTHORIZATION)
            .unwrap();
        let answered = handshake(running.address, "example.com").await.unwrap();
        assert_eq!(answered.version, Some(rustls::ProtocolVersion::TLSv1_3));
        assert_answers_key_authorization(&answered, KEY_AUTHORIZATION);
        assert_ne!(
            acme_identifier_extension(&answered.end_entity).unwrap().0,
            der_octet_string(&key_authorization_digest("other.authorization"))
        );
    }

    #[tokio::test]
    async fn tls12_handshake_is_answered() {
        let running = start_solver().await;
        running
            .solver
            .present("example.com", KEY_AUTHORIZATION)
            .unwrap();
        let answered = handshake_with(
            running.address,
            "example.com",
            &[ACME_TLS_ALPN_PROTOCOL],
            &[&rustls::version::TLS12],
        )
        .await
        .unwrap();
        assert_eq!(answered.version, Some(rustls::ProtocolVersion::TLSv1_2));
        assert_answers_key_authorization(&answered, KEY_AUTHORIZATION);
    }

    #[tokio::test]
    async fn connection_is_closed_after_the_handshake_without_data() {
        let running = start_solver().await;
        running
            .solver
            .present("example.com", KEY_AUTHORIZATION)
            .unwrap();
        let mut answered = handshake(running.address, "example.com").await.unwrap();
        let mut received = Vec::new();
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            answered.stream.read_to_end(&mut received),
        )
        .await
        .expect("the server closes the connection");
        assert_eq!(read.unwrap(), 0);
        assert!(received.is_empty());
    }

    #[tokio::test]
    async fn handshake_without_acme_alpn_fails() {
        let running = start_solver().await;
        running
            .solver
            .present("example.com", KEY_AUTHORIZATION)
            .unwrap();
        let without_alpn = handshake_with(
            running.address,
            "example.com",
            &[],
            rustls::DEFAULT_VERSIONS,
        )
        .await;
        assert_refused(without_alpn, "no ALPN offered");
        let other_alpn = handshake_with(
            running.address,
            "example.com",
            &[b"h2", b"http/1.1"],
            rustls::DEFAULT_VERSIONS,
        )
        .await;
        assert_refused(other_alpn, "only non-ACME ALPN offered");
        // The same server still answers a proper validation.
        assert!(handshake(running.address, "example.com").await.is_ok());
    }

    #[tokio::test]
    async fn handshake_for_a_name_not_presented_fails() {
        let running = start_solver().await;
        running
            .solver
            .present("example.com", KEY_AUTHORIZATION)
            .unwrap();
        assert_refused(
            handshake(running.address, "other.example.com").await,
            "a name not presented",
        );
    }

    #[tokio::test]
    async fn cleaned_up_name_is_no_longer_answered() {
        let running = start_solver().await;
        running
            .solver
            .present("example.com", KEY_AUTHORIZATION)
            .unwrap();
        assert!(handshake(running.address, "example.com").await.is_ok());
        running.solver.clean_up("example.com");
        assert_refused(
            handshake(running.address, "example.com").await,
            "a cleaned-up name",
        );
    }

    #[tokio::test]
    async fn present_replaces_the_older_key_authorization() {
        let running = start_solver().await;
        running.solver.present("example.com", "first.key").unwrap();
        running.solver.present("example.com", "second.key").unwrap();
        let answered = handshake(running.address, "example.com").await.unwrap();
        assert_answers_key_authorization(&answered, "second.key");
    }

    #[tokio::test]
    async fn names_match_case_insensitively() {
        let running = start_solver().await;
        running
            .solver
            .present("Example.COM", KEY_AUTHORIZATION)
            .unwrap();
        let answered = handshake(running.address, "example.com").await.unwrap();
        assert_answers_key_authorization(&answered, KEY_AUTHORIZATION);
        let answered = handshake(running.address, "EXAMPLE.com").await.unwrap();
        assert_answers_key_authorization(&answered, KEY_AUTHORIZATION);
    }

    #[tokio::test]
    async fn serve_returns_on_shutdown() {
        let running = start_solver().await;
        running.stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), running.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
        assert!(result.is_ok());
    }

    #[test]
    fn present_clean_up_and_is_presented() {
        let solver = TlsAlpnSolver::default();
        assert!(!solver.is_presented("example.com"));
        solver.present("Example.com", "k.a").unwrap();
        solver.present("example.com", "k.a").unwrap();
        assert!(solver.is_presented("example.com"));
        assert!(solver.is_presented("EXAMPLE.COM"));
        assert_eq!(presented_count(&solver.certificates_by_name), 1);
        solver.clean_up("EXAMPLE.com");
        assert!(!solver.is_presented("example.com"));
        solver.clean_up("example.com");
    }

    #[test]
    fn present_refuses_wildcards() {
        let solver = TlsAlpnSolver::default();
        assert!(matches!(
            solver.present("*.example.com", "k.a"),
            Err(TlsAlpnError::WildcardName(_))
        ));
        assert!(!solver.is_presented("*.example.com"));
    }
}
