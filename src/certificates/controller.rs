//! The Certificate controller: loads a snapshot, runs the loops in order (trigger,
//! key manager, request manager, issuing, readiness) and carries out the first action
//! one of them wants, until none wants anything.

use base64::Engine;
use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::api::annotations as ann;
use crate::api::certificate::PrivateKeyEncoding;
use crate::api::conditions;
use crate::api::meta::ConditionStatus;
use crate::api::{Certificate, CertificateRequest, CertificateRequestSpec};
use crate::certificates::Context;
use crate::certificates::issuing::IssuingAction;
use crate::certificates::key_manager::KeyAction;
use crate::certificates::policy::{SecretOwnerReference, SecretSnapshot};
use crate::certificates::request_manager::RequestAction;
use crate::certificates::snapshot::{NextKey, Snapshot, request_revision};
use crate::certificates::trigger::TriggerAction;
use crate::certificates::{issuing, key_manager, readiness, request_manager, secret_data, trigger};
use crate::metrics;
use crate::pki::key::{self as keys, KeyAlgorithm, PrivateKey};
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

fn label_value_fits(name: &str) -> bool {
    name.len() <= 63
}

/// Runs the Certificate controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    certificates: Arc<crate::runtime::shared_certificates::SharedCertificates>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let (requests, secrets): (Api<CertificateRequest>, Api<PartialObjectMeta<Secret>>) =
        match &ctx.config.namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
    // Secrets are watched as metadata only: the controller fetches in full just the
    // Secrets of the Certificate it reconciles.
    // Both streams also keep the owner indexes the snapshots are read from.
    let secret_events = {
        let ctx = ctx.clone();
        watcher(secrets, watcher::Config::default())
            .inspect(move |e| {
                if let Ok(e) = e {
                    ctx.secrets_by_owner.apply(e);
                }
            })
            .touched_objects()
    };
    let request_events = {
        let ctx = ctx.clone();
        watcher(requests, watcher::Config::default())
            .inspect(move |e| {
                if let Ok(e) = e {
                    ctx.requests_by_owner.apply(e);
                }
            })
            .touched_objects()
    };
    // The process's one Certificate watch (its metrics hook forgets deleted ones).
    kube::runtime::Controller::for_shared_stream(
        certificates.watch.applied(),
        certificates.watch.store(),
    )
    .owns_stream(request_events)
    .watches_stream(secret_events, |s| {
        let ns = s.namespace().unwrap_or_default();
        let by_annotation = s.annotations().get(ann::CERTIFICATE_NAME).cloned();
        let by_owner = s
            .owner_references()
            .iter()
            .filter(|o| o.kind == "Certificate" && o.api_version.starts_with("cert-manager.io/"))
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
            .concurrency(ctx.config.max_concurrent_reconciles),
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
    .for_each(|_| futures::future::ready(()))
    .await;
}

fn error_policy(cert: Arc<Certificate>, error: &CertificateError, ctx: Arc<Context>) -> Action {
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
            Step::Wait(action) => return Ok(action),
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
            patch_conditions(
                ctx,
                s,
                |c, now, g| {
                    conditions::set(
                        c,
                        "Issuing",
                        ConditionStatus::True,
                        t.reason,
                        &t.message,
                        now,
                        g,
                    );
                },
                json!({}),
            )
            .await?;
            ctx.recorder
                .publish(&s.certificate, EventType::Normal, "Issuing", &t.message)
                .await;
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
        Some(d) => Action::requeue(d.max(Duration::from_secs(1))),
        None if s.issuing() => Action::requeue(Duration::from_secs(30)),
        None => Action::await_change(),
    }))
}

