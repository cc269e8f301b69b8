//! An in-process ACME CA (RFC 8555) for `certgate demo` and certgate's tests, with
//! what Pebble lacks: ACME Renewal Information (RFC 9773, `renewalInfo` and
//! `replaces`) and certificate profiles (draft-ietf-acme-profiles, `meta.profiles` and
//! the order's `profile`).
//!
//! [`AcmeMock::start`] serves HTTPS on 127.0.0.1 (a free port) with a certificate from
//! a TLS CA of its own ([`AcmeMock::ca_pem`]; [`AcmeMock::ca_bundle_b64`] is that CA
//! for an issuer's `spec.acme.caBundle`).
//! Every POST is a flattened JWS: the protected header's `nonce` must be one this
//! server handed out and not used yet (else `badNonce`), its `url` must be the URL
//! the request was sent to (else `unauthorized`), `jwk` or `kid` as RFC 8555 §6.2 says,
//! and the ES256/ES384/RS256 signature is verified. Every response carries a fresh
//! `Replay-Nonce`; errors are `application/problem+json` problem documents.
//!
//! Authorizations are created `valid` (so orders are `ready` at once) unless
//! [`AcmeMock::set_pending_authorizations`] is on: then each has an `http-01` and a
//! `dns-01` challenge (`dns-01` only for wildcards, `http-01` only for IP addresses).
//! What happens when the client responds to a challenge is the [`Validation`] mode
//! ([`AcmeMock::set_validation`]): [`Validation::Instant`] (the default) turns it
//! `valid` at once; [`Validation::Real`] turns it `processing` and validates it as
//! Let's Encrypt does — HTTP-01 by fetching the key authorization over plain HTTP
//! from a given address, DNS-01 by asking a given DNS server for the
//! `_acme-challenge` TXT record — then `valid`, or `invalid` with the problem (and the
//! authorization and order `invalid` with it).
//! Finalize issues a leaf from a mock intermediate (SANs from the CSR, which must name
//! exactly the order's identifiers; `classic` lasts 90 days, `shortlived` 6 days, no
//! profile means `classic`); the certificate URL returns leaf + intermediate.
//!
//! `GET {renewalInfo}/{certID}` (certID = base64url(AKI keyIdentifier) "."
//! base64url(serial DER content bytes)) answers a window from 2/3 to 3/4 of the
//! lifetime by default, a past window for a revoked certificate, or what the caller set
//! with [`AcmeMock::set_window`] / [`AcmeMock::set_window_for`], with `Retry-After`.
//!
//! Start-up ([`AcmeMock::start`]) panics with a message when it cannot bind or build
//! its keys; nothing a client sends can make it panic.
//!
//! [`vault`] holds a Vault PKI emulator ([`vault::VaultEmulator`]): `sign` and
//! `sign-verbatim`, tokens, AppRole, Kubernetes, TLS certificate and AWS IAM logins,
//! namespaces, seal and standby.

pub mod vault;

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The profiles the mock offers (name, description, validity).
pub const PROFILES: [(&str, &str, SignedDuration); 2] = [
    (
        "classic",
        "The default profile: 90-day certificates",
        SignedDuration::from_hours(90 * 24),
    ),
    (
        "shortlived",
        "Short-lived certificates: 6 days",
        SignedDuration::from_hours(6 * 24),
    ),
];

/// The profile used when an order names none.
pub const DEFAULT_PROFILE: &str = "classic";

/// How a challenge the client responds to is validated (see
/// [`AcmeMock::set_validation`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validation {
    /// The challenge turns `valid` at once, with its authorization.
    #[default]
    Instant,
    /// The challenge turns `processing` and a task validates it for real, as Let's
    /// Encrypt does:
    ///
    /// - `http-01`: `GET http://<identifier>/.well-known/acme-challenge/<token>`,
    ///   connecting to `http01` whatever the identifier resolves to, with
    ///   `Host: <identifier>` (HTTP/1.1, no redirects followed, 10 s timeout); the
    ///   body, trimmed, must be the key authorization `<token>.<thumbprint>`
    ///   (RFC 8555 §8.1, the RFC 7638 thumbprint of the account key).
    /// - `dns-01`: a TXT query for `_acme-challenge.<identifier without *.>` sent to
    ///   the DNS server at `dns` (UDP, then TCP when the answer is truncated; 10 s
    ///   timeout); one of the values must be base64url(SHA-256(key authorization)).
    ///
    /// Success makes the challenge and its authorization `valid`; failure makes the
    /// challenge `invalid` with an `error` problem worded like Let's Encrypt's
    /// (`incorrectResponse`, `unauthorized`, `connection`, `dns`), its authorization
    /// `invalid`, and so its order `invalid` with that problem as the order's `error`.
    Real {
        /// Where HTTP-01 requests go (any identifier).
        http01: SocketAddr,
        /// The DNS server asked for DNS-01 TXT records.
        dns: SocketAddr,
    },
}

/// A new-order request as the mock received and accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedOrder {
    /// The order URL.
    pub url: String,
    /// The URL of the account that placed it.
    pub account: String,
    /// The identifier values, in request order (`*.` kept for wildcards).
    pub identifiers: Vec<String>,
    /// The `profile` field, if any.
    pub profile: Option<String>,
    /// The `replaces` field (an RFC 9773 certificate ID), if any.
    pub replaces: Option<String>,
    /// The order's status now: pending, ready, processing, valid or invalid.
    pub status: String,
}

/// A certificate the mock issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCert {
    /// The RFC 9773 certificate ID: base64url(AKI keyIdentifier) "." base64url(serial).
    pub cert_id: String,
    /// The SANs (DNS names and IP addresses) from the CSR.
    pub identifiers: Vec<String>,
    /// `notBefore`, exactly as in the certificate.
    pub not_before: Timestamp,
    /// `notAfter`, exactly as in the certificate.
    pub not_after: Timestamp,
    /// The order's `profile` field (`None`: the default, [`DEFAULT_PROFILE`]).
    pub profile: Option<String>,
    /// The `replaces` of the order it was issued for.
    pub replaces: Option<String>,
    /// The order URL.
    pub order_url: String,
    /// The certificate URL.
    pub certificate_url: String,
    /// The served chain: leaf and intermediate, PEM.
    pub chain_pem: String,
    /// Whether it was revoked through `revokeCert`.
    pub revoked: bool,
}

/// A running mock ACME server; stops when dropped.
pub struct AcmeMock {
    app: App,
    tls_ca_pem: String,
    root_pem: String,
    intermediate_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl AcmeMock {
    /// Starts the mock on 127.0.0.1 (a free port), served by a task on the current
    /// tokio runtime. Panics outside a runtime.
    pub fn start() -> AcmeMock {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

        // The TLS server certificate, from a CA of our own.
        let (tls_ca_pem, tls_ca) = ca("certgate ACME mock TLS CA", None);
        let tls_key = keypair();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap_or_else(|e| panic!("TLS params: {e}"));
        params.subject_alt_names = vec![
            rcgen::SanType::DnsName(
                "localhost"
                    .try_into()
                    .unwrap_or_else(|e| panic!("SAN: {e}")),
            ),
            rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            rcgen::SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "certgate ACME mock");
        params.use_authority_key_identifier_extension = true;
        let tls_cert = params
            .signed_by(&tls_key, &tls_ca)
            .unwrap_or_else(|e| panic!("TLS certificate: {e}"));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| panic!("TLS versions: {e}"))
            .with_no_client_auth()
            .with_single_cert(
                vec![tls_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(tls_key.serialize_der().into()),
            )
            .unwrap_or_else(|e| panic!("TLS config: {e}"));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tls = Arc::new(config);

        // The issuing hierarchy: root → intermediate → leaves.
        let (root_pem, root) = ca("certgate ACME mock root", None);
        let (intermediate_pem, intermediate) = ca("certgate ACME mock intermediate", Some(&root));

        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("binding the ACME mock: {e}"));
        std_listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("nonblocking: {e}"));
        let port = std_listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"))
            .port();
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .unwrap_or_else(|e| panic!("AcmeMock::start needs a tokio runtime: {e}"));

