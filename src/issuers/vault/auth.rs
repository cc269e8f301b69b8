//! Logging in to Vault with the issuer's auth method, and the tokens got that
//! way: kept per issuer, renewed (`auth/token/renew-self`) when two thirds of
//! their lease have passed, a new login when they cannot be renewed or Vault
//! refuses them (403). cert-manager logs in for every request; certgate logs in
//! once per lease.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};

use super::VaultError;
use super::transport::{Answer, ClientIdentity, TlsMaterial, Transport};
use crate::dns01::credentials::ServiceAccountTokens;

/// How an issuer logs in, with what it read (secret values are never printed).
pub enum LoginMethod {
    /// `tokenSecretRef`: the token itself.
    Token(String),
    /// `appRole`: `auth/<path>/login` with the role and secret ids.
    AppRole {
        mount: String,
        role_id: String,
        secret_id: String,
    },
    /// `kubernetes`: `<mountPath>/login` with a ServiceAccount JWT.
    Kubernetes {
        mount: String,
        role: String,
        jwt: JwtSource,
    },
    /// `clientCertificate`: `<mountPath>/login` over TLS with a client certificate
    /// (from `secretName`, else the issuer's mutual-TLS one).
    Certificate {
        mount: String,
        name: String,
        identity: Option<ClientIdentity>,
    },
    /// `aws`: `<mountPath>/login` with a signed STS `GetCallerIdentity` request.
    Aws(super::aws::AwsLogin),
}

/// Where a Kubernetes auth JWT comes from.
pub enum JwtSource {
    /// A token Secret (`secretRef`), read already.
    Secret(String),
    /// A fresh TokenRequest for the ServiceAccount at each login.
    ServiceAccount(ServiceAccountTokens),
}

impl std::fmt::Debug for LoginMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl LoginMethod {
    /// The method's name in messages (cert-manager's words).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Token(_) => "Token",
            Self::AppRole { .. } => "AppRole",
            Self::Kubernetes { .. } => "Kubernetes",
            Self::Certificate { .. } => "ClientCertificate",
            Self::Aws(_) => "AWS",
        }
    }

    /// Whether the token is given, not logged in for (nothing to redo on 403).
    pub fn is_static_token(&self) -> bool {
        matches!(self, Self::Token(_))
    }

    /// A fingerprint of the issuer's settings and the secret values read: a token
    /// is reused only while both are unchanged.
    pub fn fingerprint(&self, spec: &crate::api::issuer::VaultIssuer) -> u64 {
        let spec = serde_json::to_string(spec).unwrap_or_default();
        let mut parts: Vec<&str> = vec![&spec];
        let cert;
        match self {
            Self::Token(t) => parts.push(t),
            Self::AppRole { secret_id, .. } => parts.push(secret_id),
            Self::Kubernetes {
                jwt: JwtSource::Secret(j),
                ..
            } => parts.push(j),
            Self::Certificate {
                identity: Some(id), ..
            } => {
                cert = String::from_utf8_lossy(&id.certificate_pem).into_owned();
                parts.push(&cert);
            }
            _ => {}
        }
        crate::dns01::credentials::fingerprint(&parts)
    }
}

/// An issuer's way in: the method and what the login connection needs.
pub struct Login {
    pub method: LoginMethod,
    pub tls: TlsMaterial,
    pub server: String,
    pub namespace: Option<String>,
}

/// A Vault token and its lease.
#[derive(Clone)]
pub struct Token {
    pub value: String,
    /// `None`: no lease known (a given token, or one that never expires).
    pub lease: Option<Duration>,
    pub renewable: bool,
    pub obtained: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("lease", &self.lease)
            .field("renewable", &self.renewable)
            .finish_non_exhaustive()
    }
}

/// A mount path as cert-manager takes it (`/v1/auth/kubernetes`), without the
/// `/v1/` the transport adds; a path given without `/v1` is taken as under it.
fn mount_path(given: Option<&str>, default: &str) -> String {
    let p = given.filter(|p| !p.trim().is_empty()).unwrap_or(default);
    let p = p.trim().trim_matches('/');
    p.strip_prefix("v1/").unwrap_or(p).to_string()
}

/// `mountPath` of kubernetes, clientCertificate and aws auth (default given).
pub fn auth_mount(given: Option<&str>, default: &str) -> String {
    mount_path(given, default)
}

/// `appRole.path`: the mount under `auth/` (default `approle`).
pub fn app_role_mount(path: &str) -> String {
    let p = path.trim().trim_matches('/');
    format!("auth/{}", if p.is_empty() { "approle" } else { p })
}

