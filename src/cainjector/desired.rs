//! The pure part of the CA injector: which source a target's annotations name, the CA
//! bundle that source yields (or why it cannot), and the JSON patch that puts the
//! bundle into the target where it differs.
//!
//! As cert-manager's cainjector: `inject-ca-from` takes the `ca.crt` of a Certificate's
//! Secret only when the Secret says it is that Certificate's
//! (`cert-manager.io/certificate-name`); `inject-ca-from-secret` only when the Secret
//! allows it (`cert-manager.io/allow-direct-injection: "true"`); `inject-apiserver-ca`
//! takes the API server's CA. Every webhook of a webhook configuration gets the bundle,
//! an APIService in `spec.caBundle`, a CRD only when it converts by webhook.

use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::api::annotations::{
    ALLOW_DIRECT_INJECTION, CERTIFICATE_NAME, INJECT_APISERVER_CA, INJECT_CA_FROM,
    INJECT_CA_FROM_SECRET,
};

/// The kinds a CA bundle is injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    ValidatingWebhookConfiguration,
    MutatingWebhookConfiguration,
    ApiService,
    CustomResourceDefinition,
}

/// `namespace/name` of a source object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamespacedName {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for NamespacedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl NamespacedName {
    /// `namespace/name`; `None` without a namespace or a name.
    pub fn parse(text: &str) -> Option<NamespacedName> {
        let (namespace, name) = text.split_once('/')?;
        if namespace.is_empty() || name.is_empty() || name.contains('/') {
            return None;
        }
        Some(NamespacedName {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }
}

/// Where a target's CA bundle comes from (its annotations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `cert-manager.io/inject-ca-from`: the `ca.crt` of the Certificate's Secret.
    Certificate(NamespacedName),
    /// `cert-manager.io/inject-ca-from-secret`: the Secret's `ca.crt`.
    Secret(NamespacedName),
    /// `cert-manager.io/inject-apiserver-ca: "true"`: the API server's CA.
    ApiServer,
}

impl Source {
    /// The namespace of the source object (none for the API server's CA).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Source::Certificate(n) | Source::Secret(n) => Some(&n.namespace),
            Source::ApiServer => None,
        }
    }
}

/// Why a target cannot get a CA bundle now. Each names what is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CannotInject {
    #[error("annotation {annotation}: {value:?} is not <namespace>/<name>")]
    InvalidReference {
        annotation: &'static str,
        value: String,
    },
    #[error("Certificate {0} (annotation {INJECT_CA_FROM}) not found")]
    CertificateNotFound(NamespacedName),
    #[error("Secret {secret} of Certificate {certificate} (annotation {INJECT_CA_FROM}) not found")]
    CertificateSecretNotFound {
        certificate: NamespacedName,
        secret: NamespacedName,
    },
    #[error(
        "Secret {secret} is not Certificate {certificate}'s (its {CERTIFICATE_NAME} annotation is {owner:?}); refusing to inject"
    )]
    SecretNotOfCertificate {
        certificate: NamespacedName,
        secret: NamespacedName,
        owner: Option<String>,
    },
    #[error("Secret {0} (annotation {INJECT_CA_FROM_SECRET}) not found")]
    SecretNotFound(NamespacedName),
    #[error(
        "Secret {0} does not allow direct injection (it needs the annotation {ALLOW_DIRECT_INJECTION}: \"true\")"
    )]
    DirectInjectionNotAllowed(NamespacedName),
    #[error("Secret {0} has no ca.crt")]
    NoCaData(NamespacedName),
    #[error("the API server's CA is unavailable: {0}")]
    ApiServerCaUnavailable(String),
}

impl CannotInject {
    /// The event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            CannotInject::InvalidReference { .. } => "InvalidAnnotation",
            CannotInject::CertificateNotFound(_)
            | CannotInject::CertificateSecretNotFound { .. }
            | CannotInject::SecretNotFound(_)
            | CannotInject::ApiServerCaUnavailable(_) => "CASourceNotFound",
            CannotInject::SecretNotOfCertificate { .. }
            | CannotInject::DirectInjectionNotAllowed(_) => "CASourceNotAllowed",
            CannotInject::NoCaData(_) => "CASourceHasNoCA",
        }
    }
}

