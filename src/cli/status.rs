//! `certgate status certificate`: one screen with the Certificate's conditions, dates,
//! issuer, Secret, current CertificateRequest, its ACME Order and Challenges, and
//! recent events — as cmctl's `status certificate` shows them. The same data is
//! available as a [`CertificateStatus`] for `-o json|yaml`.

use k8s_openapi::api::core::v1::{Event, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde::Serialize;
use std::fmt::Write;

use crate::api::meta::ConditionStatus;
use crate::api::order::State;
use crate::api::{Certificate, CertificateRequest, Challenge, ClusterIssuer, Issuer, Order};
use crate::cli::CliError;
use crate::cli::inspect::CertSummary;

fn status_word(s: ConditionStatus) -> &'static str {
    match s {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}

/// A condition of any kind, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionView {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl ConditionView {
    fn new(
        type_: &str,
        status: ConditionStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Self {
        ConditionView {
            type_: type_.to_string(),
            status: status_word(status).to_string(),
            reason: reason.unwrap_or_default().to_string(),
            message: message.unwrap_or_default().to_string(),
        }
    }
}

/// An Event about one of the objects, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<String>,
}

impl EventView {
    fn from(e: &Event) -> Self {
        EventView {
            type_: e.type_.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
            last_timestamp: e.last_timestamp.as_ref().map(|t| t.0.to_string()),
        }
    }
}

/// The issuer the Certificate refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuerView {
    pub name: String,
    pub kind: String,
    pub exists: bool,
    pub conditions: Vec<ConditionView>,
}

/// The Certificate's Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    pub name: String,
    /// The leaf certificate in `tls.crt`; `None` when the Secret is missing or holds none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertSummary>,
}

/// The current CertificateRequest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestView {
    pub name: String,
    pub conditions: Vec<ConditionView>,
    pub events: Vec<EventView>,
}

/// One authorization of an Order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationView {
    pub url: String,
    pub identifier: String,
    pub initial_state: String,
    pub wildcard: bool,
}

/// The ACME Order of the current CertificateRequest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub name: String,
    pub state: String,
    pub reason: String,
    pub authorizations: Vec<AuthorizationView>,
    #[serde(rename = "finalizeURL", skip_serializing_if = "Option::is_none")]
    pub finalize_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_time: Option<String>,
    pub events: Vec<EventView>,
}

/// One Challenge of the Order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeView {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub dns_name: String,
    pub wildcard: bool,
    pub token: String,
    /// What the CA looks for: the key authorization (HTTP-01) or the TXT value (DNS-01).
    pub key: String,
    pub state: String,
    pub reason: String,
    pub processing: bool,
    pub presented: bool,
}

/// Everything `status certificate` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    pub name: String,
    pub namespace: String,
    pub conditions: Vec<ConditionView>,
    pub dns_names: Vec<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub renewal_time: Option<String>,
    pub revision: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_issuance_attempts: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_time: Option<String>,
    pub events: Vec<EventView>,
    pub issuer: IssuerView,
    pub secret: SecretView,
    pub certificate_request: Option<RequestView>,
    pub order: Option<OrderView>,
    pub challenges: Vec<ChallengeView>,
}

/// An ACME state as it appears in status (`""` when unset).
pub fn state_word(s: Option<State>) -> &'static str {
    s.map(crate::issuers::acme::requests::state_str)
        .unwrap_or("")
}

fn time(t: &Option<Time>) -> Option<String> {
    t.as_ref().map(|t| t.0.to_string())
}

/// The Events about one object, oldest first.
pub async fn events_of(
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

fn last_events(events: &[Event]) -> Vec<EventView> {
    let skip = events.len().saturating_sub(10);
    events.iter().skip(skip).map(EventView::from).collect()
}

/// Whether `obj` has an ownerReference to `uid`.
pub fn owned_by<K: ResourceExt>(obj: &K, uid: &str) -> bool {
    obj.owner_references().iter().any(|o| o.uid == uid)
}

/// The request of the Certificate's issuance in progress (revision + 1), else of its
/// current revision (pure).
pub fn pick_request<'a>(
    cert: &Certificate,
    requests: &'a [CertificateRequest],
) -> Option<&'a CertificateRequest> {
    let uid = cert.uid().unwrap_or_default();
    let revision = cert.status.as_ref().and_then(|s| s.revision).unwrap_or(0);
    let ours: Vec<&CertificateRequest> = requests.iter().filter(|r| owned_by(*r, &uid)).collect();
    let of = |rev: i32| {
        ours.iter()
            .copied()
            .find(|r| crate::certificates::snapshot::request_revision(r) == Some(rev))
    };
    of(revision + 1).or_else(|| of(revision))
}

/// The newest of `items` owned by `uid` (pure).
pub fn newest_owned<'a, K: ResourceExt>(items: &'a [K], uid: &str) -> Option<&'a K> {
    items
        .iter()
        .filter(|o| owned_by(*o, uid))
        .max_by_key(|o| o.meta().creation_timestamp.clone().map(|t| t.0))
}