/// The token of a login answer: `auth.client_token`, else `data.id`.
pub fn token_of(answer: &Value) -> Option<Token> {
    let auth = answer.get("auth").filter(|a| !a.is_null());
    let value = auth
        .and_then(|a| a.get("client_token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .or_else(|| answer.pointer("/data/id").and_then(Value::as_str))
        .filter(|t| !t.is_empty())?;
    let lease = auth
        .and_then(|a| a.get("lease_duration"))
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .map(Duration::from_secs);
    Some(Token {
        value: value.to_string(),
        lease,
        renewable: auth
            .and_then(|a| a.get("renewable"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        obtained: Instant::now(),
    })
}

fn login_answer(path: &str, answer: Answer) -> Result<Token, VaultError> {
    if !answer.status.is_success() {
        return Err(VaultError::refused(Method::POST, path, &answer));
    }
    token_of(&answer.body).ok_or_else(|| VaultError::Decode {
        path: path.to_string(),
        cause: "no token returned".into(),
    })
}

impl Login {
    /// Logs in (the given token needs none).
    pub async fn login(&self, transport: &Transport) -> Result<Token, VaultError> {
        let wrap = |e: VaultError| VaultError::Login {
            method: self.method.name(),
            cause: Box::new(e),
        };
        match &self.method {
            LoginMethod::Token(t) => Ok(Token {
                value: t.clone(),
                lease: None,
                renewable: false,
                obtained: Instant::now(),
            }),
            LoginMethod::AppRole {
                mount,
                role_id,
                secret_id,
            } => {
                let path = format!("{mount}/login");
                let body = json!({"role_id": role_id, "secret_id": secret_id});
                let answer = transport
                    .call(Method::POST, &path, None, Some(&body))
                    .await
                    .map_err(wrap)?;
                login_answer(&path, answer).map_err(wrap)
            }
            LoginMethod::Kubernetes { mount, role, jwt } => {
                let jwt = match jwt {
                    JwtSource::Secret(j) => j.clone(),
                    JwtSource::ServiceAccount(sa) => {
                        sa.request().await.map_err(|e| wrap(VaultError::Kube(e)))?
                    }
                };
                let path = format!("{mount}/login");
                let body = json!({"role": role, "jwt": jwt});
                let answer = transport
                    .call(Method::POST, &path, None, Some(&body))
                    .await
                    .map_err(wrap)?;
                login_answer(&path, answer).map_err(wrap)
            }
            LoginMethod::Certificate {
                mount,
                name,
                identity,
            } => {
                let path = format!("{mount}/login");
                let body = json!({ "name": name });
                let answer = match identity {
                    Some(id) => {
                        let tls = TlsMaterial {
                            client_identity: Some(id.clone()),
                            ..self.tls.clone()
                        };
                        Transport::new(&self.server, self.namespace.as_deref(), &tls)
                            .map_err(wrap)?
                            .call(Method::POST, &path, None, Some(&body))
                            .await
                    }
                    None => transport.call(Method::POST, &path, None, Some(&body)).await,
                }
                .map_err(wrap)?;
                login_answer(&path, answer).map_err(wrap)
            }
            LoginMethod::Aws(aws) => {
                let path = format!("{}/login", aws.mount);
                let body = aws.login_body().await.map_err(wrap)?;
                let answer = transport
                    .call(Method::POST, &path, None, Some(&body))
                    .await
                    .map_err(wrap)?;
                login_answer(&path, answer).map_err(wrap)
            }
        }
    }
}

/// Tokens by issuer (and fingerprint of its settings).
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, Token>>,
}

impl TokenCache {
    fn get(&self, key: &str) -> Option<Token> {
        self.tokens.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: &str, token: Token) {
        if let Ok(mut map) = self.tokens.lock() {
            // One token per issuer: an older fingerprint's token goes.
            let issuer = key.split('#').next().unwrap_or(key);
            map.retain(|k, _| k.split('#').next() != Some(issuer));
            map.insert(key.to_string(), token);
        }
    }

    /// Drops the issuer's token (Vault refused it).
    pub fn forget(&self, key: &str) {
        if let Ok(mut map) = self.tokens.lock() {
            map.remove(key);
        }
    }

    /// How many tokens are kept (for tests).
    pub fn len(&self) -> usize {
        self.tokens.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no token is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A usable token for `key`: the cached one while less than two thirds of its
    /// lease have passed, else renewed when renewable, else a new login.
    pub async fn token(
        &self,
        key: &str,
        transport: &Transport,
        login: &Login,
    ) -> Result<String, VaultError> {
        if let Some(t) = self.get(key) {
            let age = t.obtained.elapsed();
            match t.lease {
                None => return Ok(t.value),
                Some(lease) if age < lease * 2 / 3 => return Ok(t.value),
                Some(lease) if t.renewable && age < lease * 9 / 10 => {
                    if let Some(renewed) = renew(transport, &t.value).await {
                        self.put(key, renewed.clone());
                        return Ok(renewed.value);
                    }
                }
                Some(_) => {}
            }
        }
        let token = login.login(transport).await?;
        self.put(key, token.clone());
        Ok(token.value)
    }
}

/// Renews `token` (`auth/token/renew-self`); `None` when Vault would not.
async fn renew(transport: &Transport, token: &str) -> Option<Token> {
    let answer = transport
        .call(
            Method::POST,
            "auth/token/renew-self",
            Some(token),
            Some(&json!({})),
        )
        .await
        .ok()?;
    if !answer.status.is_success() {
        return None;
    }
    let mut renewed = token_of(&answer.body)?;
    // renew-self answers with the same token; keep ours if it did not say.
    if renewed.value.is_empty() {
        renewed.value = token.to_string();
    }
    Some(renewed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_take_cert_managers_forms() {
        assert_eq!(auth_mount(None, "/v1/auth/kubernetes"), "auth/kubernetes");
        assert_eq!(auth_mount(Some("/v1/auth/k8s/a"), "x"), "auth/k8s/a");
        assert_eq!(auth_mount(Some("auth/cert"), "x"), "auth/cert");
        assert_eq!(app_role_mount(""), "auth/approle");
        assert_eq!(app_role_mount("/team-approle/"), "auth/team-approle");
    }

    #[test]
    fn a_login_answer_gives_its_token_and_lease() {
        let t = token_of(
            &json!({"auth": {"client_token": "hvs.x", "lease_duration": 3600, "renewable": true}}),
        );
        let t = t.map(|t| (t.value, t.lease, t.renewable));
        assert_eq!(
            t,
            Some(("hvs.x".into(), Some(Duration::from_secs(3600)), true))
        );
        let t = token_of(&json!({"auth": null, "data": {"id": "s.y"}})).map(|t| t.value);
        assert_eq!(t.as_deref(), Some("s.y"));
        assert!(token_of(&json!({"auth": {"client_token": ""}})).is_none());
    }

    #[tokio::test]
    async fn a_token_is_reused_then_renewed_then_replaced_by_a_login() {
        use certgate_testca::vault::VaultEmulator;
        let vault = VaultEmulator::start();
        vault
            .add_approle(None, "approle", "r", "s", Duration::from_secs(6))
            .unwrap_or_default();
        let tls = TlsMaterial {
            ca_bundle_pem: Some(vault.ca_pem().as_bytes().to_vec()),
            ..TlsMaterial::default()
        };
        let transport = match Transport::new(vault.base_url(), None, &tls) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let login = Login {
            method: LoginMethod::AppRole {
                mount: app_role_mount("approle"),
                role_id: "r".into(),
                secret_id: "s".into(),
            },
            tls,
            server: vault.base_url().into(),
            namespace: None,
        };
        let cache = TokenCache::default();
        let first = cache.token("Issuer/a/b#1", &transport, &login).await;
        let again = cache.token("Issuer/a/b#1", &transport, &login).await;
        assert!(first.is_ok());
        assert_eq!(first.as_ref().ok(), again.as_ref().ok(), "reused");
        assert_eq!(vault.logins("approle"), 1);
        let renewals = || vault.requests().get("renew-self").copied().unwrap_or(0);
        assert_eq!(renewals(), 0);
        // Past two thirds of the 6 s lease: renewed, same token, no login.
        tokio::time::sleep(Duration::from_millis(4200)).await;
        let renewed = cache.token("Issuer/a/b#1", &transport, &login).await;
        assert_eq!(renewals(), 1);
        assert_eq!(first.as_ref().ok(), renewed.as_ref().ok());
        assert_eq!(vault.logins("approle"), 1);
        // A changed fingerprint replaces the issuer's token with a new login.
        let other = cache.token("Issuer/a/b#2", &transport, &login).await;
        assert!(other.is_ok());
        assert_ne!(first.ok(), other.ok());
        assert_eq!(vault.logins("approle"), 2);
        assert_eq!(cache.len(), 1, "one token per issuer");
    }
}
