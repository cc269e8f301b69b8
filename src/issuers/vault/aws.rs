//! The AWS IAM auth method: an STS `GetCallerIdentity` request signed (SigV4)
//! with the issuer's AWS identity and handed to Vault, which sends it to STS and
//! logs in the IAM principal STS names. The identity is a ServiceAccount token
//! exchanged with `AssumeRoleWithWebIdentity` (IRSA, `serviceAccountRef` +
//! `iamRoleArn`) or the controller's ambient credentials.
//!
//! cert-manager 1.21 writes the login to `/v1/v1/auth/aws/login` (its default
//! mount path already holds `/v1`); certgate sends it where Vault serves it.

use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use base64::Engine;
use serde_json::{Value, json};

use super::VaultError;
use crate::api::issuer::VaultAwsAuth;
use crate::dns01::credentials::ServiceAccountTokens;

/// The request Vault is given to send to STS.
const STS_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
/// The region when neither the issuer nor the environment names one.
const DEFAULT_REGION: &str = "us-east-1";
/// The session name of the role assumed with a ServiceAccount token (cert-manager's).
const SESSION_NAME: &str = "cert-manager";

/// An issuer's AWS auth: where to log in, as whom, with what identity.
pub struct AwsLogin {
    pub mount: String,
    role: String,
    region: String,
    header_value: Option<String>,
    identity: Identity,
    sts_endpoint: Option<String>,
}

enum Identity {
    Ambient,
    WebIdentity {
        tokens: ServiceAccountTokens,
        role_arn: String,
    },
}

fn env_region() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// cert-manager's region choice: with ambient credentials the environment's region
/// wins over the issuer's; else the issuer's, the environment's, `us-east-1`.
fn region(issuer_region: Option<&str>, ambient: bool, env: Option<String>) -> String {
    let issuer_region = issuer_region.filter(|r| !r.is_empty());
    match (issuer_region, env) {
        (Some(_), Some(env)) if ambient => env,
        (Some(r), _) => r.to_string(),
        (None, Some(env)) => env,
        (None, None) => DEFAULT_REGION.to_string(),
    }
}

impl AwsLogin {
    pub fn new(
        spec: &VaultAwsAuth,
        client: &kube::Client,
        resource_namespace: &str,
        sts_endpoint: Option<String>,
    ) -> AwsLogin {
        let identity = match &spec.service_account_ref {
            Some(sa) => {
                let mut audiences = vec!["sts.amazonaws.com".to_string()];
                audiences.extend(sa.audiences.clone().unwrap_or_default());
                Identity::WebIdentity {
                    tokens: ServiceAccountTokens {
                        client: client.clone(),
                        namespace: resource_namespace.to_string(),
                        name: sa.name.clone(),
                        audiences,
                    },
                    role_arn: spec.iam_role_arn.clone().unwrap_or_default(),
                }
            }
            None => Identity::Ambient,
        };
        AwsLogin {
            mount: super::auth::auth_mount(spec.mount_path.as_deref(), "/v1/auth/aws"),
            role: spec.role.clone(),
            region: region(
                spec.region.as_deref(),
                matches!(identity, Identity::Ambient),
                env_region(),
            ),
            header_value: spec.vault_header_value.clone().filter(|v| !v.is_empty()),
            identity,
            sts_endpoint,
        }
    }

