//! The login methods (`POST auth/<mount>/login`): AppRole, Kubernetes (the JWT judged
//! by the pluggable [`super::TokenReviewer`]), TLS certificates (the client
//! certificate of the connection), and AWS IAM (the signed `GetCallerIdentity`
//! request checked, then forwarded to the configured STS endpoint).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::{CertificateDer, UnixTime};
use serde_json::{Map, Value};

use super::server::{Peer, auth_block, envelope, json_response, string_field};
use super::{App, AuthKind, AuthMount, TokenSpec, VaultError, bad_request};

/// How long a token reviewer or STS may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// STS answers larger than this are refused.
const MAX_STS_RESPONSE: usize = 1 << 20;

/// The header Vault's AWS method binds a login to a server with.
const IAM_SERVER_ID_HEADER: &str = "X-Vault-AWS-IAM-Server-ID";

/// What a successful login grants.
struct Grant {
    token_ttl: Duration,
    /// Appended to the mount path in the token's `display_name`.
    display: Option<String>,
    metadata: BTreeMap<String, String>,
}

pub(super) async fn login(
    app: &App,
    ns: &str,
    mount: &str,
    kind: AuthKind,
    peer: &Peer,
    body: &Map<String, Value>,
) -> Result<Response, VaultError> {
    let method = match kind {
        AuthKind::AppRole => "approle",
        AuthKind::Kubernetes => "kubernetes",
        AuthKind::Cert => "cert",
        AuthKind::Aws => "aws",
    };
    *app.lock()
        .login_attempts
        .entry(method.to_string())
        .or_default() += 1;
    let grant = match kind {
        AuthKind::AppRole => approle(app, ns, mount, body)?,
        AuthKind::Kubernetes => kubernetes(app, ns, mount, body).await?,
        AuthKind::Cert => cert(app, ns, mount, peer, body)?,
        AuthKind::Aws => aws(app, ns, mount, body).await?,
    };
    let mut st = app.lock();
    *st.logins.entry(method.to_string()).or_default() += 1;
    let mount_name = mount.replace('/', "-");
    let token = st.issue_token(
        ns,
        TokenSpec {
            policies: vec!["default".into()],
            ttl: grant.token_ttl,
            renewable: true,
            path: format!("auth/{mount}/login"),
            display_name: match grant.display {
                Some(d) => format!("{mount_name}-{d}"),
                None => mount_name,
            },
            meta: Some(grant.metadata),
        },
    );
    let lease = token.creation_ttl;
    Ok(json_response(
        StatusCode::OK,
        &envelope(None, Some(auth_block(&token, lease)), &[], method),
    ))
}

/// A required string field; `missing <name>` when absent or empty.
fn required(body: &Map<String, Value>, name: &str) -> Result<String, VaultError> {
    string_field(body, name)?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad_request(format!("missing {name}")))
}

fn mount_gone() -> VaultError {
    VaultError::Internal("the auth mount went away".into())
}

/// `*` (anything), or Vault's `GlobbedStringsMatch`: a `*` prefix and/or suffix.
fn globbed_match(item: &str, value: &str) -> bool {
    if item == "*" {
        return true;
    }
    if item.len() < 2 {
        return item == value;
    }
    match (item.strip_prefix('*'), item.strip_suffix('*')) {
        (Some(_), Some(_)) => value.contains(&item[1..item.len() - 1]),
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => item == value,
    }
}

// ---------------------------------------------------------------------------------
// AppRole

fn approle(
    app: &App,
    ns: &str,
    mount: &str,
    body: &Map<String, Value>,
) -> Result<Grant, VaultError> {
    let role_id = required(body, "role_id")?;
    let secret_id = string_field(body, "secret_id")?.unwrap_or_default();
    let st = app.lock();
    let Some(AuthMount::AppRole(roles)) = st.namespaces.get(ns).and_then(|s| s.auth.get(mount))
    else {
        return Err(mount_gone());
    };
    let role = roles
        .get(&role_id)
        .ok_or_else(|| bad_request("invalid role or secret ID"))?;
    if secret_id.is_empty() {
        return Err(bad_request("missing secret_id"));
    }
    if secret_id != role.secret_id {
        return Err(bad_request("invalid role or secret ID"));
    }
    Ok(Grant {
        token_ttl: role.token_ttl,
        display: None,
        metadata: BTreeMap::from([("role_name".to_string(), role_id)]),
    })
}

