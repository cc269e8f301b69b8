//! The CertificateRequest controller for cert-manager.io issuers: the built-in
//! approver, then signing with SelfSigned, CA and Vault issuers (ACME's orders are
//! in `issuers::acme::requests`), as cert-manager's certificaterequests
//! controllers do.

use crate::runtime::reconcile::ShardedRun;
use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::api::annotations as ann;
use crate::api::certificate_request::request_condition;
use crate::api::meta::{ConditionStatus, RequestCondition};
use crate::api::{CertificateRequest, ClusterIssuer, Issuer, IssuerConfig};
use crate::gocompat::parse_go_duration;
use crate::issuers::Context;
use crate::issuers::signer::{DEFAULT_DURATION, SignOptions, SignedCertificate};
use crate::issuers::{ca, selfsigned};
use crate::metrics;
use crate::pki::key::PrivateKey;
use crate::runtime::events::EventType;

/// Why a CertificateRequest could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
}

/// What happened when the request was taken to its issuer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Issued(SignedCertificate),
    /// Not yet: Ready=False reason Pending with this message.
    Pending(String),
    /// Not yet, with the event reason to publish (e.g. `OrderCreated`).
    PendingWith(String, String),
    /// For good: Ready=False reason Failed with this message.
    Failed(String),
    /// For good, with the event reason to publish (e.g. `OrderFailed`).
    FailedWith(String, String),
    /// Another controller's issuer (external): leave the request alone.
    NotOurs,
}

fn is_cert_manager_group(group: Option<&str>) -> bool {
    matches!(group, None | Some("") | Some("cert-manager.io"))
}

/// The request's `spec.duration`, or cert-manager's default (90 days).
fn requested_duration(req: &CertificateRequest) -> Result<Duration, String> {
    match req.spec.duration.as_deref() {
        Some(d) => parse_go_duration(d).map_err(|e| format!("invalid duration {d:?}: {e}")),
        None => Ok(DEFAULT_DURATION),
    }
}

fn sign_options(
    req: &CertificateRequest,
    config: &IssuerConfig,
    now: jiff::Timestamp,
) -> Result<SignOptions, String> {
    let duration = requested_duration(req)?;
    let (crl, ocsp, aia) = match (&config.ca, &config.self_signed) {
        (Some(c), _) => (
            c.crl_distribution_points.clone().unwrap_or_default(),
            c.ocsp_servers.clone().unwrap_or_default(),
            c.issuing_certificate_urls.clone().unwrap_or_default(),
        ),
        (None, Some(s)) => (
            s.crl_distribution_points.clone().unwrap_or_default(),
            Vec::new(),
            Vec::new(),
        ),
        _ => (Vec::new(), Vec::new(), Vec::new()),
    };
    Ok(SignOptions {
        duration,
        is_ca: req.spec.is_ca.unwrap_or(false),
        usages: req.spec.usages.clone().unwrap_or_default(),
        crl_distribution_points: crl,
        ocsp_servers: ocsp,
        issuing_certificate_urls: aia,
        not_before: now,
    })
}

/// Signs (pure) given the issuer's config and the Secret it needs: the self-signing
/// key (from the request's `private-key-secret-name`) or the CA key pair.
pub fn sign(
    req: &CertificateRequest,
    config: &IssuerConfig,
    secret: Option<&BTreeMap<String, Vec<u8>>>,
    secret_ref: &str,
    now: jiff::Timestamp,
) -> Outcome {
    let csr = match base64::engine::general_purpose::STANDARD.decode(&req.spec.request) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("Failed to decode CSR in spec.request: {e}")),
    };
    let opts = match sign_options(req, config, now) {
        Ok(o) => o,
        Err(e) => return Outcome::Failed(e),
    };
    if config.self_signed.is_some() {
        // cert-manager fails for good a request that names no key Secret (cmctl's
        // `create certificaterequest` and other hand-made requests).
        let named = req
            .annotations()
            .get(ann::PRIVATE_KEY_SECRET_NAME)
            .is_some_and(|n| !n.is_empty());
        if !named {
            return Outcome::FailedWith(
                "MissingAnnotation".to_string(),
                format!(
                    "Annotation {:?} missing or reference empty: secret name missing",
                    ann::PRIVATE_KEY_SECRET_NAME
                ),
            );
        }
        let Some(data) = secret else {
            return Outcome::Pending(format!("Referenced secret {secret_ref} not found"));
        };
        let Some(key_pem) = data.get(ann::TLS_KEY) else {
            return Outcome::Pending(format!(
                "Referenced secret {secret_ref} has no key \"tls.key\""
            ));
        };
        let key = match PrivateKey::from_pem(key_pem) {
            Ok(k) => k,
            Err(e) => {
                return Outcome::Failed(format!(
                    "Failed to parse the private key in {secret_ref}: {e}"
                ));
            }
        };
        return match selfsigned::sign(&csr, &key, &opts) {
            Ok(signed) => Outcome::Issued(signed),
            Err(e) => Outcome::Failed(format!("Error signing certificate: {e}")),
        };
    }
    if config.ca.is_some() {
        let Some(data) = secret else {
            return Outcome::Pending(format!("Referenced secret {secret_ref} not found"));
        };
        let pair = match ca::CaKeyPair::from_secret_data(data) {
            Ok(p) => p,
            Err(e) => return Outcome::Pending(e.condition_message()),
        };
        return match pair.sign(&csr, &opts) {
            Ok(signed) => Outcome::Issued(signed),
            Err(e) => Outcome::Failed(format!("Error signing certificate: {e}")),
        };
    }
    Outcome::NotOurs
}

