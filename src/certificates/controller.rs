//! The Certificate controller: loads a snapshot, runs the loops in order (trigger,
//! key manager, request manager, issuing, readiness) and carries out the first action
//! one of them wants, until none wants anything.

use crate::runtime::reconcile::ShardedRun;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

use super::actions::*;
pub use super::actions::{DEFAULT_COPIED_ANNOTATION_PREFIXES, copied_annotations, request_name};
use crate::api::annotations as ann;
use crate::api::conditions;
use crate::api::meta::ConditionStatus;
use crate::api::{Certificate, CertificateRequest};
use crate::certificates::Context;
use crate::certificates::issuing::IssuingAction;
use crate::certificates::key_manager::KeyAction;
use crate::certificates::policy::{SecretOwnerReference, SecretSnapshot};
use crate::certificates::request_manager::RequestAction;
use crate::certificates::snapshot::{NextKey, Snapshot};
use crate::certificates::trigger::TriggerAction;
use crate::certificates::{issuing, key_manager, readiness, request_manager, secret_data, trigger};
use crate::metrics;
use crate::pki::key::{self as keys};
use crate::runtime::events::EventType;

/// Why a Certificate could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("private key: {0}")]
    Key(#[from] keys::KeyError),
    #[error("Secret contents: {0}")]
    SecretData(#[from] secret_data::SecretDataError),
    #[error("the issued certificate in CertificateRequest {0} is not valid base64 PEM")]
    BadRequestStatus(String),
    #[error("generating a key was interrupted")]
    Interrupted,
    #[error("temporary certificate: {0}")]
    Temporary(#[from] crate::certificates::temporary::TemporaryError),
    #[error(
        "the {kind} keystore password: Secret {secret} is missing or has no data for key {key:?}; create it or fix spec.keystores.{field}.passwordSecretRef"
    )]
    KeystorePassword {
        kind: &'static str,
        field: &'static str,
        secret: String,
        key: String,
    },
}

/// The label certgate adds to temporary key Secrets and CertificateRequests, so
/// they can be listed per Certificate.
pub const CERTIFICATE_NAME_LABEL: &str = "cert-manager.io/certificate-name";

pub(super) fn label_value_fits(name: &str) -> bool {
    name.len() <= 63
}

/// How long the Certificate controller lets the events of a burst gather before it
/// reconciles (kube-runtime's trailing-edge debounce).
const RECONCILE_DEBOUNCE: Duration = Duration::from_millis(50);

