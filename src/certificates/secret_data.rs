//! What the issued Secret holds (pure): `tls.crt`, `tls.key`, `ca.crt`, the extra
//! output formats, and the labels and annotations cert-manager writes.

use std::collections::BTreeMap;

use crate::api::Certificate;
use crate::api::annotations as ann;
use crate::api::certificate::AdditionalOutputFormatType;
use crate::certificates::jks;
use crate::certificates::policy::{self, SecretSnapshot};

/// Why the Secret's contents could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SecretDataError {
    #[error("the issued certificate cannot be read: {0}")]
    Certificate(#[from] policy::CertError),
    #[error("the PKCS#12 keystore cannot be written: {0}")]
    Keystore(#[from] crate::certificates::keystores::KeystoreError),
    #[error("the JKS keystore cannot be written: {0}")]
    Jks(#[from] crate::certificates::jks::JksError),
}

/// What the keystores need besides the certificate and key: the passwords resolved from
/// `spec.keystores` (inline or from their Secrets; `None` when that keystore is not
/// created) and when their entries are created (JKS stores a date per entry). `Debug`
/// leaves the passwords out.
#[derive(Clone, Default)]
pub struct KeystoreInputs {
    pub pkcs12_password: Option<String>,
    /// The JKS password as the bytes given (keystore-go takes the Secret's bytes as they are).
    pub jks_password: Option<Vec<u8>>,
    pub now: jiff::Timestamp,
}

impl std::fmt::Debug for KeystoreInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeystoreInputs")
            .field(
                "pkcs12_password",
                &self.pkcs12_password.as_ref().map(|_| "<set>"),
            )
            .field("jks_password", &self.jks_password.as_ref().map(|_| "<set>"))
            .field("now", &self.now)
            .finish()
    }
}

/// The Secret contents to write.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretContents {
    pub data: BTreeMap<String, Vec<u8>>,
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecretContents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretContents")
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("annotations", &self.annotations)
            .field("labels", &self.labels)
            .finish()
    }
}

