#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The mock ACME server (`tests/common/acme_mock.rs`) driven by instant-acme directly:
//! accounts, orders with a profile and with `replaces`, finalize with an rcgen CSR,
//! the chain, renewal information, nonce and URL checks, pending authorizations.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::acme_mock::AcmeMock;
use http_body_util::BodyExt;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, CertificateIdentifier,
    ChallengeType, Identifier, Key, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use jiff::{SignedDuration, Timestamp};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

type Https = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    BodyWrapper<Bytes>,
>;

/// An HTTPS client trusting the mock's TLS CA, through the `caBundle` path certgate uses.
fn https(mock: &AcmeMock) -> Https {
    let roots = certgate::issuers::acme::client::roots_from_bundle(&mock.ca_bundle_b64()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
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

async fn account(mock: &AcmeMock) -> (Account, AccountCredentials) {
    Account::builder_with_http(Box::new(https(mock)))
        .create(
            &NewAccount {
                contact: &["mailto:admin@example.com"],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            mock.directory_url(),
            None,
        )
        .await
        .unwrap()
}

fn dns(names: &[&str]) -> Vec<Identifier> {
    names
        .iter()
        .map(|n| Identifier::Dns(n.to_string()))
        .collect()
}

fn csr(names: &[&str]) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.serialize_request(&key).unwrap().der().to_vec()
}

fn pem_ders(pem: &str) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .map(|p| p.unwrap().contents)
        .collect()
}

fn problem_type(err: &instant_acme::Error) -> String {
    match err {
        instant_acme::Error::Api(p) => p.r#type.clone().unwrap_or_default(),
        other => panic!("not an ACME problem: {other}"),
    }
}

fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(10))
        .timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn issues_with_a_profile_then_renews_with_replaces_and_answers_renewal_info() {
    let mock = AcmeMock::start();
    let (account, _) = account(&mock).await;
    let mut offered: Vec<&str> = account.profiles().map(|p| p.name).collect();
    offered.sort();
    assert_eq!(offered, ["classic", "shortlived"]);

    // A short-lived order: ready at once (authorizations are valid).
    let names = ["a.example.com", "b.example.com"];
    let ids = dns(&names);
    let mut order = account
        .new_order(&NewOrder::new(&ids).profile("shortlived"))
        .await
        .unwrap();
    assert_eq!(order.state().status, OrderStatus::Ready);
    assert_eq!(order.state().profile.as_deref(), Some("shortlived"));
    let mut authzs = order.authorizations();
    let mut seen = 0;
    while let Some(a) = authzs.next().await {
        assert_eq!(a.unwrap().status, AuthorizationStatus::Valid);
        seen += 1;
    }
    assert_eq!(seen, 2);
    order.finalize_csr(&csr(&names)).await.unwrap();
    let chain = order.poll_certificate(&retry()).await.unwrap();

    // Leaf + intermediate; the leaf is signed by the intermediate, that by the root.
    let ders = pem_ders(&chain);
    assert_eq!(ders.len(), 2);
    assert_eq!(pem_ders(mock.intermediate_pem())[0], ders[1]);
    let (_, leaf) = x509_parser::parse_x509_certificate(&ders[0]).unwrap();
    let (_, inter) = x509_parser::parse_x509_certificate(&ders[1]).unwrap();
    let root_der = pem_ders(mock.issuing_root_pem()).remove(0);
    let (_, root) = x509_parser::parse_x509_certificate(&root_der).unwrap();
    leaf.verify_signature(Some(inter.public_key())).unwrap();
    inter.verify_signature(Some(root.public_key())).unwrap();
    let mut sans: Vec<String> = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|g| match g {
            x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect();
    sans.sort();
    assert_eq!(sans, names);
    let lifetime = leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp();
    assert_eq!(lifetime, 6 * 24 * 3600);

    // What the mock recorded matches the certificate and instant-acme's certificate ID.
    let cert_id = CertificateIdentifier::try_from(&CertificateDer::from(ders[0].clone()))
        .unwrap()
        .into_owned();
    let issued = mock.issued();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].cert_id, cert_id.to_string());
    assert_eq!(issued[0].profile.as_deref(), Some("shortlived"));
    assert_eq!(
        issued[0].not_before.as_second(),
        leaf.validity().not_before.timestamp()
    );
    assert_eq!(
        issued[0].not_after.as_second(),
        leaf.validity().not_after.timestamp()
    );
    assert_eq!(issued[0].chain_pem, chain);

    // Renewal information: the default window (2/3 to 3/4 of the lifetime), Retry-After.
    let (info, retry_after) = account.renewal_info(&cert_id).await.unwrap();
    let nb = issued[0].not_before.as_second();
    assert_eq!(
        info.suggested_window.start.unix_timestamp(),
        nb + 4 * 24 * 3600
    );
    assert_eq!(
        info.suggested_window.end.unix_timestamp(),
        nb + 4 * 24 * 3600 + 12 * 3600
    );
    assert!(retry_after > Duration::from_secs(3500) && retry_after <= Duration::from_secs(3600));
    assert!(info.explanation_url.is_none());

    // The CA asks for early renewal: for every certificate, then for this one.
    let now = Timestamp::now();
    let (start, end) = (
        now - SignedDuration::from_hours(1),
        now + SignedDuration::from_mins(10),
    );
    mock.set_window(start, end);
    mock.set_explanation_url(Some("https://ca.example/incident"));
    mock.set_retry_after(60);
    let (info, retry_after) = account.renewal_info(&cert_id).await.unwrap();
    assert_eq!(
        info.suggested_window.start.unix_timestamp(),
        start.as_second()
    );
    assert_eq!(info.suggested_window.end.unix_timestamp(), end.as_second());
    assert_eq!(
        info.explanation_url.as_deref(),
        Some("https://ca.example/incident")
    );
    assert!(retry_after <= Duration::from_secs(60));
    let own = (now - SignedDuration::from_hours(3), now);
    mock.set_window_for(&cert_id.to_string(), own.0, own.1);
    let (info, _) = account.renewal_info(&cert_id).await.unwrap();
    assert_eq!(
        info.suggested_window.start.unix_timestamp(),
        own.0.as_second()
    );
    mock.clear_windows();
    let (info, _) = account.renewal_info(&cert_id).await.unwrap();
    assert_eq!(
        info.suggested_window.start.unix_timestamp(),
        nb + 4 * 24 * 3600
    );

    // The renewal replaces it, on the default (classic) profile, with instant-acme's CSR.
    let mut renewal = account
        .new_order(&NewOrder::new(&ids).replaces(cert_id.clone()))
        .await
        .unwrap();
    assert_eq!(renewal.state().replaces.as_ref(), Some(&cert_id));
    assert_eq!(renewal.state().profile, None);
    renewal.finalize().await.unwrap();
    let chain2 = renewal.poll_certificate(&retry()).await.unwrap();
    let ders2 = pem_ders(&chain2);
    let (_, leaf2) = x509_parser::parse_x509_certificate(&ders2[0]).unwrap();
    assert_eq!(
        leaf2.validity().not_after.timestamp() - leaf2.validity().not_before.timestamp(),
        90 * 24 * 3600
    );

    let orders = mock.orders();
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[0].identifiers, names);
    assert_eq!(orders[0].profile.as_deref(), Some("shortlived"));
    assert_eq!(orders[0].replaces, None);
    assert_eq!(orders[0].status, "valid");
    assert_eq!(orders[1].profile, None);
    assert_eq!(orders[1].replaces, Some(cert_id.to_string()));
    let issued = mock.issued();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[1].profile, None);
    assert_eq!(issued[1].replaces, Some(cert_id.to_string()));
    assert_eq!(
        issued[1].not_after.duration_since(issued[1].not_before),
        SignedDuration::from_hours(90 * 24)
    );

    // Replacing it again is refused: it already has a finalized replacement.
    let err = account
        .new_order(&NewOrder::new(&ids).replaces(cert_id.clone()))
        .await
        .err()
        .unwrap();
    assert_eq!(
        problem_type(&err),
        "urn:ietf:params:acme:error:alreadyReplaced"
    );

    assert_eq!(mock.request_count("newOrder"), 3);
    assert_eq!(mock.request_count("finalize"), 2);
    assert_eq!(mock.request_count("renewalInfo"), 4);
    assert_eq!(mock.request_count("newAccount"), 1);
    assert_eq!(mock.request_count("badNonce"), 0);
}

