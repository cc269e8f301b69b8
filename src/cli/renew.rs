//! `certgate renew`: asks for re-issuance the way cmctl does, by setting the Issuing
//! condition to True with reason `ManuallyTriggered`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::api::Certificate;
use crate::api::meta::{Condition, ConditionStatus};
use crate::cli::CliError;

/// The message cmctl writes.
pub const MESSAGE: &str = "Certificate re-issuance manually triggered";

/// The conditions of `cert` with Issuing=True ManuallyTriggered (None when already issuing).
pub fn renewed_conditions(cert: &Certificate, now: jiff::Timestamp) -> Option<Vec<Condition>> {
    let mut list = cert
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    if list
        .iter()
        .any(|c| c.type_ == "Issuing" && c.status == ConditionStatus::True)
    {
        return None;
    }
    list.retain(|c| c.type_ != "Issuing");
    list.push(Condition {
        type_: "Issuing".into(),
        status: ConditionStatus::True,
        last_transition_time: Some(Time(now)),
        reason: Some("ManuallyTriggered".into()),
        message: Some(MESSAGE.into()),
        observed_generation: cert.metadata.generation,
    });
    Some(list)
}

/// Renews the named Certificates (or all in `namespace`, or all everywhere); returns
/// `namespace/name` of each one asked to renew.
pub async fn renew(
    client: &kube::Client,
    namespace: Option<&str>,
    names: &[String],
    all: bool,
) -> Result<Vec<String>, CliError> {
    let api: Api<Certificate> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let targets: Vec<Certificate> = if all {
        api.list(&ListParams::default()).await?.items
    } else {
        let mut v = Vec::new();
        for n in names {
            match api.get_opt(n).await? {
                Some(c) => v.push(c),
                None => {
                    return Err(CliError::NotFound {
                        kind: "Certificate",
                        namespace: namespace.unwrap_or("default").to_string(),
                        name: n.clone(),
                    });
                }
            }
        }
        v
    };
    let mut done = Vec::new();
    for c in targets {
        let ns = c.metadata.namespace.clone().unwrap_or_default();
        let name = c.metadata.name.clone().unwrap_or_default();
        if let Some(conditions) = renewed_conditions(&c, jiff::Timestamp::now()) {
            Api::<Certificate>::namespaced(client.clone(), &ns)
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"conditions": conditions}})),
                )
                .await?;
        }
        done.push(format!("{ns}/{name}"));
    }
    Ok(done)
}
