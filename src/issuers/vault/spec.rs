//! What a Vault issuer says, checked before anything is called (pure): the
//! messages of cert-manager's Vault issuer setup, in its order, the Secrets the
//! issuer names (so their changes re-check it), and how `sys/health` answers read.

use http::StatusCode;

use crate::api::issuer::{VaultAuth, VaultIssuer};

pub const MESSAGE_SERVER_AND_PATH_REQUIRED: &str = "Vault server and path are required fields";
pub const MESSAGE_AUTH_FIELDS_REQUIRED: &str =
    "Vault tokenSecretRef, appRole, clientCertificate, kubernetes, or aws is required";
pub const MESSAGE_MULTIPLE_AUTH_FIELDS_SET: &str =
    "Multiple auth methods cannot be set on the same Vault issuer";
pub const MESSAGE_KUBE_AUTH_ROLE_REQUIRED: &str = "Vault Kubernetes auth requires a role to be set";
pub const MESSAGE_KUBE_AUTH_EITHER_REQUIRED: &str =
    "Vault Kubernetes auth requires either secretRef.name or serviceAccountRef.name to be set";
pub const MESSAGE_KUBE_AUTH_SINGLE_REQUIRED: &str =
    "Vault Kubernetes auth cannot be used with both secretRef.name and serviceAccountRef.name";
pub const MESSAGE_TOKEN_AUTH_NAME_REQUIRED: &str = "Vault Token auth requires tokenSecretRef.name";
pub const MESSAGE_APP_ROLE_FIELDS_REQUIRED: &str =
    "Vault AppRole auth requires both roleId and tokenSecretRef.name";
pub const MESSAGE_APP_ROLE_KEY_REQUIRED: &str = "Vault AppRole auth requires secretRef.key";

/// The auth methods set, in cert-manager's order of precedence.
pub fn auth_methods(auth: &VaultAuth) -> Vec<&'static str> {
    [
        (auth.token_secret_ref.is_some(), "tokenSecretRef"),
        (auth.app_role.is_some(), "appRole"),
        (auth.client_certificate.is_some(), "clientCertificate"),
        (auth.kubernetes.is_some(), "kubernetes"),
        (auth.aws.is_some(), "aws"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}

/// cert-manager's checks of a Vault issuer, in its order; the message of the
/// first that fails.
pub fn check(v: &VaultIssuer) -> Result<(), &'static str> {
    if v.server.trim().is_empty() || v.path.trim().is_empty() {
        return Err(MESSAGE_SERVER_AND_PATH_REQUIRED);
    }
    match auth_methods(&v.auth).len() {
        0 => return Err(MESSAGE_AUTH_FIELDS_REQUIRED),
        1 => {}
        _ => return Err(MESSAGE_MULTIPLE_AUTH_FIELDS_SET),
    }
    if let Some(t) = &v.auth.token_secret_ref
        && t.name.is_empty()
    {
        return Err(MESSAGE_TOKEN_AUTH_NAME_REQUIRED);
    }
    if let Some(a) = &v.auth.app_role {
        if a.role_id.trim().is_empty() || a.secret_ref.name.is_empty() {
            return Err(MESSAGE_APP_ROLE_FIELDS_REQUIRED);
        }
        if a.secret_ref.key.as_deref().unwrap_or_default().is_empty() {
            return Err(MESSAGE_APP_ROLE_KEY_REQUIRED);
        }
    }
    if let Some(k) = &v.auth.kubernetes {
        if k.role.is_empty() {
            return Err(MESSAGE_KUBE_AUTH_ROLE_REQUIRED);
        }
        let by_secret = k.secret_ref.as_ref().is_some_and(|s| !s.name.is_empty());
        match (by_secret, k.service_account_ref.is_some()) {
            (false, false) => return Err(MESSAGE_KUBE_AUTH_EITHER_REQUIRED),
            (true, true) => return Err(MESSAGE_KUBE_AUTH_SINGLE_REQUIRED),
            _ => {}
        }
    }
    Ok(())
}

/// The Secrets the issuer reads, by name (in its resource namespace).
pub fn secret_names(v: &VaultIssuer) -> Vec<&str> {
    let mut names = Vec::new();
    let auth = &v.auth;
    names.extend(auth.token_secret_ref.as_ref().map(|s| s.name.as_str()));
    names.extend(auth.app_role.as_ref().map(|a| a.secret_ref.name.as_str()));
    names.extend(
        auth.client_certificate
            .as_ref()
            .and_then(|c| c.secret_name.as_deref()),
    );
    names.extend(
        auth.kubernetes
            .as_ref()
            .and_then(|k| k.secret_ref.as_ref())
            .map(|s| s.name.as_str()),
    );
    names.extend(v.ca_bundle_secret_ref.as_ref().map(|s| s.name.as_str()));
    names.extend(v.client_cert_secret_ref.as_ref().map(|s| s.name.as_str()));
    names.extend(v.client_key_secret_ref.as_ref().map(|s| s.name.as_str()));
    names.retain(|n| !n.is_empty());
    names.sort_unstable();
    names.dedup();
    names
}

