//! What `certgate-conformance` runs against: a zone, the solver's `dns01` block as it
//! is written in an Issuer, and where the Secrets it names come from (environment
//! variables or files, so credentials never sit in the configuration).
//!
//! The provider is built by certgate's own code path ([`certgate::dns01::factory`]):
//! the Secrets are put in an in-process sandbox API server and read from there, as
//! the controller reads them from Kubernetes. The `bad-credentials` case gets the same
//! Secrets, in another namespace, with every letter and digit of their values
//! replaced (same shape, wrong content); of an acme-dns account list only the
//! passwords are replaced, so that acme-dns itself refuses them.
//!
//! For `acmeDNS`, `zone` is the domain whose account is checked: the suite reads the
//! values at that account's `fulldomain` ([`RecordModel::Delegated`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use certgate::api::acme_dns01::AcmeChallengeSolverDns01;
use certgate::dns01::{ApiEndpoints, Dns01Config, Provider};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ObjectMeta, PostParams};
use serde::Deserialize;

use crate::suite::{BadCredentials, ProviderFactory, RecordModel};

/// The namespace holding the given Secrets.
pub const NAMESPACE: &str = "conformance";
/// The namespace holding the scrambled copies for `bad-credentials`.
pub const BAD_NAMESPACE: &str = "conformance-bad-credentials";

/// Where one Secret key's value comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (its whole content).
    File(PathBuf),
}

impl SecretSource {
    /// Parses `env:VAR` or `file:PATH`.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s.split_once(':') {
            Some(("env", v)) if !v.is_empty() => Ok(Self::Env(v.to_string())),
            Some(("file", p)) if !p.is_empty() => Ok(Self::File(PathBuf::from(p))),
            _ => Err(ConfigError::Invalid(format!(
                "secret source {s:?}: expected env:VARIABLE or file:PATH"
            ))),
        }
    }

    fn read(&self, secret: &str, key: &str) -> Result<Vec<u8>, ConfigError> {
        match self {
            Self::Env(var) => std::env::var(var).map(String::into_bytes).map_err(|_| {
                ConfigError::Invalid(format!(
                    "Secret {secret} key {key}: environment variable {var} is not set"
                ))
            }),
            Self::File(path) => std::fs::read(path).map_err(|e| {
                ConfigError::Invalid(format!(
                    "Secret {secret} key {key}: reading {}: {e}",
                    path.display()
                ))
            }),
        }
    }
}

/// The configuration file (YAML), also assembled from command-line flags.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// The zone to write in (`example.com`); records go under
    /// `_acme-challenge.cg-<run>-<case>.<zone>`. For `acmeDNS`: the domain whose
    /// account (in the account Secret) is checked.
    pub zone: String,
    /// The solver's `dns01` block, as in an Issuer's `spec.acme.solvers[]`.
    pub dns01: AcmeChallengeSolverDns01,
    /// Secret name → key → where its value comes from.
    #[serde(default)]
    pub secrets: BTreeMap<String, BTreeMap<String, SecretSource>>,
    /// Recursive nameservers used to find the zone's nameservers (default: the
    /// system's).
    #[serde(default)]
    pub nameservers: Vec<SocketAddr>,
    /// The port of the zone's nameservers (default 53).
    #[serde(default)]
    pub authoritative_port: Option<u16>,
    /// How long to wait for a change to show at every nameserver (Go duration,
    /// default `5m`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// How often to look (default `2s`).
    #[serde(default)]
    pub poll_period: Option<String>,
    /// A zone the provider does not hold (default: a name under `.invalid`).
    #[serde(default)]
    pub unknown_zone: Option<String>,
    /// Providers' API base URLs, to run against an emulator.
    #[serde(default)]
    pub api_endpoints: Endpoints,
    /// `webhook` solvers: the namespace sent as the challenge's `resourceNamespace`
    /// (where the webhook reads the Secrets its `config` names; an Issuer's
    /// namespace, or the cluster resource namespace of a ClusterIssuer). Default
    /// `cert-manager`.
    #[serde(default)]
    pub webhook_namespace: Option<String>,
}