        let app = App {
            base: format!("https://127.0.0.1:{port}"),
            st: Arc::new(Mutex::new(MockState::new(
                intermediate,
                intermediate_pem.clone(),
            ))),
            validations: Arc::new(Mutex::new(tokio::task::JoinSet::new())),
        };
        let router = router(app.clone());
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let svc = hyper_util::service::TowerToHyperService::new(router.clone());
                let conn = rustls::ServerConnection::new(tls.clone());
                conns.spawn(async move {
                    let Ok(conn) = conn else { return };
                    let io = hyper_util::rt::TokioIo::new(TlsStream {
                        tcp,
                        conn,
                        eof: false,
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(io, svc)
                    .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        AcmeMock {
            app,
            tls_ca_pem,
            root_pem,
            intermediate_pem,
            task,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.app.base
    }

    /// The directory URL (`{base}/directory`).
    pub fn directory_url(&self) -> String {
        format!("{}/directory", self.app.base)
    }

    /// The `renewalInfo` URL of the directory (append `/{certID}`).
    pub fn renewal_info_url(&self) -> String {
        format!("{}/acme/renewal-info", self.app.base)
    }

    /// PEM of the CA that signed the server's HTTPS certificate.
    pub fn ca_pem(&self) -> &str {
        &self.tls_ca_pem
    }

    /// Base64 of [`AcmeMock::ca_pem`], for an issuer's `spec.acme.caBundle`.
    pub fn ca_bundle_b64(&self) -> String {
        STANDARD.encode(self.tls_ca_pem.as_bytes())
    }

    /// PEM of the root of issued chains (not part of the served chain).
    pub fn issuing_root_pem(&self) -> &str {
        &self.root_pem
    }

    /// PEM of the intermediate that signs leaves (the second certificate of a chain).
    pub fn intermediate_pem(&self) -> &str {
        &self.intermediate_pem
    }

    /// Every accepted new-order request, oldest first.
    pub fn orders(&self) -> Vec<RecordedOrder> {
        let st = self.app.lock();
        st.orders
            .values()
            .map(|o| RecordedOrder {
                url: o.url.clone(),
                account: o.account.clone(),
                identifiers: o.identifiers.iter().map(|(_, v)| v.clone()).collect(),
                profile: o.profile.clone(),
                replaces: o.replaces.clone(),
                status: st.order_status(o).to_string(),
            })
            .collect()
    }

    /// Every issued certificate, oldest first.
    pub fn issued(&self) -> Vec<IssuedCert> {
        self.app
            .lock()
            .certs
            .values()
            .map(|c| c.info.clone())
            .collect()
    }

    /// From now on, renewalInfo answers this window for every certificate that has no
    /// window of its own (see [`AcmeMock::set_window_for`]).
    pub fn set_window(&self, start: Timestamp, end: Timestamp) {
        self.app.lock().window_all = Some((start, end));
    }

    /// From now on, renewalInfo answers this window for one certificate ID.
    pub fn set_window_for(&self, cert_id: &str, start: Timestamp, end: Timestamp) {
        self.app
            .lock()
            .windows
            .insert(cert_id.to_string(), (start, end));
    }

    /// Back to the computed windows.
    pub fn clear_windows(&self) {
        let mut st = self.app.lock();
        st.window_all = None;
        st.windows.clear();
    }

    /// The `explanationURL` renewalInfo answers (none by default).
    pub fn set_explanation_url(&self, url: Option<&str>) {
        self.app.lock().explanation_url = url.map(str::to_string);
    }

    /// The `Retry-After` (seconds) renewalInfo answers; 3600 by default.
    pub fn set_retry_after(&self, secs: u64) {
        self.app.lock().retry_after = secs;
    }

    /// New authorizations `pending` with challenges to POST (on) or `valid` at once
    /// (off, the default). [`Validation::Real`] makes them `pending` whatever this says.
    pub fn set_pending_authorizations(&self, on: bool) {
        self.app.lock().pending_authorizations = on;
    }

    /// How challenges are validated from now on: [`Validation::Instant`] (the
    /// default) or [`Validation::Real`], which also makes new authorizations `pending`
    /// (as [`AcmeMock::set_pending_authorizations`] does). A validation already
    /// running finishes in the mode it started in.
    pub fn set_validation(&self, validation: Validation) {
        self.app.lock().validation = validation;
    }

    /// Finalize answers the order `processing`; it turns `valid` on the next
    /// POST-as-GET of the order (off by default: `valid` at once).
    pub fn set_async_finalize(&self, on: bool) {
        self.app.lock().async_finalize = on;
    }

    /// The next `n` JWS requests are refused with `badNonce` even if their nonce is
    /// good (a client must retry with the nonce of the error response).
    pub fn reject_next_nonces(&self, n: u32) {
        self.app.lock().reject_nonces = n;
    }

    /// Requests so far by endpoint: `directory`, `newNonce`, `newAccount`, `account`,
    /// `orders`, `newOrder`, `order`, `authz`, `challenge`, `finalize`, `certificate`,
    /// `revokeCert`, `keyChange`, `renewalInfo`, `other`; and refusals: `badNonce`,
    /// `badUrl`, `badSignature`.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.app.lock().counts.clone()
    }

    /// Requests so far to one endpoint (see [`AcmeMock::requests`]).
    pub fn request_count(&self, endpoint: &str) -> u64 {
        self.app
            .lock()
            .counts
            .get(endpoint)
            .copied()
            .unwrap_or_default()
    }
}

impl Drop for AcmeMock {
    fn drop(&mut self) {
        self.task.abort();
        self.app
            .validations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }
}

// ---------------------------------------------------------------------------------
// PKI helpers

fn keypair() -> rcgen::KeyPair {
    rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("key generation: {e}"))
}

/// A CA certificate (self-signed, or signed by `parent`) and an issuer for it.
fn ca(
    cn: &str,
    parent: Option<&rcgen::Issuer<'static, rcgen::KeyPair>>,
) -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = keypair();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap_or_else(|e| panic!("CA params: {e}"));
    params.is_ca = rcgen::IsCa::Ca(match parent {
        Some(_) => rcgen::BasicConstraints::Constrained(0),
        None => rcgen::BasicConstraints::Unconstrained,
    });
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = match parent {
        Some(p) => {
            params.use_authority_key_identifier_extension = true;
            params.signed_by(&key, p)
        }
        None => params.self_signed(&key),
    }
    .unwrap_or_else(|e| panic!("CA certificate {cn}: {e}"));
    (cert.pem(), rcgen::Issuer::new(params, key))
}

/// The RFC 9773 certificate ID of a DER certificate.
fn cert_id_of(der: &[u8]) -> Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let aki = cert
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .ok_or("no authority key identifier")?;
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(aki),
        URL_SAFE_NO_PAD.encode(cert.tbs_certificate.raw_serial())
    ))
}

fn pem_of(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn random_b64(bytes: usize) -> String {
    let mut v = Vec::with_capacity(bytes);
    while v.len() < bytes {
        v.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    v.truncate(bytes);
    URL_SAFE_NO_PAD.encode(v)
}

// ---------------------------------------------------------------------------------
// JWS signature verification (via rustls' aws-lc-rs webpki algorithms)

fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=127 => vec![n as u8],
        128..=255 => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    let mut content = Vec::new();
    if bytes.get(start).is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&bytes[start..]);
    der_tlv(0x02, &content)
}

fn jwk_field(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    let s = jwk[name]
        .as_str()
        .ok_or_else(|| format!("JWK has no {name}"))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| format!("JWK {name}: {e}"))
}

/// Verifies a JWS signature made with `alg` by the key `jwk`.
fn verify_signature(alg: &str, jwk: &Value, msg: &[u8], sig: &[u8]) -> Result<(), String> {
    use rustls::pki_types::alg_id;
    let (key_alg, sig_alg, public_key, signature) = match alg {
        "ES256" | "ES384" => {
            let (crv, size, key_alg, sig_alg) = if alg == "ES256" {
                ("P-256", 32, alg_id::ECDSA_P256, alg_id::ECDSA_SHA256)
            } else {
                ("P-384", 48, alg_id::ECDSA_P384, alg_id::ECDSA_SHA384)
            };
            if jwk["kty"] != "EC" || jwk["crv"] != crv {
                return Err(format!("{alg} needs an EC {crv} key"));
            }
            let (x, y) = (jwk_field(jwk, "x")?, jwk_field(jwk, "y")?);
            if x.len() != size || y.len() != size || sig.len() != 2 * size {
                return Err("wrong EC key or signature size".into());
            }
            let mut point = vec![4];
            point.extend(x);
            point.extend(y);
            let (r, s) = sig.split_at(size);
            let der = der_tlv(0x30, &[der_uint(r), der_uint(s)].concat());
            (key_alg, sig_alg, point, der)
        }
        "RS256" => {
            if jwk["kty"] != "RSA" {
                return Err("RS256 needs an RSA key".into());
            }
            let (n, e) = (jwk_field(jwk, "n")?, jwk_field(jwk, "e")?);
            let key = der_tlv(0x30, &[der_uint(&n), der_uint(&e)].concat());
            (
                alg_id::RSA_ENCRYPTION,
                alg_id::RSA_PKCS1_SHA256,
                key,
                sig.to_vec(),
            )
        }
        other => return Err(format!("unsupported algorithm {other}")),
    };
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let verifier = provider
        .signature_verification_algorithms
        .all
        .iter()
        .find(|a| a.public_key_alg_id() == key_alg && a.signature_alg_id() == sig_alg)
        .ok_or("no verifier for the algorithm")?;
    verifier
        .verify_signature(&public_key, msg, &signature)
        .map_err(|_| "signature does not verify".to_string())
}

/// RFC 7638's JSON of the required members of a JWK: a canonical form of the key.
fn canonical_jwk(jwk: &Value) -> Result<String, String> {
    let s = |k: &str| jwk[k].as_str().map(str::to_string);
    match jwk["kty"].as_str() {
        Some("EC") => match (s("crv"), s("x"), s("y")) {
            (Some(crv), Some(x), Some(y)) => Ok(format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#
            )),
            _ => Err("EC JWK without crv, x or y".into()),
        },
        Some("RSA") => match (s("e"), s("n")) {
            (Some(e), Some(n)) => Ok(format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#)),
            _ => Err("RSA JWK without e or n".into()),
        },
        _ => Err("unsupported JWK kty".into()),
    }
}