/// Whether `sys/health`'s status means Vault can serve: 2xx, and a standby (429),
/// DR secondary (472) or performance standby (473) count as healthy as in
/// cert-manager.
pub fn health_verdict(status: StatusCode) -> Result<(), String> {
    match status.as_u16() {
        s if s < 400 => Ok(()),
        429 | 472 | 473 => Ok(()),
        501 => Err("Vault is not initialized".into()),
        503 => Err("Vault is sealed".into()),
        s => Err(format!("error calling Vault /v1/sys/health: HTTP {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::issuer::{VaultAppRole, VaultKubernetesAuth};
    use crate::api::meta::{SecretKeySelector, ServiceAccountRef};

    fn issuer(auth: VaultAuth) -> VaultIssuer {
        VaultIssuer {
            server: "https://vault:8200".into(),
            path: "pki/sign/web".into(),
            auth,
            ..VaultIssuer::default()
        }
    }

    fn secret(name: &str, key: Option<&str>) -> SecretKeySelector {
        SecretKeySelector {
            name: name.into(),
            key: key.map(str::to_string),
        }
    }

    #[test]
    fn checks_run_in_cert_managers_order_with_its_words() {
        let token = VaultAuth {
            token_secret_ref: Some(secret("t", None)),
            ..VaultAuth::default()
        };
        assert_eq!(check(&issuer(token.clone())), Ok(()));
        let mut no_path = issuer(token.clone());
        no_path.path = String::new();
        assert_eq!(check(&no_path), Err(MESSAGE_SERVER_AND_PATH_REQUIRED));
        assert_eq!(
            check(&issuer(VaultAuth::default())),
            Err(MESSAGE_AUTH_FIELDS_REQUIRED)
        );
        let app_role = VaultAppRole {
            path: "approle".into(),
            role_id: "r".into(),
            secret_ref: secret("s", Some("secretId")),
        };
        let two = VaultAuth {
            app_role: Some(app_role.clone()),
            ..token
        };
        assert_eq!(check(&issuer(two)), Err(MESSAGE_MULTIPLE_AUTH_FIELDS_SET));
        let keyless = VaultAuth {
            app_role: Some(VaultAppRole {
                secret_ref: secret("s", None),
                ..app_role
            }),
            ..VaultAuth::default()
        };
        assert_eq!(check(&issuer(keyless)), Err(MESSAGE_APP_ROLE_KEY_REQUIRED));
        let kube = |secret_ref: Option<SecretKeySelector>, sa: bool| VaultAuth {
            kubernetes: Some(VaultKubernetesAuth {
                role: "certgate".into(),
                secret_ref,
                service_account_ref: sa.then(|| ServiceAccountRef {
                    name: "vault".into(),
                    audiences: None,
                }),
                mount_path: None,
            }),
            ..VaultAuth::default()
        };
        assert_eq!(
            check(&issuer(kube(None, false))),
            Err(MESSAGE_KUBE_AUTH_EITHER_REQUIRED)
        );
        assert_eq!(
            check(&issuer(kube(Some(secret("jwt", None)), true))),
            Err(MESSAGE_KUBE_AUTH_SINGLE_REQUIRED)
        );
        assert_eq!(check(&issuer(kube(None, true))), Ok(()));
    }

    #[test]
    fn health_reads_as_cert_manager_reads_it() {
        assert_eq!(health_verdict(StatusCode::OK), Ok(()));
        assert_eq!(health_verdict(StatusCode::TOO_MANY_REQUESTS), Ok(()));
        assert_eq!(
            health_verdict(StatusCode::SERVICE_UNAVAILABLE),
            Err("Vault is sealed".into())
        );
        assert_eq!(
            health_verdict(StatusCode::NOT_IMPLEMENTED),
            Err("Vault is not initialized".into())
        );
    }

    #[test]
    fn every_named_secret_is_watched_once() {
        let mut v = issuer(VaultAuth {
            token_secret_ref: Some(secret("vault-token", None)),
            ..VaultAuth::default()
        });
        v.ca_bundle_secret_ref = Some(secret("vault-ca", None));
        v.client_cert_secret_ref = Some(secret("vault-client", None));
        v.client_key_secret_ref = Some(secret("vault-client", Some("tls.key")));
        assert_eq!(
            secret_names(&v),
            vec!["vault-ca", "vault-client", "vault-token"]
        );
    }
}