/// The source a target's annotations name: `inject-ca-from` first, then
/// `inject-ca-from-secret`, then `inject-apiserver-ca`; `None` when none is set.
pub fn source_of(annotations: &BTreeMap<String, String>) -> Result<Option<Source>, CannotInject> {
    if let Some(value) = annotations.get(INJECT_CA_FROM) {
        return NamespacedName::parse(value)
            .map(|n| Some(Source::Certificate(n)))
            .ok_or_else(|| CannotInject::InvalidReference {
                annotation: INJECT_CA_FROM,
                value: value.clone(),
            });
    }
    if let Some(value) = annotations.get(INJECT_CA_FROM_SECRET) {
        return NamespacedName::parse(value)
            .map(|n| Some(Source::Secret(n)))
            .ok_or_else(|| CannotInject::InvalidReference {
                annotation: INJECT_CA_FROM_SECRET,
                value: value.clone(),
            });
    }
    if annotations.get(INJECT_APISERVER_CA).map(String::as_str) == Some("true") {
        return Ok(Some(Source::ApiServer));
    }
    Ok(None)
}

/// What the injector read of a Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretSnapshot {
    pub annotations: BTreeMap<String, String>,
    /// `data["ca.crt"]`, decoded.
    pub ca: Option<Vec<u8>>,
}

/// The state of a target's source, as read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSnapshot {
    Certificate {
        /// The Certificate's `spec.secretName`; `None` when the Certificate does not exist.
        secret_name: Option<String>,
        /// That Secret; `None` when it does not exist.
        secret: Option<SecretSnapshot>,
    },
    Secret(Option<SecretSnapshot>),
    /// The API server's CA (PEM), or why it could not be read.
    ApiServer(Result<Vec<u8>, String>),
}

/// The CA bundle `source` yields in the state `snapshot`.
pub fn ca_bundle(source: &Source, snapshot: &SourceSnapshot) -> Result<Vec<u8>, CannotInject> {
    let non_empty = |ca: &Option<Vec<u8>>| ca.clone().filter(|c| !c.is_empty());
    match (source, snapshot) {
        (
            Source::Certificate(certificate),
            SourceSnapshot::Certificate {
                secret_name,
                secret,
            },
        ) => {
            let Some(secret_name) = secret_name else {
                return Err(CannotInject::CertificateNotFound(certificate.clone()));
            };
            let secret_ref = NamespacedName {
                namespace: certificate.namespace.clone(),
                name: secret_name.clone(),
            };
            let Some(secret) = secret else {
                return Err(CannotInject::CertificateSecretNotFound {
                    certificate: certificate.clone(),
                    secret: secret_ref,
                });
            };
            let owner = secret.annotations.get(CERTIFICATE_NAME);
            if owner != Some(&certificate.name) {
                return Err(CannotInject::SecretNotOfCertificate {
                    certificate: certificate.clone(),
                    secret: secret_ref,
                    owner: owner.cloned(),
                });
            }
            non_empty(&secret.ca).ok_or(CannotInject::NoCaData(secret_ref))
        }
        (Source::Secret(name), SourceSnapshot::Secret(secret)) => {
            let Some(secret) = secret else {
                return Err(CannotInject::SecretNotFound(name.clone()));
            };
            if secret
                .annotations
                .get(ALLOW_DIRECT_INJECTION)
                .map(String::as_str)
                != Some("true")
            {
                return Err(CannotInject::DirectInjectionNotAllowed(name.clone()));
            }
            non_empty(&secret.ca).ok_or_else(|| CannotInject::NoCaData(name.clone()))
        }
        (Source::ApiServer, SourceSnapshot::ApiServer(ca)) => match ca {
            Ok(ca) if !ca.is_empty() => Ok(ca.clone()),
            Ok(_) => Err(CannotInject::ApiServerCaUnavailable("empty CA".into())),
            Err(e) => Err(CannotInject::ApiServerCaUnavailable(e.clone())),
        },
        _ => Err(CannotInject::ApiServerCaUnavailable(
            "internal: the snapshot does not match the source".into(),
        )),
    }
}

fn bundle_is(current: Option<&Value>, ca: &[u8]) -> bool {
    current
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|b| b == ca)
}

