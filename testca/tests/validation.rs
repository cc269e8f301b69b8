#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `Validation::Real`: the CA validates HTTP-01 against a small HTTP server started
//! here and DNS-01 against the emulators' authoritative DNS server, driven by
//! instant-acme as a client.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use certgate_emulators::dns::{DnsServer, RecordValue, StoredRecord, ZoneData};
use certgate_testca::{AcmeMock, Validation};
use instant_acme::{
    Account, AuthorizationStatus, BodyWrapper, ChallengeStatus, ChallengeType, Identifier,
    NewAccount, NewOrder, Order, OrderStatus, RetryPolicy,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

type Https = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    BodyWrapper<Bytes>,
>;

/// An HTTPS client trusting the CA's TLS CA.
fn https(mock: &AcmeMock) -> Https {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(mock.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector)
}

async fn account(mock: &AcmeMock) -> Account {
    let (account, _) = Account::builder_with_http(Box::new(https(mock)))
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            mock.directory_url(),
            None,
        )
        .await
        .unwrap();
    account
}

fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(20))
        .timeout(Duration::from_secs(20))
}

fn problem(err: instant_acme::Error) -> (String, String) {
    match err {
        instant_acme::Error::Api(p) => (p.r#type.unwrap_or_default(), p.detail.unwrap_or_default()),
        other => panic!("not an ACME problem: {other}"),
    }
}

/// A free 127.0.0.1 port nothing listens on (bound, then released).
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

// ---------------------------------------------------------------------------------
// A small HTTP-01 responder

#[derive(Clone, Default)]
struct Http01 {
    /// token → body served.
    bodies: Arc<Mutex<BTreeMap<String, String>>>,
    /// The Host headers of the requests, in order.
    hosts: Arc<Mutex<Vec<String>>>,
    /// When set, requests wait until it is notified.
    gate: Arc<Mutex<Option<Arc<tokio::sync::Notify>>>>,
}

async fn serve_token(
    State(s): State<Http01>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    s.hosts.lock().unwrap().push(host);
    let gate = s.gate.lock().unwrap().clone();
    if let Some(gate) = gate {
        gate.notified().await;
    }
    match s.bodies.lock().unwrap().get(&token) {
        Some(body) => (StatusCode::OK, format!("{body}\n")),
        None => (StatusCode::NOT_FOUND, "no such token".into()),
    }
}

async fn start_http01() -> (Http01, SocketAddr) {
    let state = Http01::default();
    let router = axum::Router::new()
        .route(
            "/.well-known/acme-challenge/{token}",
            axum::routing::get(serve_token),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (state, addr)
}

fn txt(name: &str, value: &str) -> StoredRecord {
    StoredRecord {
        name: format!("{name}."),
        ttl: 60,
        value: RecordValue::Txt(value.to_string()),
    }
}

/// The single authorization of `order`, fetched afresh: its status, and the status
/// and problem of the challenge of `kind`.
async fn authz_state(
    order: &mut Order,
    kind: ChallengeType,
) -> (
    AuthorizationStatus,
    ChallengeStatus,
    Option<instant_acme::Problem>,
) {
    let mut authzs = order.authorizations();
    let mut a = authzs.next().await.unwrap().unwrap();
    let state = a.refresh().await.unwrap();
    let c = state.challenges.iter().find(|c| c.r#type == kind).unwrap();
    (state.status, c.status, c.error.clone())
}

/// Places an order for `name`, responds to its challenge of `kind` after `setup` has
/// provisioned the key authorization, and returns the order.
async fn order_and_respond(
    account: &Account,
    name: &str,
    kind: ChallengeType,
    setup: impl FnOnce(&str, &instant_acme::KeyAuthorization),
) -> Order {
    let ids = [Identifier::Dns(name.to_string())];
    let mut order = account.new_order(&NewOrder::new(&ids)).await.unwrap();
    assert_eq!(order.state().status, OrderStatus::Pending);
    let mut authzs = order.authorizations();
    let mut a = authzs.next().await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizationStatus::Pending);
    let mut ch = a.challenge(kind).unwrap();
    assert_eq!(ch.status, ChallengeStatus::Pending);
    setup(&ch.token.clone(), &ch.key_authorization());
    ch.set_ready().await.unwrap();
    order
}

fn csr(name: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.serialize_request(&key).unwrap().der().to_vec()
}

// ---------------------------------------------------------------------------------
// HTTP-01

#[tokio::test]
async fn http01_with_the_key_authorization_is_valid_and_the_server_answers_meanwhile() {
    let (http, http_addr) = start_http01().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    *http.gate.lock().unwrap() = Some(gate.clone());
    let mock = AcmeMock::start();
    mock.set_validation(Validation::Real {
        http01: http_addr,
        dns: closed_port(),
    });
    let account = account(&mock).await;

    let bodies = http.bodies.clone();
    let mut order = order_and_respond(
        &account,
        "web.example.com",
        ChallengeType::Http01,
        |t, k| {
            bodies
                .lock()
                .unwrap()
                .insert(t.to_string(), k.as_str().to_string());
        },
    )
    .await;

    // The responder holds the request: the challenge is processing and the CA
    // keeps answering.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while http.hosts.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no HTTP-01 request");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (authz, chall, error) = authz_state(&mut order, ChallengeType::Http01).await;
    assert_eq!(authz, AuthorizationStatus::Pending);
    assert_eq!(chall, ChallengeStatus::Processing);
    assert!(error.is_none());
    assert_eq!(order.refresh().await.unwrap().status, OrderStatus::Pending);
    assert_eq!(mock.orders()[0].status, "pending");
    gate.notify_one();

    assert_eq!(
        order.poll_ready(&retry()).await.unwrap(),
        OrderStatus::Ready
    );
    let (authz, chall, error) = authz_state(&mut order, ChallengeType::Http01).await;
    assert_eq!(authz, AuthorizationStatus::Valid);
    assert_eq!(chall, ChallengeStatus::Valid);
    assert!(error.is_none());
    assert_eq!(*http.hosts.lock().unwrap(), ["web.example.com"]);

    order.finalize_csr(&csr("web.example.com")).await.unwrap();
    order.poll_certificate(&retry()).await.unwrap();
    assert_eq!(mock.issued().len(), 1);
}

#[tokio::test]
async fn http01_with_a_wrong_body_is_invalid_with_incorrect_response() {
    let (http, http_addr) = start_http01().await;
    let mock = AcmeMock::start();
    mock.set_validation(Validation::Real {
        http01: http_addr,
        dns: closed_port(),
    });
    let account = account(&mock).await;

    let bodies = http.bodies.clone();
    let mut expected = String::new();
    let mut order = order_and_respond(
        &account,
        "web.example.com",
        ChallengeType::Http01,
        |t, k| {
            expected = k.as_str().to_string();
            bodies
                .lock()
                .unwrap()
                .insert(t.to_string(), "not-the-key-authorization".into());
        },
    )
    .await;

    let (kind, detail) = problem(order.poll_ready(&retry()).await.unwrap_err());
    assert_eq!(kind, "urn:ietf:params:acme:error:incorrectResponse");
    assert_eq!(
        detail,
        format!(
            "The key authorization file from the server did not match this challenge. \
             Expected \"{expected}\" (got \"not-the-key-authorization\")"
        )
    );
    assert_eq!(order.state().status, OrderStatus::Invalid);
    assert_eq!(mock.orders()[0].status, "invalid");
    let (authz, chall, error) = authz_state(&mut order, ChallengeType::Http01).await;
    assert_eq!(authz, AuthorizationStatus::Invalid);
    assert_eq!(chall, ChallengeStatus::Invalid);
    assert_eq!(error.unwrap().detail.unwrap(), detail);
}

#[tokio::test]
async fn http01_to_a_closed_port_is_a_connection_problem() {
    let mock = AcmeMock::start();
    let closed = closed_port();
    mock.set_validation(Validation::Real {
        http01: closed,
        dns: closed_port(),
    });
    let account = account(&mock).await;
    let mut order = order_and_respond(
        &account,
        "web.example.com",
        ChallengeType::Http01,
        |_, _| {},
    )
    .await;
    let (kind, detail) = problem(order.poll_ready(&retry()).await.unwrap_err());
    assert_eq!(kind, "urn:ietf:params:acme:error:connection");
    assert!(
        detail
            .starts_with("127.0.0.1: Fetching http://web.example.com/.well-known/acme-challenge/"),
        "{detail}"
    );
    assert!(detail.ends_with(": Connection refused"), "{detail}");
}

// ---------------------------------------------------------------------------------
// DNS-01

async fn dns01_order(
    zone: &ZoneData,
    dns: &DnsServer,
    mock: &AcmeMock,
    value: impl FnOnce(&instant_acme::KeyAuthorization) -> Vec<String>,
) -> Order {
    mock.set_validation(Validation::Real {
        http01: closed_port(),
        dns: dns.addr(),
    });
    let account = account(mock).await;
    order_and_respond(&account, "*.example.com", ChallengeType::Dns01, |_, k| {
        let records = value(k)
            .iter()
            .map(|v| txt("_acme-challenge.example.com", v))
            .collect();
        zone.set_records("example.com", records);
    })
    .await
}

#[tokio::test]
async fn dns01_with_the_digest_is_valid() {
    let zone = ZoneData::default();
    let dns = DnsServer::start(zone.clone()).await.unwrap();
    let mock = AcmeMock::start();
    let mut order = dns01_order(&zone, &dns, &mock, |k| vec!["other".into(), k.dns_value()]).await;
    assert_eq!(
        order.poll_ready(&retry()).await.unwrap(),
        OrderStatus::Ready
    );
    let (authz, chall, _) = authz_state(&mut order, ChallengeType::Dns01).await;
    assert_eq!(authz, AuthorizationStatus::Valid);
    assert_eq!(chall, ChallengeStatus::Valid);
    order.finalize_csr(&csr("*.example.com")).await.unwrap();
    order.poll_certificate(&retry()).await.unwrap();
}

#[tokio::test]
async fn dns01_answer_too_long_for_udp_is_asked_again_over_tcp() {
    let zone = ZoneData::default();
    let dns = DnsServer::start(zone.clone()).await.unwrap();
    let mock = AcmeMock::start();
    let mut order = dns01_order(&zone, &dns, &mock, |k| {
        // ~40 × 60 bytes: over the 1232-byte EDNS payload, so UDP answers truncated.
        let mut values: Vec<String> = (0..40).map(|i| format!("{i:0>43}")).collect();
        values.push(k.dns_value());
        values
    })
    .await;
    assert_eq!(
        order.poll_ready(&retry()).await.unwrap(),
        OrderStatus::Ready
    );
}

#[tokio::test]
async fn dns01_with_a_wrong_record_is_invalid_with_unauthorized() {
    let zone = ZoneData::default();
    let dns = DnsServer::start(zone.clone()).await.unwrap();
    let mock = AcmeMock::start();
    let mut order = dns01_order(&zone, &dns, &mock, |_| vec!["wrong".into()]).await;
    let (kind, detail) = problem(order.poll_ready(&retry()).await.unwrap_err());
    assert_eq!(kind, "urn:ietf:params:acme:error:unauthorized");
    assert_eq!(
        detail,
        "Incorrect TXT record \"wrong\" found at _acme-challenge.example.com"
    );
    assert_eq!(mock.orders()[0].status, "invalid");
    let (authz, chall, error) = authz_state(&mut order, ChallengeType::Dns01).await;
    assert_eq!(authz, AuthorizationStatus::Invalid);
    assert_eq!(chall, ChallengeStatus::Invalid);
    assert_eq!(error.unwrap().r#type.unwrap(), kind);
}

#[tokio::test]
async fn dns01_without_a_record_and_outside_the_zones() {
    // No TXT record in a zone held: unauthorized.
    let zone = ZoneData::default();
    zone.add_zone("example.com");
    let dns = DnsServer::start(zone.clone()).await.unwrap();
    let mock = AcmeMock::start();
    let mut order = dns01_order(&zone, &dns, &mock, |_| Vec::new()).await;
    let (kind, detail) = problem(order.poll_ready(&retry()).await.unwrap_err());
    assert_eq!(kind, "urn:ietf:params:acme:error:unauthorized");
    assert_eq!(detail, "No TXT record found at _acme-challenge.example.com");

    // A name outside every zone: the server refuses, a dns problem.
    let mock = AcmeMock::start();
    mock.set_validation(Validation::Real {
        http01: closed_port(),
        dns: dns.addr(),
    });
    let account = account(&mock).await;
    let mut order =
        order_and_respond(&account, "*.example.org", ChallengeType::Dns01, |_, _| {}).await;
    let (kind, detail) = problem(order.poll_ready(&retry()).await.unwrap_err());
    assert_eq!(kind, "urn:ietf:params:acme:error:dns");
    assert_eq!(
        detail,
        "DNS problem: REFUSED looking up TXT for _acme-challenge.example.org"
    );
}
