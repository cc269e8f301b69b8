//! AWS credentials of a `route53` solver: access keys, an assumed role, or a
//! ServiceAccount token exchanged with STS. Must not log or return a secret.

use super::*;

/// Where the provider's AWS identity comes from.
#[derive(Clone)]
pub enum AwsCredentials {
    /// aws-config's default chain: environment, web identity token file (IRSA), EKS
    /// pod identity, ECS, instance metadata.
    Ambient,
    /// An access key; `source` says where it was read from (for messages).
    Static {
        access_key_id: String,
        secret_access_key: String,
        source: String,
    },
    /// ServiceAccount tokens exchanged with STS AssumeRoleWithWebIdentity for `role`.
    WebIdentity(Arc<dyn WebIdentityTokenSource>),
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ambient => f.write_str("Ambient"),
            Self::Static {
                access_key_id,
                source,
                ..
            } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"** redacted **")
                .field("source", source)
                .finish(),
            Self::WebIdentity(t) => f.debug_tuple("WebIdentity").field(&t.describe()).finish(),
        }
    }
}

impl AwsCredentials {
    pub(super) fn describe(&self, role: Option<&str>) -> String {
        let base = match self {
            Self::Ambient => {
                "the ambient AWS credentials (environment, IRSA, pod identity or instance role)"
                    .to_string()
            }
            Self::Static {
                access_key_id,
                source,
                ..
            } => format!("access key {access_key_id} ({source})"),
            Self::WebIdentity(t) => format!("a token of {}", t.describe()),
        };
        match role {
            Some(r) => format!("role {r} assumed with {base}"),
            None => base,
        }
    }
}

/// Credentials from a ServiceAccount token exchanged with STS for `role`.
pub(super) struct KubeWebIdentity {
    pub(super) sts: aws_sdk_sts::Client,
    pub(super) role: String,
    pub(super) source: Arc<dyn WebIdentityTokenSource>,
}

impl fmt::Debug for KubeWebIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeWebIdentity")
            .field("role", &self.role)
            .field("service_account", &self.source.describe())
            .finish()
    }
}

impl KubeWebIdentity {
    pub(super) async fn load(&self) -> Result<Credentials, CredentialsError> {
        let token = self.source.token().await.map_err(|e| {
            CredentialsError::provider_error(format!(
                "requesting a token of {}: {e}",
                self.source.describe()
            ))
        })?;
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.role)
            .role_session_name(SESSION_NAME)
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| {
                let reason = match &e {
                    SdkError::ServiceError(s) => format!(
                        "{}: {}",
                        s.err().code().unwrap_or("error"),
                        s.err().message().unwrap_or_default()
                    ),
                    _ => DisplayErrorContext(&e).to_string(),
                };
                CredentialsError::provider_error(format!(
                    "STS AssumeRoleWithWebIdentity for role {} with a token of {} failed ({reason}): check the role's trust \
                     policy (the cluster's OIDC provider, audience {STS_AUDIENCE}, subject system:serviceaccount:<namespace>:<name>)",
                    self.role,
                    self.source.describe()
                ))
            })?;
        let c = out.credentials().ok_or_else(|| {
            CredentialsError::provider_error(
                "STS AssumeRoleWithWebIdentity returned no credentials",
            )
        })?;
        let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "certgate-web-identity",
        ))
    }
}

impl ProvideCredentials for KubeWebIdentity {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.load())
    }
}