/// The JSON patch (RFC 6902) that puts `ca` into `target` (the object as JSON) where
/// it differs; `None` when every bundle already is `ca` or the target takes none (a
/// CRD not converting by webhook, a webhook configuration without webhooks). The patch
/// tests the target's `resourceVersion` first, so it never applies to a newer object.
pub fn patch_for(kind: TargetKind, target: &Value, ca: &[u8]) -> Option<Value> {
    let encoded = Value::String(base64::engine::general_purpose::STANDARD.encode(ca));
    let mut ops = Vec::new();
    match kind {
        TargetKind::ValidatingWebhookConfiguration | TargetKind::MutatingWebhookConfiguration => {
            let webhooks = target.get("webhooks").and_then(Value::as_array);
            for (i, webhook) in webhooks.into_iter().flatten().enumerate() {
                match webhook.get("clientConfig") {
                    Some(cc) if bundle_is(cc.get("caBundle"), ca) => {}
                    Some(_) => ops.push(json!({"op": "add",
                        "path": format!("/webhooks/{i}/clientConfig/caBundle"), "value": encoded})),
                    None => ops.push(json!({"op": "add",
                        "path": format!("/webhooks/{i}/clientConfig"), "value": {"caBundle": encoded}})),
                }
            }
        }
        TargetKind::ApiService => {
            let spec = target.get("spec");
            if !bundle_is(spec.and_then(|s| s.get("caBundle")), ca) {
                if spec.is_some() {
                    ops.push(json!({"op": "add", "path": "/spec/caBundle", "value": encoded}));
                } else {
                    ops.push(json!({"op": "add", "path": "/spec", "value": {"caBundle": encoded}}));
                }
            }
        }
        TargetKind::CustomResourceDefinition => {
            let conversion = target.pointer("/spec/conversion")?;
            if conversion.get("strategy").and_then(Value::as_str) != Some("Webhook") {
                return None;
            }
            let webhook = conversion.get("webhook");
            let client_config = webhook.and_then(|w| w.get("clientConfig"));
            if !bundle_is(client_config.and_then(|c| c.get("caBundle")), ca) {
                ops.push(match (webhook, client_config) {
                    (Some(_), Some(_)) => json!({"op": "add",
                        "path": "/spec/conversion/webhook/clientConfig/caBundle", "value": encoded}),
                    (Some(_), None) => json!({"op": "add",
                        "path": "/spec/conversion/webhook/clientConfig", "value": {"caBundle": encoded}}),
                    (None, _) => json!({"op": "add", "path": "/spec/conversion/webhook",
                        "value": {"clientConfig": {"caBundle": encoded}}}),
                });
            }
        }
    }
    if ops.is_empty() {
        return None;
    }
    if let Some(rv) = target
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        ops.insert(
            0,
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}),
        );
    }
    Some(Value::Array(ops))
}

