//! cert-manager's external DNS-01 webhook solvers (Hetzner, OVH, Gandi, GoDaddy,
//! Porkbun, IONOS, …), unchanged: each is an extension API server behind an
//! `APIService`, and a challenge is a `ChallengePayload`
//! (`acme.cert-manager.io/v1alpha1`) POSTed to `/apis/<groupName>/v1alpha1/<solverName>`
//! through the Kubernetes API server. The payload carries what cert-manager's
//! carries — the Challenge's uid and name, the key, the resolved record and zone,
//! the issuer's resource namespace, whether ambient credentials are allowed, and
//! the solver's `config` — and the answer's `response.success` / `status` decide.
//!
//! certgate needs `create` on `<solverName>` in API group `<groupName>`.

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::provider::{Provider, ProviderError};
use crate::api::acme_dns01::AcmeIssuerDns01ProviderWebhook;

/// The version of cert-manager's webhook API.
pub const API_VERSION: &str = "v1alpha1";

/// How long one call may take, the API server's retries included.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a webhook request says about the Challenge it is for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChallengeInfo {
    /// The Challenge's uid (a fresh one when there is no Challenge, as in the
    /// conformance suite).
    pub uid: String,
    /// The Challenge's `dnsName` (derived from the record name when empty).
    pub dns_name: String,
    /// Whether the issuer may use the controller's ambient credentials.
    pub allow_ambient_credentials: bool,
}

/// Why a webhook call failed. Messages name the solver and what to do.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot reach the webhook solver {solver}.{group} through the API server: {cause}")]
    Unreachable {
        group: String,
        solver: String,
        cause: String,
    },
    #[error(
        "no webhook solver serves {group}/{API_VERSION} {solver} (HTTP 404): install the webhook and check that its APIService {API_VERSION}.{group} is Available"
    )]
    NotServed { group: String, solver: String },
    #[error(
        "certgate may not create {solver} in API group {group} (HTTP 403): bind certgate's ServiceAccount to a role granting create on it (webhook charts usually ship one for cert-manager's)"
    )]
    Forbidden { group: String, solver: String },
    #[error("the webhook solver {solver}.{group} answered HTTP {code}: {body}")]
    Http {
        group: String,
        solver: String,
        code: u16,
        body: String,
    },
    #[error("the webhook solver {solver}.{group} failed: {message}")]
    Failed {
        group: String,
        solver: String,
        message: String,
        transient: bool,
    },
    #[error(
        "the webhook solver {solver}.{group} gave an invalid payload response: did not succeed but no result provided"
    )]
    NoResult { group: String, solver: String },
}

impl WebhookError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Http { code, .. } => *code >= 500 || *code == 429,
            Self::Failed { transient, .. } => *transient,
            _ => false,
        }
    }
}

impl From<WebhookError> for ProviderError {
    fn from(e: WebhookError) -> Self {
        if e.is_transient() {
            ProviderError::Unavailable(Box::new(e))
        } else {
            ProviderError::Misconfigured(Box::new(e))
        }
    }
}

/// A webhook solver reached through the API server.
pub struct WebhookProvider {
    client: kube::Client,
    group: String,
    solver: String,
    config: Option<Value>,
    resource_namespace: String,
    challenge: ChallengeInfo,
}

/// The payload cert-manager sends (pure).
pub fn payload(
    action: &str,
    challenge: &ChallengeInfo,
    resource_namespace: &str,
    zone: &str,
    fqdn: &str,
    key: &str,
    config: Option<&Value>,
) -> Value {
    let dns_name = if challenge.dns_name.is_empty() {
        fqdn.trim_end_matches('.')
            .strip_prefix("_acme-challenge.")
            .unwrap_or(fqdn.trim_end_matches('.'))
            .to_string()
    } else {
        challenge.dns_name.clone()
    };
    let mut request = json!({
        "uid": challenge.uid,
        "action": action,
        "type": "dns-01",
        "dnsName": dns_name,
        "key": key,
        "resourceNamespace": resource_namespace,
        "resolvedFQDN": fqdn,
        "resolvedZone": zone,
        "allowAmbientCredentials": challenge.allow_ambient_credentials,
    });
    if let Some(c) = config {
        request["config"] = c.clone();
    }
    json!({
        "apiVersion": format!("acme.cert-manager.io/{API_VERSION}"),
        "kind": "ChallengePayload",
        "request": request,
    })
}

/// Reads the webhook's answer (pure): `Ok` when it succeeded.
pub fn verdict(group: &str, solver: &str, code: u16, body: &[u8]) -> Result<(), WebhookError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let response = parsed
        .as_ref()
        .and_then(|v| v.get("response"))
        .filter(|r| !r.is_null());
    let ids = || (group.to_string(), solver.to_string());
    match (code, response) {
        (200..=299, Some(r)) if r.get("success").and_then(Value::as_bool) == Some(true) => Ok(()),
        (_, Some(r)) => {
            let status = r.get("status").filter(|s| !s.is_null());
            let Some(status) = status else {
                let (group, solver) = ids();
                return Err(WebhookError::NoResult { group, solver });
            };
            let message = status
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_string();
            let reason = status.get("reason").and_then(Value::as_str).unwrap_or("");
            let status_code = status.get("code").and_then(Value::as_u64).unwrap_or(0);
            let transient = status_code >= 500
                || status_code == 429
                || matches!(
                    reason,
                    "ServiceUnavailable" | "Timeout" | "TooManyRequests" | "InternalError"
                );
            let (group, solver) = ids();
            Err(WebhookError::Failed {
                group,
                solver,
                message,
                transient,
            })
        }
        (404, None) => {
            let (group, solver) = ids();
            Err(WebhookError::NotServed { group, solver })
        }
        (403, None) => {
            let (group, solver) = ids();
            Err(WebhookError::Forbidden { group, solver })
        }
        (code, None) => {
            let message = parsed
                .as_ref()
                .and_then(|v| v.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
            let (group, solver) = ids();
            Err(WebhookError::Http {
                group,
                solver,
                code,
                body: message,
            })
        }
    }
}