#[tokio::test]
async fn refuses_unknown_profiles_unknown_replaces_and_csrs_for_other_names() {
    let mock = AcmeMock::start();
    let (account, _) = account(&mock).await;
    let ids = dns(&["c.example.com"]);

    let err = account
        .new_order(&NewOrder::new(&ids).profile("tlsserver"))
        .await
        .err()
        .unwrap();
    assert_eq!(
        problem_type(&err),
        "urn:ietf:params:acme:error:invalidProfile"
    );

    let bogus = CertificateIdentifier::new(
        rustls::pki_types::Der::from_slice(b"not-an-aki"),
        rustls::pki_types::Der::from_slice(&[1, 2, 3]),
    );
    let err = account
        .new_order(&NewOrder::new(&ids).replaces(bogus))
        .await
        .err()
        .unwrap();
    assert_eq!(problem_type(&err), "urn:ietf:params:acme:error:malformed");
    assert!(mock.orders().is_empty());

    let mut order = account.new_order(&NewOrder::new(&ids)).await.unwrap();
    let err = order
        .finalize_csr(&csr(&["c.example.com", "other.example.com"]))
        .await
        .unwrap_err();
    assert_eq!(problem_type(&err), "urn:ietf:params:acme:error:badCSR");
    assert!(mock.issued().is_empty());
    assert_eq!(mock.orders()[0].status, "ready");
}

