//! EdgeGrid request signing (`EG1-HMAC-SHA256`): the client credentials and the
//! `Authorization` header of one request. Must not log or return a secret.

use super::*;

/// An API client's credentials and where they came from.
#[derive(Clone)]
pub struct EdgeGridCredentials {
    pub client_token: String,
    pub client_secret: String,
    pub access_token: String,
    /// Where they came from, for messages (`client token from Secret ns/n key "k", …`).
    pub source: String,
}

impl fmt::Debug for EdgeGridCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeGridCredentials")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// An EdgeGrid timestamp: `20140321T19:34:21+0000`.
pub fn timestamp(now: jiff::Timestamp) -> String {
    now.strftime("%Y%m%dT%H:%M:%S+0000").to_string()
}

pub(super) fn hmac_b64(key: &[u8], data: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::hmac::sign(&key, data).as_ref())
}

/// The `Authorization` value of a request to `url` with `body`, signed at
/// `timestamp` with `nonce`, as EdgeGrid specifies.
pub fn authorization(
    creds: &EdgeGridCredentials,
    method: &str,
    url: &reqwest::Url,
    body: &[u8],
    timestamp: &str,
    nonce: &str,
) -> String {
    let unsigned = format!(
        "{SCHEME} client_token={};access_token={};timestamp={timestamp};nonce={nonce};",
        creds.client_token, creds.access_token
    );
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let content_hash = if method.eq_ignore_ascii_case("POST") && !body.is_empty() {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &body[..body.len().min(MAX_BODY)],
        );
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    } else {
        String::new()
    };
    let data = [
        &method.to_ascii_uppercase(),
        url.scheme(),
        &host.to_ascii_lowercase(),
        &path,
        "",
        &content_hash,
        &unsigned,
    ]
    .join("\t");
    let signing_key = hmac_b64(creds.client_secret.as_bytes(), timestamp.as_bytes());
    let signature = hmac_b64(signing_key.as_bytes(), data.as_bytes());
    format!("{unsigned}signature={signature}")
}