fn condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> RequestCondition {
    RequestCondition {
        type_: type_.into(),
        status,
        last_transition_time: Some(Time(now)),
        reason: Some(reason.into()),
        message: Some(message.into()),
    }
}

fn with_condition(req: &CertificateRequest, c: RequestCondition) -> Vec<RequestCondition> {
    let mut list = req
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    match list.iter_mut().find(|x| x.type_ == c.type_) {
        Some(x) if x.status == c.status => {
            let t = x.last_transition_time.clone();
            *x = RequestCondition {
                last_transition_time: t,
                ..c
            };
        }
        Some(x) => *x = c,
        None => list.push(c),
    }
    list
}

async fn patch_status(
    ctx: &Context,
    req: &CertificateRequest,
    status: Value,
) -> Result<(), RequestError> {
    let written = Api::<CertificateRequest>::namespaced(
        ctx.client.clone(),
        &req.namespace().unwrap_or_default(),
    )
    .patch_status(
        &req.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await?;
    // Kept as the cache keeps requests (without the issued certificate).
    let mut written = written;
    crate::runtime::shared_requests::trim(&mut written);
    // The cache keeps only the requests still worked on.
    ctx.recent_requests.remember_unless_cached_or_passed(
        written,
        ctx.request_cache.get(),
        crate::runtime::shared_requests::is_worked_on,
    );
    Ok(())
}

async fn reconcile(
    req: Arc<CertificateRequest>,
    ctx: Arc<Context>,
) -> Result<Action, RequestError> {
    ctx.metrics.inc(
        metrics::SYNC_CALLS,
        vec![("controller", "certificaterequests".into())],
    );
    let now = ctx.now();
    let status_of = |t: &str| request_condition(&req, t).map(|c| c.status);
    let ours = is_cert_manager_group(req.spec.issuer_ref.group.as_deref());
    if !ours {
        // An external issuer's request (aws-privateca, google-cas, step-issuer, …):
        // approved here as cert-manager's approver does, signed by its controller.
        if ctx.approve_requests && status_of("Approved").is_none() && status_of("Denied").is_none()
        {
            approve(&ctx, &req, now).await?;
        }
        return Ok(Action::await_change());
    }
    if status_of("Ready") == Some(ConditionStatus::True) {
        return Ok(follow_renewal_info(&ctx, &req).await);
    }
    // Work to do: decide on the request with the status this controller wrote last
    // — the cache may not show it yet (a second signature, a second Vault
    // certificate) —, or as the API holds it when that cannot be told.
    let req = match ctx.recent_requests.newest(Some(req.clone())) {
        Some(newest) => newest,
        None => match Api::<CertificateRequest>::namespaced(
            ctx.client.clone(),
            &req.namespace().unwrap_or_default(),
        )
        .get_opt(&req.name_any())
        .await?
        {
            Some(fresh) => Arc::new(fresh),
            None => return Ok(Action::await_change()),
        },
    };
    let status_of = |t: &str| request_condition(&req, t).map(|c| c.status);
    if status_of("Ready") == Some(ConditionStatus::True) {
        return Ok(follow_renewal_info(&ctx, &req).await);
    }
    if request_condition(&req, "Ready").is_some_and(|c| {
        c.reason.as_deref() == Some("Failed") || c.reason.as_deref() == Some("Denied")
    }) {
        return Ok(Action::await_change());
    }
    // The built-in approver (unless another approver decides). A SelfSigned or CA
    // issuer signs at once: its approval is written with the issuance, in one write.
    let approve_now =
        ctx.approve_requests && status_of("Approved").is_none() && status_of("Denied").is_none();
    if !approve_now {
        if status_of("Denied") == Some(ConditionStatus::True) {
            let list = with_condition(
                &req,
                condition(
                    "Ready",
                    ConditionStatus::False,
                    "Denied",
                    "The CertificateRequest was denied by an approval controller",
                    now,
                ),
            );
            patch_status(
                &ctx,
                &req,
                json!({"conditions": list, "failureTime": Time(now)}),
            )
            .await?;
            return Ok(Action::await_change());
        }
        if status_of("Approved") != Some(ConditionStatus::True) {
            return Ok(Action::await_change());
        }
    }
    let ns = req.namespace().unwrap_or_default();
    let issuer_ref = &req.spec.issuer_ref;
    let cluster = issuer_ref.kind_or_default() == "ClusterIssuer";
    let config = if cluster {
        Api::<ClusterIssuer>::all(ctx.client.clone())
            .get_opt(&issuer_ref.name)
            .await?
            .map(|i| i.spec.config)
    } else {
        Api::<Issuer>::namespaced(ctx.client.clone(), &ns)
            .get_opt(&issuer_ref.name)
            .await?
            .map(|i| i.spec.config)
    };
    let signs_at_once = config
        .as_ref()
        .is_some_and(|c| c.self_signed.is_some() || c.ca.is_some());
    if approve_now && !signs_at_once {
        approve(&ctx, &req, now).await?;
        return Ok(Action::requeue(Duration::from_millis(10)));
    }
    let approved;
    let req: &CertificateRequest = if approve_now {
        approved = with_approval(&req, now);
        &approved
    } else {
        &req
    };
    let Some(config) = config else {
        let (kind, resource) = if cluster {
            ("ClusterIssuer", "clusterissuer")
        } else {
            ("Issuer", "issuer")
        };
        let message = format!(
            "Referenced \"{kind}\" not found: {resource}.cert-manager.io \"{}\" not found",
            issuer_ref.name
        );
        set_pending(&ctx, req, "Pending", &message, now).await?;
        return Ok(Action::requeue(Duration::from_secs(10)));
    };
    if let Some(acme) = &config.acme {
        let outcome = crate::issuers::acme::requests::sync(&ctx, req, acme).await?;
        let issued = matches!(outcome, Outcome::Issued(_));
        let action = finish(&ctx, req, outcome, now, false).await?;
        if issued {
            // Ask the CA when to renew (ARI) right away.
            let ns = req.namespace().unwrap_or_default();
            if let Some(issuer) =
                crate::issuers::acme::lookup_issuer(&ctx, &ns, &req.spec.issuer_ref).await?
                && let Some(next) = crate::issuers::acme::ari::poll(&ctx, req, &issuer, acme).await
            {
                return Ok(Action::requeue(next));
            }
        }
        return Ok(action);
    }
    if let Some(vault) = &config.vault {
        let secret_ns = if cluster {
            ctx.config.cluster_resource_namespace.clone()
        } else {
            ns.clone()
        };
        let identity = crate::issuers::issuer_controller::vault_identity(
            cluster,
            &issuer_ref.name,
            &secret_ns,
        );
        let outcome = vault_sign(&ctx, req, &identity, vault).await;
        return finish(&ctx, req, outcome, now, false).await;
    }
    let (secret_ns, secret_name) = if config.self_signed.is_some() {
        let name = req
            .annotations()
            .get(ann::PRIVATE_KEY_SECRET_NAME)
            .cloned()
            .unwrap_or_default();
        (ns.clone(), name)
    } else if let Some(c) = &config.ca {
        let ns = if cluster {
            ctx.config.cluster_resource_namespace.clone()
        } else {
            ns.clone()
        };
        (ns, c.secret_name.clone())
    } else {
        return Ok(Action::await_change());
    };
    let secret = if secret_name.is_empty() {
        None
    } else {
        Api::<Secret>::namespaced(ctx.client.clone(), &secret_ns)
            .get_opt(&secret_name)
            .await?
            .map(|s| {
                s.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect::<BTreeMap<_, _>>()
            })
    };
    let secret_ref = format!("{secret_ns}/{secret_name}");
    let outcome =
        tokio::task::block_in_place(|| sign(req, &config, secret.as_ref(), &secret_ref, now));
    finish(&ctx, req, outcome, now, approve_now).await
}

const APPROVED_MESSAGE: &str = "Certificate request has been approved by cert-manager.io";

/// `req` with the Approved condition cert-manager's built-in approver sets.
fn with_approval(req: &CertificateRequest, now: jiff::Timestamp) -> CertificateRequest {
    let mut approved = req.clone();
    let list = with_condition(
        req,
        condition(
            "Approved",
            ConditionStatus::True,
            "cert-manager.io",
            APPROVED_MESSAGE,
            now,
        ),
    );
    approved
        .status
        .get_or_insert_with(Default::default)
        .conditions = Some(list);
    approved
}

/// cert-manager's approver's event.
async fn approved_event(ctx: &Context, req: &CertificateRequest) {
    ctx.recorder
        .publish(req, EventType::Normal, "cert-manager.io", APPROVED_MESSAGE)
        .await;
}

/// Approves `req` as cert-manager's built-in approver does.
async fn approve(
    ctx: &Context,
    req: &CertificateRequest,
    now: jiff::Timestamp,
) -> Result<(), RequestError> {
    let approved = with_approval(req, now);
    let list = approved.status.and_then(|s| s.conditions);
    patch_status(ctx, req, json!({"conditions": list})).await?;
    approved_event(ctx, req).await;
    Ok(())
}

/// Has Vault sign the request, in cert-manager's words: a missing Secret and a
/// client that cannot be set up leave the request Pending (`SecretMissing`,
/// `VaultInitError`); Vault refusing to sign fails it (`SigningError`). Vault being
/// unreachable, sealed or failing (5xx) also leaves it Pending and retried, where
/// cert-manager fails it.
async fn vault_sign(
    ctx: &Context,
    req: &CertificateRequest,
    identity: &crate::issuers::vault::IssuerIdentity,
    spec: &crate::api::issuer::VaultIssuer,
) -> Outcome {
    use crate::issuers::vault::{Vault, VaultError};
    let csr = match base64::engine::general_purpose::STANDARD
        .decode(&req.spec.request)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(c) => c,
        None => return Outcome::Failed("Failed to decode CSR in spec.request".into()),
    };
    let duration = match requested_duration(req) {
        Ok(d) => d,
        Err(e) => return Outcome::Failed(e),
    };
    let vault = match Vault::connect(
        &ctx.client,
        identity,
        spec,
        &ctx.vault,
        ctx.vault_tokens.clone(),
    )
    .await
    {
        Ok(v) => v,
        Err(e) if e.is_secret_missing() => {
            return Outcome::PendingWith(
                "SecretMissing".into(),
                format!("Required secret resource not found: {e}"),
            );
        }
        Err(e) => {
            return Outcome::PendingWith(
                "VaultInitError".into(),
                format!("Failed to initialise vault client for signing: {e}"),
            );
        }
    };
    match vault.sign(&csr, duration).await {
        Ok(signed) => Outcome::Issued(signed),
        Err(e @ VaultError::Login { .. }) => Outcome::PendingWith(
            "VaultInitError".into(),
            format!("Failed to initialise vault client for signing: {e}"),
        ),
        Err(e) if e.is_transient() => Outcome::PendingWith(
            "VaultUnavailable".into(),
            format!("Vault could not sign the certificate now and will be asked again: {e}"),
        ),
        Err(e) => Outcome::FailedWith(
            "SigningError".into(),
            format!("Vault failed to sign certificate: {e}"),
        ),
    }
}

