//! The transport: HTTPS to the ACME server with hyper-util and rustls (aws-lc-rs),
//! trusting what the issuer says — the platform's roots, `spec.acme.caBundle`, or
//! anything with `spec.acme.skipTLSVerify` (`super::super::client::new_client`
//! builds it for an issuer). Every request is counted and timed in
//! `certmanager_http_acme_client_request_count` / `_duration_seconds` (status 999
//! when no response came), response bodies are capped, and requests time out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full, Limited};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::de::DeserializeOwned;

use crate::api::AcmeIssuer;
use crate::issuers::acme::client::{ClientError, roots_from_bundle};
use crate::metrics::{ACME_CLIENT_DURATION, ACME_CLIENT_REQUESTS, Metrics};

use super::links;
use super::problem::{Error, Problem};

/// cert-manager's cap on one ACME response body (`maxACMEResponseBodyBytes`).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 << 20;
/// How long one request may take, response body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The action label of a request outside any named action (cert-manager's).
pub const UNNAMED_ACTION: &str = "unnamed_action";

/// Reads the action label the calling task set, or [`UNNAMED_ACTION`]. For the
/// label `super::super::client::with_action` sets, pass that module's reader
/// (`new_client` does).
pub type TaskAction = fn() -> &'static str;

/// The reader used when none is given: no task label, so every request carries
/// its operation's own cert-manager action name.
pub fn no_task_action() -> &'static str {
    UNNAMED_ACTION
}

/// How to reach the ACME server.
#[derive(Clone)]
pub struct HttpOptions {
    /// `spec.acme.caBundle`: base64 of PEM CA certificates to trust instead of the
    /// platform's roots.
    pub ca_bundle: Option<String>,
    /// `spec.acme.skipTLSVerify`.
    pub skip_tls_verify: bool,
    /// Where requests are counted, if anywhere.
    pub metrics: Option<Arc<Metrics>>,
    /// The task's action label; a request whose task has none is labelled with its
    /// operation (`discover`, `get_order`, …).
    pub task_action: TaskAction,
    /// Per request, until the whole body is read.
    pub timeout: Duration,
    pub max_response_bytes: usize,
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_bundle: None,
            skip_tls_verify: false,
            metrics: None,
            task_action: no_task_action,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            user_agent: concat!("certgate/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("ca_bundle", &self.ca_bundle.as_ref().map(|_| "<set>"))
            .field("skip_tls_verify", &self.skip_tls_verify)
            .field("metrics", &self.metrics.is_some())
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl HttpOptions {
    /// The options an issuer's `spec.acme` asks for.
    pub fn for_issuer(acme: &AcmeIssuer, metrics: Option<Arc<Metrics>>) -> HttpOptions {
        HttpOptions {
            ca_bundle: acme.ca_bundle.clone(),
            skip_tls_verify: acme.skip_tls_verify.unwrap_or(false),
            metrics,
            ..HttpOptions::default()
        }
    }
}

/// A complete response: status, headers and the (capped) body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The URL the request went to.
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `Location` header, resolved against the request URL.
    pub fn location(&self) -> Option<String> {
        self.header("location")
            .map(|l| links::resolve(&self.url, l.trim()))
    }

    /// The `Retry-After` header as a wait from now.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()))
    }

    /// The targets of the `Link` headers with relation `rel`.
    pub fn links(&self, rel: &str) -> Vec<String> {
        links::links_with_rel(&self.headers, rel, &self.url)
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::InvalidResponse {
            url: self.url.clone(),
            status: self.status,
            reason: format!("invalid JSON: {e}"),
        })
    }

    /// The error an error response stands for: its problem, status and Retry-After.
    pub fn into_error(self) -> Error {
        let retry_after = self.retry_after();
        Error::Server {
            problem: Box::new(Problem::from_response(self.status, &self.body)),
            status: self.status,
            retry_after,
            url: self.url,
        }
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date (IMF-fixdate,
/// or the obsolete RFC 850 and asctime forms), as a wait from `now`; a date in the
/// past is no wait. `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    const FORMATS: [&str; 3] = [
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    ];
    let at = FORMATS.iter().find_map(|f| {
        jiff::fmt::strtime::parse(f, value)
            .ok()?
            .to_datetime()
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    })?;
    let wait = at.duration_since(now);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum ReadError {
    TooLarge,
    Body(String),
}

/// The whole of `body`, refused once it passes `limit` bytes.
pub(crate) async fn read_capped<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ReadError::TooLarge),
        Err(e) => Err(ReadError::Body(error_chain(e.as_ref()))),
    }
}