/// API base URLs in the configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoints {
    #[serde(default)]
    pub cloudflare: Option<String>,
    #[serde(default)]
    pub digitalocean: Option<String>,
    /// Azure Resource Manager's root (`azureDNS`).
    #[serde(default)]
    pub azure: Option<String>,
    /// The Entra ID token endpoint's root (`azureDNS` with a service principal or
    /// workload identity).
    #[serde(default)]
    pub azure_login: Option<String>,
    /// The instance metadata service (`azureDNS` with a managed identity).
    #[serde(default)]
    pub azure_imds: Option<String>,
    /// Replaces `https://{serviceConsumerDomain}/` (`akamai`).
    #[serde(default)]
    pub akamai: Option<String>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("the sandbox API server holding the Secrets: {0}")]
    Sandbox(String),
}

impl Config {
    /// Parses a YAML configuration.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The provider's name for the report (`cloudflare`, `rfc2136`…).
    pub fn provider_name(&self) -> &'static str {
        let d = &self.dns01;
        if d.cloudflare.is_some() {
            "cloudflare"
        } else if d.route53.is_some() {
            "route53"
        } else if d.cloud_dns.is_some() {
            "clouddns"
        } else if d.rfc2136.is_some() {
            "rfc2136"
        } else if d.digitalocean.is_some() {
            "digitalocean"
        } else if d.acme_dns.is_some() {
            "acmedns"
        } else if d.azure_dns.is_some() {
            "azuredns"
        } else if d.akamai.is_some() {
            "akamai"
        } else if d.webhook.is_some() {
            "webhook"
        } else {
            "unknown"
        }
    }

    /// How the suite reads DNS.
    pub fn dns(&self) -> Result<Dns01Config, ConfigError> {
        let dur = |v: &Option<String>, default: Duration| match v {
            None => Ok(default),
            Some(s) => certgate::certificates::renewal::parse_go_duration(s)
                .map_err(|e| ConfigError::Invalid(format!("duration {s:?}: {e}"))),
        };
        Ok(Dns01Config {
            recursive_nameservers: self.nameservers.iter().map(|&a| a.into()).collect(),
            authoritative_port: self.authoritative_port.unwrap_or(53),
            timeout: dur(&self.timeout, Duration::from_secs(300))?,
            poll_period: dur(&self.poll_period, Duration::from_secs(2))?,
            query_timeout: Duration::from_secs(5),
            ..Dns01Config::default()
        })
    }

    fn endpoints(&self) -> ApiEndpoints {
        ApiEndpoints {
            cloudflare: self.api_endpoints.cloudflare.clone(),
            digitalocean: self.api_endpoints.digitalocean.clone(),
            azure: self.api_endpoints.azure.clone(),
            azure_login: self.api_endpoints.azure_login.clone(),
            azure_imds: self.api_endpoints.azure_imds.clone(),
            akamai: self.api_endpoints.akamai.clone(),
            ..ApiEndpoints::default()
        }
    }

    /// What a bad-credentials error must name: the Secret, or for RFC 2136 the TSIG
    /// key (updates know the key, not the Secret).
    fn credential_names(&self) -> Vec<String> {
        if let Some(r) = &self.dns01.rfc2136 {
            return r.tsig_key_name.iter().cloned().collect();
        }
        self.secrets
            .keys()
            .take(1)
            .map(|name| format!("Secret {BAD_NAMESPACE}/{name}"))
            .collect()
    }
}

/// Replaces every letter and digit with another of the same kind: the value keeps its
/// shape (length, alphabet, punctuation) but is wrong.
pub fn scramble(value: &[u8]) -> Vec<u8> {
    let seed = uuid::Uuid::new_v4().as_u128();
    value
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let r = ((seed >> ((i % 16) * 8)) as u8).wrapping_add(i as u8);
            let shift = |base: u8, n: u8, b: u8| base + (b - base + 1 + r % (n - 1)) % n;
            match b {
                b'a'..=b'z' => shift(b'a', 26, b),
                b'A'..=b'Z' => shift(b'A', 26, b),
                b'0'..=b'9' => shift(b'0', 10, b),
                other => other,
            }
        })
        .collect()
}