/// Writes what the issuer said into the request's status, with its event.
/// The status patch of an issued request: the conditions, the certificate and — only
/// when the issuer knows one — the CA. Both are `format: byte` in the CRD, where the
/// API server refuses `""`, so an unknown CA (ACME) is left out (`null` in a merge
/// patch), never written empty.
fn issued_status(conditions: &[RequestCondition], signed: &SignedCertificate) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let ca = match signed.ca_pem.trim() {
        "" => Value::Null,
        _ => Value::String(b64(&signed.ca_pem)),
    };
    json!({"conditions": conditions, "certificate": b64(&signed.certificate_pem), "ca": ca})
}

/// Writes the outcome of signing. With `approved_now`, `req` carries an approval not
/// written yet: it goes out with the outcome (or alone when there is none), and its
/// event before the outcome's.
async fn finish(
    ctx: &Context,
    req: &CertificateRequest,
    outcome: Outcome,
    now: jiff::Timestamp,
    approved_now: bool,
) -> Result<Action, RequestError> {
    if approved_now
        && matches!(
            outcome,
            Outcome::NotOurs | Outcome::Pending(_) | Outcome::PendingWith(..)
        )
    {
        // No write of the outcome may follow (an unchanged Pending): approve alone.
        let list = req.status.as_ref().and_then(|s| s.conditions.clone());
        patch_status(ctx, req, json!({"conditions": list})).await?;
        approved_event(ctx, req).await;
        return Box::pin(finish(ctx, req, outcome, now, false)).await;
    }
    let (outcome, event_reason) = match outcome {
        Outcome::PendingWith(r, m) => (Outcome::Pending(m), Some(r)),
        Outcome::FailedWith(r, m) => (Outcome::Failed(m), Some(r)),
        o => (o, None),
    };
    match outcome {
        Outcome::Issued(signed) => {
            let message = "Certificate fetched from issuer successfully";
            let list = with_condition(
                req,
                condition("Ready", ConditionStatus::True, "Issued", message, now),
            );
            patch_status(ctx, req, issued_status(&list, &signed)).await?;
            if approved_now {
                approved_event(ctx, req).await;
            }
            ctx.recorder
                .publish(req, EventType::Normal, "CertificateIssued", message)
                .await;
            Ok(Action::await_change())
        }
        Outcome::Pending(message) => {
            set_pending(
                ctx,
                req,
                event_reason.as_deref().unwrap_or("Pending"),
                &message,
                now,
            )
            .await?;
            Ok(Action::requeue(Duration::from_secs(10)))
        }
        Outcome::Failed(message) => {
            let list = with_condition(
                req,
                condition("Ready", ConditionStatus::False, "Failed", &message, now),
            );
            patch_status(
                ctx,
                req,
                json!({"conditions": list, "failureTime": Time(now)}),
            )
            .await?;
            if approved_now {
                approved_event(ctx, req).await;
            }
            ctx.recorder
                .publish(
                    req,
                    EventType::Warning,
                    event_reason.as_deref().unwrap_or("Failed"),
                    &message,
                )
                .await;
            Ok(Action::await_change())
        }
        Outcome::PendingWith(..) | Outcome::FailedWith(..) | Outcome::NotOurs => {
            Ok(Action::await_change())
        }
    }
}

