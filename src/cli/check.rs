//! `certgate check api`: whether the cert-manager API is ready to use, as
//! `cmctl check api` tells it — the CRDs are served (discovery) and the API server
//! accepts a server-side dry-run create of a Certificate.

use kube::api::{Api, PostParams};
use serde::Serialize;
use std::time::Duration;

use crate::api::Certificate;

/// What must be served: (group, version, plural).
pub const REQUIRED: &[(&str, &str, &str)] = &[
    ("cert-manager.io", "v1", "certificates"),
    ("cert-manager.io", "v1", "certificaterequests"),
    ("cert-manager.io", "v1", "issuers"),
    ("cert-manager.io", "v1", "clusterissuers"),
    ("acme.cert-manager.io", "v1", "orders"),
    ("acme.cert-manager.io", "v1", "challenges"),
];

/// What cmctl prints when the API is ready.
pub const READY: &str = "The cert-manager API is ready";

/// How often `--wait` retries.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCheck {
    pub ready: bool,
    /// Resources not served, as `plural.group/version`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Why the dry-run create of a Certificate was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_error: Option<String>,
    /// Why discovery itself failed (API server unreachable, forbidden, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_error: Option<String>,
    /// One line for people.
    pub message: String,
}

impl ApiCheck {
    fn not_ready(message: String) -> ApiCheck {
        ApiCheck {
            ready: false,
            missing: Vec::new(),
            dry_run_error: None,
            discovery_error: None,
            message,
        }
    }
}

/// The resources of `REQUIRED` the API server does not serve, or why discovery failed.
async fn missing_resources(client: &kube::Client) -> Result<Vec<String>, String> {
    let mut missing = Vec::new();
    let mut group_versions: Vec<(&str, &str)> = REQUIRED.iter().map(|(g, v, _)| (*g, *v)).collect();
    group_versions.dedup();
    for (group, version) in group_versions {
        let served: Vec<String> = match client
            .list_api_group_resources(&format!("{group}/{version}"))
            .await
        {
            Ok(list) => list.resources.into_iter().map(|r| r.name).collect(),
            // The group/version is not served at all.
            Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
            Err(e) => return Err(format!("discovery of {group}/{version}: {e}")),
        };
        for (g, v, plural) in REQUIRED {
            if *g == group && *v == version && !served.iter().any(|s| s == plural) {
                missing.push(format!("{plural}.{group}/{version}"));
            }
        }
    }
    Ok(missing)
}

/// The Certificate the dry run creates (never stored).
fn probe_certificate() -> Result<Certificate, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"generateName": "certgate-check-api-"},
        "spec": {
            "dnsNames": ["certgate-check-api.example.com"],
            "secretName": "certgate-check-api",
            "issuerRef": {"name": "certgate-check-api"}
        }
    }))
}

/// Checks once: discovery, then a dry-run create of a Certificate in `namespace`.
pub async fn api_once(client: &kube::Client, namespace: &str) -> ApiCheck {
    match missing_resources(client).await {
        Err(e) => {
            let mut c = ApiCheck::not_ready(format!("Not ready: {e}"));
            c.discovery_error = Some(e);
            return c;
        }
        Ok(missing) if !missing.is_empty() => {
            let mut c = ApiCheck::not_ready(format!(
                "Not ready: the cert-manager CRDs are not yet installed on the Kubernetes API server: {} not served",
                missing.join(", ")
            ));
            c.missing = missing;
            return c;
        }
        Ok(_) => {}
    }
    let cert = match probe_certificate() {
        Ok(c) => c,
        Err(e) => return ApiCheck::not_ready(format!("Not ready: building the probe: {e}")),
    };
    let pp = PostParams {
        dry_run: true,
        field_manager: Some("certgate-check-api".into()),
    };
    match Api::<Certificate>::namespaced(client.clone(), namespace)
        .create(&pp, &cert)
        .await
    {
        Ok(_) => ApiCheck {
            ready: true,
            missing: Vec::new(),
            dry_run_error: None,
            discovery_error: None,
            message: READY.to_string(),
        },
        Err(e) => {
            let reason = match &e {
                kube::Error::Api(s) => s.message.clone(),
                other => other.to_string(),
            };
            let mut c = ApiCheck::not_ready(format!(
                "Not ready: the dry-run create of a Certificate in namespace {namespace:?} was refused: {reason}"
            ));
            c.dry_run_error = Some(reason);
            c
        }
    }
}

/// Checks, and with `wait` retries every [`RETRY_EVERY`] until ready or `wait` has
/// passed; returns the last outcome.
pub async fn api(client: &kube::Client, namespace: &str, wait: Option<Duration>) -> ApiCheck {
    let deadline = wait.map(|w| tokio::time::Instant::now() + w);
    loop {
        let check = api_once(client, namespace).await;
        let Some(deadline) = deadline else {
            return check;
        };
        if check.ready || tokio::time::Instant::now() + RETRY_EVERY > deadline {
            return check;
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Parses `--wait` durations: `90s`, `2m`, `1h`, `1m30s` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut saw_unit = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return Err(format!("invalid duration {text:?}: unknown unit {c:?}")),
            }
        };
        let n: f64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        total += n * unit;
        number.clear();
        saw_unit = true;
    }
    if !number.is_empty() || !saw_unit {
        return Err(format!(
            "invalid duration {text:?}: use a unit, as in 90s, 2m or 1h"
        ));
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("2m3").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn the_probe_is_a_valid_certificate_value() {
        let c = probe_certificate().unwrap();
        assert_eq!(c.spec.secret_name, "certgate-check-api");
    }
}