// ---------------------------------------------------------------------------------
// Kubernetes

async fn kubernetes(
    app: &App,
    ns: &str,
    mount: &str,
    body: &Map<String, Value>,
) -> Result<Grant, VaultError> {
    let role_name = required(body, "role")?;
    let jwt = required(body, "jwt")?;
    let (role, reviewer) = {
        let st = app.lock();
        let Some(AuthMount::Kubernetes(roles)) =
            st.namespaces.get(ns).and_then(|s| s.auth.get(mount))
        else {
            return Err(mount_gone());
        };
        let role = roles
            .get(&role_name)
            .cloned()
            .ok_or_else(|| bad_request(format!("invalid role name \"{role_name}\"")))?;
        let reviewer = st.reviewer.clone().ok_or_else(|| {
            VaultError::Internal(
                "could not load backend configuration (no token reviewer: \
                 VaultEmulator::set_token_reviewer)"
                    .into(),
            )
        })?;
        (role, reviewer)
    };
    let reviewed = tokio::time::timeout(UPSTREAM_TIMEOUT, reviewer(jwt))
        .await
        .map_err(|_| VaultError::PermissionDenied)?
        .map_err(|_| VaultError::PermissionDenied)?;
    if let Some(audience) = &role.audience
        && !reviewed.audiences.contains(audience)
    {
        return Err(VaultError::PermissionDenied);
    }
    if !role
        .bound_service_account_namespaces
        .iter()
        .any(|n| globbed_match(n, &reviewed.namespace))
    {
        return Err(VaultError::Forbidden("namespace not authorized".into()));
    }
    if !role
        .bound_service_account_names
        .iter()
        .any(|n| globbed_match(n, &reviewed.name))
    {
        return Err(VaultError::Forbidden(
            "service account name not authorized".into(),
        ));
    }
    Ok(Grant {
        token_ttl: role.token_ttl,
        display: Some(format!("{}-{}", reviewed.namespace, reviewed.name)),
        metadata: BTreeMap::from([
            ("role".to_string(), role_name),
            ("service_account_name".to_string(), reviewed.name),
            ("service_account_namespace".to_string(), reviewed.namespace),
            ("service_account_secret_name".to_string(), String::new()),
            ("service_account_uid".to_string(), String::new()),
        ]),
    })
}

// ---------------------------------------------------------------------------------
// TLS certificates

fn cert(
    app: &App,
    ns: &str,
    mount: &str,
    peer: &Peer,
    body: &Map<String, Value>,
) -> Result<Grant, VaultError> {
    if !peer.tls {
        return Err(bad_request("tls connection required"));
    }
    let Some((leaf, intermediates)) = peer.certificates.split_first() else {
        return Err(bad_request("client certificate must be supplied"));
    };
    let name = string_field(body, "name")?.filter(|n| !n.is_empty());
    let roles: Vec<(String, super::CertRole)> = {
        let st = app.lock();
        let Some(AuthMount::Cert(roles)) = st.namespaces.get(ns).and_then(|s| s.auth.get(mount))
        else {
            return Err(mount_gone());
        };
        roles
            .iter()
            .filter(|(n, _)| name.as_ref().is_none_or(|want| want == *n))
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect()
    };
    let (role_name, role) = roles
        .into_iter()
        .find(|(_, role)| trusts(&role.certificates, leaf, intermediates))
        .ok_or_else(|| bad_request("invalid certificate or no client certificate supplied"))?;
    let mut metadata = BTreeMap::from([("cert_name".to_string(), role_name.clone())]);
    {
        use x509_parser::prelude::FromDer as _;
        if let Ok((_, parsed)) = x509_parser::certificate::X509Certificate::from_der(leaf) {
            let cn = parsed
                .subject()
                .iter_common_name()
                .find_map(|c| c.as_str().ok())
                .unwrap_or_default();
            metadata.insert("common_name".into(), cn.to_string());
            metadata.insert("serial_number".into(), parsed.serial.to_string());
        }
    }
    Ok(Grant {
        token_ttl: role.token_ttl,
        display: Some(role_name),
        metadata,
    })
}