// ---------------------------------------------------------------------------------
// Problems

struct Problem {
    status: StatusCode,
    kind: &'static str,
    detail: String,
    extra: Vec<(&'static str, Value)>,
    headers: Vec<(header::HeaderName, String)>,
}

fn problem(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Problem {
    Problem {
        status,
        kind,
        detail: detail.into(),
        extra: Vec::new(),
        headers: Vec::new(),
    }
}

fn malformed(detail: impl Into<String>) -> Problem {
    problem(StatusCode::BAD_REQUEST, "malformed", detail)
}

fn unauthorized(detail: impl Into<String>) -> Problem {
    problem(StatusCode::FORBIDDEN, "unauthorized", detail)
}

fn not_found(detail: impl Into<String>) -> Problem {
    problem(StatusCode::NOT_FOUND, "malformed", detail)
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("urn:ietf:params:acme:error:{}", self.kind),
            "detail": self.detail,
            "status": self.status.as_u16(),
        });
        for (k, v) in self.extra {
            body[k] = v;
        }
        let mut rsp = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                rsp.headers_mut().insert(name, v);
            }
        }
        rsp
    }
}

fn json_response(status: StatusCode, location: Option<&str>, body: &Value) -> Response {
    let mut rsp = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        rsp.headers_mut().insert(header::LOCATION, loc);
    }
    rsp
}

// ---------------------------------------------------------------------------------
// State

struct AccountRec {
    url: String,
    jwk: Value,
    key: String,
    contact: Vec<String>,
    tos: bool,
    status: &'static str,
    orders: Vec<String>,
}

/// An order's own state; while `Open`, its status follows from its authorizations
/// (`pending`, `ready`, or `invalid` once one is neither pending nor valid).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stored {
    Open,
    Processing,
    Valid,
}

struct OrderRec {
    url: String,
    account: String,
    identifiers: Vec<(String, String)>,
    profile: Option<String>,
    replaces: Option<String>,
    authzs: Vec<u64>,
    stored: Stored,
    cert: Option<u64>,
    expires: Timestamp,
}

struct ChallRec {
    kind: &'static str,
    token: String,
    status: &'static str,
    validated: Option<Timestamp>,
    /// The problem of a failed validation.
    error: Option<Value>,
}

struct AuthzRec {
    account: String,
    kind: String,
    value: String,
    wildcard: bool,
    status: &'static str,
    challenges: Vec<ChallRec>,
    expires: Timestamp,
}

struct CertRec {
    account: String,
    der: Vec<u8>,
    info: IssuedCert,
}

struct MockState {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    intermediate_pem: String,
    next_id: u64,
    nonces: HashSet<String>,
    accounts: BTreeMap<u64, AccountRec>,
    orders: BTreeMap<u64, OrderRec>,
    authzs: BTreeMap<u64, AuthzRec>,
    certs: BTreeMap<u64, CertRec>,
    counts: BTreeMap<String, u64>,
    windows: BTreeMap<String, (Timestamp, Timestamp)>,
    window_all: Option<(Timestamp, Timestamp)>,
    explanation_url: Option<String>,
    retry_after: u64,
    pending_authorizations: bool,
    validation: Validation,
    async_finalize: bool,
    reject_nonces: u32,
}

impl MockState {
    fn new(issuer: rcgen::Issuer<'static, rcgen::KeyPair>, intermediate_pem: String) -> Self {
        MockState {
            issuer,
            intermediate_pem,
            next_id: 1,
            nonces: HashSet::new(),
            accounts: BTreeMap::new(),
            orders: BTreeMap::new(),
            authzs: BTreeMap::new(),
            certs: BTreeMap::new(),
            counts: BTreeMap::new(),
            windows: BTreeMap::new(),
            window_all: None,
            explanation_url: None,
            retry_after: 3600,
            pending_authorizations: false,
            validation: Validation::Instant,
            async_finalize: false,
            reject_nonces: 0,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn count(&mut self, what: &str) {
        *self.counts.entry(what.to_string()).or_default() += 1;
    }

    fn nonce(&mut self) -> String {
        let n = random_b64(16);
        self.nonces.insert(n.clone());
        n
    }

    fn order_status(&self, o: &OrderRec) -> &'static str {
        match o.stored {
            Stored::Processing => "processing",
            Stored::Valid => "valid",
            Stored::Open => {
                let statuses: Vec<&str> = o
                    .authzs
                    .iter()
                    .map(|a| self.authzs.get(a).map_or("invalid", |a| a.status))
                    .collect();
                if statuses.iter().any(|s| *s != "valid" && *s != "pending") {
                    "invalid"
                } else if statuses.iter().all(|s| *s == "valid") {
                    "ready"
                } else {
                    "pending"
                }
            }
        }
    }
}

#[derive(Clone)]
struct App {
    base: String,
    st: Arc<Mutex<MockState>>,
    /// The running [`Validation::Real`] tasks (aborted when the mock is dropped).
    validations: Arc<Mutex<tokio::task::JoinSet<()>>>,
}

impl App {
    fn lock(&self) -> MutexGuard<'_, MockState> {
        self.st.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn account_url(&self, id: u64) -> String {
        format!("{}/acme/acct/{id}", self.base)
    }
    fn order_url(&self, id: u64) -> String {
        format!("{}/acme/order/{id}", self.base)
    }
    fn authz_url(&self, id: u64) -> String {
        format!("{}/acme/authz/{id}", self.base)
    }
    fn chall_url(&self, authz: u64, kind: &str) -> String {
        format!("{}/acme/chall/{authz}/{kind}", self.base)
    }
    fn cert_url(&self, id: u64) -> String {
        format!("{}/acme/cert/{id}", self.base)
    }

    fn directory(&self) -> Value {
        let b = &self.base;
        let profiles: serde_json::Map<String, Value> = PROFILES
            .iter()
            .map(|(n, d, _)| (n.to_string(), Value::from(*d)))
            .collect();
        json!({
            "newNonce": format!("{b}/acme/new-nonce"),
            "newAccount": format!("{b}/acme/new-account"),
            "newOrder": format!("{b}/acme/new-order"),
            "revokeCert": format!("{b}/acme/revoke-cert"),
            "keyChange": format!("{b}/acme/key-change"),
            "renewalInfo": format!("{b}/acme/renewal-info"),
            "meta": {
                "termsOfService": format!("{b}/terms"),
                "website": "https://github.com/certgate",
                "externalAccountRequired": false,
                "profiles": profiles,
            },
        })
    }

    fn account_json(&self, a: &AccountRec) -> Value {
        json!({
            "status": a.status,
            "contact": a.contact,
            "termsOfServiceAgreed": a.tos,
            "orders": format!("{}/orders", a.url),
            "key": a.jwk,
        })
    }

    fn order_json(&self, st: &MockState, o: &OrderRec) -> Value {
        let mut v = json!({
            "status": st.order_status(o),
            "expires": o.expires.to_string(),
            "identifiers": o.identifiers.iter()
                .map(|(t, v)| json!({"type": t, "value": v}))
                .collect::<Vec<_>>(),
            "authorizations": o.authzs.iter().map(|a| self.authz_url(*a)).collect::<Vec<_>>(),
            "finalize": format!("{}/finalize", o.url),
        });
        if let Some(p) = &o.profile {
            v["profile"] = json!(p);
        }
        if let Some(r) = &o.replaces {
            v["replaces"] = json!(r);
        }
        if o.stored == Stored::Valid
            && let Some(c) = o.cert
        {
            v["certificate"] = json!(self.cert_url(c));
        }
        if st.order_status(o) == "invalid" {
            // The problem of a failed challenge, as Pebble sets it; else a generic one.
            let failed = o
                .authzs
                .iter()
                .filter_map(|a| st.authzs.get(a))
                .flat_map(|a| &a.challenges)
                .find_map(|c| c.error.clone());
            v["error"] = failed.unwrap_or_else(|| {
                json!({
                    "type": "urn:ietf:params:acme:error:unauthorized",
                    "detail": "an authorization of the order is not valid",
                    "status": 403,
                })
            });
        }
        v
    }

    fn chall_json(&self, authz: u64, c: &ChallRec) -> Value {
        let mut v = json!({
            "type": c.kind,
            "url": self.chall_url(authz, c.kind),
            "status": c.status,
            "token": c.token,
        });
        if let Some(t) = c.validated {
            v["validated"] = json!(t.to_string());
        }
        if let Some(e) = &c.error {
            v["error"] = e.clone();
        }
        v
    }