/// The current CertificateRequest of `cert`, its Order and the Order's Challenges.
pub async fn acme_objects(
    client: &kube::Client,
    namespace: &str,
    cert: &Certificate,
) -> Result<(Option<CertificateRequest>, Option<Order>, Vec<Challenge>), CliError> {
    let requests = Api::<CertificateRequest>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
        .items;
    let Some(request) = pick_request(cert, &requests).cloned() else {
        return Ok((None, None, Vec::new()));
    };
    let orders = Api::<Order>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
        .items;
    let Some(order) = newest_owned(&orders, &request.uid().unwrap_or_default()).cloned() else {
        return Ok((Some(request), None, Vec::new()));
    };
    let order_uid = order.uid().unwrap_or_default();
    let mut challenges: Vec<Challenge> = Api::<Challenge>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|c| owned_by(c, &order_uid))
        .collect();
    challenges.sort_by(|a, b| a.spec.dns_name.cmp(&b.spec.dns_name));
    Ok((Some(request), Some(order), challenges))
}

/// The Order as shown (pure).
pub fn order_view(order: &Order, events: Vec<EventView>) -> OrderView {
    let status = order.status.clone().unwrap_or_default();
    OrderView {
        name: order.name_any(),
        state: state_word(status.state).to_string(),
        reason: status.reason.unwrap_or_default(),
        authorizations: status
            .authorizations
            .unwrap_or_default()
            .into_iter()
            .map(|a| AuthorizationView {
                url: a.url,
                identifier: a.identifier.unwrap_or_default(),
                initial_state: state_word(a.initial_state).to_string(),
                wildcard: a.wildcard.unwrap_or(false),
            })
            .collect(),
        finalize_url: status.finalize_url,
        failure_time: time(&status.failure_time),
        events,
    }
}

/// A Challenge as shown (pure).
pub fn challenge_view(ch: &Challenge) -> ChallengeView {
    let status = ch.status.clone().unwrap_or_default();
    ChallengeView {
        name: ch.name_any(),
        type_: ch.spec.type_.as_str().to_string(),
        dns_name: ch.spec.dns_name.clone(),
        wildcard: ch.spec.wildcard.unwrap_or(false),
        token: ch.spec.token.clone(),
        key: ch.spec.key.clone(),
        state: state_word(status.state).to_string(),
        reason: status.reason.unwrap_or_default(),
        processing: status.processing.unwrap_or(false),
        presented: status.presented.unwrap_or(false),
    }
}

