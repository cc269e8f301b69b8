//! What the issued Secret holds (pure): `tls.crt`, `tls.key`, `ca.crt`, the extra
//! output formats, and the labels and annotations cert-manager writes.

use std::collections::BTreeMap;

use crate::api::Certificate;
use crate::api::annotations as ann;
use crate::api::certificate::AdditionalOutputFormatType;
use crate::certificates::policy::{self, SecretSnapshot};

/// Why the Secret's contents could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SecretDataError {
    #[error("the issued certificate cannot be read: {0}")]
    Certificate(#[from] policy::CertError),
    #[error("the PKCS#12 keystore cannot be written: {0}")]
    Keystore(#[from] crate::certificates::keystores::KeystoreError),
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
    pkcs12_password: Option<&str>,
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
    match (pkcs12, pkcs12_password) {
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