/// An issued request whose CA gave renewal information (ARI) is asked again when
/// the CA said to, as long as its certificate is the Certificate's current one.
async fn follow_renewal_info(ctx: &Context, req: &CertificateRequest) -> Action {
    if !req.annotations().contains_key(ann::ACME_ARI_RENEWAL_TIME) {
        return Action::await_change();
    }
    let ns = req.namespace().unwrap_or_default();
    let (Some(cert_name), Some(revision)) = (
        req.annotations().get(ann::CERTIFICATE_NAME),
        crate::api::certificate_request::request_revision(req),
    ) else {
        return Action::await_change();
    };
    let current = Api::<crate::api::Certificate>::namespaced(ctx.client.clone(), &ns)
        .get_opt(cert_name)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.status.and_then(|s| s.revision));
    match current {
        // Superseded by a newer certificate: nothing more to ask.
        Some(c) if c > revision => return Action::await_change(),
        Some(c) if c == revision => {}
        // The Certificate has not taken this request's certificate yet.
        _ => return Action::requeue(ctx.acme.ari_min_poll),
    }
    let Ok(Some(issuer)) =
        crate::issuers::acme::lookup_issuer(ctx, &ns, &req.spec.issuer_ref).await
    else {
        return Action::await_change();
    };
    let Some(acme) = issuer.config.acme.clone() else {
        return Action::await_change();
    };
    match crate::issuers::acme::ari::poll(ctx, req, &issuer, &acme).await {
        Some(next) => Action::requeue(next),
        None => Action::await_change(),
    }
}