/// An acme-dns account list with every password scrambled (and the passwords, real
/// and scrambled, for the leak check); anything else entirely scrambled.
fn scramble_passwords(value: &[u8]) -> (Vec<u8>, Vec<String>) {
    let Ok(serde_json::Value::Object(mut accounts)) = serde_json::from_slice(value) else {
        return (scramble(value), Vec::new());
    };
    let mut passwords = Vec::new();
    for account in accounts.values_mut() {
        if let Some(p) = account.get_mut("password")
            && let Some(real) = p.as_str().map(String::from)
        {
            let wrong = String::from_utf8_lossy(&scramble(real.as_bytes())).to_string();
            passwords.push(real);
            passwords.push(wrong.clone());
            *p = serde_json::Value::String(wrong);
        }
    }
    (
        serde_json::Value::Object(accounts).to_string().into_bytes(),
        passwords,
    )
}

/// How an `acmeDNS` configuration keeps values: at the `fulldomain` of the account
/// of `config.zone`.
fn acme_dns_model(
    config: &Config,
    values: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
) -> Result<RecordModel, ConfigError> {
    let Some(cfg) = &config.dns01.acme_dns else {
        return Ok(RecordModel::Zone);
    };
    let r = &cfg.account_secret_ref;
    let key = r.key.clone().unwrap_or_default();
    let json = values
        .get(&r.name)
        .and_then(|ks| ks.get(&key))
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "acmeDNS.accountSecretRef names key {key:?} of Secret {}: give it under secrets:",
                r.name
            ))
        })?;
    let source = format!("Secret {NAMESPACE}/{} key \"{key}\"", r.name);
    let accounts =
        certgate::dns01::acmedns::Accounts::parse(&String::from_utf8_lossy(json), &source)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let (domain, account) = accounts.for_domain(&config.zone).map_err(|e| {
        ConfigError::Invalid(format!(
            "{e} (for acmeDNS, zone names the domain whose account is checked)"
        ))
    })?;
    if account.fulldomain.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "the acme-dns account for {domain} in {source} has no fulldomain: the suite reads the values there"
        )));
    }
    Ok(RecordModel::Delegated {
        domain,
        target: account.fulldomain.clone(),
        keeps: 2,
    })
}

/// A provider built by certgate's solver code from a configuration, with the
/// sandbox holding its Secrets.
pub struct Built {
    pub provider: Box<dyn Provider>,
    pub bad_credentials: Option<BadCredentials>,
    /// How the provider keeps values (for [`crate::Suite::record_model`]).
    pub record_model: RecordModel,
    /// Holds the Secrets (none for a webhook solver, reached in your cluster).
    _sandbox: Option<certgate_sandbox::Sandbox>,
}

async fn put_secrets(
    client: &kube::Client,
    namespace: &str,
    secrets: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
) -> Result<(), ConfigError> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(|e| ConfigError::Sandbox(e.to_string()))?;
    for (name, keys) in secrets {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.to_string()),
                ..Default::default()
            },
            data: Some(
                keys.iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                    .collect(),
            ),
            ..Default::default()
        };
        Api::<Secret>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|e| ConfigError::Sandbox(e.to_string()))?;
    }
    Ok(())
}

