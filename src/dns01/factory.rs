//! The provider factory: from a solver's `dns01` configuration to a [`Provider`]
//! with its credentials (read from Secrets, or ambient where allowed). It builds;
//! presenting and checking are the ACME Challenge solver's (`issuers::acme::solver`).

use super::credentials::{secret_bytes, secret_value};
use super::{ApiEndpoints, Provider};
use crate::api::acme_dns01::AcmeChallengeSolverDns01;
use crate::api::meta::SecretKeySelector;

/// The provider whose ambient credentials (the controller's own cloud identity) a
/// solver would use, having none of its own; `role` alone is assumed with them.
pub fn ambient_credentials(dns01: &AcmeChallengeSolverDns01) -> Option<&'static str> {
    if let Some(r) = &dns01.route53 {
        let own = r.access_key_id.is_some()
            || r.access_key_id_secret_ref.is_some()
            || r.secret_access_key_secret_ref.is_some()
            || r.auth.is_some();
        if !own {
            return Some("route53");
        }
    }
    if let Some(c) = &dns01.cloud_dns
        && c.service_account_secret_ref.is_none()
    {
        return Some("cloudDNS");
    }
    if let Some(a) = &dns01.azure_dns
        && super::azure::uses_ambient(a)
    {
        return Some("azureDNS");
    }
    None
}

/// Why a namespaced Issuer may not use ambient credentials, when it may not.
pub fn ambient_refusal(
    dns01: &AcmeChallengeSolverDns01,
    cluster_issuer: bool,
    config: &super::Dns01Config,
) -> Option<String> {
    let provider = ambient_credentials(dns01)?;
    let (allowed, flag, kind) = if cluster_issuer {
        (
            config.cluster_issuer_ambient_credentials,
            "--cluster-issuer-ambient-credentials",
            "ClusterIssuer",
        )
    } else {
        (
            config.issuer_ambient_credentials,
            "--issuer-ambient-credentials",
            "Issuer",
        )
    };
    (!allowed).then(|| {
        format!(
            "the {kind}'s {provider} solver names no credentials of its own, and using the controller's ambient credentials is off for {kind}s ({flag}=false, as in cert-manager): give the solver credentials in a Secret, or use a ClusterIssuer"
        )
    })
}

/// The `dns01` providers certgate implements, by their solver field names.
pub const SUPPORTED: [&str; 9] = [
    "rfc2136",
    "cloudflare",
    "route53",
    "cloudDNS",
    "digitalocean",
    "acmeDNS",
    "azureDNS",
    "akamai",
    "webhook",
];

/// The provider of one Challenge's solver: as [`provider_for`], with what a webhook
/// solver is told about the Challenge (its uid, `dnsName`, whether ambient
/// credentials are allowed).
pub async fn provider_for_challenge(
    client: &kube::Client,
    dns01: &AcmeChallengeSolverDns01,
    secret_ns: &str,
    endpoints: &ApiEndpoints,
    challenge: &super::webhook::ChallengeInfo,
) -> Result<Box<dyn Provider>, super::ProviderError> {
    if let Some(cfg) = &dns01.webhook {
        return Ok(Box::new(super::webhook::WebhookProvider::new(
            client.clone(),
            cfg,
            secret_ns,
            challenge,
        )));
    }
    // A provider that cannot be built names what to fix: its configuration or
    // the Secret holding its credentials.
    provider_for(client, dns01, secret_ns, endpoints)
        .await
        .map_err(|e| super::ProviderError::Misconfigured(e.into()))
}