/// An error and its sources, `: `-joined (hyper's own text alone says little).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cur = error.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cur = e.source();
    }
    text
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// The HTTP client of one ACME server.
pub struct Transport {
    client: HyperClient,
    options: HttpOptions,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A client trusting what `options` says.
    pub fn new(options: HttpOptions) -> Result<Transport, Error> {
        let bundle = options
            .ca_bundle
            .as_deref()
            .filter(|b| !b.trim().is_empty());
        let builder = if !options.skip_tls_verify && bundle.is_none() {
            hyper_rustls::HttpsConnectorBuilder::new()
                .try_with_platform_verifier()
                .map_err(|e| ClientError::Client(e.to_string()))?
        } else {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| ClientError::Client(e.to_string()))?;
            let config = if options.skip_tls_verify {
                tls.dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                    .with_no_client_auth()
            } else {
                let roots = roots_from_bundle(bundle.unwrap_or_default())?;
                tls.with_root_certificates(roots).with_no_client_auth()
            };
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        };
        let connector = builder
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp_connector());
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Transport { client, options })
    }

    /// An unauthenticated GET (the directory, renewal information).
    pub async fn get(&self, op: &'static str, url: &str) -> Result<Response, Error> {
        self.send(op, Method::GET, url, None).await
    }

    /// A HEAD (newNonce).
    pub async fn head(&self, op: &'static str, url: &str) -> Result<Response, Error> {
        self.send(op, Method::HEAD, url, None).await
    }

    /// A POST of a JWS (`application/jose+json`).
    pub async fn post_jose(
        &self,
        op: &'static str,
        url: &str,
        body: Vec<u8>,
    ) -> Result<Response, Error> {
        self.send(op, Method::POST, url, Some(body)).await
    }

    /// Sends a request and reads its whole response, whatever the status. `op` is
    /// the operation's action label, used when the task has none.
    async fn send(
        &self,
        op: &'static str,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, Error> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Error::InvalidInput(format!("invalid URL {url:?}: {e}")))?;
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(uri.clone())
            .header(http::header::USER_AGENT, self.options.user_agent.as_str());
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/jose+json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::InvalidInput(format!("cannot make a request to {url:?}: {e}")))?;

        let timeout = self.options.timeout;
        let started = Instant::now();
        let result = tokio::time::timeout(timeout, self.client.request(request)).await;
        // cert-manager's transport reports 999 when no response came.
        let status = match &result {
            Ok(Ok(r)) => r.status().as_u16().to_string(),
            _ => "999".to_string(),
        };
        self.record(&uri, op, &method, status, started.elapsed());
        let response = match result {
            Err(_) => {
                return Err(Error::Timeout {
                    url: url.to_string(),
                    timeout,
                });
            }
            Ok(Err(e)) => {
                return Err(Error::Transport {
                    url: url.to_string(),
                    reason: error_chain(&e),
                });
            }
            Ok(Ok(r)) => r,
        };
        let (parts, body) = response.into_parts();
        let left = timeout.saturating_sub(started.elapsed());
        let body =
            match tokio::time::timeout(left, read_capped(body, self.options.max_response_bytes))
                .await
            {
                Err(_) => {
                    return Err(Error::Timeout {
                        url: url.to_string(),
                        timeout,
                    });
                }
                Ok(Err(ReadError::TooLarge)) => {
                    return Err(Error::TooLarge {
                        url: url.to_string(),
                        limit: self.options.max_response_bytes,
                    });
                }
                Ok(Err(ReadError::Body(reason))) => {
                    return Err(Error::Transport {
                        url: url.to_string(),
                        reason,
                    });
                }
                Ok(Ok(b)) => b,
            };
        Ok(Response {
            url: url.to_string(),
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// Counts and times one request by scheme, host, action, method and status.
    fn record(
        &self,
        uri: &http::Uri,
        op: &'static str,
        method: &Method,
        status: String,
        elapsed: Duration,
    ) {
        let Some(metrics) = &self.options.metrics else {
            return;
        };
        let task = (self.options.task_action)();
        let action = if task == UNNAMED_ACTION { op } else { task };
        let labels = vec![
            ("scheme", uri.scheme_str().unwrap_or("https").to_string()),
            (
                "host",
                uri.authority().map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("action", action.to_string()),
            ("method", method.to_string()),
            ("status", status),
        ];
        metrics.observe(ACME_CLIENT_DURATION, labels.clone(), elapsed.as_secs_f64());
        metrics.inc(ACME_CLIENT_REQUESTS, labels);
    }
}

/// TCP with Nagle off: an ACME exchange is many small request/response pairs.
fn tcp_connector() -> hyper_util::client::legacy::connect::HttpConnector {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http
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

    fn now() -> jiff::Timestamp {
        "1994-11-06T08:49:00Z".parse().unwrap()
    }

    #[test]
    fn retry_after_in_seconds_and_as_http_dates() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        // The three HTTP-date forms RFC 9110 makes recipients accept.
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(date, now()),
                Some(Duration::from_secs(37)),
                "{date}"
            );
        }
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now()),
            Some(Duration::ZERO),
            "a date gone by is no wait"
        );
        for bad in ["", "soon", "-5", "1.5", "Sun, 06 Nov 1994"] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad:?}");
        }
    }

    #[test]
    fn error_responses_keep_problem_status_and_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "30".parse().unwrap());
        headers.insert("content-type", "application/problem+json".parse().unwrap());
        let r = Response {
            url: "https://ca.test/new-order".into(),
            status: 429,
            headers,
            body: Bytes::from_static(
                br#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down","status":429}"#,
            ),
        };
        let e = r.into_error();
        assert!(e.is_problem("rateLimited"));
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(e.problem().unwrap().detail(), "slow down");
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let mut headers = HeaderMap::new();
        headers.insert("location", "/my-account/7".parse().unwrap());
        let r = Response {
            url: "https://ca.test:14000/sign-me-up".into(),
            status: 201,
            headers,
            body: Bytes::new(),
        };
        assert_eq!(
            r.location().as_deref(),
            Some("https://ca.test:14000/my-account/7")
        );
    }

    #[tokio::test]
    async fn bodies_are_capped() {
        let body = Full::new(Bytes::from(vec![b'x'; 1000]));
        assert!(matches!(
            read_capped(body, 999).await,
            Err(ReadError::TooLarge)
        ));
        let body = Full::new(Bytes::from(vec![b'x'; 1000]));
        assert_eq!(read_capped(body, 1000).await.unwrap().len(), 1000);
    }

    #[tokio::test]
    async fn no_response_is_status_999_under_the_operations_action() {
        let metrics = Arc::new(Metrics::default());
        let transport = Transport::new(HttpOptions {
            skip_tls_verify: true,
            metrics: Some(metrics.clone()),
            timeout: Duration::from_secs(5),
            ..HttpOptions::default()
        })
        .unwrap();
        // Nothing listens on port 1.
        let err = transport
            .get("discover", "https://127.0.0.1:1/dir")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err}");
        let text = metrics.render(0.0);
        assert!(
            text.contains(r#"certmanager_http_acme_client_request_count{scheme="https",host="127.0.0.1:1",action="discover",method="GET",status="999"} 1"#),
            "{text}"
        );

        fn labelled() -> &'static str {
            "get_registration"
        }
        let transport = Transport::new(HttpOptions {
            skip_tls_verify: true,
            metrics: Some(metrics.clone()),
            task_action: labelled,
            ..HttpOptions::default()
        })
        .unwrap();
        let _ = transport
            .head("new_nonce", "https://127.0.0.1:1/nonce")
            .await;
        let text = metrics.render(0.0);
        assert!(
            text.contains(r#"action="get_registration",method="HEAD",status="999"} 1"#),
            "the task's label wins over the operation's: {text}"
        );
    }
}