    async fn credentials(&self) -> Result<Credentials, VaultError> {
        let aws_err =
            |e: String| VaultError::Config(format!("error generating AWS login data: {e}"));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()));
        match &self.identity {
            Identity::Ambient => {
                let sdk = loader.load().await;
                let provider = sdk
                    .credentials_provider()
                    .ok_or_else(|| aws_err("no AWS credentials provider is configured".into()))?;
                provider
                    .provide_credentials()
                    .await
                    .map_err(|e| aws_err(format!("error retrieving AWS credentials: {e}")))
            }
            Identity::WebIdentity { tokens, role_arn } => {
                if role_arn.is_empty() {
                    return Err(VaultError::Config(
                        "spec.vault.auth.aws.iamRoleArn is required when using serviceAccountRef for IRSA".into(),
                    ));
                }
                let jwt = tokens.request().await.map_err(VaultError::Kube)?;
                if let Some(url) = &self.sts_endpoint {
                    loader = loader.endpoint_url(url.clone());
                }
                let sdk = loader.no_credentials().load().await;
                let out = aws_sdk_sts::Client::new(&sdk)
                    .assume_role_with_web_identity()
                    .role_arn(role_arn)
                    .role_session_name(SESSION_NAME)
                    .web_identity_token(jwt)
                    .send()
                    .await
                    .map_err(|e| {
                        aws_err(format!(
                            "error assuming role with web identity: {}",
                            aws_sdk_sts::error::DisplayErrorContext(&e)
                        ))
                    })?;
                let c = out
                    .credentials
                    .ok_or_else(|| aws_err("STS returned no credentials".into()))?;
                Ok(Credentials::new(
                    c.access_key_id,
                    c.secret_access_key,
                    Some(c.session_token),
                    None,
                    "certgate-vault-irsa",
                ))
            }
        }
    }

    /// The login body: the role and the signed request, base64-encoded as Vault
    /// reads it.
    pub async fn login_body(&self) -> Result<Value, VaultError> {
        let creds = self.credentials().await?;
        signed_login_body(
            &creds,
            &self.region,
            &self.role,
            self.header_value.as_deref(),
            SystemTime::now(),
        )
    }
}

/// The signed `GetCallerIdentity` request as Vault's login body (pure).
pub fn signed_login_body(
    creds: &Credentials,
    region: &str,
    role: &str,
    header_value: Option<&str>,
    now: SystemTime,
) -> Result<Value, VaultError> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let err = |e: String| VaultError::Config(format!("error generating AWS login data: {e}"));
    let url = format!("https://sts.{region}.amazonaws.com/");
    let mut headers: Vec<(String, String)> = vec![(
        "Content-Type".into(),
        "application/x-www-form-urlencoded; charset=utf-8".into(),
    )];
    if let Some(v) = header_value {
        headers.push(("X-Vault-AWS-IAM-Server-ID".into(), v.to_string()));
    }
    let identity = creds.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| err(e.to_string()))?;
    let signable = SignableRequest::new(
        "POST",
        url.clone(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(STS_BODY.as_bytes()),
    )
    .map_err(|e| err(e.to_string()))?;
    let (instructions, _) = sign(signable, &params.into())
        .map_err(|e| err(e.to_string()))?
        .into_parts();
    let (added, _) = instructions.into_parts();
    let mut all: serde_json::Map<String, Value> =
        headers.into_iter().map(|(k, v)| (k, json!([v]))).collect();
    for h in added {
        all.insert(canonical_header(h.name()), json!([h.value()]));
    }
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let headers_json = serde_json::to_vec(&all).map_err(|e| err(e.to_string()))?;
    Ok(json!({
        "role": role,
        "iam_http_request_method": "POST",
        "iam_request_url": b64(url.as_bytes()),
        "iam_request_body": b64(STS_BODY.as_bytes()),
        "iam_request_headers": b64(&headers_json),
    }))
}

/// `x-amz-date` → `X-Amz-Date`, as Go's `http.Header` keys are written.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn regions_follow_cert_manager() {
        assert_eq!(
            region(Some("eu-west-1"), false, Some("us-west-2".into())),
            "eu-west-1"
        );
        assert_eq!(
            region(Some("eu-west-1"), true, Some("us-west-2".into())),
            "us-west-2"
        );
        assert_eq!(region(None, true, None), "us-east-1");
        assert_eq!(
            region(Some(""), false, Some("ap-south-1".into())),
            "ap-south-1"
        );
    }

    #[test]
    fn the_login_body_carries_a_signed_request() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret-key-never-shown",
            Some("session".into()),
            None,
            "test",
        );
        let body = signed_login_body(
            &creds,
            "eu-west-1",
            "web",
            Some("vault.example.com"),
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        let dec = |k: &str| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(body[k].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(body["role"], "web");
        assert_eq!(
            dec("iam_request_url"),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        assert_eq!(dec("iam_request_body"), STS_BODY);
        let headers: Value = serde_json::from_str(&dec("iam_request_headers")).unwrap();
        let auth = headers["Authorization"][0].as_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/sts/aws4_request"
        ));
        assert!(auth.contains("x-vault-aws-iam-server-id"), "{auth}");
        assert_eq!(headers["X-Amz-Security-Token"][0], "session");
        assert_eq!(headers["X-Vault-AWS-IAM-Server-ID"][0], "vault.example.com");
        assert!(!body.to_string().contains("secret-key-never-shown"));
    }
}