    fn authz_json(&self, id: u64, a: &AuthzRec) -> Value {
        let mut v = json!({
            "identifier": {"type": a.kind, "value": a.value},
            "status": a.status,
            "expires": a.expires.to_string(),
            "challenges": a.challenges.iter().map(|c| self.chall_json(id, c)).collect::<Vec<_>>(),
        });
        if a.wildcard {
            v["wildcard"] = json!(true);
        }
        v
    }
}

// ---------------------------------------------------------------------------------
// JWS

#[derive(PartialEq, Eq, Clone, Copy)]
enum KeyMode {
    /// `jwk` only (newAccount).
    Jwk,
    /// `kid` only (everything else).
    Kid,
    /// either (revokeCert).
    Either,
}

struct Jws {
    /// The account id (for `kid`).
    account: Option<u64>,
    /// The key that signed.
    jwk: Value,
    /// The payload; `None` for POST-as-GET (empty payload).
    payload: Option<Value>,
}

/// The URL a request was sent to, as the client would have written it.
fn request_url(headers: &HeaderMap, uri: &Uri, base: &str) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map(|a| a.to_string()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    });
    match authority {
        Some(a) => format!("https://{a}{path}"),
        None => format!("{base}{path}"),
    }
}

fn b64_json(s: &str, what: &str) -> Result<Value, Problem> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| malformed(format!("{what} is not base64url: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| malformed(format!("{what} is not JSON: {e}")))
}

/// Parses and checks a flattened JWS (`expect_nonce`: false for the inner JWS of keyChange).
fn parse_jws(
    st: &mut MockState,
    body: &[u8],
    url: &str,
    mode: KeyMode,
    expect_nonce: bool,
) -> Result<Jws, Problem> {
    let jws: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("request body is not a JWS (JSON): {e}")))?;
    if jws.get("signatures").is_some() || jws.get("header").is_some() {
        return Err(malformed(
            "only the flattened JWS JSON serialization without unprotected header is allowed",
        ));
    }
    let (Some(protected), Some(payload), Some(signature)) = (
        jws["protected"].as_str(),
        jws["payload"].as_str(),
        jws["signature"].as_str(),
    ) else {
        return Err(malformed("JWS needs protected, payload and signature"));
    };
    let header = b64_json(protected, "JWS protected header")?;
    let alg = header["alg"].as_str().unwrap_or_default();
    if !matches!(alg, "ES256" | "ES384" | "RS256") {
        let mut p = problem(
            StatusCode::BAD_REQUEST,
            "badSignatureAlgorithm",
            format!("JWS algorithm {alg:?} is not supported"),
        );
        p.extra
            .push(("algorithms", json!(["ES256", "ES384", "RS256"])));
        return Err(p);
    }
    if expect_nonce {
        let nonce = header["nonce"].as_str().unwrap_or_default();
        if st.reject_nonces > 0 {
            st.reject_nonces -= 1;
            st.count("badNonce");
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "badNonce",
                "JWS has an invalid anti-replay nonce (rejected on purpose)",
            ));
        }
        if nonce.is_empty() || !st.nonces.remove(nonce) {
            st.count("badNonce");
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "badNonce",
                format!("JWS has an invalid anti-replay nonce: {nonce:?}"),
            ));
        }
    } else if header.get("nonce").is_some() {
        return Err(malformed(
            "the inner JWS of a key change must have no nonce",
        ));
    }
    let hurl = header["url"].as_str().unwrap_or_default();
    if hurl != url {
        st.count("badUrl");
        return Err(problem(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("JWS header url {hurl:?} is not the request URL {url:?}"),
        ));
    }
    let (account, jwk) = match (header.get("jwk"), header["kid"].as_str()) {
        (Some(_), Some(_)) => return Err(malformed("JWS header has both jwk and kid")),
        (None, None) => return Err(malformed("JWS header has neither jwk nor kid")),
        (Some(jwk), None) => {
            if mode == KeyMode::Kid {
                return Err(malformed(
                    "this request must be signed by an account key (kid), not jwk",
                ));
            }
            canonical_jwk(jwk).map_err(|e| problem(StatusCode::BAD_REQUEST, "badPublicKey", e))?;
            (None, jwk.clone())
        }
        (None, Some(kid)) => {
            if mode == KeyMode::Jwk {
                return Err(malformed("this request must carry its key (jwk), not kid"));
            }
            let Some((id, acct)) = st.accounts.iter().find(|(_, a)| a.url == kid) else {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    "accountDoesNotExist",
                    format!("no account {kid:?}"),
                ));
            };
            if acct.status != "valid" {
                return Err(problem(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    format!("account {kid} is {}", acct.status),
                ));
            }
            (Some(*id), acct.jwk.clone())
        }
    };
    let sig = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| malformed(format!("JWS signature is not base64url: {e}")))?;
    if let Err(e) = verify_signature(alg, &jwk, format!("{protected}.{payload}").as_bytes(), &sig) {
        st.count("badSignature");
        return Err(malformed(format!("JWS verification error: {e}")));
    }
    let payload = if payload.is_empty() {
        None
    } else {
        Some(b64_json(payload, "JWS payload")?)
    };
    Ok(Jws {
        account,
        jwk,
        payload,
    })
}

/// Runs a JWS POST: counts it, checks the JWS, runs `f`.
fn handle(
    app: &App,
    endpoint: &str,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
    mode: KeyMode,
    f: impl FnOnce(&App, &mut MockState, Jws) -> Result<Response, Problem>,
) -> Response {
    let mut st = app.lock();
    st.count(endpoint);
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with("application/jose+json") {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "malformed",
            format!("Content-Type must be application/jose+json, not {ct:?}"),
        )
        .into_response();
    }
    let url = request_url(headers, uri, &app.base);
    match parse_jws(&mut st, body, &url, mode, true).and_then(|jws| f(app, &mut st, jws)) {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

fn require_get(jws: &Jws) -> Result<(), Problem> {
    match jws.payload {
        None => Ok(()),
        Some(_) => Err(malformed("POST-as-GET requests must have an empty payload")),
    }
}

fn owner(jws: &Jws, account_url: &str, app: &App) -> Result<(), Problem> {
    match jws.account {
        Some(id) if app.account_url(id) == account_url => Ok(()),
        _ => Err(unauthorized("the resource belongs to another account")),
    }
}

// ---------------------------------------------------------------------------------
// Routes

fn router(app: App) -> Router {
    Router::new()
        .route("/directory", get(directory))
        .route("/acme/new-nonce", any(new_nonce))
        .route("/acme/new-account", post(new_account))
        .route("/acme/acct/{id}", post(account))
        .route("/acme/acct/{id}/orders", post(account_orders))
        .route("/acme/new-order", post(new_order))
        .route("/acme/order/{id}", post(order))
        .route("/acme/order/{id}/finalize", post(finalize))
        .route("/acme/authz/{id}", post(authz))
        .route("/acme/chall/{id}/{kind}", post(challenge))
        .route("/acme/cert/{id}", post(certificate))
        .route("/acme/revoke-cert", post(revoke_cert))
        .route("/acme/key-change", post(key_change))
        .route("/acme/renewal-info/{id}", get(renewal_info))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            common_headers,
        ))
        .with_state(app)
}

/// A fresh `Replay-Nonce` and `Link: <directory>;rel="index"` on every response.
async fn common_headers(State(app): State<App>, req: Request, next: Next) -> Response {
    let is_directory = req.uri().path() == "/directory";
    let mut rsp = next.run(req).await;
    let nonce = app.lock().nonce();
    if let Ok(v) = HeaderValue::from_str(&nonce) {
        rsp.headers_mut().insert("replay-nonce", v);
    }
    rsp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if !is_directory
        && let Ok(v) = HeaderValue::from_str(&format!("<{}/directory>;rel=\"index\"", app.base))
    {
        rsp.headers_mut().append(header::LINK, v);
    }
    rsp
}

async fn fallback(State(app): State<App>, uri: Uri) -> Response {
    app.lock().count("other");
    not_found(format!("no resource {}", uri.path())).into_response()
}

async fn directory(State(app): State<App>) -> Response {
    app.lock().count("directory");
    json_response(StatusCode::OK, None, &app.directory())
}

async fn new_nonce(State(app): State<App>, method: Method) -> Response {
    app.lock().count("newNonce");
    match method {
        Method::HEAD => StatusCode::OK.into_response(),
        Method::GET => StatusCode::NO_CONTENT.into_response(),
        _ => problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "malformed",
            "newNonce takes HEAD or GET",
        )
        .into_response(),
    }
}

fn check_contacts(payload: &Value) -> Result<Option<Vec<String>>, Problem> {
    let Some(contact) = payload.get("contact") else {
        return Ok(None);
    };
    let list = contact
        .as_array()
        .ok_or_else(|| malformed("contact must be an array"))?;
    let mut out = Vec::new();
    for c in list {
        let c = c
            .as_str()
            .ok_or_else(|| malformed("contact entries must be strings"))?;
        let Some(addr) = c.strip_prefix("mailto:") else {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "unsupportedContact",
                format!("contact {c:?} is not a mailto: URL"),
            ));
        };
        if !addr.contains('@') || addr.contains(',') {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "invalidContact",
                format!("contact {c:?} is not an email address"),
            ));
        }
        out.push(c.to_string());
    }
    Ok(Some(out))
}

