//! certgate's own ACME client (`issuers::acme::protocol`) against a real Pebble:
//! accounts with RSA and ECDSA keys, external account binding, an HTTP-01 order
//! through to the certificate and its alternate chains, `preferredChain`, ARI and
//! profiles, and Pebble refusing nonces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certgate::issuers::acme::protocol::chains::{self, Chosen};
use certgate::issuers::acme::protocol::http::Transport;
use certgate::issuers::acme::protocol::{
    Account, AccountKey, AccountKeyAlgorithm, AuthorizationStatus, Client, ClientOptions, EabKey,
    Error, HttpOptions, Identifier, NewAccount, NewOrder, Order, OrderStatus, renewal,
};
use certgate::metrics::{ACME_CLIENT_REQUESTS, Metrics};
use common::bind::{Bind, ZoneSpec};
use common::pebble::{Pebble, PebbleOptions, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn options(pebble: &Pebble, metrics: &Arc<Metrics>) -> ClientOptions {
    ClientOptions {
        http: HttpOptions {
            ca_bundle: Some(pebble.ca_bundle()),
            metrics: Some(metrics.clone()),
            ..HttpOptions::default()
        },
        ..ClientOptions::default()
    }
}

/// A Pebble that validates nothing (no DNS behind it): enough for accounts.
fn account_pebble(eab_keys: Vec<(String, String)>, env: &[(&str, &str)]) -> Pebble {
    Pebble::start_with_env(
        PebbleOptions {
            dns_server: "127.0.0.1:1".into(),
            http_port: free_port(),
            tls_port: 0,
            eab_keys,
        },
        env,
    )
}

fn new_account(email: &str) -> NewAccount {
    NewAccount {
        contact: vec![format!("mailto:{email}")],
        terms_of_service_agreed: true,
    }
}

/// The value of `certmanager_http_acme_client_request_count` for the series whose
/// labels include all of `labels`, summed.
fn requests(metrics: &Metrics, labels: &[(&str, &str)]) -> f64 {
    metrics
        .render(0.0)
        .lines()
        .filter(|l| l.starts_with(&format!("{ACME_CLIENT_REQUESTS}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn rsa_and_ecdsa_accounts_register_and_are_found_again_by_key() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let pebble = account_pebble(vec![], &[]);
    let metrics = Arc::new(Metrics::default());
    let client = Client::new(&pebble.directory_url, options(&pebble, &metrics))
        .await
        .unwrap();

    // RSA 2048, as cert-manager generates, stored as its Secret holds it (PKCS#1).
    let rsa = AccountKey::generate(AccountKeyAlgorithm::default()).unwrap();
    let stored = rsa.to_pem().unwrap();
    assert!(stored.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let rsa = Arc::new(rsa);
    assert!(
        client.find_account(rsa.clone()).await.unwrap().is_none(),
        "an unregistered key has no account"
    );
    let created = client
        .new_account(rsa.clone(), &new_account("rsa@example.com"), None)
        .await
        .unwrap();
    assert!(created.created);
    assert_eq!(created.resource.contact, vec!["mailto:rsa@example.com"]);
    let url = created.account.url().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // The key as read back from the Secret finds the same account.
    let reloaded = Arc::new(AccountKey::from_pem(stored.as_bytes()).unwrap());
    let found = client
        .find_account(reloaded.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.account.url(), url);
    assert!(!found.created);
    // newAccount for a registered key answers with that account, not a new one.
    let again = client
        .new_account(reloaded, &new_account("rsa@example.com"), None)
        .await
        .unwrap();
    assert_eq!((again.account.url(), again.created), (url.as_str(), false));

    // ECDSA P-256 and P-384: other accounts; kid-signed requests work.
    for alg in [
        AccountKeyAlgorithm::EcdsaP256,
        AccountKeyAlgorithm::EcdsaP384,
    ] {
        let key = Arc::new(AccountKey::generate(alg).unwrap());
        let reg = client
            .new_account(key.clone(), &new_account("ec@example.com"), None)
            .await
            .unwrap();
        assert!(reg.created, "{alg:?}");
        assert_ne!(reg.account.url(), url);
        let account = client.account(key, reg.account.url());
        let updated = account
            .update_contact(&["mailto:other@example.com".to_string()])
            .await
            .unwrap();
        assert_eq!(updated.contact, vec!["mailto:other@example.com"]);
        assert_eq!(
            account.refresh().await.unwrap().contact,
            vec!["mailto:other@example.com"]
        );
    }

    // Every request was counted under its operation.
    for (action, method, status) in [
        ("discover", "GET", "200"),
        ("get_registration", "POST", "400"),
        ("register_account", "POST", "201"),
        ("get_registration", "POST", "200"),
        ("register_account", "POST", "200"),
        ("update_registration", "POST", "200"),
    ] {
        assert!(
            requests(
                &metrics,
                &[("action", action), ("method", method), ("status", status)]
            ) >= 1.0,
            "{action} {method} {status}:\n{}",
            metrics.render(0.0)
        );
    }
    assert!(requests(&metrics, &[("method", "HEAD")]) >= 1.0, "newNonce");
}

#[tokio::test]
async fn external_account_binding_is_required_and_checked() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    use base64::Engine;
    let hmac = b"an HMAC key of thirty-two bytes!";
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac);
    let pebble = account_pebble(vec![("kid-1".into(), encoded.clone())], &[]);
    let metrics = Arc::new(Metrics::default());
    let client = Client::new(&pebble.directory_url, options(&pebble, &metrics))
        .await
        .unwrap();
    assert!(client.directory().meta.external_account_required);
    let key = Arc::new(AccountKey::generate(AccountKeyAlgorithm::EcdsaP256).unwrap());

    let err = client
        .new_account(key.clone(), &new_account("eab@example.com"), None)
        .await
        .unwrap_err();
    assert!(err.is_problem("externalAccountRequired"), "{err}");

    let wrong = EabKey::new("kid-1", b"not the key the CA handed out").unwrap();
    let err = client
        .new_account(key.clone(), &new_account("eab@example.com"), Some(&wrong))
        .await
        .unwrap_err();
    assert!(
        err.problem().is_some() && err.status().is_some_and(|s| (400..500).contains(&s)),
        "{err}"
    );
    assert!(
        !err.to_string().contains("not the key"),
        "the key never shows: {err}"
    );

    let right = EabKey::from_base64url("kid-1", &encoded).unwrap();
    let reg = client
        .new_account(key, &new_account("eab@example.com"), Some(&right))
        .await
        .unwrap();
    assert!(reg.created);
}

/// Serves `/.well-known/acme-challenge/<token>` on 127.0.0.1:`port` from `tokens`.
async fn serve_http01(port: u16, tokens: Arc<Mutex<HashMap<String, String>>>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let tokens = tokens.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16384 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf);
                let path = text.split_whitespace().nth(1).unwrap_or("");
                let body = path
                    .strip_prefix("/.well-known/acme-challenge/")
                    .and_then(|t| tokens.lock().unwrap().get(t).cloned());
                let reply = match body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                        b.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
}

struct Ca {
    _bind: Bind,
    pebble: Pebble,
    tokens: Arc<Mutex<HashMap<String, String>>>,
    metrics: Arc<Metrics>,
    account: Account,
}

impl Ca {
    /// BIND resolving `*.example.com` to 127.0.0.1, Pebble offering two alternate
    /// chains and validating HTTP-01 against our little server, and an account.
    async fn start() -> Ca {
        let bind = Bind::start(&[ZoneSpec::new("example.com")]);
        let http_port = free_port();
        let pebble = Pebble::start_with_env(
            PebbleOptions {
                dns_server: bind.addr().to_string(),
                http_port,
                tls_port: 0,
                eab_keys: vec![],
            },
            &[("PEBBLE_ALTERNATE_ROOTS", "2")],
        );
        let tokens = Arc::new(Mutex::new(HashMap::new()));
        serve_http01(http_port, tokens.clone()).await;
        let metrics = Arc::new(Metrics::default());
        let client = Client::new(&pebble.directory_url, options(&pebble, &metrics))
            .await
            .unwrap();
        let key = Arc::new(AccountKey::generate(AccountKeyAlgorithm::default()).unwrap());
        let account = client
            .new_account(key, &new_account("issue@example.com"), None)
            .await
            .unwrap()
            .account;
        Ca {
            _bind: bind,
            pebble,
            tokens,
            metrics,
            account,
        }
    }

    /// Answers every pending authorization of `order` over HTTP-01 and waits for
    /// the order to be ready.
    async fn authorize(&self, order: &Order) -> Order {
        for url in &order.authorizations {
            let authz = self.account.authorization(url).await.unwrap();
            assert_eq!(authz.url, *url);
            if authz.status == AuthorizationStatus::Valid {
                continue;
            }
            let challenge = authz.challenge("http-01").expect("an http-01 challenge");
            let token = challenge.token.clone().unwrap();
            self.tokens
                .lock()
                .unwrap()
                .insert(token.clone(), self.account.key_authorization(&token));
            let answered = self
                .account
                .respond_to_challenge(&challenge.url)
                .await
                .unwrap();
            assert_eq!(answered.url, challenge.url);
            let fetched = self.account.challenge(&challenge.url).await.unwrap();
            assert_eq!(fetched.token.as_deref(), Some(token.as_str()));
            self.wait("authorization valid", async || {
                let a = self.account.authorization(url).await.unwrap();
                assert_ne!(
                    a.status,
                    AuthorizationStatus::Invalid,
                    "{:?}\n{}",
                    a.challenges,
                    self.pebble.log()
                );
                (a.status == AuthorizationStatus::Valid).then_some(())
            })
            .await;
        }
        self.wait("order ready", async || {
            let o = self.account.order(&order.url).await.unwrap();
            (o.status == OrderStatus::Ready).then_some(o)
        })
        .await
    }

    /// Orders a certificate for `identifiers` and returns the valid order.
    async fn issue(&self, new: NewOrder) -> Order {
        let order = self.account.new_order(&new).await.unwrap();
        assert_eq!(order.status, OrderStatus::Pending);
        assert_eq!(order.identifiers.len(), new.identifiers.len());
        let ready = self.authorize(&order).await;
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        for id in &new.identifiers {
            params.subject_alt_names.push(match id.kind.as_str() {
                "ip" => rcgen::SanType::IpAddress(id.value.parse().unwrap()),
                _ => rcgen::SanType::DnsName(id.value.clone().try_into().unwrap()),
            });
        }
        let csr = params.serialize_request(&key).unwrap();
        let finalized = self.account.finalize(&ready, csr.der()).await.unwrap();
        assert_eq!(finalized.url, order.url);
        assert!(
            matches!(
                finalized.status,
                OrderStatus::Processing | OrderStatus::Valid
            ),
            "{finalized:?}"
        );
        self.wait("order valid", async || {
            let o = self.account.order(&order.url).await.unwrap();
            (o.status == OrderStatus::Valid).then_some(o)
        })
        .await
    }

    async fn wait<T>(&self, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
        for _ in 0..300 {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}\n{}", self.pebble.log());
    }
}

/// The issuer CNs of Pebble's roots, from its management interface.
async fn pebble_root_names(pebble: &Pebble, count: usize) -> BTreeSet<String> {
    let transport = Transport::new(HttpOptions {
        ca_bundle: Some(pebble.ca_bundle()),
        ..HttpOptions::default()
    })
    .unwrap();
    let mut names = BTreeSet::new();
    for i in 0..count {
        let r = transport
            .get("test", &format!("{}/roots/{i}", pebble.management_url))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let der = certgate::pki::pem::certificates(&r.body);
        let (_, root) = x509_parser::parse_x509_certificate(&der[0]).unwrap();
        names.insert(
            root.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_order_to_certificate_with_alternate_and_preferred_chains() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let ca = Ca::start().await;
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let order = ca
        .issue(NewOrder::new(vec![
            Identifier::dns("www.example.com"),
            Identifier::ip(ip),
        ]))
        .await;
    let cert_url = order
        .certificate
        .clone()
        .expect("a valid order's certificate URL");

    let default = ca.account.certificate(&cert_url).await.unwrap();
    let der = default.der();
    assert_eq!(der.len(), 2, "leaf and intermediate:\n{}", default.pem);
    let (_, leaf) = x509_parser::parse_x509_certificate(&der[0]).unwrap();
    use x509_parser::extensions::GeneralName;
    let sans = &leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names;
    assert!(
        sans.contains(&GeneralName::DNSName("www.example.com")),
        "{sans:?}"
    );
    assert!(
        sans.contains(&GeneralName::IPAddress(&[127, 0, 0, 1])),
        "{sans:?}"
    );
    assert_eq!(default.alternates.len(), 2, "PEBBLE_ALTERNATE_ROOTS=2");

    // Each chain ends at a different root; together they are Pebble's roots.
    let mut tops = vec![
        chains::top_issuer_common_name(&default.pem)
            .unwrap()
            .unwrap(),
    ];
    let mut alternates = Vec::new();
    for url in &default.alternates {
        let alt = ca.account.alternate_certificate(url).await.unwrap();
        assert_eq!(alt.der()[0], der[0], "the same leaf");
        tops.push(chains::top_issuer_common_name(&alt.pem).unwrap().unwrap());
        alternates.push(alt.pem);
    }
    let distinct: BTreeSet<String> = tops.iter().cloned().collect();
    assert_eq!(distinct.len(), 3, "{tops:?}");
    assert_eq!(distinct, pebble_root_names(&ca.pebble, 3).await);

    // preferredChain picks by the top issuer's CN, else the default.
    assert_eq!(
        chains::choose(Some(&tops[2]), &default.pem, &alternates).unwrap(),
        Chosen::Alternate(1)
    );
    assert_eq!(
        chains::choose(Some(&tops[0]), &default.pem, &alternates).unwrap(),
        Chosen::Default
    );
    let preferred = ca
        .account
        .preferred_certificate(&cert_url, Some(&tops[1]))
        .await
        .unwrap();
    assert_eq!(preferred.pem, alternates[0]);
    assert_eq!(preferred.url, default.alternates[0]);
    let fallback = ca
        .account
        .preferred_certificate(&cert_url, Some("No Such Root"))
        .await
        .unwrap();
    assert_eq!(fallback.pem, default.pem);

    for action in [
        "authorize_order",
        "get_authorization",
        "get_challenge",
        "accept_challenge",
        "get_order",
        "create_order_cert",
        "fetch_cert",
    ] {
        assert!(
            requests(&ca.metrics, &[("action", action), ("status", "200")])
                + requests(&ca.metrics, &[("action", action), ("status", "201")])
                >= 1.0,
            "{action}:\n{}",
            ca.metrics.render(0.0)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_information_profiles_and_replaces() {
    if common::missing(&common::PEBBLE_AND_BIND) {
        return;
    }
    let ca = Ca::start().await;
    let current = common::pebble::pebble_is_current();
    let mut first = NewOrder::new(vec![Identifier::dns("ari.example.com")]);
    if current {
        first = first.profile("shortlived");
    }
    let order = ca.issue(first).await;
    if current {
        assert_eq!(order.profile.as_deref(), Some("shortlived"));
    }
    let chain = ca
        .account
        .certificate(order.certificate.as_deref().unwrap())
        .await
        .unwrap();
    let id = renewal::certificate_id(&chain.der()[0]).unwrap();

    // Asking for a profile the CA does not offer fails before any request.
    let before = requests(&ca.metrics, &[("action", "authorize_order")]);
    let err = ca
        .account
        .new_order(&NewOrder::new(vec![Identifier::dns("x.example.com")]).profile("nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput(_) | Error::Unsupported(_)),
        "{err}"
    );
    assert_eq!(
        requests(&ca.metrics, &[("action", "authorize_order")]),
        before
    );

    if !current {
        // Debian's Pebble 2.4 has no renewalInfo.
        assert!(matches!(
            ca.account.renewal_info(&id).await,
            Err(Error::Unsupported(_))
        ));
        return;
    }
    let info = ca.account.renewal_info(&id).await.unwrap();
    let w = info.suggested_window;
    assert!(w.start < w.end, "{w:?}");
    let not_after = x509_parser::parse_x509_certificate(&chain.der()[0])
        .unwrap()
        .1
        .validity()
        .not_after
        .timestamp();
    assert!(
        w.end.as_second() <= not_after,
        "the window ends before the certificate does"
    );
    assert!(info.retry_after.is_some(), "Pebble sends Retry-After");
    assert!(
        requests(
            &ca.metrics,
            &[
                ("action", "get_renewal_info"),
                ("method", "GET"),
                ("status", "200")
            ]
        ) >= 1.0
    );
    let unknown = ca.account.renewal_info("AAAA.AAAA").await.unwrap_err();
    assert!(unknown.status().is_some_and(|s| s >= 400), "{unknown}");

    // The renewal says which certificate it replaces.
    let renewal = ca
        .account
        .new_order(&NewOrder::new(vec![Identifier::dns("ari.example.com")]).replaces(id.clone()))
        .await
        .unwrap();
    assert_eq!(renewal.replaces.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn bad_nonces_are_retried_with_the_nonce_of_the_refusal() {
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    // Pebble refuses 30% of good nonces.
    let pebble = account_pebble(vec![], &[("PEBBLE_WFE_NONCEREJECT", "30")]);

    // With retries to spare, every request goes through.
    let patient = Arc::new(Metrics::default());
    let mut opts = options(&pebble, &patient);
    opts.bad_nonce_retries = 10;
    let client = Client::new(&pebble.directory_url, opts).await.unwrap();
    let key = Arc::new(AccountKey::generate(AccountKeyAlgorithm::EcdsaP256).unwrap());
    let account = client
        .new_account(key.clone(), &new_account("nonce@example.com"), None)
        .await
        .unwrap()
        .account;
    for _ in 0..40 {
        account.refresh().await.unwrap();
    }
    let refused = requests(&patient, &[("method", "POST"), ("status", "400")]);
    assert!(refused >= 1.0, "Pebble refused no nonce in 41 requests");

    // With the default single retry: a request fails only when both tries were
    // refused, and each refusal but those is followed by exactly one retry.
    let metrics = Arc::new(Metrics::default());
    let client = Client::new(&pebble.directory_url, options(&pebble, &metrics))
        .await
        .unwrap();
    let account = client.account(key, account.url());
    let calls = 60;
    let mut failed = 0.0;
    for _ in 0..calls {
        match account.refresh().await {
            Ok(a) => assert_eq!(a.contact, vec!["mailto:nonce@example.com"]),
            Err(e) => {
                assert!(e.is_problem("badNonce"), "{e}");
                failed += 1.0;
            }
        }
    }
    let posts = requests(
        &metrics,
        &[("action", "get_registration"), ("method", "POST")],
    );
    let refused = requests(
        &metrics,
        &[
            ("action", "get_registration"),
            ("method", "POST"),
            ("status", "400"),
        ],
    );
    let retried = refused - failed;
    assert_eq!(posts, calls as f64 + retried, "one retry per first refusal");
    assert!(
        retried - failed >= 1.0,
        "some request succeeded on its retry: posts {posts}, refused {refused}, failed {failed}"
    );
}