#[tokio::test]
async fn pending_authorizations_turn_valid_when_their_challenge_is_posted() {
    let mock = AcmeMock::start();
    mock.set_pending_authorizations(true);
    mock.set_async_finalize(true);
    let (account, _) = account(&mock).await;
    let ids = dns(&["web.example.com", "*.example.com"]);
    let mut order = account.new_order(&NewOrder::new(&ids)).await.unwrap();
    assert_eq!(order.state().status, OrderStatus::Pending);

    let mut authzs = order.authorizations();
    while let Some(a) = authzs.next().await {
        let mut a = a.unwrap();
        assert_eq!(a.status, AuthorizationStatus::Pending);
        let mut kinds: Vec<ChallengeType> = a.challenges.iter().map(|c| c.r#type.clone()).collect();
        let kind = if a.wildcard {
            assert_eq!(kinds, [ChallengeType::Dns01]);
            ChallengeType::Dns01
        } else {
            kinds.sort_by_key(|k| format!("{k:?}"));
            assert_eq!(kinds, [ChallengeType::Dns01, ChallengeType::Http01]);
            ChallengeType::Http01
        };
        let mut ch = a.challenge(kind).unwrap();
        assert!(!ch.token.is_empty());
        ch.set_ready().await.unwrap();
    }
    assert_eq!(
        order.poll_ready(&retry()).await.unwrap(),
        OrderStatus::Ready
    );
    order.finalize().await.unwrap();
    assert_eq!(order.state().status, OrderStatus::Processing);
    let chain = order.poll_certificate(&retry()).await.unwrap();
    assert_eq!(pem_ders(&chain).len(), 2);
    assert_eq!(
        mock.issued()[0].identifiers,
        ["web.example.com", "*.example.com"]
    );
    assert_eq!(mock.request_count("challenge"), 2);
}

#[tokio::test]
async fn nonces_and_urls_are_checked_and_bad_nonces_retried() {
    let mock = AcmeMock::start();
    let client = https(&mock);

    // newNonce: HEAD 200 and GET 204, each with a Replay-Nonce.
    let nonce_url = format!("{}/acme/new-nonce", mock.base_url());
    let mut nonces = Vec::new();
    for (method, status) in [("HEAD", 200), ("GET", 204)] {
        let rsp = client
            .request(
                http::Request::builder()
                    .method(method)
                    .uri(&nonce_url)
                    .body(BodyWrapper::default())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(rsp.status(), status);
        nonces.push(rsp.headers()["replay-nonce"].to_str().unwrap().to_string());
    }
    assert_ne!(nonces[0], nonces[1]);

    // A JWS POST with (nonce, url) → (status, problem type).
    let post = |nonce: String, url: String, to: String| {
        let client = client.clone();
        async move {
            use base64::Engine;
            let b64 = |v: serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"});
            let body = serde_json::json!({
                "protected": b64(serde_json::json!({"alg": "ES256", "jwk": jwk, "nonce": nonce, "url": url})),
                "payload": b64(serde_json::json!({"termsOfServiceAgreed": true})),
                "signature": "AA",
            });
            let rsp = client
                .request(
                    http::Request::builder()
                        .method("POST")
                        .uri(to)
                        .header("content-type", "application/jose+json")
                        .body(BodyWrapper::from(body.to_string().into_bytes()))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = rsp.status().as_u16();
            let ct = rsp.headers()["content-type"].to_str().unwrap().to_string();
            assert!(rsp.headers().contains_key("replay-nonce"));
            let body = rsp.into_body().collect().await.unwrap().to_bytes();
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(ct, "application/problem+json");
            (status, problem["type"].as_str().unwrap().to_string())
        }
    };
    let new_account = format!("{}/acme/new-account", mock.base_url());
    assert_eq!(
        post(
            "never-issued".into(),
            new_account.clone(),
            new_account.clone()
        )
        .await,
        (400, "urn:ietf:params:acme:error:badNonce".to_string())
    );
    assert_eq!(
        post(
            nonces[0].clone(),
            format!("{}/acme/new-order", mock.base_url()),
            new_account.clone()
        )
        .await,
        (401, "urn:ietf:params:acme:error:unauthorized".to_string())
    );
    // That nonce is spent now.
    assert_eq!(
        post(nonces[0].clone(), new_account.clone(), new_account.clone()).await,
        (400, "urn:ietf:params:acme:error:badNonce".to_string())
    );
    // A good nonce and URL get as far as the (bogus) signature.
    assert_eq!(
        post(nonces[1].clone(), new_account.clone(), new_account.clone()).await,
        (400, "urn:ietf:params:acme:error:malformed".to_string())
    );
    assert_eq!(mock.request_count("badSignature"), 1);

    // instant-acme retries a badNonce with the nonce of the error response.
    mock.reject_next_nonces(2);
    let (acct, creds) = account(&mock).await;
    assert_eq!(mock.request_count("badNonce"), 4);

    // The same key finds the same account (onlyReturnExisting → 200).
    let pkcs8 = creds.private_key().clone_key();
    let key = Key::from_pkcs8_der(pkcs8.clone_key()).unwrap();
    let (again, _) = Account::builder_with_http(Box::new(https(&mock)))
        .from_key((key, PrivateKeyDer::Pkcs8(pkcs8)), mock.directory_url())
        .await
        .unwrap();
    assert_eq!(again.id(), acct.id());
    // An unknown key does not.
    let (key, pkcs8) = Key::generate_pkcs8().unwrap();
    let err = Account::builder_with_http(Box::new(https(&mock)))
        .from_key((key, PrivateKeyDer::Pkcs8(pkcs8)), mock.directory_url())
        .await
        .err()
        .unwrap();
    assert_eq!(
        problem_type(&err),
        "urn:ietf:params:acme:error:accountDoesNotExist"
    );
}

#[tokio::test]
async fn revoked_certificates_get_a_past_window_and_keys_roll_over() {
    let mock = AcmeMock::start();
    let (mut account, _) = account(&mock).await;
    let ids = dns(&["d.example.com"]);
    let mut order = account.new_order(&NewOrder::new(&ids)).await.unwrap();
    order.finalize().await.unwrap();
    let chain = order.poll_certificate(&retry()).await.unwrap();
    let der = CertificateDer::from(pem_ders(&chain).remove(0));
    let cert_id = CertificateIdentifier::try_from(&der).unwrap().into_owned();

    let _creds = account.update_key().await.unwrap();
    account
        .revoke(&instant_acme::RevocationRequest {
            certificate: &der,
            reason: Some(instant_acme::RevocationReason::Superseded),
        })
        .await
        .unwrap();
    assert!(mock.issued()[0].revoked);
    let (info, _) = account.renewal_info(&cert_id).await.unwrap();
    assert!(info.suggested_window.end.unix_timestamp() < Timestamp::now().as_second());
    assert_eq!(mock.request_count("keyChange"), 1);
    assert_eq!(mock.request_count("revokeCert"), 1);
}