async fn new_account(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    handle(
        &app,
        "newAccount",
        &headers,
        &uri,
        &body,
        KeyMode::Jwk,
        |app, st, jws| {
            let payload = jws
                .payload
                .ok_or_else(|| malformed("newAccount needs a payload"))?;
            let key = canonical_jwk(&jws.jwk).map_err(malformed)?;
            if let Some(a) = st.accounts.values().find(|a| a.key == key) {
                return Ok(json_response(
                    StatusCode::OK,
                    Some(&a.url),
                    &app.account_json(a),
                ));
            }
            if payload["onlyReturnExisting"] == true {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    "accountDoesNotExist",
                    "no account for this key",
                ));
            }
            let contact = check_contacts(&payload)?.unwrap_or_default();
            let id = st.id();
            let a = AccountRec {
                url: app.account_url(id),
                jwk: jws.jwk,
                key,
                contact,
                tos: payload["termsOfServiceAgreed"] == true,
                status: "valid",
                orders: Vec::new(),
            };
            let rsp = json_response(StatusCode::CREATED, Some(&a.url), &app.account_json(&a));
            st.accounts.insert(id, a);
            Ok(rsp)
        },
    )
}

async fn account(
    State(app): State<App>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    handle(
        &app,
        "account",
        &headers,
        &uri,
        &body,
        KeyMode::Kid,
        |app, st, jws| {
            if jws.account != Some(id) {
                return Err(unauthorized("the kid is not this account"));
            }
            let contact = match &jws.payload {
                Some(p) => check_contacts(p)?,
                None => None,
            };
            let a = st
                .accounts
                .get_mut(&id)
                .ok_or_else(|| not_found("no such account"))?;
            if let Some(p) = &jws.payload {
                if let Some(c) = contact {
                    a.contact = c;
                }
                match p["status"].as_str() {
                    None => {}
                    Some("deactivated") => a.status = "deactivated",
                    Some(s) => return Err(malformed(format!("cannot set status {s:?}"))),
                }
            }
            Ok(json_response(
                StatusCode::OK,
                Some(&a.url),
                &app.account_json(a),
            ))
        },
    )
}

async fn account_orders(
    State(app): State<App>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    handle(
        &app,
        "orders",
        &headers,
        &uri,
        &body,
        KeyMode::Kid,
        |_, st, jws| {
            require_get(&jws)?;
            if jws.account != Some(id) {
                return Err(unauthorized("the kid is not this account"));
            }
            let a = st
                .accounts
                .get(&id)
                .ok_or_else(|| not_found("no such account"))?;
            Ok(json_response(
                StatusCode::OK,
                None,
                &json!({"orders": a.orders}),
            ))
        },
    )
}

fn check_identifier(kind: &str, value: &str) -> Result<(), Problem> {
    let rejected = |why: &str| {
        problem(
            StatusCode::BAD_REQUEST,
            "rejectedIdentifier",
            format!("identifier {value:?}: {why}"),
        )
    };
    match kind {
        "dns" => {
            let base = value.strip_prefix("*.").unwrap_or(value);
            if base.is_empty() || base.len() > 253 {
                return Err(rejected("bad length"));
            }
            if base.parse::<IpAddr>().is_ok() {
                return Err(rejected("an IP address as a dns identifier"));
            }
            for label in base.split('.') {
                let ok = !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                if !ok {
                    return Err(rejected("not a lowercase DNS name"));
                }
            }
            Ok(())
        }
        "ip" => value
            .parse::<IpAddr>()
            .map(|_| ())
            .map_err(|_| malformed(format!("{value:?} is not an IP address"))),
        other => Err(problem(
            StatusCode::BAD_REQUEST,
            "unsupportedIdentifier",
            format!("identifier type {other:?} is not supported"),
        )),
    }
}

fn parse_cert_id(s: &str) -> Result<(), Problem> {
    let Some((aki, serial)) = s.split_once('.') else {
        return Err(malformed(format!(
            "certificate ID {s:?} is not base64url(AKI).base64url(serial)"
        )));
    };
    if serial.contains('.')
        || URL_SAFE_NO_PAD.decode(aki).is_err()
        || URL_SAFE_NO_PAD.decode(serial).is_err()
        || aki.is_empty()
        || serial.is_empty()
    {
        return Err(malformed(format!(
            "certificate ID {s:?} is not base64url(AKI).base64url(serial)"
        )));
    }
    Ok(())
}

async fn new_order(State(app): State<App>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    handle(
        &app,
        "newOrder",
        &headers,
        &uri,
        &body,
        KeyMode::Kid,
        |app, st, jws| {
            let payload = jws
                .payload
                .ok_or_else(|| malformed("newOrder needs a payload"))?;
            let account = app.account_url(jws.account.unwrap_or_default());
            let list = payload["identifiers"]
                .as_array()
                .filter(|l| !l.is_empty())
                .ok_or_else(|| malformed("identifiers must be a non-empty array"))?;
            let mut identifiers = Vec::new();
            for i in list {
                let (Some(t), Some(v)) = (i["type"].as_str(), i["value"].as_str()) else {
                    return Err(malformed("an identifier needs type and value"));
                };
                check_identifier(t, v)?;
                if !identifiers.iter().any(|(_, x)| x == v) {
                    identifiers.push((t.to_string(), v.to_string()));
                }
            }
            let profile = match payload.get("profile") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if PROFILES.iter().any(|(n, _, _)| *n == p.as_str()) => {
                    Some(p.clone())
                }
                Some(p) => {
                    return Err(problem(
                        StatusCode::BAD_REQUEST,
                        "invalidProfile",
                        format!(
                            "profile {p} is not offered; offered: {}",
                            PROFILES.map(|(n, _, _)| n).join(", ")
                        ),
                    ));
                }
            };
            let replaces = match payload.get("replaces") {
                None | Some(Value::Null) => None,
                Some(Value::String(r)) => {
                    parse_cert_id(r)?;
                    let Some(old) = st.certs.values().find(|c| &c.info.cert_id == r) else {
                        return Err(malformed(format!(
                            "replaces {r:?}: no certificate with this ID was issued here"
                        )));
                    };
                    if old.account != account {
                        return Err(malformed(format!(
                            "replaces {r:?}: the certificate was issued to another account"
                        )));
                    }
                    if !old
                        .info
                        .identifiers
                        .iter()
                        .any(|n| identifiers.iter().any(|(_, v)| v.eq_ignore_ascii_case(n)))
                    {
                        return Err(malformed(format!(
                            "replaces {r:?}: the order shares no identifier with the certificate"
                        )));
                    }
                    if st.orders.values().any(|o| {
                        o.replaces.as_deref() == Some(r.as_str()) && o.stored == Stored::Valid
                    }) {
                        return Err(problem(
                            StatusCode::CONFLICT,
                            "alreadyReplaced",
                            format!("certificate {r} was already replaced by a finalized order"),
                        ));
                    }
                    Some(r.clone())
                }
                Some(_) => return Err(malformed("replaces must be a string")),
            };
            let now = Timestamp::now();
            let mut authzs = Vec::new();
            for (t, v) in &identifiers {
                let id = st.id();
                let wildcard = v.starts_with("*.");
                let kinds: &[&'static str] = if wildcard {
                    &["dns-01"]
                } else if t == "ip" {
                    &["http-01"]
                } else {
                    &["http-01", "dns-01"]
                };
                let pending =
                    st.pending_authorizations || matches!(st.validation, Validation::Real { .. });
                let challenges = kinds
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|(i, _)| pending || *i == 0)
                    .map(|(_, kind)| ChallRec {
                        kind,
                        token: random_b64(32),
                        status: if pending { "pending" } else { "valid" },
                        validated: (!pending).then_some(now),
                        error: None,
                    })
                    .collect();
                st.authzs.insert(
                    id,
                    AuthzRec {
                        account: account.clone(),
                        kind: t.clone(),
                        value: v.strip_prefix("*.").unwrap_or(v).to_string(),
                        wildcard,
                        status: if pending { "pending" } else { "valid" },
                        challenges,
                        expires: now + SignedDuration::from_hours(7 * 24),
                    },
                );
                authzs.push(id);
            }
            let id = st.id();
            let o = OrderRec {
                url: app.order_url(id),
                account,
                identifiers,
                profile,
                replaces,
                authzs,
                stored: Stored::Open,
                cert: None,
                expires: now + SignedDuration::from_hours(7 * 24),
            };
            if let Some(a) = jws.account.and_then(|a| st.accounts.get_mut(&a)) {
                a.orders.push(o.url.clone());
            }
            let rsp = json_response(StatusCode::CREATED, Some(&o.url), &app.order_json(st, &o));
            st.orders.insert(id, o);
            Ok(rsp)
        },
    )
}

async fn order(
    State(app): State<App>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    handle(
        &app,
        "order",
        &headers,
        &uri,
        &body,
        KeyMode::Kid,
        |app, st, jws| {
            require_get(&jws)?;
            let o = st
                .orders
                .get_mut(&id)
                .ok_or_else(|| not_found("no such order"))?;
            owner(&jws, &o.account, app)?;
            if o.stored == Stored::Processing {
                // Finalize answered processing; the first poll finds it valid.
                o.stored = Stored::Valid;
            }
            let o = &st.orders[&id];
            Ok(json_response(
                StatusCode::OK,
                Some(&o.url),
                &app.order_json(st, o),
            ))
        },
    )
}