/// Builds the provider of `config` (and one with scrambled credentials).
pub async fn build(config: &Config) -> Result<Built, ConfigError> {
    if config.dns01.webhook.is_some() {
        return build_webhook(config).await;
    }
    let mut values: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for (name, keys) in &config.secrets {
        for (key, source) in keys {
            values
                .entry(name.clone())
                .or_default()
                .insert(key.clone(), source.read(name, key)?);
        }
    }
    let account_key = config.dns01.acme_dns.as_ref().map(|c| {
        (
            c.account_secret_ref.name.clone(),
            c.account_secret_ref.key.clone().unwrap_or_default(),
        )
    });
    let mut passwords = Vec::new();
    let mut scrambled: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for (n, ks) in &values {
        for (k, v) in ks {
            let wrong = if account_key.as_ref() == Some(&(n.clone(), k.clone())) {
                let (wrong, p) = scramble_passwords(v);
                passwords.extend(p);
                wrong
            } else {
                scramble(v)
            };
            scrambled
                .entry(n.clone())
                .or_default()
                .insert(k.clone(), wrong);
        }
    }
    let sandbox = certgate_sandbox::Sandbox::start(certgate_sandbox::SandboxOptions::default())
        .await
        .map_err(|e| ConfigError::Sandbox(e.to_string()))?;
    let client = sandbox
        .client()
        .await
        .map_err(|e| ConfigError::Sandbox(e.to_string()))?;
    put_secrets(&client, NAMESPACE, &values).await?;
    put_secrets(&client, BAD_NAMESPACE, &scrambled).await?;
    let endpoints = config.endpoints();
    let provider =
        certgate::dns01::factory::provider_for(&client, &config.dns01, NAMESPACE, &endpoints)
            .await
            .map_err(ConfigError::Invalid)?;
    let record_model = acme_dns_model(config, &values)?;
    let bad_credentials = if values.is_empty() {
        None
    } else {
        let dns01 = config.dns01.clone();
        let factory: ProviderFactory = Box::new(move || {
            let client = client.clone();
            let dns01 = dns01.clone();
            let endpoints = endpoints.clone();
            Box::pin(async move {
                certgate::dns01::factory::provider_for(&client, &dns01, BAD_NAMESPACE, &endpoints)
                    .await
            })
        });
        let mut secrets: Vec<String> = passwords.into_iter().filter(|p| p.len() >= 6).collect();
        for map in [&values, &scrambled] {
            for v in map.values().flat_map(|ks| ks.values()) {
                let text = String::from_utf8_lossy(v).trim().to_string();
                if text.len() >= 6 {
                    secrets.push(text);
                }
            }
        }
        Some(BadCredentials {
            factory,
            must_name: config.credential_names(),
            secrets,
        })
    };
    Ok(Built {
        provider,
        bad_credentials,
        record_model,
        _sandbox: Some(sandbox),
    })
}

