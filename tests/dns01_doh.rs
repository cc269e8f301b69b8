//! DNS-01 lookups and propagation checks over DNS over HTTPS (RFC 8484), as
//! cert-manager's `--dns01-recursive-nameservers=https://…/dns-query` makes them:
//! against a local DoH endpoint (TLS from a test CA, HTTP/2 or HTTP/1.1) that
//! forwards each `application/dns-message` POST to a real BIND 9 over UDP. No
//! external network.
//!
//! Needs BIND (`named`, `tsig-keygen`, `dig`) as tests/dns01_bind.rs does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use certgate::dns01::propagation::{Checker, Propagation};
use certgate::dns01::resolver::Resolver;
use certgate::dns01::{Dns01Config, Nameserver};
use common::bind::{Bind, ZoneSpec};
use http_body_util::{BodyExt as _, Full};

/// How the endpoint answers.
const NORMAL: u8 = 0;
const HTTP_500: u8 = 1;
const WRONG_CONTENT_TYPE: u8 = 2;

/// A DNS-over-HTTPS endpoint forwarding to one DNS server.
struct DohServer {
    url: String,
    ca_pem: String,
    mode: Arc<AtomicU8>,
    /// Queries answered, by HTTP version: [HTTP/1.1, HTTP/2].
    served: Arc<[AtomicUsize; 2]>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DohServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DohServer {
    async fn start(upstream: SocketAddr) -> DohServer {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "DoH test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(NORMAL));
        let served = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let (m, s) = (mode.clone(), served.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, m, s) = (acceptor.clone(), m.clone(), s.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        answer(req, upstream, m.clone(), s.clone())
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        DohServer {
            url: format!("https://127.0.0.1:{port}/dns-query"),
            ca_pem: ca.pem(),
            mode,
            served,
            task,
        }
    }

    fn served(&self) -> (usize, usize) {
        (
            self.served[0].load(Ordering::SeqCst),
            self.served[1].load(Ordering::SeqCst),
        )
    }

    fn nameserver(&self) -> Nameserver {
        self.url.parse().unwrap()
    }
}

/// Answers one RFC 8484 POST by asking `upstream` over UDP.
async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    upstream: SocketAddr,
    mode: Arc<AtomicU8>,
    served: Arc<[AtomicUsize; 2]>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let reply = |status: u16, content_type: &str, body: Vec<u8>| {
        Ok(hyper::Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    };
    let version = req.version();
    let well_formed = req.method() == hyper::Method::POST
        && req.uri().path() == "/dns-query"
        && req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            == Some("application/dns-message")
        && req.headers().get("accept").and_then(|v| v.to_str().ok())
            == Some("application/dns-message");
    if !well_formed {
        return reply(415, "text/plain", b"not an RFC 8484 POST".to_vec());
    }
    let query = req.into_body().collect().await.unwrap().to_bytes();
    match mode.load(Ordering::SeqCst) {
        HTTP_500 => return reply(500, "text/plain", b"boom".to_vec()),
        WRONG_CONTENT_TYPE => return reply(200, "text/html", b"<html/>".to_vec()),
        _ => {}
    }
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&query, upstream).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    buf.truncate(n);
    let slot = usize::from(version == hyper::Version::HTTP_2);
    served[slot].fetch_add(1, Ordering::SeqCst);
    reply(200, "application/dns-message", buf)
}

const RECORD: &str = "_acme-challenge.app.example.com.";

fn bind() -> Bind {
    Bind::start(&[ZoneSpec::new("example.com")
        .with_record("_acme-challenge.app IN TXT \"the-key-authorization-digest\"")])
}

fn config(doh: &DohServer, bind: &Bind) -> Dns01Config {
    Dns01Config {
        recursive_nameservers: vec![doh.nameserver()],
        authoritative_port: bind.port(),
        doh_ca_bundle: Some(doh.ca_pem.clone()),
        poll_period: Duration::from_millis(200),
        timeout: Duration::from_secs(10),
        query_timeout: Duration::from_secs(3),
        ..Dns01Config::default()
    }
}

/// `--dns01-recursive-nameservers=https://… --dns01-recursive-nameservers-only`:
/// every query of the check goes over HTTPS, and the TXT value is seen there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_only_checks_go_over_https() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = bind();
    let doh = DohServer::start(bind.addr()).await;
    let checker = Checker::new(Dns01Config {
        recursive_nameservers_only: true,
        ..config(&doh, &bind)
    })
    .unwrap();
    assert_eq!(
        checker
            .check(RECORD, "the-key-authorization-digest")
            .await
            .unwrap(),
        Propagation::Visible
    );
    let (http1, http2) = doh.served();
    assert!(
        http2 > 0,
        "HTTP/2 is negotiated (ALPN h2): {http1} + {http2}"
    );
    assert_eq!(
        checker.queries_sent() as usize,
        http1 + http2,
        "every query went to the DoH endpoint"
    );

