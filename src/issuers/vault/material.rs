//! Reading what a Vault issuer names from Kubernetes: the CA bundle, the mutual
//! TLS key pair, the token or AppRole secret id, the ServiceAccount JWT. The only
//! Kubernetes I/O of the Vault issuer; Secrets come from the issuer's resource
//! namespace (the cluster resource namespace for a ClusterIssuer).

use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::auth::{self, JwtSource, LoginMethod};
use super::transport::{ClientIdentity, TlsMaterial};
use super::{IssuerIdentity, VaultConfig, VaultError};
use crate::api::issuer::VaultIssuer;
use crate::api::meta::SecretKeySelector;
use crate::dns01::credentials::ServiceAccountTokens;

/// The Kubernetes side of one issuer.
pub struct Reader<'a> {
    pub client: &'a kube::Client,
    pub issuer: &'a IssuerIdentity,
    pub config: &'a VaultConfig,
}

impl Reader<'_> {
    async fn secret(
        &self,
        name: &str,
        field: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, VaultError> {
        let ns = &self.issuer.resource_namespace;
        let secret = Api::<Secret>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
            .map_err(|e| VaultError::Kube(format!("reading Secret {ns}/{name} ({field}): {e}")))?
            .ok_or_else(|| VaultError::SecretMissing {
                namespace: ns.clone(),
                name: name.to_string(),
                field: field.to_string(),
            })?;
        Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect())
    }

    async fn secret_key(
        &self,
        selector: &SecretKeySelector,
        default_key: &str,
        field: &str,
    ) -> Result<Vec<u8>, VaultError> {
        let key = selector
            .key
            .as_deref()
            .filter(|k| !k.is_empty())
            .unwrap_or(default_key);
        let mut data = self.secret(&selector.name, field).await?;
        data.remove(key).ok_or_else(|| VaultError::SecretKey {
            namespace: self.issuer.resource_namespace.clone(),
            name: selector.name.clone(),
            key: key.to_string(),
            field: field.to_string(),
        })
    }

    async fn secret_text(
        &self,
        selector: &SecretKeySelector,
        default_key: &str,
        field: &str,
    ) -> Result<String, VaultError> {
        let bytes = self.secret_key(selector, default_key, field).await?;
        String::from_utf8(bytes)
            .map(|s| s.trim().to_string())
            .map_err(|_| {
                VaultError::Config(format!(
                    "the Secret {}/{} named by {field} does not hold UTF-8 text",
                    self.issuer.resource_namespace, selector.name
                ))
            })
    }

    /// The trust and the client certificate of the connection.
    pub async fn tls(&self, v: &VaultIssuer) -> Result<TlsMaterial, VaultError> {
        let ca_bundle_pem = match (&v.ca_bundle, &v.ca_bundle_secret_ref) {
            (Some(b), _) if !b.trim().is_empty() => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .map_err(|e| {
                        VaultError::Config(format!("spec.vault.caBundle is not valid base64: {e}"))
                    })?,
            ),
            (_, Some(r)) => Some(
                self.secret_key(r, "ca.crt", "spec.vault.caBundleSecretRef")
                    .await?,
            ),
            _ => None,
        };
        let client_identity = match (&v.client_cert_secret_ref, &v.client_key_secret_ref) {
            (Some(c), Some(k)) => Some(ClientIdentity {
                certificate_pem: self
                    .secret_key(c, "tls.crt", "spec.vault.clientCertSecretRef")
                    .await?,
                key_pem: self
                    .secret_key(k, "tls.key", "spec.vault.clientKeySecretRef")
                    .await?,
            }),
            _ => None,
        };
        Ok(TlsMaterial {
            ca_bundle_pem,
            client_identity,
            server_name: v.server_name.clone().filter(|s| !s.is_empty()),
        })
    }

    /// The auth method with what it needs read.
    pub async fn login_material(&self, v: &VaultIssuer) -> Result<LoginMethod, VaultError> {
        let a = &v.auth;
        if let Some(t) = &a.token_secret_ref {
            let token = self
                .secret_text(t, "token", "spec.vault.auth.tokenSecretRef")
                .await?;
            return Ok(LoginMethod::Token(token));
        }
        if let Some(r) = &a.app_role {
            let secret_id = self
                .secret_text(&r.secret_ref, "", "spec.vault.auth.appRole.secretRef")
                .await?;
            return Ok(LoginMethod::AppRole {
                mount: auth::app_role_mount(&r.path),
                role_id: r.role_id.trim().to_string(),
                secret_id,
            });
        }
        if let Some(c) = &a.client_certificate {
            let identity = match c.secret_name.as_deref().filter(|s| !s.is_empty()) {
                Some(name) => {
                    let field = "spec.vault.auth.clientCertificate.secretName";
                    let mut data = self.secret(name, field).await?;
                    let mut take = |key: &str| {
                        data.remove(key).ok_or_else(|| VaultError::SecretKey {
                            namespace: self.issuer.resource_namespace.clone(),
                            name: name.to_string(),
                            key: key.to_string(),
                            field: field.to_string(),
                        })
                    };
                    Some(ClientIdentity {
                        certificate_pem: take("tls.crt")?,
                        key_pem: take("tls.key")?,
                    })
                }
                None => None,
            };
            return Ok(LoginMethod::Certificate {
                mount: auth::auth_mount(c.mount_path.as_deref(), "/v1/auth/cert"),
                name: c.name.clone().unwrap_or_default(),
                identity,
            });
        }
        if let Some(k) = &a.kubernetes {
            let jwt = match (&k.secret_ref, &k.service_account_ref) {
                (Some(s), _) if !s.name.is_empty() => JwtSource::Secret(
                    self.secret_text(s, "token", "spec.vault.auth.kubernetes.secretRef")
                        .await?,
                ),
                (_, Some(sa)) => {
                    // cert-manager's audiences: the user's, then vault://<ns>/<name>, then the server.
                    let mut audiences = sa.audiences.clone().unwrap_or_default();
                    audiences.push(self.default_audience());
                    audiences.push(v.server.clone());
                    JwtSource::ServiceAccount(ServiceAccountTokens {
                        client: self.client.clone(),
                        namespace: self.issuer.resource_namespace.clone(),
                        name: sa.name.clone(),
                        audiences,
                    })
                }
                _ => {
                    return Err(VaultError::Config(
                        super::spec::MESSAGE_KUBE_AUTH_EITHER_REQUIRED.into(),
                    ));
                }
            };
            return Ok(LoginMethod::Kubernetes {
                mount: auth::auth_mount(k.mount_path.as_deref(), "/v1/auth/kubernetes"),
                role: k.role.clone(),
                jwt,
            });
        }
        if let Some(aws) = &a.aws {
            let cluster = self.issuer.namespace.is_empty();
            let ambient_allowed = if cluster {
                self.config.cluster_issuer_ambient_credentials
            } else {
                self.config.issuer_ambient_credentials
            };
            if aws.service_account_ref.is_none() && !ambient_allowed {
                return Err(VaultError::Config(
                    "cannot authenticate to Vault using ambient AWS credentials: set auth.aws.serviceAccountRef, or enable ambient credentials via --issuer-ambient-credentials / --cluster-issuer-ambient-credentials".into(),
                ));
            }
            return Ok(LoginMethod::Aws(super::aws::AwsLogin::new(
                aws,
                self.client,
                &self.issuer.resource_namespace,
                self.config.sts_endpoint.clone(),
            )));
        }
        Err(VaultError::Config(
            "error initializing Vault client: unable to load credentials. One of: tokenSecretRef, appRoleSecretRef, clientCertificate, Kubernetes, or AWS auth must be set".into(),
        ))
    }

    /// `vault://<namespace>/<name>` for an Issuer, `vault://<name>` for a ClusterIssuer.
    fn default_audience(&self) -> String {
        match self.issuer.namespace.as_str() {
            "" => format!("vault://{}", self.issuer.name),
            ns => format!("vault://{ns}/{}", self.issuer.name),
        }
    }
}