/// The names a CSR asks for (SAN DNS names and IPs, and the CN), lowercased.
fn csr_names(
    csr: &x509_parser::certification_request::X509CertificationRequest<'_>,
) -> Vec<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let mut names = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for n in &san.general_names {
                match n {
                    GeneralName::DNSName(d) => names.push(d.to_ascii_lowercase()),
                    GeneralName::IPAddress(b) => {
                        let ip = match b.len() {
                            4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                            16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                            _ => None,
                        };
                        names.push(ip.map_or_else(|| "<bad ip>".to_string(), |i| i.to_string()));
                    }
                    _ => names.push("<unsupported SAN>".to_string()),
                }
            }
        }
    }
    for cn in csr.certification_request_info.subject.iter_common_name() {
        if let Ok(cn) = cn.as_str() {
            let cn = cn.to_ascii_lowercase();
            if !names.contains(&cn) {
                names.push(cn);
            }
        }
    }
    names
}

fn bad_csr(detail: impl Into<String>) -> Problem {
    problem(StatusCode::BAD_REQUEST, "badCSR", detail)
}

/// Issues the certificate of order `id` from the CSR; returns the cert record.
fn issue(app: &App, st: &mut MockState, id: u64, csr_der: &[u8]) -> Result<(), Problem> {
    use x509_parser::prelude::FromDer;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(csr_der)
        .map_err(|e| bad_csr(format!("CSR does not parse: {e}")))?;
    csr.verify_signature()
        .map_err(|e| bad_csr(format!("CSR signature does not verify: {e}")))?;
    let o = &st.orders[&id];
    let mut names = csr_names(&csr);
    names.sort();
    names.dedup();
    let mut wanted: Vec<String> = o
        .identifiers
        .iter()
        .map(|(_, v)| v.to_ascii_lowercase())
        .collect();
    wanted.sort();
    if names != wanted {
        return Err(bad_csr(format!(
            "CSR names {names:?} are not the order's identifiers {wanted:?}"
        )));
    }
    let spki_der = csr.certification_request_info.subject_pki.raw;
    let account_key = st
        .accounts
        .values()
        .find(|a| a.url == o.account)
        .map(|a| a.jwk.clone());
    if let Some(jwk) = account_key
        && let (Ok(x), Ok(y)) = (jwk_field(&jwk, "x"), jwk_field(&jwk, "y"))
        && csr
            .certification_request_info
            .subject_pki
            .subject_public_key
            .data
            .ends_with(&[x, y].concat())
    {
        return Err(bad_csr("the CSR's key is the account key"));
    }
    let spki = rcgen::SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| bad_csr(format!("unsupported CSR public key: {e}")))?;

    let profile = o.profile.clone();
    let validity = PROFILES
        .iter()
        .find(|(n, _, _)| *n == profile.as_deref().unwrap_or(DEFAULT_PROFILE))
        .map_or(PROFILES[0].2, |p| p.2);
    let not_before = Timestamp::from_second(Timestamp::now().as_second() - 60)
        .map_err(|e| malformed(e.to_string()))?;
    let not_after = not_before + validity;

    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = o
        .identifiers
        .iter()
        .map(|(_, v)| match v.parse::<IpAddr>() {
            Ok(ip) => Ok(rcgen::SanType::IpAddress(ip)),
            Err(_) => v
                .clone()
                .try_into()
                .map(rcgen::SanType::DnsName)
                .map_err(|e| bad_csr(format!("{v}: {e}"))),
        })
        .collect::<Result<_, _>>()?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if profile.as_deref() != Some("shortlived")
        && let Some((_, v)) = o.identifiers.iter().find(|(_, v)| v.len() <= 64)
    {
        // classic carries a CN; shortlived (like Let's Encrypt's) has an empty subject.
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, v.clone());
    }
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let secs = |t: Timestamp| Duration::from_secs(t.as_second().unsigned_abs());
    params.not_before = epoch + secs(not_before);
    params.not_after = epoch + secs(not_after);
    let mut serial = uuid::Uuid::new_v4().as_bytes().to_vec();
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    if csr
        .certification_request_info
        .subject_pki
        .algorithm
        .algorithm
        == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION
    {
        params
            .key_usages
            .push(rcgen::KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params
        .signed_by(&spki, &st.issuer)
        .map_err(|e| bad_csr(format!("cannot sign: {e}")))?;
    let der = cert.der().to_vec();
    let cert_id = cert_id_of(&der).map_err(malformed)?;

    let cert_rec_id = st.id();
    let o = &st.orders[&id];
    let info = IssuedCert {
        cert_id,
        identifiers: o.identifiers.iter().map(|(_, v)| v.clone()).collect(),
        not_before,
        not_after,
        profile,
        replaces: o.replaces.clone(),
        order_url: o.url.clone(),
        certificate_url: app.cert_url(cert_rec_id),
        chain_pem: format!("{}{}", pem_of(&der), st.intermediate_pem),
        revoked: false,
    };
    let account = o.account.clone();
    st.certs.insert(cert_rec_id, CertRec { account, der, info });
    if let Some(o) = st.orders.get_mut(&id) {
        o.cert = Some(cert_rec_id);
    }
    Ok(())
}

async fn finalize(
    State(app): State<App>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    handle(
        &app,
        "finalize",
        &headers,
        &uri,
        &body,
        KeyMode::Kid,
        |app, st, jws| {
            let o = st
                .orders
                .get(&id)
                .ok_or_else(|| not_found("no such order"))?;
            owner(&jws, &o.account, app)?;
            let status = st.order_status(o);
            if status != "ready" {
                return Err(problem(
                    StatusCode::FORBIDDEN,
                    "orderNotReady",
                    format!("the order is {status}, not ready"),
                ));
            }
            let csr = jws
                .payload
                .as_ref()
                .and_then(|p| p["csr"].as_str())
                .ok_or_else(|| malformed("finalize needs a payload with csr"))?;
            let csr_der = URL_SAFE_NO_PAD
                .decode(csr)
                .map_err(|e| malformed(format!("csr is not base64url: {e}")))?;
            issue(app, st, id, &csr_der)?;
            let async_finalize = st.async_finalize;
            let o = st
                .orders
                .get_mut(&id)
                .ok_or_else(|| not_found("no such order"))?;
            o.stored = if async_finalize {
                Stored::Processing
            } else {
                Stored::Valid
            };
            let o = &st.orders[&id];
            let mut rsp = json_response(StatusCode::OK, Some(&o.url), &app.order_json(st, o));
            if async_finalize {
                rsp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Ok(rsp)
        },
    )
}

async fn authz(
    State(app): State<App>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    handle(
        &app,
        "authz",
        &headers,
        &uri,
        &body,
        KeyMode::Kid,
        |app, st, jws| {
            let a = st
                .authzs
                .get_mut(&id)
                .ok_or_else(|| not_found("no such authorization"))?;
            owner(&jws, &a.account, app)?;
            if let Some(p) = &jws.payload {
                match p["status"].as_str() {
                    Some("deactivated") if matches!(a.status, "pending" | "valid") => {
                        a.status = "deactivated";
                    }
                    Some("deactivated") => {
                        return Err(malformed(format!(
                            "cannot deactivate a {} authorization",
                            a.status
                        )));
                    }
                    _ => return Err(malformed("an authorization takes only status deactivated")),
                }
            }
            Ok(json_response(
                StatusCode::OK,
                Some(&app.authz_url(id)),
                &app.authz_json(id, a),
            ))
        },
    )
}

async fn challenge(
    State(app): State<App>,
    Path((id, kind)): Path<(u64, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    handle(
        &app,
        "challenge",
        &headers,
        &uri,
        &body,
        KeyMode::Kid,
        |app, st, jws| {
            let a = st
                .authzs
                .get_mut(&id)
                .ok_or_else(|| not_found("no such challenge"))?;
            owner(&jws, &a.account, app)?;
            let authz_pending = a.status == "pending";
            let busy = a.challenges.iter().any(|c| c.status == "processing");
            let (value, account) = (a.value.clone(), a.account.clone());
            let c = a
                .challenges
                .iter_mut()
                .find(|c| c.kind == kind)
                .ok_or_else(|| not_found("no such challenge"))?;
            if jws.payload.is_some() && authz_pending && !busy && c.status == "pending" {
                match st.validation {
                    Validation::Instant => {
                        // Responding to a challenge validates it at once.
                        c.status = "valid";
                        c.validated = Some(Timestamp::now());
                        a.status = "valid";
                    }
                    Validation::Real { http01, dns } => {
                        c.status = "processing";
                        let task = Check {
                            authz: id,
                            kind: c.kind,
                            token: c.token.clone(),
                            identifier: value,
                            http01,
                            dns,
                        };
                        let thumbprint = st
                            .accounts
                            .values()
                            .find(|acct| acct.url == account)
                            .and_then(|acct| canonical_jwk(&acct.jwk).ok())
                            .and_then(|jwk| sha256(jwk.as_bytes()));
                        let app2 = app.clone();
                        let mut tasks = app
                            .validations
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        while tasks.try_join_next().is_some() {}
                        tasks.spawn(async move {
                            let outcome = match thumbprint {
                                Some(t) => task.run(&URL_SAFE_NO_PAD.encode(t)).await,
                                None => Err(challenge_problem(
                                    "serverInternal",
                                    500,
                                    "cannot compute the account key's thumbprint",
                                )),
                            };
                            task.record(&app2, outcome);
                        });
                    }
                }
            }
            let a = st
                .authzs
                .get(&id)
                .ok_or_else(|| not_found("no such challenge"))?;
            let c = a
                .challenges
                .iter()
                .find(|c| c.kind == kind)
                .ok_or_else(|| not_found("no such challenge"))?;
            let mut rsp = json_response(StatusCode::OK, None, &app.chall_json(id, c));
            if let Ok(v) = HeaderValue::from_str(&format!("<{}>;rel=\"up\"", app.authz_url(id))) {
                rsp.headers_mut().append(header::LINK, v);
            }
            Ok(rsp)
        },
    )
}

async fn certificate(
    State(app): State<App>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    handle(
        &app,
        "certificate",
        &headers,
        &uri,
        &body,
        KeyMode::Kid,
        |app, st, jws| {
            require_get(&jws)?;
            let c = st
                .certs
                .get(&id)
                .ok_or_else(|| not_found("no such certificate"))?;
            owner(&jws, &c.account, app)?;
            // Not downloadable while the order still shows processing.
            if st
                .orders
                .values()
                .any(|o| o.cert == Some(id) && o.stored != Stored::Valid)
            {
                return Err(not_found("no such certificate"));
            }
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
                c.info.chain_pem.clone(),
            )
                .into_response())
        },
    )
}

async fn revoke_cert(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    handle(
        &app,
        "revokeCert",
        &headers,
        &uri,
        &body,
        KeyMode::Either,
        |app, st, jws| {
            let payload = jws
                .payload
                .ok_or_else(|| malformed("revokeCert needs a payload"))?;
            let der = payload["certificate"]
                .as_str()
                .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
                .ok_or_else(|| malformed("certificate must be base64url DER"))?;
            if let Some(r) = payload.get("reason")
                && !matches!(r.as_u64(), Some(0..=6 | 8..=10))
            {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    "badRevocationReason",
                    format!("reason {r} is not allowed"),
                ));
            }
            let c = st
                .certs
                .values_mut()
                .find(|c| c.der == der)
                .ok_or_else(|| not_found("the certificate was not issued here"))?;
            match jws.account {
                Some(a) if app.account_url(a) == c.account => {}
                Some(_) => return Err(unauthorized("the certificate belongs to another account")),
                None => {
                    // Signed by the certificate's key: its EC point must be the JWK's.
                    let (_, parsed) = x509_parser::parse_x509_certificate(&c.der)
                        .map_err(|e| malformed(e.to_string()))?;
                    let point = parsed.public_key().subject_public_key.data.to_vec();
                    let (x, y) = (
                        jwk_field(&jws.jwk, "x").map_err(unauthorized)?,
                        jwk_field(&jws.jwk, "y").map_err(unauthorized)?,
                    );
                    if point != [vec![4], x, y].concat() {
                        return Err(unauthorized("the JWK is not the certificate's key"));
                    }
                }
            }
            if c.info.revoked {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    "alreadyRevoked",
                    "the certificate is already revoked",
                ));
            }
            c.info.revoked = true;
            Ok(StatusCode::OK.into_response())
        },
    )
}