/// Whether `leaf` is one of the trusted certificates or chains (through
/// `intermediates`) to one of those that are CAs.
fn trusts(trusted: &[Vec<u8>], leaf: &[u8], intermediates: &[Vec<u8>]) -> bool {
    if trusted.iter().any(|t| t.as_slice() == leaf) {
        return true;
    }
    let mut roots = rustls::RootCertStore::empty();
    for t in trusted.iter().filter(|t| is_ca(t)) {
        let _ = roots.add(CertificateDer::from(t.as_slice()));
    }
    if roots.is_empty() {
        return false;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let Ok(verifier) =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
    else {
        return false;
    };
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    verifier
        .verify_client_cert(&CertificateDer::from(leaf), &intermediates, UnixTime::now())
        .is_ok()
}

fn is_ca(der: &[u8]) -> bool {
    use x509_parser::prelude::FromDer as _;
    x509_parser::certificate::X509Certificate::from_der(der)
        .ok()
        .and_then(|(_, c)| c.basic_constraints().ok().flatten().map(|b| b.value.ca))
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------
// AWS IAM

/// A principal as Vault's `parseIamArn` reads its ARN.
struct IamEntity {
    partition: String,
    account: String,
    /// `user`, `role`, `assumed-role` or `instance-profile`.
    kind: String,
    friendly_name: String,
}

impl IamEntity {
    /// `arn:aws:iam::ACCOUNT:role/NAME` for an assumed role (the path dropped).
    fn canonical_arn(&self) -> String {
        let kind = if self.kind == "assumed-role" {
            "role"
        } else {
            &self.kind
        };
        format!(
            "arn:{}:iam::{}:{kind}/{}",
            self.partition, self.account, self.friendly_name
        )
    }
}

fn parse_iam_arn(arn: &str) -> Result<IamEntity, String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [prefix, partition, service, _region, account, resource] = parts.as_slice() else {
        return Err(format!(
            "unrecognized arn: contains {} colon-separated parts, expected 6",
            parts.len()
        ));
    };
    if *prefix != "arn" {
        return Err("unrecognized arn: does not begin with \"arn:\"".into());
    }
    if *service != "iam" && *service != "sts" {
        return Err(format!(
            "unrecognized service: {service}, not one of iam or sts"
        ));
    }
    let segments: Vec<&str> = resource.split('/').collect();
    let (kind, friendly_name) = match segments.as_slice() {
        ["assumed-role", role, _session, ..] => ("assumed-role", *role),
        ["assumed-role", ..] => {
            return Err(format!(
                "unrecognized arn: {resource:?} contains fewer than 3 slash-separated parts"
            ));
        }
        [kind @ ("user" | "role" | "instance-profile"), .., name] => (*kind, *name),
        [_] => {
            return Err(format!(
                "unrecognized arn: {resource:?} contains fewer than 2 slash-separated parts"
            ));
        }
        [kind, ..] => return Err(format!("unrecognized principal type: {kind:?}")),
        [] => return Err("unrecognized arn: empty resource".into()),
    };
    Ok(IamEntity {
        partition: partition.to_string(),
        account: account.to_string(),
        kind: kind.to_string(),
        friendly_name: friendly_name.to_string(),
    })
}

/// A base64 field decoded to text.
fn base64_field(body: &Map<String, Value>, name: &str) -> Result<String, VaultError> {
    let raw = required(body, name)?;
    STANDARD
        .decode(raw.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad_request(format!("failed to base64 decode {name}")))
}

/// `iam_request_headers`: a JSON object (or base64 of one, or its text) of header →
/// value or [values].
fn headers_field(body: &Map<String, Value>) -> Result<Vec<(String, Vec<String>)>, VaultError> {
    let name = "iam_request_headers";
    let bad = |why: &str| {
        bad_request(format!(
            "error converting input for field \"{name}\": {why}"
        ))
    };
    let object = match body.get(name) {
        None | Some(Value::Null) => return Err(bad_request(format!("missing {name}"))),
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(s)) => {
            let text = STANDARD
                .decode(s.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_else(|| s.clone());
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => map,
                _ => return Err(bad("not base64 of a JSON object of headers")),
            }
        }
        Some(_) => return Err(bad("not a JSON object of headers")),
    };
    object
        .into_iter()
        .map(|(k, v)| {
            let values = match v {
                Value::String(s) => vec![s],
                Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s),
                        _ => Err(bad("header values must be strings")),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(bad("header values must be strings")),
            };
            Ok((k, values))
        })
        .collect()
}

/// The values of a header (case-insensitive name), joined with `,`.
fn header_value(headers: &[(String, Vec<String>)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.join(","))
}

