//! `certgate status certificate`: one screen with the Certificate's conditions, dates,
//! issuer, Secret, current CertificateRequest and recent events.

use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ListParams};
use std::fmt::Write;

use crate::api::meta::ConditionStatus;
use crate::api::{Certificate, CertificateRequest, ClusterIssuer, Issuer};
use crate::cli::CliError;

fn status_word(s: ConditionStatus) -> &'static str {
    match s {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}

async fn events_of(
    client: &kube::Client,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<Vec<Event>, CliError> {
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    let mut list = Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().fields(&selector))
        .await?
        .items;
    list.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
    Ok(list)
}

fn write_events(out: &mut String, events: &[Event]) {
    if events.is_empty() {
        let _ = writeln!(out, "  Events: <none>");
        return;
    }
    let _ = writeln!(out, "  Events:");
    for e in events.iter().rev().take(10).rev() {
        let _ = writeln!(
            out,
            "    {:<8} {:<18} {}",
            e.type_.as_deref().unwrap_or_default(),
            e.reason.as_deref().unwrap_or_default(),
            e.message.as_deref().unwrap_or_default()
        );
    }
}

/// The status screen of a Certificate.
pub async fn certificate(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<String, CliError> {
    let cert = Api::<Certificate>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await?
        .ok_or_else(|| CliError::NotFound {
            kind: "Certificate",
            namespace: namespace.to_string(),
            name: name.to_string(),
        })?;
    let mut out = String::new();
    let status = cert.status.clone().unwrap_or_default();
    let _ = writeln!(out, "Name: {name}\nNamespace: {namespace}");
    let _ = writeln!(out, "Conditions:");
    for c in status.conditions.iter().flatten() {
        let _ = writeln!(
            out,
            "  {}: {}, Reason: {}, Message: {}",
            c.type_,
            status_word(c.status),
            c.reason.as_deref().unwrap_or_default(),
            c.message.as_deref().unwrap_or_default()
        );
    }
    let time = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let _ = writeln!(
        out,
        "DNS Names: {}",
        cert.spec.dns_names.clone().unwrap_or_default().join(", ")
    );
    let _ = writeln!(
        out,
        "Not Before: {}\nNot After: {}\nRenewal Time: {}",
        time(&status.not_before),
        time(&status.not_after),
        time(&status.renewal_time)
    );
    let _ = writeln!(
        out,
        "Revision: {}",
        status
            .revision
            .map(|r| r.to_string())
            .unwrap_or_else(|| "<none>".into())
    );
    if let Some(n) = status.failed_issuance_attempts {
        let _ = writeln!(
            out,
            "Failed issuance attempts: {n} (last at {})",
            time(&status.last_failure_time)
        );
    }
    write_events(
        &mut out,
        &events_of(client, namespace, "Certificate", name).await?,
    );

    let r = &cert.spec.issuer_ref;
    let issuer_conditions = if r.kind_or_default() == "ClusterIssuer" {
        Api::<ClusterIssuer>::all(client.clone())
            .get_opt(&r.name)
            .await?
            .map(|i| i.status.and_then(|s| s.conditions).unwrap_or_default())
    } else {
        Api::<Issuer>::namespaced(client.clone(), namespace)
            .get_opt(&r.name)
            .await?
            .map(|i| i.status.and_then(|s| s.conditions).unwrap_or_default())
    };
    let _ = writeln!(
        out,
        "Issuer:\n  Name: {}\n  Kind: {}",
        r.name,
        r.kind_or_default()
    );
    match issuer_conditions {
        None => {
            let _ = writeln!(out, "  Error: the issuer does not exist");
        }
        Some(cs) => {
            for c in cs {
                let _ = writeln!(
                    out,
                    "  {}: {}, Reason: {}, Message: {}",
                    c.type_,
                    status_word(c.status),
                    c.reason.unwrap_or_default(),
                    c.message.unwrap_or_default()
                );
            }
        }
    }

    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(&cert.spec.secret_name)
        .await?;
    let _ = writeln!(out, "Secret:\n  Name: {}", cert.spec.secret_name);
    match secret
        .and_then(|s| s.data)
        .and_then(|d| d.get(crate::api::annotations::TLS_CRT).cloned())
    {
        None => {
            let _ = writeln!(
                out,
                "  Error: the Secret does not exist or holds no certificate"
            );
        }
        Some(crt) => {
            for line in crate::cli::inspect::describe_pem(&crt.0)
                .lines()
                .take_while(|l| !l.starts_with("Chain"))
            {
                let _ = writeln!(out, "  {line}");
            }
        }
    }

    let revision = status.revision.unwrap_or(0);
    let requests = Api::<CertificateRequest>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
        .items;
    let uid = cert.metadata.uid.clone().unwrap_or_default();
    let ours: Vec<&CertificateRequest> = requests
        .iter()
        .filter(|r| {
            r.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid)
        })
        .collect();
    let pick = ours
        .iter()
        .find(|r| crate::certificates::snapshot::request_revision(r) == Some(revision + 1))
        .or_else(|| {
            ours.iter()
                .find(|r| crate::certificates::snapshot::request_revision(r) == Some(revision))
        });
    match pick {
        None => {
            let _ = writeln!(out, "CertificateRequest: <none>");
        }
        Some(req) => {
            let req_name = req.metadata.name.clone().unwrap_or_default();
            let _ = writeln!(out, "CertificateRequest:\n  Name: {req_name}");
            for c in req
                .status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
            {
                let _ = writeln!(
                    out,
                    "  {}: {}, Reason: {}, Message: {}",
                    c.type_,
                    status_word(c.status),
                    c.reason.as_deref().unwrap_or_default(),
                    c.message.as_deref().unwrap_or_default()
                );
            }
            write_events(
                &mut out,
                &events_of(client, namespace, "CertificateRequest", &req_name).await?,
            );
        }
    }
    Ok(out)
}