/// Reads the Certificate and what belongs to it.
async fn load(ctx: &Context, ns: &str, name: &str) -> Result<Option<Snapshot>, CertificateError> {
    let client = ctx.client.clone();
    let Some(certificate) = Api::<Certificate>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
    else {
        return Ok(None);
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = secrets
        .get_opt(&certificate.spec.secret_name)
        .await?
        .map(|s| secret_snapshot(&s));
    let next_name = certificate
        .status
        .as_ref()
        .and_then(|st| st.next_private_key_secret_name.clone());
    let next_key = match &next_name {
        Some(n) => secrets.get_opt(n).await?.map(|s| NextKey {
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
        .iter()
        .map(|r| (**r).clone())
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

fn secret_snapshot(s: &Secret) -> SecretSnapshot {
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

fn owner_reference(cert: &Certificate) -> Option<OwnerReference> {
    let mut o = cert.controller_owner_ref(&())?;
    o.block_owner_deletion = Some(true);
    Some(o)
}

async fn patch_status(
    ctx: &Context,
    s: &Snapshot,
    patch: Value,
) -> Result<Certificate, CertificateError> {
    let api: Api<Certificate> = Api::namespaced(ctx.client.clone(), s.namespace());
    Ok(api
        .patch_status(
            s.name(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": patch})),
        )
        .await?)
}

/// Changes the conditions (and merges `extra` into the status) in one patch.
async fn patch_conditions(
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

async fn delete_ignoring_missing<K>(api: &Api<K>, name: &str) -> Result<(), CertificateError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn key_encoding(s: &Snapshot) -> PrivateKeyEncoding {
    s.certificate
        .spec
        .private_key
        .as_ref()
        .and_then(|k| k.encoding)
        .unwrap_or(PrivateKeyEncoding::Pkcs1)
}

async fn generate_next_key(
    ctx: &Context,
    s: &Snapshot,
    reuse_current: bool,
) -> Result<(), CertificateError> {
    let pem = match (
        reuse_current,
        s.secret.as_ref().and_then(|sec| sec.data.get(ann::TLS_KEY)),
    ) {
        (true, Some(existing)) => existing.clone(),
        _ => {
            let alg = KeyAlgorithm::from_spec(s.certificate.spec.private_key.as_ref())?;
            let encoding = key_encoding(s);
            // RSA keys take a while: keep them off the async workers.
            let pem = tokio::task::spawn_blocking(move || {
                PrivateKey::generate(alg).and_then(|k| k.to_pem(encoding))
            })
            .await
            .map_err(|_| CertificateError::Interrupted)??;
            pem.into_bytes()
        }
    };
    let mut labels =
        BTreeMap::from([(ann::LABEL_NEXT_PRIVATE_KEY.to_string(), "true".to_string())]);
    if label_value_fits(s.name()) {
        labels.insert(CERTIFICATE_NAME_LABEL.to_string(), s.name().to_string());
    }
    let secret = Secret {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", shorten(s.name(), 52))),
            namespace: Some(s.namespace().to_string()),
            labels: Some(labels),
            owner_references: owner_reference(&s.certificate).map(|o| vec![o]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            ann::TLS_KEY.to_string(),
            ByteString(pem),
        )])),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    let created = Api::<Secret>::namespaced(ctx.client.clone(), s.namespace())
        .create(&PostParams::default(), &secret)
        .await?;
    let name = created.name_any();
    patch_status(ctx, s, json!({"nextPrivateKeySecretName": name})).await?;
    ctx.recorder
        .publish(
            &s.certificate,
            EventType::Normal,
            "Generated",
            &format!("Stored new private key in temporary Secret resource \"{name}\""),
        )
        .await;
    Ok(())
}

/// Shortens a name the way cert-manager's `DNSSafeShortenTo52Characters` does.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    name[..max].trim_end_matches(['-', '.']).to_string()
}

/// The name of the CertificateRequest of a revision: fixed, so that a restarted
/// controller finds the request it made instead of making a second one.
/// cert-manager's `--copied-annotation-prefixes` default: every annotation but those
/// kubectl, Flux and Argo CD write.
pub const DEFAULT_COPIED_ANNOTATION_PREFIXES: [&str; 4] = [
    "*",
    "-kubectl.kubernetes.io/",
    "-fluxcd.io/",
    "-argocd.argoproj.io/",
];

/// The Certificate's annotations its CertificateRequest (and so its Order) carries, as
/// cert-manager picks them: `prefixes` lists key prefixes to copy (`*` for all) and,
/// starting with `-`, key prefixes never to copy, which win.
pub fn copied_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    prefixes: &[String],
) -> BTreeMap<String, String> {
    let (excluded, included): (Vec<&str>, Vec<&str>) = prefixes
        .iter()
        .map(String::as_str)
        .partition(|p| p.starts_with('-'));
    let all = included.contains(&"*");
    annotations
        .into_iter()
        .flatten()
        .filter(|(k, _)| all || included.iter().any(|p| k.starts_with(p)))
        .filter(|(k, _)| !excluded.iter().any(|p| k.starts_with(&p[1..])))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn request_name(certificate: &str, revision: i32) -> String {
    format!("{}-{revision}", shorten(certificate, 52))
}

/// The ARI identifier of the certificate a new request replaces: the Secret's, when
/// the same issuer issued it (a CA only knows its own certificates).
fn replaced_certificate_id(s: &Snapshot) -> Option<String> {
    let secret = s.secret.as_ref()?;
    let issuer = &s.certificate.spec.issuer_ref;
    let same_issuer = secret.annotations.get(ann::ISSUER_NAME) == Some(&issuer.name)
        && secret
            .annotations
            .get(ann::ISSUER_KIND)
            .is_none_or(|k| k == issuer.kind_or_default());
    if !same_issuer {
        return None;
    }
    crate::issuers::acme::ari::certificate_id(secret.data.get(ann::TLS_CRT)?)
}

async fn create_request(
    ctx: &Context,
    s: &Snapshot,
    revision: i32,
) -> Result<(), CertificateError> {
    let Some(pem) = s.next_key.as_ref().and_then(|k| k.pem.clone()) else {
        return Ok(());
    };
    let key = PrivateKey::from_pem(&pem)?;
    let csr = crate::pki::csr::build_csr(&s.certificate.spec, &key)?;
    let spec = &s.certificate.spec;
    let name = request_name(s.name(), revision);
    let mut annotations = BTreeMap::from([
        (ann::CERTIFICATE_NAME.to_string(), s.name().to_string()),
        (ann::CERTIFICATE_REVISION.to_string(), revision.to_string()),
        (
            ann::PRIVATE_KEY_SECRET_NAME.to_string(),
            s.next_key
                .as_ref()
                .map(|k| k.name.clone())
                .unwrap_or_default(),
        ),
    ]);
    annotations.extend(copied_annotations(
        s.certificate.metadata.annotations.as_ref(),
        &ctx.copied_annotation_prefixes,
    ));
    if let Some(id) = replaced_certificate_id(s) {
        annotations.insert(ann::ACME_REPLACES.to_string(), id);
    }
    let mut labels = s.certificate.metadata.labels.clone().unwrap_or_default();
    if label_value_fits(s.name()) {
        labels.insert(CERTIFICATE_NAME_LABEL.to_string(), s.name().to_string());
    }
    let request = CertificateRequest {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(s.namespace().to_string()),
            annotations: Some(annotations),
            labels: Some(labels),
            owner_references: owner_reference(&s.certificate).map(|o| vec![o]),
            ..Default::default()
        },
        spec: CertificateRequestSpec {
            duration: spec.duration.clone(),
            issuer_ref: spec.issuer_ref.clone(),
            request: base64::engine::general_purpose::STANDARD.encode(csr.as_bytes()),
            is_ca: spec.is_ca,
            usages: spec.usages.clone(),
            ..Default::default()
        },
        status: None,
    };
    let api: Api<CertificateRequest> = Api::namespaced(ctx.client.clone(), s.namespace());
    match api.create(&PostParams::default(), &request).await {
        Ok(created) => {
            ctx.requests_by_owner.apply(&watcher::Event::Apply(created));
            ctx.recorder
                .publish(
                    &s.certificate,
                    EventType::Normal,
                    "Requested",
                    &format!("Created new CertificateRequest resource \"{name}\""),
                )
                .await;
            Ok(())
        }
        // Made before a restart: file it in the index so the next snapshot sees it.
        Err(kube::Error::Api(st)) if st.code == 409 => {
            if let Some(existing) = api.get_opt(&name).await? {
                ctx.requests_by_owner
                    .apply(&watcher::Event::Apply(existing));
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn decode_pem_field(value: Option<&String>) -> Option<Vec<u8>> {
    value.and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
}

async fn issue(ctx: &Context, s: &Snapshot, request: &str) -> Result<(), CertificateError> {
    let Some(req) = Api::<CertificateRequest>::namespaced(ctx.client.clone(), s.namespace())
        .get_opt(request)
        .await?
    else {
        return Ok(());
    };
    let req = &req;
    let status = req.status.clone().unwrap_or_default();
    let cert_pem = decode_pem_field(status.certificate.as_ref())
        .ok_or_else(|| CertificateError::BadRequestStatus(request.to_string()))?;
    let ca_pem = decode_pem_field(status.ca.as_ref());
    let Some(key_pem) = s.next_key.as_ref().and_then(|k| k.pem.clone()) else {
        return Ok(());
    };
    write_secret(ctx, s, &cert_pem, ca_pem.as_deref(), &key_pem).await?;
    let revision = request_revision(req).unwrap_or(s.revision() + 1);
    patch_conditions(ctx, s, |c, _, _| {
        conditions::remove(c, "Issuing");
    }, json!({"revision": revision, "nextPrivateKeySecretName": null, "lastFailureTime": null, "failedIssuanceAttempts": null}))
    .await?;
    if let Some(k) = &s.next_key {
        delete_ignoring_missing(
            &Api::<Secret>::namespaced(ctx.client.clone(), s.namespace()),
            &k.name,
        )
        .await?;
        ctx.secrets_by_owner.forget(s.namespace(), &k.name);
    }
    ctx.recorder
        .publish(
            &s.certificate,
            EventType::Normal,
            "Issuing",
            "The certificate has been successfully issued",
        )
        .await;
    Ok(())
}

/// Stores a temporary certificate for the pending request's key in the Secret
/// (`cert-manager.io/issue-temporary-certificate`).
async fn issue_temporary(
    ctx: &Context,
    s: &Snapshot,
    request: &str,
) -> Result<(), CertificateError> {
    let Some(req) = Api::<CertificateRequest>::namespaced(ctx.client.clone(), s.namespace())
        .get_opt(request)
        .await?
    else {
        return Ok(());
    };
    let Some(key_pem) = s.next_key.as_ref().and_then(|k| k.pem.clone()) else {
        return Ok(());
    };
    let csr_pem = decode_pem_field(Some(&req.spec.request))
        .ok_or_else(|| CertificateError::BadRequestStatus(request.to_string()))?;
    let duration = req
        .spec
        .duration
        .as_deref()
        .and_then(|d| crate::certificates::renewal::parse_go_duration(d).ok())
        .unwrap_or(crate::issuers::signer::DEFAULT_DURATION);
    let cert_pem = crate::certificates::temporary::sign(&csr_pem, duration)?;
    write_secret(ctx, s, cert_pem.as_bytes(), None, &key_pem).await?;
    ctx.recorder
        .publish(
            &s.certificate,
            EventType::Normal,
            "Issuing",
            "Issued temporary certificate",
        )
        .await;
    Ok(())
}

/// The keystore passwords (inline, or from the Secrets they name) and the clock.
async fn keystore_inputs(
    ctx: &Context,
    s: &Snapshot,
) -> Result<secret_data::KeystoreInputs, CertificateError> {
    let keystores = s.certificate.spec.keystores.as_ref();
    let pkcs12_password = match keystores
        .and_then(|k| k.pkcs12.as_ref())
        .filter(|p| p.create)
    {
        Some(p) => keystore_password(
            ctx,
            s,
            p.password.as_deref(),
            p.password_secret_ref.as_ref(),
            ("PKCS#12", "pkcs12"),
        )
        .await?
        .map(|v| String::from_utf8_lossy(&v).into_owned()),
        None => None,
    };
    let jks_password = match keystores.and_then(|k| k.jks.as_ref()).filter(|j| j.create) {
        Some(j) => {
            keystore_password(
                ctx,
                s,
                j.password.as_deref(),
                j.password_secret_ref.as_ref(),
                ("JKS", "jks"),
            )
            .await?
        }
        None => None,
    };
    Ok(secret_data::KeystoreInputs {
        pkcs12_password,
        jks_password,
        now: s.now,
    })
}

/// One keystore password: inline, or from the Secret it names.
async fn keystore_password(
    ctx: &Context,
    s: &Snapshot,
    inline: Option<&str>,
    secret_ref: Option<&crate::api::meta::SecretKeySelector>,
    (kind, field): (&'static str, &'static str),
) -> Result<Option<Vec<u8>>, CertificateError> {
    if let Some(pw) = inline {
        return Ok(Some(pw.as_bytes().to_vec()));
    }
    let Some(r) = secret_ref else {
        return Ok(None);
    };
    let key = r.key.clone().unwrap_or_else(|| "password".to_string());
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), s.namespace())
        .get_opt(&r.name)
        .await?;
    let value = secret
        .and_then(|sec| sec.data)
        .and_then(|d| d.get(&key).cloned());
    // cert-manager: "… keystore password Secret contains no data for key" when empty too.
    match value.filter(|v| !v.0.is_empty()) {
        Some(v) => Ok(Some(v.0)),
        None => Err(CertificateError::KeystorePassword {
            kind,
            field,
            secret: r.name.clone(),
            key,
        }),
    }
}

async fn write_secret(
    ctx: &Context,
    s: &Snapshot,
    cert_pem: &[u8],
    ca_pem: Option<&[u8]>,
    key_pem: &[u8],
) -> Result<(), CertificateError> {
    let keystores = keystore_inputs(ctx, s).await?;
    let contents = secret_data::build(
        &s.certificate,
        cert_pem,
        ca_pem,
        key_pem,
        s.secret.as_ref(),
        &keystores,
    )?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), s.namespace());
    let secret_name = &s.certificate.spec.secret_name;
    let mut owners: Vec<OwnerReference> = api
        .get_opt(secret_name)
        .await?
        .and_then(|e| e.metadata.owner_references)
        .unwrap_or_default();
    let uid = s.certificate.metadata.uid.clone().unwrap_or_default();
    owners.retain(|o| o.uid != uid);
    if ctx.enable_certificate_owner_ref
        && let Some(o) = owner_reference(&s.certificate)
    {
        owners.push(o);
    }
    let existing = api.get_opt(secret_name).await?;
    let data: BTreeMap<String, ByteString> = contents
        .data
        .into_iter()
        .map(|(k, v)| (k, ByteString(v)))
        .collect();
    match existing {
        None => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(secret_name.clone()),
                    namespace: Some(s.namespace().to_string()),
                    labels: Some(contents.labels),
                    annotations: Some(contents.annotations),
                    owner_references: (!owners.is_empty()).then_some(owners),
                    ..Default::default()
                },
                data: Some(data),
                type_: Some("kubernetes.io/tls".into()),
                ..Default::default()
            };
            api.create(&PostParams::default(), &secret).await?;
        }
        Some(mut secret) => {
            secret.metadata.labels = Some(contents.labels);
            secret.metadata.annotations = Some(contents.annotations);
            secret.metadata.owner_references = (!owners.is_empty()).then_some(owners);
            secret.data = Some(data);
            secret.string_data = None;
            api.replace(secret_name, &PostParams::default(), &secret)
                .await?;
        }
    }
    Ok(())
}

async fn fail(ctx: &Context, s: &Snapshot, message: &str) -> Result<(), CertificateError> {
    let text =
        format!("The certificate request has failed to complete and will be retried: {message}");
    let attempts = s
        .certificate
        .status
        .as_ref()
        .and_then(|st| st.failed_issuance_attempts)
        .unwrap_or(0)
        + 1;
    patch_conditions(
        ctx,
        s,
        |c, now, g| {
            conditions::set(
                c,
                "Issuing",
                ConditionStatus::False,
                "Failed",
                &text,
                now,
                g,
            );
        },
        json!({"lastFailureTime": Time(s.now), "failedIssuanceAttempts": attempts}),
    )
    .await?;
    ctx.recorder
        .publish(&s.certificate, EventType::Warning, "Failed", &text)
        .await;
    Ok(())
}

/// Rewrites the Secret's metadata and extra outputs when they drifted (no new certificate).
async fn repair_secret(ctx: &Context, s: &Snapshot) -> Result<bool, CertificateError> {
    let input = crate::certificates::policy::PolicyInput {
        certificate: &s.certificate,
        secret: s.secret.as_ref(),
        current_request: s.current_request(),
        now: s.now,
    };
    if crate::certificates::policy::needs_issuance(&input).is_some() {
        return Ok(false);
    }
    let Some(why) =
        crate::certificates::policy::secret_needs_update(&input, ctx.enable_certificate_owner_ref)
    else {
        return Ok(false);
    };
    let Some(secret) = &s.secret else {
        return Ok(false);
    };
    let (Some(cert_pem), Some(key_pem)) =
        (secret.data.get(ann::TLS_CRT), secret.data.get(ann::TLS_KEY))
    else {
        return Ok(false);
    };
    let ca = secret.data.get(ann::CA_CRT).cloned().or_else(|| {
        s.current_request()
            .and_then(|r| decode_pem_field(r.status.as_ref().and_then(|st| st.ca.as_ref())))
    });
    let keystores = keystore_inputs(ctx, s).await?;
    let rebuilt = secret_data::build(
        &s.certificate,
        cert_pem,
        ca.as_deref(),
        key_pem,
        Some(secret),
        &keystores,
    )?;
    if rebuilt.data == secret.data
        && rebuilt.labels == secret.labels
        && rebuilt.annotations == secret.annotations
    {
        return Ok(false);
    }
    tracing::info!(certificate = %s.name(), namespace = %s.namespace(), "updating the Secret: {why}");
    write_secret(ctx, s, cert_pem, ca.as_deref(), key_pem).await?;
    Ok(true)
}

/// Deletes CertificateRequests older than `revisionHistoryLimit` revisions (default 1).
async fn clean_up_requests(ctx: &Context, s: &Snapshot) -> Result<(), CertificateError> {
    let limit = s
        .certificate
        .spec
        .revision_history_limit
        .unwrap_or(1)
        .max(1);
    let keep_from = s.revision() - limit + 1;
    let api: Api<CertificateRequest> = Api::namespaced(ctx.client.clone(), s.namespace());
    for r in &s.requests {
        if request_revision(r).is_some_and(|rev| rev < keep_from) {
            delete_ignoring_missing(&api, &r.name_any()).await?;
            ctx.requests_by_owner.forget(s.namespace(), &r.name_any());
        }
    }
    Ok(())
}

/// Writes the Ready condition and the validity times; returns when to look again.
async fn readiness_step(ctx: &Context, s: &Snapshot) -> Result<Option<Duration>, CertificateError> {
    let r = readiness::decide(s);
    let status = s.certificate.status.clone().unwrap_or_default();
    let mut conds = status.conditions.clone().unwrap_or_default();
    let changed_condition = conditions::set(
        &mut conds,
        "Ready",
        r.ready.status,
        r.ready.reason,
        &r.ready.message,
        s.now,
        s.certificate.metadata.generation,
    );
    let times = |t: Option<jiff::Timestamp>| t.map(Time);
    let changed_times = status.not_before != times(r.not_before)
        || status.not_after != times(r.not_after)
        || status.renewal_time != times(r.renewal_time);
    if changed_condition || changed_times {
        patch_status(
            ctx,
            s,
            json!({"conditions": conds, "notBefore": times(r.not_before), "notAfter": times(r.not_after), "renewalTime": times(r.renewal_time)}),
        )
        .await?;
        // cert-manager's readiness controller says it once more as a Warning event.
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
    }
    record_metrics(ctx, s, &r);
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

fn record_metrics(ctx: &Context, s: &Snapshot, r: &readiness::Readiness) {
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