    let fresh = Checker::new(Dns01Config {
        recursive_nameservers_only: true,
        ..config(&doh, &bind)
    })
    .unwrap();
    let pending = fresh.check(RECORD, "another-value").await.unwrap();
    assert!(!pending.is_visible());
    assert!(
        pending
            .message()
            .contains(&format!("{} has 1 value(s), none matches", doh.url)),
        "{}",
        pending.message()
    );
}

/// With DoH recursive nameservers (not only): the zone, CNAMEs and nameservers are
/// found over HTTPS, the TXT record asked at the authoritative server itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_and_nameservers_are_found_over_https() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = bind();
    let doh = DohServer::start(bind.addr()).await;
    let resolver = Resolver::new(&config(&doh, &bind)).unwrap();
    assert_eq!(
        resolver.find_zone(RECORD).await.unwrap(),
        "example.com.",
        "the SOA walk over HTTPS"
    );
    assert_eq!(
        resolver
            .authoritative_nameservers("example.com.")
            .await
            .unwrap(),
        vec![bind.addr()]
    );
    let (http1, http2) = doh.served();
    assert!(http1 + http2 >= 2, "{http1} + {http2}");

    let checker = Checker::new(config(&doh, &bind)).unwrap();
    checker
        .wait(RECORD, "the-key-authorization-digest")
        .await
        .unwrap();
}

/// cert-manager's checks of an answer (status 200, `application/dns-message`), the
/// next nameserver asked when one fails, and the server's certificate verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_named_and_the_next_nameserver_asked() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = bind();
    let doh = DohServer::start(bind.addr()).await;
    let resolver = Resolver::new(&config(&doh, &bind)).unwrap();

    doh.mode.store(HTTP_500, Ordering::SeqCst);
    let e = resolver.find_zone(RECORD).await.unwrap_err().to_string();
    assert!(
        e.contains("dns: server returned HTTP 500 error: \"500 Internal Server Error\""),
        "{e}"
    );
    assert!(e.contains(&doh.url), "the error names the endpoint: {e}");

    doh.mode.store(WRONG_CONTENT_TYPE, Ordering::SeqCst);
    let e = resolver.find_zone(RECORD).await.unwrap_err().to_string();
    assert!(
        e.contains(
            "dns: unexpected Content-Type \"text/html\"; expected \"application/dns-message\""
        ),
        "{e}"
    );

    // A failing DoH endpoint first, then plain DNS: the lookup goes on to the next.
    let fallback = Resolver::new(&Dns01Config {
        recursive_nameservers: vec![doh.nameserver(), bind.addr().into()],
        ..config(&doh, &bind)
    })
    .unwrap();
    assert_eq!(fallback.find_zone(RECORD).await.unwrap(), "example.com.");

    // The test CA is not among the platform's roots: the handshake fails.
    doh.mode.store(NORMAL, Ordering::SeqCst);
    let untrusted = Resolver::new(&Dns01Config {
        doh_ca_bundle: None,
        ..config(&doh, &bind)
    })
    .unwrap();
    let e = untrusted.find_zone(RECORD).await.unwrap_err().to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    let (http1, http2) = doh.served();
    assert_eq!(http1 + http2, 0, "no query was answered");
}