/// Runs the Certificate controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    certificates: Arc<crate::runtime::shared_certificates::SharedCertificates>,
    requests: Arc<crate::runtime::shared_watch::SharedWatch<CertificateRequest>>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let secrets: Api<PartialObjectMeta<Secret>> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // Secrets are watched as metadata only: the controller fetches in full just the
    // Secrets of the Certificate it reconciles. The stream also keeps the owner
    // index the snapshots are read from (the requests' index is kept by the
    // process's one request watch, handed in).
    let secret_events = {
        let ctx = ctx.clone();
        ctx.config
            .shards
            .share_of(move || {
                watcher(
                    secrets.clone(),
                    crate::runtime::reconcile::secret_metadata_watch(),
                )
            })
            .inspect(move |e| {
                if let Ok(e) = e {
                    ctx.secrets_by_owner.apply(e);
                    observe_secret(&ctx, e);
                }
            })
            .touched_objects()
    };
    let _ = ctx.certificate_cache.set(certificates.watch.store());
    // The process's one Certificate watch (its metrics hook forgets deleted ones).
    let applied = {
        let ctx = ctx.clone();
        certificates
            .watch
            .applied()
            .inspect(move |c| ctx.recent_certificates.caught_up_with(c))
    };
    kube::runtime::Controller::for_shared_stream(applied, certificates.watch.store())
        .trigger_backoff(crate::runtime::reconcile::TriggerBackoff::default())
        .owns_shared_stream(requests.touched())
        .reconcile_on(crate::certificates::wake_ups::sweep(
            certificates.watch.store(),
        ))
        .watches_stream(secret_events, |s| {
            let ns = s.namespace().unwrap_or_default();
            let by_annotation = s.annotations().get(ann::CERTIFICATE_NAME).cloned();
            let by_owner = s
                .owner_references()
                .iter()
                .filter(|o| {
                    o.kind == "Certificate" && o.api_version.starts_with("cert-manager.io/")
                })
                .map(|o| o.name.clone())
                .collect::<Vec<_>>();
            by_annotation
                .into_iter()
                .chain(by_owner)
                .map(move |n: String| ObjectRef::new(n.as_str()).within(&ns))
                .collect::<Vec<_>>()
        })
        .with_config(
            kube::runtime::controller::Config::default()
                .concurrency(ctx.config.max_concurrent_reconciles)
                // Each step of an issuance writes two or three objects whose
                // watch events follow within milliseconds: one reconcile looks at
                // them all.
                .debounce(RECONCILE_DEBOUNCE),
        )
        .graceful_shutdown_on(shutdown)
        .run_sharded(ctx.config.shards.clone(), reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Forgets a Secret this controller wrote once the watch shows someone else
/// changed or deleted it (or listed again, when changes may have been missed).
fn observe_secret(ctx: &Context, event: &kube::runtime::watcher::Event<PartialObjectMeta<Secret>>) {
    use kube::runtime::watcher::Event;
    match event {
        Event::Apply(s) | Event::InitApply(s) => {
            let (ns, name) = (s.namespace().unwrap_or_default(), s.name_any());
            ctx.absent_secrets.seen(&ns, &name);
            if !ctx.recent_secrets.is_empty() {
                ctx.recent_secrets
                    .observe(&ns, &name, s.metadata.resource_version.as_deref());
            }
        }
        Event::Delete(s) => {
            let (ns, name) = (s.namespace().unwrap_or_default(), s.name_any());
            ctx.absent_secrets.seen(&ns, &name);
            ctx.recent_secrets.observe(&ns, &name, None);
        }
        Event::Init => {
            ctx.recent_secrets.clear();
            ctx.absent_secrets.clear();
        }
        Event::InitDone => {}
    }
}

/// The Secret `name`: this controller's last write of it while no one else
/// changed it, else the API's.
pub(super) async fn read_secret(
    ctx: &Context,
    secrets: &Api<Secret>,
    namespace: &str,
    name: &str,
) -> Result<Option<Arc<Secret>>, CertificateError> {
    if let Some(s) = ctx.recent_secrets.get(namespace, name) {
        return Ok(Some(s));
    }
    if ctx.absent_secrets.is_absent(namespace, name) {
        return Ok(None);
    }
    ctx.absent_secrets.looking_up(namespace, name);
    let found = secrets.get_opt(name).await;
    ctx.absent_secrets
        .looked_up(namespace, name, !matches!(found, Ok(None)));
    Ok(found?.map(Arc::new))
}

pub(super) fn error_policy(
    cert: Arc<Certificate>,
    error: &CertificateError,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics.inc(
        metrics::SYNC_ERRORS,
        vec![("controller", "certificates".into())],
    );
    crate::runtime::reconcile::log_reconcile_error(
        "certificates",
        &format!(
            "{}/{}",
            cert.namespace().unwrap_or_default(),
            cert.name_any()
        ),
        error,
    );
    Action::requeue(Duration::from_secs(5))
}

/// One reconciliation of a Certificate.
pub async fn reconcile(
    cert: Arc<Certificate>,
    ctx: Arc<Context>,
) -> Result<Action, CertificateError> {
    ctx.metrics.inc(
        metrics::SYNC_CALLS,
        vec![("controller", "certificates".into())],
    );
    let ns = cert.namespace().unwrap_or_default();
    let name = cert.name_any();
    for _ in 0..16 {
        let Some(s) = load(&ctx, &ns, &name).await? else {
            ctx.metrics.forget_certificate(&name, &ns);
            return Ok(Action::await_change());
        };
        match step(&ctx, &s).await? {
            Step::Continue => continue,
            Step::Wait(action) => {
                if !s.issuing() && s.ready() {
                    // Issued and at rest: the TLS Secret is read from the API
                    // again (it is not kept with its data for long). The
                    // Certificate's last write stays until the cache has it.
                    ctx.recent_secrets
                        .forget(&ns, &s.certificate.spec.secret_name);
                }
                return Ok(action);
            }
        }
    }
    Ok(Action::requeue(Duration::from_millis(200)))
}

enum Step {
    Continue,
    Wait(Action),
}

/// Runs the loops on one snapshot: the first that wants something acts.
async fn step(ctx: &Context, s: &Snapshot) -> Result<Step, CertificateError> {
    match trigger::decide(s) {
        Some(TriggerAction::Issue(t)) => {
            // Issuing, and the Ready condition of the same snapshot, in one write.
            let mut conds = s
                .certificate
                .status
                .as_ref()
                .and_then(|st| st.conditions.clone())
                .unwrap_or_default();
            conditions::set(
                &mut conds,
                "Issuing",
                ConditionStatus::True,
                t.reason,
                &t.message,
                s.now,
                s.certificate.metadata.generation,
            );
            // The next private key too, when the key manager would make one as soon
            // as Issuing is set: its Secret first, then one write names it.
            let mut issuing = s.clone();
            issuing
                .certificate
                .status
                .get_or_insert_with(Default::default)
                .conditions = Some(conds.clone());
            let next_key = match key_manager::decide(&issuing) {
                Some(KeyAction::Generate { reuse_current }) => {
                    Some(create_next_key(ctx, s, reuse_current).await?)
                }
                _ => None,
            };
            let extra = match &next_key {
                Some(name) => json!({"nextPrivateKeySecretName": name}),
                None => json!({}),
            };
            write_with_readiness(ctx, s, s, conds, extra, false).await?;
            ctx.recorder
                .publish(&s.certificate, EventType::Normal, "Issuing", &t.message)
                .await;
            if let Some(name) = &next_key {
                generated_event(ctx, s, name).await;
            }
            return Ok(Step::Continue);
        }
        Some(TriggerAction::BackOff { remaining, message }) => {
            tracing::debug!(certificate = %s.name(), namespace = %s.namespace(), "{message}");
            let ready = readiness_step(ctx, s).await?;
            let next = ready.map_or(remaining, |r| r.min(remaining));
            return Ok(Step::Wait(Action::requeue(
                next.max(Duration::from_secs(1)),
            )));
        }
        None => {}
    }
    if let Some(a) = key_manager::decide(s) {
        match a {
            KeyAction::Generate { reuse_current } => {
                generate_next_key(ctx, s, reuse_current).await?
            }
            KeyAction::Delete(secret) => {
                delete_ignoring_missing(
                    &Api::<Secret>::namespaced(ctx.client.clone(), s.namespace()),
                    &secret,
                )
                .await?;
                ctx.secrets_by_owner.forget(s.namespace(), &secret);
                ctx.recent_secrets.forget(s.namespace(), &secret);
                if s.next_key.as_ref().is_some_and(|k| k.name == secret) {
                    patch_status(ctx, s, json!({"nextPrivateKeySecretName": null})).await?;
                }
            }
        }
        return Ok(Step::Continue);
    }
    if let Some(a) = request_manager::decide(s) {
        match a {
            RequestAction::Create { revision } => create_request(ctx, s, revision).await?,
            RequestAction::Delete(req) => {
                delete_ignoring_missing(
                    &Api::<CertificateRequest>::namespaced(ctx.client.clone(), s.namespace()),
                    &req,
                )
                .await?;
                ctx.requests_by_owner.forget(s.namespace(), &req);
            }
        }
        return Ok(Step::Continue);
    }
    if let Some(a) = issuing::decide(s) {
        match a {
            IssuingAction::Issue { request } => issue(ctx, s, &request).await?,
            IssuingAction::Fail { message, .. } => fail(ctx, s, &message).await?,
        }
        return Ok(Step::Continue);
    }
    if let Some(request) = crate::certificates::temporary::wanted(s) {
        issue_temporary(ctx, s, &request).await?;
        return Ok(Step::Continue);
    }
    if !s.issuing() {
        if repair_secret(ctx, s).await? {
            return Ok(Step::Continue);
        }
        clean_up_requests(ctx, s).await?;
    }
    let requeue = readiness_step(ctx, s).await?;
    Ok(Step::Wait(match requeue {
        // At rest: a timer only when due soon; the cache sweep wakes the others.
        Some(d) if !s.issuing() && !crate::certificates::wake_ups::keeps_timer(d) => {
            Action::await_change()
        }
        Some(d) => Action::requeue(d.max(Duration::from_secs(1))),
        None if s.issuing() => Action::requeue(Duration::from_secs(30)),
        None => Action::await_change(),
    }))
}

/// Reads the Certificate and what belongs to it.
pub(super) async fn load(
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Result<Option<Snapshot>, CertificateError> {
    let client = ctx.client.clone();
    // The cache's copy, or this controller's last write while the cache is behind;
    // the API when that cannot be told.
    let cached = ctx
        .certificate_cache
        .get()
        .and_then(|store| store.get(&ObjectRef::new(name).within(ns)));
    let certificate = match ctx.recent_certificates.newest(cached) {
        Some(c) => (*c).clone(),
        None => {
            let Some(c) = Api::<Certificate>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await?
            else {
                return Ok(None);
            };
            c
        }
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = read_secret(ctx, &secrets, ns, &certificate.spec.secret_name)
        .await?
        .map(|s| secret_snapshot(&s));
    let next_name = certificate
        .status
        .as_ref()
        .and_then(|st| st.next_private_key_secret_name.clone());
    let next_key = match &next_name {
        Some(n) => read_secret(ctx, &secrets, ns, n).await?.map(|s| NextKey {
            name: n.clone(),
            pem: s
                .data
                .as_ref()
                .and_then(|d| d.get(ann::TLS_KEY))
                .map(|b| b.0.clone()),
        }),
        None => None,
    };
    let uid = certificate.metadata.uid.clone().unwrap_or_default();
    let stale_keys = ctx
        .secrets_by_owner
        .owned_by(&uid)
        .iter()
        .filter(|m| {
            m.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(ann::LABEL_NEXT_PRIVATE_KEY))
                .map(String::as_str)
                == Some("true")
        })
        .filter_map(|m| m.metadata.name.clone())
        .filter(|n| Some(n) != next_name.as_ref())
        .collect();
    let requests = ctx
        .requests_by_owner
        .owned_by(&uid)
        .into_iter()
        .map(Arc::unwrap_or_clone)
        .collect();
    Ok(Some(Snapshot {
        certificate,
        secret,
        next_key,
        stale_keys,
        requests,
        now: ctx.now(),
    }))
}

pub(super) fn secret_snapshot(s: &Secret) -> SecretSnapshot {
    SecretSnapshot {
        name: s.name_any(),
        type_: s.type_.clone(),
        data: s
            .data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
        annotations: s.metadata.annotations.clone().unwrap_or_default(),
        labels: s.metadata.labels.clone().unwrap_or_default(),
        owner_references: s
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|o| SecretOwnerReference {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                name: o.name.clone(),
                uid: o.uid.clone(),
                controller: o.controller,
                block_owner_deletion: o.block_owner_deletion,
            })
            .collect(),
    }
}

pub(super) fn owner_reference(cert: &Certificate) -> Option<OwnerReference> {
    let mut o = cert.controller_owner_ref(&())?;
    o.block_owner_deletion = Some(true);
    Some(o)
}

pub(super) async fn patch_status(
    ctx: &Context,
    s: &Snapshot,
    patch: Value,
) -> Result<Certificate, CertificateError> {
    let api: Api<Certificate> = Api::namespaced(ctx.client.clone(), s.namespace());
    let written = api
        .patch_status(
            s.name(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": patch})),
        )
        .await?;
    ctx.recent_certificates
        .remember_unless_cached(written.clone(), ctx.certificate_cache.get());
    Ok(written)
}

/// Changes the conditions (and merges `extra` into the status) in one patch.
pub(super) async fn patch_conditions(
    ctx: &Context,
    s: &Snapshot,
    change: impl FnOnce(&mut Vec<crate::api::meta::Condition>, jiff::Timestamp, Option<i64>),
    mut extra: Value,
) -> Result<(), CertificateError> {
    let mut list = s
        .certificate
        .status
        .as_ref()
        .and_then(|st| st.conditions.clone())
        .unwrap_or_default();
    change(&mut list, s.now, s.certificate.metadata.generation);
    extra["conditions"] = serde_json::to_value(&list).unwrap_or(Value::Null);
    patch_status(ctx, s, extra).await?;
    Ok(())
}

pub(super) async fn delete_ignoring_missing<K>(
    api: &Api<K>,
    name: &str,
) -> Result<(), CertificateError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Writes the status fields in `extra` and the conditions `conds` together with the
/// Ready condition and validity times (notBefore, notAfter, renewalTime) that
/// `after` calls for — `after` being the snapshot as it is once this write lands —:
/// the one place readiness becomes status fields, so that a write made for another
/// reason carries them too and readiness needs no write of its own. With
/// `only_if_changed`, nothing is written when neither the condition nor the times
/// change. A renewal-window error that the Ready condition takes now is said once
/// more as a Warning event, as cert-manager's readiness controller does. The
/// Certificate's metrics are set from `after` once the write has landed.
pub(super) async fn write_with_readiness(
    ctx: &Context,
    s: &Snapshot,
    after: &Snapshot,
    mut conds: Vec<crate::api::meta::Condition>,
    mut extra: Value,
    only_if_changed: bool,
) -> Result<readiness::Readiness, CertificateError> {
    let r = readiness::decide(after);
    let status = after.certificate.status.clone().unwrap_or_default();
    let changed_condition = conditions::set(
        &mut conds,
        "Ready",
        r.ready.status,
        r.ready.reason,
        &r.ready.message,
        after.now,
        after.certificate.metadata.generation,
    );
    let times = |t: Option<jiff::Timestamp>| t.map(Time);
    let changed_times = status.not_before != times(r.not_before)
        || status.not_after != times(r.not_after)
        || status.renewal_time != times(r.renewal_time);
    if only_if_changed && !changed_condition && !changed_times {
        record_metrics(ctx, after, &r);
        return Ok(r);
    }
    extra["conditions"] = serde_json::to_value(&conds).unwrap_or(Value::Null);
    extra["notBefore"] = json!(times(r.not_before));
    extra["notAfter"] = json!(times(r.not_after));
    extra["renewalTime"] = json!(times(r.renewal_time));
    patch_status(ctx, s, extra).await?;
    // The metrics follow the status as written: whoever sees it Ready scrapes it so.
    record_metrics(ctx, after, &r);
    if changed_condition && r.ready.reason == crate::certificates::renewal::WINDOW_ERROR {
        ctx.recorder
            .publish(
                &s.certificate,
                EventType::Warning,
                crate::certificates::renewal::WINDOW_ERROR,
                &r.ready.message,
            )
            .await;
    }
    Ok(r)
}

/// Writes the Ready condition and the validity times; returns when to look again.
pub(super) async fn readiness_step(
    ctx: &Context,
    s: &Snapshot,
) -> Result<Option<Duration>, CertificateError> {
    let conds = s
        .certificate
        .status
        .as_ref()
        .and_then(|st| st.conditions.clone())
        .unwrap_or_default();
    let r = write_with_readiness(ctx, s, s, conds, json!({}), true).await?;
    let until = |t: jiff::Timestamp| {
        let d = s.now.duration_until(t);
        (d > jiff::SignedDuration::ZERO).then(|| d.unsigned_abs())
    };
    Ok(match (r.renewal_time, r.not_after) {
        (Some(rt), _) if rt > s.now => until(rt),
        (_, Some(na)) if na > s.now => until(na),
        _ => None,
    })
}

pub(super) fn record_metrics(ctx: &Context, s: &Snapshot, r: &readiness::Readiness) {
    let issuer = &s.certificate.spec.issuer_ref;
    let secs = |t: Option<jiff::Timestamp>| t.map(|t| t.as_second() as f64).unwrap_or(0.0);
    let ready = match r.ready.status {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    };
    ctx.metrics.set_certificate(
        s.namespace(),
        s.name(),
        s.certificate.metadata.uid.as_deref().unwrap_or_default(),
        metrics::CertificateSeries {
            issuer_name: issuer.name.clone(),
            issuer_kind: issuer.kind_or_default().to_string(),
            issuer_group: issuer.group_or_default().to_string(),
            not_after: secs(r.not_after),
            not_before: secs(r.not_before),
            renewal: secs(r.renewal_time),
            ready,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn annotations_are_copied_as_cert_manager_copies_them() {
        let annotations = BTreeMap::from(
            [
                ("team", "a"),
                ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
                ("fluxcd.io/sync-checksum", "x"),
                ("argocd.argoproj.io/tracking-id", "y"),
                ("example.com/owner", "z"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let defaults: Vec<String> = DEFAULT_COPIED_ANNOTATION_PREFIXES
            .iter()
            .map(|p| p.to_string())
            .collect();
        let copied = copied_annotations(Some(&annotations), &defaults);
        assert_eq!(
            copied.keys().map(String::as_str).collect::<Vec<_>>(),
            ["example.com/owner", "team"]
        );
        // Only what is listed; an exclusion wins over an inclusion.
        let listed = ["example.com/".to_string(), "-example.com/owner".to_string()];
        assert!(copied_annotations(Some(&annotations), &listed).is_empty());
        let listed = ["team".to_string()];
        assert_eq!(
            copied_annotations(Some(&annotations), &listed)
                .keys()
                .collect::<Vec<_>>(),
            ["team"]
        );
        assert!(copied_annotations(None, &defaults).is_empty());
    }

    #[test]
    fn request_names_are_fixed_per_revision_and_dns_safe() {
        assert_eq!(request_name("web", 3), "web-3");
        let long = "a".repeat(60);
        assert_eq!(request_name(&long, 1), format!("{}-1", "a".repeat(52)));
        assert_eq!(shorten("abc-", 3), "abc");
        assert_eq!(
            shorten(&format!("{}-x", "b".repeat(51)), 52),
            "b".repeat(51)
        );
    }
}