/// Vault's `validateLoginIamRequestBody`: `Action=GetCallerIdentity`, `Version`, nothing else.
fn valid_request_body(body: &str) -> bool {
    let mut action = false;
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("Action", "GetCallerIdentity") if !action => action = true,
            ("Version", _) => {}
            _ => return false,
        }
    }
    action
}

/// Vault's `validateVaultHeaderValue`.
fn validate_server_id(headers: &[(String, Vec<String>)], required: &str) -> Result<(), String> {
    let provided = header_value(headers, IAM_SERVER_ID_HEADER)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("missing header {IAM_SERVER_ID_HEADER:?}"))?;
    if provided != required {
        return Err(format!("expected {required:?} but got {provided:?}"));
    }
    let authorization =
        header_value(headers, "authorization").ok_or("missing Authorization header")?;
    let signed = authorization
        .rfind("SignedHeaders=")
        .map(|i| &authorization[i + "SignedHeaders=".len()..])
        .map(|rest| rest.split(',').next().unwrap_or_default())
        .ok_or("vault header wasn't signed")?;
    if signed
        .split(';')
        .any(|h| h == IAM_SERVER_ID_HEADER.to_ascii_lowercase())
    {
        Ok(())
    } else {
        Err("vault header wasn't signed".into())
    }
}

/// Whether the request carries an AWS Signature Version 4 `Authorization` (which STS
/// would otherwise refuse).
fn signed_v4(headers: &[(String, Vec<String>)]) -> bool {
    header_value(headers, "authorization").is_some_and(|a| {
        a.starts_with("AWS4-HMAC-SHA256 ")
            && a.contains("Credential=")
            && a.contains("SignedHeaders=")
            && a.contains("Signature=")
    })
}

fn upstream(why: impl std::fmt::Display) -> VaultError {
    bad_request(format!("error making upstream request: {why}"))
}

async fn aws(
    app: &App,
    ns: &str,
    mount: &str,
    body: &Map<String, Value>,
) -> Result<Grant, VaultError> {
    let method = required(body, "iam_http_request_method")?;
    if method != "POST" {
        return Err(bad_request(
            "invalid iam_http_request_method; currently only 'POST' is supported",
        ));
    }
    let url = base64_field(body, "iam_request_url")?;
    let url: Uri = url
        .parse()
        .map_err(|e| bad_request(format!("error parsing iam_request_url: {e}")))?;
    if url.query().is_some_and(|q| !q.is_empty()) {
        return Err(bad_request("invalid request"));
    }
    let request_body = base64_field(body, "iam_request_body")?;
    if !valid_request_body(&request_body) {
        return Err(bad_request("iam request body is invalid"));
    }
    let headers = headers_field(body)?;
    let (server_id, endpoint, ca_pem) = {
        let st = app.lock();
        (
            st.iam_server_id.clone(),
            st.sts_endpoint.clone(),
            st.sts_ca_pem.clone(),
        )
    };
    if let Some(required) = server_id {
        validate_server_id(&headers, &required).map_err(|e| {
            bad_request(format!(
                "error validating {IAM_SERVER_ID_HEADER} header: {e}"
            ))
        })?;
    }
    if !signed_v4(&headers) {
        return Err(upstream(
            "received error code 403 from STS: the request is not signed with AWS \
             Signature Version 4 (AWS4-HMAC-SHA256)",
        ));
    }
    let endpoint = endpoint
        .ok_or_else(|| upstream("no STS endpoint configured (VaultEmulator::set_sts_endpoint)"))?;
    let answer = call_sts(&endpoint, ca_pem.as_deref(), &url, request_body, &headers).await?;
    let arn = xml_text(&answer, "Arn")
        .ok_or_else(|| upstream("no Arn in the GetCallerIdentity response"))?;
    let user_id = xml_text(&answer, "UserId").unwrap_or_default();
    let entity =
        parse_iam_arn(&arn).map_err(|e| bad_request(format!("error parsing arn {arn:?}: {e}")))?;
    let role_name = string_field(body, "role")?
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| entity.friendly_name.clone());
    let role = {
        let st = app.lock();
        let Some(AuthMount::Aws(roles)) = st.namespaces.get(ns).and_then(|s| s.auth.get(mount))
        else {
            return Err(mount_gone());
        };
        roles
            .get(&role_name)
            .cloned()
            .ok_or_else(|| bad_request(format!("entry for role {role_name} not found")))?
    };
    let canonical = entity.canonical_arn();
    let bound = role.bound_iam_principal_arn.iter().any(|b| {
        if b.contains('*') {
            globbed_match(b, &canonical) || globbed_match(b, &arn)
        } else {
            *b == canonical
        }
    });
    if !bound {
        return Err(bad_request(format!(
            "IAM Principal {arn:?} does not belong to the role {role_name:?}"
        )));
    }
    Ok(Grant {
        token_ttl: role.token_ttl,
        display: Some(entity.friendly_name.clone()),
        metadata: BTreeMap::from([
            ("account_id".to_string(), entity.account.clone()),
            ("auth_type".to_string(), "iam".to_string()),
            ("canonical_arn".to_string(), canonical),
            ("client_arn".to_string(), arn.clone()),
            ("client_user_id".to_string(), user_id),
            ("inferred_aws_region".to_string(), String::new()),
            ("inferred_entity_id".to_string(), String::new()),
            ("inferred_entity_type".to_string(), String::new()),
            ("role_id".to_string(), role_name),
        ]),
    })
}

