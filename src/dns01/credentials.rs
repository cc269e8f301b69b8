//! Credentials of the API-based DNS providers: Secret keys read from the Issuer's
//! namespace, ServiceAccount tokens for web identity, and one shared provider per
//! solver configuration (so edits of concurrent challenges are batched together).
//!
//! Errors name the Secret, the key and the solver field, never the content.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::sync::{LazyLock, Mutex};

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, PostParams};

use crate::api::meta::SecretKeySelector;

/// A source of ServiceAccount tokens for web identity (a Kubernetes TokenRequest).
pub trait WebIdentityTokenSource: Send + Sync {
    /// A fresh token for `audiences`. The error says what failed, without the token.
    fn token(&self) -> BoxFuture<'_, Result<String, String>>;
    /// Which ServiceAccount the tokens are of, for messages.
    fn describe(&self) -> String;
}

/// The bytes of key `key` of Secret `ns/name`, as they are (the one Secret reader of
/// the DNS-01 providers). `field` is the solver field that names the Secret (for
/// messages); errors name the Secret, the key and the field, never the content.
pub async fn secret_bytes(
    client: &kube::Client,
    ns: &str,
    name: &str,
    key: &str,
    field: &str,
) -> Result<Vec<u8>, String> {
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(|e| format!("reading Secret {ns}/{name} (named by {field}): {e}"))?
        .ok_or_else(|| format!("the Secret {ns}/{name} named by {field} does not exist"))?;
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key).map(|v| v.0.clone()))
        .ok_or_else(|| format!("the Secret {ns}/{name} has no key \"{key}\" ({field}.key)"))
}

/// The value of `selector`'s key in its Secret in `ns`, as UTF-8 text with surrounding
/// whitespace removed (a credential pasted with its newline still works); an empty
/// value is refused. `field` is the solver field that names the Secret (for messages).
pub async fn secret_value(
    client: &kube::Client,
    ns: &str,
    selector: &SecretKeySelector,
    field: &str,
) -> Result<String, String> {
    let name = &selector.name;
    let key = selector
        .key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            format!(
                "{field}.key is not set: name the key of Secret {ns}/{name} that holds the value"
            )
        })?;
    let bytes = secret_bytes(client, ns, name, key, field).await?;
    let text = String::from_utf8(bytes).map_err(|_| {
        format!("the key \"{key}\" of Secret {ns}/{name} ({field}) is not UTF-8 text")
    })?;
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(format!(
            "the key \"{key}\" of Secret {ns}/{name} ({field}) is empty"
        ));
    }
    Ok(text)
}

/// Where a Secret key is, for messages: `Secret ns/name key "k"`.
pub fn describe_secret_key(ns: &str, selector: &SecretKeySelector) -> String {
    format!(
        "Secret {ns}/{} key \"{}\"",
        selector.name,
        selector.key.as_deref().unwrap_or_default()
    )
}

/// Tokens of one ServiceAccount from the TokenRequest API (`serviceaccounts/token`).
pub struct ServiceAccountTokens {
    pub client: kube::Client,
    pub namespace: String,
    pub name: String,
    pub audiences: Vec<String>,
}

impl ServiceAccountTokens {
    /// Requests a token valid for 10 minutes.
    pub async fn request(&self) -> Result<String, String> {
        let req = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(self.audiences.clone()),
                expiration_seconds: Some(600),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let out = Api::<ServiceAccount>::namespaced(self.client.clone(), &self.namespace)
            .create_token_request(&self.name, &PostParams::default(), &req)
            .await
            .map_err(|e| {
                format!(
                    "TokenRequest for ServiceAccount {}/{} failed: {e} (certgate needs `create` on serviceaccounts/token there)",
                    self.namespace, self.name
                )
            })?;
        out.status
            .and_then(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                format!(
                    "TokenRequest for ServiceAccount {}/{} returned no token",
                    self.namespace, self.name
                )
            })
    }
}

impl WebIdentityTokenSource for ServiceAccountTokens {
    fn token(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(self.request())
    }

    fn describe(&self) -> String {
        format!("ServiceAccount {}/{}", self.namespace, self.name)
    }
}

/// A fingerprint of secret material for cache keys: a hash under a key random to
/// this process, so equal inputs match and nothing of the secret is kept.
pub fn fingerprint(parts: &[&str]) -> u64 {
    static KEY: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    KEY.hash_one(parts)
}

/// Providers kept per solver configuration, namespace and credentials, so every
/// challenge of one solver goes through one provider (and its per-zone batcher).
pub struct ProviderCache<P> {
    entries: Mutex<HashMap<String, P>>,
    capacity: usize,
}

impl<P: Clone> ProviderCache<P> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    pub fn get(&self, key: &str) -> Option<P> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    /// Keeps `p` under `key`; when full, forgets all others first (they live on in
    /// their callers until those are done).
    pub fn insert(&self, key: String, p: P) -> P {
        if let Ok(mut m) = self.entries.lock() {
            if m.len() >= self.capacity && !m.contains_key(&key) {
                m.clear();
            }
            m.insert(key, p.clone());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_and_differ() {
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
        assert_ne!(fingerprint(&["a", "b"]), fingerprint(&["ab", ""]));
    }

    #[test]
    fn cache_keeps_and_bounds() {
        let c = ProviderCache::new(2);
        c.insert("a".into(), 1);
        c.insert("b".into(), 2);
        assert_eq!(c.get("a"), Some(1));
        c.insert("c".into(), 3);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("c"), Some(3));
    }

    #[test]
    fn secret_key_description() {
        let s = SecretKeySelector {
            name: "aws".into(),
            key: Some("secret".into()),
        };
        assert_eq!(
            describe_secret_key("ns", &s),
            "Secret ns/aws key \"secret\""
        );
    }
}