async fn set_pending(
    ctx: &Context,
    req: &CertificateRequest,
    event_reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> Result<(), RequestError> {
    let unchanged = request_condition(req, "Ready").is_some_and(|c| {
        c.reason.as_deref() == Some("Pending") && c.message.as_deref() == Some(message)
    });
    if unchanged {
        return Ok(());
    }
    let list = with_condition(
        req,
        condition("Ready", ConditionStatus::False, "Pending", message, now),
    );
    patch_status(ctx, req, json!({"conditions": list})).await?;
    ctx.recorder
        .publish(req, EventType::Normal, event_reason, message)
        .await;
    Ok(())
}

fn error_policy(obj: Arc<CertificateRequest>, error: &RequestError, ctx: Arc<Context>) -> Action {
    ctx.metrics.inc(
        metrics::SYNC_ERRORS,
        vec![("controller", "certificaterequests".into())],
    );
    crate::runtime::reconcile::log_reconcile_error("certificaterequests", &obj.name_any(), error);
    Action::requeue(Duration::from_secs(5))
}

/// Runs the CertificateRequest controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    requests: Arc<crate::runtime::shared_watch::SharedWatch<CertificateRequest>>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let issuers: Api<Issuer> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    // The process's one request cache (shared with the Certificate controller).
    // A status this controller wrote is forgotten once the cache holds it.
    let applied = {
        let ctx = ctx.clone();
        requests
            .applied()
            .inspect(move |r| ctx.recent_requests.caught_up_with(r))
    };
    let _ = ctx.request_cache.set(requests.store());
    let controller = kube::runtime::Controller::for_shared_stream(applied, requests.store())
        .trigger_backoff(crate::runtime::reconcile::TriggerBackoff::default());
    let store = controller.store();
    let store2 = store.clone();
    let orders: Api<crate::api::Order> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    controller
        .owns(orders, watcher::Config::default())
        .watches(issuers, watcher::Config::default(), move |i: Issuer| {
            let ns = i.namespace();
            store
                .state()
                .into_iter()
                .filter(|r| {
                    r.namespace() == ns
                        && r.spec.issuer_ref.kind_or_default() == "Issuer"
                        && r.spec.issuer_ref.name == i.name_any()
                })
                .map(|r| ObjectRef::from_obj(&*r))
                .collect::<Vec<_>>()
        })
        .watches(
            Api::<ClusterIssuer>::all(ctx.client.clone()),
            watcher::Config::default(),
            move |i: ClusterIssuer| {
                store2
                    .state()
                    .into_iter()
                    .filter(|r| {
                        r.spec.issuer_ref.kind_or_default() == "ClusterIssuer"
                            && r.spec.issuer_ref.name == i.name_any()
                    })
                    .map(|r| ObjectRef::from_obj(&*r))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(
            kube::runtime::controller::Config::default()
                .concurrency(ctx.config.max_concurrent_reconciles),
        )
        .graceful_shutdown_on(shutdown)
        .run_sharded(ctx.config.shards.clone(), reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(ca_pem: &str) -> SignedCertificate {
        SignedCertificate {
            certificate_pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"
                .into(),
            ca_pem: ca_pem.into(),
        }
    }

    #[test]
    fn an_unknown_ca_is_left_out_of_the_status_not_written_empty() {
        // ACME sends no root: `status.ca` is `format: byte`, where "" is refused.
        let patch = issued_status(&[], &signed(""));
        assert_eq!(patch["ca"], Value::Null);
        assert!(!patch["certificate"].as_str().unwrap_or_default().is_empty());
        let whitespace = issued_status(&[], &signed("\n"));
        assert_eq!(whitespace["ca"], Value::Null);
    }

    #[test]
    fn a_self_signed_request_without_its_key_annotation_fails_as_cert_managers() {
        let req: CertificateRequest = serde_json::from_value(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
            "metadata": {"name": "by-hand", "namespace": "app"},
            "spec": {"request": "", "issuerRef": {"name": "selfsigned"}}
        }))
        .unwrap();
        let config: IssuerConfig = serde_json::from_value(json!({"selfSigned": {}})).unwrap();
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        assert_eq!(
            sign(&req, &config, None, "app/", now),
            Outcome::FailedWith(
                "MissingAnnotation".into(),
                "Annotation \"cert-manager.io/private-key-secret-name\" missing or reference empty: secret name missing".into()
            )
        );
        let mut named = req.clone();
        named.metadata.annotations = Some(BTreeMap::from([(
            ann::PRIVATE_KEY_SECRET_NAME.to_string(),
            "key".to_string(),
        )]));
        assert_eq!(
            sign(&named, &config, None, "app/key", now),
            Outcome::Pending("Referenced secret app/key not found".into())
        );
    }

    #[test]
    fn a_known_ca_is_written_base64() {
        let patch = issued_status(&[], &signed("CA PEM"));
        assert_eq!(patch["ca"], json!("Q0EgUEVN"));
    }
}