/// The patch that gives `target` the CA bundle of `source` (read as `snapshot`):
/// `Ok(None)` when it already has it (or takes none), `Err` with the reason when the
/// source cannot give one.
pub fn desired_patch(
    kind: TargetKind,
    target: &Value,
    source: &Source,
    snapshot: &SourceSnapshot,
) -> Result<Option<Value>, CannotInject> {
    let ca = ca_bundle(source, snapshot)?;
    Ok(patch_for(kind, target, &ca))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const CA: &[u8] = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn nn(s: &str) -> NamespacedName {
        NamespacedName::parse(s).unwrap()
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn secret(pairs: &[(&str, &str)], ca: Option<&[u8]>) -> SecretSnapshot {
        SecretSnapshot {
            annotations: annotations(pairs),
            ca: ca.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn annotations_name_the_source_in_cert_managers_order() {
        type Case = (
            BTreeMap<String, String>,
            Result<Option<Source>, CannotInject>,
        );
        let cases: Vec<Case> = vec![
            (annotations(&[]), Ok(None)),
            (annotations(&[("other", "x")]), Ok(None)),
            (
                annotations(&[(INJECT_CA_FROM, "ns/ca")]),
                Ok(Some(Source::Certificate(nn("ns/ca")))),
            ),
            (
                annotations(&[(INJECT_CA_FROM_SECRET, "ns/s")]),
                Ok(Some(Source::Secret(nn("ns/s")))),
            ),
            (
                annotations(&[(INJECT_APISERVER_CA, "true")]),
                Ok(Some(Source::ApiServer)),
            ),
            (annotations(&[(INJECT_APISERVER_CA, "false")]), Ok(None)),
            (
                annotations(&[
                    (INJECT_CA_FROM_SECRET, "ns/s"),
                    (INJECT_CA_FROM, "ns/ca"),
                    (INJECT_APISERVER_CA, "true"),
                ]),
                Ok(Some(Source::Certificate(nn("ns/ca")))),
            ),
            (
                annotations(&[
                    (INJECT_CA_FROM_SECRET, "ns/s"),
                    (INJECT_APISERVER_CA, "true"),
                ]),
                Ok(Some(Source::Secret(nn("ns/s")))),
            ),
        ];
        for (a, want) in cases {
            assert_eq!(source_of(&a), want, "{a:?}");
        }
        for bad in ["ca", "/ca", "ns/", "", "a/b/c"] {
            assert_eq!(
                source_of(&annotations(&[(INJECT_CA_FROM, bad)])),
                Err(CannotInject::InvalidReference {
                    annotation: INJECT_CA_FROM,
                    value: bad.to_string()
                })
            );
        }
    }

    #[test]
    fn each_source_gives_its_ca_or_says_why_not() {
        let cert = Source::Certificate(nn("ns/ca"));
        let sec = Source::Secret(nn("ns/s"));
        let owned = |ca: Option<&[u8]>| SourceSnapshot::Certificate {
            secret_name: Some("ca-tls".into()),
            secret: Some(secret(&[(CERTIFICATE_NAME, "ca")], ca)),
        };
        type Case<'a> = (&'a Source, SourceSnapshot, Result<Vec<u8>, CannotInject>);
        let cases: Vec<Case> = vec![
            (&cert, owned(Some(CA)), Ok(CA.to_vec())),
            (
                &cert,
                SourceSnapshot::Certificate {
                    secret_name: None,
                    secret: None,
                },
                Err(CannotInject::CertificateNotFound(nn("ns/ca"))),
            ),
            (
                &cert,
                SourceSnapshot::Certificate {
                    secret_name: Some("ca-tls".into()),
                    secret: None,
                },
                Err(CannotInject::CertificateSecretNotFound {
                    certificate: nn("ns/ca"),
                    secret: nn("ns/ca-tls"),
                }),
            ),
            (
                &cert,
                SourceSnapshot::Certificate {
                    secret_name: Some("ca-tls".into()),
                    secret: Some(secret(&[(CERTIFICATE_NAME, "other")], Some(CA))),
                },
                Err(CannotInject::SecretNotOfCertificate {
                    certificate: nn("ns/ca"),
                    secret: nn("ns/ca-tls"),
                    owner: Some("other".into()),
                }),
            ),
            (
                &cert,
                SourceSnapshot::Certificate {
                    secret_name: Some("ca-tls".into()),
                    secret: Some(secret(&[], Some(CA))),
                },
                Err(CannotInject::SecretNotOfCertificate {
                    certificate: nn("ns/ca"),
                    secret: nn("ns/ca-tls"),
                    owner: None,
                }),
            ),
            (
                &cert,
                owned(None),
                Err(CannotInject::NoCaData(nn("ns/ca-tls"))),
            ),
            (
                &cert,
                owned(Some(b"")),
                Err(CannotInject::NoCaData(nn("ns/ca-tls"))),
            ),
            (
                &sec,
                SourceSnapshot::Secret(Some(secret(&[(ALLOW_DIRECT_INJECTION, "true")], Some(CA)))),
                Ok(CA.to_vec()),
            ),
            (
                &sec,
                SourceSnapshot::Secret(Some(secret(&[], Some(CA)))),
                Err(CannotInject::DirectInjectionNotAllowed(nn("ns/s"))),
            ),
            (
                &sec,
                SourceSnapshot::Secret(Some(secret(
                    &[(ALLOW_DIRECT_INJECTION, "false")],
                    Some(CA),
                ))),
                Err(CannotInject::DirectInjectionNotAllowed(nn("ns/s"))),
            ),
            (
                &sec,
                SourceSnapshot::Secret(Some(secret(&[(ALLOW_DIRECT_INJECTION, "true")], None))),
                Err(CannotInject::NoCaData(nn("ns/s"))),
            ),
            (
                &sec,
                SourceSnapshot::Secret(None),
                Err(CannotInject::SecretNotFound(nn("ns/s"))),
            ),
            (
                &Source::ApiServer,
                SourceSnapshot::ApiServer(Ok(CA.to_vec())),
                Ok(CA.to_vec()),
            ),
            (
                &Source::ApiServer,
                SourceSnapshot::ApiServer(Err("no ConfigMap".into())),
                Err(CannotInject::ApiServerCaUnavailable("no ConfigMap".into())),
            ),
        ];
        for (source, snapshot, want) in cases {
            assert_eq!(
                ca_bundle(source, &snapshot),
                want,
                "{source:?} {snapshot:?}"
            );
        }
    }

    #[test]
    fn reasons_name_what_is_missing() {
        let e = CannotInject::CertificateSecretNotFound {
            certificate: nn("ns/ca"),
            secret: nn("ns/ca-tls"),
        };
        assert_eq!(e.reason(), "CASourceNotFound");
        assert!(e.to_string().contains("Secret ns/ca-tls"), "{e}");
        assert!(e.to_string().contains("Certificate ns/ca"), "{e}");
        let e = CannotInject::SecretNotFound(nn("ns/s"));
        assert!(e.to_string().contains("Secret ns/s"), "{e}");
    }

    #[test]
    fn patches_set_every_differing_bundle_and_nothing_else() {
        let ca = b64(CA);
        let old = b64(b"old");
        let webhooks = json!({"metadata": {"resourceVersion": "7"}, "webhooks": [
            {"name": "a", "clientConfig": {"service": {"name": "s", "namespace": "n"}}},
            {"name": "b", "clientConfig": {"url": "https://x", "caBundle": ca}},
            {"name": "c", "clientConfig": {"url": "https://x", "caBundle": old}},
        ]});
        let want = json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": ca},
            {"op": "add", "path": "/webhooks/2/clientConfig/caBundle", "value": ca},
        ]);
        type Case = (TargetKind, Value, Option<Value>);
        let cases: Vec<Case> = vec![
            (
                TargetKind::ValidatingWebhookConfiguration,
                webhooks.clone(),
                Some(want.clone()),
            ),
            (
                TargetKind::MutatingWebhookConfiguration,
                webhooks,
                Some(want),
            ),
            (
                TargetKind::ValidatingWebhookConfiguration,
                json!({"webhooks": [{"name": "b", "clientConfig": {"caBundle": ca}}]}),
                None,
            ),
            (
                TargetKind::MutatingWebhookConfiguration,
                json!({"metadata": {}}),
                None,
            ),
            (
                TargetKind::ApiService,
                json!({"metadata": {"resourceVersion": "1"}, "spec": {"group": "g", "version": "v1"}}),
                Some(json!([
                    {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
                    {"op": "add", "path": "/spec/caBundle", "value": ca},
                ])),
            ),
            (
                TargetKind::ApiService,
                json!({"spec": {"caBundle": ca}}),
                None,
            ),
            (
                TargetKind::CustomResourceDefinition,
                json!({"spec": {"conversion": {"strategy": "Webhook", "webhook": {
                    "conversionReviewVersions": ["v1"], "clientConfig": {"url": "https://x"}}}}}),
                Some(json!([
                    {"op": "add", "path": "/spec/conversion/webhook/clientConfig/caBundle", "value": ca},
                ])),
            ),
            (
                TargetKind::CustomResourceDefinition,
                json!({"spec": {"conversion": {"strategy": "Webhook", "webhook": {
                    "clientConfig": {"url": "https://x", "caBundle": ca}}}}}),
                None,
            ),
            (
                TargetKind::CustomResourceDefinition,
                json!({"spec": {"conversion": {"strategy": "None"}}}),
                None,
            ),
            (
                TargetKind::CustomResourceDefinition,
                json!({"spec": {}}),
                None,
            ),
        ];
        for (kind, target, want) in cases {
            assert_eq!(patch_for(kind, &target, CA), want, "{kind:?} {target}");
        }
    }

    #[test]
    fn a_missing_source_gives_no_patch_but_the_reason() {
        let target = json!({"webhooks": [{"name": "a", "clientConfig": {"url": "https://x"}}]});
        assert_eq!(
            desired_patch(
                TargetKind::ValidatingWebhookConfiguration,
                &target,
                &Source::Secret(nn("ns/s")),
                &SourceSnapshot::Secret(None)
            ),
            Err(CannotInject::SecretNotFound(nn("ns/s")))
        );
        assert!(
            desired_patch(
                TargetKind::ValidatingWebhookConfiguration,
                &target,
                &Source::ApiServer,
                &SourceSnapshot::ApiServer(Ok(CA.to_vec()))
            )
            .unwrap()
            .is_some()
        );
    }
}