/// Gathers what `status certificate` shows.
pub async fn load(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<CertificateStatus, CliError> {
    let cert = Api::<Certificate>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await?
        .ok_or_else(|| CliError::NotFound {
            kind: "Certificate",
            namespace: namespace.to_string(),
            name: name.to_string(),
        })?;
    let status = cert.status.clone().unwrap_or_default();

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
    let issuer = IssuerView {
        name: r.name.clone(),
        kind: r.kind_or_default().to_string(),
        exists: issuer_conditions.is_some(),
        conditions: issuer_conditions
            .unwrap_or_default()
            .iter()
            .map(|c| {
                ConditionView::new(
                    &c.type_,
                    c.status,
                    c.reason.as_deref(),
                    c.message.as_deref(),
                )
            })
            .collect(),
    };

    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(&cert.spec.secret_name)
        .await?;
    let leaf = secret
        .and_then(|s| s.data)
        .and_then(|d| d.get(crate::api::annotations::TLS_CRT).cloned())
        .and_then(|crt| {
            crate::cli::inspect::summarize_pem(&crt.0)
                .into_iter()
                .next()
        });

    let (request, order, challenges) = acme_objects(client, namespace, &cert).await?;
    let certificate_request = match &request {
        None => None,
        Some(req) => {
            let req_name = req.name_any();
            Some(RequestView {
                conditions: req
                    .status
                    .iter()
                    .flat_map(|s| s.conditions.iter().flatten())
                    .map(|c| {
                        ConditionView::new(
                            &c.type_,
                            c.status,
                            c.reason.as_deref(),
                            c.message.as_deref(),
                        )
                    })
                    .collect(),
                events: last_events(
                    &events_of(client, namespace, "CertificateRequest", &req_name).await?,
                ),
                name: req_name,
            })
        }
    };
    let order = match &order {
        None => None,
        Some(o) => Some(order_view(
            o,
            last_events(&events_of(client, namespace, "Order", &o.name_any()).await?),
        )),
    };

    Ok(CertificateStatus {
        name: name.to_string(),
        namespace: namespace.to_string(),
        conditions: status
            .conditions
            .iter()
            .flatten()
            .map(|c| {
                ConditionView::new(
                    &c.type_,
                    c.status,
                    c.reason.as_deref(),
                    c.message.as_deref(),
                )
            })
            .collect(),
        dns_names: cert.spec.dns_names.clone().unwrap_or_default(),
        not_before: time(&status.not_before),
        not_after: time(&status.not_after),
        renewal_time: time(&status.renewal_time),
        revision: status.revision,
        failed_issuance_attempts: status.failed_issuance_attempts,
        last_failure_time: time(&status.last_failure_time),
        events: last_events(&events_of(client, namespace, "Certificate", name).await?),
        issuer,
        secret: SecretView {
            name: cert.spec.secret_name.clone(),
            certificate: leaf,
        },
        certificate_request,
        order,
        challenges: challenges.iter().map(challenge_view).collect(),
    })
}

fn write_conditions(out: &mut String, indent: &str, conditions: &[ConditionView]) {
    for c in conditions {
        let _ = writeln!(
            out,
            "{indent}{}: {}, Reason: {}, Message: {}",
            c.type_, c.status, c.reason, c.message
        );
    }
}

fn write_events(out: &mut String, events: &[EventView]) {
    if events.is_empty() {
        let _ = writeln!(out, "  Events: <none>");
        return;
    }
    let _ = writeln!(out, "  Events:");
    for e in events {
        let _ = writeln!(out, "    {:<8} {:<18} {}", e.type_, e.reason, e.message);
    }
}

impl CertificateStatus {
    /// The screen for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let none = |v: &Option<String>| v.clone().unwrap_or_else(|| "<none>".into());
        let _ = writeln!(out, "Name: {}\nNamespace: {}", self.name, self.namespace);
        let _ = writeln!(out, "Conditions:");
        write_conditions(&mut out, "  ", &self.conditions);
        let _ = writeln!(out, "DNS Names: {}", self.dns_names.join(", "));
        let _ = writeln!(
            out,
            "Not Before: {}\nNot After: {}\nRenewal Time: {}",
            none(&self.not_before),
            none(&self.not_after),
            none(&self.renewal_time)
        );
        let _ = writeln!(
            out,
            "Revision: {}",
            self.revision
                .map(|r| r.to_string())
                .unwrap_or_else(|| "<none>".into())
        );
        if let Some(n) = self.failed_issuance_attempts {
            let _ = writeln!(
                out,
                "Failed issuance attempts: {n} (last at {})",
                none(&self.last_failure_time)
            );
        }
        write_events(&mut out, &self.events);

        let _ = writeln!(
            out,
            "Issuer:\n  Name: {}\n  Kind: {}",
            self.issuer.name, self.issuer.kind
        );
        if self.issuer.exists {
            write_conditions(&mut out, "  ", &self.issuer.conditions);
        } else {
            let _ = writeln!(out, "  Error: the issuer does not exist");
        }

        let _ = writeln!(out, "Secret:\n  Name: {}", self.secret.name);
        match &self.secret.certificate {
            None => {
                let _ = writeln!(
                    out,
                    "  Error: the Secret does not exist or holds no certificate"
                );
            }
            Some(c) => {
                let _ = writeln!(out, "  Certificate #0:");
                let mut lines = String::new();
                crate::cli::inspect::describe_summary(&mut lines, c);
                for line in lines.lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }

        match &self.certificate_request {
            None => {
                let _ = writeln!(out, "CertificateRequest: <none>");
            }
            Some(req) => {
                let _ = writeln!(out, "CertificateRequest:\n  Name: {}", req.name);
                write_conditions(&mut out, "  ", &req.conditions);
                write_events(&mut out, &req.events);
            }
        }
        if let Some(o) = &self.order {
            let _ = writeln!(out, "Order:\n  Name: {}", o.name);
            let _ = writeln!(out, "  State: {}, Reason: {}", o.state, o.reason);
            if !o.authorizations.is_empty() {
                let _ = writeln!(out, "  Authorizations:");
                for a in &o.authorizations {
                    let _ = writeln!(
                        out,
                        "    URL: {}, Identifier: {}, Initial State: {}, Wildcard: {}",
                        a.url, a.identifier, a.initial_state, a.wildcard
                    );
                }
            }
            if let Some(t) = &o.failure_time {
                let _ = writeln!(out, "  Failure Time: {t}");
            }
            write_events(&mut out, &o.events);
            if self.challenges.is_empty() {
                let _ = writeln!(out, "Challenges: <none>");
            } else {
                let _ = writeln!(out, "Challenges:");
                for c in &self.challenges {
                    let _ = writeln!(
                        out,
                        "- Name: {}, Type: {}, Token: {}, Key: {}, State: {}, Reason: {}, Processing: {}, Presented: {}",
                        c.name,
                        c.type_,
                        c.token,
                        c.key,
                        c.state,
                        c.reason,
                        c.processing,
                        c.presented
                    );
                }
            }
        }
        out
    }
}

/// The status screen of a Certificate.
pub async fn certificate(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<String, CliError> {
    Ok(load(client, namespace, name).await?.render())
}
