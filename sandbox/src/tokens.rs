//! ServiceAccount tokens as the API server issues and reviews them: the
//! `serviceaccounts/<name>/token` subresource (TokenRequest) and
//! `authentication.k8s.io/v1` TokenReviews. Tokens are opaque random strings
//! (not JWTs), registered as bearer tokens of the ServiceAccount, with their
//! audiences and expiry, so a reviewer (a Vault emulator, a webhook) can check them.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::http::{App, Identity};

/// The audience of tokens requested without one (the API server's own).
pub const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// A token issued by a TokenRequest.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub audiences: Vec<String>,
    pub expires: SystemTime,
}

fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`.
pub fn token_request(app: &App, ns: &str, name: &str, body: &Value) -> Result<Value, ApiError> {
    let served = app
        .server
        .registry
        .get("", "v1", "serviceaccounts")
        .ok_or(ApiError::PageNotFound)?;
    // 404 when the ServiceAccount does not exist, as the API server answers.
    app.server.get(&served, ns, name)?;
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![DEFAULT_AUDIENCE.to_string()]);
    let seconds = spec
        .get("expirationSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(3600);
    if seconds < 600 {
        return Err(ApiError::invalid_plain(
            "spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes",
        ));
    }
    let token = format!(
        "sandbox-sa.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let expires = SystemTime::now() + Duration::from_secs(seconds);
    if let Ok(mut t) = app.tokens.write() {
        t.insert(
            token.clone(),
            Identity {
                user: format!("system:serviceaccount:{ns}:{name}"),
                groups: vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                    "system:authenticated".into(),
                ],
            },
        );
    }
    if let Ok(mut issued) = app.issued_tokens.write() {
        issued.insert(
            token.clone(),
            IssuedToken {
                audiences: audiences.clone(),
                expires,
            },
        );
    }
    let mut spec = spec;
    spec["audiences"] = json!(audiences);
    spec["expirationSeconds"] = json!(seconds);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": rfc3339(SystemTime::now())},
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": rfc3339(expires)},
    }))
}

/// `POST /apis/authentication.k8s.io/v1/tokenreviews`.
pub fn token_review(app: &App, body: &Value) -> Result<Value, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let token = spec
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wanted: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let identity = app.tokens.read().ok().and_then(|t| t.get(token).cloned());
    let issued = app
        .issued_tokens
        .read()
        .ok()
        .and_then(|t| t.get(token).cloned());
    let unauthenticated = |error: &str| {
        json!({
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": spec,
            "status": {"authenticated": false, "error": error, "user": {}},
        })
    };
    let (Some(identity), Some(issued)) = (identity, issued) else {
        return Ok(unauthenticated(
            "[invalid bearer token, token lookup failed]",
        ));
    };
    if issued.expires <= SystemTime::now() {
        return Ok(unauthenticated("[invalid bearer token, token has expired]"));
    }
    let audiences: Vec<String> = if wanted.is_empty() {
        issued.audiences.clone()
    } else {
        wanted
            .iter()
            .filter(|a| issued.audiences.contains(a))
            .cloned()
            .collect()
    };
    if audiences.is_empty() {
        return Ok(unauthenticated(
            "[invalid bearer token, token audiences is invalid for the target audiences]",
        ));
    }
    Ok(json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": {
            "authenticated": true,
            "user": {"username": identity.user, "groups": identity.groups},
            "audiences": audiences,
        },
    }))
}