async fn key_change(State(app): State<App>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    let url = request_url(&headers, &uri, &app.base);
    handle(
        &app,
        "keyChange",
        &headers,
        &uri,
        &body,
        KeyMode::Kid,
        |app, st, jws| {
            let inner = jws
                .payload
                .ok_or_else(|| malformed("keyChange needs a payload"))?;
            let inner = serde_json::to_vec(&inner).map_err(|e| malformed(e.to_string()))?;
            let new = parse_jws(st, &inner, &url, KeyMode::Jwk, false)?;
            let id = jws.account.unwrap_or_default();
            let p = new
                .payload
                .ok_or_else(|| malformed("the inner JWS needs a payload"))?;
            let acct_url = app.account_url(id);
            if p["account"] != acct_url.as_str() {
                return Err(malformed("the inner payload's account is not the kid"));
            }
            let old_key = canonical_jwk(&p["oldKey"]).map_err(malformed)?;
            let new_key = canonical_jwk(&new.jwk).map_err(malformed)?;
            if let Some(other) = st.accounts.values().find(|a| a.key == new_key) {
                let mut pr = problem(
                    StatusCode::CONFLICT,
                    "malformed",
                    "the new key is already in use",
                );
                pr.headers.push((header::LOCATION, other.url.clone()));
                return Err(pr);
            }
            let a = st
                .accounts
                .get_mut(&id)
                .ok_or_else(|| not_found("no such account"))?;
            if a.key != old_key {
                return Err(malformed("oldKey is not the account's key"));
            }
            a.key = new_key;
            a.jwk = new.jwk;
            Ok(json_response(
                StatusCode::OK,
                Some(&a.url),
                &app.account_json(a),
            ))
        },
    )
}

async fn renewal_info(State(app): State<App>, Path(id): Path<String>) -> Response {
    let mut st = app.lock();
    st.count("renewalInfo");
    if let Err(p) = parse_cert_id(&id) {
        return p.into_response();
    }
    let Some(c) = st.certs.values().find(|c| c.info.cert_id == id) else {
        return not_found(format!("no certificate {id} was issued here")).into_response();
    };
    let now = Timestamp::now();
    let (start, end) = if let Some(w) = st.windows.get(&id) {
        *w
    } else if let Some(w) = st.window_all {
        w
    } else if c.info.revoked {
        (
            now - SignedDuration::from_hours(2),
            now - SignedDuration::from_hours(1),
        )
    } else {
        let life = c.info.not_after.duration_since(c.info.not_before);
        (
            c.info.not_before + life * 2 / 3,
            c.info.not_before + life * 3 / 4,
        )
    };
    let mut body = json!({"suggestedWindow": {"start": start.to_string(), "end": end.to_string()}});
    if let Some(u) = &st.explanation_url {
        body["explanationURL"] = json!(u);
    }
    let mut rsp = json_response(StatusCode::OK, None, &body);
    if let Ok(v) = HeaderValue::from_str(&st.retry_after.to_string()) {
        rsp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    rsp
}

// ---------------------------------------------------------------------------------
// Real challenge validation (Validation::Real)

/// How long one validation may take, as Let's Encrypt's 10 s per attempt.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an HTTP-01 response body read.
const MAX_HTTP01_BODY: usize = 64 * 1024;

/// SHA-256, through the hash of rustls' aws-lc-rs TLS 1.3 suite.
fn sha256(data: &[u8]) -> Option<Vec<u8>> {
    rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .map(|s| s.common.hash_provider.hash(data).as_ref().to_vec())
}

/// A challenge's problem document (`kind` without the URN prefix).
fn challenge_problem(kind: &str, status: u16, detail: impl Into<String>) -> Value {
    json!({
        "type": format!("urn:ietf:params:acme:error:{kind}"),
        "detail": detail.into(),
        "status": status,
    })
}

/// `s` quoted for a problem's detail, cut to 128 characters as Boulder does.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(128).collect();
    cut.escape_default().to_string()
}

/// One challenge being validated.
struct Check {
    authz: u64,
    kind: &'static str,
    token: String,
    /// The identifier's value (`*.` stripped).
    identifier: String,
    http01: SocketAddr,
    dns: SocketAddr,
}

impl Check {
    /// Validates the challenge: `Ok` or the problem.
    async fn run(&self, thumbprint: &str) -> Result<(), Value> {
        let key_authorization = format!("{}.{thumbprint}", self.token);
        match self.kind {
            "http-01" => {
                http01(
                    self.http01,
                    &self.identifier,
                    &self.token,
                    &key_authorization,
                )
                .await
            }
            "dns-01" => {
                let digest = sha256(key_authorization.as_bytes()).ok_or_else(|| {
                    challenge_problem("serverInternal", 500, "cannot compute SHA-256")
                })?;
                dns01(self.dns, &self.identifier, &URL_SAFE_NO_PAD.encode(digest)).await
            }
            other => Err(challenge_problem(
                "serverInternal",
                500,
                format!("cannot validate a {other} challenge"),
            )),
        }
    }

    /// Records the outcome on the challenge and its authorization (the order's status
    /// follows from them).
    fn record(&self, app: &App, outcome: Result<(), Value>) {
        let mut st = app.lock();
        let Some(a) = st.authzs.get_mut(&self.authz) else {
            return;
        };
        let Some(c) = a
            .challenges
            .iter_mut()
            .find(|c| c.kind == self.kind && c.status == "processing")
        else {
            return;
        };
        let status = match outcome {
            Ok(()) => {
                c.validated = Some(Timestamp::now());
                "valid"
            }
            Err(problem) => {
                c.error = Some(problem);
                "invalid"
            }
        };
        c.status = status;
        if a.status == "pending" {
            a.status = status;
        }
    }
}

/// The host part of a URL for an identifier (IPv6 addresses in brackets).
fn url_host(identifier: &str) -> String {
    match identifier.parse::<Ipv6Addr>() {
        Ok(ip) => format!("[{ip}]"),
        Err(_) => identifier.to_string(),
    }
}

