//! Azure tokens: the credential a solver names (client secret, workload identity,
//! managed identity), the token request to Entra ID or the instance metadata service,
//! and the cache that keeps a token until shortly before it expires. Must not log or
//! return a secret or token in an error.

use super::*;

/// How the provider gets ARM tokens.
#[derive(Clone)]
pub enum AzureCredential {
    /// A service principal's client secret; `source` says where it came from
    /// (`Secret ns/name key "k"`).
    ClientSecret {
        tenant_id: String,
        client_id: String,
        secret: String,
        source: String,
    },
    /// Azure Workload Identity: a federated ServiceAccount token read from `token_file`.
    WorkloadIdentity {
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
    },
    /// The instance metadata service, for the node's identity or one named by client
    /// ID or resource ID.
    ManagedIdentity {
        client_id: Option<String>,
        resource_id: Option<String>,
    },
}

impl fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl AzureCredential {
    /// The credential in words, for messages (never the secret).
    pub fn describe(&self) -> String {
        match self {
            Self::ClientSecret {
                tenant_id,
                client_id,
                source,
                ..
            } => format!(
                "service principal {client_id} of tenant {tenant_id} with the client secret from {source}"
            ),
            Self::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => format!(
                "workload identity {client_id} of tenant {tenant_id} (federated token {})",
                token_file.display()
            ),
            Self::ManagedIdentity {
                client_id: Some(id),
                ..
            } => format!("managed identity with client ID {id}"),
            Self::ManagedIdentity {
                resource_id: Some(id),
                ..
            } => format!("managed identity {id}"),
            Self::ManagedIdentity { .. } => "the node's managed identity".to_string(),
        }
    }

    /// What must be fixed when Entra ID refuses the credential with `code` (AADSTS).
    pub(super) fn fix(&self, code: u64, error: &str) -> String {
        match (self, code) {
            (Self::ClientSecret { .. }, 7000215 | 7000222) => {
                "the client secret is wrong or expired: create a new client secret for the app registration and put its value (not its ID) in the Secret".into()
            }
            (_, 700016) => format!(
                "no application with this client ID in the tenant: check {FIELD}.clientID and {FIELD}.tenantID (or managedIdentity.clientID / tenantID)"
            ),
            (_, 90002 | 900023 | 90013) => format!(
                "the tenant does not exist: check {FIELD}.tenantID (or managedIdentity.tenantID / AZURE_TENANT_ID)"
            ),
            (Self::WorkloadIdentity { .. }, 70021 | 700211 | 700212 | 700213 | 700024 | 50166) => {
                "no federated identity credential of the identity matches certgate's ServiceAccount token: add one with the cluster's OIDC issuer and subject system:serviceaccount:<namespace>:<certgate's ServiceAccount>".into()
            }
            (_, 70011) => "the token scope was refused: check the environment".into(),
            (Self::ManagedIdentity { .. }, _) => format!(
                "the node has no such managed identity: assign it to the VM or scale set, or fix {FIELD}.managedIdentity.clientID / resourceID"
            ),
            _ if error == "invalid_client" => {
                "the client credentials are wrong: check the client ID, tenant and secret".into()
            }
            _ => "check the client ID, tenant and credential".into(),
        }
    }

    pub(super) fn secret(&self) -> Option<&str> {
        match self {
            Self::ClientSecret { secret, .. } => Some(secret),
            _ => None,
        }
    }
}

/// A token and when to renew it.
#[derive(Clone)]
pub(super) struct CachedToken {
    token: String,
    renew_at: Instant,
}

/// The ambient settings of Azure Workload Identity: what the workload identity
/// webhook puts in the pod's environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AmbientEnv {
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    pub federated_token_file: Option<PathBuf>,
    /// `AZURE_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `AZURE_TENANT_ID`.
    pub tenant_id: Option<String>,
}

impl AmbientEnv {
    /// From the process environment.
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self {
            federated_token_file: var("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            client_id: var("AZURE_CLIENT_ID"),
            tenant_id: var("AZURE_TENANT_ID"),
        }
    }
}

/// The ambient credential of a solver without `clientID`, as cert-manager picks it:
/// workload identity when the environment has a federated token file, else the
/// instance metadata service.
pub fn ambient_credential(
    cfg: &AcmeIssuerDns01ProviderAzureDns,
    env: &AmbientEnv,
) -> Result<AzureCredential, AzureError> {
    let mi = cfg.managed_identity.clone().unwrap_or_default();
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    if let Some(file) = &env.federated_token_file {
        let client_id = nonempty(&mi.client_id)
            .or_else(|| env.client_id.clone())
            .ok_or_else(|| AzureError::Config {
                field: format!("{FIELD}.managedIdentity.clientID"),
                why: "is not set and neither is AZURE_CLIENT_ID: name the workload identity's client ID (or annotate certgate's ServiceAccount with azure.workload.identity/client-id)".into(),
            })?;
        let tenant_id = nonempty(&mi.tenant_id)
            .or_else(|| env.tenant_id.clone())
            .ok_or_else(|| AzureError::Config {
                field: format!("{FIELD}.managedIdentity.tenantID"),
                why:
                    "is not set and neither is AZURE_TENANT_ID: name the workload identity's tenant"
                        .into(),
            })?;
        return Ok(AzureCredential::WorkloadIdentity {
            tenant_id,
            client_id,
            token_file: file.clone(),
        });
    }
    Ok(AzureCredential::ManagedIdentity {
        client_id: nonempty(&mi.client_id),
        resource_id: nonempty(&mi.resource_id).filter(|_| nonempty(&mi.client_id).is_none()),
    })
}

