//! The writes the Certificate loops' decisions ask for: the next private key
//! (a temporary Secret), the CertificateRequest, the Secret with the issued (or
//! temporary) certificate and its keystores, the failure and repair of a Secret,
//! and old requests' clean-up. Each takes the [`Snapshot`] the decision was made
//! on; none decides anything.

use super::controller::*;
use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::collections::BTreeMap;

use crate::api::annotations as ann;
use crate::api::certificate::PrivateKeyEncoding;
use crate::api::conditions;
use crate::api::meta::ConditionStatus;
use crate::api::{CertificateRequest, CertificateRequestSpec};
use crate::certificates::Context;
use crate::certificates::secret_data;
use crate::certificates::snapshot::{Snapshot, request_revision};
use crate::pki::key::{KeyAlgorithm, PrivateKey};
use crate::runtime::events::EventType;

pub(super) fn key_encoding(s: &Snapshot) -> PrivateKeyEncoding {
    s.certificate
        .spec
        .private_key
        .as_ref()
        .and_then(|k| k.encoding)
        .unwrap_or(PrivateKeyEncoding::Pkcs1)
}

pub(super) async fn generate_next_key(
    ctx: &Context,
    s: &Snapshot,
    reuse_current: bool,
) -> Result<(), CertificateError> {
    let name = create_next_key(ctx, s, reuse_current).await?;
    patch_status(ctx, s, json!({"nextPrivateKeySecretName": name})).await?;
    generated_event(ctx, s, &name).await;
    Ok(())
}

/// Records cert-manager's `Generated` event for the temporary key Secret `name`.
pub(super) async fn generated_event(ctx: &Context, s: &Snapshot, name: &str) {
    ctx.recorder
        .publish(
            &s.certificate,
            EventType::Normal,
            "Generated",
            &format!("Stored new private key in temporary Secret resource \"{name}\""),
        )
        .await;
}

/// Creates the temporary Secret of the next private key (a new key, or the current
/// one with `reuse_current`); its name, for `status.nextPrivateKeySecretName`.
pub(super) async fn create_next_key(
    ctx: &Context,
    s: &Snapshot,
    reuse_current: bool,
) -> Result<String, CertificateError> {
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
    ctx.recent_secrets.remember(created);
    Ok(name)
}

/// Shortens a name the way cert-manager's `DNSSafeShortenTo52Characters` does.
pub(super) fn shorten(name: &str, max: usize) -> String {
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
pub(super) fn replaced_certificate_id(s: &Snapshot) -> Option<String> {
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

pub(super) async fn create_request(
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
            ctx.requests_by_owner.file_if_absent(created);
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
                ctx.requests_by_owner.file_if_absent(existing);
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn decode_pem_field(value: Option<&String>) -> Option<Vec<u8>> {
    value.and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
}

pub(super) async fn issue(
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
    let req = &req;
    let status = req.status.clone().unwrap_or_default();
    let cert_pem = decode_pem_field(status.certificate.as_ref())
        .ok_or_else(|| CertificateError::BadRequestStatus(request.to_string()))?;
    let ca_pem = decode_pem_field(status.ca.as_ref());
    let Some(key_pem) = s.next_key.as_ref().and_then(|k| k.pem.clone()) else {
        return Ok(());
    };
    let written = write_secret(ctx, s, &cert_pem, ca_pem.as_deref(), &key_pem).await?;
    let revision = request_revision(req).unwrap_or(s.revision() + 1);
    // The issuance and the readiness it brings (Ready, validity times) in one write:
    // readiness is decided on the snapshot as it is once this write has landed.
    let mut after = s.clone();
    after.secret = Some(secret_snapshot(&written));
    after.next_key = None;
    let mut status = after.certificate.status.clone().unwrap_or_default();
    let mut conds = status.conditions.clone().unwrap_or_default();
    conditions::remove(&mut conds, "Issuing");
    status.conditions = Some(conds.clone());
    status.revision = Some(revision);
    status.next_private_key_secret_name = None;
    status.last_failure_time = None;
    status.failed_issuance_attempts = None;
    after.certificate.status = Some(status);
    write_with_readiness(
        ctx,
        s,
        &after,
        conds,
        json!({"revision": revision, "nextPrivateKeySecretName": null, "lastFailureTime": null, "failedIssuanceAttempts": null}),
        false,
    )
    .await?;
    if let Some(k) = &s.next_key {
        delete_ignoring_missing(
            &Api::<Secret>::namespaced(ctx.client.clone(), s.namespace()),
            &k.name,
        )
        .await?;
        ctx.secrets_by_owner.forget(s.namespace(), &k.name);
        ctx.recent_secrets.forget(s.namespace(), &k.name);
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
pub(super) async fn issue_temporary(
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
pub(super) async fn keystore_inputs(
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
pub(super) async fn keystore_password(
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

pub(super) async fn write_secret(
    ctx: &Context,
    s: &Snapshot,
    cert_pem: &[u8],
    ca_pem: Option<&[u8]>,
    key_pem: &[u8],
) -> Result<Secret, CertificateError> {
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
    let existing = read_secret(ctx, &api, s.namespace(), secret_name)
        .await?
        .map(|e| (*e).clone());
    let mut owners: Vec<OwnerReference> = existing
        .as_ref()
        .and_then(|e| e.metadata.owner_references.clone())
        .unwrap_or_default();
    let uid = s.certificate.metadata.uid.clone().unwrap_or_default();
    owners.retain(|o| o.uid != uid);
    if ctx.enable_certificate_owner_ref
        && let Some(o) = owner_reference(&s.certificate)
    {
        owners.push(o);
    }
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
            ctx.absent_secrets.forget(s.namespace(), secret_name);
            let written = api.create(&PostParams::default(), &secret).await?;
            ctx.recent_secrets.remember(written.clone());
            Ok(written)
        }
        Some(mut secret) => {
            secret.metadata.labels = Some(contents.labels);
            secret.metadata.annotations = Some(contents.annotations);
            secret.metadata.owner_references = (!owners.is_empty()).then_some(owners);
            secret.data = Some(data);
            secret.string_data = None;
            let written = api
                .replace(secret_name, &PostParams::default(), &secret)
                .await?;
            ctx.recent_secrets.remember(written.clone());
            Ok(written)
        }
    }
}

pub(super) async fn fail(
    ctx: &Context,
    s: &Snapshot,
    message: &str,
) -> Result<(), CertificateError> {
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
pub(super) async fn repair_secret(ctx: &Context, s: &Snapshot) -> Result<bool, CertificateError> {
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
pub(super) async fn clean_up_requests(ctx: &Context, s: &Snapshot) -> Result<(), CertificateError> {
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