/// The contents of the Secret of `certificate` after an issuance, keeping the keys of
/// `existing` that certgate does not own.
pub fn build(
    certificate: &Certificate,
    certificate_pem: &[u8],
    ca_pem: Option<&[u8]>,
    key_pem: &[u8],
    existing: Option<&SecretSnapshot>,
    keystores: &KeystoreInputs,
) -> Result<SecretContents, SecretDataError> {
    let spec = &certificate.spec;
    let mut data = existing.map(|e| e.data.clone()).unwrap_or_default();
    data.insert(ann::TLS_CRT.into(), certificate_pem.to_vec());
    data.insert(ann::TLS_KEY.into(), key_pem.to_vec());
    match ca_pem.filter(|c| !c.is_empty()) {
        Some(ca) => {
            data.insert(ann::CA_CRT.into(), ca.to_vec());
        }
        None => {
            data.remove(ann::CA_CRT);
        }
    }
    let formats: Vec<AdditionalOutputFormatType> = spec
        .additional_output_formats
        .iter()
        .flatten()
        .map(|f| f.type_)
        .collect();
    for (format, key) in [
        (
            AdditionalOutputFormatType::CombinedPEM,
            ann::TLS_COMBINED_PEM,
        ),
        (AdditionalOutputFormatType::Der, ann::KEY_DER),
    ] {
        if formats.contains(&format) {
            let value = match format {
                AdditionalOutputFormatType::CombinedPEM => {
                    policy::output_format_combined_pem(key_pem, certificate_pem)
                }
                AdditionalOutputFormatType::Der => policy::output_format_der(key_pem),
            };
            data.insert(key.into(), value);
        } else {
            data.remove(key);
        }
    }

    let pkcs12 = spec
        .keystores
        .as_ref()
        .and_then(|k| k.pkcs12.as_ref())
        .filter(|p| p.create);
    match (pkcs12, keystores.pkcs12_password.as_deref()) {
        (Some(p), Some(password)) => {
            let ca = ca_pem.filter(|c| !c.is_empty());
            let store = crate::certificates::keystores::pkcs12_keystore(
                key_pem,
                certificate_pem,
                ca,
                password,
                p.profile,
            )?;
            data.insert(ann::KEYSTORE_P12.into(), store);
            match ca {
                Some(ca) => {
                    let trust =
                        crate::certificates::keystores::pkcs12_truststore(ca, password, p.profile)?;
                    data.insert(ann::TRUSTSTORE_P12.into(), trust);
                }
                None => {
                    data.remove(ann::TRUSTSTORE_P12);
                }
            }
        }
        (Some(_), None) => {}
        (None, _) => {
            data.remove(ann::KEYSTORE_P12);
            data.remove(ann::TRUSTSTORE_P12);
        }
    }

    // JKS after PKCS#12, as cert-manager's setKeystores. A store already in the Secret
    // that holds the same entries is kept (see `jks`), so rebuilding is idempotent.
    let jks = spec
        .keystores
        .as_ref()
        .and_then(|k| k.jks.as_ref())
        .filter(|j| j.create);
    match (jks, keystores.jks_password.as_deref()) {
        (Some(j), Some(password)) => {
            let ca = ca_pem.filter(|c| !c.is_empty());
            let alias = j.alias.as_deref().unwrap_or(jks::DEFAULT_ALIAS);
            let store = jks::jks_keystore(
                key_pem,
                certificate_pem,
                ca,
                alias,
                password,
                keystores.now,
                data.get(ann::KEYSTORE_JKS).map(Vec::as_slice),
            )?;
            data.insert(ann::KEYSTORE_JKS.into(), store);
            match ca {
                Some(ca) => {
                    let trust = jks::jks_truststore(
                        ca,
                        password,
                        keystores.now,
                        data.get(ann::TRUSTSTORE_JKS).map(Vec::as_slice),
                    )?;
                    data.insert(ann::TRUSTSTORE_JKS.into(), trust);
                }
                None => {
                    data.remove(ann::TRUSTSTORE_JKS);
                }
            }
        }
        (Some(_), None) => {}
        (None, _) => {
            data.remove(ann::KEYSTORE_JKS);
            data.remove(ann::TRUSTSTORE_JKS);
        }
    }

    let mut annotations = existing.map(|e| e.annotations.clone()).unwrap_or_default();
    annotations.extend(policy::annotations_for_certificate_pem(certificate_pem)?);
    let issuer = &spec.issuer_ref;
    annotations.insert(
        ann::CERTIFICATE_NAME.into(),
        certificate.metadata.name.clone().unwrap_or_default(),
    );
    annotations.insert(ann::ISSUER_NAME.into(), issuer.name.clone());
    annotations.insert(
        ann::ISSUER_KIND.into(),
        issuer.kind_or_default().to_string(),
    );
    annotations.insert(
        ann::ISSUER_GROUP.into(),
        issuer.group.clone().unwrap_or_default(),
    );
    let mut labels = existing.map(|e| e.labels.clone()).unwrap_or_default();
    labels.insert(ann::LABEL_PART_OF_CONTROLLER.into(), "true".into());
    if let Some(t) = &spec.secret_template {
        annotations.extend(t.annotations.clone().unwrap_or_default());
        labels.extend(t.labels.clone().unwrap_or_default());
    }
    Ok(SecretContents {
        data,
        annotations,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::certificate::{CertificateKeystores, JksKeystore};
    use crate::certificates::testing::{cert, issued_snapshot};

    fn with_jks(mut c: Certificate, create: bool) -> Certificate {
        c.spec.keystores = Some(Box::new(CertificateKeystores {
            jks: Some(JksKeystore {
                create,
                password: Some("pw".into()),
                alias: Some("App".into()),
                ..Default::default()
            }),
            pkcs12: None,
        }));
        c
    }

    fn inputs(password: Option<&[u8]>, ms: i64) -> KeystoreInputs {
        KeystoreInputs {
            jks_password: password.map(<[u8]>::to_vec),
            now: jiff::Timestamp::from_millisecond(ms).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn jks_stores_are_written_kept_on_rebuild_and_removed_with_the_spec() {
        let s = issued_snapshot(cert("web", &["web.example"]));
        let mut existing = s.secret.clone().unwrap();
        let (crt, key, ca) = (
            existing.data["tls.crt"].clone(),
            existing.data["tls.key"].clone(),
            existing.data["ca.crt"].clone(),
        );
        assert!(!existing.data.contains_key(ann::KEYSTORE_JKS));
        let c = with_jks(s.certificate.clone(), true);
        let build_with =
            |c: &Certificate, ca: Option<&[u8]>, e: &SecretSnapshot, i: &KeystoreInputs| {
                build(c, &crt, ca, &key, Some(e), i).unwrap().data
            };

        let data = build_with(&c, Some(&ca), &existing, &inputs(Some(b"pw"), 1));
        let store = jks::decode(&data[ann::KEYSTORE_JKS], b"pw").unwrap();
        let aliases: Vec<&str> = store.entries.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(aliases, ["app", "ca"]);
        let trust = jks::decode(&data[ann::TRUSTSTORE_JKS], b"pw").unwrap();
        assert_eq!(trust.entries.len(), 1);
        assert!(!data.contains_key(ann::KEYSTORE_P12));

        // Rebuilding from the Secret it produced changes nothing (repair_secret compares).
        existing.data = data.clone();
        assert_eq!(
            build_with(&c, Some(&ca), &existing, &inputs(Some(b"pw"), 2)),
            data
        );

        // A password not resolved (spec without one): the stores are left as they are.
        assert_eq!(build_with(&c, Some(&ca), &existing, &inputs(None, 2)), data);

        // No CA any more: the truststore goes, the keystore loses its `ca` entry.
        let no_ca = build_with(&c, None, &existing, &inputs(Some(b"pw"), 2));
        assert!(!no_ca.contains_key(ann::TRUSTSTORE_JKS));
        let store = jks::decode(&no_ca[ann::KEYSTORE_JKS], b"pw").unwrap();
        assert_eq!(store.entries.len(), 1);

        // create: false, or no jks at all: both keys are removed.
        for c in [
            with_jks(s.certificate.clone(), false),
            s.certificate.clone(),
        ] {
            let off = build_with(&c, Some(&ca), &existing, &inputs(None, 2));
            assert!(!off.contains_key(ann::KEYSTORE_JKS));
            assert!(!off.contains_key(ann::TRUSTSTORE_JKS));
        }
    }

    #[test]
    fn keystore_inputs_debug_hides_the_passwords() {
        let i = KeystoreInputs {
            pkcs12_password: Some("hunter2".into()),
            jks_password: Some(b"hunter3".to_vec()),
            ..Default::default()
        };
        let d = format!("{i:?}");
        assert!(!d.contains("hunter") && !d.contains("104, 117"), "{d}");
    }
}