/// Whether a solver uses ambient credentials (no `clientID`: cert-manager's test).
pub fn uses_ambient(cfg: &AcmeIssuerDns01ProviderAzureDns) -> bool {
    cfg.client_id.as_deref().is_none_or(|c| c.trim().is_empty())
}

impl AzureProvider {
    /// A token for ARM: the cached one, or a new one.
    pub(super) async fn token(&self) -> Result<String, AzureError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.token.clone());
        }
        let (token, lifetime) = self.fetch_token().await?;
        let margin = TOKEN_MARGIN.min(lifetime / 2);
        *cached = Some(CachedToken {
            token: token.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        Ok(token)
    }

    /// Forgets the cached token (ARM refused it).
    pub(super) async fn drop_token(&self) {
        *self.token.lock().await = None;
    }

    pub(super) async fn fetch_token(&self) -> Result<(String, Duration), AzureError> {
        let action = "getting an ARM token";
        let scope = self.cloud.scope();
        let (base, result, attempts) = match &self.credential {
            AzureCredential::ClientSecret {
                tenant_id,
                client_id,
                secret,
                ..
            } => {
                let url = self.token_url(tenant_id);
                debug!(tenant = %tenant_id, client = %client_id, "requesting an Entra ID token (client secret)");
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.as_str()),
                    ("scope", scope.as_str()),
                ];
                let (r, n) = self
                    .retrying("token", || self.http.post(url.clone()).form(&form))
                    .await;
                (self.login.to_string(), r, n)
            }
            AzureCredential::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => {
                let assertion = tokio::fs::read_to_string(token_file).await.map_err(|e| {
                    AzureError::TokenFile {
                        path: token_file.display().to_string(),
                        reason: e.to_string(),
                    }
                })?;
                let url = self.token_url(tenant_id);
                debug!(tenant = %tenant_id, client = %client_id, "requesting an Entra ID token (workload identity)");
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.trim()),
                    ("scope", scope.as_str()),
                ];
                let (r, n) = self
                    .retrying("token", || self.http.post(url.clone()).form(&form))
                    .await;
                (self.login.to_string(), r, n)
            }
            AzureCredential::ManagedIdentity {
                client_id,
                resource_id,
            } => {
                let mut url = self.imds.clone();
                if let Ok(mut path) = url.path_segments_mut() {
                    path.pop_if_empty()
                        .extend(["metadata", "identity", "oauth2", "token"]);
                }
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("api-version", IMDS_API_VERSION)
                        .append_pair("resource", self.cloud.arm_url());
                    if let Some(id) = client_id {
                        q.append_pair("client_id", id);
                    } else if let Some(id) = resource_id {
                        q.append_pair("msi_res_id", id);
                    }
                }
                debug!("requesting a managed identity token from the instance metadata service");
                let (r, n) = self
                    .retrying("token", || {
                        self.http.get(url.clone()).header("Metadata", "true")
                    })
                    .await;
                (self.imds.to_string(), r, n)
            }
        };
        let body = match result {
            Ok((_, _, body)) => body,
            Err(CallError::Transport(reason)) => {
                return Err(AzureError::Unreachable {
                    base,
                    action: action.into(),
                    attempts,
                    reason: if matches!(self.credential, AzureCredential::ManagedIdentity { .. }) {
                        format!(
                            "{reason} (the instance metadata service answers only on Azure VMs and AKS nodes with a managed identity)"
                        )
                    } else {
                        reason
                    },
                });
            }
            Err(CallError::Status {
                status,
                code,
                message,
                aadsts,
                wait,
            }) => {
                let detail = detail("", &message);
                return Err(match status {
                    429 => AzureError::RateLimited {
                        action: action.into(),
                        attempts,
                        detail,
                        wait: wait
                            .map(|w| format!("; asked to wait {} s", w.as_secs()))
                            .unwrap_or_default(),
                    },
                    s if s >= 500 => AzureError::ServerError {
                        action: action.into(),
                        status: s,
                        detail,
                        attempts,
                    },
                    s => AzureError::TokenRefused {
                        credential: self.credential.describe(),
                        status: s,
                        fix: self.credential.fix(aadsts, &code),
                        error: if code.is_empty() {
                            "refused".into()
                        } else {
                            code
                        },
                        detail,
                    },
                });
            }
        };
        let invalid = |reason: &str| AzureError::InvalidResponse {
            base: base.clone(),
            action: action.into(),
            reason: reason.into(),
        };
        let v: Value = serde_json::from_slice(&body).map_err(|e| invalid(&e.to_string()))?;
        let token = v["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("no access_token"))?
            .to_string();
        // Entra ID gives a number, the metadata service a string.
        let secs = match &v["expires_in"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(300);
        Ok((token, Duration::from_secs(secs)))
    }

    /// `{login}{tenant}/oauth2/v2.0/token`.
    pub(super) fn token_url(&self, tenant: &str) -> reqwest::Url {
        let mut url = self.login.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend([tenant, "oauth2", "v2.0", "token"]);
        }
        url
    }
}
