//! Cloudflare credentials of a `cloudflare` solver: an API token, or a global API key
//! with its account email, read from the Secret the solver names. Must not log or
//! return the token or key.

use super::*;

/// How requests authenticate. `source` says where the secret came from (e.g.
/// `Secret cert-manager/cloudflare key api-token`), for messages; the secret itself
/// never appears in `Debug` or errors.
#[derive(Clone)]
pub enum CloudflareAuth {
    /// An API token (`Authorization: Bearer`), recommended.
    Token { token: String, source: String },
    /// A global API key with its account email (`X-Auth-Key` + `X-Auth-Email`).
    Key {
        email: String,
        key: String,
        source: String,
    },
}

impl fmt::Debug for CloudflareAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token { source, .. } => f
                .debug_struct("Token")
                .field("source", source)
                .finish_non_exhaustive(),
            Self::Key { email, source, .. } => f
                .debug_struct("Key")
                .field("email", email)
                .field("source", source)
                .finish_non_exhaustive(),
        }
    }
}

impl CloudflareAuth {
    /// The credential in words, for messages: `the API token from <source>`.
    pub fn describe(&self) -> String {
        match self {
            Self::Token { source, .. } => format!("the API token from {source}"),
            Self::Key { email, source, .. } => {
                format!("the global API key from {source} (email {email})")
            }
        }
    }
}

/// Which Secret key holds a solver's credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialRef {
    /// `apiTokenSecretRef`.
    Token { secret: String, key: String },
    /// `apiKeySecretRef` with `email`.
    Key {
        secret: String,
        key: String,
        email: String,
    },
}

impl CredentialRef {
    /// The solver field naming the Secret, for messages.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Token { .. } => "cloudflare.apiTokenSecretRef",
            Self::Key { .. } => "cloudflare.apiKeySecretRef",
        }
    }
}

/// The credential a solver's `cloudflare` block names, as cert-manager reads it: an
/// API token, or a global API key with the account email; not both.
pub fn credential_ref(
    config: &AcmeIssuerDns01ProviderCloudflare,
) -> Result<CredentialRef, CloudflareError> {
    let key_of = |r: &SecretKeySelector, field: &str| {
        r.key
            .clone()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| CloudflareError::MissingSecretKey {
                field: field.to_string(),
                secret: r.name.clone(),
            })
    };
    match (&config.api_token_secret_ref, &config.api_key_secret_ref) {
        (Some(_), Some(_)) => Err(CloudflareError::BothCredentials),
        (None, None) => Err(CloudflareError::NoCredentials),
        (Some(r), None) => Ok(CredentialRef::Token {
            secret: r.name.clone(),
            key: key_of(r, "apiTokenSecretRef")?,
        }),
        (None, Some(r)) => {
            let email = config
                .email
                .clone()
                .filter(|e| !e.trim().is_empty())
                .ok_or(CloudflareError::MissingEmail)?;
            Ok(CredentialRef::Key {
                secret: r.name.clone(),
                key: key_of(r, "apiKeySecretRef")?,
                email,
            })
        }
    }
}

pub(super) fn check_header_value(value: &str, source: &str) -> Result<String, CloudflareError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(CloudflareError::EmptyCredential {
            source_: source.to_string(),
        });
    }
    if !v.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(CloudflareError::InvalidCredential {
            source_: source.to_string(),
        });
    }
    Ok(v.to_string())
}