impl WebhookProvider {
    pub fn new(
        client: kube::Client,
        cfg: &AcmeIssuerDns01ProviderWebhook,
        resource_namespace: &str,
        challenge: &ChallengeInfo,
    ) -> WebhookProvider {
        let mut challenge = challenge.clone();
        if challenge.uid.is_empty() {
            challenge.uid = uuid::Uuid::new_v4().to_string();
        }
        WebhookProvider {
            client,
            group: cfg.group_name.clone(),
            solver: cfg.solver_name.clone(),
            config: cfg.config.clone(),
            resource_namespace: resource_namespace.to_string(),
            challenge,
        }
    }

    async fn call(
        &self,
        action: &str,
        zone: &str,
        fqdn: &str,
        key: &str,
    ) -> Result<(), WebhookError> {
        let body = payload(
            action,
            &self.challenge,
            &self.resource_namespace,
            zone,
            fqdn,
            key,
            self.config.as_ref(),
        );
        let unreachable = |cause: String| WebhookError::Unreachable {
            group: self.group.clone(),
            solver: self.solver.clone(),
            cause,
        };
        let request = http::Request::post(format!(
            "/apis/{}/{API_VERSION}/{}",
            self.group, self.solver
        ))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(kube::client::Body::from(
            serde_json::to_vec(&body).unwrap_or_default(),
        ))
        .map_err(|e| unreachable(e.to_string()))?;
        // The client retries 429/503/504 on its own for minutes; an unreachable
        // webhook must not hold the challenge that long.
        let response = tokio::time::timeout(CALL_TIMEOUT, self.client.send(request))
            .await
            .map_err(|_| {
                unreachable(format!(
                    "no answer within {}s (is its APIService Available?)",
                    CALL_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| unreachable(e.to_string()))?;
        let code = response.status().as_u16();
        let bytes: Bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        verdict(&self.group, &self.solver, code, &bytes)
    }
}

impl Provider for WebhookProvider {
    fn present<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move { Ok(self.call("Present", zone, fqdn, value).await?) })
    }

    fn cleanup<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move { Ok(self.call("CleanUp", zone, fqdn, value).await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_cert_managers() {
        let ch = ChallengeInfo {
            uid: "u-1".into(),
            dns_name: "*.example.com".into(),
            allow_ambient_credentials: true,
        };
        let config = json!({"apiKeySecretRef": {"name": "hetzner", "key": "api-key"}});
        let p = payload(
            "Present",
            &ch,
            "cert-manager",
            "example.com.",
            "_acme-challenge.example.com.",
            "k3y",
            Some(&config),
        );
        assert_eq!(
            p,
            json!({
                "apiVersion": "acme.cert-manager.io/v1alpha1",
                "kind": "ChallengePayload",
                "request": {
                    "uid": "u-1", "action": "Present", "type": "dns-01",
                    "dnsName": "*.example.com", "key": "k3y",
                    "resourceNamespace": "cert-manager",
                    "resolvedFQDN": "_acme-challenge.example.com.",
                    "resolvedZone": "example.com.",
                    "allowAmbientCredentials": true,
                    "config": config,
                }
            })
        );
        let without = payload(
            "CleanUp",
            &ChallengeInfo::default(),
            "ns",
            "example.com.",
            "_acme-challenge.a.example.com.",
            "k",
            None,
        );
        assert_eq!(without["request"]["dnsName"], "a.example.com");
        assert!(without["request"].get("config").is_none());
    }

    #[test]
    fn answers_are_read_as_cert_manager_reads_them() {
        let ok = json!({"response": {"uid": "u", "success": true}}).to_string();
        assert!(verdict("g", "s", 200, ok.as_bytes()).is_ok());
        let refused = json!({"response": {"uid": "u", "success": false, "status":
            {"status": "Failure", "message": "bad token", "reason": "Forbidden", "code": 403}}})
        .to_string();
        let e = verdict("acme.example.com", "hetzner", 200, refused.as_bytes()).unwrap_err();
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string(),
            "the webhook solver hetzner.acme.example.com failed: bad token"
        );
        let busy = json!({"response": {"success": false, "status":
            {"message": "try later", "code": 503}}})
        .to_string();
        assert!(
            verdict("g", "s", 200, busy.as_bytes())
                .unwrap_err()
                .is_transient()
        );
        let no_result = json!({"response": {"success": false}}).to_string();
        assert!(matches!(
            verdict("g", "s", 200, no_result.as_bytes()),
            Err(WebhookError::NoResult { .. })
        ));
        let status_404 = json!({"kind": "Status", "message": "the server could not find the requested resource"}).to_string();
        assert!(matches!(
            verdict("g", "s", 404, status_404.as_bytes()),
            Err(WebhookError::NotServed { .. })
        ));
        assert!(matches!(
            verdict("g", "s", 403, b"{}"),
            Err(WebhookError::Forbidden { .. })
        ));
        let e = verdict(
            "g",
            "s",
            503,
            b"{\"message\":\"error trying to reach service\"}",
        )
        .unwrap_err();
        assert!(e.is_transient());
        assert!(e.to_string().contains("error trying to reach service"));
    }
}