/// A `webhook` solver is an extension API server in your cluster: the provider talks
/// to it through your cluster's API server (the current kubeconfig context), exactly
/// as the controller does. Its credentials are whatever its `config` names, in your
/// cluster, so there is no bad-credentials case.
async fn build_webhook(config: &Config) -> Result<Built, ConfigError> {
    let client = kube::Client::try_default().await.map_err(|e| {
        ConfigError::Invalid(format!(
            "a webhook solver is reached through your cluster's API server, and no kubeconfig works: {e} (set KUBECONFIG or the current context)"
        ))
    })?;
    let namespace = config
        .webhook_namespace
        .clone()
        .unwrap_or_else(|| "cert-manager".to_string());
    let provider = certgate::dns01::factory::provider_for(
        &client,
        &config.dns01,
        &namespace,
        &config.endpoints(),
    )
    .await
    .map_err(ConfigError::Invalid)?;
    Ok(Built {
        provider,
        bad_credentials: None,
        record_model: RecordModel::Zone,
        _sandbox: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml() {
        let c = Config::from_yaml(
            "zone: example.com\n\
             dns01:\n  cloudflare:\n    apiTokenSecretRef: {name: cf, key: api-token}\n\
             secrets:\n  cf:\n    api-token: {env: CF_API_TOKEN}\n\
             timeout: 90s\n",
        )
        .unwrap();
        assert_eq!(c.provider_name(), "cloudflare");
        assert_eq!(
            c.secrets["cf"]["api-token"],
            SecretSource::Env("CF_API_TOKEN".into())
        );
        assert_eq!(c.dns().unwrap().timeout, Duration::from_secs(90));
        assert_eq!(
            c.credential_names(),
            vec![format!("Secret {BAD_NAMESPACE}/cf")]
        );
        assert!(Config::from_yaml("zone: x\ndns01: {}\nbogus: 1\n").is_err());
    }

    #[test]
    fn acme_dns_accounts_keep_their_shape_with_wrong_passwords() {
        let json = br#"{"example.com": {"username": "3f1c1a0e-0000-4000-8000-000000000000",
            "password": "Secret-Password-0123456789abcdefghijklmn", "fulldomain": "s.auth.example.org",
            "subdomain": "s", "allowfrom": []}}"#;
        let (wrong, passwords) = scramble_passwords(json);
        let v: serde_json::Value = serde_json::from_slice(&wrong).unwrap();
        let a = &v["example.com"];
        assert_eq!(a["username"], "3f1c1a0e-0000-4000-8000-000000000000");
        assert_eq!(a["subdomain"], "s");
        let p = a["password"].as_str().unwrap();
        assert_eq!(p.len(), 40);
        assert_ne!(p, "Secret-Password-0123456789abcdefghijklmn");
        assert_eq!(passwords.len(), 2);
        let c = Config::from_yaml(
            "zone: Example.com\n\
             dns01:\n  acmeDNS:\n    host: https://auth.acme-dns.io\n    accountSecretRef: {name: acme-dns, key: acmedns.json}\n",
        )
        .unwrap();
        assert_eq!(c.provider_name(), "acmedns");
        let values = BTreeMap::from([(
            "acme-dns".to_string(),
            BTreeMap::from([("acmedns.json".to_string(), json.to_vec())]),
        )]);
        assert_eq!(
            acme_dns_model(&c, &values).unwrap(),
            RecordModel::Delegated {
                domain: "example.com".into(),
                target: "s.auth.example.org".into(),
                keeps: 2
            }
        );
        let other = Config {
            zone: "example.net".into(),
            ..c
        };
        let e = acme_dns_model(&other, &values).unwrap_err().to_string();
        assert!(
            e.contains("example.net") && !e.contains("Secret-Password"),
            "{e}"
        );
    }

    #[test]
    fn azure_and_akamai_configurations() {
        let c = Config::from_yaml(
            "zone: example.com\n\
             dns01:\n  azureDNS:\n    subscriptionID: s\n    resourceGroupName: rg\n    clientID: c\n    tenantID: t\n    clientSecretSecretRef: {name: azuredns, key: client-secret}\n\
             secrets:\n  azuredns:\n    client-secret: {env: AZURE_CLIENT_SECRET}\n\
             apiEndpoints:\n  azure: http://127.0.0.1:1/\n  azureLogin: http://127.0.0.1:2/\n",
        )
        .unwrap();
        assert_eq!(c.provider_name(), "azuredns");
        let e = c.endpoints();
        assert_eq!(e.azure.as_deref(), Some("http://127.0.0.1:1/"));
        assert_eq!(e.azure_login.as_deref(), Some("http://127.0.0.1:2/"));
        let c = Config::from_yaml(
            "zone: example.com\n\
             dns01:\n  akamai:\n    serviceConsumerDomain: akab-x.luna.akamaiapis.net\n    clientTokenSecretRef: {name: akamai, key: client-token}\n    clientSecretSecretRef: {name: akamai, key: client-secret}\n    accessTokenSecretRef: {name: akamai, key: access-token}\n\
             apiEndpoints:\n  akamai: http://127.0.0.1:3/\n",
        )
        .unwrap();
        assert_eq!(c.provider_name(), "akamai");
        assert_eq!(c.endpoints().akamai.as_deref(), Some("http://127.0.0.1:3/"));
    }

    #[test]
    fn sources() {
        assert_eq!(
            SecretSource::parse("env:X").unwrap(),
            SecretSource::Env("X".into())
        );
        assert_eq!(
            SecretSource::parse("file:/tmp/k").unwrap(),
            SecretSource::File("/tmp/k".into())
        );
        assert!(SecretSource::parse("X").is_err());
    }

    #[test]
    fn scrambled_values_keep_their_shape() {
        let v = b"AbC-123_xyz=";
        let s = scramble(v);
        assert_eq!(s.len(), v.len());
        for (a, b) in v.iter().zip(&s) {
            assert_eq!(a.is_ascii_lowercase(), b.is_ascii_lowercase());
            assert_eq!(a.is_ascii_uppercase(), b.is_ascii_uppercase());
            assert_eq!(a.is_ascii_digit(), b.is_ascii_digit());
            if a.is_ascii_alphanumeric() {
                assert_ne!(a, b);
            } else {
                assert_eq!(a, b);
            }
        }
    }
}