/// HTTP-01: the key authorization fetched from `addr` with `Host: identifier`.
async fn http01(
    addr: SocketAddr,
    identifier: &str,
    token: &str,
    key_authorization: &str,
) -> Result<(), Value> {
    use http_body_util::BodyExt as _;

    let host = url_host(identifier);
    let path = format!("/.well-known/acme-challenge/{token}");
    let url = format!("http://{host}{path}");
    let connection = |why: String| {
        challenge_problem(
            "connection",
            400,
            format!("{}: Fetching {url}: {why}", addr.ip()),
        )
    };
    let deadline = tokio::time::Instant::now() + VALIDATION_TIMEOUT;
    let tcp = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
        Err(_) => {
            return Err(connection(
                "Timeout during connect (likely firewall problem)".into(),
            ));
        }
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(connection("Connection refused".into()));
        }
        Ok(Err(e)) => return Err(connection(format!("Error getting validation data: {e}"))),
        Ok(Ok(tcp)) => tcp,
    };
    let exchange = async {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .map_err(|e| format!("Error getting validation data: {e}"))?;
        let driver = tokio::spawn(conn);
        let request = axum::http::Request::get(path.as_str())
            .header(header::HOST, host.as_str())
            .header(header::USER_AGENT, "certgate-testca")
            .header(header::ACCEPT, "*/*")
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| format!("Error building the request: {e}"))?;
        let rsp = sender
            .send_request(request)
            .await
            .map_err(|e| format!("Error getting validation data: {e}"))?;
        let status = rsp.status();
        let body = http_body_util::Limited::new(rsp.into_body(), MAX_HTTP01_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| format!("Error reading the response body: {e}"));
        driver.abort();
        Ok::<_, String>((status, body))
    };
    let (status, body) = match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => {
            return Err(connection(
                "Timeout after connect (your server may be slow or overloaded)".into(),
            ));
        }
        Ok(Err(why)) => return Err(connection(why)),
        Ok(Ok(r)) => r,
    };
    if status != StatusCode::OK {
        let redirect = if status.is_redirection() {
            " (this CA follows no redirects)"
        } else {
            ""
        };
        return Err(challenge_problem(
            "unauthorized",
            403,
            format!(
                "{}: Invalid response from {url}: {}{redirect}",
                addr.ip(),
                status.as_u16()
            ),
        ));
    }
    let body = body.map_err(connection)?;
    let got = String::from_utf8_lossy(&body);
    let got = got.trim();
    if got != key_authorization {
        return Err(challenge_problem(
            "incorrectResponse",
            403,
            format!(
                "The key authorization file from the server did not match this challenge. \
                 Expected \"{key_authorization}\" (got \"{}\")",
                shown(got)
            ),
        ));
    }
    Ok(())
}

/// DNS-01: one TXT value at `_acme-challenge.<domain>`, asked of `server`, must be
/// `expected`.
async fn dns01(server: SocketAddr, domain: &str, expected: &str) -> Result<(), Value> {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RData;

    let name = format!("_acme-challenge.{domain}");
    let dns_problem = |what: &str, hint: &str| {
        challenge_problem(
            "dns",
            400,
            format!("DNS problem: {what} looking up TXT for {name}{hint}"),
        )
    };
    let response = match tokio::time::timeout(VALIDATION_TIMEOUT, query_txt(server, &name)).await {
        Err(_) => return Err(dns_problem("query timed out", "")),
        Ok(Err(DnsFailure::Network(e))) => {
            return Err(dns_problem(&format!("networking error ({e})"), ""));
        }
        Ok(Err(DnsFailure::Malformed(e))) => {
            return Err(dns_problem(&format!("malformed response ({e})"), ""));
        }
        Ok(Ok(m)) => m,
    };
    match response.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => {
            return Err(dns_problem(
                "NXDOMAIN",
                " - check that a DNS record exists for this domain",
            ));
        }
        ResponseCode::ServFail => {
            return Err(dns_problem(
                "SERVFAIL",
                " - the domain's nameservers may be malfunctioning",
            ));
        }
        ResponseCode::Refused => return Err(dns_problem("REFUSED", "")),
        other => return Err(dns_problem(&format!("rcode {}", u16::from(other)), "")),
    }
    let values: Vec<String> = response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part))
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect();
    if values.iter().any(|v| v == expected) {
        return Ok(());
    }
    match values.as_slice() {
        [] => Err(challenge_problem(
            "unauthorized",
            403,
            format!("No TXT record found at {name}"),
        )),
        [first, rest @ ..] => {
            let more = if rest.is_empty() {
                String::new()
            } else {
                format!(" (and {} more)", rest.len())
            };
            Err(challenge_problem(
                "unauthorized",
                403,
                format!(
                    "Incorrect TXT record \"{}\"{more} found at {name}",
                    shown(first)
                ),
            ))
        }
    }
}

enum DnsFailure {
    Network(io::Error),
    Malformed(String),
}

/// A TXT query to one server: over UDP, again over TCP when the answer is truncated.
async fn query_txt(
    server: SocketAddr,
    name: &str,
) -> Result<hickory_proto::op::Message, DnsFailure> {
    use hickory_proto::op::{Edns, Message, MessageType, Query};
    use hickory_proto::rr::{Name, RecordType};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let qname = Name::from_ascii(format!("{name}."))
        .map_err(|e| DnsFailure::Malformed(format!("bad name {name:?}: {e}")))?;
    let mut query = Message::query();
    query.add_query(Query::query(qname, RecordType::TXT));
    query.metadata.recursion_desired = true;
    let mut edns = Edns::new();
    edns.set_max_payload(1232).set_version(0);
    query.edns = Some(edns);
    let id = query.metadata.id;
    let bytes = query
        .to_vec()
        .map_err(|e| DnsFailure::Malformed(e.to_string()))?;
    let is_answer =
        |m: &Message| m.metadata.id == id && m.metadata.message_type == MessageType::Response;

    // UDP.
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let udp = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(DnsFailure::Network)?;
    udp.connect(server).await.map_err(DnsFailure::Network)?;
    udp.send(&bytes).await.map_err(DnsFailure::Network)?;
    let mut buf = vec![0u8; 65535];
    let response = loop {
        let n = udp.recv(&mut buf).await.map_err(DnsFailure::Network)?;
        // Not an answer to this query (or garbage): keep waiting, as resolvers do.
        if let Some(m) = buf.get(..n).and_then(|b| Message::from_vec(b).ok())
            && is_answer(&m)
        {
            break m;
        }
    };
    if !response.metadata.truncation {
        return Ok(response);
    }

    // Truncated: TCP, length-prefixed.
    let mut tcp = TcpStream::connect(server)
        .await
        .map_err(DnsFailure::Network)?;
    let len =
        u16::try_from(bytes.len()).map_err(|_| DnsFailure::Malformed("query too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    tcp.write_all(&framed).await.map_err(DnsFailure::Network)?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len)
        .await
        .map_err(DnsFailure::Network)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut buf)
        .await
        .map_err(DnsFailure::Network)?;
    let response = Message::from_vec(&buf).map_err(|e| DnsFailure::Malformed(e.to_string()))?;
    if !is_answer(&response) {
        return Err(DnsFailure::Malformed(
            "the TCP answer is not for this query".into(),
        ));
    }
    Ok(response)
}

// ---------------------------------------------------------------------------------
// TLS over a TCP stream, for hyper (tokio-rustls is not a dependency of this crate).

struct TlsStream {
    tcp: TcpStream,
    conn: rustls::ServerConnection,
    eof: bool,
}

struct SyncIo<'a, 'b> {
    tcp: &'a mut TcpStream,
    cx: &'a mut Context<'b>,
}

impl Read for SyncIo<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut *self.tcp).poll_read(self.cx, &mut rb) {
            Poll::Ready(Ok(())) => Ok(rb.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for SyncIo<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.tcp).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.tcp).poll_flush(self.cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl TlsStream {
    /// Writes pending TLS records to the socket.
    fn poll_write_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut io = SyncIo {
                tcp: &mut self.tcp,
                cx,
            };
            match self.conn.write_tls(&mut io) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads TLS records from the socket into the connection; `Ok(0)` at EOF.
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut io = SyncIo {
            tcp: &mut self.tcp,
            cx,
        };
        match self.conn.read_tls(&mut io) {
            Ok(n) => {
                if let Err(e) = self.conn.process_new_packets() {
                    let _ = self.poll_write_tls(cx); // the alert
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                }
                Poll::Ready(Ok(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.conn.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed without close_notify: EOF all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Ok(()));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Poll::Ready(Err(e)) = this.poll_write_tls(cx) {
                return Poll::Ready(Err(e));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.poll_read_tls(cx)) {
                Ok(0) => this.eof = true,
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = this.conn.writer().write(buf)?;
        let flushed = this.poll_write_tls(cx);
        if let Poll::Ready(Err(e)) = flushed {
            return Poll::Ready(Err(e));
        }
        if n > 0 || buf.is_empty() {
            return Poll::Ready(Ok(n));
        }
        if flushed.is_ready() {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.conn.writer().flush()?;
        ready!(this.poll_write_tls(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.conn.send_close_notify();
        let _ = ready!(this.poll_write_tls(cx));
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