/// A DNS-01 solver's provider, with its credentials read from Secrets in
/// `secret_ns` (the Issuer's namespace; a ClusterIssuer's cluster resource namespace).
/// Errors name the Secret and key, never their content. Providers with an HTTP API
/// use `endpoints` (their public API unless a test points them elsewhere).
pub async fn provider_for(
    client: &kube::Client,
    dns01: &AcmeChallengeSolverDns01,
    secret_ns: &str,
    endpoints: &ApiEndpoints,
) -> Result<Box<dyn Provider>, String> {
    if let Some(cfg) = &dns01.webhook {
        return Ok(Box::new(super::webhook::WebhookProvider::new(
            client.clone(),
            cfg,
            secret_ns,
            &Default::default(),
        )));
    }
    if let Some(cfg) = &dns01.cloudflare {
        use super::cloudflare::{CloudflareAuth, CloudflareProvider, CredentialRef};
        let cred = super::cloudflare::credential_ref(cfg).map_err(|e| e.to_string())?;
        let auth = match &cred {
            CredentialRef::Token { secret, key } => CloudflareAuth::Token {
                token: secret_value(client, secret_ns, &selector(secret, key), cred.field())
                    .await?,
                source: format!("Secret {secret_ns}/{secret} key {key:?}"),
            },
            CredentialRef::Key { secret, key, email } => CloudflareAuth::Key {
                email: email.clone(),
                key: secret_value(client, secret_ns, &selector(secret, key), cred.field()).await?,
                source: format!("Secret {secret_ns}/{secret} key {key:?}"),
            },
        };
        let base = endpoints
            .cloudflare
            .as_deref()
            .unwrap_or(super::cloudflare::PRODUCTION_URL);
        let p = CloudflareProvider::new(auth, base).map_err(|e| e.to_string())?;
        return Ok(Box::new(p));
    }
    if let Some(cfg) = &dns01.route53 {
        let p = super::route53::from_solver(client, cfg, secret_ns, endpoints.route53.as_deref())
            .await?;
        return Ok(Box::new(p));
    }
    if let Some(cfg) = &dns01.cloud_dns {
        let p =
            super::clouddns::from_solver(client, cfg, secret_ns, endpoints.cloud_dns.as_deref())
                .await?;
        return Ok(Box::new(p));
    }
    if let Some(cfg) = &dns01.digitalocean {
        let p = super::digitalocean::from_solver(
            client,
            cfg,
            secret_ns,
            endpoints.digitalocean.as_deref(),
        )
        .await?;
        return Ok(Box::new(p));
    }
    if let Some(cfg) = &dns01.acme_dns {
        let p = super::acmedns::from_solver(client, cfg, secret_ns).await?;
        return Ok(Box::new(p));
    }
    if let Some(cfg) = &dns01.azure_dns {
        let p = super::azure::from_solver(client, cfg, secret_ns, endpoints).await?;
        return Ok(Box::new(p));
    }
    if let Some(cfg) = &dns01.akamai {
        let p =
            super::akamai::from_solver(client, cfg, secret_ns, endpoints.akamai.as_deref()).await?;
        return Ok(Box::new(p));
    }
    if let Some(cfg) = &dns01.rfc2136 {
        let secret = match &cfg.tsig_secret_secret_ref {
            Some(r) => Some(
                secret_bytes(
                    client,
                    secret_ns,
                    &r.name,
                    r.key.as_deref().unwrap_or_default(),
                    "rfc2136.tsigSecretSecretRef",
                )
                .await?,
            ),
            None => None,
        };
        let p = super::rfc2136::Rfc2136Provider::new(cfg, secret.as_deref())
            .map_err(|e| e.to_string())?;
        return Ok(Box::new(p));
    }
    Err(format!(
        "this DNS-01 provider is not supported by certgate yet (supported: {})",
        SUPPORTED.join(", ")
    ))
}

/// The selector of key `key` of Secret `name`.
fn selector(name: &str, key: &str) -> SecretKeySelector {
    SecretKeySelector {
        name: name.to_string(),
        key: Some(key.to_string()),
    }
}

#[cfg(test)]
mod ambient_tests {
    use super::*;
    use crate::api::acme_dns01::{AcmeIssuerDns01ProviderCloudDns, AcmeIssuerDns01ProviderRoute53};
    use crate::api::meta::SecretKeySelector;

    #[test]
    fn namespaced_issuers_need_credentials_of_their_own() {
        let config = super::super::Dns01Config::default();
        let bare = AcmeChallengeSolverDns01 {
            route53: Some(AcmeIssuerDns01ProviderRoute53 {
                region: Some("eu-west-1".into()),
                role: Some("arn:aws:iam::1:role/dns".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(ambient_credentials(&bare), Some("route53"));
        let why = ambient_refusal(&bare, false, &config).unwrap();
        assert!(why.contains("--issuer-ambient-credentials=false"), "{why}");
        assert_eq!(
            ambient_refusal(&bare, true, &config),
            None,
            "ClusterIssuers may"
        );
        let allowed = super::super::Dns01Config {
            issuer_ambient_credentials: true,
            ..Default::default()
        };
        assert_eq!(ambient_refusal(&bare, false, &allowed), None);

        let keyed = AcmeChallengeSolverDns01 {
            route53: Some(AcmeIssuerDns01ProviderRoute53 {
                access_key_id: Some("AKIA".into()),
                secret_access_key_secret_ref: Some(SecretKeySelector {
                    name: "aws".into(),
                    key: Some("secret".into()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(ambient_refusal(&keyed, false, &config), None);
        let gcp = AcmeChallengeSolverDns01 {
            cloud_dns: Some(AcmeIssuerDns01ProviderCloudDns {
                project: "p".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(ambient_credentials(&gcp), Some("cloudDNS"));

        // Azure: no clientID means the controller's managed or workload identity,
        // as in cert-manager; a service principal is the solver's own.
        let azure_mi = AcmeChallengeSolverDns01 {
            azure_dns: Some(crate::api::acme_dns01::AcmeIssuerDns01ProviderAzureDns {
                subscription_id: "s".into(),
                resource_group_name: "rg".into(),
                managed_identity: Some(Default::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(ambient_credentials(&azure_mi), Some("azureDNS"));
        let why = ambient_refusal(&azure_mi, false, &config).unwrap();
        assert!(why.contains("azureDNS solver"), "{why}");
        let azure_sp = AcmeChallengeSolverDns01 {
            azure_dns: Some(crate::api::acme_dns01::AcmeIssuerDns01ProviderAzureDns {
                client_id: Some("c".into()),
                tenant_id: Some("t".into()),
                client_secret_secret_ref: Some(SecretKeySelector {
                    name: "azure".into(),
                    key: Some("secret".into()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(ambient_refusal(&azure_sp, false, &config), None);
    }
}