/// Sends the client's signed request to `endpoint` as Vault does: the client's path,
/// body and headers, `Host` the client's URL host unless its headers name one.
async fn call_sts(
    endpoint: &str,
    ca_pem: Option<&str>,
    url: &Uri,
    body: String,
    headers: &[(String, Vec<String>)],
) -> Result<String, VaultError> {
    use http_body_util::BodyExt as _;

    let target = format!(
        "{endpoint}{}",
        url.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = axum::http::Request::post(target.as_str());
    for (name, values) in headers {
        if ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        for value in values {
            request = request.header(name.as_str(), value.as_str());
        }
    }
    if header_value(headers, "host").is_none()
        && let Some(authority) = url.authority()
    {
        request = request.header(header::HOST, authority.as_str());
    }
    let request = request
        .body(http_body_util::Full::new(Bytes::from(body)))
        .map_err(upstream)?;

    let mut roots = rustls::RootCertStore::empty();
    for der in super::pem_certificates(ca_pem.unwrap_or_default()) {
        let _ = roots.add(CertificateDer::from(der));
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(upstream)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);

    let exchange = async {
        let response = client.request(request).await.map_err(upstream)?;
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_STS_RESPONSE)
            .collect()
            .await
            .map_err(upstream)?
            .to_bytes();
        Ok::<_, VaultError>((status, String::from_utf8_lossy(&bytes).into_owned()))
    };
    let (status, text) = tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .map_err(|_| upstream("timed out waiting for STS"))??;
    if status != StatusCode::OK {
        return Err(upstream(format!(
            "received error code {} from STS: {text}",
            status.as_u16()
        )));
    }
    Ok(text)
}

/// The text of the first `<tag>` element, entities decoded.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_canonicalize_as_vault_does() {
        let assumed = parse_iam_arn("arn:aws:sts::123456789012:assumed-role/certgate/session-1")
            .map(|e| e.canonical_arn());
        assert_eq!(
            assumed.as_deref(),
            Ok("arn:aws:iam::123456789012:role/certgate")
        );
        let pathed = parse_iam_arn("arn:aws:iam::123456789012:role/team/x/certgate")
            .map(|e| e.canonical_arn());
        assert_eq!(
            pathed.as_deref(),
            Ok("arn:aws:iam::123456789012:role/certgate")
        );
        assert!(parse_iam_arn("arn:aws:s3:::bucket/key").is_err());
        assert!(parse_iam_arn("arn:aws:iam::1:group/admins").is_err());
    }

    #[test]
    fn globs_match_as_vault_does() {
        assert!(globbed_match("*", "anything"));
        assert!(globbed_match(
            "arn:aws:iam::1:role/*",
            "arn:aws:iam::1:role/x"
        ));
        assert!(!globbed_match(
            "arn:aws:iam::1:role/*",
            "arn:aws:iam::2:role/x"
        ));
        assert!(globbed_match("*-prod", "web-prod"));
        assert!(globbed_match("*eb*", "web-prod"));
        assert!(!globbed_match("web", "web-prod"));
    }

    #[test]
    fn request_bodies_are_checked() {
        assert!(valid_request_body(
            "Action=GetCallerIdentity&Version=2011-06-15"
        ));
        assert!(!valid_request_body(
            "Action=GetSessionToken&Version=2011-06-15"
        ));
        assert!(!valid_request_body(
            "Action=GetCallerIdentity&Version=2011-06-15&Extra=1"
        ));
        assert!(!valid_request_body("Version=2011-06-15"));
    }
}
